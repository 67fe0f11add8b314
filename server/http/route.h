/*
 * route: the endpoint of a request, from libauth's one table (endpoints.h):
 * path, methods, the one libauth function that answers, and how the skin
 * must treat it (struct cid_endpoint, reply.h).
 */
#ifndef CID_ROUTE_H
#define CID_ROUTE_H

#include "endpoints.h"
#include "reply.h"
#include "template.h"

#include <microhttpd.h>
#include <stdbool.h>

/*
 * The route of path and method; NULL with *status 404 (no such path) or 405
 * (path exists, method not allowed).
 */
const struct cid_endpoint *cid_route_find(const char *path, const char *method, int *status);

/*
 * Sends reply (rendering its page with tpl) on the connection; a reply whose
 * audit entries are not written yet (reply->audit) is never sent: the client
 * gets a bare 500 instead.
 */
enum MHD_Result cid_respond(const struct cid_templates *tpl, struct MHD_Connection *mhd,
			    struct cid_reply *reply);

/* Sends the stylesheet of tpl (200, text/css) on the connection. */
enum MHD_Result cid_respond_css(const struct cid_templates *tpl, struct MHD_Connection *mhd);

#endif
