/*
 * response: struct cid_reply -> MHD response, with the headers every answer
 * carries (no caching of tokens, no sniffing, no framing, no referrer leak of
 * codes).
 */
#include "route.h"

#include <stdlib.h>
#include <string.h>

/* Pages: our stylesheet only, no script, no framing. */
#define PAGE_CSP                                                                                   \
	"default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; "           \
	"base-uri 'none'"

static void add(struct MHD_Response *r, const char *name, const char *value)
{
	if (value != NULL)
		(void)MHD_add_response_header(r, name, value);
}

enum MHD_Result cid_respond(const struct cid_templates *tpl, struct MHD_Connection *mhd,
			    struct cid_reply *reply)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	char *html = NULL;
	size_t len = 0;
	const char *ctype = reply->content_type;
	int status = reply->status == 0 ? 500 : reply->status;

	if (reply->locale != NULL && strcmp(reply->locale, "css") == 0) {
		const char *css = cid_templates_css(tpl, &len);

		r = MHD_create_response_from_buffer(len, (void *)(uintptr_t)css,
						    MHD_RESPMEM_PERSISTENT);
		ctype = "text/css; charset=utf-8";
	} else if (reply->page != CID_PAGE_NONE) {
		if (cid_templates_render(tpl, reply->page, reply->page_data, reply->locale, &html,
					 &len) != CID_OK)
			return MHD_NO;
		r = MHD_create_response_from_buffer(len, html, MHD_RESPMEM_MUST_FREE);
		ctype = "text/html; charset=utf-8";
		if (r != NULL)
			add(r, "Content-Security-Policy", PAGE_CSP);
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
	for (size_t i = 0; i < reply->n_cookies; i++)
		add(r, MHD_HTTP_HEADER_SET_COOKIE, reply->cookies[i]);
	/*= RFC 6749 §5.1: Cache-Control no-store on responses with tokens or credentials */
	if (reply->no_store) {
		add(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
		add(r, MHD_HTTP_HEADER_PRAGMA, "no-cache");
	}
	add(r, "X-Content-Type-Options", "nosniff");
	add(r, "X-Frame-Options", "DENY");
	add(r, "Referrer-Policy", "no-referrer");
	ret = MHD_queue_response(mhd, (unsigned int)status, r);
	MHD_destroy_response(r);
	return ret;
}
