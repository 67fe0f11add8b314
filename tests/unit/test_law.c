/*
 * Tests of law: one table per form the APPI asks for. Citations a local
 * government may give and those it may not (each refusal with its reason);
 * corporate numbers with a right and a wrong check digit; which
 * relationships make a third-party provision; and the days a provision
 * record is kept, counted in Japan's time as the Civil Code counts periods
 * (the day after, the day before the anniversary, a missing 29 February).
 */
#include "law.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))

struct citation_case {
	const char *text;
	bool ok;
	const char *why; /* a word of the reason when refused */
};

static const struct citation_case citations[] = {
    {"住民基本台帳法 第12条", true, NULL},
    {"住民基本台帳法第12条の2第1項", true, NULL},
    {"子ども・子育て支援法 第20条 第1項", true, NULL},
    {"地方税法 第22条 第1項 第3号", true, NULL},
    {"個人情報の保護に関する法律施行規則 第21条 第2号", true, NULL},
    {"児童福祉法 第21条の5の3 第1項 第2号の2", true, NULL},
    {"国民健康保険法施行令 第二十九条の七の二 第一項", true, NULL},
    {"横浜市個人情報の保護に関する法律施行条例 第3条（定義）", true, NULL},
    {"災害対策基本法 第49条の10(避難行動要支援者名簿の作成) / Disaster Countermeasures "
     "Basic Act, Art. 49-10",
     true, NULL},
    {"行政手続における特定の個人を識別するための番号の利用等に関する法律 第9条 第2項", true, NULL},
    {"", false, "no article"},
    {"Test Act, Art. 1", false, "no article"},
    {"Act 1", false, "no article"},
    {"第12条", false, "no law name"},
    {"住民基本台帳 第12条", false, "does not end as a law's"},
    {"住 民法 第1条", false, "blank"},
    {"住民基本台帳法 第12項", false, "第N条"},
    {"住民基本台帳法 第012条", false, "第N条"},
    {"住民基本台帳法 第12345条", false, "第N条"},
    {"住民基本台帳法 第条", false, "第N条"},
    {"住民基本台帳法 第12条の", false, "branch article"},
    {"地方税法 第22条 第1項 第3号の", false, "branch item"},
    {"住民基本台帳法 第12条(定義", false, "not closed"},
    {"住民基本台帳法 第12条()", false, "empty"},
    {"住民基本台帳法 第12条 /", false, "unexpected text"},
    {"住民基本台帳法 第12条 / ", false, "unexpected text"},
    {"住民基本台帳法 第12条 and more", false, "unexpected text"},
    {"住民基本台帳法 第12条 第1号第2項", false, "unexpected text"},
    {"住民基本台帳法 第12条ノ2", false, "unexpected text"},
};

static void test_citation_forms(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(citations); i++) {
		const struct citation_case *c = &citations[i];
		const char *why = NULL;
		bool ok = cid_law_citation_ok(c->text, strlen(c->text), &why);

		if (ok != c->ok)
			fail_msg("\"%s\": %s, want %s (%s)", c->text, ok ? "accepted" : "refused",
				 c->ok ? "accepted" : "refused", why ? why : "");
		if (!c->ok && (why == NULL || strstr(why, c->why) == NULL))
			fail_msg("\"%s\": reason \"%s\" lacks \"%s\"", c->text,
				 why ? why : "(none)", c->why);
	}
	assert_false(cid_law_citation_ok(NULL, 0, NULL));
	/* a length shorter than the string: only the part given is read */
	assert_false(
	    cid_law_citation_ok("住民基本台帳法 第12条", strlen("住民基本台帳法 第12"), NULL));
}

struct number_case {
	const char *text;
	bool ok;
};

static const struct number_case numbers[] = {
    {"7000012050002", true},   /* the National Tax Agency */
    {"1180301018771", true},   /* a company in Aichi */
    {"5010401067252", true},   /* a company in Tokyo */
    {"8000012050002", false},  /* the Agency's with a wrong check digit */
    {"4000020141003", false},  /* wrong check digit */
    {"700001205000", false},   /* 12 digits */
    {"70000120500021", false}, /* 14 digits */
    {"700001205000a", false},  {"7000-12050002", false}, {"", false},
};

static void test_corporate_number_check_digit(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(numbers); i++)
		if (cid_law_corporate_number_ok(numbers[i].text, strlen(numbers[i].text)) !=
		    numbers[i].ok)
			fail_msg("%s: want %s", numbers[i].text,
				 numbers[i].ok ? "valid" : "invalid");
	/* every check digit but the right one is refused */
	char n[] = "0000012050002";
	unsigned valid = 0;
	for (int d = '0'; d <= '9'; d++) {
		n[0] = (char)d;
		valid += cid_law_corporate_number_ok(n, 13);
	}
	assert_int_equal(valid, 1);
	assert_false(cid_law_corporate_number_ok(NULL, 13));
}

struct relationship_case {
	const char *text;
	bool parses;
	enum cid_relationship r;
	bool listed; /* a provision the records list */
};

static const struct relationship_case relationships[] = {
    {"third_party", true, CID_RELATIONSHIP_THIRD_PARTY, true},
    {"entrusted", true, CID_RELATIONSHIP_ENTRUSTED, false},
    {"internal", true, CID_RELATIONSHIP_INTERNAL, false},
    {"Third_party", false, CID_RELATIONSHIP_THIRD_PARTY, true},
    {"third-party", false, CID_RELATIONSHIP_THIRD_PARTY, true},
    {"", false, CID_RELATIONSHIP_THIRD_PARTY, true},
};

static void test_relationship_listed_or_not(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(relationships); i++) {
		const struct relationship_case *c = &relationships[i];
		enum cid_relationship r = CID_RELATIONSHIP_THIRD_PARTY;

		assert_int_equal(cid_relationship_parse(c->text, strlen(c->text), &r), c->parses);
		if (!c->parses)
			continue;
		assert_int_equal(r, c->r);
		assert_string_equal(cid_relationship_name(r), c->text);
		assert_int_equal(cid_relationship_is_provision(r), c->listed);
	}
}

struct retention_case {
	int64_t last, now;
	enum cid_provision_method method;
	bool allowed;
	const char *keep_until;
};

/* 2026-12-05T01:00:00Z is 10:00 in Japan on 5 December 2026 */
#define T_2026_12_05_01 ((int64_t)1796432400)
#define HOUR		((int64_t)3600)
#define DAY		(24 * HOUR)

static const struct retention_case retentions[] = {
    /* the last day kept: 2029-12-05, up to its last second in Japan */
    {T_2026_12_05_01, (int64_t)1891177199 /* 2029-12-05T23:59:59 in Japan */,
     CID_PROVISION_RECORD_STANDARD, false, "2029-12-05"},
    {T_2026_12_05_01, (int64_t)1891177200 /* 2029-12-06T00:00:00 in Japan */,
     CID_PROVISION_RECORD_STANDARD, true, "2029-12-05"},
    {T_2026_12_05_01, T_2026_12_05_01, CID_PROVISION_RECORD_STANDARD, false, "2029-12-05"},
    /* 00:30 in Japan on 5 December is 4 December in UTC: Japan's day counts */
    {T_2026_12_05_01 - 9 * HOUR - (int64_t)30 * 60, T_2026_12_05_01, CID_PROVISION_RECORD_STANDARD,
     false, "2029-12-05"},
    /* 23:30 in Japan on 4 December */
    {T_2026_12_05_01 - 10 * HOUR - (int64_t)30 * 60, T_2026_12_05_01, CID_PROVISION_RECORD_STANDARD,
     false, "2029-12-04"},
    /* the contract method: 1 year */
    {T_2026_12_05_01, T_2026_12_05_01 + 366 * DAY, CID_PROVISION_RECORD_CONTRACT, true,
     "2027-12-05"},
    {T_2026_12_05_01, T_2026_12_05_01 + 364 * DAY, CID_PROVISION_RECORD_CONTRACT, false,
     "2027-12-05"},
    /* 28 Feb 2028 (Japan): the period starts on 29 Feb, which 2031 lacks: ends 28 Feb */
    {(int64_t)1835319600, (int64_t)1835319600, CID_PROVISION_RECORD_STANDARD, false, "2031-02-28"},
    /* 29 Feb 2028: starts 1 March, ends the day before 1 March 2031 */
    {(int64_t)1835406000, (int64_t)1835406000, CID_PROVISION_RECORD_STANDARD, false, "2031-02-28"},
    /* out of range */
    {-1, T_2026_12_05_01, CID_PROVISION_RECORD_STANDARD, false, ""},
    {T_2026_12_05_01, (int64_t)253402300800, CID_PROVISION_RECORD_STANDARD, false, ""},
};

static void test_provision_retention(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(retentions); i++) {
		const struct retention_case *c = &retentions[i];
		char keep[11] = "x";
		bool allowed = cid_provision_purge_allowed(c->last, c->now, c->method, keep);

		if (allowed != c->allowed || strcmp(keep, c->keep_until) != 0)
			fail_msg("case %zu: allowed %d keep_until %s, want %d %s", i, allowed, keep,
				 c->allowed, c->keep_until);
	}
	assert_int_equal(cid_provision_retention_years(CID_PROVISION_RECORD_STANDARD), 3);
	assert_int_equal(cid_provision_retention_years(CID_PROVISION_RECORD_CONTRACT), 1);
	assert_true(
	    cid_provision_purge_allowed(0, T_2026_12_05_01, CID_PROVISION_RECORD_STANDARD, NULL));
}

static void test_law_day_is_japan(void **state)
{
	char day[11];

	(void)state;
	cid_law_day(T_2026_12_05_01, day);
	assert_string_equal(day, "2026-12-05");
	cid_law_day(T_2026_12_05_01 + 14 * HOUR, day); /* 00:00 on the 6th in Japan */
	assert_string_equal(day, "2026-12-06");
	cid_law_day(-1, day);
	assert_string_equal(day, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_citation_forms),
	    cmocka_unit_test(test_corporate_number_check_digit),
	    cmocka_unit_test(test_relationship_listed_or_not),
	    cmocka_unit_test(test_provision_retention),
	    cmocka_unit_test(test_law_day_is_japan),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
