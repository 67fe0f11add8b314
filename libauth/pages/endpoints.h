/*
 * endpoints: every path civicid answers, as one table.
 *
 * Each module lists the rows of its own endpoints beside them (reply.h's
 * struct cid_endpoint): the OpenID Connect endpoints (cid_oidc_endpoints,
 * whose rows also make the discovery document), the audit verifier keys
 * (cid_audit_endpoints), the citizen's account pages
 * (cid_account_endpoints) and the officer's console
 * (cid_console_endpoints). This table is those rows in that order, then the
 * stylesheet, which the skin serves itself. The HTTP skin routes by walking
 * it (server/http/route.c); no other place lists a path, and no path is
 * listed twice (test_endpoints). Thread-safe: the rows are static.
 */
#ifndef CID_ENDPOINTS_H
#define CID_ENDPOINTS_H

#include "cid.h"
#include "err.h"
#include "reply.h"

#include <stddef.h>

/* The stylesheet's path: a row without a function (web/static/civicid.css). */
#define CID_STYLESHEET_PATH "/static/civicid.css"

/* Row i of the table (0 first), or NULL past the last. Static. */
const struct cid_endpoint *cid_endpoint_row(size_t i);

/*
 * Answers req with row e (e->fn not NULL): e->fn fills *reply (zeroed), then,
 * for a page endpoint (e->page), cid_frame_add adds the frame of its page
 * and the language cookie (frame.h). What the skin calls for every request;
 * a test may call e->fn alone for an endpoint's own answer. Returns e->fn's
 * return (reply.h: CID_OK whenever a reply was built), else the frame's
 * error (CID_ERR_TOOBIG, CID_ERR_NOMEM).
 */
CID_MUST_CHECK enum cid_err cid_endpoint_answer(struct cid_ctx *ctx, const struct cid_endpoint *e,
						const struct cid_request *req,
						struct cid_reply *reply);

#endif
