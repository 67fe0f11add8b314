/*
 * tenant: several municipalities on one server (issue 14).
 *
 * A tenant is a city with a context of its own (cid.h): its own LMDB
 * environment in STORE/tenants/NAME/, so every record, signing key, hash
 * chain and checkpoint of one tenant is out of reach of another's by
 * construction: each function of libauth already takes the context, and the
 * context is the tenant. Its configuration is the server's with overrides
 * (cid_tenant_config): issuer ISSUER/t/NAME, store STORE/tenants/NAME,
 * policies POLICIES/NAME, then the city's own keys from
 * STORE/tenants/NAME/tenant.conf (display names, controller, logo, locale,
 * time zone: CID_TENANT_KEYS). A tenant is disabled by the file `disabled`
 * beside it, and stays so (its data is kept).
 *
 * A tenant may instead be served at a host of its own (tenant_host.c): its
 * issuer is then "https://HOST", the scheme of the server's issuer (its
 * "host" set at cid_tenant_add, kept in the file `host` beside tenant.conf
 * and in the index STORE/tenants/_hosts/HOST),
 * its endpoints, pages and cookies at the root of that host, and it is not
 * served below /t/NAME. The request's Host header chooses it
 * (cid_tenants_route); the issuer comes from the registry, never from the
 * header, so a forged Host only chooses which tenant answers, as a path does.
 *
 * A store with no tenants/ directory (or an empty one) is the single city of
 * before: nothing here applies. The map (struct cid_tenants) opens a
 * tenant's context on its first request and keeps it: starting costs nothing
 * per tenant, an idle tenant costs nothing, and a lookup is one hash probe.
 */
#ifndef CID_TENANT_H
#define CID_TENANT_H

#include "cid.h"
#include "config.h"
#include "err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The longest tenant name (a DNS label's length). */
#define CID_TENANT_NAME_MAX 63

/* The path prefix of a tenant's endpoints below the server's issuer: "/t/NAME". */
#define CID_TENANT_PATH "/t/"

/* The longest host of a tenant served at its own: a DNS name (253), ':' and a port. */
#define CID_TENANT_HOST_MAX 259

/* The keys a tenant's tenant.conf may set; NULL-terminated. */
extern const char *const CID_TENANT_KEYS[];

/*
 * Checks a tenant name: 1 to CID_TENANT_NAME_MAX bytes of a-z, 0-9 and '-',
 * neither starting nor ending with '-'. Errors: CID_ERR_INVALID.
 */
CID_MUST_CHECK enum cid_err cid_tenant_name_check(const char *name, size_t len);

/*
 * Checks a host as a Host header or an issuer of scheme ("http" or "https",
 * the server's issuer's) names it: a DNS name of labels of 1 to 63 of a-z,
 * A-Z, 0-9 and '-' (not at either end of a label), at most 253 bytes, its
 * last label not a number (a name, not an IPv4 address in any spelling:
 * neither all digits, "127.1", nor 0x and hex digits, "0x7f000001", the
 * WHATWG URL host parser's "ends in a number" rule); then optionally
 * ':' and a port 1 to 65535 without a leading zero. Its canonical form into
 * out: lower case, without the scheme's default port (":80" for http,
 * ":443" for https: the port its clients leave out; the other one is kept).
 * No trailing dot, no IP literal, nothing else.
 * Errors: CID_ERR_INVALID (also a scheme neither http nor https).
 */
CID_MUST_CHECK enum cid_err cid_tenant_host_parse(const char *scheme, const char *host, size_t len,
						  char out[CID_TENANT_HOST_MAX + 1]);

/*
 * True if the store of base (its store_dir) has a tenant, enabled or not:
 * then commands must name one, and the server serves only tenants.
 */
bool cid_tenant_any(const struct cid_config *base);

/*
 * The configuration of tenant name (checked) made from base (borrowed): a copy
 * with issuer, store and policies set as above and tenant.conf applied. *out
 * is freed with cid_config_free. *disabled (may be NULL) says whether the
 * tenant is disabled. On error err says why.
 * Errors: CID_ERR_INVALID (bad name), CID_ERR_NOTFOUND (no such tenant),
 * CID_ERR_CONFIG (tenant.conf has a bad line or sets a key not of
 * CID_TENANT_KEYS, err naming it; or a path is too long),
 * CID_ERR_IO, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_tenant_config(const struct cid_config *base, const char *name,
					      struct cid_config **out, bool *disabled, char *err,
					      size_t errsz);

/*
 * Adds tenant name with its settings (keys[i] = values[i], i < n: keys of
 * CID_TENANT_KEYS, each checked as the config checks it): makes
 * STORE/tenants/NAME (0700) and writes its tenant.conf. The key "host"
 * (cid_tenant_host_parse; kept canonical) serves the tenant at a host of its
 * own instead of ISSUER/t/NAME; no other tenant may have that host, nor the
 * server's issuer. Its store, keys and log are made when it is first opened. On error
 * err says why and nothing is left behind. Refused while base's store
 * directory holds a single city's store (data.mdb) and no tenant yet: a
 * store with a tenant serves tenants only, so that city would be left
 * unreachable; cid_tenant_adopt makes it the first tenant instead.
 * Errors: CID_ERR_INVALID (bad name), CID_ERR_EXISTS (the tenant, or another
 * tenant at that host, or a single city's store: err names `civicid tenant
 * adopt`), CID_ERR_CONFIG (a key not of CID_TENANT_KEYS nor
 * "host", a bad value, a value holding a newline, a bad host or the
 * server's own), CID_ERR_IO, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_tenant_add(const struct cid_config *base, const char *name,
					   const char *const *keys, const char *const *values,
					   size_t n, char *err, size_t errsz);

/*
 * Disables tenant name: its issuer answers nothing from now on (a running
 * server notices within a few seconds: cid_tenants_refresh). Its data stays.
 * Errors: CID_ERR_INVALID, CID_ERR_NOTFOUND, CID_ERR_IO.
 */
CID_MUST_CHECK enum cid_err cid_tenant_disable(const struct cid_config *base, const char *name);

/*
 * The tenants of base's store, sorted by name, into *out (a new array of
 * {"name", "issuer", "disabled"}; the issuer a tenant's own when it has one).
 * A tenant whose issuer cannot be told (its host file or host index entry
 * broken or unreadable) is listed all the same, with "issuer" null and
 * "error" saying what is wrong: one such tenant does not hide the others.
 * Errors: CID_ERR_IO (the tenants directory unreadable), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_tenant_list(const struct cid_config *base, json_t **out);

/*
 * What `tenant show` prints of an open tenant context: {"name", "issuer",
 * "store", "policies_dir", "disabled", "city_name_ja", "city_name_en",
 * "keys": [{"kid", "state"}], "counts": {"citizens", "services",
 * "officers", "audit_entries"}, "policies": [{"service", "version"}]} into
 * *out (new). A command opens ctx with CID_CTX_NO_ISSUER (cid.h): looking
 * at a tenant never served must not record the command's issuer as its
 * log's. Errors: CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_tenant_show(struct cid_ctx *ctx, const char *name, bool disabled,
					    json_t **out);

/*
 * Turns the single city of base's store into tenant name: adds the tenant
 * (settings as cid_tenant_add), moves the store's LMDB files into its
 * directory (a rename: nothing is copied, nothing lost), and appends
 * "tenant.adopted" (ext: tenant, issuer) to its audit log, whose chain goes on
 * from where it was. It records no issuer as the log's (audit.h): a log
 * that had none (no server ever started on the city) gets the first
 * server's to serve the tenant, not the command's. The policies stay where they are: move them to
 * POLICIES/NAME with cid_tenant_move_policies, or by hand (the error of
 * the first open says so otherwise).
 * Errors: those of cid_tenant_add; CID_ERR_EXISTS (the store already has
 * tenants), CID_ERR_NOTFOUND (no store to adopt), CID_ERR_IO, CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err cid_tenant_adopt(const struct cid_config *base, const char *name,
					     const char *const *keys, const char *const *values,
					     size_t n, int64_t now, char *err, size_t errsz);

/*
 * Moves every NAME.policy file of base's policies directory (not its
 * subdirectories: other tenants' policies) into POLICIES/name/, made if
 * missing: what a single city's policies become when it is adopted as
 * tenant name. A rename per file; on an error, the files moved so far stay
 * moved and err says which file failed.
 * Errors: CID_ERR_INVALID (a bad name), CID_ERR_CONFIG (a path too long),
 * CID_ERR_IO (the directory unreadable, a file not moved).
 */
CID_MUST_CHECK enum cid_err cid_tenant_move_policies(const struct cid_config *base,
						     const char *name, char *err, size_t errsz);

/* ---- the map of a running server ---- */

struct cid_tenants;

/*
 * An empty map over the tenants of base (borrowed: outlives the map): only
 * the index of hosts (STORE/tenants/_hosts) is read now, a tenant itself
 * when it is first asked for. *out is freed with cid_tenants_close.
 * Errors: CID_ERR_NOMEM, CID_ERR_IO (the index of hosts cannot be read).
 */
CID_MUST_CHECK enum cid_err cid_tenants_new(const struct cid_config *base, FILE *errors,
					    struct cid_tenants **out);

/*
 * The context of tenant name[0..len) into *out (borrowed: valid until
 * cid_tenants_close), opened (cid_ctx_open) on its first use and kept.
 * Every tenant of the map shares one count of upstream calls
 * (cid_ctx_upstream_enter): at most half the server's login threads wait
 * on upstreams, whichever tenants they serve.
 * Thread-safe; a known tenant costs one hash probe under a read lock.
 * Errors: CID_ERR_INVALID (bad name), CID_ERR_NOTFOUND (no such tenant),
 * CID_ERR_DISABLED, and those of cid_tenant_config and cid_ctx_open (said on
 * the map's errors stream).
 */
CID_MUST_CHECK enum cid_err cid_tenants_get(struct cid_tenants *t, const char *name, size_t len,
					    int64_t now, struct cid_ctx **out);

/*
 * True if cid_tenants_get of tenant name (NUL-terminated) at now would open
 * it: it exists, is not disabled, is not open yet and has not failed to open
 * in the last 5 s. Its first open reads its store and may make its signing
 * keys, so a server does it away from the threads that serve other requests;
 * anything else (an open tenant, an unknown one, one refused for its recent
 * failure) cid_tenants_get answers at once. A hint: another thread may open
 * it meanwhile. Thread-safe.
 */
bool cid_tenants_needs_open(struct cid_tenants *t, const char *name, int64_t now);

/* Which tenant a request is for (cid_tenants_route). */
struct cid_tenant_route {
	char name[CID_TENANT_NAME_MAX + 1];
	const char *path;		    /* the path its endpoints know; borrowed from the url */
	bool by_host;			    /* chosen by its own host, not by /t/NAME */
	char host[CID_TENANT_HOST_MAX + 1]; /* by_host: the index's host, canonical; else "" */
};

/*
 * The rule that maps a request to a tenant: host (the Host header as
 * received, NULL when absent) naming the host of a tenant served at its own
 * (as cid_tenant_host_parse reads it) chooses that tenant, and url is its path whole;
 * any other host, "/t/NAME/REST" chooses NAME, and REST is the path. The
 * tenant is not opened (cid_tenants_open does). Thread-safe: the hosts are
 * an immutable table, read again by cid_tenants_refresh.
 * Errors: CID_ERR_NOTFOUND (neither: a host of no tenant and a path of none).
 */
CID_MUST_CHECK enum cid_err cid_tenants_route(struct cid_tenants *t, const char *host,
					      const char *url, struct cid_tenant_route *out);

/*
 * The context of the tenant r names, as cid_tenants_get, refused when it was
 * reached the other way than it is served: a tenant of its own host by
 * /t/NAME, or a path tenant by a host (its pages and cookies would name the
 * wrong place); and, by a host, when that host of the index is not the one
 * the tenant's own `host` file names (a stale index entry: its issuer would
 * name another host than the one serving it), which the map's errors stream
 * then says, naming both, the first time for each tenant. Errors: those of cid_tenants_get;
 * CID_ERR_NOTFOUND (the other way, or another host).
 */
CID_MUST_CHECK enum cid_err cid_tenants_open(struct cid_tenants *t,
					     const struct cid_tenant_route *r, int64_t now,
					     struct cid_ctx **out);

/*
 * Opens, as a request would (cid_tenants_get), every enabled tenant not open
 * yet whose store has a back-channel logout notice due at now
 * (cid_logout_due): notices queued while no request came for it (by the
 * CLI, or retries left by a restart) go out without waiting for one. The
 * check opens such a tenant's existing store alone and closes it again,
 * under the lock that opens tenants one at a time, so no two environments
 * on its files are open in this process; a tenant whose store does not
 * exist yet has nothing queued. *opened (may be NULL): how many were opened.
 * Errors: CID_ERR_IO (the tenants directory unreadable), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_tenants_open_due(struct cid_tenants *t, int64_t now,
						 size_t *opened);

/*
 * Calls fn(ctx, name, arg) for every opened, enabled tenant, in no set order;
 * what the server's background work loops over (no thread per tenant). fn
 * must not call cid_tenants_get. Thread-safe.
 */
void cid_tenants_each(struct cid_tenants *t,
		      void (*fn)(struct cid_ctx *ctx, const char *name, void *arg), void *arg);

/*
 * Looks again whether each opened tenant was disabled since
 * (cid_tenant_disable), and reads the hosts of tenants served at their own
 * again (one added since answers from now on).
 */
void cid_tenants_refresh(struct cid_tenants *t);

/* How many hosts of tenants at their own the map serves (its index of hosts as last read). */
size_t cid_tenants_host_count(struct cid_tenants *t);

/* How many tenant contexts are open. */
size_t cid_tenants_open_count(struct cid_tenants *t);

/* Closes every opened context and frees the map. No request may be running. NULL: no-op. */
void cid_tenants_close(struct cid_tenants *t);

#endif
