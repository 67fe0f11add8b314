/*
 * merkle: the RFC 6962 / RFC 9162 test tree of eight leaves (its heads for
 * sizes 0..8, and the inclusion and consistency proofs Certificate
 * Transparency implementations test against, with their corruptions); then
 * every proof of every size up to 300 leaves, generated from a node store
 * filled by the frontier and verified, its node reads counted against the
 * bound merkle.h documents; up to 64 leaves also refused once a bit of any
 * hash in it, of its leaf or of its heads is flipped, or it is cut or
 * extended, and compared (with size 129) with a naive implementation of the
 * RFC's recursive definitions written here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "merkle.h"

#include <cmocka.h>

#define H	   CID_MERKLE_HASH
#define MAX_LEAVES 300 /* exhaustive sizes: every index, every pair of sizes */
#define BAD_LEAVES 64  /* sizes whose every proof is also corrupted, each way refused */
#define REF_LEAVES 64  /* sizes compared with the naive RFC recursion (and one more) */

/* Sizes compared with the naive recursion: the small ones, and one past a power of two. */
static bool compared(uint64_t n)
{
	return n <= REF_LEAVES || n == 129;
}

#define MAX_LEVELS 10 /* 2^9 > MAX_LEAVES */
#define SOME_HASH  "abacaba000000000000000000000000000000000000000000060061e00123456"

static void unhex(const char *hex, uint8_t *out, size_t n)
{
	assert_int_equal(strlen(hex), 2 * n);
	for (size_t i = 0; i < n; i++) {
		unsigned v = 0;

		for (int j = 0; j < 2; j++) {
			char c = hex[2 * i + (size_t)j];
			v = v * 16 + (unsigned)(c <= '9' ? c - '0' : c - 'a' + 10);
		}
		out[i] = (uint8_t)v;
	}
}

/* ------------------------------------------------------------------------ */
/* A node store as a log would keep it, filled by the frontier's put calls. */

struct nodes {
	uint8_t (*level[MAX_LEVELS])[H];
	bool *have[MAX_LEVELS];
	uint64_t limit; /* the tree size being proven: no node may reach past it */
	unsigned reads;
	unsigned puts;
	unsigned fail_at; /* put fails on this call (1-based; 0: never) */
};

static void nodes_init(struct nodes *s)
{
	memset(s, 0, sizeof(*s));
	for (unsigned l = 0; l < MAX_LEVELS; l++) {
		s->level[l] = calloc((MAX_LEAVES >> l) + 1, H);
		s->have[l] = calloc((MAX_LEAVES >> l) + 1, sizeof(bool));
		assert_non_null(s->level[l]);
		assert_non_null(s->have[l]);
	}
}

static void nodes_free(struct nodes *s)
{
	for (unsigned l = 0; l < MAX_LEVELS; l++) {
		free(s->level[l]);
		free(s->have[l]);
	}
}

static enum cid_err nodes_put(void *arg, unsigned level, uint64_t index, const uint8_t hash[H])
{
	struct nodes *s = arg;

	s->puts++;
	if (s->fail_at != 0 && s->puts == s->fail_at)
		return CID_ERR_STORE;
	assert_true(level < MAX_LEVELS);
	assert_true(index <= (uint64_t)(MAX_LEAVES >> level));
	assert_false(s->have[level][index]); /* each node is reported once */
	memcpy(s->level[level][index], hash, H);
	s->have[level][index] = true;
	return CID_OK;
}

static enum cid_err nodes_get(void *arg, unsigned level, uint64_t index, uint8_t out[H])
{
	struct nodes *s = arg;

	s->reads++;
	assert_true(level < MAX_LEVELS);
	assert_true((index + 1) << level <= s->limit); /* wholly inside the tree proven */
	assert_true(s->have[level][index]);
	memcpy(out, s->level[level][index], H);
	return CID_OK;
}

// NOLINTNEXTLINE(readability-non-const-parameter): the getter type of cid_merkle
static enum cid_err failing_get(void *arg, unsigned level, uint64_t index, uint8_t out[H])
{
	(void)arg;
	(void)level;
	(void)index;
	(void)out;
	return CID_ERR_STORE;
}

/* ------------------------------------------------------------------------ */
/* The RFC's recursive definitions, naively, over an array of leaf hashes.  */

static uint64_t ref_split(uint64_t n)
{
	uint64_t k = 1;

	while (2 * k < n)
		k *= 2;
	return k;
}

static void ref_mth(const uint8_t (*leaf)[H], uint64_t lo, uint64_t hi, uint8_t out[H])
{
	uint8_t l[H], r[H];
	uint64_t k;

	if (hi - lo == 1) {
		memcpy(out, leaf[lo], H);
		return;
	}
	k = ref_split(hi - lo);
	ref_mth(leaf, lo, lo + k, l);
	ref_mth(leaf, lo + k, hi, r);
	cid_merkle_node_hash(l, r, out);
}

/* PATH(m, D[lo:hi]) appended to p */
static void ref_path(const uint8_t (*leaf)[H], uint64_t m, uint64_t lo, uint64_t hi,
		     struct cid_merkle_proof *p)
{
	uint64_t k;

	if (hi - lo <= 1)
		return;
	k = ref_split(hi - lo);
	if (m < k) {
		ref_path(leaf, m, lo, lo + k, p);
		ref_mth(leaf, lo + k, hi, p->hash[p->len++]);
	} else {
		ref_path(leaf, m - k, lo + k, hi, p);
		ref_mth(leaf, lo, lo + k, p->hash[p->len++]);
	}
}

/* SUBPROOF(m, D[lo:hi], b) appended to p */
static void ref_subproof(const uint8_t (*leaf)[H], uint64_t m, uint64_t lo, uint64_t hi, bool b,
			 struct cid_merkle_proof *p)
{
	uint64_t k;

	if (m == hi - lo) {
		if (!b)
			ref_mth(leaf, lo, hi, p->hash[p->len++]);
		return;
	}
	k = ref_split(hi - lo);
	if (m <= k) {
		ref_subproof(leaf, m, lo, lo + k, b, p);
		ref_mth(leaf, lo + k, hi, p->hash[p->len++]);
	} else {
		ref_subproof(leaf, m - k, lo + k, hi, false, p);
		ref_mth(leaf, lo, lo + k, p->hash[p->len++]);
	}
}

static void assert_proof_equal(const struct cid_merkle_proof *a, const struct cid_merkle_proof *b)
{
	assert_int_equal(a->len, b->len);
	for (size_t i = 0; i < a->len; i++)
		assert_memory_equal(a->hash[i], b->hash[i], H);
}

/* ------------------------------------------------------------------------ */
/* The RFC 6962 test tree (from Certificate Transparency's test data).      */

static const struct {
	const char *bytes;
	size_t len;
} tree8[] = {
    {"", 0},
    {"\x00", 1},
    {"\x10", 1},
    {"\x20\x21", 2},
    {"\x30\x31", 2},
    {"\x40\x41\x42\x43", 4},
    {"\x50\x51\x52\x53\x54\x55\x56\x57", 8},
    {"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f", 16},
};

/* MTH(D[0:n]) for n = 0..8 */
static const char *const tree8_roots[] = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

struct vector {
	uint64_t a, b; /* inclusion: index, size; consistency: old size, size */
	const char *proof[4];
};

static const struct vector tree8_inclusion[] = {
    {0, 1, {NULL}},
    {0,
     8,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4", NULL}},
    {5,
     8,
     {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7", NULL}},
    {2, 3, {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125", NULL}},
    {1,
     5,
     {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b", NULL}},
};

static const struct vector tree8_consistency[] = {
    {1, 1, {NULL}},
    {1,
     8,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4", NULL}},
    {6,
     8,
     {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7", NULL}},
    {2,
     5,
     {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b", NULL}},
    {6,
     7,
     {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7", NULL}},
};

static void vector_proof(const struct vector *v, struct cid_merkle_proof *p)
{
	p->len = 0;
	while (p->len < 4 && v->proof[p->len] != NULL) {
		unhex(v->proof[p->len], p->hash[p->len], H);
		p->len++;
	}
}

/* The eight leaves' hashes, the node store after them, and the heads. */
struct tree8 {
	uint8_t leaf[8][H];
	uint8_t root[9][H];
	struct nodes nodes;
};

static void tree8_build(struct tree8 *t)
{
	struct cid_merkle_frontier f;

	nodes_init(&t->nodes);
	cid_merkle_frontier_init(&f);
	cid_merkle_frontier_root(&f, t->root[0]);
	for (size_t i = 0; i < 8; i++) {
		assert_int_equal(cid_merkle_leaf_hash(tree8[i].bytes, tree8[i].len, t->leaf[i]),
				 CID_OK);
		assert_int_equal(cid_merkle_frontier_append(&f, t->leaf[i], nodes_put, &t->nodes),
				 CID_OK);
		cid_merkle_frontier_root(&f, t->root[i + 1]);
	}
	t->nodes.limit = 8;
}

static void test_rfc6962_tree_heads_for_sizes_0_to_8(void **state)
{
	struct tree8 t;
	uint8_t want[H], got[H];

	(void)state;
	tree8_build(&t);
	for (uint64_t n = 0; n <= 8; n++) {
		unhex(tree8_roots[n], want, H);
		assert_memory_equal(t.root[n], want, H); /* from the frontier */
		assert_int_equal(cid_merkle_root(n, nodes_get, &t.nodes, got), CID_OK);
		assert_memory_equal(got, want, H); /* from the stored nodes */
	}
	cid_merkle_empty_root(got);
	unhex(tree8_roots[0], want, H);
	assert_memory_equal(got, want, H);
	nodes_free(&t.nodes);
}

static void test_rfc6962_inclusion_proofs(void **state)
{
	struct tree8 t;
	struct cid_merkle_proof want, got;

	(void)state;
	tree8_build(&t);
	for (size_t i = 0; i < sizeof(tree8_inclusion) / sizeof(tree8_inclusion[0]); i++) {
		const struct vector *v = &tree8_inclusion[i];

		vector_proof(v, &want);
		assert_int_equal(cid_merkle_inclusion_proof(v->a, v->b, nodes_get, &t.nodes, &got),
				 CID_OK);
		assert_proof_equal(&got, &want);
		assert_int_equal(
		    cid_merkle_verify_inclusion(v->a, v->b, t.leaf[v->a], &want, t.root[v->b]),
		    CID_OK);
	}
	nodes_free(&t.nodes);
}

static void test_rfc6962_consistency_proofs(void **state)
{
	struct tree8 t;
	struct cid_merkle_proof want, got;

	(void)state;
	tree8_build(&t);
	for (size_t i = 0; i < sizeof(tree8_consistency) / sizeof(tree8_consistency[0]); i++) {
		const struct vector *v = &tree8_consistency[i];

		vector_proof(v, &want);
		assert_int_equal(
		    cid_merkle_consistency_proof(v->a, v->b, nodes_get, &t.nodes, &got), CID_OK);
		assert_proof_equal(&got, &want);
		assert_int_equal(
		    cid_merkle_verify_consistency(v->a, v->b, t.root[v->a], t.root[v->b], &want),
		    CID_OK);
	}
	nodes_free(&t.nodes);
}

/* The corruptions of Certificate Transparency's inclusion test data, each refused. */
static void test_rfc6962_inclusion_corruptions_are_refused(void **state)
{
	struct tree8 t;
	uint8_t some[H], empty[H], wrong_leaf[H];

	(void)state;
	tree8_build(&t);
	unhex(SOME_HASH, some, H);
	cid_merkle_empty_root(empty);
	assert_int_equal(cid_merkle_leaf_hash("WrongLeaf", 9, wrong_leaf), CID_OK);
	for (size_t i = 0; i < sizeof(tree8_inclusion) / sizeof(tree8_inclusion[0]); i++) {
		const struct vector *v = &tree8_inclusion[i];
		const uint8_t *leaf = t.leaf[v->a];
		const uint8_t *root = t.root[v->b];
		struct cid_merkle_proof p, q;

		vector_proof(v, &p);
		/* a wrong index or size (INVALID when out of range, else DENIED) */
		assert_int_not_equal(cid_merkle_verify_inclusion(v->a - 1, v->b, leaf, &p, root),
				     CID_OK);
		assert_int_not_equal(cid_merkle_verify_inclusion(v->a + 1, v->b, leaf, &p, root),
				     CID_OK);
		assert_int_not_equal(cid_merkle_verify_inclusion(v->a ^ 2, v->b, leaf, &p, root),
				     CID_OK);
		assert_int_not_equal(cid_merkle_verify_inclusion(v->a, v->b * 2, leaf, &p, root),
				     CID_OK);
		assert_int_not_equal(cid_merkle_verify_inclusion(v->a, v->b / 2, leaf, &p, root),
				     CID_OK);
		/* a wrong leaf or root */
		assert_int_equal(cid_merkle_verify_inclusion(v->a, v->b, wrong_leaf, &p, root),
				 CID_ERR_DENIED);
		assert_int_equal(cid_merkle_verify_inclusion(v->a, v->b, leaf, &p, empty),
				 CID_ERR_DENIED);
		assert_int_equal(cid_merkle_verify_inclusion(v->a, v->b, leaf, &p, some),
				 CID_ERR_DENIED);
		/* a hash added at the end or the front */
		q = p;
		memcpy(q.hash[q.len++], root, H);
		assert_int_equal(cid_merkle_verify_inclusion(v->a, v->b, leaf, &q, root),
				 CID_ERR_DENIED);
		q = p;
		memmove(q.hash[1], q.hash[0], q.len * H);
		memcpy(q.hash[0], root, H);
		q.len++;
		assert_int_equal(cid_merkle_verify_inclusion(v->a, v->b, leaf, &q, root),
				 CID_ERR_DENIED);
		/* one bit flipped in each element; an element removed; one inserted */
		for (size_t j = 0; j < p.len; j++) {
			q = p;
			q.hash[j][0] ^= 8;
			assert_int_equal(cid_merkle_verify_inclusion(v->a, v->b, leaf, &q, root),
					 CID_ERR_DENIED);
		}
		if (p.len > 0) {
			q = p;
			q.len--;
			assert_int_equal(cid_merkle_verify_inclusion(v->a, v->b, leaf, &q, root),
					 CID_ERR_DENIED);
		}
		if (p.len > 1) {
			q = p;
			memmove(q.hash[2], q.hash[1], (q.len - 1) * H);
			memcpy(q.hash[1], some, H);
			q.len++;
			assert_int_equal(cid_merkle_verify_inclusion(v->a, v->b, leaf, &q, root),
					 CID_ERR_DENIED);
		}
	}
	nodes_free(&t.nodes);
}

/* The corruptions of Certificate Transparency's consistency test data, each refused. */
static void test_rfc6962_consistency_corruptions_are_refused(void **state)
{
	struct tree8 t;
	uint8_t some[H];

	(void)state;
	tree8_build(&t);
	unhex(SOME_HASH, some, H);
	for (size_t i = 0; i < sizeof(tree8_consistency) / sizeof(tree8_consistency[0]); i++) {
		const struct vector *v = &tree8_consistency[i];
		const uint8_t *r1 = t.root[v->a];
		const uint8_t *r2 = t.root[v->b];
		struct cid_merkle_proof p, q;

		vector_proof(v, &p);
		if (p.len == 0)
			continue; /* nothing to corrupt in an empty proof */
		assert_int_not_equal(cid_merkle_verify_consistency(v->a - 1, v->b, r1, r2, &p),
				     CID_OK);
		assert_int_not_equal(cid_merkle_verify_consistency(v->a + 1, v->b, r1, r2, &p),
				     CID_OK);
		assert_int_not_equal(cid_merkle_verify_consistency(v->a ^ 2, v->b, r1, r2, &p),
				     CID_OK);
		assert_int_not_equal(cid_merkle_verify_consistency(v->a, v->b * 2, r1, r2, &p),
				     CID_OK);
		assert_int_not_equal(cid_merkle_verify_consistency(v->a, v->b / 2, r1, r2, &p),
				     CID_OK);
		assert_int_equal(cid_merkle_verify_consistency(v->a, v->b, some, r2, &p),
				 CID_ERR_DENIED);
		assert_int_equal(cid_merkle_verify_consistency(v->a, v->b, r1, some, &p),
				 CID_ERR_DENIED);
		assert_int_equal(cid_merkle_verify_consistency(v->a, v->b, r2, r1, &p),
				 CID_ERR_DENIED);
		q.len = 0;
		assert_int_equal(cid_merkle_verify_consistency(v->a, v->b, r1, r2, &q),
				 CID_ERR_DENIED);
		const uint8_t *extra[] = {r1, r2, p.hash[0], some};
		for (size_t e = 0; e < 4; e++) {
			q = p;
			memcpy(q.hash[q.len++], extra[e], H);
			assert_int_equal(cid_merkle_verify_consistency(v->a, v->b, r1, r2, &q),
					 CID_ERR_DENIED);
			q = p;
			memmove(q.hash[1], q.hash[0], q.len * H);
			memcpy(q.hash[0], extra[e], H);
			q.len++;
			assert_int_equal(cid_merkle_verify_consistency(v->a, v->b, r1, r2, &q),
					 CID_ERR_DENIED);
		}
		q = p;
		q.len--;
		assert_int_equal(cid_merkle_verify_consistency(v->a, v->b, r1, r2, &q),
				 CID_ERR_DENIED);
		for (size_t j = 0; j < p.len; j++) {
			q = p;
			q.hash[j][0] ^= 16;
			assert_int_equal(cid_merkle_verify_consistency(v->a, v->b, r1, r2, &q),
					 CID_ERR_DENIED);
		}
	}
	nodes_free(&t.nodes);
}

/* Sizes that need no proof, and sizes that cannot be. */
static void test_consistency_edge_sizes(void **state)
{
	struct cid_merkle_proof none = {0}, one = {0};
	uint8_t empty[H], a[H], b[H];

	(void)state;
	cid_merkle_empty_root(empty);
	memset(a, 0xaa, H);
	memset(b, 0xbb, H);
	one.len = 1;
	memcpy(one.hash[0], empty, H);
	/* equal sizes: equal heads and no proof */
	assert_int_equal(cid_merkle_verify_consistency(0, 0, empty, empty, &none), CID_OK);
	assert_int_equal(cid_merkle_verify_consistency(1, 1, a, a, &none), CID_OK);
	assert_int_equal(cid_merkle_verify_consistency(0, 0, empty, b, &none), CID_ERR_DENIED);
	assert_int_equal(cid_merkle_verify_consistency(1, 1, a, b, &none), CID_ERR_DENIED);
	assert_int_equal(cid_merkle_verify_consistency(1, 1, a, a, &one), CID_ERR_DENIED);
	assert_int_equal(cid_merkle_verify_consistency(0, 0, empty, empty, &one), CID_ERR_DENIED);
	/* the empty tree is a prefix of any tree, with no proof, and has one head */
	assert_int_equal(cid_merkle_verify_consistency(0, 5, empty, b, &none), CID_OK);
	assert_int_equal(cid_merkle_verify_consistency(0, 5, empty, b, &one), CID_ERR_DENIED);
	assert_int_equal(cid_merkle_verify_consistency(0, 5, a, b, &none), CID_ERR_DENIED);
	/* time travel to the past */
	assert_int_equal(cid_merkle_verify_consistency(1, 0, a, b, &none), CID_ERR_INVALID);
	assert_int_equal(cid_merkle_verify_consistency(2, 1, a, b, &none), CID_ERR_INVALID);
	/* different sizes and no proof */
	assert_int_equal(cid_merkle_verify_consistency(1, 2, a, b, &none), CID_ERR_DENIED);
	/* out of range */
	assert_int_equal(cid_merkle_verify_consistency(1, CID_MERKLE_MAX_SIZE + 1, a, b, &none),
			 CID_ERR_INVALID);
	one.len = CID_MERKLE_MAX_PROOF + 1;
	assert_int_equal(cid_merkle_verify_consistency(1, 2, a, b, &one), CID_ERR_INVALID);
	assert_int_equal(cid_merkle_verify_inclusion(0, 2, a, &one, b), CID_ERR_INVALID);
	one.len = 0;
	assert_int_equal(cid_merkle_verify_inclusion(0, 0, a, &one, b), CID_ERR_INVALID);
	assert_int_equal(cid_merkle_verify_inclusion(2, 1, a, &one, b), CID_ERR_INVALID);
	/* a tree of one leaf: the leaf is the head, with no proof */
	assert_int_equal(cid_merkle_verify_inclusion(0, 1, a, &one, a), CID_OK);
	assert_int_equal(cid_merkle_verify_inclusion(0, 1, a, &one, b), CID_ERR_DENIED);
}

static void test_generation_refuses_impossible_requests(void **state)
{
	struct cid_merkle_proof p;
	uint8_t r[H];

	(void)state;
	p.len = 77; /* untouched on failure */
	assert_int_equal(cid_merkle_inclusion_proof(0, 0, failing_get, NULL, &p), CID_ERR_INVALID);
	assert_int_equal(cid_merkle_inclusion_proof(5, 5, failing_get, NULL, &p), CID_ERR_INVALID);
	assert_int_equal(cid_merkle_consistency_proof(6, 5, failing_get, NULL, &p),
			 CID_ERR_INVALID);
	assert_int_equal(
	    cid_merkle_consistency_proof(1, CID_MERKLE_MAX_SIZE + 1, failing_get, NULL, &p),
	    CID_ERR_INVALID);
	assert_int_equal(cid_merkle_root(CID_MERKLE_MAX_SIZE + 1, failing_get, NULL, r),
			 CID_ERR_INVALID);
	/* a store error is passed on */
	assert_int_equal(cid_merkle_inclusion_proof(0, 5, failing_get, NULL, &p), CID_ERR_STORE);
	assert_int_equal(cid_merkle_consistency_proof(3, 5, failing_get, NULL, &p), CID_ERR_STORE);
	assert_int_equal(cid_merkle_root(5, failing_get, NULL, r), CID_ERR_STORE);
	assert_int_equal(p.len, 77);
	/* nothing to read for what needs no proof */
	assert_int_equal(cid_merkle_consistency_proof(0, 5, failing_get, NULL, &p), CID_OK);
	assert_int_equal(p.len, 0);
	assert_int_equal(cid_merkle_consistency_proof(5, 5, failing_get, NULL, &p), CID_OK);
	assert_int_equal(p.len, 0);
	assert_int_equal(cid_merkle_inclusion_proof(0, 1, failing_get, NULL, &p), CID_OK);
	assert_int_equal(p.len, 0);
	assert_int_equal(cid_merkle_root(0, failing_get, NULL, r), CID_OK);
}

/* ------------------------------------------------------------------------ */
/* Every size up to MAX_LEAVES.                                             */

struct big {
	uint8_t leaf[MAX_LEAVES][H];
	uint8_t root[MAX_LEAVES + 1][H];
	struct nodes nodes;
};

static struct big *big_build(void)
{
	struct big *b = calloc(1, sizeof(*b));
	struct cid_merkle_frontier f;
	char entry[32];

	assert_non_null(b);
	nodes_init(&b->nodes);
	cid_merkle_frontier_init(&f);
	cid_merkle_frontier_root(&f, b->root[0]);
	for (int i = 0; i < MAX_LEAVES; i++) {
		int n = snprintf(entry, sizeof(entry), "entry %d", i);

		assert_int_equal(cid_merkle_leaf_hash(entry, (size_t)n, b->leaf[i]), CID_OK);
		assert_int_equal(cid_merkle_frontier_append(&f, b->leaf[i], nodes_put, &b->nodes),
				 CID_OK);
		cid_merkle_frontier_root(&f, b->root[i + 1]);
	}
	return b;
}

static unsigned ceil_log2(uint64_t n)
{
	unsigned l = 0;

	while (((uint64_t)1 << l) < n)
		l++;
	return l;
}

/* A bit of hash number j of a case, varied so that every bit position is hit. */
static void flip(uint8_t h[H], size_t seed)
{
	h[(seed * 7) % H] ^= (uint8_t)(1u << (seed % 8));
}

/* Each corruption is made in place and undone: p stays the valid proof. */
static void test_every_inclusion_proof_up_to_300_leaves(void **state)
{
	struct big *b = big_build();
	struct cid_merkle_proof p, ref;
	uint8_t x[H];

	(void)state;
	for (uint64_t n = 1; n <= MAX_LEAVES; n++) {
		const uint8_t *root = b->root[n];
		uint8_t want[H];

		b->nodes.limit = n;
		if (compared(n)) {
			ref_mth(b->leaf, 0, n, want);
			assert_memory_equal(root, want, H);
		}
		for (uint64_t i = 0; i < n; i++) {
			const uint8_t *leaf = b->leaf[i];

			b->nodes.reads = 0;
			assert_int_equal(cid_merkle_inclusion_proof(i, n, nodes_get, &b->nodes, &p),
					 CID_OK);
			assert_true(b->nodes.reads <= 2 * ceil_log2(n));
			assert_true(p.len <= ceil_log2(n));
			if (compared(n)) {
				ref.len = 0;
				ref_path(b->leaf, i, 0, n, &ref);
				assert_proof_equal(&p, &ref);
			}
			assert_int_equal(cid_merkle_verify_inclusion(i, n, leaf, &p, root), CID_OK);
			if (n > BAD_LEAVES)
				continue;
			for (size_t j = 0; j < p.len; j++) {
				flip(p.hash[j], i + j + n);
				assert_int_equal(cid_merkle_verify_inclusion(i, n, leaf, &p, root),
						 CID_ERR_DENIED);
				flip(p.hash[j], i + j + n);
			}
			memcpy(x, leaf, H);
			flip(x, i + n);
			assert_int_equal(cid_merkle_verify_inclusion(i, n, x, &p, root),
					 CID_ERR_DENIED);
			memcpy(x, root, H);
			flip(x, i);
			assert_int_equal(cid_merkle_verify_inclusion(i, n, leaf, &p, x),
					 CID_ERR_DENIED);
			/* another entry's leaf at this index, or this leaf at another index */
			if (n > 1) {
				uint64_t other = (i + 1) % n;

				assert_int_equal(
				    cid_merkle_verify_inclusion(i, n, b->leaf[other], &p, root),
				    CID_ERR_DENIED);
				assert_int_equal(
				    cid_merkle_verify_inclusion(other, n, leaf, &p, root),
				    CID_ERR_DENIED);
			}
			memcpy(p.hash[p.len++], root, H);
			assert_int_equal(cid_merkle_verify_inclusion(i, n, leaf, &p, root),
					 CID_ERR_DENIED);
			p.len--;
			if (p.len > 0) {
				p.len--;
				assert_int_equal(cid_merkle_verify_inclusion(i, n, leaf, &p, root),
						 CID_ERR_DENIED);
			}
		}
	}
	nodes_free(&b->nodes);
	free(b);
}

static void test_every_consistency_proof_up_to_300_leaves(void **state)
{
	struct big *b = big_build();
	struct cid_merkle_proof p, ref;
	uint8_t x[H];

	(void)state;
	for (uint64_t n = 0; n <= MAX_LEAVES; n++) {
		const uint8_t *root = b->root[n];

		b->nodes.limit = n;
		for (uint64_t m = 0; m <= n; m++) {
			const uint8_t *old = b->root[m];

			b->nodes.reads = 0;
			assert_int_equal(
			    cid_merkle_consistency_proof(m, n, nodes_get, &b->nodes, &p), CID_OK);
			assert_true(b->nodes.reads <= 2 * ceil_log2(n) + 1);
			assert_true(p.len <= ceil_log2(n) + 1);
			if (compared(n)) {
				ref.len = 0;
				if (m > 0 && m < n)
					ref_subproof(b->leaf, m, 0, n, true, &ref);
				assert_proof_equal(&p, &ref);
			}
			assert_int_equal(cid_merkle_verify_consistency(m, n, old, root, &p),
					 CID_OK);
			if (n > BAD_LEAVES)
				continue;
			for (size_t j = 0; j < p.len; j++) {
				flip(p.hash[j], m + j + n);
				assert_int_equal(cid_merkle_verify_consistency(m, n, old, root, &p),
						 CID_ERR_DENIED);
				flip(p.hash[j], m + j + n);
			}
			memcpy(x, old, H);
			flip(x, m + n);
			assert_int_equal(cid_merkle_verify_consistency(m, n, x, root, &p),
					 CID_ERR_DENIED);
			/* (the empty tree proves nothing about a longer one's head) */
			memcpy(x, root, H);
			flip(x, m);
			assert_int_equal(cid_merkle_verify_consistency(m, n, old, x, &p),
					 m == 0 && n > 0 ? CID_OK : CID_ERR_DENIED);
			/* a fork: another head for size n */
			if (m > 0 && m < n)
				assert_int_equal(
				    cid_merkle_verify_consistency(m, n, old, b->root[n - 1], &p),
				    CID_ERR_DENIED);
			memcpy(p.hash[p.len++], root, H);
			assert_int_equal(cid_merkle_verify_consistency(m, n, old, root, &p),
					 CID_ERR_DENIED);
			p.len--;
			if (p.len > 0) {
				p.len--;
				assert_int_equal(cid_merkle_verify_consistency(m, n, old, root, &p),
						 CID_ERR_DENIED);
			}
		}
	}
	nodes_free(&b->nodes);
	free(b);
}

/* ------------------------------------------------------------------------ */
/* The frontier.                                                            */

static void test_frontier_reports_every_perfect_subtree_once(void **state)
{
	struct big *b = big_build();
	uint64_t want = 0;

	(void)state;
	/* 2n - popcount(n) perfect subtrees in a tree of n leaves */
	want = (uint64_t)2 * MAX_LEAVES - (uint64_t)__builtin_popcount(MAX_LEAVES);
	assert_int_equal(b->nodes.puts, want);
	for (unsigned l = 0; l < MAX_LEVELS; l++)
		for (uint64_t i = 0; ((i + 1) << l) <= MAX_LEAVES; i++) {
			uint8_t h[H];

			assert_true(b->nodes.have[l][i]);
			ref_mth(b->leaf, i << l, (i + 1) << l, h);
			assert_memory_equal(b->nodes.level[l][i], h, H);
		}
	nodes_free(&b->nodes);
	free(b);
}

static void test_frontier_encode_decode_round_trip(void **state)
{
	struct cid_merkle_frontier f, g;
	uint8_t enc[CID_MERKLE_FRONTIER_MAX];
	uint8_t leaf[H], r1[H], r2[H];

	(void)state;
	cid_merkle_frontier_init(&f);
	for (uint64_t n = 0; n <= 70; n++) {
		size_t len = cid_merkle_frontier_encode(&f, enc);

		assert_int_equal(len, 8 + (size_t)__builtin_popcountll(n) * H);
		assert_int_equal(cid_merkle_frontier_decode(enc, len, &g), CID_OK);
		assert_int_equal(g.size, n);
		cid_merkle_frontier_root(&f, r1);
		cid_merkle_frontier_root(&g, r2);
		assert_memory_equal(r1, r2, H);
		/* a length that does not match the size */
		assert_int_equal(cid_merkle_frontier_decode(enc, len + H, &g), CID_ERR_INVALID);
		if (n > 0)
			assert_int_equal(cid_merkle_frontier_decode(enc, len - 1, &g),
					 CID_ERR_INVALID);
		memset(leaf, (int)n, H);
		assert_int_equal(cid_merkle_frontier_append(&f, leaf, NULL, NULL), CID_OK);
	}
	assert_int_equal(cid_merkle_frontier_decode(enc, 7, &g), CID_ERR_INVALID);
	/* a size over the maximum */
	memset(enc, 0xff, 8);
	assert_int_equal(cid_merkle_frontier_decode(enc, 8 + 64 * H, &g), CID_ERR_INVALID);
}

static void test_frontier_is_unchanged_when_a_put_fails(void **state)
{
	struct cid_merkle_frontier f, before;
	struct nodes s;
	uint8_t leaf[H];

	(void)state;
	nodes_init(&s);
	cid_merkle_frontier_init(&f);
	for (int i = 0; i < 7; i++) {
		memset(leaf, i, H);
		assert_int_equal(cid_merkle_frontier_append(&f, leaf, NULL, NULL), CID_OK);
	}
	before = f;
	/* the 8th leaf completes subtrees at levels 1, 2, 3: four puts; fail each */
	for (unsigned fail = 1; fail <= 4; fail++) {
		for (unsigned l = 0; l < MAX_LEVELS; l++)
			memset(s.have[l], 0, ((MAX_LEAVES >> l) + 1) * sizeof(bool));
		s.puts = 0;
		s.fail_at = fail;
		assert_int_equal(cid_merkle_frontier_append(&f, leaf, nodes_put, &s),
				 CID_ERR_STORE);
		assert_memory_equal(&f, &before, sizeof(f));
	}
	s.puts = 0;
	s.fail_at = 0;
	for (unsigned l = 0; l < MAX_LEVELS; l++)
		memset(s.have[l], 0, ((MAX_LEAVES >> l) + 1) * sizeof(bool));
	assert_int_equal(cid_merkle_frontier_append(&f, leaf, nodes_put, &s), CID_OK);
	assert_int_equal(s.puts, 4);
	assert_int_equal(f.size, 8);
	nodes_free(&s);
}

static void test_frontier_refuses_past_the_largest_size(void **state)
{
	struct cid_merkle_frontier f;
	uint8_t leaf[H] = {0};

	(void)state;
	cid_merkle_frontier_init(&f);
	f.size = CID_MERKLE_MAX_SIZE;
	assert_int_equal(cid_merkle_frontier_append(&f, leaf, NULL, NULL), CID_ERR_TOOBIG);
	assert_int_equal(f.size, CID_MERKLE_MAX_SIZE);
	f.size = CID_MERKLE_MAX_SIZE - 1; /* all bits but the lowest: 62 merges */
	assert_int_equal(cid_merkle_frontier_append(&f, leaf, NULL, NULL), CID_OK);
	assert_int_equal(f.size, CID_MERKLE_MAX_SIZE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc6962_tree_heads_for_sizes_0_to_8),
	    cmocka_unit_test(test_rfc6962_inclusion_proofs),
	    cmocka_unit_test(test_rfc6962_consistency_proofs),
	    cmocka_unit_test(test_rfc6962_inclusion_corruptions_are_refused),
	    cmocka_unit_test(test_rfc6962_consistency_corruptions_are_refused),
	    cmocka_unit_test(test_consistency_edge_sizes),
	    cmocka_unit_test(test_generation_refuses_impossible_requests),
	    cmocka_unit_test(test_every_inclusion_proof_up_to_300_leaves),
	    cmocka_unit_test(test_every_consistency_proof_up_to_300_leaves),
	    cmocka_unit_test(test_frontier_reports_every_perfect_subtree_once),
	    cmocka_unit_test(test_frontier_encode_decode_round_trip),
	    cmocka_unit_test(test_frontier_is_unchanged_when_a_put_fails),
	    cmocka_unit_test(test_frontier_refuses_past_the_largest_size),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
