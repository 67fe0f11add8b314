/*
 * account_erase: a citizen deletes their own account from the security page
 * (APPI Art. 35, GDPR Art. 17), as Keycloak's "delete account" action does:
 * only right after signing in, and only once they have typed their username.
 * The deletion itself is cid_account_delete_own (account_delete.h): one
 * transaction, the same as the operator's `user delete`, its entry naming
 * the citizen as the one who asked.
 *
 *   POST /account/security  action=delete_account, confirm (the username)
 *       Reached through cid_security_post (account_security.h), so the
 *       session and the form's csrf are checked as for every action there,
 *       and the account id is the session's, never the form's. Then:
 *       - the session's login older than CID_REAUTH_MAX_AGE, or, for a
 *         citizen with a second factor enrolled, not at the mfa level
 *         (cid_erase_login_strong): 303 to /account/login?reauth=1&lang=..
 *         (account_login.h), which asks for a new login (prompt=login:
 *         password or an upstream provider alike; and the one-time code of
 *         an enrolled citizen) and comes back to
 *         /account/security?notice=signed_in_again;
 *       - confirm not the username: 303 to
 *         /account/security?notice=delete_confirm_wrong&lang=.., nothing deleted;
 *       - else the account is deleted, the session cookie cleared, and the
 *         page says so and what stays: 200 CID_PAGE_LOGGED_OUT with data
 *         {"client_name": "", "deleted": true, "frames"}: the front-channel
 *         logout frames of the services of this browser's session, as a
 *         logout's page loads them (logout_notify.h).
 * Thread-safe.
 */
#ifndef CID_ACCOUNT_ERASE_H
#define CID_ACCOUNT_ERASE_H

#include "account_delete.h"
#include "account_security.h"
#include "cid.h"
#include "err.h"
#include "logout_notify.h"
#include "session.h"

#include <stdbool.h>
#include <stdint.h>

/*
 * True if the login of sess is recent enough at now for a deletion or the
 * enrolment of a second factor: its auth_time at most CID_REAUTH_MAX_AGE
 * seconds before now (a session's auth_time moves only when the citizen
 * signs in again or steps up with a factor already enrolled).
 */
bool cid_erase_login_fresh(const struct cid_session *sess, int64_t now);

/*
 * True if the login of sess is strong and recent enough at now to delete the
 * account or change its password: fresh (cid_erase_login_fresh) and, for a
 * citizen with a second factor enrolled (has_totp, struct cid_account's), at
 * the mfa level: acr urn:civicid:acr:mfa (or :high; an "otp" in amr alone,
 * which an upstream may pass on at a lower level, does not count). A password alone (a phished one)
 * is not enough where a code is enrolled. A password re-login sets acr back to password and a
 * step-up moves auth_time (cid_session_upgrade), so auth_time is the time of the authentication
 * that reached the level.
 */
bool cid_erase_login_strong(const struct cid_session *sess, bool has_totp, int64_t now);

/*
 * The rule of deleting one's own account: the login of sess must be fresh
 * and, where a second factor is enrolled, at the mfa level
 * (cid_erase_login_strong), then confirm must be exactly the username of
 * sess's citizen; then the browser's own session (cookie, may be NULL) ends
 * as a logout ends it (cid_logout_end, cause CID_LOGOUT_CAUSE_DELETE: its
 * back-channel notices queued, its front-channel frames into *frames, may
 * be NULL; clear it with cid_logout_done_clear), and
 * cid_account_delete_own(sess->account_id) at now ends the citizen's other
 * sessions and deletes the rest; *out (may be NULL) gets what it removed.
 * A failure of the deletion after the logout leaves the citizen signed
 * out, the account whole. *notice is always set: CID_SECURITY_DELETED on
 * success.
 * Errors: CID_ERR_REFUSED (nothing deleted; *notice LOGIN_STALE: sign in
 * again first, DELETE_CONFIRM_WRONG: confirm is NULL or not the username),
 * CID_ERR_NOTFOUND (no such citizen), those of cid_account_delete_own.
 */
CID_MUST_CHECK enum cid_err
cid_security_delete_account(struct cid_ctx *ctx, const struct cid_session *sess,
			    const char *confirm, const char *cookie, int64_t now,
			    enum cid_security_notice *notice, struct cid_logout_done *frames,
			    struct cid_account_deleted *out);

#endif
