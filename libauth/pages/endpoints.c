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
#include "console.h"
#include "frame.h"
#include "oidc.h"

static const struct cid_endpoint stylesheet[] = {
    {CID_STYLESHEET_PATH, NULL, true, false, false, false, NULL},
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

enum cid_err cid_endpoint_answer(struct cid_ctx *ctx, const struct cid_endpoint *e,
				 const struct cid_request *req, struct cid_reply *reply)
{
	enum cid_err rc = e->fn(ctx, req, reply);

	if (rc == CID_OK && e->page)
		rc = cid_frame_add(ctx, e, req, reply);
	return rc;
}
