/*
 * account_login: the account pages' own login through their real entry
 * points on a real context: /account/login sends the browser into the
 * normal /authorize (run here too, with the citizen's SSO session), which
 * answers with a code and no consent screen; /account/callback takes it
 * back only with the state of the browser that began it, a code of that
 * browser's citizen, once. Also the server's own registration of the
 * client, and its refusal to take over one an operator made.
 */
#include "account.h"
#include "account_login.h"
#include "cid.h"
#include "client.h"
#include "config.h"
#include "crypto.h"
#include "oidc.h"
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
#define ISSUER	 "http://127.0.0.1:8080"
#define CALLBACK ISSUER "/account/callback"
/* two browsers' CSRF tokens: canonical base64url of 32 bytes */
#define CSRF_A "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define CSRF_B "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA"

struct fixture {
	char dir[256];
	struct cid_config *cfg;
	struct cid_ctx *ctx;
	char hanako[CID_ID_CHARS + 1];
	char hanako_cookie[CID_TOKEN_CHARS + 1];
	char taro[CID_ID_CHARS + 1];
	char taro_cookie[CID_TOKEN_CHARS + 1];
};

static void add_citizen(struct fixture *f, const char *name, char *id, char *cookie)
{
	static const char *const amr[] = {"pwd"};
	json_t *claims = json_pack("{s:s}", "given_name", name);

	assert_int_equal(cid_account_add(cid_ctx_store(f->ctx), &f->cfg->argon2, name,
					 "correct horse battery", claims, NOW, id),
			 CID_OK);
	json_decref(claims);
	assert_int_equal(cid_session_new(cid_ctx_store(f->ctx), id, CID_ACR_PASSWORD, amr, 1, NOW,
					 (int64_t)8 * 3600, cookie, NULL),
			 CID_OK);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->cfg = cid_test_config(f->dir);
	cid_test_set(f->cfg, "issuer", ISSUER);
	cid_test_policies(f->cfg, f->dir, "svc.policy", cid_test_svc_policy);
	assert_int_equal(cid_ctx_open(f->cfg, NOW, NULL, &f->ctx), CID_OK);
	add_citizen(f, "hanako", f->hanako, f->hanako_cookie);
	add_citizen(f, "taro", f->taro, f->taro_cookie);
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

/* A GET of fn with the query and the browser's cookies (each may be NULL). */
static void get(struct fixture *f, cid_endpoint_fn *fn, const char *session, const char *csrf,
		const char *query, struct cid_reply *reply)
{
	struct cid_request req = {
	    .session_cookie = session, .csrf_cookie = csrf, .now = NOW, .remote_addr = "127.0.0.1"};

	assert_int_equal(cid_params_parse_form(&req.params, query, strlen(query)), CID_OK);
	memset(reply, 0, sizeof(*reply));
	assert_int_equal(fn(f->ctx, &req, reply), CID_OK);
	cid_request_clear(&req);
}

/* The query of a redirect's location, which must begin with base and a '?'. */
static const char *query_of(const struct cid_reply *r, const char *base)
{
	assert_non_null(r->location);
	assert_true(strncmp(r->location, base, strlen(base)) == 0);
	assert_int_equal(r->location[strlen(base)], '?');
	return r->location + strlen(base) + 1;
}

/* The value of name in the query q, decoded, into out. */
static void param(const char *q, const char *name, char *out, size_t n)
{
	struct cid_params p = {0};
	const char *v;

	assert_int_equal(cid_params_parse_form(&p, q, strlen(q)), CID_OK);
	v = cid_params_get(&p, name);
	assert_non_null(v);
	snprintf(out, n, "%s", v);
	cid_params_clear(&p);
}

/*
 * The browser with csrf and the session cookie logs in from /account: the
 * code the callback gets, after /authorize with the SSO session, into code.
 */
static void code_for(struct fixture *f, const char *session, const char *csrf,
		     char code[CID_TOKEN_CHARS + 1])
{
	struct cid_reply login;
	struct cid_reply authz;

	get(f, cid_account_signin, NULL, csrf, "lang=en", &login);
	assert_int_equal(login.status, 303);
	get(f, cid_oidc_authorize, session, csrf, query_of(&login, ISSUER "/authorize"), &authz);
	/* no consent screen, no login form: straight back with a code */
	assert_int_equal(authz.status, 302);
	assert_int_equal(authz.page, CID_PAGE_NONE);
	param(query_of(&authz, CALLBACK), "code", code, CID_TOKEN_CHARS + 1);
	cid_reply_free(&login);
	cid_reply_free(&authz);
}

static void test_login_sends_the_browser_into_authorize_with_state_and_pkce(void **state)
{
	struct fixture *f = *state;
	struct cid_reply r;
	struct cid_client *client = NULL;
	char expect_state[CID_TOKEN_CHARS + 1];
	char verifier[CID_TOKEN_CHARS + 1];
	char challenge[CID_TOKEN_CHARS + 1];
	char v[CID_MAX_URI + 1];
	uint8_t digest[32];
	const char *q;

	assert_int_equal(cid_client_get(cid_ctx_store(f->ctx), CID_ACCOUNT_CLIENT_ID, &client),
			 CID_ERR_NOTFOUND);
	get(f, cid_account_signin, NULL, CSRF_A, "lang=en", &r);
	assert_int_equal(r.status, 303);
	assert_int_equal(r.n_cookies, 0); /* the browser's token is kept */
	q = query_of(&r, ISSUER "/authorize");
	cid_account_login_secrets(CSRF_A, expect_state, verifier);
	cid_sha256(verifier, strlen(verifier), digest);
	assert_int_equal(cid_b64url_encode(digest, sizeof(digest), challenge, sizeof(challenge)),
			 CID_OK);
	param(q, "response_type", v, sizeof(v));
	assert_string_equal(v, "code");
	param(q, "client_id", v, sizeof(v));
	assert_string_equal(v, CID_ACCOUNT_CLIENT_ID);
	param(q, "redirect_uri", v, sizeof(v));
	assert_string_equal(v, CALLBACK);
	param(q, "scope", v, sizeof(v));
	assert_string_equal(v, "openid");
	param(q, "state", v, sizeof(v));
	assert_string_equal(v, expect_state);
	param(q, "code_challenge", v, sizeof(v));
	assert_string_equal(v, challenge);
	param(q, "code_challenge_method", v, sizeof(v));
	assert_string_equal(v, "S256");
	param(q, "ui_locales", v, sizeof(v));
	assert_string_equal(v, "en");
	cid_reply_free(&r);

	/* the server registered it: public, its one callback, the code grant only */
	assert_int_equal(cid_client_get(cid_ctx_store(f->ctx), CID_ACCOUNT_CLIENT_ID, &client),
			 CID_OK);
	assert_true(client->is_public);
	assert_int_equal(client->n_redirect_uris, 1);
	assert_string_equal(client->redirect_uris[0], CALLBACK);
	assert_string_equal(client->scopes, "openid");
	assert_false(client->allow_refresh);
	cid_client_free(client);

	/* a browser without a CSRF token gets one, and the state is derived from it */
	get(f, cid_account_signin, NULL, NULL, "", &r);
	assert_int_equal(r.status, 303);
	assert_int_equal(r.n_cookies, 1);
	param(query_of(&r, ISSUER "/authorize"), "state", v, sizeof(v));
	assert_int_equal(strlen(v), CID_TOKEN_CHARS);
	assert_string_not_equal(v, expect_state);
	cid_reply_free(&r);
}

static void test_the_callback_lands_on_the_account_page_once(void **state)
{
	struct fixture *f = *state;
	struct cid_reply r;
	char code[CID_TOKEN_CHARS + 1];
	char st[CID_TOKEN_CHARS + 1];
	char verifier[CID_TOKEN_CHARS + 1];
	char query[256];

	code_for(f, f->hanako_cookie, CSRF_A, code);
	cid_account_login_secrets(CSRF_A, st, verifier);
	snprintf(query, sizeof(query), "code=%s&state=%s&iss=%s&lang=en", code, st,
		 "http%3A%2F%2F127.0.0.1%3A8080");
	get(f, cid_account_callback, f->hanako_cookie, CSRF_A, query, &r);
	assert_int_equal(r.status, 303);
	assert_string_equal(r.location, "/account?lang=en");
	cid_reply_free(&r);
	/* the code is spent, and its grant gone: the same callback again is refused */
	get(f, cid_account_callback, f->hanako_cookie, CSRF_A, query, &r);
	assert_int_equal(r.status, 400);
	assert_string_equal(json_string_value(json_object_get(r.page_data, "description")),
			    "err.account_callback");
	cid_reply_free(&r);
}

/*
 * A re-authentication (before deleting the account) asks /authorize for a new
 * login even with a live session, under a state of its own, and its callback
 * comes back to the security page; a plain login's state does not.
 */
static void test_reauth_asks_for_a_new_login_and_comes_back_to_security(void **state)
{
	struct fixture *f = *state;
	struct cid_reply login;
	struct cid_reply authz;
	struct cid_reply r;
	char code[CID_TOKEN_CHARS + 1];
	char plain[CID_TOKEN_CHARS + 1];
	char verifier[CID_TOKEN_CHARS + 1];
	char reauth[CID_TOKEN_CHARS + 1];
	char v[CID_MAX_URI + 1];
	char query[256];
	const char *q;

	cid_account_login_secrets(CSRF_A, plain, verifier);
	cid_account_reauth_state(CSRF_A, reauth);
	assert_int_equal(strlen(reauth), CID_TOKEN_CHARS);
	assert_string_not_equal(reauth, plain);
	get(f, cid_account_signin, NULL, CSRF_A, "lang=en&reauth=1", &login);
	assert_int_equal(login.status, 303);
	q = query_of(&login, ISSUER "/authorize");
	param(q, "prompt", v, sizeof(v));
	assert_string_equal(v, "login");
	param(q, "state", v, sizeof(v));
	assert_string_equal(v, reauth);
	/* the live session does not do: the login form, no code */
	get(f, cid_oidc_authorize, f->hanako_cookie, CSRF_A, q, &authz);
	assert_int_equal(authz.status, 200);
	assert_int_equal(authz.page, CID_PAGE_LOGIN);
	cid_reply_free(&authz);
	cid_reply_free(&login);
	/* a plain sign-in has no prompt */
	get(f, cid_account_signin, NULL, CSRF_A, "lang=en", &login);
	assert_null(strstr(login.location, "prompt="));
	cid_reply_free(&login);

	/* the reauth state brings the code back to the security page */
	code_for(f, f->hanako_cookie, CSRF_A, code);
	snprintf(query, sizeof(query), "code=%s&state=%s&lang=en", code, reauth);
	get(f, cid_account_callback, f->hanako_cookie, CSRF_A, query, &r);
	assert_int_equal(r.status, 303);
	assert_string_equal(r.location, "/account/security?lang=en&notice=signed_in_again");
	cid_reply_free(&r);
	/* another browser's reauth state is refused as any other state is */
	code_for(f, f->hanako_cookie, CSRF_A, code);
	cid_account_reauth_state(CSRF_B, reauth);
	snprintf(query, sizeof(query), "code=%s&state=%s&lang=en", code, reauth);
	get(f, cid_account_callback, f->hanako_cookie, CSRF_A, query, &r);
	assert_int_equal(r.status, 400);
	cid_reply_free(&r);
	/* going back from the new login lands on the security page too */
	cid_account_reauth_state(CSRF_A, reauth);
	snprintf(query, sizeof(query), "error=access_denied&state=%s&lang=en", reauth);
	get(f, cid_account_callback, f->hanako_cookie, CSRF_A, query, &r);
	assert_int_equal(r.status, 303);
	assert_string_equal(r.location, "/account/security?lang=en");
	cid_reply_free(&r);
}

/*
 * The re-authentication of a citizen with a second factor asks the mfa
 * level (acr_values), so the new login asks the code as well (the flow's
 * step-up) and a password alone cannot delete or change the password
 * (cid_erase_login_strong); one without a code, or no session, does not.
 */
static void test_reauth_of_a_citizen_with_a_code_asks_the_mfa_level(void **state)
{
	struct fixture *f = *state;
	struct cid_reply login;
	char v[CID_MAX_URI + 1];
	const char *q;

	assert_int_equal(
	    cid_account_totp_enrol(cid_ctx_store(f->ctx), "hanako", false, NOW, NULL, NULL),
	    CID_OK);
	get(f, cid_account_signin, f->hanako_cookie, CSRF_A, "lang=en&reauth=1", &login);
	assert_int_equal(login.status, 303);
	q = query_of(&login, ISSUER "/authorize");
	param(q, "prompt", v, sizeof(v));
	assert_string_equal(v, "login");
	param(q, "acr_values", v, sizeof(v));
	assert_string_equal(v, CID_ACR_MFA);
	cid_reply_free(&login);
	/* a plain sign-in of hers asks no level; taro, and no session, neither */
	get(f, cid_account_signin, f->hanako_cookie, CSRF_A, "lang=en", &login);
	assert_null(strstr(login.location, "acr_values="));
	cid_reply_free(&login);
	get(f, cid_account_signin, f->taro_cookie, CSRF_A, "lang=en&reauth=1", &login);
	assert_non_null(strstr(login.location, "prompt=login"));
	assert_null(strstr(login.location, "acr_values="));
	cid_reply_free(&login);
	get(f, cid_account_signin, NULL, CSRF_A, "lang=en&reauth=1", &login);
	assert_null(strstr(login.location, "acr_values="));
	cid_reply_free(&login);
}

static void test_the_callback_refuses_what_is_not_this_browsers_login(void **state)
{
	struct fixture *f = *state;
	struct cid_reply r;
	char code[CID_TOKEN_CHARS + 1];
	char st_a[CID_TOKEN_CHARS + 1];
	char st_b[CID_TOKEN_CHARS + 1];
	char verifier[CID_TOKEN_CHARS + 1];
	char q[12][256];

	const struct {
		const char *session;
		const char *csrf;
		const char *query;
		int status;
	} rows[] = {
	    /* a state of another browser (a login CSRF), none, or a cookie-less browser */
	    {f->hanako_cookie, CSRF_A, q[0], 400},
	    {f->hanako_cookie, CSRF_A, q[1], 400},
	    {f->hanako_cookie, NULL, q[2], 400},
	    {f->hanako_cookie, "not-a-token", q[2], 400},
	    /* the right state, but another issuer's answer (RFC 9207) */
	    {f->hanako_cookie, CSRF_A, q[3], 400},
	    /* a code that is none */
	    {f->hanako_cookie, CSRF_A, q[4], 400},
	    {f->hanako_cookie, CSRF_A, q[5], 400},
	    /* hanako's code in taro's browser session */
	    {f->taro_cookie, CSRF_A, q[2], 400},
	    /* signed out: the page that offers the login */
	    {NULL, CSRF_A, q[2], 401},
	    /* the citizen went back from /authorize: the account page again */
	    {NULL, CSRF_A, q[6], 303},
	};

	code_for(f, f->hanako_cookie, CSRF_A, code);
	cid_account_login_secrets(CSRF_A, st_a, verifier);
	cid_account_login_secrets(CSRF_B, st_b, verifier);
	snprintf(q[0], sizeof(q[0]), "code=%s&state=%s", code, st_b);
	snprintf(q[1], sizeof(q[1]), "code=%s", code);
	snprintf(q[2], sizeof(q[2]), "code=%s&state=%s", code, st_a);
	snprintf(q[3], sizeof(q[3]), "code=%s&state=%s&iss=https%%3A%%2F%%2Fevil.example", code,
		 st_a);
	snprintf(q[4], sizeof(q[4]), "state=%s", st_a);
	snprintf(q[5], sizeof(q[5]), "code=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&state=%s",
		 st_a);
	snprintf(q[6], sizeof(q[6]), "error=access_denied&state=%s", st_a);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		get(f, cid_account_callback, rows[i].session, rows[i].csrf, rows[i].query, &r);
		if (r.status != rows[i].status)
			fail_msg("row %zu: status %d, expected %d", i, r.status, rows[i].status);
		if (rows[i].status == 400)
			assert_string_equal(
			    json_string_value(json_object_get(r.page_data, "description")),
			    "err.account_callback");
		if (rows[i].status == 303)
			assert_string_equal(r.location, "/account?lang=ja");
		cid_reply_free(&r);
	}
	/* taro's session spent the code (single use): her own browser cannot land with it now */
	get(f, cid_account_callback, f->hanako_cookie, CSRF_A, q[2], &r);
	assert_int_equal(r.status, 400);
	cid_reply_free(&r);
}

static void test_a_client_the_server_cannot_own_is_not_taken_over(void **state)
{
	struct fixture *f = *state;
	const char *uris[] = {"https://elsewhere.example/cb"};
	struct cid_client_spec spec = {
	    .client_id = CID_ACCOUNT_CLIENT_ID,
	    .name = "an operator's",
	    .is_public = true,
	    .redirect_uris = uris,
	    .n_redirect_uris = 1,
	};
	char *id = NULL;
	char *secret = NULL;
	struct cid_reply r;

	assert_int_equal(cid_client_add(cid_ctx_store(f->ctx), &spec, NOW, &id, &secret), CID_OK);
	free(id);
	free(secret);
	assert_int_equal(cid_account_client_ensure(f->ctx, NOW), CID_ERR_CONFIG);
	get(f, cid_account_signin, NULL, CSRF_A, "", &r);
	assert_int_equal(r.status, 503);
	assert_int_equal(r.page, CID_PAGE_ERROR);
	assert_null(r.location);
	cid_reply_free(&r);
}

static void test_an_issuer_no_login_can_return_to_is_refused(void **state)
{
	struct fixture *f = *state;

	/* http off loopback is no redirect URI civicid accepts */
	cid_test_set(f->cfg, "issuer", "http://city.example");
	assert_int_equal(cid_account_client_ensure(f->ctx, NOW), CID_ERR_CONFIG);
	cid_test_set(f->cfg, "issuer", ISSUER);
	assert_int_equal(cid_account_client_ensure(f->ctx, NOW), CID_OK);
	assert_int_equal(cid_account_client_ensure(f->ctx, NOW), CID_OK); /* kept as it is */
}

static void test_secrets_need_a_token(void **state)
{
	char a[CID_TOKEN_CHARS + 1];
	char b[CID_TOKEN_CHARS + 1];
	char c[CID_TOKEN_CHARS + 1];
	char d[CID_TOKEN_CHARS + 1];

	(void)state;
	cid_account_login_secrets(NULL, a, b);
	assert_string_equal(a, "");
	assert_string_equal(b, "");
	cid_account_login_secrets("short", a, b);
	assert_string_equal(a, "");
	cid_account_login_secrets(CSRF_A, a, b);
	cid_account_login_secrets(CSRF_A, c, d);
	assert_int_equal(strlen(a), CID_TOKEN_CHARS);
	assert_string_equal(a, c);     /* the same browser, the same state */
	assert_string_not_equal(a, b); /* state and verifier are not one secret */
	cid_account_login_secrets(CSRF_B, c, d);
	assert_string_not_equal(a, c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		test_login_sends_the_browser_into_authorize_with_state_and_pkce, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_reauth_asks_for_a_new_login_and_comes_back_to_security, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_the_callback_lands_on_the_account_page_once, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_reauth_of_a_citizen_with_a_code_asks_the_mfa_level,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_the_callback_refuses_what_is_not_this_browsers_login, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_a_client_the_server_cannot_own_is_not_taken_over,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_an_issuer_no_login_can_return_to_is_refused, setup,
					    teardown),
	    cmocka_unit_test(test_secrets_need_a_token),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
