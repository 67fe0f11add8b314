/*
 * audit_checkpoint: the signed checkpoints of the audit log and the log's
 * issuer, recorded once in the store.
 *
 * A checkpoint signs (size, hash of entry size-1) as the log's issuer, the one
 * the first server recorded in the store and never changed, so one log has
 * one issuer whoever signs; a checkpoint of a size is written once (a second
 * signer of the same head keeps the first one's).
 */
#include "audit.h"

#include "audit_int.h"
#include "str.h"

#include <stdlib.h>
#include <string.h>

#define ISSUER_KEY "audit_issuer"

/* ---- checkpoints ---- */

/* The newest checkpoint: its size and JWS (new string), or size 0 when none. */
struct newest_cp {
	uint64_t size;
	char *jws;
};

static enum cid_err newest_cp_cb(struct cid_str key, struct cid_str val, void *arg)
{
	struct newest_cp *cp = arg;
	json_t *rec = NULL;
	enum cid_err rc = CID_OK;
	const char *jws;

	CID_ENSURE(audit_seq_key_parse(key, &cp->size), CID_ERR_STORE);
	CID_TRY(cid_store_parse_json(val, &rec));
	jws = cid_json_str(rec, "jws");
	CID_ENSURE(jws != NULL, CID_ERR_STORE);
	cp->jws = strdup(jws);
	CID_ENSURE(cp->jws != NULL, CID_ERR_NOMEM);
	rc = AUDIT_STOP;
out:
	json_decref(rec);
	return rc;
}

static enum cid_err newest_cp(struct cid_txn *txn, struct newest_cp *cp)
{
	enum cid_err rc;

	free(cp->jws);
	*cp = (struct newest_cp){0};
	rc = cid_txn_foreach_range(txn, CID_DB_AUDIT_CP, (struct cid_str){NULL, 0},
				   (struct cid_str){NULL, 0}, true, newest_cp_cb, cp);
	return rc == AUDIT_STOP ? CID_OK : rc;
}

struct cp_write {
	uint64_t size;
	const char *jws;
	char *stored; /* output: the checkpoint now stored under size */
};

static enum cid_err cp_write_cb(struct cid_txn *txn, void *arg)
{
	struct cp_write *w = arg;
	enum cid_err rc = CID_OK;
	json_t *rec = NULL;
	char key[AUDIT_SEQ_HEX + 1];

	free(w->stored);
	w->stored = NULL;
	audit_seq_key(w->size, key);
	rc = cid_txn_get_json(txn, CID_DB_AUDIT_CP, cid_str_of(key), &rec);
	if (rc == CID_OK) {
		/* another writer signed the same head first: keep theirs */
		CID_ENSURE(cid_json_str(rec, "jws") != NULL, CID_ERR_STORE);
		w->stored = strdup(cid_json_str(rec, "jws"));
		CID_ENSURE(w->stored != NULL, CID_ERR_NOMEM);
		goto out;
	}
	CID_ENSURE(rc == CID_ERR_NOTFOUND, rc);
	rec = json_pack("{s:s}", "jws", w->jws);
	CID_ENSURE(rec != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_txn_put_json(txn, CID_DB_AUDIT_CP, cid_str_of(key), rec, CID_PUT_NOOVERWRITE));
	w->stored = strdup(w->jws);
	CID_ENSURE(w->stored != NULL, CID_ERR_NOMEM);
out:
	json_decref(rec);
	return rc;
}

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

/*
 * Signs the checkpoint of the first size entries (hash: entry size-1's) as
 * iss with ks's active ES256 key; time is now as RFC 3339. *jws: new string.
 */
static enum cid_err cp_sign(const struct cid_keyset *ks, const char *iss, uint64_t size,
			    const char *hash, const char *time, int64_t now, char **jws)
{
	enum cid_err rc = CID_OK;
	json_t *claims =
	    json_pack("{s:s, s:I, s:s, s:s, s:I}", "iss", iss, "size", (json_int_t)size, "hash",
		      hash, "time", time, "iat", (json_int_t)now);

	CID_ENSURE(claims != NULL, CID_ERR_NOMEM);
	rc = cid_jws_sign(ks, "ES256", AUDIT_JWS_TYP, claims, jws);
	CID_ENSURE(rc != CID_ERR_INVALID, CID_ERR_CRYPTO); /* no active ES256 key */
out:
	json_decref(claims);
	return rc;
}

enum cid_err audit_checkpoint_txn(struct cid_txn *txn, const struct cid_keyset *ks, int64_t now,
				  uint64_t *size)
{
	enum cid_err rc = CID_OK;
	struct cp_write w = {0};
	char *jws = NULL;
	char *iss = NULL;
	char hash[CID_AUDIT_HASH_HEX];
	char time[AUDIT_TIME_CHARS + 1];

	CID_TRY(cid_audit_time(now, time));
	CID_TRY(cid_audit_head(txn, &w.size, hash));
	CID_ENSURE(w.size > 0, CID_ERR_NOTFOUND);
	CID_TRY(audit_issuer_get(txn, &iss));
	CID_ENSURE(iss != NULL, CID_ERR_CONFIG);
	CID_TRY(cp_sign(ks, iss, w.size, hash, time, now, &jws));
	w.jws = jws;
	CID_TRY(cp_write_cb(txn, &w));
	*size = w.size;
out:
	free(w.stored);
	free(jws);
	free(iss);
	return rc;
}

enum cid_err cid_audit_checkpoint(struct cid_store *s, const struct cid_keyset *ks, int64_t now,
				  char **jws_out)
{
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;
	struct newest_cp cp = {0};
	struct cp_write w = {0};
	char *jws = NULL;
	char *iss = NULL;
	char hash[CID_AUDIT_HASH_HEX];
	char time[AUDIT_TIME_CHARS + 1];
	uint64_t size;

	CID_ENSURE(s != NULL && ks != NULL, CID_ERR_INVALID);
	CID_TRY(cid_audit_time(now, time));
	CID_TRY(cid_store_read_begin(s, &txn));
	CID_TRY(cid_audit_head(txn, &size, hash));
	CID_TRY(newest_cp(txn, &cp));
	CID_TRY(audit_issuer_get(txn, &iss));
	cid_store_read_end(txn);
	txn = NULL;
	CID_ENSURE(size > 0, CID_ERR_NOTFOUND);
	if (cp.size >= size) {
		w.stored = cp.jws;
		cp.jws = NULL;
		goto done;
	}
	/* a checkpoint signed as another issuer than the log's would make the log two logs */
	CID_ENSURE(iss != NULL, CID_ERR_CONFIG);
	CID_TRY(cp_sign(ks, iss, size, hash, time, now, &jws));
	w.size = size;
	w.jws = jws;
	CID_TRY(cid_store_update(s, cp_write_cb, &w));
done:
	if (jws_out != NULL) {
		*jws_out = w.stored;
		w.stored = NULL;
	}
out:
	cid_store_read_end(txn);
	free(jws);
	free(iss);
	free(cp.jws);
	free(w.stored);
	return rc;
}
