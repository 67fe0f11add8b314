/*
 * account_trail: the citizen's download of their own trail (trail.h) from
 * the account pages: the JSON bundle that verifies offline, the CSV made
 * from it, and a printable page made from it too, so the three cannot tell
 * different stories. Keyed by the session's account id only: the request
 * names a page (?before=) and a format, never a citizen.
 */
#include "account_pages.h"
#include "account_pages_int.h"

#include "bounds.h"
#include "buf.h"
#include "reply.h"
#include "session.h"
#include "str.h"
#include "trail.h"
#include "tz.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRAIL_JSON_FILE "attachment; filename=\"civicid-trail.json\""
#define TRAIL_CSV_FILE	"attachment; filename=\"civicid-trail.csv\""
#define STATUTE_PREFIX	"statute:"

/* The time t of an entry or the bundle as the citizen reads it ("" when it has no date). */
static enum cid_err set_local(struct cid_ctx *ctx, const char *locale, json_t *row,
			      const char *name, const char *iso)
{
	char text[CID_TZ_TEXT_MAX] = "";
	int64_t t;

	if (iso != NULL && cid_time_parse(iso, &t) == CID_OK &&
	    cid_tz_format(cid_ctx_tz(ctx), t, locale, true, text) != CID_OK)
		text[0] = '\0';
	return json_object_set_new(row, name, json_string(text)) == 0 ? CID_OK : CID_ERR_NOMEM;
}

/* One row of the printable page from one entry of the bundle. */
static enum cid_err print_row(struct cid_ctx *ctx, const char *locale, const json_t *e,
			      json_t *rows)
{
	enum cid_err rc = CID_OK;
	const char *basis = cid_json_str(e, "basis");
	const char *decision = cid_trail_decision_text(cid_json_str(e, "decision"), locale);
	json_t *items = json_array();
	json_t *row = NULL;
	size_t i;
	const json_t *a;

	CID_ENSURE(items != NULL, CID_ERR_NOMEM);
	json_array_foreach(json_object_get(e, "attributes"), i, a)
	{
		CID_ENSURE(json_is_string(a), CID_ERR_STORE);
		CID_TRY(account_add_label(items, json_string_value(a), NULL));
	}
	row = json_pack(
	    "{s:I, s:s, s:s, s:s, s:s, s:O}", "seq", (json_int_t)cid_json_int(e, "seq"), "time",
	    cid_json_str(e, "time") != NULL ? cid_json_str(e, "time") : "", "service_name",
	    cid_json_str(e, "service_name") != NULL ? cid_json_str(e, "service_name") : "",
	    "purpose_text",
	    cid_json_str(e, "purpose_text") != NULL ? cid_json_str(e, "purpose_text") : "",
	    "decision_text", decision != NULL ? decision : "", "items", items);
	CID_ENSURE(row != NULL, CID_ERR_NOMEM);
	CID_TRY(set_local(ctx, locale, row, "local_time", cid_json_str(e, "time")));
	if (basis != NULL && strncmp(basis, STATUTE_PREFIX, strlen(STATUTE_PREFIX)) == 0)
		CID_ENSURE(json_object_set_new(row, "statute",
					       json_string(basis + strlen(STATUTE_PREFIX))) == 0,
			   CID_ERR_NOMEM);
	if (json_is_null(json_object_get(e, "proof")))
		CID_ENSURE(json_object_set_new(row, "unproved", json_true()) == 0, CID_ERR_NOMEM);
	CID_ENSURE(json_array_append(rows, row) == 0, CID_ERR_NOMEM);
out:
	json_decref(items);
	json_decref(row);
	return rc;
}

/* The printable page's data (account_pages.h, CID_PAGE_TRAIL) from the bundle. */
static enum cid_err print_view(struct cid_ctx *ctx, const char *locale, const json_t *bundle,
			       json_t **out)
{
	enum cid_err rc = CID_OK;
	const json_t *cp = json_object_get(bundle, "checkpoint");
	json_t *rows = json_array();
	json_t *data = NULL;
	size_t i;
	const json_t *e;

	CID_ENSURE(rows != NULL, CID_ERR_NOMEM);
	json_array_foreach(json_object_get(bundle, "entries"), i, e)
	    CID_TRY(print_row(ctx, locale, e, rows));
	data =
	    json_pack("{s:b, s:s, s:O, s:b, s:b, s:I, s:b, s:s}", "signed_in", 1, "lang", locale,
		      "entries", rows, "has_entries", json_array_size(rows) > 0, "no_entries",
		      json_array_size(rows) == 0, "limit", (json_int_t)CID_TRAIL_MAX, "cosigned",
		      json_is_true(json_object_get(cp, "cosigned")), "origin",
		      cid_json_str(bundle, "origin") != NULL ? cid_json_str(bundle, "origin") : "");
	CID_ENSURE(data != NULL, CID_ERR_NOMEM);
	CID_TRY(set_local(ctx, locale, data, "generated_local", cid_json_str(bundle, "generated")));
	if (cid_json_int(cp, "size") > 0)
		CID_ENSURE(json_object_set_new(data, "checkpoint_size",
					       json_integer(cid_json_int(cp, "size"))) == 0,
			   CID_ERR_NOMEM);
	if (cid_json_int(bundle, "before") > 0)
		CID_ENSURE(json_object_set_new(data, "before",
					       json_integer(cid_json_int(bundle, "before"))) == 0,
			   CID_ERR_NOMEM);
	if (cid_json_int(bundle, "next_before") > 0)
		CID_ENSURE(json_object_set_new(data, "next_before",
					       json_integer(cid_json_int(bundle, "next_before"))) ==
			       0,
			   CID_ERR_NOMEM);
	*out = data;
	data = NULL;
out:
	json_decref(rows);
	json_decref(data);
	return rc;
}

/* A download of body as content type, with its file name. */
static void download(struct cid_reply *reply, const char *type, const char *disposition, char *body,
		     size_t len)
{
	reply->status = 200;
	reply->content_type = type;
	reply->content_disposition = disposition;
	reply->body = body;
	reply->body_len = len;
	reply->no_store = true;
}

enum cid_err cid_account_trail(struct cid_ctx *ctx, const struct cid_request *req,
			       struct cid_reply *reply)
{
	enum cid_err rc = CID_OK;
	const char *locale = account_page_locale(ctx, req);
	const char *format = cid_params_get(&req->params, "format");
	const char *before_text = cid_params_get(&req->params, "before");
	uint64_t before = 0;
	struct cid_session sess;
	json_t *bundle = NULL;
	json_t *data = NULL;
	char *body = NULL;
	size_t len = 0;

	CID_TRY(account_find_session(ctx, req, locale, reply, &sess));
	if (format == NULL)
		format = "html";
	if (strcmp(format, "json") != 0 && strcmp(format, "csv") != 0 &&
	    strcmp(format, "html") != 0) {
		rc =
		    cid_reply_error_page(reply, 400, "invalid_request", "err.trail_format", locale);
		goto out;
	}
	if (before_text != NULL &&
	    cid_parse_u64(before_text, strlen(before_text), 1, UINT64_MAX, &before) != CID_OK) {
		rc = cid_reply_error_page(reply, 400, "invalid_request", "err.account_after",
					  locale);
		goto out;
	}
	/* the printable page holds fewer: its HTML must stay a page */
	CID_TRY(cid_trail_bundle(ctx, sess.account_id, locale, before,
				 strcmp(format, "html") == 0 ? CID_TRAIL_PRINT_MAX : CID_TRAIL_MAX,
				 req->now, &bundle));
	if (strcmp(format, "json") == 0) {
		body = cid_json_dumps(bundle, JSON_INDENT(1));
		CID_ENSURE(body != NULL, CID_ERR_NOMEM);
		download(reply, "application/json", TRAIL_JSON_FILE, body, strlen(body));
		body = NULL;
	} else if (strcmp(format, "csv") == 0) {
		CID_TRY(cid_trail_csv(ctx, bundle, &body, &len));
		download(reply, "text/csv; charset=utf-8", TRAIL_CSV_FILE, body, len);
		body = NULL;
	} else {
		CID_TRY(print_view(ctx, locale, bundle, &data));
		rc = cid_reply_page(reply, 200, CID_PAGE_TRAIL, data, locale);
		data = NULL;
	}
out:
	free(body);
	json_decref(bundle);
	json_decref(data);
	return cid_endpoint_rc(rc);
}
