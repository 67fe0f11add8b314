/*
 * reply: the request and reply every endpoint speaks, and their builders.
 *
 * A reply is built in place: each builder sets the members it names, so an
 * endpoint can add a cookie and then a page or a redirect. Every builder
 * that produces something a browser might keep (a JSON answer, a page, a
 * redirect) marks it no-store: answers here carry tokens, codes or personal
 * data, and none may be cached. Cookies are written from one table, so no
 * endpoint can set one without HttpOnly, its SameSite, or (under an https
 * issuer) Secure and the __Host- prefix.
 */
#include "reply.h"

#include "buf.h"
#include "crypto.h"

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
	free(r->frame_src);
	json_decref(r->page_data);
	cid_audit_pending_free(r->audit);
	memset(r, 0, sizeof(*r));
}

void cid_request_clear(struct cid_request *req)
{
	cid_params_clear(&req->params);
}

void cid_request_client_addr(const struct cid_ctx *ctx, const struct cid_request *req,
			     char out[CID_NETADDR_TEXT_MAX])
{
	cid_netaddr_client(cid_ctx_config(ctx)->trusted_proxies, req->remote_addr,
			   req->forwarded_for, req->forwarded, out);
}

enum cid_err cid_reply_json(struct cid_reply *r, int status, json_t *obj)
{
	enum cid_err rc = CID_OK;

	CID_ENSURE(obj != NULL, CID_ERR_NOMEM);
	r->body = cid_json_dumps(obj, JSON_COMPACT);
	CID_ENSURE(r->body != NULL, CID_ERR_NOMEM);
	r->body_len = strlen(r->body);
	r->status = status;
	r->content_type = "application/json";
	r->no_store = true;
out:
	json_decref(obj);
	return rc;
}

enum cid_err cid_reply_json_text(struct cid_reply *r, int status, struct cid_buf *b)
{
	enum cid_err rc = cid_buf_status(b);
	size_t len = 0;
	char *text = rc == CID_OK ? cid_buf_take(b, &len) : NULL;

	cid_buf_free(b);
	if (rc != CID_OK)
		return rc;
	if (text == NULL)
		return CID_ERR_NOMEM;
	free(r->body);
	r->body = text;
	r->body_len = len;
	r->status = status;
	r->content_type = "application/json";
	r->no_store = true;
	return CID_OK;
}

enum cid_err cid_reply_page(struct cid_reply *r, int status, enum cid_page page, json_t *data,
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

enum cid_err cid_reply_error_json(struct cid_reply *reply, int status, const char *error,
				  const char *description)
{
	return cid_reply_json(
	    reply, status,
	    json_pack("{s:s, s:s}", "error", error, "error_description", description));
}

enum cid_err cid_reply_error_page(struct cid_reply *reply, int status, const char *error,
				  const char *description, const char *locale)
{
	return cid_reply_page(reply, status, CID_PAGE_ERROR,
			      json_pack("{s:s, s:s, s:i}", "error", error, "description",
					description, "status", status),
			      locale);
}

enum cid_err cid_reply_redirect(struct cid_reply *r, int status, const char *base,
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

/* The cookies of reply.h: names without and with the __Host- prefix, SameSite. */
static const struct {
	const char *name;
	const char *host_name;
	const char *secure_name; /* an https issuer below a path (a tenant's): not __Host- */
	const char *same_site;
} cookies[] = {
    [CID_COOKIE_SESSION] = {"civicid_session", "__Host-civicid_session", "__Secure-civicid_session",
			    "Lax"},
    [CID_COOKIE_CSRF] = {"civicid_csrf", "__Host-civicid_csrf", "__Secure-civicid_csrf", "Lax"},
    [CID_COOKIE_OFFICER] = {"civicid_officer", "__Host-civicid_officer", "__Secure-civicid_officer",
			    "Strict"},
    [CID_COOKIE_LANG] = {"civicid_lang", "__Host-civicid_lang", "__Secure-civicid_lang", "Lax"},
};

static bool issuer_is_https(const struct cid_config *cfg)
{
	return strncmp(cfg->issuer, "https://", 8) == 0;
}

const char *cid_cookie_name(const struct cid_config *cfg, enum cid_cookie which)
{
	if (!issuer_is_https(cfg))
		return cookies[which].name;
	return cfg->path_prefix[0] == '\0' ? cookies[which].host_name : cookies[which].secure_name;
}

enum cid_err cid_reply_cookie(struct cid_reply *r, const struct cid_config *cfg,
			      enum cid_cookie which, const char *value, int64_t max_age)
{
	const char *path = cfg->path_prefix;
	struct cid_buf b;
	enum cid_err rc;

	if (r->n_cookies >= CID_REPLY_MAX_COOKIES)
		return CID_ERR_TOOBIG;
	cid_buf_init(&b, 1024);
	/*= RFC 6265bis §4.1.3.2: a __Host- cookie is set with Secure, from a secure
	 *# origin, without Domain, and with Path=/ */
	/* a tenant's issuer has a path (tenant.h): its cookies stay below it */
	cid_buf_printf(&b, "%s=%s; Path=%s; HttpOnly; SameSite=%s", cid_cookie_name(cfg, which),
		       value, path[0] == '\0' ? "/" : path, cookies[which].same_site);
	if (max_age >= 0)
		cid_buf_printf(&b, "; Max-Age=%lld", (long long)max_age);
	/* Secure whenever the issuer is https: the cookie must never travel in clear */
	if (issuer_is_https(cfg))
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

enum cid_err cid_reply_wait(struct cid_reply *r, json_t *data, int64_t seconds)
{
	int64_t n = seconds < 1 ? 1 : seconds;
	const char *key;

	if (n >= 120) {
		n = (n + 59) / 60;
		key = "login_wait_minutes";
	} else {
		key = n == 1 ? "login_wait_second" : "login_wait_seconds";
	}
	if (json_object_set_new(data, "wait_key", json_string(key)) != 0 ||
	    json_object_set_new(data, "wait_n", json_integer((json_int_t)n)) != 0)
		return CID_ERR_NOMEM;
	/*= RFC 9110 §10.2.3: Retry-After indicates how long the user agent ought to
	 *# wait before making a follow-up request */
	r->retry_after = seconds < 1 ? 1 : seconds;
	return CID_OK;
}

/* "ja" or "en" when the language tag at p (ending at one of the bytes of stops) is ours. */
static const char *our_tag(const char *p, const char *stops)
{
	bool end2 = p[0] != '\0' && p[1] != '\0' &&
		    (p[2] == '\0' || p[2] == '-' || strchr(stops, p[2]) != NULL);

	if (!end2)
		return NULL;
	if ((p[0] == 'j' || p[0] == 'J') && (p[1] == 'a' || p[1] == 'A'))
		return "ja";
	if ((p[0] == 'e' || p[0] == 'E') && (p[1] == 'n' || p[1] == 'N'))
		return "en";
	return NULL;
}

/* The first of ours in a space-separated list of language tags, or NULL. */
static const char *first_of_ours(const char *list)
{
	/*= OIDC Core §3.1.2.1: ui_locales is a space-separated list in order of preference */
	for (const char *p = list; p != NULL && *p != '\0';) {
		const char *tag;

		while (*p == ' ')
			p++;
		tag = our_tag(p, " ");
		if (tag != NULL)
			return tag;
		p = strchr(p, ' ');
	}
	return NULL;
}

const char *cid_reply_locale(const char *ui_locales, const char *default_locale)
{
	const char *tag = first_of_ours(ui_locales);

	if (tag != NULL)
		return tag;
	return default_locale != NULL && strcmp(default_locale, "en") == 0 ? "en" : "ja";
}

/* The q of an Accept-Language item's parameters at p (RFC 9110 §12.4.2), in thousandths. */
static int quality(const char *p, const char *end)
{
	int q = 1000;

	while (p < end) {
		while (p < end && (*p == ';' || *p == ' ' || *p == '\t'))
			p++;
		if (end - p >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
			p += 2;
			if (p < end && *p == '1')
				return 1000;
			if (p >= end || *p != '0')
				return 0; /* not a qvalue: as good as none */
			q = 0;
			p++;
			if (p < end && *p == '.') {
				int scale = 100;

				for (p++; p < end && *p >= '0' && *p <= '9' && scale > 0; p++) {
					q += (*p - '0') * scale;
					scale /= 10;
				}
			}
			return q;
		}
		while (p < end && *p != ';')
			p++;
	}
	return q;
}

/* The one of ours Accept-Language prefers, or NULL. */
static const char *accepted(const char *header)
{
	const char *best = NULL;
	int best_q = 0;
	size_t items = 0;

	for (const char *p = header; p != NULL && *p != '\0' && items < 64; items++) {
		const char *end = strchr(p, ',');
		const char *params;
		const char *tag;
		int q;

		if (end == NULL)
			end = p + strlen(p);
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		params = memchr(p, ';', (size_t)(end - p));
		tag = our_tag(p, ";, \t");
		q = quality(params == NULL ? end : params, end);
		/*= RFC 9110 §12.4.2: a weight of 0 means "not acceptable" */
		if (tag != NULL && q > best_q) {
			best = tag;
			best_q = q;
		}
		p = *end == ',' ? end + 1 : end;
	}
	return best;
}

const char *cid_locale_pick(const char *lang, const char *ui_locales, const char *cookie,
			    const char *accept_language, const char *default_locale)
{
	const char *tag = first_of_ours(lang);

	if (tag == NULL)
		tag = first_of_ours(ui_locales);
	if (tag == NULL && cookie != NULL &&
	    (strcmp(cookie, "ja") == 0 || strcmp(cookie, "en") == 0))
		tag = strcmp(cookie, "en") == 0 ? "en" : "ja";
	if (tag == NULL)
		tag = accepted(accept_language);
	return tag != NULL ? tag : cid_reply_locale(NULL, default_locale);
}

const char *cid_request_locale(const struct cid_config *cfg, const struct cid_request *req)
{
	return cid_locale_pick(cid_params_get(&req->params, "lang"),
			       cid_params_get(&req->params, "ui_locales"), req->lang_cookie,
			       req->accept_language, cfg->default_locale);
}

bool cid_request_is_token(const char *s)
{
	unsigned char raw[CID_TOKEN_BYTES];
	size_t n;

	/* the strict decoder also refuses non-zero trailing bits: one spelling per token */
	return s != NULL && strnlen(s, CID_TOKEN_CHARS + 1) == CID_TOKEN_CHARS &&
	       cid_b64url_decode(s, CID_TOKEN_CHARS, raw, sizeof(raw), &n) == CID_OK &&
	       n == sizeof(raw);
}

enum cid_err cid_reply_csrf(struct cid_ctx *ctx, const struct cid_request *req,
			    struct cid_reply *reply, char csrf[CID_TOKEN_CHARS + 1])
{
	enum cid_err rc = CID_OK;

	if (cid_request_is_token(req->csrf_cookie)) {
		memcpy(csrf, req->csrf_cookie, CID_TOKEN_CHARS + 1);
		return CID_OK;
	}
	CID_TRY(cid_random_token(csrf));
	CID_TRY(cid_reply_cookie(reply, cid_ctx_config(ctx), CID_COOKIE_CSRF, csrf, -1));
out:
	return rc;
}

enum cid_run cid_endpoint_run(const struct cid_endpoint *e, const struct cid_request *req)
{
	if (e->run == CID_RUN_WRITES && e->reads_only != NULL && e->reads_only(req))
		return CID_RUN_READS;
	return e->run;
}
