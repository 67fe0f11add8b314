/*
 * consent_int: what consent.c (the records) shares with consent_ids.c (the
 * index of records by id). Not part of the API.
 */
#ifndef CID_CONSENT_INT_H
#define CID_CONSENT_INT_H

#include "consent.h"
#include "store.h"

/*
 * Writes the id key of the record stored under key (id -> key), in the
 * transaction that writes the record or builds the index.
 * Errors: CID_ERR_STORE (id already names a record: the store is damaged),
 * those of cid_txn_put.
 */
CID_MUST_CHECK enum cid_err consent_id_put(struct cid_txn *txn, const char *id, struct cid_str key);

#endif
