/*
 * store_int.h: what the two files of the store module share; not part of the
 * API (store.h is).
 *
 *   store.c         the environment, open/close, write transactions, map growth
 *   store_reader.c  read transactions (one per thread), gets, cursors and scans
 *
 * Every active transaction holds its store's resize lock shared; only
 * store.c's map growth takes it exclusively, and only while this thread
 * holds no transaction (store_thread_reading).
 */
#ifndef CID_STORE_INT_H
#define CID_STORE_INT_H

#include "store.h"

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bound on begin/run/grow rounds of one call, so a broken map cannot loop forever. */
#define ATTEMPTS_MAX 32

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
	/* The map's limit (CID_STORE_MAP_MAX, or less: cid_store_set_map_max). */
	size_t map_max;
	/* A write was refused for want of room under map_max, and none committed since. */
	atomic_bool full;
};

static inline MDB_val mval(struct cid_str s)
{
	return (MDB_val){.mv_size = s.len, .mv_data = (void *)(uintptr_t)s.ptr};
}

static inline struct cid_str sval(MDB_val v)
{
	return (struct cid_str){.ptr = v.mv_data, .len = v.mv_size};
}

/* Notes MDB_PANIC in mrc (cid_store_broken); returns mrc. */
int store_panic_noted(struct cid_store *s, int mrc);

/* The map size (0 if LMDB cannot say); the caller holds s->resize (either way). */
size_t store_map_size_locked(const struct cid_store *s);

/*
 * Adopts the map size another process grew the map to (MDB_MAP_RESIZED).
 * The caller holds no transaction of s. CID_ERR_STORE if it does, or LMDB fails.
 */
enum cid_err store_adopt_map_size(struct cid_store *s);

/* True if this thread's read transaction of s is active (it holds s->resize shared). */
bool store_thread_reading(struct cid_store *s);

/* The pthread key's destructor (p: a struct cid_txn): a thread that used the store exits. */
void store_reader_free(void *p);

#endif
