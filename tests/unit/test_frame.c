/*
 * frame: what every page shows around its content. One table of requests
 * (the endpoint's row, GET or POST, the path and parameters, the page
 * answered) and what the frame must say: whose page it is, how the
 * language switch goes (a link keeping a GET's query, a POST's own path
 * only when it takes GET, else home; a flow step's form), and whether the
 * choice is remembered in the language cookie. Then the city's name and the
 * footer from the configuration.
 */
#include "endpoints.h"
#include "frame.h"
#include "support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define NOW ((int64_t)1800000000)

struct fixture {
	char dir[256];
	struct cid_config *cfg;
	struct cid_ctx *ctx;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->cfg = cid_test_config(f->dir);
	cid_test_set(f->cfg, "city_name_ja", "テスト市");
	cid_test_set(f->cfg, "controller_name", "Aoi City");
	cid_test_set(f->cfg, "controller_contact", "Privacy Office");
	cid_test_set(f->cfg, "controller_email", "privacy@city.example.jp");
	cid_test_set(f->cfg, "policy_url", "https://city.example.jp/privacy");
	cid_test_policies(f->cfg, f->dir, "svc.policy", cid_test_svc_policy);
	assert_int_equal(cid_ctx_open(f->cfg, NOW, NULL, &f->ctx), CID_OK);
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

/* The row of path in the endpoint table; fails the test when there is none. */
static const struct cid_endpoint *row_of(const char *path)
{
	const struct cid_endpoint *e;

	for (size_t i = 0; (e = cid_endpoint_row(i)) != NULL; i++)
		if (strcmp(e->path, path) == 0)
			return e;
	fail_msg("no row %s", path);
	return NULL;
}

/* The value of the Set-Cookie of the language cookie, or NULL. */
static const char *lang_cookie(const struct cid_reply *r, const struct cid_config *cfg)
{
	const char *name = cid_cookie_name(cfg, CID_COOKIE_LANG);
	size_t n = strlen(name);

	for (size_t i = 0; i < r->n_cookies; i++)
		if (strncmp(r->cookies[i], name, n) == 0 && r->cookies[i][n] == '=')
			return r->cookies[i] + n + 1;
	return NULL;
}

static const struct {
	const char *row;    /* the endpoint's path in the table */
	bool post;	    /* the method */
	const char *path;   /* the path asked for */
	const char *params; /* its query or form */
	enum cid_page page; /* what it answered (CID_PAGE_NONE: JSON) */
	bool flow_tokens;   /* the page's data carries req and csrf */
	const char *locale; /* the page's language */
	/* expected */
	const char *who;     /* "citizen", "officer" or NULL (no frame) */
	bool lang_post;	     /* the switch is a form to /lang */
	const char *href_ja; /* the switch's links (NULL with lang_post) */
	const char *href_en;
	const char *cookie; /* the language cookie's value and attributes' start, or NULL */
} rows[] = {
    /* a GET links to itself, keeping its query but lang; a valid lang is remembered */
    {"/account", false, "/account", "after=5&lang=en", CID_PAGE_ACCOUNT, false, "en", "citizen",
     false, "/account?after=5&lang=ja", "/account?after=5&lang=en", "en; Path=/; HttpOnly"},
    {"/account", false, "/account", "", CID_PAGE_ACCOUNT, false, "ja", "citizen", false,
     "/account?lang=ja", "/account?lang=en", NULL},
    /* a language of none of ours is no choice */
    {"/account", false, "/account", "lang=fr", CID_PAGE_ACCOUNT, false, "ja", "citizen", false,
     "/account?lang=ja", "/account?lang=en", NULL},
    /* query values are encoded again */
    {"/authorize", false, "/authorize", "client_id=a%26b&state=x+y", CID_PAGE_ERROR, false, "ja",
     "citizen", false, "/authorize?client_id=a%26b&state=x%20y&lang=ja",
     "/authorize?client_id=a%26b&state=x%20y&lang=en", NULL},
    /* a flow step switches with a form carrying its pending request */
    {"/login", true, "/login", "req=r&csrf=c&username=u&password=p", CID_PAGE_LOGIN, true, "ja",
     "citizen", true, NULL, NULL, NULL},
    {"/lang", true, "/lang", "req=r&csrf=c&lang=en", CID_PAGE_CONSENT, true, "en", "citizen", true,
     NULL, NULL, "en; Path=/; HttpOnly"},
    /* the link page too: a link to the callback would repeat the upstream's code */
    {"/upstream/callback", false, "/upstream/callback", "code=k&state=s&iss=i",
     CID_PAGE_UPSTREAM_LINK, true, "ja", "citizen", true, NULL, NULL, NULL},
    {"/upstream/link", true, "/upstream/link", "req=r&csrf=c&username=u&password=p",
     CID_PAGE_UPSTREAM_LINK, true, "ja", "citizen", true, NULL, NULL, NULL},
    /* a step's error page has no pending request: its path takes no GET, so home */
    {"/login", true, "/login", "username=u&password=secret", CID_PAGE_ERROR, false, "ja", "citizen",
     false, "/account?lang=ja", "/account?lang=en", NULL},
    /* a POST whose path takes GET links to the path, never with the form's values */
    {"/officer/login", true, "/officer/login", "name=alice&password=secret&code=1",
     CID_PAGE_OFFICER_LOGIN, false, "ja", "officer", false, "/officer/login?lang=ja",
     "/officer/login?lang=en", NULL},
    /* the console's home is the console */
    {"/officer/export", true, "/officer/export", "format=xls&csrf=c", CID_PAGE_ERROR, false, "en",
     "officer", false, "/officer?lang=ja", "/officer?lang=en", NULL},
    /* after a logout, the switch goes home: /logout again would act again */
    {"/logout", false, "/logout", "client_id=c&state=s", CID_PAGE_LOGGED_OUT, false, "ja",
     "citizen", false, "/account?lang=ja", "/account?lang=en", NULL},
    /* no page: no frame, but a switch is still remembered */
    {"/account/receipt", false, "/account/receipt", "id=x&lang=en", CID_PAGE_NONE, false, NULL,
     NULL, false, NULL, NULL, "en; Path=/; HttpOnly"},
};

static void test_frame_table(void **state)
{
	struct fixture *f = *state;
	size_t failed = 0;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct cid_request req = {.post = rows[i].post,
					  .form_content_type = rows[i].post,
					  .path = rows[i].path,
					  .now = NOW};
		struct cid_reply r = {0};
		const json_t *frame;
		const json_t *langs;
		const char *cookie;
		bool ok = true;

		assert_int_equal(
		    cid_params_parse_form(&req.params, rows[i].params, strlen(rows[i].params)),
		    CID_OK);
		if (rows[i].page == CID_PAGE_NONE) {
			assert_int_equal(cid_reply_error_json(&r, 404, "not_found", "none"),
					 CID_OK);
		} else {
			json_t *data = rows[i].flow_tokens
					   ? json_pack("{s:s, s:s}", "req", "r", "csrf", "c")
					   : json_object();

			assert_int_equal(
			    cid_reply_page(&r, 200, rows[i].page, data, rows[i].locale), CID_OK);
		}
		assert_int_equal(cid_frame_add(f->ctx, row_of(rows[i].row), &req, &r), CID_OK);

		frame = json_object_get(r.page_data, "frame");
		cookie = lang_cookie(&r, f->cfg);
		if ((cookie == NULL) != (rows[i].cookie == NULL) ||
		    (cookie != NULL &&
		     strncmp(cookie, rows[i].cookie, strlen(rows[i].cookie)) != 0))
			ok = false;
		if (rows[i].who == NULL) {
			ok = ok && frame == NULL;
		} else {
			langs = json_object_get(frame, "langs");
			ok = ok && json_is_true(json_object_get(frame, rows[i].who)) &&
			     json_is_boolean(json_object_get(frame, "citizen")) &&
			     json_is_true(json_object_get(frame, "citizen")) !=
				 json_is_true(json_object_get(frame, "officer")) &&
			     json_is_true(json_object_get(frame, "lang_post")) ==
				 rows[i].lang_post &&
			     json_array_size(langs) == 2 &&
			     strcmp(cid_json_str(json_array_get(langs, 0), "code"), "ja") == 0 &&
			     json_is_true(json_object_get(json_array_get(langs, 0), "current")) ==
				 (strcmp(rows[i].locale, "ja") == 0);
			if (ok && rows[i].lang_post)
				ok = json_object_get(json_array_get(langs, 0), "href") == NULL;
			if (ok && !rows[i].lang_post) {
				const char *ja = cid_json_str(json_array_get(langs, 0), "href");
				const char *en = cid_json_str(json_array_get(langs, 1), "href");

				ok = ja != NULL && en != NULL && strcmp(ja, rows[i].href_ja) == 0 &&
				     strcmp(en, rows[i].href_en) == 0;
				if (!ok)
					print_message("row %zu: hrefs %s %s\n", i, ja ? ja : "-",
						      en ? en : "-");
			}
		}
		if (!ok) {
			print_message("row %zu (%s %s?%s) failed; cookie %s\n", i,
				      rows[i].post ? "POST" : "GET", rows[i].path, rows[i].params,
				      cookie != NULL ? cookie : "-");
			failed++;
		}
		cid_reply_free(&r);
		cid_request_clear(&req);
	}
	if (failed > 0)
		fail_msg("%zu frame rows failed", failed);
}

/* The city's name in the page's language, else the other one's; the footer from the config. */
static void test_frame_city_and_footer(void **state)
{
	struct fixture *f = *state;
	const char *const locales[] = {"ja", "en"};

	for (size_t i = 0; i < 2; i++) {
		struct cid_request req = {.path = "/account", .now = NOW};
		struct cid_reply r = {0};
		const json_t *frame;
		const json_t *c;

		assert_int_equal(
		    cid_reply_page(&r, 200, CID_PAGE_ACCOUNT, json_object(), locales[i]), CID_OK);
		assert_int_equal(cid_frame_add(f->ctx, row_of("/account"), &req, &r), CID_OK);
		frame = json_object_get(r.page_data, "frame");
		/* city_name_en is empty: the English page shows the Japanese name */
		assert_string_equal(cid_json_str(frame, "city_name"), "テスト市");
		assert_null(json_object_get(frame, "logo")); /* none configured */
		assert_string_equal(cid_json_str(frame, "policy_url"),
				    "https://city.example.jp/privacy");
		c = json_object_get(frame, "controller");
		assert_string_equal(cid_json_str(c, "name"), "Aoi City");
		assert_string_equal(cid_json_str(c, "contact"), "Privacy Office");
		assert_string_equal(cid_json_str(c, "email"), "privacy@city.example.jp");
		assert_null(json_object_get(c, "phone")); /* empty: not shown */
		cid_reply_free(&r);
	}
}

/* Without a logo the logo's path answers 404. */
static void test_logo_absent_is_404(void **state)
{
	struct fixture *f = *state;
	struct cid_request req = {.path = CID_LOGO_PATH, .now = NOW};
	struct cid_reply r = {0};

	assert_int_equal(cid_frame_logo(f->ctx, &req, &r), CID_OK);
	assert_int_equal(r.status, 404);
	cid_reply_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_frame_table, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_frame_city_and_footer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_logo_absent_is_404, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
