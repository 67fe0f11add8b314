/*
 * store_reader: read transactions, gets and scans of the store (store.h).
 *
 * Each thread keeps one read transaction (struct cid_txn in a pthread key, or
 * found by its owner in the store's list without a thread cache) and
 * resets/renews it; the store also lists them so close can abort them all.
 * An active read transaction holds the store's resize lock shared; a reset
 * one holds nothing.
 *
 * LMDB 0.9 has a race in starting a read transaction: it reads the last
 * committed txnid T, then copies meta page T&1. If, between the two, commit
 * T+1 completes and commit T+2 starts writing its meta into page T&1, the
 * reader gets the (possibly half-written, not yet durable) T+2 tree while
 * registered as T; its next transaction may then see T+1, older than what it
 * just read. read_begin detects this for commits of this process (counters
 * around mdb_txn_commit) and begins again. Under a steady stream of commits
 * (group commit under load) the lock-free retries can keep losing, so after
 * READ_LOCKFREE_TRIES a reader begins while holding commit_lock, which every
 * commit of this process holds: no commit can overlap that start. Commits of
 * another process (the CLI while the server runs) are not counted; they are
 * rare and few.
 */
#include "store.h"
#include "store_int.h"

#include "bounds.h"

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Lock-free starts of a read transaction before one that holds commits off. */
#define READ_LOCKFREE_TRIES 4

/* This thread's read transaction of s (found in s->readers without a thread cache). */
static struct cid_txn *reader_find(struct cid_store *s)
{
	struct cid_txn *t;

	if (s->thread_cache)
		return pthread_getspecific(s->reader_key);
	pthread_mutex_lock(&s->readers_lock);
	for (t = s->readers; t != NULL && !pthread_equal(t->owner, pthread_self()); t = t->next)
		;
	pthread_mutex_unlock(&s->readers_lock);
	return t;
}

/* True if this thread's read transaction is active (it holds s->resize shared). */
bool store_thread_reading(struct cid_store *s)
{
	const struct cid_txn *t = reader_find(s);

	return t != NULL && t->active;
}

/* Takes t out of its store's list of read transactions. */
static void reader_unlink(struct cid_txn *t)
{
	struct cid_store *s = t->store;

	pthread_mutex_lock(&s->readers_lock);
	if (t->prev != NULL)
		t->prev->next = t->next;
	else
		s->readers = t->next;
	if (t->next != NULL)
		t->next->prev = t->prev;
	pthread_mutex_unlock(&s->readers_lock);
}

/* The pthread key's destructor: a thread that used the store exits. */
void store_reader_free(void *p)
{
	struct cid_txn *t = p;
	struct cid_store *s = t->store;

	reader_unlink(t);
	if (!t->active)
		pthread_rwlock_rdlock(&s->resize);
	if (t->txn != NULL)
		mdb_txn_abort(t->txn);
	pthread_rwlock_unlock(&s->resize);
	free(t);
}

/* This thread's read transaction, made on first use. */
static struct cid_txn *reader_get(struct cid_store *s)
{
	struct cid_txn *t = reader_find(s);

	if (t != NULL)
		return t;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->store = s;
	t->owner = pthread_self();
	if (s->thread_cache && pthread_setspecific(s->reader_key, t) != 0) {
		free(t);
		return NULL;
	}
	pthread_mutex_lock(&s->readers_lock);
	t->next = s->readers;
	if (s->readers != NULL)
		s->readers->prev = t;
	s->readers = t;
	pthread_mutex_unlock(&s->readers_lock);
	return t;
}

/* Begins (or renews) t, the thread's read transaction of s. */
static enum cid_err read_begin_on(struct cid_store *s, struct cid_txn *t, struct cid_txn **out)
{
	int mrc;

	if (t->active)
		return CID_ERR_STORE;
	for (int attempt = 0; attempt < ATTEMPTS_MAX; attempt++) {
		bool hold_commits = attempt >= READ_LOCKFREE_TRIES;
		unsigned long done;
		unsigned long begun;

		/* the same order as a commit: resize shared, then commit_lock */
		if (pthread_rwlock_rdlock(&s->resize) != 0)
			return CID_ERR_STORE;
		if (hold_commits && pthread_mutex_lock(&s->commit_lock) != 0) {
			pthread_rwlock_unlock(&s->resize);
			return CID_ERR_STORE;
		}
		done = atomic_load(&s->commits_done);
		if (t->txn == NULL) {
			mrc =
			    store_panic_noted(s, mdb_txn_begin(s->env, NULL, MDB_RDONLY, &t->txn));
			if (mrc != 0)
				t->txn = NULL;
		} else {
			mrc = store_panic_noted(s, mdb_txn_renew(t->txn));
			if (mrc != 0) {
				mdb_txn_abort(t->txn);
				t->txn = NULL;
			}
		}
		begun = atomic_load(&s->commits_begun);
		if (hold_commits)
			pthread_mutex_unlock(&s->commit_lock);
		if (mrc == 0 && begun - done < 2) {
			t->active = true;
			*out = t;
			return CID_OK;
		}
		if (mrc == 0) { /* two commits overlapped the start: the snapshot may be torn */
			mdb_txn_reset(t->txn);
			pthread_rwlock_unlock(&s->resize);
			continue;
		}
		pthread_rwlock_unlock(&s->resize);
		if (mrc != MDB_MAP_RESIZED || store_adopt_map_size(s) != CID_OK)
			return CID_ERR_STORE;
	}
	return CID_ERR_STORE;
}

enum cid_err cid_store_read_begin(struct cid_store *s, struct cid_txn **out)
{
	struct cid_txn *t = reader_get(s);

	if (t == NULL)
		return CID_ERR_NOMEM; /* the thread's first transaction could not be made */
	return read_begin_on(s, t, out);
}

void cid_store_read_end(struct cid_txn *txn)
{
	if (txn == NULL || txn->write || !txn->active)
		return;
	mdb_txn_reset(txn->txn);
	txn->active = false;
	pthread_rwlock_unlock(&txn->store->resize);
}

enum cid_err cid_txn_get(struct cid_txn *txn, enum cid_db db, struct cid_str key,
			 struct cid_str *val)
{
	MDB_val k = mval(key);
	MDB_val v;
	int mrc;

	if ((unsigned)db >= CID_DB_COUNT || !txn->active)
		return CID_ERR_STORE;
	if (key.len > CID_STORE_MAX_KEY)
		return CID_ERR_TOOBIG;
	if (key.len == 0) /* LMDB refuses empty keys, so none is stored */
		return CID_ERR_NOTFOUND;
	mrc = mdb_get(txn->txn, txn->store->dbis[db], &k, &v);
	if (mrc == MDB_NOTFOUND)
		return CID_ERR_NOTFOUND;
	if (mrc != 0)
		return CID_ERR_STORE;
	*val = sval(v);
	return CID_OK;
}

enum cid_err cid_txn_get_json(struct cid_txn *txn, enum cid_db db, struct cid_str key, json_t **out)
{
	struct cid_str val;
	enum cid_err rc = cid_txn_get(txn, db, key, &val);

	return rc == CID_OK ? cid_store_parse_json(val, out) : rc;
}

enum cid_err cid_store_parse_json(struct cid_str val, json_t **out)
{
	json_t *obj = json_loadb(val.ptr, val.len, JSON_REJECT_DUPLICATES, NULL);

	if (!json_is_object(obj)) {
		json_decref(obj);
		return CID_ERR_STORE;
	}
	*out = obj;
	return CID_OK;
}

static bool has_prefix(MDB_val k, struct cid_str prefix)
{
	return k.mv_size >= prefix.len &&
	       (prefix.len == 0 || memcmp(k.mv_data, prefix.ptr, prefix.len) == 0);
}

/*
 * Positions cur on the last key with prefix that is <= start (start.len 0:
 * the last key with prefix). A prefix of all 0xff bytes has no successor, so
 * the search begins from the end of the database.
 */
static int seek_last(MDB_cursor *cur, struct cid_str prefix, struct cid_str start, MDB_val *k,
		     MDB_val *v)
{
	uint8_t bound[CID_STORE_MAX_KEY + 1];
	size_t n;
	int mrc;

	if (start.len > 0) {
		*k = mval(start);
		mrc = mdb_cursor_get(cur, k, v, MDB_SET_RANGE);
		if (mrc == 0 && k->mv_size == start.len &&
		    memcmp(k->mv_data, start.ptr, start.len) == 0)
			return 0;
		return mdb_cursor_get(cur, k, v, mrc == MDB_NOTFOUND ? MDB_LAST : MDB_PREV);
	}
	/* the smallest key above every key with prefix: prefix with its last
	 * non-0xff byte incremented and the rest cut */
	n = prefix.len;
	memcpy(bound, prefix.ptr == NULL ? "" : prefix.ptr, n);
	while (n > 0 && bound[n - 1] == 0xff)
		n--;
	if (n == 0)
		return mdb_cursor_get(cur, k, v, MDB_LAST);
	bound[n - 1]++;
	*k = (MDB_val){.mv_size = n, .mv_data = bound};
	mrc = mdb_cursor_get(cur, k, v, MDB_SET_RANGE);
	return mdb_cursor_get(cur, k, v, mrc == MDB_NOTFOUND ? MDB_LAST : MDB_PREV);
}

enum cid_err cid_txn_foreach_range(
    struct cid_txn *txn, enum cid_db db, struct cid_str prefix, struct cid_str start, bool reverse,
    enum cid_err (*fn)(struct cid_str key, struct cid_str val, void *arg), void *arg)
{
	enum cid_err rc = CID_OK;
	MDB_cursor *cur = NULL;
	MDB_val k;
	MDB_val v;
	int mrc;

	if ((unsigned)db >= CID_DB_COUNT || !txn->active)
		return CID_ERR_STORE;
	/* No stored key is longer than CID_STORE_MAX_KEY, so none has such a prefix. */
	if (prefix.len > CID_STORE_MAX_KEY || start.len > CID_STORE_MAX_KEY)
		return CID_OK;
	CID_ENSURE(mdb_cursor_open(txn->txn, txn->store->dbis[db], &cur) == 0, CID_ERR_STORE);
	if (reverse) {
		mrc = seek_last(cur, prefix, start, &k, &v);
	} else {
		struct cid_str from = start.len > 0 ? start : prefix;

		k = mval(from);
		mrc = mdb_cursor_get(cur, &k, &v, from.len == 0 ? MDB_FIRST : MDB_SET_RANGE);
	}
	for (;;) {
		if (mrc == MDB_NOTFOUND || (mrc == 0 && !has_prefix(k, prefix)))
			break;
		CID_ENSURE(mrc == 0, CID_ERR_STORE);
		CID_TRY(fn(sval(k), sval(v), arg));
		mrc = mdb_cursor_get(cur, &k, &v, reverse ? MDB_PREV : MDB_NEXT);
	}
out:
	if (cur != NULL)
		mdb_cursor_close(cur);
	return rc;
}

enum cid_err cid_txn_count(struct cid_txn *txn, enum cid_db db, uint64_t *out)
{
	MDB_stat st;

	if ((unsigned)db >= CID_DB_COUNT || !txn->active ||
	    mdb_stat(txn->txn, txn->store->dbis[db], &st) != 0)
		return CID_ERR_STORE;
	*out = st.ms_entries;
	return CID_OK;
}

enum cid_err cid_txn_foreach(struct cid_txn *txn, enum cid_db db, struct cid_str prefix,
			     enum cid_err (*fn)(struct cid_str key, struct cid_str val, void *arg),
			     void *arg)
{
	return cid_txn_foreach_range(txn, db, prefix, (struct cid_str){NULL, 0}, false, fn, arg);
}
