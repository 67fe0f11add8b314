/*
 * oidc_userinfo: the UserInfo endpoint (OIDC Core §5.3).
 *
 * A bearer token (RFC 6750: the Authorization header or the form body,
 * never both) is checked first: signature, expiry and revocation of the
 * token and of its grant, the citizen still active and the client still
 * registered. Any of those failing is one answer, invalid_token, so a
 * caller learns nothing of which. The claims then leave through the release
 * (oidc_release), the single point where attributes are chosen and audited;
 * this file only adds sub.
 */
#include "account.h"
#include "buf.h"
#include "oidc_int.h"
#include "token.h"

#include <stdlib.h>
#include <string.h>

/* The bearer token of a request (RFC 6750 §2.1 header or §2.2 form body); NULL if none. */
static const char *bearer_of(const struct cid_request *req, bool *twice)
{
	const char *form = req->post && req->form_content_type
			       ? cid_params_get(&req->params, "access_token")
			       : NULL;
	const char *header = NULL;

	if (req->authorization != NULL && strncasecmp(req->authorization, "Bearer ", 7) == 0) {
		header = req->authorization + 7;
		while (*header == ' ')
			header++;
	}
	/*= RFC 6750 §2: clients MUST NOT use more than one method to transmit the token */
	*twice = header != NULL && form != NULL;
	return header != NULL ? header : form;
}

static enum cid_err bearer_error(struct cid_reply *reply, int status, const char *error,
				 const char *description)
{
	struct cid_buf b;

	cid_buf_init(&b, 512);
	cid_buf_puts(&b, "Bearer realm=\"civicid\"");
	if (error != NULL)
		cid_buf_printf(&b, ", error=\"%s\", error_description=\"%s\"", error, description);
	reply->www_authenticate = cid_buf_take(&b, NULL);
	if (reply->www_authenticate == NULL)
		return CID_ERR_NOMEM;
	if (error == NULL) {
		reply->status = status;
		reply->no_store = true;
		return CID_OK;
	}
	return cid_reply_error_json(reply, status, error, description);
}

enum cid_err cid_oidc_userinfo(struct cid_ctx *ctx, const struct cid_request *req,
			       struct cid_reply *reply)
{
	enum cid_err rc = CID_OK;
	bool twice = false;
	const char *token = bearer_of(req, &twice);
	struct cid_txn *txn = NULL;
	struct cid_keyref *ref = NULL;
	struct cid_policyref *pref = NULL;
	struct cid_client *client = NULL;
	struct cid_access *access = NULL;
	struct cid_grant *grant = NULL;
	struct cid_account *citizen = NULL;
	json_t *body = NULL;

	if (twice)
		return bearer_error(reply, 400, "invalid_request", "send the token only once");
	/*= RFC 6750 §3.1: if the request lacks any authentication information, the
	 *# resource server SHOULD NOT include an error code */
	if (token == NULL)
		return bearer_error(reply, 401, NULL, NULL);
	ref = cid_ctx_keys_acquire(ctx);
	/* one snapshot: the token's revocation, its grant, citizen and client, and
	 * the consent records the release reads */
	CID_TRY(cid_store_read_begin(cid_ctx_store(ctx), &txn));
	rc = cid_token_access_verify(ctx, ref, txn, token, req->now, &access, &grant);
	if (rc == CID_OK && grant == NULL) /* a service's own token: no citizen */
		rc = CID_ERR_NOTFOUND;
	if (rc == CID_OK)
		rc = cid_account_get_txn(txn, grant->account_id, &citizen);
	if (rc == CID_OK && !citizen->active)
		rc = CID_ERR_DISABLED;
	if (rc == CID_OK)
		rc = cid_client_get_txn(txn, access->client_id, &client);
	if (rc != CID_OK && rc != CID_ERR_NOMEM && rc != CID_ERR_STORE) {
		rc = bearer_error(reply, 401, "invalid_token",
				  "the access token is invalid, expired or revoked");
		goto out;
	}
	CID_TRY(rc);
	/*= OIDC Core §5.3.1: the openid scope is required to call the UserInfo endpoint */
	if (!cid_words_has(access->scope, "openid", 6)) {
		rc = bearer_error(reply, 403, "insufficient_scope", "the openid scope is required");
		goto out;
	}
	/* the token's scope decides what is asked: a refresh may have narrowed it
	 * (RFC 6749 §6), and the stored grant keeps its own. A token's scope is
	 * never wider than its grant's; one that is, is not ours */
	if (!cid_words_subset(access->scope, grant->scope)) {
		rc = bearer_error(reply, 401, "invalid_token",
				  "the access token is invalid, expired or revoked");
		goto out;
	}
	body = json_pack("{s:s}", "sub", access->sub);
	CID_ENSURE(body != NULL, CID_ERR_NOMEM);
	pref = cid_ctx_policies_acquire(ctx);
	CID_TRY(oidc_release(ctx, txn, cid_policyref_set(pref), client, citizen, grant,
			     access->scope, CID_RELEASE_USERINFO, req->now, req->audit_later, body,
			     reply));
	rc = cid_reply_json(reply, 200, body);
	body = NULL;
out:
	cid_store_read_end(txn);
	cid_keyref_put(ref);
	cid_policyref_put(pref);
	cid_client_free(client);
	cid_access_free(access);
	cid_grant_free(grant);
	cid_account_free(citizen);
	json_decref(body);
	return rc;
}
