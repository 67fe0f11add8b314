/*
 * release: the single release point. Table-driven: which of a citizen's
 * claims reach a client for a granted scope and claims request.
 */
#include "release.h"
#include "support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static const char citizen_json[] =
    "{\"id\":\"00000000-0000-4000-8000-000000000001\",\"username\":\"hanako\","
    "\"claims\":{\"given_name\":\"花子\",\"family_name\":\"山田\","
    "\"family_name#ja-Kana-JP\":\"ヤマダ\",\"email\":\"hanako@example.jp\","
    "\"email_verified\":true,\"phone_number\":\"+81-242-00-0000\","
    "\"resident_district\":\"Aoi\",\"household_size\":3,"
    "\"address\":{\"locality\":\"Aizuwakamatsu\"},\"bogus_member\":\"x\"}}";

struct release_case {
	const char *name;
	const char *client_scopes;
	const char *scope;
	const char *claims_request; /* JSON or NULL */
	enum cid_release_target target;
	const char *expect; /* space-separated claim names released, exactly */
};

static const struct release_case cases[] = {
    {"openid only releases nothing", "openid profile", "openid", NULL, CID_RELEASE_USERINFO, ""},
    {"profile with language tags", "openid profile", "openid profile", NULL, CID_RELEASE_USERINFO,
     "given_name family_name family_name#ja-Kana-JP"},
    {"email", "openid email", "openid email", NULL, CID_RELEASE_ID_TOKEN, "email email_verified"},
    {"city", "openid city", "openid city", NULL, CID_RELEASE_USERINFO,
     "resident_district household_size"},
    {"phone and address", "openid phone address", "openid phone address", NULL,
     CID_RELEASE_USERINFO, "phone_number address"},
    {"claims request names an allowed claim", "openid email", "openid",
     "{\"userinfo\":{\"email\":null}}", CID_RELEASE_USERINFO, "email"},
    {"claims request for other target ignored", "openid email", "openid",
     "{\"id_token\":{\"email\":null}}", CID_RELEASE_USERINFO, ""},
    {"claims request for id_token", "openid email", "openid",
     "{\"id_token\":{\"email\":{\"essential\":true}}}", CID_RELEASE_ID_TOKEN, "email"},
    {"claims request outside client's scopes", "openid profile", "openid",
     "{\"userinfo\":{\"email\":null}}", CID_RELEASE_USERINFO, ""},
    {"claims request for unknown claim", "openid profile", "openid",
     "{\"userinfo\":{\"bogus_member\":null}}", CID_RELEASE_USERINFO, ""},
    {"unknown stored member never released", "openid profile email city phone address",
     "openid profile email city phone address", NULL, CID_RELEASE_USERINFO,
     "given_name family_name family_name#ja-Kana-JP email email_verified phone_number "
     "resident_district household_size address"},
};

static size_t count_words(const char *s)
{
	size_t n = 0;

	for (const char *p = s; *p != '\0';) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		n++;
		while (*p != '\0' && *p != ' ')
			p++;
	}
	return n;
}

static void test_release_table(void **state)
{
	json_error_t jerr;
	json_t *citizen = json_loads(citizen_json, 0, &jerr);

	(void)state;
	assert_non_null(citizen);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct release_case *c = &cases[i];
		static char rp1[] = "rp1";
		struct cid_client client = {.client_id = rp1};
		json_t *req =
		    c->claims_request == NULL ? NULL : json_loads(c->claims_request, 0, &jerr);
		json_t *out = json_object();
		char word[64];

		client.scopes = (char *)(uintptr_t)c->client_scopes;
		assert_int_equal(
		    cid_release_claims(&client, citizen, c->scope, req, c->target, out), CID_OK);
		if (json_object_size(out) != count_words(c->expect))
			fail_msg("%s: released %zu claims, expected '%s'", c->name,
				 json_object_size(out), c->expect);
		for (const char *p = c->expect; *p != '\0';) {
			size_t n = strcspn(p, " ");

			assert_true(n < sizeof(word));
			memcpy(word, p, n);
			word[n] = '\0';
			if (json_object_get(out, word) == NULL)
				fail_msg("%s: %s not released", c->name, word);
			p += n;
			while (*p == ' ')
				p++;
		}
		json_decref(req);
		json_decref(out);
	}
	json_decref(citizen);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_release_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
