/*
 * console: what the officer's pages share: the gate every page but the
 * login passes, the page helpers, and the filter of the log page and the
 * export. The pages themselves are console_auth.c (login, logout),
 * console_log.c (the search and one entry), console_verify.c,
 * console_export.c and console_services.c.
 *
 * Every page is a read of the store and of the policies in force; nothing
 * here decides what the log holds, only how it is searched and shown. The
 * one write is the record of an export: who took which slice of the log, in
 * the log itself, before the file leaves. A page that needs an officer checks
 * the session first, and a POST checks its CSRF token before anything else;
 * every value from the request is bounded and validated before it reaches a
 * filter, and shown back only through the escaping template engine.
 */
#include "console_int.h"

#include "account.h"
#include "buf.h"
#include "crypto.h"
#include "pseudonym.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(CID_PSEUDONYM_CHARS <= CID_ID_CHARS, "a pseudonym fits a citizen filter");

static const char *const types[] = {
    "account.",		"account.deleted",   "consent.",	 "consent.granted",
    "consent.refused",	"consent.withdrawn", "consent.expired",	 "release.",
    "release.permit",	"release.deny",	     "audit.",		 "audit.exported",
    "logout.",		"logout.delivered",  "logout.failed",	 "officer.",
    "officer.searched", "officer.viewed",    "officer.resolved", "operator.",
    "operator.viewed",	"retention.",	     "retention.purged", "key.",
    "key.rotated",	"key.published",     "key.activated",	 "key.withdrawn",
};

const char *console_locale(struct cid_ctx *ctx, const struct cid_request *req)
{
	return cid_request_locale(cid_ctx_config(ctx), req);
}

enum cid_err console_fail(struct cid_ctx *ctx, const struct cid_request *req, struct cid_reply *r,
			  int status, const char *error, const char *description)
{
	return cid_reply_error_page(r, status, error, description, console_locale(ctx, req));
}

/*
 * The officer of the request's session into who. Without a live session:
 * CID_ANSWERED with a redirect to the login form in reply. On a POST, a
 * wrong CSRF token: CID_ANSWERED with a 403 page. Other errors:
 * CID_ERR_STORE, those of building the reply.
 */
static enum cid_err gate(struct cid_ctx *ctx, const struct cid_request *req,
			 struct cid_reply *reply, struct officer *who)
{
	enum cid_err rc =
	    cid_officer_session(cid_ctx_store(ctx), req->officer_cookie, req->now, who->name);
	const char *given;

	if (rc == CID_ERR_NOTFOUND || rc == CID_ERR_EXPIRED) {
		return cid_reply_answered(
		    cid_reply_redirect(reply, 303, CONSOLE_LOGIN, NULL, NULL, 0));
	}
	if (rc != CID_OK)
		return rc;
	cid_officer_csrf(req->officer_cookie, who->csrf);
	if (req->post) {
		given = cid_params_get(&req->params, "csrf");
		if (given == NULL || !cid_ct_streq(given, strnlen(given, CID_TOKEN_CHARS + 1),
						   who->csrf, strlen(who->csrf))) {
			return cid_reply_answered(console_fail(
			    ctx, req, reply, 403, "invalid_request", "err.console_stale"));
		}
	}
	return CID_OK;
}

enum cid_err console_gated(struct cid_ctx *ctx, const struct cid_request *req,
			   struct cid_reply *reply, officer_page page)
{
	struct officer who;
	enum cid_err rc = gate(ctx, req, reply, &who);

	if (rc == CID_OK)
		rc = page(ctx, req, reply, &who);
	return cid_endpoint_rc(rc);
}

json_t *console_base_data(const struct officer *who)
{
	return json_pack("{s:s, s:s}", "officer", who->name, "csrf", who->csrf);
}

enum cid_err console_show(struct cid_ctx *ctx, const struct cid_request *req,
			  struct cid_reply *reply, int status, enum cid_page page, json_t *data)
{
	enum cid_err rc = cid_reply_page(reply, status, page, data, console_locale(ctx, req));

	reply->no_store = true;
	return rc;
}

enum cid_err console_bad_param(struct cid_ctx *ctx, const struct cid_request *req,
			       struct cid_reply *r, const char *name)
{
	enum cid_err rc = console_fail(ctx, req, r, 400, "invalid_request", "err.bad_param");

	/* the message names the parameter: its "{}" (template.h) */
	if (rc == CID_OK && json_object_set_new(r->page_data, "detail", json_string(name)) != 0)
		rc = CID_ERR_NOMEM;
	return rc;
}

enum cid_err console_local_time(struct cid_ctx *ctx, const char *locale, const char *t, json_t *row,
				const char *name)
{
	char text[CID_TZ_TEXT_MAX] = "";
	int64_t when;

	if (t == NULL || cid_time_parse(t, &when) != CID_OK ||
	    cid_tz_format(cid_ctx_tz(ctx), when, locale, true, text) != CID_OK)
		text[0] = '\0';
	return json_object_set_new(row, name, json_string(text)) == 0 ? CID_OK : CID_ERR_NOMEM;
}

enum cid_err console_citizen_name(struct console_names *nm, const char *id, json_t *row)
{
	enum cid_err rc = CID_OK;
	struct cid_account *acct = NULL;
	const json_t *known;

	if (id == NULL || !cid_uuid_syntax_ok(id))
		return CID_OK;
	known = json_object_get(nm->known, id);
	if (known == NULL) {
		rc = cid_account_get(cid_ctx_store(nm->ctx), id, &acct);
		if (rc == CID_ERR_NOTFOUND || rc == CID_ERR_INVALID)
			rc = CID_OK; /* removed since, or not a citizen: the id alone */
		CID_TRY(rc);
		CID_ENSURE(json_object_set_new(
			       nm->known, id, json_string(acct != NULL ? acct->username : "")) == 0,
			   CID_ERR_NOMEM);
		known = json_object_get(nm->known, id);
	}
	if (json_string_length(known) > 0)
		CID_ENSURE(json_object_set(row, "citizen_name", (json_t *)(uintptr_t)known) == 0,
			   CID_ERR_NOMEM);
out:
	cid_account_free(acct);
	return rc;
}

bool console_text_param(const struct cid_params *p, const char *name, size_t max, const char **out)
{
	const char *v = cid_params_get(p, name);
	size_t n;

	*out = NULL;
	if (v == NULL)
		return true;
	n = strnlen(v, max + 1);
	if (n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
			return false;
	*out = v;
	return true;
}

bool console_parse_day(const char *s, int64_t *day)
{
	int64_t t;

	if (cid_audit_day_parse(s, &t) != CID_OK)
		return false;
	*day = t / CONSOLE_DAY;
	return true;
}

bool console_day_time(int64_t day, bool end, char out[21])
{
	return cid_audit_time((day + (end ? 1 : 0)) * CONSOLE_DAY, out) == CID_OK;
}

static bool type_ok(const char *t)
{
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(t, types[i]) == 0)
			return true;
	return false;
}

enum cid_err console_parse_filter(struct cid_ctx *ctx, const struct cid_request *req,
				  struct cid_reply *reply, struct filter_in *fi)
{
	const struct cid_params *p = &req->params;
	enum cid_err rc = CID_OK;
	const char *bad = NULL;
	struct cid_account *acct = NULL;
	int64_t day;

	memset(fi, 0, sizeof(*fi));
#define TEXT(field, name)                                                                          \
	if (!console_text_param(p, name, CID_CONSOLE_MAX_TEXT, &fi->field)) {                      \
		bad = name;                                                                        \
		goto out;                                                                          \
	}
	TEXT(citizen_in, "citizen")
	TEXT(service, "service")
	TEXT(release, "release")
	TEXT(attribute, "attribute")
	TEXT(type, "type")
	TEXT(from_in, "from")
	TEXT(to_in, "to")
#undef TEXT
	if (fi->type != NULL && !type_ok(fi->type)) {
		bad = "type";
		goto out;
	}
	if (fi->from_in != NULL) {
		if (!console_parse_day(fi->from_in, &day) ||
		    !console_day_time(day, false, fi->from)) {
			bad = "from";
			goto out;
		}
		fi->f.from = fi->from;
	}
	if (fi->to_in != NULL) {
		/* the "to" day is included: the filter's bound is the next midnight */
		if (!console_parse_day(fi->to_in, &day) || !console_day_time(day, true, fi->to)) {
			bad = "to";
			goto out;
		}
		fi->f.to = fi->to;
	}
	if (fi->citizen_in != NULL) {
		if (cid_uuid_syntax_ok(fi->citizen_in)) {
			memcpy(fi->citizen, fi->citizen_in, CID_ID_CHARS + 1);
		} else if (cid_pseudonym_syntax_ok(fi->citizen_in)) {
			/* as the log names them: the entries of that one scope */
			memcpy(fi->citizen, fi->citizen_in, CID_PSEUDONYM_CHARS + 1);
		} else {
			rc = cid_account_find(cid_ctx_store(ctx), fi->citizen_in, &acct);
			if (rc == CID_ERR_NOTFOUND || rc == CID_ERR_INVALID) {
				rc = CID_OK;
				bad = "citizen";
				goto out;
			}
			CID_TRY(rc);
			memcpy(fi->citizen, acct->id, CID_ID_CHARS + 1);
		}
		fi->f.citizen = fi->citizen;
	}
	fi->f.service = fi->service;
	fi->f.release = fi->release;
	fi->f.attribute = fi->attribute;
	fi->f.type = fi->type;
out:
	cid_account_free(acct);
	if (bad != NULL)
		rc = cid_reply_answered(console_bad_param(ctx, req, reply, bad));
	return rc;
}

enum cid_err console_scan(struct cid_ctx *ctx, const struct cid_request *req,
			  struct cid_reply *reply, struct filter_in *fi, console_options options,
			  console_scan_fn scan, void *arg)
{
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;

	CID_TRY(console_parse_filter(ctx, req, reply, fi));
	if (options != NULL)
		CID_TRY(options(ctx, req, reply, &fi->f));
	CID_TRY(cid_store_read_begin(cid_ctx_store(ctx), &txn));
	rc = scan(txn, &fi->f, arg);
	cid_store_read_end(txn);
	if (rc == CID_ERR_INVALID)
		rc = cid_reply_answered(console_bad_param(ctx, req, reply, "filter"));
out:
	return rc;
}

enum cid_err console_filter_data(const struct filter_in *fi, json_t *data)
{
	const char *names[] = {"citizen", "service", "release", "attribute", "type", "from", "to"};
	const char *values[] = {fi->citizen_in, fi->service, fi->release, fi->attribute,
				fi->type,	fi->from_in, fi->to_in};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (json_object_set_new(data, names[i], json_string(values[i] ? values[i] : "")) !=
		    0)
			return CID_ERR_NOMEM;
	return CID_OK;
}

char *console_filter_query(const struct filter_in *fi, const char *extra)
{
	const char *names[] = {"citizen", "service", "release", "attribute", "type", "from", "to"};
	const char *values[] = {fi->citizen_in, fi->service, fi->release, fi->attribute,
				fi->type,	fi->from_in, fi->to_in};
	struct cid_buf b;

	cid_buf_init(&b, (size_t)CID_MAX_URI * 4);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (values[i] == NULL)
			continue;
		cid_buf_printf(&b, "%s%s=", b.len > 0 ? "&" : "", names[i]);
		cid_buf_append_urlenc(&b, values[i], strlen(values[i]));
	}
	if (extra != NULL)
		cid_buf_printf(&b, "%s%s", b.len > 0 ? "&" : "", extra);
	if (cid_buf_status(&b) != CID_OK) {
		cid_buf_free(&b);
		return NULL;
	}
	return cid_buf_take(&b, NULL);
}

enum cid_err console_type_options(const char *selected, json_t *data)
{
	json_t *list = json_array();

	if (list == NULL || json_object_set_new(data, "types", list) != 0)
		return CID_ERR_NOMEM;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (json_array_append_new(
			list, json_pack("{s:s, s:b}", "value", types[i], "selected",
					selected != NULL && strcmp(selected, types[i]) == 0)) != 0)
			return CID_ERR_NOMEM;
	return CID_OK;
}
