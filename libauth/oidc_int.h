/*
 * oidc_int: what the oidc_*.c files share: reply builders and client
 * authentication. Not part of the public API.
 */
#ifndef CID_OIDC_INT_H
#define CID_OIDC_INT_H

#include "client.h"
#include "oidc.h"
#include "release.h"
#include "session.h"

#include <jansson.h>

/* Replies with obj (stolen) as JSON, status, no-store. */
enum cid_err oidc_reply_json(struct cid_reply *r, int status, json_t *obj);

/* Replies with an HTML page of kind, with data (stolen). */
enum cid_err oidc_reply_page(struct cid_reply *r, int status, enum cid_page page, json_t *data,
			     const char *locale);

/*
 * Redirects (status 302 or 303) to base with the pairs names[i]=values[i]
 * (NULL values skipped) added to its query.
 */
enum cid_err oidc_reply_redirect(struct cid_reply *r, int status, const char *base,
				 const char *const *names, const char *const *values, size_t n);

/*
 * Adds a Set-Cookie value "name=value; Path=path; HttpOnly; SameSite=same_site",
 * with Max-Age unless max_age < 0, and Secure when the issuer is https.
 * CID_ERR_TOOBIG when the reply has no room for another cookie.
 */
enum cid_err oidc_reply_cookie(struct cid_reply *r, const struct cid_config *cfg, const char *name,
			       const char *value, const char *path, int64_t max_age,
			       const char *same_site);

/*
 * Authenticates the client of a token, introspection or revocation request
 * (client_secret_basic, client_secret_post, or none for public clients). On
 * failure fills reply with the RFC 6749 §5.2 error and returns CID_ERR_DENIED;
 * on success *client is the client (free with cid_client_free). When the client
 * cannot be read (CID_ERR_STORE, CID_ERR_NOMEM) there is no verdict and no reply.
 */
enum cid_err oidc_client_auth(struct cid_ctx *ctx, const struct cid_request *req,
			      struct cid_reply *reply, struct cid_client **client);

/* Fills reply with 401 invalid_client and a WWW-Authenticate: Basic challenge. */
enum cid_err oidc_invalid_client(struct cid_reply *reply, const char *description);

/* The locale of a request: the first of ui_locales that we have, else the default. */
const char *oidc_locale(const char *ui_locales, const char *default_locale);

/* The page locale of a normalised request (its "ui_locale"): static "en" or "ja". */
const char *oidc_auth_locale(const json_t *auth);

/*
 * True if s is one of our random tokens (cid_random_token) or a base64url
 * SHA-256: exactly CID_TOKEN_CHARS of canonical base64url for 32 bytes.
 */
bool oidc_is_token(const char *s);

/*
 * The browser's CSRF token into csrf: its CID_COOKIE_CSRF cookie when that is
 * a token, else a new one, set as a cookie in reply. One per browser, so
 * several login tabs can coexist. Errors: CID_ERR_CRYPTO, CID_ERR_TOOBIG,
 * CID_ERR_NOMEM.
 */
enum cid_err oidc_csrf(struct cid_ctx *ctx, const struct cid_request *req, struct cid_reply *reply,
		       char csrf[CID_TOKEN_CHARS + 1]);

/*
 * The single call site of cid_release_claims (release.h): the claims of the
 * grant's citizen (citizen, from cid_account_get) that the policies ps permit
 * for client and target at now, added to out, every decision handed to the
 * context's audit hook. The level is the grant's acr. Opens this thread's
 * read transaction: the caller must hold none. When the hook recorded
 * entries, reply->release names them (a new request id and the seq range).
 */
enum cid_err oidc_release(struct cid_ctx *ctx, const struct cid_policyset *ps,
			  const struct cid_client *client, const json_t *citizen,
			  const json_t *grant, enum cid_release_target target, int64_t now,
			  json_t *out, struct cid_reply *reply);

/* The steps of a pending authorization request (its "stage"). */
#define OIDC_STAGE_LOGIN   "login"
#define OIDC_STAGE_TOTP	   "totp"
#define OIDC_STAGE_CONSENT "consent"

/*
 * Stores auth as a pending request at stage for this browser: a new random
 * id (id_out) and the browser's CSRF token (csrf_out; a new one is set as a
 * cookie in reply when the browser has none). Adds "csrf_hash", "exp" and
 * "stage" to auth. Errors: CID_ERR_CRYPTO, CID_ERR_STORE, CID_ERR_NOMEM.
 */
enum cid_err oidc_park(struct cid_ctx *ctx, const struct cid_request *req, json_t *auth,
		       const char *stage, struct cid_reply *reply, char id_out[CID_TOKEN_CHARS + 1],
		       char csrf_out[CID_TOKEN_CHARS + 1]);

/*
 * Loads the pending request of a posted form ("req", "csrf") at stage: the
 * CSRF token must be the cookie's and the stored one, the record live and at
 * that stage. On any problem *out is NULL and reply holds an error page (the
 * return is CID_OK then); other errors: CID_ERR_STORE, CID_ERR_NOMEM.
 */
enum cid_err oidc_load_pending(struct cid_ctx *ctx, const struct cid_request *req,
			       const char *stage, const char *locale, struct cid_reply *reply,
			       json_t **out);

/*
 * The client of a pending request auth into *client. When it has been removed
 * since, *client is NULL and reply holds an error page (the return is CID_OK
 * then); other errors: CID_ERR_STORE, CID_ERR_NOMEM.
 */
enum cid_err oidc_step_client(struct cid_ctx *ctx, const json_t *auth, const char *locale,
			      struct cid_reply *reply, struct cid_client **client);

/* Deletes the pending request of req_id. Errors: CID_ERR_NOTFOUND (already gone). */
enum cid_err oidc_drop_pending(struct cid_ctx *ctx, const char *req_id);

/*
 * Claims the pending request of the posted form before its step has any
 * effect, so a form posted twice (double click, replay, a race) acts once.
 * Returns CID_ERR_DENIED when it was already claimed, with an error page in
 * reply; CID_OK when this request owns the step.
 */
enum cid_err oidc_claim_pending(struct cid_ctx *ctx, const struct cid_request *req,
				const char *locale, struct cid_reply *reply);

/* A reference to a pending request that is no secret (its store key): for records. */
void oidc_pending_ref(const char *req_id, char ref[CID_HASH_HEX + 1]);

/* Redirects an OAuth error back to the client (RFC 6749 §4.1.2.1, RFC 9207 iss). */
enum cid_err oidc_redirect_error(struct cid_ctx *ctx, struct cid_reply *reply, const char *uri,
				 const char *state, const char *error, const char *description);

/*
 * Issues a code for auth (steps removed) in the session sess and redirects to
 * the client with it (status 302 or 303). cookie (may be NULL) is the
 * session's, to record the client for logout.
 */
enum cid_err oidc_grant_code(struct cid_ctx *ctx, json_t *auth, const struct cid_session *sess,
			     const char *cookie, int64_t now, int status, struct cid_reply *reply);

/*
 * What follows authentication for auth in the session sess (cookie its value):
 * the one-time-code step when an asked attribute needs level 2 (or acr_values
 * asks for it) and the citizen can give one, then the consent screen when an
 * asked attribute needs the citizen's decision, then the code. prompt=none
 * gets interaction_required or consent_required instead of a page.
 * (oidc_consent.c)
 */
enum cid_err oidc_proceed(struct cid_ctx *ctx, const struct cid_request *req, json_t *auth,
			  const struct cid_session *sess, const char *cookie,
			  const struct cid_client *client, int status, struct cid_reply *reply);

#endif
