/*
 * token_int: what token.c (codes, grants, refresh tokens) shares with
 * token_jwt.c (the JWTs) and token_grants.c (a citizen's grants, by the
 * index). Not part of the API.
 */
#ifndef CID_TOKEN_INT_H
#define CID_TOKEN_INT_H

#include "store.h"
#include "token.h"

#include <jansson.h>

/*
 * The grant record of grant_id in txn into *out (new reference).
 * Errors: CID_ERR_NOTFOUND (grant_id NULL, or no such grant), those of
 * cid_txn_get_json.
 */
CID_MUST_CHECK enum cid_err token_load_grant(struct cid_txn *txn, const char *grant_id,
					     json_t **out);

/*
 * CID_OK if grant g holds tokens: it is not revoked, and its citizen is live
 * in the grant's generation (cid_account_live); CID_ERR_REVOKED if not (or the
 * citizen is gone or disabled); CID_ERR_STORE for a damaged record.
 */
CID_MUST_CHECK enum cid_err token_grant_usable_typed(struct cid_txn *txn,
						     const struct cid_grant *g);

/*
 * Marks the grant record grant (changed in place) revoked at now and stores it.
 * Errors: CID_ERR_STORE (no "grant_id"), CID_ERR_NOMEM, those of cid_txn_put_json.
 */
CID_MUST_CHECK enum cid_err token_put_revoked_grant(struct cid_txn *txn, json_t *grant,
						    int64_t now);

/*
 * Writes the index key of grant grant_id of account_id to client_id
 * (token_grants.c), in the transaction that writes the grant.
 * Errors: CID_ERR_INVALID (a name missing, empty, too long or holding a
 * newline), those of cid_txn_put.
 */
CID_MUST_CHECK enum cid_err token_grant_index_put(struct cid_txn *txn, const char *account_id,
						  const char *client_id, const char *grant_id);

/*
 * Deletes the grant record grant and the index key it names, in txn (the
 * grant's id in the record must be its key; grant is borrowed).
 * Errors: CID_ERR_STORE (a record without its id, citizen or service, or one
 * they cannot be), CID_ERR_NOTFOUND (the record or its key is not there),
 * those of cid_txn_del.
 */
CID_MUST_CHECK enum cid_err token_grant_del(struct cid_txn *txn, const json_t *grant);

#endif
