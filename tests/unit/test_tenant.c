/*
 * tenant: several municipalities on one server (tenant.h).
 *
 * The names a tenant may have (a table); the registry (add, list, disable,
 * the configuration a tenant gets: issuer, store, policies, its settings);
 * the map a server finds a tenant's context in (opened once, an unknown or
 * disabled tenant refused); adopting a single city's store, its log still
 * verifying.
 *
 * And isolation, the table that matters: each kind of credential of tenant
 * A, presented to tenant B through B's real endpoint, is refused with the
 * refusal named (status and error), and is then accepted by A, so the refusal
 * is B's and B did not spend it. Both tenants have a service "svc" and a
 * citizen "hanako": the same names, different accounts.
 */
#include "account.h"
#include "account_pages.h"
#include "audit.h"
#include "audit_head.h"
#include "bounds.h"
#include "cid.h"
#include "client.h"
#include "config.h"
#include "consent.h"
#include "console.h"
#include "jose.h"
#include "officer.h"
#include "oidc.h"
#include "receipt.h"
#include "reply.h"
#include "session.h"
#include "support.h"
#include "tenant.h"
#include "token.h"
#include "totp.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define NOW	 1800000000
#define PASSWORD "correct horse battery"
#define SVC_CB	 "https://svc.example/cb"
#define DAY	 ((int64_t)24 * 3600)

/* ---- names ---- */

static void test_names(void **state)
{
	static const struct {
		const char *name;
		enum cid_err want;
	} rows[] = {
	    {"aizuwakamatsu", CID_OK},
	    {"a", CID_OK},
	    {"kita-ku", CID_OK},
	    {"2nd-town", CID_OK},
	    {"", CID_ERR_INVALID},
	    {"-kita", CID_ERR_INVALID},
	    {"kita-", CID_ERR_INVALID},
	    {"Kita", CID_ERR_INVALID},
	    {"kita_ku", CID_ERR_INVALID},
	    {"kita.ku", CID_ERR_INVALID},
	    {"kita/ku", CID_ERR_INVALID},
	    {"..", CID_ERR_INVALID},
	    {"北区", CID_ERR_INVALID},
	    {"a23456789012345678901234567890123456789012345678901234567890123", CID_OK},
	    {"a234567890123456789012345678901234567890123456789012345678901234", CID_ERR_INVALID},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (cid_tenant_name_check(rows[i].name, strlen(rows[i].name)) != rows[i].want)
			fail_msg("name \"%s\": want %s", rows[i].name, cid_strerror(rows[i].want));
	assert_int_equal(cid_tenant_name_check(NULL, 0), CID_ERR_INVALID);
}

/* hosts as a Host header or a tenant's "host" setting names them: hostile input */
static void test_hosts(void **state)
{
	static const struct {
		const char *scheme; /* the server's issuer's */
		const char *host;
		const char *want; /* canonical, or NULL: refused */
	} rows[] = {
	    {"https", "aizu.example.jp", "aizu.example.jp"},
	    {"https", "AIZU.Example.JP", "aizu.example.jp"},
	    {"https", "aizu.example.jp:8443", "aizu.example.jp:8443"},
	    /* only the scheme's default port is the one a client leaves out */
	    {"https", "aizu.example.jp:443", "aizu.example.jp"},
	    {"http", "aizu.example.jp:80", "aizu.example.jp"},
	    {"https", "aizu.example.jp:80", "aizu.example.jp:80"},
	    {"http", "aizu.example.jp:443", "aizu.example.jp:443"},
	    {"http", "AIZU.example.jp:8080", "aizu.example.jp:8080"},
	    {"ftp", "aizu.example.jp", NULL}, /* no scheme but the issuer's two */
	    {"", "aizu.example.jp", NULL},
	    {"https", "localhost", "localhost"},
	    {"https", "x-1.example", "x-1.example"},
	    {"https", "1x.example", "1x.example"},
	    {"https", "", NULL},
	    {"https", "127.0.0.1", NULL},      /* an address, not a name */
	    {"https", "127.0.0.1:8080", NULL}, /* the same */
	    {"https", "[::1]:8080", NULL},
	    /* IPv4 in other spellings a browser or resolver reads (a last label
	     * that is a number: all digits, or 0x and hex digits) */
	    {"https", "0x7f000001", NULL},
	    {"https", "0X7F000001:8443", NULL},
	    {"https", "127.1", NULL},
	    {"https", "2130706433", NULL},
	    {"https", "0177.0.0.1", NULL},
	    {"https", "0x7f.0x0.0x0.0x1", NULL},
	    {"https", "aizu.example.0x1", NULL},
	    {"https", "aizu.example.0xff", NULL},
	    {"https", "aizu.0x", NULL}, /* "0x" alone is 0 */
	    {"https", "aizu.example.123", NULL},
	    /* numbers elsewhere, or a last label that is no number, are names */
	    {"https", "a1.example", "a1.example"},
	    {"https", "x0x.example", "x0x.example"},
	    {"https", "0x7f000001.example", "0x7f000001.example"},
	    {"https", "127.0.0.1.example", "127.0.0.1.example"},
	    {"https", "aizu.example.0xg", "aizu.example.0xg"},
	    {"https", "aizu.example.1x", "aizu.example.1x"},
	    {"https", "aizu.example.x1", "aizu.example.x1"},
	    {"https", "aizu.0-1", "aizu.0-1"},
	    {"https", "aizu.example.jp.", NULL}, /* no trailing dot: one spelling per host */
	    {"https", ".aizu.example.jp", NULL},
	    {"https", "aizu..example.jp", NULL},
	    {"https", "-aizu.example.jp", NULL},
	    {"https", "aizu-.example.jp", NULL},
	    {"https", "aizu_x.example.jp", NULL},
	    {"https", "aizu.example.jp:", NULL},
	    {"https", "aizu.example.jp:0", NULL},
	    {"https", "aizu.example.jp:08080", NULL},
	    {"https", "aizu.example.jp:65536", NULL},
	    {"https", "aizu.example.jp:123456", NULL},
	    {"https", "aizu.example.jp:80:80", NULL},
	    {"https", "aizu.example.jp:8x", NULL},
	    {"https", "aizu.example.jp/t/a", NULL},
	    {"https", "aizu.example.jp/../", NULL},
	    {"https", "user@aizu.example.jp", NULL},
	    {"https", "aizu.example.jp ", NULL},
	    {"https", "aizu.example.jp\r\nX: y", NULL},
	    {"https", "会津.example.jp", NULL},
	    {"https", "a234567890123456789012345678901234567890123456789012345678901234.jp", NULL},
	};

	char out[CID_TENANT_HOST_MAX + 1];
	char name[300];

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		enum cid_err rc =
		    cid_tenant_host_parse(rows[i].scheme, rows[i].host, strlen(rows[i].host), out);

		if (rows[i].want == NULL && rc != CID_ERR_INVALID)
			fail_msg("%s host \"%s\": want refused, got %s", rows[i].scheme,
				 rows[i].host, out);
		if (rows[i].want != NULL && (rc != CID_OK || strcmp(out, rows[i].want) != 0))
			fail_msg("%s host \"%s\": want %s", rows[i].scheme, rows[i].host,
				 rows[i].want);
	}
	/* a NUL inside the header's bytes ends nothing: refused */
	assert_int_equal(cid_tenant_host_parse("https", "aizu\0.jp", 8, out), CID_ERR_INVALID);
	assert_int_equal(cid_tenant_host_parse("https", NULL, 0, out), CID_ERR_INVALID);
	assert_int_equal(cid_tenant_host_parse(NULL, "aizu.example.jp", 15, out), CID_ERR_INVALID);
	/* 253 bytes of name is the most, and the port comes on top */
	memset(name, 'a', 253);
	for (size_t i = 63; i < 253; i += 64)
		name[i] = '.';
	memcpy(name + 253, ":8443", 6);
	assert_int_equal(cid_tenant_host_parse("https", name, 258, out), CID_OK);
	assert_string_equal(out, name);
	name[253] = 'a';
	memcpy(name + 254, ":8443", 6);
	assert_int_equal(cid_tenant_host_parse("https", name, 259, out), CID_ERR_INVALID);
}

/* ---- the fixture: a server with tenants a and b ---- */

struct city {
	struct cid_ctx *ctx;
	char *secret; /* svc's client secret */
	char hanako[CID_ID_CHARS + 1];
	uint8_t totp[CID_TOTP_SECRET_MAX];
	size_t totp_len; /* the officer's */
};

struct fixture {
	char dir[256];
	struct cid_config *base;
	struct cid_tenants *map;
	struct city a, b;
};

static void write_policy(const char *dir, const char *tenant)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/policies", dir);
	assert_true(mkdir(path, 0700) == 0 || access(path, F_OK) == 0);
	snprintf(path, sizeof(path), "%s/policies/%s", dir, tenant);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/policies/%s/svc.policy", dir, tenant);
	cid_test_write_file(path, cid_test_svc_policy);
}

/*
 * Adds tenant name of city with the keys of set (cid_test_tenant_keys: its
 * first open makes none; a and b have different sets, so neither accepts
 * what the other signed).
 */
static void add_tenant(struct fixture *f, const char *name, const char *city, unsigned set)
{
	const char *keys[] = {"city_name_en",	    "controller_name",	"controller_contact",
			      "controller_address", "controller_email", "policy_url"};
	const char *values[] = {city,
				city,
				"Privacy Office",
				"1-1 City Hall",
				"privacy@city.example",
				"https://city.example/privacy"};
	char err[256] = "";

	write_policy(f->dir, name);
	assert_int_equal(cid_tenant_add(f->base, name, keys, values, 6, err, sizeof(err)), CID_OK);
	cid_test_tenant_keys(f->base, name, set);
}

/* svc, hanako and an officer in c, each made through its own module as the CLI does. */
static void populate(struct city *c, const struct cid_config *base)
{
	const char *uris[] = {SVC_CB};
	struct cid_client_spec spec = {
	    .client_id = "svc",
	    .name = "svc",
	    .redirect_uris = uris,
	    .n_redirect_uris = 1,
	    .scopes = "openid profile email",
	    .grant_types = "authorization_code refresh_token client_credentials",
	};
	char *id = NULL;
	char *b32 = NULL;
	json_t *claims = json_pack("{s:s}", "given_name", "花子");

	assert_int_equal(cid_client_add(cid_ctx_store(c->ctx), &spec, NOW, &id, &c->secret),
			 CID_OK);
	free(id);
	assert_int_equal(cid_account_add(cid_ctx_store(c->ctx), &base->argon2, "hanako", PASSWORD,
					 claims, NOW, c->hanako),
			 CID_OK);
	json_decref(claims);
	assert_int_equal(cid_officer_add(cid_ctx_store(c->ctx), &base->argon2, "olga", PASSWORD,
					 NOW, &b32, NULL),
			 CID_OK);
	assert_int_equal(
	    cid_base32_decode(b32, strlen(b32), c->totp, sizeof(c->totp), &c->totp_len), CID_OK);
	free(b32);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char path[512];

	assert_non_null(f);
	/* the server's own store is never opened: only its tenants' */
	f->base = cid_test_config_keyless(f->dir);
	snprintf(path, sizeof(path), "%s/store", f->dir);
	cid_test_set(f->base, "store", path);
	snprintf(path, sizeof(path), "%s/policies", f->dir);
	cid_test_set(f->base, "policies", path);
	cid_test_set(f->base, "issuer", "https://id.pref.example.jp");
	assert_false(cid_tenant_any(f->base));
	add_tenant(f, "a", "Aizu", 0);
	add_tenant(f, "b", "Bandai", 1);
	assert_true(cid_tenant_any(f->base));
	assert_int_equal(cid_tenants_new(f->base, NULL, &f->map), CID_OK);
	assert_int_equal(cid_tenants_get(f->map, "a", 1, NOW, &f->a.ctx), CID_OK);
	assert_int_equal(cid_tenants_get(f->map, "b", 1, NOW, &f->b.ctx), CID_OK);
	populate(&f->a, f->base);
	populate(&f->b, f->base);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	cid_tenants_close(f->map);
	free(f->a.secret);
	free(f->b.secret);
	cid_config_free(f->base);
	cid_test_rmdir(f->dir);
	free(f);
	return 0;
}

/* ---- the registry and the map ---- */

static void test_tenant_config(void **state)
{
	struct fixture *f = *state;
	const struct cid_config *a = cid_ctx_config(f->a.ctx);
	char want[512];

	assert_string_equal(a->issuer, "https://id.pref.example.jp/t/a");
	assert_string_equal(a->path_prefix, "/t/a");
	snprintf(want, sizeof(want), "%s/store/tenants/a", f->dir);
	assert_string_equal(a->store_dir, want);
	snprintf(want, sizeof(want), "%s/policies/a", f->dir);
	assert_string_equal(a->policies_dir, want);
	assert_string_equal(a->city_name_en, "Aizu");
	assert_string_equal(cid_ctx_config(f->b.ctx)->city_name_en, "Bandai");
	/* the server's own settings are kept */
	assert_int_equal(a->argon2.m_cost_kib, f->base->argon2.m_cost_kib);
	/* its cookies stay below its path; https, so __Secure- (not __Host-, which needs /) */
	assert_string_equal(cid_cookie_name(a, CID_COOKIE_SESSION), "__Secure-civicid_session");
	{
		struct cid_reply r = {0};

		assert_int_equal(cid_reply_cookie(&r, a, CID_COOKIE_SESSION, "v", -1), CID_OK);
		assert_string_equal(r.cookies[0],
				    "__Secure-civicid_session=v; Path=/t/a; HttpOnly; "
				    "SameSite=Lax; Secure");
		cid_reply_free(&r);
	}
	/* the discovery document names the tenant's endpoints */
	{
		size_t len = 0;
		const char *d = cid_ctx_discovery(f->a.ctx, &len);

		assert_non_null(strstr(d, "\"issuer\":\"https://id.pref.example.jp/t/a\""));
		assert_non_null(strstr(d, "https://id.pref.example.jp/t/a/token"));
	}
}

static void test_registry(void **state)
{
	struct fixture *f = *state;
	const char *bad_key[] = {"issuer"};
	const char *bad_value[] = {"https://evil.example"};
	const char *nl_key[] = {"city_name_en"};
	const char *nl_value[] = {"Aizu\nissuer = https://evil.example"};
	const char *url_key[] = {"policy_url"};
	const char *url_value[] = {"javascript:alert(document.cookie)"};
	char err[256] = "";
	json_t *all = NULL;
	struct cid_ctx *ctx = NULL;

	assert_int_equal(cid_tenant_add(f->base, "a", NULL, NULL, 0, err, sizeof(err)),
			 CID_ERR_EXISTS);
	assert_int_equal(cid_tenant_add(f->base, "Bad", NULL, NULL, 0, err, sizeof(err)),
			 CID_ERR_INVALID);
	/* a tenant's file sets its city, never where it lives or answers */
	assert_int_equal(cid_tenant_add(f->base, "c", bad_key, bad_value, 1, err, sizeof(err)),
			 CID_ERR_CONFIG);
	assert_non_null(strstr(err, "not a tenant setting"));
	assert_int_equal(cid_tenant_add(f->base, "c", nl_key, nl_value, 1, err, sizeof(err)),
			 CID_ERR_CONFIG);
	/* held to the config's own rules: its footer link and receipts would carry it */
	assert_int_equal(cid_tenant_add(f->base, "c", url_key, url_value, 1, err, sizeof(err)),
			 CID_ERR_CONFIG);
	assert_non_null(strstr(err, "policy_url must be"));
	assert_int_equal(cid_tenant_list(f->base, &all), CID_OK);
	assert_int_equal(json_array_size(all), 2); /* no "c" left behind */
	assert_string_equal(json_string_value(json_object_get(json_array_get(all, 0), "name")),
			    "a");
	json_decref(all);
	/* the map: the same context again; unknown and malformed names refused */
	assert_int_equal(cid_tenants_get(f->map, "a", 1, NOW, &ctx), CID_OK);
	assert_ptr_equal(ctx, f->a.ctx);
	assert_int_equal(cid_tenants_get(f->map, "zz", 2, NOW, &ctx), CID_ERR_NOTFOUND);
	assert_int_equal(cid_tenants_get(f->map, "../a", 4, NOW, &ctx), CID_ERR_INVALID);
	assert_int_equal(cid_tenants_open_count(f->map), 2);
	write_policy(f->dir, "c");
	/* its tenant.conf is 0600 as the store's files, whatever the umask */
	{
		char path[512];
		struct stat st;
		mode_t old = umask(022);

		assert_int_equal(cid_tenant_add(f->base, "c", NULL, NULL, 0, err, sizeof(err)),
				 CID_OK);
		umask(old);
		snprintf(path, sizeof(path), "%s/store/tenants/c/tenant.conf", f->dir);
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600);
	}
	/* only a first open is slow work: not an open tenant, an unknown or a disabled one */
	cid_test_tenant_keys(f->base, "c", 0);
	assert_int_equal(cid_tenant_add(f->base, "d", NULL, NULL, 0, err, sizeof(err)), CID_OK);
	assert_int_equal(cid_tenant_disable(f->base, "d"), CID_OK);
	assert_true(cid_tenants_needs_open(f->map, "c", NOW));
	assert_false(cid_tenants_needs_open(f->map, "a", NOW));
	assert_false(cid_tenants_needs_open(f->map, "d", NOW));
	assert_false(cid_tenants_needs_open(f->map, "zz", NOW));
	assert_false(cid_tenants_needs_open(f->map, "../a", NOW));
	assert_int_equal(cid_tenants_get(f->map, "c", 1, NOW, &ctx), CID_OK);
	assert_false(cid_tenants_needs_open(f->map, "c", NOW));
	/* disabled: refused from the next look on, data kept */
	assert_int_equal(cid_tenant_disable(f->base, "b"), CID_OK);
	assert_int_equal(cid_tenant_disable(f->base, "zz"), CID_ERR_NOTFOUND);
	cid_tenants_refresh(f->map);
	assert_int_equal(cid_tenants_get(f->map, "b", 1, NOW, &ctx), CID_ERR_DISABLED);
	assert_int_equal(cid_tenant_list(f->base, &all), CID_OK);
	assert_true(json_is_true(json_object_get(json_array_get(all, 1), "disabled")));
	json_decref(all);
	/* opened, then disabled: no open to do either */
	assert_false(cid_tenants_needs_open(f->map, "b", NOW));
	/* a tenant.conf edited by hand is held to the same rules when read */
	{
		char path[512];
		struct cid_config *cfg = NULL;

		snprintf(path, sizeof(path), "%s/store/tenants/d/tenant.conf", f->dir);
		cid_test_write_file(path, "policy_url = javascript:alert(1)\n");
		assert_int_equal(cid_tenant_config(f->base, "d", &cfg, NULL, err, sizeof(err)),
				 CID_ERR_CONFIG);
		assert_null(cfg);
		assert_non_null(strstr(err, "policy_url must be"));
	}
}

/*
 * A tenant.conf edited by hand sets the city's keys alone (CID_TENANT_KEYS),
 * as `tenant add` does: a server setting in it is refused, the key named,
 * not applied to that tenant.
 */
static void test_tenant_conf_sets_no_server_setting(void **state)
{
	static const struct {
		const char *line;
		const char *key; /* refused, named in err; NULL: accepted */
	} rows[] = {
	    {"trusted_proxies = 10.0.0.0/8\n", "trusted_proxies"},
	    {"session_ttl = 86400\n", "session_ttl"},
	    {"login_threads = 64\n", "login_threads"},
	    {"write_threads = 2\n", "write_threads"},
	    {"threads = 2\n", "threads"},
	    {"city_name_en = Chuo\nissuer = https://evil.example\n", "issuer"},
	    {"city_name_en = Chuo\n", NULL},
	};
	struct fixture *f = *state;
	char err[512] = "";
	char path[512];

	assert_int_equal(cid_tenant_add(f->base, "c", NULL, NULL, 0, err, sizeof(err)), CID_OK);
	snprintf(path, sizeof(path), "%s/store/tenants/c/tenant.conf", f->dir);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct cid_config *cfg = NULL;
		enum cid_err rc;

		cid_test_write_file(path, rows[i].line);
		err[0] = '\0';
		rc = cid_tenant_config(f->base, "c", &cfg, NULL, err, sizeof(err));
		if (rows[i].key == NULL && rc != CID_OK)
			fail_msg("row %zu: want it read, got %s (%s)", i, cid_strerror(rc), err);
		if (rows[i].key != NULL &&
		    (rc != CID_ERR_CONFIG || cfg != NULL || strstr(err, rows[i].key) == NULL))
			fail_msg("row %zu: want CID_ERR_CONFIG naming %s, got %s (%s)", i,
				 rows[i].key, cid_strerror(rc), err);
		cid_config_free(cfg);
	}
}

/* Whether a kid of the key list mine is among those of the context of tenant name. */
static bool shares_a_key(struct fixture *f, const json_t *mine, const char *name)
{
	struct cid_ctx *ctx = NULL;
	json_t *theirs = NULL;
	json_t *k;
	json_t *t;
	size_t i;
	size_t j;
	bool shared = false;

	assert_int_equal(cid_tenants_get(f->map, name, strlen(name), NOW, &ctx), CID_OK);
	assert_int_equal(cid_keys_list(cid_ctx_store(ctx), &theirs), CID_OK);
	assert_true(json_array_size(theirs) > 0);
	json_array_foreach(mine, i, k)
	{
		json_array_foreach(theirs, j, t)
		{
			if (strcmp(cid_json_str(k, "kid"), cid_json_str(t, "kid")) == 0)
				shared = true;
		}
	}
	json_decref(theirs);
	return shared;
}

/*
 * A tenant's first open makes its own signing keys: one active key per
 * algorithm, made at that open, none of them another tenant's (a kid is the
 * key's thumbprint). The one first open of this file that makes keys: the
 * other tenants are given copies of keys made once per test process
 * (cid_test_tenant_keys), an RSA key taking seconds under valgrind.
 */
static void test_first_open_makes_the_tenants_own_keys(void **state)
{
	struct fixture *f = *state;
	char err[256] = "";
	struct cid_ctx *ctx = NULL;
	json_t *mine = NULL;
	json_t *a = NULL;
	json_t *k;
	size_t i;

	write_policy(f->dir, "c");
	assert_int_equal(cid_tenant_add(f->base, "c", NULL, NULL, 0, err, sizeof(err)), CID_OK);
	assert_int_equal(cid_tenants_get(f->map, "c", 1, NOW, &ctx), CID_OK);
	assert_int_equal(cid_keys_list(cid_ctx_store(ctx), &mine), CID_OK);
	assert_int_equal(json_array_size(mine), 2);
	assert_string_not_equal(cid_json_str(json_array_get(mine, 0), "alg"),
				cid_json_str(json_array_get(mine, 1), "alg"));
	json_array_foreach(mine, i, k)
	{
		assert_string_equal(cid_json_str(k, "state"), "active");
		assert_int_equal(json_integer_value(json_object_get(k, "created_at")), NOW);
	}
	assert_false(shares_a_key(f, mine, "a"));
	assert_false(shares_a_key(f, mine, "b"));
	/* and the fixture's a and b, whose isolation the table below proves, differ too */
	assert_int_equal(cid_keys_list(cid_ctx_store(f->a.ctx), &a), CID_OK);
	assert_false(shares_a_key(f, a, "b"));
	json_decref(a);
	json_decref(mine);
}

/* Hosts tenant "d" may not have beside "c" at c.example.jp, and why. */
static const struct {
	const char *host;
	enum cid_err rc;
	const char *why;
} refused_hosts[] = {
    {"c.example.jp", CID_ERR_EXISTS, "tenant \"c\" is already served at c.example.jp"},
    {"ID.pref.example.jp", CID_ERR_CONFIG, "the server's own"},
    {"id.pref.example.jp:9443", CID_ERR_CONFIG, "the server's own"},
    {"c.example.jp:8443", CID_ERR_EXISTS, "tenant \"c\" is already served at c.example.jp"},
    {"https://d.example.jp", CID_ERR_CONFIG, "host: a DNS name"},
};

/* tenant c at its own host: the rule that maps a request, host -> tenant */
static void test_host_tenant(void **state)
{
	static const struct {
		const char *host; /* the Host header; NULL: none */
		const char *url;
		const char *name; /* the tenant chosen, NULL: none */
		const char *path;
		bool by_host;
		enum cid_err open; /* cid_tenants_open of that route */
	} rows[] = {
	    {"c.example.jp", "/.well-known/openid-configuration", "c",
	     "/.well-known/openid-configuration", true, CID_OK},
	    {"C.Example.JP", "/authorize", "c", "/authorize", true, CID_OK},
	    {"c.example.jp:443", "/token", "c", "/token", true, CID_OK},
	    {"c.example.jp", "/", "c", "/", true, CID_OK},
	    /* at c's host, /t/... is c's path (no endpoint), never another tenant */
	    {"c.example.jp", "/t/a/authorize", "c", "/t/a/authorize", true, CID_OK},
	    /* the server's host and any other: by path, as before */
	    {"id.pref.example.jp", "/t/a/authorize", "a", "/authorize", false, CID_OK},
	    {"127.0.0.1:8080", "/t/b/token", "b", "/token", false, CID_OK},
	    {NULL, "/t/a/jwks", "a", "/jwks", false, CID_OK},
	    {"evil.example", "/t/a/jwks", "a", "/jwks", false, CID_OK},
	    /* c is not served by its path; a path tenant is not chosen by a host */
	    {"id.pref.example.jp", "/t/c/authorize", "c", "/authorize", false, CID_ERR_NOTFOUND},
	    {"a", "/t/a/jwks", "a", "/jwks", false, CID_OK},
	    /* hosts that are nearly c's are not c's */
	    {"c.example.jp.", "/authorize", NULL, NULL, false, CID_OK},
	    {"c.example.jp:8443", "/authorize", NULL, NULL, false, CID_OK},
	    /* the server is https: :80 is a port of its own, not the one left out */
	    {"c.example.jp:80", "/authorize", NULL, NULL, false, CID_OK},
	    {"x.c.example.jp", "/authorize", NULL, NULL, false, CID_OK},
	    {"c.example.jp\r\n", "/authorize", NULL, NULL, false, CID_OK},
	    {"c.example.jp/t/c", "/authorize", NULL, NULL, false, CID_OK},
	    {"id.pref.example.jp", "/authorize", NULL, NULL, false, CID_OK},
	    {"id.pref.example.jp", "/t/a", NULL, NULL, false, CID_OK},
	    {"id.pref.example.jp", "/t/../a/jwks", NULL, NULL, false, CID_OK},
	};
	struct fixture *f = *state;
	const char *keys[] = {"city_name_en", "host"};
	const char *values[] = {"Chuo", "C.example.jp:443"};
	char err[256] = "";
	json_t *all = NULL;
	struct cid_ctx *ctx = NULL;
	const struct cid_config *c;

	write_policy(f->dir, "c");
	assert_int_equal(cid_tenant_add(f->base, "c", keys, values, 2, err, sizeof(err)), CID_OK);
	cid_test_tenant_keys(f->base, "c", 0);
	/* the map reads the hosts again at its refresh */
	{
		struct cid_tenant_route r;

		assert_int_equal(cid_tenants_route(f->map, "c.example.jp", "/jwks", &r),
				 CID_ERR_NOTFOUND);
		assert_int_equal(cid_tenants_host_count(f->map), 0);
		cid_tenants_refresh(f->map);
		assert_int_equal(cid_tenants_host_count(f->map), 1);
	}
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct cid_tenant_route r;
		enum cid_err rc = cid_tenants_route(f->map, rows[i].host, rows[i].url, &r);

		if (rows[i].name == NULL) {
			if (rc != CID_ERR_NOTFOUND)
				fail_msg("row %zu (%s %s): want no tenant, got %s", i, rows[i].host,
					 rows[i].url, r.name);
			continue;
		}
		if (rc != CID_OK || strcmp(r.name, rows[i].name) != 0 ||
		    strcmp(r.path, rows[i].path) != 0 || r.by_host != rows[i].by_host)
			fail_msg("row %zu (%s %s): want %s %s", i, rows[i].host, rows[i].url,
				 rows[i].name, rows[i].path);
		if (cid_tenants_open(f->map, &r, NOW, &ctx) != rows[i].open)
			fail_msg("row %zu (%s %s): open, want %s", i, rows[i].host, rows[i].url,
				 cid_strerror(rows[i].open));
	}
	/* c's issuer is its host, with the server's scheme; its pages and cookies at its root */
	assert_int_equal(cid_tenants_get(f->map, "c", 1, NOW, &ctx), CID_OK);
	c = cid_ctx_config(ctx);
	assert_string_equal(c->issuer, "https://c.example.jp");
	assert_string_equal(c->path_prefix, "");
	assert_string_equal(cid_cookie_name(c, CID_COOKIE_SESSION), "__Host-civicid_session");
	assert_non_null(strstr(cid_ctx_discovery(ctx, &(size_t){0}),
			       "\"token_endpoint\":\"https://c.example.jp/token\""));
	assert_int_equal(cid_tenant_list(f->base, &all), CID_OK);
	assert_string_equal(json_string_value(json_object_get(json_array_get(all, 2), "issuer")),
			    "https://c.example.jp");
	json_decref(all);
	/* one tenant per host; not the server's own (a port does not tell hosts apart:
	 * cookies are kept per name); a host, not anything else */
	for (size_t i = 0; i < sizeof(refused_hosts) / sizeof(refused_hosts[0]); i++) {
		values[1] = refused_hosts[i].host;
		assert_int_equal(cid_tenant_add(f->base, "d", keys, values, 2, err, sizeof(err)),
				 refused_hosts[i].rc);
		assert_non_null(strstr(err, refused_hosts[i].why));
	}
	assert_int_equal(cid_tenant_list(f->base, &all), CID_OK);
	assert_int_equal(json_array_size(all), 3); /* no "d" left behind */
	json_decref(all);
	/* an index entry for the server's own host (a tenant added under another issuer) is
	 * ignored: the server's host keeps its /t/NAME tenants */
	{
		char path[512];
		struct cid_tenant_route r;

		snprintf(path, sizeof(path), "%s/store/tenants/_hosts/id.pref.example.jp", f->dir);
		cid_test_write_file(path, "c\n");
		cid_tenants_refresh(f->map);
		assert_int_equal(cid_tenants_route(f->map, "id.pref.example.jp", "/t/a/jwks", &r),
				 CID_OK);
		assert_string_equal(r.name, "a");
		assert_false(r.by_host);
		assert_int_equal(cid_tenants_route(f->map, "c.example.jp", "/jwks", &r), CID_OK);
		assert_string_equal(r.name, "c");
	}
	/* a host file that its index does not confirm is refused, not served */
	{
		char path[512];
		struct cid_config *cfg = NULL;

		snprintf(path, sizeof(path), "%s/store/tenants/_hosts/c.example.jp", f->dir);
		cid_test_write_file(path, "a\n");

		assert_int_equal(cid_tenant_config(f->base, "c", &cfg, NULL, err, sizeof(err)),
				 CID_ERR_CONFIG);
		assert_non_null(strstr(err, "does not name tenant \"c\""));
		/* the list is still whole: c with no issuer and why, a and b as before */
		assert_int_equal(cid_tenant_list(f->base, &all), CID_OK);
		assert_int_equal(json_array_size(all), 3);
		assert_true(json_is_null(json_object_get(json_array_get(all, 2), "issuer")));
		assert_non_null(
		    strstr(json_string_value(json_object_get(json_array_get(all, 2), "error")),
			   "does not name tenant \"c\""));
		assert_null(json_object_get(json_array_get(all, 0), "error"));
		assert_string_equal(
		    json_string_value(json_object_get(json_array_get(all, 1), "issuer")),
		    "https://id.pref.example.jp/t/b");
		json_decref(all);
	}
}

/* Writes text to DIR/store/tenants/_hosts/HOST: an index entry, as a stale one would be left. */
static void write_index(const struct fixture *f, const char *host, const char *text)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/store/tenants/_hosts/%s", f->dir, host);
	cid_test_write_file(path, text);
}

/*
 * An index entry the tenant's own host file does not confirm (left from
 * before, or written by hand) chooses the tenant at routing, but opening it
 * there is refused, at its first open and at every one after, and the
 * server's stderr names both hosts, once a tenant; the host its file names
 * still serves it.
 */
static void test_stale_host_index_is_refused(void **state)
{
	static const struct {
		const char *host;
		const char *name; /* the tenant the index chooses */
		enum cid_err open;
		const char *said; /* on the errors stream, or NULL: nothing */
	} rows[] = {
	    /* first open of c by a stale host: opened (its host file is in its
	     * config), then refused */
	    {"old.example.jp", "c", CID_ERR_NOTFOUND,
	     "tenant c: refused at old.example.jp: the index of hosts "
	     "(tenants/_hosts/old.example.jp) names it, but its host file names c.example.jp"},
	    {"c.example.jp", "c", CID_OK, NULL},
	    /* and once c is open, said no more: a client retrying there does
	     * not flood stderr */
	    {"old.example.jp", "c", CID_ERR_NOTFOUND, NULL},
	    /* a tenant served at /t/NAME, which has no host file */
	    {"a.example.jp", "a", CID_ERR_NOTFOUND,
	     "tenant a: refused at a.example.jp: the index of hosts "
	     "(tenants/_hosts/a.example.jp) names it, but its host file names none"},
	};
	struct fixture *f = *state;
	const char *keys[] = {"city_name_en", "host"};
	const char *values[] = {"Chuo", "c.example.jp"};
	char err[256] = "";
	struct cid_tenants *map = NULL;
	char *said = NULL;
	size_t said_len = 0;
	FILE *errors = open_memstream(&said, &said_len);

	assert_non_null(errors);
	write_policy(f->dir, "c");
	assert_int_equal(cid_tenant_add(f->base, "c", keys, values, 2, err, sizeof(err)), CID_OK);
	cid_test_tenant_keys(f->base, "c", 0);
	write_index(f, "old.example.jp", "c\n");
	write_index(f, "a.example.jp", "a\n");
	/* what the tenants say of themselves is untouched: only the index is stale */
	assert_int_equal(cid_tenants_new(f->base, errors, &map), CID_OK);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct cid_tenant_route r;
		struct cid_ctx *ctx = NULL;
		size_t before;

		assert_int_equal(fflush(errors), 0);
		before = said_len;
		assert_int_equal(cid_tenants_route(map, rows[i].host, "/jwks", &r), CID_OK);
		assert_string_equal(r.name, rows[i].name);
		assert_true(r.by_host);
		if (cid_tenants_open(map, &r, NOW, &ctx) != rows[i].open)
			fail_msg("row %zu (%s): open, want %s", i, rows[i].host,
				 cid_strerror(rows[i].open));
		assert_int_equal(fflush(errors), 0);
		if (rows[i].said == NULL && said_len != before)
			fail_msg("row %zu (%s): said %s", i, rows[i].host, said + before);
		if (rows[i].said != NULL && strstr(said + before, rows[i].said) == NULL)
			fail_msg("row %zu (%s): want \"%s\" said, got \"%s\"", i, rows[i].host,
				 rows[i].said, said + before);
	}
	cid_tenants_close(map);
	assert_int_equal(fclose(errors), 0);
	free(said);
}

/*
 * A tenant that cannot be opened (added, its policies directory not made
 * yet) is tried and said once; asked again within the retry interval it is
 * refused with the same error, silently; after it, tried again; once its
 * policies are there, it opens.
 */
static void test_failed_open_is_retried_later(void **state)
{
	struct fixture *f = *state;
	char err[256] = "";
	struct cid_tenants *map = NULL;
	struct cid_ctx *ctx = NULL;
	char *said = NULL;
	size_t said_len = 0;
	size_t before;
	FILE *errors = open_memstream(&said, &said_len);
	enum cid_err first;

	assert_non_null(errors);
	assert_int_equal(cid_tenant_add(f->base, "e", NULL, NULL, 0, err, sizeof(err)), CID_OK);
	assert_int_equal(cid_tenants_new(f->base, errors, &map), CID_OK);
	first = cid_tenants_get(map, "e", 1, NOW, &ctx);
	assert_int_not_equal(first, CID_OK);
	assert_int_equal(fflush(errors), 0);
	assert_non_null(strstr(said, "tenant e"));
	before = said_len;
	for (int i = 0; i < 20; i++)
		assert_int_equal(cid_tenants_get(map, "e", 1, NOW + 4, &ctx), first);
	assert_int_equal(fflush(errors), 0);
	assert_int_equal(said_len, before); /* not opened, not said again */
	assert_int_equal(cid_tenants_get(map, "e", 1, NOW + 5, &ctx), first);
	assert_int_equal(fflush(errors), 0);
	assert_true(said_len > before); /* tried again */
	write_policy(f->dir, "e");
	cid_test_tenant_keys(f->base, "e", 0);
	assert_int_equal(cid_tenants_get(map, "e", 1, NOW + 9, &ctx), first);
	assert_int_equal(cid_tenants_get(map, "e", 1, NOW + 10, &ctx), CID_OK);
	cid_tenants_close(map);
	assert_int_equal(fclose(errors), 0);
	free(said);
}

/* How many times needle occurs in haystack. */
static size_t occurrences(const char *haystack, const char *needle)
{
	size_t n = 0;

	for (const char *p = haystack; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

/*
 * Every failed tenant keeps its own retry pause, however many fail at once
 * (a bulk `tenant add` before their policies exist): nine broken tenants,
 * each asked twice within the interval, are each tried and said once.
 */
static void test_many_failed_opens_each_wait(void **state)
{
	enum { BROKEN = 9 };
	struct fixture *f = *state;
	char err[256] = "";
	struct cid_tenants *map = NULL;
	struct cid_ctx *ctx = NULL;
	char *said = NULL;
	size_t said_len = 0;
	FILE *errors = open_memstream(&said, &said_len);

	assert_non_null(errors);
	for (int i = 0; i < BROKEN; i++) {
		char name[8];

		snprintf(name, sizeof(name), "x%d", i);
		assert_int_equal(cid_tenant_add(f->base, name, NULL, NULL, 0, err, sizeof(err)),
				 CID_OK);
	}
	assert_int_equal(cid_tenants_new(f->base, errors, &map), CID_OK);
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < BROKEN; i++) {
			char name[8];

			snprintf(name, sizeof(name), "x%d", i);
			assert_int_not_equal(
			    cid_tenants_get(map, name, strlen(name), NOW + round, &ctx), CID_OK);
		}
	assert_int_equal(fflush(errors), 0);
	assert_int_equal(occurrences(said, "cannot be opened"), BROKEN);
	/* a server answers a tenant that failed lately at once, not after another's open */
	assert_false(cid_tenants_needs_open(map, "x0", NOW + 1));
	assert_true(cid_tenants_needs_open(map, "x0", NOW + 5));
	cid_tenants_close(map);
	assert_int_equal(fclose(errors), 0);
	free(said);
}

/*
 * A tenant registered before the rule of one tenant per host name, at the
 * server's own name on another port, is still served at its host: the rule
 * binds `tenant add`, not what the index already holds.
 */
static void test_host_at_the_servers_name_added_before_stays(void **state)
{
	struct fixture *f = *state;
	const char *keys[] = {"host"};
	const char *values[] = {"c.example.jp"};
	char err[256] = "";
	char path[512];
	struct cid_tenants *map = NULL;
	struct cid_tenant_route r;

	write_policy(f->dir, "c");
	assert_int_equal(cid_tenant_add(f->base, "c", keys, values, 1, err, sizeof(err)), CID_OK);
	/* as an older civicid left it: c at id.pref.example.jp:8443 */
	snprintf(path, sizeof(path), "%s/store/tenants/_hosts/c.example.jp", f->dir);
	assert_int_equal(unlink(path), 0);
	write_index(f, "id.pref.example.jp:8443", "c\n");
	snprintf(path, sizeof(path), "%s/store/tenants/c/host", f->dir);
	cid_test_write_file(path, "id.pref.example.jp:8443\n");
	assert_int_equal(cid_tenants_new(f->base, NULL, &map), CID_OK);
	assert_int_equal(cid_tenants_route(map, "id.pref.example.jp:8443", "/jwks", &r), CID_OK);
	assert_string_equal(r.name, "c");
	assert_true(r.by_host);
	cid_tenants_close(map);
}

static void test_show(void **state)
{
	struct fixture *f = *state;
	json_t *show = NULL;
	const json_t *counts;

	assert_int_equal(cid_tenant_show(f->a.ctx, "a", false, &show), CID_OK);
	assert_string_equal(json_string_value(json_object_get(show, "issuer")),
			    "https://id.pref.example.jp/t/a");
	counts = json_object_get(show, "counts");
	assert_int_equal(json_integer_value(json_object_get(counts, "citizens")), 1);
	assert_int_equal(json_integer_value(json_object_get(counts, "services")), 1);
	assert_int_equal(json_integer_value(json_object_get(counts, "officers")), 1);
	assert_true(json_array_size(json_object_get(show, "keys")) >= 1);
	assert_string_equal(json_string_value(json_object_get(
				json_array_get(json_object_get(show, "policies"), 0), "service")),
			    "svc");
	json_decref(show);
}

/*
 * A look at a tenant never served (`tenant show`'s open, CID_CTX_NO_ISSUER)
 * records no issuer in its log, so the first server to serve it records its
 * own; a server's open records it.
 */
static void test_a_look_records_no_issuer(void **state)
{
	struct fixture *f = *state;
	struct cid_config *cfg = NULL;
	struct cid_ctx *ctx = NULL;
	char err[256] = "";
	char *issuer = NULL;

	write_policy(f->dir, "c");
	assert_int_equal(cid_tenant_add(f->base, "c", NULL, NULL, 0, err, sizeof(err)), CID_OK);
	cid_test_tenant_keys(f->base, "c", 0);
	assert_int_equal(cid_tenant_config(f->base, "c", &cfg, NULL, err, sizeof(err)), CID_OK);
	assert_int_equal(cid_ctx_open_flags(cfg, NOW, CID_CTX_NO_ISSUER, NULL, &ctx), CID_OK);
	assert_int_equal(cid_audit_issuer(cid_ctx_store(ctx), &issuer), CID_ERR_NOTFOUND);
	cid_ctx_close(ctx);
	ctx = NULL;
	assert_int_equal(cid_ctx_open(cfg, NOW, NULL, &ctx), CID_OK);
	assert_int_equal(cid_audit_issuer(cid_ctx_store(ctx), &issuer), CID_OK);
	assert_string_equal(issuer, "https://id.pref.example.jp/t/c");
	free(issuer);
	cid_ctx_close(ctx);
	cid_config_free(cfg);
}

/*
 * The login threads are the server's, not a tenant's: the places for calls
 * to upstream identity providers (half of login_threads) are counted over
 * every tenant of the map, so two tenants cannot together take them all.
 */
static void test_upstream_places_are_the_servers(void **state)
{
	struct fixture *f = *state;
	unsigned places = f->base->login_threads / 2 > 0 ? f->base->login_threads / 2 : 1;

	for (unsigned i = 0; i < places; i++)
		assert_true(cid_ctx_upstream_enter(f->a.ctx));
	assert_false(cid_ctx_upstream_enter(f->b.ctx));
	assert_false(cid_ctx_upstream_enter(f->a.ctx));
	/* a place given back at a is one b may take */
	cid_ctx_upstream_leave(f->a.ctx);
	assert_true(cid_ctx_upstream_enter(f->b.ctx));
	cid_ctx_upstream_leave(f->b.ctx);
	for (unsigned i = 1; i < places; i++)
		cid_ctx_upstream_leave(f->a.ctx);
}

/* ---- isolation ---- */

typedef enum cid_err (*endpoint_fn)(struct cid_ctx *, const struct cid_request *,
				    struct cid_reply *);

/* Calls ep of ctx with form (a query or a body) and the given credentials. */
static void call(struct cid_ctx *ctx, endpoint_fn ep, bool post, const char *form,
		 const char *authorization, const char *session, const char *officer,
		 struct cid_reply *reply)
{
	struct cid_request req = {
	    .post = post,
	    .form_content_type = post,
	    .authorization = authorization,
	    .session_cookie = session,
	    .officer_cookie = officer,
	    .remote_addr = "192.0.2.7",
	    .now = NOW + 10,
	};

	assert_int_equal(cid_params_parse_form(&req.params, form, strlen(form)), CID_OK);
	assert_int_equal(ep(ctx, &req, reply), CID_OK);
	cid_request_clear(&req);
}

/* The "error" member of a JSON reply, or "" */
static const char *error_of(const struct cid_reply *r, char *out, size_t outsz)
{
	json_t *body = r->body == NULL ? NULL : json_loadb(r->body, r->body_len, 0, NULL);
	const char *e = json_string_value(json_object_get(body, "error"));

	snprintf(out, outsz, "%s", e == NULL ? "" : e);
	json_decref(body);
	return out;
}

/* A code of hanako of c for svc, issued as the authorization endpoint issues it. */
static void issue_code(struct city *c, char code[CID_TOKEN_CHARS + 1])
{
	char sid[CID_TOKEN_CHARS + 1];
	json_t *auth;

	cid_test_session_sid(cid_ctx_store(c->ctx), c->hanako, NOW, sid);
	auth = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:[s], s:s}", "client_id", "svc",
			 "redirect_uri", SVC_CB, "scope", "openid", "account_id", c->hanako,
			 "auth_time", (json_int_t)NOW, "sid", sid, "amr", "pwd", "acr",
			 CID_ACR_PASSWORD);

	assert_int_equal(cid_code_issue(cid_ctx_store(c->ctx), auth, NOW, 600, code), CID_OK);
	json_decref(auth);
}

/* The tokens of a code of c redeemed at c: access, ID and refresh token. */
struct tokens {
	char *access, *id, *refresh;
};

static void tokens_of(struct city *c, struct tokens *t)
{
	char code[CID_TOKEN_CHARS + 1];
	char form[1024];
	struct cid_reply r = {0};
	json_t *body;

	issue_code(c, code);
	snprintf(form, sizeof(form),
		 "grant_type=authorization_code&code=%s&redirect_uri=%s&client_id=svc&"
		 "client_secret=%s",
		 code, SVC_CB, c->secret);
	call(c->ctx, cid_oidc_token, true, form, NULL, NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	body = json_loadb(r.body, r.body_len, 0, NULL);
	t->access = strdup(json_string_value(json_object_get(body, "access_token")));
	t->id = strdup(json_string_value(json_object_get(body, "id_token")));
	t->refresh = strdup(json_string_value(json_object_get(body, "refresh_token")));
	assert_non_null(t->access);
	assert_non_null(t->id);
	assert_non_null(t->refresh);
	json_decref(body);
	cid_reply_free(&r);
}

static void tokens_free(struct tokens *t)
{
	free(t->access);
	free(t->id);
	free(t->refresh);
}

/* A consent record of hanako of c, and its receipt. */
static void consent_of(struct city *c, char **record, char **receipt)
{
	const struct cid_consent_change changes[] = {
	    {"email", CID_CONSENT_GRANTED, NOW + 365 * DAY}};
	struct cid_policyref *pref = cid_ctx_policies_acquire(c->ctx);
	const struct cid_policy *pol = cid_policyset_find(cid_policyref_set(pref), "svc");
	struct cid_purpose_info pu;

	assert_non_null(pol);
	cid_policy_purpose(pol, 0, &pu);
	{
		struct cid_consent_context cc = {
		    .account_id = c->hanako,
		    .service = "svc",
		    .purpose = "fees",
		    .policy_version = cid_policy_version(pol),
		    .purpose_digest = pu.digest,
		    .method = CID_CONSENT_METHOD_SCREEN,
		    .request_id = "req-1",
		    .now = NOW,
		};

		assert_int_equal(cid_consent_record(cid_ctx_store(c->ctx), &cc, changes, 1, record),
				 CID_OK);
	}
	cid_policyref_put(pref);
	assert_int_equal(cid_receipt_make(c->ctx, *record, c->hanako, "en", NOW, receipt, NULL),
			 CID_OK);
}

/* An officer console session of olga in c. */
static void officer_of(struct city *c, char cookie[CID_TOKEN_CHARS + 1])
{
	uint32_t code = 0;
	char digits[CID_TOTP_DIGITS + 1];

	assert_int_equal(cid_totp(CID_TOTP_SHA1, c->totp, c->totp_len, NOW, CID_TOTP_DIGITS, &code),
			 CID_OK);
	snprintf(digits, sizeof(digits), "%06u", code);
	assert_int_equal(cid_officer_login(cid_ctx_store(c->ctx), &cid_ctx_config(c->ctx)->argon2,
					   "olga", PASSWORD, digits, NULL, NOW, cookie, NULL),
			 CID_OK);
}

/* Every credential tenant a hands out, made once for the table. */
struct creds {
	char code[CID_TOKEN_CHARS + 1];
	struct tokens t;
	char session[CID_TOKEN_CHARS + 1];
	char officer[CID_TOKEN_CHARS + 1];
	char *record, *receipt;
	char basic_a[512]; /* svc's credentials at a, as an Authorization header */
};

enum kind {
	K_CODE,
	K_REFRESH,
	K_ACCESS_USERINFO,
	K_ACCESS_INTROSPECT,
	K_ID_TOKEN_HINT,
	K_CLIENT_CREDENTIALS,
	K_SESSION_COOKIE,
	K_CONSENT_RECEIPT,
	K_CONSENT_RECORD,
	K_OFFICER_COOKIE,
	K_PASSWORD,
};

/*
 * One credential of a presented to a city: the status and error (the
 * refusal's name: an OAuth error, an error page's error, or the enum cid_err
 * of a libauth call) that city answers.
 */
struct outcome {
	int status;
	char error[64];
};

/* The pages the table names. */
static const char *page_name(enum cid_page p)
{
	switch (p) {
	case CID_PAGE_LOGGED_OUT: return "logged_out";
	case CID_PAGE_ACCOUNT: return "account";
	case CID_PAGE_OFFICER_LOGIN: return "officer_login";
	case CID_PAGE_OFFICER_ENTRY: return "officer_entry";
	default: return "other";
	}
}

static void present(struct fixture *f, struct city *to, enum kind k, struct creds *c,
		    struct outcome *o)
{
	struct cid_reply r = {0};
	char form[4096];
	char bearer[2048];

	memset(o, 0, sizeof(*o));
	switch (k) {
	case K_CODE:
		snprintf(form, sizeof(form),
			 "grant_type=authorization_code&code=%s&redirect_uri=%s&client_id=svc&"
			 "client_secret=%s",
			 c->code, SVC_CB, to->secret);
		call(to->ctx, cid_oidc_token, true, form, NULL, NULL, NULL, &r);
		break;
	case K_REFRESH:
		snprintf(form, sizeof(form),
			 "grant_type=refresh_token&refresh_token=%s&client_id=svc&client_secret=%s",
			 c->t.refresh, to->secret);
		call(to->ctx, cid_oidc_token, true, form, NULL, NULL, NULL, &r);
		break;
	case K_ACCESS_USERINFO:
		snprintf(bearer, sizeof(bearer), "Bearer %s", c->t.access);
		call(to->ctx, cid_oidc_userinfo, false, "", bearer, NULL, NULL, &r);
		break;
	case K_ACCESS_INTROSPECT: {
		json_t *body;

		snprintf(form, sizeof(form), "token=%s&client_id=svc&client_secret=%s", c->t.access,
			 to->secret);
		call(to->ctx, cid_oidc_introspect, true, form, NULL, NULL, NULL, &r);
		body = json_loadb(r.body, r.body_len, 0, NULL);
		o->status = r.status;
		snprintf(o->error, sizeof(o->error), "active=%s",
			 json_is_true(json_object_get(body, "active")) ? "true" : "false");
		json_decref(body);
		cid_reply_free(&r);
		return;
	}
	case K_ID_TOKEN_HINT:
		snprintf(form, sizeof(form), "id_token_hint=%s", c->t.id);
		call(to->ctx, cid_oidc_logout, false, form, NULL, NULL, NULL, &r);
		break;
	case K_CLIENT_CREDENTIALS:
		call(to->ctx, cid_oidc_token, true, "grant_type=client_credentials", c->basic_a,
		     NULL, NULL, &r);
		break;
	case K_SESSION_COOKIE:
		call(to->ctx, cid_account_page, false, "", NULL, c->session, NULL, &r);
		break;
	case K_OFFICER_COOKIE:
		call(to->ctx, cid_console_entry, false, "seq=0", NULL, NULL, c->officer, &r);
		break;
	case K_CONSENT_RECEIPT: {
		struct cid_keyref *kref = cid_ctx_keys_acquire(to->ctx);
		json_t *claims = NULL;
		enum cid_err rc = cid_receipt_verify(cid_keyref_keyset(kref), c->receipt,
						     strlen(c->receipt), &claims);

		cid_keyref_put(kref);
		json_decref(claims);
		snprintf(o->error, sizeof(o->error), "%s", rc == CID_OK ? "ok" : cid_strerror(rc));
		return;
	}
	case K_CONSENT_RECORD: {
		/* the receipt page of a record: a's record id and account id asked of to */
		char *jws = NULL;
		enum cid_err rc =
		    cid_receipt_make(to->ctx, c->record, f->a.hanako, "en", NOW + 10, &jws, NULL);

		free(jws);
		snprintf(o->error, sizeof(o->error), "%s", rc == CID_OK ? "ok" : cid_strerror(rc));
		return;
	}
	case K_PASSWORD: {
		/* hanako of a is not hanako of b, even with the same password */
		char id[CID_ID_CHARS + 1] = "";
		enum cid_err rc =
		    cid_account_login(cid_ctx_store(to->ctx), &cid_ctx_config(to->ctx)->argon2,
				      "hanako", PASSWORD, NULL, NULL, NOW + 10, id, NULL);

		snprintf(o->error, sizeof(o->error), "%s", cid_strerror(rc));
		if (rc == CID_OK)
			snprintf(o->error, sizeof(o->error), "%s",
				 strcmp(id, f->a.hanako) == 0 ? "ok" : "another account");
		return;
	}
	}
	o->status = r.status;
	if (r.page == CID_PAGE_ERROR)
		snprintf(o->error, sizeof(o->error), "page:%s",
			 json_string_value(json_object_get(r.page_data, "error")));
	else if (r.page != CID_PAGE_NONE)
		snprintf(o->error, sizeof(o->error), "page:%s", page_name(r.page));
	else
		error_of(&r, o->error, sizeof(o->error));
	cid_reply_free(&r);
}

static void test_credentials_of_a_are_refused_by_b(void **state)
{
	/*
	 * at_b: what b answers (the refusal, named); at_a: what a answers after
	 * (the credential is good: the refusal was b's).
	 */
	static const struct {
		const char *name;
		enum kind kind;
		int b_status;
		const char *at_b;
		int a_status;
		const char *at_a;
	} rows[] = {
	    {"authorization code", K_CODE, 400, "invalid_grant", 200, ""},
	    {"refresh token", K_REFRESH, 400, "invalid_grant", 200, ""},
	    {"access token at userinfo", K_ACCESS_USERINFO, 401, "invalid_token", 200, ""},
	    {"access token at introspection", K_ACCESS_INTROSPECT, 200, "active=false", 200,
	     "active=true"},
	    {"ID token as id_token_hint", K_ID_TOKEN_HINT, 400, "page:invalid_request", 200,
	     "page:logged_out"},
	    {"client credentials", K_CLIENT_CREDENTIALS, 401, "invalid_client", 200, ""},
	    /* b's account page as to someone not signed in; a's, signed in */
	    {"session cookie", K_SESSION_COOKIE, 401, "page:account", 200, "page:account"},
	    /* signed by a key b does not have */
	    {"consent receipt", K_CONSENT_RECEIPT, 0, "invalid input", 0, "ok"},
	    {"consent record id", K_CONSENT_RECORD, 0, "not found", 0, "ok"},
	    /* an officer of a at b's entry: sent to b's console login */
	    {"officer console cookie", K_OFFICER_COOKIE, 303, "", 200, "page:officer_entry"},
	    {"citizen username and password", K_PASSWORD, 0, "another account", 0, "ok"},
	};
	struct fixture *f = *state;
	struct creds c;
	struct cid_session sess;
	const char *amr[] = {"pwd"};
	char raw[256];
	size_t n;
	int failures = 0;

	memset(&c, 0, sizeof(c));
	issue_code(&f->a, c.code);
	tokens_of(&f->a, &c.t);
	assert_int_equal(cid_session_start(cid_ctx_store(f->a.ctx), f->a.hanako, CID_ACR_PASSWORD,
					   amr, 1, NOW, 3600, NULL, c.session, &sess),
			 CID_OK);
	officer_of(&f->a, c.officer);
	consent_of(&f->a, &c.record, &c.receipt);
	n = (size_t)snprintf(raw, sizeof(raw), "svc:%s", f->a.secret);
	/* svc's credentials at a as HTTP Basic (standard base64) */
	{
		static const char tbl[] =
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
		char *o = c.basic_a + snprintf(c.basic_a, sizeof(c.basic_a), "Basic ");
		size_t i;

		for (i = 0; i + 2 < n; i += 3) {
			uint32_t v = ((uint32_t)(unsigned char)raw[i] << 16) |
				     ((uint32_t)(unsigned char)raw[i + 1] << 8) |
				     (unsigned char)raw[i + 2];
			*o++ = tbl[(v >> 18) & 63];
			*o++ = tbl[(v >> 12) & 63];
			*o++ = tbl[(v >> 6) & 63];
			*o++ = tbl[v & 63];
		}
		if (n - i == 1) {
			uint32_t v = (uint32_t)(unsigned char)raw[i] << 16;
			*o++ = tbl[(v >> 18) & 63];
			*o++ = tbl[(v >> 12) & 63];
			*o++ = '=';
			*o++ = '=';
		} else if (n - i == 2) {
			uint32_t v = ((uint32_t)(unsigned char)raw[i] << 16) |
				     ((uint32_t)(unsigned char)raw[i + 1] << 8);
			*o++ = tbl[(v >> 18) & 63];
			*o++ = tbl[(v >> 12) & 63];
			*o++ = tbl[(v >> 6) & 63];
			*o++ = '=';
		}
		*o = '\0';
	}
	/* same names, different citizens */
	assert_string_not_equal(f->a.hanako, f->b.hanako);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct outcome at_b;
		struct outcome at_a;

		present(f, &f->b, rows[i].kind, &c, &at_b);
		present(f, &f->a, rows[i].kind, &c, &at_a);
		if (at_b.status != rows[i].b_status || strcmp(at_b.error, rows[i].at_b) != 0) {
			print_message("%s of a at b: got %d \"%s\", want %d \"%s\"\n", rows[i].name,
				      at_b.status, at_b.error, rows[i].b_status, rows[i].at_b);
			failures++;
		}
		if (at_a.status != rows[i].a_status || strcmp(at_a.error, rows[i].at_a) != 0) {
			print_message("%s of a at a: got %d \"%s\", want %d \"%s\"\n", rows[i].name,
				      at_a.status, at_a.error, rows[i].a_status, rows[i].at_a);
			failures++;
		}
	}
	tokens_free(&c.t);
	free(c.record);
	free(c.receipt);
	assert_int_equal(failures, 0);
}

/* ---- adopting a single city ---- */

static void test_adopt_keeps_the_log(void **state)
{
	char dir[256];
	char path[512];
	char err[256] = "";
	struct cid_config *cfg = cid_test_config_keyless(dir);
	struct cid_config *tcfg = NULL;
	struct cid_ctx *ctx = NULL;
	struct cid_store *s = NULL;
	char hanako[CID_ID_CHARS + 1];
	json_t *claims = json_pack("{s:s}", "given_name", "花子");

	(void)state;
	snprintf(path, sizeof(path), "%s/store", dir);
	cid_test_set(cfg, "store", path);
	cid_test_store_keys(path, 0);
	snprintf(path, sizeof(path), "%s/policies", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	cid_test_set(cfg, "policies", path);
	/* a single city with a citizen and a log */
	assert_int_equal(cid_ctx_open(cfg, NOW, NULL, &ctx), CID_OK);
	assert_int_equal(cid_account_add(cid_ctx_store(ctx), &cfg->argon2, "hanako", PASSWORD,
					 claims, NOW, hanako),
			 CID_OK);
	json_decref(claims);
	cid_ctx_close(ctx);
	ctx = NULL;
	/* adding a tenant beside it would strand it (a store with a tenant serves
	 * tenants only): refused, pointing to adopt, and nothing added */
	assert_int_equal(cid_tenant_add(cfg, "kita", NULL, NULL, 0, err, sizeof(err)),
			 CID_ERR_EXISTS);
	assert_non_null(strstr(err, "civicid tenant adopt"));
	assert_false(cid_tenant_any(cfg));
	assert_int_equal(cid_tenant_adopt(cfg, "aizu", NULL, NULL, 0, NOW + 1, err, sizeof(err)),
			 CID_OK);
	/* once adopted, others are added beside it */
	assert_int_equal(cid_tenant_add(cfg, "kita", NULL, NULL, 0, err, sizeof(err)), CID_OK);
	assert_true(cid_tenant_any(cfg));
	/* a second adopt: the store is no single city any more */
	assert_int_equal(cid_tenant_adopt(cfg, "nara", NULL, NULL, 0, NOW + 1, err, sizeof(err)),
			 CID_ERR_EXISTS);
	snprintf(path, sizeof(path), "%s/policies/aizu", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(cid_tenant_config(cfg, "aizu", &tcfg, NULL, err, sizeof(err)), CID_OK);
	assert_int_equal(cid_store_open(tcfg->store_dir, &s), CID_OK);
	{
		struct cid_account *acct = NULL;

		assert_int_equal(cid_account_find(s, "hanako", &acct), CID_OK);
		assert_string_equal(acct->id, hanako);
		cid_account_free(acct);
	}
	/* a checkpoint after the move, then the whole log verifies */
	assert_int_equal(cid_audit_checkpoint(s, NOW + 2, NULL), CID_OK);
	{
		struct cid_keyset *ks = NULL;
		struct cid_audit_verify_opts vo = {0};
		struct cid_audit_report rep;
		struct cid_txn *txn = NULL;
		json_t *last = NULL;

		memset(&rep, 0, sizeof(rep));
		assert_int_equal(cid_keyset_load_all(s, &ks), CID_OK);
		assert_int_equal(cid_audit_verify_store(s, ks, &vo, &rep), CID_OK);
		if (!rep.ok)
			fail_msg("audit verify: %s", rep.reason);
		assert_true(rep.entries >= 1);
		cid_keyset_free(ks);
		assert_int_equal(cid_store_read_begin(s, &txn), CID_OK);
		assert_int_equal(cid_audit_get(txn, rep.entries - 1, &last), CID_OK);
		cid_store_read_end(txn);
		assert_string_equal(json_string_value(json_object_get(last, "type")),
				    "tenant.adopted");
		json_decref(last);
	}
	cid_store_close(s);
	cid_config_free(tcfg);
	cid_config_free(cfg);
	cid_test_rmdir(dir);
}

/*
 * A single city no server ever started on has no issuer in its log. Adopt
 * is a command (its issuer the CLI's default, http://127.0.0.1:8080): it
 * records none, so the first server to serve the tenant records its own.
 */
static void test_adopt_of_a_store_never_served_records_no_issuer(void **state)
{
	char dir[256];
	char path[512];
	char err[256] = "";
	struct cid_config *cfg = cid_test_config_keyless(dir);
	struct cid_config *tcfg = NULL;
	struct cid_ctx *ctx = NULL;
	struct cid_store *s = NULL;
	struct cid_txn *txn = NULL;
	json_t *last = NULL;
	char *issuer = NULL;
	char head[CID_AUDIT_HASH_HEX];
	uint64_t n = 0;

	(void)state;
	snprintf(path, sizeof(path), "%s/store", dir);
	cid_test_set(cfg, "store", path);
	cid_test_store_keys(path, 0);
	snprintf(path, sizeof(path), "%s/policies", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	cid_test_set(cfg, "policies", path);
	/* a single city only commands have opened: no issuer recorded */
	assert_int_equal(cid_ctx_open_flags(cfg, NOW, CID_CTX_NO_ISSUER, NULL, &ctx), CID_OK);
	assert_int_equal(cid_audit_issuer(cid_ctx_store(ctx), &issuer), CID_ERR_NOTFOUND);
	cid_ctx_close(ctx);
	ctx = NULL;
	assert_string_equal(cfg->issuer, "http://127.0.0.1:8080");
	assert_int_equal(cid_tenant_adopt(cfg, "aizu", NULL, NULL, 0, NOW + 1, err, sizeof(err)),
			 CID_OK);
	/* adopted and logged, and still no issuer */
	assert_int_equal(cid_tenant_config(cfg, "aizu", &tcfg, NULL, err, sizeof(err)), CID_OK);
	assert_int_equal(cid_store_open(tcfg->store_dir, &s), CID_OK);
	assert_int_equal(cid_audit_issuer(s, &issuer), CID_ERR_NOTFOUND);
	assert_int_equal(cid_store_read_begin(s, &txn), CID_OK);
	assert_int_equal(cid_audit_head(txn, &n, head), CID_OK);
	assert_true(n >= 1);
	assert_int_equal(cid_audit_get(txn, n - 1, &last), CID_OK);
	cid_store_read_end(txn);
	assert_string_equal(json_string_value(json_object_get(last, "type")), "tenant.adopted");
	json_decref(last);
	cid_store_close(s);
	cid_config_free(tcfg);
	tcfg = NULL;
	/* the server that serves it, at its own issuer, records the tenant's */
	cid_test_set(cfg, "issuer", "https://id.pref.example.jp");
	snprintf(path, sizeof(path), "%s/policies/aizu", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(cid_tenant_config(cfg, "aizu", &tcfg, NULL, err, sizeof(err)), CID_OK);
	assert_int_equal(cid_ctx_open(tcfg, NOW + 2, NULL, &ctx), CID_OK);
	assert_int_equal(cid_audit_issuer(cid_ctx_store(ctx), &issuer), CID_OK);
	assert_string_equal(issuer, "https://id.pref.example.jp/t/aizu");
	free(issuer);
	cid_ctx_close(ctx);
	cid_config_free(tcfg);
	cid_config_free(cfg);
	cid_test_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_hosts),
	    cmocka_unit_test_setup_teardown(test_host_tenant, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stale_host_index_is_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tenant_config, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_show, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_upstream_places_are_the_servers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_a_look_records_no_issuer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_host_at_the_servers_name_added_before_stays, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_failed_open_is_retried_later, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_many_failed_opens_each_wait, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_credentials_of_a_are_refused_by_b, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_registry, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tenant_conf_sets_no_server_setting, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_first_open_makes_the_tenants_own_keys, setup,
					    teardown),
	    cmocka_unit_test(test_adopt_keeps_the_log),
	    cmocka_unit_test(test_adopt_of_a_store_never_served_records_no_issuer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
