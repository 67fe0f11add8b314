/*
 * oidc_flow: what follows authentication, up to the code.
 *
 * Once the citizen is authenticated (a live session, or the login or
 * one-time-code step just done), oidc_proceed decides the next step from
 * the request and the release policies: the one-time code when an asked
 * attribute or the request needs level 2 (the TOTP page, shown here and
 * answered by oidc_totp.c, which also lets the citizen decline it and go on
 * without the attributes that need it), the consent screen when an asked attribute
 * lacks the citizen's decision (oidc_consent.c), else the code. The
 * decisions are not made here: release.c's cid_release_prompt says whether
 * an asked attribute needs level 2 and which lack a decision, with the same
 * evaluator as the release itself, and oidc_acr_required reads the level
 * the request asks for. Each step is parked as a pending request
 * (oidc_pending.c) bound to the session's sid. A level the citizen cannot
 * reach, and any page under prompt=none, end in an error sent back to the
 * service, never in a code of a lower level.
 */
#include "account.h"
#include "bounds.h"
#include "crypto.h"
#include "oidc_int.h"
#include "session.h"

#include <stdlib.h>
#include <string.h>

/* The level of one acr value: ours map to policy.h's levels, any other to 0. */
static int acr_level(const char *v, size_t n)
{
	if (n == sizeof(CID_ACR_PASSWORD) - 1 && memcmp(v, CID_ACR_PASSWORD, n) == 0)
		return CID_LEVEL_PASSWORD;
	if (n == sizeof(CID_ACR_MFA) - 1 && memcmp(v, CID_ACR_MFA, n) == 0)
		return CID_LEVEL_MFA;
	if (n == sizeof(CID_ACR_HIGH) - 1 && memcmp(v, CID_ACR_HIGH, n) == 0)
		return CID_LEVEL_HIGH;
	return 0;
}

/* Lowers *lowest (0: none yet) to the level of v[0..n) when that is one of ours. */
static void lower_to(int *lowest, const char *v, size_t n)
{
	int level = acr_level(v, n);

	if (level > 0 && (*lowest == 0 || level < *lowest))
		*lowest = level;
}

enum cid_err oidc_acr_required(const json_t *auth, int *level)
{
	const char *values = cid_json_str(auth, "acr_values");
	const json_t *id_token = json_object_get(json_object_get(auth, "claims"), "id_token");
	const json_t *acr = json_object_get(id_token, "acr");
	const json_t *value = json_object_get(acr, "value");
	const json_t *list = json_object_get(acr, "values");
	int need = 0;
	int lowest = 0;
	size_t i;
	const json_t *v;

	if (values != NULL) {
		for (const char *p = values; *p != '\0';) {
			size_t n = strcspn(p, " ");

			lower_to(&lowest, p, n);
			p += n;
			p += strspn(p, " ");
		}
		if (lowest == 0)
			return CID_ERR_INVALID;
		need = lowest;
	}
	/*= OIDC Core §5.5.1.1: if the acr Claim was requested as an Essential Claim
	 *# ... the Authorization Server MUST return an acr Claim Value that matches
	 *# one of the requested values */
	if (!json_is_true(json_object_get(acr, "essential")) || (value == NULL && list == NULL))
		goto done;
	lowest = 0;
	if (json_is_string(value))
		lower_to(&lowest, json_string_value(value), json_string_length(value));
	json_array_foreach(list, i, v)
	{
		if (json_is_string(v))
			lower_to(&lowest, json_string_value(v), json_string_length(v));
	}
	if (lowest == 0)
		return CID_ERR_INVALID;
	if (lowest > need)
		need = lowest;
done:
	*level = need;
	return CID_OK;
}

enum cid_err oidc_show_totp(const json_t *auth, const char *name, const char *req_id,
			    const char *csrf, const struct oidc_message *m, struct cid_reply *reply)
{
	enum cid_err rc = CID_OK;
	json_t *attributes = json_array();
	json_t *data = NULL;
	size_t i;
	const json_t *a;

	CID_ENSURE(attributes != NULL, CID_ERR_NOMEM);
	json_array_foreach(json_object_get(auth, "step_up_attributes"), i, a)
	{
		char key[CID_MAX_LABEL_KEY];
		int n = snprintf(key, sizeof(key), "attr.%s", json_string_value(a));

		CID_ENSURE(n > 0 && (size_t)n < sizeof(key), CID_ERR_TOOBIG);
		CID_ENSURE(
		    json_array_append_new(attributes, json_pack("{s:s}", "label_key", key)) == 0,
		    CID_ERR_NOMEM);
	}
	data = json_pack("{s:s, s:s, s:s, s:O, s:b, s:b}", "req", req_id, "csrf", csrf,
			 "client_name", name, "attributes", attributes, "has_attributes",
			 json_array_size(attributes) > 0, "required",
			 json_is_true(json_object_get(auth, "step_up_required")));
	CID_ENSURE(data != NULL, CID_ERR_NOMEM);
	CID_TRY(oidc_message_data(m, reply, data));
	rc = cid_reply_page(reply, 200, CID_PAGE_TOTP, data, oidc_auth_locale(auth));
	data = NULL;
out:
	json_decref(attributes);
	json_decref(data);
	return rc;
}

enum cid_err oidc_proceed(struct cid_ctx *ctx, const struct cid_request *req, json_t *auth,
			  const struct cid_session *sess, const char *cookie,
			  const struct cid_client *client, int status, struct cid_reply *reply)
{
	enum cid_err rc = CID_OK;
	struct cid_policyref *pref = cid_ctx_policies_acquire(ctx);
	const struct cid_policyset *ps = cid_policyref_set(pref);
	const char *locale = oidc_auth_locale(auth);
	const char *uri = cid_json_str(auth, "redirect_uri");
	const char *state = cid_json_str(auth, "state");
	bool prompt_none = json_is_true(json_object_get(auth, "prompt_none"));
	struct cid_release_request rq = {
	    .policies = ps,
	    .service = client->client_id,
	    .account_id = sess->account_id,
	    .scope = cid_json_str(auth, "scope"),
	    .claims_request = json_object_get(auth, "claims"),
	    .client_scopes = client->scopes,
	    .level = cid_release_level(sess->acr),
	    .now = req->now,
	};
	char id[CID_TOKEN_CHARS + 1];
	char csrf[CID_TOKEN_CHARS + 1];
	struct cid_account *citizen = NULL;
	json_t *ask = NULL;
	json_t *step_up_attrs = json_array();
	size_t n_ask = 0;
	bool step_up = false;
	bool declined = json_is_true(json_object_get(auth, "step_up_declined"));
	bool active;
	int need = 0;

	CID_ENSURE(step_up_attrs != NULL, CID_ERR_NOMEM);
	/* the citizen and the prompt from one snapshot of the store */
	CID_TRY(cid_store_read_begin(cid_ctx_store(ctx), &rq.txn));
	rc = cid_account_get_txn(rq.txn, sess->account_id, &citizen);
	active = rc == CID_OK && citizen->active;
	if (active) {
		rq.citizen = citizen;
		rc = cid_release_prompt(&rq, json_is_true(json_object_get(auth, "prompt_consent")),
					CID_CONSENT_MAX_ASK, &step_up, step_up_attrs, &ask, &n_ask);
	}
	cid_store_read_end(rq.txn);
	/* a session can outlive its account's use: no code for it (the token
	 * endpoint would refuse it anyway); the service is not told why (issue 9) */
	if (!active && (rc == CID_OK || rc == CID_ERR_NOTFOUND)) {
		rc = oidc_redirect_error(ctx, reply, uri, state, "access_denied",
					 "the request was denied");
		goto out;
	}
	CID_TRY(rc);
	/*= OIDC Core §5.5.1.1: if this is an Essential Claim and the requirement
	 *# cannot be met, then the Authorization Server MUST treat that outcome as a
	 *# failed authentication attempt
	 * (and acr_values alike, as RFC 9470 §3 answers it): a level the citizen
	 * cannot reach, having no second factor enrolled, is refused, never
	 * answered with a code of a lower acr; level 3 is reached only by logging in
	 * through an upstream mapped to it (idp.h), never by a step-up here */
	if (oidc_acr_required(auth, &need) != CID_OK || (need > rq.level && !citizen->has_totp) ||
	    (need >= CID_LEVEL_HIGH && rq.level < CID_LEVEL_HIGH)) {
		rc =
		    oidc_redirect_error(ctx, reply, uri, state, "unmet_authentication_requirements",
					"the requested authentication level cannot be reached");
		goto out;
	}
	/* without an enrolled second factor the level-2 attributes are simply not
	 * released: the citizen cannot step up here (enrolment is `civicid user totp`);
	 * a citizen who declined the step-up (cid_oidc_totp's way out) goes on without
	 * them, unless the request itself requires the level */
	if (((step_up && !declined) || need >= CID_LEVEL_MFA) && rq.level < CID_LEVEL_MFA &&
	    citizen->has_totp) {
		/*= OIDC Core §3.1.2.6: interaction_required when prompt=none and the
		 *# Authorization Server needs the End-User to interact */
		if (prompt_none) {
			rc = oidc_redirect_error(ctx, reply, uri, state, "interaction_required",
						 "the citizen must confirm with a one-time code");
			goto out;
		}
		/* the page names what the stronger login is for, and whether the request
		 * itself needs it (then the way out is back to the service) */
		CID_ENSURE(json_object_set_new(auth, "pending_sid", json_string(sess->sid)) == 0 &&
			       json_object_set(auth, "step_up_attributes", step_up_attrs) == 0 &&
			       json_object_set_new(auth, "step_up_required",
						   json_boolean(need >= CID_LEVEL_MFA)) == 0,
			   CID_ERR_NOMEM);
		CID_TRY(oidc_park(ctx, req, auth, OIDC_STAGE_TOTP, reply, id, csrf));
		rc = oidc_show_totp(auth, oidc_service_name(ps, client, locale), id, csrf, NULL,
				    reply);
		goto out;
	}
	if (n_ask > 0) {
		/*= OIDC Core §3.1.2.6: consent_required when prompt=none and the
		 *# Authorization Server requires End-User consent */
		if (prompt_none) {
			rc = oidc_redirect_error(
			    ctx, reply, uri, state, "consent_required",
			    "the citizen has not decided yet on attributes this "
			    "service asks for");
			goto out;
		}
		CID_ENSURE(json_object_set_new(auth, "pending_sid", json_string(sess->sid)) == 0 &&
			       json_object_set(auth, "consent", ask) == 0,
			   CID_ERR_NOMEM);
		CID_TRY(oidc_park(ctx, req, auth, OIDC_STAGE_CONSENT, reply, id, csrf));
		rc = oidc_show_consent(ctx, ps, client, auth, locale, id, csrf, reply);
		goto out;
	}
	rc = oidc_grant_code(ctx, auth, sess, cookie, req->now, status, reply);
out:
	cid_wipe(csrf, sizeof(csrf));
	cid_policyref_put(pref);
	cid_account_free(citizen);
	json_decref(ask);
	json_decref(step_up_attrs);
	return rc;
}
