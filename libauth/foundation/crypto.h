/*
 * crypto: the few primitives every other module uses, so that each is done
 * one way: random tokens from the OS CSPRNG, SHA-256, constant-time compare,
 * storage hashes of opaque secrets, argon2id password hashes, and wiping.
 *
 * Opaque secrets (codes, refresh tokens, client secrets, session cookies) are
 * CID_TOKEN_BYTES random bytes, so a plain SHA-256 is a sound storage hash for
 * them; passwords are low-entropy and get argon2id. Thread-safe.
 */
#ifndef CID_CRYPTO_H
#define CID_CRYPTO_H

#include "bounds.h"
#include "err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Fills out with n bytes from the OS CSPRNG (getrandom). Errors: CID_ERR_CRYPTO. */
CID_MUST_CHECK enum cid_err cid_random_bytes(void *out, size_t n);

/*
 * Writes a new random token: CID_TOKEN_BYTES random bytes as base64url,
 * CID_TOKEN_CHARS characters plus NUL into out[CID_TOKEN_CHARS + 1].
 * Errors: CID_ERR_CRYPTO.
 */
CID_MUST_CHECK enum cid_err cid_random_token(char out[CID_TOKEN_CHARS + 1]);

/* Writes a random (version 4) UUID as 36 lowercase chars plus NUL. Errors: CID_ERR_CRYPTO. */
CID_MUST_CHECK enum cid_err cid_random_uuid(char out[CID_ID_CHARS + 1]);

/*
 * Writes a time-ordered (version 7, RFC 9562 §5.7) UUID as cid_random_uuid
 * does: its first 48 bits unix_ms (milliseconds since 1970, taken modulo
 * 2^48), 74 of the rest random. Ids made one after another sort together, so
 * an index keyed by them grows at its end instead of at random pages; the id
 * tells its time to the millisecond and nothing else. Errors: CID_ERR_CRYPTO.
 */
CID_MUST_CHECK enum cid_err cid_time_uuid(uint64_t unix_ms, char out[CID_ID_CHARS + 1]);

/*
 * True if s is exactly what cid_random_token / cid_random_uuid write:
 * CID_TOKEN_CHARS base64url characters, or a lowercase 8-4-4-4-12 hex UUID.
 * For refusing input that cannot be ours before hashing it or reading the
 * store. s may be NULL (false).
 */
bool cid_token_syntax_ok(const char *s);
bool cid_uuid_syntax_ok(const char *s);

/* SHA-256 of [d, d+n). Never fails: it allocates nothing, so it works out of memory too. */
void cid_sha256(const void *d, size_t n, uint8_t out[32]);

/* Lowercase hex of n bytes into out[2n + 1]. */
void cid_hex(const uint8_t *in, size_t n, char *out);

/*
 * The storage hash of an opaque secret: lowercase hex SHA-256 of its bytes,
 * CID_HASH_HEX chars plus NUL. Store this, never the secret.
 */
void cid_secret_hash(const char *secret, size_t n, char out[CID_HASH_HEX + 1]);

/* Constant-time equality of two n-byte buffers (CRYPTO_memcmp). */
bool cid_ct_equal(const void *a, const void *b, size_t n);

/* Constant-time equality of two strings whose lengths may differ (length leaks, content does not).
 */
bool cid_ct_streq(const char *a, size_t alen, const char *b, size_t blen);

/* Wipes n bytes at p so the compiler cannot elide it (OPENSSL_cleanse). */
void cid_wipe(void *p, size_t n);

/*
 * A bound on the argon2id hashes computed at once in a process. A login
 * thread hashes, then waits for durable commits of what the login wrote:
 * were the hash's core held for that wait, a core would idle while other
 * logins' hashes queued. So the hashes at once are bounded apart from the
 * threads that compute them: more threads than cores keep the cores hashing,
 * and no more hashes run than the cores can compute (each holds its memory,
 * m_cost_kib, while it runs). Waiters are let in first come, first served.
 * Thread-safe.
 */
struct cid_hash_gate;

/*
 * A gate letting at_once hashes in at a time, 0 meaning one per online core
 * (at least one), into *out, freed with cid_hash_gate_free.
 * Errors: CID_ERR_INVALID (at_once over CID_MAX_HASHES_AT_ONCE), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_hash_gate_new(unsigned at_once, struct cid_hash_gate **out);

/* Frees g, through which no hash may be running. NULL is a no-op. */
void cid_hash_gate_free(struct cid_hash_gate *g);

/* How many hashes g lets in at once (0 given to cid_hash_gate_new resolved). */
unsigned cid_hash_gate_limit(const struct cid_hash_gate *g);

/*
 * Waits until g has room, and takes one place (NULL: no bound, returns at
 * once). Every cid_hash_gate_enter is followed by one cid_hash_gate_leave.
 * The password functions below enter and leave their params' gate around the
 * hash; these two are for tests and for work that must be counted the same.
 */
void cid_hash_gate_enter(struct cid_hash_gate *g);

/* Gives back the place taken by cid_hash_gate_enter, waking the next waiter. */
void cid_hash_gate_leave(struct cid_hash_gate *g);

/* How many callers wait in cid_hash_gate_enter for a place in g now. */
unsigned cid_hash_gate_waiting(struct cid_hash_gate *g);

/* What a gate did over a span of time: whether the cores were kept hashing. */
struct cid_hash_gate_stats {
	uint64_t hashes;  /* let in during the span */
	double seconds;	  /* the span: since the gate was made or the last take */
	double in_flight; /* mean places held over the span (at most the limit) */
	double wait_ms;	  /* mean wait for a place, per hash let in */
};

/* g's counters since it was made or since the last call into *out, and restarts them. */
void cid_hash_gate_stats_take(struct cid_hash_gate *g, struct cid_hash_gate_stats *out);

struct cid_argon2_params {
	uint32_t t_cost;      /* iterations */
	uint32_t m_cost_kib;  /* memory in KiB */
	uint32_t parallelism; /* lanes */
	/* not owned: the bound every hash with these params waits for; NULL: none
	 * (a command-line tool hashing one password) */
	struct cid_hash_gate *gate;
};

/* Size of an encoded argon2id hash buffer, generous for any sane parameters. */
#define CID_PASSWORD_HASH_MAX 160

/*
 * Hashes the password with argon2id and a fresh 16-byte salt into the PHC string
 * out[CID_PASSWORD_HASH_MAX] ("$argon2id$v=19$m=...,t=...,p=...$salt$hash").
 * Costs tens of milliseconds, after waiting for a place in params->gate:
 * never call it on an HTTP polling thread.
 * Errors: CID_ERR_INVALID (password length outside CID_MIN_PASSWORD..CID_MAX_PASSWORD
 * or parameters out of argon2's range), CID_ERR_CRYPTO.
 */
CID_MUST_CHECK enum cid_err cid_password_hash(const struct cid_argon2_params *params,
					      const char *pw, size_t n,
					      char out[CID_PASSWORD_HASH_MAX]);

/*
 * Checks pw against a PHC string made by cid_password_hash (its parameters are
 * read from the string). The string is read strictly: "$argon2id$v=19$m=M,
 * t=T,p=P$SALT$HASH", parameters in the range cid_password_hash takes, salt
 * and hash of 8 and 4 to 64 bytes in base64 without padding (as libargon2
 * writes them). The hash waits for a place in gate (NULL: no bound), as
 * cid_password_burn does in its params' gate. The hash's memory is mapped
 * for it and returned after, never kept by the heap. Errors: CID_ERR_DENIED
 * (no match), CID_ERR_INVALID (pw over CID_MAX_PASSWORD or encoded not such
 * a string).
 */
CID_MUST_CHECK enum cid_err cid_password_verify(struct cid_hash_gate *gate, const char *encoded,
						const char *pw, size_t n);

/*
 * After cid_password_verify accepted pw against encoded: when encoded was not
 * made as cid_password_hash with params would make it now (other m, t or p,
 * another salt or hash length), hashes pw anew with params into out and
 * returns true, for the caller to store in place of encoded: then its
 * verification costs what cid_password_burn with params costs. false, out
 * "", when encoded is current or no new hash could be made (pw shorter than
 * CID_MIN_PASSWORD now, say): encoded still verifies. Costs a
 * cid_password_hash when true.
 */
bool cid_password_upgrade(const struct cid_argon2_params *params, const char *encoded,
			  const char *pw, size_t n, char out[CID_PASSWORD_HASH_MAX]);

/*
 * Runs one verification against a fixed dummy hash with the given parameters,
 * so that a login for an unknown account costs the same time as for a known
 * one, waiting in params->gate as cid_password_verify waits in its gate.
 * Always returns CID_ERR_DENIED.
 */
CID_MUST_CHECK enum cid_err cid_password_burn(const struct cid_argon2_params *params,
					      const char *pw, size_t n);

#endif
