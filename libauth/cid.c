/*
 * cid: the request context. The only mutable shared state is the pointer to
 * the current keyset, swapped under a mutex; each keyset carries a reference
 * count so a request that started with the old keys finishes with them.
 */
#include "cid.h"

#include "account.h"
#include "bounds.h"
#include "crypto.h"
#include "str.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct cid_keyref {
	struct cid_keyset *ks;
	atomic_int refs;
};

struct cid_ctx {
	const struct cid_config *cfg;
	struct cid_store *store;
	uint8_t salt[32];
	char *discovery;
	size_t discovery_len;
	pthread_mutex_t lock; /* guards cur */
	struct cid_keyref *cur;
	int64_t next_drop; /* earliest drop_after among loaded retired keys (0: none) */
};

void cid_keyref_put(struct cid_keyref *r)
{
	if (r != NULL && atomic_fetch_sub(&r->refs, 1) == 1) {
		cid_keyset_free(r->ks);
		free(r);
	}
}

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

static json_t *discovery_doc(const char *iss)
{
	json_t *d = json_object();

	struct {
		const char *name;
		const char *path;
	} const endpoints[] = {
	    {"authorization_endpoint", "/authorize"},  {"token_endpoint", "/token"},
	    {"userinfo_endpoint", "/userinfo"},	       {"jwks_uri", "/jwks"},
	    {"introspection_endpoint", "/introspect"}, {"revocation_endpoint", "/revoke"},
	    {"end_session_endpoint", "/logout"},
	};

	char url[CID_MAX_URI];

	if (d == NULL)
		return NULL;
	json_object_set_new(d, "issuer", json_string(iss));
	for (size_t i = 0; i < sizeof(endpoints) / sizeof(endpoints[0]); i++) {
		int n = snprintf(url, sizeof(url), "%s%s", iss, endpoints[i].path);

		if (n < 0 || (size_t)n >= sizeof(url)) {
			json_decref(d);
			return NULL;
		}
		json_object_set_new(d, endpoints[i].name, json_string(url));
	}
	json_t *rest = json_pack(
	    "{s:[s], s:[s], s:[s,s,s], s:[s,s], s:[s], s:[s,s], s:[s], s:[s,s,s,s,s,s,s], "
	    "s:[s,s,s], s:[s,s], s:[s,s,s], s:[s,s], s:b, s:b, s:b, s:[s,s], s:[s,s,s,s], s:[s], "
	    "s:[s,s], s:b, s:b}",
	    "response_types_supported", "code", "response_modes_supported", "query",
	    "grant_types_supported", "authorization_code", "refresh_token", "client_credentials",
	    "subject_types_supported", "pairwise", "public", "code_challenge_methods_supported",
	    "S256", "id_token_signing_alg_values_supported", "ES256", "RS256",
	    "userinfo_signing_alg_values_supported", "none", "scopes_supported", "openid",
	    "profile", "email", "address", "phone", "city", "offline_access",
	    "token_endpoint_auth_methods_supported", "client_secret_basic", "client_secret_post",
	    "none", "introspection_endpoint_auth_methods_supported", "client_secret_basic",
	    "client_secret_post", "revocation_endpoint_auth_methods_supported",
	    "client_secret_basic", "client_secret_post", "none", "ui_locales_supported", "ja", "en",
	    "claims_parameter_supported", 1, "request_parameter_supported", 0,
	    "request_uri_parameter_supported", 0, "acr_values_supported",
	    "urn:civicid:acr:password", "urn:civicid:acr:mfa", "prompt_values_supported", "none",
	    "login", "consent", "select_account", "claim_types_supported", "normal",
	    "access_token_signing_alg_values_supported", "ES256", "RS256",
	    "authorization_response_iss_parameter_supported", 1, "frontchannel_logout_supported",
	    0);

	if (rest == NULL || json_object_update(d, rest) != 0) {
		json_decref(rest);
		json_decref(d);
		return NULL;
	}
	json_decref(rest);
	/* claims_supported from the one claim table, so it cannot drift */
	json_t *claims = json_array();
	size_t n = 0;
	const struct cid_claim_def *defs = cid_claim_table(&n);

	json_array_append_new(claims, json_string("sub"));
	for (size_t i = 0; i < n; i++)
		json_array_append_new(claims, json_string(defs[i].name));
	json_object_set_new(d, "claims_supported", claims);
	return d;
}

enum cid_err cid_ctx_open(const struct cid_config *cfg, int64_t now, struct cid_ctx **out)
{
	enum cid_err rc = CID_OK;
	struct cid_ctx *ctx = calloc(1, sizeof(*ctx));
	struct salt_arg sa;
	json_t *doc = NULL;

	CID_ENSURE(ctx != NULL, CID_ERR_NOMEM);
	ctx->cfg = cfg;
	CID_ENSURE(pthread_mutex_init(&ctx->lock, NULL) == 0, CID_ERR_NOMEM);
	CID_TRY(cid_store_open(cfg->store_dir, &ctx->store));
	CID_TRY(cid_keys_ensure(ctx->store, now));
	CID_TRY(cid_random_bytes(sa.fresh, sizeof(sa.fresh)));
	CID_TRY(cid_store_update(ctx->store, salt_cb, &sa));
	memcpy(ctx->salt, sa.out, sizeof(ctx->salt));
	cid_wipe(&sa, sizeof(sa));
	CID_TRY(cid_ctx_keys_refresh(ctx, now));
	doc = discovery_doc(cfg->issuer);
	CID_ENSURE(doc != NULL, CID_ERR_NOMEM);
	ctx->discovery = json_dumps(doc, JSON_COMPACT);
	CID_ENSURE(ctx->discovery != NULL, CID_ERR_NOMEM);
	ctx->discovery_len = strlen(ctx->discovery);
	*out = ctx;
	ctx = NULL;
out:
	json_decref(doc);
	cid_ctx_close(ctx);
	return rc;
}

void cid_ctx_close(struct cid_ctx *ctx)
{
	if (ctx == NULL)
		return;
	cid_keyref_put(ctx->cur);
	cid_store_close(ctx->store);
	free(ctx->discovery);
	cid_wipe(ctx->salt, sizeof(ctx->salt));
	pthread_mutex_destroy(&ctx->lock);
	free(ctx);
}

const struct cid_config *cid_ctx_config(const struct cid_ctx *ctx)
{
	return ctx->cfg;
}

struct cid_store *cid_ctx_store(struct cid_ctx *ctx)
{
	return ctx->store;
}

const uint8_t *cid_ctx_pairwise_salt(const struct cid_ctx *ctx)
{
	return ctx->salt;
}

const char *cid_ctx_discovery(const struct cid_ctx *ctx, size_t *len)
{
	*len = ctx->discovery_len;
	return ctx->discovery;
}

struct cid_keyref *cid_ctx_keys_acquire(struct cid_ctx *ctx)
{
	struct cid_keyref *r;

	pthread_mutex_lock(&ctx->lock);
	r = ctx->cur;
	atomic_fetch_add(&r->refs, 1);
	pthread_mutex_unlock(&ctx->lock);
	return r;
}

const struct cid_keyset *cid_keyref_keyset(const struct cid_keyref *r)
{
	return r->ks;
}

enum cid_err cid_ctx_keys_refresh(struct cid_ctx *ctx, int64_t now)
{
	enum cid_err rc = CID_OK;
	uint64_t version = 0;
	struct cid_keyref *fresh = NULL;
	struct cid_keyref *old = NULL;
	bool stale;

	CID_TRY(cid_keys_version(ctx->store, &version));
	pthread_mutex_lock(&ctx->lock);
	stale = ctx->cur == NULL || cid_keyset_version(ctx->cur->ks) != version ||
		(ctx->next_drop != 0 && now >= ctx->next_drop);
	pthread_mutex_unlock(&ctx->lock);
	if (!stale)
		goto out;
	fresh = calloc(1, sizeof(*fresh));
	CID_ENSURE(fresh != NULL, CID_ERR_NOMEM);
	atomic_init(&fresh->refs, 1);
	CID_TRY(cid_keyset_load(ctx->store, now, &fresh->ks));
	pthread_mutex_lock(&ctx->lock);
	/* two refreshes may race: never put an older snapshot over a newer one */
	if (ctx->cur == NULL || cid_keyset_version(fresh->ks) >= cid_keyset_version(ctx->cur->ks)) {
		old = ctx->cur;
		ctx->cur = fresh;
		ctx->next_drop = cid_keyset_next_drop(fresh->ks);
		fresh = NULL;
	}
	pthread_mutex_unlock(&ctx->lock);
out:
	cid_keyref_put(old);
	if (fresh != NULL) {
		cid_keyset_free(fresh->ks);
		free(fresh);
	}
	return rc;
}
