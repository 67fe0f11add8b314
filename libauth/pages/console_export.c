/*
 * console_export: a slice of the log as a download (CSV or JSON Lines).
 *
 * The one write of the console: before a byte of the file leaves, the audit
 * module appends an "audit.exported" entry naming the officer, the filter,
 * the format and the number of rows (cid_audit_write_recorded), so taking a
 * copy of the record is on the record. An export larger than console_export_max is
 * refused whole (nothing leaves, so nothing is logged), never cut short.
 */
#include "console_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum cid_err export_page(struct cid_ctx *ctx, const struct cid_request *req,
				struct cid_reply *reply, const struct officer *who)
{
	enum cid_err rc = CID_OK;
	struct filter_in fi;
	const char *format = cid_params_get(&req->params, "format");
	bool csv;
	char actor[8 + CID_OFFICER_MAX_NAME + 1];
	struct cid_audit_exported x = {.actor = actor, .endpoint = "officer-console"};
	char *body = NULL;
	size_t len = 0;
	FILE *mem = NULL;

	if (format == NULL || (strcmp(format, "csv") != 0 && strcmp(format, "jsonl") != 0))
		return console_bad_param(ctx, req, reply, "format");
	csv = strcmp(format, "csv") == 0;
	CID_TRY(console_parse_filter(ctx, req, reply, &fi));
	snprintf(actor, sizeof(actor), "officer:%s", who->name);
	x.format = format;
	x.filter = &fi.f;
	x.now = req->now;
	mem = open_memstream(&body, &len);
	CID_ENSURE(mem != NULL, CID_ERR_NOMEM);
	/* the export is on the record before a byte of it leaves */
	rc = cid_audit_write_recorded(cid_ctx_audit_log(ctx), &x,
				      (size_t)cid_ctx_config(ctx)->console_export_max, mem, NULL);
	if (rc == CID_ERR_INVALID) {
		rc = console_bad_param(ctx, req, reply, "filter");
		goto out;
	}
	if (rc == CID_ERR_TOOBIG) { /* nothing leaves, so nothing is logged */
		rc = console_fail(ctx, req, reply, 400, "invalid_request",
				  "err.export_narrow_filter");
		goto out;
	}
	CID_TRY(rc);
	rc = fclose(mem) == 0 ? CID_OK : CID_ERR_IO;
	mem = NULL;
	CID_TRY(rc);
	reply->status = 200;
	reply->content_type = csv ? "text/csv; charset=utf-8" : "application/jsonl";
	reply->content_disposition = csv ? "attachment; filename=\"civicid-audit.csv\""
					 : "attachment; filename=\"civicid-audit.jsonl\"";
	reply->no_store = true;
	reply->body = body;
	reply->body_len = len;
	body = NULL;
out:
	if (mem != NULL)
		fclose(mem);
	free(body);
	return rc;
}

enum cid_err cid_console_export(struct cid_ctx *ctx, const struct cid_request *req,
				struct cid_reply *reply)
{
	return console_gated(ctx, req, reply, export_page);
}
