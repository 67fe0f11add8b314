/*
 * tenant_host: tenants served at a host of their own (issuer
 * "https://aizu.example.jp", the scheme of the server's issuer) rather than
 * below the server's issuer at /t/NAME, and the rule that maps a request to
 * its tenant (cid_tenants_route).
 *
 * A Host header is outside input: it is read only as a strict DNS name and
 * port (cid_tenant_host_parse), and only chooses which tenant answers; the
 * tenant's issuer comes from the registry. The registry says it twice, and
 * both must agree: STORE/tenants/NAME/host (what the tenant's configuration
 * reads) and STORE/tenants/_hosts/HOST holding NAME (the index a server
 * reads at start and at each refresh, so a lookup reads no disk, and made
 * with O_EXCL, so no two tenants share a host). "_hosts" is no tenant name
 * ('_' is not allowed in one). The index only chooses: a tenant is served at
 * a host only if its own file names that host (cid_tenants_open), so a stale
 * entry cannot serve it where its issuer does not say it is.
 */
#include "tenant_int.h"

#include "str.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HOSTS_DIR "_hosts"
#define HOST_FILE "host"
#define DNS_MAX	  253
#define LABEL_MAX 63

static bool is_ldh(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-';
}

/* c in lower case: ASCII only, whatever the locale (tolower is not) */
static char lower(char c)
{
	static const char upper[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
	static const char lowers[] = "abcdefghijklmnopqrstuvwxyz";
	const char *at = c != '\0' ? strchr(upper, c) : NULL;

	if (at == NULL)
		return c;
	return lowers[at - upper];
}

/*
 * True if label[0..n) is a number as an IPv4 part (the WHATWG URL host
 * parser's "ends in a number" rule): all digits (decimal, or octal with a
 * leading 0), or 0x or 0X and hex digits only, none too. A browser or a
 * resolver reads a name whose last label is one as an address:
 * "0x7f000001", "127.1", "2130706433" are all 127.0.0.1.
 */
static bool label_is_number(const char *label, size_t n)
{
	const char *digits = "0123456789";
	size_t i = 0;

	if (n >= 2 && label[0] == '0' && (label[1] == 'x' || label[1] == 'X')) {
		i = 2;
		digits = "0123456789abcdefABCDEF";
	}
	for (; i < n; i++)
		if (label[i] == '\0' || strchr(digits, label[i]) == NULL)
			return false;
	return true;
}

/* True if name[0..len) is a DNS name as cid_tenant_host_parse says. */
static bool dns_name_ok(const char *name, size_t len)
{
	size_t start = 0;

	if (len == 0 || len > DNS_MAX)
		return false;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || name[i] == '.') {
			size_t n = i - start;

			if (n == 0 || n > LABEL_MAX || name[start] == '-' || name[i - 1] == '-')
				return false;
			if (i == len)
				return !label_is_number(name + start, n);
			start = i + 1;
			continue;
		}
		if (!is_ldh(name[i]))
			return false;
	}
	return false;
}

/* The port a client of scheme leaves out (RFC 9110 §4.2): 80 for http, 443 for https; 0: none. */
static uint64_t default_port(const char *scheme)
{
	if (scheme != NULL && strcmp(scheme, "https") == 0)
		return 443;
	if (scheme != NULL && strcmp(scheme, "http") == 0)
		return 80;
	return 0;
}

enum cid_err cid_tenant_host_parse(const char *scheme, const char *host, size_t len,
				   char out[CID_TENANT_HOST_MAX + 1])
{
	const char *colon;
	size_t name_len;
	uint64_t port = 0;
	uint64_t omitted = default_port(scheme);

	if (omitted == 0 || host == NULL || len == 0 || len > CID_TENANT_HOST_MAX)
		return CID_ERR_INVALID;
	colon = memchr(host, ':', len);
	name_len = colon != NULL ? (size_t)(colon - host) : len;
	if (!dns_name_ok(host, name_len))
		return CID_ERR_INVALID;
	if (colon != NULL) {
		const char *p = colon + 1;
		size_t n = len - name_len - 1;

		if (n == 0 || n > 5 || p[0] == '0')
			return CID_ERR_INVALID;
		for (size_t i = 0; i < n; i++) {
			if (p[i] < '0' || p[i] > '9')
				return CID_ERR_INVALID;
			port = port * 10 + (uint64_t)(p[i] - '0');
		}
		if (port > 65535)
			return CID_ERR_INVALID;
	}
	for (size_t i = 0; i < name_len; i++)
		out[i] = lower(host[i]);
	out[name_len] = '\0';
	if (port != 0 && port != omitted)
		snprintf(out + name_len, CID_TENANT_HOST_MAX + 1 - name_len, ":%u", (unsigned)port);
	return CID_OK;
}

/* The authority of an http(s) URL (after "://", up to a '/' or the end), or NULL. */
static const char *authority(const char *url, size_t *len)
{
	const char *p = NULL;

	if (strncmp(url, "https://", 8) == 0)
		p = url + 8;
	else if (strncmp(url, "http://", 7) == 0)
		p = url + 7;
	if (p == NULL)
		return NULL;
	*len = strcspn(p, "/");
	return p;
}

/* The scheme of base's issuer, which its tenants at a host of their own share. */
static const char *issuer_scheme(const struct cid_config *base)
{
	return strncmp(base->issuer, "https://", 8) == 0 ? "https" : "http";
}

/* ---- the index ---- */

struct host_entry {
	char host[CID_TENANT_HOST_MAX + 1];
	char name[CID_TENANT_NAME_MAX + 1];
};

struct tenant_hosts {
	const char *scheme; /* the server's: which port a Host header may leave out */
	size_t n;
	struct host_entry *v; /* sorted by host */
};

static int by_host(const void *a, const void *b)
{
	return strcmp(((const struct host_entry *)a)->host, ((const struct host_entry *)b)->host);
}

/* The tenant name held by file path into name; false if unreadable or not a name. */
static bool read_name(const char *path, char name[CID_TENANT_NAME_MAX + 1])
{
	char line[CID_TENANT_NAME_MAX + 3];
	FILE *f = fopen(path, "re");
	bool ok = f != NULL && fgets(line, sizeof(line), f) != NULL;
	size_t n = ok ? strcspn(line, "\n") : 0;

	if (f != NULL)
		fclose(f);
	if (!ok || cid_tenant_name_check(line, n) != CID_OK)
		return false;
	memcpy(name, line, n);
	name[n] = '\0';
	return true;
}

/* STORE/tenants/_hosts[/HOST] into out. */
static enum cid_err index_path(const struct cid_config *base, const char *host, char out[4096])
{
	int n = snprintf(out, 4096, "%s/tenants/%s%s%s", base->store_dir, HOSTS_DIR,
			 host != NULL ? "/" : "", host != NULL ? host : "");

	return n < 0 || n >= 4096 ? CID_ERR_CONFIG : CID_OK;
}

/*
 * True if the canonical hosts a and b have the same name, whatever their
 * ports: browsers keep one cookie jar for both (RFC 6265 §8.5).
 */
static bool same_name(const char *a, const char *b)
{
	size_t n = strcspn(a, ":");

	return n == strcspn(b, ":") && memcmp(a, b, n) == 0;
}

/*
 * True if host is that of the server's own issuer, where its /t/NAME
 * tenants are: the very host (any_port false: the index's entries, which
 * `tenant add` made, are read as they were written), or its name on any port
 * (any_port true: what a new tenant may not take).
 */
static bool servers_host(const struct cid_config *base, const char *host, bool any_port)
{
	size_t len = 0;
	const char *auth = authority(base->issuer, &len);
	char canon[CID_TENANT_HOST_MAX + 1];

	return auth != NULL &&
	       cid_tenant_host_parse(issuer_scheme(base), auth, len, canon) == CID_OK &&
	       (any_port ? same_name(canon, host) : strcmp(canon, host) == 0);
}

/*
 * The tenant (into owner, "" when none) and host (into other) already at
 * host's name under another port, from the host index. Errors: CID_ERR_IO.
 */
static enum cid_err name_taken(const struct cid_config *base, const char *host,
			       char owner[CID_TENANT_NAME_MAX + 1],
			       char other[CID_TENANT_HOST_MAX + 1])
{
	enum cid_err rc = CID_OK;
	char path[4096];
	DIR *dir = NULL;
	const struct dirent *d;

	owner[0] = '\0';
	CID_TRY(index_path(base, NULL, path));
	dir = opendir(path);
	CID_ENSURE(dir != NULL || errno == ENOENT, CID_ERR_IO);
	while (dir != NULL && (d = readdir(dir)) != NULL) {
		if (d->d_name[0] == '.' || strcmp(d->d_name, host) == 0 ||
		    !same_name(d->d_name, host) || strlen(d->d_name) > CID_TENANT_HOST_MAX)
			continue;
		CID_TRY(index_path(base, d->d_name, path));
		if (!read_name(path, owner))
			snprintf(owner, CID_TENANT_NAME_MAX + 1, "?");
		snprintf(other, CID_TENANT_HOST_MAX + 1, "%s", d->d_name);
		break;
	}
out:
	if (dir != NULL)
		closedir(dir);
	return rc;
}

enum cid_err tenant_hosts_load(const struct cid_config *base, struct tenant_hosts **out)
{
	enum cid_err rc = CID_OK;
	struct tenant_hosts *h = calloc(1, sizeof(*h));
	size_t cap = 0;
	char path[4096];
	DIR *dir = NULL;
	const struct dirent *d;

	CID_ENSURE(h != NULL, CID_ERR_NOMEM);
	h->scheme = issuer_scheme(base);
	CID_TRY(index_path(base, NULL, path));
	dir = opendir(path);
	if (dir == NULL) {
		CID_ENSURE(errno == ENOENT, CID_ERR_IO);
		goto done;
	}
	while ((d = readdir(dir)) != NULL) {
		struct host_entry e;

		if (cid_tenant_host_parse(h->scheme, d->d_name, strlen(d->d_name), e.host) !=
			CID_OK ||
		    strcmp(e.host, d->d_name) != 0 || index_path(base, d->d_name, path) != CID_OK ||
		    !read_name(path, e.name))
			continue;
		/* the server's own host stays its: a tenant added under another issuer loses it */
		if (servers_host(base, e.host, false))
			continue;
		if (h->n == cap) {
			size_t more = cap == 0 ? 8 : 2 * cap;
			struct host_entry *v = realloc(h->v, more * sizeof(*v));

			CID_ENSURE(v != NULL, CID_ERR_NOMEM);
			h->v = v;
			cap = more;
		}
		h->v[h->n++] = e;
	}
	if (h->n > 0)
		qsort(h->v, h->n, sizeof(*h->v), by_host);
done:
	*out = h;
	h = NULL;
out:
	if (dir != NULL)
		closedir(dir);
	tenant_hosts_free(h);
	return rc;
}

const char *tenant_hosts_find(const struct tenant_hosts *h, const char *host)
{
	struct host_entry key;
	const struct host_entry *e;

	if (h == NULL || h->n == 0)
		return NULL;
	memcpy(key.host, host, strlen(host) + 1);
	e = bsearch(&key, h->v, h->n, sizeof(*h->v), by_host);
	return e != NULL ? e->name : NULL;
}

size_t tenant_hosts_count(const struct tenant_hosts *h)
{
	return h != NULL ? h->n : 0;
}

void tenant_hosts_free(struct tenant_hosts *h)
{
	if (h == NULL)
		return;
	free(h->v);
	free(h);
}

/* ---- the registry ---- */

/* Writes text to path, made exclusively (0600); CID_ERR_EXISTS if it is there. */
static enum cid_err write_new(const char *path, const char *text)
{
	size_t n = strlen(text);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	bool ok;

	if (fd < 0)
		return errno == EEXIST ? CID_ERR_EXISTS : CID_ERR_IO;
	ok = write(fd, text, n) == (ssize_t)n;
	ok = fsync(fd) == 0 && ok;
	ok = close(fd) == 0 && ok;
	if (ok)
		return CID_OK;
	(void)unlink(path);
	return CID_ERR_IO;
}

/* The host of a tenant's "host" setting, canonical for base's scheme, into host; false if none. */
static bool host_setting(const struct cid_config *base, const char *value,
			 char host[CID_TENANT_HOST_MAX + 1])
{
	return cid_tenant_host_parse(issuer_scheme(base), value,
				     strnlen(value, CID_TENANT_HOST_MAX + 1), host) == CID_OK;
}

enum cid_err tenant_host_register(const struct cid_config *base, const char *name,
				  const char *setting, char *err, size_t errsz)
{
	enum cid_err rc = CID_OK;
	char host[CID_TENANT_HOST_MAX + 1];
	char path[4096];
	char text[4096];
	char owner[CID_TENANT_NAME_MAX + 1] = "";
	bool claimed = false;

	if (!host_setting(base, setting, host)) {
		snprintf(err, errsz,
			 "host: a DNS name (labels of a-z, 0-9 and '-', not all digits at the "
			 "end), optionally \":PORT\"");
		CID_TRY(CID_ERR_CONFIG);
	}
	if (servers_host(base, host, true)) {
		snprintf(err, errsz,
			 "host: %s is the server's own, on this port or another (its tenants are "
			 "at /t/NAME; browsers keep one set of cookies per host name, whatever "
			 "the port)",
			 host);
		CID_TRY(CID_ERR_CONFIG);
	}
	CID_TRY(name_taken(base, host, owner, text));
	if (owner[0] != '\0') {
		snprintf(err, errsz,
			 "host: tenant \"%s\" is already served at %s: browsers keep one set of "
			 "cookies per host name, whatever the port",
			 owner, text);
		CID_TRY(CID_ERR_EXISTS);
	}
	CID_TRY(index_path(base, NULL, path));
	CID_ENSURE(mkdir(path, 0700) == 0 || errno == EEXIST, CID_ERR_IO);
	CID_TRY(index_path(base, host, path));
	CID_ENSURE(snprintf(text, sizeof(text), "%s\n", name) < (int)sizeof(text), CID_ERR_CONFIG);
	rc = write_new(path, text);
	if (rc == CID_ERR_EXISTS) {
		(void)read_name(path, owner);
		snprintf(err, errsz, "host: tenant \"%s\" is already served at %s", owner, host);
	}
	CID_TRY(rc);
	claimed = true;
	CID_TRY(tenant_path(base, name, HOST_FILE, path));
	CID_ENSURE(snprintf(text, sizeof(text), "%s\n", host) < (int)sizeof(text), CID_ERR_CONFIG);
	CID_TRY(write_new(path, text));
	claimed = false;
out:
	/* the failure names the file that failed, before the index is undone */
	if (rc == CID_ERR_IO && err[0] == '\0')
		snprintf(err, errsz, "cannot write %s: %s", path, strerror(errno));
	if (claimed && index_path(base, host, path) == CID_OK)
		(void)unlink(path);
	return rc;
}

void tenant_host_unregister(const struct cid_config *base, const char *name, const char *host)
{
	char canon[CID_TENANT_HOST_MAX + 1];
	char path[4096];

	if (tenant_path(base, name, HOST_FILE, path) == CID_OK)
		(void)unlink(path);
	if (host_setting(base, host, canon) && index_path(base, canon, path) == CID_OK)
		(void)unlink(path);
}

enum cid_err tenant_issuer(const struct cid_config *base, const char *name, char out[4096],
			   bool *own, char *err, size_t errsz)
{
	enum cid_err rc = CID_OK;
	char path[4096];
	char line[CID_TENANT_HOST_MAX + 2];
	char host[CID_TENANT_HOST_MAX + 1];
	char owner[CID_TENANT_NAME_MAX + 1] = "";
	FILE *f = NULL;

	*own = false;
	CID_TRY(tenant_path(base, name, HOST_FILE, path));
	f = fopen(path, "re");
	if (f == NULL) {
		CID_ENSURE(errno == ENOENT, CID_ERR_IO);
		CID_ENSURE(snprintf(out, 4096, "%s%s%s", base->issuer, CID_TENANT_PATH, name) <
			       4096,
			   CID_ERR_CONFIG);
		goto out;
	}
	if (fgets(line, sizeof(line), f) == NULL) {
		snprintf(err, errsz, "%s: empty", path);
		CID_TRY(CID_ERR_CONFIG);
	}
	line[strcspn(line, "\n")] = '\0';
	if (!host_setting(base, line, host) || strcmp(host, line) != 0) {
		snprintf(err, errsz, "%s: not a host in its canonical form", path);
		CID_TRY(CID_ERR_CONFIG);
	}
	CID_TRY(index_path(base, host, path));
	if (!read_name(path, owner) || strcmp(owner, name) != 0) {
		snprintf(err, errsz, "%s does not name tenant \"%s\"", path, name);
		CID_TRY(CID_ERR_CONFIG);
	}
	snprintf(out, 4096, "%s://%s", issuer_scheme(base), host);
	*own = true;
out:
	if (f != NULL)
		fclose(f);
	return rc;
}

/* ---- the rule ---- */

enum cid_err tenant_route(const struct tenant_hosts *h, const char *host, const char *url,
			  struct cid_tenant_route *out)
{
	char canon[CID_TENANT_HOST_MAX + 1];
	const char *name = NULL;
	const char *rest;

	if (host != NULL && h != NULL &&
	    cid_tenant_host_parse(h->scheme, host, strnlen(host, CID_TENANT_HOST_MAX + 1), canon) ==
		CID_OK)
		name = tenant_hosts_find(h, canon);
	if (name != NULL) {
		memcpy(out->name, name, strlen(name) + 1);
		memcpy(out->host, canon, strlen(canon) + 1);
		out->path = url;
		out->by_host = true;
		return CID_OK;
	}
	if (strncmp(url, CID_TENANT_PATH, strlen(CID_TENANT_PATH)) != 0)
		return CID_ERR_NOTFOUND;
	name = url + strlen(CID_TENANT_PATH);
	rest = strchr(name, '/');
	if (rest == NULL || cid_tenant_name_check(name, (size_t)(rest - name)) != CID_OK)
		return CID_ERR_NOTFOUND;
	memcpy(out->name, name, (size_t)(rest - name));
	out->name[rest - name] = '\0';
	out->path = rest;
	out->by_host = false;
	out->host[0] = '\0';
	return CID_OK;
}

/*
 * The host tenant cfg is served at, as its `host` file named it when it
 * opened (its issuer: the scheme, "://" and that host), into *len; NULL for
 * a tenant served at /t/NAME.
 */
static const char *own_host(const struct cid_config *cfg, size_t *len)
{
	/* a tenant at its own host has no path prefix: its pages name its root */
	if (cfg->path_prefix[0] != '\0')
		return NULL;
	return authority(cfg->issuer, len);
}

enum cid_err cid_tenants_open(struct cid_tenants *t, const struct cid_tenant_route *r, int64_t now,
			      struct cid_ctx **out)
{
	enum cid_err rc = CID_OK;
	struct cid_ctx *ctx = NULL;
	size_t len = 0;
	const char *own;
	FILE *errors = tenant_map_errors(t);

	CID_TRY(cid_tenants_get(t, r->name, strlen(r->name), now, &ctx));
	own = own_host(cid_ctx_config(ctx), &len);
	if (r->by_host) {
		/* the index chose it; only the tenant's own file says where it is served */
		if (own == NULL || len != strlen(r->host) || memcmp(own, r->host, len) != 0) {
			if (errors != NULL && tenant_map_first_refusal(t, r->name))
				fprintf(errors,
					"civicid: tenant %s: refused at %s: the index of hosts "
					"(tenants/%s/%s) names it, but its host file names %.*s\n",
					r->name, r->host, HOSTS_DIR, r->host,
					own != NULL ? (int)len : 4, own != NULL ? own : "none");
			CID_TRY(CID_ERR_NOTFOUND);
		}
	} else
		CID_ENSURE(own == NULL, CID_ERR_NOTFOUND);
	*out = ctx;
out:
	return rc;
}
