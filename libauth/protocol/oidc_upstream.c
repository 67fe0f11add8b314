/*
 * oidc_upstream: logging in through an upstream identity provider (issue
 * 15): civicid is the relying party of the upstream, in the middle of a
 * citizen's own authorization request.
 *
 * /upstream/start (the login form's "Log in with NAME") claims the pending
 * request (a form posted again finds it gone: one call upstream per form),
 * reads the upstream's discovery document (fetch_cache.h: a failure is
 * remembered for a while, so an upstream that hangs is asked once per
 * CID_FETCH_CACHE_FAILED seconds, not once per post) and parks the request
 * again at OIDC_STAGE_UPSTREAM, holding the PKCE verifier and the nonce, under a new
 * id that is the state sent upstream, and redirects there (code flow, PKCE
 * S256, the exact redirect URI ISSUER/upstream/callback; prompt=login and
 * max_age=0 when the citizen's request asked civicid for a new login, else
 * the request's max_age or session_ttl, whose ID token must then say by its
 * auth_time that the login is that recent, cid_idp_login_fresh; the session
 * is stamped with that auth_time). The callback finds
 * the request by that state, bound to the browser by its CSRF cookie, and
 * claims it before anything else, so a replayed callback finds nothing.
 * It checks the RFC 9207 iss, exchanges the code (client_secret_post, or
 * client_secret_basic where the discovery offers only that),
 * verifies the ID token (jose.h: the upstream's JWKS, ES256 or RS256 by kid,
 * never none nor HS*; then iss, aud, azp, exp, nonce here), and resolves the
 * citizen by the link rules of idp.h: a linked identity logs in (one of a
 * disabled citizen gets the login form again, as a wrong password does, and
 * nothing is written); an unlinked
 * one creates a citizen where the registration allows it, else the citizen
 * proves an existing account with its password (/upstream/link, in the same
 * flow). Never by e-mail. What the upstream vouches for (its verified_claims
 * and mapped claims) is kept with its source on the citizen's record
 * (cid_account_put_verified), apart from typed claims. The login ends as the
 * password login does (oidc_login_finish), at the level the acr and amr maps
 * give (cid_idp_login_level; level 3 is urn:civicid:acr:high), with amr
 * "fed" and, where the registration says so, the upstream's own.
 *
 * An upstream that cannot be read, or when half the login threads already
 * wait on upstreams (cid_ctx_upstream_enter: the password logins keep the
 * others), shows the login form of the request again under a new id, with
 * a message: the password still works. So does a return the citizen made
 * whose login failed there (an error response: cancelled) or here (the
 * code exchange refused, an ID token failing its checks): the message is
 * generic, the reason goes to the log. A return whose request is not found
 * or has expired, or whose iss is another issuer's, gets an error page.
 *
 * Why not liboauth2's oauth2_openidc_handle: see README "Federation". In
 * short, Debian's liboauth2 1.4.5.4 checks neither iss, aud nor nonce of
 * the ID token, keeps its state in its own cookies rather than in our
 * pending request, reads no RFC 9207 iss and no Cache-Control, and is not a
 * dependency of libauth; civicid's own http_fetch and jose do the RP work.
 */
#include "account.h"
#include "bounds.h"
#include "crypto.h"
#include "fetch_cache.h"
#include "http_fetch.h"
#include "idp.h"
#include "oidc_int.h"
#include "session.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const struct cid_fetch_limits oidc_upstream_limits = {CID_MAX_JWKS, CID_FETCH_CONNECT_TIMEOUT_MS,
						      CID_FETCH_TIMEOUT_MS};

/* GETs url (kept between logins, fetch_cache.h) as a JSON object into *out.
 * Errors: CID_ERR_IO (any failure; why says it), CID_ERR_NOMEM. */
static enum cid_err fetch_json(struct cid_ctx *ctx, const char *url, int64_t now, json_t **out,
			       char *why, size_t whysz)
{
	char *body = NULL;
	size_t len = 0;
	enum cid_err rc = cid_fetch_cache_get(cid_ctx_fetch_cache(ctx), url, &oidc_upstream_limits,
					      now, false, &body, &len, why, whysz);
	json_t *obj = NULL;

	if (rc != CID_OK) {
		free(body);
		return rc == CID_ERR_NOMEM ? rc : CID_ERR_IO;
	}
	obj = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	free(body);
	if (!json_is_object(obj)) {
		json_decref(obj);
		snprintf(why, whysz, "not a JSON object");
		return CID_ERR_IO;
	}
	*out = obj;
	return CID_OK;
}

/*
 * How civicid authenticates at the upstream's token endpoint, from its
 * discovery document: client_secret_post where it lists it (what civicid
 * registers by default), else client_secret_basic where it lists it or
 * lists nothing (OIDC Discovery §3: "If omitted, the default is
 * client_secret_basic"); NULL when it takes neither.
 */
static const char *token_auth_method(const json_t *d)
{
	const json_t *list = json_object_get(d, "token_endpoint_auth_methods_supported");
	bool basic = list == NULL;
	size_t i;
	const json_t *v;

	json_array_foreach(list, i, v)
	{
		const char *m = json_string_value(v);

		if (m != NULL && strcmp(m, "client_secret_post") == 0)
			return "client_secret_post";
		basic = basic || (m != NULL && strcmp(m, "client_secret_basic") == 0);
	}
	return basic ? "client_secret_basic" : NULL;
}

/* True if url is https (the scheme case-insensitive, RFC 3986 §3.1). */
static bool is_https(const char *url)
{
	return url != NULL && strncasecmp(url, "https://", 8) == 0;
}

enum cid_err oidc_upstream_discovery_check(const char *issuer, const json_t *d, char *why,
					   size_t whysz)
{
	const char *iss = cid_json_str(d, "issuer");
	const char *token = cid_json_str(d, "token_endpoint");
	const char *jwks = cid_json_str(d, "jwks_uri");

	/*= OIDC Discovery §4.3: the issuer value returned MUST be identical to the
	 *# Issuer URL that was used as the prefix to /.well-known/openid-configuration */
	if (iss == NULL || strcmp(iss, issuer) != 0 ||
	    cid_json_str(d, "authorization_endpoint") == NULL || token == NULL || jwks == NULL) {
		snprintf(why, whysz,
			 "its discovery document names another issuer or lacks "
			 "an endpoint");
		return CID_ERR_INVALID;
	}
	/* http_fetch allows plain http to a loopback host whatever named it: an
	 * https upstream must not send the client secret, or take keys, that way */
	if (is_https(issuer) && (!is_https(token) || !is_https(jwks))) {
		snprintf(why, whysz,
			 "its discovery document names a token_endpoint or jwks_uri that "
			 "is not https, under an https issuer");
		return CID_ERR_INVALID;
	}
	if (token_auth_method(d) == NULL) {
		snprintf(why, whysz,
			 "its token endpoint takes neither client_secret_post nor "
			 "client_secret_basic");
		return CID_ERR_INVALID;
	}
	return CID_OK;
}

enum cid_err oidc_upstream_discovery_url(const char *issuer, char *out, size_t outsz)
{
	size_t n = strlen(issuer);
	int w;

	/*= OIDC Discovery §4.1: If the Issuer value contains a path component, any
	 *# terminating / MUST be removed before appending /.well-known/openid-configuration */
	if (n > 0 && issuer[n - 1] == '/')
		n--;
	w = snprintf(out, outsz, "%.*s/.well-known/openid-configuration", (int)n, issuer);
	return w >= 0 && (size_t)w < outsz ? CID_OK : CID_ERR_TOOBIG;
}

/*
 * The upstream's discovery document (OIDC Discovery §4), checked by
 * oidc_upstream_discovery_check. Errors: CID_ERR_IO (why says it), CID_ERR_NOMEM.
 */
static enum cid_err discover(struct cid_ctx *ctx, const struct cid_idp *idp, int64_t now,
			     json_t **out, char *why, size_t whysz)
{
	enum cid_err rc = CID_OK;
	char url[CID_IDP_MAX_ISSUER + 64];
	json_t *d = NULL;

	if (oidc_upstream_discovery_url(idp->issuer, url, sizeof(url)) != CID_OK) {
		snprintf(why, whysz, "its issuer is too long for a discovery URL");
		rc = CID_ERR_IO;
		goto out;
	}
	CID_TRY(fetch_json(ctx, url, now, &d, why, whysz));
	CID_ENSURE(oidc_upstream_discovery_check(idp->issuer, d, why, whysz) == CID_OK, CID_ERR_IO);
	*out = d;
	d = NULL;
out:
	json_decref(d);
	return rc;
}

/* The page of an upstream that could not be used: the citizen may go back and use a password. */
static enum cid_err upstream_failed(struct cid_reply *reply, const char *locale, const char *why)
{
	/* the reason is the operator's: the log has it, the citizen a plain message */
	fprintf(stderr, "civicid: upstream login failed: %s\n", why);
	return cid_reply_answered(
	    cid_reply_error_page(reply, 502, "temporarily_unavailable", "err.upstream", locale));
}

/*
 * The login form of the claimed request of step again, under a new id
 * (oidc_show_login parks it at OIDC_STAGE_LOGIN, without its "upstream"),
 * with the message key: the citizen may still log in with a password or
 * try an upstream again.
 */
static enum cid_err login_again(struct cid_ctx *ctx, const struct cid_request *req,
				struct oidc_step *step, const char *key, struct cid_reply *reply)
{
	struct oidc_message m = {.key = key};

	json_object_del(step->auth, "upstream");
	return oidc_show_login(ctx, req, step->auth, NULL, NULL, &m, step->client, reply);
}

/* S256 (RFC 7636 §4.2): base64url(SHA-256(verifier)). */
static enum cid_err pkce_challenge(const char *verifier, char out[CID_TOKEN_CHARS + 1])
{
	uint8_t h[32];

	cid_sha256(verifier, strlen(verifier), h);
	return cid_b64url_encode(h, sizeof(h), out, CID_TOKEN_CHARS + 1);
}

/*
 * How recent the login at the upstream must be, in seconds, from the
 * service's request auth: 0 for a new one (prompt=login, or max_age=0,
 * OIDC Core §3.1.2.1 errata), its max_age, or else session_ttl (no older
 * than a session civicid itself keeps). Always asked of the upstream as
 * max_age (with prompt=login for 0), which makes auth_time REQUIRED in its
 * ID token (OIDC Core §2), and checked against that auth_time: this request
 * is not answered from an older login than it asked, and the session made
 * from it is stamped with the upstream's auth_time (upstream_auth_time),
 * so that a later max_age or fresh-login rule is held to the login the
 * citizen really made.
 */
static int64_t upstream_max_age(const json_t *auth, int64_t session_ttl)
{
	const json_t *age = json_object_get(auth, "max_age");

	if (json_is_true(json_object_get(auth, "prompt_login")))
		return 0;
	return json_is_integer(age) && json_integer_value(age) >= 0 ? json_integer_value(age)
								    : session_ttl;
}

/*
 * When the citizen logged in at the upstream: the auth_time of its ID token
 * claims (cid_idp_login_fresh checked it), no later than now.
 */
static int64_t upstream_auth_time(const json_t *claims, int64_t now)
{
	json_int_t at = json_integer_value(json_object_get(claims, "auth_time"));

	return at > 0 && at < now ? (int64_t)at : now;
}

enum cid_err cid_oidc_upstream_start(struct cid_ctx *ctx, const struct cid_request *req,
				     struct cid_reply *reply)
{
	enum cid_err rc = CID_OK;
	const struct cid_config *cfg = cid_ctx_config(ctx);
	struct oidc_step step = {0};
	struct cid_idp *idp = NULL;
	json_t *d = NULL;
	json_t *up = NULL;
	char why[160] = "";
	char nonce[CID_TOKEN_CHARS + 1];
	char verifier[CID_TOKEN_CHARS + 1];
	char challenge[CID_TOKEN_CHARS + 1];
	char state[CID_TOKEN_CHARS + 1];
	char csrf[CID_TOKEN_CHARS + 1];
	char redirect[CID_MAX_URI + 32];

	CID_TRY(oidc_step_begin(ctx, req, OIDC_STAGE_LOGIN, reply, &step));
	rc = cid_idp_get(cid_ctx_store(ctx), cid_params_get(&req->params, "idp"), &idp);
	if (rc == CID_ERR_NOTFOUND) {
		rc = cid_reply_answered(cid_reply_error_page(reply, 400, "invalid_request",
							     "err.upstream_unknown", step.locale));
		goto out;
	}
	CID_TRY(rc);
	/* claimed before any call upstream: one form, one attempt, however often it is posted */
	CID_TRY(oidc_claim_pending(ctx, req, step.locale, reply));
	if (!cid_ctx_upstream_enter(ctx)) {
		snprintf(why, sizeof(why), "too many logins wait on upstreams already");
		rc = CID_ERR_IO;
	} else {
		rc = discover(ctx, idp, req->now, &d, why, sizeof(why));
		cid_ctx_upstream_leave(ctx);
	}
	if (rc == CID_ERR_IO) {
		fprintf(stderr, "civicid: upstream %s: %s\n", idp->name, why);
		rc = login_again(ctx, req, &step, "msg_upstream_down", reply);
		goto out;
	}
	CID_TRY(rc);
	CID_TRY(cid_random_token(nonce));
	CID_TRY(cid_random_token(verifier));
	CID_TRY(pkce_challenge(verifier, challenge));
	/* iss_required: the upstream says it sends iss (RFC 9207 §3), so a
	 * response without one is not its own */
	up = json_pack(
	    "{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:b}", "idp", idp->name, "nonce", nonce,
	    "verifier", verifier, "token_endpoint", cid_json_str(d, "token_endpoint"), "jwks_uri",
	    cid_json_str(d, "jwks_uri"), "token_auth", token_auth_method(d), "asked_at",
	    (json_int_t)req->now, "iss_required",
	    json_is_true(json_object_get(d, "authorization_response_iss_parameter_supported")));
	CID_ENSURE(up != NULL && json_object_set(step.auth, "upstream", up) == 0, CID_ERR_NOMEM);
	/* the new id of the parked request is the state: random, single-use */
	CID_TRY(oidc_park(ctx, req, step.auth, OIDC_STAGE_UPSTREAM, reply, state, csrf));
	snprintf(redirect, sizeof(redirect), "%s/upstream/callback", cfg->issuer);
	{
		const char *const names[] = {
		    "response_type", "client_id", "redirect_uri",   "scope",
		    "state",	     "nonce",	  "code_challenge", "code_challenge_method",
		    "max_age",	     "prompt"};
		int64_t age = upstream_max_age(step.auth, cfg->session_ttl);
		char age_text[24];
		const char *const values[] = {"code",	idp->client_id, redirect,  idp->scope,
					      state,	nonce,		challenge, "S256",
					      age_text, "login"};

		snprintf(age_text, sizeof(age_text), "%" PRId64, age);
		rc = cid_reply_redirect(reply, 303, cid_json_str(d, "authorization_endpoint"),
					names, values, age == 0 ? 10 : 9);
	}
out:
	cid_wipe(verifier, sizeof(verifier));
	cid_wipe(csrf, sizeof(csrf));
	json_decref(up);
	json_decref(d);
	cid_idp_free(idp);
	oidc_step_end(&step);
	return cid_endpoint_rc(rc);
}

/* The acr of a level (the session's). */
static const char *level_acr(int level)
{
	if (level >= CID_LEVEL_HIGH)
		return CID_ACR_HIGH;
	return level >= CID_LEVEL_MFA ? CID_ACR_MFA : CID_ACR_PASSWORD;
}

/*
 * The citizen of an upstream identity found unlinked (idp allows creation):
 * one created with a name of the upstream's and random characters, the
 * mapped claims, no password known (the account is entered through the
 * upstream), and linked, or, when a concurrent login of the same identity
 * linked one meanwhile, that one (cid_idp_link_or_create).
 */
static enum cid_err create_linked(struct cid_ctx *ctx, const struct cid_idp *idp,
				  const json_t *claims, int64_t now, char account[CID_ID_CHARS + 1])
{
	enum cid_err rc = CID_OK;
	char token[CID_TOKEN_CHARS + 1];
	char username[CID_IDP_MAX_NAME + 20];
	json_t *local = NULL;
	const char *sub = cid_json_str(claims, "sub");

	CID_TRY(cid_random_token(token));
	snprintf(username, sizeof(username), "%s.%.16s", idp->name, token);
	CID_TRY(cid_idp_map_claims(idp, claims, &local));
	rc = cid_idp_link_or_create(cid_ctx_store(ctx), &cid_ctx_config(ctx)->argon2, idp->issuer,
				    sub, username, local, now, account);
out:
	json_decref(local);
	return rc;
}

enum cid_err oidc_show_link(const json_t *auth, const char *req_id, const char *csrf,
			    const struct oidc_message *m, struct cid_reply *reply)
{
	enum cid_err rc = CID_OK;
	const char *idp_name = cid_json_str(json_object_get(auth, "upstream_link"), "idp");
	json_t *data = json_pack("{s:s, s:s, s:s?, s:s}", "req", req_id, "csrf", csrf, "idp",
				 idp_name, "username", m != NULL && m->username ? m->username : "");

	CID_ENSURE(data != NULL, CID_ERR_NOMEM);
	CID_TRY(oidc_message_data(m, reply, data));
	rc = cid_reply_page(reply, 200, CID_PAGE_UPSTREAM_LINK, data, oidc_auth_locale(auth));
	data = NULL;
out:
	json_decref(data);
	return rc;
}

enum cid_err cid_oidc_upstream_callback(struct cid_ctx *ctx, const struct cid_request *req,
					struct cid_reply *reply)
{
	enum cid_err rc = CID_OK;
	const char *state = cid_params_get(&req->params, "state");
	const char *code = cid_params_get(&req->params, "code");
	const char *iss = cid_params_get(&req->params, "iss");
	struct oidc_step step = {0};
	struct cid_idp *idp = NULL;
	const json_t *up;
	char *id_token = NULL;
	json_t *claims = NULL;
	char why[160] = "";
	char account[CID_ID_CHARS + 1];
	char id[CID_TOKEN_CHARS + 1];
	char csrf[CID_TOKEN_CHARS + 1];
	const char *amr[CID_MAX_AMR];
	size_t n_amr;
	json_t *amr_kept = NULL;
	json_t *verified = NULL;
	struct oidc_login how;
	int64_t age;
	int level;

	CID_TRY(oidc_upstream_return(ctx, req, state, reply, &step));
	/* claimed first: the state is single-use, a replayed callback finds nothing */
	CID_TRY(oidc_claim_id(ctx, state, step.locale, reply));
	up = json_object_get(step.auth, "upstream");
	rc = cid_idp_get(cid_ctx_store(ctx), cid_json_str(up, "idp"), &idp);
	if (rc == CID_ERR_NOTFOUND) {
		rc = upstream_failed(reply, step.locale, "the upstream was removed meanwhile");
		goto out;
	}
	CID_TRY(rc);
	/*= RFC 9207 §2.4: clients MUST compare the iss parameter to the issuer of the
	 *# authorization server they sent the request to, and reject a mismatch */
	if (iss != NULL && strcmp(iss, idp->issuer) != 0) {
		rc = upstream_failed(reply, step.locale, "the response's iss is another issuer");
		goto out;
	}
	/*= RFC 9207 §2.4: clients MUST reject authorization responses without the iss
	 *# parameter from authorization servers that indicate they send it */
	if (iss == NULL && json_is_true(json_object_get(up, "iss_required"))) {
		rc = upstream_failed(reply, step.locale,
				     "the response has no iss, which the upstream says it sends");
		goto out;
	}
	/* an error response (RFC 6749 §4.1.2.1; access_denied: the citizen
	 * cancelled there) carries no code: the request goes on here, its login
	 * form again, where the password still works */
	if (code == NULL) {
		fprintf(stderr, "civicid: upstream %s: it sent no code (error %s)\n", idp->name,
			cid_params_get(&req->params, "error") != NULL ? "given" : "missing");
		rc = login_again(ctx, req, &step, "msg_upstream_failed", reply);
		goto out;
	}
	if (!cid_ctx_upstream_enter(ctx)) {
		fprintf(stderr, "civicid: upstream %s: too many logins wait on upstreams already\n",
			idp->name);
		rc = login_again(ctx, req, &step, "msg_upstream_down", reply);
		goto out;
	}
	rc =
	    oidc_upstream_exchange(cid_ctx_config(ctx), idp, up, code, &id_token, why, sizeof(why));
	if (rc == CID_OK)
		rc = oidc_upstream_verify_id_token(ctx, idp, up, id_token, req->now, &claims, why,
						   sizeof(why));
	cid_ctx_upstream_leave(ctx);
	/* a login of the last age seconds was asked of the upstream: its own older
	 * session does not do, and the session made from it would claim a login
	 * it is not */
	age = upstream_max_age(step.auth, cid_ctx_config(ctx)->session_ttl);
	if (rc == CID_OK &&
	    !cid_idp_login_fresh(claims, json_integer_value(json_object_get(up, "asked_at")) - age,
				 req->now)) {
		snprintf(why, sizeof(why),
			 "a login of the last %" PRId64
			 " s was asked, and the ID token's auth_time is missing or older",
			 age);
		rc = CID_ERR_DENIED;
	}
	/* the citizen came back, and the exchange or the ID token failed: the
	 * request goes on here, its login form again with a plain message (the
	 * reason is the operator's, in the log), where the password still works */
	if (rc == CID_ERR_IO || rc == CID_ERR_DENIED) {
		fprintf(stderr, "civicid: upstream %s: login failed: %s\n", idp->name, why);
		rc = login_again(ctx, req, &step, "msg_upstream_failed", reply);
		goto out;
	}
	CID_TRY(rc);
	json_object_del(step.auth, "upstream");
	level = cid_idp_login_level(idp, claims);
	n_amr = cid_idp_amr(idp, claims, amr, CID_MAX_AMR);
	CID_TRY(cid_idp_verified_claims(idp, claims, req->now, &verified));
	rc =
	    cid_idp_link_get(cid_ctx_store(ctx), idp->issuer, cid_json_str(claims, "sub"), account);
	if (rc == CID_ERR_NOTFOUND && idp->allow_create)
		rc = create_linked(ctx, idp, claims, req->now, account);
	if (rc == CID_ERR_NOTFOUND) {
		/* never matched by e-mail: the citizen names and proves the account */
		amr_kept = json_array();
		for (size_t i = 0; amr_kept != NULL && i < n_amr; i++)
			CID_ENSURE(json_array_append_new(amr_kept, json_string(amr[i])) == 0,
				   CID_ERR_NOMEM);
		CID_ENSURE(
		    json_object_set_new(step.auth, "upstream_link",
					json_pack("{s:s, s:s, s:s, s:i, s:O, s:O}", "idp",
						  idp->name, "issuer", idp->issuer, "sub",
						  cid_json_str(claims, "sub"), "level", level,
						  "amr", amr_kept, "verified", verified)) == 0,
		    CID_ERR_NOMEM);
		CID_TRY(oidc_park(ctx, req, step.auth, OIDC_STAGE_LINK, reply, id, csrf));
		rc = oidc_show_link(step.auth, id, csrf, NULL, reply);
		goto out;
	}
	CID_TRY(rc);
	/* what the upstream vouches for now, kept with its source apart from typed claims;
	 * refused in its own transaction when the citizen is disabled, so that one disabled
	 * after any earlier look gets nothing written: the login fails as with a wrong
	 * password */
	rc = cid_account_put_verified(cid_ctx_store(ctx), account, idp->issuer, verified);
	if (rc == CID_ERR_DISABLED) {
		fprintf(stderr,
			"civicid: upstream %s: its identity is linked to a disabled citizen\n",
			idp->name);
		rc = login_again(ctx, req, &step, "msg_upstream_failed", reply);
		goto out;
	}
	CID_TRY(rc);
	how =
	    (struct oidc_login){level_acr(level), amr, n_amr, upstream_auth_time(claims, req->now)};
	rc = oidc_login_finish(ctx, req, step.auth, step.client, account, &how, reply);
	if (rc == CID_ERR_DISABLED) /* disabled meanwhile: no session was made */
		rc = login_again(ctx, req, &step, "msg_upstream_failed", reply);
out:
	json_decref(verified);
	json_decref(amr_kept);
	cid_wipe(csrf, sizeof(csrf));
	free(id_token);
	json_decref(claims);
	cid_idp_free(idp);
	oidc_step_end(&step);
	return cid_endpoint_rc(rc);
}

enum cid_err cid_oidc_upstream_link(struct cid_ctx *ctx, const struct cid_request *req,
				    struct cid_reply *reply)
{
	enum cid_err rc = CID_OK;
	const char *amr[CID_MAX_AMR] = {"pwd"};
	size_t n_amr = 1;
	size_t i;
	const json_t *v;
	struct oidc_message m = {.username = cid_params_get(&req->params, "username")};
	struct oidc_step step = {0};
	struct cid_account *citizen = NULL;
	const json_t *link;
	char account[CID_ID_CHARS + 1];
	struct oidc_login how;
	bool proved;
	int level;

	CID_TRY(oidc_step_begin(ctx, req, OIDC_STAGE_LINK, reply, &step));
	link = json_object_get(step.auth, "upstream_link");
	/* the citizen's whole login: a password alone must neither link an
	 * identity to a citizen with a second factor nor reach its level, or a
	 * phished password would outlast a reset through the link */
	proved = oidc_password_check(ctx, req, &m, account, &rc);
	if (proved) {
		CID_TRY(cid_account_get(cid_ctx_store(ctx), account, &citizen));
		if (citizen->has_totp) {
			proved = oidc_code_check(ctx, req, account, &m, &rc);
			amr[n_amr++] = "otp";
		}
	}
	if (!proved) {
		CID_TRY(rc);
		rc = oidc_show_link(step.auth, cid_params_get(&req->params, "req"),
				    cid_params_get(&req->params, "csrf"), &m, reply);
		goto out;
	}
	CID_TRY(oidc_claim_pending(ctx, req, step.locale, reply));
	rc = cid_idp_link(cid_ctx_store(ctx), cid_json_str(link, "issuer"),
			  cid_json_str(link, "sub"), account, req->now);
	if (rc == CID_ERR_EXISTS) {
		/* linked to another citizen meanwhile: one identity, one account */
		rc = cid_reply_answered(cid_reply_error_page(reply, 409, "access_denied",
							     "err.upstream_linked", step.locale));
		goto out;
	}
	if (rc == CID_OK && json_object_get(link, "verified") != NULL)
		rc = cid_account_put_verified(cid_ctx_store(ctx), account,
					      cid_json_str(link, "issuer"),
					      json_object_get(link, "verified"));
	if (rc == CID_ERR_DISABLED) {
		/* disabled since the password was checked: refused as a wrong password is */
		m.key = "msg_failed";
		m.invalid = true;
		rc = oidc_show_link(step.auth, cid_params_get(&req->params, "req"),
				    cid_params_get(&req->params, "csrf"), &m, reply);
		goto out;
	}
	CID_TRY(rc);
	/* the password (and code) proved, and the upstream's level if higher; its
	 * methods (fed, and those passed on) after pwd (and otp) */
	level = (int)json_integer_value(json_object_get(link, "level"));
	if (citizen->has_totp && level < CID_LEVEL_MFA)
		level = CID_LEVEL_MFA;
	json_array_foreach(json_object_get(link, "amr"), i, v)
	{
		if (n_amr < CID_MAX_AMR && json_is_string(v))
			amr[n_amr++] = json_string_value(v);
	}
	/* the password was typed now */
	how = (struct oidc_login){level_acr(level), amr, n_amr, req->now};
	rc = oidc_login_finish(ctx, req, step.auth, step.client, account, &how, reply);
	json_object_del(step.auth, "upstream_link");
out:
	cid_account_free(citizen);
	oidc_step_end(&step);
	return cid_endpoint_rc(rc);
}
