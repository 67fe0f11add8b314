/*
 * audit_record_proof: the proof a receipt carries of the entry that
 * recorded its consent decision, so the receipt verifies offline without the
 * rest of the log. The entry is found by what the receipt knows of it (its
 * type, the citizen, the second it was written and one of its consent
 * records) through the citizen's time-bounded index: a few entries are read,
 * never the whole log. A decision no checkpoint covers yet gets one signed
 * here, as the server would within audit_checkpoint_interval anyway.
 */
#include "audit.h"

#include "audit_int.h"
#include "crypto.h"
#include "str.h"

#include <stdlib.h>
#include <string.h>

struct find {
	const char *record_id;
	bool found;
	uint64_t seq;
};

/* True if entry (canonical bytes) names record_id among its consent_records. */
static enum cid_err find_one(uint64_t seq, struct cid_str entry, void *arg)
{
	struct find *f = arg;
	json_t *e = NULL;
	json_t *v;
	size_t i;
	enum cid_err rc = cid_store_parse_json(entry, &e);

	if (rc != CID_OK)
		return rc;
	json_array_foreach(json_object_get(e, "consent_records"), i, v)
	{
		if (!f->found && json_is_string(v) &&
		    strcmp(json_string_value(v), f->record_id) == 0) {
			f->found = true;
			f->seq = seq;
		}
	}
	json_decref(e);
	return CID_OK;
}

/* The seq of the entry of type, citizen, written at second at, naming record_id. */
static enum cid_err find_entry(struct cid_store *s, const char *type, const char *citizen,
			       const char *record_id, int64_t at, uint64_t *seq)
{
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;
	char from[21];
	char to[21];
	struct find f = {.record_id = record_id};
	struct cid_audit_filter filter = {.citizen = citizen, .type = type, .from = from, .to = to};

	CID_TRY(cid_audit_time(at, from));
	CID_TRY(cid_audit_time(at + 1, to));
	CID_TRY(cid_store_read_begin(s, &txn));
	CID_TRY(cid_audit_query(txn, &filter, find_one, &f));
	CID_ENSURE(f.found, CID_ERR_NOTFOUND);
	*seq = f.seq;
out:
	cid_store_read_end(txn);
	return rc;
}

/* Fills proof's "leaf_hash", "proof" and "checkpoint" for entry seq in the tree of size. */
static enum cid_err path_members(struct cid_store *s, uint64_t seq, uint64_t size, json_t *proof)
{
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;
	struct cid_merkle_proof p;
	struct cid_str entry;
	uint8_t leaf[CID_MERKLE_HASH];
	char hex[2 * CID_MERKLE_HASH + 1];
	char key[AUDIT_SEQ_HEX + 1];
	json_t *path = json_array();
	json_t *rec = NULL;

	CID_ENSURE(path != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_store_read_begin(s, &txn));
	audit_seq_key(seq, key);
	CID_TRY(cid_txn_get(txn, CID_DB_AUDIT, cid_str_of(key), &entry));
	CID_TRY(cid_merkle_leaf_hash(entry.ptr, entry.len, leaf));
	cid_hex(leaf, CID_MERKLE_HASH, hex);
	CID_ENSURE(json_object_set_new(proof, "leaf_hash", json_string(hex)) == 0 &&
		       json_object_set_new(proof, "entry", json_stringn(entry.ptr, entry.len)) == 0,
		   CID_ERR_NOMEM);
	CID_TRY(cid_audit_inclusion_proof(txn, seq, size, &p));
	for (size_t i = 0; i < p.len; i++) {
		cid_hex(p.hash[i], CID_MERKLE_HASH, hex);
		CID_ENSURE(json_array_append_new(path, json_string(hex)) == 0, CID_ERR_NOMEM);
	}
	audit_seq_key(size, key);
	CID_TRY(cid_txn_get_json(txn, CID_DB_AUDIT_CP, cid_str_of(key), &rec));
	CID_ENSURE(cid_json_str(rec, "note") != NULL, CID_ERR_NOTFOUND);
	CID_ENSURE(json_object_set(proof, "proof", path) == 0 &&
		       json_object_set_new(proof, "checkpoint",
					   json_string(cid_json_str(rec, "note"))) == 0,
		   CID_ERR_NOMEM);
out:
	cid_store_read_end(txn);
	json_decref(path);
	json_decref(rec);
	return rc;
}

enum cid_err cid_audit_record_proof(struct cid_store *s, const char *type, const char *citizen,
				    const char *record_id, int64_t at, int64_t now, json_t **out)
{
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;
	uint64_t seq = 0;
	uint64_t size = 0;
	char *note = NULL;
	json_t *proof = NULL;

	CID_ENSURE(s != NULL && type != NULL && citizen != NULL && record_id != NULL && out != NULL,
		   CID_ERR_INVALID);
	CID_TRY(find_entry(s, type, citizen, record_id, at, &seq));
	CID_TRY(cid_store_read_begin(s, &txn));
	CID_TRY(audit_newest_note(txn, &size, &note));
	cid_store_read_end(txn);
	txn = NULL;
	if (size <= seq) {
		/* nothing signed covers it yet: sign the head now */
		CID_TRY(cid_audit_checkpoint(s, now, NULL));
		CID_TRY(cid_store_read_begin(s, &txn));
		free(note);
		note = NULL;
		CID_TRY(audit_newest_note(txn, &size, &note));
		cid_store_read_end(txn);
		txn = NULL;
		CID_ENSURE(size > seq, CID_ERR_STORE);
	}
	proof = json_pack("{s:I, s:I}", "seq", (json_int_t)seq, "size", (json_int_t)size);
	CID_ENSURE(proof != NULL, CID_ERR_NOMEM);
	CID_TRY(path_members(s, seq, size, proof));
	*out = proof;
	proof = NULL;
out:
	cid_store_read_end(txn);
	json_decref(proof);
	free(note);
	return rc;
}
