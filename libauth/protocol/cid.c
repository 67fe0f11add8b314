/*
 * cid: the request context. The only mutable shared state is the pointers to
 * the current keyset and policyset, swapped under one mutex; each snapshot
 * carries a reference count so a request that started with the old keys or
 * policies finishes with them. (Opening and closing a context: cid_open.c.)
 */
#include "cid_int.h"

#include "audit.h"
#include "audit_release.h"
#include "policy_archive.h"
#include "policy_law.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POLICY_RELOAD "policy_reload"

/* Holds the first reference of a new snapshot of nothing yet (snap->obj NULL). */
static void snapshot_init(struct snapshot *snap, void (*obj_free)(void *obj))
{
	atomic_init(&snap->refs, 1);
	snap->obj = NULL;
	snap->obj_free = obj_free;
	snap->done = NULL;
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

void ctx_snapshot_put(struct snapshot *snap)
{
	if (snap != NULL && atomic_fetch_sub(&snap->refs, 1) == 1) {
		if (snap->done != NULL)
			snap->done(snap);
		if (snap->obj != NULL)
			snap->obj_free(snap->obj);
		free(snap);
	}
}

static void keyset_free(void *ks)
{
	cid_keyset_free(ks);
}

/* The snapshot of a keyref is its first member: freeing it frees the keyref, memo first. */
static void keyref_free(struct snapshot *snap)
{
	cid_memo_free(atomic_load(&((struct cid_keyref *)snap)->memo));
}

static void policyset_free(void *ps)
{
	cid_policyset_free(ps);
}

void cid_keyref_put(struct cid_keyref *r)
{
	ctx_snapshot_put(r == NULL ? NULL : &r->snap);
}

void cid_policyref_put(struct cid_policyref *r)
{
	ctx_snapshot_put(r == NULL ? NULL : &r->snap);
}

enum cid_err ctx_policies_load(const char *dir, const char *controller_type, FILE *errors,
			       struct snapshot **out)
{
	enum cid_err rc = CID_OK;
	struct cid_policyref *r = calloc(1, sizeof(*r));
	struct cid_policyset *ps = NULL;

	CID_ENSURE(r != NULL, CID_ERR_NOMEM);
	snapshot_init(&r->snap, policyset_free);
	CID_TRY(cid_policyset_load_dir_law(dir, controller_type, errors, &ps));
	r->snap.obj = ps;
	*out = &r->snap;
	r = NULL;
out:
	free(r);
	return rc;
}

const struct cid_config *cid_ctx_config(const struct cid_ctx *ctx)
{
	return ctx->cfg;
}

struct cid_store *cid_ctx_store(struct cid_ctx *ctx)
{
	return ctx->store;
}

struct cid_fetch_cache *cid_ctx_fetch_cache(struct cid_ctx *ctx)
{
	return ctx->fetch_cache;
}

/* The count of upstream calls ctx shares: its config's (a server's tenants), else its own. */
static atomic_uint *upstream_calls(struct cid_ctx *ctx)
{
	return ctx->cfg->upstream_calls != NULL ? ctx->cfg->upstream_calls : &ctx->upstream_calls;
}

bool cid_ctx_upstream_enter(struct cid_ctx *ctx)
{
	unsigned places = ctx->cfg->login_threads / 2 > 0 ? ctx->cfg->login_threads / 2 : 1;
	atomic_uint *calls = upstream_calls(ctx);

	if (atomic_fetch_add(calls, 1) < places)
		return true;
	atomic_fetch_sub(calls, 1);
	return false;
}

void cid_ctx_upstream_leave(struct cid_ctx *ctx)
{
	atomic_fetch_sub(upstream_calls(ctx), 1);
}

const struct cid_tz *cid_ctx_tz(const struct cid_ctx *ctx)
{
	return ctx->tz;
}

const unsigned char *cid_ctx_logo(const struct cid_ctx *ctx, size_t *len, const char **type)
{
	*len = ctx->logo_len;
	*type = ctx->logo_type;
	return ctx->logo;
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

struct cid_memo *cid_keyref_memo(struct cid_keyref *r, const struct cid_memo_kind *kind)
{
	struct cid_memo *m = atomic_load(&r->memo);
	struct cid_memo *none = NULL;

	if (m == NULL) {
		if (cid_memo_new(CID_TOKEN_MEMO_ENTRIES, kind, &m) != CID_OK)
			return NULL;
		/* two first calls may race: the one that loses frees its memo */
		if (!atomic_compare_exchange_strong(&r->memo, &none, m)) {
			cid_memo_free(m);
			m = none;
		}
	}
	return cid_memo_kind_of(m) == kind ? m : NULL;
}

enum cid_err cid_ctx_keys_refresh(struct cid_ctx *ctx, int64_t now)
{
	enum cid_err rc = CID_OK;
	uint64_t version = 0;
	struct cid_keyref *fresh = NULL;
	struct cid_keyset *ks = NULL;
	struct snapshot *old = NULL;
	bool stale;
	bool due;

	CID_TRY(cid_keys_version(ctx->store, &version));
	pthread_mutex_lock(&ctx->lock);
	due = ctx->next_activate != 0 && now >= ctx->next_activate;
	stale = due || ctx->keys == NULL || cid_keyset_version(ctx->keys->obj) != version ||
		(ctx->next_drop != 0 && now >= ctx->next_drop);
	pthread_mutex_unlock(&ctx->lock);
	if (!stale)
		goto out;
	/* a published next key's time has come: it signs from this reload on, on the record */
	if (due) {
		const struct cid_keys_op op = {
		    .verb = CID_KEYS_ACTIVATE_DUE, .now = now, .span = ctx->cfg->key_keep};

		CID_TRY(cid_audit_keys_change(ctx->store, &op, "system", NULL, NULL));
	}
	fresh = calloc(1, sizeof(*fresh));
	CID_ENSURE(fresh != NULL, CID_ERR_NOMEM);
	snapshot_init(&fresh->snap, keyset_free);
	fresh->snap.done = keyref_free;
	atomic_init(&fresh->memo, NULL);
	CID_TRY(cid_keyset_load(ctx->store, now, &ks));
	fresh->snap.obj = ks;
	pthread_mutex_lock(&ctx->lock);
	/* two refreshes may race: never put an older snapshot over a newer one */
	if (ctx->keys == NULL || cid_keyset_version(ks) >= cid_keyset_version(ctx->keys->obj)) {
		old = ctx->keys;
		ctx->keys = &fresh->snap;
		ctx->next_drop = cid_keyset_next_drop(ks);
		ctx->next_activate = cid_keyset_next_activate(ks);
		fresh = NULL;
	}
	pthread_mutex_unlock(&ctx->lock);
out:
	ctx_snapshot_put(old);
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
	CID_TRY(
	    ctx_policies_load(ctx->cfg->policies_dir, ctx->cfg->controller_type, errors, &fresh));
	/* kept before it is in force: no decision names a version the store lacks */
	CID_TRY(cid_policy_archive_put(ctx->store, fresh->obj, (int64_t)time(NULL), NULL));
	pthread_mutex_lock(&ctx->lock);
	old = ctx->policies;
	ctx->policies = fresh;
	fresh = NULL;
	pthread_mutex_unlock(&ctx->lock);
	if (reloaded != NULL)
		*reloaded = true;
out:
	ctx_snapshot_put(old);
	ctx_snapshot_put(fresh);
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
