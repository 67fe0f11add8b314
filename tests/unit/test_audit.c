/*
 * audit: the hash chain on a real LMDB store. Tampering with the store or
 * with an export (table-driven: change, delete, swap, truncate, forge a
 * checkpoint, change the head) is found at the exact first bad seq; group
 * commit shares commits between threads without forking the chain; entries
 * written in a caller's transaction commit or vanish with it; the release
 * hook groups decisions and logs an expired consent once; the views (query
 * filters, provisions, the citizen's slice, CSV) show what they must; and
 * every export is on the record: its audit.exported entry is written before
 * it leaves, and the whole log's export ends with that entry, covered.
 * pthread_create is wrapped (-Wl,--wrap), so that a test can make the
 * log's committer thread fail to start.
 */
#include "audit.h"
#include "audit_int.h"
#include "audit_release.h"
#include "bounds.h"
#include "buf.h"
#include "law.h"
#include "note.h"
#include "pseudonym.h"
#include "str.h"
#include "support.h"

#include <errno.h>
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
#include <unistd.h>

/* pthread_create fails (EAGAIN, as at the thread limit) while this is set */
static bool threads_refused;
/* threads started (or refused) so far */
static unsigned threads_asked;

// NOLINTBEGIN(bugprone-reserved-identifier): ld's --wrap needs these names
int __real_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg);
int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg);

// NOLINTEND(bugprone-reserved-identifier)

int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	threads_asked++;
	if (threads_refused)
		return EAGAIN;
	return __real_pthread_create(t, attr, fn, arg);
}

#define NOW	       1800000000
#define ISS	       "https://id.example"
#define HANAKO	       "0a1b2c3d-0000-4000-8000-000000000001"
#define TARO	       "0a1b2c3d-0000-4000-8000-000000000002"
#define N_CHAIN	       12 /* entries of the tamper fixture; checkpoints at 5 and 10 */
#define ZERO_HASH_TEXT "0000000000000000000000000000000000000000000000000000000000000000"
#define THREADS	       8
#define PER_THRD       50

struct fixture {
	char dir[256];
	struct cid_store *s;
	struct cid_keyset *ks;
	struct cid_audit_trust *trust; /* the store's audit verifier keys */
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
	assert_int_equal(cid_audit_trust_load(f->s, &f->trust), CID_OK);
	assert_int_equal(cid_audit_open(f->s, true, &f->log), CID_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	cid_audit_close(f->log);
	cid_keyset_free(f->ks);
	cid_audit_trust_free(f->trust);
	cid_test_store_close(f->s, f->dir);
	free(f);
	return 0;
}

/* ---- helpers ---- */

static json_t *entry_new(const char *type, const char *citizen, const char *service,
			 const char *attr, int64_t t)
{
	char time[21];
	json_t *e;

	assert_int_equal(cid_audit_time(t, time), CID_OK);
	e = json_pack("{s:s, s:s, s:s, s:s, s:[s], s:s}", "time", time, "type", type, "citizen",
		      citizen, "service", service, "attributes", attr, "actor", "service");
	assert_non_null(e);
	return e;
}

static uint64_t append1(struct cid_audit *log, json_t *e)
{
	uint64_t seq = UINT64_MAX;

	assert_int_equal(cid_audit_append(log, &e, 1, &seq), CID_OK);
	json_decref(e);
	return seq;
}

static struct cid_audit_report verify_store(const struct fixture *f)
{
	struct cid_audit_report rep;

	assert_int_equal(cid_audit_verify_store(f->s, f->ks, NULL, &rep), CID_OK);
	return rep;
}

static char *export_text(struct cid_store *s, size_t *len)
{
	struct cid_txn *txn = NULL;
	char *text = NULL;
	FILE *mem = open_memstream(&text, len);

	assert_non_null(mem);
	assert_int_equal(cid_store_read_begin(s, &txn), CID_OK);
	assert_int_equal(cid_audit_export(txn, mem), CID_OK);
	cid_store_read_end(txn);
	assert_int_equal(fclose(mem), 0);
	return text;
}

/* Verifies an export with opts (NULL: the defaults), the fixture's audit keys trusted. */
static struct cid_audit_report verify_opts(const struct fixture *f, const struct cid_keyset *ks,
					   const char *text, size_t len,
					   const struct cid_audit_verify_opts *opts)
{
	struct cid_audit_report rep;
	struct cid_audit_verify_opts o = {0};
	FILE *in = fmemopen((void *)(uintptr_t)text, len, "r");

	if (opts != NULL)
		o = *opts;
	if (o.trust == NULL)
		o.trust = f->trust;
	assert_non_null(in);
	assert_int_equal(cid_audit_verify_export(in, ks, &o, &rep), CID_OK);
	fclose(in);
	return rep;
}

/* An export must be signed to its end (strict), or an unsigned tail is accepted. */
static const struct cid_audit_verify_opts strict = {0};
static const struct cid_audit_verify_opts accept_tail = {.allow_unsigned_tail = true};

/* Verifies an export accepting an unsigned tail: the chain and its checkpoints only. */
static struct cid_audit_report verify_text(const struct fixture *f, const struct cid_keyset *ks,
					   const char *text, size_t len)
{
	static const struct cid_audit_verify_opts chain_only = {.allow_unsigned_tail = true};

	return verify_opts(f, ks, text, len, &chain_only);
}

/*
 * A legacy checkpoint of the head, as a store from before the signed notes
 * holds them: a JWS of {iss, size, hash of the last entry, time, iat} with
 * the token key, stored as {"jws"}.
 */
struct legacy {
	const struct cid_keyset *ks;
	const char *iss;
	int64_t now;
};

static enum cid_err legacy_cb(struct cid_txn *txn, void *arg)
{
	const struct legacy *l = arg;
	char hash[CID_AUDIT_HASH_HEX];
	char time[21];
	char key[17];
	uint64_t size;
	char *jws = NULL;
	json_t *claims;
	json_t *rec;
	enum cid_err rc;

	assert_int_equal(cid_audit_head(txn, &size, hash), CID_OK);
	assert_int_equal(cid_audit_time(l->now, time), CID_OK);
	claims = json_pack("{s:s, s:I, s:s, s:s, s:I}", "iss", l->iss, "size", (json_int_t)size,
			   "hash", hash, "time", time, "iat", (json_int_t)l->now);
	assert_int_equal(cid_jws_sign(l->ks, "ES256", "civicid-checkpoint+jwt", claims, &jws),
			 CID_OK);
	rec = json_pack("{s:s}", "jws", jws);
	snprintf(key, sizeof(key), "%016llx", (unsigned long long)size);
	rc = cid_txn_put_json(txn, CID_DB_AUDIT_CP, cid_str_of(key), rec, 0);
	json_decref(rec);
	json_decref(claims);
	free(jws);
	return rc;
}

static void legacy_checkpoint(struct fixture *f, int64_t now)
{
	char *iss = NULL;
	struct legacy l = {f->ks, NULL, now};

	assert_int_equal(cid_audit_issuer(f->s, &iss), CID_OK);
	l.iss = iss;
	assert_int_equal(cid_store_update(f->s, legacy_cb, &l), CID_OK);
	free(iss);
}

/* N_CHAIN entries, checkpoints after 5 and 10: signed notes, or legacy JWS ones. */
static void chain_fill_as(struct fixture *f, bool legacy)
{
	for (int i = 0; i < N_CHAIN; i++) {
		assert_int_equal(append1(f->log, entry_new("release.permit", i % 2 ? HANAKO : TARO,
							   "childcare", "family_name", NOW + i)),
				 (uint64_t)i);
		if ((i == 4 || i == 9) && legacy)
			legacy_checkpoint(f, NOW + i);
		else if (i == 4 || i == 9)
			assert_int_equal(cid_audit_checkpoint(f->s, NOW + i, NULL), CID_OK);
	}
}

static void chain_fill(struct fixture *f)
{
	chain_fill_as(f, false);
}

/* Flips one character of the signature of the last signature line of a note. */
static void note_sig_flip(char *note)
{
	char *line = NULL;
	char *sp;

	/* a signature line starts with an em dash (U+2014) and a space */
	for (char *p = strstr(note, "\xe2\x80\x94 "); p != NULL; p = strstr(p + 1, "\xe2\x80\x94 "))
		line = p;
	assert_non_null(line);
	/* cmocka 1.1 does not declare that a failed assertion does not return */
	// NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker): asserted
	sp = strchr(line + 4, ' ');
	assert_non_null(sp);
	sp[10] = sp[10] == 'A' ? 'B' : 'A'; /* past the key id */
}

/* The JSON record text with its "note" member's signature flipped (caller frees). */
static char *note_json_flip(const char *text)
{
	json_t *o = json_loads(text, 0, NULL);
	char *note;
	char *out;

	assert_non_null(o);
	note = strdup(cid_json_str(o, "note"));
	assert_non_null(note);
	note_sig_flip(note);
	json_object_set_new(o, "note", json_string(note));
	out = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	assert_non_null(out);
	free(note);
	json_decref(o);
	return out;
}

/* ---- raw store edits ---- */

enum edit_kind {
	EDIT_BYTE,
	EDIT_DELETE,
	EDIT_SWAP,
	EDIT_TRUNCATE,
	EDIT_CUT,
	EDIT_FORGE_CP,
	EDIT_HEAD,
	EDIT_INSERT,
	EDIT_DUPLICATE,
	EDIT_NODE,
	EDIT_LEAF_GONE,
	EDIT_LEAF_SHORT,
	EDIT_FRONTIER
};

struct edit {
	enum edit_kind kind;
	uint64_t seq; /* entry (or checkpoint size) edited */
	uint64_t other;
};

static void key16(uint64_t seq, char out[17])
{
	snprintf(out, 17, "%016llx", (unsigned long long)seq);
}

/* Copies the value of key in db, NUL-terminated (caller frees). */
static char *raw_get(struct cid_txn *txn, enum cid_db db, const char *key)
{
	struct cid_str v;
	char *copy;

	assert_int_equal(cid_txn_get(txn, db, cid_str_of(key), &v), CID_OK);
	copy = malloc(v.len + 1);
	assert_non_null(copy);
	memcpy(copy, v.ptr, v.len);
	copy[v.len] = '\0';
	return copy;
}

/* Changes one byte of a string value inside the entry: "childcare" -> "chilDcare". */
static void flip_byte(char *text)
{
	// NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker): callers pass an entry
	char *p = strstr(text, "childcare");

	assert_non_null(p);
	p[4] = 'D';
}

static enum cid_err edit_cb(struct cid_txn *txn, void *arg)
{
	const struct edit *e = arg;
	enum cid_err rc = CID_OK;
	char k[17];
	char k2[17];
	char *a = NULL;
	char *b = NULL;
	json_t *rec = NULL;

	key16(e->seq, k);
	switch (e->kind) {
	case EDIT_BYTE:
		a = raw_get(txn, CID_DB_AUDIT, k);
		flip_byte(a);
		rc = cid_txn_put(txn, CID_DB_AUDIT, cid_str_of(k), cid_str_of(a), 0);
		break;
	case EDIT_DELETE: rc = cid_txn_del(txn, CID_DB_AUDIT, cid_str_of(k)); break;
	case EDIT_SWAP:
		key16(e->other, k2);
		a = raw_get(txn, CID_DB_AUDIT, k);
		b = raw_get(txn, CID_DB_AUDIT, k2);
		rc = cid_txn_put(txn, CID_DB_AUDIT, cid_str_of(k), cid_str_of(b), 0);
		if (rc == CID_OK)
			rc = cid_txn_put(txn, CID_DB_AUDIT, cid_str_of(k2), cid_str_of(a), 0);
		break;
	case EDIT_TRUNCATE:
		/* an attacker who also rewinds the head: only the checkpoint remembers */
		for (uint64_t s = e->seq; s < N_CHAIN && rc == CID_OK; s++) {
			key16(s, k2);
			rc = cid_txn_del(txn, CID_DB_AUDIT, cid_str_of(k2));
		}
		key16(e->seq - 1, k2);
		a = raw_get(txn, CID_DB_AUDIT, k2);
		{
			char h[65];
			uint8_t d[32];
			size_t n = strlen(a);
			char *z = malloc(n + 1);

			assert_non_null(z);
			z[0] = '\0';
			memcpy(z + 1, a, n);
			cid_sha256(z, n + 1, d);
			cid_hex(d, 32, h);
			free(z);
			rec = json_pack("{s:I, s:s}", "size", (json_int_t)e->seq, "hash", h);
		}
		if (rc == CID_OK)
			rc = cid_txn_put_json(txn, CID_DB_META, cid_str_of("audit_head"), rec, 0);
		break;
	case EDIT_CUT:
		/* the tail from seq deleted, the head left as it was */
		for (uint64_t s = e->seq; s < N_CHAIN && rc == CID_OK; s++) {
			key16(s, k2);
			rc = cid_txn_del(txn, CID_DB_AUDIT, cid_str_of(k2));
		}
		break;
	case EDIT_FORGE_CP:
		/* flip a character of the signature of checkpoint seq */
		b = raw_get(txn, CID_DB_AUDIT_CP, k);
		a = note_json_flip(b);
		rc = cid_txn_put(txn, CID_DB_AUDIT_CP, cid_str_of(k), cid_str_of(a), 0);
		break;
	case EDIT_INSERT:
	case EDIT_DUPLICATE:
		/* the entries from seq move up by one; an insert puts a changed copy at seq */
		for (uint64_t s = N_CHAIN; s > e->seq && rc == CID_OK; s--) {
			free(a);
			key16(s - 1, k2);
			a = raw_get(txn, CID_DB_AUDIT, k2);
			key16(s, k2);
			rc = cid_txn_put(txn, CID_DB_AUDIT, cid_str_of(k2), cid_str_of(a), 0);
		}
		if (e->kind == EDIT_INSERT && rc == CID_OK) {
			flip_byte(a);
			rc = cid_txn_put(txn, CID_DB_AUDIT, cid_str_of(k), cid_str_of(a), 0);
		}
		break;
	case EDIT_NODE: {
		/* a byte of the stored tree node (level 1, index seq / 2) */
		char node[AUDIT_TREE_KEY];
		struct cid_str v;
		char h[32];

		audit_tree_key(1, e->seq / 2, node);
		rc =
		    cid_txn_get(txn, CID_DB_AUDIT_TREE, (struct cid_str){node, AUDIT_TREE_KEY}, &v);
		assert_int_equal(rc, CID_OK);
		assert_int_equal(v.len, 32);
		memcpy(h, v.ptr, 32);
		h[7] ^= 1;
		rc = cid_txn_put(txn, CID_DB_AUDIT_TREE, (struct cid_str){node, AUDIT_TREE_KEY},
				 (struct cid_str){h, 32}, 0);
		break;
	}
	case EDIT_LEAF_GONE:
	case EDIT_LEAF_SHORT: {
		/* the stored leaf node of entry seq (level 0), deleted or cut short */
		char node[AUDIT_TREE_KEY];
		struct cid_str v;
		char h[32];

		audit_tree_key(0, e->seq, node);
		rc =
		    cid_txn_get(txn, CID_DB_AUDIT_TREE, (struct cid_str){node, AUDIT_TREE_KEY}, &v);
		assert_int_equal(rc, CID_OK);
		memcpy(h, v.ptr, 32);
		rc = e->kind == EDIT_LEAF_GONE ? cid_txn_del(txn, CID_DB_AUDIT_TREE,
							     (struct cid_str){node, AUDIT_TREE_KEY})
					       : cid_txn_put(txn, CID_DB_AUDIT_TREE,
							     (struct cid_str){node, AUDIT_TREE_KEY},
							     (struct cid_str){h, 31}, 0);
		break;
	}
	case EDIT_FRONTIER: {
		struct cid_str v;
		char buf[8 + 64 * 32];

		rc = cid_txn_get(txn, CID_DB_META, cid_str_of("audit_tree_frontier"), &v);
		assert_int_equal(rc, CID_OK);
		assert_true(v.len <= sizeof(buf) && v.len > 8);
		memcpy(buf, v.ptr, v.len);
		buf[v.len - 1] ^= 1;
		rc = cid_txn_put(txn, CID_DB_META, cid_str_of("audit_tree_frontier"),
				 (struct cid_str){buf, v.len}, 0);
		break;
	}
	case EDIT_HEAD:
		rec = json_pack("{s:I, s:s}", "size", (json_int_t)N_CHAIN, "hash",
				"1111111111111111111111111111111111111111111111111111111111111111");
		rc = cid_txn_put_json(txn, CID_DB_META, cid_str_of("audit_head"), rec, 0);
		break;
	}
	free(a);
	free(b);
	json_decref(rec);
	return rc;
}

static const struct {
	const char *name;
	struct edit edit;
	uint64_t bad_seq;
} store_tampers[] = {
    {"changed entry 3", {EDIT_BYTE, 3, 0}, 3},
    {"changed entry 0", {EDIT_BYTE, 0, 0}, 0},
    {"changed last entry (head catches it)", {EDIT_BYTE, N_CHAIN - 1, 0}, N_CHAIN - 1},
    {"changed entry under checkpoint 10", {EDIT_BYTE, 9, 0}, 9},
    {"deleted entry 6", {EDIT_DELETE, 6, 0}, 6},
    {"deleted last entry", {EDIT_DELETE, N_CHAIN - 1, 0}, N_CHAIN - 1},
    {"swapped 2 and 7", {EDIT_SWAP, 2, 7}, 2},
    {"swapped 7 and 8", {EDIT_SWAP, 7, 8}, 7},
    {"truncated below checkpoint 10 with head rewound", {EDIT_TRUNCATE, 8, 0}, 8},
    {"truncated after checkpoint 10 (head catches it)", {EDIT_CUT, 10, 0}, 10},
    {"forged checkpoint 5", {EDIT_FORGE_CP, 5, 0}, 4},
    {"forged checkpoint 10", {EDIT_FORGE_CP, 10, 0}, 9},
    {"changed head hash", {EDIT_HEAD, 0, 0}, N_CHAIN - 1},
    {"a changed copy of entry 3 inserted before it", {EDIT_INSERT, 3, 0}, 3},
    {"entry 6 duplicated", {EDIT_DUPLICATE, 6, 0}, 7},
    {"entry 11 duplicated at the end", {EDIT_DUPLICATE, 11, 0}, 12},
    {"a stored tree node changed (proofs would fail)", {EDIT_NODE, 4, 0}, 5},
    /* verification reads the stored nodes in runs: a gap or a bad node inside a run is found */
    {"a stored leaf node deleted", {EDIT_LEAF_GONE, 4, 0}, 4},
    {"a stored leaf node cut short", {EDIT_LEAF_SHORT, 6, 0}, 6},
    {"the stored frontier changed (checkpoints would fail)", {EDIT_FRONTIER, 0, 0}, N_CHAIN - 1},
};

static void test_untouched_log_verifies_with_counts(void **state)
{
	struct fixture *f = *state;
	struct cid_audit_report rep;
	char *text;
	size_t len = 0;

	rep = verify_store(f);
	assert_true(rep.ok);
	assert_int_equal(rep.entries, 0);
	assert_false(rep.unsigned_tail);
	chain_fill(f);
	rep = verify_store(f);
	assert_true(rep.ok);
	assert_int_equal(rep.entries, N_CHAIN);
	assert_int_equal(rep.checkpoints, 2);
	assert_int_equal(rep.covered, 10);
	/* the live log's tail is reported, not failed */
	assert_true(rep.unsigned_tail);
	assert_int_equal(rep.legacy, 0);
	assert_string_equal(rep.origin, "id.example/audit");

	text = export_text(f->s, &len);
	rep = verify_text(f, f->ks, text, len);
	assert_true(rep.ok);
	assert_int_equal(rep.entries, N_CHAIN);
	assert_int_equal(rep.checkpoints, 2);
	assert_int_equal(rep.covered, 10); /* the last two are not signed yet */
	assert_true(rep.unsigned_tail);
	/* an export is made signed to its end: this one is not */
	rep = verify_opts(f, f->ks, text, len, &strict);
	assert_false(rep.ok);
	assert_true(rep.unsigned_tail);
	assert_int_equal(rep.bad_seq, 10);
	free(text);

	assert_int_equal(cid_audit_checkpoint(f->s, NOW + 60, NULL), CID_OK);
	rep = verify_store(f);
	assert_true(rep.ok);
	assert_false(rep.unsigned_tail);
	assert_int_equal(rep.covered, N_CHAIN);
}

static void test_store_tampering_is_found_at_first_bad_seq(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(store_tampers) / sizeof(store_tampers[0]); i++) {
		struct fixture *f = NULL;
		struct cid_audit_report rep;
		struct edit ed = store_tampers[i].edit;

		assert_int_equal(setup((void **)&f), 0);
		chain_fill(f);
		assert_int_equal(cid_store_update(f->s, edit_cb, &ed), CID_OK);
		rep = verify_store(f);
		if (rep.ok || rep.bad_seq != store_tampers[i].bad_seq)
			fail_msg("%s: ok %d bad_seq %llu (want %llu): %s", store_tampers[i].name,
				 rep.ok, (unsigned long long)rep.bad_seq,
				 (unsigned long long)store_tampers[i].bad_seq, rep.reason);
		assert_true(rep.reason[0] != '\0');
		assert_int_equal(teardown((void **)&f), 0);
	}
}

/* ---- export edits: on the lines ---- */

enum line_edit {
	LINE_BYTE,
	LINE_DELETE,
	LINE_SWAP,
	LINE_TRUNCATE,
	LINE_FORGE_CP,
	LINE_JUNK,
	LINE_ADD,
	LINE_INSERT,
	LINE_DUPLICATE,
	LINE_OTHER_KEY
};

/* Line numbers of the export of chain_fill: entries 0-4, cp5, 5-9, cp10, 10, 11. */
static size_t line_of_seq(uint64_t seq)
{
	return (size_t)seq + (seq >= 5) + (seq >= 10);
}

/*
 * The store's walk checks entries in batches of 2,048 on several threads
 * (audit_verify.c): the caller's thread keeps the first quarter of a batch
 * when one helper starts, a helper the rest, and each share's first entry
 * is linked to the one before by the walk. A log of three batches, damaged
 * at the edges of batches and shares and inside them, is found at the first
 * bad seq with helpers and without (threads refused).
 */
#define N_BATCHES 4500 /* 2048 + 2048 + 404 */

/* Puts val under seq's key in the audit database (val borrowed). */
struct raw_entry {
	uint64_t seq;
	const char *val; /* NULL: deletes it */
};

static enum cid_err raw_entry_cb(struct cid_txn *txn, void *arg)
{
	const struct raw_entry *r = arg;
	char k[17];

	key16(r->seq, k);
	if (r->val == NULL)
		return cid_txn_del(txn, CID_DB_AUDIT, cid_str_of(k));
	return cid_txn_put(txn, CID_DB_AUDIT, cid_str_of(k), cid_str_of(r->val), 0);
}

static char *raw_entry_get(struct cid_store *s, uint64_t seq)
{
	struct cid_txn *txn = NULL;
	char k[17];
	char *val;

	key16(seq, k);
	assert_int_equal(cid_store_read_begin(s, &txn), CID_OK);
	val = raw_get(txn, CID_DB_AUDIT, k);
	cid_store_read_end(txn);
	return val;
}

/* The first bad seq the walk reports with entry seq changed (or deleted), then restored. */
static uint64_t bad_seq_with(struct fixture *f, uint64_t seq, bool deleted)
{
	char *orig = raw_entry_get(f->s, seq);
	char *changed = strdup(orig);
	struct raw_entry edit = {seq, deleted ? NULL : changed};
	struct raw_entry back = {seq, orig};
	struct cid_audit_report rep;

	assert_non_null(changed);
	flip_byte(changed);
	assert_int_equal(cid_store_update(f->s, raw_entry_cb, &edit), CID_OK);
	rep = verify_store(f);
	assert_false(rep.ok);
	assert_int_equal(cid_store_update(f->s, raw_entry_cb, &back), CID_OK);
	free(changed);
	free(orig);
	return rep.bad_seq;
}

/* A copy of the export text (len bytes) with a byte of entry seq's line changed (caller frees). */
static char *export_changed_at(const char *text, size_t len, uint64_t seq)
{
	char *copy = malloc(len + 1);
	char needle[40];
	char *line;
	char *end;
	char *p;

	assert_non_null(copy);
	memcpy(copy, text, len);
	copy[len] = '\0';
	snprintf(needle, sizeof(needle), "\"seq\":%llu,", (unsigned long long)seq);
	line = strstr(copy, needle);
	assert_non_null(line);
	end = strchr(line, '\n');
	p = strstr(line, "childcare");
	assert_true(p != NULL && (end == NULL || p < end));
	p[4] = 'D';
	return copy;
}

/* Each entry in seqs changed in turn in the export: found there, with helper threads and without.
 */
static void export_damage_found(const struct fixture *f, const char *text, size_t len,
				const uint64_t *seqs, size_t n)
{
	for (int refused = 0; refused < 2; refused++) {
		threads_refused = refused == 1;
		for (size_t i = 0; i < n; i++) {
			char *copy = export_changed_at(text, len, seqs[i]);
			struct cid_audit_report rep = verify_text(f, f->ks, copy, len);

			if (rep.ok || rep.bad_seq != seqs[i])
				fail_msg("export: entry %llu changed, threads %s: found at %llu",
					 (unsigned long long)seqs[i],
					 refused ? "refused" : "allowed",
					 rep.ok ? 0ULL : (unsigned long long)rep.bad_seq);
			free(copy);
		}
	}
	threads_refused = false;
}

static void test_store_walk_across_batches_and_threads(void **state)
{
	struct fixture *f = *state;
	static const uint64_t changed[] = {
	    0,	  1,	511,  512,  513,  2047, /* the first batch: its shares' edges */
	    2048, 2049, 2559, 2560, 2561, 4095, /* the second */
	    4096, 4196, 4197, 4499,		/* the last, partial one (101 kept) */
	};
	json_t *batch[500];
	struct cid_audit_report rep;
	char *text;
	char *edited;
	size_t len = 0;

	for (int i = 0; i < N_BATCHES; i += 500) {
		for (int j = 0; j < 500; j++)
			batch[j] = entry_new("release.permit", j % 2 ? HANAKO : TARO, "childcare",
					     "family_name", NOW + i + j);
		assert_int_equal(cid_audit_append(f->log, batch, 500, NULL), CID_OK);
		for (int j = 0; j < 500; j++)
			json_decref(batch[j]);
	}
	for (int refused = 0; refused < 2; refused++) {
		threads_refused = refused == 1;
		rep = verify_store(f);
		assert_true(rep.ok);
		assert_int_equal(rep.entries, N_BATCHES);
		for (size_t i = 0; i < sizeof(changed) / sizeof(changed[0]); i++)
			if (bad_seq_with(f, changed[i], false) != changed[i])
				fail_msg("entry %llu changed, threads %s: not found there",
					 (unsigned long long)changed[i],
					 refused ? "refused" : "allowed");
		assert_int_equal(bad_seq_with(f, 3000, true), 3000);
		assert_int_equal(bad_seq_with(f, 2048, true), 2048);
		rep = verify_store(f);
		assert_true(rep.ok); /* every edit undone */
	}
	threads_refused = false;
	/* opts->threads 1 (the officer console's): the walk on the caller's thread alone */
	{
		static const struct cid_audit_verify_opts one = {.threads = 1};
		unsigned before = threads_asked;

		assert_int_equal(cid_audit_verify_store(f->s, f->ks, &one, &rep), CID_OK);
		assert_true(rep.ok);
		assert_int_equal(rep.entries, N_BATCHES);
		assert_int_equal(threads_asked, before);
		rep = verify_store(f);
		if (sysconf(_SC_NPROCESSORS_ONLN) > 1)
			assert_true(threads_asked >
				    before); /* by default, a helper per other core */
	}

	/* its export (about 2 MB) is read in blocks of 64 KiB: lines across them */
	text = export_text(f->s, &len);
	assert_true(len > (size_t)1024 * 1024);
	rep = verify_text(f, f->ks, text, len);
	assert_true(rep.ok);
	assert_int_equal(rep.entries, N_BATCHES);
	assert_int_equal(text[len - 1], '\n');
	rep = verify_text(f, f->ks, text, len - 1); /* its last line without its '\n' */
	assert_true(rep.ok);
	assert_int_equal(rep.entries, N_BATCHES);
	/* the export's walk has the same batches and helpers (its last entry, which no
	   checkpoint covers here, is the unsigned tail: left out) */
	export_damage_found(f, text, len, changed, sizeof(changed) / sizeof(changed[0]) - 1);
	edited = strstr(text + len / 2, "childcare");
	assert_non_null(edited);
	edited[4] = 'D';
	rep = verify_text(f, f->ks, text, len);
	assert_false(rep.ok);
	assert_true(rep.bad_seq > 0 && rep.bad_seq < N_BATCHES);
	free(text);
}

/*
 * An export's batch holds its lines' bytes, at most 4 MiB of them
 * (audit_verify_export.c): entries of 100 KiB fill a batch long before
 * 2,048 of them do. Verified whole, and damaged on either side of where a
 * batch is full, with helper threads and without.
 */
static void test_export_walk_batches_by_bytes(void **state)
{
	enum { BIG = 100, PAD = 100 * 1024 };

	/* not the last: no checkpoint covers it here (the unsigned tail) */
	static const uint64_t changed[] = {0, 1, 39, 40, 41, 42, 80, 81, 82, 97, 98};
	struct fixture *f = *state;
	struct cid_audit_report rep;
	char *pad = malloc(PAD + 1);
	char *text;
	size_t len = 0;

	assert_non_null(pad);
	memset(pad, 'x', PAD);
	pad[PAD] = '\0';
	for (int i = 0; i < BIG; i++) {
		json_t *e = entry_new("release.permit", TARO, "childcare", "family_name", NOW + i);

		assert_int_equal(json_object_set_new(e, "pad", json_string(pad)), 0);
		append1(f->log, e);
	}
	free(pad);
	text = export_text(f->s, &len);
	assert_true(len > (size_t)BIG * PAD);
	for (int refused = 0; refused < 2; refused++) {
		threads_refused = refused == 1;
		rep = verify_text(f, f->ks, text, len);
		assert_true(rep.ok);
		assert_int_equal(rep.entries, BIG);
	}
	threads_refused = false;
	export_damage_found(f, text, len, changed, sizeof(changed) / sizeof(changed[0]));
	free(text);
}

static const struct {
	const char *name;
	enum line_edit kind;
	uint64_t seq, other;
	uint64_t bad_seq;
	const char *text; /* LINE_JUNK: the line put in its place; LINE_ADD: before it */
} export_tampers[] = {
    {"changed entry 3", LINE_BYTE, 3, 0, 3, NULL},
    {"changed entry 4 (checkpoint right after)", LINE_BYTE, 4, 0, 4, NULL},
    {"changed entry 10", LINE_BYTE, 10, 0, 10, NULL},
    {"deleted entry 6", LINE_DELETE, 6, 0, 6, NULL},
    {"deleted entry 0", LINE_DELETE, 0, 0, 0, NULL},
    {"swapped 1 and 2", LINE_SWAP, 1, 2, 1, NULL},
    {"swapped 6 and 8", LINE_SWAP, 6, 8, 6, NULL},
    {"truncated 7-9 below checkpoint 10", LINE_TRUNCATE, 7, 0, 7, NULL},
    {"forged checkpoint 10", LINE_FORGE_CP, 10, 0, 9, NULL},
    {"junk line in place of entry 2", LINE_JUNK, 2, 0, 2, "{\"not\": json"},
    /* lines that begin as checkpoints do, and are none: read as entries, damage (not skipped) */
    {"a note with a second member added before entry 6", LINE_ADD, 6, 0, 6,
     "{\"note\":\"x\",\"at\":1}"},
    {"a legacy checkpoint not a string added before entry 3", LINE_ADD, 3, 0, 3,
     "{\"checkpoint\":3}"},
    {"a changed copy of entry 3 inserted before it", LINE_INSERT, 3, 0, 4, NULL},
    {"entry 7 repeated", LINE_DUPLICATE, 7, 0, 8, NULL},
    {"checkpoint 10 signed with another key of the log's name", LINE_OTHER_KEY, 10, 0, 9, NULL},
};

/* The note line of a checkpoint re-signed by a fresh key named as the log's (caller frees). */
static char *other_key_line(const char *line)
{
	json_t *o = json_loads(line, 0, NULL);
	const char *note = cid_json_str(o, "note");
	struct cid_note parsed;
	struct cid_note_signer *k = NULL;
	char *forged = NULL;
	char *out;

	assert_non_null(note);
	assert_int_equal(cid_note_parse(cid_str_of(note), &parsed), CID_OK);
	assert_int_equal(cid_note_signer_new(parsed.sigs[0].name, CID_NOTE_ED25519, NULL, &k),
			 CID_OK);
	const struct cid_note_signer *ks[] = {k};
	assert_int_equal(cid_note_sign(parsed.text, ks, 1, 0, &forged, NULL), CID_OK);
	json_object_set_new(o, "note", json_string(forged));
	out = json_dumps(o, JSON_COMPACT);
	assert_non_null(out);
	free(forged);
	cid_note_signer_free(k);
	json_decref(o);
	return out;
}

/* Splits text into lines (in place); returns their count. */
static size_t split_lines(char *text, char **lines, size_t max)
{
	size_t n = 0;

	for (char *p = text; *p != '\0' && n < max;) {
		char *nl = strchr(p, '\n');

		lines[n++] = p;
		if (nl == NULL)
			break;
		*nl = '\0';
		p = nl + 1;
	}
	return n;
}

static void test_export_tampering_is_found_at_first_bad_seq(void **state)
{
	struct fixture *f = *state;
	size_t len = 0;
	char *orig;

	chain_fill(f);
	orig = export_text(f->s, &len);
	for (size_t i = 0; i < sizeof(export_tampers) / sizeof(export_tampers[0]); i++) {
		char *copy = strdup(orig);
		char *lines[N_CHAIN + 4];
		size_t n;
		size_t l = line_of_seq(export_tampers[i].seq);
		size_t m = line_of_seq(export_tampers[i].other);
		char *out = NULL;
		size_t outlen = 0;
		FILE *mem;
		struct cid_audit_report rep;

		assert_non_null(copy);
		n = split_lines(copy, lines, N_CHAIN + 4);
		assert_int_equal(n, N_CHAIN + 2);
		mem = open_memstream(&out, &outlen);
		assert_non_null(mem);
		for (size_t j = 0; j < n; j++) {
			const char *line = lines[j];
			char *mod = NULL;

			switch (export_tampers[i].kind) {
			case LINE_BYTE:
				if (j == l) {
					mod = strdup(line);
					assert_non_null(mod);
					flip_byte(mod);
					line = mod;
				}
				break;
			case LINE_DELETE:
				if (j == l)
					continue;
				break;
			case LINE_SWAP:
				if (j == l)
					line = lines[m];
				else if (j == m)
					line = lines[l];
				break;
			case LINE_TRUNCATE:
				/* entries seq..9 cut, the checkpoint line of 10 kept */
				if (j >= l && j <= line_of_seq(9))
					continue;
				break;
			case LINE_FORGE_CP:
			case LINE_OTHER_KEY:
				/* the checkpoint line after entry seq - 1 */
				if (j == line_of_seq(export_tampers[i].seq - 1) + 1) {
					mod = export_tampers[i].kind == LINE_FORGE_CP
						  ? note_json_flip(line)
						  : other_key_line(line);
					line = mod;
				}
				break;
			case LINE_JUNK:
				if (j == l)
					line = export_tampers[i].text;
				break;
			case LINE_ADD:
				if (j == l)
					fprintf(mem, "%s\n", export_tampers[i].text);
				break;
			case LINE_INSERT:
			case LINE_DUPLICATE:
				if (j == l) {
					mod = strdup(line);
					assert_non_null(mod);
					if (export_tampers[i].kind == LINE_INSERT)
						flip_byte(mod);
					fprintf(mem, "%s\n", mod);
				}
				break;
			}
			fprintf(mem, "%s\n", line);
			free(mod);
		}
		assert_int_equal(fclose(mem), 0);
		rep = verify_text(f, f->ks, out, outlen);
		if (rep.ok || rep.bad_seq != export_tampers[i].bad_seq)
			fail_msg("%s: ok %d bad_seq %llu (want %llu): %s", export_tampers[i].name,
				 rep.ok, (unsigned long long)rep.bad_seq,
				 (unsigned long long)export_tampers[i].bad_seq, rep.reason);
		free(out);
		free(copy);
	}
	free(orig);
}

static void test_export_line_over_one_mib_is_damage(void **state)
{
	struct fixture *f = *state;
	size_t len = 0;
	char *orig;
	char *big;
	size_t blen = ((size_t)1 << 20) + 10;
	struct cid_audit_report rep;

	chain_fill(f);
	orig = export_text(f->s, &len);
	big = malloc(len + blen + 2);
	assert_non_null(big);
	memcpy(big, orig, len);
	memset(big + len, 'x', blen);
	big[len + blen] = '\n';
	rep = verify_text(f, f->ks, big, len + blen + 1);
	assert_false(rep.ok);
	assert_int_equal(rep.bad_seq, N_CHAIN);
	free(big);
	free(orig);
}

static void test_export_read_error_is_an_error_not_a_report(void **state)
{
	struct cid_audit_report rep;
	FILE *wo = fopen("/dev/null", "w"); /* reading a write-only stream fails */

	(void)state;
	assert_non_null(wo);
	assert_int_equal(cid_audit_verify_export(wo, NULL, NULL, &rep), CID_ERR_IO);
	fclose(wo);
}

/* A stream of text's first len bytes, then a read error (fopencookie). */
struct failing_in {
	const char *text;
	size_t len;
	size_t at;
};

static ssize_t failing_read(void *cookie, char *buf, size_t size)
{
	struct failing_in *in = cookie;
	size_t n = in->len - in->at < size ? in->len - in->at : size;

	if (n == 0) {
		errno = EIO;
		return -1;
	}
	memcpy(buf, in->text + in->at, n);
	in->at += n;
	return (ssize_t)n;
}

/*
 * The export's lines are read ahead of their check (a batch or two): damage
 * in the lines read before a read error is still the report, as when each
 * line was checked as it was read; without damage the error is the answer.
 */
static void test_export_read_error_after_damage_reports_the_damage(void **state)
{
	static const cookie_io_functions_t io = {.read = failing_read};
	static const struct cid_audit_verify_opts chain_only = {.allow_unsigned_tail = true};
	struct fixture *f = *state;
	struct cid_audit_verify_opts o = chain_only;
	struct cid_audit_report rep;
	size_t len = 0;
	char *text;

	chain_fill(f);
	text = export_text(f->s, &len);
	o.trust = f->trust;
	for (int damaged = 0; damaged < 2; damaged++) {
		struct failing_in in = {text, len - 1, 0}; /* the error in place of the last byte */
		FILE *fp;

		if (damaged)
			flip_byte(text); /* the first entry naming childcare */
		fp = fopencookie(&in, "r", io);
		assert_non_null(fp);
		if (damaged) {
			assert_int_equal(cid_audit_verify_export(fp, f->ks, &o, &rep), CID_OK);
			assert_false(rep.ok);
			assert_true(rep.bad_seq < N_CHAIN);
		} else {
			assert_int_equal(cid_audit_verify_export(fp, f->ks, &o, &rep), CID_ERR_IO);
		}
		fclose(fp);
	}
	free(text);
}

/* ---- append rules ---- */

static void test_append_refuses_bad_entries(void **state)
{
	static const char *const bad[] = {
	    "{\"seq\":1,\"type\":\"x\"}",
	    "{\"prev\":\"00\",\"type\":\"x\"}",
	    "{\"type\":\"x\",\"n\":1.5}",
	    "{\"type\":\"x\",\"deep\":[{\"r\":0.25}]}",
	    "{\"type\":\"x\",\"na\\u00efve\":1}",
	    "{\"type\":\"x\",\"deep\":{\"caf\\u00e9\":1}}",
	    "{\"type\":\"x\",\"citizen\":\"a\\nb\"}",
	    "{\"type\":\"x\",\"citizen\":\"\"}",
	    "{\"type\":\"x\",\"citizen\":7}",
	    "{\"type\":\"x\",\"service\":\"a\\u0000b\"}",
	    "{\"type\":\"x\",\"request_id\":\"a\\nb\"}",
	    "{\"type\":\"x\",\"request_id\":\"\"}",
	    "{\"type\":\"x\",\"time\":\"2027-01-15T08:00:00.5Z\"}",
	    "{\"type\":\"x\",\"time\":\"2027-01-15 08:00:00Z\"}",
	    "{\"type\":\"x\",\"time\":1800000000}",
	    "[1,2]",
	};
	struct fixture *f = *state;
	json_t *e;
	uint64_t size = 99;
	char hash[CID_AUDIT_HASH_HEX];
	struct cid_txn *txn = NULL;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		e = json_loads(bad[i], JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
		assert_non_null(e);
		assert_int_equal(cid_audit_append(f->log, &e, 1, NULL), CID_ERR_INVALID);
		json_decref(e);
	}
	{
		char longname[202]; /* one byte over what an index key holds */

		memset(longname, 'a', sizeof(longname) - 1);
		longname[sizeof(longname) - 1] = '\0';
		e = json_pack("{s:s, s:s}", "type", "x", "citizen", longname);
		assert_non_null(e);
		assert_int_equal(cid_audit_append(f->log, &e, 1, NULL), CID_ERR_INVALID);
		json_decref(e);
	}
	e = entry_new("release.permit", HANAKO, "childcare", "email", NOW);
	assert_int_equal(cid_audit_append(f->log, &e, 0, NULL), CID_ERR_INVALID);
	json_decref(e);
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_audit_head(txn, &size, hash), CID_OK);
	cid_store_read_end(txn);
	assert_int_equal(size, 0);
	assert_string_equal(hash,
			    "0000000000000000000000000000000000000000000000000000000000000000");
	assert_int_equal(cid_audit_commits(f->log), 0);
}

static void test_entries_are_canonical_and_chained(void **state)
{
	struct fixture *f = *state;
	struct cid_txn *txn = NULL;
	json_t *e0 = NULL;
	json_t *e1 = NULL;
	struct cid_str v;
	json_t *pair[2];
	uint64_t first = 0;
	uint64_t size = 0;
	char hash[CID_AUDIT_HASH_HEX];
	char h0[65];
	uint8_t d[32];
	char buf[1024];

	pair[0] = entry_new("consent.granted", HANAKO, "childcare", "email", NOW);
	pair[1] = json_pack("{s:s, s:s, s:s}", "type", "audit.exported", "actor", "operator", "zz",
			    "\u65e5\u672c");
	assert_non_null(pair[1]);
	assert_int_equal(cid_audit_append(f->log, pair, 2, &first), CID_OK);
	assert_int_equal(first, 0);
	json_decref(pair[0]);
	json_decref(pair[1]);

	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_txn_get(txn, CID_DB_AUDIT, cid_str_of("0000000000000000"), &v),
			 CID_OK);
	assert_true(v.len + 1 < sizeof(buf));
	buf[0] = '\0';
	memcpy(buf + 1, v.ptr, v.len);
	cid_sha256(buf, v.len + 1, d);
	cid_hex(d, 32, h0);
	assert_int_equal(cid_audit_get(txn, 0, &e0), CID_OK);
	assert_int_equal(cid_audit_get(txn, 1, &e1), CID_OK);
	assert_int_equal(cid_audit_get(txn, 2, &e1), CID_ERR_NOTFOUND);
	assert_int_equal(cid_audit_head(txn, &size, hash), CID_OK);
	cid_store_read_end(txn);
	assert_int_equal(json_integer_value(json_object_get(e0, "seq")), 0);
	assert_string_equal(json_string_value(json_object_get(e0, "prev")),
			    "0000000000000000000000000000000000000000000000000000000000000000");
	assert_string_equal(json_string_value(json_object_get(e1, "prev")), h0);
	/* UTF-8 values stay as they are: no \u escapes in the canonical bytes */
	assert_string_equal(json_string_value(json_object_get(e1, "zz")), "\u65e5\u672c");
	assert_int_equal(size, 2);
	json_decref(e0);
	json_decref(e1);
	assert_true(verify_store(f).ok);
}

/*
 * The writer fills in only seq, prev and the citizen's pseudonyms; the rest
 * of an entry's bytes are made before its transaction. Whatever the members
 * (names sorting next to those it fills in, nested values, escapes, UTF-8),
 * the stored bytes are the canonical form of the entry given, with seq,
 * prev and the pseudonyms set.
 */
static void test_stored_bytes_are_canonical_whatever_the_members(void **state)
{
	static const char *const rows[] = {
	    "{\"type\":\"x\"}",
	    "{\"a\":1,\"citizen\":\"" HANAKO "\",\"cj\":\"x\",\"ci\":[],\"ext\":{\"z\":\"q\","
	    "\"citizen\":\"" HANAKO "\"},\"ew\":{},\"exu\":[1,\"two\",{\"b\":null,\"a\":true}],"
	    "\"pre\":\"p\",\"prevx\":false,\"se\":\"s\",\"seqq\":-7,\"service\":\"childcare\","
	    "\"z\":\"\\u65e5 \\\" \\\\ \\n \\u0001 \\u007f /\"}",
	    "{\"citizen\":\"ps_0123456789abcdef0123456789abcdef\",\"ext\":{\"rows\":\"3\"}}",
	    "{\"ext\":{\"citizen\":\"ps_0123456789abcdef0123456789abcdef\"},\"type\":\"y\"}",
	    "{\"actor\":\"service\",\"attributes\":[\"b\",\"a\"],\"citizen\":\"" HANAKO "\","
	    "\"purpose\":\"p\",\"service\":\"library\",\"time\":\"2026-01-01T00:00:00Z\"}",
	};
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		json_t *e = json_loads(rows[i], 0, NULL);
		json_t *got = NULL;
		struct cid_txn *txn = NULL;
		struct cid_str v;
		char key[17];
		char *want;
		uint64_t seq = UINT64_MAX;
		const char *who;

		assert_non_null(e);
		assert_int_equal(cid_audit_append(f->log, &e, 1, &seq), CID_OK);
		assert_int_equal(seq, i);
		snprintf(key, sizeof(key), "%016" PRIx64, seq);
		assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
		assert_int_equal(cid_txn_get(txn, CID_DB_AUDIT, cid_str_of(key), &v), CID_OK);
		got = json_loadb(v.ptr, v.len, 0, NULL);
		assert_non_null(got);
		want = cid_json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
		assert_non_null(want);
		assert_int_equal(strlen(want), v.len);
		assert_memory_equal(want, v.ptr, v.len);
		cid_store_read_end(txn);
		free(want);
		/* the entry given, but for what the writer set */
		assert_int_equal(json_integer_value(json_object_get(got, "seq")), (json_int_t)i);
		assert_true(json_is_string(json_object_get(got, "prev")));
		who = cid_json_str(got, "citizen");
		if (who != NULL) {
			assert_true(cid_pseudonym_syntax_ok(who));
			if (cid_pseudonym_syntax_ok(cid_json_str(e, "citizen")))
				assert_string_equal(who, cid_json_str(e, "citizen"));
			json_object_set(got, "citizen", json_object_get(e, "citizen"));
		}
		who = cid_json_str(json_object_get(got, "ext"), "citizen");
		if (who != NULL) {
			assert_true(cid_pseudonym_syntax_ok(who));
			json_object_set(json_object_get(got, "ext"), "citizen",
					json_object_get(json_object_get(e, "ext"), "citizen"));
		}
		json_object_del(got, "seq");
		json_object_del(got, "prev");
		assert_true(json_equal(got, e));
		json_decref(got);
		json_decref(e);
	}
	assert_true(verify_store(f).ok);
}

/* ---- group commit ---- */

struct appender {
	struct cid_audit *log;
	uint64_t seqs[PER_THRD];
	int id;
};

static void *appender_main(void *arg)
{
	struct appender *a = arg;

	for (int i = 0; i < PER_THRD; i++) {
		json_t *e = entry_new("release.permit", HANAKO, "childcare", "email", NOW + i);

		json_object_set_new(e, "level", json_integer(a->id));
		if (cid_audit_append(a->log, &e, 1, &a->seqs[i]) != CID_OK)
			a->seqs[i] = UINT64_MAX;
		json_decref(e);
	}
	return NULL;
}

static void run_appenders(struct fixture *f, bool group, uint64_t *commits,
			  struct cid_audit_stats *st)
{
	struct cid_audit *log = NULL;
	pthread_t th[THREADS];
	struct appender *a = calloc(THREADS, sizeof(*a));
	bool *seen = calloc((size_t)THREADS * PER_THRD, sizeof(*seen));
	struct cid_audit_report rep;

	assert_non_null(a);
	assert_non_null(seen);
	assert_int_equal(cid_audit_open(f->s, group, &log), CID_OK);
	for (int t = 0; t < THREADS; t++) {
		a[t].log = log;
		a[t].id = t;
		assert_int_equal(pthread_create(&th[t], NULL, appender_main, &a[t]), 0);
	}
	for (int t = 0; t < THREADS; t++)
		assert_int_equal(pthread_join(th[t], NULL), 0);
	for (int t = 0; t < THREADS; t++)
		for (int i = 0; i < PER_THRD; i++) {
			uint64_t s = a[t].seqs[i];

			assert_true(s < (uint64_t)THREADS * PER_THRD);
			assert_false(seen[s]);
			seen[s] = true;
			/* one thread's appends are in its order */
			if (i > 0)
				assert_true(s > a[t].seqs[i - 1]);
		}
	*commits = cid_audit_commits(log);
	cid_audit_stats_take(log, st);
	rep = verify_store(f);
	assert_true(rep.ok);
	assert_int_equal(rep.entries, THREADS * PER_THRD);
	cid_audit_close(log);
	free(a);
	free(seen);
}

/* The counters agree with the commits made and the appends they carried. */
static void assert_stats_add_up(const struct cid_audit_stats *st, uint64_t commits)
{
	uint64_t in_groups = 0;

	assert_int_equal(st->commits, commits);
	assert_int_equal(st->failed, 0);
	assert_int_equal(st->failed_appends, 0);
	assert_int_equal(st->appends, THREADS * PER_THRD);
	assert_int_equal(st->entries, THREADS * PER_THRD);
	assert_true(st->max_appends >= 1 && st->max_appends <= THREADS);
	assert_int_equal(st->max_entries, st->max_appends);
	assert_true(st->seconds > 0);
	assert_true(st->commit_ns > 0);
	assert_true(st->commit_cpu_ns > 0 && st->commit_cpu_ns <= st->commit_ns);
	for (size_t b = 0; b < CID_AUDIT_GROUP_BUCKETS; b++)
		in_groups += st->groups[b];
	assert_int_equal(in_groups, commits);
}

static void test_group_commit_shares_commits(void **state)
{
	uint64_t commits = 0;
	struct cid_audit_stats st;

	run_appenders(*state, true, &commits, &st);
	assert_true(commits > 0);
	assert_true(commits < (uint64_t)THREADS * PER_THRD);
	assert_stats_add_up(&st, commits);
	assert_true(st.max_appends > 1);
}

static void test_no_group_commits_each_append(void **state)
{
	uint64_t commits = 0;
	struct cid_audit_stats st;

	run_appenders(*state, false, &commits, &st);
	assert_int_equal(commits, THREADS * PER_THRD);
	assert_stats_add_up(&st, commits);
	assert_int_equal(st.max_appends, 1);
	assert_int_equal(st.groups[0], commits);
}

/* ---- submitted appends ---- */

/* What the submits of a test were told, and whether their entries were in the log by then. */
struct told {
	struct cid_store *s;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	size_t n, ok;
	size_t early;	   /* told CID_OK while the log held fewer entries than were told so */
	enum cid_err last; /* what the last one was told */
};

static void told_init(struct told *t, struct cid_store *s)
{
	*t = (struct told){.s = s};
	assert_int_equal(pthread_mutex_init(&t->lock, NULL), 0);
	assert_int_equal(pthread_cond_init(&t->cond, NULL), 0);
}

static void told_destroy(struct told *t)
{
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->lock);
}

/* The entries in the log of s, read in a snapshot of this thread (0 when it cannot be read). */
static uint64_t log_size(struct cid_store *s)
{
	struct cid_txn *txn = NULL;
	uint64_t size = 0;
	char hash[CID_AUDIT_HASH_HEX];

	if (cid_store_read_begin(s, &txn) != CID_OK || cid_audit_head(txn, &size, hash) != CID_OK)
		size = 0;
	cid_store_read_end(txn);
	return size;
}

/* cid_audit_done of the tests: counts, and checks the entries are durable already. */
static void told_cb(void *arg, enum cid_err rc)
{
	struct told *t = arg;

	pthread_mutex_lock(&t->lock);
	t->n++;
	t->last = rc;
	if (rc == CID_OK) {
		t->ok++;
		if (log_size(t->s) < t->ok)
			t->early++;
	}
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&t->lock);
}

static void told_wait(struct told *t, size_t n)
{
	pthread_mutex_lock(&t->lock);
	while (t->n < n)
		pthread_cond_wait(&t->cond, &t->lock);
	pthread_mutex_unlock(&t->lock);
}

/* One entry made for log, not written. */
static struct cid_audit_pending *pending_new(struct cid_audit *log, int64_t t)
{
	// NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers
	json_t **entries = calloc(1, sizeof(*entries));
	struct cid_audit_pending *p = NULL;

	assert_non_null(entries);
	entries[0] = entry_new("release.permit", HANAKO, "childcare", "email", t);
	assert_int_equal(audit_pending_new(log, entries, NULL, 1, &p), CID_OK);
	assert_int_equal(cid_audit_pending_count(p), 1);
	return p;
}

struct submitter {
	struct cid_audit *log;
	struct told *told;
	bool submit;				  /* else cid_audit_append */
	struct cid_audit_pending *sent[PER_THRD]; /* freed once told */
};

static void *submitter_main(void *arg)
{
	struct submitter *a = arg;

	for (int i = 0; i < PER_THRD; i++) {
		if (a->submit) {
			a->sent[i] = pending_new(a->log, NOW + i);
			cid_audit_submit(a->sent[i], told_cb, a->told);
		} else {
			json_t *e =
			    entry_new("release.permit", HANAKO, "childcare", "email", NOW + i);

			if (cid_audit_append(a->log, &e, 1, NULL) != CID_OK)
				fail();
			json_decref(e);
		}
	}
	return NULL;
}

/*
 * Submits (the server's polling threads) and blocking appends share the
 * group commits; each submit is told once, after its entry is durable, and
 * the log holds every entry once and verifies.
 */
static void test_submits_share_group_commits_and_are_told_once_written(void **state)
{
	struct fixture *f = *state;
	pthread_t th[THREADS];
	struct submitter a[THREADS];
	struct told told;
	struct cid_audit_stats st;

	told_init(&told, f->s);
	cid_audit_stats_take(f->log, &st);
	for (int t = 0; t < THREADS; t++) {
		a[t] = (struct submitter){.log = f->log, .told = &told, .submit = t % 2 == 1};
		assert_int_equal(pthread_create(&th[t], NULL, submitter_main, &a[t]), 0);
	}
	for (int t = 0; t < THREADS; t++)
		assert_int_equal(pthread_join(th[t], NULL), 0);
	told_wait(&told, (size_t)THREADS / 2 * PER_THRD);
	assert_int_equal(told.n, THREADS / 2 * PER_THRD);
	assert_int_equal(told.ok, told.n);
	assert_int_equal(told.early, 0);
	cid_audit_stats_take(f->log, &st);
	assert_int_equal(st.appends, THREADS * PER_THRD);
	assert_int_equal(st.failed, 0);
	assert_true(st.commits < st.appends);
	assert_int_equal(verify_store(f).entries, THREADS * PER_THRD);
	for (int t = 0; t < THREADS; t++)
		for (int i = 0; i < PER_THRD; i++)
			cid_audit_pending_free(a[t].sent[i]);
	told_destroy(&told);
}

/* Closing the log writes what was submitted and not yet told, then joins the committer. */
static void test_close_writes_what_was_submitted(void **state)
{
	struct fixture *f = *state;
	struct told told;
	struct cid_audit_pending *sent[20];

	told_init(&told, f->s);
	for (int i = 0; i < 20; i++) {
		sent[i] = pending_new(f->log, NOW + i);
		cid_audit_submit(sent[i], told_cb, &told);
	}
	cid_audit_close(f->log);
	f->log = NULL;
	assert_int_equal(told.n, 20);
	assert_int_equal(told.ok, 20);
	assert_int_equal(told.early, 0);
	assert_int_equal(log_size(f->s), 20);
	for (int i = 0; i < 20; i++)
		cid_audit_pending_free(sent[i]);
	told_destroy(&told);
}

/*
 * The committer thread cannot start (the first submit starts it): the submit
 * is told CID_ERR_NOMEM at once and nothing is written; the next submit
 * starts it and is written.
 */
static void test_submit_without_a_committer_is_told_an_error(void **state)
{
	struct fixture *f = *state;
	struct told told;
	struct cid_audit_pending *p;

	told_init(&told, f->s);
	p = pending_new(f->log, NOW);
	threads_refused = true;
	cid_audit_submit(p, told_cb, &told);
	threads_refused = false;
	assert_int_equal(told.n, 1); /* told before the submit returned */
	assert_int_equal(told.ok, 0);
	assert_int_equal(told.last, CID_ERR_NOMEM);
	assert_int_equal(log_size(f->s), 0);
	cid_audit_pending_free(p);

	p = pending_new(f->log, NOW + 1);
	cid_audit_submit(p, told_cb, &told);
	told_wait(&told, 2);
	assert_int_equal(told.ok, 1);
	assert_int_equal(told.last, CID_OK);
	assert_int_equal(told.early, 0);
	assert_int_equal(log_size(f->s), 1);
	cid_audit_pending_free(p);
	told_destroy(&told);
}

/*
 * Without group commit, a submit is written and told before it returns; a
 * pending append is written by cid_audit_pending_commit, or dropped unwritten,
 * and one that cid_audit_append would refuse is never made.
 */
static void test_pending_appends_without_group_commit(void **state)
{
	struct fixture *f = *state;
	struct cid_audit *log = NULL;
	struct told told;
	// NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers
	json_t **bad = calloc(1, sizeof(*bad));
	struct cid_audit_pending *p = NULL;

	told_init(&told, f->s);
	assert_int_equal(cid_audit_open(f->s, false, &log), CID_OK);
	p = pending_new(log, NOW);
	cid_audit_submit(p, told_cb, &told);
	cid_audit_pending_free(p);
	p = NULL;
	assert_int_equal(told.n, 1);
	assert_int_equal(told.ok, 1);
	assert_int_equal(log_size(f->s), 1);
	cid_audit_pending_free(pending_new(log, NOW));
	cid_audit_pending_free(NULL);
	assert_int_equal(log_size(f->s), 1);
	assert_int_equal(cid_audit_pending_commit(pending_new(log, NOW)), CID_OK);
	assert_int_equal(log_size(f->s), 2);
	assert_non_null(bad);
	bad[0] = json_pack("{s:s, s:i}", "type", "release.permit", "seq", 3);
	assert_int_equal(audit_pending_new(log, bad, NULL, 1, &p), CID_ERR_INVALID);
	assert_null(p);
	assert_int_equal(log_size(f->s), 2);
	cid_audit_close(log);
	told_destroy(&told);
}

/* Taking the counters starts them anew; the line names every counter. */
static void test_stats_take_restarts_and_formats(void **state)
{
	struct fixture *f = *state;
	struct cid_audit_stats st;
	json_t *pair[2];
	char line[512];
	const struct cid_audit_stats fixed = {.seconds = 2.0,
					      .commits = 4,
					      .failed = 1,
					      .failed_appends = 3,
					      .appends = 20,
					      .entries = 22,
					      .max_appends = 9,
					      .max_entries = 10,
					      .commit_ns = 25000000,
					      .commit_cpu_ns = 10000000,
					      .groups = {1, 0, 2, 1, 0, 0, 0, 0}};

	cid_audit_stats_take(f->log, &st);
	pair[0] = entry_new("release.permit", HANAKO, "childcare", "email", NOW);
	pair[1] = entry_new("release.permit", HANAKO, "childcare", "email", NOW + 1);
	assert_int_equal(cid_audit_append(f->log, pair, 2, NULL), CID_OK);
	json_decref(pair[0]);
	json_decref(pair[1]);
	cid_audit_stats_take(f->log, &st);
	assert_int_equal(st.commits, 1);
	assert_int_equal(st.appends, 1);
	assert_int_equal(st.entries, 2);
	assert_int_equal(st.max_entries, 2);
	assert_int_equal(st.groups[0], 1);
	cid_audit_stats_take(f->log, &st);
	assert_int_equal(st.commits, 0);
	assert_int_equal(st.appends, 0);
	assert_int_equal(st.groups[0], 0);

	assert_int_equal(cid_audit_stats_format(&fixed, line, sizeof(line)), CID_OK);
	assert_string_equal(
	    line, "seconds=2.0 commits=4 commits_per_s=2.0 failed=1 failed_appends=3 appends=20 "
		  "entries=22 appends_per_commit=5.0 max_appends=9 entries_per_commit=5.5 "
		  "max_entries=10 commit_ms=5.00 commit_cpu_ms=2.00 "
		  "groups=1:1,2-3:0,4-7:2,8-15:1,16-31:0,32-63:0,64-127:0,128+:0");
	assert_int_equal(cid_audit_stats_format(&fixed, line, 40), CID_ERR_INVALID);
	assert_string_equal(line, "");
	assert_int_equal(cid_audit_stats_format(&fixed, line, 200), CID_ERR_INVALID);
	assert_string_equal(line, "");
}

/* ---- append in the caller's transaction ---- */

struct txn_write {
	bool fail;
	uint64_t seq;
};

static enum cid_err txn_write_cb(struct cid_txn *txn, void *arg)
{
	struct txn_write *w = arg;
	enum cid_err rc;
	json_t *e = entry_new("consent.granted", HANAKO, "childcare", "email", NOW);

	rc = cid_txn_put(txn, CID_DB_CONSENTS, cid_str_of("k"), cid_str_of("{}"), 0);
	if (rc == CID_OK)
		rc = cid_audit_append_txn(txn, e, &w->seq);
	json_decref(e);
	if (rc == CID_OK && w->fail)
		rc = CID_ERR_DENIED;
	return rc;
}

static void test_append_txn_commits_or_aborts_with_caller(void **state)
{
	struct fixture *f = *state;
	struct txn_write w = {.fail = true};
	struct cid_txn *txn = NULL;
	struct cid_str v;
	uint64_t size = 9;
	char hash[CID_AUDIT_HASH_HEX];
	json_t *bad = json_pack("{s:f}", "x", 1.5);

	assert_int_equal(cid_store_update(f->s, txn_write_cb, &w), CID_ERR_DENIED);
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_audit_head(txn, &size, hash), CID_OK);
	assert_int_equal(size, 0);
	assert_int_equal(cid_txn_get(txn, CID_DB_AUDIT, cid_str_of("0000000000000000"), &v),
			 CID_ERR_NOTFOUND);
	cid_store_read_end(txn);

	w.fail = false;
	assert_int_equal(cid_store_update(f->s, txn_write_cb, &w), CID_OK);
	assert_int_equal(w.seq, 0);
	assert_int_equal(
	    append1(f->log, entry_new("release.permit", HANAKO, "childcare", "email", NOW + 1)), 1);
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_txn_get(txn, CID_DB_CONSENTS, cid_str_of("k"), &v), CID_OK);
	assert_int_equal(cid_audit_head(txn, &size, hash), CID_OK);
	assert_int_equal(cid_audit_append_txn(txn, bad, NULL), CID_ERR_INVALID);
	cid_store_read_end(txn);
	assert_int_equal(size, 2);
	assert_true(verify_store(f).ok);
	json_decref(bad);
}

/* The once-key of a consent record's consent.expired entry, the release's and the sweeper's. */
static void test_expired_once_key(void **state)
{
	char long_id[CID_AUDIT_MAX_NAME + 2];

	static const struct {
		const char *id;
		enum cid_err rc;
		const char *key; /* NULL: none made */
	} rows[] = {
	    {"0b1c2d3e-0000-4000-8000-000000000001", CID_OK,
	     "x\n0b1c2d3e-0000-4000-8000-000000000001"},
	    {"r", CID_OK, "x\nr"},
	    {"", CID_ERR_INVALID, NULL},
	    {NULL, CID_ERR_INVALID, NULL},
	};

	static char untouched[] = "untouched";
	char *key = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		key = untouched;
		assert_int_equal(audit_expired_once_key(rows[i].id, &key), rows[i].rc);
		if (rows[i].key == NULL) {
			assert_null(key);
			continue;
		}
		assert_string_equal(key, rows[i].key);
		free(key);
	}
	/* the longest id an index key may hold, and one byte more */
	memset(long_id, 'a', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	assert_int_equal(audit_expired_once_key(long_id, &key), CID_ERR_INVALID);
	assert_null(key);
	long_id[CID_AUDIT_MAX_NAME] = '\0';
	assert_int_equal(audit_expired_once_key(long_id, &key), CID_OK);
	assert_int_equal(strlen(key), 2 + CID_AUDIT_MAX_NAME);
	free(key);
}

/* ---- the release hook ---- */

static void test_release_hook_groups_and_logs_expiry_once(void **state)
{
	struct fixture *f = *state;
	struct cid_decision permit_c = {.permit = true,
					.reason = CID_REASON_PERMIT_CONSENT,
					.rule = "childcare.policy:10",
					.basis = CID_BASIS_CONSENT,
					.policy_version = "abc"};
	struct cid_decision permit_s = {.permit = true,
					.reason = CID_REASON_PERMIT_STATUTE,
					.rule = "childcare.policy:12",
					.basis = CID_BASIS_STATUTE,
					.statute = "Child Welfare Act s.24",
					.policy_version = "abc"};
	struct cid_decision expired = {.permit = false,
				       .reason = CID_REASON_EXPIRED,
				       .rule = "childcare.policy:10",
				       .basis = CID_BASIS_CONSENT,
				       .consent_id = "rec-old",
				       .policy_version = "abc"};
	struct cid_release_decision d[5] = {
	    {"family_name#ja-Kana-JP", "fees", permit_c, "dg", NULL},
	    {"email", "fees", permit_c, "dg", NULL},
	    {"address", "fees", permit_s, "dg", NULL},
	    {"phone_number", "fees", expired, "dg", NULL},
	    {"birthdate", "fees", expired, "dg", NULL},
	};
	struct cid_release_event ev = {
	    .service = "childcare",
	    .account_id = HANAKO,
	    .target = CID_RELEASE_USERINFO,
	    .level = 2,
	    .now = NOW,
	    .request_id = "req-1",
	    .grant_id = "grant-1",
	    .decisions = d,
	    .n_decisions = 5,
	};
	struct cid_audit_range r = {0};
	struct cid_txn *txn = NULL;
	json_t *e = NULL;

	d[0].decision.consent_id = "rec-2";
	d[1].decision.consent_id = "rec-1";
	assert_int_equal(cid_audit_release_hook(f->log, &ev, &r), CID_OK);
	/* consent.expired, permit (consent), permit (statute), deny (expired) */
	assert_int_equal(r.first, 0);
	assert_int_equal(r.last, 3);
	assert_int_equal(r.count, 4);
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_audit_get(txn, 0, &e), CID_OK);
	assert_string_equal(cid_json_str(e, "type"), "consent.expired");
	assert_string_equal(cid_json_str(e, "actor"), "system");
	assert_string_equal(json_string_value(json_array_get(json_object_get(e, "attributes"), 0)),
			    "birthdate");
	assert_int_equal(json_array_size(json_object_get(e, "attributes")), 2);
	json_decref(e);
	assert_int_equal(cid_audit_get(txn, 1, &e), CID_OK);
	assert_string_equal(cid_json_str(e, "type"), "release.permit");
	assert_string_equal(cid_json_str(e, "basis"), "consent");
	assert_string_equal(cid_json_str(e, "endpoint"), "userinfo");
	assert_string_equal(cid_json_str(e, "grant_id"), "grant-1");
	assert_string_equal(cid_json_str(e, "request_id"), "req-1");
	assert_string_equal(cid_json_str(e, "time"), "2027-01-15T08:00:00Z");
	assert_int_equal(cid_json_int(e, "level"), 2);
	assert_string_equal(json_string_value(json_array_get(json_object_get(e, "attributes"), 0)),
			    "email");
	assert_string_equal(json_string_value(json_array_get(json_object_get(e, "attributes"), 1)),
			    "family_name#ja-Kana-JP");
	assert_string_equal(
	    json_string_value(json_array_get(json_object_get(e, "consent_records"), 0)), "rec-1");
	assert_string_equal(
	    json_string_value(json_array_get(json_object_get(e, "consent_records"), 1)), "rec-2");
	json_decref(e);
	assert_int_equal(cid_audit_get(txn, 2, &e), CID_OK);
	assert_string_equal(cid_json_str(e, "basis"), "statute:Child Welfare Act s.24");
	assert_null(json_object_get(e, "consent_records"));
	json_decref(e);
	assert_int_equal(cid_audit_get(txn, 3, &e), CID_OK);
	assert_string_equal(cid_json_str(e, "type"), "release.deny");
	assert_string_equal(cid_json_str(e, "reason"), "expired");
	json_decref(e);
	cid_store_read_end(txn);

	/* the same expired record again: no second consent.expired */
	ev.now = NOW + 60;
	assert_int_equal(cid_audit_release_hook(f->log, &ev, &r), CID_OK);
	assert_int_equal(r.first, 4);
	assert_int_equal(r.count, 3);
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_audit_get(txn, 4, &e), CID_OK);
	assert_string_equal(cid_json_str(e, "type"), "release.permit");
	json_decref(e);
	cid_store_read_end(txn);
	assert_true(verify_store(f).ok);
}

/*
 * Decisions alike but for their policy line make one entry, naming every line
 * ascending and once; a rule of another file, or no rule, makes its own.
 */
static void test_release_hook_one_entry_per_decision_not_per_line(void **state)
{
	struct fixture *f = *state;
	struct cid_decision line = {.permit = true,
				    .reason = CID_REASON_PERMIT_STATUTE,
				    .basis = CID_BASIS_STATUTE,
				    .statute = "Disaster Countermeasures Basic Act art. 49-10",
				    .policy_version = "abc"};
	struct cid_decision deny = {.permit = false, .reason = CID_REASON_NOT_IN_POLICY};
	struct cid_release_decision d[6] = {
	    {"resident_district", "register", line, "dg", NULL},
	    {"household_size", "register", line, "dg", NULL},
	    {"given_name", "register", line, "dg", NULL},
	    {"family_name", "register", line, "dg", NULL},
	    {"email", "register", line, "dg", NULL},
	    {"updated_at", NULL, deny, NULL, NULL},
	};
	struct cid_release_event ev = {
	    .service = "disaster-alert",
	    .account_id = HANAKO,
	    .target = CID_RELEASE_USERINFO,
	    .level = 1,
	    .now = NOW,
	    .request_id = "req-2",
	    .grant_id = "grant-2",
	    .decisions = d,
	    .n_decisions = 6,
	};
	struct cid_audit_range r = {0};
	struct cid_txn *txn = NULL;
	json_t *e = NULL;

	d[0].decision.rule = "disaster-alert.policy:21";
	d[1].decision.rule = "disaster-alert.policy:22";
	d[2].decision.rule = "disaster-alert.policy:9";
	d[3].decision.rule = "disaster-alert.policy:21"; /* a line seen already */
	d[4].decision.rule = "other.policy:3";
	assert_int_equal(cid_audit_release_hook(f->log, &ev, &r), CID_OK);
	/* permit by disaster-alert.policy, permit by other.policy, deny by none */
	assert_int_equal(r.count, 3);
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_audit_get(txn, r.first, &e), CID_OK);
	assert_string_equal(cid_json_str(e, "rule"), "disaster-alert.policy:9,21,22");
	assert_int_equal(json_array_size(json_object_get(e, "attributes")), 4);
	json_decref(e);
	assert_int_equal(cid_audit_get(txn, r.first + 1, &e), CID_OK);
	assert_string_equal(cid_json_str(e, "rule"), "other.policy:3");
	assert_string_equal(json_string_value(json_array_get(json_object_get(e, "attributes"), 0)),
			    "email");
	json_decref(e);
	assert_int_equal(cid_audit_get(txn, r.first + 2, &e), CID_OK);
	assert_string_equal(cid_json_str(e, "type"), "release.deny");
	assert_null(json_object_get(e, "rule"));
	json_decref(e);
	cid_store_read_end(txn);
	assert_true(verify_store(f).ok);
}

/*
 * The bytes of a release's entries, pinned, one row per shape of event: the
 * entries both hooks write (cid_audit_release_hook, and
 * cid_audit_release_later with cid_audit_pending_commit) are canonical, carry
 * seq, prev and a pseudonymised citizen, and are the row's text byte for byte
 * once those three (the store's) are taken out. A row jansson cannot encode
 * (invalid UTF-8) writes nothing. The guard of any rewrite of how
 * audit_release.c makes the bytes of its entries.
 */
#define REL_DECISIONS 6
#define REL_ENTRIES   4
#define REL_PV	      "9f2c"					   /* a policy file's version */
#define REL_CHILD_ACT "\u5150\u7ae5\u798f\u7949\u6cd5 \"art. 24\"" /* a quote, and UTF-8 */
#define REL_JPKI                                                                                   \
	"{\"issuer\":\"https://jpki.example\",\"trust_framework\":\"jp_aml\","                     \
	"\"time\":\"2026-03-01T09:00:00Z\",\"evidence\":[]}"
/* the same issuer and framework as REL_JPKI, another verification */
#define REL_JPKI_LATER                                                                             \
	"{\"issuer\":\"https://jpki.example\",\"trust_framework\":\"jp_aml\","                     \
	"\"time\":\"2026-09-01T09:00:00Z\"}"
#define REL_EIDAS "{\"issuer\":\"https://upstream.example\",\"trust_framework\":\"eidas\"}"
#define REL_ODD	  "pur\\pose\t\"x\"\x7f" /* a purpose of backslash, tab, quotes and DEL */

/* One decision of a row: a permit_ reason permits, anything else denies. */
struct rel_decision {
	const char *attribute; /* NULL after the last */
	const char *purpose;
	const char *rule;
	const char *consent_id;
	const char *source; /* a verified value's provenance as JSON text, or NULL */
	enum cid_reason reason;
};

/* One event: what its decisions share, and the entries it makes. */
struct rel_row {
	const char *name;
	const char *statute; /* the decisions' basis, statute, version and digest */
	const char *policy_version;
	const char *purpose_digest;
	const char *acr;
	const char *amr[2]; /* NULL after the last */
	int64_t auth_time;
	const char *request_id;
	const char *grant_id;
	struct rel_decision d[REL_DECISIONS];
	/* the entries written, but for seq, prev and citizen; NULL after the last */
	const char *want[REL_ENTRIES];
	enum cid_basis basis;
	enum cid_release_target target;
	int level;
	enum cid_err rc;
};

static const struct rel_row rel_rows[] = {
    {.name = "consent permits: lines merged, repeats once, acr, two amr, auth_time",
     .policy_version = REL_PV,
     .purpose_digest = "dg-fees",
     .acr = "urn:civicid:acr:high",
     .amr = {"pwd", "otp"},
     .auth_time = NOW - 600,
     .request_id = "req-1",
     .grant_id = "grant-1",
     .d = {{"email_verified", "fees", "childcare.policy:11", "rec-9", NULL,
	    CID_REASON_PERMIT_CONSENT},
	   {"email", "fees", "childcare.policy:10", "rec-10", NULL, CID_REASON_PERMIT_CONSENT},
	   {"email#ja", "fees", "childcare.policy:10", "rec-9", NULL, CID_REASON_PERMIT_CONSENT},
	   {"email", "fees", "childcare.policy:10", "rec-10", NULL, CID_REASON_PERMIT_CONSENT}},
     .want = {"{\"acr\":\"urn:civicid:acr:high\",\"actor\":\"service\",\"amr\":[\"pwd\","
	      "\"otp\"],\"attributes\":[\"email\",\"email#ja\",\"email_verified\"],"
	      "\"auth_time\":\"2027-01-15T07:50:00Z\",\"basis\":\"consent\","
	      "\"consent_records\":[\"rec-10\",\"rec-9\"],\"decision\":\"permit\","
	      "\"endpoint\":\"userinfo\",\"grant_id\":\"grant-1\",\"level\":3,"
	      "\"policy_version\":\"9f2c\",\"purpose\":\"fees\","
	      "\"purpose_digest\":\"dg-fees\",\"reason\":\"permit_consent\","
	      "\"request_id\":\"req-1\",\"rule\":\"childcare.policy:10,11\","
	      "\"service\":\"childcare\",\"time\":\"2027-01-15T08:00:00Z\","
	      "\"type\":\"release.permit\"}"},
     .basis = CID_BASIS_CONSENT,
     .target = CID_RELEASE_USERINFO,
     .level = 3},
    {.name = "a statute permit for the ID token, nothing optional",
     .statute = REL_CHILD_ACT,
     .d = {{"address", "register", "childcare.policy:20", NULL, NULL, CID_REASON_PERMIT_STATUTE}},
     .want = {"{\"actor\":\"service\",\"attributes\":[\"address\"],"
	      "\"basis\":\"statute:\u5150\u7ae5\u798f\u7949\u6cd5 \\\"art. 24\\\"\","
	      "\"decision\":\"permit\",\"endpoint\":\"id_token\",\"level\":1,"
	      "\"purpose\":\"register\",\"reason\":\"permit_statute\","
	      "\"rule\":\"childcare.policy:20\",\"service\":\"childcare\","
	      "\"time\":\"2027-01-15T08:00:00Z\",\"type\":\"release.permit\"}"},
     .basis = CID_BASIS_STATUTE,
     .target = CID_RELEASE_ID_TOKEN,
     .level = 1},
    {.name = "denies with no purpose and no rule",
     .request_id = "req-3",
     .d = {{"updated_at", NULL, NULL, NULL, NULL, CID_REASON_UNKNOWN_SERVICE},
	   {"phone_number", NULL, NULL, NULL, NULL, CID_REASON_UNKNOWN_SERVICE}},
     .want = {"{\"actor\":\"service\",\"attributes\":[\"phone_number\",\"updated_at\"],"
	      "\"decision\":\"deny\",\"endpoint\":\"userinfo\",\"level\":1,"
	      "\"reason\":\"unknown_service\",\"request_id\":\"req-3\","
	      "\"service\":\"childcare\",\"time\":\"2027-01-15T08:00:00Z\","
	      "\"type\":\"release.deny\"}"},
     .target = CID_RELEASE_USERINFO,
     .level = 1},
    {.name = "lines of one file merged, another file apart, a deny without a rule apart",
     .statute = "Resident Act art. 30",
     .policy_version = REL_PV,
     .purpose_digest = "dg-reg",
     .acr = "urn:civicid:acr:mfa",
     .request_id = "req-4",
     .grant_id = "grant-4",
     .d = {{"given_name", "register", "childcare.policy:12", NULL, NULL, CID_REASON_PERMIT_STATUTE},
	   {"family_name", "register", "childcare.policy:9", NULL, NULL, CID_REASON_PERMIT_STATUTE},
	   {"birthdate", "register", "childcare.policy:10", NULL, NULL, CID_REASON_PERMIT_STATUTE},
	   {"given_name", "register", "childcare.policy:12", NULL, NULL, CID_REASON_PERMIT_STATUTE},
	   {"email", "register", "other.policy:3", NULL, NULL, CID_REASON_PERMIT_STATUTE},
	   {"gender", "register", NULL, NULL, NULL, CID_REASON_NOT_IN_POLICY}},
     .want = {"{\"acr\":\"urn:civicid:acr:mfa\",\"actor\":\"service\","
	      "\"attributes\":[\"birthdate\",\"family_name\",\"given_name\"],"
	      "\"basis\":\"statute:Resident Act art. 30\",\"decision\":\"permit\","
	      "\"endpoint\":\"userinfo\",\"grant_id\":\"grant-4\",\"level\":2,"
	      "\"policy_version\":\"9f2c\",\"purpose\":\"register\","
	      "\"purpose_digest\":\"dg-reg\",\"reason\":\"permit_statute\","
	      "\"request_id\":\"req-4\",\"rule\":\"childcare.policy:9,10,12\","
	      "\"service\":\"childcare\",\"time\":\"2027-01-15T08:00:00Z\","
	      "\"type\":\"release.permit\"}",
	      "{\"acr\":\"urn:civicid:acr:mfa\",\"actor\":\"service\","
	      "\"attributes\":[\"email\"],\"basis\":\"statute:Resident Act art. 30\","
	      "\"decision\":\"permit\",\"endpoint\":\"userinfo\",\"grant_id\":\"grant-4\","
	      "\"level\":2,\"policy_version\":\"9f2c\",\"purpose\":\"register\","
	      "\"purpose_digest\":\"dg-reg\",\"reason\":\"permit_statute\","
	      "\"request_id\":\"req-4\",\"rule\":\"other.policy:3\","
	      "\"service\":\"childcare\",\"time\":\"2027-01-15T08:00:00Z\","
	      "\"type\":\"release.permit\"}",
	      "{\"acr\":\"urn:civicid:acr:mfa\",\"actor\":\"service\","
	      "\"attributes\":[\"gender\"],\"basis\":\"statute:Resident Act art. 30\","
	      "\"decision\":\"deny\",\"endpoint\":\"userinfo\",\"grant_id\":\"grant-4\","
	      "\"level\":2,\"policy_version\":\"9f2c\",\"purpose\":\"register\","
	      "\"purpose_digest\":\"dg-reg\",\"reason\":\"not_in_policy\","
	      "\"request_id\":\"req-4\",\"service\":\"childcare\","
	      "\"time\":\"2027-01-15T08:00:00Z\",\"type\":\"release.deny\"}"},
     .basis = CID_BASIS_STATUTE,
     .target = CID_RELEASE_USERINFO,
     .level = 2},
    {.name = "verified values: with a time, without, and a typed one",
     .policy_version = REL_PV,
     .purpose_digest = "dg-kyc",
     .amr = {"hwk"},
     .auth_time = NOW - 3600,
     .grant_id = "grant-5",
     .d = {{"family_name", "kyc", "bank.policy:4", "rec-kyc", REL_JPKI, CID_REASON_PERMIT_CONSENT},
	   {"address", "kyc", "bank.policy:6", "rec-kyc", REL_EIDAS, CID_REASON_PERMIT_CONSENT},
	   {"phone_number", "kyc", "bank.policy:7", "rec-kyc", NULL, CID_REASON_PERMIT_CONSENT},
	   {"birthdate", "kyc", "bank.policy:5", "rec-kyc", REL_JPKI, CID_REASON_PERMIT_CONSENT}},
     .want = {"{\"actor\":\"service\",\"amr\":[\"hwk\"],\"attributes\":[\"birthdate\","
	      "\"family_name\"],\"auth_time\":\"2027-01-15T07:00:00Z\",\"basis\":\"consent\","
	      "\"consent_records\":[\"rec-kyc\"],\"decision\":\"permit\","
	      "\"endpoint\":\"id_token\",\"grant_id\":\"grant-5\",\"level\":3,"
	      "\"policy_version\":\"9f2c\",\"purpose\":\"kyc\",\"purpose_digest\":\"dg-kyc\","
	      "\"reason\":\"permit_consent\",\"rule\":\"bank.policy:4,5\","
	      "\"service\":\"childcare\",\"time\":\"2027-01-15T08:00:00Z\","
	      "\"type\":\"release.permit\",\"verified\":{\"issuer\":\"https://jpki.example\","
	      "\"time\":\"2026-03-01T09:00:00Z\",\"trust_framework\":\"jp_aml\"}}",
	      "{\"actor\":\"service\",\"amr\":[\"hwk\"],\"attributes\":[\"address\"],"
	      "\"auth_time\":\"2027-01-15T07:00:00Z\",\"basis\":\"consent\","
	      "\"consent_records\":[\"rec-kyc\"],\"decision\":\"permit\","
	      "\"endpoint\":\"id_token\",\"grant_id\":\"grant-5\",\"level\":3,"
	      "\"policy_version\":\"9f2c\",\"purpose\":\"kyc\",\"purpose_digest\":\"dg-kyc\","
	      "\"reason\":\"permit_consent\",\"rule\":\"bank.policy:6\","
	      "\"service\":\"childcare\",\"time\":\"2027-01-15T08:00:00Z\","
	      "\"type\":\"release.permit\","
	      "\"verified\":{\"issuer\":\"https://upstream.example\","
	      "\"trust_framework\":\"eidas\"}}",
	      "{\"actor\":\"service\",\"amr\":[\"hwk\"],\"attributes\":[\"phone_number\"],"
	      "\"auth_time\":\"2027-01-15T07:00:00Z\",\"basis\":\"consent\","
	      "\"consent_records\":[\"rec-kyc\"],\"decision\":\"permit\","
	      "\"endpoint\":\"id_token\",\"grant_id\":\"grant-5\",\"level\":3,"
	      "\"policy_version\":\"9f2c\",\"purpose\":\"kyc\",\"purpose_digest\":\"dg-kyc\","
	      "\"reason\":\"permit_consent\",\"rule\":\"bank.policy:7\","
	      "\"service\":\"childcare\",\"time\":\"2027-01-15T08:00:00Z\","
	      "\"type\":\"release.permit\"}"},
     .basis = CID_BASIS_CONSENT,
     .target = CID_RELEASE_ID_TOKEN,
     .level = 3},
    {.name = "verified values: one issuer's two verifications are two entries",
     .policy_version = REL_PV,
     .purpose_digest = "dg-kyc",
     .grant_id = "grant-5",
     .d = {{"family_name", "kyc", "bank.policy:4", "rec-kyc", REL_JPKI, CID_REASON_PERMIT_CONSENT},
	   {"address", "kyc", "bank.policy:6", "rec-kyc", REL_JPKI_LATER,
	    CID_REASON_PERMIT_CONSENT},
	   {"birthdate", "kyc", "bank.policy:5", "rec-kyc", REL_JPKI, CID_REASON_PERMIT_CONSENT}},
     .want = {"{\"actor\":\"service\",\"attributes\":[\"birthdate\",\"family_name\"],"
	      "\"basis\":\"consent\",\"consent_records\":[\"rec-kyc\"],\"decision\":\"permit\","
	      "\"endpoint\":\"id_token\",\"grant_id\":\"grant-5\",\"level\":3,"
	      "\"policy_version\":\"9f2c\",\"purpose\":\"kyc\",\"purpose_digest\":\"dg-kyc\","
	      "\"reason\":\"permit_consent\",\"rule\":\"bank.policy:4,5\","
	      "\"service\":\"childcare\",\"time\":\"2027-01-15T08:00:00Z\","
	      "\"type\":\"release.permit\",\"verified\":{\"issuer\":\"https://jpki.example\","
	      "\"time\":\"2026-03-01T09:00:00Z\",\"trust_framework\":\"jp_aml\"}}",
	      "{\"actor\":\"service\",\"attributes\":[\"address\"],"
	      "\"basis\":\"consent\",\"consent_records\":[\"rec-kyc\"],\"decision\":\"permit\","
	      "\"endpoint\":\"id_token\",\"grant_id\":\"grant-5\",\"level\":3,"
	      "\"policy_version\":\"9f2c\",\"purpose\":\"kyc\",\"purpose_digest\":\"dg-kyc\","
	      "\"reason\":\"permit_consent\",\"rule\":\"bank.policy:6\","
	      "\"service\":\"childcare\",\"time\":\"2027-01-15T08:00:00Z\","
	      "\"type\":\"release.permit\",\"verified\":{\"issuer\":\"https://jpki.example\","
	      "\"time\":\"2026-09-01T09:00:00Z\",\"trust_framework\":\"jp_aml\"}}"},
     .basis = CID_BASIS_CONSENT,
     .target = CID_RELEASE_ID_TOKEN,
     .level = 3},
    {.name = "expired consents: a consent.expired per record of base names, none without one",
     .policy_version = REL_PV,
     .purpose_digest = "dg-fees",
     .request_id = "req-6",
     .grant_id = "grant-6",
     .d = {{"family_name#ja-Kana-JP", "fees", "childcare.policy:10", "rec-old", NULL,
	    CID_REASON_EXPIRED},
	   {"family_name", "fees", "childcare.policy:10", "rec-old", NULL, CID_REASON_EXPIRED},
	   {"birthdate", "fees", "childcare.policy:11", "rec-old", NULL, CID_REASON_EXPIRED},
	   {"phone_number", "fees", "childcare.policy:12", "rec-older", NULL, CID_REASON_EXPIRED},
	   {"email", "fees", "childcare.policy:13", NULL, NULL, CID_REASON_EXPIRED}},
     .want = {"{\"actor\":\"system\",\"attributes\":[\"birthdate\",\"family_name\"],"
	      "\"consent_records\":[\"rec-old\"],\"purpose\":\"fees\","
	      "\"service\":\"childcare\",\"time\":\"2027-01-15T08:00:00Z\","
	      "\"type\":\"consent.expired\"}",
	      "{\"actor\":\"system\",\"attributes\":[\"phone_number\"],"
	      "\"consent_records\":[\"rec-older\"],\"purpose\":\"fees\","
	      "\"service\":\"childcare\",\"time\":\"2027-01-15T08:00:00Z\","
	      "\"type\":\"consent.expired\"}",
	      "{\"actor\":\"service\",\"attributes\":[\"birthdate\",\"email\","
	      "\"family_name\",\"family_name#ja-Kana-JP\",\"phone_number\"],"
	      "\"basis\":\"consent\",\"consent_records\":[\"rec-old\",\"rec-older\"],"
	      "\"decision\":\"deny\",\"endpoint\":\"userinfo\",\"grant_id\":\"grant-6\","
	      "\"level\":2,\"policy_version\":\"9f2c\",\"purpose\":\"fees\","
	      "\"purpose_digest\":\"dg-fees\",\"reason\":\"expired\","
	      "\"request_id\":\"req-6\",\"rule\":\"childcare.policy:10,11,12,13\","
	      "\"service\":\"childcare\",\"time\":\"2027-01-15T08:00:00Z\","
	      "\"type\":\"release.deny\"}"},
     .basis = CID_BASIS_CONSENT,
     .target = CID_RELEASE_USERINFO,
     .level = 2},
    {.name = "escapes: control characters, backslash, quote, slash, DEL, UTF-8; bytewise order",
     .policy_version = REL_PV,
     .purpose_digest = "dg/\\",
     .acr = "a\\b",
     .amr = {"p\x01q"},
     .request_id = "req\\7",
     .grant_id = "grant\"7\t",
     .d = {{"tab\there", REL_ODD, "child\\care.policy:2", "rec\\\x1f", NULL,
	    CID_REASON_PERMIT_CONSENT},
	   {"ctl\x01", REL_ODD, "child\\care.policy:2", "rec\\\x1f", NULL,
	    CID_REASON_PERMIT_CONSENT},
	   {"back\\slash", REL_ODD, "child\\care.policy:2", "rec\\\x1f", NULL,
	    CID_REASON_PERMIT_CONSENT},
	   {"quote\"d/slash", REL_ODD, "child\\care.policy:2", "rec\\\x1f", NULL,
	    CID_REASON_PERMIT_CONSENT},
	   {"\u65e5\u672c", REL_ODD, "child\\care.policy:2", "rec\\\x1f", NULL,
	    CID_REASON_PERMIT_CONSENT},
	   {"Zeta", REL_ODD, "child\\care.policy:2", "rec\\\x1f", NULL, CID_REASON_PERMIT_CONSENT}},
     .want = {"{\"acr\":\"a\\\\b\",\"actor\":\"service\",\"amr\":[\"p\\u0001q\"],"
	      "\"attributes\":[\"Zeta\",\"back\\\\slash\",\"ctl\\u0001\","
	      "\"quote\\\"d/slash\",\"tab\\there\",\"\u65e5\u672c\"],\"basis\":\"consent\","
	      "\"consent_records\":[\"rec\\\\\\u001F\"],\"decision\":\"permit\","
	      "\"endpoint\":\"userinfo\",\"grant_id\":\"grant\\\"7\\t\",\"level\":1,"
	      "\"policy_version\":\"9f2c\",\"purpose\":\"pur\\\\pose\\t\\\"x\\\"\x7f\","
	      "\"purpose_digest\":\"dg/\\\\\",\"reason\":\"permit_consent\","
	      "\"request_id\":\"req\\\\7\",\"rule\":\"child\\\\care.policy:2\","
	      "\"service\":\"childcare\",\"time\":\"2027-01-15T08:00:00Z\","
	      "\"type\":\"release.permit\"}"},
     .basis = CID_BASIS_CONSENT,
     .target = CID_RELEASE_USERINFO,
     .level = 1},
    /* refused, and nothing of the event written */
    {.name = "invalid UTF-8 in an attribute",
     .d = {{"email", "fees", "childcare.policy:10", "rec-1", NULL, CID_REASON_PERMIT_CONSENT},
	   {"bad\xff", "fees", "childcare.policy:10", "rec-1", NULL, CID_REASON_PERMIT_CONSENT}},
     .target = CID_RELEASE_USERINFO,
     .level = 1,
     .rc = CID_ERR_INVALID /* cid_audit_append refuses it (NOMEM when made by jansson) */},
    {.name = "invalid UTF-8 in an expired attribute",
     .d = {{"bad\xff#ja", "fees", "childcare.policy:10", "rec-bad", NULL, CID_REASON_EXPIRED}},
     .target = CID_RELEASE_USERINFO,
     .level = 1,
     .rc = CID_ERR_INVALID /* cid_audit_append refuses it (NOMEM when made by jansson) */},
    {.name = "invalid UTF-8 in a purpose",
     .d = {{"email", "fe\xffs", "childcare.policy:10", NULL, NULL, CID_REASON_PERMIT_CONSENT}},
     .target = CID_RELEASE_USERINFO,
     .level = 1,
     .rc = CID_ERR_INVALID /* cid_audit_append refuses it (NOMEM when made by jansson) */},
    {.name = "invalid UTF-8 in a statute",
     .statute = "Act \xc3(",
     .d = {{"address", "register", "childcare.policy:20", NULL, NULL, CID_REASON_PERMIT_STATUTE}},
     .basis = CID_BASIS_STATUTE,
     .target = CID_RELEASE_USERINFO,
     .level = 1,
     .rc = CID_ERR_INVALID /* cid_audit_append refuses it (NOMEM when made by jansson) */},
    {.name = "invalid UTF-8 in an amr",
     .amr = {"pwd", "\xff"},
     .d = {{"email", NULL, NULL, NULL, NULL, CID_REASON_UNKNOWN_SERVICE}},
     .target = CID_RELEASE_USERINFO,
     .level = 1,
     .rc = CID_ERR_INVALID /* cid_audit_append refuses it (NOMEM when made by jansson) */},
    /* the write refuses it (a pseudonym's scope has no newline): release_later took it */
    {.name = "a newline in a purpose",
     .d = {{"email", "fe\nes", "childcare.policy:10", NULL, NULL, CID_REASON_PERMIT_CONSENT}},
     .target = CID_RELEASE_USERINFO,
     .level = 1,
     .rc = CID_ERR_INVALID},
    {.name = "a newline in a request_id",
     .request_id = "req\n8",
     .d = {{"email", NULL, NULL, NULL, NULL, CID_REASON_UNKNOWN_SERVICE}},
     .target = CID_RELEASE_USERINFO,
     .level = 1,
     .rc = CID_ERR_INVALID},
    {.name = "a rule without a line",
     .d = {{"email", "fees", "childcare.policy", NULL, NULL, CID_REASON_PERMIT_CONSENT}},
     .target = CID_RELEASE_USERINFO,
     .level = 1,
     .rc = CID_ERR_INVALID},
};

/* The event of row into *ev, its decisions into d, their sources parsed into src (decref them). */
static void rel_event(const struct rel_row *row, struct cid_release_decision *d, json_t **src,
		      struct cid_release_event *ev)
{
	size_t n = 0;
	size_t n_amr = 0;

	while (n < REL_DECISIONS && row->d[n].attribute != NULL) {
		const struct rel_decision *r = &row->d[n];

		src[n] = r->source == NULL ? NULL : json_loads(r->source, 0, NULL);
		assert_true(r->source == NULL || src[n] != NULL);
		d[n] = (struct cid_release_decision){
		    .attribute = r->attribute,
		    .purpose = r->purpose,
		    .decision = {.permit = r->reason == CID_REASON_PERMIT_CONSENT ||
					   r->reason == CID_REASON_PERMIT_STATUTE,
				 .reason = r->reason,
				 .rule = r->rule,
				 .basis = row->basis,
				 .statute = row->statute,
				 .consent_id = r->consent_id,
				 .policy_version = row->policy_version},
		    .purpose_digest = r->purpose == NULL ? NULL : row->purpose_digest,
		    .source = src[n]};
		n++;
	}
	while (n_amr < 2 && row->amr[n_amr] != NULL)
		n_amr++;
	*ev = (struct cid_release_event){.service = "childcare",
					 .account_id = HANAKO,
					 .target = row->target,
					 .level = row->level,
					 .acr = row->acr,
					 .amr = row->amr,
					 .n_amr = n_amr,
					 .auth_time = row->auth_time,
					 .now = NOW,
					 .request_id = row->request_id,
					 .grant_id = row->grant_id,
					 .decisions = d,
					 .n_decisions = n};
}

/*
 * Runs row through the hook on f's log (later: cid_audit_release_later, then
 * cid_audit_pending_commit); the seqs it wrote are [*first, *first + *n).
 */
static enum cid_err rel_run(struct fixture *f, const struct rel_row *row, bool later,
			    uint64_t *first, size_t *n)
{
	struct cid_release_decision d[REL_DECISIONS];
	json_t *src[REL_DECISIONS] = {NULL};
	struct cid_release_event ev;
	struct cid_audit_range r = {0};
	struct cid_audit_pending *p = NULL;
	struct cid_audit_later to = {f->log, &p};
	uint64_t size = log_size(f->s);
	enum cid_err rc;

	rel_event(row, d, src, &ev);
	if (later) {
		rc = cid_audit_release_later(&to, &ev, &r);
		assert_int_equal(r.first, 0);
		assert_int_equal(r.last, 0);
		assert_true(rc == CID_OK || (p == NULL && r.count == 0));
		if (rc == CID_OK) {
			assert_non_null(p);
			assert_int_equal(cid_audit_pending_count(p), r.count);
			rc = cid_audit_pending_commit(p);
		}
	} else {
		rc = cid_audit_release_hook(f->log, &ev, &r);
		if (rc != CID_OK) {
			assert_int_equal(r.count, 0);
		} else if (r.count > 0) {
			assert_int_equal(r.first, size);
			assert_int_equal(r.last, size + r.count - 1);
		}
	}
	for (size_t i = 0; i < ev.n_decisions; i++)
		json_decref(src[i]);
	*first = size;
	*n = log_size(f->s) - size;
	if (rc == CID_OK)
		assert_int_equal(r.count, *n);
	return rc;
}

/*
 * Entry seq of s: its stored bytes canonical, its seq, a prev, its citizen a
 * pseudonym, and, without those three, want byte for byte.
 */
static void rel_entry_check(struct cid_store *s, uint64_t seq, const char *want)
{
	struct cid_txn *txn = NULL;
	struct cid_str v;
	char key[17];
	json_t *e;
	char *text;
	const char *who;

	key16(seq, key);
	assert_int_equal(cid_store_read_begin(s, &txn), CID_OK);
	assert_int_equal(cid_txn_get(txn, CID_DB_AUDIT, cid_str_of(key), &v), CID_OK);
	e = json_loadb(v.ptr, v.len, 0, NULL);
	assert_non_null(e);
	text = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS);
	assert_non_null(text);
	assert_int_equal(strlen(text), v.len);
	assert_memory_equal(text, v.ptr, v.len);
	cid_store_read_end(txn);
	free(text);

	assert_true(json_is_integer(json_object_get(e, "seq")));
	assert_int_equal(json_integer_value(json_object_get(e, "seq")), (json_int_t)seq);
	assert_true(audit_hash_syntax_ok(cid_json_str(e, "prev")));
	who = cid_json_str(e, "citizen");
	assert_non_null(who);
	assert_string_not_equal(who, HANAKO);
	assert_true(cid_pseudonym_syntax_ok(who));
	json_object_del(e, "seq");
	json_object_del(e, "prev");
	json_object_del(e, "citizen");
	text = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS);
	assert_non_null(text);
	assert_string_equal(text, want);
	free(text);
	json_decref(e);
}

/* A consent.expired entry is written once ever per record: each path has a store of its own. */
static int setup_pair(void **state)
{
	void **pair = calloc(2, sizeof(*pair));

	assert_non_null(pair);
	assert_int_equal(setup(&pair[0]), 0);
	assert_int_equal(setup(&pair[1]), 0);
	*state = pair;
	return 0;
}

static int teardown_pair(void **state)
{
	void **pair = *state;

	assert_int_equal(teardown(&pair[0]), 0);
	assert_int_equal(teardown(&pair[1]), 0);
	free(pair);
	return 0;
}

static void test_release_entries_are_pinned_byte_for_byte(void **state)
{
	void **pair = *state;

	for (size_t i = 0; i < sizeof(rel_rows) / sizeof(rel_rows[0]); i++) {
		const struct rel_row *row = &rel_rows[i];
		size_t n_want = 0;

		while (n_want < REL_ENTRIES && row->want[n_want] != NULL)
			n_want++;
		for (int later = 0; later <= 1; later++) {
			struct fixture *f = pair[later];
			uint64_t first = 0;
			size_t n = 0;

			print_message("row %zu (%s), %s\n", i, row->name,
				      later ? "release_later" : "release_hook");
			assert_int_equal(rel_run(f, row, later, &first, &n), row->rc);
			assert_int_equal(n, n_want);
			for (size_t j = 0; j < n; j++)
				rel_entry_check(f->s, first + j, row->want[j]);
		}
	}
	assert_true(verify_store(pair[0]).ok);
	assert_true(verify_store(pair[1]).ok);
}

/*
 * A statute citation is as long as a policy line lets it be (a caption of
 * many kanji), and the entry names it whole as its basis: "statute:" and
 * every byte, through both hooks. Cut at 300 bytes of "statute:...", the
 * first row's citation would end between two characters (a wrong basis),
 * the second's inside one (the release refused as not UTF-8).
 */
static void test_release_entry_names_a_long_statute_whole(void **state)
{
	/* 児童福祉法 第24条, and a caption of 保育の実施 in full-width, then ASCII, parentheses */
	static const struct {
		const char *open, *close;
	} rows[] = {
	    {"\u5150\u7ae5\u798f\u7949\u6cd5 \u7b2c24\u6761\uff08", "\uff09"},
	    {"\u5150\u7ae5\u798f\u7949\u6cd5 \u7b2c24\u6761(", ")"},
	};
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct cid_buf cite;
		struct cid_buf want;

		cid_buf_init(&cite, CID_POLICY_MAX_LINE);
		cid_buf_puts(&cite, rows[i].open);
		for (int k = 0; k < 80; k++)
			cid_buf_puts(&cite, "\u4fdd\u80b2\u306e\u5b9f\u65bd");
		cid_buf_puts(&cite, rows[i].close);
		assert_int_equal(cid_buf_status(&cite), CID_OK);
		assert_true(cite.len > 1000);
		/* a citation a policy's `basis statute` line may give */
		assert_true(cid_law_citation_ok(cite.data, cite.len, NULL));
		assert_true(strlen("\tbasis statute ") + cite.len <= CID_POLICY_MAX_LINE);
		cid_buf_init(&want, SIZE_MAX / 4);
		cid_buf_puts(&want, "statute:");
		cid_buf_append(&want, cite.data, cite.len);
		assert_int_equal(cid_buf_status(&want), CID_OK);

		const struct rel_row row = {.statute = cite.data,
					    .d = {{"address", "register", "childcare.policy:20",
						   NULL, NULL, CID_REASON_PERMIT_STATUTE}},
					    .basis = CID_BASIS_STATUTE,
					    .target = CID_RELEASE_ID_TOKEN,
					    .level = 1};

		for (int later = 0; later <= 1; later++) {
			struct cid_txn *txn = NULL;
			json_t *e = NULL;
			uint64_t first = 0;
			size_t n = 0;

			print_message("row %zu, %s\n", i, later ? "release_later" : "release_hook");
			assert_int_equal(rel_run(f, &row, later, &first, &n), CID_OK);
			assert_int_equal(n, 1);
			assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
			assert_int_equal(cid_audit_get(txn, first, &e), CID_OK);
			assert_string_equal(cid_json_str(e, "basis"), want.data);
			json_decref(e);
			cid_store_read_end(txn);
		}
		cid_buf_free(&want);
		cid_buf_free(&cite);
	}
	assert_true(verify_store(f).ok);
}

/* cid_audit_rule_parse: what an entry's "rule" may be */
static void test_rule_parse_table(void **state)
{
	static const struct {
		const char *rule;
		bool ok;
		size_t file_len, n;
		uint32_t lines[3];
	} rows[] = {
	    {"childcare.policy:14", true, 16, 1, {14}},
	    {"childcare.policy:9,21,22", true, 16, 3, {9, 21, 22}},
	    {"a:b.policy:7", true, 10, 1, {7}}, /* the file is all before the last ':' */
	    {"x:1000000", true, 1, 1, {1000000}},
	    {"x:1000001", false, 0, 0, {0}},
	    {"x:0", false, 0, 0, {0}},
	    {"x:07", false, 0, 0, {0}},
	    {"x:-1", false, 0, 0, {0}},
	    {"x:+1", false, 0, 0, {0}},
	    {"x:2,1", false, 0, 0, {0}}, /* not ascending */
	    {"x:2,2", false, 0, 0, {0}}, /* a repeat */
	    {"x:1,", false, 0, 0, {0}},
	    {"x:,1", false, 0, 0, {0}},
	    {"x:1 ", false, 0, 0, {0}},
	    {"x:", false, 0, 0, {0}},
	    {":1", false, 0, 0, {0}},
	    {"childcare.policy", false, 0, 0, {0}},
	    {"", false, 0, 0, {0}},
	    {NULL, false, 0, 0, {0}},
	    {"x:1,2,3,4", false, 0, 0, {0}}, /* over max (3) */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		uint32_t lines[3] = {0};
		size_t file_len = 0;
		size_t n = 99;
		bool ok = cid_audit_rule_parse(rows[i].rule, &file_len, lines, 3, &n);

		print_message("row %zu: %s\n", i, rows[i].rule == NULL ? "(null)" : rows[i].rule);
		assert_int_equal(ok, rows[i].ok);
		assert_int_equal(n, rows[i].n);
		if (!ok)
			continue;
		assert_int_equal(file_len, rows[i].file_len);
		for (size_t j = 0; j < n; j++)
			assert_int_equal(lines[j], rows[i].lines[j]);
	}
}

/* ---- views ---- */

static enum cid_err collect_cb(uint64_t seq, struct cid_str entry, void *arg)
{
	json_t *seqs = arg;

	(void)entry;
	return json_array_append_new(seqs, json_integer((json_int_t)seq)) == 0 ? CID_OK
									       : CID_ERR_NOMEM;
}

/* 0..9 as below: who, service, attribute, type, time offset */
static void views_fill(struct fixture *f)
{
	static const struct {
		const char *type, *citizen, *service, *attr;
		int t;
		const char *release; /* request_id: the release id the service was given */
	} rows[] = {
	    {"consent.granted", HANAKO, "childcare", "email", 0, NULL},
	    {"release.permit", HANAKO, "childcare", "email", 10, "rel-a"},
	    {"release.permit", TARO, "childcare", "family_name#ja-Kana-JP", 20, NULL},
	    {"release.deny", HANAKO, "library", "birthdate", 30, "rel-b"},
	    {"release.permit", HANAKO, "library", "family_name", 40, "rel-b"},
	    {"consent.withdrawn", HANAKO, "childcare", "email", 50, NULL},
	    {"release.permit", TARO, "library", "=cmd|' /C calc'!A0", 60, NULL},
	    {"release.permit", HANAKO, "childcare", "family_name_x", 70, "rel-c"},
	    {"release.deny", TARO, "childcare", "email", 80, NULL},
	    {"release.permit", HANAKO, "childcare", "address", 90, "rel-c"},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		json_t *e = entry_new(rows[i].type, rows[i].citizen, rows[i].service, rows[i].attr,
				      NOW + rows[i].t);

		if (rows[i].release != NULL)
			assert_int_equal(
			    json_object_set_new(e, "request_id", json_string(rows[i].release)), 0);
		assert_int_equal(append1(f->log, e), i);
	}
}

static void test_query_filters(void **state)
{
	static const struct {
		const char *name;
		struct cid_audit_filter f;
		const char *want; /* seqs, JSON array */
	} cases[] = {
	    {"all", {0}, "[0,1,2,3,4,5,6,7,8,9]"},
	    {"citizen", {.citizen = TARO}, "[2,6,8]"},
	    {"service", {.service = "library"}, "[3,4,6]"},
	    {"citizen and service", {.citizen = HANAKO, .service = "library"}, "[3,4]"},
	    {"attribute base name matches tagged", {.attribute = "family_name"}, "[2,4]"},
	    {"attribute exact tag", {.attribute = "family_name#ja-Kana-JP"}, "[2]"},
	    {"type exact", {.type = "release.deny"}, "[3,8]"},
	    {"type prefix", {.type = "consent."}, "[0,5]"},
	    {"type without dot is exact", {.type = "consent"}, "[]"},
	    {"from", {.from = "2027-01-15T08:01:20Z"}, "[8,9]"},
	    {"from to", {.from = "2027-01-15T08:00:20Z", .to = "2027-01-15T08:00:40Z"}, "[2,3]"},
	    {"after_seq", {.after_seq = 6}, "[7,8,9]"},
	    {"after_seq citizen", {.citizen = HANAKO, .after_seq = 4}, "[5,7,9]"},
	    {"newest first", {.newest_first = true, .limit = 3}, "[9,8,7]"},
	    {"newest first after_seq",
	     {.citizen = HANAKO, .newest_first = true, .after_seq = 5},
	     "[4,3,1,0]"},
	    {"limit", {.service = "childcare", .limit = 2}, "[0,1]"},
	    {"unknown citizen", {.citizen = "nobody"}, "[]"},
	    {"release id", {.release = "rel-b"}, "[3,4]"},
	    {"release id and type", {.release = "rel-b", .type = "release.permit"}, "[4]"},
	    {"release id newest first", {.release = "rel-c", .newest_first = true}, "[9,7]"},
	    {"release id of another service", {.release = "rel-b", .service = "childcare"}, "[]"},
	    {"release id and citizen", {.release = "rel-c", .citizen = HANAKO}, "[7,9]"},
	    {"unknown release id", {.release = "rel-x"}, "[]"},
	};
	struct fixture *f = *state;
	struct cid_txn *txn = NULL;
	struct cid_audit_filter bad_time = {.from = "2027-01-15"};
	struct cid_audit_filter bad_type = {.type = ""};

	views_fill(f);
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *got = json_array();
		json_t *want = json_loads(cases[i].want, 0, NULL);

		assert_int_equal(cid_audit_query(txn, &cases[i].f, collect_cb, got), CID_OK);
		if (!json_equal(got, want)) {
			char *g = json_dumps(got, JSON_COMPACT);

			fail_msg("%s: got %s want %s", cases[i].name, g, cases[i].want);
		}
		json_decref(got);
		json_decref(want);
	}
	assert_int_equal(cid_audit_query(txn, &bad_time, collect_cb, NULL), CID_ERR_INVALID);
	assert_int_equal(cid_audit_query(txn, &bad_type, collect_cb, NULL), CID_ERR_INVALID);
	/* names that no index key can hold */
	{
		char longname[202];
		const struct cid_audit_filter bad_names[] = {
		    {.citizen = ""}, {.service = "a\nb"}, {.citizen = longname},
		    {.release = ""}, {.release = "a\nb"}, {.release = longname}};

		memset(longname, 'a', sizeof(longname) - 1);
		longname[sizeof(longname) - 1] = '\0';
		for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++)
			assert_int_equal(cid_audit_query(txn, &bad_names[i], collect_cb, NULL),
					 CID_ERR_INVALID);
	}
	cid_store_read_end(txn);
}

/* ---- a service's day ---- */

#define MIDNIGHT 1800057600 /* 2027-01-16T00:00:00Z */
#define DAY	 86400
#define D0	 "2027-01-15T00:00:00Z"
#define D1	 "2027-01-16T00:00:00Z"
#define D2	 "2027-01-17T00:00:00Z"

/*
 * Entries of three services (one a prefix of another's name) around two
 * midnights, some stamped before the entry written just before them, as
 * appenders that take the time before the commit write them.
 */
static const struct {
	const char *service; /* NULL: an entry of no service */
	int t;		     /* seconds from MIDNIGHT */
	const char *type, *attr, *release;
} day_rows[] = {
    {"childcare", -3600, "release.permit", "email", NULL},     /* 0 */
    {"library", -2, "release.permit", "email", NULL},	       /* 1 */
    {"childcare", -1, "release.permit", "email", NULL},	       /* 2 */
    {"childcare", 1, "release.permit", "email", "rel-x"},      /* 3 */
    {"childcare", -1, "release.permit", "email", NULL},	       /* 4: stamped before 3 */
    {"library", 0, "release.permit", "email", NULL},	       /* 5 */
    {"lib", 10, "release.permit", "email", NULL},	       /* 6 */
    {"childcare", DAY - 1, "release.deny", "email", NULL},     /* 7 */
    {"library", DAY, "release.permit", "email", NULL},	       /* 8 */
    {"childcare", DAY + 1, "release.permit", "email", NULL},   /* 9 */
    {"childcare", DAY - 2, "release.permit", "address", NULL}, /* 10: stamped before 9 */
    {NULL, 100, "officer.searched", "email", NULL},	       /* 11 */
    {"library", DAY - 1, "release.permit", "email", NULL},     /* 12: written late */
};

#define N_DAY_ROWS (sizeof(day_rows) / sizeof(day_rows[0]))

static void day_append(struct fixture *f, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++) {
		json_t *e = entry_new(day_rows[i].type, HANAKO, "x", day_rows[i].attr,
				      MIDNIGHT + day_rows[i].t);

		if (day_rows[i].service == NULL)
			assert_int_equal(json_object_del(e, "service"), 0);
		else
			assert_int_equal(
			    json_object_set_new(e, "service", json_string(day_rows[i].service)), 0);
		if (day_rows[i].release != NULL)
			assert_int_equal(
			    json_object_set_new(e, "request_id", json_string(day_rows[i].release)),
			    0);
		assert_int_equal(append1(f->log, e), i);
	}
}

/*
 * The store as a civicid without the service-day index leaves it: the
 * prefix's index keys of the seqs [from, to) deleted and, with cover, the
 * recorded run ending at from (no run at all when from is 0).
 */
struct unindex {
	const char *prefix; /* "d\n" (the service-day index) or "s\n" (the service index) */
	uint64_t from, to;
	bool cover;
	json_t *keys;
};

static enum cid_err unindex_key(struct cid_str key, struct cid_str val, void *arg)
{
	struct unindex *u = arg;
	uint64_t seq = 0;

	(void)val;
	assert_true(key.len > AUDIT_SEQ_HEX);
	assert_true(audit_seq_key_parse(
	    (struct cid_str){key.ptr + key.len - AUDIT_SEQ_HEX, AUDIT_SEQ_HEX}, &seq));
	if (seq >= u->from && seq < u->to)
		assert_int_equal(json_array_append_new(u->keys, json_stringn(key.ptr, key.len)), 0);
	return CID_OK;
}

static enum cid_err unindex_cb(struct cid_txn *txn, void *arg)
{
	struct unindex *u = arg;
	json_t *cover = NULL;
	size_t i;
	json_t *k;

	json_array_clear(u->keys);
	assert_int_equal(
	    cid_txn_foreach(txn, CID_DB_AUDIT_IDX, cid_str_of(u->prefix), unindex_key, u), CID_OK);
	json_array_foreach(u->keys, i, k) assert_int_equal(
	    cid_txn_del(txn, CID_DB_AUDIT_IDX,
			(struct cid_str){json_string_value(k), json_string_length(k)}),
	    CID_OK);
	if (!u->cover)
		return CID_OK;
	if (u->from == 0)
		return cid_txn_del(txn, CID_DB_META, cid_str_of(AUDIT_DAY_KEY));
	assert_int_equal(cid_txn_get_json(txn, CID_DB_META, cid_str_of(AUDIT_DAY_KEY), &cover),
			 CID_OK);
	assert_int_equal(json_object_set_new(cover, "to", json_integer((json_int_t)u->from)), 0);
	assert_int_equal(cid_txn_put_json(txn, CID_DB_META, cid_str_of(AUDIT_DAY_KEY), cover, 0),
			 CID_OK);
	json_decref(cover);
	return CID_OK;
}

static void unindex(struct fixture *f, const char *prefix, uint64_t from, uint64_t to, bool cover)
{
	struct unindex u = {prefix, from, to, cover, json_array()};

	assert_non_null(u.keys);
	assert_int_equal(cid_store_update(f->s, unindex_cb, &u), CID_OK);
	json_decref(u.keys);
}

/* The stores the day's queries run on: each must answer every query the same. */
enum day_store {
	DAY_INDEXED,	   /* every entry written with the index */
	DAY_ALONE,	   /* the service index gone: the day index alone answers */
	DAY_OLD_HALF,	   /* entries 0-6 written before the index existed */
	DAY_OLD_ALL,	   /* every entry written before the index existed */
	DAY_OLDER_WRITER,  /* entries 9-12 written since by a civicid without the index */
	DAY_RUN_RESTARTED, /* 3-6 by a civicid without it, then 7-12 with it again */
	DAY_N_STORES,
};

static void day_store_make(struct fixture *f, enum day_store kind)
{
	switch (kind) {
	case DAY_INDEXED: day_append(f, 0, N_DAY_ROWS); break;
	case DAY_ALONE:
		day_append(f, 0, N_DAY_ROWS);
		unindex(f, "s\n", 0, N_DAY_ROWS, false);
		break;
	case DAY_OLD_HALF:
		day_append(f, 0, 7);
		unindex(f, "d\n", 0, N_DAY_ROWS, true);
		day_append(f, 7, N_DAY_ROWS);
		break;
	case DAY_OLD_ALL:
		day_append(f, 0, N_DAY_ROWS);
		unindex(f, "d\n", 0, N_DAY_ROWS, true);
		break;
	case DAY_OLDER_WRITER:
		day_append(f, 0, N_DAY_ROWS);
		unindex(f, "d\n", 9, N_DAY_ROWS, true);
		break;
	case DAY_RUN_RESTARTED:
		day_append(f, 0, 7);
		unindex(f, "d\n", 3, N_DAY_ROWS, true);
		day_append(f, 7, N_DAY_ROWS);
		break;
	default: fail();
	}
}

/*
 * A service over a time range: every entry of that service with a time in
 * [from, to) and none other, in seq order, on every store: written with the
 * service-day index, before it, partly since by a civicid without it.
 */
static void test_service_day_is_exact_on_every_store(void **state)
{
	static const struct {
		const char *name;
		struct cid_audit_filter f;
		const char *want; /* seqs, JSON array */
	} cases[] = {
	    {"day after midnight", {.service = "childcare", .from = D1, .to = D2}, "[3,7,10]"},
	    {"day before midnight", {.service = "childcare", .from = D0, .to = D1}, "[0,2,4]"},
	    {"two days", {.service = "childcare", .from = D0, .to = D2}, "[0,2,3,4,7,10]"},
	    {"another service", {.service = "library", .from = D1, .to = D2}, "[5,12]"},
	    {"a name that is another's prefix", {.service = "lib", .from = D1, .to = D2}, "[6]"},
	    {"newest first",
	     {.service = "childcare", .from = D1, .to = D2, .newest_first = true},
	     "[10,7,3]"},
	    {"limit", {.service = "childcare", .from = D1, .to = D2, .limit = 2}, "[3,7]"},
	    {"newest first, limit",
	     {.service = "childcare", .from = D1, .to = D2, .newest_first = true, .limit = 2},
	     "[10,7]"},
	    {"after_seq", {.service = "childcare", .from = D1, .to = D2, .after_seq = 3}, "[7,10]"},
	    {"after_seq just before a match",
	     {.service = "childcare", .from = D1, .to = D2, .after_seq = 2},
	     "[3,7,10]"},
	    {"newest first, just after a match",
	     {.service = "childcare", .from = D1, .to = D2, .newest_first = true, .after_seq = 4},
	     "[3]"},
	    {"newest first, before a seq",
	     {.service = "childcare", .from = D1, .to = D2, .newest_first = true, .after_seq = 10},
	     "[7,3]"},
	    {"the second before midnight",
	     {.service = "childcare", .from = "2027-01-15T23:59:59Z", .to = D1},
	     "[2,4]"},
	    {"to is exclusive",
	     {.service = "childcare", .from = "2027-01-16T23:59:58Z", .to = "2027-01-16T23:59:59Z"},
	     "[10]"},
	    {"type", {.service = "childcare", .from = D1, .to = D2, .type = "release.deny"}, "[7]"},
	    {"attribute",
	     {.service = "childcare", .from = D1, .to = D2, .attribute = "address"},
	     "[10]"},
	    {"release id",
	     {.service = "childcare", .release = "rel-x", .from = D1, .to = D2},
	     "[3]"},
	    {"release id of another service",
	     {.service = "library", .release = "rel-x", .from = D1, .to = D2},
	     "[]"},
	    {"unknown service", {.service = "parking", .from = D1, .to = D2}, "[]"},
	    {"empty range", {.service = "childcare", .from = D1, .to = D1}, "[]"},
	};
	struct fixture *f = *state;

	for (int kind = 0; kind < DAY_N_STORES; kind++) {
		struct cid_txn *txn = NULL;

		if (kind > 0) {
			assert_int_equal(teardown(state), 0);
			assert_int_equal(setup(state), 0);
			f = *state;
		}
		day_store_make(f, (enum day_store)kind);
		assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			json_t *got = json_array();
			json_t *want = json_loads(cases[i].want, 0, NULL);

			assert_int_equal(cid_audit_query(txn, &cases[i].f, collect_cb, got),
					 CID_OK);
			if (!json_equal(got, want)) {
				char *g = json_dumps(got, JSON_COMPACT);

				fail_msg("store %d, %s: got %s want %s", kind, cases[i].name, g,
					 cases[i].want);
			}
			json_decref(got);
			json_decref(want);
		}
		cid_store_read_end(txn);
		assert_true(verify_store(f).ok); /* the index is not part of the chain */
	}
}

static void test_provisions_record(void **state)
{
	struct fixture *f = *state;
	struct cid_txn *txn = NULL;
	json_t *p = NULL;
	json_t *row;
	char *hanako;
	char *taro;
	size_t i;

	views_fill(f);
	/* rows name the pseudonym of each citizen's scope (pseudonym.h) */
	hanako = cid_test_pseudonym(f->s, HANAKO, "childcare", NULL);
	taro = cid_test_pseudonym(f->s, TARO, "library", NULL);
	assert_non_null(hanako);
	assert_non_null(taro);
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(
	    cid_audit_provisions(txn, "2027-01-15T08:00:00Z", "2027-01-15T08:01:30Z", &p), CID_OK);
	assert_int_equal(cid_audit_provisions(txn, "yesterday", NULL, &row), CID_ERR_INVALID);
	cid_store_read_end(txn);
	/* permits before 08:01:30: childcare/hanako (1, 7), childcare/taro (2),
	 * library/hanako (4), library/taro (6); 9 is past `to` */
	assert_int_equal(json_array_size(p), 4);
	/* sorted by service, then by the (random) pseudonym */
	i = strcmp(cid_json_str(json_array_get(p, 0), "citizen"), hanako) == 0 ? 0 : 1;
	row = json_array_get(p, i);
	assert_string_equal(cid_json_str(row, "service"), "childcare");
	assert_string_equal(cid_json_str(row, "citizen"), hanako);
	assert_int_equal(cid_json_int(row, "count"), 2);
	assert_string_equal(cid_json_str(row, "first"), "2027-01-15T08:00:10Z");
	assert_string_equal(cid_json_str(row, "last"), "2027-01-15T08:01:10Z");
	assert_int_equal(json_array_size(json_object_get(row, "attributes")), 2);
	assert_string_equal(
	    json_string_value(json_array_get(json_object_get(row, "attributes"), 0)), "email");
	i = strcmp(cid_json_str(json_array_get(p, 3), "citizen"), taro) == 0 ? 3 : 2;
	row = json_array_get(p, i);
	assert_string_equal(cid_json_str(row, "service"), "library");
	assert_string_equal(cid_json_str(row, "citizen"), taro);
	json_decref(p);
	free(hanako);
	free(taro);
}

/* Entry 1 names service "child\ncare": no writer makes that, only damage. */
static enum cid_err newline_service_cb(struct cid_txn *txn, void *arg)
{
	char k[17];
	char *text;
	char *p;
	char *out;
	enum cid_err rc;

	(void)arg;
	key16(1, k);
	text = raw_get(txn, CID_DB_AUDIT, k);
	p = strstr(text, "\"childcare\"");
	assert_non_null(p);
	out = malloc(strlen(text) + 3);
	assert_non_null(out);
	snprintf(out, strlen(text) + 3, "%.*s\"child\\ncare\"%s", (int)(p - text), text,
		 p + strlen("\"childcare\""));
	rc = cid_txn_put(txn, CID_DB_AUDIT, cid_str_of(k), cid_str_of(out), 0);
	free(out);
	free(text);
	return rc;
}

/* A name that could merge two rows of the record is damage, not a row. */
static void test_provisions_refuse_a_damaged_name(void **state)
{
	struct fixture *f = *state;
	struct cid_txn *txn = NULL;
	json_t *p = NULL;

	views_fill(f);
	assert_int_equal(cid_store_update(f->s, newline_service_cb, NULL), CID_OK);
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(
	    cid_audit_provisions(txn, "2027-01-15T08:00:00Z", "2027-01-15T08:01:30Z", &p),
	    CID_ERR_STORE);
	cid_store_read_end(txn);
	assert_null(p);
	assert_false(verify_store(f).ok);
}

static void test_citizen_slice_hides_officers_and_denials(void **state)
{
	struct fixture *f = *state;
	struct cid_txn *txn = NULL;
	json_t *sl = NULL;
	json_t *officer = entry_new("consent.withdrawn", HANAKO, "childcare", "email", NOW + 100);
	json_t *row;

	views_fill(f);
	json_object_set_new(officer, "actor", json_string("officer:suzuki"));
	assert_int_equal(append1(f->log, officer), 10);
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_audit_citizen(txn, HANAKO, 0, 3, &sl), CID_OK);
	assert_int_equal(json_array_size(sl), 3);
	row = json_array_get(sl, 0);
	assert_int_equal(cid_json_int(row, "seq"), 10);
	/* the row is that entry's: the query's parse of it, handed on */
	assert_string_equal(cid_json_str(row, "type"), "consent.withdrawn");
	assert_string_equal(cid_json_str(row, "service"), "childcare");
	assert_null(json_object_get(row, "actor"));
	{
		char *text = json_dumps(row, 0);

		assert_non_null(text);
		assert_null(strstr(text, "suzuki"));
		free(text);
	}
	assert_int_equal(cid_json_int(json_array_get(sl, 1), "seq"), 9);
	assert_int_equal(cid_json_int(json_array_get(sl, 2), "seq"), 7);
	json_decref(sl);
	/* next page: the deny (3) is not shown */
	assert_int_equal(cid_audit_citizen(txn, HANAKO, 7, 10, &sl), CID_OK);
	assert_int_equal(json_array_size(sl), 4);
	assert_int_equal(cid_json_int(json_array_get(sl, 0), "seq"), 5);
	assert_int_equal(cid_json_int(json_array_get(sl, 1), "seq"), 4);
	assert_int_equal(cid_json_int(json_array_get(sl, 2), "seq"), 1);
	assert_int_equal(cid_json_int(json_array_get(sl, 3), "seq"), 0);
	json_decref(sl);
	assert_int_equal(cid_audit_citizen(txn, NULL, 0, 3, &sl), CID_ERR_INVALID);
	cid_store_read_end(txn);
}

static void test_csv_quotes_and_defuses_formulas(void **state)
{
	struct fixture *f = *state;
	struct cid_txn *txn = NULL;
	struct cid_audit_filter flt = {.citizen = TARO, .service = "library"};
	char *out = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&out, &len);
	uint64_t n = 0;
	json_t *e = entry_new("release.permit", TARO, "library", "a,b", NOW + 200);

	assert_non_null(mem);
	views_fill(f);
	json_object_set_new(e, "purpose", json_string("say \"hi\""));
	json_object_set_new(e, "rule", json_string("-1+1"));
	assert_int_equal(append1(f->log, e), 10);
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_audit_write_filtered(txn, &flt, true, mem, &n), CID_OK);
	cid_store_read_end(txn);
	assert_int_equal(fclose(mem), 0);
	assert_int_equal(n, 2);
	/* a UTF-8 byte order mark first: Japanese Excel reads the file as UTF-8 */
	assert_memory_equal(out, "\xEF\xBB\xBF", 3);
	assert_non_null(strstr(out, "seq,time,type,actor,citizen,service,purpose,attributes,"
				    "decision,reason,basis,rule,consent_records,policy_version,"
				    "endpoint,request_id\r\n"));
	/* formulas are prefixed with ' so that a spreadsheet shows them as text */
	assert_non_null(strstr(out, ",'=cmd|' /C calc'!A0,"));
	assert_non_null(strstr(out, ",\"a,b\","));
	assert_non_null(strstr(out, ",\"say \"\"hi\"\"\","));
	assert_non_null(strstr(out, ",'-1+1,"));
	free(out);

	out = NULL;
	mem = open_memstream(&out, &len);
	assert_non_null(mem);
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_audit_write_filtered(txn, &flt, false, mem, &n), CID_OK);
	cid_store_read_end(txn);
	assert_int_equal(fclose(mem), 0);
	assert_int_equal(n, 2);
	assert_int_equal(out[0], '{');
	assert_non_null(strstr(out, "\"seq\":6"));
	free(out);
}

/* ---- checkpoints and offline verification ---- */

static void test_checkpoint_reuses_covering_one(void **state)
{
	struct fixture *f = *state;
	char *a = NULL;
	char *b = NULL;
	char *c = NULL;

	assert_int_equal(cid_audit_checkpoint(f->s, NOW, &a), CID_ERR_NOTFOUND);
	(void)append1(f->log, entry_new("release.permit", HANAKO, "childcare", "email", NOW));
	assert_int_equal(cid_audit_checkpoint(f->s, NOW, &a), CID_OK);
	assert_int_equal(cid_audit_checkpoint(f->s, NOW + 5, &b), CID_OK);
	assert_string_equal(a, b);
	(void)append1(f->log, entry_new("release.permit", HANAKO, "childcare", "email", NOW));
	assert_int_equal(cid_audit_checkpoint(f->s, NOW + 9, &c), CID_OK);
	assert_string_not_equal(a, c);
	free(a);
	free(b);
	free(c);
	assert_int_equal(verify_store(f).checkpoints, 2);
}

/* The signed export ends with a checkpoint covering every entry it holds. */
static struct cid_audit_report export_signed(struct fixture *f, uint64_t *entries)
{
	char *text = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);
	struct cid_audit_report rep;

	assert_non_null(mem);
	*entries = UINT64_MAX;
	assert_int_equal(cid_audit_export_signed(f->s, NOW + 60, mem, entries), CID_OK);
	assert_int_equal(fclose(mem), 0);
	rep = verify_text(f, f->ks, text, len);
	free(text);
	return rep;
}

static void test_signed_export_covers_all_of_it(void **state)
{
	struct fixture *f = *state;
	struct cid_audit_report rep;
	uint64_t n;

	/* an empty log: nothing to sign, an empty export, which proves nothing */
	rep = export_signed(f, &n);
	assert_false(rep.ok);
	assert_non_null(strstr(rep.reason, "no signed checkpoint"));
	assert_int_equal(n, 0);
	assert_int_equal(rep.entries, 0);
	chain_fill(f); /* checkpoints after 5 and 10 of N_CHAIN */
	(void)append1(f->log, entry_new("release.permit", HANAKO, "childcare", "email", NOW));
	rep = export_signed(f, &n);
	assert_true(rep.ok);
	assert_int_equal(n, N_CHAIN + 1);
	assert_int_equal(rep.entries, N_CHAIN + 1);
	assert_int_equal(rep.checkpoints, 3);
	assert_int_equal(rep.covered, N_CHAIN + 1);
	/* again: the newest checkpoint already covers the head, none is added */
	rep = export_signed(f, &n);
	assert_int_equal(rep.checkpoints, 3);
}

/* A store from before the signed notes: its JWS checkpoints verify with the token keys. */
static void test_legacy_checkpoints_verify_with_published_jwks(void **state)
{
	struct fixture *f = *state;
	struct cid_keyset *pub = NULL;
	struct cid_keyset *old = NULL;
	size_t jlen = 0;
	const char *jwks;
	char *text;
	size_t len = 0;
	struct cid_audit_report rep;

	chain_fill_as(f, true);
	jwks = cid_keyset_jwks(f->ks, &jlen);
	assert_int_equal(cid_keyset_from_jwks(jwks, jlen, &pub), CID_OK);
	text = export_text(f->s, &len);
	rep = verify_text(f, pub, text, len);
	assert_true(rep.ok);
	assert_int_equal(rep.checkpoints, 2);
	assert_int_equal(rep.legacy, 2);
	assert_int_equal(rep.covered, 10);
	/* without the JWKS a legacy checkpoint is not taken on trust */
	rep = verify_text(f, NULL, text, len);
	assert_false(rep.ok);
	assert_int_equal(rep.bad_seq, 4);
	assert_non_null(strstr(rep.reason, "legacy JWS: the JWKS of the token keys checks it"));
	/* the tree of the old entries and the signed notes after them verify together */
	assert_int_equal(cid_audit_checkpoint(f->s, NOW + 50, NULL), CID_OK);
	rep = verify_store(f);
	assert_true(rep.ok);
	assert_int_equal(rep.checkpoints, 3);
	assert_int_equal(rep.legacy, 2);
	assert_int_equal(rep.covered, N_CHAIN);
	free(text);
	text = export_text(f->s, &len);
	rep = verify_opts(f, pub, text, len, &strict);
	assert_true(rep.ok);
	assert_int_equal(rep.checkpoints, 3);

	/* after a rotation whose old key is past drop_after, load_all still verifies */
	assert_int_equal(cid_keys_rotate(f->s, "ES256", NOW + 100, 0, NULL), CID_OK);
	assert_int_equal(cid_keyset_load(f->s, NOW + 200, &old), CID_OK);
	assert_int_equal(cid_audit_verify_store(f->s, old, NULL, &rep), CID_OK);
	assert_false(rep.ok); /* the dropped key is not in the current keyset */
	assert_int_equal(rep.bad_seq, 4);
	cid_keyset_free(old);
	assert_int_equal(cid_keyset_load_all(f->s, &old), CID_OK);
	assert_int_equal(cid_audit_verify_store(f->s, old, NULL, &rep), CID_OK);
	assert_true(rep.ok);
	assert_int_equal(rep.checkpoints, 3);
	cid_keyset_free(old);
	cid_keyset_free(pub);
	free(text);
}

/* ---- what an export proves: the signed part, as the log's one issuer ---- */

/* The chain's hash of an entry's bytes: SHA-256(0x00 || bytes), hex. */
static void chain_hash(const char *text, char out[CID_AUDIT_HASH_HEX])
{
	size_t n = strlen(text);
	char *z = malloc(n + 1);
	uint8_t d[32];

	assert_non_null(z);
	z[0] = '\0';
	memcpy(z + 1, text, n);
	cid_sha256(z, n + 1, d);
	cid_hex(d, 32, out);
	free(z);
}

/*
 * What anyone can make without a key from an export: entry `changed` edited
 * (UINT64_MAX: none), every prev recomputed, the checkpoint lines dropped
 * (keep_checkpoints false), then `append` more entries chained on. Returns
 * the new export (caller frees), *len its length.
 */
static char *forge(const char *export, uint64_t changed, bool keep_checkpoints, int append,
		   size_t *len)
{
	char *copy = strdup(export);
	char *lines[N_CHAIN * 2 + 8];
	char *out = NULL;
	FILE *mem = open_memstream(&out, len);
	char prev[CID_AUDIT_HASH_HEX] = ZERO_HASH_TEXT;
	uint64_t next = 0;
	size_t n;

	assert_non_null(copy);
	assert_non_null(mem);
	n = split_lines(copy, lines, sizeof(lines) / sizeof(lines[0]));
	for (size_t i = 0; i < n + (size_t)append; i++) {
		json_t *e;
		char *text;

		if (i < n && (strncmp(lines[i], "{\"checkpoint\":", 14) == 0 ||
			      strncmp(lines[i], "{\"note\":", 8) == 0)) {
			if (keep_checkpoints)
				fprintf(mem, "%s\n", lines[i]);
			continue;
		}
		e = i < n ? json_loads(lines[i], 0, NULL)
			  : entry_new("release.permit", HANAKO, "childcare", "email", NOW + 99);
		assert_non_null(e);
		if (next == changed)
			json_object_set_new(e, "service", json_string("chilDcare"));
		json_object_set_new(e, "seq", json_integer((json_int_t)next));
		json_object_set_new(e, "prev", json_string(prev));
		text = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS);
		assert_non_null(text);
		chain_hash(text, prev);
		fprintf(mem, "%s\n", text);
		free(text);
		json_decref(e);
		next++;
	}
	assert_int_equal(fclose(mem), 0);
	free(copy);
	return out;
}

/* Entries changed, every later prev recomputed, the checkpoints deleted: nothing is signed. */
static void test_fabricated_export_without_checkpoints_fails(void **state)
{
	struct fixture *f = *state;
	size_t len = 0;
	size_t flen = 0;
	char *orig;
	char *fake;
	struct cid_audit_report rep;

	chain_fill(f);
	orig = export_text(f->s, &len);
	fake = forge(orig, 3, false, 0, &flen);
	rep = verify_opts(f, f->ks, fake, flen, &strict);
	assert_false(rep.ok);
	assert_true(rep.unsigned_tail);
	assert_int_equal(rep.bad_seq, 0);
	assert_int_equal(rep.entries, N_CHAIN);
	assert_int_equal(rep.checkpoints, 0);
	assert_int_equal(rep.covered, 0);
	assert_non_null(strstr(rep.reason, "nothing is signed"));
	assert_string_equal(rep.issuer, "");
	/* accepted, the chain itself holds: everything is unverified */
	rep = verify_opts(f, f->ks, fake, flen, &accept_tail);
	assert_true(rep.ok);
	assert_true(rep.unsigned_tail);
	assert_int_equal(rep.covered, 0);
	assert_int_equal(rep.entries, N_CHAIN);
	free(fake);
	/* with its checkpoints kept, the same edit is damage at the changed entry */
	fake = forge(orig, 3, true, 0, &flen);
	rep = verify_opts(f, f->ks, fake, flen, &accept_tail);
	assert_false(rep.ok);
	assert_false(rep.unsigned_tail);
	assert_int_equal(rep.bad_seq, 4); /* checkpoint 5 signed another tree of entries 0..4 */
	free(fake);
	free(orig);
}

/* Entries chained on after the last checkpoint of a signed export are signed by nothing. */
static void test_entries_appended_after_the_last_checkpoint_fail(void **state)
{
	struct fixture *f = *state;
	char *text = NULL;
	size_t len = 0;
	size_t flen = 0;
	FILE *mem = open_memstream(&text, &len);
	uint64_t n = 0;
	char *fake;
	struct cid_audit_report rep;

	assert_non_null(mem);
	chain_fill(f);
	assert_int_equal(cid_audit_export_signed(f->s, NOW + 60, mem, &n), CID_OK);
	assert_int_equal(fclose(mem), 0);
	rep = verify_opts(f, f->ks, text, len, &strict);
	assert_true(rep.ok);
	assert_false(rep.unsigned_tail);
	assert_int_equal(rep.covered, N_CHAIN);

	fake = forge(text, UINT64_MAX, true, 2, &flen);
	rep = verify_opts(f, f->ks, fake, flen, &strict);
	assert_false(rep.ok);
	assert_true(rep.unsigned_tail);
	assert_int_equal(rep.bad_seq, N_CHAIN);
	assert_int_equal(rep.entries, N_CHAIN + 2);
	assert_int_equal(rep.covered, N_CHAIN);
	assert_non_null(strstr(rep.reason, "entries 12..13 follow the last signed checkpoint"));
	rep = verify_opts(f, f->ks, fake, flen, &accept_tail);
	assert_true(rep.ok);
	assert_true(rep.unsigned_tail);
	assert_int_equal(rep.covered, N_CHAIN);
	/* NULL options are the strict defaults */
	rep = verify_opts(f, f->ks, fake, flen, NULL);
	assert_false(rep.ok);
	free(fake);
	free(text);
}

/* Every legacy checkpoint is signed as the expected issuer: given, or named by the JWKS. */
static void test_checkpoint_issuer_is_checked(void **state)
{
	struct fixture *f = *state;
	const struct cid_audit_verify_opts ours = {.issuer = ISS, .allow_unsigned_tail = true};
	const struct cid_audit_verify_opts other = {.issuer = "https://other.example",
						    .allow_unsigned_tail = true};
	struct cid_keyset *named = NULL;
	struct cid_keyset *wrong = NULL;
	struct cid_audit_report rep;
	char *text;
	char *doc = NULL;
	size_t len = 0;
	FILE *in;

	chain_fill_as(f, true); /* legacy checkpoints 5 and 10, both signed as ISS */
	text = export_text(f->s, &len);
	rep = verify_opts(f, f->ks, text, len, &accept_tail);
	assert_true(rep.ok);
	assert_false(rep.issuer_checked);
	assert_string_equal(rep.issuer, ISS);
	rep = verify_opts(f, f->ks, text, len, &ours);
	assert_true(rep.ok);
	assert_true(rep.issuer_checked);
	assert_string_equal(rep.issuer, ISS);
	rep = verify_opts(f, f->ks, text, len, &other);
	assert_false(rep.ok);
	assert_false(rep.unsigned_tail);
	assert_int_equal(rep.bad_seq, 4);
	assert_non_null(strstr(rep.reason, "signed as issuer " ISS ", not https://other.example"));

	/* the JWKS names the issuer: it is expected without being given */
	assert_int_equal(cid_keyset_jwks_issuer(f->ks, ISS, &doc), CID_OK);
	assert_int_equal(cid_keyset_from_jwks(doc, strlen(doc), &named), CID_OK);
	free(doc);
	assert_int_equal(cid_keyset_jwks_issuer(f->ks, "https://other.example", &doc), CID_OK);
	assert_int_equal(cid_keyset_from_jwks(doc, strlen(doc), &wrong), CID_OK);
	free(doc);
	rep = verify_opts(f, named, text, len, &accept_tail);
	assert_true(rep.ok);
	assert_true(rep.issuer_checked);
	rep = verify_opts(f, named, text, len, &ours);
	assert_true(rep.ok);
	rep = verify_opts(f, wrong, text, len, &accept_tail);
	assert_false(rep.ok);
	assert_int_equal(rep.bad_seq, 4);
	/* given and named, they must agree: nothing is read otherwise */
	in = fmemopen(text, len, "r");
	assert_non_null(in);
	assert_int_equal(cid_audit_verify_export(in, wrong, &ours, &rep), CID_ERR_INVALID);
	assert_int_equal(ftell(in), 0);
	fclose(in);
	cid_keyset_free(named);
	cid_keyset_free(wrong);
	free(text);
}

static enum cid_err issuer_force_cb(struct cid_txn *txn, void *arg)
{
	enum cid_err rc;
	json_t *rec = json_pack("{s:O}", "issuer", (json_t *)arg);

	assert_non_null(rec);
	rc = cid_txn_put_json(txn, CID_DB_META, cid_str_of("audit_issuer"), rec, 0);
	json_decref(rec);
	return rc;
}

/* Sets the store's issuer record by hand, as only an attacker (or an old build) would. */
static void issuer_force(struct fixture *f, json_t *value)
{
	assert_int_equal(cid_store_update(f->s, issuer_force_cb, value), CID_OK);
	json_decref(value);
}

/* A log whose legacy checkpoints carry two issuers is damaged, in an export and in the store. */
static void test_one_log_has_one_issuer(void **state)
{
	struct fixture *f = *state;
	struct cid_audit_report rep;
	char *text;
	size_t len = 0;

	for (int i = 0; i < 10; i++) {
		(void)append1(f->log,
			      entry_new("release.permit", HANAKO, "childcare", "email", NOW + i));
		if (i == 4)
			legacy_checkpoint(f, NOW + i);
	}
	issuer_force(f, json_string("https://other.example"));
	legacy_checkpoint(f, NOW + 20);
	text = export_text(f->s, &len);
	rep = verify_opts(f, f->ks, text, len, &strict);
	assert_false(rep.ok);
	assert_false(rep.unsigned_tail);
	assert_int_equal(rep.bad_seq, 9);
	assert_non_null(strstr(rep.reason, "one log has one issuer"));
	/* the store expects its recorded issuer: now the first checkpoint is the odd one */
	rep = verify_store(f);
	assert_false(rep.ok);
	assert_int_equal(rep.bad_seq, 4);
	assert_non_null(strstr(rep.reason, "not https://other.example"));
	/* a damaged record is damage, not an error */
	issuer_force(f, json_integer(7));
	rep = verify_store(f);
	assert_false(rep.ok);
	assert_int_equal(rep.bad_seq, 0);
	assert_non_null(strstr(rep.reason, "issuer record is damaged"));
	free(text);
}

/*
 * The first issuer recorded stays the log's, and the origin of the signed
 * checkpoints is made of it; without one, nothing is signed.
 */
static void test_issuer_is_recorded_once_and_signs_checkpoints(void **state)
{
	struct fixture *f = *state;
	char dir[256];
	struct cid_store *bare = cid_test_store_open(dir);
	struct cid_keyset *ks = cid_test_keyset(bare, NOW);
	struct cid_audit *log = NULL;
	struct cid_audit_report rep;
	char *iss = NULL;
	char *jws = NULL;
	char *text = NULL;
	size_t len = 0;
	FILE *mem;
	struct cid_note note;
	struct cid_checkpoint cp;
	json_t *vkeys = NULL;
	json_t *e;
	char longiss[CID_MAX_URI + 2];

	assert_int_equal(cid_audit_issuer(f->s, &iss), CID_OK);
	assert_string_equal(iss, ISS);
	free(iss);
	iss = NULL;
	assert_int_equal(cid_audit_issuer_record(f->s, "https://later.example", &iss), CID_OK);
	assert_string_equal(iss, ISS); /* the one in force: the first */
	free(iss);
	iss = NULL;
	memset(longiss, 'a', sizeof(longiss) - 1);
	longiss[sizeof(longiss) - 1] = '\0';
	assert_int_equal(cid_audit_issuer_record(f->s, NULL, NULL), CID_ERR_INVALID);
	assert_int_equal(cid_audit_issuer_record(f->s, "", NULL), CID_ERR_INVALID);
	assert_int_equal(cid_audit_issuer_record(f->s, longiss, NULL), CID_ERR_INVALID);
	(void)append1(f->log, entry_new("release.permit", HANAKO, "childcare", "email", NOW));
	assert_int_equal(cid_audit_checkpoint(f->s, NOW, &jws), CID_OK);
	assert_int_equal(cid_note_parse(cid_str_of(jws), &note), CID_OK);
	assert_int_equal(cid_checkpoint_parse(note.text, &cp), CID_OK);
	assert_int_equal(cp.origin.len, strlen("id.example/audit"));
	assert_memory_equal(cp.origin.ptr, "id.example/audit", cp.origin.len);
	assert_int_equal(cp.size, 1);
	assert_int_equal(cp.ext.len, strlen("time 1800000000\n"));
	assert_memory_equal(cp.ext.ptr, "time 1800000000\n", cp.ext.len);
	assert_int_equal(note.n_sigs, 1);
	assert_int_equal(cid_audit_vkeys(f->s, &vkeys), CID_OK);
	assert_string_equal(cid_json_str(vkeys, "origin"), "id.example/audit");
	assert_int_equal(json_array_size(json_object_get(vkeys, "vkeys")), 1);
	json_decref(vkeys);
	free(jws);
	jws = NULL;

	/* a store no server has started on has no issuer: nothing can be signed */
	assert_int_equal(cid_audit_issuer(bare, &iss), CID_ERR_NOTFOUND);
	assert_null(iss);
	assert_int_equal(cid_audit_open(bare, false, &log), CID_OK);
	assert_int_equal(cid_audit_checkpoint(bare, NOW, &jws), CID_ERR_NOTFOUND); /* empty */
	e = entry_new("release.permit", HANAKO, "childcare", "email", NOW);
	assert_int_equal(cid_audit_append(log, &e, 1, NULL), CID_OK);
	json_decref(e);
	assert_int_equal(cid_audit_checkpoint(bare, NOW, &jws), CID_ERR_CONFIG);
	assert_null(jws);
	assert_int_equal(cid_audit_key_ensure(bare, NOW), CID_ERR_CONFIG);
	assert_int_equal(cid_audit_vkeys(bare, &vkeys), CID_ERR_NOTFOUND);
	mem = open_memstream(&text, &len);
	assert_non_null(mem);
	assert_int_equal(cid_audit_export_signed(bare, NOW, mem, NULL), CID_ERR_CONFIG);
	assert_int_equal(fclose(mem), 0);
	assert_int_equal(len, 0); /* nothing written */
	free(text);
	assert_int_equal(cid_audit_verify_store(bare, ks, NULL, &rep), CID_OK);
	assert_true(rep.ok);
	assert_true(rep.unsigned_tail);
	assert_false(rep.issuer_checked);
	cid_audit_close(log);
	cid_keyset_free(ks);
	cid_test_store_close(bare, dir);
}

static void test_time_format(void **state)
{
	char t[21];

	(void)state;
	assert_int_equal(cid_audit_time(0, t), CID_OK);
	assert_string_equal(t, "1970-01-01T00:00:00Z");
	assert_int_equal(cid_audit_time(NOW, t), CID_OK);
	assert_string_equal(t, "2027-01-15T08:00:00Z");
	assert_int_equal(cid_audit_time(253402300799LL, t), CID_OK);
	assert_string_equal(t, "9999-12-31T23:59:59Z");
	assert_int_equal(cid_audit_time(253402300800LL, t), CID_ERR_INVALID);
	assert_int_equal(cid_audit_time(INT64_MIN, t), CID_ERR_INVALID);
}

/* Filter bounds as people type them: a real date, or a full UTC time. */
static void test_bound_parse_table(void **state)
{
	static const struct {
		const char *in;
		const char *want; /* NULL: refused */
	} rows[] = {
	    {"2026-11-25", "2026-11-25T00:00:00Z"},
	    {"2026-11-25T09:30:00Z", "2026-11-25T09:30:00Z"},
	    {"2024-02-29", "2024-02-29T00:00:00Z"},
	    {"2026-02-29", NULL},
	    {"2026-02-30T00:00:00Z", NULL},
	    {"2026-13-01", NULL},
	    {"1969-12-31", NULL},
	    {"2026-1-5", NULL},
	    {"2026-11-25T09:30:00", NULL},
	    {"2026-11-25 09:30:00Z", NULL},
	    {"yesterday", NULL},
	    {"", NULL},
	    {NULL, NULL},
	};

	char out[21];
	int64_t t;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		enum cid_err rc = cid_audit_bound_parse(rows[i].in, out);

		if (rows[i].want == NULL) {
			if (rc != CID_ERR_INVALID)
				fail_msg("%s: accepted", rows[i].in ? rows[i].in : "(null)");
		} else if (rc != CID_OK || strcmp(out, rows[i].want) != 0) {
			fail_msg("%s: %s", rows[i].in, rc == CID_OK ? out : cid_strerror(rc));
		}
	}
	assert_int_equal(cid_audit_day_parse("1970-01-02", &t), CID_OK);
	assert_int_equal(t, 86400);
}

/* ---- the record of an export ---- */

/* The newest entry of the log, parsed (caller decrefs). */
static json_t *log_last(struct cid_store *s)
{
	struct cid_txn *txn = NULL;
	uint64_t size = log_size(s);
	json_t *e = NULL;

	assert_true(size > 0);
	assert_int_equal(cid_store_read_begin(s, &txn), CID_OK);
	assert_int_equal(cid_audit_get(txn, size - 1, &e), CID_OK);
	cid_store_read_end(txn);
	return e;
}

/* The canonical text of an entry without seq and prev (caller frees). */
static char *entry_text(json_t *e)
{
	char *text;

	json_object_del(e, "seq");
	json_object_del(e, "prev");
	text = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS);
	assert_non_null(text);
	return text;
}

/* A decision whose rule is not "file:LINE" fails the hook before anything is written. */
static void test_release_hook_refuses_a_rule_without_a_line(void **state)
{
	struct fixture *f = *state;
	struct cid_decision permit = {.permit = true,
				      .reason = CID_REASON_PERMIT_STATUTE,
				      .basis = CID_BASIS_STATUTE,
				      .statute = "Test Act",
				      .policy_version = "abc"};
	struct cid_release_decision d[2] = {
	    {"given_name", "register", permit, "dg", NULL},
	    {"family_name", "register", permit, "dg", NULL},
	};
	struct cid_release_event ev = {
	    .service = "svc",
	    .account_id = HANAKO,
	    .target = CID_RELEASE_USERINFO,
	    .level = 1,
	    .now = NOW,
	    .request_id = "req-9",
	    .grant_id = "grant-9",
	    .decisions = d,
	    .n_decisions = 2,
	};
	struct cid_audit_range r = {0};
	uint64_t size = log_size(f->s);

	d[0].decision.rule = "svc.policy:3";
	d[1].decision.rule = "nocolon";
	assert_int_equal(cid_audit_release_hook(f->log, &ev, &r), CID_ERR_INVALID);
	assert_int_equal(r.count, 0);
	assert_int_equal(log_size(f->s), size);
}

static void test_exported_entry_table(void **state)
{
	static const struct cid_audit_filter none = {0};
	static const struct cid_audit_filter officer = {
	    .citizen = HANAKO,
	    .service = "rp2",
	    .type = "release.",
	    .from = "2027-01-01T00:00:00Z",
	    .to = "2027-02-01T00:00:00Z",
	    .after_seq = 7,
	    .newest_first = true,
	    .limit = 5,
	};
	static const struct cid_audit_filter release = {.release = "r-1", .attribute = "email"};
	static const struct cid_audit_filter not_utf8 = {.service = "rp\xff"};

	static const struct {
		const char *name;
		struct cid_audit_exported x;
		enum cid_err rc;
		const char *want; /* canonical, without seq and prev */
	} rows[] = {
	    {"the whole log, signed to its own record",
	     {"operator", "cli", "jsonl", NULL, 10, 10, NOW},
	     CID_OK,
	     "{\"actor\":\"operator\",\"endpoint\":\"cli\",\"ext\":{\"checkpoint\":\"10\","
	     "\"format\":\"jsonl\",\"rows\":\"10\"},\"time\":\"2027-01-15T08:00:00Z\","
	     "\"type\":\"audit.exported\"}"},
	    {"an officer's filtered CSV: the filter's values, never its paging",
	     {"officer:alice", "officer-console", "csv", &officer, 3, 0, NOW},
	     CID_OK,
	     "{\"actor\":\"officer:alice\",\"citizen\":\"" HANAKO "\","
	     "\"endpoint\":\"officer-console\",\"ext\":{"
	     "\"citizen\":\"" HANAKO "\",\"format\":\"csv\",\"from\":\"2027-01-01T00:00:00Z\","
	     "\"rows\":\"3\",\"service\":\"rp2\",\"to\":\"2027-02-01T00:00:00Z\","
	     "\"type\":\"release.\"},\"time\":\"2027-01-15T08:00:00Z\","
	     "\"type\":\"audit.exported\"}"},
	    {"a release's entries, none of them",
	     {"operator", "cli", "jsonl", &release, 0, 0, NOW},
	     CID_OK,
	     "{\"actor\":\"operator\",\"endpoint\":\"cli\",\"ext\":{\"attribute\":\"email\","
	     "\"format\":\"jsonl\",\"release\":\"r-1\",\"rows\":\"0\"},"
	     "\"time\":\"2027-01-15T08:00:00Z\",\"type\":\"audit.exported\"}"},
	    {"an empty filter is every entry",
	     {"operator", "cli", "csv", &none, 1, 0, NOW},
	     CID_OK,
	     "{\"actor\":\"operator\",\"endpoint\":\"cli\",\"ext\":{\"format\":\"csv\","
	     "\"rows\":\"1\"},\"time\":\"2027-01-15T08:00:00Z\",\"type\":\"audit.exported\"}"},
	    {"no actor", {NULL, "cli", "jsonl", NULL, 1, 0, NOW}, CID_ERR_INVALID, NULL},
	    {"an empty actor", {"", "cli", "jsonl", NULL, 1, 0, NOW}, CID_ERR_INVALID, NULL},
	    {"no endpoint", {"operator", NULL, "jsonl", NULL, 1, 0, NOW}, CID_ERR_INVALID, NULL},
	    {"no format", {"operator", "cli", NULL, NULL, 1, 0, NOW}, CID_ERR_INVALID, NULL},
	    {"a format there is none of",
	     {"operator", "cli", "xml", NULL, 1, 0, NOW},
	     CID_ERR_INVALID,
	     NULL},
	    {"a filter value not UTF-8",
	     {"operator", "cli", "jsonl", &not_utf8, 1, 0, NOW},
	     CID_ERR_INVALID,
	     NULL},
	    {"a time out of range",
	     {"operator", "cli", "jsonl", NULL, 1, 0, INT64_MAX},
	     CID_ERR_INVALID,
	     NULL},
	};
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		json_t *e = NULL;
		char *text;

		if (cid_audit_exported_entry(&rows[i].x, &e) != rows[i].rc)
			fail_msg("%s: not %s", rows[i].name, cid_strerror(rows[i].rc));
		if (rows[i].rc != CID_OK) {
			assert_null(e);
			continue;
		}
		/* what is built is what the log holds */
		(void)append1(f->log, e);
		e = log_last(f->s);
		/* a filter's citizen is held as the citizen's pseudonym (pseudonym.h), in
		 * ext and as the entry's citizen alike */
		if (cid_json_str(json_object_get(e, "ext"), "citizen") != NULL) {
			char *p = cid_test_pseudonym(f->s, HANAKO, NULL, NULL);

			assert_non_null(p);
			assert_string_equal(cid_json_str(json_object_get(e, "ext"), "citizen"), p);
			assert_string_equal(cid_json_str(e, "citizen"), p);
			free(p);
			assert_int_equal(json_object_set_new(json_object_get(e, "ext"), "citizen",
							     json_string(HANAKO)),
					 0);
			assert_int_equal(json_object_set_new(e, "citizen", json_string(HANAKO)), 0);
		}
		text = entry_text(e);
		if (strcmp(text, rows[i].want) != 0)
			fail_msg("%s:\n  got  %s\n  want %s", rows[i].name, text, rows[i].want);
		free(text);
		json_decref(e);
	}
	assert_true(verify_store(f).ok);
}

/* Writes a filtered export through cid_audit_write_recorded into *text. */
static enum cid_err write_recorded(struct fixture *f, const struct cid_audit_exported *x,
				   size_t max_rows, char **text, uint64_t *rows)
{
	size_t len = 0;
	FILE *mem = open_memstream(text, &len);
	enum cid_err rc;

	assert_non_null(mem);
	rc = cid_audit_write_recorded(f->log, x, max_rows, mem, rows);
	assert_int_equal(fclose(mem), 0);
	return rc;
}

static void test_filtered_export_is_recorded_before_it_leaves(void **state)
{
	struct fixture *f = *state;
	const struct cid_audit_filter childcare = {.service = "childcare", .limit = 1};
	const struct cid_audit_filter bad = {.type = ""};
	struct cid_audit_exported x = {"operator", "cli", "csv", &childcare, 99, 99, NOW + 60};
	char *text = NULL;
	uint64_t rows = 0;
	json_t *last;

	(void)append1(f->log, entry_new("release.permit", HANAKO, "childcare", "email", NOW));
	(void)append1(f->log, entry_new("release.permit", TARO, "library", "email", NOW));
	(void)append1(f->log, entry_new("release.deny", TARO, "childcare", "birthdate", NOW));

	/* every matching entry (the filter's limit aside), then the record */
	assert_int_equal(write_recorded(f, &x, 0, &text, &rows), CID_OK);
	assert_int_equal(rows, 2);
	assert_non_null(strstr(text, "seq,time,type"));
	assert_non_null(strstr(text, "\r\n0,"));
	assert_non_null(strstr(text, "\r\n2,"));
	assert_null(strstr(text, "audit.exported")); /* the record is not in what it records */
	free(text);
	text = NULL;
	assert_int_equal(log_size(f->s), 4);
	last = log_last(f->s);
	assert_string_equal(cid_json_str(last, "type"), "audit.exported");
	assert_string_equal(cid_json_str(last, "actor"), "operator");
	assert_string_equal(cid_json_str(last, "endpoint"), "cli");
	assert_string_equal(cid_json_str(json_object_get(last, "ext"), "rows"), "2");
	assert_string_equal(cid_json_str(json_object_get(last, "ext"), "service"), "childcare");
	assert_null(json_object_get(json_object_get(last, "ext"), "checkpoint"));
	json_decref(last);

	/* exactly the limit leaves, and is recorded */
	x.format = "jsonl";
	assert_int_equal(write_recorded(f, &x, 2, &text, &rows), CID_OK);
	assert_int_equal(rows, 2);
	free(text);
	text = NULL;
	assert_int_equal(log_size(f->s), 5);

	/* more than the limit: nothing leaves, so nothing is recorded */
	rows = 77;
	assert_int_equal(write_recorded(f, &x, 1, &text, &rows), CID_ERR_TOOBIG);
	assert_int_equal(rows, 77);
	free(text);
	text = NULL;
	/* a bad filter or format: nothing is recorded either */
	x.filter = &bad;
	assert_int_equal(write_recorded(f, &x, 0, &text, NULL), CID_ERR_INVALID);
	free(text);
	text = NULL;
	x.filter = NULL;
	x.format = "xml";
	assert_int_equal(write_recorded(f, &x, 0, &text, NULL), CID_ERR_INVALID);
	free(text);
	assert_int_equal(log_size(f->s), 5);
	assert_true(verify_store(f).ok);
}

/* Exports the whole log on the record into *text. */
static enum cid_err export_recorded(struct cid_store *s, int64_t now, char **text, size_t *len,
				    uint64_t *n)
{
	const struct cid_audit_exported x = {.actor = "operator", .endpoint = "cli", .now = now};
	FILE *mem = open_memstream(text, len);
	enum cid_err rc;

	assert_non_null(mem);
	rc = cid_audit_export_recorded(s, &x, mem, n);
	assert_int_equal(fclose(mem), 0);
	return rc;
}

/* The entry on the export's last entry line (caller decrefs). */
static json_t *last_entry_line(const char *text, size_t len)
{
	const char *end = text + len;
	const char *p;
	json_t *e = NULL;

	while (end > text && e == NULL) {
		end--; /* the '\n' ending the line */
		p = end;
		while (p > text && p[-1] != '\n')
			p--;
		e = json_loadb(p, (size_t)(end - p), 0, NULL);
		assert_non_null(e);
		if (json_object_get(e, "checkpoint") != NULL ||
		    json_object_get(e, "note") != NULL) {
			json_decref(e);
			e = NULL;
			end = p;
		}
	}
	return e;
}

static void test_whole_export_ends_with_its_record_and_a_checkpoint(void **state)
{
	struct fixture *f = *state;
	char dir[256];
	struct cid_store *bare;
	struct cid_keyset *ks;
	struct cid_audit_report rep;
	json_t *e;
	json_t *ext;
	char *text = NULL;
	size_t len = 0;
	uint64_t n = 0;

	chain_fill(f); /* N_CHAIN entries, checkpoints after 5 and 10 */
	assert_int_equal(export_recorded(f->s, NOW + 60, &text, &len, &n), CID_OK);
	assert_int_equal(n, N_CHAIN + 1);
	/* the record is the export's last entry, and a checkpoint covering it ends the file */
	assert_true(len > 0 && text[len - 1] == '\n');
	assert_non_null(strstr(text, "\n{\"note\":"));
	e = last_entry_line(text, len);
	assert_int_equal(json_integer_value(json_object_get(e, "seq")), N_CHAIN);
	assert_string_equal(cid_json_str(e, "type"), "audit.exported");
	assert_string_equal(cid_json_str(e, "actor"), "operator");
	assert_string_equal(cid_json_str(e, "endpoint"), "cli");
	ext = json_object_get(e, "ext");
	assert_string_equal(cid_json_str(ext, "format"), "jsonl");
	assert_string_equal(cid_json_str(ext, "rows"), "13");
	assert_string_equal(cid_json_str(ext, "checkpoint"), "13");
	assert_int_equal(json_object_size(ext), 3);
	json_decref(e);
	/* an export ends covered: it verifies strictly, offline, with the published vkeys */
	rep = verify_opts(f, NULL, text, len, &strict);
	assert_true(rep.ok);
	assert_false(rep.unsigned_tail);
	assert_int_equal(rep.entries, N_CHAIN + 1);
	assert_int_equal(rep.checkpoints, 3);
	assert_int_equal(rep.covered, N_CHAIN + 1);
	free(text);
	text = NULL;
	rep = verify_store(f);
	assert_true(rep.ok);
	assert_false(rep.unsigned_tail);
	assert_int_equal(rep.covered, N_CHAIN + 1);

	/* the next export records itself as the next entry, covered by its own checkpoint */
	assert_int_equal(export_recorded(f->s, NOW + 80, &text, &len, &n), CID_OK);
	assert_int_equal(n, N_CHAIN + 2);
	e = last_entry_line(text, len);
	assert_int_equal(json_integer_value(json_object_get(e, "seq")), N_CHAIN + 1);
	assert_string_equal(cid_json_str(json_object_get(e, "ext"), "rows"), "14");
	assert_string_equal(cid_json_str(json_object_get(e, "ext"), "checkpoint"), "14");
	json_decref(e);
	rep = verify_opts(f, NULL, text, len, &strict);
	assert_true(rep.ok);
	assert_int_equal(rep.covered, N_CHAIN + 2);
	free(text);
	text = NULL;

	/* a store no server has started on records no issuer: no export, no record */
	bare = cid_test_store_open(dir);
	ks = cid_test_keyset(bare, NOW);
	assert_int_equal(export_recorded(bare, NOW, &text, &len, &n), CID_ERR_CONFIG);
	assert_int_equal(len, 0);
	free(text);
	assert_int_equal(log_size(bare), 0);
	cid_keyset_free(ks);
	cid_test_store_close(bare, dir);
}

/*
 * audit_canon_append writes, byte for byte, what jansson's json_dump_callback
 * writes with AUDIT_CANON_FLAGS (the form the log hashed before it had its
 * own writer, and the one a verifier recomputes): one row per shape an
 * entry's value can take, escapes and UTF-8 included.
 */
static void test_canon_append_matches_jansson(void **state)
{
	static const char *const rows[] = {
	    "\"\"",
	    "\"plain\"",
	    "\"quote \\\" backslash \\\\ slash / done\"",
	    "\"\\b\\f\\n\\r\\t \\u0001 \\u001f \\u007f\"",
	    "\"山田 花子 \\u2028 \\ud83d\\ude00\"",
	    "0",
	    "-1",
	    "9223372036854775807",
	    "-9223372036854775808",
	    "true",
	    "false",
	    "null",
	    "[]",
	    "{}",
	    "[1,\"a\",[true,null],{\"b\":2,\"a\":1}]",
	    "{\"zeta\":1,\"alpha\":\"x\",\"Beta\":[],\"a\":{\"y\":\"\\n\",\"x\":{}},\"ab\":2}",
	    "{\"a_b\":3,\"ab\":2,\"a\":1,\"A\":0}",
	    "{\"ext\":{\"withdrawn\":\"0\",\"sessions\":\"1\",\"grants\":\"2\",\"links\":\"0\"}}",
	};
	struct cid_buf mine;
	struct cid_buf theirs;
	json_t *v;
	json_t *big;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		v = json_loads(rows[i], JSON_DECODE_ANY, NULL);
		assert_non_null(v);
		cid_buf_init(&mine, 4096);
		cid_buf_init(&theirs, 4096);
		audit_canon_append(&mine, v);
		cid_buf_append_json(&theirs, v, AUDIT_CANON_FLAGS);
		assert_int_equal(cid_buf_status(&mine), CID_OK);
		assert_int_equal(cid_buf_status(&theirs), CID_OK);
		if (mine.len != theirs.len || memcmp(mine.data, theirs.data, mine.len) != 0)
			fail_msg("row %zu: %.*s against jansson's %.*s", i, (int)mine.len,
				 mine.data, (int)theirs.len, theirs.data);
		cid_buf_free(&mine);
		cid_buf_free(&theirs);
		json_decref(v);
	}
	/* an object of more names than the writer sorts on its stack: still the same */
	big = json_object();
	assert_non_null(big);
	for (int k = AUDIT_CANON_NAMES + 3; k > 0; k--) {
		char name[16];

		snprintf(name, sizeof(name), "m%03d", k);
		assert_int_equal(json_object_set_new(big, name, json_integer(k)), 0);
	}
	cid_buf_init(&mine, 4096);
	cid_buf_init(&theirs, 4096);
	audit_canon_append(&mine, big);
	cid_buf_append_json(&theirs, big, AUDIT_CANON_FLAGS);
	assert_int_equal(mine.len, theirs.len);
	assert_memory_equal(mine.data, theirs.data, mine.len);
	cid_buf_free(&mine);
	cid_buf_free(&theirs);
	json_decref(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_time_format),
	    cmocka_unit_test(test_expired_once_key),
	    cmocka_unit_test(test_canon_append_matches_jansson),
	    cmocka_unit_test(test_rule_parse_table),
	    cmocka_unit_test(test_bound_parse_table),
	    cmocka_unit_test_setup_teardown(test_untouched_log_verifies_with_counts, setup,
					    teardown),
	    cmocka_unit_test(test_store_tampering_is_found_at_first_bad_seq),
	    cmocka_unit_test_setup_teardown(test_export_walk_batches_by_bytes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_store_walk_across_batches_and_threads, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_export_tampering_is_found_at_first_bad_seq, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_export_line_over_one_mib_is_damage, setup,
					    teardown),
	    cmocka_unit_test(test_export_read_error_is_an_error_not_a_report),
	    cmocka_unit_test_setup_teardown(test_export_read_error_after_damage_reports_the_damage,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_append_refuses_bad_entries, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_entries_are_canonical_and_chained, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_stored_bytes_are_canonical_whatever_the_members,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_group_commit_shares_commits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_group_commits_each_append, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_submits_share_group_commits_and_are_told_once_written, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close_writes_what_was_submitted, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_submit_without_a_committer_is_told_an_error, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_pending_appends_without_group_commit, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_stats_take_restarts_and_formats, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_append_txn_commits_or_aborts_with_caller, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_release_hook_groups_and_logs_expiry_once, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_release_hook_one_entry_per_decision_not_per_line,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_release_entries_are_pinned_byte_for_byte,
					    setup_pair, teardown_pair),
	    cmocka_unit_test_setup_teardown(test_release_entry_names_a_long_statute_whole, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_release_hook_refuses_a_rule_without_a_line, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_query_filters, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_service_day_is_exact_on_every_store, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_provisions_record, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_provisions_refuse_a_damaged_name, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_citizen_slice_hides_officers_and_denials, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_csv_quotes_and_defuses_formulas, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_checkpoint_reuses_covering_one, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_signed_export_covers_all_of_it, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fabricated_export_without_checkpoints_fails, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_entries_appended_after_the_last_checkpoint_fail,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_checkpoint_issuer_is_checked, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_one_log_has_one_issuer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_issuer_is_recorded_once_and_signs_checkpoints,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_legacy_checkpoints_verify_with_published_jwks,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_exported_entry_table, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_filtered_export_is_recorded_before_it_leaves,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_whole_export_ends_with_its_record_and_a_checkpoint,
					    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
