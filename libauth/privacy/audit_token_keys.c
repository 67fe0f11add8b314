/*
 * audit_token_keys: the token signing keys' changes on the record. Which keys
 * sign, and which tokens are accepted, changes only through cid_keys_change
 * (jose.h), which tells each change inside the write transaction that makes
 * it; the hook here appends its entry (key.published, key.activated,
 * key.withdrawn) in that transaction. So a key is never withdrawn, published
 * or made to sign without its entry: if the entry cannot be written, the
 * transaction aborts and the keys stay as they were.
 *
 * These entries are not key.rotated, which is the audit key's (audit_rotate.c)
 * and carries the verifier key a checkpoint's reader trusts from then on. A
 * token key's entry names the key by its kid and its alg, public values, and
 * no citizen: no personal data.
 */
#include "audit.h"

#include "jose.h"

#include <stdint.h>

struct on_record {
	const char *actor, *endpoint;
};

static const char *type_of(enum cid_key_event e)
{
	switch (e) {
	case CID_KEY_PUBLISHED: return "key.published";
	case CID_KEY_ACTIVATED: return "key.activated";
	case CID_KEY_WITHDRAWN: return "key.withdrawn";
	}
	return NULL;
}

/* Sets ext[name] to the RFC 3339 form of t. */
static enum cid_err set_time(json_t *ext, const char *name, int64_t t)
{
	char when[21];
	enum cid_err rc = cid_audit_time(t, when);

	if (rc == CID_OK && json_object_set_new(ext, name, json_string(when)) != 0)
		rc = CID_ERR_NOMEM;
	return rc;
}

static enum cid_err record_cb(struct cid_txn *txn, const struct cid_key_change *c, void *arg)
{
	const struct on_record *r = arg;
	const char *type = type_of(c->event);
	enum cid_err rc = CID_OK;
	json_t *entry = NULL;
	json_t *ext;
	char when[21];

	CID_ENSURE(type != NULL && c->kid != NULL && c->alg != NULL, CID_ERR_INVALID);
	CID_TRY(cid_audit_time(c->now, when));
	entry = json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "type", type, "time", when, "actor",
			  r->actor, "ext", "kid", c->kid, "alg", c->alg);
	CID_ENSURE(entry != NULL, CID_ERR_NOMEM);
	if (r->endpoint != NULL)
		CID_ENSURE(json_object_set_new(entry, "endpoint", json_string(r->endpoint)) == 0,
			   CID_ERR_NOMEM);
	ext = json_object_get(entry, "ext");
	if (c->event == CID_KEY_PUBLISHED)
		CID_TRY(set_time(ext, "activate_at", c->at));
	if (c->event == CID_KEY_ACTIVATED && c->previous != NULL) {
		CID_ENSURE(json_object_set_new(ext, "previous", json_string(c->previous)) == 0,
			   CID_ERR_NOMEM);
		CID_TRY(set_time(ext, "previous_until", c->previous_until));
	}
	CID_TRY(cid_audit_append_txn(txn, entry, NULL));
out:
	json_decref(entry);
	return rc;
}

enum cid_err cid_audit_keys_change(struct cid_store *s, const struct cid_keys_op *op,
				   const char *actor, const char *endpoint,
				   struct cid_keys_result *out)
{
	struct on_record r = {.actor = actor, .endpoint = endpoint};

	if (out != NULL)
		*out = (struct cid_keys_result){0};
	if (s == NULL || op == NULL || actor == NULL || actor[0] == '\0' ||
	    (endpoint != NULL && endpoint[0] == '\0'))
		return CID_ERR_INVALID;
	return cid_keys_change(s, op, record_cb, &r, out);
}
