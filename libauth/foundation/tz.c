/*
 * tz: a TZif reader (RFC 8536) and the one formatter of times for people.
 *
 * A TZif file is a header of six counts and blocks sized by them. Each count
 * is checked against its CID_TZ_MAX_* bound and the whole block against the
 * bytes left before anything is read, every index against its table, and the
 * transitions must ascend, so a hostile or damaged file is refused whole and
 * a zone that exists is always consistent: a lookup is a binary search that
 * cannot leave its arrays. After the last transition the footer's POSIX TZ
 * rule decides (parsed here at load, evaluated per lookup without
 * allocating). Calendar arithmetic is Howard Hinnant's days_from_civil and
 * civil_from_days on int64, so no libc time function (and no TZ variable)
 * is involved.
 */
#include "tz.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY	  86400
#define MAX_UTOFF 93599 /* RFC 8536 §3.2: utoff within -89999..93599 (±25:59:59, + some) */
#define MIN_UTOFF (-89999)

/* A date of a POSIX TZ rule: Jn (1..365, no Feb 29), n (0..365), or Mm.w.d. */
struct rule_date {
	char kind; /* 'J', 'N' or 'M' */
	int n;	   /* J, N */
	int month, week, wday;
	int32_t time; /* seconds after local midnight the change happens (may be < 0 or > 24 h) */
};

/* The footer: std offset, and, with DST, the DST offset and the two dates. */
struct rule {
	int32_t std_off; /* seconds east of UTC */
	bool has_dst;
	int32_t dst_off;
	struct rule_date start, end;
};

struct cid_tz {
	char name[CID_TZ_MAX_NAME + 1];
	size_t n_trans;
	int64_t *trans;	     /* n_trans ascending instants */
	uint8_t *trans_type; /* the type in force from trans[i] on */
	size_t n_types;
	int32_t type_off[CID_TZ_MAX_TYPES];
	bool has_rule;
	struct rule rule;
};

/* ---- the calendar ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era;
	int64_t yoe;
	int64_t doy;
	int64_t doe;

	y -= m <= 2;
	era = floor_div(y, 400);
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t era;
	int64_t doe;
	int64_t yoe;
	int64_t doy;
	int64_t mp;

	z += 719468;
	era = floor_div(z, 146097);
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static bool leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int64_t y, int m)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	return m == 2 && leap(y) ? 29 : days[m - 1];
}

/* 0 = Sunday, for a day number since 1970-01-01 (a Thursday). */
static int weekday(int64_t days)
{
	return (int)(((days % 7) + 11) % 7);
}

/* ---- the POSIX TZ footer ---- */

struct text {
	const char *p;
	const char *end;
};

static bool at(const struct text *t, char c)
{
	return t->p < t->end && *t->p == c;
}

static bool digit(const struct text *t)
{
	return t->p < t->end && *t->p >= '0' && *t->p <= '9';
}

/* An unsigned number of at most 3 digits into *v. */
static bool number(struct text *t, int *v)
{
	int n = 0;
	int digits = 0;

	while (digit(t) && digits < 3) {
		n = n * 10 + (*t->p++ - '0');
		digits++;
	}
	*v = n;
	return digits > 0 && !digit(t);
}

/* A zone abbreviation: three or more letters, or <...> of letters, digits, '+', '-'. */
static bool abbreviation(struct text *t)
{
	size_t n = 0;

	if (at(t, '<')) {
		t->p++;
		while (t->p < t->end && *t->p != '>') {
			char c = *t->p++;

			if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			      (c >= '0' && c <= '9') || c == '+' || c == '-'))
				return false;
			n++;
		}
		if (!at(t, '>'))
			return false;
		t->p++;
		return n >= 1;
	}
	while (t->p < t->end &&
	       ((*t->p >= 'A' && *t->p <= 'Z') || (*t->p >= 'a' && *t->p <= 'z'))) {
		t->p++;
		n++;
	}
	return n >= 3;
}

/* [+-]hh[:mm[:ss]] with hh at most max_hours, into *secs (sign applied). */
static bool clock_value(struct text *t, int max_hours, int32_t *secs)
{
	int sign = 1;
	int h;
	int m = 0;
	int s = 0;

	if (at(t, '+') || at(t, '-'))
		sign = *t->p++ == '-' ? -1 : 1;
	if (!number(t, &h) || h > max_hours)
		return false;
	if (at(t, ':')) {
		t->p++;
		if (!number(t, &m) || m > 59)
			return false;
		if (at(t, ':')) {
			t->p++;
			if (!number(t, &s) || s > 59)
				return false;
		}
	}
	*secs = sign * (h * 3600 + m * 60 + s);
	return true;
}

/* ",date[/time]" of a rule. */
static bool rule_date(struct text *t, struct rule_date *r)
{
	if (!at(t, ','))
		return false;
	t->p++;
	r->time = 7200;
	if (at(t, 'J')) {
		t->p++;
		r->kind = 'J';
		if (!number(t, &r->n) || r->n < 1 || r->n > 365)
			return false;
	} else if (at(t, 'M')) {
		t->p++;
		r->kind = 'M';
		if (!number(t, &r->month) || r->month < 1 || r->month > 12 || !at(t, '.'))
			return false;
		t->p++;
		if (!number(t, &r->week) || r->week < 1 || r->week > 5 || !at(t, '.'))
			return false;
		t->p++;
		if (!number(t, &r->wday) || r->wday > 6)
			return false;
	} else {
		r->kind = 'N';
		if (!number(t, &r->n) || r->n > 365)
			return false;
	}
	if (at(t, '/')) {
		t->p++;
		/* RFC 8536 §3.3.1: TZif v3 allows -167..167 hours */
		if (!clock_value(t, 167, &r->time))
			return false;
	}
	return true;
}

/* The footer text into *r; *has false for an empty footer (no rule). */
static bool parse_footer(const char *s, size_t n, struct rule *r, bool *has)
{
	struct text t = {s, s + n};
	int32_t off;

	*has = false;
	if (n == 0)
		return true;
	memset(r, 0, sizeof(*r));
	/* POSIX offsets count west of UTC: "JST-9" is nine hours east */
	if (!abbreviation(&t) || !clock_value(&t, 24, &off))
		return false;
	r->std_off = -off;
	if (t.p < t.end) {
		if (!abbreviation(&t))
			return false;
		r->has_dst = true;
		r->dst_off = r->std_off + 3600;
		if (t.p < t.end && !at(&t, ',')) {
			if (!clock_value(&t, 24, &off))
				return false;
			r->dst_off = -off;
		}
		/* zic always writes the dates; POSIX leaves their absence to the implementation */
		if (!rule_date(&t, &r->start) || !rule_date(&t, &r->end))
			return false;
	}
	*has = true;
	return t.p == t.end;
}

/* The day number of a rule's date in year y. */
static int64_t rule_day(const struct rule_date *d, int64_t y)
{
	int64_t jan1 = days_from_civil(y, 1, 1);
	int64_t first;
	int day;

	switch (d->kind) {
	case 'J': return jan1 + d->n - 1 + (leap(y) && d->n >= 60 ? 1 : 0);
	case 'N': return jan1 + d->n;
	default: break;
	}
	first = days_from_civil(y, d->month, 1);
	day = (d->wday - weekday(first) + 7) % 7 + (d->week - 1) * 7;
	if (day >= month_days(y, d->month))
		day -= 7;
	return first + day;
}

static int32_t rule_offset(const struct rule *r, int64_t t)
{
	int64_t y;
	int m;
	int d;
	int64_t start;
	int64_t end;
	bool dst;

	if (!r->has_dst)
		return r->std_off;
	civil_from_days(floor_div(t + r->std_off, DAY), &y, &m, &d);
	/* the start is given in standard time, the end in daylight time */
	start = rule_day(&r->start, y) * DAY + r->start.time - r->std_off;
	end = rule_day(&r->end, y) * DAY + r->end.time - r->dst_off;
	if (start < end)
		dst = t >= start && t < end;
	else /* the southern hemisphere: DST spans the new year */
		dst = !(t >= end && t < start);
	return dst ? r->dst_off : r->std_off;
}

/* ---- the TZif file ---- */

struct cursor {
	const uint8_t *p;
	size_t left;
};

static bool take(struct cursor *c, size_t n, const uint8_t **out)
{
	if (n > c->left)
		return false;
	*out = c->p;
	c->p += n;
	c->left -= n;
	return true;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const uint8_t *p)
{
	return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

/* The six counts of a header. */
struct counts {
	uint32_t isut, isstd, leap, time, type, chars;
};

static enum cid_err header(struct cursor *c, char *version, struct counts *k)
{
	const uint8_t *h;

	if (!take(c, 44, &h) || memcmp(h, "TZif", 4) != 0)
		return CID_ERR_INVALID;
	*version = (char)h[4];
	k->isut = be32(h + 20);
	k->isstd = be32(h + 24);
	k->leap = be32(h + 28);
	k->time = be32(h + 32);
	k->type = be32(h + 36);
	k->chars = be32(h + 40);
	/*= RFC 8536 §3.1: typecnt MUST NOT be zero; charcnt MUST NOT be zero;
	 *# isutcnt and isstdcnt MUST either be zero or equal to typecnt */
	if (k->type == 0 || k->chars == 0 || (k->isut != 0 && k->isut != k->type) ||
	    (k->isstd != 0 && k->isstd != k->type))
		return CID_ERR_INVALID;
	if (k->time > CID_TZ_MAX_TRANSITIONS || k->type > CID_TZ_MAX_TYPES ||
	    k->chars > CID_TZ_MAX_CHARS || k->leap > CID_TZ_MAX_LEAPS)
		return CID_ERR_TOOBIG;
	return CID_OK;
}

/* The size of a data block of counts k with time values of tsize bytes. */
static size_t block_size(const struct counts *k, size_t tsize)
{
	return (size_t)k->time * (tsize + 1) + (size_t)k->type * 6 + k->chars +
	       (size_t)k->leap * (tsize + 4) + k->isstd + k->isut;
}

/* Reads a data block (tsize 4: v1, 8: v2+) into tz. */
static enum cid_err block(struct cursor *c, const struct counts *k, size_t tsize, struct cid_tz *tz)
{
	const uint8_t *b;
	const uint8_t *idx;
	const uint8_t *info;

	if (!take(c, block_size(k, tsize), &b))
		return CID_ERR_INVALID;
	idx = b + (size_t)k->time * tsize;
	info = idx + k->time;
	if (k->time > 0) {
		tz->trans = malloc(k->time * sizeof(*tz->trans));
		tz->trans_type = malloc(k->time);
		if (tz->trans == NULL || tz->trans_type == NULL)
			return CID_ERR_NOMEM;
	}
	for (size_t i = 0; i < k->time; i++) {
		int64_t v = tsize == 8 ? be64(b + i * 8) : (int64_t)(int32_t)be32(b + i * 4);

		/*= RFC 8536 §3.2: transition times MUST be in ascending order */
		if ((i > 0 && v <= tz->trans[i - 1]) || idx[i] >= k->type)
			return CID_ERR_INVALID;
		tz->trans[i] = v;
		tz->trans_type[i] = idx[i];
	}
	tz->n_trans = k->time;
	for (size_t i = 0; i < k->type; i++) {
		const uint8_t *ti = info + i * 6;
		int32_t off = (int32_t)be32(ti);

		if (off < MIN_UTOFF || off > MAX_UTOFF || ti[4] > 1 || ti[5] >= k->chars)
			return CID_ERR_INVALID;
		tz->type_off[i] = off;
	}
	tz->n_types = k->type;
	return CID_OK;
}

static void tz_reset(struct cid_tz *tz)
{
	free(tz->trans);
	free(tz->trans_type);
	tz->trans = NULL;
	tz->trans_type = NULL;
	tz->n_trans = 0;
}

enum cid_err cid_tz_parse(const uint8_t *data, size_t len, const char *name, struct cid_tz **out)
{
	enum cid_err rc = CID_OK;
	struct cursor c = {data, len};
	struct counts k;
	struct cid_tz *tz = NULL;
	const uint8_t *skip;
	const uint8_t *nl;
	char version;

	CID_ENSURE(len <= CID_TZ_MAX_FILE, CID_ERR_TOOBIG);
	CID_ENSURE(name != NULL && strlen(name) <= CID_TZ_MAX_NAME, CID_ERR_INVALID);
	tz = calloc(1, sizeof(*tz));
	CID_ENSURE(tz != NULL, CID_ERR_NOMEM);
	memcpy(tz->name, name, strlen(name) + 1);
	CID_TRY(header(&c, &version, &k));
	if (version == '\0') {
		CID_TRY(block(&c, &k, 4, tz));
		goto done;
	}
	CID_ENSURE(version >= '2' && version <= '9', CID_ERR_INVALID);
	/*= RFC 8536 §3: a version 2+ file repeats the data with 64-bit times
	 *# after the version 1 block; readers of v2+ SHOULD use the second */
	CID_ENSURE(take(&c, block_size(&k, 4), &skip), CID_ERR_INVALID);
	CID_TRY(header(&c, &version, &k));
	CID_TRY(block(&c, &k, 8, tz));
	/* the footer: "\n" TZ string "\n" */
	CID_ENSURE(c.left >= 2 && c.p[0] == '\n', CID_ERR_INVALID);
	nl = memchr(c.p + 1, '\n', c.left - 1);
	CID_ENSURE(nl != NULL, CID_ERR_INVALID);
	CID_ENSURE((size_t)(nl - (c.p + 1)) <= CID_TZ_MAX_FOOTER, CID_ERR_TOOBIG);
	CID_ENSURE(
	    parse_footer((const char *)c.p + 1, (size_t)(nl - (c.p + 1)), &tz->rule, &tz->has_rule),
	    CID_ERR_INVALID);
done:
	*out = tz;
	tz = NULL;
out:
	cid_tz_free(tz);
	return rc;
}

bool cid_tz_name_ok(const char *name)
{
	size_t n = name == NULL ? 0 : strnlen(name, CID_TZ_MAX_NAME + 1);
	size_t part = 0;

	if (n == 0 || n > CID_TZ_MAX_NAME || name[0] == '/' || name[n - 1] == '/')
		return false;
	for (size_t i = 0; i <= n; i++) {
		char c = name[i];

		if (c == '/' || c == '\0') {
			/* an empty, "." or ".." part would leave the zone directory */
			if (part == 0 || (part == 1 && name[i - 1] == '.') ||
			    (part == 2 && name[i - 1] == '.' && name[i - 2] == '.'))
				return false;
			part = 0;
			continue;
		}
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '+' || c == '.'))
			return false;
		part++;
	}
	return true;
}

enum cid_err cid_tz_load(const char *dir, const char *name, struct cid_tz **out, char *err,
			 size_t errsz)
{
	enum cid_err rc = CID_OK;
	char path[4096 + CID_TZ_MAX_NAME + 2];
	uint8_t *data = NULL;
	size_t len;
	FILE *f = NULL;

	if (!cid_tz_name_ok(name)) {
		snprintf(err, errsz, "\"%.64s\" is not a time zone name (e.g. Asia/Tokyo)",
			 name == NULL ? "" : name);
		return CID_ERR_INVALID;
	}
	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path)) {
		snprintf(err, errsz, "%s: the zone directory's name is too long", name);
		return CID_ERR_INVALID;
	}
	f = fopen(path, "rb");
	if (f == NULL) {
		int e = errno;

		snprintf(err, errsz, "%s: %s (is tzdata installed?)", path, strerror(e));
		return e == ENOENT ? CID_ERR_NOTFOUND : CID_ERR_IO;
	}
	data = malloc(CID_TZ_MAX_FILE + 1);
	CID_ENSURE(data != NULL, CID_ERR_NOMEM);
	len = fread(data, 1, CID_TZ_MAX_FILE + 1, f);
	if (ferror(f)) {
		snprintf(err, errsz, "%s: cannot be read", path);
		rc = CID_ERR_IO;
		goto out;
	}
	if (len > CID_TZ_MAX_FILE) {
		snprintf(err, errsz, "%s: larger than %zu bytes", path, CID_TZ_MAX_FILE);
		rc = CID_ERR_TOOBIG;
		goto out;
	}
	rc = cid_tz_parse(data, len, name, out);
	if (rc == CID_ERR_INVALID || rc == CID_ERR_TOOBIG) {
		snprintf(err, errsz, "%s: not a valid TZif file", path);
		rc = CID_ERR_INVALID;
	}
out:
	fclose(f);
	free(data);
	return rc;
}

enum cid_err cid_tz_utc(struct cid_tz **out)
{
	struct cid_tz *tz = calloc(1, sizeof(*tz));

	if (tz == NULL)
		return CID_ERR_NOMEM;
	memcpy(tz->name, "UTC", 4);
	tz->n_types = 1;
	*out = tz;
	return CID_OK;
}

void cid_tz_free(struct cid_tz *tz)
{
	if (tz == NULL)
		return;
	tz_reset(tz);
	free(tz);
}

const char *cid_tz_name(const struct cid_tz *tz)
{
	return tz->name;
}

int32_t cid_tz_offset(const struct cid_tz *tz, int64_t t)
{
	size_t lo = 0;
	size_t hi = tz->n_trans;

	/*= RFC 8536 §3.2: local time for timestamps before the first transition is
	 *# specified by the first time type (time type 0) */
	if (tz->n_trans == 0)
		return tz->has_rule ? rule_offset(&tz->rule, t) : tz->type_off[0];
	if (t < tz->trans[0])
		return tz->type_off[0];
	/*= RFC 8536 §3.3: the footer is used for timestamps after the last transition */
	if (t >= tz->trans[tz->n_trans - 1] && tz->has_rule)
		return rule_offset(&tz->rule, t);
	/* the last transition at or before t: trans[lo] <= t < trans[hi] */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (tz->trans[mid] <= t)
			lo = mid;
		else
			hi = mid;
	}
	return tz->type_off[tz->trans_type[lo]];
}

void cid_tz_local(const struct cid_tz *tz, int64_t t, struct cid_civil *out)
{
	int32_t off = cid_tz_offset(tz, t);
	int64_t local = t + off;
	int64_t secs = local - floor_div(local, DAY) * DAY;

	civil_from_days(floor_div(local, DAY), &out->year, &out->month, &out->day);
	out->hour = (int)(secs / 3600);
	out->minute = (int)(secs / 60 % 60);
	out->second = (int)(secs % 60);
	out->offset = off;
}

enum cid_err cid_tz_format(const struct cid_tz *tz, int64_t t, const char *locale, bool with_time,
			   char out[CID_TZ_TEXT_MAX])
{
	static const char *const months[] = {"January",	  "February", "March",	  "April",
					     "May",	  "June",     "July",	  "August",
					     "September", "October",  "November", "December"};
	struct cid_civil c;
	bool en = locale != NULL && strcmp(locale, "en") == 0;

	/* beyond ±2^55 s the day arithmetic could overflow; such a year is out of range anyway */
	if (t > ((int64_t)1 << 55) || t < -((int64_t)1 << 55))
		return CID_ERR_INVALID;
	cid_tz_local(tz, t, &c);
	if (c.year < 1 || c.year > 9999)
		return CID_ERR_INVALID;
	if (en && with_time)
		snprintf(out, CID_TZ_TEXT_MAX, "%d %s %lld, %02d:%02d", c.day, months[c.month - 1],
			 (long long)c.year, c.hour, c.minute);
	else if (en)
		snprintf(out, CID_TZ_TEXT_MAX, "%d %s %lld", c.day, months[c.month - 1],
			 (long long)c.year);
	else if (with_time)
		snprintf(out, CID_TZ_TEXT_MAX, "%lld年%d月%d日 %02d:%02d", (long long)c.year,
			 c.month, c.day, c.hour, c.minute);
	else
		snprintf(out, CID_TZ_TEXT_MAX, "%lld年%d月%d日", (long long)c.year, c.month, c.day);
	return CID_OK;
}

/* n decimal digits of s into *v; false if any is not a digit. */
static bool digits(const char *s, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		*v = *v * 10 + (s[i] - '0');
	}
	return true;
}

enum cid_err cid_time_parse(const char *s, int64_t *t)
{
	int y;
	int mo;
	int d;
	int h;
	int mi;
	int se;

	if (s == NULL || strnlen(s, 21) != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
	    s[13] != ':' || s[16] != ':' || s[19] != 'Z' || !digits(s, 4, &y) ||
	    !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d) || !digits(s + 11, 2, &h) ||
	    !digits(s + 14, 2, &mi) || !digits(s + 17, 2, &se))
		return CID_ERR_INVALID;
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo) || h > 23 || mi > 59 ||
	    se > 59)
		return CID_ERR_INVALID;
	*t = days_from_civil(y, mo, d) * DAY + (int64_t)h * 3600 + (int64_t)mi * 60 + se;
	return CID_OK;
}
