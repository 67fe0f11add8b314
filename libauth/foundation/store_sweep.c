/*
 * store_sweep: removing a database's dead records in bounded batches
 * (store.h, cid_store_sweep).
 *
 * The walk that looks for dead records runs in a read transaction, so it
 * never holds the writer; the write transaction only looks up and deletes
 * the keys one walk found, at most a batch of them, after asking the rule
 * again (a record rewritten between the two, say a rotated refresh token's
 * successor under a reused key, is judged as it now stands). Each walk goes
 * on after the last key the previous one found, so a sweep reads every
 * record once however many batches it takes.
 */
#include "store.h"

#include "bounds.h"

#include <stdlib.h>
#include <string.h>

struct found_key {
	size_t len;
	char buf[CID_STORE_MAX_KEY];
};

struct sweep_walk {
	const struct cid_store_sweep *sw;
	int64_t now;
	struct cid_str after; /* the last key of the previous walk: not taken again */
	struct found_key *keys;
	size_t batch;
	size_t n; /* keys found by this walk */
};

static enum cid_err walk_one(struct cid_str key, struct cid_str val, void *arg)
{
	struct sweep_walk *w = arg;

	if (key.len > CID_STORE_MAX_KEY ||
	    (key.len == w->after.len && memcmp(key.ptr, w->after.ptr, key.len) == 0) ||
	    !w->sw->dead(key, val, w->now))
		return CID_OK;
	w->keys[w->n].len = key.len;
	memcpy(w->keys[w->n].buf, key.ptr, key.len);
	w->n++;
	/* a full batch ends the walk (the sweep goes on from here) */
	return w->n == w->batch ? CID_ERR_TOOBIG : CID_OK;
}

/* Finds the next batch of dead keys after w->after. */
static enum cid_err walk(struct cid_store *s, struct sweep_walk *w)
{
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;

	w->n = 0;
	CID_TRY(cid_store_read_begin(s, &txn));
	rc = cid_txn_foreach_range(txn, w->sw->db, (struct cid_str){NULL, 0}, w->after, false,
				   walk_one, w);
	if (rc == CID_ERR_TOOBIG)
		rc = CID_OK;
out:
	cid_store_read_end(txn);
	return rc;
}

struct sweep_delete {
	const struct sweep_walk *w;
	size_t removed; /* by this transaction */
};

static enum cid_err delete_cb(struct cid_txn *txn, void *arg)
{
	struct sweep_delete *d = arg;
	const struct sweep_walk *w = d->w;
	enum cid_err rc = CID_OK;

	d->removed = 0;
	for (size_t i = 0; i < w->n; i++) {
		struct cid_str key = {w->keys[i].buf, w->keys[i].len};
		struct cid_str val;

		rc = cid_txn_get(txn, w->sw->db, key, &val);
		if (rc == CID_ERR_NOTFOUND) /* gone meanwhile: nothing to do */
			continue;
		CID_TRY(rc);
		if (!w->sw->dead(key, val, w->now))
			continue;
		CID_TRY(w->sw->del != NULL ? w->sw->del(txn, key, val, w->now)
					   : cid_txn_del(txn, w->sw->db, key));
		d->removed++;
	}
	rc = CID_OK;
out:
	return rc;
}

enum cid_err cid_store_sweep(struct cid_store *s, const struct cid_store_sweep *sw, int64_t now,
			     size_t batch, size_t *removed)
{
	enum cid_err rc = CID_OK;
	struct sweep_walk w = {.sw = sw, .now = now, .batch = batch};
	struct sweep_delete d = {.w = &w};
	struct found_key last;
	size_t total = 0;

	CID_ENSURE(s != NULL && sw != NULL && sw->dead != NULL && batch > 0 &&
		       batch <= CID_SWEEP_BATCH,
		   CID_ERR_INVALID);
	w.keys = calloc(batch, sizeof(*w.keys));
	CID_ENSURE(w.keys != NULL, CID_ERR_NOMEM);
	do {
		CID_TRY(walk(s, &w));
		if (w.n == 0)
			break;
		CID_TRY(cid_store_update(s, delete_cb, &d));
		total += d.removed;
		last = w.keys[w.n - 1];
		w.after = (struct cid_str){last.buf, last.len};
	} while (w.n == batch);
out:
	if (removed != NULL)
		*removed = total;
	free(w.keys);
	return rc;
}

bool cid_store_record_past(struct cid_str val, const char *member, int64_t grace, int64_t now)
{
	json_t *rec = NULL;
	const json_t *t;
	bool dead;

	if (cid_store_parse_json(val, &rec) != CID_OK)
		return false;
	t = json_object_get(rec, member);
	/* now - grace cannot overflow: both are times of this century */
	dead = json_is_integer(t) && json_integer_value(t) <= now - grace;
	json_decref(rec);
	return dead;
}
