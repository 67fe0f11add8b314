/*
 * account_session: what every account page begins with, below the pages
 * (account_pages.c) and the changes (account_consent.c), which both call it:
 * the page's language and the citizen's live session, or the signed-out page.
 * Nothing here reads a record other than the session of the request's cookie.
 */
#include "account_pages_int.h"

#include "crypto.h"
#include "reply.h"
#include "session.h"

#include <jansson.h>
#include <string.h>

/*
 * The page's language: the pages' one rule (cid_request_locale: ?lang=, the
 * remembered choice, the browser's Accept-Language, the default). Static.
 */
const char *account_page_locale(struct cid_ctx *ctx, const struct cid_request *req)
{
	return cid_request_locale(cid_ctx_config(ctx), req);
}

static enum cid_err signed_out(struct cid_reply *reply, const char *locale)
{
	return cid_reply_page(
	    reply, 401, CID_PAGE_ACCOUNT,
	    json_pack("{s:b, s:b, s:s}", "signed_in", 0, "signed_out", 1, "lang", locale), locale);
}

/*
 * The live session of the request's cookie into *sess; CID_ANSWERED with the
 * signed-out page in reply when there is none.
 */
enum cid_err account_find_session(struct cid_ctx *ctx, const struct cid_request *req,
				  const char *locale, struct cid_reply *reply,
				  struct cid_session *sess)
{
	enum cid_err rc = CID_ERR_NOTFOUND;

	/* only our own token syntax reaches the store */
	if (req->session_cookie != NULL && cid_request_is_token(req->session_cookie))
		rc = cid_session_get(cid_ctx_store(ctx), req->session_cookie, req->now, sess);
	/* a session of a citizen disabled since is no session either */
	if (rc == CID_ERR_NOTFOUND || rc == CID_ERR_EXPIRED || rc == CID_ERR_REVOKED)
		return cid_reply_answered(signed_out(reply, locale));
	return rc;
}

/* True if req carries the account pages' form token of this browser's session. */
bool account_form_ok(const struct cid_request *req)
{
	const char *csrf = cid_params_get(&req->params, "csrf");
	char want[CID_TOKEN_CHARS + 1];
	bool ok;

	if (!req->post || csrf == NULL || !cid_request_is_token(req->csrf_cookie))
		return false;
	cid_session_form_token(req->session_cookie, req->csrf_cookie, want);
	ok = want[0] != '\0' &&
	     cid_ct_streq(csrf, strnlen(csrf, CID_TOKEN_CHARS + 1), want, strlen(want));
	cid_wipe(want, sizeof(want));
	return ok;
}
