/*
 * fetch_cache: documents of other parties (an upstream identity provider's
 * discovery document and JWKS, idp.h) kept in memory between logins, each
 * for the freshness its answer's Cache-Control gives it, bounded to
 * CID_FETCH_CACHE_MIN..CID_FETCH_CACHE_MAX seconds: a login does not cost
 * two round trips to the upstream, and a key the upstream rotates in is
 * seen within a day at worst (sooner: cid_fetch_cache_get with refetch).
 *
 * At most CID_FETCH_CACHE_SLOTS documents, by exact URL; a full cache
 * replaces the one forgotten first (a failure remembered, or the answer
 * that expires first). A fetch runs outside the lock, so a
 * slow upstream holds no login of another upstream up; of one URL a single
 * fetch is under way at a time: another caller wanting it waits for that
 * fetch and takes its answer or its failure. A failed fetch is remembered
 * for CID_FETCH_CACHE_FAILED seconds, during which the URL is not fetched
 * again and every caller gets the failure at once: an upstream that hangs
 * costs one fetch's timeout per half minute, not one per login (a kept
 * copy still fresh is still served). Thread-safe.
 */
#ifndef CID_FETCH_CACHE_H
#define CID_FETCH_CACHE_H

#include "err.h"
#include "http_fetch.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cid_fetch_cache;

/* A new empty cache into *out (free with cid_fetch_cache_free). Errors: CID_ERR_NOMEM. */
CID_MUST_CHECK enum cid_err cid_fetch_cache_new(struct cid_fetch_cache **out);

/* Frees c and every document kept. NULL is a no-op. */
void cid_fetch_cache_free(struct cid_fetch_cache *c);

/*
 * The document at url at time now: the kept copy while fresh, else fetched
 * with cid_http_fetch_age under lim and kept until now + its max-age
 * clamped to CID_FETCH_CACHE_MIN..CID_FETCH_CACHE_MAX. refetch: fetch
 * even when a fresh copy is kept (the caller found it stale: a JWKS
 * without the kid a token names). While another caller fetches url, waits
 * for that fetch (at most lim's timeout) and takes its answer, refetch or
 * not. *body (caller frees with free()) holds *len bytes and a NUL. why as
 * for cid_http_fetch.
 * Errors: those of cid_http_fetch (nothing kept changes but the failure's
 * time); the same error, without a fetch and why saying so, while a fetch
 * of url failed less than CID_FETCH_CACHE_FAILED seconds before now.
 */
CID_MUST_CHECK enum cid_err cid_fetch_cache_get(struct cid_fetch_cache *c, const char *url,
						const struct cid_fetch_limits *lim, int64_t now,
						bool refetch, char **body, size_t *len, char *why,
						size_t whysz);

#endif
