/*
 * config: one table describes every key (type, range, default, meaning); the
 * parser, the defaults and `--help-config` all read it, so the documentation
 * cannot drift from what the code accepts.
 */
#include "config.h"

#include "bounds.h"
#include "str.h"
#include "tz.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifndef CID_DEFAULT_WEB_DIR
#define CID_DEFAULT_WEB_DIR "./web"
#endif

enum key_type { KEY_STRING, KEY_UINT, KEY_SECONDS, KEY_LOCALE, KEY_NETS };

struct key_def {
	const char *name;
	enum key_type type;
	size_t offset; /* of the member in struct cid_config */
	size_t size;   /* of that member, for integers */
	uint64_t min, max;
	const char *def; /* default, as text */
	const char *help;
};

#define MEMBER(m) offsetof(struct cid_config, m), sizeof(((struct cid_config *)0)->m)

static const struct key_def keys[] = {
    {"issuer", KEY_STRING, MEMBER(issuer), 1, CID_MAX_URI, "http://127.0.0.1:8080",
     "Issuer URL: the public base URL of civicid, no trailing slash. Every endpoint is "
     "below it; it is the \"iss\" of every token."},
    {"listen", KEY_STRING, MEMBER(listen), 1, 64, "127.0.0.1",
     "Address to listen on (IPv4 or IPv6 literal). Put TLS in front (see deploy/)."},
    {"port", KEY_UINT, MEMBER(port), 0, 65535, "8080", "TCP port; 0 picks a free one."},
    {"store", KEY_STRING, MEMBER(store_dir), 1, 4096, "./var/civicid",
     "Directory of the LMDB store (created 0700 if missing)."},
    {"web_dir", KEY_STRING, MEMBER(web_dir), 1, 4096, CID_DEFAULT_WEB_DIR,
     "Directory of templates/, messages/ and static/."},
    {"policies", KEY_STRING, MEMBER(policies_dir), 1, 4096, "./policies",
     "Directory of the services' release policies (*.policy; policies/README.md). "
     "Loaded at start (an error refuses to start); reloaded on SIGHUP or `civicid "
     "policy reload`, when a bad file leaves the old policies in force."},
    {"threads", KEY_UINT, MEMBER(threads), 1, 256, "8",
     "HTTP threads (libmicrohttpd's thread pool), each serving many connections. Nothing "
     "waits for the disk on them: a request that may write to the store runs on a write "
     "thread, a login on a login thread, and a release's audit entries go to the log's "
     "group commit while the connection is set aside, so a few per core are enough; more "
     "only add thread switches."},
    {"write_threads", KEY_UINT, MEMBER(write_threads), 1, 64, "4",
     "Threads that answer the requests that may wait for a durable write of the store "
     "(authorize, consent, the code and refresh grants, revocation, logout, the account "
     "pages), so that a slow disk holds up those requests, not the HTTP threads' other "
     "connections. The store takes one write at a time; more threads only queue there."},
    {"login_threads", KEY_UINT, MEMBER(login_threads), 1, 64, "8",
     "Threads that answer the slow requests off the HTTP threads: logins with a password "
     "(argon2id), log scans, calls to upstream identity providers (at most half of the "
     "threads at once). A login thread also waits "
     "for the durable commits of what a login wrote; at most argon2_at_once of them hash at "
     "once, so more login threads than that keep the cores hashing meanwhile."},
    {"max_connections", KEY_UINT, MEMBER(max_connections), 16, 65536, "1024",
     "Most concurrent HTTP connections."},
    {"connection_timeout", KEY_UINT, MEMBER(connection_timeout), 1, 600, "15",
     "Seconds an idle connection is kept."},
    {"trusted_proxies", KEY_NETS, offsetof(struct cid_config, trusted_proxies), 0, 0, 0, "",
     "Reverse proxies whose X-Forwarded-For and Forwarded headers are believed: IPv4/IPv6 "
     "addresses and CIDR ranges, separated by spaces or commas. Behind them the client is "
     "the rightmost address in those headers that is not a trusted proxy; the client's "
     "address is what failed logins are counted under. Empty: the TCP peer is the client "
     "and no forwarding header is believed. Behind deploy/nginx.conf.example: 127.0.0.1."},
    {"code_ttl", KEY_SECONDS, MEMBER(code_ttl), 10, 600, "60",
     "Lifetime of an authorization code, seconds."},
    {"access_token_ttl", KEY_SECONDS, MEMBER(access_ttl), 30, CID_ACCESS_TTL_MAX, "300",
     "Lifetime of an access token (a JWT a service may verify offline), seconds."},
    {"id_token_ttl", KEY_SECONDS, MEMBER(id_token_ttl), 30, 86400, "300",
     "Lifetime of an ID token, seconds."},
    {"refresh_token_ttl", KEY_SECONDS, MEMBER(refresh_ttl), 60, CID_REFRESH_TTL_MAX, "2592000",
     "Lifetime of a refresh token family, seconds."},
    {"session_ttl", KEY_SECONDS, MEMBER(session_ttl), 60, 2592000, "28800",
     "Lifetime of a single-sign-on session, seconds."},
    {"key_keep", KEY_SECONDS, MEMBER(key_keep), 60, 31536000, "86400",
     "Seconds a retired signing key stays in the JWKS, and verifies, after `keys rotate` "
     "(not `--revoke`); at least the longest token lifetime."},
    {"key_publish_delay", KEY_SECONDS, MEMBER(key_publish_delay), 0, 31536000, "86400",
     "Seconds a key published by `keys rotate --publish-only` is in the JWKS before it "
     "signs; then the running server makes it the active key. Longer than relying parties "
     "cache the JWKS, so they know the key before its first token."},
    {"audit_group_commit", KEY_UINT, MEMBER(audit_group_commit), 0, 1, "1",
     "1: release entries of concurrent requests share one durable commit of the audit "
     "log (group commit); 0: one commit per request (slower; for comparison)."},
    {"audit_checkpoint_interval", KEY_SECONDS, MEMBER(audit_checkpoint_interval), 5, 86400, "60",
     "Seconds between signed checkpoints of the audit log (only when it grew; one is "
     "also signed at shutdown and by `civicid audit export`)."},
    {"audit_witnesses", KEY_STRING, MEMBER(audit_witnesses), 0, 4096, "",
     "Witnesses each new audit checkpoint is pushed to (c2sp.org/tlog-witness), from the "
     "checkpoint timer: items separated by commas, each \"URL VKEY\", the witness's URL "
     "(its add-checkpoint endpoint is below it) and its cosignature verifier key (what "
     "`civicid witness init` prints). Cosignatures are kept with the checkpoints; failures "
     "are logged. Empty: no witness (a rollback or a cut tail then goes unnoticed)."},
    {"console_export_max", KEY_UINT, MEMBER(console_export_max), 1, 1000000, "100000",
     "Most entries one export from the officer console may hold; a filter matching more "
     "is refused with a request to narrow it (`civicid audit export` has no limit)."},
    {"backchannel_logout_attempts", KEY_UINT, MEMBER(logout_attempts), 1, 20, "5",
     "Tries to deliver one back-channel logout notice (OpenID Connect Back-Channel Logout "
     "1.0) before it is given up and logged as logout.failed."},
    {"backchannel_logout_backoff", KEY_SECONDS, MEMBER(logout_backoff), 1, 3600, "30",
     "Seconds before a failed back-channel logout notice is tried again; doubled after "
     "each further failure, at most one hour."},
    {"backchannel_logout_timeout", KEY_SECONDS, MEMBER(logout_timeout), 1, 60, "10",
     "Seconds one try of a back-channel logout notice may take, answer included."},
    {"backchannel_logout_connect_timeout", KEY_SECONDS, MEMBER(logout_connect_timeout), 1, 60, "5",
     "Seconds one try of a back-channel logout notice may take to connect (TCP and TLS)."},
    {"backchannel_logout_concurrency", KEY_UINT, MEMBER(logout_concurrency), 1, 64, "8",
     "Back-channel logout notices sent at once; more wait for a free place, so slow services "
     "cannot hold up the others beyond it."},
    {"argon2_t", KEY_UINT, MEMBER(argon2.t_cost), 1, 64, "2",
     "argon2id iterations (OWASP: 2 with 19 MiB)."},
    {"argon2_m_kib", KEY_UINT, MEMBER(argon2.m_cost_kib), 64, 4194304, "19456",
     "argon2id memory in KiB (OWASP: 19456)."},
    {"argon2_p", KEY_UINT, MEMBER(argon2.parallelism), 1, 16, "1", "argon2id lanes."},
    {"argon2_at_once", KEY_UINT, MEMBER(argon2_at_once), 0, CID_MAX_HASHES_AT_ONCE, "0",
     "argon2id hashes computed at once by `civicid serve`, across its login threads and "
     "tenants; the others wait their turn. 0: one per core."},
    {"default_locale", KEY_LOCALE, MEMBER(default_locale), 2, 2, "ja",
     "Language of pages when the browser asks for none we have: ja or en."},
    {"controller_name", KEY_STRING, MEMBER(controller_name), 0, 256, "",
     "Consent receipts: the PII controller, i.e. the city's legal name (Kantara CR 1.1 "
     "piiController). Receipts are refused until controller_name, controller_contact, "
     "controller_address, controller_email and policy_url are set."},
    {"controller_contact", KEY_STRING, MEMBER(controller_contact), 0, 256, "",
     "Consent receipts: who answers privacy questions (a person or office)."},
    {"controller_address", KEY_STRING, MEMBER(controller_address), 0, 512, "",
     "Consent receipts: the controller's postal address, one line."},
    {"controller_email", KEY_STRING, MEMBER(controller_email), 0, 256, "",
     "Consent receipts: the controller's privacy contact e-mail address."},
    {"controller_phone", KEY_STRING, MEMBER(controller_phone), 0, 64, "",
     "Consent receipts: the controller's privacy contact phone number (optional)."},
    {"policy_url", KEY_STRING, MEMBER(policy_url), 0, CID_MAX_URI, "",
     "Consent receipts: URL of the city's privacy notice (an http or https URL)."},
    {"controller_type", KEY_STRING, MEMBER(controller_type), 0, 32, "",
     "Which part of Japan's personal information law (APPI) binds the controller: "
     "local_government (Chapter 5: a statute basis must cite its article, and `civicid "
     "policy register` gives the personal information file register) or business "
     "(Art. 27-30: `civicid audit provisions` gives the third-party provision records, and "
     "a third-party recipient's policy must name its legal name and corporate number); "
     "empty: not declared, neither is checked."},
    {"jurisdiction", KEY_STRING, MEMBER(jurisdiction), 1, 64, "JP",
     "Consent receipts: the jurisdiction whose law governs the consents."},
    {"city_name_ja", KEY_STRING, MEMBER(city_name_ja), 0, 128, "",
     "The city's name in the header of every page in Japanese (empty: the header names "
     "only civicid). The controller_* keys above fill the pages' footer."},
    {"city_name_en", KEY_STRING, MEMBER(city_name_en), 0, 128, "",
     "The city's name in the header of every page in English (empty: city_name_ja)."},
    {"city_logo", KEY_STRING, MEMBER(city_logo), 0, 128, "",
     "The city's logo in the header of every page: a PNG, JPEG, GIF or WebP file under "
     "web_dir/static (e.g. city-logo.png), at most 256 KiB, read at start and served at "
     "/static/logo (empty: no logo)."},
    {"timezone", KEY_STRING, MEMBER(timezone), 1, CID_TZ_MAX_NAME, "Asia/Tokyo",
     "The time zone of the times pages show, a name of the tz database (Debian's tzdata, "
     "read once at start from /usr/share/zoneinfo). A zone that cannot be read is reported "
     "at start, and pages then show UTC."},
};

#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

static const struct key_def *key_find(const char *name)
{
	for (size_t i = 0; i < N_KEYS; i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

static enum cid_err key_set(struct cid_config *cfg, const struct key_def *k, const char *value,
			    char *err, size_t errsz)
{
	char *base = (char *)cfg + k->offset;
	size_t n = strlen(value);

	if (!cid_utf8_valid(value, n)) {
		snprintf(err, errsz, "%s: not valid UTF-8 text", k->name);
		return CID_ERR_CONFIG;
	}
	switch (k->type) {
	case KEY_LOCALE:
		if (strcmp(value, "ja") != 0 && strcmp(value, "en") != 0) {
			snprintf(err, errsz, "%s: must be ja or en", k->name);
			return CID_ERR_CONFIG;
		}
		__attribute__((fallthrough));
	case KEY_STRING: {
		if (n < k->min || n > k->max) {
			snprintf(err, errsz, "%s: length must be %llu..%llu", k->name,
				 (unsigned long long)k->min, (unsigned long long)k->max);
			return CID_ERR_CONFIG;
		}
		char *copy = strdup(value);
		if (copy == NULL)
			return CID_ERR_NOMEM;
		char **slot = (char **)(void *)base;
		free(*slot);
		*slot = copy;
		return CID_OK;
	}
	case KEY_NETS: {
		struct cid_netaddr_set *set = NULL;
		char why[192] = "";
		enum cid_err rc = cid_netaddr_set_parse(value, &set, why, sizeof(why));
		struct cid_netaddr_set **slot = (struct cid_netaddr_set **)(void *)base;

		if (rc == CID_ERR_CONFIG)
			snprintf(err, errsz, "%s: %s", k->name, why);
		if (rc != CID_OK)
			return rc;
		cid_netaddr_set_free(*slot);
		*slot = set;
		return CID_OK;
	}
	case KEY_UINT:
	case KEY_SECONDS: {
		uint64_t v;
		if (cid_parse_u64(value, n, k->min, k->max, &v) != CID_OK) {
			snprintf(err, errsz, "%s: must be a whole number in %llu..%llu", k->name,
				 (unsigned long long)k->min, (unsigned long long)k->max);
			return CID_ERR_CONFIG;
		}
		if (k->size == sizeof(uint16_t)) {
			uint16_t x = (uint16_t)v;
			memcpy(base, &x, sizeof(x));
		} else if (k->size == sizeof(uint32_t)) {
			uint32_t x = (uint32_t)v;
			memcpy(base, &x, sizeof(x));
		} else {
			int64_t x = (int64_t)v;
			memcpy(base, &x, sizeof(x));
		}
		return CID_OK;
	}
	}
	return CID_ERR_CONFIG;
}

enum cid_err cid_config_new(struct cid_config **out)
{
	char err[256];
	struct cid_config *cfg = calloc(1, sizeof(*cfg));

	if (cfg == NULL)
		return CID_ERR_NOMEM;
	for (size_t i = 0; i < N_KEYS; i++) {
		enum cid_err rc = key_set(cfg, &keys[i], keys[i].def, err, sizeof(err));
		if (rc != CID_OK) {
			cid_config_free(cfg);
			return rc == CID_ERR_NOMEM ? rc : CID_ERR_CONFIG;
		}
	}
	*out = cfg;
	return CID_OK;
}

enum cid_err cid_config_dup(const struct cid_config *cfg, struct cid_config **out)
{
	enum cid_err rc = CID_OK;
	struct cid_config *copy = calloc(1, sizeof(*copy));

	CID_ENSURE(copy != NULL, CID_ERR_NOMEM);
	for (size_t i = 0; i < N_KEYS; i++) {
		const char *from = (const char *)cfg + keys[i].offset;
		char *to = (char *)copy + keys[i].offset;

		if (keys[i].type == KEY_STRING || keys[i].type == KEY_LOCALE) {
			char *s = strdup(*(char *const *)(const void *)from);

			CID_ENSURE(s != NULL, CID_ERR_NOMEM);
			*(char **)(void *)to = s;
		} else if (keys[i].type == KEY_NETS) {
			CID_TRY(cid_netaddr_set_dup(
			    *(struct cid_netaddr_set *const *)(const void *)from,
			    (struct cid_netaddr_set **)(void *)to));
		} else {
			memcpy(to, from, keys[i].size);
		}
	}
	memcpy(copy->path_prefix, cfg->path_prefix, sizeof(copy->path_prefix));
	copy->store_no_thread_cache = cfg->store_no_thread_cache;
	copy->argon2.gate = cfg->argon2.gate;
	copy->upstream_calls = cfg->upstream_calls;
	*out = copy;
	copy = NULL;
out:
	cid_config_free(copy);
	return rc;
}

enum cid_err cid_config_set(struct cid_config *cfg, const char *key, const char *value, char *err,
			    size_t errsz)
{
	const struct key_def *k = key_find(key);

	if (k == NULL) {
		snprintf(err, errsz, "unknown key \"%.64s\" (see civicid serve --help-config)",
			 key);
		return CID_ERR_CONFIG;
	}
	return key_set(cfg, k, value, err, errsz);
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 &&
	       (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

/* True if key is one of only (NULL-terminated), or only is NULL. */
static bool key_allowed(const char *const *only, const char *key)
{
	if (only == NULL)
		return true;
	for (size_t i = 0; only[i] != NULL; i++)
		if (strcmp(only[i], key) == 0)
			return true;
	return false;
}

enum cid_err cid_config_load(struct cid_config *cfg, const char *path, char *err, size_t errsz)
{
	return cid_config_load_only(cfg, path, NULL, err, errsz);
}

enum cid_err cid_config_load_only(struct cid_config *cfg, const char *path, const char *const *only,
				  char *err, size_t errsz)
{
	enum cid_err rc = CID_OK;
	bool seen[N_KEYS] = {false};
	char line[8192];
	char msg[256];
	unsigned lineno = 0;
	FILE *f = fopen(path, "re");

	if (f == NULL) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return CID_ERR_IO;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			snprintf(err, errsz, "%s:%u: line too long", path, lineno);
			rc = CID_ERR_CONFIG;
			goto out;
		}
		char *s = trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		char *eq = strchr(s, '=');
		if (eq == NULL) {
			snprintf(err, errsz, "%s:%u: expected \"key = value\"", path, lineno);
			rc = CID_ERR_CONFIG;
			goto out;
		}
		*eq = '\0';
		char *key = trim(s);
		char *value = trim(eq + 1);
		const struct key_def *k = key_find(key);
		if (k != NULL && seen[k - keys]) {
			snprintf(err, errsz, "%s:%u: %s given twice", path, lineno, key);
			rc = CID_ERR_CONFIG;
			goto out;
		}
		if (k != NULL && !key_allowed(only, key)) {
			snprintf(err, errsz, "%s:%u: %s may not be set in this file", path, lineno,
				 key);
			rc = CID_ERR_CONFIG;
			goto out;
		}
		rc = cid_config_set(cfg, key, value, msg, sizeof(msg));
		if (rc != CID_OK) {
			snprintf(err, errsz, "%s:%u: %s", path, lineno, msg);
			goto out;
		}
		seen[k - keys] = true;
	}
	if (ferror(f)) {
		snprintf(err, errsz, "%s: read error", path);
		rc = CID_ERR_IO;
	}
out:
	fclose(f);
	return rc;
}

enum cid_err cid_config_check(const struct cid_config *cfg, char *err, size_t errsz)
{
	const char *iss = cfg->issuer;
	size_t n = strlen(iss);

	if (!cid_http_url_ok(iss, n)) {
		snprintf(err, errsz, "issuer must be an absolute http(s) URL");
		return CID_ERR_CONFIG;
	}
	if (strpbrk(iss, "?#@ \t") != NULL || iss[n - 1] == '/') {
		snprintf(err, errsz,
			 "issuer must have no query, fragment, userinfo or trailing slash");
		return CID_ERR_CONFIG;
	}
	if (cfg->key_keep < cfg->access_ttl || cfg->key_keep < cfg->id_token_ttl) {
		snprintf(err, errsz, "key_keep must be at least access_token_ttl and id_token_ttl");
		return CID_ERR_CONFIG;
	}
	if (cfg->refresh_ttl < cfg->access_ttl) {
		snprintf(err, errsz, "refresh_token_ttl must be at least access_token_ttl");
		return CID_ERR_CONFIG;
	}
	if (cfg->policy_url[0] != '\0' &&
	    !cid_http_url_ok(cfg->policy_url, strlen(cfg->policy_url))) {
		snprintf(err, errsz, "policy_url must be an absolute http(s) URL with a host");
		return CID_ERR_CONFIG;
	}
	if (!cid_tz_name_ok(cfg->timezone)) {
		snprintf(err, errsz, "timezone must be a zone name such as Asia/Tokyo");
		return CID_ERR_CONFIG;
	}
	if (cfg->city_logo[0] != '\0' && cid_config_logo_type(cfg->city_logo) == NULL) {
		snprintf(
		    err, errsz,
		    "city_logo must name a .png, .jpg, .gif or .webp file under web_dir/static");
		return CID_ERR_CONFIG;
	}
	if (!cid_controller_type_parse(cfg->controller_type, NULL)) {
		snprintf(err, errsz, "controller_type must be local_government or business");
		return CID_ERR_CONFIG;
	}
	if (cfg->argon2.m_cost_kib < 8 * cfg->argon2.parallelism) {
		snprintf(err, errsz, "argon2_m_kib must be at least 8 * argon2_p");
		return CID_ERR_CONFIG;
	}
	return CID_OK;
}

bool cid_controller_type_parse(const char *s, enum cid_controller_type *out)
{
	enum cid_controller_type t;

	if (s == NULL || s[0] == '\0')
		t = CID_CONTROLLER_UNDECLARED;
	else if (strcmp(s, "local_government") == 0)
		t = CID_CONTROLLER_LOCAL_GOVERNMENT;
	else if (strcmp(s, "business") == 0)
		t = CID_CONTROLLER_BUSINESS;
	else
		return false;
	if (out != NULL)
		*out = t;
	return true;
}

const char *cid_config_logo_type(const char *name)
{
	static const struct {
		const char *ext;
		const char *type;
	} types[] = {{".png", "image/png"},
		     {".jpg", "image/jpeg"},
		     {".jpeg", "image/jpeg"},
		     {".gif", "image/gif"},
		     {".webp", "image/webp"}};

	size_t n = name == NULL ? 0 : strnlen(name, 129);

	if (n == 0 || n > 128 || name[0] == '/' || strstr(name, "..") != NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.' || c == '/'))
			return NULL;
	}
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		size_t e = strlen(types[i].ext);

		if (n > e && strcasecmp(name + n - e, types[i].ext) == 0)
			return types[i].type;
	}
	return NULL;
}

static const char *type_name(enum key_type t)
{
	switch (t) {
	case KEY_STRING: return "text";
	case KEY_UINT: return "integer";
	case KEY_SECONDS: return "seconds";
	case KEY_LOCALE: return "ja|en";
	case KEY_NETS: return "addresses";
	}
	return "";
}

void cid_config_describe(FILE *f)
{
	fprintf(f, "# civicid configuration: one \"key = value\" per line, '#' comments.\n");
	for (size_t i = 0; i < N_KEYS; i++) {
		const struct key_def *k = &keys[i];
		fprintf(f, "\n# %s\n# type: %s", k->help, type_name(k->type));
		if (k->type == KEY_UINT || k->type == KEY_SECONDS)
			fprintf(f, ", range %llu..%llu", (unsigned long long)k->min,
				(unsigned long long)k->max);
		fprintf(f, "\n%s = %s\n", k->name, k->def);
	}
}

void cid_config_free(struct cid_config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < N_KEYS; i++) {
		if (keys[i].type == KEY_STRING || keys[i].type == KEY_LOCALE) {
			char **slot = (char **)(void *)((char *)cfg + keys[i].offset);
			free(*slot);
		}
		if (keys[i].type == KEY_NETS)
			cid_netaddr_set_free(
			    *(struct cid_netaddr_set **)(void *)((char *)cfg + keys[i].offset));
	}
	free(cfg);
}
