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

/* The keys a tenant's tenant.conf may set; NULL-terminated. */
extern const char *const CID_TENANT_KEYS[];

/*
 * Checks a tenant name: 1 to CID_TENANT_NAME_MAX bytes of a-z, 0-9 and '-',
 * neither starting nor ending with '-'. Errors: CID_ERR_INVALID.
 */
CID_MUST_CHECK enum cid_err cid_tenant_name_check(const char *name, size_t len);

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
 * CID_ERR_CONFIG (tenant.conf has a bad line, or a path is too long),
 * CID_ERR_IO, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_tenant_config(const struct cid_config *base, const char *name,
					      struct cid_config **out, bool *disabled, char *err,
					      size_t errsz);

/*
 * Adds tenant name with its settings (keys[i] = values[i], i < n: keys of
 * CID_TENANT_KEYS, each checked as the config checks it): makes
 * STORE/tenants/NAME (0700) and writes its tenant.conf. Its store, keys and
 * log are made when it is first opened. On error err says why and nothing is
 * left behind.
 * Errors: CID_ERR_INVALID (bad name), CID_ERR_EXISTS, CID_ERR_CONFIG (a key
 * not of CID_TENANT_KEYS, a bad value, a value holding a newline), CID_ERR_IO,
 * CID_ERR_NOMEM.
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
 * {"name", "issuer", "disabled"}). Errors: CID_ERR_IO, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_tenant_list(const struct cid_config *base, json_t **out);

/*
 * What `tenant show` prints of an open tenant context: {"name", "issuer",
 * "store", "policies_dir", "disabled", "city_name_ja", "city_name_en",
 * "keys": [{"kid", "state"}], "counts": {"citizens", "services",
 * "officers", "audit_entries"}, "policies": [{"service", "version"}]} into
 * *out (new). Errors: CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_tenant_show(struct cid_ctx *ctx, const char *name, bool disabled,
					    json_t **out);

/*
 * Turns the single city of base's store into tenant name: adds the tenant
 * (settings as cid_tenant_add), moves the store's LMDB files into its
 * directory (a rename: nothing is copied, nothing lost), and appends
 * "tenant.adopted" (ext: tenant, issuer) to its audit log, whose chain goes on
 * from where it was. The policies stay where they are: move them to
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
 * An empty map over the tenants of base (borrowed: outlives the map);
 * nothing is read until a tenant is asked for. *out is freed with
 * cid_tenants_close. Errors: CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_tenants_new(const struct cid_config *base, FILE *errors,
					    struct cid_tenants **out);

/*
 * The context of tenant name[0..len) into *out (borrowed: valid until
 * cid_tenants_close), opened (cid_ctx_open) on its first use and kept.
 * Thread-safe; a known tenant costs one hash probe under a read lock.
 * Errors: CID_ERR_INVALID (bad name), CID_ERR_NOTFOUND (no such tenant),
 * CID_ERR_DISABLED, and those of cid_tenant_config and cid_ctx_open (said on
 * the map's errors stream).
 */
CID_MUST_CHECK enum cid_err cid_tenants_get(struct cid_tenants *t, const char *name, size_t len,
					    int64_t now, struct cid_ctx **out);

/*
 * Calls fn(ctx, name, arg) for every opened, enabled tenant, in no set order;
 * what the server's background work loops over (no thread per tenant). fn
 * must not call cid_tenants_get. Thread-safe.
 */
void cid_tenants_each(struct cid_tenants *t,
		      void (*fn)(struct cid_ctx *ctx, const char *name, void *arg), void *arg);

/* Looks again whether each opened tenant was disabled since (cid_tenant_disable). */
void cid_tenants_refresh(struct cid_tenants *t);

/* How many tenant contexts are open. */
size_t cid_tenants_open_count(struct cid_tenants *t);

/* Closes every opened context and frees the map. No request may be running. NULL: no-op. */
void cid_tenants_close(struct cid_tenants *t);

#endif
