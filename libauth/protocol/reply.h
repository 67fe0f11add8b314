/*
 * reply: the protocol-neutral request and reply every endpoint speaks, and
 * the builders of a reply.
 *
 * The HTTP skin translates a request into a struct cid_request, calls one
 * endpoint (a row of the endpoint table, struct cid_endpoint), and renders
 * the struct cid_reply it gets back: a JSON body, a redirect, a download, or
 * an HTML page named by `page` with its data (the skin owns the templates,
 * libauth decides which page and what goes in it). No outcome is decided in
 * the skin. The OpenID Connect endpoints (oidc.h), the account pages
 * (account_pages.h) and the officer's console (console.h) all build their
 * answers here, so none of them reaches into another's internals.
 *
 * Nothing here knows a protocol: a reply is a status, headers and a body or
 * a page. All functions are thread-safe (they touch only their arguments).
 */
#ifndef CID_REPLY_H
#define CID_REPLY_H

#include "audit.h"
#include "bounds.h"
#include "buf.h"
#include "cid.h"
#include "config.h"
#include "err.h"
#include "netaddr.h"
#include "str.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The cookies. Each is HttpOnly, Path=/, without Domain, with its SameSite
 * (reply.c holds the table): the SSO session and the CSRF token Lax, so that
 * a citizen sent here by a service (a cross-site top-level navigation) brings
 * them, the officer's session Strict. When the issuer is https they are
 * Secure and their names carry the __Host- prefix (RFC 6265bis §4.1.3.2), so
 * a browser accepts them only from this origin over TLS: a sibling host or a
 * network attacker cannot plant one. A tenant's (tenant.h) live below its
 * path_prefix ("/t/NAME", config.h): its cookies have that Path, so one
 * city's cookies never reach another's, and, https, the __Secure- prefix
 * (__Host- needs Path=/), which, unlike __Host-, a sibling host can still
 * plant (README: tenants); a tenant at a host of its own has __Host- names.
 */
enum cid_cookie {
	CID_COOKIE_SESSION, /* civicid_session: the SSO session (session.h) */
	CID_COOKIE_CSRF,    /* civicid_csrf: the browser's CSRF token (double submit) */
	CID_COOKIE_OFFICER, /* civicid_officer: the privacy-officer console (console.h) */
	CID_COOKIE_LANG,    /* civicid_lang: the page language the citizen chose (ja, en) */
};

/* How long the language cookie remembers a choice: a year. */
#define CID_LANG_COOKIE_AGE ((int64_t)365 * 24 * 3600)

/*
 * The name of cookie which under cfg's issuer, as the skin reads it from a
 * request and cid_reply_cookie sets it: "__Host-civicid_session" for an https
 * issuer, "civicid_session" otherwise. Static string.
 */
const char *cid_cookie_name(const struct cid_config *cfg, enum cid_cookie which);

struct cid_request {
	bool post;		   /* POST (else GET) */
	struct cid_params params;  /* query (GET) or form body (POST), decoded */
	const char *authorization; /* Authorization header value, or NULL */
	/* values of the cookies named cid_cookie_name(cfg, ...), or NULL */
	const char *session_cookie;  /* CID_COOKIE_SESSION */
	const char *csrf_cookie;     /* CID_COOKIE_CSRF */
	const char *officer_cookie;  /* CID_COOKIE_OFFICER */
	const char *lang_cookie;     /* CID_COOKIE_LANG */
	const char *accept_language; /* the Accept-Language header, or NULL */
	const char *user_agent;	     /* the User-Agent header, or NULL (also when over-long) */
	const char *path;	     /* the path asked for, without the query ("/account"); may be
					NULL (a caller that is no HTTP request) */
	const char *remote_addr;     /* textual TCP peer address (behind a proxy, the proxy's) */
	const char *forwarded_for;   /* X-Forwarded-For values joined by commas, or NULL */
	const char *forwarded;	     /* Forwarded (RFC 7239) values joined by commas, or NULL */
	bool form_content_type;	     /* body was application/x-www-form-urlencoded */
	bool audit_later; /* the caller writes reply->audit before it sends the reply (the
			     server: cid_audit_submit); false: an endpoint's audit entries are
			     durable when it returns */
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
	CID_PAGE_UPSTREAM_LINK,	 /* data: req, csrf, idp, username, message? (oidc_upstream.c) */
	/* the privacy-officer console (console.h documents each page's data) */
	CID_PAGE_OFFICER_LOGIN,
	CID_PAGE_OFFICER_LOG,
	CID_PAGE_OFFICER_ENTRY,
	CID_PAGE_OFFICER_SERVICES,
	CID_PAGE_OFFICER_VERIFY,
	CID_PAGE_OFFICER_RESOLVE,
	/* the citizen's account pages (account_pages.c documents the data) */
	CID_PAGE_ACCOUNT,
	CID_PAGE_ACCOUNT_SECURITY, /* account_security.h documents the data */
	CID_PAGE_RECEIPT,	   /* one consent receipt in plain words */
	CID_PAGE_TRAIL,		   /* the citizen's trail, printable (account_pages.h) */
};

#define CID_REPLY_MAX_COOKIES 4

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
	char *release;		/* owned; X-Civicid-Release: the release id, new per answer,
				   the request_id of the audit entries of the attributes this
				   reply carries (no seq: those would leak the city's volume) */
	bool no_store;		/* Cache-Control: no-store */
	int64_t retry_after;	/* Retry-After: seconds to wait (RFC 9110 §10.2.3); 0: none */
	char *frame_src;	/* owned; NULL, or the origins a page may frame, space-separated
				   (the front-channel logout frames, logout_notify.h): its
				   Content-Security-Policy gets "frame-src" with exactly these */
	enum cid_page page;
	json_t *page_data;  /* owned; the page's values */
	const char *locale; /* static "ja" or "en": language of the page */
	/* owned; with req->audit_later, the audit entries of what this reply
	   releases, not yet written: it must not be sent before they are durable
	   (cid_audit_submit told CID_OK), and never if writing them failed */
	struct cid_audit_pending *audit;
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
 * True if s (a cookie or form value) is one of our random tokens
 * (cid_random_token) or a base64url SHA-256: exactly CID_TOKEN_CHARS of
 * canonical base64url for 32 bytes. Only such values reach the store.
 */
bool cid_request_is_token(const char *s);

/*
 * An endpoint: it fills *reply (which must be zeroed) and returns CID_OK
 * whenever it produced a reply, including error replies; any other return
 * means no reply could be built (the skin answers 500).
 */
typedef enum cid_err cid_endpoint_fn(struct cid_ctx *ctx, const struct cid_request *req,
				     struct cid_reply *reply);

/*
 * What a helper of an endpoint returns once it built the answer into the
 * reply with a builder that returned rc: CID_ANSWERED (err.h) when rc is
 * CID_OK, else rc (the answer could not be built). Inline, so that a reader
 * (and the static analyser) sees at the call that it is never CID_OK.
 */
CID_MUST_CHECK static inline enum cid_err cid_reply_answered(enum cid_err rc)
{
	return rc == CID_OK ? CID_ANSWERED : rc;
}

/*
 * What an endpoint returns when its work ended with rc: CID_OK for CID_OK
 * and for CID_ANSWERED (a helper filled the reply with the answer, err.h),
 * else rc (no reply could be built). The one place the signal ends.
 */
CID_MUST_CHECK static inline enum cid_err cid_endpoint_rc(enum cid_err rc)
{
	return rc == CID_ANSWERED ? CID_OK : rc;
}

/*
 * Where the skin runs an endpoint's answer. The HTTP polling threads each
 * serve many connections, so nothing that runs there may wait for the disk
 * or for long: a request that may wait for a durable write of the store
 * runs on a writer thread, one that hashes a password or scans the log on a
 * login thread, while its connection is set aside (the skin's pools,
 * server/http/daemon.c). A release's audit entries do not count as a write:
 * with req->audit_later the skin hands them to the log's group commit.
 */
enum cid_run {
	CID_RUN_WRITES, /* may wait for a durable write (a session, a code, a consent...) */
	CID_RUN_READS,	/* reads only: on the polling thread */
	CID_RUN_SLOW,	/* argon2id, log scans, calls to upstream providers */
};

/*
 * A row of the endpoint table: a path, the one function that answers it, and
 * how the skin must treat it. Each module lists the rows of its endpoints
 * beside them (cid_oidc_endpoints, cid_account_endpoints,
 * cid_console_endpoints); endpoints.h walks them all as the router's one
 * table, and the discovery document names the rows that have a `discovery`
 * member, so every path is written once.
 */
struct cid_endpoint {
	const char *path;
	cid_endpoint_fn *fn;   /* NULL: the stylesheet, which the skin serves itself */
	bool get, post;	       /* the methods it answers (GET includes HEAD) */
	bool page;	       /* answers with HTML pages: input errors get an error page */
	enum cid_run run;      /* where it runs (cid_endpoint_run) */
	const char *discovery; /* its discovery metadata name, or NULL (not published) */
	/* for a CID_RUN_WRITES row, or NULL: true when this request of it only
	   reads, and may run on the polling thread (a client_credentials token) */
	bool (*reads_only)(const struct cid_request *req);
};

/*
 * Where req to e runs: e->run, or CID_RUN_READS when e's reads_only says so
 * of req. req must hold the request's parameters.
 */
enum cid_run cid_endpoint_run(const struct cid_endpoint *e, const struct cid_request *req);

/*
 * The builders. Each sets the members of r it names (replacing what they
 * held) and leaves the others alone, so a reply may gather cookies before its
 * page or redirect.
 */

/* Replies with obj (stolen, may be NULL: CID_ERR_NOMEM) as JSON, status, no-store. */
CID_MUST_CHECK enum cid_err cid_reply_json(struct cid_reply *r, int status, json_t *obj);

/*
 * Replies with the JSON text built in b (taken: b is empty afterwards, in any
 * case), status, no-store: for a hot path's answer written straight into a
 * buffer (cid_buf_append_json_str) rather than built as a jansson object.
 * Errors: b's sticky error (CID_ERR_TOOBIG, CID_ERR_NOMEM).
 */
CID_MUST_CHECK enum cid_err cid_reply_json_text(struct cid_reply *r, int status, struct cid_buf *b);

/*
 * Replies with an HTML page of kind page, with data (stolen; NULL:
 * CID_ERR_NOMEM), in locale ("en", else "ja"), no-store.
 */
CID_MUST_CHECK enum cid_err cid_reply_page(struct cid_reply *r, int status, enum cid_page page,
					   json_t *data, const char *locale);

/*
 * Redirects (status 302 or 303) to base with the pairs names[i]=values[i]
 * (NULL values skipped, values URL-encoded) added to its query.
 * Errors: CID_ERR_TOOBIG (the location would be over 4 * CID_MAX_URI),
 * CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_reply_redirect(struct cid_reply *r, int status, const char *base,
					       const char *const *names, const char *const *values,
					       size_t n);

/*
 * Adds a Set-Cookie value for cookie which: "NAME=value; Path=P; HttpOnly;
 * SameSite=S" (P: the config's path_prefix, a tenant's, or "/") with
 * Max-Age unless max_age < 0, and, when the issuer is https, "; Secure" and
 * the __Host- (or, below a path, __Secure-) prefix in NAME (cid_cookie_name).
 * Errors: CID_ERR_TOOBIG when the reply has no room for another cookie,
 * CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_reply_cookie(struct cid_reply *r, const struct cid_config *cfg,
					     enum cid_cookie which, const char *value,
					     int64_t max_age);

/*
 * An error reply without a redirect: JSON {"error", "error_description"}
 * with the status, or (page) the HTML error page. On the page, description
 * is the message key of what went wrong and what to do ("err.*" in
 * web/messages, so the page is wholly in its language; the English text is
 * en.json's), in its data as "description" with "error" and "status"; a
 * page whose message has a "{}" puts the member "detail" there.
 * Errors: CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_reply_error_json(struct cid_reply *reply, int status,
						 const char *error, const char *description);
CID_MUST_CHECK enum cid_err cid_reply_error_page(struct cid_reply *reply, int status,
						 const char *error, const char *description,
						 const char *locale);

/*
 * A wait of seconds before the next attempt (a throttled login): sets the
 * reply's Retry-After and, in the page's data, "wait_key" (the message key
 * "login_wait_seconds", "login_wait_second", or from two minutes on
 * "login_wait_minutes", rounded up) and "wait_n" (its number), which the
 * page shows as "{{t:wait_key|wait_n}}". seconds below 1 count as 1.
 * Errors: CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_reply_wait(struct cid_reply *r, json_t *data, int64_t seconds);

/*
 * The page locale of ui_locales (a space-separated list in order of
 * preference, OIDC Core §3.1.2.1; may be NULL): the first of "ja" and "en" it
 * names, else default_locale when that is "en", else "ja". Static string.
 */
const char *cid_reply_locale(const char *ui_locales, const char *default_locale);

/*
 * The one rule of a page's language, "ja" or "en" (static), from the first
 * of these that names one of them:
 *   1. lang, the pages' own language switch (a list like ui_locales);
 *   2. ui_locales, the service's request (OIDC Core §3.1.2.1);
 *   3. cookie, the choice a switch remembered (CID_COOKIE_LANG: "ja" or "en");
 *   4. accept_language, the browser's Accept-Language (RFC 9110 §12.5.4): of
 *      ja and en (any subtag: ja-JP, en-GB) the one of the higher q; on equal
 *      q the one listed first; q=0 refuses it; "*" alone is no choice;
 *   5. default_locale ("en", else "ja").
 * Any argument may be NULL. Thread-safe.
 */
const char *cid_locale_pick(const char *lang, const char *ui_locales, const char *cookie,
			    const char *accept_language, const char *default_locale);

/*
 * cid_locale_pick for a page request: its "lang" and "ui_locales"
 * parameters, its language cookie and Accept-Language header, and cfg's
 * default_locale. Static string.
 */
const char *cid_request_locale(const struct cid_config *cfg, const struct cid_request *req);

/*
 * The browser's CSRF token into csrf: its CID_COOKIE_CSRF cookie when that is
 * a token, else a new one, set as a cookie in reply. One per browser, so
 * several login tabs can coexist; SameSite=Lax, so that arriving from a
 * service keeps it (a Strict cookie is not sent then, and a new token would
 * break the forms of other tabs). A cross-site POST still carries no token,
 * and each form's token must also match the one stored with its pending
 * request (oidc_step_begin) or be derived with the session (logout).
 * Errors: CID_ERR_CRYPTO, CID_ERR_TOOBIG, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_reply_csrf(struct cid_ctx *ctx, const struct cid_request *req,
					   struct cid_reply *reply, char csrf[CID_TOKEN_CHARS + 1]);

#endif
