/*
 * oidc_token: the token, introspection and revocation endpoints.
 *
 * Each authenticates the calling client first, then calls one state change
 * of token.c, then builds the JSON answer. Protocol outcomes map to the RFC
 * error codes in one table per endpoint.
 */
#include "account.h"
#include "bounds.h"
#include "buf.h"
#include "crypto.h"
#include "oidc_int.h"
#include "token.h"

#include <stdlib.h>
#include <string.h>

/* The invalid_grant description of a token.c outcome. */
static const char *grant_problem(enum cid_err rc)
{
	switch (rc) {
	case CID_ERR_NOTFOUND: return "the code or token is unknown";
	case CID_ERR_REVOKED:
		return "the code or token was already used or revoked; its grant is revoked";
	case CID_ERR_EXPIRED:
		return "the code or token has expired (a code, and a refresh token issued "
		       "without offline_access, end with the login session they were issued in)";
	case CID_ERR_DENIED:
		return "the code or token was issued to another client, for another "
		       "redirect_uri, or the PKCE verifier does not match";
	default: return NULL;
	}
}

/* Builds the token response for a citizen's grant: access token, ID token, refresh token. */
static enum cid_err citizen_tokens(struct cid_ctx *ctx, const struct cid_request *req,
				   const struct cid_client *client, const struct cid_grant *grant,
				   const char *refresh, struct cid_reply *reply)
{
	enum cid_err rc = CID_OK;
	const struct cid_config *cfg = cid_ctx_config(ctx);
	struct cid_keyref *ref = cid_ctx_keys_acquire(ctx);
	const struct cid_keyset *ks = cid_keyref_keyset(ref);
	struct cid_policyref *pref = cid_ctx_policies_acquire(ctx);
	const struct cid_policyset *ps = cid_policyref_set(pref);
	char sub[CID_TOKEN_CHARS + 1];
	char *access = NULL;
	char *id_token = NULL;
	struct cid_account *citizen = NULL;
	json_t *claims = json_object();
	json_t *body = NULL;
	const char *scope = grant->scope;

	CID_ENSURE(claims != NULL, CID_ERR_NOMEM);
	rc = cid_account_get(cid_ctx_store(ctx), grant->account_id, &citizen);
	if (rc == CID_OK && !citizen->active)
		rc = CID_ERR_DISABLED;
	/* a service is not told why (issue 9): its grant is as dead as a revoked one,
	 * and is answered in the same words */
	if (rc == CID_ERR_NOTFOUND || rc == CID_ERR_DISABLED) {
		rc = cid_reply_error_json(reply, 400, "invalid_grant",
					  grant_problem(CID_ERR_REVOKED));
		goto out;
	}
	CID_TRY(rc);
	cid_token_subject(ctx, ps, client, grant->account_id, sub);
	CID_TRY(cid_token_access_mint(ctx, ks, client, sub, scope, grant, req->now, &access));
	/* as userinfo: with req->audit_later the server writes the ID token's
	 * entries before the answer leaves, off the polling thread */
	CID_TRY(oidc_release(ctx, NULL, ps, client, citizen, grant, scope, CID_RELEASE_ID_TOKEN,
			     req->now, req->audit_later, claims, reply));
	CID_TRY(
	    cid_token_id_mint(ctx, ks, client, sub, grant, access, claims, req->now, &id_token));
	body = json_pack("{s:s, s:s, s:I, s:s, s:s}", "access_token", access, "token_type",
			 "Bearer", "expires_in", (json_int_t)cfg->access_ttl, "id_token", id_token,
			 "scope", scope == NULL ? "" : scope);
	CID_ENSURE(body != NULL, CID_ERR_NOMEM);
	if (refresh != NULL && refresh[0] != '\0')
		CID_ENSURE(json_object_set_new(body, "refresh_token", json_string(refresh)) == 0,
			   CID_ERR_NOMEM);
	rc = cid_reply_json(reply, 200, body);
	body = NULL;
out:
	cid_keyref_put(ref);
	cid_policyref_put(pref);
	free(access);
	free(id_token);
	cid_account_free(citizen);
	json_decref(claims);
	json_decref(body);
	return rc;
}

static enum cid_err grant_code(struct cid_ctx *ctx, const struct cid_request *req,
			       const struct cid_client *client, struct cid_reply *reply)
{
	enum cid_err rc = CID_OK;
	const struct cid_params *p = &req->params;
	const char *code = cid_params_get(p, "code");
	const char *uri = cid_params_get(p, "redirect_uri");
	char refresh[CID_TOKEN_CHARS + 1] = "";
	struct cid_grant *grant = NULL;

	if (code == NULL || uri == NULL)
		return cid_reply_error_json(reply, 400, "invalid_request",
					    "code and redirect_uri are required");
	rc = cid_code_redeem(cid_ctx_store(ctx), code, client->client_id, uri,
			     cid_params_get(p, "code_verifier"), req->now,
			     client->allow_refresh ? cid_ctx_config(ctx)->refresh_ttl : 0, &grant,
			     refresh);
	if (grant_problem(rc) != NULL) {
		rc = cid_reply_error_json(reply, 400, "invalid_grant", grant_problem(rc));
		goto out;
	}
	CID_TRY(rc);
	rc = citizen_tokens(ctx, req, client, grant, refresh, reply);
out:
	cid_wipe(refresh, sizeof(refresh));
	cid_grant_free(grant);
	return rc;
}

static enum cid_err grant_refresh(struct cid_ctx *ctx, const struct cid_request *req,
				  const struct cid_client *client, struct cid_reply *reply)
{
	enum cid_err rc = CID_OK;
	const char *token = cid_params_get(&req->params, "refresh_token");
	const char *scope = cid_params_get(&req->params, "scope");
	char next[CID_TOKEN_CHARS + 1] = "";
	struct cid_grant *grant = NULL;

	if (token == NULL)
		return cid_reply_error_json(reply, 400, "invalid_request",
					    "refresh_token is required");
	/* every refusal of the rotation leaves the token usable: only a replay revokes */
	rc = cid_refresh_rotate(cid_ctx_store(ctx), token, client->client_id, scope, req->now,
				cid_ctx_config(ctx)->refresh_ttl, &grant, next);
	if (grant_problem(rc) != NULL) {
		rc = cid_reply_error_json(reply, 400, "invalid_grant", grant_problem(rc));
		goto out;
	}
	/*= RFC 6749 §6: the requested scope MUST NOT include any scope not originally granted */
	if (rc == CID_ERR_INVALID) {
		rc = cid_reply_error_json(reply, 400, "invalid_scope",
					  "scope exceeds what was granted");
		goto out;
	}
	CID_TRY(rc);
	rc = citizen_tokens(ctx, req, client, grant, next, reply);
out:
	cid_wipe(next, sizeof(next));
	cid_grant_free(grant);
	return rc;
}

static enum cid_err grant_client_credentials(struct cid_ctx *ctx, const struct cid_request *req,
					     const struct cid_client *client,
					     struct cid_reply *reply)
{
	enum cid_err rc = CID_OK;
	const char *scope = cid_params_get(&req->params, "scope");
	struct cid_keyref *ref = NULL;
	char *access = NULL;
	struct cid_buf b;

	/* a service acting for itself gets no identity scopes: there is no citizen */
	if (scope != NULL &&
	    (strnlen(scope, CID_MAX_SCOPE + 1) > CID_MAX_SCOPE ||
	     cid_words_has(scope, "openid", 6) || cid_words_has(scope, "offline_access", 14) ||
	     !cid_client_scope_ok(client, scope)))
		return cid_reply_error_json(reply, 400, "invalid_scope",
					    "scope is not allowed for client_credentials");
	ref = cid_ctx_keys_acquire(ctx);
	CID_TRY(cid_token_access_mint(ctx, cid_keyref_keyset(ref), client, client->client_id, scope,
				      NULL, req->now, &access));
	cid_buf_init(&b, CID_MAX_RESPONSE);
	cid_buf_puts(&b, "{\"access_token\":");
	cid_buf_append_json_str(&b, access, strlen(access));
	cid_buf_puts(&b, ",\"token_type\":\"Bearer\",\"expires_in\":");
	cid_buf_append_int(&b, cid_ctx_config(ctx)->access_ttl);
	cid_buf_puts(&b, ",\"scope\":");
	cid_buf_append_json_str(&b, scope == NULL ? "" : scope, scope == NULL ? 0 : strlen(scope));
	cid_buf_puts(&b, "}");
	rc = cid_reply_json_text(reply, 200, &b);
out:
	cid_keyref_put(ref);
	free(access);
	return rc;
}

/*
 * What the token, introspection and revocation endpoints share: a form POST
 * from an authenticated client, read in the request's transaction txn.
 * Returns CID_OK with *client set, or CID_ANSWERED once reply holds the error
 * answer, or an internal error.
 */
static enum cid_err form_client(struct cid_txn *txn, const struct cid_request *req,
				struct cid_reply *reply, struct cid_client **client)
{
	if (req->post && req->form_content_type)
		return oidc_client_auth(txn, req, reply, client);
	return cid_reply_answered(cid_reply_error_json(
	    reply, 400, "invalid_request", "use POST with application/x-www-form-urlencoded"));
}

typedef enum cid_err grant_fn(struct cid_ctx *ctx, const struct cid_request *req,
			      const struct cid_client *client, struct cid_reply *reply);

bool cid_oidc_token_reads_only(const struct cid_request *req)
{
	const char *grant_type = cid_params_get(&req->params, "grant_type");

	return grant_type != NULL && strcmp(grant_type, "client_credentials") == 0;
}

enum cid_err cid_oidc_token(struct cid_ctx *ctx, const struct cid_request *req,
			    struct cid_reply *reply)
{
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;
	struct cid_client *client = NULL;
	const char *grant_type = cid_params_get(&req->params, "grant_type");
	grant_fn *grant;
	bool allowed;

	/* the client is read in a snapshot of its own: a grant writes afterwards */
	CID_TRY(cid_store_read_begin(cid_ctx_store(ctx), &txn));
	rc = form_client(txn, req, reply, &client);
	cid_store_read_end(txn);
	CID_TRY(rc);
	if (grant_type == NULL) {
		rc = cid_reply_error_json(reply, 400, "invalid_request", "grant_type is required");
		goto out;
	}
	if (strcmp(grant_type, "authorization_code") == 0) {
		allowed = client->allow_code;
		grant = grant_code;
	} else if (strcmp(grant_type, "refresh_token") == 0) {
		allowed = client->allow_refresh;
		grant = grant_refresh;
	} else if (strcmp(grant_type, "client_credentials") == 0) {
		allowed = client->allow_client_credentials && !client->is_public;
		grant = grant_client_credentials;
	} else {
		rc = cid_reply_error_json(reply, 400, "unsupported_grant_type",
					  "grant_type must be authorization_code, refresh_token or "
					  "client_credentials");
		goto out;
	}
	if (!allowed) {
		rc = cid_reply_error_json(reply, 400, "unauthorized_client",
					  "this client may not use this grant_type");
		goto out;
	}
	rc = grant(ctx, req, client, reply);
out:
	cid_store_read_end(txn);
	cid_client_free(client);
	return cid_endpoint_rc(rc);
}

/* True if the token looks like a JWS (three dot-separated parts). */
static bool looks_like_jwt(const char *t)
{
	const char *d1 = strchr(t, '.');

	return d1 != NULL && strchr(d1 + 1, '.') != NULL;
}

/*
 * What introspection may tell of a refresh token of grant, issued at iat and
 * expiring at exp, as an access token of the grant would carry it: client_id,
 * scope, iat, exp, and auth_time and acr when the grant has them.
 */
static enum cid_err refresh_claims(const struct cid_grant *grant, int64_t iat, int64_t exp,
				   json_t **out)
{
	json_t *c = json_pack("{s:s, s:s, s:I, s:I}", "client_id", grant->client_id, "scope",
			      grant->scope, "iat", (json_int_t)iat, "exp", (json_int_t)exp);

	if (c == NULL ||
	    (grant->auth_time != 0 &&
	     json_object_set_new(c, "auth_time", json_integer(grant->auth_time)) != 0) ||
	    (grant->acr[0] != '\0' &&
	     json_object_set_new(c, "acr", json_string(grant->acr)) != 0)) {
		json_decref(c);
		return CID_ERR_NOMEM;
	}
	*out = c;
	return CID_OK;
}

/* Appends ,"name":"value" to b, when value is not NULL. */
static void member_str(struct cid_buf *b, const char *name, const char *value)
{
	if (value == NULL)
		return;
	cid_buf_puts(b, ",\"");
	cid_buf_puts(b, name);
	cid_buf_puts(b, "\":");
	cid_buf_append_json_str(b, value, strlen(value));
}

/* Appends ,"name":value to b, when value is not 0 (absent). */
static void member_int(struct cid_buf *b, const char *name, int64_t value)
{
	if (value == 0)
		return;
	cid_buf_puts(b, ",\"");
	cid_buf_puts(b, name);
	cid_buf_puts(b, "\":");
	cid_buf_append_int(b, value);
}

/*
 * The answer for an active access token of client: its metadata, written
 * straight into out (the hot path: no jansson object per request).
 */
static enum cid_err introspect_access(struct cid_ctx *ctx, struct cid_txn *txn,
				      const struct cid_request *req,
				      const struct cid_client *client, const char *token,
				      struct cid_buf *out)
{
	enum cid_err rc = CID_OK;
	struct cid_keyref *ref = cid_ctx_keys_acquire(ctx);
	struct cid_access *a = NULL;

	CID_TRY(cid_token_access_verify(ctx, ref, txn, token, req->now, &a, NULL));
	/* a service may only learn about its own tokens: anything else would let it
	 * read another service's pairwise subject */
	CID_ENSURE(cid_str_eq(cid_str_of(a->client_id), client->client_id), CID_ERR_DENIED);
	/* token metadata only: no personal claim but sub ever leaves here, since
	 * attributes leave through the release point (release.h) and nowhere else */
	cid_buf_puts(out, "{\"active\":true,\"token_type\":\"Bearer\"");
	member_str(out, "scope", a->scope);
	member_str(out, "client_id", a->client_id);
	member_str(out, "sub", a->sub);
	member_int(out, "exp", a->exp);
	member_int(out, "iat", a->iat);
	member_str(out, "iss", cid_ctx_config(ctx)->issuer);
	member_str(out, "jti", a->jti);
	member_str(out, "aud", a->aud);
	member_int(out, "auth_time", a->auth_time);
	member_str(out, "acr", a->acr);
	cid_buf_puts(out, "}");
out:
	cid_access_free(a);
	cid_keyref_put(ref);
	return rc;
}

/* The answer for an active refresh token of client, as an access token of its grant would say. */
static enum cid_err introspect_refresh(struct cid_ctx *ctx, const struct cid_request *req,
				       const struct cid_client *client, const char *token,
				       struct cid_buf *out)
{
	static const char *const copied[] = {"scope", "client_id", "sub",	"exp",
					     "iat",   "iss",	   "auth_time", "acr"};
	enum cid_err rc = CID_OK;
	struct cid_policyref *pref = NULL;
	struct cid_grant *grant = NULL;
	json_t *c = NULL;
	json_t *o = NULL;
	char sub[CID_TOKEN_CHARS + 1];
	int64_t iat = 0;
	int64_t exp = 0;

	CID_TRY(cid_refresh_lookup(cid_ctx_store(ctx), token, req->now, &grant, &iat, &exp));
	CID_TRY(refresh_claims(grant, iat, exp, &c));
	pref = cid_ctx_policies_acquire(ctx);
	cid_token_subject(ctx, cid_policyref_set(pref), client, grant->account_id, sub);
	CID_ENSURE(json_object_set_new(c, "sub", json_string(sub)) == 0 &&
		       json_object_set_new(c, "iss", json_string(cid_ctx_config(ctx)->issuer)) == 0,
		   CID_ERR_NOMEM);
	CID_ENSURE(cid_str_eq(cid_str_of(grant->client_id), client->client_id), CID_ERR_DENIED);
	o = json_pack("{s:b, s:s}", "active", 1, "token_type", "refresh_token");
	CID_ENSURE(o != NULL, CID_ERR_NOMEM);
	for (size_t i = 0; i < sizeof(copied) / sizeof(copied[0]); i++) {
		json_t *v = json_object_get(c, copied[i]);

		if (v != NULL)
			CID_ENSURE(json_object_set(o, copied[i], v) == 0, CID_ERR_NOMEM);
	}
	cid_buf_append_json(out, o, JSON_COMPACT);
out:
	cid_policyref_put(pref);
	cid_grant_free(grant);
	json_decref(c);
	json_decref(o);
	return rc;
}

/*
 * What introspection and revocation share: form_client in txn (a public
 * client only if allow_public) and a token parameter. Returns as form_client
 * does, with *token set on CID_OK.
 */
static enum cid_err token_request(struct cid_txn *txn, const struct cid_request *req,
				  struct cid_reply *reply, bool allow_public,
				  struct cid_client **client, const char **token)
{
	enum cid_err rc;

	*token = cid_params_get(&req->params, "token");
	rc = form_client(txn, req, reply, client);
	if (rc != CID_OK)
		return rc;
	/*= RFC 7662 §2.1: the endpoint MUST require some form of authorization */
	if (!allow_public && (*client)->is_public)
		rc = oidc_invalid_client(reply, "public clients may not introspect tokens");
	else if (*token == NULL)
		rc = cid_reply_error_json(reply, 400, "invalid_request", "token is required");
	else
		return CID_OK;
	cid_client_free(*client);
	*client = NULL;
	return cid_reply_answered(rc);
}

enum cid_err cid_oidc_introspect(struct cid_ctx *ctx, const struct cid_request *req,
				 struct cid_reply *reply)
{
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;
	struct cid_client *client = NULL;
	const char *token = NULL;
	struct cid_buf b;

	cid_buf_init(&b, CID_MAX_RESPONSE);
	/* one snapshot for the client and an access token's revocation */
	CID_TRY(cid_store_read_begin(cid_ctx_store(ctx), &txn));
	CID_TRY(token_request(txn, req, reply, false, &client, &token));
	if (looks_like_jwt(token)) {
		rc = introspect_access(ctx, txn, req, client, token, &b);
	} else {
		cid_store_read_end(txn);
		rc = introspect_refresh(ctx, req, client, token, &b);
	}
	if (rc == CID_ERR_NOMEM || rc == CID_ERR_STORE)
		goto out;
	/*= RFC 7662 §2.2: for an invalid, expired or revoked token, active is false
	 *# and no other member is returned */
	if (rc != CID_OK) {
		cid_buf_free(&b);
		cid_buf_puts(&b, "{\"active\":false}");
	}
	rc = cid_reply_json_text(reply, 200, &b);
out:
	cid_store_read_end(txn);
	cid_buf_free(&b);
	cid_client_free(client);
	return cid_endpoint_rc(rc);
}

enum cid_err cid_oidc_revoke(struct cid_ctx *ctx, const struct cid_request *req,
			     struct cid_reply *reply)
{
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;
	struct cid_client *client = NULL;
	struct cid_keyref *ref = NULL;
	struct cid_access *a = NULL;
	const char *token = NULL;

	CID_TRY(cid_store_read_begin(cid_ctx_store(ctx), &txn));
	CID_TRY(token_request(txn, req, reply, true, &client, &token));
	if (looks_like_jwt(token)) {
		ref = cid_ctx_keys_acquire(ctx);
		rc = cid_token_access_verify(ctx, ref, txn, token, req->now, &a, NULL);
		cid_store_read_end(txn);
		if (rc == CID_OK && cid_str_eq(cid_str_of(a->client_id), client->client_id))
			rc = cid_token_access_revoke(cid_ctx_store(ctx), a);
	} else {
		cid_store_read_end(txn);
		rc = cid_refresh_revoke(cid_ctx_store(ctx), token, client->client_id, req->now);
	}
	if (rc == CID_ERR_NOMEM || rc == CID_ERR_STORE)
		goto out;
	/*= RFC 7009 §2.2: the server responds with 200 if the token has been revoked
	 *# successfully or if the client submitted an invalid token */
	reply->status = 200;
	reply->no_store = true;
	rc = CID_OK;
out:
	cid_store_read_end(txn);
	cid_keyref_put(ref);
	cid_access_free(a);
	cid_client_free(client);
	return cid_endpoint_rc(rc);
}
