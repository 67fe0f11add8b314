/*
 * witness_http: the HTTP face of `civicid witness serve`, a libmicrohttpd
 * daemon of its own (the OpenID Connect server's router knows nothing of
 * it). One endpoint, POST /add-checkpoint (c2sp.org/tlog-witness): the body
 * goes to cid_witness_add_checkpoint, whose verdict, status, content type
 * and body are sent as they are. No rule lives here.
 */
#ifndef CID_WITNESS_HTTP_H
#define CID_WITNESS_HTTP_H

#include "err.h"
#include "witness.h"

#include <stdint.h>
#include <stdio.h>

struct cid_witness_http;

/*
 * Starts answering on listen (an IPv4 or IPv6 literal) and port (0: a free
 * one, written to *port_out) for w (borrowed: it must outlive the daemon).
 * Each refused request is reported as one line on log (may be NULL).
 * *out is stopped with cid_witness_http_stop.
 * Errors: CID_ERR_CONFIG (listen is no address), CID_ERR_IO (cannot bind or
 * start), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_witness_http_start(struct cid_witness *w, const char *listen,
						   uint16_t port, FILE *log,
						   struct cid_witness_http **out,
						   uint16_t *port_out);

/* Stops the daemon (finishing requests in progress) and frees it. NULL is a no-op. */
void cid_witness_http_stop(struct cid_witness_http *h);

#endif
