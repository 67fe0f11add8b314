/*
 * console_log: the log page (the search) and one entry.
 *
 * Both only read: the log page runs the officer's filter over the log,
 * newest first, a page at a time (one entry more than a page says whether
 * an older page exists, whose link repeats the filter); the entry page
 * shows every member of one entry, the consent records behind it, and the
 * purpose and rule of the policy in force that it names, with the rule's
 * source line when its file is still readable. Every value shown is text
 * for the escaping template engine, never markup.
 */
#include "console_int.h"

#include "audit_explain.h"
#include "buf.h"
#include "consent.h"
#include "policy.h"
#include "pseudonym.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	if (r->n > CID_CONSOLE_PAGE_SIZE)
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

/* The log page's query: newest first, a page and one more, older than ?before= (a seq). */
static enum cid_err log_options(struct cid_ctx *ctx, const struct cid_request *req,
				struct cid_reply *reply, struct cid_audit_filter *f)
{
	const char *before = cid_params_get(&req->params, "before");
	uint64_t before_seq = 0;

	if (before != NULL &&
	    cid_parse_u64(before, strnlen(before, 21), 1, INT64_MAX, &before_seq) != CID_OK)
		return cid_reply_answered(console_bad_param(ctx, req, reply, "before"));
	f->newest_first = true;
	f->after_seq = before_seq; /* newest first: entries before this seq */
	f->limit = CID_CONSOLE_PAGE_SIZE + 1;
	return CID_OK;
}

static enum cid_err log_scan(struct cid_txn *txn, const struct cid_audit_filter *f, void *arg)
{
	return cid_audit_query(txn, f, log_row, arg);
}

/*
 * What the log's rows show a person, added once the scan's read transaction
 * has ended (a name is looked up in a transaction of its own): the time in
 * the console's zone and language, the citizen's username beside the id.
 */
static enum cid_err rows_for_people(struct cid_ctx *ctx, const char *locale, json_t *list)
{
	enum cid_err rc = CID_OK;
	struct console_names nm = {.ctx = ctx, .known = json_object()};
	size_t i;
	json_t *row;

	CID_ENSURE(nm.known != NULL, CID_ERR_NOMEM);
	json_array_foreach(list, i, row)
	{
		CID_TRY(
		    console_local_time(ctx, locale, cid_json_str(row, "time"), row, "local_time"));
		CID_TRY(console_citizen_name(&nm, cid_json_str(row, "citizen"), row));
	}
out:
	json_decref(nm.known);
	return rc;
}

static enum cid_err log_page(struct cid_ctx *ctx, const struct cid_request *req,
			     struct cid_reply *reply, const struct officer *who)
{
	enum cid_err rc = CID_OK;
	struct filter_in fi;
	struct rows rows = {0};
	json_t *data = NULL;
	char next[40];
	char *query = NULL;

	rows.list = json_array();
	data = console_base_data(who);
	CID_ENSURE(rows.list != NULL && data != NULL, CID_ERR_NOMEM);
	CID_TRY(console_scan(ctx, req, reply, &fi, log_options, log_scan, &rows));
	{
		/* the search is on the record before its rows leave */
		struct cid_audit_officer_act act = {
		    .act = CID_AUDIT_OFFICER_SEARCHED,
		    .officer = who->name,
		    .citizen = fi.f.citizen,
		    .filter = &fi.f,
		    .rows = rows.n > CID_CONSOLE_PAGE_SIZE ? CID_CONSOLE_PAGE_SIZE : rows.n,
		    .now = req->now,
		};

		CID_TRY(cid_audit_officer_record(cid_ctx_audit_log(ctx), &act, NULL));
	}
	CID_TRY(rows_for_people(ctx, console_locale(ctx, req), rows.list));
	CID_ENSURE(json_object_set_new(data, "zone", json_string(cid_tz_name(cid_ctx_tz(ctx)))) ==
		       0,
		   CID_ERR_NOMEM);
	CID_TRY(console_filter_data(&fi, data));
	CID_TRY(console_type_options(fi.type, data));
	CID_ENSURE(json_object_set(data, "entries", rows.list) == 0, CID_ERR_NOMEM);
	if (rows.n > CID_CONSOLE_PAGE_SIZE) {
		snprintf(next, sizeof(next), "before=%llu", (unsigned long long)rows.last_seq);
		query = console_filter_query(&fi, next);
		CID_ENSURE(query != NULL, CID_ERR_NOMEM);
		CID_ENSURE(json_object_set_new(data, "next_query", json_string(query)) == 0,
			   CID_ERR_NOMEM);
	}
	rc = console_show(ctx, req, reply, 200, CID_PAGE_OFFICER_LOG, data);
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
	return console_gated(ctx, req, reply, log_page);
}

/* A consent record (as stored) as a row of the entry page. */
static enum cid_err consent_row(const json_t *stored, json_t *rows)
{
	enum cid_err rc = CID_OK;
	json_t *row = json_object();
	struct cid_consent_record rec;
	char at[21] = "";
	char until[21] = "";

	CID_ENSURE(row != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_consent_record_read(stored, &rec));
	{
		const char *const members[][2] = {
		    {"id", rec.id},
		    {"state", cid_consent_state_name(rec.state)},
		    {"service", rec.service},
		    {"purpose", rec.purpose},
		    {"attribute", rec.attribute},
		    {"policy_version", rec.policy_version},
		    {"method", rec.method == NULL ? "" : rec.method},
		};

		for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++)
			CID_ENSURE(json_object_set_new(row, members[i][0],
						       json_string(members[i][1])) == 0,
				   CID_ERR_NOMEM);
	}
	if (cid_audit_time(rec.at, at) != CID_OK)
		at[0] = '\0';
	if (rec.expires_at <= 0 || cid_audit_time(rec.expires_at, until) != CID_OK)
		until[0] = '\0';
	CID_ENSURE(json_object_set_new(row, "at", json_string(at)) == 0 &&
		       json_object_set_new(row, "expires_at", json_string(until)) == 0 &&
		       json_array_append(rows, row) == 0,
		   CID_ERR_NOMEM);
out:
	json_decref(row);
	return rc;
}

/*
 * Adds the consent record *rec that a lookup found with rc as a row; a record
 * not found adds none. Releases *rec and sets it to NULL.
 */
static enum cid_err found_row(enum cid_err rc, json_t **rec, json_t *rows)
{
	if (rc == CID_OK)
		rc = consent_row(*rec, rows);
	else if (rc == CID_ERR_NOTFOUND)
		rc = CID_OK;
	json_decref(*rec);
	*rec = NULL;
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
	json_t *scope = NULL;
	size_t i;
	const json_t *v;
	char base[CID_CONSOLE_MAX_TEXT + 1];

	if (json_array_size(ids) > 0) {
		json_array_foreach(ids, i, v)
		{
			if (i >= CID_CONSOLE_MAX_CONSENTS || !json_is_string(v))
				break;
			rc = cid_consent_get(cid_ctx_store(ctx), json_string_value(v), &rec);
			CID_TRY(found_row(rc, &rec, rows));
		}
		goto out;
	}
	if (citizen == NULL || service == NULL || purpose == NULL || !json_is_array(attrs))
		goto out;
	CID_TRY(cid_store_read_begin(cid_ctx_store(ctx), &txn));
	/* the records are the scope's: found through its mapping, whose account the
	 * page does not show (a look-up of who it is goes through cid_audit_resolve) */
	if (cid_pseudonym_syntax_ok(citizen)) {
		rc = cid_pseudonym_resolve(txn, citizen, &scope);
		if (rc == CID_ERR_NOTFOUND) {
			rc = CID_OK; /* purged: its records went with it */
			goto out;
		}
		CID_TRY(rc);
		citizen = cid_json_str(scope, "citizen");
		CID_ENSURE(citizen != NULL, CID_ERR_STORE);
	}
	json_array_foreach(attrs, i, v)
	{
		const char *a = json_string_value(v);
		const char *hash;

		if (i >= CID_CONSOLE_MAX_CONSENTS || a == NULL)
			break;
		/* a decision on family_name covers family_name#ja-Kana-JP */
		hash = strchr(a, '#');
		snprintf(base, sizeof(base), "%.*s",
			 (int)(hash == NULL ? strlen(a) : (size_t)(hash - a)), a);
		rc = cid_consent_latest(txn, citizen, service, purpose, base, &rec);
		CID_TRY(found_row(rc, &rec, rows));
	}
out:
	cid_store_read_end(txn);
	json_decref(rec);
	json_decref(scope);
	return rc;
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
	struct cid_buf line;
	const char *text = NULL;
	size_t len = 0;

	/* the text of every line the rule names, at most CID_AUDIT_RULE_MAX_LINES */
	cid_buf_init(&line, (size_t)CID_AUDIT_RULE_MAX_LINES * (CID_POLICY_MAX_LINE + 1));
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
		/* the lines the rule names, in the policy in force */
		text = cid_policy_text(pol, &len);
		if (rule != NULL &&
		    cid_audit_rule_text(rule, cid_policy_file(pol), text, len, &line))
			CID_ENSURE(json_object_set_new(data, "rule_line",
						       json_stringn(line.data, line.len)) == 0,
				   CID_ERR_NOMEM);
	}
out:
	cid_buf_free(&line);
	cid_policyref_put(ref);
	return rc;
}

static bool same_id(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* The strings of list as member name of data, rows {"text"} a template can show. */
static enum cid_err text_rows(const json_t *list, json_t *data, const char *name)
{
	enum cid_err rc = CID_OK;
	json_t *rows = json_array();
	size_t i;
	const json_t *v;

	CID_ENSURE(rows != NULL, CID_ERR_NOMEM);
	json_array_foreach(list, i, v)
	{
		CID_ENSURE(json_array_append_new(rows, json_pack("{s:O}", "text", v)) == 0,
			   CID_ERR_NOMEM);
	}
	if (json_array_size(rows) > 0)
		CID_ENSURE(json_object_set(data, name, rows) == 0, CID_ERR_NOMEM);
out:
	json_decref(rows);
	return rc;
}

/* The history of each consent row's record, from the explanation why, as rows of their own. */
static enum cid_err consent_histories(const json_t *why, json_t *consents)
{
	enum cid_err rc = CID_OK;
	size_t i, j, k;
	json_t *row;
	const json_t *c;
	const json_t *h;

	json_array_foreach(consents, i, row)
	{
		json_t *list = json_array();

		CID_ENSURE(list != NULL, CID_ERR_NOMEM);
		CID_ENSURE(json_object_set_new(row, "history", list) == 0, CID_ERR_NOMEM);
		json_array_foreach(json_object_get(why, "consents"), j, c)
		{
			if (!same_id(cid_json_str(json_object_get(c, "record"), "id"),
				     cid_json_str(row, "id")))
				continue;
			json_array_foreach(json_object_get(c, "history"), k, h)
			{
				CID_TRY(consent_row(h, list));
			}
		}
	}
out:
	return rc;
}

/*
 * What the explanation why (audit_explain.h) adds to the entry page: the
 * notice exactly as the version the entry names had it (replacing the
 * purpose of the policy in force, which may differ), the rule's line in that
 * version, how the citizen authenticated, and every problem and gap found.
 */
static enum cid_err entry_explained(const json_t *why, json_t *data)
{
	enum cid_err rc = CID_OK;
	const json_t *n = json_object_get(why, "notice");
	const json_t *p = json_object_get(why, "policy");
	const json_t *a = json_object_get(why, "authentication");
	json_t *purpose = NULL;

	if (n != NULL) {
		purpose = json_pack(
		    "[{s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:b}]", "id", cid_json_str(n, "purpose"),
		    "text_ja", cid_json_str(n, "text_ja"), "text_en", cid_json_str(n, "text_en"),
		    "basis", cid_json_str(n, "basis"), "statute",
		    cid_json_str(n, "statute") != NULL ? cid_json_str(n, "statute") : "",
		    "retention_days", cid_json_int(n, "retention_days"), "digest",
		    cid_json_str(n, "digest"), "exact", 1);
		CID_ENSURE(purpose != NULL && json_object_set(data, "purpose", purpose) == 0,
			   CID_ERR_NOMEM);
	}
	if (p != NULL) {
		CID_ENSURE(json_object_set_new(data, "policy_version",
					       json_string(cid_json_str(p, "version"))) == 0,
			   CID_ERR_NOMEM);
		if (cid_json_str(p, "rule_line") != NULL)
			CID_ENSURE(json_object_set(data, "rule_line",
						   json_object_get(p, "rule_line")) == 0,
				   CID_ERR_NOMEM);
	}
	if (a != NULL) {
		json_t *auth = json_object();

		CID_ENSURE(auth != NULL && json_object_set_new(data, "auth", auth) == 0,
			   CID_ERR_NOMEM);
		CID_TRY(set_text(auth, "acr", json_object_get(a, "acr")));
		CID_TRY(set_text(auth, "amr", json_object_get(a, "amr")));
		CID_TRY(set_text(auth, "auth_time", json_object_get(a, "auth_time")));
		CID_TRY(set_text(auth, "level", json_object_get(a, "level")));
	}
	CID_TRY(text_rows(json_object_get(why, "problems"), data, "problems"));
	CID_TRY(text_rows(json_object_get(why, "gaps"), data, "gaps"));
out:
	json_decref(purpose);
	return rc;
}

/*
 * What the entry page shows a person: the entry's time and its consent
 * records' times in the console's zone and language, the citizen's username.
 */
static enum cid_err entry_for_people(struct cid_ctx *ctx, const char *locale, const json_t *e,
				     json_t *consents, json_t *data)
{
	enum cid_err rc = CID_OK;
	struct console_names nm = {.ctx = ctx, .known = json_object()};
	const char *citizen = cid_json_str(e, "citizen");
	size_t i;
	json_t *c;

	CID_ENSURE(nm.known != NULL, CID_ERR_NOMEM);
	json_array_foreach(consents, i, c)
	{
		CID_TRY(console_local_time(ctx, locale, cid_json_str(c, "at"), c, "at_local"));
		CID_TRY(console_local_time(ctx, locale, cid_json_str(c, "expires_at"), c,
					   "until_local"));
	}
	CID_TRY(console_local_time(ctx, locale, cid_json_str(e, "time"), data, "local_time"));
	CID_ENSURE(
	    json_object_set_new(
		data, "time",
		json_string(cid_json_str(e, "time") != NULL ? cid_json_str(e, "time") : "")) == 0 &&
		json_object_set_new(data, "citizen", json_string(citizen != NULL ? citizen : "")) ==
		    0 &&
		json_object_set_new(data, "zone", json_string(cid_tz_name(cid_ctx_tz(ctx)))) == 0,
	    CID_ERR_NOMEM);
	CID_TRY(console_citizen_name(&nm, citizen, data));
	if (citizen != NULL && cid_pseudonym_syntax_ok(citizen))
		CID_ENSURE(json_object_set_new(data, "pseudonym", json_string(citizen)) == 0,
			   CID_ERR_NOMEM);
out:
	json_decref(nm.known);
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
	json_t *why = NULL;
	const char *key;
	json_t *v;

	if (seq_in == NULL ||
	    cid_parse_u64(seq_in, strnlen(seq_in, 21), 0, INT64_MAX, &seq) != CID_OK) {
		rc = console_bad_param(ctx, req, reply, "seq");
		goto out;
	}
	CID_TRY(cid_store_read_begin(cid_ctx_store(ctx), &txn));
	rc = cid_audit_get(txn, seq, &e);
	cid_store_read_end(txn);
	if (rc == CID_ERR_NOTFOUND) {
		rc = console_fail(ctx, req, reply, 404, "not_found", "err.entry_none");
		goto out;
	}
	CID_TRY(rc);
	{
		/* the view is on the record before the entry leaves */
		struct cid_audit_officer_act act = {
		    .act = CID_AUDIT_OFFICER_VIEWED,
		    .officer = who->name,
		    .citizen = cid_json_str(e, "citizen"),
		    .seq = seq,
		    .now = req->now,
		};

		CID_TRY(cid_audit_officer_record(cid_ctx_audit_log(ctx), &act, NULL));
	}
	CID_TRY(cid_audit_explain(cid_ctx_store(ctx), seq, &why));
	data = console_base_data(who);
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
	CID_TRY(consent_histories(why, consents));
	CID_TRY(entry_for_people(ctx, console_locale(ctx, req), e, consents, data));
	CID_TRY(entry_policy(ctx, e, data));
	CID_TRY(entry_explained(why, data));
	CID_ENSURE(json_object_set_new(data, "seq", json_integer((json_int_t)seq)) == 0 &&
		       json_object_set(data, "fields", fields) == 0 &&
		       json_object_set(data, "consents", consents) == 0,
		   CID_ERR_NOMEM);
	CID_TRY(set_text(data, "rule", json_object_get(e, "rule")));
	rc = console_show(ctx, req, reply, 200, CID_PAGE_OFFICER_ENTRY, data);
	data = NULL;
out:
	json_decref(e);
	json_decref(why);
	json_decref(data);
	json_decref(fields);
	json_decref(consents);
	return rc;
}

enum cid_err cid_console_entry(struct cid_ctx *ctx, const struct cid_request *req,
			       struct cid_reply *reply)
{
	return console_gated(ctx, req, reply, entry_page);
}
