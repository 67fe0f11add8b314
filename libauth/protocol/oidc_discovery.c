/*
 * oidc_discovery: the endpoints of OpenID Connect as one table, and the two
 * documents published about them, discovery (OpenID Connect Discovery 1.0)
 * and the JWKS.
 *
 * The table is the router's (endpoints.h walks it with the pages' tables)
 * and the discovery document's source: a row names its path once, and the
 * rows with a metadata name are exactly the endpoints the document
 * announces, so the router and the document cannot disagree. The document
 * is built once, when the context opens (cid_open.c), and served as is,
 * but for the OpenID Connect for Identity Assurance members, which follow
 * the upstream registrations (idp.h) that the CLI may change at any time;
 * the JWKS is served from the keyset snapshot in force.
 */
#include "account.h"
#include "bounds.h"
#include "buf.h"
#include "idp.h"
#include "oidc_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum cid_err discovery(struct cid_ctx *ctx, const struct cid_request *req,
			      struct cid_reply *reply)
{
	(void)req;
	return cid_oidc_discovery(ctx, reply);
}

static enum cid_err jwks(struct cid_ctx *ctx, const struct cid_request *req,
			 struct cid_reply *reply)
{
	(void)req;
	return cid_oidc_jwks(ctx, reply);
}

/*
 * path, fn, get, post, page, where it runs, discovery metadata name (and
 * the token endpoint's test of a request that only reads). The browser
 * flow's forms (/login, /totp, /consent, and /lang, a step's language
 * switch) answer with pages and are not announced: a service only ever sends the citizen to
 * /authorize.
 */
static const struct cid_endpoint endpoints[] = {
    {"/.well-known/openid-configuration", discovery, true, false, false, CID_RUN_READS, NULL, NULL},
    {"/authorize", cid_oidc_authorize, true, true, true, CID_RUN_WRITES, "authorization_endpoint",
     NULL},
    /* one argon2id verification: on a worker */
    {"/login", cid_oidc_login, false, true, true, CID_RUN_SLOW, NULL, NULL},
    {"/totp", cid_oidc_totp, false, true, true, CID_RUN_WRITES, NULL, NULL},
    {"/consent", cid_oidc_consent, false, true, true, CID_RUN_WRITES, NULL, NULL},
    {"/lang", cid_oidc_lang, false, true, true, CID_RUN_WRITES, NULL, NULL},
    /* calls to an upstream identity provider, or argon2id: on a worker */
    {"/upstream/start", cid_oidc_upstream_start, false, true, true, CID_RUN_SLOW, NULL, NULL},
    {"/upstream/callback", cid_oidc_upstream_callback, true, false, true, CID_RUN_SLOW, NULL, NULL},
    {"/upstream/link", cid_oidc_upstream_link, false, true, true, CID_RUN_SLOW, NULL, NULL},
    {"/token", cid_oidc_token, false, true, false, CID_RUN_WRITES, "token_endpoint",
     cid_oidc_token_reads_only},
    {"/userinfo", cid_oidc_userinfo, true, true, false, CID_RUN_READS, "userinfo_endpoint", NULL},
    {"/jwks", jwks, true, false, false, CID_RUN_READS, "jwks_uri", NULL},
    {"/introspect", cid_oidc_introspect, false, true, false, CID_RUN_READS,
     "introspection_endpoint", NULL},
    {"/revoke", cid_oidc_revoke, false, true, false, CID_RUN_WRITES, "revocation_endpoint", NULL},
    {"/logout", cid_oidc_logout, true, true, true, CID_RUN_WRITES, "end_session_endpoint", NULL},
};

const struct cid_endpoint *cid_oidc_endpoints(size_t *n)
{
	*n = sizeof(endpoints) / sizeof(endpoints[0]);
	return endpoints;
}

static enum cid_err set_new(json_t *obj, const char *key, json_t *value)
{
	return json_object_set_new(obj, key, value) == 0 ? CID_OK : CID_ERR_NOMEM;
}

/*
 * Single logout (logout_notify.h): back-channel logout tokens carry sid, and
 * front-channel frames get iss and sid when a service asks.
 */
static enum cid_err logout_metadata(json_t *d)
{
	/*= Back-Channel Logout 1.0 §2.1 and Front-Channel Logout 1.0 §3: the OP's
	 *# metadata says whether it supports them, and the session (sid) variants */
	static const char *const supported[] = {
	    "backchannel_logout_supported", "backchannel_logout_session_supported",
	    "frontchannel_logout_supported", "frontchannel_logout_session_supported"};

	for (size_t i = 0; i < sizeof(supported) / sizeof(supported[0]); i++)
		if (json_object_set_new(d, supported[i], json_true()) != 0)
			return CID_ERR_NOMEM;
	return CID_OK;
}

enum cid_err cid_oidc_discovery_build(const char *iss, char **doc, size_t *len)
{
	enum cid_err rc = CID_OK;
	json_t *d = json_object();
	json_t *rest = NULL;
	json_t *claims = json_array();
	char *text = NULL;
	char url[CID_MAX_URI];
	size_t n = 0;
	const struct cid_claim_def *defs = cid_claim_table(&n);

	CID_ENSURE(d != NULL && claims != NULL, CID_ERR_NOMEM);
	CID_TRY(set_new(d, "issuer", json_string(iss)));
	for (size_t i = 0; i < sizeof(endpoints) / sizeof(endpoints[0]); i++) {
		int w;

		if (endpoints[i].discovery == NULL)
			continue;
		w = snprintf(url, sizeof(url), "%s%s", iss, endpoints[i].path);
		CID_ENSURE(w >= 0 && (size_t)w < sizeof(url), CID_ERR_TOOBIG);
		CID_TRY(set_new(d, endpoints[i].discovery, json_string(url)));
	}
	rest = json_pack(
	    "{s:[s], s:[s], s:[s,s,s], s:[s,s], s:[s], s:[s,s], s:[s], s:[s,s,s,s,s,s,s], "
	    "s:[s,s,s], s:[s,s], s:[s,s,s], s:[s,s], s:b, s:b, s:b, s:[s,s,s], s:[s,s,s,s], s:[s], "
	    "s:[s,s], s:b}",
	    "response_types_supported", "code", "response_modes_supported", "query",
	    "grant_types_supported", "authorization_code", "refresh_token", "client_credentials",
	    "subject_types_supported", "pairwise", "public", "code_challenge_methods_supported",
	    "S256", "id_token_signing_alg_values_supported", "ES256", "RS256",
	    "userinfo_signing_alg_values_supported", "none", "scopes_supported", "openid",
	    "profile", "email", "address", "phone", "city", "offline_access",
	    "token_endpoint_auth_methods_supported", "client_secret_basic", "client_secret_post",
	    "none", "introspection_endpoint_auth_methods_supported", "client_secret_basic",
	    "client_secret_post", "revocation_endpoint_auth_methods_supported",
	    "client_secret_basic", "client_secret_post", "none", "ui_locales_supported", "ja", "en",
	    "claims_parameter_supported", 1, "request_parameter_supported", 0,
	    "request_uri_parameter_supported", 0, "acr_values_supported",
	    "urn:civicid:acr:password", "urn:civicid:acr:mfa", "urn:civicid:acr:high",
	    "prompt_values_supported", "none", "login", "consent", "select_account",
	    "claim_types_supported", "normal", "access_token_signing_alg_values_supported", "ES256",
	    "RS256", "authorization_response_iss_parameter_supported", 1);
	CID_ENSURE(rest != NULL && json_object_update(d, rest) == 0, CID_ERR_NOMEM);
	CID_TRY(logout_metadata(d));
	/* claims_supported from the one claim table, so it cannot drift */
	CID_ENSURE(json_array_append_new(claims, json_string("sub")) == 0, CID_ERR_NOMEM);
	for (size_t i = 0; i < n; i++)
		CID_ENSURE(json_array_append_new(claims, json_string(defs[i].name)) == 0,
			   CID_ERR_NOMEM);
	CID_ENSURE(json_object_set(d, "claims_supported", claims) == 0, CID_ERR_NOMEM);
	text = cid_json_dumps(d, JSON_COMPACT);
	CID_ENSURE(text != NULL, CID_ERR_NOMEM);
	*len = strlen(text);
	/* kept while the context is open (a tenant's, among many): no spare room */
	*doc = strdup(text);
	CID_ENSURE(*doc != NULL, CID_ERR_NOMEM);
out:
	json_decref(d);
	json_decref(rest);
	json_decref(claims);
	free(text);
	return rc;
}

static enum cid_err static_doc(struct cid_reply *reply, const char *doc, size_t len)
{
	reply->body = malloc(len + 1);
	if (reply->body == NULL)
		return CID_ERR_NOMEM;
	memcpy(reply->body, doc, len + 1);
	reply->body_len = len;
	reply->status = 200;
	reply->content_type = "application/json";
	return CID_OK;
}

/*
 * The document doc[0..len) with the OpenID Connect for Identity Assurance
 * members appended, as the reply. doc is a compact JSON object with members
 * and ids an object with members, so the two join as text at the comma:
 * the large built document is not parsed again per request.
 */
static enum cid_err with_assurance(struct cid_reply *reply, const char *doc, size_t len,
				   const json_t *frameworks, const json_t *claims)
{
	enum cid_err rc = CID_OK;
	json_t *ids = NULL;
	char *text = NULL;
	size_t n;

	/*= OIDC4IDA 1.0 §"OP Metadata": verified_claims_supported, trust_frameworks_supported
	 *# (at least one member) and claims_in_verified_claims_supported are REQUIRED;
	 *# evidence_supported only when the OP supports evidence
	 * civicid passes on an upstream's evidence (idp.h's cid_idp_evidence) of
	 * whichever types the upstream chose, unknown here (and "document" would
	 * make documents_supported required): no evidence_supported */
	ids = json_pack("{s:b, s:O, s:O}", "verified_claims_supported", 1,
			"trust_frameworks_supported", frameworks,
			"claims_in_verified_claims_supported", claims);
	CID_ENSURE(ids != NULL, CID_ERR_NOMEM);
	text = cid_json_dumps(ids, JSON_COMPACT);
	CID_ENSURE(text != NULL, CID_ERR_NOMEM);
	n = strlen(text);
	CID_ENSURE(len >= 2 && doc[len - 1] == '}' && n >= 2 && text[0] == '{', CID_ERR_INVALID);
	reply->body = malloc(len + n);
	CID_ENSURE(reply->body != NULL, CID_ERR_NOMEM);
	memcpy(reply->body, doc, len - 1);
	reply->body[len - 1] = ',';
	memcpy(reply->body + len, text + 1, n); /* "...}" and its NUL */
	reply->body_len = len + n - 1;
	reply->status = 200;
	reply->content_type = "application/json";
out:
	json_decref(ids);
	free(text);
	return rc;
}

enum cid_err cid_oidc_discovery(struct cid_ctx *ctx, struct cid_reply *reply)
{
	enum cid_err rc = CID_OK;
	size_t len;
	const char *doc = cid_ctx_discovery(ctx, &len);
	json_t *frameworks = NULL;
	json_t *claims = NULL;

	/*
	 * The upstreams are registered by the CLI in the store while the server
	 * runs, so what they let civicid vouch for is read per request (a few
	 * small records in one read transaction); the rest was built at open.
	 * Without a registration naming a trust framework the members are left
	 * out: trust_frameworks_supported may not be empty, so
	 * verified_claims_supported false could not stand alone.
	 */
	CID_TRY(cid_idp_assurance(cid_ctx_store(ctx), &frameworks, &claims));
	if (json_array_size(frameworks) == 0)
		rc = static_doc(reply, doc, len);
	else
		rc = with_assurance(reply, doc, len, frameworks, claims);
out:
	json_decref(frameworks);
	json_decref(claims);
	return rc;
}

enum cid_err cid_oidc_jwks(struct cid_ctx *ctx, struct cid_reply *reply)
{
	struct cid_keyref *ref = cid_ctx_keys_acquire(ctx);
	size_t len;
	const char *doc = cid_keyset_jwks(cid_keyref_keyset(ref), &len);
	enum cid_err rc = static_doc(reply, doc, len);

	cid_keyref_put(ref);
	return rc;
}
