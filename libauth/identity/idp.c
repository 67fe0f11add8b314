/*
 * idp: the registry of upstream identity providers and the links from an
 * upstream identity to a citizen (idp.h).
 *
 * Invariants: a stored registration passed cid_idp_check, so the flow
 * trusts its fields' shape; the secret never leaves this file but in
 * struct cid_idp, which the flow uses to call the token endpoint (the memo
 * of public views keeps a record's digest, never its bytes). The links
 * from an upstream identity to a citizen are idp_link.c's.
 */
#include "idp.h"

#include "account.h"
#include "crypto.h"
#include "idp_int.h"
#include "str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* policy.h's levels (a layer above: named here, checked equal in test_idp) */
#define LEVEL_PASSWORD 1
#define LEVEL_MFA      2
#define LEVEL_HIGH     3

static void say(char *why, size_t whysz, const char *what)
{
	if (why != NULL && whysz > 0)
		snprintf(why, whysz, "%s", what);
}

bool idp_printable(const char *s, size_t max, bool spaces)
{
	size_t n = s == NULL ? 0 : strnlen(s, max + 1);

	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c > 0x7e || (c == ' ' && !spaces))
			return false;
	}
	return true;
}

static bool name_ok(const char *s)
{
	size_t n = s == NULL ? 0 : strnlen(s, CID_IDP_MAX_NAME + 1);

	if (n == 0 || n > CID_IDP_MAX_NAME)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return true;
}

/*
 * An issuer: https://HOST..., or http://127.0.0.1 (an optional :port and
 * path) for tests; no query, fragment or userinfo (OIDC Discovery §2: the
 * issuer has no query or fragment).
 */
static bool issuer_ok(const char *s)
{
	static const char loop[] = "http://127.0.0.1";
	size_t n;

	if (!idp_printable(s, CID_IDP_MAX_ISSUER, false) || strpbrk(s, "?#@\\") != NULL)
		return false;
	n = strlen(s);
	if (n > 8 && strncmp(s, "https://", 8) == 0 && s[8] != '/' && s[8] != ':')
		return true;
	if (strncmp(s, loop, sizeof(loop) - 1) != 0)
		return false;
	s += sizeof(loop) - 1;
	return *s == '\0' || *s == ':' || *s == '/';
}

static bool scope_has_openid(const char *scope)
{
	for (const char *p = scope; *p != '\0';) {
		size_t n = strcspn(p, " ");

		if (n == 6 && strncmp(p, "openid", 6) == 0)
			return true;
		p += n;
		p += strspn(p, " ");
	}
	return false;
}

/*
 * Splits "KEY=VALUE" (at the first '=') into key[0..keymax] and *value
 * (borrowed from entry); false when there is no '=' or the key is empty or
 * longer than keymax.
 */
static bool split(const char *entry, char *key, size_t keymax, const char **value)
{
	const char *eq = entry == NULL ? NULL : strchr(entry, '=');
	size_t n = eq == NULL ? 0 : (size_t)(eq - entry);

	if (n == 0 || n > keymax)
		return false;
	memcpy(key, entry, n);
	key[n] = '\0';
	*value = eq + 1;
	return true;
}

static bool level_ok(const char *v)
{
	return strcmp(v, "1") == 0 || strcmp(v, "2") == 0 || strcmp(v, "3") == 0;
}

/* Builds the amr map of spec ("UPSTREAM_AMR=LEVEL" each), checking each entry. */
static enum cid_err build_amr_map(const struct cid_idp_spec *spec, json_t *amr_map, char *why,
				  size_t whysz)
{
	char key[CID_IDP_MAX_ACR + 1];
	const char *value;

	if (spec->n_amr_map > CID_IDP_MAX_MAP) {
		say(why, whysz, "at most 16 entries of --amr-map");
		return CID_ERR_INVALID;
	}
	for (size_t i = 0; i < spec->n_amr_map; i++) {
		if (!split(spec->amr_map[i], key, CID_IDP_MAX_ACR, &value) ||
		    !idp_printable(key, CID_IDP_MAX_ACR, false) || !level_ok(value)) {
			say(why, whysz, "an --amr-map entry is not UPSTREAM_AMR=LEVEL (1 to 3)");
			return CID_ERR_INVALID;
		}
		if (json_object_set_new(amr_map, key, json_integer(value[0] - '0')) != 0)
			return CID_ERR_NOMEM;
	}
	return CID_OK;
}

/* Builds the acr and claim maps of spec, checking each entry. */
static enum cid_err build_maps(const struct cid_idp_spec *spec, json_t *acr_map, json_t *claim_map,
			       char *why, size_t whysz)
{
	char key[CID_IDP_MAX_ACR + 1];
	const char *value;

	if (spec->n_acr_map > CID_IDP_MAX_MAP || spec->n_claim_map > CID_IDP_MAX_MAP) {
		say(why, whysz, "at most 16 entries in each of --acr-map and --claim-map");
		return CID_ERR_INVALID;
	}
	for (size_t i = 0; i < spec->n_acr_map; i++) {
		if (!split(spec->acr_map[i], key, CID_IDP_MAX_ACR, &value) ||
		    !idp_printable(key, CID_IDP_MAX_ACR, false)) {
			say(why, whysz, "an --acr-map entry is not UPSTREAM_ACR=LEVEL");
			return CID_ERR_INVALID;
		}
		/* the policy engine knows levels 1 to 3 (policy.h); a higher one
		 * would be a level no policy can ask for */
		if (!level_ok(value)) {
			say(why, whysz,
			    "an --acr-map level must be 1 (password), 2 (password and "
			    "one-time code) or 3 (above both: the card)");
			return CID_ERR_INVALID;
		}
		if (json_object_set_new(acr_map, key, json_integer(value[0] - '0')) != 0)
			return CID_ERR_NOMEM;
	}
	for (size_t i = 0; i < spec->n_claim_map; i++) {
		if (!split(spec->claim_map[i], key, CID_IDP_MAX_ACR, &value) ||
		    !idp_printable(key, CID_IDP_MAX_ACR, false)) {
			say(why, whysz, "a --claim-map entry is not UPSTREAM_CLAIM=LOCAL_CLAIM");
			return CID_ERR_INVALID;
		}
		if (cid_claim_lookup(value) == NULL) {
			say(why, whysz,
			    "a --claim-map entry names a local claim civicid does not "
			    "know (see civicid user --help)");
			return CID_ERR_INVALID;
		}
		if (json_object_set_new(claim_map, key, json_string(value)) != 0)
			return CID_ERR_NOMEM;
	}
	return CID_OK;
}

/* ---- a registration's button on the login page (its use: idp_buttons.c) ---- */

static bool label_ok(const char *s)
{
	size_t n = s == NULL ? 0 : strnlen(s, CID_IDP_MAX_LABEL + 1);

	/* "" removes a label (set); the controls of a UTF-8 text never belong on a button */
	if (s == NULL || n == 0)
		return true;
	if (n > CID_IDP_MAX_LABEL || !cid_utf8_valid(s, n))
		return false;
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x20)
			return false;
	}
	return true;
}

bool cid_idp_display_ok(const struct cid_idp_display *d)
{
	return label_ok(d->label_ja) && label_ok(d->label_en) && d->order >= 0 &&
	       d->order <= CID_IDP_ORDER_MAX;
}

enum cid_err cid_idp_display_apply(const struct cid_idp_display *d, json_t *record)
{
	const char *const names[] = {"label_ja", "label_en"};
	const char *const values[] = {d->label_ja, d->label_en};

	if (!cid_idp_display_ok(d))
		return CID_ERR_INVALID;
	for (size_t i = 0; i < 2; i++) {
		if (values[i] == NULL)
			continue;
		if (values[i][0] == '\0')
			json_object_del(record, names[i]);
		else if (json_object_set_new(record, names[i], json_string(values[i])) != 0)
			return CID_ERR_NOMEM;
	}
	if (d->order > 0 && json_object_set_new(record, "order", json_integer(d->order)) != 0)
		return CID_ERR_NOMEM;
	return CID_OK;
}

enum cid_err cid_idp_check(const struct cid_idp_spec *spec, char *why, size_t whysz)
{
	enum cid_err rc = CID_OK;
	json_t *acr_map = json_object();
	json_t *amr_map = json_object();
	json_t *claim_map = json_object();

	CID_ENSURE(acr_map != NULL && amr_map != NULL && claim_map != NULL, CID_ERR_NOMEM);
	rc = CID_ERR_INVALID;
	if (!name_ok(spec->name)) {
		say(why, whysz, "the name must be 1 to 32 of a-z, 0-9, _ and -");
		goto out;
	}
	if (!issuer_ok(spec->issuer)) {
		say(why, whysz,
		    "the issuer must be an https URL (or http://127.0.0.1 for tests) of at most "
		    "512 bytes, without query, fragment or user name");
		goto out;
	}
	if (!idp_printable(spec->client_id, CID_MAX_CLIENT_ID, false)) {
		say(why, whysz, "the client id must be 1 to 128 printable ASCII characters");
		goto out;
	}
	if (!idp_printable(spec->client_secret, CID_MAX_SECRET, false)) {
		say(why, whysz, "the client secret must be 1 to 256 printable ASCII characters");
		goto out;
	}
	if (!idp_printable(spec->scope, CID_MAX_SCOPE, true) || !scope_has_openid(spec->scope)) {
		say(why, whysz, "the scope must be printable ASCII and include openid");
		goto out;
	}
	if (spec->trust_framework != NULL &&
	    !idp_printable(spec->trust_framework, CID_IDP_MAX_ACR, false)) {
		say(why, whysz, "the trust framework must be 1 to 128 printable ASCII characters");
		goto out;
	}
	if (!cid_idp_display_ok(&spec->display)) {
		say(why, whysz,
		    "a label must be at most 64 bytes of UTF-8 without control characters, "
		    "and the order 1 to 999");
		goto out;
	}
	rc = build_maps(spec, acr_map, claim_map, why, whysz);
	if (rc == CID_OK)
		rc = build_amr_map(spec, amr_map, why, whysz);
out:
	json_decref(acr_map);
	json_decref(amr_map);
	json_decref(claim_map);
	return rc;
}

struct add_arg {
	const char *name;
	const char *issuer;
	const json_t *record;
};

static enum cid_err same_issuer(struct cid_str key, struct cid_str val, void *arg)
{
	const struct add_arg *a = arg;
	json_t *rec = NULL;
	enum cid_err rc = cid_store_parse_json(val, &rec);
	const char *iss = cid_json_str(rec, "issuer");

	(void)key;
	if (rc == CID_OK && iss != NULL && strcmp(iss, a->issuer) == 0)
		rc = CID_ERR_EXISTS;
	json_decref(rec);
	return rc;
}

static enum cid_err add_cb(struct cid_txn *txn, void *arg)
{
	const struct add_arg *a = arg;
	enum cid_err rc = cid_txn_foreach(txn, CID_DB_IDPS, cid_str_of(""), same_issuer, arg);

	if (rc != CID_OK)
		return rc;
	return cid_txn_put_json(txn, CID_DB_IDPS, cid_str_of(a->name), a->record,
				CID_PUT_NOOVERWRITE);
}

enum cid_err cid_idp_add(struct cid_store *s, const struct cid_idp_spec *spec, int64_t now,
			 char *why, size_t whysz)
{
	enum cid_err rc = CID_OK;
	json_t *acr_map = json_object();
	json_t *amr_map = json_object();
	json_t *claim_map = json_object();
	json_t *record = NULL;
	struct add_arg a = {spec->name, spec->issuer, NULL};

	CID_TRY(cid_idp_check(spec, why, whysz));
	CID_ENSURE(acr_map != NULL && amr_map != NULL && claim_map != NULL, CID_ERR_NOMEM);
	CID_TRY(build_maps(spec, acr_map, claim_map, why, whysz));
	CID_TRY(build_amr_map(spec, amr_map, why, whysz));
	record =
	    json_pack("{s:s, s:s, s:s, s:s, s:s, s:O, s:O, s:O, s:b, s:b, s:I}", "name", spec->name,
		      "issuer", spec->issuer, "client_id", spec->client_id, "client_secret",
		      spec->client_secret, "scope", spec->scope, "acr_map", acr_map, "amr_map",
		      amr_map, "claim_map", claim_map, "allow_create", spec->allow_create,
		      "amr_pass", spec->amr_pass, "created_at", (json_int_t)now);
	CID_ENSURE(record != NULL, CID_ERR_NOMEM);
	if (spec->trust_framework != NULL)
		CID_ENSURE(json_object_set_new(record, "trust_framework",
					       json_string(spec->trust_framework)) == 0,
			   CID_ERR_NOMEM);
	CID_TRY(cid_idp_display_apply(&spec->display, record));
	a.record = record;
	rc = cid_store_update(s, add_cb, &a);
	if (rc == CID_ERR_EXISTS)
		say(why, whysz, "an upstream of that name or issuer is already registered");
out:
	json_decref(acr_map);
	json_decref(amr_map);
	json_decref(claim_map);
	json_decref(record);
	return rc;
}

static enum cid_err remove_cb(struct cid_txn *txn, void *arg)
{
	return cid_txn_del(txn, CID_DB_IDPS, cid_str_of(arg));
}

enum cid_err cid_idp_remove(struct cid_store *s, const char *name)
{
	if (!name_ok(name))
		return CID_ERR_NOTFOUND;
	return cid_store_update(s, remove_cb, (void *)(uintptr_t)name);
}

/* The public view of a stored record: everything but the secret. */
static json_t *public_view(const json_t *rec)
{
	json_t *v = json_deep_copy(rec);

	if (v != NULL)
		json_object_del(v, "client_secret");
	return v;
}

static void view_ref(void *v)
{
	json_incref(v);
}

static void view_unref(void *v)
{
	json_decref(v);
}

/* A public view is a function of the record's bytes: the store's memo keeps it. */
static const struct cid_memo_kind view_kind = {view_ref, view_unref};

struct walk {
	struct cid_memo *memo; /* NULL: every view is made anew */
	enum cid_err (*fn)(const json_t *view, void *arg);
	void *arg;
};

static enum cid_err walk_one(struct cid_str key, struct cid_str val, void *arg)
{
	const struct walk *w = arg;
	uint8_t digest[32];
	struct cid_str bytes = {(const char *)digest, sizeof(digest)};
	json_t *view;
	enum cid_err rc;

	/* the memo compares and keeps the digest: the record's bytes hold the secret */
	cid_sha256(val.ptr, val.len, digest);
	view = cid_memo_get(w->memo, key, bytes);
	if (view == NULL) {
		CID_TRY(cid_store_parse_json(val, &view));
		json_object_del(view, "client_secret");
		cid_memo_put(w->memo, key, bytes, view);
	}
	rc = w->fn(view, w->arg);
out:
	json_decref(view);
	return rc;
}

enum cid_err idp_foreach_public(struct cid_store *s,
				enum cid_err (*fn)(const json_t *view, void *arg), void *arg)
{
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;
	struct walk w = {cid_store_memo(s, CID_DB_IDPS, &view_kind), fn, arg};

	CID_TRY(cid_store_read_begin(s, &txn));
	rc = cid_txn_foreach(txn, CID_DB_IDPS, cid_str_of(""), walk_one, &w);
	cid_store_read_end(txn);
out:
	return rc;
}

/* Appends a copy of view to the array arg: cid_idp_list's caller owns what it gets. */
static enum cid_err list_one(const json_t *view, void *arg)
{
	return json_array_append_new(arg, json_deep_copy(view)) == 0 ? CID_OK : CID_ERR_NOMEM;
}

enum cid_err cid_idp_list(struct cid_store *s, json_t **out)
{
	enum cid_err rc = CID_OK;
	json_t *all = json_array();

	CID_ENSURE(all != NULL, CID_ERR_NOMEM);
	CID_TRY(idp_foreach_public(s, list_one, all));
	*out = all;
	all = NULL;
out:
	json_decref(all);
	return rc;
}

/* The stored record of name into *out (new reference). */
static enum cid_err get_record(struct cid_store *s, const char *name, json_t **out)
{
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;

	if (!name_ok(name))
		return CID_ERR_NOTFOUND;
	CID_TRY(cid_store_read_begin(s, &txn));
	rc = cid_txn_get_json(txn, CID_DB_IDPS, cid_str_of(name), out);
	cid_store_read_end(txn);
out:
	return rc;
}

enum cid_err cid_idp_show(struct cid_store *s, const char *name, json_t **out)
{
	enum cid_err rc = CID_OK;
	json_t *rec = NULL;
	json_t *v;

	CID_TRY(get_record(s, name, &rec));
	v = public_view(rec);
	CID_ENSURE(v != NULL, CID_ERR_NOMEM);
	*out = v;
out:
	json_decref(rec);
	return rc;
}

/* Copies member m of rec into dst[0..max]; false when absent or too long. */
static bool copy_member(const json_t *rec, const char *m, char *dst, size_t max)
{
	const char *v = cid_json_str(rec, m);
	size_t n = v == NULL ? 0 : strnlen(v, max + 1);

	if (n == 0 || n > max)
		return false;
	memcpy(dst, v, n);
	dst[n] = '\0';
	return true;
}

enum cid_err cid_idp_get(struct cid_store *s, const char *name, struct cid_idp **out)
{
	enum cid_err rc = CID_OK;
	json_t *rec = NULL;
	struct cid_idp *idp = calloc(1, sizeof(*idp));

	CID_ENSURE(idp != NULL, CID_ERR_NOMEM);
	CID_TRY(get_record(s, name, &rec));
	CID_ENSURE(copy_member(rec, "name", idp->name, CID_IDP_MAX_NAME) &&
		       copy_member(rec, "issuer", idp->issuer, CID_IDP_MAX_ISSUER) &&
		       copy_member(rec, "client_id", idp->client_id, CID_MAX_CLIENT_ID) &&
		       copy_member(rec, "client_secret", idp->client_secret, CID_MAX_SECRET) &&
		       copy_member(rec, "scope", idp->scope, CID_MAX_SCOPE) &&
		       json_is_object(json_object_get(rec, "acr_map")) &&
		       json_is_object(json_object_get(rec, "claim_map")),
		   CID_ERR_STORE);
	idp->acr_map = json_incref(json_object_get(rec, "acr_map"));
	idp->claim_map = json_incref(json_object_get(rec, "claim_map"));
	/* a registration from before amr maps has none */
	idp->amr_map = json_is_object(json_object_get(rec, "amr_map"))
			   ? json_incref(json_object_get(rec, "amr_map"))
			   : json_object();
	CID_ENSURE(idp->amr_map != NULL, CID_ERR_NOMEM);
	idp->allow_create = json_is_true(json_object_get(rec, "allow_create"));
	idp->amr_pass = json_is_true(json_object_get(rec, "amr_pass"));
	if (cid_json_str(rec, "trust_framework") != NULL)
		CID_ENSURE(
		    copy_member(rec, "trust_framework", idp->trust_framework, CID_IDP_MAX_ACR),
		    CID_ERR_STORE);
	*out = idp;
	idp = NULL;
out:
	cid_idp_free(idp);
	json_decref(rec);
	return rc;
}

void cid_idp_free(struct cid_idp *idp)
{
	if (idp == NULL)
		return;
	cid_wipe(idp->client_secret, sizeof(idp->client_secret));
	json_decref(idp->acr_map);
	json_decref(idp->amr_map);
	json_decref(idp->claim_map);
	free(idp);
}

int cid_idp_acr_level(const struct cid_idp *idp, const char *acr)
{
	json_int_t level;

	if (acr == NULL)
		return LEVEL_PASSWORD;
	level = json_integer_value(json_object_get(idp->acr_map, acr));
	/* a stored map holds 1 to 3 (cid_idp_check); anything else counts as 1 */
	return level == LEVEL_MFA || level == LEVEL_HIGH ? (int)level : LEVEL_PASSWORD;
}

int cid_idp_login_level(const struct cid_idp *idp, const json_t *claims)
{
	int level = cid_idp_acr_level(idp, cid_json_str(claims, "acr"));
	size_t i;
	const json_t *v;

	json_array_foreach(json_object_get(claims, "amr"), i, v)
	{
		json_int_t l;

		if (!json_is_string(v))
			continue;
		l = json_integer_value(json_object_get(idp->amr_map, json_string_value(v)));
		if ((l == LEVEL_MFA || l == LEVEL_HIGH) && l > level)
			level = (int)l;
	}
	return level;
}

/* RFC 8176 §2's registered values: the only upstream amr civicid passes on. */
static bool amr_registered(const char *v)
{
	static const char *const names[] = {"face", "fpt", "geo", "hwk", "iris", "kba", "mca",
					    "mfa",  "otp", "pin", "pop", "pwd",	 "rba", "retina",
					    "sc",   "sms", "swk", "tel", "user", "vbm", "wia"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(v, names[i]) == 0)
			return true;
	}
	return false;
}

bool cid_idp_login_fresh(const json_t *claims, int64_t asked_at, int64_t now)
{
	const json_t *t = json_object_get(claims, "auth_time");
	json_int_t at;

	if (!json_is_integer(t))
		return false;
	at = json_integer_value(t);
	return at >= asked_at - CID_CLOCK_SKEW && at <= now + CID_CLOCK_SKEW;
}

size_t cid_idp_amr(const struct cid_idp *idp, const json_t *claims, const char **out, size_t max)
{
	size_t n = 0;
	size_t i;
	const json_t *v;

	if (max == 0)
		return 0;
	out[n++] = "fed";
	if (!idp->amr_pass)
		return n;
	json_array_foreach(json_object_get(claims, "amr"), i, v)
	{
		const char *s = json_string_value(v);
		bool seen = false;

		if (n >= max || s == NULL || !amr_registered(s))
			continue;
		for (size_t j = 0; j < n; j++)
			seen = seen || strcmp(out[j], s) == 0;
		if (!seen)
			out[n++] = s;
	}
	return n;
}

enum cid_err cid_idp_map_claims(const struct cid_idp *idp, const json_t *upstream, json_t **out)
{
	enum cid_err rc = CID_OK;
	json_t *claims = json_object();
	const char *from;
	const json_t *to;

	CID_ENSURE(claims != NULL, CID_ERR_NOMEM);
	json_object_foreach((json_t *)(uintptr_t)idp->claim_map, from, to)
	{
		const char *local = json_string_value(to);
		json_t *v = json_object_get(upstream, from);

		if (local == NULL || v == NULL || cid_claim_check(local, v) != CID_OK)
			continue;
		CID_ENSURE(json_object_set(claims, local, v) == 0, CID_ERR_NOMEM);
	}
	*out = claims;
	claims = NULL;
out:
	json_decref(claims);
	return rc;
}
