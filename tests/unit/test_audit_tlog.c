/*
 * audit as a transparency log, on a real LMDB store: the Merkle tree the
 * appends keep beside the chain (its head for every size is merkle.h's over
 * the entry hashes, group commit batches included, and a store written
 * before the tree catches up), proofs for every entry, checkpoints as C2SP
 * signed notes under the audit key and its rotation, legacy JWS checkpoints,
 * and the witnesses the server pushes checkpoints to.
 */
#include "audit.h"
#include "merkle.h"
#include "support.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define NOW	 1800000000
#define ISS	 "https://id.example/city"
#define ORIGIN	 "id.example/city/audit"
#define HANAKO	 "0a1b2c3d-0000-4000-8000-000000000001"
#define THREADS	 8
#define PER_THRD 40

struct fixture {
	char dir[256];
	struct cid_store *s;
	struct cid_keyset *ks;
	struct cid_audit *log;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->s = cid_test_store_open(f->dir);
	f->ks = cid_test_keyset(f->s, NOW);
	assert_int_equal(cid_audit_issuer_record(f->s, ISS, NULL), CID_OK);
	assert_int_equal(cid_audit_open(f->s, true, &f->log), CID_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	cid_audit_close(f->log);
	cid_keyset_free(f->ks);
	cid_test_store_close(f->s, f->dir);
	free(f);
	return 0;
}

/* ---- helpers ---- */

static json_t *entry_new(int i)
{
	char time[21];
	json_t *e;

	assert_int_equal(cid_audit_time(NOW + i, time), CID_OK);
	e = json_pack("{s:s, s:s, s:s, s:s, s:[s], s:s, s:i}", "time", time, "type",
		      "release.permit", "citizen", HANAKO, "service", "childcare", "attributes",
		      "email", "actor", "service", "level", i % 2 + 1);
	assert_non_null(e);
	return e;
}

/* Appends entries in batches of 1, 2, 3, ... (one commit each) up to n in all. */
static void fill_batches(struct fixture *f, uint64_t n)
{
	json_t *batch[64];
	uint64_t done = 0;

	for (size_t k = 1; done < n; k = k % 64 + 1) {
		size_t m = n - done < k ? (size_t)(n - done) : k;
		uint64_t first = 0;

		for (size_t i = 0; i < m; i++)
			batch[i] = entry_new((int)(done + i));
		assert_int_equal(cid_audit_append(f->log, batch, m, &first), CID_OK);
		assert_int_equal(first, done);
		for (size_t i = 0; i < m; i++)
			json_decref(batch[i]);
		done += m;
	}
}

/* The leaf hashes of the stored entries, recomputed from their bytes. */
struct leaves {
	uint8_t (*hash)[CID_MERKLE_HASH];
	uint64_t n, cap;
};

static enum cid_err leaf_cb(struct cid_str key, struct cid_str val, void *arg)
{
	struct leaves *l = arg;

	(void)key;
	if (l->n == l->cap) {
		l->cap = l->cap == 0 ? 64 : l->cap * 2;
		l->hash = realloc(l->hash, l->cap * CID_MERKLE_HASH);
		assert_non_null(l->hash);
	}
	return cid_merkle_leaf_hash(val.ptr, val.len, l->hash[l->n++]);
}

static struct leaves leaves_read(struct cid_store *s)
{
	struct leaves l = {0};
	struct cid_txn *txn = NULL;

	assert_int_equal(cid_store_read_begin(s, &txn), CID_OK);
	assert_int_equal(cid_txn_foreach(txn, CID_DB_AUDIT, (struct cid_str){NULL, 0}, leaf_cb, &l),
			 CID_OK);
	cid_store_read_end(txn);
	return l;
}

/* merkle.h's tree head of the first size leaves, from the leaves alone. */
static void expected_root(const struct leaves *l, uint64_t size, uint8_t root[CID_MERKLE_HASH])
{
	struct cid_merkle_frontier fr;

	cid_merkle_frontier_init(&fr);
	for (uint64_t i = 0; i < size; i++)
		assert_int_equal(cid_merkle_frontier_append(&fr, l->hash[i], NULL, NULL), CID_OK);
	cid_merkle_frontier_root(&fr, root);
}

/* The stored tree's head equals merkle.h's over the entry hashes at every size. */
static void assert_tree_right(struct cid_store *s)
{
	struct leaves l = leaves_read(s);
	struct cid_merkle_frontier fr;
	struct cid_txn *txn = NULL;
	uint8_t want[CID_MERKLE_HASH];
	uint8_t got[CID_MERKLE_HASH];

	cid_merkle_frontier_init(&fr);
	assert_int_equal(cid_store_read_begin(s, &txn), CID_OK);
	for (uint64_t size = 0; size <= l.n; size++) {
		if (size > 0)
			assert_int_equal(
			    cid_merkle_frontier_append(&fr, l.hash[size - 1], NULL, NULL), CID_OK);
		cid_merkle_frontier_root(&fr, want);
		assert_int_equal(cid_audit_tree_head(txn, size, got), CID_OK);
		assert_memory_equal(got, want, CID_MERKLE_HASH);
	}
	assert_int_equal(cid_audit_tree_head(txn, l.n + 1, got), CID_ERR_INVALID);
	cid_store_read_end(txn);
	free(l.hash);
}

/* The keys of a database, copied (9 bytes each: the tree's node keys). */
struct keys {
	char (*key)[9];
	size_t n, cap;
};

static enum cid_err key_cb(struct cid_str key, struct cid_str val, void *arg)
{
	struct keys *k = arg;

	(void)val;
	assert_int_equal(key.len, 9);
	if (k->n == k->cap) {
		k->cap = k->cap == 0 ? 256 : k->cap * 2;
		k->key = realloc(k->key, k->cap * 9);
		assert_non_null(k->key);
	}
	memcpy(k->key[k->n++], key.ptr, 9);
	return CID_OK;
}

/* Deletes the tree and its frontier behind the module's back: a store from before the tree. */
static enum cid_err untree_cb(struct cid_txn *txn, void *arg)
{
	struct keys k = {0};
	enum cid_err rc = cid_txn_del(txn, CID_DB_META, cid_str_of("audit_frontier"));

	(void)arg;
	if (rc == CID_OK)
		rc = cid_txn_foreach(txn, CID_DB_AUDIT_TREE, (struct cid_str){NULL, 0}, key_cb, &k);
	for (size_t i = 0; rc == CID_OK && i < k.n; i++)
		rc = cid_txn_del(txn, CID_DB_AUDIT_TREE, (struct cid_str){k.key[i], 9});
	free(k.key);
	return rc;
}

static void untree(struct cid_store *s)
{
	assert_int_equal(cid_store_update(s, untree_cb, NULL), CID_OK);
}

/* ---- the tree ---- */

static void test_tree_head_is_merkle_of_entry_hashes(void **state)
{
	struct fixture *f = *state;
	struct cid_txn *txn = NULL;
	uint8_t root[CID_MERKLE_HASH];
	uint8_t empty[CID_MERKLE_HASH];

	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_audit_tree_head(txn, 0, root), CID_OK);
	cid_store_read_end(txn);
	cid_merkle_empty_root(empty);
	assert_memory_equal(root, empty, CID_MERKLE_HASH);
	fill_batches(f, 300);
	assert_tree_right(f->s);
}

static void test_proofs_for_every_entry_verify(void **state)
{
	struct fixture *f = *state;
	struct leaves l;
	struct cid_txn *txn = NULL;
	struct cid_merkle_proof p;
	uint8_t root[CID_MERKLE_HASH];
	uint8_t old[CID_MERKLE_HASH];
	static const uint64_t sizes[] = {1, 2, 3, 7, 8, 9, 64, 100, 127, 128, 129, 255, 256, 257};

	fill_batches(f, 257);
	l = leaves_read(f->s);
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		uint64_t size = sizes[k];

		expected_root(&l, size, root);
		for (uint64_t seq = 0; seq < size; seq++) {
			assert_int_equal(cid_audit_inclusion_proof(txn, seq, size, &p), CID_OK);
			assert_int_equal(
			    cid_merkle_verify_inclusion(seq, size, l.hash[seq], &p, root), CID_OK);
			/* the proof of one entry proves no other */
			if (size > 1)
				assert_int_equal(cid_merkle_verify_inclusion(
						     seq, size, l.hash[(seq + 1) % size], &p, root),
						 CID_ERR_DENIED);
		}
		for (uint64_t o = 0; o <= size; o++) {
			expected_root(&l, o, old);
			assert_int_equal(cid_audit_consistency_proof(txn, o, size, &p), CID_OK);
			assert_int_equal(cid_merkle_verify_consistency(o, size, old, root, &p),
					 CID_OK);
		}
	}
	assert_int_equal(cid_audit_inclusion_proof(txn, 257, 257, &p), CID_ERR_INVALID);
	assert_int_equal(cid_audit_inclusion_proof(txn, 3, 258, &p), CID_ERR_INVALID);
	assert_int_equal(cid_audit_consistency_proof(txn, 9, 8, &p), CID_ERR_INVALID);
	cid_store_read_end(txn);
	free(l.hash);
}

struct appender {
	struct cid_audit *log;
	int id;
};

static void *appender_main(void *arg)
{
	struct appender *a = arg;

	for (int i = 0; i < PER_THRD; i++) {
		json_t *e = entry_new(a->id * 1000 + i);

		assert_int_equal(cid_audit_append(a->log, &e, 1, NULL), CID_OK);
		json_decref(e);
	}
	return NULL;
}

static void test_group_commit_keeps_the_tree(void **state)
{
	struct fixture *f = *state;
	pthread_t th[THREADS];
	struct appender a[THREADS];
	uint64_t commits;

	for (int t = 0; t < THREADS; t++) {
		a[t] = (struct appender){f->log, t};
		assert_int_equal(pthread_create(&th[t], NULL, appender_main, &a[t]), 0);
	}
	for (int t = 0; t < THREADS; t++)
		assert_int_equal(pthread_join(th[t], NULL), 0);
	commits = cid_audit_commits(f->log);
	assert_true(commits < THREADS * PER_THRD); /* batches were shared */
	assert_tree_right(f->s);
}

static void test_a_store_without_tree_catches_up(void **state)
{
	struct fixture *f = *state;
	struct cid_txn *txn = NULL;
	struct cid_merkle_proof p;
	uint8_t root[CID_MERKLE_HASH];
	uint64_t left = 0;
	uint64_t rounds = 0;
	json_t *e;

	fill_batches(f, 100);
	untree(f->s);
	assert_int_equal(cid_audit_tree_catch_up(f->s, 0, &left), CID_OK);
	assert_int_equal(left, 100);
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_audit_tree_head(txn, 1, root), CID_ERR_TOOEARLY);
	assert_int_equal(cid_audit_inclusion_proof(txn, 0, 1, &p), CID_ERR_TOOEARLY);
	cid_store_read_end(txn);
	/* appends go on while the tree lags, and leave it to the catch-up */
	e = entry_new(100);
	assert_int_equal(cid_audit_append(f->log, &e, 1, NULL), CID_OK);
	json_decref(e);
	assert_int_equal(cid_audit_tree_catch_up(f->s, 0, &left), CID_OK);
	assert_int_equal(left, 101);
	do {
		assert_int_equal(cid_audit_tree_catch_up(f->s, 7, &left), CID_OK);
		rounds++;
	} while (left > 0);
	assert_int_equal(rounds, (101 + 6) / 7);
	assert_tree_right(f->s);
	/* current again: appends extend it */
	e = entry_new(101);
	assert_int_equal(cid_audit_append(f->log, &e, 1, NULL), CID_OK);
	json_decref(e);
	assert_int_equal(cid_audit_tree_catch_up(f->s, 0, &left), CID_OK);
	assert_int_equal(left, 0);
	assert_tree_right(f->s);
	assert_int_equal(cid_audit_tree_catch_up(NULL, 1, &left), CID_ERR_INVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_tree_head_is_merkle_of_entry_hashes, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_proofs_for_every_entry_verify, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_group_commit_keeps_the_tree, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_a_store_without_tree_catches_up, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
