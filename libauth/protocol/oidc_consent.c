/*
 * oidc_consent: the consent screen: showing it, and recording its answer.
 *
 * The decisions are not made here: release.c's cid_release_prompt says
 * which consent-based attributes lack the citizen's decision, with the same
 * evaluator and the same idea of "asked" as the release itself, so the
 * screen can never offer what the release would not consider, nor miss what
 * it would. This file turns that answer into a page and the posted form
 * into records. The screen is a pending request (oidc_pending.c) bound to
 * the browser's CSRF token and to the session's sid; the screen's content is
 * stored with it, so the posted form names checkboxes by position only and
 * can claim nothing that was not shown. Every consent record names the
 * screen and the request it came from. Beside each choice the screen says
 * what the law asks a consent be told (GDPR Art. 13, APPI Art. 21): the
 * basis, how long the service keeps the data and the consent lasts, who is
 * responsible and how to reach them, and where a consent is withdrawn.
 * An attribute whose release would use a value an upstream verified (the
 * prompt's "verified" marks: release.c's rule, not decided here) says so,
 * and by whom under which trust framework. One whose rule asks a verified
 * value the citizen does not hold (the prompt's "unavailable") is listed as
 * not available, with no checkbox: the release would not send it.
 */
#include "bounds.h"
#include "config.h"
#include "consent.h"
#include "idp.h"
#include "oidc_int.h"
#include "session.h"
#include "str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * {"label_key": "attr.NAME", "attribute": NAME} (and "field" when not NULL),
 * appended to list. The checkbox's value is the attribute's name: a stable
 * hook for the services' own browser tests and for assistive tools (the form
 * still claims only by position: cid_oidc_consent reads no value).
 */
static enum cid_err add_item(json_t *list, const char *attribute, const char *field,
			     json_t *verified)
{
	char key[CID_MAX_LABEL_KEY];
	json_t *item;
	int n = snprintf(key, sizeof(key), "attr.%s", attribute);

	if (n < 0 || (size_t)n >= sizeof(key))
		return CID_ERR_TOOBIG;
	item = json_pack("{s:s, s:s}", "label_key", key, "attribute", attribute);
	if (item == NULL ||
	    (field != NULL && json_object_set_new(item, "field", json_string(field)) != 0) ||
	    (verified != NULL && json_object_set(item, "verified", verified) != 0)) {
		json_decref(item);
		return CID_ERR_NOMEM;
	}
	return json_array_append_new(list, item) == 0 ? CID_OK : CID_ERR_NOMEM;
}

/*
 * What the screen says of attribute when release.c marked it verified in
 * marks (the entry's "verified"): {"by": the upstream's name in the page's
 * language (labels, cid_idp_labels, read when some entry has marks; its
 * issuer when no registration has it any more), "trust_framework"} into
 * *out (new reference); NULL when not marked.
 */
static enum cid_err verified_mark(const json_t *marks, const json_t *labels, const char *attribute,
				  json_t **out)
{
	const json_t *m = json_object_get(marks, attribute);
	const char *issuer = cid_json_str(m, "issuer");
	const char *by = cid_json_str(labels, issuer == NULL ? "" : issuer);
	const char *tf = cid_json_str(m, "trust_framework");

	*out = NULL;
	if (issuer == NULL || tf == NULL)
		return CID_OK;
	*out = json_pack("{s:s, s:s}", "by", by != NULL ? by : issuer, "trust_framework", tf);
	return *out != NULL ? CID_OK : CID_ERR_NOMEM;
}

/* Appends to list an item for each attribute of names (numbered from *field when field). */
static enum cid_err add_items(json_t *list, const json_t *names, const json_t *marks,
			      const json_t *labels, size_t *field)
{
	enum cid_err rc = CID_OK;
	json_t *verified = NULL;
	size_t i;
	const json_t *a;

	json_array_foreach(names, i, a)
	{
		char name[16];

		if (field != NULL)
			snprintf(name, sizeof(name), "a%zu", (*field)++);
		CID_TRY(verified_mark(marks, labels, json_string_value(a), &verified));
		CID_TRY(
		    add_item(list, json_string_value(a), field != NULL ? name : NULL, verified));
		json_decref(verified);
		verified = NULL;
	}
out:
	json_decref(verified);
	return rc;
}

/* Sets o's key_name and n_name to a duration of days (cid_policy_duration). */
static enum cid_err set_duration(json_t *o, const char *key_name, const char *n_name, uint32_t days)
{
	const char *key;
	uint32_t n;

	cid_policy_duration(days, &key, &n);
	return json_object_set_new(o, key_name, json_string(key)) == 0 &&
		       json_object_set_new(o, n_name, json_integer(n)) == 0
		   ? CID_OK
		   : CID_ERR_NOMEM;
}

/*
 * One purpose of the screen: its text in locale, the checkboxes and the
 * information, and what the citizen is told of it: its basis, how long the
 * service keeps the data, how long a consent lasts.
 */
static enum cid_err screen_purpose(const struct cid_policy *pol, const json_t *entry,
				   const json_t *labels, const char *locale, size_t *field,
				   json_t *purposes)
{
	enum cid_err rc = CID_OK;
	const char *id = cid_json_str(entry, "purpose");
	const char *text = "";
	struct cid_purpose_info pu = {0};
	bool found = cid_policy_purpose_find(pol, id, &pu);
	const json_t *marks = json_object_get(entry, "verified");
	json_t *ask = json_array();
	json_t *info = json_array();
	json_t *unavailable = json_array();
	json_t *o = NULL;

	CID_ENSURE(ask != NULL && info != NULL && unavailable != NULL, CID_ERR_NOMEM);
	if (found)
		text = cid_purpose_text(&pu, locale);
	CID_TRY(add_items(ask, json_object_get(entry, "ask"), marks, labels, field));
	CID_TRY(add_items(info, json_object_get(entry, "info"), marks, labels, NULL));
	CID_TRY(add_items(unavailable, json_object_get(entry, "unavailable"), NULL, labels, NULL));
	o = json_pack("{s:s, s:b, s:b, s:b, s:O, s:O, s:O, s:b}", "text", text, "has_ask",
		      json_array_size(ask) > 0, "has_info", json_array_size(info) > 0,
		      "has_unavailable", json_array_size(unavailable) > 0, "ask", ask, "info", info,
		      "unavailable", unavailable, "consent_basis",
		      !found || pu.basis == CID_BASIS_CONSENT);
	CID_ENSURE(o != NULL, CID_ERR_NOMEM);
	CID_TRY(set_duration(o, "retention_key", "retention_n", pu.retention_days));
	if (found && pu.basis == CID_BASIS_CONSENT)
		CID_TRY(set_duration(o, "valid_key", "valid_n", pu.consent_valid_days));
	if (cid_json_str(entry, "statute") != NULL)
		CID_ENSURE(json_object_set(o, "statute", json_object_get(entry, "statute")) == 0,
			   CID_ERR_NOMEM);
	CID_ENSURE(json_array_append(purposes, o) == 0, CID_ERR_NOMEM);
out:
	json_decref(ask);
	json_decref(info);
	json_decref(unavailable);
	json_decref(o);
	return rc;
}

/* Sets o's name to v when v is set and not empty. */
static enum cid_err set_text(json_t *o, const char *name, const char *v)
{
	if (v == NULL || v[0] == '\0')
		return CID_OK;
	return json_object_set_new(o, name, json_string(v)) == 0 ? CID_OK : CID_ERR_NOMEM;
}

/* The controller (the city) with its contact, and its privacy notice, from the configuration. */
static enum cid_err screen_controller(const struct cid_config *cfg, json_t *data)
{
	enum cid_err rc = CID_OK;
	json_t *c = NULL;

	CID_TRY(set_text(data, "policy_url", cfg->policy_url));
	if (cfg->controller_name[0] == '\0')
		goto out;
	c = json_pack("{s:s}", "name", cfg->controller_name);
	CID_ENSURE(c != NULL, CID_ERR_NOMEM);
	CID_TRY(set_text(c, "contact", cfg->controller_contact));
	CID_TRY(set_text(c, "email", cfg->controller_email));
	CID_TRY(set_text(c, "phone", cfg->controller_phone));
	CID_ENSURE(json_object_set(data, "controller", c) == 0, CID_ERR_NOMEM);
out:
	json_decref(c);
	return rc;
}

enum cid_err oidc_show_consent(struct cid_ctx *ctx, const struct cid_policyset *ps,
			       const struct cid_client *client, const json_t *auth,
			       const char *locale, const char *req_id, const char *csrf,
			       struct cid_reply *reply)
{
	enum cid_err rc = CID_OK;
	const struct cid_policy *pol = cid_policyset_find(ps, client->client_id);
	json_t *purposes = json_array();
	json_t *data = NULL;
	json_t *labels = NULL;
	size_t field = 0;
	size_t i;
	const json_t *entry;

	CID_ENSURE(purposes != NULL, CID_ERR_NOMEM);
	/* the upstreams' names in the page's language, read only for verified marks */
	json_array_foreach(json_object_get(auth, "consent"), i, entry)
	{
		if (json_object_size(json_object_get(entry, "verified")) > 0) {
			CID_TRY(cid_idp_labels(cid_ctx_store(ctx), locale, &labels));
			break;
		}
	}
	json_array_foreach(json_object_get(auth, "consent"), i, entry)
	    CID_TRY(screen_purpose(pol, entry, labels, locale, &field, purposes));
	data = json_pack("{s:s, s:s, s:s, s:O}", "req", req_id, "csrf", csrf, "client_name",
			 oidc_service_name(ps, client, locale), "purposes", purposes);
	CID_ENSURE(data != NULL, CID_ERR_NOMEM);
	CID_TRY(set_text(data, "request_purpose", cid_json_str(auth, "purpose")));
	CID_TRY(screen_controller(cid_ctx_config(ctx), data));
	rc = cid_reply_page(reply, 200, CID_PAGE_CONSENT, data, locale);
	data = NULL;
out:
	json_decref(purposes);
	json_decref(data);
	json_decref(labels);
	return rc;
}

/*
 * Records the decisions on one purpose of the screen: the attributes of
 * entry's "ask", numbered from *field, granted when approve and ticked.
 */
static enum cid_err record_purpose(struct cid_ctx *ctx, const struct cid_request *req,
				   const json_t *auth, const json_t *entry, const char *account_id,
				   const char *request_ref, bool approve, size_t *field)
{
	struct cid_consent_change changes[CID_CONSENT_MAX_ASK];
	const json_t *ask = json_object_get(entry, "ask");
	int64_t days = (int64_t)json_integer_value(json_object_get(entry, "consent_valid_days"));
	struct cid_consent_context cc = {
	    .account_id = account_id,
	    .service = cid_json_str(auth, "client_id"),
	    .purpose = cid_json_str(entry, "purpose"),
	    .policy_version = cid_json_str(entry, "version"),
	    .purpose_digest = cid_json_str(entry, "digest"),
	    .method = CID_CONSENT_METHOD_SCREEN,
	    .request_id = request_ref,
	    .request_purpose = cid_json_str(auth, "purpose"),
	    .now = req->now,
	};
	size_t n = 0;
	size_t i;
	const json_t *a;

	json_array_foreach(ask, i, a)
	{
		char name[16];
		bool ticked;

		if (n == CID_CONSENT_MAX_ASK)
			return CID_ERR_STORE; /* never stored by oidc_proceed */
		snprintf(name, sizeof(name), "a%zu", (*field)++);
		ticked = approve && cid_params_get(&req->params, name) != NULL;
		changes[n++] = (struct cid_consent_change){
		    .attribute = json_string_value(a),
		    .state = ticked ? CID_CONSENT_GRANTED : CID_CONSENT_REFUSED,
		    .expires_at = ticked ? cid_consent_expiry(days, req->now) : 0,
		};
	}
	if (n == 0)
		return CID_OK;
	return cid_consent_record(cid_ctx_store(ctx), &cc, changes, n, NULL);
}

enum cid_err cid_oidc_consent(struct cid_ctx *ctx, const struct cid_request *req,
			      struct cid_reply *reply)
{
	enum cid_err rc = CID_OK;
	const char *action = cid_params_get(&req->params, "action");
	char ref[CID_HASH_HEX + 1];
	struct oidc_step step = {0};
	size_t field = 0;
	size_t i;
	const json_t *entry;
	bool approve;

	CID_TRY(oidc_step_begin(ctx, req, OIDC_STAGE_CONSENT, reply, &step));
	if (action == NULL || (strcmp(action, "approve") != 0 && strcmp(action, "deny") != 0)) {
		rc = cid_reply_error_page(reply, 400, "invalid_request", "err.consent_choose",
					  step.locale);
		goto out;
	}
	approve = strcmp(action, "approve") == 0;
	/* claimed before anything is recorded: a form sent twice records once */
	CID_TRY(oidc_claim_pending(ctx, req, step.locale, reply));
	oidc_pending_ref(cid_params_get(&req->params, "req"), ref);
	/* one durable write per purpose; a purpose's decisions are all or none */
	json_array_foreach(json_object_get(step.auth, "consent"), i, entry) CID_TRY(
	    record_purpose(ctx, req, step.auth, entry, step.sess.account_id, ref, approve, &field));
	/* the evaluator now decides what the service gets, whatever was ticked */
	rc = oidc_grant_code(ctx, step.auth, &step.sess, req->session_cookie, req->now, 303, reply);
out:
	oidc_step_end(&step);
	return cid_endpoint_rc(rc);
}
