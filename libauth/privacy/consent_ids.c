/*
 * consent_ids: a consent record found by its id without reading anyone
 * else's.
 *
 * CID_DB_CONSENT_IDS maps each record's id to its key in CID_DB_CONSENTS,
 * written in the transaction that writes the record (consent.c) and deleted
 * in the one that deletes it (cid_consent_del, a retention purge), so a
 * receipt, the console and audit explain read one record in O(log n) instead
 * of every consent record of the city. The index holds exactly one key per
 * record, and equal counts of the two databases are its invariant, which
 * cid_consent_index_ensure checks at start in O(1), rebuilding an index that
 * fails it (a store written before the index existed, or one an older build
 * wrote records in). A record's due key (the sweeper's index, consent.h)
 * goes with it too.
 */
#include "consent.h"

#include "consent_int.h"
#include "crypto.h"
#include "str.h"

#include <string.h>

enum cid_err cid_consent_get(struct cid_store *s, const char *id, json_t **out)
{
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;
	struct cid_str key;
	struct cid_str val;
	json_t *rec = NULL;

	CID_ENSURE(cid_uuid_syntax_ok(id), CID_ERR_NOTFOUND);
	CID_TRY(cid_store_read_begin(s, &txn));
	CID_TRY(cid_txn_get(txn, CID_DB_CONSENT_IDS, cid_str_of(id), &key));
	rc = cid_txn_get(txn, CID_DB_CONSENTS, key, &val);
	/* an id whose record is gone: the store is damaged */
	CID_ENSURE(rc != CID_ERR_NOTFOUND, CID_ERR_STORE);
	CID_TRY(rc);
	CID_TRY(cid_consent_record_parse(val, &rec));
	/* the key said whose record it is: the record must agree */
	CID_ENSURE(strcmp(cid_json_str(rec, "id"), id) == 0, CID_ERR_STORE);
	*out = rec;
	rec = NULL;
out:
	cid_store_read_end(txn);
	json_decref(rec);
	return rc;
}

enum cid_err consent_due_del(struct cid_txn *txn, const json_t *rec)
{
	char due[CID_CONSENT_DUE_KEY + 1];
	enum cid_err rc;

	if (!cid_consent_due_key(cid_json_int(rec, "expires_at"), cid_json_str(rec, "id"), due))
		return CID_OK;
	rc = cid_txn_del(txn, CID_DB_CONSENT_DUE, (struct cid_str){due, CID_CONSENT_DUE_KEY});
	/* handled by the sweeper already, or written by an older build */
	return rc == CID_ERR_NOTFOUND ? CID_OK : rc;
}

enum cid_err cid_consent_del(struct cid_txn *txn, struct cid_str key)
{
	enum cid_err rc = CID_OK;
	const char *id;
	struct cid_str val;
	json_t *rec = NULL;

	rc = cid_txn_get_json(txn, CID_DB_CONSENTS, key, &rec);
	/* a record that does not parse is deleted all the same: it has no id to find */
	CID_ENSURE(rc == CID_OK || rc == CID_ERR_STORE, rc);
	CID_TRY(cid_txn_del(txn, CID_DB_CONSENTS, key));
	id = cid_json_str(rec, "id");
	if (id == NULL)
		goto out;
	CID_TRY(consent_due_del(txn, rec));
	rc = cid_txn_get(txn, CID_DB_CONSENT_IDS, cid_str_of(id), &val);
	if (rc == CID_ERR_NOTFOUND) { /* written by an older build */
		rc = CID_OK;
		goto out;
	}
	CID_TRY(rc);
	if (val.len == key.len && memcmp(val.ptr, key.ptr, key.len) == 0)
		CID_TRY(cid_txn_del(txn, CID_DB_CONSENT_IDS, cid_str_of(id)));
out:
	json_decref(rec);
	return rc;
}

enum cid_err consent_id_put(struct cid_txn *txn, const char *id, struct cid_str key)
{
	enum cid_err rc =
	    cid_txn_put(txn, CID_DB_CONSENT_IDS, cid_str_of(id), key, CID_PUT_NOOVERWRITE);

	/* two records of one id: the store is damaged */
	return rc == CID_ERR_EXISTS ? CID_ERR_STORE : rc;
}

/* Writes the id key of one consent record. */
static enum cid_err index_one(struct cid_txn *txn, struct cid_str key, struct cid_str val,
			      void *arg)
{
	enum cid_err rc = CID_OK;
	json_t *rec = NULL;
	const char *id;

	(void)arg;
	CID_TRY(cid_consent_record_parse(val, &rec));
	id = cid_json_str(rec, "id");
	CID_ENSURE(cid_uuid_syntax_ok(id), CID_ERR_STORE);
	CID_TRY(consent_id_put(txn, id, key));
out:
	json_decref(rec);
	return rc;
}

enum cid_err cid_consent_index_ensure(struct cid_store *s, size_t *built)
{
	return cid_store_index_ensure(s, CID_DB_CONSENTS, CID_DB_CONSENT_IDS, 1, index_one, NULL,
				      built);
}
