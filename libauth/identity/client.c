/*
 * client: the registry of relying parties. The rules of what a client may be
 * (which redirect URIs, which grant types, public vs confidential) are checked
 * once, at registration, so a loaded client is known-good and the request path
 * only compares. Redirect URIs compare byte for byte: no normalisation, no
 * prefix or wildcard matching (RFC 9700 §2.1, §4.1).
 */
#include "client_int.h"

#include "crypto.h"
#include "http_fetch.h"
#include "str.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Scopes a client may be allowed. "city" carries the city's own attributes. */
#define KNOWN_SCOPES "openid profile email address phone city offline_access"

static bool client_id_ok(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > CID_MAX_CLIENT_ID)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return false;
	}
	return true;
}

/* ---- the logout URIs of a record (checked in client_logout.c) ---- */

/* The logout URIs of a stored record into c (absent: none). Errors: CID_ERR_NOMEM. */
static enum cid_err client_logout_load(const json_t *rec, struct cid_client *c)
{
	const char *back = json_string_value(json_object_get(rec, "backchannel_logout_uri"));
	const char *front = json_string_value(json_object_get(rec, "frontchannel_logout_uri"));

	if (back != NULL && (c->backchannel_logout_uri = strdup(back)) == NULL)
		return CID_ERR_NOMEM;
	if (front != NULL && (c->frontchannel_logout_uri = strdup(front)) == NULL)
		return CID_ERR_NOMEM;
	c->backchannel_logout_session_required =
	    back != NULL &&
	    json_is_true(json_object_get(rec, "backchannel_logout_session_required"));
	c->frontchannel_logout_session_required =
	    front != NULL &&
	    json_is_true(json_object_get(rec, "frontchannel_logout_session_required"));
	return CID_OK;
}

/*
 * Checks the logout URIs of spec (client.h's rules) and adds them to rec,
 * the record being registered (client_logout_uri, per channel).
 */
static enum cid_err client_logout_record(json_t *rec, const struct cid_client_spec *spec, char *why,
					 size_t whysz)
{
	enum cid_err rc = CID_OK;

	CID_TRY(client_logout_uri(rec, "backchannel", spec->backchannel_logout_uri,
				  spec->backchannel_logout_session_required, why, whysz));
	CID_TRY(client_logout_uri(rec, "frontchannel", spec->frontchannel_logout_uri,
				  spec->frontchannel_logout_session_required, why, whysz));
out:
	return rc;
}

/* Known scopes only; "openid" is required when the client logs citizens in. */
static enum cid_err check_scopes(const char *scopes, bool need_openid)
{
	if (strlen(scopes) > CID_MAX_SCOPE)
		return CID_ERR_TOOBIG;
	if (!cid_words_subset(scopes, KNOWN_SCOPES))
		return CID_ERR_INVALID;
	return !need_openid || cid_words_has(scopes, "openid", 6) ? CID_OK : CID_ERR_INVALID;
}

struct grants {
	bool code, refresh, client_credentials;
};

static enum cid_err parse_grants(const char *s, struct grants *g)
{
	size_t n = strlen(s), i = 0;

	memset(g, 0, sizeof(*g));
	while (i < n) {
		size_t len = strcspn(s + i, " ");
		struct cid_str w = {s + i, len};
		if (cid_str_eq(w, "authorization_code"))
			g->code = true;
		else if (cid_str_eq(w, "refresh_token"))
			g->refresh = true;
		else if (cid_str_eq(w, "client_credentials"))
			g->client_credentials = true;
		else if (len > 0)
			return CID_ERR_INVALID;
		i += len + 1;
	}
	if (!g->code && !g->client_credentials)
		return CID_ERR_INVALID;
	if (g->refresh && !g->code)
		return CID_ERR_INVALID;
	return CID_OK;
}

static json_t *string_array(const char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < n; i++)
		if (json_array_append_new(a, json_string(v[i])) != 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

/*
 * Validates a spec into the record that will be stored, the sector decided by
 * cid_client_sector (doc: the fetched sector identifier document, if any).
 */
static enum cid_err spec_record(const struct cid_client_spec *spec, const char *client_id,
				const char *secret_hash, struct cid_str doc, int64_t now, char *why,
				size_t whysz, json_t **out)
{
	enum cid_err rc = CID_OK;
	struct grants g;
	char sector[CID_MAX_SECTOR + 1] = "";
	const char *scopes = spec->scopes ? spec->scopes : "openid";
	const char *grant_types =
	    spec->grant_types ? spec->grant_types : "authorization_code refresh_token";
	const char *alg = spec->id_token_alg ? spec->id_token_alg : "ES256";
	const char *subject = spec->subject_type ? spec->subject_type : "pairwise";
	json_t *rec = NULL, *grants = NULL;

	CID_ENSURE(client_id_ok(client_id), CID_ERR_INVALID);
	CID_ENSURE(spec->name == NULL || (strlen(spec->name) <= CID_MAX_CLAIM_VALUE &&
					  cid_utf8_valid(spec->name, strlen(spec->name))),
		   CID_ERR_INVALID);
	CID_TRY(parse_grants(grant_types, &g));
	CID_TRY(check_scopes(scopes, g.code));
	CID_ENSURE(!(spec->is_public && g.client_credentials), CID_ERR_INVALID);
	CID_ENSURE(strcmp(alg, "ES256") == 0 || strcmp(alg, "RS256") == 0, CID_ERR_INVALID);
	CID_ENSURE(strcmp(subject, "pairwise") == 0 || strcmp(subject, "public") == 0,
		   CID_ERR_INVALID);
	CID_ENSURE(spec->n_redirect_uris <= CID_MAX_REDIRECT_URIS &&
		       spec->n_post_logout_uris <= CID_MAX_REDIRECT_URIS,
		   CID_ERR_TOOBIG);
	CID_ENSURE(!g.code || spec->n_redirect_uris > 0, CID_ERR_INVALID);
	for (size_t i = 0; i < spec->n_redirect_uris; i++)
		CID_TRY(cid_client_check_uri(spec->redirect_uris[i]));
	for (size_t i = 0; i < spec->n_post_logout_uris; i++)
		CID_TRY(cid_client_check_uri(spec->post_logout_uris[i]));
	/* a public-subject client may span hosts; its sector is its first URI's */
	rc = cid_client_sector(spec->redirect_uris,
			       strcmp(subject, "pairwise") == 0 || spec->sector_identifier_uri
				   ? spec->n_redirect_uris
				   : (spec->n_redirect_uris > 0 ? 1 : 0),
			       spec->sector_identifier_uri, doc, sector, why, whysz);
	if (rc == CID_ERR_NOTFOUND) { /* machine-only client: its own sector */
		/* the sector keys pairwise subjects: a truncated one would be a wrong key */
		int n = snprintf(sector, sizeof(sector), "client:%s", client_id);
		CID_ENSURE(n > 0 && (size_t)n < sizeof(sector), CID_ERR_TOOBIG);
		rc = CID_OK;
	}
	CID_TRY(rc);

	/* a record short of a grant type would register a client that cannot use it */
	grants = json_array();
	CID_ENSURE(grants != NULL, CID_ERR_NOMEM);
	CID_ENSURE(!g.code || json_array_append_new(grants, json_string("authorization_code")) == 0,
		   CID_ERR_NOMEM);
	CID_ENSURE(!g.refresh || json_array_append_new(grants, json_string("refresh_token")) == 0,
		   CID_ERR_NOMEM);
	CID_ENSURE(!g.client_credentials ||
		       json_array_append_new(grants, json_string("client_credentials")) == 0,
		   CID_ERR_NOMEM);
	rec = json_pack(
	    "{s:s, s:s, s:s, s:o, s:o, s:s, s:O, s:s, s:s, s:s, s:I}", "client_id", client_id,
	    "name", spec->name ? spec->name : client_id, "type",
	    spec->is_public ? "public" : "confidential", "redirect_uris",
	    string_array(spec->redirect_uris, spec->n_redirect_uris), "post_logout_redirect_uris",
	    string_array(spec->post_logout_uris, spec->n_post_logout_uris), "scopes", scopes,
	    "grant_types", grants, "id_token_signed_response_alg", alg, "subject_type", subject,
	    "sector_identifier", sector, "created_at", (json_int_t)now);
	CID_ENSURE(rec != NULL, CID_ERR_NOMEM);
	if (!spec->is_public)
		CID_ENSURE(json_object_set_new(rec, "secret_hash", json_string(secret_hash)) == 0,
			   CID_ERR_NOMEM);
	if (spec->sector_identifier_uri != NULL)
		CID_ENSURE(json_object_set_new(rec, "sector_identifier_uri",
					       json_string(spec->sector_identifier_uri)) == 0,
			   CID_ERR_NOMEM);
	CID_TRY(client_logout_record(rec, spec, why, whysz));
	*out = rec;
	rec = NULL;
out:
	json_decref(grants);
	json_decref(rec);
	return rc;
}

struct put_arg {
	const char *client_id;
	const json_t *rec;
};

static enum cid_err put_client(struct cid_txn *txn, void *arg)
{
	const struct put_arg *a = arg;
	return cid_txn_put_json(txn, CID_DB_CLIENTS, cid_str_of(a->client_id), a->rec,
				CID_PUT_NOOVERWRITE);
}

/* Fetches the sector identifier document of uri into *doc (caller frees). */
static enum cid_err fetch_sector_doc(const char *uri, char **doc, size_t *len, char *why,
				     size_t whysz)
{
	static const struct cid_fetch_limits lim = {.max_bytes = CID_MAX_SECTOR_DOC,
						    .connect_timeout_ms =
							CID_FETCH_CONNECT_TIMEOUT_MS,
						    .timeout_ms = CID_FETCH_TIMEOUT_MS};
	char detail[192] = "";
	enum cid_err rc;

	if (cid_client_check_uri(uri) != CID_OK) {
		cid_err_why(why, whysz,
			    "the sector identifier URI must be https (or http on a loopback "
			    "host), without fragment or userinfo");
		return CID_ERR_INVALID;
	}
	rc = cid_http_fetch(uri, &lim, doc, len, detail, sizeof(detail));
	if (rc != CID_OK)
		cid_err_why(why, whysz, "fetching the sector identifier document %s failed: %s",
			    uri, detail);
	return rc;
}

enum cid_err cid_client_add(struct cid_store *s, const struct cid_client_spec *spec, int64_t now,
			    char **client_id_out, char **secret_out)
{
	return cid_client_register(s, spec, now, client_id_out, secret_out, NULL, 0);
}

enum cid_err cid_client_register(struct cid_store *s, const struct cid_client_spec *spec,
				 int64_t now, char **client_id_out, char **secret_out, char *why,
				 size_t whysz)
{
	enum cid_err rc = CID_OK;
	char generated[CID_ID_CHARS + 1];
	char secret[CID_TOKEN_CHARS + 1] = "";
	char hash[CID_HASH_HEX + 1] = "";
	const char *client_id = spec->client_id;
	json_t *rec = NULL;
	char *id_copy = NULL, *secret_copy = NULL;
	char *doc = NULL;
	size_t doc_len = 0;

	cid_err_why(why, whysz, "%s", "");
	/*= OIDC Core §8.1: the provider retrieves the document at registration */
	if (spec->sector_identifier_uri != NULL)
		CID_TRY(fetch_sector_doc(spec->sector_identifier_uri, &doc, &doc_len, why, whysz));
	if (client_id == NULL) {
		CID_TRY(cid_random_uuid(generated));
		client_id = generated;
	}
	if (!spec->is_public) {
		CID_TRY(cid_random_token(secret));
		cid_secret_hash(secret, strlen(secret), hash);
	}
	CID_TRY(spec_record(spec, client_id, hash, (struct cid_str){doc, doc_len}, now, why, whysz,
			    &rec));
	id_copy = strdup(client_id);
	CID_ENSURE(id_copy != NULL, CID_ERR_NOMEM);
	if (!spec->is_public) {
		secret_copy = strdup(secret);
		CID_ENSURE(secret_copy != NULL, CID_ERR_NOMEM);
	}
	struct put_arg a = {client_id, rec};
	CID_TRY(cid_store_update(s, put_client, &a));
	*client_id_out = id_copy;
	*secret_out = secret_copy;
	id_copy = NULL;
	secret_copy = NULL;
out:
	cid_wipe(secret, sizeof(secret));
	if (secret_copy != NULL)
		cid_wipe(secret_copy, strlen(secret_copy));
	free(secret_copy);
	free(id_copy);
	free(doc);
	json_decref(rec);
	return rc;
}

void cid_client_free(struct cid_client *c)
{
	if (c == NULL || atomic_fetch_sub(&c->refs, 1) > 1)
		return;
	free(c->client_id);
	free(c->name);
	for (size_t i = 0; i < c->n_redirect_uris; i++)
		free(c->redirect_uris[i]);
	free(c->redirect_uris);
	for (size_t i = 0; i < c->n_post_logout_uris; i++)
		free(c->post_logout_uris[i]);
	free(c->post_logout_uris);
	free(c->scopes);
	free(c->sector);
	free(c->backchannel_logout_uri);
	free(c->frontchannel_logout_uri);
	free(c);
}

static enum cid_err copy_strings(const json_t *arr, char ***out, size_t *n)
{
	size_t count = json_array_size(arr);

	*out = NULL;
	*n = 0;
	if (count == 0)
		return CID_OK;
	char **v = calloc(count, sizeof(*v));
	if (v == NULL)
		return CID_ERR_NOMEM;
	for (size_t i = 0; i < count; i++) {
		const char *s = json_string_value(json_array_get(arr, i));
		v[i] = strdup(s ? s : "");
		if (v[i] == NULL) {
			for (size_t k = 0; k < i; k++)
				free(v[k]);
			free(v);
			return CID_ERR_NOMEM;
		}
	}
	*out = v;
	*n = count;
	return CID_OK;
}

static char *dup_member(const json_t *o, const char *name)
{
	const char *s = json_string_value(json_object_get(o, name));
	return strdup(s ? s : "");
}

static bool array_has(const json_t *arr, const char *s)
{
	size_t i;
	const json_t *v;

	json_array_foreach(arr, i, v)
	{
		const char *x = json_string_value(v);
		if (x != NULL && strcmp(x, s) == 0)
			return true;
	}
	return false;
}

/*
 * The sector of a record stored without one, as registration derived it
 * before ports counted: the first redirect URI's host as written, or
 * "client:ID". Every record civicid wrote has its sector; this keeps the
 * subjects of a hand-made or imported one where the old rule put them.
 */
static enum cid_err legacy_sector(const json_t *rec, struct cid_client *c)
{
	const char *uri =
	    json_string_value(json_array_get(json_object_get(rec, "redirect_uris"), 0));
	char sector[CID_MAX_SECTOR + 1];
	char *copy;

	if (uri == NULL || client_uri_host(uri, sector, sizeof(sector)) != CID_OK) {
		int n = snprintf(sector, sizeof(sector), "client:%s", c->client_id);
		if (n <= 0 || (size_t)n >= sizeof(sector))
			return CID_ERR_STORE;
	}
	copy = strdup(sector);
	if (copy == NULL)
		return CID_ERR_NOMEM;
	free(c->sector);
	c->sector = copy;
	return CID_OK;
}

static enum cid_err client_from_json(const json_t *rec, struct cid_client **out)
{
	enum cid_err rc = CID_OK;
	struct cid_client *c = calloc(1, sizeof(*c));
	const json_t *grants = json_object_get(rec, "grant_types");

	CID_ENSURE(c != NULL, CID_ERR_NOMEM);
	atomic_init(&c->refs, 1);
	c->client_id = dup_member(rec, "client_id");
	c->name = dup_member(rec, "name");
	c->scopes = dup_member(rec, "scopes");
	c->sector = dup_member(rec, "sector_identifier");
	CID_ENSURE(c->client_id && c->name && c->scopes && c->sector, CID_ERR_NOMEM);
	if (c->sector[0] == '\0')
		CID_TRY(legacy_sector(rec, c));
	const char *type = json_string_value(json_object_get(rec, "type"));
	c->is_public = type != NULL && strcmp(type, "public") == 0;
	const char *hash = json_string_value(json_object_get(rec, "secret_hash"));
	if (!c->is_public) {
		CID_ENSURE(hash != NULL && strlen(hash) == CID_HASH_HEX, CID_ERR_STORE);
		memcpy(c->secret_hash, hash, CID_HASH_HEX + 1);
	}
	CID_TRY(copy_strings(json_object_get(rec, "redirect_uris"), &c->redirect_uris,
			     &c->n_redirect_uris));
	CID_TRY(copy_strings(json_object_get(rec, "post_logout_redirect_uris"),
			     &c->post_logout_uris, &c->n_post_logout_uris));
	c->allow_code = array_has(grants, "authorization_code");
	c->allow_refresh = array_has(grants, "refresh_token");
	c->allow_client_credentials = array_has(grants, "client_credentials");
	const char *alg = json_string_value(json_object_get(rec, "id_token_signed_response_alg"));
	snprintf(c->id_token_alg, sizeof(c->id_token_alg), "%s",
		 alg && strcmp(alg, "RS256") == 0 ? "RS256" : "ES256");
	const char *subject = json_string_value(json_object_get(rec, "subject_type"));
	c->pairwise = subject == NULL || strcmp(subject, "public") != 0;
	CID_TRY(client_logout_load(rec, c));
	*out = c;
	c = NULL;
out:
	cid_client_free(c);
	return rc;
}

static void client_ref(void *c)
{
	atomic_fetch_add(&((struct cid_client *)c)->refs, 1);
}

static void client_unref(void *c)
{
	cid_client_free(c);
}

/* A client is a function of its record's bytes: the store's memo keeps it. */
static const struct cid_memo_kind client_kind = {client_ref, client_unref};

enum cid_err cid_client_get_txn(struct cid_txn *txn, const char *client_id, struct cid_client **out)
{
	enum cid_err rc = CID_OK;
	struct cid_str key;
	struct cid_str val;
	struct cid_memo *memo;
	struct cid_client *c;
	json_t *rec = NULL;

	if (client_id == NULL || !client_id_ok(client_id))
		return CID_ERR_INVALID;
	key = cid_str_of(client_id);
	CID_TRY(cid_txn_get(txn, CID_DB_CLIENTS, key, &val));
	memo = cid_store_memo(cid_txn_store(txn), CID_DB_CLIENTS, &client_kind);
	c = cid_memo_get(memo, key, val);
	if (c == NULL) {
		CID_TRY(cid_store_parse_json(val, &rec));
		CID_TRY(client_from_json(rec, &c));
		cid_memo_put(memo, key, val, c);
	}
	*out = c;
out:
	json_decref(rec);
	return rc;
}

enum cid_err cid_client_get(struct cid_store *s, const char *client_id, struct cid_client **out)
{
	struct cid_txn *txn = NULL;
	enum cid_err rc = cid_store_read_begin(s, &txn);

	if (rc != CID_OK)
		return rc;
	rc = cid_client_get_txn(txn, client_id, out);
	cid_store_read_end(txn);
	return rc;
}

enum cid_err cid_client_show(struct cid_store *s, const char *client_id, json_t **out)
{
	struct cid_txn *txn = NULL;
	json_t *rec = NULL;

	if (!client_id_ok(client_id))
		return CID_ERR_INVALID;
	enum cid_err rc = cid_store_read_begin(s, &txn);
	if (rc != CID_OK)
		return rc;
	rc = cid_txn_get_json(txn, CID_DB_CLIENTS, cid_str_of(client_id), &rec);
	cid_store_read_end(txn);
	if (rc == CID_OK) {
		json_object_del(rec, "secret_hash");
		*out = rec;
	}
	return rc;
}

static enum cid_err list_one(struct cid_str key, struct cid_str val, void *arg)
{
	json_t *arr = arg;
	json_t *rec = NULL;
	enum cid_err rc = cid_store_parse_json(val, &rec);

	(void)key;
	if (rc != CID_OK)
		return rc;
	json_object_del(rec, "secret_hash");
	return json_array_append_new(arr, rec) == 0 ? CID_OK : CID_ERR_NOMEM;
}

enum cid_err cid_client_list(struct cid_store *s, json_t **out)
{
	struct cid_txn *txn = NULL;
	json_t *arr = json_array();

	if (arr == NULL)
		return CID_ERR_NOMEM;
	enum cid_err rc = cid_store_read_begin(s, &txn);
	if (rc == CID_OK) {
		rc = cid_txn_foreach(txn, CID_DB_CLIENTS, cid_str_of(""), list_one, arr);
		cid_store_read_end(txn);
	}
	if (rc != CID_OK) {
		json_decref(arr);
		return rc;
	}
	*out = arr;
	return CID_OK;
}

static enum cid_err del_client(struct cid_txn *txn, void *arg)
{
	return cid_txn_del(txn, CID_DB_CLIENTS, cid_str_of(arg));
}

enum cid_err cid_client_remove(struct cid_store *s, const char *client_id)
{
	if (!client_id_ok(client_id))
		return CID_ERR_INVALID;
	return cid_store_update(s, del_client, (void *)(uintptr_t)client_id);
}

enum cid_err cid_client_authenticate(struct cid_store *s, const char *client_id, const char *secret,
				     struct cid_client **out)
{
	struct cid_txn *txn = NULL;
	enum cid_err rc = cid_store_read_begin(s, &txn);

	if (rc != CID_OK)
		return rc; /* a store that cannot answer is no verdict */
	rc = cid_client_authenticate_txn(txn, client_id, secret, out);
	cid_store_read_end(txn);
	return rc;
}

enum cid_err cid_client_authenticate_txn(struct cid_txn *txn, const char *client_id,
					 const char *secret, struct cid_client **out)
{
	struct cid_client *c = NULL;
	char hash[CID_HASH_HEX + 1];
	enum cid_err rc =
	    client_id == NULL ? CID_ERR_NOTFOUND : cid_client_get_txn(txn, client_id, &c);

	/* who the client is decides denied; a store that cannot answer is no verdict */
	if (rc == CID_ERR_NOTFOUND || rc == CID_ERR_INVALID)
		return CID_ERR_DENIED;
	if (rc != CID_OK)
		return rc;
	bool ok;
	if (c->is_public) {
		ok = secret == NULL;
	} else {
		ok = secret != NULL && strlen(secret) <= CID_MAX_SECRET;
		if (ok) {
			cid_secret_hash(secret, strlen(secret), hash);
			ok = cid_ct_equal(hash, c->secret_hash, CID_HASH_HEX);
		}
	}
	if (!ok) {
		cid_client_free(c);
		return CID_ERR_DENIED;
	}
	*out = c;
	return CID_OK;
}

static bool in_list(char *const *v, size_t n, const char *uri)
{
	if (uri == NULL)
		return false;
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], uri) == 0)
			return true;
	return false;
}

bool cid_client_redirect_ok(const struct cid_client *c, const char *uri)
{
	return in_list(c->redirect_uris, c->n_redirect_uris, uri);
}

bool cid_client_post_logout_ok(const struct cid_client *c, const char *uri)
{
	return in_list(c->post_logout_uris, c->n_post_logout_uris, uri);
}

bool cid_client_scope_ok(const struct cid_client *c, const char *scope)
{
	return cid_words_subset(scope, c->scopes);
}
