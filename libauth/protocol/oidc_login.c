/*
 * oidc_login: the login form of the authorization flow.
 *
 * The form is shown for a pending request (oidc_pending.c) and posted back
 * with its id and the browser's CSRF token. Every failure shows the form
 * again with one message, so the form never tells whether an account exists
 * or is disabled (the name typed stays; a throttled attempt says how long to
 * wait, and its reply carries Retry-After); the password is checked (argon2id, on a worker thread)
 * before the pending request is claimed, so a wrong password leaves the
 * form usable. A login always gives the browser a new session cookie, and
 * hands the request to the flow after authentication (oidc_proceed). The
 * session behind it depends on what the browser had: the same citizen
 * signing in again (prompt=login, max_age, a re-authentication) keeps the
 * session, its sid and the services that took part in it, at the new
 * authentication; another citizen ends the old one as a logout does, so
 * its services are told; anything else starts afresh.
 */
#include "account.h"
#include "bounds.h"
#include "crypto.h"
#include "idp.h"
#include "logout.h"
#include "oidc_int.h"
#include "session.h"

#include <stdlib.h>
#include <string.h>

enum cid_err oidc_show_login(struct cid_ctx *ctx, const struct cid_request *req, json_t *auth,
			     const char *req_id, const char *csrf, const struct oidc_message *m,
			     const struct cid_client *client, struct cid_reply *reply)
{
	enum cid_err rc = CID_OK;
	char id[CID_TOKEN_CHARS + 1];
	char token[CID_TOKEN_CHARS + 1];
	const char *hint = cid_json_str(auth, "login_hint");
	/* the name typed stays in the field: only the password is typed again */
	const char *username = m != NULL && m->username != NULL ? m->username : hint;
	json_t *data = NULL;
	json_t *upstreams = NULL;

	/* "Log in with LABEL" for each upstream identity provider, in its order (idp.h) */
	CID_TRY(cid_idp_buttons(cid_ctx_store(ctx), oidc_auth_locale(auth), &upstreams));
	if (req_id == NULL) {
		CID_TRY(oidc_park(ctx, req, auth, OIDC_STAGE_LOGIN, reply, id, token));
		req_id = id;
		csrf = token;
	}
	data = json_pack("{s:s, s:s, s:s, s:s, s:s}", "req", req_id, "csrf", csrf, "client_name",
			 client->name, "login_hint", hint == NULL ? "" : hint, "username",
			 username == NULL ? "" : username);
	CID_ENSURE(data != NULL && json_object_set(data, "upstreams", upstreams) == 0 &&
		       json_object_set_new(data, "has_upstreams",
					   json_boolean(json_array_size(upstreams) > 0)) == 0,
		   CID_ERR_NOMEM);
	CID_TRY(oidc_message_data(m, reply, data));
	rc = cid_reply_page(reply, 200, CID_PAGE_LOGIN, data, oidc_auth_locale(auth));
	data = NULL;
out:
	json_decref(upstreams);
	json_decref(data);
	return rc;
}

bool oidc_password_check(struct cid_ctx *ctx, const struct cid_request *req, struct oidc_message *m,
			 char account[CID_ID_CHARS + 1], enum cid_err *rc)
{
	const struct cid_config *cfg = cid_ctx_config(ctx);
	const char *username = cid_params_get(&req->params, "username");
	const char *password = cid_params_get(&req->params, "password");
	char client_addr[CID_NETADDR_TEXT_MAX];
	int64_t retry = 0;
	enum cid_err r;

	*rc = CID_OK;
	if (username == NULL || password == NULL || username[0] == '\0' || password[0] == '\0') {
		m->key = "msg_missing";
		m->invalid = true;
		return false;
	}
	cid_request_client_addr(ctx, req, client_addr);
	r = cid_account_login(cid_ctx_store(ctx), &cfg->argon2, username, password, client_addr,
			      req->user_agent, req->now, account, &retry);
	/* one message for every failure, so the form never reveals whether an
	 * account exists or is disabled */
	if (r == CID_ERR_DENIED || r == CID_ERR_INVALID) {
		m->key = "msg_failed";
		m->invalid = true;
	} else if (r == CID_ERR_THROTTLED) {
		m->key = "msg_throttled";
		m->retry = retry;
	} else {
		*rc = r;
	}
	return r == CID_OK;
}

enum cid_err cid_oidc_login(struct cid_ctx *ctx, const struct cid_request *req,
			    struct cid_reply *reply)
{
	static const char *const amr[] = {"pwd"};
	enum cid_err rc = CID_OK;
	struct oidc_message m = {.username = cid_params_get(&req->params, "username")};
	const struct oidc_login how = {CID_ACR_PASSWORD, amr, 1, req->now};
	char account[CID_ID_CHARS + 1];
	struct oidc_step step = {0};

	CID_TRY(oidc_step_begin(ctx, req, OIDC_STAGE_LOGIN, reply, &step));
	if (!oidc_password_check(ctx, req, &m, account, &rc)) {
		CID_TRY(rc);
		rc = oidc_show_login(ctx, req, step.auth, cid_params_get(&req->params, "req"),
				     cid_params_get(&req->params, "csrf"), &m, step.client, reply);
		goto out;
	}
	CID_TRY(oidc_claim_pending(ctx, req, step.locale, reply));
	rc = oidc_login_finish(ctx, req, step.auth, step.client, account, &how, reply);
out:
	oidc_step_end(&step);
	return cid_endpoint_rc(rc);
}

/*
 * Gives the browser of req a session of account at this authentication, its
 * cookie into cookie and the session into *sess (ASVS V3.2.1: the cookie is
 * new in every case, and the old one finds nothing from now on).
 *   - The browser's live session is the same citizen's: it is kept (the
 *     sid the services know, the services that took part, its lifetime) and
 *     raised to this authentication (cid_session_upgrade), so a later logout
 *     still tells every service of it.
 *   - It is another citizen's: it ends as a logout ends it
 *     (CID_LOGOUT_CAUSE_SWITCH), its services told; a new session starts.
 *   - None, or one that ended by itself: a new session starts.
 */
static enum cid_err login_session(struct cid_ctx *ctx, const struct cid_request *req,
				  const char *account, const struct oidc_login *how,
				  char cookie[CID_TOKEN_CHARS + 1], struct cid_session *sess)
{
	enum cid_err rc = CID_OK;
	const struct cid_config *cfg = cid_ctx_config(ctx);
	struct cid_store *s = cid_ctx_store(ctx);
	struct cid_session old;

	if (req->session_cookie == NULL)
		goto fresh;
	rc = cid_session_get(s, req->session_cookie, req->now, &old);
	if (rc == CID_OK && strcmp(old.account_id, account) == 0) {
		rc = cid_session_upgrade_at(s, req->session_cookie, how->acr, how->amr, how->n_amr,
					    how->auth_time, req->now, cookie, sess);
		/* ended meanwhile (a logout in another tab): start afresh */
		if (rc != CID_ERR_NOTFOUND && rc != CID_ERR_EXPIRED && rc != CID_ERR_REVOKED)
			goto out;
	} else if (rc == CID_OK) {
		rc = cid_logout_end_session(s, req->session_cookie, NULL, CID_LOGOUT_CAUSE_SWITCH,
					    req->now, NULL);
		CID_ENSURE(rc == CID_OK || rc == CID_ERR_NOTFOUND, rc);
	} else {
		rc = cid_session_end(s, req->session_cookie);
		CID_ENSURE(rc == CID_OK || rc == CID_ERR_NOTFOUND, rc);
	}
fresh:
	rc = cid_session_start_at(s, account, how->acr, how->amr, how->n_amr, how->auth_time,
				  req->now, cfg->session_ttl, req->user_agent, cookie, sess);
out:
	return rc;
}

enum cid_err oidc_login_finish(struct cid_ctx *ctx, const struct cid_request *req, json_t *auth,
			       const struct cid_client *client, const char *account,
			       const struct oidc_login *how, struct cid_reply *reply)
{
	enum cid_err rc = CID_OK;
	const struct cid_config *cfg = cid_ctx_config(ctx);
	char cookie[CID_TOKEN_CHARS + 1] = "";
	struct cid_session sess;
	struct cid_request next = *req;

	/*= OWASP ASVS 4.0.3 V3.2.1: the application generates a new session token on
	 *# user authentication */
	CID_TRY(login_session(ctx, req, account, how, cookie, &sess));
	CID_TRY(cid_reply_cookie(reply, cfg, CID_COOKIE_SESSION, cookie, cfg->session_ttl));
	/* the steps after the login belong to the session of the new cookie,
	 * which this request's cookie header does not carry yet */
	next.session_cookie = cookie;
	/* 303: the browser must follow with GET, not repost the password */
	rc = oidc_proceed(ctx, &next, auth, &sess, cookie, client, 303, reply);
out:
	cid_wipe(cookie, sizeof(cookie));
	return rc;
}
