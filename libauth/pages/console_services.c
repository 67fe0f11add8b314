/*
 * console_services: releases and refusals per service per day, over a
 * range of at most CID_CONSOLE_MAX_DAYS, as a table and a bar chart drawn by
 * the template from computed rectangles (no script on the page). One scan
 * of the release entries of the range, counted in a fixed table of at most
 * CID_CONSOLE_MAX_SERVICES services, so the page costs the same whatever the
 * log holds outside the range.
 */
#include "console_int.h"

#include "policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONSOLE_SLOT	      20  /* px per day in the chart */
#define CONSOLE_CHART_HEIGHT  120 /* px */
#define CONSOLE_CHART_PLOT    100 /* px of the tallest bar */
#define CONSOLE_DEFAULT_RANGE 30  /* days of the services page */

/* "YYYY-MM-DD" of a day number into out[11]. */
static void format_day(int64_t day, char out[11])
{
	char full[21];

	if (cid_audit_time(day * CONSOLE_DAY, full) != CID_OK)
		full[0] = '\0';
	snprintf(out, 11, "%.10s", full);
}

struct service_counts {
	char service[CID_CONSOLE_MAX_TEXT + 1];
	uint32_t permit[CID_CONSOLE_MAX_DAYS];
	uint32_t deny[CID_CONSOLE_MAX_DAYS];
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
	if (service == NULL || type == NULL || time == NULL ||
	    strlen(service) > CID_CONSOLE_MAX_TEXT || strlen(time) < 10)
		goto out;
	snprintf(day_text, sizeof(day_text), "%.10s", time);
	if (!console_parse_day(day_text, &day) || day < t->first_day ||
	    day >= t->first_day + t->days)
		goto out;
	for (i = 0; i < t->n && strcmp(t->s[i].service, service) != 0; i++)
		;
	if (i == t->n) {
		if (t->n >= CID_CONSOLE_MAX_SERVICES)
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
	/* the count is written above its bar, so the chart reads without its colours */
	return json_array_append_new(
		   bars, json_pack("{s:I, s:I, s:i, s:I, s:s, s:s, s:I, s:I, s:I}", "x",
				   (json_int_t)x, "y", (json_int_t)(CONSOLE_CHART_HEIGHT - 10 - h),
				   "width", CONSOLE_SLOT / 2 - 2, "height", (json_int_t)h, "label",
				   label, "day", day, "count", (json_int_t)count, "text_x",
				   (json_int_t)(x + (CONSOLE_SLOT / 2 - 2) / 2), "text_y",
				   (json_int_t)(CONSOLE_CHART_HEIGHT - 12 - h))) == 0
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

	if (to_in != NULL && !console_parse_day(to_in, &to_day)) {
		rc = console_bad_param(ctx, req, reply, "to");
		goto out;
	}
	if (from_in != NULL && !console_parse_day(from_in, &from_day)) {
		rc = console_bad_param(ctx, req, reply, "from");
		goto out;
	}
	if (from_in == NULL && to_in != NULL)
		from_day = to_day - (CONSOLE_DEFAULT_RANGE - 1);
	/* both bounds as the log's times: a day whose end it cannot say is asked for
	 * wrongly (to=9999-12-31), answered as such, not failed */
	if (!console_day_time(to_day, true, to) || !console_day_time(from_day, false, from)) {
		rc = console_bad_param(ctx, req, reply, "to");
		goto out;
	}
	if (from_day > to_day || to_day - from_day >= CID_CONSOLE_MAX_DAYS) {
		rc = console_fail(ctx, req, reply, 400, "invalid_request", "err.services_range");
		goto out;
	}
	t.first_day = from_day;
	t.days = to_day - from_day + 1;
	t.s = calloc(CID_CONSOLE_MAX_SERVICES, sizeof(*t.s));
	CID_ENSURE(t.s != NULL && list != NULL, CID_ERR_NOMEM);
	f.from = from;
	f.to = to;
	CID_TRY(cid_store_read_begin(cid_ctx_store(ctx), &txn));
	rc = cid_audit_query(txn, &f, tally_row, &t);
	cid_store_read_end(txn);
	CID_TRY(rc);
	qsort(t.s, t.n, sizeof(*t.s), by_service);
	ref = cid_ctx_policies_acquire(ctx);
	for (size_t i = 0; i < t.n; i++)
		CID_TRY(service_data(&t.s[i], &t, cid_policyref_set(ref), console_locale(ctx, req),
				     list));
	format_day(from_day, from_text);
	format_day(to_day, to_text);
	data = console_base_data(who);
	CID_ENSURE(data != NULL && json_object_set_new(data, "from", json_string(from_text)) == 0 &&
		       json_object_set_new(data, "to", json_string(to_text)) == 0 &&
		       json_object_set_new(data, "days", json_integer(t.days)) == 0 &&
		       json_object_set(data, "services", list) == 0,
		   CID_ERR_NOMEM);
	rc = console_show(ctx, req, reply, 200, CID_PAGE_OFFICER_SERVICES, data);
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
	return console_gated(ctx, req, reply, services_page);
}
