/*
 * throttle: the failed-login counters of account.c and officer.c.
 *
 * One place for the rule and the stored format, so that a citizen's wrong
 * password and an officer's wrong code slow down the same address by the same
 * amount. The wait is computed from the record alone (a pure function), and
 * the store is only read and written through the caller's transaction.
 */
#include "throttle.h"

#include "bounds.h"

#include <stdio.h>

void cid_throttle_key(struct cid_throttle_key *k, const char *kind, const char *value)
{
	int n = snprintf(k->buf, sizeof(k->buf), "%s:%s", kind, value);

	if (n >= (int)sizeof(k->buf))
		n = (int)sizeof(k->buf) - 1;
	k->key = (struct cid_str){k->buf, n < 0 ? 0 : (size_t)n};
}

int64_t cid_throttle_wait(const json_t *rec, int64_t now)
{
	int64_t shift = cid_json_int(rec, "n") - CID_THROTTLE_FREE;
	int64_t delay;
	int64_t wait;

	if (rec == NULL || now - cid_json_int(rec, "first") >= CID_THROTTLE_WINDOW || shift < 0)
		return 0;
	delay = shift >= 30 ? CID_THROTTLE_MAX_DELAY : (int64_t)1 << shift;
	if (delay > CID_THROTTLE_MAX_DELAY)
		delay = CID_THROTTLE_MAX_DELAY;
	wait = cid_json_int(rec, "last") + delay - now;
	/* a clock set back must not lock anyone out for longer than the cap */
	if (wait > CID_THROTTLE_MAX_DELAY)
		wait = CID_THROTTLE_MAX_DELAY;
	return wait > 0 ? wait : 0;
}

enum cid_err cid_throttle_read(struct cid_txn *txn, struct cid_str key, int64_t now, int64_t *wait,
			       bool *exists)
{
	json_t *rec = NULL;
	enum cid_err rc = cid_txn_get_json(txn, CID_DB_THROTTLE, key, &rec);
	int64_t w;

	if (rc == CID_ERR_NOTFOUND)
		return CID_OK;
	if (rc != CID_OK)
		return rc;
	if (exists != NULL)
		*exists = true;
	w = cid_throttle_wait(rec, now);
	if (w > *wait)
		*wait = w;
	json_decref(rec);
	return CID_OK;
}

enum cid_err cid_throttle_fail(struct cid_txn *txn, struct cid_str key, int64_t now)
{
	json_t *rec = NULL;
	json_t *next = NULL;
	enum cid_err rc = cid_txn_get_json(txn, CID_DB_THROTTLE, key, &rec);
	int64_t n = 1;
	int64_t first = now;

	CID_ENSURE(rc == CID_OK || rc == CID_ERR_NOTFOUND, rc);
	/* failures older than the window are forgotten: count from one again */
	if (rec != NULL && now - cid_json_int(rec, "first") < CID_THROTTLE_WINDOW) {
		n = cid_json_int(rec, "n") + 1;
		first = cid_json_int(rec, "first");
	}
	next = json_pack("{s:I, s:I, s:I}", "n", (json_int_t)n, "first", (json_int_t)first, "last",
			 (json_int_t)now);
	CID_ENSURE(next != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_txn_put_json(txn, CID_DB_THROTTLE, key, next, 0));
out:
	json_decref(rec);
	json_decref(next);
	return rc;
}

enum cid_err cid_throttle_clear(struct cid_txn *txn, struct cid_str key)
{
	enum cid_err rc = cid_txn_del(txn, CID_DB_THROTTLE, key);

	return rc == CID_ERR_NOTFOUND ? CID_OK : rc;
}
