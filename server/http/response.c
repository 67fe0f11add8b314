/*
 * response: struct cid_reply -> MHD response, with the headers every answer
 * carries (no caching of tokens, no sniffing, no framing, no referrer leak of
 * codes).
 */
#include "route.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Pages: our stylesheet only, no script, no framing. */
#define PAGE_CSP                                                                                   \
	"default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; "           \
	"base-uri 'none'"

/*
 * Adds the page's Content-Security-Policy: PAGE_CSP, and "frame-src" with
 * the origins libauth chose for this reply (the logged-out page's
 * front-channel logout frames), so a page frames those and nothing else.
 * A policy that cannot be built is the strict one.
 */
static void add_page_csp(struct MHD_Response *r, const char *frame_src)
{
	char *csp = NULL;

	if (frame_src != NULL && frame_src[0] != '\0' &&
	    asprintf(&csp, "%s; frame-src %s", PAGE_CSP, frame_src) > 0) {
		(void)MHD_add_response_header(r, "Content-Security-Policy", csp);
		free(csp);
		return;
	}
	(void)MHD_add_response_header(r, "Content-Security-Policy", PAGE_CSP);
}

static void add(struct MHD_Response *r, const char *name, const char *value)
{
	if (value != NULL)
		(void)MHD_add_response_header(r, name, value);
}

/* Adds the headers every answer carries, queues r with status, and releases r. */
static enum MHD_Result queue(struct MHD_Connection *mhd, int status, struct MHD_Response *r)
{
	enum MHD_Result ret;

	add(r, "X-Content-Type-Options", "nosniff");
	add(r, "X-Frame-Options", "DENY");
	add(r, "Referrer-Policy", "no-referrer");
	ret = MHD_queue_response(mhd, (unsigned int)status, r);
	MHD_destroy_response(r);
	return ret;
}

enum MHD_Result cid_respond_css(const struct cid_templates *tpl, struct MHD_Connection *mhd)
{
	size_t len = 0;
	const char *css = cid_templates_css(tpl, &len);
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(len, (void *)(uintptr_t)css, MHD_RESPMEM_PERSISTENT);

	if (r == NULL)
		return MHD_NO;
	add(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/css; charset=utf-8");
	return queue(mhd, 200, r);
}

/* A page that cannot be rendered still gets an answer, never a dropped connection. */
static enum MHD_Result respond_render_failure(struct MHD_Connection *mhd)
{
	static const char body[] = "civicid: the page could not be rendered\n";
	struct MHD_Response *r = MHD_create_response_from_buffer(
	    sizeof(body) - 1, (void *)(uintptr_t)body, MHD_RESPMEM_PERSISTENT);

	if (r == NULL)
		return MHD_NO;
	add(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	add(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	return queue(mhd, 500, r);
}

enum MHD_Result cid_respond(const struct cid_templates *tpl, struct MHD_Connection *mhd,
			    struct cid_reply *reply)
{
	struct MHD_Response *r;
	char *html = NULL;
	size_t len = 0;
	const char *ctype = reply->content_type;
	int status = reply->status == 0 ? 500 : reply->status;

	if (reply->page != CID_PAGE_NONE) {
		if (cid_templates_render(tpl, reply->page, reply->page_data, reply->locale, &html,
					 &len) != CID_OK)
			return respond_render_failure(mhd);
		r = MHD_create_response_from_buffer(len, html, MHD_RESPMEM_MUST_FREE);
		ctype = "text/html; charset=utf-8";
		if (r != NULL)
			add_page_csp(r, reply->frame_src);
	} else {
		/* libmicrohttpd accepts NULL for an empty body */
		r = MHD_create_response_from_buffer(reply->body == NULL ? 0 : reply->body_len,
						    reply->body, MHD_RESPMEM_MUST_COPY);
	}
	if (r == NULL) {
		free(html);
		return MHD_NO;
	}
	add(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	add(r, MHD_HTTP_HEADER_LOCATION, reply->location);
	add(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, reply->www_authenticate);
	add(r, "X-Civicid-Release", reply->release);
	add(r, MHD_HTTP_HEADER_CONTENT_DISPOSITION, reply->content_disposition);
	for (size_t i = 0; i < reply->n_cookies; i++)
		add(r, MHD_HTTP_HEADER_SET_COOKIE, reply->cookies[i]);
	/*= RFC 6749 §5.1: Cache-Control no-store on responses with tokens or credentials */
	if (reply->no_store) {
		add(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
		add(r, MHD_HTTP_HEADER_PRAGMA, "no-cache");
	}
	return queue(mhd, status, r);
}
