/*
 * audit_verify: the verification of the log, the walk shared by the store
 * and an export (audit_verify_export.c reads the export's lines), and the
 * store's own walk.
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
#include "sync.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

/* What v knows once v->next entries were read: the stored frontier, the witness's tree. */
static void at_size(struct audit_verify *v)
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
	at_size(v);
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

/* ---- the store ---- */

/*
 * The store's entries are checked in batches. What each entry shows on its
 * own (audit_entry_pre: the canonical scan and the hash, most of the CPU) is
 * found for a whole batch at once by helper threads, one fewer than the
 * cores (at most WALK_THREADS in all), while the caller's thread links the
 * batch before in order, reads the next from the store, and takes a share
 * of the work itself when it has time for one. The helpers live as long as
 * the walk: a thread made per batch was started on the caller's core and
 * waited for it. The values stay valid on other threads: they are pages of
 * the read transaction's snapshot (store.h).
 */
#define WALK_BATCH   ((size_t)2048)
#define WALK_THREADS 4 /* at most, the caller's included */

/* An entry of a batch: what it shows on its own, its bytes, its key's seq. */
struct walk_item {
	struct audit_entry_pre pre; /* written by whichever thread prepares it */
	const char *p;
	size_t n;
	uint64_t seq;
	bool seq_ok; /* the key parsed as a seq */
};

/* A share of a batch. */
struct walk_share {
	struct walk_item *items;
	size_t n;
};

/* The helper threads of a walk, and the shares handed to them. */
struct walk_crew {
	pthread_mutex_t lock;
	pthread_cond_t go;   /* a share was handed out, or stop */
	pthread_cond_t done; /* busy fell to 0 */
	unsigned busy;	     /* shares handed out, not yet done */
	bool stop;
	unsigned n; /* helpers started */

	struct walk_helper {
		struct walk_crew *crew;
		pthread_t id;
		struct walk_share job;
		bool has_job;
	} h[WALK_THREADS - 1];
};

/* audit_entry_pre over a share, each entry's hash the next one's prev. */
static void share_prepare(const struct walk_share *sh)
{
	char hex[2][CID_AUDIT_HASH_HEX];

	for (size_t i = 0; i < sh->n; i++) {
		struct walk_item *it = &sh->items[i];
		/* the share's first entry is linked by the walk */
		const char *prev = i == 0 || !sh->items[i - 1].pre.hashed ? NULL : hex[(i - 1) & 1];

		audit_entry_pre(it->p, it->n, prev, &it->pre, hex[i & 1]);
	}
}

static void *helper_main(void *arg)
{
	struct walk_helper *me = arg;
	struct walk_crew *c = me->crew;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		while (!me->has_job && !c->stop)
			pthread_cond_wait(&c->go, &c->lock);
		if (!me->has_job)
			break;
		pthread_mutex_unlock(&c->lock);
		share_prepare(&me->job);
		pthread_mutex_lock(&c->lock);
		me->has_job = false;
		if (--c->busy == 0)
			pthread_cond_signal(&c->done);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* Starts up to helpers helper threads; as many as start (maybe none) are used. */
static enum cid_err crew_start(struct walk_crew *c, unsigned helpers)
{
	enum cid_err rc = cid_sync_init(&c->lock, &c->go, CLOCK_MONOTONIC);

	if (rc != CID_OK)
		return rc;
	if (pthread_cond_init(&c->done, NULL) != 0) {
		cid_sync_destroy(&c->lock, &c->go);
		return CID_ERR_NOMEM;
	}
	for (c->n = 0; c->n < helpers && c->n < WALK_THREADS - 1; c->n++) {
		c->h[c->n] = (struct walk_helper){.crew = c};
		if (pthread_create(&c->h[c->n].id, NULL, helper_main, &c->h[c->n]) != 0)
			break;
	}
	return CID_OK;
}

/* Waits until every share handed out is done. */
static void crew_wait(struct walk_crew *c)
{
	pthread_mutex_lock(&c->lock);
	while (c->busy > 0)
		pthread_cond_wait(&c->done, &c->lock);
	pthread_mutex_unlock(&c->lock);
}

/* Waits for the shares handed out, and stops and joins the helpers. */
static void crew_stop(struct walk_crew *c)
{
	crew_wait(c);
	pthread_mutex_lock(&c->lock);
	c->stop = true;
	pthread_cond_broadcast(&c->go);
	pthread_mutex_unlock(&c->lock);
	for (unsigned i = 0; i < c->n; i++)
		pthread_join(c->h[i].id, NULL);
	pthread_cond_destroy(&c->done);
	cid_sync_destroy(&c->lock, &c->go);
}

/*
 * Hands items[0..n) out to the helpers, but for the first share, which the
 * caller keeps: *mine. The caller links the batch before and reads the next
 * (about half an entry's preparing per entry), so with one helper it keeps a
 * quarter, with more none; with none, all.
 */
static void crew_hand(struct walk_crew *c, struct walk_item *items, size_t n,
		      struct walk_share *mine)
{
	size_t keep = c->n == 0 ? n : c->n == 1 ? n / 4 : 0;
	size_t per = c->n == 0 ? 0 : (n - keep + c->n - 1) / c->n;
	size_t from = keep;

	*mine = (struct walk_share){items, keep};
	pthread_mutex_lock(&c->lock);
	for (unsigned i = 0; i < c->n && from < n; i++) {
		size_t take = n - from < per ? n - from : per;

		c->h[i].job = (struct walk_share){items + from, take};
		c->h[i].has_job = true;
		c->busy++;
		from += take;
	}
	pthread_cond_broadcast(&c->go);
	pthread_mutex_unlock(&c->lock);
}

/* The threads the walk uses: the cores online, at most WALK_THREADS. */
static unsigned walk_threads(void)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);

	return cores < 1 ? 1 : cores > WALK_THREADS ? WALK_THREADS : (unsigned)cores;
}

/* The walk over the store: its entries, and the checkpoint keys in step. */
struct store_walk {
	struct audit_verify v;
	bool have_cp;
	uint64_t cp_size;	  /* the next checkpoint's size */
	struct walk_item *buf[2]; /* WALK_BATCH each: one gathered, one prepared */
	size_t n_buf[2];
	unsigned gather; /* the buffer being gathered */
	bool crew_up;
	struct walk_crew crew;
};

static enum cid_err cp_key_cb(struct cid_str key, struct cid_str val, void *arg)
{
	struct store_walk *w = arg;

	(void)val;
	if (!audit_seq_key_parse(key, &w->cp_size))
		return CID_OK; /* not a checkpoint key: nothing it could cover */
	w->have_cp = true;
	return AUDIT_STOP;
}

/* Finds the first checkpoint of size >= size. */
static enum cid_err cp_seek(struct store_walk *w, uint64_t size)
{
	char key[AUDIT_SEQ_HEX + 1];
	enum cid_err rc;

	w->have_cp = false;
	audit_seq_key(size, key);
	rc = cid_txn_foreach_range(w->v.txn, CID_DB_AUDIT_CP, (struct cid_str){NULL, 0},
				   (struct cid_str){key, AUDIT_SEQ_HEX}, false, cp_key_cb, w);
	return rc == AUDIT_STOP ? CID_OK : rc;
}

/* Checks the checkpoints stored under size (a JWS, a note, or both). */
static enum cid_err cp_stored(struct store_walk *w, uint64_t size, bool *good)
{
	char key[AUDIT_SEQ_HEX + 1];
	json_t *rec = NULL;
	const json_t *jws;
	const json_t *note;
	struct cid_str val;
	enum cid_err rc = CID_OK;

	*good = true;
	audit_seq_key(size, key);
	CID_TRY(cid_txn_get(w->v.txn, CID_DB_AUDIT_CP, cid_str_of(key), &val));
	rec = json_loadb(val.ptr, val.len, JSON_REJECT_DUPLICATES, NULL);
	jws = json_object_get(rec, "jws");
	note = json_object_get(rec, "note");
	if (!json_is_string(jws) && !json_is_string(note)) {
		audit_report_bad(w->v.rep, size - 1, "checkpoint %" PRIu64 " is damaged", size);
		*good = false;
	}
	if (*good && json_is_string(jws))
		CID_TRY(audit_verify_checkpoint(&w->v, true, json_string_value(jws),
						json_string_length(jws), good));
	if (*good && json_is_string(note))
		CID_TRY(audit_verify_checkpoint(&w->v, false, json_string_value(note),
						json_string_length(note), good));
out:
	json_decref(rec);
	return rc;
}

/* Store walk: one entry, then the checkpoints covering it; stops at the first damage. */
static enum cid_err walk_entry(struct store_walk *w, const struct walk_item *it)
{
	struct audit_verify *v = &w->v;
	enum cid_err rc;
	bool good;

	if (!it->seq_ok || it->seq < v->next) {
		audit_report_bad(v->rep, v->next,
				 "a stray key in the audit database after entry %" PRIu64, v->next);
		return AUDIT_STOP;
	}
	if (it->seq > v->next) {
		audit_report_bad(v->rep, v->next, "entry %" PRIu64 " is missing", v->next);
		return AUDIT_STOP;
	}
	rc = audit_verify_entry_pre(v, it->p, it->n, &it->pre, &good);
	if (rc != CID_OK || !good)
		return rc != CID_OK ? rc : AUDIT_STOP;
	while (w->have_cp && w->cp_size <= v->next) {
		if (w->cp_size == v->next) {
			rc = cp_stored(w, w->cp_size, &good);
			if (rc != CID_OK || !good)
				return rc != CID_OK ? rc : AUDIT_STOP;
		}
		rc = cp_seek(w, w->cp_size + 1);
		if (rc != CID_OK)
			return rc;
	}
	return CID_OK;
}

/*
 * Links the batch prepared meanwhile, in order, and hands the one gathered
 * out to be prepared; the linked one is gathered next. With nothing gathered
 * it only links.
 */
static enum cid_err walk_flush(struct store_walk *w)
{
	enum cid_err rc = CID_OK;
	unsigned cur = w->gather;
	unsigned other = 1 - cur;
	struct walk_share mine;

	crew_wait(&w->crew);
	crew_hand(&w->crew, w->buf[cur], w->n_buf[cur], &mine);
	for (size_t i = 0; i < w->n_buf[other] && rc == CID_OK; i++)
		rc = walk_entry(w, &w->buf[other][i]);
	if (rc == CID_OK)
		share_prepare(&mine);
	w->n_buf[other] = 0;
	w->gather = other;
	return rc;
}

/* Gathers an entry into the batch, and hands the batch on once it is full. */
static enum cid_err store_entry_cb(struct cid_str key, struct cid_str val, void *arg)
{
	struct store_walk *w = arg;
	struct walk_item *it = &w->buf[w->gather][w->n_buf[w->gather]++];

	it->seq_ok = audit_seq_key_parse(key, &it->seq);
	it->p = val.ptr;
	it->n = val.len;
	return w->n_buf[w->gather] == WALK_BATCH ? walk_flush(w) : CID_OK;
}

/* True if the checkpoint stored under size verifies on its own (its signature). */
static enum cid_err cp_signed(struct store_walk *w, uint64_t size, bool *yes)
{
	char key[AUDIT_SEQ_HEX + 1];
	json_t *rec = NULL;
	const json_t *m;
	struct jws_cp jc;
	struct cid_note note;
	struct cid_checkpoint cp;
	struct audit_cosigned cosig;
	enum cid_err rc = CID_OK;

	*yes = false;
	audit_seq_key(size, key);
	rc = cid_txn_get_json(w->v.txn, CID_DB_AUDIT_CP, cid_str_of(key), &rec);
	if (rc == CID_ERR_STORE)
		return CID_OK; /* damaged: it proves nothing */
	CID_TRY(rc);
	m = json_object_get(rec, "jws");
	if (json_is_string(m) && w->v.ks != NULL) {
		CID_TRY(jws_check(w->v.ks, json_string_value(m), json_string_length(m), &jc));
		*yes = jc.sig_ok && jc.size == size;
	}
	m = json_object_get(rec, "note");
	if (!*yes && json_is_string(m) && w->v.trust != NULL) {
		rc = audit_note_check(w->v.trust,
				      (struct cid_str){json_string_value(m), json_string_length(m)},
				      &note, &cp, &cosig);
		CID_ENSURE(rc != CID_ERR_NOMEM && rc != CID_ERR_CRYPTO, rc);
		*yes = rc == CID_OK && cp.size == size;
		rc = CID_OK;
	}
out:
	json_decref(rec);
	return rc;
}

/* Checkpoints beyond the entries read: a verified one says entries are missing. */
static enum cid_err cps_beyond(struct store_walk *w)
{
	enum cid_err rc = CID_OK;
	bool yes = false;

	while (w->have_cp && !yes) {
		CID_TRY(cp_signed(w, w->cp_size, &yes));
		if (yes)
			audit_report_bad(w->v.rep, w->v.next,
					 "entries from %" PRIu64 " are missing: checkpoint %" PRIu64
					 " covers them",
					 w->v.next, w->cp_size);
		CID_TRY(cp_seek(w, w->cp_size + 1));
	}
out:
	return rc;
}

enum cid_err cid_audit_verify_store(struct cid_store *s, const struct cid_keyset *ks,
				    const struct cid_audit_verify_opts *opts,
				    struct cid_audit_report *rep)
{
	enum cid_err rc = CID_OK;
	struct cid_audit_trust *own = NULL;
	struct cid_txn *txn = NULL;
	struct store_walk w = {0};
	struct audit_verify *v = &w.v;
	struct cid_merkle_frontier stored;
	uint64_t size;
	char hash[CID_AUDIT_HASH_HEX];
	char *iss = NULL;
	unsigned threads;

	v->ks = ks;
	v->store = true;
	v->trust = opts != NULL ? opts->trust : NULL;
	if (v->trust == NULL) {
		CID_TRY(cid_audit_trust_load(s, &own));
		v->trust = own;
	}
	CID_TRY(audit_verify_begin(v, rep, opts));
	CID_TRY(cid_store_read_begin(s, &txn));
	v->txn = txn;
	CID_TRY(audit_tree_reader_new(txn, &v->nodes));
	rc = audit_issuer_get(txn, &iss);
	if (rc == CID_ERR_STORE) {
		audit_report_bad(rep, 0, "the log's issuer record is damaged");
		rc = CID_OK;
	}
	CID_TRY(rc);
	v->expected_iss = iss;
	rep->issuer_checked = iss != NULL;
	rc = cid_audit_head(txn, &size, hash);
	if (rc == CID_ERR_STORE) {
		audit_report_bad(rep, 0, "the head record is damaged");
		size = UINT64_MAX;
		memcpy(hash, AUDIT_ZERO_HASH, CID_AUDIT_HASH_HEX);
		rc = CID_OK;
	}
	CID_TRY(rc);
	rc = audit_tree_frontier(txn, &stored);
	if (rc == CID_ERR_STORE) {
		audit_report_bad(rep, 0, "the stored tree frontier is damaged");
		cid_merkle_frontier_init(&stored);
		rc = CID_OK;
	}
	CID_TRY(rc);
	v->stored_size = stored.size;
	cid_merkle_frontier_root(&stored, v->stored_root);
	at_size(v); /* the empty tree, and a witness checkpoint of size 0 */
	CID_TRY(cp_seek(&w, 1));
	w.buf[0] = malloc(2 * WALK_BATCH * sizeof(*w.buf[0]));
	CID_ENSURE(w.buf[0] != NULL, CID_ERR_NOMEM);
	w.buf[1] = w.buf[0] + WALK_BATCH;
	threads = walk_threads();
	if (opts != NULL && opts->threads > 0 && opts->threads < threads)
		threads = opts->threads;
	CID_TRY(crew_start(&w.crew, threads - 1));
	w.crew_up = true;
	rc = cid_txn_foreach(txn, CID_DB_AUDIT, (struct cid_str){NULL, 0}, store_entry_cb, &w);
	if (rc == CID_OK)
		rc = walk_flush(&w); /* links the batch before the last, hands the last out */
	if (rc == CID_OK)
		rc = walk_flush(&w); /* links the last */
	crew_wait(&w.crew);
	CID_TRY(rc == AUDIT_STOP ? CID_OK : rc);
	/* what lies beyond the entries read: checkpoints, the tree and the head */
	CID_TRY(cps_beyond(&w));
	if (stored.size > v->next)
		audit_report_bad(rep, v->next,
				 "entries from %" PRIu64
				 " are missing: the stored tree has %" PRIu64,
				 v->next, stored.size);
	if (size != UINT64_MAX) {
		if (size > v->next)
			audit_report_bad(rep, v->next,
					 "entries from %" PRIu64
					 " are missing: the head counts %" PRIu64,
					 v->next, size);
		else if (size < v->next)
			audit_report_bad(
			    rep, size,
			    "entries from %" PRIu64 " are beyond the head (head changed?)", size);
		else if (size > 0 && strcmp(hash, v->prev) != 0)
			audit_report_bad(rep, size - 1,
					 "entry %" PRIu64
					 " or the head was changed: the head's hash "
					 "differs",
					 size - 1);
	}
out:
	/* the live log: the server signs its tail within an interval */
	if (rc == CID_OK)
		audit_verify_end(v, true);
	audit_tree_reader_free(v->nodes);
	if (w.crew_up)
		crew_stop(&w.crew); /* before the snapshot its shares point into ends */
	cid_store_read_end(txn);
	free(w.buf[0]);
	free(v->scratch);
	free(iss);
	cid_audit_trust_free(own);
	return rc;
}
