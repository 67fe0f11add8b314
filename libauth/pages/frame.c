/*
 * frame: the header and footer data of every page, and the language cookie.
 *
 * Built after the endpoint, from the configuration and the request alone:
 * the frame never reads the store and never changes what the endpoint
 * answered, only adds beside it. A language switch must keep the citizen
 * where they are, so its target depends on how the page was reached: a step
 * of the authorization flow re-posts its pending request (req, csrf) to
 * /lang; a GET links to itself; a POST links to its own path only if that
 * takes GET, since a form's values (a password) never go into a URL; else
 * to the area's home. Every value is text for the escaping templates.
 */
#include "frame.h"

#include "buf.h"
#include "console.h"
#include "str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ACCOUNT_HOME "/account"
#define OFFICER_HOME "/officer"

static const char *const codes[] = {"ja", "en"};

/* True if e is a row of the officer's console: its pages have the console's frame. */
static bool officer_row(const struct cid_endpoint *e)
{
	size_t n = 0;
	const struct cid_endpoint *rows = cid_console_endpoints(&n);

	/* equality, not a range: pointers into different arrays do not compare by order */
	for (size_t i = 0; i < n; i++)
		if (e == &rows[i])
			return true;
	return false;
}

/* The city's name in locale, else in the other language, else NULL. */
static const char *city_name(const struct cid_config *cfg, const char *locale)
{
	const char *mine = strcmp(locale, "en") == 0 ? cfg->city_name_en : cfg->city_name_ja;
	const char *other = strcmp(locale, "en") == 0 ? cfg->city_name_ja : cfg->city_name_en;

	if (mine[0] != '\0')
		return mine;
	return other[0] != '\0' ? other : NULL;
}

/* Sets member name of o to the string v when v is set and not empty. */
static enum cid_err set_text(json_t *o, const char *name, const char *v)
{
	if (v == NULL || v[0] == '\0')
		return CID_OK;
	return json_object_set_new(o, name, json_string(v)) == 0 ? CID_OK : CID_ERR_NOMEM;
}

/*
 * The link that switches to code: base, then the query of a GET (its
 * parameters but lang) when with_query, then lang=code. NULL when out of
 * memory or longer than a link should be.
 */
static char *switch_href(const char *prefix, const char *base, const struct cid_request *req,
			 bool with_query, const char *code)
{
	struct cid_buf b;

	cid_buf_init(&b, (size_t)CID_MAX_URI * 4);
	cid_buf_puts(&b, prefix);
	cid_buf_puts(&b, base);
	cid_buf_puts(&b, "?");
	for (size_t i = 0; with_query && i < req->params.n; i++) {
		const struct cid_param *p = &req->params.items[i];

		if (strcmp(p->name, "lang") == 0)
			continue;
		cid_buf_append_urlenc(&b, p->name, strlen(p->name));
		cid_buf_puts(&b, "=");
		cid_buf_append_urlenc(&b, p->value, p->value_len);
		cid_buf_puts(&b, "&");
	}
	cid_buf_printf(&b, "lang=%s", code);
	if (cid_buf_status(&b) != CID_OK) {
		cid_buf_free(&b);
		return NULL;
	}
	return cid_buf_take(&b, NULL);
}

/*
 * True for a step's page, which a link cannot show again: the answer to a
 * POST, or (the link page) to the upstream's redirect, whose URL repeats
 * the upstream's one-time code and state.
 */
static bool flow_step(const struct cid_reply *reply)
{
	return (reply->page == CID_PAGE_LOGIN || reply->page == CID_PAGE_TOTP ||
		reply->page == CID_PAGE_CONSENT || reply->page == CID_PAGE_UPSTREAM_LINK) &&
	       json_is_string(json_object_get(reply->page_data, "req")) &&
	       json_is_string(json_object_get(reply->page_data, "csrf"));
}

/* The switch: a link per language, or (a flow step) the flag of the form. */
static enum cid_err langs(const char *prefix, const struct cid_endpoint *e,
			  const struct cid_request *req, const struct cid_reply *reply,
			  const char *home, json_t *frame)
{
	enum cid_err rc = CID_OK;
	bool post_form = flow_step(reply);
	const char *path = req->path != NULL && req->path[0] == '/' ? req->path : NULL;
	/* a GET links to itself; a POST to its path when that takes GET; else
	 * home; and the page after a logout goes home, since asking its path
	 * again would log out again */
	const char *base =
	    path != NULL && (!req->post || e->get) && reply->page != CID_PAGE_LOGGED_OUT ? path
											 : home;
	bool with_query = base == path && !req->post;
	json_t *list = json_array();
	char *href = NULL;

	CID_ENSURE(list != NULL && json_object_set_new(frame, "langs", list) == 0, CID_ERR_NOMEM);
	CID_ENSURE(json_object_set_new(frame, "lang_post", json_boolean(post_form)) == 0,
		   CID_ERR_NOMEM);
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		char key[8] = "lang.";
		json_t *item;

		memcpy(key + 5, codes[i], 3);
		item = json_pack("{s:s, s:s, s:b}", "code", codes[i], "label_key", key, "current",
				 strcmp(codes[i], reply->locale) == 0);
		CID_ENSURE(item != NULL && json_array_append_new(list, item) == 0, CID_ERR_NOMEM);
		if (post_form)
			continue;
		href = switch_href(prefix, base, req, with_query, codes[i]);
		/* a query too long to repeat in a link: the switch goes home instead */
		if (href == NULL)
			href = switch_href(prefix, home, req, false, codes[i]);
		CID_ENSURE(href != NULL, CID_ERR_NOMEM);
		CID_ENSURE(json_object_set_new(item, "href", json_string(href)) == 0,
			   CID_ERR_NOMEM);
		free(href);
		href = NULL;
	}
out:
	free(href);
	return rc;
}

/* The controller and the privacy notice of the footer. */
static enum cid_err footer(const struct cid_config *cfg, json_t *frame)
{
	enum cid_err rc = CID_OK;
	json_t *c = NULL;

	CID_TRY(set_text(frame, "policy_url", cfg->policy_url));
	if (cfg->controller_name[0] == '\0')
		goto out;
	c = json_object();
	CID_ENSURE(c != NULL, CID_ERR_NOMEM);
	CID_TRY(set_text(c, "name", cfg->controller_name));
	CID_TRY(set_text(c, "contact", cfg->controller_contact));
	CID_TRY(set_text(c, "email", cfg->controller_email));
	CID_TRY(set_text(c, "phone", cfg->controller_phone));
	CID_TRY(set_text(c, "address", cfg->controller_address));
	CID_ENSURE(json_object_set(frame, "controller", c) == 0, CID_ERR_NOMEM);
out:
	json_decref(c);
	return rc;
}

enum cid_err cid_frame_add(struct cid_ctx *ctx, const struct cid_endpoint *e,
			   const struct cid_request *req, struct cid_reply *reply)
{
	enum cid_err rc = CID_OK;
	const struct cid_config *cfg = cid_ctx_config(ctx);
	const char *lang = cid_params_get(&req->params, "lang");
	bool officer = officer_row(e);
	const char *home = officer ? OFFICER_HOME : ACCOUNT_HOME;
	const char *type = NULL;
	size_t logo_len = 0;
	json_t *frame = NULL;
	/* a tenant's pages live below its path_prefix (tenant.h): every link starts there */
	const char *prefix = cfg->path_prefix;
	char logo[CID_MAX_URI + sizeof(CID_LOGO_PATH)];

	/* a choice made with the switch is remembered (cid_request_locale's rule) */
	if (e->page && lang != NULL && (strcmp(lang, "ja") == 0 || strcmp(lang, "en") == 0))
		CID_TRY(cid_reply_cookie(reply, cfg, CID_COOKIE_LANG, lang, CID_LANG_COOKIE_AGE));
	if (reply->page == CID_PAGE_NONE || !json_is_object(reply->page_data))
		goto out;
	if (reply->locale == NULL)
		reply->locale = "ja";
	frame = json_pack("{s:b, s:b}", "citizen", !officer, "officer", officer);
	CID_ENSURE(frame != NULL, CID_ERR_NOMEM);
	CID_TRY(set_text(frame, "city_name", city_name(cfg, reply->locale)));
	if (cid_ctx_logo(ctx, &logo_len, &type) != NULL) {
		CID_ENSURE(snprintf(logo, sizeof(logo), "%s%s", prefix, CID_LOGO_PATH) <
			       (int)sizeof(logo),
			   CID_ERR_TOOBIG);
		CID_TRY(set_text(frame, "logo", logo));
	}
	CID_TRY(langs(prefix, e, req, reply, home, frame));
	/* the templates' "{{base}}/account": "" for a single city */
	CID_ENSURE(json_object_set_new(reply->page_data, "base", json_string(prefix)) == 0,
		   CID_ERR_NOMEM);
	CID_TRY(footer(cfg, frame));
	CID_ENSURE(json_object_set(reply->page_data, "frame", frame) == 0, CID_ERR_NOMEM);
out:
	json_decref(frame);
	return rc;
}

enum cid_err cid_frame_logo(struct cid_ctx *ctx, const struct cid_request *req,
			    struct cid_reply *reply)
{
	size_t len = 0;
	const char *type = NULL;
	const unsigned char *logo = cid_ctx_logo(ctx, &len, &type);

	(void)req;
	if (logo == NULL)
		return cid_reply_error_json(reply, 404, "not_found", "no logo is configured");
	reply->body = malloc(len);
	if (reply->body == NULL)
		return CID_ERR_NOMEM;
	memcpy(reply->body, logo, len);
	reply->body_len = len;
	reply->status = 200;
	reply->content_type = type;
	return CID_OK;
}

static const struct cid_endpoint endpoints[] = {
    {CID_LOGO_PATH, cid_frame_logo, true, false, false, CID_RUN_READS, NULL, NULL},
};

const struct cid_endpoint *cid_frame_endpoints(size_t *n)
{
	*n = sizeof(endpoints) / sizeof(endpoints[0]);
	return endpoints;
}
