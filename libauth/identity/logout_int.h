/*
 * logout_int: what logout.c (ending sessions) and logout_queue.c (the queue
 * of notices) share. Not part of the API.
 */
#ifndef CID_LOGOUT_INT_H
#define CID_LOGOUT_INT_H

#include "logout.h"

/*
 * Queues the notice rec (its "id" a random token) due at due, under the key
 * logout.h describes. Errors: CID_ERR_INVALID (no usable "id", due
 * negative), CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err logout_queue_put(struct cid_txn *txn, int64_t due, const json_t *rec);

#endif
