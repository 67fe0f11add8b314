/*
 * audit_trail: a citizen's own entries with what proves each of them, so
 * their download verifies offline without the rest of the log. Which
 * entries is the citizen slice's rule (cid_audit_citizen_page), never
 * decided here; every entry of one download is proved against ONE
 * checkpoint, so a verifier checks one signature: the newest that a
 * configured witness cosigned (a checkpoint held elsewhere too, so a
 * rollback shows), else the newest, signed now when none covers the page.
 * Entries are read by seq from the citizen's index: a page costs its
 * entries and O(log n) tree reads each, never a walk of the log.
 */
#include "audit.h"

#include "audit_int.h"
#include "crypto.h"
#include "pseudonym.h"
#include "str.h"

#include <stdlib.h>
#include <string.h>

/* The checkpoint a download is proved against. */
struct trail_cp {
	uint64_t size; /* 0: none */
	char *note;
	bool cosigned;
};

/* Looks, newest first, for a checkpoint a witness of the trust set cosigned. */
struct cosigned_scan {
	const struct cid_audit_trust *trust;
	size_t seen;
	struct trail_cp *cp;
};

static enum cid_err cosigned_cb(struct cid_str key, struct cid_str val, void *arg)
{
	struct cosigned_scan *sc = arg;
	enum cid_err rc = CID_OK;
	json_t *rec = NULL;
	const char *note;
	uint64_t size;
	struct cid_note parsed;
	struct cid_checkpoint cp;
	struct audit_cosigned cosig;

	if (++sc->seen > CID_TRAIL_CP_SCAN)
		return AUDIT_STOP; /* none recent enough: the newest checkpoint does */
	CID_ENSURE(audit_seq_key_parse(key, &size), CID_ERR_STORE);
	CID_TRY(cid_store_parse_json(val, &rec));
	note = cid_json_str(rec, "note");
	if (note == NULL)
		goto out; /* a legacy JWS checkpoint: no cosignatures */
	rc = audit_note_check(sc->trust, cid_str_of(note), &parsed, &cp, &cosig);
	CID_ENSURE(rc != CID_ERR_NOMEM && rc != CID_ERR_CRYPTO, rc);
	rc = CID_OK;
	if (cosig.time == 0 || cp.size != size)
		goto out;
	sc->cp->note = strdup(note);
	CID_ENSURE(sc->cp->note != NULL, CID_ERR_NOMEM);
	sc->cp->size = size;
	sc->cp->cosigned = true;
	rc = AUDIT_STOP;
out:
	json_decref(rec);
	return rc;
}

/* The newest checkpoint a witness of ws cosigned into *cp (size 0: none). */
static enum cid_err find_cosigned(struct cid_store *s, const struct cid_audit_witnesses *ws,
				  struct trail_cp *cp)
{
	enum cid_err rc = CID_OK;
	struct cid_audit_trust *trust = NULL;
	struct cid_txn *txn = NULL;
	struct cosigned_scan sc = {.cp = cp};

	CID_TRY(cid_audit_trust_load(s, &trust));
	for (size_t i = 0; i < cid_audit_witnesses_count(ws); i++)
		CID_TRY(cid_audit_trust_add(trust, cid_str_of(cid_audit_witness_vkey(ws, i))));
	sc.trust = trust;
	CID_TRY(cid_store_read_begin(s, &txn));
	rc = cid_txn_foreach_range(txn, CID_DB_AUDIT_CP, (struct cid_str){NULL, 0},
				   (struct cid_str){NULL, 0}, true, cosigned_cb, &sc);
	if (rc == AUDIT_STOP)
		rc = CID_OK;
out:
	cid_store_read_end(txn);
	cid_audit_trust_free(trust);
	return rc;
}

/* The newest checkpoint into *cp, signed now first when it does not cover seq need - 1. */
static enum cid_err find_newest(struct cid_store *s, uint64_t need, int64_t now,
				struct trail_cp *cp)
{
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;

	CID_TRY(cid_store_read_begin(s, &txn));
	CID_TRY(audit_newest_note(txn, &cp->size, &cp->note));
	cid_store_read_end(txn);
	txn = NULL;
	if (cp->size >= need)
		goto out;
	/* nothing signed covers the page yet: sign the head, as the server soon would */
	free(cp->note);
	cp->note = NULL;
	CID_TRY(cid_audit_checkpoint(s, now, &cp->note));
	CID_TRY(cid_store_read_begin(s, &txn));
	free(cp->note);
	cp->note = NULL;
	CID_TRY(audit_newest_note(txn, &cp->size, &cp->note));
	CID_ENSURE(cp->size >= need, CID_ERR_STORE);
out:
	cid_store_read_end(txn);
	return rc;
}

/* Sets item's "leaf_hash" and "entry" from the stored entry seq, and "proof" against size. */
static enum cid_err prove_one(struct cid_txn *txn, uint64_t seq, uint64_t size, json_t *item)
{
	enum cid_err rc = CID_OK;
	struct cid_merkle_proof p;
	struct cid_str entry;
	uint8_t leaf[CID_MERKLE_HASH];
	char hex[2 * CID_MERKLE_HASH + 1];
	char key[AUDIT_SEQ_HEX + 1];
	json_t *path = NULL;

	audit_seq_key(seq, key);
	CID_TRY(cid_txn_get(txn, CID_DB_AUDIT, cid_str_of(key), &entry));
	CID_TRY(cid_merkle_leaf_hash(entry.ptr, entry.len, leaf));
	cid_hex(leaf, CID_MERKLE_HASH, hex);
	CID_ENSURE(json_object_set_new(item, "entry", json_stringn(entry.ptr, entry.len)) == 0 &&
		       json_object_set_new(item, "leaf_hash", json_string(hex)) == 0,
		   CID_ERR_NOMEM);
	if (seq >= size) {
		/* newer than the cosigned checkpoint: listed, proved by the next one */
		CID_ENSURE(json_object_set_new(item, "proof", json_null()) == 0, CID_ERR_NOMEM);
		goto out;
	}
	CID_TRY(cid_audit_inclusion_proof(txn, seq, size, &p));
	path = json_array();
	CID_ENSURE(path != NULL, CID_ERR_NOMEM);
	for (size_t i = 0; i < p.len; i++) {
		cid_hex(p.hash[i], CID_MERKLE_HASH, hex);
		CID_ENSURE(json_array_append_new(path, json_string(hex)) == 0, CID_ERR_NOMEM);
	}
	CID_ENSURE(json_object_set(item, "proof", path) == 0, CID_ERR_NOMEM);
out:
	json_decref(path);
	return rc;
}

/* The checkpoint member of the bundle: {"size", "note", "cosigned"}, or null. */
static json_t *cp_json(const struct trail_cp *cp)
{
	if (cp->size == 0 || cp->note == NULL)
		return json_null();
	return json_pack("{s:I, s:s, s:b}", "size", (json_int_t)cp->size, "note", cp->note,
			 "cosigned", cp->cosigned);
}

/* {"origin", "vkeys", "witness_vkeys"} into out. */
static enum cid_err keys_members(struct cid_store *s, const struct cid_audit_witnesses *ws,
				 json_t *out)
{
	enum cid_err rc = CID_OK;
	json_t *vk = NULL;
	json_t *wit = json_array();

	CID_ENSURE(wit != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_audit_vkeys(s, &vk));
	for (size_t i = 0; i < cid_audit_witnesses_count(ws); i++)
		CID_ENSURE(json_array_append_new(wit, json_string(cid_audit_witness_vkey(ws, i))) ==
			       0,
			   CID_ERR_NOMEM);
	CID_ENSURE(json_object_set(out, "origin", json_object_get(vk, "origin")) == 0 &&
		       json_object_set(out, "vkeys", json_object_get(vk, "vkeys")) == 0 &&
		       json_object_set(out, "witness_vkeys", wit) == 0,
		   CID_ERR_NOMEM);
out:
	json_decref(vk);
	json_decref(wit);
	return rc;
}

enum cid_err cid_audit_trail(struct cid_store *s, const struct cid_audit_witnesses *ws,
			     const char *account_id, uint64_t before, size_t limit, int64_t now,
			     json_t **out)
{
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;
	struct trail_cp cp = {0};
	json_t *slice = NULL;
	json_t *names = NULL;
	json_t *entries = json_array();
	json_t *bundle = NULL;
	size_t n;
	uint64_t newest = 0;

	CID_ENSURE(entries != NULL, CID_ERR_NOMEM);
	CID_ENSURE(s != NULL && account_id != NULL && out != NULL && limit > 0 &&
		       limit <= CID_TRAIL_MAX,
		   CID_ERR_INVALID);
	/* one more than a page, to know whether older entries remain */
	CID_TRY(cid_store_read_begin(s, &txn));
	CID_TRY(cid_audit_citizen_page(txn, account_id, NULL, before, false, limit + 1, &slice));
	/* read in the page's snapshot: every name its entries carry is there */
	CID_TRY(cid_pseudonym_names(txn, account_id, &names));
	cid_store_read_end(txn);
	txn = NULL;
	n = json_array_size(slice) > limit ? limit : json_array_size(slice);
	if (n > 0)
		newest = (uint64_t)cid_json_int(json_array_get(slice, 0), "seq");
	if (cid_audit_witnesses_count(ws) > 0)
		CID_TRY(find_cosigned(s, ws, &cp));
	if (cp.size == 0 && n > 0)
		CID_TRY(find_newest(s, newest + 1, now, &cp));
	else if (cp.size == 0)
		CID_TRY(find_newest(s, 0, now, &cp)); /* an empty page signs nothing */
	bundle = json_pack("{s:o, s:O, s:O}", "checkpoint", cp_json(&cp), "entries", entries,
			   "names", names);
	CID_ENSURE(bundle != NULL, CID_ERR_NOMEM);
	rc = keys_members(s, ws, bundle);
	if (rc == CID_ERR_NOTFOUND && n == 0)
		rc = CID_OK; /* no audit key yet, and nothing to prove */
	CID_TRY(rc);
	CID_TRY(cid_store_read_begin(s, &txn));
	for (size_t i = 0; i < n; i++) {
		uint64_t seq = (uint64_t)cid_json_int(json_array_get(slice, i), "seq");
		json_t *item = json_pack("{s:I}", "seq", (json_int_t)seq);

		CID_ENSURE(item != NULL, CID_ERR_NOMEM);
		CID_ENSURE(json_array_append_new(entries, item) == 0, CID_ERR_NOMEM);
		CID_TRY(prove_one(txn, seq, cp.size, item));
	}
	if (json_array_size(slice) > limit)
		CID_ENSURE(json_object_set_new(bundle, "next_before",
					       json_integer(cid_json_int(
						   json_array_get(slice, n - 1), "seq"))) == 0,
			   CID_ERR_NOMEM);
	*out = bundle;
	bundle = NULL;
out:
	cid_store_read_end(txn);
	free(cp.note);
	json_decref(slice);
	json_decref(names);
	json_decref(entries);
	json_decref(bundle);
	return rc;
}
