/*
 * reply: the builders every endpoint answers with. Tables of rows: the input
 * and the exact reply member it must give (cookies, redirects, locales,
 * token shapes), and the limits a reply keeps.
 */
#include "config.h"
#include "reply.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/*
 * Cookies: HttpOnly, Path=/ and no Domain always; the session and CSRF
 * cookies SameSite=Lax, the officer's Strict; Secure and the __Host- prefix
 * exactly when the issuer is https (RFC 6265bis §4.1.3.2).
 */
static void test_cookie_attributes_follow_the_issuer(void **state)
{
	static const struct {
		const char *issuer;
		enum cid_cookie which;
		int64_t max_age;
		const char *name;
		const char *set_cookie;
	} rows[] = {
	    {"https://id.city.example", CID_COOKIE_SESSION, 60, "__Host-civicid_session",
	     "__Host-civicid_session=v; Path=/; HttpOnly; SameSite=Lax; Max-Age=60; Secure"},
	    {"https://id.city.example", CID_COOKIE_CSRF, -1, "__Host-civicid_csrf",
	     "__Host-civicid_csrf=v; Path=/; HttpOnly; SameSite=Lax; Secure"},
	    {"https://id.city.example", CID_COOKIE_OFFICER, 1800, "__Host-civicid_officer",
	     "__Host-civicid_officer=v; Path=/; HttpOnly; SameSite=Strict; Max-Age=1800; Secure"},
	    {"https://id.city.example/sso", CID_COOKIE_SESSION, 0, "__Host-civicid_session",
	     "__Host-civicid_session=v; Path=/; HttpOnly; SameSite=Lax; Max-Age=0; Secure"},
	    {"http://127.0.0.1:8080", CID_COOKIE_SESSION, 60, "civicid_session",
	     "civicid_session=v; Path=/; HttpOnly; SameSite=Lax; Max-Age=60"},
	    {"http://127.0.0.1:8080", CID_COOKIE_CSRF, -1, "civicid_csrf",
	     "civicid_csrf=v; Path=/; HttpOnly; SameSite=Lax"},
	    {"http://127.0.0.1:8080", CID_COOKIE_OFFICER, 1800, "civicid_officer",
	     "civicid_officer=v; Path=/; HttpOnly; SameSite=Strict; Max-Age=1800"},
	    /* the language a citizen chose: remembered across pages, sent from a service too */
	    {"https://id.city.example", CID_COOKIE_LANG, 31536000, "__Host-civicid_lang",
	     "__Host-civicid_lang=v; Path=/; HttpOnly; SameSite=Lax; Max-Age=31536000; Secure"},
	    {"http://127.0.0.1:8080", CID_COOKIE_LANG, 31536000, "civicid_lang",
	     "civicid_lang=v; Path=/; HttpOnly; SameSite=Lax; Max-Age=31536000"},
	};

	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct cid_config *cfg = NULL;
		struct cid_reply r = {0};

		assert_int_equal(cid_config_new(&cfg), CID_OK);
		assert_int_equal(cid_config_set(cfg, "issuer", rows[i].issuer, err, sizeof(err)),
				 CID_OK);
		assert_string_equal(cid_cookie_name(cfg, rows[i].which), rows[i].name);
		assert_int_equal(cid_reply_cookie(&r, cfg, rows[i].which, "v", rows[i].max_age),
				 CID_OK);
		assert_int_equal(r.n_cookies, 1);
		if (strcmp(r.cookies[0], rows[i].set_cookie) != 0)
			fail_msg("row %zu: got %s", i, r.cookies[0]);
		cid_reply_free(&r);
		cid_config_free(cfg);
	}
}

/* A reply holds CID_REPLY_MAX_COOKIES cookies; one more is refused, not dropped silently. */
static void test_cookie_beyond_the_limit_is_refused(void **state)
{
	struct cid_config *cfg = NULL;
	struct cid_reply r = {0};
	char err[256];

	(void)state;
	assert_int_equal(cid_config_new(&cfg), CID_OK);
	assert_int_equal(cid_config_set(cfg, "issuer", "http://127.0.0.1:8080", err, sizeof(err)),
			 CID_OK);
	for (size_t i = 0; i < CID_REPLY_MAX_COOKIES; i++)
		assert_int_equal(cid_reply_cookie(&r, cfg, CID_COOKIE_CSRF, "v", -1), CID_OK);
	assert_int_equal(cid_reply_cookie(&r, cfg, CID_COOKIE_CSRF, "v", -1), CID_ERR_TOOBIG);
	assert_int_equal(r.n_cookies, CID_REPLY_MAX_COOKIES);
	cid_reply_free(&r);
	cid_config_free(cfg);
}

/*
 * A redirect adds its pairs to the base's query (after '?' or '&'), skips
 * NULL values and URL-encodes the rest; it is never cached.
 */
static void test_redirect_appends_encoded_pairs(void **state)
{
	static const struct {
		const char *base;
		const char *values[3];
		const char *location;
	} rows[] = {
	    {"https://rp.example/cb",
	     {"c1", "s 1", NULL},
	     "https://rp.example/cb?code=c1&state=s%201"},
	    {"https://rp.example/cb?x=1",
	     {"c1", NULL, "i"},
	     "https://rp.example/cb?x=1&code=c1&iss=i"},
	    {"https://rp.example/cb", {NULL, NULL, NULL}, "https://rp.example/cb"},
	    {"/officer", {"a&b=c", NULL, NULL}, "/officer?code=a%26b%3Dc"},
	};

	static const char *const names[] = {"code", "state", "iss"};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct cid_reply r = {0};

		assert_int_equal(
		    cid_reply_redirect(&r, 302, rows[i].base, names, rows[i].values, 3), CID_OK);
		if (strcmp(r.location, rows[i].location) != 0)
			fail_msg("row %zu: got %s", i, r.location);
		assert_int_equal(r.status, 302);
		assert_true(r.no_store);
		cid_reply_free(&r);
	}
}

/* ui_locales in order of preference: the first language we have, else the default. */
static void test_locale_is_the_first_one_we_have(void **state)
{
	static const struct {
		const char *ui_locales;
		const char *default_locale;
		const char *locale;
	} rows[] = {
	    {NULL, NULL, "ja"},	      {NULL, "en", "en"},	   {"", "en", "en"},
	    {"fr en ja", "ja", "en"}, {"fr ja-JP en", "en", "ja"}, {"EN-us", "ja", "en"},
	    {"de fr", "en", "en"},    {"jav en", "ja", "en"},	   {"  en", "ja", "en"},
	    {"ja", "xx", "ja"},	      {"es", "xx", "ja"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (strcmp(cid_reply_locale(rows[i].ui_locales, rows[i].default_locale),
			   rows[i].locale) != 0)
			fail_msg("row %zu: not %s", i, rows[i].locale);
}

/*
 * The one rule of a page's language: the page's own switch (lang), then the
 * service's ui_locales, then the remembered choice (the cookie), then the
 * browser's Accept-Language by its q-values, then the default.
 */
static void test_locale_rule(void **state)
{
	static const struct {
		const char *lang, *ui_locales, *cookie, *accept, *def;
		const char *locale;
	} rows[] = {
	    /* each source alone */
	    {NULL, NULL, NULL, NULL, NULL, "ja"},
	    {NULL, NULL, NULL, NULL, "en", "en"},
	    {"en", NULL, NULL, NULL, "ja", "en"},
	    {NULL, "en", NULL, NULL, "ja", "en"},
	    {NULL, NULL, "en", NULL, "ja", "en"},
	    {NULL, NULL, NULL, "en", "ja", "en"},
	    /* the order: lang > ui_locales > cookie > Accept-Language > default */
	    {"ja", "en", "en", "en", "en", "ja"},
	    {NULL, "ja", "en", "en", "en", "ja"},
	    {NULL, NULL, "ja", "en", "en", "ja"},
	    {NULL, NULL, NULL, "ja", "en", "ja"},
	    /* a source naming none of ours does not count */
	    {"fr", "de", "xx", "fr", "en", "en"},
	    {"fr", NULL, NULL, "ja", "en", "ja"},
	    {NULL, "fr de", "en", "ja", "ja", "en"},
	    {NULL, NULL, "EN", "ja", "en", "ja"}, /* the cookie is written lower case */
	    {NULL, NULL, "en-US", "ja", "en", "ja"},
	    /* q-values: the higher wins, subtags count as their language */
	    {NULL, NULL, NULL, "en-US,en;q=0.9,ja;q=0.8", "ja", "en"},
	    {NULL, NULL, NULL, "en;q=0.5, ja;q=0.6", "en", "ja"},
	    {NULL, NULL, NULL, "fr-FR, ja-JP;q=0.3, en-GB;q=0.2", "en", "ja"},
	    {NULL, NULL, NULL, "ja;q=0.500,en;q=0.5", "en", "ja"}, /* equal: the first listed */
	    {NULL, NULL, NULL, "en;q=0.5,ja;q=0.5", "ja", "en"},
	    {NULL, NULL, NULL, "ja;q=0, en;q=0.1", "ja", "en"}, /* q=0: not acceptable */
	    {NULL, NULL, NULL, "ja;q=0", "en", "en"},
	    {NULL, NULL, NULL, "*", "en", "en"},
	    {NULL, NULL, NULL, "*;q=1, ja;q=0.1", "en", "ja"},
	    {NULL, NULL, NULL, "jav, enx;q=0.9", "en", "en"}, /* neither is ours */
	    {NULL, NULL, NULL, "ja;q=1.0", "en", "ja"},
	    {NULL, NULL, NULL, "JA-jp ; Q=0.9 , EN ; q=0.8", "en", "ja"},
	    {NULL, NULL, NULL, "en;q=bogus, ja;q=0.1", "en", "ja"}, /* a bad q is no weight */
	    {NULL, NULL, NULL, ",,, ;;, ja", "en", "ja"},
	    {NULL, NULL, NULL, "", "en", "en"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *got = cid_locale_pick(rows[i].lang, rows[i].ui_locales, rows[i].cookie,
						  rows[i].accept, rows[i].def);

		if (strcmp(got, rows[i].locale) != 0)
			fail_msg("row %zu: %s, not %s", i, got, rows[i].locale);
	}
}

/* Only the canonical spelling of 32 bytes in base64url is a token. */
static void test_token_shape(void **state)
{
	static const struct {
		const char *s;
		bool token;
	} rows[] = {
	    {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", true},
	    {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", true},
	    /* the last character carries two bits that must be zero */
	    {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB", false},
	    {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c", false},
	    {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cMA", false},
	    {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM", false},
	    {"", false},
	    {NULL, false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (cid_request_is_token(rows[i].s) != rows[i].token)
			fail_msg("row %zu", i);
}

/* The error builders: JSON with the two OAuth members, or the error page with its data. */
static void test_error_replies(void **state)
{
	struct cid_reply r = {0};
	json_t *body;

	(void)state;
	assert_int_equal(cid_reply_error_json(&r, 400, "invalid_request", "why"), CID_OK);
	assert_int_equal(r.status, 400);
	assert_string_equal(r.content_type, "application/json");
	assert_true(r.no_store);
	body = json_loadb(r.body, r.body_len, 0, NULL);
	assert_non_null(body);
	assert_string_equal(json_string_value(json_object_get(body, "error")), "invalid_request");
	assert_string_equal(json_string_value(json_object_get(body, "error_description")), "why");
	json_decref(body);
	cid_reply_free(&r);
	assert_int_equal(cid_reply_error_page(&r, 404, "not_found", "gone", "en"), CID_OK);
	assert_int_equal(r.status, 404);
	assert_int_equal(r.page, CID_PAGE_ERROR);
	assert_null(r.body);
	assert_string_equal(r.locale, "en");
	assert_string_equal(json_string_value(json_object_get(r.page_data, "description")), "gone");
	assert_int_equal(json_integer_value(json_object_get(r.page_data, "status")), 404);
	cid_reply_free(&r);
	/* a page in a language we do not have is in Japanese */
	assert_int_equal(cid_reply_error_page(&r, 400, "x", "y", "fr"), CID_OK);
	assert_string_equal(r.locale, "ja");
	cid_reply_free(&r);
	/* a builder handed no object (its allocation failed) says so */
	assert_int_equal(cid_reply_json(&r, 200, NULL), CID_ERR_NOMEM);
	assert_int_equal(cid_reply_page(&r, 200, CID_PAGE_ERROR, NULL, "ja"), CID_ERR_NOMEM);
	cid_reply_free(&r);
}

/* A JSON text built in a buffer is the reply's body, no-store; a buffer in error is no reply. */
static void test_json_text_takes_the_buffer(void **state)
{
	struct cid_reply r = {0};
	struct cid_buf b;

	(void)state;
	cid_buf_init(&b, 64);
	cid_buf_puts(&b, "{\"active\":false}");
	assert_int_equal(cid_reply_json_text(&r, 200, &b), CID_OK);
	assert_null(b.data);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.content_type, "application/json");
	assert_true(r.no_store);
	assert_int_equal(r.body_len, strlen("{\"active\":false}"));
	assert_memory_equal(r.body, "{\"active\":false}", r.body_len);
	cid_reply_free(&r);
	/* over the cap: the error, no body, and the buffer is emptied all the same */
	cid_buf_init(&b, 4);
	cid_buf_puts(&b, "{\"active\":false}");
	assert_int_equal(cid_reply_json_text(&r, 200, &b), CID_ERR_TOOBIG);
	assert_null(b.data);
	assert_null(r.body);
	cid_reply_free(&r);
}

/* A wait is said in seconds, from two minutes on in minutes rounded up, and sent as Retry-After. */
static void test_wait_in_words_and_retry_after(void **state)
{
	static const struct {
		int64_t seconds;
		const char *key;
		json_int_t n;
		int64_t retry_after;
	} rows[] = {
	    {-5, "login_wait_second", 1, 1},	   {0, "login_wait_second", 1, 1},
	    {1, "login_wait_second", 1, 1},	   {2, "login_wait_seconds", 2, 2},
	    {119, "login_wait_seconds", 119, 119}, {120, "login_wait_minutes", 2, 120},
	    {121, "login_wait_minutes", 3, 121},   {900, "login_wait_minutes", 15, 900},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct cid_reply r = {0};
		json_t *data = json_object();

		assert_non_null(data);
		assert_int_equal(cid_reply_wait(&r, data, rows[i].seconds), CID_OK);
		if (strcmp(cid_json_str(data, "wait_key"), rows[i].key) != 0 ||
		    json_integer_value(json_object_get(data, "wait_n")) != rows[i].n ||
		    r.retry_after != rows[i].retry_after)
			fail_msg("%lld s: %s %lld, Retry-After %lld", (long long)rows[i].seconds,
				 cid_json_str(data, "wait_key"),
				 (long long)json_integer_value(json_object_get(data, "wait_n")),
				 (long long)r.retry_after);
		json_decref(data);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cookie_attributes_follow_the_issuer),
	    cmocka_unit_test(test_cookie_beyond_the_limit_is_refused),
	    cmocka_unit_test(test_redirect_appends_encoded_pairs),
	    cmocka_unit_test(test_locale_is_the_first_one_we_have),
	    cmocka_unit_test(test_locale_rule),
	    cmocka_unit_test(test_token_shape),
	    cmocka_unit_test(test_error_replies),
	    cmocka_unit_test(test_json_text_takes_the_buffer),
	    cmocka_unit_test(test_wait_in_words_and_retry_after),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
