/*
 * console: the privacy officer's pages over the audit log.
 *
 * Every page is a read of the store and of the policies in force; nothing
 * here decides what the log holds, only how it is searched and shown. The
 * one write is the record of an export: who took which slice of the log, in
 * the log itself, before the file leaves. A page that needs an officer checks
 * the session first, and a POST checks its CSRF token before anything else;
 * every value from the request is bounded and validated before it reaches a
 * filter, and shown back only through the escaping template engine.
 */
#include "console.h"

#include "account.h"
#include "audit.h"
#include "buf.h"
#include "consent.h"
#include "crypto.h"
#include "jose.h"
#include "officer.h"
#include "oidc_int.h"
#include "policy.h"
#include "str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CONSOLE_MAX_TEXT      128 /* a filter value: service, attribute, citizen, type */
#define CONSOLE_MAX_CONSENTS  32  /* consent records shown behind one entry */
#define CONSOLE_MAX_SERVICES  256 /* services on the services page */
#define CONSOLE_DAY	      86400
#define CONSOLE_SLOT	      20  /* px per day in the chart */
#define CONSOLE_CHART_HEIGHT  120 /* px */
#define CONSOLE_CHART_PLOT    100 /* px of the tallest bar */
#define CONSOLE_LOGIN	      "/officer/login"
#define CONSOLE_HOME	      "/officer"
#define CONSOLE_COOKIE_PATH   "/officer"
#define CONSOLE_DEFAULT_RANGE 30 /* days of the services page */

static const char *const types[] = {
    "consent.",	       "consent.granted", "consent.refused", "consent.withdrawn",
    "consent.expired", "release.",	  "release.permit",  "release.deny",
    "audit.",	       "audit.exported",
};

static const char *locale_of(struct cid_ctx *ctx)
{
	return oidc_locale(NULL, cid_ctx_config(ctx)->default_locale);
}

/* The officer cookie: scoped to the console, never readable by script, never cross-site. */
static enum cid_err set_cookie(struct cid_ctx *ctx, struct cid_reply *r, const char *value,
			       int64_t max_age)
{
	return oidc_reply_cookie(r, cid_ctx_config(ctx), CID_COOKIE_OFFICER, value,
				 CONSOLE_COOKIE_PATH, max_age, "Strict");
}

/* A 4xx/5xx error page; CID_OK when it was built. */
static enum cid_err fail(struct cid_ctx *ctx, struct cid_reply *r, int status, const char *error,
			 const char *description)
{
	return cid_oidc_error_page(r, status, error, description, locale_of(ctx));
}

/* The officer a console page is for: the session's name and CSRF token. */
struct officer {
	char name[CID_OFFICER_MAX_NAME + 1];
	char csrf[CID_TOKEN_CHARS + 1];
};

/*
 * The officer of the request's session into who. Without a live session:
 * CID_ERR_DENIED with a redirect to the login form in reply. On a POST, a
 * wrong CSRF token: CID_ERR_DENIED with a 403 page. Other errors:
 * CID_ERR_STORE, those of building the reply.
 */
static enum cid_err gate(struct cid_ctx *ctx, const struct cid_request *req,
			 struct cid_reply *reply, struct officer *who)
{
	enum cid_err rc =
	    cid_officer_session(cid_ctx_store(ctx), req->officer_cookie, req->now, who->name);
	const char *given;

	if (rc == CID_ERR_NOTFOUND || rc == CID_ERR_EXPIRED) {
		rc = oidc_reply_redirect(reply, 303, CONSOLE_LOGIN, NULL, NULL, 0);
		return rc == CID_OK ? CID_ERR_DENIED : rc;
	}
	if (rc != CID_OK)
		return rc;
	cid_officer_csrf(req->officer_cookie, who->csrf);
	if (req->post) {
		given = cid_params_get(&req->params, "csrf");
		if (given == NULL || !cid_ct_streq(given, strnlen(given, CID_TOKEN_CHARS + 1),
						   who->csrf, strlen(who->csrf))) {
			rc = fail(ctx, reply, 403, "invalid_request",
				  "the form is stale or was not sent from this console: reload "
				  "the page and try again");
			return rc == CID_OK ? CID_ERR_DENIED : rc;
		}
	}
	return CID_OK;
}

/* A console page for the officer who: the request passed gate(). */
typedef enum cid_err (*officer_page)(struct cid_ctx *ctx, const struct cid_request *req,
				     struct cid_reply *reply, const struct officer *who);

/* Answers req with page when gate() lets it in, else with what gate() replied. */
static enum cid_err gated(struct cid_ctx *ctx, const struct cid_request *req,
			  struct cid_reply *reply, officer_page page)
{
	struct officer who;
	enum cid_err rc = gate(ctx, req, reply, &who);

	if (rc == CID_ERR_DENIED)
		return CID_OK;
	if (rc != CID_OK)
		return rc;
	return page(ctx, req, reply, &who);
}

/* Page data every console page has. NULL when out of memory. */
static json_t *base_data(const struct officer *who)
{
	return json_pack("{s:s, s:s}", "officer", who->name, "csrf", who->csrf);
}

/* Replies with a console page built from data (stolen); no page of the console is cached. */
static enum cid_err show(struct cid_ctx *ctx, struct cid_reply *reply, int status,
			 enum cid_page page, json_t *data)
{
	enum cid_err rc = oidc_reply_page(reply, status, page, data, locale_of(ctx));

	reply->no_store = true;
	return rc;
}

static enum cid_err bad_param(struct cid_ctx *ctx, struct cid_reply *r, const char *name)
{
	char text[128];

	snprintf(text, sizeof(text), "the parameter \"%s\" is not valid: correct it and try again",
		 name);
	return fail(ctx, r, 400, "invalid_request", text);
}

/*
 * An optional text parameter: NULL when absent, else at most max bytes with no
 * control character (params are UTF-8 already: cid_params_add checks).
 */
static bool text_param(const struct cid_params *p, const char *name, size_t max, const char **out)
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

/* Days since 1970-01-01 of "YYYY-MM-DD" (a real date, 1970..9999). */
static bool parse_day(const char *s, int64_t *day)
{
	int64_t t;

	if (cid_audit_day_parse(s, &t) != CID_OK)
		return false;
	*day = t / CONSOLE_DAY;
	return true;
}

/* "YYYY-MM-DD" of a day number into out[11]. */
static void format_day(int64_t day, char out[11])
{
	char full[21];

	if (cid_audit_time(day * CONSOLE_DAY, full) != CID_OK)
		full[0] = '\0';
	snprintf(out, 11, "%.10s", full);
}

/* A filter as the officer typed it, and as cid_audit_query takes it. */
struct filter_in {
	const char *citizen_in, *service, *attribute, *type, *from_in, *to_in;
	char citizen[CID_ID_CHARS + 1];
	char from[21], to[21];
	struct cid_audit_filter f;
};

static bool type_ok(const char *t)
{
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(t, types[i]) == 0)
			return true;
	return false;
}

/*
 * Reads the filter of req into fi. A citizen may be given as the account id
 * or the username. A bad value is CID_ERR_DENIED with a 400 page naming it
 * in reply. Other errors: CID_ERR_STORE, those of building the reply.
 */
static enum cid_err parse_filter(struct cid_ctx *ctx, const struct cid_request *req,
				 struct cid_reply *reply, struct filter_in *fi)
{
	const struct cid_params *p = &req->params;
	enum cid_err rc = CID_OK;
	const char *bad = NULL;
	json_t *acct = NULL;
	int64_t day;

	memset(fi, 0, sizeof(*fi));
#define TEXT(field, name)                                                                          \
	if (!text_param(p, name, CONSOLE_MAX_TEXT, &fi->field)) {                                  \
		bad = name;                                                                        \
		goto out;                                                                          \
	}
	TEXT(citizen_in, "citizen")
	TEXT(service, "service")
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
		if (!parse_day(fi->from_in, &day) ||
		    cid_audit_time(day * CONSOLE_DAY, fi->from) != CID_OK) {
			bad = "from";
			goto out;
		}
		fi->f.from = fi->from;
	}
	if (fi->to_in != NULL) {
		/* the "to" day is included: the filter's bound is the next midnight */
		if (!parse_day(fi->to_in, &day) ||
		    cid_audit_time((day + 1) * CONSOLE_DAY, fi->to) != CID_OK) {
			bad = "to";
			goto out;
		}
		fi->f.to = fi->to;
	}
	if (fi->citizen_in != NULL) {
		if (cid_uuid_syntax_ok(fi->citizen_in)) {
			memcpy(fi->citizen, fi->citizen_in, CID_ID_CHARS + 1);
		} else {
			rc = cid_account_find(cid_ctx_store(ctx), fi->citizen_in, &acct);
			if (rc == CID_ERR_NOTFOUND || rc == CID_ERR_INVALID) {
				rc = CID_OK;
				bad = "citizen";
				goto out;
			}
			CID_TRY(rc);
			CID_ENSURE(cid_uuid_syntax_ok(cid_json_str(acct, "id")), CID_ERR_STORE);
			memcpy(fi->citizen, cid_json_str(acct, "id"), CID_ID_CHARS + 1);
		}
		fi->f.citizen = fi->citizen;
	}
	fi->f.service = fi->service;
	fi->f.attribute = fi->attribute;
	fi->f.type = fi->type;
out:
	json_decref(acct);
	if (bad != NULL) {
		rc = bad_param(ctx, reply, bad);
		rc = rc == CID_OK ? CID_ERR_DENIED : rc;
	}
	return rc;
}

/* Sets the filter's values (as typed) in data, for the form and the links. */
static enum cid_err filter_data(const struct filter_in *fi, json_t *data)
{
	const char *names[] = {"citizen", "service", "attribute", "type", "from", "to"};
	const char *values[] = {fi->citizen_in, fi->service, fi->attribute,
				fi->type,	fi->from_in, fi->to_in};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (json_object_set_new(data, names[i], json_string(values[i] ? values[i] : "")) !=
		    0)
			return CID_ERR_NOMEM;
	return CID_OK;
}

/* The filter as a query string (values URL-encoded), plus extra (may be NULL). */
static char *filter_query(const struct filter_in *fi, const char *extra)
{
	const char *names[] = {"citizen", "service", "attribute", "type", "from", "to"};
	const char *values[] = {fi->citizen_in, fi->service, fi->attribute,
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

/* A JSON value as text for a page: strings as is, lists joined with ", ". NULL: out of memory. */
static char *value_text(const json_t *v)
{
	struct cid_buf b;
	size_t i;
	const json_t *el;

	if (json_is_string(v))
		return strdup(json_string_value(v));
	cid_buf_init(&b, CID_MAX_RESPONSE);
	if (json_is_array(v)) {
		json_array_foreach(v, i, el)
		{
			char *t = value_text(el);

			if (t == NULL) {
				cid_buf_free(&b);
				return NULL;
			}
			cid_buf_printf(&b, "%s%s", i > 0 ? ", " : "", t);
			free(t);
		}
	} else if (json_is_integer(v)) {
		cid_buf_printf(&b, "%lld", (long long)json_integer_value(v));
	} else {
		cid_buf_append_json(&b, v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	}
	if (cid_buf_status(&b) != CID_OK) {
		cid_buf_free(&b);
		return NULL;
	}
	if (b.data == NULL)
		return strdup("");
	return cid_buf_take(&b, NULL);
}

/* Sets member name of row to the text of v (absent v: ""). */
static enum cid_err set_text(json_t *row, const char *name, const json_t *v)
{
	char *t = v == NULL ? strdup("") : value_text(v);
	int bad;

	if (t == NULL)
		return CID_ERR_NOMEM;
	bad = json_object_set_new(row, name, json_string(t));
	free(t);
	return bad == 0 ? CID_OK : CID_ERR_NOMEM;
}

/* ---- login, logout ---- */

static enum cid_err login_page(struct cid_ctx *ctx, const struct cid_request *req,
			       struct cid_reply *reply, int status, const char *message,
			       const char *name)
{
	enum cid_err rc = CID_OK;
	char csrf[CID_TOKEN_CHARS + 1];
	json_t *data = NULL;

	CID_TRY(oidc_csrf(ctx, req, reply, csrf));
	data = json_pack("{s:s, s:s}", "csrf", csrf, "name", name == NULL ? "" : name);
	CID_ENSURE(data != NULL, CID_ERR_NOMEM);
	if (message != NULL)
		CID_ENSURE(json_object_set_new(data, message, json_true()) == 0, CID_ERR_NOMEM);
	rc = show(ctx, reply, status, CID_PAGE_OFFICER_LOGIN, data);
	data = NULL;
out:
	json_decref(data);
	cid_wipe(csrf, sizeof(csrf));
	return rc;
}

enum cid_err cid_console_login(struct cid_ctx *ctx, const struct cid_request *req,
			       struct cid_reply *reply)
{
	enum cid_err rc = CID_OK;
	char name_now[CID_OFFICER_MAX_NAME + 1];
	char cookie[CID_TOKEN_CHARS + 1] = "";
	const char *csrf = cid_params_get(&req->params, "csrf");
	const char *name;
	const char *password = cid_params_get(&req->params, "password");
	const char *code = cid_params_get(&req->params, "code");
	int64_t wait = 0;

	if (!req->post) {
		/* already in: straight to the log */
		rc = cid_officer_session(cid_ctx_store(ctx), req->officer_cookie, req->now,
					 name_now);
		if (rc == CID_OK)
			return oidc_reply_redirect(reply, 303, CONSOLE_HOME, NULL, NULL, 0);
		if (rc != CID_ERR_NOTFOUND && rc != CID_ERR_EXPIRED)
			return rc;
		return login_page(ctx, req, reply, 200, NULL, NULL);
	}
	/* login CSRF: the form must come from a page this browser got from us */
	if (csrf == NULL || !oidc_is_token(req->csrf_cookie) ||
	    !cid_ct_streq(csrf, strnlen(csrf, CID_TOKEN_CHARS + 1), req->csrf_cookie,
			  CID_TOKEN_CHARS))
		return fail(ctx, reply, 403, "invalid_request",
			    "the login form is stale: open the login page again");
	if (!text_param(&req->params, "name", CID_OFFICER_MAX_NAME, &name))
		name = NULL;
	if (name == NULL || password == NULL || code == NULL)
		return login_page(ctx, req, reply, 400, "msg_missing", name);
	rc = cid_officer_login(cid_ctx_store(ctx), &cid_ctx_config(ctx)->argon2, name, password,
			       code, req->remote_addr, req->now, cookie, &wait);
	switch (rc) {
	case CID_OK: break;
	case CID_ERR_THROTTLED: return login_page(ctx, req, reply, 429, "msg_throttled", name);
	case CID_ERR_DENIED:
	case CID_ERR_INVALID: return login_page(ctx, req, reply, 401, "msg_failed", name);
	default: return rc;
	}
	CID_TRY(set_cookie(ctx, reply, cookie, CID_OFFICER_SESSION_TTL));
	CID_TRY(oidc_reply_redirect(reply, 303, CONSOLE_HOME, NULL, NULL, 0));
out:
	cid_wipe(cookie, sizeof(cookie));
	return rc;
}

static enum cid_err logout_page(struct cid_ctx *ctx, const struct cid_request *req,
				struct cid_reply *reply, const struct officer *who)
{
	enum cid_err rc = CID_OK;
	enum cid_err ended;

	(void)who;
	ended = cid_officer_logout(cid_ctx_store(ctx), req->officer_cookie);
	CID_ENSURE(ended == CID_OK || ended == CID_ERR_NOTFOUND, ended);
	CID_TRY(set_cookie(ctx, reply, "", 0));
	CID_TRY(oidc_reply_redirect(reply, 303, CONSOLE_LOGIN, NULL, NULL, 0));
out:
	return rc;
}

enum cid_err cid_console_logout(struct cid_ctx *ctx, const struct cid_request *req,
				struct cid_reply *reply)
{
	return gated(ctx, req, reply, logout_page);
}

/* ---- the log ---- */

struct rows {
	json_t *list;
	uint64_t last_seq;
	size_t n;
};

static enum cid_err log_row(uint64_t seq, struct cid_str entry, void *arg)
{
	struct rows *r = arg;
	enum cid_err rc = CID_OK;
	json_t *e = NULL;
	json_t *row = NULL;
	const char *members[] = {"time",    "type",    "actor",	   "citizen",
				 "service", "purpose", "decision", "basis"};

	r->n++;
	/* one more than a page was asked for: it only says that a next page exists */
	if (r->n > CONSOLE_PAGE_SIZE)
		return CID_OK;
	CID_TRY(cid_store_parse_json(entry, &e));
	row = json_pack("{s:I}", "seq", (json_int_t)seq);
	CID_ENSURE(row != NULL, CID_ERR_NOMEM);
	for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++)
		CID_TRY(set_text(row, members[i], json_object_get(e, members[i])));
	CID_TRY(set_text(row, "attributes", json_object_get(e, "attributes")));
	CID_ENSURE(json_array_append(r->list, row) == 0, CID_ERR_NOMEM);
	r->last_seq = seq;
out:
	json_decref(row);
	json_decref(e);
	return rc;
}

static enum cid_err type_options(const char *selected, json_t *data)
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

static enum cid_err log_page(struct cid_ctx *ctx, const struct cid_request *req,
			     struct cid_reply *reply, const struct officer *who)
{
	enum cid_err rc = CID_OK;
	struct filter_in fi;
	const char *before = cid_params_get(&req->params, "before");
	uint64_t before_seq = 0;
	struct cid_txn *txn = NULL;
	struct rows rows = {0};
	json_t *data = NULL;
	char next[40];
	char *query = NULL;

	rc = parse_filter(ctx, req, reply, &fi);
	if (rc == CID_ERR_DENIED)
		return CID_OK;
	CID_TRY(rc);
	if (before != NULL &&
	    cid_parse_u64(before, strnlen(before, 21), 1, INT64_MAX, &before_seq) != CID_OK)
		return bad_param(ctx, reply, "before");
	fi.f.newest_first = true;
	fi.f.after_seq = before_seq; /* newest first: entries before this seq */
	fi.f.limit = CONSOLE_PAGE_SIZE + 1;
	rows.list = json_array();
	data = base_data(who);
	CID_ENSURE(rows.list != NULL && data != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_store_read_begin(cid_ctx_store(ctx), &txn));
	rc = cid_audit_query(txn, &fi.f, log_row, &rows);
	cid_store_read_end(txn);
	if (rc == CID_ERR_INVALID) {
		rc = bad_param(ctx, reply, "filter");
		goto out;
	}
	CID_TRY(rc);
	CID_TRY(filter_data(&fi, data));
	CID_TRY(type_options(fi.type, data));
	CID_ENSURE(json_object_set(data, "entries", rows.list) == 0, CID_ERR_NOMEM);
	if (rows.n > CONSOLE_PAGE_SIZE) {
		snprintf(next, sizeof(next), "before=%llu", (unsigned long long)rows.last_seq);
		query = filter_query(&fi, next);
		CID_ENSURE(query != NULL, CID_ERR_NOMEM);
		CID_ENSURE(json_object_set_new(data, "next_query", json_string(query)) == 0,
			   CID_ERR_NOMEM);
	}
	rc = show(ctx, reply, 200, CID_PAGE_OFFICER_LOG, data);
	data = NULL;
out:
	free(query);
	json_decref(rows.list);
	json_decref(data);
	return rc;
}

enum cid_err cid_console_log(struct cid_ctx *ctx, const struct cid_request *req,
			     struct cid_reply *reply)
{
	return gated(ctx, req, reply, log_page);
}

/* ---- one entry ---- */

/* A consent record (as stored) as a row of the entry page. */
static enum cid_err consent_row(const json_t *rec, json_t *rows)
{
	enum cid_err rc = CID_OK;
	json_t *row = json_object();
	const char *members[] = {"id",	    "state",	 "service",
				 "purpose", "attribute", "policy_version"};
	char at[21] = "";
	char until[21] = "";

	CID_ENSURE(row != NULL, CID_ERR_NOMEM);
	for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++)
		CID_TRY(set_text(row, members[i], json_object_get(rec, members[i])));
	if (cid_audit_time(cid_json_int(rec, "at"), at) != CID_OK)
		at[0] = '\0';
	if (cid_json_int(rec, "expires_at") <= 0 ||
	    cid_audit_time(cid_json_int(rec, "expires_at"), until) != CID_OK)
		until[0] = '\0';
	CID_TRY(set_text(row, "method", json_object_get(json_object_get(rec, "how"), "method")));
	CID_ENSURE(json_object_set_new(row, "at", json_string(at)) == 0 &&
		       json_object_set_new(row, "expires_at", json_string(until)) == 0 &&
		       json_array_append(rows, row) == 0,
		   CID_ERR_NOMEM);
out:
	json_decref(row);
	return rc;
}

/*
 * The consent records behind entry e: those it names, else (a consent event
 * or a release without named records) the latest record of each attribute.
 */
static enum cid_err entry_consents(struct cid_ctx *ctx, const json_t *e, json_t *rows)
{
	enum cid_err rc = CID_OK;
	const json_t *ids = json_object_get(e, "consent_records");
	const json_t *attrs = json_object_get(e, "attributes");
	const char *citizen = cid_json_str(e, "citizen");
	const char *service = cid_json_str(e, "service");
	const char *purpose = cid_json_str(e, "purpose");
	struct cid_txn *txn = NULL;
	json_t *rec = NULL;
	size_t i;
	const json_t *v;
	char base[CONSOLE_MAX_TEXT + 1];

	if (json_array_size(ids) > 0) {
		json_array_foreach(ids, i, v)
		{
			if (i >= CONSOLE_MAX_CONSENTS || !json_is_string(v))
				break;
			rc = cid_consent_get(cid_ctx_store(ctx), json_string_value(v), &rec);
			if (rc == CID_ERR_NOTFOUND) {
				rc = CID_OK;
				continue;
			}
			CID_TRY(rc);
			CID_TRY(consent_row(rec, rows));
			json_decref(rec);
			rec = NULL;
		}
		goto out;
	}
	if (citizen == NULL || service == NULL || purpose == NULL || !json_is_array(attrs))
		goto out;
	CID_TRY(cid_store_read_begin(cid_ctx_store(ctx), &txn));
	json_array_foreach(attrs, i, v)
	{
		const char *a = json_string_value(v);
		const char *hash;

		if (i >= CONSOLE_MAX_CONSENTS || a == NULL)
			break;
		/* a decision on family_name covers family_name#ja-Kana-JP */
		hash = strchr(a, '#');
		snprintf(base, sizeof(base), "%.*s",
			 (int)(hash == NULL ? strlen(a) : (size_t)(hash - a)), a);
		rc = cid_consent_latest(txn, citizen, service, purpose, base, &rec);
		if (rc == CID_ERR_NOTFOUND) {
			rc = CID_OK;
			continue;
		}
		CID_TRY(rc);
		CID_TRY(consent_row(rec, rows));
		json_decref(rec);
		rec = NULL;
	}
out:
	cid_store_read_end(txn);
	json_decref(rec);
	return rc;
}

/*
 * Line n of the policy file of a rule "file.policy:N" in the policies
 * directory into out[outsz]; false when the rule is not of that form or the
 * line cannot be read (the file may have been removed since).
 */
static bool rule_line(const char *dir, const char *rule, char *out, size_t outsz)
{
	const char *colon = rule == NULL ? NULL : strrchr(rule, ':');
	size_t flen;
	uint64_t line = 0;
	char path[1024];
	FILE *f;
	char *buf = NULL;
	size_t cap = 0;
	ssize_t len = -1;
	bool ok = false;

	if (colon == NULL || dir == NULL)
		return false;
	flen = (size_t)(colon - rule);
	if (flen < 8 || flen > 128 || rule[0] == '.' || strncmp(colon - 7, ".policy", 7) != 0 ||
	    cid_parse_u64(colon + 1, strnlen(colon + 1, 8), 1, 1000000, &line) != CID_OK)
		return false;
	for (size_t i = 0; i < flen; i++) {
		char c = rule[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	if (snprintf(path, sizeof(path), "%s/%.*s", dir, (int)flen, rule) >= (int)sizeof(path))
		return false;
	f = fopen(path, "r");
	if (f == NULL)
		return false;
	for (uint64_t i = 0; i < line; i++) {
		len = getline(&buf, &cap, f);
		if (len < 0 || (size_t)len > CID_POLICY_MAX_LINE + 1)
			break;
	}
	if (len >= 0 && (size_t)len <= CID_POLICY_MAX_LINE + 1) {
		while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
			buf[--len] = '\0';
		ok = cid_utf8_valid(buf, (size_t)len) && (size_t)len < outsz;
		if (ok)
			memcpy(out, buf, (size_t)len + 1);
	}
	free(buf);
	fclose(f);
	return ok;
}

/* The purpose of the entry in the policies in force, its rule and the rule's text. */
static enum cid_err entry_policy(struct cid_ctx *ctx, const json_t *e, json_t *data)
{
	enum cid_err rc = CID_OK;
	struct cid_policyref *ref = cid_ctx_policies_acquire(ctx);
	const struct cid_policy *pol = NULL;
	const char *service = cid_json_str(e, "service");
	const char *purpose = cid_json_str(e, "purpose");
	const char *version = cid_json_str(e, "policy_version");
	const char *rule = cid_json_str(e, "rule");
	struct cid_purpose_info info;
	char line[CID_POLICY_MAX_LINE + 1];

	if (service != NULL)
		pol = cid_policyset_find(cid_policyref_set(ref), service);
	if (pol != NULL) {
		CID_ENSURE(json_object_set_new(data, "policy_current",
					       json_string(cid_policy_version(pol))) == 0 &&
			       json_object_set_new(
				   data, "policy_changed",
				   json_boolean(version != NULL &&
						strcmp(version, cid_policy_version(pol)) != 0)) ==
				   0,
			   CID_ERR_NOMEM);
		if (cid_policy_purpose_find(pol, purpose, &info))
			CID_ENSURE(
			    json_object_set_new(
				data, "purpose",
				json_pack("[{s:s, s:s, s:s, s:s, s:s, s:I}]", "id", info.id,
					  "text_ja", info.text_ja, "text_en", info.text_en, "basis",
					  info.basis == CID_BASIS_STATUTE ? "statute" : "consent",
					  "statute", info.statute == NULL ? "" : info.statute,
					  "retention_days", (json_int_t)info.retention_days)) == 0,
			    CID_ERR_NOMEM);
	}
	if (rule != NULL && rule_line(cid_ctx_config(ctx)->policies_dir, rule, line, sizeof(line)))
		CID_ENSURE(json_object_set_new(data, "rule_line", json_string(line)) == 0,
			   CID_ERR_NOMEM);
out:
	cid_policyref_put(ref);
	return rc;
}

static enum cid_err entry_page(struct cid_ctx *ctx, const struct cid_request *req,
			       struct cid_reply *reply, const struct officer *who)
{
	enum cid_err rc = CID_OK;
	const char *seq_in = cid_params_get(&req->params, "seq");
	uint64_t seq = 0;
	struct cid_txn *txn = NULL;
	json_t *e = NULL;
	json_t *data = NULL;
	json_t *fields = json_array();
	json_t *consents = json_array();
	const char *key;
	json_t *v;

	if (seq_in == NULL ||
	    cid_parse_u64(seq_in, strnlen(seq_in, 21), 0, INT64_MAX, &seq) != CID_OK) {
		rc = bad_param(ctx, reply, "seq");
		goto out;
	}
	CID_TRY(cid_store_read_begin(cid_ctx_store(ctx), &txn));
	rc = cid_audit_get(txn, seq, &e);
	cid_store_read_end(txn);
	if (rc == CID_ERR_NOTFOUND) {
		rc = fail(ctx, reply, 404, "not_found", "the log has no entry with this number");
		goto out;
	}
	CID_TRY(rc);
	data = base_data(who);
	CID_ENSURE(data != NULL && fields != NULL && consents != NULL, CID_ERR_NOMEM);
	json_object_foreach(e, key, v)
	{
		json_t *row = json_pack("{s:s}", "name", key);

		CID_ENSURE(row != NULL, CID_ERR_NOMEM);
		rc = set_text(row, "value", v);
		if (rc == CID_OK && json_array_append_new(fields, row) != 0)
			rc = CID_ERR_NOMEM;
		else if (rc != CID_OK)
			json_decref(row);
		CID_TRY(rc);
	}
	CID_TRY(entry_consents(ctx, e, consents));
	CID_TRY(entry_policy(ctx, e, data));
	CID_ENSURE(json_object_set_new(data, "seq", json_integer((json_int_t)seq)) == 0 &&
		       json_object_set(data, "fields", fields) == 0 &&
		       json_object_set(data, "consents", consents) == 0,
		   CID_ERR_NOMEM);
	CID_TRY(set_text(data, "rule", json_object_get(e, "rule")));
	rc = show(ctx, reply, 200, CID_PAGE_OFFICER_ENTRY, data);
	data = NULL;
out:
	json_decref(e);
	json_decref(data);
	json_decref(fields);
	json_decref(consents);
	return rc;
}

enum cid_err cid_console_entry(struct cid_ctx *ctx, const struct cid_request *req,
			       struct cid_reply *reply)
{
	return gated(ctx, req, reply, entry_page);
}

/* ---- verify ---- */

static enum cid_err verify_page(struct cid_ctx *ctx, const struct cid_request *req,
				struct cid_reply *reply, const struct officer *who)
{
	enum cid_err rc = CID_OK;
	struct cid_keyset *ks = NULL;
	struct cid_audit_report rep = {0};
	json_t *data = NULL;

	(void)req;
	CID_TRY(cid_keyset_load_all(cid_ctx_store(ctx), &ks));
	CID_TRY(cid_audit_verify_store(cid_ctx_store(ctx), ks, &rep));
	data = base_data(who);
	CID_ENSURE(data != NULL, CID_ERR_NOMEM);
	CID_ENSURE(
	    json_object_set_new(data, "ok", json_boolean(rep.ok)) == 0 &&
		json_object_set_new(data, "bad", json_boolean(!rep.ok)) == 0 &&
		json_object_set_new(data, "entries", json_integer((json_int_t)rep.entries)) == 0 &&
		json_object_set_new(data, "checkpoints",
				    json_integer((json_int_t)rep.checkpoints)) == 0 &&
		json_object_set_new(data, "covered", json_integer((json_int_t)rep.covered)) == 0 &&
		json_object_set_new(data, "unsigned_tail",
				    json_boolean(rep.ok && rep.covered < rep.entries)) == 0,
	    CID_ERR_NOMEM);
	if (!rep.ok) {
		rep.reason[sizeof(rep.reason) - 1] = '\0';
		CID_ENSURE(json_object_set_new(data, "bad_seq",
					       json_integer((json_int_t)rep.bad_seq)) == 0 &&
			       json_object_set_new(data, "reason", json_string(rep.reason)) == 0,
			   CID_ERR_NOMEM);
	}
	rc = show(ctx, reply, 200, CID_PAGE_OFFICER_VERIFY, data);
	data = NULL;
out:
	cid_keyset_free(ks);
	json_decref(data);
	return rc;
}

enum cid_err cid_console_verify(struct cid_ctx *ctx, const struct cid_request *req,
				struct cid_reply *reply)
{
	return gated(ctx, req, reply, verify_page);
}

/* ---- export ---- */

/* The "audit.exported" entry of an export by officer name of the filter fi. NULL: no memory. */
static json_t *export_entry(const char *name, const struct filter_in *fi, const char *format,
			    uint64_t rows, int64_t now)
{
	char when[21];
	char actor[8 + CID_OFFICER_MAX_NAME + 1];
	char count[24];
	json_t *ext;
	json_t *e;
	const char *names[] = {"citizen", "service", "attribute", "type", "from", "to"};
	const char *values[] = {fi->f.citizen, fi->service, fi->attribute,
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
		return bad_param(ctx, reply, "format");
	csv = strcmp(format, "csv") == 0;
	rc = parse_filter(ctx, req, reply, &fi);
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
		rc = bad_param(ctx, reply, "filter");
		goto out;
	}
	CID_TRY(rc);
	rc = fclose(mem) == 0 ? CID_OK : CID_ERR_IO;
	mem = NULL;
	CID_TRY(rc);
	if (n >= fi.f.limit) { /* nothing leaves, so nothing is logged */
		rc = fail(ctx, reply, 400, "invalid_request",
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
	return gated(ctx, req, reply, export_page);
}

/* ---- services ---- */

struct service_counts {
	char service[CONSOLE_MAX_TEXT + 1];
	uint32_t permit[CONSOLE_MAX_DAYS];
	uint32_t deny[CONSOLE_MAX_DAYS];
};

struct tally {
	struct service_counts *s;
	size_t n;
	int64_t first_day;
	int64_t days;
};

static enum cid_err tally_row(uint64_t seq, struct cid_str entry, void *arg)
{
	struct tally *t = arg;
	enum cid_err rc = CID_OK;
	json_t *e = NULL;
	const char *service;
	const char *type;
	const char *time;
	char day_text[11];
	int64_t day;
	size_t i;

	(void)seq;
	CID_TRY(cid_store_parse_json(entry, &e));
	service = cid_json_str(e, "service");
	type = cid_json_str(e, "type");
	time = cid_json_str(e, "time");
	if (service == NULL || type == NULL || time == NULL || strlen(service) > CONSOLE_MAX_TEXT ||
	    strlen(time) < 10)
		goto out;
	snprintf(day_text, sizeof(day_text), "%.10s", time);
	if (!parse_day(day_text, &day) || day < t->first_day || day >= t->first_day + t->days)
		goto out;
	for (i = 0; i < t->n && strcmp(t->s[i].service, service) != 0; i++)
		;
	if (i == t->n) {
		if (t->n >= CONSOLE_MAX_SERVICES)
			goto out;
		memset(&t->s[i], 0, sizeof(t->s[i]));
		memcpy(t->s[i].service, service, strlen(service) + 1);
		t->n++;
	}
	if (strcmp(type, "release.permit") == 0)
		t->s[i].permit[day - t->first_day]++;
	else if (strcmp(type, "release.deny") == 0)
		t->s[i].deny[day - t->first_day]++;
out:
	json_decref(e);
	return rc;
}

static int by_service(const void *a, const void *b)
{
	return strcmp(((const struct service_counts *)a)->service,
		      ((const struct service_counts *)b)->service);
}

/* One bar of the chart: x, y, width, height in px, and its label for people. */
static enum cid_err add_bar(json_t *bars, int64_t x, uint32_t count, uint32_t max, const char *day,
			    const char *what)
{
	int64_t h = (int64_t)count * CONSOLE_CHART_PLOT / (max == 0 ? 1 : max);
	char label[64];

	if (count == 0)
		return CID_OK;
	if (h < 1)
		h = 1;
	snprintf(label, sizeof(label), "%s %s %u", day, what, count);
	return json_array_append_new(bars,
				     json_pack("{s:I, s:I, s:i, s:I, s:s}", "x", (json_int_t)x, "y",
					       (json_int_t)(CONSOLE_CHART_HEIGHT - 10 - h), "width",
					       CONSOLE_SLOT / 2 - 2, "height", (json_int_t)h,
					       "label", label)) == 0
		   ? CID_OK
		   : CID_ERR_NOMEM;
}

static enum cid_err service_data(const struct service_counts *c, const struct tally *t,
				 const struct cid_policyset *ps, const char *locale, json_t *list)
{
	enum cid_err rc = CID_OK;
	const struct cid_policy *pol = cid_policyset_find(ps, c->service);
	json_t *svc = NULL;
	json_t *rows = json_array();
	json_t *permit_bars = json_array();
	json_t *deny_bars = json_array();
	uint32_t max = 0;
	uint64_t permits = 0;
	uint64_t denies = 0;
	char day[11];

	CID_ENSURE(rows != NULL && permit_bars != NULL && deny_bars != NULL, CID_ERR_NOMEM);
	for (int64_t d = 0; d < t->days; d++) {
		max = c->permit[d] > max ? c->permit[d] : max;
		max = c->deny[d] > max ? c->deny[d] : max;
	}
	for (int64_t d = 0; d < t->days; d++) {
		permits += c->permit[d];
		denies += c->deny[d];
		if (c->permit[d] == 0 && c->deny[d] == 0)
			continue;
		format_day(t->first_day + d, day);
		CID_ENSURE(json_array_append_new(rows, json_pack("{s:s, s:I, s:I}", "day", day,
								 "permit", (json_int_t)c->permit[d],
								 "deny", (json_int_t)c->deny[d])) ==
			       0,
			   CID_ERR_NOMEM);
		CID_TRY(add_bar(permit_bars, d * CONSOLE_SLOT + 1, c->permit[d], max, day,
				"release.permit"));
		CID_TRY(add_bar(deny_bars, d * CONSOLE_SLOT + CONSOLE_SLOT / 2, c->deny[d], max,
				day, "release.deny"));
	}
	svc = json_pack("{s:s, s:s, s:I, s:I, s:O, s:O, s:O, s:I, s:i}", "service", c->service,
			"name", pol != NULL ? cid_policy_name(pol, locale) : c->service, "permit",
			(json_int_t)permits, "deny", (json_int_t)denies, "rows", rows,
			"permit_bars", permit_bars, "deny_bars", deny_bars, "chart_width",
			(json_int_t)t->days * CONSOLE_SLOT, "chart_height", CONSOLE_CHART_HEIGHT);
	CID_ENSURE(svc != NULL && json_array_append(list, svc) == 0, CID_ERR_NOMEM);
out:
	json_decref(svc);
	json_decref(rows);
	json_decref(permit_bars);
	json_decref(deny_bars);
	return rc;
}

static enum cid_err services_page(struct cid_ctx *ctx, const struct cid_request *req,
				  struct cid_reply *reply, const struct officer *who)
{
	enum cid_err rc = CID_OK;
	const char *from_in = cid_params_get(&req->params, "from");
	const char *to_in = cid_params_get(&req->params, "to");
	int64_t to_day = req->now / CONSOLE_DAY;
	int64_t from_day = to_day - (CONSOLE_DEFAULT_RANGE - 1);
	char from[21];
	char to[21];
	char from_text[11];
	char to_text[11];
	struct cid_audit_filter f = {.type = "release."};
	struct tally t = {0};
	struct cid_txn *txn = NULL;
	struct cid_policyref *ref = NULL;
	json_t *data = NULL;
	json_t *list = json_array();

	if (to_in != NULL && !parse_day(to_in, &to_day)) {
		rc = bad_param(ctx, reply, "to");
		goto out;
	}
	if (from_in != NULL && !parse_day(from_in, &from_day)) {
		rc = bad_param(ctx, reply, "from");
		goto out;
	}
	if (from_in == NULL && to_in != NULL)
		from_day = to_day - (CONSOLE_DEFAULT_RANGE - 1);
	if (from_day > to_day || to_day - from_day >= CONSOLE_MAX_DAYS) {
		rc = fail(ctx, reply, 400, "invalid_request",
			  "the range must run forward and span at most 92 days");
		goto out;
	}
	t.first_day = from_day;
	t.days = to_day - from_day + 1;
	t.s = calloc(CONSOLE_MAX_SERVICES, sizeof(*t.s));
	CID_ENSURE(t.s != NULL && list != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_audit_time(from_day * CONSOLE_DAY, from));
	CID_TRY(cid_audit_time((to_day + 1) * CONSOLE_DAY, to));
	f.from = from;
	f.to = to;
	CID_TRY(cid_store_read_begin(cid_ctx_store(ctx), &txn));
	rc = cid_audit_query(txn, &f, tally_row, &t);
	cid_store_read_end(txn);
	CID_TRY(rc);
	qsort(t.s, t.n, sizeof(*t.s), by_service);
	ref = cid_ctx_policies_acquire(ctx);
	for (size_t i = 0; i < t.n; i++)
		CID_TRY(service_data(&t.s[i], &t, cid_policyref_set(ref), locale_of(ctx), list));
	format_day(from_day, from_text);
	format_day(to_day, to_text);
	data = base_data(who);
	CID_ENSURE(data != NULL && json_object_set_new(data, "from", json_string(from_text)) == 0 &&
		       json_object_set_new(data, "to", json_string(to_text)) == 0 &&
		       json_object_set_new(data, "days", json_integer(t.days)) == 0 &&
		       json_object_set(data, "services", list) == 0,
		   CID_ERR_NOMEM);
	rc = show(ctx, reply, 200, CID_PAGE_OFFICER_SERVICES, data);
	data = NULL;
out:
	cid_policyref_put(ref);
	free(t.s);
	json_decref(list);
	json_decref(data);
	return rc;
}

enum cid_err cid_console_services(struct cid_ctx *ctx, const struct cid_request *req,
				  struct cid_reply *reply)
{
	return gated(ctx, req, reply, services_page);
}
