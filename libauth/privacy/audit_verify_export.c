/*
 * audit_verify_export: an export verified offline, line by line, with the
 * walk of audit_verify.c. A line is an entry, or a checkpoint after the
 * entry it covers: {"note": signed note} or, from a store older than the
 * notes, {"checkpoint": JWS}. Lines are read with a hard cap, so a hostile
 * file costs at most CID_AUDIT_MAX_LINE bytes of memory.
 */
#include "audit.h"

#include "audit_int.h"
#include "str.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An export read in blocks; a line is found with memchr and handed out in place. */
#define READ_BLOCK ((size_t)64 * 1024)

struct line_in {
	FILE *in;
	char *buf; /* [pos, len): read, not yet handed out */
	size_t cap;
	size_t pos;
	size_t len;
	bool end; /* fread found the end (or an error) */
};

/*
 * The next line (without its '\n') at *line, *n bytes, valid until the next
 * call; *eof at the end of the file; *too_long (and nothing more read) for a
 * line over CID_AUDIT_MAX_LINE, of which at most that and a block are held.
 * Errors: CID_ERR_IO (a read error), CID_ERR_NOMEM.
 */
static enum cid_err line_next(struct line_in *r, const char **line, size_t *n, bool *eof,
			      bool *too_long)
{
	size_t searched = 0; /* bytes from pos known to hold no '\n' */

	*eof = false;
	*too_long = false;
	for (;;) {
		const char *from = r->buf + r->pos;
		const char *nl = memchr(from + searched, '\n', r->len - r->pos - searched);

		if (nl != NULL || r->end || r->len - r->pos > CID_AUDIT_MAX_LINE) {
			*line = from;
			*n = nl != NULL ? (size_t)(nl - from) : r->len - r->pos;
			*too_long = *n > CID_AUDIT_MAX_LINE;
			*eof = nl == NULL && *n == 0;
			r->pos += *n + (nl != NULL ? 1 : 0);
			return nl == NULL && r->end && ferror(r->in) ? CID_ERR_IO : CID_OK;
		}
		searched = r->len - r->pos;
		memmove(r->buf, from, searched);
		r->len = searched;
		r->pos = 0;
		if (r->cap - r->len < READ_BLOCK) {
			char *bigger = realloc(r->buf, r->len + READ_BLOCK);

			if (bigger == NULL)
				return CID_ERR_NOMEM;
			r->buf = bigger;
			r->cap = r->len + READ_BLOCK;
		}
		{
			size_t got = fread(r->buf + r->len, 1, READ_BLOCK, r->in);

			r->len += got;
			r->end = got == 0;
		}
	}
}

/* True if [p, p+n) begins as a checkpoint line does (cp_line says if it is one). */
static bool cp_like(const char *p, size_t n)
{
	return (n > 14 && memcmp(p, "{\"checkpoint\":", 14) == 0) ||
	       (n > 8 && memcmp(p, "{\"note\":", 8) == 0);
}

/*
 * A checkpoint line is an object of exactly one member, "checkpoint" (a JWS)
 * or "note" (a signed note), a string: *kind says which (0: not one).
 */
static json_t *cp_line(const char *p, size_t n, int *kind)
{
	json_t *o;
	const json_t *v;

	*kind = 0;
	if (!cp_like(p, n))
		return NULL;
	o = json_loadb(p, n, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(o) || json_object_size(o) != 1) {
		json_decref(o);
		return NULL;
	}
	if (json_is_string(v = json_object_get(o, "checkpoint")))
		*kind = 1;
	else if (json_is_string(v = json_object_get(o, "note")))
		*kind = 2;
	return o;
}

/*
 * The export's lines are checked in batches (audit_verify_crew.c), which
 * also check that each is UTF-8. A batch's lines are copied into its own
 * arena, as the reader's block moves on: at most ARENA_BYTES of lines (or
 * one line, up to CID_AUDIT_MAX_LINE, which starts a batch when it does not
 * fit), so two batches hold at most 8 MiB however the file is made.
 */
#define ARENA_BYTES ((size_t)4 * 1024 * 1024)
#define ARENA_CAP   (ARENA_BYTES > CID_AUDIT_MAX_LINE ? ARENA_BYTES : CID_AUDIT_MAX_LINE)

struct export_walk {
	struct audit_verify v;
	struct audit_batches batches;
	char *arena[2]; /* each ARENA_CAP bytes: the lines of the batch buf[i] */
	size_t used[2];
};

/* Export walk: one line, an entry or a checkpoint; stops at the first damage. */
static enum cid_err export_link(void *arg, const struct audit_walk_item *it)
{
	struct export_walk *w = arg;
	struct audit_verify *v = &w->v;
	enum cid_err rc = CID_OK;
	json_t *o = NULL;
	const json_t *text;
	int kind = 0;
	bool good;

	if (!it->text) {
		audit_report_bad(v->rep, v->next, "line of entry %" PRIu64 " is not UTF-8 text",
				 v->next);
		return AUDIT_STOP;
	}
	if (it->skip)
		o = cp_line(it->p, it->n, &kind);
	if (kind != 0) {
		text = json_object_get(o, kind == 1 ? "checkpoint" : "note");
		CID_TRY(audit_verify_checkpoint(v, kind == 1, json_string_value(text),
						json_string_length(text), &good));
	} else if (it->skip) { /* began as a checkpoint, is none: as an entry, it is damage */
		CID_TRY(audit_verify_entry(v, it->p, it->n, &good));
	} else {
		CID_TRY(audit_verify_entry_pre(v, it->p, it->n, &it->pre, &good));
	}
	if (!good)
		rc = AUDIT_STOP;
out:
	json_decref(o);
	return rc;
}

/* Copies the line [p, p+n) into the batch gathered, flushing first when its arena is full. */
static enum cid_err export_gather(struct export_walk *w, const char *p, size_t n)
{
	struct audit_batches *b = &w->batches;
	struct audit_walk_item *it;
	unsigned g = b->gather;
	enum cid_err rc;

	if (w->used[g] + n > ARENA_BYTES && b->n[g] > 0) {
		rc = audit_batches_flush(b);
		if (rc != CID_OK)
			return rc;
		g = b->gather;
		w->used[g] = 0; /* its batch was linked */
	}
	it = audit_batches_slot(b);
	it->p = w->arena[g] + w->used[g];
	it->n = n;
	it->skip = cp_like(p, n);
	if (n > 0)
		memcpy(w->arena[g] + w->used[g], p, n);
	w->used[g] += n;
	rc = audit_batches_add(b);
	if (b->gather != g)
		w->used[b->gather] = 0;
	return rc;
}

enum cid_err cid_audit_verify_export(FILE *in, const struct cid_keyset *ks,
				     const struct cid_audit_verify_opts *opts,
				     struct cid_audit_report *rep)
{
	static const struct cid_audit_verify_opts defaults = {0};
	enum cid_err rc = CID_OK;
	struct export_walk w = {0};
	struct audit_verify *v = &w.v;
	const char *jwks_iss = ks != NULL ? cid_keyset_issuer(ks) : NULL;
	struct line_in r = {.in = in};
	const char *line;
	size_t len;
	bool eof;
	bool too_long;
	bool locked = false;
	enum cid_err read_rc = CID_OK;

	if (opts == NULL)
		opts = &defaults;
	if (opts->issuer != NULL && jwks_iss != NULL && strcmp(opts->issuer, jwks_iss) != 0)
		return CID_ERR_INVALID;
	v->ks = ks;
	v->trust = opts->trust;
	v->expected_iss = opts->issuer != NULL ? opts->issuer : jwks_iss;
	CID_TRY(audit_verify_begin(v, rep, opts));
	rep->issuer_checked = v->expected_iss != NULL;
	r.buf = malloc(READ_BLOCK);
	CID_ENSURE(r.buf != NULL, CID_ERR_NOMEM);
	r.cap = READ_BLOCK;
	for (int i = 0; i < 2; i++) {
		w.arena[i] = malloc(ARENA_CAP);
		CID_ENSURE(w.arena[i] != NULL, CID_ERR_NOMEM);
	}
	CID_TRY(audit_batches_start(&w.batches, opts->threads, true, export_link, &w));
	flockfile(in);
	locked = true;
	for (;;) {
		read_rc = line_next(&r, &line, &len, &eof, &too_long);
		if (read_rc != CID_OK || eof || too_long)
			break;
		rc = export_gather(&w, line, len);
		if (rc != CID_OK)
			break;
	}
	if (rc == CID_OK)
		rc = audit_batches_finish(&w.batches); /* every line before the end */
	/* damage in the lines read ahead of a read error is reported, as one by one */
	if (rc == CID_OK)
		rc = read_rc;
	if (rc == CID_OK && too_long)
		audit_report_bad(rep, v->next, "line of entry %" PRIu64 " is over 1 MiB", v->next);
	CID_TRY(rc == AUDIT_STOP ? CID_OK : rc);
	/* an export holds at least its own audit.exported entry, and a checkpoint over it */
	if (rep->ok && v->next == 0)
		audit_report_bad(
		    rep, 0,
		    "no signed checkpoint: the file holds no entry (every export holds "
		    "at least its own audit.exported entry and a checkpoint covering it)");
	audit_verify_end(v, opts->allow_unsigned_tail);
out:
	if (locked)
		funlockfile(in);
	audit_batches_stop(&w.batches);
	free(w.arena[0]);
	free(w.arena[1]);
	free(r.buf);
	free(v->scratch);
	return rc;
}
