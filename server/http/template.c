/*
 * template: a Mustache subset over the page data, escaping every value.
 * The files are read once; rendering scans the template text, which is small
 * and costs far less than the argon2 hash that precedes most page views.
 */
#include "template.h"

#include "bounds.h"
#include "buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const page_files[] = {
    [CID_PAGE_ERROR] = "error.html",
    [CID_PAGE_LOGIN] = "login.html",
    [CID_PAGE_LOGOUT_CONFIRM] = "logout_confirm.html",
    [CID_PAGE_LOGGED_OUT] = "logged_out.html",
    [CID_PAGE_CONSENT] = "consent.html",
    [CID_PAGE_TOTP] = "totp.html",
    [CID_PAGE_UPSTREAM_LINK] = "upstream_link.html",
    [CID_PAGE_OFFICER_LOGIN] = "officer_login.html",
    [CID_PAGE_OFFICER_LOG] = "officer_log.html",
    [CID_PAGE_OFFICER_ENTRY] = "officer_entry.html",
    [CID_PAGE_OFFICER_SERVICES] = "officer_services.html",
    [CID_PAGE_OFFICER_VERIFY] = "officer_verify.html",
    [CID_PAGE_OFFICER_RESOLVE] = "officer_resolve.html",
    [CID_PAGE_ACCOUNT] = "account.html",
    [CID_PAGE_ACCOUNT_SECURITY] = "account_security.html",
    [CID_PAGE_RECEIPT] = "receipt.html",
    [CID_PAGE_TRAIL] = "trail.html",
};

#define N_PAGES (sizeof(page_files) / sizeof(page_files[0]))

/* The partials every page may include ({{> name}}), in templates/partials/NAME.html. */
static const char *const partial_names[] = {
    "head", "header", "footer", "password_messages", "password_fields", "officer_nav"};

#define N_PARTIALS (sizeof(partial_names) / sizeof(partial_names[0]))

/* Sections and partials nest at most this deep; deeper text is not rendered. */
#define MAX_DEPTH 8

struct cid_templates {
	char *pages[N_PAGES];
	size_t page_len[N_PAGES];
	char *partials[N_PARTIALS];
	size_t partial_len[N_PARTIALS];
	char *css;
	size_t css_len;
	json_t *messages_ja;
	json_t *messages_en;
};

static enum cid_err read_file(const char *dir, const char *name, char **out, size_t *len, char *err,
			      size_t errsz)
{
	enum cid_err rc = CID_OK;
	char path[1024];
	FILE *f = NULL;
	char *data = NULL;
	long size;

	CID_ENSURE(snprintf(path, sizeof(path), "%s/%s", dir, name) < (int)sizeof(path),
		   CID_ERR_TOOBIG);
	f = fopen(path, "rb");
	if (f == NULL) {
		snprintf(err, errsz, "%s: cannot open", path);
		rc = CID_ERR_IO;
		goto out;
	}
	CID_ENSURE(fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 &&
		       size <= (long)CID_MAX_RESPONSE && fseek(f, 0, SEEK_SET) == 0,
		   CID_ERR_IO);
	data = malloc((size_t)size + 1);
	CID_ENSURE(data != NULL, CID_ERR_NOMEM);
	CID_ENSURE(fread(data, 1, (size_t)size, f) == (size_t)size, CID_ERR_IO);
	data[size] = '\0';
	*out = data;
	*len = (size_t)size;
	data = NULL;
out:
	if (f != NULL)
		fclose(f);
	free(data);
	return rc;
}

static enum cid_err load_messages(const char *dir, const char *name, json_t **out, char *err,
				  size_t errsz)
{
	char path[1024];
	json_error_t jerr;

	if (snprintf(path, sizeof(path), "%s/messages/%s", dir, name) >= (int)sizeof(path))
		return CID_ERR_TOOBIG;
	*out = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(*out)) {
		snprintf(err, errsz, "%s:%d: %s", path, jerr.line, jerr.text);
		json_decref(*out);
		*out = NULL;
		return CID_ERR_CONFIG;
	}
	return CID_OK;
}

/* The index of the partial named name[0..n), or N_PARTIALS. */
static size_t partial_find(const char *name, size_t n)
{
	while (n > 0 && name[0] == ' ') {
		name++;
		n--;
	}
	while (n > 0 && name[n - 1] == ' ')
		n--;
	for (size_t i = 0; i < N_PARTIALS; i++)
		if (strlen(partial_names[i]) == n && strncmp(partial_names[i], name, n) == 0)
			return i;
	return N_PARTIALS;
}

/*
 * Checks that every {{> name}} of a template's text names a partial, and
 * that a partial includes none (so inclusion cannot loop).
 */
static enum cid_err check_includes(const char *file, const char *text, bool partial, char *err,
				   size_t errsz)
{
	for (const char *p = text; (p = strstr(p, "{{>")) != NULL; p += 3) {
		const char *close = strstr(p, "}}");

		if (partial || close == NULL ||
		    partial_find(p + 3, (size_t)(close - (p + 3))) == N_PARTIALS) {
			snprintf(err, errsz, "%s: %s", file,
				 partial ? "a partial includes another"
					 : "{{> ...}} names no partial of templates/partials");
			return CID_ERR_CONFIG;
		}
	}
	return CID_OK;
}

enum cid_err cid_templates_load(const char *web_dir, struct cid_templates **out, char *err,
				size_t errsz)
{
	enum cid_err rc = CID_OK;
	struct cid_templates *t = calloc(1, sizeof(*t));
	char dir[1024];
	char file[64];

	CID_ENSURE(t != NULL, CID_ERR_NOMEM);
	CID_ENSURE(snprintf(dir, sizeof(dir), "%s/templates", web_dir) < (int)sizeof(dir),
		   CID_ERR_TOOBIG);
	for (size_t i = 0; i < N_PAGES; i++) {
		if (page_files[i] == NULL)
			continue;
		CID_TRY(read_file(dir, page_files[i], &t->pages[i], &t->page_len[i], err, errsz));
		CID_TRY(check_includes(page_files[i], t->pages[i], false, err, errsz));
	}
	for (size_t i = 0; i < N_PARTIALS; i++) {
		snprintf(file, sizeof(file), "partials/%s.html", partial_names[i]);
		CID_TRY(read_file(dir, file, &t->partials[i], &t->partial_len[i], err, errsz));
		CID_TRY(check_includes(file, t->partials[i], true, err, errsz));
	}
	CID_ENSURE(snprintf(dir, sizeof(dir), "%s/static", web_dir) < (int)sizeof(dir),
		   CID_ERR_TOOBIG);
	CID_TRY(read_file(dir, "civicid.css", &t->css, &t->css_len, err, errsz));
	CID_TRY(load_messages(web_dir, "ja.json", &t->messages_ja, err, errsz));
	CID_TRY(load_messages(web_dir, "en.json", &t->messages_en, err, errsz));
	*out = t;
	t = NULL;
out:
	cid_templates_free(t);
	return rc;
}

void cid_templates_free(struct cid_templates *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < N_PAGES; i++)
		free(t->pages[i]);
	for (size_t i = 0; i < N_PARTIALS; i++)
		free(t->partials[i]);
	free(t->css);
	json_decref(t->messages_ja);
	json_decref(t->messages_en);
	free(t);
}

const char *cid_templates_css(const struct cid_templates *t, size_t *len)
{
	*len = t->css_len;
	return t->css;
}

/* Appends the escaped text of a scalar JSON value. */
static void put_value(struct cid_buf *b, const json_t *v)
{
	char num[32];

	if (json_is_string(v)) {
		cid_buf_append_html(b, json_string_value(v), json_string_length(v));
	} else if (json_is_integer(v)) {
		snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
		cid_buf_puts(b, num);
	}
}

static bool truthy(const json_t *v)
{
	return json_is_true(v) || (json_is_string(v) && json_string_length(v) > 0) ||
	       json_is_integer(v) || (json_is_array(v) && json_array_size(v) > 0) ||
	       json_is_object(v);
}

struct render {
	const struct cid_templates *t;
	struct cid_buf *out;
	const json_t *messages;
	const json_t *root;
};

/* The value of name in scope, else in the page's data. */
static const json_t *lookup(const struct render *r, const json_t *scope, const char *name)
{
	const json_t *v = json_object_get(scope, name);

	return v != NULL || scope == r->root ? v : json_object_get(r->root, name);
}

/*
 * Appends the message msg (a string), every "{}" in it replaced by the
 * escaped text of the value of arg (NULL: none; a missing value: nothing).
 */
static void put_message(const struct render *r, const json_t *msg, const json_t *scope,
			const char *arg)
{
	const char *p = json_string_value(msg);
	const char *end = p + json_string_length(msg);

	while (p < end) {
		const char *hole = arg == NULL ? NULL : strstr(p, "{}");

		if (hole == NULL || hole >= end) {
			cid_buf_append_html(r->out, p, (size_t)(end - p));
			return;
		}
		cid_buf_append_html(r->out, p, (size_t)(hole - p));
		put_value(r->out, lookup(r, scope, arg));
		p = hole + 2;
	}
}

static void render_span(const struct render *r, const char *p, const char *end, const json_t *scope,
			int depth);

/*
 * {{t:name}}: the message whose key is the value of name (a label chosen by
 * libauth, e.g. "attr.email"); the value itself when no message has that key,
 * so a missing translation shows the claim name rather than nothing.
 */
static void put_message_of(const struct render *r, const json_t *scope, const char *name,
			   const char *arg)
{
	const json_t *v = lookup(r, scope, name);
	const json_t *msg;

	if (!json_is_string(v))
		return;
	msg = json_object_get(r->messages, json_string_value(v));
	if (json_is_string(msg))
		put_message(r, msg, scope, arg);
	else
		put_value(r->out, v);
}

/*
 * Renders the section {{#name}}body{{/name}} (inverted: {{^name}}) whose name
 * is name[0..nl); returns where the text resumes.
 */
static const char *render_section(const struct render *r, const char *name, size_t nl,
				  bool inverted, const char *body, const char *end,
				  const json_t *scope, int depth)
{
	char close[80];
	const char *stop;
	const json_t *v;
	char key[64];

	if (nl >= sizeof(key) || snprintf(close, sizeof(close), "{{/%.*s}}", (int)nl, name) < 0)
		return end;
	memcpy(key, name, nl);
	key[nl] = '\0';
	stop = strstr(body, close);
	if (stop == NULL || stop > end)
		return end;
	v = lookup(r, scope, key);
	if (inverted) {
		if (!truthy(v))
			render_span(r, body, stop, scope, depth + 1);
	} else if (json_is_array(v)) {
		size_t i;
		json_t *el;

		json_array_foreach((json_t *)(uintptr_t)v, i, el)
		    render_span(r, body, stop, el, depth + 1);
	} else if (json_is_object(v)) {
		render_span(r, body, stop, v, depth + 1);
	} else if (truthy(v)) {
		render_span(r, body, stop, scope, depth + 1);
	}
	return stop + strlen(close);
}

static void render_span(const struct render *r, const char *p, const char *end, const json_t *scope,
			int depth)
{
	char key[64];

	if (depth > MAX_DEPTH)
		return;
	while (p < end) {
		const char *open = strstr(p, "{{");
		const char *close;
		size_t nl;

		if (open == NULL || open >= end) {
			cid_buf_append(r->out, p, (size_t)(end - p));
			return;
		}
		cid_buf_append(r->out, p, (size_t)(open - p));
		close = strstr(open, "}}");
		if (close == NULL || close >= end)
			return;
		nl = (size_t)(close - open - 2);
		if (open[2] == '#' || open[2] == '^') {
			p = render_section(r, open + 3, nl - 1, open[2] == '^', close + 2, end,
					   scope, depth);
			continue;
		}
		p = close + 2;
		if (open[2] == '>') {
			size_t i = partial_find(open + 3, nl - 1);

			if (i < N_PARTIALS)
				render_span(r, r->t->partials[i],
					    r->t->partials[i] + r->t->partial_len[i], scope,
					    depth + 1);
			continue;
		}
		if (nl == 0 || nl >= sizeof(key))
			continue;
		memcpy(key, open + 2, nl);
		key[nl] = '\0';
		{
			/* "t.key|arg", "t:name|arg": the message with arg's value for its "{}" */
			char *bar = strchr(key, '|');
			const char *arg = NULL;

			if (bar != NULL) {
				*bar = '\0';
				arg = bar + 1;
			}
			if (strncmp(key, "t.", 2) == 0) {
				const json_t *msg = json_object_get(r->messages, key + 2);

				if (json_is_string(msg))
					put_message(r, msg, scope, arg);
			} else if (strncmp(key, "t:", 2) == 0) {
				put_message_of(r, scope, key + 2, arg);
			} else {
				put_value(r->out, lookup(r, scope, key));
			}
		}
	}
}

enum cid_err cid_templates_render(const struct cid_templates *t, enum cid_page page,
				  const json_t *data, const char *locale, char **out, size_t *len)
{
	struct cid_buf b;
	const char *tpl;
	struct render r;
	enum cid_err rc;

	if ((size_t)page >= N_PAGES || t->pages[page] == NULL)
		return CID_ERR_INVALID;
	tpl = t->pages[page];
	cid_buf_init(&b, CID_MAX_RESPONSE);
	r.t = t;
	r.out = &b;
	r.messages = locale != NULL && strcmp(locale, "en") == 0 ? t->messages_en : t->messages_ja;
	r.root = data;
	render_span(&r, tpl, tpl + t->page_len[page], data, 0);
	rc = cid_buf_status(&b);
	if (rc != CID_OK) {
		cid_buf_free(&b);
		return rc;
	}
	*out = cid_buf_take(&b, len);
	return *out == NULL ? CID_ERR_NOMEM : CID_OK;
}
