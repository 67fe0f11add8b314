/*
 * audit_verify_store: the store's own walk of its log (cid_audit_verify_store),
 * with the checks of audit_verify.c. Entries are read in batches; helper
 * threads find what each shows on its own while the caller links them in
 * order (below); the checkpoints stored beside them are checked in step.
 */
#include "audit.h"

#include "audit_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/*
 * The store's entries are checked in batches (audit_verify_crew.c). The
 * values stay valid on the helper threads: they are pages of the read
 * transaction's snapshot (store.h).
 */

/* The walk over the store: its entries, and the checkpoint keys in step. */
struct store_walk {
	struct audit_verify v;
	bool have_cp;
	uint64_t cp_size; /* the next checkpoint's size */
	struct audit_batches batches;
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
static enum cid_err walk_entry(void *arg, const struct audit_walk_item *it)
{
	struct store_walk *w = arg;
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

/* Gathers an entry into the batch, and hands the batch on once it is full. */
static enum cid_err store_entry_cb(struct cid_str key, struct cid_str val, void *arg)
{
	struct store_walk *w = arg;
	struct audit_walk_item *it = audit_batches_slot(&w->batches);

	it->seq_ok = audit_seq_key_parse(key, &it->seq);
	it->p = val.ptr;
	it->n = val.len;
	return audit_batches_add(&w->batches);
}

/* True if the checkpoint stored under size verifies on its own (its signature). */
static enum cid_err cp_signed(struct store_walk *w, uint64_t size, bool *yes)
{
	char key[AUDIT_SEQ_HEX + 1];
	json_t *rec = NULL;
	const json_t *m;
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
		CID_TRY(audit_jws_covers(w->v.ks, json_string_value(m), json_string_length(m), size,
					 yes));
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
	audit_verify_at_size(v); /* the empty tree, and a witness checkpoint of size 0 */
	CID_TRY(cp_seek(&w, 1));
	CID_TRY(audit_batches_start(&w.batches, opts != NULL ? opts->threads : 0, false, walk_entry,
				    &w));
	rc = cid_txn_foreach(txn, CID_DB_AUDIT, (struct cid_str){NULL, 0}, store_entry_cb, &w);
	if (rc == CID_OK)
		rc = audit_batches_finish(&w.batches);
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
	audit_batches_stop(&w.batches); /* before the snapshot its shares point into ends */
	cid_store_read_end(txn);
	free(v->scratch);
	free(iss);
	cid_audit_trust_free(own);
	return rc;
}
