/*
 * http_fetch: GET one document, or POST one, with libcurl, under limits. The URL is parsed
 * once, by libcurl's own parser, and that parsed handle is what the transfer
 * uses: the scheme and host we check are the ones libcurl connects to. The
 * body grows in a buffer that refuses to pass the limit (libcurl also refuses
 * early when Content-Length announces more); no content encoding is asked for,
 * so what counts against the limit is what arrives. libcurl is called
 * through curl_lib.h's table, which each public function here opens for its
 * request (and hands on to the helpers as cu); a batch opens it, and makes
 * its multi handle, with its first POST, so a server that sends nothing
 * never maps libcurl.
 */
#include "http_fetch.h"

#include "bounds.h"
#include "crypto.h"
#include "curl_lib.h"
#include "str.h"
#include "sync.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

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
static enum cid_err url_check(const struct cid_curl *cu, CURLU *u, const char *url, bool *https,
			      char *why, size_t whysz)
{
	enum cid_err rc = CID_OK;
	char *scheme = NULL;
	char *host = NULL;
	char *user = NULL;

	CID_ENSURE(url != NULL && strlen(url) <= CID_MAX_URI, CID_ERR_INVALID);
	CID_ENSURE(cu->url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK, CID_ERR_INVALID);
	CID_ENSURE(cu->url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
		       cu->url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK,
		   CID_ERR_INVALID);
	/* credentials in a URL end up in logs; "https://good@evil" misleads readers */
	CID_ENSURE(cu->url_get(u, CURLUPART_USER, &user, 0) == CURLUE_NO_USER, CID_ERR_INVALID);
	*https = strcmp(scheme, "https") == 0;
	CID_ENSURE(*https || (strcmp(scheme, "http") == 0 && cid_http_loopback_host(host)),
		   CID_ERR_INVALID);
out:
	if (rc != CID_OK)
		cid_err_why(why, whysz, "not an https URL (plain http only to a loopback host)");
	cu->free(scheme);
	cu->free(host);
	cu->free(user);
	return rc;
}

/* The error of a finished transfer: what libcurl said, the sink's state (not the status). */
static enum cid_err transfer_outcome(const struct cid_curl *cu, CURLcode cc, const struct sink *s,
				     const char *curl_err, char *why, size_t whysz)
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
			    curl_err[0] != '\0' ? curl_err : cu->easy_strerror(cc));
		return CID_ERR_IO;
	}
	return CID_OK;
}

/* transfer_outcome, and only 200 is success. */
static enum cid_err outcome(const struct cid_curl *cu, CURL *h, CURLcode cc, const struct sink *s,
			    const char *curl_err, char *why, size_t whysz)
{
	long status = 0;
	enum cid_err rc = transfer_outcome(cu, cc, s, curl_err, why, whysz);

	if (rc != CID_OK)
		return rc;
	if (cu->easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK || status != 200) {
		cid_err_why(why, whysz, "HTTP status %ld", status);
		return CID_ERR_IO;
	}
	return CID_OK;
}

/* libcurl's write callback type */
typedef size_t write_fn(char *data, size_t size, size_t nmemb, void *arg);

/*
 * The options of every transfer, GET or POST, alone or in a batch: the parsed
 * URL, its scheme, the limits, TLS checks, where the answer's body goes
 * (write(data) for each piece of it).
 */
static enum cid_err options(const struct cid_curl *cu, CURL *h, CURLU *u, bool https,
			    const struct cid_fetch_limits *lim, write_fn *write, void *data,
			    char *curl_err)
{
	/* every option is checked: one silently ignored could lift a limit */
	if (cu->easy_setopt(h, CURLOPT_CURLU, u) == CURLE_OK &&
	    cu->easy_setopt(h, CURLOPT_PROTOCOLS_STR, https ? "https" : "http,https") == CURLE_OK &&
	    cu->easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "https") == CURLE_OK &&
	    cu->easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, lim->connect_timeout_ms) == CURLE_OK &&
	    cu->easy_setopt(h, CURLOPT_TIMEOUT_MS, lim->timeout_ms) == CURLE_OK &&
	    cu->easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)lim->max_bytes) == CURLE_OK &&
	    cu->easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK &&
	    cu->easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK &&
	    cu->easy_setopt(h, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
	    cu->easy_setopt(h, CURLOPT_USERAGENT, "civicid") == CURLE_OK &&
	    cu->easy_setopt(h, CURLOPT_ERRORBUFFER, curl_err) == CURLE_OK &&
	    cu->easy_setopt(h, CURLOPT_WRITEFUNCTION, write) == CURLE_OK &&
	    cu->easy_setopt(h, CURLOPT_WRITEDATA, data) == CURLE_OK)
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

/*
 * One transfer of its own, a GET or a POST: libcurl opened for it, its URL
 * parsed and checked, its body collected in s, every common option set.
 * easy_begin starts one (on a zeroed e, which must not move: libcurl keeps
 * the addresses of s and err); easy_end frees what it holds, whatever
 * easy_begin and the transfer reached.
 */
struct easy {
	struct cid_curl lib; /* the table; lib.lib NULL until opened */
	CURLU *u;
	CURL *h;
	struct sink s;
	char err[CURL_ERROR_SIZE];
};

static enum cid_err easy_begin(struct easy *e, const char *url, const struct cid_fetch_limits *lim,
			       char *why, size_t whysz)
{
	enum cid_err rc = CID_OK;
	const struct cid_curl *cu = &e->lib;
	bool https = false;

	e->s.max = lim->max_bytes;
	CID_TRY(cid_curl_open(&e->lib, why, whysz));
	e->u = cu->url();
	e->h = cu->easy_init();
	CID_ENSURE(e->u != NULL && e->h != NULL, CID_ERR_NOMEM);
	CID_TRY(url_check(cu, e->u, url, &https, why, whysz));
	rc = options(cu, e->h, e->u, https, lim, sink_write, &e->s, e->err);
out:
	return rc;
}

static void easy_end(struct easy *e)
{
	free(e->s.buf);
	if (e->lib.lib != NULL) {
		e->lib.easy_cleanup(e->h);
		e->lib.url_cleanup(e->u);
	}
	cid_curl_close(&e->lib);
}

/* a token's end in a Cache-Control value: a comma, space, tab or the end */
static bool token_end(char c)
{
	return c == '\0' || c == ',' || c == ' ' || c == '\t' || c == '=';
}

int64_t cid_http_max_age(const char *cache_control)
{
	const int64_t cap = 2147483647; /* RFC 9111 §1.2.2 */
	const char *p = cache_control;
	int64_t age = 0;
	bool seen = false;

	if (p == NULL)
		return 0;
	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if ((strncasecmp(p, "no-store", 8) == 0 && token_end(p[8])) ||
		    (strncasecmp(p, "no-cache", 8) == 0 && token_end(p[8])))
			return 0;
		if (strncasecmp(p, "max-age=", 8) == 0 && !seen) {
			const char *v = p + 8 + (p[8] == '"');
			size_t digits = strspn(v, "0123456789");
			uint64_t n = 0;

			if (digits == 0)
				return 0;
			/* more digits than 2^31 - 1 has: that value (§1.2.2) */
			if (digits > 10)
				n = (uint64_t)cap;
			else if (cid_parse_u64(v, digits, 0, UINT64_MAX, &n) != CID_OK)
				return 0;
			age = n < (uint64_t)cap ? (int64_t)n : cap;
			seen = true;
		}
		/* to the next directive, past a quoted value's commas */
		while (*p != '\0' && *p != ',') {
			if (*p == '"') {
				const char *q = strchr(p + 1, '"');

				if (q == NULL)
					return 0;
				p = q;
			}
			p++;
		}
	}
	return age;
}

/* GET url; *max_age (when not NULL) from the final answer's Cache-Control. */
static enum cid_err fetch(const char *url, const struct cid_fetch_limits *lim, char **body,
			  size_t *len, int64_t *max_age, char *why, size_t whysz)
{
	enum cid_err rc = CID_OK;
	struct easy e = {0};
	const struct cid_curl *cu = &e.lib;
	CURLcode cc;

	CID_TRY(easy_begin(&e, url, lim, why, whysz));
	CID_ENSURE(cu->easy_setopt(e.h, CURLOPT_FOLLOWLOCATION, 1L) == CURLE_OK &&
		       cu->easy_setopt(e.h, CURLOPT_MAXREDIRS, (long)CID_FETCH_MAX_REDIRS) ==
			   CURLE_OK,
		   CID_ERR_NOMEM);
	cc = cu->easy_perform(e.h);
	CID_TRY(outcome(cu, e.h, cc, &e.s, e.err, why, whysz));
	if (max_age != NULL) {
		struct curl_header *hdr = NULL;

		/* request -1: the last of the redirects, the answer the body is of */
		*max_age =
		    cu->easy_header(e.h, "Cache-Control", 0, CURLH_HEADER, -1, &hdr) == CURLHE_OK
			? cid_http_max_age(hdr->value)
			: 0;
	}
	CID_TRY(sink_take(&e.s, body, len));
out:
	if (rc == CID_ERR_NOMEM)
		cid_err_why(why, whysz, "out of memory");
	easy_end(&e);
	return rc;
}

enum cid_err cid_http_fetch(const char *url, const struct cid_fetch_limits *lim, char **body,
			    size_t *len, char *why, size_t whysz)
{
	return fetch(url, lim, body, len, NULL, why, whysz);
}

enum cid_err cid_http_fetch_age(const char *url, const struct cid_fetch_limits *lim, char **body,
				size_t *len, int64_t *max_age, char *why, size_t whysz)
{
	return fetch(url, lim, body, len, max_age, why, whysz);
}

/*
 * The batch. Each POST owns its easy handle, its parsed URL and its header
 * list in a slot; the slot's address is the handle's CURLINFO_PRIVATE, so a
 * finished transfer finds its slot without a search.
 */
struct post {
	CURL *h;
	CURLU *u;
	struct curl_slist *headers;
	void *tag;
	size_t seen; /* body bytes of the answer, read and thrown away */
	size_t max;  /* lim->max_bytes */
	bool toobig;
	char err[CURL_ERROR_SIZE];
};

struct cid_http_batch {
	/* m and woken, between the thread that runs the batch and those that wake it */
	pthread_mutex_t lock;
	pthread_cond_t wake; /* a wake before m exists */
	bool woken;
	CURLM *m;	     /* made by the first POST; NULL until then */
	struct cid_curl lib; /* opened by the first POST (curl_lib.h), closed by _free */
	size_t max_active;
	size_t active;
	struct post *slots; /* max_active of them; h NULL: free */
};

/* The answer's body: counted, never kept. */
// NOLINTNEXTLINE(readability-non-const-parameter): libcurl's write callback type
static size_t drain_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct post *p = arg;
	size_t n = size * nmemb;

	(void)data;
	if (size != 1 || n > p->max - p->seen) {
		p->toobig = true;
		return 0;
	}
	p->seen += n;
	return n;
}

static void post_clear(struct cid_http_batch *b, struct post *p)
{
	const struct cid_curl *cu = &b->lib;

	if (cu->lib == NULL) /* libcurl never opened: no handle was ever made */
		return;
	if (p->h != NULL) {
		(void)cu->multi_remove_handle(b->m, p->h);
		cu->easy_cleanup(p->h);
	}
	cu->url_cleanup(p->u);
	cu->slist_free_all(p->headers);
	memset(p, 0, sizeof(*p));
}

enum cid_err cid_http_batch_new(size_t max_active, struct cid_http_batch **out)
{
	enum cid_err rc = CID_OK;
	struct cid_http_batch *b = NULL;

	CID_ENSURE(max_active > 0, CID_ERR_INVALID);
	b = calloc(1, sizeof(*b));
	CID_ENSURE(b != NULL, CID_ERR_NOMEM);
	/* the wake's timed waits (batch_idle) on CLOCK_MONOTONIC */
	if (cid_sync_init(&b->lock, &b->wake, CLOCK_MONOTONIC) != CID_OK) {
		free(b);
		return CID_ERR_NOMEM;
	}
	b->max_active = max_active;
	b->slots = calloc(max_active, sizeof(*b->slots));
	if (b->slots == NULL) {
		cid_http_batch_free(b);
		return CID_ERR_NOMEM;
	}
	*out = b;
out:
	return rc;
}

void cid_http_batch_free(struct cid_http_batch *b)
{
	if (b == NULL)
		return;
	for (size_t i = 0; b->slots != NULL && i < b->max_active; i++)
		post_clear(b, &b->slots[i]);
	if (b->m != NULL)
		(void)b->lib.multi_cleanup(b->m);
	cid_curl_close(&b->lib);
	cid_sync_destroy(&b->lock, &b->wake);
	free(b->slots);
	free(b);
}

size_t cid_http_batch_active(const struct cid_http_batch *b)
{
	return b->active;
}

enum cid_err cid_http_batch_post(struct cid_http_batch *b, const char *url, const char *body,
				 size_t len, const struct cid_fetch_limits *lim, void *tag)
{
	enum cid_err rc = CID_OK;
	struct post *p = NULL;
	const struct cid_curl *cu = &b->lib;
	bool https = false;

	CID_ENSURE(b->active < b->max_active, CID_ERR_TOOBIG);
	if (cu->lib == NULL)
		CID_TRY(cid_curl_open(&b->lib, NULL, 0));
	for (size_t i = 0; p == NULL && i < b->max_active; i++)
		if (b->slots[i].h == NULL)
			p = &b->slots[i];
	CID_ENSURE(p != NULL, CID_ERR_TOOBIG);
	p->u = cu->url();
	p->h = cu->easy_init();
	CID_ENSURE(p->u != NULL && p->h != NULL, CID_ERR_NOMEM);
	/* after the first easy handle, which initialises libcurl (the multi one does not) */
	if (b->m == NULL) {
		CURLM *m = cu->multi_init();

		CID_ENSURE(m != NULL, CID_ERR_NOMEM);
		pthread_mutex_lock(&b->lock);
		b->m = m;
		if (b->woken) { /* a wake that came before m: the next poll ends at once */
			b->woken = false;
			(void)cu->multi_wakeup(m);
		}
		pthread_mutex_unlock(&b->lock);
	}
	CID_TRY(url_check(cu, p->u, url, &https, NULL, 0));
	p->headers = cu->slist_append(NULL, "Content-Type: application/x-www-form-urlencoded");
	/* no Expect: 100-continue, which would cost a round trip or a second's wait */
	if (p->headers != NULL)
		p->headers = cu->slist_append(p->headers, "Expect:");
	CID_ENSURE(p->headers != NULL, CID_ERR_NOMEM);
	p->tag = tag;
	p->max = lim->max_bytes;
	CID_TRY(options(cu, p->h, p->u, https, lim, drain_write, p, p->err));
	/* a redirect is an answer like any other: a notice is not sent elsewhere */
	CID_ENSURE(cu->easy_setopt(p->h, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
		       cu->easy_setopt(p->h, CURLOPT_HTTPHEADER, p->headers) == CURLE_OK &&
		       cu->easy_setopt(p->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len) ==
			   CURLE_OK &&
		       cu->easy_setopt(p->h, CURLOPT_COPYPOSTFIELDS, body) == CURLE_OK &&
		       cu->easy_setopt(p->h, CURLOPT_PRIVATE, p) == CURLE_OK,
		   CID_ERR_NOMEM);
	CID_ENSURE(cu->multi_add_handle(b->m, p->h) == CURLM_OK, CID_ERR_NOMEM);
	b->active++;
	p = NULL;
out:
	if (p != NULL) {
		/* the handle was never added: clearing it must not remove it */
		cu->easy_cleanup(p->h);
		p->h = NULL;
		post_clear(b, p);
	}
	return rc;
}

/* The outcome of a finished POST p with libcurl's result cc. */
static void post_outcome(const struct cid_curl *cu, struct post *p, CURLcode cc,
			 struct cid_http_outcome *o)
{
	memset(o, 0, sizeof(*o));
	o->tag = p->tag;
	(void)cu->easy_getinfo(p->h, CURLINFO_RESPONSE_CODE, &o->status);
	if (cc == CURLE_OUT_OF_MEMORY) {
		o->rc = CID_ERR_NOMEM;
		cid_err_why(o->why, sizeof(o->why), "out of memory");
	} else if (p->toobig || cc == CURLE_FILESIZE_EXCEEDED) {
		o->rc = CID_ERR_TOOBIG;
		cid_err_why(o->why, sizeof(o->why), "the answer is larger than %zu bytes", p->max);
	} else if (cc != CURLE_OK) {
		o->rc = CID_ERR_IO;
		o->status = 0;
		cid_err_why(o->why, sizeof(o->why), "%s",
			    p->err[0] != '\0' ? p->err : cu->easy_strerror(cc));
	}
}

/*
 * cid_http_batch_run of a batch that never posted (no multi handle, perhaps
 * no libcurl): waits up to wait_ms for cid_http_batch_wake.
 */
static enum cid_err batch_idle(struct cid_http_batch *b, int wait_ms)
{
	struct timespec until;

	if (cid_sync_deadline(&until, CLOCK_MONOTONIC, wait_ms) != CID_OK)
		return CID_ERR_IO;
	pthread_mutex_lock(&b->lock);
	while (!b->woken && wait_ms > 0 && pthread_cond_timedwait(&b->wake, &b->lock, &until) == 0)
		;
	b->woken = false;
	pthread_mutex_unlock(&b->lock);
	return CID_OK;
}

enum cid_err cid_http_batch_run(struct cid_http_batch *b, int wait_ms,
				void (*done)(void *arg, const struct cid_http_outcome *o),
				void *arg)
{
	int running = 0;
	int left = 0;
	CURLMsg *msg;
	const struct cid_curl *cu = NULL;
	CURLM *m;

	pthread_mutex_lock(&b->lock);
	m = b->m;
	pthread_mutex_unlock(&b->lock);
	if (m == NULL) /* nothing was ever posted: wait for a wake, or the time */
		return batch_idle(b, wait_ms);
	cu = &b->lib;
	if (cu->multi_perform(b->m, &running) != CURLM_OK ||
	    cu->multi_poll(b->m, NULL, 0, wait_ms < 0 ? 0 : wait_ms, NULL) != CURLM_OK ||
	    cu->multi_perform(b->m, &running) != CURLM_OK)
		return CID_ERR_IO;
	while ((msg = cu->multi_info_read(b->m, &left)) != NULL) {
		char *priv = NULL;
		struct post *p;
		struct cid_http_outcome o;

		if (msg->msg != CURLMSG_DONE ||
		    cu->easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv) != CURLE_OK ||
		    priv == NULL)
			continue;
		p = (struct post *)(void *)priv;
		post_outcome(cu, p, msg->data.result, &o);
		post_clear(b, p);
		b->active--;
		done(arg, &o);
	}
	return CID_OK;
}

void cid_http_batch_wake(struct cid_http_batch *b)
{
	pthread_mutex_lock(&b->lock);
	b->woken = true;
	if (b->m != NULL)
		(void)b->lib.multi_wakeup(b->m);
	pthread_cond_signal(&b->wake);
	pthread_mutex_unlock(&b->lock);
}

enum cid_err cid_http_post(const char *url, const struct cid_fetch_limits *lim, const char *ctype,
			   const char *body, size_t len, struct cid_http_answer *out, char *why,
			   size_t whysz)
{
	return cid_http_post_auth(url, lim, ctype, NULL, body, len, out, why, whysz);
}

enum cid_err cid_http_post_auth(const char *url, const struct cid_fetch_limits *lim,
				const char *ctype, const char *authorization, const char *body,
				size_t len, struct cid_http_answer *out, char *why, size_t whysz)
{
	enum cid_err rc = CID_OK;
	char header[128];
	char auth_header[CID_HTTP_MAX_AUTHORIZATION + 32] = "";
	struct curl_slist *headers = NULL;
	struct easy e = {0};
	const struct cid_curl *cu = &e.lib;
	long status = 0;
	CURLcode cc;

	CID_ENSURE(ctype != NULL && strlen(ctype) < sizeof(header) - 16 &&
		       strpbrk(ctype, "\r\n") == NULL,
		   CID_ERR_INVALID);
	CID_ENSURE(authorization == NULL ||
		       (strnlen(authorization, CID_HTTP_MAX_AUTHORIZATION + 1) <=
			    CID_HTTP_MAX_AUTHORIZATION &&
			strpbrk(authorization, "\r\n") == NULL),
		   CID_ERR_INVALID);
	CID_TRY(easy_begin(&e, url, lim, why, whysz));
	snprintf(header, sizeof(header), "Content-Type: %s", ctype);
	headers = cu->slist_append(NULL, header);
	CID_ENSURE(headers != NULL, CID_ERR_NOMEM);
	if (authorization != NULL) {
		struct curl_slist *more;

		snprintf(auth_header, sizeof(auth_header), "Authorization: %s", authorization);
		more = cu->slist_append(headers, auth_header);
		CID_ENSURE(more != NULL, CID_ERR_NOMEM);
		headers = more;
	}
	/* no redirect is followed: a POST answered elsewhere is not this endpoint's answer */
	CID_ENSURE(cu->easy_setopt(e.h, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
		       cu->easy_setopt(e.h, CURLOPT_HTTPHEADER, headers) == CURLE_OK &&
		       cu->easy_setopt(e.h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len) ==
			   CURLE_OK &&
		       cu->easy_setopt(e.h, CURLOPT_POSTFIELDS, body) == CURLE_OK,
		   CID_ERR_NOMEM);
	cc = cu->easy_perform(e.h);
	CID_TRY(transfer_outcome(cu, cc, &e.s, e.err, why, whysz));
	CID_ENSURE(cu->easy_getinfo(e.h, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK, CID_ERR_IO);
	CID_TRY(sink_take(&e.s, &out->body, &out->len));
	out->status = status;
out:
	if (rc == CID_ERR_NOMEM)
		cid_err_why(why, whysz, "out of memory");
	/* the header may hold a client secret, and so does libcurl's copy of it */
	cid_wipe(auth_header, sizeof(auth_header));
	for (struct curl_slist *h = headers; h != NULL; h = h->next)
		cid_wipe(h->data, strlen(h->data));
	if (e.lib.lib != NULL)
		cu->slist_free_all(headers);
	easy_end(&e);
	return rc;
}
