/*
 * throttle: the counters of failed logins, one rule for citizens and officers.
 *
 * Three kinds of counter (NIST SP 800-63B §5.2.2), each a JSON record
 * {"n", "first", "last"} in CID_DB_THROTTLE:
 *   pair     "pair:<hex>": one login name from one client address, whether
 *            or not the name exists, so unknown and known names are slowed
 *            alike and nobody can slow a name down for another address. hex
 *            is SHA-256 of the realm, the name (ASCII lower-cased, so case
 *            variants share it) and the address: what was typed as a name
 *            (a password, now and then) is not kept in clear. A success
 *            clears it.
 *   address  "addr:<address>": every failure from one client address, any
 *            name, with the much higher CID_THROTTLE_ADDR_FREE: one address
 *            trying many names (credential stuffing). A success does not
 *            clear it: one good account must not buy more guesses.
 *   code     "code:<realm>:<id>": consecutive wrong one-time codes of one
 *            account. Never forgotten with time; at CID_CODE_MAX_FAILURES the
 *            second factor is refused, even the right code, until an operator
 *            clears the counter; a correct code clears it before that.
 * After its free failures (CID_THROTTLE_FREE; ADDR_FREE for an address) a
 * counter makes each attempt wait 2^(n - free) s after the last failure,
 * capped at CID_THROTTLE_MAX_DELAY. Pair and address counters forget
 * failures CID_THROTTLE_WINDOW s after their first: a failure then starts a
 * new count, and cid_throttle_sweep removes them, so names tried once
 * (unknown ones too) do not stay in the store. Addresses are keyed as
 * canonical text, an IPv6 address by its /64 (the block one site or one
 * attacker holds).
 *
 * No password counter spans an account: whoever can name a citizen could
 * then lock them out everywhere. One password is guessed at most
 * FREE + ~10 times per window per address (pair), an address tries at most
 * ADDR_FREE + ~10 names per window, and argon2id's cost bounds the rest. The
 * account-wide limit is the code's, which only someone holding the password
 * can reach.
 *
 * The functions work inside the caller's transaction and keep no state of
 * their own, so they are as thread-safe as the transaction: reading a wait and
 * counting the outcome in one write transaction keeps concurrent attempts honest.
 */
#ifndef CID_THROTTLE_H
#define CID_THROTTLE_H

#include "err.h"
#include "store.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

enum cid_throttle_kind {
	CID_THROTTLE_PAIR,
	CID_THROTTLE_ADDR,
	CID_THROTTLE_CODE,
};

/* Realms of pair and code counters: a citizen and an officer of one name are two counters. */
#define CID_THROTTLE_CITIZEN "citizen"
#define CID_THROTTLE_OFFICER "officer"

/* The wait of a code counter at its limit: refused until cleared. */
#define CID_THROTTLE_LOCKED INT64_MAX

/* "code:officer:" and a 64-byte name are the longest key. */
#define CID_THROTTLE_KEY_MAX 96

/* A counter's key and kind; key points into buf, so the struct must not be copied. */
struct cid_throttle_key {
	enum cid_throttle_kind kind;
	char buf[CID_THROTTLE_KEY_MAX];
	struct cid_str key;
};

/*
 * The pair counter of login name (NULL: "") in realm from client address addr
 * (NULL or "": none, as from the CLI). Bytes of name past CID_MAX_USERNAME
 * and of addr past 64 are not read (callers bound both).
 */
void cid_throttle_key_pair(struct cid_throttle_key *k, const char *realm, const char *name,
			   const char *addr);

/* The address counter of addr; false, k untouched, when addr is NULL or "" (nothing to count). */
bool cid_throttle_key_addr(struct cid_throttle_key *k, const char *addr);

/* The code counter of account id (an officer's name) in realm; id is cut to fit. */
void cid_throttle_key_code(struct cid_throttle_key *k, const char *realm, const char *id);

/*
 * Seconds the counter rec (NULL: none) of kind still imposes at now: 0 when
 * an attempt is allowed, CID_THROTTLE_LOCKED for a code counter at its limit.
 */
int64_t cid_throttle_wait(enum cid_throttle_kind kind, const json_t *rec, int64_t now);

/*
 * Raises *wait to what the counter k imposes at now (no counter: no wait);
 * sets *exists (may be NULL) to true when there is a counter. Errors: those
 * of cid_txn_get_json other than CID_ERR_NOTFOUND.
 */
CID_MUST_CHECK enum cid_err cid_throttle_read(struct cid_txn *txn, const struct cid_throttle_key *k,
					      int64_t now, int64_t *wait, bool *exists);

/*
 * Counts a failure at now under k: n + 1, or a new count of one for a pair
 * or address counter whose window has passed. Errors: CID_ERR_NOMEM, the store's.
 */
CID_MUST_CHECK enum cid_err cid_throttle_fail(struct cid_txn *txn, const struct cid_throttle_key *k,
					      int64_t now);

/* Removes the counter k; CID_OK also when there was none. Errors: the store's. */
CID_MUST_CHECK enum cid_err cid_throttle_clear(struct cid_txn *txn,
					       const struct cid_throttle_key *k);

/*
 * The counters one login attempt is held to, the same for citizens and
 * officers: its first counter (the pair of the name typed and the address, for
 * a password; the account's code counter, for a one-time code) and, when the
 * client has an address, the address counter. The attempt waits for the larger
 * of their waits; a failure counts in both; a success clears only the first,
 * never the address (one good account must not buy more guesses). Like its
 * keys, an attempt must not be copied.
 */
struct cid_throttle_attempt {
	struct cid_throttle_key first;
	struct cid_throttle_key addr;
	bool has_addr; /* false: no address (the CLI), addr is unused */
};

/*
 * A password login of name in realm from address addr (NULL or "": none).
 * Errors: CID_ERR_INVALID (addr longer than CID_MAX_ADDR), a is then untouched.
 */
CID_MUST_CHECK enum cid_err cid_throttle_attempt_password(struct cid_throttle_attempt *a,
							  const char *realm, const char *name,
							  const char *addr);

/* A one-time code of account id in realm from address addr. Errors: as above. */
CID_MUST_CHECK enum cid_err cid_throttle_attempt_code(struct cid_throttle_attempt *a,
						      const char *realm, const char *id,
						      const char *addr);

/*
 * Raises *wait to what the counters of a impose at now (CID_THROTTLE_LOCKED for
 * a code counter at its limit); sets *first_counted (may be NULL) to true when
 * the first counter exists. Errors: those of cid_throttle_read.
 */
CID_MUST_CHECK enum cid_err cid_throttle_attempt_read(struct cid_txn *txn,
						      const struct cid_throttle_attempt *a,
						      int64_t now, int64_t *wait,
						      bool *first_counted);

/* Counts a failed attempt at now in its first and its address counter. Errors: cid_throttle_fail's.
 */
CID_MUST_CHECK enum cid_err
cid_throttle_attempt_fail(struct cid_txn *txn, const struct cid_throttle_attempt *a, int64_t now);

/* A good attempt: removes its first counter, not the address's. Errors: the store's. */
CID_MUST_CHECK enum cid_err cid_throttle_attempt_clear(struct cid_txn *txn,
						       const struct cid_throttle_attempt *a);

/*
 * Removes every pair and address counter whose window has passed at now
 * (and any record that is not a counter), in write transactions of a bounded
 * size; code counters stay. *removed (may be NULL) gets how many. Run it now
 * and then (civicid serve: with the janitor, janitor.h).
 * Errors: CID_ERR_NOMEM, the store's.
 */
CID_MUST_CHECK enum cid_err cid_throttle_sweep(struct cid_store *s, int64_t now, size_t *removed);

#endif
