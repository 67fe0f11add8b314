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

/* The file being written: its format and stream, and the entries it holds. */
struct export_file {
	bool csv;
	FILE *mem;
	uint64_t n;
};

static enum cid_err export_options(struct cid_ctx *ctx, const struct cid_request *req,
				   struct cid_reply *reply, struct cid_audit_filter *f)
{
	(void)req;
	(void)reply;
	/* one more than allowed, to tell "exactly the limit" from "more" */
	f->limit = (size_t)cid_ctx_config(ctx)->console_export_max + 1;
	return CID_OK;
}

static enum cid_err export_scan(struct cid_txn *txn, const struct cid_audit_filter *f, void *arg)
{
	struct export_file *x = arg;

	return cid_audit_write_filtered(txn, f, x->csv, x->mem, &x->n);
}

static enum cid_err export_page(struct cid_ctx *ctx, const struct cid_request *req,
				struct cid_reply *reply, const struct officer *who)
{
	enum cid_err rc = CID_OK;
	struct filter_in fi;
	const char *format = cid_params_get(&req->params, "format");
	struct export_file x = {0};
	struct cid_audit *log = cid_ctx_audit_log(ctx);
	char *body = NULL;
	size_t len = 0;
	json_t *e = NULL;

	if (format == NULL || (strcmp(format, "csv") != 0 && strcmp(format, "jsonl") != 0))
		return console_bad_param(ctx, reply, "format");
	x.csv = strcmp(format, "csv") == 0;
	x.mem = open_memstream(&body, &len);
	CID_ENSURE(x.mem != NULL, CID_ERR_NOMEM);
	rc = console_scan(ctx, req, reply, &fi, export_options, export_scan, &x);
	if (rc == CID_ERR_DENIED) {
		rc = CID_OK;
		goto out;
	}
	CID_TRY(rc);
	rc = fclose(x.mem) == 0 ? CID_OK : CID_ERR_IO;
	x.mem = NULL;
	CID_TRY(rc);
	if (x.n >= fi.f.limit) { /* nothing leaves, so nothing is logged */
		rc = console_fail(
		    ctx, reply, 400, "invalid_request",
		    "more entries match than one export may hold (console_export_max): "
		    "narrow the filter, or export with the civicid audit command");
		goto out;
	}
	/* the export is on the record before a byte of it leaves */
	e = export_entry(who->name, &fi, format, x.n, req->now);
	CID_ENSURE(e != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_audit_append(log, &e, 1, NULL));
	reply->status = 200;
	reply->content_type = x.csv ? "text/csv; charset=utf-8" : "application/jsonl";
	reply->content_disposition = x.csv ? "attachment; filename=\"civicid-audit.csv\""
					   : "attachment; filename=\"civicid-audit.jsonl\"";
	reply->no_store = true;
	reply->body = body;
	reply->body_len = len;
	body = NULL;
out:
	if (x.mem != NULL)
		fclose(x.mem);
	free(body);
	json_decref(e);
	return rc;
}

enum cid_err cid_console_export(struct cid_ctx *ctx, const struct cid_request *req,
				struct cid_reply *reply)
{
	return console_gated(ctx, req, reply, export_page);
}
