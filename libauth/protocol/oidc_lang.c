/*
 * oidc_lang: the language switch of a step of the authorization flow.
 *
 * A step's page (the login form, the one-time code, the consent screen,
 * the link page of an upstream login) is the answer to a POST or to a
 * redirect (the service's, the upstream's), so a link cannot show it again; its switch is a form
 * posting the step's pending request (req, csrf) with the language. The request must pass what
 * every step's form passes (oidc_step_begin: this browser's CSRF token, the record live, the
 * session it was shown in), at whatever stage it is; its language is
 * changed in the record, so the later steps keep it, and the same step is
 * shown again with the same form tokens. Nothing is claimed and nothing is
 * decided: the step's own form still acts, once. The skin's frame
 * (frame.h) remembers the choice in the language cookie.
 */
#include "bounds.h"
#include "oidc_int.h"

#include <string.h>

enum cid_err cid_oidc_lang(struct cid_ctx *ctx, const struct cid_request *req,
			   struct cid_reply *reply)
{
	enum cid_err rc = CID_OK;
	const char *lang = cid_params_get(&req->params, "lang");
	const char *req_id = cid_params_get(&req->params, "req");
	const char *csrf = cid_params_get(&req->params, "csrf");
	struct cid_policyref *pref = NULL;
	struct oidc_step step = {0};
	const char *stage;
	const char *locale;

	CID_TRY(oidc_step_begin(ctx, req, NULL, reply, &step));
	if (lang == NULL || (strcmp(lang, "ja") != 0 && strcmp(lang, "en") != 0)) {
		rc = cid_reply_error_page(reply, 400, "invalid_request", "err.bad_request",
					  step.locale);
		goto out;
	}
	locale = strcmp(lang, "en") == 0 ? "en" : "ja";
	CID_ENSURE(json_object_set_new(step.auth, "ui_locale", json_string(locale)) == 0,
		   CID_ERR_NOMEM);
	rc = oidc_update_pending(ctx, req_id, step.auth);
	if (rc == CID_ERR_NOTFOUND) { /* its form was sent meanwhile */
		rc = cid_reply_error_page(reply, 400, "invalid_request", "err.form_sent", locale);
		goto out;
	}
	CID_TRY(rc);
	stage = cid_json_str(step.auth, "stage");
	pref = cid_ctx_policies_acquire(ctx);
	if (stage != NULL && strcmp(stage, OIDC_STAGE_TOTP) == 0)
		rc = oidc_show_totp(step.auth,
				    oidc_service_name(cid_policyref_set(pref), step.client, locale),
				    req_id, csrf, NULL, reply);
	else if (stage != NULL && strcmp(stage, OIDC_STAGE_CONSENT) == 0)
		rc = oidc_show_consent(ctx, cid_policyref_set(pref), step.client, step.auth, locale,
				       req_id, csrf, reply);
	else if (stage != NULL && strcmp(stage, OIDC_STAGE_LINK) == 0)
		rc = oidc_show_link(step.auth, req_id, csrf, NULL, reply);
	else
		rc = oidc_show_login(ctx, req, step.auth, req_id, csrf, NULL, step.client, reply);
out:
	cid_policyref_put(pref);
	oidc_step_end(&step);
	return cid_endpoint_rc(rc);
}
