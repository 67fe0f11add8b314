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

/* Reads one line (without its '\n') into *buf; *len its length, *too_long if over the cap. */
static enum cid_err line_read(FILE *in, char **buf, size_t *cap, size_t *len, bool *eof,
			      bool *too_long)
{
	int c;
	size_t n = 0;

	*too_long = false;
	*eof = false;
	while ((c = getc_unlocked(in)) != EOF && c != '\n') {
		if (n >= CID_AUDIT_MAX_LINE) {
			*too_long = true;
			continue;
		}
		if (n + 1 >= *cap) {
			size_t bigger = *cap == 0 ? 4096 : *cap * 2;
			char *p = realloc(*buf, bigger);

			if (p == NULL)
				return CID_ERR_NOMEM;
			*buf = p;
			*cap = bigger;
		}
		(*buf)[n++] = (char)c;
	}
	if (c == EOF) {
		if (ferror(in))
			return CID_ERR_IO;
		*eof = n == 0 && !*too_long;
	}
	*len = n;
	return CID_OK;
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
	char *buf = NULL;
	size_t cap = 0;
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
	flockfile(in);
	locked = true;
	for (;;) {
		CID_TRY(line_read(in, &buf, &cap, &len, &eof, &too_long));
		if (eof)
			break;
		if (too_long) {
			audit_report_bad(rep, v.next, "line of entry %" PRIu64 " is over 1 MiB",
					 v.next);
			break;
		}
		rc = export_line(&v, buf == NULL ? "" : buf, len);
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
	free(buf);
	free(v.scratch);
	return rc;
}
