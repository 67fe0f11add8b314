/*
 * http_fetch: the one HTTP client of libauth, for what civicid exchanges
 * with other parties: the sector identifier document of a client
 * registration (OIDC Core §8.1), fetched with GET, and the back-channel
 * logout notices (OpenID Connect Back-Channel Logout 1.0), form POSTs sent
 * many at once by a batch.
 *
 * It is narrow on purpose. GET, and a POST for protocols that answer one
 * (the audit log's pushes to its witnesses); https, or plain http to a
 * loopback host (127.0.0.1, [::1], localhost, by cid_http_loopback_host:
 * local tools and tests); no credentials in the URL; a GET follows redirects
 * at most CID_FETCH_MAX_REDIRS times and only to https, a POST none;
 * the TLS peer and its name verified against the system's CA store; a connect
 * and a total timeout; the body capped (a longer one is an error, never cut);
 * for a GET only 200 is success, a POST hands back any status. libcurl does the work, one handle
 * per call, so the functions are thread-safe (libcurl >= 7.84 initialises itself thread-safely).
 * libcurl is loaded by the first request of the process (curl_lib.h), not
 * when it starts; when it cannot be loaded, every request fails with
 * CID_ERR_IO and why says so.
 */
#ifndef CID_HTTP_FETCH_H
#define CID_HTTP_FETCH_H

#include "err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What one fetch may cost. */
struct cid_fetch_limits {
	size_t max_bytes;	 /* longest body accepted */
	long connect_timeout_ms; /* TCP and TLS connect */
	long timeout_ms;	 /* the whole transfer, redirects included */
};

/*
 * Fetches url with GET under lim. On success *body (caller frees with free())
 * holds the *len bytes of the answer's body plus a NUL that *len leaves out.
 * On failure, when why is not NULL, why[whysz] says what went wrong in one
 * English phrase ("HTTP status 404", "Connection refused", ...).
 * Errors: CID_ERR_INVALID (not an absolute http(s) URL, http to a host that is
 * not loopback, userinfo in the URL), CID_ERR_TOOBIG (the body is longer than
 * lim->max_bytes), CID_ERR_IO (no connection, TLS failure, timeout, a status
 * other than 200, a redirect to anything but https or too many redirects),
 * CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_http_fetch(const char *url, const struct cid_fetch_limits *lim,
					   char **body, size_t *len, char *why, size_t whysz);

/*
 * As cid_http_fetch, and *max_age (may be NULL) receives the freshness the
 * final answer's Cache-Control gives it, cid_http_max_age of its value
 * (0 without the header). Errors: those of cid_http_fetch.
 */
CID_MUST_CHECK enum cid_err cid_http_fetch_age(const char *url, const struct cid_fetch_limits *lim,
					       char **body, size_t *len, int64_t *max_age,
					       char *why, size_t whysz);

/*
 * The seconds a Cache-Control value (RFC 9111 §5.2.2; NULL: no header)
 * lets an answer be reused: its max-age, 0 when it says no-store or
 * no-cache, has no max-age, or a malformed one. Directive names are
 * case-insensitive; a quoted max-age ("60") is taken; a value past
 * 2^31 - 1 is that (§1.2.2). Pure.
 */
int64_t cid_http_max_age(const char *cache_control);

/*
 * A batch of form POSTs in flight at once (libcurl's multi interface), at
 * most max_active of them, driven by the thread that owns it. Each POST goes
 * to an https URL, or plain http on a loopback host (the rules of
 * cid_http_fetch), follows no redirect (a 3xx is an answer like any other),
 * and reads the answer's body only to throw it away, at most lim->max_bytes.
 */
struct cid_http_batch;

/* What became of one POST of a batch. */
struct cid_http_outcome {
	void *tag;	 /* as given to cid_http_batch_post */
	enum cid_err rc; /* CID_OK: an answer came (status says which); CID_ERR_IO: none
			    (no connection, TLS, a timeout); CID_ERR_TOOBIG: its body passed
			    lim->max_bytes; CID_ERR_NOMEM */
	long status;	 /* the answer's HTTP status; 0 when none came */
	char why[160];	 /* when rc is not CID_OK: what went wrong, one English phrase */
};

/*
 * A new empty batch for at most max_active POSTs in flight (1 or more).
 * It touches no libcurl until its first POST. *out is freed with
 * cid_http_batch_free. Errors: CID_ERR_INVALID (max_active 0), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_http_batch_new(size_t max_active, struct cid_http_batch **out);

/* Aborts every POST still in flight (no outcome is reported) and frees b. NULL is a no-op. */
void cid_http_batch_free(struct cid_http_batch *b);

/* The number of POSTs in flight. */
size_t cid_http_batch_active(const struct cid_http_batch *b);

/*
 * Starts a POST of body (len bytes, copied; sent as
 * application/x-www-form-urlencoded) to url under lim; tag comes back in its
 * outcome. Nothing is sent until cid_http_batch_run.
 * Errors: CID_ERR_INVALID (url as for cid_http_fetch), CID_ERR_TOOBIG (the
 * batch already has max_active POSTs in flight), CID_ERR_IO (libcurl cannot
 * be loaded), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_http_batch_post(struct cid_http_batch *b, const char *url,
						const char *body, size_t len,
						const struct cid_fetch_limits *lim, void *tag);

/*
 * Drives the POSTs in flight for up to wait_ms milliseconds (less when one
 * finishes or cid_http_batch_wake is called; with none in flight it just
 * waits) and calls done(arg, outcome) for each one that finished, after
 * which it no longer counts as in flight. Errors: CID_ERR_IO (libcurl's multi
 * interface failed), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err
cid_http_batch_run(struct cid_http_batch *b, int wait_ms,
		   void (*done)(void *arg, const struct cid_http_outcome *o), void *arg);

/* Ends the wait of a cid_http_batch_run in progress. Safe from any thread. */
void cid_http_batch_wake(struct cid_http_batch *b);

/* The answer to a POST. */
struct cid_http_answer {
	long status; /* the HTTP status */
	char *body;  /* the body and a NUL (len leaves it out); the caller frees it */
	size_t len;
};

/*
 * POSTs [body, body+len) as ctype to url under lim (the URL rules of
 * cid_http_fetch; no redirect followed) and fills *out with the answer
 * whatever its status. why as for cid_http_fetch.
 * Errors: CID_ERR_INVALID (the URL as for cid_http_fetch, or ctype NULL, over
 * 100 bytes or with a line break), CID_ERR_TOOBIG (an answer longer than
 * lim->max_bytes), CID_ERR_IO (no connection, TLS failure, timeout),
 * CID_ERR_NOMEM. *out is written only on success.
 */
CID_MUST_CHECK enum cid_err cid_http_post(const char *url, const struct cid_fetch_limits *lim,
					  const char *ctype, const char *body, size_t len,
					  struct cid_http_answer *out, char *why, size_t whysz);

/* The longest Authorization value cid_http_post_auth sends. */
#define CID_HTTP_MAX_AUTHORIZATION 2048

/*
 * cid_http_post with an Authorization header of value authorization (NULL:
 * none), such as a client's "Basic ..." at a token endpoint (RFC 6749
 * §2.3.1). Errors: those of cid_http_post, CID_ERR_INVALID also for an
 * authorization over CID_HTTP_MAX_AUTHORIZATION bytes or with a line break.
 */
CID_MUST_CHECK enum cid_err cid_http_post_auth(const char *url, const struct cid_fetch_limits *lim,
					       const char *ctype, const char *authorization,
					       const char *body, size_t len,
					       struct cid_http_answer *out, char *why,
					       size_t whysz);

#endif
