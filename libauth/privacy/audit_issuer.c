/*
 * audit_issuer: the log's issuer, recorded once in the store (META
 * "audit_issuer") by the first server started on it.
 *
 * It is what the origin of the audit key derives from (audit_keys.c) and what
 * the legacy JWS checkpoints carry as "iss" (audit_verify.c). The first
 * server's issuer stays the log's: a later one is told what is recorded and
 * changes nothing. It calls no other file of the module, so both the keys
 * and the checkpoints, which sit above it, may read it.
 */
#include "audit.h"

#include "audit_int.h"
#include "bounds.h"
#include "str.h"

#include <stdlib.h>
#include <string.h>

#define ISSUER_KEY "audit_issuer"

/* ---- the issuer ---- */

/* The log's issuer, read in txn: a new string, or NULL when none is recorded. */
enum cid_err audit_issuer_get(struct cid_txn *txn, char **out)
{
	enum cid_err rc;
	json_t *rec = NULL;
	const char *iss;

	*out = NULL;
	rc = cid_txn_get_json(txn, CID_DB_META, cid_str_of(ISSUER_KEY), &rec);
	if (rc == CID_ERR_NOTFOUND)
		return CID_OK;
	CID_TRY(rc);
	iss = cid_json_str(rec, "issuer");
	CID_ENSURE(iss != NULL && iss[0] != '\0' && strlen(iss) <= CID_MAX_URI, CID_ERR_STORE);
	*out = strdup(iss);
	CID_ENSURE(*out != NULL, CID_ERR_NOMEM);
out:
	json_decref(rec);
	return rc;
}

struct issuer_put {
	const char *iss;
	char *recorded; /* output: the issuer in force */
};

static enum cid_err issuer_put_cb(struct cid_txn *txn, void *arg)
{
	struct issuer_put *p = arg;
	enum cid_err rc = CID_OK;
	json_t *rec = NULL;

	free(p->recorded);
	CID_TRY(audit_issuer_get(txn, &p->recorded));
	if (p->recorded != NULL)
		goto out; /* the first server's issuer stays the log's */
	rec = json_pack("{s:s}", "issuer", p->iss);
	CID_ENSURE(rec != NULL, CID_ERR_NOMEM);
	CID_TRY(
	    cid_txn_put_json(txn, CID_DB_META, cid_str_of(ISSUER_KEY), rec, CID_PUT_NOOVERWRITE));
	p->recorded = strdup(p->iss);
	CID_ENSURE(p->recorded != NULL, CID_ERR_NOMEM);
out:
	json_decref(rec);
	return rc;
}

enum cid_err cid_audit_issuer_record(struct cid_store *s, const char *iss, char **recorded)
{
	enum cid_err rc = CID_OK;
	struct issuer_put p = {.iss = iss};
	size_t n = iss == NULL ? 0 : strnlen(iss, CID_MAX_URI + 1);

	CID_ENSURE(s != NULL && n > 0 && n <= CID_MAX_URI, CID_ERR_INVALID);
	CID_TRY(cid_store_update(s, issuer_put_cb, &p));
	if (recorded != NULL) {
		*recorded = p.recorded;
		p.recorded = NULL;
	}
out:
	free(p.recorded);
	return rc;
}

enum cid_err cid_audit_issuer(struct cid_store *s, char **out)
{
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;
	char *iss = NULL;

	CID_TRY(cid_store_read_begin(s, &txn));
	CID_TRY(audit_issuer_get(txn, &iss));
	CID_ENSURE(iss != NULL, CID_ERR_NOTFOUND);
	*out = iss;
	iss = NULL;
out:
	cid_store_read_end(txn);
	free(iss);
	return rc;
}
