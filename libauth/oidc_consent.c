/*
 * oidc_consent: what happens between authentication and the code: the
 * step-up to a one-time code and the consent screen.
 *
 * The decisions are not made here: release.c's cid_release_prompt says
 * whether an asked attribute needs level 2 and which consent-based
 * attributes lack the citizen's decision, with the same evaluator and the
 * same idea of "asked" as the release itself, so the screen can never offer
 * what the release would not consider, nor miss what it would. This file
 * turns that answer into pages and records. Each step is a pending request
 * (oidc_authorize.c) bound to the browser's CSRF token and to the session's
 * sid; the consent screen's content is stored with it, so the posted form
 * names checkboxes by position only and can claim nothing that was not shown.
 * Every consent record names the screen and the request it came from.
 */
#include "account.h"
#include "bounds.h"
#include "consent.h"
#include "crypto.h"
#include "oidc_int.h"
#include "session.h"
#include "str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Checkboxes of one screen: with req, csrf and action the form stays under CID_MAX_PARAMS. */
#define MAX_ASK	      24
#define DAY	      ((int64_t)24 * 3600)
#define METHOD_SCREEN "web:consent-screen"
#define MAX_LABEL_KEY (5 + 128)

/* True if acr_values asks for the second factor and does not accept a password alone. */
static bool wants_mfa(const char *acr_values)
{
	return cid_words_has(acr_values, CID_ACR_MFA, strlen(CID_ACR_MFA)) &&
	       !cid_words_has(acr_values, CID_ACR_PASSWORD, strlen(CID_ACR_PASSWORD));
}

/* The service's name for the citizen: its policy's, else its registration's. */
static const char *service_name(const struct cid_policyset *ps, const struct cid_client *client,
				const char *locale)
{
	const struct cid_policy *pol = cid_policyset_find(ps, client->client_id);

	return pol != NULL ? cid_policy_name(pol, locale) : client->name;
}

static enum cid_err show_totp(const char *locale, const char *name, const char *req_id,
			      const char *csrf, const char *message, struct cid_reply *reply)
{
	enum cid_err rc = CID_OK;
	json_t *data =
	    json_pack("{s:s, s:s, s:s}", "req", req_id, "csrf", csrf, "client_name", name);

	CID_ENSURE(data != NULL, CID_ERR_NOMEM);
	if (message != NULL)
		CID_ENSURE(json_object_set_new(data, message, json_true()) == 0, CID_ERR_NOMEM);
	rc = oidc_reply_page(reply, 200, CID_PAGE_TOTP, data, locale);
	data = NULL;
out:
	json_decref(data);
	return rc;
}

/* {"label_key": "attr.NAME"} (and "field" when not NULL), appended to list. */
static enum cid_err add_item(json_t *list, const char *attribute, const char *field)
{
	char key[MAX_LABEL_KEY];
	json_t *item;
	int n = snprintf(key, sizeof(key), "attr.%s", attribute);

	if (n < 0 || (size_t)n >= sizeof(key))
		return CID_ERR_TOOBIG;
	item = json_pack("{s:s}", "label_key", key);
	if (item == NULL ||
	    (field != NULL && json_object_set_new(item, "field", json_string(field)) != 0)) {
		json_decref(item);
		return CID_ERR_NOMEM;
	}
	return json_array_append_new(list, item) == 0 ? CID_OK : CID_ERR_NOMEM;
}

/* One purpose of the screen: its text in locale, the checkboxes and the information. */
static enum cid_err screen_purpose(const struct cid_policy *pol, const json_t *entry,
				   const char *locale, size_t *field, json_t *purposes)
{
	enum cid_err rc = CID_OK;
	const char *id = cid_json_str(entry, "purpose");
	const char *text = "";
	struct cid_purpose_info pu;
	json_t *ask = json_array();
	json_t *info = json_array();
	json_t *o = NULL;
	size_t i;
	const json_t *a;

	CID_ENSURE(ask != NULL && info != NULL, CID_ERR_NOMEM);
	if (cid_policy_purpose_find(pol, id, &pu))
		text = cid_purpose_text(&pu, locale);
	json_array_foreach(json_object_get(entry, "ask"), i, a)
	{
		char name[16];

		snprintf(name, sizeof(name), "a%zu", (*field)++);
		CID_TRY(add_item(ask, json_string_value(a), name));
	}
	json_array_foreach(json_object_get(entry, "info"), i, a)
	    CID_TRY(add_item(info, json_string_value(a), NULL));
	o = json_pack("{s:s, s:b, s:b, s:O, s:O}", "text", text, "has_ask",
		      json_array_size(ask) > 0, "has_info", json_array_size(info) > 0, "ask", ask,
		      "info", info);
	CID_ENSURE(o != NULL, CID_ERR_NOMEM);
	if (cid_json_str(entry, "statute") != NULL)
		CID_ENSURE(json_object_set(o, "statute", json_object_get(entry, "statute")) == 0,
			   CID_ERR_NOMEM);
	CID_ENSURE(json_array_append(purposes, o) == 0, CID_ERR_NOMEM);
out:
	json_decref(ask);
	json_decref(info);
	json_decref(o);
	return rc;
}

/*
 * The consent screen of the stored content consent (cid_release_prompt's
 * answer): per purpose its text, a checkbox per attribute to decide (named
 * a0, a1, ... in order), and the statute-based attributes as information.
 */
static enum cid_err show_consent(const struct cid_policyset *ps, const struct cid_client *client,
				 const json_t *consent, const char *locale, const char *req_id,
				 const char *csrf, struct cid_reply *reply)
{
	enum cid_err rc = CID_OK;
	const struct cid_policy *pol = cid_policyset_find(ps, client->client_id);
	json_t *purposes = json_array();
	json_t *data = NULL;
	size_t field = 0;
	size_t i;
	const json_t *entry;

	CID_ENSURE(purposes != NULL, CID_ERR_NOMEM);
	json_array_foreach(consent, i, entry)
	    CID_TRY(screen_purpose(pol, entry, locale, &field, purposes));
	data = json_pack("{s:s, s:s, s:s, s:O}", "req", req_id, "csrf", csrf, "client_name",
			 service_name(ps, client, locale), "purposes", purposes);
	CID_ENSURE(data != NULL, CID_ERR_NOMEM);
	rc = oidc_reply_page(reply, 200, CID_PAGE_CONSENT, data, locale);
	data = NULL;
out:
	json_decref(purposes);
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
	    .level = cid_release_level(sess->acr),
	    .now = req->now,
	};
	char id[CID_TOKEN_CHARS + 1];
	char csrf[CID_TOKEN_CHARS + 1];
	json_t *citizen = NULL;
	json_t *ask = NULL;
	size_t n_ask = 0;
	bool step_up = false;
	bool active;

	/* the citizen and the prompt from one snapshot of the store */
	CID_TRY(cid_store_read_begin(cid_ctx_store(ctx), &rq.txn));
	rc = cid_account_get_txn(rq.txn, sess->account_id, &citizen);
	active = rc == CID_OK && !json_is_true(json_object_get(citizen, "disabled"));
	if (active) {
		rq.citizen = citizen;
		rc = cid_release_prompt(&rq, json_is_true(json_object_get(auth, "prompt_consent")),
					MAX_ASK, &step_up, &ask, &n_ask);
	}
	cid_store_read_end(rq.txn);
	/* a session can outlive its account's use: no code for it (the token
	 * endpoint would refuse it anyway) */
	if (!active && (rc == CID_OK || rc == CID_ERR_NOTFOUND)) {
		rc = oidc_redirect_error(ctx, reply, uri, state, "access_denied",
					 "the citizen's account is not active");
		goto out;
	}
	CID_TRY(rc);
	/* without an enrolled second factor the level-2 attributes are simply not
	 * released: the citizen cannot step up here (enrolment is `civicid user totp`) */
	if ((step_up || wants_mfa(cid_json_str(auth, "acr_values"))) && rq.level < CID_LEVEL_MFA &&
	    cid_account_has_totp(citizen)) {
		/*= OIDC Core §3.1.2.6: interaction_required when prompt=none and the
		 *# Authorization Server needs the End-User to interact */
		if (prompt_none) {
			rc = oidc_redirect_error(ctx, reply, uri, state, "interaction_required",
						 "the citizen must confirm with a one-time code");
			goto out;
		}
		CID_ENSURE(json_object_set_new(auth, "pending_sid", json_string(sess->sid)) == 0,
			   CID_ERR_NOMEM);
		CID_TRY(oidc_park(ctx, req, auth, OIDC_STAGE_TOTP, reply, id, csrf));
		rc = show_totp(locale, service_name(ps, client, locale), id, csrf, NULL, reply);
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
		rc = show_consent(ps, client, ask, locale, id, csrf, reply);
		goto out;
	}
	rc = oidc_grant_code(ctx, auth, sess, cookie, req->now, status, reply);
out:
	cid_wipe(csrf, sizeof(csrf));
	cid_policyref_put(pref);
	json_decref(citizen);
	json_decref(ask);
	return rc;
}

/*
 * The session of a step's form: the browser's live session, the one the step
 * was shown in. NULL-equivalent (false) with an error page in reply otherwise.
 */
static enum cid_err step_session(struct cid_ctx *ctx, const struct cid_request *req,
				 const json_t *auth, const char *locale, struct cid_reply *reply,
				 struct cid_session *sess, bool *ok)
{
	const char *sid = cid_json_str(auth, "pending_sid");
	enum cid_err rc = CID_ERR_NOTFOUND;

	*ok = false;
	if (req->session_cookie != NULL)
		rc = cid_session_get(cid_ctx_store(ctx), req->session_cookie, req->now, sess);
	if (rc == CID_ERR_STORE || rc == CID_ERR_NOMEM)
		return rc; /* no verdict on the session: not the citizen's ended login */
	if (rc == CID_OK && sid != NULL && strcmp(sid, sess->sid) == 0) {
		*ok = true;
		return CID_OK;
	}
	return cid_oidc_error_page(reply, 400, "login_required",
				   "Your login has ended. Go back to the service and start again.",
				   locale);
}

enum cid_err cid_oidc_totp(struct cid_ctx *ctx, const struct cid_request *req,
			   struct cid_reply *reply)
{
	static const char *const amr[] = {"pwd", "otp"};
	enum cid_err rc = CID_OK;
	const char *locale = cid_ctx_config(ctx)->default_locale;
	const char *code = cid_params_get(&req->params, "code");
	struct cid_policyref *pref = NULL;
	struct cid_client *client = NULL;
	struct cid_session sess;
	const char *message = NULL;
	int64_t retry = 0;
	json_t *auth = NULL;
	bool ok = false;

	CID_TRY(oidc_load_pending(ctx, req, OIDC_STAGE_TOTP, locale, reply, &auth));
	if (auth == NULL)
		goto out;
	locale = oidc_auth_locale(auth);
	CID_TRY(step_session(ctx, req, auth, locale, reply, &sess, &ok));
	if (!ok)
		goto out;
	CID_TRY(oidc_step_client(ctx, auth, locale, reply, &client));
	if (client == NULL)
		goto out;
	rc = cid_account_totp_check(cid_ctx_store(ctx), sess.account_id, code == NULL ? "" : code,
				    req->remote_addr, req->now, &retry);
	/* wrong, replayed, malformed, or no longer enrolled: one message for all */
	if (rc == CID_ERR_DENIED || rc == CID_ERR_INVALID || rc == CID_ERR_NOTFOUND)
		message = "msg_failed";
	else if (rc == CID_ERR_THROTTLED)
		message = "msg_throttled";
	else
		CID_TRY(rc);
	if (message != NULL) {
		pref = cid_ctx_policies_acquire(ctx);
		rc = show_totp(locale, service_name(cid_policyref_set(pref), client, locale),
			       cid_params_get(&req->params, "req"),
			       cid_params_get(&req->params, "csrf"), message, reply);
		goto out;
	}
	rc = oidc_claim_pending(ctx, req, locale, reply);
	if (rc == CID_ERR_DENIED) {
		rc = CID_OK;
		goto out;
	}
	CID_TRY(rc);
	CID_TRY(cid_session_upgrade(cid_ctx_store(ctx), req->session_cookie, CID_ACR_MFA, amr, 2,
				    req->now, &sess));
	rc = oidc_proceed(ctx, req, auth, &sess, req->session_cookie, client, 303, reply);
out:
	cid_policyref_put(pref);
	cid_client_free(client);
	json_decref(auth);
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
	struct cid_consent_change changes[MAX_ASK];
	const json_t *ask = json_object_get(entry, "ask");
	int64_t days = (int64_t)json_integer_value(json_object_get(entry, "consent_valid_days"));
	struct cid_consent_context cc = {
	    .account_id = account_id,
	    .service = cid_json_str(auth, "client_id"),
	    .purpose = cid_json_str(entry, "purpose"),
	    .policy_version = cid_json_str(entry, "version"),
	    .purpose_digest = cid_json_str(entry, "digest"),
	    .method = METHOD_SCREEN,
	    .request_id = request_ref,
	    .now = req->now,
	};
	size_t n = 0;
	size_t i;
	const json_t *a;

	json_array_foreach(ask, i, a)
	{
		char name[16];
		bool ticked;

		if (n == MAX_ASK)
			return CID_ERR_STORE; /* never stored by oidc_proceed */
		snprintf(name, sizeof(name), "a%zu", (*field)++);
		ticked = approve && cid_params_get(&req->params, name) != NULL;
		changes[n++] = (struct cid_consent_change){
		    .attribute = json_string_value(a),
		    .state = ticked ? CID_CONSENT_GRANTED : CID_CONSENT_REFUSED,
		    .expires_at = ticked && days > 0 ? req->now + days * DAY : 0,
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
	const char *locale = cid_ctx_config(ctx)->default_locale;
	const char *action = cid_params_get(&req->params, "action");
	char ref[CID_HASH_HEX + 1];
	struct cid_session sess;
	json_t *auth = NULL;
	size_t field = 0;
	size_t i;
	const json_t *entry;
	bool approve;
	bool ok = false;

	CID_TRY(oidc_load_pending(ctx, req, OIDC_STAGE_CONSENT, locale, reply, &auth));
	if (auth == NULL)
		goto out;
	locale = oidc_auth_locale(auth);
	CID_TRY(step_session(ctx, req, auth, locale, reply, &sess, &ok));
	if (!ok)
		goto out;
	if (action == NULL || (strcmp(action, "approve") != 0 && strcmp(action, "deny") != 0)) {
		rc = cid_oidc_error_page(reply, 400, "invalid_request",
					 "Choose Approve or Deny on the consent page.", locale);
		goto out;
	}
	approve = strcmp(action, "approve") == 0;
	/* claimed before anything is recorded: a form sent twice records once */
	rc = oidc_claim_pending(ctx, req, locale, reply);
	if (rc == CID_ERR_DENIED) {
		rc = CID_OK;
		goto out;
	}
	CID_TRY(rc);
	oidc_pending_ref(cid_params_get(&req->params, "req"), ref);
	/* one durable write per purpose; a purpose's decisions are all or none */
	json_array_foreach(json_object_get(auth, "consent"), i, entry)
	    CID_TRY(record_purpose(ctx, req, auth, entry, sess.account_id, ref, approve, &field));
	/* the evaluator now decides what the service gets, whatever was ticked */
	rc = oidc_grant_code(ctx, auth, &sess, req->session_cookie, req->now, 303, reply);
out:
	json_decref(auth);
	return rc;
}
