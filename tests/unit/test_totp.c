/*
 * totp: the RFC 4226 and RFC 6238 test vectors, the RFC 4648 base32 vectors,
 * and what verification promises: a window of one step each side, one use per
 * code, exactly six ASCII digits. Tables where the logic is a table; inputs to
 * the decoders are exact-size heap copies so ASan sees any overread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "crypto.h"
#include "totp.h"

/* cmocka.h needs setjmp.h, stdarg.h and stddef.h before it */
#include <cmocka.h>

/* RFC 6238 Appendix B seeds: the SHA-1 one is also RFC 4226 Appendix D's */
#define SEED20	   "12345678901234567890"
#define SEED32	   "12345678901234567890123456789012"
#define SEED64	   "1234567890123456789012345678901234567890123456789012345678901234"
#define SEED20_B32 "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

static const uint8_t *const seed20 = (const uint8_t *)SEED20;

/* An exact-size heap copy of [p, p+n): a read past the end trips ASan. */
static char *exact(const char *p, size_t n)
{
	char *d = malloc(n ? n : 1);

	assert_non_null(d);
	if (n > 0)
		memcpy(d, p, n);
	return d;
}

/* The 6-digit SHA-1 TOTP of SEED20 at t, as the text a citizen types. */
static void code_at(int64_t t, char out[7])
{
	uint32_t v = 0;

	assert_int_equal(cid_totp(CID_TOTP_SHA1, seed20, 20, t, 6, &v), CID_OK);
	assert_true(snprintf(out, 7, "%06u", v) == 6);
}

/* ---- HOTP and TOTP vectors ---- */

/*= RFC 4226 Appendix D: HOTP values of the secret "12345678901234567890" for counts 0..9 */
static void test_hotp_rfc4226_appendix_d(void **state)
{
	static const uint32_t expect[] = {755224, 287082, 359152, 969429, 338314,
					  254676, 287922, 162583, 399871, 520489};
	uint32_t v;

	(void)state;
	for (uint64_t count = 0; count < 10; count++) {
		v = 0;
		assert_int_equal(cid_hotp(CID_TOTP_SHA1, seed20, 20, count, 6, &v), CID_OK);
		if (v != expect[count])
			fail_msg("count %u: got %06u, want %06u", (unsigned)count, v,
				 expect[count]);
	}
}

struct totp_row {
	int64_t t;
	enum cid_totp_alg alg;
	uint32_t totp8;
};

/*= RFC 6238 Appendix B: 8-digit TOTP values, T0 = 0, X = 30 */
static const struct totp_row rfc6238[] = {
    {59, CID_TOTP_SHA1, 94287082},
    {59, CID_TOTP_SHA256, 46119246},
    {59, CID_TOTP_SHA512, 90693936},
    {1111111109, CID_TOTP_SHA1, 7081804},
    {1111111109, CID_TOTP_SHA256, 68084774},
    {1111111109, CID_TOTP_SHA512, 25091201},
    {1111111111, CID_TOTP_SHA1, 14050471},
    {1111111111, CID_TOTP_SHA256, 67062674},
    {1111111111, CID_TOTP_SHA512, 99943326},
    {1234567890, CID_TOTP_SHA1, 89005924},
    {1234567890, CID_TOTP_SHA256, 91819424},
    {1234567890, CID_TOTP_SHA512, 93441116},
    {2000000000, CID_TOTP_SHA1, 69279037},
    {2000000000, CID_TOTP_SHA256, 90698825},
    {2000000000, CID_TOTP_SHA512, 38618901},
    {20000000000, CID_TOTP_SHA1, 65353130},
    {20000000000, CID_TOTP_SHA256, 77737706},
    {20000000000, CID_TOTP_SHA512, 47863826},
};

static const uint8_t *seed_of(enum cid_totp_alg alg, size_t *len)
{
	switch (alg) {
	case CID_TOTP_SHA256: *len = 32; return (const uint8_t *)SEED32;
	case CID_TOTP_SHA512: *len = 64; return (const uint8_t *)SEED64;
	case CID_TOTP_SHA1:
	default: *len = 20; return seed20;
	}
}

static void test_totp_rfc6238_appendix_b(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rfc6238) / sizeof(rfc6238[0]); i++) {
		const struct totp_row *r = &rfc6238[i];
		size_t len = 0;
		const uint8_t *seed = seed_of(r->alg, &len);
		uint32_t v8 = 0;
		uint32_t v6 = 0;

		assert_int_equal(cid_totp(r->alg, seed, len, r->t, 8, &v8), CID_OK);
		assert_int_equal(cid_totp(r->alg, seed, len, r->t, 6, &v6), CID_OK);
		if (v8 != r->totp8 || v6 != r->totp8 % 1000000)
			fail_msg("row %zu (t=%lld): got %08u/%06u, want %08u", i, (long long)r->t,
				 v8, v6, r->totp8);
	}
}

static void test_totp_step_is_floor_of_30s(void **state)
{
	(void)state;
	assert_int_equal(cid_totp_step(0), 0);
	assert_int_equal(cid_totp_step(29), 0);
	assert_int_equal(cid_totp_step(30), 1);
	assert_int_equal(cid_totp_step(59), 1);
	assert_int_equal(cid_totp_step(1111111109), 0x23523EC);
	assert_int_equal(cid_totp_step(20000000000), 0x27BC86AA);
}

static void test_hotp_rejects_bad_parameters(void **state)
{
	uint8_t long_seed[CID_TOTP_SECRET_MAX + 1] = {0};
	uint32_t v = 4242;

	(void)state;
	assert_int_equal(cid_hotp(CID_TOTP_SHA1, seed20, 20, 0, 5, &v), CID_ERR_INVALID);
	assert_int_equal(cid_hotp(CID_TOTP_SHA1, seed20, 20, 0, 9, &v), CID_ERR_INVALID);
	assert_int_equal(cid_hotp(CID_TOTP_SHA1, seed20, CID_TOTP_SECRET_MIN - 1, 0, 6, &v),
			 CID_ERR_INVALID);
	assert_int_equal(cid_hotp(CID_TOTP_SHA1, long_seed, sizeof(long_seed), 0, 6, &v),
			 CID_ERR_INVALID);
	assert_int_equal(cid_hotp(CID_TOTP_SHA1, NULL, 20, 0, 6, &v), CID_ERR_INVALID);
	assert_int_equal(cid_hotp((enum cid_totp_alg)99, seed20, 20, 0, 6, &v), CID_ERR_INVALID);
	assert_int_equal(cid_totp(CID_TOTP_SHA1, seed20, 20, -1, 6, &v), CID_ERR_INVALID);
	/* out-parameters are written only on success */
	assert_int_equal(v, 4242);
	assert_int_equal(cid_hotp(CID_TOTP_SHA1, long_seed, CID_TOTP_SECRET_MAX, 0, 6, &v), CID_OK);
	assert_int_equal(cid_hotp(CID_TOTP_SHA1, seed20, CID_TOTP_SECRET_MIN, 0, 6, &v), CID_OK);
}

/* ---- base32 ---- */

struct b32_row {
	const char *raw;
	const char *unpadded;
	const char *padded;
};

/*= RFC 4648 §10: BASE32 test vectors */
static const struct b32_row rfc4648[] = {
    {"", "", ""},
    {"f", "MY", "MY======"},
    {"fo", "MZXQ", "MZXQ===="},
    {"foo", "MZXW6", "MZXW6==="},
    {"foob", "MZXW6YQ", "MZXW6YQ="},
    {"fooba", "MZXW6YTB", "MZXW6YTB"},
    {"foobar", "MZXW6YTBOI", "MZXW6YTBOI======"},
    {SEED20, SEED20_B32, SEED20_B32},
};

static void decodes_to(const char *in, const char *want)
{
	char *copy = exact(in, strlen(in));
	uint8_t out[64];
	size_t n = 999;

	assert_int_equal(cid_base32_decode(copy, strlen(in), out, sizeof(out), &n), CID_OK);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(out, want, n);
	free(copy);
}

static void test_base32_rfc4648_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
		const struct b32_row *r = &rfc4648[i];
		char enc[128];
		char lower[128];
		size_t n = strlen(r->padded);

		assert_int_equal(cid_base32_len(strlen(r->raw)), strlen(r->unpadded));
		assert_int_equal(cid_base32_encode(r->raw, strlen(r->raw), enc, sizeof(enc)),
				 CID_OK);
		/* output never padded */
		assert_string_equal(enc, r->unpadded);
		decodes_to(r->unpadded, r->raw);
		decodes_to(r->padded, r->raw);
		for (size_t k = 0; k <= n; k++)
			lower[k] = (char)(r->padded[k] >= 'A' && r->padded[k] <= 'Z'
					      ? r->padded[k] - 'A' + 'a'
					      : r->padded[k]);
		decodes_to(lower, r->raw);
	}
}

struct b32_bad {
	const char *in;
	const char *why;
};

static const struct b32_bad b32_bad[] = {
    {"M", "one character in the last group"},
    {"MZX", "three characters in the last group"},
    {"MZXW6Y", "six characters in the last group"},
    {"MZXW6YTBM", "one character after a full group"},
    {"MY=====", "padding one short"},
    {"MY=======", "padding one too many"},
    {"MY", "(valid: control row)"},
    {"MZXW6===MZXW6===", "padding in the middle"},
    {"M=Y=====", "padding between characters"},
    {"========", "padding alone"},
    {"MZ", "non-zero bits after the last byte"},
    {"MZXR", "non-zero bits after the last byte (2 bytes)"},
    {"MZXW7", "non-zero bits after the last byte (3 bytes)"},
    {"MZXW6YR", "non-zero bits after the last byte (4 bytes)"},
    {"MZXW6YTBOJ", "non-zero bits after the last byte (6 bytes)"},
    {"MZ0Q", "0 is not base32"},
    {"MZ1Q", "1 is not base32"},
    {"MZ8Q", "8 is not base32"},
    {"MZ9Q", "9 is not base32"},
    {"MZ Q", "space"},
    {"MZ-Q", "hyphen"},
    {"MZXQ\n", "newline"},
    {"MZ\xc3\x84Q", "non-ASCII"},
};

static void test_base32_decode_refuses_malformed(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(b32_bad) / sizeof(b32_bad[0]); i++) {
		const struct b32_bad *r = &b32_bad[i];
		char *copy = exact(r->in, strlen(r->in));
		uint8_t out[16];
		size_t n = 999;
		enum cid_err got = cid_base32_decode(copy, strlen(r->in), out, sizeof(out), &n);
		enum cid_err want = strcmp(r->in, "MY") == 0 ? CID_OK : CID_ERR_INVALID;

		if (got != want)
			fail_msg("row %zu '%s' (%s): got %s", i, r->in, r->why, cid_strerror(got));
		if (want != CID_OK)
			assert_int_equal(n, 999);
		free(copy);
	}
}

static void test_base32_buffers_too_small(void **state)
{
	char enc[CID_TOTP_SECRET_CHARS + 1];
	uint8_t out[20];
	size_t n = 999;

	(void)state;
	/* the encoding needs its characters plus a NUL */
	assert_int_equal(cid_base32_encode(SEED20, 20, enc, CID_TOTP_SECRET_CHARS), CID_ERR_TOOBIG);
	assert_int_equal(cid_base32_encode(SEED20, 20, enc, 0), CID_ERR_TOOBIG);
	assert_int_equal(cid_base32_encode(SEED20, 20, enc, sizeof(enc)), CID_OK);
	assert_int_equal(strlen(enc), CID_TOTP_SECRET_CHARS);
	assert_int_equal(cid_base32_decode(SEED20_B32, 32, out, 19, &n), CID_ERR_TOOBIG);
	assert_int_equal(n, 999);
	assert_int_equal(cid_base32_decode(SEED20_B32, 32, out, 20, &n), CID_OK);
	assert_int_equal(n, 20);
}

static void test_base32_round_trips_every_length(void **state)
{
	uint8_t raw[CID_TOTP_SECRET_MAX];
	uint8_t back[CID_TOTP_SECRET_MAX];
	char enc[2 * CID_TOTP_SECRET_MAX];

	(void)state;
	for (int round = 0; round < 20; round++) {
		assert_int_equal(cid_random_bytes(raw, sizeof(raw)), CID_OK);
		for (size_t len = 0; len <= sizeof(raw); len++) {
			size_t n = 0;

			assert_int_equal(cid_base32_encode(raw, len, enc, sizeof(enc)), CID_OK);
			assert_int_equal(strlen(enc), cid_base32_len(len));
			assert_int_equal(
			    cid_base32_decode(enc, strlen(enc), back, sizeof(back), &n), CID_OK);
			assert_int_equal(n, len);
			if (len > 0)
				assert_memory_equal(back, raw, len);
		}
	}
}

/* ---- verification ---- */

#define T 1111111111 /* step 37037037, 1 s into it */

static void test_totp_verify_accepts_one_step_each_side(void **state)
{
	static const struct {
		int64_t offset; /* of the code's time from now, seconds */
		unsigned window;
		enum cid_err expect;
	} rows[] = {
	    {0, 1, CID_OK},
	    {-30, 1, CID_OK},
	    {30, 1, CID_OK},
	    {-60, 1, CID_ERR_DENIED},
	    {60, 1, CID_ERR_DENIED},
	    {0, 0, CID_OK},
	    {-30, 0, CID_ERR_DENIED},
	    {30, 0, CID_ERR_DENIED},
	    {-60, 2, CID_OK},
	    {-3600, 1, CID_ERR_DENIED},
	    {3600, 1, CID_ERR_DENIED},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char code[7];
		int64_t matched = -1;
		enum cid_err got;

		code_at(T + rows[i].offset, code);
		got = cid_totp_verify(seed20, 20, code, T, rows[i].window, 0, &matched);
		if (got != rows[i].expect)
			fail_msg("row %zu (offset %lld, window %u): got %s", i,
				 (long long)rows[i].offset, rows[i].window, cid_strerror(got));
		if (got == CID_OK)
			assert_int_equal(matched, cid_totp_step(T + rows[i].offset));
		else
			assert_int_equal(matched, -1);
	}
}

static void test_totp_verify_keeps_leading_zeros(void **state)
{
	int64_t matched = 0;

	(void)state;
	/* RFC 6238 Appendix B: 07081804 at 1111111109, so the 6-digit code is 081804 */
	assert_int_equal(cid_totp_verify(seed20, 20, "081804", 1111111109, 0, 0, &matched), CID_OK);
	assert_int_equal(matched, cid_totp_step(1111111109));
	assert_int_equal(cid_totp_verify(seed20, 20, "81804", 1111111109, 0, 0, &matched),
			 CID_ERR_INVALID);
	assert_int_equal(cid_totp_verify(seed20, 20, "07081804", 1111111109, 0, 0, &matched),
			 CID_ERR_INVALID);
}

/*= RFC 6238 §5.2: the verifier MUST NOT accept the second attempt of the same OTP */
static void test_totp_verify_refuses_replay_and_older_steps(void **state)
{
	int64_t step = cid_totp_step(T);
	int64_t matched = 0;
	int64_t again = -1;
	char now_code[7];
	char prev_code[7];
	char next_code[7];

	(void)state;
	code_at(T, now_code);
	code_at(T - 30, prev_code);
	code_at(T + 30, next_code);
	assert_int_equal(cid_totp_verify(seed20, 20, now_code, T, 1, 0, &matched), CID_OK);
	assert_int_equal(matched, step);
	/* the same code again, even a second later in the same step */
	assert_int_equal(cid_totp_verify(seed20, 20, now_code, T + 1, 1, matched, &again),
			 CID_ERR_DENIED);
	/* a code of an earlier step, though still inside the window */
	assert_int_equal(cid_totp_verify(seed20, 20, prev_code, T, 1, matched, &again),
			 CID_ERR_DENIED);
	assert_int_equal(again, -1);
	/* the next step's code still works, once */
	assert_int_equal(cid_totp_verify(seed20, 20, next_code, T + 30, 1, matched, &again),
			 CID_OK);
	assert_int_equal(again, step + 1);
	assert_int_equal(cid_totp_verify(seed20, 20, next_code, T + 30, 1, again, &matched),
			 CID_ERR_DENIED);
}

static void test_totp_verify_accepts_only_six_ascii_digits(void **state)
{
	static const char *const bad[] = {
	    "",	      "1",	     "12345",  "1234567", "12345a",  "a23456", " 12345",
	    "12345 ", "123 456",     "+12345", "-12345",  "12345\n", "0x1234", "１２３４５６",
	    "1234.5", "123456789012"};
	char code[7];
	int64_t matched = -1;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (cid_totp_code_ok(bad[i]) ||
		    cid_totp_verify(seed20, 20, bad[i], T, 1, 0, &matched) != CID_ERR_INVALID)
			fail_msg("'%s' was not refused as malformed", bad[i]);
	assert_false(cid_totp_code_ok(NULL));
	assert_true(cid_totp_code_ok("000000"));
	assert_int_equal(cid_totp_verify(seed20, 20, NULL, T, 1, 0, &matched), CID_ERR_INVALID);
	/* the right code with anything after it is still malformed */
	code_at(T, code);
	{
		char longer[9];

		assert_true(snprintf(longer, sizeof(longer), "%s0", code) == 7);
		assert_int_equal(cid_totp_verify(seed20, 20, longer, T, 1, 0, &matched),
				 CID_ERR_INVALID);
	}
	assert_int_equal(cid_totp_verify(seed20, 20, code, T, CID_TOTP_WINDOW_MAX + 1, 0, &matched),
			 CID_ERR_INVALID);
	assert_int_equal(cid_totp_verify(seed20, 20, code, -1, 1, 0, &matched), CID_ERR_INVALID);
	assert_int_equal(cid_totp_verify(seed20, 10, code, T, 1, 0, &matched), CID_ERR_INVALID);
	assert_int_equal(matched, -1);
	assert_int_equal(cid_totp_verify(seed20, 20, code, T, 1, 0, &matched), CID_OK);
}

static void test_totp_verify_near_epoch_skips_negative_steps(void **state)
{
	char code[7];
	int64_t matched = -1;

	(void)state;
	code_at(0, code);
	/* step 0 with a window reaching step -1: -1 is never computed, 0 still matches */
	assert_int_equal(cid_totp_verify(seed20, 20, code, 5, 1, -1, &matched), CID_OK);
	assert_int_equal(matched, 0);
}

/* ---- secrets and URIs ---- */

static void test_totp_new_secret_is_random(void **state)
{
	uint8_t a[CID_TOTP_SECRET_BYTES];
	uint8_t b[CID_TOTP_SECRET_BYTES];
	char enc[CID_TOTP_SECRET_CHARS + 1];

	(void)state;
	assert_int_equal(cid_totp_new_secret(a), CID_OK);
	assert_int_equal(cid_totp_new_secret(b), CID_OK);
	assert_memory_not_equal(a, b, sizeof(a));
	assert_int_equal(cid_base32_encode(a, sizeof(a), enc, sizeof(enc)), CID_OK);
	assert_int_equal(strlen(enc), CID_TOTP_SECRET_CHARS);
}

static void test_totp_uri_format_and_encoding(void **state)
{
	char *uri = NULL;
	char long_name[CID_MAX_USERNAME + 2];

	(void)state;
	assert_int_equal(cid_totp_uri(CID_TOTP_ISSUER, "hanako", seed20, 20, &uri), CID_OK);
	assert_string_equal(uri, "otpauth://totp/civicid:hanako?secret=" SEED20_B32
				 "&issuer=civicid&algorithm=SHA1&digits=6&period=30");
	free(uri);
	uri = NULL;
	assert_int_equal(cid_totp_uri("City of Aizu", "hana ko@city.jp", seed20, 20, &uri), CID_OK);
	assert_string_equal(uri,
			    "otpauth://totp/City%20of%20Aizu:hana%20ko%40city.jp?secret=" SEED20_B32
			    "&issuer=City%20of%20Aizu&algorithm=SHA1&digits=6&period=30");
	free(uri);
	uri = NULL;
	/* a colon in the account is encoded; in the issuer it would split the label */
	assert_int_equal(cid_totp_uri("civicid", "a:b&c=d?", seed20, 20, &uri), CID_OK);
	assert_non_null(strstr(uri, "civicid:a%3Ab%26c%3Dd%3F?secret="));
	free(uri);
	uri = NULL;
	assert_int_equal(cid_totp_uri("civic:id", "hanako", seed20, 20, &uri), CID_ERR_INVALID);
	assert_int_equal(cid_totp_uri("", "hanako", seed20, 20, &uri), CID_ERR_INVALID);
	assert_int_equal(cid_totp_uri("civicid", "", seed20, 20, &uri), CID_ERR_INVALID);
	assert_int_equal(cid_totp_uri(NULL, "hanako", seed20, 20, &uri), CID_ERR_INVALID);
	assert_int_equal(cid_totp_uri("civicid", "hanako", seed20, 15, &uri), CID_ERR_INVALID);
	assert_int_equal(cid_totp_uri("civicid", "hanako", NULL, 20, &uri), CID_ERR_INVALID);
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	assert_int_equal(cid_totp_uri("civicid", long_name, seed20, 20, &uri), CID_ERR_TOOBIG);
	assert_null(uri);
	long_name[CID_MAX_USERNAME] = '\0';
	assert_int_equal(cid_totp_uri("civicid", long_name, seed20, 20, &uri), CID_OK);
	free(uri);
}

static void test_totp_enrolment_hands_over_the_shown_copies(void **state)
{
	struct cid_totp_enrolment en;
	char *b32 = NULL;
	char *uri = NULL;

	(void)state;
	assert_int_equal(cid_totp_enrolment_new(&en, "Issuer", "alice"), CID_OK);
	assert_int_equal(strlen(en.b32), CID_TOTP_SECRET_CHARS);
	assert_string_equal(en.secret_b32, en.b32);
	assert_non_null(strstr(en.uri, en.b32));
	cid_totp_enrolment_give(&en, &b32, &uri);
	assert_null(en.secret_b32);
	assert_null(en.uri);
	cid_totp_enrolment_wipe(&en);
	assert_int_equal(strlen(b32), CID_TOTP_SECRET_CHARS);
	assert_non_null(strstr(uri, "otpauth://totp/Issuer:alice?secret="));
	assert_non_null(strstr(uri, b32));
	free(b32);
	free(uri);
	/* a copy not wanted stays with en and goes with the wipe */
	assert_int_equal(cid_totp_enrolment_new(&en, "Issuer", "alice"), CID_OK);
	cid_totp_enrolment_give(&en, NULL, NULL);
	cid_totp_enrolment_wipe(&en);
	/* a bad issuer fails, and the wipe still cleans up */
	assert_int_equal(cid_totp_enrolment_new(&en, "Is:suer", "alice"), CID_ERR_INVALID);
	cid_totp_enrolment_wipe(&en);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hotp_rfc4226_appendix_d),
	    cmocka_unit_test(test_totp_rfc6238_appendix_b),
	    cmocka_unit_test(test_totp_step_is_floor_of_30s),
	    cmocka_unit_test(test_hotp_rejects_bad_parameters),
	    cmocka_unit_test(test_base32_rfc4648_vectors),
	    cmocka_unit_test(test_base32_decode_refuses_malformed),
	    cmocka_unit_test(test_base32_buffers_too_small),
	    cmocka_unit_test(test_base32_round_trips_every_length),
	    cmocka_unit_test(test_totp_verify_accepts_one_step_each_side),
	    cmocka_unit_test(test_totp_verify_keeps_leading_zeros),
	    cmocka_unit_test(test_totp_verify_refuses_replay_and_older_steps),
	    cmocka_unit_test(test_totp_verify_accepts_only_six_ascii_digits),
	    cmocka_unit_test(test_totp_verify_near_epoch_skips_negative_steps),
	    cmocka_unit_test(test_totp_new_secret_is_random),
	    cmocka_unit_test(test_totp_uri_format_and_encoding),
	    cmocka_unit_test(test_totp_enrolment_hands_over_the_shown_copies),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
