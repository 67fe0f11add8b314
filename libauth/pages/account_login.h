/*
 * account_login: the account pages sign a citizen in as their own
 * first-party client, as Keycloak's account console does: a public client
 * CID_ACCOUNT_CLIENT_ID with the one redirect URI <issuer>CID_ACCOUNT_CALLBACK,
 * scope "openid", the authorization code grant only, which the server
 * registers itself the first time a citizen asks to log in here. It goes
 * through the normal /authorize flow (login form, second factor), so no rule
 * of signing in is repeated here. It has no release policy, so no attribute
 * is ever released to it and no consent screen is shown; its code is redeemed
 * here, by the server itself, and yields no token: it only proves the login
 * came back to the browser that began it. The SSO session then opens /account.
 *
 *   GET /account/login[?lang=ja|en][&reauth=1]
 *       303 to /authorize?response_type=code&client_id=CID_ACCOUNT_CLIENT_ID
 *       &redirect_uri=..&scope=openid&state=..&code_challenge=..
 *       &code_challenge_method=S256&ui_locales=LANG. state and the PKCE
 *       verifier are derived from the browser's CSRF token
 *       (cid_account_login_secrets; a new one is set when the browser has
 *       none), so they need no storage and bind the callback to this browser.
 *       With reauth (any value): a re-authentication before deleting the
 *       account or changing the password (account_erase.h): &prompt=login,
 *       so the citizen signs in again (a new session, auth_time now) even
 *       with a live session, and state is cid_account_reauth_state's, which
 *       brings the callback back to the security page. When the browser's
 *       live session is a citizen's with a second factor enrolled, also
 *       &acr_values=urn:civicid:acr:mfa: the flow then asks the one-time
 *       code after the password (its step-up), and the session ends up at
 *       mfa with a fresh auth_time (cid_erase_login_strong).
 *       503 error page when the client cannot be registered under this
 *       issuer (an http issuer off loopback, or a client of that id
 *       registered by an operator with other redirect URIs).
 *   GET /account/callback?code=..&state=..[&iss=..] | ?error=..&state=..
 *       state must be the one derived from the browser's CSRF cookie, iss
 *       (when present, RFC 9207) the issuer; an error from /authorize (the
 *       citizen went back) leads to /account again. The code is redeemed for
 *       CID_ACCOUNT_CLIENT_ID with the verifier, and must be the browser's
 *       SSO session's citizen's; its grant is then revoked (nothing may be
 *       issued from it). 303 to /account?lang=LANG, or, for a reauth state,
 *       to /account/security?lang=LANG&notice=signed_in_again (its error to
 *       /account/security?lang=LANG). A wrong or missing state,
 *       a foreign or spent code: 400 error page (err.account_callback);
 *       without a session: the signed-out page.
 * Thread-safe.
 */
#ifndef CID_ACCOUNT_LOGIN_H
#define CID_ACCOUNT_LOGIN_H

#include "bounds.h"
#include "cid.h"
#include "err.h"
#include "reply.h"

#include <stdint.h>

/* The client_id of the account pages' own client. */
#define CID_ACCOUNT_CLIENT_ID "civicid-account"

/* Its redirect URI's path under the issuer. */
#define CID_ACCOUNT_CALLBACK "/account/callback"

/*
 * The account pages' client, registered if it is not: public, redirect URI
 * <issuer>CID_ACCOUNT_CALLBACK, scope openid, authorization_code only.
 * A registration that already exists is kept if it has that redirect URI.
 * Errors: CID_ERR_CONFIG (the issuer's callback is no acceptable redirect URI,
 * or the client exists without it), CID_ERR_STORE, CID_ERR_CRYPTO,
 * CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_account_client_ensure(struct cid_ctx *ctx, int64_t now);

/*
 * The state and the PKCE verifier of an account login from the browser's
 * CSRF token csrf (a token: cid_request_is_token): each the base64url
 * SHA-256 of its own label and csrf, CID_TOKEN_CHARS characters; "" (both)
 * for a csrf that is no token. Touches nothing.
 */
void cid_account_login_secrets(const char *csrf, char state[CID_TOKEN_CHARS + 1],
			       char verifier[CID_TOKEN_CHARS + 1]);

/*
 * The state of a re-authentication (reauth=1) from the browser's CSRF token
 * csrf: as cid_account_login_secrets's state under another label, so a
 * callback says which login it ends and one cannot pass for the other; ""
 * for a csrf that is no token. Touches nothing.
 */
void cid_account_reauth_state(const char *csrf, char state[CID_TOKEN_CHARS + 1]);

/* GET /account/login (above). Errors (no reply): CID_ERR_STORE, CID_ERR_CRYPTO, CID_ERR_NOMEM. */
CID_MUST_CHECK enum cid_err cid_account_signin(struct cid_ctx *ctx, const struct cid_request *req,
					       struct cid_reply *reply);

/* GET /account/callback (above). Errors (no reply): CID_ERR_STORE, CID_ERR_CRYPTO, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_account_callback(struct cid_ctx *ctx, const struct cid_request *req,
						 struct cid_reply *reply);

#endif
