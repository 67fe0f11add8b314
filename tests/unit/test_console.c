/*
 * test_console: the privacy officer's console through its endpoints
 * (cid_console_*) on a real context: LMDB store, policies on disk, an audit
 * log holding consent and release entries, an officer with a TOTP seed and two
 * citizens. Requests are built as the HTTP skin builds them; the replies are
 * checked for status, redirect, cookies and the page data the templates show.
 *
 * The log (seq: what, day) that every test starts from:
 *   0 release.deny    rp1 hanako  phone_number            D0
 *   1 consent.granted rp2 hanako  email (cid_consent_record) D1
 *   2 release.permit  rp1 hanako  given_name (statute)    D1
 *   3 release.permit  rp2 hanako  email (consent record)  D1
 *   4 release.deny    rp2 hanako  phone_number            D2
 *   5 release.permit  rp1 taro    given_name              D2
 *   6 release.permit  rp1 hanako  family_name#ja-Kana-JP  D2
 */
#include "account.h"
#include "audit.h"
#include "audit_head.h"
#include "bounds.h"
#include "cid.h"
#include "config.h"
#include "consent.h"
#include "console.h"
#include "officer.h"
#include "oidc.h"
#include "pseudonym.h"
#include "support.h"
#include "totp.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define DAY	 ((int64_t)86400)
#define D0	 ((int64_t)20832 * DAY) /* 2027-01-14 */
#define D1	 (D0 + DAY)		/* 2027-01-15 */
#define D2	 (D1 + DAY)		/* 2027-01-16 */
#define NOW	 (D2 + (int64_t)12 * 3600)
#define PASSWORD "correct horse battery"
#define N_LOG	 7 /* entries of the fixture's log */

/* rp1 receives names by statute; lines 9 and 10 are the rule its release entries name */
static const char rp1_policy[] = "service rp1\n"
				 "name.ja RP1\n"
				 "name.en Resident registry\n"
				 "purpose test\n"
				 "\ttext.ja テスト\n"
				 "\ttext.en To test the console\n"
				 "\tbasis statute Test Act, Art. 1\n"
				 "\tretention 1y\n"
				 "\tpermit given_name\n"
				 "\tpermit family_name\n";

static const char rp2_policy[] = "service rp2\n"
				 "name.ja RP2\n"
				 "name.en Newsletter\n"
				 "purpose news\n"
				 "\ttext.ja お知らせ\n"
				 "\ttext.en To send the newsletter\n"
				 "\tbasis consent\n"
				 "\tconsent_valid 1y\n"
				 "\tretention 1y\n"
				 "\tpermit email\n";

struct fixture {
	char dir[256];
	struct cid_config *cfg;
	struct cid_ctx *ctx;
	struct cid_audit *log; /* the context's */
	uint8_t secret[CID_TOTP_SECRET_MAX];
	size_t secret_len;
	char hanako[CID_ID_CHARS + 1];
	char taro[CID_ID_CHARS + 1];
	char consent_id[CID_ID_CHARS + 1];
	char cookie[CID_TOKEN_CHARS + 1]; /* alice's console session */
	char csrf[CID_TOKEN_CHARS + 1];	  /* its form token */
};

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
}

/* Appends one release entry at time t, of release id release (NULL: none). */
static void append_release(struct fixture *f, int64_t t, const char *type, const char *citizen,
			   const char *service, const char *purpose, const char *attribute,
			   const char *basis, const char *consent_id, const char *release)
{
	char when[21];
	json_t *e;

	assert_int_equal(cid_audit_time(t, when), CID_OK);
	e = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:[s], s:s, s:s, s:s, s:s}", "type", type,
		      "time", when, "actor", "service", "citizen", citizen, "service", service,
		      "purpose", purpose, "attributes", attribute, "decision",
		      strcmp(type, "release.permit") == 0 ? "permit" : "deny", "basis", basis,
		      "endpoint", "userinfo", "rule",
		      strcmp(service, "rp1") == 0 ? "rp1.policy:9,10" : "rp2.policy:9");
	assert_non_null(e);
	if (consent_id != NULL)
		assert_int_equal(
		    json_object_set_new(e, "consent_records", json_pack("[s]", consent_id)), 0);
	if (release != NULL)
		assert_int_equal(json_object_set_new(e, "request_id", json_string(release)), 0);
	assert_int_equal(cid_audit_append(f->log, &e, 1, NULL), CID_OK);
	json_decref(e);
}

static void code_at(const struct fixture *f, int64_t now, char out[CID_TOTP_DIGITS + 1])
{
	uint32_t c = 0;

	assert_int_equal(
	    cid_totp(CID_TOTP_SHA1, f->secret, f->secret_len, now, CID_TOTP_DIGITS, &c), CID_OK);
	snprintf(out, CID_TOTP_DIGITS + 1, "%06u", c);
}

/* The value of cookie which (named as cfg names it) in the reply's Set-Cookie values into out;
 * false when none. */
static bool reply_cookie(const struct cid_reply *r, const struct cid_config *cfg,
			 enum cid_cookie which, char *out, size_t outsz)
{
	const char *name = cid_cookie_name(cfg, which);
	size_t n = strlen(name);

	for (size_t i = 0; i < r->n_cookies; i++) {
		const char *c = r->cookies[i];
		const char *end;

		if (strncmp(c, name, n) != 0 || c[n] != '=')
			continue;
		end = strchr(c + n + 1, ';');
		if (end == NULL)
			end = c + strlen(c);
		assert_true((size_t)(end - (c + n + 1)) < outsz);
		snprintf(out, outsz, "%.*s", (int)(end - (c + n + 1)), c + n + 1);
		return true;
	}
	return false;
}

/* The full Set-Cookie value of cookie which, or NULL. */
static const char *reply_cookie_line(const struct cid_reply *r, const struct cid_config *cfg,
				     enum cid_cookie which)
{
	const char *name = cid_cookie_name(cfg, which);
	size_t n = strlen(name);

	for (size_t i = 0; i < r->n_cookies; i++)
		if (strncmp(r->cookies[i], name, n) == 0 && r->cookies[i][n] == '=')
			return r->cookies[i];
	return NULL;
}

typedef enum cid_err (*endpoint_fn)(struct cid_ctx *, const struct cid_request *,
				    struct cid_reply *);

/* Calls ep with form (query or body) and the given cookies at now; reply must be zeroed. */
static void call_with(struct fixture *f, endpoint_fn ep, bool post, const char *form,
		      const char *officer_cookie, const char *csrf_cookie, int64_t now,
		      struct cid_reply *reply)
{
	struct cid_request req = {
	    .post = post,
	    .form_content_type = post,
	    .officer_cookie = officer_cookie,
	    .csrf_cookie = csrf_cookie,
	    .remote_addr = "192.0.2.9",
	    .now = now,
	};
	enum cid_err rc;

	assert_int_equal(cid_params_parse_form(&req.params, form, strlen(form)), CID_OK);
	rc = ep(f->ctx, &req, reply);
	cid_request_clear(&req);
	if (rc != CID_OK)
		fail_msg("endpoint returned %s for \"%s\"", cid_strerror(rc), form);
}

/* Calls ep as alice, in her session; on a POST the form gets her CSRF token. */
static void call(struct fixture *f, endpoint_fn ep, bool post, const char *form,
		 struct cid_reply *reply)
{
	char body[1024];
	int n = snprintf(body, sizeof(body), "%s%s%s%s", form, post && form[0] ? "&" : "",
			 post ? "csrf=" : "", post ? f->csrf : "");

	assert_true(n >= 0 && (size_t)n < sizeof(body));
	call_with(f, ep, post, body, f->cookie, NULL, NOW + 10, reply);
}

/* Logs alice in through the console's own login form; fills f->cookie and f->csrf. */
static void console_login(struct fixture *f, int64_t now)
{
	struct cid_reply page = {0};
	struct cid_reply r = {0};
	char csrf_cookie[CID_TOKEN_CHARS + 1];
	char code[CID_TOTP_DIGITS + 1];
	char form[512];
	const char *csrf;

	call_with(f, cid_console_login, false, "", NULL, NULL, now, &page);
	assert_int_equal(page.status, 200);
	assert_int_equal(page.page, CID_PAGE_OFFICER_LOGIN);
	assert_true(reply_cookie(&page, f->cfg, CID_COOKIE_CSRF, csrf_cookie, sizeof(csrf_cookie)));
	csrf = json_string_value(json_object_get(page.page_data, "csrf"));
	assert_non_null(csrf);
	assert_string_equal(csrf, csrf_cookie);
	code_at(f, now, code);
	snprintf(form, sizeof(form), "name=alice&password=correct+horse+battery&code=%s&csrf=%s",
		 code, csrf);
	call_with(f, cid_console_login, true, form, NULL, csrf_cookie, now, &r);
	assert_int_equal(r.status, 303);
	assert_string_equal(r.location, "/officer");
	assert_true(reply_cookie(&r, f->cfg, CID_COOKIE_OFFICER, f->cookie, sizeof(f->cookie)));
	assert_int_equal(strlen(f->cookie), CID_TOKEN_CHARS);
	cid_officer_csrf(f->cookie, f->csrf);
	cid_reply_free(&page);
	cid_reply_free(&r);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char pdir[300];
	char *b32 = NULL;
	char *ids = NULL;
	struct cid_store *s;
	const struct cid_consent_change grant = {"email", CID_CONSENT_GRANTED, D1 + 365 * DAY};
	struct cid_consent_context cc = {
	    .service = "rp2",
	    .purpose = "news",
	    .policy_version = "v1",
	    .purpose_digest = "d1",
	    .method = CID_CONSENT_METHOD_SCREEN,
	    .now = D1 + 100,
	};

	assert_non_null(f);
	f->cfg = cid_test_config(f->dir);
	cid_test_policies(f->cfg, f->dir, "rp1.policy", rp1_policy);
	snprintf(pdir, sizeof(pdir), "%s/policies", f->dir);
	write_file(pdir, "rp2.policy", rp2_policy);
	assert_int_equal(cid_ctx_open(f->cfg, NOW, NULL, &f->ctx), CID_OK);
	s = cid_ctx_store(f->ctx);
	f->log = cid_ctx_audit_log(f->ctx);

	assert_int_equal(cid_officer_add(s, &f->cfg->argon2, "alice", PASSWORD, D0, &b32, NULL),
			 CID_OK);
	assert_int_equal(
	    cid_base32_decode(b32, strlen(b32), f->secret, sizeof(f->secret), &f->secret_len),
	    CID_OK);
	free(b32);
	/* a citizen with an officer's password is still no officer */
	assert_int_equal(
	    cid_account_add(s, &f->cfg->argon2, "hanako", PASSWORD, NULL, NOW, f->hanako), CID_OK);
	assert_int_equal(cid_account_add(s, &f->cfg->argon2, "taro", PASSWORD, NULL, NOW, f->taro),
			 CID_OK);

	append_release(f, D0 + 500, "release.deny", f->hanako, "rp1", "test", "phone_number",
		       "statute:Test Act, Art. 1", NULL, NULL);
	cc.account_id = f->hanako;
	assert_int_equal(cid_consent_record(s, &cc, &grant, 1, &ids), CID_OK);
	assert_int_equal(strlen(ids), CID_ID_CHARS);
	memcpy(f->consent_id, ids, CID_ID_CHARS + 1);
	free(ids);
	append_release(f, D1 + 200, "release.permit", f->hanako, "rp1", "test", "given_name",
		       "statute:Test Act, Art. 1", NULL, "rel-a");
	append_release(f, D1 + 300, "release.permit", f->hanako, "rp2", "news", "email", "consent",
		       f->consent_id, "rel-c");
	append_release(f, D2 + 100, "release.deny", f->hanako, "rp2", "news", "phone_number",
		       "consent", NULL, "rel-c");
	append_release(f, D2 + 200, "release.permit", f->taro, "rp1", "test", "given_name",
		       "statute:Test Act, Art. 1", NULL, NULL);
	append_release(f, D2 + 300, "release.permit", f->hanako, "rp1", "test",
		       "family_name#ja-Kana-JP", "statute:Test Act, Art. 1", NULL, "rel-b");

	console_login(f, NOW);
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

/* Number of entries in the log and the type and actor of the last. */
static uint64_t log_size(struct fixture *f, json_t **last)
{
	struct cid_txn *txn = NULL;
	uint64_t size = 0;
	char hash[CID_AUDIT_HASH_HEX];

	assert_int_equal(cid_store_read_begin(cid_ctx_store(f->ctx), &txn), CID_OK);
	assert_int_equal(cid_audit_head(txn, &size, hash), CID_OK);
	if (last != NULL) {
		assert_true(size > 0);
		assert_int_equal(cid_audit_get(txn, size - 1, last), CID_OK);
	}
	cid_store_read_end(txn);
	return size;
}

/* ---- no session, no page ---- */

static const struct {
	const char *what;
	endpoint_fn ep;
	bool post;
	const char *form;
} gated[] = {
    {"log", cid_console_log, false, ""},
    {"log with a filter", cid_console_log, false, "service=rp1"},
    {"entry", cid_console_entry, false, "seq=1"},
    {"verify", cid_console_verify, true, ""},
    {"export", cid_console_export, true, "format=csv"},
    {"services", cid_console_services, false, ""},
    {"logout", cid_console_logout, true, ""},
};

static void test_pages_without_session_redirect_to_login(void **state)
{
	struct fixture *f = *state;

	/* no cookie, a forged one, and alice's own once it has expired */
	const struct {
		const char *cookie;
		int64_t now;
	} sessions[] = {
	    {NULL, NOW + 10},
	    {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NOW + 10},
	    {f->cookie, NOW + CID_OFFICER_SESSION_TTL},
	};

	uint64_t before = log_size(f, NULL);

	for (size_t s = 0; s < sizeof(sessions) / sizeof(sessions[0]); s++) {
		for (size_t i = 0; i < sizeof(gated) / sizeof(gated[0]); i++) {
			struct cid_reply r = {0};

			call_with(f, gated[i].ep, gated[i].post, gated[i].form, sessions[s].cookie,
				  NULL, sessions[s].now, &r);
			if (r.status != 303 || r.location == NULL ||
			    strcmp(r.location, "/officer/login") != 0)
				fail_msg("%s (session %zu): got %d %s", gated[i].what, s, r.status,
					 r.location == NULL ? "" : r.location);
			assert_null(r.page_data);
			assert_null(r.body);
			cid_reply_free(&r);
		}
	}
	/* no export was recorded: none took place */
	assert_int_equal(log_size(f, NULL), before);
}

/* ---- login ---- */

static void test_login_sets_a_console_cookie(void **state)
{
	struct fixture *f = *state;
	struct cid_reply r = {0};
	char name[CID_OFFICER_MAX_NAME + 1];

	/* the fixture logged in through the form: the cookie is a live session of alice */
	assert_int_equal(cid_officer_session(cid_ctx_store(f->ctx), f->cookie, NOW + 10, name),
			 CID_OK);
	assert_string_equal(name, "alice");
	/* the login page of a logged-in officer goes straight to the log */
	call_with(f, cid_console_login, false, "", f->cookie, NULL, NOW + 10, &r);
	assert_int_equal(r.status, 303);
	assert_string_equal(r.location, "/officer");
	cid_reply_free(&r);
}

static void test_login_cookie_attributes(void **state)
{
	struct fixture *f = *state;
	struct cid_reply page = {0};
	struct cid_reply r = {0};
	char csrf[CID_TOKEN_CHARS + 1];
	char code[CID_TOTP_DIGITS + 1];
	char form[512];
	const char *line;
	int64_t now = NOW + (int64_t)2 * CID_TOTP_STEP; /* a fresh step: the fixture spent NOW's */

	call_with(f, cid_console_login, false, "", NULL, NULL, now, &page);
	assert_true(reply_cookie(&page, f->cfg, CID_COOKIE_CSRF, csrf, sizeof(csrf)));
	code_at(f, now, code);
	snprintf(form, sizeof(form), "name=alice&password=correct+horse+battery&code=%s&csrf=%s",
		 code, csrf);
	call_with(f, cid_console_login, true, form, NULL, csrf, now, &r);
	assert_int_equal(r.status, 303);
	line = reply_cookie_line(&r, f->cfg, CID_COOKIE_OFFICER);
	assert_non_null(line);
	assert_non_null(strstr(line, "; Path=/;"));
	assert_non_null(strstr(line, "; HttpOnly"));
	assert_non_null(strstr(line, "; SameSite=Strict"));
	/* http issuer of the test: no Secure (the browser would drop the cookie) */
	assert_null(strstr(line, "Secure"));
	cid_reply_free(&page);
	cid_reply_free(&r);
}

enum login_code { LC_GOOD, LC_WRONG, LC_REPLAY };

static const struct {
	const char *what;
	const char *name;
	const char *password;
	enum login_code code;
	bool csrf_ok;
	int status;
	const char *message; /* member of the login page's data, or NULL */
} login_cases[] = {
    {"wrong password", "alice", "wrong+password", LC_GOOD, true, 401, "msg_failed"},
    {"wrong code", "alice", "correct+horse+battery", LC_WRONG, true, 401, "msg_failed"},
    {"code already spent", "alice", "correct+horse+battery", LC_REPLAY, true, 401, "msg_failed"},
    {"a citizen's credentials", "hanako", "correct+horse+battery", LC_GOOD, true, 401,
     "msg_failed"},
    {"no password", "alice", NULL, LC_GOOD, true, 400, "msg_missing"},
    {"login CSRF token wrong", "alice", "correct+horse+battery", LC_GOOD, false, 403, NULL},
};

static void test_login_refusals(void **state)
{
	struct fixture *f = *state;
	char good[CID_TOKEN_CHARS + 1];
	char other[CID_TOKEN_CHARS + 1];

	/* the browser's CSRF cookie, and a token of another browser */
	assert_int_equal(cid_random_token(good), CID_OK);
	assert_int_equal(cid_random_token(other), CID_OK);

	for (size_t i = 0; i < sizeof(login_cases) / sizeof(login_cases[0]); i++) {
		struct cid_reply r = {0};
		char code[CID_TOTP_DIGITS + 1];
		char form[512];
		/* each row at its own step; a replay reuses the fixture's spent step */
		int64_t now =
		    login_cases[i].code == LC_REPLAY ? NOW + 5 : NOW + (int64_t)(i + 2) * 60;

		code_at(f, now, code);
		if (login_cases[i].code == LC_WRONG)
			code[0] = "1234567890"[code[0] - '0'];
		snprintf(form, sizeof(form), "name=%s%s%s&code=%s&csrf=%s", login_cases[i].name,
			 login_cases[i].password ? "&password=" : "",
			 login_cases[i].password ? login_cases[i].password : "", code,
			 login_cases[i].csrf_ok ? good : other);
		call_with(f, cid_console_login, true, form, NULL, good, now, &r);
		if (r.status != login_cases[i].status)
			fail_msg("%s: got %d, want %d", login_cases[i].what, r.status,
				 login_cases[i].status);
		assert_null(reply_cookie_line(&r, f->cfg, CID_COOKIE_OFFICER));
		if (login_cases[i].message != NULL) {
			assert_int_equal(r.page, CID_PAGE_OFFICER_LOGIN);
			assert_true(
			    json_is_true(json_object_get(r.page_data, login_cases[i].message)));
		}
		cid_reply_free(&r);
	}
}

/* POSTs the console login form as a browser at client behind proxy peer (xff: NULL, none). */
static void login_via(struct fixture *f, const char *peer, const char *xff, const char *password,
		      bool good_code, int64_t now, struct cid_reply *reply)
{
	char token[CID_TOKEN_CHARS + 1];
	char code[CID_TOTP_DIGITS + 1];
	char form[512];
	struct cid_request req = {
	    .post = true,
	    .form_content_type = true,
	    .csrf_cookie = token,
	    .remote_addr = peer,
	    .forwarded_for = xff,
	    .now = now,
	};

	assert_int_equal(cid_random_token(token), CID_OK);
	code_at(f, now, code);
	if (!good_code)
		code[0] = "1234567890"[code[0] - '0'];
	snprintf(form, sizeof(form), "name=alice&password=%s&code=%s&csrf=%s", password, code,
		 token);
	assert_int_equal(cid_params_parse_form(&req.params, form, strlen(form)), CID_OK);
	assert_int_equal(cid_console_login(f->ctx, &req, reply), CID_OK);
	cid_request_clear(&req);
}

/* The status of a login as login_via makes it; message, if not NULL, must be on the page. */
static int login_status(struct fixture *f, const char *peer, const char *xff, const char *password,
			bool good_code, int64_t now, const char *message)
{
	struct cid_reply r = {0};
	int status;

	login_via(f, peer, xff, password, good_code, now, &r);
	status = r.status;
	if (message != NULL)
		assert_true(json_is_true(json_object_get(r.page_data, message)));
	cid_reply_free(&r);
	return status;
}

/*
 * Behind the proxy of trusted_proxies, failures count under the client its
 * X-Forwarded-For names, never the proxy's address: a flood through the proxy
 * leaves the officer's own login through it working, whatever the flood
 * writes into the header itself.
 */
static void test_login_throttle_behind_a_trusted_proxy(void **state)
{
	struct fixture *f = *state;
	int64_t t = NOW + 120;

	cid_test_set(f->cfg, "trusted_proxies", "127.0.0.1");
	for (int i = 0; i < CID_THROTTLE_FREE; i++)
		assert_int_equal(login_status(f, "127.0.0.1", "198.51.100.6, 198.51.100.5",
					      "wrong+password", true, t, "msg_failed"),
				 401);
	/* the attacker is slowed, whichever client it claims to be */
	assert_int_equal(login_status(f, "127.0.0.1", "198.51.100.5", "correct+horse+battery", true,
				      t, "msg_throttled"),
			 429);
	assert_int_equal(login_status(f, "127.0.0.1", "198.51.100.6, 198.51.100.5",
				      "correct+horse+battery", true, t, "msg_throttled"),
			 429);
	/* the officer, through the same proxy from her own address, is not */
	assert_int_equal(
	    login_status(f, "127.0.0.1", "198.51.100.6", "correct+horse+battery", true, t, NULL),
	    303);
	/* a peer that is no trusted proxy is the client, whatever its header says */
	assert_int_equal(login_status(f, "198.51.100.5", "198.51.100.6", "correct+horse+battery",
				      true, t, "msg_throttled"),
			 429);
}

/* The officer's run of wrong codes, after the right password, locks the console login. */
static void test_login_locked_after_wrong_codes(void **state)
{
	struct fixture *f = *state;
	char addr[32];
	int64_t t = NOW;

	cid_test_set(f->cfg, "trusted_proxies", "127.0.0.1");
	for (int i = 0; i < CID_CODE_MAX_FAILURES; i++) {
		t += CID_THROTTLE_MAX_DELAY + CID_TOTP_STEP;
		snprintf(addr, sizeof(addr), "203.0.113.%d", i + 1);
		assert_int_equal(login_status(f, "127.0.0.1", addr, "correct+horse+battery", false,
					      t, "msg_failed"),
				 401);
	}
	t += CID_TOTP_STEP;
	assert_int_equal(login_status(f, "127.0.0.1", "192.0.2.50", "correct+horse+battery", true,
				      t, "msg_locked"),
			 403);
	assert_int_equal(cid_officer_unlock(cid_ctx_store(f->ctx), "alice"), CID_OK);
	assert_int_equal(
	    login_status(f, "127.0.0.1", "192.0.2.50", "correct+horse+battery", true, t, NULL),
	    303);
}

static void test_logout_ends_the_session(void **state)
{
	struct fixture *f = *state;
	struct cid_reply r = {0};
	char name[CID_OFFICER_MAX_NAME + 1];
	const char *line;

	call(f, cid_console_logout, true, "", &r);
	assert_int_equal(r.status, 303);
	assert_string_equal(r.location, "/officer/login");
	line = reply_cookie_line(&r, f->cfg, CID_COOKIE_OFFICER);
	assert_non_null(line);
	assert_non_null(strstr(line, "Max-Age=0"));
	cid_reply_free(&r);
	assert_int_equal(cid_officer_session(cid_ctx_store(f->ctx), f->cookie, NOW + 10, name),
			 CID_ERR_NOTFOUND);
	call(f, cid_console_log, false, "", &r);
	assert_int_equal(r.status, 303);
	cid_reply_free(&r);
}

/* ---- CSRF ---- */

static void test_post_with_wrong_csrf_is_refused(void **state)
{
	struct fixture *f = *state;
	char other[CID_TOKEN_CHARS + 1];
	char forms[3][256];

	const struct {
		const char *what;
		endpoint_fn ep;
		const char *form;
	} posts[] = {
	    {"verify", cid_console_verify, ""},
	    {"export", cid_console_export, "format=csv&"},
	    {"logout", cid_console_logout, ""},
	};

	uint64_t before = log_size(f, NULL);
	char name[CID_OFFICER_MAX_NAME + 1];

	/* another session's token is as wrong as garbage: the token is bound to the cookie */
	cid_officer_csrf("DDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD", other);
	for (size_t i = 0; i < sizeof(posts) / sizeof(posts[0]); i++) {
		snprintf(forms[0], sizeof(forms[0]), "%scsrf=%s", posts[i].form, other);
		snprintf(forms[1], sizeof(forms[1]), "%scsrf=", posts[i].form);
		snprintf(forms[2], sizeof(forms[2]), "%s", posts[i].form);
		/* "" and "format=csv&": drop a trailing '&' */
		if (forms[2][0] != '\0')
			forms[2][strlen(forms[2]) - 1] = '\0';
		for (size_t k = 0; k < 3; k++) {
			struct cid_reply r = {0};

			call_with(f, posts[i].ep, true, forms[k], f->cookie, NULL, NOW + 10, &r);
			if (r.status != 403)
				fail_msg("%s with \"%s\": got %d", posts[i].what, forms[k],
					 r.status);
			assert_null(r.body);
			assert_null(r.content_disposition);
			cid_reply_free(&r);
		}
	}
	/* nothing was exported, and the refused logout left the session alive */
	assert_int_equal(log_size(f, NULL), before);
	assert_int_equal(cid_officer_session(cid_ctx_store(f->ctx), f->cookie, NOW + 10, name),
			 CID_OK);
}

/* ---- the log page ---- */

/*
 * The seqs of the log page's entries as "6 5 4" into out, leaving out the
 * officer.* entries the console's own searches and views add to the log.
 */
static void page_seqs(const json_t *data, char *out, size_t outsz)
{
	const json_t *entries = json_object_get(data, "entries");
	const json_t *e;
	size_t i;
	size_t o = 0;

	out[0] = '\0';
	assert_true(json_is_array(entries));
	json_array_foreach(entries, i, e)
	{
		const char *type = json_string_value(json_object_get(e, "type"));
		int n;

		assert_non_null(type);
		if (strncmp(type, "officer.", 8) == 0)
			continue;
		n = snprintf(out + o, outsz - o, "%s%lld", o > 0 ? " " : "",
			     (long long)json_integer_value(json_object_get(e, "seq")));

		assert_true(n > 0 && (size_t)n < outsz - o);
		o += (size_t)n;
	}
}

static const struct {
	const char *query;
	const char *seqs; /* newest first */
} log_filters[] = {
    {"", "6 5 4 3 2 1 0"},
    {"service=rp2", "4 3 1"},
    {"service=rp1", "6 5 2 0"},
    {"service=nobody", ""},
    {"citizen=hanako", "6 4 3 2 1 0"},
    {"citizen=taro", "5"},
    {"type=release.deny", "4 0"},
    {"type=release.permit", "6 5 3 2"},
    {"type=release.", "6 5 4 3 2 0"},
    {"type=consent.", "1"},
    {"type=consent.granted", "1"},
    /* the officer's acts are a type to filter by (page_seqs leaves their rows out) */
    {"type=officer.", ""},
    {"type=officer.viewed", ""},
    /* an audit key's rotation is on the record too, and a type to filter by */
    {"type=key.", ""},
    {"type=key.rotated", ""},
    /* so are the token signing keys' changes */
    {"type=key.published", ""},
    {"type=key.activated", ""},
    {"type=key.withdrawn", ""},
    {"attribute=email", "3 1"},
    {"attribute=family_name", "6"},
    {"attribute=phone_number", "4 0"},
    {"from=2027-01-16", "6 5 4"},
    {"to=2027-01-14", "0"},
    {"from=2027-01-15&to=2027-01-15", "3 2 1"},
    {"from=2027-01-17", ""},
    {"service=rp1&citizen=hanako&type=release.permit", "6 2"},
    {"service=rp2&from=2027-01-16&to=2027-01-16", "4"},
    /* a release id, as the service got it in X-Civicid-Release: that answer's entries */
    {"release=rel-a", "2"},
    {"release=rel-c", "4 3"},
    {"release=rel-c&type=release.deny", "4"},
    {"release=rel-b&service=rp1", "6"},
    {"release=rel-b&service=rp2", ""},
    {"release=rel-x", ""},
    /* the form sends every field; an empty one does not filter */
    {"citizen=&service=&release=&attribute=&type=&from=&to=", "6 5 4 3 2 1 0"},
};

static void test_log_filters(void **state)
{
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(log_filters) / sizeof(log_filters[0]); i++) {
		struct cid_reply r = {0};
		char seqs[256];
		uint64_t before = log_size(f, NULL);
		json_t *last = NULL;

		call(f, cid_console_log, false, log_filters[i].query, &r);
		if (r.status != 200 || r.page != CID_PAGE_OFFICER_LOG)
			fail_msg("%s: got %d", log_filters[i].query, r.status);
		/* each search is one officer.searched entry, naming the officer */
		assert_int_equal(log_size(f, &last), before + 1);
		assert_string_equal(json_string_value(json_object_get(last, "type")),
				    "officer.searched");
		assert_string_equal(json_string_value(json_object_get(last, "actor")),
				    "officer:alice");
		json_decref(last);
		page_seqs(r.page_data, seqs, sizeof(seqs));
		if (strcmp(seqs, log_filters[i].seqs) != 0)
			fail_msg("%s: got [%s], want [%s]", log_filters[i].query, seqs,
				 log_filters[i].seqs);
		assert_string_equal(json_string_value(json_object_get(r.page_data, "officer")),
				    "alice");
		assert_string_equal(json_string_value(json_object_get(r.page_data, "csrf")),
				    f->csrf);
		assert_null(json_object_get(r.page_data, "next_query"));
		cid_reply_free(&r);
	}
}

static void test_log_citizen_by_account_id(void **state)
{
	struct fixture *f = *state;
	struct cid_reply r = {0};
	char query[128];
	char seqs[64];

	snprintf(query, sizeof(query), "citizen=%s", f->taro);
	call(f, cid_console_log, false, query, &r);
	assert_int_equal(r.status, 200);
	page_seqs(r.page_data, seqs, sizeof(seqs));
	assert_string_equal(seqs, "5");
	cid_reply_free(&r);
}

static void test_log_rows_and_form_values(void **state)
{
	struct fixture *f = *state;
	struct cid_reply r = {0};
	const json_t *row;
	const json_t *t;
	size_t i;
	bool selected = false;

	call(f, cid_console_log, false, "service=rp2&type=release.permit&from=2027-01-15", &r);
	assert_int_equal(r.status, 200);
	assert_true(r.no_store);
	assert_int_equal(json_array_size(json_object_get(r.page_data, "entries")), 1);
	row = json_array_get(json_object_get(r.page_data, "entries"), 0);
	assert_int_equal(json_integer_value(json_object_get(row, "seq")), 3);
	assert_string_equal(json_string_value(json_object_get(row, "time")),
			    "2027-01-15T00:05:00Z");
	assert_string_equal(json_string_value(json_object_get(row, "type")), "release.permit");
	cid_test_assert_citizen(cid_ctx_store(f->ctx), row, f->hanako);
	assert_string_equal(json_string_value(json_object_get(row, "service")), "rp2");
	assert_string_equal(json_string_value(json_object_get(row, "purpose")), "news");
	assert_string_equal(json_string_value(json_object_get(row, "attributes")), "email");
	assert_string_equal(json_string_value(json_object_get(row, "decision")), "permit");
	assert_string_equal(json_string_value(json_object_get(row, "basis")), "consent");
	/* the form shows the filter back */
	assert_string_equal(json_string_value(json_object_get(r.page_data, "service")), "rp2");
	assert_string_equal(json_string_value(json_object_get(r.page_data, "from")), "2027-01-15");
	assert_string_equal(json_string_value(json_object_get(r.page_data, "to")), "");
	json_array_foreach(json_object_get(r.page_data, "types"), i, t)
	{
		if (json_is_true(json_object_get(t, "selected"))) {
			assert_false(selected);
			selected = true;
			assert_string_equal(json_string_value(json_object_get(t, "value")),
					    "release.permit");
		}
	}
	assert_true(selected);
	assert_string_equal(json_string_value(json_object_get(r.page_data, "release")), "");
	cid_reply_free(&r);
	call(f, cid_console_log, false, "release=rel-c", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_string_value(json_object_get(r.page_data, "release")), "rel-c");
	cid_reply_free(&r);
}

/*
 * The log as people read it: the time in the configured zone (Asia/Tokyo by
 * default) and the officer's language; the citizen by the log's pseudonym
 * alone (who it is takes a look-up on the record: cid_audit_resolve);
 * ?lang=en switches the console's pages to English.
 */
static void test_log_shows_local_times_and_pseudonyms(void **state)
{
	static const struct {
		const char *query;
		const char *locale;
		const char *local_time;
	} rows[] = {
	    {"service=rp2&type=release.permit", "ja", "2027年1月15日 09:05"},
	    {"service=rp2&type=release.permit&lang=en", "en", "15 January 2027, 09:05"},
	};
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct cid_reply r = {0};
		const json_t *row;

		call(f, cid_console_log, false, rows[i].query, &r);
		assert_int_equal(r.status, 200);
		assert_string_equal(r.locale, rows[i].locale);
		assert_string_equal(cid_json_str(r.page_data, "zone"), "Asia/Tokyo");
		assert_int_equal(json_array_size(json_object_get(r.page_data, "entries")), 1);
		row = json_array_get(json_object_get(r.page_data, "entries"), 0);
		assert_string_equal(cid_json_str(row, "time"), "2027-01-15T00:05:00Z");
		assert_string_equal(cid_json_str(row, "local_time"), rows[i].local_time);
		cid_test_assert_citizen(cid_ctx_store(f->ctx), row, f->hanako);
		assert_null(json_object_get(row, "citizen_name"));
		cid_reply_free(&r);
	}
}

/* Whether the account is gone or present, the log and the entry page show the pseudonym alone. */
static void test_pseudonyms_of_gone_and_present_citizens(void **state)
{
	struct fixture *f = *state;
	struct cid_reply r = {0};
	const char *gone = "00000000-0000-4000-8000-000000000000";
	const json_t *row;

	append_release(f, D2 + 400, "release.permit", gone, "rp2", "news", "email", "consent", NULL,
		       NULL);
	call(f, cid_console_log, false, "type=release.permit&from=2027-01-16&service=rp2", &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_array_size(json_object_get(r.page_data, "entries")), 1);
	row = json_array_get(json_object_get(r.page_data, "entries"), 0);
	cid_test_assert_citizen(cid_ctx_store(f->ctx), row, gone);
	assert_null(json_object_get(row, "citizen_name"));
	cid_reply_free(&r);

	call(f, cid_console_entry, false, "seq=3", &r);
	assert_int_equal(r.status, 200);
	assert_null(json_object_get(r.page_data, "citizen_name"));
	assert_string_equal(cid_json_str(r.page_data, "local_time"), "2027年1月15日 09:05");
	cid_reply_free(&r);
}

/* The newest entry of the log (the caller frees it). */
static json_t *newest_entry(struct fixture *f)
{
	struct cid_txn *txn = NULL;
	uint64_t size = 0;
	char hash[CID_AUDIT_HASH_HEX];
	json_t *e = NULL;

	assert_int_equal(cid_store_read_begin(cid_ctx_store(f->ctx), &txn), CID_OK);
	assert_int_equal(cid_audit_head(txn, &size, hash), CID_OK);
	assert_int_equal(cid_audit_get(txn, size - 1, &e), CID_OK);
	cid_store_read_end(txn);
	return e;
}

/* Calls resolve with form (post or not); it must answer status and log nothing. */
static void resolve_refused(struct fixture *f, bool post, const char *form, int status)
{
	struct cid_reply r = {0};
	json_t *before = newest_entry(f);
	json_t *after;

	call(f, cid_console_resolve, post, form, &r);
	assert_int_equal(r.status, status);
	cid_reply_free(&r);
	after = newest_entry(f);
	assert_true(json_equal(after, before));
	json_decref(after);
	json_decref(before);
}

/*
 * The entry page offers the look-up of its pseudonym; the look-up names the
 * citizen only after an officer.resolved entry with the officer and the
 * reason is in the log; without a reason nothing is looked up or logged.
 */
static void test_resolve_is_on_the_record_first(void **state)
{
	static const struct {
		const char *pseudonym; /* NULL: the entry's */
		const char *rest;
	} refused[] = {
	    {NULL, ""},				  /* no reason */
	    {NULL, "&reason=+++"},		  /* blanks only */
	    {NULL, "&reason=%E3%80%80%E3%80%80"}, /* full-width blanks only */
	    {NULL, "&reason=a%0Ab"},		  /* a control character */
	    {"ps_nothex", "&reason=request+1"},	  /* not a pseudonym */
	    {NULL, "&reason=request+1&seq=x"},	  /* a bad way back */
	};
	struct fixture *f = *state;
	struct cid_reply r = {0};
	char pseudonym[CID_PSEUDONYM_CHARS + 1];
	char form[256];
	json_t *e;

	call(f, cid_console_entry, false, "seq=3", &r);
	assert_int_equal(r.status, 200);
	assert_true(cid_pseudonym_syntax_ok(cid_json_str(r.page_data, "pseudonym")));
	snprintf(pseudonym, sizeof(pseudonym), "%s", cid_json_str(r.page_data, "pseudonym"));
	cid_reply_free(&r);

	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		snprintf(form, sizeof(form), "pseudonym=%s%s",
			 refused[i].pseudonym != NULL ? refused[i].pseudonym : pseudonym,
			 refused[i].rest);
		resolve_refused(f, true, form, 400);
	}

	snprintf(form, sizeof(form), "pseudonym=%s&reason=%s&seq=3", pseudonym,
		 "%E9%96%8B%E7%A4%BA%E8%AB%8B%E6%B1%82+2027-014");
	call(f, cid_console_resolve, true, form, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.page, CID_PAGE_OFFICER_RESOLVE);
	assert_true(json_is_true(json_object_get(r.page_data, "found")));
	assert_string_equal(cid_json_str(r.page_data, "citizen"), f->hanako);
	assert_string_equal(cid_json_str(r.page_data, "citizen_name"), "hanako");
	assert_string_equal(cid_json_str(r.page_data, "service"), "rp2");
	assert_string_equal(cid_json_str(r.page_data, "purpose"), "news");
	assert_int_equal(json_integer_value(json_object_get(r.page_data, "seq")), 3);
	cid_reply_free(&r);
	e = newest_entry(f);
	assert_string_equal(cid_json_str(e, "type"), "officer.resolved");
	assert_string_equal(cid_json_str(e, "actor"), "officer:alice");
	assert_string_equal(cid_json_str(e, "citizen"), pseudonym);
	assert_string_equal(cid_json_str(json_object_get(e, "ext"), "reason"), "開示請求 2027-014");
	assert_string_equal(cid_json_str(json_object_get(e, "ext"), "found"), "true");
	json_decref(e);

	/* a pseudonym that names no one: a page saying so, and the look-up logged */
	call(f, cid_console_resolve, true,
	     "pseudonym=ps_00000000000000000000000000000000&reason=complaint+7", &r);
	assert_int_equal(r.status, 200);
	assert_true(json_is_true(json_object_get(r.page_data, "gone")));
	assert_null(json_object_get(r.page_data, "citizen"));
	cid_reply_free(&r);
	e = newest_entry(f);
	assert_string_equal(cid_json_str(json_object_get(e, "ext"), "found"), "false");
	json_decref(e);

	/* a GET resolves nothing, and logs nothing */
	snprintf(form, sizeof(form), "pseudonym=%s&reason=request+1", pseudonym);
	resolve_refused(f, false, form, 405);
}

static const char *const bad_log_queries[] = {
    "type=release",    /* not a type nor a prefix of one */
    "type=bogus.",     /* an unknown prefix */
    "from=2027-02-30", /* no such day */
    "to=2027-1-5",     /* not YYYY-MM-DD */
    "citizen=nobody",  /* no such citizen */
    "before=0",	       /* seqs of a next page start at 1 */
    "before=x",	       /* not a number */
    "service=a%0Ab",   /* a control character */
    "release=a%0Ab",   /* a control character */
    "attribute=",      /* followed by 129 bytes, over the bound (made in the loop) */
};

static void test_log_bad_filters_are_400(void **state)
{
	struct fixture *f = *state;

	char long_name[130];
	char query[160];

	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	for (size_t i = 0; i < sizeof(bad_log_queries) / sizeof(bad_log_queries[0]); i++) {
		struct cid_reply r = {0};

		snprintf(query, sizeof(query), "%s%s", bad_log_queries[i],
			 strcmp(bad_log_queries[i], "attribute=") == 0 ? long_name : "");
		call(f, cid_console_log, false, query, &r);
		if (r.status != 400 || r.page != CID_PAGE_ERROR)
			fail_msg("%s: got %d", query, r.status);
		cid_reply_free(&r);
	}
}

static void test_log_pages_older_entries(void **state)
{
	struct fixture *f = *state;
	struct cid_reply r = {0};
	const char *next;
	char query[256];
	json_t *entries[CID_CONSOLE_PAGE_SIZE + 3];
	char when[21];
	const json_t *first;

	/* enough rp3 entries for one full page and three more */
	assert_int_equal(cid_audit_time(D2 + 1000, when), CID_OK);
	for (size_t i = 0; i < CID_CONSOLE_PAGE_SIZE + 3; i++) {
		entries[i] = json_pack("{s:s, s:s, s:s, s:s}", "type", "release.deny", "time", when,
				       "service", "rp3", "citizen", f->taro);
		assert_non_null(entries[i]);
	}
	assert_int_equal(cid_audit_append(f->log, entries, CID_CONSOLE_PAGE_SIZE + 3, NULL),
			 CID_OK);
	for (size_t i = 0; i < CID_CONSOLE_PAGE_SIZE + 3; i++)
		json_decref(entries[i]);

	call(f, cid_console_log, false, "service=rp3", &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_array_size(json_object_get(r.page_data, "entries")),
			 CID_CONSOLE_PAGE_SIZE);
	first = json_array_get(json_object_get(r.page_data, "entries"), 0);
	assert_int_equal(json_integer_value(json_object_get(first, "seq")),
			 N_LOG + CID_CONSOLE_PAGE_SIZE + 2);
	next = json_string_value(json_object_get(r.page_data, "next_query"));
	assert_non_null(next);
	assert_non_null(strstr(next, "service=rp3"));
	snprintf(query, sizeof(query), "%s", next);
	cid_reply_free(&r);
	call(f, cid_console_log, false, query, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_array_size(json_object_get(r.page_data, "entries")), 3);
	first = json_array_get(json_object_get(r.page_data, "entries"), 2);
	assert_int_equal(json_integer_value(json_object_get(first, "seq")), N_LOG);
	assert_null(json_object_get(r.page_data, "next_query"));
	cid_reply_free(&r);
}

/* ---- one entry ---- */

/* The value of the entry page's field name, or NULL. */
static const char *field(const json_t *data, const char *name)
{
	const json_t *row;
	size_t i;

	json_array_foreach(json_object_get(data, "fields"), i, row)
	{
		if (strcmp(json_string_value(json_object_get(row, "name")), name) == 0)
			return json_string_value(json_object_get(row, "value"));
	}
	return NULL;
}

static void test_entry_shows_consent_record(void **state)
{
	struct fixture *f = *state;
	struct cid_reply r = {0};
	const json_t *consents;
	const json_t *c;
	uint64_t before = log_size(f, NULL);
	json_t *viewed = NULL;
	char *pseudonym;

	call(f, cid_console_entry, false, "seq=3", &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.page, CID_PAGE_OFFICER_ENTRY);
	/* the view is on the record: officer.viewed, naming the officer, the entry, the citizen */
	assert_int_equal(log_size(f, &viewed), before + 1);
	assert_string_equal(cid_json_str(viewed, "type"), "officer.viewed");
	assert_string_equal(cid_json_str(viewed, "actor"), "officer:alice");
	/* the pseudonym the viewed entry names (the release's scope), kept as it is */
	pseudonym = cid_test_pseudonym(cid_ctx_store(f->ctx), f->hanako, "rp2", "news");
	assert_non_null(pseudonym);
	assert_string_equal(cid_json_str(viewed, "citizen"), pseudonym);
	assert_string_equal(cid_json_str(json_object_get(viewed, "ext"), "seq"), "3");
	json_decref(viewed);
	assert_int_equal(json_integer_value(json_object_get(r.page_data, "seq")), 3);
	assert_string_equal(field(r.page_data, "type"), "release.permit");
	assert_string_equal(field(r.page_data, "service"), "rp2");
	assert_string_equal(field(r.page_data, "citizen"), pseudonym);
	free(pseudonym);
	assert_string_equal(field(r.page_data, "consent_records"), f->consent_id);
	assert_string_equal(field(r.page_data, "seq"), "3");
	assert_non_null(field(r.page_data, "prev"));
	consents = json_object_get(r.page_data, "consents");
	assert_int_equal(json_array_size(consents), 1);
	c = json_array_get(consents, 0);
	assert_string_equal(json_string_value(json_object_get(c, "id")), f->consent_id);
	assert_string_equal(json_string_value(json_object_get(c, "state")), "granted");
	assert_string_equal(json_string_value(json_object_get(c, "attribute")), "email");
	assert_string_equal(json_string_value(json_object_get(c, "purpose")), "news");
	assert_string_equal(json_string_value(json_object_get(c, "method")), "web:consent-screen");
	assert_string_equal(json_string_value(json_object_get(c, "at")), "2027-01-15T00:01:40Z");
	assert_string_equal(json_string_value(json_object_get(c, "expires_at")),
			    "2028-01-15T00:00:00Z");
	assert_string_equal(json_string_value(json_object_get(c, "policy_version")), "v1");
	/* the record's history, oldest first: here only itself */
	assert_int_equal(json_array_size(json_object_get(c, "history")), 1);
	assert_string_equal(cid_json_str(json_array_get(json_object_get(c, "history"), 0), "id"),
			    f->consent_id);
	/* the purpose in force; the entry has no policy_version, so it cannot have changed */
	c = json_array_get(json_object_get(r.page_data, "purpose"), 0);
	assert_non_null(c);
	assert_string_equal(json_string_value(json_object_get(c, "id")), "news");
	assert_string_equal(json_string_value(json_object_get(c, "basis")), "consent");
	assert_string_equal(json_string_value(json_object_get(c, "text_en")),
			    "To send the newsletter");
	assert_int_equal(json_integer_value(json_object_get(c, "retention_days")), 365);
	assert_true(json_is_false(json_object_get(r.page_data, "policy_changed")));
	cid_reply_free(&r);
}

static void test_entry_shows_rule_and_statute(void **state)
{
	struct fixture *f = *state;
	struct cid_reply r = {0};
	const json_t *p;

	call(f, cid_console_entry, false, "seq=2", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_string_value(json_object_get(r.page_data, "rule")),
			    "rp1.policy:9,10");
	/* each line the rule names, from the policy file in force */
	assert_string_equal(json_string_value(json_object_get(r.page_data, "rule_line")),
			    "\tpermit given_name\n\tpermit family_name");
	p = json_array_get(json_object_get(r.page_data, "purpose"), 0);
	assert_string_equal(json_string_value(json_object_get(p, "basis")), "statute");
	assert_string_equal(json_string_value(json_object_get(p, "statute")), "Test Act, Art. 1");
	/* a statutory release rests on no consent record */
	assert_int_equal(json_array_size(json_object_get(r.page_data, "consents")), 0);
	cid_reply_free(&r);
}

/* A rule naming a line the policy in force lacks shows no rule text. */
static void test_entry_rule_past_the_policy_shows_no_line(void **state)
{
	struct fixture *f = *state;
	struct cid_reply r = {0};
	char when[21];
	char query[32];
	uint64_t seq = 0;
	json_t *e;

	assert_int_equal(cid_audit_time(D2 + 400, when), CID_OK);
	e = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:[s], s:s, s:s, s:s, s:s}", "type",
		      "release.permit", "time", when, "actor", "service", "citizen", f->hanako,
		      "service", "rp1", "purpose", "test", "attributes", "given_name", "decision",
		      "permit", "basis", "statute:Test Act, Art. 1", "endpoint", "userinfo", "rule",
		      "rp1.policy:9,99");
	assert_non_null(e);
	assert_int_equal(cid_audit_append(f->log, &e, 1, &seq), CID_OK);
	json_decref(e);
	snprintf(query, sizeof(query), "seq=%llu", (unsigned long long)seq);
	call(f, cid_console_entry, false, query, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(field(r.page_data, "rule"), "rp1.policy:9,99");
	assert_null(json_object_get(r.page_data, "rule_line"));
	/* the purpose in force is still shown */
	assert_string_equal(
	    cid_json_str(json_array_get(json_object_get(r.page_data, "purpose"), 0), "id"), "test");
	cid_reply_free(&r);
}

static void test_entry_of_consent_event_finds_the_record(void **state)
{
	struct fixture *f = *state;
	struct cid_reply r = {0};
	const json_t *c;

	call(f, cid_console_entry, false, "seq=1", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(field(r.page_data, "type"), "consent.granted");
	c = json_array_get(json_object_get(r.page_data, "consents"), 0);
	assert_non_null(c);
	assert_string_equal(json_string_value(json_object_get(c, "id")), f->consent_id);
	cid_reply_free(&r);
}

static const struct {
	const char *query;
	int status;
} entry_errors[] = {
    {"seq=7", 404},
    {"seq=99999", 404},
    {"seq=", 400},
    {"seq=-1", 400},
    {"seq=1x", 400},
    {"", 400},
    {"seq=99999999999999999999", 400},
};

static void test_entry_errors(void **state)
{
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(entry_errors) / sizeof(entry_errors[0]); i++) {
		struct cid_reply r = {0};

		call(f, cid_console_entry, false, entry_errors[i].query, &r);
		if (r.status != entry_errors[i].status)
			fail_msg("%s: got %d, want %d", entry_errors[i].query, r.status,
				 entry_errors[i].status);
		assert_int_equal(r.page, CID_PAGE_ERROR);
		/* nothing was shown: nothing is recorded */
		assert_int_equal(log_size(f, NULL), N_LOG);
		cid_reply_free(&r);
	}
}

/* ---- verify ---- */

struct damage {
	uint64_t seq;
};

/* Rewrites entry seq's bytes with "rp2" changed to "rpX", as an attacker with the files would. */
static enum cid_err damage_cb(struct cid_txn *txn, void *arg)
{
	const struct damage *d = arg;
	char key[17];
	struct cid_str val;
	char *copy;
	char *at;
	enum cid_err rc;

	snprintf(key, sizeof(key), "%016llx", (unsigned long long)d->seq);
	rc = cid_txn_get(txn, CID_DB_AUDIT, cid_str_of(key), &val);
	if (rc != CID_OK)
		return rc;
	copy = strndup(val.ptr, val.len);
	if (copy == NULL)
		return CID_ERR_NOMEM;
	at = strstr(copy, "\"rp2\"");
	if (at == NULL) {
		free(copy);
		return CID_ERR_INVALID;
	}
	at[3] = 'X';
	rc = cid_txn_put(txn, CID_DB_AUDIT, cid_str_of(key), cid_str_of(copy), 0);
	free(copy);
	return rc;
}

static void test_verify_intact_then_damaged(void **state)
{
	struct fixture *f = *state;
	struct cid_reply r = {0};
	struct damage d = {.seq = 3};

	call(f, cid_console_verify, true, "", &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.page, CID_PAGE_OFFICER_VERIFY);
	assert_true(json_is_true(json_object_get(r.page_data, "ok")));
	assert_true(json_is_false(json_object_get(r.page_data, "bad")));
	assert_int_equal(json_integer_value(json_object_get(r.page_data, "entries")), N_LOG);
	assert_null(json_object_get(r.page_data, "bad_seq"));
	/* no checkpoint was signed: the whole log is an unsigned tail */
	assert_true(json_is_true(json_object_get(r.page_data, "unsigned_tail")));
	cid_reply_free(&r);

	assert_int_equal(cid_store_update(cid_ctx_store(f->ctx), damage_cb, &d), CID_OK);
	call(f, cid_console_verify, true, "", &r);
	assert_int_equal(r.status, 200);
	assert_true(json_is_false(json_object_get(r.page_data, "ok")));
	assert_true(json_is_true(json_object_get(r.page_data, "bad")));
	assert_int_equal(json_integer_value(json_object_get(r.page_data, "bad_seq")), 3);
	assert_true(strlen(json_string_value(json_object_get(r.page_data, "reason"))) > 0);
	assert_true(json_is_false(json_object_get(r.page_data, "unsigned_tail")));
	cid_reply_free(&r);
}

static void test_verify_counts_checkpoints(void **state)
{
	struct fixture *f = *state;
	struct cid_reply r = {0};

	assert_int_equal(cid_audit_checkpoint(cid_ctx_store(f->ctx), NOW, NULL), CID_OK);
	call(f, cid_console_verify, true, "", &r);
	assert_true(json_is_true(json_object_get(r.page_data, "ok")));
	assert_int_equal(json_integer_value(json_object_get(r.page_data, "checkpoints")), 1);
	assert_int_equal(json_integer_value(json_object_get(r.page_data, "covered")), N_LOG);
	assert_true(json_is_false(json_object_get(r.page_data, "unsigned_tail")));
	cid_reply_free(&r);
}

/* ---- export ---- */

static enum cid_err count_entry(uint64_t seq, struct cid_str entry, void *arg)
{
	(void)seq;
	(void)entry;
	(*(size_t *)arg)++;
	return CID_OK;
}

/* The entries of type that a query by citizen finds: the log as the CLI asks it. */
static size_t count_by_citizen(struct fixture *f, const char *citizen, const char *type)
{
	struct cid_audit_filter q = {.citizen = citizen, .type = type};
	struct cid_txn *txn = NULL;
	size_t n = 0;

	assert_int_equal(cid_store_read_begin(cid_ctx_store(f->ctx), &txn), CID_OK);
	assert_int_equal(cid_audit_query(txn, &q, count_entry, &n), CID_OK);
	cid_store_read_end(txn);
	return n;
}

static void test_export_csv_is_recorded(void **state)
{
	struct fixture *f = *state;
	struct cid_reply r = {0};
	json_t *last = NULL;
	const json_t *ext;
	char *body;
	char *line;
	char *save = NULL;
	/* a UTF-8 byte order mark first, so Japanese Excel reads the names */
	const char *want_prefix[] = {("\xEF\xBB\xBF"
				      "seq,time,type,actor,citizen,service,purpose,attributes,"),
				     "1,", "3,", "4,"};
	size_t n = 0;

	call(f, cid_console_export, true, "format=csv&service=rp2", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.content_type, "text/csv; charset=utf-8");
	assert_non_null(r.content_disposition);
	assert_non_null(strstr(r.content_disposition, "attachment"));
	assert_non_null(strstr(r.content_disposition, "filename=\"civicid-audit.csv\""));
	assert_true(r.no_store);
	body = strndup(r.body, r.body_len);
	assert_non_null(body);
	for (line = strtok_r(body, "\r\n", &save); line != NULL;
	     line = strtok_r(NULL, "\r\n", &save), n++) {
		assert_true(n < sizeof(want_prefix) / sizeof(want_prefix[0]));
		if (strncmp(line, want_prefix[n], strlen(want_prefix[n])) != 0)
			fail_msg("line %zu: %s", n, line);
		if (n > 0)
			assert_non_null(strstr(line, ",rp2,"));
	}
	assert_int_equal(n, 4);
	free(body);
	cid_reply_free(&r);

	/* the export is on the record: who, which slice, how many rows */
	assert_int_equal(log_size(f, &last), N_LOG + 1);
	assert_string_equal(cid_json_str(last, "type"), "audit.exported");
	assert_string_equal(cid_json_str(last, "actor"), "officer:alice");
	assert_string_equal(cid_json_str(last, "endpoint"), "officer-console");
	ext = json_object_get(last, "ext");
	assert_string_equal(cid_json_str(ext, "format"), "csv");
	assert_string_equal(cid_json_str(ext, "rows"), "3");
	assert_string_equal(cid_json_str(ext, "service"), "rp2");
	assert_null(json_object_get(ext, "citizen"));
	/* no citizen filtered: the export concerns no one citizen */
	assert_null(json_object_get(last, "citizen"));
	json_decref(last);
}

static void test_export_jsonl_is_recorded(void **state)
{
	struct fixture *f = *state;
	struct cid_reply r = {0};
	json_t *last = NULL;
	const int64_t want[] = {2, 6};
	const char *p;
	char *pseudonym;
	size_t n = 0;
	char query[160];

	snprintf(query, sizeof(query), "format=jsonl&citizen=%s&service=rp1&type=release.permit",
		 f->hanako);
	call(f, cid_console_export, true, query, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.content_type, "application/jsonl");
	assert_non_null(strstr(r.content_disposition, "filename=\"civicid-audit.jsonl\""));
	/* one entry per line, exactly as stored, in seq order */
	p = r.body;
	while (p < r.body + r.body_len) {
		const char *nl = memchr(p, '\n', (size_t)(r.body + r.body_len - p));
		json_t *e;

		assert_non_null(nl);
		e = json_loadb(p, (size_t)(nl - p), 0, NULL);
		assert_non_null(e);
		assert_true(n < 2);
		assert_int_equal(json_integer_value(json_object_get(e, "seq")), want[n]);
		cid_test_assert_citizen(cid_ctx_store(f->ctx), e, f->hanako);
		json_decref(e);
		n++;
		p = nl + 1;
	}
	assert_int_equal(n, 2);
	cid_reply_free(&r);
	assert_int_equal(log_size(f, &last), N_LOG + 1);
	assert_string_equal(cid_json_str(last, "actor"), "officer:alice");
	assert_string_equal(cid_json_str(json_object_get(last, "ext"), "format"), "jsonl");
	/* the filter's citizen, as the citizen's pseudonym of no purpose */
	pseudonym = cid_test_pseudonym(cid_ctx_store(f->ctx), f->hanako, NULL, NULL);
	assert_non_null(pseudonym);
	assert_string_equal(cid_json_str(json_object_get(last, "ext"), "citizen"), pseudonym);
	/* and as the entry's own citizen, the same pseudonym: the copy is a look at
	 * hanako, so "who looked at hanako" finds it as it finds a search for her */
	assert_string_equal(cid_json_str(last, "citizen"), pseudonym);
	free(pseudonym);
	assert_string_equal(cid_json_str(json_object_get(last, "ext"), "type"), "release.permit");
	json_decref(last);
	assert_int_equal(count_by_citizen(f, f->hanako, "audit.exported"), 1);
}

static const struct {
	const char *form;
	int status;
} export_errors[] = {
    {"", 400},
    {"format=xml", 400},
    {"format=csv&type=nope", 400},
    {"format=csv&from=2027-13-01", 400},
    {"format=csv&citizen=nobody", 400},
};

static void test_export_errors_are_not_recorded(void **state)
{
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(export_errors) / sizeof(export_errors[0]); i++) {
		struct cid_reply r = {0};

		call(f, cid_console_export, true, export_errors[i].form, &r);
		if (r.status != export_errors[i].status)
			fail_msg("%s: got %d", export_errors[i].form, r.status);
		assert_null(r.content_disposition);
		cid_reply_free(&r);
	}
	assert_int_equal(log_size(f, NULL), N_LOG);
}

/* Exactly console_export_max entries leave; one more is refused, unlogged. */
static void test_export_over_the_limit_is_refused(void **state)
{
	struct fixture *f = *state;
	struct cid_reply r = {0};
	char query[160];

	snprintf(query, sizeof(query), "format=csv&citizen=%s&service=rp1&type=release.permit",
		 f->hanako); /* two entries */
	f->cfg->console_export_max = 1;
	call(f, cid_console_export, true, query, &r);
	assert_int_equal(r.status, 400);
	assert_null(r.content_disposition);
	assert_non_null(
	    strstr(json_string_value(json_object_get(r.page_data, "description")), "narrow"));
	cid_reply_free(&r);
	assert_int_equal(log_size(f, NULL), N_LOG);
	f->cfg->console_export_max = 2;
	call(f, cid_console_export, true, query, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(r.content_disposition);
	cid_reply_free(&r);
	assert_int_equal(log_size(f, NULL), N_LOG + 1);
}

/* ---- services ---- */

/* The service's object of the services page. */
static const json_t *service_of(const json_t *data, const char *id)
{
	const json_t *s;
	size_t i;

	json_array_foreach(json_object_get(data, "services"), i, s)
	{
		if (strcmp(cid_json_str(s, "service"), id) == 0)
			return s;
	}
	fail_msg("no service %s on the page", id);
	return NULL;
}

struct bar {
	json_int_t x, y, width, height;
	const char *label;
};

static void check_bars(const json_t *bars, const struct bar *want, size_t n)
{
	assert_int_equal(json_array_size(bars), n);
	for (size_t i = 0; i < n; i++) {
		const json_t *b = json_array_get(bars, i);

		assert_int_equal(json_integer_value(json_object_get(b, "x")), want[i].x);
		assert_int_equal(json_integer_value(json_object_get(b, "y")), want[i].y);
		assert_int_equal(json_integer_value(json_object_get(b, "width")), want[i].width);
		assert_int_equal(json_integer_value(json_object_get(b, "height")), want[i].height);
		assert_string_equal(cid_json_str(b, "label"), want[i].label);
		/* the count is written above the bar, so the chart reads without colour */
		assert_int_equal(cid_json_int(b, "count"),
				 strtol(strrchr(want[i].label, ' ') + 1, NULL, 10));
		assert_int_equal(cid_json_int(b, "text_x"), want[i].x + want[i].width / 2);
		assert_int_equal(cid_json_int(b, "text_y"), want[i].y - 2);
	}
}

/* One day row of the services page: day, permits, refusals. */
static void check_rows(const json_t *rows, const char *const *days, const int *counts, size_t n)
{
	assert_int_equal(json_array_size(rows), n);
	for (size_t i = 0; i < n; i++) {
		const json_t *row = json_array_get(rows, i);

		assert_string_equal(cid_json_str(row, "day"), days[i]);
		assert_int_equal(cid_json_int(row, "permit"), counts[2 * i]);
		assert_int_equal(cid_json_int(row, "deny"), counts[2 * i + 1]);
	}
}

static void test_services_counts_and_chart(void **state)
{
	struct fixture *f = *state;
	struct cid_reply r = {0};
	const json_t *s;
	/* slots of 20 px a day; the tallest bar of a service is 100 px, the baseline at 110 */
	const struct bar rp1_permit[] = {{21, 60, 8, 50, "2027-01-15 release.permit 1"},
					 {41, 10, 8, 100, "2027-01-16 release.permit 2"}};
	const struct bar rp1_deny[] = {{10, 60, 8, 50, "2027-01-14 release.deny 1"}};
	const struct bar rp2_permit[] = {{21, 10, 8, 100, "2027-01-15 release.permit 1"}};
	const struct bar rp2_deny[] = {{50, 10, 8, 100, "2027-01-16 release.deny 1"}};
	const char *const rp1_days[] = {"2027-01-14", "2027-01-15", "2027-01-16"};
	const int rp1_counts[] = {0, 1, 1, 0, 2, 0};
	const char *const rp2_days[] = {"2027-01-15", "2027-01-16"};
	const int rp2_counts[] = {1, 0, 0, 1};

	call(f, cid_console_services, false, "from=2027-01-14&to=2027-01-16", &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.page, CID_PAGE_OFFICER_SERVICES);
	assert_string_equal(cid_json_str(r.page_data, "from"), "2027-01-14");
	assert_string_equal(cid_json_str(r.page_data, "to"), "2027-01-16");
	assert_int_equal(cid_json_int(r.page_data, "days"), 3);
	/* consent events are not releases: only rp1 and rp2, by service id */
	assert_int_equal(json_array_size(json_object_get(r.page_data, "services")), 2);
	assert_string_equal(
	    cid_json_str(json_array_get(json_object_get(r.page_data, "services"), 0), "service"),
	    "rp1");

	s = service_of(r.page_data, "rp1");
	assert_string_equal(cid_json_str(s, "name"), "RP1"); /* the default locale's name */
	assert_int_equal(cid_json_int(s, "permit"), 3);
	assert_int_equal(cid_json_int(s, "deny"), 1);
	assert_int_equal(cid_json_int(s, "chart_width"), 60);
	assert_int_equal(cid_json_int(s, "chart_height"), 120);
	check_rows(json_object_get(s, "rows"), rp1_days, rp1_counts, 3);
	check_bars(json_object_get(s, "permit_bars"), rp1_permit, 2);
	check_bars(json_object_get(s, "deny_bars"), rp1_deny, 1);

	s = service_of(r.page_data, "rp2");
	assert_int_equal(cid_json_int(s, "permit"), 1);
	assert_int_equal(cid_json_int(s, "deny"), 1);
	check_rows(json_object_get(s, "rows"), rp2_days, rp2_counts, 2);
	check_bars(json_object_get(s, "permit_bars"), rp2_permit, 1);
	check_bars(json_object_get(s, "deny_bars"), rp2_deny, 1);
	cid_reply_free(&r);
}

static void test_services_range(void **state)
{
	struct fixture *f = *state;
	struct cid_reply r = {0};
	const json_t *s;

	const struct {
		const char *query;
		int status;
		int64_t days;
		int64_t rp1_permit; /* -1: rp1 not on the page */
	} cases[] = {
	    /* the default: the 30 days up to today (NOW is on D2) */
	    {"", 200, 30, 3},
	    {"from=2027-01-16&to=2027-01-16", 200, 1, 2},
	    {"from=2027-01-17&to=2027-01-20", 200, 4, -1},
	    {"to=2027-01-15", 200, 30, 1},
	    {"from=2027-01-16&to=2027-01-15", 400, 0, 0},
	    {"from=2026-01-01&to=2027-01-15", 400, 0, 0}, /* over 92 days */
	    {"from=2027-02-29", 400, 0, 0},
	    {"to=tomorrow", 400, 0, 0},
	    /* the log's times end with 9999: the last day's end is past them, asked wrongly */
	    {"to=9999-12-31", 400, 0, 0},
	    {"from=9999-12-31&to=9999-12-31", 400, 0, 0},
	    {"from=9999-12-30&to=9999-12-30", 200, 1, -1},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		call(f, cid_console_services, false, cases[i].query, &r);
		if (r.status != cases[i].status)
			fail_msg("%s: got %d, want %d", cases[i].query, r.status, cases[i].status);
		if (cases[i].status == 200) {
			assert_int_equal(cid_json_int(r.page_data, "days"), cases[i].days);
			s = NULL;
			for (size_t k = 0;
			     k < json_array_size(json_object_get(r.page_data, "services")); k++) {
				const json_t *c =
				    json_array_get(json_object_get(r.page_data, "services"), k);

				if (strcmp(cid_json_str(c, "service"), "rp1") == 0)
					s = c;
			}
			if (cases[i].rp1_permit < 0)
				assert_null(s);
			else
				assert_int_equal(cid_json_int(s, "permit"), cases[i].rp1_permit);
		}
		cid_reply_free(&r);
	}
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_pages_without_session_redirect_to_login),
	    T(test_login_sets_a_console_cookie),
	    T(test_login_cookie_attributes),
	    T(test_login_refusals),
	    T(test_login_throttle_behind_a_trusted_proxy),
	    T(test_login_locked_after_wrong_codes),
	    T(test_logout_ends_the_session),
	    T(test_post_with_wrong_csrf_is_refused),
	    T(test_log_filters),
	    T(test_log_citizen_by_account_id),
	    T(test_log_rows_and_form_values),
	    T(test_log_shows_local_times_and_pseudonyms),
	    T(test_pseudonyms_of_gone_and_present_citizens),
	    T(test_resolve_is_on_the_record_first),
	    T(test_log_bad_filters_are_400),
	    T(test_log_pages_older_entries),
	    T(test_entry_shows_consent_record),
	    T(test_entry_shows_rule_and_statute),
	    T(test_entry_rule_past_the_policy_shows_no_line),
	    T(test_entry_of_consent_event_finds_the_record),
	    T(test_entry_errors),
	    T(test_verify_intact_then_damaged),
	    T(test_verify_counts_checkpoints),
	    T(test_export_csv_is_recorded),
	    T(test_export_jsonl_is_recorded),
	    T(test_export_errors_are_not_recorded),
	    T(test_export_over_the_limit_is_refused),
	    T(test_services_counts_and_chart),
	    T(test_services_range),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
