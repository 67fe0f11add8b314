/*
 * account_password: a citizen's password, and the login that checks it
 * under the throttle (account.h).
 *
 * Password hashing is slow, so it runs before cid_store_update, never
 * inside a callback that LMDB may run twice. A login reads the throttle
 * counters first and computes no hash while they say wait; unknown users pay
 * the same argon2id cost as known ones, are counted under the same keys (the
 * name typed, not the account), and every failure (wrong password, unknown
 * user, disabled account) looks the same to the caller.
 *
 * Logins in parallel are held to the same count as one after another:
 * read_login's wait only spares the hash, and the transaction that counts
 * the outcome reads the wait again and refuses, uncounted, an attempt the
 * failures committed meanwhile have put under a wait (tally_cb).
 * A success against a hash of other argon2id settings than the configured
 * ones then has it rehashed (password.h).
 */
#include "account.h"

#include "account_int.h"
#include "bounds.h"
#include "logins.h"
#include "password.h"
#include "str.h"
#include "throttle.h"

#include <string.h>

bool cid_account_password_ok(const char *password)
{
	size_t n = password == NULL ? 0 : strnlen(password, CID_MAX_PASSWORD + 1);

	return n >= CID_MIN_PASSWORD && n <= CID_MAX_PASSWORD;
}

enum cid_err cid_account_set_password(struct cid_store *s, const struct cid_argon2_params *params,
				      const char *username, const char *password, int64_t now)
{
	enum cid_err rc = CID_OK;
	char hash[CID_PASSWORD_HASH_MAX] = "";
	size_t pwlen = password == NULL ? 0 : strnlen(password, CID_MAX_PASSWORD + 1);
	struct change c = {.username = username, .now = now, .disabled = -1};

	CID_ENSURE(cid_account_password_ok(password), CID_ERR_INVALID);
	CID_ENSURE(account_username_ok(username), CID_ERR_NOTFOUND);
	CID_TRY(cid_password_hash(params, password, pwlen, hash));
	c.password = hash;
	CID_TRY(cid_store_update(s, account_change_cb, &c));
out:
	cid_wipe(hash, sizeof(hash));
	return rc;
}

/* The outcome of a password check, written in one transaction. */
struct tally {
	const struct cid_throttle_attempt *counters; /* the pair's and the address's */
	int64_t now;
	bool success;
	const char *login_of; /* the account id whose recent logins get the attempt, or NULL */
	const char *ua;	      /* the browser's User-Agent, for that record */
	int64_t wait;	      /* output: the wait found, reset on each run */
};

/*
 * The wait is read again before anything is written: logins let in together
 * by read_login each hashed, and whichever commits after the free failures
 * are used up gets CID_ERR_THROTTLED, its outcome neither counted nor told,
 * as if it had come after them. A success clears the pair's counter; a
 * failure counts for the pair and the address.
 */
static enum cid_err tally_cb(struct cid_txn *txn, void *arg)
{
	struct tally *t = arg;
	enum cid_err rc = CID_OK;

	t->wait = 0;
	CID_TRY(cid_throttle_attempt_read(txn, t->counters, t->now, &t->wait, NULL));
	CID_ENSURE(t->wait == 0, CID_ERR_THROTTLED);
	if (t->login_of != NULL)
		CID_TRY(cid_logins_put_txn(txn, t->login_of, t->now, t->success, CID_LOGIN_PASSWORD,
					   t->ua));
	if (t->success)
		CID_TRY(cid_throttle_attempt_clear(txn, t->counters));
	else
		CID_TRY(cid_throttle_attempt_fail(txn, t->counters, t->now));
out:
	return rc;
}

/* What a login needs from the store, read before any hash is computed. */
struct login {
	bool found;
	bool disabled;
	bool pair_counted; /* the pair has a failure counter to clear */
	char id[CID_ID_CHARS + 1];
	char hash[CID_PASSWORD_HASH_MAX];
	int64_t wait;
};

static enum cid_err read_login(struct cid_store *s, const char *username, const struct tally *t,
			       struct login *l)
{
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;
	json_t *record = NULL;
	const char *id;
	const char *hash;

	CID_TRY(cid_store_read_begin(s, &txn));
	rc = account_load_by_username(txn, username, &record);
	/* an unknown user is no error here: the throttle is read all the same */
	CID_ENSURE(rc == CID_OK || rc == CID_ERR_NOTFOUND, rc);
	if (record != NULL) {
		id = cid_json_str(record, "id");
		hash = cid_json_str(record, "password");
		CID_ENSURE(id != NULL && strlen(id) == CID_ID_CHARS && hash != NULL &&
			       strlen(hash) < sizeof(l->hash),
			   CID_ERR_STORE);
		l->found = true;
		l->disabled = !cid_account_active(record);
		memcpy(l->id, id, CID_ID_CHARS + 1);
		memcpy(l->hash, hash, strlen(hash) + 1);
	}
	/* the same counters whether or not the name exists */
	CID_TRY(cid_throttle_attempt_read(txn, t->counters, t->now, &l->wait, &l->pair_counted));
out:
	cid_store_read_end(txn);
	json_decref(record);
	return rc;
}

/* The password check of cid_account_authenticate and cid_account_login (record: the latter). */
static enum cid_err authenticate(struct cid_store *s, const struct cid_argon2_params *params,
				 const char *username, const char *password, const char *addr,
				 bool record, const char *ua, int64_t now,
				 char id_out[CID_ID_CHARS + 1], int64_t *retry_after)
{
	enum cid_err rc = CID_OK;
	enum cid_err verdict;
	size_t ulen = username == NULL ? 0 : strnlen(username, CID_MAX_USERNAME + 1);
	size_t pwlen = password == NULL ? 0 : strnlen(password, CID_MAX_PASSWORD + 1);
	struct cid_throttle_attempt counters = {0};
	struct login l = {0};
	struct tally t = {.counters = &counters, .now = now};

	CID_ENSURE(ulen >= 1 && ulen <= CID_MAX_USERNAME, CID_ERR_INVALID);
	CID_ENSURE(pwlen >= 1 && pwlen <= CID_MAX_PASSWORD, CID_ERR_INVALID);
	CID_TRY(cid_throttle_attempt_password(&counters, CID_THROTTLE_CITIZEN, username, addr));
	CID_TRY(read_login(s, username, &t, &l));
	t.wait = l.wait;
	/* no hash while the counters say wait */
	CID_ENSURE(t.wait == 0, CID_ERR_THROTTLED);
	if (l.found)
		verdict = cid_password_verify(params->gate, l.hash, password, pwlen);
	else
		verdict = cid_password_burn(params, password, pwlen);
	/* a disabled account fails after the same work, with the same error */
	if (verdict != CID_OK || l.disabled)
		verdict = CID_ERR_DENIED;
	t.success = verdict == CID_OK;
	if (record && l.found) {
		t.login_of = l.id;
		t.ua = ua;
	}
	/* a success with no counter to clear and nothing to record needs no write
	 * transaction: it writes nothing, so it may stand before any failure counted
	 * since read_login, and the wait it read stands too */
	if (!t.success || l.pair_counted || t.login_of != NULL)
		CID_TRY(cid_store_update(s, tally_cb, &t));
	CID_ENSURE(verdict == CID_OK, verdict);
	memcpy(id_out, l.id, sizeof(l.id));
	cid_password_rehash(s, params, CID_DB_CITIZENS, (struct cid_str){l.id, CID_ID_CHARS},
			    l.hash, password, pwlen);
out:
	if (rc == CID_ERR_THROTTLED && retry_after != NULL)
		*retry_after = t.wait;
	cid_wipe(&l, sizeof(l));
	return rc;
}

enum cid_err cid_account_authenticate(struct cid_store *s, const struct cid_argon2_params *params,
				      const char *username, const char *password, const char *addr,
				      int64_t now, char id_out[CID_ID_CHARS + 1],
				      int64_t *retry_after)
{
	return authenticate(s, params, username, password, addr, false, NULL, now, id_out,
			    retry_after);
}

enum cid_err cid_account_login(struct cid_store *s, const struct cid_argon2_params *params,
			       const char *username, const char *password, const char *addr,
			       const char *ua, int64_t now, char id_out[CID_ID_CHARS + 1],
			       int64_t *retry_after)
{
	return authenticate(s, params, username, password, addr, true, ua, now, id_out,
			    retry_after);
}
