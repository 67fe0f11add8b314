/*
 * audit_tamper: the attacker of the tamper tests. It edits the audit log of a
 * civicid store with plain LMDB calls, as someone with write access to the
 * files would, without going through libauth:
 *
 *   audit_tamper DIR byte SEQ OFFSET   flip the bits of one byte of entry SEQ
 *   audit_tamper DIR delete SEQ        delete entry SEQ
 *   audit_tamper DIR swap A B          exchange the values of entries A and B
 *   audit_tamper DIR truncate SEQ      delete entry SEQ and every later one
 *   audit_tamper DIR insert SEQ        move entries SEQ.. up by one and put a copy
 *                                      of entry SEQ with one byte changed at SEQ
 *   audit_tamper DIR duplicate SEQ     move entries SEQ.. up by one: entry SEQ twice
 *   audit_tamper DIR node LEVEL INDEX  flip a bit of the stored Merkle tree node
 *   audit_tamper DIR count             print the number of entries
 *
 * The head record, the tree and the checkpoints are left as they are (but
 * by node), so the damage is what verification must find. Exit 0 on success, 1 on an LMDB error or
 * a missing entry, 2 on bad usage.
 */
#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_CHARS 16

static int fail(const char *what, int rc)
{
	fprintf(stderr, "audit_tamper: %s: %s\n", what, mdb_strerror(rc));
	return 1;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end = NULL;
	unsigned long long v = strtoull(s, &end, 10);

	if (end == s || *end != '\0')
		return -1;
	*out = (uint64_t)v;
	return 0;
}

/* The key of entry seq: 16 lowercase hex digits (libauth/privacy/audit.h). */
static MDB_val key_of(uint64_t seq, char buf[KEY_CHARS + 1])
{
	snprintf(buf, KEY_CHARS + 1, "%016llx", (unsigned long long)seq);
	return (MDB_val){.mv_size = KEY_CHARS, .mv_data = buf};
}

/* Copies entry seq into a new buffer; *len its size. NULL if absent. */
static char *get_copy(MDB_txn *txn, MDB_dbi dbi, uint64_t seq, size_t *len)
{
	char kb[KEY_CHARS + 1];
	MDB_val k = key_of(seq, kb);
	MDB_val v;
	char *copy;

	if (mdb_get(txn, dbi, &k, &v) != 0)
		return NULL;
	copy = malloc(v.mv_size);
	if (copy == NULL)
		return NULL;
	memcpy(copy, v.mv_data, v.mv_size);
	*len = v.mv_size;
	return copy;
}

// NOLINTNEXTLINE(readability-non-const-parameter): MDB_val's mv_data is not const
static int put(MDB_txn *txn, MDB_dbi dbi, uint64_t seq, char *val, size_t len)
{
	char kb[KEY_CHARS + 1];
	MDB_val k = key_of(seq, kb);
	MDB_val v = {.mv_size = len, .mv_data = val};

	return mdb_put(txn, dbi, &k, &v, 0);
}

static int flip_byte(MDB_txn *txn, MDB_dbi dbi, uint64_t seq, uint64_t offset)
{
	size_t len = 0;
	char *val = get_copy(txn, dbi, seq, &len);
	int rc;

	if (val == NULL || offset >= len) {
		free(val);
		fprintf(stderr, "audit_tamper: no entry %llu or offset past its end\n",
			(unsigned long long)seq);
		return -1;
	}
	/* a different printable character, so the entry may still parse */
	val[offset] = val[offset] == 'a' ? 'b' : 'a';
	rc = put(txn, dbi, seq, val, len);
	free(val);
	return rc;
}

static int swap(MDB_txn *txn, MDB_dbi dbi, uint64_t a, uint64_t b)
{
	size_t la = 0, lb = 0;
	char *va = get_copy(txn, dbi, a, &la);
	char *vb = get_copy(txn, dbi, b, &lb);
	int rc = -1;

	if (va != NULL && vb != NULL) {
		rc = put(txn, dbi, a, vb, lb);
		if (rc == 0)
			rc = put(txn, dbi, b, va, la);
	}
	free(va);
	free(vb);
	return rc;
}

static int del(MDB_txn *txn, MDB_dbi dbi, uint64_t seq)
{
	char kb[KEY_CHARS + 1];
	MDB_val k = key_of(seq, kb);

	return mdb_del(txn, dbi, &k, NULL);
}

static int truncate_from(MDB_txn *txn, MDB_dbi dbi, uint64_t seq)
{
	int rc = del(txn, dbi, seq);

	while (rc == 0)
		rc = del(txn, dbi, ++seq);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Entries seq.. move up by one; with changed, entry seq is a copy of itself with a byte flipped. */
static int shift_up(MDB_txn *txn, MDB_dbi dbi, uint64_t seq, int changed)
{
	uint64_t last = seq;
	size_t len = 0;
	char *val;
	int rc = 0;

	while ((val = get_copy(txn, dbi, last + 1, &len)) != NULL) {
		free(val);
		last++;
	}
	for (uint64_t s = last + 1; s > seq && rc == 0; s--) {
		val = get_copy(txn, dbi, s - 1, &len);
		if (val == NULL)
			return -1;
		rc = put(txn, dbi, s, val, len);
		free(val);
	}
	if (rc == 0 && changed)
		rc = flip_byte(txn, dbi, seq, 14);
	return rc;
}

/*
 * Flips one bit of the stored tree node (level, index). Its key is its place
 * in post-order, big-endian: 2j - popcount(j) + level, j its last leaf.
 */
static int node_flip(MDB_txn *txn, uint64_t level, uint64_t index)
{
	MDB_dbi tree;
	unsigned char k[8];
	unsigned char h[32];
	MDB_val key = {.mv_size = 8, .mv_data = k};
	MDB_val v;
	uint64_t last = ((index + 1) << level) - 1;
	uint64_t place = 2 * last - (uint64_t)__builtin_popcountll(last) + level;
	int rc = mdb_dbi_open(txn, "audit_tree", 0, &tree);

	for (int i = 0; i < 8; i++)
		k[i] = (unsigned char)(place >> (56 - 8 * i));
	if (rc == 0)
		rc = mdb_get(txn, tree, &key, &v);
	if (rc != 0 || v.mv_size != sizeof(h))
		return rc != 0 ? rc : -1;
	memcpy(h, v.mv_data, sizeof(h));
	h[7] ^= 1;
	v = (MDB_val){.mv_size = sizeof(h), .mv_data = h};
	return mdb_put(txn, tree, &key, &v, 0);
}

static int count(MDB_txn *txn, MDB_dbi dbi)
{
	MDB_stat st;
	int rc = mdb_stat(txn, dbi, &st);

	if (rc == 0)
		printf("%zu\n", st.ms_entries);
	return rc;
}

int main(int argc, char **argv)
{
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi dbi;
	uint64_t a = 0, b = 0;
	const char *op;
	int rc;

	if (argc < 3)
		return fprintf(stderr,
			       "usage: audit_tamper DIR "
			       "byte|delete|swap|truncate|insert|duplicate|node|count ...\n"),
		       2;
	op = argv[2];
	if ((argc > 3 && parse_u64(argv[3], &a) != 0) || (argc > 4 && parse_u64(argv[4], &b) != 0))
		return fprintf(stderr, "audit_tamper: numbers expected\n"), 2;
	if ((rc = mdb_env_create(&env)) != 0 || (rc = mdb_env_set_maxdbs(env, 64)) != 0 ||
	    (rc = mdb_env_open(env, argv[1], 0, 0600)) != 0)
		return fail("open", rc);
	if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0 ||
	    (rc = mdb_dbi_open(txn, "audit", 0, &dbi)) != 0)
		return fail("audit database", rc);
	if (strcmp(op, "byte") == 0 && argc == 5)
		rc = flip_byte(txn, dbi, a, b);
	else if (strcmp(op, "delete") == 0 && argc == 4)
		rc = del(txn, dbi, a);
	else if (strcmp(op, "swap") == 0 && argc == 5)
		rc = swap(txn, dbi, a, b);
	else if (strcmp(op, "truncate") == 0 && argc == 4)
		rc = truncate_from(txn, dbi, a);
	else if (strcmp(op, "insert") == 0 && argc == 4)
		rc = shift_up(txn, dbi, a, 1);
	else if (strcmp(op, "duplicate") == 0 && argc == 4)
		rc = shift_up(txn, dbi, a, 0);
	else if (strcmp(op, "node") == 0 && argc == 5)
		rc = node_flip(txn, a, b);
	else if (strcmp(op, "count") == 0 && argc == 3)
		rc = count(txn, dbi);
	else
		return fprintf(stderr, "audit_tamper: bad operation or arguments\n"), 2;
	if (rc != 0) {
		mdb_txn_abort(txn);
		mdb_env_close(env);
		return rc < 0 ? 1 : fail(op, rc);
	}
	rc = mdb_txn_commit(txn);
	mdb_env_close(env);
	return rc == 0 ? 0 : fail("commit", rc);
}
