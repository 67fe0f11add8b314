/*
 * http_fetch: fetches from a real HTTP server on loopback (support/http_server.c),
 * one row per answer the server gives; the URL rules, refused before any
 * connection is made; a peer that never answers; a port where nobody listens.
 * The batch of POSTs: what is sent, one row per answer, redirects not
 * followed, peers that hang time out together, the cap on POSTs in flight.
 */
#include "bounds.h"
#include "http_fetch.h"
#include "http_server.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#define MAX 1000 /* the body limit of the rows */

static const struct cid_fetch_limits limits = {
    .max_bytes = MAX, .connect_timeout_ms = 2000, .timeout_ms = 5000};

/* An HTTP/1.1 answer with status, extra header lines and a body of n bytes of fill. */
static char *answer(const char *status, const char *headers, size_t n, char fill, size_t *len)
{
	size_t cap = 512 + n;
	char *out = malloc(cap);
	int h;

	assert_non_null(out);
	h = snprintf(out, cap, "HTTP/1.1 %s\r\nConnection: close\r\n%s\r\n", status, headers);
	assert_true(h > 0 && (size_t)h + n < cap);
	memset(out + h, fill, n);
	*len = (size_t)h + n;
	return out;
}

struct row {
	const char *name;
	const char *status;
	bool length; /* send Content-Length */
	size_t body; /* bytes of body */
	enum cid_err expect;
	const char *why; /* a phrase the explanation must contain */
};

static const struct row rows[] = {
    {"200 with a body", "200 OK", true, 25, CID_OK, NULL},
    {"200, body exactly at the limit", "200 OK", true, MAX, CID_OK, NULL},
    {"200, empty body", "200 OK", true, 0, CID_OK, NULL},
    {"200 without Content-Length, within the limit", "200 OK", false, 300, CID_OK, NULL},
    {"Content-Length over the limit", "200 OK", true, MAX + 1, CID_ERR_TOOBIG,
     "larger than 1000 bytes"},
    {"no Content-Length, body over the limit", "200 OK", false, (size_t)5 * MAX, CID_ERR_TOOBIG,
     "larger than 1000 bytes"},
    {"404", "404 Not Found", true, 9, CID_ERR_IO, "HTTP status 404"},
    {"500", "500 Internal Server Error", true, 0, CID_ERR_IO, "HTTP status 500"},
    {"204 is not a document", "204 No Content", false, 0, CID_ERR_IO, "HTTP status 204"},
};

static void test_answers(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		char headers[128];
		char url[64];
		char why[256] = "";
		char *body = NULL;
		size_t len = 0;
		size_t rlen = 0;
		char *resp;
		struct cid_test_http *srv;
		enum cid_err got;

		headers[0] = '\0';
		if (r->length)
			assert_true(snprintf(headers, sizeof(headers), "Content-Length: %zu\r\n",
					     r->body) > 0);
		resp = answer(r->status, headers, r->body, 'x', &rlen);
		srv = cid_test_http_start(resp, rlen);
		cid_test_http_url(srv, "/doc.json", url, sizeof(url));
		got = cid_http_fetch(url, &limits, &body, &len, why, sizeof(why));
		if (got != r->expect)
			fail_msg("%s: got %s (%s)", r->name, cid_strerror(got), why);
		if (got == CID_OK) {
			assert_int_equal(len, r->body);
			assert_non_null(body);
			assert_int_equal(body[len], '\0');
			for (size_t k = 0; k < len; k++)
				assert_int_equal(body[k], 'x');
		} else {
			assert_null(body);
			if (strstr(why, r->why) == NULL)
				fail_msg("%s: the explanation '%s' lacks '%s'", r->name, why,
					 r->why);
		}
		free(body);
		free(resp);
		cid_test_http_stop(srv);
	}
}

/* A redirect is followed only to https; to plain http (even on loopback) it is refused. */
static void test_redirect_only_to_https(void **state)
{
	char target[64];
	char headers[160];
	char url[64];
	char why[256] = "";
	char *body = NULL;
	size_t len = 0;
	size_t rlen = 0;
	struct cid_test_http *doc;
	struct cid_test_http *redir;
	char *resp;

	(void)state;
	resp = answer("200 OK", "Content-Length: 2\r\n", 2, 'x', &rlen);
	doc = cid_test_http_start(resp, rlen);
	free(resp);
	cid_test_http_url(doc, "/doc.json", target, sizeof(target));
	assert_true(snprintf(headers, sizeof(headers), "Location: %s\r\nContent-Length: 0\r\n",
			     target) > 0);
	resp = answer("302 Found", headers, 0, 'x', &rlen);
	redir = cid_test_http_start(resp, rlen);
	free(resp);
	cid_test_http_url(redir, "/moved", url, sizeof(url));
	assert_int_equal(cid_http_fetch(url, &limits, &body, &len, why, sizeof(why)), CID_ERR_IO);
	assert_null(body);
	assert_non_null(strstr(why, "not https"));
	assert_int_equal(cid_test_http_hits(redir), 1);
	assert_int_equal(cid_test_http_hits(doc), 0); /* never asked */
	/* the document itself is fine when asked directly */
	assert_int_equal(cid_http_fetch(target, &limits, &body, &len, NULL, 0), CID_OK);
	assert_int_equal(len, 2);
	free(body);
	cid_test_http_stop(redir);
	cid_test_http_stop(doc);
}

/* URLs refused before any connection: scheme, host, credentials, shape. */
static void test_url_rules(void **state)
{
	static const struct {
		const char *url;
		enum cid_err expect;
	} urls[] = {
	    {"http://sector.city.example/doc.json", CID_ERR_INVALID}, /* plain http off loopback */
	    {"http://127.0.0.2/doc.json", CID_ERR_INVALID},	      /* not one of the three */
	    {"http://LocalHost/doc.json", CID_ERR_INVALID}, /* the redirect-URI rule: exact */
	    {"ftp://127.0.0.1/doc.json", CID_ERR_INVALID},
	    {"file:///etc/passwd", CID_ERR_INVALID},
	    {"https://user:pw@127.0.0.1/doc.json", CID_ERR_INVALID},
	    {"http://user@127.0.0.1/doc.json", CID_ERR_INVALID},
	    {"/doc.json", CID_ERR_INVALID},
	    {"not a url", CID_ERR_INVALID},
	    {"", CID_ERR_INVALID},
	};
	struct cid_test_http *srv = cid_test_http_start("HTTP/1.1 200 OK\r\n\r\n", 19);

	(void)state;
	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		char why[128] = "";
		char *body = NULL;
		size_t len = 0;
		enum cid_err got =
		    cid_http_fetch(urls[i].url, &limits, &body, &len, why, sizeof(why));

		if (got != urls[i].expect)
			fail_msg("%s: got %s", urls[i].url, cid_strerror(got));
		assert_null(body);
		assert_non_null(strstr(why, "https"));
	}
	assert_int_equal(cid_http_fetch(NULL, &limits, &(char *){NULL}, &(size_t){0}, NULL, 0),
			 CID_ERR_INVALID);
	{
		/* longer than any URI we accept */
		char *long_url = malloc(CID_MAX_URI + 64);
		char *body = NULL;
		size_t len = 0;

		assert_non_null(long_url);
		memset(long_url, 'a', CID_MAX_URI + 63);
		memcpy(long_url, "https://127.0.0.1/", 18);
		long_url[CID_MAX_URI + 63] = '\0';
		assert_int_equal(cid_http_fetch(long_url, &limits, &body, &len, NULL, 0),
				 CID_ERR_INVALID);
		free(long_url);
	}
	assert_int_equal(cid_test_http_hits(srv), 0);
	cid_test_http_stop(srv);
}

/* A peer that accepts and never answers costs the timeout, no more. */
static void test_silent_peer_times_out(void **state)
{
	const struct cid_fetch_limits quick = {
	    .max_bytes = MAX, .connect_timeout_ms = 2000, .timeout_ms = 300};
	struct cid_test_http *srv = cid_test_http_start(NULL, 0);
	struct timespec t0;
	struct timespec t1;
	char url[64];
	char why[256] = "";
	char *body = NULL;
	size_t len = 0;
	double took;

	(void)state;
	cid_test_http_url(srv, "/doc.json", url, sizeof(url));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(cid_http_fetch(url, &quick, &body, &len, why, sizeof(why)), CID_ERR_IO);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	assert_true(took >= 0.25 && took < 3.0);
	assert_non_null(strstr(why, "timed out"));
	assert_null(body);
	cid_test_http_stop(srv);
}

/* Nobody listening: an I/O error that says so. */
static void test_connection_refused(void **state)
{
	struct cid_test_http *srv = cid_test_http_start(NULL, 0);
	char url[64];
	char why[256] = "";
	char *body = NULL;
	size_t len = 0;

	(void)state;
	cid_test_http_url(srv, "/doc.json", url, sizeof(url));
	cid_test_http_stop(srv); /* the port is free again: nothing listens there */
	assert_int_equal(cid_http_fetch(url, &limits, &body, &len, why, sizeof(why)), CID_ERR_IO);
	assert_true(why[0] != '\0');
	assert_null(body);
}

/* ---- the batch of POSTs ---- */

struct outcomes {
	size_t n;
	struct cid_http_outcome o[8];
};

static void collect(void *arg, const struct cid_http_outcome *o)
{
	struct outcomes *all = arg;

	assert_true(all->n < 8);
	all->o[all->n++] = *o;
}

/* Runs b until nothing is in flight, at most 10 s; returns the seconds it took. */
static double run_all(struct cid_http_batch *b, struct outcomes *all)
{
	struct timespec t0;
	struct timespec t1;
	double took = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (cid_http_batch_active(b) > 0 && took < 10) {
		assert_int_equal(cid_http_batch_run(b, 100, collect, all), CID_OK);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	}
	assert_int_equal(cid_http_batch_active(b), 0);
	return took;
}

/* One POST per answer a receiver may give: the status comes back, nothing is followed. */
static void test_batch_post_answers(void **state)
{
	static const struct {
		const char *name;
		const char *status;
		const char *headers;
		size_t body;
		enum cid_err rc;
		long code;
	} posts[] = {
	    {"200", "200 OK", "Content-Length: 0\r\n", 0, CID_OK, 200},
	    {"204", "204 No Content", "", 0, CID_OK, 204},
	    {"400 with a body", "400 Bad Request", "Content-Length: 20\r\n", 20, CID_OK, 400},
	    {"a redirect is an answer, not followed", "302 Found",
	     "Location: http://127.0.0.1:9/elsewhere\r\nContent-Length: 0\r\n", 0, CID_OK, 302},
	    {"a body over the limit", "200 OK", "Content-Length: 1001\r\n", MAX + 1, CID_ERR_TOOBIG,
	     200},
	};

	static const char form[] = "logout_token=a.b.c";

	(void)state;
	for (size_t i = 0; i < sizeof(posts) / sizeof(posts[0]); i++) {
		struct outcomes all = {0};
		struct cid_http_batch *b = NULL;
		size_t rlen = 0;
		char *resp = answer(posts[i].status, posts[i].headers, posts[i].body, 'x', &rlen);
		struct cid_test_http *srv = cid_test_http_start(resp, rlen);
		char url[64];
		char *req;
		int tag = 7;

		cid_test_http_url(srv, "/logout?x=1", url, sizeof(url));
		assert_int_equal(cid_http_batch_new(2, &b), CID_OK);
		assert_int_equal(cid_http_batch_post(b, url, form, strlen(form), &limits, &tag),
				 CID_OK);
		assert_int_equal(cid_http_batch_active(b), 1);
		run_all(b, &all);
		assert_int_equal(all.n, 1);
		assert_ptr_equal(all.o[0].tag, &tag);
		if (all.o[0].rc != posts[i].rc || all.o[0].status != posts[i].code)
			fail_msg("%s: got %s, status %ld (%s)", posts[i].name,
				 cid_strerror(all.o[0].rc), all.o[0].status, all.o[0].why);
		req = cid_test_http_request(srv, 0);
		assert_non_null(req);
		assert_true(strncmp(req, "POST /logout?x=1 HTTP/1.1\r\n", 27) == 0);
		assert_non_null(
		    strcasestr(req, "\r\nContent-Type: application/x-www-form-urlencoded"));
		assert_null(strcasestr(req, "\r\nExpect:"));
		assert_non_null(strstr(req, "\r\n\r\nlogout_token=a.b.c"));
		assert_int_equal(cid_test_http_hits(srv), 1); /* nothing followed */
		free(req);
		cid_http_batch_free(b);
		cid_test_http_stop(srv);
		free(resp);
	}
}

/* POSTs in flight run together: two peers that hang cost one timeout, not two. */
static void test_batch_hanging_peers_time_out_together(void **state)
{
	const struct cid_fetch_limits quick = {
	    .max_bytes = MAX, .connect_timeout_ms = 1000, .timeout_ms = 600};
	struct cid_test_http *a = cid_test_http_start(NULL, 0);
	struct cid_test_http *hang = cid_test_http_start(NULL, 0);
	struct cid_http_batch *b = NULL;
	struct outcomes all = {0};
	char url_a[64];
	char url_b[64];
	double took;

	(void)state;
	cid_test_http_url(a, "/bc", url_a, sizeof(url_a));
	cid_test_http_url(hang, "/bc", url_b, sizeof(url_b));
	assert_int_equal(cid_http_batch_new(2, &b), CID_OK);
	assert_int_equal(cid_http_batch_post(b, url_a, "x=1", 3, &quick, NULL), CID_OK);
	assert_int_equal(cid_http_batch_post(b, url_b, "x=2", 3, &quick, NULL), CID_OK);
	/* the cap: a third POST waits for a free place */
	assert_int_equal(cid_http_batch_post(b, url_b, "x=3", 3, &quick, NULL), CID_ERR_TOOBIG);
	took = run_all(b, &all);
	assert_int_equal(all.n, 2);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(all.o[i].rc, CID_ERR_IO);
		assert_int_equal(all.o[i].status, 0);
		assert_non_null(strstr(all.o[i].why, "timed out"));
	}
	assert_true(took >= 0.5 && took < 1.1);
	cid_http_batch_free(b);
	cid_test_http_stop(a);
	cid_test_http_stop(hang);
}

/* The URL rules of cid_http_fetch; nobody listening; freeing with POSTs in flight. */
static void test_batch_refusals(void **state)
{
	struct cid_test_http *srv = cid_test_http_start(NULL, 0);
	struct cid_http_batch *b = NULL;
	struct outcomes all = {0};
	char url[64];

	(void)state;
	assert_int_equal(cid_http_batch_new(0, &b), CID_ERR_INVALID);
	assert_int_equal(cid_http_batch_new(1, &b), CID_OK);
	assert_int_equal(cid_http_batch_post(b, "http://city.example/bc", "x", 1, &limits, NULL),
			 CID_ERR_INVALID);
	assert_int_equal(cid_http_batch_post(b, "https://u:p@127.0.0.1/bc", "x", 1, &limits, NULL),
			 CID_ERR_INVALID);
	assert_int_equal(cid_http_batch_post(b, "ftp://127.0.0.1/bc", "x", 1, &limits, NULL),
			 CID_ERR_INVALID);
	assert_int_equal(cid_http_batch_active(b), 0);
	/* nobody listening: an outcome without an answer */
	cid_test_http_url(srv, "/bc", url, sizeof(url));
	cid_test_http_stop(srv);
	assert_int_equal(cid_http_batch_post(b, url, "x", 1, &limits, NULL), CID_OK);
	run_all(b, &all);
	assert_int_equal(all.n, 1);
	assert_int_equal(all.o[0].rc, CID_ERR_IO);
	assert_int_equal(all.o[0].status, 0);
	assert_true(all.o[0].why[0] != '\0');
	/* freed with a POST in flight: no outcome, nothing leaks */
	srv = cid_test_http_start(NULL, 0);
	cid_test_http_url(srv, "/bc", url, sizeof(url));
	assert_int_equal(cid_http_batch_post(b, url, "x", 1, &limits, NULL), CID_OK);
	assert_int_equal(cid_http_batch_run(b, 50, collect, &all), CID_OK);
	assert_int_equal(all.n, 1);
	cid_http_batch_free(b);
	cid_http_batch_free(NULL);
	cid_test_http_stop(srv);
}

/* The POST's handler: echoes what arrived as the body of a 409, with the content type seen. */
static void echo(void *arg, const char *req, size_t n, char **out, size_t *len)
{
	const char *body = strstr(req, "\r\n\r\n") + 4;
	const char *ct = strcasestr(req, "\r\ncontent-type: ");
	size_t blen = n - (size_t)(body - req);
	size_t ctlen = ct == NULL ? 0 : strcspn(ct + 16, "\r");
	size_t cap = 256 + blen + ctlen;
	int h;

	(void)arg;
	*out = malloc(cap);
	assert_non_null(*out);
	h = snprintf(
	    *out, cap,
	    "HTTP/1.1 409 Conflict\r\nConnection: close\r\nContent-Length: %zu\r\n\r\n%.*s|",
	    blen + ctlen + 1, (int)ctlen, ct == NULL ? "" : ct + 16);
	assert_true(h > 0);
	memcpy(*out + h, body, blen);
	*len = (size_t)h + blen;
}

/* A POST sends its body and content type, and hands back any status with its body. */
static void test_post_answers_any_status(void **state)
{
	struct cid_test_http *srv = cid_test_http_start_fn(echo, NULL);
	struct cid_http_answer a = {0};
	char url[128];
	char why[128] = "";

	(void)state;
	cid_test_http_url(srv, "/add-checkpoint", url, sizeof(url));
	assert_int_equal(cid_http_post(url, &limits, "text/plain; charset=utf-8", "old 0\n\nbody",
				       11, &a, why, sizeof(why)),
			 CID_OK);
	assert_int_equal(a.status, 409);
	assert_int_equal(a.len, strlen("text/plain; charset=utf-8|old 0\n\nbody"));
	assert_string_equal(a.body, "text/plain; charset=utf-8|old 0\n\nbody");
	free(a.body);
	/* the URL rules of a GET, and a content type that could smuggle a header */
	assert_int_equal(cid_http_post("http://example.com/x", &limits, "text/plain", "", 0, &a,
				       why, sizeof(why)),
			 CID_ERR_INVALID);
	assert_int_equal(
	    cid_http_post(url, &limits, "text/plain\r\nX-Evil: 1", "", 0, &a, why, sizeof(why)),
	    CID_ERR_INVALID);
	cid_test_http_stop(srv);
}

/* A POST's answer over the limit is refused, never cut. */
static void test_post_answer_over_the_limit(void **state)
{
	size_t len = 0;
	char *big = answer("200 OK", "Content-Length: 1001\r\n", MAX + 1, 'x', &len);
	struct cid_test_http *srv = cid_test_http_start(big, len);
	struct cid_http_answer a = {0};
	char url[128];
	char why[128] = "";

	(void)state;
	cid_test_http_url(srv, "/", url, sizeof(url));
	assert_int_equal(cid_http_post(url, &limits, "text/plain", "x", 1, &a, why, sizeof(why)),
			 CID_ERR_TOOBIG);
	assert_null(a.body);
	cid_test_http_stop(srv);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_answers),
	    cmocka_unit_test(test_redirect_only_to_https),
	    cmocka_unit_test(test_url_rules),
	    cmocka_unit_test(test_silent_peer_times_out),
	    cmocka_unit_test(test_connection_refused),
	    cmocka_unit_test(test_batch_post_answers),
	    cmocka_unit_test(test_batch_hanging_peers_time_out_together),
	    cmocka_unit_test(test_batch_refusals),
	    cmocka_unit_test(test_post_answers_any_status),
	    cmocka_unit_test(test_post_answer_over_the_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
