/*
 * tenant_map: the map a running server finds a tenant's context in
 * (tenant.h's cid_tenants_*). It holds only what was asked for: a name is
 * looked up on disk the first time, its context opened and kept; the hash
 * table grows by doubling, so a lookup costs the same with one tenant or two
 * thousand. One tenant opens at a time, so no two contexts share an LMDB
 * environment.
 */
#include "tenant_int.h"

#include "logout.h"
#include "str.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct entry {
	char name[CID_TENANT_NAME_MAX + 1];
	struct cid_config *cfg; /* owned; the tenant's, which ctx borrows */
	struct cid_ctx *ctx;	/* owned */
	atomic_bool disabled;
	atomic_bool refusal_said; /* a stale host index entry's refusal was said: once */
};

/*
 * A tenant whose open failed (a missing policies directory, a store that
 * will not open): asked again within OPEN_RETRY seconds it is refused with
 * the same error, without opening or saying it again, so that requests for
 * it neither fill the log nor queue other tenants' first opens behind it.
 * Each failed name keeps its own record, however many fail at once (a bulk
 * `tenant add` before their policies exist); only a tenant that exists is
 * recorded, so there are at most as many records as tenants.
 */
#define OPEN_RETRY 5

struct failed {
	char name[CID_TENANT_NAME_MAX + 1]; /* "" when unused */
	int64_t at;
	enum cid_err rc;
};

struct cid_tenants {
	const struct cid_config *base;
	FILE *errors;
	pthread_rwlock_t lock; /* guards slots, mask, n, hosts, failed, failed_mask, failed_n */
	struct failed *failed; /* by name, as slots; NULL until the first failure */
	size_t failed_mask;    /* number of failed records - 1, a power of two - 1 */
	size_t failed_n;
	struct entry **slots; /* open addressing, linear probing; NULL: free */
	size_t mask;	      /* number of slots - 1, a power of two - 1 */
	size_t n;
	struct tenant_hosts *hosts; /* tenants at their own host; swapped whole by refresh */
	pthread_mutex_t opening;    /* one tenant opens at a time: no two contexts on one env */
	/* every tenant's upstream calls at once (config.h upstream_calls): the login
	 * threads are the server's, so half of them is a bound on all tenants together */
	atomic_uint upstream_calls;
};

/* FNV-1a of name[0..len). */
static size_t hash(const char *name, size_t len)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)name[i];
		h *= 1099511628211ULL;
	}
	return (size_t)h;
}

/* The entry of name[0..len), or NULL; under the lock. */
static struct entry *find(const struct cid_tenants *t, const char *name, size_t len)
{
	for (size_t i = hash(name, len) & t->mask;; i = (i + 1) & t->mask) {
		struct entry *e = t->slots[i];

		if (e == NULL)
			return NULL;
		if (strncmp(e->name, name, len) == 0 && e->name[len] == '\0')
			return e;
	}
}

/* Puts e in slots (mask + 1 of them, never full). */
static void place(struct entry **slots, size_t mask, struct entry *e)
{
	size_t i = hash(e->name, strlen(e->name)) & mask;

	while (slots[i] != NULL)
		i = (i + 1) & mask;
	slots[i] = e;
}

/* Adds e, doubling the table when it would be more than half full; under the write lock. */
static enum cid_err insert(struct cid_tenants *t, struct entry *e)
{
	if (2 * (t->n + 1) > t->mask + 1) {
		size_t mask = 2 * (t->mask + 1) - 1;
		struct entry **slots = calloc(mask + 1, sizeof(struct entry *));

		if (slots == NULL)
			return CID_ERR_NOMEM;
		for (size_t i = 0; i <= t->mask; i++)
			if (t->slots[i] != NULL)
				place(slots, mask, t->slots[i]);
		free(t->slots);
		t->slots = slots;
		t->mask = mask;
	}
	place(t->slots, t->mask, e);
	t->n++;
	return CID_OK;
}

enum cid_err cid_tenants_new(const struct cid_config *base, FILE *errors, struct cid_tenants **out)
{
	struct cid_tenants *t = calloc(1, sizeof(*t));
	enum cid_err rc;

	if (t == NULL)
		return CID_ERR_NOMEM;
	t->mask = 15;
	t->slots = calloc(t->mask + 1, sizeof(struct entry *));
	if (t->slots == NULL || pthread_rwlock_init(&t->lock, NULL) != 0) {
		free(t->slots);
		free(t);
		return CID_ERR_NOMEM;
	}
	if (pthread_mutex_init(&t->opening, NULL) != 0) {
		pthread_rwlock_destroy(&t->lock);
		free(t->slots);
		free(t);
		return CID_ERR_NOMEM;
	}
	t->base = base;
	t->errors = errors;
	atomic_init(&t->upstream_calls, 0);
	rc = tenant_hosts_load(base, &t->hosts);
	if (rc != CID_OK) {
		cid_tenants_close(t);
		return rc == CID_ERR_NOMEM ? rc : CID_ERR_IO;
	}
	*out = t;
	return CID_OK;
}

static void entry_free(struct entry *e)
{
	if (e == NULL)
		return;
	cid_ctx_close(e->ctx);
	cid_config_free(e->cfg);
	free(e);
}

/* Opens tenant name (checked) and adds it; under t->opening. */
static enum cid_err open_tenant(struct cid_tenants *t, const char *name, int64_t now,
				struct entry **out)
{
	enum cid_err rc = CID_OK;
	struct entry *e = calloc(1, sizeof(*e));
	bool disabled = false;
	char err[512] = "";

	CID_ENSURE(e != NULL, CID_ERR_NOMEM);
	memcpy(e->name, name, strlen(name) + 1);
	rc = cid_tenant_config(t->base, name, &e->cfg, &disabled, err, sizeof(err));
	if (rc != CID_OK && rc != CID_ERR_NOTFOUND && t->errors != NULL)
		fprintf(t->errors, "civicid: tenant %s: %s\n", name, err);
	CID_TRY(rc);
	CID_ENSURE(!disabled, CID_ERR_DISABLED);
	e->cfg->upstream_calls = &t->upstream_calls;
	rc = cid_ctx_open(e->cfg, now, t->errors, &e->ctx);
	if (rc != CID_OK && t->errors != NULL)
		fprintf(t->errors,
			"civicid: tenant %s cannot be opened (store %s, policies %s): %s\n", name,
			e->cfg->store_dir, e->cfg->policies_dir, cid_strerror(rc));
	CID_TRY(rc);
	pthread_rwlock_wrlock(&t->lock);
	rc = insert(t, e);
	pthread_rwlock_unlock(&t->lock);
	CID_TRY(rc);
	*out = e;
	e = NULL;
out:
	entry_free(e);
	return rc;
}

/*
 * The index of name's record in table (mask + 1 records, never full), or
 * of the free record where it would go.
 */
static size_t failed_slot(const struct failed *table, size_t mask, const char *name)
{
	size_t i = hash(name, strlen(name)) & mask;

	while (table[i].name[0] != '\0' && strcmp(table[i].name, name) != 0)
		i = (i + 1) & mask;
	return i;
}

/* The record of name's failed open, or NULL; under the lock. */
static struct failed *failed_find(const struct cid_tenants *t, const char *name)
{
	struct failed *f;

	if (t->failed == NULL)
		return NULL;
	f = &t->failed[failed_slot(t->failed, t->failed_mask, name)];
	return f->name[0] != '\0' ? f : NULL;
}

/* The error of name's open if it failed less than OPEN_RETRY s before now, else CID_OK. */
static enum cid_err failed_lately(struct cid_tenants *t, const char *name, int64_t now)
{
	enum cid_err rc = CID_OK;
	const struct failed *f;

	pthread_rwlock_rdlock(&t->lock);
	f = failed_find(t, name);
	if (f != NULL && now >= f->at && now - f->at < OPEN_RETRY)
		rc = f->rc;
	pthread_rwlock_unlock(&t->lock);
	return rc;
}

/*
 * A free record for name in the failed table, doubling it when it would be
 * more than half full; NULL when it cannot grow. Under the write lock.
 */
static struct failed *failed_add(struct cid_tenants *t, const char *name)
{
	if (t->failed == NULL || 2 * (t->failed_n + 1) > t->failed_mask + 1) {
		size_t mask = t->failed == NULL ? 15 : 2 * (t->failed_mask + 1) - 1;
		struct failed *table = calloc(mask + 1, sizeof(struct failed));

		if (table == NULL)
			return NULL;
		for (size_t i = 0; t->failed != NULL && i <= t->failed_mask; i++)
			if (t->failed[i].name[0] != '\0')
				table[failed_slot(table, mask, t->failed[i].name)] = t->failed[i];
		free(t->failed);
		t->failed = table;
		t->failed_mask = mask;
	}
	t->failed_n++;
	return &t->failed[failed_slot(t->failed, t->failed_mask, name)];
}

/*
 * Remembers that name's open failed at now with rc. Without memory for a
 * new record it is not remembered: the next request tries it again.
 */
static void failed_put(struct cid_tenants *t, const char *name, int64_t now, enum cid_err rc)
{
	struct failed *f;

	pthread_rwlock_wrlock(&t->lock);
	f = failed_find(t, name);
	if (f == NULL)
		f = failed_add(t, name);
	if (f != NULL) {
		snprintf(f->name, sizeof(f->name), "%s", name);
		f->at = now;
		f->rc = rc;
	}
	pthread_rwlock_unlock(&t->lock);
}

/*
 * Whether tenant name (checked), not open yet, may be opened: it exists and
 * is not disabled. Asked before t->opening, so a request for an unknown or a
 * disabled tenant is answered at once, not behind another tenant's first
 * open. Errors: CID_ERR_NOTFOUND, CID_ERR_DISABLED.
 */
static enum cid_err openable(const struct cid_tenants *t, const char *name)
{
	char path[4096];

	if (!tenant_exists(t->base, name))
		return CID_ERR_NOTFOUND;
	if (tenant_path(t->base, name, TENANT_DISABLED, path) == CID_OK && tenant_file_exists(path))
		return CID_ERR_DISABLED;
	return CID_OK;
}

enum cid_err cid_tenants_get(struct cid_tenants *t, const char *name, size_t len, int64_t now,
			     struct cid_ctx **out)
{
	enum cid_err rc = CID_OK;
	char copy[CID_TENANT_NAME_MAX + 1];
	struct entry *e;

	CID_TRY(cid_tenant_name_check(name, len));
	pthread_rwlock_rdlock(&t->lock);
	e = find(t, name, len);
	pthread_rwlock_unlock(&t->lock);
	if (e == NULL) {
		memcpy(copy, name, len);
		copy[len] = '\0';
		CID_TRY(openable(t, copy));
		CID_TRY(failed_lately(t, copy, now));
		pthread_mutex_lock(&t->opening);
		pthread_rwlock_rdlock(&t->lock);
		e = find(t, name, len); /* opened by another thread meanwhile? */
		pthread_rwlock_unlock(&t->lock);
		/* or failed meanwhile: the requests of a burst that queued here behind
		 * the first do not each try again */
		if (e == NULL)
			rc = failed_lately(t, copy, now);
		if (e == NULL && rc == CID_OK) {
			rc = open_tenant(t, copy, now, &e);
			if (rc != CID_OK && rc != CID_ERR_NOTFOUND && rc != CID_ERR_DISABLED)
				failed_put(t, copy, now,
					   rc); /* opening, then lock: insert's order */
		}
		pthread_mutex_unlock(&t->opening);
		CID_TRY(rc);
	}
	CID_ENSURE(!atomic_load(&e->disabled), CID_ERR_DISABLED);
	*out = e->ctx;
out:
	return rc;
}

FILE *tenant_map_errors(const struct cid_tenants *t)
{
	return t->errors;
}

bool tenant_map_first_refusal(struct cid_tenants *t, const char *name)
{
	struct entry *e;

	pthread_rwlock_rdlock(&t->lock);
	e = find(t, name, strlen(name));
	pthread_rwlock_unlock(&t->lock);
	return e != NULL && !atomic_exchange(&e->refusal_said, true);
}

bool cid_tenants_needs_open(struct cid_tenants *t, const char *name, int64_t now)
{
	bool open;

	if (cid_tenant_name_check(name, strlen(name)) != CID_OK)
		return false;
	pthread_rwlock_rdlock(&t->lock);
	open = find(t, name, strlen(name)) != NULL;
	pthread_rwlock_unlock(&t->lock);
	return !open && openable(t, name) == CID_OK && failed_lately(t, name, now) == CID_OK;
}

enum cid_err cid_tenants_route(struct cid_tenants *t, const char *host, const char *url,
			       struct cid_tenant_route *out)
{
	enum cid_err rc;

	pthread_rwlock_rdlock(&t->lock);
	rc = tenant_route(t->hosts, host, url, out);
	pthread_rwlock_unlock(&t->lock);
	return rc;
}

/*
 * Whether tenant name's existing store has a logout notice due at now: its
 * environment opened alone and closed again. The caller holds t->opening
 * and found name not open.
 */
static bool notice_due(struct cid_tenants *t, const char *name, int64_t now)
{
	struct cid_config *cfg = NULL;
	struct cid_store *s = NULL;
	struct stat st;
	char data[PATH_MAX];
	char err[512];
	bool disabled = false;
	bool due = false;

	if (cid_tenant_config(t->base, name, &cfg, &disabled, err, sizeof(err)) != CID_OK ||
	    disabled)
		goto out;
	/* not made yet: nothing queued, and no store to make here */
	if (snprintf(data, sizeof(data), "%s/data.mdb", cfg->store_dir) >= (int)sizeof(data) ||
	    stat(data, &st) != 0)
		goto out;
	if (cid_store_open_flags(cfg->store_dir, CID_STORE_NO_THREAD_CACHE, &s) != CID_OK ||
	    cid_logout_due(s, now, &due) != CID_OK)
		due = false;
out:
	cid_store_close(s);
	cid_config_free(cfg);
	return due;
}

enum cid_err cid_tenants_open_due(struct cid_tenants *t, int64_t now, size_t *opened)
{
	enum cid_err rc = CID_OK;
	json_t *list = NULL;
	size_t n = 0;
	size_t i;
	json_t *v;

	CID_TRY(cid_tenant_list(t->base, &list));
	json_array_foreach(list, i, v)
	{
		const char *name = cid_json_str(v, "name");
		struct cid_ctx *ctx;
		struct entry *e;
		bool due = false;

		if (name == NULL || json_is_true(json_object_get(v, "disabled")) ||
		    !cid_tenants_needs_open(t, name, now))
			continue;
		pthread_mutex_lock(&t->opening);
		pthread_rwlock_rdlock(&t->lock);
		e = find(t, name, strlen(name)); /* opened by a request meanwhile? */
		pthread_rwlock_unlock(&t->lock);
		if (e == NULL)
			due = notice_due(t, name, now);
		pthread_mutex_unlock(&t->opening);
		/* a failure is said, and remembered, as for a request */
		if (due && cid_tenants_get(t, name, strlen(name), now, &ctx) == CID_OK)
			n++;
	}
	if (opened != NULL)
		*opened = n;
out:
	json_decref(list);
	return rc;
}

void cid_tenants_each(struct cid_tenants *t,
		      void (*fn)(struct cid_ctx *ctx, const char *name, void *arg), void *arg)
{
	struct entry **open = NULL;
	size_t n = 0;

	/* entries live until the map is closed: call fn outside the lock, so a
	 * tenant opening meanwhile does not wait for every other's work */
	pthread_rwlock_rdlock(&t->lock);
	open = malloc((t->n + 1) * sizeof(struct entry *));
	for (size_t i = 0; open != NULL && i <= t->mask; i++)
		if (t->slots[i] != NULL)
			open[n++] = t->slots[i];
	pthread_rwlock_unlock(&t->lock);
	for (size_t i = 0; i < n; i++)
		if (!atomic_load(&open[i]->disabled))
			fn(open[i]->ctx, open[i]->name, arg);
	free(open);
}

void cid_tenants_refresh(struct cid_tenants *t)
{
	struct tenant_hosts *hosts = NULL;
	struct tenant_hosts *old;

	/* read outside the lock; a store that cannot be read now keeps the hosts it had */
	if (tenant_hosts_load(t->base, &hosts) == CID_OK) {
		pthread_rwlock_wrlock(&t->lock);
		old = t->hosts;
		t->hosts = hosts;
		pthread_rwlock_unlock(&t->lock);
		tenant_hosts_free(old);
	}
	pthread_rwlock_rdlock(&t->lock);
	for (size_t i = 0; i <= t->mask; i++) {
		struct entry *e = t->slots[i];
		char path[4096];

		if (e != NULL && tenant_path(t->base, e->name, TENANT_DISABLED, path) == CID_OK)
			atomic_store(&e->disabled, tenant_file_exists(path));
	}
	pthread_rwlock_unlock(&t->lock);
}

size_t cid_tenants_host_count(struct cid_tenants *t)
{
	size_t n;

	pthread_rwlock_rdlock(&t->lock);
	n = tenant_hosts_count(t->hosts);
	pthread_rwlock_unlock(&t->lock);
	return n;
}

size_t cid_tenants_open_count(struct cid_tenants *t)
{
	size_t n;

	pthread_rwlock_rdlock(&t->lock);
	n = t->n;
	pthread_rwlock_unlock(&t->lock);
	return n;
}

void cid_tenants_close(struct cid_tenants *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i <= t->mask; i++)
		entry_free(t->slots[i]);
	free(t->slots);
	free(t->failed);
	tenant_hosts_free(t->hosts);
	pthread_mutex_destroy(&t->opening);
	pthread_rwlock_destroy(&t->lock);
	free(t);
}
