/*
 * oidc: replies, errors, discovery/JWKS and client authentication, shared by
 * the endpoint files (oidc_authorize.c, oidc_token.c, oidc_logout.c).
 */
#include "oidc.h"

#include "bounds.h"
#include "buf.h"
#include "crypto.h"
#include "oidc_int.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cid_reply_free(struct cid_reply *r)
{
	if (r == NULL)
		return;
	free(r->body);
	free(r->location);
	for (size_t i = 0; i < r->n_cookies; i++) {
		cid_wipe(r->cookies[i], strlen(r->cookies[i]));
		free(r->cookies[i]);
	}
	free(r->www_authenticate);
	free(r->release);
	json_decref(r->page_data);
	memset(r, 0, sizeof(*r));
}

void cid_request_clear(struct cid_request *req)
{
	cid_params_clear(&req->params);
}

enum cid_err oidc_reply_json(struct cid_reply *r, int status, json_t *obj)
{
	enum cid_err rc = CID_OK;

	CID_ENSURE(obj != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_json_dumps(obj, JSON_COMPACT, &r->body, &r->body_len));
	r->status = status;
	r->content_type = "application/json";
	r->no_store = true;
out:
	json_decref(obj);
	return rc;
}

enum cid_err oidc_reply_page(struct cid_reply *r, int status, enum cid_page page, json_t *data,
			     const char *locale)
{
	if (data == NULL)
		return CID_ERR_NOMEM;
	r->status = status;
	r->page = page;
	json_decref(r->page_data);
	r->page_data = data;
	/* a static string: callers pass locales borrowed from JSON they free before
	 * the reply is rendered */
	r->locale = locale != NULL && strcmp(locale, "en") == 0 ? "en" : "ja";
	r->no_store = true;
	return CID_OK;
}

enum cid_err cid_oidc_error_json(struct cid_reply *reply, int status, const char *error,
				 const char *description)
{
	return oidc_reply_json(
	    reply, status,
	    json_pack("{s:s, s:s}", "error", error, "error_description", description));
}

enum cid_err cid_oidc_error_page(struct cid_reply *reply, int status, const char *error,
				 const char *description, const char *locale)
{
	return oidc_reply_page(reply, status, CID_PAGE_ERROR,
			       json_pack("{s:s, s:s, s:i}", "error", error, "description",
					 description, "status", status),
			       locale);
}

enum cid_err oidc_reply_redirect(struct cid_reply *r, int status, const char *base,
				 const char *const *names, const char *const *values, size_t n)
{
	struct cid_buf b;
	char sep = strchr(base, '?') == NULL ? '?' : '&';
	enum cid_err rc;

	cid_buf_init(&b, (size_t)CID_MAX_URI * 4);
	cid_buf_puts(&b, base);
	for (size_t i = 0; i < n; i++) {
		if (values[i] == NULL)
			continue;
		cid_buf_append(&b, &sep, 1);
		cid_buf_puts(&b, names[i]);
		cid_buf_puts(&b, "=");
		cid_buf_append_urlenc(&b, values[i], strlen(values[i]));
		sep = '&';
	}
	rc = cid_buf_status(&b);
	if (rc != CID_OK) {
		cid_buf_free(&b);
		return rc; /* too big, or out of memory: the buffer knows which */
	}
	free(r->location);
	r->location = cid_buf_take(&b, NULL);
	r->status = status;
	r->no_store = true;
	return r->location == NULL ? CID_ERR_NOMEM : CID_OK;
}

enum cid_err oidc_reply_cookie(struct cid_reply *r, const struct cid_config *cfg, const char *name,
			       const char *value, const char *path, int64_t max_age,
			       const char *same_site)
{
	struct cid_buf b;
	enum cid_err rc;

	if (r->n_cookies >= CID_REPLY_MAX_COOKIES)
		return CID_ERR_TOOBIG;
	cid_buf_init(&b, 1024);
	cid_buf_printf(&b, "%s=%s; Path=%s; HttpOnly; SameSite=%s", name, value, path, same_site);
	if (max_age >= 0)
		cid_buf_printf(&b, "; Max-Age=%lld", (long long)max_age);
	/* Secure whenever the issuer is https: the cookie must never travel in clear */
	if (strncmp(cfg->issuer, "https://", 8) == 0)
		cid_buf_puts(&b, "; Secure");
	rc = cid_buf_status(&b);
	if (rc != CID_OK) {
		cid_buf_free(&b);
		return rc; /* too big, or out of memory: the buffer knows which */
	}
	r->cookies[r->n_cookies] = cid_buf_take(&b, NULL);
	if (r->cookies[r->n_cookies] == NULL)
		return CID_ERR_NOMEM;
	r->n_cookies++;
	return CID_OK;
}

const char *oidc_locale(const char *ui_locales, const char *default_locale)
{
	/*= OIDC Core §3.1.2.1: ui_locales is a space-separated list in order of preference */
	for (const char *p = ui_locales; p != NULL && *p != '\0';) {
		while (*p == ' ')
			p++;
		if ((p[0] == 'j' || p[0] == 'J') && (p[1] == 'a' || p[1] == 'A') &&
		    (p[2] == '\0' || p[2] == ' ' || p[2] == '-'))
			return "ja";
		if ((p[0] == 'e' || p[0] == 'E') && (p[1] == 'n' || p[1] == 'N') &&
		    (p[2] == '\0' || p[2] == ' ' || p[2] == '-'))
			return "en";
		p = strchr(p, ' ');
	}
	return default_locale != NULL && strcmp(default_locale, "en") == 0 ? "en" : "ja";
}

const char *oidc_auth_locale(const json_t *auth)
{
	const char *l = cid_json_str(auth, "ui_locale");

	return l != NULL && strcmp(l, "en") == 0 ? "en" : "ja";
}

bool oidc_is_token(const char *s)
{
	unsigned char raw[CID_TOKEN_BYTES];
	size_t n;

	/* the strict decoder also refuses non-zero trailing bits: one spelling per token */
	return s != NULL && strnlen(s, CID_TOKEN_CHARS + 1) == CID_TOKEN_CHARS &&
	       cid_b64url_decode(s, CID_TOKEN_CHARS, raw, sizeof(raw), &n) == CID_OK &&
	       n == sizeof(raw);
}

enum cid_err oidc_csrf(struct cid_ctx *ctx, const struct cid_request *req, struct cid_reply *reply,
		       char csrf[CID_TOKEN_CHARS + 1])
{
	enum cid_err rc = CID_OK;

	if (oidc_is_token(req->csrf_cookie)) {
		memcpy(csrf, req->csrf_cookie, CID_TOKEN_CHARS + 1);
		return CID_OK;
	}
	CID_TRY(cid_random_token(csrf));
	CID_TRY(oidc_reply_cookie(reply, cid_ctx_config(ctx), CID_COOKIE_CSRF, csrf, "/", -1,
				  "Strict"));
out:
	return rc;
}

enum cid_err cid_oidc_parse_basic(const char *header, char **id, char **secret)
{
	enum cid_err rc = CID_OK;
	unsigned char raw[CID_MAX_HEADER];
	const char *p;
	size_t n;
	int len;
	const char *colon;
	char *i = NULL;
	char *s = NULL;
	size_t il;
	size_t sl;

	CID_ENSURE(header != NULL && strncasecmp(header, "Basic ", 6) == 0, CID_ERR_INVALID);
	p = header + 6;
	while (*p == ' ')
		p++;
	n = strnlen(p, CID_MAX_HEADER);
	CID_ENSURE(n < CID_MAX_HEADER, CID_ERR_TOOBIG);
	CID_ENSURE(n > 0 && n % 4 == 0, CID_ERR_INVALID);
	len = EVP_DecodeBlock(raw, (const unsigned char *)p, (int)n);
	CID_ENSURE(len > 0, CID_ERR_INVALID);
	/* EVP_DecodeBlock counts padding bytes as zeros: drop them */
	if (p[n - 1] == '=')
		len--;
	if (p[n - 2] == '=')
		len--;
	colon = memchr(raw, ':', (size_t)len);
	CID_ENSURE(colon != NULL && colon != (const char *)raw, CID_ERR_INVALID);
	/*= RFC 6749 §2.3.1: the client identifier and password are encoded using the
	 *# "application/x-www-form-urlencoded" encoding algorithm */
	CID_TRY(
	    cid_url_decode((const char *)raw, (size_t)(colon - (const char *)raw), true, &i, &il));
	CID_TRY(cid_url_decode(colon + 1, (size_t)len - (size_t)(colon + 1 - (const char *)raw),
			       true, &s, &sl));
	CID_ENSURE(il > 0 && cid_utf8_valid(i, il) && cid_utf8_valid(s, sl), CID_ERR_INVALID);
	*id = i;
	*secret = s;
	i = NULL;
	s = NULL;
out:
	cid_wipe(raw, sizeof(raw));
	free(i);
	if (s != NULL) {
		cid_wipe(s, strlen(s));
		free(s);
	}
	return rc;
}

enum cid_err oidc_invalid_client(struct cid_reply *reply, const char *description)
{
	/*= RFC 6749 §5.2: invalid_client ... 401; RFC 9110 §15.5.2: a 401 response
	 *# MUST send a WWW-Authenticate header field */
	free(reply->www_authenticate);
	reply->www_authenticate = strdup("Basic realm=\"civicid\"");
	if (reply->www_authenticate == NULL)
		return CID_ERR_NOMEM;
	return cid_oidc_error_json(reply, 401, "invalid_client", description);
}

enum cid_err oidc_client_auth(struct cid_ctx *ctx, const struct cid_request *req,
			      struct cid_reply *reply, struct cid_client **client)
{
	enum cid_err rc = CID_OK;
	char *basic_id = NULL;
	char *basic_secret = NULL;
	const char *id = cid_params_get(&req->params, "client_id");
	const char *secret = cid_params_get(&req->params, "client_secret");

	if (req->authorization != NULL) {
		/*= RFC 6749 §2.3: the client MUST NOT use more than one authentication method */
		if (secret != NULL)
			return cid_oidc_error_json(
				   reply, 400, "invalid_request",
				   "use either HTTP Basic or client_secret, not both") == CID_OK
				   ? CID_ERR_DENIED
				   : CID_ERR_NOMEM;
		rc = cid_oidc_parse_basic(req->authorization, &basic_id, &basic_secret);
		if (rc == CID_ERR_NOMEM)
			goto out;
		if (rc != CID_OK || (id != NULL && strcmp(id, basic_id) != 0))
			goto fail;
		id = basic_id;
		secret = basic_secret;
	} else if (id == NULL) {
		goto fail;
	}
	rc = cid_client_authenticate(cid_ctx_store(ctx), id, secret, client);
	if (rc != CID_ERR_DENIED)
		goto out; /* authenticated, or no verdict (the endpoint answers 500) */
fail:
	CID_TRY(oidc_invalid_client(reply, "client authentication failed"));
	rc = CID_ERR_DENIED;
out:
	free(basic_id);
	if (basic_secret != NULL) {
		cid_wipe(basic_secret, strlen(basic_secret));
		free(basic_secret);
	}
	return rc;
}

enum cid_err oidc_release(struct cid_ctx *ctx, const struct cid_policyset *ps,
			  const struct cid_client *client, const json_t *citizen,
			  const json_t *grant, enum cid_release_target target, int64_t now,
			  json_t *out, struct cid_reply *reply)
{
	enum cid_err rc = CID_OK;
	char request_id[CID_ID_CHARS + 1];
	struct cid_audit_range range = {0};
	struct cid_release_request rq = {
	    .policies = ps,
	    .service = client->client_id,
	    .account_id = json_string_value(json_object_get(grant, "account_id")),
	    .citizen = citizen,
	    .scope = json_string_value(json_object_get(grant, "scope")),
	    .claims_request = json_object_get(grant, "claims"),
	    .level = cid_release_level(json_string_value(json_object_get(grant, "acr"))),
	    .now = now,
	    .request_id = request_id,
	    .grant_id = cid_json_str(grant, "grant_id"),
	    .range = &range,
	};

	CID_TRY(cid_random_uuid(request_id));
	cid_ctx_audit_hook(ctx, &rq.audit, &rq.audit_arg);
	CID_TRY(cid_store_read_begin(cid_ctx_store(ctx), &rq.txn));
	CID_TRY(cid_release_claims(&rq, target, out));
	if (range.count > 0) {
		char buf[CID_ID_CHARS + 48];

		snprintf(buf, sizeof(buf), "%s %" PRIu64 "-%" PRIu64, request_id, range.first,
			 range.last);
		free(reply->release);
		reply->release = strdup(buf);
		CID_ENSURE(reply->release != NULL, CID_ERR_NOMEM);
	}
out:
	cid_store_read_end(rq.txn);
	return rc;
}

static enum cid_err static_doc(struct cid_reply *reply, const char *doc, size_t len)
{
	reply->body = malloc(len + 1);
	if (reply->body == NULL)
		return CID_ERR_NOMEM;
	memcpy(reply->body, doc, len + 1);
	reply->body_len = len;
	reply->status = 200;
	reply->content_type = "application/json";
	return CID_OK;
}

enum cid_err cid_oidc_discovery(struct cid_ctx *ctx, struct cid_reply *reply)
{
	size_t len;
	const char *doc = cid_ctx_discovery(ctx, &len);

	return static_doc(reply, doc, len);
}

enum cid_err cid_oidc_jwks(struct cid_ctx *ctx, struct cid_reply *reply)
{
	struct cid_keyref *ref = cid_ctx_keys_acquire(ctx);
	size_t len;
	const char *doc = cid_keyset_jwks(cid_keyref_keyset(ref), &len);
	enum cid_err rc = static_doc(reply, doc, len);

	cid_keyref_put(ref);
	return rc;
}
