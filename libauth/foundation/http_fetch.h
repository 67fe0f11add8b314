/*
 * http_fetch: the one HTTP client of libauth, for documents civicid fetches
 * from other parties: today the sector identifier document of a client
 * registration (OIDC Core §8.1); back-channel logout and federation metadata
 * will use it too.
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
 */
#ifndef CID_HTTP_FETCH_H
#define CID_HTTP_FETCH_H

#include "err.h"

#include <stddef.h>

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

#endif
