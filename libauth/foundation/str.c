/*
 * str: every byte that arrives from outside passes through here first, so the
 * checks are done once and the same way: UTF-8 per RFC 3629 (no overlongs, no
 * surrogates), no NUL and no C0 controls but TAB/LF/CR, bounded lengths, and
 * strictly decimal numbers. Decoded parameters are copies, so callers never
 * depend on the lifetime of the HTTP layer's buffers.
 */
#include "str.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct cid_str cid_str_of(const char *s)
{
	struct cid_str r = {s, s ? strlen(s) : 0};
	return r;
}

bool cid_str_eq(struct cid_str a, const char *b)
{
	size_t n;

	if (b == NULL) /* a member absent (cid_json_str): equal to nothing */
		return false;
	n = strlen(b);
	return a.len == n && (n == 0 || memcmp(a.ptr, b, n) == 0);
}

static bool utf8_cont(unsigned char c)
{
	return (c & 0xC0) == 0x80;
}

#define ONES  0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/*
 * True if none of the 8 bytes at s is above 0x7e or, with controls false,
 * below 0x20 (with controls, if none is above 0x7f): bit tricks on a word.
 * A byte below n sets its high bit in (w - n) & ~w, 0x7f in w + 1; a borrow
 * or carry only flags more, so a false never errs: the byte loop decides.
 */
static bool ascii_word(const unsigned char *s, bool controls)
{
	uint64_t w;

	memcpy(&w, s, sizeof(w));
	if (controls)
		return (w & HIGHS) == 0;
	return ((((w - ONES * 0x20) & ~w) | (w + ONES) | w) & HIGHS) == 0;
}

/* RFC 3629 well-formed, and with controls false no NUL, DEL or C0 control but TAB, LF, CR. */
static bool utf8_scan(const char *p, size_t n, bool controls)
{
	const unsigned char *s = (const unsigned char *)p;
	size_t i = 0;

	while (i < n) {
		unsigned char c = s[i];
		if (n - i >= 8 && ascii_word(s + i, controls)) {
			i += 8;
			continue;
		}
		if (c < 0x80) {
			if (!controls &&
			    (c == 0x7F || (c < 0x20 && c != '\t' && c != '\n' && c != '\r')))
				return false;
			i++;
			continue;
		}
		size_t need;
		unsigned char lo = 0x80, hi = 0xBF;
		if (c >= 0xC2 && c <= 0xDF) {
			need = 1;
		} else if (c >= 0xE0 && c <= 0xEF) {
			need = 2;
			if (c == 0xE0)
				lo = 0xA0; /* no overlongs */
			else if (c == 0xED)
				hi = 0x9F; /* no surrogates */
		} else if (c >= 0xF0 && c <= 0xF4) {
			need = 3;
			if (c == 0xF0)
				lo = 0x90;
			else if (c == 0xF4)
				hi = 0x8F; /* nothing above U+10FFFF */
		} else {
			return false;
		}
		if (n - i <= need)
			return false;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return false;
		for (size_t k = 2; k <= need; k++)
			if (!utf8_cont(s[i + k]))
				return false;
		i += need + 1;
	}
	return true;
}

bool cid_utf8_valid(const char *p, size_t n)
{
	return utf8_scan(p, n, false);
}

bool cid_utf8_wellformed(const char *p, size_t n)
{
	return utf8_scan(p, n, true);
}

enum cid_err cid_parse_u64(const char *s, size_t n, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (s == NULL || n == 0 || n > 20)
		return CID_ERR_INVALID;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return CID_ERR_INVALID;
		uint64_t d = (uint64_t)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return CID_ERR_INVALID;
		v = v * 10 + d;
	}
	if (v < min || v > max)
		return CID_ERR_INVALID;
	*out = v;
	return CID_OK;
}

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t cid_b64url_len(size_t n)
{
	return (n / 3) * 4 + (n % 3 == 0 ? 0 : n % 3 + 1);
}

/*
 * The base64 of [in, in+n) in alphabet, NUL-terminated, at out (whose room the
 * caller checked): three bytes to four characters, a short last group padded
 * with '=' only when pad.
 */
static void b64_groups(const unsigned char *in, size_t n, const char alphabet[64], bool pad,
		       char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = alphabet[(v >> 18) & 63];
		out[o++] = alphabet[(v >> 12) & 63];
		if (i + 1 < n)
			out[o++] = alphabet[(v >> 6) & 63];
		else if (pad)
			out[o++] = '=';
		if (i + 2 < n)
			out[o++] = alphabet[v & 63];
		else if (pad)
			out[o++] = '=';
	}
	out[o] = '\0';
}

enum cid_err cid_b64url_encode(const void *in, size_t n, char *out, size_t outsz)
{
	if (outsz < cid_b64url_len(n) + 1)
		return CID_ERR_TOOBIG;
	b64_groups(in, n, b64url_alphabet, false, out);
	return CID_OK;
}

static int b64url_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/*
 * Decodes the n characters at in, each worth value(c) (-1: not of the
 * alphabet), into d (whose room the caller checked) and their count into
 * *outlen. Errors: CID_ERR_INVALID (a character not of the alphabet, or
 * leftover bits that are not zero).
 */
static enum cid_err b64_bits(const char *in, size_t n, int (*value)(char), unsigned char *d,
			     size_t *outlen)
{
	size_t o = 0;
	uint32_t acc = 0;
	unsigned bits = 0;

	for (size_t i = 0; i < n; i++) {
		int v = value(in[i]);
		if (v < 0)
			return CID_ERR_INVALID;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			d[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* leftover bits must be zero: one encoding per byte string */
	if (acc != 0)
		return CID_ERR_INVALID;
	*outlen = o;
	return CID_OK;
}

enum cid_err cid_b64url_decode(const char *in, size_t n, void *out, size_t outsz, size_t *outlen)
{
	if (n % 4 == 1)
		return CID_ERR_INVALID;
	if (n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0) > outsz)
		return CID_ERR_TOOBIG;
	return b64_bits(in, n, b64url_value, out, outlen);
}

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t cid_b64_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

enum cid_err cid_b64_encode(const void *in, size_t n, char *out, size_t outsz)
{
	if (n > (SIZE_MAX - 3) / 4 * 3 || outsz < cid_b64_len(n) + 1)
		return CID_ERR_TOOBIG;
	b64_groups(in, n, b64_alphabet, true, out);
	return CID_OK;
}

static int b64_value(char c)
{
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	if (c == '-' || c == '_')
		return -1;
	return b64url_value(c);
}

enum cid_err cid_b64_decode(const char *in, size_t n, void *out, size_t outsz, size_t *outlen)
{
	size_t pad = 0;

	if (n % 4 != 0)
		return CID_ERR_INVALID;
	if (n > 0 && in[n - 1] == '=')
		pad = n > 1 && in[n - 2] == '=' ? 2 : 1;
	if (n / 4 * 3 - pad > outsz)
		return CID_ERR_TOOBIG;
	return b64_bits(in, n - pad, b64_value, out, outlen);
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

enum cid_err cid_url_decode(const char *s, size_t n, bool plus_is_space, char **out, size_t *outlen)
{
	char *d = malloc(n + 1);
	size_t o = 0;

	if (d == NULL)
		return CID_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%') {
			int hi = i + 2 < n ? hex_value(s[i + 1]) : -1;
			int lo = i + 2 < n ? hex_value(s[i + 2]) : -1;
			if (hi < 0 || lo < 0) {
				free(d);
				return CID_ERR_INVALID;
			}
			d[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else if (s[i] == '+' && plus_is_space) {
			d[o++] = ' ';
		} else {
			d[o++] = s[i];
		}
	}
	d[o] = '\0';
	*out = d;
	*outlen = o;
	return CID_OK;
}

static bool params_has(const struct cid_params *p, const char *name)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->items[i].name, name) == 0)
			return true;
	return false;
}

size_t cid_param_value_max(const char *name, size_t name_len)
{
	static const char hint[] = "id_token_hint";

	/* an ID token of ours sent back is longer than any other value (bounds.h) */
	if (name_len == sizeof(hint) - 1 && memcmp(name, hint, name_len) == 0)
		return CID_MAX_ID_TOKEN;
	return CID_MAX_PARAM_VALUE;
}

enum cid_err cid_params_add(struct cid_params *p, const char *name, size_t name_len,
			    const char *value, size_t value_len)
{
	if (name_len == 0)
		return CID_ERR_INVALID;
	if (name_len > CID_MAX_PARAM_NAME || value_len > cid_param_value_max(name, name_len))
		return CID_ERR_TOOBIG;
	if (!cid_utf8_valid(name, name_len) || !cid_utf8_valid(value, value_len))
		return CID_ERR_UTF8;

	char *n = strndup(name, name_len);
	if (n == NULL)
		return CID_ERR_NOMEM;
	if (params_has(p, n)) {
		free(n);
		return CID_ERR_DUPLICATE;
	}
	if (p->n >= CID_MAX_PARAMS) {
		free(n);
		return CID_ERR_TOOBIG;
	}
	char *v = malloc(value_len + 1);
	if (v == NULL) {
		free(n);
		return CID_ERR_NOMEM;
	}
	if (value_len > 0)
		memcpy(v, value, value_len);
	v[value_len] = '\0';
	p->items[p->n].name = n;
	p->items[p->n].value = v;
	p->items[p->n].value_len = value_len;
	p->n++;
	return CID_OK;
}

enum cid_err cid_params_parse_form(struct cid_params *p, const char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t end = i;
		while (end < n && s[end] != '&')
			end++;
		if (end > i) {
			const char *eq = memchr(s + i, '=', end - i);
			size_t nlen = eq ? (size_t)(eq - (s + i)) : end - i;
			const char *vstart = eq ? eq + 1 : s + end;
			size_t vlen = (size_t)(s + end - vstart);
			char *name = NULL, *value = NULL;
			size_t name_len = 0, value_len = 0;
			enum cid_err rc = cid_url_decode(s + i, nlen, true, &name, &name_len);
			if (rc == CID_OK)
				rc = cid_url_decode(vstart, vlen, true, &value, &value_len);
			if (rc == CID_OK)
				rc = cid_params_add(p, name, name_len, value, value_len);
			free(name);
			free(value);
			if (rc != CID_OK)
				return rc;
		}
		i = end + 1;
	}
	return CID_OK;
}

bool cid_http_url_ok(const char *s, size_t n)
{
	size_t at;

	if (n > 8 && memcmp(s, "https://", 8) == 0)
		at = 8;
	else if (n > 7 && memcmp(s, "http://", 7) == 0)
		at = 7;
	else
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || s[i] == '\\' || s[i] == 0x7f)
			return false;
	if (strchr("/?#:@", s[at]) != NULL) /* no host after the "//" */
		return false;
	return cid_utf8_valid(s, n);
}

bool cid_http_loopback_host(const char *host)
{
	return strcmp(host, "127.0.0.1") == 0 || strcmp(host, "[::1]") == 0 ||
	       strcmp(host, "localhost") == 0;
}

const char *cid_params_get(const struct cid_params *p, const char *name)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->items[i].name, name) == 0)
			return p->items[i].value_len == 0 ? NULL : p->items[i].value;
	return NULL;
}

void cid_params_clear(struct cid_params *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->items[i].name);
		free(p->items[i].value);
		p->items[i].name = NULL;
		p->items[i].value = NULL;
	}
	p->n = 0;
}

bool cid_words_has(const char *list, const char *word, size_t word_len)
{
	for (const char *p = list; p != NULL && *p != '\0';) {
		const char *end = strchr(p, ' ');
		size_t n = end == NULL ? strlen(p) : (size_t)(end - p);

		if (n == word_len && n > 0 && memcmp(p, word, n) == 0)
			return true;
		p = end == NULL ? NULL : end + 1;
	}
	return false;
}

bool cid_words_subset(const char *sub, const char *super)
{
	for (const char *p = sub; p != NULL && *p != '\0';) {
		const char *end = strchr(p, ' ');
		size_t n = end == NULL ? strlen(p) : (size_t)(end - p);

		if (n > 0 && !cid_words_has(super, p, n))
			return false;
		p = end == NULL ? NULL : end + 1;
	}
	return true;
}
