/*
 * logout_notify_send: the back-channel notices on their way. A sender owns
 * a batch of POSTs (http_fetch.h) with a place per notice in flight; a
 * notice is claimed only when a place is free, so at most
 * backchannel_logout_concurrency are sent at once and the others wait in
 * the store, not in memory. Each try gets a fresh logout token (a token is
 * good for CID_LOGOUT_TOKEN_TTL, and a retry may come an hour later). The
 * end of a notice, delivered or given up, and its audit entry are written in
 * one transaction, so the log holds exactly the notices that ended.
 */
#include "logout_notify.h"

#include "audit.h"
#include "crypto.h"
#include "http_fetch.h"
#include "tenant.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct place {
	bool busy;
	struct cid_logout_notice n;
};

struct cid_logout_sender {
	struct cid_ctx *ctx;
	struct cid_http_batch *batch;
	struct cid_logout_retry retry;
	struct cid_fetch_limits lim;
	size_t n_places;
	struct place *places;
	struct cid_logout_notice *claimed; /* n_places of them: one round's claim */
	int64_t now;			   /* of the round under way */
	enum cid_err err;		   /* the first error of a settlement in this round */
};

enum cid_err cid_logout_sender_new(struct cid_ctx *ctx, struct cid_logout_sender **out)
{
	enum cid_err rc = CID_OK;
	const struct cid_config *cfg = cid_ctx_config(ctx);
	struct cid_logout_sender *s = calloc(1, sizeof(*s));

	CID_ENSURE(s != NULL, CID_ERR_NOMEM);
	s->ctx = ctx;
	s->n_places = cfg->logout_concurrency < 1 ? 1 : cfg->logout_concurrency;
	s->retry = (struct cid_logout_retry){
	    .attempts = cfg->logout_attempts < 1 ? 1 : cfg->logout_attempts,
	    .backoff = cfg->logout_backoff,
	    .lease = cfg->logout_timeout + CID_LOGOUT_LEASE_SLACK};
	s->lim = (struct cid_fetch_limits){.max_bytes = CID_LOGOUT_MAX_ANSWER,
					   .connect_timeout_ms = cfg->logout_connect_timeout * 1000,
					   .timeout_ms = cfg->logout_timeout * 1000};
	s->places = calloc(s->n_places, sizeof(*s->places));
	s->claimed = calloc(s->n_places, sizeof(*s->claimed));
	CID_ENSURE(s->places != NULL && s->claimed != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_http_batch_new(s->n_places, &s->batch));
	*out = s;
	s = NULL;
out:
	cid_logout_sender_free(s);
	return rc;
}

void cid_logout_sender_free(struct cid_logout_sender *s)
{
	if (s == NULL)
		return;
	cid_http_batch_free(s->batch);
	free(s->places);
	free(s->claimed);
	free(s);
}

size_t cid_logout_sender_active(const struct cid_logout_sender *s)
{
	return cid_http_batch_active(s->batch);
}

void cid_logout_sender_wake(struct cid_logout_sender *s)
{
	cid_http_batch_wake(s->batch);
}

/* How a try ended, for the settlement and its audit entry. */
struct settle {
	const struct cid_logout_notice *n;
	const struct cid_logout_retry *r;
	int64_t now;
	bool delivered;
	bool final;	   /* it cannot succeed: no more tries */
	long status;	   /* the service's HTTP status; 0: none */
	const char *error; /* why it failed, or NULL */
	enum cid_logout_fate fate;
};

/*
 * The audit entry of a notice that ended: the service, a hash of the
 * session's id (the service can match it, nobody else learns the sid), the
 * tries, the last status. No citizen: it names no personal data.
 */
static enum cid_err audit_entry(const struct settle *st, json_t **out)
{
	enum cid_err rc = CID_OK;
	char when[21];
	char sid_hash[CID_HASH_HEX + 1];
	char attempts[16];
	char status[16];
	json_t *e = NULL;

	CID_TRY(cid_audit_time(st->now, when));
	cid_secret_hash(st->n->sid, strlen(st->n->sid), sid_hash);
	(void)snprintf(attempts, sizeof(attempts), "%u", st->n->attempts);
	(void)snprintf(status, sizeof(status), "%ld", st->status);
	e = json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s}}", "type",
		      st->fate == CID_LOGOUT_DELIVERED ? "logout.delivered" : "logout.failed",
		      "time", when, "actor", "system", "service", st->n->client_id, "endpoint",
		      "backchannel-logout", "ext", "sid_hash", sid_hash, "attempts", attempts,
		      "status", st->status > 0 ? status : "none", "cause", st->n->cause);
	CID_ENSURE(e != NULL, CID_ERR_NOMEM);
	if (st->error != NULL)
		CID_ENSURE(json_object_set_new(json_object_get(e, "ext"), "error",
					       json_string(st->error)) == 0,
			   CID_ERR_NOMEM);
	*out = e;
	e = NULL;
out:
	json_decref(e);
	return rc;
}

static enum cid_err settle_cb(struct cid_txn *txn, void *arg)
{
	struct settle *st = arg;
	enum cid_err rc = CID_OK;
	json_t *entry = NULL;

	CID_TRY(
	    cid_logout_settle_txn(txn, st->n, st->delivered, st->final, st->now, st->r, &st->fate));
	if (st->fate == CID_LOGOUT_RETRY)
		goto out;
	CID_TRY(audit_entry(st, &entry));
	CID_TRY(cid_audit_append_txn(txn, entry, NULL));
out:
	json_decref(entry);
	return rc;
}

/* Settles a try of n; a notice another claim took meanwhile is left to it. */
static enum cid_err settle(struct cid_logout_sender *s, const struct cid_logout_notice *n,
			   bool delivered, bool final, long status, const char *error)
{
	struct settle st = {.n = n,
			    .r = &s->retry,
			    .now = s->now,
			    .delivered = delivered,
			    .final = final,
			    .status = status,
			    .error = error};
	enum cid_err rc = cid_store_update(cid_ctx_store(s->ctx), settle_cb, &st);

	return rc == CID_ERR_NOTFOUND ? CID_OK : rc;
}

/* A POST ended: settle its notice and free its place. */
static void post_done(void *arg, const struct cid_http_outcome *o)
{
	struct cid_logout_sender *s = arg;
	struct place *p = o->tag;
	/*= Back-Channel Logout 1.0 §2.8: if the logout succeeded, the RP MUST respond with
	 *# HTTP 200 OK; OPs should be prepared to also process 204 No Content */
	bool delivered = o->rc == CID_OK && (o->status == 200 || o->status == 204);
	char why[sizeof(o->why) + 32];
	enum cid_err rc;

	if (o->rc == CID_OK)
		(void)snprintf(why, sizeof(why), "HTTP status %ld", o->status);
	else
		(void)snprintf(why, sizeof(why), "%s", o->why);
	rc = settle(s, &p->n, delivered, false, o->status, delivered ? NULL : why);
	if (rc != CID_OK && s->err == CID_OK)
		s->err = rc;
	p->busy = false;
}

/* The form body of a notice: its logout token, minted now. */
static enum cid_err notice_body(struct cid_logout_sender *s, const struct cid_client *client,
				const struct cid_logout_notice *n, char **out)
{
	enum cid_err rc = CID_OK;
	struct cid_keyref *kr = cid_ctx_keys_acquire(s->ctx);
	struct cid_policyref *pr = cid_ctx_policies_acquire(s->ctx);
	char *token = NULL;

	CID_TRY(cid_logout_token_mint(s->ctx, cid_keyref_keyset(kr), cid_policyref_set(pr), client,
				      n->account_id, n->sid, s->now, &token));
	/* a JWS is base64url and dots: nothing to escape in a form */
	*out = malloc(strlen("logout_token=") + strlen(token) + 1);
	CID_ENSURE(*out != NULL, CID_ERR_NOMEM);
	memcpy(*out, "logout_token=", 13);
	memcpy(*out + 13, token, strlen(token) + 1);
out:
	free(token);
	cid_policyref_put(pr);
	cid_keyref_put(kr);
	return rc;
}

/* Starts the POST of a claimed notice in place p, or gives it up when it cannot be sent. */
static enum cid_err start(struct cid_logout_sender *s, struct place *p)
{
	enum cid_err rc = CID_OK;
	struct cid_client *client = NULL;
	char *body = NULL;

	rc = cid_client_get(cid_ctx_store(s->ctx), p->n.client_id, &client);
	if (rc == CID_ERR_NOTFOUND || rc == CID_ERR_INVALID ||
	    (rc == CID_OK && client->backchannel_logout_uri == NULL)) {
		rc = settle(s, &p->n, false, true, 0,
			    "the service is no longer registered for "
			    "back-channel logout");
		goto out;
	}
	CID_TRY(rc);
	CID_TRY(notice_body(s, client, &p->n, &body));
	rc = cid_http_batch_post(s->batch, client->backchannel_logout_uri, body, strlen(body),
				 &s->lim, p);
	if (rc == CID_ERR_INVALID) {
		rc = settle(s, &p->n, false, true, 0, "the back-channel logout URI is not usable");
		goto out;
	}
	CID_TRY(rc);
	p->busy = true;
out:
	free(body);
	cid_client_free(client);
	return rc;
}

/* Claims the due notices there are places for and starts them. */
static enum cid_err claim_and_start(struct cid_logout_sender *s)
{
	enum cid_err rc = CID_OK;
	size_t free_places = s->n_places - cid_http_batch_active(s->batch);
	size_t n = 0;
	size_t next = 0;

	CID_TRY(cid_logout_claim(cid_ctx_store(s->ctx), s->now, &s->retry, s->claimed, free_places,
				 &n));
	for (size_t i = 0; i < n; i++) {
		while (next < s->n_places && s->places[next].busy)
			next++;
		if (next == s->n_places)
			break; /* cannot happen: claimed no more than were free */
		s->places[next].n = s->claimed[i];
		/* one that fails to start is tried again when its lease runs out */
		rc = start(s, &s->places[next]);
		if (rc != CID_OK && s->err == CID_OK)
			s->err = rc;
	}
	rc = CID_OK;
out:
	return rc;
}

enum cid_err cid_logout_sender_step(struct cid_logout_sender *s, int64_t now, int wait_ms)
{
	enum cid_err rc = CID_OK;

	s->now = now;
	s->err = CID_OK;
	CID_TRY(claim_and_start(s));
	CID_TRY(cid_http_batch_run(s->batch, wait_ms, post_done, s));
	rc = s->err;
out:
	return rc;
}

/* ---- the worker thread ---- */

struct cid_logout_worker {
	struct cid_ctx *ctx;
	struct cid_logout_sender *sender;
	FILE *errors;
	pthread_t thread;
	atomic_bool stop;
	/* several cities: a sender per opened tenant, in the order first seen */
	struct cid_tenants *tenants;
	struct tenant_sender *senders;
	size_t n_senders, cap_senders;
	size_t seen_open; /* the map's open count at the last walk */
	unsigned rounds;
	int64_t next_scan; /* when tenants not open are next looked at for notices due */
	bool scan_failed;  /* the last look failed (said once) */
};

struct tenant_sender {
	struct cid_ctx *ctx; /* the tenant's (borrowed from the map) */
	struct cid_logout_sender *sender;
	enum cid_err last;
};

static void *worker_run(void *arg)
{
	struct cid_logout_worker *w = arg;
	enum cid_err last = CID_OK;
	const struct timespec pause = {.tv_sec = 0, .tv_nsec = CID_LOGOUT_POLL_MS * 1000000L};

	(void)pthread_setname_np(pthread_self(), "cid-logout");
	while (!atomic_load(&w->stop)) {
		enum cid_err rc =
		    cid_logout_sender_step(w->sender, (int64_t)time(NULL), CID_LOGOUT_POLL_MS);

		if (rc != CID_OK && rc != last && w->errors != NULL)
			fprintf(w->errors, "civicid: sending back-channel logout notices: %s\n",
				cid_strerror(rc));
		last = rc;
		if (rc != CID_OK)
			nanosleep(&pause, NULL); /* no busy loop on a failing store */
	}
	return NULL;
}

enum cid_err cid_logout_worker_start(struct cid_ctx *ctx, FILE *errors,
				     struct cid_logout_worker **out)
{
	enum cid_err rc = CID_OK;
	struct cid_logout_worker *w = calloc(1, sizeof(*w));

	CID_ENSURE(w != NULL, CID_ERR_NOMEM);
	w->ctx = ctx;
	w->errors = errors;
	atomic_init(&w->stop, false);
	CID_TRY(cid_logout_sender_new(ctx, &w->sender));
	CID_ENSURE(pthread_create(&w->thread, NULL, worker_run, w) == 0, CID_ERR_IO);
	*out = w;
	w = NULL;
out:
	if (w != NULL)
		cid_logout_sender_free(w->sender);
	free(w);
	return rc;
}

/* Notes ctx, unless w has it: its sender is made when a notice of it is due (send_due). */
static void adopt_tenant(struct cid_ctx *ctx, const char *name, void *arg)
{
	struct cid_logout_worker *w = arg;
	struct tenant_sender *grown;

	(void)name;
	for (size_t i = 0; i < w->n_senders; i++)
		if (w->senders[i].ctx == ctx)
			return;
	if (w->n_senders == w->cap_senders) {
		size_t cap = w->cap_senders == 0 ? 16 : 2 * w->cap_senders;

		grown = realloc(w->senders, cap * sizeof(*grown));
		if (grown == NULL)
			return;
		w->senders = grown;
		w->cap_senders = cap;
	}
	w->senders[w->n_senders] = (struct tenant_sender){.ctx = ctx, .last = CID_OK};
	w->n_senders++;
}

/* Steps ts's sender, made first if a notice is due; a failure is said once until one succeeds. */
static void send_due(struct cid_logout_worker *w, struct tenant_sender *ts, int64_t now)
{
	const char *issuer = cid_ctx_config(ts->ctx)->issuer;
	enum cid_err rc = CID_OK;
	bool due = false;

	if (ts->sender == NULL) {
		rc = cid_logout_due(cid_ctx_store(ts->ctx), now, &due);
		if (rc == CID_OK && due)
			rc = cid_logout_sender_new(ts->ctx, &ts->sender);
	}
	if (ts->sender != NULL)
		rc = cid_logout_sender_step(ts->sender, now, 0);
	if (rc != CID_OK && rc != ts->last && w->errors != NULL)
		fprintf(w->errors, "civicid: %s: sending back-channel logout notices: %s\n", issuer,
			cid_strerror(rc));
	ts->last = rc;
}

/*
 * At the start and every CID_LOGOUT_TENANT_SCAN s: opens the tenants that no
 * request opened but that have notices due (cid_tenants_open_due), which
 * the next walk then adopts.
 */
static void scan_tenants(struct cid_logout_worker *w, int64_t now)
{
	enum cid_err rc;

	if (now < w->next_scan)
		return;
	w->next_scan = now + CID_LOGOUT_TENANT_SCAN;
	rc = cid_tenants_open_due(w->tenants, now, NULL);
	if (rc != CID_OK && !w->scan_failed && w->errors != NULL)
		fprintf(w->errors, "civicid: looking for tenants with logout notices due: %s\n",
			cid_strerror(rc));
	w->scan_failed = rc != CID_OK;
}

static void *tenants_run(void *arg)
{
	struct cid_logout_worker *w = arg;
	const struct timespec pause = {.tv_sec = 0, .tv_nsec = CID_LOGOUT_POLL_MS * 1000000L};

	(void)pthread_setname_np(pthread_self(), "cid-logout");
	while (!atomic_load(&w->stop)) {
		/* a tenant is never closed while the server runs: a new one changes the
		 * count; one opened while disabled is walked again now and then, in case
		 * it was enabled since (the walk skips disabled tenants) */
		size_t open = cid_tenants_open_count(w->tenants);

		if (open != w->seen_open || (open != w->n_senders && ++w->rounds % 20 == 0)) {
			cid_tenants_each(w->tenants, adopt_tenant, w);
			w->seen_open = open;
		}
		scan_tenants(w, (int64_t)time(NULL));
		for (size_t i = 0; i < w->n_senders && !atomic_load(&w->stop); i++)
			send_due(w, &w->senders[i], (int64_t)time(NULL));
		nanosleep(&pause, NULL);
	}
	return NULL;
}

enum cid_err cid_logout_worker_start_tenants(struct cid_tenants *t, FILE *errors,
					     struct cid_logout_worker **out)
{
	struct cid_logout_worker *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return CID_ERR_NOMEM;
	w->tenants = t;
	w->errors = errors;
	atomic_init(&w->stop, false);
	if (pthread_create(&w->thread, NULL, tenants_run, w) != 0) {
		free(w);
		return CID_ERR_IO;
	}
	*out = w;
	return CID_OK;
}

void cid_logout_worker_stop(struct cid_logout_worker *w)
{
	if (w == NULL)
		return;
	atomic_store(&w->stop, true);
	if (w->sender != NULL)
		cid_logout_sender_wake(w->sender);
	pthread_join(w->thread, NULL);
	cid_logout_sender_free(w->sender);
	for (size_t i = 0; i < w->n_senders; i++)
		cid_logout_sender_free(w->senders[i].sender);
	free(w->senders);
	free(w);
}
