/*
 * oidc: what every endpoint file shares: client authentication, the service
 * as the citizen knows it, the single call of the release, and the two ends
 * of an authorization request (a code, or an error sent back to the client).
 *
 * The two ends are here, below every step of the browser flow, because each
 * step may end the request: whichever file decides, the code and the error
 * redirect are built one way only, with state and iss (RFC 9207), and the
 * request's transient members never reach the grant.
 */
#include "oidc.h"

#include "audit_release.h"
#include "bounds.h"
#include "crypto.h"
#include "oidc_int.h"
#include "session.h"
#include "token.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *oidc_auth_locale(const json_t *auth)
{
	const char *l = cid_json_str(auth, "ui_locale");

	return l != NULL && strcmp(l, "en") == 0 ? "en" : "ja";
}

enum cid_err oidc_message_data(const struct oidc_message *m, struct cid_reply *reply, json_t *data)
{
	if (m == NULL || m->key == NULL)
		return CID_OK;
	if (json_object_set_new(data, m->key, json_true()) != 0 ||
	    json_object_set_new(data, "has_message", json_true()) != 0 ||
	    json_object_set_new(data, "invalid", json_boolean(m->invalid)) != 0)
		return CID_ERR_NOMEM;
	return m->retry > 0 ? cid_reply_wait(reply, data, m->retry) : CID_OK;
}

enum cid_err cid_oidc_parse_basic(const char *header, char **id, char **secret)
{
	enum cid_err rc = CID_OK;
	unsigned char raw[CID_MAX_HEADER];
	const char *p;
	size_t n;
	int len;
	const char *colon;
	char *i = NULL;
	char *s = NULL;
	size_t il;
	size_t sl;

	CID_ENSURE(header != NULL && strncasecmp(header, "Basic ", 6) == 0, CID_ERR_INVALID);
	p = header + 6;
	while (*p == ' ')
		p++;
	n = strnlen(p, CID_MAX_HEADER);
	CID_ENSURE(n < CID_MAX_HEADER, CID_ERR_TOOBIG);
	CID_ENSURE(n > 0 && n % 4 == 0, CID_ERR_INVALID);
	len = EVP_DecodeBlock(raw, (const unsigned char *)p, (int)n);
	CID_ENSURE(len > 0, CID_ERR_INVALID);
	/* EVP_DecodeBlock counts padding bytes as zeros: drop them */
	if (p[n - 1] == '=')
		len--;
	if (p[n - 2] == '=')
		len--;
	colon = memchr(raw, ':', (size_t)len);
	CID_ENSURE(colon != NULL && colon != (const char *)raw, CID_ERR_INVALID);
	/*= RFC 6749 §2.3.1: the client identifier and password are encoded using the
	 *# "application/x-www-form-urlencoded" encoding algorithm */
	CID_TRY(
	    cid_url_decode((const char *)raw, (size_t)(colon - (const char *)raw), true, &i, &il));
	CID_TRY(cid_url_decode(colon + 1, (size_t)len - (size_t)(colon + 1 - (const char *)raw),
			       true, &s, &sl));
	CID_ENSURE(il > 0 && cid_utf8_valid(i, il) && cid_utf8_valid(s, sl), CID_ERR_INVALID);
	*id = i;
	*secret = s;
	i = NULL;
	s = NULL;
out:
	cid_wipe(raw, sizeof(raw));
	free(i);
	if (s != NULL) {
		cid_wipe(s, strlen(s));
		free(s);
	}
	return rc;
}

enum cid_err oidc_invalid_client(struct cid_reply *reply, const char *description)
{
	/*= RFC 6749 §5.2: invalid_client ... 401; RFC 9110 §15.5.2: a 401 response
	 *# MUST send a WWW-Authenticate header field */
	free(reply->www_authenticate);
	reply->www_authenticate = strdup("Basic realm=\"civicid\"");
	if (reply->www_authenticate == NULL)
		return CID_ERR_NOMEM;
	return cid_reply_error_json(reply, 401, "invalid_client", description);
}

enum cid_err oidc_client_auth(struct cid_txn *txn, const struct cid_request *req,
			      struct cid_reply *reply, struct cid_client **client)
{
	enum cid_err rc = CID_OK;
	char *basic_id = NULL;
	char *basic_secret = NULL;
	const char *id = cid_params_get(&req->params, "client_id");
	const char *secret = cid_params_get(&req->params, "client_secret");

	if (req->authorization != NULL) {
		/*= RFC 6749 §2.3: the client MUST NOT use more than one authentication method */
		if (secret != NULL)
			return cid_reply_answered(cid_reply_error_json(
			    reply, 400, "invalid_request",
			    "use either HTTP Basic or client_secret, not both"));
		rc = cid_oidc_parse_basic(req->authorization, &basic_id, &basic_secret);
		CID_ENSURE(rc != CID_ERR_NOMEM, rc);
		if (rc != CID_OK || (id != NULL && strcmp(id, basic_id) != 0))
			goto fail;
		id = basic_id;
		secret = basic_secret;
	} else if (id == NULL) {
		goto fail;
	}
	rc = cid_client_authenticate_txn(txn, id, secret, client);
	if (rc != CID_ERR_DENIED)
		goto out; /* authenticated, or no verdict (the endpoint answers 500) */
fail:
	rc = cid_reply_answered(oidc_invalid_client(reply, "client authentication failed"));
out:
	free(basic_id);
	if (basic_secret != NULL) {
		cid_wipe(basic_secret, strlen(basic_secret));
		free(basic_secret);
	}
	return rc;
}

enum cid_err oidc_release(struct cid_ctx *ctx, struct cid_txn *txn, const struct cid_policyset *ps,
			  const struct cid_client *client, const struct cid_account *citizen,
			  const struct cid_grant *grant, const char *scope,
			  enum cid_release_target target, int64_t now, bool later, json_t *out,
			  struct cid_reply *reply)
{
	enum cid_err rc = CID_OK;
	char request_id[CID_ID_CHARS + 1];
	struct cid_audit_range range = {0};
	const char *amr[CID_MAX_AMR];
	struct timespec ts;
	struct cid_audit_pending *pending = NULL;
	struct cid_audit_later defer = {0};
	struct cid_release_request rq = {
	    .policies = ps,
	    .service = client->client_id,
	    .account_id = grant->account_id,
	    .citizen = citizen,
	    .scope = scope,
	    .claims_request = grant->claims,
	    .client_scopes = client->scopes,
	    .level = cid_release_level(grant->acr),
	    .acr = grant->acr[0] != '\0' ? grant->acr : NULL,
	    .amr = amr,
	    .n_amr = grant->n_amr < CID_MAX_AMR ? grant->n_amr : CID_MAX_AMR,
	    .auth_time = grant->auth_time,
	    .now = now,
	    .request_id = request_id,
	    .grant_id = grant->id,
	    .range = &range,
	    .txn = txn,
	};

	for (size_t i = 0; i < rq.n_amr; i++)
		amr[i] = grant->amr[i];
	/*
	 * Time-ordered, so the audit log's release index ("r" keys) grows at its
	 * end: a random id put each release's keys on a page of its own in every
	 * commit. Its time (to the millisecond) is the answer's own.
	 */
	CID_ENSURE(clock_gettime(CLOCK_REALTIME, &ts) == 0, CID_ERR_INVALID);
	CID_TRY(
	    cid_time_uuid((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000, request_id));
	/* one release per answer: unwritten entries are never dropped for others */
	CID_ENSURE(reply->audit == NULL, CID_ERR_INVALID);
	cid_ctx_audit_hook(ctx, &rq.audit, &rq.audit_arg);
	if (later && rq.audit == cid_audit_release_hook) {
		defer.log = rq.audit_arg;
		defer.out = &pending;
		rq.audit = cid_audit_release_later;
		rq.audit_arg = &defer;
	}
	if (rq.txn == NULL)
		CID_TRY(cid_store_read_begin(cid_ctx_store(ctx), &rq.txn));
	CID_TRY(cid_release_claims(&rq, target, out));
	/*
	 * The release id, never the seqs: those count every release of the city, so
	 * a service reading them would learn how many releases other services get.
	 */
	if (range.count > 0) {
		free(reply->release);
		reply->release = strdup(request_id);
		CID_ENSURE(reply->release != NULL, CID_ERR_NOMEM);
	}
	reply->audit = pending;
	pending = NULL;
out:
	cid_audit_pending_free(pending);
	cid_store_read_end(rq.txn);
	return rc;
}

enum cid_err oidc_redirect_error(struct cid_ctx *ctx, struct cid_reply *reply, const char *uri,
				 const char *state, const char *error, const char *description)
{
	const char *names[] = {"error", "error_description", "state", "iss"};
	const char *values[] = {error, description, state, cid_ctx_config(ctx)->issuer};

	/*= RFC 6749 §4.1.2.1, RFC 9207 §2: errors go back with state and iss */
	return cid_reply_redirect(reply, 302, uri, names, values, 4);
}

enum cid_err oidc_grant_code(struct cid_ctx *ctx, json_t *auth, const struct cid_session *sess,
			     const char *cookie, int64_t now, int status, struct cid_reply *reply)
{
	/* these steered this request only (or its pending steps); they are not part
	 * of the grant. The one place they are removed: the pending steps before
	 * the code leave them in auth, and oidc_park sets its own afresh */
	static const char *const transient[] = {"prompt_none",
						"prompt_login",
						"prompt_consent",
						"login_hint",
						"max_age",
						"state",
						"ui_locale",
						"csrf_hash",
						"exp",
						"stage",
						"pending_sid",
						"consent",
						"step_up_attributes",
						"step_up_required",
						"step_up_declined"};
	enum cid_err rc = CID_OK;
	const struct cid_config *cfg = cid_ctx_config(ctx);
	char code[CID_TOKEN_CHARS + 1] = "";
	char *state = NULL;
	char *uri = NULL;
	json_t *amr = json_array();

	CID_ENSURE(amr != NULL, CID_ERR_NOMEM);
	if (cid_json_str(auth, "state") != NULL)
		CID_ENSURE((state = strdup(cid_json_str(auth, "state"))) != NULL, CID_ERR_NOMEM);
	CID_ENSURE((uri = strdup(cid_json_str(auth, "redirect_uri"))) != NULL, CID_ERR_NOMEM);
	for (size_t i = 0; i < sess->n_amr; i++)
		CID_ENSURE(json_array_append_new(amr, json_string(sess->amr[i])) == 0,
			   CID_ERR_NOMEM);
	CID_ENSURE(json_object_set_new(auth, "account_id", json_string(sess->account_id)) == 0 &&
		       json_object_set_new(auth, "sid", json_string(sess->sid)) == 0 &&
		       json_object_set_new(auth, "auth_time", json_integer(sess->auth_time)) == 0 &&
		       json_object_set_new(auth, "acr", json_string(sess->acr)) == 0 &&
		       json_object_set(auth, "amr", amr) == 0 &&
		       json_object_set_new(auth, "generation", json_integer(sess->generation)) == 0,
		   CID_ERR_NOMEM);
	for (size_t i = 0; i < sizeof(transient) / sizeof(transient[0]); i++)
		json_object_del(auth, transient[i]);
	rc = cid_code_issue(cid_ctx_store(ctx), auth, now, cfg->code_ttl, code);
	/* the citizen was disabled while this request ran: no code */
	if (rc == CID_ERR_NOTFOUND || rc == CID_ERR_DISABLED || rc == CID_ERR_REVOKED) {
		rc = oidc_redirect_error(ctx, reply, uri, state, "access_denied",
					 "the request cannot be completed");
		goto out;
	}
	CID_TRY(rc);
	if (cookie != NULL)
		CID_TRY(cid_session_add_client_at(cid_ctx_store(ctx), cookie,
						  cid_json_str(auth, "client_id"), now));
	{
		/*= RFC 9207 §2: the iss parameter is added to the authorization response */
		const char *names[] = {"code", "state", "iss"};
		const char *values[] = {code, state, cfg->issuer};

		CID_TRY(cid_reply_redirect(reply, status, uri, names, values, 3));
	}
out:
	cid_wipe(code, sizeof(code));
	json_decref(amr);
	free(state);
	free(uri);
	return rc;
}

const char *oidc_service_name(const struct cid_policyset *ps, const struct cid_client *client,
			      const char *locale)
{
	const struct cid_policy *pol = cid_policyset_find(ps, client->client_id);

	return pol != NULL ? cid_policy_name(pol, locale) : client->name;
}

enum cid_err oidc_hint_check(struct cid_ctx *ctx, const char *hint, json_t **claims)
{
	enum cid_err rc = CID_OK;
	struct cid_keyref *ref = cid_ctx_keys_acquire(ctx);
	json_t *c = NULL;

	CID_TRY(cid_jws_verify_max(cid_keyref_keyset(ref), hint,
				   strnlen(hint, CID_MAX_ID_TOKEN + 1), CID_MAX_ID_TOKEN, "JWT",
				   &c));
	CID_ENSURE(cid_str_eq(cid_str_of(cid_json_str(c, "iss")), cid_ctx_config(ctx)->issuer) &&
		       cid_json_str(c, "aud") != NULL && cid_json_str(c, "sub") != NULL,
		   CID_ERR_INVALID);
	*claims = c;
	c = NULL;
out:
	json_decref(c);
	cid_keyref_put(ref);
	return rc;
}
