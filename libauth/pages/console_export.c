/*
 * console_export: a slice of the log as a download (CSV or JSON Lines).
 *
 * The one write of the console: before a byte of the file leaves, an
 * "audit.exported" entry naming the officer, the filter, the format and the
 * number of rows is appended to the log itself, so taking a copy of the
 * record is on the record. An export larger than console_export_max is
 * refused whole (nothing leaves, so nothing is logged), never cut short.
 */
#include "console_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The "audit.exported" entry of an export by officer name of the filter fi. NULL: no memory. */
static json_t *export_entry(const char *name, const struct filter_in *fi, const char *format,
			    uint64_t rows, int64_t now)
{
	char when[21];
	char actor[8 + CID_OFFICER_MAX_NAME + 1];
	char count[24];
	json_t *ext;
	json_t *e;
	const char *names[] = {"citizen", "service", "release", "attribute", "type", "from", "to"};
	const char *values[] = {fi->f.citizen, fi->service, fi->release, fi->attribute,
				fi->type,      fi->f.from,  fi->f.to};

	if (cid_audit_time(now, when) != CID_OK)
		return NULL;
	snprintf(actor, sizeof(actor), "officer:%s", name);
	snprintf(count, sizeof(count), "%llu", (unsigned long long)rows);
	e = json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:s}}", "type", "audit.exported", "time", when,
		      "actor", actor, "endpoint", "officer-console", "ext", "format", format,
		      "rows", count);
	ext = json_object_get(e, "ext");
	for (size_t i = 0; e != NULL && i < sizeof(names) / sizeof(names[0]); i++) {
		if (values[i] != NULL &&
		    json_object_set_new(ext, names[i], json_string(values[i])) != 0) {
			json_decref(e);
			return NULL;
		}
	}
	return e;
}

static enum cid_err export_page(struct cid_ctx *ctx, const struct cid_request *req,
				struct cid_reply *reply, const struct officer *who)
{
	enum cid_err rc = CID_OK;
	struct filter_in fi;
	const char *format = cid_params_get(&req->params, "format");
	bool csv;
	struct cid_audit *log = cid_ctx_audit_log(ctx);
	char *body = NULL;
	size_t len = 0;
	FILE *mem = NULL;
	struct cid_txn *txn = NULL;
	uint64_t n = 0;
	json_t *e = NULL;

	if (format == NULL || (strcmp(format, "csv") != 0 && strcmp(format, "jsonl") != 0))
		return console_bad_param(ctx, reply, "format");
	csv = strcmp(format, "csv") == 0;
	rc = console_parse_filter(ctx, req, reply, &fi);
	if (rc == CID_ERR_DENIED)
		return CID_OK;
	CID_TRY(rc);
	/* one more than allowed, to tell "exactly the limit" from "more" */
	fi.f.limit = (size_t)cid_ctx_config(ctx)->console_export_max + 1;
	mem = open_memstream(&body, &len);
	CID_ENSURE(mem != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_store_read_begin(cid_ctx_store(ctx), &txn));
	rc = cid_audit_write_filtered(txn, &fi.f, csv, mem, &n);
	cid_store_read_end(txn);
	if (rc == CID_ERR_INVALID) {
		rc = console_bad_param(ctx, reply, "filter");
		goto out;
	}
	CID_TRY(rc);
	rc = fclose(mem) == 0 ? CID_OK : CID_ERR_IO;
	mem = NULL;
	CID_TRY(rc);
	if (n >= fi.f.limit) { /* nothing leaves, so nothing is logged */
		rc = console_fail(
		    ctx, reply, 400, "invalid_request",
		    "more entries match than one export may hold (console_export_max): "
		    "narrow the filter, or export with the civicid audit command");
		goto out;
	}
	/* the export is on the record before a byte of it leaves */
	e = export_entry(who->name, &fi, format, n, req->now);
	CID_ENSURE(e != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_audit_append(log, &e, 1, NULL));
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
	json_decref(e);
	return rc;
}

enum cid_err cid_console_export(struct cid_ctx *ctx, const struct cid_request *req,
				struct cid_reply *reply)
{
	return console_gated(ctx, req, reply, export_page);
}
