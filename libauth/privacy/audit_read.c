/*
 * audit_read: the read-only views of the audit log: one entry, the query
 * behind every filter, the record of provisions and the citizen's slice.
 *
 * Everything here runs in the caller's read transaction and writes nothing.
 * A query walks the most selective index the filter allows (a release id,
 * a citizen, a service, else the time index or the entries themselves), and
 * decides a time range from index values where it can, so a filter costs
 * what it selects rather than the size of the log; every candidate is still
 * matched against the whole filter.
 */
#include "audit.h"

#include "audit_int.h"
#include "pseudonym.h"
#include "str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- get and query ---- */

enum cid_err cid_audit_get(struct cid_txn *txn, uint64_t seq, json_t **out)
{
	char key[AUDIT_SEQ_HEX + 1];

	audit_seq_key(seq, key);
	return cid_txn_get_json(txn, CID_DB_AUDIT, cid_str_of(key), out);
}

/*
 * A query's callback: the entry's bytes, and the entry parsed when the match
 * parsed it (NULL when the index decided the filter), so that a caller which
 * reads the entry parses it once. Both borrowed for the call.
 */
typedef enum cid_err (*query_fn)(uint64_t seq, struct cid_str entry, json_t *parsed, void *arg);

struct query {
	struct cid_txn *txn;
	const struct cid_audit_filter *f;
	query_fn fn;
	void *arg;
	size_t n;
	json_t *names; /* f->citizen's names in the log (pseudonym.h); NULL without one */
	/* candidates of a walk over several names or runs, and their count */
	uint64_t *seqs;
	size_t n_seqs, cap_seqs;
	uint64_t cover_from, cover_to; /* the seqs the service-day index covers */
	uint64_t lo, hi;	       /* the seqs of the service index walk under way */
	bool segment_end;	       /* that walk left them */
	bool decided; /* a service and a time range only: an index key in range decides */
};

static bool attr_match(const json_t *attrs, const char *want)
{
	size_t wl = strlen(want);
	size_t i;
	json_t *a;

	json_array_foreach(attrs, i, a)
	{
		const char *s = json_string_value(a);

		if (s != NULL && strncmp(s, want, wl) == 0 && (s[wl] == '\0' || s[wl] == '#'))
			return true;
	}
	return false;
}

static bool type_match(const char *type, const char *want)
{
	size_t wl = strlen(want);

	if (type == NULL)
		return false;
	if (want[wl - 1] == '.')
		return strncmp(type, want, wl) == 0;
	return strcmp(type, want) == 0;
}

/* True if the entry's citizen is one of names (an array of strings). */
static bool citizen_match(const json_t *e, const json_t *names)
{
	const char *who = cid_json_str(e, "citizen");
	size_t i;
	json_t *n;

	json_array_foreach(names, i, n) if (audit_same_str(who, json_string_value(n))) return true;
	return false;
}

static bool entry_match(const json_t *e, const struct cid_audit_filter *f, const json_t *names)
{
	const char *time = cid_json_str(e, "time");

	if (f->citizen != NULL && !citizen_match(e, names))
		return false;
	if (f->service != NULL && !audit_same_str(cid_json_str(e, "service"), f->service))
		return false;
	if (f->release != NULL && !audit_same_str(cid_json_str(e, "request_id"), f->release))
		return false;
	if (f->type != NULL && !type_match(cid_json_str(e, "type"), f->type))
		return false;
	if (f->from != NULL && (time == NULL || strcmp(time, f->from) < 0))
		return false;
	if (f->to != NULL && (time == NULL || strcmp(time, f->to) >= 0))
		return false;
	if (f->attribute != NULL && !attr_match(json_object_get(e, "attributes"), f->attribute))
		return false;
	return true;
}

/* One candidate seq: read, match (unless the index decided it: sure), hand over. */
static enum cid_err query_seq(struct query *q, uint64_t seq, bool sure)
{
	enum cid_err rc = CID_OK;
	char key[AUDIT_SEQ_HEX + 1];
	struct cid_str val;
	json_t *e = NULL;

	if (q->f->after_seq != 0 &&
	    (q->f->newest_first ? seq >= q->f->after_seq : seq <= q->f->after_seq))
		return CID_OK;
	audit_seq_key(seq, key);
	CID_TRY(cid_txn_get(q->txn, CID_DB_AUDIT, cid_str_of(key), &val));
	if (!sure) {
		CID_TRY(cid_store_parse_json(val, &e));
		if (!entry_match(e, q->f, q->names))
			goto out;
	}
	CID_TRY(q->fn(seq, val, e, q->arg));
	q->n++;
	if (q->f->limit != 0 && q->n >= q->f->limit)
		rc = AUDIT_STOP;
out:
	json_decref(e);
	return rc;
}

static enum cid_err query_entry_cb(struct cid_str key, struct cid_str val, void *arg)
{
	uint64_t seq;

	(void)val;
	if (!audit_seq_key_parse(key, &seq))
		return CID_ERR_STORE;
	return query_seq(arg, seq, false);
}

/* True if a time of AUDIT_TIME_CHARS bytes lies outside the filter's [from, to). */
static bool time_outside(const char *t, const struct cid_audit_filter *f)
{
	return (f->from != NULL && memcmp(t, f->from, AUDIT_TIME_CHARS) < 0) ||
	       (f->to != NULL && memcmp(t, f->to, AUDIT_TIME_CHARS) >= 0);
}

/* The seq at the end of an index key. */
static bool key_seq(struct cid_str key, uint64_t *seq)
{
	return key.len >= AUDIT_SEQ_HEX &&
	       audit_seq_key_parse(
		   (struct cid_str){key.ptr + key.len - AUDIT_SEQ_HEX, AUDIT_SEQ_HEX}, seq);
}

/*
 * The time and seq of a key ending in time "\n" seq16 (the time and the
 * service-day indexes): *time points at its AUDIT_TIME_CHARS bytes in key.
 */
static bool time_key(struct cid_str key, const char **time, uint64_t *seq)
{
	if (key.len < 2 + AUDIT_TIME_CHARS + 1 + AUDIT_SEQ_HEX || !key_seq(key, seq))
		return false;
	*time = key.ptr + key.len - AUDIT_SEQ_HEX - 1 - AUDIT_TIME_CHARS;
	return true;
}

/* A release, citizen or service index key; its value is the entry's time (or ""). */
static enum cid_err query_index_cb(struct cid_str key, struct cid_str val, void *arg)
{
	struct query *q = arg;
	uint64_t seq;

	if (!key_seq(key, &seq))
		return CID_ERR_STORE;
	/* outside the time range: skipped without reading the entry */
	if (val.len == AUDIT_TIME_CHARS && time_outside(val.ptr, q->f))
		return CID_OK;
	return query_seq(q, seq, false);
}

/* seq joins the candidates, unless paging leaves it out. */
static enum cid_err candidate_add(struct query *q, uint64_t seq)
{
	uint64_t *grown;

	if (q->f->after_seq != 0 &&
	    (q->f->newest_first ? seq >= q->f->after_seq : seq <= q->f->after_seq))
		return CID_OK;
	if (q->n_seqs == q->cap_seqs) {
		size_t cap = q->cap_seqs == 0 ? 64 : q->cap_seqs * 2;

		grown = realloc(q->seqs, cap * sizeof(*grown));
		if (grown == NULL)
			return CID_ERR_NOMEM;
		q->seqs = grown;
		q->cap_seqs = cap;
	}
	q->seqs[q->n_seqs++] = seq;
	return CID_OK;
}

/* A citizen index key of one of the citizen's names: its seq joins the candidates. */
static enum cid_err collect_cb(struct cid_str key, struct cid_str val, void *arg)
{
	struct query *q = arg;
	uint64_t seq;

	if (!key_seq(key, &seq))
		return CID_ERR_STORE;
	if (val.len == AUDIT_TIME_CHARS && time_outside(val.ptr, q->f))
		return CID_OK;
	return candidate_add(q, seq);
}

static int seq_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a;
	uint64_t y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The candidates, in seq order (or newest first), read and matched (unless
 * sure: the index decided the whole filter for each of them).
 */
static enum cid_err candidates_run(struct query *q, bool sure)
{
	enum cid_err rc = CID_OK;

	if (q->n_seqs > 1)
		qsort(q->seqs, q->n_seqs, sizeof(*q->seqs), seq_cmp);
	for (size_t k = 0; k < q->n_seqs; k++)
		CID_TRY(query_seq(q, q->seqs[q->f->newest_first ? q->n_seqs - 1 - k : k], sure));
out:
	return rc;
}

/*
 * A citizen's entries: under each of their names (the account id of entries
 * from before pseudonyms, a pseudonym per scope), merged in seq order. The
 * names' index keys are read, the entries only as far as the limit.
 */
static enum cid_err query_by_citizen(struct cid_txn *txn, struct query *q)
{
	enum cid_err rc = CID_OK;
	char prefix[4 + CID_AUDIT_MAX_NAME + 1];
	size_t i;
	json_t *n;
	int pn;

	json_array_foreach(q->names, i, n)
	{
		pn = snprintf(prefix, sizeof(prefix), "c\n%s\n", json_string_value(n));
		CID_ENSURE(pn > 0 && (size_t)pn < sizeof(prefix), CID_ERR_INVALID);
		CID_TRY(cid_txn_foreach(txn, CID_DB_AUDIT_IDX, (struct cid_str){prefix, (size_t)pn},
					collect_cb, q));
	}
	CID_TRY(candidates_run(q, false));
out:
	return rc;
}

/*
 * A service-day index key "d\n" service "\n" time "\n" seq16, walked from
 * the range's start: the walk stops at the first time past its end. A seq
 * outside the run the index covers is an entry of an older run: the service
 * index finds it.
 */
static enum cid_err day_cb(struct cid_str key, struct cid_str val, void *arg)
{
	struct query *q = arg;
	const char *time;
	uint64_t seq;

	(void)val;
	if (!time_key(key, &time, &seq))
		return CID_ERR_STORE;
	if (time_outside(time, q->f))
		return AUDIT_STOP;
	if (seq < q->cover_from || seq >= q->cover_to)
		return CID_OK;
	return candidate_add(q, seq);
}

/*
 * A service index key (value: the entry's time, as written with it) of a
 * walk over the seqs [q->lo, q->hi) in the query's order: the first seq
 * outside ends the walk. A time in range decides a query the index decides.
 */
static enum cid_err segment_cb(struct cid_str key, struct cid_str val, void *arg)
{
	struct query *q = arg;
	uint64_t seq;

	if (!key_seq(key, &seq))
		return CID_ERR_STORE;
	if (seq < q->lo || seq >= q->hi) {
		q->segment_end = true;
		return AUDIT_STOP;
	}
	if (val.len == AUDIT_TIME_CHARS && time_outside(val.ptr, q->f))
		return CID_OK;
	return query_seq(q, seq, q->decided && val.len == AUDIT_TIME_CHARS);
}

/* Walks the service index (prefix) over the seqs [lo, hi), in the query's order and page. */
static enum cid_err segment_walk(struct cid_txn *txn, struct query *q, struct cid_str prefix,
				 uint64_t lo, uint64_t hi)
{
	enum cid_err rc = CID_OK;
	const struct cid_audit_filter *f = q->f;
	char start[4 + CID_AUDIT_MAX_NAME + AUDIT_SEQ_HEX + 1];
	char k[AUDIT_SEQ_HEX + 1];
	uint64_t first = f->newest_first ? hi - 1 : lo;
	int sn;

	if (lo >= hi)
		return CID_OK;
	/* paging: only seq > after_seq, or newest first seq < after_seq */
	if (f->after_seq != 0 && f->newest_first) {
		if (f->after_seq <= lo)
			return CID_OK;
		first = f->after_seq - 1 < first ? f->after_seq - 1 : first;
	} else if (f->after_seq != 0) {
		if (f->after_seq >= hi - 1)
			return CID_OK;
		first = f->after_seq + 1 > first ? f->after_seq + 1 : first;
	}
	audit_seq_key(first, k);
	sn = snprintf(start, sizeof(start), "%.*s%s", (int)prefix.len, prefix.ptr, k);
	CID_ENSURE(sn > 0 && (size_t)sn < sizeof(start), CID_ERR_INVALID);
	q->lo = lo;
	q->hi = hi;
	q->segment_end = false;
	rc = cid_txn_foreach_range(txn, CID_DB_AUDIT_IDX, prefix,
				   (struct cid_str){start, (size_t)sn}, f->newest_first, segment_cb,
				   q);
	if (rc == AUDIT_STOP && q->segment_end)
		rc = CID_OK;
out:
	return rc;
}

/* The run of the service-day index: one seek to f->from, then the range's keys, in seq order. */
static enum cid_err run_walk(struct cid_txn *txn, struct query *q)
{
	enum cid_err rc = CID_OK;
	char prefix[4 + CID_AUDIT_MAX_NAME + 1];
	char start[AUDIT_DAY_KEY_MAX + 1];
	int pn;
	int sn;

	if (q->cover_from >= q->cover_to)
		return CID_OK;
	pn = snprintf(prefix, sizeof(prefix), "d\n%s\n", q->f->service);
	CID_ENSURE(pn > 0 && (size_t)pn < sizeof(prefix), CID_ERR_INVALID);
	sn = snprintf(start, sizeof(start), "%s%s", prefix, q->f->from);
	CID_ENSURE(sn > 0 && (size_t)sn < sizeof(start), CID_ERR_INVALID);
	rc = cid_txn_foreach_range(txn, CID_DB_AUDIT_IDX, (struct cid_str){prefix, (size_t)pn},
				   (struct cid_str){start, (size_t)sn}, false, day_cb, q);
	if (rc == AUDIT_STOP)
		rc = CID_OK;
	CID_TRY(rc);
	CID_TRY(candidates_run(q, q->decided));
out:
	return rc;
}

/*
 * A service's entries in [f->from, f->to), in three runs of seqs: the
 * service-day index over the run it covers (a seek to the range's start,
 * then only the service's keys in the range, merged into seq order), and the
 * service index with its time values before and after that run (a store's
 * entries from before the index, or written since by a civicid without it),
 * walked in seq order as far as the limit. Where the filter is only the
 * service and the range, an index key in range decides it: the entry is
 * handed over unparsed.
 */
static enum cid_err query_by_service_day(struct cid_txn *txn, struct query *q)
{
	enum cid_err rc = CID_OK;
	char prefix[4 + CID_AUDIT_MAX_NAME + 1];
	struct cid_str s;
	int pn;

	CID_TRY(audit_day_cover(txn, &q->cover_from, &q->cover_to));
	/* no citizen or release here: cid_audit_query walks their own indexes */
	q->decided = q->f->type == NULL && q->f->attribute == NULL;
	pn = snprintf(prefix, sizeof(prefix), "s\n%s\n", q->f->service);
	CID_ENSURE(pn > 0 && (size_t)pn < sizeof(prefix), CID_ERR_INVALID);
	s = (struct cid_str){prefix, (size_t)pn};
	if (q->f->newest_first) {
		CID_TRY(segment_walk(txn, q, s, q->cover_to, UINT64_MAX));
		CID_TRY(run_walk(txn, q));
		CID_TRY(segment_walk(txn, q, s, 0, q->cover_from));
	} else {
		CID_TRY(segment_walk(txn, q, s, 0, q->cover_from));
		CID_TRY(run_walk(txn, q));
		CID_TRY(segment_walk(txn, q, s, q->cover_to, UINT64_MAX));
	}
out:
	return rc;
}

/*
 * A time index key "t\n" time "\n" seq16, walked from one end of the range:
 * the walk stops at the first key past the other end.
 */
static enum cid_err query_time_cb(struct cid_str key, struct cid_str val, void *arg)
{
	struct query *q = arg;
	const char *time;
	uint64_t seq;

	(void)val;
	if (key.len != 2 + AUDIT_TIME_CHARS + 1 + AUDIT_SEQ_HEX || !time_key(key, &time, &seq))
		return CID_ERR_STORE;
	if (time_outside(time, q->f))
		return AUDIT_STOP;
	return query_seq(q, seq, false);
}

/* Walks the time index over [f->from, f->to) (no name, no paging). */
static enum cid_err query_by_time(struct cid_txn *txn, struct query *q)
{
	const struct cid_audit_filter *f = q->f;
	char start[2 + AUDIT_TIME_CHARS + 1];
	const char *edge = f->newest_first ? f->to : f->from;
	struct cid_str from = {NULL, 0};

	if (edge != NULL) {
		snprintf(start, sizeof(start), "t\n%s", edge);
		from = cid_str_of(start);
	}
	return cid_txn_foreach_range(txn, CID_DB_AUDIT_IDX, cid_str_of("t\n"), from,
				     f->newest_first, query_time_cb, q);
}

/* audit_index_name_ok of a filter's name: NULL (no filter) is fine. */
static bool filter_name_ok(const char *s)
{
	return s == NULL || audit_index_name_ok(s, strnlen(s, CID_AUDIT_MAX_NAME + 1));
}

static bool filter_ok(const struct cid_audit_filter *f)
{
	if (f == NULL)
		return false;
	if ((f->from != NULL && !audit_time_syntax_ok(f->from)) ||
	    (f->to != NULL && !audit_time_syntax_ok(f->to)))
		return false;
	if (f->type != NULL && f->type[0] == '\0')
		return false;
	if (!filter_name_ok(f->citizen) || !filter_name_ok(f->service) ||
	    !filter_name_ok(f->release))
		return false;
	return f->attribute == NULL || f->attribute[0] != '\0';
}

/* cid_audit_query, handing fn the entry parsed where the match parsed it. */
static enum cid_err query_run(struct cid_txn *txn, const struct cid_audit_filter *f, query_fn fn,
			      void *arg)
{
	enum cid_err rc = CID_OK;
	struct query q = {.txn = txn, .f = f, .fn = fn, .arg = arg};
	char prefix[4 + CID_AUDIT_MAX_NAME + 1];
	char start[4 + CID_AUDIT_MAX_NAME + AUDIT_SEQ_HEX + 1];
	struct cid_str from = {NULL, 0};
	const char *name;
	char kind;
	int pn;
	uint64_t begin;

	CID_ENSURE(fn != NULL && filter_ok(f), CID_ERR_INVALID);
	if (f->citizen != NULL)
		CID_TRY(cid_pseudonym_names(txn, f->citizen, &q.names));
	/* begin the walk at after_seq, so paging costs no more than the page */
	begin = f->newest_first ? f->after_seq - 1 : f->after_seq + 1;
	if (f->after_seq == 0 || (!f->newest_first && f->after_seq == UINT64_MAX))
		begin = f->newest_first ? UINT64_MAX : 0;
	/* the most selective index: a release has a few entries, a citizen more */
	kind = 's';
	if (f->release != NULL)
		kind = 'r';
	else if (f->citizen != NULL)
		kind = 'c';
	name = f->release != NULL ? f->release : f->citizen != NULL ? f->citizen : f->service;
	if (kind == 'c') {
		rc = query_by_citizen(txn, &q);
	} else if (kind == 's' && name != NULL && f->from != NULL && f->to != NULL) {
		rc = query_by_service_day(txn, &q);
	} else if (name == NULL && f->after_seq == 0 && (f->from != NULL || f->to != NULL)) {
		rc = query_by_time(txn, &q);
	} else if (name == NULL) {
		audit_seq_key(begin, start);
		if (f->after_seq != 0)
			from = (struct cid_str){start, AUDIT_SEQ_HEX};
		rc = cid_txn_foreach_range(txn, CID_DB_AUDIT, (struct cid_str){NULL, 0}, from,
					   f->newest_first, query_entry_cb, &q);
	} else {
		pn = snprintf(prefix, sizeof(prefix), "%c\n%s\n", kind, name);
		CID_ENSURE(pn > 0 && (size_t)pn < sizeof(prefix), CID_ERR_INVALID);
		if (f->after_seq != 0) {
			char k[AUDIT_SEQ_HEX + 1];

			audit_seq_key(begin, k);
			snprintf(start, sizeof(start), "%s%s", prefix, k);
			from = cid_str_of(start);
		}
		rc = cid_txn_foreach_range(txn, CID_DB_AUDIT_IDX,
					   (struct cid_str){prefix, (size_t)pn}, from,
					   f->newest_first, query_index_cb, &q);
	}
	if (rc == AUDIT_STOP)
		rc = CID_OK;
out:
	free(q.seqs);
	json_decref(q.names);
	return rc;
}

/* cid_audit_query's caller and its callback, for the adapter below. */
struct public_fn {
	enum cid_err (*fn)(uint64_t seq, struct cid_str entry, void *arg);
	void *arg;
};

static enum cid_err public_cb(uint64_t seq, struct cid_str entry, json_t *parsed, void *arg)
{
	const struct public_fn *p = arg;

	(void)parsed;
	return p->fn(seq, entry, p->arg);
}

enum cid_err cid_audit_query(struct cid_txn *txn, const struct cid_audit_filter *f,
			     enum cid_err (*fn)(uint64_t seq, struct cid_str entry, void *arg),
			     void *arg)
{
	struct public_fn p = {fn, arg};

	if (fn == NULL)
		return CID_ERR_INVALID;
	return query_run(txn, f, public_cb, &p);
}

/*
 * The entry a query callback was handed, as an object the caller owns: a new
 * reference to the match's parse, or a parse of the bytes. Errors: as
 * cid_store_parse_json.
 */
static enum cid_err entry_json(struct cid_str entry, json_t *parsed, json_t **out)
{
	if (parsed != NULL) {
		*out = json_incref(parsed);
		return CID_OK;
	}
	return cid_store_parse_json(entry, out);
}

/* ---- provisions ---- */

struct provisions {
	json_t *by_pair; /* service "\n" citizen -> row */
};

/* Adds the strings of list (a string or an array of them) to the array set. */
static enum cid_err set_add(json_t *set, const json_t *list)
{
	size_t i;
	json_t *v;

	if (json_is_string(list))
		return json_array_append(set, (json_t *)(uintptr_t)list) == 0 ? CID_OK
									      : CID_ERR_NOMEM;
	json_array_foreach(list, i, v) if (json_is_string(v) &&
					   json_array_append(set, v) != 0) return CID_ERR_NOMEM;
	return CID_OK;
}

static enum cid_err provisions_cb(uint64_t seq, struct cid_str entry, json_t *parsed, void *arg)
{
	struct provisions *p = arg;
	enum cid_err rc = CID_OK;
	json_t *e = NULL;
	json_t *row;
	const char *service;
	const char *citizen;
	const char *time;
	char key[2 * CID_AUDIT_MAX_NAME + 2];

	(void)seq;
	CID_TRY(entry_json(entry, parsed, &e));
	service = cid_json_str(e, "service");
	citizen = cid_json_str(e, "citizen");
	time = cid_json_str(e, "time");
	if (service == NULL || citizen == NULL || time == NULL)
		goto out;
	/* written names pass audit_index_name_ok: one that does not could merge two rows */
	CID_ENSURE(audit_index_member_ok(json_object_get(e, "service")) &&
		       audit_index_member_ok(json_object_get(e, "citizen")),
		   CID_ERR_STORE);
	snprintf(key, sizeof(key), "%s\n%s", service, citizen);
	row = json_object_get(p->by_pair, key);
	if (row == NULL) {
		row = json_pack("{s:s, s:s, s:[], s:s, s:s, s:I, s:[], s:[]}", "service", service,
				"citizen", citizen, "attributes", "first", time, "last", time,
				"count", (json_int_t)0, "bases", "consent_records");
		CID_ENSURE(row != NULL && json_object_set_new(p->by_pair, key, row) == 0,
			   CID_ERR_NOMEM);
	}
	if (strcmp(time, cid_json_str(row, "first")) < 0)
		CID_ENSURE(json_object_set_new(row, "first", json_string(time)) == 0,
			   CID_ERR_NOMEM);
	if (strcmp(time, cid_json_str(row, "last")) > 0)
		CID_ENSURE(json_object_set_new(row, "last", json_string(time)) == 0, CID_ERR_NOMEM);
	CID_ENSURE(
	    json_object_set_new(row, "count", json_integer(cid_json_int(row, "count") + 1)) == 0,
	    CID_ERR_NOMEM);
	CID_TRY(set_add(json_object_get(row, "attributes"), json_object_get(e, "attributes")));
	CID_TRY(set_add(json_object_get(row, "bases"), json_object_get(e, "basis")));
	CID_TRY(set_add(json_object_get(row, "consent_records"),
			json_object_get(e, "consent_records")));
	/* keep the sets small as they grow */
	if (cid_json_int(row, "count") % 64 == 0) {
		CID_TRY(audit_sorted_set(json_object_get(row, "attributes")));
		CID_TRY(audit_sorted_set(json_object_get(row, "bases")));
		CID_TRY(audit_sorted_set(json_object_get(row, "consent_records")));
	}
out:
	json_decref(e);
	return rc;
}

static int row_cmp(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a;
	const json_t *y = *(json_t *const *)b;
	int c = strcmp(cid_json_str(x, "service"), cid_json_str(y, "service"));

	return c != 0 ? c : strcmp(cid_json_str(x, "citizen"), cid_json_str(y, "citizen"));
}

enum cid_err cid_audit_provisions(struct cid_txn *txn, const char *from, const char *to,
				  json_t **out)
{
	enum cid_err rc = CID_OK;
	struct provisions p = {.by_pair = json_object()};
	struct cid_audit_filter f = {.type = "release.permit", .from = from, .to = to};
	json_t **rows = NULL;
	json_t *list = json_array();
	const char *key;
	json_t *row;
	size_t n = 0;

	CID_ENSURE(p.by_pair != NULL && list != NULL, CID_ERR_NOMEM);
	/* the query refuses bad times (CID_ERR_INVALID) */
	CID_TRY(query_run(txn, &f, provisions_cb, &p));
	// NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers
	rows = calloc(json_object_size(p.by_pair) + 1, sizeof(*rows));
	CID_ENSURE(rows != NULL, CID_ERR_NOMEM);
	json_object_foreach(p.by_pair, key, row)
	{
		CID_TRY(audit_sorted_set(json_object_get(row, "attributes")));
		CID_TRY(audit_sorted_set(json_object_get(row, "bases")));
		CID_TRY(audit_sorted_set(json_object_get(row, "consent_records")));
		rows[n++] = row;
	}
	// NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers
	qsort(rows, n, sizeof(*rows), row_cmp);
	for (size_t i = 0; i < n; i++)
		CID_ENSURE(json_array_append(list, rows[i]) == 0, CID_ERR_NOMEM);
	*out = list;
	list = NULL;
out:
	free(rows);
	json_decref(list);
	json_decref(p.by_pair);
	return rc;
}

/* ---- the citizen's slice ---- */

struct slice {
	json_t *list;
	size_t limit;
};

static enum cid_err slice_cb(uint64_t seq, struct cid_str entry, json_t *parsed, void *arg)
{
	static const char *const shown[] = {"time",	  "type",  "service", "purpose",
					    "attributes", "basis", "endpoint"};
	struct slice *sl = arg;
	enum cid_err rc = CID_OK;
	json_t *e = NULL;
	json_t *row = NULL;
	const char *type;

	CID_TRY(entry_json(entry, parsed, &e));
	type = cid_json_str(e, "type");
	if (type == NULL ||
	    (strcmp(type, "release.permit") != 0 && strncmp(type, "consent.", 8) != 0))
		goto out;
	row = json_pack("{s:I}", "seq", (json_int_t)seq);
	CID_ENSURE(row != NULL, CID_ERR_NOMEM);
	for (size_t i = 0; i < sizeof(shown) / sizeof(shown[0]); i++) {
		json_t *v = json_object_get(e, shown[i]);

		if (v != NULL)
			CID_ENSURE(json_object_set(row, shown[i], v) == 0, CID_ERR_NOMEM);
	}
	CID_ENSURE(json_array_append(sl->list, row) == 0, CID_ERR_NOMEM);
	if (sl->limit != 0 && json_array_size(sl->list) >= sl->limit)
		rc = AUDIT_STOP;
out:
	json_decref(row);
	json_decref(e);
	return rc;
}

enum cid_err cid_audit_citizen(struct cid_txn *txn, const char *account_id, uint64_t after_seq,
			       size_t limit, json_t **out)
{
	return cid_audit_citizen_page(txn, account_id, NULL, after_seq, false, limit, out);
}

enum cid_err cid_audit_citizen_page(struct cid_txn *txn, const char *account_id,
				    const char *service, uint64_t from_seq, bool newer,
				    size_t limit, json_t **out)
{
	enum cid_err rc = CID_OK;
	struct slice sl = {.list = json_array(), .limit = limit};
	struct cid_audit_filter f = {.citizen = account_id,
				     .service = service,
				     .after_seq = from_seq,
				     .newest_first = !newer};

	CID_ENSURE(sl.list != NULL, CID_ERR_NOMEM);
	CID_ENSURE(account_id != NULL, CID_ERR_INVALID);
	CID_TRY(query_run(txn, &f, slice_cb, &sl)); /* a AUDIT_STOP of slice_cb ends as CID_OK */
	*out = sl.list;
	sl.list = NULL;
out:
	json_decref(sl.list);
	return rc;
}
