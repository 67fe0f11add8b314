/*
 * config: defaults, the file format and its errors (table-driven: each row
 * is a file's text and the message it must produce), and cross-key checks.
 */
#include "config.h"
#include "support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void test_defaults(void **state)
{
	struct cid_config *cfg = NULL;
	char err[256];

	(void)state;
	assert_int_equal(cid_config_new(&cfg), CID_OK);
	assert_string_equal(cfg->issuer, "http://127.0.0.1:8080");
	assert_int_equal(cfg->port, 8080);
	assert_int_equal(cfg->code_ttl, CID_CODE_TTL);
	assert_int_equal(cfg->access_ttl, CID_ACCESS_TTL);
	assert_int_equal(cfg->argon2.m_cost_kib, CID_ARGON2_M_KIB);
	assert_int_equal(cfg->argon2.t_cost, CID_ARGON2_T);
	/* OWASP's argon2id minimum, pinned so the macros cannot drift below it */
	assert_int_equal(cfg->argon2.m_cost_kib, 19456);
	assert_int_equal(cfg->argon2.t_cost, 2);
	assert_int_equal(cfg->argon2.parallelism, 1);
	/* more login threads than cores, the hashes at once bounded to the cores apart */
	assert_int_equal(cfg->login_threads, 8);
	/* nothing on an HTTP thread waits for the disk: a few per core, the writes apart */
	assert_int_equal(cfg->threads, 8);
	assert_int_equal(cfg->write_threads, 4);
	assert_int_equal(cfg->argon2_at_once, 0);
	assert_null(cfg->argon2.gate);
	assert_string_equal(cfg->default_locale, "ja");
	assert_string_equal(cfg->timezone, "Asia/Tokyo");
	assert_string_equal(cfg->city_name_ja, "");
	assert_string_equal(cfg->city_logo, "");
	/* no proxy is trusted unless configured: forwarding headers are not believed */
	assert_non_null(cfg->trusted_proxies);
	assert_int_equal(cid_netaddr_set_count(cfg->trusted_proxies), 0);
	assert_int_equal(cid_config_check(cfg, err, sizeof(err)), CID_OK);
	cid_config_free(cfg);
}

struct file_case {
	const char *text;
	enum cid_err expect;
	const char *message; /* substring of the error */
};

static const struct file_case file_cases[] = {
    {"# comment\n\nissuer = https://id.city.example\nport = 9000\n", CID_OK, ""},
    {"code_ttl = 30\naccess_token_ttl=600\n", CID_OK, ""},
    {"default_locale = en\n", CID_OK, ""},
    {"nonsense = 1\n", CID_ERR_CONFIG, ":1: unknown key \"nonsense\""},
    {"\n\nport = 70000\n", CID_ERR_CONFIG, ":3: port: must be a whole number in 0..65535"},
    {"port = -1\n", CID_ERR_CONFIG, ":1: port"},
    {"port = 12x\n", CID_ERR_CONFIG, ":1: port"},
    {"code_ttl = 5\n", CID_ERR_CONFIG, "code_ttl: must be a whole number in 10..600"},
    {"code_ttl = 601\n", CID_ERR_CONFIG, "10..600"},
    {"port = 1\nport = 2\n", CID_ERR_CONFIG, ":2: port given twice"},
    {"just words\n", CID_ERR_CONFIG, ":1: expected \"key = value\""},
    {"default_locale = fr\n", CID_ERR_CONFIG, "must be ja or en"},
    {"issuer =\n", CID_ERR_CONFIG, "issuer: length"},
    {"threads = 0\n", CID_ERR_CONFIG, "threads"},
    {"listen = \xff\xfe\n", CID_ERR_CONFIG, "UTF-8"},
    {"trusted_proxies = 127.0.0.1, ::1 10.0.0.0/8\n", CID_OK, ""},
    {"trusted_proxies =\n", CID_OK, ""},
    {"\ntrusted_proxies = 127.0.0.1 proxy.city.example\n", CID_ERR_CONFIG,
     ":2: trusted_proxies: \"proxy.city.example\" is not an IP address or CIDR range"},
    {"trusted_proxies = 10.0.0.1/8\n", CID_ERR_CONFIG,
     "trusted_proxies: \"10.0.0.1/8\" has bits set past its prefix"},
};

static void test_file_rows(void **state)
{
	char dir[256], path[300], err[512];

	(void)state;
	cid_test_tmpdir(dir);
	snprintf(path, sizeof(path), "%s/civicid.conf", dir);
	for (size_t i = 0; i < sizeof(file_cases) / sizeof(file_cases[0]); i++) {
		struct cid_config *cfg = NULL;
		cid_test_write_file(path, file_cases[i].text);
		assert_int_equal(cid_config_new(&cfg), CID_OK);
		err[0] = '\0';
		enum cid_err got = cid_config_load(cfg, path, err, sizeof(err));
		if (got != file_cases[i].expect || strstr(err, file_cases[i].message) == NULL)
			fail_msg("row %zu: got %s, message '%s'", i, cid_strerror(got), err);
		if (got != CID_OK)
			assert_non_null(strstr(err, path)); /* names the file */
		cid_config_free(cfg);
	}
	cid_test_rmdir(dir);
}

static void test_loaded_values_apply(void **state)
{
	char dir[256], path[300], err[512];
	struct cid_config *cfg = NULL;

	(void)state;
	cid_test_tmpdir(dir);
	snprintf(path, sizeof(path), "%s/c.conf", dir);
	cid_test_write_file(path, "issuer = https://id.city.example\n  store = /srv/civicid  \n"
				  "argon2_m_kib = 65536\nrefresh_token_ttl = 3600\n");
	assert_int_equal(cid_config_new(&cfg), CID_OK);
	assert_int_equal(cid_config_load(cfg, path, err, sizeof(err)), CID_OK);
	assert_string_equal(cfg->issuer, "https://id.city.example");
	assert_string_equal(cfg->store_dir, "/srv/civicid");
	assert_int_equal(cfg->argon2.m_cost_kib, 65536);
	assert_int_equal(cfg->refresh_ttl, 3600);
	/* a later value replaces the set (the flags override the file this way) */
	assert_int_equal(cid_config_set(cfg, "trusted_proxies", "127.0.0.1 ::1", err, sizeof(err)),
			 CID_OK);
	assert_int_equal(cid_netaddr_set_count(cfg->trusted_proxies), 2);
	assert_int_equal(cid_config_set(cfg, "trusted_proxies", "10.0.0.0/8", err, sizeof(err)),
			 CID_OK);
	assert_int_equal(cid_netaddr_set_count(cfg->trusted_proxies), 1);
	/* a refused value leaves the set in force */
	assert_int_equal(cid_config_set(cfg, "trusted_proxies", "nonsense", err, sizeof(err)),
			 CID_ERR_CONFIG);
	assert_int_equal(cid_netaddr_set_count(cfg->trusted_proxies), 1);
	assert_int_equal(cid_config_load(cfg, "/nonexistent/civicid.conf", err, sizeof(err)),
			 CID_ERR_IO);
	cid_config_free(cfg);
	cid_test_rmdir(dir);
}

static void test_cross_key_checks(void **state)
{
	static const struct {
		const char *key, *value;
		bool ok;
	} rows[] = {
	    {"issuer", "https://id.city.example", true},
	    {"issuer", "https://id.city.example/", false},
	    {"issuer", "https://id.city.example?x=1", false},
	    {"issuer", "https://id.city.example#f", false},
	    {"issuer", "ftp://id.city.example", false},
	    {"issuer", "https://", false},
	    {"issuer", "https://user@id.city.example", false},
	    {"key_keep", "60", false}, /* shorter than the 300 s access tokens */
	    {"refresh_token_ttl", "60", false},
	    /* receipts link it: a script or data URL is no privacy notice */
	    {"policy_url", "https://city.example.jp/privacy", true},
	    {"policy_url", "http://city.example.jp/privacy", true},
	    {"policy_url", "", true}, /* not set: receipts are refused instead */
	    {"policy_url", "javascript:alert(1)", false},
	    {"policy_url", "data:text/html,x", false},
	    {"policy_url", "https://", false},
	    {"policy_url", "https:///privacy", false},
	    {"policy_url", "https://:443/privacy", false},
	    {"policy_url", "https://city.example.jp/a b", false},
	    {"issuer", "http://", false},
	    {"issuer", "https:///x", false},
	    /* the zone is joined to the zone directory: only a zone's name */
	    {"timezone", "Europe/Berlin", true},
	    {"timezone", "Etc/GMT+9", true},
	    {"timezone", "../../etc/passwd", false},
	    {"timezone", "/etc/localtime", false},
	    {"timezone", "Asia Tokyo", false},
	    /* the logo: a raster image under web_dir/static, never a path out of it */
	    {"city_logo", "city-logo.png", true},
	    {"city_logo", "img/Logo.JPEG", true},
	    {"city_logo", "", true},
	    {"city_logo", "logo.svg", false},
	    {"city_logo", "../templates/login.html", false},
	    {"city_logo", "/etc/logo.png", false},
	    {"city_logo", "a..png", false},
	    /* which part of the APPI binds the controller: one of two, or not declared */
	    {"controller_type", "local_government", true},
	    {"controller_type", "business", true},
	    {"controller_type", "", true},
	    {"controller_type", "Business", false},
	    {"controller_type", "local-government", false},
	    {"controller_type", "government", false},
	};

	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct cid_config *cfg = NULL;
		assert_int_equal(cid_config_new(&cfg), CID_OK);
		assert_int_equal(cid_config_set(cfg, rows[i].key, rows[i].value, err, sizeof(err)),
				 CID_OK);
		bool ok = cid_config_check(cfg, err, sizeof(err)) == CID_OK;
		if (ok != rows[i].ok)
			fail_msg("%s = %s: expected %s", rows[i].key, rows[i].value,
				 rows[i].ok ? "ok" : "an error");
		if (!ok && strstr(err, rows[i].key) == NULL)
			fail_msg("%s = %s: the error does not name the key: %s", rows[i].key,
				 rows[i].value, err);
		cid_config_free(cfg);
	}
}

static void test_describe_lists_every_key(void **state)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	(void)state;
	assert_non_null(f);
	cid_config_describe(f);
	fclose(f);
	const char *expected[] = {
	    "issuer =",		"listen =",	      "port =",		 "store =",
	    "code_ttl =",	"access_token_ttl =", "key_keep =",	 "argon2_m_kib =",
	    "default_locale =", "trusted_proxies =",  "type: addresses", "timezone = Asia/Tokyo",
	    "city_name_ja =",	"city_name_en =",     "city_logo ="};
	for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++)
		assert_non_null(strstr(text, expected[i]));
	free(text);
}

/*
 * A copy (what a tenant's configuration starts from) has every value, and owns its own;
 * the gate of its hashes is the one of the process, shared, not copied.
 */
static void test_dup_copies_every_kind_of_key(void **state)
{
	struct cid_config *cfg = NULL;
	struct cid_config *copy = NULL;
	struct cid_hash_gate *gate = NULL;
	char err[256];

	(void)state;
	assert_int_equal(cid_hash_gate_new(1, &gate), CID_OK);
	assert_int_equal(cid_config_new(&cfg), CID_OK);
	cfg->argon2.gate = gate;
	assert_int_equal(cid_config_set(cfg, "argon2_at_once", "3", err, sizeof(err)), CID_OK);
	assert_int_equal(cid_config_set(cfg, "issuer", "https://id.example", err, sizeof(err)),
			 CID_OK);
	assert_int_equal(cid_config_set(cfg, "port", "9443", err, sizeof(err)), CID_OK);
	assert_int_equal(cid_config_set(cfg, "session_ttl", "600", err, sizeof(err)), CID_OK);
	assert_int_equal(cid_config_set(cfg, "default_locale", "en", err, sizeof(err)), CID_OK);
	assert_int_equal(cid_config_set(cfg, "argon2_m_kib", "64", err, sizeof(err)), CID_OK);
	assert_int_equal(
	    cid_config_set(cfg, "trusted_proxies", "127.0.0.1, 10.0.0.0/8", err, sizeof(err)),
	    CID_OK);
	snprintf(cfg->path_prefix, sizeof(cfg->path_prefix), "/t/aizu");
	assert_int_equal(cid_config_dup(cfg, &copy), CID_OK);
	cid_config_free(cfg); /* the copy shares nothing with it */
	assert_string_equal(copy->issuer, "https://id.example");
	assert_int_equal(copy->port, 9443);
	assert_int_equal(copy->session_ttl, 600);
	assert_string_equal(copy->default_locale, "en");
	assert_int_equal(copy->argon2.m_cost_kib, 64);
	assert_int_equal(cid_netaddr_set_count(copy->trusted_proxies), 2);
	assert_string_equal(copy->path_prefix, "/t/aizu");
	assert_string_equal(copy->store_dir, "./var/civicid");
	assert_int_equal(copy->argon2_at_once, 3);
	assert_ptr_equal(copy->argon2.gate, gate);
	cid_config_free(copy);
	cid_hash_gate_free(gate);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_file_rows),
	    cmocka_unit_test(test_loaded_values_apply),
	    cmocka_unit_test(test_cross_key_checks),
	    cmocka_unit_test(test_describe_lists_every_key),
	    cmocka_unit_test(test_dup_copies_every_kind_of_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
