/*
 * audit_proof: proofs anyone can check offline without the rest of the log.
 *
 * An inclusion proof is a C2SP tlog-proof (c2sp.org/tlog-proof@v1): the
 * header line, "extra" with the base64 of the entry's canonical bytes (so
 * the leaf hash is recomputed, never trusted), "index" with its seq, the
 * RFC 9162 inclusion path one base64 hash a line, a blank line, and the
 * signed-note checkpoint it is against, cosignatures included. A consistency
 * proof has no C2SP text format: it is a JSON object {"type":
 * "civicid-audit-consistency/v1", "old_size", "size", "proof": [base64
 * hashes], "old_checkpoint", "checkpoint"}, the two signed notes whole.
 *
 * Generation reads O(log n) stored tree nodes; verification needs only the
 * document and the verifier keys, and trusts nothing in the document that a
 * signature or a hash does not bind.
 */
#include "audit.h"

#include "audit_int.h"
#include "buf.h"
#include "str.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TLOG_PROOF  "c2sp.org/tlog-proof@v1"
#define CONSISTENCY "civicid-audit-consistency/v1"
#define HASH_B64    44 /* base64 of a 32-byte hash */

/* ---- making proofs ---- */

/* The signed-note checkpoint stored for size (new string). */
static enum cid_err note_of(struct cid_txn *txn, uint64_t size, char **out)
{
	enum cid_err rc = CID_OK;
	json_t *rec = NULL;
	char key[AUDIT_SEQ_HEX + 1];

	audit_seq_key(size, key);
	rc = cid_txn_get_json(txn, CID_DB_AUDIT_CP, cid_str_of(key), &rec);
	CID_TRY(rc);
	CID_ENSURE(cid_json_str(rec, "note") != NULL, CID_ERR_NOTFOUND);
	*out = strdup(cid_json_str(rec, "note"));
	CID_ENSURE(*out != NULL, CID_ERR_NOMEM);
out:
	json_decref(rec);
	return rc;
}

/* Appends the hashes of p, one base64 line each. */
static enum cid_err proof_lines(const struct cid_merkle_proof *p, struct cid_buf *b)
{
	char h[HASH_B64 + 1];

	for (size_t i = 0; i < p->len; i++) {
		enum cid_err rc = cid_b64_encode(p->hash[i], CID_MERKLE_HASH, h, sizeof(h));

		if (rc != CID_OK)
			return rc;
		cid_buf_puts(b, h);
		cid_buf_append(b, "\n", 1);
	}
	return cid_buf_status(b);
}

enum cid_err cid_audit_prove(struct cid_store *s, uint64_t seq, uint64_t size, char **out,
			     size_t *len)
{
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;
	struct cid_merkle_proof p;
	struct cid_str entry;
	struct cid_buf b;
	char key[AUDIT_SEQ_HEX + 1];
	char *note = NULL;
	char *extra = NULL;

	cid_buf_init(&b, CID_AUDIT_MAX_PROOF);
	CID_ENSURE(s != NULL && out != NULL, CID_ERR_INVALID);
	CID_ENSURE(size == 0 || seq < size, CID_ERR_INVALID);
	CID_TRY(cid_store_read_begin(s, &txn));
	if (size == 0) {
		CID_TRY(audit_newest_note(txn, &size, &note));
		CID_ENSURE(size > seq, CID_ERR_NOTFOUND); /* no checkpoint covers it yet */
	} else {
		CID_TRY(note_of(txn, size, &note));
	}
	audit_seq_key(seq, key);
	CID_TRY(cid_txn_get(txn, CID_DB_AUDIT, cid_str_of(key), &entry));
	CID_TRY(cid_audit_inclusion_proof(txn, seq, size, &p));
	extra = malloc(cid_b64_len(entry.len) + 1);
	CID_ENSURE(extra != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_b64_encode(entry.ptr, entry.len, extra, cid_b64_len(entry.len) + 1));
	cid_buf_printf(&b, "%s\nextra %s\nindex %" PRIu64 "\n", TLOG_PROOF, extra, seq);
	CID_TRY(proof_lines(&p, &b));
	cid_buf_append(&b, "\n", 1);
	cid_buf_puts(&b, note);
	CID_TRY(cid_buf_status(&b));
	*out = cid_buf_take(&b, len);
	CID_ENSURE(*out != NULL, CID_ERR_NOMEM);
out:
	cid_store_read_end(txn);
	cid_buf_free(&b);
	free(extra);
	free(note);
	return rc;
}

enum cid_err cid_audit_prove_consistency(struct cid_store *s, uint64_t old_size, uint64_t size,
					 char **out)
{
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;
	struct cid_merkle_proof p;
	char *old_note = NULL;
	char *note = NULL;
	json_t *doc = NULL;
	json_t *hashes;
	char h[HASH_B64 + 1];

	CID_ENSURE(s != NULL && out != NULL && old_size > 0, CID_ERR_INVALID);
	CID_ENSURE(size == 0 || old_size <= size, CID_ERR_INVALID);
	CID_TRY(cid_store_read_begin(s, &txn));
	if (size == 0) {
		CID_TRY(audit_newest_note(txn, &size, &note));
		CID_ENSURE(size >= old_size, CID_ERR_NOTFOUND);
	} else {
		CID_TRY(note_of(txn, size, &note));
	}
	CID_TRY(note_of(txn, old_size, &old_note));
	CID_TRY(cid_audit_consistency_proof(txn, old_size, size, &p));
	doc = json_pack("{s:s, s:I, s:I, s:[], s:s, s:s}", "type", CONSISTENCY, "old_size",
			(json_int_t)old_size, "size", (json_int_t)size, "proof", "old_checkpoint",
			old_note, "checkpoint", note);
	CID_ENSURE(doc != NULL, CID_ERR_NOMEM);
	hashes = json_object_get(doc, "proof");
	for (size_t i = 0; i < p.len; i++) {
		CID_TRY(cid_b64_encode(p.hash[i], CID_MERKLE_HASH, h, sizeof(h)));
		CID_ENSURE(json_array_append_new(hashes, json_string(h)) == 0, CID_ERR_NOMEM);
	}
	*out = cid_json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
	CID_ENSURE(*out != NULL, CID_ERR_NOMEM);
out:
	cid_store_read_end(txn);
	json_decref(doc);
	free(old_note);
	free(note);
	return rc;
}

/* ---- checking proofs ---- */

/* Says why r failed (for people) and returns CID_OK: a failed proof is a result. */
static enum cid_err refuse(struct cid_audit_proof_result *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static enum cid_err refuse(struct cid_audit_proof_result *r, const char *fmt, ...)
{
	va_list ap;

	r->ok = false;
	va_start(ap, fmt);
	vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
	return CID_OK;
}

/* One base64 hash of 32 bytes, exactly. */
static bool hash_parse(const char *p, size_t n, uint8_t out[CID_MERKLE_HASH])
{
	size_t got = 0;

	return n == HASH_B64 && cid_b64_decode(p, n, out, CID_MERKLE_HASH, &got) == CID_OK &&
	       got == CID_MERKLE_HASH;
}

/* The next line of [*p, end) without its newline; false at the end or without one. */
static bool next_line(const char **p, const char *end, struct cid_str *line)
{
	const char *nl = *p < end ? memchr(*p, '\n', (size_t)(end - *p)) : NULL;

	if (nl == NULL)
		return false;
	*line = (struct cid_str){*p, (size_t)(nl - *p)};
	*p = nl + 1;
	return true;
}

/* A signed checkpoint of the log, checked against t; *cp borrows msg. */
static enum cid_err note_verify(const struct cid_audit_trust *t, struct cid_str msg,
				struct cid_checkpoint *cp, struct cid_audit_proof_result *r,
				bool *good)
{
	struct cid_note note;
	struct audit_cosigned cosig;
	enum cid_err rc = audit_note_check(t, msg, &note, cp, &cosig);

	*good = false;
	if (rc == CID_ERR_NOMEM || rc == CID_ERR_CRYPTO)
		return rc;
	if (rc == CID_ERR_INVALID)
		return refuse(r, "the checkpoint is not a signed checkpoint note");
	if (rc != CID_OK)
		return refuse(r, "the checkpoint is not signed by a key of the log %.100s given",
			      cid_audit_trust_origin(t));
	snprintf(r->origin, sizeof(r->origin), "%s", cid_audit_trust_origin(t));
	if (cosig.time > 0) {
		r->cosigned_at = cosig.time;
		snprintf(r->witness, sizeof(r->witness), "%s", cosig.name);
	}
	*good = true;
	return CID_OK;
}

/* The entry of an inclusion proof: canonical JSON whose seq is index; its type and time. */
static enum cid_err entry_check(const uint8_t *e, size_t n, uint64_t index,
				struct cid_audit_proof_result *r, bool *good)
{
	json_t *o = json_loadb((const char *)e, n, JSON_REJECT_DUPLICATES, NULL);
	char *again = o == NULL ? NULL : cid_json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	const json_t *seq = json_object_get(o, "seq");
	enum cid_err rc = CID_OK;

	*good = false;
	if (again == NULL || strlen(again) != n || memcmp(again, e, n) != 0)
		rc = refuse(r, "the extra data is not an audit entry in canonical form");
	else if (!json_is_integer(seq) || (uint64_t)json_integer_value(seq) != index)
		rc = refuse(r, "the entry's seq is not the proof's index %" PRIu64, index);
	else
		*good = true;
	if (*good) {
		snprintf(r->type, sizeof(r->type), "%s",
			 cid_json_str(o, "type") != NULL ? cid_json_str(o, "type") : "");
		snprintf(r->time, sizeof(r->time), "%s",
			 cid_json_str(o, "time") != NULL ? cid_json_str(o, "time") : "");
	}
	free(again);
	json_decref(o);
	return rc;
}

static enum cid_err inclusion_verify(const char *doc, size_t len, const struct cid_audit_trust *t,
				     struct cid_audit_proof_result *r)
{
	const char *p = doc;
	const char *end = doc + len;
	struct cid_merkle_proof proof = {0};
	struct cid_checkpoint cp;
	struct cid_str line;
	uint8_t *entry = NULL;
	uint8_t leaf[CID_MERKLE_HASH];
	size_t elen = 0;
	enum cid_err rc = CID_OK;
	bool good = false;

	r->inclusion = true;
	/* the header was checked by the caller */
	(void)next_line(&p, end, &line);
	if (!next_line(&p, end, &line) || line.len < 7 || memcmp(line.ptr, "extra ", 6) != 0) {
		rc = refuse(r, "no extra line: the proof does not carry its entry");
		goto out;
	}
	entry = malloc(line.len);
	CID_ENSURE(entry != NULL, CID_ERR_NOMEM);
	if (cid_b64_decode(line.ptr + 6, line.len - 6, entry, line.len, &elen) != CID_OK) {
		rc = refuse(r, "the extra line is not base64");
		goto out;
	}
	if (!next_line(&p, end, &line) || line.len < 7 || memcmp(line.ptr, "index ", 6) != 0 ||
	    (line.len > 7 && line.ptr[6] == '0') ||
	    cid_parse_u64(line.ptr + 6, line.len - 6, 0, CID_MERKLE_MAX_SIZE, &r->seq) != CID_OK) {
		rc = refuse(r, "no index line");
		goto out;
	}
	for (;;) {
		if (!next_line(&p, end, &line)) {
			rc = refuse(r, "the proof lines do not end in a blank line");
			goto out;
		}
		if (line.len == 0)
			break;
		if (proof.len == CID_MERKLE_MAX_PROOF ||
		    !hash_parse(line.ptr, line.len, proof.hash[proof.len])) {
			rc = refuse(r, "a proof line is not the base64 of one hash");
			goto out;
		}
		proof.len++;
	}
	CID_TRY(note_verify(t, (struct cid_str){p, (size_t)(end - p)}, &cp, r, &good));
	if (!good)
		goto out;
	r->size = cp.size;
	CID_TRY(entry_check(entry, elen, r->seq, r, &good));
	if (!good)
		goto out;
	CID_TRY(cid_merkle_leaf_hash(entry, elen, leaf));
	if (cid_merkle_verify_inclusion(r->seq, cp.size, leaf, &proof, cp.root) != CID_OK) {
		rc = refuse(r,
			    "the inclusion path does not lead from entry %" PRIu64
			    " to the tree head of size %" PRIu64,
			    r->seq, cp.size);
		goto out;
	}
	r->ok = true;
out:
	free(entry);
	return rc;
}

/* The two checkpoints and the path of a consistency proof document. */
static enum cid_err consistency_verify(const char *doc, size_t len, const struct cid_audit_trust *t,
				       struct cid_audit_proof_result *r)
{
	json_t *o = json_loadb(doc, len, JSON_REJECT_DUPLICATES, NULL);
	const json_t *hashes = json_object_get(o, "proof");
	const json_t *oldn = json_object_get(o, "old_checkpoint");
	const json_t *newn = json_object_get(o, "checkpoint");
	struct cid_merkle_proof proof = {0};
	struct cid_checkpoint old_cp;
	struct cid_checkpoint cp;
	const json_t *h;
	size_t i;
	enum cid_err rc = CID_OK;
	bool good = false;

	r->inclusion = false;
	if (!audit_same_str(cid_json_str(o, "type"), CONSISTENCY) || !json_is_array(hashes) ||
	    json_array_size(hashes) > CID_MERKLE_MAX_PROOF || !json_is_string(oldn) ||
	    !json_is_string(newn)) {
		rc = refuse(r, "not a consistency proof document (" CONSISTENCY ")");
		goto out;
	}
	json_array_foreach(hashes, i, h)
	{
		if (!json_is_string(h) ||
		    !hash_parse(json_string_value(h), json_string_length(h), proof.hash[i])) {
			rc = refuse(r, "a proof member is not the base64 of one hash");
			goto out;
		}
		proof.len++;
	}
	CID_TRY(note_verify(t, (struct cid_str){json_string_value(oldn), json_string_length(oldn)},
			    &old_cp, r, &good));
	if (!good)
		goto out;
	CID_TRY(note_verify(t, (struct cid_str){json_string_value(newn), json_string_length(newn)},
			    &cp, r, &good));
	if (!good)
		goto out;
	r->old_size = old_cp.size;
	r->size = cp.size;
	if (cid_json_int(o, "old_size") != (int64_t)old_cp.size ||
	    cid_json_int(o, "size") != (int64_t)cp.size) {
		rc = refuse(r, "the sizes named are not the checkpoints'");
		goto out;
	}
	if (old_cp.size > cp.size ||
	    cid_merkle_verify_consistency(old_cp.size, cp.size, old_cp.root, cp.root, &proof) !=
		CID_OK) {
		rc = refuse(r,
			    "the tree of size %" PRIu64 " does not extend the one of size %" PRIu64
			    ": a fork or a rollback between the two checkpoints",
			    cp.size, old_cp.size);
		goto out;
	}
	r->ok = true;
out:
	json_decref(o);
	return rc;
}

enum cid_err cid_audit_proof_verify(const char *doc, size_t len, const struct cid_audit_trust *t,
				    struct cid_audit_proof_result *r)
{
	*r = (struct cid_audit_proof_result){0};
	if (doc == NULL || t == NULL)
		return CID_ERR_INVALID;
	if (len > CID_AUDIT_MAX_PROOF)
		return refuse(r, "the proof is over %zu bytes", (size_t)CID_AUDIT_MAX_PROOF);
	if (!cid_utf8_valid(doc, len))
		return refuse(r, "the proof is not UTF-8 text");
	if (len > strlen(TLOG_PROOF) && memcmp(doc, TLOG_PROOF "\n", strlen(TLOG_PROOF) + 1) == 0)
		return inclusion_verify(doc, len, t, r);
	return consistency_verify(doc, len, t, r);
}
