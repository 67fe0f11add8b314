/*
 * oidc_logout: RP-Initiated Logout 1.0.
 *
 * A logout that names the session through a valid id_token_hint ends it at
 * once; any other request is confirmed by the citizen on a CSRF-protected page
 * first, so a third-party page cannot log a citizen out. The page's token is
 * the browser's CSRF token bound to its session (cid_session_form_token): a
 * cross-site post carries neither SameSite cookie, and a planted CSRF cookie
 * is not enough to forge it. A
 * post_logout_redirect_uri is followed only when registered for the client the
 * hint (or client_id) names; otherwise the citizen sees our own page.
 * Ending the session tells its services (logout_notify.h): back-channel
 * notices are queued for the server's worker, and the logged-out page
 * carries the front-channel frames.
 */
#include "bounds.h"
#include "crypto.h"
#include "logout_notify.h"
#include "oidc_int.h"
#include "session.h"

#include <stdlib.h>
#include <string.h>

/*
 * The logged-out page, with the front-channel frames of the services of the
 * session that ended (done's); with uri, a link back to the service there,
 * since the frames need the page the redirect would skip.
 */
static enum cid_err logged_out_page(struct cid_logout_done *done, const char *uri,
				    const char *state, const struct cid_client *client,
				    const char *locale, struct cid_reply *reply)
{
	enum cid_err rc = CID_OK;
	json_t *data = json_pack("{s:s}", "client_name", client == NULL ? "" : client->name);

	CID_ENSURE(data != NULL, CID_ERR_NOMEM);
	if (uri != NULL) {
		const char *names[] = {"state"};
		const char *values[] = {state};

		/* the address the redirect would have used, as a link */
		CID_TRY(cid_reply_redirect(reply, 302, uri, names, values, 1));
		CID_ENSURE(json_object_set_new(data, "continue", json_string(reply->location)) == 0,
			   CID_ERR_NOMEM);
		free(reply->location);
		reply->location = NULL;
	}
	CID_TRY(cid_logout_page_frames(done, data, reply));
	rc = cid_reply_page(reply, 200, CID_PAGE_LOGGED_OUT, data, locale);
	data = NULL;
out:
	json_decref(data);
	return rc;
}

/*
 * Ends the session (if any): the browser's live session (cookie, NULL when it
 * has none or its cookie names an ended one), else the hint's (sid); clears
 * the cookie, and redirects or shows the logged-out page.
 */
static enum cid_err finish(struct cid_ctx *ctx, const struct cid_request *req, const char *cookie,
			   const char *sid, const char *uri, const struct cid_client *client,
			   const char *locale, struct cid_reply *reply)
{
	enum cid_err rc = CID_OK;
	const char *state = cid_params_get(&req->params, "state");
	struct cid_logout_done done = {0};

	if (cookie != NULL || sid != NULL) {
		rc = cid_logout_end(ctx, cookie, cookie == NULL ? sid : NULL, CID_LOGOUT_CAUSE_RP,
				    req->now, &done);
		CID_ENSURE(rc == CID_OK || rc == CID_ERR_NOTFOUND, rc);
	}
	CID_TRY(cid_reply_cookie(reply, cid_ctx_config(ctx), CID_COOKIE_SESSION, "", 0));
	if (state != NULL && strlen(state) > CID_MAX_STATE)
		state = NULL;
	if (uri != NULL && json_array_size(done.frames) == 0) {
		const char *names[] = {"state"};
		const char *values[] = {state};

		rc = cid_reply_redirect(reply, 302, uri, names, values, 1);
		goto out;
	}
	rc = logged_out_page(&done, uri, state, client, locale, reply);
out:
	cid_logout_done_clear(&done);
	return rc;
}

static enum cid_err confirm_page(struct cid_ctx *ctx, const struct cid_request *req,
				 const char *locale, struct cid_reply *reply)
{
	static const char *const kept[] = {"id_token_hint", "post_logout_redirect_uri", "state",
					   "client_id", "ui_locales"};
	enum cid_err rc = CID_OK;
	char csrf[CID_TOKEN_CHARS + 1];
	char token[CID_TOKEN_CHARS + 1];
	json_t *data = json_object();
	json_t *hidden = json_array();

	CID_ENSURE(data != NULL && hidden != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_reply_csrf(ctx, req, reply, csrf));
	cid_session_form_token(req->session_cookie, csrf, token);
	CID_ENSURE(token[0] != '\0', CID_ERR_CRYPTO);
	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
		const char *v = cid_params_get(&req->params, kept[i]);

		if (v != NULL)
			CID_ENSURE(json_array_append_new(hidden, json_pack("{s:s, s:s}", "name",
									   kept[i], "value", v)) ==
				       0,
				   CID_ERR_NOMEM);
	}
	CID_ENSURE(json_object_set_new(data, "csrf", json_string(token)) == 0 &&
		       json_object_set(data, "hidden", hidden) == 0,
		   CID_ERR_NOMEM);
	rc = cid_reply_page(reply, 200, CID_PAGE_LOGOUT_CONFIRM, data, locale);
	data = NULL;
out:
	json_decref(data);
	json_decref(hidden);
	return rc;
}

/* True if req is the citizen's post of the confirmation page of this browser's session. */
static bool confirmed_by_form(const struct cid_request *req)
{
	const char *csrf = cid_params_get(&req->params, "csrf");
	char want[CID_TOKEN_CHARS + 1];
	bool ok;

	if (!req->post || csrf == NULL || cid_params_get(&req->params, "confirm") == NULL ||
	    !cid_request_is_token(req->csrf_cookie))
		return false;
	cid_session_form_token(req->session_cookie, req->csrf_cookie, want);
	ok = want[0] != '\0' &&
	     cid_ct_streq(csrf, strnlen(csrf, CID_TOKEN_CHARS + 1), want, strlen(want));
	cid_wipe(want, sizeof(want));
	return ok;
}

enum cid_err cid_oidc_logout(struct cid_ctx *ctx, const struct cid_request *req,
			     struct cid_reply *reply)
{
	enum cid_err rc = CID_OK;
	const struct cid_params *p = &req->params;
	const char *locale = cid_request_locale(cid_ctx_config(ctx), req);
	const char *hint = cid_params_get(p, "id_token_hint");
	const char *uri = cid_params_get(p, "post_logout_redirect_uri");
	const char *client_id = cid_params_get(p, "client_id");
	struct cid_client *client = NULL;
	struct cid_session sess;
	bool have_session = false;
	bool confirmed = false;
	json_t *claims = NULL;

	if (hint != NULL) {
		if (oidc_hint_check(ctx, hint, &claims) != CID_OK)
			return cid_reply_error_page(reply, 400, "invalid_request",
						    "err.logout_hint", locale);
		/*= RP-Initiated Logout §2: when both client_id and id_token_hint are present,
		 *# the OP MUST verify that the Client Identifier matches the one used */
		if (client_id != NULL && strcmp(client_id, cid_json_str(claims, "aud")) != 0) {
			rc = cid_reply_error_page(reply, 400, "invalid_request",
						  "err.logout_client", locale);
			goto out;
		}
		client_id = cid_json_str(claims, "aud");
	}
	if (client_id != NULL && cid_client_get(cid_ctx_store(ctx), client_id, &client) != CID_OK)
		client = NULL;
	/*= RP-Initiated Logout §3: the OP MUST NOT redirect to a
	 *# post_logout_redirect_uri that was not previously registered */
	if (uri != NULL && (client == NULL || !cid_client_post_logout_ok(client, uri))) {
		rc = cid_reply_error_page(reply, 400, "invalid_request", "err.logout_redirect",
					  locale);
		goto out;
	}
	if (req->session_cookie != NULL &&
	    cid_session_get(cid_ctx_store(ctx), req->session_cookie, req->now, &sess) == CID_OK)
		have_session = true;
	if (have_session)
		confirmed = confirmed_by_form(req);
	/* a valid hint for this very session (or for no live session) needs no confirmation */
	if (claims != NULL &&
	    (!have_session || cid_str_eq(cid_str_of(sess.sid), cid_json_str(claims, "sid"))))
		confirmed = true;
	if (!confirmed && have_session) {
		rc = confirm_page(ctx, req, locale, reply);
		goto out;
	}
	/* a cookie of an ended session (ended elsewhere, or expired) names nothing:
	 * the hint's sid does, as when the browser sends no cookie */
	rc =
	    finish(ctx, req, have_session ? req->session_cookie : NULL,
		   claims == NULL ? NULL : cid_json_str(claims, "sid"), uri, client, locale, reply);
out:
	json_decref(claims);
	cid_client_free(client);
	return rc;
}
