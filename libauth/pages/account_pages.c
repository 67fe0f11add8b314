/*
 * account_pages: what the citizen sees of their own records. Both views are
 * read from the records themselves (consent.c's history, audit.c's citizen
 * slice); this file only picks the current decision per attribute and turns
 * ids into the names the citizen knows (the service's name and the purpose
 * text of its policy). Everything is keyed by the session's account id, never
 * by anything the request names, so a citizen can reach no one else's data.
 */
#include "account_pages.h"

#include "account_consent.h"
#include "account_login.h"
#include "account_pages_int.h"

#include "audit.h"
#include "bounds.h"
#include "client.h"
#include "consent.h"
#include "crypto.h"
#include "policy.h"
#include "reply.h"
#include "session.h"
#include "str.h"
#include "token.h"
#include "tz.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_EVENT_KEY  48
#define STATUTE_PREFIX "statute:"

/* Names for the citizen: the service's and its purposes', from the policies in force. */
struct names {
	struct cid_ctx *ctx;
	const struct cid_policyset *ps;
	const char *locale;
	json_t *clients; /* client_id -> registration name, looked up once per page */
};

static const char *service_name(struct names *nm, const char *service)
{
	const struct cid_policy *pol = cid_policyset_find(nm->ps, service);
	struct cid_client *client = NULL;
	const json_t *known;

	if (pol != NULL)
		return cid_policy_name(pol, nm->locale);
	known = json_object_get(nm->clients, service);
	if (known == NULL) {
		/*
		 * no policy any more: the registration's name, else the client_id
		 * itself; either is remembered, so a removed service costs one
		 * lookup per page, not one per trail entry
		 */
		const char *name = service;

		if (cid_client_get(cid_ctx_store(nm->ctx), service, &client) == CID_OK)
			name = client->name;
		/* a name that cannot be remembered (out of memory) is not looked up
		 * again: the page names the service by its client_id instead */
		(void)json_object_set_new(nm->clients, service, json_string(name));
		cid_client_free(client);
		known = json_object_get(nm->clients, service);
	}
	return known != NULL ? json_string_value(known) : service;
}

static const char *purpose_text(const struct names *nm, const char *service, const char *purpose)
{
	struct cid_purpose_info pu;

	if (cid_policy_purpose_find(cid_policyset_find(nm->ps, service), purpose, &pu))
		return cid_purpose_text(&pu, nm->locale);
	return purpose;
}

enum cid_err account_add_label(json_t *list, const char *attribute, json_t **item_out)
{
	char key[CID_MAX_LABEL_KEY];
	size_t base = strcspn(attribute, "#");
	json_t *item;
	int n = snprintf(key, sizeof(key), "attr.%.*s", (int)base, attribute);

	if (n < 0 || (size_t)n >= sizeof(key))
		return CID_ERR_TOOBIG;
	item = json_pack("{s:s}", "label_key", key);
	if (item == NULL || json_array_append_new(list, item) != 0)
		return CID_ERR_NOMEM;
	if (item_out != NULL)
		*item_out = item;
	return CID_OK;
}

static bool same_group(const struct cid_consent_record *a, const struct cid_consent_record *b)
{
	return strcmp(a->service, b->service) == 0 && strcmp(a->purpose, b->purpose) == 0;
}

static bool same_attribute(const struct cid_consent_record *a, const struct cid_consent_record *b)
{
	return same_group(a, b) && strcmp(a->attribute, b->attribute) == 0;
}

/* Sets item[name] to the string value; CID_ERR_NOMEM when it cannot. */
static enum cid_err set_str(json_t *item, const char *name, const char *value)
{
	return json_object_set_new(item, name, json_string(value)) == 0 ? CID_OK : CID_ERR_NOMEM;
}

/*
 * Sets item[local] to the instant t as the citizen reads it: in the page's
 * language and the city's zone (cid_tz_format), "" when it has no local date.
 */
static enum cid_err set_local(const struct names *nm, json_t *item, const char *local, int64_t t)
{
	char text[CID_TZ_TEXT_MAX];

	if (cid_tz_format(cid_ctx_tz(nm->ctx), t, nm->locale, true, text) != CID_OK)
		text[0] = '\0'; /* no local date: shown as none */
	return set_str(item, local, text);
}

/*
 * Sets item[name] to the time t as RFC 3339 (the <time> element's datetime)
 * and item[local] to it as the citizen reads it (set_local); "" when it has
 * no calendar date.
 */
static enum cid_err set_time(const struct names *nm, json_t *item, const char *name,
			     const char *local, int64_t t)
{
	enum cid_err rc = CID_OK;
	char text[32];

	if (cid_audit_time(t, text) != CID_OK)
		text[0] = '\0'; /* no calendar date: shown as none */
	CID_TRY(set_str(item, name, text));
	rc = set_local(nm, item, local, t);
out:
	return rc;
}

/*
 * One item of the consent list: the latest record rec of its attribute, with
 * what the citizen may do with it (account_consent.h); *can_withdraw is set
 * when it can be withdrawn.
 */
static enum cid_err consent_item(const struct names *nm, const struct cid_consent_record *rec,
				 int64_t now, json_t *items, bool *can_withdraw)
{
	enum cid_err rc = CID_OK;
	int64_t expires_at = rec->expires_at;
	bool granted = rec->state == CID_CONSENT_GRANTED;
	bool expired = cid_consent_record_expired(rec, now);
	enum cid_account_offer offer = cid_account_offer(nm->ps, rec, now);
	char state_key[MAX_EVENT_KEY];
	json_t *item = NULL;

	snprintf(state_key, sizeof(state_key), "account_state_%s",
		 expired ? "expired" : cid_consent_state_name(rec->state));
	CID_TRY(account_add_label(items, rec->attribute, &item));
	CID_TRY(set_str(item, "state_key", state_key));
	/* the form's names: each item's own, as a section sees only its element and the page */
	CID_TRY(set_str(item, "service", rec->service));
	CID_TRY(set_str(item, "purpose", rec->purpose));
	CID_TRY(set_str(item, "attribute", rec->attribute));
	if (granted && expires_at != 0)
		CID_TRY(set_time(nm, item, "expires", "expires_local", expires_at));
	if (rec->state == CID_CONSENT_WITHDRAWN && rec->at != 0)
		CID_TRY(set_time(nm, item, "withdrawn_on", "withdrawn_on_local", rec->at));
	if (granted && !expired)
		CID_TRY(set_str(item, "receipt_id", rec->id));
	CID_ENSURE(
	    json_object_set_new(item, "can_withdraw", json_boolean(offer == CID_OFFER_WITHDRAW)) ==
		    0 &&
		json_object_set_new(item, "can_share", json_boolean(offer == CID_OFFER_SHARE)) == 0,
	    CID_ERR_NOMEM);
	if (offer == CID_OFFER_WITHDRAW)
		*can_withdraw = true;
out:
	return rc;
}

/*
 * The purposes of service whose basis is a statute, appended to out: their
 * attributes are provided by law, with the citation, and no button. head:
 * the first of them heads the service (its groups of consents did not).
 */
static enum cid_err law_groups(struct names *nm, const char *service, bool head, json_t *out)
{
	enum cid_err rc = CID_OK;
	json_t *desc = NULL;
	size_t i;
	size_t j;
	const json_t *pu;
	const json_t *permit;

	if (cid_policy_describe(nm->ps, service, &desc) == CID_ERR_NOTFOUND)
		return CID_OK; /* no policy any more: nothing is provided by law */
	CID_ENSURE(desc != NULL, CID_ERR_NOMEM);
	json_array_foreach(json_object_get(desc, "purposes"), i, pu)
	{
		const char *basis = cid_json_str(pu, "basis");
		const char *text = cid_json_str(json_object_get(pu, "text"), nm->locale);
		json_t *items = json_array();
		json_t *g;

		if (basis == NULL || strcmp(basis, "statute") != 0) {
			json_decref(items);
			continue;
		}
		/* "o" takes items: from here it is borrowed from the group, which out holds */
		g = json_pack("{s:s, s:s, s:s, s:s?, s:b, s:o}", "service_name",
			      service_name(nm, service), "purpose_text", text != NULL ? text : "",
			      "service", service, "statute", cid_json_str(pu, "statute"),
			      "service_head", head, "items", items);
		CID_ENSURE(g != NULL, CID_ERR_NOMEM);
		CID_ENSURE(json_array_append_new(out, g) == 0, CID_ERR_NOMEM);
		head = false;
		json_array_foreach(json_object_get(pu, "permit"), j, permit)
		{
			json_t *item = NULL;

			CID_ENSURE(cid_json_str(permit, "attribute") != NULL, CID_ERR_STORE);
			CID_TRY(account_add_label(items, cid_json_str(permit, "attribute"), &item));
			CID_TRY(set_str(item, "state_key", "account_state_law"));
		}
	}
out:
	json_decref(desc);
	return rc;
}

/*
 * The current decision per attribute, grouped by (service, purpose), each
 * service's purposes provided by law after its own. The history is in key
 * order: one service and one (service, purpose) are contiguous, and within
 * it each attribute's records run oldest to newest.
 */
static enum cid_err consents_view(struct names *nm, const json_t *history, int64_t now, json_t *out)
{
	enum cid_err rc = CID_OK;
	json_t *items = NULL;
	json_t *g = NULL;
	struct cid_consent_record group = {0};
	struct cid_consent_record rec;
	struct cid_consent_record next;
	size_t n = json_array_size(history);
	bool can_withdraw = false;

	for (size_t i = 0; i < n; i++) {
		bool has_next = i + 1 < n;

		CID_TRY(cid_consent_record_read(json_array_get(history, i), &rec));
		if (has_next)
			CID_TRY(cid_consent_record_read(json_array_get(history, i + 1), &next));
		if (group.id == NULL || !same_group(&group, &rec)) {
			const char *service = rec.service;
			const char *purpose = rec.purpose;
			bool head = group.id == NULL || strcmp(group.service, service) != 0;

			if (head && group.id != NULL)
				CID_TRY(law_groups(nm, group.service, false, out));
			group = rec;
			can_withdraw = false;
			/* "o" takes items: from here it is borrowed from the group, which out holds
			 */
			items = json_array();
			g = json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:o}", "service_name",
				      service_name(nm, service), "purpose_text",
				      purpose_text(nm, service, purpose), "service", service,
				      "purpose", purpose, "service_head", head,
				      "can_withdraw_service", head, "items", items);
			CID_ENSURE(g != NULL, CID_ERR_NOMEM);
			CID_ENSURE(json_array_append_new(out, g) == 0, CID_ERR_NOMEM);
		}
		/* only the latest record of each attribute is its current decision */
		if (has_next && same_attribute(&rec, &next))
			continue;
		CID_TRY(consent_item(nm, &rec, now, items, &can_withdraw));
		CID_ENSURE(
		    json_object_set_new(g, "can_withdraw_purpose", json_boolean(can_withdraw)) == 0,
		    CID_ERR_NOMEM);
	}
	if (group.id != NULL)
		CID_TRY(law_groups(nm, group.service, false, out));
out:
	return rc;
}

/* True if a record of history (cid_consent_history) names service. */
static bool in_history(const json_t *history, const char *service)
{
	size_t i;
	const json_t *v;

	json_array_foreach(history, i, v)
	{
		if (cid_str_eq(cid_str_of(cid_json_str(v, "service")), service))
			return true;
	}
	return false;
}

/*
 * The services the citizen signed in to with no consent record, after those
 * with one: granted (cid_grant_services, each once, in its order) less the
 * services history names, each with its purposes provided by law under its
 * own heading. A service without a policy or without such a purpose has
 * nothing to list; one whose purposes are all statutory is never asked
 * about, so this is where the citizen sees that their attributes flow to it.
 */
static enum cid_err law_only_view(struct names *nm, const json_t *history, const json_t *granted,
				  json_t *out)
{
	enum cid_err rc = CID_OK;
	size_t i;
	const json_t *v;

	json_array_foreach(granted, i, v)
	{
		const char *service = json_string_value(v);

		if (!in_history(history, service))
			CID_TRY(law_groups(nm, service, true, out));
	}
out:
	return rc;
}

/* One entry of the citizen's audit slice, for the page. */
static enum cid_err trail_entry(struct names *nm, const json_t *e, json_t *out)
{
	enum cid_err rc = CID_OK;
	const char *type = cid_json_str(e, "type");
	const char *service = cid_json_str(e, "service");
	const char *basis = cid_json_str(e, "basis");
	const char *text;
	const char *when;
	int64_t t;
	char event_key[MAX_EVENT_KEY];
	json_t *items = json_array();
	json_t *row = NULL;
	size_t i;
	const json_t *a;

	CID_ENSURE(items != NULL, CID_ERR_NOMEM);
	CID_ENSURE(type != NULL && service != NULL, CID_ERR_STORE);
	if (strcmp(type, "release.permit") == 0)
		snprintf(event_key, sizeof(event_key), "account_ev_release");
	else if (strncmp(type, "consent.", 8) == 0 && strlen(type + 8) < 16)
		snprintf(event_key, sizeof(event_key), "account_ev_%s", type + 8);
	else
		goto out; /* nothing else is the citizen's trail */
	json_array_foreach(json_object_get(e, "attributes"), i, a)
	{
		if (json_is_string(a))
			CID_TRY(account_add_label(items, json_string_value(a), NULL));
	}
	text = purpose_text(nm, service, cid_json_str(e, "purpose"));
	when = cid_json_str(e, "time");
	row = json_pack("{s:s, s:s, s:s, s:s, s:O}", "time", when != NULL ? when : "",
			"service_name", service_name(nm, service), "purpose_text",
			text != NULL ? text : "", "event_key", event_key, "items", items);
	CID_ENSURE(row != NULL, CID_ERR_NOMEM);
	if (when != NULL && cid_time_parse(when, &t) == CID_OK)
		CID_TRY(set_local(nm, row, "local_time", t));
	if (basis != NULL && strncmp(basis, STATUTE_PREFIX, strlen(STATUTE_PREFIX)) == 0)
		CID_ENSURE(json_object_set_new(row, "statute",
					       json_string(basis + strlen(STATUTE_PREFIX))) == 0,
			   CID_ERR_NOMEM);
	CID_ENSURE(json_array_append(out, row) == 0, CID_ERR_NOMEM);
out:
	json_decref(items);
	json_decref(row);
	return rc;
}

/* Which page of the trail: the query's service filter and paging, checked (trail_query). */
struct trail_query {
	const char *service; /* NULL: every service */
	uint64_t from_seq;   /* 0: the newest page */
	bool newer;	     /* the page above from_seq (else below it) */
};

/* The links of a trail page: 0 where there is no such page. */
struct trail_links {
	uint64_t older; /* ?after=: the page below this one */
	uint64_t newer; /* ?newer=: the page above this one */
};

/*
 * The trail page q asks for, newest first, into out, and the links to the
 * pages beside it. One entry more than a page is read, to know whether
 * there is a page beyond it.
 */
static enum cid_err trail_view(struct names *nm, const char *account_id,
			       const struct trail_query *q, json_t *out, struct trail_links *links)
{
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;
	json_t *slice = NULL;
	size_t n;
	bool more;
	uint64_t low;
	uint64_t high;

	*links = (struct trail_links){0};
	CID_TRY(cid_store_read_begin(cid_ctx_store(nm->ctx), &txn));
	rc = cid_audit_citizen_page(txn, account_id, q->service, q->from_seq, q->newer,
				    CID_ACCOUNT_PAGE + 1, &slice);
	cid_store_read_end(txn);
	CID_TRY(rc);
	more = json_array_size(slice) > CID_ACCOUNT_PAGE;
	n = more ? CID_ACCOUNT_PAGE : json_array_size(slice);
	/* a page read upwards (oldest first) is shown newest first like any other */
	for (size_t k = 0; k < n; k++)
		CID_TRY(trail_entry(nm, json_array_get(slice, q->newer ? n - 1 - k : k), out));
	if (n == 0) {
		/* past either end: the way back is the page next to where it was asked */
		if (q->from_seq > 0 && !q->newer)
			links->newer = q->from_seq - 1;
		if (q->from_seq > 0 && q->newer)
			links->older = q->from_seq + 1;
		goto out;
	}
	low = (uint64_t)cid_json_int(json_array_get(slice, q->newer ? 0 : n - 1), "seq");
	high = (uint64_t)cid_json_int(json_array_get(slice, q->newer ? n - 1 : 0), "seq");

	if (q->newer) {
		links->older = low;
		if (more)
			links->newer = high;
	} else {
		if (more)
			links->older = low;
		if (q->from_seq > 0)
			links->newer = high;
	}
out:
	json_decref(slice);
	return rc;
}

/* The names the citizen knows for the ids of a notice (account_consent.h), if there is one. */
static enum cid_err notice_names(struct names *nm, json_t *notice)
{
	const char *service = cid_json_str(notice, "service");
	const char *purpose = cid_json_str(notice, "purpose");

	if (service == NULL)
		return CID_OK;
	if (json_object_set_new(notice, "service_name", json_string(service_name(nm, service))) !=
	    0)
		return CID_ERR_NOMEM;
	if (purpose != NULL &&
	    json_object_set_new(notice, "purpose_text",
				json_string(purpose_text(nm, service, purpose))) != 0)
		return CID_ERR_NOMEM;
	return CID_OK;
}

/* Appends {"id","name","selected"} for service to list, unless it is there already. */
static enum cid_err add_service(struct names *nm, json_t *list, const char *service,
				const char *selected)
{
	size_t i;
	const json_t *v;

	json_array_foreach(list, i, v)
	{
		if (strcmp(cid_json_str(v, "id"), service) == 0)
			return CID_OK;
	}
	if (json_array_append_new(
		list, json_pack("{s:s, s:s, s:b}", "id", service, "name", service_name(nm, service),
				"selected", selected != NULL && strcmp(selected, service) == 0)) !=
	    0)
		return CID_ERR_NOMEM;
	return CID_OK;
}

/* True if list (filter_services) offers service. */
static bool offered(const json_t *list, const char *service)
{
	size_t i;
	const json_t *v;

	json_array_foreach(list, i, v)
	{
		if (strcmp(cid_json_str(v, "id"), service) == 0)
			return true;
	}
	return false;
}

/* Whether the citizen's trail holds an entry of service: *any. */
static enum cid_err in_trail(struct names *nm, const char *account_id, const char *service,
			     bool *any)
{
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;
	json_t *slice = NULL;

	CID_TRY(cid_store_read_begin(cid_ctx_store(nm->ctx), &txn));
	rc = cid_audit_citizen_page(txn, account_id, service, 0, false, 1, &slice);
	cid_store_read_end(txn);
	CID_TRY(rc);
	*any = json_array_size(slice) > 0;
out:
	json_decref(slice);
	return rc;
}

/*
 * The services the trail can be narrowed to, into list: every service of
 * the policies in force, then any other the citizen's consents name, then
 * any other the citizen holds grants with (granted) whose entries are in
 * their trail (a statute-only service that lost its policy has no consent
 * to name it). The account pages' own client is no service: it gets nothing.
 */
static enum cid_err filter_services(struct names *nm, const char *account_id, const json_t *history,
				    const json_t *granted, const char *selected, json_t *list)
{
	enum cid_err rc = CID_OK;
	size_t i;
	const json_t *v;

	for (i = 0; i < cid_policyset_count(nm->ps); i++)
		CID_TRY(add_service(nm, list, cid_policyset_service(nm->ps, i), selected));
	json_array_foreach(history, i, v)
	{
		const char *service = cid_json_str(v, "service");

		if (service != NULL)
			CID_TRY(add_service(nm, list, service, selected));
	}
	json_array_foreach(granted, i, v)
	{
		const char *service = json_string_value(v);
		bool any = false;

		if (offered(list, service) || strcmp(service, CID_ACCOUNT_CLIENT_ID) == 0)
			continue;
		CID_TRY(in_trail(nm, account_id, service, &any));
		if (any)
			CID_TRY(add_service(nm, list, service, selected));
	}
out:
	return rc;
}

/*
 * The paging of the query into *q: at most one of after (the older page) and
 * newer (the newer page), each a whole number of at most 20 digits; the
 * message key of what is wrong into *why otherwise.
 */
static enum cid_err trail_paging(const struct cid_request *req, struct trail_query *q,
				 const char **why)
{
	const char *after = cid_params_get(&req->params, "after");
	const char *newer = cid_params_get(&req->params, "newer");
	const char *v = after != NULL ? after : newer;

	if (after != NULL && newer != NULL) {
		*why = "err.account_paging";
		return CID_ERR_INVALID;
	}
	if (v != NULL && cid_parse_u64(v, strlen(v), 0, UINT64_MAX, &q->from_seq) != CID_OK) {
		*why = "err.account_after";
		return CID_ERR_INVALID;
	}
	q->newer = newer != NULL;
	return CID_OK;
}

/* Sets data[name] to seq when it is not 0. */
static enum cid_err set_seq(json_t *data, const char *name, uint64_t seq)
{
	if (seq == 0)
		return CID_OK;
	return json_object_set_new(data, name, json_integer((json_int_t)seq)) == 0 ? CID_OK
										   : CID_ERR_NOMEM;
}

enum cid_err cid_account_page(struct cid_ctx *ctx, const struct cid_request *req,
			      struct cid_reply *reply)
{
	enum cid_err rc = CID_OK;
	const char *locale = account_page_locale(ctx, req);
	const char *service = cid_params_get(&req->params, "service");
	const char *why = NULL;
	struct cid_policyref *pref = NULL;
	struct names nm = {.ctx = ctx, .locale = locale};
	struct cid_session sess;
	struct trail_query q = {0};
	struct trail_links links;
	json_t *history = NULL;
	json_t *granted = NULL;
	json_t *consents = json_array();
	json_t *trail = json_array();
	json_t *services = json_array();
	json_t *data = NULL;

	nm.clients = json_object();
	CID_ENSURE(consents != NULL && trail != NULL && services != NULL && nm.clients != NULL,
		   CID_ERR_NOMEM);
	CID_TRY(account_find_session(ctx, req, locale, reply, &sess));
	if (trail_paging(req, &q, &why) != CID_OK) {
		rc = cid_reply_error_page(reply, 400, "invalid_request", why, locale);
		goto out;
	}
	pref = cid_ctx_policies_acquire(ctx);
	nm.ps = cid_policyref_set(pref);
	CID_TRY(cid_consent_history(cid_ctx_store(ctx), sess.account_id, NULL, &history));
	CID_TRY(cid_grant_services(cid_ctx_store(ctx), sess.account_id, &granted));
	/* the filter is one of the services offered, or none ("": every service) */
	q.service = service != NULL && service[0] != '\0' ? service : NULL;
	CID_TRY(filter_services(&nm, sess.account_id, history, granted, q.service, services));
	if (q.service != NULL && !offered(services, q.service)) {
		rc = cid_reply_error_page(reply, 400, "invalid_request", "err.account_service",
					  locale);
		goto out;
	}
	CID_TRY(consents_view(&nm, history, req->now, consents));
	CID_TRY(law_only_view(&nm, history, granted, consents));
	CID_TRY(trail_view(&nm, sess.account_id, &q, trail, &links));
	data =
	    json_pack("{s:b, s:s, s:O, s:b, s:b, s:O, s:b, s:b, s:O, s:b}", "signed_in", 1, "lang",
		      locale, "consents", consents, "has_consents", json_array_size(consents) > 0,
		      "no_consents", json_array_size(consents) == 0, "trail", trail, "has_trail",
		      json_array_size(trail) > 0, "no_trail", json_array_size(trail) == 0,
		      "services", services, "has_pages", links.older != 0 || links.newer != 0);
	CID_ENSURE(data != NULL, CID_ERR_NOMEM);
	CID_TRY(set_seq(data, "next_after", links.older));
	CID_TRY(set_seq(data, "prev_newer", links.newer));
	if (q.service != NULL)
		CID_TRY(set_str(data, "filter_service", q.service));
	CID_TRY(cid_account_form_token(ctx, req, reply, data));
	CID_TRY(cid_account_notice(req, data));
	CID_TRY(notice_names(&nm, json_array_get(json_object_get(data, "notice"), 0)));
	rc = cid_reply_page(reply, 200, CID_PAGE_ACCOUNT, data, locale);
	data = NULL;
out:
	cid_policyref_put(pref);
	json_decref(nm.clients);
	json_decref(history);
	json_decref(granted);
	json_decref(consents);
	json_decref(trail);
	json_decref(services);
	json_decref(data);
	return cid_endpoint_rc(rc);
}

static const struct cid_endpoint endpoints[] = {
    {"/account", cid_account_page, true, false, true, CID_RUN_WRITES, NULL, NULL},
    {"/account/receipt", cid_account_receipt, true, false, true, CID_RUN_WRITES, NULL, NULL},
    {"/account/trail", cid_account_trail, true, false, true, CID_RUN_WRITES, NULL, NULL},
    {"/account/consent", cid_account_consent_post, false, true, true, CID_RUN_WRITES, NULL, NULL},
    {"/account/login", cid_account_signin, true, false, true, CID_RUN_WRITES, NULL, NULL},
    {"/account/callback", cid_account_callback, true, false, true, CID_RUN_WRITES, NULL, NULL},
};

const struct cid_endpoint *cid_account_endpoints(size_t *n)
{
	*n = sizeof(endpoints) / sizeof(endpoints[0]);
	return endpoints;
}
