/*
 * cid_open: a context is assembled once, at start, and taken apart at the
 * end.
 *
 * Opening loads the policies, opens the store and the audit log, creates the
 * signing keys and the pairwise salt on first start, loads the keyset, and
 * builds the discovery document from the OIDC endpoint table; nothing of it
 * is built again per request. This is the one file of the context that
 * reaches above it: the endpoints of that table read the context through
 * cid.c, so the assembly sits above both, and cid.c calls nothing here.
 */
#include "cid_int.h"

#include "audit.h"
#include "consent.h"
#include "consent_sweep.h"
#include "crypto.h"
#include "fetch_cache.h"
#include "oidc.h"
#include "policy_archive.h"
#include "session.h"
#include "str.h"
#include "token.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOGO_MAX ((size_t)256 * 1024) /* bytes of the city's logo */

struct salt_arg {
	uint8_t fresh[32];
	uint8_t out[32];
};

/* Reads the pairwise salt, or stores the fresh one if there is none yet. */
static enum cid_err salt_cb(struct cid_txn *txn, void *arg)
{
	struct salt_arg *sa = arg;
	enum cid_err rc = CID_OK;
	struct cid_str key = cid_str_of("pairwise_salt");
	struct cid_str val;

	rc = cid_txn_get(txn, CID_DB_META, key, &val);
	if (rc == CID_OK) {
		CID_ENSURE(val.len == sizeof(sa->out), CID_ERR_STORE);
		memcpy(sa->out, val.ptr, val.len);
		goto out;
	}
	CID_ENSURE(rc == CID_ERR_NOTFOUND, rc);
	CID_TRY(cid_txn_put(txn, CID_DB_META, key,
			    (struct cid_str){(const char *)sa->fresh, sizeof(sa->fresh)}, 0));
	memcpy(sa->out, sa->fresh, sizeof(sa->out));
out:
	return rc;
}

/* The pages' zone: cfg's, else UTC, saying why to errors. */
static enum cid_err open_tz(const struct cid_config *cfg, FILE *errors, struct cid_tz **out)
{
	char why[512] = "";
	enum cid_err rc = cid_tz_load(CID_TZ_DIR, cfg->timezone, out, why, sizeof(why));

	if (rc == CID_ERR_NOMEM)
		return rc;
	if (rc != CID_OK) {
		if (errors != NULL)
			fprintf(errors, "civicid: timezone %s: %s; pages show times in UTC\n",
				cfg->timezone, why);
		return cid_tz_utc(out);
	}
	return CID_OK;
}

/* True if the bytes begin as an image of the media type says. */
static bool logo_magic(const unsigned char *p, size_t n, const char *type)
{
	if (strcmp(type, "image/png") == 0)
		return n >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0;
	if (strcmp(type, "image/jpeg") == 0)
		return n >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff;
	if (strcmp(type, "image/gif") == 0)
		return n >= 6 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0);
	return n >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0;
}

/*
 * The city's logo from web_dir/static into ctx, when configured; a file that
 * is missing, too large or not the image its name says is reported to errors
 * and left out. Errors: CID_ERR_NOMEM.
 */
static enum cid_err open_logo(struct cid_ctx *ctx, FILE *errors)
{
	const struct cid_config *cfg = ctx->cfg;
	const char *type = cid_config_logo_type(cfg->city_logo);
	const char *why = NULL;
	char path[8192];
	unsigned char *data = NULL;
	size_t n = 0;
	FILE *f;

	if (cfg->city_logo[0] == '\0' || type == NULL)
		return CID_OK;
	if (snprintf(path, sizeof(path), "%s/static/%s", cfg->web_dir, cfg->city_logo) >=
	    (int)sizeof(path))
		why = "the path is too long";
	f = why == NULL ? fopen(path, "rb") : NULL;
	if (why == NULL && f == NULL)
		why = "cannot be opened";
	if (f != NULL) {
		data = malloc(LOGO_MAX + 1);
		if (data == NULL) {
			fclose(f);
			return CID_ERR_NOMEM;
		}
		n = fread(data, 1, LOGO_MAX + 1, f);
		if (ferror(f))
			why = "cannot be read";
		else if (n > LOGO_MAX)
			why = "is larger than 256 KiB";
		else if (!logo_magic(data, n, type))
			why = "is not the image its name says";
		fclose(f);
	}
	if (why != NULL) {
		if (errors != NULL)
			fprintf(errors, "civicid: city_logo %s %s; pages show no logo\n", path,
				why);
		free(data);
		return CID_OK;
	}
	ctx->logo = data;
	ctx->logo_len = n;
	ctx->logo_type = type;
	return CID_OK;
}

/*
 * The store's indexes, each with the damage its build stops at; a build that
 * leaves damaged records out instead (kept, not an error) counts them
 * (counted, in place of ensure).
 */
static const struct {
	const char *name;
	enum cid_err (*ensure)(struct cid_store *s, size_t *built);
	enum cid_err (*counted)(struct cid_store *s, size_t *built, size_t *damaged);
	const char *damage;
} INDEXES[] = {
    {"grant", cid_grant_index_ensure, NULL,
     "a grant record names no citizen or service, or the store failed"},
    {"session", cid_session_index_ensure, NULL, "the store failed"},
    {"consent id", cid_consent_index_ensure, NULL,
     "a consent record has no id, or two records share one, or the store failed"},
    {"consent due", NULL, cid_consent_due_ensure_counted, "the store failed"},
};

/*
 * Builds each index a store written before it existed (or since by an older
 * build) lacks, once; one that cannot be built stops the start, saying to
 * errors which and why, so that an operator knows what to mend.
 */
static enum cid_err ensure_indexes(struct cid_store *s, FILE *errors)
{
	enum cid_err rc = CID_OK;

	for (size_t i = 0; i < sizeof(INDEXES) / sizeof(INDEXES[0]); i++) {
		size_t damaged = 0;

		rc = INDEXES[i].counted != NULL ? INDEXES[i].counted(s, NULL, &damaged)
						: INDEXES[i].ensure(s, NULL);
		/* left out and kept, not an error: but not read again, so said now */
		if (rc == CID_OK && damaged > 0 && errors != NULL)
			fprintf(errors,
				"civicid: %zu records do not read (a damaged store): left out of "
				"the %s index, so nothing that index drives reaches them\n",
				damaged, INDEXES[i].name);
		if (rc == CID_ERR_STORE && errors != NULL)
			fprintf(errors, "civicid: the %s index cannot be built: %s (%s)\n",
				INDEXES[i].name, INDEXES[i].damage, cid_strerror(rc));
		else if (rc != CID_OK && errors != NULL)
			fprintf(errors, "civicid: the %s index cannot be built: %s\n",
				INDEXES[i].name, cid_strerror(rc));
		CID_TRY(rc);
	}
out:
	return rc;
}

/*
 * The log's issuer into *out (caller frees): cfg's recorded now if none is
 * (a server's first start), else the one recorded, which errors is told of
 * when it is not cfg's; with CID_CTX_NO_ISSUER, only the one recorded, or
 * NULL when none is.
 */
static enum cid_err log_issuer(struct cid_store *s, const struct cid_config *cfg, unsigned flags,
			       FILE *errors, char **out)
{
	enum cid_err rc;

	*out = NULL;
	if (flags & CID_CTX_NO_ISSUER) {
		rc = cid_audit_issuer(s, out);
		return rc == CID_ERR_NOTFOUND ? CID_OK : rc;
	}
	rc = cid_audit_issuer_record(s, cfg->issuer, out);
	if (rc == CID_OK && strcmp(*out, cfg->issuer) != 0 && errors != NULL)
		fprintf(errors,
			"civicid: the audit log keeps the issuer it was started with, %s: its "
			"checkpoints are signed as that issuer, not as %s\n",
			*out, cfg->issuer);
	return rc;
}

enum cid_err cid_ctx_open(const struct cid_config *cfg, int64_t now, FILE *errors,
			  struct cid_ctx **out)
{
	return cid_ctx_open_flags(cfg, now, 0, errors, out);
}

enum cid_err cid_ctx_open_flags(const struct cid_config *cfg, int64_t now, unsigned flags,
				FILE *errors, struct cid_ctx **out)
{
	enum cid_err rc = CID_OK;
	struct cid_ctx *ctx = calloc(1, sizeof(*ctx));
	struct salt_arg sa;
	char *issuer = NULL;

	CID_ENSURE(ctx != NULL, CID_ERR_NOMEM);
	ctx->cfg = cfg;
	if (pthread_mutex_init(&ctx->lock, NULL) != 0) {
		free(ctx);
		return CID_ERR_NOMEM;
	}
	rc = ctx_policies_load(cfg->policies_dir, cfg->controller_type, errors, &ctx->policies);
	if ((rc == CID_ERR_CONFIG || rc == CID_ERR_IO) && errors != NULL)
		fprintf(errors, "%s: the release policies do not load (errors above)\n",
			cfg->policies_dir);
	CID_TRY(rc);
	CID_TRY(cid_store_open_flags(cfg->store_dir,
				     cfg->store_no_thread_cache ? CID_STORE_NO_THREAD_CACHE : 0,
				     &ctx->store));
	CID_TRY(ensure_indexes(ctx->store, errors));
	CID_TRY(cid_policy_archive_put(ctx->store, ctx->policies->obj, now, NULL));
	CID_TRY(cid_audit_open(ctx->store, cfg->audit_group_commit != 0, &ctx->audit_log));
	CID_TRY(log_issuer(ctx->store, cfg, flags, errors, &issuer));
	/* no issuer recorded (a look at a store never served): no origin to make a key of */
	rc = issuer != NULL ? cid_audit_key_ensure(ctx->store, now) : CID_OK;
	if (rc == CID_ERR_CONFIG && errors != NULL)
		fprintf(
		    errors,
		    "civicid: the audit log's origin cannot be made from its issuer %s (at most "
		    "250 bytes after the scheme, no space or '+')\n",
		    issuer);
	CID_TRY(rc);
	cid_ctx_set_audit_hook(ctx, NULL, NULL);
	/* a reload asked before this start is already done: this load is newer */
	CID_TRY(cid_policies_reload_counter(ctx->store, &ctx->reload_seen));
	CID_TRY(cid_keys_ensure(ctx->store, now));
	CID_TRY(cid_random_bytes(sa.fresh, sizeof(sa.fresh)));
	CID_TRY(cid_store_update(ctx->store, salt_cb, &sa));
	memcpy(ctx->salt, sa.out, sizeof(ctx->salt));
	cid_wipe(&sa, sizeof(sa));
	CID_TRY(cid_ctx_keys_refresh(ctx, now));
	CID_TRY(cid_oidc_discovery_build(cfg->issuer, &ctx->discovery, &ctx->discovery_len));
	CID_TRY(open_tz(cfg, errors, &ctx->tz));
	CID_TRY(cid_fetch_cache_new(&ctx->fetch_cache));
	CID_TRY(open_logo(ctx, errors));
	*out = ctx;
	ctx = NULL;
out:
	free(issuer);
	cid_ctx_close(ctx);
	return rc;
}

void cid_ctx_close(struct cid_ctx *ctx)
{
	if (ctx == NULL)
		return;
	ctx_snapshot_put(ctx->keys);
	ctx_snapshot_put(ctx->policies);
	cid_audit_close(ctx->audit_log);
	cid_store_close(ctx->store);
	free(ctx->discovery);
	cid_tz_free(ctx->tz);
	cid_fetch_cache_free(ctx->fetch_cache);
	free(ctx->logo);
	cid_wipe(ctx->salt, sizeof(ctx->salt));
	pthread_mutex_destroy(&ctx->lock);
	free(ctx);
}
