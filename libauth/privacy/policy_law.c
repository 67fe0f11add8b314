/*
 * policy_law: the APPI's demands on a policyset (policy_law.h), checked and
 * turned into the personal information file register.
 *
 * The parser (policy_parse.c) already refuses what is wrong whatever the
 * controller: a malformed corporate number, an unknown relationship, a ja
 * text without its en. What depends on the controller's type is checked
 * here, after the set is built, so that `civicid policy check`, the server's
 * start and every reload report it with the same file:line messages. The
 * register is built from the set alone: what a policy says is what the
 * register shows, so the two cannot disagree.
 */
#include "policy_law.h"

#include "csv.h"
#include "policy_int.h"

#include <stdlib.h>
#include <string.h>

enum cid_err cid_policyset_law_check(const struct cid_policyset *ps, enum cid_controller_type t,
				     FILE *errors)
{
	unsigned n_errors = 0;

	for (size_t i = 0; t == CID_CONTROLLER_LOCAL_GOVERNMENT && i < ps->n_purposes; i++) {
		const struct purpose *pu = &ps->purposes[i];
		const char *why = NULL;

		if (pu->basis != CID_BASIS_STATUTE ||
		    cid_law_citation_ok(pu->statute, strlen(pu->statute), &why))
			continue;
		n_errors++;
		if (errors != NULL)
			fprintf(errors,
				"%s:%u: purpose %s: the statute basis is not cited as the law "
				"requires (controller_type local_government): %s\n",
				ps->policies[pu->policy].path, pu->statute_line, pu->id, why);
	}
	for (size_t i = 0; t == CID_CONTROLLER_BUSINESS && i < ps->n_policies; i++) {
		const struct cid_policy *pol = &ps->policies[i];

		if (!cid_relationship_is_provision((enum cid_relationship)pol->relationship) ||
		    (pol->recipient_name != NULL && pol->recipient_number != NULL))
			continue;
		n_errors++;
		if (errors != NULL)
			fprintf(errors,
				"%s:%u: service %s is a third party (controller_type business): "
				"its provision records need recipient.name (its legal name) and "
				"recipient.number (its corporate number), or say relationship "
				"entrusted or internal\n",
				pol->path, pol->service_line, pol->service);
	}
	return n_errors == 0 ? CID_OK : CID_ERR_CONFIG;
}

enum cid_err cid_policyset_load_dir_law(const char *dir, const char *controller_type, FILE *errors,
					struct cid_policyset **out)
{
	enum cid_controller_type t;
	struct cid_policyset *ps = NULL;
	enum cid_err rc = CID_OK;

	if (!cid_controller_type_parse(controller_type, &t)) {
		if (errors != NULL)
			fprintf(errors, "controller_type must be local_government or business\n");
		return CID_ERR_CONFIG;
	}
	CID_TRY(cid_policyset_load_dir(dir, errors, &ps));
	CID_TRY(cid_policyset_law_check(ps, t, errors));
	*out = ps;
	ps = NULL;
out:
	cid_policyset_free(ps);
	return rc;
}

void cid_policy_recipient(const struct cid_policy *pol, struct cid_recipient_info *out)
{
	*out = (struct cid_recipient_info){.relationship = CID_RELATIONSHIP_THIRD_PARTY};
	if (pol == NULL)
		return;
	out->name = pol->recipient_name;
	out->corporate_number = pol->recipient_number;
	out->relationship = (enum cid_relationship)pol->relationship;
}

/* ---- the register ---- */

static json_t *pair(const char *ja, const char *en)
{
	if (ja == NULL || en == NULL)
		return json_null();
	return json_pack("{s:s, s:s}", "ja", ja, "en", en);
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The attributes pol permits (sorted, once each) into items, its sensitive ones into sensitive. */
static enum cid_err register_items(const struct cid_policyset *ps, const struct cid_policy *pol,
				   json_t *items, json_t *sensitive)
{
	const char **names = calloc(ps->n_rules + 1, sizeof(*names));
	enum cid_err rc = CID_OK;
	size_t n = 0;

	CID_ENSURE(names != NULL, CID_ERR_NOMEM);
	for (size_t p = pol->first_purpose; p < pol->first_purpose + pol->n_purposes; p++) {
		const struct purpose *pu = &ps->purposes[p];
		for (size_t r = pu->first_rule; r < pu->first_rule + pu->n_rules; r++)
			if (ps->rules[r].kind == RULE_PERMIT &&
			    !policy_denied(ps, pu, ps->rules[r].attribute))
				names[n++] = ps->rules[r].attribute;
	}
	qsort(names, n, sizeof(*names), str_cmp);
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && strcmp(names[i], names[i - 1]) == 0)
			continue;
		CID_ENSURE(json_array_append_new(items, json_string(names[i])) == 0, CID_ERR_NOMEM);
		bool is_sensitive = false;
		for (size_t p = pol->first_purpose; p < pol->first_purpose + pol->n_purposes; p++) {
			const struct purpose *pu = &ps->purposes[p];
			for (size_t r = pu->first_rule; r < pu->first_rule + pu->n_rules; r++)
				is_sensitive =
				    is_sensitive || (ps->rules[r].sensitive &&
						     strcmp(ps->rules[r].attribute, names[i]) == 0);
		}
		if (is_sensitive)
			CID_ENSURE(json_array_append_new(sensitive, json_string(names[i])) == 0,
				   CID_ERR_NOMEM);
	}
out:
	free(names);
	return rc;
}

static json_t *register_purposes(const struct cid_policyset *ps, const struct cid_policy *pol)
{
	json_t *list = json_array();

	for (size_t p = pol->first_purpose;
	     list != NULL && p < pol->first_purpose + pol->n_purposes; p++) {
		const struct purpose *pu = &ps->purposes[p];
		json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "id", pu->id, "ja", pu->text_ja, "en",
				      pu->text_en, "basis",
				      pu->basis == CID_BASIS_STATUTE ? "statute" : "consent");
		if (o != NULL && pu->statute != NULL &&
		    json_object_set_new(o, "statute", json_string(pu->statute)) != 0) {
			json_decref(o);
			o = NULL;
		}
		if (json_array_append_new(list, o) != 0) {
			json_decref(list);
			list = NULL;
		}
	}
	return list;
}

/* Reports each register text pol lacks; true if it has them all. */
static bool register_complete(const struct cid_policy *pol, FILE *errors)
{
	const struct {
		const char *text, *key, *what;
	} need[] = {
	    {pol->file_ja, "file.ja", "the personal information file's name"},
	    {pol->organ_ja, "organ.ja", "the organ that holds the file"},
	    {pol->persons_ja, "persons.ja", "whom the file records"},
	    {pol->collection_ja, "collection.ja", "how its data are collected"},
	};

	bool ok = true;

	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		if (need[i].text != NULL)
			continue;
		ok = false;
		if (errors != NULL)
			fprintf(errors,
				"%s:1: no %s and its en (%s): the personal information file "
				"register needs it\n",
				pol->path, need[i].key, need[i].what);
	}
	return ok;
}

enum cid_err cid_policy_register(const struct cid_policyset *ps, FILE *errors, json_t **out)
{
	enum cid_err rc = CID_OK;
	json_t *list = json_array();
	json_t *items = NULL, *sensitive = NULL;
	bool complete = true;

	CID_ENSURE(list != NULL, CID_ERR_NOMEM);
	for (size_t i = 0; i < ps->n_policies; i++)
		complete = register_complete(&ps->policies[i], errors) && complete;
	CID_ENSURE(complete, CID_ERR_CONFIG);
	for (size_t i = 0; i < ps->n_policies; i++) {
		const struct cid_policy *pol = &ps->policies[i];

		items = json_array();
		sensitive = json_array();
		CID_ENSURE(items != NULL && sensitive != NULL, CID_ERR_NOMEM);
		CID_TRY(register_items(ps, pol, items, sensitive));
		json_t *row = json_pack(
		    "{s:s, s:s, s:o, s:o, s:o, s:O, s:b, s:O, s:o, s:o, s:o}", "service",
		    pol->service, "policy_version", pol->version, "file",
		    pair(pol->file_ja, pol->file_en), "organ", pair(pol->organ_ja, pol->organ_en),
		    "purposes", register_purposes(ps, pol), "items", items, "sensitive",
		    json_array_size(sensitive) > 0, "sensitive_items", sensitive, "persons",
		    pair(pol->persons_ja, pol->persons_en), "collection",
		    pair(pol->collection_ja, pol->collection_en), "regular_recipients",
		    pair(pol->regular_ja, pol->regular_en));
		CID_ENSURE(json_array_append_new(list, row) == 0, CID_ERR_NOMEM);
		json_decref(items);
		json_decref(sensitive);
		items = sensitive = NULL;
	}
	*out = list;
	list = NULL;
out:
	json_decref(items);
	json_decref(sensitive);
	json_decref(list);
	return rc;
}

/* ---- writing it ---- */

static const char *const columns_ja[] = {
    "ファイル名", "保有機関",	    "利用目的",	    "記録項目", "記録範囲",
    "収集方法",	  "要配慮個人情報", "通常の提供先", "サービス", "ポリシー版",
};
static const char *const columns_en[] = {
    "file name",
    "organ",
    "purpose of use",
    "items recorded",
    "persons covered",
    "collection method",
    "special care-required information",
    "regular recipients",
    "service",
    "policy version",
};
#define N_COLUMNS (sizeof(columns_ja) / sizeof(columns_ja[0]))

static const char *text_in(const json_t *row, const char *member, const char *lang)
{
	return cid_json_str(json_object_get(row, member), lang);
}

/* The strings of list (or of member lang of its objects) joined by sep. */
static char *joined(const json_t *list, const char *lang, const char *sep)
{
	char *text = NULL;
	size_t len = 0, i;
	const json_t *v;
	FILE *f = open_memstream(&text, &len);

	if (f == NULL)
		return NULL;
	json_array_foreach(list, i, v)
	{
		const char *s = json_is_string(v) ? json_string_value(v) : cid_json_str(v, lang);
		fprintf(f, "%s%s", i > 0 ? sep : "", s != NULL ? s : "");
	}
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

/* One row in lang, flattened: the JSON object of cid_policy_register_write. */
static json_t *flat_row(const json_t *row, const char *lang, const char *sep)
{
	char *purposes = joined(json_object_get(row, "purposes"), lang, sep);
	json_t *o = NULL;

	if (purposes != NULL)
		o = json_pack(
		    "{s:s?, s:s?, s:s, s:O, s:s?, s:s?, s:O, s:O, s:s?, s:s, s:s}", "file_name",
		    text_in(row, "file", lang), "organ", text_in(row, "organ", lang),
		    "purpose_of_use", purposes, "items", json_object_get(row, "items"), "persons",
		    text_in(row, "persons", lang), "collection", text_in(row, "collection", lang),
		    "sensitive", json_object_get(row, "sensitive"), "sensitive_items",
		    json_object_get(row, "sensitive_items"), "regular_recipients",
		    text_in(row, "regular_recipients", lang), "service",
		    cid_json_str(row, "service"), "policy_version",
		    cid_json_str(row, "policy_version"));
	free(purposes);
	return o;
}

static enum cid_err csv_write(const json_t *flat, bool ja, const char *sep, FILE *out)
{
	char *items = joined(json_object_get(flat, "items"), NULL, sep);
	char *sens = joined(json_object_get(flat, "sensitive_items"), NULL, sep);
	char *sensitive = NULL;
	size_t len = 0;
	enum cid_err rc = CID_OK;

	CID_ENSURE(items != NULL && sens != NULL, CID_ERR_NOMEM);
	/* the cell grows with the items: no fixed buffer that could cut it */
	FILE *cell = open_memstream(&sensitive, &len);
	CID_ENSURE(cell != NULL, CID_ERR_NOMEM);
	if (json_is_true(json_object_get(flat, "sensitive")))
		fprintf(cell, ja ? "含む（%s）" : "yes (%s)", sens);
	else
		fputs(ja ? "含まない" : "no", cell);
	CID_ENSURE(fclose(cell) == 0 && sensitive != NULL, CID_ERR_NOMEM);
	const char *regular = cid_json_str(flat, "regular_recipients");
	const char *row[N_COLUMNS] = {
	    cid_json_str(flat, "file_name"),
	    cid_json_str(flat, "organ"),
	    cid_json_str(flat, "purpose_of_use"),
	    items,
	    cid_json_str(flat, "persons"),
	    cid_json_str(flat, "collection"),
	    sensitive,
	    regular != NULL ? regular : (ja ? "なし" : "none"),
	    cid_json_str(flat, "service"),
	    cid_json_str(flat, "policy_version"),
	};
	CID_ENSURE(cid_csv_row(out, row, N_COLUMNS), CID_ERR_IO);
out:
	free(sensitive);
	free(items);
	free(sens);
	return rc;
}

enum cid_err cid_policy_register_write(const json_t *register_rows, const char *lang, bool csv,
				       FILE *out)
{
	enum cid_err rc = CID_OK;
	json_t *list = json_array();
	json_t *flat = NULL;
	const json_t *row;
	size_t i;

	CID_ENSURE(list != NULL, CID_ERR_NOMEM);
	CID_ENSURE(lang != NULL && (strcmp(lang, "ja") == 0 || strcmp(lang, "en") == 0),
		   CID_ERR_INVALID);
	bool ja = strcmp(lang, "ja") == 0;
	const char *sep = ja ? "、" : "; ";
	if (csv)
		CID_ENSURE(cid_csv_bom(out) &&
			       cid_csv_row(out, ja ? columns_ja : columns_en, N_COLUMNS),
			   CID_ERR_IO);
	json_array_foreach(register_rows, i, row)
	{
		flat = flat_row(row, lang, sep);
		CID_ENSURE(flat != NULL, CID_ERR_NOMEM);
		if (csv)
			CID_TRY(csv_write(flat, ja, sep, out));
		else
			CID_ENSURE(json_array_append(list, flat) == 0, CID_ERR_NOMEM);
		json_decref(flat);
		flat = NULL;
	}
	if (!csv)
		CID_ENSURE(json_dumpf(list, out, JSON_INDENT(2)) == 0 && fputc('\n', out) != EOF,
			   CID_ERR_IO);
	CID_ENSURE(fflush(out) == 0, CID_ERR_IO);
out:
	json_decref(flat);
	json_decref(list);
	return rc;
}
