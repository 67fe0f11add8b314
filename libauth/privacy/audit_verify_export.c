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
 * also check that each is UTF-8. The file is read in blocks straight into
 * the arena of the batch gathered, and its lines are handed out in place:
 * when the next block would pass ARENA_BYTES, that batch is flushed and the
 * bytes read past its last line move to the other arena, whose batch has
 * been linked by then (audit_batches_flush). A line over CID_AUDIT_MAX_LINE
 * stops the walk, so the two arenas hold it however the file is made.
 */
#define READ_BLOCK  ((size_t)64 * 1024)
#define ARENA_BYTES ((size_t)4 * 1024 * 1024)
#define ARENA_CAP                                                                                  \
	((ARENA_BYTES > CID_AUDIT_MAX_LINE ? ARENA_BYTES : CID_AUDIT_MAX_LINE) + READ_BLOCK)

struct export_walk {
	struct audit_verify v;
	struct audit_batches batches;
	FILE *in;
	char *arena[2]; /* ARENA_CAP bytes each: what was read for the batch buf[i] */
	size_t line;	/* in the arena gathered: where the next line begins */
	size_t len;	/* in the arena gathered: the bytes read */
	bool end;	/* fread found the end of the file, or an error */
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

/* Moves the bytes read past the last line handed out in arena from to the start of the one
 * gathered. */
static void export_carry(struct export_walk *w, unsigned from)
{
	memcpy(w->arena[w->batches.gather], w->arena[from] + w->line, w->len - w->line);
	w->len -= w->line;
	w->line = 0;
}

/*
 * Hands out the next line, its n bytes (then a '\n' when nl) at w->line of
 * the arena gathered. When that fills the batch, the next is gathered in the
 * other arena: the bytes read past the line go there. Errors: those of the
 * link function (audit_batches_add).
 */
static enum cid_err export_gather(struct export_walk *w, size_t n, bool nl)
{
	struct audit_batches *b = &w->batches;
	unsigned g = b->gather;
	struct audit_walk_item *it = audit_batches_slot(b);
	enum cid_err rc;

	it->p = w->arena[g] + w->line;
	it->n = n;
	it->skip = cp_like(it->p, n);
	w->line += n + (nl ? 1 : 0);
	rc = audit_batches_add(b);
	if (b->gather != g)
		export_carry(w, g);
	return rc;
}

/*
 * Reads w->in into batches up to its end, a line over CID_AUDIT_MAX_LINE
 * (*too_long, the line not handed out) or a read error (*read_failed; the
 * line it cut is not handed out). Errors: those of the link function
 * (AUDIT_STOP at the first damage).
 */
static enum cid_err export_read(struct export_walk *w, bool *too_long, bool *read_failed)
{
	size_t searched = 0; /* bytes from w->line known to hold no '\n' */
	enum cid_err rc;

	for (;;) {
		const char *from = w->arena[w->batches.gather] + w->line;
		size_t have = w->len - w->line;
		const char *nl = memchr(from + searched, '\n', have - searched);
		size_t got;

		if (nl != NULL && (size_t)(nl - from) <= CID_AUDIT_MAX_LINE) {
			rc = export_gather(w, (size_t)(nl - from), true);
			if (rc != CID_OK)
				return rc;
			searched = 0;
			continue;
		}
		*too_long = have > CID_AUDIT_MAX_LINE;
		*read_failed = w->end && ferror(w->in);
		if (*too_long || *read_failed)
			return CID_OK;
		if (w->end)
			return have > 0 ? export_gather(w, have, false) : CID_OK;
		searched = have;
		/* no room for a block: the lines so far are a batch, the line begun
		   moves (the arena then holds at most CID_AUDIT_MAX_LINE) */
		if (ARENA_CAP - w->len < READ_BLOCK) {
			unsigned g = w->batches.gather;

			rc = audit_batches_flush(&w->batches);
			export_carry(w, g);
			if (rc != CID_OK)
				return rc;
		}
		got = fread(w->arena[w->batches.gather] + w->len, 1, READ_BLOCK, w->in);
		w->len += got;
		w->end = got == 0;
	}
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
	bool too_long = false;
	bool read_failed = false;

	if (opts == NULL)
		opts = &defaults;
	if (opts->issuer != NULL && jwks_iss != NULL && strcmp(opts->issuer, jwks_iss) != 0)
		return CID_ERR_INVALID;
	v->ks = ks;
	v->trust = opts->trust;
	v->expected_iss = opts->issuer != NULL ? opts->issuer : jwks_iss;
	CID_TRY(audit_verify_begin(v, rep, opts));
	rep->issuer_checked = v->expected_iss != NULL;
	w.in = in;
	for (int i = 0; i < 2; i++) {
		w.arena[i] = malloc(ARENA_CAP);
		CID_ENSURE(w.arena[i] != NULL, CID_ERR_NOMEM);
	}
	CID_TRY(audit_batches_start(&w.batches, opts->threads, true, export_link, &w));
	flockfile(in);
	rc = export_read(&w, &too_long, &read_failed);
	funlockfile(in);
	if (rc == CID_OK)
		rc = audit_batches_finish(&w.batches); /* every line before the end */
	/* damage in the lines read ahead of a read error is reported, as one by one */
	if (rc == CID_OK && read_failed)
		rc = CID_ERR_IO;
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
	audit_batches_stop(&w.batches);
	free(w.arena[0]);
	free(w.arena[1]);
	free(v->scratch);
	return rc;
}
