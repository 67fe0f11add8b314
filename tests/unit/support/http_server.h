/*
 * A small real HTTP server on 127.0.0.1 for the tests of code that fetches
 * documents (http_fetch, client registration with a sector identifier URI)
 * or posts them (back-channel logout, witness pushes). It runs in its own
 * thread and answers every connection with the same raw bytes: status line,
 * headers and body as given, and keeps the first requests it received; or,
 * started with a handler, with what the handler makes of each whole request.
 */
#ifndef CID_TEST_HTTP_SERVER_H
#define CID_TEST_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

struct cid_test_http;

/*
 * Starts a server on a free loopback port. Each connection gets response
 * (copied; len bytes) after the request's header has arrived, then the
 * server closes its side. response NULL: the server reads and never
 * answers (a peer that hangs). Aborts the test on failure.
 */
struct cid_test_http *cid_test_http_start(const char *response, size_t len);

/*
 * A handler: gets the whole request (header, blank line and the body of its
 * Content-Length) and returns the raw answer in *out (malloc'd; the server
 * frees it), *len its length.
 */
typedef void cid_test_http_fn(void *arg, const char *req, size_t n, char **out, size_t *len);

/* Starts a server (as above) answering each request with fn(arg, ...). */
struct cid_test_http *cid_test_http_start_fn(cid_test_http_fn *fn, void *arg);

/* The port it listens on. */
uint16_t cid_test_http_port(const struct cid_test_http *srv);

/* How many connections it accepted so far. */
unsigned cid_test_http_hits(struct cid_test_http *srv);

/* Requests kept, head and body as received (up to 16 KiB each). */
#define CID_TEST_HTTP_KEEP 64

/* A copy of the i-th request received (from 0; caller frees), or NULL when none. */
char *cid_test_http_request(struct cid_test_http *srv, unsigned i);

/* Writes "http://127.0.0.1:PORT" followed by path into out[outsz]. */
void cid_test_http_url(const struct cid_test_http *srv, const char *path, char *out, size_t outsz);

/* Stops the thread, closes the socket, frees srv. NULL is a no-op. */
void cid_test_http_stop(struct cid_test_http *srv);

#endif
