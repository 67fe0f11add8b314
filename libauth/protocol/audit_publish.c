/*
 * audit_publish: the audit verifier keys, served from the store as they
 * are, so a rotation made by the CLI is published at once; the private keys
 * never appear (cid_audit_vkeys returns vkeys only).
 */
#include "audit_publish.h"

#include "audit.h"
#include "cid.h"

/* GET /.well-known/civicid-audit: {"origin", "vkeys", "active"}; 404 before the first key. */
static enum cid_err vkeys(struct cid_ctx *ctx, const struct cid_request *req,
			  struct cid_reply *reply)
{
	json_t *doc = NULL;
	enum cid_err rc = cid_audit_vkeys(cid_ctx_store(ctx), &doc);

	(void)req;
	if (rc == CID_ERR_NOTFOUND)
		return cid_reply_json(reply, 404, json_pack("{s:s}", "error", "not_found"));
	if (rc != CID_OK)
		return rc;
	return cid_reply_json(reply, 200, doc);
}

/* path, fn, get, post, page, slow, discovery */
static const struct cid_endpoint endpoints[] = {
    {CID_AUDIT_VKEYS_PATH, vkeys, true, false, false, CID_RUN_READS, NULL, NULL},
};

const struct cid_endpoint *cid_audit_endpoints(size_t *n)
{
	*n = sizeof(endpoints) / sizeof(endpoints[0]);
	return endpoints;
}
