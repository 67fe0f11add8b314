/*
 * oidc_authorize: the authorization endpoint.
 *
 * Order matters for safety: client_id and redirect_uri are checked first and
 * any problem with them ends on an error page, because redirecting to an
 * unverified URI would make us an open redirector (RFC 9700 §4.1). Only then
 * are errors sent back to the client by redirect. A request that needs the
 * login form is stored as a pending request (oidc_pending.c), which carries
 * it through the later steps (one-time code, consent screen) to the code.
 */
#include "bounds.h"
#include "consent.h"
#include "oidc_int.h"
#include "session.h"
#include "str.h"

#include <stdlib.h>
#include <string.h>

/* Sets err and returns CID_ERR_INVALID. */
static enum cid_err bad(struct cid_oauth_error *err, const char *error, const char *description)
{
	err->error = error;
	err->description = description;
	return CID_ERR_INVALID;
}

/* Checks prompt (OIDC Core §3.1.2.1) into the three flags. */
static enum cid_err check_prompt(const char *prompt, json_t *auth, struct cid_oauth_error *err)
{
	bool none = false;
	bool login = false;
	bool consent = false;

	for (const char *p = prompt; p != NULL && *p != '\0';) {
		const char *end = strchr(p, ' ');
		size_t n = end == NULL ? strlen(p) : (size_t)(end - p);

		if (n == 4 && strncmp(p, "none", 4) == 0)
			none = true;
		else if (n == 5 && strncmp(p, "login", 5) == 0)
			login = true;
		else if (n == 7 && strncmp(p, "consent", 7) == 0)
			consent = true;
		else if (!(n == 14 && strncmp(p, "select_account", 14) == 0) && n != 0)
			return bad(err, "invalid_request", "unknown prompt value");
		p = end == NULL ? NULL : end + 1;
	}
	/*= OIDC Core §3.1.2.1: if prompt contains none with any other value, an error is returned
	 */
	if (none && (login || consent))
		return bad(err, "invalid_request",
			   "prompt=none cannot be combined with other values");
	if (json_object_set_new(auth, "prompt_none", json_boolean(none)) != 0 ||
	    json_object_set_new(auth, "prompt_login", json_boolean(login)) != 0 ||
	    json_object_set_new(auth, "prompt_consent", json_boolean(consent)) != 0)
		return CID_ERR_NOMEM;
	return CID_OK;
}

/* Copies an optional parameter bounded by max into auth; over max is an error. */
static enum cid_err copy_opt(const struct cid_params *p, const char *name, size_t max, json_t *auth,
			     struct cid_oauth_error *err, const char *too_long)
{
	const char *v = cid_params_get(p, name);

	if (v == NULL)
		return CID_OK;
	if (strnlen(v, max + 1) > max)
		return bad(err, "invalid_request", too_long);
	return json_object_set_new(auth, name, json_string(v)) == 0 ? CID_OK : CID_ERR_NOMEM;
}

static enum cid_err check_pkce(const struct cid_client *client, const struct cid_params *p,
			       json_t *auth, struct cid_oauth_error *err)
{
	const char *challenge = cid_params_get(p, "code_challenge");
	const char *method = cid_params_get(p, "code_challenge_method");

	if (challenge == NULL) {
		/*= RFC 9700 §2.1.1: public clients MUST use PKCE */
		if (client->is_public)
			return bad(err, "invalid_request", "PKCE (code_challenge) is required");
		if (method != NULL)
			return bad(err, "invalid_request",
				   "code_challenge_method without code_challenge");
		return CID_OK;
	}
	/*= RFC 9700 §2.1.1: use the S256 code challenge method; plain is not accepted */
	if (method == NULL || strcmp(method, "S256") != 0)
		return bad(err, "invalid_request", "code_challenge_method must be S256");
	/* S256 challenges are base64url of 32 bytes: exactly 43 characters */
	if (!cid_request_is_token(challenge))
		return bad(err, "invalid_request", "code_challenge is not a base64url SHA-256");
	return json_object_set_new(auth, "code_challenge", json_string(challenge)) == 0
		   ? CID_OK
		   : CID_ERR_NOMEM;
}

static enum cid_err check_scope(const struct cid_client *client, const char *scope, json_t *auth,
				struct cid_oauth_error *err)
{
	if (scope == NULL || !cid_words_has(scope, "openid", 6))
		return bad(err, "invalid_scope", "scope must include openid");
	if (strnlen(scope, CID_MAX_SCOPE + 1) > CID_MAX_SCOPE)
		return bad(err, "invalid_scope", "scope is too long");
	if (!cid_client_scope_ok(client, scope))
		return bad(err, "invalid_scope",
			   "a requested scope is not allowed for this client");
	return json_object_set_new(auth, "scope", json_string(scope)) == 0 ? CID_OK : CID_ERR_NOMEM;
}

static enum cid_err check_claims(const char *claims, json_t *auth, struct cid_oauth_error *err)
{
	json_t *c;

	if (claims == NULL)
		return CID_OK;
	c = json_loads(claims, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(c)) {
		json_decref(c);
		return bad(err, "invalid_request", "claims is not a JSON object");
	}
	return json_object_set_new(auth, "claims", c) == 0 ? CID_OK : CID_ERR_NOMEM;
}

/*= OpenID Connect for Identity Assurance 1.0 §8: purpose: String describing the
 *# purpose for obtaining certain user data from the OP. The purpose MUST NOT be
 *# shorter than 3 characters and MUST NOT be longer than 300 characters. If these
 *# rules are violated, the authentication request MUST fail and the OP returns an
 *# error invalid_request to the RP.
 * (the citizen sees it on the consent screen, escaped, and it is kept in the records) */
static enum cid_err check_purpose(const char *purpose, json_t *auth, struct cid_oauth_error *err)
{
	if (purpose == NULL)
		return CID_OK;
	if (!cid_consent_request_purpose_ok(purpose))
		return bad(err, "invalid_request",
			   "purpose must be 3 to 300 characters of text on one line");
	return json_object_set_new(auth, "purpose", json_string(purpose)) == 0 ? CID_OK
									       : CID_ERR_NOMEM;
}

enum cid_err cid_oidc_authz_check(const struct cid_client *client, const struct cid_params *p,
				  const char *default_locale, json_t **auth_out,
				  struct cid_oauth_error *err)
{
	enum cid_err rc = CID_OK;
	json_t *auth = json_object();
	const char *response_type = cid_params_get(p, "response_type");
	const char *response_mode = cid_params_get(p, "response_mode");
	const char *max_age = cid_params_get(p, "max_age");
	uint64_t age;
	int level = 0;

	CID_ENSURE(auth != NULL, CID_ERR_NOMEM);
	CID_ENSURE(json_object_set_new(auth, "client_id", json_string(client->client_id)) == 0 &&
		       json_object_set_new(auth, "redirect_uri",
					   json_string(cid_params_get(p, "redirect_uri"))) == 0,
		   CID_ERR_NOMEM);
	/* state first, so that every later error can carry it back */
	CID_TRY(copy_opt(p, "state", CID_MAX_STATE, auth, err, "state is too long"));
	if (cid_params_get(p, "request") != NULL) {
		rc = bad(err, "request_not_supported", "request objects are not supported");
		goto out;
	}
	if (cid_params_get(p, "request_uri") != NULL) {
		rc = bad(err, "request_uri_not_supported", "request_uri is not supported");
		goto out;
	}
	/*= RFC 9700 §2.1.2: the implicit grant SHOULD NOT be used; we support code only */
	if (response_type == NULL) {
		rc = bad(err, "invalid_request", "response_type is required");
		goto out;
	}
	if (strcmp(response_type, "code") != 0) {
		rc = bad(err, "unsupported_response_type", "only response_type=code is supported");
		goto out;
	}
	if (!client->allow_code) {
		rc = bad(err, "unauthorized_client",
			 "client may not use the authorization code grant");
		goto out;
	}
	if (response_mode != NULL && strcmp(response_mode, "query") != 0) {
		rc = bad(err, "invalid_request", "only response_mode=query is supported");
		goto out;
	}
	CID_TRY(check_scope(client, cid_params_get(p, "scope"), auth, err));
	CID_TRY(check_pkce(client, p, auth, err));
	CID_TRY(copy_opt(p, "nonce", CID_MAX_NONCE, auth, err, "nonce is too long"));
	CID_TRY(check_prompt(cid_params_get(p, "prompt"), auth, err));
	if (max_age != NULL) {
		if (cid_parse_u64(max_age, strlen(max_age), 0, INT32_MAX, &age) != CID_OK) {
			rc = bad(err, "invalid_request", "max_age must be a non-negative integer");
			goto out;
		}
		CID_ENSURE(json_object_set_new(auth, "max_age", json_integer((json_int_t)age)) == 0,
			   CID_ERR_NOMEM);
	}
	CID_TRY(copy_opt(p, "login_hint", CID_MAX_USERNAME, auth, err, "login_hint is too long"));
	CID_TRY(copy_opt(p, "acr_values", CID_MAX_SCOPE, auth, err, "acr_values is too long"));
	CID_TRY(check_claims(cid_params_get(p, "claims"), auth, err));
	CID_TRY(check_purpose(cid_params_get(p, "purpose"), auth, err));
	/*= RFC 9470 §3: unmet_authentication_requirements: the authorization server is
	 *# unable to meet the requirements of the request
	 * (levels we do not have are known now; a second factor the citizen has not
	 * enrolled only after the login, oidc_proceed) */
	if (oidc_acr_required(auth, &level) != CID_OK) {
		rc = bad(err, "unmet_authentication_requirements",
			 "none of the requested authentication context classes (acr) is offered");
		goto out;
	}
	CID_ENSURE(json_object_set_new(auth, "ui_locale",
				       json_string(cid_reply_locale(cid_params_get(p, "ui_locales"),
								    default_locale))) == 0,
		   CID_ERR_NOMEM);
	*auth_out = auth;
	auth = NULL;
out:
	json_decref(auth);
	return rc;
}

/*
 * An id_token_hint (p's, NULL: none) against the browser's session (NULL:
 * none): refused (*err set, CID_ERR_INVALID) unless an ID token of ours
 * issued to client; *other true when it names someone other than the
 * session's citizen (by client's subject of the session's account).
 */
static enum cid_err hint_check(struct cid_ctx *ctx, const struct cid_client *client,
			       const char *hint, const struct cid_session *sess, bool *other,
			       struct cid_oauth_error *err)
{
	enum cid_err rc = CID_OK;
	struct cid_policyref *pref = NULL;
	char sub[CID_TOKEN_CHARS + 1];
	json_t *claims = NULL;

	*other = false;
	if (hint == NULL)
		return CID_OK;
	rc = oidc_hint_check(ctx, hint, &claims);
	if (rc == CID_ERR_NOMEM)
		goto out;
	if (rc != CID_OK || strcmp(cid_json_str(claims, "aud"), client->client_id) != 0) {
		rc = bad(err, "invalid_request",
			 "id_token_hint is not an ID token this server issued to the client");
		goto out;
	}
	if (sess != NULL) {
		pref = cid_ctx_policies_acquire(ctx);
		cid_token_subject(ctx, cid_policyref_set(pref), client, sess->account_id, sub);
		*other = strcmp(sub, cid_json_str(claims, "sub")) != 0;
	}
out:
	cid_policyref_put(pref);
	json_decref(claims);
	return rc;
}

enum cid_err cid_oidc_authorize(struct cid_ctx *ctx, const struct cid_request *req,
				struct cid_reply *reply)
{
	enum cid_err rc = CID_OK;
	const struct cid_config *cfg = cid_ctx_config(ctx);
	const struct cid_params *p = &req->params;
	/* ui_locales, else the citizen's remembered choice, else the browser's (reply.h) */
	const char *locale = cid_request_locale(cfg, req);
	const char *client_id = cid_params_get(p, "client_id");
	const char *uri = cid_params_get(p, "redirect_uri");
	const char *state = cid_params_get(p, "state");
	struct cid_client *client = NULL;
	struct cid_oauth_error err = {0};
	struct cid_session sess;
	json_t *auth = NULL;
	bool have_session = false;
	bool other = false;
	bool need_login;
	json_t *max_age;
	int need = 0;

	/*= RFC 6749 §4.1.2.1: if the request fails due to a missing, invalid, or
	 *# mismatching redirection URI, or if the client identifier is missing or
	 *# invalid, the authorization server ... MUST NOT automatically redirect */
	if (client_id == NULL)
		return cid_reply_error_page(reply, 400, "invalid_request", "err.client_id_missing",
					    locale);
	rc = cid_client_get(cid_ctx_store(ctx), client_id, &client);
	if (rc == CID_ERR_NOTFOUND || rc == CID_ERR_INVALID)
		return cid_reply_error_page(reply, 400, "invalid_client", "err.client_unknown",
					    locale);
	CID_TRY(rc);
	if (uri == NULL || !cid_client_redirect_ok(client, uri)) {
		rc =
		    cid_reply_error_page(reply, 400, "invalid_request", "err.redirect_uri", locale);
		goto out;
	}
	if (state != NULL && strlen(state) > CID_MAX_STATE)
		state = NULL;
	rc = cid_oidc_authz_check(client, p, cfg->default_locale, &auth, &err);
	if (rc == CID_ERR_INVALID) {
		rc = oidc_redirect_error(ctx, reply, uri, state, err.error, err.description);
		goto out;
	}
	CID_TRY(rc);
	/* the steps' pages speak the language of the one rule, which the
	 * request's own check (ui_locales alone) cannot know */
	CID_ENSURE(json_object_set_new(auth, "ui_locale", json_string(locale)) == 0, CID_ERR_NOMEM);
	if (req->session_cookie != NULL &&
	    cid_session_get(cid_ctx_store(ctx), req->session_cookie, req->now, &sess) == CID_OK)
		have_session = true;
	/*= OIDC Core §3.1.2.1 id_token_hint: If the End-User identified by the ID
	 *# Token is logged in or is logged in by the request, then the Authorization
	 *# Server returns a positive response; otherwise, it SHOULD return an error,
	 *# such as login_required.
	 * (someone else signed in on this browser: that citizen logs in anew, or the
	 * silent request fails, rather than answer for the wrong person) */
	rc = hint_check(ctx, client, cid_params_get(p, "id_token_hint"),
			have_session ? &sess : NULL, &other, &err);
	if (rc == CID_ERR_INVALID) {
		rc = oidc_redirect_error(ctx, reply, uri, state, err.error, err.description);
		goto out;
	}
	CID_TRY(rc);
	/* level 3 is reached only by logging in through an upstream (idp.h), never
	 * by a step-up: a session below it asked for it logs in anew, where the
	 * upstreams are offered, rather than fail (RFC 9470 §3: unmet only when
	 * the server cannot meet the requirement) */
	CID_TRY(oidc_acr_required(auth, &need));
	max_age = json_object_get(auth, "max_age");
	/*= OIDC Core §3.1.2.1 max_age: if the elapsed time is greater than this value,
	 *# the OP MUST attempt to actively re-authenticate the End-User;
	 *# max_age=0 is equivalent to prompt=login (errata set 2), which whole-second
	 *# clocks would miss within the login's own second */
	need_login = !have_session || other ||
		     (need >= CID_LEVEL_HIGH && cid_release_level(sess.acr) < CID_LEVEL_HIGH) ||
		     json_is_true(json_object_get(auth, "prompt_login")) ||
		     (max_age != NULL && (json_integer_value(max_age) == 0 ||
					  req->now - sess.auth_time > json_integer_value(max_age)));
	if (!need_login) {
		rc = oidc_proceed(ctx, req, auth, &sess, req->session_cookie, client, 302, reply);
		goto out;
	}
	/*= OIDC Core §3.1.2.6: login_required when prompt=none and the End-User is not
	 *# authenticated */
	if (json_is_true(json_object_get(auth, "prompt_none"))) {
		rc = oidc_redirect_error(
		    ctx, reply, uri, state, "login_required",
		    other ? "the citizen signed in is not the one of id_token_hint"
			  : "the citizen must log in");
		goto out;
	}
	rc = oidc_show_login(ctx, req, auth, NULL, NULL, NULL, client, reply);
out:
	json_decref(auth);
	cid_client_free(client);
	return rc;
}
