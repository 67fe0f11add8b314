/*
 * audit_witness: the log's side of c2sp.org/tlog-witness. The server pushes
 * its newest signed-note checkpoint to every configured witness with a
 * consistency proof from the size that witness last cosigned, and keeps the
 * cosignatures it gets in the checkpoint's note, so a proof made later
 * carries them.
 *
 * What is known of each witness is remembered in META "audit_witness\n"
 * VKEY = {"size": the size it holds, as last learnt, "cosigned": the
 * largest of our checkpoints it cosigned, "time"}. The size starts at 0 and
 * is corrected by the witness's 409 answer (its recorded size), after which
 * the push is retried once. A store restored from a backup remembers an old
 * size too: the witness then answers with a larger size than the log has,
 * or refuses the proof, and each push says so on the log stream.
 *
 * Pushing is slow I/O under timeouts (http_fetch.h): the server does it
 * from its checkpoint timer, never on a request thread. The list of
 * witnesses is parsed once, at start.
 */
#include "audit.h"

#include "audit_int.h"
#include "buf.h"
#include "http_fetch.h"
#include "str.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATE_PREFIX "audit_witness\n"
#define TLOG_SIZE    "text/x.tlog.size"
#define HASH_B64     44
#define ANSWER_MAX   ((size_t)16 * 1024) /* a witness's answer: cosignature lines or a size */

struct witness {
	char *url; /* the submission prefix; add-checkpoint is below it */
	struct cid_note_verifier *v;
};

struct cid_audit_witnesses {
	size_t n;
	struct witness w[CID_AUDIT_MAX_WITNESSES];
};

/* ---- the configuration ---- */

void cid_audit_witnesses_free(struct cid_audit_witnesses *ws)
{
	if (ws == NULL)
		return;
	for (size_t i = 0; i < ws->n; i++) {
		free(ws->w[i].url);
		cid_note_verifier_free(ws->w[i].v);
	}
	free(ws);
}

size_t cid_audit_witnesses_count(const struct cid_audit_witnesses *ws)
{
	return ws == NULL ? 0 : ws->n;
}

const char *cid_audit_witness_vkey(const struct cid_audit_witnesses *ws, size_t i)
{
	return cid_note_verifier_vkey(ws->w[i].v);
}

/* Says what is wrong with the configuration into err. */
static enum cid_err bad(char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum cid_err bad(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
	return CID_ERR_CONFIG;
}

/* One "URL VKEY" item of [p, p+n), already trimmed. */
static enum cid_err witness_add(struct cid_audit_witnesses *ws, const char *p, size_t n, char *err,
				size_t errsz)
{
	const char *sp = p;
	struct witness *w;
	size_t ulen;
	const char *k;

	while (sp < p + n && !isspace((unsigned char)*sp))
		sp++;
	ulen = (size_t)(sp - p);
	k = sp;
	while (k < p + n && isspace((unsigned char)*k))
		k++;
	if (k == p + n)
		return bad(err, errsz, "audit_witnesses: \"%.*s\" is not \"URL VKEY\"", (int)n, p);
	if (!((ulen > 8 && strncmp(p, "https://", 8) == 0) ||
	      (ulen > 7 && strncmp(p, "http://", 7) == 0)) ||
	    ulen > CID_MAX_URI)
		return bad(err, errsz, "audit_witnesses: %.*s is not an http(s) URL", (int)ulen, p);
	if (ws->n == CID_AUDIT_MAX_WITNESSES)
		return bad(err, errsz, "audit_witnesses: more than %d witnesses",
			   CID_AUDIT_MAX_WITNESSES);
	w = &ws->w[ws->n];
	if (cid_note_verifier_parse((struct cid_str){k, (size_t)(p + n - k)}, &w->v) != CID_OK ||
	    cid_note_verifier_type(w->v) != CID_NOTE_COSIG) {
		cid_note_verifier_free(w->v);
		w->v = NULL;
		return bad(err, errsz,
			   "audit_witnesses: %.*s is not a witness's cosignature vkey (type 0x04, "
			   "what `civicid witness init` prints)",
			   (int)(p + n - k), k);
	}
	w->url = strndup(p, ulen);
	if (w->url == NULL) {
		cid_note_verifier_free(w->v);
		return CID_ERR_NOMEM;
	}
	ws->n++;
	return CID_OK;
}

enum cid_err cid_audit_witnesses_parse(const char *text, struct cid_audit_witnesses **out,
				       char *err, size_t errsz)
{
	struct cid_audit_witnesses *ws = calloc(1, sizeof(*ws));
	const char *p = text != NULL ? text : "";
	enum cid_err rc = CID_OK;

	CID_ENSURE(ws != NULL, CID_ERR_NOMEM);
	while (*p != '\0') {
		size_t n = strcspn(p, ",\n");
		const char *a = p;
		const char *b = p + n;

		while (a < b && isspace((unsigned char)*a))
			a++;
		while (b > a && isspace((unsigned char)b[-1]))
			b--;
		if (b > a)
			CID_TRY(witness_add(ws, a, (size_t)(b - a), err, errsz));
		p += n + (p[n] != '\0');
	}
	*out = ws;
	ws = NULL;
out:
	cid_audit_witnesses_free(ws);
	return rc;
}

/* ---- what a witness last cosigned ---- */

static enum cid_err state_key(const struct witness *w, struct cid_buf *key)
{
	cid_buf_init(key, 512);
	cid_buf_puts(key, STATE_PREFIX);
	cid_buf_puts(key, cid_note_verifier_vkey(w->v));
	return cid_buf_status(key);
}

static enum cid_err state_get(struct cid_txn *txn, const struct witness *w, uint64_t *size,
			      uint64_t *cosigned)
{
	struct cid_buf key;
	json_t *rec = NULL;
	enum cid_err rc = state_key(w, &key);

	*size = 0;
	*cosigned = 0;
	if (rc == CID_OK)
		rc = cid_txn_get_json(txn, CID_DB_META, (struct cid_str){key.data, key.len}, &rec);
	if (rc == CID_OK && cid_json_int(rec, "size") > 0)
		*size = (uint64_t)cid_json_int(rec, "size");
	if (rc == CID_OK && cid_json_int(rec, "cosigned") > 0)
		*cosigned = (uint64_t)cid_json_int(rec, "cosigned");
	cid_buf_free(&key);
	json_decref(rec);
	return rc == CID_ERR_NOTFOUND ? CID_OK : rc;
}

/* What a push learnt, written in one transaction: the size, and the cosignature lines. */
struct learnt {
	const struct witness *w;
	uint64_t size;	   /* the witness's size now */
	uint64_t cosigned; /* the largest of our checkpoints it cosigned */
	int64_t now;
	const char *lines; /* cosignature lines for the checkpoint of size; NULL: none */
	size_t lines_len;
};

static enum cid_err learnt_cb(struct cid_txn *txn, void *arg)
{
	const struct learnt *l = arg;
	struct cid_buf key;
	struct cid_buf note;
	struct cid_note parsed;
	json_t *rec = NULL;
	json_t *state = NULL;
	char cp_key[AUDIT_SEQ_HEX + 1];
	const char *old;
	enum cid_err rc = state_key(l->w, &key);

	cid_buf_init(&note, CID_NOTE_MAX_SIZE);
	CID_TRY(rc);
	state = json_pack("{s:I, s:I, s:I}", "size", (json_int_t)l->size, "cosigned",
			  (json_int_t)l->cosigned, "time", (json_int_t)l->now);
	CID_ENSURE(state != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_txn_put_json(txn, CID_DB_META, (struct cid_str){key.data, key.len}, state, 0));
	if (l->lines == NULL)
		goto out;
	audit_seq_key(l->size, cp_key);
	CID_TRY(cid_txn_get_json(txn, CID_DB_AUDIT_CP, cid_str_of(cp_key), &rec));
	old = cid_json_str(rec, "note");
	CID_ENSURE(old != NULL, CID_ERR_STORE);
	if (strstr(old, l->lines) != NULL)
		goto out; /* kept already */
	cid_buf_puts(&note, old);
	cid_buf_append(&note, l->lines, l->lines_len);
	/* still a signed note within bounds, or the cosignature is not kept */
	CID_TRY(cid_buf_status(&note));
	CID_TRY(cid_note_parse((struct cid_str){note.data, note.len}, &parsed));
	CID_ENSURE(json_object_set_new(rec, "note", json_stringn(note.data, note.len)) == 0,
		   CID_ERR_NOMEM);
	CID_TRY(cid_txn_put_json(txn, CID_DB_AUDIT_CP, cid_str_of(cp_key), rec, 0));
out:
	cid_buf_free(&key);
	cid_buf_free(&note);
	json_decref(rec);
	json_decref(state);
	return rc;
}

/* ---- a push ---- */

/* Says one line about a witness on the log stream. */
static void say(FILE *log, const struct witness *w, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void say(FILE *log, const struct witness *w, const char *fmt, ...)
{
	va_list ap;

	if (log == NULL)
		return;
	fprintf(log, "civicid: audit witness %s: ", w->url);
	va_start(ap, fmt);
	vfprintf(log, fmt, ap);
	va_end(ap);
	fputc('\n', log);
	fflush(log);
}

/* The add-checkpoint body: "old N", the proof from old to size, a blank line, the note. */
static enum cid_err request_body(struct cid_store *s, uint64_t old, uint64_t size, const char *note,
				 struct cid_buf *b)
{
	struct cid_txn *txn = NULL;
	struct cid_merkle_proof p;
	char h[HASH_B64 + 1];
	enum cid_err rc = CID_OK;

	cid_buf_init(b, CID_WITNESS_MAX_BODY);
	CID_TRY(cid_store_read_begin(s, &txn));
	CID_TRY(cid_audit_consistency_proof(txn, old, size, &p));
	cid_buf_printf(b, "old %" PRIu64 "\n", old);
	for (size_t i = 0; i < p.len; i++) {
		CID_TRY(cid_b64_encode(p.hash[i], CID_MERKLE_HASH, h, sizeof(h)));
		cid_buf_puts(b, h);
		cid_buf_append(b, "\n", 1);
	}
	cid_buf_append(b, "\n", 1);
	cid_buf_puts(b, note);
	rc = cid_buf_status(b);
out:
	cid_store_read_end(txn);
	return rc;
}

/* The checkpoint's text, a blank line and lines, parsed into *out (which borrows b). */
static bool with_lines(struct cid_str text, const char *lines, size_t n, struct cid_buf *b,
		       struct cid_note *out)
{
	cid_buf_init(b, CID_NOTE_MAX_SIZE);
	cid_buf_append(b, text.ptr, text.len);
	cid_buf_append(b, "\n", 1);
	cid_buf_append(b, lines, n);
	return cid_buf_status(b) == CID_OK &&
	       cid_note_parse((struct cid_str){b->data, b->len}, out) == CID_OK;
}

/*
 * The witness's 200 answer checked: its signature lines that name w's key
 * (name and key id) go to kept, and must all verify over the checkpoint's
 * text, at least one. Every other line is dropped: a witness vouches only
 * for its own cosignature, and a line kept in the note naming the log's key
 * that does not verify would make the checkpoint fail for every verifier.
 */
static bool cosigned(const struct witness *w, const char *note, const char *answer, size_t n,
		     struct cid_buf *kept)
{
	const char *name = cid_note_verifier_name(w->v);
	const struct cid_note_verifier *vs[] = {w->v};
	struct cid_buf answered = {0};
	struct cid_buf checked = {0};
	struct cid_note parsed;
	struct cid_note a;
	struct cid_note k;
	struct cid_note_check check;
	bool ok = false;

	cid_buf_init(kept, CID_NOTE_MAX_SIZE);
	if (cid_note_parse(cid_str_of(note), &parsed) != CID_OK || n == 0 ||
	    answer[n - 1] != '\n' || !with_lines(parsed.text, answer, n, &answered, &a))
		goto out;
	for (size_t i = 0; i < a.n_sigs; i++) {
		const struct cid_note_sig *sig = &a.sigs[i];

		if (sig->id != cid_note_verifier_id(w->v) || sig->name.len != strlen(name) ||
		    memcmp(sig->name.ptr, name, sig->name.len) != 0)
			continue;
		cid_note_sig_format(sig, kept);
	}
	ok = kept->len > 0 && cid_buf_status(kept) == CID_OK &&
	     with_lines(parsed.text, kept->data, kept->len, &checked, &k) &&
	     cid_note_verify(&k, vs, 1, &check) == CID_OK && check.verified;
out:
	cid_buf_free(&answered);
	cid_buf_free(&checked);
	return ok;
}

/* A decimal size answered with 409, else false. */
static bool size_answer(const struct cid_http_answer *a, uint64_t *size)
{
	size_t n = a->len;

	while (n > 0 && (a->body[n - 1] == '\n' || a->body[n - 1] == '\r'))
		n--;
	return n > 0 && cid_parse_u64(a->body, n, 0, CID_MERKLE_MAX_SIZE, size) == CID_OK;
}

/* Pushes the checkpoint of size (note) to w, from what w last cosigned. */
static enum cid_err push_one(struct cid_store *s, const struct witness *w, uint64_t size,
			     const char *note, int64_t now, FILE *log)
{
	static const struct cid_fetch_limits lim = {ANSWER_MAX, CID_FETCH_CONNECT_TIMEOUT_MS,
						    CID_FETCH_TIMEOUT_MS};
	struct cid_txn *txn = NULL;
	struct cid_http_answer a = {0};
	struct cid_buf body = {0};
	struct cid_buf kept = {0};
	struct cid_buf url;
	struct learnt l = {.w = w, .now = now};
	char why[256] = "";
	uint64_t old;
	enum cid_err rc = CID_OK;

	cid_buf_init(&url, CID_MAX_URI + 32);
	cid_buf_puts(&url, w->url);
	if (url.len > 0 && url.data[url.len - 1] != '/')
		cid_buf_append(&url, "/", 1);
	cid_buf_puts(&url, "add-checkpoint");
	CID_TRY(cid_buf_status(&url));
	CID_TRY(cid_store_read_begin(s, &txn));
	CID_TRY(state_get(txn, w, &old, &l.cosigned));
	cid_store_read_end(txn);
	txn = NULL;
	if (l.cosigned >= size && old <= size)
		goto out; /* it cosigned this checkpoint (or a later one of ours) already */
	for (int attempt = 0; attempt < 2; attempt++) {
		if (old > size) {
			say(log, w,
			    "holds a checkpoint of %" PRIu64
			    " entries of this log, which has %" PRIu64
			    ": this log was rolled back (restored from a backup?) or cut",
			    old, size);
			goto out;
		}
		cid_buf_free(&body);
		CID_TRY(request_body(s, old, size, note, &body));
		free(a.body);
		a = (struct cid_http_answer){0};
		rc = cid_http_post(url.data, &lim, "text/plain; charset=utf-8", body.data, body.len,
				   &a, why, sizeof(why));
		if (rc == CID_ERR_NOMEM)
			goto out;
		if (rc != CID_OK) {
			say(log, w, "cannot push checkpoint %" PRIu64 ": %s", size, why);
			rc = CID_OK;
			goto out;
		}
		cid_buf_free(&kept);
		if (a.status == 200 && cosigned(w, note, a.body, a.len, &kept)) {
			l.size = size;
			l.cosigned = size;
			l.lines = kept.data;
			l.lines_len = kept.len;
			CID_TRY(cid_store_update(s, learnt_cb, &l));
			goto out;
		}
		if (a.status == 409 && size_answer(&a, &l.size) && attempt == 0) {
			CID_TRY(cid_store_update(s, learnt_cb, &l));
			old = l.size; /* retry from what the witness holds */
			continue;
		}
		say(log, w, "refused checkpoint %" PRIu64 " (HTTP %ld): %.*s", size, a.status,
		    (int)strcspn(a.body, "\n"), a.body);
		goto out;
	}
out:
	cid_store_read_end(txn);
	cid_buf_free(&url);
	cid_buf_free(&body);
	cid_buf_free(&kept);
	free(a.body);
	return rc;
}

enum cid_err cid_audit_witness_push(struct cid_store *s, const struct cid_audit_witnesses *ws,
				    int64_t now, FILE *log)
{
	struct cid_txn *txn = NULL;
	char *note = NULL;
	uint64_t size = 0;
	enum cid_err rc = CID_OK;

	CID_ENSURE(s != NULL, CID_ERR_INVALID);
	if (cid_audit_witnesses_count(ws) == 0)
		goto out;
	CID_TRY(cid_store_read_begin(s, &txn));
	CID_TRY(audit_newest_note(txn, &size, &note));
	cid_store_read_end(txn);
	txn = NULL;
	for (size_t i = 0; size > 0 && i < ws->n; i++)
		CID_TRY(push_one(s, &ws->w[i], size, note, now, log));
out:
	cid_store_read_end(txn);
	free(note);
	return rc;
}

/* ---- a witness's checkpoint, for verification ---- */

enum cid_err cid_audit_witness_checkpoint_read(const char *doc, size_t len, const char *origin,
					       char **note, size_t *note_len)
{
	json_t *o = NULL;
	const json_t *logs;
	const json_t *l;
	size_t i;
	const char *cp = NULL;
	size_t cp_len = 0;
	enum cid_err rc = CID_OK;

	CID_ENSURE(doc != NULL && origin != NULL, CID_ERR_INVALID);
	if (len == 0 || doc[0] != '{') {
		cp = doc; /* a note as it is */
		cp_len = len;
	} else {
		o = json_loadb(doc, len, JSON_REJECT_DUPLICATES, NULL);
		logs = json_object_get(o, "logs");
		CID_ENSURE(json_is_array(logs), CID_ERR_INVALID);
		json_array_foreach(logs, i, l)
		{
			const json_t *c = json_object_get(l, "checkpoint");

			if (audit_same_str(cid_json_str(l, "origin"), origin) &&
			    json_is_string(c)) {
				cp = json_string_value(c);
				cp_len = json_string_length(c);
			}
		}
		CID_ENSURE(cp != NULL, CID_ERR_NOTFOUND);
	}
	*note = strndup(cp, cp_len);
	CID_ENSURE(*note != NULL, CID_ERR_NOMEM);
	*note_len = cp_len;
out:
	json_decref(o);
	return rc;
}
