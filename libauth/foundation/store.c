/*
 * store: one LMDB environment, its named databases, write transactions and
 * map growth (read transactions, gets and scans: store_reader.c).
 *
 * mdb_env_set_mapsize needs every transaction of this process closed, so each
 * active transaction (read or write) holds the store's rwlock shared, and a
 * resize takes it exclusively. A reset read transaction holds no lock: it has
 * no snapshot and renews against the new map. Every commit of this process is
 * counted and holds commit_lock, which is how a reader detects (and avoids) a
 * start torn by LMDB 0.9's race (store_reader.c says how).
 */
#include "store.h"
#include "store_int.h"

#include "bounds.h"
#include "buf.h"

#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
    [CID_DB_GRANT_INDEX] = "grant_index",
    [CID_DB_SESSION_INDEX] = "session_index",
    [CID_DB_CONSENT_IDS] = "consent_ids",
    [CID_DB_CONSENT_DUE] = "consent_due",
};
/* clang-format on */

_Static_assert(sizeof(db_names) / sizeof(db_names[0]) == CID_DB_COUNT,
	       "every enum cid_db needs a name");

/* Notes MDB_PANIC in mrc; returns mrc. */
int store_panic_noted(struct cid_store *s, int mrc)
{
	if (mrc == MDB_PANIC)
		atomic_store(&s->broken, true);
	return mrc;
}

bool cid_store_broken(const struct cid_store *s)
{
	return atomic_load(&s->broken);
}

bool cid_store_full(const struct cid_store *s)
{
	return atomic_load(&s->full);
}

void cid_store_set_map_max(struct cid_store *s, size_t bytes)
{
	if (pthread_rwlock_wrlock(&s->resize) != 0)
		return;
	s->map_max = bytes < CID_STORE_MAP_INITIAL ? CID_STORE_MAP_INITIAL
		     : bytes > CID_STORE_MAP_MAX   ? CID_STORE_MAP_MAX
						   : bytes;
	pthread_rwlock_unlock(&s->resize);
}

enum cid_err cid_store_reader_check(struct cid_store *s, size_t *freed)
{
	int dead = 0;

	if (mdb_reader_check(s->env, &dead) != 0)
		return CID_ERR_STORE;
	if (freed != NULL)
		*freed = dead > 0 ? (size_t)dead : 0;
	return CID_OK;
}

/* The map size; the caller holds s->resize (either way). */
size_t store_map_size_locked(const struct cid_store *s)
{
	MDB_envinfo info;

	if (mdb_env_info(s->env, &info) != 0)
		return 0;
	return info.me_mapsize;
}

/*
 * Adopts the map size another process grew the map to (MDB_MAP_RESIZED).
 * The caller holds no transaction of s.
 */
enum cid_err store_adopt_map_size(struct cid_store *s)
{
	int mrc;

	if (store_thread_reading(s) || pthread_rwlock_wrlock(&s->resize) != 0)
		return CID_ERR_STORE;
	mrc = mdb_env_set_mapsize(s->env, 0);
	pthread_rwlock_unlock(&s->resize);
	return mrc == 0 ? CID_OK : CID_ERR_STORE;
}

/*
 * Doubles the map (up to s->map_max) unless it changed from seen since the
 * caller's transaction found it full: then another writer grew it already.
 * At the limit the store is noted full (cid_store_full). The caller holds no
 * transaction of s.
 */
static enum cid_err grow_map(struct cid_store *s, size_t seen)
{
	enum cid_err rc = CID_OK;
	size_t cur, next;

	/* The thread's own read transaction would hold the lock we wait for. */
	if (store_thread_reading(s) || pthread_rwlock_wrlock(&s->resize) != 0)
		return CID_ERR_STORE;
	cur = store_map_size_locked(s);
	CID_ENSURE(cur != 0, CID_ERR_STORE);
	if (cur != seen)
		goto out;
	if (cur >= s->map_max)
		atomic_store(&s->full, true);
	CID_ENSURE(cur < s->map_max, CID_ERR_STORE);
	next = cur > s->map_max / 2 ? s->map_max : cur * 2;
	CID_ENSURE(mdb_env_set_mapsize(s->env, next) == 0, CID_ERR_STORE);
out:
	pthread_rwlock_unlock(&s->resize);
	return rc;
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
	atomic_init(&s->full, false);
	s->map_max = CID_STORE_MAP_MAX;
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
	if (s->thread_cache && pthread_key_create(&s->reader_key, store_reader_free) != 0) {
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
	/* (a lock file made by an earlier open keeps its own count until all close) */
	CID_ENSURE(mdb_env_set_maxreaders(s->env, CID_STORE_MAX_READERS) == 0, CID_ERR_STORE);
	/* MDB_NOTLS: a reset read transaction is kept per thread, not per LMDB's TLS slot. */
	mrc = mdb_env_open(s->env, dir, MDB_NOTLS, 0600);
	CID_ENSURE(mrc == 0, env_open_err(mrc));
	/* Free the reader slots of processes that died with a transaction open: best
	 * effort, since slots left stale are freed by the next open and refusing to open
	 * the store over them would be worse. */
	(void)mdb_reader_check(s->env, NULL);
	/* Set after open so that a map grown earlier is not shrunk back. */
	if (store_map_size_locked(s) < CID_STORE_MAP_INITIAL)
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
	 * would race with it in store_reader_free.
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
		seen = store_map_size_locked(s);
		mrc = store_panic_noted(s, mdb_txn_begin(s->env, NULL, 0, &t.txn));
		if (mrc != 0) {
			pthread_rwlock_unlock(&s->resize);
			if (mrc != MDB_MAP_RESIZED)
				return CID_ERR_STORE;
			CID_TRY(store_adopt_map_size(s));
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
			if (mrc == 0) {
				if (atomic_load_explicit(&s->full, memory_order_relaxed))
					atomic_store(&s->full, false);
				return CID_OK;
			}
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
	if (key.len == 0 || (flags & ~(CID_PUT_NOOVERWRITE | CID_PUT_APPEND)) != 0)
		return CID_ERR_INVALID;
	return write_err(txn, mdb_put(txn->txn, txn->store->dbis[db], &k, &v,
				      ((flags & CID_PUT_NOOVERWRITE) ? MDB_NOOVERWRITE : 0) |
					  ((flags & CID_PUT_APPEND) ? MDB_APPEND : 0)));
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

enum cid_err cid_txn_clear(struct cid_txn *txn, enum cid_db db)
{
	if (!txn->write)
		return CID_ERR_INVALID;
	if ((unsigned)db >= CID_DB_COUNT || !txn->active)
		return CID_ERR_STORE;
	return write_err(txn, mdb_drop(txn->txn, txn->store->dbis[db], 0));
}

struct index_ensure {
	enum cid_db data, index;
	size_t keys_per_record;
	enum cid_err (*fn)(struct cid_txn *txn, struct cid_str key, struct cid_str val, void *arg);
	void *arg;
	struct cid_txn *txn;
	json_t *drop; /* the keys of the damaged records fn gave up, deleted after the walk */
	size_t built; /* index keys written */
};

static enum cid_err index_one(struct cid_str key, struct cid_str val, void *arg)
{
	struct index_ensure *ie = arg;
	enum cid_err rc = ie->fn(ie->txn, key, val, ie->arg);

	if (rc == CID_ERR_INVALID)
		/* any bytes: a damaged key is read back, and deleted, as it is */
		return json_array_append_new(ie->drop, json_stringn_nocheck(key.ptr, key.len)) == 0
			   ? CID_OK
			   : CID_ERR_NOMEM;
	if (rc == CID_OK)
		ie->built += ie->keys_per_record;
	return rc;
}

static enum cid_err index_ensure_cb(struct cid_txn *txn, void *arg)
{
	struct index_ensure *ie = arg;
	enum cid_err rc = CID_OK;
	uint64_t records = 0;
	uint64_t keys = 0;
	size_t i;
	json_t *k;

	/* a rerun (the map grew) starts over */
	ie->built = 0;
	CID_ENSURE(json_array_clear(ie->drop) == 0, CID_ERR_NOMEM);
	CID_TRY(cid_txn_count(txn, ie->data, &records));
	CID_TRY(cid_txn_count(txn, ie->index, &keys));
	if (records <= UINT64_MAX / ie->keys_per_record && keys == records * ie->keys_per_record)
		goto out;
	CID_TRY(cid_txn_clear(txn, ie->index));
	ie->txn = txn;
	CID_TRY(cid_txn_foreach(txn, ie->data, cid_str_of(""), index_one, ie));
	/* after the walk: a record is deleted, not under the cursor */
	json_array_foreach(ie->drop, i, k) CID_TRY(cid_txn_del(
	    txn, ie->data, (struct cid_str){json_string_value(k), json_string_length(k)}));
out:
	return rc;
}

enum cid_err cid_store_index_ensure(struct cid_store *s, enum cid_db data, enum cid_db index,
				    size_t keys_per_record,
				    enum cid_err (*fn)(struct cid_txn *txn, struct cid_str key,
						       struct cid_str val, void *arg),
				    void *arg, size_t *built)
{
	enum cid_err rc = CID_OK;
	struct index_ensure ie = {.data = data,
				  .index = index,
				  .keys_per_record = keys_per_record,
				  .fn = fn,
				  .arg = arg,
				  .drop = json_array()};

	CID_ENSURE(ie.drop != NULL, CID_ERR_NOMEM);
	CID_ENSURE(s != NULL && fn != NULL && data != index && keys_per_record > 0,
		   CID_ERR_INVALID);
	CID_TRY(cid_store_update(s, index_ensure_cb, &ie));
	if (built != NULL)
		*built = ie.built;
out:
	json_decref(ie.drop);
	return rc;
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
	n = store_map_size_locked(s);
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
