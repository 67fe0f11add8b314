/*
 * idp_buttons: how the login page offers the upstreams (issue 15): each
 * registration's button label in Japanese and English and its place among
 * the others (idp.h's struct cid_idp_display).
 *
 * Labels are what a city wants the citizen to read ("マイナンバーカード"),
 * which a registration's name (a-z 0-9 _ -) cannot say. A missing label
 * falls back to the other language's, then to the name, so a button never
 * goes blank. Order: ascending, unset ones at CID_IDP_ORDER_DEFAULT, ties by
 * name, so the page is the same for the same registrations.
 */
#include "idp.h"

#include "idp_int.h"
#include "str.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct set_arg {
	const char *name;
	const struct cid_idp_display *d;
};

static enum cid_err set_cb(struct cid_txn *txn, void *arg)
{
	const struct set_arg *a = arg;
	enum cid_err rc = CID_OK;
	json_t *rec = NULL;

	CID_TRY(cid_txn_get_json(txn, CID_DB_IDPS, cid_str_of(a->name), &rec));
	CID_TRY(cid_idp_display_apply(a->d, rec));
	rc = cid_txn_put_json(txn, CID_DB_IDPS, cid_str_of(a->name), rec, 0);
out:
	json_decref(rec);
	return rc;
}

enum cid_err cid_idp_set_display(struct cid_store *s, const char *name,
				 const struct cid_idp_display *d)
{
	struct set_arg a = {name, d};

	if (name == NULL || name[0] == '\0' ||
	    strnlen(name, CID_IDP_MAX_NAME + 1) > CID_IDP_MAX_NAME)
		return CID_ERR_NOTFOUND;
	if (!cid_idp_display_ok(d))
		return CID_ERR_INVALID;
	return cid_store_update(s, set_cb, &a);
}

static int order_of(const json_t *row)
{
	const json_t *o = json_object_get(row, "order");

	return json_is_integer(o) ? (int)json_integer_value(o) : CID_IDP_ORDER_DEFAULT;
}

/* A registration's label in the page's language, else the other's, else its name. */
static const char *label_of(const json_t *rec, bool ja)
{
	const char *own = cid_json_str(rec, ja ? "label_ja" : "label_en");
	const char *other = cid_json_str(rec, ja ? "label_en" : "label_ja");

	return own != NULL ? own : other != NULL ? other : cid_json_str(rec, "name");
}

/* One registration being sorted (a struct keeps calloc's sizeof about an object). */
struct row {
	const json_t *rec;
};

static int by_order(const void *a, const void *b)
{
	const json_t *x = ((const struct row *)a)->rec;
	const json_t *y = ((const struct row *)b)->rec;
	int ox = order_of(x), oy = order_of(y);

	if (ox != oy)
		return ox < oy ? -1 : 1;
	return strcmp(cid_json_str(x, "name"), cid_json_str(y, "name"));
}

/* Keeps view (shared: a reference, never a change) in the array arg. */
static enum cid_err keep_view(const json_t *view, void *arg)
{
	return json_array_append(arg, (json_t *)(uintptr_t)view) == 0 ? CID_OK : CID_ERR_NOMEM;
}

enum cid_err cid_idp_buttons(struct cid_store *s, const char *locale, json_t **out)
{
	enum cid_err rc = CID_OK;
	json_t *all = json_array();
	json_t *buttons = json_array();
	struct row *rows = NULL;
	size_t n;
	bool ja = locale != NULL && strcmp(locale, "ja") == 0;

	CID_ENSURE(all != NULL && buttons != NULL, CID_ERR_NOMEM);
	CID_TRY(idp_foreach_public(s, keep_view, all));
	n = json_array_size(all);
	rows = calloc(n + 1, sizeof(*rows));
	CID_ENSURE(rows != NULL, CID_ERR_NOMEM);
	for (size_t i = 0; i < n; i++)
		rows[i].rec = json_array_get(all, i);
	qsort(rows, n, sizeof(*rows), by_order);
	for (size_t i = 0; i < n; i++) {
		const char *name = cid_json_str(rows[i].rec, "name");

		CID_ENSURE(
		    json_array_append_new(buttons, json_pack("{s:s, s:s}", "name", name, "label",
							     label_of(rows[i].rec, ja))) == 0,
		    CID_ERR_NOMEM);
	}
	*out = buttons;
	buttons = NULL;
out:
	free(rows);
	json_decref(all);
	json_decref(buttons);
	return rc;
}

struct labels_arg {
	json_t *labels;
	bool ja;
};

/* Sets the label of view (as cid_idp_buttons picks it) under its issuer. */
static enum cid_err label_one(const json_t *view, void *arg)
{
	const struct labels_arg *a = arg;
	const char *issuer = cid_json_str(view, "issuer");

	if (issuer == NULL)
		return CID_OK;
	return json_object_set_new(a->labels, issuer, json_string(label_of(view, a->ja))) == 0
		   ? CID_OK
		   : CID_ERR_NOMEM;
}

enum cid_err cid_idp_labels(struct cid_store *s, const char *locale, json_t **out)
{
	enum cid_err rc = CID_OK;
	struct labels_arg a = {json_object(), locale != NULL && strcmp(locale, "ja") == 0};

	CID_ENSURE(a.labels != NULL, CID_ERR_NOMEM);
	CID_TRY(idp_foreach_public(s, label_one, &a));
	*out = a.labels;
	a.labels = NULL;
out:
	json_decref(a.labels);
	return rc;
}
