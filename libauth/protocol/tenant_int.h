/*
 * tenant_int: what tenant.c (the registry), tenant_map.c (the map of a
 * running server) and tenant_host.c (tenants served at a host of their
 * own) share. Not part of the API.
 */
#ifndef CID_TENANT_INT_H
#define CID_TENANT_INT_H

#include "tenant.h"

/* STORE/tenants[/NAME[/FILE]] into out (name and file may be NULL); CID_ERR_CONFIG when too long.
 */
CID_MUST_CHECK enum cid_err tenant_path(const struct cid_config *base, const char *name,
					const char *file, char out[4096]);

/* The file name of a disabled tenant's mark, beside its tenant.conf. */
#define TENANT_DISABLED "disabled"

/* True if d (an entry of the tenants directory) is a tenant: a good name with a tenant.conf. */
bool tenant_exists(const struct cid_config *base, const char *d);

/* True if path exists. */
bool tenant_file_exists(const char *path);

/* The hosts of tenants served at their own: an immutable table of {host, name}. */
struct tenant_hosts;

/*
 * The table of base's store (STORE/tenants/_hosts) into *out, freed with
 * tenant_hosts_free; no such directory: an empty table. An entry that is
 * not a canonical host naming a good tenant name is left out, and so is the
 * host of base's own issuer (where its /t/NAME tenants are).
 * Errors: CID_ERR_IO, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err tenant_hosts_load(const struct cid_config *base,
					      struct tenant_hosts **out);

/* The tenant at canonical host (borrowed from h), or NULL. */
const char *tenant_hosts_find(const struct tenant_hosts *h, const char *host);

/* How many hosts h holds; NULL: 0. */
size_t tenant_hosts_count(const struct tenant_hosts *h);

/* Frees h; NULL is a no-op. */
void tenant_hosts_free(struct tenant_hosts *h);

/*
 * Serves tenant name (its directory made) at the host its "host" setting
 * names (cid_tenant_host_parse), as cid_tenant_add says: claims
 * STORE/tenants/_hosts/HOST (made exclusively: one tenant per host) and
 * writes the tenant's `host` file, both the canonical host. On error err
 * says why and nothing is left behind.
 * Errors: CID_ERR_CONFIG (a bad host, the server's own), CID_ERR_EXISTS
 * (another tenant's host), CID_ERR_IO.
 */
CID_MUST_CHECK enum cid_err tenant_host_register(const struct cid_config *base, const char *name,
						 const char *setting, char *err, size_t errsz);

/* Undoes tenant_host_register of tenant name at host, its setting (a failed add). */
void tenant_host_unregister(const struct cid_config *base, const char *name, const char *host);

/*
 * The issuer of tenant name (checked) into out: at its own host (*own
 * true), the server's issuer's scheme, "://" and that host; else
 * ISSUER/t/NAME. The `host` file must be canonical and its index entry
 * must name this tenant.
 * Errors: CID_ERR_CONFIG (a bad `host` file or index, err says which; a
 * path too long), CID_ERR_IO.
 */
CID_MUST_CHECK enum cid_err tenant_issuer(const struct cid_config *base, const char *name,
					  char out[4096], bool *own, char *err, size_t errsz);

/* The map's errors stream (may be NULL: say nothing). */
FILE *tenant_map_errors(const struct cid_tenants *t);

/*
 * True the first time it is asked of tenant name (open in t): whether its
 * refusal at a stale host index entry is still to be said, so a client
 * retrying there does not flood the errors stream. Thread-safe.
 */
bool tenant_map_first_refusal(struct cid_tenants *t, const char *name);

/*
 * cid_tenants_route's rule over the hosts table h (may be NULL: no tenant of
 * its own host) into *out. Errors: CID_ERR_NOTFOUND.
 */
CID_MUST_CHECK enum cid_err tenant_route(const struct tenant_hosts *h, const char *host,
					 const char *url, struct cid_tenant_route *out);

#endif
