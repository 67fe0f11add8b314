/*
 * Allocation-failure injection (curl's torture tests, SQLite's OOM tests):
 * cid_alloc_fail_run drives a test body again and again, making its 1st,
 * 2nd, 3rd ... allocation fail (that one only: the next succeeds), until a
 * run makes no allocation the countdown reaches. Every failed run must end
 * with an error, not a crash, and leave no leak.
 *
 * What is caught: every malloc, calloc, realloc, strdup and strndup of
 * libauth (a static library, linked into the test with
 * -Wl,--wrap=malloc,... so that its calls land here), all of jansson's
 * allocations (json_set_alloc_funcs) and OpenSSL's (CRYPTO_set_mem_functions;
 * one in eight of those, see below). What is not: allocations inside other shared
 * libraries (LMDB, libargon2, the C library's own, e.g. in fopen or
 * scandir), which bypass both the wraps and the library hooks; and, on
 * purpose, jansson's allocations inside libauth's json_loads and json_loadb
 * calls (wrapped too, to know when one runs): jansson 2.14's lexer ignores a
 * failed buffer append and then writes past the buffer (measured: a
 * segfault inside json_loadb), a crash of jansson's that libauth cannot
 * prevent. Its builders and dumpers are failed here: most report it, and
 * the failures they hide (json_dumps drops a key's bytes, json_copy and
 * json_object_update_missing a member: measured) libauth guards against.
 *
 * Only the thread that runs the body is counted, so a background thread
 * (the audit log's group commit) neither fails nor shifts the count.
 */
#ifndef CID_ALLOC_FAIL_H
#define CID_ALLOC_FAIL_H

#include "err.h"

#include <stdbool.h>
#include <stddef.h>

/*
 * Routes jansson's and OpenSSL's allocations through the injector. Call it
 * first in main, before anything calls OpenSSL: OpenSSL accepts the hook only
 * before its first allocation. Fails the process if it is too late.
 */
void cid_alloc_fail_install(void);

/* Where the allocation that was made to fail came from. */
enum cid_alloc_site {
	CID_ALLOC_SITE_LIBAUTH, /* libauth or the test itself (the wraps) */
	CID_ALLOC_SITE_JANSSON, /* jansson, building or dumping values */
	CID_ALLOC_SITE_OPENSSL,
	CID_ALLOC_SITE_COUNT
};

/* What one body's torture run saw. */
struct cid_alloc_report {
	unsigned long allocations;		     /* counted in the run without failure */
	unsigned long injected;			     /* runs in which an allocation failed */
	unsigned long by_site[CID_ALLOC_SITE_COUNT]; /* of those, per site */
	unsigned long skipped; /* OpenSSL allocations not made to fail (the stride) */
};

/*
 * Runs body(arg) once without failure (it must return CID_OK: this also
 * makes OpenSSL and jansson set up their lazily built state, which no
 * failure may then disturb), once more to note where each allocation comes
 * from, then with allocation n failing for n = 1, 2, ... until a run makes
 * fewer than n allocations; that run must return CID_OK. Every allocation of
 * libauth and jansson fails in turn; of OpenSSL's, which are many (loading
 * one RSA key makes thousands) and all end in the same failed call, one in
 * CID_ALLOC_FAIL_OPENSSL_STRIDE (default 8; 1 for all of them). Each run with a failure must return
 * CID_ERR_NOMEM; when the allocation that failed was OpenSSL's, which reports it as the operation
 * failing, also CID_ERR_CRYPTO, CID_ERR_INVALID (a key that did not load),
 * CID_ERR_DENIED (a signature that did not verify) or CID_OK (OpenSSL worked
 * around it). A breach is reported with the stack of the allocation that
 * failed (the first CID_ALLOC_FAIL_TRACE of them, default 3, under
 * AddressSanitizer). Under AddressSanitizer a leak check follows. Fails the cmocka test, naming the
 * body and n, on any breach; writes what it saw to *out (may be NULL).
 */
void cid_alloc_fail_run(const char *name, enum cid_err (*body)(void *arg), void *arg,
			struct cid_alloc_report *out);

/*
 * While on, every allocation of the calling thread fails (not only one):
 * for code that must need no memory at all.
 */
void cid_alloc_fail_all(bool on);

#endif
