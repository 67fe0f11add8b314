/*
 * audit_canon: the canonical form of an audit entry (audit.h: ASCII member
 * names, no real numbers, the bytes a verifier recomputes are the bytes that
 * were hashed), its hash, the checks of index members and of times, an
 * entry's rule and the text of the lines it names, and the small helpers the
 * audit files share (audit_int.h).
 */
#include "audit.h"

#include "audit_int.h"
#include "buf.h"
#include "crypto.h"
#include "policy.h"
#include "str.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* True if v holds only ASCII member names and no real numbers, at any depth. */
bool audit_canon_ok(const json_t *v, int depth)
{
	const char *name;
	json_t *m;
	size_t i;

	if (depth > CID_AUDIT_MAX_DEPTH)
		return false;
	if (json_is_real(v))
		return false;
	if (json_is_array(v)) {
		json_array_foreach(v, i, m) if (!audit_canon_ok(m, depth + 1)) return false;
		return true;
	}
	if (!json_is_object(v))
		return true;
	/* jansson's foreach wants a non-const object; nothing here modifies it */
	json_object_foreach((json_t *)(uintptr_t)v, name, m)
	{
		for (const char *p = name; *p != '\0'; p++)
			if ((unsigned char)*p >= 0x80)
				return false;
		if (!audit_canon_ok(m, depth + 1))
			return false;
	}
	return true;
}

int audit_name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void audit_canon_append(struct cid_buf *b, const json_t *v)
{
	const char *names[AUDIT_CANON_NAMES];
	const char *name;
	json_t *m;
	size_t i;
	size_t n = 0;

	switch (json_typeof(v)) {
	case JSON_STRING:
		cid_buf_append_json_str(b, json_string_value(v), json_string_length(v));
		return;
	case JSON_INTEGER: cid_buf_append_int(b, json_integer_value(v)); return;
	case JSON_TRUE: cid_buf_append(b, "true", 4); return;
	case JSON_FALSE: cid_buf_append(b, "false", 5); return;
	case JSON_NULL: cid_buf_append(b, "null", 4); return;
	case JSON_ARRAY:
		cid_buf_append(b, "[", 1);
		json_array_foreach(v, i, m)
		{
			if (i > 0)
				cid_buf_append(b, ",", 1);
			audit_canon_append(b, m);
		}
		cid_buf_append(b, "]", 1);
		return;
	case JSON_OBJECT:
		if (json_object_size(v) > AUDIT_CANON_NAMES)
			break;
		/* jansson's foreach wants a non-const object; nothing here modifies it */
		json_object_foreach((json_t *)(uintptr_t)v, name, m) names[n++] = name;
		/* JSON_SORT_KEYS's order: bytes, a prefix first (names hold no NUL) */
		qsort((void *)names, n, sizeof(*names), audit_name_cmp);
		cid_buf_append(b, "{", 1);
		for (i = 0; i < n; i++) {
			if (i > 0)
				cid_buf_append(b, ",", 1);
			cid_buf_append_json_str(b, names[i], strlen(names[i]));
			cid_buf_append(b, ":", 1);
			audit_canon_append(b, json_object_get(v, names[i]));
		}
		cid_buf_append(b, "}", 1);
		return;
	default: break;
	}
	cid_buf_append_json(b, v, AUDIT_CANON_FLAGS);
}

/* The entry's leaf hash, raw and as lowercase hex; the 0x00 keeps entry hashes
 * apart from any other SHA-256 use of the same bytes (and from tree nodes). */
enum cid_err audit_entry_hash(const char *p, size_t n, uint8_t raw[CID_MERKLE_HASH],
			      char hex[CID_AUDIT_HASH_HEX])
{
	enum cid_err rc = cid_merkle_leaf_hash(p, n, raw);

	if (rc == CID_OK)
		cid_hex(raw, CID_MERKLE_HASH, hex);
	return rc;
}

/* An id usable as part of an index key: non-empty, short, no NUL or newline. */
bool audit_index_name_ok(const char *s, size_t len)
{
	return s != NULL && len > 0 && len <= CID_AUDIT_MAX_NAME && strlen(s) == len &&
	       strchr(s, '\n') == NULL;
}

/* audit_index_name_ok of a JSON member: absent is fine, anything else must be a usable name. */
bool audit_index_member_ok(const json_t *v)
{
	return v == NULL || audit_index_name_ok(json_string_value(v), json_string_length(v));
}

bool audit_time_syntax_ok(const char *t)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";

	if (t == NULL || strlen(t) != AUDIT_TIME_CHARS)
		return false;
	for (size_t i = 0; i < AUDIT_TIME_CHARS; i++)
		if (shape[i] == 'd' ? !(t[i] >= '0' && t[i] <= '9') : t[i] != shape[i])
			return false;
	return true;
}

enum cid_err cid_audit_time(int64_t t, char out[21])
{
	struct tm tm;
	time_t tt;

	/* 0000-01-01T00:00:00Z .. 9999-12-31T23:59:59Z */
	if (t < -62167219200LL || t > 253402300799LL)
		return CID_ERR_INVALID;
	tt = (time_t)t;
	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, AUDIT_TIME_CHARS + 1, "%Y-%m-%dT%H:%M:%SZ", &tm) != AUDIT_TIME_CHARS)
		return CID_ERR_INVALID;
	return CID_OK;
}

enum cid_err cid_audit_day_parse(const char *s, int64_t *t)
{
	struct tm tm = {0};
	uint64_t y, m, d;
	time_t tt;

	if (s == NULL || strnlen(s, 11) != 10 || s[4] != '-' || s[7] != '-' ||
	    cid_parse_u64(s, 4, 1970, 9999, &y) != CID_OK ||
	    cid_parse_u64(s + 5, 2, 1, 12, &m) != CID_OK ||
	    cid_parse_u64(s + 8, 2, 1, 31, &d) != CID_OK)
		return CID_ERR_INVALID;
	tm.tm_year = (int)y - 1900;
	tm.tm_mon = (int)m - 1;
	tm.tm_mday = (int)d;
	tt = timegm(&tm);
	/* timegm normalises 02-30 into March: a date that moved was not a date */
	if (tt < 0 || tm.tm_mday != (int)d || tm.tm_mon != (int)m - 1)
		return CID_ERR_INVALID;
	*t = (int64_t)tt;
	return CID_OK;
}

enum cid_err cid_audit_bound_parse(const char *s, char out[21])
{
	char day[11];
	int64_t t;

	if (s == NULL)
		return CID_ERR_INVALID;
	if (strnlen(s, AUDIT_TIME_CHARS + 1) == 10)
		return cid_audit_day_parse(s, &t) == CID_OK ? cid_audit_time(t, out)
							    : CID_ERR_INVALID;
	if (!audit_time_syntax_ok(s))
		return CID_ERR_INVALID;
	/* the date part must be a real date too */
	memcpy(day, s, 10);
	day[10] = '\0';
	if (cid_audit_day_parse(day, &t) != CID_OK)
		return CID_ERR_INVALID;
	memcpy(out, s, AUDIT_TIME_CHARS + 1);
	return CID_OK;
}

bool audit_same_str(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(json_string_value(*(json_t *const *)a),
		      json_string_value(*(json_t *const *)b));
}

/* Sorts an array of strings and drops repeats, in place. */
enum cid_err audit_sorted_set(json_t *arr)
{
	enum cid_err rc = CID_OK;
	size_t n = json_array_size(arr);
	// NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers
	json_t **items = calloc(n + 1, sizeof(*items));
	size_t i;
	json_t *v;

	CID_ENSURE(items != NULL, CID_ERR_NOMEM);
	json_array_foreach(arr, i, v) items[i] = json_incref(v);
	// NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers
	qsort(items, n, sizeof(*items), str_cmp);
	json_array_clear(arr);
	for (i = 0; i < n; i++)
		if (i == 0 || str_cmp(&items[i - 1], &items[i]) != 0)
			CID_ENSURE(json_array_append(arr, items[i]) == 0, CID_ERR_NOMEM);
out:
	for (i = 0; items != NULL && i < n; i++)
		json_decref(items[i]);
	free(items);
	return rc;
}

/* One LINE of a rule at *p: decimal, 1..1000000, no leading zero; *p moves past it. */
static bool rule_number(const char **p, uint32_t *out)
{
	uint32_t v = 0;
	const char *q = *p;

	if (*q < '1' || *q > '9')
		return false;
	for (; *q >= '0' && *q <= '9'; q++) {
		v = v * 10 + (uint32_t)(*q - '0');
		if (v > 1000000)
			return false;
	}
	*p = q;
	*out = v;
	return true;
}

bool cid_audit_rule_parse(const char *rule, size_t *file_len, uint32_t *lines, size_t max,
			  size_t *n)
{
	const char *colon = rule == NULL ? NULL : strrchr(rule, ':');
	const char *p;

	*n = 0;
	if (colon == NULL || colon == rule)
		return false;
	for (p = colon + 1;; p++) {
		uint32_t v;

		if (*n == max || !rule_number(&p, &v) || (*n > 0 && v <= lines[*n - 1])) {
			*n = 0;
			return false;
		}
		lines[(*n)++] = v;
		if (*p == '\0')
			break;
		if (*p != ',') {
			*n = 0;
			return false;
		}
	}
	*file_len = (size_t)(colon - rule);
	return true;
}

bool cid_audit_rule_text(const char *rule, const char *file, const char *text, size_t len,
			 struct cid_buf *out)
{
	uint32_t want[CID_AUDIT_RULE_MAX_LINES];
	size_t n = 0;
	size_t flen = 0;
	size_t next = 0;
	size_t pos = 0;

	if (file == NULL || text == NULL ||
	    !cid_audit_rule_parse(rule, &flen, want, CID_AUDIT_RULE_MAX_LINES, &n) ||
	    strlen(file) != flen || strncmp(rule, file, flen) != 0)
		return false;
	/* the lines ascend: one pass over the text */
	for (uint32_t at = 1; next < n && pos < len; at++) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t from = pos;
		size_t end = nl == NULL ? len : (size_t)(nl - text);

		pos = nl == NULL ? len : end + 1;
		if (at != want[next])
			continue;
		while (end > from && text[end - 1] == '\r')
			end--;
		if (end - from > CID_POLICY_MAX_LINE || !cid_utf8_valid(text + from, end - from))
			return false;
		if (next > 0)
			cid_buf_append(out, "\n", 1);
		cid_buf_append(out, text + from, end - from);
		next++;
	}
	return next == n && cid_buf_status(out) == CID_OK;
}
