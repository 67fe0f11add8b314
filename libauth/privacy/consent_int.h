/*
 * consent_int: what consent.c (writing records) shares with consent_read.c
 * (reading them) and consent_ids.c (the index of records by id). Not part of
 * the API.
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

/*
 * Deletes the due key of rec (a record as stored: its expires_at and id,
 * consent.h), if it has one, in the caller's write transaction: the record
 * is deleted, or superseded by a later one, so the sweeper has nothing to
 * do for it. No key (handled already, never one) is no error.
 * Errors: CID_ERR_INVALID (a read transaction), CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err consent_due_del(struct cid_txn *txn, const json_t *rec);

#define CONSENT_SEQ_CHARS 16 /* lowercase hex of a uint64 */

/* Longest key: the four names, four separators and the sequence number. */
#define CONSENT_KEY_MAX (CID_ID_CHARS + 3 * CID_CONSENT_MAX_NAME + 4 + CONSENT_SEQ_CHARS)

/* 1..CID_CONSENT_MAX_NAME bytes of UTF-8 (no NUL, no controls but TAB/CR) and no '\n'. */
bool consent_name_ok(const char *s);

/*
 * Writes account\nservice\npurpose\n[attribute\n] to k; returns its length,
 * 0 if a name is bad.
 */
size_t consent_key_prefix(char k[CONSENT_KEY_MAX + 1], const char *account_id, const char *service,
			  const char *purpose, const char *attribute);

/*
 * The latest stored record under a full key prefix (account..attribute\n), in
 * the caller's transaction. Errors: CID_ERR_NOTFOUND, CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err consent_latest_record(struct cid_txn *txn, struct cid_str prefix,
						  json_t **out);

/* The state at now of rec (a parsed record: cid_consent_record_parse checked its state). */
enum cid_consent_state consent_record_state(const json_t *rec, int64_t now);

#endif
