/*
 * note: known answers from the specifications and from other implementations
 * (the signed-note spec's example key and note; golang.org/x/mod/sumdb/note's
 * PeterNeumann key, whose Ed25519 signature is deterministic; a cosignature/v1
 * note made by transparency-dev/formats; a cosignature computed for this test
 * with Python's cryptography package over the tlog-cosignature example), then
 * the verification rules (unknown keys ignored, a known key's bad line
 * rejects, one known line needed, timestamps up to 2^63 - 1), and tables of
 * malformed notes, keys and checkpoints, each refused with its error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "crypto.h"
#include "note.h"

#include <cmocka.h>
#include <openssl/evp.h>

#define S(lit) ((struct cid_str){lit, sizeof(lit) - 1})

/* c2sp.org/signed-note, "Verifier keys", Example */
#define SPEC_VKEY "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
#define SPEC_NOTE                                                                                  \
	"This is an example message.\n\n"                                                          \
	"\xE2\x80\x94 example.com/foo "                                                            \
	"Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72Iney" \
	"aQ"                                                                                       \
	"M=\n"

/* golang.org/x/mod/sumdb/note, package documentation */
#define GO_SKEY "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
#define GO_VKEY "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
#define GO_TEXT                                                                                    \
	"If you think cryptography is the answer to your problem,\n"                               \
	"then you don't know what your problem is.\n"
#define GO_SIG                                                                                     \
	"\xE2\x80\x94 PeterNeumann "                                                               \
	"x08go/ZJkuBS9UG/"                                                                         \
	"SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM"              \
	"=\n"
#define GO_NOTE GO_TEXT "\n" GO_SIG

/* a cosignature/v1 note signed by github.com/transparency-dev/formats/note */
#define TD_VKEY "vec.example/cosigv10+c12688da+BLMSTPoQj0PojM8eKiPf9xUT8g6b0OuMyvYb5sSu9JH5"
#define TD_TEXT "vec.example/cosigv10\n42\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
#define TD_NOTE                                                                                    \
	TD_TEXT                                                                                    \
	"\n\xE2\x80\x94 vec.example/cosigv10 "                                                     \
	"wSaI2gAAAABqbL5Q3HjbTCJeqMg3tmpdYGAg05ijTi7k0pyreJSULmtv3g+yXH+G/Ko87JG+QkLF6af9+"        \
	"GVVNlEIgf6T0bw0wQyMDw==\n"
#define TD_TIME 1785511504u

/*
 * The tlog-cosignature example checkpoint cosigned at 1679315147 by the RFC
 * 8032 test 1 seed as "witness.example/w1"; computed with Python's
 * cryptography package (an independent Ed25519 and message layout).
 */
#define RFC8032_SEED "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
#define CP_TEXT                                                                                    \
	"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
#define W1_VKEY "witness.example/w1+eb762cc2+BNdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea"
#define W1_LINE                                                                                    \
	"\xE2\x80\x94 witness.example/w1 "                                                         \
	"63YswgAAAABkGFDL+TPmh4BYuAjsYRoqMJCWb/gWJaeRF/kmm5tlCr9sJ57DLErur7K0yDXc2ArN+TIuotuB/"    \
	"HbuL3AJsp3bv/aNCQ==\n"
#define W1_TIME 1679315147u

static struct cid_str str_of(const char *s)
{
	return cid_str_of(s);
}

static void unhex(const char *hex, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v = 0;

		for (int j = 0; j < 2; j++) {
			char c = hex[2 * i + (size_t)j];
			v = v * 16 + (unsigned)(c <= '9' ? c - '0' : c - 'a' + 10);
		}
		out[i] = (uint8_t)v;
	}
}

static struct cid_note_verifier *verifier(const char *vkey)
{
	struct cid_note_verifier *v = NULL;

	assert_int_equal(cid_note_verifier_parse(str_of(vkey), &v), CID_OK);
	return v;
}

/* Parses msg into *note (heap copy of msg kept in *keep, freed by the caller). */
static enum cid_err parse(const char *msg, size_t n, struct cid_note *note, char **keep)
{
	*keep = malloc(n ? n : 1); /* exact size: an over-read shows under ASan */
	assert_non_null(*keep);
	memcpy(*keep, msg, n);
	return cid_note_parse((struct cid_str){*keep, n}, note);
}

/* Parses and verifies msg against one vkey. */
static enum cid_err open_with(const char *msg, const char *vkey)
{
	struct cid_note note;
	struct cid_note_verifier *v = verifier(vkey);
	const struct cid_note_verifier *vs[] = {v};
	char *keep = NULL;
	enum cid_err rc = parse(msg, strlen(msg), &note, &keep);

	if (rc == CID_OK)
		rc = cid_note_verify(&note, vs, 1, NULL);
	free(keep);
	cid_note_verifier_free(v);
	return rc;
}

static void test_spec_example_note_verifies(void **state)
{
	struct cid_note_verifier *v = verifier(SPEC_VKEY);

	(void)state;
	assert_string_equal(cid_note_verifier_name(v), "example.com/foo");
	assert_int_equal(cid_note_verifier_id(v), 0x530d903a);
	assert_int_equal(cid_note_verifier_type(v), CID_NOTE_ED25519);
	assert_string_equal(cid_note_verifier_vkey(v), SPEC_VKEY);
	cid_note_verifier_free(v);
	assert_int_equal(open_with(SPEC_NOTE, SPEC_VKEY), CID_OK);
}

/* A parsed signature line written again by cid_note_sig_format is the same bytes, and verifies. */
static void test_signature_line_written_again_is_the_same(void **state)
{
	struct cid_note note;
	struct cid_note again;
	struct cid_buf b;
	char *keep = NULL;
	struct cid_note_verifier *v = verifier(SPEC_VKEY);
	const struct cid_note_verifier *vs[] = {v};

	(void)state;
	assert_int_equal(parse(SPEC_NOTE, strlen(SPEC_NOTE), &note, &keep), CID_OK);
	cid_buf_init(&b, CID_NOTE_MAX_SIZE);
	cid_buf_append(&b, note.text.ptr, note.text.len);
	cid_buf_append(&b, "\n", 1);
	for (size_t i = 0; i < note.n_sigs; i++)
		cid_note_sig_format(&note.sigs[i], &b);
	assert_int_equal(cid_buf_status(&b), CID_OK);
	assert_int_equal(b.len, strlen(SPEC_NOTE));
	assert_memory_equal(b.data, SPEC_NOTE, b.len);
	assert_int_equal(cid_note_parse((struct cid_str){b.data, b.len}, &again), CID_OK);
	assert_int_equal(cid_note_verify(&again, vs, 1, NULL), CID_OK);
	cid_buf_free(&b);
	free(keep);
	cid_note_verifier_free(v);
}

static void test_go_reference_key_signs_the_reference_note(void **state)
{
	struct cid_note_signer *s = NULL;
	const struct cid_note_signer *ss[1];
	char *vkey = NULL, *skey = NULL, *msg = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(cid_note_signer_parse(str_of(GO_SKEY), &s), CID_OK);
	assert_string_equal(cid_note_signer_name(s), "PeterNeumann");
	assert_int_equal(cid_note_signer_id(s), 0xc74f20a3);
	assert_int_equal(cid_note_signer_vkey(s, &vkey), CID_OK);
	assert_string_equal(vkey, GO_VKEY);
	assert_int_equal(cid_note_signer_format(s, &skey), CID_OK);
	assert_string_equal(skey, GO_SKEY);
	ss[0] = s;
	/* Ed25519 is deterministic: the same bytes as the reference implementation */
	assert_int_equal(cid_note_sign(S(GO_TEXT), ss, 1, 0, &msg, &len), CID_OK);
	assert_string_equal(msg, GO_NOTE);
	assert_int_equal(len, strlen(GO_NOTE));
	assert_int_equal(open_with(GO_NOTE, GO_VKEY), CID_OK);
	cid_wipe(skey, strlen(skey));
	free(skey);
	free(vkey);
	free(msg);
	cid_note_signer_free(s);
}

static void test_transparency_dev_cosignature_verifies(void **state)
{
	struct cid_note note;
	struct cid_note_verifier *v = verifier(TD_VKEY);
	const struct cid_note_verifier *vs[] = {v};
	struct cid_note_check check;
	struct cid_checkpoint cp;
	char *keep = NULL;

	(void)state;
	assert_int_equal(cid_note_verifier_type(v), CID_NOTE_COSIG);
	assert_int_equal(parse(TD_NOTE, strlen(TD_NOTE), &note, &keep), CID_OK);
	assert_int_equal(cid_note_verify(&note, vs, 1, &check), CID_OK);
	assert_true(check.verified);
	assert_int_equal(check.time, TD_TIME);
	assert_int_equal(cid_checkpoint_parse(note.text, &cp), CID_OK);
	assert_int_equal(cp.size, 42);
	/* a one-byte change to the signed checkpoint */
	keep[strlen("vec.example/cosigv10\n4")] = '3';
	assert_int_equal(cid_note_verify(&note, vs, 1, NULL), CID_ERR_DENIED);
	free(keep);
	cid_note_verifier_free(v);
}

static void test_cosignature_known_answer(void **state)
{
	uint8_t seed[32];
	struct cid_note_signer *s = NULL;
	char *vkey = NULL;
	struct cid_buf b;

	(void)state;
	unhex(RFC8032_SEED, seed, 32);
	assert_int_equal(cid_note_signer_new(S("witness.example/w1"), CID_NOTE_COSIG, seed, &s),
			 CID_OK);
	assert_int_equal(cid_note_signer_vkey(s, &vkey), CID_OK);
	assert_string_equal(vkey, W1_VKEY);
	cid_buf_init(&b, 4096);
	assert_int_equal(cid_note_sign_line(s, S(CP_TEXT), W1_TIME, &b), CID_OK);
	assert_string_equal(b.data, W1_LINE);
	/* and it verifies, with its time */
	{
		const char *msg = CP_TEXT "\n" W1_LINE;
		struct cid_note note;
		struct cid_note_verifier *v = verifier(W1_VKEY);
		const struct cid_note_verifier *vs[] = {v};
		struct cid_note_check check;
		char *keep = NULL;

		assert_int_equal(parse(msg, strlen(msg), &note, &keep), CID_OK);
		assert_int_equal(cid_note_verify(&note, vs, 1, &check), CID_OK);
		assert_int_equal(check.time, W1_TIME);
		free(keep);
		cid_note_verifier_free(v);
	}
	/* a cosignature needs a time, up to 2^63 - 1 */
	assert_int_equal(cid_note_sign_line(s, S(CP_TEXT), 0, &b), CID_ERR_INVALID);
	assert_int_equal(cid_note_sign_line(s, S(CP_TEXT), (uint64_t)INT64_MAX + 1, &b),
			 CID_ERR_INVALID);
	cid_buf_free(&b);
	cid_wipe(seed, sizeof(seed));
	free(vkey);
	cid_note_signer_free(s);
}

/* A timestamp over 2^63 - 1 is refused even under a valid Ed25519 signature. */
static void test_cosignature_time_over_int64_is_refused(void **state)
{
	uint8_t seed[32], raw[4 + 8 + 64];
	const char msg_head[] = "cosignature/v1\ntime 9223372036854775808\n";
	char signed_msg[256], b64[128], note_text[512];
	EVP_PKEY *k;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t siglen = 64;
	uint32_t id;

	(void)state;
	unhex(RFC8032_SEED, seed, 32);
	k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
	assert_non_null(k);
	snprintf(signed_msg, sizeof(signed_msg), "%s%s", msg_head, CP_TEXT);
	assert_int_equal(EVP_DigestSignInit(ctx, NULL, NULL, NULL, k), 1);
	assert_int_equal(
	    EVP_DigestSign(ctx, raw + 12, &siglen, (const uint8_t *)signed_msg, strlen(signed_msg)),
	    1);
	id = 0xeb762cc2;
	for (int i = 0; i < 4; i++)
		raw[i] = (uint8_t)(id >> (24 - 8 * i));
	memset(raw + 4, 0, 8);
	raw[4] = 0x80; /* 2^63 */
	assert_int_equal(cid_b64_encode(raw, sizeof(raw), b64, sizeof(b64)), CID_OK);
	snprintf(note_text, sizeof(note_text), "%s\n\xE2\x80\x94 witness.example/w1 %s\n", CP_TEXT,
		 b64);
	assert_int_equal(open_with(note_text, W1_VKEY), CID_ERR_DENIED);
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(k);
}

static void test_unknown_keys_are_ignored_known_ones_must_verify(void **state)
{
	char msg[2048];
	/* a line of another key; of the same name with another id; of another name with our id */
	const char *other = "\xE2\x80\x94 other.example/k AAAAAAAAAAAAAAAA\n";
	const char *same_name = "\xE2\x80\x94 PeterNeumann AAAAAAAAAAAAAAAA\n";
	const char *same_id = "\xE2\x80\x94 Peter x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGU"
			      "gYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
	/* our key and id over a corrupted signature */
	const char *corrupt = "\xE2\x80\x94 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZ"
			      "InNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnBM=\n";

	(void)state;
	snprintf(msg, sizeof(msg), "%s\n%s%s%s%s", GO_TEXT, other, same_name, same_id, GO_SIG);
	assert_int_equal(open_with(msg, GO_VKEY), CID_OK);
	snprintf(msg, sizeof(msg), "%s\n%s%s", GO_TEXT, other, same_id);
	assert_int_equal(open_with(msg, GO_VKEY), CID_ERR_DENIED); /* no known key signed */
	snprintf(msg, sizeof(msg), "%s\n%s%s", GO_TEXT, GO_SIG, corrupt);
	assert_int_equal(open_with(msg, GO_VKEY), CID_ERR_DENIED); /* every known line counts */
	snprintf(msg, sizeof(msg), "%s\n%s", GO_TEXT, corrupt);
	assert_int_equal(open_with(msg, GO_VKEY), CID_ERR_DENIED);
	/* another text under the reference signature */
	snprintf(msg, sizeof(msg), "%s!\n\n%s", GO_TEXT, GO_SIG);
	assert_int_equal(open_with(msg, GO_VKEY), CID_ERR_DENIED);
	/* a valid note of a key we were not given */
	assert_int_equal(open_with(GO_NOTE, SPEC_VKEY), CID_ERR_DENIED);
	/* the Ed25519 key as a cosigner (another type, so another id): unknown */
	assert_int_equal(open_with(GO_NOTE, W1_VKEY), CID_ERR_DENIED);
}

static void test_checks_report_each_verifier(void **state)
{
	uint8_t seed[32];
	struct cid_note_signer *log = NULL, *w = NULL;
	struct cid_note_verifier *vlog = NULL, *vw = NULL, *vspec = verifier(SPEC_VKEY);
	const struct cid_note_signer *ss[2];
	const struct cid_note_verifier *vs[3];
	struct cid_note_check checks[3];
	struct cid_note note;
	char *msg = NULL, *vk = NULL;

	(void)state;
	unhex(RFC8032_SEED, seed, 32);
	assert_int_equal(
	    cid_note_signer_new(S("example.com/behind-the-sofa"), CID_NOTE_ED25519, NULL, &log),
	    CID_OK);
	assert_int_equal(cid_note_signer_new(S("witness.example/w1"), CID_NOTE_COSIG, seed, &w),
			 CID_OK);
	assert_int_equal(cid_note_signer_vkey(log, &vk), CID_OK);
	vlog = verifier(vk);
	free(vk);
	vw = verifier(W1_VKEY);
	ss[0] = log;
	ss[1] = w;
	assert_int_equal(cid_note_sign(S(CP_TEXT), ss, 2, 1700000000, &msg, NULL), CID_OK);
	assert_int_equal(cid_note_parse(str_of(msg), &note), CID_OK);
	assert_int_equal(note.n_sigs, 2);
	vs[0] = vspec;
	vs[1] = vw;
	vs[2] = vlog;
	assert_int_equal(cid_note_verify(&note, vs, 3, checks), CID_OK);
	assert_false(checks[0].verified);
	assert_true(checks[1].verified);
	assert_int_equal(checks[1].time, 1700000000);
	assert_true(checks[2].verified);
	assert_int_equal(checks[2].time, 0);
	/* nothing to check against: refused */
	assert_int_equal(cid_note_verify(&note, vs, 0, NULL), CID_ERR_DENIED);
	free(msg);
	cid_note_signer_free(log);
	cid_note_signer_free(w);
	cid_note_verifier_free(vlog);
	cid_note_verifier_free(vw);
	cid_note_verifier_free(vspec);
}

struct bad_note {
	const char *msg;
	enum cid_err rc;
	const char *why;
};

static const struct bad_note bad_notes[] = {
    /* golang.org/x/mod/sumdb/note's malformed messages */
    {GO_TEXT, CID_ERR_INVALID, "no signatures"},
    {GO_TEXT "\n", CID_ERR_INVALID, "a blank line, no signatures"},
    {GO_TEXT
     "\n"
     "\xE2\x80\x94 PeterNeumann x08go/"
     "ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=",
     CID_ERR_INVALID, "a signature line without its newline"},
    {"\x01" GO_NOTE, CID_ERR_UTF8, "a control character"},
    {"\xff" GO_NOTE, CID_ERR_UTF8, "not UTF-8"},
    {GO_TEXT
     "\n"
     "\xE2\x80\x94 Bad Name x08go/"
     "ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
     CID_ERR_INVALID, "a space in a key name"},
    {GO_NOTE "Unexpected line.\n", CID_ERR_INVALID, "a line after the signatures"},
    /* and more */
    {"", CID_ERR_INVALID, "empty"},
    {"\n", CID_ERR_INVALID, "a newline"},
    {"text\n\n\n", CID_ERR_INVALID, "blank lines only"},
    {"te\txt\n\n" GO_SIG, CID_ERR_UTF8, "a tab"},
    {"text\r\n\n" GO_SIG, CID_ERR_UTF8, "a carriage return"},
    {"text\n\n- PeterNeumann x08go/"
     "ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
     CID_ERR_INVALID, "a hyphen, not an em dash"},
    {"text\n\n\xE2\x80\x94  x08go/"
     "ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
     CID_ERR_INVALID, "an empty key name"},
    {"text\n\n\xE2\x80\x94 Peter+Neumann AAAAAAAA\n", CID_ERR_INVALID, "a plus in a key name"},
    {"text\n\n\xE2\x80\x94 Peter\xE3\x80\x80Neumann AAAAAAAA\n", CID_ERR_INVALID,
     "an ideographic space in a key name"},
    {"text\n\n\xE2\x80\x94 Peter\xC2\xA0Neumann AAAAAAAA\n", CID_ERR_INVALID,
     "a no-break space in a key name"},
    {"text\n\n\xE2\x80\x94 PeterNeumann\n", CID_ERR_INVALID, "no signature after the name"},
    {"text\n\n\xE2\x80\x94 PeterNeumann AAAA\n", CID_ERR_INVALID, "a signature of 3 bytes"},
    {"text\n\n\xE2\x80\x94 PeterNeumann AAAAAAB=\n", CID_ERR_INVALID, "non-canonical base64"},
    {"text\n\n\xE2\x80\x94 PeterNeumann AAAAAAAAAA\n", CID_ERR_INVALID, "base64 unpadded"},
    {"text\n\n\xE2\x80\x94 PeterNeumann AAAA AAAA\n", CID_ERR_INVALID, "a space in base64"},
    {"text\n\n\xE2\x80\x94 PeterNeumann AAAAAAAA \n", CID_ERR_INVALID, "a trailing space"},
    {"text\n\n\xE2\x80\x94 PeterNeumann AAAAAAAA\n\n", CID_ERR_INVALID, "ends in a blank line"},
};

static void test_malformed_notes_are_refused(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_notes) / sizeof(bad_notes[0]); i++) {
		struct cid_note note;
		char *keep = NULL;
		enum cid_err rc = parse(bad_notes[i].msg, strlen(bad_notes[i].msg), &note, &keep);

		if (rc != bad_notes[i].rc)
			fail_msg("%s: rc %d, expected %d", bad_notes[i].why, rc, bad_notes[i].rc);
		free(keep);
	}
}

static void test_note_size_and_signature_count_are_bounded(void **state)
{
	struct cid_buf b;
	struct cid_note note;
	char *keep = NULL;

	(void)state;
	/* CID_NOTE_MAX_SIGS lines are fine, one more is refused */
	cid_buf_init(&b, CID_NOTE_MAX_SIZE + 1024);
	cid_buf_puts(&b, GO_TEXT "\n");
	for (int i = 0; i < CID_NOTE_MAX_SIGS; i++)
		cid_buf_puts(&b, GO_SIG);
	assert_int_equal(parse(b.data, b.len, &note, &keep), CID_OK);
	assert_int_equal(note.n_sigs, CID_NOTE_MAX_SIGS);
	free(keep);
	cid_buf_puts(&b, GO_SIG);
	assert_int_equal(parse(b.data, b.len, &note, &keep), CID_ERR_TOOBIG);
	free(keep);
	cid_buf_free(&b);
	/* a note over CID_NOTE_MAX_SIZE */
	cid_buf_init(&b, CID_NOTE_MAX_SIZE + 1024);
	while (b.len < CID_NOTE_MAX_SIZE)
		cid_buf_puts(&b, "long text line\n");
	cid_buf_puts(&b, "\n" GO_SIG);
	assert_int_equal(parse(b.data, b.len, &note, &keep), CID_ERR_TOOBIG);
	free(keep);
	cid_buf_free(&b);
}

struct bad_key {
	const char *key;
	enum cid_err rc;
	const char *why;
};

static const struct bad_key bad_vkeys[] = {
    /* golang.org/x/mod/sumdb/note's bad verifier keys */
    {"PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==", CID_ERR_INVALID,
     "wrong key length"},
    {"PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", CID_ERR_INVALID,
     "unknown algorithm"},
    /* and more */
    {"PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", CID_ERR_INVALID,
     "a key id that is not the key's"},
    {"PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", CID_ERR_INVALID,
     "an uppercase key id"},
    {"PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", CID_ERR_INVALID,
     "a short key id"},
    {"PeterNeumann+c74f20a3ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", CID_ERR_INVALID,
     "no second plus"},
    {"PeterNeumann", CID_ERR_INVALID, "a name only"},
    {"+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", CID_ERR_INVALID, "no name"},
    {"Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", CID_ERR_INVALID,
     "a space in the name"},
    {"PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW ", CID_ERR_INVALID,
     "a trailing space"},
    {"PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW\n", CID_ERR_INVALID,
     "a trailing newline"},
    {"PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq_LDE4izWy10TW", CID_ERR_INVALID,
     "base64url"},
    {"PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
     CID_ERR_INVALID, "a private key"},
};

static void test_malformed_verifier_keys_are_refused(void **state)
{
	char big[CID_NOTE_MAX_NAME + 200];

	(void)state;
	for (size_t i = 0; i < sizeof(bad_vkeys) / sizeof(bad_vkeys[0]); i++) {
		struct cid_note_verifier *v = NULL;
		size_t n = strlen(bad_vkeys[i].key);
		char *keep = malloc(n);
		enum cid_err rc;

		assert_non_null(keep);
		memcpy(keep, bad_vkeys[i].key, n);
		rc = cid_note_verifier_parse((struct cid_str){keep, n}, &v);
		if (rc != bad_vkeys[i].rc)
			fail_msg("%s: rc %d, expected %d", bad_vkeys[i].why, rc, bad_vkeys[i].rc);
		assert_null(v);
		free(keep);
	}
	memset(big, 'a', sizeof(big));
	struct cid_note_verifier *v = NULL;
	assert_int_equal(cid_note_verifier_parse((struct cid_str){big, sizeof(big)}, &v),
			 CID_ERR_TOOBIG);
}

static void test_signer_keys(void **state)
{
	struct cid_note_signer *s = NULL, *t = NULL;
	char *skey = NULL, *vkey = NULL;
	uint8_t seed[32], seed2[32];

	(void)state;
	/* a fresh key round-trips through its text, and its vkey verifies what it signs */
	assert_int_equal(cid_note_signer_new(S("log.example/a"), CID_NOTE_ED25519, NULL, &s),
			 CID_OK);
	assert_int_equal(cid_note_signer_format(s, &skey), CID_OK);
	assert_int_equal(cid_note_signer_parse(str_of(skey), &t), CID_OK);
	assert_int_equal(cid_note_signer_seed(s, seed), CID_OK);
	assert_int_equal(cid_note_signer_seed(t, seed2), CID_OK);
	assert_memory_equal(seed, seed2, 32);
	assert_int_equal(cid_note_signer_id(s), cid_note_signer_id(t));
	assert_int_equal(cid_note_signer_type(t), CID_NOTE_ED25519);
	cid_wipe(skey, strlen(skey));
	free(skey);
	cid_note_signer_free(t);
	t = NULL;
	/* two fresh keys differ */
	assert_int_equal(cid_note_signer_new(S("log.example/a"), CID_NOTE_ED25519, NULL, &t),
			 CID_OK);
	assert_int_not_equal(cid_note_signer_id(s), cid_note_signer_id(t));
	cid_note_signer_free(t);
	t = NULL;
	/* bad names and types */
	assert_int_equal(cid_note_signer_new(S(""), CID_NOTE_ED25519, NULL, &t), CID_ERR_INVALID);
	assert_int_equal(cid_note_signer_new(S("a b"), CID_NOTE_ED25519, NULL, &t),
			 CID_ERR_INVALID);
	assert_int_equal(cid_note_signer_new(S("a+b"), CID_NOTE_ED25519, NULL, &t),
			 CID_ERR_INVALID);
	assert_int_equal(cid_note_signer_new(S("a\nb"), CID_NOTE_ED25519, NULL, &t),
			 CID_ERR_INVALID);
	assert_int_equal(cid_note_signer_new(S("a"), 0x02, NULL, &t), CID_ERR_INVALID);
	assert_null(t);
	/* skeys: a wrong id, the wrong prefix, a vkey */
	assert_int_equal(
	    cid_note_signer_parse(
		S("PRIVATE+KEY+PeterNeumann+c74f20a4+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"),
		&t),
	    CID_ERR_INVALID);
	assert_int_equal(
	    cid_note_signer_parse(
		S("PRIVATE+KEY+PeterNeumann+c74f20a3+ZYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"),
		&t),
	    CID_ERR_INVALID);
	assert_int_equal(cid_note_signer_parse(S(GO_VKEY), &t), CID_ERR_INVALID);
	assert_int_equal(cid_note_signer_parse(S("PRIVATE+KEY+"), &t), CID_ERR_INVALID);
	assert_null(t);
	/* signing needs a note text */
	{
		struct cid_buf b;
		const struct cid_note_signer *ss[] = {s};
		char *out = NULL;

		cid_buf_init(&b, 1024);
		assert_int_equal(cid_note_sign_line(s, S("no newline"), 0, &b), CID_ERR_INVALID);
		assert_int_equal(cid_note_sign_line(s, S(""), 0, &b), CID_ERR_INVALID);
		assert_int_equal(cid_note_sign_line(s, S("a\tb\n"), 0, &b), CID_ERR_INVALID);
		assert_int_equal(cid_note_sign(S("text\n"), ss, 0, 0, &out, NULL), CID_ERR_INVALID);
		assert_null(out);
		cid_buf_free(&b);
	}
	assert_int_equal(cid_note_signer_vkey(s, &vkey), CID_OK);
	free(vkey);
	cid_wipe(seed, 32);
	cid_wipe(seed2, 32);
	cid_note_signer_free(s);
}

struct cp_row {
	const char *text;
	enum cid_err rc;
	const char *why;
};

#define ROOT "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="

static const struct cp_row cp_rows[] = {
    {"example.com/log\n20852163\n" ROOT "\n", CID_OK, "three lines"},
    {"example.com/log\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n", CID_OK, "empty"},
    {"example.com/log\n9223372036854775807\n" ROOT "\n", CID_OK, "the largest size"},
    {"a b c\n1\n" ROOT "\nextension one\nextension two\n", CID_OK, "extensions, spaces"},
    {"example.com/log\n20852163\n" ROOT, CID_ERR_INVALID, "no final newline"},
    {"example.com/log\n20852163\n", CID_ERR_INVALID, "two lines"},
    {"\n20852163\n" ROOT "\n", CID_ERR_INVALID, "an empty origin"},
    {"example.com/log\n020852163\n" ROOT "\n", CID_ERR_INVALID, "a leading zero"},
    {"example.com/log\n00\n" ROOT "\n", CID_ERR_INVALID, "zero as 00"},
    {"example.com/log\n-1\n" ROOT "\n", CID_ERR_INVALID, "a sign"},
    {"example.com/log\n+1\n" ROOT "\n", CID_ERR_INVALID, "a plus sign"},
    {"example.com/log\n\n" ROOT "\n", CID_ERR_INVALID, "an empty size"},
    {"example.com/log\n9223372036854775808\n" ROOT "\n", CID_ERR_INVALID, "2^63"},
    {"example.com/log\n1 \n" ROOT "\n", CID_ERR_INVALID, "a space after the size"},
    {"example.com/log\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n", CID_ERR_INVALID,
     "unpadded root"},
    {"example.com/log\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n", CID_ERR_INVALID,
     "non-canonical root"},
    {"example.com/log\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=AAAA\n", CID_ERR_INVALID,
     "a root of 35 bytes"},
    {"example.com/log\n1\nAAAA\n", CID_ERR_INVALID, "a root of 3 bytes"},
    {"example.com/log\n1\n\n", CID_ERR_INVALID, "an empty root"},
    {"example.com/log\n1\n" ROOT "\n\n", CID_ERR_INVALID, "an empty extension line"},
    {"example.com/log\n1\n" ROOT "\next\n\nmore\n", CID_ERR_INVALID, "an empty line inside"},
    {"exa\tmple.com/log\n1\n" ROOT "\n", CID_ERR_UTF8, "a tab"},
    {"example.com/\xc3log\n1\n" ROOT "\n", CID_ERR_UTF8, "bad UTF-8"},
};

static void test_checkpoint_parse_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cp_rows) / sizeof(cp_rows[0]); i++) {
		struct cid_checkpoint cp;
		size_t n = strlen(cp_rows[i].text);
		char *keep = malloc(n);
		enum cid_err rc;

		assert_non_null(keep);
		memcpy(keep, cp_rows[i].text, n);
		rc = cid_checkpoint_parse((struct cid_str){keep, n}, &cp);
		if (rc != cp_rows[i].rc)
			fail_msg("%s: rc %d, expected %d", cp_rows[i].why, rc, cp_rows[i].rc);
		free(keep);
	}
}

static void test_checkpoint_format_round_trip(void **state)
{
	struct cid_buf b;
	struct cid_checkpoint cp;
	uint8_t root[32];
	char origin[CID_NOTE_MAX_NAME + 2];

	(void)state;
	for (int i = 0; i < 32; i++)
		root[i] = (uint8_t)(i * 9);
	cid_buf_init(&b, 4096);
	assert_int_equal(cid_checkpoint_format(S("example.com/log"), 20852163, root, S(""), &b),
			 CID_OK);
	assert_int_equal(cid_checkpoint_parse((struct cid_str){b.data, b.len}, &cp), CID_OK);
	assert_int_equal(cp.size, 20852163);
	assert_memory_equal(cp.root, root, 32);
	assert_int_equal(cp.origin.len, strlen("example.com/log"));
	assert_memory_equal(cp.origin.ptr, "example.com/log", cp.origin.len);
	assert_int_equal(cp.ext.len, 0);
	cid_buf_free(&b);
	/* with extension lines */
	cid_buf_init(&b, 4096);
	assert_int_equal(cid_checkpoint_format(S("o"), 0, root, S("x\ny z\n"), &b), CID_OK);
	assert_int_equal(cid_checkpoint_parse((struct cid_str){b.data, b.len}, &cp), CID_OK);
	assert_int_equal(cp.ext.len, 6);
	assert_memory_equal(cp.ext.ptr, "x\ny z\n", 6);
	/* what the parser would refuse is not formatted */
	assert_int_equal(cid_checkpoint_format(S(""), 1, root, S(""), &b), CID_ERR_INVALID);
	assert_int_equal(cid_checkpoint_format(S("a\nb"), 1, root, S(""), &b), CID_ERR_INVALID);
	assert_int_equal(cid_checkpoint_format(S("o"), (uint64_t)INT64_MAX + 1, root, S(""), &b),
			 CID_ERR_INVALID);
	assert_int_equal(cid_checkpoint_format(S("o"), 1, root, S("x"), &b), CID_ERR_INVALID);
	assert_int_equal(cid_checkpoint_format(S("o"), 1, root, S("\n"), &b), CID_ERR_INVALID);
	assert_int_equal(cid_checkpoint_format(S("o"), 1, root, S("x\n\ny\n"), &b),
			 CID_ERR_INVALID);
	memset(origin, 'o', sizeof(origin));
	assert_int_equal(cid_checkpoint_format((struct cid_str){origin, CID_NOTE_MAX_NAME + 1}, 1,
					       root, S(""), &b),
			 CID_ERR_INVALID);
	cid_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_spec_example_note_verifies),
	    cmocka_unit_test(test_signature_line_written_again_is_the_same),
	    cmocka_unit_test(test_go_reference_key_signs_the_reference_note),
	    cmocka_unit_test(test_transparency_dev_cosignature_verifies),
	    cmocka_unit_test(test_cosignature_known_answer),
	    cmocka_unit_test(test_cosignature_time_over_int64_is_refused),
	    cmocka_unit_test(test_unknown_keys_are_ignored_known_ones_must_verify),
	    cmocka_unit_test(test_checks_report_each_verifier),
	    cmocka_unit_test(test_malformed_notes_are_refused),
	    cmocka_unit_test(test_note_size_and_signature_count_are_bounded),
	    cmocka_unit_test(test_malformed_verifier_keys_are_refused),
	    cmocka_unit_test(test_signer_keys),
	    cmocka_unit_test(test_checkpoint_parse_table),
	    cmocka_unit_test(test_checkpoint_format_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
