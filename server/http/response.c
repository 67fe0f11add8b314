/*
 * response: struct cid_reply -> MHD response, with the headers every answer
 * carries (no caching of tokens, no sniffing, no framing, no referrer leak of
 * codes).
 *
 * An answer goes out with every header it has, or not at all: a header
 * libmicrohttpd refuses (out of memory; a value no header may carry: empty,
 * or with a CR or LF) turns the answer into a bare 500, never into the same
 * answer without, say, its Cache-Control: no-store or its Set-Cookie.
 */
#include "route.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Pages: our stylesheet only, no script, no framing. */
#define PAGE_CSP                                                                                   \
	"default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; "           \
	"base-uri 'none'"

/* Adds name: value unless value is NULL; false when libmicrohttpd refused it. */
static bool add(struct MHD_Response *r, const char *name, const char *value)
{
	return value == NULL || MHD_add_response_header(r, name, value) == MHD_YES;
}

/*
 * Adds the page's Content-Security-Policy: PAGE_CSP, and "frame-src" with
 * the origins libauth chose for this reply (the logged-out page's
 * front-channel logout frames), so a page frames those and nothing else.
 * False when the policy cannot be built or added: the answer then fails
 * closed like any other header, rather than going out without its frames.
 */
static bool add_page_csp(struct MHD_Response *r, const char *frame_src)
{
	char *csp = NULL;
	bool ok;

	if (frame_src == NULL || frame_src[0] == '\0')
		return add(r, "Content-Security-Policy", PAGE_CSP);
	if (asprintf(&csp, "%s; frame-src %s", PAGE_CSP, frame_src) < 0)
		return false;
	ok = add(r, "Content-Security-Policy", csp);
	free(csp);
	return ok;
}

/* Adds the headers every answer carries; false when one cannot be added. */
static bool add_common(struct MHD_Response *r)
{
	return add(r, "X-Content-Type-Options", "nosniff") && add(r, "X-Frame-Options", "DENY") &&
	       add(r, "Referrer-Policy", "no-referrer");
}

/* Queues r with status and releases r. */
static enum MHD_Result queue(struct MHD_Connection *mhd, int status, struct MHD_Response *r)
{
	enum MHD_Result ret = MHD_queue_response(mhd, (unsigned int)status, r);

	MHD_destroy_response(r);
	return ret;
}

/*
 * A bare 500 with body (static): for an answer that cannot go out as built.
 * When even this one cannot be built, MHD_NO: the connection is closed and
 * nothing goes out.
 */
static enum MHD_Result respond_failure(struct MHD_Connection *mhd, const char *body)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
	    strlen(body), (void *)(uintptr_t)body, MHD_RESPMEM_PERSISTENT);

	if (r == NULL)
		return MHD_NO;
	if (!add_common(r) || !add(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8") ||
	    !add(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store")) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	return queue(mhd, 500, r);
}

enum MHD_Result cid_respond_css(const struct cid_templates *tpl, struct MHD_Connection *mhd)
{
	size_t len = 0;
	const char *css = cid_templates_css(tpl, &len);
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(len, (void *)(uintptr_t)css, MHD_RESPMEM_PERSISTENT);

	if (r == NULL)
		return MHD_NO;
	if (!add_common(r) || !add(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/css; charset=utf-8")) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	return queue(mhd, 200, r);
}

enum MHD_Result cid_respond(const struct cid_templates *tpl, struct MHD_Connection *mhd,
			    struct cid_reply *reply)
{
	struct MHD_Response *r;
	char *html = NULL;
	char retry[24];
	size_t len = 0;
	const char *ctype = reply->content_type;
	int status = reply->status == 0 ? 500 : reply->status;
	bool all = true;

	if (reply->audit != NULL) /* its release is not on the record: nothing of it leaves */
		return respond_failure(mhd,
				       "civicid: the answer's audit entries are not written\n");
	if (reply->page != CID_PAGE_NONE) {
		/* a page that cannot be rendered still gets an answer, never a dropped
		 * connection */
		if (cid_templates_render(tpl, reply->page, reply->page_data, reply->locale, &html,
					 &len) != CID_OK)
			return respond_failure(mhd, "civicid: the page could not be rendered\n");
		r = MHD_create_response_from_buffer(len, html, MHD_RESPMEM_MUST_FREE);
		ctype = "text/html; charset=utf-8";
		if (r != NULL)
			all = add_page_csp(r, reply->frame_src);
	} else {
		/* libmicrohttpd accepts NULL for an empty body */
		r = MHD_create_response_from_buffer(reply->body == NULL ? 0 : reply->body_len,
						    reply->body, MHD_RESPMEM_MUST_COPY);
	}
	if (r == NULL) {
		free(html);
		return MHD_NO;
	}
	all = all && add_common(r) && add(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype) &&
	      add(r, MHD_HTTP_HEADER_LOCATION, reply->location) &&
	      add(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, reply->www_authenticate) &&
	      add(r, "X-Civicid-Release", reply->release) &&
	      add(r, MHD_HTTP_HEADER_CONTENT_DISPOSITION, reply->content_disposition);
	if (all && reply->retry_after > 0) {
		snprintf(retry, sizeof(retry), "%lld", (long long)reply->retry_after);
		all = add(r, MHD_HTTP_HEADER_RETRY_AFTER, retry);
	}
	for (size_t i = 0; all && i < reply->n_cookies; i++)
		all = add(r, MHD_HTTP_HEADER_SET_COOKIE, reply->cookies[i]);
	/*= RFC 6749 §5.1: Cache-Control no-store on responses with tokens or credentials */
	if (all && reply->no_store)
		all = add(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") &&
		      add(r, MHD_HTTP_HEADER_PRAGMA, "no-cache");
	if (!all) {
		MHD_destroy_response(r);
		return respond_failure(mhd, "civicid: the answer could not be sent\n");
	}
	return queue(mhd, status, r);
}
