/*
 * witness: check a log's new checkpoint against the last one cosigned,
 * cosign only an extension, and say precisely why anything else is refused.
 *
 * The request is parsed outside the store (bounded, strict). The decision
 * and the record happen in one write transaction: the origin's record is
 * read, the log's signature checked with the keys trusted for it, the sizes
 * compared with what was recorded, the proof verified, and the new state
 * written before the transaction commits, so two requests can never both
 * pass against the same recorded size. A checkpoint that is validly signed
 * but refused as a rollback, fork or inconsistent is kept as "refused":
 * signed evidence of the log's misbehaviour (tlog-witness allows it).
 */
#include "witness.h"

#include "bounds.h"
#include "buf.h"
#include "crypto.h"
#include "merkle.h"
#include "note.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SELF	   "self"
#define LOG_PREFIX "log\n"
#define TEXT_PLAIN "text/plain; charset=utf-8"
#define TLOG_SIZE  "text/x.tlog.size"
#define HASH_B64   44 /* base64 of a 32-byte hash */
#define RECORD_MAX (CID_NOTE_MAX_SIZE * 2 + 8192)

struct cid_witness {
	struct cid_store *store;
	struct cid_note_signer *signer;
	char *vkey;
};

/* An add-checkpoint request, parsed; the slices borrow the body. */
struct request {
	uint64_t old;
	struct cid_merkle_proof proof;
	struct cid_str msg; /* the signed checkpoint */
	struct cid_note note;
	struct cid_checkpoint cp;
};

/* ---- the witness's key and the logs it trusts ---- */

struct init_arg {
	const char *name;
	const char *seed_b64;
	const char *vkey;
	int64_t now;
};

static enum cid_err init_txn(struct cid_txn *txn, void *arg)
{
	const struct init_arg *a = arg;
	json_t *rec = json_pack("{s:s, s:s, s:s, s:I}", "name", a->name, "seed", a->seed_b64,
				"vkey", a->vkey, "created_at", (json_int_t)a->now);
	enum cid_err rc;

	if (rec == NULL)
		return CID_ERR_NOMEM;
	rc = cid_txn_put_json(txn, CID_DB_WITNESS, cid_str_of(SELF), rec, CID_PUT_NOOVERWRITE);
	json_decref(rec);
	return rc;
}

enum cid_err cid_witness_init(struct cid_store *store, const char *name, int64_t now, char **vkey)
{
	struct cid_note_signer *s = NULL;
	uint8_t seed[CID_NOTE_KEY_BYTES];
	char seed_b64[HASH_B64 + 1] = "";
	char *v = NULL;
	enum cid_err rc = CID_OK;

	CID_TRY(cid_note_signer_new(cid_str_of(name), CID_NOTE_COSIG, NULL, &s));
	CID_TRY(cid_note_signer_seed(s, seed));
	CID_TRY(cid_b64_encode(seed, sizeof(seed), seed_b64, sizeof(seed_b64)));
	CID_TRY(cid_note_signer_vkey(s, &v));
	struct init_arg a = {name, seed_b64, v, now};
	CID_TRY(cid_store_update(store, init_txn, &a));
	*vkey = v;
	v = NULL;
out:
	cid_wipe(seed, sizeof(seed));
	cid_wipe(seed_b64, sizeof(seed_b64));
	free(v);
	cid_note_signer_free(s);
	return rc;
}

enum cid_err cid_witness_open(struct cid_store *store, struct cid_witness **out)
{
	struct cid_witness *w = calloc(1, sizeof(*w));
	struct cid_txn *txn = NULL;
	json_t *rec = NULL;
	uint8_t seed[CID_NOTE_KEY_BYTES];
	size_t seedlen = 0;
	const char *b64;
	enum cid_err rc = CID_OK;

	CID_ENSURE(w != NULL, CID_ERR_NOMEM);
	w->store = store;
	CID_TRY(cid_store_read_begin(store, &txn));
	CID_TRY(cid_txn_get_json(txn, CID_DB_WITNESS, cid_str_of(SELF), &rec));
	b64 = cid_json_str(rec, "seed");
	CID_ENSURE(b64 != NULL && cid_json_str(rec, "name") != NULL &&
		       cid_json_str(rec, "vkey") != NULL,
		   CID_ERR_STORE);
	CID_ENSURE(cid_b64_decode(b64, strlen(b64), seed, sizeof(seed), &seedlen) == CID_OK &&
		       seedlen == sizeof(seed),
		   CID_ERR_STORE);
	CID_TRY(cid_note_signer_new(cid_str_of(cid_json_str(rec, "name")), CID_NOTE_COSIG, seed,
				    &w->signer));
	CID_TRY(cid_note_signer_vkey(w->signer, &w->vkey));
	/* the stored vkey is what operators gave out: the key must still be it */
	CID_ENSURE(strcmp(w->vkey, cid_json_str(rec, "vkey")) == 0, CID_ERR_STORE);
	*out = w;
	w = NULL;
out:
	cid_wipe(seed, sizeof(seed));
	json_decref(rec);
	cid_store_read_end(txn);
	cid_witness_free(w);
	return rc;
}

void cid_witness_free(struct cid_witness *w)
{
	if (w == NULL)
		return;
	cid_note_signer_free(w->signer);
	free(w->vkey);
	free(w);
}

const char *cid_witness_vkey(const struct cid_witness *w)
{
	return w->vkey;
}

/* One line of text: 1..CID_NOTE_MAX_NAME bytes of UTF-8, no control characters. */
static bool origin_ok(const char *origin)
{
	size_t n = strnlen(origin, CID_NOTE_MAX_NAME + 1);

	return n > 0 && n <= CID_NOTE_MAX_NAME && cid_utf8_valid(origin, n) &&
	       strpbrk(origin, "\t\r\n") == NULL;
}

/* The store key of origin's record into b. */
static enum cid_err log_key(struct cid_str origin, struct cid_buf *b)
{
	cid_buf_init(b, 4 + CID_NOTE_MAX_NAME);
	cid_buf_puts(b, LOG_PREFIX);
	cid_buf_append(b, origin.ptr, origin.len);
	return cid_buf_status(b);
}

struct add_log_arg {
	const char *origin;
	const char *vkey;
};

static enum cid_err add_log_txn(struct cid_txn *txn, void *arg)
{
	const struct add_log_arg *a = arg;
	struct cid_buf key;
	json_t *rec = NULL, *keys, *k;
	uint8_t empty[CID_MERKLE_HASH];
	char empty_b64[HASH_B64 + 1];
	size_t i;
	enum cid_err rc = CID_OK;

	CID_TRY(log_key(cid_str_of(a->origin), &key));
	rc = cid_txn_get_json(txn, CID_DB_WITNESS, (struct cid_str){key.data, key.len}, &rec);
	if (rc == CID_ERR_NOTFOUND) {
		cid_merkle_empty_root(empty);
		CID_TRY(cid_b64_encode(empty, sizeof(empty), empty_b64, sizeof(empty_b64)));
		rec = json_pack("{s:[], s:i, s:s}", "keys", "size", 0, "root", empty_b64);
		CID_ENSURE(rec != NULL, CID_ERR_NOMEM);
		rc = CID_OK;
	}
	CID_TRY(rc);
	keys = json_object_get(rec, "keys");
	CID_ENSURE(json_is_array(keys), CID_ERR_STORE);
	for (i = 0; i < json_array_size(keys); i++) {
		k = json_array_get(keys, i);
		CID_ENSURE(!json_is_string(k) || strcmp(json_string_value(k), a->vkey) != 0,
			   CID_ERR_EXISTS);
	}
	CID_ENSURE(json_array_size(keys) < CID_WITNESS_MAX_KEYS, CID_ERR_TOOBIG);
	CID_ENSURE(json_array_append_new(keys, json_string(a->vkey)) == 0, CID_ERR_NOMEM);
	CID_TRY(cid_txn_put_json(txn, CID_DB_WITNESS, (struct cid_str){key.data, key.len}, rec, 0));
out:
	json_decref(rec);
	cid_buf_free(&key);
	return rc;
}

enum cid_err cid_witness_add_log(struct cid_store *store, const char *origin, const char *vkey)
{
	struct cid_note_verifier *v = NULL;
	struct add_log_arg a = {origin, vkey};
	enum cid_err rc = CID_OK;

	CID_ENSURE(origin_ok(origin), CID_ERR_INVALID);
	rc = cid_note_verifier_parse(cid_str_of(vkey), &v);
	/* out of memory, or OpenSSL failing, is no verdict on the key */
	CID_ENSURE(rc == CID_OK || rc == CID_ERR_NOMEM || rc == CID_ERR_CRYPTO, CID_ERR_INVALID);
	CID_TRY(rc);
	CID_ENSURE(cid_note_verifier_type(v) == CID_NOTE_ED25519, CID_ERR_INVALID);
	CID_TRY(cid_store_update(store, add_log_txn, &a));
out:
	cid_note_verifier_free(v);
	return rc;
}

struct state_arg {
	json_t *logs;
};

static enum cid_err state_row(struct cid_str key, struct cid_str val, void *arg)
{
	struct state_arg *a = arg;
	json_t *rec = NULL;
	enum cid_err rc = cid_store_parse_json(val, &rec);

	if (rc != CID_OK)
		return rc;
	if (json_object_set_new(
		rec, "origin",
		json_stringn(key.ptr + strlen(LOG_PREFIX), key.len - strlen(LOG_PREFIX))) != 0) {
		json_decref(rec);
		return CID_ERR_NOMEM;
	}
	/* the append takes rec even when it fails */
	return json_array_append_new(a->logs, rec) == 0 ? CID_OK : CID_ERR_NOMEM;
}

enum cid_err cid_witness_state(struct cid_store *store, json_t **out)
{
	struct cid_txn *txn = NULL;
	json_t *self = NULL, *st = NULL;
	struct state_arg a = {json_array()};
	enum cid_err rc = CID_OK;

	CID_ENSURE(a.logs != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_store_read_begin(store, &txn));
	CID_TRY(cid_txn_get_json(txn, CID_DB_WITNESS, cid_str_of(SELF), &self));
	CID_TRY(cid_txn_foreach(txn, CID_DB_WITNESS, cid_str_of(LOG_PREFIX), state_row, &a));
	st = json_pack("{s:s?, s:s?, s:O}", "name", cid_json_str(self, "name"), "vkey",
		       cid_json_str(self, "vkey"), "logs", a.logs);
	CID_ENSURE(st != NULL, CID_ERR_NOMEM);
	*out = st;
out:
	json_decref(self);
	json_decref(a.logs);
	cid_store_read_end(txn);
	return rc;
}

/* ---- add-checkpoint ---- */

const char *cid_witness_verdict_name(enum cid_witness_verdict v)
{
	switch (v) {
	case CID_WITNESS_COSIGNED: return "cosigned";
	case CID_WITNESS_MALFORMED: return "malformed";
	case CID_WITNESS_UNKNOWN_ORIGIN: return "unknown_origin";
	case CID_WITNESS_BAD_SIGNATURE: return "bad_signature";
	case CID_WITNESS_CONFLICT: return "conflict";
	case CID_WITNESS_ROLLBACK: return "rollback";
	case CID_WITNESS_FORK: return "fork";
	case CID_WITNESS_INCONSISTENT: return "inconsistent";
	default: return "unknown";
	}
}

void cid_witness_result_clear(struct cid_witness_result *out)
{
	free(out->body);
	memset(out, 0, sizeof(*out));
}

/* Sets out's verdict, status and a body from fmt; NOMEM if the body cannot be made. */
static enum cid_err answer(struct cid_witness_result *out, enum cid_witness_verdict v, int status,
			   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static enum cid_err answer(struct cid_witness_result *out, enum cid_witness_verdict v, int status,
			   const char *fmt, ...)
{
	struct cid_buf b;
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	cid_buf_init(&b, sizeof(line) + 2);
	cid_buf_puts(&b, line);
	cid_buf_append(&b, "\n", 1);
	free(out->body);
	out->body = cid_buf_take(&b, NULL);
	out->verdict = v;
	out->status = status;
	out->content_type = TEXT_PLAIN;
	return out->body == NULL ? CID_ERR_NOMEM : CID_OK;
}

/* A decimal without leading zeroes (but "0"), up to INT64_MAX. */
static bool parse_size(struct cid_str s, uint64_t *out)
{
	return !(s.len > 1 && s.ptr[0] == '0') &&
	       cid_parse_u64(s.ptr, s.len, 0, (uint64_t)INT64_MAX, out) == CID_OK;
}

/*
 * Parses the body: "old N\n", up to CID_WITNESS_MAX_PROOF base64 hash lines,
 * "\n", then the signed checkpoint. CID_ERR_INVALID: malformed, and *why
 * says what is wrong; CID_ERR_NOMEM: no verdict on the body.
 */
static enum cid_err parse_request(const char *body, size_t len, struct request *r, const char **why)
{
	const char *end = body + len;
	const char *p = body;
	const char *nl;
	enum cid_err rc;

	*why = "the body is over the size limit";
	if (len > CID_WITNESS_MAX_BODY)
		return CID_ERR_INVALID;
	/*= c2sp.org/tlog-witness §add-checkpoint
	 *# The old size line MUST consist of the string `old`, a single space (0x20),
	 *# and the tree size of the previous checkpoint encoded as an ASCII decimal with no
	 *# leading zeroes (unless the size is zero, in which case the encoding MUST be `0`). */
	*why = "the first line is not \"old SIZE\"";
	nl = memchr(p, '\n', len);
	if (nl == NULL || nl - p < 5 || memcmp(p, "old ", 4) != 0 ||
	    !parse_size((struct cid_str){p + 4, (size_t)(nl - p - 4)}, &r->old))
		return CID_ERR_INVALID;
	p = nl + 1;
	/*# Each consistency proof line MUST encode a single hash in base64. The client MUST
	 *# NOT send more than 63 consistency proof lines. */
	r->proof.len = 0;
	for (;;) {
		size_t n = 0;

		*why = "the proof lines do not end in a blank line";
		nl = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
		if (nl == NULL)
			return CID_ERR_INVALID;
		if (nl == p)
			break;
		*why = "more than 63 proof lines";
		if (r->proof.len == CID_WITNESS_MAX_PROOF)
			return CID_ERR_INVALID;
		*why = "a proof line is not the base64 of a 32-byte hash";
		if (nl - p != HASH_B64 ||
		    cid_b64_decode(p, HASH_B64, r->proof.hash[r->proof.len], CID_MERKLE_HASH, &n) !=
			CID_OK ||
		    n != CID_MERKLE_HASH)
			return CID_ERR_INVALID;
		r->proof.len++;
		p = nl + 1;
	}
	r->msg = (struct cid_str){p + 1, (size_t)(end - p - 1)};
	*why = "the checkpoint is not a signed note";
	rc = cid_note_parse(r->msg, &r->note);
	if (rc == CID_ERR_NOMEM)
		return rc; /* out of memory is not the log's malformed body */
	if (rc != CID_OK)
		return CID_ERR_INVALID;
	*why = "the note is not a checkpoint";
	if (cid_checkpoint_parse(r->note.text, &r->cp) != CID_OK)
		return CID_ERR_INVALID;
	return CID_OK;
}

struct add_arg {
	struct cid_witness *w;
	const struct request *req;
	int64_t now;
	struct cid_witness_result *out;
};

/* The log's record: its trusted keys, and what was last cosigned. */
struct recorded {
	json_t *rec;
	uint64_t size;
	uint8_t root[CID_MERKLE_HASH];
	int64_t time;
};

static enum cid_err read_recorded(json_t *rec, struct recorded *r)
{
	const char *root = cid_json_str(rec, "root");
	size_t n = 0;

	r->rec = rec;
	r->size = (uint64_t)cid_json_int(rec, "size");
	r->time = cid_json_int(rec, "time");
	if (root == NULL || !json_is_array(json_object_get(rec, "keys")) ||
	    cid_b64_decode(root, strlen(root), r->root, sizeof(r->root), &n) != CID_OK ||
	    n != sizeof(r->root) || cid_json_int(rec, "size") < 0)
		return CID_ERR_STORE;
	return CID_OK;
}

/* Verifies the checkpoint against the log keys of rec: CID_OK, DENIED, or an error. */
static enum cid_err check_signature(const struct request *req, json_t *rec)
{
	const struct cid_note_verifier *vs[CID_WITNESS_MAX_KEYS];
	struct cid_note_verifier *owned[CID_WITNESS_MAX_KEYS] = {0};
	json_t *keys = json_object_get(rec, "keys");
	size_t n = 0, i;
	json_t *k;
	enum cid_err rc = CID_OK;

	json_array_foreach(keys, i, k)
	{
		const char *text = json_string_value(k);

		CID_ENSURE(text != NULL && n < CID_WITNESS_MAX_KEYS, CID_ERR_STORE);
		rc = cid_note_verifier_parse(cid_str_of(text), &owned[n]);
		/* a stored key that does not parse is a damaged store; out of memory is not */
		CID_ENSURE(rc == CID_OK || rc == CID_ERR_NOMEM || rc == CID_ERR_CRYPTO,
			   CID_ERR_STORE);
		CID_TRY(rc);
		vs[n] = owned[n];
		n++;
	}
	rc = cid_note_verify(&req->note, vs, n, NULL);
out:
	for (i = 0; i < n; i++)
		cid_note_verifier_free(owned[i]);
	return rc;
}

/* 409: the recorded size as text/x.tlog.size (tlog-witness), under verdict v. */
static enum cid_err answer_size(struct cid_witness_result *out, enum cid_witness_verdict v,
				uint64_t recorded)
{
	enum cid_err rc = answer(out, v, 409, "%llu", (unsigned long long)recorded);

	out->content_type = TLOG_SIZE;
	return rc;
}

/*
 * The sizes and the proof against what was recorded, in the spec's order.
 * Sets *refused and answers out when the checkpoint may not be cosigned.
 */
static enum cid_err judge(const struct request *q, const struct recorded *r,
			  struct cid_witness_result *out, bool *refused)
{
	unsigned long long old = q->old, size = q->cp.size, rec = r->size;
	uint8_t empty[CID_MERKLE_HASH];

	*refused = true;
	/*= c2sp.org/tlog-witness §add-checkpoint
	 *# The old size MUST be equal to or lower than the checkpoint size. Otherwise,
	 *# the witness MUST respond with a "400 Bad Request" HTTP status code. */
	if (q->old > q->cp.size && q->cp.size < r->size)
		return answer(out, CID_WITNESS_ROLLBACK, 400,
			      "rollback: the checkpoint's size %llu is below the %llu this witness "
			      "cosigned: the log was truncated or restored from an older state",
			      size, rec);
	if (q->old > q->cp.size)
		return answer(out, CID_WITNESS_MALFORMED, 400,
			      "malformed: the old size %llu is above the checkpoint's size %llu",
			      old, size);
	/*# The witness MUST check that the old size matches the size of the latest
	 *# checkpoint it cosigned for the checkpoint's origin (or zero if it never cosigned
	 *# a checkpoint for that origin). If it doesn't match, the witness MUST respond
	 *# with a "409 Conflict" HTTP status code. */
	if (q->old != r->size)
		return answer_size(
		    out, q->cp.size < r->size ? CID_WITNESS_ROLLBACK : CID_WITNESS_CONFLICT,
		    r->size);
	/*# A checkpoint of size zero MUST have the root hash of the empty tree, which
	 *# [RFC 6962][], Section 2.1 defines as the hash of the empty string. Otherwise,
	 *# the witness MUST respond with a "422 Unprocessable Entity" HTTP status code. */
	cid_merkle_empty_root(empty);
	if (q->cp.size == 0 && memcmp(q->cp.root, empty, sizeof(empty)) != 0)
		return answer(
		    out, CID_WITNESS_INCONSISTENT, 422,
		    "inconsistent: a checkpoint of size 0 must have the empty tree's root");
	/*# If the proof is not empty when the old size is zero, or if a Merkle Consistency
	 *# Proof doesn't verify, the witness MUST respond with a "422 Unprocessable Entity"
	 *# HTTP status code. */
	if (q->old == 0 && q->proof.len != 0)
		return answer(out, CID_WITNESS_INCONSISTENT, 422,
			      "inconsistent: a proof from size 0 must be empty");
	/*# If the old size matches the checkpoint size, the witness MUST check that the
	 *# root hashes are also identical. If they don't match, the witness MUST respond
	 *# with a "422 Unprocessable Entity" HTTP status code. */
	if (q->old == q->cp.size && memcmp(q->cp.root, r->root, sizeof(r->root)) != 0)
		return answer(out, CID_WITNESS_FORK, 422,
			      "fork: a checkpoint of size %llu with another root than the one this "
			      "witness cosigned",
			      size);
	if (cid_merkle_verify_consistency(r->size, q->cp.size, r->root, q->cp.root, &q->proof) !=
	    CID_OK)
		return answer(out, CID_WITNESS_INCONSISTENT, 422,
			      "inconsistent: the proof does not show that the tree of size %llu "
			      "extends the one of size %llu this witness cosigned (a fork, a log "
			      "restored from an older state and grown again, or a wrong proof)",
			      size, rec);
	*refused = false;
	return CID_OK;
}

/* Keeps a validly signed checkpoint refused as misbehaviour in rec, as evidence. */
static enum cid_err keep_refused(json_t *rec, const struct add_arg *a)
{
	json_t *ev =
	    json_pack("{s:s, s:I, s:s%}", "verdict", cid_witness_verdict_name(a->out->verdict),
		      "time", (json_int_t)a->now, "checkpoint", a->req->msg.ptr, a->req->msg.len);

	if (ev == NULL || json_object_set_new(rec, "refused", ev) != 0)
		return CID_ERR_NOMEM;
	return CID_OK;
}

/* Records the cosigned checkpoint in rec, with the cosignature line made at time t. */
static enum cid_err keep_cosigned(json_t *rec, const struct add_arg *a, int64_t t,
				  struct cid_str line)
{
	const struct request *q = a->req;
	char root[HASH_B64 + 1];
	struct cid_buf cp;
	enum cid_err rc = cid_b64_encode(q->cp.root, sizeof(q->cp.root), root, sizeof(root));

	cid_buf_init(&cp, RECORD_MAX);
	cid_buf_append(&cp, q->msg.ptr, q->msg.len);
	cid_buf_append(&cp, line.ptr, line.len);
	if (rc == CID_OK)
		rc = cid_buf_status(&cp);
	if (rc == CID_OK &&
	    (json_object_set_new(rec, "size", json_integer((json_int_t)q->cp.size)) != 0 ||
	     json_object_set_new(rec, "root", json_string(root)) != 0 ||
	     json_object_set_new(rec, "time", json_integer((json_int_t)t)) != 0 ||
	     json_object_set_new(rec, "checkpoint", json_stringn(cp.data, cp.len)) != 0))
		rc = CID_ERR_NOMEM;
	cid_buf_free(&cp);
	return rc;
}

static enum cid_err add_txn(struct cid_txn *txn, void *arg)
{
	struct add_arg *a = arg;
	const struct request *q = a->req;
	struct cid_witness_result *out = a->out;
	struct cid_buf key, line;
	struct recorded r = {0};
	json_t *rec = NULL;
	bool refused = true;
	int64_t t;
	enum cid_err rc;

	cid_witness_result_clear(out); /* a rerun after map growth starts afresh */
	out->size = q->cp.size;
	cid_buf_init(&line, CID_NOTE_MAX_SIZE);
	CID_TRY(log_key(q->cp.origin, &key));
	rc = cid_txn_get_json(txn, CID_DB_WITNESS, (struct cid_str){key.data, key.len}, &rec);
	/*# If the checkpoint origin is unknown, the witness MUST respond with a "404
	 *# Not Found" HTTP status code. */
	if (rc == CID_ERR_NOTFOUND) {
		rc = answer(out, CID_WITNESS_UNKNOWN_ORIGIN, 404,
			    "unknown origin: this witness follows no log of that origin");
		goto out;
	}
	CID_TRY(rc);
	CID_TRY(read_recorded(rec, &r));
	out->recorded = r.size;
	/*# The witness MUST respond with a "403 Forbidden" HTTP status code if either no
	 *# signature from a trusted key for the origin is present, or a signature line's
	 *# key name and ID match a trusted key but the signature itself fails to verify */
	rc = check_signature(q, rec);
	if (rc == CID_ERR_DENIED) {
		rc = answer(out, CID_WITNESS_BAD_SIGNATURE, 403,
			    "bad signature: the checkpoint has no valid signature of a key this "
			    "witness trusts for its origin");
		goto out;
	}
	CID_TRY(rc);
	CID_TRY(judge(q, &r, out, &refused));
	if (refused) {
		if (out->verdict == CID_WITNESS_ROLLBACK || out->verdict == CID_WITNESS_FORK ||
		    out->verdict == CID_WITNESS_INCONSISTENT) {
			CID_TRY(keep_refused(rec, a));
			CID_TRY(cid_txn_put_json(txn, CID_DB_WITNESS,
						 (struct cid_str){key.data, key.len}, rec, 0));
		}
		goto out;
	}
	/* a cosignature never predates the origin's last one, whatever the clock did */
	t = a->now > r.time ? a->now : r.time;
	if (t < 1)
		t = 1;
	CID_TRY(cid_note_sign_line(a->w->signer, q->note.text, (uint64_t)t, &line));
	CID_TRY(keep_cosigned(rec, a, t, (struct cid_str){line.data, line.len}));
	CID_TRY(cid_txn_put_json(txn, CID_DB_WITNESS, (struct cid_str){key.data, key.len}, rec, 0));
	out->verdict = CID_WITNESS_COSIGNED;
	out->status = 200;
	out->content_type = TEXT_PLAIN;
	out->body = cid_buf_take(&line, NULL);
	CID_ENSURE(out->body != NULL, CID_ERR_NOMEM);
out:
	json_decref(rec);
	cid_buf_free(&key);
	cid_buf_free(&line);
	return rc;
}

enum cid_err cid_witness_add_checkpoint(struct cid_witness *w, const char *body, size_t len,
					int64_t now, struct cid_witness_result *out)
{
	struct request *req = calloc(1, sizeof(*req));
	const char *why = NULL;
	enum cid_err rc = CID_OK;

	memset(out, 0, sizeof(*out));
	CID_ENSURE(req != NULL, CID_ERR_NOMEM);
	rc = parse_request(body, len, req, &why);
	if (rc == CID_ERR_INVALID) {
		rc = answer(out, CID_WITNESS_MALFORMED, 400, "malformed: %s", why);
		goto out;
	}
	CID_TRY(rc);
	struct add_arg a = {w, req, now, out};
	rc = cid_store_update(w->store, add_txn, &a);
out:
	if (rc != CID_OK)
		cid_witness_result_clear(out);
	free(req);
	return rc;
}
