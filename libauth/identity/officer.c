/*
 * officer: privacy-officer accounts, login and console sessions.
 *
 * Officers are kept apart from citizens (their own database) so that the
 * audit console can never be opened with a citizen's credentials. Login is
 * password and TOTP code together, always. As in account.c, the slow
 * argon2id verification runs outside any write transaction, after the
 * throttle counters said an attempt is allowed; then one write transaction
 * re-reads the officer, checks the code and spends its step, counts the
 * failure or clears the counter, and creates the session, so two concurrent
 * logins cannot both use one code. The throttle is throttle.h's, the same
 * rule and counters as citizens' (in the realm "officer"), and the address
 * counter citizens' failures also count in. A good login with a hash of
 * other argon2id settings than the configured ones has it rehashed, as a
 * citizen's (password.h).
 */
#include "officer.h"

#include "password.h"
#include "str.h"
#include "throttle.h"
#include "totp.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool cid_officer_name_ok(const char *name)
{
	size_t n = name == NULL ? 0 : strnlen(name, CID_OFFICER_MAX_NAME + 1);

	if (n == 0 || n > CID_OFFICER_MAX_NAME)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* ---- accounts ---- */

struct add {
	const char *name;
	const char *hash;
	const char *secret; /* base32 */
	int64_t now;
};

static enum cid_err add_cb(struct cid_txn *txn, void *arg)
{
	const struct add *a = arg;
	enum cid_err rc = CID_OK;
	json_t *rec = json_pack("{s:s, s:s, s:{s:s, s:I}, s:I, s:b}", "name", a->name, "password",
				a->hash, "totp", "secret", a->secret, "last_step", (json_int_t)0,
				"created_at", (json_int_t)a->now, "disabled", 0);

	CID_ENSURE(rec != NULL, CID_ERR_NOMEM);
	CID_TRY(
	    cid_txn_put_json(txn, CID_DB_OFFICERS, cid_str_of(a->name), rec, CID_PUT_NOOVERWRITE));
out:
	json_decref(rec);
	return rc;
}

enum cid_err cid_officer_add(struct cid_store *s, const struct cid_argon2_params *params,
			     const char *name, const char *password, int64_t now,
			     char **secret_b32_out, char **uri_out)
{
	enum cid_err rc = CID_OK;
	size_t pwlen = password == NULL ? 0 : strnlen(password, CID_MAX_PASSWORD + 1);
	char hash[CID_PASSWORD_HASH_MAX] = "";
	struct cid_totp_enrolment en = {0};
	struct add a = {.name = name, .hash = hash, .secret = en.b32, .now = now};

	CID_ENSURE(cid_officer_name_ok(name), CID_ERR_INVALID);
	CID_ENSURE(pwlen >= CID_MIN_PASSWORD && pwlen <= CID_MAX_PASSWORD, CID_ERR_INVALID);
	CID_TRY(cid_password_hash(params, password, pwlen, hash));
	CID_TRY(cid_totp_enrolment_new(&en, CID_OFFICER_TOTP_ISSUER, name));
	CID_TRY(cid_store_update(s, add_cb, &a));
	cid_totp_enrolment_give(&en, secret_b32_out, uri_out);
out:
	cid_totp_enrolment_wipe(&en);
	cid_wipe(hash, sizeof(hash));
	return rc;
}

/* An officer may sign in only when the record says "disabled": false; anything else fails closed.
 */
static bool officer_active(const json_t *rec)
{
	return rec != NULL && json_is_false(json_object_get(rec, "disabled"));
}

static enum cid_err list_one(struct cid_str key, struct cid_str val, void *arg)
{
	json_t *list = arg;
	json_t *rec = NULL;
	json_t *row = NULL;
	enum cid_err rc = CID_OK;

	(void)key;
	CID_TRY(cid_store_parse_json(val, &rec));
	CID_ENSURE(cid_json_str(rec, "name") != NULL, CID_ERR_STORE);
	row = json_pack("{s:s, s:I, s:b}", "name", cid_json_str(rec, "name"), "created_at",
			(json_int_t)cid_json_int(rec, "created_at"), "disabled",
			!officer_active(rec));
	CID_ENSURE(row != NULL && json_array_append_new(list, row) == 0, CID_ERR_NOMEM);
out:
	json_decref(rec);
	return rc;
}

enum cid_err cid_officer_list(struct cid_store *s, json_t **out)
{
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;
	json_t *list = json_array();

	CID_ENSURE(list != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_store_read_begin(s, &txn));
	CID_TRY(cid_txn_foreach(txn, CID_DB_OFFICERS, (struct cid_str){"", 0}, list_one, list));
	*out = list;
	list = NULL;
out:
	cid_store_read_end(txn);
	json_decref(list);
	return rc;
}

/* Collects the session keys of one officer, for deletion after the walk. */
static enum cid_err session_of(struct cid_str key, struct cid_str val, void *arg)
{
	json_t *keys = arg;
	json_t *rec = NULL;
	const char *name;
	enum cid_err rc = CID_OK;

	CID_TRY(cid_store_parse_json(val, &rec));
	name = cid_json_str(rec, "name");
	if (name != NULL && strcmp(name, json_string_value(json_array_get(keys, 0))) == 0)
		CID_ENSURE(json_array_append_new(keys, json_stringn(key.ptr, key.len)) == 0,
			   CID_ERR_NOMEM);
out:
	json_decref(rec);
	return rc;
}

static enum cid_err disable_cb(struct cid_txn *txn, void *arg)
{
	const char *name = arg;
	enum cid_err rc = CID_OK;
	json_t *rec = NULL;
	json_t *keys = json_pack("[s]", name); /* [0] the name, then the keys found */
	size_t i;
	json_t *k;

	CID_ENSURE(keys != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_txn_get_json(txn, CID_DB_OFFICERS, cid_str_of(name), &rec));
	CID_ENSURE(json_object_set_new(rec, "disabled", json_true()) == 0, CID_ERR_NOMEM);
	CID_TRY(cid_txn_put_json(txn, CID_DB_OFFICERS, cid_str_of(name), rec, 0));
	CID_TRY(cid_txn_foreach(txn, CID_DB_OFFICER_SESSIONS, (struct cid_str){"", 0}, session_of,
				keys));
	json_array_foreach(keys, i, k)
	{
		if (i == 0)
			continue;
		CID_TRY(cid_txn_del(txn, CID_DB_OFFICER_SESSIONS,
				    (struct cid_str){json_string_value(k), json_string_length(k)}));
	}
out:
	json_decref(rec);
	json_decref(keys);
	return rc;
}

enum cid_err cid_officer_disable(struct cid_store *s, const char *name)
{
	if (!cid_officer_name_ok(name))
		return CID_ERR_NOTFOUND;
	return cid_store_update(s, disable_cb, (void *)(uintptr_t)name);
}

/* ---- the run of wrong codes ---- */

static enum cid_err unlock_cb(struct cid_txn *txn, void *arg)
{
	const char *name = arg;
	enum cid_err rc = CID_OK;
	json_t *rec = NULL;
	struct cid_throttle_key k = {0};

	CID_TRY(cid_txn_get_json(txn, CID_DB_OFFICERS, cid_str_of(name), &rec));
	cid_throttle_key_code(&k, CID_THROTTLE_OFFICER, name);
	CID_TRY(cid_throttle_clear(txn, &k));
out:
	json_decref(rec);
	return rc;
}

enum cid_err cid_officer_unlock(struct cid_store *s, const char *name)
{
	if (!cid_officer_name_ok(name))
		return CID_ERR_NOTFOUND;
	return cid_store_update(s, unlock_cb, (void *)(uintptr_t)name);
}

/* ---- login ---- */

struct login {
	const char *name;
	const char *code;
	const struct cid_throttle_attempt *counters; /* the pair's and the address's */
	int64_t now;
	bool password_ok; /* the argon2id verification passed */
	/* outputs, reset on each run of the callback */
	enum cid_err verdict;
	int64_t wait;
	char cookie[CID_TOKEN_CHARS + 1];
};

/* What the login reads before the hash: the stored hash (or none) and the wait. */
static enum cid_err read_login(struct cid_store *s, struct login *l,
			       char hash[CID_PASSWORD_HASH_MAX], bool *found)
{
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;
	json_t *rec = NULL;
	enum cid_err got;
	const char *h;

	CID_TRY(cid_store_read_begin(s, &txn));
	got = cid_txn_get_json(txn, CID_DB_OFFICERS, cid_str_of(l->name), &rec);
	CID_ENSURE(got == CID_OK || got == CID_ERR_NOTFOUND, got);
	if (rec != NULL) {
		h = cid_json_str(rec, "password");
		CID_ENSURE(h != NULL && strlen(h) < CID_PASSWORD_HASH_MAX, CID_ERR_STORE);
		memcpy(hash, h, strlen(h) + 1);
		*found = true;
	}
	CID_TRY(cid_throttle_attempt_read(txn, l->counters, l->now, &l->wait, NULL));
out:
	cid_store_read_end(txn);
	json_decref(rec);
	return rc;
}

/* Checks the code of rec (the officer record) and spends its step; *ok tells. */
static enum cid_err check_code(struct cid_txn *txn, struct login *l, json_t *rec, bool *ok)
{
	enum cid_err rc = CID_OK;
	json_t *totp = json_object_get(rec, "totp");
	const char *b32 = cid_json_str(totp, "secret");
	json_t *last = json_object_get(totp, "last_step");
	uint8_t secret[CID_TOTP_SECRET_MAX];
	size_t secret_len = 0;
	int64_t matched = 0;

	*ok = false;
	CID_ENSURE(b32 != NULL && json_is_integer(last), CID_ERR_STORE);
	CID_ENSURE(cid_base32_decode(b32, strlen(b32), secret, sizeof(secret), &secret_len) ==
			   CID_OK &&
		       secret_len >= CID_TOTP_SECRET_MIN,
		   CID_ERR_STORE);
	rc = cid_totp_verify(secret, secret_len, l->code, l->now, CID_TOTP_WINDOW,
			     (int64_t)json_integer_value(last), &matched);
	CID_ENSURE(rc == CID_OK || rc == CID_ERR_DENIED, rc);
	if (rc == CID_OK) {
		CID_ENSURE(json_object_set_new(totp, "last_step", json_integer(matched)) == 0,
			   CID_ERR_NOMEM);
		CID_TRY(cid_txn_put_json(txn, CID_DB_OFFICERS, cid_str_of(l->name), rec, 0));
		*ok = true;
	}
	rc = CID_OK;
out:
	cid_wipe(secret, sizeof(secret));
	return rc;
}

static enum cid_err new_session(struct cid_txn *txn, struct login *l)
{
	enum cid_err rc = CID_OK;
	char key[CID_HASH_HEX + 1];
	json_t *rec = NULL;

	CID_TRY(cid_random_token(l->cookie));
	cid_secret_hash(l->cookie, CID_TOKEN_CHARS, key);
	rec = json_pack("{s:s, s:I, s:I}", "name", l->name, "created_at", (json_int_t)l->now,
			"expires_at", (json_int_t)l->now + CID_OFFICER_SESSION_TTL);
	CID_ENSURE(rec != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_txn_put_json(txn, CID_DB_OFFICER_SESSIONS, (struct cid_str){key, CID_HASH_HEX},
				 rec, CID_PUT_NOOVERWRITE));
out:
	json_decref(rec);
	return rc;
}

static enum cid_err login_cb(struct cid_txn *txn, void *arg)
{
	struct login *l = arg;
	enum cid_err rc = CID_OK;
	json_t *rec = NULL;
	enum cid_err got;
	bool ok = false;
	bool code_counted = false;
	struct cid_throttle_key code_key = {0};

	l->verdict = CID_ERR_DENIED;
	l->wait = 0;
	cid_wipe(l->cookie, sizeof(l->cookie));
	/* again inside the transaction: a concurrent failure may have raised the wait */
	CID_TRY(cid_throttle_attempt_read(txn, l->counters, l->now, &l->wait, NULL));
	CID_ENSURE(l->wait == 0, CID_ERR_THROTTLED);
	got = cid_txn_get_json(txn, CID_DB_OFFICERS, cid_str_of(l->name), &rec);
	CID_ENSURE(got == CID_OK || got == CID_ERR_NOTFOUND, got);
	/* a disabled officer's code is not checked, so no step is spent; the run of
	 * wrong codes is read only after the right password, so only its holder
	 * learns of (or can cause) a lock */
	if (l->password_ok && officer_active(rec)) {
		cid_throttle_key_code(&code_key, CID_THROTTLE_OFFICER, l->name);
		CID_TRY(cid_throttle_read(txn, &code_key, l->now, &l->wait, &code_counted));
		CID_ENSURE(l->wait != CID_THROTTLE_LOCKED, CID_ERR_LOCKED);
		CID_ENSURE(l->wait == 0, CID_ERR_THROTTLED);
		CID_TRY(check_code(txn, l, rec, &ok));
		if (!ok)
			CID_TRY(cid_throttle_fail(txn, &code_key, l->now));
		else if (code_counted)
			CID_TRY(cid_throttle_clear(txn, &code_key));
	}
	if (!ok) {
		CID_TRY(cid_throttle_attempt_fail(txn, l->counters, l->now));
		goto out;
	}
	CID_TRY(cid_throttle_attempt_clear(txn, l->counters));
	CID_TRY(new_session(txn, l));
	l->verdict = CID_OK;
out:
	json_decref(rec);
	return rc;
}

enum cid_err cid_officer_login(struct cid_store *s, const struct cid_argon2_params *params,
			       const char *name, const char *password, const char *code,
			       const char *addr, int64_t now, char cookie_out[CID_TOKEN_CHARS + 1],
			       int64_t *retry_after)
{
	enum cid_err rc = CID_OK;
	size_t nlen = name == NULL ? 0 : strnlen(name, CID_OFFICER_MAX_NAME + 1);
	size_t pwlen = password == NULL ? 0 : strnlen(password, CID_MAX_PASSWORD + 1);
	char hash[CID_PASSWORD_HASH_MAX] = "";
	bool found = false;
	enum cid_err verdict;
	struct cid_throttle_attempt counters = {0};
	struct login l = {.name = name, .code = code, .counters = &counters, .now = now};

	CID_ENSURE(nlen >= 1 && nlen <= CID_OFFICER_MAX_NAME, CID_ERR_INVALID);
	CID_ENSURE(pwlen >= 1 && pwlen <= CID_MAX_PASSWORD, CID_ERR_INVALID);
	CID_ENSURE(cid_totp_code_ok(code) && now >= 0, CID_ERR_INVALID);
	/* every name, even one no officer can have, is counted alike; an address
	 * too long is CID_ERR_INVALID */
	CID_TRY(cid_throttle_attempt_password(&counters, CID_THROTTLE_OFFICER, name, addr));
	CID_TRY(read_login(s, &l, hash, &found));
	if (l.wait > 0) {
		rc = CID_ERR_THROTTLED;
		goto throttled;
	}
	if (found)
		verdict = cid_password_verify(params->gate, hash, password, pwlen);
	else
		verdict = cid_password_burn(params, password, pwlen);
	l.password_ok = found && verdict == CID_OK;
	rc = cid_store_update(s, login_cb, &l);
throttled:
	if (rc == CID_ERR_THROTTLED && retry_after != NULL)
		*retry_after = l.wait;
	CID_TRY(rc);
	CID_ENSURE(l.verdict == CID_OK, l.verdict);
	memcpy(cookie_out, l.cookie, sizeof(l.cookie));
	cid_password_rehash(s, params, CID_DB_OFFICERS, cid_str_of(name), hash, password, pwlen);
out:
	cid_wipe(hash, sizeof(hash));
	cid_wipe(l.cookie, sizeof(l.cookie));
	return rc;
}

/* ---- sessions ---- */

enum cid_err cid_officer_session(struct cid_store *s, const char *cookie, int64_t now,
				 char name_out[CID_OFFICER_MAX_NAME + 1])
{
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;
	json_t *sess = NULL;
	json_t *officer = NULL;
	char key[CID_HASH_HEX + 1];
	const char *name;

	/* only our own tokens are hashed and looked up */
	if (cookie == NULL || strnlen(cookie, CID_TOKEN_CHARS + 1) != CID_TOKEN_CHARS ||
	    !cid_token_syntax_ok(cookie))
		return CID_ERR_NOTFOUND;
	cid_secret_hash(cookie, CID_TOKEN_CHARS, key);
	CID_TRY(cid_store_read_begin(s, &txn));
	CID_TRY(cid_txn_get_json(txn, CID_DB_OFFICER_SESSIONS, (struct cid_str){key, CID_HASH_HEX},
				 &sess));
	name = cid_json_str(sess, "name");
	CID_ENSURE(cid_officer_name_ok(name), CID_ERR_STORE);
	CID_ENSURE(now < cid_json_int(sess, "expires_at"), CID_ERR_EXPIRED);
	rc = cid_txn_get_json(txn, CID_DB_OFFICERS, cid_str_of(name), &officer);
	CID_ENSURE(rc == CID_OK || rc == CID_ERR_NOTFOUND, rc);
	CID_ENSURE(officer_active(officer), CID_ERR_NOTFOUND);
	memcpy(name_out, name, strlen(name) + 1);
out:
	cid_store_read_end(txn);
	json_decref(sess);
	json_decref(officer);
	return rc;
}

void cid_officer_csrf(const char *cookie, char out[CID_TOKEN_CHARS + 1])
{
	static const char label[] = "civicid officer csrf\n";
	uint8_t in[sizeof(label) - 1 + CID_TOKEN_CHARS];
	uint8_t digest[32];
	size_t n = strnlen(cookie, CID_TOKEN_CHARS);

	memcpy(in, label, sizeof(label) - 1);
	memcpy(in + sizeof(label) - 1, cookie, n);
	cid_sha256(in, sizeof(label) - 1 + n, digest);
	if (cid_b64url_encode(digest, sizeof(digest), out, CID_TOKEN_CHARS + 1) != CID_OK)
		out[0] = '\0';
	cid_wipe(in, sizeof(in));
	cid_wipe(digest, sizeof(digest));
}

static enum cid_err logout_cb(struct cid_txn *txn, void *arg)
{
	return cid_txn_del(txn, CID_DB_OFFICER_SESSIONS, *(const struct cid_str *)arg);
}

enum cid_err cid_officer_logout(struct cid_store *s, const char *cookie)
{
	char key[CID_HASH_HEX + 1];
	struct cid_str k = {key, CID_HASH_HEX};

	if (cookie == NULL || strnlen(cookie, CID_TOKEN_CHARS + 1) != CID_TOKEN_CHARS ||
	    !cid_token_syntax_ok(cookie))
		return CID_ERR_NOTFOUND;
	cid_secret_hash(cookie, CID_TOKEN_CHARS, key);
	return cid_store_update(s, logout_cb, &k);
}

static bool session_dead(struct cid_str key, struct cid_str val, int64_t now)
{
	(void)key;
	return cid_store_record_past(val, "expires_at", CID_CLOCK_SKEW, now);
}

static const struct cid_store_sweep console_sessions = {CID_DB_OFFICER_SESSIONS, session_dead,
							NULL};

enum cid_err cid_officer_session_sweep(struct cid_store *s, int64_t now, size_t *removed)
{
	return cid_store_sweep(s, &console_sessions, now, CID_SWEEP_BATCH, removed);
}
