/*
 * audit_verify: the verification of the log, the walk shared by the store
 * (audit_verify_store.c reads its entries) and an export
 * (audit_verify_export.c reads the export's lines).
 *
 * Verification reads every entry once, in order, keeping the previous hash
 * and the Merkle frontier of the entries read, so it runs in constant memory
 * over any size of log; every finding is a candidate bad seq and the report
 * keeps the smallest. A checkpoint is checked where it stands, after the
 * entries it covers: a signed note against the frontier's tree head, a
 * legacy JWS against the previous hash. In the store every tree node the
 * appends stored is compared with the one the walk computes, so proofs made
 * from the store are proofs of these entries. Entries no verified checkpoint
 * covers are proved by nothing: the live store may have such a tail
 * (reported), an export may not (failed unless accepted). A witness
 * checkpoint, signed by the log and held by someone else, is what shows that
 * the log was not rolled back, cut or forked since.
 */
#include "audit.h"

#include "audit_int.h"
#include "crypto.h"
#include "str.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void audit_report_bad(struct cid_audit_report *rep, uint64_t seq, const char *fmt, ...)
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

/* ---- legacy JWS checkpoints ---- */

/* A legacy checkpoint checked on its own: signature, typ, payload shape. */
struct jws_cp {
	uint64_t size;
	bool sig_ok;
	char hash[CID_AUDIT_HASH_HEX];
	char iss[CID_MAX_URI + 1];
};

/* Checks one checkpoint JWS; sig_ok false when anything about it is wrong. */
static enum cid_err jws_check(const struct cid_keyset *ks, const char *jws, size_t len,
			      struct jws_cp *out)
{
	json_t *claims = NULL;
	const json_t *n;
	const json_t *i;
	const char *h;
	enum cid_err rc;

	*out = (struct jws_cp){0};
	rc = cid_jws_verify(ks, jws, len, AUDIT_JWS_TYP, &claims);
	if (rc == CID_ERR_NOMEM)
		return rc;
	if (rc != CID_OK)
		return CID_OK;
	n = json_object_get(claims, "size");
	h = cid_json_str(claims, "hash");
	i = json_object_get(claims, "iss");
	if (json_is_integer(n) && json_integer_value(n) > 0 && audit_hash_syntax_ok(h) &&
	    json_is_string(i) && json_string_length(i) > 0 &&
	    json_string_length(i) <= CID_MAX_URI &&
	    strlen(json_string_value(i)) == json_string_length(i)) {
		out->size = (uint64_t)json_integer_value(n);
		memcpy(out->hash, h, CID_AUDIT_HASH_HEX);
		memcpy(out->iss, json_string_value(i), json_string_length(i) + 1);
		out->sig_ok = true;
	}
	json_decref(claims);
	return CID_OK;
}

/*
 * The rule on the iss of a legacy checkpoint of size that verified on its
 * own: the expected issuer when one is given, else the iss of the
 * checkpoints accepted before it (one log has one issuer). Reports a
 * mismatch at seq at and returns false; true records iss as the report's.
 */
static bool issuer_accept(struct cid_audit_report *rep, const char *expected, const char *iss,
			  uint64_t size, uint64_t at)
{
	if (expected != NULL && strcmp(iss, expected) != 0) {
		audit_report_bad(rep, at,
				 "checkpoint %" PRIu64 " is signed as issuer %.80s, not %.80s",
				 size, iss, expected);
		return false;
	}
	if (expected == NULL && rep->issuer[0] != '\0' && strcmp(iss, rep->issuer) != 0) {
		audit_report_bad(rep, at,
				 "checkpoint %" PRIu64
				 " is signed as issuer %.80s, an earlier one as "
				 "%.80s: one log has one issuer",
				 size, iss, rep->issuer);
		return false;
	}
	snprintf(rep->issuer, sizeof(rep->issuer), "%s", iss);
	return true;
}

/* ---- the walk ---- */

/* A stored tree node the walk completed: it must be the stored one. */
static enum cid_err node_check(void *arg, unsigned level, uint64_t index,
			       const uint8_t hash[CID_MERKLE_HASH])
{
	struct audit_verify *v = arg;
	uint8_t stored[CID_MERKLE_HASH];
	uint64_t first = index << level;
	uint64_t end = (index + 1) << level;
	enum cid_err rc;

	if (end > v->stored_size || !v->rep->ok)
		return CID_OK; /* the tree has not reached it (it lags), or a leaf below differs */
	rc = audit_tree_read(v->nodes, level, index, stored);
	if (rc == CID_ERR_NOMEM)
		return rc;
	/* every leaf below matched: the entry completing the node is where it goes wrong */
	if (rc != CID_OK || memcmp(stored, hash, CID_MERKLE_HASH) != 0)
		audit_report_bad(v->rep, end - 1,
				 "the stored Merkle tree node over entries %" PRIu64 "..%" PRIu64
				 " is not theirs: proofs made from it would not verify",
				 first, end - 1);
	return CID_OK;
}

void audit_verify_at_size(struct audit_verify *v)
{
	uint8_t root[CID_MERKLE_HASH];

	/* the root costs a hash per set bit of the size: only at the sizes compared */
	if (!(v->txn != NULL && v->next == v->stored_size) &&
	    !(v->witness && v->next == v->witness_size))
		return;
	cid_merkle_frontier_root(&v->tree, root);
	if (v->txn != NULL && v->next == v->stored_size &&
	    memcmp(root, v->stored_root, CID_MERKLE_HASH) != 0)
		audit_report_bad(
		    v->rep, v->next == 0 ? 0 : v->next - 1,
		    "the stored tree frontier of size %" PRIu64
		    " is not the tree of the entries: checkpoints signed from it would "
		    "not verify",
		    v->next);
	if (v->witness && v->next == v->witness_size &&
	    memcmp(root, v->witness_root, CID_MERKLE_HASH) != 0) {
		audit_report_bad(v->rep, v->next == 0 ? 0 : v->next - 1,
				 "fork or rollback: the first %" PRIu64
				 " entries are not the tree the witness checkpoint signs: the log "
				 "was forked, or restored from an older state and grown again",
				 v->next);
		v->rep->rollback = true;
	}
}

enum cid_err audit_verify_begin(struct audit_verify *v, struct cid_audit_report *rep,
				const struct cid_audit_verify_opts *opts)
{
	struct cid_note note;
	struct cid_checkpoint cp;
	enum cid_err rc;

	*rep = (struct cid_audit_report){.ok = true};
	v->rep = rep;
	memcpy(v->prev, AUDIT_ZERO_HASH, CID_AUDIT_HASH_HEX);
	cid_merkle_frontier_init(&v->tree);
	if (opts == NULL || opts->witness_checkpoint == NULL)
		return CID_OK;
	rc = audit_note_check(
	    v->trust, (struct cid_str){opts->witness_checkpoint, opts->witness_checkpoint_len},
	    &note, &cp, &v->witness_cosig);
	if (rc == CID_ERR_NOMEM || rc == CID_ERR_CRYPTO)
		return rc;
	if (rc != CID_OK)
		return CID_ERR_DENIED;
	/* the log's own signature proves only what the log says: a witness must vouch for it */
	if (v->witness_cosig.time == 0)
		return CID_ERR_REFUSED;
	v->witness = true;
	v->witness_size = cp.size;
	memcpy(v->witness_root, cp.root, CID_MERKLE_HASH);
	return CID_OK;
}

/* Room for n + 1 bytes in v->scratch. Errors: CID_ERR_NOMEM. */
static enum cid_err scratch_fit(struct audit_verify *v, size_t n)
{
	char *bigger;

	if (n + 1 <= v->scratch_cap)
		return CID_OK;
	bigger = realloc(v->scratch, n + 1);
	if (bigger == NULL)
		return CID_ERR_NOMEM;
	v->scratch = bigger;
	v->scratch_cap = n + 1;
	return CID_OK;
}

/*
 * The slow look at entry seq, for what audit_entry_scan declines: parsed by
 * jansson, checked canonical, in place and linked to v->prev; *linked false
 * after reporting what is wrong. Errors: CID_ERR_NOMEM.
 */
static enum cid_err entry_parsed(struct audit_verify *v, const char *p, size_t n, uint64_t seq,
				 bool *linked)
{
	enum cid_err rc = CID_OK;
	json_t *e = NULL;
	const json_t *seqv;
	const char *prev;
	size_t need;

	*linked = false;
	e = json_loadb(p, n, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(e) || !audit_canon_ok(e, 0)) {
		audit_report_bad(v->rep, seq, "entry %" PRIu64 " is not a canonical JSON object",
				 seq);
		goto out;
	}
	/* one dump into a buffer one byte longer than the entry: a longer dump differs */
	CID_TRY(scratch_fit(v, n));
	need = json_dumpb(e, v->scratch, v->scratch_cap, JSON_COMPACT | JSON_SORT_KEYS);
	if (need != n || memcmp(v->scratch, p, n) != 0) {
		audit_report_bad(v->rep, seq, "entry %" PRIu64 " is not in canonical form", seq);
		goto out;
	}
	seqv = json_object_get(e, "seq");
	if (!json_is_integer(seqv) || json_integer_value(seqv) < 0 ||
	    (uint64_t)json_integer_value(seqv) != seq) {
		audit_report_bad(v->rep, seq,
				 "entry at %" PRIu64
				 " has another seq (moved, swapped, inserted or "
				 "repeated)",
				 seq);
		goto out;
	}
	prev = cid_json_str(e, "prev");
	if (prev == NULL || strcmp(prev, v->prev) != 0) {
		if (seq == 0)
			audit_report_bad(v->rep, 0, "entry 0 does not start the chain");
		else
			audit_report_bad(v->rep, seq - 1,
					 "entry %" PRIu64
					 " was changed: its hash is not entry %" PRIu64 "'s prev",
					 seq - 1, seq);
		goto out;
	}
	*linked = true;
out:
	json_decref(e);
	return rc;
}

void audit_entry_pre(const char *p, size_t n, const char *prev, struct audit_entry_pre *pre,
		     char hex[CID_AUDIT_HASH_HEX])
{
	struct audit_scan sc;

	/* the entry as the log writes it needs no parse: the scan is the canonical check */
	pre->scanned = audit_entry_scan(p, n, &sc);
	pre->seq = pre->scanned ? sc.seq : 0;
	pre->chained = pre->scanned && prev != NULL && sc.prev_len == CID_AUDIT_HASH_HEX - 1 &&
		       memcmp(sc.prev, prev, CID_AUDIT_HASH_HEX - 1) == 0;
	pre->hashed = pre->scanned && audit_entry_hash(p, n, pre->leaf, hex) == CID_OK;
}

enum cid_err audit_verify_entry(struct audit_verify *v, const char *p, size_t n, bool *good)
{
	struct audit_entry_pre pre;
	char hex[CID_AUDIT_HASH_HEX];

	audit_entry_pre(p, n, v->prev, &pre, hex);
	return audit_verify_entry_pre(v, p, n, &pre, good);
}

/* True if the entry [p, p+n) scans and its prev is v->prev. */
static bool prev_is(const struct audit_verify *v, const char *p, size_t n)
{
	struct audit_scan sc;

	return audit_entry_scan(p, n, &sc) && sc.prev_len == CID_AUDIT_HASH_HEX - 1 &&
	       memcmp(sc.prev, v->prev, CID_AUDIT_HASH_HEX - 1) == 0;
}

enum cid_err audit_verify_entry_pre(struct audit_verify *v, const char *p, size_t n,
				    const struct audit_entry_pre *pre, bool *good)
{
	enum cid_err rc = CID_OK;
	uint64_t seq = v->next;
	uint8_t leaf[CID_MERKLE_HASH];
	bool was_ok = v->rep->ok;
	bool linked;

	*good = false;
	linked = pre->scanned && pre->seq == seq && (pre->chained || prev_is(v, p, n));
	if (!linked)
		CID_TRY(entry_parsed(v, p, n, seq, &linked));
	if (!linked)
		goto out;
	if (pre->hashed) {
		memcpy(leaf, pre->leaf, sizeof(leaf));
		cid_hex(leaf, sizeof(leaf), v->prev);
	} else {
		CID_TRY(audit_entry_hash(p, n, leaf, v->prev));
	}
	CID_TRY(cid_merkle_frontier_append(&v->tree, leaf, v->txn != NULL ? node_check : NULL, v));
	v->next++;
	v->rep->entries++;
	audit_verify_at_size(v);
	*good = v->rep->ok || !was_ok; /* damage found by this entry's tree stops the walk */
out:
	return rc;
}

/* A legacy JWS checkpoint after v->next entries. */
static enum cid_err jws_at(struct audit_verify *v, const char *text, size_t len, bool *good)
{
	struct jws_cp c;
	uint64_t at = v->next;
	uint64_t last = at == 0 ? 0 : at - 1;
	enum cid_err rc;

	*good = false;
	if (v->ks == NULL) {
		audit_report_bad(v->rep, last,
				 "the checkpoint after entry %" PRIu64
				 " is a legacy JWS: the JWKS of the token keys checks it",
				 last);
		return CID_OK;
	}
	rc = jws_check(v->ks, text, len, &c);
	if (rc != CID_OK)
		return rc;
	if (!c.sig_ok || (v->store && c.size != at)) {
		audit_report_bad(v->rep, last,
				 "the checkpoint after entry %" PRIu64
				 " does not verify (signature, key or payload)",
				 last);
		return CID_OK;
	}
	if (!issuer_accept(v->rep, v->expected_iss, c.iss, c.size, last))
		return CID_OK;
	if (c.size > at) {
		audit_report_bad(v->rep, at,
				 "entries from %" PRIu64 " are missing: checkpoint %" PRIu64
				 " covers them",
				 at, c.size);
		return CID_OK;
	}
	if (c.size < at) {
		audit_report_bad(v->rep, c.size - 1,
				 "checkpoint %" PRIu64 " is out of place (after entry %" PRIu64 ")",
				 c.size, last);
		return CID_OK;
	}
	if (strcmp(c.hash, v->prev) != 0) {
		audit_report_bad(v->rep, last,
				 "entry %" PRIu64 " was changed: checkpoint %" PRIu64
				 " signed another hash",
				 last, c.size);
		return CID_OK;
	}
	v->rep->checkpoints++;
	v->rep->legacy++;
	v->rep->covered = c.size;
	*good = true;
	return CID_OK;
}

/* A signed-note checkpoint after v->next entries. */
static enum cid_err note_at(struct audit_verify *v, const char *text, size_t len, bool *good)
{
	struct cid_note note;
	struct cid_checkpoint cp;
	struct audit_cosigned cosig;
	uint8_t root[CID_MERKLE_HASH];
	uint64_t at = v->next;
	uint64_t last = at == 0 ? 0 : at - 1;
	enum cid_err rc;

	*good = false;
	if (v->trust == NULL || cid_audit_trust_origin(v->trust)[0] == '\0') {
		audit_report_bad(v->rep, last,
				 "the checkpoint after entry %" PRIu64
				 " is a signed note: the log's verifier keys check it",
				 last);
		return CID_OK;
	}
	rc = audit_note_check(v->trust, (struct cid_str){text, len}, &note, &cp, &cosig);
	if (rc == CID_ERR_NOMEM || rc == CID_ERR_CRYPTO)
		return rc;
	if (rc != CID_OK || (v->store && cp.size != at)) {
		audit_report_bad(v->rep, last,
				 "the checkpoint after entry %" PRIu64 " does not verify: %s", last,
				 rc == CID_ERR_INVALID ? "not a signed checkpoint"
				 : rc == CID_ERR_DENIED
				     ? "no valid signature of the log's audit key (forged, or "
				       "signed with another key)"
				     : "its size is not the one it is stored under");
		return CID_OK;
	}
	if (cp.size > at) {
		audit_report_bad(v->rep, at,
				 "entries from %" PRIu64 " are missing: checkpoint %" PRIu64
				 " covers them",
				 at, cp.size);
		return CID_OK;
	}
	if (cp.size < at) {
		audit_report_bad(v->rep, cp.size == 0 ? 0 : cp.size - 1,
				 "checkpoint %" PRIu64 " is out of place (after entry %" PRIu64 ")",
				 cp.size, last);
		return CID_OK;
	}
	cid_merkle_frontier_root(&v->tree, root);
	if (memcmp(root, cp.root, CID_MERKLE_HASH) != 0) {
		audit_report_bad(v->rep, last,
				 "entries up to %" PRIu64 " were changed: checkpoint %" PRIu64
				 " signed another tree head",
				 last, cp.size);
		return CID_OK;
	}
	v->rep->checkpoints++;
	v->rep->covered = cp.size;
	snprintf(v->rep->origin, sizeof(v->rep->origin), "%s", cid_audit_trust_origin(v->trust));
	if (cosig.time > 0 && cp.size >= v->rep->witnessed) {
		v->rep->witnessed = cp.size;
		v->rep->witness_time = cosig.time;
		snprintf(v->rep->witness, sizeof(v->rep->witness), "%s", cosig.name);
	}
	*good = true;
	return CID_OK;
}

enum cid_err audit_verify_checkpoint(struct audit_verify *v, bool jws, const char *text, size_t len,
				     bool *good)
{
	return jws ? jws_at(v, text, len, good) : note_at(v, text, len, good);
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
		audit_report_bad(rep, 0,
				 "nothing is signed: no checkpoint covers entries 0..%" PRIu64
				 " (a verifiable export ends with one covering its last entry)",
				 rep->entries - 1);
	else
		audit_report_bad(rep, rep->covered,
				 "entries %" PRIu64 "..%" PRIu64
				 " follow the last signed checkpoint "
				 "(%" PRIu64 "): nothing signs them",
				 rep->covered, rep->entries - 1, rep->covered);
}

void audit_verify_end(struct audit_verify *v, bool accept_tail)
{
	struct cid_audit_report *rep = v->rep;

	if (v->witness && rep->ok && v->next < v->witness_size) {
		audit_report_bad(rep, v->next,
				 "rollback or truncation: the log holds %" PRIu64
				 " entries, the witness checkpoint %" PRIu64
				 ": it was restored from an older backup, or its tail was cut",
				 v->next, v->witness_size);
		rep->rollback = true;
	}
	if (v->witness && rep->ok) {
		rep->witness_checked = true;
		snprintf(rep->witness_checkpoint_by, sizeof(rep->witness_checkpoint_by), "%s",
			 v->witness_cosig.name);
		if (v->witness_size >= rep->witnessed) {
			rep->witnessed = v->witness_size;
			rep->witness_time = v->witness_cosig.time;
			snprintf(rep->witness, sizeof(rep->witness), "%s",
				 v->witness_cosig.name != NULL ? v->witness_cosig.name : "");
		}
	}
	tail_rule(rep, accept_tail);
	free(v->scratch);
	v->scratch = NULL;
}

enum cid_err audit_jws_covers(const struct cid_keyset *ks, const char *jws, size_t len,
			      uint64_t size, bool *yes)
{
	struct jws_cp jc;
	enum cid_err rc = jws_check(ks, jws, len, &jc);

	*yes = rc == CID_OK && jc.sig_ok && jc.size == size;
	return rc;
}
