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
/*
 * An upstream's login, made before the session: its time is the session's
 * auth_time (what max_age and the fresh-login rules read), while the session
 * starts, is used and expires from now. A login time after now, or none,
 * is refused.
 */
static void test_auth_time_of_an_earlier_login(void **state)
{
	struct fixture *f = *state;
	static const char *const fed[] = {"fed"};
	char cookie[CID_TOKEN_CHARS + 1];
	char up[CID_TOKEN_CHARS + 1];
	struct cid_session sess;
	struct cid_session read;

	assert_int_equal(cid_session_start_at(f->s, f->account, CID_ACR_PASSWORD, fed, 1,
					      NOW - 3600, NOW, TTL, NULL, cookie, &sess),
			 CID_OK);
	assert_int_equal(cid_session_get(f->s, cookie, NOW, &read), CID_OK);
	assert_int_equal(read.auth_time, NOW - 3600);
	assert_int_equal(read.created_at, NOW);
	assert_int_equal(read.expires_at, NOW + TTL);
	/* a later login through the upstream, itself 10 minutes old */
	assert_int_equal(cid_session_upgrade_at(f->s, cookie, CID_ACR_MFA, fed, 1, NOW + 60 - 600,
						NOW + 60, up, NULL),
			 CID_OK);
	assert_int_equal(cid_session_get(f->s, up, NOW + 60, &read), CID_OK);
	assert_int_equal(read.auth_time, NOW + 60 - 600);
	assert_int_equal(read.created_at, NOW);
	/* no login time, or one after now, is refused */
	assert_int_equal(cid_session_start_at(f->s, f->account, CID_ACR_PASSWORD, fed, 1, 0, NOW,
					      TTL, NULL, cookie, NULL),
			 CID_ERR_INVALID);
	assert_int_equal(cid_session_start_at(f->s, f->account, CID_ACR_PASSWORD, fed, 1, NOW + 1,
					      NOW, TTL, NULL, cookie, NULL),
			 CID_ERR_INVALID);
	assert_int_equal(
	    cid_session_upgrade_at(f->s, up, CID_ACR_MFA, fed, 1, 0, NOW + 60, cookie, NULL),
	    CID_ERR_INVALID);
	assert_int_equal(
	    cid_session_upgrade_at(f->s, up, CID_ACR_MFA, fed, 1, NOW + 61, NOW + 60, cookie, NULL),
	    CID_ERR_INVALID);
}

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

/* ---- the session index (session_index.c) ---- */

/* Adds the two keys a session record should have in the index to the object arg. */
static enum cid_err expect_keys(struct cid_str key, struct cid_str val, void *arg)
{
	json_t *rec = NULL;
	char want[256];
	int n;

	assert_int_equal(key.len, CID_HASH_HEX);
	assert_int_equal(cid_store_parse_json(val, &rec), CID_OK);
	n = snprintf(want, sizeof(want), "a\n%s\n%.*s", cid_json_str(rec, "account_id"),
		     (int)key.len, key.ptr);
	assert_true(n > 0 && (size_t)n < sizeof(want));
	assert_int_equal(json_object_set_new(arg, want, json_string("")), 0);
	n = snprintf(want, sizeof(want), "s\n%s", cid_json_str(rec, "sid"));
	assert_true(n > 0 && (size_t)n < sizeof(want));
	assert_null(json_object_get(arg, want)); /* one session per sid */
	assert_int_equal(json_object_set_new(arg, want, json_stringn(key.ptr, key.len)), 0);
	json_decref(rec);
	return CID_OK;
}

/*
 * The index holds exactly the two keys of each session, "a\n" account "\n"
 * key -> "" and "s\n" sid -> key, against a full scan of the sessions;
 * returns the number of sessions.
 */
static size_t assert_index_exact(struct cid_store *s)
{
	return cid_test_assert_index_exact(s, CID_DB_SESSIONS, CID_DB_SESSION_INDEX, expect_keys);
}

/* The stored record of the session of cookie, as text (caller frees). */
static char *stored_record(struct cid_store *s, const char *cookie)
{
	char hash[CID_HASH_HEX + 1];
	struct cid_txn *txn = NULL;
	struct cid_str val;
	char *text;

	cid_secret_hash(cookie, strlen(cookie), hash);
	assert_int_equal(cid_store_read_begin(s, &txn), CID_OK);
	assert_int_equal(cid_txn_get(txn, CID_DB_SESSIONS, cid_str_of(hash), &val), CID_OK);
	text = strndup(val.ptr, val.len);
	cid_store_read_end(txn);
	assert_non_null(text);
	return text;
}

/* Counts and forgets the sessions cid_session_end_account_txn hands it. */
static enum cid_err count_ended(const struct cid_session *sess, const json_t *clients, void *arg)
{
	size_t *told = arg;

	assert_true(json_is_array(clients));
	assert_int_equal(strlen(sess->sid), CID_TOKEN_CHARS);
	(*told)++;
	return CID_OK;
}

struct end_account {
	const char *account_id;
	size_t told;
	size_t ended;
};

static enum cid_err end_account_cb(struct cid_txn *txn, void *arg)
{
	struct end_account *e = arg;

	e->told = 0; /* a rerun (the map grew) starts over */
	return cid_session_end_account_txn(txn, e->account_id, NULL, count_ended, &e->told,
					   &e->ended);
}

/* Ends every session of account_id as a disable does; returns the error, *n how many. */
static enum cid_err end_account(struct cid_store *s, const char *account_id, size_t *n)
{
	struct end_account e = {account_id, 0, 0};
	enum cid_err rc = cid_store_update(s, end_account_cb, &e);

	if (rc == CID_OK)
		assert_int_equal(e.told, e.ended);
	*n = e.ended;
	return rc;
}

struct end_txn {
	const char *cookie;
	const char *sid;
	struct cid_session sess;
};

static enum cid_err end_txn_cb(struct cid_txn *txn, void *arg)
{
	struct end_txn *e = arg;
	json_t *clients = NULL;
	enum cid_err rc = cid_session_end_txn(txn, e->cookie, e->sid, &e->sess, &clients);

	json_decref(clients);
	return rc;
}

/* The number of sessions cid_session_list lists for account_id at NOW. */
static size_t listed(struct cid_store *s, const char *account_id)
{
	struct cid_session_entry *list = NULL;
	size_t n = 99;

	assert_int_equal(cid_session_list(s, account_id, NOW, &list, &n), CID_OK);
	cid_session_list_free(list, n);
	return n;
}

enum index_step {
	STEP_START,
	STEP_START_OTHER,
	STEP_ADD_CLIENT,
	STEP_UPGRADE,
	STEP_EXPIRED,
	STEP_END_COOKIE,
	STEP_END_SID,
	STEP_END_TXN_SID,
	STEP_END_TXN_COOKIE,
	STEP_END_ACCOUNT,
	STEP_END_AGAIN,
};

struct index_walk {
	char other[CID_ID_CHARS + 1];
	char second[CID_TOKEN_CHARS + 1]; /* hanako's second session */
	char taro[2][CID_TOKEN_CHARS + 1];
	struct cid_session taro_sess[2];
	char raised[CID_TOKEN_CHARS + 1];
};

/* Runs one step of the walk below; returns what its call returned. */
static enum cid_err index_step_run(struct fixture *f, struct index_walk *w, enum index_step step)
{
	static const char *const pwd[] = {"pwd"};
	static const char *const both[] = {"pwd", "otp"};
	struct end_txn e = {0};
	struct cid_session got;
	size_t n = 0;
	enum cid_err rc;

	switch (step) {
	case STEP_START:
		return cid_session_new(f->s, f->account, CID_ACR_PASSWORD, pwd, 1, NOW, TTL,
				       w->second, NULL);
	case STEP_START_OTHER:
		for (int i = 0; i < 2; i++)
			assert_int_equal(cid_session_start(f->s, w->other, CID_ACR_PASSWORD, pwd, 1,
							   NOW, TTL, NULL, w->taro[i],
							   &w->taro_sess[i]),
					 CID_OK);
		return CID_OK;
	case STEP_ADD_CLIENT: return cid_session_add_client_at(f->s, f->cookie, "rp1", NOW + 100);
	case STEP_UPGRADE:
		return cid_session_upgrade(f->s, w->second, CID_ACR_MFA, both, 2, NOW + 1,
					   w->raised, NULL);
	case STEP_EXPIRED:
		/* no sweep deletes sessions: an expired one stays, keys and all, until ended */
		return cid_session_get(f->s, w->raised, NOW + TTL, &got);
	case STEP_END_COOKIE: return cid_session_end(f->s, w->raised);
	case STEP_END_SID: return cid_session_end_sid(f->s, w->taro_sess[0].sid);
	case STEP_END_TXN_SID:
		rc = cid_session_start(f->s, w->other, CID_ACR_PASSWORD, pwd, 1, NOW, TTL, NULL,
				       w->taro[0], &w->taro_sess[0]);
		assert_int_equal(rc, CID_OK);
		e.sid = w->taro_sess[0].sid;
		return cid_store_update(f->s, end_txn_cb, &e);
	case STEP_END_TXN_COOKIE:
		e.cookie = w->taro[1];
		return cid_store_update(f->s, end_txn_cb, &e);
	case STEP_END_ACCOUNT:
		assert_int_equal(cid_session_start(f->s, f->account, CID_ACR_PASSWORD, pwd, 1, NOW,
						   TTL, NULL, w->second, NULL),
				 CID_OK);
		rc = end_account(f->s, f->account, &n);
		assert_int_equal(n, 2);
		return rc;
	case STEP_END_AGAIN: return cid_session_end_sid(f->s, w->taro_sess[0].sid);
	default: fail();
	}
	return CID_ERR_STORE;
}

/*
 * The index stays exact through every change a session goes through: started
 * (for two citizens), a service added, a step-up that moves it to a new
 * cookie, expiry (no sweep deletes sessions: the expired record and its keys
 * stay until the session is ended), ended by cookie, by sid, inside a logout's
 * transaction by sid and by cookie, and every session of a citizen ended as a
 * disable does. After each step the index is compared with a full scan.
 */
static void test_session_index_exact_through_every_session_change(void **state)
{
	static const struct {
		const char *what;
		enum index_step step;
		enum cid_err want;
		size_t sessions;
	} rows[] = {
	    {"a second session of the citizen", STEP_START, CID_OK, 2},
	    {"another citizen's two sessions", STEP_START_OTHER, CID_OK, 4},
	    {"a service signs the citizen in", STEP_ADD_CLIENT, CID_OK, 4},
	    {"a step-up: the session under a new cookie", STEP_UPGRADE, CID_OK, 4},
	    {"the session expires, its record is kept", STEP_EXPIRED, CID_ERR_EXPIRED, 4},
	    {"ended by its cookie", STEP_END_COOKIE, CID_OK, 3},
	    {"ended by its sid", STEP_END_SID, CID_OK, 2},
	    {"started, then ended by sid in a logout's transaction", STEP_END_TXN_SID, CID_OK, 2},
	    {"ended by cookie in a logout's transaction", STEP_END_TXN_COOKIE, CID_OK, 1},
	    {"every session of the citizen ended (a disable)", STEP_END_ACCOUNT, CID_OK, 0},
	    {"a sid ended twice", STEP_END_AGAIN, CID_ERR_NOTFOUND, 0},
	};
	struct fixture *f = *state;
	struct index_walk w = {0};

	assert_int_equal(cid_account_add(f->s, &cid_test_argon2, "taro", "correct horse battery",
					 NULL, NOW, w.other),
			 CID_OK);
	assert_int_equal(assert_index_exact(f->s), 1);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		print_message("%s\n", rows[i].what);
		assert_int_equal(index_step_run(f, &w, rows[i].step), rows[i].want);
		assert_int_equal(assert_index_exact(f->s), rows[i].sessions);
	}
}

#define DAMAGED "damaged: not a JSON object"

/*
 * Ending by sid or by citizen, and listing a citizen's sessions, read that
 * citizen's sessions and no other. A live session record of hanako planted
 * without index keys (as a scan would see it) is neither listed, nor ended
 * with hanako's, nor found by its sid; taro's records, damaged, are left
 * byte for byte. An index key that names a record of someone else is a
 * damaged store, not a session to end.
 */
static void test_session_end_reads_no_other_session(void **state)
{
	static const char *const pwd[] = {"pwd"};
	struct fixture *f = *state;
	char other[CID_ID_CHARS + 1];
	char second[CID_TOKEN_CHARS + 1];
	char taro[2][CID_TOKEN_CHARS + 1];
	char planted_cookie[CID_TOKEN_CHARS + 1];
	char planted_sid[CID_TOKEN_CHARS + 1];
	char hash[CID_HASH_HEX + 1];
	char taro_hash[CID_HASH_HEX + 1];
	char key[256];
	struct cid_session taro_sess;
	struct cid_session got;
	struct end_txn e = {0};
	char *text;
	json_t *rec;
	size_t n = 99;

	assert_int_equal(cid_account_add(f->s, &cid_test_argon2, "taro", "correct horse battery",
					 NULL, NOW, other),
			 CID_OK);
	assert_int_equal(
	    cid_session_new(f->s, f->account, CID_ACR_PASSWORD, pwd, 1, NOW, TTL, second, NULL),
	    CID_OK);
	for (int i = 0; i < 2; i++)
		assert_int_equal(cid_session_new(f->s, other, CID_ACR_PASSWORD, pwd, 1, NOW, TTL,
						 taro[i], &taro_sess),
				 CID_OK);
	/* a live session of hanako's with no index keys */
	text = stored_record(f->s, f->cookie);
	rec = json_loads(text, 0, NULL);
	free(text);
	assert_non_null(rec);
	assert_int_equal(cid_random_token(planted_cookie), CID_OK);
	assert_int_equal(cid_random_token(planted_sid), CID_OK);
	assert_int_equal(json_object_set_new(rec, "sid", json_string(planted_sid)), 0);
	text = json_dumps(rec, JSON_COMPACT);
	json_decref(rec);
	cid_secret_hash(planted_cookie, CID_TOKEN_CHARS, hash);
	cid_test_raw_write(f->s, CID_DB_SESSIONS, hash, text);
	free(text);
	assert_int_equal(cid_session_get(f->s, planted_cookie, NOW, &got), CID_OK);
	/* taro's first record damaged */
	cid_secret_hash(taro[0], CID_TOKEN_CHARS, taro_hash);
	cid_test_raw_write(f->s, CID_DB_SESSIONS, taro_hash, DAMAGED);

	assert_int_equal(listed(f->s, f->account), 2);
	assert_int_equal(cid_session_end_sid(f->s, planted_sid), CID_ERR_NOTFOUND);
	e.sid = planted_sid;
	assert_int_equal(cid_store_update(f->s, end_txn_cb, &e), CID_ERR_NOTFOUND);
	assert_int_equal(end_account(f->s, f->account, &n), CID_OK);
	assert_int_equal(n, 2);
	assert_int_equal(listed(f->s, f->account), 0);
	assert_int_equal(cid_session_get(f->s, planted_cookie, NOW, &got), CID_OK);
	assert_int_equal(cid_session_get(f->s, taro[1], NOW, &got), CID_OK);
	text = stored_record(f->s, taro[0]);
	assert_string_equal(text, DAMAGED);
	free(text);

	/* an index key of hanako's that names taro's session */
	cid_secret_hash(taro[1], CID_TOKEN_CHARS, taro_hash);
	assert_int_equal(snprintf(key, sizeof(key), "a\n%s\n%s", f->account, taro_hash) > 0, 1);
	cid_test_raw_write(f->s, CID_DB_SESSION_INDEX, key, "");
	assert_int_equal(end_account(f->s, f->account, &n), CID_ERR_STORE);
	assert_int_equal(cid_session_get(f->s, taro[1], NOW, &got), CID_OK);
	/* a sid key that names another session */
	assert_int_equal(snprintf(key, sizeof(key), "s\n%s", planted_sid) > 0, 1);
	cid_test_raw_write(f->s, CID_DB_SESSION_INDEX, key, taro_hash);
	assert_int_equal(cid_session_end_sid(f->s, planted_sid), CID_ERR_STORE);
	assert_int_equal(cid_store_update(f->s, end_txn_cb, &e), CID_ERR_STORE);
	assert_int_equal(cid_session_get(f->s, taro[1], NOW, &got), CID_OK);
}

/* The number of keys of the session index. */
/*
 * A store written before the index existed gets it at start, once; so does
 * one an older build started or ended a session in. A record that names no
 * citizen or sid a session can have is deleted by the build.
 */
static void test_session_index_built_for_a_store_without_one(void **state)
{
	static const char *const pwd[] = {"pwd"};
	struct fixture *f = *state;
	char other[CID_ID_CHARS + 1];
	char taro[CID_TOKEN_CHARS + 1];
	char second[CID_TOKEN_CHARS + 1];
	char hash[CID_HASH_HEX + 1];
	char key[256];
	struct cid_session taro_sess;
	struct cid_session got;
	struct cid_txn *txn = NULL;
	struct cid_str val;
	char *text;
	size_t built = 99;
	size_t n = 99;

	assert_int_equal(cid_account_add(f->s, &cid_test_argon2, "taro", "correct horse battery",
					 NULL, NOW, other),
			 CID_OK);
	assert_int_equal(
	    cid_session_new(f->s, other, CID_ACR_PASSWORD, pwd, 1, NOW, TTL, taro, &taro_sess),
	    CID_OK);
	assert_int_equal(
	    cid_session_new(f->s, f->account, CID_ACR_PASSWORD, pwd, 1, NOW, TTL, second, NULL),
	    CID_OK);
	/* the store as an older build left it: sessions, no index */
	cid_test_raw_write(f->s, CID_DB_SESSION_INDEX, NULL, NULL);
	assert_int_equal(cid_test_count(f->s, CID_DB_SESSION_INDEX), 0);
	/* ending by sid or by citizen would find nothing */
	assert_int_equal(cid_session_end_sid(f->s, taro_sess.sid), CID_ERR_NOTFOUND);
	assert_int_equal(listed(f->s, f->account), 0);
	/* the start builds it */
	assert_int_equal(cid_session_index_ensure(f->s, &built), CID_OK);
	assert_int_equal(built, 6);
	assert_int_equal(assert_index_exact(f->s), 3);
	assert_int_equal(cid_session_index_ensure(f->s, &built), CID_OK);
	assert_int_equal(built, 0); /* once */
	assert_int_equal(listed(f->s, f->account), 2);
	assert_int_equal(cid_session_end_sid(f->s, taro_sess.sid), CID_OK);
	assert_int_equal(cid_session_get(f->s, taro, NOW, &got), CID_ERR_NOTFOUND);
	/* an older build ended a session, leaving its keys */
	cid_secret_hash(second, CID_TOKEN_CHARS, hash);
	cid_test_raw_write(f->s, CID_DB_SESSIONS, hash, NULL);
	assert_int_equal(cid_test_count(f->s, CID_DB_SESSION_INDEX), 4);
	assert_int_equal(listed(f->s, f->account), 1); /* the dangling key is passed over */
	assert_int_equal(cid_session_index_ensure(f->s, &built), CID_OK);
	assert_int_equal(built, 2);
	assert_int_equal(assert_index_exact(f->s), 1);
	/* records that cannot be sessions: not JSON, no sid, under a key no cookie makes */
	assert_int_equal(snprintf(key, sizeof(key), "{\"account_id\":\"%s\"}", f->account) > 0, 1);
	memset(hash, 'b', CID_HASH_HEX);
	cid_test_raw_write(f->s, CID_DB_SESSIONS, hash, DAMAGED);
	memset(hash, 'c', CID_HASH_HEX);
	cid_test_raw_write(f->s, CID_DB_SESSIONS, hash, key);
	text = stored_record(f->s, f->cookie);
	cid_test_raw_write(f->s, CID_DB_SESSIONS, "short", text);
	free(text);
	assert_int_equal(cid_session_index_ensure(f->s, &built), CID_OK);
	assert_int_equal(built, 2);
	assert_int_equal(assert_index_exact(f->s), 1);
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_txn_count(txn, CID_DB_SESSIONS, &n), CID_OK);
	assert_int_equal(cid_txn_get(txn, CID_DB_SESSIONS, cid_str_of("short"), &val),
			 CID_ERR_NOTFOUND);
	cid_store_read_end(txn);
	assert_int_equal(n, 1);
	assert_int_equal(cid_session_get(f->s, f->cookie, NOW, &got), CID_OK);
}

/* Whether a sid names a live session (what a refresh token without offline_access needs). */
static enum cid_err sid_live(struct cid_store *s, const char *sid, int64_t now)
{
	struct cid_txn *txn = NULL;
	enum cid_err rc;

	assert_int_equal(cid_store_read_begin(s, &txn), CID_OK);
	rc = cid_session_sid_live_txn(txn, sid, now);
	cid_store_read_end(txn);
	return rc;
}

/*
 * A sid is live until its session expires or ends; a sid of no session, or
 * of no token's syntax, is not found; a damaged record (not JSON, or a
 * session's fields missing) vouches for nothing: CID_ERR_STORE.
 */
static void test_sid_live_table(void **state)
{
	struct fixture *f = *state;
	char hash[CID_HASH_HEX + 1];
	char other[CID_TOKEN_CHARS + 1];
	char bare[128];

	assert_int_equal(sid_live(f->s, f->sess.sid, NOW), CID_OK);
	assert_int_equal(sid_live(f->s, f->sess.sid, NOW + TTL - 1), CID_OK);
	assert_int_equal(sid_live(f->s, f->sess.sid, NOW + TTL), CID_ERR_EXPIRED);
	assert_int_equal(cid_random_token(other), CID_OK);
	assert_int_equal(sid_live(f->s, other, NOW), CID_ERR_NOTFOUND);
	assert_int_equal(sid_live(f->s, "not a sid", NOW), CID_ERR_NOTFOUND);
	assert_int_equal(sid_live(f->s, NULL, NOW), CID_ERR_NOTFOUND);
	cid_secret_hash(f->cookie, CID_TOKEN_CHARS, hash);
	assert_int_equal(snprintf(bare, sizeof(bare), "{\"sid\":\"%s\"}", f->sess.sid) > 0, 1);
	cid_test_raw_write(f->s, CID_DB_SESSIONS, hash, bare);
	assert_int_equal(sid_live(f->s, f->sess.sid, NOW), CID_ERR_STORE);
	cid_test_raw_write(f->s, CID_DB_SESSIONS, hash, DAMAGED);
	assert_int_equal(sid_live(f->s, f->sess.sid, NOW), CID_ERR_STORE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_new_get_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sid_live_table, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_upgrade, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_auth_time_of_an_earlier_login, setup, teardown),
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
	    cmocka_unit_test_setup_teardown(test_session_index_exact_through_every_session_change,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_session_end_reads_no_other_session, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_session_index_built_for_a_store_without_one, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_form_token_binds_csrf_and_session, setup,
					    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
