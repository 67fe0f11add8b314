/*
 * logins: a citizen's recent login attempts, for their own security page:
 * when, right or wrong, by which step (password or one-time code) and from
 * which kind of browser (useragent.h's coarse label, never the User-Agent
 * itself, never an address). Only attempts on an existing account are kept
 * (a wrong username names no citizen), and only the latest CID_LOGINS_KEEP
 * of each citizen: the list is a bounded window, not a log (the audit log
 * and the throttle are where abuse is counted).
 *
 * CID_DB_LOGINS, key = account id: {"logins": [{"at", "ok": bool,
 * "method": "pwd"|"otp", "device"}]}, oldest first. An attempt is written
 * in the caller's write transaction (the password check writes it with the
 * throttle's counters, so a known and an unknown name still cost the same
 * commit). Thread-safe.
 */
#ifndef CID_LOGINS_H
#define CID_LOGINS_H

#include "bounds.h"
#include "err.h"
#include "store.h"
#include "useragent.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Attempts kept per citizen; an older one is forgotten when a new one comes. */
#define CID_LOGINS_KEEP 20

/* The steps of a login an attempt may be of (RFC 8176 method names). */
#define CID_LOGIN_PASSWORD "pwd"
#define CID_LOGIN_CODE	   "otp"

/* One attempt, as cid_logins_list returns it. */
struct cid_login {
	int64_t at;
	bool ok;
	char method[4];		       /* CID_LOGIN_PASSWORD or CID_LOGIN_CODE */
	char device[CID_UA_LABEL_MAX]; /* "" unknown */
};

/*
 * Records an attempt of account_id at time at, ok or not, by method (one of
 * the CID_LOGIN_* above) from the browser whose User-Agent is ua (NULL:
 * unknown), inside the caller's write transaction; the oldest attempt
 * beyond CID_LOGINS_KEEP is dropped. A damaged stored list is replaced.
 * An account_id with no citizen record (deleted since the login began:
 * account_delete.h) records nothing and is CID_OK.
 * Errors: CID_ERR_INVALID (account_id not an id, an unknown method, a read
 * transaction), CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_logins_put_txn(struct cid_txn *txn, const char *account_id,
					       int64_t at, bool ok, const char *method,
					       const char *ua);

/* cid_logins_put_txn in a write transaction of its own. Errors: the same. */
CID_MUST_CHECK enum cid_err cid_logins_put(struct cid_store *s, const char *account_id, int64_t at,
					   bool ok, const char *method, const char *ua);

/*
 * Forgets every recorded attempt of account_id inside the caller's write
 * transaction (the citizen's account is deleted: account_delete.h). None
 * recorded is no error. Errors: CID_ERR_INVALID (account_id NULL, a read
 * transaction), CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err cid_logins_delete_txn(struct cid_txn *txn, const char *account_id);

/*
 * The recorded attempts of account_id, newest first, into out[0..*n) (*n at
 * most CID_LOGINS_KEEP; 0 for a citizen with none). Entries of a damaged
 * list that do not read are skipped. Errors: CID_ERR_INVALID (account_id
 * NULL), CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err cid_logins_list(struct cid_store *s, const char *account_id,
					    struct cid_login out[CID_LOGINS_KEEP], size_t *n);

#endif
