/*
 * http_fetch: the one HTTP client of libauth, for documents civicid fetches
 * from other parties: today the sector identifier document of a client
 * registration (OIDC Core §8.1); back-channel logout and federation metadata
 * will use it too.
 *
 * It is narrow on purpose. GET only; https, or plain http to a loopback host
 * (127.0.0.1, [::1], localhost, by cid_http_loopback_host: local tools and
 * tests); no credentials in the URL; redirects followed at most
 * CID_FETCH_MAX_REDIRS times and only to https; the TLS peer and its name
 * verified against the system's CA store; a connect
 * and a total timeout; the body capped (a longer one is an error, never cut);
 * only 200 is success. libcurl does the work, one handle per call, so the
 * functions are thread-safe (libcurl >= 7.84 initialises itself thread-safely).
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

#endif
