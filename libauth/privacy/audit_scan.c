/*
 * audit_scan: verification's fast look at an entry, one pass over its bytes
 * without building it.
 *
 * An entry is canonical when jansson reads it (no duplicate names), it holds
 * no real numbers and only ASCII names (audit_canon_ok), and its compact,
 * key-sorted dump is the same bytes. The scan accepts a plain subset of that
 * language, the one the log writes in practice: printable ASCII strings with
 * the short escapes a dump writes (\" \\ \b \f \n \r \t), names without
 * escapes in strictly increasing byte order (so no repeats), integers as
 * printf writes them and in range, true, false, null, little nesting, and no
 * byte outside a token. Whatever it accepts jansson reads, and dumps back to
 * the same bytes; anything else (UTF-8, \u escapes, deep nesting, damage) it
 * declines, and the caller checks the entry the slow way, which names the
 * damage. So a "no" says nothing, and a "yes" is the canonical check.
 */
#include "audit_int.h"

#include <string.h>

#define SCAN_MAX_DEPTH 8 /* deeper entries are checked the slow way */

_Static_assert(SCAN_MAX_DEPTH <= CID_AUDIT_MAX_DEPTH, "the scan accepts no deeper entry");

struct scan {
	const char *p;
	const char *end;
};

static bool scan_value(struct scan *s, int depth);

static bool at(const struct scan *s, char c)
{
	return s->p < s->end && *s->p == c;
}

/* 1: a byte a dump writes as itself inside a string, printable ASCII but " and \ */
static const unsigned char plain_byte[256] = {
    [0x20] = 1,
    [0x21] = 1,
    [0x23 ... 0x5b] = 1,
    [0x5d ... 0x7e] = 1,
};

#define ONES  0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/*
 * True if none of the 8 bytes at p is outside 0x20..0x7e, a " or a \: bit
 * tricks on a word, 8 bytes per step (a false never errs: the byte loop
 * decides). A byte below n sets its high bit in (w - n) & ~w; 0x7f and up
 * have it in w + 1 or w; an equal byte is a zero byte of w ^ c.
 */
static bool plain_word(const char *p)
{
	uint64_t w;
	uint64_t q;
	uint64_t b;

	memcpy(&w, p, sizeof(w));
	q = w ^ (ONES * '"');
	b = w ^ (ONES * '\\');
	return ((((w - ONES * 0x20) & ~w) | (w + ONES) | w | ((q - ONES) & ~q) |
		 ((b - ONES) & ~b)) &
		HIGHS) == 0;
}

/* A string; *raw and *len span its bytes between the quotes, *plain says there is no escape. */
static bool scan_string(struct scan *s, const char **raw, size_t *len, bool *plain)
{
	static const char escapes[] = "\"\\bfnrt";
	const char *start;

	if (!at(s, '"'))
		return false;
	start = ++s->p;
	*plain = true;
	for (;;) {
		while (s->end - s->p >= 8 && plain_word(s->p))
			s->p += 8;
		while (s->p < s->end && plain_byte[(unsigned char)*s->p])
			s->p++;
		if (s->p == s->end)
			return false;
		if (*s->p == '"')
			break;
		/* a short escape, or a byte the scan leaves to jansson */
		if (*s->p != '\\' || s->end - s->p < 2 ||
		    memchr(escapes, s->p[1], sizeof(escapes) - 1) == NULL)
			return false;
		*plain = false;
		s->p += 2;
	}
	*raw = start;
	*len = (size_t)(s->p - start);
	s->p++;
	return true;
}

/* An integer as printf writes one (no "-0", no leading zero) that fits a json_int_t. */
static bool scan_int(struct scan *s, uint64_t *value, bool *neg)
{
	uint64_t limit;
	uint64_t v = 0;

	*neg = at(s, '-');
	if (*neg)
		s->p++;
	limit = *neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	if (s->p == s->end || *s->p < '0' || *s->p > '9')
		return false;
	if (*s->p == '0') {
		s->p++;
		*value = 0;
		return !*neg && !(s->p < s->end && *s->p >= '0' && *s->p <= '9');
	}
	while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
		uint64_t d = (uint64_t)(*s->p - '0');

		if (v > (limit - d) / 10)
			return false;
		v = v * 10 + d;
		s->p++;
	}
	*value = v;
	return true;
}

static bool scan_word(struct scan *s, const char *w, size_t n)
{
	if ((size_t)(s->end - s->p) < n || memcmp(s->p, w, n) != 0)
		return false;
	s->p += n;
	return true;
}

/* Names in a dump's order: byte-wise, a prefix first; equal is a repeat. */
static bool name_after(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;

	/* names are short: a loop beats a call to memcmp */
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return (unsigned char)a[i] < (unsigned char)b[i];
	return alen < blen;
}

/* Past a member or an element: the separator, or the close (*closed). */
static bool scan_next(struct scan *s, char close, bool *closed)
{
	if (at(s, ',')) {
		s->p++;
		*closed = false;
		return true;
	}
	if (at(s, close)) {
		s->p++;
		*closed = true;
		return true;
	}
	return false;
}

/* An object at depth; top (the entry itself, else NULL) gets its seq and prev. */
static bool scan_object(struct scan *s, int depth, struct audit_scan *top)
{
	const char *last = NULL;
	size_t last_len = 0;
	bool closed = false;

	s->p++;
	if (at(s, '}')) {
		s->p++;
		return true;
	}
	while (!closed) {
		const char *name;
		size_t len;
		bool plain;

		if (!scan_string(s, &name, &len, &plain) || !plain ||
		    (last != NULL && !name_after(last, last_len, name, len)) || !at(s, ':'))
			return false;
		s->p++;
		last = name;
		last_len = len;
		if (top != NULL && len == 3 && memcmp(name, "seq", 3) == 0) {
			bool neg;

			if (!scan_int(s, &top->seq, &neg) || neg)
				return false;
			top->has_seq = true;
		} else if (top != NULL && len == 4 && memcmp(name, "prev", 4) == 0) {
			if (!scan_string(s, &top->prev, &top->prev_len, &plain) || !plain)
				return false;
			top->has_prev = true;
		} else if (!scan_value(s, depth + 1)) {
			return false;
		}
		if (!scan_next(s, '}', &closed))
			return false;
	}
	return true;
}

static bool scan_array(struct scan *s, int depth)
{
	bool closed = false;

	s->p++;
	if (at(s, ']')) {
		s->p++;
		return true;
	}
	while (!closed)
		if (!scan_value(s, depth + 1) || !scan_next(s, ']', &closed))
			return false;
	return true;
}

static bool scan_value(struct scan *s, int depth)
{
	const char *raw;
	size_t len;
	bool plain;
	uint64_t v;
	bool neg;

	if (depth > SCAN_MAX_DEPTH || s->p == s->end)
		return false;
	switch (*s->p) {
	case '{': return scan_object(s, depth, NULL);
	case '[': return scan_array(s, depth);
	case '"': return scan_string(s, &raw, &len, &plain);
	case 't': return scan_word(s, "true", 4);
	case 'f': return scan_word(s, "false", 5);
	case 'n': return scan_word(s, "null", 4);
	default: return scan_int(s, &v, &neg);
	}
}

bool audit_entry_scan(const char *p, size_t n, struct audit_scan *out)
{
	struct scan s = {p, p + n};

	*out = (struct audit_scan){0};
	if (!at(&s, '{') || !scan_object(&s, 0, out))
		return false;
	return s.p == s.end && out->has_seq && out->has_prev;
}
