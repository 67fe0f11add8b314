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
 * damaged one, or a grant from before "tokens_exp") is kept.
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

/* A grant whose family has ended, stored under its own id (damage is kept). */
static bool grant_dead(struct cid_str key, struct cid_str val, int64_t now)
{
	json_t *rec = NULL;
	const char *id;
	bool named;

	if (!cid_store_record_past(val, "tokens_exp", CID_ACCESS_TTL_MAX + CID_CLOCK_SKEW, now) ||
	    cid_store_parse_json(val, &rec) != CID_OK)
		return false;
	id = cid_json_str(rec, "grant_id");
	named = id != NULL && cid_str_eq(key, id);
	json_decref(rec);
	return named;
}

static enum cid_err grant_del(struct cid_txn *txn, struct cid_str key, struct cid_str val)
{
	enum cid_err rc = CID_OK;
	json_t *rec = NULL;

	(void)key;
	CID_TRY(cid_store_parse_json(val, &rec));
	CID_TRY(token_grant_del(txn, rec));
out:
	json_decref(rec);
	return rc;
}

static const struct cid_store_sweep codes = {CID_DB_CODES, token_dead, NULL};
static const struct cid_store_sweep refresh = {CID_DB_REFRESH, token_dead, NULL};
static const struct cid_store_sweep revoked = {CID_DB_REVOKED, token_dead, NULL};
static const struct cid_store_sweep grants = {CID_DB_GRANTS, grant_dead, grant_del};

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
	return cid_store_sweep(s, &grants, now, CID_SWEEP_BATCH, removed);
}
