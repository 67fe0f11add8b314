/*
 * buf: a growable output buffer with a hard cap and a sticky error.
 *
 * Appends never fail visibly: once the cap is passed or memory runs out, the
 * buffer records the error and ignores further appends; the caller checks
 * cid_buf_status() once at the end. The content is always NUL-terminated.
 * A buf is owned by one thread at a time.
 */
#ifndef CID_BUF_H
#define CID_BUF_H

#include "err.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct cid_buf {
	char *data; /* NUL-terminated; NULL until the first append */
	size_t len;
	size_t cap;
	size_t max;	  /* hard cap on len */
	enum cid_err err; /* first error, sticky */
};

/* Starts an empty buffer that refuses to grow past max bytes. */
void cid_buf_init(struct cid_buf *b, size_t max);

void cid_buf_append(struct cid_buf *b, const char *s, size_t n);
void cid_buf_puts(struct cid_buf *b, const char *s);
void cid_buf_printf(struct cid_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends s with & < > " ' escaped for HTML text and attribute values. */
void cid_buf_append_html(struct cid_buf *b, const char *s, size_t n);

/* Appends s percent-encoded: everything but ALPHA DIGIT - . _ ~ (RFC 3986 unreserved). */
void cid_buf_append_urlenc(struct cid_buf *b, const char *s, size_t n);

/*
 * Appends s as a JSON string, quoted, escaped as jansson writes it (quote,
 * backslash, control characters; UTF-8 as is). s is valid UTF-8: the caller
 * took it from a parsed JSON document or checked it.
 */
void cid_buf_append_json_str(struct cid_buf *b, const char *s, size_t n);

/*
 * Appends s escaped as cid_buf_append_json_str escapes it, without the
 * quotes: the inside of a JSON string, so that a string made of pieces is
 * written piece by piece, not joined into a copy first. s is valid UTF-8.
 */
void cid_buf_append_json_chars(struct cid_buf *b, const char *s, size_t n);

/* Appends v in decimal, as JSON writes an integer. */
void cid_buf_append_int(struct cid_buf *b, int64_t v);

/*
 * Appends v as JSON text (json_dumps flags). A piece that cannot be written
 * sets the sticky error like any append, so a text with a piece missing is
 * never taken for whole (as jansson 2.14's json_dumps can return when
 * memory runs out: it drops the result of writing an object's key).
 */
void cid_buf_append_json(struct cid_buf *b, const json_t *v, size_t flags);

/*
 * json_dumps(v, flags) that never returns a malformed text: NULL when out of
 * memory (or v cannot be encoded), else the text; caller frees with free().
 */
char *cid_json_dumps(const json_t *v, size_t flags);

/* CID_OK, or the first error: CID_ERR_TOOBIG (cap passed), CID_ERR_NOMEM. */
CID_MUST_CHECK enum cid_err cid_buf_status(const struct cid_buf *b);

/*
 * Hands the content to the caller (who frees it with free()) and its length to
 * *len (len may be NULL), and resets b to
 * empty. Returns NULL with *len untouched if the buffer is in error; an empty
 * buffer gives an allocated "".
 */
char *cid_buf_take(struct cid_buf *b, size_t *len);

/* Frees the content; b is empty and usable again (same cap). */
void cid_buf_free(struct cid_buf *b);

#endif
