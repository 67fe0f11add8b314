/*
 * audit_verify_store: the store's own walk of its log (cid_audit_verify_store),
 * with the checks of audit_verify.c. Entries are read in batches; helper
 * threads find what each shows on its own while the caller links them in
 * order (below); the checkpoints stored beside them are checked in step.
 */
#include "audit.h"

#include "audit_int.h"
#include "sync.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
	audit_verify_at_size(v); /* the empty tree, and a witness checkpoint of size 0 */
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
