/*
 * Allocation-failure injection: the wraps (-Wl,--wrap=...), the jansson and
 * OpenSSL hooks, and the driver. State is per thread: only the thread that
 * armed the countdown is counted.
 */
#include "alloc_fail.h"

#include "memo.h"
#include "str.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* The real allocators, reached through the linker's --wrap. */
// NOLINTBEGIN(bugprone-reserved-identifier): ld's --wrap needs these names
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
json_t *__real_json_loads(const char *input, size_t flags, json_error_t *error);
json_t *__real_json_loadb(const char *buffer, size_t buflen, size_t flags, json_error_t *error);
json_t *__wrap_json_loads(const char *input, size_t flags, json_error_t *error);
json_t *__wrap_json_loadb(const char *buffer, size_t buflen, size_t flags, json_error_t *error);
void __real_cid_memo_put(struct cid_memo *m, struct cid_str key, struct cid_str bytes, void *obj);
void __wrap_cid_memo_put(struct cid_memo *m, struct cid_str key, struct cid_str bytes, void *obj);
// NOLINTEND(bugprone-reserved-identifier)

/* LeakSanitizer and the stack printer, when the test runs under AddressSanitizer. */
// NOLINTBEGIN(bugprone-reserved-identifier): the sanitizers' names
int __lsan_do_recoverable_leak_check(void) __attribute__((weak));
void __sanitizer_print_stack_trace(void) __attribute__((weak));

// NOLINTEND(bugprone-reserved-identifier)

struct countdown {
	bool armed;
	bool all;	       /* every allocation fails (cid_alloc_fail_all) */
	bool trace;	       /* print the stack of the allocation made to fail */
	unsigned long fail_at; /* 1-based index of the allocation to fail; 0: none */
	unsigned long count;   /* allocations since arming */
	bool injected;
	enum cid_alloc_site site;
	bool parsing;	  /* inside json_loads or json_loadb */
	bool remembering; /* inside cid_memo_put */
	/* while recording, the site of every allocation, in order */
	bool record;
	unsigned char *sites;
	size_t n_sites, cap_sites;
};

static _Thread_local struct countdown cd;

/* True if this allocation (from site) is the one to fail. */
static void record_site(enum cid_alloc_site site)
{
	if (cd.n_sites == cd.cap_sites) {
		size_t cap = cd.cap_sites == 0 ? 1024 : 2 * cd.cap_sites;
		unsigned char *bigger = __real_realloc(cd.sites, cap);

		if (bigger == NULL)
			abort(); /* the test's own memory: nothing to report but this */
		cd.sites = bigger;
		cd.cap_sites = cap;
	}
	cd.sites[cd.n_sites++] = (unsigned char)site;
}

static bool should_fail(enum cid_alloc_site site)
{
	if (cd.all)
		return true;
	if (!cd.armed)
		return false;
	if (cd.remembering && site == CID_ALLOC_SITE_LIBAUTH)
		site = CID_ALLOC_SITE_MEMO;
	if (cd.record)
		record_site(site);
	if (++cd.count != cd.fail_at)
		return false;
	cd.injected = true;
	cd.site = site;
	if (cd.trace && __sanitizer_print_stack_trace != NULL)
		__sanitizer_print_stack_trace();
	return true;
}

void *__wrap_malloc(size_t n)
{
	return should_fail(CID_ALLOC_SITE_LIBAUTH) ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
	return should_fail(CID_ALLOC_SITE_LIBAUTH) ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
	return should_fail(CID_ALLOC_SITE_LIBAUTH) ? NULL : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
	return should_fail(CID_ALLOC_SITE_LIBAUTH) ? NULL : __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
	return should_fail(CID_ALLOC_SITE_LIBAUTH) ? NULL : __real_strndup(s, n);
}

static void *jansson_malloc(size_t n)
{
	/* never inside a parse: see alloc_fail.h */
	return !cd.parsing && should_fail(CID_ALLOC_SITE_JANSSON) ? NULL : __real_malloc(n);
}

/* libauth's parses, wrapped so that no allocation inside one is made to fail */
json_t *__wrap_json_loads(const char *input, size_t flags, json_error_t *error)
{
	json_t *v;

	cd.parsing = true;
	v = __real_json_loads(input, flags, error);
	cd.parsing = false;
	return v;
}

json_t *__wrap_json_loadb(const char *buffer, size_t buflen, size_t flags, json_error_t *error)
{
	json_t *v;

	cd.parsing = true;
	v = __real_json_loadb(buffer, buflen, flags, error);
	cd.parsing = false;
	return v;
}

/* libauth's memos, wrapped so that a failure inside one is known as the memo's */
void __wrap_cid_memo_put(struct cid_memo *m, struct cid_str key, struct cid_str bytes, void *obj)
{
	cd.remembering = true;
	__real_cid_memo_put(m, key, bytes, obj);
	cd.remembering = false;
}

static void *openssl_malloc(size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return should_fail(CID_ALLOC_SITE_OPENSSL) ? NULL : __real_malloc(n);
}

static void *openssl_realloc(void *p, size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return should_fail(CID_ALLOC_SITE_OPENSSL) ? NULL : __real_realloc(p, n);
}

static void openssl_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	free(p);
}

void cid_alloc_fail_install(void)
{
	json_set_alloc_funcs(jansson_malloc, free);
	if (CRYPTO_set_mem_functions(openssl_malloc, openssl_realloc, openssl_free) != 1) {
		fprintf(stderr, "alloc_fail: OpenSSL allocated before cid_alloc_fail_install\n");
		abort();
	}
}

void cid_alloc_fail_all(bool on)
{
	cd = (struct countdown){.all = on};
}

static void arm(unsigned long fail_at, bool trace)
{
	cd = (struct countdown){.armed = true, .trace = trace, .fail_at = fail_at};
}

/* Runs body once with nothing failing, noting the site of each allocation in *sites. */
static enum cid_err record(enum cid_err (*body)(void *arg), void *arg, unsigned char **sites,
			   size_t *n)
{
	enum cid_err rc;

	cd = (struct countdown){.armed = true, .record = true};
	rc = body(arg);
	*sites = cd.sites;
	*n = cd.n_sites;
	cd = (struct countdown){0};
	return rc;
}

static struct countdown disarm(void)
{
	struct countdown seen = cd;

	cd = (struct countdown){0};
	return seen;
}

/* Whether rc is a right answer to the failure seen. */
static bool allowed(enum cid_err rc, const struct countdown *seen)
{
	switch (seen->site) {
	case CID_ALLOC_SITE_OPENSSL:
		/*
		 * OpenSSL reports a failed allocation as a failed operation: a key
		 * that does not load (invalid), a signature that does not verify
		 * (denied: fail closed), or just a failure (crypto); and it works
		 * around some (a cache it does not fill): success is fine then
		 */
		return rc == CID_ERR_NOMEM || rc == CID_ERR_CRYPTO || rc == CID_ERR_INVALID ||
		       rc == CID_ERR_DENIED || rc == CID_OK;
	case CID_ALLOC_SITE_MEMO:
		/* a memo only saves work: what it could not keep is made again next time */
		return rc == CID_ERR_NOMEM || rc == CID_OK;
	case CID_ALLOC_SITE_LIBAUTH:
	case CID_ALLOC_SITE_JANSSON:
	default: return rc == CID_ERR_NOMEM;
	}
}

/* How many breaches of a body get their stack printed: CID_ALLOC_FAIL_TRACE, else 3. */
static unsigned long trace_max(void)
{
	const char *v = getenv("CID_ALLOC_FAIL_TRACE");
	uint64_t n = 3;

	if (v != NULL && cid_parse_u64(v, strlen(v), 0, UINT32_MAX, &n) != CID_OK)
		n = 3;
	return (unsigned long)n;
}

/*
 * One OpenSSL allocation in how many is made to fail: CID_ALLOC_FAIL_OPENSSL_STRIDE,
 * else 8. Every libauth and jansson allocation fails in turn.
 */
static unsigned long openssl_stride(void)
{
	const char *v = getenv("CID_ALLOC_FAIL_OPENSSL_STRIDE");
	uint64_t n = 8;

	if (v != NULL && cid_parse_u64(v, strlen(v), 1, UINT32_MAX, &n) != CID_OK)
		n = 8;
	return (unsigned long)n;
}

static const char *const site_names[] = {"libauth", "jansson", "OpenSSL", "memo"};

void cid_alloc_fail_run(const char *name, enum cid_err (*body)(void *arg), void *arg,
			struct cid_alloc_report *out)
{
	struct cid_alloc_report rep = {0};
	unsigned long breaches = 0;
	enum cid_err rc;

	unsigned long stride = openssl_stride();
	unsigned long openssl = 0;
	unsigned char *sites = NULL;
	size_t n_sites = 0;

	/* once without failure: the body works, and lazily built library state is built */
	rc = body(arg);
	if (rc != CID_OK)
		fail_msg("%s: fails without any allocation failure: %s", name, cid_strerror(rc));
	/* once more, to learn which allocations are OpenSSL's (only some of those fail) */
	rc = record(body, arg, &sites, &n_sites);
	if (rc != CID_OK)
		fail_msg("%s: fails the second time without failure: %s", name, cid_strerror(rc));
	for (unsigned long n = 1;; n++) {
		struct countdown seen;

		if (n <= n_sites && sites[n - 1] == CID_ALLOC_SITE_OPENSSL &&
		    openssl++ % stride != 0) {
			rep.skipped++;
			continue;
		}
		arm(n, false);
		rc = body(arg);
		seen = disarm();
		if (!seen.injected) {
			/* the countdown outran the body: it ran whole, and must have succeeded */
			if (rc != CID_OK)
				fail_msg("%s: fails with no failure injected (%lu allocations): %s",
					 name, seen.count, cid_strerror(rc));
			rep.allocations = seen.count;
			break;
		}
		rep.injected++;
		rep.by_site[seen.site]++;
		if (allowed(rc, &seen))
			continue;
		/* say where: run it again, printing the stack of the allocation that fails */
		breaches++;
		print_error("%s: allocation %lu (%s) failed and the body returned %s\n", name, n,
			    site_names[seen.site], rc == CID_OK ? "success" : cid_strerror(rc));
		if (breaches <= trace_max()) {
			arm(n, true);
			(void)body(arg);
			(void)disarm();
		}
	}
	free(sites);
	if (rep.injected == 0)
		fail_msg("%s: no allocation was made to fail: is the injector linked in?", name);
	if (__lsan_do_recoverable_leak_check != NULL && __lsan_do_recoverable_leak_check() != 0)
		fail_msg("%s: leaks after allocation failures (see the report above)", name);
	printf("alloc_fail: %-26s %5lu allocations failed in turn (libauth %lu, jansson %lu, "
	       "OpenSSL %lu, memo %lu, and %lu of OpenSSL's left alone)\n",
	       name, rep.injected, rep.by_site[CID_ALLOC_SITE_LIBAUTH],
	       rep.by_site[CID_ALLOC_SITE_JANSSON], rep.by_site[CID_ALLOC_SITE_OPENSSL],
	       rep.by_site[CID_ALLOC_SITE_MEMO], rep.skipped);
	if (breaches > 0)
		fail_msg("%s: %lu allocation failures were not answered with an error", name,
			 breaches);
	if (out != NULL)
		*out = rep;
}
