/*
 * oidc: table-driven tests of authorization-request validation
 * (cid_oidc_authz_check) and client authentication parsing
 * (cid_oidc_parse_basic). One row per case: the input and the expected error.
 */
#include "cid.h"
#include "idp.h"
#include "oidc.h"
#include "oidc_int.h"
#include "str.h"
#include "support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define CHALLENGE "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
#define LONG_300                                                                                   \
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
	"xxxxxxxxxxxxxxxxxx"

/* -Wwrite-strings: the client struct holds mutable strings, so give it arrays */
static char s1[] = "rp1";
static char s2[] = "RP one";
static char s3[] = "openid profile email city";
static char s4[] = "rp.example";
static char s5[] = "spa";
static char s6[] = "SPA";
static char s7[] = "openid profile";
static char s8[] = "rp.example";
static char s9[] = "svc";
static char s10[] = "service";
static char s11[] = "city";
static char uri1[] = "https://rp.example/cb";
static char *uris[] = {uri1};

static struct cid_client confidential = {
    .client_id = s1,
    .name = s2,
    .redirect_uris = uris,
    .n_redirect_uris = 1,
    .scopes = s3,
    .allow_code = true,
    .allow_refresh = true,
    .id_token_alg = "ES256",
    .pairwise = true,
    .sector = s4,
};

static struct cid_client public_client = {
    .client_id = s5,
    .name = s6,
    .is_public = true,
    .redirect_uris = uris,
    .n_redirect_uris = 1,
    .scopes = s7,
    .allow_code = true,
    .id_token_alg = "ES256",
    .pairwise = true,
    .sector = s8,
};

static struct cid_client cc_only = {
    .client_id = s9,
    .name = s10,
    .scopes = s11,
    .allow_client_credentials = true,
    .id_token_alg = "ES256",
};

struct authz_case {
	const char *name;
	const struct cid_client *client;
	const char *query; /* form-encoded parameters */
	const char *error; /* NULL: valid */
};

/* "あ" (3 bytes of UTF-8) percent-encoded, 10, 100 and 300 times */
#define KANA	 "%E3%81%82"
#define KANA_10	 KANA KANA KANA KANA KANA KANA KANA KANA KANA KANA
#define KANA_100 KANA_10 KANA_10 KANA_10 KANA_10 KANA_10 KANA_10 KANA_10 KANA_10 KANA_10 KANA_10
#define KANA_300 KANA_100 KANA_100 KANA_100

#define BASE "client_id=rp1&redirect_uri=https%3A%2F%2Frp.example%2Fcb&response_type=code"

static const struct authz_case authz_cases[] = {
    {"minimal valid", &confidential, BASE "&scope=openid", NULL},
    {"all scopes valid", &confidential, BASE "&scope=openid+profile+email+city&state=s&nonce=n",
     NULL},
    {"pkce S256 valid", &confidential,
     BASE "&scope=openid&code_challenge=" CHALLENGE "&code_challenge_method=S256", NULL},
    {"public with pkce valid", &public_client,
     "client_id=spa&redirect_uri=x&response_type=code&scope=openid&code_challenge=" CHALLENGE
     "&code_challenge_method=S256",
     NULL},
    {"public without pkce", &public_client,
     "client_id=spa&redirect_uri=x&response_type=code&scope=openid", "invalid_request"},
    {"pkce plain refused", &confidential,
     BASE "&scope=openid&code_challenge=" CHALLENGE "&code_challenge_method=plain",
     "invalid_request"},
    {"pkce method missing", &confidential, BASE "&scope=openid&code_challenge=" CHALLENGE,
     "invalid_request"},
    {"pkce method without challenge", &confidential,
     BASE "&scope=openid&code_challenge_method=S256", "invalid_request"},
    {"pkce challenge too short", &confidential,
     BASE "&scope=openid&code_challenge=abc&code_challenge_method=S256", "invalid_request"},
    {"pkce challenge bad alphabet", &confidential,
     BASE "&scope=openid&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM"
	  "&code_challenge_method=S256",
     "invalid_request"},
    /* RFC 4648 §3.5: the last character of a 32-byte value carries two zero bits;
     * a challenge with them set is no SHA-256 output */
    {"pkce challenge not canonical", &confidential,
     BASE "&scope=openid&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN"
	  "&code_challenge_method=S256",
     "invalid_request"},
    {"response_type missing", &confidential, "client_id=rp1&redirect_uri=x&scope=openid",
     "invalid_request"},
    {"implicit refused", &confidential,
     "client_id=rp1&redirect_uri=x&response_type=token&scope=openid", "unsupported_response_type"},
    {"hybrid refused", &confidential,
     "client_id=rp1&redirect_uri=x&response_type=code+id_token&scope=openid",
     "unsupported_response_type"},
    {"client without code grant", &cc_only,
     "client_id=svc&redirect_uri=x&response_type=code&scope=openid", "unauthorized_client"},
    {"scope missing", &confidential, BASE, "invalid_scope"},
    {"scope without openid", &confidential, BASE "&scope=profile", "invalid_scope"},
    {"scope not allowed", &confidential, BASE "&scope=openid+phone", "invalid_scope"},
    {"scope unknown", &confidential, BASE "&scope=openid+admin", "invalid_scope"},
    {"response_mode fragment refused", &confidential, BASE "&scope=openid&response_mode=fragment",
     "invalid_request"},
    {"response_mode query ok", &confidential, BASE "&scope=openid&response_mode=query", NULL},
    {"prompt none ok", &confidential, BASE "&scope=openid&prompt=none", NULL},
    {"prompt login consent ok", &confidential, BASE "&scope=openid&prompt=login+consent", NULL},
    {"prompt none with login", &confidential, BASE "&scope=openid&prompt=none+login",
     "invalid_request"},
    {"prompt unknown", &confidential, BASE "&scope=openid&prompt=bogus", "invalid_request"},
    {"max_age ok", &confidential, BASE "&scope=openid&max_age=0", NULL},
    {"max_age negative", &confidential, BASE "&scope=openid&max_age=-1", "invalid_request"},
    {"max_age text", &confidential, BASE "&scope=openid&max_age=soon", "invalid_request"},
    {"max_age overflow", &confidential, BASE "&scope=openid&max_age=99999999999999999999",
     "invalid_request"},
    {"request object refused", &confidential, BASE "&scope=openid&request=eyJ",
     "request_not_supported"},
    {"request_uri refused", &confidential, BASE "&scope=openid&request_uri=https%3A%2F%2Fx",
     "request_uri_not_supported"},
    {"claims json ok", &confidential,
     BASE "&scope=openid&claims=%7B%22userinfo%22%3A%7B%22email%22%3Anull%7D%7D", NULL},
    {"claims not json", &confidential, BASE "&scope=openid&claims=%7Bnope", "invalid_request"},
    /* RFC 9470 §3, OIDC Core §5.5.1.1: a level we do not offer cannot be met */
    {"acr_values ours", &confidential, BASE "&scope=openid&acr_values=urn%3Acivicid%3Aacr%3Amfa",
     NULL},
    {"acr_values none of ours", &confidential,
     BASE "&scope=openid&acr_values=urn%3Aexample%3Aloa%3A4+0",
     "unmet_authentication_requirements"},
    {"acr_values one of ours among others", &confidential,
     BASE "&scope=openid&acr_values=urn%3Aexample%3Aloa%3A4+urn%3Acivicid%3Aacr%3Apassword", NULL},
    {"essential acr claim none of ours", &confidential,
     BASE "&scope=openid&claims=%7B%22id_token%22%3A%7B%22acr%22%3A%7B%22essential%22%3Atrue%2C"
	  "%22values%22%3A%5B%22urn%3Aexample%3Aloa%3A4%22%5D%7D%7D%7D",
     "unmet_authentication_requirements"},
    {"voluntary acr claim none of ours", &confidential,
     BASE "&scope=openid&claims=%7B%22id_token%22%3A%7B%22acr%22%3A%7B%22"
	  "values%22%3A%5B%22urn%3Aexample%3Aloa%3A4%22%5D%7D%7D%7D",
     NULL},
    {"claims not object", &confidential, BASE "&scope=openid&claims=%5B%5D", "invalid_request"},
    {"state too long", &confidential,
     BASE "&scope=openid&state=" LONG_300 LONG_300 LONG_300 LONG_300, "invalid_request"},
    {"nonce too long", &confidential, BASE "&scope=openid&nonce=" LONG_300 LONG_300,
     "invalid_request"},
    {"login_hint too long", &confidential, BASE "&scope=openid&login_hint=" LONG_300,
     "invalid_request"},
    /* OIDC4IDA §8: purpose is 3 to 300 characters (characters, not bytes) */
    {"purpose ok", &confidential, BASE "&scope=openid&purpose=To+check+your+address", NULL},
    {"purpose 3 characters", &confidential, BASE "&scope=openid&purpose=abc", NULL},
    {"purpose 2 characters", &confidential, BASE "&scope=openid&purpose=ab", "invalid_request"},
    /* RFC 6749 §3.1: a parameter sent without a value is treated as omitted */
    {"purpose empty is none", &confidential, BASE "&scope=openid&purpose=", NULL},
    {"purpose 300 kana (900 bytes)", &confidential, BASE "&scope=openid&purpose=" KANA_300, NULL},
    {"purpose 301 kana", &confidential, BASE "&scope=openid&purpose=" KANA_300 KANA,
     "invalid_request"},
    {"purpose too long in ascii", &confidential, BASE "&scope=openid&purpose=" LONG_300 LONG_300,
     "invalid_request"},
    {"purpose with a line break", &confidential, BASE "&scope=openid&purpose=one%0Atwo",
     "invalid_request"},
    {"purpose with a C1 control", &confidential, BASE "&scope=openid&purpose=abc%C2%85def",
     "invalid_request"},
};

static void test_authz_check_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(authz_cases) / sizeof(authz_cases[0]); i++) {
		const struct authz_case *c = &authz_cases[i];
		struct cid_params p = {0};
		struct cid_oauth_error err = {0};
		json_t *auth = NULL;
		enum cid_err rc;

		assert_int_equal(cid_params_parse_form(&p, c->query, strlen(c->query)), CID_OK);
		rc = cid_oidc_authz_check(c->client, &p, "ja", &auth, &err);
		if (c->error == NULL) {
			if (rc != CID_OK)
				fail_msg("%s: expected valid, got %s (%s)", c->name, err.error,
					 err.description);
			assert_non_null(auth);
			assert_non_null(json_object_get(auth, "scope"));
		} else {
			if (rc != CID_ERR_INVALID || err.error == NULL ||
			    strcmp(err.error, c->error) != 0)
				fail_msg("%s: expected %s, got rc=%d error=%s", c->name, c->error,
					 rc, err.error == NULL ? "(none)" : err.error);
			assert_null(auth);
			assert_non_null(err.description);
		}
		json_decref(auth);
		cid_params_clear(&p);
	}
}

static void test_authz_check_normalises(void **state)
{
	const char *q = BASE "&scope=openid+profile&state=xyz&nonce=n1&prompt=login&max_age=30"
			     "&ui_locales=en-US+ja&login_hint=hanako";
	struct cid_params p = {0};
	struct cid_oauth_error err = {0};
	json_t *auth = NULL;

	(void)state;
	assert_int_equal(cid_params_parse_form(&p, q, strlen(q)), CID_OK);
	assert_int_equal(cid_oidc_authz_check(&confidential, &p, "ja", &auth, &err), CID_OK);
	assert_string_equal(json_string_value(json_object_get(auth, "client_id")), "rp1");
	assert_string_equal(json_string_value(json_object_get(auth, "state")), "xyz");
	assert_string_equal(json_string_value(json_object_get(auth, "nonce")), "n1");
	assert_string_equal(json_string_value(json_object_get(auth, "ui_locale")), "en");
	assert_true(json_is_true(json_object_get(auth, "prompt_login")));
	assert_true(json_is_false(json_object_get(auth, "prompt_none")));
	assert_int_equal(json_integer_value(json_object_get(auth, "max_age")), 30);
	assert_string_equal(json_string_value(json_object_get(auth, "login_hint")), "hanako");
	assert_null(json_object_get(auth, "purpose"));
	json_decref(auth);
	cid_params_clear(&p);
}

/* The level a request requires, from acr_values and an essential acr claim. */
static void test_acr_required_table(void **state)
{
	static const struct {
		const char *acr_values; /* NULL: absent */
		const char *claims;	/* JSON, NULL: absent */
		enum cid_err rc;
		int level;
	} rows[] = {
	    {NULL, NULL, CID_OK, 0},
	    {"urn:civicid:acr:password", NULL, CID_OK, CID_LEVEL_PASSWORD},
	    {"urn:civicid:acr:mfa", NULL, CID_OK, CID_LEVEL_MFA},
	    /* either is accepted: the lower one is required */
	    {"urn:civicid:acr:mfa urn:civicid:acr:password", NULL, CID_OK, CID_LEVEL_PASSWORD},
	    {"  urn:x   urn:civicid:acr:mfa ", NULL, CID_OK, CID_LEVEL_MFA},
	    {"urn:civicid:acr:high", NULL, CID_OK, CID_LEVEL_HIGH},
	    {"urn:civicid:acr:high urn:civicid:acr:mfa", NULL, CID_OK, CID_LEVEL_MFA},
	    {"urn:x 1 urn:civicid:acr:mfax", NULL, CID_ERR_INVALID, 0},
	    {" ", NULL, CID_ERR_INVALID, 0},
	    /* the claims parameter: only an essential acr with values asks */
	    {NULL,
	     "{\"id_token\":{\"acr\":{\"essential\":true,\"values\":[\"urn:civicid:acr:mfa\"]}}}",
	     CID_OK, CID_LEVEL_MFA},
	    {NULL,
	     "{\"id_token\":{\"acr\":{\"essential\":true,\"value\":\"urn:civicid:acr:mfa\"}}}",
	     CID_OK, CID_LEVEL_MFA},
	    {NULL,
	     "{\"id_token\":{\"acr\":{\"essential\":true,\"values\":[\"urn:x\",\"urn:civicid:acr:"
	     "password\",\"urn:civicid:acr:mfa\"]}}}",
	     CID_OK, CID_LEVEL_PASSWORD},
	    {NULL, "{\"id_token\":{\"acr\":{\"essential\":true,\"values\":[\"urn:x\",7,null]}}}",
	     CID_ERR_INVALID, 0},
	    {NULL, "{\"id_token\":{\"acr\":{\"essential\":true,\"values\":[]}}}", CID_ERR_INVALID,
	     0},
	    {NULL, "{\"id_token\":{\"acr\":{\"essential\":true}}}", CID_OK, 0},
	    {NULL, "{\"id_token\":{\"acr\":{\"values\":[\"urn:civicid:acr:mfa\"]}}}", CID_OK, 0},
	    {NULL, "{\"id_token\":{\"acr\":{\"essential\":\"true\",\"values\":[\"urn:x\"]}}}",
	     CID_OK, 0},
	    {NULL, "{\"id_token\":{\"acr\":null}}", CID_OK, 0},
	    {NULL, "{\"userinfo\":{\"acr\":{\"essential\":true,\"values\":[\"urn:x\"]}}}", CID_OK,
	     0},
	    /* both: the higher requirement wins */
	    {"urn:civicid:acr:password",
	     "{\"id_token\":{\"acr\":{\"essential\":true,\"values\":[\"urn:civicid:acr:mfa\"]}}}",
	     CID_OK, CID_LEVEL_MFA},
	    {"urn:civicid:acr:mfa",
	     "{\"id_token\":{\"acr\":{\"essential\":true,\"value\":\"urn:civicid:acr:password\"}}}",
	     CID_OK, CID_LEVEL_MFA},
	    {"urn:civicid:acr:mfa", "{\"id_token\":{\"acr\":{\"essential\":true,\"value\":\"x\"}}}",
	     CID_ERR_INVALID, 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		json_t *auth = json_object();
		int level = -1;
		enum cid_err rc;

		assert_non_null(auth);
		if (rows[i].acr_values != NULL)
			assert_int_equal(json_object_set_new(auth, "acr_values",
							     json_string(rows[i].acr_values)),
					 0);
		if (rows[i].claims != NULL)
			assert_int_equal(json_object_set_new(auth, "claims",
							     json_loads(rows[i].claims, 0, NULL)),
					 0);
		rc = oidc_acr_required(auth, &level);
		if (rc != rows[i].rc || (rc == CID_OK && level != rows[i].level))
			fail_msg("row %zu (%s, %s): expected %s level %d, got %s level %d", i,
				 rows[i].acr_values == NULL ? "-" : rows[i].acr_values,
				 rows[i].claims == NULL ? "-" : rows[i].claims,
				 cid_strerror(rows[i].rc), rows[i].level, cid_strerror(rc), level);
		json_decref(auth);
	}
}

struct basic_case {
	const char *header;
	enum cid_err rc;
	const char *id;
	const char *secret;
};

/* base64 of "rp1:s3cret", "a%3Ab:c%2Bd" (urlencoded id with a colon), ":x", "nocolon" */
static const struct basic_case basic_cases[] = {
    {"Basic cnAxOnMzY3JldA==", CID_OK, "rp1", "s3cret"},
    {"basic cnAxOnMzY3JldA==", CID_OK, "rp1", "s3cret"},
    {"Basic YSUzQWI6YyUyQmQ=", CID_OK, "a:b", "c+d"},
    {"Basic cnAxOg==", CID_OK, "rp1", ""},
    {"Basic Ong=", CID_ERR_INVALID, NULL, NULL},
    {"Basic bm9jb2xvbg==", CID_ERR_INVALID, NULL, NULL},
    {"Basic !!!!", CID_ERR_INVALID, NULL, NULL},
    {"Basic abc", CID_ERR_INVALID, NULL, NULL},
    {"Basic ", CID_ERR_INVALID, NULL, NULL},
    {"Bearer cnAxOnMzY3JldA==", CID_ERR_INVALID, NULL, NULL},
    {"Basic YSUyOjE=", CID_ERR_INVALID, NULL, NULL}, /* "a%2:1": bad escape */
};

static void test_parse_basic_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(basic_cases) / sizeof(basic_cases[0]); i++) {
		const struct basic_case *c = &basic_cases[i];
		char *id = NULL;
		char *secret = NULL;
		enum cid_err rc = cid_oidc_parse_basic(c->header, &id, &secret);

		if (rc != c->rc)
			fail_msg("%s: expected rc %d, got %d", c->header, c->rc, rc);
		if (c->rc == CID_OK) {
			assert_string_equal(id, c->id);
			assert_string_equal(secret, c->secret);
		} else {
			assert_null(id);
			assert_null(secret);
		}
		free(id);
		free(secret);
	}
}

static void test_parse_basic_oversize_rejected(void **state)
{
	size_t n = CID_MAX_HEADER + 16;
	char *h = malloc(n + 1);

	(void)state;
	assert_non_null(h);
	memcpy(h, "Basic ", 6);
	memset(h + 6, 'A', n - 6);
	h[n] = '\0';
	char *id = NULL;
	char *secret = NULL;
	assert_int_equal(cid_oidc_parse_basic(h, &id, &secret), CID_ERR_TOOBIG);
	free(h);
}

/*
 * The discovery document announces exactly the rows of the endpoint table
 * that have a metadata name, each as the issuer followed by the row's path,
 * so the router and the document cannot disagree; an issuer too long for
 * those URLs is refused.
 */
static void test_discovery_is_built_from_the_table(void **state)
{
	const char *iss = "https://id.city.example/sso";
	const struct cid_endpoint *rows;
	size_t n = 0;
	size_t named = 0;
	size_t announced = 0;
	char *doc = NULL;
	size_t len = 0;
	char *big;
	json_t *d;
	const char *key;
	json_t *v;

	(void)state;
	assert_int_equal(cid_oidc_discovery_build(iss, &doc, &len), CID_OK);
	assert_int_equal(len, strlen(doc));
	d = json_loadb(doc, len, JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(d);
	rows = cid_oidc_endpoints(&n);
	for (size_t i = 0; i < n; i++) {
		char url[256];

		if (rows[i].discovery == NULL)
			continue;
		named++;
		snprintf(url, sizeof(url), "%s%s", iss, rows[i].path);
		if (!json_is_string(json_object_get(d, rows[i].discovery)) ||
		    strcmp(json_string_value(json_object_get(d, rows[i].discovery)), url) != 0)
			fail_msg("%s is not %s", rows[i].discovery, url);
	}
	json_object_foreach(d, key, v)
	{
		size_t kl = strlen(key);

		if ((kl > 9 && strcmp(key + kl - 9, "_endpoint") == 0) ||
		    strcmp(key, "jwks_uri") == 0)
			announced++;
	}
	assert_int_equal(announced, named);
	assert_int_equal(named, 7);
	json_decref(d);
	free(doc);
	/* an issuer of 2,043 characters: no endpoint URL fits in CID_MAX_URI */
	big = malloc(2044);
	assert_non_null(big);
	memset(big, 'a', 2043);
	memcpy(big, "https://", 8);
	big[2043] = '\0';
	doc = NULL;
	assert_int_equal(cid_oidc_discovery_build(big, &doc, &len), CID_ERR_TOOBIG);
	assert_null(doc);
	free(big);
}

/*
 * The consent screen shows the marks of the stored content (release.c's
 * "verified") as data, never deciding them: a marked attribute, asked or
 * shown, carries {by, trust_framework}, by being the upstream's label in
 * the page's language, or its issuer once no registration has it; an
 * unmarked attribute carries nothing.
 */
static void test_consent_screen_marks_verified(void **state)
{
	static char svc_id[] = "svc";
	static char svc_name[] = "Childcare";
	static const struct cid_client svc = {.client_id = svc_id, .name = svc_name};
	static const char auth_text[] =
	    "{\"consent\":[{\"purpose\":\"fees\",\"ask\":[\"given_name\",\"family_name\"],"
	    "\"info\":[],\"verified\":{\"family_name\":{\"issuer\":\"https://card.example.jp\","
	    "\"trust_framework\":\"jp_card\"}}},"
	    "{\"purpose\":\"other\",\"ask\":[],\"info\":[\"birthdate\",\"email\"],"
	    "\"verified\":{\"birthdate\":{\"issuer\":\"https://gone.example.jp\","
	    "\"trust_framework\":\"jp_register\"}}}]}";

	static const struct {
		const char *locale;
		const char *by;
	} rows[] = {{"en", "My Number Card"}, {"ja", "マイナンバーカード"}};
	struct cid_idp_spec card = {
	    .name = "card",
	    .issuer = "https://card.example.jp",
	    .client_id = "civicid",
	    .client_secret = "upstream-secret",
	    .scope = "openid",
	    .display = {.label_ja = "マイナンバーカード", .label_en = "My Number Card"},
	};
	char dir[256];
	struct cid_config *cfg = cid_test_config(dir);
	struct cid_ctx *ctx = NULL;
	struct cid_policyref *pref;
	json_t *auth = json_loads(auth_text, 0, NULL);

	(void)state;
	assert_non_null(auth);
	cid_test_policies(cfg, dir, "svc.policy", cid_test_svc_policy);
	assert_int_equal(cid_ctx_open(cfg, 1800000000, NULL, &ctx), CID_OK);
	assert_int_equal(cid_idp_add(cid_ctx_store(ctx), &card, 1800000000, NULL, 0), CID_OK);
	pref = cid_ctx_policies_acquire(ctx);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct cid_reply reply = {0};
		const json_t *purposes;
		const json_t *ask;
		const json_t *info;
		const json_t *m;

		assert_int_equal(oidc_show_consent(ctx, cid_policyref_set(pref), &svc, auth,
						   rows[i].locale, "req", "csrf", &reply),
				 CID_OK);
		assert_int_equal(reply.page, CID_PAGE_CONSENT);
		purposes = json_object_get(reply.page_data, "purposes");
		ask = json_object_get(json_array_get(purposes, 0), "ask");
		info = json_object_get(json_array_get(purposes, 1), "info");
		assert_int_equal(json_array_size(ask), 2);
		assert_null(json_object_get(json_array_get(ask, 0), "verified"));
		m = json_object_get(json_array_get(ask, 1), "verified");
		assert_string_equal(cid_json_str(m, "by"), rows[i].by);
		assert_string_equal(cid_json_str(m, "trust_framework"), "jp_card");
		/* the checkbox is still the attribute's, numbered by position */
		assert_string_equal(cid_json_str(json_array_get(ask, 1), "field"), "a1");
		m = json_object_get(json_array_get(info, 0), "verified");
		assert_string_equal(cid_json_str(m, "by"), "https://gone.example.jp");
		assert_string_equal(cid_json_str(m, "trust_framework"), "jp_register");
		assert_null(json_object_get(json_array_get(info, 1), "verified"));
		cid_reply_free(&reply);
	}
	cid_policyref_put(pref);
	json_decref(auth);
	cid_test_ctx_close(ctx, cfg, dir);
}

/* Writes a registration record that is not JSON: the registrations can no longer be read. */
static enum cid_err damage_registrations(struct cid_txn *txn, void *arg)
{
	(void)arg;
	return cid_txn_put(txn, CID_DB_IDPS, cid_str_of("broken"), cid_str_of("not json"), 0);
}

/*
 * The consent screen reads the upstreams' labels only for a verified mark:
 * with the registrations unreadable, a screen without marks is shown, and
 * one with a mark fails as reading them does (CID_ERR_STORE).
 */
static void test_consent_screen_reads_labels_only_for_marks(void **state)
{
	static char svc_id[] = "svc";
	static char svc_name[] = "Childcare";
	static const struct cid_client svc = {.client_id = svc_id, .name = svc_name};
	static const char plain_text[] =
	    "{\"consent\":[{\"purpose\":\"fees\",\"ask\":[\"given_name\"],\"info\":[]}]}";
	static const char marked_text[] =
	    "{\"consent\":[{\"purpose\":\"fees\",\"ask\":[\"given_name\"],\"info\":[],"
	    "\"verified\":{\"given_name\":{\"issuer\":\"https://card.example.jp\","
	    "\"trust_framework\":\"jp_card\"}}}]}";
	char dir[256];
	struct cid_config *cfg = cid_test_config(dir);
	struct cid_ctx *ctx = NULL;
	struct cid_policyref *pref;
	struct cid_reply reply = {0};
	json_t *plain = json_loads(plain_text, 0, NULL);
	json_t *marked = json_loads(marked_text, 0, NULL);
	json_t *labels = NULL;

	(void)state;
	assert_non_null(plain);
	assert_non_null(marked);
	cid_test_policies(cfg, dir, "svc.policy", cid_test_svc_policy);
	assert_int_equal(cid_ctx_open(cfg, 1800000000, NULL, &ctx), CID_OK);
	assert_int_equal(cid_store_update(cid_ctx_store(ctx), damage_registrations, NULL), CID_OK);
	assert_int_equal(cid_idp_labels(cid_ctx_store(ctx), "en", &labels), CID_ERR_STORE);
	pref = cid_ctx_policies_acquire(ctx);
	assert_int_equal(oidc_show_consent(ctx, cid_policyref_set(pref), &svc, plain, "en", "req",
					   "csrf", &reply),
			 CID_OK);
	assert_int_equal(reply.page, CID_PAGE_CONSENT);
	cid_reply_free(&reply);
	reply = (struct cid_reply){0};
	assert_int_equal(oidc_show_consent(ctx, cid_policyref_set(pref), &svc, marked, "en", "req",
					   "csrf", &reply),
			 CID_ERR_STORE);
	cid_reply_free(&reply);
	cid_policyref_put(pref);
	json_decref(plain);
	json_decref(marked);
	cid_test_ctx_close(ctx, cfg, dir);
}

/*
 * An upstream's discovery document: its issuer identical, the endpoints
 * there, and, under an https issuer, the token endpoint (it gets the client
 * secret) and jwks_uri https; an http (loopback test) issuer may name http
 * loopback ones.
 */
static void test_upstream_discovery_check_table(void **state)
{
	static const struct {
		const char *name;
		const char *issuer;
		const char *doc;
		enum cid_err want;
		const char *why; /* in the reason, when refused */
	} rows[] = {
	    {"https, all https", "https://id.example",
	     "{\"issuer\":\"https://id.example\",\"authorization_endpoint\":\"https://id.example/"
	     "a\","
	     "\"token_endpoint\":\"https://id.example/t\",\"jwks_uri\":\"https://id.example/k\"}",
	     CID_OK, NULL},
	    {"https, token endpoint plain http to loopback", "https://id.example",
	     "{\"issuer\":\"https://id.example\",\"authorization_endpoint\":\"https://id.example/"
	     "a\","
	     "\"token_endpoint\":\"http://127.0.0.1:8080/x\",\"jwks_uri\":\"https://id.example/"
	     "k\"}",
	     CID_ERR_INVALID, "not https"},
	    {"https, jwks_uri plain http to loopback", "https://id.example",
	     "{\"issuer\":\"https://id.example\",\"authorization_endpoint\":\"https://id.example/"
	     "a\","
	     "\"token_endpoint\":\"https://id.example/t\",\"jwks_uri\":\"http://localhost/k\"}",
	     CID_ERR_INVALID, "not https"},
	    {"http loopback issuer, http loopback endpoints", "http://127.0.0.1:9000",
	     "{\"issuer\":\"http://127.0.0.1:9000\",\"authorization_endpoint\":\"http://"
	     "127.0.0.1:9000/"
	     "a\",\"token_endpoint\":\"http://127.0.0.1:9000/t\",\"jwks_uri\":\"http://"
	     "127.0.0.1:9000/"
	     "k\"}",
	     CID_OK, NULL},
	    {"another issuer", "https://id.example",
	     "{\"issuer\":\"https://other.example\",\"authorization_endpoint\":\"https://"
	     "id.example/"
	     "a\",\"token_endpoint\":\"https://id.example/t\",\"jwks_uri\":\"https://id.example/"
	     "k\"}",
	     CID_ERR_INVALID, "another issuer"},
	    {"no jwks_uri", "https://id.example",
	     "{\"issuer\":\"https://id.example\",\"authorization_endpoint\":\"https://id.example/"
	     "a\","
	     "\"token_endpoint\":\"https://id.example/t\"}",
	     CID_ERR_INVALID, "lacks an endpoint"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		json_t *d = json_loads(rows[i].doc, 0, NULL);
		char why[160] = "";
		enum cid_err rc;

		assert_non_null(d);
		rc = oidc_upstream_discovery_check(rows[i].issuer, d, why, sizeof(why));
		if (rc != rows[i].want)
			fail_msg("%s: %s, want %s", rows[i].name, cid_strerror(rc),
				 cid_strerror(rows[i].want));
		if (rows[i].why != NULL && strstr(why, rows[i].why) == NULL)
			fail_msg("%s: the reason \"%s\" does not say \"%s\"", rows[i].name, why,
				 rows[i].why);
		json_decref(d);
	}
}

/*
 * The claims of an upstream ID token whose signature verified (OIDC Core
 * §3.1.3.7), one row per case: civicid is client "civicid" at
 * https://id.example, the request sent nonce "n-sent" (unless the row says
 * otherwise), now is 1800000000. An azp naming another client is refused whatever aud
 * holds; several audiences need azp, ours.
 */
#define T	  1800000000
#define GOOD_TAIL "\"exp\":1800000600,\"iat\":1800000000,\"nonce\":\"n-sent\",\"sub\":\"u1\"}"
#define ISS	  "{\"iss\":\"https://id.example\","

static void test_upstream_id_token_claims_table(void **state)
{
	static const struct {
		const char *name;
		const char *claims;
		const char *sent;
		enum cid_err want;
		const char *why; /* in the reason, when refused */
	} rows[] = {
	    {"aud ours, no azp", ISS "\"aud\":\"civicid\"," GOOD_TAIL, "n-sent", CID_OK, NULL},
	    {"aud [ours], no azp", ISS "\"aud\":[\"civicid\"]," GOOD_TAIL, "n-sent", CID_OK, NULL},
	    {"aud ours, azp ours", ISS "\"aud\":\"civicid\",\"azp\":\"civicid\"," GOOD_TAIL,
	     "n-sent", CID_OK, NULL},
	    {"aud ours, azp another client", ISS "\"aud\":\"civicid\",\"azp\":\"other\"," GOOD_TAIL,
	     "n-sent", CID_ERR_DENIED, "aud, azp"},
	    {"aud [ours], azp another client",
	     ISS "\"aud\":[\"civicid\"],\"azp\":\"other\"," GOOD_TAIL, "n-sent", CID_ERR_DENIED,
	     "aud, azp"},
	    {"aud ours, azp not a string", ISS "\"aud\":\"civicid\",\"azp\":7," GOOD_TAIL, "n-sent",
	     CID_ERR_DENIED, "aud, azp"},
	    {"aud ours and another, azp ours",
	     ISS "\"aud\":[\"civicid\",\"other\"],\"azp\":\"civicid\"," GOOD_TAIL, "n-sent", CID_OK,
	     NULL},
	    {"aud ours and another, no azp", ISS "\"aud\":[\"civicid\",\"other\"]," GOOD_TAIL,
	     "n-sent", CID_ERR_DENIED, "aud, azp"},
	    {"aud ours and another, azp the other",
	     ISS "\"aud\":[\"civicid\",\"other\"],\"azp\":\"other\"," GOOD_TAIL, "n-sent",
	     CID_ERR_DENIED, "aud, azp"},
	    {"aud another client", ISS "\"aud\":\"other\"," GOOD_TAIL, "n-sent", CID_ERR_DENIED,
	     "aud, azp"},
	    {"aud another client, azp ours", ISS "\"aud\":\"other\",\"azp\":\"civicid\"," GOOD_TAIL,
	     "n-sent", CID_ERR_DENIED, "aud, azp"},
	    {"no aud", ISS GOOD_TAIL, "n-sent", CID_ERR_DENIED, "aud, azp"},
	    {"another iss", "{\"iss\":\"https://other.example\",\"aud\":\"civicid\"," GOOD_TAIL,
	     "n-sent", CID_ERR_DENIED, "iss"},
	    {"expired past the skew",
	     ISS "\"aud\":\"civicid\",\"exp\":1799999940,\"iat\":1799999000,\"nonce\":\"n-sent\","
		 "\"sub\":\"u1\"}",
	     "n-sent", CID_ERR_DENIED, "expired"},
	    {"expired within the skew",
	     ISS "\"aud\":\"civicid\",\"exp\":1799999970,\"iat\":1799999000,\"nonce\":\"n-sent\","
		 "\"sub\":\"u1\"}",
	     "n-sent", CID_OK, NULL},
	    {"no iat",
	     ISS "\"aud\":\"civicid\",\"exp\":1800000600,\"nonce\":\"n-sent\",\"sub\":\"u1\"}",
	     "n-sent", CID_ERR_DENIED, "iat"},
	    {"another nonce", ISS "\"aud\":\"civicid\"," GOOD_TAIL, "n-other", CID_ERR_DENIED,
	     "nonce"},
	    {"no nonce sent", ISS "\"aud\":\"civicid\"," GOOD_TAIL, NULL, CID_ERR_DENIED, "nonce"},
	    {"no sub",
	     ISS "\"aud\":\"civicid\",\"exp\":1800000600,\"iat\":1800000000,\"nonce\":\"n-sent\"}",
	     "n-sent", CID_ERR_DENIED, "sub"},
	};
	struct cid_idp idp = {
	    .name = "card", .issuer = "https://id.example", .client_id = "civicid"};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		json_t *c = json_loads(rows[i].claims, 0, NULL);
		char why[160] = "";
		enum cid_err rc;

		if (c == NULL)
			fail_msg("%s: the claims do not parse", rows[i].name);
		rc =
		    oidc_upstream_check_claims(&idp, rows[i].sent, c, 1800000000, why, sizeof(why));
		if (rc != rows[i].want)
			fail_msg("%s: %s, want %s", rows[i].name, cid_strerror(rc),
				 cid_strerror(rows[i].want));
		if (rows[i].why != NULL && strstr(why, rows[i].why) == NULL)
			fail_msg("%s: the reason \"%s\" does not say \"%s\"", rows[i].name, why,
				 rows[i].why);
		json_decref(c);
	}
}

#undef ISS
#undef GOOD_TAIL

/* The discovery URL of an upstream issuer: one trailing '/' removed (OIDC Discovery §4.1). */
static void test_upstream_discovery_url(void **state)
{
	static const struct {
		const char *issuer;
		const char *want;
	} rows[] = {
	    {"https://id.example", "https://id.example/.well-known/openid-configuration"},
	    {"https://id.example/", "https://id.example/.well-known/openid-configuration"},
	    {"https://id.example/tenant/",
	     "https://id.example/tenant/.well-known/openid-configuration"},
	    {"http://127.0.0.1:9000", "http://127.0.0.1:9000/.well-known/openid-configuration"},
	};

	char url[128];
	char small[20];

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		assert_int_equal(oidc_upstream_discovery_url(rows[i].issuer, url, sizeof(url)),
				 CID_OK);
		assert_string_equal(url, rows[i].want);
	}
	assert_int_equal(oidc_upstream_discovery_url("https://id.example", small, sizeof(small)),
			 CID_ERR_TOOBIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_authz_check_table),
	    cmocka_unit_test(test_consent_screen_marks_verified),
	    cmocka_unit_test(test_consent_screen_reads_labels_only_for_marks),
	    cmocka_unit_test(test_authz_check_normalises),
	    cmocka_unit_test(test_acr_required_table),
	    cmocka_unit_test(test_parse_basic_table),
	    cmocka_unit_test(test_parse_basic_oversize_rejected),
	    cmocka_unit_test(test_discovery_is_built_from_the_table),
	    cmocka_unit_test(test_upstream_discovery_check_table),
	    cmocka_unit_test(test_upstream_discovery_url),
	    cmocka_unit_test(test_upstream_id_token_claims_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
