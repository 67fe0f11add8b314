/*
 * client: relying parties (the city's services) and client authentication.
 *
 * A client record (CID_DB_CLIENTS, key = client_id) is a JSON object:
 *   {"client_id", "name", "type": "confidential"|"public",
 *    "secret_hash" (confidential only: cid_secret_hash of the secret),
 *    "redirect_uris": [...], "post_logout_redirect_uris": [...],
 *    "scopes": "openid profile ...", "grant_types": [...],
 *    "id_token_signed_response_alg": "ES256"|"RS256",
 *    "subject_type": "pairwise"|"public", "sector_identifier": host,
 *    "created_at"}
 * Redirect URIs match exactly, byte for byte (RFC 9700 §2.1); they must be
 * absolute https URIs, or http on a loopback host (RFC 8252 §7.3), without a
 * fragment. Public clients must use PKCE and cannot use client_credentials.
 * The sector identifier (OIDC Core §8.1) is the host shared by all redirect URIs.
 * Thread-safe.
 */
#ifndef CID_CLIENT_H
#define CID_CLIENT_H

#include "bounds.h"
#include "err.h"
#include "store.h"

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
};

/*
 * Checks a redirect or post-logout URI: absolute, https (or http with host
 * 127.0.0.1, [::1] or localhost), nothing in the authority but the host and
 * a numeric port, no fragment, no userinfo, UTF-8, at most CID_MAX_URI bytes.
 * Errors: CID_ERR_INVALID, CID_ERR_TOOBIG, CID_ERR_UTF8.
 */
CID_MUST_CHECK enum cid_err cid_client_check_uri(const char *uri);

/*
 * Registers a client. For a confidential client a new secret is generated, its
 * hash stored, and the secret returned in *secret_out (caller frees with free()
 * after wiping it; shown once, never stored). For public clients *secret_out is
 * NULL. *client_id_out (caller frees) is the client_id used.
 * Errors: CID_ERR_INVALID (bad URI, scope, alg, grant type, public client with
 * client_credentials, redirect URIs on different hosts under pairwise),
 * CID_ERR_EXISTS, CID_ERR_STORE, CID_ERR_CRYPTO, CID_ERR_NOMEM.
 */
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
