/*
 * err: the one error type of libauth.
 *
 * Every fallible function returns enum cid_err, CID_OK (0) on success, and
 * writes its results through out-parameters only on success. Callers release
 * resources on one path: CID_TRY/CID_ENSURE set `rc` and jump to `out`.
 *
 * One value is no error: CID_ANSWERED, the one way a helper of an endpoint
 * says "the reply already holds the answer" (an error page, a redirect, a
 * login form again). Being non-zero it stops the caller's straight line like
 * an error, CID_TRY carries it up unchanged, and the endpoint turns it into
 * CID_OK at its exit (cid_endpoint_rc, reply.h). So no error code doubles as
 * that signal: CID_ERR_DENIED means only what it says below.
 */
#ifndef CID_ERR_H
#define CID_ERR_H

#include <stddef.h>

#define CID_MUST_CHECK __attribute__((warn_unused_result))

enum cid_err {
	CID_OK = 0,
	CID_ERR_NOMEM,	   /* allocation failed */
	CID_ERR_INVALID,   /* malformed or out-of-range input */
	CID_ERR_TOOBIG,	   /* input or output over a limit of bounds.h */
	CID_ERR_UTF8,	   /* bytes are not valid UTF-8 (or contain NUL/controls) */
	CID_ERR_DUPLICATE, /* a parameter given more than once */
	CID_ERR_NOTFOUND,  /* no such record */
	CID_ERR_EXISTS,	   /* record already exists */
	CID_ERR_DENIED,	   /* credentials or signature do not match */
	CID_ERR_EXPIRED,   /* record or token past its lifetime */
	CID_ERR_REVOKED,   /* token, code or grant revoked or already used */
	CID_ERR_DISABLED,  /* account or client disabled */
	CID_ERR_THROTTLED, /* too many failures: try later */
	CID_ERR_LOCKED,	   /* too many failures in a row: refused until an operator unlocks */
	CID_ERR_STORE,	   /* LMDB failed */
	CID_ERR_CRYPTO,	   /* OpenSSL or libargon2 failed */
	CID_ERR_IO,	   /* file or system call failed */
	CID_ERR_CONFIG,	   /* configuration invalid */
	CID_ERR_TOOEARLY,  /* allowed only from a later time */
	CID_ERR_REFUSED,   /* a rule in force does not allow it (a policy, a record's state) */
	CID_ANSWERED,	   /* not an error: the reply already holds the answer; the endpoint
			      returns CID_OK (see above) */
	CID_ERR_COUNT
};

/* Returns a static English description of err; never NULL. Thread-safe. */
const char *cid_strerror(enum cid_err err);

/*
 * Fills the why[whysz] out-parameter of a function that says in one English
 * phrase what went wrong: the printf-formatted fmt, cut to fit, or "" when it
 * cannot be formatted. Nothing when why is NULL or whysz is 0. Thread-safe.
 */
void cid_err_why(char *why, size_t whysz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Propagate: evaluates expr (an enum cid_err); on failure stores it in rc, jumps to out. */
#define CID_TRY(expr)                                                                              \
	do {                                                                                       \
		rc = (expr);                                                                       \
		if (rc != CID_OK)                                                                  \
			goto out;                                                                  \
	} while (0)

/* Bail with err unless cond holds. */
#define CID_ENSURE(cond, err)                                                                      \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			rc = (err);                                                                \
			goto out;                                                                  \
		}                                                                                  \
	} while (0)

#endif
