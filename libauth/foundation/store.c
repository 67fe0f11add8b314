/*
 * store: one LMDB environment, its named databases, and map growth.
 *
 * Each thread keeps one read transaction (struct cid_txn in a pthread key) and
 * resets/renews it; the store also lists them so close can abort them all.
 * mdb_env_set_mapsize needs every transaction of this process closed, so each
 * active transaction (read or write) holds the store's rwlock shared, and a
 * resize takes it exclusively. A reset read transaction holds no lock: it has
 * no snapshot and renews against the new map.
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

#include "bounds.h"
#include "buf.h"

#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Bound on begin/run/grow rounds of one call, so a broken map cannot loop forever. */
#define ATTEMPTS_MAX 32

/* Lock-free starts of a read transaction before one that holds commits off. */
#define READ_LOCKFREE_TRIES 4

/* Names in the environment, indexed by enum cid_db (what mdb_dump -l lists), one a line. */
/* clang-format off */
static const char *const db_names[] = {
    [CID_DB_META] = "meta",
    [CID_DB_CITIZENS] = "citizens",
    [CID_DB_USERNAMES] = "usernames",
    [CID_DB_CLIENTS] = "clients",
    [CID_DB_SESSIONS] = "sessions",
    [CID_DB_AUTHREQS] = "authreqs",
    [CID_DB_CODES] = "codes",
    [CID_DB_REFRESH] = "refresh",
    [CID_DB_GRANTS] = "grants",
    [CID_DB_REVOKED] = "revoked",
    [CID_DB_KEYS] = "keys",
    [CID_DB_THROTTLE] = "throttle",
    [CID_DB_PAIRWISE] = "pairwise",
    [CID_DB_CONSENTS] = "consents",
    [CID_DB_AUDIT] = "audit",
    [CID_DB_AUDIT_IDX] = "audit_idx",
    [CID_DB_AUDIT_CP] = "audit_cp",
    [CID_DB_AUDIT_TREE] = "audit_tree",
    [CID_DB_OFFICERS] = "officers",
    [CID_DB_OFFICER_SESSIONS] = "officer_sessions",
    [CID_DB_WITNESS] = "witness",
    [CID_DB_LOGOUT_QUEUE] = "logout_queue",
    [CID_DB_LOGINS] = "logins",
    [CID_DB_POLICIES] = "policies",
    [CID_DB_IDPS] = "idps",
    [CID_DB_IDP_LINKS] = "idp_links",
    [CID_DB_PSEUDONYMS] = "pseudonyms",
};
/* clang-format on */

_Static_assert(sizeof(db_names) / sizeof(db_names[0]) == CID_DB_COUNT,
	       "every enum cid_db needs a name");

/*
 * A transaction. Read ones live on the heap, one per thread, linked into the
 * store's list; write ones live on cid_store_update's stack for one call.
 */
struct cid_txn {
	struct cid_store *store;
	MDB_txn *txn; /* NULL until a read one is first begun, or after a failed renew */
	bool write;
	bool active;   /* begun and not yet ended: holds store->resize shared */
	bool map_full; /* a write hit MDB_MAP_FULL: grow and rerun, whatever fn returned */
	struct cid_txn *prev, *next; /* in store->readers (read ones only) */
	pthread_t owner;	     /* the thread it belongs to (read ones only) */
};

struct cid_store {
	MDB_env *env;
	MDB_dbi dbis[CID_DB_COUNT];
	/* this thread's struct cid_txn; unused (never created) without a thread cache */
	pthread_key_t reader_key;
	/*
	 * false: CID_STORE_NO_THREAD_CACHE. A thread's read transaction is then
	 * found in readers by its owner, and no pthread key is taken: glibc has
	 * 1,024 keys in all, and a server with a store per tenant opens more.
	 */
	bool thread_cache;
	/*
	 * Shared by every active transaction of this process, exclusive to resize.
	 * glibc's default kind prefers readers, so a thread may take it twice (a
	 * read transaction open while it calls cid_store_update) without
	 * deadlocking behind a waiting resize; a resize waits for a moment with no
	 * active transaction, which read transactions are short enough to give.
	 */
	pthread_rwlock_t resize;
	pthread_mutex_t readers_lock; /* guards readers */
	struct cid_txn *readers;
	/* This process's mdb_txn_commit calls entered and returned (see the top). */
	atomic_ulong commits_begun, commits_done;
	/* Held around every mdb_txn_commit, and by a read start that must not be torn. */
	pthread_mutex_t commit_lock;
	/* Parsed records per database (cid_store_memo), made on first use. */
	_Atomic(struct cid_memo *) memos[CID_DB_COUNT];
	/* LMDB answered MDB_PANIC: a commit failed writing its meta page (cid_store_broken). */
	atomic_bool broken;
};

/* Notes MDB_PANIC in mrc; returns mrc. */
static int panic_noted(struct cid_store *s, int mrc)
{
	if (mrc == MDB_PANIC)
		atomic_store(&s->broken, true);
	return mrc;
}

bool cid_store_broken(const struct cid_store *s)
{
	return atomic_load(&s->broken);
}

static MDB_val mval(struct cid_str s)
{
	return (MDB_val){.mv_size = s.len, .mv_data = (void *)(uintptr_t)s.ptr};
}

static struct cid_str sval(MDB_val v)
{
	return (struct cid_str){.ptr = v.mv_data, .len = v.mv_size};
}

/* The map size; the caller holds s->resize (either way). */
static size_t map_size_locked(const struct cid_store *s)
{
	MDB_envinfo info;

	if (mdb_env_info(s->env, &info) != 0)
		return 0;
	return info.me_mapsize;
}

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
static bool thread_reading(struct cid_store *s)
{
	const struct cid_txn *t = reader_find(s);

	return t != NULL && t->active;
}

/*
 * Adopts the map size another process grew the map to (MDB_MAP_RESIZED).
 * The caller holds no transaction of s.
 */
static enum cid_err adopt_map_size(struct cid_store *s)
{
	int mrc;

	if (thread_reading(s) || pthread_rwlock_wrlock(&s->resize) != 0)
		return CID_ERR_STORE;
	mrc = mdb_env_set_mapsize(s->env, 0);
	pthread_rwlock_unlock(&s->resize);
	return mrc == 0 ? CID_OK : CID_ERR_STORE;
}

/*
 * Doubles the map (up to CID_STORE_MAP_MAX) unless it changed from seen since
 * the caller's transaction found it full: then another writer grew it already.
 * The caller holds no transaction of s.
 */
static enum cid_err grow_map(struct cid_store *s, size_t seen)
{
	enum cid_err rc = CID_OK;
	size_t cur, next;

	/* The thread's own read transaction would hold the lock we wait for. */
	if (thread_reading(s) || pthread_rwlock_wrlock(&s->resize) != 0)
		return CID_ERR_STORE;
	cur = map_size_locked(s);
	CID_ENSURE(cur != 0, CID_ERR_STORE);
	if (cur != seen)
		goto out;
	CID_ENSURE(cur < CID_STORE_MAP_MAX, CID_ERR_STORE);
	next = cur > CID_STORE_MAP_MAX / 2 ? CID_STORE_MAP_MAX : cur * 2;
	CID_ENSURE(mdb_env_set_mapsize(s->env, next) == 0, CID_ERR_STORE);
out:
	pthread_rwlock_unlock(&s->resize);
	return rc;
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
static void reader_free(void *p)
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

/* Opens every named database and checks or writes the schema version. */
static enum cid_err open_cb(struct cid_txn *txn, void *arg)
{
	enum cid_err rc = CID_OK;
	struct cid_store *s = txn->store;
	struct cid_str key = cid_str_of("schema");
	json_t *schema = NULL;
	json_t *version;

	(void)arg;
	for (size_t i = 0; i < CID_DB_COUNT; i++)
		CID_ENSURE(mdb_dbi_open(txn->txn, db_names[i], MDB_CREATE, &s->dbis[i]) == 0,
			   CID_ERR_STORE);
	rc = cid_txn_get_json(txn, CID_DB_META, key, &schema);
	if (rc == CID_ERR_NOTFOUND) {
		schema = json_pack("{s:i}", "version", CID_STORE_SCHEMA);
		CID_ENSURE(schema != NULL, CID_ERR_NOMEM);
		CID_TRY(cid_txn_put_json(txn, CID_DB_META, key, schema, CID_PUT_NOOVERWRITE));
		goto out;
	}
	CID_TRY(rc);
	version = json_object_get(schema, "version");
	CID_ENSURE(json_is_integer(version), CID_ERR_STORE);
	/* A newer build changed the records: running this one on them could corrupt them. */
	CID_ENSURE(json_integer_value(version) <= CID_STORE_SCHEMA, CID_ERR_CONFIG);
	CID_ENSURE(json_integer_value(version) == CID_STORE_SCHEMA, CID_ERR_STORE);
out:
	json_decref(schema);
	return rc;
}

/* errno values from mdb_env_open are positive, LMDB's own codes negative. */
static enum cid_err env_open_err(int mrc)
{
	if (mrc == ENOMEM)
		return CID_ERR_NOMEM;
	return mrc > 0 ? CID_ERR_IO : CID_ERR_STORE;
}

enum cid_err cid_store_open(const char *dir, struct cid_store **out)
{
	return cid_store_open_flags(dir, 0, out);
}

enum cid_err cid_store_open_flags(const char *dir, unsigned flags, struct cid_store **out)
{
	enum cid_err rc = CID_OK;
	struct cid_store *s = NULL;
	struct stat st;
	int mrc;

	if (dir == NULL || dir[0] == '\0')
		return CID_ERR_IO;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return CID_ERR_IO;
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return CID_ERR_IO;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return CID_ERR_NOMEM;
	atomic_init(&s->commits_begun, 0);
	atomic_init(&s->commits_done, 0);
	atomic_init(&s->broken, false);
	for (size_t i = 0; i < CID_DB_COUNT; i++)
		atomic_init(&s->memos[i], NULL);
	if (pthread_rwlock_init(&s->resize, NULL) != 0) {
		free(s);
		return CID_ERR_NOMEM;
	}
	if (pthread_mutex_init(&s->readers_lock, NULL) != 0) {
		pthread_rwlock_destroy(&s->resize);
		free(s);
		return CID_ERR_NOMEM;
	}
	if (pthread_mutex_init(&s->commit_lock, NULL) != 0) {
		pthread_mutex_destroy(&s->readers_lock);
		pthread_rwlock_destroy(&s->resize);
		free(s);
		return CID_ERR_NOMEM;
	}
	s->thread_cache = (flags & CID_STORE_NO_THREAD_CACHE) == 0;
	if (s->thread_cache && pthread_key_create(&s->reader_key, reader_free) != 0) {
		pthread_mutex_destroy(&s->commit_lock);
		pthread_mutex_destroy(&s->readers_lock);
		pthread_rwlock_destroy(&s->resize);
		free(s);
		return CID_ERR_NOMEM;
	}
	/* From here on cid_store_close releases everything. */
	mrc = mdb_env_create(&s->env);
	if (mrc != 0)
		s->env = NULL;
	CID_ENSURE(mrc == 0, CID_ERR_NOMEM);
	CID_ENSURE(mdb_env_set_maxdbs(s->env, CID_DB_COUNT) == 0, CID_ERR_STORE);
	/* MDB_NOTLS: a reset read transaction is kept per thread, not per LMDB's TLS slot. */
	mrc = mdb_env_open(s->env, dir, MDB_NOTLS, 0600);
	CID_ENSURE(mrc == 0, env_open_err(mrc));
	/* Free the reader slots of processes that died with a transaction open: best
	 * effort, since slots left stale are freed by the next open and refusing to open
	 * the store over them would be worse. */
	(void)mdb_reader_check(s->env, NULL);
	/* Set after open so that a map grown earlier is not shrunk back. */
	if (map_size_locked(s) < CID_STORE_MAP_INITIAL)
		CID_ENSURE(mdb_env_set_mapsize(s->env, CID_STORE_MAP_INITIAL) == 0, CID_ERR_STORE);
	CID_TRY(cid_store_update(s, open_cb, NULL));
	*out = s;
	s = NULL;
out:
	cid_store_close(s);
	return rc;
}

void cid_store_close(struct cid_store *s)
{
	struct cid_txn *t;

	if (s == NULL)
		return;
	/*
	 * Other threads' cached transactions too: with MDB_NOTLS any thread may
	 * abort them. Those threads must be done with s; one exiting during close
	 * would race with it in reader_free.
	 */
	pthread_mutex_lock(&s->readers_lock);
	while ((t = s->readers) != NULL) {
		s->readers = t->next;
		if (t->txn != NULL)
			mdb_txn_abort(t->txn);
		free(t);
	}
	pthread_mutex_unlock(&s->readers_lock);
	/* Deleting the key means no destructor runs for it any more. */
	if (s->thread_cache) {
		pthread_setspecific(s->reader_key, NULL);
		pthread_key_delete(s->reader_key);
	}
	if (s->env != NULL)
		mdb_env_close(s->env);
	for (size_t i = 0; i < CID_DB_COUNT; i++)
		cid_memo_free(atomic_load(&s->memos[i]));
	pthread_mutex_destroy(&s->commit_lock);
	pthread_mutex_destroy(&s->readers_lock);
	pthread_rwlock_destroy(&s->resize);
	free(s);
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
			mrc = panic_noted(s, mdb_txn_begin(s->env, NULL, MDB_RDONLY, &t->txn));
			if (mrc != 0)
				t->txn = NULL;
		} else {
			mrc = panic_noted(s, mdb_txn_renew(t->txn));
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
		if (mrc != MDB_MAP_RESIZED || adopt_map_size(s) != CID_OK)
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

enum cid_err cid_store_update(struct cid_store *s,
			      enum cid_err (*fn)(struct cid_txn *txn, void *arg), void *arg)
{
	enum cid_err rc = CID_ERR_STORE;

	for (int attempt = 0; attempt < ATTEMPTS_MAX; attempt++) {
		struct cid_txn t = {.store = s, .write = true};
		size_t seen;
		int mrc;

		if (pthread_rwlock_rdlock(&s->resize) != 0)
			return CID_ERR_STORE;
		seen = map_size_locked(s);
		mrc = panic_noted(s, mdb_txn_begin(s->env, NULL, 0, &t.txn));
		if (mrc != 0) {
			pthread_rwlock_unlock(&s->resize);
			if (mrc != MDB_MAP_RESIZED)
				return CID_ERR_STORE;
			CID_TRY(adopt_map_size(s));
			continue;
		}
		t.active = true;
		rc = fn(&t, arg);
		if (rc == CID_OK && !t.map_full) {
			/* Commit frees the transaction whether it succeeds or not. */
			pthread_mutex_lock(&s->commit_lock);
			atomic_fetch_add(&s->commits_begun, 1);
			mrc = mdb_txn_commit(t.txn);
			atomic_fetch_add(&s->commits_done, 1);
			pthread_mutex_unlock(&s->commit_lock);
			pthread_rwlock_unlock(&s->resize);
			if (mrc == 0)
				return CID_OK;
			if (mrc != MDB_MAP_FULL)
				return CID_ERR_STORE;
		} else {
			mdb_txn_abort(t.txn);
			pthread_rwlock_unlock(&s->resize);
			if (!t.map_full)
				return rc;
		}
		CID_TRY(grow_map(s, seen));
		rc = CID_ERR_STORE;
	}
out:
	return rc;
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

/* Checks shared by put and del; records MDB_MAP_FULL for cid_store_update. */
static enum cid_err write_err(struct cid_txn *txn, int mrc)
{
	switch (mrc) {
	case 0: return CID_OK;
	case MDB_NOTFOUND: return CID_ERR_NOTFOUND;
	case MDB_KEYEXIST: return CID_ERR_EXISTS;
	case MDB_MAP_FULL: txn->map_full = true; return CID_ERR_STORE;
	default: return CID_ERR_STORE;
	}
}

enum cid_err cid_txn_put(struct cid_txn *txn, enum cid_db db, struct cid_str key,
			 struct cid_str val, unsigned flags)
{
	MDB_val k = mval(key);
	MDB_val v = mval(val);

	if (!txn->write)
		return CID_ERR_INVALID;
	if ((unsigned)db >= CID_DB_COUNT || !txn->active)
		return CID_ERR_STORE;
	if (key.len > CID_STORE_MAX_KEY)
		return CID_ERR_TOOBIG;
	if (key.len == 0 || (flags & ~CID_PUT_NOOVERWRITE) != 0)
		return CID_ERR_INVALID;
	return write_err(txn, mdb_put(txn->txn, txn->store->dbis[db], &k, &v,
				      (flags & CID_PUT_NOOVERWRITE) ? MDB_NOOVERWRITE : 0));
}

enum cid_err cid_txn_put_json(struct cid_txn *txn, enum cid_db db, struct cid_str key,
			      const json_t *obj, unsigned flags)
{
	enum cid_err rc;
	char *text;

	/* cid_txn_get_json reads back only objects. */
	if (!json_is_object(obj))
		return CID_ERR_INVALID;
	text = cid_json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
	if (text == NULL)
		return CID_ERR_NOMEM;
	rc = cid_txn_put(txn, db, key, cid_str_of(text), flags);
	free(text);
	return rc;
}

enum cid_err cid_txn_del(struct cid_txn *txn, enum cid_db db, struct cid_str key)
{
	MDB_val k = mval(key);

	if (!txn->write)
		return CID_ERR_INVALID;
	if ((unsigned)db >= CID_DB_COUNT || !txn->active)
		return CID_ERR_STORE;
	/* Neither an empty nor an over-long key can be stored. */
	if (key.len == 0 || key.len > CID_STORE_MAX_KEY)
		return CID_ERR_NOTFOUND;
	return write_err(txn, mdb_del(txn->txn, txn->store->dbis[db], &k, NULL));
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

enum cid_err cid_txn_foreach(struct cid_txn *txn, enum cid_db db, struct cid_str prefix,
			     enum cid_err (*fn)(struct cid_str key, struct cid_str val, void *arg),
			     void *arg)
{
	return cid_txn_foreach_range(txn, db, prefix, (struct cid_str){NULL, 0}, false, fn, arg);
}

struct cid_store *cid_txn_store(const struct cid_txn *txn)
{
	return txn->store;
}

struct cid_memo *cid_store_memo(struct cid_store *s, enum cid_db db,
				const struct cid_memo_kind *kind)
{
	struct cid_memo *m;
	struct cid_memo *none = NULL;

	if ((unsigned)db >= CID_DB_COUNT)
		return NULL;
	m = atomic_load(&s->memos[db]);
	if (m == NULL) {
		if (cid_memo_new(CID_STORE_MEMO_ENTRIES, kind, &m) != CID_OK)
			return NULL;
		/* two first calls may race: the one that loses frees its memo */
		if (!atomic_compare_exchange_strong(&s->memos[db], &none, m)) {
			cid_memo_free(m);
			m = none;
		}
	}
	return cid_memo_kind_of(m) == kind ? m : NULL;
}

size_t cid_store_map_size(const struct cid_store *s)
{
	/* The rwlock changes; the store does not. */
	struct cid_store *m = (struct cid_store *)(uintptr_t)s;
	size_t n;

	if (pthread_rwlock_rdlock(&m->resize) != 0)
		return 0;
	n = map_size_locked(s);
	pthread_rwlock_unlock(&m->resize);
	return n;
}

enum cid_err cid_txn_counter_get(struct cid_txn *txn, const char *name, const char *member,
				 uint64_t *out)
{
	enum cid_err rc;
	json_t *v = NULL;
	const json_t *n;

	rc = cid_txn_get_json(txn, CID_DB_META, cid_str_of(name), &v);
	if (rc == CID_ERR_NOTFOUND) {
		*out = 0;
		return CID_OK;
	}
	CID_TRY(rc);
	n = json_object_get(v, member);
	CID_ENSURE(json_is_integer(n) && json_integer_value(n) >= 0, CID_ERR_STORE);
	*out = (uint64_t)json_integer_value(n);
out:
	json_decref(v);
	return rc;
}

enum cid_err cid_txn_counter_add(struct cid_txn *txn, const char *name, const char *member,
				 uint64_t add, uint64_t *out)
{
	enum cid_err rc;
	uint64_t v = 0;
	json_t *rec = NULL;

	CID_TRY(cid_txn_counter_get(txn, name, member, &v));
	CID_ENSURE(v <= (uint64_t)INT64_MAX - add, CID_ERR_STORE);
	v += add;
	rec = json_pack("{s:I}", member, (json_int_t)v);
	CID_ENSURE(rec != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_txn_put_json(txn, CID_DB_META, cid_str_of(name), rec, 0));
	if (out != NULL)
		*out = v;
out:
	json_decref(rec);
	return rc;
}

const char *cid_json_str(const json_t *o, const char *name)
{
	return json_string_value(json_object_get(o, name));
}

int64_t cid_json_int(const json_t *o, const char *name)
{
	return (int64_t)json_integer_value(json_object_get(o, name));
}
