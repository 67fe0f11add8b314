/*
 * cid: the request context. The only mutable shared state is the pointers to
 * the current keyset and policyset, swapped under one mutex; each snapshot
 * carries a reference count so a request that started with the old keys or
 * policies finishes with them.
 */
#include "cid.h"

#include "account.h"
#include "audit.h"
#include "bounds.h"
#include "buf.h"
#include "crypto.h"
#include "str.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/*
 * One counted snapshot, of the keyset or of the policyset in force: the
 * context's slot for it is read and swapped under the context's lock, and
 * whoever drops the last reference frees it. The two public handle types wrap
 * this one struct, so keys and policies share one reference-counting protocol.
 */
struct snapshot {
	atomic_int refs;
	void *obj; /* the struct cid_keyset or cid_policyset */
	void (*obj_free)(void *obj);
};

struct cid_keyref {
	struct snapshot snap;
};

struct cid_policyref {
	struct snapshot snap;
};

#define POLICY_RELOAD "policy_reload"

struct cid_ctx {
	const struct cid_config *cfg;
	struct cid_store *store;
	uint8_t salt[32];
	char *discovery;
	size_t discovery_len;
	pthread_mutex_t lock;	   /* guards keys, next_drop, policies, reload_seen */
	struct snapshot *keys;	   /* that of a struct cid_keyref */
	int64_t next_drop;	   /* earliest drop_after among loaded retired keys (0: none) */
	struct snapshot *policies; /* that of a struct cid_policyref */
	uint64_t reload_seen;	   /* the policy_reload counter last acted on */
	cid_audit_hook audit;
	void *audit_arg;
	struct cid_audit *audit_log; /* owned; what the default hook appends to */
};

/* Holds the first reference of a new snapshot of nothing yet (snap->obj NULL). */
static void snapshot_init(struct snapshot *snap, void (*obj_free)(void *obj))
{
	atomic_init(&snap->refs, 1);
	snap->obj = NULL;
	snap->obj_free = obj_free;
}

/* Takes a reference to the snapshot in *slot (one of ctx's). */
static struct snapshot *snapshot_acquire(struct cid_ctx *ctx, struct snapshot *const *slot)
{
	struct snapshot *snap;

	pthread_mutex_lock(&ctx->lock);
	snap = *slot;
	atomic_fetch_add(&snap->refs, 1);
	pthread_mutex_unlock(&ctx->lock);
	return snap;
}

/* Drops a reference; the last frees the object and the snapshot. NULL is a no-op. */
static void snapshot_put(struct snapshot *snap)
{
	if (snap != NULL && atomic_fetch_sub(&snap->refs, 1) == 1) {
		if (snap->obj != NULL)
			snap->obj_free(snap->obj);
		free(snap);
	}
}

static void keyset_free(void *ks)
{
	cid_keyset_free(ks);
}

static void policyset_free(void *ps)
{
	cid_policyset_free(ps);
}

void cid_keyref_put(struct cid_keyref *r)
{
	snapshot_put(r == NULL ? NULL : &r->snap);
}

void cid_policyref_put(struct cid_policyref *r)
{
	snapshot_put(r == NULL ? NULL : &r->snap);
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
	/* every set and append is checked: out of memory, no document is better than half a one */
	bool ok = d != NULL && json_object_set_new(d, "issuer", json_string(iss)) == 0;

	for (size_t i = 0; ok && i < sizeof(endpoints) / sizeof(endpoints[0]); i++) {
		int n = snprintf(url, sizeof(url), "%s%s", iss, endpoints[i].path);

		ok = n > 0 && (size_t)n < sizeof(url) &&
		     json_object_set_new(d, endpoints[i].name, json_string(url)) == 0;
	}
	if (!ok) {
		json_decref(d);
		return NULL;
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

	ok = claims != NULL && json_array_append_new(claims, json_string("sub")) == 0;
	for (size_t i = 0; ok && i < n; i++)
		ok = json_array_append_new(claims, json_string(defs[i].name)) == 0;
	if (!ok) {
		json_decref(claims);
		json_decref(d);
		return NULL;
	}
	/* set_new takes claims even when it fails */
	if (json_object_set_new(d, "claims_supported", claims) != 0) {
		json_decref(d);
		return NULL;
	}
	return d;
}

/* A new snapshot of the policies of dir, with one reference. */
static enum cid_err policies_load(const char *dir, FILE *errors, struct snapshot **out)
{
	enum cid_err rc = CID_OK;
	struct cid_policyref *r = calloc(1, sizeof(*r));
	struct cid_policyset *ps = NULL;

	CID_ENSURE(r != NULL, CID_ERR_NOMEM);
	snapshot_init(&r->snap, policyset_free);
	CID_TRY(cid_policyset_load_dir(dir, errors, &ps));
	r->snap.obj = ps;
	*out = &r->snap;
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

	CID_ENSURE(ctx != NULL, CID_ERR_NOMEM);
	ctx->cfg = cfg;
	if (pthread_mutex_init(&ctx->lock, NULL) != 0) {
		free(ctx);
		return CID_ERR_NOMEM;
	}
	rc = policies_load(cfg->policies_dir, errors, &ctx->policies);
	if ((rc == CID_ERR_CONFIG || rc == CID_ERR_IO) && errors != NULL)
		fprintf(errors, "%s: the release policies do not load (errors above)\n",
			cfg->policies_dir);
	CID_TRY(rc);
	CID_TRY(cid_store_open(cfg->store_dir, &ctx->store));
	CID_TRY(cid_audit_open(ctx->store, cfg->audit_group_commit != 0, &ctx->audit_log));
	cid_ctx_set_audit_hook(ctx, NULL, NULL);
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
	CID_TRY(cid_json_dumps(doc, JSON_COMPACT, &ctx->discovery, &ctx->discovery_len));
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
	snapshot_put(ctx->keys);
	snapshot_put(ctx->policies);
	cid_audit_close(ctx->audit_log);
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
	/* the slot holds the first member of a cid_keyref */
	return (struct cid_keyref *)snapshot_acquire(ctx, &ctx->keys);
}

const struct cid_keyset *cid_keyref_keyset(const struct cid_keyref *r)
{
	return r->snap.obj;
}

enum cid_err cid_ctx_keys_refresh(struct cid_ctx *ctx, int64_t now)
{
	enum cid_err rc = CID_OK;
	uint64_t version = 0;
	struct cid_keyref *fresh = NULL;
	struct cid_keyset *ks = NULL;
	struct snapshot *old = NULL;
	bool stale;

	CID_TRY(cid_keys_version(ctx->store, &version));
	pthread_mutex_lock(&ctx->lock);
	stale = ctx->keys == NULL || cid_keyset_version(ctx->keys->obj) != version ||
		(ctx->next_drop != 0 && now >= ctx->next_drop);
	pthread_mutex_unlock(&ctx->lock);
	if (!stale)
		goto out;
	fresh = calloc(1, sizeof(*fresh));
	CID_ENSURE(fresh != NULL, CID_ERR_NOMEM);
	snapshot_init(&fresh->snap, keyset_free);
	CID_TRY(cid_keyset_load(ctx->store, now, &ks));
	fresh->snap.obj = ks;
	pthread_mutex_lock(&ctx->lock);
	/* two refreshes may race: never put an older snapshot over a newer one */
	if (ctx->keys == NULL || cid_keyset_version(ks) >= cid_keyset_version(ctx->keys->obj)) {
		old = ctx->keys;
		ctx->keys = &fresh->snap;
		ctx->next_drop = cid_keyset_next_drop(ks);
		fresh = NULL;
	}
	pthread_mutex_unlock(&ctx->lock);
out:
	snapshot_put(old);
	cid_keyref_put(fresh);
	return rc;
}

struct cid_policyref *cid_ctx_policies_acquire(struct cid_ctx *ctx)
{
	/* the slot holds the first member of a cid_policyref */
	return (struct cid_policyref *)snapshot_acquire(ctx, &ctx->policies);
}

const struct cid_policyset *cid_policyref_set(const struct cid_policyref *r)
{
	return r->snap.obj;
}

enum cid_err cid_policies_reload_counter(struct cid_store *s, uint64_t *out)
{
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;

	CID_TRY(cid_store_read_begin(s, &txn));
	CID_TRY(cid_txn_counter_get(txn, POLICY_RELOAD, "counter", out));
out:
	cid_store_read_end(txn);
	return rc;
}

static enum cid_err bump_cb(struct cid_txn *txn, void *arg)
{
	return cid_txn_counter_add(txn, POLICY_RELOAD, "counter", 1, arg);
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
	struct snapshot *fresh = NULL;
	struct snapshot *old = NULL;
	uint64_t counter = 0;
	bool stale;

	if (reloaded != NULL)
		*reloaded = false;
	CID_TRY(cid_policies_reload_counter(ctx->store, &counter));
	pthread_mutex_lock(&ctx->lock);
	stale = force || counter != ctx->reload_seen;
	/* a bad file is reported once per request to reload, not at every poll */
	ctx->reload_seen = counter;
	pthread_mutex_unlock(&ctx->lock);
	if (!stale)
		goto out;
	CID_TRY(policies_load(ctx->cfg->policies_dir, errors, &fresh));
	pthread_mutex_lock(&ctx->lock);
	old = ctx->policies;
	ctx->policies = fresh;
	fresh = NULL;
	pthread_mutex_unlock(&ctx->lock);
	if (reloaded != NULL)
		*reloaded = true;
out:
	snapshot_put(old);
	snapshot_put(fresh);
	return rc;
}

void cid_ctx_set_audit_hook(struct cid_ctx *ctx, cid_audit_hook fn, void *arg)
{
	ctx->audit = fn != NULL ? fn : cid_audit_release_hook;
	ctx->audit_arg = fn != NULL ? arg : ctx->audit_log;
}

void cid_ctx_audit_hook(const struct cid_ctx *ctx, cid_audit_hook *fn, void **arg)
{
	*fn = ctx->audit;
	*arg = ctx->audit_arg;
}

struct cid_audit *cid_ctx_audit_log(const struct cid_ctx *ctx)
{
	return ctx->audit_log;
}
