/*
 * http_fetch: GET one document, or POST one, with libcurl, under limits. The URL is parsed
 * once, by libcurl's own parser, and that parsed handle is what the transfer
 * uses: the scheme and host we check are the ones libcurl connects to. The
 * body grows in a buffer that refuses to pass the limit (libcurl also refuses
 * early when Content-Length announces more); no content encoding is asked for,
 * so what counts against the limit is what arrives.
 */
#include "http_fetch.h"

#include "bounds.h"
#include "str.h"

#include <curl/curl.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct sink {
	char *buf;
	size_t len;
	size_t cap;
	size_t max;
	bool toobig;
	bool nomem;
};

/* libcurl's write callback: appends, or stops the transfer at the limit. */
static size_t sink_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct sink *s = arg;
	size_t n = size * nmemb; /* libcurl documents size as always 1 */

	if (size != 1 || n > s->max - s->len) {
		s->toobig = true;
		return 0;
	}
	if (s->len + n + 1 > s->cap) {
		size_t cap = s->cap == 0 ? 4096 : s->cap;
		char *p;

		while (cap < s->len + n + 1)
			cap *= 2;
		if (cap > s->max + 1)
			cap = s->max + 1;
		p = realloc(s->buf, cap);
		if (p == NULL) {
			s->nomem = true;
			return 0;
		}
		s->buf = p;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, data, n);
	s->len += n;
	return n;
}

/* Parses url into u and checks scheme, host and userinfo; *https says which scheme. */
static enum cid_err url_check(CURLU *u, const char *url, bool *https, char *why, size_t whysz)
{
	enum cid_err rc = CID_OK;
	char *scheme = NULL;
	char *host = NULL;
	char *user = NULL;

	CID_ENSURE(url != NULL && strlen(url) <= CID_MAX_URI, CID_ERR_INVALID);
	CID_ENSURE(curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK, CID_ERR_INVALID);
	CID_ENSURE(curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
		       curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK,
		   CID_ERR_INVALID);
	/* credentials in a URL end up in logs; "https://good@evil" misleads readers */
	CID_ENSURE(curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_NO_USER, CID_ERR_INVALID);
	*https = strcmp(scheme, "https") == 0;
	CID_ENSURE(*https || (strcmp(scheme, "http") == 0 && cid_http_loopback_host(host)),
		   CID_ERR_INVALID);
out:
	if (rc != CID_OK)
		cid_err_why(why, whysz, "not an https URL (plain http only to a loopback host)");
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	return rc;
}

/* The error of a finished transfer: what libcurl said, the sink's state (not the status). */
static enum cid_err transfer_outcome(CURLcode cc, const struct sink *s, const char *curl_err,
				     char *why, size_t whysz)
{
	if (s->nomem || cc == CURLE_OUT_OF_MEMORY)
		return CID_ERR_NOMEM;
	if (s->toobig || cc == CURLE_FILESIZE_EXCEEDED) {
		cid_err_why(why, whysz, "the document is larger than %zu bytes", s->max);
		return CID_ERR_TOOBIG;
	}
	if (cc == CURLE_UNSUPPORTED_PROTOCOL) {
		cid_err_why(why, whysz, "redirected to a URL that is not https");
		return CID_ERR_IO;
	}
	if (cc != CURLE_OK) {
		cid_err_why(why, whysz, "%s",
			    curl_err[0] != '\0' ? curl_err : curl_easy_strerror(cc));
		return CID_ERR_IO;
	}
	return CID_OK;
}

/* transfer_outcome, and only 200 is success. */
static enum cid_err outcome(CURL *h, CURLcode cc, const struct sink *s, const char *curl_err,
			    char *why, size_t whysz)
{
	long status = 0;
	enum cid_err rc = transfer_outcome(cc, s, curl_err, why, whysz);

	if (rc != CID_OK)
		return rc;
	if (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK || status != 200) {
		cid_err_why(why, whysz, "HTTP status %ld", status);
		return CID_ERR_IO;
	}
	return CID_OK;
}

/* The options of every transfer: the parsed URL, its scheme, the limits, TLS checks, the sink. */
static enum cid_err options(CURL *h, CURLU *u, bool https, const struct cid_fetch_limits *lim,
			    struct sink *s, char *curl_err)
{
	/* every option is checked: one silently ignored could lift a limit */
	if (curl_easy_setopt(h, CURLOPT_CURLU, u) == CURLE_OK &&
	    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, https ? "https" : "http,https") ==
		CURLE_OK &&
	    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "https") == CURLE_OK &&
	    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, lim->connect_timeout_ms) == CURLE_OK &&
	    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, lim->timeout_ms) == CURLE_OK &&
	    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)lim->max_bytes) ==
		CURLE_OK &&
	    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK &&
	    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK &&
	    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
	    curl_easy_setopt(h, CURLOPT_USERAGENT, "civicid") == CURLE_OK &&
	    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_err) == CURLE_OK &&
	    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink_write) == CURLE_OK &&
	    curl_easy_setopt(h, CURLOPT_WRITEDATA, s) == CURLE_OK)
		return CID_OK;
	return CID_ERR_NOMEM;
}

/* Hands the sink's bytes over as a NUL-terminated string. */
static enum cid_err sink_take(struct sink *s, char **body, size_t *len)
{
	if (s->buf == NULL) { /* an empty body */
		s->buf = malloc(1);
		if (s->buf == NULL)
			return CID_ERR_NOMEM;
	}
	s->buf[s->len] = '\0';
	*body = s->buf;
	*len = s->len;
	s->buf = NULL;
	return CID_OK;
}

enum cid_err cid_http_fetch(const char *url, const struct cid_fetch_limits *lim, char **body,
			    size_t *len, char *why, size_t whysz)
{
	enum cid_err rc = CID_OK;
	struct sink s = {.max = lim->max_bytes};
	char curl_err[CURL_ERROR_SIZE] = "";
	CURLU *u = curl_url();
	CURL *h = curl_easy_init();
	bool https = false;
	CURLcode cc;

	CID_ENSURE(u != NULL && h != NULL, CID_ERR_NOMEM);
	CID_TRY(url_check(u, url, &https, why, whysz));
	CID_TRY(options(h, u, https, lim, &s, curl_err));
	CID_ENSURE(curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L) == CURLE_OK &&
		       curl_easy_setopt(h, CURLOPT_MAXREDIRS, (long)CID_FETCH_MAX_REDIRS) ==
			   CURLE_OK,
		   CID_ERR_NOMEM);
	cc = curl_easy_perform(h);
	CID_TRY(outcome(h, cc, &s, curl_err, why, whysz));
	CID_TRY(sink_take(&s, body, len));
out:
	if (rc == CID_ERR_NOMEM)
		cid_err_why(why, whysz, "out of memory");
	free(s.buf);
	curl_easy_cleanup(h);
	curl_url_cleanup(u);
	return rc;
}

enum cid_err cid_http_post(const char *url, const struct cid_fetch_limits *lim, const char *ctype,
			   const char *body, size_t len, struct cid_http_answer *out, char *why,
			   size_t whysz)
{
	enum cid_err rc = CID_OK;
	struct sink s = {.max = lim->max_bytes};
	char curl_err[CURL_ERROR_SIZE] = "";
	char header[128];
	struct curl_slist *headers = NULL;
	CURLU *u = curl_url();
	CURL *h = curl_easy_init();
	bool https = false;
	long status = 0;
	CURLcode cc;

	CID_ENSURE(u != NULL && h != NULL, CID_ERR_NOMEM);
	CID_ENSURE(ctype != NULL && strlen(ctype) < sizeof(header) - 16 &&
		       strpbrk(ctype, "\r\n") == NULL,
		   CID_ERR_INVALID);
	CID_TRY(url_check(u, url, &https, why, whysz));
	CID_TRY(options(h, u, https, lim, &s, curl_err));
	snprintf(header, sizeof(header), "Content-Type: %s", ctype);
	headers = curl_slist_append(NULL, header);
	CID_ENSURE(headers != NULL, CID_ERR_NOMEM);
	/* no redirect is followed: a POST answered elsewhere is not this endpoint's answer */
	CID_ENSURE(curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
		       curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers) == CURLE_OK &&
		       curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len) ==
			   CURLE_OK &&
		       curl_easy_setopt(h, CURLOPT_POSTFIELDS, body) == CURLE_OK,
		   CID_ERR_NOMEM);
	cc = curl_easy_perform(h);
	CID_TRY(transfer_outcome(cc, &s, curl_err, why, whysz));
	CID_ENSURE(curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK, CID_ERR_IO);
	CID_TRY(sink_take(&s, &out->body, &out->len));
	out->status = status;
out:
	if (rc == CID_ERR_NOMEM)
		cid_err_why(why, whysz, "out of memory");
	free(s.buf);
	curl_slist_free_all(headers);
	curl_easy_cleanup(h);
	curl_url_cleanup(u);
	return rc;
}
