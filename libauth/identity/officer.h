/*
 * officer: privacy-officer accounts and their console sessions.
 *
 * A privacy officer audits the log (audit.h) through the console (console.h).
 * An officer is not a citizen: officers live in their own database
 * (CID_DB_OFFICERS, key = name), so no citizen's credentials can ever open
 * the console, and an officer cannot log in as a citizen. Record:
 *   {"name", "password" (argon2id PHC string), "totp": {"secret" (base32),
 *    "last_step"}, "created_at", "disabled": bool}
 * Every officer has a TOTP seed from creation: the console has no
 * password-only login. Names are 1..CID_OFFICER_MAX_NAME bytes of
 * [A-Za-z0-9._-].
 *
 * Login costs one argon2id verification whether or not the officer exists
 * (unknown names verify against a dummy hash), and every failure (unknown,
 * wrong password, wrong or replayed code, disabled) is the same
 * CID_ERR_DENIED. Failures are throttled as citizens' are (throttle.h): per
 * name and client address (any name, officer or not) and per address, the
 * address counter shared with citizens' logins; wrong codes after a right
 * password also count in the officer's run of wrong codes, which at
 * CID_CODE_MAX_FAILURES refuses the login until cid_officer_unlock. The code
 * is checked, its step spent, the counters updated and the session created
 * in one write transaction, so a code opens at most one session.
 *
 * A console session (CID_DB_OFFICER_SESSIONS, key cid_secret_hash(cookie))
 * is {"name", "created_at", "expires_at"}: an absolute lifetime of
 * CID_OFFICER_SESSION_TTL from login, never extended. A session of an officer
 * disabled since does not check. The CSRF token of a session's forms is
 * derived from the cookie (cid_officer_csrf), so it needs no storage and a
 * store dump (which holds only the cookie's hash) does not reveal it.
 * Thread-safe (all state in the store).
 */
#ifndef CID_OFFICER_H
#define CID_OFFICER_H

#include "bounds.h"
#include "crypto.h"
#include "err.h"
#include "store.h"

#include <jansson.h>
#include <stdint.h>

#define CID_OFFICER_TOTP_ISSUER "civicid-officer"

/* True if name is a well-formed officer name (see above). */
bool cid_officer_name_ok(const char *name);

/*
 * Creates officer name with password (hashed with params) and a new TOTP
 * seed, at now. *secret_b32_out (CID_TOTP_SECRET_CHARS base32 characters) and
 * *uri_out (the otpauth:// URI, issuer CID_OFFICER_TOTP_ISSUER) are new
 * strings written only on success: show them once, then wipe and free them.
 * Either may be NULL when not wanted.
 * Errors: CID_ERR_INVALID (name syntax, password length), CID_ERR_EXISTS,
 * CID_ERR_CRYPTO, CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_officer_add(struct cid_store *s,
					    const struct cid_argon2_params *params,
					    const char *name, const char *password, int64_t now,
					    char **secret_b32_out, char **uri_out);

/*
 * Every officer ordered by name, without secrets: *out is a new array of
 * {"name", "created_at", "disabled"}. Errors: CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_officer_list(struct cid_store *s, json_t **out);

/*
 * Disables officer name: login fails and the sessions they hold stop
 * checking at once (and are deleted). Idempotent.
 * Errors: CID_ERR_NOTFOUND, CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_officer_disable(struct cid_store *s, const char *name);

/*
 * Clears officer name's run of wrong codes (`civicid audit officer unlock
 * NAME`). Idempotent. Errors: CID_ERR_NOTFOUND, CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err cid_officer_unlock(struct cid_store *s, const char *name);

/*
 * Logs officer name in with password and TOTP code, from remote address addr
 * (NULL or "": none) at now. On success cookie_out receives the new session
 * cookie value (a secret: set it HttpOnly, wipe it after use).
 * Errors: CID_ERR_INVALID (empty or over-long name or password, code not
 * CID_TOTP_DIGITS digits, addr too long, now < 0: refused before the store is
 * read, not counted), CID_ERR_THROTTLED (*retry_after, may be NULL, set to the
 * seconds to wait; nothing verified), CID_ERR_LOCKED (the right password, but
 * the officer's run of wrong codes reached CID_CODE_MAX_FAILURES: refused
 * until cid_officer_unlock), CID_ERR_DENIED (anything else wrong),
 * CID_ERR_STORE, CID_ERR_CRYPTO, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err
cid_officer_login(struct cid_store *s, const struct cid_argon2_params *params, const char *name,
		  const char *password, const char *code, const char *addr, int64_t now,
		  char cookie_out[CID_TOKEN_CHARS + 1], int64_t *retry_after);

/*
 * The officer of a live session cookie (any bytes, may be NULL) at now, into
 * name_out. Errors: CID_ERR_NOTFOUND (no such session, malformed cookie, or
 * the officer is gone or disabled), CID_ERR_EXPIRED (past its lifetime),
 * CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err cid_officer_session(struct cid_store *s, const char *cookie,
						int64_t now,
						char name_out[CID_OFFICER_MAX_NAME + 1]);

/*
 * The CSRF token of the session of cookie (a well-formed session cookie):
 * base64url SHA-256 of a label and the cookie, CID_TOKEN_CHARS characters.
 */
void cid_officer_csrf(const char *cookie, char out[CID_TOKEN_CHARS + 1]);

/* Ends the session of cookie. Errors: CID_ERR_NOTFOUND (none: already ended), CID_ERR_STORE. */
CID_MUST_CHECK enum cid_err cid_officer_logout(struct cid_store *s, const char *cookie);

/*
 * Deletes the console sessions CID_CLOCK_SKEW past their expiry at now
 * (cid_store_sweep, for the janitor); *removed (may be NULL): how many.
 * Errors: CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_officer_session_sweep(struct cid_store *s, int64_t now,
						      size_t *removed);

#endif
