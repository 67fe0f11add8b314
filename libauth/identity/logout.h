/*
 * logout: what single logout keeps in the store. When an SSO session ends
 * (the citizen logs out at a service or on the account page, or is disabled
 * or deleted) every service that took part in it and registered a
 * back-channel logout URI (client.h) is owed a notice (OpenID Connect Back-Channel Logout 1.0).
 * The notices are queued in the write transaction that ends the session, so
 * a session never ends without them and a restart loses none; the server's
 * worker (logout_notify.h) claims the due ones, sends them and settles each
 * here: delivered, tried again later, or given up after the last attempt.
 * The services with a front-channel logout URI are handed back to the
 * caller, whose page loads them (Front-Channel Logout 1.0).
 *
 * A notice is owed for a session that was still alive: not expired, and its
 * citizen live in its generation (account.h). A session that had ended by
 * itself ends quietly; so do the sessions of an already disabled citizen,
 * whose notices went out when they were disabled.
 *
 * The queue (CID_DB_LOGOUT_QUEUE), key = due time as 16 lowercase hex digits,
 * "\n", the notice's random id (so the due ones come first):
 *   {"id", "client_id", "sid", "account_id" (to name the citizen to the
 *    service by its own subject: kept until the notice leaves the queue,
 *    even when the account was deleted), "cause", "attempts": tries begun
 *    so far, "created_at"}
 * A notice being sent is moved to now + the lease, with its attempt
 * counted: if the server stops mid-send it is tried again when the lease
 * runs out, and two servers on one store never send it at once.
 * Thread-safe.
 */
#ifndef CID_LOGOUT_H
#define CID_LOGOUT_H

#include "bounds.h"
#include "err.h"
#include "store.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Why a session ended, as a notice and its audit entry record it. */
#define CID_LOGOUT_CAUSE_RP	 "rp-logout" /* the citizen logged out at a service (/logout) */
#define CID_LOGOUT_CAUSE_ACCOUNT "account"   /* the citizen, on the account page */
#define CID_LOGOUT_CAUSE_DISABLE "disabled"  /* an operator or officer disabled the citizen */
#define CID_LOGOUT_CAUSE_DELETE	 "deleted"   /* the citizen's account was deleted */
#define CID_LOGOUT_CAUSE_SWITCH	 "switched"  /* another citizen signed in in its browser */
#define CID_LOGOUT_CAUSE_MAX	 16	     /* bytes of a cause, NUL included */

/* A session that ended, as its ending tells the caller. */
struct cid_logout_ended {
	char sid[CID_TOKEN_CHARS + 1];	   /* its public id */
	char account_id[CID_ID_CHARS + 1]; /* its citizen */
	bool alive;			   /* it was alive: its services are told */
	size_t queued;			   /* back-channel notices queued */
	/* its services with a front-channel logout URI when it was alive, else
	 * empty: [{"client_id", "name", "uri", "session_required": bool}];
	 * owned, released by cid_logout_ended_clear */
	json_t *frontchannel;
};

/* Releases what e holds and zeroes it. NULL is a no-op. */
void cid_logout_ended_clear(struct cid_logout_ended *e);

/*
 * Ends the session of cookie, or, when cookie is NULL, the one whose public
 * id is sid, at now for cause (a CID_LOGOUT_CAUSE_*), and in the same write
 * transaction queues a back-channel notice, due at once, for each service of
 * the session with a back-channel logout URI, if it was alive. *out (may be
 * NULL; clear it with cid_logout_ended_clear) tells what ended.
 * Errors: CID_ERR_NOTFOUND (no such session, a malformed cookie or sid),
 * CID_ERR_INVALID (cause empty or over CID_LOGOUT_CAUSE_MAX), CID_ERR_STORE,
 * CID_ERR_CRYPTO, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_logout_end_session(struct cid_store *s, const char *cookie,
						   const char *sid, const char *cause, int64_t now,
						   struct cid_logout_ended *out);

/*
 * Ends every session of the citizen account_id but the one whose sid is
 * keep_sid (NULL: every one) in one write transaction, however many there
 * are, queuing the notices of those that were alive (naming cause, a
 * CID_LOGOUT_CAUSE_*; no front-channel frames: they are other browsers').
 * *ended (may be NULL): how many sessions ended.
 * Errors: CID_ERR_INVALID (account_id NULL, a bad cause), CID_ERR_STORE,
 * CID_ERR_CRYPTO, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_logout_end_account(struct cid_store *s, const char *account_id,
						   const char *keep_sid, const char *cause,
						   int64_t now, size_t *ended);

/*
 * Disables the citizen username (cid_account_set_disabled: every grant,
 * token and session is dead at once) and, in the same write transaction,
 * ends every session of theirs, queuing the notices of those that were
 * alive (cause CID_LOGOUT_CAUSE_DISABLE). Disabling a citizen already
 * disabled ends nothing that is alive. *ended (may be NULL): how many
 * sessions ended.
 * Errors: CID_ERR_NOTFOUND (no such citizen), CID_ERR_STORE, CID_ERR_CRYPTO,
 * CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_logout_disable_citizen(struct cid_store *s, const char *username,
						       int64_t now, size_t *ended);

/*
 * cid_logout_disable_citizen inside the caller's write transaction (from
 * cid_store_update), the notices naming cause (a CID_LOGOUT_CAUSE_*), so
 * that what goes with it commits with it (deleting the account,
 * account_delete.h). Errors: as cid_logout_disable_citizen, and
 * CID_ERR_INVALID (cause empty or over CID_LOGOUT_CAUSE_MAX, a read
 * transaction).
 */
CID_MUST_CHECK enum cid_err cid_logout_disable_citizen_txn(struct cid_txn *txn,
							   const char *username, const char *cause,
							   int64_t now, size_t *ended);

/* ---- the queue (logout_queue.c) ---- */

/* The rule of trying again, from the configuration (config.h). */
struct cid_logout_retry {
	unsigned attempts; /* tries in all, at least 1 */
	int64_t backoff;   /* seconds before the second try; doubled for each further one */
	int64_t lease;	   /* seconds a claimed notice is kept from other claims */
};

/*
 * The longest wait between two tries, however many came before
 * (CID_LOGOUT_BACKOFF_MAX), and the wait after the try numbered attempts
 * (1 for the first) failed: backoff * 2^(attempts - 1), at most that.
 */
int64_t cid_logout_backoff(const struct cid_logout_retry *r, unsigned attempts);

/* A notice claimed for sending. */
struct cid_logout_notice {
	char key[17 + CID_TOKEN_CHARS + 1]; /* where it is queued while it is sent */
	char client_id[CID_MAX_CLIENT_ID + 1];
	char sid[CID_TOKEN_CHARS + 1];
	char account_id[CID_ID_CHARS + 1];
	char cause[CID_LOGOUT_CAUSE_MAX];
	unsigned attempts; /* this try included */
	int64_t created_at;
};

/*
 * True into *yes if a notice is due at now, by a read: what a server with
 * many tenants asks before it gives a tenant a sender (logout_notify.h).
 * Errors: CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_logout_due(struct cid_store *s, int64_t now, bool *yes);

/*
 * Claims up to max notices due at now (oldest due first) into out[0..*n):
 * each counts one more attempt and is leased until now + r->lease. A
 * damaged record is dropped from the queue.
 * Errors: CID_ERR_INVALID (r->lease < 1), CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_logout_claim(struct cid_store *s, int64_t now,
					     const struct cid_logout_retry *r,
					     struct cid_logout_notice *out, size_t max, size_t *n);

/* What became of a notice. */
enum cid_logout_fate {
	CID_LOGOUT_DELIVERED, /* the service answered that it logged the session out */
	CID_LOGOUT_RETRY,     /* not this time: queued again for a later try */
	CID_LOGOUT_GIVEN_UP,  /* not this time and no more tries: dropped */
};

/*
 * Settles the try of a claimed notice n inside the caller's write
 * transaction (which records it in the audit log too): delivered, it leaves
 * the queue; failed, it is queued again at now + cid_logout_backoff unless
 * that was its last attempt or final is set (it cannot succeed: its service
 * is gone), when it leaves the queue given up. *fate says which.
 * Errors: CID_ERR_NOTFOUND (the notice is no longer where it was claimed:
 * its lease ran out and another claim took it; nothing changes),
 * CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_logout_settle_txn(struct cid_txn *txn,
						  const struct cid_logout_notice *n, bool delivered,
						  bool final, int64_t now,
						  const struct cid_logout_retry *r,
						  enum cid_logout_fate *fate);

/*
 * The notices queued (claimed ones included) into *n; *next_due (may be
 * NULL) gets the earliest due time, 0 when the queue is empty.
 * Errors: CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err cid_logout_queued(struct cid_store *s, size_t *n, int64_t *next_due);

#endif
