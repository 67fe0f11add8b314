/*
 * session: SSO sessions on a real LMDB store; the cookie is the key's
 * preimage only, never stored. The sessions belong to a real citizen
 * (account.h), whose state decides whether they live.
 */
#include "account.h"
#include "crypto.h"
#include "session.h"
#include "support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define NOW	1800000000
#define TTL	3600
#define ACR_MFA "urn:civicid:acr:mfa"

struct fixture {
	char dir[256];
	struct cid_store *s;
	char account[CID_ID_CHARS + 1];
	char cookie[CID_TOKEN_CHARS + 1];
	struct cid_session sess;
};

static int setup(void **state)
{
	static const char *const amr[] = {"pwd", "otp"};
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->s = cid_test_store_open(f->dir);
	assert_int_equal(cid_account_add(f->s, &cid_test_argon2, "hanako", "correct horse battery",
					 NULL, NOW, f->account),
			 CID_OK);
	assert_int_equal(
	    cid_session_new(f->s, f->account, ACR_MFA, amr, 2, NOW, TTL, f->cookie, &f->sess),
	    CID_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	cid_test_store_close(f->s, f->dir);
	free(f);
	return 0;
}

static void test_new_get_round_trip(void **state)
{
	struct fixture *f = *state;
	struct cid_session got;

	assert_int_equal(strlen(f->cookie), CID_TOKEN_CHARS);
	assert_int_equal(strlen(f->sess.sid), CID_TOKEN_CHARS);
	assert_string_not_equal(f->sess.sid, f->cookie);
	assert_int_equal(cid_session_get(f->s, f->cookie, NOW + 10, &got), CID_OK);
	assert_string_equal(got.sid, f->sess.sid);
	assert_string_equal(got.account_id, f->account);
	assert_int_equal(got.auth_time, NOW);
	assert_int_equal(got.expires_at, NOW + TTL);
	assert_string_equal(got.acr, ACR_MFA);
	assert_int_equal(got.n_amr, 2);
	assert_string_equal(got.amr[0], "pwd");
	assert_string_equal(got.amr[1], "otp");
	assert_int_equal(f->sess.n_amr, 2);
	assert_string_equal(f->sess.acr, ACR_MFA);
	assert_int_equal(f->sess.expires_at, NOW + TTL);
	/* out is optional */
	assert_int_equal(cid_session_get(f->s, f->cookie, NOW, NULL), CID_OK);
}

static void test_sessions_are_distinct(void **state)
{
	static const char *const amr[] = {"pwd"};
	struct fixture *f = *state;
	char cookie[CID_TOKEN_CHARS + 1];
	struct cid_session other;

	assert_int_equal(cid_session_new(f->s, f->account, "urn:civicid:acr:password", amr, 1, NOW,
					 TTL, cookie, &other),
			 CID_OK);
	assert_string_not_equal(cookie, f->cookie);
	assert_string_not_equal(other.sid, f->sess.sid);
	assert_int_equal(cid_session_new(f->s, f->account, "", NULL, 0, NOW, TTL, cookie, NULL),
			 CID_OK);
}

static void test_wrong_cookie_notfound(void **state)
{
	struct fixture *f = *state;
	char other[CID_TOKEN_CHARS + 1];
	struct cid_session got;

	assert_int_equal(cid_random_token(other), CID_OK);
	assert_int_equal(cid_session_get(f->s, other, NOW, &got), CID_ERR_NOTFOUND);
	/* one character changed */
	memcpy(other, f->cookie, sizeof(other));
	other[0] = other[0] == 'A' ? 'B' : 'A';
	assert_int_equal(cid_session_get(f->s, other, NOW, &got), CID_ERR_NOTFOUND);
}

static void test_malformed_cookie_notfound(void **state)
{
	struct fixture *f = *state;
	char bad[CID_TOKEN_CHARS + 2];
	struct cid_session got;

	assert_int_equal(cid_session_get(f->s, NULL, NOW, &got), CID_ERR_NOTFOUND);
	assert_int_equal(cid_session_get(f->s, "", NOW, &got), CID_ERR_NOTFOUND);
	assert_int_equal(cid_session_get(f->s, "short", NOW, &got), CID_ERR_NOTFOUND);
	/* the real cookie with one more character */
	memcpy(bad, f->cookie, CID_TOKEN_CHARS);
	bad[CID_TOKEN_CHARS] = 'x';
	bad[CID_TOKEN_CHARS + 1] = '\0';
	assert_int_equal(cid_session_get(f->s, bad, NOW, &got), CID_ERR_NOTFOUND);
	/* right length, characters outside base64url */
	memcpy(bad, f->cookie, CID_TOKEN_CHARS + 1);
	bad[5] = '+';
	assert_int_equal(cid_session_get(f->s, bad, NOW, &got), CID_ERR_NOTFOUND);
	bad[5] = '=';
	assert_int_equal(cid_session_get(f->s, bad, NOW, &got), CID_ERR_NOTFOUND);
	assert_int_equal(cid_session_add_client(f->s, bad, "rp1"), CID_ERR_NOTFOUND);
	assert_int_equal(cid_session_end(f->s, bad), CID_ERR_NOTFOUND);
	assert_int_equal(cid_session_end(f->s, NULL), CID_ERR_NOTFOUND);
	/* nothing above touched the real session */
	assert_int_equal(cid_session_get(f->s, f->cookie, NOW, &got), CID_OK);
}

static void test_expired_session(void **state)
{
	struct fixture *f = *state;
	struct cid_session got;

	assert_int_equal(cid_session_get(f->s, f->cookie, NOW + TTL - 1, &got), CID_OK);
	assert_int_equal(cid_session_get(f->s, f->cookie, NOW + TTL, &got), CID_ERR_EXPIRED);
	assert_int_equal(cid_session_get(f->s, f->cookie, NOW + TTL + 86400, &got),
			 CID_ERR_EXPIRED);
}

static void test_new_rejects_bad_input(void **state)
{
	static const char *const five[] = {"pwd", "otp", "hwk", "sms", "face"};
	static const char *const long_amr[] = {"abcdefghijklmnop"}; /* 16 chars */
	static const char *const empty_amr[] = {""};
	static const char *const null_amr[] = {NULL};
	struct fixture *f = *state;
	char cookie[CID_TOKEN_CHARS + 1];
	char long_acr[40];

	memset(long_acr, 'a', sizeof(long_acr) - 1);
	long_acr[sizeof(long_acr) - 1] = '\0';
	assert_int_equal(
	    cid_session_new(f->s, f->account, ACR_MFA, five, 5, NOW, TTL, cookie, NULL),
	    CID_ERR_INVALID);
	assert_int_equal(
	    cid_session_new(f->s, f->account, long_acr, five, 1, NOW, TTL, cookie, NULL),
	    CID_ERR_INVALID);
	assert_int_equal(
	    cid_session_new(f->s, f->account, ACR_MFA, long_amr, 1, NOW, TTL, cookie, NULL),
	    CID_ERR_INVALID);
	assert_int_equal(
	    cid_session_new(f->s, f->account, ACR_MFA, empty_amr, 1, NOW, TTL, cookie, NULL),
	    CID_ERR_INVALID);
	assert_int_equal(
	    cid_session_new(f->s, f->account, ACR_MFA, null_amr, 1, NOW, TTL, cookie, NULL),
	    CID_ERR_INVALID);
	assert_int_equal(
	    cid_session_new(f->s, "not-an-id", ACR_MFA, five, 1, NOW, TTL, cookie, NULL),
	    CID_ERR_INVALID);
	assert_int_equal(cid_session_new(f->s, NULL, ACR_MFA, five, 1, NOW, TTL, cookie, NULL),
			 CID_ERR_INVALID);
	assert_int_equal(cid_session_new(f->s, f->account, ACR_MFA, five, 1, NOW, 0, cookie, NULL),
			 CID_ERR_INVALID);
}

/* The stored clients of the session of cookie. */
static json_t *stored_clients(struct cid_store *s, const char *cookie)
{
	char hash[CID_HASH_HEX + 1];
	struct cid_txn *txn = NULL;
	json_t *rec = NULL;
	json_t *clients;

	cid_secret_hash(cookie, strlen(cookie), hash);
	assert_int_equal(cid_store_read_begin(s, &txn), CID_OK);
	assert_int_equal(cid_txn_get_json(txn, CID_DB_SESSIONS, cid_str_of(hash), &rec), CID_OK);
	cid_store_read_end(txn);
	clients = json_incref(json_object_get(rec, "clients"));
	json_decref(rec);
	assert_true(json_is_array(clients));
	return clients;
}

static void test_add_client_idempotent(void **state)
{
	struct fixture *f = *state;
	char other[CID_TOKEN_CHARS + 1];
	json_t *clients;

	clients = stored_clients(f->s, f->cookie);
	assert_int_equal(json_array_size(clients), 0);
	json_decref(clients);

	assert_int_equal(cid_session_add_client(f->s, f->cookie, "rp1"), CID_OK);
	assert_int_equal(cid_session_add_client(f->s, f->cookie, "rp1"), CID_OK);
	assert_int_equal(cid_session_add_client(f->s, f->cookie, "rp2"), CID_OK);
	assert_int_equal(cid_session_add_client(f->s, f->cookie, "rp1"), CID_OK);
	clients = stored_clients(f->s, f->cookie);
	assert_int_equal(json_array_size(clients), 2);
	assert_string_equal(json_string_value(json_array_get(clients, 0)), "rp1");
	assert_string_equal(json_string_value(json_array_get(clients, 1)), "rp2");
	json_decref(clients);

	assert_int_equal(cid_random_token(other), CID_OK);
	assert_int_equal(cid_session_add_client(f->s, other, "rp1"), CID_ERR_NOTFOUND);
	assert_int_equal(cid_session_add_client(f->s, f->cookie, ""), CID_ERR_INVALID);
	assert_int_equal(cid_session_add_client(f->s, f->cookie, NULL), CID_ERR_INVALID);
}

static void test_end_then_get_notfound(void **state)
{
	struct fixture *f = *state;
	struct cid_session got;

	assert_int_equal(cid_session_end(f->s, f->cookie), CID_OK);
	assert_int_equal(cid_session_get(f->s, f->cookie, NOW, &got), CID_ERR_NOTFOUND);
	assert_int_equal(cid_session_end(f->s, f->cookie), CID_ERR_NOTFOUND);
	assert_int_equal(cid_session_end_sid(f->s, f->sess.sid), CID_ERR_NOTFOUND);
}

static void test_end_sid_then_get_notfound(void **state)
{
	static const char *const amr[] = {"pwd"};
	struct fixture *f = *state;
	char other[CID_TOKEN_CHARS + 1];
	char unknown[CID_TOKEN_CHARS + 1];
	struct cid_session got;

	/* a second session that must survive */
	assert_int_equal(cid_session_new(f->s, f->account, ACR_MFA, amr, 1, NOW, TTL, other, NULL),
			 CID_OK);
	assert_int_equal(cid_session_end_sid(f->s, f->sess.sid), CID_OK);
	assert_int_equal(cid_session_get(f->s, f->cookie, NOW, &got), CID_ERR_NOTFOUND);
	assert_int_equal(cid_session_get(f->s, other, NOW, &got), CID_OK);
	assert_int_equal(cid_session_end_sid(f->s, f->sess.sid), CID_ERR_NOTFOUND);

	assert_int_equal(cid_random_token(unknown), CID_OK);
	assert_int_equal(cid_session_end_sid(f->s, unknown), CID_ERR_NOTFOUND);
	assert_int_equal(cid_session_end_sid(f->s, "short"), CID_ERR_NOTFOUND);
	assert_int_equal(cid_session_end_sid(f->s, NULL), CID_ERR_NOTFOUND);
	/* the cookie is not a sid */
	assert_int_equal(cid_session_end_sid(f->s, other), CID_ERR_NOTFOUND);
	assert_int_equal(cid_session_get(f->s, other, NOW, &got), CID_OK);
}

struct scan {
	const char *cookie;
	char hash[CID_HASH_HEX + 1];
	size_t records;
	size_t hash_keys;
};

static enum cid_err scan_one(struct cid_str key, struct cid_str val, void *arg)
{
	struct scan *sc = arg;
	size_t n = strlen(sc->cookie);

	sc->records++;
	assert_false(key.len == n && memcmp(key.ptr, sc->cookie, n) == 0);
	assert_null(memmem(key.ptr, key.len, sc->cookie, n));
	assert_null(memmem(val.ptr, val.len, sc->cookie, n));
	if (key.len == CID_HASH_HEX && memcmp(key.ptr, sc->hash, CID_HASH_HEX) == 0)
		sc->hash_keys++;
	return CID_OK;
}

static void test_store_key_is_cookie_hash(void **state)
{
	struct fixture *f = *state;
	struct scan sc = {.cookie = f->cookie};
	struct cid_txn *txn = NULL;

	assert_int_equal(cid_session_add_client(f->s, f->cookie, "rp1"), CID_OK);
	cid_secret_hash(f->cookie, CID_TOKEN_CHARS, sc.hash);
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(
	    cid_txn_foreach(txn, CID_DB_SESSIONS, (struct cid_str){NULL, 0}, scan_one, &sc),
	    CID_OK);
	cid_store_read_end(txn);
	assert_int_equal(sc.records, 1);
	assert_int_equal(sc.hash_keys, 1);
}

/*
 * A step-up raises acr and amr and restarts auth_time under a new cookie: the
 * old cookie finds nothing (ASVS V3.2.1); sid, clients and lifetime are kept.
 */
static void test_upgrade(void **state)
{
	struct fixture *f = *state;
	static const char *const pwd[] = {"pwd"};
	static const char *const both[] = {"pwd", "otp"};
	char cookie[CID_TOKEN_CHARS + 1];
	char other[CID_TOKEN_CHARS + 1];
	char up[CID_TOKEN_CHARS + 1];
	struct cid_session before, after, read;

	assert_int_equal(
	    cid_session_new(f->s, f->account, CID_ACR_PASSWORD, pwd, 1, NOW, TTL, cookie, &before),
	    CID_OK);
	assert_int_equal(cid_session_add_client(f->s, cookie, "rp1"), CID_OK);
	assert_int_equal(
	    cid_session_upgrade(f->s, cookie, CID_ACR_MFA, both, 2, NOW + 60, up, &after), CID_OK);
	assert_int_equal(strlen(up), CID_TOKEN_CHARS);
	assert_string_not_equal(up, cookie);
	/* the old cookie is worth nothing from now on */
	assert_int_equal(cid_session_get(f->s, cookie, NOW + 61, &read), CID_ERR_NOTFOUND);
	assert_int_equal(
	    cid_session_upgrade(f->s, cookie, CID_ACR_MFA, both, 2, NOW + 61, other, NULL),
	    CID_ERR_NOTFOUND);
	memcpy(cookie, up, sizeof(up));
	{
		json_t *clients = stored_clients(f->s, cookie);

		assert_int_equal(json_array_size(clients), 1);
		assert_string_equal(json_string_value(json_array_get(clients, 0)), "rp1");
		json_decref(clients);
	}
	assert_int_equal(cid_session_get(f->s, cookie, NOW + 61, &read), CID_OK);
	assert_string_equal(read.acr, CID_ACR_MFA);
	assert_int_equal(read.n_amr, 2);
	assert_string_equal(read.amr[0], "pwd");
	assert_string_equal(read.amr[1], "otp");
	assert_int_equal(read.auth_time, NOW + 60);
	assert_string_equal(read.sid, before.sid);
	assert_int_equal(read.expires_at, before.expires_at);
	assert_string_equal(after.acr, read.acr);
	/* errors change nothing */
	memset(other, 'A', CID_TOKEN_CHARS);
	other[CID_TOKEN_CHARS] = '\0';
	assert_int_equal(cid_session_upgrade(f->s, other, CID_ACR_MFA, both, 2, NOW, up, NULL),
			 CID_ERR_NOTFOUND);
	assert_int_equal(cid_session_upgrade(f->s, "short", CID_ACR_MFA, both, 2, NOW, up, NULL),
			 CID_ERR_NOTFOUND);
	assert_int_equal(cid_session_upgrade(f->s, cookie, CID_ACR_MFA, both, 0, NOW, up, NULL),
			 CID_ERR_INVALID);
	assert_int_equal(cid_session_upgrade(f->s, cookie, NULL, both, 2, NOW, up, NULL),
			 CID_ERR_INVALID);
	/* the bounds of a new session hold for a step-up too, so the record reads back */
	{
		static const char *const five[] = {"pwd", "otp", "hwk", "sms", "face"};
		static const char *const long_amr[] = {"abcdefghijklmnop"}; /* 16 chars */
		static const char *const empty_amr[] = {""};
		static const char *const null_amr[] = {NULL};
		char long_acr[40];

		memset(long_acr, 'a', sizeof(long_acr) - 1);
		long_acr[sizeof(long_acr) - 1] = '\0';
		assert_int_equal(
		    cid_session_upgrade(f->s, cookie, CID_ACR_MFA, five, 5, NOW, up, NULL),
		    CID_ERR_INVALID);
		assert_int_equal(
		    cid_session_upgrade(f->s, cookie, long_acr, both, 2, NOW, up, NULL),
		    CID_ERR_INVALID);
		assert_int_equal(
		    cid_session_upgrade(f->s, cookie, CID_ACR_MFA, long_amr, 1, NOW, up, NULL),
		    CID_ERR_INVALID);
		assert_int_equal(
		    cid_session_upgrade(f->s, cookie, CID_ACR_MFA, empty_amr, 1, NOW, up, NULL),
		    CID_ERR_INVALID);
		assert_int_equal(
		    cid_session_upgrade(f->s, cookie, CID_ACR_MFA, null_amr, 1, NOW, up, NULL),
		    CID_ERR_INVALID);
		assert_int_equal(
		    cid_session_upgrade(f->s, cookie, CID_ACR_MFA, NULL, 1, NOW, up, NULL),
		    CID_ERR_INVALID);
	}
	assert_int_equal(
	    cid_session_upgrade(f->s, cookie, CID_ACR_MFA, both, 2, before.expires_at, up, NULL),
	    CID_ERR_EXPIRED);
	assert_int_equal(cid_session_get(f->s, cookie, NOW + 61, &read), CID_OK);
	assert_int_equal(read.auth_time, NOW + 60);
}

/*
 * Disabling a citizen ends their sessions at once, and enabling them again
 * revives none; no session is made for a citizen who is not active.
 */
static void test_disabled_citizen_has_no_sessions(void **state)
{
	static const char *const pwd[] = {"pwd"};
	static const char *const both[] = {"pwd", "otp"};
	struct fixture *f = *state;
	char other[CID_TOKEN_CHARS + 1];
	char later[CID_TOKEN_CHARS + 1];
	struct cid_session got;

	assert_int_equal(
	    cid_session_new(f->s, f->account, CID_ACR_PASSWORD, pwd, 1, NOW, TTL, other, NULL),
	    CID_OK);
	assert_int_equal(cid_account_set_disabled(f->s, "hanako", true, NOW), CID_OK);
	assert_int_equal(cid_session_get(f->s, f->cookie, NOW, &got), CID_ERR_REVOKED);
	assert_int_equal(cid_session_get(f->s, other, NOW, &got), CID_ERR_REVOKED);
	assert_int_equal(cid_session_upgrade(f->s, other, CID_ACR_MFA, both, 2, NOW, later, NULL),
			 CID_ERR_REVOKED);
	assert_int_equal(
	    cid_session_new(f->s, f->account, CID_ACR_PASSWORD, pwd, 1, NOW, TTL, later, NULL),
	    CID_ERR_DISABLED);
	/* enabled again: the old sessions stay dead, a new login works */
	assert_int_equal(cid_account_set_disabled(f->s, "hanako", false, NOW), CID_OK);
	assert_int_equal(cid_session_get(f->s, f->cookie, NOW, &got), CID_ERR_REVOKED);
	assert_int_equal(cid_session_get(f->s, other, NOW, &got), CID_ERR_REVOKED);
	assert_int_equal(
	    cid_session_new(f->s, f->account, CID_ACR_PASSWORD, pwd, 1, NOW, TTL, later, NULL),
	    CID_OK);
	assert_int_equal(cid_session_get(f->s, later, NOW, &got), CID_OK);
	/* enabling an active citizen again is no change: their session lives on */
	assert_int_equal(cid_account_set_disabled(f->s, "hanako", false, NOW), CID_OK);
	assert_int_equal(cid_session_get(f->s, later, NOW, &got), CID_OK);
	/* a well-formed id of nobody gets no session */
	assert_int_equal(cid_session_new(f->s, "00000000-0000-4000-8000-000000000009",
					 CID_ACR_PASSWORD, pwd, 1, NOW, TTL, later, NULL),
			 CID_ERR_NOTFOUND);
}

/* Fail-closed: a citizen record that does not say "disabled": false holds no session. */
static void test_session_needs_an_active_record(void **state)
{
	struct fixture *f = *state;
	struct cid_session got;

	/* disabled behind the generation's back (no new generation): still refused */
	cid_test_citizen_edit(f->s, f->account, "disabled", json_true());
	assert_int_equal(cid_session_get(f->s, f->cookie, NOW, &got), CID_ERR_REVOKED);
	cid_test_citizen_edit(f->s, f->account, "disabled", NULL);
	assert_int_equal(cid_session_get(f->s, f->cookie, NOW, &got), CID_ERR_REVOKED);
	cid_test_citizen_edit(f->s, f->account, "disabled", json_string("no"));
	assert_int_equal(cid_session_get(f->s, f->cookie, NOW, &got), CID_ERR_REVOKED);
	cid_test_citizen_edit(f->s, f->account, "disabled", json_false());
	assert_int_equal(cid_session_get(f->s, f->cookie, NOW, &got), CID_OK);
	/* a damaged generation is a damaged store, not a live session */
	cid_test_citizen_edit(f->s, f->account, "generation", json_string("0"));
	assert_int_equal(cid_session_get(f->s, f->cookie, NOW, &got), CID_ERR_STORE);
}

/* The token of a session's forms: fixed for one browser's CSRF token and session, else different.
 */
static void test_form_token_binds_csrf_and_session(void **state)
{
	static const char *const pwd[] = {"pwd"};
	struct fixture *f = *state;
	char csrf[CID_TOKEN_CHARS + 1];
	char other[CID_TOKEN_CHARS + 1];
	char a[CID_TOKEN_CHARS + 1];
	char b[CID_TOKEN_CHARS + 1];

	assert_int_equal(cid_random_token(csrf), CID_OK);
	assert_int_equal(
	    cid_session_new(f->s, f->account, CID_ACR_PASSWORD, pwd, 1, NOW, TTL, other, NULL),
	    CID_OK);
	cid_session_form_token(f->cookie, csrf, a);
	cid_session_form_token(f->cookie, csrf, b);
	assert_int_equal(strlen(a), CID_TOKEN_CHARS);
	assert_string_equal(a, b);
	assert_string_not_equal(a, csrf);
	assert_null(strstr(a, f->cookie));
	/* another session of the same browser, another CSRF token of the same session */
	cid_session_form_token(other, csrf, b);
	assert_string_not_equal(a, b);
	cid_session_form_token(f->cookie, other, b);
	assert_string_not_equal(a, b);
	/* the two inputs do not commute */
	cid_session_form_token(csrf, f->cookie, b);
	assert_string_not_equal(a, b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_new_get_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_upgrade, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sessions_are_distinct, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_cookie_notfound, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed_cookie_notfound, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_expired_session, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_new_rejects_bad_input, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_add_client_idempotent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_end_then_get_notfound, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_end_sid_then_get_notfound, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_store_key_is_cookie_hash, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_disabled_citizen_has_no_sessions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_session_needs_an_active_record, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_form_token_binds_csrf_and_session, setup,
					    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
