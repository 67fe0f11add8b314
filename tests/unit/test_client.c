/*
 * client: registration rules (table-driven), authentication of clients at
 * the token endpoint (table-driven), exact redirect URI matching and scopes.
 */
#include "client.h"
#include "support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

struct uri_case {
	const char *uri;
	enum cid_err expect;
};

static const struct uri_case uri_cases[] = {
    {"https://childcare.city.example/callback", CID_OK},
    {"https://childcare.city.example:8443/cb?x=1", CID_OK},
    {"http://127.0.0.1:3000/callback", CID_OK},
    {"http://localhost/cb", CID_OK},
    {"http://[::1]:8080/cb", CID_OK},
    {"http://childcare.city.example/cb", CID_ERR_INVALID}, /* plain http off loopback */
    {"https://childcare.city.example/cb#frag", CID_ERR_INVALID},
    {"https://good.example@evil.example/cb", CID_ERR_INVALID},
    {"ftp://city.example/cb", CID_ERR_INVALID},
    {"/relative/cb", CID_ERR_INVALID},
    {"https:///cb", CID_ERR_INVALID},
    {"https://city.example/c b", CID_ERR_INVALID},
    {"https://city.example/\\cb", CID_ERR_INVALID},
    {"javascript:alert(1)", CID_ERR_INVALID},
    {"https://city.example/\xc3\x28", CID_ERR_UTF8},
    {"http://127.0.0.1.evil.example/cb", CID_ERR_INVALID},
    /* the authority holds the host and a port, nothing else (RFC 3986 §3.2) */
    {"http://[::1]evil.example/cb", CID_ERR_INVALID},
    {"http://127.0.0.1:evil/cb", CID_ERR_INVALID},
    {"https://city.example:443x/cb", CID_ERR_INVALID},
    {"https://city.example:/cb", CID_OK}, /* an empty port is the default one */
    {"http://[::1]/cb", CID_OK},
    {"https://city.example:8443?x=1", CID_OK},
};

static void test_redirect_uri_rules(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(uri_cases) / sizeof(uri_cases[0]); i++) {
		enum cid_err got = cid_client_check_uri(uri_cases[i].uri);
		if (got != uri_cases[i].expect)
			fail_msg("%s: got %s", uri_cases[i].uri, cid_strerror(got));
	}
	char *long_uri = malloc(CID_MAX_URI + 32);
	assert_non_null(long_uri);
	strcpy(long_uri, "https://city.example/");
	memset(long_uri + strlen(long_uri), 'a', CID_MAX_URI);
	long_uri[CID_MAX_URI + 20] = '\0';
	assert_int_equal(cid_client_check_uri(long_uri), CID_ERR_TOOBIG);
	free(long_uri);
}

struct reg_case {
	const char *name;
	const char *client_id;
	bool is_public;
	const char *uris[3];
	const char *scopes, *grants, *alg, *subject;
	enum cid_err expect;
};

static const struct reg_case reg_cases[] = {
    {"confidential defaults",
     "rp1",
     false,
     {"https://a.example/cb"},
     NULL,
     NULL,
     NULL,
     NULL,
     CID_OK},
    {"public with code",
     "spa",
     true,
     {"http://127.0.0.1:9/cb"},
     "openid profile",
     NULL,
     NULL,
     NULL,
     CID_OK},
    {"public cannot use client_credentials",
     "spa2",
     true,
     {"http://127.0.0.1:9/cb"},
     NULL,
     "client_credentials",
     NULL,
     NULL,
     CID_ERR_INVALID},
    {"machine client without redirect",
     "batch",
     false,
     {NULL},
     "city",
     "client_credentials",
     NULL,
     NULL,
     CID_OK},
    {"code client needs a redirect", "rp2", false, {NULL}, NULL, NULL, NULL, NULL, CID_ERR_INVALID},
    {"unknown scope",
     "rp3",
     false,
     {"https://a.example/cb"},
     "openid admin",
     NULL,
     NULL,
     NULL,
     CID_ERR_INVALID},
    {"code client needs openid",
     "rp4",
     false,
     {"https://a.example/cb"},
     "profile",
     NULL,
     NULL,
     NULL,
     CID_ERR_INVALID},
    {"unknown grant",
     "rp5",
     false,
     {"https://a.example/cb"},
     NULL,
     "password",
     NULL,
     NULL,
     CID_ERR_INVALID},
    {"refresh without code",
     "rp6",
     false,
     {"https://a.example/cb"},
     NULL,
     "refresh_token client_credentials",
     NULL,
     NULL,
     CID_ERR_INVALID},
    {"RS256 allowed", "rp7", false, {"https://a.example/cb"}, NULL, NULL, "RS256", NULL, CID_OK},
    {"HS256 refused",
     "rp8",
     false,
     {"https://a.example/cb"},
     NULL,
     NULL,
     "HS256",
     NULL,
     CID_ERR_INVALID},
    {"none refused",
     "rp9",
     false,
     {"https://a.example/cb"},
     NULL,
     NULL,
     "none",
     NULL,
     CID_ERR_INVALID},
    {"pairwise on two hosts refused",
     "rp10",
     false,
     {"https://a.example/cb", "https://b.example/cb"},
     NULL,
     NULL,
     NULL,
     NULL,
     CID_ERR_INVALID},
    {"public subject on two hosts",
     "rp11",
     false,
     {"https://a.example/cb", "https://b.example/cb"},
     NULL,
     NULL,
     NULL,
     "public",
     CID_OK},
    {"bad subject type",
     "rp12",
     false,
     {"https://a.example/cb"},
     NULL,
     NULL,
     NULL,
     "global",
     CID_ERR_INVALID},
    {"bad client id",
     "rp 13",
     false,
     {"https://a.example/cb"},
     NULL,
     NULL,
     NULL,
     NULL,
     CID_ERR_INVALID},
    {"fragment in redirect",
     "rp14",
     false,
     {"https://a.example/cb#x"},
     NULL,
     NULL,
     NULL,
     NULL,
     CID_ERR_INVALID},
    {"duplicate client id",
     "rp1",
     false,
     {"https://a.example/cb"},
     NULL,
     NULL,
     NULL,
     NULL,
     CID_ERR_EXISTS},
};

static void test_registration_rules(void **state)
{
	char dir[256];
	struct cid_store *s = cid_test_store_open(dir);

	(void)state;
	for (size_t i = 0; i < sizeof(reg_cases) / sizeof(reg_cases[0]); i++) {
		const struct reg_case *c = &reg_cases[i];
		size_t n = 0;
		while (n < 3 && c->uris[n] != NULL)
			n++;
		struct cid_client_spec spec = {.client_id = c->client_id,
					       .name = c->name,
					       .is_public = c->is_public,
					       .redirect_uris = c->uris,
					       .n_redirect_uris = n,
					       .scopes = c->scopes,
					       .grant_types = c->grants,
					       .id_token_alg = c->alg,
					       .subject_type = c->subject};
		char *id = NULL, *secret = NULL;
		enum cid_err got = cid_client_add(s, &spec, 1000, &id, &secret);
		if (got != c->expect)
			fail_msg("%s: got %s", c->name, cid_strerror(got));
		if (got == CID_OK) {
			assert_string_equal(id, c->client_id);
			if (c->is_public)
				assert_null(secret);
			else
				assert_int_equal(strlen(secret), CID_TOKEN_CHARS);
		}
		free(id);
		free(secret);
	}
	cid_test_store_close(s, dir);
}

/* One confidential and one public client, for the authentication table. */
static char *add_pair(struct cid_store *s)
{
	const char *uris[] = {"https://a.example/cb"};
	struct cid_client_spec conf = {
	    .client_id = "conf", .redirect_uris = uris, .n_redirect_uris = 1};
	struct cid_client_spec pub = {
	    .client_id = "pub", .is_public = true, .redirect_uris = uris, .n_redirect_uris = 1};
	char *id = NULL, *secret = NULL, *none = NULL;

	assert_int_equal(cid_client_add(s, &conf, 1, &id, &secret), CID_OK);
	free(id);
	assert_int_equal(cid_client_add(s, &pub, 1, &id, &none), CID_OK);
	free(id);
	assert_null(none);
	return secret;
}

static void test_client_authentication(void **state)
{
	char dir[256];
	struct cid_store *s = cid_test_store_open(dir);
	char *secret = add_pair(s);
	char wrong[CID_TOKEN_CHARS + 1];

	(void)state;
	memcpy(wrong, secret, sizeof(wrong));
	wrong[0] = wrong[0] == 'A' ? 'B' : 'A';

	struct {
		const char *id, *secret;
		enum cid_err expect;
	} rows[] = {
	    {"conf", secret, CID_OK},
	    {"conf", wrong, CID_ERR_DENIED},
	    {"conf", NULL, CID_ERR_DENIED},
	    {"conf", "", CID_ERR_DENIED},
	    {"pub", NULL, CID_OK},
	    {"pub", "anything", CID_ERR_DENIED}, /* a public client has no secret to send */
	    {"nobody", secret, CID_ERR_DENIED},
	    {"bad id!", secret, CID_ERR_DENIED},
	    {NULL, secret, CID_ERR_DENIED},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct cid_client *c = NULL;
		enum cid_err got = cid_client_authenticate(s, rows[i].id, rows[i].secret, &c);
		if (got != rows[i].expect)
			fail_msg("row %zu: got %s", i, cid_strerror(got));
		if (got == CID_OK)
			assert_string_equal(c->client_id, rows[i].id);
		cid_client_free(c);
	}
	free(secret);
	cid_test_store_close(s, dir);
}

static void test_secret_stored_only_as_hash(void **state)
{
	char dir[256];
	struct cid_store *s = cid_test_store_open(dir);
	char *secret = add_pair(s);
	json_t *shown = NULL, *list = NULL;
	struct cid_txn *txn = NULL;
	struct cid_str raw;

	(void)state;
	assert_int_equal(cid_store_read_begin(s, &txn), CID_OK);
	assert_int_equal(cid_txn_get(txn, CID_DB_CLIENTS, cid_str_of("conf"), &raw), CID_OK);
	assert_null(memmem(raw.ptr, raw.len, secret, strlen(secret)));
	cid_store_read_end(txn);
	assert_int_equal(cid_client_show(s, "conf", &shown), CID_OK);
	assert_null(json_object_get(shown, "secret_hash"));
	assert_int_equal(cid_client_list(s, &list), CID_OK);
	assert_int_equal(json_array_size(list), 2);
	assert_null(json_object_get(json_array_get(list, 0), "secret_hash"));
	json_decref(shown);
	json_decref(list);
	free(secret);
	cid_test_store_close(s, dir);
}

static void test_redirect_exact_match_and_scopes(void **state)
{
	char dir[256];
	struct cid_store *s = cid_test_store_open(dir);
	const char *uris[] = {"https://a.example/cb"};
	const char *post[] = {"https://a.example/bye"};
	struct cid_client_spec spec = {.client_id = "rp",
				       .redirect_uris = uris,
				       .n_redirect_uris = 1,
				       .post_logout_uris = post,
				       .n_post_logout_uris = 1,
				       .scopes = "openid profile city"};
	char *id = NULL, *secret = NULL;
	struct cid_client *c = NULL;

	(void)state;
	assert_int_equal(cid_client_add(s, &spec, 1, &id, &secret), CID_OK);
	assert_int_equal(cid_client_get(s, "rp", &c), CID_OK);
	assert_true(cid_client_redirect_ok(c, "https://a.example/cb"));
	assert_false(cid_client_redirect_ok(c, "https://a.example/cb/"));
	assert_false(cid_client_redirect_ok(c, "https://a.example/cb?x=1"));
	assert_false(cid_client_redirect_ok(c, "HTTPS://a.example/cb"));
	assert_false(cid_client_redirect_ok(c, NULL));
	assert_true(cid_client_post_logout_ok(c, "https://a.example/bye"));
	assert_false(cid_client_post_logout_ok(c, "https://a.example/cb"));
	assert_true(cid_client_scope_ok(c, "openid profile"));
	assert_true(cid_client_scope_ok(c, "city  openid"));
	assert_false(cid_client_scope_ok(c, "openid email"));
	assert_false(cid_client_scope_ok(c, "openid prof"));
	assert_true(c->pairwise);
	assert_string_equal(c->sector, "a.example");
	assert_string_equal(c->id_token_alg, "ES256");
	assert_true(c->allow_code && c->allow_refresh && !c->allow_client_credentials);
	cid_client_free(c);
	assert_int_equal(cid_client_remove(s, "rp"), CID_OK);
	assert_int_equal(cid_client_get(s, "rp", &c), CID_ERR_NOTFOUND);
	assert_int_equal(cid_client_remove(s, "rp"), CID_ERR_NOTFOUND);
	free(id);
	free(secret);
	cid_test_store_close(s, dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_redirect_uri_rules),
	    cmocka_unit_test(test_registration_rules),
	    cmocka_unit_test(test_client_authentication),
	    cmocka_unit_test(test_secret_stored_only_as_hash),
	    cmocka_unit_test(test_redirect_exact_match_and_scopes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
