/*
 * account_pages_int.h: what the files of the citizen's account pages share
 * (account_pages.c, the pages; account_consent.c, the changes), defined in
 * account_session.c, below both; and the security page's deletion, defined
 * in account_erase.c. Not API.
 */
#ifndef CID_ACCOUNT_PAGES_INT_H
#define CID_ACCOUNT_PAGES_INT_H

#include "account_security.h"
#include "cid.h"
#include "err.h"
#include "reply.h"
#include "session.h"

#include <stdbool.h>

/* The page's language: the pages' one rule (cid_request_locale). Static. */
const char *account_page_locale(struct cid_ctx *ctx, const struct cid_request *req);

/*
 * The live session of the request's cookie into *sess; CID_ANSWERED with the
 * signed-out page (401) in reply when there is none. Errors: CID_ERR_STORE,
 * CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err account_find_session(struct cid_ctx *ctx, const struct cid_request *req,
						 const char *locale, struct cid_reply *reply,
						 struct cid_session *sess);

/*
 * True if req is a POST carrying the account pages' form token of this
 * browser's session (cid_session_form_token of the session cookie and the
 * browser's CSRF cookie, compared in constant time).
 */
bool account_form_ok(const struct cid_request *req);

/*
 * Appends {"label_key": "attr.BASE"} for attribute (a "#lang" tag is
 * dropped) to list, the item also into *item_out (borrowed; may be NULL).
 * Errors: CID_ERR_TOOBIG (a name too long for a key), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err account_add_label(json_t *list, const char *attribute,
					      json_t **item_out);

/*
 * The redirect to a new login (/account/login?reauth=1, back to the
 * security page) that a stale login gets for what needs a fresh one
 * (cid_erase_login_fresh; at the mfa level where a code is enrolled,
 * cid_erase_login_strong). CID_ANSWERED, or CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err account_reauth_redirect(struct cid_reply *reply, const char *locale);

/*
 * The security page's delete_account action (account_erase.c) for the
 * citizen of sess: CID_ANSWERED with the deleted page or the redirect to a
 * new login in reply, or CID_OK with *notice to redirect with (the
 * confirmation was wrong). Errors: as cid_security_delete_account.
 */
CID_MUST_CHECK enum cid_err account_erase_answer(struct cid_ctx *ctx, const struct cid_request *req,
						 const struct cid_session *sess, const char *locale,
						 struct cid_reply *reply,
						 enum cid_security_notice *notice);

#endif
