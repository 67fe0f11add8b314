/*
 * buf: the hard cap and the sticky error (a half-built response can never be
 * taken), formatted appends on both sides of the 256-byte stack buffer, and
 * the HTML and URL escapes, each as a table of input and expected output.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

/* cmocka.h needs setjmp.h, stdarg.h and stddef.h before it */
#include <cmocka.h>

#define S(lit) lit, sizeof(lit) - 1

/* The content so far is NUL-terminated and len bytes long. */
static void assert_content(const struct cid_buf *b, const char *want, size_t n)
{
	assert_int_equal(b->len, n);
	if (n == 0 && b->data == NULL)
		return;
	assert_non_null(b->data);
	assert_memory_equal(b->data, want, n);
	assert_int_equal(b->data[n], '\0');
}

static void test_append_puts_take_then_reuse(void **state)
{
	struct cid_buf b;
	size_t len = 0;

	(void)state;
	cid_buf_init(&b, 1024);
	cid_buf_append(&b, S("abc"));
	cid_buf_puts(&b, "def");
	cid_buf_append(&b, "ghiXXX", 3);
	cid_buf_append(&b, "", 0);
	assert_int_equal(cid_buf_status(&b), CID_OK);
	assert_content(&b, "abcdefghi", 9);

	char *s = cid_buf_take(&b, &len);
	assert_non_null(s);
	assert_string_equal(s, "abcdefghi");
	assert_int_equal(len, 9);
	free(s);

	/* take resets: the buffer is empty and usable again with the same cap */
	assert_int_equal(b.len, 0);
	assert_null(b.data);
	assert_int_equal(b.max, 1024);
	cid_buf_puts(&b, "again");
	assert_content(&b, "again", 5);
	cid_buf_free(&b);
}

static void test_take_of_empty_buffer_gives_empty_string(void **state)
{
	struct cid_buf b;
	size_t len = 99;

	(void)state;
	cid_buf_init(&b, 16);
	char *s = cid_buf_take(&b, &len);
	assert_non_null(s);
	assert_string_equal(s, "");
	assert_int_equal(len, 0);
	free(s);
}

/*
 * Cap rows: up to three appends into a buffer of max bytes, and what the
 * buffer must report and hold afterwards. Once TOOBIG, later appends that
 * would fit are still ignored (the error is sticky).
 */
struct cap_row {
	size_t max;
	const char *appends[3];
	enum cid_err rc;
	const char *content; /* on CID_OK */
};

static const struct cap_row cap_rows[] = {
    {0, {"", NULL}, CID_OK, ""},
    {0, {"x", NULL}, CID_ERR_TOOBIG, NULL},
    {5, {"abcde", NULL}, CID_OK, "abcde"},
    {5, {"abc", "de", NULL}, CID_OK, "abcde"},
    {5, {"abc", "def", NULL}, CID_ERR_TOOBIG, NULL},
    {5, {"abcdef", NULL}, CID_ERR_TOOBIG, NULL},
    {5, {"abcdef", "a", NULL}, CID_ERR_TOOBIG, NULL}, /* sticky: "a" would fit */
    {5, {"abcde", "x", ""}, CID_ERR_TOOBIG, NULL},
    {300, {"", "", ""}, CID_OK, ""},
};

static void test_cap_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cap_rows) / sizeof(cap_rows[0]); i++) {
		const struct cap_row *r = &cap_rows[i];
		struct cid_buf b;
		size_t len = 12345;

		cid_buf_init(&b, r->max);
		for (size_t k = 0; k < 3 && r->appends[k] != NULL; k++)
			cid_buf_puts(&b, r->appends[k]);
		if (cid_buf_status(&b) != r->rc)
			fail_msg("cap row %zu: status %d, expected %d", i, cid_buf_status(&b),
				 r->rc);
		assert_true(b.len <= r->max);
		char *s = cid_buf_take(&b, &len);
		if (r->rc == CID_OK) {
			assert_non_null(s);
			assert_string_equal(s, r->content);
			assert_int_equal(len, strlen(r->content));
		} else {
			/* a failed buffer is never handed out, and len stays untouched */
			assert_null(s);
			assert_int_equal(len, 12345);
			assert_int_equal(cid_buf_status(&b), r->rc);
		}
		free(s);
		cid_buf_free(&b);
	}
}

static void test_free_clears_error_and_keeps_cap(void **state)
{
	struct cid_buf b;

	(void)state;
	cid_buf_init(&b, 3);
	cid_buf_puts(&b, "toolong");
	assert_int_equal(cid_buf_status(&b), CID_ERR_TOOBIG);
	cid_buf_free(&b);
	assert_int_equal(cid_buf_status(&b), CID_OK);
	assert_int_equal(b.max, 3);
	cid_buf_puts(&b, "abc");
	assert_int_equal(cid_buf_status(&b), CID_OK);
	assert_content(&b, "abc", 3);
	cid_buf_free(&b);
	cid_buf_free(&b); /* freeing an empty buffer is harmless */
}

static void test_growth_keeps_content(void **state)
{
	struct cid_buf b;
	char want[5000];

	(void)state;
	cid_buf_init(&b, sizeof(want));
	for (size_t i = 0; i < sizeof(want); i++) {
		want[i] = (char)('a' + i % 26);
		cid_buf_append(&b, &want[i], 1);
	}
	assert_int_equal(cid_buf_status(&b), CID_OK);
	assert_content(&b, want, sizeof(want));
	assert_true(b.cap > b.len);
	cid_buf_append(&b, "x", 1);
	assert_int_equal(cid_buf_status(&b), CID_ERR_TOOBIG);
	assert_int_equal(b.len, sizeof(want));
	cid_buf_free(&b);
}

/*
 * printf rows: a string of n 'x' formatted as "%s|%d" (n + 3 bytes) after a
 * prefix. The formatter uses a 256-byte stack buffer first and formats again
 * into the heap when the result does not fit, so the rows straddle 255/256.
 */
static const size_t printf_lens[] = {0, 1, 200, 251, 252, 253, 254, 256, 300, 1000, 10000};

static void test_printf_lengths_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(printf_lens) / sizeof(printf_lens[0]); i++) {
		size_t n = printf_lens[i];
		char *arg = malloc(n + 1);
		char *want = malloc(n + 16);
		struct cid_buf b;

		assert_non_null(arg);
		assert_non_null(want);
		memset(arg, 'x', n);
		arg[n] = '\0';
		snprintf(want, n + 16, "pre:%s|42", arg);

		cid_buf_init(&b, (size_t)64 * 1024);
		cid_buf_puts(&b, "pre:");
		cid_buf_printf(&b, "%s|%d", arg, 42);
		assert_int_equal(cid_buf_status(&b), CID_OK);
		assert_content(&b, want, n + 7);
		cid_buf_free(&b);
		free(want);
		free(arg);
	}
}

static void test_printf_over_cap_is_toobig(void **state)
{
	struct cid_buf b;
	char arg[600];

	(void)state;
	memset(arg, 'y', sizeof(arg) - 1);
	arg[sizeof(arg) - 1] = '\0';

	/* long path (> 256): exactly at the cap fits, one more does not */
	cid_buf_init(&b, sizeof(arg) - 1);
	cid_buf_printf(&b, "%s", arg);
	assert_int_equal(cid_buf_status(&b), CID_OK);
	assert_int_equal(b.len, sizeof(arg) - 1);
	cid_buf_printf(&b, "%c", 'z');
	assert_int_equal(cid_buf_status(&b), CID_ERR_TOOBIG);
	assert_int_equal(b.len, sizeof(arg) - 1);
	cid_buf_free(&b);

	cid_buf_init(&b, 100);
	cid_buf_printf(&b, "%s", arg);
	assert_int_equal(cid_buf_status(&b), CID_ERR_TOOBIG);
	assert_int_equal(b.len, 0);
	cid_buf_free(&b);

	/* short path (< 256) over a small cap */
	cid_buf_init(&b, 4);
	cid_buf_printf(&b, "%d", 12345);
	assert_int_equal(cid_buf_status(&b), CID_ERR_TOOBIG);
	cid_buf_free(&b);
}

static void test_printf_formats(void **state)
{
	struct cid_buf b;

	(void)state;
	cid_buf_init(&b, 256);
	cid_buf_printf(&b, "%s=%u;%ld;%zu;%.3s;%5d;%%", "k", 7u, -1L, (size_t)9, "abcdef", 42);
	assert_int_equal(cid_buf_status(&b), CID_OK);
	assert_content(&b, S("k=7;-1;9;abc;   42;%"));
	cid_buf_free(&b);
}

struct esc_row {
	const char *in;
	size_t len;
	const char *out;
};

static const struct esc_row html_rows[] = {
    {S(""), ""},
    {S("plain text"), "plain text"},
    {S("<script>alert(1)</script>"), "&lt;script&gt;alert(1)&lt;/script&gt;"},
    {S("a&b"), "a&amp;b"},
    {S("&amp;"), "&amp;amp;"},
    {S("\"'"), "&quot;&#39;"},
    {S("x\" onload=\"y"), "x&quot; onload=&quot;y"},
    {S("<<>>"), "&lt;&lt;&gt;&gt;"},
    {S("end<"), "end&lt;"},
    {S(">start"), "&gt;start"},
    {S("\xC3\xA9t\xC3\xA9 & \xE3\x81\x82"), "\xC3\xA9t\xC3\xA9 &amp; \xE3\x81\x82"},
    {"abc<def", 3, "abc"}, /* only n bytes are read */
};

static const struct esc_row urlenc_rows[] = {
    {S(""), ""},
    {S("AZaz09-._~"), "AZaz09-._~"},
    {S(" "), "%20"},
    {S("a b&c=d"), "a%20b%26c%3Dd"},
    {S("+"), "%2B"},
    {S("%"), "%25"},
    {S("/?#[]@!$'()*,;:"), "%2F%3F%23%5B%5D%40%21%24%27%28%29%2A%2C%3B%3A"},
    {S("https://rp.example/cb?x=1"), "https%3A%2F%2Frp.example%2Fcb%3Fx%3D1"},
    {S("\xC3\xA9"), "%C3%A9"},
    {S("\x00"), "%00"},
    {S("\x7F\xFF"), "%7F%FF"},
    {S("\r\n"), "%0D%0A"},
    {"abc def", 3, "abc"},
};

static void run_esc_table(const struct esc_row *rows, size_t n,
			  void (*append)(struct cid_buf *, const char *, size_t))
{
	for (size_t i = 0; i < n; i++) {
		const struct esc_row *r = &rows[i];
		struct cid_buf b;

		cid_buf_init(&b, 4096);
		cid_buf_puts(&b, "[");
		append(&b, r->in, r->len);
		cid_buf_puts(&b, "]");
		assert_int_equal(cid_buf_status(&b), CID_OK);
		if (b.len != strlen(r->out) + 2 || memcmp(b.data + 1, r->out, b.len - 2) != 0)
			fail_msg("row %zu: got \"%s\", expected \"[%s]\"", i, b.data, r->out);
		cid_buf_free(&b);
	}
}

static void test_html_escape_table(void **state)
{
	(void)state;
	run_esc_table(html_rows, sizeof(html_rows) / sizeof(html_rows[0]), cid_buf_append_html);
}

static void test_urlenc_table(void **state)
{
	(void)state;
	run_esc_table(urlenc_rows, sizeof(urlenc_rows) / sizeof(urlenc_rows[0]),
		      cid_buf_append_urlenc);
}

static void test_escapes_respect_the_cap(void **state)
{
	struct cid_buf b;

	(void)state;
	/* the cap counts escaped bytes, not input bytes */
	cid_buf_init(&b, 4);
	cid_buf_append_html(&b, S("<"));
	assert_int_equal(cid_buf_status(&b), CID_OK);
	assert_content(&b, S("&lt;"));
	cid_buf_append_html(&b, S("a"));
	assert_int_equal(cid_buf_status(&b), CID_ERR_TOOBIG);
	cid_buf_free(&b);

	cid_buf_init(&b, 5);
	cid_buf_append_urlenc(&b, S("  "));
	assert_int_equal(cid_buf_status(&b), CID_ERR_TOOBIG);
	assert_true(b.len <= 5);
	cid_buf_free(&b);
}

/*
 * A JSON text is whole or an error: under every cap short of its length the
 * buffer is in error (whichever piece hit the cap, an object key included,
 * whose failure jansson's json_dumps drops), and at its length it is
 * json_dumps's text.
 */
static void test_json_is_whole_or_an_error(void **state)
{
	json_t *v = json_pack("{s:i, s:s, s:[i, i], s:{s:b}}", "a", 1, "bb", "x\"y", "c", 1, 2, "d",
			      "e", 1);
	size_t flags = JSON_COMPACT | JSON_SORT_KEYS;
	char *want = json_dumps(v, flags);
	char *got = cid_json_dumps(v, flags);
	size_t len = strlen(want);
	struct cid_buf b;

	(void)state;
	assert_string_equal(got, want);
	for (size_t max = 0; max < len; max++) {
		cid_buf_init(&b, max);
		cid_buf_append_json(&b, v, flags);
		if (cid_buf_status(&b) != CID_ERR_TOOBIG)
			fail_msg("cap %zu of %zu: %s", max, len, b.data == NULL ? "" : b.data);
		assert_null(cid_buf_take(&b, NULL));
		cid_buf_free(&b);
	}
	cid_buf_init(&b, len);
	cid_buf_append_json(&b, v, flags);
	assert_int_equal(cid_buf_status(&b), CID_OK);
	assert_string_equal(b.data, want);
	cid_buf_free(&b);
	free(got);
	free(want);
	json_decref(v);
}

/*
 * A JSON string is written as jansson writes it: every byte of ASCII alone,
 * quote and backslash, control characters and NUL inside, and UTF-8 as is.
 */
static void test_json_str_is_what_jansson_writes(void **state)
{
	static const char utf8[] = "caf\xc3\xa9 \xe6\x9d\xb1\xe4\xba\xac \xf0\x9f\x8f\x99 a/b";
	char one[1];
	struct cid_buf b;

	(void)state;
	for (int i = -1; i < 0x80; i++) {
		const char *s = i < 0 ? utf8 : one;
		size_t n = i < 0 ? sizeof(utf8) - 1 : 1;
		json_t *v;
		char *want;

		one[0] = (char)i;
		v = json_stringn(s, n);
		assert_non_null(v);
		want = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
		assert_non_null(want);
		cid_buf_init(&b, 4096);
		cid_buf_append_json_str(&b, s, n);
		assert_int_equal(cid_buf_status(&b), CID_OK);
		if (strcmp(b.data, want) != 0)
			fail_msg("byte %d: got %s, jansson writes %s", i, b.data, want);
		cid_buf_free(&b);
		free(want);
		json_decref(v);
	}
	/* the empty string, and the cap counts the escapes */
	cid_buf_init(&b, 4096);
	cid_buf_append_json_str(&b, S(""));
	assert_content(&b, S("\"\""));
	cid_buf_free(&b);
	cid_buf_init(&b, 7);
	cid_buf_append_json_str(&b, S("\x01"));
	assert_int_equal(cid_buf_status(&b), CID_ERR_TOOBIG);
	cid_buf_free(&b);
}

/*
 * Longer strings go eight bytes at a time while no byte needs escaping: each
 * ASCII byte, and a UTF-8 character, at each place of three words, alone
 * and beside a quote, is still written as jansson writes it.
 */
static void test_json_str_by_words_is_what_jansson_writes(void **state)
{
	char s[24];
	struct cid_buf b;

	(void)state;
	for (int c = 0; c <= 0x80; c++) {
		for (size_t at = 0; at < sizeof(s) - 1; at++) {
			for (int quote = 0; quote < 2; quote++) {
				json_t *v;
				char *want;

				memset(s, 'a', sizeof(s));
				if (c == 0x80) { /* é, two bytes */
					s[at] = (char)0xc3;
					s[at + 1] = (char)0xa9;
				} else {
					s[at] = (char)c;
				}
				if (quote)
					s[(at + 9) % sizeof(s)] = '"';
				v = json_stringn(s, sizeof(s));
				if (v == NULL) /* the quote split the UTF-8 character */
					continue;
				want = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
				assert_non_null(want);
				cid_buf_init(&b, 4096);
				cid_buf_append_json_str(&b, s, sizeof(s));
				assert_int_equal(cid_buf_status(&b), CID_OK);
				if (strcmp(b.data, want) != 0)
					fail_msg("byte %d at %zu: got %s, jansson writes %s", c, at,
						 b.data, want);
				cid_buf_free(&b);
				free(want);
				json_decref(v);
			}
		}
	}
}

/*
 * A string written in pieces (cid_buf_append_json_chars between quotes) is
 * the string written whole: each piece escaped alike, the quotes once.
 */
static void test_json_chars_in_pieces_are_the_whole_string(void **state)
{
	static const char *const pieces[] = {"statute:", "\u5150\u7ae5 \"art.\" \\", "", "\x01\t/"};
	struct cid_buf whole;
	struct cid_buf parts;

	(void)state;
	cid_buf_init(&whole, 4096);
	cid_buf_init(&parts, 4096);
	cid_buf_append_json_str(&whole, S("statute:\u5150\u7ae5 \"art.\" \\\x01\t/"));
	cid_buf_append(&parts, "\"", 1);
	for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++)
		cid_buf_append_json_chars(&parts, pieces[i], strlen(pieces[i]));
	cid_buf_append(&parts, "\"", 1);
	assert_int_equal(cid_buf_status(&whole), CID_OK);
	assert_content(&parts, whole.data, whole.len);
	cid_buf_free(&whole);
	cid_buf_free(&parts);
}

/* An integer is written in decimal as printf does, the extremes included. */
static void test_int_table(void **state)
{
	static const int64_t rows[] = {0, 1, -1, 9, 10, -10, 1733367000, INT64_MAX, INT64_MIN};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char want[32];
		struct cid_buf b;

		(void)snprintf(want, sizeof(want), "%" PRId64, rows[i]);
		cid_buf_init(&b, 64);
		cid_buf_append_int(&b, rows[i]);
		assert_int_equal(cid_buf_status(&b), CID_OK);
		if (strcmp(b.data, want) != 0)
			fail_msg("row %zu: got %s, expected %s", i, b.data, want);
		cid_buf_free(&b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_append_puts_take_then_reuse),
	    cmocka_unit_test(test_take_of_empty_buffer_gives_empty_string),
	    cmocka_unit_test(test_cap_table),
	    cmocka_unit_test(test_free_clears_error_and_keeps_cap),
	    cmocka_unit_test(test_growth_keeps_content),
	    cmocka_unit_test(test_printf_lengths_table),
	    cmocka_unit_test(test_printf_over_cap_is_toobig),
	    cmocka_unit_test(test_printf_formats),
	    cmocka_unit_test(test_html_escape_table),
	    cmocka_unit_test(test_urlenc_table),
	    cmocka_unit_test(test_escapes_respect_the_cap),
	    cmocka_unit_test(test_json_is_whole_or_an_error),
	    cmocka_unit_test(test_json_str_is_what_jansson_writes),
	    cmocka_unit_test(test_json_str_by_words_is_what_jansson_writes),
	    cmocka_unit_test(test_json_chars_in_pieces_are_the_whole_string),
	    cmocka_unit_test(test_int_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
