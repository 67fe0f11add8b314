/*
 * test_account_security: the rules behind each action of the citizen's
 * security page (account_security.h) and the identity functions they stand
 * on: listing and ending sessions (only the citizen's own, through single
 * logout), changing the password and its refusals, enrolling TOTP (pending
 * until a right code) and removing it with a fresh code, the recent logins
 * (bounded, newest first), and the coarse browser label and QR code data.
 */
#include "account.h"
#include "account_security.h"
#include "cid.h"
#include "logins.h"
#include "logout.h"
#include "qr.h"
#include "session.h"
#include "support.h"
#include "totp.h"
#include "useragent.h"

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
#define FIREFOX	 "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"

struct fixture {
	char dir[256];
	struct cid_config *cfg;
	struct cid_ctx *ctx;
	char hanako[CID_ID_CHARS + 1];
	char taro[CID_ID_CHARS + 1];
	char cookie[3][CID_TOKEN_CHARS + 1]; /* hanako's sessions */
	struct cid_session sess[3];
	char taro_cookie[CID_TOKEN_CHARS + 1];
	struct cid_session taro_sess;
};

static void add(struct fixture *f, const char *name, char id[CID_ID_CHARS + 1])
{
	json_t *claims = json_object();

	assert_int_equal(cid_account_add(cid_ctx_store(f->ctx), &f->cfg->argon2, name, PASSWORD,
					 claims, NOW - 100, id),
			 CID_OK);
	json_decref(claims);
}

static int setup(void **state)
{
	static const char *const amr[] = {"pwd"};
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->cfg = cid_test_config(f->dir);
	cid_test_policies(f->cfg, f->dir, "svc.policy",
			  "service svc\nname.ja 子育て支援\nname.en Childcare support\npurpose "
			  "fees\n\ttext.ja 保育料のため\n"
			  "\ttext.en To calculate your fee\n\tbasis consent\n\tretention 1y\n"
			  "\tconsent_valid 1y\n\tpermit email\n");
	assert_int_equal(cid_ctx_open(f->cfg, NOW, stderr, &f->ctx), CID_OK);
	cid_test_add_svc_client(f->ctx, NOW);
	add(f, "hanako", f->hanako);
	add(f, "taro", f->taro);
	for (int i = 0; i < 3; i++)
		assert_int_equal(cid_session_start(cid_ctx_store(f->ctx), f->hanako,
						   CID_ACR_PASSWORD, amr, 1, NOW + i, 3600,
						   i == 0 ? FIREFOX : NULL, f->cookie[i],
						   &f->sess[i]),
				 CID_OK);
	assert_int_equal(cid_session_start(cid_ctx_store(f->ctx), f->taro, CID_ACR_PASSWORD, amr, 1,
					   NOW, 3600, NULL, f->taro_cookie, &f->taro_sess),
			 CID_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	cid_test_ctx_close(f->ctx, f->cfg, f->dir);
	free(f);
	return 0;
}

static size_t count_sessions(struct fixture *f, const char *account)
{
	struct cid_session_entry *list = NULL;
	size_t n = 0;

	assert_int_equal(cid_session_list(cid_ctx_store(f->ctx), account, NOW + 10, &list, &n),
			 CID_OK);
	cid_session_list_free(list, n);
	return n;
}

static void test_sessions_listed_newest_use_first_with_services_and_browser(void **state)
{
	struct fixture *f = *state;
	struct cid_session_entry *list = NULL;
	size_t n = 0;

	/* a sign-in at svc through the first session makes it the most recently used */
	assert_int_equal(
	    cid_session_add_client_at(cid_ctx_store(f->ctx), f->cookie[0], "svc", NOW + 500),
	    CID_OK);
	assert_int_equal(cid_session_list(cid_ctx_store(f->ctx), f->hanako, NOW + 600, &list, &n),
			 CID_OK);
	assert_int_equal(n, 3);
	assert_string_equal(list[0].sess.sid, f->sess[0].sid);
	assert_int_equal(list[0].sess.created_at, NOW);
	assert_int_equal(list[0].sess.last_used, NOW + 500);
	assert_string_equal(list[0].sess.device, "Firefox / Linux");
	assert_int_equal(json_array_size(list[0].clients), 1);
	assert_string_equal(json_string_value(json_array_get(list[0].clients, 0)), "svc");
	assert_string_equal(list[1].sess.sid, f->sess[2].sid);
	assert_string_equal(list[2].sess.sid, f->sess[1].sid);
	assert_string_equal(list[2].sess.device, "");
	cid_session_list_free(list, n);
	/* expired ones are not listed */
	assert_int_equal(cid_session_list(cid_ctx_store(f->ctx), f->hanako, NOW + 3700, &list, &n),
			 CID_OK);
	assert_int_equal(n, 0);
	assert_null(list);
	assert_int_equal(cid_session_list(cid_ctx_store(f->ctx), NULL, NOW, &list, &n),
			 CID_ERR_INVALID);
}

static void test_end_one_session_only_of_ones_own(void **state)
{
	struct fixture *f = *state;
	struct cid_logout_done done = {0};
	struct cid_session s;

	/* taro's session is no session of hanako's: untouched */
	assert_int_equal(cid_security_end_session(f->ctx, f->hanako, f->taro_sess.sid, NOW, NULL),
			 CID_ERR_NOTFOUND);
	assert_int_equal(cid_session_get(cid_ctx_store(f->ctx), f->taro_cookie, NOW, &s), CID_OK);
	assert_int_equal(cid_security_end_session(f->ctx, f->hanako, "not-a-sid", NOW, NULL),
			 CID_ERR_NOTFOUND);
	assert_int_equal(cid_security_end_session(f->ctx, f->hanako, f->sess[1].sid, NOW, &done),
			 CID_OK);
	assert_true(done.ended.alive);
	assert_string_equal(done.ended.sid, f->sess[1].sid);
	cid_logout_done_clear(&done);
	assert_int_equal(cid_session_get(cid_ctx_store(f->ctx), f->cookie[1], NOW, &s),
			 CID_ERR_NOTFOUND);
	assert_int_equal(cid_session_get(cid_ctx_store(f->ctx), f->cookie[0], NOW, &s), CID_OK);
	assert_int_equal(count_sessions(f, f->hanako), 2);
	/* twice: it has ended */
	assert_int_equal(cid_security_end_session(f->ctx, f->hanako, f->sess[1].sid, NOW, NULL),
			 CID_ERR_NOTFOUND);
}

static void test_end_others_keeps_this_one_and_all_ends_all(void **state)
{
	struct fixture *f = *state;
	size_t ended = 0;

	assert_int_equal(cid_security_end_others(f->ctx, f->hanako, f->sess[0].sid, NOW, &ended),
			 CID_OK);
	assert_int_equal(ended, 2);
	assert_int_equal(count_sessions(f, f->hanako), 1);
	assert_int_equal(count_sessions(f, f->taro), 1);
	assert_int_equal(cid_security_end_others(f->ctx, f->hanako, NULL, NOW, &ended), CID_OK);
	assert_int_equal(ended, 1);
	assert_int_equal(count_sessions(f, f->hanako), 0);
	assert_int_equal(count_sessions(f, f->taro), 1);
}

/*
 * More sessions than the page lists (a thief signed in 40 times): "sign out
 * everywhere" ends every one of them, not the most recent CID_SESSION_LIST_MAX.
 */
static void test_end_others_ends_more_than_the_page_lists(void **state)
{
	struct fixture *f = *state;
	static const char *const amr[] = {"pwd"};
	struct cid_store *s = cid_ctx_store(f->ctx);
	char cookie[CID_TOKEN_CHARS + 1];
	struct cid_session kept;
	size_t ended = 0;

	for (int i = 0; i < 40; i++)
		assert_int_equal(cid_session_start(s, f->hanako, CID_ACR_PASSWORD, amr, 1, NOW - i,
						   3600, NULL, cookie, NULL),
				 CID_OK);
	assert_int_equal(cid_security_end_others(f->ctx, f->hanako, f->sess[0].sid, NOW, &ended),
			 CID_OK);
	assert_int_equal(ended, 40 + 2);
	/* hanako's one kept, and taro's */
	assert_int_equal(cid_test_count(s, CID_DB_SESSIONS), 2);
	assert_int_equal(cid_session_get(s, f->cookie[0], NOW, &kept), CID_OK);
	assert_int_equal(cid_session_get(s, cookie, NOW, &kept), CID_ERR_NOTFOUND);
}

/* Enrolling a second factor takes a login of the last minutes, as deleting does. */
static void test_totp_enrolment_needs_a_fresh_login(void **state)
{
	struct fixture *f = *state;
	struct cid_store *s = cid_ctx_store(f->ctx);
	const int64_t stale = f->sess[0].auth_time + CID_REAUTH_MAX_AGE + 1;
	enum cid_security_notice notice = CID_SECURITY_NONE;

	assert_int_equal(cid_security_totp_begin(s, &f->sess[0], stale, &notice), CID_ERR_REFUSED);
	assert_int_equal(notice, CID_SECURITY_LOGIN_STALE);
	assert_int_equal(cid_security_totp_confirm(s, &f->sess[0], "123456", stale, &notice),
			 CID_ERR_REFUSED);
	assert_int_equal(notice, CID_SECURITY_LOGIN_STALE);
	/* nothing was begun: a fresh confirmation finds no pending secret */
	assert_int_equal(cid_security_totp_confirm(s, &f->sess[0], "123456", NOW, &notice),
			 CID_ERR_REFUSED);
	assert_int_equal(notice, CID_SECURITY_TOTP_EXPIRED);
	assert_int_equal(cid_security_totp_begin(s, &f->sess[0], NOW, &notice), CID_OK);
	assert_int_equal(notice, CID_SECURITY_TOTP_PENDING);
	assert_int_equal(cid_security_totp_confirm(s, &f->sess[0], "not-a-code", NOW, &notice),
			 CID_ERR_REFUSED);
	assert_int_equal(notice, CID_SECURITY_CODE_WRONG);
}

/* One password change and what it must answer. */
static const struct {
	const char *old, *new_password, *confirm;
	enum cid_err rc;
	enum cid_security_notice notice;
} password_cases[] = {
    {"wrong password!", "a new good one", "a new good one", CID_ERR_REFUSED,
     CID_SECURITY_PASSWORD_WRONG},
    {NULL, "a new good one", "a new good one", CID_ERR_REFUSED, CID_SECURITY_PASSWORD_WRONG},
    {PASSWORD, "short", "short", CID_ERR_REFUSED, CID_SECURITY_PASSWORD_WEAK},
    {PASSWORD, "a new good one", "a new good on", CID_ERR_REFUSED, CID_SECURITY_PASSWORD_MISMATCH},
    {PASSWORD, "a new good one", NULL, CID_ERR_REFUSED, CID_SECURITY_PASSWORD_MISMATCH},
    {PASSWORD, "a new good one", "a new good one", CID_OK, CID_SECURITY_PASSWORD_CHANGED},
};

static void test_change_password_table(void **state)
{
	struct fixture *f = *state;
	char id[CID_ID_CHARS + 1];
	int64_t wait = 0;

	for (size_t i = 0; i < sizeof(password_cases) / sizeof(password_cases[0]); i++) {
		struct cid_password_change ch = {
		    .account_id = f->hanako,
		    .old_password = password_cases[i].old,
		    .new_password = password_cases[i].new_password,
		    .confirm = password_cases[i].confirm,
		    .addr = "192.0.2.1",
		    .keep_sid = f->sess[0].sid,
		    .now = NOW,
		};
		enum cid_security_notice notice = CID_SECURITY_NONE;

		assert_int_equal(cid_security_change_password(f->ctx, &ch, &notice, NULL),
				 password_cases[i].rc);
		assert_int_equal(notice, password_cases[i].notice);
		/* a refusal leaves every session and the old password as they were */
		if (password_cases[i].rc != CID_OK)
			assert_int_equal(count_sessions(f, f->hanako), 3);
	}
	/* the new password logs in, the old one does not; only this session is left */
	assert_int_equal(cid_account_authenticate(cid_ctx_store(f->ctx), &f->cfg->argon2, "hanako",
						  "a new good one", NULL, NOW, id, &wait),
			 CID_OK);
	assert_int_equal(cid_account_authenticate(cid_ctx_store(f->ctx), &f->cfg->argon2, "hanako",
						  PASSWORD, NULL, NOW, id, &wait),
			 CID_ERR_DENIED);
	assert_int_equal(count_sessions(f, f->hanako), 1);
	assert_int_equal(count_sessions(f, f->taro), 1);
}

/*
 * A citizen with a second factor changes the password only after a fresh
 * login at the mfa level: the old password alone (a phished one) would
 * otherwise sign the owner out everywhere. One without is unchanged.
 */
static void test_a_citizen_with_a_code_changes_the_password_after_a_fresh_mfa_login(void **state)
{
	static const char *const otp[] = {"pwd", "otp"};
	struct fixture *f = *state;
	struct cid_session mfa;
	char cookie[CID_TOKEN_CHARS + 1];
	struct cid_password_change ch = {
	    .account_id = f->hanako,
	    .old_password = PASSWORD,
	    .new_password = "a new good one",
	    .confirm = "a new good one",
	    .addr = "192.0.2.1",
	    .keep_sid = f->sess[0].sid,
	    .sess = &f->sess[0],
	    .now = NOW,
	};
	enum cid_security_notice notice = CID_SECURITY_NONE;
	struct cid_request req;
	struct cid_reply r = {0};

	assert_int_equal(
	    cid_account_totp_enrol(cid_ctx_store(f->ctx), "hanako", false, NOW, NULL, NULL),
	    CID_OK);
	/* a fresh password login, or none: refused, nothing changed, nobody signed out */
	assert_int_equal(cid_security_change_password(f->ctx, &ch, &notice, NULL), CID_ERR_REFUSED);
	assert_int_equal(notice, CID_SECURITY_LOGIN_STALE);
	ch.sess = NULL;
	assert_int_equal(cid_security_change_password(f->ctx, &ch, &notice, NULL), CID_ERR_REFUSED);
	assert_int_equal(notice, CID_SECURITY_LOGIN_STALE);
	assert_int_equal(count_sessions(f, f->hanako), 3);
	/* the page's form sends her to sign in again (with the code) */
	cid_test_signed_post(&req, f->cookie[0], f->taro_cookie,
			     "csrfcsrfcsrfcsrfcsrfcsrfcsrfcsrfcsrfcsrfcsA", CID_TEST_SIGNED,
			     "action=password&lang=en&old=correct+horse+battery&new=a+new+good+one"
			     "&confirm=a+new+good+one",
			     NOW);
	assert_int_equal(cid_security_post(f->ctx, &req, &r), CID_OK);
	cid_request_clear(&req);
	assert_int_equal(r.status, 303);
	assert_string_equal(r.location, "/account/login?reauth=1&lang=en");
	cid_reply_free(&r);
	assert_int_equal(count_sessions(f, f->hanako), 3);
	/* an mfa login, stale: refused; fresh: changed */
	assert_int_equal(cid_session_start(cid_ctx_store(f->ctx), f->hanako, CID_ACR_MFA, otp, 2,
					   NOW, 3600, NULL, cookie, &mfa),
			 CID_OK);
	ch.sess = &mfa;
	ch.keep_sid = mfa.sid;
	ch.now = NOW + CID_REAUTH_MAX_AGE + 1;
	assert_int_equal(cid_security_change_password(f->ctx, &ch, &notice, NULL), CID_ERR_REFUSED);
	assert_int_equal(notice, CID_SECURITY_LOGIN_STALE);
	ch.now = NOW + CID_REAUTH_MAX_AGE;
	assert_int_equal(cid_security_change_password(f->ctx, &ch, &notice, NULL), CID_OK);
	assert_int_equal(notice, CID_SECURITY_PASSWORD_CHANGED);
	/* taro has no code: a password session of his changes his, however old */
	ch.account_id = f->taro;
	ch.sess = &f->taro_sess;
	ch.keep_sid = f->taro_sess.sid;
	ch.now = NOW + 600;
	assert_int_equal(cid_security_change_password(f->ctx, &ch, &notice, NULL), CID_OK);
	assert_int_equal(notice, CID_SECURITY_PASSWORD_CHANGED);
}

static void test_wrong_old_password_is_throttled(void **state)
{
	struct fixture *f = *state;
	struct cid_password_change ch = {
	    .account_id = f->hanako,
	    .old_password = "wrong password!",
	    .new_password = "a new good one",
	    .confirm = "a new good one",
	    .addr = "192.0.2.7",
	    .now = NOW,
	};
	enum cid_security_notice notice = CID_SECURITY_NONE;
	int64_t wait = 0;

	/* the login throttle counts the wrong old passwords: it refuses in the end */
	for (int i = 0; i < 50 && notice != CID_SECURITY_THROTTLED; i++)
		assert_int_equal(cid_security_change_password(f->ctx, &ch, &notice, &wait),
				 CID_ERR_REFUSED);
	assert_int_equal(notice, CID_SECURITY_THROTTLED);
	assert_true(wait > 0);
}

/* The current code of a base32 secret at t. */
static void code_of(const char *b32, int64_t t, char out[CID_TOTP_DIGITS + 1])
{
	uint8_t secret[CID_TOTP_SECRET_MAX];
	size_t len = 0;
	uint32_t code = 0;

	assert_int_equal(cid_base32_decode(b32, strlen(b32), secret, sizeof(secret), &len), CID_OK);
	assert_int_equal(cid_totp(CID_TOTP_SHA1, secret, len, t, CID_TOTP_DIGITS, &code), CID_OK);
	snprintf(out, CID_TOTP_DIGITS + 1, "%06u", (unsigned)code);
}

static void wrong_of(const char *code, char out[CID_TOTP_DIGITS + 1])
{
	snprintf(out, CID_TOTP_DIGITS + 1, "%06u",
		 (unsigned)((strtoul(code, NULL, 10) + 1) % 1000000));
}

static bool enrolled(struct fixture *f)
{
	struct cid_account *a = NULL;
	bool on;

	assert_int_equal(cid_account_get(cid_ctx_store(f->ctx), f->hanako, &a), CID_OK);
	on = a->has_totp;
	cid_account_free(a);
	return on;
}

static void test_totp_enrol_pending_until_a_right_code(void **state)
{
	struct fixture *f = *state;
	struct cid_store *s = cid_ctx_store(f->ctx);
	const char *sid = f->sess[0].sid; /* the session that enrols */
	char *secret = NULL;
	char *uri = NULL;
	char *again = NULL;
	char *again_uri = NULL;
	char code[CID_TOTP_DIGITS + 1];
	char wrong[CID_TOTP_DIGITS + 1];

	assert_int_equal(cid_account_totp_pending(s, f->hanako, sid, NOW, &again, &again_uri),
			 CID_ERR_NOTFOUND);
	assert_int_equal(cid_account_totp_confirm(s, f->hanako, sid, "123456", NOW),
			 CID_ERR_NOTFOUND);
	assert_int_equal(cid_account_totp_begin(s, f->hanako, sid, NOW, &secret, &uri), CID_OK);
	assert_int_equal(strlen(secret), CID_TOTP_SECRET_CHARS);
	assert_non_null(strstr(uri, secret));
	assert_false(enrolled(f));
	/* the page shows the same key again while it is pending, and not after */
	assert_int_equal(cid_account_totp_pending(s, f->hanako, sid, NOW + 10, &again, &again_uri),
			 CID_OK);
	assert_string_equal(again, secret);
	assert_string_equal(again_uri, uri);
	free(again);
	free(again_uri);
	assert_int_equal(cid_account_totp_pending(s, f->hanako, sid, NOW + CID_TOTP_PENDING_TTL,
						  &again, &again_uri),
			 CID_ERR_NOTFOUND);
	code_of(secret, NOW, code);
	wrong_of(code, wrong);
	assert_int_equal(cid_account_totp_confirm(s, f->hanako, sid, wrong, NOW), CID_ERR_DENIED);
	assert_int_equal(cid_account_totp_confirm(s, f->hanako, sid, "12345", NOW),
			 CID_ERR_INVALID);
	assert_false(enrolled(f));
	/* too late: the pending key is worth nothing */
	assert_int_equal(
	    cid_account_totp_confirm(s, f->hanako, sid, code, NOW + CID_TOTP_PENDING_TTL),
	    CID_ERR_NOTFOUND);
	assert_int_equal(cid_account_totp_confirm(s, f->hanako, sid, code, NOW), CID_OK);
	assert_true(enrolled(f));
	/* the confirming code's step is spent: it cannot log in afterwards */
	assert_int_equal(cid_account_totp_check(s, f->hanako, code, NULL, NOW, NULL),
			 CID_ERR_DENIED);
	/* enrolled: no second pending key */
	assert_int_equal(cid_account_totp_begin(s, f->hanako, sid, NOW, NULL, NULL),
			 CID_ERR_EXISTS);
	free(secret);
	free(uri);
}

/*
 * The pending key hanako's session i is shown on GET /account/security at t
 * into secret ("" when the page shows none); the page must say she is not
 * enrolled either way.
 */
static void page_secret(struct fixture *f, int i, int64_t t, char secret[CID_TOTP_SECRET_CHARS + 1])
{
	struct cid_request req = {.session_cookie = f->cookie[i],
				  .csrf_cookie = "csrfcsrfcsrfcsrfcsrfcsrfcsrfcsrfcsrfcsrfcsA",
				  .now = t,
				  .remote_addr = "127.0.0.1"};
	struct cid_reply r = {0};
	const json_t *pending;

	assert_int_equal(cid_security_page(f->ctx, &req, &r), CID_OK);
	assert_int_equal(r.status, 200);
	assert_true(json_is_true(json_object_get(r.page_data, "totp_none")));
	pending = json_array_get(json_object_get(r.page_data, "totp_pending"), 0);
	secret[0] = '\0';
	if (pending != NULL) {
		assert_int_equal(strlen(cid_json_str(pending, "secret")), CID_TOTP_SECRET_CHARS);
		memcpy(secret, cid_json_str(pending, "secret"), CID_TOTP_SECRET_CHARS + 1);
		assert_non_null(strstr(cid_json_str(pending, "uri"), secret));
	}
	cid_reply_free(&r);
}

/*
 * A pending key belongs to the session that began it, not to the account:
 * another browser signed in as the citizen (left open, or a stolen cookie)
 * is neither shown it nor may confirm it, and the session that began it
 * sees it only while its login is fresh. Another fresh session may begin
 * its own, which replaces the first.
 */
static void test_totp_pending_key_is_only_the_beginning_sessions(void **state)
{
	struct fixture *f = *state;
	struct cid_store *s = cid_ctx_store(f->ctx);
	const int64_t stale = f->sess[0].auth_time + CID_REAUTH_MAX_AGE + 1;
	enum cid_security_notice notice = CID_SECURITY_NONE;
	char shown[CID_TOTP_SECRET_CHARS + 1];
	char secret[CID_TOTP_SECRET_CHARS + 1];
	char code[CID_TOTP_DIGITS + 1];
	char *again = NULL;
	char *again_uri = NULL;

	assert_true(stale < NOW + CID_TOTP_PENDING_TTL); /* still pending when A's login is stale */
	assert_int_equal(cid_security_totp_begin(s, &f->sess[0], NOW, &notice), CID_OK);
	/* A sees its key; B, the same citizen in another browser, sees none */
	page_secret(f, 0, NOW + 5, secret);
	assert_int_equal(strlen(secret), CID_TOTP_SECRET_CHARS);
	page_secret(f, 1, NOW + 5, shown);
	assert_string_equal(shown, "");
	assert_int_equal(cid_security_totp_pending(s, &f->sess[1], NOW + 5, &again, &again_uri),
			 CID_ERR_NOTFOUND);
	assert_int_equal(
	    cid_account_totp_pending(s, f->hanako, f->sess[1].sid, NOW + 5, &again, &again_uri),
	    CID_ERR_NOTFOUND);
	assert_int_equal(
	    cid_account_totp_pending(s, f->hanako, "not a sid", NOW + 5, &again, &again_uri),
	    CID_ERR_INVALID);
	/* B cannot confirm A's key, even with its right code */
	code_of(secret, NOW + 5, code);
	assert_int_equal(cid_security_totp_confirm(s, &f->sess[1], code, NOW + 5, &notice),
			 CID_ERR_REFUSED);
	assert_int_equal(notice, CID_SECURITY_TOTP_EXPIRED);
	assert_int_equal(cid_account_totp_confirm(s, f->hanako, f->sess[1].sid, code, NOW + 5),
			 CID_ERR_NOTFOUND);
	assert_false(enrolled(f));
	/* A with a stale login neither sees nor confirms it */
	page_secret(f, 0, stale, shown);
	assert_string_equal(shown, "");
	code_of(secret, stale, code);
	assert_int_equal(cid_security_totp_confirm(s, &f->sess[0], code, stale, &notice),
			 CID_ERR_REFUSED);
	assert_int_equal(notice, CID_SECURITY_LOGIN_STALE);
	assert_false(enrolled(f));
	/* B, fresh, begins its own: it replaces A's, which A no longer sees nor confirms */
	assert_int_equal(cid_security_totp_begin(s, &f->sess[1], NOW + 6, &notice), CID_OK);
	page_secret(f, 0, NOW + 6, shown);
	assert_string_equal(shown, "");
	code_of(secret, NOW + 6, code);
	assert_int_equal(cid_security_totp_confirm(s, &f->sess[0], code, NOW + 6, &notice),
			 CID_ERR_REFUSED);
	assert_int_equal(notice, CID_SECURITY_TOTP_EXPIRED);
	page_secret(f, 1, NOW + 6, shown);
	assert_int_equal(strlen(shown), CID_TOTP_SECRET_CHARS);
	assert_string_not_equal(shown, secret);
	code_of(shown, NOW + 6, code);
	assert_int_equal(cid_security_totp_confirm(s, &f->sess[1], code, NOW + 6, &notice), CID_OK);
	assert_int_equal(notice, CID_SECURITY_TOTP_ENROLLED);
	assert_true(enrolled(f));
}

static void test_totp_remove_takes_a_fresh_right_code(void **state)
{
	struct fixture *f = *state;
	struct cid_store *s = cid_ctx_store(f->ctx);
	const char *sid = f->sess[0].sid; /* the session that enrols */
	char *secret = NULL;
	char code[CID_TOTP_DIGITS + 1];
	char wrong[CID_TOTP_DIGITS + 1];

	assert_int_equal(cid_account_totp_remove(s, f->hanako, "123456", NULL, NOW, NULL),
			 CID_ERR_NOTFOUND);
	assert_int_equal(cid_account_totp_begin(s, f->hanako, sid, NOW, &secret, NULL), CID_OK);
	code_of(secret, NOW, code);
	assert_int_equal(cid_account_totp_confirm(s, f->hanako, sid, code, NOW), CID_OK);
	/* the code just used is no fresh code */
	assert_int_equal(cid_account_totp_remove(s, f->hanako, code, NULL, NOW, NULL),
			 CID_ERR_DENIED);
	code_of(secret, NOW + CID_TOTP_STEP, code);
	wrong_of(code, wrong);
	assert_int_equal(
	    cid_account_totp_remove(s, f->hanako, wrong, NULL, NOW + CID_TOTP_STEP, NULL),
	    CID_ERR_DENIED);
	assert_true(enrolled(f));
	assert_int_equal(
	    cid_account_totp_remove(s, f->hanako, code, NULL, NOW + CID_TOTP_STEP, NULL), CID_OK);
	assert_false(enrolled(f));
	free(secret);
}

static void test_recent_logins_bounded_newest_first(void **state)
{
	struct fixture *f = *state;
	struct cid_store *s = cid_ctx_store(f->ctx);
	struct cid_login got[CID_LOGINS_KEEP];
	char id[CID_ID_CHARS + 1];
	size_t n = 99;
	int64_t wait = 0;

	assert_int_equal(cid_logins_list(s, f->hanako, got, &n), CID_OK);
	assert_int_equal(n, 0);
	/* the login page's check records; the plain check (a password change) does not */
	assert_int_equal(cid_account_login(s, &f->cfg->argon2, "hanako", "wrong password!", NULL,
					   FIREFOX, NOW, id, &wait),
			 CID_ERR_DENIED);
	assert_int_equal(cid_account_login(s, &f->cfg->argon2, "hanako", PASSWORD, NULL, NULL,
					   NOW + 1, id, &wait),
			 CID_OK);
	assert_int_equal(cid_account_authenticate(s, &f->cfg->argon2, "hanako", PASSWORD, NULL,
						  NOW + 2, id, &wait),
			 CID_OK);
	/* an unknown name is no citizen's attempt */
	assert_int_equal(cid_account_login(s, &f->cfg->argon2, "nobody", PASSWORD, NULL, NULL,
					   NOW + 3, id, &wait),
			 CID_ERR_DENIED);
	assert_int_equal(cid_logins_list(s, f->hanako, got, &n), CID_OK);
	assert_int_equal(n, 2);
	assert_true(got[0].ok);
	assert_int_equal(got[0].at, NOW + 1);
	assert_false(got[1].ok);
	assert_string_equal(got[1].method, CID_LOGIN_PASSWORD);
	assert_string_equal(got[1].device, "Firefox / Linux");
	/* the window keeps the latest CID_LOGINS_KEEP */
	for (int i = 0; i < 30; i++)
		assert_int_equal(
		    cid_logins_put(s, f->hanako, NOW + 100 + i, i % 2 == 0, CID_LOGIN_CODE, NULL),
		    CID_OK);
	assert_int_equal(cid_logins_list(s, f->hanako, got, &n), CID_OK);
	assert_int_equal(n, CID_LOGINS_KEEP);
	assert_int_equal(got[0].at, NOW + 129);
	assert_int_equal(got[CID_LOGINS_KEEP - 1].at, NOW + 110);
	for (size_t i = 1; i < n; i++)
		assert_true(got[i - 1].at > got[i].at);
	assert_int_equal(cid_logins_put(s, f->hanako, NOW, true, "sms", NULL), CID_ERR_INVALID);
	assert_int_equal(cid_logins_put(s, "short", NOW, true, CID_LOGIN_CODE, NULL),
			 CID_ERR_INVALID);
	/* taro has none of hanako's */
	assert_int_equal(cid_logins_list(s, f->taro, got, &n), CID_OK);
	assert_int_equal(n, 0);
}

static const struct {
	const char *ua, *label;
} ua_cases[] = {
    {FIREFOX, "Firefox / Linux"},
    {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/120.0 Safari/537.36 Edg/120.0",
     "Edge / Windows"},
    {"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
     "Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
     "Safari / iOS"},
    {"Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 "
     "Mobile Safari/537.36",
     "Chrome / Android"},
    {"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "HeadlessChrome/120.0 Safari/537.36",
     "Chrome / Linux"},
    {"node", "Node.js"},
    {"curl/7.88.1", "curl"},
    {"", ""},
    {NULL, ""},
    {"some robot", ""},
};

static void test_useragent_label_table(void **state)
{
	char label[CID_UA_LABEL_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(ua_cases) / sizeof(ua_cases[0]); i++) {
		cid_useragent_label(ua_cases[i].ua, label);
		assert_string_equal(label, ua_cases[i].label);
	}
}

static void test_qr_runs(void **state)
{
	json_t *qr = NULL;
	json_t *run;
	size_t i;
	json_int_t size;
	char big[CID_QR_MAX_TEXT + 2];

	(void)state;
	assert_int_equal(cid_qr_runs("otpauth://totp/civicid:hanako?secret=ABCDEFGH", &qr), CID_OK);
	size = json_integer_value(json_object_get(qr, "size"));
	/* version 3 or more, with the quiet zone on both sides */
	assert_true(size >= 29 + 2 * CID_QR_QUIET);
	assert_true(json_array_size(json_object_get(qr, "runs")) > 20);
	json_array_foreach(json_object_get(qr, "runs"), i, run)
	{
		json_int_t x = json_integer_value(json_object_get(run, "x"));
		json_int_t w = json_integer_value(json_object_get(run, "w"));

		assert_true(x >= CID_QR_QUIET && w >= 1 && x + w <= size - CID_QR_QUIET);
	}
	json_decref(qr);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(cid_qr_runs(big, &qr), CID_ERR_INVALID);
	assert_int_equal(cid_qr_runs("", &qr), CID_ERR_INVALID);
	assert_int_equal(cid_qr_runs(NULL, &qr), CID_ERR_INVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		test_sessions_listed_newest_use_first_with_services_and_browser, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_end_one_session_only_of_ones_own, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_totp_enrolment_needs_a_fresh_login, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_end_others_ends_more_than_the_page_lists, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_end_others_keeps_this_one_and_all_ends_all, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_change_password_table, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_a_citizen_with_a_code_changes_the_password_after_a_fresh_mfa_login, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_old_password_is_throttled, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_totp_enrol_pending_until_a_right_code, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_totp_pending_key_is_only_the_beginning_sessions,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_totp_remove_takes_a_fresh_right_code, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_recent_logins_bounded_newest_first, setup,
					    teardown),
	    cmocka_unit_test(test_useragent_label_table),
	    cmocka_unit_test(test_qr_runs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
