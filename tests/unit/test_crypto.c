/*
 * crypto: token and UUID shapes, SHA-256 against FIPS 180-2 vectors, the
 * constant-time comparisons, and argon2id hashing with cheap parameters,
 * including a known-answer vector computed by an independent implementation;
 * the gate bounding the hashes at once, through each password function.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <argon2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "bounds.h"
#include "crypto.h"
#include "str.h"

/* cmocka.h needs setjmp.h, stdarg.h and stddef.h before it */
#include <cmocka.h>

#define S(lit) lit, sizeof(lit) - 1

/*
 * Cheap argon2id parameters (t = 1, 256 KiB, one lane) so the tests stay fast.
 * Kept here rather than taken from tests/unit/support so this test does not
 * need the store.
 */
static const struct cid_argon2_params cheap = {1, 256, 1, NULL};

static bool is_b64url_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

static void test_random_token_is_43_base64url_chars(void **state)
{
	char a[CID_TOKEN_CHARS + 1], b[CID_TOKEN_CHARS + 1];
	unsigned char raw[CID_TOKEN_BYTES];
	size_t rawlen = 0;

	(void)state;
	assert_int_equal(cid_random_token(a), CID_OK);
	assert_int_equal(cid_random_token(b), CID_OK);
	assert_int_equal(strlen(a), 43);
	assert_int_equal(CID_TOKEN_CHARS, 43);
	for (size_t i = 0; i < CID_TOKEN_CHARS; i++)
		assert_true(is_b64url_char(a[i]));
	/* it decodes back to CID_TOKEN_BYTES bytes (so it is canonical base64url) */
	assert_int_equal(cid_b64url_decode(a, CID_TOKEN_CHARS, raw, sizeof(raw), &rawlen), CID_OK);
	assert_int_equal(rawlen, CID_TOKEN_BYTES);
	assert_string_not_equal(a, b);
}

static void test_random_token_uses_whole_alphabet(void **state)
{
	bool seen[256] = {false};
	size_t distinct = 0;

	(void)state;
	/* 200 tokens x 42 full chars: each of the 64 letters is all but sure to appear */
	for (int k = 0; k < 200; k++) {
		char t[CID_TOKEN_CHARS + 1];
		assert_int_equal(cid_random_token(t), CID_OK);
		for (size_t i = 0; i < CID_TOKEN_CHARS; i++) {
			assert_true(is_b64url_char(t[i]));
			seen[(unsigned char)t[i]] = true;
		}
	}
	for (size_t c = 0; c < 256; c++)
		distinct += seen[c];
	assert_int_equal(distinct, 64);
}

static void test_random_uuid_is_v4(void **state)
{
	char a[CID_ID_CHARS + 1], b[CID_ID_CHARS + 1];

	(void)state;
	for (int k = 0; k < 50; k++) {
		assert_int_equal(cid_random_uuid(a), CID_OK);
		assert_int_equal(strlen(a), 36);
		for (size_t i = 0; i < 36; i++) {
			if (i == 8 || i == 13 || i == 18 || i == 23) {
				assert_int_equal(a[i], '-');
				continue;
			}
			assert_non_null(strchr("0123456789abcdef", a[i]));
		}
		assert_int_equal(a[14], '4');		/* version 4 */
		assert_non_null(strchr("89ab", a[19])); /* RFC 4122 variant */
	}
	assert_int_equal(cid_random_uuid(b), CID_OK);
	assert_string_not_equal(a, b);
}

/* A version 7 UUID: the time first, so ids made later sort after; the rest random. */
static void test_time_uuid_is_v7_and_sorts_by_time(void **state)
{
	/* 2026-12-06T13:00:00.123Z, RFC 9562's layout: 48 bits of ms, then 7xxx */
	const uint64_t ms = 1796562000123ULL;
	char a[CID_ID_CHARS + 1], b[CID_ID_CHARS + 1], c[CID_ID_CHARS + 1];

	(void)state;
	assert_int_equal(cid_time_uuid(ms, a), CID_OK);
	assert_true(cid_uuid_syntax_ok(a));
	assert_memory_equal(a, "01a24b70-98fb-7", 15);
	assert_non_null(strchr("89ab", a[19])); /* RFC 9562 variant */
	assert_int_equal(cid_time_uuid(ms, b), CID_OK);
	assert_string_not_equal(a, b); /* the same millisecond: told apart by the random bits */
	assert_int_equal(cid_time_uuid(ms + 1, c), CID_OK);
	assert_true(strcmp(c, a) > 0 && strcmp(c, b) > 0);
	assert_int_equal(cid_time_uuid(0, c), CID_OK);
	assert_memory_equal(c, "00000000-0000-7", 15);
}

static void test_token_and_uuid_syntax_table(void **state)
{
	static const struct {
		const char *s;
		bool token, uuid;
	} rows[] = {
	    {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop-", true, false},
	    {"0123456789_-abcdefghijklmnopqrstuvwxyzABCDEF", false, false}, /* 44 chars */
	    {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmno+", false, false},   /* 42, '+' */
	    {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn=p", false, false},
	    {"0a1b2c3d-0000-4000-8000-000000000001", false, true},
	    {"0A1B2C3D-0000-4000-8000-000000000001", false, false}, /* uppercase */
	    {"0a1b2c3d00000-4000-8000-000000000001", false, false}, /* dash misplaced */
	    {"0a1b2c3d-0000-4000-8000-00000000000g", false, false},
	    {"0a1b2c3d-0000-4000-8000-0000000000011", false, false},
	    {"", false, false},
	    {NULL, false, false},
	};

	char token[CID_TOKEN_CHARS + 1];
	char uuid[CID_ID_CHARS + 1];

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (cid_token_syntax_ok(rows[i].s) != rows[i].token ||
		    cid_uuid_syntax_ok(rows[i].s) != rows[i].uuid)
			fail_msg("row %zu: %s", i, rows[i].s ? rows[i].s : "(null)");
	}
	/* what the generators write always passes */
	assert_int_equal(cid_random_token(token), CID_OK);
	assert_true(cid_token_syntax_ok(token));
	assert_int_equal(cid_random_uuid(uuid), CID_OK);
	assert_true(cid_uuid_syntax_ok(uuid));
}

static void test_random_bytes_sizes(void **state)
{
	unsigned char big[65536];
	size_t zero = 0;

	(void)state;
	assert_int_equal(cid_random_bytes(big, 0), CID_OK);
	memset(big, 0, sizeof(big));
	assert_int_equal(cid_random_bytes(big, sizeof(big)), CID_OK);
	for (size_t i = 0; i < sizeof(big); i++)
		zero += big[i] == 0;
	/* about 256 zero bytes expected; an unfilled buffer would have 65536 */
	assert_true(zero < 1024);
}

struct sha_row {
	const char *in;
	size_t len;
	const char *hex;
};

/* FIPS 180-2 appendix B and the empty string */
static const struct sha_row sha_rows[] = {
    {S(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    {S("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
    {S("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
};

static void test_secret_hash_sha256_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(sha_rows) / sizeof(sha_rows[0]); i++) {
		const struct sha_row *r = &sha_rows[i];
		char out[CID_HASH_HEX + 1];
		char hex[65];
		uint8_t h[32];

		memset(out, 'Z', sizeof(out));
		cid_secret_hash(r->in, r->len, out);
		assert_string_equal(out, r->hex);
		cid_sha256(r->in, r->len, h);
		cid_hex(h, sizeof(h), hex);
		assert_string_equal(hex, r->hex);
	}
}

static void test_hex(void **state)
{
	static const uint8_t in[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
	char out[2 * sizeof(in) + 1];
	char empty[1] = {'Z'};

	(void)state;
	cid_hex(in, sizeof(in), out);
	assert_string_equal(out, "00017f80abff");
	cid_hex(in, 0, empty);
	assert_string_equal(empty, "");
}

struct streq_row {
	const char *a;
	size_t alen;
	const char *b;
	size_t blen;
	bool equal;
};

static const struct streq_row streq_rows[] = {
    {S("abc"), S("abc"), true},	   {S(""), S(""), true},
    {S("abc"), S("abd"), false},   {S("abc"), S("Abc"), false},
    {S("abc"), S("ab"), false}, /* prefix */
    {S("ab"), S("abc"), false},	   {S(""), S("a"), false},
    {S("a\0b"), S("a\0b"), true}, /* bytes, not C strings */
    {S("a\0b"), S("a\0c"), false}, {S("a\0b"), S("a"), false},
};

static void test_ct_streq_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(streq_rows) / sizeof(streq_rows[0]); i++) {
		const struct streq_row *r = &streq_rows[i];
		if (cid_ct_streq(r->a, r->alen, r->b, r->blen) != r->equal)
			fail_msg("streq row %zu: expected %s", i, r->equal ? "equal" : "different");
	}
	assert_true(cid_ct_equal("same", "same", 4));
	assert_false(cid_ct_equal("same", "sane", 4));
	assert_true(cid_ct_equal("xa", "ya", 0));
}

static void test_wipe(void **state)
{
	unsigned char secret[32];

	(void)state;
	memset(secret, 0xA5, sizeof(secret));
	cid_wipe(secret, sizeof(secret));
	for (size_t i = 0; i < sizeof(secret); i++)
		assert_int_equal(secret[i], 0);
	cid_wipe(NULL, 10);
	cid_wipe(secret, 0);
}

static void test_password_hash_verify_round_trip(void **state)
{
	char h1[CID_PASSWORD_HASH_MAX], h2[CID_PASSWORD_HASH_MAX];

	(void)state;
	assert_int_equal(cid_password_hash(&cheap, S("correct horse"), h1), CID_OK);
	assert_memory_equal(h1, "$argon2id$v=19$m=256,t=1,p=1$", 29);
	assert_int_equal(cid_password_verify(NULL, h1, S("correct horse")), CID_OK);
	/* a fresh salt each time: the same password never gives the same string */
	assert_int_equal(cid_password_hash(&cheap, S("correct horse"), h2), CID_OK);
	assert_string_not_equal(h1, h2);
	assert_int_equal(cid_password_verify(NULL, h2, S("correct horse")), CID_OK);
}

static void test_password_wrong_is_denied(void **state)
{
	static const struct {
		const char *pw;
		size_t len;
	} wrong[] = {
	    {S("correct hors")},   /* prefix */
	    {S("correct horse ")}, /* one byte more */
	    {S("Correct horse")},     {S("correct horsf")}, {S("")},
	    {"correct horse\0x", 15}, /* bytes after a NUL count */
	};

	char h[CID_PASSWORD_HASH_MAX];

	(void)state;
	assert_int_equal(cid_password_hash(&cheap, S("correct horse"), h), CID_OK);
	for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++)
		if (cid_password_verify(NULL, h, wrong[i].pw, wrong[i].len) != CID_ERR_DENIED)
			fail_msg("wrong password row %zu was not denied", i);
}

/*
 * Known answers from libar2's test suite (an implementation independent of
 * libargon2): verify must read m, t and p from the string, not assume ours.
 */
static void test_password_verify_known_answers(void **state)
{
	static const char *const ok[] = {
	    "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
	    "$argon2id$v=19$m=256,t=2,p=2$c29tZXNhbHQ$bQk8UB/VmZZF4Oo79iDXuL5/0ttZwg2f/5U52iv1cDc",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(cid_password_verify(NULL, ok[i], S("password")), CID_OK);
		assert_int_equal(cid_password_verify(NULL, ok[i], S("passwore")), CID_ERR_DENIED);
	}
}

struct hash_row {
	size_t pwlen;
	struct cid_argon2_params params;
	enum cid_err rc;
};

static const struct hash_row hash_rows[] = {
    {CID_MIN_PASSWORD - 1, {1, 256, 1, NULL}, CID_ERR_INVALID}, /* too short */
    {0, {1, 256, 1, NULL}, CID_ERR_INVALID},
    {CID_MIN_PASSWORD, {1, 256, 1, NULL}, CID_OK},
    {CID_MAX_PASSWORD, {1, 256, 1, NULL}, CID_OK},
    {CID_MAX_PASSWORD + 1, {1, 256, 1, NULL}, CID_ERR_INVALID}, /* too long */
    {16, {0, 256, 1, NULL}, CID_ERR_INVALID},			/* t below argon2's minimum */
    {16, {65, 256, 1, NULL}, CID_ERR_INVALID},
    {16, {1, 256, 0, NULL}, CID_ERR_INVALID}, /* no lanes */
    {16, {1, 256, 65, NULL}, CID_ERR_INVALID},
    {16, {1, 7, 1, NULL}, CID_ERR_INVALID}, /* m below 8 KiB per lane */
    {16, {1, 15, 2, NULL}, CID_ERR_INVALID},
    {16, {1, 8, 1, NULL}, CID_OK},
    {16, {1, 4u * 1024 * 1024 + 1, 1, NULL}, CID_ERR_INVALID}, /* over 4 GiB */
};

static void test_password_hash_bounds_table(void **state)
{
	char *pw = malloc(CID_MAX_PASSWORD + 1);

	(void)state;
	assert_non_null(pw);
	memset(pw, 'p', CID_MAX_PASSWORD + 1);
	for (size_t i = 0; i < sizeof(hash_rows) / sizeof(hash_rows[0]); i++) {
		const struct hash_row *r = &hash_rows[i];
		char h[CID_PASSWORD_HASH_MAX];
		enum cid_err rc = cid_password_hash(&r->params, pw, r->pwlen, h);

		if (rc != r->rc)
			fail_msg("hash row %zu: rc %d, expected %d", i, rc, r->rc);
		if (rc == CID_OK)
			assert_int_equal(cid_password_verify(NULL, h, pw, r->pwlen), CID_OK);
	}
	free(pw);
}

static void test_password_verify_rejects_non_argon2id(void **state)
{
	static const char *const bad[] = {
	    "",
	    "plaintext-password",
	    "$argon2i$v=19$m=256,t=2,p=1$c29tZXNhbHQ$iekCn0Y3spW+sCcFanM2xBT63UP2sghkUoHLIUpWRS8",
	    "$argon2d$v=19$m=256,t=2,p=1$c29tZXNhbHQ$iekCn0Y3spW+sCcFanM2xBT63UP2sghkUoHLIUpWRS8",
	    "$2b$12$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234",
	    "$argon2id",
	    "$argon2id$",
	    "$argon2id$garbage",
	    "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$", /* no hash */
	    "$argon2id$v=19$m=256,t=0,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
	};
	char *long_pw = malloc(CID_MAX_PASSWORD + 1);

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (cid_password_verify(NULL, bad[i], S("password")) != CID_ERR_INVALID)
			fail_msg("bad hash row %zu was not INVALID", i);
	/* a password over the maximum is refused before any hashing */
	assert_non_null(long_pw);
	memset(long_pw, 'p', CID_MAX_PASSWORD + 1);
	assert_int_equal(cid_password_verify(NULL,
					     "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$"
					     "nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
					     long_pw, CID_MAX_PASSWORD + 1),
			 CID_ERR_INVALID);
	free(long_pw);
}

/*
 * civicid reads and writes PHC strings itself (so that argon2id's memory is
 * its own, crypto.c): what libargon2 writes, for any salt and hash length it
 * allows, verifies; what civicid writes verifies with libargon2.
 */
static void test_password_strings_agree_with_libargon2(void **state)
{
	static const struct {
		size_t salt_len, hash_len;
		uint32_t t, m, p;
	} rows[] = {
	    {16, 32, 1, 256, 1}, {8, 4, 2, 64, 1},    {9, 5, 1, 128, 2},
	    {17, 33, 3, 96, 3},	 {64, 64, 1, 256, 1}, {10, 31, 2, 512, 4},
	};

	static const uint8_t salt[64] = "0123456789abcdef0123456789abcdef0123456789abcdef012345678";
	char enc[256]; /* 64-byte salt and hash: longer than civicid's own strings */

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		assert_int_equal(argon2id_hash_encoded(rows[i].t, rows[i].m, rows[i].p, "password",
						       8, salt, rows[i].salt_len, rows[i].hash_len,
						       enc, sizeof(enc)),
				 ARGON2_OK);
		if (cid_password_verify(NULL, enc, S("password")) != CID_OK ||
		    cid_password_verify(NULL, enc, S("passwore")) != CID_ERR_DENIED)
			fail_msg("row %zu: %s", i, enc);
	}
	assert_int_equal(cid_password_hash(&cheap, S("correct horse"), enc), CID_OK);
	assert_int_equal(argon2id_verify(enc, "correct horse", 13), ARGON2_OK);
	assert_int_equal(argon2id_verify(enc, "correct horsf", 13), ARGON2_VERIFY_MISMATCH);
}

/* Each part of a PHC string is read strictly: anything but civicid's spelling is refused. */
static void test_password_strings_are_read_strictly(void **state)
{
	/* the known answer of test_password_verify_known_answers, spelled otherwise */
	static const char *const bad[] = {
	    "$argon2id$v=16$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
	    "$argon2id$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
	    "$argon2id$v=19$m=+256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
	    "$argon2id$v=19$t=2,m=256,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
	    // NOLINTNEXTLINE(bugprone-suspicious-missing-comma): one string, over two lines
	    "$argon2id$v=19$m=256,t=2,p=1,x=1$c29tZXNhbHQ$nf65EOgLrQMR/"
	    "uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
	    "$argon2id$v=19$m=256,t=99,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
	    "$argon2id$v=19$m=256,t=2,p=0$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
	    "$argon2id$v=19$m=4,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
	    "$argon2id$v=19$m=99999999999,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/"
	    "uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
	    /* padding, a bit past the end, the URL alphabet, a salt under 8 bytes */
	    "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ=$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
	    "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHR$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
	    "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR_uIPnA4rEsF5h7TKyQwu9U1bMCHGi_4",
	    "$argon2id$v=19$m=256,t=2,p=1$c29tZQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
	    /* a hash of 1 byte, one of 65, a part too many */
	    "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf",
	    "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$"
	    "nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/"
	    "4AA",
	    "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4$",
	    "$argon2id$v=19$m=256,t=2,p=1$$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
	};

	(void)state;
	assert_int_equal(cid_password_verify(NULL,
					     "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$"
					     "nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
					     S("password")),
			 CID_OK);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (cid_password_verify(NULL, bad[i], S("password")) != CID_ERR_INVALID)
			fail_msg("row %zu was not INVALID: %s", i, bad[i]);
}

/* Which stored strings a login upgrades to cheap's: any made otherwise than cid_password_hash now
 * would. */
static void test_password_upgrade_table(void **state)
{
	static const struct {
		const char *what;
		size_t salt_len, hash_len;
		uint32_t t, m, p;
		const char *pw;
		bool upgraded;
	} rows[] = {
	    {"current", 16, 32, 1, 256, 1, "correct horse", false},
	    {"other t", 16, 32, 2, 256, 1, "correct horse", true},
	    {"smaller m", 16, 32, 1, 128, 1, "correct horse", true},
	    {"other p", 16, 32, 1, 256, 2, "correct horse", true},
	    {"shorter salt", 8, 32, 1, 256, 1, "correct horse", true},
	    {"shorter hash", 16, 16, 1, 256, 1, "correct horse", true},
	    /* a password under today's minimum cannot be hashed anew: kept */
	    {"short password", 16, 32, 2, 256, 1, "horse", false},
	};

	static const uint8_t salt[16] = "0123456789abcdef";
	char enc[CID_PASSWORD_HASH_MAX];
	char out[CID_PASSWORD_HASH_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		size_t n = strlen(rows[i].pw);

		assert_int_equal(argon2id_hash_encoded(rows[i].t, rows[i].m, rows[i].p, rows[i].pw,
						       n, salt, rows[i].salt_len, rows[i].hash_len,
						       enc, sizeof(enc)),
				 ARGON2_OK);
		memset(out, 'x', sizeof(out));
		if (cid_password_upgrade(&cheap, enc, rows[i].pw, n, out) != rows[i].upgraded)
			fail_msg("%s: %s", rows[i].what, enc);
		if (!rows[i].upgraded) {
			assert_string_equal(out, "");
			continue;
		}
		assert_memory_equal(out, "$argon2id$v=19$m=256,t=1,p=1$", 29);
		assert_int_equal(cid_password_verify(NULL, out, rows[i].pw, n), CID_OK);
		/* and the new string is current */
		assert_false(cid_password_upgrade(&cheap, out, rows[i].pw, n, enc));
	}
}

static void test_password_burn_always_denies(void **state)
{
	static const struct cid_argon2_params broken = {0, 0, 0, NULL};
	char *pw = malloc(CID_MAX_PASSWORD + 100);

	(void)state;
	assert_non_null(pw);
	memset(pw, 'b', CID_MAX_PASSWORD + 100);
	assert_int_equal(cid_password_burn(&cheap, S("anything")), CID_ERR_DENIED);
	assert_int_equal(cid_password_burn(&cheap, "", 0), CID_ERR_DENIED);
	/* over-long input is clamped, not read past CID_MAX_PASSWORD */
	assert_int_equal(cid_password_burn(&cheap, pw, CID_MAX_PASSWORD + 100), CID_ERR_DENIED);
	assert_int_equal(cid_password_burn(&broken, S("anything")), CID_ERR_DENIED);
	free(pw);
}

/* Sleeps a millisecond. */
static void nap(void)
{
	struct timespec ts = {0, 1000000};

	nanosleep(&ts, NULL);
}

/* Waits (at most 10 s) until n callers wait in g. */
static void wait_for_waiters(struct cid_hash_gate *g, unsigned n)
{
	for (int i = 0; i < 10000 && cid_hash_gate_waiting(g) < n; i++)
		nap();
	assert_int_equal(cid_hash_gate_waiting(g), n);
}

/* Waits (at most 10 s) until *flag is set. */
static void wait_for_flag(atomic_int *flag)
{
	for (int i = 0; i < 10000 && atomic_load(flag) == 0; i++)
		nap();
	assert_int_equal(atomic_load(flag), 1);
}

static void test_hash_gate_limit(void **state)
{
	struct cid_hash_gate *g = NULL;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);

	(void)state;
	assert_int_equal(cid_hash_gate_new(0, &g), CID_OK);
	assert_int_equal(cid_hash_gate_limit(g), cores < 1 ? 1
						 : cores > CID_MAX_HASHES_AT_ONCE
						     ? CID_MAX_HASHES_AT_ONCE
						     : (unsigned)cores);
	cid_hash_gate_free(g);
	assert_int_equal(cid_hash_gate_new(3, &g), CID_OK);
	assert_int_equal(cid_hash_gate_limit(g), 3);
	assert_int_equal(cid_hash_gate_waiting(g), 0);
	cid_hash_gate_free(g);
	g = NULL;
	assert_int_equal(cid_hash_gate_new(CID_MAX_HASHES_AT_ONCE + 1, &g), CID_ERR_INVALID);
	assert_null(g);
	/* no gate: no bound */
	cid_hash_gate_enter(NULL);
	cid_hash_gate_leave(NULL);
}

struct gate_arg {
	struct cid_hash_gate *g;
	atomic_int in; /* set once inside */
	int order;     /* the how-many-th to get in */
	atomic_int *count;
};

static void *enter_and_leave(void *p)
{
	struct gate_arg *a = p;

	cid_hash_gate_enter(a->g);
	a->order = atomic_fetch_add(a->count, 1);
	atomic_store(&a->in, 1);
	cid_hash_gate_leave(a->g);
	return NULL;
}

/* Two places: two get in at once, the third waits until one leaves. */
static void test_hash_gate_bounds_the_places(void **state)
{
	struct cid_hash_gate *g = NULL;
	atomic_int count = 0;
	struct gate_arg a = {.count = &count};
	pthread_t t;

	(void)state;
	assert_int_equal(cid_hash_gate_new(2, &g), CID_OK);
	a.g = g;
	cid_hash_gate_enter(g);
	cid_hash_gate_enter(g);
	assert_int_equal(pthread_create(&t, NULL, enter_and_leave, &a), 0);
	wait_for_waiters(g, 1);
	assert_int_equal(atomic_load(&a.in), 0);
	cid_hash_gate_leave(g);
	wait_for_flag(&a.in);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(cid_hash_gate_waiting(g), 0);
	cid_hash_gate_leave(g);
	cid_hash_gate_free(g);
}

/* Waiters get in in the order they came, one per place freed. */
static void test_hash_gate_is_first_come_first_served(void **state)
{
	enum { N = 4 };
	struct cid_hash_gate *g = NULL;
	atomic_int count = 0;
	struct gate_arg a[N];
	pthread_t t[N];

	(void)state;
	assert_int_equal(cid_hash_gate_new(1, &g), CID_OK);
	cid_hash_gate_enter(g);
	for (int i = 0; i < N; i++) {
		a[i] = (struct gate_arg){.g = g, .count = &count};
		assert_int_equal(pthread_create(&t[i], NULL, enter_and_leave, &a[i]), 0);
		/* each takes its ticket before the next starts */
		wait_for_waiters(g, (unsigned)i + 1);
	}
	cid_hash_gate_leave(g);
	for (int i = 0; i < N; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(a[i].order, i);
	}
	cid_hash_gate_free(g);
}

/* Sleeps ms milliseconds. */
static void sleep_ms(int ms)
{
	for (int i = 0; i < ms; i++)
		nap();
}

/*
 * The counters: hashes let in, the places held on average over the span,
 * the mean wait; a take restarts them.
 */
static void test_hash_gate_stats(void **state)
{
	struct cid_hash_gate *g = NULL;
	struct cid_hash_gate_stats st;
	atomic_int count = 0;
	struct gate_arg a = {.count = &count};
	pthread_t t;

	(void)state;
	assert_int_equal(cid_hash_gate_new(2, &g), CID_OK);
	a.g = g;
	cid_hash_gate_stats_take(g, &st); /* from here */
	/* both places held for the whole span, but for the moments around it */
	cid_hash_gate_enter(g);
	cid_hash_gate_enter(g);
	sleep_ms(100);
	cid_hash_gate_leave(g);
	cid_hash_gate_leave(g);
	cid_hash_gate_stats_take(g, &st);
	assert_int_equal(st.hashes, 2);
	assert_true(st.seconds >= 0.1);
	assert_true(st.in_flight > 1.5 && st.in_flight <= 2.0);
	assert_true(st.wait_ms < 50);
	/* one place held while a second caller waits, then none */
	cid_hash_gate_enter(g);
	cid_hash_gate_enter(g);
	assert_int_equal(pthread_create(&t, NULL, enter_and_leave, &a), 0);
	wait_for_waiters(g, 1);
	sleep_ms(100);
	cid_hash_gate_leave(g);
	assert_int_equal(pthread_join(t, NULL), 0);
	cid_hash_gate_leave(g);
	cid_hash_gate_stats_take(g, &st);
	assert_int_equal(st.hashes, 3);
	/* the third waited at least 100 ms: a third of it on average over three */
	assert_true(st.wait_ms >= 100.0 / 3);
	/* restarted: nothing since */
	cid_hash_gate_stats_take(g, &st);
	assert_int_equal(st.hashes, 0);
	assert_true(st.in_flight == 0);
	assert_true(st.wait_ms == 0);
	cid_hash_gate_free(g);
}

enum gated_fn { GATED_HASH, GATED_VERIFY, GATED_BURN };

struct gated_arg {
	enum gated_fn fn;
	struct cid_argon2_params params;
	const char *encoded; /* for GATED_VERIFY */
	enum cid_err rc;
	atomic_int done;
};

static void *run_gated(void *p)
{
	struct gated_arg *a = p;
	char out[CID_PASSWORD_HASH_MAX];

	switch (a->fn) {
	case GATED_HASH: a->rc = cid_password_hash(&a->params, S("correct horse"), out); break;
	case GATED_VERIFY:
		a->rc = cid_password_verify(a->params.gate, a->encoded, S("correct horse"));
		break;
	case GATED_BURN: a->rc = cid_password_burn(&a->params, S("correct horse")); break;
	}
	atomic_store(&a->done, 1);
	return NULL;
}

/*
 * Each password function waits for a place in its gate before it hashes,
 * and ends once one is free: a failed login (burn) waits as a right one
 * (verify) does.
 */
static void test_password_functions_wait_in_the_gate(void **state)
{
	static const struct {
		enum gated_fn fn;
		enum cid_err expect;
	} rows[] = {
	    {GATED_HASH, CID_OK},
	    {GATED_VERIFY, CID_OK},
	    {GATED_BURN, CID_ERR_DENIED},
	};

	char encoded[CID_PASSWORD_HASH_MAX];

	(void)state;
	assert_int_equal(cid_password_hash(&cheap, S("correct horse"), encoded), CID_OK);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct cid_hash_gate *g = NULL;
		struct gated_arg a = {.fn = rows[i].fn, .params = cheap, .encoded = encoded};
		pthread_t t;

		assert_int_equal(cid_hash_gate_new(1, &g), CID_OK);
		a.params.gate = g;
		cid_hash_gate_enter(g); /* the one place is taken */
		assert_int_equal(pthread_create(&t, NULL, run_gated, &a), 0);
		wait_for_waiters(g, 1);
		if (atomic_load(&a.done) != 0)
			fail_msg("row %zu hashed without a place", i);
		cid_hash_gate_leave(g);
		assert_int_equal(pthread_join(t, NULL), 0);
		assert_int_equal(atomic_load(&a.done), 1);
		assert_int_equal(a.rc, rows[i].expect);
		assert_int_equal(cid_hash_gate_waiting(g), 0);
		cid_hash_gate_free(g);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_random_token_is_43_base64url_chars),
	    cmocka_unit_test(test_random_token_uses_whole_alphabet),
	    cmocka_unit_test(test_random_uuid_is_v4),
	    cmocka_unit_test(test_time_uuid_is_v7_and_sorts_by_time),
	    cmocka_unit_test(test_token_and_uuid_syntax_table),
	    cmocka_unit_test(test_random_bytes_sizes),
	    cmocka_unit_test(test_secret_hash_sha256_vectors),
	    cmocka_unit_test(test_hex),
	    cmocka_unit_test(test_ct_streq_table),
	    cmocka_unit_test(test_wipe),
	    cmocka_unit_test(test_password_hash_verify_round_trip),
	    cmocka_unit_test(test_password_wrong_is_denied),
	    cmocka_unit_test(test_password_verify_known_answers),
	    cmocka_unit_test(test_password_hash_bounds_table),
	    cmocka_unit_test(test_password_verify_rejects_non_argon2id),
	    cmocka_unit_test(test_password_strings_agree_with_libargon2),
	    cmocka_unit_test(test_password_strings_are_read_strictly),
	    cmocka_unit_test(test_password_burn_always_denies),
	    cmocka_unit_test(test_password_upgrade_table),
	    cmocka_unit_test(test_hash_gate_limit),
	    cmocka_unit_test(test_hash_gate_bounds_the_places),
	    cmocka_unit_test(test_hash_gate_is_first_come_first_served),
	    cmocka_unit_test(test_hash_gate_stats),
	    cmocka_unit_test(test_password_functions_wait_in_the_gate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
