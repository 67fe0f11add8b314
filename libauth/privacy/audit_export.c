/*
 * audit_export: the files that leave the audit log: the whole log in the
 * export format that cid_audit_verify_export reads, the entries a filter
 * selects as JSON Lines or CSV, and the audit.exported entry that records
 * each export.
 *
 * An export of the whole log writes every entry as its stored bytes, each
 * checkpoint on the line after the entry it covers, from one read
 * transaction, so the file is one consistent state of the log. CSV cells are
 * quoted per RFC 4180 and never start a spreadsheet formula.
 *
 * An export is on the record before a byte of it leaves. A filtered one is
 * written to the caller's buffer first, so its record can say how many rows
 * it holds. A whole-log one records itself and signs a checkpoint covering
 * the record in the same write transaction, then is written up to that
 * record only: it holds its own record and still ends covered, and an export
 * that cannot be signed leaves no record of an export that never happened.
 */
#include "audit.h"

#include "audit_int.h"
#include "buf.h"
#include "csv.h"
#include "str.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the whole log ---- */

/* The export: every entry, each checkpoint after the entry it covers. */
struct exporter {
	FILE *out;
	struct cid_txn *txn;
	uint64_t end;			 /* entries from seq end on are left out */
	char next_cp[AUDIT_SEQ_HEX + 1]; /* key of the first checkpoint not yet written */
	bool have_cp;
	uint64_t cp_size;
};

static enum cid_err next_cp_cb(struct cid_str key, struct cid_str val, void *arg)
{
	struct exporter *x = arg;

	(void)val;
	if (!audit_seq_key_parse(key, &x->cp_size))
		return CID_ERR_STORE;
	memcpy(x->next_cp, key.ptr, AUDIT_SEQ_HEX);
	x->next_cp[AUDIT_SEQ_HEX] = '\0';
	x->have_cp = true;
	return AUDIT_STOP;
}

/* Finds the first checkpoint of size >= size. */
static enum cid_err cp_seek(struct exporter *x, uint64_t size)
{
	enum cid_err rc;
	char key[AUDIT_SEQ_HEX + 1];

	x->have_cp = false;
	audit_seq_key(size, key);
	rc = cid_txn_foreach_range(x->txn, CID_DB_AUDIT_CP, (struct cid_str){NULL, 0},
				   (struct cid_str){key, AUDIT_SEQ_HEX}, false, next_cp_cb, x);
	return rc == AUDIT_STOP ? CID_OK : rc;
}

/* Writes {"name": rec's member} as a line when rec has that member. */
static enum cid_err cp_line(FILE *out, const json_t *rec, const char *member, const char *name)
{
	const json_t *v = json_object_get(rec, member);
	json_t *line;
	char *text;
	enum cid_err rc = CID_OK;

	if (!json_is_string(v))
		return CID_OK;
	line = json_pack("{s:O}", name, v);
	text = line == NULL ? NULL : cid_json_dumps(line, JSON_COMPACT);
	if (text == NULL)
		rc = CID_ERR_NOMEM;
	else if (fputs(text, out) == EOF || fputc('\n', out) == EOF)
		rc = CID_ERR_IO;
	free(text);
	json_decref(line);
	return rc;
}

static enum cid_err export_cb(struct cid_str key, struct cid_str val, void *arg)
{
	struct exporter *x = arg;
	enum cid_err rc = CID_OK;
	json_t *rec = NULL;
	uint64_t seq;

	CID_ENSURE(audit_seq_key_parse(key, &seq), CID_ERR_STORE);
	if (seq >= x->end)
		return AUDIT_STOP;
	CID_ENSURE(fwrite(val.ptr, 1, val.len, x->out) == val.len && fputc('\n', x->out) != EOF,
		   CID_ERR_IO);
	while (x->have_cp && x->cp_size <= seq + 1) {
		if (x->cp_size == seq + 1) {
			CID_TRY(cid_txn_get_json(x->txn, CID_DB_AUDIT_CP, cid_str_of(x->next_cp),
						 &rec));
			CID_ENSURE(cid_json_str(rec, "jws") != NULL ||
				       cid_json_str(rec, "note") != NULL,
				   CID_ERR_STORE);
			/* a legacy JWS first, then the signed note of the same size */
			CID_TRY(cp_line(x->out, rec, "jws", "checkpoint"));
			CID_TRY(cp_line(x->out, rec, "note", "note"));
			json_decref(rec);
			rec = NULL;
		}
		CID_TRY(cp_seek(x, x->cp_size + 1));
	}
out:
	json_decref(rec);
	return rc;
}

/* The export of entries 0..end-1 and the checkpoints among them. */
static enum cid_err export_upto(struct cid_txn *txn, FILE *out, uint64_t end)
{
	enum cid_err rc = CID_OK;
	struct exporter x = {.out = out, .txn = txn, .end = end};

	CID_TRY(cp_seek(&x, 1));
	rc = cid_txn_foreach(txn, CID_DB_AUDIT, (struct cid_str){NULL, 0}, export_cb, &x);
	CID_TRY(rc == AUDIT_STOP ? CID_OK : rc);
	CID_ENSURE(fflush(out) == 0, CID_ERR_IO);
out:
	return rc;
}

enum cid_err cid_audit_export(struct cid_txn *txn, FILE *out)
{
	return export_upto(txn, out, UINT64_MAX);
}

enum cid_err cid_audit_export_signed(struct cid_store *s, int64_t now, FILE *out, uint64_t *entries)
{
	enum cid_err rc = cid_audit_checkpoint(s, now, NULL);
	struct cid_txn *txn = NULL;
	char hash[CID_AUDIT_HASH_HEX];
	uint64_t size = 0;

	if (rc != CID_OK && rc != CID_ERR_NOTFOUND)
		return rc;
	CID_TRY(cid_store_read_begin(s, &txn));
	CID_TRY(cid_audit_head(txn, &size, hash));
	CID_TRY(cid_audit_export(txn, out));
	if (entries != NULL)
		*entries = size;
out:
	cid_store_read_end(txn);
	return rc;
}

/* ---- the record of an export ---- */

enum cid_err cid_audit_exported_entry(const struct cid_audit_exported *x, json_t **out)
{
	static const char *const names[] = {"citizen", "service", "release", "attribute",
					    "type",    "from",	  "to"};
	const struct cid_audit_filter *f = x->filter;
	const char *values[sizeof(names) / sizeof(names[0])] = {0};
	enum cid_err rc = CID_OK;
	json_t *e = NULL;
	json_t *ext;
	char when[AUDIT_TIME_CHARS + 1];
	char rows[24];
	char size[24];

	CID_ENSURE(x->actor != NULL && x->actor[0] != '\0' && x->endpoint != NULL &&
		       x->endpoint[0] != '\0' && x->format != NULL &&
		       (strcmp(x->format, "jsonl") == 0 || strcmp(x->format, "csv") == 0 ||
			strcmp(x->format, "trail-json") == 0 ||
			strcmp(x->format, "trail-csv") == 0),
		   CID_ERR_INVALID);
	CID_TRY(cid_audit_time(x->now, when));
	if (f != NULL) {
		const char *set[] = {f->citizen, f->service, f->release, f->attribute,
				     f->type,	 f->from,    f->to};

		memcpy(values, set, sizeof(values));
	}
	snprintf(rows, sizeof(rows), "%" PRIu64, x->rows);
	e = json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:s}}", "type", "audit.exported", "time", when,
		      "actor", x->actor, "endpoint", x->endpoint, "ext", "format", x->format,
		      "rows", rows);
	CID_ENSURE(e != NULL, CID_ERR_NOMEM);
	ext = json_object_get(e, "ext");
	if (x->checkpoint != 0) {
		snprintf(size, sizeof(size), "%" PRIu64, x->checkpoint);
		CID_ENSURE(json_object_set_new(ext, "checkpoint", json_string(size)) == 0,
			   CID_ERR_NOMEM);
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (values[i] == NULL)
			continue;
		CID_ENSURE(cid_utf8_valid(values[i], strlen(values[i])), CID_ERR_INVALID);
		CID_ENSURE(json_object_set_new(ext, names[i], json_string(values[i])) == 0,
			   CID_ERR_NOMEM);
	}
	/* an export of one citizen's entries is a look at that citizen, found by
	 * citizen as an officer's search for them is (audit_officer.c): the entry
	 * names no service or purpose, so both citizens become the same
	 * pseudonym of no purpose when chained */
	if (f != NULL && f->citizen != NULL)
		CID_ENSURE(json_object_set_new(e, "citizen", json_string(f->citizen)) == 0,
			   CID_ERR_NOMEM);
	*out = e;
	e = NULL;
out:
	json_decref(e);
	return rc;
}

/* The write of a whole-log export: its record, and the checkpoint covering it. */
struct recorded {
	const struct cid_audit_exported *x;
	uint64_t size; /* output: entries the export holds, its record the last */
};

static enum cid_err record_cb(struct cid_txn *txn, void *arg)
{
	struct recorded *r = arg;
	struct cid_audit_exported rec = *r->x;
	enum cid_err rc = CID_OK;
	json_t *e = NULL;
	char hash[CID_AUDIT_HASH_HEX];
	uint64_t size;
	uint64_t covered = 0;

	CID_TRY(cid_audit_head(txn, &size, hash));
	rec.format = "jsonl";
	rec.filter = NULL;
	rec.rows = size + 1;
	rec.checkpoint = size + 1;
	CID_TRY(cid_audit_exported_entry(&rec, &e));
	CID_TRY(cid_audit_append_txn(txn, e, NULL));
	CID_TRY(audit_checkpoint_txn(txn, rec.now, &covered));
	CID_ENSURE(covered == size + 1, CID_ERR_STORE);
	r->size = size + 1;
out:
	json_decref(e);
	return rc;
}

enum cid_err cid_audit_export_recorded(struct cid_store *s, const struct cid_audit_exported *x,
				       FILE *out, uint64_t *entries)
{
	enum cid_err rc = CID_OK;
	struct recorded r = {.x = x};
	struct cid_txn *txn = NULL;

	CID_ENSURE(s != NULL && x != NULL && out != NULL, CID_ERR_INVALID);
	CID_TRY(cid_store_update(s, record_cb, &r));
	CID_TRY(cid_store_read_begin(s, &txn));
	CID_TRY(export_upto(txn, out, r.size));
	if (entries != NULL)
		*entries = r.size;
out:
	cid_store_read_end(txn);
	return rc;
}

enum cid_err cid_audit_write_recorded(struct cid_audit *log, const struct cid_audit_exported *x,
				      size_t max_rows, FILE *buffer, uint64_t *rows)
{
	enum cid_err rc = CID_OK;
	struct cid_audit_filter f = {0};
	struct cid_audit_exported rec;
	struct cid_txn *txn = NULL;
	json_t *e = NULL;
	uint64_t n = 0;

	CID_ENSURE(log != NULL && x != NULL && x->format != NULL && buffer != NULL &&
		       (strcmp(x->format, "jsonl") == 0 || strcmp(x->format, "csv") == 0),
		   CID_ERR_INVALID);
	if (x->filter != NULL)
		f = *x->filter;
	/* one more than allowed, to tell "exactly the limit" from "more" */
	f.limit = max_rows != 0 && max_rows < SIZE_MAX ? max_rows + 1 : 0;
	rec = *x;
	rec.filter = &f;
	rec.checkpoint = 0;
	CID_TRY(cid_store_read_begin(audit_store(log), &txn));
	CID_TRY(cid_audit_write_filtered(txn, &f, strcmp(x->format, "csv") == 0, buffer, &n));
	cid_store_read_end(txn);
	txn = NULL;
	/* more than may leave: nothing leaves, so nothing is recorded */
	CID_ENSURE(max_rows == 0 || n <= max_rows, CID_ERR_TOOBIG);
	rec.rows = n;
	CID_TRY(cid_audit_exported_entry(&rec, &e));
	CID_TRY(cid_audit_append(log, &e, 1, NULL));
	if (rows != NULL)
		*rows = n;
out:
	cid_store_read_end(txn);
	json_decref(e);
	return rc;
}

/* ---- filtered output: JSON Lines or CSV ---- */

static const char *const csv_columns[] = {
    "seq",	  "time",	"type",	  "actor", "citizen", "service",	 "purpose",
    "attributes", "decision",	"reason", "basis", "rule",    "consent_records", "policy_version",
    "endpoint",	  "request_id",
};

#define N_CSV_COLUMNS (sizeof(csv_columns) / sizeof(csv_columns[0]))

/* The text of a member for CSV: strings as is, lists joined by ' ', numbers in decimal. */
static enum cid_err csv_value(const json_t *v, struct cid_buf *b)
{
	size_t i;
	json_t *item;

	if (json_is_string(v)) {
		cid_buf_append(b, json_string_value(v), json_string_length(v));
	} else if (json_is_integer(v)) {
		cid_buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, item)
		{
			if (i > 0)
				cid_buf_append(b, " ", 1);
			if (json_is_string(item))
				cid_buf_append(b, json_string_value(item),
					       json_string_length(item));
		}
	}
	return cid_buf_status(b);
}

struct filtered {
	FILE *out;
	bool csv;
	uint64_t n;
};

static enum cid_err filtered_cb(uint64_t seq, struct cid_str entry, void *arg)
{
	struct filtered *w = arg;
	enum cid_err rc = CID_OK;
	json_t *e = NULL;
	struct cid_buf b;

	(void)seq;
	cid_buf_init(&b, CID_AUDIT_MAX_LINE);
	if (!w->csv) {
		CID_ENSURE(fwrite(entry.ptr, 1, entry.len, w->out) == entry.len &&
			       fputc('\n', w->out) != EOF,
			   CID_ERR_IO);
		w->n++;
		goto out;
	}
	CID_TRY(cid_store_parse_json(entry, &e));
	for (size_t c = 0; c < N_CSV_COLUMNS; c++) {
		cid_buf_free(&b);
		CID_TRY(csv_value(json_object_get(e, csv_columns[c]), &b));
		CID_ENSURE((c == 0 || fputc(',', w->out) != EOF) &&
			       cid_csv_cell(w->out, b.data != NULL ? b.data : ""),
			   CID_ERR_IO);
	}
	CID_ENSURE(fputs("\r\n", w->out) != EOF, CID_ERR_IO);
	w->n++;
out:
	cid_buf_free(&b);
	json_decref(e);
	return rc;
}

enum cid_err cid_audit_write_filtered(struct cid_txn *txn, const struct cid_audit_filter *f,
				      bool csv, FILE *out, uint64_t *n_out)
{
	enum cid_err rc = CID_OK;
	struct filtered w = {.out = out, .csv = csv};

	if (csv) {
		/* a UTF-8 byte order mark first: without it Japanese Excel reads the
		 * file as Shift_JIS and garbles every name in it */
		CID_ENSURE(fputs("\xEF\xBB\xBF", out) != EOF, CID_ERR_IO);
		for (size_t c = 0; c < N_CSV_COLUMNS; c++)
			CID_ENSURE((c == 0 || fputc(',', out) != EOF) &&
				       fputs(csv_columns[c], out) != EOF,
				   CID_ERR_IO);
		CID_ENSURE(fputs("\r\n", out) != EOF, CID_ERR_IO);
	}
	CID_TRY(cid_audit_query(txn, f, filtered_cb, &w));
	CID_ENSURE(fflush(out) == 0, CID_ERR_IO);
	if (n_out != NULL)
		*n_out = w.n;
out:
	return rc;
}
