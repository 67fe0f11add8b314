/*
 * str: byte slices, UTF-8 checking, bounded number parsing, base64url, and
 * the decoding of URL-encoded parameters into a capped list.
 *
 * Nothing here relies on NUL-terminated input: bytes arrive as pointer +
 * length. Decoded parameter values are NUL-terminated copies that were checked
 * to be valid UTF-8 without NUL or C0 controls other than TAB/LF/CR.
 * No I/O, no globals; every function is thread-safe.
 */
#ifndef CID_STR_H
#define CID_STR_H

#include "bounds.h"
#include "err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cid_str {
	const char *ptr;
	size_t len;
};

/* A slice of a NUL-terminated string (s may be NULL: gives {NULL, 0}). */
struct cid_str cid_str_of(const char *s);

/* True if a and b hold the same bytes (not constant-time: not for secrets); b NULL: false. */
bool cid_str_eq(struct cid_str a, const char *b);

/*
 * True if [p, p+n) is well-formed UTF-8 (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF) and holds no NUL and no C0 control except TAB, LF, CR.
 */
bool cid_utf8_valid(const char *p, size_t n);

/*
 * True if [p, p+n) is well-formed UTF-8 as cid_utf8_valid, controls and NUL
 * allowed: what jansson takes as a string's bytes.
 */
bool cid_utf8_wellformed(const char *p, size_t n);

/*
 * Parses the decimal digits [s, s+n) (no sign, no spaces, no leading '+') into
 * *out, which must lie in [min, max].
 * Errors: CID_ERR_INVALID (empty, non-digit, overflow, out of range).
 */
CID_MUST_CHECK enum cid_err cid_parse_u64(const char *s, size_t n, uint64_t min, uint64_t max,
					  uint64_t *out);

/*
 * base64url without padding (RFC 4648 §5). cid_b64url_encode writes
 * cid_b64url_len(n) chars plus a NUL into out (outsz must be large enough).
 * cid_b64url_decode writes at most outsz bytes to out and their count to *outlen.
 * Errors: CID_ERR_TOOBIG (out too small), CID_ERR_INVALID (bad alphabet, padding
 * or length).
 */
size_t cid_b64url_len(size_t n);
CID_MUST_CHECK enum cid_err cid_b64url_encode(const void *in, size_t n, char *out, size_t outsz);
CID_MUST_CHECK enum cid_err cid_b64url_decode(const char *in, size_t n, void *out, size_t outsz,
					      size_t *outlen);

/*
 * Standard base64 with padding (RFC 4648 §4), as signed notes and checkpoints
 * use it. cid_b64_encode writes cid_b64_len(n) chars plus a NUL into out.
 * cid_b64_decode accepts only the canonical encoding (padding to a multiple
 * of 4 chars, unused bits zero, no whitespace), so one byte string has one
 * text; it writes at most outsz bytes to out and their count to *outlen.
 * Errors: CID_ERR_TOOBIG (out too small), CID_ERR_INVALID (alphabet, padding,
 * length or non-zero unused bits).
 */
size_t cid_b64_len(size_t n);
CID_MUST_CHECK enum cid_err cid_b64_encode(const void *in, size_t n, char *out, size_t outsz);
CID_MUST_CHECK enum cid_err cid_b64_decode(const char *in, size_t n, void *out, size_t outsz,
					   size_t *outlen);

/* One decoded name=value pair; both NUL-terminated, owned by the cid_params. */
struct cid_param {
	char *name;
	char *value;
	size_t value_len;
};

/* A capped list of distinct parameters. Initialise with {0}; clear with cid_params_clear. */
struct cid_params {
	struct cid_param items[CID_MAX_PARAMS];
	size_t n;
};

/*
 * The longest decoded value parameter name (name_len bytes) may have:
 * CID_MAX_ID_TOKEN for id_token_hint (an ID token of ours sent back, longer
 * than any other value), else CID_MAX_PARAM_VALUE.
 */
size_t cid_param_value_max(const char *name, size_t name_len);

/*
 * Adds a copy of name (name_len bytes) and value (value_len bytes).
 * Errors: CID_ERR_TOOBIG (more than CID_MAX_PARAMS, name over CID_MAX_PARAM_NAME,
 * value over cid_param_value_max), CID_ERR_UTF8, CID_ERR_INVALID (empty name),
 * CID_ERR_DUPLICATE (name already present: RFC 6749 §3.1 forbids repeats),
 * CID_ERR_NOMEM. On error p is unchanged.
 */
CID_MUST_CHECK enum cid_err cid_params_add(struct cid_params *p, const char *name, size_t name_len,
					   const char *value, size_t value_len);

/*
 * Parses application/x-www-form-urlencoded bytes ('+' is space, %XX decoded)
 * and adds each pair as cid_params_add does. Empty pairs ("a=1&&b=2") are
 * skipped; a pair without '=' has an empty value.
 * Errors: those of cid_params_add, and CID_ERR_INVALID for a bad %-escape.
 * On error p may hold the pairs before the bad one: clear it.
 */
CID_MUST_CHECK enum cid_err cid_params_parse_form(struct cid_params *p, const char *s, size_t n);

/*
 * Percent-decodes [s, s+n) (and '+' as space when plus_is_space) into a new
 * NUL-terminated string *out (caller frees) of length *outlen.
 * Errors: CID_ERR_INVALID (bad escape), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_url_decode(const char *s, size_t n, bool plus_is_space, char **out,
					   size_t *outlen);

/*
 * True if [s, s+n) is an absolute http:// or https:// URL with a host: valid
 * UTF-8, no byte at or below space, no backslash, and the authority not empty
 * (nor only a port or userinfo). A link a page may show, never javascript:.
 */
bool cid_http_url_ok(const char *s, size_t n);

/*
 * True if host, as a URL writes it ("[::1]" with its brackets), is one of the
 * loopback hosts where plain http is allowed instead of https: 127.0.0.1,
 * [::1] or localhost, exactly (a localhost cased otherwise is refused: the
 * rule fails closed). The one such rule for redirect URIs and for fetches.
 */
bool cid_http_loopback_host(const char *host);

/*
 * The value of name, borrowed until the params are cleared; NULL if absent or
 * empty (RFC 6749 §3.1, §3.2: parameters sent without a value MUST be treated
 * as if they were omitted from the request).
 */
const char *cid_params_get(const struct cid_params *p, const char *name);

/*
 * Space-separated word lists (OAuth scopes, RFC 6749 §3.3). cid_words_has:
 * true if list (may be NULL) holds the word [word, word+word_len) exactly;
 * cid_words_subset: true if every word of sub is in super. Empty words
 * (repeated spaces) are ignored.
 */
bool cid_words_has(const char *list, const char *word, size_t word_len);
bool cid_words_subset(const char *sub, const char *super);

/* Frees every pair; p is empty afterwards. */
void cid_params_clear(struct cid_params *p);

#endif
