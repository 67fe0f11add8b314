/*
 * token_grants: a citizen's grants, found without reading anyone else's.
 *
 * CID_DB_GRANT_INDEX holds one key per grant, account "\n" client "\n" grant
 * id, written in the transaction that writes the grant, so a citizen's grants
 * of a service are one prefix of it: a withdrawal, which holds the store's one
 * writer, reads those and no other (O(log n + that citizen's grants of the
 * service) instead of every grant of the city). A grant is never deleted and
 * its citizen and service never change (revoking it sets a member of its
 * record), so the key written with it stays right for good: the index holds
 * exactly one key per grant, and equal counts of the two databases are its
 * invariant, which cid_grant_index_ensure checks at start in O(1), rebuilding
 * an index that fails it (a store written before the index existed, or one
 * an older build added grants to).
 */
#include "token.h"

#include "bounds.h"
#include "str.h"
#include "token_int.h"

#include <stdio.h>
#include <string.h>

/* account "\n" client "\n" grant id, and its NUL */
#define INDEX_KEY_MAX (CID_ID_CHARS + 1 + CID_MAX_CLIENT_ID + 1 + CID_TOKEN_CHARS + 1)

/*
 * The index key of a grant into key (grant_id NULL: the prefix of the
 * citizen's grants of client_id), its length into *len.
 * Errors: CID_ERR_INVALID (a name missing, empty, too long or holding "\n").
 */
static enum cid_err index_key(const char *account_id, const char *client_id, const char *grant_id,
			      char key[INDEX_KEY_MAX], size_t *len)
{
	int n;

	if (account_id == NULL || client_id == NULL || account_id[0] == '\0' ||
	    client_id[0] == '\0' || strchr(account_id, '\n') != NULL ||
	    strchr(client_id, '\n') != NULL || (grant_id != NULL && grant_id[0] == '\0'))
		return CID_ERR_INVALID;
	n = snprintf(key, INDEX_KEY_MAX, "%s\n%s\n%s", account_id, client_id,
		     grant_id == NULL ? "" : grant_id);
	if (n < 0 || n >= INDEX_KEY_MAX)
		return CID_ERR_INVALID;
	*len = (size_t)n;
	return CID_OK;
}

enum cid_err token_grant_index_put(struct cid_txn *txn, const char *account_id,
				   const char *client_id, const char *grant_id)
{
	enum cid_err rc = CID_OK;
	char key[INDEX_KEY_MAX];
	size_t len = 0;

	CID_ENSURE(grant_id != NULL, CID_ERR_INVALID);
	CID_TRY(index_key(account_id, client_id, grant_id, key, &len));
	CID_TRY(
	    cid_txn_put(txn, CID_DB_GRANT_INDEX, (struct cid_str){key, len}, cid_str_of(""), 0));
out:
	return rc;
}

struct revoke_client {
	const char *account_id;
	const char *client_id;
	int64_t now;
	struct cid_txn *txn;
	size_t prefix_len;
	size_t revoked; /* how many of the grants were live and are now revoked */
};

/*
 * Revokes the grant named at the end of an index key, if live. The cursor
 * walks CID_DB_GRANT_INDEX, the revocation writes CID_DB_GRANTS only.
 */
static enum cid_err revoke_one(struct cid_str key, struct cid_str val, void *arg)
{
	struct revoke_client *rv = arg;
	enum cid_err rc = CID_OK;
	char id[CID_TOKEN_CHARS + 1];
	json_t *grant = NULL;

	(void)val;
	CID_ENSURE(key.len - rv->prefix_len < sizeof(id), CID_ERR_STORE);
	memcpy(id, key.ptr + rv->prefix_len, key.len - rv->prefix_len);
	id[key.len - rv->prefix_len] = '\0';
	rc = token_load_grant(rv->txn, id, &grant);
	CID_ENSURE(rc != CID_ERR_NOTFOUND, CID_ERR_STORE);
	CID_TRY(rc);
	/* the key said whose grant it is: the record must agree */
	CID_ENSURE(cid_str_eq(cid_str_of(cid_json_str(grant, "account_id")), rv->account_id) &&
		       cid_str_eq(cid_str_of(cid_json_str(grant, "client_id")), rv->client_id),
		   CID_ERR_STORE);
	if (!json_is_true(json_object_get(grant, "revoked"))) {
		CID_TRY(token_put_revoked_grant(rv->txn, grant, rv->now));
		rv->revoked++;
	}
out:
	json_decref(grant);
	return rc;
}

static enum cid_err revoke_client_cb(struct cid_txn *txn, void *arg)
{
	struct revoke_client *rv = arg;
	enum cid_err rc = CID_OK;
	char prefix[INDEX_KEY_MAX];

	/* a rerun (the map grew) starts over */
	rv->revoked = 0;
	rv->txn = txn;
	CID_TRY(index_key(rv->account_id, rv->client_id, NULL, prefix, &rv->prefix_len));
	CID_TRY(cid_txn_foreach(txn, CID_DB_GRANT_INDEX, (struct cid_str){prefix, rv->prefix_len},
				revoke_one, rv));
out:
	return rc;
}

enum cid_err cid_grant_revoke_client(struct cid_store *s, const char *account_id,
				     const char *client_id, int64_t now, size_t *n_out)
{
	enum cid_err rc = CID_OK;
	struct revoke_client rv = {.account_id = account_id, .client_id = client_id, .now = now};

	CID_ENSURE(account_id != NULL && client_id != NULL, CID_ERR_INVALID);
	CID_TRY(cid_store_update(s, revoke_client_cb, &rv));
	if (n_out != NULL)
		*n_out = rv.revoked;
out:
	return rc;
}

/* Writes the index key of one grant record. */
static enum cid_err index_one(struct cid_txn *txn, struct cid_str key, struct cid_str val,
			      void *arg)
{
	enum cid_err rc = CID_OK;
	char id[CID_TOKEN_CHARS + 1];
	json_t *grant = NULL;

	(void)arg;
	CID_ENSURE(key.len < sizeof(id), CID_ERR_STORE);
	memcpy(id, key.ptr, key.len);
	id[key.len] = '\0';
	CID_TRY(cid_store_parse_json(val, &grant));
	rc = token_grant_index_put(txn, cid_json_str(grant, "account_id"),
				   cid_json_str(grant, "client_id"), id);
	/* a record without its citizen or service is damaged */
	CID_ENSURE(rc != CID_ERR_INVALID, CID_ERR_STORE);
	CID_TRY(rc);
out:
	json_decref(grant);
	return rc;
}

enum cid_err cid_grant_index_ensure(struct cid_store *s, size_t *built)
{
	return cid_store_index_ensure(s, CID_DB_GRANTS, CID_DB_GRANT_INDEX, 1, index_one, NULL,
				      built);
}
