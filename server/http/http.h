/*
 * http: the libmicrohttpd front of civicid. It translates requests into
 * struct cid_request, calls one libauth endpoint, and renders the struct
 * cid_reply. No protocol rule lives here.
 */
#ifndef CID_HTTP_H
#define CID_HTTP_H

#include "cid.h"
#include "err.h"
#include "template.h"

#include <stdint.h>

struct cid_http;

/*
 * Starts the server for ctx (borrowed) on the config's listen address and port,
 * with templates (borrowed). *port_out receives the bound port (useful with
 * port 0). *out is stopped with cid_http_stop.
 * Errors: CID_ERR_CONFIG (bad listen address), CID_ERR_IO (cannot bind or start).
 */
CID_MUST_CHECK enum cid_err cid_http_start(struct cid_ctx *ctx, const struct cid_templates *tpl,
					   struct cid_http **out, uint16_t *port_out);

struct cid_tenants;

/*
 * Starts the server for several cities (tenant.h): cfg (borrowed) is the
 * server's, for its listen address, port and limits; a request for
 * /t/NAME/PATH is answered by tenant NAME's context (opened on first use)
 * as PATH; every other path, and an unknown or disabled tenant, is a 404.
 * Errors: those of cid_http_start.
 */
CID_MUST_CHECK enum cid_err cid_http_start_tenants(const struct cid_config *cfg,
						   struct cid_tenants *tenants,
						   const struct cid_templates *tpl,
						   struct cid_http **out, uint16_t *port_out);

/* Stops accepting, finishes the login workers, frees everything. NULL is a no-op. */
void cid_http_stop(struct cid_http *h);

#endif
