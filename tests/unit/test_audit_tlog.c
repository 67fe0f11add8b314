/*
 * audit as a transparency log, on a real LMDB store: the Merkle tree the
 * appends keep beside the chain (its head for every size is merkle.h's over
 * the entry hashes, group commit batches included, its nodes stored in
 * post-order, and a store written before the tree, or before its layout,
 * catches up), proofs for every entry, checkpoints as C2SP
 * signed notes under the audit key and its rotation, the token signing keys'
 * changes on the record, legacy JWS checkpoints, and the witnesses the server
 * pushes checkpoints to.
 */
#include "audit.h"
#include "audit_int.h"
#include "http_server.h"
#include "merkle.h"
#include "note.h"
#include "support.h"
#include "witness.h"

#include <inttypes.h>
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
	assert_int_equal(cid_audit_key_ensure(f->s, NOW), CID_OK);
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

/* Appends n more entries in batches of 1, 2, 3, ... (one commit each), consecutive. */
static void fill_batches(struct fixture *f, uint64_t n)
{
	json_t *batch[64];
	uint64_t done = 0;
	uint64_t base = UINT64_MAX;

	for (size_t k = 1; done < n; k = k % 64 + 1) {
		size_t m = n - done < k ? (size_t)(n - done) : k;
		uint64_t first = 0;

		for (size_t i = 0; i < m; i++)
			batch[i] = entry_new((int)(done + i));
		assert_int_equal(cid_audit_append(f->log, batch, m, &first), CID_OK);
		if (base == UINT64_MAX)
			base = first;
		assert_int_equal(first, base + done);
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

/* Deletes the tree and its frontier behind the module's back: a store from before the tree. */
static enum cid_err untree_cb(struct cid_txn *txn, void *arg)
{
	enum cid_err rc = cid_txn_del(txn, CID_DB_META, cid_str_of("audit_tree_frontier"));

	(void)arg;
	return rc == CID_OK ? cid_txn_clear(txn, CID_DB_AUDIT_TREE) : rc;
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

/* Inclusion proofs of every entry at every size, consistency proofs between every two sizes. */
static void test_proofs_for_every_entry_verify(void **state)
{
	enum { N = 260 };
	struct fixture *f = *state;
	struct leaves l;
	struct cid_txn *txn = NULL;
	struct cid_merkle_proof p;
	struct cid_merkle_frontier fr;
	static uint8_t roots[N + 1][CID_MERKLE_HASH];

	fill_batches(f, N);
	l = leaves_read(f->s);
	cid_merkle_frontier_init(&fr);
	for (uint64_t size = 0; size <= N; size++) {
		if (size > 0)
			assert_int_equal(
			    cid_merkle_frontier_append(&fr, l.hash[size - 1], NULL, NULL), CID_OK);
		cid_merkle_frontier_root(&fr, roots[size]);
	}
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	for (uint64_t size = 1; size <= N; size++) {
		for (uint64_t seq = 0; seq < size; seq++) {
			assert_int_equal(cid_audit_inclusion_proof(txn, seq, size, &p), CID_OK);
			assert_int_equal(
			    cid_merkle_verify_inclusion(seq, size, l.hash[seq], &p, roots[size]),
			    CID_OK);
			/* the proof of one entry proves no other */
			if (size > 1)
				assert_int_equal(
				    cid_merkle_verify_inclusion(seq, size, l.hash[(seq + 1) % size],
								&p, roots[size]),
				    CID_ERR_DENIED);
		}
		for (uint64_t o = 0; o <= size; o++) {
			assert_int_equal(cid_audit_consistency_proof(txn, o, size, &p), CID_OK);
			assert_int_equal(
			    cid_merkle_verify_consistency(o, size, roots[o], roots[size], &p),
			    CID_OK);
		}
	}
	assert_int_equal(cid_audit_inclusion_proof(txn, N, N, &p), CID_ERR_INVALID);
	assert_int_equal(cid_audit_inclusion_proof(txn, 3, N + 1, &p), CID_ERR_INVALID);
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
	assert_true(commits < (uint64_t)THREADS * PER_THRD); /* batches were shared */
	assert_tree_right(f->s);
}

/* The tree's keys walked: each 8 bytes, and the places 0, 1, 2, ... with none missing. */
static enum cid_err dense_cb(struct cid_str key, struct cid_str val, void *arg)
{
	uint64_t *next = arg;
	uint64_t place = 0;

	assert_int_equal(key.len, 8);
	assert_int_equal(val.len, CID_MERKLE_HASH);
	for (size_t i = 0; i < 8; i++)
		place = place << 8 | (uint8_t)key.ptr[i];
	assert_int_equal(place, *next);
	(*next)++;
	return CID_OK;
}

/* Every node of a tree over n leaves is stored under its post-order place, and nothing else. */
static void assert_tree_dense(struct cid_store *s, uint64_t n)
{
	struct cid_txn *txn = NULL;
	uint64_t next = 0;

	assert_int_equal(cid_store_read_begin(s, &txn), CID_OK);
	assert_int_equal(
	    cid_txn_foreach(txn, CID_DB_AUDIT_TREE, (struct cid_str){NULL, 0}, dense_cb, &next),
	    CID_OK);
	cid_store_read_end(txn);
	/* a tree of n leaves has completed 2n - popcount(n) nodes */
	assert_int_equal(next, 2 * n - (uint64_t)__builtin_popcountll(n));
}

static void test_nodes_are_stored_in_post_order(void **state)
{
	struct fixture *f = *state;

	/* (level, index) -> place, counted by hand: leaves 0 1, node (1,0), leaves 2 3, ... */
	static const struct {
		unsigned level;
		uint64_t index, place;
	} rows[] = {
	    {0, 0, 0},	 {0, 1, 1},   {1, 0, 2},
	    {0, 2, 3},	 {0, 3, 4},   {1, 1, 5},
	    {2, 0, 6},	 {0, 4, 7},   {0, 7, 11},
	    {1, 3, 12},	 {2, 1, 13},  {3, 0, 14},
	    {0, 8, 15},	 {4, 0, 30},  {5, 0, 62},
	    {0, 32, 63}, {1, 16, 65}, {62, 0, (UINT64_C(1) << 63) - 2},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (audit_tree_place(rows[i].level, rows[i].index) != rows[i].place)
			fail_msg("row %zu: place %" PRIu64 ", want %" PRIu64, i,
				 audit_tree_place(rows[i].level, rows[i].index), rows[i].place);
	fill_batches(f, 100);
	assert_tree_dense(f->s, 100);
	assert_tree_right(f->s);
}

/* A tree of the first layout: node keys level byte || index (8 bytes BE), META "audit_frontier". */
static enum cid_err old_node_put(void *arg, unsigned level, uint64_t index,
				 const uint8_t hash[CID_MERKLE_HASH])
{
	char key[9];

	key[0] = (char)level;
	for (int i = 0; i < 8; i++)
		key[1 + i] = (char)(uint8_t)(index >> (56 - 8 * i));
	return cid_txn_put(arg, CID_DB_AUDIT_TREE, (struct cid_str){key, 9},
			   (struct cid_str){(const char *)hash, CID_MERKLE_HASH}, 0);
}

static enum cid_err old_layout_cb(struct cid_txn *txn, void *arg)
{
	const struct leaves *l = arg;
	struct cid_merkle_frontier fr;
	uint8_t buf[CID_MERKLE_FRONTIER_MAX];
	enum cid_err rc = untree_cb(txn, NULL);

	cid_merkle_frontier_init(&fr);
	for (uint64_t i = 0; rc == CID_OK && i < l->n; i++)
		rc = cid_merkle_frontier_append(&fr, l->hash[i], old_node_put, txn);
	if (rc == CID_OK)
		rc = cid_txn_put(
		    txn, CID_DB_META, cid_str_of("audit_frontier"),
		    (struct cid_str){(const char *)buf, cid_merkle_frontier_encode(&fr, buf)}, 0);
	return rc;
}

/*
 * A store of n entries whose tree lags from its first leaf: no head nor
 * proof from it; an append goes on and leaves the tree to the catch-up,
 * which then builds it in batches of batch. Returns the batches it took.
 */
static uint64_t lagging_tree_caught_up(struct fixture *f, uint64_t n, uint64_t batch)
{
	struct cid_txn *txn = NULL;
	struct cid_merkle_proof p;
	uint8_t root[CID_MERKLE_HASH];
	uint64_t left = 0;
	uint64_t rounds = 0;
	json_t *e;

	assert_int_equal(cid_audit_tree_catch_up(f->s, 0, &left), CID_OK);
	assert_int_equal(left, n);
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_audit_tree_head(txn, 1, root), CID_ERR_TOOEARLY);
	assert_int_equal(cid_audit_inclusion_proof(txn, 0, 1, &p), CID_ERR_TOOEARLY);
	cid_store_read_end(txn);
	e = entry_new((int)n); /* n is a test's few entries */
	assert_int_equal(cid_audit_append(f->log, &e, 1, NULL), CID_OK);
	json_decref(e);
	assert_int_equal(cid_audit_tree_catch_up(f->s, 0, &left), CID_OK);
	assert_int_equal(left, n + 1);
	do {
		assert_int_equal(cid_audit_tree_catch_up(f->s, batch, &left), CID_OK);
		rounds++;
	} while (left > 0);
	assert_tree_right(f->s);
	return rounds;
}

static void test_a_tree_of_the_first_layout_is_rebuilt(void **state)
{
	struct fixture *f = *state;
	struct leaves l;
	struct cid_txn *txn = NULL;
	struct cid_str v;
	uint64_t count = 0;

	fill_batches(f, 50);
	l = leaves_read(f->s);
	assert_int_equal(cid_store_update(f->s, old_layout_cb, &l), CID_OK);
	free(l.hash);
	assert_int_equal(lagging_tree_caught_up(f, 50, 20), 3);
	/* the old nodes and frontier are gone, the new tree complete */
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_txn_get(txn, CID_DB_META, cid_str_of("audit_frontier"), &v),
			 CID_ERR_NOTFOUND);
	assert_int_equal(cid_txn_count(txn, CID_DB_AUDIT_TREE, &count), CID_OK);
	cid_store_read_end(txn);
	assert_int_equal(count, 2 * 51 - 4); /* 51 = 0b110011: 2n - popcount(n) nodes */
	assert_tree_dense(f->s, 51);
}

static void test_a_store_without_tree_catches_up(void **state)
{
	struct fixture *f = *state;
	uint64_t left = 0;
	json_t *e;

	fill_batches(f, 100);
	untree(f->s);
	assert_int_equal(lagging_tree_caught_up(f, 100, 7), (101 + 6) / 7);
	/* current again: appends extend it */
	e = entry_new(101);
	assert_int_equal(cid_audit_append(f->log, &e, 1, NULL), CID_OK);
	json_decref(e);
	assert_int_equal(cid_audit_tree_catch_up(f->s, 0, &left), CID_OK);
	assert_int_equal(left, 0);
	assert_tree_right(f->s);
	assert_int_equal(cid_audit_tree_catch_up(NULL, 1, &left), CID_ERR_INVALID);
}

/* ---- checkpoints, keys, rotation ---- */

/* The store's trust, freshly loaded (caller frees). */
static struct cid_audit_trust *own_trust(struct cid_store *s)
{
	struct cid_audit_trust *t = NULL;

	assert_int_equal(cid_audit_trust_load(s, &t), CID_OK);
	return t;
}

static struct cid_audit_report verify_store_with(struct fixture *f, const struct cid_audit_trust *t,
						 const char *witness_cp)
{
	struct cid_audit_verify_opts o = {.trust = t};
	struct cid_audit_report rep;

	if (witness_cp != NULL) {
		o.witness_checkpoint = witness_cp;
		o.witness_checkpoint_len = strlen(witness_cp);
	}
	assert_int_equal(cid_audit_verify_store(f->s, f->ks, &o, &rep), CID_OK);
	return rep;
}

/* The whole log as an export, verified offline with t (strict: signed to its end). */
static struct cid_audit_report verify_export_with(struct fixture *f,
						  const struct cid_audit_trust *t)
{
	struct cid_audit_verify_opts o = {.trust = t};
	struct cid_audit_report rep;
	struct cid_txn *txn = NULL;
	char *text = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);
	FILE *in;

	assert_non_null(mem);
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_audit_export(txn, mem), CID_OK);
	cid_store_read_end(txn);
	assert_int_equal(fclose(mem), 0);
	in = fmemopen(text, len, "r");
	assert_non_null(in);
	assert_int_equal(cid_audit_verify_export(in, NULL, &o, &rep), CID_OK);
	fclose(in);
	free(text);
	return rep;
}

static void test_checkpoint_is_a_signed_note_of_the_tree_head(void **state)
{
	struct fixture *f = *state;
	struct cid_audit_trust *t = own_trust(f->s);
	struct cid_txn *txn = NULL;
	struct cid_note note;
	struct cid_checkpoint cp;
	uint8_t root[CID_MERKLE_HASH];
	char *text = NULL;
	json_t *vkeys = NULL;

	fill_batches(f, 21);
	assert_int_equal(cid_audit_checkpoint(f->s, NOW + 60, &text), CID_OK);
	assert_int_equal(cid_note_parse(cid_str_of(text), &note), CID_OK);
	assert_int_equal(cid_checkpoint_parse(note.text, &cp), CID_OK);
	assert_int_equal(cp.origin.len, strlen(ORIGIN));
	assert_memory_equal(cp.origin.ptr, ORIGIN, cp.origin.len);
	assert_int_equal(cp.size, 21);
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_audit_tree_head(txn, 21, root), CID_OK);
	cid_store_read_end(txn);
	assert_memory_equal(cp.root, root, CID_MERKLE_HASH);
	/* signed by the published vkey, and by nothing else */
	assert_int_equal(cid_audit_vkeys(f->s, &vkeys), CID_OK);
	{
		const char *v =
		    json_string_value(json_array_get(json_object_get(vkeys, "vkeys"), 0));
		struct cid_note_verifier *ver = NULL;
		const struct cid_note_verifier *vs[1];

		assert_string_equal(v, cid_json_str(vkeys, "active"));
		assert_int_equal(cid_note_verifier_parse(cid_str_of(v), &ver), CID_OK);
		vs[0] = ver;
		assert_int_equal(cid_note_verify(&note, vs, 1, NULL), CID_OK);
		cid_note_verifier_free(ver);
	}
	assert_int_equal(note.n_sigs, 1);
	assert_string_equal(cid_audit_trust_origin(t), ORIGIN);
	json_decref(vkeys);
	free(text);
	/* the same head signs nothing new; a stored one is found by its size */
	assert_int_equal(cid_audit_checkpoint_get(f->s, 21, &text), CID_OK);
	free(text);
	assert_int_equal(cid_audit_checkpoint_get(f->s, 20, &text), CID_ERR_NOTFOUND);
	cid_audit_trust_free(t);
}

static void test_rotation_is_logged_and_both_keys_sign_the_handover(void **state)
{
	struct fixture *f = *state;
	struct cid_audit_trust *all;
	struct cid_audit_trust *old_only = NULL;
	struct cid_audit_trust *new_only = NULL;
	struct cid_audit_report rep;
	struct cid_note note;
	struct cid_txn *txn = NULL;
	json_t *vkeys = NULL;
	json_t *e = NULL;
	char *vkey = NULL;
	char *text = NULL;
	char *old = NULL;
	uint64_t size = 0;

	fill_batches(f, 5);
	assert_int_equal(cid_audit_checkpoint(f->s, NOW + 10, NULL), CID_OK);
	assert_int_equal(cid_audit_vkeys(f->s, &vkeys), CID_OK);
	old = strdup(cid_json_str(vkeys, "active"));
	json_decref(vkeys);
	assert_int_equal(cid_audit_key_rotate(f->s, "operator", "cli", NOW + 20, &vkey, &size),
			 CID_OK);
	assert_int_equal(size, 6);
	assert_string_not_equal(vkey, old);
	/* the rotation is entry 5, carrying both vkeys */
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_audit_get(txn, 5, &e), CID_OK);
	cid_store_read_end(txn);
	assert_string_equal(cid_json_str(e, "type"), "key.rotated");
	assert_string_equal(cid_json_str(json_object_get(e, "ext"), "vkey"), vkey);
	assert_string_equal(cid_json_str(json_object_get(e, "ext"), "previous"), old);
	json_decref(e);
	/* the checkpoint covering it: signed by the old key, then the new */
	assert_int_equal(cid_audit_checkpoint_get(f->s, 6, &text), CID_OK);
	assert_int_equal(cid_note_parse(cid_str_of(text), &note), CID_OK);
	assert_int_equal(note.n_sigs, 2);
	free(text);
	assert_int_equal(cid_audit_vkeys(f->s, &vkeys), CID_OK);
	assert_int_equal(json_array_size(json_object_get(vkeys, "vkeys")), 2);
	assert_string_equal(cid_json_str(vkeys, "active"), vkey);
	json_decref(vkeys);
	/* later checkpoints by the new key only */
	fill_batches(f, 3);
	assert_int_equal(cid_audit_checkpoint(f->s, NOW + 30, &text), CID_OK);
	assert_int_equal(cid_note_parse(cid_str_of(text), &note), CID_OK);
	assert_int_equal(note.n_sigs, 1);
	free(text);

	all = own_trust(f->s);
	rep = verify_store_with(f, all, NULL);
	assert_true(rep.ok);
	assert_int_equal(rep.checkpoints, 3);
	assert_int_equal(rep.covered, 9);
	rep = verify_export_with(f, all);
	assert_true(rep.ok);
	/* the key history is needed: each key alone fails where the other signed alone */
	assert_int_equal(cid_audit_trust_new(&old_only), CID_OK);
	assert_int_equal(cid_audit_trust_add(old_only, cid_str_of(old)), CID_OK);
	rep = verify_export_with(f, old_only);
	assert_false(rep.ok);
	assert_int_equal(rep.bad_seq, 8);
	assert_int_equal(cid_audit_trust_new(&new_only), CID_OK);
	assert_int_equal(cid_audit_trust_add(new_only, cid_str_of(vkey)), CID_OK);
	rep = verify_export_with(f, new_only);
	assert_false(rep.ok);
	assert_int_equal(rep.bad_seq, 4);
	assert_int_equal(cid_audit_key_rotate(f->s, "", "cli", NOW, NULL, NULL), CID_ERR_INVALID);
	cid_audit_trust_free(all);
	cid_audit_trust_free(old_only);
	cid_audit_trust_free(new_only);
	free(vkey);
	free(old);
}

/* ---- the token signing keys on the record ---- */

static uint64_t log_size(struct cid_store *s)
{
	struct cid_txn *txn = NULL;
	char hash[CID_AUDIT_HASH_HEX];
	uint64_t n = 0;

	assert_int_equal(cid_store_read_begin(s, &txn), CID_OK);
	assert_int_equal(cid_audit_head(txn, &n, hash), CID_OK);
	cid_store_read_end(txn);
	return n;
}

static json_t *entry_at(struct cid_store *s, uint64_t seq)
{
	struct cid_txn *txn = NULL;
	json_t *e = NULL;

	assert_int_equal(cid_store_read_begin(s, &txn), CID_OK);
	assert_int_equal(cid_audit_get(txn, seq, &e), CID_OK);
	cid_store_read_end(txn);
	return e;
}

/* The kid of the key of alg in state, into kid[64] ("" if none). */
static void kid_in_state(struct cid_store *s, const char *alg, const char *state, char kid[64])
{
	json_t *list = NULL;
	const json_t *k;
	size_t i;

	kid[0] = '\0';
	assert_int_equal(cid_keys_list(s, &list), CID_OK);
	json_array_foreach(list, i, k)
	{
		if (strcmp(cid_json_str(k, "alg"), alg) == 0 &&
		    strcmp(cid_json_str(k, "state"), state) == 0)
			snprintf(kid, 64, "%s", cid_json_str(k, "kid"));
	}
	json_decref(list);
}

/*
 * Entry seq is a token key's change: type, kid and alg in ext, actor and
 * endpoint (NULL: absent), time at; and it names nobody.
 */
static void assert_key_entry(struct cid_store *s, uint64_t seq, const char *type, const char *kid,
			     const char *alg, const char *actor, const char *endpoint, int64_t at)
{
	json_t *e = entry_at(s, seq);
	const json_t *ext = json_object_get(e, "ext");
	char when[21];

	assert_int_equal(cid_audit_time(at, when), CID_OK);
	assert_string_equal(cid_json_str(e, "type"), type);
	assert_string_equal(cid_json_str(e, "time"), when);
	assert_string_equal(cid_json_str(e, "actor"), actor);
	if (endpoint != NULL)
		assert_string_equal(cid_json_str(e, "endpoint"), endpoint);
	else
		assert_null(json_object_get(e, "endpoint"));
	assert_string_equal(cid_json_str(ext, "kid"), kid);
	assert_string_equal(cid_json_str(ext, "alg"), alg);
	assert_null(json_object_get(e, "citizen"));
	assert_null(json_object_get(e, "service"));
	json_decref(e);
}

/* ext[name] of entry seq is the RFC 3339 time t (0: absent). */
static void assert_ext_time(struct cid_store *s, uint64_t seq, const char *name, int64_t t)
{
	json_t *e = entry_at(s, seq);
	char when[21];

	if (t == 0) {
		assert_null(json_object_get(json_object_get(e, "ext"), name));
	} else {
		assert_int_equal(cid_audit_time(t, when), CID_OK);
		assert_string_equal(cid_json_str(json_object_get(e, "ext"), name), when);
	}
	json_decref(e);
}

static void assert_ext(struct cid_store *s, uint64_t seq, const char *name, const char *want)
{
	json_t *e = entry_at(s, seq);

	assert_string_equal(cid_json_str(json_object_get(e, "ext"), name), want);
	json_decref(e);
}

/*
 * Every change of the token keys through cid_audit_keys_change is an entry
 * of its own transaction: a publish (key.published), an activation by the
 * operator or, when due, by the server (key.activated, naming the key it
 * replaced), a rotation, which with keep 0 withdraws the old keys
 * (key.withdrawn each), and a drop (key.withdrawn; none for a key already
 * out). The log still verifies with them in it.
 */
static void test_token_key_changes_are_on_the_record(void **state)
{
	struct fixture *f = *state;
	const int64_t keep = 50;
	const int64_t delay = 100;
	struct cid_keys_op op = {0};
	struct cid_keys_result r = {0};
	struct cid_audit_trust *trust;
	struct cid_audit_report rep;
	char es_old[64];
	char rs_old[64];
	char es_next[64];
	char rs_mid[64];
	char rs_next[64];
	char withdrawn_a[64];
	char withdrawn_b[64];
	char *es_due = NULL;

	fill_batches(f, 2);
	kid_in_state(f->s, "ES256", "active", es_old);
	kid_in_state(f->s, "RS256", "active", rs_old);

	/* publish: seq 2 */
	op = (struct cid_keys_op){
	    .verb = CID_KEYS_PUBLISH, .alg = "ES256", .now = NOW + 10, .span = delay};
	assert_int_equal(cid_audit_keys_change(f->s, &op, "operator", "cli", &r), CID_OK);
	snprintf(es_next, sizeof(es_next), "%s", r.kid);
	free(r.kid);
	assert_int_equal(log_size(f->s), 3);
	assert_key_entry(f->s, 2, "key.published", es_next, "ES256", "operator", "cli", NOW + 10);
	assert_ext_time(f->s, 2, "activate_at", NOW + 10 + delay);

	/* too early without force: refused, and nothing on the record */
	op = (struct cid_keys_op){
	    .verb = CID_KEYS_ACTIVATE, .alg = "ES256", .now = NOW + 20, .span = keep};
	assert_int_equal(cid_audit_keys_change(f->s, &op, "operator", "cli", &r), CID_ERR_TOOEARLY);
	assert_null(r.kid);
	assert_int_equal(log_size(f->s), 3);

	/* activate: seq 3, naming the key it retired and until when that verifies */
	op.now = NOW + 10 + delay;
	assert_int_equal(cid_audit_keys_change(f->s, &op, "operator", "cli", &r), CID_OK);
	assert_string_equal(r.kid, es_next);
	free(r.kid);
	assert_int_equal(log_size(f->s), 4);
	assert_key_entry(f->s, 3, "key.activated", es_next, "ES256", "operator", "cli",
			 NOW + 10 + delay);
	assert_ext(f->s, 3, "previous", es_old);
	assert_ext_time(f->s, 3, "previous_until", NOW + 10 + delay + keep);

	/* a plain rotation: seq 4, the old key kept, so nothing withdrawn */
	op = (struct cid_keys_op){
	    .verb = CID_KEYS_ROTATE, .alg = "RS256", .now = NOW + 120, .span = keep};
	assert_int_equal(cid_audit_keys_change(f->s, &op, "operator", "cli", &r), CID_OK);
	snprintf(rs_mid, sizeof(rs_mid), "%s", r.kid);
	free(r.kid);
	assert_int_equal(log_size(f->s), 5);
	assert_key_entry(f->s, 4, "key.activated", rs_mid, "RS256", "operator", "cli", NOW + 120);
	assert_ext(f->s, 4, "previous", rs_old);

	/* --revoke with a next key waiting: both withdrawn (seq 6, 7), the new key (seq 8) */
	op = (struct cid_keys_op){
	    .verb = CID_KEYS_PUBLISH, .alg = "RS256", .now = NOW + 125, .span = delay};
	assert_int_equal(cid_audit_keys_change(f->s, &op, "operator", "cli", &r), CID_OK);
	snprintf(rs_next, sizeof(rs_next), "%s", r.kid);
	free(r.kid);
	op = (struct cid_keys_op){.verb = CID_KEYS_ROTATE, .alg = "RS256", .now = NOW + 130};
	assert_int_equal(cid_audit_keys_change(f->s, &op, "operator", "cli", &r), CID_OK);
	assert_int_equal(log_size(f->s), 9);
	assert_key_entry(f->s, 5, "key.published", rs_next, "RS256", "operator", "cli", NOW + 125);
	/* the two withdrawals come in kid order */
	snprintf(withdrawn_a, 64, "%s", strcmp(rs_mid, rs_next) < 0 ? rs_mid : rs_next);
	snprintf(withdrawn_b, 64, "%s", strcmp(rs_mid, rs_next) < 0 ? rs_next : rs_mid);
	assert_key_entry(f->s, 6, "key.withdrawn", withdrawn_a, "RS256", "operator", "cli",
			 NOW + 130);
	assert_key_entry(f->s, 7, "key.withdrawn", withdrawn_b, "RS256", "operator", "cli",
			 NOW + 130);
	assert_key_entry(f->s, 8, "key.activated", r.kid, "RS256", "operator", "cli", NOW + 130);
	assert_ext(f->s, 8, "previous", rs_mid);
	assert_ext_time(f->s, 8, "previous_until", NOW + 130);
	free(r.kid);

	/* a drop of a key kept after its rotation: seq 9; again: already out, no entry */
	op = (struct cid_keys_op){.verb = CID_KEYS_DROP, .kid = es_old, .now = NOW + 140};
	assert_int_equal(cid_audit_keys_change(f->s, &op, "operator", "cli", &r), CID_OK);
	assert_true(r.dropped);
	assert_int_equal(log_size(f->s), 10);
	assert_key_entry(f->s, 9, "key.withdrawn", es_old, "ES256", "operator", "cli", NOW + 140);
	op.now = NOW + 141;
	assert_int_equal(cid_audit_keys_change(f->s, &op, "operator", "cli", &r), CID_OK);
	assert_false(r.dropped);
	assert_int_equal(log_size(f->s), 10);

	/* the server's own activation of a due key: actor "system", no endpoint (seq 11) */
	assert_int_equal(cid_keys_publish(f->s, "ES256", NOW + 150, 10, &es_due), CID_OK);
	op = (struct cid_keys_op){.verb = CID_KEYS_ACTIVATE_DUE, .now = NOW + 159, .span = keep};
	assert_int_equal(cid_audit_keys_change(f->s, &op, "system", NULL, &r), CID_OK);
	assert_int_equal(r.activated, 0);
	assert_int_equal(log_size(f->s), 10);
	op.now = NOW + 160;
	assert_int_equal(cid_audit_keys_change(f->s, &op, "system", NULL, &r), CID_OK);
	assert_int_equal(r.activated, 1);
	assert_int_equal(log_size(f->s), 11);
	assert_key_entry(f->s, 10, "key.activated", es_due, "ES256", "system", NULL, NOW + 160);
	assert_ext(f->s, 10, "previous", es_next);

	/* a plain rotation over a published next key: that key never signed, and is
	 * withdrawn at once (seq 12), before the new key's activation (seq 13) */
	op = (struct cid_keys_op){
	    .verb = CID_KEYS_PUBLISH, .alg = "ES256", .now = NOW + 161, .span = delay};
	assert_int_equal(cid_audit_keys_change(f->s, &op, "operator", "cli", &r), CID_OK);
	snprintf(es_next, sizeof(es_next), "%s", r.kid);
	free(r.kid);
	op = (struct cid_keys_op){
	    .verb = CID_KEYS_ROTATE, .alg = "ES256", .now = NOW + 162, .span = keep};
	assert_int_equal(cid_audit_keys_change(f->s, &op, "operator", "cli", &r), CID_OK);
	assert_int_equal(log_size(f->s), 14);
	assert_key_entry(f->s, 11, "key.published", es_next, "ES256", "operator", "cli", NOW + 161);
	assert_key_entry(f->s, 12, "key.withdrawn", es_next, "ES256", "operator", "cli", NOW + 162);
	assert_key_entry(f->s, 13, "key.activated", r.kid, "ES256", "operator", "cli", NOW + 162);
	assert_ext(f->s, 13, "previous", es_due);
	assert_ext_time(f->s, 13, "previous_until", NOW + 162 + keep);
	free(r.kid);

	/* with these entries the log still verifies, checkpointed and as an export */
	assert_int_equal(cid_audit_checkpoint(f->s, NOW + 170, NULL), CID_OK);
	trust = own_trust(f->s);
	rep = verify_store_with(f, trust, NULL);
	assert_true(rep.ok);
	assert_int_equal(rep.covered, 14);
	rep = verify_export_with(f, trust);
	assert_true(rep.ok);
	cid_audit_trust_free(trust);

	/* bad arguments: refused before anything is changed */
	assert_int_equal(cid_audit_keys_change(f->s, &op, "", NULL, &r), CID_ERR_INVALID);
	assert_int_equal(cid_audit_keys_change(f->s, &op, NULL, NULL, &r), CID_ERR_INVALID);
	assert_int_equal(cid_audit_keys_change(f->s, &op, "operator", "", &r), CID_ERR_INVALID);
	assert_int_equal(cid_audit_keys_change(f->s, NULL, "operator", "cli", &r), CID_ERR_INVALID);
	assert_int_equal(cid_audit_keys_change(NULL, &op, "operator", "cli", &r), CID_ERR_INVALID);
	free(es_due);
}

/*
 * A change whose entry cannot be written is not made: here the entry's time
 * is past what the log can write (year 10000), so the rotation's transaction
 * aborts; the keys, their version and the log stay as they were.
 */
static void test_token_key_change_without_its_entry_is_not_made(void **state)
{
	struct fixture *f = *state;
	const int64_t beyond = 253402300800; /* 10000-01-01T00:00:00Z */
	struct cid_keys_op op = {.verb = CID_KEYS_ROTATE, .alg = "ES256", .now = beyond};
	struct cid_keys_result r = {0};
	json_t *before = NULL;
	json_t *after = NULL;
	uint64_t version = 0;
	uint64_t version_after = 0;
	uint64_t size;

	fill_batches(f, 1);
	size = log_size(f->s);
	assert_int_equal(cid_keys_list(f->s, &before), CID_OK);
	assert_int_equal(cid_keys_version(f->s, &version), CID_OK);
	assert_int_not_equal(cid_audit_keys_change(f->s, &op, "operator", "cli", &r), CID_OK);
	assert_null(r.kid);
	op = (struct cid_keys_op){.verb = CID_KEYS_PUBLISH, .alg = "RS256", .now = beyond};
	assert_int_not_equal(cid_audit_keys_change(f->s, &op, "operator", "cli", &r), CID_OK);
	assert_int_equal(cid_keys_list(f->s, &after), CID_OK);
	assert_int_equal(cid_keys_version(f->s, &version_after), CID_OK);
	assert_true(json_equal(before, after));
	assert_int_equal(version_after, version);
	assert_int_equal(log_size(f->s), size);
	json_decref(before);
	json_decref(after);
}

/* fmt with "%1$s", "%2$s", "%3$s" replaced by a, b, c into out (no printf of a variable format). */
static void subst(const char *fmt, const char *a, const char *b, const char *c, char *out,
		  size_t outsz)
{
	const char *args[] = {a, b, c};
	size_t n = 0;

	for (const char *p = fmt; *p != '\0';) {
		if (p[0] == '%' && p[1] >= '1' && p[1] <= '3' && strncmp(p + 2, "$s", 2) == 0) {
			const char *v = args[p[1] - '1'];

			assert_true(n + strlen(v) < outsz);
			memcpy(out + n, v, strlen(v));
			n += strlen(v);
			p += 4;
		} else {
			assert_true(n + 1 < outsz);
			out[n++] = *p++;
		}
	}
	out[n] = '\0';
}

/* A vkeys file: one a line, comments, the JSON document; one log only. */
static void test_trust_parse_table(void **state)
{
	struct fixture *f = *state;
	json_t *vkeys = NULL;
	char *doc;
	char text[4096];
	char *w = NULL;
	const char *log;
	struct cid_note_signer *other = NULL;
	char *other_vkey = NULL;
	struct cid_audit_trust *t = NULL;

	assert_int_equal(cid_audit_vkeys(f->s, &vkeys), CID_OK);
	log = cid_json_str(vkeys, "active");
	assert_int_equal(cid_witness_init(f->s, "witness.example/w1", NOW, &w), CID_OK);
	assert_int_equal(
	    cid_note_signer_new(cid_str_of("other.example/audit"), CID_NOTE_ED25519, NULL, &other),
	    CID_OK);
	assert_int_equal(cid_note_signer_vkey(other, &other_vkey), CID_OK);

	struct {
		const char *name;
		const char *fmt; /* %1$s the log's vkey, %2$s a witness's, %3$s another log's */
		enum cid_err rc;
		bool witness; /* the witness's key is in the set */
	} rows[] = {
	    {"one vkey", "%1$s\n", CID_OK, false},
	    {"without a final newline, CRLF", "# keys\r\n%1$s", CID_OK, false},
	    {"a comment, a blank line, a witness", "# the log\n\n%1$s\n%2$s\n", CID_OK, true},
	    {"a repeat is one key", "%1$s\n%1$s\n", CID_OK, false},
	    {"only a witness: no log key", "%2$s\n", CID_ERR_INVALID, false},
	    {"two logs", "%1$s\n%3$s\n", CID_ERR_INVALID, false},
	    {"junk", "%1$s\nnot a vkey\n", CID_ERR_INVALID, false},
	    {"empty", "", CID_ERR_INVALID, false},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		subst(rows[i].fmt, log, w, other_vkey, text, sizeof(text));
		t = NULL;
		if (cid_audit_trust_parse(text, strlen(text), &t) != rows[i].rc)
			fail_msg("%s", rows[i].name);
		if (t != NULL)
			assert_string_equal(cid_audit_trust_origin(t), ORIGIN);
		/* a witness's key is trusted beside the log's, never as one */
		if (t != NULL && rows[i].witness)
			assert_int_equal(cid_audit_trust_add(t, cid_str_of(w)), CID_OK);
		cid_audit_trust_free(t);
	}
	/* the document /.well-known/civicid-audit serves */
	doc = json_dumps(vkeys, JSON_COMPACT);
	assert_int_equal(cid_audit_trust_parse(doc, strlen(doc), &t), CID_OK);
	assert_string_equal(cid_audit_trust_origin(t), ORIGIN);
	cid_audit_trust_free(t);
	free(doc);
	assert_int_equal(cid_audit_trust_parse("{\"vkeys\": 3}", 12, &t), CID_ERR_INVALID);
	json_decref(vkeys);
	free(w);
	free(other_vkey);
	cid_note_signer_free(other);
}

/* ---- proofs ---- */

static void test_inclusion_proofs_verify_offline_and_tampered_ones_do_not(void **state)
{
	struct fixture *f = *state;
	struct cid_audit_trust *t = own_trust(f->s);
	struct cid_audit_trust *other = NULL;
	struct cid_audit_proof_result r;
	struct cid_note_signer *k = NULL;
	char *vk = NULL;
	char *p = NULL;
	size_t len = 0;

	fill_batches(f, 130);
	assert_int_equal(cid_audit_checkpoint(f->s, NOW + 60, NULL), CID_OK);
	fill_batches(f, 10); /* not covered yet */
	for (uint64_t seq = 0; seq < 130; seq++) {
		assert_int_equal(cid_audit_prove(f->s, seq, 0, &p, &len), CID_OK);
		assert_int_equal(strlen(p), len);
		assert_int_equal(cid_audit_proof_verify(p, len, t, &r), CID_OK);
		if (!r.ok)
			fail_msg("seq %llu: %s", (unsigned long long)seq, r.reason);
		assert_true(r.inclusion);
		assert_int_equal(r.seq, seq);
		assert_int_equal(r.size, 130);
		assert_string_equal(r.type, "release.permit");
		free(p);
	}
	assert_int_equal(cid_audit_prove(f->s, 130, 0, &p, &len), CID_ERR_NOTFOUND);
	assert_int_equal(cid_audit_prove(f->s, 3, 131, &p, &len), CID_ERR_NOTFOUND);
	assert_int_equal(cid_audit_prove(f->s, 130, 130, &p, &len), CID_ERR_INVALID);
	/* each kind of tampering is named */
	assert_int_equal(cid_audit_prove(f->s, 77, 0, &p, &len), CID_OK);
	{
		static const struct {
			const char *find, *put, *reason;
		} rows[] = {
		    {"index 77\n", "index 76\n", "the entry's seq is not the proof's index 76"},
		    {"index 77\n", "index 077\n", "no index line"},
		    {"c2sp.org/tlog-proof@v1\nextra ", "c2sp.org/tlog-proof@v1\nextra X",
		     "the extra line is not base64"},
		    {"\n\n", "\nAAAA\n\n", "a proof line is not the base64 of one hash"},
		    {"tlog-proof@v1\n", "tlog-proof@v2\n", "not a consistency proof document"},
		};

		for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
			char *bad = malloc(len + 64);
			char *at = strstr(p, rows[i].find);

			assert_non_null(bad);
			assert_non_null(at);
			memcpy(bad, p, (size_t)(at - p));
			snprintf(bad + (at - p), len + 64 - (size_t)(at - p), "%s%s", rows[i].put,
				 at + strlen(rows[i].find));
			assert_int_equal(cid_audit_proof_verify(bad, strlen(bad), t, &r), CID_OK);
			assert_false(r.ok);
			if (strstr(r.reason, rows[i].reason) == NULL)
				fail_msg("row %zu: %s", i, r.reason);
			free(bad);
		}
	}
	/* a changed hash of the path */
	{
		char *bad = strdup(p);
		char *h = strstr(bad, "\nindex 77\n") + 10;

		h[5] = h[5] == 'A' ? 'B' : 'A';
		assert_int_equal(cid_audit_proof_verify(bad, strlen(bad), t, &r), CID_OK);
		assert_false(r.ok);
		assert_non_null(strstr(r.reason, "does not lead from entry 77"));
		free(bad);
	}
	/* another log's key */
	assert_int_equal(cid_note_signer_new(cid_str_of(ORIGIN), CID_NOTE_ED25519, NULL, &k),
			 CID_OK);
	assert_int_equal(cid_note_signer_vkey(k, &vk), CID_OK);
	assert_int_equal(cid_audit_trust_new(&other), CID_OK);
	assert_int_equal(cid_audit_trust_add(other, cid_str_of(vk)), CID_OK);
	assert_int_equal(cid_audit_proof_verify(p, len, other, &r), CID_OK);
	assert_false(r.ok);
	assert_non_null(strstr(r.reason, "not signed by a key of the log"));
	assert_int_equal(cid_audit_proof_verify(p, len, NULL, &r), CID_ERR_INVALID);
	free(p);
	free(vk);
	cid_note_signer_free(k);
	cid_audit_trust_free(other);
	cid_audit_trust_free(t);
}

static void test_consistency_proofs_between_checkpoints(void **state)
{
	struct fixture *f = *state;
	struct cid_audit_trust *t = own_trust(f->s);
	struct cid_audit_proof_result r;
	static const uint64_t sizes[] = {1, 2, 7, 8, 9, 33, 64, 100};
	char *p = NULL;
	uint64_t have = 0;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		fill_batches(f, sizes[i] - have);
		have = sizes[i];
		assert_int_equal(cid_audit_checkpoint(f->s, NOW + (int64_t)i, NULL), CID_OK);
	}
	for (size_t a = 0; a < sizeof(sizes) / sizeof(sizes[0]); a++)
		for (size_t b = a; b < sizeof(sizes) / sizeof(sizes[0]); b++) {
			assert_int_equal(cid_audit_prove_consistency(f->s, sizes[a], sizes[b], &p),
					 CID_OK);
			assert_int_equal(cid_audit_proof_verify(p, strlen(p), t, &r), CID_OK);
			if (!r.ok)
				fail_msg("%llu..%llu: %s", (unsigned long long)sizes[a],
					 (unsigned long long)sizes[b], r.reason);
			assert_false(r.inclusion);
			assert_int_equal(r.old_size, sizes[a]);
			assert_int_equal(r.size, sizes[b]);
			free(p);
		}
	/* the two checkpoints swapped: the newer does not extend into the older */
	assert_int_equal(cid_audit_prove_consistency(f->s, 9, 0, &p), CID_OK);
	{
		json_t *d = json_loads(p, 0, NULL);
		json_t *o = json_incref(json_object_get(d, "old_checkpoint"));
		char *swapped;

		json_object_set(d, "old_checkpoint", json_object_get(d, "checkpoint"));
		json_object_set_new(d, "checkpoint", o);
		json_object_set_new(d, "old_size", json_integer(100));
		json_object_set_new(d, "size", json_integer(9));
		swapped = json_dumps(d, 0);
		assert_int_equal(cid_audit_proof_verify(swapped, strlen(swapped), t, &r), CID_OK);
		assert_false(r.ok);
		assert_non_null(strstr(r.reason, "does not extend"));
		free(swapped);
		json_decref(d);
	}
	free(p);
	assert_int_equal(cid_audit_prove_consistency(f->s, 10, 0, &p), CID_ERR_NOTFOUND);
	assert_int_equal(cid_audit_prove_consistency(f->s, 0, 9, &p), CID_ERR_INVALID);
	assert_int_equal(cid_audit_prove_consistency(f->s, 33, 9, &p), CID_ERR_INVALID);
	assert_int_equal(cid_audit_proof_verify("{}", 2, t, &r), CID_OK);
	assert_false(r.ok);
	cid_audit_trust_free(t);
}

/* ---- witnesses ---- */

/* A witness (witness.h) in this process, behind the test HTTP server. */
struct live_witness {
	char dir[256];
	struct cid_store *s;
	struct cid_witness *w;
	struct cid_test_http *http;
	char *vkey;
	char config[1024]; /* the audit_witnesses value naming it */
	const char *extra; /* appended to a 200 answer's body (a lying witness); NULL: none */
};

static void witness_answer(void *arg, const char *req, size_t n, char **out, size_t *len)
{
	struct live_witness *lw = arg;
	const char *body = strstr(req, "\r\n\r\n") + 4;
	struct cid_witness_result res;
	const char *extra;
	size_t cap;
	int h;

	assert_int_equal(
	    cid_witness_add_checkpoint(lw->w, body, n - (size_t)(body - req), NOW + 500, &res),
	    CID_OK);
	extra = res.status == 200 && lw->extra != NULL ? lw->extra : "";
	cap = 256 + strlen(res.body) + strlen(extra);
	*out = malloc(cap);
	assert_non_null(*out);
	h = snprintf(*out, cap,
		     "HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: "
		     "close\r\n\r\n%s%s",
		     res.status, res.content_type, strlen(res.body) + strlen(extra), res.body,
		     extra);
	assert_true(h > 0 && (size_t)h < cap);
	*len = (size_t)h;
	cid_witness_result_clear(&res);
}

static void witness_start(struct live_witness *lw, struct cid_store *log)
{
	json_t *vkeys = NULL;
	char url[128];

	lw->s = cid_test_store_open(lw->dir);
	assert_int_equal(cid_witness_init(lw->s, "witness.example/w1", NOW, &lw->vkey), CID_OK);
	assert_int_equal(cid_audit_vkeys(log, &vkeys), CID_OK);
	assert_int_equal(cid_witness_add_log(lw->s, cid_json_str(vkeys, "origin"),
					     cid_json_str(vkeys, "active")),
			 CID_OK);
	json_decref(vkeys);
	assert_int_equal(cid_witness_open(lw->s, &lw->w), CID_OK);
	lw->http = cid_test_http_start_fn(witness_answer, lw);
	cid_test_http_url(lw->http, "/", url, sizeof(url));
	snprintf(lw->config, sizeof(lw->config), "%s %s", url, lw->vkey);
}

static void witness_stop(struct live_witness *lw)
{
	cid_test_http_stop(lw->http);
	cid_witness_free(lw->w);
	cid_test_store_close(lw->s, lw->dir);
	free(lw->vkey);
}

/* Pushes to ws; returns what was logged (caller frees). */
static char *push(struct cid_store *s, const struct cid_audit_witnesses *ws)
{
	char *log = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&log, &len);

	assert_non_null(f);
	assert_int_equal(cid_audit_witness_push(s, ws, NOW + 500, f), CID_OK);
	assert_int_equal(fclose(f), 0);
	return log;
}

/* Copies the store's data file to dir (no transaction may be open): a backup, as mdb_copy makes. */
static void backup_to(const char *from_dir, char dir[256])
{
	char from[300];
	char to[300];
	char buf[65536];
	size_t n;
	FILE *in;
	FILE *out;

	cid_test_tmpdir(dir);
	snprintf(from, sizeof(from), "%s/data.mdb", from_dir);
	snprintf(to, sizeof(to), "%s/data.mdb", dir);
	in = fopen(from, "rb");
	out = fopen(to, "wb");
	assert_non_null(in);
	assert_non_null(out);
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		assert_int_equal(fwrite(buf, 1, n, out), n);
	fclose(in);
	assert_int_equal(fclose(out), 0);
}

static void test_push_is_cosigned_and_a_restored_backup_is_refused(void **state)
{
	struct fixture *f = *state;
	struct live_witness lw = {0};
	struct cid_audit_witnesses *ws = NULL;
	struct cid_audit_trust *t = own_trust(f->s);
	struct fixture b = {0};
	struct cid_audit_report rep;
	char err[256];
	char *log;
	char *note = NULL;
	char *wcp = NULL;
	json_t *state_doc = NULL;

	witness_start(&lw, f->s);
	assert_int_equal(cid_audit_witnesses_parse(lw.config, &ws, err, sizeof(err)), CID_OK);
	assert_int_equal(cid_audit_witnesses_count(ws), 1);
	assert_int_equal(cid_audit_trust_add(t, cid_str_of(lw.vkey)), CID_OK);
	/* nothing signed yet: nothing pushed */
	log = push(f->s, ws);
	assert_string_equal(log, "");
	free(log);
	assert_int_equal(cid_test_http_hits(lw.http), 0);

	fill_batches(f, 8);
	assert_int_equal(cid_audit_checkpoint(f->s, NOW + 10, NULL), CID_OK);
	log = push(f->s, ws);
	assert_string_equal(log, "");
	free(log);
	/* the cosignature is kept with the checkpoint, and counts as witnessed */
	assert_int_equal(cid_audit_checkpoint_get(f->s, 8, &note), CID_OK);
	assert_non_null(strstr(note, "\xe2\x80\x94 witness.example/w1 "));
	free(note);
	rep = verify_store_with(f, t, NULL);
	assert_true(rep.ok);
	assert_int_equal(rep.witnessed, 8);
	assert_string_equal(rep.witness, "witness.example/w1");
	assert_int_equal(rep.witness_time, NOW + 500);
	/* pushing again: the witness has it already, no request */
	log = push(f->s, ws);
	free(log);
	assert_int_equal(cid_test_http_hits(lw.http), 1);

	/* a backup now, at 8 entries; the log grows to 12 and the witness cosigns 12 */
	backup_to(f->dir, b.dir);
	fill_batches(f, 4);
	assert_int_equal(cid_audit_checkpoint(f->s, NOW + 20, NULL), CID_OK);
	log = push(f->s, ws);
	assert_string_equal(log, "");
	free(log);
	assert_int_equal(cid_witness_state(lw.s, &state_doc), CID_OK);
	assert_int_equal(json_integer_value(json_object_get(
			     json_array_get(json_object_get(state_doc, "logs"), 0), "size")),
			 12);

	/* the backup restored and grown again to 12 other entries: the witness refuses */
	b.s = NULL;
	assert_int_equal(cid_store_open(b.dir, &b.s), CID_OK);
	b.ks = cid_test_keyset(b.s, NOW);
	assert_int_equal(cid_audit_open(b.s, false, &b.log), CID_OK);
	{
		json_t *e = entry_new(999);

		json_object_set_new(e, "service", json_string("library"));
		for (int i = 0; i < 4; i++)
			assert_int_equal(cid_audit_append(b.log, &e, 1, NULL), CID_OK);
		json_decref(e);
	}
	assert_int_equal(cid_audit_checkpoint(b.s, NOW + 30, NULL), CID_OK);
	log = push(b.s, ws);
	if (strstr(log, "refused checkpoint 12 (HTTP 422): fork") == NULL)
		fail_msg("%s", log);
	free(log);
	/* the witness's cosigned checkpoint names the rollback, and the real log extends it */
	wcp = strdup(
	    cid_json_str(json_array_get(json_object_get(state_doc, "logs"), 0), "checkpoint"));
	rep = verify_store_with(&b, t, wcp);
	assert_false(rep.ok);
	assert_true(rep.rollback);
	assert_int_equal(rep.bad_seq, 11);
	rep = verify_store_with(f, t, wcp);
	assert_true(rep.ok);
	assert_true(rep.witness_checked);
	assert_int_equal(rep.witnessed, 12);
	assert_string_equal(rep.witness, "witness.example/w1");
	/* a witness state document gives its checkpoint of the origin */
	{
		char *doc = json_dumps(state_doc, 0);
		char *got = NULL;
		size_t got_len = 0;

		assert_int_equal(
		    cid_audit_witness_checkpoint_read(doc, strlen(doc), ORIGIN, &got, &got_len),
		    CID_OK);
		assert_string_equal(got, wcp);
		free(got);
		assert_int_equal(
		    cid_audit_witness_checkpoint_read(doc, strlen(doc), "x/audit", &got, &got_len),
		    CID_ERR_NOTFOUND);
		free(doc);
	}
	cid_audit_close(b.log);
	cid_keyset_free(b.ks);
	cid_test_store_close(b.s, b.dir);
	json_decref(state_doc);
	free(wcp);
	cid_audit_witnesses_free(ws);
	cid_audit_trust_free(t);
	witness_stop(&lw);
}

/*
 * A witness whose 200 answer carries, beside its own cosignature, a line in
 * the log's name and key id with a bad signature: only the witness's line is
 * kept, and the log still verifies.
 */
static void test_push_keeps_only_the_witness_own_cosignature(void **state)
{
	struct fixture *f = *state;
	struct live_witness lw = {0};
	struct cid_audit_witnesses *ws = NULL;
	struct cid_audit_trust *t = own_trust(f->s);
	struct cid_note_verifier *logv = NULL;
	struct cid_audit_report rep;
	json_t *vkeys = NULL;
	uint8_t sig[4 + 64] = {0};
	uint32_t id;
	char b64[128];
	char bad[512];
	char err[256];
	char *log;
	char *note = NULL;

	witness_start(&lw, f->s);
	assert_int_equal(cid_audit_vkeys(f->s, &vkeys), CID_OK);
	assert_int_equal(cid_note_verifier_parse(cid_str_of(cid_json_str(vkeys, "active")), &logv),
			 CID_OK);
	id = cid_note_verifier_id(logv);
	sig[0] = (uint8_t)(id >> 24);
	sig[1] = (uint8_t)(id >> 16);
	sig[2] = (uint8_t)(id >> 8);
	sig[3] = (uint8_t)id;
	assert_int_equal(cid_b64_encode(sig, sizeof(sig), b64, sizeof(b64)), CID_OK);
	snprintf(bad, sizeof(bad), "\xe2\x80\x94 %s %s\n", cid_note_verifier_name(logv), b64);
	lw.extra = bad;
	assert_int_equal(cid_audit_witnesses_parse(lw.config, &ws, err, sizeof(err)), CID_OK);
	assert_int_equal(cid_audit_trust_add(t, cid_str_of(lw.vkey)), CID_OK);

	fill_batches(f, 5);
	assert_int_equal(cid_audit_checkpoint(f->s, NOW + 10, NULL), CID_OK);
	log = push(f->s, ws);
	assert_string_equal(log, "");
	free(log);
	assert_int_equal(cid_audit_checkpoint_get(f->s, 5, &note), CID_OK);
	assert_non_null(strstr(note, "\xe2\x80\x94 witness.example/w1 "));
	assert_null(strstr(note, bad));
	rep = verify_store_with(f, t, NULL);
	if (!rep.ok)
		fail_msg("%s", rep.reason);
	assert_int_equal(rep.witnessed, 5);
	assert_string_equal(rep.witness, "witness.example/w1");
	free(note);
	cid_audit_witnesses_free(ws);
	cid_audit_trust_free(t);
	cid_note_verifier_free(logv);
	json_decref(vkeys);
	witness_stop(&lw);
}

/* The whole log's export, as text (caller frees). */
static char *export_text(struct fixture *f, size_t *len)
{
	struct cid_txn *txn = NULL;
	char *text = NULL;
	FILE *mem = open_memstream(&text, len);

	assert_non_null(mem);
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_audit_export(txn, mem), CID_OK);
	cid_store_read_end(txn);
	assert_int_equal(fclose(mem), 0);
	return text;
}

/* Verifies the export [text, +len) with o; returns what cid_audit_verify_export did. */
static enum cid_err verify_export_text(char *text, size_t len,
				       const struct cid_audit_verify_opts *o,
				       struct cid_audit_report *rep)
{
	/* fmemopen may refuse an empty buffer */
	FILE *in = len == 0 ? fopen("/dev/null", "re") : fmemopen(text, len, "r");
	enum cid_err rc;

	assert_non_null(in);
	rc = cid_audit_verify_export(in, NULL, o, rep);
	fclose(in);
	return rc;
}

/*
 * A witness checkpoint shows a rollback only when a witness vouches for it:
 * a trusted witness's cosignature on it must verify, else it is refused, in
 * the store and in an export alike; the report names the witness.
 */
static void test_witness_checkpoint_needs_a_trusted_cosignature(void **state)
{
	struct fixture *f = *state;
	struct live_witness lw = {0};
	struct cid_audit_witnesses *ws = NULL;
	struct cid_audit_trust *log_only = own_trust(f->s);
	struct cid_audit_trust *with_witness = own_trust(f->s);
	struct cid_audit_report rep;
	char *log_signed = NULL;
	char *cosigned = NULL;
	char *text;
	size_t len = 0;
	char err[256];

	witness_start(&lw, f->s);
	assert_int_equal(cid_audit_witnesses_parse(lw.config, &ws, err, sizeof(err)), CID_OK);
	assert_int_equal(cid_audit_trust_add(with_witness, cid_str_of(lw.vkey)), CID_OK);
	fill_batches(f, 6);
	assert_int_equal(cid_audit_checkpoint(f->s, NOW + 10, NULL), CID_OK);
	assert_int_equal(cid_audit_checkpoint_get(f->s, 6, &log_signed), CID_OK);
	free(push(f->s, ws));
	assert_int_equal(cid_audit_checkpoint_get(f->s, 6, &cosigned), CID_OK);
	assert_non_null(strstr(cosigned, "\xe2\x80\x94 witness.example/w1 "));
	text = export_text(f, &len);
	{
		struct {
			const char *name;
			const char *cp;
			const struct cid_audit_trust *t;
			enum cid_err rc;
		} rows[] = {
		    {"signed by the log only", log_signed, with_witness, CID_ERR_REFUSED},
		    {"cosigned by a witness not trusted", cosigned, log_only, CID_ERR_REFUSED},
		    {"cosigned by a trusted witness", cosigned, with_witness, CID_OK},
		};

		for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
			struct cid_audit_verify_opts o = {.trust = rows[i].t,
							  .witness_checkpoint = rows[i].cp,
							  .witness_checkpoint_len =
							      strlen(rows[i].cp)};

			for (int exported = 0; exported < 2; exported++) {
				enum cid_err rc =
				    exported ? verify_export_text(text, len, &o, &rep)
					     : cid_audit_verify_store(f->s, f->ks, &o, &rep);

				if (rc != rows[i].rc)
					fail_msg("%s (%s): %s", rows[i].name,
						 exported ? "export" : "store", cid_strerror(rc));
				if (rc != CID_OK)
					continue;
				assert_true(rep.ok);
				assert_true(rep.witness_checked);
				assert_string_equal(rep.witness_checkpoint_by,
						    "witness.example/w1");
			}
		}
	}
	free(text);
	free(log_signed);
	free(cosigned);
	cid_audit_witnesses_free(ws);
	cid_audit_trust_free(log_only);
	cid_audit_trust_free(with_witness);
	witness_stop(&lw);
}

/* An empty file is no export: not even its own audit.exported entry, nothing signed. */
static void test_an_empty_export_is_refused(void **state)
{
	struct fixture *f = *state;
	struct cid_audit_trust *t = own_trust(f->s);
	struct cid_audit_report rep;

	for (int accept = 0; accept < 2; accept++) {
		struct cid_audit_verify_opts o = {.trust = t, .allow_unsigned_tail = accept};

		assert_int_equal(verify_export_text(NULL, 0, &o, &rep), CID_OK);
		assert_false(rep.ok);
		assert_int_equal(rep.bad_seq, 0);
		assert_non_null(strstr(rep.reason, "no signed checkpoint"));
	}
	cid_audit_trust_free(t);
}

/* A witness holding more than the log: the log was rolled back; said once, no retry. */
static void test_push_to_a_witness_ahead_says_rollback(void **state)
{
	static const char ahead[] = "HTTP/1.1 409 Conflict\r\nContent-Type: text/x.tlog.size\r\n"
				    "Content-Length: 4\r\nConnection: close\r\n\r\n500\n";
	static const char down[] = "HTTP/1.1 503 Unavailable\r\nContent-Length: 6\r\n"
				   "Connection: close\r\n\r\nbusy!\n";
	struct fixture *f = *state;
	struct cid_test_http *srv = cid_test_http_start(ahead, sizeof(ahead) - 1);
	struct cid_audit_witnesses *ws = NULL;
	struct cid_note_signer *w = NULL;
	char *wv = NULL;
	char cfg[1024];
	char url[128];
	char err[256];
	char *log;

	assert_int_equal(cid_note_signer_new(cid_str_of("w.example"), CID_NOTE_COSIG, NULL, &w),
			 CID_OK);
	assert_int_equal(cid_note_signer_vkey(w, &wv), CID_OK);
	cid_test_http_url(srv, "/w", url, sizeof(url));
	snprintf(cfg, sizeof(cfg), "%s %s", url, wv);
	assert_int_equal(cid_audit_witnesses_parse(cfg, &ws, err, sizeof(err)), CID_OK);
	fill_batches(f, 3);
	assert_int_equal(cid_audit_checkpoint(f->s, NOW, NULL), CID_OK);
	log = push(f->s, ws);
	if (strstr(log, "holds a checkpoint of 500 entries of this log, which has 3: this log was "
			"rolled back") == NULL)
		fail_msg("%s", log);
	free(log);
	assert_int_equal(cid_test_http_hits(srv), 1);
	/* the next push says so again, without asking */
	log = push(f->s, ws);
	assert_non_null(strstr(log, "this log was rolled back"));
	free(log);
	assert_int_equal(cid_test_http_hits(srv), 1);
	cid_test_http_stop(srv);
	/* a refusal of another kind, and nobody listening: each one line, no error */
	srv = cid_test_http_start(down, sizeof(down) - 1);
	cid_audit_witnesses_free(ws);
	cid_note_signer_free(w);
	free(wv);
	assert_int_equal(cid_note_signer_new(cid_str_of("w2.example"), CID_NOTE_COSIG, NULL, &w),
			 CID_OK);
	assert_int_equal(cid_note_signer_vkey(w, &wv), CID_OK);
	cid_test_http_url(srv, "/w/", url, sizeof(url));
	snprintf(cfg, sizeof(cfg), "%s %s", url, wv);
	assert_int_equal(cid_audit_witnesses_parse(cfg, &ws, err, sizeof(err)), CID_OK);
	fill_batches(f, 1);
	assert_int_equal(cid_audit_checkpoint(f->s, NOW + 1, NULL), CID_OK);
	log = push(f->s, ws);
	if (strstr(log, "(HTTP 503): busy!") == NULL)
		fail_msg("%s", log);
	free(log);
	cid_test_http_stop(srv);
	log = push(f->s, ws);
	assert_non_null(strstr(log, "cannot push checkpoint 4"));
	free(log);
	cid_audit_witnesses_free(ws);
	cid_note_signer_free(w);
	free(wv);
}

static void test_witnesses_config_table(void **state)
{
	struct cid_note_signer *w = NULL;
	struct cid_note_signer *l = NULL;
	char *wv = NULL;
	char *lv = NULL;
	char text[2048];
	char err[256];
	struct cid_audit_witnesses *ws = NULL;

	struct {
		const char *fmt; /* %1$s a witness vkey, %2$s a log (not a cosigner) vkey */
		enum cid_err rc;
		size_t n;
		const char *err;
	} rows[] = {
	    {"", CID_OK, 0, NULL},
	    {"https://w.example/ %1$s", CID_OK, 1, NULL},
	    {" https://w.example/a %1$s ,\n http://127.0.0.1:9/b\t%1$s ", CID_OK, 2, NULL},
	    {"https://w.example/", CID_ERR_CONFIG, 0, "is not \"URL VKEY\""},
	    {"ftp://w.example/ %1$s", CID_ERR_CONFIG, 0, "is not an http(s) URL"},
	    {"https://w.example/ %2$s", CID_ERR_CONFIG, 0, "not a witness's cosignature vkey"},
	    {"https://w.example/ garbage", CID_ERR_CONFIG, 0, "not a witness's cosignature vkey"},
	};

	(void)state;
	assert_int_equal(cid_note_signer_new(cid_str_of("w.example"), CID_NOTE_COSIG, NULL, &w),
			 CID_OK);
	assert_int_equal(cid_note_signer_vkey(w, &wv), CID_OK);
	assert_int_equal(cid_note_signer_new(cid_str_of("l.example"), CID_NOTE_ED25519, NULL, &l),
			 CID_OK);
	assert_int_equal(cid_note_signer_vkey(l, &lv), CID_OK);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		subst(rows[i].fmt, wv, lv, "", text, sizeof(text));
		err[0] = '\0';
		ws = NULL;
		if (cid_audit_witnesses_parse(text, &ws, err, sizeof(err)) != rows[i].rc)
			fail_msg("row %zu: %s", i, err);
		if (rows[i].rc == CID_OK)
			assert_int_equal(cid_audit_witnesses_count(ws), rows[i].n);
		if (rows[i].err != NULL && strstr(err, rows[i].err) == NULL)
			fail_msg("row %zu: %s", i, err);
		cid_audit_witnesses_free(ws);
	}
	assert_int_equal(cid_audit_witnesses_parse(NULL, &ws, err, sizeof(err)), CID_OK);
	assert_int_equal(cid_audit_witnesses_count(ws), 0);
	cid_audit_witnesses_free(ws);
	cid_note_signer_free(w);
	cid_note_signer_free(l);
	free(wv);
	free(lv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_nodes_are_stored_in_post_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_a_tree_of_the_first_layout_is_rebuilt, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_tree_head_is_merkle_of_entry_hashes, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_proofs_for_every_entry_verify, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_group_commit_keeps_the_tree, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_a_store_without_tree_catches_up, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_checkpoint_is_a_signed_note_of_the_tree_head,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rotation_is_logged_and_both_keys_sign_the_handover,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_trust_parse_table, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_inclusion_proofs_verify_offline_and_tampered_ones_do_not, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_consistency_proofs_between_checkpoints, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_push_is_cosigned_and_a_restored_backup_is_refused,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_push_keeps_only_the_witness_own_cosignature, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_witness_checkpoint_needs_a_trusted_cosignature,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_an_empty_export_is_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_token_key_changes_are_on_the_record, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_token_key_change_without_its_entry_is_not_made,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_push_to_a_witness_ahead_says_rollback, setup,
					    teardown),
	    cmocka_unit_test(test_witnesses_config_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
