/*
 * audit_checkpoint: the signed checkpoints of the audit log.
 *
 * A checkpoint is a signed tree head in the C2SP signed-note checkpoint
 * format (c2sp.org/tlog-checkpoint): the origin, the size, the base64 tree
 * head of the first size entries, and one extension line "time T" (POSIX
 * seconds, the server's clock), signed by the audit key (audit_keys.c). It
 * is stored in CID_DB_AUDIT_CP under the size it covers, as {"note", "time"},
 * with the cosignature lines of witnesses appended to the note as they come
 * (audit_witness.c). One size has one checkpoint: a second signer of the same
 * head keeps the first one's. A store from before the notes also holds
 * {"jws"} records, ES256 JWS checkpoints of (size, hash of entry size-1) made
 * with the token keys: they are kept and still verified, and a note may be
 * added beside one for the same size.
 */
#include "audit.h"

#include "audit_int.h"
#include "buf.h"
#include "note.h"
#include "str.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- checkpoints ---- */

/* The newest signed-note checkpoint: its size and note (new string), or size 0 when none. */
struct newest_cp {
	uint64_t size;
	char *note;
};

static enum cid_err newest_cp_cb(struct cid_str key, struct cid_str val, void *arg)
{
	struct newest_cp *cp = arg;
	json_t *rec = NULL;
	enum cid_err rc = CID_OK;
	const char *note;

	CID_ENSURE(audit_seq_key_parse(key, &cp->size), CID_ERR_STORE);
	CID_TRY(cid_store_parse_json(val, &rec));
	note = cid_json_str(rec, "note");
	if (note == NULL) {
		cp->size = 0;
		goto out; /* a legacy JWS checkpoint: look further back */
	}
	cp->note = strdup(note);
	CID_ENSURE(cp->note != NULL, CID_ERR_NOMEM);
	rc = AUDIT_STOP;
out:
	json_decref(rec);
	return rc;
}

enum cid_err audit_newest_note(struct cid_txn *txn, uint64_t *size, char **note)
{
	struct newest_cp cp = {0};
	enum cid_err rc = cid_txn_foreach_range(txn, CID_DB_AUDIT_CP, (struct cid_str){NULL, 0},
						(struct cid_str){NULL, 0}, true, newest_cp_cb, &cp);

	if (rc != CID_OK && rc != AUDIT_STOP) {
		free(cp.note);
		return rc;
	}
	*size = cp.size;
	if (note != NULL)
		*note = cp.note;
	else
		free(cp.note);
	return CID_OK;
}

/* The checkpoint text of the first size entries: origin, size, root, "time T". */
static enum cid_err cp_text(struct cid_txn *txn, const char *origin, uint64_t size, int64_t now,
			    struct cid_buf *text)
{
	uint8_t root[CID_MERKLE_HASH];
	char ext[32];
	enum cid_err rc = audit_tree_root(txn, size, root);

	if (rc != CID_OK)
		return rc;
	snprintf(ext, sizeof(ext), "time %" PRId64 "\n", now);
	return cid_checkpoint_format(cid_str_of(origin), size, root, cid_str_of(ext), text);
}

enum cid_err audit_checkpoint_sign_txn(struct cid_txn *txn, int64_t now,
				       const struct cid_note_signer *const *signers, size_t n,
				       uint64_t *size)
{
	enum cid_err rc = CID_OK;
	json_t *rec = NULL;
	struct cid_buf text;
	char hash[CID_AUDIT_HASH_HEX];
	char key[AUDIT_SEQ_HEX + 1];
	char *note = NULL;
	uint64_t head;

	cid_buf_init(&text, CID_NOTE_MAX_SIZE);
	CID_ENSURE(now > 0, CID_ERR_INVALID);
	CID_TRY(cid_audit_head(txn, &head, hash));
	CID_ENSURE(head > 0, CID_ERR_NOTFOUND);
	audit_seq_key(head, key);
	rc = cid_txn_get_json(txn, CID_DB_AUDIT_CP, cid_str_of(key), &rec);
	CID_ENSURE(rc == CID_OK || rc == CID_ERR_NOTFOUND, rc);
	rc = CID_OK;
	if (rec != NULL && cid_json_str(rec, "note") != NULL)
		goto done; /* another writer signed the same head first: keep theirs */
	CID_TRY(cp_text(txn, cid_note_signer_name(signers[0]), head, now, &text));
	CID_TRY(cid_note_sign((struct cid_str){text.data, text.len}, signers, n, 0, &note, NULL));
	if (rec == NULL) {
		rec = json_object();
		CID_ENSURE(rec != NULL, CID_ERR_NOMEM);
	}
	/* beside a legacy JWS of the same size, if any */
	CID_ENSURE(json_object_set_new(rec, "note", json_string(note)) == 0 &&
		       json_object_set_new(rec, "time", json_integer((json_int_t)now)) == 0,
		   CID_ERR_NOMEM);
	CID_TRY(cid_txn_put_json(txn, CID_DB_AUDIT_CP, cid_str_of(key), rec, 0));
done:
	*size = head;
out:
	free(note);
	cid_buf_free(&text);
	json_decref(rec);
	return rc;
}

enum cid_err audit_checkpoint_txn(struct cid_txn *txn, int64_t now, uint64_t *size)
{
	enum cid_err rc = CID_OK;
	struct cid_note_signer *signer = NULL;
	json_t *keys = NULL;
	const json_t *active;

	CID_TRY(audit_keys_ensure(txn, now, &keys));
	active = audit_key_active(keys);
	CID_ENSURE(active != NULL, CID_ERR_STORE);
	CID_TRY(audit_key_signer(cid_json_str(keys, "origin"), active, &signer));
	const struct cid_note_signer *one[] = {signer};
	CID_TRY(audit_checkpoint_sign_txn(txn, now, one, 1, size));
out:
	cid_note_signer_free(signer);
	json_decref(keys);
	return rc;
}

struct cp_write {
	int64_t now;
	uint64_t size; /* output */
};

static enum cid_err cp_write_cb(struct cid_txn *txn, void *arg)
{
	struct cp_write *w = arg;

	return audit_checkpoint_txn(txn, w->now, &w->size);
}

/* The note stored for size, a new string. */
static enum cid_err note_get(struct cid_txn *txn, uint64_t size, char **out)
{
	enum cid_err rc = CID_OK;
	json_t *rec = NULL;
	char key[AUDIT_SEQ_HEX + 1];

	audit_seq_key(size, key);
	CID_TRY(cid_txn_get_json(txn, CID_DB_AUDIT_CP, cid_str_of(key), &rec));
	CID_ENSURE(cid_json_str(rec, "note") != NULL, CID_ERR_NOTFOUND);
	*out = strdup(cid_json_str(rec, "note"));
	CID_ENSURE(*out != NULL, CID_ERR_NOMEM);
out:
	json_decref(rec);
	return rc;
}

enum cid_err cid_audit_checkpoint_get(struct cid_store *s, uint64_t size, char **note)
{
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;

	CID_ENSURE(s != NULL && note != NULL, CID_ERR_INVALID);
	CID_TRY(cid_store_read_begin(s, &txn));
	if (size == 0) {
		CID_TRY(audit_newest_note(txn, &size, note));
		CID_ENSURE(size > 0, CID_ERR_NOTFOUND);
	} else {
		CID_TRY(note_get(txn, size, note));
	}
out:
	cid_store_read_end(txn);
	return rc;
}

enum cid_err cid_audit_checkpoint(struct cid_store *s, int64_t now, char **note_out)
{
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;
	struct cp_write w = {.now = now};
	char hash[CID_AUDIT_HASH_HEX];
	uint64_t newest = 0;
	uint64_t size;

	CID_ENSURE(s != NULL, CID_ERR_INVALID);
	CID_TRY(cid_store_read_begin(s, &txn));
	CID_TRY(cid_audit_head(txn, &size, hash));
	CID_TRY(audit_newest_note(txn, &newest, NULL));
	cid_store_read_end(txn);
	txn = NULL;
	CID_ENSURE(size > 0, CID_ERR_NOTFOUND);
	w.size = newest;
	if (newest < size)
		CID_TRY(cid_store_update(s, cp_write_cb, &w));
	if (note_out != NULL)
		CID_TRY(cid_audit_checkpoint_get(s, w.size, note_out));
out:
	cid_store_read_end(txn);
	return rc;
}
