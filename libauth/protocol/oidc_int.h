/*
 * oidc_int: what the oidc_*.c files share. Not part of the public API.
 *
 * One section per file that defines it, lowest first: a file calls only
 * into the sections above its own (and reply.h, the layers below), so the
 * endpoint files depend on each other in one direction:
 *   oidc.c, oidc_pending.c   shared by every endpoint file
 *   oidc_consent.c           the consent screen
 *   oidc_flow.c              what follows authentication (shows the screens)
 *   oidc_login.c             the login form (hands over to the flow)
 *   oidc_totp.c              the one-time-code step (hands back to the flow)
 *   oidc_authorize.c         the authorization endpoint (shows the login form)
 *   oidc_upstream.c          logging in through an upstream (shows the link page)
 *   oidc_lang.c              a step's language switch (shows the step again)
 * and, calling only the first section: oidc_token.c, oidc_userinfo.c,
 * oidc_logout.c, oidc_discovery.c.
 */
#ifndef CID_OIDC_INT_H
#define CID_OIDC_INT_H

#include "client.h"
#include "oidc.h"
#include "policy.h"
#include "release.h"
#include "session.h"
#include "token.h"

#include <jansson.h>

/* ---- what every endpoint file shares (oidc.c) ---- */

/*
 * Authenticates the client of a token, introspection or revocation request
 * (client_secret_basic, client_secret_post, or none for public clients),
 * reading the client in the request's read transaction txn. On success
 * *client is the client (free with cid_client_free). On failure fills reply
 * with the RFC 6749 §5.2 error and returns CID_ANSWERED; other errors:
 * CID_ERR_NOMEM, CID_ERR_STORE (the client could not be read: no verdict,
 * and no reply).
 */
CID_MUST_CHECK enum cid_err oidc_client_auth(struct cid_txn *txn, const struct cid_request *req,
					     struct cid_reply *reply, struct cid_client **client);

/* Fills reply with 401 invalid_client and a WWW-Authenticate: Basic challenge. */
CID_MUST_CHECK enum cid_err oidc_invalid_client(struct cid_reply *reply, const char *description);

/* The page locale of a normalised request (its "ui_locale"): static "en" or "ja". */
const char *oidc_auth_locale(const json_t *auth);

/* The service's name for the citizen: its policy's in ps, else its registration's. */
const char *oidc_service_name(const struct cid_policyset *ps, const struct cid_client *client,
			      const char *locale);

/*
 * The single call site of cid_release_claims (release.h): the claims of the
 * grant's citizen (citizen, from cid_account_get) that the policies ps permit
 * for client and target at now, added to out, every decision handed to the
 * context's audit hook. The claims asked are those of scope (the access
 * token's at userinfo, the answer's at the token endpoint: a refresh may ask
 * for less than the grant holds) and of the grant's claims request. The
 * level is the grant's acr. Reads the consent
 * records in txn, the request's read transaction, which it ends (as
 * cid_release_claims does, before the audit commit); txn NULL: it opens this
 * thread's own, and the caller must hold none. When the hook recorded
 * entries, reply->release names them: a new release id (cid_time_uuid), their request_id.
 * later (the request's audit_later): when the context's hook is the audit
 * log's (cid_audit_release_hook), the entries are made but not written, into
 * reply->audit (cid_audit_release_later), for the caller to write before the
 * reply leaves; with any other hook, or later false, they are written here.
 */
CID_MUST_CHECK enum cid_err
oidc_release(struct cid_ctx *ctx, struct cid_txn *txn, const struct cid_policyset *ps,
	     const struct cid_client *client, const struct cid_account *citizen,
	     const struct cid_grant *grant, const char *scope, enum cid_release_target target,
	     int64_t now, bool later, json_t *out, struct cid_reply *reply);

/*
 * What a form (the login form, the one-time-code form) is shown again with:
 * the message, whether the fields' values were wrong, a wait, the name typed.
 */
struct oidc_message {
	const char *key;      /* its flag in the page data: "msg_failed", ...; NULL: none */
	bool invalid;	      /* the values typed were wrong: the fields say so (aria-invalid) */
	int64_t retry;	      /* seconds to wait before the next attempt; 0: none */
	const char *username; /* the login name typed, shown again; may be NULL */
};

/*
 * Sets m's members in a form page's data: its key true, "has_message" (the
 * fields point to the message: aria-describedby), "invalid"; for a wait,
 * wait_key and wait_n and the reply's Retry-After (cid_reply_wait). m may be
 * NULL (no message). Errors: CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err oidc_message_data(const struct oidc_message *m, struct cid_reply *reply,
					      json_t *data);

/* Redirects an OAuth error back to the client (RFC 6749 §4.1.2.1, RFC 9207 iss). */
CID_MUST_CHECK enum cid_err oidc_redirect_error(struct cid_ctx *ctx, struct cid_reply *reply,
						const char *uri, const char *state,
						const char *error, const char *description);

/*
 * Issues a code for auth (steps removed) in the session sess and redirects to
 * the client with it (status 302 or 303). cookie (may be NULL) is the
 * session's, to record the client for logout.
 */
CID_MUST_CHECK enum cid_err oidc_grant_code(struct cid_ctx *ctx, json_t *auth,
					    const struct cid_session *sess, const char *cookie,
					    int64_t now, int status, struct cid_reply *reply);

/*
 * ---- the pending request (oidc_pending.c) ----
 * The steps of a pending authorization request (its "stage").
 */
#define OIDC_STAGE_LOGIN    "login"
#define OIDC_STAGE_TOTP	    "totp"
#define OIDC_STAGE_CONSENT  "consent"
#define OIDC_STAGE_UPSTREAM "upstream" /* at an upstream identity provider (oidc_upstream.c) */
#define OIDC_STAGE_LINK	    "link"     /* proving an account to link an upstream identity to */

/*
 * Stores auth as a pending request at stage for this browser: a new random
 * id (id_out) and the browser's CSRF token (csrf_out; a new one is set as a
 * cookie in reply when the browser has none). Adds "csrf_hash", "exp" and
 * "stage" to auth. Errors: CID_ERR_CRYPTO, CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err oidc_park(struct cid_ctx *ctx, const struct cid_request *req,
				      json_t *auth, const char *stage, struct cid_reply *reply,
				      char id_out[CID_TOKEN_CHARS + 1],
				      char csrf_out[CID_TOKEN_CHARS + 1]);

/* A posted form of one step of a pending request, as oidc_step_begin found it. */
struct oidc_step {
	json_t *auth;		   /* the pending request (owned) */
	const char *locale;	   /* its page locale (the one rule, the record's first; static) */
	struct cid_client *client; /* its service (owned) */
	struct cid_session sess;   /* the browser's session; unset at OIDC_STAGE_LOGIN */
};

/*
 * What every step's form (login, one-time code, consent) begins with: the
 * pending request of the posted form ("req", "csrf") at stage (NULL: at
 * whatever stage it is, for the language switch), whose CSRF
 * token must be the browser's cookie and the one stored with it, the record
 * live and at that stage; after the login stage, the browser's live session,
 * the one the step was shown in (auth's "pending_sid"); and its service,
 * still registered. Fills *step (free with oidc_step_end) on CID_OK. It
 * claims nothing: each step claims the request (oidc_claim_pending) once its
 * own input is right. Returns CID_ANSWERED when any of that fails, with an
 * error page in reply in the pages' language (cid_request_locale; once the
 * record is read, its ui_locale stands for the service's ui_locales); other
 * errors: CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err oidc_step_begin(struct cid_ctx *ctx, const struct cid_request *req,
					    const char *stage, struct cid_reply *reply,
					    struct oidc_step *step);

/*
 * What the return from an upstream identity provider begins with: the
 * pending request whose id is the upstream's state, at OIDC_STAGE_UPSTREAM,
 * stored with the CSRF token that is this browser's cookie (so a state
 * another browser started is refused), live, and its service still
 * registered. Fills *step (its sess unset; free with oidc_step_end). Claims
 * nothing (oidc_claim_id). Returns CID_ANSWERED with an error page when any
 * of that fails; other errors: CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err oidc_upstream_return(struct cid_ctx *ctx, const struct cid_request *req,
						 const char *state, struct cid_reply *reply,
						 struct oidc_step *step);

/*
 * oidc_claim_pending for the pending request req_id (not a posted form's):
 * CID_OK when this request owns it; CID_ANSWERED when it was already
 * claimed (a replay), with a 400 error page in locale; other errors:
 * CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err oidc_claim_id(struct cid_ctx *ctx, const char *req_id,
					  const char *locale, struct cid_reply *reply);

/* Frees what step owns; a zeroed step (one oidc_step_begin did not fill) is fine. */
void oidc_step_end(struct oidc_step *step);

/*
 * Stores auth again as the pending request of req_id (its key, CSRF hash,
 * expiry and stage unchanged): the language switch changes its ui_locale.
 * Only a record that is still there is replaced, in the same transaction,
 * so a form claimed meanwhile (oidc_claim_pending) stays claimed.
 * Errors: CID_ERR_NOTFOUND (claimed or gone), CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err oidc_update_pending(struct cid_ctx *ctx, const char *req_id,
						const json_t *auth);

/* Deletes the pending request of req_id. Errors: CID_ERR_NOTFOUND (already gone). */
CID_MUST_CHECK enum cid_err oidc_drop_pending(struct cid_ctx *ctx, const char *req_id);

/*
 * Claims the pending request of the posted form before its step has any
 * effect, so a form posted twice (double click, replay, a race) acts once.
 * Returns CID_OK when this request owns the step; CID_ANSWERED when it was
 * already claimed, with an error page in reply; other errors: CID_ERR_STORE,
 * CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err oidc_claim_pending(struct cid_ctx *ctx, const struct cid_request *req,
					       const char *locale, struct cid_reply *reply);

/* A reference to a pending request that is no secret (its store key): for records. */
void oidc_pending_ref(const char *req_id, char ref[CID_HASH_HEX + 1]);

/* ---- the consent screen (oidc_consent.c) ---- */

/*
 * The consent screen (CID_PAGE_CONSENT) of the pending request auth, whose
 * "consent" is the stored content (cid_release_prompt's answer), for client
 * under the policies ps: the purpose the service stated in its request
 * ("purpose", if any: shown as the service's words, escaped), then per
 * purpose its text in locale, a checkbox per attribute to decide (named a0,
 * a1, ... in order, its value the attribute's name), the statute-based
 * attributes as information, and what the law asks the citizen be told:
 * the basis, how long the service keeps the data (retention) and how long a
 * consent lasts (consent_valid), the controller with its contact and the
 * privacy notice (ctx's configuration); the form carries the pending request
 * req_id and csrf. Page data:
 *   {req, csrf, client_name, request_purpose?,
 *    controller?: {name, contact?, email?, phone?}, policy_url?,
 *    purposes: [{text, consent_basis (bool), statute?, retention_key,
 *      retention_n, valid_key?, valid_n? (cid_policy_duration),
 *      has_ask, ask: [{label_key, field, attribute, verified?}],
 *      has_info, info: [{label_key, attribute, verified?}],
 *      has_unavailable, unavailable: [{label_key, attribute}]}]}
 * where verified is {by, trust_framework} for an attribute the stored
 * content marks verified (cid_release_prompt's "verified"): by is the
 * upstream's name in locale (cid_idp_labels, read only when some purpose
 * has such a mark), or its issuer when it is no longer registered; and
 * unavailable lists, with no checkbox, the attributes whose rule asks a
 * verified value the citizen does not hold. On CID_OK reply holds the page
 * (the data is the reply's); auth is borrowed and unchanged.
 * Errors: CID_ERR_TOOBIG (an attribute name too long for a label key),
 * CID_ERR_STORE (reading the upstreams' names), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err oidc_show_consent(struct cid_ctx *ctx, const struct cid_policyset *ps,
					      const struct cid_client *client, const json_t *auth,
					      const char *locale, const char *req_id,
					      const char *csrf, struct cid_reply *reply);

/* ---- what follows authentication (oidc_flow.c) ---- */

/*
 * The authentication level (policy.h) a normalised request auth requires,
 * into *level: 0 when it asks for none. acr_values asks for the lowest level
 * among the values it lists that are ours (urn:civicid:acr:password, :mfa);
 * an essential "acr" claim of the claims parameter's id_token member (OIDC
 * Core §5.5.1.1) asks the same of its "value" or "values"; when both ask, the
 * higher level is required. A level satisfies every level below it. A
 * voluntary acr claim asks for nothing (OIDC Core §5.5.1.1).
 * Errors: CID_ERR_INVALID when acr_values, or an essential acr claim with
 * values, lists none of ours: that requirement can never be met.
 */
CID_MUST_CHECK enum cid_err oidc_acr_required(const json_t *auth, int *level);

/*
 * What follows authentication for auth in the session sess (cookie its value):
 * the one-time-code step when an asked attribute needs level 2 (or the request
 * requires it, oidc_acr_required) and the citizen can give one, then the
 * consent screen when an asked attribute needs the citizen's decision, then
 * the code. A required level the citizen cannot reach (no second factor
 * enrolled) gets unmet_authentication_requirements; prompt=none gets
 * interaction_required or consent_required instead of a page.
 */
CID_MUST_CHECK enum cid_err oidc_proceed(struct cid_ctx *ctx, const struct cid_request *req,
					 json_t *auth, const struct cid_session *sess,
					 const char *cookie, const struct cid_client *client,
					 int status, struct cid_reply *reply);

/*
 * The one-time-code page (CID_PAGE_TOTP) of the pending request auth, in its
 * locale, for the service name, its form carrying the pending request req_id
 * and csrf; m (may be NULL) is the message to show (oidc_message_data). The
 * page names what the stronger login is for (auth's "step_up_attributes":
 * data "attributes" [{label_key}], "has_attributes") and offers a way out:
 * "required" (auth's "step_up_required": the request itself asks for the
 * level) makes it a return to the service, else going on without those
 * attributes (cid_oidc_totp, action=skip).
 * Errors: CID_ERR_TOOBIG (an attribute name too long for a label key),
 * CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err oidc_show_totp(const json_t *auth, const char *name, const char *req_id,
					   const char *csrf, const struct oidc_message *m,
					   struct cid_reply *reply);

/* ---- the login form (oidc_login.c) ---- */

/*
 * Shows the login form for auth (CID_PAGE_LOGIN, in its locale, naming
 * client), storing auth as a pending request at OIDC_STAGE_LOGIN unless
 * req_id is given (the form shown again: req_id and csrf are the posted
 * ones). m (may be NULL) is the message to show (oidc_message_data); the
 * name field holds m's username, else auth's login_hint. Page data: req,
 * csrf, client_name, login_hint, username, and m's members.
 * Errors: those of oidc_park, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err oidc_show_login(struct cid_ctx *ctx, const struct cid_request *req,
					    json_t *auth, const char *req_id, const char *csrf,
					    const struct oidc_message *m,
					    const struct cid_client *client,
					    struct cid_reply *reply);

/*
 * Verifies an id_token_hint: an ID token of ours (signature by a key of the
 * context's keyset, typ JWT, our issuer) naming an aud and a sub; an expired
 * one is fine (OIDC Core §3.1.2.1, RP-Initiated Logout §2). *claims is its
 * claims, the caller's. Errors: CID_ERR_INVALID (malformed, not ours, no
 * aud or sub), CID_ERR_DENIED (bad signature), CID_ERR_TOOBIG (over
 * CID_MAX_ID_TOKEN), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err oidc_hint_check(struct cid_ctx *ctx, const char *hint, json_t **claims);

/*
 * Checks the posted username and password as every password form does
 * (cid_account_login: throttled, recorded among the recent logins). true
 * with the citizen's id in account; false with *m set to what the form
 * shows again (missing, failed, or a wait), the same for an unknown name,
 * a wrong password or a disabled account. *rc: CID_OK, or an error of the
 * store to return (then the result is false and *m untouched).
 */
bool oidc_password_check(struct cid_ctx *ctx, const struct cid_request *req, struct oidc_message *m,
			 char account[CID_ID_CHARS + 1], enum cid_err *rc);

/*
 * Checks the posted one-time code ("code") of account's second factor as
 * the code step does (cid_account_totp_check: counted, throttled, locked
 * after CID_CODE_MAX_FAILURES; recorded among the recent logins). true when
 * right; false with *m set to what the form shows again (failed for a
 * wrong, replayed or malformed code or none enrolled; a wait; locked).
 * *rc: CID_OK, or an error of the store to return (then false, *m untouched).
 */
bool oidc_code_check(struct cid_ctx *ctx, const struct cid_request *req, const char *account,
		     struct oidc_message *m, enum cid_err *rc);

/* How the citizen just authenticated: the level, the methods, and when. */
struct oidc_login {
	const char *acr;
	const char *const *amr;
	size_t n_amr;
	int64_t auth_time; /* the request's now, or an upstream's earlier login */
};

/*
 * What every way of logging in ends with, once the citizen is known (the
 * account id) and the pending request claimed: the browser's old session
 * ends, a new one starts as how says (its cookie set in reply), and the
 * flow goes on (oidc_proceed) with auth for client, by a 303. The password
 * login and the logins through an upstream share it.
 * Errors: those of cid_session_start_at and oidc_proceed.
 */
CID_MUST_CHECK enum cid_err oidc_login_finish(struct cid_ctx *ctx, const struct cid_request *req,
					      json_t *auth, const struct cid_client *client,
					      const char *account, const struct oidc_login *how,
					      struct cid_reply *reply);

/* ---- logging in through an upstream identity provider (oidc_upstream.c) ---- */

/*
 * The page asking for the civicid account to link an upstream identity to
 * (CID_PAGE_UPSTREAM_LINK, in auth's locale, naming the upstream of auth's
 * "upstream_link"), its form carrying the pending request req_id and csrf;
 * m (may be NULL) is the message to show (oidc_message_data), its username
 * the name typed. Errors: CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err oidc_show_link(const json_t *auth, const char *req_id, const char *csrf,
					   const struct oidc_message *m, struct cid_reply *reply);

/*
 * The URL of the discovery document of the upstream issuer into out[outsz]:
 * ISSUER/.well-known/openid-configuration, one trailing '/' of the issuer
 * removed first (OIDC Discovery §4.1), so https://id.example/ is asked at
 * https://id.example/.well-known/openid-configuration, not at "//.well-known".
 * The issuer the document names is still compared with the registered one
 * exactly (oidc_upstream_discovery_check).
 * Errors: CID_ERR_TOOBIG (out too small).
 */
CID_MUST_CHECK enum cid_err oidc_upstream_discovery_url(const char *issuer, char *out,
							size_t outsz);

/*
 * Checks the upstream's discovery document d (borrowed) against its
 * registered issuer: the issuer it names identical (OIDC Discovery §4.3),
 * authorization_endpoint, token_endpoint and jwks_uri present and, under
 * an https issuer, the two civicid calls itself (token_endpoint, which gets
 * the client secret, and jwks_uri, whose keys it trusts) https too: plain
 * http to a loopback host is for an http (loopback test) issuer only; a
 * token endpoint that takes client_secret_post or client_secret_basic.
 * Errors: CID_ERR_INVALID (why, of whysz bytes, says what is wrong).
 */
CID_MUST_CHECK enum cid_err oidc_upstream_discovery_check(const char *issuer, const json_t *d,
							  char *why, size_t whysz);

struct cid_fetch_limits;
struct cid_idp;

/* The bounds of every fetch from an upstream: size, connect and total time. */
extern const struct cid_fetch_limits oidc_upstream_limits;

/*
 * Exchanges code at the token endpoint of the upstream login up (the
 * request's "upstream" member: token_endpoint, token_auth, verifier) with
 * idp's client credentials; *id_token: the ID token, a new string the
 * caller frees. Errors: CID_ERR_IO (why, of whysz bytes, says what), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err oidc_upstream_exchange(const struct cid_config *cfg,
						   const struct cid_idp *idp, const json_t *up,
						   const char *code, char **id_token, char *why,
						   size_t whysz);

/*
 * Checks the claims c (borrowed) of an upstream ID token whose signature
 * verified, for idp (OIDC Core §3.1.3.7): iss is idp's issuer; aud names
 * idp's client_id, and azp, when present, is that client_id, and is
 * present when aud lists several audiences; exp not past (60 s of skew)
 * and an iat; a nonce equal to sent, the request's (NULL always fails); a
 * sub of at most CID_IDP_MAX_SUB bytes. Reads no clock or store.
 * Errors: CID_ERR_DENIED (why, of whysz bytes, says which check failed).
 */
CID_MUST_CHECK enum cid_err oidc_upstream_check_claims(const struct cid_idp *idp, const char *sent,
						       const json_t *c, int64_t now, char *why,
						       size_t whysz);

/*
 * Verifies the upstream ID token id_token for idp and the login up: its
 * signature with the JWKS at up's jwks_uri, the one kept in the context's
 * cache, fetched anew once per token when the kept one lacks the token's
 * kid or alg or cannot be used; then oidc_upstream_check_claims with up's
 * nonce. *claims: the claims (new reference). Errors: CID_ERR_DENIED (the
 * signature or a claim; why, of whysz bytes, says which), CID_ERR_IO (the
 * JWKS could not be fetched, or fetched anew is unusable; why says it),
 * CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err oidc_upstream_verify_id_token(struct cid_ctx *ctx,
							  const struct cid_idp *idp,
							  const json_t *up, const char *id_token,
							  int64_t now, json_t **claims, char *why,
							  size_t whysz);

#endif
