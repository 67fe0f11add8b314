/*
 * provision: the third-party provision records (provision.h) from the audit
 * log's release.permit entries.
 *
 * One walk of the log through cid_audit_query (its service index when a
 * recipient is named, its time index for a period), grouping entries by
 * (service, citizen). Sets (items, consent records, bases, dates) are JSON
 * objects used as sets while walking and sorted arrays in the answer. Each
 * policy version an entry names is looked up in the archive once per call
 * and parsed as the server parsed it; a version the archive lacks makes the
 * recipient a third party without a name: listed, so a gap shows rather
 * than hides a provision.
 */
#include "provision.h"

#include "audit.h"
#include "csv.h"
#include "law.h"
#include "policy_archive.h"
#include "policy_law.h"
#include "pseudonym.h"
#include "tz.h"

#include <stdlib.h>
#include <string.h>

struct walk {
	struct cid_txn *txn;
	json_t *rows;	  /* service "\n" citizen -> row (with set objects) */
	json_t *versions; /* policy version -> recipient object, or null */
};

enum cid_err cid_provision_recipient(struct cid_txn *txn, json_t *cache, const char *service,
				     const char *version, json_t **out)
{
	enum cid_err rc = CID_OK;
	json_t *rec = NULL;
	struct cid_policyset *ps = NULL;
	struct cid_recipient_info info;
	json_t *cached = version != NULL ? json_object_get(cache, version) : NULL;

	*out = NULL;
	if (cached != NULL) {
		*out = json_is_object(cached) ? cached : NULL;
		return CID_OK;
	}
	if (version == NULL)
		return CID_OK;
	rc = cid_policy_archive_get(txn, version, &rec);
	if (rc == CID_ERR_NOTFOUND) {
		rc = CID_OK;
		goto none;
	}
	CID_TRY(rc);
	const char *text = cid_json_str(rec, "text");
	const char *file = cid_json_str(rec, "file");
	if (text == NULL || file == NULL ||
	    cid_policyset_parse(file, text, strlen(text), NULL, &ps) != CID_OK)
		goto none;
	cid_policy_recipient(cid_policyset_find(ps, service), &info);
	json_t *r = json_pack("{s:s?, s:s?, s:s}", "name", info.name, "corporate_number",
			      info.corporate_number, "relationship",
			      cid_relationship_name(info.relationship));
	CID_ENSURE(r != NULL && json_object_set_new(cache, version, r) == 0, CID_ERR_NOMEM);
	*out = r;
	goto out;
none:
	CID_ENSURE(json_object_set_new(cache, version, json_null()) == 0, CID_ERR_NOMEM);
out:
	cid_policyset_free(ps);
	json_decref(rec);
	return rc;
}

/* Adds the strings of v (a string or an array of them) to the set object set. */
static enum cid_err set_add(json_t *set, const json_t *v)
{
	size_t i;
	const json_t *item;

	if (json_is_string(v))
		return json_object_set_new(set, json_string_value(v), json_true()) == 0
			   ? CID_OK
			   : CID_ERR_NOMEM;
	json_array_foreach(v, i, item)
	{
		if (json_is_string(item) &&
		    json_object_set_new(set, json_string_value(item), json_true()) != 0)
			return CID_ERR_NOMEM;
	}
	return CID_OK;
}

static json_t *new_row(const char *service, const char *citizen, const char *time)
{
	return json_pack("{s:s, s:s, s:o, s:b, s:o, s:o, s:o, s:o, s:s, s:s, s:I}", "service",
			 service, "citizen", citizen, "attributes", json_object(),
			 "consent_obtained", 0, "consent_records", json_object(), "bases",
			 json_object(), "dates", json_object(), "recipient", json_null(), "first",
			 time, "last", time, "count", (json_int_t)0);
}

/* The key of a row, "service\ncitizen" (a new string), or NULL when out of memory. */
static char *pair_key(const char *service, const char *citizen)
{
	size_t len = strlen(service) + strlen(citizen) + 2;
	char *key = malloc(len);

	if (key != NULL)
		snprintf(key, len, "%s\n%s", service, citizen);
	return key;
}

static enum cid_err entry_cb(uint64_t seq, struct cid_str entry, void *arg)
{
	struct walk *w = arg;
	enum cid_err rc = CID_OK;
	json_t *e = NULL, *recipient = NULL, *scope = NULL;
	int64_t t;
	char day[11];

	(void)seq;
	CID_TRY(cid_store_parse_json(entry, &e));
	const char *service = cid_json_str(e, "service");
	const char *citizen = cid_json_str(e, "citizen");
	/* the record names the person (Art. 29): the account behind the entry's
	 * pseudonym, while the mapping lasts (retention.h keeps it as long as a
	 * third party's record must be kept); a purged one stays a pseudonym */
	if (citizen != NULL && cid_pseudonym_syntax_ok(citizen)) {
		rc = cid_pseudonym_resolve(w->txn, citizen, &scope);
		if (rc == CID_OK && cid_json_str(scope, "citizen") != NULL)
			citizen = cid_json_str(scope, "citizen");
		else if (rc != CID_ERR_NOTFOUND)
			CID_TRY(rc);
		rc = CID_OK;
	}
	const char *time = cid_json_str(e, "time");
	const char *basis = cid_json_str(e, "basis");
	if (service == NULL || citizen == NULL || time == NULL ||
	    cid_time_parse(time, &t) != CID_OK)
		goto out;
	char *key = pair_key(service, citizen);
	CID_ENSURE(key != NULL, CID_ERR_NOMEM);
	json_t *row = json_object_get(w->rows, key);
	if (row == NULL) {
		row = new_row(service, citizen, time);
		if (row == NULL || json_object_set_new(w->rows, key, row) != 0) {
			free(key);
			CID_ENSURE(false, CID_ERR_NOMEM);
		}
	}
	free(key);
	/* entries come in seq order: the newest entry's policy version decides */
	CID_TRY(cid_provision_recipient(w->txn, w->versions, service,
					cid_json_str(e, "policy_version"), &recipient));
	CID_ENSURE(json_object_set(row, "recipient", recipient != NULL ? recipient : json_null()) ==
		       0,
		   CID_ERR_NOMEM);
	if (strcmp(time, cid_json_str(row, "first")) < 0)
		CID_ENSURE(json_object_set_new(row, "first", json_string(time)) == 0,
			   CID_ERR_NOMEM);
	if (strcmp(time, cid_json_str(row, "last")) > 0)
		CID_ENSURE(json_object_set_new(row, "last", json_string(time)) == 0, CID_ERR_NOMEM);
	CID_ENSURE(
	    json_object_set_new(row, "count", json_integer(cid_json_int(row, "count") + 1)) == 0,
	    CID_ERR_NOMEM);
	if (basis != NULL && strcmp(basis, "consent") == 0)
		CID_ENSURE(json_object_set_new(row, "consent_obtained", json_true()) == 0,
			   CID_ERR_NOMEM);
	cid_law_day(t, day);
	CID_TRY(set_add(json_object_get(row, "attributes"), json_object_get(e, "attributes")));
	CID_TRY(set_add(json_object_get(row, "bases"), json_object_get(e, "basis")));
	CID_TRY(set_add(json_object_get(row, "consent_records"),
			json_object_get(e, "consent_records")));
	CID_ENSURE(json_object_set_new(json_object_get(row, "dates"), day, json_true()) == 0,
		   CID_ERR_NOMEM);
out:
	json_decref(scope);
	json_decref(e);
	return rc;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Replaces the set object member name of row by the sorted array of its keys. */
static enum cid_err set_to_array(json_t *row, const char *name)
{
	json_t *set = json_object_get(row, name);
	size_t n = 0;
	const char *k;
	json_t *v;
	const char **keys = calloc(json_object_size(set) + 1, sizeof(*keys));
	json_t *list = json_array();
	enum cid_err rc = CID_OK;

	CID_ENSURE(keys != NULL && list != NULL, CID_ERR_NOMEM);
	json_object_foreach(set, k, v) keys[n++] = k;
	qsort(keys, n, sizeof(*keys), str_cmp);
	for (size_t i = 0; i < n; i++)
		CID_ENSURE(json_array_append_new(list, json_string(keys[i])) == 0, CID_ERR_NOMEM);
	CID_ENSURE(json_object_set(row, name, list) == 0, CID_ERR_NOMEM);
out:
	json_decref(list);
	free(keys);
	return rc;
}

/* By service, then citizen: the order of the keys "service\ncitizen". */
static int key_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

enum cid_err cid_provision_records(struct cid_txn *txn, const struct cid_provision_query *q,
				   json_t **out)
{
	struct walk w = {.txn = txn, .rows = json_object(), .versions = json_object()};
	struct cid_audit_filter f = {.type = "release.permit"};
	json_t *result = json_pack("{s:[], s:[]}", "provisions", "not_third_party");
	const char **keys = NULL;
	enum cid_err rc = CID_OK;
	const char *k;
	json_t *row;
	size_t n = 0;

	CID_ENSURE(w.rows != NULL && w.versions != NULL && result != NULL, CID_ERR_NOMEM);
	if (q != NULL) {
		f.service = q->recipient;
		f.from = q->from;
		f.to = q->to;
	}
	CID_TRY(cid_audit_query(txn, &f, entry_cb, &w));
	keys = calloc(json_object_size(w.rows) + 1, sizeof(*keys));
	CID_ENSURE(keys != NULL, CID_ERR_NOMEM);
	json_object_foreach(w.rows, k, row) keys[n++] = k;
	qsort(keys, n, sizeof(*keys), key_cmp);
	for (size_t i = 0; i < n; i++) {
		row = json_object_get(w.rows, keys[i]);
		CID_TRY(set_to_array(row, "attributes"));
		CID_TRY(set_to_array(row, "consent_records"));
		CID_TRY(set_to_array(row, "bases"));
		CID_TRY(set_to_array(row, "dates"));
		const json_t *recipient = json_object_get(row, "recipient");
		if (!json_is_object(recipient))
			CID_ENSURE(json_object_set_new(row, "recipient",
						       json_pack("{s:n, s:n, s:s}", "name",
								 "corporate_number", "relationship",
								 "third_party")) == 0,
				   CID_ERR_NOMEM);
		enum cid_relationship rel = CID_RELATIONSHIP_THIRD_PARTY;
		const char *name = cid_json_str(json_object_get(row, "recipient"), "relationship");
		if (name != NULL)
			(void)cid_relationship_parse(name, strlen(name), &rel);
		const char *list =
		    cid_relationship_is_provision(rel) ? "provisions" : "not_third_party";
		CID_ENSURE(json_array_append(json_object_get(result, list), row) == 0,
			   CID_ERR_NOMEM);
	}
	*out = result;
	result = NULL;
out:
	free(keys);
	json_decref(result);
	json_decref(w.rows);
	json_decref(w.versions);
	return rc;
}

/* Adds the rows of list to index, each under its key "service\ncitizen". */
static enum cid_err index_rows(json_t *index, const json_t *list)
{
	enum cid_err rc = CID_OK;
	const json_t *row;
	size_t i;
	char *key = NULL;

	json_array_foreach(list, i, row)
	{
		free(key);
		key = pair_key(cid_json_str(row, "service"), cid_json_str(row, "citizen"));
		CID_ENSURE(key != NULL &&
			       json_object_set(index, key, (json_t *)(uintptr_t)row) == 0,
			   CID_ERR_NOMEM);
	}
out:
	free(key);
	return rc;
}

enum cid_err cid_provision_records_purge_allowed(const json_t *records, const json_t *all,
						 int64_t now, bool *allowed, const json_t **refused,
						 char keep_until[11])
{
	enum cid_err rc = CID_OK;
	json_t *newest = json_object();
	const json_t *row;
	char *key = NULL;
	size_t i;

	*allowed = true;
	CID_ENSURE(newest != NULL, CID_ERR_NOMEM);
	CID_TRY(index_rows(newest, json_object_get(all, "provisions")));
	CID_TRY(index_rows(newest, json_object_get(all, "not_third_party")));
	json_array_foreach(records, i, row)
	{
		const json_t *whole;
		int64_t last = 0, later = 0;

		free(key);
		key = pair_key(cid_json_str(row, "service"), cid_json_str(row, "citizen"));
		CID_ENSURE(key != NULL, CID_ERR_NOMEM);
		whole = json_object_get(newest, key);
		if (whole == NULL)
			whole = row;
		if (cid_time_parse(cid_json_str(row, "last"), &last) != CID_OK ||
		    cid_time_parse(cid_json_str(whole, "last"), &later) != CID_OK ||
		    !cid_provision_purge_allowed(later > last ? later : last, now,
						 CID_PROVISION_RECORD_STANDARD, keep_until)) {
			*allowed = false;
			*refused = later > last ? whole : row;
			goto out;
		}
	}
out:
	free(key);
	json_decref(newest);
	return rc;
}

/* The strings of an array member joined by ' ' (a new string), or NULL when out of memory. */
static char *words(const json_t *row, const char *name)
{
	char *text = NULL;
	size_t len = 0, i;
	const json_t *v;
	FILE *f = open_memstream(&text, &len);

	if (f == NULL)
		return NULL;
	json_array_foreach(json_object_get(row, name), i, v)
	    fprintf(f, "%s%s", i > 0 ? " " : "", json_string_value(v));
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

enum cid_err cid_provision_records_csv(const json_t *records, FILE *out)
{
	static const char *const header[] = {
	    "recipient_service",
	    "recipient_name",
	    "corporate_number",
	    "relationship",
	    "citizen",
	    "items",
	    "consent_obtained",
	    "consent_records",
	    "bases",
	    "dates",
	    "first",
	    "last",
	    "releases",
	};

	enum { N = sizeof(header) / sizeof(header[0]) };
	enum cid_err rc = CID_OK;
	const json_t *row;
	size_t i;

	CID_ENSURE(cid_csv_bom(out) && cid_csv_row(out, header, N), CID_ERR_IO);
	json_array_foreach(json_object_get(records, "provisions"), i, row)
	{
		const json_t *r = json_object_get(row, "recipient");
		char *items = words(row, "attributes"), *consents = words(row, "consent_records");
		char *bases = words(row, "bases"), *dates = words(row, "dates");
		char count[24];
		snprintf(count, sizeof(count), "%lld", (long long)cid_json_int(row, "count"));
		const char *cells[N] = {
		    cid_json_str(row, "service"),
		    cid_json_str(r, "name"),
		    cid_json_str(r, "corporate_number"),
		    cid_json_str(r, "relationship"),
		    cid_json_str(row, "citizen"),
		    items,
		    json_is_true(json_object_get(row, "consent_obtained")) ? "yes" : "no",
		    consents,
		    bases,
		    dates,
		    cid_json_str(row, "first"),
		    cid_json_str(row, "last"),
		    count,
		};
		bool ok = items != NULL && consents != NULL && bases != NULL && dates != NULL;
		bool written = ok && cid_csv_row(out, cells, N);
		free(items);
		free(consents);
		free(bases);
		free(dates);
		CID_ENSURE(ok, CID_ERR_NOMEM);
		CID_ENSURE(written, CID_ERR_IO);
	}
	CID_ENSURE(fflush(out) == 0, CID_ERR_IO);
out:
	return rc;
}
