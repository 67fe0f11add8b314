/*
 * client: registration rules (table-driven), authentication of clients at
 * the token endpoint (table-driven), exact redirect URI matching and scopes.
 */
#include "client.h"
#include "http_server.h"
#include "support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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
    /* a port is 1 to 65535, as the sector of a pairwise client reads it */
    {"http://127.0.0.1:80899999/cb", CID_ERR_INVALID},
    {"https://city.example:65536/cb", CID_ERR_INVALID},
    {"https://city.example:0/cb", CID_ERR_INVALID},
    {"https://city.example:065535/cb", CID_OK},
    {"https://[city.example/]/cb", CID_ERR_INVALID},
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
	snprintf(long_uri, CID_MAX_URI + 32, "%s", "https://city.example/");
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
    {"pairwise on two ports of one host refused",
     "rp10b",
     false,
     {"http://127.0.0.1:3001/cb", "http://127.0.0.1:3002/cb"},
     NULL,
     NULL,
     NULL,
     NULL,
     CID_ERR_INVALID},
    {"pairwise, two paths on one host:port",
     "rp10c",
     false,
     {"http://127.0.0.1:3001/cb", "http://127.0.0.1:3001/other"},
     NULL,
     NULL,
     NULL,
     NULL,
     CID_OK},
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

/* ---- the sector identifier (OIDC Core §8.1) ---- */

#define SECTOR_URI "https://sector.city.example/sector.json"

struct sector_case {
	const char *name;
	const char *uris[3];
	const char *sector_uri; /* NULL: none */
	const char *doc;	/* the fetched document */
	enum cid_err expect;
	const char *sector; /* expected on success */
	const char *why;    /* a phrase the explanation must hold on failure */
};

static const struct sector_case sector_cases[] = {
    {"one https URI: its host", {"https://a.example/cb"}, NULL, NULL, CID_OK, "a.example", NULL},
    {"the default port is no port",
     {"https://a.example:443/cb"},
     NULL,
     NULL,
     CID_OK,
     "a.example",
     NULL},
    {"an empty port is the default",
     {"https://a.example:/cb"},
     NULL,
     NULL,
     CID_OK,
     "a.example",
     NULL},
    {"http's default port", {"http://localhost:80/cb"}, NULL, NULL, CID_OK, "localhost", NULL},
    {"another port is part of the sector",
     {"https://a.example:8443/cb"},
     NULL,
     NULL,
     CID_OK,
     "a.example:8443",
     NULL},
    {"port on loopback", {"http://127.0.0.1:3001/cb"}, NULL, NULL, CID_OK, "127.0.0.1:3001", NULL},
    {"leading zeros in a port",
     {"http://127.0.0.1:03001/cb"},
     NULL,
     NULL,
     CID_OK,
     "127.0.0.1:3001",
     NULL},
    {"IPv6 with port", {"http://[::1]:8080/cb"}, NULL, NULL, CID_OK, "[::1]:8080", NULL},
    {"the host is lower-cased",
     {"https://Gomi.City.EXAMPLE/cb"},
     NULL,
     NULL,
     CID_OK,
     "gomi.city.example",
     NULL},
    {"several paths, one host:port",
     {"https://a.example/cb", "https://a.example/other?x=1", "https://A.example:443/third"},
     NULL,
     NULL,
     CID_OK,
     "a.example",
     NULL},
    {"port matters: two ports of one host",
     {"http://127.0.0.1:3001/cb", "http://127.0.0.1:3002/cb"},
     NULL,
     NULL,
     CID_ERR_INVALID,
     NULL,
     "127.0.0.1:3001, 127.0.0.1:3002"},
    {"several hosts refused",
     {"https://a.example/cb", "https://b.example/cb"},
     NULL,
     NULL,
     CID_ERR_INVALID,
     NULL,
     "sector identifier URI"},
    {"a port out of range",
     {"https://a.example:65536/cb"},
     NULL,
     NULL,
     CID_ERR_INVALID,
     NULL,
     "no usable host or port"},
    {"a port that is not a number",
     {"https://a.example:https/cb"},
     NULL,
     NULL,
     CID_ERR_INVALID,
     NULL,
     "no usable host or port"},
    {"no redirect URI, no sector URI", {NULL}, NULL, NULL, CID_ERR_NOTFOUND, NULL, NULL},
    {"sector URI: its host, whatever the redirect hosts",
     {"https://a.example/cb", "https://b.example:8443/cb"},
     SECTOR_URI,
     "[\"https://a.example/cb\", \"https://b.example:8443/cb\", \"https://c.example/cb\"]",
     CID_OK,
     "sector.city.example",
     NULL},
    {"sector URI: host only, without its port",
     {"https://a.example/cb"},
     "https://Sector.City.example:8443/s.json",
     "[\"https://a.example/cb\"]",
     CID_OK,
     "sector.city.example",
     NULL},
    {"sector URI on loopback http (tests)",
     {"http://127.0.0.1:3001/cb"},
     "http://127.0.0.1:9000/sector.json",
     "[\"http://127.0.0.1:3001/cb\"]",
     CID_OK,
     "127.0.0.1",
     NULL},
    {"the document misses a redirect URI",
     {"https://a.example/cb", "https://b.example/cb"},
     SECTOR_URI,
     "[\"https://a.example/cb\"]",
     CID_ERR_INVALID,
     NULL,
     "does not list https://b.example/cb"},
    {"listed means byte for byte",
     {"https://a.example/cb"},
     SECTOR_URI,
     "[\"https://a.example/cb/\", \"HTTPS://a.example/cb\"]",
     CID_ERR_INVALID,
     NULL,
     "does not list https://a.example/cb"},
    {"the document is an object, not an array",
     {"https://a.example/cb"},
     SECTOR_URI,
     "{\"redirect_uris\": [\"https://a.example/cb\"]}",
     CID_ERR_INVALID,
     NULL,
     "not a JSON array"},
    {"the document is not JSON",
     {"https://a.example/cb"},
     SECTOR_URI,
     "https://a.example/cb",
     CID_ERR_INVALID,
     NULL,
     "not a JSON array"},
    {"the document holds a non-string",
     {"https://a.example/cb"},
     SECTOR_URI,
     "[\"https://a.example/cb\", 42]",
     CID_ERR_INVALID,
     NULL,
     "non-string"},
    {"an empty document lists nothing",
     {"https://a.example/cb"},
     SECTOR_URI,
     "",
     CID_ERR_INVALID,
     NULL,
     "not a JSON array"},
    {"the sector URI must be https",
     {"https://a.example/cb"},
     "http://sector.city.example/sector.json",
     "[\"https://a.example/cb\"]",
     CID_ERR_INVALID,
     NULL,
     "must be https"},
    {"no fragment in the sector URI",
     {"https://a.example/cb"},
     SECTOR_URI "#x",
     "[\"https://a.example/cb\"]",
     CID_ERR_INVALID,
     NULL,
     "must be https"},
};

static void test_sector_rules(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(sector_cases) / sizeof(sector_cases[0]); i++) {
		const struct sector_case *c = &sector_cases[i];
		char out[CID_MAX_SECTOR + 1] = "untouched";
		char why[512] = "";
		size_t n = 0;
		struct cid_str doc = {c->doc, c->doc ? strlen(c->doc) : 0};
		enum cid_err got;

		while (n < 3 && c->uris[n] != NULL)
			n++;
		got = cid_client_sector(c->uris, n, c->sector_uri, doc, out, why, sizeof(why));
		if (got != c->expect)
			fail_msg("%s: got %s (%s)", c->name, cid_strerror(got), why);
		if (got == CID_OK && strcmp(out, c->sector) != 0)
			fail_msg("%s: sector '%s', wanted '%s'", c->name, out, c->sector);
		if (got != CID_OK && strcmp(out, "untouched") != 0)
			fail_msg("%s: out written on failure", c->name);
		if (c->why != NULL && strstr(why, c->why) == NULL)
			fail_msg("%s: explanation '%s' lacks '%s'", c->name, why, c->why);
	}
}

/* The document is bounded: one byte over CID_MAX_SECTOR_DOC is refused, unread. */
static void test_sector_document_too_big(void **state)
{
	const char *uris[] = {"https://a.example/cb"};
	size_t n = CID_MAX_SECTOR_DOC + 1;
	char *doc = malloc(n);
	char out[CID_MAX_SECTOR + 1];
	char why[256] = "";
	size_t head = strlen("[\"https://a.example/cb\"");

	(void)state;
	assert_non_null(doc);
	/* a valid array of the right URI, padded with spaces to the size */
	// NOLINTNEXTLINE(bugprone-not-null-terminated-result): spaces follow
	memcpy(doc, "[\"https://a.example/cb\"", head);
	memset(doc + head, ' ', n - head - 1);
	doc[n - 1] = ']';
	assert_int_equal(
	    cid_client_sector(uris, 1, SECTOR_URI, (struct cid_str){doc, n}, out, why, sizeof(why)),
	    CID_ERR_TOOBIG);
	assert_non_null(strstr(why, "larger than 65536 bytes"));
	/* the same document at the limit is fine */
	doc[n - 2] = ']';
	assert_int_equal(cid_client_sector(uris, 1, SECTOR_URI, (struct cid_str){doc, n - 1}, out,
					   why, sizeof(why)),
			 CID_OK);
	assert_string_equal(out, "sector.city.example");
	free(doc);
}

/* An HTTP/1.1 200 answer carrying body. */
static char *ok_answer(const char *body, size_t *len)
{
	char *out = malloc(256 + strlen(body));
	int n;

	assert_non_null(out);
	n = snprintf(out, 256 + strlen(body),
		     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
		     "%zu\r\nConnection: close\r\n\r\n%s",
		     strlen(body), body);
	assert_true(n > 0 && (size_t)n < 256 + strlen(body));
	*len = (size_t)n;
	return out;
}

/*
 * Registration fetches the sector identifier document: a served one that
 * lists the redirect URIs gives the client the URI's host as its sector and
 * records the URI; one that misses a URI, or that cannot be fetched, stores
 * nothing and says why.
 */
static void test_register_fetches_sector_document(void **state)
{
	const char *uris[] = {"http://127.0.0.1:3001/cb", "http://localhost:3002/cb"};
	struct cid_test_store *f = *state;
	struct cid_test_http *srv;
	struct cid_client *c = NULL;
	char sector_uri[96];
	char why[512] = "";
	char *id = NULL;
	char *secret = NULL;
	char *resp;
	size_t rlen = 0;
	json_t *shown = NULL;
	struct cid_client_spec spec = {
	    .client_id = "multi", .redirect_uris = uris, .n_redirect_uris = 2};

	/* without a sector identifier URI: two host:ports are refused */
	assert_int_equal(cid_client_register(f->s, &spec, 1, &id, &secret, why, sizeof(why)),
			 CID_ERR_INVALID);
	assert_non_null(strstr(why, "sector identifier URI"));

	resp = ok_answer("[\"http://127.0.0.1:3001/cb\", \"http://localhost:3002/cb\"]", &rlen);
	srv = cid_test_http_start(resp, rlen);
	free(resp);
	cid_test_http_url(srv, "/sector.json", sector_uri, sizeof(sector_uri));
	spec.sector_identifier_uri = sector_uri;
	assert_int_equal(cid_client_register(f->s, &spec, 1, &id, &secret, why, sizeof(why)),
			 CID_OK);
	assert_string_equal(why, "");
	assert_int_equal(cid_test_http_hits(srv), 1);
	assert_int_equal(cid_client_get(f->s, "multi", &c), CID_OK);
	assert_string_equal(c->sector, "127.0.0.1");
	assert_int_equal(cid_client_show(f->s, "multi", &shown), CID_OK);
	assert_string_equal(json_string_value(json_object_get(shown, "sector_identifier_uri")),
			    sector_uri);
	assert_string_equal(json_string_value(json_object_get(shown, "sector_identifier")),
			    "127.0.0.1");
	json_decref(shown);
	cid_client_free(c);
	free(id);
	free(secret);
	cid_test_http_stop(srv);

	/* a document that misses one of them: refused, nothing stored */
	resp = ok_answer("[\"http://127.0.0.1:3001/cb\"]", &rlen);
	srv = cid_test_http_start(resp, rlen);
	free(resp);
	cid_test_http_url(srv, "/sector.json", sector_uri, sizeof(sector_uri));
	spec.client_id = "multi2";
	id = NULL;
	secret = NULL;
	assert_int_equal(cid_client_register(f->s, &spec, 1, &id, &secret, why, sizeof(why)),
			 CID_ERR_INVALID);
	assert_non_null(strstr(why, "does not list http://localhost:3002/cb"));
	assert_null(id);
	assert_null(secret);
	assert_int_equal(cid_client_get(f->s, "multi2", &c), CID_ERR_NOTFOUND);
	cid_test_http_stop(srv);

	/* a document that is not there */
	srv = cid_test_http_start("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 45);
	cid_test_http_url(srv, "/sector.json", sector_uri, sizeof(sector_uri));
	assert_int_equal(cid_client_register(f->s, &spec, 1, &id, &secret, why, sizeof(why)),
			 CID_ERR_IO);
	assert_non_null(strstr(why, "HTTP status 404"));
	assert_non_null(strstr(why, sector_uri));
	assert_int_equal(cid_client_get(f->s, "multi2", &c), CID_ERR_NOTFOUND);
	cid_test_http_stop(srv);

	/* a sector URI that is plain http off loopback is never fetched */
	spec.sector_identifier_uri = "http://sector.city.example/sector.json";
	assert_int_equal(cid_client_register(f->s, &spec, 1, &id, &secret, why, sizeof(why)),
			 CID_ERR_INVALID);
	assert_non_null(strstr(why, "must be https"));
}

struct raw_client {
	const char *id;
	const char *json;
};

static enum cid_err put_raw_client(struct cid_txn *txn, void *arg)
{
	const struct raw_client *r = arg;

	return cid_txn_put(txn, CID_DB_CLIENTS, cid_str_of(r->id), cid_str_of(r->json), 0);
}

/*
 * Existing subjects do not move: a stored sector is used as stored (a client
 * registered before ports counted keeps "127.0.0.1" for a URI on port 3001),
 * and a record without one gets the old derivation, the host without port.
 */
static void test_stored_sector_is_never_derived_again(void **state)
{
	struct cid_test_store *f = *state;
	struct cid_client *c = NULL;
	const struct raw_client old = {
	    "old", "{\"client_id\":\"old\",\"name\":\"old\",\"type\":\"public\","
		   "\"redirect_uris\":[\"http://127.0.0.1:3001/cb\"],\"scopes\":\"openid\","
		   "\"grant_types\":[\"authorization_code\"],\"subject_type\":\"pairwise\","
		   "\"sector_identifier\":\"127.0.0.1\",\"created_at\":1}"};
	const struct raw_client bare = {
	    "bare", "{\"client_id\":\"bare\",\"name\":\"bare\",\"type\":\"public\","
		    "\"redirect_uris\":[\"http://Localhost:3001/cb\"],\"scopes\":\"openid\","
		    "\"grant_types\":[\"authorization_code\"],\"created_at\":1}"};
	const struct raw_client machine = {
	    "batch", "{\"client_id\":\"batch\",\"name\":\"batch\",\"type\":\"public\","
		     "\"redirect_uris\":[],\"scopes\":\"city\","
		     "\"grant_types\":[\"client_credentials\"],\"created_at\":1}"};

	assert_int_equal(cid_store_update(f->s, put_raw_client, (void *)(uintptr_t)&old), CID_OK);
	assert_int_equal(cid_store_update(f->s, put_raw_client, (void *)(uintptr_t)&bare), CID_OK);
	assert_int_equal(cid_store_update(f->s, put_raw_client, (void *)(uintptr_t)&machine),
			 CID_OK);
	assert_int_equal(cid_client_get(f->s, "old", &c), CID_OK);
	assert_string_equal(c->sector, "127.0.0.1");
	cid_client_free(c);
	assert_int_equal(cid_client_get(f->s, "bare", &c), CID_OK);
	assert_string_equal(c->sector, "Localhost");
	assert_true(c->pairwise);
	cid_client_free(c);
	assert_int_equal(cid_client_get(f->s, "batch", &c), CID_OK);
	assert_string_equal(c->sector, "client:batch");
	cid_client_free(c);
}

/* ---- logout URIs (Back-Channel Logout 1.0 §2.2, Front-Channel Logout 1.0 §2) ---- */

struct logout_case {
	const char *name;
	const char *back;
	bool back_required;
	const char *front;
	bool front_required;
	enum cid_err expect;
	const char *why; /* a phrase the explanation must hold (refusals) */
};

static const struct logout_case logout_cases[] = {
    {"none", NULL, false, NULL, false, CID_OK, NULL},
    {"back-channel on https", "https://a.example/bc", false, NULL, false, CID_OK, NULL},
    {"back-channel with session required", "https://a.example:8443/bc?x=1", true, NULL, false,
     CID_OK, NULL},
    {"back-channel on loopback http", "http://127.0.0.1:4000/bc", true, NULL, false, CID_OK, NULL},
    {"back-channel on IPv6 loopback", "http://[::1]:4000/bc", false, NULL, false, CID_OK, NULL},
    {"both channels", "https://a.example/bc", true, "https://a.example/fc", true, CID_OK, NULL},
    {"front-channel only", NULL, false, "https://a.example/fc?from=civicid", false, CID_OK, NULL},
    {"back-channel over plain http off loopback", "http://a.example/bc", false, NULL, false,
     CID_ERR_INVALID, "back-channel logout URI"},
    {"back-channel with a fragment", "https://a.example/bc#x", false, NULL, false, CID_ERR_INVALID,
     "without fragment"},
    {"back-channel relative", "/bc", false, NULL, false, CID_ERR_INVALID, "absolute"},
    {"back-channel with userinfo", "https://u@a.example/bc", false, NULL, false, CID_ERR_INVALID,
     "userinfo"},
    {"front-channel with a fragment", NULL, false, "https://a.example/fc#x", false, CID_ERR_INVALID,
     "front-channel logout URI"},
    {"front-channel on a host a CSP cannot name", NULL, false, "https://a;b.example/fc", false,
     CID_ERR_INVALID, "front-channel logout URI"},
    {"front-channel javascript:", NULL, false, "javascript:alert(1)", false, CID_ERR_INVALID,
     "front-channel logout URI"},
    {"back-channel session required without a URI", NULL, true, NULL, false, CID_ERR_INVALID,
     "backchannel_logout_session_required"},
    {"front-channel session required without a URI", NULL, false, NULL, true, CID_ERR_INVALID,
     "frontchannel_logout_session_required"},
};

/* Each row registered, and what was stored read back; a refusal stores nothing. */
static void test_logout_uri_rules(void **state)
{
	struct cid_test_store *t = *state;
	const char *uris[] = {"https://a.example/cb"};

	for (size_t i = 0; i < sizeof(logout_cases) / sizeof(logout_cases[0]); i++) {
		const struct logout_case *c = &logout_cases[i];
		char id[32];
		char why[512] = "";
		char *got_id = NULL;
		char *secret = NULL;
		struct cid_client *client = NULL;
		struct cid_client_spec spec = {
		    .redirect_uris = uris,
		    .n_redirect_uris = 1,
		    .backchannel_logout_uri = c->back,
		    .backchannel_logout_session_required = c->back_required,
		    .frontchannel_logout_uri = c->front,
		    .frontchannel_logout_session_required = c->front_required};
		enum cid_err got;

		assert_true(snprintf(id, sizeof(id), "rp%zu", i) > 0);
		spec.client_id = id;
		got = cid_client_register(t->s, &spec, 1000, &got_id, &secret, why, sizeof(why));
		if (got != c->expect)
			fail_msg("%s: got %s (%s)", c->name, cid_strerror(got), why);
		free(got_id);
		free(secret);
		if (got != CID_OK) {
			if (strstr(why, c->why) == NULL)
				fail_msg("%s: the explanation '%s' lacks '%s'", c->name, why,
					 c->why);
			assert_int_equal(cid_client_get(t->s, id, &client), CID_ERR_NOTFOUND);
			continue;
		}
		assert_int_equal(cid_client_get(t->s, id, &client), CID_OK);
		if (c->back == NULL)
			assert_null(client->backchannel_logout_uri);
		else
			assert_string_equal(client->backchannel_logout_uri, c->back);
		assert_int_equal(client->backchannel_logout_session_required, c->back_required);
		if (c->front == NULL)
			assert_null(client->frontchannel_logout_uri);
		else
			assert_string_equal(client->frontchannel_logout_uri, c->front);
		assert_int_equal(client->frontchannel_logout_session_required, c->front_required);
		cid_client_free(client);
	}
}

/* The origins a Content-Security-Policy names: scheme, host, a port only when not the default. */
static void test_origin_rules(void **state)
{
	static const struct {
		const char *uri;
		const char *origin; /* NULL: refused */
	} rows[] = {
	    {"https://A.Example/fc?x=1", "https://a.example"},
	    {"https://a.example:443/fc", "https://a.example"},
	    {"https://a.example:8443/fc", "https://a.example:8443"},
	    {"http://127.0.0.1:4000/fc", "http://127.0.0.1:4000"},
	    {"http://localhost/fc", "http://localhost"},
	    {"http://[::1]:4000/fc", "http://[::1]:4000"},
	    {"https://a.example", "https://a.example"},
	    {"https://a;b.example/fc", NULL},
	    {"https://a'b.example/fc", NULL},
	    {"https://a.example:99999/fc", NULL},
	    {"https://[::1;x]/fc", NULL},
	    {"https://-a.example/fc", NULL},
	    {"ftp://a.example/fc", NULL},
	    {"https:///fc", NULL},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char out[CID_MAX_URI + 1] = "";
		enum cid_err got = cid_client_origin(rows[i].uri, out);

		if (rows[i].origin == NULL) {
			if (got == CID_OK)
				fail_msg("%s: accepted as %s", rows[i].uri, out);
			continue;
		}
		if (got != CID_OK)
			fail_msg("%s: got %s", rows[i].uri, cid_strerror(got));
		assert_string_equal(out, rows[i].origin);
	}
}

/*
 * A client read again from the same record is the same object (the store's
 * memo), and one whose record changed is read anew at once: a new secret
 * refuses the old one, a removed client is gone, whoever wrote the store.
 */
static void test_a_changed_record_is_read_anew(void **state)
{
	struct cid_test_store *f = *state;
	struct cid_client *a = NULL;
	struct cid_client *b = NULL;
	struct cid_client *c = NULL;
	const struct raw_client v1 = {
	    "svc", "{\"client_id\":\"svc\",\"name\":\"one\",\"type\":\"public\","
		   "\"redirect_uris\":[],\"scopes\":\"city\",\"sector_identifier\":\"s\","
		   "\"grant_types\":[\"client_credentials\"],\"created_at\":1}"};
	const struct raw_client v2 = {
	    "svc", "{\"client_id\":\"svc\",\"name\":\"two\",\"type\":\"public\","
		   "\"redirect_uris\":[],\"scopes\":\"city\",\"sector_identifier\":\"s\","
		   "\"grant_types\":[\"client_credentials\"],\"created_at\":1}"};
	const char *uris[] = {"https://a.example/cb"};
	struct cid_client_spec conf = {
	    .client_id = "conf", .redirect_uris = uris, .n_redirect_uris = 1};
	char *old_secret = add_pair(f->s);
	char *secret = NULL;
	char *id = NULL;

	assert_int_equal(cid_store_update(f->s, put_raw_client, (void *)(uintptr_t)&v1), CID_OK);
	assert_int_equal(cid_client_get(f->s, "svc", &a), CID_OK);
	assert_int_equal(cid_client_get(f->s, "svc", &b), CID_OK);
	assert_ptr_equal(a, b);
	assert_string_equal(a->name, "one");
	assert_int_equal(cid_store_update(f->s, put_raw_client, (void *)(uintptr_t)&v2), CID_OK);
	assert_int_equal(cid_client_get(f->s, "svc", &c), CID_OK);
	assert_ptr_not_equal(c, a);
	assert_string_equal(c->name, "two");
	/* the first object is untouched for those who still hold it */
	assert_string_equal(a->name, "one");
	cid_client_free(a);
	cid_client_free(b);
	cid_client_free(c);
	c = NULL;
	/* removed, then registered again with a new secret: the old one is refused */
	assert_int_equal(cid_client_authenticate(f->s, "conf", old_secret, &c), CID_OK);
	cid_client_free(c);
	c = NULL;
	assert_int_equal(cid_client_remove(f->s, "conf"), CID_OK);
	assert_int_equal(cid_client_authenticate(f->s, "conf", old_secret, &c), CID_ERR_DENIED);
	assert_int_equal(cid_client_add(f->s, &conf, 2, &id, &secret), CID_OK);
	assert_int_equal(cid_client_authenticate(f->s, "conf", old_secret, &c), CID_ERR_DENIED);
	assert_null(c);
	assert_int_equal(cid_client_authenticate(f->s, "conf", secret, &c), CID_OK);
	cid_client_free(c);
	free(id);
	free(secret);
	free(old_secret);
}

/*
 * jansson's allocator for the next test: it fails the call numbered
 * fail_at (0 is the first), counting from its installation.
 */
struct alloc_budget {
	long calls;
	long fail_at;
};

static struct alloc_budget budget;

static void *budget_malloc(size_t n)
{
	if (budget.calls++ == budget.fail_at)
		return NULL;
	return malloc(n);
}

static void test_client_record_complete_or_none_when_memory_runs_out(void **state)
{
	struct cid_test_store *f = *state;
	const char *uris[] = {"https://rp.example/cb"};
	struct cid_client_spec spec = {
	    .redirect_uris = uris,
	    .n_redirect_uris = 1,
	    .scopes = "openid city",
	    .grant_types = "authorization_code refresh_token client_credentials",
	    .backchannel_logout_uri = "https://rp.example/bc",
	    .backchannel_logout_session_required = true,
	    .frontchannel_logout_uri = "https://rp.example/fc",
	};
	bool done = false;

	/* every allocation of the registration fails once, one after the other */
	for (long at = 0; !done; at++) {
		char client_id[32];
		char *id = NULL;
		char *secret = NULL;
		struct cid_client *c = NULL;
		enum cid_err rc;

		snprintf(client_id, sizeof(client_id), "rp%ld", at);
		spec.client_id = client_id;
		budget = (struct alloc_budget){.fail_at = at};
		json_set_alloc_funcs(budget_malloc, free);
		rc = cid_client_add(f->s, &spec, 1800000000, &id, &secret);
		json_set_alloc_funcs(malloc, free);
		done = budget.calls <= at; /* nothing failed: every allocation was tried */
		if (rc != CID_OK) {
			if (rc != CID_ERR_NOMEM)
				fail_msg("allocation %ld failed: %s", at, cid_strerror(rc));
			assert_int_equal(cid_client_get(f->s, client_id, &c), CID_ERR_NOTFOUND);
			continue;
		}
		/* a record stored whole: it reads back, with every grant type */
		assert_int_equal(cid_client_get(f->s, client_id, &c), CID_OK);
		if (!c->allow_code || !c->allow_refresh || !c->allow_client_credentials)
			fail_msg("allocation %ld failed: %s registered without a grant type", at,
				 client_id);
		/* nor without a logout URI */
		if (c->backchannel_logout_uri == NULL || !c->backchannel_logout_session_required ||
		    c->frontchannel_logout_uri == NULL)
			fail_msg("allocation %ld failed: %s registered without its logout URIs", at,
				 client_id);
		cid_client_free(c);
		free(id);
		free(secret);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_redirect_uri_rules),
	    cmocka_unit_test(test_registration_rules),
	    cmocka_unit_test(test_client_authentication),
	    cmocka_unit_test(test_secret_stored_only_as_hash),
	    cmocka_unit_test(test_redirect_exact_match_and_scopes),
	    cmocka_unit_test(test_sector_rules),
	    cmocka_unit_test(test_sector_document_too_big),
	    cmocka_unit_test_setup_teardown(test_register_fetches_sector_document,
					    cid_test_store_setup, cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_a_changed_record_is_read_anew,
					    cid_test_store_setup, cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_stored_sector_is_never_derived_again,
					    cid_test_store_setup, cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_logout_uri_rules, cid_test_store_setup,
					    cid_test_store_teardown),
	    cmocka_unit_test(test_origin_rules),
	    cmocka_unit_test_setup_teardown(
		test_client_record_complete_or_none_when_memory_runs_out, cid_test_store_setup,
		cid_test_store_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
