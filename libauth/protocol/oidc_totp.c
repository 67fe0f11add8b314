/*
 * oidc_totp: the one-time-code (TOTP) step of the authorization flow.
 *
 * The flow (oidc_flow.c) shows the step when the request needs level 2 and
 * the citizen has a second factor enrolled; this file checks the posted
 * code. The form must come from the browser's live session, the one the
 * step was shown in, and the pending request is claimed only once the code
 * is right, so a mistyped code leaves the form usable. Every refusal of the
 * code shows the form again with one message (wrong, replayed, malformed or
 * no longer enrolled look alike). A correct code is an authentication: the
 * session moves to a new cookie at urn:civicid:acr:mfa, its methods gain
 * "otp" (and keep how the citizen signed in: "pwd", or "fed" through an
 * upstream), and the flow goes on.
 * The step has a way out: declining the code goes on at the session's level,
 * without what needed the stronger one (decline, below).
 */
#include "account.h"
#include "bounds.h"
#include "crypto.h"
#include "logins.h"
#include "oidc_int.h"
#include "session.h"

#include <stdlib.h>
#include <string.h>

/*
 * The way out of the step (action=skip): the citizen goes on at the level
 * the session has, and the service gets what that level releases, without
 * the attributes that needed the code. A request that itself requires the
 * level cannot be answered below it: it ends back at the service with
 * access_denied (the citizen declined), never with a code of a lower acr.
 */
static enum cid_err decline(struct cid_ctx *ctx, const struct cid_request *req,
			    struct oidc_step *step, struct cid_reply *reply)
{
	enum cid_err rc = CID_OK;

	/* claimed first: a way out posted twice goes out once */
	CID_TRY(oidc_claim_pending(ctx, req, step->locale, reply));
	if (json_is_true(json_object_get(step->auth, "step_up_required"))) {
		/*= RFC 6749 §4.1.2.1: access_denied: the resource owner or authorization
		 *# server denied the request */
		rc = oidc_redirect_error(ctx, reply, cid_json_str(step->auth, "redirect_uri"),
					 cid_json_str(step->auth, "state"), "access_denied",
					 "the citizen declined the one-time code");
		goto out;
	}
	CID_ENSURE(json_object_set_new(step->auth, "step_up_declined", json_true()) == 0,
		   CID_ERR_NOMEM);
	/* 303: the browser must follow with GET, not repost the form */
	rc = oidc_proceed(ctx, req, step->auth, &step->sess, req->session_cookie, step->client, 303,
			  reply);
out:
	return rc;
}

bool oidc_code_check(struct cid_ctx *ctx, const struct cid_request *req, const char *account,
		     struct oidc_message *m, enum cid_err *rc)
{
	const char *code = cid_params_get(&req->params, "code");
	char client_addr[CID_NETADDR_TEXT_MAX];
	int64_t retry = 0;
	enum cid_err r;

	*rc = CID_OK;
	cid_request_client_addr(ctx, req, client_addr);
	r = cid_account_totp_check(cid_ctx_store(ctx), account, code == NULL ? "" : code,
				   client_addr, req->now, &retry);
	/* a code checked, right or wrong, is an attempt the citizen sees on their security page */
	if (r == CID_OK || r == CID_ERR_DENIED) {
		enum cid_err logged = cid_logins_put(cid_ctx_store(ctx), account, req->now,
						     r == CID_OK, CID_LOGIN_CODE, req->user_agent);

		if (logged != CID_OK) {
			*rc = logged;
			return false;
		}
	}
	/* wrong, replayed, malformed, or no longer enrolled: one message for all */
	if (r == CID_ERR_DENIED || r == CID_ERR_INVALID || r == CID_ERR_NOTFOUND) {
		m->key = "msg_failed";
		m->invalid = true;
	} else if (r == CID_ERR_THROTTLED) {
		m->key = "msg_throttled";
		m->retry = retry;
	} else if (r == CID_ERR_LOCKED) {
		m->key = "msg_locked";
	} else {
		*rc = r;
	}
	return r == CID_OK;
}

/*
 * The methods of sess after a step-up into out: the session's own, then
 * "otp" unless it is there already. OIDC Core §2: amr lists the methods
 * actually used, so a login through an upstream stays "fed" and gains no
 * "pwd" it never typed here. A session holding CID_MAX_AMR methods already
 * gives up its last for "otp": the method just proved is the one the new
 * level stands on. Returns the count; out borrows from sess.
 */
static size_t step_up_amr(const struct cid_session *sess, const char *out[CID_MAX_AMR])
{
	size_t n = 0;
	bool has_otp = false;

	for (size_t i = 0; i < sess->n_amr && i < CID_MAX_AMR; i++) {
		out[n++] = sess->amr[i];
		has_otp = has_otp || strcmp(sess->amr[i], "otp") == 0;
	}
	if (!has_otp)
		out[n < CID_MAX_AMR ? n++ : n - 1] = "otp";
	return n;
}

enum cid_err cid_oidc_totp(struct cid_ctx *ctx, const struct cid_request *req,
			   struct cid_reply *reply)
{
	const char *amr[CID_MAX_AMR];
	size_t n_amr;
	struct cid_session was;
	enum cid_err rc = CID_OK;
	const char *action = cid_params_get(&req->params, "action");
	struct cid_policyref *pref = NULL;
	struct oidc_step step = {0};
	struct cid_request next = *req;
	char cookie[CID_TOKEN_CHARS + 1] = "";
	struct oidc_message m = {0};

	CID_TRY(oidc_step_begin(ctx, req, OIDC_STAGE_TOTP, reply, &step));
	if (action != NULL && strcmp(action, "skip") == 0) {
		rc = decline(ctx, req, &step, reply);
		goto out;
	}
	if (!oidc_code_check(ctx, req, step.sess.account_id, &m, &rc)) {
		CID_TRY(rc);
		pref = cid_ctx_policies_acquire(ctx);
		rc = oidc_show_totp(
		    step.auth, oidc_service_name(cid_policyref_set(pref), step.client, step.locale),
		    cid_params_get(&req->params, "req"), cid_params_get(&req->params, "csrf"), &m,
		    reply);
		goto out;
	}
	CID_TRY(oidc_claim_pending(ctx, req, step.locale, reply));
	/* a step-up is an authentication: the session moves to a new cookie, its
	 * methods and "otp" (borrowed from a copy: the upgrade overwrites step.sess) */
	was = step.sess;
	n_amr = step_up_amr(&was, amr);
	CID_TRY(cid_session_upgrade(cid_ctx_store(ctx), req->session_cookie, CID_ACR_MFA, amr,
				    n_amr, req->now, cookie, &step.sess));
	CID_TRY(cid_reply_cookie(reply, cid_ctx_config(ctx), CID_COOKIE_SESSION, cookie,
				 step.sess.expires_at - req->now));
	/* the steps after it belong to the new cookie, which this request does not carry */
	next.session_cookie = cookie;
	rc = oidc_proceed(ctx, &next, step.auth, &step.sess, cookie, step.client, 303, reply);
out:
	cid_wipe(cookie, sizeof(cookie));
	cid_policyref_put(pref);
	oidc_step_end(&step);
	return cid_endpoint_rc(rc);
}
