/*
 * template: the HTML pages, loaded once at start and rendered per request.
 *
 * A deliberately tiny subset of Mustache: {{name}} inserts a value of the page
 * data, HTML-escaped (there is no unescaped form, so data can never inject
 * markup); {{t.key}} inserts a message of the page's language from
 * web/messages/<lang>.json, also escaped; {{t:name}} inserts the message whose
 * key is the value of name (falling back to the value), escaped;
 * {{t.key|arg}} and {{t:name|arg}} insert the message with each "{}" in it
 * replaced by the escaped value of arg (so a number sits where each
 * language puts it: "{} minutes", "{}分"); {{#name}}...{{/name}} renders its
 * body when name is true, a non-empty string or a number, once with the
 * object as the scope when it is an object, or once per element when it is
 * an array of objects (names inside then refer to the element, else to the
 * page's data); {{^name}}...{{/name}} renders its body when name is none of
 * those. {{> name}} renders the partial templates/partials/NAME.html (head,
 * header, footer: every page's common parts, whose data frame.h describes)
 * in the current scope; a name that is no partial refuses the load.
 * Sections do not nest with the same name; nesting deeper than 8 is not
 * rendered.
 */
#ifndef CID_TEMPLATE_H
#define CID_TEMPLATE_H

#include "err.h"
#include "reply.h"

#include <stddef.h>

struct cid_templates;

/*
 * Loads every page template and both message catalogues from web_dir.
 * On error err[errsz] names the file. *out is freed with cid_templates_free.
 * Errors: CID_ERR_IO (missing file), CID_ERR_CONFIG (bad messages JSON), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_templates_load(const char *web_dir, struct cid_templates **out,
					       char *err, size_t errsz);

void cid_templates_free(struct cid_templates *t);

/*
 * Renders page with data (borrowed) in locale ("ja"/"en") into a new string
 * *out of *len bytes (caller frees). Errors: CID_ERR_TOOBIG, CID_ERR_NOMEM,
 * CID_ERR_INVALID (unknown page).
 */
CID_MUST_CHECK enum cid_err cid_templates_render(const struct cid_templates *t, enum cid_page page,
						 const json_t *data, const char *locale, char **out,
						 size_t *len);

/* The stylesheet, borrowed: served at /static/civicid.css. */
const char *cid_templates_css(const struct cid_templates *t, size_t *len);

#endif
