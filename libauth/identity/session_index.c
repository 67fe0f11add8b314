/*
 * session_index: a session found by its sid or its citizen without reading
 * anyone else's.
 *
 * CID_DB_SESSION_INDEX holds two keys per session: "a\n" account "\n" store
 * key (the hash of the cookie) -> "", so a citizen's sessions are one prefix,
 * and "s\n" sid -> store key. Ending a session by sid (logout), every session
 * of a citizen (a disable) and listing them (/account/security) read those
 * keys and those sessions only: O(log n + that citizen's sessions) instead of
 * every session of the city, inside the write transaction that holds the
 * store's one writer. Unlike a grant a session is deleted (logout, step-up
 * moves it to a new cookie), so every write and delete of a session writes
 * or deletes its keys in the same transaction: the index holds exactly two
 * keys per session, and twice the sessions is its count, which
 * cid_session_index_ensure checks at start in O(1), rebuilding an index that
 * fails it (a store written before the index existed, or one an older build
 * added or ended sessions in).
 */
#include "session.h"

#include "crypto.h"
#include "session_int.h"
#include "str.h"

#include <stdio.h>
#include <string.h>

/* "a\n" account "\n" store key, and its NUL (the longer of the two kinds) */
#define INDEX_KEY_MAX (2 + CID_ID_CHARS + 1 + CID_HASH_HEX + 1)

/*
 * The "a" key of account_id's session stored under hash into key (hash
 * NULL: the prefix of the citizen's sessions), its length into *len; false
 * if account_id cannot be a citizen's id.
 */
static bool account_key(const char *account_id, const char *hash, char key[INDEX_KEY_MAX],
			size_t *len)
{
	int n;

	if (account_id == NULL || account_id[0] == '\0' ||
	    strnlen(account_id, CID_ID_CHARS + 1) > CID_ID_CHARS ||
	    strchr(account_id, '\n') != NULL ||
	    (hash != NULL && strnlen(hash, CID_HASH_HEX + 1) != CID_HASH_HEX))
		return false;
	n = snprintf(key, INDEX_KEY_MAX, "a\n%s\n%s", account_id, hash == NULL ? "" : hash);
	if (n < 0 || n >= INDEX_KEY_MAX)
		return false;
	*len = (size_t)n;
	return true;
}

/* The "s" key of sid into key, its length into *len; false if sid cannot be one. */
static bool sid_key(const char *sid, char key[INDEX_KEY_MAX], size_t *len)
{
	if (!cid_token_syntax_ok(sid))
		return false;
	key[0] = 's';
	key[1] = '\n';
	memcpy(key + 2, sid, CID_TOKEN_CHARS + 1);
	*len = 2 + CID_TOKEN_CHARS;
	return true;
}

enum cid_err session_index_put(struct cid_txn *txn, const char *account_id, const char *sid,
			       const char *hash)
{
	enum cid_err rc = CID_OK;
	char key[INDEX_KEY_MAX];
	char skey[INDEX_KEY_MAX];
	size_t len = 0;
	size_t slen = 0;

	/* both keys checked before either is written: a session has both or none */
	CID_ENSURE(account_key(account_id, hash, key, &len) && sid_key(sid, skey, &slen),
		   CID_ERR_INVALID);
	CID_TRY(
	    cid_txn_put(txn, CID_DB_SESSION_INDEX, (struct cid_str){key, len}, cid_str_of(""), 0));
	CID_TRY(cid_txn_put(txn, CID_DB_SESSION_INDEX, (struct cid_str){skey, slen},
			    (struct cid_str){hash, CID_HASH_HEX}, 0));
out:
	return rc;
}

/* cid_txn_del, where a missing key is no error. */
static enum cid_err del_key(struct cid_txn *txn, const char *key, size_t len)
{
	enum cid_err rc = cid_txn_del(txn, CID_DB_SESSION_INDEX, (struct cid_str){key, len});

	return rc == CID_ERR_NOTFOUND ? CID_OK : rc;
}

enum cid_err session_index_del(struct cid_txn *txn, const json_t *rec, const char *hash)
{
	enum cid_err rc = CID_OK;
	char key[INDEX_KEY_MAX];
	struct cid_str val;
	size_t len = 0;

	if (rec == NULL)
		goto out;
	if (account_key(cid_json_str(rec, "account_id"), hash, key, &len))
		CID_TRY(del_key(txn, key, len));
	if (!sid_key(cid_json_str(rec, "sid"), key, &len))
		goto out;
	rc = cid_txn_get(txn, CID_DB_SESSION_INDEX, (struct cid_str){key, len}, &val);
	if (rc == CID_ERR_NOTFOUND) {
		rc = CID_OK;
		goto out;
	}
	CID_TRY(rc);
	if (cid_str_eq(val, hash))
		CID_TRY(del_key(txn, key, len));
out:
	return rc;
}

enum cid_err session_index_sid(struct cid_txn *txn, const char *sid, char hash[CID_HASH_HEX + 1])
{
	enum cid_err rc = CID_OK;
	char key[INDEX_KEY_MAX];
	struct cid_str val;
	size_t len = 0;

	CID_ENSURE(sid_key(sid, key, &len), CID_ERR_NOTFOUND);
	CID_TRY(cid_txn_get(txn, CID_DB_SESSION_INDEX, (struct cid_str){key, len}, &val));
	CID_ENSURE(val.len == CID_HASH_HEX, CID_ERR_STORE);
	memcpy(hash, val.ptr, CID_HASH_HEX);
	hash[CID_HASH_HEX] = '\0';
out:
	return rc;
}

struct each {
	size_t prefix_len;
	enum cid_err (*fn)(struct cid_str key, void *arg);
	void *arg;
};

/* Hands fn the store key at the end of an "a" key. */
static enum cid_err each_key(struct cid_str key, struct cid_str val, void *arg)
{
	struct each *e = arg;

	(void)val;
	if (key.len != e->prefix_len + CID_HASH_HEX)
		return CID_ERR_STORE;
	return e->fn((struct cid_str){key.ptr + e->prefix_len, CID_HASH_HEX}, e->arg);
}

enum cid_err session_index_account_each(struct cid_txn *txn, const char *account_id,
					enum cid_err (*fn)(struct cid_str key, void *arg),
					void *arg)
{
	enum cid_err rc = CID_OK;
	char prefix[INDEX_KEY_MAX];
	struct each e = {.fn = fn, .arg = arg};

	if (!account_key(account_id, NULL, prefix, &e.prefix_len))
		goto out; /* no citizen's id: no sessions */
	CID_TRY(cid_txn_foreach(txn, CID_DB_SESSION_INDEX, (struct cid_str){prefix, e.prefix_len},
				each_key, &e));
out:
	return rc;
}

/* Appends a store key to the array arg. */
static enum cid_err collect_key(struct cid_str key, void *arg)
{
	return json_array_append_new(arg, json_stringn(key.ptr, key.len)) == 0 ? CID_OK
									       : CID_ERR_NOMEM;
}

enum cid_err session_index_account(struct cid_txn *txn, const char *account_id, json_t *keys)
{
	return session_index_account_each(txn, account_id, collect_key, keys);
}

/* ---- the build, for a store whose index is not whole ---- */

/*
 * Writes the index keys of the session stored under key; a record that names
 * no citizen or sid a session can have (or sits under a key no cookie makes)
 * can be neither presented nor ended (cid_session_get reads CID_ERR_STORE
 * from it): CID_ERR_INVALID, so that cid_store_index_ensure deletes it and
 * the index stays exact.
 */
static enum cid_err index_one(struct cid_txn *txn, struct cid_str key, struct cid_str val,
			      void *arg)
{
	enum cid_err rc = CID_OK;
	char hash[CID_HASH_HEX + 1];
	json_t *rec = NULL;

	(void)arg;
	CID_ENSURE(key.len == CID_HASH_HEX, CID_ERR_INVALID);
	memcpy(hash, key.ptr, CID_HASH_HEX);
	hash[CID_HASH_HEX] = '\0';
	rc = cid_store_parse_json(val, &rec);
	CID_ENSURE(rc != CID_ERR_STORE, CID_ERR_INVALID);
	CID_TRY(rc);
	/* CID_ERR_INVALID (no citizen or sid, or a NUL in the key): dropped */
	CID_TRY(session_index_put(txn, cid_json_str(rec, "account_id"), cid_json_str(rec, "sid"),
				  hash));
out:
	json_decref(rec);
	return rc;
}

enum cid_err cid_session_index_ensure(struct cid_store *s, size_t *built)
{
	return cid_store_index_ensure(s, CID_DB_SESSIONS, CID_DB_SESSION_INDEX, 2, index_one, NULL,
				      built);
}
