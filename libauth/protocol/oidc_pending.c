/*
 * oidc_pending: the pending authorization request, the record that carries
 * one browser's request from the authorize endpoint through its steps (login,
 * one-time code, consent screen) to the code.
 *
 * The request is stored server-side (CID_DB_AUTHREQS) under the hash of a
 * random id, so a form carries nothing a citizen could tamper with but that
 * id and the CSRF token, which must match both the browser's cookie and the
 * hash stored with the record. The record names its step ("stage"), so the
 * form of one step can never be posted to another, and it expires after
 * CID_AUTHREQ_TTL. A step acts only after it has claimed the record by
 * deleting it: of two posts of one form, exactly one finds it (LMDB
 * serialises writers), so a step acts once however often it is sent.
 * Every step's form begins the same way (oidc_step_begin: the record, the
 * session it was shown in, its service), and every refusal on the way is an
 * error page with CID_ANSWERED, so a step reads as a straight line.
 */
#include "bounds.h"
#include "crypto.h"
#include "oidc_int.h"
#include "session.h"

#include <stdlib.h>
#include <string.h>

struct put_arg {
	enum cid_db db;
	struct cid_str key;
	const json_t *val; /* NULL: delete */
	bool replace;	   /* only a record that is there (never one claimed meanwhile) */
};

static enum cid_err put_cb(struct cid_txn *txn, void *arg)
{
	struct put_arg *a = arg;
	struct cid_str old;

	if (a->replace) {
		enum cid_err rc = cid_txn_get(txn, a->db, a->key, &old);

		if (rc != CID_OK)
			return rc;
	}
	if (a->val != NULL)
		return cid_txn_put_json(txn, a->db, a->key, a->val, 0);
	return cid_txn_del(txn, a->db, a->key);
}

/* The store key of a pending request id (hashed, like every bearer value). */
static void authreq_key(const char *id, char hash[CID_HASH_HEX + 1])
{
	cid_secret_hash(id, strlen(id), hash);
}

enum cid_err oidc_park(struct cid_ctx *ctx, const struct cid_request *req, json_t *auth,
		       const char *stage, struct cid_reply *reply, char id[CID_TOKEN_CHARS + 1],
		       char csrf[CID_TOKEN_CHARS + 1])
{
	enum cid_err rc = CID_OK;
	char hash[CID_HASH_HEX + 1];
	char csrf_hash[CID_HASH_HEX + 1];

	CID_TRY(cid_reply_csrf(ctx, req, reply, csrf));
	CID_TRY(cid_random_token(id));
	cid_secret_hash(csrf, strlen(csrf), csrf_hash);
	CID_ENSURE(json_object_set_new(auth, "csrf_hash", json_string(csrf_hash)) == 0 &&
		       json_object_set_new(auth, "exp", json_integer(req->now + CID_AUTHREQ_TTL)) ==
			   0 &&
		       json_object_set_new(auth, "stage", json_string(stage)) == 0,
		   CID_ERR_NOMEM);
	authreq_key(id, hash);
	{
		struct put_arg pa = {CID_DB_AUTHREQS, {hash, CID_HASH_HEX}, auth, false};

		CID_TRY(cid_store_update(cid_ctx_store(ctx), put_cb, &pa));
	}
out:
	return rc;
}

/*
 * The language of a step's page, a refusal included: the pages' one rule
 * (cid_request_locale), where the pending request auth, once read, stands
 * for the service's ui_locales with its page locale (the rule's answer when
 * it was made, or a switch's since); NULL: not read yet. Static string.
 */
static const char *step_locale(struct cid_ctx *ctx, const struct cid_request *req,
			       const json_t *auth)
{
	const struct cid_config *cfg = cid_ctx_config(ctx);

	if (auth == NULL)
		return cid_request_locale(cfg, req);
	return cid_locale_pick(cid_params_get(&req->params, "lang"), oidc_auth_locale(auth),
			       req->lang_cookie, req->accept_language, cfg->default_locale);
}

/*
 * The pending request req_id, with the CSRF token csrf, at stage (NULL: any)
 * into *out: the CSRF token must be the cookie's and the stored one, the
 * record live and at that stage. CID_ANSWERED with an error page
 * (step_locale) otherwise.
 */
static enum cid_err load_pending(struct cid_ctx *ctx, const struct cid_request *req,
				 const char *req_id, const char *csrf, const char *stage,
				 struct cid_reply *reply, json_t **out)
{
	enum cid_err rc = CID_OK;
	const char *locale = step_locale(ctx, req, NULL);
	char hash[CID_HASH_HEX + 1];
	char csrf_hash[CID_HASH_HEX + 1];
	struct cid_txn *txn = NULL;
	json_t *auth = NULL;
	const char *stored;
	const char *stored_stage;

	if (!cid_request_is_token(req_id) || !cid_request_is_token(csrf))
		return cid_reply_answered(cid_reply_error_page(reply, 400, "invalid_request",
							       "err.form_incomplete", locale));
	/* login CSRF: the form's token must be this browser's cookie */
	if (req->csrf_cookie == NULL ||
	    !cid_ct_streq(csrf, strlen(csrf), req->csrf_cookie, strlen(req->csrf_cookie)))
		return cid_reply_answered(
		    cid_reply_error_page(reply, 403, "access_denied", "err.form_cookies", locale));
	authreq_key(req_id, hash);
	CID_TRY(cid_store_read_begin(cid_ctx_store(ctx), &txn));
	rc = cid_txn_get_json(txn, CID_DB_AUTHREQS, (struct cid_str){hash, CID_HASH_HEX}, &auth);
	cid_store_read_end(txn);
	if (rc == CID_OK)
		locale = step_locale(ctx, req, auth);
	stored_stage = cid_json_str(auth, "stage");
	if (rc == CID_ERR_NOTFOUND ||
	    (rc == CID_OK &&
	     (json_integer_value(json_object_get(auth, "exp")) <= req->now ||
	      (stage != NULL &&
	       !cid_str_eq(cid_str_of(stored_stage == NULL ? OIDC_STAGE_LOGIN : stored_stage),
			   stage))))) {
		rc = cid_reply_answered(cid_reply_error_page(reply, 400, "invalid_request",
							     "err.page_expired", locale));
		goto out;
	}
	CID_TRY(rc);
	cid_secret_hash(csrf, strlen(csrf), csrf_hash);
	stored = cid_json_str(auth, "csrf_hash");
	if (stored == NULL || !cid_ct_streq(stored, strlen(stored), csrf_hash, CID_HASH_HEX)) {
		rc = cid_reply_answered(cid_reply_error_page(reply, 403, "access_denied",
							     "err.form_unverified", locale));
		goto out;
	}
	*out = auth;
	auth = NULL;
out:
	json_decref(auth);
	return rc;
}

enum cid_err oidc_update_pending(struct cid_ctx *ctx, const char *req_id, const json_t *auth)
{
	char hash[CID_HASH_HEX + 1];
	/* a record claimed since it was read stays claimed: a switch never revives it */
	struct put_arg pa = {CID_DB_AUTHREQS, {hash, CID_HASH_HEX}, auth, true};

	authreq_key(req_id, hash);
	return cid_store_update(cid_ctx_store(ctx), put_cb, &pa);
}

enum cid_err oidc_drop_pending(struct cid_ctx *ctx, const char *req_id)
{
	char hash[CID_HASH_HEX + 1];
	struct put_arg pa = {CID_DB_AUTHREQS, {hash, CID_HASH_HEX}, NULL, false};

	authreq_key(req_id, hash);
	return cid_store_update(cid_ctx_store(ctx), put_cb, &pa);
}

enum cid_err oidc_claim_pending(struct cid_ctx *ctx, const struct cid_request *req,
				const char *locale, struct cid_reply *reply)
{
	/* the delete is the claim: of two concurrent posts of one form, LMDB's
	 * serialised writers let exactly one find the record */
	enum cid_err rc = oidc_drop_pending(ctx, cid_params_get(&req->params, "req"));

	if (rc != CID_ERR_NOTFOUND)
		return rc;
	return cid_reply_answered(
	    cid_reply_error_page(reply, 400, "invalid_request", "err.form_sent", locale));
}

void oidc_pending_ref(const char *req_id, char ref[CID_HASH_HEX + 1])
{
	authreq_key(req_id, ref);
}

/* The service of the pending request auth; CID_ANSWERED when it is no longer registered. */
static enum cid_err step_client(struct cid_ctx *ctx, const json_t *auth, const char *locale,
				struct cid_reply *reply, struct cid_client **client)
{
	enum cid_err rc =
	    cid_client_get(cid_ctx_store(ctx), cid_json_str(auth, "client_id"), client);

	if (rc != CID_ERR_NOTFOUND)
		return rc;
	return cid_reply_answered(
	    cid_reply_error_page(reply, 400, "invalid_client", "err.client_gone", locale));
}

/*
 * The browser's live session, the one the step was shown in (auth's
 * "pending_sid"), into *sess; CID_ANSWERED when there is none such.
 */
static enum cid_err step_session(struct cid_ctx *ctx, const struct cid_request *req,
				 const json_t *auth, const char *locale, struct cid_reply *reply,
				 struct cid_session *sess)
{
	const char *sid = cid_json_str(auth, "pending_sid");
	enum cid_err rc = CID_ERR_NOTFOUND;

	if (req->session_cookie != NULL)
		rc = cid_session_get(cid_ctx_store(ctx), req->session_cookie, req->now, sess);
	if (rc == CID_ERR_STORE || rc == CID_ERR_NOMEM)
		return rc; /* no verdict on the session: not the citizen's ended login */
	if (rc == CID_OK && sid != NULL && strcmp(sid, sess->sid) == 0)
		return CID_OK;
	return cid_reply_answered(
	    cid_reply_error_page(reply, 400, "login_required", "err.login_ended", locale));
}

enum cid_err oidc_step_begin(struct cid_ctx *ctx, const struct cid_request *req, const char *stage,
			     struct cid_reply *reply, struct oidc_step *step)
{
	enum cid_err rc = CID_OK;
	struct oidc_step st = {0};

	if (!req->form_content_type)
		return cid_reply_answered(cid_reply_error_page(reply, 400, "invalid_request",
							       "err.form_incomplete",
							       step_locale(ctx, req, NULL)));
	CID_TRY(load_pending(ctx, req, cid_params_get(&req->params, "req"),
			     cid_params_get(&req->params, "csrf"), stage, reply, &st.auth));
	st.locale = step_locale(ctx, req, st.auth);
	if (stage == NULL)
		stage = cid_json_str(st.auth, "stage") != NULL ? cid_json_str(st.auth, "stage")
							       : OIDC_STAGE_LOGIN;
	/* the steps after the login belong to the session the login started (the
	 * link page of an upstream login comes before it) */
	if (strcmp(stage, OIDC_STAGE_LOGIN) != 0 && strcmp(stage, OIDC_STAGE_LINK) != 0)
		CID_TRY(step_session(ctx, req, st.auth, st.locale, reply, &st.sess));
	CID_TRY(step_client(ctx, st.auth, st.locale, reply, &st.client));
	*step = st;
	st = (struct oidc_step){0};
out:
	oidc_step_end(&st);
	return rc;
}

enum cid_err oidc_upstream_return(struct cid_ctx *ctx, const struct cid_request *req,
				  const char *state, struct cid_reply *reply,
				  struct oidc_step *step)
{
	enum cid_err rc = CID_OK;
	struct oidc_step st = {0};

	/* no form here: the browser comes back by a redirect, and its CSRF
	 * cookie (SameSite=Lax: sent on a top-level GET) is what binds the
	 * state to the browser that left, as a form's token does */
	CID_TRY(
	    load_pending(ctx, req, state, req->csrf_cookie, OIDC_STAGE_UPSTREAM, reply, &st.auth));
	st.locale = step_locale(ctx, req, st.auth);
	CID_TRY(step_client(ctx, st.auth, st.locale, reply, &st.client));
	*step = st;
	st = (struct oidc_step){0};
out:
	oidc_step_end(&st);
	return rc;
}

enum cid_err oidc_claim_id(struct cid_ctx *ctx, const char *req_id, const char *locale,
			   struct cid_reply *reply)
{
	enum cid_err rc = oidc_drop_pending(ctx, req_id);

	if (rc != CID_ERR_NOTFOUND)
		return rc;
	return cid_reply_answered(
	    cid_reply_error_page(reply, 400, "invalid_request", "err.form_sent", locale));
}

void oidc_step_end(struct oidc_step *step)
{
	json_decref(step->auth);
	cid_client_free(step->client);
	step->auth = NULL;
	step->client = NULL;
}

static bool pending_dead(struct cid_str key, struct cid_str val, int64_t now)
{
	(void)key;
	return cid_store_record_past(val, "exp", CID_CLOCK_SKEW, now);
}

static const struct cid_store_sweep pending = {CID_DB_AUTHREQS, pending_dead, NULL};

enum cid_err cid_oidc_pending_sweep(struct cid_store *s, int64_t now, size_t *removed)
{
	return cid_store_sweep(s, &pending, now, CID_SWEEP_BATCH, removed);
}
