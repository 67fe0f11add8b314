/*
 * consent_sweep: writes consent.expired for grants that expired with no
 * release to meet them. The once-key of each entry ("x\n" record id) is the
 * one audit_release writes, and audit_append checks it inside the write
 * transaction, so a sweep and a release racing for one record, or two
 * sweeps, still write one entry. A run reads in one read transaction and
 * writes at most max entries in one commit: its work is bounded, and
 * what is left is counted for the next run. A record that does not read is
 * counted and skipped, as the other sweeps keep damage rather than stop on it.
 */
#include "consent_sweep.h"

#include "audit_int.h"
#include "consent.h"
#include "str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bytes of a record key's suffix: "\n" and 16 hex digits of its seq (consent.h). */
#define SEQ_SUFFIX 17

struct sweep {
	struct cid_txn *txn;
	int64_t now;
	size_t max;
	json_t **entries; /* max of them */
	char **once;
	size_t n;
	size_t left;
	size_t damaged;	 /* latest records that did not read: skipped */
	char *last_key;	 /* the attribute's key prefix of last_val */
	size_t last_len; /* its length */
	char *last_val;	 /* the latest record seen of that attribute, a copy */
	size_t last_vlen;
};

/* The consent.expired entry of rec, expired at now. */
static enum cid_err expired_entry(const struct cid_consent_record *rec, int64_t now, json_t **out)
{
	enum cid_err rc = CID_OK;
	char when[21];
	char expired[21];
	json_t *e = NULL;

	CID_TRY(cid_audit_time(now, when));
	CID_TRY(cid_audit_time(rec->expires_at, expired));
	e = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:[s], s:[s], s:s, s:s, s:s, s:s}", "type",
		      "consent.expired", "time", when, "actor", "system", "citizen",
		      rec->account_id, "service", rec->service, "purpose", rec->purpose,
		      "attributes", rec->attribute, "consent_records", rec->id, "basis", "consent",
		      "policy_version", rec->policy_version, "purpose_digest", rec->purpose_digest,
		      "expires_at", expired);
	CID_ENSURE(e != NULL, CID_ERR_NOMEM);
	*out = e;
out:
	return rc;
}

/*
 * Takes the latest record of an attribute: an expired grant not logged yet is
 * swept. A record that does not read is counted and skipped: one citizen's
 * damaged record must not stop the entries of every other citizen.
 */
static enum cid_err consider(struct sweep *sw)
{
	enum cid_err rc = CID_OK;
	json_t *rec = NULL;
	struct cid_consent_record r;
	struct cid_str v;
	char *once = NULL;
	size_t len;

	if (sw->last_val == NULL)
		return CID_OK;
	if (cid_consent_record_parse((struct cid_str){sw->last_val, sw->last_vlen}, &rec) !=
		CID_OK ||
	    cid_consent_record_read(rec, &r) != CID_OK) {
		sw->damaged++;
		goto out;
	}
	if (!cid_consent_record_expired(&r, sw->now))
		goto out;
	len = strlen(r.id);
	CID_ENSURE(len > 0 && len <= CID_AUDIT_MAX_NAME, CID_ERR_STORE);
	once = malloc(len + 3);
	CID_ENSURE(once != NULL, CID_ERR_NOMEM);
	snprintf(once, len + 3, "x\n%s", r.id);
	rc = cid_txn_get(sw->txn, CID_DB_AUDIT_IDX, cid_str_of(once), &v);
	if (rc == CID_OK)
		goto out; /* logged already */
	CID_ENSURE(rc == CID_ERR_NOTFOUND, rc);
	rc = CID_OK;
	if (sw->n == sw->max) {
		sw->left++;
		goto out;
	}
	CID_TRY(expired_entry(&r, sw->now, &sw->entries[sw->n]));
	sw->once[sw->n++] = once;
	once = NULL;
out:
	free(once);
	json_decref(rec);
	return rc;
}

static enum cid_err sweep_one(struct cid_str key, struct cid_str val, void *arg)
{
	enum cid_err rc = CID_OK;
	struct sweep *sw = arg;
	size_t plen = key.len > SEQ_SUFFIX ? key.len - SEQ_SUFFIX : 0;
	char *k = NULL;
	char *v = NULL;

	if (sw->last_key == NULL || plen != sw->last_len ||
	    memcmp(key.ptr, sw->last_key, plen) != 0) {
		CID_TRY(consider(sw));
		k = malloc(plen + 1);
		CID_ENSURE(k != NULL, CID_ERR_NOMEM);
		memcpy(k, key.ptr, plen);
		free(sw->last_key);
		sw->last_key = k;
		sw->last_len = plen;
		k = NULL;
	}
	v = malloc(val.len + 1);
	CID_ENSURE(v != NULL, CID_ERR_NOMEM);
	memcpy(v, val.ptr, val.len);
	free(sw->last_val);
	sw->last_val = v;
	sw->last_vlen = val.len;
out:
	free(k);
	return rc;
}

enum cid_err cid_consent_sweep(struct cid_store *s, struct cid_audit *log, int64_t now, size_t max,
			       struct cid_consent_sweep *out)
{
	enum cid_err rc = CID_OK;
	struct sweep sw = {.now = now, .max = max};
	uint64_t first = 0;
	size_t written = 0;

	CID_ENSURE(s != NULL && log != NULL && out != NULL && max > 0 && max <= SIZE_MAX / 8,
		   CID_ERR_INVALID);
	*out = (struct cid_consent_sweep){0};
	// NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers
	sw.entries = calloc(max, sizeof(*sw.entries));
	sw.once = calloc(max, sizeof(*sw.once));
	CID_ENSURE(sw.entries != NULL && sw.once != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_store_read_begin(s, &sw.txn));
	CID_TRY(
	    cid_txn_foreach(sw.txn, CID_DB_CONSENTS, (struct cid_str){NULL, 0}, sweep_one, &sw));
	CID_TRY(consider(&sw));
	cid_store_read_end(sw.txn);
	sw.txn = NULL;
	if (sw.n > 0)
		CID_TRY(audit_append(log, sw.entries, (const char *const *)sw.once, sw.n, &first,
				     &written));
	*out = (struct cid_consent_sweep){
	    .written = written, .left = sw.left, .damaged = sw.damaged, .first = first};
out:
	cid_store_read_end(sw.txn);
	for (size_t i = 0; i < sw.n; i++) {
		json_decref(sw.entries[i]);
		free(sw.once[i]);
	}
	free(sw.entries);
	free(sw.once);
	free(sw.last_key);
	free(sw.last_val);
	return rc;
}
