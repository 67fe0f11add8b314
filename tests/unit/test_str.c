/*
 * str: the gate every outside byte passes. Each table row is one input and the
 * outcome the header promises for it. Inputs are copied into heap blocks of
 * exactly their length, so AddressSanitizer reports any read past the slice.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "str.h"

/* cmocka.h needs setjmp.h, stdarg.h and stddef.h before it */
#include <cmocka.h>

#define S(lit) lit, sizeof(lit) - 1

/* An exact-size heap copy of [p, p+n): a read past the end trips ASan. */
static char *exact(const char *p, size_t n)
{
	char *d = malloc(n ? n : 1);

	assert_non_null(d);
	if (n > 0)
		memcpy(d, p, n);
	return d;
}

/* ---- UTF-8 ---- */

struct utf8_row {
	const char *what;
	const char *in;
	size_t len;
	bool valid;
	bool control; /* refused only for a control or NUL: cid_utf8_wellformed takes it */
};

static const struct utf8_row utf8_rows[] = {
    {"empty", S(""), true, false},
    {"printable ASCII", S("plain ASCII text 0123456789 ~!@#$%^&*()"), true, false},
    {"TAB allowed", S("tab\there"), true, false},
    {"LF and CR allowed", S("line\nfeed\r\n"), true, false},
    {"U+0080, smallest 2-byte", S("\xC2\x80"), true, false},
    {"été", S("\xC3\xA9t\xC3\xA9"), true, false},
    {"U+07FF, largest 2-byte", S("\xDF\xBF"), true, false},
    {"U+0800, smallest 3-byte", S("\xE0\xA0\x80"), true, false},
    {"あ", S("\xE3\x81\x82"), true, false},
    {"U+D7FF, just below surrogates", S("\xED\x9F\xBF"), true, false},
    {"U+E000, just above surrogates", S("\xEE\x80\x80"), true, false},
    {"U+FFFF", S("\xEF\xBF\xBF"), true, false},
    {"U+10000, smallest 4-byte", S("\xF0\x90\x80\x80"), true, false},
    {"emoji", S("\xF0\x9F\x98\x80"), true, false},
    {"U+10FFFF, the last code point", S("\xF4\x8F\xBF\xBF"), true, false},
    {"overlong NUL", S("\xC0\x80"), false, false},
    {"overlong U+007F", S("\xC1\xBF"), false, false},
    {"overlong 3-byte", S("\xE0\x80\x80"), false, false},
    {"overlong U+07FF", S("\xE0\x9F\xBF"), false, false},
    {"overlong 4-byte", S("\xF0\x80\x80\x80"), false, false},
    {"overlong U+FFFF", S("\xF0\x8F\xBF\xBF"), false, false},
    {"U+D800, high surrogate", S("\xED\xA0\x80"), false, false},
    {"U+DFFF, low surrogate", S("\xED\xBF\xBF"), false, false},
    {"CESU-8 surrogate pair", S("\xED\xA0\xBD\xED\xB8\x80"), false, false},
    {"U+110000, above Unicode", S("\xF4\x90\x80\x80"), false, false},
    {"lead byte never valid", S("\xF5\x80\x80\x80"), false, false},
    {"5-byte form", S("\xF8\x88\x80\x80\x80"), false, false},
    {"lead byte FE never valid", S("\xFE"), false, false},
    {"lead byte FF never valid", S("\xFF"), false, false},
    {"lone continuation", S("\x80"), false, false},
    {"continuation after ASCII", S("a\xBF-"), false, false},
    {"truncated 2-byte", S("\xC3"), false, false},
    {"truncated 3-byte", S("\xE3\x81"), false, false},
    {"truncated 4-byte", S("\xF0\x9F\x98"), false, false},
    {"truncated at the very end", S("abc\xC3"), false, false},
    {"continuation missing", S("\xC3\x28"), false, false},
    {"third byte not a continuation", S("\xE3\x81\x28"), false, false},
    {"4-byte, third byte not a continuation", S("\xF0\x9F\x28\x80"), false, false},
    {"one continuation too many", S("\xC3\xA9\xA9"), false, false},
    {"embedded NUL", S("a\0b"), false, true},
    {"lone NUL", S("\0"), false, true},
    {"C0 control", S("\x01"), false, true},
    {"ESC", S("\x1B[31m"), false, true},
    {"C0 control 1F", S("\x1F"), false, true},
    {"DEL", S("\x7F"), false, true},
    {"vertical tab is not TAB", S("\x0B"), false, true},
    {"form feed", S("\x0C"), false, true},
};

static void test_utf8_valid_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(utf8_rows) / sizeof(utf8_rows[0]); i++) {
		const struct utf8_row *r = &utf8_rows[i];
		char *in = exact(r->in, r->len);

		if (cid_utf8_valid(in, r->len) != r->valid)
			fail_msg("utf8 row %zu (%s): expected %s", i, r->what,
				 r->valid ? "valid" : "invalid");
		if (cid_utf8_wellformed(in, r->len) != (r->valid || r->control))
			fail_msg("utf8 row %zu (%s): expected %s", i, r->what,
				 r->valid || r->control ? "well-formed" : "ill-formed");
		free(in);
	}
}

/*
 * ASCII is checked 8 bytes at a time: every byte value, at every place of
 * three words and a tail, in ASCII around it, is judged as the byte loop
 * judges it alone (one byte of 0x80 and up is never UTF-8 by itself).
 */
static void test_utf8_words_judge_each_byte(void **state)
{
	char text[27];

	(void)state;
	for (size_t at = 0; at < sizeof(text); at++) {
		for (int b = 0; b < 256; b++) {
			bool ascii = b < 0x80;
			bool valid = (b >= 0x20 && b < 0x7F) || b == '\t' || b == '\n' || b == '\r';

			memset(text, 'a', sizeof(text));
			text[at] = (char)b;
			if (cid_utf8_valid(text, sizeof(text)) != valid ||
			    cid_utf8_wellformed(text, sizeof(text)) != ascii)
				fail_msg("byte 0x%02x at %zu of %zu: valid %d well-formed %d", b,
					 at, sizeof(text), !valid, !ascii);
		}
	}
	/* a character across a word's edge, whole or cut */
	for (size_t at = 0; at + 3 <= sizeof(text); at++) {
		memset(text, 'a', sizeof(text));
		// NOLINTNEXTLINE(bugprone-not-null-terminated-result): bytes, not a string
		memcpy(text + at, "\xE3\x81\x82", 3);
		if (!cid_utf8_valid(text, sizeof(text)))
			fail_msg("U+3042 at %zu: refused", at);
		text[at + 2] = '(';
		if (cid_utf8_valid(text, sizeof(text)) || cid_utf8_wellformed(text, sizeof(text)))
			fail_msg("a cut U+3042 at %zu: taken", at);
	}
}

static void test_utf8_valid_reads_only_n_bytes(void **state)
{
	(void)state;
	/* the slice ends before the broken byte: only [p, p+n) counts */
	assert_true(cid_utf8_valid("ab\xFF", 2));
	assert_true(cid_utf8_valid("\xC3\xA9\xC3", 2));
	assert_false(cid_utf8_valid("\xC3\xA9\xC3", 3));
	assert_true(cid_utf8_valid(NULL, 0));
}

/* ---- cid_parse_u64 ---- */

struct u64_row {
	const char *in;
	uint64_t min, max;
	enum cid_err rc;
	uint64_t value;
};

static const struct u64_row u64_rows[] = {
    {"0", 0, UINT64_MAX, CID_OK, 0},
    {"42", 0, UINT64_MAX, CID_OK, 42},
    {"007", 0, UINT64_MAX, CID_OK, 7},
    {"18446744073709551615", 0, UINT64_MAX, CID_OK, UINT64_MAX},
    {"18446744073709551616", 0, UINT64_MAX, CID_ERR_INVALID, 0}, /* UINT64_MAX + 1 */
    {"18446744073709551620", 0, UINT64_MAX, CID_ERR_INVALID, 0},
    {"99999999999999999999", 0, UINT64_MAX, CID_ERR_INVALID, 0},
    {"100000000000000000000", 0, UINT64_MAX, CID_ERR_INVALID, 0}, /* 21 digits */
    {"", 0, UINT64_MAX, CID_ERR_INVALID, 0},
    {"+1", 0, UINT64_MAX, CID_ERR_INVALID, 0},
    {"-1", 0, UINT64_MAX, CID_ERR_INVALID, 0},
    {"-0", 0, UINT64_MAX, CID_ERR_INVALID, 0},
    {" 1", 0, UINT64_MAX, CID_ERR_INVALID, 0},
    {"1 ", 0, UINT64_MAX, CID_ERR_INVALID, 0},
    {"1a", 0, UINT64_MAX, CID_ERR_INVALID, 0},
    {"0x10", 0, UINT64_MAX, CID_ERR_INVALID, 0},
    {"1e3", 0, UINT64_MAX, CID_ERR_INVALID, 0},
    {"1.0", 0, UINT64_MAX, CID_ERR_INVALID, 0},
    {"\xD9\xA1", 0, UINT64_MAX, CID_ERR_INVALID, 0}, /* Arabic-Indic digit one */
    {"1", 1, 10, CID_OK, 1},			     /* range is inclusive */
    {"10", 1, 10, CID_OK, 10},
    {"0", 1, 10, CID_ERR_INVALID, 0},
    {"11", 1, 10, CID_ERR_INVALID, 0},
    {"5", 5, 5, CID_OK, 5},
    {"4", 5, 5, CID_ERR_INVALID, 0},
};

static void test_parse_u64_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(u64_rows) / sizeof(u64_rows[0]); i++) {
		const struct u64_row *r = &u64_rows[i];
		size_t n = strlen(r->in);
		char *in = exact(r->in, n);
		uint64_t out = 0xDEADBEEF;
		enum cid_err rc = cid_parse_u64(in, n, r->min, r->max, &out);

		if (rc != r->rc)
			fail_msg("u64 row %zu \"%s\": rc %d, expected %d", i, r->in, rc, r->rc);
		if (r->rc == CID_OK && out != r->value)
			fail_msg("u64 row %zu \"%s\": got %ju", i, r->in, (uintmax_t)out);
		if (r->rc != CID_OK && out != 0xDEADBEEF)
			fail_msg("u64 row %zu: out written on error", i);
		free(in);
	}
}

static void test_parse_u64_uses_length_not_nul(void **state)
{
	uint64_t out = 0;

	(void)state;
	assert_int_equal(cid_parse_u64("1234", 2, 0, UINT64_MAX, &out), CID_OK);
	assert_int_equal(out, 12);
	assert_int_equal(cid_parse_u64(NULL, 0, 0, UINT64_MAX, &out), CID_ERR_INVALID);
}

/* ---- base64url ---- */

struct b64_row {
	const char *raw;
	size_t rawlen;
	const char *enc;
};

/* RFC 4648 §10 vectors (no padding) plus bytes that use '-' and '_' */
static const struct b64_row b64_rows[] = {
    {S(""), ""},
    {S("f"), "Zg"},
    {S("fo"), "Zm8"},
    {S("foo"), "Zm9v"},
    {S("foob"), "Zm9vYg"},
    {S("fooba"), "Zm9vYmE"},
    {S("foobar"), "Zm9vYmFy"},
    {S("\x00"), "AA"},
    {S("\xFB\xFF"), "-_8"},
    {S("\xFF\xFF\xFF"), "____"},
    {S("\xF8\x3E\x0F"), "-D4P"},
};

static void test_b64url_len_table(void **state)
{
	static const struct {
		size_t n, len;
	} rows[] = {{0, 0}, {1, 2}, {2, 3}, {3, 4}, {4, 6}, {5, 7}, {6, 8}, {32, 43}};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		assert_int_equal(cid_b64url_len(rows[i].n), rows[i].len);
}

static void test_b64url_encode_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(b64_rows) / sizeof(b64_rows[0]); i++) {
		const struct b64_row *r = &b64_rows[i];
		size_t need = strlen(r->enc) + 1;
		char *out = malloc(need);

		assert_non_null(out);
		assert_int_equal(cid_b64url_len(r->rawlen), need - 1);
		assert_int_equal(cid_b64url_encode(r->raw, r->rawlen, out, need), CID_OK);
		assert_string_equal(out, r->enc);
		/* one byte short (no room for the NUL) is refused */
		assert_int_equal(cid_b64url_encode(r->raw, r->rawlen, out, need - 1),
				 CID_ERR_TOOBIG);
		free(out);
	}
}

static void test_b64url_decode_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(b64_rows) / sizeof(b64_rows[0]); i++) {
		const struct b64_row *r = &b64_rows[i];
		size_t n = strlen(r->enc);
		char *in = exact(r->enc, n);
		unsigned char *out = malloc(r->rawlen ? r->rawlen : 1);
		size_t outlen = 999;

		assert_non_null(out);
		assert_int_equal(cid_b64url_decode(in, n, out, r->rawlen, &outlen), CID_OK);
		assert_int_equal(outlen, r->rawlen);
		assert_memory_equal(out, r->raw, r->rawlen);
		if (r->rawlen > 0) {
			outlen = 999;
			assert_int_equal(cid_b64url_decode(in, n, out, r->rawlen - 1, &outlen),
					 CID_ERR_TOOBIG);
			assert_int_equal(outlen, 999);
		}
		free(out);
		free(in);
	}
}

struct b64_bad_row {
	const char *in;
	enum cid_err rc;
};

static const struct b64_bad_row b64_bad_rows[] = {
    {"Zg==", CID_ERR_INVALID}, /* padding is not base64url-without-padding */
    {"Zm8=", CID_ERR_INVALID},
    {"Zg=", CID_ERR_INVALID},
    {"Z", CID_ERR_INVALID}, /* length % 4 == 1 can encode nothing */
    {"Zm9vY", CID_ERR_INVALID},
    {"Zm9vYmFyZ", CID_ERR_INVALID},
    {"Zm+v", CID_ERR_INVALID}, /* standard alphabet, not url */
    {"Zm/v", CID_ERR_INVALID},
    {"Zm9 ", CID_ERR_INVALID},
    {"Zm9\n", CID_ERR_INVALID},
    {"Zm.v", CID_ERR_INVALID},
    {"Zm9v\xC3\xA9", CID_ERR_INVALID},
    {"Zh", CID_ERR_INVALID},  /* non-zero trailing bits: "Zg" is the one encoding */
    {"Zm9", CID_ERR_INVALID}, /* "Zm8" is the one encoding of "fo" */
    {"Zm9vYh", CID_ERR_INVALID},
    {"_-", CID_ERR_INVALID},
};

static void test_b64url_decode_rejects(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(b64_bad_rows) / sizeof(b64_bad_rows[0]); i++) {
		const struct b64_bad_row *r = &b64_bad_rows[i];
		size_t n = strlen(r->in);
		char *in = exact(r->in, n);
		unsigned char out[16];
		size_t outlen = 999;
		enum cid_err rc = cid_b64url_decode(in, n, out, sizeof(out), &outlen);

		if (rc != r->rc)
			fail_msg("b64 row %zu \"%s\": rc %d, expected %d", i, r->in, rc, r->rc);
		assert_int_equal(outlen, 999);
		free(in);
	}
	/* NUL inside the slice is a bad character, not an end */
	unsigned char out[8];
	size_t outlen = 0;
	assert_int_equal(cid_b64url_decode("Zm\0v", 4, out, sizeof(out), &outlen), CID_ERR_INVALID);
}

static void test_b64url_round_trip_all_lengths(void **state)
{
	unsigned char raw[64], back[64];
	char enc[90];

	(void)state;
	for (size_t i = 0; i < sizeof(raw); i++)
		raw[i] = (unsigned char)(i * 37 + 11);
	for (size_t n = 0; n <= sizeof(raw); n++) {
		size_t outlen = 0;
		assert_int_equal(cid_b64url_encode(raw, n, enc, sizeof(enc)), CID_OK);
		assert_int_equal(strlen(enc), cid_b64url_len(n));
		assert_int_equal(cid_b64url_decode(enc, strlen(enc), back, n, &outlen), CID_OK);
		assert_int_equal(outlen, n);
		assert_memory_equal(back, raw, n);
	}
}

/* ---- standard base64 with padding (signed notes, checkpoints) ---- */

/* RFC 4648 §10 vectors, plus bytes that use '+' and '/' */
static const struct b64_row b64std_rows[] = {
    {S(""), ""},
    {S("f"), "Zg=="},
    {S("fo"), "Zm8="},
    {S("foo"), "Zm9v"},
    {S("foob"), "Zm9vYg=="},
    {S("fooba"), "Zm9vYmE="},
    {S("foobar"), "Zm9vYmFy"},
    {S("\xFB\xFF"), "+/8="},
    {S("\xFF\xFF\xFF"), "////"},
    {S("\xF8\x3E\x0F"), "+D4P"},
};

static void test_b64_encode_decode_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(b64std_rows) / sizeof(b64std_rows[0]); i++) {
		const struct b64_row *r = &b64std_rows[i];
		size_t n = strlen(r->enc);
		char *in = exact(r->enc, n);
		char enc[16];
		unsigned char out[8];
		size_t outlen = 999;

		assert_int_equal(cid_b64_len(r->rawlen), n);
		assert_int_equal(cid_b64_encode(r->raw, r->rawlen, enc, n + 1), CID_OK);
		assert_string_equal(enc, r->enc);
		assert_int_equal(cid_b64_encode(r->raw, r->rawlen, enc, n), CID_ERR_TOOBIG);
		assert_int_equal(cid_b64_decode(in, n, out, r->rawlen, &outlen), CID_OK);
		assert_int_equal(outlen, r->rawlen);
		assert_memory_equal(out, r->raw, r->rawlen);
		if (r->rawlen > 0) {
			outlen = 999;
			assert_int_equal(cid_b64_decode(in, n, out, r->rawlen - 1, &outlen),
					 CID_ERR_TOOBIG);
			assert_int_equal(outlen, 999);
		}
		free(in);
	}
}

static const char *const b64std_bad[] = {
    "Zg",					  /* padding is required */
    "Zm8",  "Zg=",  "Z===",  "====",  "Zg==Zg==", /* padding only at the end */
    "Zm=v", "Zh==", /* non-zero unused bits: "Zg==" is the one encoding */
    "Zm9=", "Zm-v", /* base64url's alphabet */
    "Zm_v", "Zm9 ", "Zm9\n", " Zm9v", "Zm.v",	  "Zm9v\xC3\xA9",
};

static void test_b64_decode_rejects(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(b64std_bad) / sizeof(b64std_bad[0]); i++) {
		size_t n = strlen(b64std_bad[i]);
		char *in = exact(b64std_bad[i], n);
		unsigned char out[16];
		size_t outlen = 999;
		enum cid_err rc = cid_b64_decode(in, n, out, sizeof(out), &outlen);

		if (rc != CID_ERR_INVALID)
			fail_msg("b64 row %zu \"%s\": rc %d", i, b64std_bad[i], rc);
		assert_int_equal(outlen, 999);
		free(in);
	}
}

static void test_b64_round_trip_all_lengths(void **state)
{
	unsigned char raw[64], back[64];
	char enc[90];

	(void)state;
	for (size_t i = 0; i < sizeof(raw); i++)
		raw[i] = (unsigned char)(i * 37 + 11);
	for (size_t n = 0; n <= sizeof(raw); n++) {
		size_t outlen = 0;

		assert_int_equal(cid_b64_encode(raw, n, enc, sizeof(enc)), CID_OK);
		assert_int_equal(strlen(enc), cid_b64_len(n));
		assert_int_equal(cid_b64_decode(enc, strlen(enc), back, n, &outlen), CID_OK);
		assert_int_equal(outlen, n);
		assert_memory_equal(back, raw, n);
	}
}

/* ---- cid_url_decode ---- */

static void test_url_decode_plus_only_when_asked(void **state)
{
	char *out = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(cid_url_decode(S("a+b%2Bc"), false, &out, &len), CID_OK);
	assert_string_equal(out, "a+b+c");
	assert_int_equal(len, 5);
	free(out);
	assert_int_equal(cid_url_decode(S("a+b%2Bc"), true, &out, &len), CID_OK);
	assert_string_equal(out, "a b+c");
	free(out);
	/* %00 decodes to a NUL inside the length; the UTF-8 check catches it later */
	assert_int_equal(cid_url_decode(S("x%00y"), false, &out, &len), CID_OK);
	assert_int_equal(len, 3);
	assert_memory_equal(out, "x\0y", 3);
	free(out);
	out = NULL;
	assert_int_equal(cid_url_decode(S("%2"), false, &out, &len), CID_ERR_INVALID);
	assert_null(out);
}

/* ---- form parsing ---- */

#define MAX_PAIRS 4

struct form_row {
	const char *in;
	enum cid_err rc;
	size_t n; /* pairs expected on success */
	const char *pairs[MAX_PAIRS][2];
};

static const struct form_row form_rows[] = {
    {"", CID_OK, 0, {{0}}},
    {"a=1&b=2", CID_OK, 2, {{"a", "1"}, {"b", "2"}}},
    {"a=hello+world", CID_OK, 1, {{"a", "hello world"}}},
    {"a=hello%20world", CID_OK, 1, {{"a", "hello world"}}},
    {"a=%2B%26%3D", CID_OK, 1, {{"a", "+&="}}},
    {"a%5Fb=1", CID_OK, 1, {{"a_b", "1"}}},
    {"na+me=v", CID_OK, 1, {{"na me", "v"}}},
    {"a=%e3%81%82%E3%81%82", CID_OK, 1, {{"a", "\xE3\x81\x82\xE3\x81\x82"}}},
    {"a=\xC3\xA9t\xC3\xA9", CID_OK, 1, {{"a", "\xC3\xA9t\xC3\xA9"}}},
    {"a=l1%0Al2%09", CID_OK, 1, {{"a", "l1\nl2\t"}}},
    {"a=1&&b=2", CID_OK, 2, {{"a", "1"}, {"b", "2"}}},
    {"&a=1&", CID_OK, 1, {{"a", "1"}}},
    {"&&&", CID_OK, 0, {{0}}},
    {"a", CID_OK, 1, {{"a", ""}}},
    {"a=", CID_OK, 1, {{"a", ""}}},
    {"a&b=2", CID_OK, 2, {{"a", ""}, {"b", "2"}}},
    {"a=b=c", CID_OK, 1, {{"a", "b=c"}}},
    {"a=1&A=2", CID_OK, 2, {{"a", "1"}, {"A", "2"}}},
    {"=x", CID_ERR_INVALID, 0, {{0}}},
    {"=", CID_ERR_INVALID, 0, {{0}}},
    {"a=1&=x", CID_ERR_INVALID, 0, {{0}}},
    {"a=%", CID_ERR_INVALID, 0, {{0}}},
    {"a=%4", CID_ERR_INVALID, 0, {{0}}},
    {"a=%zz", CID_ERR_INVALID, 0, {{0}}},
    {"a=%4g", CID_ERR_INVALID, 0, {{0}}},
    {"a=%%41", CID_ERR_INVALID, 0, {{0}}},
    {"%=1", CID_ERR_INVALID, 0, {{0}}},
    {"a=1&b=%", CID_ERR_INVALID, 0, {{0}}},
    {"a=1&a=2", CID_ERR_DUPLICATE, 0, {{0}}},
    {"a=1&b=2&a=1", CID_ERR_DUPLICATE, 0, {{0}}},
    {"a=1&%61=2", CID_ERR_DUPLICATE, 0, {{0}}}, /* same name after decoding */
    {"a&a", CID_ERR_DUPLICATE, 0, {{0}}},
    {"a=%C0%80", CID_ERR_UTF8, 0, {{0}}},    /* overlong NUL */
    {"a=%ED%A0%80", CID_ERR_UTF8, 0, {{0}}}, /* surrogate */
    {"a=%FF", CID_ERR_UTF8, 0, {{0}}},
    {"a=%00", CID_ERR_UTF8, 0, {{0}}},
    {"a=%01", CID_ERR_UTF8, 0, {{0}}},
    {"a=%7F", CID_ERR_UTF8, 0, {{0}}},
    {"a=\xC3", CID_ERR_UTF8, 0, {{0}}},	  /* raw bytes are checked too */
    {"%C0%80=1", CID_ERR_UTF8, 0, {{0}}}, /* and names */
    {"a%00b=1", CID_ERR_UTF8, 0, {{0}}},
};

static void test_form_parse_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(form_rows) / sizeof(form_rows[0]); i++) {
		const struct form_row *r = &form_rows[i];
		size_t n = strlen(r->in);
		char *in = exact(r->in, n);
		struct cid_params p = {0};
		enum cid_err rc = cid_params_parse_form(&p, in, n);

		if (rc != r->rc)
			fail_msg("form row %zu \"%s\": rc %d, expected %d", i, r->in, rc, r->rc);
		if (rc == CID_OK) {
			assert_int_equal(p.n, r->n);
			for (size_t k = 0; k < r->n; k++) {
				assert_string_equal(p.items[k].name, r->pairs[k][0]);
				assert_string_equal(p.items[k].value, r->pairs[k][1]);
				assert_int_equal(p.items[k].value_len, strlen(r->pairs[k][1]));
				if (r->pairs[k][1][0] == '\0') /* empty is omitted */
					assert_null(cid_params_get(&p, r->pairs[k][0]));
				else
					assert_string_equal(cid_params_get(&p, r->pairs[k][0]),
							    r->pairs[k][1]);
			}
		}
		cid_params_clear(&p);
		assert_int_equal(p.n, 0);
		free(in);
	}
}

/*
 * The limits, built rather than spelled out: nparams pairs "pK=v", the first
 * with a name of name_len chars and a value of value_len chars (each value
 * char written as %41 when escaped, so the limit is on the decoded value).
 */
struct limit_row {
	size_t nparams;
	size_t name_len;
	size_t value_len;
	bool escaped;
	enum cid_err rc;
};

static const struct limit_row limit_rows[] = {
    {CID_MAX_PARAMS, 1, 1, false, CID_OK},
    {CID_MAX_PARAMS + 1, 1, 1, false, CID_ERR_TOOBIG},
    {1, CID_MAX_PARAM_NAME, 1, false, CID_OK},
    {1, CID_MAX_PARAM_NAME + 1, 1, false, CID_ERR_TOOBIG},
    {1, 1, CID_MAX_PARAM_VALUE, false, CID_OK},
    {1, 1, CID_MAX_PARAM_VALUE + 1, false, CID_ERR_TOOBIG},
    {1, 1, CID_MAX_PARAM_VALUE, true, CID_OK},
    {1, 1, CID_MAX_PARAM_VALUE + 1, true, CID_ERR_TOOBIG},
    {2, CID_MAX_PARAM_NAME + 1, 1, false, CID_ERR_TOOBIG},
};

static char *build_form(const struct limit_row *r, size_t *len)
{
	size_t cap = r->name_len + 3 * r->value_len + r->nparams * 16 + 16;
	char *s = malloc(cap);
	size_t o = 0;

	assert_non_null(s);
	memset(s, 'n', r->name_len);
	o = r->name_len;
	s[o++] = '=';
	for (size_t k = 0; k < r->value_len; k++) {
		if (r->escaped) {
			// NOLINTNEXTLINE(bugprone-not-null-terminated-result): more follows
			memcpy(s + o, "%41", 3);
			o += 3;
		} else {
			s[o++] = 'v';
		}
	}
	for (size_t k = 1; k < r->nparams; k++)
		o += (size_t)snprintf(s + o, cap - o, "&p%zu=v", k);
	assert_true(o < cap);
	*len = o;
	return s;
}

static void test_form_limits_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(limit_rows) / sizeof(limit_rows[0]); i++) {
		const struct limit_row *r = &limit_rows[i];
		size_t n = 0;
		char *built = build_form(r, &n);
		char *in = exact(built, n);
		struct cid_params p = {0};
		enum cid_err rc = cid_params_parse_form(&p, in, n);

		if (rc != r->rc)
			fail_msg("limit row %zu: rc %d, expected %d", i, rc, r->rc);
		if (rc == CID_OK) {
			assert_int_equal(p.n, r->nparams);
			assert_int_equal(p.items[0].value_len, r->value_len);
			assert_int_equal(strlen(p.items[0].name), r->name_len);
		}
		cid_params_clear(&p);
		free(in);
		free(built);
	}
}

/* Each parameter's value bound: id_token_hint's alone is CID_MAX_ID_TOKEN. */
static const struct {
	const char *name;
	size_t value_len;
	enum cid_err rc;
} value_max_rows[] = {
    {"id_token_hint", CID_MAX_ID_TOKEN, CID_OK},
    {"id_token_hint", CID_MAX_ID_TOKEN + 1, CID_ERR_TOOBIG},
    {"id_token_hin", CID_MAX_PARAM_VALUE + 1, CID_ERR_TOOBIG},
    {"id_token_hintx", CID_MAX_PARAM_VALUE + 1, CID_ERR_TOOBIG},
    {"login_hint", CID_MAX_PARAM_VALUE + 1, CID_ERR_TOOBIG},
    {"login_hint", CID_MAX_PARAM_VALUE, CID_OK},
};

static void test_params_value_max_table(void **state)
{
	char *value = malloc(CID_MAX_ID_TOKEN + 1);

	(void)state;
	assert_non_null(value);
	memset(value, 'v', CID_MAX_ID_TOKEN + 1);
	for (size_t i = 0; i < sizeof(value_max_rows) / sizeof(value_max_rows[0]); i++) {
		struct cid_params p = {0};
		enum cid_err rc =
		    cid_params_add(&p, value_max_rows[i].name, strlen(value_max_rows[i].name),
				   value, value_max_rows[i].value_len);

		if (rc != value_max_rows[i].rc)
			fail_msg("value row %zu: rc %d, expected %d", i, rc, value_max_rows[i].rc);
		cid_params_clear(&p);
	}
	free(value);
}

static void test_params_add_errors_leave_params_unchanged(void **state)
{
	struct cid_params p = {0};

	(void)state;
	assert_int_equal(cid_params_add(&p, S("a"), S("1")), CID_OK);
	assert_int_equal(cid_params_add(&p, S("a"), S("2")), CID_ERR_DUPLICATE);
	assert_int_equal(cid_params_add(&p, "", 0, S("2")), CID_ERR_INVALID);
	assert_int_equal(cid_params_add(&p, S("b"), S("x\0y")), CID_ERR_UTF8);
	assert_int_equal(cid_params_add(&p, S("b\x80"), S("x")), CID_ERR_UTF8);
	assert_int_equal(p.n, 1);
	assert_string_equal(cid_params_get(&p, "a"), "1");
	assert_null(cid_params_get(&p, "b"));
	assert_null(cid_params_get(&p, "A"));
	/* the value is copied: only value_len bytes, then a NUL */
	assert_int_equal(cid_params_add(&p, S("c"), "xyz", 2), CID_OK);
	assert_string_equal(cid_params_get(&p, "c"), "xy");
	cid_params_clear(&p);
	assert_int_equal(p.n, 0);
	assert_null(cid_params_get(&p, "a"));
	cid_params_clear(&p); /* clearing twice is harmless */
}

static void test_str_of_and_eq(void **state)
{
	struct cid_str s = cid_str_of("abc");
	struct cid_str none = cid_str_of(NULL);

	(void)state;
	assert_int_equal(s.len, 3);
	assert_true(cid_str_eq(s, "abc"));
	assert_false(cid_str_eq(s, "ab"));
	assert_false(cid_str_eq(s, "abd"));
	/* an absent member (cid_json_str's NULL) equals nothing, the empty string included */
	assert_false(cid_str_eq(s, NULL));
	assert_false(cid_str_eq(cid_str_of(""), NULL));
	assert_false(cid_str_eq(s, "abcd"));
	assert_null(none.ptr);
	assert_int_equal(none.len, 0);
	assert_true(cid_str_eq(none, ""));
	assert_false(cid_str_eq(none, "a"));
}

/* Links a page may show: absolute http(s) with a host, nothing that escapes. */
static void test_http_url_ok_table(void **state)
{
	static const struct {
		const char *url;
		bool ok;
	} rows[] = {
	    {"https://city.example.jp/privacy", true},
	    {"http://127.0.0.1:8080/x?y=1#z", true},
	    {"https://user@city.example.jp", true},
	    {"https://市役所.example.jp/", true},
	    {"https://", false},
	    {"http://", false},
	    {"https:///path", false},
	    {"https://?q", false},
	    {"https://#f", false},
	    {"https://:443/", false},
	    {"https://@host", false},
	    {"https://a b", false},
	    {"https://a\tb", false},
	    {"https://a\\b", false},
	    {"https://a\x7f", false},
	    {"https://a\xff", false},
	    {"HTTPS://city.example.jp", false},
	    {"javascript:alert(1)", false},
	    {"data:text/html,x", false},
	    {"//city.example.jp", false},
	    {"", false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		assert_int_equal(cid_http_url_ok(rows[i].url, strlen(rows[i].url)), rows[i].ok);
	/* the length, not a NUL, ends the URL */
	assert_false(cid_http_url_ok("https://x", 8));
	assert_true(cid_http_url_ok("https://x y", 9));
}

/* Plain http only to these three hosts, written exactly so. */
static void test_http_loopback_host_table(void **state)
{
	static const struct {
		const char *host;
		bool loopback;
	} rows[] = {
	    {"127.0.0.1", true},  {"[::1]", true},	   {"localhost", true},
	    {"LocalHost", false}, {"127.0.0.2", false},	   {"::1", false},
	    {"", false},	  {"localhost.", false},   {"127.0.0.1.evil.example", false},
	    {"[::2]", false},	  {"localhost:80", false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (cid_http_loopback_host(rows[i].host) != rows[i].loopback)
			fail_msg("%s: expected %d", rows[i].host, rows[i].loopback);
}

/* Scope lists (RFC 6749 §3.3): exact, space-separated words. */
static void test_word_lists(void **state)
{
	static const struct {
		const char *list, *word;
		bool has;
	} has_rows[] = {
	    {"openid profile", "openid", true},
	    {"openid profile", "profile", true},
	    {"openid profile", "prof", false},
	    {"openid profile", "openid profile", false},
	    {"openidprofile", "openid", false},
	    {"  openid  ", "openid", true},
	    {"", "openid", false},
	    {NULL, "openid", false},
	    {"openid", "", false},
	    {"email openid", "OPENID", false},
	};

	static const struct {
		const char *sub, *super;
		bool subset;
	} subset_rows[] = {
	    {"openid", "openid profile", true},
	    {"profile openid", "openid profile", true},
	    {"", "openid", true},
	    {"openid email", "openid profile", false},
	    {"openid  profile", "openid profile", true},
	    {"open", "openid", false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(has_rows) / sizeof(has_rows[0]); i++)
		if (cid_words_has(has_rows[i].list, has_rows[i].word, strlen(has_rows[i].word)) !=
		    has_rows[i].has)
			fail_msg("has row %zu", i);
	for (size_t i = 0; i < sizeof(subset_rows) / sizeof(subset_rows[0]); i++)
		if (cid_words_subset(subset_rows[i].sub, subset_rows[i].super) !=
		    subset_rows[i].subset)
			fail_msg("subset row %zu", i);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_utf8_valid_table),
	    cmocka_unit_test(test_utf8_words_judge_each_byte),
	    cmocka_unit_test(test_utf8_valid_reads_only_n_bytes),
	    cmocka_unit_test(test_parse_u64_table),
	    cmocka_unit_test(test_parse_u64_uses_length_not_nul),
	    cmocka_unit_test(test_b64url_len_table),
	    cmocka_unit_test(test_b64url_encode_table),
	    cmocka_unit_test(test_b64url_decode_table),
	    cmocka_unit_test(test_b64url_decode_rejects),
	    cmocka_unit_test(test_b64url_round_trip_all_lengths),
	    cmocka_unit_test(test_b64_encode_decode_table),
	    cmocka_unit_test(test_b64_decode_rejects),
	    cmocka_unit_test(test_b64_round_trip_all_lengths),
	    cmocka_unit_test(test_url_decode_plus_only_when_asked),
	    cmocka_unit_test(test_form_parse_table),
	    cmocka_unit_test(test_form_limits_table),
	    cmocka_unit_test(test_params_value_max_table),
	    cmocka_unit_test(test_params_add_errors_leave_params_unchanged),
	    cmocka_unit_test(test_str_of_and_eq),
	    cmocka_unit_test(test_http_url_ok_table),
	    cmocka_unit_test(test_http_loopback_host_table),
	    cmocka_unit_test(test_word_lists),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
