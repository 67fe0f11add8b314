/*
 * trail: the citizen's bundle from a real context (LMDB, keys, a service
 * under its policy) and a log written here: which entries a page holds
 * (table: paging and limits), that every proof leads to the one
 * checkpoint's root, which checkpoint is chosen (signed when none covers
 * the page; a witness-cosigned one when witnesses are configured), the
 * names and the signature over the page, the CSV's cells (table), and the
 * city's disclosure on the record.
 */
#include "account.h"
#include "audit.h"
#include "bounds.h"
#include "buf.h"
#include "cid.h"
#include "crypto.h"
#include "jose.h"
#include "merkle.h"
#include "note.h"
#include "str.h"
#include "support.h"
#include "trail.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define NOW 1800000000

struct fixture {
	char dir[256];
	struct cid_config *cfg;
	struct cid_ctx *ctx;
	char hanako[CID_ID_CHARS + 1];
	char taro[CID_ID_CHARS + 1];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	json_t *claims = json_pack("{s:s}", "given_name", "花子");

	assert_non_null(f);
	f->cfg = cid_test_config(f->dir);
	cid_test_set(f->cfg, "issuer", "https://id.city.example.jp");
	cid_test_policies(f->cfg, f->dir, "svc.policy", cid_test_svc_policy);
	assert_int_equal(cid_ctx_open(f->cfg, NOW, NULL, &f->ctx), CID_OK);
	cid_test_add_svc_client(f->ctx, NOW);
	assert_int_equal(cid_account_add(cid_ctx_store(f->ctx), &f->cfg->argon2, "hanako",
					 "correct horse battery", claims, NOW, f->hanako),
			 CID_OK);
	assert_int_equal(cid_account_add(cid_ctx_store(f->ctx), &f->cfg->argon2, "taro",
					 "correct horse battery", claims, NOW, f->taro),
			 CID_OK);
	json_decref(claims);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	cid_test_ctx_close(f->ctx, f->cfg, f->dir);
	free(f);
	return 0;
}

/* Whether the logged entry of item names one of the bundle's names, and not the account id. */
static bool names_hold(const json_t *b, const json_t *item)
{
	json_t *e = NULL;
	const char *who;
	bool found = false;

	assert_int_equal(cid_store_parse_json(cid_str_of(cid_json_str(item, "entry")), &e), CID_OK);
	who = cid_json_str(e, "citizen");
	for (size_t i = 1; who != NULL && i < json_array_size(json_object_get(b, "names")); i++)
		if (strcmp(json_string_value(json_array_get(json_object_get(b, "names"), i)),
			   who) == 0)
			found = true;
	json_decref(e);
	return found;
}

/* Appends one entry of type for citizen (NULL: none); returns its seq. */
static uint64_t append(struct fixture *f, const char *type, const char *citizen, const char *basis)
{
	char when[21];
	uint64_t seq = 0;
	json_t *e;

	assert_int_equal(cid_audit_time(NOW, when), CID_OK);
	e = json_pack("{s:s, s:s, s:s, s:s, s:s, s:[s], s:s}", "type", type, "time", when, "actor",
		      "service", "service", "svc", "purpose", "fees", "attributes", "given_name",
		      "basis", basis);
	assert_non_null(e);
	if (citizen != NULL)
		assert_int_equal(json_object_set_new(e, "citizen", json_string(citizen)), 0);
	/* citizen may be f->hanako, whose NULL test the analyzer takes for one of f */
	// NOLINTNEXTLINE(clang-analyzer-core.NullDereference): f is set
	assert_int_equal(cid_audit_append(cid_ctx_audit_log(f->ctx), &e, 1, &seq), CID_OK);
	json_decref(e);
	return seq;
}

/*
 * The log of the paging table: seqs 0..11, hanako's shown ones marked.
 *   0 H granted  1 T permit  2 H permit  3 H deny  4 H permit  5 officer.viewed H
 *   6 T granted  7 H withdrawn  8 H permit (statute)  9 no citizen  10 H expired 11 T permit
 * hanako's trail: 10 8 7 4 2 0
 */
static void fill(struct fixture *f)
{
	static const struct {
		const char *type;
		char who; /* 'H', 'T', 0 */
		const char *basis;
	} log[] = {
	    {"consent.granted", 'H', "consent"},
	    {"release.permit", 'T', "consent"},
	    {"release.permit", 'H', "consent"},
	    {"release.deny", 'H', "consent"},
	    {"release.permit", 'H', "consent"},
	    {"officer.viewed", 'H', "consent"},
	    {"consent.granted", 'T', "consent"},
	    {"consent.withdrawn", 'H', "consent"},
	    {"release.permit", 'H', "statute:Act 1 art. 2"},
	    {"logout.delivered", 0, "consent"},
	    {"consent.expired", 'H', "consent"},
	    {"release.permit", 'T', "consent"},
	};

	for (size_t i = 0; i < sizeof(log) / sizeof(log[0]); i++)
		assert_int_equal(append(f, log[i].type,
					log[i].who == 'H'   ? f->hanako
					: log[i].who == 'T' ? f->taro
							    : NULL,
					log[i].basis),
				 i);
}

/* The size and root of the bundle's checkpoint note. */
static void checkpoint_root(const json_t *b, uint64_t *size, uint8_t root[CID_MERKLE_HASH])
{
	const json_t *cp = json_object_get(b, "checkpoint");
	const char *text = cid_json_str(cp, "note");
	struct cid_note note;
	struct cid_checkpoint c;

	assert_non_null(text);
	assert_int_equal(cid_note_parse(cid_str_of(text), &note), CID_OK);
	assert_int_equal(cid_checkpoint_parse(note.text, &c), CID_OK);
	assert_int_equal(c.size, cid_json_int(cp, "size"));
	*size = c.size;
	memcpy(root, c.root, CID_MERKLE_HASH);
}

/* 64 hex digits into out. */
static void unhex(const char *hex, uint8_t out[CID_MERKLE_HASH])
{
	assert_non_null(hex);
	assert_int_equal(strlen(hex), 2 * CID_MERKLE_HASH);
	for (size_t i = 0; i < CID_MERKLE_HASH; i++) {
		unsigned v = 0;

		for (size_t k = 0; k < 2; k++) {
			char c = hex[2 * i + k];

			assert_non_null(strchr("0123456789abcdef", c));
			v = v * 16 + (unsigned)(c <= '9' ? c - '0' : c - 'a' + 10);
		}
		out[i] = (uint8_t)v;
	}
}

/* Every entry's leaf is its text's and its path leads to the checkpoint's root. */
static void assert_proofs_hold(const json_t *b, size_t *unproved)
{
	uint8_t root[CID_MERKLE_HASH];
	uint64_t size = 0;
	size_t i;
	const json_t *item;

	checkpoint_root(b, &size, root);
	*unproved = 0;
	json_array_foreach(json_object_get(b, "entries"), i, item)
	{
		const char *entry = cid_json_str(item, "entry");
		uint8_t leaf[CID_MERKLE_HASH];
		char hex[2 * CID_MERKLE_HASH + 1];
		struct cid_merkle_proof p = {0};
		const json_t *path = json_object_get(item, "proof");
		size_t j;
		const json_t *h;

		assert_non_null(entry);
		assert_int_equal(cid_merkle_leaf_hash(entry, strlen(entry), leaf), CID_OK);
		cid_hex(leaf, CID_MERKLE_HASH, hex);
		assert_string_equal(hex, cid_json_str(item, "leaf_hash"));
		if (json_is_null(path)) {
			assert_true((uint64_t)cid_json_int(item, "seq") >= size);
			(*unproved)++;
			continue;
		}
		assert_true(json_array_size(path) <= CID_MERKLE_MAX_PROOF);
		json_array_foreach(path, j, h) unhex(json_string_value(h), p.hash[j]);
		p.len = json_array_size(path);
		assert_int_equal(cid_merkle_verify_inclusion((uint64_t)cid_json_int(item, "seq"),
							     size, leaf, &p, root),
				 CID_OK);
	}
}

/* The seqs of a bundle's entries as "10 8 7" (for the table). */
static void seqs_of(const json_t *b, char *out, size_t size)
{
	size_t i;
	const json_t *item;
	size_t at = 0;

	out[0] = '\0';
	json_array_foreach(json_object_get(b, "entries"), i, item)
	{
		int n = snprintf(out + at, size - at, "%s%lld", i > 0 ? " " : "",
				 (long long)cid_json_int(item, "seq"));

		assert_true(n > 0 && (size_t)n < size - at);
		at += (size_t)n;
	}
}

static void test_trail_pages_hold_the_citizens_entries_only(void **state)
{
	static const struct {
		uint64_t before;
		size_t limit;
		const char *seqs;    /* newest first */
		int64_t next_before; /* 0: absent */
	} rows[] = {
	    {0, 500, "10 8 7 4 2 0", 0}, /* consent.*, release.permit; no deny, officer, other */
	    {0, 2, "10 8", 8},		 /* a page, and where the next starts */
	    {8, 2, "7 4", 4},		 /* the next page */
	    {4, 2, "2 0", 0},		 /* the last page: exactly full, nothing after */
	    {2, 500, "0", 0},		 /* below a seq that is not hanako's own */
	    {1, 500, "0", 0},		 /* below taro's first entry */
	    {0 + 11, 1, "10", 10},	 /* below another citizen's seq */
	    {0, 6, "10 8 7 4 2 0", 0},	 /* a limit of exactly all */
	    {0, 5, "10 8 7 4 2", 2},	 /* one short */
	};
	struct fixture *f = *state;
	char got[128];
	size_t unproved;

	fill(f);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		json_t *b = NULL;

		assert_int_equal(cid_audit_trail(cid_ctx_store(f->ctx), NULL, f->hanako,
						 rows[i].before, rows[i].limit, NOW, &b),
				 CID_OK);
		seqs_of(b, got, sizeof(got));
		if (strcmp(got, rows[i].seqs) != 0)
			fail_msg("row %zu: entries %s, want %s", i, got, rows[i].seqs);
		assert_int_equal(cid_json_int(b, "next_before"), rows[i].next_before);
		assert_int_equal(json_object_get(b, "next_before") != NULL,
				 rows[i].next_before != 0);
		assert_proofs_hold(b, &unproved);
		assert_int_equal(unproved, 0);
		assert_false(
		    json_is_true(json_object_get(json_object_get(b, "checkpoint"), "cosigned")));
		assert_true(json_array_size(json_object_get(b, "vkeys")) == 1);
		assert_int_equal(json_array_size(json_object_get(b, "witness_vkeys")), 0);
		assert_string_equal(cid_json_str(b, "origin"), "id.city.example.jp/audit");
		json_decref(b);
	}
}

static void test_trail_refuses_bad_arguments(void **state)
{
	static const struct {
		bool no_citizen;
		size_t limit;
	} rows[] = {{false, 0}, {false, CID_TRAIL_MAX + 1}, {true, 10}};
	struct fixture *f = *state;
	json_t *b = NULL;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		assert_int_equal(cid_audit_trail(cid_ctx_store(f->ctx), NULL,
						 rows[i].no_citizen ? NULL : f->hanako, 0,
						 rows[i].limit, NOW, &b),
				 CID_ERR_INVALID);
	assert_null(b);
	assert_int_equal(cid_audit_trail(NULL, NULL, f->hanako, 0, 10, NOW, &b), CID_ERR_INVALID);
	assert_int_equal(cid_audit_trail(cid_ctx_store(f->ctx), NULL, f->hanako, 0, 10, NOW, NULL),
			 CID_ERR_INVALID);
}

static void test_trail_signs_a_checkpoint_only_when_none_covers_the_page(void **state)
{
	struct fixture *f = *state;
	struct cid_store *s = cid_ctx_store(f->ctx);
	json_t *b = NULL;
	char *note = NULL;
	size_t unproved;

	/* an empty trail of a log never signed: nothing signed, no checkpoint */
	assert_int_equal(cid_audit_trail(s, NULL, f->hanako, 0, 10, NOW, &b), CID_OK);
	assert_true(json_is_null(json_object_get(b, "checkpoint")));
	assert_int_equal(json_array_size(json_object_get(b, "entries")), 0);
	json_decref(b);
	append(f, "release.permit", f->taro, "consent");
	assert_int_equal(cid_audit_trail(s, NULL, f->hanako, 0, 10, NOW, &b), CID_OK);
	assert_true(json_is_null(json_object_get(b, "checkpoint")));
	json_decref(b);
	assert_int_equal(cid_audit_checkpoint_get(s, 0, &note), CID_ERR_NOTFOUND);

	/* hanako's first entry: a checkpoint of 2 is signed for it */
	append(f, "release.permit", f->hanako, "consent");
	assert_int_equal(cid_audit_trail(s, NULL, f->hanako, 0, 10, NOW + 1, &b), CID_OK);
	assert_int_equal(cid_json_int(json_object_get(b, "checkpoint"), "size"), 2);
	assert_proofs_hold(b, &unproved);
	json_decref(b);
	assert_int_equal(cid_audit_checkpoint_get(s, 0, &note), CID_OK);
	assert_non_null(strstr(note, "\n2\n"));
	free(note);

	/* taro's entry after it: the checkpoint of 2 still covers hanako's page */
	append(f, "release.permit", f->taro, "consent");
	assert_int_equal(cid_audit_trail(s, NULL, f->hanako, 0, 10, NOW + 2, &b), CID_OK);
	assert_int_equal(cid_json_int(json_object_get(b, "checkpoint"), "size"), 2);
	json_decref(b);
	/* hanako's second: a checkpoint of 4 */
	append(f, "consent.withdrawn", f->hanako, "consent");
	assert_int_equal(cid_audit_trail(s, NULL, f->hanako, 0, 10, NOW + 3, &b), CID_OK);
	assert_int_equal(cid_json_int(json_object_get(b, "checkpoint"), "size"), 4);
	assert_proofs_hold(b, &unproved);
	assert_int_equal(json_array_size(json_object_get(b, "entries")), 2);
	json_decref(b);
}

struct cosign {
	const struct cid_note_signer *w;
	uint64_t size;
};

/* Appends w's cosignature to the stored checkpoint of size, as a witness push does. */
static enum cid_err cosign_cb(struct cid_txn *txn, void *arg)
{
	struct cosign *c = arg;
	char key[17];
	json_t *rec = NULL;
	struct cid_note note;
	struct cid_buf line;
	char *text;
	enum cid_err rc;

	snprintf(key, sizeof(key), "%016llx", (unsigned long long)c->size);
	rc = cid_txn_get_json(txn, CID_DB_AUDIT_CP, cid_str_of(key), &rec);
	if (rc != CID_OK)
		return rc;
	assert_int_equal(cid_note_parse(cid_str_of(cid_json_str(rec, "note")), &note), CID_OK);
	cid_buf_init(&line, CID_NOTE_MAX_SIZE);
	cid_buf_puts(&line, cid_json_str(rec, "note"));
	assert_int_equal(cid_note_sign_line(c->w, note.text, NOW + 100, &line), CID_OK);
	text = cid_buf_take(&line, NULL);
	assert_non_null(text);
	assert_int_equal(json_object_set_new(rec, "note", json_string(text)), 0);
	free(text);
	rc = cid_txn_put_json(txn, CID_DB_AUDIT_CP, cid_str_of(key), rec, 0);
	json_decref(rec);
	return rc;
}

static void test_trail_proves_against_the_newest_cosigned_checkpoint(void **state)
{
	struct fixture *f = *state;
	struct cid_store *s = cid_ctx_store(f->ctx);
	struct cid_note_signer *w = NULL;
	struct cid_note_signer *other = NULL;
	struct cid_audit_witnesses *ws = NULL;
	struct cid_audit_witnesses *ws_other = NULL;
	char *vkey = NULL;
	char *vkey_other = NULL;
	char config[1024];
	char err[256];
	json_t *b = NULL;
	size_t unproved;

	assert_int_equal(
	    cid_note_signer_new(cid_str_of("witness.example/w1"), CID_NOTE_COSIG, NULL, &w),
	    CID_OK);
	assert_int_equal(
	    cid_note_signer_new(cid_str_of("witness.example/w2"), CID_NOTE_COSIG, NULL, &other),
	    CID_OK);
	assert_int_equal(cid_note_signer_vkey(w, &vkey), CID_OK);
	assert_int_equal(cid_note_signer_vkey(other, &vkey_other), CID_OK);
	snprintf(config, sizeof(config), "http://127.0.0.1:9/w1 %s", vkey);
	assert_int_equal(cid_audit_witnesses_parse(config, &ws, err, sizeof(err)), CID_OK);
	snprintf(config, sizeof(config), "http://127.0.0.1:9/w2 %s", vkey_other);
	assert_int_equal(cid_audit_witnesses_parse(config, &ws_other, err, sizeof(err)), CID_OK);

	/* 12 entries, checkpoint 12 cosigned by w1; 2 more, checkpoint 14 not cosigned */
	fill(f);
	assert_int_equal(cid_audit_checkpoint(s, NOW, NULL), CID_OK); /* covers all 12 */
	assert_int_equal(cid_store_update(s, cosign_cb, &(struct cosign){w, 12}), CID_OK);
	append(f, "release.permit", f->hanako, "consent");		  /* 12 */
	append(f, "release.permit", f->hanako, "consent");		  /* 13 */
	assert_int_equal(cid_audit_checkpoint(s, NOW + 5, NULL), CID_OK); /* 14, not cosigned */

	/* with w1 configured: the cosigned 12; the two newer listed without proof */
	assert_int_equal(cid_audit_trail(s, ws, f->hanako, 0, 500, NOW + 6, &b), CID_OK);
	assert_int_equal(cid_json_int(json_object_get(b, "checkpoint"), "size"), 12);
	assert_true(json_is_true(json_object_get(json_object_get(b, "checkpoint"), "cosigned")));
	assert_non_null(strstr(cid_json_str(json_object_get(b, "checkpoint"), "note"),
			       "\xe2\x80\x94 witness.example/w1 "));
	assert_string_equal(
	    json_string_value(json_array_get(json_object_get(b, "witness_vkeys"), 0)), vkey);
	assert_proofs_hold(b, &unproved);
	assert_int_equal(unproved, 2);
	assert_int_equal(json_array_size(json_object_get(b, "entries")), 8);
	json_decref(b);

	/* with no witness: the newest, 14, proving all */
	assert_int_equal(cid_audit_trail(s, NULL, f->hanako, 0, 500, NOW + 6, &b), CID_OK);
	assert_int_equal(cid_json_int(json_object_get(b, "checkpoint"), "size"), 14);
	assert_proofs_hold(b, &unproved);
	assert_int_equal(unproved, 0);
	json_decref(b);

	/* with a witness that cosigned nothing: the newest too, not cosigned */
	assert_int_equal(cid_audit_trail(s, ws_other, f->hanako, 0, 500, NOW + 6, &b), CID_OK);
	assert_int_equal(cid_json_int(json_object_get(b, "checkpoint"), "size"), 14);
	assert_false(json_is_true(json_object_get(json_object_get(b, "checkpoint"), "cosigned")));
	json_decref(b);

	cid_audit_witnesses_free(ws);
	cid_audit_witnesses_free(ws_other);
	cid_note_signer_free(w);
	cid_note_signer_free(other);
	free(vkey);
	free(vkey_other);
}

static void test_trail_bundle_is_named_and_signed_over_its_entries(void **state)
{
	struct fixture *f = *state;
	struct cid_keyref *kref = NULL;
	json_t *b = NULL;
	json_t *claims = NULL;
	uint8_t *all;
	uint8_t digest[CID_MERKLE_HASH];
	char hex[2 * CID_MERKLE_HASH + 1];
	size_t n;
	size_t i;
	const json_t *item;
	const char *sig;

	fill(f);
	assert_int_equal(cid_trail_bundle(f->ctx, f->hanako, "en", 0, CID_TRAIL_MAX, NOW + 7, &b),
			 CID_OK);
	assert_string_equal(cid_json_str(b, "type"), CID_TRAIL_TYPE);
	assert_string_equal(cid_json_str(b, "issuer"), "https://id.city.example.jp");
	assert_string_equal(cid_json_str(b, "citizen"), f->hanako);
	assert_string_equal(cid_json_str(b, "lang"), "en");
	assert_int_equal(cid_json_int(b, "limit"), CID_TRAIL_MAX);
	n = json_array_size(json_object_get(b, "entries"));
	assert_int_equal(n, 6);
	/* newest first: 10 expired, 8 permit by statute, 7 withdrawn, 4 and 2 permit, 0 granted */
	{
		static const char *const decisions[] = {"expired", "permit", "withdrawn",
							"permit",  "permit", "granted"};

		json_array_foreach(json_object_get(b, "entries"), i, item)
		{
			assert_string_equal(cid_json_str(item, "decision"), decisions[i]);
			assert_string_equal(cid_json_str(item, "service_name"),
					    "Childcare support");
			assert_string_equal(cid_json_str(item, "purpose_text"),
					    "To calculate your childcare fee");
			assert_string_equal(cid_json_str(item, "service"), "svc");
			assert_string_equal(cid_json_str(item, "time"), "2027-01-15T08:00:00Z");
			assert_true(names_hold(b, item));
		}
	}
	/* the account id first (entries from before pseudonyms), then the pseudonyms */
	assert_string_equal(json_string_value(json_array_get(json_object_get(b, "names"), 0)),
			    f->hanako);
	assert_string_equal(cid_json_str(json_array_get(json_object_get(b, "entries"), 1), "basis"),
			    "statute:Act 1 art. 2");
	/* the signature binds exactly these entries */
	sig = cid_json_str(b, "signature");
	assert_non_null(sig);
	kref = cid_ctx_keys_acquire(f->ctx);
	assert_int_equal(
	    cid_jws_verify(cid_keyref_keyset(kref), sig, strlen(sig), CID_TRAIL_TYP, &claims),
	    CID_OK);
	cid_keyref_put(kref);
	all = malloc(n * CID_MERKLE_HASH);
	assert_non_null(all);
	json_array_foreach(json_object_get(b, "entries"), i, item)
	{
		const char *entry = cid_json_str(item, "entry");

		assert_int_equal(
		    cid_merkle_leaf_hash(entry, strlen(entry), all + i * CID_MERKLE_HASH), CID_OK);
	}
	cid_sha256(all, n * CID_MERKLE_HASH, digest);
	free(all);
	cid_hex(digest, CID_MERKLE_HASH, hex);
	assert_string_equal(cid_json_str(claims, "entries_hash"), hex);
	assert_int_equal(cid_json_int(claims, "count"), 6);
	assert_string_equal(cid_json_str(claims, "sub"), f->hanako);
	assert_string_equal(cid_json_str(claims, "iss"), "https://id.city.example.jp");
	assert_int_equal(cid_json_int(claims, "size"),
			 cid_json_int(json_object_get(b, "checkpoint"), "size"));
	assert_int_equal(cid_json_int(claims, "iat"), NOW + 7);
	json_decref(claims);
	json_decref(b);

	/* in Japanese, the policy's Japanese names */
	assert_int_equal(cid_trail_bundle(f->ctx, f->hanako, "ja", 0, 2, NOW, &b), CID_OK);
	assert_string_equal(
	    cid_json_str(json_array_get(json_object_get(b, "entries"), 0), "service_name"),
	    "子育て支援");
	/* a smaller page: its limit said, and where the next starts */
	assert_int_equal(json_array_size(json_object_get(b, "entries")), 2);
	assert_int_equal(cid_json_int(b, "limit"), 2);
	assert_int_equal(cid_json_int(b, "next_before"), 8);
	json_decref(b);
	b = NULL;
	assert_int_equal(cid_trail_bundle(f->ctx, f->hanako, "ja", 0, 0, NOW, &b), CID_ERR_INVALID);
	assert_int_equal(cid_trail_bundle(f->ctx, f->hanako, "ja", 0, CID_TRAIL_MAX + 1, NOW, &b),
			 CID_ERR_INVALID);
	assert_null(b);
	assert_int_equal(cid_trail_bundle(NULL, f->hanako, "ja", 0, 10, NOW, &b), CID_ERR_INVALID);
	assert_int_equal(cid_trail_bundle(f->ctx, NULL, "ja", 0, 10, NOW, &b), CID_ERR_INVALID);
}

static void test_trail_csv_cells(void **state)
{
	static const struct {
		const char *purpose_text; /* the cell under test */
		const char *lang;
		const char *row; /* the row it gives */
	} rows[] = {
	    {"plain", "en",
	     "7,\"15 January 2027, 17:00\",Childcare,plain,given_name email,your "
	     "consent,released to the service\r\n"},
	    {"a,b", "en",
	     "7,\"15 January 2027, 17:00\",Childcare,\"a,b\",given_name email,your "
	     "consent,released to the service\r\n"},
	    {"say \"hi\"", "en",
	     "7,\"15 January 2027, 17:00\",Childcare,\"say \"\"hi\"\"\",given_name "
	     "email,your consent,released to the service\r\n"},
	    {"=1+1", "en",
	     "7,\"15 January 2027, 17:00\",Childcare,'=1+1,given_name email,your "
	     "consent,released to the service\r\n"},
	    {"-2", "ja",
	     "7,2027年1月15日 17:00,Childcare,'-2,given_name email,本人の同意,提供\r\n"},
	    {"two\nlines", "ja",
	     "7,2027年1月15日 17:00,Childcare,\"two\nlines\",given_name email,本人の同意,提供\r\n"},
	};
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		json_t *b = json_pack(
		    "{s:s, s:[{s:i, s:s, s:s, s:s, s:[s,s], s:s, s:s}]}", "lang", rows[i].lang,
		    "entries", "seq", 7, "time", "2027-01-15T08:00:00Z", "service_name",
		    "Childcare", "purpose_text", rows[i].purpose_text, "attributes", "given_name",
		    "email", "basis", "consent", "decision", "permit");
		char *csv = NULL;
		size_t len = 0;
		const char *head =
		    strcmp(rows[i].lang, "en") == 0
			? "\xEF\xBB\xBFseq,time,service,purpose,items,basis,decision\r\n"
			: "\xEF\xBB\xBF番号,日時,提供先,利用目的,項目,根拠,内容\r\n";

		assert_non_null(b);
		assert_int_equal(cid_trail_csv(f->ctx, b, &csv, &len), CID_OK);
		assert_int_equal(strlen(csv), len);
		assert_memory_equal(csv, head, strlen(head));
		if (strncmp(csv + strlen(head), rows[i].row, strlen(rows[i].row)) != 0)
			fail_msg("row %zu: %s", i, csv + strlen(head));
		/* an empty row, then where the verifiable JSON is */
		assert_memory_equal(csv + strlen(head) + strlen(rows[i].row), "\r\n", 2);
		assert_non_null(
		    strstr(csv, "https://id.city.example.jp/account/trail?format=json"));
		assert_non_null(strstr(csv, "The citizen's trail bundle"));
		free(csv);
		json_decref(b);
	}
	{
		char *csv = NULL;
		size_t len = 0;
		json_t *not_bundle = json_object();

		assert_int_equal(cid_trail_csv(f->ctx, not_bundle, &csv, &len), CID_ERR_INVALID);
		json_decref(not_bundle);
	}
}

static void test_trail_recorded_logs_the_disclosure_first(void **state)
{
	struct fixture *f = *state;
	struct cid_txn *txn = NULL;
	json_t *b = NULL;
	json_t *last = NULL;
	uint64_t size = 0;
	char hash[CID_AUDIT_HASH_HEX];
	enum cid_err rc;
	char *p;

	fill(f);
	assert_int_equal(
	    cid_trail_recorded(f->ctx, f->hanako, "ja", 0, true, "operator", "cli", NOW + 9, &b),
	    CID_OK);
	assert_int_equal(json_array_size(json_object_get(b, "entries")), 6);
	assert_int_equal(cid_store_read_begin(cid_ctx_store(f->ctx), &txn), CID_OK);
	rc = cid_audit_head(txn, &size, hash);
	if (rc == CID_OK)
		rc = cid_audit_get(txn, 12, &last);
	cid_store_read_end(txn);
	assert_int_equal(rc, CID_OK);
	assert_int_equal(size, 13);
	assert_string_equal(cid_json_str(last, "type"), "audit.exported");
	assert_string_equal(cid_json_str(last, "actor"), "operator");
	assert_string_equal(cid_json_str(last, "endpoint"), "cli");
	assert_string_equal(cid_json_str(json_object_get(last, "ext"), "format"), "trail-csv");
	/* the filter's citizen, as the log holds it: the pseudonym of no scope (pseudonym.h),
	 * in ext and as the entry's citizen (a query by citizen finds the disclosure) */
	p = cid_test_pseudonym(cid_ctx_store(f->ctx), f->hanako, NULL, NULL);
	assert_non_null(p);
	assert_string_equal(cid_json_str(json_object_get(last, "ext"), "citizen"), p);
	assert_string_equal(cid_json_str(last, "citizen"), p);
	free(p);
	assert_string_equal(cid_json_str(json_object_get(last, "ext"), "rows"), "6");
	json_decref(last);
	json_decref(b);
	/* the record is not in hanako's trail */
	assert_int_equal(cid_trail_bundle(f->ctx, f->hanako, "ja", 0, CID_TRAIL_MAX, NOW + 10, &b),
			 CID_OK);
	assert_int_equal(json_array_size(json_object_get(b, "entries")), 6);
	json_decref(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_trail_pages_hold_the_citizens_entries_only, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_trail_refuses_bad_arguments, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_trail_signs_a_checkpoint_only_when_none_covers_the_page, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_trail_proves_against_the_newest_cosigned_checkpoint, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_trail_bundle_is_named_and_signed_over_its_entries,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_trail_csv_cells, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_trail_recorded_logs_the_disclosure_first, setup,
					    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
