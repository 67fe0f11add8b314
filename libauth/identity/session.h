/*
 * session: SSO sessions of citizens.
 *
 * The browser holds a random cookie value; the store keys the session by
 * cid_secret_hash(cookie) (CID_DB_SESSIONS), so a store dump reveals no usable
 * cookie. The session's public id `sid` (the ID-token claim, OIDC Front/Back-
 * Channel Logout) is a separate random value. A session records how the citizen
 * authenticated (acr, amr, auth_time) and the clients that received tokens in
 * it, for logout, and the citizen's generation (account.h) it was made in: a
 * session is live only while its citizen is active and has not been disabled
 * since, so disabling a citizen ends all their sessions at once. The cookie
 * is renewed when the citizen steps up (OWASP ASVS V3.2.1); the old one stops
 * working. A session is found by its sid or its citizen through an index
 * (CID_DB_SESSION_INDEX, session_index.c) written and deleted with it, never
 * by reading the city's sessions. Thread-safe.
 */
#ifndef CID_SESSION_H
#define CID_SESSION_H

#include "bounds.h"
#include "err.h"
#include "store.h"
#include "useragent.h"

#include <jansson.h>
#include <stdint.h>

/* Authentication context classes (acr): policy.h's levels 1, 2 and 3. */
#define CID_ACR_PASSWORD "urn:civicid:acr:password"
#define CID_ACR_MFA	 "urn:civicid:acr:mfa"
#define CID_ACR_HIGH	 "urn:civicid:acr:high" /* an upstream login mapped to level 3 (idp.h) */

struct cid_session {
	char sid[CID_TOKEN_CHARS + 1];
	char account_id[CID_ID_CHARS + 1];
	int64_t auth_time;
	int64_t expires_at;
	char acr[32];		   /* "urn:civicid:acr:password" ... */
	char amr[CID_MAX_AMR][16]; /* "pwd", "otp" (RFC 8176) */
	size_t n_amr;
	int64_t generation;	       /* the citizen's, when the session was made (account.h) */
	int64_t created_at;	       /* when it started (auth_time moves on a step-up); a record
					  from before it was kept: its auth_time */
	int64_t last_used;	       /* when a service last signed the citizen in with it (at
					  least created_at) */
	char device[CID_UA_LABEL_MAX]; /* the browser it started in, coarse
					  (useragent.h); "" unknown */
};

/*
 * Starts a session for account_id authenticated at now by the methods in amr
 * with level acr; lifetime ttl seconds, in the citizen's current generation.
 * cookie_out receives the new cookie value (a secret: set it HttpOnly and wipe
 * it after use); *out (may be NULL) gets the session.
 * Errors: CID_ERR_INVALID (n_amr over CID_MAX_AMR, long acr), CID_ERR_NOTFOUND
 * (no such citizen), CID_ERR_DISABLED (the citizen is not active),
 * CID_ERR_CRYPTO, CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err cid_session_new(struct cid_store *s, const char *account_id,
					    const char *acr, const char *const *amr, size_t n_amr,
					    int64_t now, int64_t ttl,
					    char cookie_out[CID_TOKEN_CHARS + 1],
					    struct cid_session *out);

/*
 * cid_session_new, started from the browser whose User-Agent header is ua
 * (NULL: unknown; only its coarse label, cid_useragent_label, is kept, for
 * the citizen's list of their sessions). Errors: as cid_session_new.
 */
CID_MUST_CHECK enum cid_err cid_session_start(struct cid_store *s, const char *account_id,
					      const char *acr, const char *const *amr, size_t n_amr,
					      int64_t now, int64_t ttl, const char *ua,
					      char cookie_out[CID_TOKEN_CHARS + 1],
					      struct cid_session *out);

/*
 * cid_session_start for an authentication made at auth_time, before now: a
 * login at an upstream identity provider, whose session there stood in for a
 * new one (its ID token's auth_time). The session's auth_time (what the
 * fresh-login rules and max_age read, and its ID tokens say) is auth_time;
 * now still sets when it started, was last used and expires.
 * Errors: as cid_session_start; CID_ERR_INVALID for auth_time not in
 * [1, now].
 */
CID_MUST_CHECK enum cid_err cid_session_start_at(struct cid_store *s, const char *account_id,
						 const char *acr, const char *const *amr,
						 size_t n_amr, int64_t auth_time, int64_t now,
						 int64_t ttl, const char *ua,
						 char cookie_out[CID_TOKEN_CHARS + 1],
						 struct cid_session *out);

/*
 * Finds the live session of a cookie value (any bytes; bounded by the caller).
 * Errors: CID_ERR_NOTFOUND (no such session, or malformed cookie),
 * CID_ERR_EXPIRED (past expires_at; the record is left for cleanup),
 * CID_ERR_REVOKED (its citizen is gone, disabled, or was disabled since),
 * CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err cid_session_get(struct cid_store *s, const char *cookie, int64_t now,
					    struct cid_session *out);

/*
 * Raises the session of cookie to acr with the methods amr (a step-up: the
 * citizen just proved a second factor; or a new login of the same citizen in
 * the same browser, oidc_login.c) at now, which becomes its auth_time,
 * under a new cookie: cookie_out receives it (a secret, as of cid_session_new)
 * and the old cookie finds nothing from now on (ASVS V3.2.1). sid, account,
 * clients and lifetime are kept. *out (may be NULL) gets the session.
 * Errors: CID_ERR_INVALID (as cid_session_new), CID_ERR_NOTFOUND,
 * CID_ERR_EXPIRED, CID_ERR_REVOKED (as cid_session_get), CID_ERR_CRYPTO,
 * CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err cid_session_upgrade(struct cid_store *s, const char *cookie,
						const char *acr, const char *const *amr,
						size_t n_amr, int64_t now,
						char cookie_out[CID_TOKEN_CHARS + 1],
						struct cid_session *out);

/*
 * cid_session_upgrade for an authentication made at auth_time, before now
 * (as of cid_session_start_at), which becomes the session's auth_time; now
 * decides whether the session is still live. Errors: as cid_session_upgrade;
 * CID_ERR_INVALID for auth_time not in [1, now].
 */
CID_MUST_CHECK enum cid_err cid_session_upgrade_at(struct cid_store *s, const char *cookie,
						   const char *acr, const char *const *amr,
						   size_t n_amr, int64_t auth_time, int64_t now,
						   char cookie_out[CID_TOKEN_CHARS + 1],
						   struct cid_session *out);

/*
 * The token of a form that acts on the session of cookie (logout): the
 * browser's CSRF token csrf bound to the session, base64url SHA-256 of a
 * label, csrf and cookie, CID_TOKEN_CHARS characters, into out ("" if it
 * cannot be computed). Knowing the CSRF cookie (planted by a sibling host,
 * say) is not enough to forge it: the session cookie is HttpOnly and secret.
 * Both inputs are bounded to CID_TOKEN_CHARS. Thread-safe.
 */
void cid_session_form_token(const char *cookie, const char *csrf, char out[CID_TOKEN_CHARS + 1]);

/* Records that client_id received tokens in the session of cookie. Idempotent. */
CID_MUST_CHECK enum cid_err cid_session_add_client(struct cid_store *s, const char *cookie,
						   const char *client_id);

/*
 * cid_session_add_client at now, which also becomes the session's last use
 * (written when it is new or the last one is over CID_SESSION_TOUCH seconds
 * old, so a burst of sign-ins costs one write). Errors: as
 * cid_session_add_client.
 */
CID_MUST_CHECK enum cid_err cid_session_add_client_at(struct cid_store *s, const char *cookie,
						      const char *client_id, int64_t now);

/* How stale a session's last use may be before a sign-in writes it again. */
#define CID_SESSION_TOUCH 60

/* The most sessions of one citizen cid_session_list returns. */
#define CID_SESSION_LIST_MAX 32

/* One of a citizen's sessions, as cid_session_list returns it. */
struct cid_session_entry {
	struct cid_session sess;
	json_t *clients; /* the client_ids that received tokens in it: an array, owned */
};

/*
 * The live sessions of account_id at now (not expired, of the citizen's
 * current generation), read through the index (that citizen's sessions and
 * no other), the most recently used first, at most
 * CID_SESSION_LIST_MAX, into *out (free with cid_session_list_free; NULL
 * when *n is 0) and *n. A damaged record is skipped. Written only on
 * success. Errors: CID_ERR_INVALID (account_id NULL), CID_ERR_STORE,
 * CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_session_list(struct cid_store *s, const char *account_id,
					     int64_t now, struct cid_session_entry **out,
					     size_t *n);

/* Frees what cid_session_list returned (n entries). NULL is a no-op. */
void cid_session_list_free(struct cid_session_entry *list, size_t n);

/*
 * Ends the session of cookie (cid_session_end) or the one whose public id is
 * sid (cid_session_end_sid, through the index: O(log n)). Ending a missing
 * session is CID_ERR_NOTFOUND, which logout treats as done; CID_ERR_STORE: the
 * index names a session whose record has another sid.
 */
CID_MUST_CHECK enum cid_err cid_session_end(struct cid_store *s, const char *cookie);
CID_MUST_CHECK enum cid_err cid_session_end_sid(struct cid_store *s, const char *sid);

/*
 * Whether the session whose public id is sid lives at now, read in the
 * caller's transaction through the index: CID_OK when it is there and not
 * expired (its citizen is not checked: the caller's grant checks that).
 * Errors: CID_ERR_NOTFOUND (ended, or never was: any sid is safe to ask),
 * CID_ERR_EXPIRED, CID_ERR_STORE (a damaged record, or one whose sid is not
 * the one the index named), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_session_sid_live_txn(struct cid_txn *txn, const char *sid,
						     int64_t now);

/*
 * Ends a session inside the caller's write transaction (single logout,
 * logout.h, queues its notices in the same one): the session of cookie, or,
 * when cookie is NULL, the one whose public id is sid (through the index, in
 * O(log n)). *out gets the session as stored (expired or of a past
 * generation alike: the caller decides what that means) and *clients (new
 * reference, an array of client_ids) the clients that received tokens in it.
 * Errors: CID_ERR_NOTFOUND (no such session, a malformed cookie or sid),
 * CID_ERR_STORE (a damaged record, or one whose sid is not the one the
 * index named), CID_ERR_INVALID (a read transaction), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_session_end_txn(struct cid_txn *txn, const char *cookie,
						const char *sid, struct cid_session *out,
						json_t **clients);

/*
 * Ends every session of account_id but the one whose sid is keep_sid (NULL:
 * none kept) inside the caller's write transaction, reading that citizen's
 * sessions and no other (through the index: O(log n + their number)), calling
 * fn(session, its clients, arg) for each first; fn's error stops it and is
 * returned. A damaged record is skipped. *n (may be NULL): how many were
 * ended.
 * Errors: fn's, CID_ERR_STORE (including a session the index names as the
 * citizen's whose record names another), CID_ERR_INVALID (a read
 * transaction), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_session_end_account_txn(
    struct cid_txn *txn, const char *account_id, const char *keep_sid,
    enum cid_err (*fn)(const struct cid_session *sess, const json_t *clients, void *arg), void *arg,
    size_t *n);

/*
 * Deletes, with their index keys, the sessions CID_CLOCK_SKEW past their
 * expires_at at now (cid_store_sweep, for the janitor; cid_session_get
 * refuses them from expires_at on). A session of a citizen disabled since
 * waits for its expiry too. *removed (may be NULL): how many went.
 * Errors: CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_session_sweep(struct cid_store *s, int64_t now, size_t *removed);

/*
 * Makes CID_DB_SESSION_INDEX hold exactly the two keys of each session:
 * checks, in O(1), that it holds twice as many keys as there are sessions
 * (true once it was built, since every session is written and deleted with
 * its keys), and if not rebuilds it from every session record in one write
 * transaction (a store written before the index existed, or one an older
 * build started or ended sessions in; had it started exactly as many as it
 * ended, the count holds and its sessions go unindexed until they expire,
 * though a disable still ends them by generation). One such case is a
 * logout that misses: a single step-up by an older build moves a session to
 * a new cookie without its keys, so the counts stay equal, but the session's
 * "s\n" sid key still names the gone record; cid_session_end_sid then reads
 * CID_ERR_NOTFOUND, and the live session survives the logout until it
 * expires. A record that names no citizen or sid a session can have is no
 * session anyone can present or end: the rebuild deletes it. cid_ctx_open
 * runs it. *built (may be NULL) receives how many keys it wrote (0: the
 * index was whole).
 * Errors: CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_session_index_ensure(struct cid_store *s, size_t *built);

#endif
