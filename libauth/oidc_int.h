/*
 * oidc_int: what the oidc_*.c files share: reply builders and client
 * authentication. Not part of the public API.
 */
#ifndef CID_OIDC_INT_H
#define CID_OIDC_INT_H

#include "client.h"
#include "oidc.h"
#include "release.h"

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

/* Adds a Set-Cookie value "name=value; attrs"; max_age < 0 omits Max-Age. */
enum cid_err oidc_reply_cookie(struct cid_reply *r, const struct cid_config *cfg, const char *name,
			       const char *value, int64_t max_age, const char *same_site);

/*
 * Authenticates the client of a token, introspection or revocation request
 * (client_secret_basic, client_secret_post, or none for public clients). On
 * failure fills reply with the RFC 6749 §5.2 error and returns CID_ERR_DENIED;
 * on success *client is the client (free with cid_client_free).
 */
enum cid_err oidc_client_auth(struct cid_ctx *ctx, const struct cid_request *req,
			      struct cid_reply *reply, struct cid_client **client);

/* Fills reply with 401 invalid_client and a WWW-Authenticate: Basic challenge. */
enum cid_err oidc_invalid_client(struct cid_reply *reply, const char *description);

/* The locale of a request: the first of ui_locales that we have, else the default. */
const char *oidc_locale(const char *ui_locales, const char *default_locale);

/*
 * The single call site of cid_release_claims (release.h): the claims of the
 * grant's citizen for client and target, added to out.
 */
enum cid_err oidc_release(const struct cid_client *client, json_t *citizen, const json_t *grant,
			  enum cid_release_target target, json_t *out);

#endif
