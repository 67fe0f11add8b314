/*
 * response: how the HTTP skin sends a struct cid_reply (server/http/response.c),
 * on a real libmicrohttpd daemon on 127.0.0.1, read back over a socket. One
 * row per reply: what it holds, the status that must go out, the header lines
 * that must be there and the headers that must not.
 *
 * The rule under test: an answer goes out with every header it has or not at
 * all. A header libmicrohttpd refuses (a value with a CR or LF, an empty one)
 * makes the answer a bare 500 with no-store, never the same answer without
 * its Location, Set-Cookie or Cache-Control. Nor does an answer whose audit
 * entries are not written yet (reply.audit): it is a bare 500, and nothing of
 * its body leaves.
 */
#include "audit.h"
#include "audit_int.h"
#include "route.h"
#include "support.h"
#include "template.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#define PAGE_CSP                                                                                   \
	"default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; "           \
	"base-uri 'none'"
#define COMMON "X-Content-Type-Options: nosniff|X-Frame-Options: DENY|Referrer-Policy: no-referrer"
#define FAILED "Content-Type: text/plain; charset=utf-8|Cache-Control: no-store|" COMMON

struct row {
	const char *name;
	/* the reply */
	int status;
	enum cid_page page; /* a page gets {"client_name": "RP"} in "en" */
	const char *content_type;
	const char *body;
	const char *location;
	const char *cookie;
	const char *www_authenticate;
	bool no_store;
	/* what goes out */
	int want;
	const char *present; /* "Name: value" lines that must be there, '|' between */
	const char *absent;  /* header names that must not be there, '|' between */

	/* the reply's frame_src (a page's front-channel logout frames) */
	const char *frame_src;
	/* the reply holds audit entries not yet written (reply.audit) */
	bool unwritten;
};

static const struct row rows[] = {
    {"a JSON answer with no-store", 200, CID_PAGE_NONE, "application/json", "{}", NULL, NULL, NULL,
     true, 200, "Content-Type: application/json|Cache-Control: no-store|Pragma: no-cache|" COMMON,
     "Location|Set-Cookie", NULL, false},
    {"a redirect", 302, CID_PAGE_NONE, NULL, NULL, "https://rp.example/cb?code=x", NULL, NULL,
     false, 302, "Location: https://rp.example/cb?code=x|" COMMON, "Cache-Control", NULL, false},
    {"a redirect setting a cookie", 303, CID_PAGE_NONE, NULL, NULL, "/next", "c=v; Path=/", NULL,
     true, 303, "Location: /next|Set-Cookie: c=v; Path=/|Cache-Control: no-store", NULL, NULL,
     false},
    {"a 401 with its challenge", 401, CID_PAGE_NONE, "application/json", "{}", NULL, NULL,
     "Basic realm=\"civicid\"", true, 401, "WWW-Authenticate: Basic realm=\"civicid\"", NULL, NULL,
     false},
    {"a page", 200, CID_PAGE_LOGGED_OUT, NULL, NULL, NULL, "c=v; Path=/", NULL, true, 200,
     "Content-Type: text/html; charset=utf-8|Content-Security-Policy: " PAGE_CSP
     "|Set-Cookie: c=v; Path=/|Cache-Control: no-store|" COMMON,
     NULL, NULL, false},
    {"no status: nothing was decided", 0, CID_PAGE_NONE, NULL, NULL, NULL, NULL, NULL, false, 500,
     COMMON, NULL, NULL, false},
    /* a header that cannot be added: the answer is a 500, not the answer without it */
    {"a Location with a line break", 302, CID_PAGE_NONE, NULL, NULL,
     "https://rp.example/cb\r\nSet-Cookie: planted=1", NULL, NULL, false, 500, FAILED,
     "Location|Set-Cookie", NULL, false},
    {"a Set-Cookie with a line break, on a no-store answer", 200, CID_PAGE_NONE, "application/json",
     "{\"access_token\":\"t\"}", NULL, "c=v\nX-Injected: 1", NULL, true, 500, FAILED,
     "Set-Cookie|X-Injected|Pragma", NULL, false},
    {"a Set-Cookie with a line break on a page", 200, CID_PAGE_LOGGED_OUT, NULL, NULL, NULL,
     "c=v\r\n", NULL, true, 500, FAILED, "Set-Cookie|Content-Security-Policy", NULL, false},
    {"an empty WWW-Authenticate", 401, CID_PAGE_NONE, "application/json", "{}", NULL, NULL, "",
     true, 500, FAILED, "WWW-Authenticate", NULL, false},
    /* the logged-out page frames its services' front-channel logout URIs, those only */
    {"a page framing the origins libauth chose", 200, CID_PAGE_LOGGED_OUT, NULL, NULL, NULL, NULL,
     NULL, true, 200,
     "Content-Security-Policy: " PAGE_CSP "; frame-src https://rp.example http://127.0.0.1:4000",
     NULL, "https://rp.example http://127.0.0.1:4000", false},
    {"a frame-src with a line break", 200, CID_PAGE_LOGGED_OUT, NULL, NULL, NULL, NULL, NULL, true,
     500, FAILED, "Content-Security-Policy|X-Injected", "https://rp.example\r\nX-Injected: 1",
     false},
    /* a release whose entries are not durable: nothing of it leaves */
    {"an answer whose audit entries are not written", 200, CID_PAGE_NONE, "application/json",
     "{\"email\":\"hanako@example.jp\"}", NULL, "c=v; Path=/", NULL, true, 500, FAILED,
     "Set-Cookie|Pragma", NULL, true},
};

struct server {
	struct MHD_Daemon *mhd;
	struct cid_templates *tpl;
	uint16_t port;
	char dir[256];
	struct cid_store *s;
	struct cid_audit *log; /* the log of the rows' unwritten entries */
};

/* Audit entries made for srv's log, not written (what reply.audit holds). */
static struct cid_audit_pending *unwritten_entries(const struct server *srv)
{
	// NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers
	json_t **entries = calloc(1, sizeof(*entries));
	struct cid_audit_pending *p = NULL;

	assert_non_null(entries);
	entries[0] = json_pack("{s:s, s:s, s:s}", "type", "release.permit", "service", "rp1",
			       "actor", "service");
	assert_non_null(entries[0]);
	assert_int_equal(audit_pending_new(srv->log, entries, NULL, 1, &p), CID_OK);
	return p;
}

/* Builds the reply of row r, as an endpoint would have left it. */
static void reply_of(const struct server *srv, const struct row *r, struct cid_reply *reply)
{
	reply->status = r->status;
	reply->page = r->page;
	reply->content_type = r->content_type;
	if (r->page != CID_PAGE_NONE) {
		reply->page_data = json_pack("{s:s}", "client_name", "RP");
		reply->locale = "en";
		assert_non_null(reply->page_data);
	}
	if (r->body != NULL) {
		reply->body = strdup(r->body);
		reply->body_len = strlen(r->body);
		assert_non_null(reply->body);
	}
	if (r->location != NULL)
		assert_non_null(reply->location = strdup(r->location));
	if (r->cookie != NULL) {
		assert_non_null(reply->cookies[0] = strdup(r->cookie));
		reply->n_cookies = 1;
	}
	if (r->www_authenticate != NULL)
		assert_non_null(reply->www_authenticate = strdup(r->www_authenticate));
	if (r->frame_src != NULL)
		assert_non_null(reply->frame_src = strdup(r->frame_src));
	reply->no_store = r->no_store;
	if (r->unwritten)
		reply->audit = unwritten_entries(srv);
}

/* The daemon's handler: GET /N answers with row N through cid_respond. */
// NOLINTBEGIN(readability-non-const-parameter): libmicrohttpd's handler type
static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **con_cls)
// NOLINTEND(readability-non-const-parameter)
{
	struct server *srv = cls;
	struct cid_reply reply = {0};
	enum MHD_Result ret;
	char *end = NULL;
	unsigned long i = strtoul(url + 1, &end, 10);

	(void)method;
	(void)version;
	(void)upload;
	(void)upload_size;
	if (*con_cls == NULL) { /* answer on the second call, as daemon.c does */
		*con_cls = srv;
		return MHD_YES;
	}
	if (end == url + 1 || *end != '\0' || i >= sizeof(rows) / sizeof(rows[0]))
		return MHD_NO;
	reply_of(srv, &rows[i], &reply);
	ret = cid_respond(srv->tpl, conn, &reply);
	cid_reply_free(&reply);
	return ret;
}

static int setup(void **state)
{
	struct server *srv = calloc(1, sizeof(*srv));
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	char err[256];
	const union MHD_DaemonInfo *info;

	assert_non_null(srv);
	srv->s = cid_test_store_open(srv->dir);
	assert_int_equal(cid_audit_open(srv->s, false, &srv->log), CID_OK);
	assert_int_equal(cid_templates_load(CID_WEB_DIR, &srv->tpl, err, sizeof(err)), CID_OK);
	srv->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handle, srv,
				    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_END);
	assert_non_null(srv->mhd);
	info = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_BIND_PORT);
	assert_non_null(info);
	srv->port = info->port;
	*state = srv;
	return 0;
}

static int teardown(void **state)
{
	struct server *srv = *state;

	MHD_stop_daemon(srv->mhd);
	cid_templates_free(srv->tpl);
	cid_audit_close(srv->log);
	cid_test_store_close(srv->s, srv->dir);
	free(srv);
	return 0;
}

/* GETs /i and reads the whole answer (the server closes) into out[outsz]. */
static void fetch(const struct server *srv, size_t i, char *out, size_t outsz)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons(srv->port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct timeval tv = {.tv_sec = 10};
	char req[128];
	size_t got = 0;
	ssize_t n;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int len = snprintf(req, sizeof(req),
			   "GET /%zu HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", i);

	assert_true(fd >= 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(write(fd, req, (size_t)len), len);
	while (got + 1 < outsz && (n = read(fd, out + got, outsz - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	close(fd);
}

/* True if the header block head (up to the blank line) has the line want. */
static bool has_line(const char *head, const char *want, size_t n)
{
	for (const char *p = strstr(head, "\r\n"); p != NULL; p = strstr(p + 2, "\r\n")) {
		const char *line = p + 2;

		if (strncmp(line, "\r\n", 2) == 0)
			return false; /* the end of the header */
		if (strncasecmp(line, want, n) == 0 && strncmp(line + n, "\r\n", 2) == 0)
			return true;
	}
	return false;
}

/* True if head has a header named name (n bytes). */
static bool has_header(const char *head, const char *name, size_t n)
{
	for (const char *p = strstr(head, "\r\n"); p != NULL; p = strstr(p + 2, "\r\n")) {
		const char *line = p + 2;

		if (strncmp(line, "\r\n", 2) == 0)
			return false;
		if (strncasecmp(line, name, n) == 0 && line[n] == ':')
			return true;
	}
	return false;
}

/* Runs one row; returns the number of problems found (each printed). */
static int run_row(const struct server *srv, size_t i)
{
	const struct row *r = &rows[i];
	char answer[16384];
	int status = 0;
	int bad = 0;

	fetch(srv, i, answer, sizeof(answer));
	if (sscanf(answer, "HTTP/1.%*d %d", &status) != 1 || status != r->want) {
		print_error("%s: expected %d, got: %.80s\n", r->name, r->want, answer);
		return 1;
	}
	for (const char *p = r->present; p != NULL && *p != '\0';) {
		size_t n = strcspn(p, "|");

		if (!has_line(answer, p, n)) {
			print_error("%s: no header line %.*s\n", r->name, (int)n, p);
			bad++;
		}
		p += n + (p[n] == '|');
	}
	for (const char *p = r->absent; p != NULL && *p != '\0';) {
		size_t n = strcspn(p, "|");

		if (has_header(answer, p, n)) {
			print_error("%s: header %.*s must not go out\n", r->name, (int)n, p);
			bad++;
		}
		p += n + (p[n] == '|');
	}
	if (r->want == 500 && r->body != NULL && strstr(answer, r->body) != NULL) {
		print_error("%s: the refused answer's body went out\n", r->name);
		bad++;
	}
	return bad;
}

static void test_reply_goes_out_whole_or_as_500(void **state)
{
	const struct server *srv = *state;
	size_t n = sizeof(rows) / sizeof(rows[0]);
	size_t failed = 0;

	for (size_t i = 0; i < n; i++)
		if (run_row(srv, i) > 0)
			failed++;
	if (failed > 0)
		fail_msg("%zu of %zu rows failed", failed, n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_reply_goes_out_whole_or_as_500, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
