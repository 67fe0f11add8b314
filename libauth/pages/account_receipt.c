/*
 * account_receipt: a consent receipt as the citizen reads it, and as the
 * JWT beside it. Both are made by receipt.c from the same records in the
 * same call (cid_receipt_make), and the page shows only what the signed
 * claims say (the times in the city's zone, the attribute names in the
 * page's language), so the page and the download cannot tell different
 * stories. The record is looked up under the session's account only: the
 * request names a record id, never a citizen.
 */
#include "account_pages.h"
#include "account_pages_int.h"

#include "audit.h"
#include "bounds.h"
#include "policy.h"
#include "receipt.h"
#include "reply.h"
#include "session.h"
#include "str.h"
#include "tz.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECEIPT_FILENAME "attachment; filename=\"consent-receipt.jwt\""

/* Sets data[name] to value (a copy); nothing for NULL. CID_ERR_NOMEM when it cannot. */
static enum cid_err put(json_t *data, const char *name, const char *value)
{
	if (value == NULL)
		return CID_OK;
	return json_object_set_new(data, name, json_string(value)) == 0 ? CID_OK : CID_ERR_NOMEM;
}

/* data[name] = t as RFC 3339 and data[local] = t in the page's language and the city's zone. */
static enum cid_err put_time(struct cid_ctx *ctx, const char *locale, json_t *data,
			     const char *name, const char *local, int64_t t)
{
	enum cid_err rc = CID_OK;
	char iso[32];
	char text[CID_TZ_TEXT_MAX];

	CID_ENSURE(cid_audit_time(t, iso) == CID_OK, CID_ERR_STORE);
	if (cid_tz_format(cid_ctx_tz(ctx), t, locale, true, text) != CID_OK)
		text[0] = '\0'; /* no local date: shown as none */
	CID_TRY(put(data, name, iso));
	rc = put(data, local, text);
out:
	return rc;
}

/* The message key of a collection method ("web:consent-screen" -> receipt_method_web...). */
static const char *method_key(const char *method)
{
	if (method != NULL && strcmp(method, "web:consent-screen") == 0)
		return "receipt_method_screen";
	if (method != NULL && strcmp(method, "web:account") == 0)
		return "receipt_method_account";
	if (method != NULL && strcmp(method, "cli:paper") == 0)
		return "receipt_method_paper";
	return "receipt_method_other";
}

/* True if the receipt's consent_state is state. */
static bool state_is(const json_t *claims, const char *state)
{
	const char *v = cid_json_str(claims, "consent_state");

	return v != NULL && strcmp(v, state) == 0;
}

/*
 * The page data of the receipt whose signed claims are claims (see
 * account_pages.h, CID_PAGE_RECEIPT), into *out (new reference).
 */
static enum cid_err receipt_view(struct cid_ctx *ctx, const char *locale, const char *record_id,
				 const json_t *claims, json_t **out)
{
	enum cid_err rc = CID_OK;
	const json_t *ctrl = json_array_get(json_object_get(claims, "piiControllers"), 0);
	const json_t *svc = json_array_get(json_object_get(claims, "services"), 0);
	const json_t *pu = json_array_get(json_object_get(svc, "purposes"), 0);
	const char *expires = cid_json_str(claims, "expires_at");
	struct cid_policyref *pref = cid_ctx_policies_acquire(ctx);
	const struct cid_policy *pol =
	    cid_policyset_find(cid_policyref_set(pref), cid_json_str(svc, "client_id"));
	struct cid_purpose_info info;
	json_t *items = json_array();
	json_t *data = NULL;
	size_t i;
	const json_t *a;
	int64_t t;

	CID_ENSURE(items != NULL, CID_ERR_NOMEM);
	/* claims receipt.c made itself: one missing is damage */
	CID_ENSURE(ctrl != NULL && pu != NULL, CID_ERR_STORE);
	json_array_foreach(json_object_get(pu, "piiCategory"), i, a)
	{
		CID_ENSURE(json_is_string(a), CID_ERR_STORE);
		CID_TRY(account_add_label(items, json_string_value(a), NULL));
	}
	data = json_pack("{s:b, s:s, s:s, s:o}", "signed_in", 1, "lang", locale, "id", record_id,
			 "items", json_incref(items));
	CID_ENSURE(data != NULL, CID_ERR_NOMEM);
	CID_TRY(put(data, "receipt_id", cid_json_str(claims, "consentReceiptID")));
	CID_TRY(put(data, "version", cid_json_str(claims, "version")));
	CID_TRY(put(data, "jurisdiction", cid_json_str(claims, "jurisdiction")));
	CID_TRY(put(data, "principal_id", cid_json_str(claims, "piiPrincipalId")));
	CID_TRY(put(data, "policy_url", cid_json_str(claims, "policyUrl")));
	CID_TRY(put(data, "policy_version", cid_json_str(claims, "policy_version")));
	CID_TRY(put(data, "method_key", method_key(cid_json_str(claims, "collectionMethod"))));
	CID_TRY(put(data, "controller_name", cid_json_str(ctrl, "piiController")));
	CID_TRY(put(data, "controller_contact", cid_json_str(ctrl, "contact")));
	CID_TRY(put(data, "controller_address",
		    cid_json_str(json_object_get(ctrl, "address"), "streetAddress")));
	CID_TRY(put(data, "controller_email", cid_json_str(ctrl, "email")));
	CID_TRY(put(data, "controller_phone", cid_json_str(ctrl, "phone")));
	CID_TRY(put(data, "controller_url", cid_json_str(ctrl, "piiControllerUrl")));
	CID_TRY(put(data, "service_name", cid_json_str(pu, "thirdPartyName")));
	CID_TRY(put(data, "client_id", cid_json_str(svc, "client_id")));
	CID_TRY(put(data, "purpose_text", cid_json_str(pu, "purpose")));
	CID_ENSURE(json_object_set_new(data, "purpose_changed",
				       json_boolean(!json_is_true(
					   json_object_get(claims, "purpose_text_current")))) == 0,
		   CID_ERR_NOMEM);
	CID_TRY(put_time(ctx, locale, data, "given", "given_local",
			 cid_json_int(claims, "consentTimestamp")));
	if (state_is(claims, "withdrawn"))
		CID_ENSURE(json_object_set_new(data, "withdrawn", json_true()) == 0, CID_ERR_NOMEM);
	else if (expires != NULL && cid_time_parse(expires, &t) == CID_OK)
		CID_TRY(put_time(ctx, locale, data, "expires", "expires_local", t));
	else
		CID_ENSURE(json_object_set_new(data, "until_withdrawn", json_true()) == 0,
			   CID_ERR_NOMEM);
	/* the log entry that recorded it (a string: entry 0 is shown too) */
	if (json_is_integer(json_object_get(json_object_get(claims, "audit"), "seq"))) {
		char seq[24];

		snprintf(
		    seq, sizeof(seq), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(json_object_get(json_object_get(claims, "audit"), "seq")));
		CID_TRY(put(data, "audit_seq", seq));
	}
	/* how long the service keeps it: the policy in force, while it still has the purpose */
	if (cid_policy_purpose_find(pol, cid_json_str(claims, "purpose_id"), &info))
		CID_ENSURE(json_object_set_new(data, "retention_days",
					       json_integer(info.retention_days)) == 0,
			   CID_ERR_NOMEM);
	*out = data;
	data = NULL;
out:
	cid_policyref_put(pref);
	json_decref(items);
	json_decref(data);
	return rc;
}

enum cid_err cid_account_receipt(struct cid_ctx *ctx, const struct cid_request *req,
				 struct cid_reply *reply)
{
	enum cid_err rc = CID_OK;
	const char *locale = account_page_locale(ctx, req);
	const char *id = cid_params_get(&req->params, "id");
	const char *format = cid_params_get(&req->params, "format");
	struct cid_session sess;
	char *jws = NULL;
	json_t *claims = NULL;
	json_t *data = NULL;

	CID_TRY(account_find_session(ctx, req, locale, reply, &sess));
	if (format != NULL && strcmp(format, "jwt") != 0 && strcmp(format, "html") != 0) {
		rc = cid_reply_error_page(reply, 400, "invalid_request", "err.receipt_format",
					  locale);
		goto out;
	}
	/* hostile input: cid_receipt_make refuses (CID_ERR_INVALID) an id not of our syntax */
	rc = cid_receipt_make(ctx, id, sess.account_id, locale, req->now, &jws, &claims);
	switch (rc) {
	case CID_OK:
		if (format != NULL && strcmp(format, "jwt") == 0) {
			reply->status = 200;
			reply->content_type = "application/jwt";
			reply->content_disposition = RECEIPT_FILENAME;
			reply->body_len = strlen(jws);
			reply->body = jws;
			reply->no_store = true;
			jws = NULL;
			break;
		}
		CID_TRY(receipt_view(ctx, locale, id, claims, &data));
		rc = cid_reply_page(reply, 200, CID_PAGE_RECEIPT, data, locale);
		data = NULL;
		break;
	case CID_ERR_NOTFOUND:
	case CID_ERR_INVALID:
		rc = cid_reply_error_page(reply, 404, "not_found", "err.receipt_none", locale);
		break;
	case CID_ERR_REFUSED:
		rc = cid_reply_error_page(reply, 404, "no_receipt", "err.receipt_refusal", locale);
		break;
	case CID_ERR_CONFIG:
		rc = cid_reply_error_page(reply, 503, "temporarily_unavailable",
					  "err.receipt_unconfigured", locale);
		break;
	default: break;
	}
out:
	free(jws);
	json_decref(claims);
	json_decref(data);
	return cid_endpoint_rc(rc);
}
