/*
 * oidc: the OpenID Connect and OAuth 2 endpoints, protocol-neutral.
 *
 * The HTTP skin translates a request into a struct cid_request, calls one
 * cid_oidc_* function, and renders the struct cid_reply it gets back: a JSON
 * body, a redirect, or an HTML page named by `page` with its data (the skin
 * owns the templates, libauth decides which page and what goes in it). No
 * outcome is decided in the skin.
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
#include "netaddr.h"
#include "str.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * The cookies. Each is HttpOnly, Path=/, without Domain, with its SameSite
 * (oidc.c holds the table): the SSO session and the CSRF token Lax, so that
 * a citizen sent here by a service (a cross-site top-level navigation) brings
 * them, the officer's session Strict. When the issuer is https they are
 * Secure and their names carry the __Host- prefix (RFC 6265bis §4.1.3.2), so
 * a browser accepts them only from this origin over TLS: a sibling host or a
 * network attacker cannot plant one.
 */
enum cid_cookie {
	CID_COOKIE_SESSION, /* civicid_session: the SSO session (session.h) */
	CID_COOKIE_CSRF,    /* civicid_csrf: the browser's CSRF token (double submit) */
	CID_COOKIE_OFFICER, /* civicid_officer: the privacy-officer console (console.h) */
};

struct cid_config;

/*
 * The name of cookie which under cfg's issuer, as the skin reads it from a
 * request and oidc_reply_cookie sets it: "__Host-civicid_session" for an https
 * issuer, "civicid_session" otherwise. Static string. Thread-safe.
 */
const char *cid_cookie_name(const struct cid_config *cfg, enum cid_cookie which);

struct cid_request {
	bool post;		   /* POST (else GET) */
	struct cid_params params;  /* query (GET) or form body (POST), decoded */
	const char *authorization; /* Authorization header value, or NULL */
	/* values of the cookies named cid_cookie_name(cfg, ...), or NULL */
	const char *session_cookie; /* CID_COOKIE_SESSION */
	const char *csrf_cookie;    /* CID_COOKIE_CSRF */
	const char *officer_cookie; /* CID_COOKIE_OFFICER */
	const char *remote_addr;    /* textual TCP peer address (behind a proxy, the proxy's) */
	const char *forwarded_for;  /* X-Forwarded-For values joined by commas, or NULL */
	const char *forwarded;	    /* Forwarded (RFC 7239) values joined by commas, or NULL */
	bool form_content_type;	    /* body was application/x-www-form-urlencoded */
	int64_t now;
};

/* HTML pages the skin knows how to render. */
enum cid_page {
	CID_PAGE_NONE = 0,	 /* body/location only */
	CID_PAGE_ERROR,		 /* data: error, description, (status) */
	CID_PAGE_LOGIN,		 /* data: req, csrf, client_name, login_hint, message? */
	CID_PAGE_LOGOUT_CONFIRM, /* data: csrf, and the hidden logout parameters */
	CID_PAGE_LOGGED_OUT,	 /* data: client_name? */
	CID_PAGE_CONSENT,	 /* data: req, csrf, client_name, purposes[] (see oidc_consent.c) */
	CID_PAGE_TOTP,		 /* data: req, csrf, client_name, message? */
	/* the privacy-officer console (console.h documents each page's data) */
	CID_PAGE_OFFICER_LOGIN,
	CID_PAGE_OFFICER_LOG,
	CID_PAGE_OFFICER_ENTRY,
	CID_PAGE_OFFICER_SERVICES,
	CID_PAGE_OFFICER_VERIFY,
	/* the citizen's account pages (account_pages.c documents the data) */
	CID_PAGE_ACCOUNT,
};

#define CID_REPLY_MAX_COOKIES 3

struct cid_reply {
	int status;
	const char *content_type;	 /* static string, or NULL with a page */
	const char *content_disposition; /* static string, or NULL: a download's header */
	char *body;			 /* owned; NULL with a page */
	size_t body_len;
	char *location;			      /* owned; set for redirects (302/303) */
	char *cookies[CID_REPLY_MAX_COOKIES]; /* owned full Set-Cookie values */
	size_t n_cookies;
	char *www_authenticate; /* owned */
	char *release;		/* owned; X-Civicid-Release: the release id, random per answer,
				   the request_id of the audit entries of the attributes this
				   reply carries (no seq: those would leak the city's volume) */
	bool no_store;		/* Cache-Control: no-store */
	enum cid_page page;
	json_t *page_data;  /* owned; the page's values */
	const char *locale; /* static "ja" or "en": language of the page */
};

/* Frees everything a reply owns and zeroes it. */
void cid_reply_free(struct cid_reply *r);

/* Frees the request's params (the borrowed strings are not touched). */
void cid_request_clear(struct cid_request *req);

/*
 * The client's address of req as canonical text into out: the TCP peer, or,
 * when the peer is one of the configuration's trusted_proxies, the address
 * its forwarding headers name (the rule is netaddr.h's); "" when unknown.
 * Failed logins are counted under it (throttle.h).
 */
void cid_request_client_addr(const struct cid_ctx *ctx, const struct cid_request *req,
			     char out[CID_NETADDR_TEXT_MAX]);

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
 * POST of the consent screen: records the citizen's decisions (approve: a
 * grant for each ticked attribute and a refusal for each other shown; deny: a
 * refusal for all shown), then issues the code.
 */
CID_MUST_CHECK enum cid_err cid_oidc_consent(struct cid_ctx *ctx, const struct cid_request *req,
					     struct cid_reply *reply);

/*
 * POST of the one-time-code (TOTP) step: on a correct code the session is
 * raised to urn:civicid:acr:mfa (amr pwd, otp) and the flow goes on.
 */
CID_MUST_CHECK enum cid_err cid_oidc_totp(struct cid_ctx *ctx, const struct cid_request *req,
					  struct cid_reply *reply);

CID_MUST_CHECK enum cid_err cid_oidc_token(struct cid_ctx *ctx, const struct cid_request *req,
					   struct cid_reply *reply);
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
 *    "ui_locale","acr_values"?,"claims"?}
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

/* JSON documents: discovery and JWKS, as replies (200, cacheable). */
CID_MUST_CHECK enum cid_err cid_oidc_discovery(struct cid_ctx *ctx, struct cid_reply *reply);
CID_MUST_CHECK enum cid_err cid_oidc_jwks(struct cid_ctx *ctx, struct cid_reply *reply);

/*
 * Builds an OAuth error reply without a redirect: JSON {"error",
 * "error_description"} with the status, or (page) the HTML error page.
 * For the skin's own failures (413, 404, 405, malformed request line).
 */
CID_MUST_CHECK enum cid_err cid_oidc_error_json(struct cid_reply *reply, int status,
						const char *error, const char *description);
CID_MUST_CHECK enum cid_err cid_oidc_error_page(struct cid_reply *reply, int status,
						const char *error, const char *description,
						const char *locale);

#endif
