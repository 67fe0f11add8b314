/*
 * audit_export: the files that leave the audit log: the whole log in the
 * export format that cid_audit_verify_export reads, and the entries a filter
 * selects as JSON Lines or CSV.
 *
 * An export of the whole log writes every entry as its stored bytes, each
 * checkpoint on the line after the entry it covers, from one read
 * transaction, so the file is one consistent state of the log. CSV cells are
 * quoted per RFC 4180 and never start a spreadsheet formula.
 */
#include "audit.h"

#include "audit_int.h"
#include "buf.h"
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

static enum cid_err export_cb(struct cid_str key, struct cid_str val, void *arg)
{
	struct exporter *x = arg;
	enum cid_err rc = CID_OK;
	json_t *rec = NULL;
	json_t *line = NULL;
	char *text = NULL;
	uint64_t seq;

	CID_ENSURE(audit_seq_key_parse(key, &seq), CID_ERR_STORE);
	CID_ENSURE(fwrite(val.ptr, 1, val.len, x->out) == val.len && fputc('\n', x->out) != EOF,
		   CID_ERR_IO);
	while (x->have_cp && x->cp_size <= seq + 1) {
		if (x->cp_size == seq + 1) {
			CID_TRY(cid_txn_get_json(x->txn, CID_DB_AUDIT_CP, cid_str_of(x->next_cp),
						 &rec));
			CID_ENSURE(cid_json_str(rec, "jws") != NULL, CID_ERR_STORE);
			line = json_pack("{s:O}", "checkpoint", json_object_get(rec, "jws"));
			text = line == NULL ? NULL : json_dumps(line, JSON_COMPACT);
			CID_ENSURE(text != NULL, CID_ERR_NOMEM);
			CID_ENSURE(fputs(text, x->out) != EOF && fputc('\n', x->out) != EOF,
				   CID_ERR_IO);
		}
		CID_TRY(cp_seek(x, x->cp_size + 1));
	}
out:
	free(text);
	json_decref(line);
	json_decref(rec);
	return rc;
}

enum cid_err cid_audit_export(struct cid_txn *txn, FILE *out)
{
	enum cid_err rc = CID_OK;
	struct exporter x = {.out = out, .txn = txn};

	CID_TRY(cp_seek(&x, 1));
	CID_TRY(cid_txn_foreach(txn, CID_DB_AUDIT, (struct cid_str){NULL, 0}, export_cb, &x));
	CID_ENSURE(fflush(out) == 0, CID_ERR_IO);
out:
	return rc;
}

enum cid_err cid_audit_export_signed(struct cid_store *s, const struct cid_keyset *ks, int64_t now,
				     FILE *out, uint64_t *entries)
{
	enum cid_err rc = ks != NULL ? cid_audit_checkpoint(s, ks, now, NULL) : CID_OK;
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

/* ---- filtered output: JSON Lines or CSV ---- */

static const char *const csv_columns[] = {
    "seq",	  "time",	"type",	  "actor", "citizen", "service",	 "purpose",
    "attributes", "decision",	"reason", "basis", "rule",    "consent_records", "policy_version",
    "endpoint",	  "request_id",
};

#define N_CSV_COLUMNS (sizeof(csv_columns) / sizeof(csv_columns[0]))

/* Writes one CSV cell: formula-looking cells get a ' and RFC 4180 quoting as needed. */
static bool csv_cell(FILE *out, const char *s)
{
	bool quote = strpbrk(s, ",\"\r\n") != NULL;
	bool formula = s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' ||
		       s[0] == '\r';

	if (quote && fputc('"', out) == EOF)
		return false;
	if (formula && fputc('\'', out) == EOF)
		return false;
	for (const char *p = s; *p != '\0'; p++) {
		if (*p == '"' && fputc('"', out) == EOF)
			return false;
		if (fputc(*p, out) == EOF)
			return false;
	}
	return !quote || fputc('"', out) != EOF;
}

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
	cid_buf_init(&b, AUDIT_LINE_MAX);
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
			       csv_cell(w->out, b.data != NULL ? b.data : ""),
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
