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

/*
 * A checkpoint line is an object of exactly one member, "checkpoint" (a JWS)
 * or "note" (a signed note), a string: *kind says which (0: not one).
 */
static json_t *cp_line(const char *p, size_t n, int *kind)
{
	json_t *o;
	const json_t *v;

	*kind = 0;
	if (!(n > 14 && memcmp(p, "{\"checkpoint\":", 14) == 0) &&
	    !(n > 8 && memcmp(p, "{\"note\":", 8) == 0))
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

/* One line of an export. */
static enum cid_err export_line(struct audit_verify *v, const char *p, size_t n)
{
	enum cid_err rc = CID_OK;
	json_t *o = NULL;
	const json_t *text;
	int kind;
	bool good;

	if (!cid_utf8_valid(p, n)) {
		audit_report_bad(v->rep, v->next, "line of entry %" PRIu64 " is not UTF-8 text",
				 v->next);
		return AUDIT_STOP;
	}
	o = cp_line(p, n, &kind);
	if (kind != 0) {
		text = json_object_get(o, kind == 1 ? "checkpoint" : "note");
		CID_TRY(audit_verify_checkpoint(v, kind == 1, json_string_value(text),
						json_string_length(text), &good));
	} else {
		CID_TRY(audit_verify_entry(v, p, n, &good));
	}
	if (!good)
		rc = AUDIT_STOP;
out:
	json_decref(o);
	return rc;
}

enum cid_err cid_audit_verify_export(FILE *in, const struct cid_keyset *ks,
				     const struct cid_audit_verify_opts *opts,
				     struct cid_audit_report *rep)
{
	static const struct cid_audit_verify_opts defaults = {0};
	enum cid_err rc = CID_OK;
	struct audit_verify v = {0};
	const char *jwks_iss = ks != NULL ? cid_keyset_issuer(ks) : NULL;
	struct line_in r = {.in = in};
	const char *line;
	size_t len;
	bool eof;
	bool too_long;
	bool locked = false;

	if (opts == NULL)
		opts = &defaults;
	if (opts->issuer != NULL && jwks_iss != NULL && strcmp(opts->issuer, jwks_iss) != 0)
		return CID_ERR_INVALID;
	v.ks = ks;
	v.trust = opts->trust;
	v.expected_iss = opts->issuer != NULL ? opts->issuer : jwks_iss;
	CID_TRY(audit_verify_begin(&v, rep, opts));
	rep->issuer_checked = v.expected_iss != NULL;
	r.buf = malloc(READ_BLOCK);
	CID_ENSURE(r.buf != NULL, CID_ERR_NOMEM);
	r.cap = READ_BLOCK;
	flockfile(in);
	locked = true;
	for (;;) {
		CID_TRY(line_next(&r, &line, &len, &eof, &too_long));
		if (eof)
			break;
		if (too_long) {
			audit_report_bad(rep, v.next, "line of entry %" PRIu64 " is over 1 MiB",
					 v.next);
			break;
		}
		rc = export_line(&v, line, len);
		if (rc == AUDIT_STOP) {
			rc = CID_OK;
			break;
		}
		CID_TRY(rc);
	}
	/* an export holds at least its own audit.exported entry, and a checkpoint over it */
	if (rep->ok && v.next == 0)
		audit_report_bad(
		    rep, 0,
		    "no signed checkpoint: the file holds no entry (every export holds "
		    "at least its own audit.exported entry and a checkpoint covering it)");
	audit_verify_end(&v, opts->allow_unsigned_tail);
out:
	if (locked)
		funlockfile(in);
	free(r.buf);
	free(v.scratch);
	return rc;
}
