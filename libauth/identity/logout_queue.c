/*
 * logout_queue: the notices owed to services, in due order. Keys start with
 * the due time in fixed-width hex, so the due notices are the first keys and
 * a claim reads nothing past them; a notice moves to a new key each time its
 * due time changes (claimed, or failed and waiting). What a try costs and
 * how often it is repeated is the configuration's; the rule of waiting
 * longer after each failure is here.
 */
#include "logout_int.h"

#include "crypto.h"
#include "str.h"

#include <stdio.h>
#include <string.h>

#define KEY_LEN	   (16 + 1 + CID_TOKEN_CHARS)
#define QUEUE_STOP CID_ERR_COUNT /* internal: a walk stopped on purpose */

static bool key_format(int64_t due, const char *id, char out[KEY_LEN + 1])
{
	int n = snprintf(out, KEY_LEN + 1, "%016llx\n%s", (unsigned long long)due, id);

	return due >= 0 && n == KEY_LEN;
}

/* The due time of a key; false if the key is not one of ours. */
static bool key_due(struct cid_str key, int64_t *due)
{
	uint64_t v = 0;

	if (key.len != KEY_LEN || key.ptr[16] != '\n')
		return false;
	for (size_t i = 0; i < 16; i++) {
		char c = key.ptr[i];
		unsigned d;

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else
			return false;
		v = v << 4 | d;
	}
	if (v > INT64_MAX)
		return false;
	*due = (int64_t)v;
	return true;
}

enum cid_err logout_queue_put(struct cid_txn *txn, int64_t due, const json_t *rec)
{
	char key[KEY_LEN + 1];
	const char *id = cid_json_str(rec, "id");

	if (!cid_token_syntax_ok(id) || !key_format(due, id, key))
		return CID_ERR_INVALID;
	return cid_txn_put_json(txn, CID_DB_LOGOUT_QUEUE, (struct cid_str){key, KEY_LEN}, rec,
				CID_PUT_NOOVERWRITE);
}

int64_t cid_logout_backoff(const struct cid_logout_retry *r, unsigned attempts)
{
	int64_t wait = r->backoff < 1 ? 1 : r->backoff;

	for (unsigned i = 1; i < attempts && wait < CID_LOGOUT_BACKOFF_MAX; i++)
		wait *= 2;
	return wait < CID_LOGOUT_BACKOFF_MAX ? wait : CID_LOGOUT_BACKOFF_MAX;
}

static bool copy(char *dst, size_t cap, const char *src)
{
	size_t n = src == NULL ? cap : strnlen(src, cap);

	if (n == 0 || n >= cap)
		return false;
	memcpy(dst, src, n + 1);
	return true;
}

/* A stored notice into n; false if the record is damaged. */
static bool from_record(const json_t *rec, struct cid_logout_notice *n)
{
	json_int_t attempts = cid_json_int(rec, "attempts");

	memset(n, 0, sizeof(*n));
	if (!copy(n->client_id, sizeof(n->client_id), cid_json_str(rec, "client_id")) ||
	    !copy(n->sid, sizeof(n->sid), cid_json_str(rec, "sid")) ||
	    !copy(n->account_id, sizeof(n->account_id), cid_json_str(rec, "account_id")) ||
	    !copy(n->cause, sizeof(n->cause), cid_json_str(rec, "cause")) ||
	    !cid_token_syntax_ok(cid_json_str(rec, "id")) ||
	    !json_is_integer(json_object_get(rec, "attempts")) || attempts < 0 ||
	    attempts >= 1000 || !json_is_integer(json_object_get(rec, "created_at")))
		return false;
	n->attempts = (unsigned)attempts;
	n->created_at = cid_json_int(rec, "created_at");
	return true;
}

struct due {
	int64_t now;
	size_t max;
	json_t *keys; /* the due keys, oldest due first, at most max */
};

static enum cid_err due_one(struct cid_str key, struct cid_str val, void *arg)
{
	struct due *d = arg;
	int64_t when = 0;

	(void)val;
	if (json_array_size(d->keys) >= d->max)
		return QUEUE_STOP;
	/* a key not of ours sorts anywhere: take it, to drop it */
	if (key_due(key, &when) && when > d->now)
		return QUEUE_STOP;
	return json_array_append_new(d->keys, json_stringn(key.ptr, key.len)) == 0 ? CID_OK
										   : CID_ERR_NOMEM;
}

struct claim {
	int64_t now;
	const struct cid_logout_retry *r;
	struct cid_logout_notice *out;
	size_t max;
	size_t n; /* output */
};

/* Claims the notice at key into c->out[c->n], or drops it when it is damaged. */
static enum cid_err claim_one(struct cid_txn *txn, struct claim *c, const char *key, size_t len)
{
	enum cid_err rc = CID_OK;
	struct cid_str k = {key, len};
	struct cid_logout_notice *n = &c->out[c->n];
	json_t *rec = NULL;
	int64_t due = c->now + c->r->lease;

	rc = cid_txn_get_json(txn, CID_DB_LOGOUT_QUEUE, k, &rec);
	CID_ENSURE(rc == CID_OK || rc == CID_ERR_STORE, rc);
	CID_TRY(cid_txn_del(txn, CID_DB_LOGOUT_QUEUE, k));
	if (rc == CID_ERR_STORE || !from_record(rec, n)) {
		rc = CID_OK; /* damaged: dropped, so it cannot block the queue */
		goto out;
	}
	n->attempts++;
	CID_ENSURE(json_object_set_new(rec, "attempts", json_integer(n->attempts)) == 0,
		   CID_ERR_NOMEM);
	CID_TRY(logout_queue_put(txn, due, rec));
	CID_ENSURE(key_format(due, cid_json_str(rec, "id"), n->key), CID_ERR_INVALID);
	c->n++;
out:
	json_decref(rec);
	return rc;
}

static enum cid_err claim_cb(struct cid_txn *txn, void *arg)
{
	struct claim *c = arg;
	enum cid_err rc = CID_OK;
	struct due d = {c->now, c->max, json_array()};
	size_t i;
	json_t *k;

	c->n = 0; /* the callback may run again after a map resize */
	CID_ENSURE(d.keys != NULL, CID_ERR_NOMEM);
	rc = cid_txn_foreach(txn, CID_DB_LOGOUT_QUEUE, (struct cid_str){NULL, 0}, due_one, &d);
	CID_ENSURE(rc == CID_OK || rc == QUEUE_STOP, rc);
	rc = CID_OK;
	json_array_foreach(d.keys, i, k)
	{
		CID_TRY(claim_one(txn, c, json_string_value(k), json_string_length(k)));
	}
out:
	json_decref(d.keys);
	return rc;
}

/*
 * A read, so that a queue with nothing due (the usual case, looked at every
 * CID_LOGOUT_POLL_MS, for each tenant of a server with many) costs no write
 * transaction.
 */
enum cid_err cid_logout_due(struct cid_store *s, int64_t now, bool *yes)
{
	enum cid_err rc = CID_OK;
	struct due d = {now, 1, json_array()};
	struct cid_txn *txn = NULL;

	CID_ENSURE(d.keys != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_store_read_begin(s, &txn));
	rc = cid_txn_foreach(txn, CID_DB_LOGOUT_QUEUE, (struct cid_str){NULL, 0}, due_one, &d);
	CID_ENSURE(rc == CID_OK || rc == QUEUE_STOP, rc);
	rc = CID_OK;
	*yes = json_array_size(d.keys) > 0;
out:
	if (txn != NULL)
		cid_store_read_end(txn);
	json_decref(d.keys);
	return rc;
}

enum cid_err cid_logout_claim(struct cid_store *s, int64_t now, const struct cid_logout_retry *r,
			      struct cid_logout_notice *out, size_t max, size_t *n)
{
	enum cid_err rc = CID_OK;
	struct claim c = {now, r, out, max, 0};
	bool due = false;

	CID_ENSURE(r->lease >= 1, CID_ERR_INVALID);
	if (max > 0)
		CID_TRY(cid_logout_due(s, now, &due));
	if (due)
		CID_TRY(cid_store_update(s, claim_cb, &c));
	*n = c.n;
out:
	return rc;
}

enum cid_err cid_logout_settle_txn(struct cid_txn *txn, const struct cid_logout_notice *n,
				   bool delivered, bool final, int64_t now,
				   const struct cid_logout_retry *r, enum cid_logout_fate *fate)
{
	enum cid_err rc = CID_OK;
	struct cid_str key = {n->key, strnlen(n->key, sizeof(n->key))};
	json_t *rec = NULL;

	CID_TRY(cid_txn_get_json(txn, CID_DB_LOGOUT_QUEUE, key, &rec));
	CID_TRY(cid_txn_del(txn, CID_DB_LOGOUT_QUEUE, key));
	if (delivered) {
		*fate = CID_LOGOUT_DELIVERED;
		goto out;
	}
	if (final || n->attempts >= r->attempts) {
		*fate = CID_LOGOUT_GIVEN_UP;
		goto out;
	}
	CID_TRY(logout_queue_put(txn, now + cid_logout_backoff(r, n->attempts), rec));
	*fate = CID_LOGOUT_RETRY;
out:
	json_decref(rec);
	return rc;
}

struct count {
	size_t n;
	int64_t first;
};

static enum cid_err count_one(struct cid_str key, struct cid_str val, void *arg)
{
	struct count *c = arg;
	int64_t due = 0;

	(void)val;
	if (c->n == 0 && key_due(key, &due))
		c->first = due;
	c->n++;
	return CID_OK;
}

enum cid_err cid_logout_queued(struct cid_store *s, size_t *n, int64_t *next_due)
{
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;
	struct count c = {0, 0};

	CID_TRY(cid_store_read_begin(s, &txn));
	CID_TRY(
	    cid_txn_foreach(txn, CID_DB_LOGOUT_QUEUE, (struct cid_str){NULL, 0}, count_one, &c));
	*n = c.n;
	if (next_due != NULL)
		*next_due = c.first;
out:
	cid_store_read_end(txn);
	return rc;
}
