/*
 * fetch_cache and the Cache-Control rule of http_fetch: max-age read from
 * a Cache-Control value (table-driven), and a real HTTP server on loopback
 * (support/http_server.c) counting the fetches: a fresh document is not
 * fetched again, max-age is honoured within CID_FETCH_CACHE_MIN..MAX, a
 * refetch fetches, a failed fetch is remembered for CID_FETCH_CACHE_FAILED
 * seconds (not fetched again, and a copy still fresh still served), one
 * fetch of a URL at a time (a hanging peer is asked once by callers at
 * once), every slot used, a full cache replacing a failure before any
 * answer.
 */
#include "bounds.h"
#include "fetch_cache.h"
#include "http_fetch.h"
#include "http_server.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define NOW 1800000000

static const struct cid_fetch_limits limits = {
    .max_bytes = 4096, .connect_timeout_ms = 2000, .timeout_ms = 5000};

static const struct {
	const char *value;
	int64_t age;
} ages[] = {
    {NULL, 0},
    {"", 0},
    {"max-age=600", 600},
    {"public, max-age=3600", 3600},
    {"MAX-AGE=60", 60},
    {"max-age=\"90\"", 90},
    {"max-age=120, must-revalidate", 120},
    {"no-store, max-age=600", 0},
    {"max-age=600, no-cache", 0},
    {"No-Cache", 0},
    {"no-cache=\"Set-Cookie\", max-age=5", 0},
    {"private", 0},
    {"max-age=", 0},
    {"max-age=-5", 0},
    {"max-age=abc", 0},
    {"max-age=99999999999999999999", 2147483647},
    {"s-maxage=600", 0},
    {"community=\"a,max-age=9\", max-age=30", 30},
    {"max-age=10, max-age=20", 10},
};

static void test_max_age_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(ages) / sizeof(ages[0]); i++) {
		int64_t got = cid_http_max_age(ages[i].value);

		if (got != ages[i].age)
			fail_msg("'%s': %lld, not %lld", ages[i].value ? ages[i].value : "(none)",
				 (long long)got, (long long)ages[i].age);
	}
}

/* A server answering every GET with body under the given Cache-Control (NULL: none). */
static struct cid_test_http *serve(const char *cache_control, const char *body)
{
	char resp[512];
	int n;

	if (cache_control != NULL)
		n = snprintf(resp, sizeof(resp),
			     "HTTP/1.1 200 OK\r\nConnection: close\r\nCache-Control: %s\r\n"
			     "Content-Length: %zu\r\n\r\n%s",
			     cache_control, strlen(body), body);
	else
		n = snprintf(
		    resp, sizeof(resp),
		    "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: %zu\r\n\r\n%s",
		    strlen(body), body);
	assert_true(n > 0 && (size_t)n < sizeof(resp));
	return cid_test_http_start(resp, (size_t)n);
}

/* Gets url at now from c and checks the body. */
static void get(struct cid_fetch_cache *c, const char *url, int64_t now, bool refetch,
		const char *want)
{
	char *body = NULL;
	size_t len = 0;
	char why[160] = "";

	if (cid_fetch_cache_get(c, url, &limits, now, refetch, &body, &len, why, sizeof(why)) !=
	    CID_OK)
		fail_msg("%s: %s", url, why);
	assert_int_equal(len, strlen(want));
	assert_string_equal(body, want);
	free(body);
}

struct freshness {
	const char *cache_control;
	int64_t kept; /* seconds it is kept: fetched again at NOW + kept, not before */
};

static const struct freshness rows[] = {
    {"max-age=3600", 3600},
    {NULL, CID_FETCH_CACHE_MIN},
    {"no-store", CID_FETCH_CACHE_MIN},
    {"max-age=10", CID_FETCH_CACHE_MIN},
    {"max-age=604800", CID_FETCH_CACHE_MAX},
};

static void test_kept_for_its_max_age_within_bounds(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct cid_test_http *srv = serve(rows[i].cache_control, "{\"keys\":[]}");
		struct cid_fetch_cache *c = NULL;
		char url[64];

		cid_test_http_url(srv, "/jwks", url, sizeof(url));
		assert_int_equal(cid_fetch_cache_new(&c), CID_OK);
		get(c, url, NOW, false, "{\"keys\":[]}");
		get(c, url, NOW + rows[i].kept - 1, false, "{\"keys\":[]}");
		if (cid_test_http_hits(srv) != 1)
			fail_msg("row %zu: %u fetches while fresh", i, cid_test_http_hits(srv));
		get(c, url, NOW + rows[i].kept, false, "{\"keys\":[]}");
		if (cid_test_http_hits(srv) != 2)
			fail_msg("row %zu: not fetched again once stale", i);
		cid_fetch_cache_free(c);
		cid_test_http_stop(srv);
	}
}

static void test_refetch_fetches_and_keeps_the_new_copy(void **state)
{
	struct cid_test_http *srv = serve("max-age=3600", "{\"v\":1}");
	struct cid_fetch_cache *c = NULL;
	char url[64];

	(void)state;
	cid_test_http_url(srv, "/jwks", url, sizeof(url));
	assert_int_equal(cid_fetch_cache_new(&c), CID_OK);
	get(c, url, NOW, false, "{\"v\":1}");
	get(c, url, NOW + 1, true, "{\"v\":1}");
	assert_int_equal(cid_test_http_hits(srv), 2);
	get(c, url, NOW + 2, false, "{\"v\":1}");
	assert_int_equal(cid_test_http_hits(srv), 2);
	/* another URL of the same server is another document */
	cid_test_http_url(srv, "/other", url, sizeof(url));
	get(c, url, NOW + 2, false, "{\"v\":1}");
	assert_int_equal(cid_test_http_hits(srv), 3);
	cid_fetch_cache_free(c);
	cid_test_http_stop(srv);
}

/* Gets url at now from c expecting the error want, and no body. */
static void get_fails(struct cid_fetch_cache *c, const char *url, int64_t now, bool refetch,
		      enum cid_err want)
{
	char why[160] = "";
	char *body = NULL;
	size_t len = 0;

	assert_int_equal(
	    cid_fetch_cache_get(c, url, &limits, now, refetch, &body, &len, why, sizeof(why)),
	    want);
	assert_null(body);
	assert_true(why[0] != '\0');
}

static void test_a_failed_fetch_is_remembered_for_a_while(void **state)
{
	static const char fail[] = "HTTP/1.1 500 Oops\r\nConnection: close\r\n"
				   "Cache-Control: max-age=3600\r\nContent-Length: 0\r\n\r\n";
	struct cid_test_http *srv = cid_test_http_start(fail, sizeof(fail) - 1);
	struct cid_fetch_cache *c = NULL;
	char url[64];

	(void)state;
	cid_test_http_url(srv, "/jwks", url, sizeof(url));
	assert_int_equal(cid_fetch_cache_new(&c), CID_OK);
	get_fails(c, url, NOW, false, CID_ERR_IO);
	assert_int_equal(cid_test_http_hits(srv), 1);
	/* within the window: the failure again, without asking (a refetch neither) */
	get_fails(c, url, NOW + 1, false, CID_ERR_IO);
	get_fails(c, url, NOW + CID_FETCH_CACHE_FAILED - 1, true, CID_ERR_IO);
	assert_int_equal(cid_test_http_hits(srv), 1);
	/* after it: asked again, and nothing of the 500 was kept */
	get_fails(c, url, NOW + CID_FETCH_CACHE_FAILED, false, CID_ERR_IO);
	assert_int_equal(cid_test_http_hits(srv), 2);
	cid_fetch_cache_free(c);
	cid_test_http_stop(srv);
}

/* Answers the first request with a document, every later one with a 500. */
static void once_then_fail(void *arg, const char *req, size_t n, char **out, size_t *len)
{
	static const char ok[] =
	    "HTTP/1.1 200 OK\r\nConnection: close\r\n"
	    "Cache-Control: max-age=3600\r\nContent-Length: 7\r\n\r\n{\"v\":1}";
	static const char fail[] = "HTTP/1.1 500 Oops\r\nConnection: close\r\n"
				   "Content-Length: 0\r\n\r\n";
	unsigned *served = arg;
	const char *ans = (*served)++ == 0 ? ok : fail;

	(void)req;
	(void)n;
	*len = strlen(ans);
	*out = strdup(ans);
}

static void test_a_failed_refetch_leaves_the_fresh_copy(void **state)
{
	unsigned served = 0;
	struct cid_test_http *srv = cid_test_http_start_fn(once_then_fail, &served);
	struct cid_fetch_cache *c = NULL;
	char url[64];

	(void)state;
	cid_test_http_url(srv, "/jwks", url, sizeof(url));
	assert_int_equal(cid_fetch_cache_new(&c), CID_OK);
	get(c, url, NOW, false, "{\"v\":1}");
	get_fails(c, url, NOW + 1, true, CID_ERR_IO);
	get(c, url, NOW + 2, false, "{\"v\":1}");
	assert_int_equal(cid_test_http_hits(srv), 2);
	cid_fetch_cache_free(c);
	cid_test_http_stop(srv);
}

/* Answers the first request with a 500, every later one with a document. */
static void fail_then_once(void *arg, const char *req, size_t n, char **out, size_t *len)
{
	static const char ok[] =
	    "HTTP/1.1 200 OK\r\nConnection: close\r\n"
	    "Cache-Control: max-age=3600\r\nContent-Length: 7\r\n\r\n{\"v\":2}";
	static const char fail[] = "HTTP/1.1 500 Oops\r\nConnection: close\r\n"
				   "Content-Length: 0\r\n\r\n";
	unsigned *served = arg;
	const char *ans = (*served)++ == 0 ? fail : ok;

	(void)req;
	(void)n;
	*len = strlen(ans);
	*out = strdup(ans);
}

/*
 * A failure is answered from memory while remembered, saying so; the fetch
 * after the window that succeeds replaces it: the answer is kept, and the
 * failure is not served again.
 */
static void test_a_failure_then_an_answer_replaces_it(void **state)
{
	unsigned served = 0;
	struct cid_test_http *srv = cid_test_http_start_fn(fail_then_once, &served);
	struct cid_fetch_cache *c = NULL;
	char url[64];
	char why[160] = "";
	char *body = NULL;
	size_t len = 0;

	(void)state;
	cid_test_http_url(srv, "/jwks", url, sizeof(url));
	assert_int_equal(cid_fetch_cache_new(&c), CID_OK);
	get_fails(c, url, NOW, false, CID_ERR_IO);
	assert_int_equal(cid_fetch_cache_get(c, url, &limits, NOW + CID_FETCH_CACHE_FAILED - 1,
					     false, &body, &len, why, sizeof(why)),
			 CID_ERR_IO);
	assert_null(body);
	assert_non_null(strstr(why, "not tried again"));
	assert_int_equal(cid_test_http_hits(srv), 1);
	get(c, url, NOW + CID_FETCH_CACHE_FAILED, false, "{\"v\":2}");
	assert_int_equal(cid_test_http_hits(srv), 2);
	/* kept for its max-age, and no failure left to serve */
	get(c, url, NOW + CID_FETCH_CACHE_FAILED + 1, false, "{\"v\":2}");
	get(c, url, NOW + CID_FETCH_CACHE_FAILED + 3599, false, "{\"v\":2}");
	assert_int_equal(cid_test_http_hits(srv), 2);
	cid_fetch_cache_free(c);
	cid_test_http_stop(srv);
}

/* Answers GET /fail with a 500, any other path with a document kept an hour. */
static void fail_by_path(void *arg, const char *req, size_t n, char **out, size_t *len)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\nConnection: close\r\n"
				 "Cache-Control: max-age=3600\r\nContent-Length: 2\r\n\r\n{}";
	static const char fail[] = "HTTP/1.1 500 Oops\r\nConnection: close\r\n"
				   "Content-Length: 0\r\n\r\n";
	const char *ans = n >= 10 && memcmp(req, "GET /fail ", 10) == 0 ? fail : ok;

	(void)arg;
	*len = strlen(ans);
	*out = strdup(ans);
}

/*
 * A full cache replaces the slot forgotten first: a failure (remembered 30
 * s) goes before any answer (kept 5 min at least), even one fetched
 * earlier, so remembered failures never push out the documents logins
 * need. The failure evicted is forgotten: its URL is fetched again at once.
 */
static void test_a_full_cache_evicts_a_failure_first(void **state)
{
	struct cid_test_http *srv = cid_test_http_start_fn(fail_by_path, NULL);
	struct cid_fetch_cache *c = NULL;
	char fail_url[64];
	char url[64];
	char path[32];
	unsigned hits;

	(void)state;
	assert_int_equal(cid_fetch_cache_new(&c), CID_OK);
	/* a document first, so the failure is neither the first slot nor the oldest */
	cid_test_http_url(srv, "/doc0", url, sizeof(url));
	get(c, url, NOW, false, "{}");
	cid_test_http_url(srv, "/fail", fail_url, sizeof(fail_url));
	get_fails(c, fail_url, NOW + 1, false, CID_ERR_IO);
	for (int i = 1; i < CID_FETCH_CACHE_SLOTS - 1; i++) {
		snprintf(path, sizeof(path), "/doc%d", i);
		cid_test_http_url(srv, path, url, sizeof(url));
		get(c, url, NOW + 1, false, "{}");
	}
	/* every slot taken; the failure is still remembered */
	get_fails(c, fail_url, NOW + 2, false, CID_ERR_IO);
	assert_int_equal(cid_test_http_hits(srv), CID_FETCH_CACHE_SLOTS);
	/* one more document: it takes the failure's slot */
	cid_test_http_url(srv, "/new", url, sizeof(url));
	get(c, url, NOW + 3, false, "{}");
	hits = cid_test_http_hits(srv);
	assert_int_equal(hits, CID_FETCH_CACHE_SLOTS + 1);
	for (int i = 0; i < CID_FETCH_CACHE_SLOTS - 1; i++) {
		snprintf(path, sizeof(path), "/doc%d", i);
		cid_test_http_url(srv, path, url, sizeof(url));
		get(c, url, NOW + 4, false, "{}");
		if (cid_test_http_hits(srv) != hits)
			fail_msg("%s was evicted rather than the failure", path);
	}
	cid_test_http_url(srv, "/new", url, sizeof(url));
	get(c, url, NOW + 4, false, "{}");
	assert_int_equal(cid_test_http_hits(srv), hits);
	/* within what was its window, the failed URL is asked again: forgotten */
	get_fails(c, fail_url, NOW + 5, false, CID_ERR_IO);
	assert_int_equal(cid_test_http_hits(srv), hits + 1);
	cid_fetch_cache_free(c);
	cid_test_http_stop(srv);
}

struct caller {
	struct cid_fetch_cache *c;
	const char *url;
	enum cid_err rc;
};

static void *fetch_hanging(void *arg)
{
	static const struct cid_fetch_limits quick = {
	    .max_bytes = 4096, .connect_timeout_ms = 1000, .timeout_ms = 1000};
	struct caller *k = arg;
	char why[160] = "";
	char *body = NULL;
	size_t len = 0;

	k->rc =
	    cid_fetch_cache_get(k->c, k->url, &quick, NOW, false, &body, &len, why, sizeof(why));
	free(body);
	return NULL;
}

/* Callers at once wanting a document of a peer that never answers: one fetch, one timeout. */
static void test_one_fetch_of_a_url_at_a_time(void **state)
{
	struct cid_test_http *srv = cid_test_http_start(NULL, 0);
	struct cid_fetch_cache *c = NULL;
	struct caller callers[4];
	pthread_t threads[4];
	char url[64];

	(void)state;
	cid_test_http_url(srv, "/.well-known/openid-configuration", url, sizeof(url));
	assert_int_equal(cid_fetch_cache_new(&c), CID_OK);
	for (size_t i = 0; i < 4; i++) {
		callers[i] = (struct caller){c, url, CID_OK};
		assert_int_equal(pthread_create(&threads[i], NULL, fetch_hanging, &callers[i]), 0);
	}
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(threads[i], NULL), 0);
		assert_int_equal(callers[i].rc, CID_ERR_IO);
	}
	/* the server takes one connection at a time: let it count those left waiting */
	usleep(300 * 1000);
	assert_int_equal(cid_test_http_hits(srv), 1);
	cid_fetch_cache_free(c);
	cid_test_http_stop(srv);
}

/* More documents than slots: each is still served whole, the latest kept. */
static void test_full_cache_replaces_the_first_to_expire(void **state)
{
	struct cid_test_http *srv = serve("max-age=3600", "{}");
	struct cid_fetch_cache *c = NULL;
	char url[64];
	char path[32];
	unsigned hits;

	(void)state;
	assert_int_equal(cid_fetch_cache_new(&c), CID_OK);
	for (int i = 0; i < CID_FETCH_CACHE_SLOTS + 1; i++) {
		snprintf(path, sizeof(path), "/doc%d", i);
		cid_test_http_url(srv, path, url, sizeof(url));
		get(c, url, NOW + i, false, "{}");
	}
	hits = cid_test_http_hits(srv);
	assert_int_equal(hits, CID_FETCH_CACHE_SLOTS + 1);
	/* the newest is kept; the first (earliest to expire) was replaced */
	get(c, url, NOW + 100, false, "{}");
	assert_int_equal(cid_test_http_hits(srv), hits);
	cid_test_http_url(srv, "/doc0", url, sizeof(url));
	get(c, url, NOW + 100, false, "{}");
	assert_int_equal(cid_test_http_hits(srv), hits + 1);
	cid_fetch_cache_free(c);
	cid_test_http_stop(srv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_max_age_table),
	    cmocka_unit_test(test_kept_for_its_max_age_within_bounds),
	    cmocka_unit_test(test_refetch_fetches_and_keeps_the_new_copy),
	    cmocka_unit_test(test_a_failed_fetch_is_remembered_for_a_while),
	    cmocka_unit_test(test_a_failed_refetch_leaves_the_fresh_copy),
	    cmocka_unit_test(test_a_failure_then_an_answer_replaces_it),
	    cmocka_unit_test(test_a_full_cache_evicts_a_failure_first),
	    cmocka_unit_test(test_one_fetch_of_a_url_at_a_time),
	    cmocka_unit_test(test_full_cache_replaces_the_first_to_expire),
	};

	cid_fetch_cache_free(NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
