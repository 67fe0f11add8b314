/*
 * audit_tree: the RFC 9162 Merkle tree over the audit log's entries, kept in
 * the store so that tree heads and proofs for any size cost O(log n) reads.
 *
 * The leaves are the entries' hashes, the very hashes the chain links with
 * (SHA-256(0x00 || canonical entry)). Every write transaction that appends
 * entries also appends their leaves to the frontier (merkle.h) and stores
 * each node the frontier reports complete (CID_DB_AUDIT_TREE: the 32-byte
 * hash), and the encoded frontier (META "audit_tree_frontier"). The tree is
 * "current" when the frontier's size is the head's: then every append
 * extends it.
 *
 * A node's key is its place in post-order, as eight big-endian bytes
 * (audit_tree_key): the order in which the frontier completes nodes. Every node an
 * append stores sorts after every stored one, so a commit writes one run of
 * keys at the end of the database (one leaf page and its path, filled
 * completely: CID_PUT_APPEND), and a verifier that walks the entries reads
 * the nodes as one forward run. The first layout keyed a node by its level
 * and then its index: each level was its own run of keys, and a commit wrote
 * a page for each level it reached.
 *
 * A store written before the tree existed has entries and no tree: its tree
 * lags. Appends then leave the tree alone, and cid_audit_tree_catch_up builds
 * it from the stored entries in bounded write transactions, oldest first, so
 * the two writers never interleave leaves; once it reaches the head, appends
 * take over. Nothing reads a node the frontier has not reached. A store of
 * the first layout (its frontier under META "audit_frontier") is such a
 * store: its first batch drops the old nodes and frontier.
 */
#include "audit.h"

#include "audit_int.h"
#include "merkle.h"

#include <stdlib.h>
#include <string.h>

#define FRONTIER_KEY	 "audit_tree_frontier"
#define OLD_FRONTIER_KEY "audit_frontier" /* the first layout's (see above) */

uint64_t audit_tree_place(unsigned level, uint64_t index)
{
	/* the node's last leaf j; the nodes complete before leaf j are 2j -
	 * popcount(j), and leaf j completes the nodes over it level by level */
	uint64_t j = ((index + 1) << level) - 1;

	return 2 * j - (uint64_t)__builtin_popcountll(j) + level;
}

void audit_tree_key(unsigned level, uint64_t index, char key[AUDIT_TREE_KEY])
{
	uint64_t place = audit_tree_place(level, index);

	for (int i = 0; i < 8; i++)
		key[i] = (char)(uint8_t)(place >> (56 - 8 * i));
}

enum cid_err audit_tree_get(void *arg, unsigned level, uint64_t index, uint8_t out[CID_MERKLE_HASH])
{
	struct cid_txn *txn = arg;
	char key[AUDIT_TREE_KEY];
	struct cid_str val;
	enum cid_err rc;

	audit_tree_key(level, index, key);
	rc = cid_txn_get(txn, CID_DB_AUDIT_TREE, (struct cid_str){key, AUDIT_TREE_KEY}, &val);
	if (rc == CID_ERR_NOTFOUND)
		return CID_ERR_STORE; /* asked only for nodes the tree has reached */
	if (rc != CID_OK)
		return rc;
	if (val.len != CID_MERKLE_HASH)
		return CID_ERR_STORE;
	memcpy(out, val.ptr, CID_MERKLE_HASH);
	return CID_OK;
}

static enum cid_err node_put(void *arg, unsigned level, uint64_t index,
			     const uint8_t hash[CID_MERKLE_HASH])
{
	struct cid_txn *txn = arg;
	char key[AUDIT_TREE_KEY];

	audit_tree_key(level, index, key);
	return cid_txn_put(txn, CID_DB_AUDIT_TREE, (struct cid_str){key, AUDIT_TREE_KEY},
			   (struct cid_str){(const char *)hash, CID_MERKLE_HASH}, CID_PUT_APPEND);
}

enum cid_err audit_tree_frontier(struct cid_txn *txn, struct cid_merkle_frontier *f)
{
	struct cid_str val;
	enum cid_err rc = cid_txn_get(txn, CID_DB_META, cid_str_of(FRONTIER_KEY), &val);

	if (rc == CID_ERR_NOTFOUND) {
		cid_merkle_frontier_init(f);
		return CID_OK;
	}
	if (rc != CID_OK)
		return rc;
	return cid_merkle_frontier_decode((const uint8_t *)val.ptr, val.len, f) == CID_OK
		   ? CID_OK
		   : CID_ERR_STORE;
}

static enum cid_err frontier_put(struct cid_txn *txn, const struct cid_merkle_frontier *f)
{
	uint8_t buf[CID_MERKLE_FRONTIER_MAX];
	size_t n = cid_merkle_frontier_encode(f, buf);

	return cid_txn_put(txn, CID_DB_META, cid_str_of(FRONTIER_KEY),
			   (struct cid_str){(const char *)buf, n}, 0);
}

enum cid_err audit_tree_open(struct cid_txn *txn, uint64_t log_size, struct audit_tree *t)
{
	enum cid_err rc = audit_tree_frontier(txn, &t->f);

	if (rc != CID_OK)
		return rc;
	if (t->f.size > log_size)
		return CID_ERR_STORE; /* a tree over entries the log does not have */
	t->txn = txn;
	t->current = t->f.size == log_size;
	t->grew = false;
	return CID_OK;
}

enum cid_err audit_tree_append(struct audit_tree *t, const uint8_t leaf[CID_MERKLE_HASH])
{
	enum cid_err rc;

	if (!t->current)
		return CID_OK; /* a lagging tree is built by cid_audit_tree_catch_up */
	rc = cid_merkle_frontier_append(&t->f, leaf, node_put, t->txn);
	if (rc == CID_OK)
		t->grew = true;
	return rc;
}

enum cid_err audit_tree_close(struct audit_tree *t)
{
	return t->grew ? frontier_put(t->txn, &t->f) : CID_OK;
}

enum cid_err audit_tree_root(struct cid_txn *txn, uint64_t size, uint8_t root[CID_MERKLE_HASH])
{
	struct cid_merkle_frontier f;
	enum cid_err rc = audit_tree_frontier(txn, &f);

	if (rc != CID_OK)
		return rc;
	if (size > f.size)
		return CID_ERR_TOOEARLY; /* the tree has not reached size yet */
	if (size == f.size) {
		cid_merkle_frontier_root(&f, root);
		return CID_OK;
	}
	return cid_merkle_root(size, audit_tree_get, txn, root);
}

/* The log's size read in txn, and CID_ERR_INVALID unless want <= it. */
static enum cid_err within_log(struct cid_txn *txn, uint64_t want)
{
	char hash[CID_AUDIT_HASH_HEX];
	uint64_t size;
	enum cid_err rc = cid_audit_head(txn, &size, hash);

	if (rc != CID_OK)
		return rc;
	return want <= size ? CID_OK : CID_ERR_INVALID;
}

enum cid_err cid_audit_tree_head(struct cid_txn *txn, uint64_t size, uint8_t root[CID_MERKLE_HASH])
{
	enum cid_err rc = within_log(txn, size);

	return rc == CID_OK ? audit_tree_root(txn, size, root) : rc;
}

/* CID_OK when the tree has reached size, else CID_ERR_TOOEARLY. */
static enum cid_err tree_reached(struct cid_txn *txn, uint64_t size)
{
	struct cid_merkle_frontier f;
	enum cid_err rc = audit_tree_frontier(txn, &f);

	if (rc != CID_OK)
		return rc;
	return size <= f.size ? CID_OK : CID_ERR_TOOEARLY;
}

enum cid_err cid_audit_inclusion_proof(struct cid_txn *txn, uint64_t seq, uint64_t size,
				       struct cid_merkle_proof *out)
{
	enum cid_err rc = CID_OK;

	CID_ENSURE(seq < size, CID_ERR_INVALID);
	CID_TRY(within_log(txn, size));
	CID_TRY(tree_reached(txn, size));
	CID_TRY(cid_merkle_inclusion_proof(seq, size, audit_tree_get, txn, out));
out:
	return rc;
}

enum cid_err cid_audit_consistency_proof(struct cid_txn *txn, uint64_t old_size, uint64_t size,
					 struct cid_merkle_proof *out)
{
	enum cid_err rc = CID_OK;

	CID_ENSURE(old_size <= size, CID_ERR_INVALID);
	CID_TRY(within_log(txn, size));
	CID_TRY(tree_reached(txn, size));
	CID_TRY(cid_merkle_consistency_proof(old_size, size, audit_tree_get, txn, out));
out:
	return rc;
}

/* ---- building the tree of a store written before it ---- */

struct catch_up {
	uint64_t max;
	uint64_t remaining; /* output */
	struct audit_tree t;
	uint64_t next; /* the seq expected next in the walk */
	uint64_t end;  /* stop before this seq */
};

static enum cid_err catch_up_entry(struct cid_str key, struct cid_str val, void *arg)
{
	struct catch_up *c = arg;
	uint8_t leaf[CID_MERKLE_HASH];
	uint64_t seq;
	enum cid_err rc;

	if (c->next >= c->end)
		return AUDIT_STOP;
	/* a missing entry stops the build: `audit verify` names it */
	if (!audit_seq_key_parse(key, &seq) || seq != c->next)
		return CID_ERR_STORE;
	rc = cid_merkle_leaf_hash(val.ptr, val.len, leaf);
	if (rc == CID_OK)
		rc = cid_merkle_frontier_append(&c->t.f, leaf, node_put, c->t.txn);
	if (rc != CID_OK)
		return rc;
	c->t.grew = true;
	c->next++;
	return CID_OK;
}

/*
 * Empties the tree's database for a tree built from its first leaf: a store
 * of the first layout (see above) drops its nodes and frontier here.
 */
static enum cid_err tree_start(struct cid_txn *txn)
{
	enum cid_err rc = cid_txn_del(txn, CID_DB_META, cid_str_of(OLD_FRONTIER_KEY));

	if (rc != CID_OK && rc != CID_ERR_NOTFOUND)
		return rc;
	return cid_txn_clear(txn, CID_DB_AUDIT_TREE);
}

static enum cid_err catch_up_cb(struct cid_txn *txn, void *arg)
{
	struct catch_up *c = arg;
	enum cid_err rc = CID_OK;
	char hash[CID_AUDIT_HASH_HEX];
	char key[AUDIT_SEQ_HEX + 1];
	uint64_t size;

	CID_TRY(cid_audit_head(txn, &size, hash));
	CID_TRY(audit_tree_open(txn, size, &c->t));
	if (c->t.f.size == 0)
		CID_TRY(tree_start(txn));
	c->t.current = true; /* this transaction extends it, whatever appends do */
	c->next = c->t.f.size;
	c->end = size - c->t.f.size > c->max ? c->t.f.size + c->max : size;
	if (c->next < c->end) {
		audit_seq_key(c->next, key);
		rc = cid_txn_foreach_range(txn, CID_DB_AUDIT, (struct cid_str){NULL, 0},
					   (struct cid_str){key, AUDIT_SEQ_HEX}, false,
					   catch_up_entry, c);
		CID_TRY(rc == AUDIT_STOP ? CID_OK : rc);
		CID_ENSURE(c->next == c->end, CID_ERR_STORE); /* entries end before the head */
	}
	CID_TRY(audit_tree_close(&c->t));
	c->remaining = size - c->next;
out:
	return rc;
}

enum cid_err cid_audit_tree_catch_up(struct cid_store *s, uint64_t max, uint64_t *remaining)
{
	enum cid_err rc = CID_OK;
	struct catch_up c = {.max = max};
	struct cid_txn *txn = NULL;
	struct cid_merkle_frontier f;
	char hash[CID_AUDIT_HASH_HEX];
	uint64_t size;

	CID_ENSURE(s != NULL && remaining != NULL, CID_ERR_INVALID);
	CID_TRY(cid_store_read_begin(s, &txn));
	CID_TRY(cid_audit_head(txn, &size, hash));
	CID_TRY(audit_tree_frontier(txn, &f));
	cid_store_read_end(txn);
	txn = NULL;
	CID_ENSURE(f.size <= size, CID_ERR_STORE);
	c.remaining = size - f.size;
	/* a current tree, or only asked how far it lags: no write transaction */
	if (c.remaining > 0 && max > 0)
		CID_TRY(cid_store_update(s, catch_up_cb, &c));
	*remaining = c.remaining;
out:
	cid_store_read_end(txn);
	return rc;
}

/* ---- reading nodes in order (verification) ---- */

struct audit_tree_reader {
	struct cid_txn *txn;
	uint64_t first; /* the place (audit_tree_place) of hash[0] */
	size_t n;	/* the nodes of places first..first+n-1, each well formed */
	uint8_t hash[AUDIT_TREE_RUN][CID_MERKLE_HASH];
};

enum cid_err audit_tree_reader_new(struct cid_txn *txn, struct audit_tree_reader **out)
{
	*out = calloc(1, sizeof(**out));
	if (*out == NULL)
		return CID_ERR_NOMEM;
	(*out)->txn = txn;
	return CID_OK;
}

void audit_tree_reader_free(struct audit_tree_reader *r)
{
	free(r);
}

static enum cid_err run_node(struct cid_str key, struct cid_str val, void *arg)
{
	struct audit_tree_reader *r = arg;
	uint64_t place = 0;

	if (key.len != AUDIT_TREE_KEY || val.len != CID_MERKLE_HASH)
		return AUDIT_STOP; /* damage: audit_tree_get names it */
	for (int i = 0; i < 8; i++)
		place = place << 8 | (uint8_t)key.ptr[i];
	if (place != r->first + r->n)
		return AUDIT_STOP; /* a gap: the node after it is read alone */
	memcpy(r->hash[r->n++], val.ptr, CID_MERKLE_HASH);
	return r->n == AUDIT_TREE_RUN ? AUDIT_STOP : CID_OK;
}

enum cid_err audit_tree_read(struct audit_tree_reader *r, unsigned level, uint64_t index,
			     uint8_t out[CID_MERKLE_HASH])
{
	uint64_t place = audit_tree_place(level, index);
	char key[AUDIT_TREE_KEY];
	enum cid_err rc;

	if (place < r->first || place - r->first >= r->n) {
		/* one cursor walk reads the run of nodes from place on */
		r->first = place;
		r->n = 0;
		audit_tree_key(level, index, key);
		rc = cid_txn_foreach_range(r->txn, CID_DB_AUDIT_TREE, (struct cid_str){NULL, 0},
					   (struct cid_str){key, AUDIT_TREE_KEY}, false, run_node,
					   r);
		if (rc != CID_OK && rc != AUDIT_STOP)
			return rc;
		if (r->n == 0)
			return audit_tree_get(r->txn, level, index, out);
	}
	memcpy(out, r->hash[place - r->first], CID_MERKLE_HASH);
	return CID_OK;
}
