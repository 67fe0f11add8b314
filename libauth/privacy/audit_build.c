/*
 * audit_build: an audit entry made member by member straight into the
 * canonical bytes of struct audit_prepared (audit_int.h), without a jansson
 * object in between. The release path writes a few entries per request, and
 * making them as jansson objects, then bytes, then freeing them was most of
 * its allocations. The bytes are those audit_canon_append writes of the same
 * object: strings through cid_buf_append_json_str, members sorted as
 * JSON_SORT_KEYS sorts them; the checks are those of cid_audit_append.
 */
#include "audit_int.h"

#include <stdlib.h>
#include <string.h>

/* The members the write transaction reads, in the order of audit_build's key_at. */
static const char *const key_names[] = {"citizen", "service", "purpose", "time", "request_id"};

#define N_KEYS (sizeof(key_names) / sizeof(key_names[0]))

void audit_build_init(struct audit_build *b)
{
	cid_buf_init(&b->vals, SIZE_MAX / 4);
	cid_buf_init(&b->keys, SIZE_MAX / 4);
	b->n = 0;
	b->bad = false;
	for (size_t k = 0; k < N_KEYS; k++)
		b->key_at[k] = SIZE_MAX;
}

void audit_build_free(struct audit_build *b)
{
	cid_buf_free(&b->vals);
	cid_buf_free(&b->keys);
	audit_build_init(b);
}

/* Starts member name, its value to be appended to b->vals; false when b is full. */
static bool member_begin(struct audit_build *b, const char *name)
{
	if (b->n == AUDIT_CANON_NAMES) {
		b->bad = true;
		return false;
	}
	b->m[b->n].name = name;
	b->m[b->n].at = b->vals.len;
	return true;
}

static void member_end(struct audit_build *b)
{
	b->m[b->n].len = b->vals.len - b->m[b->n].at;
	b->n++;
}

/*
 * Appends one JSON string made of prefix (np bytes) then s (n bytes), or
 * marks b bad when jansson would refuse it (either piece not UTF-8).
 */
static void append_str(struct audit_build *b, const char *prefix, size_t np, const char *s,
		       size_t n)
{
	if (!cid_utf8_wellformed(prefix, np) || !cid_utf8_wellformed(s, n))
		b->bad = true;
	cid_buf_append(&b->vals, "\"", 1);
	cid_buf_append_json_chars(&b->vals, prefix, np);
	cid_buf_append_json_chars(&b->vals, s, n);
	cid_buf_append(&b->vals, "\"", 1);
}

void audit_build_str(struct audit_build *b, const char *name, const char *s)
{
	audit_build_prefixed(b, name, "", s);
}

void audit_build_prefixed(struct audit_build *b, const char *name, const char *prefix,
			  const char *s)
{
	size_t np, n;

	if (s == NULL || !member_begin(b, name))
		return;
	np = strlen(prefix);
	n = strlen(s);
	/* the transaction's members keep their text apart, for the indexes */
	for (size_t k = 0; k < N_KEYS; k++)
		if (strcmp(name, key_names[k]) == 0) {
			b->key_at[k] = b->keys.len;
			cid_buf_append(&b->keys, prefix, np);
			cid_buf_append(&b->keys, s, n + 1);
		}
	append_str(b, prefix, np, s, n);
	member_end(b);
}

void audit_build_int(struct audit_build *b, const char *name, int64_t v)
{
	if (!member_begin(b, name))
		return;
	cid_buf_append_int(&b->vals, v);
	member_end(b);
}

void audit_build_strs(struct audit_build *b, const char *name, const struct cid_str *v, size_t n)
{
	if (!member_begin(b, name))
		return;
	cid_buf_append(&b->vals, "[", 1);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			cid_buf_append(&b->vals, ",", 1);
		append_str(b, "", 0, v[i].ptr, v[i].len);
	}
	cid_buf_append(&b->vals, "]", 1);
	member_end(b);
}

static int member_cmp(const void *x, const void *y)
{
	return strcmp(((const struct audit_member *)x)->name,
		      ((const struct audit_member *)y)->name);
}

/* The members of b, sorted into sorted[0..b->n) (room for two more); false when a name is twice. */
static bool members_sorted(const struct audit_build *b, struct audit_member *sorted, size_t n)
{
	qsort(sorted, n, sizeof(*sorted), member_cmp);
	for (size_t i = 1; i < n; i++)
		if (strcmp(sorted[i - 1].name, sorted[i].name) == 0)
			return false;
	return !b->bad;
}

/* Appends name ':' value of b's member m to out. */
static void member_put(struct cid_buf *out, const struct audit_build *b,
		       const struct audit_member *m)
{
	cid_buf_append_json_str(out, m->name, strlen(m->name));
	cid_buf_append(out, ":", 1);
	cid_buf_append(out, b->vals.data + m->at, m->len);
}

void audit_build_object(struct audit_build *b, const char *name, const struct audit_build *sub)
{
	struct audit_member sorted[AUDIT_CANON_NAMES];

	if (!member_begin(b, name))
		return;
	memcpy(sorted, sub->m, sub->n * sizeof(*sorted));
	if (cid_buf_status(&sub->vals) != CID_OK || !members_sorted(sub, sorted, sub->n))
		b->bad = true;
	cid_buf_append(&b->vals, "{", 1);
	for (size_t i = 0; i < sub->n && !b->bad; i++) {
		if (i > 0)
			cid_buf_append(&b->vals, ",", 1);
		member_put(&b->vals, sub, &sorted[i]);
	}
	cid_buf_append(&b->vals, "}", 1);
	member_end(b);
}

/* b empty again, its values' room kept for the next entry. */
static void build_empty(struct audit_build *b)
{
	if (cid_buf_status(&b->vals) != CID_OK)
		cid_buf_free(&b->vals);
	b->vals.len = 0;
	cid_buf_free(&b->keys);
	b->n = 0;
	b->bad = false;
	for (size_t k = 0; k < N_KEYS; k++)
		b->key_at[k] = SIZE_MAX;
}

/* True if name is a member the transaction gives (a hole of struct audit_prepared). */
static bool is_hole(const char *name)
{
	return strcmp(name, "citizen") == 0 || strcmp(name, "prev") == 0 ||
	       strcmp(name, "seq") == 0;
}

enum cid_err audit_build_finish(struct audit_build *b, struct audit_prepared *out)
{
	enum cid_err rc = CID_OK;
	struct audit_member sorted[AUDIT_CANON_NAMES + 2];
	size_t n = b->n;
	const char *key[N_KEYS];

	memset(out, 0, sizeof(*out));
	cid_buf_init(&out->text, SIZE_MAX / 4);
	CID_TRY(cid_buf_status(&b->vals));
	CID_TRY(cid_buf_status(&b->keys));
	for (size_t k = 0; k < N_KEYS; k++)
		key[k] = b->key_at[k] == SIZE_MAX ? NULL : b->keys.data + b->key_at[k];
	/* cid_audit_append's checks: index names (citizen, service, request_id), a time */
	for (size_t k = 0; k < N_KEYS; k++)
		CID_ENSURE(key[k] == NULL ||
			       (k == 3	 ? audit_time_syntax_ok(key[k])
				: k == 2 ? true
					 : audit_index_name_ok(key[k], strlen(key[k]))),
			   CID_ERR_INVALID);
	memcpy(sorted, b->m, n * sizeof(*sorted));
	sorted[n++] = (struct audit_member){"prev", 0, 0};
	sorted[n++] = (struct audit_member){"seq", 0, 0};
	/* "prev" or "seq" twice: the entry named one itself */
	CID_ENSURE(members_sorted(b, sorted, n), CID_ERR_INVALID);
	for (size_t i = 0; i < n; i++) {
		CID_ENSURE(strcmp(sorted[i].name, "ext") != 0, CID_ERR_INVALID);
		if (is_hole(sorted[i].name)) {
			CID_ENSURE(out->n_holes < AUDIT_PREP_HOLES, CID_ERR_INVALID);
			out->hole[out->n_holes].name = sorted[i].name;
			out->hole[out->n_holes++].at = out->text.len;
			continue;
		}
		cid_buf_append(&out->text, ",", 1);
		member_put(&out->text, b, &sorted[i]);
	}
	CID_TRY(cid_buf_status(&out->text));
	if (b->keys.len > 0) {
		out->owned = cid_buf_take(&b->keys, NULL);
		CID_ENSURE(out->owned != NULL, CID_ERR_NOMEM);
		for (size_t k = 0; k < N_KEYS; k++)
			if (key[k] != NULL)
				key[k] = out->owned + b->key_at[k];
	}
	out->citizen = key[0];
	out->service = key[1];
	out->purpose = key[2];
	out->time = key[3];
	out->request_id = key[4];
out:
	if (rc != CID_OK) {
		cid_buf_free(&out->text);
		free(out->owned);
		memset(out, 0, sizeof(*out));
	}
	build_empty(b);
	return rc;
}

static int str_cmp(const void *x, const void *y)
{
	const struct cid_str *a = x;
	const struct cid_str *b = y;
	int c = memcmp(a->ptr, b->ptr, a->len < b->len ? a->len : b->len);

	return c != 0 ? c : (a->len > b->len) - (a->len < b->len);
}

void audit_str_set(struct cid_str *v, size_t *n)
{
	size_t k = 0;

	if (*n == 0)
		return;
	qsort(v, *n, sizeof(*v), str_cmp);
	for (size_t i = 1; i < *n; i++)
		if (str_cmp(&v[k], &v[i]) != 0)
			v[++k] = v[i];
	*n = k + 1;
}
