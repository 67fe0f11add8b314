/*
 * account_erase: the citizen's own deletion (see account_erase.h). The rule
 * is two checks in front of cid_account_delete_own, which does all the
 * deleting: a fresh login, so a browser left signed in (or a stolen cookie)
 * cannot erase anyone, and the username typed, so nobody deletes by a slip.
 * The login is checked first: a stale one signs in again whatever was
 * typed, and learns nothing of the username on the way.
 */
#include "account_erase.h"

#include "account.h"
#include "account_pages_int.h"
#include "bounds.h"
#include "policy.h"
#include "release.h"
#include "reply.h"

#include <string.h>

bool cid_erase_login_fresh(const struct cid_session *sess, int64_t now)
{
	return now - sess->auth_time <= CID_REAUTH_MAX_AGE;
}

bool cid_erase_login_strong(const struct cid_session *sess, bool has_totp, int64_t now)
{
	/* the level is the acr's, which civicid sets (the code step, or an upstream trusted
	 * for it), never an "otp" in amr alone, which an upstream may pass on lower */
	return cid_erase_login_fresh(sess, now) &&
	       (!has_totp || cid_release_level(sess->acr) >= CID_LEVEL_MFA);
}

enum cid_err cid_security_delete_account(struct cid_ctx *ctx, const struct cid_session *sess,
					 const char *confirm, const char *cookie, int64_t now,
					 enum cid_security_notice *notice,
					 struct cid_logout_done *frames,
					 struct cid_account_deleted *out)
{
	enum cid_err rc = CID_OK;
	struct cid_account *a = NULL;

	*notice = CID_SECURITY_NONE;
	CID_TRY(cid_account_get(cid_ctx_store(ctx), sess->account_id, &a));
	if (!cid_erase_login_strong(sess, a->has_totp, now)) {
		*notice = CID_SECURITY_LOGIN_STALE;
		rc = CID_ERR_REFUSED;
		goto out;
	}
	if (confirm == NULL || strcmp(confirm, a->username) != 0) {
		*notice = CID_SECURITY_DELETE_CONFIRM_WRONG;
		rc = CID_ERR_REFUSED;
		goto out;
	}
	/* this browser's session first, as a logout: the page can then load the
	 * front-channel frames of its services, which the deletion's own ending
	 * of every session cannot give */
	if (cookie != NULL) {
		rc = cid_logout_end(ctx, cookie, NULL, CID_LOGOUT_CAUSE_DELETE, now, frames);
		CID_ENSURE(rc == CID_OK || rc == CID_ERR_NOTFOUND, rc);
	}
	CID_TRY(cid_account_delete_own(cid_ctx_store(ctx), sess->account_id, now, out));
	*notice = CID_SECURITY_DELETED;
out:
	cid_account_free(a);
	return rc;
}

/*
 * The page after the deletion: the cookie cleared, what is gone and what
 * stays, and the front-channel frames of the session's services.
 */
static enum cid_err deleted_page(struct cid_ctx *ctx, const char *locale,
				 struct cid_logout_done *frames, struct cid_reply *reply)
{
	enum cid_err rc = CID_OK;
	json_t *data = json_pack("{s:s, s:b}", "client_name", "", "deleted", 1);

	CID_ENSURE(data != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_reply_cookie(reply, cid_ctx_config(ctx), CID_COOKIE_SESSION, "", 0));
	CID_TRY(cid_logout_page_frames(frames, data, reply));
	rc = cid_reply_page(reply, 200, CID_PAGE_LOGGED_OUT, data, locale);
	data = NULL;
out:
	json_decref(data);
	return rc;
}

enum cid_err account_reauth_redirect(struct cid_reply *reply, const char *locale)
{
	static const char *const names[] = {"reauth", "lang"};
	const char *values[] = {"1", locale};

	return cid_reply_answered(
	    cid_reply_redirect(reply, 303, "/account/login", names, values, 2));
}

enum cid_err account_erase_answer(struct cid_ctx *ctx, const struct cid_request *req,
				  const struct cid_session *sess, const char *locale,
				  struct cid_reply *reply, enum cid_security_notice *notice)
{
	struct cid_logout_done frames = {0};
	enum cid_err rc;

	rc = cid_security_delete_account(ctx, sess, cid_params_get(&req->params, "confirm"),
					 req->session_cookie, req->now, notice, &frames, NULL);
	if (rc == CID_OK)
		rc = cid_reply_answered(deleted_page(ctx, locale, &frames, reply));
	cid_logout_done_clear(&frames);
	if (rc == CID_OK || *notice == CID_SECURITY_DELETED)
		return rc;
	if (rc == CID_ERR_REFUSED && *notice == CID_SECURITY_LOGIN_STALE)
		return account_reauth_redirect(reply, locale);
	/* the wrong confirmation: the page says so */
	return rc == CID_ERR_REFUSED ? CID_OK : rc;
}
