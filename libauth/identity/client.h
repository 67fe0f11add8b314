/*
 * client: relying parties (the city's services) and client authentication.
 *
 * A client record (CID_DB_CLIENTS, key = client_id) is a JSON object:
 *   {"client_id", "name", "type": "confidential"|"public",
 *    "secret_hash" (confidential only: cid_secret_hash of the secret),
 *    "redirect_uris": [...], "post_logout_redirect_uris": [...],
 *    "scopes": "openid profile ...", "grant_types": [...],
 *    "id_token_signed_response_alg": "ES256"|"RS256",
 *    "subject_type": "pairwise"|"public", "sector_identifier",
 *    "sector_identifier_uri" (only when registered with one),
 *    "backchannel_logout_uri", "backchannel_logout_session_required": bool,
 *    "frontchannel_logout_uri", "frontchannel_logout_session_required": bool
 *    (each only when registered), "created_at"}
 * Redirect URIs match exactly, byte for byte (RFC 9700 §2.1); they must be
 * absolute https URIs, or http on a loopback host (RFC 8252 §7.3), without a
 * fragment. Public clients must use PKCE and cannot use client_credentials.
 * The logout URIs (OpenID Connect Back-Channel Logout 1.0 §2.2, Front-Channel
 * Logout 1.0 §2) follow the same rules, and their origin must be one a
 * Content-Security-Policy can name (cid_client_origin).
 *
 * The sector identifier keys pairwise subjects (OIDC Core §8.1). It is decided
 * once, at registration (cid_client_sector), and stored: the host of the
 * sector_identifier_uri when one is registered, else the host:port shared by
 * all redirect URIs ("client:ID" for a client without any). A stored sector is
 * never derived again, so a rule change cannot move existing subjects; a
 * record written without one (none are) gets the first redirect URI's host,
 * without port, as registration derived it before ports counted.
 * Thread-safe.
 */
#ifndef CID_CLIENT_H
#define CID_CLIENT_H

#include "bounds.h"
#include "err.h"
#include "store.h"
#include "str.h"

#include <jansson.h>
#include <stdbool.h>

/* A parsed client, immutable once loaded. Free with cid_client_free. */
struct cid_client {
	char *client_id;
	char *name;
	bool is_public;
	char secret_hash[CID_HASH_HEX + 1]; /* "" for public clients */
	char **redirect_uris;
	size_t n_redirect_uris;
	char **post_logout_uris;
	size_t n_post_logout_uris;
	char *scopes;	 /* allowed scopes, space separated */
	bool allow_code; /* grant types */
	bool allow_refresh;
	bool allow_client_credentials;
	char id_token_alg[8]; /* "ES256" or "RS256" */
	bool pairwise;	      /* subject_type */
	char *sector;	      /* sector identifier */
	/* single logout: where the service hears that a session ended; NULL: nowhere */
	char *backchannel_logout_uri;
	bool backchannel_logout_session_required; /* wants "sid" in logout tokens */
	char *frontchannel_logout_uri;
	bool frontchannel_logout_session_required; /* wants "iss" and "sid" in the URL */
};

/* What an operator gives to register a client (all strings borrowed). */
struct cid_client_spec {
	const char *client_id; /* NULL: generate one */
	const char *name;
	bool is_public;
	const char *const *redirect_uris;
	size_t n_redirect_uris;
	const char *const *post_logout_uris;
	size_t n_post_logout_uris;
	const char *scopes;	  /* NULL: "openid" */
	const char *grant_types;  /* space separated; NULL: "authorization_code refresh_token" */
	const char *id_token_alg; /* NULL: "ES256" */
	const char *subject_type; /* NULL: "pairwise" */
	/* NULL, or the https URL of a JSON array listing every redirect URI,
	 * fetched at registration (OIDC Core §8.1); its host is the sector */
	const char *sector_identifier_uri;
	/* NULL, or where the service is told of a logout (cid_client_check_uri) */
	const char *backchannel_logout_uri;
	bool backchannel_logout_session_required; /* only with backchannel_logout_uri */
	const char *frontchannel_logout_uri;
	bool frontchannel_logout_session_required; /* only with frontchannel_logout_uri */
};

/*
 * Checks a redirect or post-logout URI: absolute, https (or http with host
 * 127.0.0.1, [::1] or localhost), nothing in the authority but the host and
 * a port (1 to 65535, or empty), no fragment, no userinfo, UTF-8, at most
 * CID_MAX_URI bytes.
 * Errors: CID_ERR_INVALID, CID_ERR_TOOBIG, CID_ERR_UTF8.
 */
CID_MUST_CHECK enum cid_err cid_client_check_uri(const char *uri);

/*
 * The origin of uri, an absolute http(s) URI, as a Content-Security-Policy
 * source names it: scheme "://" host, lower-cased, and ":port" when a port
 * is given that is not the scheme's default, into out. The host must be a
 * name of letters, digits, '-' and '.', or a bracketed IPv6 address, so the
 * origin can go into a header as it is. Touches nothing.
 * Errors: CID_ERR_INVALID (no such origin), CID_ERR_TOOBIG (over CID_MAX_URI).
 */
CID_MUST_CHECK enum cid_err cid_client_origin(const char *uri, char out[CID_MAX_URI + 1]);

/*
 * The sector identifier of a client (OIDC Core §8.1), into out. Touches
 * nothing, fetches nothing.
 * With sector_uri NULL: the host and port shared by every redirect URI (each
 * already passed cid_client_check_uri): the host lower-cased, ":port" only
 * when it is not the scheme's default ("a.example", "127.0.0.1:3001"). Two
 * services on one host but different ports are different sectors.
 * With sector_uri: it must pass cid_client_check_uri (https, or http on
 * loopback), doc (its fetched body) must be a JSON array of strings, at most
 * CID_MAX_SECTOR_DOC bytes, listing every redirect URI byte for byte, and the
 * sector is sector_uri's host, lower-cased, without port.
 * On failure, when why is not NULL, why[whysz] says what is wrong.
 * Errors: CID_ERR_NOTFOUND (no sector_uri and no redirect URI), CID_ERR_INVALID
 * (redirect URIs on several host:ports without a sector_uri, a malformed port,
 * a bad sector_uri, doc not a JSON array of strings or missing a redirect
 * URI), CID_ERR_TOOBIG (doc over CID_MAX_SECTOR_DOC, a sector over
 * CID_MAX_SECTOR).
 */
CID_MUST_CHECK enum cid_err cid_client_sector(const char *const *redirect_uris, size_t n,
					      const char *sector_uri, struct cid_str doc,
					      char out[CID_MAX_SECTOR + 1], char *why,
					      size_t whysz);

/*
 * Registers a client. For a confidential client a new secret is generated, its
 * hash stored, and the secret returned in *secret_out (caller frees with free()
 * after wiping it; shown once, never stored). For public clients *secret_out is
 * NULL. *client_id_out (caller frees) is the client_id used.
 * With spec->sector_identifier_uri, the document is fetched (http_fetch.h, at
 * most CID_MAX_SECTOR_DOC bytes, CID_FETCH_TIMEOUT_MS) and checked by
 * cid_client_sector before anything is stored. A pairwise client whose
 * redirect URIs name several host:ports needs one; a public-subject client
 * without one takes its first redirect URI's sector.
 * On a refused sector or logout URI or a failed fetch, when why is not NULL,
 * why[whysz] says what is wrong (else it is left empty).
 * Errors: CID_ERR_INVALID (bad URI, scope, alg, grant type, public client with
 * client_credentials, the sector rules of cid_client_sector, a logout URI
 * without an origin (cid_client_origin), a *_session_required without its
 * URI), CID_ERR_TOOBIG,
 * CID_ERR_IO (the sector identifier document could not be fetched),
 * CID_ERR_EXISTS, CID_ERR_STORE, CID_ERR_CRYPTO, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_client_register(struct cid_store *s,
						const struct cid_client_spec *spec, int64_t now,
						char **client_id_out, char **secret_out, char *why,
						size_t whysz);

/* cid_client_register without the explanation. */
CID_MUST_CHECK enum cid_err cid_client_add(struct cid_store *s, const struct cid_client_spec *spec,
					   int64_t now, char **client_id_out, char **secret_out);

/*
 * Loads a client. *out is freed with cid_client_free.
 * Errors: CID_ERR_NOTFOUND, CID_ERR_INVALID (client_id malformed),
 * CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_client_get(struct cid_store *s, const char *client_id,
					   struct cid_client **out);
CID_MUST_CHECK enum cid_err cid_client_get_txn(struct cid_txn *txn, const char *client_id,
					       struct cid_client **out);

void cid_client_free(struct cid_client *c);

/* The stored record without "secret_hash", for listing. *out: new reference. */
CID_MUST_CHECK enum cid_err cid_client_show(struct cid_store *s, const char *client_id,
					    json_t **out);

/* All clients as an array of cid_client_show objects, by client_id. */
CID_MUST_CHECK enum cid_err cid_client_list(struct cid_store *s, json_t **out);

/* Removes a client. Errors: CID_ERR_NOTFOUND, CID_ERR_STORE. */
CID_MUST_CHECK enum cid_err cid_client_remove(struct cid_store *s, const char *client_id);

/*
 * Authenticates a client at the token, introspection or revocation endpoint.
 * secret is NULL when none was presented. A confidential client must present
 * its secret (compared in constant time against the stored hash); a public
 * client must present none. *out (freed with cid_client_free) is the client.
 * Errors: CID_ERR_DENIED (unknown client, wrong or missing secret, secret sent
 * by a public client: the same error for all, RFC 6749 invalid_client);
 * CID_ERR_STORE, CID_ERR_NOMEM (no verdict: the client could not be read).
 */
CID_MUST_CHECK enum cid_err cid_client_authenticate(struct cid_store *s, const char *client_id,
						    const char *secret, struct cid_client **out);

/* True if uri is registered for c, byte for byte. */
bool cid_client_redirect_ok(const struct cid_client *c, const char *uri);

/* True if uri is a registered post-logout redirect URI of c. */
bool cid_client_post_logout_ok(const struct cid_client *c, const char *uri);

/* True if every space-separated scope in scope is allowed for c. */
bool cid_client_scope_ok(const struct cid_client *c, const char *scope);

#endif
