/*
 * throttle: the counters of failed logins, one rule for citizens and officers.
 *
 * A counter is a JSON record {"n", "first", "last"} in CID_DB_THROTTLE under
 * a key "<kind>:<value>": "acct:<account id>", "addr:<remote address>",
 * "officer:<name>". After CID_THROTTLE_FREE failures within
 * CID_THROTTLE_WINDOW seconds of the first, each further attempt must wait
 * 2^(n - FREE) s after the last failure, capped at CID_THROTTLE_MAX_DELAY
 * (bounds.h); failures older than the window are forgotten. The functions
 * work inside the caller's transaction and keep no state of their own, so
 * they are as thread-safe as the transaction: reading a wait and counting the
 * outcome in one write transaction is what keeps concurrent attempts honest.
 */
#ifndef CID_THROTTLE_H
#define CID_THROTTLE_H

#include "err.h"
#include "store.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* "kind:value" and its NUL: room for "addr:" and a 255-byte remote address. */
#define CID_THROTTLE_KEY_MAX (5 + 255 + 1)

/* A counter's key; key points into buf, so the struct must not be copied. */
struct cid_throttle_key {
	char buf[CID_THROTTLE_KEY_MAX];
	struct cid_str key;
};

/* Sets k to "kind:value", cut at CID_THROTTLE_KEY_MAX - 1 bytes (callers bound value). */
void cid_throttle_key(struct cid_throttle_key *k, const char *kind, const char *value);

/* Seconds the counter rec (NULL: none) still imposes at now; 0 when an attempt is allowed. */
int64_t cid_throttle_wait(const json_t *rec, int64_t now);

/*
 * Raises *wait to what the counter under key imposes at now (no counter: no
 * wait); sets *exists (may be NULL) to true when there is a counter. Errors:
 * those of cid_txn_get_json other than CID_ERR_NOTFOUND.
 */
enum cid_err cid_throttle_read(struct cid_txn *txn, struct cid_str key, int64_t now, int64_t *wait,
			       bool *exists);

/*
 * Counts a failure at now under key: n + 1 within the window, else a new
 * count of one. Errors: CID_ERR_NOMEM, those of the store.
 */
enum cid_err cid_throttle_fail(struct cid_txn *txn, struct cid_str key, int64_t now);

/* Removes the counter under key; CID_OK also when there was none. Errors: the store's. */
enum cid_err cid_throttle_clear(struct cid_txn *txn, struct cid_str key);

#endif
