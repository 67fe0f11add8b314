/*
 * console_resolve: who a pseudonym of the log is. The log names citizens by
 * pseudonyms (pseudonym.h), and the console shows them as such; an officer
 * who must know the person behind one (a disclosure request, a complaint)
 * asks here, with the reason, and the audit module writes the look-up
 * (officer.resolved, naming the officer and the reason) durably before the
 * answer is built (cid_audit_resolve). A pseudonym whose mapping was purged
 * at the end of its retention names no one, and that look-up is logged too.
 */
#include "console_int.h"

#include "account.h"
#include "pseudonym.h"

#include <stdio.h>
#include <string.h>

/* The citizen's username beside the account id; nothing when the account is gone. */
static enum cid_err add_username(struct cid_ctx *ctx, json_t *data)
{
	struct console_names nm = {.ctx = ctx, .known = json_object()};
	enum cid_err rc;

	if (nm.known == NULL)
		return CID_ERR_NOMEM;
	rc = console_citizen_name(&nm, cid_json_str(data, "citizen"), data);
	json_decref(nm.known);
	return rc;
}

static enum cid_err resolve_page(struct cid_ctx *ctx, const struct cid_request *req,
				 struct cid_reply *reply, const struct officer *who)
{
	enum cid_err rc = CID_OK;
	const char *pseudonym = cid_params_get(&req->params, "pseudonym");
	const char *seq_in = cid_params_get(&req->params, "seq");
	const char *reason = cid_params_get(&req->params, "reason");
	uint64_t seq = 0;
	char actor[8 + CID_OFFICER_MAX_NAME + 1];
	json_t *scope = NULL;
	json_t *data = NULL;

	/* a look-up is an act with a record: never a link a browser may prefetch */
	if (!req->post)
		return console_fail(ctx, req, reply, 405, "invalid_request", "err.post_only");
	if (pseudonym == NULL || !cid_pseudonym_syntax_ok(pseudonym))
		return console_bad_param(ctx, req, reply, "pseudonym");
	if (seq_in != NULL &&
	    cid_parse_u64(seq_in, strnlen(seq_in, 21), 0, INT64_MAX, &seq) != CID_OK)
		return console_bad_param(ctx, req, reply, "seq");
	snprintf(actor, sizeof(actor), "officer:%s", who->name);
	rc = cid_audit_resolve(cid_ctx_audit_log(ctx), actor, pseudonym, reason, req->now, &scope);
	/* the pseudonym and the actor are good: the reason (required of an officer) is not */
	if (rc == CID_ERR_INVALID)
		return console_bad_param(ctx, req, reply, "reason");
	CID_ENSURE(rc == CID_OK || rc == CID_ERR_NOTFOUND, rc);
	data = console_base_data(who);
	CID_ENSURE(data != NULL, CID_ERR_NOMEM);
	CID_ENSURE(json_object_set_new(data, "pseudonym", json_string(pseudonym)) == 0 &&
		       json_object_set_new(data, "reason", json_string(reason)) == 0 &&
		       json_object_set_new(data, "found", json_boolean(scope != NULL)) == 0 &&
		       json_object_set_new(data, "gone", json_boolean(scope == NULL)) == 0,
		   CID_ERR_NOMEM);
	if (seq_in != NULL)
		CID_ENSURE(json_object_set_new(data, "seq", json_integer((json_int_t)seq)) == 0,
			   CID_ERR_NOMEM);
	if (scope != NULL) {
		CID_ENSURE(json_object_update(data, scope) == 0, CID_ERR_NOMEM);
		CID_TRY(add_username(ctx, data));
	}
	rc = console_show(ctx, req, reply, 200, CID_PAGE_OFFICER_RESOLVE, data);
	data = NULL;
out:
	json_decref(scope);
	json_decref(data);
	return rc;
}

enum cid_err cid_console_resolve(struct cid_ctx *ctx, const struct cid_request *req,
				 struct cid_reply *reply)
{
	return console_gated(ctx, req, reply, resolve_page);
}
