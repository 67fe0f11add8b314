/*
 * route: the static table of endpoints: path, methods, the one libauth
 * function that answers, and how the skin must treat it.
 */
#ifndef CID_ROUTE_H
#define CID_ROUTE_H

#include "oidc.h"
#include "template.h"

#include <microhttpd.h>
#include <stdbool.h>

struct route {
	const char *path;
	/* the endpoint; NULL for the stylesheet, which the skin serves itself */
	enum cid_err (*fn)(struct cid_ctx *ctx, const struct cid_request *req,
			   struct cid_reply *reply);
	bool get, post;
	bool page; /* answers with HTML pages: input errors get an error page */
	bool slow; /* runs on a login worker, not on a polling thread */
};

/*
 * The route of path and method; NULL with *status 404 (no such path) or 405
 * (path exists, method not allowed).
 */
const struct route *cid_route_find(const char *path, const char *method, int *status);

/* Sends reply (rendering its page with tpl) on the connection. */
enum MHD_Result cid_respond(const struct cid_templates *tpl, struct MHD_Connection *mhd,
			    struct cid_reply *reply);

/* Sends the stylesheet of tpl (200, text/css) on the connection. */
enum MHD_Result cid_respond_css(const struct cid_templates *tpl, struct MHD_Connection *mhd);

#endif
