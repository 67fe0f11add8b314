/*
 * buf: output is built by appending to one growable buffer with a hard cap.
 * The error is sticky so that a builder of many appends checks once at the
 * end, and a half-built response can never be sent: take() refuses it.
 */
#include "buf.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cid_buf_init(struct cid_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
	b->err = CID_OK;
}

static bool buf_reserve(struct cid_buf *b, size_t n)
{
	if (b->err != CID_OK)
		return false;
	/* len never passes max, so this cannot wrap */
	if (n > b->max - b->len) {
		b->err = CID_ERR_TOOBIG;
		return false;
	}
	size_t want = b->len + n + 1;
	if (want <= b->cap)
		return true;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < want)
		cap *= 2;
	char *d = realloc(b->data, cap);
	if (d == NULL) {
		b->err = CID_ERR_NOMEM;
		return false;
	}
	b->data = d;
	b->cap = cap;
	return true;
}

void cid_buf_append(struct cid_buf *b, const char *s, size_t n)
{
	if (!buf_reserve(b, n))
		return;
	if (n > 0)
		memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void cid_buf_puts(struct cid_buf *b, const char *s)
{
	cid_buf_append(b, s, strlen(s));
}

void cid_buf_printf(struct cid_buf *b, const char *fmt, ...)
{
	va_list ap;
	char small[256];

	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		if (b->err == CID_OK)
			b->err = CID_ERR_INVALID;
		return;
	}
	if ((size_t)n < sizeof(small)) {
		cid_buf_append(b, small, (size_t)n);
		return;
	}
	if (!buf_reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void cid_buf_append_html(struct cid_buf *b, const char *s, size_t n)
{
	size_t start = 0;

	for (size_t i = 0; i < n; i++) {
		const char *rep;
		switch (s[i]) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		default: continue;
		}
		cid_buf_append(b, s + start, i - start);
		cid_buf_puts(b, rep);
		start = i + 1;
	}
	cid_buf_append(b, s + start, n - start);
}

/*
 * Nonzero when some byte of w is one a JSON string escapes: below 0x20, '"'
 * or '\\' (the word tests of "Bit Twiddling Hacks": a byte below n, a zero
 * byte of w ^ c; exact as to whether there is one, not which).
 */
static uint64_t json_special(uint64_t w)
{
	const uint64_t ones = 0x0101010101010101ULL;
	const uint64_t highs = 0x8080808080808080ULL;
	uint64_t quote = w ^ (ones * '"');
	uint64_t backslash = w ^ (ones * '\\');

	return (((w - ones * 0x20) & ~w) | ((quote - ones) & ~quote) |
		((backslash - ones) & ~backslash)) &
	       highs;
}

void cid_buf_append_json_chars(struct cid_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF"; /* jansson's \u00XX is upper case */
	size_t start = 0;
	size_t i = 0;

	while (i < n) {
		uint64_t w;
		unsigned char c;

		/* eight bytes at a time while none needs escaping (most text) */
		if (n - i >= sizeof(w)) {
			memcpy(&w, s + i, sizeof(w));
			if (json_special(w) == 0) {
				i += sizeof(w);
				continue;
			}
		}
		c = (unsigned char)s[i];
		char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
		size_t len = 2;

		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			if (c >= 0x20) {
				i++;
				continue;
			}
			len = 6;
		}
		cid_buf_append(b, s + start, i - start);
		cid_buf_append(b, esc, len);
		start = ++i;
	}
	cid_buf_append(b, s + start, n - start);
}

void cid_buf_append_json_str(struct cid_buf *b, const char *s, size_t n)
{
	cid_buf_append(b, "\"", 1);
	cid_buf_append_json_chars(b, s, n);
	cid_buf_append(b, "\"", 1);
}

void cid_buf_append_int(struct cid_buf *b, int64_t v)
{
	char d[24];
	size_t i = sizeof(d);
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

	do {
		d[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		d[--i] = '-';
	cid_buf_append(b, d + i, sizeof(d) - i);
}

static bool url_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

void cid_buf_append_urlenc(struct cid_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (url_unreserved(c)) {
			cid_buf_append(b, (const char *)&s[i], 1);
		} else {
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};
			cid_buf_append(b, e, 3);
		}
	}
}

enum cid_err cid_buf_status(const struct cid_buf *b)
{
	return b->err;
}

/* json_dump_callback's sink: the buffer, whose error stays once set. */
static int json_sink(const char *text, size_t n, void *arg)
{
	struct cid_buf *b = arg;

	cid_buf_append(b, text, n);
	return b->err == CID_OK ? 0 : -1;
}

void cid_buf_append_json(struct cid_buf *b, const json_t *v, size_t flags)
{
	if (json_dump_callback(v, json_sink, b, flags) != 0 && b->err == CID_OK)
		b->err = CID_ERR_NOMEM; /* jansson's own allocation, or v not encodable */
}

char *cid_json_dumps(const json_t *v, size_t flags)
{
	struct cid_buf b;

	/* no cap of its own (json_dumps has none); a quarter of the address space keeps
	 * the doubling in buf_reserve from wrapping */
	cid_buf_init(&b, SIZE_MAX / 4);
	cid_buf_append_json(&b, v, flags);
	if (cid_buf_status(&b) != CID_OK) {
		cid_buf_free(&b);
		return NULL;
	}
	return cid_buf_take(&b, NULL);
}

char *cid_buf_take(struct cid_buf *b, size_t *len)
{
	if (b->err != CID_OK)
		return NULL;
	char *d = b->data;
	if (d == NULL) {
		d = strdup("");
		if (d == NULL) {
			b->err = CID_ERR_NOMEM;
			return NULL;
		}
	}
	if (len != NULL)
		*len = b->len;
	cid_buf_init(b, b->max);
	return d;
}

void cid_buf_free(struct cid_buf *b)
{
	free(b->data);
	cid_buf_init(b, b->max);
}
