/*
 * account_security: the citizen's security page, behind the SSO session
 * cookie like the account page (account_pages.h), linked from it.
 *
 *   GET /account/security[?notice=KIND][&lang=ja|en]
 *       CID_PAGE_ACCOUNT_SECURITY: where the citizen is signed in (their
 *       live sessions, cid_session_list: started, last used, the coarse
 *       browser, the services that took part, which one is this browser),
 *       the password form, the second factor (enrolled, pending with its QR
 *       code and secret, or none), and the recent login attempts
 *       (logins.h), and the upstream identities linked to the account
 *       (idp.h: the upstream's label, linked since) with an unlink button.
 *   POST /account/security  (form: csrf, action, lang?, and per action:)
 *       end_session (sid)    ends one session, through cid_logout_end, as
 *                            a logout at a service does: its services are
 *                            told (back-channel; front-channel when it is
 *                            this browser's)
 *       end_others           ends every session but this browser's
 *       end_all              ends every session, this browser's last
 *       password (old, new, confirm)   cid_security_change_password (a
 *                            citizen with a second factor whose login is
 *                            not fresh at the mfa level: 303 to a new
 *                            login, as for delete_account)
 *       totp_begin           a new pending secret (cid_security_totp_begin)
 *       totp_confirm (code)  cid_security_totp_confirm
 *       totp_remove (code)   cid_account_totp_remove
 *       unlink (issuer, sub) cid_idp_unlink: not the last way in of a
 *                            citizen with no password
 *       delete_account (confirm)   deletes the account behind a fresh
 *                            login (account_erase.h says what it answers)
 *       CSRF: csrf must be the session's form token, as on /account. Answers
 *       303 to /account/security?notice=KIND&lang=.. (Post/Redirect/Get),
 *       the page then says what happened (cid_security_notice_name); ending
 *       this browser's session answers the logged-out page instead (200,
 *       the session cookie cleared, the front-channel frames of its
 *       services). 401 signed-out page without a session, 403 error page
 *       for a missing or wrong csrf, 400 error page for an unknown action.
 *
 * Every action is keyed by the session's account id, never by the form: a
 * sid of another citizen's session is as unknown as a made-up one.
 *
 * CID_PAGE_ACCOUNT_SECURITY data:
 *   {"signed_in", "lang", "csrf", "notice"? ([{"key", "error"}]),
 *    "sessions": [{"sid", "current", "created", "created_local", "last_used",
 *        "last_used_local", "device" ("" unknown), "services": [{"name"}]}],
 *    "has_others" (a session other than this browser's is listed),
 *    "totp_enrolled", "totp_none", "totp_pending"? ({"secret", "uri",
 *        "qr": {"size", "runs": [{"x","y","w"}]}}: a list of one; only in
 *        the session that began it, while its login is fresh,
 *        cid_security_totp_pending),
 *    "logins": [{"time", "local_time", "ok", "method_key"
 *        ("security_method_pwd|otp"), "device"}], "has_logins", "no_logins",
 *    "min_password" (CID_MIN_PASSWORD),
 *    "linked": [{"name" (the upstream's label in the page's language,
 *        cid_idp_labels; else the issuer), "issuer", "sub", "since",
 *        "since_local"}], "has_linked",
 *    "username" (what to type to delete the account), "login_fresh" (the
 *        login is recent and strong enough to delete without signing in
 *        again, cid_erase_login_strong), "login_needs_code" (a second
 *        factor is enrolled and the login is not fresh at the mfa level: the
 *        new login asks the one-time code, before a deletion or a password
 *        change)}
 * Thread-safe.
 */
#ifndef CID_ACCOUNT_SECURITY_H
#define CID_ACCOUNT_SECURITY_H

#include "cid.h"
#include "err.h"
#include "logout_notify.h"
#include "reply.h"
#include "session.h"

#include <stddef.h>
#include <stdint.h>

/* What an action did, or why it did nothing; the page's message is security_notice_NAME. */
enum cid_security_notice {
	CID_SECURITY_NONE,
	CID_SECURITY_SESSION_ENDED,	/* done: one session ended */
	CID_SECURITY_OTHERS_ENDED,	/* done: every other session ended */
	CID_SECURITY_PASSWORD_CHANGED,	/* done: new password, other sessions ended */
	CID_SECURITY_TOTP_PENDING,	/* done: a new secret waits for its code */
	CID_SECURITY_TOTP_ENROLLED,	/* done: the second factor is on */
	CID_SECURITY_TOTP_REMOVED,	/* done: the second factor is off */
	CID_SECURITY_UNLINKED,		/* done: an upstream identity is unlinked */
	CID_SECURITY_SIGNED_IN_AGAIN,	/* done: a fresh login, to delete the account */
	CID_SECURITY_DELETED,		/* done: the account is deleted (account_erase.h) */
	CID_SECURITY_SESSION_UNKNOWN,	/* refused: no such session of the citizen's */
	CID_SECURITY_PASSWORD_WRONG,	/* refused: the current password is wrong */
	CID_SECURITY_PASSWORD_WEAK,	/* refused: the new one breaks cid_account_password_ok */
	CID_SECURITY_PASSWORD_MISMATCH, /* refused: new and confirmation differ */
	CID_SECURITY_THROTTLED,		/* refused: too many wrong passwords or codes, wait */
	CID_SECURITY_CODE_WRONG,	/* refused: wrong, used or malformed code */
	CID_SECURITY_CODE_LOCKED,	/* refused: too many wrong codes; an operator unlocks */
	CID_SECURITY_TOTP_EXPIRED,	/* refused: nothing pending (any more): start again */
	CID_SECURITY_TOTP_STATE,	/* refused: already enrolled, or not enrolled */
	CID_SECURITY_LINK_UNKNOWN,	/* refused: no such link of the citizen's */
	CID_SECURITY_LINK_LAST,		/* refused: the last way in of a citizen with no password */
	CID_SECURITY_LOGIN_STALE,	/* refused: the login is too old to delete: sign in again */
	CID_SECURITY_DELETE_CONFIRM_WRONG, /* refused: the typed username is not the citizen's */
	CID_SECURITY_NOTICE_COUNT
};

/* The name of a notice in the redirect ("session_ended", ...), NULL for NONE. Static. */
const char *cid_security_notice_name(enum cid_security_notice notice);

/*
 * Ends the session sid of account_id at now (cause CID_LOGOUT_CAUSE_ACCOUNT)
 * through cid_logout_end, the one way a session ends on purpose: its
 * services' back-channel notices are queued, and *done (may be NULL; clear
 * it with cid_logout_done_clear) gets its front-channel frames.
 * Errors: CID_ERR_NOTFOUND (no live session sid of account_id: another
 * citizen's, an ended or a made-up one), those of cid_session_list and
 * cid_logout_end.
 */
CID_MUST_CHECK enum cid_err cid_security_end_session(struct cid_ctx *ctx, const char *account_id,
						     const char *sid, int64_t now,
						     struct cid_logout_done *done);

/*
 * Ends every session of account_id but keep_sid (NULL: every one) at now,
 * however many there are, in one transaction (cid_logout_end_account, cause
 * CID_LOGOUT_CAUSE_ACCOUNT): the back-channel notices of the live ones are
 * queued, their frames dropped (they are other browsers'). *ended (may be
 * NULL): how many ended (expired ones too).
 * Errors: those of cid_logout_end_account.
 */
CID_MUST_CHECK enum cid_err cid_security_end_others(struct cid_ctx *ctx, const char *account_id,
						    const char *keep_sid, int64_t now,
						    size_t *ended);

/* A password change the citizen asks for (strings borrowed). */
struct cid_password_change {
	const char *account_id; /* the session's citizen */
	const char *old_password;
	const char *new_password;
	const char *confirm;
	const char *addr;     /* the client's address, for the login throttle; NULL: none */
	const char *keep_sid; /* the session that stays (this browser's); NULL: none */
	const struct cid_session *sess; /* the session asking, account_id's; NULL: none (a
					   citizen with a second factor is then refused) */
	int64_t now;
};

/*
 * The rule of changing a password on the security page: the confirmation
 * must equal the new password, which must pass cid_account_password_ok
 * (both checked before any hash); for a citizen with a second factor
 * enrolled, the login of ch->sess must be fresh and at the mfa level
 * (cid_erase_login_strong, as for a deletion: a phished password alone
 * must not sign the owner out everywhere); the old password is then checked as a
 * login is (cid_account_authenticate: a wrong one counts for the throttle
 * of this username and address); then the new one is stored
 * (cid_account_set_password, the same argon2id parameters as the CLI) and
 * every other session of the citizen ends (cid_security_end_others), so a
 * browser that knew the old password is signed out everywhere.
 * *notice is always set. Errors: CID_ERR_REFUSED (*notice: MISMATCH, WEAK,
 * LOGIN_STALE (sign in again, with the one-time code), WRONG, THROTTLED, and *retry_after (may be
 * NULL) the seconds to wait), CID_ERR_NOTFOUND (no such citizen), CID_ERR_STORE, CID_ERR_CRYPTO,
 * CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_security_change_password(struct cid_ctx *ctx,
							 const struct cid_password_change *ch,
							 enum cid_security_notice *notice,
							 int64_t *retry_after);

/*
 * The rules of enrolling a second factor on the security page: the login of
 * sess must be fresh (cid_erase_login_fresh, as for a deletion: a browser
 * left signed in, or a stolen cookie, must not add a factor of its own,
 * which would lock the citizen out and whose step-up would then pass for a
 * fresh login; Keycloak asks one before OTP setup too); then a new pending
 * secret begun by sess (cid_account_totp_begin; it replaces one another
 * session began), or the confirmation with code of the one sess began
 * (cid_account_totp_confirm: one begun in another session is as if
 * nothing were pending, TOTP_EXPIRED). *notice is always set: TOTP_PENDING
 * and TOTP_ENROLLED on success.
 * Errors: CID_ERR_REFUSED (nothing changed; *notice LOGIN_STALE: sign in
 * again first, TOTP_STATE: a factor is already enrolled, TOTP_EXPIRED: no
 * pending secret, CODE_WRONG, CODE_LOCKED, THROTTLED), and the store's
 * (*notice NONE).
 */
CID_MUST_CHECK enum cid_err cid_security_totp_begin(struct cid_store *s,
						    const struct cid_session *sess, int64_t now,
						    enum cid_security_notice *notice);
CID_MUST_CHECK enum cid_err cid_security_totp_confirm(struct cid_store *s,
						      const struct cid_session *sess,
						      const char *code, int64_t now,
						      enum cid_security_notice *notice);

/*
 * The secret pending for sess and its URI (cid_account_totp_pending), for
 * the page to show: only to the session that began it, and only while its
 * login is fresh (the rule of cid_security_totp_begin), so a stale or
 * another browser signed in as the citizen never reads the key the citizen
 * is about to confirm. Strings as of cid_account_totp_pending.
 * Errors: CID_ERR_NOTFOUND (the login is not fresh, or nothing pending for
 * sess), and those of cid_account_totp_pending.
 */
CID_MUST_CHECK enum cid_err cid_security_totp_pending(struct cid_store *s,
						      const struct cid_session *sess, int64_t now,
						      char **secret_b32_out, char **uri_out);

/* GET /account/security (see above). Errors (no reply): CID_ERR_STORE, CID_ERR_NOMEM. */
CID_MUST_CHECK enum cid_err cid_security_page(struct cid_ctx *ctx, const struct cid_request *req,
					      struct cid_reply *reply);

/* POST /account/security (see above). Errors (no reply): CID_ERR_STORE, CID_ERR_NOMEM, ... */
CID_MUST_CHECK enum cid_err cid_security_post(struct cid_ctx *ctx, const struct cid_request *req,
					      struct cid_reply *reply);

/* The rows of the endpoint table (endpoints.h) for the page above, in *n rows. Static. */
const struct cid_endpoint *cid_security_endpoints(size_t *n);

#endif
