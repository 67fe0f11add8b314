/*
 * test_account_erase: a citizen deletes their own account from the security
 * page (account_erase.h), on a real context. The rule, one row per case: a
 * login older than CID_REAUTH_MAX_AGE is sent to sign in again whatever was
 * typed, a confirmation that is not exactly the username deletes nothing,
 * and only both right delete. Then the page's POST: a missing or foreign
 * csrf deletes nothing, a stale login is redirected to /account/login with
 * reauth, and a deletion clears the cookie, answers the deleted page, writes
 * one account.deleted entry whose actor is the citizen, and leaves the old
 * session and password worth nothing, and the other citizen untouched.
 */
#include "account.h"
#include "account_erase.h"
#include "account_security.h"
#include "audit.h"
#include "bounds.h"
#include "cid.h"
#include "client.h"
#include "session.h"
#include "str.h"
#include "support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define NOW	 1800000000
#define PASSWORD "correct horse battery"
#define CSRF	 "csrfcsrfcsrfcsrfcsrfcsrfcsrfcsrfcsrfcsrfcsA" /* 43 chars: a token */

struct citizen {
	char id[CID_ID_CHARS + 1];
	char cookie[CID_TOKEN_CHARS + 1];
	struct cid_session sess;
};

struct fixture {
	char dir[256];
	struct cid_config *cfg;
	struct cid_ctx *ctx;
	struct citizen hanako;
	struct citizen taro;
};

/* While set, a deletion fails inside its transaction (see __wrap_cid_account_remove_txn). */
static bool fail_delete;

/* Adds name with a session whose login was age seconds before NOW. */
static void add(struct fixture *f, const char *name, int64_t age, struct citizen *c)
{
	static const char *const amr[] = {"pwd"};
	json_t *claims = json_pack("{s:s}", "given_name", name);

	assert_int_equal(cid_account_add(cid_ctx_store(f->ctx), &f->cfg->argon2, name, PASSWORD,
					 claims, NOW - 3600, c->id),
			 CID_OK);
	json_decref(claims);
	assert_int_equal(cid_session_start(cid_ctx_store(f->ctx), c->id, CID_ACR_PASSWORD, amr, 1,
					   NOW - age, (int64_t)8 * 3600, NULL, c->cookie, &c->sess),
			 CID_OK);
}

/* A context with hanako, whose login was age seconds ago, and taro, just signed in. */
static struct fixture *open_fixture(int64_t age)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->cfg = cid_test_config(f->dir);
	cid_test_policies(f->cfg, f->dir, "svc.policy", cid_test_svc_policy);
	assert_int_equal(cid_ctx_open(f->cfg, NOW, NULL, &f->ctx), CID_OK);
	add(f, "hanako", age, &f->hanako);
	add(f, "taro", 0, &f->taro);
	return f;
}

static void close_fixture(struct fixture *f)
{
	cid_test_ctx_close(f->ctx, f->cfg, f->dir);
	free(f);
}

static int setup(void **state)
{
	fail_delete = false;
	*state = open_fixture(0);
	return 0;
}

static int teardown(void **state)
{
	fail_delete = false;
	close_fixture(*state);
	return 0;
}

static bool exists(struct fixture *f, const char *id)
{
	struct cid_account *a = NULL;
	enum cid_err rc = cid_account_get(cid_ctx_store(f->ctx), id, &a);

	cid_account_free(a);
	assert_true(rc == CID_OK || rc == CID_ERR_NOTFOUND);
	return rc == CID_OK;
}

/* One deletion asked for and what the rule must answer. */
static const struct {
	int64_t age; /* seconds since hanako's login */
	const char *confirm;
	enum cid_err rc;
	enum cid_security_notice notice;
} rule_cases[] = {
    {0, "hanako", CID_OK, CID_SECURITY_DELETED},
    {CID_REAUTH_MAX_AGE, "hanako", CID_OK, CID_SECURITY_DELETED},
    {CID_REAUTH_MAX_AGE + 1, "hanako", CID_ERR_REFUSED, CID_SECURITY_LOGIN_STALE},
    /* the login first: a stale one learns nothing of what it typed */
    {3600, "taro", CID_ERR_REFUSED, CID_SECURITY_LOGIN_STALE},
    {0, "taro", CID_ERR_REFUSED, CID_SECURITY_DELETE_CONFIRM_WRONG},
    {0, "Hanako", CID_ERR_REFUSED, CID_SECURITY_DELETE_CONFIRM_WRONG},
    {0, "hanako ", CID_ERR_REFUSED, CID_SECURITY_DELETE_CONFIRM_WRONG},
    {0, "", CID_ERR_REFUSED, CID_SECURITY_DELETE_CONFIRM_WRONG},
    {0, NULL, CID_ERR_REFUSED, CID_SECURITY_DELETE_CONFIRM_WRONG},
};

static void test_rule_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rule_cases) / sizeof(rule_cases[0]); i++) {
		struct fixture *f = open_fixture(rule_cases[i].age);
		enum cid_security_notice notice = CID_SECURITY_NONE;
		struct cid_account_deleted done = {0};
		enum cid_err rc;

		rc = cid_security_delete_account(f->ctx, &f->hanako.sess, rule_cases[i].confirm,
						 NULL, NOW, &notice, NULL, &done);
		if (rc != rule_cases[i].rc || notice != rule_cases[i].notice)
			fail_msg("row %zu: rc %d notice %d", i, (int)rc, (int)notice);
		/* deleted exactly when the rule said yes; taro never */
		assert_int_equal(exists(f, f->hanako.id), rc != CID_OK);
		assert_true(exists(f, f->taro.id));
		if (rc == CID_OK) {
			assert_string_equal(done.id, f->hanako.id);
			assert_int_equal(done.sessions, 1);
		}
		close_fixture(f);
	}
}

/*
 * A deletion that fails after the browser's logout, inside its transaction:
 * while fail_delete (above) is set, cid_account_remove_txn (linked through
 * -Wl,--wrap=cid_account_remove_txn) answers CID_ERR_STORE once the
 * sessions were ended, the grants deleted and the consents withdrawn in
 * the same transaction, as a store that fails midway would; all of it is
 * rolled back.
 */
// NOLINTBEGIN(bugprone-reserved-identifier): ld's --wrap needs these names
enum cid_err __real_cid_account_remove_txn(struct cid_txn *txn, const char *username,
					   char id_out[CID_ID_CHARS + 1]);
enum cid_err __wrap_cid_account_remove_txn(struct cid_txn *txn, const char *username,
					   char id_out[CID_ID_CHARS + 1]);

// NOLINTEND(bugprone-reserved-identifier)

enum cid_err __wrap_cid_account_remove_txn(struct cid_txn *txn, const char *username,
					   char id_out[CID_ID_CHARS + 1])
{
	if (fail_delete)
		return CID_ERR_STORE;
	return __real_cid_account_remove_txn(txn, username, id_out);
}

/* POSTs action=delete_account&confirm=.. as who, signed as sign says, to /account/security. */
static void post(struct fixture *f, const struct citizen *who, enum cid_test_sign sign,
		 const char *confirm, struct cid_reply *reply)
{
	struct cid_request req;
	char form[256];

	snprintf(form, sizeof(form), "action=delete_account&lang=en&confirm=%s", confirm);
	cid_test_signed_post(&req, who->cookie,
			     who == &f->hanako ? f->taro.cookie : f->hanako.cookie, CSRF, sign,
			     form, NOW);
	memset(reply, 0, sizeof(*reply));
	assert_int_equal(cid_security_post(f->ctx, &req, reply), CID_OK);
	cid_request_clear(&req);
}

static void test_a_form_not_signed_by_this_session_deletes_nothing(void **state)
{
	static const enum cid_test_sign bad[] = {CID_TEST_UNSIGNED, CID_TEST_OTHER_SESSION,
						 CID_TEST_NO_CSRF_COOKIE};
	struct fixture *f = *state;
	struct cid_reply r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		post(f, &f->hanako, bad[i], "hanako", &r);
		assert_int_equal(r.status, 403);
		assert_int_equal(r.page, CID_PAGE_ERROR);
		cid_reply_free(&r);
		assert_true(exists(f, f->hanako.id));
	}
}

static void test_a_stale_login_is_sent_to_sign_in_again(void **state)
{
	struct fixture *f = open_fixture(CID_REAUTH_MAX_AGE + 60);
	struct cid_reply r;

	(void)state;
	post(f, &f->hanako, CID_TEST_SIGNED, "hanako", &r);
	assert_int_equal(r.status, 303);
	assert_string_equal(r.location, "/account/login?reauth=1&lang=en");
	assert_int_equal(r.n_cookies, 0);
	cid_reply_free(&r);
	assert_true(exists(f, f->hanako.id));
	close_fixture(f);
}

static void test_a_wrong_confirmation_says_so_and_deletes_nothing(void **state)
{
	struct fixture *f = *state;
	struct cid_reply r;

	post(f, &f->hanako, CID_TEST_SIGNED, "taro", &r);
	assert_int_equal(r.status, 303);
	assert_string_equal(r.location, "/account/security?notice=delete_confirm_wrong&lang=en");
	cid_reply_free(&r);
	assert_true(exists(f, f->hanako.id));
	assert_true(exists(f, f->taro.id));
}

/* Collects the account.deleted entries the query finds. */
static enum cid_err collect(uint64_t seq, struct cid_str entry, void *arg)
{
	json_t *e = json_loadb(entry.ptr, entry.len, 0, NULL);

	(void)seq;
	assert_non_null(e);
	assert_int_equal(json_array_append_new(arg, e), 0);
	return CID_OK;
}

/*
 * The deleted page loads the front-channel logout frames of the services
 * this browser's session signed the citizen in to, as a logout's page does.
 */
static void test_the_deleted_page_loads_the_front_channel_frames(void **state)
{
	struct fixture *f = *state;
	const char *const uris[] = {"https://front.example/cb"};
	const struct cid_client_spec spec = {
	    .client_id = "front",
	    .name = "Front",
	    .redirect_uris = uris,
	    .n_redirect_uris = 1,
	    .frontchannel_logout_uri = "https://front.example/logout",
	    .frontchannel_logout_session_required = true,
	};
	char *id = NULL;
	char *secret = NULL;
	struct cid_reply r;
	const json_t *frames;
	const char *url;

	assert_int_equal(cid_client_add(cid_ctx_store(f->ctx), &spec, NOW, &id, &secret), CID_OK);
	free(id);
	free(secret);
	assert_int_equal(cid_session_add_client(cid_ctx_store(f->ctx), f->hanako.cookie, "front"),
			 CID_OK);
	post(f, &f->hanako, CID_TEST_SIGNED, "hanako", &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.page, CID_PAGE_LOGGED_OUT);
	frames = json_object_get(r.page_data, "frames");
	assert_int_equal(json_array_size(frames), 1);
	url = cid_json_str(json_array_get(frames, 0), "url");
	assert_non_null(url);
	assert_true(strncmp(url, "https://front.example/logout?", 29) == 0);
	/* the session's sid, which the service asked for */
	assert_non_null(strstr(url, f->hanako.sess.sid));
	assert_non_null(r.frame_src);
	assert_string_equal(r.frame_src, "https://front.example");
	cid_reply_free(&r);
	assert_false(exists(f, f->hanako.id));
}

static void test_a_deletion_signs_out_and_logs_the_citizen_as_who_asked(void **state)
{
	struct fixture *f = *state;
	struct cid_audit_filter deleted = {.type = "account.deleted"};
	struct cid_reply r;
	struct cid_session s;
	struct cid_txn *txn = NULL;
	json_t *entries = json_array();
	const json_t *e;
	char id[CID_ID_CHARS + 1];
	int64_t wait = 0;

	post(f, &f->hanako, CID_TEST_SIGNED, "hanako", &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.page, CID_PAGE_LOGGED_OUT);
	assert_true(json_is_true(json_object_get(r.page_data, "deleted")));
	/* the session cookie is cleared */
	assert_int_equal(r.n_cookies, 1);
	assert_true(strncmp(r.cookies[0], "civicid_session=;", 17) == 0);
	assert_non_null(strstr(r.cookies[0], "Max-Age=0"));
	cid_reply_free(&r);

	/* one entry, by the citizen on their account page, naming her */
	assert_int_equal(cid_store_read_begin(cid_ctx_store(f->ctx), &txn), CID_OK);
	assert_int_equal(cid_audit_query(txn, &deleted, collect, entries), CID_OK);
	cid_store_read_end(txn);
	assert_int_equal(json_array_size(entries), 1);
	e = json_array_get(entries, 0);
	assert_string_equal(cid_json_str(e, "actor"), "citizen");
	assert_string_equal(cid_json_str(e, "endpoint"), "account");
	cid_test_assert_citizen(cid_ctx_store(f->ctx), e, f->hanako.id);
	json_decref(entries);

	/* the old session and the password are worth nothing; taro is untouched */
	assert_false(exists(f, f->hanako.id));
	assert_int_equal(cid_session_get(cid_ctx_store(f->ctx), f->hanako.cookie, NOW + 1, &s),
			 CID_ERR_NOTFOUND);
	assert_int_equal(cid_account_authenticate(cid_ctx_store(f->ctx), &f->cfg->argon2, "hanako",
						  PASSWORD, NULL, NOW + 1, id, &wait),
			 CID_ERR_DENIED);
	assert_int_equal(cid_session_get(cid_ctx_store(f->ctx), f->taro.cookie, NOW + 1, &s),
			 CID_OK);
	/* the same form again: no session, the signed-out page */
	post(f, &f->hanako, CID_TEST_SIGNED, "hanako", &r);
	assert_int_equal(r.status, 401);
	cid_reply_free(&r);
}

static void test_the_page_shows_what_to_type_and_whether_to_sign_in_again(void **state)
{
	static const int64_t ages[] = {0, CID_REAUTH_MAX_AGE + 1};

	(void)state;
	for (size_t i = 0; i < sizeof(ages) / sizeof(ages[0]); i++) {
		struct fixture *f = open_fixture(ages[i]);
		struct cid_request req = {.session_cookie = f->hanako.cookie,
					  .csrf_cookie = CSRF,
					  .now = NOW,
					  .remote_addr = "127.0.0.1"};
		struct cid_reply r = {0};

		assert_int_equal(cid_security_page(f->ctx, &req, &r), CID_OK);
		assert_int_equal(r.status, 200);
		assert_string_equal(cid_json_str(r.page_data, "username"), "hanako");
		assert_int_equal(json_is_true(json_object_get(r.page_data, "login_fresh")),
				 ages[i] <= CID_REAUTH_MAX_AGE);
		cid_reply_free(&r);
		close_fixture(f);
	}
}

/* Enrols a second factor for username and starts for who a session at acr with amr at NOW - age. */
static void totp_session(struct fixture *f, const char *username, struct citizen *who,
			 const char *acr, const char *const *amr, size_t n_amr, int64_t age)
{
	enum cid_err rc =
	    cid_account_totp_enrol(cid_ctx_store(f->ctx), username, false, NOW - 3600, NULL, NULL);

	assert_true(rc == CID_OK || rc == CID_ERR_EXISTS);
	assert_int_equal(cid_session_start(cid_ctx_store(f->ctx), who->id, acr, amr, n_amr,
					   NOW - age, (int64_t)8 * 3600, NULL, who->cookie,
					   &who->sess),
			 CID_OK);
}

/* One login of a citizen and whether it may delete (cid_erase_login_strong). */
static const struct {
	bool has_totp;
	const char *acr;
	const char *amr[2];
	size_t n_amr;
	int64_t age;
	bool strong;
} strong_cases[] = {
    /* no second factor: the fresh login alone, as before */
    {false, CID_ACR_PASSWORD, {"pwd"}, 1, 0, true},
    {false, CID_ACR_PASSWORD, {"pwd"}, 1, CID_REAUTH_MAX_AGE + 1, false},
    /* a second factor: a fresh password alone (a phished one) is not enough */
    {true, CID_ACR_PASSWORD, {"pwd"}, 1, 0, false},
    {true, CID_ACR_PASSWORD, {"fed"}, 1, 0, false},
    {true, CID_ACR_MFA, {"pwd", "otp"}, 2, 0, true},
    {true, CID_ACR_MFA, {"pwd", "otp"}, 2, CID_REAUTH_MAX_AGE, true},
    {true, CID_ACR_MFA, {"pwd", "otp"}, 2, CID_REAUTH_MAX_AGE + 1, false},
    {true, CID_ACR_PASSWORD, {"pwd", "otp"}, 2, 0, false}, /* the level is the acr's */
    {true, CID_ACR_HIGH, {"fed"}, 1, 0, true},
};

/* Hanako's session of row i of strong_cases, with a second factor enrolled where the row has one.
 */
static void strong_case_session(struct fixture *f, size_t i)
{
	if (strong_cases[i].has_totp) {
		totp_session(f, "hanako", &f->hanako, strong_cases[i].acr, strong_cases[i].amr,
			     strong_cases[i].n_amr, strong_cases[i].age);
		return;
	}
	assert_int_equal(cid_session_start(cid_ctx_store(f->ctx), f->hanako.id, strong_cases[i].acr,
					   strong_cases[i].amr, strong_cases[i].n_amr,
					   NOW - strong_cases[i].age, (int64_t)8 * 3600, NULL,
					   f->hanako.cookie, &f->hanako.sess),
			 CID_OK);
}

static void test_a_citizen_with_a_code_deletes_only_after_a_fresh_mfa_login(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(strong_cases) / sizeof(strong_cases[0]); i++) {
		struct fixture *f = open_fixture(0);
		enum cid_security_notice notice = CID_SECURITY_NONE;
		struct cid_reply r;
		enum cid_err rc;

		strong_case_session(f, i);
		if (cid_erase_login_strong(&f->hanako.sess, strong_cases[i].has_totp, NOW) !=
		    strong_cases[i].strong)
			fail_msg("row %zu: the rule", i);
		/* the deletion follows the rule, a typed username or not */
		rc = cid_security_delete_account(f->ctx, &f->hanako.sess, "hanako", NULL, NOW,
						 &notice, NULL, NULL);
		if (rc != (strong_cases[i].strong ? CID_OK : CID_ERR_REFUSED) ||
		    notice !=
			(strong_cases[i].strong ? CID_SECURITY_DELETED : CID_SECURITY_LOGIN_STALE))
			fail_msg("row %zu: rc %d notice %d", i, (int)rc, (int)notice);
		assert_int_equal(exists(f, f->hanako.id), !strong_cases[i].strong);
		/* the page's form: a weak login is sent to sign in again */
		if (!strong_cases[i].strong) {
			post(f, &f->hanako, CID_TEST_SIGNED, "hanako", &r);
			assert_int_equal(r.status, 303);
			assert_string_equal(r.location, "/account/login?reauth=1&lang=en");
			cid_reply_free(&r);
			assert_true(exists(f, f->hanako.id));
		}
		close_fixture(f);
	}
}

/*
 * The page follows the rule for every login of strong_cases: the delete form
 * only where the rule lets the login delete; a citizen with a code whose
 * login is not strong enough (a fresh password login among them) is told the
 * new login asks the code, one without a code only to sign in again. What the
 * page shows of the second factor is of the same record.
 */
static void test_the_page_says_a_citizen_with_a_code_signs_in_with_it(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(strong_cases) / sizeof(strong_cases[0]); i++) {
		struct fixture *f = open_fixture(0);
		struct cid_request req = {.session_cookie = f->hanako.cookie,
					  .csrf_cookie = CSRF,
					  .now = NOW,
					  .remote_addr = "127.0.0.1"};
		struct cid_reply r = {0};
		bool has_totp = strong_cases[i].has_totp;
		bool strong = strong_cases[i].strong;

		strong_case_session(f, i);
		assert_int_equal(cid_security_page(f->ctx, &req, &r), CID_OK);
		assert_int_equal(r.status, 200);
		assert_string_equal(cid_json_str(r.page_data, "username"), "hanako");
		if (json_is_true(json_object_get(r.page_data, "login_fresh")) != strong ||
		    json_is_true(json_object_get(r.page_data, "login_needs_code")) !=
			(has_totp && !strong) ||
		    json_is_true(json_object_get(r.page_data, "totp_enrolled")) != has_totp ||
		    json_is_true(json_object_get(r.page_data, "totp_none")) == has_totp)
			fail_msg("row %zu: the page does not follow the rule", i);
		cid_reply_free(&r);
		close_fixture(f);
	}
}

/*
 * The deletion fails after this browser's session ended (the logout comes
 * first, for the front-channel frames): the store's error is the answer,
 * not the deleted page; the citizen is signed out but nothing of hers is
 * gone and no deletion is logged; signed in again, she deletes.
 */
static void test_a_deletion_that_fails_after_the_logout_deletes_nothing(void **state)
{
	static const char *const amr[] = {"pwd"};
	struct fixture *f = *state;
	struct cid_audit_filter deleted = {.type = "account.deleted"};
	struct cid_request req;
	struct cid_reply r = {0};
	struct cid_session s;
	struct cid_txn *txn = NULL;
	json_t *entries = json_array();
	char id[CID_ID_CHARS + 1];
	int64_t wait = 0;

	cid_test_signed_post(&req, f->hanako.cookie, f->taro.cookie, CSRF, CID_TEST_SIGNED,
			     "action=delete_account&lang=en&confirm=hanako", NOW);
	fail_delete = true;
	assert_int_equal(cid_security_post(f->ctx, &req, &r), CID_ERR_STORE);
	fail_delete = false;
	cid_request_clear(&req);
	assert_int_not_equal(r.page, CID_PAGE_LOGGED_OUT);
	cid_reply_free(&r);
	assert_int_equal(cid_session_get(cid_ctx_store(f->ctx), f->hanako.cookie, NOW, &s),
			 CID_ERR_NOTFOUND);
	assert_true(exists(f, f->hanako.id));
	assert_int_equal(cid_account_authenticate(cid_ctx_store(f->ctx), &f->cfg->argon2, "hanako",
						  PASSWORD, NULL, NOW, id, &wait),
			 CID_OK);
	assert_string_equal(id, f->hanako.id);
	assert_int_equal(cid_store_read_begin(cid_ctx_store(f->ctx), &txn), CID_OK);
	assert_int_equal(cid_audit_query(txn, &deleted, collect, entries), CID_OK);
	cid_store_read_end(txn);
	assert_int_equal(json_array_size(entries), 0);
	json_decref(entries);
	/* signed in again, the deletion goes through */
	assert_int_equal(cid_session_start(cid_ctx_store(f->ctx), id, CID_ACR_PASSWORD, amr, 1, NOW,
					   (int64_t)8 * 3600, NULL, f->hanako.cookie,
					   &f->hanako.sess),
			 CID_OK);
	post(f, &f->hanako, CID_TEST_SIGNED, "hanako", &r);
	assert_int_equal(r.page, CID_PAGE_LOGGED_OUT);
	cid_reply_free(&r);
	assert_false(exists(f, id));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rule_table),
	    cmocka_unit_test_setup_teardown(test_a_form_not_signed_by_this_session_deletes_nothing,
					    setup, teardown),
	    cmocka_unit_test(test_a_stale_login_is_sent_to_sign_in_again),
	    cmocka_unit_test(test_a_citizen_with_a_code_deletes_only_after_a_fresh_mfa_login),
	    cmocka_unit_test(test_the_page_says_a_citizen_with_a_code_signs_in_with_it),
	    cmocka_unit_test_setup_teardown(test_a_wrong_confirmation_says_so_and_deletes_nothing,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_a_deletion_signs_out_and_logs_the_citizen_as_who_asked, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_the_deleted_page_loads_the_front_channel_frames,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_a_deletion_that_fails_after_the_logout_deletes_nothing, setup, teardown),
	    cmocka_unit_test(test_the_page_shows_what_to_type_and_whether_to_sign_in_again),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
