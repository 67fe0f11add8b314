/*
 * cid: the request context. The only mutable shared state is the pointers to
 * the current keyset and policyset, each swapped under a mutex; each snapshot
 * carries a reference count so a request that started with the old keys or
 * policies finishes with them.
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

struct cid_policyref {
	struct cid_policyset *ps;
	atomic_int refs;
};

#define POLICY_RELOAD "policy_reload"

struct cid_ctx {
	const struct cid_config *cfg;
	struct cid_store *store;
	uint8_t salt[32];
	char *discovery;
	size_t discovery_len;
	pthread_mutex_t lock; /* guards cur */
	struct cid_keyref *cur;
	int64_t next_drop;	     /* earliest drop_after among loaded retired keys (0: none) */
	pthread_mutex_t policy_lock; /* guards policies, reload_seen */
	struct cid_policyref *policies;
	uint64_t reload_seen; /* the policy_reload counter last acted on */
	cid_audit_hook audit;
	void *audit_arg;
};

void cid_policyref_put(struct cid_policyref *r)
{
	if (r != NULL && atomic_fetch_sub(&r->refs, 1) == 1) {
		cid_policyset_free(r->ps);
		free(r);
	}
}

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

/* A new snapshot of the policies of dir, with one reference. */
static enum cid_err policies_load(const char *dir, FILE *errors, struct cid_policyref **out)
{
	enum cid_err rc = CID_OK;
	struct cid_policyref *r = calloc(1, sizeof(*r));

	CID_ENSURE(r != NULL, CID_ERR_NOMEM);
	atomic_init(&r->refs, 1);
	CID_TRY(cid_policyset_load_dir(dir, errors, &r->ps));
	*out = r;
	r = NULL;
out:
	free(r);
	return rc;
}

enum cid_err cid_ctx_open(const struct cid_config *cfg, int64_t now, FILE *errors,
			  struct cid_ctx **out)
{
	enum cid_err rc = CID_OK;
	struct cid_ctx *ctx = calloc(1, sizeof(*ctx));
	struct salt_arg sa;
	json_t *doc = NULL;
	bool locks = false;

	CID_ENSURE(ctx != NULL, CID_ERR_NOMEM);
	ctx->cfg = cfg;
	CID_ENSURE(pthread_mutex_init(&ctx->lock, NULL) == 0, CID_ERR_NOMEM);
	if (pthread_mutex_init(&ctx->policy_lock, NULL) != 0) {
		pthread_mutex_destroy(&ctx->lock);
		free(ctx);
		return CID_ERR_NOMEM;
	}
	locks = true;
	rc = policies_load(cfg->policies_dir, errors, &ctx->policies);
	if ((rc == CID_ERR_CONFIG || rc == CID_ERR_IO) && errors != NULL)
		fprintf(errors, "%s: the release policies do not load (errors above)\n",
			cfg->policies_dir);
	CID_TRY(rc);
	CID_TRY(cid_store_open(cfg->store_dir, &ctx->store));
	/* a reload asked before this start is already done: this load is newer */
	CID_TRY(cid_policies_reload_counter(ctx->store, &ctx->reload_seen));
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
	if (ctx != NULL && !locks) {
		free(ctx);
		ctx = NULL;
	}
	cid_ctx_close(ctx);
	return rc;
}

void cid_ctx_close(struct cid_ctx *ctx)
{
	if (ctx == NULL)
		return;
	cid_keyref_put(ctx->cur);
	cid_policyref_put(ctx->policies);
	pthread_mutex_destroy(&ctx->policy_lock);
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

struct cid_policyref *cid_ctx_policies_acquire(struct cid_ctx *ctx)
{
	struct cid_policyref *r;

	pthread_mutex_lock(&ctx->policy_lock);
	r = ctx->policies;
	atomic_fetch_add(&r->refs, 1);
	pthread_mutex_unlock(&ctx->policy_lock);
	return r;
}

const struct cid_policyset *cid_policyref_set(const struct cid_policyref *r)
{
	return r->ps;
}

static enum cid_err counter_get(struct cid_txn *txn, uint64_t *out)
{
	enum cid_err rc = CID_OK;
	json_t *v = NULL;
	json_int_t n;

	rc = cid_txn_get_json(txn, CID_DB_META, cid_str_of(POLICY_RELOAD), &v);
	if (rc == CID_ERR_NOTFOUND) {
		*out = 0;
		return CID_OK;
	}
	CID_ENSURE(rc == CID_OK, rc);
	CID_ENSURE(json_is_integer(json_object_get(v, "counter")), CID_ERR_STORE);
	n = json_integer_value(json_object_get(v, "counter"));
	CID_ENSURE(n >= 0, CID_ERR_STORE);
	*out = (uint64_t)n;
out:
	json_decref(v);
	return rc;
}

enum cid_err cid_policies_reload_counter(struct cid_store *s, uint64_t *out)
{
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;

	CID_TRY(cid_store_read_begin(s, &txn));
	CID_TRY(counter_get(txn, out));
out:
	cid_store_read_end(txn);
	return rc;
}

static enum cid_err bump_cb(struct cid_txn *txn, void *arg)
{
	uint64_t *counter = arg;
	enum cid_err rc = CID_OK;
	json_t *rec = NULL;
	uint64_t v = 0;

	CID_TRY(counter_get(txn, &v));
	CID_ENSURE(v < (uint64_t)INT64_MAX, CID_ERR_STORE);
	rec = json_pack("{s:I}", "counter", (json_int_t)v + 1);
	CID_ENSURE(rec != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_txn_put_json(txn, CID_DB_META, cid_str_of(POLICY_RELOAD), rec, 0));
	*counter = v + 1;
out:
	json_decref(rec);
	return rc;
}

enum cid_err cid_policies_request_reload(struct cid_store *s, uint64_t *counter_out)
{
	uint64_t counter = 0;
	enum cid_err rc = cid_store_update(s, bump_cb, &counter);

	if (rc == CID_OK && counter_out != NULL)
		*counter_out = counter;
	return rc;
}

enum cid_err cid_ctx_policies_refresh(struct cid_ctx *ctx, bool force, FILE *errors, bool *reloaded)
{
	enum cid_err rc = CID_OK;
	struct cid_policyref *fresh = NULL;
	struct cid_policyref *old = NULL;
	uint64_t counter = 0;
	bool stale;

	if (reloaded != NULL)
		*reloaded = false;
	CID_TRY(cid_policies_reload_counter(ctx->store, &counter));
	pthread_mutex_lock(&ctx->policy_lock);
	stale = force || counter != ctx->reload_seen;
	/* a bad file is reported once per request to reload, not at every poll */
	ctx->reload_seen = counter;
	pthread_mutex_unlock(&ctx->policy_lock);
	if (!stale)
		goto out;
	CID_TRY(policies_load(ctx->cfg->policies_dir, errors, &fresh));
	pthread_mutex_lock(&ctx->policy_lock);
	old = ctx->policies;
	ctx->policies = fresh;
	fresh = NULL;
	pthread_mutex_unlock(&ctx->policy_lock);
	if (reloaded != NULL)
		*reloaded = true;
out:
	cid_policyref_put(old);
	cid_policyref_put(fresh);
	return rc;
}

void cid_ctx_set_audit_hook(struct cid_ctx *ctx, cid_audit_hook fn, void *arg)
{
	ctx->audit = fn;
	ctx->audit_arg = arg;
}

void cid_ctx_audit_hook(const struct cid_ctx *ctx, cid_audit_hook *fn, void **arg)
{
	*fn = ctx->audit;
	*arg = ctx->audit_arg;
}
