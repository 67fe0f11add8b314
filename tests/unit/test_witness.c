/*
 * witness: a witness on a real store, fed by a log simulated here (entries,
 * its Merkle tree, checkpoints signed with its note key, consistency proofs
 * from merkle.h). It cosigns a growing log, and its cosignatures verify as
 * tlog-cosignature/v1 lines; it refuses, naming each, a rollback (smaller
 * than cosigned), a fork of equal size, a fork that grew, a wrong proof, a
 * wrong or unknown key, an unknown origin, an old size that is not the one
 * it recorded (answering that size), and malformed bodies; it keeps a
 * refused log-signed checkpoint as evidence; its state survives reopening
 * the store; concurrent requests against one recorded size get one winner.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include "buf.h"
#include "merkle.h"
#include "note.h"
#include "support.h"
#include "witness.h"

#include <cmocka.h>

#define ORIGIN "city.example/civicid/audit"
#define NOW    1760000000

/* A log: entries "entry I", or "fork I" from fork_at on, signed by key. */
struct tlog {
	const char *origin;
	uint64_t fork_at; /* UINT64_MAX: no fork */
	struct cid_note_signer *key;
};

static void leaf(const struct tlog *l, uint64_t i, uint8_t out[CID_MERKLE_HASH])
{
	char entry[64];
	int n = snprintf(entry, sizeof(entry), "%s %llu", i >= l->fork_at ? "fork" : "entry",
			 (unsigned long long)i);

	assert_int_equal(cid_merkle_leaf_hash(entry, (size_t)n, out), CID_OK);
}

/* Node (level, index), recomputed from the entries (a test log keeps no nodes). */
static enum cid_err get_node(void *arg, unsigned level, uint64_t index,
			     uint8_t out[CID_MERKLE_HASH])
{
	const struct tlog *l = arg;
	struct cid_merkle_frontier f;
	uint8_t h[CID_MERKLE_HASH];

	cid_merkle_frontier_init(&f);
	for (uint64_t i = index << level; i < (index + 1) << level; i++) {
		leaf(l, i, h);
		assert_int_equal(cid_merkle_frontier_append(&f, h, NULL, NULL), CID_OK);
	}
	cid_merkle_frontier_root(&f, out);
	return CID_OK;
}

static void tlog_init(struct tlog *l, const char *origin)
{
	l->origin = origin;
	l->fork_at = UINT64_MAX;
	l->key = NULL;
	assert_int_equal(cid_note_signer_new(cid_str_of(origin), CID_NOTE_ED25519, NULL, &l->key),
			 CID_OK);
}

static char *tlog_vkey(const struct tlog *l)
{
	char *v = NULL;

	assert_int_equal(cid_note_signer_vkey(l->key, &v), CID_OK);
	return v;
}

/* The signed checkpoint of the log at size into b. */
static void checkpoint(struct tlog *l, uint64_t size, struct cid_buf *b)
{
	uint8_t root[CID_MERKLE_HASH];
	struct cid_buf text;
	const struct cid_note_signer *ss[] = {l->key};
	char *note = NULL;

	assert_int_equal(cid_merkle_root(size, get_node, l, root), CID_OK);
	cid_buf_init(&text, 4096);
	assert_int_equal(
	    cid_checkpoint_format(cid_str_of(l->origin), size, root, cid_str_of(""), &text),
	    CID_OK);
	assert_int_equal(
	    cid_note_sign((struct cid_str){text.data, text.len}, ss, 1, 0, &note, NULL), CID_OK);
	cid_buf_puts(b, note);
	free(note);
	cid_buf_free(&text);
}

/* An add-checkpoint body: "old OLD", the proof from proof_from to size, "", the checkpoint. */
static char *body_from(struct tlog *l, uint64_t old, uint64_t proof_from, uint64_t size)
{
	struct cid_merkle_proof p;
	struct cid_buf b;
	char b64[64];

	cid_buf_init(&b, CID_WITNESS_MAX_BODY);
	cid_buf_printf(&b, "old %llu\n", (unsigned long long)old);
	assert_int_equal(cid_merkle_consistency_proof(proof_from, size, get_node, l, &p), CID_OK);
	for (size_t i = 0; i < p.len; i++) {
		assert_int_equal(cid_b64_encode(p.hash[i], CID_MERKLE_HASH, b64, sizeof(b64)),
				 CID_OK);
		cid_buf_printf(&b, "%s\n", b64);
	}
	cid_buf_puts(&b, "\n");
	checkpoint(l, size, &b);
	assert_int_equal(cid_buf_status(&b), CID_OK);
	return cid_buf_take(&b, NULL);
}

static char *body(struct tlog *l, uint64_t old, uint64_t size)
{
	return body_from(l, old, old, size);
}

/* A fresh store with a witness that follows the log l. */
struct fixture {
	char dir[256];
	struct cid_store *s;
	struct cid_witness *w;
	struct tlog log;
	char *vkey; /* the witness's */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char *lv;

	assert_non_null(f);
	f->s = cid_test_store_open(f->dir);
	assert_int_equal(cid_witness_init(f->s, "witness.example/w1", NOW, &f->vkey), CID_OK);
	assert_int_equal(cid_witness_open(f->s, &f->w), CID_OK);
	tlog_init(&f->log, ORIGIN);
	lv = tlog_vkey(&f->log);
	assert_int_equal(cid_witness_add_log(f->s, ORIGIN, lv), CID_OK);
	free(lv);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	cid_witness_free(f->w);
	cid_note_signer_free(f->log.key);
	free(f->vkey);
	cid_test_store_close(f->s, f->dir);
	free(f);
	return 0;
}

/* Submits b at now; returns the verdict, and the result in *r when r is not NULL. */
static enum cid_witness_verdict submit_at(struct fixture *f, char *b, int64_t now,
					  struct cid_witness_result *r)
{
	struct cid_witness_result mine;
	struct cid_witness_result *res = r != NULL ? r : &mine;
	enum cid_witness_verdict v;

	assert_int_equal(cid_witness_add_checkpoint(f->w, b, strlen(b), now, res), CID_OK);
	assert_non_null(res->body);
	v = res->verdict;
	if (r == NULL)
		cid_witness_result_clear(&mine);
	free(b);
	return v;
}

static enum cid_witness_verdict submit(struct fixture *f, char *b, struct cid_witness_result *r)
{
	return submit_at(f, b, NOW, r);
}

/* The witness's recorded log, from its state (size, and the JSON record in *rec). */
static uint64_t recorded(struct fixture *f, json_t **rec)
{
	json_t *st = NULL;
	json_t *logs;
	uint64_t size;

	assert_int_equal(cid_witness_state(f->s, &st), CID_OK);
	logs = json_object_get(st, "logs");
	assert_int_equal(json_array_size(logs), 1);
	size = (uint64_t)json_integer_value(json_object_get(json_array_get(logs, 0), "size"));
	if (rec != NULL)
		*rec = json_incref(json_array_get(logs, 0));
	json_decref(st);
	return size;
}

/* Checks that line is the witness's valid cosignature of l's checkpoint at size, made at t. */
static void assert_cosigns(struct fixture *f, struct tlog *l, uint64_t size, const char *line,
			   uint64_t t)
{
	struct cid_buf b;
	struct cid_note note;
	struct cid_note_verifier *vw = NULL, *vl = NULL;
	struct cid_note_check checks[2];
	char *lv = tlog_vkey(l);

	assert_int_equal(cid_note_verifier_parse(cid_str_of(f->vkey), &vw), CID_OK);
	assert_int_equal(cid_note_verifier_parse(cid_str_of(lv), &vl), CID_OK);
	const struct cid_note_verifier *vs[] = {vw, vl};
	cid_buf_init(&b, CID_NOTE_MAX_SIZE);
	checkpoint(l, size, &b);
	cid_buf_puts(&b, line); /* "the client MAY concatenate it to the checkpoint" */
	assert_int_equal(cid_note_parse((struct cid_str){b.data, b.len}, &note), CID_OK);
	assert_int_equal(cid_note_verify(&note, vs, 2, checks), CID_OK);
	assert_true(checks[0].verified);
	assert_int_equal(checks[0].time, t);
	assert_true(checks[1].verified);
	cid_buf_free(&b);
	cid_note_verifier_free(vw);
	cid_note_verifier_free(vl);
	free(lv);
}

static void test_init_open_and_keys(void **state)
{
	struct fixture *f = *state;
	struct cid_note_verifier *v = NULL;
	struct cid_witness *w2 = NULL;
	char *again = NULL;
	char dir[256];
	struct cid_store *empty = cid_test_store_open(dir);

	assert_int_equal(cid_note_verifier_parse(cid_str_of(f->vkey), &v), CID_OK);
	assert_int_equal(cid_note_verifier_type(v), CID_NOTE_COSIG);
	assert_string_equal(cid_note_verifier_name(v), "witness.example/w1");
	cid_note_verifier_free(v);
	assert_string_equal(cid_witness_vkey(f->w), f->vkey);
	/* one key per witness */
	assert_int_equal(cid_witness_init(f->s, "witness.example/w2", NOW, &again), CID_ERR_EXISTS);
	assert_null(again);
	assert_int_equal(cid_witness_open(f->s, &w2), CID_OK);
	assert_string_equal(cid_witness_vkey(w2), f->vkey);
	cid_witness_free(w2);
	w2 = NULL;
	/* a store without a witness; a name that cannot name a key */
	assert_int_equal(cid_witness_open(empty, &w2), CID_ERR_NOTFOUND);
	assert_null(w2);
	assert_int_equal(cid_witness_init(empty, "two words", NOW, &again), CID_ERR_INVALID);
	assert_int_equal(cid_witness_init(empty, "", NOW, &again), CID_ERR_INVALID);
	assert_null(again);
	cid_test_store_close(empty, dir);
}

static void test_add_log_checks_origin_and_key(void **state)
{
	struct fixture *f = *state;
	char *lv = tlog_vkey(&f->log);
	char long_origin[CID_NOTE_MAX_NAME + 2];
	json_t *rec = NULL;

	assert_int_equal(cid_witness_add_log(f->s, ORIGIN, lv), CID_ERR_EXISTS);
	assert_int_equal(cid_witness_add_log(f->s, "", lv), CID_ERR_INVALID);
	assert_int_equal(cid_witness_add_log(f->s, "a\nb", lv), CID_ERR_INVALID);
	assert_int_equal(cid_witness_add_log(f->s, "a\tb", lv), CID_ERR_INVALID);
	memset(long_origin, 'o', sizeof(long_origin) - 1);
	long_origin[sizeof(long_origin) - 1] = '\0';
	assert_int_equal(cid_witness_add_log(f->s, long_origin, lv), CID_ERR_INVALID);
	assert_int_equal(cid_witness_add_log(f->s, ORIGIN, "not a key"), CID_ERR_INVALID);
	/* a cosigner's key is not a log's */
	assert_int_equal(cid_witness_add_log(f->s, ORIGIN, f->vkey), CID_ERR_INVALID);
	/* a rotation adds a key; up to CID_WITNESS_MAX_KEYS */
	for (int i = 1; i <= CID_WITNESS_MAX_KEYS; i++) {
		struct tlog other;
		char *ov;

		tlog_init(&other, ORIGIN);
		ov = tlog_vkey(&other);
		assert_int_equal(cid_witness_add_log(f->s, ORIGIN, ov),
				 i < CID_WITNESS_MAX_KEYS ? CID_OK : CID_ERR_TOOBIG);
		free(ov);
		cid_note_signer_free(other.key);
	}
	assert_int_equal(recorded(f, &rec), 0);
	assert_int_equal(json_array_size(json_object_get(rec, "keys")), CID_WITNESS_MAX_KEYS);
	assert_string_equal(json_string_value(json_object_get(rec, "origin")), ORIGIN);
	assert_null(json_object_get(rec, "checkpoint"));
	json_decref(rec);
	free(lv);
}

static void test_accepts_a_growing_log(void **state)
{
	struct fixture *f = *state;
	static const uint64_t sizes[] = {0, 1, 5, 5, 8, 13, 64, 65, 300};
	struct cid_witness_result r;
	uint64_t old = 0;
	json_t *rec = NULL;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		int64_t now = NOW + (int64_t)i;

		assert_int_equal(submit_at(f, body(&f->log, old, sizes[i]), now, &r),
				 CID_WITNESS_COSIGNED);
		assert_int_equal(r.status, 200);
		assert_int_equal(r.size, sizes[i]);
		assert_int_equal(r.recorded, old);
		assert_cosigns(f, &f->log, sizes[i], r.body, (uint64_t)now);
		cid_witness_result_clear(&r);
		assert_int_equal(recorded(f, NULL), sizes[i]);
		old = sizes[i];
	}
	/* the record keeps the cosigned checkpoint, with the witness's line */
	assert_int_equal(recorded(f, &rec), 300);
	assert_non_null(strstr(json_string_value(json_object_get(rec, "checkpoint")),
			       "\xE2\x80\x94 witness.example/w1 "));
	assert_int_equal(json_integer_value(json_object_get(rec, "time")), NOW + 8);
	json_decref(rec);
}

static void test_refuses_a_rollback(void **state)
{
	struct fixture *f = *state;
	struct cid_witness_result r;
	json_t *rec = NULL;

	assert_int_equal(submit(f, body(&f->log, 0, 8), NULL), CID_WITNESS_COSIGNED);
	/* a smaller tree, claiming the recorded old size: 400 as tlog-witness says, named */
	assert_int_equal(submit(f, body_from(&f->log, 8, 3, 5), &r), CID_WITNESS_ROLLBACK);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(r.body, "rollback"));
	cid_witness_result_clear(&r);
	/* a smaller tree from a smaller old size: 409 with the recorded size, named */
	assert_int_equal(submit(f, body(&f->log, 3, 5), &r), CID_WITNESS_ROLLBACK);
	assert_int_equal(r.status, 409);
	assert_string_equal(r.content_type, "text/x.tlog.size");
	assert_string_equal(r.body, "8\n");
	assert_int_equal(r.recorded, 8);
	cid_witness_result_clear(&r);
	/* a truncation to nothing */
	assert_int_equal(submit(f, body(&f->log, 0, 0), &r), CID_WITNESS_ROLLBACK);
	assert_int_equal(r.status, 409);
	cid_witness_result_clear(&r);
	assert_int_equal(recorded(f, &rec), 8);
	/* the log-signed evidence is kept */
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(rec, "refused"), "verdict")),
	    "rollback");
	json_decref(rec);
}

static void test_refuses_a_fork_of_equal_size(void **state)
{
	struct fixture *f = *state;
	struct tlog fork = f->log;
	struct cid_witness_result r;
	json_t *rec = NULL;
	const char *cp;

	assert_int_equal(submit(f, body(&f->log, 0, 8), NULL), CID_WITNESS_COSIGNED);
	fork.fork_at = 6;
	assert_int_equal(submit(f, body(&fork, 8, 8), &r), CID_WITNESS_FORK);
	assert_int_equal(r.status, 422);
	assert_non_null(strstr(r.body, "fork"));
	cid_witness_result_clear(&r);
	/* the honest checkpoint is still the one recorded; the fork is kept as evidence */
	assert_int_equal(recorded(f, &rec), 8);
	cp = json_string_value(json_object_get(json_object_get(rec, "refused"), "checkpoint"));
	assert_non_null(cp);
	{
		struct cid_buf b;

		cid_buf_init(&b, CID_NOTE_MAX_SIZE);
		checkpoint(&fork, 8, &b);
		assert_string_equal(cp, b.data);
		cid_buf_free(&b);
	}
	json_decref(rec);
	/* and the honest log goes on */
	assert_int_equal(submit(f, body(&f->log, 8, 9), NULL), CID_WITNESS_COSIGNED);
}

static void test_refuses_an_inconsistent_tree(void **state)
{
	struct fixture *f = *state;
	struct tlog fork = f->log;
	struct cid_witness_result r;
	char *b;

	assert_int_equal(submit(f, body(&f->log, 0, 8), NULL), CID_WITNESS_COSIGNED);
	/* a log restored to size 5 and grown again to 12: another tree, no proof from 8 */
	fork.fork_at = 5;
	assert_int_equal(submit(f, body(&fork, 8, 12), &r), CID_WITNESS_INCONSISTENT);
	assert_int_equal(r.status, 422);
	assert_non_null(strstr(r.body, "inconsistent"));
	cid_witness_result_clear(&r);
	/* an honest checkpoint with a proof from another size, or a changed proof */
	assert_int_equal(submit(f, body_from(&f->log, 8, 7, 12), NULL), CID_WITNESS_INCONSISTENT);
	b = body(&f->log, 8, 12);
	b[6] = b[6] == 'A' ? 'B' : 'A'; /* the first proof line's first character */
	assert_int_equal(submit(f, b, NULL), CID_WITNESS_INCONSISTENT);
	/* no proof at all */
	assert_int_equal(submit(f, body_from(&f->log, 8, 12, 12), NULL), CID_WITNESS_INCONSISTENT);
	assert_int_equal(recorded(f, NULL), 8);
	assert_int_equal(submit(f, body(&f->log, 8, 12), NULL), CID_WITNESS_COSIGNED);
}

static void test_size_zero_and_empty_proofs(void **state)
{
	struct fixture *f = *state;
	struct cid_buf b;
	uint8_t root[CID_MERKLE_HASH] = {1};
	struct cid_buf text;
	const struct cid_note_signer *ss[] = {f->log.key};
	char *note = NULL;
	char *good;

	/* a checkpoint of size 0 must have the empty tree's root */
	cid_buf_init(&text, 4096);
	assert_int_equal(cid_checkpoint_format(cid_str_of(ORIGIN), 0, root, cid_str_of(""), &text),
			 CID_OK);
	assert_int_equal(
	    cid_note_sign((struct cid_str){text.data, text.len}, ss, 1, 0, &note, NULL), CID_OK);
	cid_buf_init(&b, CID_WITNESS_MAX_BODY);
	cid_buf_printf(&b, "old 0\n\n%s", note);
	assert_int_equal(submit(f, cid_buf_take(&b, NULL), NULL), CID_WITNESS_INCONSISTENT);
	free(note);
	cid_buf_free(&text);
	/* a proof from size 0 must be empty */
	good = body(&f->log, 0, 5);
	cid_buf_printf(&b, "old 0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n%s",
		       good + strlen("old 0\n"));
	free(good);
	assert_int_equal(submit(f, cid_buf_take(&b, NULL), NULL), CID_WITNESS_INCONSISTENT);
	assert_int_equal(recorded(f, NULL), 0);
	/* the empty tree itself is fine */
	assert_int_equal(submit(f, body(&f->log, 0, 0), NULL), CID_WITNESS_COSIGNED);
	cid_buf_free(&b);
}

static void test_refuses_a_wrong_key(void **state)
{
	struct fixture *f = *state;
	struct tlog impostor;
	struct cid_witness_result r;
	char *b, *sig;

	/* the right name, another key (so another key id): an unknown key, ignored */
	tlog_init(&impostor, ORIGIN);
	assert_int_equal(submit(f, body(&impostor, 0, 3), &r), CID_WITNESS_BAD_SIGNATURE);
	assert_int_equal(r.status, 403);
	cid_witness_result_clear(&r);
	/* the trusted key's line over another signature */
	b = body(&f->log, 0, 3);
	sig = strstr(b, "\xE2\x80\x94 " ORIGIN " ") + strlen("\xE2\x80\x94 " ORIGIN " ");
	sig[10] = sig[10] == 'A' ? 'B' : 'A'; /* past the key id's six characters */
	assert_int_equal(submit(f, b, &r), CID_WITNESS_BAD_SIGNATURE);
	assert_int_equal(r.status, 403);
	cid_witness_result_clear(&r);
	assert_int_equal(recorded(f, NULL), 0);
	cid_note_signer_free(impostor.key);
}

static void test_refuses_an_unknown_origin(void **state)
{
	struct fixture *f = *state;
	struct tlog other;
	struct cid_witness_result r;

	tlog_init(&other, "elsewhere.example/log");
	assert_int_equal(submit(f, body(&other, 0, 3), &r), CID_WITNESS_UNKNOWN_ORIGIN);
	assert_int_equal(r.status, 404);
	cid_witness_result_clear(&r);
	cid_note_signer_free(other.key);
}

static void test_conflict_answers_the_recorded_size(void **state)
{
	struct fixture *f = *state;
	struct cid_witness_result r;

	assert_int_equal(submit(f, body(&f->log, 0, 8), NULL), CID_WITNESS_COSIGNED);
	/* a log that does not know what the witness has: it learns the size, then goes on */
	assert_int_equal(submit(f, body(&f->log, 0, 10), &r), CID_WITNESS_CONFLICT);
	assert_int_equal(r.status, 409);
	assert_string_equal(r.content_type, "text/x.tlog.size");
	assert_string_equal(r.body, "8\n");
	cid_witness_result_clear(&r);
	assert_int_equal(submit(f, body(&f->log, 9, 10), &r), CID_WITNESS_CONFLICT);
	cid_witness_result_clear(&r);
	assert_int_equal(submit(f, body(&f->log, 8, 10), NULL), CID_WITNESS_COSIGNED);
}

static void test_malformed_bodies(void **state)
{
	struct fixture *f = *state;
	char *good = body(&f->log, 0, 5);
	const char *cp = good + strlen("old 0\n\n");
	const char *proof = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n";
	struct cid_buf b;
	static const char *const heads[] = {
	    "",		  "old\n\n",	"old  0\n\n",
	    "old 00\n\n", "old 01\n\n", "old -1\n\n",
	    "Old 0\n\n",  "old 0 \n\n", "old 0\r\n\n",
	    "old 0\n",	  "new 0\n\n",	"old 9223372036854775808\n\n",
	    "old 6\n\n", /* above the size */
	};
	static const char *const proofs[] = {
	    "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU\n",	  /* unpadded */
	    "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=AAAA\n", /* 35 bytes */
	    "AAAA\n",
	    " 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
	};

	for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
		struct cid_witness_result r;

		cid_buf_init(&b, CID_WITNESS_MAX_BODY);
		cid_buf_printf(&b, "%s%s", heads[i], cp);
		if (submit(f, cid_buf_take(&b, NULL), &r) != CID_WITNESS_MALFORMED)
			fail_msg("head %zu \"%s\": %s", i, heads[i],
				 cid_witness_verdict_name(r.verdict));
		assert_int_equal(r.status, 400);
		cid_witness_result_clear(&r);
	}
	for (size_t i = 0; i < sizeof(proofs) / sizeof(proofs[0]); i++) {
		cid_buf_init(&b, CID_WITNESS_MAX_BODY);
		cid_buf_printf(&b, "old 3\n%s\n%s", proofs[i], cp);
		assert_int_equal(submit(f, cid_buf_take(&b, NULL), NULL), CID_WITNESS_MALFORMED);
	}
	/* 63 proof lines parse (and prove nothing here); 64 are refused */
	for (int n = 63; n <= 64; n++) {
		cid_buf_init(&b, CID_WITNESS_MAX_BODY);
		cid_buf_puts(&b, "old 3\n");
		for (int i = 0; i < n; i++)
			cid_buf_puts(&b, proof);
		cid_buf_printf(&b, "\n%s", cp);
		assert_int_equal(submit(f, cid_buf_take(&b, NULL), NULL),
				 n == 63 ? CID_WITNESS_CONFLICT : CID_WITNESS_MALFORMED);
	}
	/* no blank line before the checkpoint; an unsigned note; a note that is no checkpoint */
	cid_buf_init(&b, CID_WITNESS_MAX_BODY);
	cid_buf_printf(&b, "old 0\n%s", cp);
	assert_int_equal(submit(f, cid_buf_take(&b, NULL), NULL), CID_WITNESS_MALFORMED);
	cid_buf_printf(&b,
		       "old 0\n\n" ORIGIN "\n5\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n");
	assert_int_equal(submit(f, cid_buf_take(&b, NULL), NULL), CID_WITNESS_MALFORMED);
	{
		const struct cid_note_signer *ss[] = {f->log.key};
		char *note = NULL;

		assert_int_equal(cid_note_sign(cid_str_of("hello\n"), ss, 1, 0, &note, NULL),
				 CID_OK);
		cid_buf_printf(&b, "old 0\n\n%s", note);
		free(note);
		assert_int_equal(submit(f, cid_buf_take(&b, NULL), NULL), CID_WITNESS_MALFORMED);
	}
	/* over the size limit */
	cid_buf_init(&b, CID_WITNESS_MAX_BODY + 100);
	cid_buf_puts(&b, good);
	while (b.len <= CID_WITNESS_MAX_BODY)
		cid_buf_puts(&b, "\xE2\x80\x94 other.example/k AAAAAAAAAAAAAAAA\n");
	assert_int_equal(submit(f, cid_buf_take(&b, NULL), NULL), CID_WITNESS_MALFORMED);
	cid_buf_free(&b);
	assert_int_equal(recorded(f, NULL), 0);
	free(good);
	assert_string_equal(cid_witness_verdict_name(CID_WITNESS_INCONSISTENT), "inconsistent");
}

static void test_state_survives_reopening(void **state)
{
	struct fixture *f = *state;
	struct cid_witness_result r;

	assert_int_equal(submit(f, body(&f->log, 0, 8), NULL), CID_WITNESS_COSIGNED);
	cid_witness_free(f->w);
	cid_store_close(f->s);
	f->w = NULL;
	assert_int_equal(cid_store_open(f->dir, &f->s), CID_OK);
	assert_int_equal(cid_witness_open(f->s, &f->w), CID_OK);
	assert_string_equal(cid_witness_vkey(f->w), f->vkey);
	assert_int_equal(submit(f, body(&f->log, 0, 9), &r), CID_WITNESS_CONFLICT);
	assert_string_equal(r.body, "8\n");
	cid_witness_result_clear(&r);
	assert_int_equal(submit(f, body(&f->log, 8, 9), &r), CID_WITNESS_COSIGNED);
	assert_cosigns(f, &f->log, 9, r.body, NOW);
	cid_witness_result_clear(&r);
}

static void test_cosignature_time_never_goes_back(void **state)
{
	struct fixture *f = *state;
	struct cid_witness_result r;

	assert_int_equal(submit_at(f, body(&f->log, 0, 4), NOW + 100, NULL), CID_WITNESS_COSIGNED);
	assert_int_equal(submit_at(f, body(&f->log, 4, 6), NOW, &r), CID_WITNESS_COSIGNED);
	assert_cosigns(f, &f->log, 6, r.body, NOW + 100);
	cid_witness_result_clear(&r);
}

#define RACERS 6

struct racer {
	struct fixture *f;
	char *body;
	struct cid_witness_result r;
	enum cid_err rc;
};

static void *race(void *arg)
{
	struct racer *x = arg;

	x->rc = cid_witness_add_checkpoint(x->f->w, x->body, strlen(x->body), NOW, &x->r);
	return NULL;
}

/* Requests against one recorded size at once: one wins, the others learn its size. */
static void test_concurrent_requests_are_serialised(void **state)
{
	struct fixture *f = *state;
	struct racer x[RACERS];
	pthread_t t[RACERS];
	int won = 0;
	uint64_t winner = 0;

	assert_int_equal(submit(f, body(&f->log, 0, 8), NULL), CID_WITNESS_COSIGNED);
	for (int i = 0; i < RACERS; i++) {
		x[i].f = f;
		x[i].body = body(&f->log, 8, 9 + (uint64_t)i);
		assert_int_equal(pthread_create(&t[i], NULL, race, &x[i]), 0);
	}
	for (int i = 0; i < RACERS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	for (int i = 0; i < RACERS; i++) {
		assert_int_equal(x[i].rc, CID_OK);
		if (x[i].r.verdict == CID_WITNESS_COSIGNED) {
			won++;
			winner = 9 + (uint64_t)i;
		}
	}
	assert_int_equal(won, 1);
	for (int i = 0; i < RACERS; i++) {
		if (x[i].r.verdict != CID_WITNESS_COSIGNED) {
			char want[32];

			snprintf(want, sizeof(want), "%llu\n", (unsigned long long)winner);
			assert_int_equal(x[i].r.status, 409);
			/* a smaller one than the winner is now a rollback, a larger a conflict */
			assert_int_equal(x[i].r.verdict, 9 + (uint64_t)i < winner
							     ? CID_WITNESS_ROLLBACK
							     : CID_WITNESS_CONFLICT);
			assert_string_equal(x[i].r.body, want);
		}
		cid_witness_result_clear(&x[i].r);
		free(x[i].body);
	}
	assert_int_equal(recorded(f, NULL), winner);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_init_open_and_keys),
	    T(test_add_log_checks_origin_and_key),
	    T(test_accepts_a_growing_log),
	    T(test_refuses_a_rollback),
	    T(test_refuses_a_fork_of_equal_size),
	    T(test_refuses_an_inconsistent_tree),
	    T(test_size_zero_and_empty_proofs),
	    T(test_refuses_a_wrong_key),
	    T(test_refuses_an_unknown_origin),
	    T(test_conflict_answers_the_recorded_size),
	    T(test_malformed_bodies),
	    T(test_state_survives_reopening),
	    T(test_cosignature_time_never_goes_back),
	    T(test_concurrent_requests_are_serialised),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
