/*
 * audit_verify: the verification of the log in the store and of an export
 * of it (the checkpoints themselves are audit_checkpoint.c's).
 *
 * Verification reads every entry once, in order, keeping only the previous
 * hash, so it runs in constant memory over any size of log; every finding is
 * a candidate bad seq and the report keeps the smallest. Entries no verified
 * checkpoint covers are proved by nothing: the live store may have such a
 * tail (reported), an export may not (failed unless accepted).
 */
#include "audit.h"

#include "audit_int.h"
#include "str.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- verification ---- */

/* A checkpoint checked on its own: signature, typ, payload shape. */
struct cp {
	uint64_t size;
	bool sig_ok;
	char hash[CID_AUDIT_HASH_HEX];
};

/*
 * Checks one checkpoint JWS; sig_ok false when anything about it is wrong.
 * iss gets the issuer it is signed as (when sig_ok).
 */
static enum cid_err cp_check(const struct cid_keyset *ks, const char *jws, size_t len,
			     uint64_t size_expected, bool size_known, struct cp *out,
			     char iss[CID_MAX_URI + 1])
{
	json_t *claims = NULL;
	const json_t *n;
	const json_t *i;
	const char *h;
	enum cid_err rc;

	out->sig_ok = false;
	memcpy(out->hash, AUDIT_ZERO_HASH, CID_AUDIT_HASH_HEX);
	out->size = size_expected;
	iss[0] = '\0';
	rc = cid_jws_verify(ks, jws, len, AUDIT_JWS_TYP, &claims);
	if (rc == CID_ERR_NOMEM)
		return rc;
	if (rc != CID_OK)
		return CID_OK;
	n = json_object_get(claims, "size");
	h = cid_json_str(claims, "hash");
	i = json_object_get(claims, "iss");
	if (json_is_integer(n) && json_integer_value(n) > 0 && audit_hash_syntax_ok(h) &&
	    (!size_known || (uint64_t)json_integer_value(n) == size_expected) &&
	    json_is_string(i) && json_string_length(i) > 0 &&
	    json_string_length(i) <= CID_MAX_URI &&
	    strlen(json_string_value(i)) == json_string_length(i)) {
		out->size = (uint64_t)json_integer_value(n);
		memcpy(out->hash, h, CID_AUDIT_HASH_HEX);
		memcpy(iss, json_string_value(i), json_string_length(i) + 1);
		out->sig_ok = true;
	}
	json_decref(claims);
	return CID_OK;
}

/* What a walk over entries has found so far. */
struct verify {
	struct cid_audit_report *rep;
	const char *expected_iss;      /* NULL: none given */
	uint64_t next;		       /* the seq expected next */
	char prev[CID_AUDIT_HASH_HEX]; /* hash of entry next-1 */
	char *scratch;		       /* re-serialised entry, for the canonical check */
	size_t scratch_cap;
	const struct cp *cps; /* checkpoints by size (store verification) */
	size_t n_cps, cp_i;
};

/* Records bad seq with a reason unless a smaller one is already recorded. */
static void report_bad(struct cid_audit_report *rep, uint64_t seq, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void report_bad(struct cid_audit_report *rep, uint64_t seq, const char *fmt, ...)
{
	va_list ap;

	if (!rep->ok && rep->bad_seq <= seq)
		return;
	rep->ok = false;
	rep->bad_seq = seq;
	va_start(ap, fmt);
	vsnprintf(rep->reason, sizeof(rep->reason), fmt, ap);
	va_end(ap);
}

/*
 * The rule on the iss of a checkpoint of size that verified on its own:
 * the expected issuer when one is given, else the iss of the checkpoints
 * accepted before it (one log has one issuer). Reports a mismatch at seq at
 * and returns false; true records iss as the report's issuer.
 */
static bool issuer_accept(struct cid_audit_report *rep, const char *expected, const char *iss,
			  uint64_t size, uint64_t at)
{
	if (expected != NULL && strcmp(iss, expected) != 0) {
		report_bad(rep, at, "checkpoint %" PRIu64 " is signed as issuer %.80s, not %.80s",
			   size, iss, expected);
		return false;
	}
	if (expected == NULL && rep->issuer[0] != '\0' && strcmp(iss, rep->issuer) != 0) {
		report_bad(rep, at,
			   "checkpoint %" PRIu64 " is signed as issuer %.80s, an earlier one as "
			   "%.80s: one log has one issuer",
			   size, iss, rep->issuer);
		return false;
	}
	snprintf(rep->issuer, sizeof(rep->issuer), "%s", iss);
	return true;
}

/*
 * The rule on what follows the newest checkpoint, applied once the walk is
 * over without damage: entries no signed checkpoint covers are proved by
 * nothing. They are flagged, and fail the verification unless accepted.
 */
static void tail_rule(struct cid_audit_report *rep, bool accept)
{
	if (!rep->ok || rep->covered >= rep->entries)
		return;
	rep->unsigned_tail = true;
	if (accept)
		return;
	if (rep->covered == 0)
		report_bad(rep, 0,
			   "nothing is signed: no checkpoint covers entries 0..%" PRIu64
			   " (a verifiable export ends with one covering its last entry)",
			   rep->entries - 1);
	else
		report_bad(rep, rep->covered,
			   "entries %" PRIu64 "..%" PRIu64 " follow the last signed checkpoint "
			   "(%" PRIu64 "): nothing signs them",
			   rep->covered, rep->entries - 1, rep->covered);
}

/*
 * Checks that [p, p+n) is entry seq in canonical form linked to v->prev,
 * and advances v. Returns false (after reporting) when it is not.
 */
static enum cid_err entry_verify(struct verify *v, const char *p, size_t n, bool *good)
{
	enum cid_err rc = CID_OK;
	json_t *e = NULL;
	const json_t *seqv;
	const char *prev;
	size_t need;
	uint64_t seq = v->next;
	uint8_t leaf[CID_MERKLE_HASH];

	*good = false;
	e = json_loadb(p, n, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(e) || !audit_canon_ok(e, 0)) {
		report_bad(v->rep, seq, "entry %" PRIu64 " is not a canonical JSON object", seq);
		goto out;
	}
	/* one dump into a buffer one byte longer than the entry: a longer dump differs */
	if (n + 1 > v->scratch_cap) {
		char *bigger = realloc(v->scratch, n + 1);

		CID_ENSURE(bigger != NULL, CID_ERR_NOMEM);
		v->scratch = bigger;
		v->scratch_cap = n + 1;
	}
	need = json_dumpb(e, v->scratch, v->scratch_cap, JSON_COMPACT | JSON_SORT_KEYS);
	if (need != n || v->scratch == NULL || memcmp(v->scratch, p, n) != 0) {
		report_bad(v->rep, seq, "entry %" PRIu64 " is not in canonical form", seq);
		goto out;
	}
	seqv = json_object_get(e, "seq");
	if (!json_is_integer(seqv) || json_integer_value(seqv) < 0 ||
	    (uint64_t)json_integer_value(seqv) != seq) {
		report_bad(v->rep, seq, "entry at %" PRIu64 " has another seq (moved or swapped)",
			   seq);
		goto out;
	}
	prev = cid_json_str(e, "prev");
	if (prev == NULL || strcmp(prev, v->prev) != 0) {
		if (seq == 0)
			report_bad(v->rep, 0, "entry 0 does not start the chain");
		else
			report_bad(v->rep, seq - 1,
				   "entry %" PRIu64 " was changed: its hash is not entry %" PRIu64
				   "'s prev",
				   seq - 1, seq);
		goto out;
	}
	CID_TRY(audit_entry_hash(p, n, leaf, v->prev));
	v->next++;
	v->rep->entries++;
	*good = true;
out:
	json_decref(e);
	return rc;
}

/* Store walk: one entry; stops at the first damage. */
static enum cid_err store_entry_cb(struct cid_str key, struct cid_str val, void *arg)
{
	struct verify *v = arg;
	enum cid_err rc;
	uint64_t seq;
	bool good;

	if (!audit_seq_key_parse(key, &seq) || seq < v->next) {
		report_bad(v->rep, v->next,
			   "a stray key in the audit database after entry %" PRIu64, v->next);
		return AUDIT_STOP;
	}
	if (seq > v->next) {
		report_bad(v->rep, v->next, "entry %" PRIu64 " is missing", v->next);
		return AUDIT_STOP;
	}
	rc = entry_verify(v, val.ptr, val.len, &good);
	if (rc != CID_OK)
		return rc;
	if (!good)
		return AUDIT_STOP;
	/* checkpoints covering this entry (size == seq + 1) */
	while (v->cp_i < v->n_cps && v->cps[v->cp_i].size <= seq + 1) {
		const struct cp *c = &v->cps[v->cp_i++];

		if (c->size != seq + 1 || !c->sig_ok)
			continue; /* reported when loaded */
		if (strcmp(c->hash, v->prev) != 0) {
			report_bad(v->rep, seq,
				   "entry %" PRIu64 " was changed: checkpoint %" PRIu64
				   " signed another hash",
				   seq, c->size);
			return AUDIT_STOP;
		}
		v->rep->checkpoints++;
		v->rep->covered = c->size;
	}
	return CID_OK;
}

/* Loads the stored checkpoints, in size order, each checked on its own. */
struct cp_list {
	const struct cid_keyset *ks;
	const char *expected_iss; /* the log's issuer; NULL: none recorded */
	struct cid_audit_report *rep;
	struct cp *items;
	size_t n, cap;
};

static enum cid_err cp_load_cb(struct cid_str key, struct cid_str val, void *arg)
{
	struct cp_list *l = arg;
	enum cid_err rc = CID_OK;
	json_t *rec = NULL;
	const json_t *jws;
	uint64_t size;
	struct cp *c;
	char iss[CID_MAX_URI + 1];

	if (!audit_seq_key_parse(key, &size) || size == 0)
		return CID_OK; /* not a checkpoint key: nothing it could cover */
	if (l->n == l->cap) {
		size_t cap = l->cap == 0 ? 16 : l->cap * 2;
		struct cp *bigger = realloc(l->items, cap * sizeof(*bigger));

		CID_ENSURE(bigger != NULL, CID_ERR_NOMEM);
		l->items = bigger;
		l->cap = cap;
	}
	c = &l->items[l->n++];
	rec = json_loadb(val.ptr, val.len, JSON_REJECT_DUPLICATES, NULL);
	jws = json_object_get(rec, "jws");
	if (!json_is_string(jws)) {
		*c = (struct cp){.size = size};
	} else {
		CID_TRY(cp_check(l->ks, json_string_value(jws), json_string_length(jws), size, true,
				 c, iss));
	}
	if (!c->sig_ok)
		report_bad(l->rep, size - 1,
			   "checkpoint %" PRIu64 " does not verify (signature, key or payload)",
			   size);
	else if (!issuer_accept(l->rep, l->expected_iss, iss, size, size - 1))
		c->sig_ok = false;
out:
	json_decref(rec);
	return rc;
}

enum cid_err cid_audit_verify_store(struct cid_store *s, const struct cid_keyset *ks,
				    struct cid_audit_report *rep)
{
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;
	struct cp_list cps = {.ks = ks, .rep = rep};
	struct verify v = {.rep = rep};
	uint64_t size;
	char hash[CID_AUDIT_HASH_HEX];
	char *iss = NULL;

	*rep = (struct cid_audit_report){.ok = true};
	memcpy(v.prev, AUDIT_ZERO_HASH, CID_AUDIT_HASH_HEX);
	CID_TRY(cid_store_read_begin(s, &txn));
	rc = audit_issuer_get(txn, &iss);
	if (rc == CID_ERR_STORE) {
		report_bad(rep, 0, "the log's issuer record is damaged");
		rc = CID_OK;
	}
	CID_TRY(rc);
	cps.expected_iss = iss;
	rep->issuer_checked = iss != NULL;
	rc = cid_audit_head(txn, &size, hash);
	if (rc == CID_ERR_STORE) {
		report_bad(rep, 0, "the head record is damaged");
		size = UINT64_MAX;
		memcpy(hash, AUDIT_ZERO_HASH, CID_AUDIT_HASH_HEX);
		rc = CID_OK;
	}
	CID_TRY(rc);
	CID_TRY(cid_txn_foreach(txn, CID_DB_AUDIT_CP, (struct cid_str){NULL, 0}, cp_load_cb, &cps));
	v.cps = cps.items;
	v.n_cps = cps.n;
	rc = cid_txn_foreach(txn, CID_DB_AUDIT, (struct cid_str){NULL, 0}, store_entry_cb, &v);
	if (rc == AUDIT_STOP)
		rc = CID_OK;
	CID_TRY(rc);
	/* what lies beyond the entries read: checkpoints and the head */
	for (size_t i = v.cp_i; i < cps.n; i++)
		if (cps.items[i].sig_ok && cps.items[i].size > v.next)
			report_bad(rep, v.next,
				   "entries from %" PRIu64 " are missing: checkpoint %" PRIu64
				   " covers them",
				   v.next, cps.items[i].size);
	if (size != UINT64_MAX) {
		if (size > v.next)
			report_bad(rep, v.next,
				   "entries from %" PRIu64 " are missing: the head counts %" PRIu64,
				   v.next, size);
		else if (size < v.next)
			report_bad(rep, size,
				   "entries from %" PRIu64 " are beyond the head (head changed?)",
				   size);
		else if (size > 0 && strcmp(hash, v.prev) != 0)
			report_bad(rep, size - 1,
				   "entry %" PRIu64 " or the head was changed: the head's hash "
				   "differs",
				   size - 1);
	}
	tail_rule(rep, true); /* the live log: the server signs its tail within an interval */
out:
	cid_store_read_end(txn);
	free(cps.items);
	free(v.scratch);
	free(iss);
	return rc;
}

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

/* Handles a {"checkpoint": JWS} line found after v->next entries. */
static enum cid_err export_cp(struct verify *v, const struct cid_keyset *ks, const json_t *jws)
{
	enum cid_err rc;
	struct cp c;
	uint64_t at = v->next;
	char iss[CID_MAX_URI + 1];

	rc = cp_check(ks, json_string_value(jws), json_string_length(jws), 0, false, &c, iss);
	if (rc != CID_OK)
		return rc;
	if (!c.sig_ok) {
		report_bad(v->rep, at == 0 ? 0 : at - 1,
			   "the checkpoint after entry %" PRIu64 " does not verify", at - 1);
		return AUDIT_STOP;
	}
	if (!issuer_accept(v->rep, v->expected_iss, iss, c.size, at == 0 ? 0 : at - 1))
		return AUDIT_STOP;
	if (c.size > at) {
		report_bad(v->rep, at,
			   "entries from %" PRIu64 " are missing: checkpoint %" PRIu64
			   " covers them",
			   at, c.size);
		return AUDIT_STOP;
	}
	if (c.size < at) {
		report_bad(v->rep, c.size - 1,
			   "checkpoint %" PRIu64 " is out of place (after entry %" PRIu64 ")",
			   c.size, at - 1);
		return AUDIT_STOP;
	}
	if (strcmp(c.hash, v->prev) != 0) {
		report_bad(v->rep, at - 1,
			   "entry %" PRIu64 " was changed: checkpoint %" PRIu64
			   " signed another hash",
			   at - 1, c.size);
		return AUDIT_STOP;
	}
	v->rep->checkpoints++;
	v->rep->covered = c.size;
	return CID_OK;
}

/* One line of an export. */
static enum cid_err export_line(struct verify *v, const struct cid_keyset *ks, const char *p,
				size_t n)
{
	enum cid_err rc = CID_OK;
	json_t *o = NULL;
	const json_t *jws;
	bool good;

	if (!cid_utf8_valid(p, n)) {
		report_bad(v->rep, v->next, "line of entry %" PRIu64 " is not UTF-8 text", v->next);
		return AUDIT_STOP;
	}
	/* a checkpoint line is the one object of exactly one member "checkpoint" */
	if (n > 14 && memcmp(p, "{\"checkpoint\":", 14) == 0) {
		o = json_loadb(p, n, JSON_REJECT_DUPLICATES, NULL);
		jws = json_object_get(o, "checkpoint");
		if (json_is_object(o) && json_object_size(o) == 1 && json_is_string(jws)) {
			rc = export_cp(v, ks, jws);
			goto out;
		}
	}
	CID_TRY(entry_verify(v, p, n, &good));
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
	struct verify v = {.rep = rep};
	const char *jwks_iss = ks != NULL ? cid_keyset_issuer(ks) : NULL;
	char *buf = NULL;
	size_t cap = 0;
	size_t len;
	bool eof;
	bool too_long;

	if (opts == NULL)
		opts = &defaults;
	if (opts->issuer != NULL && jwks_iss != NULL && strcmp(opts->issuer, jwks_iss) != 0)
		return CID_ERR_INVALID;
	*rep = (struct cid_audit_report){.ok = true};
	v.expected_iss = opts->issuer != NULL ? opts->issuer : jwks_iss;
	rep->issuer_checked = v.expected_iss != NULL;
	memcpy(v.prev, AUDIT_ZERO_HASH, CID_AUDIT_HASH_HEX);
	flockfile(in);
	for (;;) {
		CID_TRY(line_read(in, &buf, &cap, &len, &eof, &too_long));
		if (eof)
			break;
		if (too_long) {
			report_bad(rep, v.next, "line of entry %" PRIu64 " is over 1 MiB", v.next);
			break;
		}
		rc = export_line(&v, ks, buf == NULL ? "" : buf, len);
		if (rc == AUDIT_STOP) {
			rc = CID_OK;
			break;
		}
		CID_TRY(rc);
	}
	tail_rule(rep, opts->allow_unsigned_tail);
out:
	funlockfile(in);
	free(buf);
	free(v.scratch);
	return rc;
}
