/*
 * audit_head: the two facts about the log that every other file of the
 * module reads and none writes but audit.c: the shape of a seq as a store key
 * (AUDIT_SEQ_HEX lowercase hex digits, so keys sort as seqs do) and the head
 * (META AUDIT_HEAD_KEY: the number of entries and the hash of the last).
 *
 * It sits below every other audit file and calls none of them, so the tree
 * (audit_tree.c), which the chain's write path calls, reads the head without
 * calling back into the chain. A head in the store is checked in shape before
 * it is believed; a store without one is the empty log. Beside the head, the
 * run of seqs the service-day index covers (audit_day_cover), which the
 * writer moves with the head and the query reads: absent, it covers nothing.
 */
#include "audit_head.h"

#include "audit_int.h"
#include "str.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* ---- seqs as keys ---- */

void audit_seq_key(uint64_t seq, char out[AUDIT_SEQ_HEX + 1])
{
	snprintf(out, AUDIT_SEQ_HEX + 1, "%016" PRIx64, seq);
}

bool audit_seq_key_parse(struct cid_str key, uint64_t *seq)
{
	uint64_t v = 0;

	if (key.len != AUDIT_SEQ_HEX)
		return false;
	for (size_t i = 0; i < AUDIT_SEQ_HEX; i++) {
		char c = key.ptr[i];

		if (c >= '0' && c <= '9')
			v = v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint64_t)(c - 'a' + 10);
		else
			return false;
	}
	*seq = v;
	return true;
}

/* ---- the head ---- */

bool audit_hash_syntax_ok(const char *h)
{
	if (h == NULL || strlen(h) != CID_AUDIT_HASH_HEX - 1)
		return false;
	for (const char *p = h; *p != '\0'; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

enum cid_err cid_audit_head(struct cid_txn *txn, uint64_t *size, char hash[CID_AUDIT_HASH_HEX])
{
	enum cid_err rc;
	json_t *head = NULL;
	const json_t *n;
	const char *h;

	rc = cid_txn_get_json(txn, CID_DB_META, cid_str_of(AUDIT_HEAD_KEY), &head);
	if (rc == CID_ERR_NOTFOUND) {
		*size = 0;
		memcpy(hash, AUDIT_ZERO_HASH, CID_AUDIT_HASH_HEX);
		return CID_OK;
	}
	CID_TRY(rc);
	n = json_object_get(head, "size");
	h = cid_json_str(head, "hash");
	CID_ENSURE(json_is_integer(n) && json_integer_value(n) >= 0 && audit_hash_syntax_ok(h),
		   CID_ERR_STORE);
	*size = (uint64_t)json_integer_value(n);
	memcpy(hash, h, CID_AUDIT_HASH_HEX);
out:
	json_decref(head);
	return rc;
}

enum cid_err audit_day_cover(struct cid_txn *txn, uint64_t *from, uint64_t *to)
{
	enum cid_err rc;
	json_t *cover = NULL;
	const json_t *f;
	const json_t *t;

	*from = 0;
	*to = 0;
	rc = cid_txn_get_json(txn, CID_DB_META, cid_str_of(AUDIT_DAY_KEY), &cover);
	if (rc == CID_ERR_NOTFOUND)
		return CID_OK;
	CID_TRY(rc);
	f = json_object_get(cover, "from");
	t = json_object_get(cover, "to");
	CID_ENSURE(json_is_integer(f) && json_is_integer(t) && json_integer_value(f) >= 0 &&
		       json_integer_value(f) <= json_integer_value(t),
		   CID_ERR_STORE);
	*from = (uint64_t)json_integer_value(f);
	*to = (uint64_t)json_integer_value(t);
out:
	json_decref(cover);
	return rc;
}
