/*
 * law: the APPI's forms (law.h). Each check reads its input once, left to
 * right, against the grammar its header gives, so that what it accepts is
 * exactly what the header and the README document; dates are counted in
 * Japan's time (UTC+9, which has had no daylight saving since 1952), on the
 * proleptic Gregorian calendar, without the C library's time zone state.
 */
#include "law.h"

#include <stdio.h>
#include <string.h>

#define JST_OFFSET   ((int64_t)9 * 3600)
#define MAX_LAW_NAME 300 /* bytes: the longest law names are ~60 kanji */
#define MAX_KANJI    8	 /* numerals of one number: 九千九百九十九 is 7 */

/* ---- citations ---- */

struct cursor {
	const char *s;
	size_t n, i;
};

/* Consumes lit if the input continues with it. */
static bool eat(struct cursor *c, const char *lit)
{
	size_t k = strlen(lit);

	if (c->n - c->i < k || memcmp(c->s + c->i, lit, k) != 0)
		return false;
	c->i += k;
	return true;
}

static bool eat_kanji_digit(struct cursor *c)
{
	static const char *const numerals[] = {"一", "二", "三", "四", "五", "六",
					       "七", "八", "九", "十", "百", "千"};

	for (size_t k = 0; k < sizeof(numerals) / sizeof(numerals[0]); k++)
		if (eat(c, numerals[k]))
			return true;
	return false;
}

/* N: 1..9999 in ASCII digits without a leading 0, or 1..MAX_KANJI kanji numerals. */
static bool eat_number(struct cursor *c)
{
	size_t start = c->i, k = 0;

	if (c->i < c->n && c->s[c->i] >= '1' && c->s[c->i] <= '9') {
		while (c->i < c->n && c->s[c->i] >= '0' && c->s[c->i] <= '9')
			c->i++;
		return c->i - start <= 4;
	}
	while (k < MAX_KANJI && eat_kanji_digit(c))
		k++;
	return k > 0 && !eat_kanji_digit(c);
}

/* Whether the law's name s[0..n) ends as a law's name does. */
static bool law_name_ok(const char *s, size_t n)
{
	static const char *const ends[] = {"法", "律", "令", "例", "則"};

	for (size_t k = 0; k < sizeof(ends) / sizeof(ends[0]); k++) {
		size_t e = strlen(ends[k]);
		if (n >= e && memcmp(s + n - e, ends[k], e) == 0)
			return true;
	}
	return false;
}

/* The caption: "(...)" or "（...）", closed, not empty, not nested. */
static bool eat_caption(struct cursor *c, const char **why)
{
	const char *close = NULL;

	if (eat(c, "("))
		close = ")";
	else if (eat(c, "（"))
		close = "）";
	else
		return true;
	size_t start = c->i;
	while (c->i < c->n) {
		size_t before = c->i;
		if (eat(c, close)) {
			if (before == start) {
				*why = "the article's caption is empty";
				return false;
			}
			return true;
		}
		c->i++;
	}
	*why = "the article's caption is not closed";
	return false;
}

enum part { PART_NONE, PART_OK, PART_BAD };

/*
 * An optional [" "] "第" N unit, and for 号 ("の" N)*: PART_NONE (not there,
 * nothing consumed), PART_OK or PART_BAD (*why set).
 */
static enum part eat_part(struct cursor *c, const char *unit, const char **why)
{
	size_t at = c->i;

	(void)eat(c, " ");
	if (!eat(c, "第") || !eat_number(c) || !eat(c, unit)) {
		c->i = at;
		return PART_NONE;
	}
	while (strcmp(unit, "号") == 0 && eat(c, "の")) {
		if (!eat_number(c)) {
			*why = "a branch item is not 号のN";
			return PART_BAD;
		}
	}
	return PART_OK;
}

static bool citation(struct cursor *c, const char **why)
{
	const char *mark = "第";
	const char *at = NULL;

	for (size_t i = 0; i + strlen(mark) <= c->n; i++) {
		if (memcmp(c->s + i, mark, strlen(mark)) == 0) {
			at = c->s + i;
			break;
		}
	}
	if (at == NULL) {
		*why = "no article: cite it as LAW 第N条 (e.g. 住民基本台帳法 第12条)";
		return false;
	}
	size_t name = (size_t)(at - c->s);
	if (name > 0 && c->s[name - 1] == ' ')
		name--;
	if (name == 0) {
		*why = "no law name before the article";
		return false;
	}
	if (name > MAX_LAW_NAME || memchr(c->s, ' ', name) != NULL ||
	    memchr(c->s, '\t', name) != NULL) {
		*why = "the law's name has a blank, or is too long";
		return false;
	}
	if (!law_name_ok(c->s, name)) {
		*why = "the law's name does not end as a law's does (法, 法律, 令, 条例, 規則)";
		return false;
	}
	c->i = (size_t)(at - c->s);
	if (!(eat(c, "第") && eat_number(c) && eat(c, "条"))) {
		*why = "the article is not 第N条 (N in digits or kanji numerals)";
		return false;
	}
	while (eat(c, "の"))
		if (!eat_number(c)) {
			*why = "a branch article is not 条のN";
			return false;
		}
	if (eat_part(c, "項", why) == PART_BAD || eat_part(c, "号", why) == PART_BAD)
		return false;
	if (!eat_caption(c, why))
		return false;
	if (c->i == c->n)
		return true;
	if (eat(c, " / ") && c->i < c->n)
		return true;
	*why = "unexpected text after the citation (an English rendering follows \" / \")";
	return false;
}

bool cid_law_citation_ok(const char *s, size_t n, const char **why)
{
	struct cursor c = {s, n, 0};
	const char *reason = NULL;
	bool ok = s != NULL && citation(&c, &reason);

	if (s == NULL)
		reason = "no citation";
	if (!ok && why != NULL)
		*why = reason;
	return ok;
}

/* ---- corporate numbers ---- */

bool cid_law_corporate_number_ok(const char *s, size_t n)
{
	unsigned sum = 0;

	if (s == NULL || n != 13)
		return false;
	for (size_t i = 0; i < 13; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	/* P1 is the last digit: s[12]; odd positions weigh 1, even ones 2 */
	for (size_t pos = 1; pos <= 12; pos++)
		sum += (unsigned)(s[13 - pos] - '0') * (pos % 2 == 1 ? 1U : 2U);
	return (unsigned)(s[0] - '0') == 9 - sum % 9;
}

/* ---- relationships ---- */

static const char *const relationship_names[] = {
    [CID_RELATIONSHIP_THIRD_PARTY] = "third_party",
    [CID_RELATIONSHIP_ENTRUSTED] = "entrusted",
    [CID_RELATIONSHIP_INTERNAL] = "internal",
};

bool cid_relationship_parse(const char *s, size_t n, enum cid_relationship *out)
{
	for (size_t r = 0;
	     s != NULL && r < sizeof(relationship_names) / sizeof(*relationship_names); r++) {
		if (strlen(relationship_names[r]) == n &&
		    memcmp(s, relationship_names[r], n) == 0) {
			*out = (enum cid_relationship)r;
			return true;
		}
	}
	return false;
}

const char *cid_relationship_name(enum cid_relationship r)
{
	switch (r) {
	case CID_RELATIONSHIP_THIRD_PARTY:
	case CID_RELATIONSHIP_ENTRUSTED:
	case CID_RELATIONSHIP_INTERNAL: return relationship_names[r];
	default: return "third_party";
	}
}

bool cid_relationship_is_provision(enum cid_relationship r)
{
	return r != CID_RELATIONSHIP_ENTRUSTED && r != CID_RELATIONSHIP_INTERNAL;
}

/* ---- retention ---- */

/* Days since 1970-01-01 of y-m-d (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static unsigned month_days(int64_t y, unsigned m)
{
	static const unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

#define MAX_TIME ((int64_t)253402300799) /* 9999-12-31T23:59:59Z */

static bool day_of(int64_t t, int64_t *day)
{
	if (t < 0 || t > MAX_TIME)
		return false;
	*day = (t + JST_OFFSET) / 86400;
	return true;
}

static void day_format(int64_t day, char out[11])
{
	int64_t y;
	unsigned m, d;

	civil_from_days(day, &y, &m, &d);
	if (y < 1970 || y > 9999) {
		out[0] = '\0';
		return;
	}
	snprintf(out, 11, "%04d-%02u-%02u", (int)y, m, d);
}

void cid_law_day(int64_t t, char out[11])
{
	int64_t day;

	out[0] = '\0';
	if (day_of(t, &day))
		day_format(day, out);
}

unsigned cid_provision_retention_years(enum cid_provision_method m)
{
	return m == CID_PROVISION_RECORD_CONTRACT ? 1 : 3;
}

bool cid_provision_purge_allowed(int64_t last, int64_t now, enum cid_provision_method m,
				 char keep_until[11])
{
	int64_t provided, today, y;
	unsigned mo, d;

	if (keep_until != NULL)
		keep_until[0] = '\0';
	if (!day_of(last, &provided) || !day_of(now, &today))
		return false;
	/* the period starts the next day; it ends the day before that date N years on */
	civil_from_days(provided + 1, &y, &mo, &d);
	y += cid_provision_retention_years(m);
	int64_t first_free = d <= month_days(y, mo) ? days_from_civil(y, mo, d)
						    : days_from_civil(y, mo, month_days(y, mo)) + 1;
	if (keep_until != NULL)
		day_format(first_free - 1, keep_until);
	return today >= first_free;
}
