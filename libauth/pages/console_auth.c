/*
 * console_auth: the officer's login and logout.
 *
 * The login form is the one console page without a session: its CSRF token
 * is the browser's cookie token (cid_reply_csrf), checked before the
 * password is, and a login always sets a new session cookie (officer.h:
 * password and TOTP, throttled and locked like a citizen's). Every failure
 * shows the form again with its status (401, 403 locked, 429 throttled),
 * never which of name, password or code was wrong. Logout ends the session
 * in the store before the cookie is cleared, so a copied cookie dies too.
 */
#include "console_int.h"

#include "crypto.h"
#include "officer.h"

#include <string.h>

/* The officer cookie: never readable by script, never cross-site (reply.h). */
static enum cid_err set_cookie(struct cid_ctx *ctx, struct cid_reply *r, const char *value,
			       int64_t max_age)
{
	return cid_reply_cookie(r, cid_ctx_config(ctx), CID_COOKIE_OFFICER, value, max_age);
}

static enum cid_err login_page(struct cid_ctx *ctx, const struct cid_request *req,
			       struct cid_reply *reply, int status, const char *message,
			       const char *name)
{
	enum cid_err rc = CID_OK;
	char csrf[CID_TOKEN_CHARS + 1];
	json_t *data = NULL;

	CID_TRY(cid_reply_csrf(ctx, req, reply, csrf));
	data = json_pack("{s:s, s:s}", "csrf", csrf, "name", name == NULL ? "" : name);
	CID_ENSURE(data != NULL, CID_ERR_NOMEM);
	if (message != NULL)
		CID_ENSURE(json_object_set_new(data, message, json_true()) == 0, CID_ERR_NOMEM);
	rc = console_show(ctx, req, reply, status, CID_PAGE_OFFICER_LOGIN, data);
	data = NULL;
out:
	json_decref(data);
	cid_wipe(csrf, sizeof(csrf));
	return rc;
}

enum cid_err cid_console_login(struct cid_ctx *ctx, const struct cid_request *req,
			       struct cid_reply *reply)
{
	enum cid_err rc = CID_OK;
	char name_now[CID_OFFICER_MAX_NAME + 1];
	char cookie[CID_TOKEN_CHARS + 1] = "";
	const char *csrf = cid_params_get(&req->params, "csrf");
	const char *name;
	const char *password = cid_params_get(&req->params, "password");
	const char *code = cid_params_get(&req->params, "code");
	char client_addr[CID_NETADDR_TEXT_MAX];
	int64_t wait = 0;

	if (!req->post) {
		/* already in: straight to the log */
		rc = cid_officer_session(cid_ctx_store(ctx), req->officer_cookie, req->now,
					 name_now);
		if (rc == CID_OK)
			return cid_reply_redirect(reply, 303, CONSOLE_HOME, NULL, NULL, 0);
		if (rc != CID_ERR_NOTFOUND && rc != CID_ERR_EXPIRED)
			return rc;
		return login_page(ctx, req, reply, 200, NULL, NULL);
	}
	/* login CSRF: the form must come from a page this browser got from us */
	if (csrf == NULL || !cid_request_is_token(req->csrf_cookie) ||
	    !cid_ct_streq(csrf, strnlen(csrf, CID_TOKEN_CHARS + 1), req->csrf_cookie,
			  CID_TOKEN_CHARS))
		return console_fail(ctx, req, reply, 403, "invalid_request",
				    "err.console_login_stale");
	if (!console_text_param(&req->params, "name", CID_OFFICER_MAX_NAME, &name))
		name = NULL;
	if (name == NULL || password == NULL || code == NULL)
		return login_page(ctx, req, reply, 400, "msg_missing", name);
	cid_request_client_addr(ctx, req, client_addr);
	rc = cid_officer_login(cid_ctx_store(ctx), &cid_ctx_config(ctx)->argon2, name, password,
			       code, client_addr, req->now, cookie, &wait);
	switch (rc) {
	case CID_OK: break;
	case CID_ERR_THROTTLED: return login_page(ctx, req, reply, 429, "msg_throttled", name);
	case CID_ERR_LOCKED: return login_page(ctx, req, reply, 403, "msg_locked", name);
	case CID_ERR_DENIED:
	case CID_ERR_INVALID: return login_page(ctx, req, reply, 401, "msg_failed", name);
	default: return rc;
	}
	CID_TRY(set_cookie(ctx, reply, cookie, CID_OFFICER_SESSION_TTL));
	CID_TRY(cid_reply_redirect(reply, 303, CONSOLE_HOME, NULL, NULL, 0));
out:
	cid_wipe(cookie, sizeof(cookie));
	return rc;
}

static enum cid_err logout_page(struct cid_ctx *ctx, const struct cid_request *req,
				struct cid_reply *reply, const struct officer *who)
{
	enum cid_err rc = CID_OK;
	enum cid_err ended;

	(void)who;
	ended = cid_officer_logout(cid_ctx_store(ctx), req->officer_cookie);
	CID_ENSURE(ended == CID_OK || ended == CID_ERR_NOTFOUND, ended);
	CID_TRY(set_cookie(ctx, reply, "", 0));
	CID_TRY(cid_reply_redirect(reply, 303, CONSOLE_LOGIN, NULL, NULL, 0));
out:
	return rc;
}

enum cid_err cid_console_logout(struct cid_ctx *ctx, const struct cid_request *req,
				struct cid_reply *reply)
{
	return console_gated(ctx, req, reply, logout_page);
}
