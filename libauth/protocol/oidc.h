/*
 * oidc: the OpenID Connect and OAuth 2 endpoints.
 *
 * Each is a function from a struct cid_request to a struct cid_reply
 * (reply.h): the HTTP skin translates, calls one, and renders; no outcome is
 * decided in the skin.
 *
 * Errors follow RFC 6749 §4.1.2.1/§5.2, OIDC Core §3.1.2.6, RFC 6750 §3.1,
 * RFC 7009 and RFC 7662: a redirect carries `error`, `error_description`,
 * `state` and `iss` (RFC 9207) only once client_id and redirect_uri are known
 * to be good; before that the citizen sees an error page and is never
 * redirected.
 */
#ifndef CID_OIDC_H
#define CID_OIDC_H

#include "cid.h"
#include "client.h"
#include "err.h"
#include "reply.h"
#include "str.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * The endpoints. Each fills *reply (which must be zeroed) and returns CID_OK
 * whenever it produced a reply, including OAuth error replies; any other
 * return means no reply could be built (the skin answers 500).
 */
CID_MUST_CHECK enum cid_err cid_oidc_authorize(struct cid_ctx *ctx, const struct cid_request *req,
					       struct cid_reply *reply);

/*
 * POST of the login form. Runs one argon2id verification: call it off the
 * HTTP polling threads.
 */
CID_MUST_CHECK enum cid_err cid_oidc_login(struct cid_ctx *ctx, const struct cid_request *req,
					   struct cid_reply *reply);

/*
 * POST of the consent screen (req, csrf, action = approve | deny, a0, a1,
 * ... the ticked checkboxes): the pending request is checked as every
 * step's (oidc_step_begin: its error pages), an action that is neither
 * gets a 400 error page and records nothing, then the request is claimed
 * (a form posted twice records once: a 400 error page the second time),
 * the decisions are recorded, one durable write per purpose (approve: a
 * grant for each ticked attribute and a refusal for each other one the
 * screen asked, by position among what the stored screen showed; deny: a
 * refusal for all asked), and the code is issued by a 303 to the service.
 * Returns CID_OK with the reply; any other return means no reply:
 * CID_ERR_STORE (also a stored screen of over CID_CONSENT_MAX_ASK
 * attributes in one purpose), CID_ERR_INVALID (cid_consent_record: a
 * damaged stored screen), CID_ERR_NOMEM, those of issuing the code; the
 * decisions of the purposes recorded before it are kept.
 */
CID_MUST_CHECK enum cid_err cid_oidc_consent(struct cid_ctx *ctx, const struct cid_request *req,
					     struct cid_reply *reply);

/*
 * POST of the one-time-code (TOTP) step: on a correct code the session is
 * raised to urn:civicid:acr:mfa, its amr the methods it had and "otp" (pwd,
 * otp after a password; fed, otp after an upstream), and the flow goes on. The
 * step has a way out (action=skip): the flow goes on at the session's level
 * without the attributes that needed the code, or, when the request itself
 * requires the level, returns access_denied to the service.
 */
CID_MUST_CHECK enum cid_err cid_oidc_totp(struct cid_ctx *ctx, const struct cid_request *req,
					  struct cid_reply *reply);

/*
 * Logging in through an upstream identity provider (oidc_upstream.c, issue
 * 15). Each fills reply and returns CID_OK, as every endpoint; any other
 * return (CID_ERR_STORE, CID_ERR_NOMEM, CID_ERR_CRYPTO: no random token)
 * means no reply. Each fetches from the upstream or runs argon2id: off the
 * polling threads.
 * POST /upstream/start (the login form's req, csrf and idp, the
 * registration's name): the pending request is checked at the login stage
 * (oidc_step_begin); an unknown idp gets a 400 error page; an upstream
 * whose discovery document cannot be read or used shows the login form
 * again with a message, the request not claimed, its password login
 * intact; else the request is claimed, parked again under a new id (the
 * state sent upstream, with the PKCE verifier and the nonce), and the
 * browser sent to the upstream by a 303 (code, PKCE S256, state, nonce).
 * GET /upstream/callback (code, state, iss): the pending request of the
 * state, bound to this browser's CSRF cookie (else an error page), is
 * claimed first (a replay gets a 400 error page); a registration removed
 * meanwhile or an iss of another issuer (or none where the upstream says
 * it sends one) get a 502 error page; no code (an error answer: the
 * citizen cancelled there), a failed or refused code exchange, an ID token
 * failing its checks (signature, iss, aud, azp, exp, nonce, auth_time) or
 * a disabled citizen get the login form of the same request again with a
 * generic message (the reason on stderr), where the password still works;
 * else the citizen linked to the upstream
 * identity, or one created and linked (the registration allows it), gets
 * what the upstream vouches for (cid_account_put_verified) and is logged in
 * (oidc_login_finish); otherwise an identity linked to no one gets the link page,
 * asking for the civicid account to link (the request parked at the link
 * stage with what the upstream vouched for).
 * POST /upstream/link (req, csrf, username, password): a wrong password
 * shows the link page again (oidc_password_check: the request not
 * claimed); else the request is claimed, the identity linked (linked to
 * another citizen meanwhile: a 409 error page), its verified values kept,
 * and the login done at the higher of the password's and the upstream's
 * levels.
 */
CID_MUST_CHECK enum cid_err cid_oidc_upstream_start(struct cid_ctx *ctx,
						    const struct cid_request *req,
						    struct cid_reply *reply);
CID_MUST_CHECK enum cid_err cid_oidc_upstream_callback(struct cid_ctx *ctx,
						       const struct cid_request *req,
						       struct cid_reply *reply);
CID_MUST_CHECK enum cid_err
cid_oidc_upstream_link(struct cid_ctx *ctx, const struct cid_request *req, struct cid_reply *reply);

/*
 * POST of a step's language switch (lang = ja | en, with the step's req and
 * csrf): the same step's page again, in that language, which the later
 * steps keep. The step's form tokens stay valid; nothing else changes.
 */
CID_MUST_CHECK enum cid_err cid_oidc_lang(struct cid_ctx *ctx, const struct cid_request *req,
					  struct cid_reply *reply);

CID_MUST_CHECK enum cid_err cid_oidc_token(struct cid_ctx *ctx, const struct cid_request *req,
					   struct cid_reply *reply);
/*
 * True when a token request only reads the store: a client_credentials
 * grant (a token signed for the service itself; nothing is stored). The
 * code and refresh grants write durably (the code used, the family
 * rotated), and an unknown grant_type is refused either way.
 */
bool cid_oidc_token_reads_only(const struct cid_request *req);
CID_MUST_CHECK enum cid_err cid_oidc_userinfo(struct cid_ctx *ctx, const struct cid_request *req,
					      struct cid_reply *reply);
CID_MUST_CHECK enum cid_err cid_oidc_introspect(struct cid_ctx *ctx, const struct cid_request *req,
						struct cid_reply *reply);
CID_MUST_CHECK enum cid_err cid_oidc_revoke(struct cid_ctx *ctx, const struct cid_request *req,
					    struct cid_reply *reply);
CID_MUST_CHECK enum cid_err cid_oidc_logout(struct cid_ctx *ctx, const struct cid_request *req,
					    struct cid_reply *reply);

/* An OAuth error: static code and description. */
struct cid_oauth_error {
	const char *error;
	const char *description;
};

/*
 * Validates an authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1,
 * RFC 7636) of client, whose client_id and redirect_uri are already known to be
 * good. On success *auth (new reference) is the normalised request:
 *   {"client_id","redirect_uri","scope","state"?,"nonce"?,"code_challenge"?,
 *    "prompt_none","prompt_login","prompt_consent","max_age"?,"login_hint"?,
 *    "ui_locale","acr_values"?,"claims"?,"purpose"?}
 * Errors: CID_ERR_INVALID with *err set (the error is to be redirected),
 * CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_oidc_authz_check(const struct cid_client *client,
						 const struct cid_params *params,
						 const char *default_locale, json_t **auth,
						 struct cid_oauth_error *err);

/*
 * Parses an HTTP Basic Authorization value into client_id and secret, each
 * form-urlencoded-decoded as RFC 6749 §2.3.1 requires. *id and *secret are new
 * strings (caller frees; wipe the secret).
 * Errors: CID_ERR_INVALID (not Basic, bad base64, no ':', bad escapes, empty id,
 * NUL or invalid UTF-8), CID_ERR_TOOBIG, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_oidc_parse_basic(const char *header, char **id, char **secret);

/*
 * JSON documents as replies (200, cacheable): the discovery document the
 * context built at open (cid_ctx_discovery), and the JWKS of the keyset in
 * force. When an upstream registration names a trust framework
 * (cid_idp_assurance, asked at each request: a registration added or
 * removed by the CLI shows at once), the discovery document also
 * has the OpenID Connect for Identity Assurance 1.0 members
 * verified_claims_supported (true), trust_frameworks_supported and
 * claims_in_verified_claims_supported; without one it has none of them.
 * Errors: CID_ERR_NOMEM, CID_ERR_STORE (discovery: reading the registrations).
 */
CID_MUST_CHECK enum cid_err cid_oidc_discovery(struct cid_ctx *ctx, struct cid_reply *reply);
CID_MUST_CHECK enum cid_err cid_oidc_jwks(struct cid_ctx *ctx, struct cid_reply *reply);

/*
 * The endpoint table of OpenID Connect and OAuth 2 (reply.h's struct
 * cid_endpoint): every path above, with the function that answers it, in
 * *n rows. Static. The rows with a `discovery` name are the endpoints the
 * discovery document announces.
 */
const struct cid_endpoint *cid_oidc_endpoints(size_t *n);

/*
 * The discovery document (OpenID Connect Discovery 1.0) of issuer iss: the
 * URL of every endpoint of cid_oidc_endpoints that has a metadata name
 * (iss followed by its path), what civicid supports, and claims_supported
 * from account.h's claim table. *doc (compact JSON of *len bytes) is a new
 * string: the caller frees it. Built once, at open (cid_ctx_open).
 * Errors: CID_ERR_TOOBIG (an endpoint's URL would be over CID_MAX_URI),
 * CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_oidc_discovery_build(const char *iss, char **doc, size_t *len);

/*
 * Deletes the pending authorization requests (CID_DB_AUTHREQS: a login page
 * left open, a consent screen never answered) CID_CLOCK_SKEW past their exp
 * at now, when no step accepts them any more (cid_store_sweep, for the
 * janitor). *removed (may be NULL): how many went.
 * Errors: CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_oidc_pending_sweep(struct cid_store *s, int64_t now,
						   size_t *removed);

#endif
