/*
 * merkle: the Merkle tree of a transparency log (RFC 9162 §2, as RFC 6962):
 * tree heads, inclusion and consistency proofs, and the compact range
 * ("frontier") a log keeps to extend its tree one leaf at a time.
 *
 * Everything works on leaf hashes (SHA-256(0x00 || entry)); interior nodes
 * are SHA-256(0x01 || left || right), the empty tree's head SHA-256("").
 * A node is named by (level, index): the perfect subtree of 2^level leaves
 * starting at leaf index << level. Proofs are generated from such nodes,
 * read through a callback, so a log that stores every perfect subtree as it
 * completes (which cid_merkle_frontier_append reports) serves any proof for
 * any size it has reached with O(log n) reads and no leaf scan.
 *
 * No I/O, no allocation, no globals; every function is thread-safe.
 */
#ifndef CID_MERKLE_H
#define CID_MERKLE_H

#include "err.h"

#include <stddef.h>
#include <stdint.h>

#define CID_MERKLE_HASH 32
/* The largest tree size handled (2^63 - 1): sizes travel as decimal text and JSON integers. */
#define CID_MERKLE_MAX_SIZE ((uint64_t)INT64_MAX)
/* The longest proof for any size up to CID_MERKLE_MAX_SIZE. */
#define CID_MERKLE_MAX_PROOF 64
/* Bytes of an encoded frontier at most: the size and one hash per set bit of it. */
#define CID_MERKLE_FRONTIER_MAX (8 + 63 * CID_MERKLE_HASH)

/* A proof: hashes in the order RFC 9162 gives them (bottom up). */
struct cid_merkle_proof {
	size_t len;
	uint8_t hash[CID_MERKLE_MAX_PROOF][CID_MERKLE_HASH];
};

/*
 * The compact range [0, size) of a tree: one perfect subtree per set bit of
 * size, hash[l] holding the subtree of 2^l leaves when bit l is set (the
 * other slots are unused). All a log needs to append a leaf and know its
 * new root; it fits in CID_MERKLE_FRONTIER_MAX bytes when encoded.
 */
struct cid_merkle_frontier {
	uint64_t size;
	uint8_t hash[64][CID_MERKLE_HASH];
};

/* The leaf hash of an entry: SHA-256(0x00 || entry). Always CID_OK: nothing to allocate. */
CID_MUST_CHECK enum cid_err cid_merkle_leaf_hash(const void *entry, size_t n,
						 uint8_t out[CID_MERKLE_HASH]);

/* An interior node: SHA-256(0x01 || left || right). out may alias left or right. */
void cid_merkle_node_hash(const uint8_t left[CID_MERKLE_HASH], const uint8_t right[CID_MERKLE_HASH],
			  uint8_t out[CID_MERKLE_HASH]);

/* The head of the empty tree: SHA-256 of no bytes. */
void cid_merkle_empty_root(uint8_t out[CID_MERKLE_HASH]);

/*
 * Reads node (level, index) of a tree into out: the hash of the perfect
 * subtree of leaves [index << level, (index + 1) << level); level 0 is the
 * leaf hash of entry index. Generation asks only for nodes wholly inside the
 * requested tree size. Returns CID_OK or an error, which the caller passes on.
 */
typedef enum cid_err (*cid_merkle_get_fn)(void *arg, unsigned level, uint64_t index,
					  uint8_t out[CID_MERKLE_HASH]);

/* Receives node (level, index) of a tree that has just become complete. */
typedef enum cid_err (*cid_merkle_put_fn)(void *arg, unsigned level, uint64_t index,
					  const uint8_t hash[CID_MERKLE_HASH]);

/*
 * The tree head MTH(D[0:size]) from its nodes: popcount(size) reads (none
 * for size 0).
 * Errors: CID_ERR_INVALID (size over CID_MERKLE_MAX_SIZE), get's error.
 */
CID_MUST_CHECK enum cid_err cid_merkle_root(uint64_t size, cid_merkle_get_fn get, void *arg,
					    uint8_t root[CID_MERKLE_HASH]);

/*
 * The inclusion proof PATH(index, D[0:size]) (RFC 9162 §2.1.3.1) into *out.
 * At most 2·⌈log2 size⌉ reads: one per perfect sibling, and the few perfect
 * subtrees of the one sibling on the tree's ragged right edge.
 * Errors: CID_ERR_INVALID (index >= size, or size over CID_MERKLE_MAX_SIZE),
 * get's error. *out is written only on success.
 */
CID_MUST_CHECK enum cid_err cid_merkle_inclusion_proof(uint64_t index, uint64_t size,
						       cid_merkle_get_fn get, void *arg,
						       struct cid_merkle_proof *out);

/*
 * The consistency proof PROOF(old_size, D[0:size]) (RFC 9162 §2.1.4.1) into
 * *out; empty when old_size is 0 or equals size (nothing to prove). At most
 * 2·⌈log2 size⌉ + 1 reads.
 * Errors: CID_ERR_INVALID (old_size > size, or size over CID_MERKLE_MAX_SIZE),
 * get's error. *out is written only on success.
 */
CID_MUST_CHECK enum cid_err cid_merkle_consistency_proof(uint64_t old_size, uint64_t size,
							 cid_merkle_get_fn get, void *arg,
							 struct cid_merkle_proof *out);

/*
 * Checks that leaf (a leaf hash) is entry index of the tree of size whose
 * head is root, by the algorithm of RFC 9162 §2.1.3.2.
 * Errors: CID_ERR_INVALID (index >= size, size over CID_MERKLE_MAX_SIZE, a
 * proof longer than CID_MERKLE_MAX_PROOF), CID_ERR_DENIED (the proof does not
 * prove it: a wrong hash, length, leaf or root).
 */
CID_MUST_CHECK enum cid_err cid_merkle_verify_inclusion(uint64_t index, uint64_t size,
							const uint8_t leaf[CID_MERKLE_HASH],
							const struct cid_merkle_proof *proof,
							const uint8_t root[CID_MERKLE_HASH]);

/*
 * Checks that the tree of old_size with head old_root is a prefix of the tree
 * of size with head root (RFC 9162 §2.1.4.2). Equal sizes need equal heads
 * and an empty proof; old_size 0 needs the empty tree's head and an empty
 * proof (the empty tree is a prefix of every tree).
 * Errors: CID_ERR_INVALID (old_size > size, size over CID_MERKLE_MAX_SIZE, a
 * proof longer than CID_MERKLE_MAX_PROOF), CID_ERR_DENIED (not proven).
 */
CID_MUST_CHECK enum cid_err cid_merkle_verify_consistency(uint64_t old_size, uint64_t size,
							  const uint8_t old_root[CID_MERKLE_HASH],
							  const uint8_t root[CID_MERKLE_HASH],
							  const struct cid_merkle_proof *proof);

/* Makes f the frontier of the empty tree. */
void cid_merkle_frontier_init(struct cid_merkle_frontier *f);

/*
 * Appends a leaf hash: the tree grows by one entry. Calls put (when not NULL)
 * for the leaf itself, node (0, size), then for each perfect subtree the leaf
 * completes, lowest first: what a log stores, in the same transaction as the
 * entry, to serve proofs later. O(log n) hashes at worst, O(1) amortised.
 * f changes only on success.
 * Errors: CID_ERR_TOOBIG (the tree has CID_MERKLE_MAX_SIZE leaves), put's error.
 */
CID_MUST_CHECK enum cid_err cid_merkle_frontier_append(struct cid_merkle_frontier *f,
						       const uint8_t leaf[CID_MERKLE_HASH],
						       cid_merkle_put_fn put, void *arg);

/* The head of the tree f describes (the empty tree's head for size 0). */
void cid_merkle_frontier_root(const struct cid_merkle_frontier *f, uint8_t root[CID_MERKLE_HASH]);

/*
 * Encodes f for storage: the size as 8 bytes big-endian, then the hashes of
 * its set bits from the highest level down. Returns the length written to out.
 */
size_t cid_merkle_frontier_encode(const struct cid_merkle_frontier *f,
				  uint8_t out[CID_MERKLE_FRONTIER_MAX]);

/*
 * Decodes what cid_merkle_frontier_encode wrote into *f.
 * Errors: CID_ERR_INVALID (a length that does not match the size, or a size
 * over CID_MERKLE_MAX_SIZE). *f is written only on success.
 */
CID_MUST_CHECK enum cid_err cid_merkle_frontier_decode(const uint8_t *in, size_t n,
						       struct cid_merkle_frontier *f);

#endif
