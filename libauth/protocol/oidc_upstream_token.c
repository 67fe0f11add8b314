/*
 * oidc_upstream_token: the relying party's half of an upstream login
 * (oidc_upstream.c has the flow): the code exchanged at the upstream's
 * token endpoint, and its ID token verified (oidc_int.h).
 */
#include "bounds.h"
#include "buf.h"
#include "crypto.h"
#include "fetch_cache.h"
#include "http_fetch.h"
#include "idp.h"
#include "jose.h"
#include "oidc_int.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the clock skew allowed on an upstream ID token's exp (seconds) */
#define UPSTREAM_SKEW 60

/* Appends name=value (form-encoded) to b, with a leading '&' unless first. */
static void form_pair(struct cid_buf *b, const char *name, const char *value, bool first)
{
	if (!first)
		cid_buf_puts(b, "&");
	cid_buf_puts(b, name);
	cid_buf_puts(b, "=");
	cid_buf_append_urlenc(b, value, strlen(value));
}

/*
 * The Authorization value of client_secret_basic (RFC 6749 §2.3.1: the
 * client id and secret form-urlencoded, then joined by ':' and base64) into
 * out[outsz]. Errors: CID_ERR_TOOBIG, CID_ERR_NOMEM.
 */
static enum cid_err basic_auth(const struct cid_idp *idp, char *out, size_t outsz)
{
	enum cid_err rc = CID_OK;
	struct cid_buf b;
	const char prefix[] = "Basic ";

	cid_buf_init(&b, CID_HTTP_MAX_AUTHORIZATION);
	cid_buf_append_urlenc(&b, idp->client_id, strlen(idp->client_id));
	cid_buf_puts(&b, ":");
	cid_buf_append_urlenc(&b, idp->client_secret, strlen(idp->client_secret));
	CID_TRY(cid_buf_status(&b));
	CID_ENSURE(sizeof(prefix) - 1 + 4 * ((b.len + 2) / 3) < outsz, CID_ERR_TOOBIG);
	memcpy(out, prefix, sizeof(prefix) - 1);
	EVP_EncodeBlock((unsigned char *)out + sizeof(prefix) - 1, (const unsigned char *)b.data,
			(int)b.len);
out:
	if (b.data != NULL)
		cid_wipe(b.data, b.len);
	cid_buf_free(&b);
	return rc;
}

/*
 * The error code of a token endpoint's error answer (RFC 6749 §5.2) for the
 * log: itself when it is made of the characters the spec allows that need
 * no quoting (letters, digits, '_', '-', '.'), else "none" or "unreadable",
 * so an upstream cannot write lines of its own into civicid's log.
 */
static const char *error_code(const char *error)
{
	if (error == NULL || error[0] == '\0')
		return "none";
	for (const char *p = error; *p != '\0'; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' || *p == '.'))
			return "unreadable";
	}
	return error;
}

/* Exchanges code at the upstream's token endpoint; *id_token: the ID token (caller frees). */
enum cid_err oidc_upstream_exchange(const struct cid_config *cfg, const struct cid_idp *idp,
				    const json_t *up, const char *code, char **id_token, char *why,
				    size_t whysz)
{
	enum cid_err rc = CID_OK;
	struct cid_buf b;
	char redirect[CID_MAX_URI + 32];
	struct cid_http_answer ans = {0};
	json_t *tok = NULL;
	char *body = NULL;
	size_t len = 0;
	const char *it;
	char authorization[CID_HTTP_MAX_AUTHORIZATION + 1] = "";
	bool basic = cid_json_str(up, "token_auth") != NULL &&
		     strcmp(cid_json_str(up, "token_auth"), "client_secret_basic") == 0;

	snprintf(redirect, sizeof(redirect), "%s/upstream/callback", cfg->issuer);
	cid_buf_init(&b, 8192);
	form_pair(&b, "grant_type", "authorization_code", true);
	form_pair(&b, "code", code, false);
	form_pair(&b, "redirect_uri", redirect, false);
	form_pair(&b, "code_verifier", cid_json_str(up, "verifier"), false);
	/* RFC 6749 §2.3.1: the secret in the body (client_secret_post) or in an
	 * Authorization header (client_secret_basic), as the discovery said */
	if (basic) {
		CID_TRY(basic_auth(idp, authorization, sizeof(authorization)));
	} else {
		form_pair(&b, "client_id", idp->client_id, false);
		form_pair(&b, "client_secret", idp->client_secret, false);
	}
	CID_TRY(cid_buf_status(&b));
	body = cid_buf_take(&b, &len);
	CID_ENSURE(body != NULL, CID_ERR_NOMEM);
	rc = cid_http_post_auth(cid_json_str(up, "token_endpoint"), &oidc_upstream_limits,
				"application/x-www-form-urlencoded", basic ? authorization : NULL,
				body, len, &ans, why, whysz);
	if (rc != CID_OK) {
		rc = rc == CID_ERR_NOMEM ? rc : CID_ERR_IO;
		goto out;
	}
	tok = json_loadb(ans.body, ans.len, JSON_REJECT_DUPLICATES, NULL);
	it = cid_json_str(tok, "id_token");
	if (ans.status != 200 || it == NULL) {
		snprintf(why, whysz,
			 "the token endpoint answered %ld without an ID token (error %.40s)",
			 ans.status, error_code(cid_json_str(tok, "error")));
		rc = CID_ERR_IO;
		goto out;
	}
	*id_token = strdup(it);
	CID_ENSURE(*id_token != NULL, CID_ERR_NOMEM);
out:
	cid_wipe(authorization, sizeof(authorization));
	if (body != NULL)
		cid_wipe(body, len);
	free(body);
	cid_buf_free(&b);
	free(ans.body);
	json_decref(tok);
	return rc;
}

/* True if aud (a string or an array of strings) names client_id. */
static bool aud_has(const json_t *aud, const char *client_id)
{
	size_t i;
	const json_t *v;

	if (json_is_string(aud))
		return strcmp(json_string_value(aud), client_id) == 0;
	json_array_foreach(aud, i, v)
	{
		if (json_is_string(v) && strcmp(json_string_value(v), client_id) == 0)
			return true;
	}
	return false;
}

/*
 * Verifies the signature of id_token with the upstream's JWKS at jwks_uri,
 * into *claims (new reference): with the set kept between logins
 * (fetch_cache.h) first, and with one fetched anew, once per token, when the
 * kept set cannot be used (not a JWKS, no usable key: a set the upstream
 * served even once under a long max-age would otherwise refuse every login
 * until it went stale) or lacks the token's kid or alg (the upstream may
 * have rotated its keys since). A bad signature fetches nothing: the set
 * had the key, and a token that does not verify with it never will.
 * Errors: CID_ERR_IO (the JWKS could not be fetched or, fetched anew, is
 * unusable; why says it), CID_ERR_DENIED (the signature does not verify,
 * why says it), CID_ERR_NOMEM.
 */
static enum cid_err upstream_verify_signature(struct cid_ctx *ctx, const char *jwks_uri,
					      const char *id_token, int64_t now, json_t **claims,
					      char *why, size_t whysz)
{
	enum cid_err rc = CID_OK;
	enum cid_err set_rc = CID_OK;
	struct cid_keyset *ks = NULL;
	char *jwks = NULL;
	size_t len = 0;
	bool refetch = false;

	for (;;) {
		rc = cid_fetch_cache_get(cid_ctx_fetch_cache(ctx), jwks_uri, &oidc_upstream_limits,
					 now, refetch, &jwks, &len, why, whysz);
		if (rc != CID_OK) {
			rc = rc == CID_ERR_NOMEM ? rc : CID_ERR_IO;
			goto out;
		}
		set_rc = cid_keyset_from_jwks(jwks, len, &ks);
		rc = set_rc;
		/*= OIDC Core §3.1.3.7: the Client MUST validate the signature of all other ID
		 *# Tokens according to JWS using the algorithm specified in the JWT alg Header
		 * by kid and the key's own alg: none, HS* and a key of another type are refused */
		if (rc == CID_OK)
			rc = cid_jws_verify_max(ks, id_token, strlen(id_token),
						CID_MAX_UPSTREAM_ID_TOKEN, NULL, claims);
		/* CID_ERR_INVALID: a kid or alg no key of the set takes */
		if (rc == CID_OK || rc == CID_ERR_NOMEM || refetch ||
		    (set_rc == CID_OK && rc != CID_ERR_INVALID))
			break;
		free(jwks);
		jwks = NULL;
		cid_keyset_free(ks);
		ks = NULL;
		refetch = true;
	}
	if (rc == CID_OK || rc == CID_ERR_NOMEM)
		goto out;
	if (set_rc != CID_OK) {
		snprintf(why, whysz, "its JWKS is unusable (%s)", cid_strerror(set_rc));
		rc = CID_ERR_IO;
	} else {
		snprintf(why, whysz, "the ID token's signature does not verify (%s)",
			 cid_strerror(rc));
		rc = CID_ERR_DENIED;
	}
out:
	cid_keyset_free(ks);
	free(jwks);
	return rc;
}

/*= OIDC Core §3.1.3.7: the Client MUST validate that the aud Claim contains
 *# its client_id value; if it contains multiple audiences, the Client SHOULD
 *# verify that an azp Claim is present; if an azp Claim is present, the Client
 *# SHOULD verify that its client_id is the Claim Value
 * Both SHOULDs are kept: a token whose azp names another client was issued
 * to that client, whatever else its aud lists. */
static bool for_client(const json_t *c, const char *client_id)
{
	const json_t *aud = json_object_get(c, "aud");
	const json_t *azp = json_object_get(c, "azp");

	if (!aud_has(aud, client_id))
		return false;
	if (azp != NULL)
		return json_is_string(azp) && strcmp(json_string_value(azp), client_id) == 0;
	return !(json_is_array(aud) && json_array_size(aud) > 1);
}

enum cid_err oidc_upstream_check_claims(const struct cid_idp *idp, const char *sent,
					const json_t *c, int64_t now, char *why, size_t whysz)
{
	const char *nonce = cid_json_str(c, "nonce");
	json_int_t exp = json_integer_value(json_object_get(c, "exp"));

	/*= OIDC Core §3.1.3.7: the Issuer Identifier for the OpenID Provider MUST
	 *# exactly match the value of the iss (issuer) Claim */
	if (cid_json_str(c, "iss") == NULL || strcmp(cid_json_str(c, "iss"), idp->issuer) != 0) {
		snprintf(why, whysz, "the ID token's iss is not the upstream's issuer");
		return CID_ERR_DENIED;
	}
	if (!for_client(c, idp->client_id)) {
		snprintf(why, whysz, "the ID token is not for civicid's client id (aud, azp)");
		return CID_ERR_DENIED;
	}
	/*= OIDC Core §3.1.3.7: the current time MUST be before the time represented
	 *# by the exp Claim */
	if (!json_is_integer(json_object_get(c, "exp")) || exp + UPSTREAM_SKEW <= now ||
	    !json_is_integer(json_object_get(c, "iat"))) {
		snprintf(why, whysz, "the ID token has expired, or has no exp or iat");
		return CID_ERR_DENIED;
	}
	/*= OIDC Core §3.1.3.7: the Client MUST check that the nonce Claim Value is
	 *# equal to the value of the nonce parameter sent in the Authentication Request */
	if (nonce == NULL || sent == NULL ||
	    !cid_ct_streq(nonce, strlen(nonce), sent, strlen(sent))) {
		snprintf(why, whysz, "the ID token's nonce is not the one sent");
		return CID_ERR_DENIED;
	}
	if (cid_json_str(c, "sub") == NULL || strlen(cid_json_str(c, "sub")) > CID_IDP_MAX_SUB) {
		snprintf(why, whysz, "the ID token has no usable sub");
		return CID_ERR_DENIED;
	}
	return CID_OK;
}

/* The signature (upstream_verify_signature), then the claims (oidc_upstream_check_claims). */
enum cid_err oidc_upstream_verify_id_token(struct cid_ctx *ctx, const struct cid_idp *idp,
					   const json_t *up, const char *id_token, int64_t now,
					   json_t **claims, char *why, size_t whysz)
{
	enum cid_err rc = CID_OK;
	json_t *c = NULL;

	CID_TRY(upstream_verify_signature(ctx, cid_json_str(up, "jwks_uri"), id_token, now, &c, why,
					  whysz));
	CID_TRY(oidc_upstream_check_claims(idp, cid_json_str(up, "nonce"), c, now, why, whysz));
	*claims = c;
	c = NULL;
out:
	json_decref(c);
	return rc;
}
