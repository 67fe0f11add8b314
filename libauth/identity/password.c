/*
 * password: the rehash of password.h. cid_password_upgrade (crypto.h) says
 * whether a hash is behind the settings and makes the new one, outside any
 * transaction; the transaction only compares and replaces.
 */
#include "password.h"

#include <jansson.h>
#include <string.h>

struct rehash {
	enum cid_db db;
	struct cid_str key;
	const char *verified;
	const char *fresh;
	bool stored; /* output, reset on each run */
};

static enum cid_err rehash_cb(struct cid_txn *txn, void *arg)
{
	struct rehash *r = arg;
	json_t *rec = NULL;
	enum cid_err rc = cid_txn_get_json(txn, r->db, r->key, &rec);
	const char *stored;

	r->stored = false;
	/* erased since the login: nothing to bring up to date */
	if (rc == CID_ERR_NOTFOUND)
		return CID_OK;
	CID_TRY(rc);
	stored = cid_json_str(rec, "password");
	/* changed since the login: the new password was hashed with the settings */
	if (stored == NULL || strcmp(stored, r->verified) != 0)
		goto out;
	CID_ENSURE(json_object_set_new(rec, "password", json_string(r->fresh)) == 0, CID_ERR_NOMEM);
	CID_TRY(cid_txn_put_json(txn, r->db, r->key, rec, 0));
	r->stored = true;
out:
	json_decref(rec);
	return rc;
}

bool cid_password_rehash(struct cid_store *s, const struct cid_argon2_params *params,
			 enum cid_db db, struct cid_str key, const char *verified, const char *pw,
			 size_t n)
{
	char fresh[CID_PASSWORD_HASH_MAX] = "";
	struct rehash r = {db, key, verified, fresh, false};
	bool stored = cid_password_upgrade(params, verified, pw, n, fresh) &&
		      cid_store_update(s, rehash_cb, &r) == CID_OK && r.stored;

	cid_wipe(fresh, sizeof(fresh));
	return stored;
}
