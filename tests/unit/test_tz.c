/*
 * tz: local times from TZif files. The zones of Debian's tzdata
 * (/usr/share/zoneinfo, deploy/install-deps.sh) read as a row says: the
 * offset in force and the text a page shows, around the transitions of a
 * zone with daylight saving time, before the first transition, and far
 * beyond the last one (the footer rule); the same rules from files built
 * here (no transitions, only the footer), so the footer is proved apart from
 * how the system's files were compiled; and every file the parser must
 * refuse, with the error it must say.
 */
#include "support.h"
#include "tz.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* 2026-03-29 01:00:00 UTC: Europe's clocks go forward; 2026-10-25 01:00:00 UTC: back. */
#define EU_SPRING_2026 1774746000
#define EU_AUTUMN_2026 1792890000

struct row {
	const char *zone;
	int64_t t;
	int32_t offset;
	const char *ja; /* cid_tz_format, with the time */
	const char *en;
};

static const struct row rows[] = {
    /* the brief's example: 2026-12-04 12:55 UTC in Tokyo */
    {"Asia/Tokyo", 1796388900, 9 * 3600, "2026年12月4日 21:55", "4 December 2026, 21:55"},
    {"Asia/Tokyo", 0, 9 * 3600, "1970年1月1日 09:00", "1 January 1970, 09:00"},
    /* Tokyo kept summer time 1948-1951: 1950-07-01 00:00 UTC is 10:00 JDT */
    {"Asia/Tokyo", -615513600, 10 * 3600, "1950年7月1日 10:00", "1 July 1950, 10:00"},
    {"UTC", 1796388900, 0, "2026年12月4日 12:55", "4 December 2026, 12:55"},
    /* Berlin, the spring transition: the second before, and the second of it */
    {"Europe/Berlin", EU_SPRING_2026 - 1, 3600, "2026年3月29日 01:59", "29 March 2026, 01:59"},
    {"Europe/Berlin", EU_SPRING_2026, 7200, "2026年3月29日 03:00", "29 March 2026, 03:00"},
    /* the autumn one: 02:59 CEST, then 02:00 CET again */
    {"Europe/Berlin", EU_AUTUMN_2026 - 1, 7200, "2026年10月25日 02:59", "25 October 2026, 02:59"},
    {"Europe/Berlin", EU_AUTUMN_2026, 3600, "2026年10月25日 02:00", "25 October 2026, 02:00"},
    /* far beyond the file's last transition: the footer rule decides */
    {"Europe/Berlin", 4118079600, 7200, "2100年7月1日 01:00", "1 July 2100, 01:00"},
    {"Europe/Berlin", 4103654400, 3600, "2100年1月15日 01:00", "15 January 2100, 01:00"},
    /* before the first transition: local mean time, +0:53:28 */
    {"Europe/Berlin", -5364662400, 3208, "1800年1月1日 00:53", "1 January 1800, 00:53"},
    /* the southern hemisphere: summer time spans the new year */
    {"Australia/Sydney", 1767225600, 11 * 3600, "2026年1月1日 11:00", "1 January 2026, 11:00"},
    {"Australia/Sydney", 1782864000, 10 * 3600, "2026年7月1日 10:00", "1 July 2026, 10:00"},
};

static void test_system_zones(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		struct cid_tz *tz = NULL;
		char err[256] = "";
		char text[CID_TZ_TEXT_MAX];

		if (cid_tz_load(CID_TZ_DIR, r->zone, &tz, err, sizeof(err)) != CID_OK)
			fail_msg("row %zu: %s (deploy/install-deps.sh installs tzdata)", i, err);
		assert_string_equal(cid_tz_name(tz), r->zone);
		if (cid_tz_offset(tz, r->t) != r->offset)
			fail_msg("row %zu %s at %lld: offset %d, expected %d", i, r->zone,
				 (long long)r->t, cid_tz_offset(tz, r->t), r->offset);
		assert_int_equal(cid_tz_format(tz, r->t, "ja", true, text), CID_OK);
		if (strcmp(text, r->ja) != 0)
			fail_msg("row %zu: \"%s\", expected \"%s\"", i, text, r->ja);
		assert_int_equal(cid_tz_format(tz, r->t, "en", true, text), CID_OK);
		if (strcmp(text, r->en) != 0)
			fail_msg("row %zu: \"%s\", expected \"%s\"", i, text, r->en);
		cid_tz_free(tz);
	}
}

/* The date alone, and the fallback zone. */
static void test_date_only_and_utc(void **state)
{
	struct cid_tz *tz = NULL;
	char text[CID_TZ_TEXT_MAX];
	struct cid_civil c;

	(void)state;
	assert_int_equal(cid_tz_utc(&tz), CID_OK);
	assert_string_equal(cid_tz_name(tz), "UTC");
	assert_int_equal(cid_tz_format(tz, 1796388900, "ja", false, text), CID_OK);
	assert_string_equal(text, "2026年12月4日");
	assert_int_equal(cid_tz_format(tz, 1796388900, "en", false, text), CID_OK);
	assert_string_equal(text, "4 December 2026");
	/* a locale we do not have reads as Japanese, the pages' default */
	assert_int_equal(cid_tz_format(tz, 1796388900, NULL, false, text), CID_OK);
	assert_string_equal(text, "2026年12月4日");
	cid_tz_local(tz, -1, &c);
	assert_int_equal(c.year, 1969);
	assert_int_equal(c.month, 12);
	assert_int_equal(c.day, 31);
	assert_int_equal(c.hour, 23);
	assert_int_equal(c.minute, 59);
	assert_int_equal(c.second, 59);
	/* years a page cannot show */
	assert_int_equal(cid_tz_format(tz, 253402300800, "en", true, text), CID_ERR_INVALID);
	assert_int_equal(cid_tz_format(tz, -62135596801, "en", true, text), CID_ERR_INVALID);
	assert_int_equal(cid_tz_format(tz, INT64_MAX, "en", true, text), CID_ERR_INVALID);
	assert_int_equal(cid_tz_format(tz, INT64_MIN, "en", true, text), CID_ERR_INVALID);
	cid_tz_free(tz);
	cid_tz_free(NULL);
}

/* ---- TZif files built here ---- */

struct file {
	uint8_t b[8192];
	size_t n;
};

static void put(struct file *f, const void *p, size_t n)
{
	if (n == 0)
		return;
	assert_true(f->n + n <= sizeof(f->b));
	memcpy(f->b + f->n, p, n);
	f->n += n;
}

static void put32(struct file *f, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};

	put(f, b, 4);
}

static void put64(struct file *f, int64_t v)
{
	put32(f, (uint32_t)((uint64_t)v >> 32));
	put32(f, (uint32_t)v);
}

/* One zone's data: transitions (with their type), types (offset, dst), and a footer. */
struct zone {
	const int64_t *trans;
	const uint8_t *idx;
	size_t n_trans;
	const int32_t *offs;
	size_t n_types;
	const char *footer; /* NULL: a version 1 file */
};

static void header(struct file *f, char version, const struct zone *z)
{
	uint8_t pad[15] = {0};

	put(f, "TZif", 4);
	put(f, &version, 1);
	put(f, pad, sizeof(pad));
	put32(f, 0); /* isutcnt */
	put32(f, 0); /* isstdcnt */
	put32(f, 0); /* leapcnt */
	put32(f, (uint32_t)z->n_trans);
	put32(f, (uint32_t)z->n_types);
	put32(f, 4); /* charcnt: "ZZZ\0" */
}

static void data(struct file *f, const struct zone *z, bool wide)
{
	for (size_t i = 0; i < z->n_trans; i++) {
		if (wide)
			put64(f, z->trans[i]);
		else
			put32(f, (uint32_t)z->trans[i]);
	}
	put(f, z->idx, z->n_trans);
	for (size_t i = 0; i < z->n_types; i++) {
		uint8_t dst_abbr[2] = {0, 0};

		put32(f, (uint32_t)z->offs[i]);
		put(f, dst_abbr, 2);
	}
	put(f, "ZZZ", 4);
}

static void build(struct file *f, const struct zone *z)
{
	f->n = 0;
	header(f, z->footer == NULL ? '\0' : '2', z);
	data(f, z, false);
	if (z->footer == NULL)
		return;
	header(f, '2', z);
	data(f, z, true);
	put(f, "\n", 1);
	put(f, z->footer, strlen(z->footer));
	put(f, "\n", 1);
}

struct footer_row {
	const char *footer;
	int64_t t;
	int32_t offset;
};

/* Footers alone (a zone with no transition), as a "slim" file leaves the future to them. */
static void test_footer_rules(void **state)
{
	static const int32_t offs[] = {0};
	static const struct footer_row frows[] = {
	    {"JST-9", 1796388900, 9 * 3600},
	    {"<+0530>-5:30", 0, 5 * 3600 + 1800},
	    {"<-03>3", 0, -3 * 3600},
	    {"UTC0", 1796388900, 0},
	    /* Europe: last Sunday of March 01:00 UTC to last Sunday of October 01:00 UTC */
	    {"CET-1CEST,M3.5.0,M10.5.0/3", EU_SPRING_2026 - 1, 3600},
	    {"CET-1CEST,M3.5.0,M10.5.0/3", EU_SPRING_2026, 7200},
	    {"CET-1CEST,M3.5.0,M10.5.0/3", EU_AUTUMN_2026 - 1, 7200},
	    {"CET-1CEST,M3.5.0,M10.5.0/3", EU_AUTUMN_2026, 3600},
	    /* 2027: March 28 and October 31 (M.5: the last, not a fifth that is not there) */
	    {"CET-1CEST,M3.5.0,M10.5.0/3", 1806195599, 3600},
	    {"CET-1CEST,M3.5.0,M10.5.0/3", 1806195600, 7200},
	    {"CET-1CEST,M3.5.0,M10.5.0/3", 1824944400, 3600},
	    /* the US: second Sunday of March 2:00 EST, first Sunday of November 2:00 EDT */
	    {"EST5EDT,M3.2.0,M11.1.0", 1772953199, -5 * 3600}, /* 2026-03-08 06:59:59Z */
	    {"EST5EDT,M3.2.0,M11.1.0", 1772953200, -4 * 3600},
	    {"EST5EDT,M3.2.0,M11.1.0", 1793512799, -4 * 3600}, /* 2026-11-01 05:59:59Z */
	    {"EST5EDT,M3.2.0,M11.1.0", 1793512800, -5 * 3600},
	    /* Sydney: DST from the first Sunday of October to the first Sunday of April */
	    {"AEST-10AEDT,M10.1.0,M4.1.0/3", 1767225600, 11 * 3600},
	    {"AEST-10AEDT,M10.1.0,M4.1.0/3", 1782864000, 10 * 3600},
	    /* Julian days: J60 is March 1 in every year; 59 (zero-based) is Feb 29 in a leap year
	     */
	    {"AAA3BBB,J60/0,J300/0", 1772334000, -2 * 3600}, /* 2026-03-01 03:00Z */
	    {"AAA3BBB,J60/0,J300/0", 1772333999, -3 * 3600}, /* a second before */
	    {"AAA3BBB,59/0,300/0", 1709175600, -2 * 3600},   /* 2024-02-29 03:00Z */
	    {"AAA3BBB,59/0,300/0", 1709175599, -3 * 3600},
	    /* a DST offset of its own, and times beyond 24 h (TZif v3) */
	    {"XXX-2YYY-4,M3.5.0/-1,M10.5.0/26", EU_SPRING_2026 + 3600, 4 * 3600},
	};
	struct file f;

	(void)state;
	for (size_t i = 0; i < sizeof(frows) / sizeof(frows[0]); i++) {
		struct zone z = {NULL, NULL, 0, offs, 1, frows[i].footer};
		struct cid_tz *tz = NULL;

		build(&f, &z);
		if (cid_tz_parse(f.b, f.n, "test", &tz) != CID_OK)
			fail_msg("footer %s: refused", frows[i].footer);
		if (cid_tz_offset(tz, frows[i].t) != frows[i].offset)
			fail_msg("footer %s at %lld: %d, expected %d", frows[i].footer,
				 (long long)frows[i].t, cid_tz_offset(tz, frows[i].t),
				 frows[i].offset);
		cid_tz_free(tz);
	}
}

/* Transitions of a file: before the first, between, after the last (v1: type of the last). */
static void test_transitions(void **state)
{
	static const int64_t trans[] = {1000, 2000, 3000};
	static const uint8_t idx[] = {1, 2, 1};
	static const int32_t offs[] = {100, 200, 300};

	static const struct {
		int64_t t;
		int32_t v1, v2;
	} at[] = {
	    {-5000000000, 100, 100}, {999, 100, 100},	{1000, 200, 200},	 {1999, 200, 200},
	    {2000, 300, 300},	     {3000, 200, 3600}, {5000000000, 200, 3600},
	};
	struct zone v1 = {trans, idx, 3, offs, 3, NULL};
	struct zone v2 = {trans, idx, 3, offs, 3, "<+01>-1"};
	struct cid_tz *a = NULL;
	struct cid_tz *b = NULL;
	struct file f;

	(void)state;
	build(&f, &v1);
	assert_int_equal(cid_tz_parse(f.b, f.n, "v1", &a), CID_OK);
	build(&f, &v2);
	assert_int_equal(cid_tz_parse(f.b, f.n, "v2", &b), CID_OK);
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		if (cid_tz_offset(a, at[i].t) != at[i].v1 || cid_tz_offset(b, at[i].t) != at[i].v2)
			fail_msg("t=%lld: %d %d, expected %d %d", (long long)at[i].t,
				 cid_tz_offset(a, at[i].t), cid_tz_offset(b, at[i].t), at[i].v1,
				 at[i].v2);
	}
	cid_tz_free(a);
	cid_tz_free(b);
}

/* Files the parser refuses, each with the error it must say. */
static void test_bad_files(void **state)
{
	static const int64_t up[] = {1000, 2000};
	static const int64_t down[] = {2000, 1000};
	static const uint8_t idx_ok[] = {0, 0};
	static const uint8_t idx_bad[] = {0, 5};
	static const int32_t ok[] = {3600};
	static const int32_t huge[] = {100000};

	static const struct {
		const char *name;
		struct zone z;
		size_t cut; /* bytes cut from the end */
		enum cid_err want;
	} bad[] = {
	    {"descending transitions", {down, idx_ok, 2, ok, 1, "UTC0"}, 0, CID_ERR_INVALID},
	    {"a type index past the types", {up, idx_bad, 2, ok, 1, "UTC0"}, 0, CID_ERR_INVALID},
	    {"an offset beyond 26 hours", {up, idx_ok, 2, huge, 1, "UTC0"}, 0, CID_ERR_INVALID},
	    {"no type at all", {NULL, NULL, 0, ok, 0, "UTC0"}, 0, CID_ERR_INVALID},
	    {"a footer that is no TZ string",
	     {up, idx_ok, 2, ok, 1, "CET-1CEST"},
	     0,
	     CID_ERR_INVALID},
	    {"a footer with a month 13",
	     {up, idx_ok, 2, ok, 1, "CET-1CEST,M13.5.0,M10.5.0"},
	     0,
	     CID_ERR_INVALID},
	    {"a footer with trailing bytes", {up, idx_ok, 2, ok, 1, "JST-9 x"}, 0, CID_ERR_INVALID},
	    {"a footer offset of 25 hours", {up, idx_ok, 2, ok, 1, "ABC-25"}, 0, CID_ERR_INVALID},
	    {"the footer's closing newline cut",
	     {up, idx_ok, 2, ok, 1, "UTC0"},
	     1,
	     CID_ERR_INVALID},
	    {"the 64-bit block cut short", {up, idx_ok, 2, ok, 1, "UTC0"}, 12, CID_ERR_INVALID},
	    {"a version 1 file cut short", {up, idx_ok, 2, ok, 1, NULL}, 3, CID_ERR_INVALID},
	};
	struct file f;
	struct cid_tz *tz = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enum cid_err rc;

		build(&f, &bad[i].z);
		rc = cid_tz_parse(f.b, f.n - bad[i].cut, "bad", &tz);
		if (rc != bad[i].want)
			fail_msg("%s: %s", bad[i].name, cid_strerror(rc));
	}
	/* not TZif at all, and nothing */
	assert_int_equal(cid_tz_parse((const uint8_t *)"TZof and more bytes than a header has "
						       "for sure, really",
				      50, "x", &tz),
			 CID_ERR_INVALID);
	assert_int_equal(cid_tz_parse((const uint8_t *)"", 0, "x", &tz), CID_ERR_INVALID);
	/* a count over its bound is refused before anything is read */
	{
		struct zone z = {up, idx_ok, 2, ok, 1, "UTC0"};

		build(&f, &z);
		f.b[32] = 0x01; /* timecnt of the first header: 2 + 2^24 */
		assert_int_equal(cid_tz_parse(f.b, f.n, "x", &tz), CID_ERR_TOOBIG);
		assert_int_equal(cid_tz_parse(f.b, CID_TZ_MAX_FILE + 1, "x", &tz), CID_ERR_TOOBIG);
	}
}

/* Names that may be joined to the zone directory, and a zone that is not there. */
static void test_names_and_missing_zone(void **state)
{
	static const struct {
		const char *name;
		bool ok;
	} names[] = {
	    {"Asia/Tokyo", true},
	    {"UTC", true},
	    {"Etc/GMT+9", true},
	    {"America/Port-au-Prince", true},
	    {"America/Argentina/Buenos_Aires", true},
	    {"", false},
	    {"/etc/passwd", false},
	    {"../../etc/passwd", false},
	    {"Asia/../../x", false},
	    {"Asia//Tokyo", false},
	    {"Asia/Tokyo/", false},
	    {"Asia/./Tokyo", false},
	    {"Asia/Tokyo\n", false},
	    {"Asia Tokyo", false},
	    {NULL, false},
	};
	struct cid_tz *tz = NULL;
	char err[256] = "";
	char dir[256];

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (cid_tz_name_ok(names[i].name) != names[i].ok)
			fail_msg("%s: expected %s", names[i].name == NULL ? "NULL" : names[i].name,
				 names[i].ok ? "a name" : "no name");
	assert_int_equal(cid_tz_load(CID_TZ_DIR, "Nowhere/Atlantis", &tz, err, sizeof(err)),
			 CID_ERR_NOTFOUND);
	assert_non_null(strstr(err, "Nowhere/Atlantis"));
	assert_int_equal(cid_tz_load(CID_TZ_DIR, "../etc/passwd", &tz, err, sizeof(err)),
			 CID_ERR_INVALID);
	assert_non_null(strstr(err, "not a time zone name"));
	/* a file that is not TZif */
	cid_test_tmpdir(dir);
	{
		char path[512];
		FILE *f;

		snprintf(path, sizeof(path), "%s/Bad", dir);
		f = fopen(path, "w");
		assert_non_null(f);
		fputs("not a zone\n", f);
		fclose(f);
	}
	assert_int_equal(cid_tz_load(dir, "Bad", &tz, err, sizeof(err)), CID_ERR_INVALID);
	assert_non_null(strstr(err, "not a valid TZif file"));
	cid_test_rmdir(dir);
}

/* The records' times, and only that form. */
static void test_time_parse(void **state)
{
	static const struct {
		const char *s;
		enum cid_err rc;
		int64_t t;
	} trows[] = {
	    {"2026-12-04T12:55:00Z", CID_OK, 1796388900},
	    {"1970-01-01T00:00:00Z", CID_OK, 0},
	    {"2024-02-29T23:59:59Z", CID_OK, 1709251199},
	    {"2026-02-29T00:00:00Z", CID_ERR_INVALID, 0},
	    {"2026-12-04T24:00:00Z", CID_ERR_INVALID, 0},
	    {"2026-12-04 12:55:00Z", CID_ERR_INVALID, 0},
	    {"2026-12-04T12:55:00", CID_ERR_INVALID, 0},
	    {"2026-12-04T12:55:00+09:00", CID_ERR_INVALID, 0},
	    {"2026-13-04T12:55:00Z", CID_ERR_INVALID, 0},
	    {"", CID_ERR_INVALID, 0},
	    {NULL, CID_ERR_INVALID, 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(trows) / sizeof(trows[0]); i++) {
		int64_t t = -1;

		if (cid_time_parse(trows[i].s, &t) != trows[i].rc ||
		    (trows[i].rc == CID_OK && t != trows[i].t))
			fail_msg("%s: %lld", trows[i].s == NULL ? "NULL" : trows[i].s,
				 (long long)t);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_system_zones), cmocka_unit_test(test_date_only_and_utc),
	    cmocka_unit_test(test_footer_rules), cmocka_unit_test(test_transitions),
	    cmocka_unit_test(test_bad_files),	 cmocka_unit_test(test_names_and_missing_zone),
	    cmocka_unit_test(test_time_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
