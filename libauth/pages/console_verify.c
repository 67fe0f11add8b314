/*
 * console_verify: the officer's check of the whole log: every entry's hash
 * chain and every checkpoint's signature, against all the keys the store
 * holds (retired ones included, since old checkpoints were signed with
 * them). It reads the store only; the page says where the chain breaks.
 */
#include "console_int.h"

#include "jose.h"

static enum cid_err verify_page(struct cid_ctx *ctx, const struct cid_request *req,
				struct cid_reply *reply, const struct officer *who)
{
	static const struct cid_audit_verify_opts one_thread = {.threads = 1};
	enum cid_err rc = CID_OK;
	struct cid_keyset *ks = NULL;
	struct cid_audit_report rep = {0};
	json_t *data = NULL;

	(void)req;
	CID_TRY(cid_keyset_load_all(cid_ctx_store(ctx), &ks));
	/* the server's own cores stay with its requests: the walk on this thread alone */
	CID_TRY(cid_audit_verify_store(cid_ctx_store(ctx), ks, &one_thread, &rep));
	data = console_base_data(who);
	CID_ENSURE(data != NULL, CID_ERR_NOMEM);
	CID_ENSURE(
	    json_object_set_new(data, "ok", json_boolean(rep.ok)) == 0 &&
		json_object_set_new(data, "bad", json_boolean(!rep.ok)) == 0 &&
		json_object_set_new(data, "entries", json_integer((json_int_t)rep.entries)) == 0 &&
		json_object_set_new(data, "checkpoints",
				    json_integer((json_int_t)rep.checkpoints)) == 0 &&
		json_object_set_new(data, "covered", json_integer((json_int_t)rep.covered)) == 0 &&
		json_object_set_new(data, "unsigned_tail", json_boolean(rep.unsigned_tail)) == 0,
	    CID_ERR_NOMEM);
	if (!rep.ok) {
		rep.reason[sizeof(rep.reason) - 1] = '\0';
		CID_ENSURE(json_object_set_new(data, "bad_seq",
					       json_integer((json_int_t)rep.bad_seq)) == 0 &&
			       json_object_set_new(data, "reason", json_string(rep.reason)) == 0,
			   CID_ERR_NOMEM);
	}
	rc = console_show(ctx, req, reply, 200, CID_PAGE_OFFICER_VERIFY, data);
	data = NULL;
out:
	cid_keyset_free(ks);
	json_decref(data);
	return rc;
}

enum cid_err cid_console_verify(struct cid_ctx *ctx, const struct cid_request *req,
				struct cid_reply *reply)
{
	return console_gated(ctx, req, reply, verify_page);
}
