/*
 * audit_scan: verification's one-pass look at an entry's bytes. Its promise
 * is one-sided: what it accepts jansson reads, audit_canon_ok accepts, and
 * the compact sorted dump writes back byte for byte, with the same seq and
 * prev; what it declines is checked the slow way. The table shows both
 * sides; the mutations look for an accepted entry jansson would refuse.
 */
#include "audit_int.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define PREV	       "ac74bda0922a31980c14aa3deadcb74de45ed353e30a7f08a0a6b98dcdd0f76d"
#define ENTRY(members) "{" members ",\"prev\":\"" PREV "\",\"seq\":7}"
#define MUTATIONS      200000

/* The slow judgment, as verification makes it: canonical, and its seq and prev. */
static bool jansson_canonical(const char *p, size_t n, json_int_t *seq, const char **prev,
			      json_t **keep)
{
	json_t *e = json_loadb(p, n, JSON_REJECT_DUPLICATES, NULL);
	char *dump;
	bool same;

	*keep = e;
	if (!json_is_object(e) || !audit_canon_ok(e, 0))
		return false;
	dump = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS);
	assert_non_null(dump);
	same = strlen(dump) == n && memcmp(dump, p, n) == 0;
	free(dump);
	*seq = json_integer_value(json_object_get(e, "seq"));
	*prev = json_string_value(json_object_get(e, "prev"));
	return same && json_is_integer(json_object_get(e, "seq")) && *prev != NULL;
}

/* Fails unless an entry the scan accepts is canonical with the same seq and prev. */
static bool check_one(const char *p, size_t n)
{
	struct audit_scan sc;
	json_int_t seq = -1;
	const char *prev = NULL;
	json_t *keep = NULL;
	bool yes = audit_entry_scan(p, n, &sc);

	if (yes) {
		if (!jansson_canonical(p, n, &seq, &prev, &keep))
			fail_msg("the scan accepts what jansson refuses: %.*s", (int)n, p);
		if (seq < 0 || (uint64_t)seq != sc.seq || strlen(prev) != sc.prev_len ||
		    memcmp(prev, sc.prev, sc.prev_len) != 0)
			fail_msg("the scan reads another seq or prev: %.*s", (int)n, p);
	}
	json_decref(keep);
	return yes;
}

static const struct {
	const char *entry;
	bool scan;	/* the scan vouches for it */
	bool canonical; /* jansson's judgment */
} table[] = {
    {ENTRY("\"actor\":\"service\",\"attributes\":[\"birthdate\",\"email\"],\"level\":2"), true,
     true},
    {ENTRY("\"a\":\"tab\\there, quote \\\" and \\\\ backslash\\n\""), true, true},
    {ENTRY("\"a\":[],\"b\":{},\"c\":[true,false,null],\"d\":{\"x\":[1,{\"y\":-2}]}"), true, true},
    {ENTRY("\"a\":9223372036854775807,\"b\":-9223372036854775808"), true, true},
    {ENTRY("\"a\":0,\"b\":-1"), true, true},
    {ENTRY("\"\":1,\"a\":1,\"ab\":1,\"b\":1"), true, true}, /* a prefix sorts first */
    {ENTRY("\"a\":[[[[[[[1]]]]]]]"), true, true},	    /* depth 8 */
    /* what the scan leaves to jansson, canonical all the same */
    {ENTRY("\"a\":[[[[[[[[1]]]]]]]]"), false, true}, /* depth 9 */
    {ENTRY("\"name\":\"\xe5\xb1\xb1\xe7\x94\xb0\""), false, true},
    {ENTRY("\"a\":\"\\u0001\""), false, true},
    {ENTRY("\"a\":\"\x7f\""), false, true},
    {ENTRY("\"a\\n\":1"), false, true},
    /* not canonical: both refuse */
    {ENTRY("\"b\":1,\"a\":1"), false, false},
    {ENTRY("\"a\":1,\"a\":1"), false, false},
    {ENTRY("\"a\": 1"), false, false},
    {ENTRY("\"a\":-0"), false, false},
    {ENTRY("\"a\":01"), false, false},
    {ENTRY("\"a\":1.5"), false, false},
    {ENTRY("\"a\":1e3"), false, false},
    {ENTRY("\"a\":9223372036854775808"), false, false},
    {ENTRY("\"a\":-9223372036854775809"), false, false},
    {ENTRY("\"a\":\"\\/\""), false, false},
    {ENTRY("\"a\":\"\\u0041\""), false, false},
    {ENTRY("\"a\":\"\\q\""), false, false},
    {ENTRY("\"a\":\"x\ty\""), false, false},
    {ENTRY("\"a\":tru"), false, false},
    {ENTRY("\"a\":[1,]"), false, false},
    {ENTRY("\"a\":{\"b\":1,}"), false, false},
    {ENTRY("\"a\":[1 ]"), false, false},
    {ENTRY("\"\xc3\xa9\":1"), false, false}, /* a name must be ASCII */
    {"{\"prev\":\"" PREV "\",\"seq\":7} ", false, false},
    {"{\"prev\":\"" PREV "\",\"seq\":7", false, false},
    {"[1]", false, false},
    {"", false, false},
    /* canonical, but no seq or prev the scan can vouch for: the slow way names it */
    {"{\"prev\":\"" PREV "\",\"seq\":-7}", false, true},
    {"{\"prev\":\"" PREV "\"}", false, false},
    {"{\"prev\":\"" PREV "\",\"seq\":\"7\"}", false, false},
    {"{\"prev\":1,\"seq\":7}", false, false},
    {"{\"prev\":\"a\\\"b\",\"seq\":7}", false, true},
};

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		const char *e = table[i].entry;
		size_t n = strlen(e);
		json_int_t seq;
		const char *prev;
		json_t *keep = NULL;
		bool canonical = jansson_canonical(e, n, &seq, &prev, &keep);

		json_decref(keep);
		if (check_one(e, n) != table[i].scan)
			fail_msg("row %zu: the scan %s %s", i,
				 table[i].scan ? "declines" : "accepts", e);
		if (canonical != table[i].canonical)
			fail_msg("row %zu: jansson %s %s", i, canonical ? "accepts" : "refuses", e);
	}
}

/* A small deterministic PRNG (xorshift64*): the same mutations every run. */
static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

/* Entries damaged byte by byte: whatever the scan still accepts must be canonical. */
static void test_mutations_never_fool_the_scan(void **state)
{
	static const char *const bases[] = {
	    ENTRY("\"actor\":\"service\",\"attributes\":[\"birthdate\",\"email\"],\"citizen\":"
		  "\"ps_3b2be766\",\"level\":2,\"nil\":null,\"ok\":true"),
	    ENTRY("\"a\":\"t\\\"ab\\\\\\n\",\"b\":{\"c\":[-12,0,{}],\"d\":[]},\"e\":false"),
	};
	/* bytes that matter to JSON, and some that do not */
	static const char alphabet[] = "{}[]\",:\\-0123456789.eEtfnrul \x01\x7f\xc3\xa9/azA";
	uint64_t rng = 0x9e3779b97f4a7c15ULL;
	size_t accepted = 0;
	char buf[512];

	(void)state;
	for (size_t m = 0; m < MUTATIONS; m++) {
		const char *base = bases[m % 2];
		size_t n = strlen(base);
		unsigned edits = 1 + (unsigned)(next_rand(&rng) % 3);

		// NOLINTNEXTLINE(bugprone-not-null-terminated-result): n bytes to mutate
		memcpy(buf, base, n);
		for (unsigned k = 0; k < edits; k++) {
			uint64_t r = next_rand(&rng);
			size_t at = (size_t)(r % n);
			char c = alphabet[(r >> 20) % (sizeof(alphabet) - 1)];

			switch ((r >> 40) % 3) {
			case 0: buf[at] = c; break;
			case 1: /* insert */
				if (n + 1 < sizeof(buf)) {
					memmove(buf + at + 1, buf + at, n - at);
					buf[at] = c;
					n++;
				}
				break;
			default: /* delete */
				memmove(buf + at, buf + at + 1, n - at - 1);
				n--;
				break;
			}
		}
		accepted += check_one(buf, n);
	}
	/* some damage leaves an entry canonical (a digit for a digit): the scan saw those too */
	assert_true(accepted > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_mutations_never_fool_the_scan),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
