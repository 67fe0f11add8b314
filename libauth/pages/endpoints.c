/*
 * endpoints: the router's one table, made of the rows each module keeps
 * beside its endpoints. It sits in the top layer because it names the
 * functions of every layer that answers a request; it adds no row of its own
 * but the stylesheet, so a path stays written where its function is. It also
 * answers a request with its row: the endpoint, then the frame of its page
 * (frame.h), the one step every page has in common.
 */
#include "endpoints.h"

#include "account_pages.h"
#include "account_security.h"
#include "audit_publish.h"
#include "buf.h"
#include "console.h"
#include "frame.h"
#include "oidc.h"

#include <stdlib.h>
#include <string.h>

static const struct cid_endpoint stylesheet[] = {
    {CID_STYLESHEET_PATH, NULL, true, false, false, CID_RUN_READS, NULL, NULL},
};

static const struct cid_endpoint *stylesheet_rows(size_t *n)
{
	*n = sizeof(stylesheet) / sizeof(stylesheet[0]);
	return stylesheet;
}

/* The modules' tables, in the order the router walks them. */
static const struct cid_endpoint *(*const tables[])(size_t *n) = {
    cid_oidc_endpoints,	   cid_audit_endpoints, cid_account_endpoints, cid_security_endpoints,
    cid_console_endpoints, cid_frame_endpoints, stylesheet_rows,
};

const struct cid_endpoint *cid_endpoint_row(size_t i)
{
	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
		size_t n = 0;
		const struct cid_endpoint *rows = tables[t](&n);

		if (i < n)
			return &rows[i];
		i -= n;
	}
	return NULL;
}

/*
 * A redirect to one of our own paths ("/account") goes below the config's
 * path_prefix: a tenant's (tenant.h) stays in its tenant. A URL elsewhere (a
 * service's redirect_uri) is left as it is.
 */
static enum cid_err prefix_location(const char *prefix, struct cid_reply *reply)
{
	struct cid_buf b;
	const char *loc = reply->location;

	if (prefix[0] == '\0' || loc == NULL || loc[0] != '/' || loc[1] == '/')
		return CID_OK;
	cid_buf_init(&b, (size_t)CID_MAX_URI * 4 + strlen(prefix));
	cid_buf_puts(&b, prefix);
	cid_buf_puts(&b, loc);
	if (cid_buf_status(&b) != CID_OK) {
		cid_buf_free(&b);
		return CID_ERR_TOOBIG;
	}
	free(reply->location);
	reply->location = cid_buf_take(&b, NULL);
	return reply->location == NULL ? CID_ERR_NOMEM : CID_OK;
}

enum cid_err cid_endpoint_answer(struct cid_ctx *ctx, const struct cid_endpoint *e,
				 const struct cid_request *req, struct cid_reply *reply)
{
	enum cid_err rc = e->fn(ctx, req, reply);

	if (rc == CID_OK)
		rc = prefix_location(cid_ctx_config(ctx)->path_prefix, reply);
	if (rc == CID_OK && e->page)
		rc = cid_frame_add(ctx, e, req, reply);
	return rc;
}
