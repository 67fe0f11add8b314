/*
 * account_login: the account pages as their own first-party client (see
 * account_login.h). Nothing here decides who a citizen is: /authorize and
 * its steps do, and this file only starts that flow and checks that what
 * comes back belongs to the browser that started it. The state and the
 * PKCE verifier are derived from the browser's CSRF token, so a login
 * needs no stored record of its own, and a callback another browser
 * started (a login CSRF) fails the state check.
 */
#include "account_login.h"

#include "account_pages_int.h"
#include "account_security.h"

#include "account.h"
#include "client.h"
#include "crypto.h"
#include "session.h"
#include "str.h"
#include "token.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ACCOUNT_CLIENT_NAME "アカウントページ (Account page)"

/* <issuer>CID_ACCOUNT_CALLBACK into out; CID_ERR_CONFIG when it does not fit. */
static enum cid_err callback_uri(const struct cid_config *cfg, char out[CID_MAX_URI + 1])
{
	int n = snprintf(out, CID_MAX_URI + 1, "%s%s", cfg->issuer, CID_ACCOUNT_CALLBACK);

	return n > 0 && n <= CID_MAX_URI ? CID_OK : CID_ERR_CONFIG;
}

enum cid_err cid_account_client_ensure(struct cid_ctx *ctx, int64_t now)
{
	enum cid_err rc = CID_OK;
	struct cid_store *s = cid_ctx_store(ctx);
	struct cid_client *client = NULL;
	char uri[CID_MAX_URI + 1];
	const char *uris[] = {uri};
	struct cid_client_spec spec = {
	    .client_id = CID_ACCOUNT_CLIENT_ID,
	    .name = ACCOUNT_CLIENT_NAME,
	    .is_public = true,
	    .redirect_uris = uris,
	    .n_redirect_uris = 1,
	    .scopes = "openid",
	    .grant_types = "authorization_code",
	};
	char *id = NULL;
	char *secret = NULL;

	CID_TRY(callback_uri(cid_ctx_config(ctx), uri));
	rc = cid_client_get(s, CID_ACCOUNT_CLIENT_ID, &client);
	if (rc == CID_OK) {
		CID_ENSURE(cid_client_redirect_ok(client, uri), CID_ERR_CONFIG);
		goto out;
	}
	CID_ENSURE(rc == CID_ERR_NOTFOUND, rc);
	rc = cid_client_add(s, &spec, now, &id, &secret);
	/* two first logins at once: the other one registered it */
	if (rc == CID_ERR_EXISTS)
		rc = CID_OK;
	/* the issuer's callback is no redirect URI civicid accepts */
	if (rc == CID_ERR_INVALID || rc == CID_ERR_TOOBIG || rc == CID_ERR_UTF8)
		rc = CID_ERR_CONFIG;
out:
	free(id);
	free(secret); /* a public client has none */
	cid_client_free(client);
	return rc;
}

/* The base64url SHA-256 of label and csrf (a token) into out. */
static void derive(const char *label, const char *csrf, char out[CID_TOKEN_CHARS + 1])
{
	char in[64 + CID_TOKEN_CHARS + 1];
	uint8_t digest[32];
	int n = snprintf(in, sizeof(in), "%s%s", label, csrf);

	out[0] = '\0';
	if (n > 0 && (size_t)n < sizeof(in)) {
		cid_sha256(in, (size_t)n, digest);
		if (cid_b64url_encode(digest, sizeof(digest), out, CID_TOKEN_CHARS + 1) != CID_OK)
			out[0] = '\0';
	}
	cid_wipe(in, sizeof(in));
	cid_wipe(digest, sizeof(digest));
}

void cid_account_login_secrets(const char *csrf, char state[CID_TOKEN_CHARS + 1],
			       char verifier[CID_TOKEN_CHARS + 1])
{
	state[0] = '\0';
	verifier[0] = '\0';
	if (csrf == NULL || !cid_request_is_token(csrf))
		return;
	derive("civicid account login state\n", csrf, state);
	derive("civicid account login pkce\n", csrf, verifier);
}

/*
 * True if the browser's live session (if any) is a citizen's with a second
 * factor enrolled: a re-authentication then asks for the mfa level, so the
 * new login asks the one-time code too (cid_erase_login_strong).
 */
static bool reauth_needs_code(struct cid_ctx *ctx, const struct cid_request *req)
{
	struct cid_session sess;
	struct cid_account *a = NULL;
	bool totp;

	if (req->session_cookie == NULL || !cid_request_is_token(req->session_cookie) ||
	    cid_session_get(cid_ctx_store(ctx), req->session_cookie, req->now, &sess) != CID_OK ||
	    cid_account_get(cid_ctx_store(ctx), sess.account_id, &a) != CID_OK)
		return false;
	totp = a->has_totp;
	cid_account_free(a);
	return totp;
}

void cid_account_reauth_state(const char *csrf, char state[CID_TOKEN_CHARS + 1])
{
	state[0] = '\0';
	if (csrf != NULL && cid_request_is_token(csrf))
		derive("civicid account reauth state\n", csrf, state);
}

enum cid_err cid_account_signin(struct cid_ctx *ctx, const struct cid_request *req,
				struct cid_reply *reply)
{
	static const char *const names[] = {
	    "response_type", "client_id",      "redirect_uri",		"scope",
	    "state",	     "code_challenge", "code_challenge_method", "ui_locales",
	    "prompt",	     "acr_values"};
	enum cid_err rc = CID_OK;
	const struct cid_config *cfg = cid_ctx_config(ctx);
	const char *locale = account_page_locale(ctx, req);
	char csrf[CID_TOKEN_CHARS + 1];
	char state[CID_TOKEN_CHARS + 1];
	char verifier[CID_TOKEN_CHARS + 1];
	char challenge[CID_TOKEN_CHARS + 1];
	char uri[CID_MAX_URI + 1];
	char authorize[CID_MAX_URI + 16];
	uint8_t digest[32];
	const char *values[] = {"code",	 CID_ACCOUNT_CLIENT_ID,
				uri,	 "openid",
				state,	 challenge,
				"S256",	 locale,
				"login", CID_ACR_MFA};
	/* a re-authentication asks for a new login (prompt=login), whatever the
	 * session, and of a citizen with a second factor the code as well
	 * (acr_values: the flow's step-up, oidc_flow.c) */
	bool reauth = cid_params_get(&req->params, "reauth") != NULL;
	size_t n = sizeof(names) / sizeof(names[0]);

	rc = cid_account_client_ensure(ctx, req->now);
	if (rc == CID_ERR_CONFIG) {
		rc = cid_reply_error_page(reply, 503, "temporarily_unavailable",
					  "err.account_login_unavailable", locale);
		goto out;
	}
	CID_TRY(rc);
	CID_TRY(callback_uri(cfg, uri));
	CID_ENSURE(snprintf(authorize, sizeof(authorize), "%s/authorize", cfg->issuer) <
		       (int)sizeof(authorize),
		   CID_ERR_CONFIG);
	CID_TRY(cid_reply_csrf(ctx, req, reply, csrf));
	cid_account_login_secrets(csrf, state, verifier);
	if (reauth)
		cid_account_reauth_state(csrf, state);
	CID_ENSURE(state[0] != '\0', CID_ERR_CRYPTO);
	/*= RFC 7636 §4.2: code_challenge = BASE64URL-ENCODE(SHA256(ASCII(code_verifier))) */
	cid_sha256(verifier, strlen(verifier), digest);
	CID_TRY(cid_b64url_encode(digest, sizeof(digest), challenge, sizeof(challenge)));
	if (!reauth)
		n -= 2;
	else if (!reauth_needs_code(ctx, req))
		n -= 1;
	rc = cid_reply_redirect(reply, 303, authorize, names, values, n);
out:
	cid_wipe(csrf, sizeof(csrf));
	cid_wipe(verifier, sizeof(verifier));
	return cid_endpoint_rc(rc);
}

/* The callback was not for this browser, or its code is no good: one answer for all. */
static enum cid_err refused(struct cid_reply *reply, const char *locale)
{
	return cid_reply_error_page(reply, 400, "invalid_request", "err.account_callback", locale);
}

enum cid_err cid_account_callback(struct cid_ctx *ctx, const struct cid_request *req,
				  struct cid_reply *reply)
{
	static const char *const names[] = {"lang", "notice"};
	enum cid_err rc = CID_OK;
	const struct cid_config *cfg = cid_ctx_config(ctx);
	const char *locale = account_page_locale(ctx, req);
	const char *code = cid_params_get(&req->params, "code");
	const char *got = cid_params_get(&req->params, "state");
	const char *iss = cid_params_get(&req->params, "iss");
	const char *values[] = {locale, cid_security_notice_name(CID_SECURITY_SIGNED_IN_AGAIN)};
	char state[CID_TOKEN_CHARS + 1];
	char reauth_state[CID_TOKEN_CHARS + 1];
	char verifier[CID_TOKEN_CHARS + 1];
	/* where the login comes back to: the account page, or the security page it left */
	const char *back = "/account";
	size_t n_back = 1;
	char uri[CID_MAX_URI + 1];
	char refresh[CID_TOKEN_CHARS + 1];
	struct cid_session sess;
	struct cid_grant *grant = NULL;

	cid_account_login_secrets(req->csrf_cookie, state, verifier);
	cid_account_reauth_state(req->csrf_cookie, reauth_state);
	if (state[0] == '\0' || got == NULL || strlen(got) != CID_TOKEN_CHARS) {
		rc = refused(reply, locale);
		goto out;
	}
	if (cid_ct_equal(got, reauth_state, CID_TOKEN_CHARS)) {
		back = "/account/security";
		n_back = 2;
	} else if (!cid_ct_equal(got, state, CID_TOKEN_CHARS)) {
		rc = refused(reply, locale);
		goto out;
	}
	/*= RFC 9207 §2.4: clients MUST ... compare the iss parameter value to the issuer */
	if (iss != NULL && strcmp(iss, cfg->issuer) != 0) {
		rc = refused(reply, locale);
		goto out;
	}
	/* the citizen went back from the login (access_denied ...): the account page again */
	if (cid_params_get(&req->params, "error") != NULL) {
		rc = cid_reply_redirect(reply, 303, back, names, values, 1);
		goto out;
	}
	CID_TRY(account_find_session(ctx, req, locale, reply, &sess));
	CID_TRY(callback_uri(cfg, uri));
	rc = cid_code_redeem(cid_ctx_store(ctx), code != NULL ? code : "", CID_ACCOUNT_CLIENT_ID,
			     uri, verifier, req->now, 0, &grant, refresh);
	if (rc == CID_ERR_NOTFOUND || rc == CID_ERR_REVOKED || rc == CID_ERR_EXPIRED ||
	    rc == CID_ERR_DENIED) {
		rc = refused(reply, locale);
		goto out;
	}
	CID_TRY(rc);
	/* nothing is issued from it: the grant ends here */
	CID_TRY(cid_grant_revoke(cid_ctx_store(ctx), grant->id, req->now));
	/* a code of another citizen's login is not this browser's session */
	if (strcmp(grant->account_id, sess.account_id) != 0) {
		rc = refused(reply, locale);
		goto out;
	}
	rc = cid_reply_redirect(reply, 303, back, names, values, n_back);
out:
	cid_wipe(state, sizeof(state));
	cid_wipe(reauth_state, sizeof(reauth_state));
	cid_wipe(verifier, sizeof(verifier));
	cid_grant_free(grant);
	return cid_endpoint_rc(rc);
}
