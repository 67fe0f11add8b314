/*
 * account_totp: a citizen's second factor, the TOTP secret and its codes.
 *
 * A code is checked, and its step recorded as used, inside one write
 * transaction, so two concurrent requests cannot both spend it; HMAC is cheap
 * enough to run there. Wrong codes have their own per-account count, which
 * the password never clears (else someone who knows it could reset the count
 * between guesses) and time never forgets: only a correct code, a new secret
 * or an operator. A locked or throttled check computes and writes nothing, a
 * malformed code is refused before the store is read, and a disabled
 * account's code fails like a wrong one and spends no step. The secret leaves
 * this file only once, to the citizen enrolling.
 */
#include "account.h"

#include "account_int.h"
#include "bounds.h"
#include "str.h"
#include "throttle.h"
#include "totp.h"

#include <string.h>

/* ---- TOTP ---- */

struct totp_enrol {
	const char *username;
	int64_t now;
	bool replace;
	const char *secret; /* base32 */
};

static enum cid_err totp_enrol_cb(struct cid_txn *txn, void *arg)
{
	const struct totp_enrol *e = arg;
	enum cid_err rc = CID_OK;
	json_t *record = NULL;
	json_t *totp = NULL;

	CID_TRY(account_load_by_username(txn, e->username, &record));
	CID_ENSURE(e->replace || !cid_account_has_totp(record), CID_ERR_EXISTS);
	/* last_step 0: no code used yet (step 0 is 1970) */
	totp = json_pack("{s:s, s:I, s:I}", "secret", e->secret, "enrolled_at", (json_int_t)e->now,
			 "last_step", (json_int_t)0);
	CID_ENSURE(totp != NULL, CID_ERR_NOMEM);
	CID_ENSURE(json_object_set(record, "totp", totp) == 0 &&
		       json_object_set_new(record, "updated_at", json_integer(e->now)) == 0,
		   CID_ERR_NOMEM);
	CID_TRY(cid_txn_put_json(txn, CID_DB_CITIZENS, cid_str_of(cid_json_str(record, "id")),
				 record, 0));
	/* a new secret starts a new count of wrong codes */
	CID_TRY(account_clear_code_counter(txn, cid_json_str(record, "id")));
out:
	json_decref(totp);
	json_decref(record);
	return rc;
}

enum cid_err cid_account_totp_enrol(struct cid_store *s, const char *username, bool replace,
				    int64_t now, char **secret_b32_out, char **uri_out)
{
	enum cid_err rc = CID_OK;
	struct cid_totp_enrolment en = {0};
	struct totp_enrol e = {.username = username, .now = now, .replace = replace};

	CID_ENSURE(account_username_ok(username), CID_ERR_NOTFOUND);
	CID_TRY(cid_totp_enrolment_new(&en, CID_TOTP_ISSUER, username));
	e.secret = en.b32;
	CID_TRY(cid_store_update(s, totp_enrol_cb, &e));
	cid_totp_enrolment_give(&en, secret_b32_out, uri_out);
out:
	cid_totp_enrolment_wipe(&en);
	return rc;
}

enum cid_err cid_account_totp_disable(struct cid_store *s, const char *username, int64_t now)
{
	struct change c = {.username = username, .now = now, .disabled = -1, .drop_totp = true};

	return cid_store_update(s, account_change_cb, &c);
}

enum cid_err cid_account_totp_unlock(struct cid_store *s, const char *username, int64_t now)
{
	struct change c = {.username = username, .now = now, .disabled = -1, .unlock_totp = true};

	return cid_store_update(s, account_change_cb, &c);
}

enum cid_err cid_account_totp_failures(struct cid_store *s, const char *username, int64_t *out)
{
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;
	json_t *record = NULL;
	json_t *counter = NULL;
	struct cid_throttle_key k = {0};

	CID_TRY(cid_store_read_begin(s, &txn));
	CID_TRY(account_load_by_username(txn, username, &record));
	CID_ENSURE(cid_account_has_totp(record), CID_ERR_NOTFOUND);
	cid_throttle_key_code(&k, CID_THROTTLE_CITIZEN, cid_json_str(record, "id"));
	rc = cid_txn_get_json(txn, CID_DB_THROTTLE, k.key, &counter);
	CID_ENSURE(rc == CID_OK || rc == CID_ERR_NOTFOUND, rc);
	rc = CID_OK;
	*out = cid_json_int(counter, "n");
out:
	cid_store_read_end(txn);
	json_decref(record);
	json_decref(counter);
	return rc;
}

/* One code check; verdict and wait are outputs, reset on each run of the callback. */
struct totp_check {
	const char *id;
	const char *code;
	const struct cid_throttle_attempt *counters; /* the code's and the address's */
	int64_t now;
	enum cid_err verdict;
	int64_t wait;
};

/* Decodes the secret and last step of a stored "totp" member. Errors: CID_ERR_STORE. */
static enum cid_err stored_totp(const json_t *totp, uint8_t secret[CID_TOTP_SECRET_MAX],
				size_t *secret_len, int64_t *last_step)
{
	const char *b32 = cid_json_str(totp, "secret");
	const json_t *last = json_object_get(totp, "last_step");

	if (b32 == NULL || !json_is_integer(last) ||
	    cid_base32_decode(b32, strlen(b32), secret, CID_TOTP_SECRET_MAX, secret_len) !=
		CID_OK ||
	    *secret_len < CID_TOTP_SECRET_MIN)
		return CID_ERR_STORE;
	*last_step = (int64_t)json_integer_value(last);
	return CID_OK;
}

static enum cid_err totp_check_cb(struct cid_txn *txn, void *arg)
{
	struct totp_check *c = arg;
	enum cid_err rc = CID_OK;
	json_t *record = NULL;
	json_t *totp;
	uint8_t secret[CID_TOTP_SECRET_MAX];
	size_t secret_len = 0;
	int64_t last_step = 0;
	int64_t matched = 0;
	bool counted = false;

	c->verdict = CID_ERR_DENIED;
	c->wait = 0;
	CID_TRY(account_load_record(txn, c->id, &record));
	totp = json_object_get(record, "totp");
	CID_ENSURE(json_is_object(totp), CID_ERR_NOTFOUND);
	CID_TRY(cid_throttle_attempt_read(txn, c->counters, c->now, &c->wait, &counted));
	/* locked or throttled: nothing is computed or written */
	CID_ENSURE(c->wait != CID_THROTTLE_LOCKED, CID_ERR_LOCKED);
	CID_ENSURE(c->wait == 0, CID_ERR_THROTTLED);
	CID_TRY(stored_totp(totp, secret, &secret_len, &last_step));
	rc = cid_totp_verify(secret, secret_len, c->code, c->now, CID_TOTP_WINDOW, last_step,
			     &matched);
	CID_ENSURE(rc == CID_OK || rc == CID_ERR_DENIED, rc);
	/* a disabled account fails like a wrong code, and spends no step */
	if (rc == CID_OK && cid_account_active(record)) {
		c->verdict = CID_OK;
		CID_ENSURE(json_object_set_new(totp, "last_step", json_integer(matched)) == 0,
			   CID_ERR_NOMEM);
		CID_TRY(cid_txn_put_json(txn, CID_DB_CITIZENS, cid_str_of(c->id), record, 0));
	}
	rc = CID_OK;
	/* a correct code ends the run of wrong ones; a wrong one adds to it */
	if (c->verdict == CID_OK) {
		if (counted)
			CID_TRY(cid_throttle_attempt_clear(txn, c->counters));
	} else {
		CID_TRY(cid_throttle_attempt_fail(txn, c->counters, c->now));
	}
out:
	cid_wipe(secret, sizeof(secret));
	json_decref(record);
	return rc;
}

enum cid_err cid_account_totp_check(struct cid_store *s, const char *account_id, const char *code,
				    const char *addr, int64_t now, int64_t *retry_after)
{
	enum cid_err rc = CID_OK;
	struct cid_throttle_attempt counters = {0};
	struct totp_check c = {.id = account_id, .code = code, .counters = &counters, .now = now};

	/* a malformed code is refused before the store is touched, and not counted:
	 * it cannot be a guess */
	CID_ENSURE(cid_totp_code_ok(code), CID_ERR_INVALID);
	CID_ENSURE(now >= 0, CID_ERR_INVALID);
	CID_TRY(cid_throttle_attempt_code(&counters, CID_THROTTLE_CITIZEN, account_id, addr));
	rc = cid_store_update(s, totp_check_cb, &c);
	if (rc == CID_ERR_THROTTLED && retry_after != NULL)
		*retry_after = c.wait;
	CID_TRY(rc);
	CID_ENSURE(c.verdict == CID_OK, c.verdict);
out:
	return rc;
}
