/*
 * config: civicid's configuration, from one table of keys.
 *
 * The file format is one "key = value" per line; '#' starts a comment; blank
 * lines are ignored; values are taken verbatim after trimming spaces. Every key
 * has a type, a range and a default in the table of config.c, which is also the
 * documentation (`civicid serve --help-config` prints it). An unknown key, a
 * value out of range or a repeated key is an error reported as "file:line:
 * message". A loaded config is immutable: a reload builds a new one.
 */
#ifndef CID_CONFIG_H
#define CID_CONFIG_H

#include "crypto.h"
#include "err.h"
#include "netaddr.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The room of cid_config.path_prefix: "/t/" and a tenant name (tenant.h), and NUL. */
#define CID_PATH_PREFIX_MAX 72

struct cid_config {
	char *issuer;		/* issuer URL, e.g. "http://127.0.0.1:8080" (no trailing slash) */
	char *listen;		/* listen address, IPv4 or IPv6 literal, e.g. "127.0.0.1" */
	uint16_t port;		/* listen port; 0 picks a free one (printed at start) */
	char *store_dir;	/* LMDB directory */
	char *web_dir;		/* templates, static files, messages */
	char *policies_dir;	/* the release policies (*.policy), policy.h */
	unsigned threads;	/* HTTP worker threads (libmicrohttpd thread pool) */
	unsigned login_threads; /* threads answering slow requests (argon2, log scans) */
	unsigned write_threads; /* threads answering requests that write to the store */
	unsigned max_connections;
	unsigned connection_timeout;
	/* reverse proxies whose X-Forwarded-For / Forwarded are believed (netaddr.h); never NULL */
	struct cid_netaddr_set *trusted_proxies;
	int64_t code_ttl, access_ttl, id_token_ttl, refresh_ttl, session_ttl;
	int64_t key_keep;		   /* seconds a retired key stays in the JWKS */
	int64_t key_publish_delay;	   /* seconds a published next key waits to sign */
	unsigned audit_group_commit;	   /* 1: concurrent audit appends share a commit */
	int64_t audit_checkpoint_interval; /* seconds between signed checkpoints */
	unsigned console_export_max;	   /* entries of one officer-console export */
	/* single logout's back-channel notices (logout.h): tries in all, the wait after the
	 * first failed try (doubled after each), per try the whole time and the connect time,
	 * and how many are sent at once */
	unsigned logout_attempts;
	int64_t logout_backoff;
	int64_t logout_timeout, logout_connect_timeout;
	unsigned logout_concurrency;
	char *audit_witnesses; /* "URL VKEY" items, comma-separated (cid_audit_witnesses_parse) */
	/* its gate is not a key: NULL in a new config, copied by cid_config_dup; the
	 * server sets it to a gate of argon2_at_once places (crypto.h) */
	struct cid_argon2_params argon2;
	unsigned argon2_at_once; /* hashes at once (cid_hash_gate_new; 0: one per core) */
	char *default_locale;	 /* "ja" or "en" */
	/* the PII controller named in consent receipts (receipt.h); "" = not set */
	char *controller_name;
	char *controller_contact;
	char *controller_address;
	char *controller_email;
	char *controller_phone; /* optional in receipts */
	char *policy_url;
	char
	    *controller_type; /* "local_government", "business" or "" (cid_controller_type_parse) */
	char *jurisdiction;   /* Kantara "jurisdiction", e.g. "JP" */
	/* the pages' header: the city's name per language ("" = not shown) and logo, a
	 * file under web_dir/static ("" = none; cid_config_logo_type says which) */
	char *city_name_ja;
	char *city_name_en;
	char *city_logo;
	char *timezone; /* the zone of the times pages show (tz.h), e.g. "Asia/Tokyo" */
	/* not a key: "" for a single city, "/t/NAME" for a tenant (tenant.h), where its
	 * pages, redirects and cookies live: every absolute path they name starts with it */
	char path_prefix[CID_PATH_PREFIX_MAX];
	/* not a key: true for a tenant, whose store keeps no read transaction per
	 * thread (store.h CID_STORE_NO_THREAD_CACHE): a process opens hundreds */
	bool store_no_thread_cache;
	/* not a key: the count of requests calling upstream identity providers now
	 * (cid.h cid_ctx_upstream_enter) shared by every context of this config and
	 * its copies, as the login threads are; NULL in a new config (a context
	 * then counts its own), copied by cid_config_dup; the map of a server's
	 * tenants points each tenant's at its one counter (tenant.h) */
	atomic_uint *upstream_calls;
};

/* A config holding every default. *out is freed with cid_config_free. Errors: CID_ERR_NOMEM. */
CID_MUST_CHECK enum cid_err cid_config_new(struct cid_config **out);

/*
 * A copy of cfg, every key's value the same, into *out (freed with
 * cid_config_free): what a tenant's configuration starts from (tenant.h).
 * Errors: CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_config_dup(const struct cid_config *cfg, struct cid_config **out);

/*
 * Sets one key from its text value (as in the file). On error writes a message
 * to err[errsz] ("unknown key", "value out of range 1..64", ...).
 * Errors: CID_ERR_CONFIG, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_config_set(struct cid_config *cfg, const char *key,
					   const char *value, char *err, size_t errsz);

/*
 * Reads the file at path into cfg (keys not in the file keep their values).
 * On error writes "path:line: message" to err[errsz].
 * Errors: CID_ERR_IO (cannot open/read), CID_ERR_CONFIG, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_config_load(struct cid_config *cfg, const char *path, char *err,
					    size_t errsz);

/*
 * cid_config_load, but a file setting a key outside only (NULL-terminated;
 * NULL: every key) is refused: a file that may set some settings and not
 * others (a tenant's tenant.conf: tenant.h). The error names the key.
 * Errors: those of cid_config_load.
 */
CID_MUST_CHECK enum cid_err cid_config_load_only(struct cid_config *cfg, const char *path,
						 const char *const *only, char *err, size_t errsz);

/*
 * Checks cross-key rules after all sources are applied (issuer is an absolute
 * http(s) URL without query/fragment/trailing slash, ttls ordered sensibly).
 * Errors: CID_ERR_CONFIG with the reason in err.
 */
CID_MUST_CHECK enum cid_err cid_config_check(const struct cid_config *cfg, char *err, size_t errsz);

/*
 * The media type of a city_logo file name by its extension: "image/png"
 * (.png), "image/jpeg" (.jpg, .jpeg), "image/gif", "image/webp"; NULL for
 * any other name, and for a name that is not a relative path of letters,
 * digits, '_', '-', '.' and '/' without a ".." part. Static string. (No SVG:
 * an image that can carry script is not served from the pages' origin.)
 */
const char *cid_config_logo_type(const char *name);

/* Which part of the APPI binds the controller (config key controller_type). */
enum cid_controller_type {
	CID_CONTROLLER_UNDECLARED,	 /* "": no law record is checked */
	CID_CONTROLLER_LOCAL_GOVERNMENT, /* APPI Chapter 5: citations, the file register */
	CID_CONTROLLER_BUSINESS,	 /* APPI Art. 27-30: third-party provision records */
};

/*
 * The controller type s names ("local_government", "business", "" or NULL:
 * undeclared) into *out (may be NULL: only checks). False, *out untouched,
 * for any other text.
 */
bool cid_controller_type_parse(const char *s, enum cid_controller_type *out);

/* Prints the reference of every key (name, type, range, default, meaning) to f. */
void cid_config_describe(FILE *f);

void cid_config_free(struct cid_config *cfg);

#endif
