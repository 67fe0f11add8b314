/*
 * merkle: RFC 9162 §2 trees from node reads, proofs and the frontier.
 *
 * The RFC defines the tree recursively: MTH(D[lo:hi]) splits at the largest
 * power of two k below hi - lo. Every subtree that recursion meets starts at
 * a multiple of its own largest power of two, so its left child is a perfect,
 * aligned subtree (one stored node) and only the right edge of the whole
 * tree is ragged; a ragged range is the fold of the perfect subtrees its
 * size's bits give. Proof generation walks the recursion top down as a loop
 * and reverses what it collected, so the output is in the RFC's bottom-up
 * order. Verification follows RFC 9162 §2.1.3.2 and §2.1.4.2 step by step;
 * the hashes compared are public, so plain memcmp is fine.
 */
#include "merkle.h"

#include "crypto.h"

#include <openssl/sha.h>
#include <stdbool.h>
#include <string.h>

/* The largest power of two strictly below n (n >= 2). */
static uint64_t split_point(uint64_t n)
{
	uint64_t k = 1;

	while (k << 1 < n)
		k <<= 1;
	return k;
}

static unsigned lowest_bit(uint64_t n)
{
	return (unsigned)__builtin_ctzll(n);
}

static unsigned highest_bit(uint64_t n)
{
	return 63u - (unsigned)__builtin_clzll(n);
}

enum cid_err cid_merkle_leaf_hash(const void *entry, size_t n, uint8_t out[CID_MERKLE_HASH])
{
	static const unsigned char prefix = 0x00;
	SHA256_CTX c;

	/*
	 * The low-level interface, as cid_sha256: no context to allocate and no
	 * provider fetch per leaf (a verification hashes millions), and it
	 * cannot fail.
	 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
	SHA256_Init(&c);
	SHA256_Update(&c, &prefix, 1);
	SHA256_Update(&c, entry, n);
	SHA256_Final(out, &c);
#pragma GCC diagnostic pop
	return CID_OK;
}

void cid_merkle_node_hash(const uint8_t left[CID_MERKLE_HASH], const uint8_t right[CID_MERKLE_HASH],
			  uint8_t out[CID_MERKLE_HASH])
{
	uint8_t buf[1 + 2 * CID_MERKLE_HASH];

	buf[0] = 0x01;
	memcpy(buf + 1, left, CID_MERKLE_HASH);
	memcpy(buf + 1 + CID_MERKLE_HASH, right, CID_MERKLE_HASH);
	cid_sha256(buf, sizeof(buf), out);
}

void cid_merkle_empty_root(uint8_t out[CID_MERKLE_HASH])
{
	cid_sha256("", 0, out);
}

/*
 * MTH(D[lo:hi]) for a range the RFC recursion can meet (lo < hi, lo a
 * multiple of the largest power of two in hi - lo): the perfect subtrees
 * the bits of hi - lo give, from the left, folded from the right.
 */
static enum cid_err range_hash(cid_merkle_get_fn get, void *arg, uint64_t lo, uint64_t hi,
			       uint8_t out[CID_MERKLE_HASH])
{
	uint8_t parts[64][CID_MERKLE_HASH];
	size_t n = 0;
	uint64_t at = lo;
	uint64_t rest = hi - lo;
	enum cid_err rc;

	while (rest != 0) {
		unsigned level = highest_bit(rest);

		rc = get(arg, level, at >> level, parts[n]);
		if (rc != CID_OK)
			return rc;
		n++;
		at += (uint64_t)1 << level;
		rest -= (uint64_t)1 << level;
	}
	while (n > 1) {
		cid_merkle_node_hash(parts[n - 2], parts[n - 1], parts[n - 2]);
		n--;
	}
	memcpy(out, parts[0], CID_MERKLE_HASH);
	return CID_OK;
}

enum cid_err cid_merkle_root(uint64_t size, cid_merkle_get_fn get, void *arg,
			     uint8_t root[CID_MERKLE_HASH])
{
	if (size > CID_MERKLE_MAX_SIZE)
		return CID_ERR_INVALID;
	if (size == 0) {
		cid_merkle_empty_root(root);
		return CID_OK;
	}
	return range_hash(get, arg, 0, size, root);
}

/*
 * Writes the p->len hashes of p to out in reverse: generation collects them
 * top down, the RFC lists them bottom up. Only what is used is copied.
 */
static void reverse_into(const struct cid_merkle_proof *p, struct cid_merkle_proof *out)
{
	for (size_t i = 0; i < p->len; i++)
		memcpy(out->hash[i], p->hash[p->len - 1 - i], CID_MERKLE_HASH);
	out->len = p->len;
}

enum cid_err cid_merkle_inclusion_proof(uint64_t index, uint64_t size, cid_merkle_get_fn get,
					void *arg, struct cid_merkle_proof *out)
{
	struct cid_merkle_proof p;
	uint64_t lo = 0;
	uint64_t hi = size;
	enum cid_err rc = CID_OK;

	p.len = 0;
	CID_ENSURE(size <= CID_MERKLE_MAX_SIZE && index < size, CID_ERR_INVALID);
	/* PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n])  or  PATH(m - k, D[k:n]) : MTH(D[0:k]) */
	while (hi - lo > 1) {
		uint64_t k = split_point(hi - lo);

		if (index < lo + k) {
			CID_TRY(range_hash(get, arg, lo + k, hi, p.hash[p.len]));
			hi = lo + k;
		} else {
			CID_TRY(range_hash(get, arg, lo, lo + k, p.hash[p.len]));
			lo += k;
		}
		p.len++;
	}
	reverse_into(&p, out);
out:
	return rc;
}

enum cid_err cid_merkle_consistency_proof(uint64_t old_size, uint64_t size, cid_merkle_get_fn get,
					  void *arg, struct cid_merkle_proof *out)
{
	struct cid_merkle_proof p;
	uint64_t lo = 0;
	uint64_t hi = size;
	bool whole = true; /* SUBPROOF's b: the subtree is a prefix the verifier already has */
	enum cid_err rc = CID_OK;

	p.len = 0;
	CID_ENSURE(size <= CID_MERKLE_MAX_SIZE && old_size <= size, CID_ERR_INVALID);
	if (old_size == 0 || old_size == size)
		goto done;
	/*
	 * SUBPROOF(m, D[n], b): for m = n, {} if b else {MTH(D[n])}; else with k
	 * the split, m <= k gives SUBPROOF(m, D[0:k], b) : MTH(D[k:n]) and m > k
	 * gives SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k]).
	 */
	for (;;) {
		uint64_t k;

		if (old_size == hi) {
			if (!whole) {
				CID_TRY(range_hash(get, arg, lo, hi, p.hash[p.len]));
				p.len++;
			}
			break;
		}
		k = split_point(hi - lo);
		if (old_size <= lo + k) {
			CID_TRY(range_hash(get, arg, lo + k, hi, p.hash[p.len]));
			hi = lo + k;
		} else {
			CID_TRY(range_hash(get, arg, lo, lo + k, p.hash[p.len]));
			lo += k;
			whole = false;
		}
		p.len++;
	}
done:
	reverse_into(&p, out);
out:
	return rc;
}

enum cid_err cid_merkle_verify_inclusion(uint64_t index, uint64_t size,
					 const uint8_t leaf[CID_MERKLE_HASH],
					 const struct cid_merkle_proof *proof,
					 const uint8_t root[CID_MERKLE_HASH])
{
	uint8_t r[CID_MERKLE_HASH];
	uint64_t fn, sn;

	/*= RFC 9162 §2.1.3.2
	 *# 1. Compare leaf_index from the inclusion_proof_v2 structure against
	 *# tree_size. If leaf_index is greater than or equal to tree_size, then
	 *# fail the proof verification. */
	if (size > CID_MERKLE_MAX_SIZE || index >= size || proof->len > CID_MERKLE_MAX_PROOF)
		return CID_ERR_INVALID;
	fn = index;
	sn = size - 1;
	memcpy(r, leaf, CID_MERKLE_HASH);
	for (size_t i = 0; i < proof->len; i++) {
		const uint8_t *p = proof->hash[i];

		if (sn == 0)
			return CID_ERR_DENIED;
		if ((fn & 1) != 0 || fn == sn) {
			cid_merkle_node_hash(p, r, r);
			if ((fn & 1) == 0)
				while ((fn & 1) == 0 && fn != 0) {
					fn >>= 1;
					sn >>= 1;
				}
		} else {
			cid_merkle_node_hash(r, p, r);
		}
		fn >>= 1;
		sn >>= 1;
	}
	/*# 5. Compare sn to 0. Compare r against the root_hash. If sn is equal
	 *# to 0 and r and the root_hash are equal, then the log has proven the
	 *# inclusion of hash. Otherwise, fail the proof verification. */
	if (sn != 0 || memcmp(r, root, CID_MERKLE_HASH) != 0)
		return CID_ERR_DENIED;
	return CID_OK;
}

/* The consistency checks of RFC 9162 §2.1.4.2 for 0 < old_size < size. */
static enum cid_err verify_consistency_path(uint64_t old_size, uint64_t size,
					    const uint8_t old_root[CID_MERKLE_HASH],
					    const uint8_t root[CID_MERKLE_HASH],
					    const struct cid_merkle_proof *proof)
{
	uint8_t fr[CID_MERKLE_HASH], sr[CID_MERKLE_HASH];
	const uint8_t *first;
	size_t i = 0;
	uint64_t fn, sn;

	/*# 1. If consistency_path is an empty array, stop and fail the proof
	 *# verification. */
	if (proof->len == 0)
		return CID_ERR_DENIED;
	/*# 2. If first is an exact power of 2, then prepend first_hash to the
	 *# consistency_path array. */
	if ((old_size & (old_size - 1)) == 0) {
		first = old_root;
	} else {
		first = proof->hash[0];
		i = 1;
	}
	/*# 3. Set fn to first - 1 and sn to second - 1.
	 *# 4. If LSB(fn) is set, then right-shift both fn and sn equally until
	 *# LSB(fn) is not set. */
	fn = old_size - 1;
	sn = size - 1;
	while ((fn & 1) != 0) {
		fn >>= 1;
		sn >>= 1;
	}
	/*# 5. Set both fr and sr to the first value in the consistency_path array. */
	memcpy(fr, first, CID_MERKLE_HASH);
	memcpy(sr, first, CID_MERKLE_HASH);
	/*# 6. For each subsequent value c in the consistency_path array: */
	for (; i < proof->len; i++) {
		const uint8_t *c = proof->hash[i];

		if (sn == 0)
			return CID_ERR_DENIED;
		if ((fn & 1) != 0 || fn == sn) {
			cid_merkle_node_hash(c, fr, fr);
			cid_merkle_node_hash(c, sr, sr);
			while ((fn & 1) == 0 && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else {
			cid_merkle_node_hash(sr, c, sr);
		}
		fn >>= 1;
		sn >>= 1;
	}
	/*# 7. ... verify that the fr calculated is equal to the first_hash
	 *# supplied, that the sr calculated is equal to the second_hash
	 *# supplied, and that sn is 0. */
	if (sn != 0 || memcmp(fr, old_root, CID_MERKLE_HASH) != 0 ||
	    memcmp(sr, root, CID_MERKLE_HASH) != 0)
		return CID_ERR_DENIED;
	return CID_OK;
}

enum cid_err cid_merkle_verify_consistency(uint64_t old_size, uint64_t size,
					   const uint8_t old_root[CID_MERKLE_HASH],
					   const uint8_t root[CID_MERKLE_HASH],
					   const struct cid_merkle_proof *proof)
{
	uint8_t empty[CID_MERKLE_HASH];

	if (size > CID_MERKLE_MAX_SIZE || old_size > size || proof->len > CID_MERKLE_MAX_PROOF)
		return CID_ERR_INVALID;
	if (old_size == 0) {
		/* nothing to prove about the new head, unless it is the empty tree too */
		cid_merkle_empty_root(empty);
		if (proof->len != 0 || memcmp(old_root, empty, CID_MERKLE_HASH) != 0 ||
		    (size == 0 && memcmp(root, empty, CID_MERKLE_HASH) != 0))
			return CID_ERR_DENIED;
		return CID_OK;
	}
	if (old_size == size)
		return proof->len == 0 && memcmp(old_root, root, CID_MERKLE_HASH) == 0
			   ? CID_OK
			   : CID_ERR_DENIED;
	return verify_consistency_path(old_size, size, old_root, root, proof);
}

void cid_merkle_frontier_init(struct cid_merkle_frontier *f)
{
	memset(f, 0, sizeof(*f));
}

enum cid_err cid_merkle_frontier_append(struct cid_merkle_frontier *f,
					const uint8_t leaf[CID_MERKLE_HASH], cid_merkle_put_fn put,
					void *arg)
{
	uint8_t h[CID_MERKLE_HASH];
	uint64_t index = f->size;
	unsigned level = 0;
	enum cid_err rc;

	if (f->size >= CID_MERKLE_MAX_SIZE)
		return CID_ERR_TOOBIG;
	memcpy(h, leaf, CID_MERKLE_HASH);
	if (put != NULL && (rc = put(arg, 0, index, h)) != CID_OK)
		return rc;
	/* adding 1 to size carries through its low set bits: each carry is a merge */
	while ((f->size >> level & 1) != 0) {
		cid_merkle_node_hash(f->hash[level], h, h);
		level++;
		index >>= 1;
		if (put != NULL && (rc = put(arg, level, index, h)) != CID_OK)
			return rc;
	}
	memcpy(f->hash[level], h, CID_MERKLE_HASH);
	f->size++;
	return CID_OK;
}

void cid_merkle_frontier_root(const struct cid_merkle_frontier *f, uint8_t root[CID_MERKLE_HASH])
{
	uint64_t rest = f->size;
	unsigned level;

	if (rest == 0) {
		cid_merkle_empty_root(root);
		return;
	}
	/* the smallest subtree is the rightmost: fold leftwards onto it */
	level = lowest_bit(rest);
	memcpy(root, f->hash[level], CID_MERKLE_HASH);
	rest &= rest - 1;
	while (rest != 0) {
		level = lowest_bit(rest);
		cid_merkle_node_hash(f->hash[level], root, root);
		rest &= rest - 1;
	}
}

size_t cid_merkle_frontier_encode(const struct cid_merkle_frontier *f,
				  uint8_t out[CID_MERKLE_FRONTIER_MAX])
{
	size_t o = 8;

	for (unsigned i = 0; i < 8; i++)
		out[i] = (uint8_t)(f->size >> (56 - 8 * i));
	for (unsigned level = 64; level-- > 0;) {
		if ((f->size >> level & 1) == 0)
			continue;
		memcpy(out + o, f->hash[level], CID_MERKLE_HASH);
		o += CID_MERKLE_HASH;
	}
	return o;
}

enum cid_err cid_merkle_frontier_decode(const uint8_t *in, size_t n, struct cid_merkle_frontier *f)
{
	struct cid_merkle_frontier d;
	size_t o = 8;

	if (n < 8)
		return CID_ERR_INVALID;
	memset(&d, 0, sizeof(d));
	for (unsigned i = 0; i < 8; i++)
		d.size = d.size << 8 | in[i];
	if (d.size > CID_MERKLE_MAX_SIZE ||
	    n != 8 + (size_t)__builtin_popcountll(d.size) * CID_MERKLE_HASH)
		return CID_ERR_INVALID;
	for (unsigned level = 64; level-- > 0;) {
		if ((d.size >> level & 1) == 0)
			continue;
		memcpy(d.hash[level], in + o, CID_MERKLE_HASH);
		o += CID_MERKLE_HASH;
	}
	*f = d;
	return CID_OK;
}
