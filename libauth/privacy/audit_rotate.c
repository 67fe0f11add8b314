/*
 * audit_rotate: a rotation of the audit key, in one write transaction: a
 * key.rotated entry carrying the new vkey, the old key retired, and a
 * checkpoint covering that entry signed by both keys, so whoever trusts the
 * old key learns the new one from the log, and checkpoints signed before
 * still verify with the key history.
 *
 * It sits above both the keys (audit_keys.c) and the checkpoints
 * (audit_checkpoint.c), so the keys never call up into the checkpoints that
 * they sign. The new key is made before the transaction, which may run again
 * after the map grows, so a retry signs with the same key.
 */
#include "audit.h"

#include "audit_int.h"
#include "note.h"
#include "str.h"

#include <stdint.h>
#include <stdlib.h>

/* ---- rotation ---- */

struct rotate {
	const char *actor, *endpoint;
	int64_t now;
	json_t *fresh;	  /* the new key member, made before the transaction */
	const char *vkey; /* its vkey */
	uint64_t size;	  /* output: the checkpoint signed by both */
};

static enum cid_err rotate_cb(struct cid_txn *txn, void *arg)
{
	struct rotate *r = arg;
	struct cid_note_signer *old = NULL;
	struct cid_note_signer *fresh = NULL;
	json_t *rec = NULL;
	json_t *entry = NULL;
	json_t *active;
	char when[21];
	enum cid_err rc = CID_OK;

	CID_TRY(cid_audit_time(r->now, when));
	CID_TRY(audit_keys_ensure(txn, r->now, &rec));
	active = (json_t *)(uintptr_t)audit_key_active(rec);
	CID_ENSURE(active != NULL && cid_json_str(active, "vkey") != NULL, CID_ERR_STORE);
	CID_ENSURE(json_array_size(json_object_get(rec, "keys")) < CID_AUDIT_MAX_KEYS,
		   CID_ERR_TOOBIG);
	CID_TRY(audit_key_signer(cid_json_str(rec, "origin"), active, &old));
	CID_TRY(audit_key_signer(cid_json_str(rec, "origin"), r->fresh, &fresh));
	entry = json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:s}}", "type", "key.rotated", "time", when,
			  "actor", r->actor, "endpoint", r->endpoint, "ext", "vkey", r->vkey,
			  "previous", cid_json_str(active, "vkey"));
	CID_ENSURE(entry != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_audit_append_txn(txn, entry, NULL));
	CID_ENSURE(json_object_set_new(active, "retired_at", json_integer((json_int_t)r->now)) ==
			   0 &&
		       json_array_append(json_object_get(rec, "keys"), r->fresh) == 0,
		   CID_ERR_NOMEM);
	CID_TRY(cid_txn_put_json(txn, CID_DB_META, cid_str_of(AUDIT_KEYS_KEY), rec, 0));
	/* the checkpoint covering the rotation, by both: the old key vouches for the new */
	const struct cid_note_signer *both[] = {old, fresh};
	CID_TRY(audit_checkpoint_sign_txn(txn, r->now, both, 2, &r->size));
out:
	cid_note_signer_free(old);
	cid_note_signer_free(fresh);
	json_decref(entry);
	json_decref(rec);
	return rc;
}

enum cid_err cid_audit_key_rotate(struct cid_store *s, const char *actor, const char *endpoint,
				  int64_t now, char **vkey, uint64_t *size)
{
	struct rotate r = {.actor = actor, .endpoint = endpoint, .now = now};
	struct cid_txn *txn = NULL;
	json_t *rec = NULL;
	char *v = NULL;
	enum cid_err rc = CID_OK;

	CID_ENSURE(s != NULL && actor != NULL && actor[0] != '\0' && endpoint != NULL &&
		       endpoint[0] != '\0',
		   CID_ERR_INVALID);
	CID_TRY(cid_audit_key_ensure(s, now));
	CID_TRY(cid_store_read_begin(s, &txn));
	CID_TRY(audit_keys_get(txn, &rec));
	cid_store_read_end(txn);
	txn = NULL;
	/* made once, outside the transaction, which may run again after the map grows */
	CID_TRY(audit_key_new(cid_json_str(rec, "origin"), now, &r.fresh, &v));
	r.vkey = v;
	CID_TRY(cid_store_update(s, rotate_cb, &r));
	if (size != NULL)
		*size = r.size;
	if (vkey != NULL) {
		*vkey = v;
		v = NULL;
	}
out:
	cid_store_read_end(txn);
	json_decref(r.fresh);
	json_decref(rec);
	free(v);
	return rc;
}
