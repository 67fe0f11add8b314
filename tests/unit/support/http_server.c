/*
 * The loopback HTTP server of the unit tests: one thread, one connection at
 * a time, poll() with a short tick so that a stop request is seen quickly.
 */
#include "http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

struct cid_test_http {
	int fd;
	uint16_t port;
	char *response; /* NULL: never answer */
	size_t len;
	pthread_t thread;
	pthread_mutex_t lock;
	bool stop;
	unsigned hits;
	char *requests[CID_TEST_HTTP_KEEP]; /* the first ones, head and body, as received */
	unsigned kept;
	cid_test_http_fn *fn; /* NULL: answer response */
	void *arg;
};

static bool stopping(struct cid_test_http *srv)
{
	bool stop;

	pthread_mutex_lock(&srv->lock);
	stop = srv->stop;
	pthread_mutex_unlock(&srv->lock);
	return stop;
}

/* Waits until fd is readable or the server stops; false when stopping. */
static bool wait_readable(struct cid_test_http *srv, int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	while (!stopping(srv)) {
		int n = poll(&p, 1, 50);
		if (n > 0)
			return true;
	}
	return false;
}

/* The Content-Length of a request head (0 when it has none). */
static size_t content_length(const char *head)
{
	const char *p = strcasestr(head, "\r\ncontent-length:");

	return p == NULL ? 0 : strtoul(p + 17, NULL, 10);
}

/* Keeps a copy of the request in buf[0..have) if there is room. */
static void keep(struct cid_test_http *srv, const char *buf, size_t have)
{
	char *copy = strndup(buf, have);

	assert_non_null(copy);
	pthread_mutex_lock(&srv->lock);
	if (srv->kept < CID_TEST_HTTP_KEEP) {
		srv->requests[srv->kept++] = copy;
		copy = NULL;
	}
	pthread_mutex_unlock(&srv->lock);
	free(copy);
}

/* Reads a whole request (header and Content-Length body) and answers it with srv->fn. */
static void serve_fn(struct cid_test_http *srv, int c)
{
	size_t cap = 1 << 20;
	char *buf = malloc(cap + 1);
	size_t have = 0;
	size_t need = 0;
	char *out = NULL;
	size_t len = 0;

	assert_non_null(buf);
	while (have < cap && wait_readable(srv, c)) {
		ssize_t n = read(c, buf + have, cap - have);
		char *end;

		if (n <= 0)
			break;
		have += (size_t)n;
		buf[have] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (end == NULL)
			continue;
		need = (size_t)(end + 4 - buf) + content_length(buf);
		if (have >= need)
			break;
	}
	if (need > 0 && have >= need) {
		srv->fn(srv->arg, buf, need, &out, &len);
		for (size_t off = 0; out != NULL && off < len;) {
			ssize_t n = send(c, out + off, len - off, MSG_NOSIGNAL);
			if (n <= 0)
				break;
			off += (size_t)n;
		}
		shutdown(c, SHUT_WR);
	}
	free(out);
	free(buf);
}

static void serve_one(struct cid_test_http *srv, int c)
{
	bool fn;

	pthread_mutex_lock(&srv->lock);
	fn = srv->fn != NULL;
	pthread_mutex_unlock(&srv->lock);
	if (fn) {
		serve_fn(srv, c);
		return;
	}

	char buf[16384];
	size_t have = 0;
	const char *end = NULL;

	/* the request header, up to its blank line, then its body */
	while (have < sizeof(buf) - 1 && wait_readable(srv, c)) {
		ssize_t n = read(c, buf + have, sizeof(buf) - 1 - have);
		if (n <= 0)
			return;
		have += (size_t)n;
		buf[have] = '\0';
		if (end == NULL)
			end = strstr(buf, "\r\n\r\n");
		if (end != NULL && have >= (size_t)(end + 4 - buf) + content_length(buf))
			break;
	}
	keep(srv, buf, have);
	if (srv->response != NULL) {
		for (size_t off = 0; off < srv->len;) {
			ssize_t n = send(c, srv->response + off, srv->len - off, MSG_NOSIGNAL);
			if (n <= 0)
				return;
			off += (size_t)n;
		}
		shutdown(c, SHUT_WR);
	}
	/* until the client hangs up (or the test ends) */
	while (wait_readable(srv, c))
		if (read(c, buf, sizeof(buf)) <= 0)
			return;
}

static void *run(void *arg)
{
	struct cid_test_http *srv = arg;

	while (wait_readable(srv, srv->fd)) {
		int c = accept(srv->fd, NULL, NULL);
		if (c < 0)
			continue;
		pthread_mutex_lock(&srv->lock);
		srv->hits++;
		pthread_mutex_unlock(&srv->lock);
		serve_one(srv, c);
		close(c);
	}
	return NULL;
}

struct cid_test_http *cid_test_http_start(const char *response, size_t len)
{
	struct cid_test_http *srv = calloc(1, sizeof(*srv));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
	socklen_t alen = sizeof(a);

	assert_non_null(srv);
	if (response != NULL) {
		srv->response = malloc(len + 1);
		assert_non_null(srv->response);
		memcpy(srv->response, response, len);
		srv->len = len;
	}
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	srv->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(srv->fd >= 0);
	assert_int_equal(bind(srv->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(srv->fd, 8), 0);
	assert_int_equal(getsockname(srv->fd, (struct sockaddr *)&a, &alen), 0);
	srv->port = ntohs(a.sin_port);
	assert_int_equal(pthread_mutex_init(&srv->lock, NULL), 0);
	assert_int_equal(pthread_create(&srv->thread, NULL, run, srv), 0);
	return srv;
}

struct cid_test_http *cid_test_http_start_fn(cid_test_http_fn *fn, void *arg)
{
	struct cid_test_http *srv = cid_test_http_start(NULL, 0);

	/* the thread reads fn only once a connection comes: set it under the lock */
	pthread_mutex_lock(&srv->lock);
	srv->fn = fn;
	srv->arg = arg;
	pthread_mutex_unlock(&srv->lock);
	return srv;
}

uint16_t cid_test_http_port(const struct cid_test_http *srv)
{
	return srv->port;
}

unsigned cid_test_http_hits(struct cid_test_http *srv)
{
	unsigned n;

	pthread_mutex_lock(&srv->lock);
	n = srv->hits;
	pthread_mutex_unlock(&srv->lock);
	return n;
}

char *cid_test_http_request(struct cid_test_http *srv, unsigned i)
{
	char *copy = NULL;

	pthread_mutex_lock(&srv->lock);
	if (i < srv->kept) {
		copy = strdup(srv->requests[i]);
		assert_non_null(copy);
	}
	pthread_mutex_unlock(&srv->lock);
	return copy;
}

void cid_test_http_url(const struct cid_test_http *srv, const char *path, char *out, size_t outsz)
{
	int n = snprintf(out, outsz, "http://127.0.0.1:%u%s", (unsigned)srv->port, path);

	assert_true(n > 0 && (size_t)n < outsz);
}

void cid_test_http_stop(struct cid_test_http *srv)
{
	if (srv == NULL)
		return;
	pthread_mutex_lock(&srv->lock);
	srv->stop = true;
	pthread_mutex_unlock(&srv->lock);
	pthread_join(srv->thread, NULL);
	close(srv->fd);
	pthread_mutex_destroy(&srv->lock);
	for (unsigned i = 0; i < srv->kept; i++)
		free(srv->requests[i]);
	free(srv->response);
	free(srv);
}
