/*
 * tenant: the registry of a server's cities (STORE/tenants/NAME/, each with
 * its tenant.conf and its own LMDB environment) and the map a running server
 * finds a tenant's context in (tenant_map.c).
 *
 * Isolation is structural: a tenant's records live in its own environment,
 * so no key of one tenant can name a record of another, and its context
 * (keys, policies, log) is built from its own configuration alone. The map
 * holds only what was asked for: a name is looked up on disk the first time,
 * its context opened and kept; the hash table grows by doubling, so a lookup
 * costs the same with one tenant or two thousand.
 */
#include "tenant_int.h"

#include "audit.h"
#include "buf.h"
#include "file.h"
#include "jose.h"
#include "str.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *const CID_TENANT_KEYS[] = {
    "city_name_ja",
    "city_name_en",
    "city_logo",
    "default_locale",
    "timezone",
    "controller_name",
    "controller_contact",
    "controller_address",
    "controller_email",
    "controller_phone",
    "policy_url",
    "jurisdiction",
    NULL,
};

#define TENANTS_DIR "tenants"
#define CONF_FILE   "tenant.conf"

enum cid_err cid_tenant_name_check(const char *name, size_t len)
{
	if (name == NULL || len == 0 || len > CID_TENANT_NAME_MAX)
		return CID_ERR_INVALID;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return CID_ERR_INVALID;
	}
	return name[0] == '-' || name[len - 1] == '-' ? CID_ERR_INVALID : CID_OK;
}

enum cid_err tenant_path(const struct cid_config *base, const char *name, const char *file,
			 char out[4096])
{
	int n = snprintf(out, 4096, "%s/%s%s%s%s%s", base->store_dir, TENANTS_DIR,
			 name != NULL ? "/" : "", name != NULL ? name : "", file != NULL ? "/" : "",
			 file != NULL ? file : "");

	return n < 0 || n >= 4096 ? CID_ERR_CONFIG : CID_OK;
}

bool tenant_file_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

bool tenant_exists(const struct cid_config *base, const char *d)
{
	char path[4096];

	return cid_tenant_name_check(d, strlen(d)) == CID_OK &&
	       tenant_path(base, d, CONF_FILE, path) == CID_OK && tenant_file_exists(path);
}

bool cid_tenant_any(const struct cid_config *base)
{
	char path[4096];
	DIR *dir;
	const struct dirent *d;
	bool any = false;

	if (tenant_path(base, NULL, NULL, path) != CID_OK || (dir = opendir(path)) == NULL)
		return false;
	while (!any && (d = readdir(dir)) != NULL)
		any = tenant_exists(base, d->d_name);
	closedir(dir);
	return any;
}

enum cid_err cid_tenant_config(const struct cid_config *base, const char *name,
			       struct cid_config **out, bool *disabled, char *err, size_t errsz)
{
	enum cid_err rc = CID_OK;
	struct cid_config *cfg = NULL;
	char path[4096];
	char value[4096];
	bool own = false;

	snprintf(err, errsz, "no tenant named \"%.64s\"", name);
	CID_TRY(cid_tenant_name_check(name, strlen(name)));
	CID_TRY(tenant_path(base, name, CONF_FILE, path));
	CID_ENSURE(tenant_file_exists(path), CID_ERR_NOTFOUND);
	err[0] = '\0';
	CID_TRY(cid_config_dup(base, &cfg));
	/* a tenant.conf sets its city alone: a server setting (trusted_proxies,
	 * session_ttl, login_threads...) is the server's, even written by hand */
	CID_TRY(cid_config_load_only(cfg, path, CID_TENANT_KEYS, err, errsz));
	/* the three that make the tenant a tenant: set last, so its file cannot move them */
	CID_TRY(tenant_issuer(base, name, value, &own, err, errsz));
	CID_TRY(cid_config_set(cfg, "issuer", value, err, errsz));
	CID_TRY(tenant_path(base, name, NULL, value));
	CID_TRY(cid_config_set(cfg, "store", value, err, errsz));
	CID_ENSURE(snprintf(value, sizeof(value), "%s/%s", base->policies_dir, name) <
		       (int)sizeof(value),
		   CID_ERR_CONFIG);
	CID_TRY(cid_config_set(cfg, "policies", value, err, errsz));
	/* at a host of its own, its pages and cookies are at that host's root */
	if (!own)
		snprintf(cfg->path_prefix, sizeof(cfg->path_prefix), "%s%s", CID_TENANT_PATH, name);
	cfg->store_no_thread_cache =
	    true; /* one process, a store per tenant: no pthread key each */
	/* a tenant.conf edited by hand is held to the rules `tenant add` checks */
	CID_TRY(cid_config_check(cfg, err, errsz));
	if (disabled != NULL) {
		CID_TRY(tenant_path(base, name, TENANT_DISABLED, path));
		*disabled = tenant_file_exists(path);
	}
	*out = cfg;
	cfg = NULL;
out:
	if (rc == CID_ERR_CONFIG && err[0] == '\0')
		snprintf(err, errsz, "a path of tenant \"%.64s\" is too long", name);
	cid_config_free(cfg);
	return rc;
}

static bool tenant_key(const char *key)
{
	for (size_t i = 0; CID_TENANT_KEYS[i] != NULL; i++)
		if (strcmp(CID_TENANT_KEYS[i], key) == 0)
			return true;
	return false;
}

/*
 * The text of tenant.conf for keys/values, each checked as the config checks
 * it, and then all of them over base as cid_config_check checks a config.
 */
static enum cid_err conf_text(const struct cid_config *base, const char *const *keys,
			      const char *const *values, size_t n, char *err, size_t errsz,
			      char **out)
{
	enum cid_err rc = CID_OK;
	struct cid_config *scratch = NULL;
	struct cid_buf b;

	cid_buf_init(&b, (size_t)64 * 1024);
	CID_TRY(cid_config_dup(base, &scratch));
	cid_buf_puts(&b, "# civicid tenant settings (civicid tenant add); config syntax\n");
	for (size_t i = 0; i < n; i++) {
		if (strcmp(keys[i], "host") == 0)
			continue; /* not a setting: tenant_host_register */
		if (!tenant_key(keys[i])) {
			snprintf(err, errsz, "\"%.64s\" is not a tenant setting", keys[i]);
			CID_TRY(CID_ERR_CONFIG);
		}
		if (strpbrk(values[i], "\r\n#") != NULL) {
			snprintf(err, errsz, "%s: a value holds no newline and no '#'", keys[i]);
			CID_TRY(CID_ERR_CONFIG);
		}
		CID_TRY(cid_config_set(scratch, keys[i], values[i], err, errsz));
		cid_buf_printf(&b, "%s = %s\n", keys[i], values[i]);
	}
	CID_TRY(cid_config_check(scratch, err, errsz));
	CID_TRY(cid_buf_status(&b));
	*out = cid_buf_take(&b, NULL);
	CID_ENSURE(*out != NULL, CID_ERR_NOMEM);
out:
	cid_buf_free(&b);
	cid_config_free(scratch);
	return rc;
}

/* mkdir -p path (each new directory 0700), as the store is made where it is named. */
static enum cid_err make_dirs(const char *path)
{
	char part[4096];
	size_t n = strlen(path);

	if (n >= sizeof(part))
		return CID_ERR_CONFIG;
	memcpy(part, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (part[i] != '/' && part[i] != '\0')
			continue;
		part[i] = '\0';
		if (mkdir(part, 0700) != 0 && errno != EEXIST)
			return CID_ERR_IO;
		part[i] = path[i];
	}
	return CID_OK;
}

/* cid_tenant_add without its refusal of a single city's store: adopt's first step. */
static enum cid_err tenant_add(const struct cid_config *base, const char *name,
			       const char *const *keys, const char *const *values, size_t n,
			       char *err, size_t errsz)
{
	enum cid_err rc = CID_OK;
	char dir[4096];
	char path[4096];
	char *text = NULL;
	const char *host = NULL;
	bool made = false;
	bool hosted = false;

	for (size_t i = 0; i < n; i++)
		if (strcmp(keys[i], "host") == 0)
			host = values[i];
	snprintf(err, errsz, "a tenant name is 1 to %d of a-z, 0-9 and '-', not at either end",
		 CID_TENANT_NAME_MAX);
	CID_TRY(cid_tenant_name_check(name, strlen(name)));
	err[0] = '\0';
	CID_TRY(conf_text(base, keys, values, n, err, errsz, &text));
	CID_TRY(tenant_path(base, NULL, NULL, dir));
	CID_TRY(make_dirs(dir));
	CID_TRY(tenant_path(base, name, NULL, dir));
	if (mkdir(dir, 0700) != 0) {
		snprintf(err, errsz, "tenant \"%s\" already exists", name);
		CID_TRY(errno == EEXIST ? CID_ERR_EXISTS : CID_ERR_IO);
	}
	made = true;
	if (host != NULL) {
		CID_TRY(tenant_host_register(base, name, host, err, errsz));
		hosted = true;
	}
	CID_TRY(tenant_path(base, name, CONF_FILE, path));
	/* whole or nothing, 0600 as the store's files */
	CID_TRY(cid_file_put(path, text, strlen(text)));
	made = false;
	hosted = false;
out:
	if (hosted)
		tenant_host_unregister(base, name, host);
	if (made)
		(void)rmdir(dir);
	if (rc == CID_ERR_IO && err[0] == '\0')
		snprintf(err, errsz, "cannot write below %s/%s: %s", base->store_dir, TENANTS_DIR,
			 strerror(errno));
	free(text);
	return rc;
}

/* True if base's store directory holds a single city's store (its data.mdb). */
static bool single_city(const struct cid_config *base)
{
	char path[4096];

	return snprintf(path, sizeof(path), "%s/data.mdb", base->store_dir) < (int)sizeof(path) &&
	       tenant_file_exists(path);
}

enum cid_err cid_tenant_add(const struct cid_config *base, const char *name,
			    const char *const *keys, const char *const *values, size_t n, char *err,
			    size_t errsz)
{
	/* once a store has a tenant, it serves tenants only: a single city there
	 * would be left unreachable, its citizens and log with it */
	if (single_city(base) && !cid_tenant_any(base)) {
		snprintf(err, errsz,
			 "the store %.3000s holds a single city: make it the first tenant with "
			 "`civicid tenant adopt NAME`, then add others",
			 base->store_dir);
		return CID_ERR_EXISTS;
	}
	return tenant_add(base, name, keys, values, n, err, errsz);
}

enum cid_err cid_tenant_disable(const struct cid_config *base, const char *name)
{
	enum cid_err rc = CID_OK;
	char path[4096];
	FILE *f;

	CID_TRY(cid_tenant_name_check(name, strlen(name)));
	CID_ENSURE(tenant_exists(base, name), CID_ERR_NOTFOUND);
	CID_TRY(tenant_path(base, name, TENANT_DISABLED, path));
	f = fopen(path, "we");
	CID_ENSURE(f != NULL, CID_ERR_IO);
	CID_ENSURE(fclose(f) == 0, CID_ERR_IO);
out:
	return rc;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

enum cid_err cid_tenant_list(const struct cid_config *base, json_t **out)
{
	enum cid_err rc = CID_OK;
	char path[4096];
	struct dirent **names = NULL;
	int n = 0;
	json_t *all = json_array();

	CID_ENSURE(all != NULL, CID_ERR_NOMEM);
	CID_TRY(tenant_path(base, NULL, NULL, path));
	n = scandir(path, &names, NULL, by_name);
	if (n < 0) {
		n = 0;
		CID_ENSURE(errno == ENOENT, CID_ERR_IO);
	}
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		char issuer[4096];
		char off[4096];
		char err[512] = "";
		bool own = false;
		enum cid_err why;
		json_t *row;

		if (!tenant_exists(base, name))
			continue;
		CID_TRY(tenant_path(base, name, TENANT_DISABLED, off));
		/* one tenant's broken host file is its own row's problem, not the list's */
		why = tenant_issuer(base, name, issuer, &own, err, sizeof(err));
		if (why == CID_OK)
			row = json_pack("{s:s, s:s, s:b}", "name", name, "issuer", issuer,
					"disabled", tenant_file_exists(off));
		else
			row = json_pack("{s:s, s:n, s:b, s:s}", "name", name, "issuer", "disabled",
					tenant_file_exists(off), "error",
					err[0] != '\0' ? err : cid_strerror(why));
		CID_ENSURE(json_array_append_new(all, row) == 0, CID_ERR_NOMEM);
	}
	*out = all;
	all = NULL;
out:
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	json_decref(all);
	return rc;
}

struct counts {
	uint64_t n;
};

static enum cid_err count_cb(struct cid_str key, struct cid_str val, void *arg)
{
	(void)key;
	(void)val;
	((struct counts *)arg)->n++;
	return CID_OK;
}

/* {"citizens", "services", "officers", "audit_entries"} of ctx's store. */
static enum cid_err counts(struct cid_ctx *ctx, json_t *show)
{
	static const struct {
		const char *name;
		enum cid_db db;
	} dbs[] = {{"citizens", CID_DB_CITIZENS},
		   {"services", CID_DB_CLIENTS},
		   {"officers", CID_DB_OFFICERS},
		   {"audit_entries", CID_DB_AUDIT}};
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;
	json_t *c = json_object();

	CID_ENSURE(c != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_store_read_begin(cid_ctx_store(ctx), &txn));
	for (size_t i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++) {
		struct counts k = {0};

		CID_TRY(cid_txn_foreach(txn, dbs[i].db, (struct cid_str){NULL, 0}, count_cb, &k));
		CID_ENSURE(json_object_set_new(c, dbs[i].name, json_integer((json_int_t)k.n)) == 0,
			   CID_ERR_NOMEM);
	}
	CID_ENSURE(json_object_set(show, "counts", c) == 0, CID_ERR_NOMEM);
out:
	if (txn != NULL)
		cid_store_read_end(txn);
	json_decref(c);
	return rc;
}

/* [{"service", "version"}] of the policies in force. */
static enum cid_err policies(struct cid_ctx *ctx, json_t *show)
{
	enum cid_err rc = CID_OK;
	struct cid_policyref *r = cid_ctx_policies_acquire(ctx);
	const struct cid_policyset *ps = cid_policyref_set(r);
	json_t *all = json_array();

	CID_ENSURE(all != NULL, CID_ERR_NOMEM);
	for (size_t i = 0; i < cid_policyset_count(ps); i++) {
		const char *service = cid_policyset_service(ps, i);

		CID_ENSURE(json_array_append_new(
			       all, json_pack("{s:s, s:s}", "service", service, "version",
					      cid_policyset_version(ps, service))) == 0,
			   CID_ERR_NOMEM);
	}
	CID_ENSURE(json_object_set(show, "policies", all) == 0, CID_ERR_NOMEM);
out:
	json_decref(all);
	cid_policyref_put(r);
	return rc;
}

enum cid_err cid_tenant_show(struct cid_ctx *ctx, const char *name, bool disabled, json_t **out)
{
	enum cid_err rc = CID_OK;
	const struct cid_config *cfg = cid_ctx_config(ctx);
	json_t *show = json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:s}", "name", name, "issuer",
				 cfg->issuer, "store", cfg->store_dir, "policies_dir",
				 cfg->policies_dir, "disabled", disabled, "city_name_ja",
				 cfg->city_name_ja, "city_name_en", cfg->city_name_en);
	json_t *keys = NULL;
	json_t *brief = json_array();
	size_t i;
	json_t *k;

	CID_ENSURE(show != NULL && brief != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_keys_list(cid_ctx_store(ctx), &keys));
	json_array_foreach(keys, i, k)
	{
		CID_ENSURE(json_array_append_new(
			       brief, json_pack("{s:O, s:O}", "kid", json_object_get(k, "kid"),
						"state", json_object_get(k, "state"))) == 0,
			   CID_ERR_NOMEM);
	}
	CID_ENSURE(json_object_set(show, "keys", brief) == 0, CID_ERR_NOMEM);
	CID_TRY(counts(ctx, show));
	CID_TRY(policies(ctx, show));
	*out = show;
	show = NULL;
out:
	json_decref(show);
	json_decref(keys);
	json_decref(brief);
	return rc;
}

/*
 * Appends "tenant.adopted" to the log of the store at cfg's store_dir. It
 * records no issuer for the log: adopt is a command, and its issuer (the
 * CLI's default without --config) would stay the log's for good; a log
 * never served gets the first server's (cid_ctx_open's rule).
 */
static enum cid_err adopted_entry(const struct cid_config *cfg, const char *name, int64_t now)
{
	enum cid_err rc = CID_OK;
	struct cid_store *s = NULL;
	struct cid_audit *log = NULL;
	char when[21];
	json_t *e = NULL;

	CID_TRY(cid_audit_time(now, when));
	e = json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "type", "tenant.adopted", "time", when,
		      "actor", "operator", "ext", "tenant", name, "issuer", cfg->issuer);
	CID_ENSURE(e != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_store_open(cfg->store_dir, &s));
	CID_TRY(cid_audit_open(s, false, &log));
	CID_TRY(cid_audit_append(log, &e, 1, NULL));
out:
	cid_audit_close(log);
	cid_store_close(s);
	json_decref(e);
	return rc;
}

enum cid_err cid_tenant_adopt(const struct cid_config *base, const char *name,
			      const char *const *keys, const char *const *values, size_t n,
			      int64_t now, char *err, size_t errsz)
{
	static const char *const files[] = {"data.mdb", "lock.mdb"};
	enum cid_err rc = CID_OK;
	struct cid_config *cfg = NULL;
	char from[4096];
	char to[4096];
	size_t moved = 0;

	err[0] = '\0';
	if (cid_tenant_any(base)) {
		snprintf(err, errsz,
			 "the store already has tenants: adopt turns a single city into "
			 "the first");
		CID_TRY(CID_ERR_EXISTS);
	}
	CID_ENSURE(snprintf(from, sizeof(from), "%s/%s", base->store_dir, files[0]) <
		       (int)sizeof(from),
		   CID_ERR_CONFIG);
	if (!tenant_file_exists(from)) {
		snprintf(err, errsz, "no store to adopt in %s", base->store_dir);
		CID_TRY(CID_ERR_NOTFOUND);
	}
	CID_TRY(tenant_add(base, name, keys, values, n, err, errsz));
	for (; moved < sizeof(files) / sizeof(files[0]); moved++) {
		CID_ENSURE(snprintf(from, sizeof(from), "%s/%s", base->store_dir, files[moved]) <
			       (int)sizeof(from),
			   CID_ERR_CONFIG);
		CID_TRY(tenant_path(base, name, files[moved], to));
		if (rename(from, to) != 0 && !(errno == ENOENT && moved > 0)) {
			snprintf(err, errsz, "cannot move %s: %s", from, strerror(errno));
			CID_TRY(CID_ERR_IO);
		}
	}
	CID_TRY(cid_tenant_config(base, name, &cfg, NULL, err, errsz));
	CID_TRY(adopted_entry(cfg, name, now));
out:
	cid_config_free(cfg);
	return rc;
}

enum cid_err cid_tenant_move_policies(const struct cid_config *base, const char *name, char *err,
				      size_t errsz)
{
	enum cid_err rc = CID_OK;
	char to_dir[4096];
	char from[4096];
	char to[4096];
	DIR *d = NULL;
	const struct dirent *de;
	const char *ext = ".policy";

	err[0] = '\0';
	CID_TRY(cid_tenant_name_check(name, strlen(name)));
	CID_ENSURE(snprintf(to_dir, sizeof(to_dir), "%s/%s", base->policies_dir, name) <
		       (int)sizeof(to_dir),
		   CID_ERR_CONFIG);
	d = opendir(base->policies_dir);
	if (d == NULL) {
		snprintf(err, errsz, "cannot read %s: %s", base->policies_dir, strerror(errno));
		CID_TRY(CID_ERR_IO);
	}
	if (mkdir(to_dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errsz, "cannot make %s: %s", to_dir, strerror(errno));
		CID_TRY(CID_ERR_IO);
	}
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		/* the files the server loads (policy.h): NAME.policy, not hidden */
		if (de->d_name[0] == '.' || len <= strlen(ext) ||
		    strcmp(de->d_name + len - strlen(ext), ext) != 0)
			continue;
		CID_ENSURE(snprintf(from, sizeof(from), "%s/%s", base->policies_dir, de->d_name) <
				   (int)sizeof(from) &&
			       snprintf(to, sizeof(to), "%s/%s", to_dir, de->d_name) <
				   (int)sizeof(to),
			   CID_ERR_CONFIG);
		if (rename(from, to) != 0) {
			snprintf(err, errsz, "cannot move %s: %s", from, strerror(errno));
			CID_TRY(CID_ERR_IO);
		}
	}
out:
	if (d != NULL)
		closedir(d);
	return rc;
}
