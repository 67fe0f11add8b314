/*
 * token_sweep: when this module's records stop being needed (token.h,
 * cid_code_sweep and the rest), for the janitor.
 *
 * Every rule is "a time in the record, plus a grace, has passed", read from
 * the record alone: no rule looks at another database, so a sweep's walk
 * stays a walk. The graces are chosen so that nothing goes while it can
 * still be used or still refuses something: a code or refresh token stays
 * as long as presenting it would have worked (reuse detection needs the
 * record until then), and its grant stays longer still, as long as an access
 * token minted from the family can be valid. A record without the time (a
 * damaged one) is kept.
 *
 * A grant written by a civicid from before "tokens_exp" is stamped once: the
 * first sweep gives it now + CID_REFRESH_TTL_MAX. Every code and refresh
 * token of such a grant was issued before that sweep (a refresh since would
 * have stamped it), and none lives longer than the longest refresh_token_ttl,
 * so none expires later; the grant then goes by the rule above. META
 * "grants_stamped" records that the stamp went over every grant, so later
 * sweeps skip its walk.
 */
#include "token.h"

#include "bounds.h"
#include "store.h"
#include "str.h"
#include "token_int.h"

static bool token_dead(struct cid_str key, struct cid_str val, int64_t now)
{
	(void)key;
	return cid_store_record_past(val, "exp", CID_CLOCK_SKEW, now);
}

/*
 * The grant of key -> val, parsed into *rec (new reference), if it is one
 * stored under its own id; else false (damage is kept, never swept).
 */
static bool grant_record(struct cid_str key, struct cid_str val, json_t **rec)
{
	const char *id;

	*rec = NULL;
	if (cid_store_parse_json(val, rec) != CID_OK)
		return false;
	id = cid_json_str(*rec, "grant_id");
	if (id != NULL && cid_str_eq(key, id))
		return true;
	json_decref(*rec);
	*rec = NULL;
	return false;
}

/* A grant whose family has ended. */
static bool grant_dead(struct cid_str key, struct cid_str val, int64_t now)
{
	json_t *rec = NULL;

	if (!cid_store_record_past(val, "tokens_exp", CID_ACCESS_TTL_MAX + CID_CLOCK_SKEW, now) ||
	    !grant_record(key, val, &rec))
		return false;
	json_decref(rec);
	return true;
}

static enum cid_err grant_del(struct cid_txn *txn, struct cid_str key, struct cid_str val,
			      int64_t now)
{
	enum cid_err rc = CID_OK;
	json_t *rec = NULL;

	(void)key;
	(void)now;
	CID_TRY(cid_store_parse_json(val, &rec));
	CID_TRY(token_grant_del(txn, rec));
out:
	json_decref(rec);
	return rc;
}

/* A grant from before "tokens_exp". */
static bool grant_unstamped(struct cid_str key, struct cid_str val, int64_t now)
{
	json_t *rec = NULL;
	bool unstamped;

	(void)now;
	if (!grant_record(key, val, &rec))
		return false;
	unstamped = json_object_get(rec, "tokens_exp") == NULL;
	json_decref(rec);
	return unstamped;
}

/* Stamps such a grant: none of its tokens expires after now + CID_REFRESH_TTL_MAX. */
static enum cid_err grant_stamp(struct cid_txn *txn, struct cid_str key, struct cid_str val,
				int64_t now)
{
	enum cid_err rc = CID_OK;
	json_t *rec = NULL;

	CID_TRY(cid_store_parse_json(val, &rec));
	CID_ENSURE(
	    json_object_set_new(rec, "tokens_exp", json_integer(now + CID_REFRESH_TTL_MAX)) == 0,
	    CID_ERR_NOMEM);
	CID_TRY(cid_txn_put_json(txn, CID_DB_GRANTS, key, rec, 0));
out:
	json_decref(rec);
	return rc;
}

static const struct cid_store_sweep codes = {CID_DB_CODES, token_dead, NULL};
static const struct cid_store_sweep refresh = {CID_DB_REFRESH, token_dead, NULL};
static const struct cid_store_sweep revoked = {CID_DB_REVOKED, token_dead, NULL};
static const struct cid_store_sweep grants = {CID_DB_GRANTS, grant_dead, grant_del};
static const struct cid_store_sweep unstamped = {CID_DB_GRANTS, grant_unstamped, grant_stamp};

#define STAMPED_KEY "grants_stamped"

static enum cid_err stamped_put(struct cid_txn *txn, void *arg)
{
	enum cid_err rc = CID_OK;
	json_t *v = json_pack("{s:I}", "at", (json_int_t) * (const int64_t *)arg);

	CID_ENSURE(v != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_txn_put_json(txn, CID_DB_META, cid_str_of(STAMPED_KEY), v, 0));
out:
	json_decref(v);
	return rc;
}

/* Stamps the grants from before "tokens_exp" (above), once per store. */
static enum cid_err grants_stamp(struct cid_store *s, int64_t now)
{
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;
	struct cid_str v;
	bool done;

	CID_TRY(cid_store_read_begin(s, &txn));
	rc = cid_txn_get(txn, CID_DB_META, cid_str_of(STAMPED_KEY), &v);
	cid_store_read_end(txn);
	done = rc == CID_OK;
	CID_ENSURE(done || rc == CID_ERR_NOTFOUND, rc);
	rc = CID_OK;
	if (done)
		goto out;
	CID_TRY(cid_store_sweep(s, &unstamped, now, CID_SWEEP_BATCH, NULL));
	CID_TRY(cid_store_update(s, stamped_put, &now));
out:
	return rc;
}

enum cid_err cid_code_sweep(struct cid_store *s, int64_t now, size_t *removed)
{
	return cid_store_sweep(s, &codes, now, CID_SWEEP_BATCH, removed);
}

enum cid_err cid_refresh_sweep(struct cid_store *s, int64_t now, size_t *removed)
{
	return cid_store_sweep(s, &refresh, now, CID_SWEEP_BATCH, removed);
}

enum cid_err cid_access_revoked_sweep(struct cid_store *s, int64_t now, size_t *removed)
{
	return cid_store_sweep(s, &revoked, now, CID_SWEEP_BATCH, removed);
}

enum cid_err cid_grant_sweep(struct cid_store *s, int64_t now, size_t *removed)
{
	enum cid_err rc = CID_OK;

	if (removed != NULL)
		*removed = 0;
	CID_TRY(grants_stamp(s, now));
	CID_TRY(cid_store_sweep(s, &grants, now, CID_SWEEP_BATCH, removed));
out:
	return rc;
}
