/*
 * consent_sweep: writes consent.expired for grants that expired with no
 * release to meet them. The once-key of each entry ("x\n" record id,
 * audit_expired_once_key) is the one audit_release writes, and audit_append checks it inside the
 * write transaction, so a sweep and a release racing for one record, or two sweeps, still write one
 * entry.
 *
 * A run reads the due index (consent.h, CID_DB_CONSENT_DUE) from its first
 * key up to now, and nothing past it: its cost follows what has expired, not
 * how many records the city holds. Each due grant is looked up and logged if
 * it is still the latest record of its attribute and not logged yet; a key
 * whose grant was superseded, logged, purged or damaged is only removed (a
 * damaged record is counted, and kept: damage is never swept). A run writes
 * at most max entries in one commit, then removes the keys it handled in
 * another: keys left by a crash in between are found logged by the next run
 * and removed then. What is due beyond max is counted for the next run.
 */
#include "consent_sweep.h"

#include "audit_int.h"
#include "consent.h"
#include "str.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bytes of a record key's suffix: "\n" and 16 hex digits of its seq (consent.h). */
#define SEQ_SUFFIX 17
/* Bytes of the due time that starts a due key. */
#define DUE_HEX 16
/* Due keys a run removes at most, per entry it may write: the rest go at the next run. */
#define DROPS_PER_ENTRY 16
#define SWEEP_STOP	CID_ERR_COUNT /* internal: the walk reached what is not due yet */

struct sweep {
	struct cid_txn *txn;
	int64_t now;
	char now_hex[DUE_HEX + 1]; /* now as a due key starts */
	size_t max;
	json_t **entries; /* max of them */
	char **once;
	size_t n;
	char (*drop)[CID_CONSENT_DUE_KEY]; /* due keys handled: removed after the append */
	size_t n_drop;
	size_t max_drop;
	size_t left;
	size_t damaged;
	size_t visited;
};

/* True (in *logged) if record id has its consent.expired entry already. */
static enum cid_err expiry_logged(struct cid_txn *txn, const char *id, bool *logged)
{
	enum cid_err rc = CID_OK;
	char *once = NULL;
	struct cid_str v;

	CID_TRY(audit_expired_once_key(id, &once));
	rc = cid_txn_get(txn, CID_DB_AUDIT_IDX, cid_str_of(once), &v);
	*logged = rc == CID_OK;
	if (rc == CID_ERR_NOTFOUND)
		rc = CID_OK;
out:
	free(once);
	return rc;
}

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

/* The walk of record_latest: is the first key met (the attribute's last) the one asked? */
struct latest {
	struct cid_str key;
	bool is;
};

static enum cid_err last_key(struct cid_str key, struct cid_str val, void *arg)
{
	struct latest *l = arg;

	(void)val;
	l->is = key.len == l->key.len && memcmp(key.ptr, l->key.ptr, key.len) == 0;
	return SWEEP_STOP;
}

/* True (in *latest) if the record stored under key is the last of its attribute. */
static enum cid_err record_latest(struct cid_txn *txn, struct cid_str key, bool *latest)
{
	enum cid_err rc = CID_OK;
	struct latest l = {.key = key};

	*latest = false;
	if (key.len <= SEQ_SUFFIX)
		return CID_OK;
	/* the prefix keeps the attribute's "\n": email's records are not email_verified's */
	rc = cid_txn_foreach_range(txn, CID_DB_CONSENTS,
				   (struct cid_str){key.ptr, key.len - (SEQ_SUFFIX - 1)},
				   (struct cid_str){NULL, 0}, true, last_key, &l);
	if (rc != SWEEP_STOP)
		return rc;
	*latest = l.is;
	return CID_OK;
}

/* Marks the due key handled: it is removed once this run's entries are written. */
static void drop(struct sweep *sw, struct cid_str due)
{
	if (sw->n_drop < sw->max_drop)
		memcpy(sw->drop[sw->n_drop++], due.ptr, CID_CONSENT_DUE_KEY);
}

/*
 * Takes one due key (due -> the record's key): an expired grant that is
 * still the latest of its attribute and not logged yet is swept; any other
 * key is dropped. A record that does not read is counted: one citizen's
 * damaged record must not stop the entries of every other citizen.
 */
static enum cid_err consider(struct sweep *sw, struct cid_str due, struct cid_str key)
{
	enum cid_err rc = CID_OK;
	json_t *rec = NULL;
	struct cid_consent_record r;
	struct cid_str v;
	char want[CID_CONSENT_DUE_KEY + 1];
	bool latest = false;
	bool logged = false;

	rc = cid_txn_get(sw->txn, CID_DB_CONSENTS, key, &v);
	if (rc == CID_ERR_NOTFOUND || rc == CID_ERR_TOOBIG) { /* purged, or not a record's key */
		drop(sw, due);
		return CID_OK;
	}
	CID_TRY(rc);
	if (cid_consent_record_parse(v, &rec) != CID_OK ||
	    cid_consent_record_read(rec, &r) != CID_OK) {
		sw->damaged++;
		drop(sw, due);
		goto out;
	}
	/* the key must be this grant's: anything else is not due */
	if (!cid_consent_record_expired(&r, sw->now) ||
	    !cid_consent_due_key(r.expires_at, r.id, want) ||
	    memcmp(want, due.ptr, CID_CONSENT_DUE_KEY) != 0) {
		drop(sw, due);
		goto out;
	}
	CID_TRY(record_latest(sw->txn, key, &latest));
	if (latest)
		CID_TRY(expiry_logged(sw->txn, r.id, &logged));
	if (!latest || logged) {
		drop(sw, due);
		goto out;
	}
	if (sw->n == sw->max) {
		sw->left++;
		goto out;
	}
	CID_TRY(audit_expired_once_key(r.id, &sw->once[sw->n]));
	rc = expired_entry(&r, sw->now, &sw->entries[sw->n]);
	if (rc != CID_OK) {
		free(sw->once[sw->n]);
		sw->once[sw->n] = NULL;
		goto out;
	}
	sw->n++;
	drop(sw, due);
out:
	json_decref(rec);
	return rc;
}

static enum cid_err due_one(struct cid_str key, struct cid_str val, void *arg)
{
	struct sweep *sw = arg;

	if (key.len < DUE_HEX || memcmp(key.ptr, sw->now_hex, DUE_HEX) > 0)
		return SWEEP_STOP;
	sw->visited++;
	if (key.len != CID_CONSENT_DUE_KEY) { /* not a key this build writes: kept */
		sw->damaged++;
		return CID_OK;
	}
	return consider(sw, key, val);
}

static enum cid_err drop_cb(struct cid_txn *txn, void *arg)
{
	const struct sweep *sw = arg;

	for (size_t i = 0; i < sw->n_drop; i++) {
		enum cid_err rc = cid_txn_del(txn, CID_DB_CONSENT_DUE,
					      (struct cid_str){sw->drop[i], CID_CONSENT_DUE_KEY});

		/* a sweep racing this one removed it first */
		if (rc != CID_OK && rc != CID_ERR_NOTFOUND)
			return rc;
	}
	return CID_OK;
}

enum cid_err cid_consent_sweep(struct cid_store *s, struct cid_audit *log, int64_t now, size_t max,
			       struct cid_consent_sweep *out)
{
	enum cid_err rc = CID_OK;
	struct sweep sw = {.now = now, .max = max};
	uint64_t first = 0;
	size_t written = 0;

	CID_ENSURE(s != NULL && log != NULL && out != NULL && max > 0 &&
		       max <= SIZE_MAX / 8 / DROPS_PER_ENTRY / CID_CONSENT_DUE_KEY && now >= 0,
		   CID_ERR_INVALID);
	*out = (struct cid_consent_sweep){0};
	/* a store no build with the index wrote whole: built first (O(1) when whole) */
	CID_TRY(cid_consent_due_ensure(s, NULL));
	snprintf(sw.now_hex, sizeof(sw.now_hex), "%016" PRIx64, (uint64_t)now);
	sw.max_drop = max * DROPS_PER_ENTRY;
	// NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers
	sw.entries = calloc(max, sizeof(*sw.entries));
	sw.once = calloc(max, sizeof(*sw.once));
	sw.drop = calloc(sw.max_drop, sizeof(*sw.drop));
	CID_ENSURE(sw.entries != NULL && sw.once != NULL && sw.drop != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_store_read_begin(s, &sw.txn));
	rc = cid_txn_foreach(sw.txn, CID_DB_CONSENT_DUE, (struct cid_str){NULL, 0}, due_one, &sw);
	CID_ENSURE(rc == CID_OK || rc == SWEEP_STOP, rc);
	rc = CID_OK;
	cid_store_read_end(sw.txn);
	sw.txn = NULL;
	if (sw.n > 0)
		CID_TRY(audit_append(log, sw.entries, (const char *const *)sw.once, sw.n, &first,
				     &written));
	if (sw.n_drop > 0)
		CID_TRY(cid_store_update(s, drop_cb, &sw));
	*out = (struct cid_consent_sweep){.written = written,
					  .left = sw.left,
					  .damaged = sw.damaged,
					  .visited = sw.visited,
					  .first = first};
out:
	cid_store_read_end(sw.txn);
	for (size_t i = 0; i < sw.n; i++) {
		json_decref(sw.entries[i]);
		free(sw.once[i]);
	}
	free(sw.entries);
	free(sw.once);
	free(sw.drop);
	return rc;
}

/* ---- building the due index of an older store ---- */

/* The build's walk: the latest record of the attribute seen last waits in pending. */
struct build {
	struct cid_txn *txn;
	char key[CID_STORE_MAX_KEY]; /* pending's record key */
	size_t len;
	size_t plen; /* of its attribute's prefix (account .. attribute "\n"); 0: none */
	char due[CID_CONSENT_DUE_KEY + 1]; /* its due key, when it is to be indexed */
	bool indexed;
	size_t built;
	size_t damaged; /* records that did not read: left out, kept */
};

/* Writes the pending record's due key, if it is a grant with an expiry not logged yet. */
static enum cid_err build_flush(struct build *b)
{
	enum cid_err rc = CID_OK;

	if (!b->indexed)
		return CID_OK;
	b->indexed = false;
	CID_TRY(cid_txn_put(b->txn, CID_DB_CONSENT_DUE,
			    (struct cid_str){b->due, CID_CONSENT_DUE_KEY},
			    (struct cid_str){b->key, b->len}, 0));
	b->built++;
out:
	return rc;
}

static enum cid_err build_one(struct cid_str key, struct cid_str val, void *arg)
{
	enum cid_err rc = CID_OK;
	struct build *b = arg;
	size_t plen = key.len > SEQ_SUFFIX ? key.len - (SEQ_SUFFIX - 1) : 0;
	json_t *rec = NULL;
	struct cid_consent_record r;
	bool logged = true;

	/* a record of the pending one's attribute is later: pending is not the latest */
	if (plen > 0 && b->plen == plen && memcmp(b->key, key.ptr, plen) == 0)
		b->indexed = false;
	CID_TRY(build_flush(b));
	CID_ENSURE(key.len <= sizeof(b->key), CID_ERR_STORE);
	memcpy(b->key, key.ptr, key.len);
	b->len = key.len;
	b->plen = plen;
	/* a damaged record is counted, not indexed, and does not stop the start (damage is
	 * kept); as the latest of its attribute it still supersedes the grant before it */
	if (cid_consent_record_parse(val, &rec) != CID_OK ||
	    cid_consent_record_read(rec, &r) != CID_OK) {
		b->damaged++;
		goto out;
	}
	if (r.state != CID_CONSENT_GRANTED || !cid_consent_due_key(r.expires_at, r.id, b->due))
		goto out;
	CID_TRY(expiry_logged(b->txn, r.id, &logged));
	b->indexed = !logged;
out:
	json_decref(rec);
	return rc;
}

/* True (in *whole) if the due index holds every grant: its mark is at consent_seq (consent.h). */
static enum cid_err due_whole(struct cid_txn *txn, uint64_t *seq, bool *whole)
{
	enum cid_err rc = CID_OK;
	uint64_t due = 0;

	CID_TRY(cid_txn_counter_get(txn, CID_CONSENT_SEQ, "seq", seq));
	CID_TRY(cid_txn_counter_get(txn, CID_CONSENT_DUE_MARK, "seq", &due));
	*whole = *seq == due;
out:
	return rc;
}

static enum cid_err build_cb(struct cid_txn *txn, void *arg)
{
	enum cid_err rc = CID_OK;
	struct build *b = arg;
	uint64_t seq = 0;
	bool whole = false;
	json_t *mark = NULL;

	/* a rerun (the map grew) starts over */
	*b = (struct build){.txn = txn};
	CID_TRY(due_whole(txn, &seq, &whole));
	if (whole)
		goto out; /* built meanwhile */
	CID_TRY(cid_txn_clear(txn, CID_DB_CONSENT_DUE));
	CID_TRY(cid_txn_foreach(txn, CID_DB_CONSENTS, (struct cid_str){NULL, 0}, build_one, b));
	CID_TRY(build_flush(b));
	mark = json_pack("{s:I}", "seq", (json_int_t)seq);
	CID_ENSURE(mark != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_txn_put_json(txn, CID_DB_META, cid_str_of(CID_CONSENT_DUE_MARK), mark, 0));
out:
	json_decref(mark);
	return rc;
}

enum cid_err cid_consent_due_ensure(struct cid_store *s, size_t *built)
{
	return cid_consent_due_ensure_counted(s, built, NULL);
}

enum cid_err cid_consent_due_ensure_counted(struct cid_store *s, size_t *built, size_t *damaged)
{
	enum cid_err rc = CID_OK;
	struct build b = {0};
	struct cid_txn *txn = NULL;
	uint64_t seq = 0;
	bool whole = false;

	CID_ENSURE(s != NULL, CID_ERR_INVALID);
	/* the usual case, whole, takes no write transaction */
	CID_TRY(cid_store_read_begin(s, &txn));
	rc = due_whole(txn, &seq, &whole);
	cid_store_read_end(txn);
	CID_TRY(rc);
	if (!whole)
		CID_TRY(cid_store_update(s, build_cb, &b));
	if (built != NULL)
		*built = b.built;
	if (damaged != NULL)
		*damaged = b.damaged;
out:
	return rc;
}
