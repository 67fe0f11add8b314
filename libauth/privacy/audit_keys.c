/*
 * audit_keys: the log's own Ed25519 key (the audit key), its origin, and
 * the verifier keys a verification trusts.
 *
 * The audit key signs checkpoints and nothing else: it is not a token key, so
 * a token key's compromise or rotation never touches the log. It lives in
 * META "audit_keys" = {"origin", "keys": [{"vkey", "seed" (base64 Ed25519
 * seed, in the store only, as the token keys are), "created_at",
 * "retired_at"}]}, oldest first; the one key without "retired_at" signs. The
 * origin, derived once from the log's issuer ("https://id.city.example/x" ->
 * "id.city.example/x/audit"), is also the key's name, so a vkey names the log
 * it verifies. The record is made with the first key on the first start
 * after the issuer is recorded, or by the first signer of an older store.
 *
 * A rotation (audit_rotate.c, above this file and the checkpoints) retires
 * the active key and appends a fresh one; this file only makes and reads
 * keys, and calls nothing that signs a checkpoint.
 *
 * A trust set is what a verifier believes: the log's vkeys (type 0x01, all
 * of one name, the origin) and witnesses' cosignature vkeys (type 0x04),
 * parsed once.
 */
#include "audit.h"

#include "audit_int.h"
#include "bounds.h"
#include "crypto.h"
#include "note.h"
#include "str.h"

#include <stdlib.h>
#include <string.h>

#define SEED_B64 44 /* base64 of a 32-byte seed */

/* ---- the origin ---- */

enum cid_err audit_origin_of(const char *iss, char out[CID_NOTE_MAX_NAME + 1])
{
	const char *p = iss;
	size_t n;

	if (strncmp(p, "https://", 8) == 0)
		p += 8;
	else if (strncmp(p, "http://", 7) == 0)
		p += 7;
	n = strlen(p);
	while (n > 0 && p[n - 1] == '/')
		n--;
	if (n == 0 || n + 6 > CID_NOTE_MAX_NAME)
		return CID_ERR_CONFIG;
	memcpy(out, p, n);
	memcpy(out + n, "/audit", 7);
	return cid_note_name_ok(cid_str_of(out)) ? CID_OK : CID_ERR_CONFIG;
}

/* ---- the key record ---- */

enum cid_err audit_keys_get(struct cid_txn *txn, json_t **out)
{
	json_t *rec = NULL;
	const json_t *keys;
	enum cid_err rc = cid_txn_get_json(txn, CID_DB_META, cid_str_of(AUDIT_KEYS_KEY), &rec);

	if (rc != CID_OK)
		return rc;
	keys = json_object_get(rec, "keys");
	if (cid_json_str(rec, "origin") == NULL || !json_is_array(keys) ||
	    json_array_size(keys) == 0 || json_array_size(keys) > CID_AUDIT_MAX_KEYS) {
		json_decref(rec);
		return CID_ERR_STORE;
	}
	*out = rec;
	return CID_OK;
}

/* A key member of the record: {"vkey", "seed", "created_at"} of a fresh key named origin. */
enum cid_err audit_key_new(const char *origin, int64_t now, json_t **out, char **vkey)
{
	struct cid_note_signer *s = NULL;
	uint8_t seed[CID_NOTE_KEY_BYTES];
	char seed_b64[SEED_B64 + 1] = "";
	char *v = NULL;
	json_t *k;
	enum cid_err rc = CID_OK;

	CID_TRY(cid_note_signer_new(cid_str_of(origin), CID_NOTE_ED25519, NULL, &s));
	CID_TRY(cid_note_signer_seed(s, seed));
	CID_TRY(cid_b64_encode(seed, sizeof(seed), seed_b64, sizeof(seed_b64)));
	CID_TRY(cid_note_signer_vkey(s, &v));
	k = json_pack("{s:s, s:s, s:I}", "vkey", v, "seed", seed_b64, "created_at",
		      (json_int_t)now);
	CID_ENSURE(k != NULL, CID_ERR_NOMEM);
	*out = k;
	if (vkey != NULL) {
		*vkey = v;
		v = NULL;
	}
out:
	cid_wipe(seed, sizeof(seed));
	cid_wipe(seed_b64, sizeof(seed_b64));
	free(v);
	cid_note_signer_free(s);
	return rc;
}

/* The signer of a key member named origin. */
enum cid_err audit_key_signer(const char *origin, const json_t *key, struct cid_note_signer **out)
{
	const char *b64 = cid_json_str(key, "seed");
	uint8_t seed[CID_NOTE_KEY_BYTES];
	size_t n = 0;
	enum cid_err rc = CID_OK;

	CID_ENSURE(b64 != NULL &&
		       cid_b64_decode(b64, strlen(b64), seed, sizeof(seed), &n) == CID_OK &&
		       n == sizeof(seed),
		   CID_ERR_STORE);
	CID_TRY(cid_note_signer_new(cid_str_of(origin), CID_NOTE_ED25519, seed, out));
out:
	cid_wipe(seed, sizeof(seed));
	return rc;
}

/* The key that signs: the one without "retired_at" (the last). */
const json_t *audit_key_active(const json_t *rec)
{
	const json_t *keys = json_object_get(rec, "keys");
	const json_t *k = json_array_get(keys, json_array_size(keys) - 1);

	return json_object_get(k, "retired_at") == NULL ? k : NULL;
}

/*
 * The key record, made now if there is none: the origin from the issuer and
 * a first key. *out: new reference. Errors: CID_ERR_CONFIG (no issuer, or
 * one no origin can be made of), CID_ERR_STORE, CID_ERR_CRYPTO, CID_ERR_NOMEM.
 */
enum cid_err audit_keys_ensure(struct cid_txn *txn, int64_t now, json_t **out)
{
	enum cid_err rc = audit_keys_get(txn, out);
	char origin[CID_NOTE_MAX_NAME + 1];
	char *iss = NULL;
	json_t *rec = NULL;
	json_t *key = NULL;

	if (rc != CID_ERR_NOTFOUND)
		return rc;
	CID_TRY(audit_issuer_get(txn, &iss));
	CID_ENSURE(iss != NULL, CID_ERR_CONFIG);
	CID_TRY(audit_origin_of(iss, origin));
	CID_TRY(audit_key_new(origin, now, &key, NULL));
	rec = json_pack("{s:s, s:[o]}", "origin", origin, "keys", key);
	key = NULL;
	CID_ENSURE(rec != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_txn_put_json(txn, CID_DB_META, cid_str_of(AUDIT_KEYS_KEY), rec,
				 CID_PUT_NOOVERWRITE));
	*out = rec;
	rec = NULL;
out:
	json_decref(rec);
	json_decref(key);
	free(iss);
	return rc;
}

struct ensure {
	int64_t now;
};

static enum cid_err ensure_cb(struct cid_txn *txn, void *arg)
{
	const struct ensure *e = arg;
	json_t *rec = NULL;
	enum cid_err rc = audit_keys_ensure(txn, e->now, &rec);

	json_decref(rec);
	return rc;
}

enum cid_err cid_audit_key_ensure(struct cid_store *s, int64_t now)
{
	struct ensure e = {now};
	struct cid_txn *txn = NULL;
	json_t *rec = NULL;
	enum cid_err rc = CID_OK;

	CID_ENSURE(s != NULL, CID_ERR_INVALID);
	CID_TRY(cid_store_read_begin(s, &txn));
	rc = audit_keys_get(txn, &rec);
	cid_store_read_end(txn);
	txn = NULL;
	if (rc == CID_ERR_NOTFOUND)
		rc = cid_store_update(s, ensure_cb, &e);
out:
	json_decref(rec);
	return rc;
}

enum cid_err cid_audit_vkeys(struct cid_store *s, json_t **out)
{
	struct cid_txn *txn = NULL;
	json_t *rec = NULL;
	json_t *doc = NULL;
	json_t *vkeys;
	const json_t *k;
	size_t i;
	enum cid_err rc = CID_OK;

	CID_TRY(cid_store_read_begin(s, &txn));
	CID_TRY(audit_keys_get(txn, &rec));
	doc = json_pack("{s:s, s:[]}", "origin", cid_json_str(rec, "origin"), "vkeys");
	CID_ENSURE(doc != NULL, CID_ERR_NOMEM);
	vkeys = json_object_get(doc, "vkeys");
	json_array_foreach(json_object_get(rec, "keys"), i, k)
	{
		CID_ENSURE(cid_json_str(k, "vkey") != NULL, CID_ERR_STORE);
		CID_ENSURE(json_array_append_new(vkeys, json_string(cid_json_str(k, "vkey"))) == 0,
			   CID_ERR_NOMEM);
	}
	k = audit_key_active(rec);
	if (k != NULL)
		CID_ENSURE(
		    json_object_set_new(doc, "active", json_string(cid_json_str(k, "vkey"))) == 0,
		    CID_ERR_NOMEM);
	*out = doc;
	doc = NULL;
out:
	json_decref(doc);
	json_decref(rec);
	cid_store_read_end(txn);
	return rc;
}

/* ---- what a verifier trusts ---- */

enum cid_err cid_audit_trust_new(struct cid_audit_trust **out)
{
	*out = calloc(1, sizeof(**out));
	return *out == NULL ? CID_ERR_NOMEM : CID_OK;
}

void cid_audit_trust_free(struct cid_audit_trust *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n; i++)
		cid_note_verifier_free(t->v[i]);
	free(t);
}

const char *cid_audit_trust_origin(const struct cid_audit_trust *t)
{
	return t->origin;
}

enum cid_err cid_audit_trust_add(struct cid_audit_trust *t, struct cid_str vkey)
{
	struct cid_note_verifier *v = NULL;
	enum cid_err rc = CID_OK;
	const char *name;

	CID_ENSURE(cid_note_verifier_parse(vkey, &v) == CID_OK, CID_ERR_INVALID);
	name = cid_note_verifier_name(v);
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(cid_note_verifier_vkey(t->v[i]), cid_note_verifier_vkey(v)) == 0)
			goto out; /* known already */
	CID_ENSURE(t->n < CID_AUDIT_MAX_TRUST, CID_ERR_TOOBIG);
	if (cid_note_verifier_type(v) == CID_NOTE_ED25519) {
		/* one log: every log key has its origin as its name */
		CID_ENSURE(t->origin[0] == '\0' || strcmp(t->origin, name) == 0, CID_ERR_INVALID);
		if (t->origin[0] == '\0')
			memcpy(t->origin, name, strlen(name) + 1);
	}
	t->v[t->n++] = v;
	v = NULL;
out:
	cid_note_verifier_free(v);
	return rc;
}

/* The vkeys of a JSON document {"vkeys": [...]} (what /.well-known/civicid-audit serves). */
static enum cid_err trust_add_json(struct cid_audit_trust *t, const char *text, size_t len)
{
	json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	const json_t *vkeys = json_object_get(doc, "vkeys");
	const json_t *k;
	size_t i;
	enum cid_err rc = CID_OK;

	CID_ENSURE(json_is_array(vkeys), CID_ERR_INVALID);
	json_array_foreach(vkeys, i, k)
	{
		CID_ENSURE(json_is_string(k), CID_ERR_INVALID);
		CID_TRY(cid_audit_trust_add(
		    t, (struct cid_str){json_string_value(k), json_string_length(k)}));
	}
out:
	json_decref(doc);
	return rc;
}

enum cid_err cid_audit_trust_parse(const char *text, size_t len, struct cid_audit_trust **out)
{
	struct cid_audit_trust *t = NULL;
	const char *p = text;
	const char *end = text + len;
	enum cid_err rc = CID_OK;

	CID_ENSURE(text != NULL, CID_ERR_INVALID);
	CID_ENSURE(len <= CID_AUDIT_MAX_VKEYS, CID_ERR_TOOBIG);
	CID_ENSURE(cid_utf8_valid(text, len), CID_ERR_INVALID);
	CID_TRY(cid_audit_trust_new(&t));
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	if (p < end && *p == '{') {
		CID_TRY(trust_add_json(t, text, len));
	} else {
		/* one vkey a line; blank lines and # comments aside */
		for (p = text; p < end;) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t n = (size_t)((nl != NULL ? nl : end) - p);

			if (n > 0 && p[n - 1] == '\r')
				n--;
			if (n > 0 && p[0] != '#')
				CID_TRY(cid_audit_trust_add(t, (struct cid_str){p, n}));
			p = nl != NULL ? nl + 1 : end;
		}
	}
	CID_ENSURE(t->origin[0] != '\0', CID_ERR_INVALID); /* no log key */
	*out = t;
	t = NULL;
out:
	cid_audit_trust_free(t);
	return rc;
}

enum cid_err cid_audit_trust_load(struct cid_store *s, struct cid_audit_trust **out)
{
	struct cid_audit_trust *t = NULL;
	struct cid_txn *txn = NULL;
	json_t *rec = NULL;
	const json_t *k;
	size_t i;
	enum cid_err rc = CID_OK;

	CID_TRY(cid_audit_trust_new(&t));
	CID_TRY(cid_store_read_begin(s, &txn));
	rc = audit_keys_get(txn, &rec);
	if (rc == CID_ERR_NOTFOUND) {
		rc = CID_OK; /* no key yet: nothing signed by one either */
		goto done;
	}
	CID_TRY(rc);
	json_array_foreach(json_object_get(rec, "keys"), i, k)
	{
		const char *v = cid_json_str(k, "vkey");

		CID_ENSURE(v != NULL, CID_ERR_STORE);
		CID_ENSURE(cid_audit_trust_add(t, cid_str_of(v)) == CID_OK, CID_ERR_STORE);
	}
	CID_ENSURE(strcmp(t->origin, cid_json_str(rec, "origin")) == 0, CID_ERR_STORE);
done:
	*out = t;
	t = NULL;
out:
	cid_store_read_end(txn);
	json_decref(rec);
	cid_audit_trust_free(t);
	return rc;
}

enum cid_err audit_note_check(const struct cid_audit_trust *t, struct cid_str msg,
			      struct cid_note *note, struct cid_checkpoint *cp,
			      struct audit_cosigned *cosigned)
{
	const struct cid_note_verifier *logs[CID_AUDIT_MAX_TRUST];
	const struct cid_note_verifier *wits[CID_AUDIT_MAX_TRUST];
	struct cid_note_check checks[CID_AUDIT_MAX_TRUST];
	size_t n_log = 0;
	size_t n_wit = 0;
	enum cid_err rc = CID_OK;

	memset(cosigned, 0, sizeof(*cosigned));
	CID_ENSURE(cid_note_parse(msg, note) == CID_OK, CID_ERR_INVALID);
	CID_ENSURE(cid_checkpoint_parse(note->text, cp) == CID_OK, CID_ERR_INVALID);
	CID_ENSURE(t != NULL && t->origin[0] != '\0', CID_ERR_DENIED);
	CID_ENSURE(cp->origin.len == strlen(t->origin) &&
		       memcmp(cp->origin.ptr, t->origin, cp->origin.len) == 0,
		   CID_ERR_DENIED);
	for (size_t i = 0; i < t->n; i++) {
		if (cid_note_verifier_type(t->v[i]) == CID_NOTE_ED25519)
			logs[n_log++] = t->v[i];
		else
			wits[n_wit++] = t->v[i];
	}
	rc = cid_note_verify(note, logs, n_log, NULL);
	CID_ENSURE(rc != CID_ERR_NOMEM && rc != CID_ERR_CRYPTO, rc);
	CID_ENSURE(rc == CID_OK, CID_ERR_DENIED);
	/* a cosignature that does not verify is no cosignature; the log's line stands */
	if (n_wit > 0 && cid_note_verify(note, wits, n_wit, checks) == CID_OK)
		for (size_t i = 0; i < n_wit; i++)
			if (checks[i].verified && checks[i].time >= cosigned->time) {
				cosigned->time = checks[i].time;
				cosigned->name = cid_note_verifier_name(wits[i]);
			}
out:
	return rc;
}
