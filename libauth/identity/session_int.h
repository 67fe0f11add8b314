/*
 * session_int: what session.c (the sessions) shares with session_index.c
 * (the index of sessions by sid and by citizen). Not part of the API.
 */
#ifndef CID_SESSION_INT_H
#define CID_SESSION_INT_H

#include "bounds.h"
#include "session.h"
#include "store.h"

#include <jansson.h>

/*
 * Writes the two index keys of the session of account_id whose public id is
 * sid, stored under hash, in the transaction that stores it.
 * Errors: CID_ERR_INVALID (an account id or sid that cannot be a session's),
 * those of cid_txn_put.
 */
CID_MUST_CHECK enum cid_err session_index_put(struct cid_txn *txn, const char *account_id,
					      const char *sid, const char *hash);

/*
 * Deletes the index keys of the session record rec (NULL: unreadable, it has
 * none) stored under hash, in the transaction that deletes it: the keys it
 * has (a session an older build stored has none, which is no error), the sid
 * key only while it still names hash.
 * Errors: CID_ERR_STORE, CID_ERR_INVALID (a read transaction).
 */
CID_MUST_CHECK enum cid_err session_index_del(struct cid_txn *txn, const json_t *rec,
					      const char *hash);

/*
 * The store key of the session whose public id is sid into hash.
 * Errors: CID_ERR_NOTFOUND (no such key, or a sid that cannot be one),
 * CID_ERR_STORE (a damaged key).
 */
CID_MUST_CHECK enum cid_err session_index_sid(struct cid_txn *txn, const char *sid,
					      char hash[CID_HASH_HEX + 1]);

/*
 * Calls fn(key, arg) with the store key (borrowed for the call) of each
 * session of account_id, in key order, while the cursor walks
 * CID_DB_SESSION_INDEX (so fn writes no index key): O(log n + their number).
 * An account id that cannot be one has none. Stops at fn's first error.
 * Errors: fn's, CID_ERR_STORE (a damaged key).
 */
CID_MUST_CHECK enum cid_err
session_index_account_each(struct cid_txn *txn, const char *account_id,
			   enum cid_err (*fn)(struct cid_str key, void *arg), void *arg);

/*
 * Appends to keys (an array) the store key of each session of account_id, as
 * JSON strings: O(log n + their number). An account id that cannot be one
 * has none. Errors: CID_ERR_STORE (a damaged key), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err session_index_account(struct cid_txn *txn, const char *account_id,
						  json_t *keys);

#endif
