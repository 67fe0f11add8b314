/*
 * audit_commit: the log (struct cid_audit) and how entries reach the chain
 * that audit.c writes: group commit, and the submitted appends.
 *
 * Group commit: an appender queues a waiter (on its own stack) and either
 * becomes the leader, which takes the whole queue and writes it in one
 * durable transaction, or sleeps until it is told its entries are written.
 * When a round ends, its leader hands the lead to the head of what queued
 * meanwhile, so nothing waits for a thread that is gone, and then tells each
 * waiter of its round, through the waiter's own lock: a waiter wakes once,
 * and never queues for the log's lock on its way out. A waiter is told only
 * after the commit returned, with the commit's result: no appender learns
 * "written" before its entries are durable, and when the commit fails (a
 * failed fsync) every appender of that group gets the error. The queue and
 * the counters of struct cid_audit_stats are kept under the log's lock.
 *
 * A submitted append (cid_audit_submit) queues the same way, but its caller
 * does not wait, so it cannot lead: a round whose lead falls to it is led by
 * the log's committer thread (started at the first submit), and it is told
 * by its callback, on the thread that led its round, after the commit
 * returned. The server's polling threads submit, so that a release costs no
 * thread hand-off before its commit and one after.
 */
#include "audit.h"

#include "audit_int.h"
#include "sync.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* An append made and checked, not yet written: a waiter that owns what it writes. */
struct cid_audit_pending {
	struct cid_audit *log;
	struct audit_waiter w; /* its entries, once-keys and prepared bytes are the pending's */
};

struct cid_audit {
	struct cid_store *store;
	bool group;
	_Atomic uint64_t commits;
	pthread_mutex_t lock;
	bool leading; /* a leader is writing a batch, or has been chosen to write the next */
	struct audit_waiter *queue, **tail;
	/* the committer: leads the rounds whose lead falls to a submitted append */
	pthread_t committer;
	bool committer_up;	      /* started; under lock */
	pthread_cond_t go;	      /* signalled under lock when lead or stopping is set */
	bool lead;		      /* the committer is to lead the next round */
	bool stopping;		      /* cid_audit_close: the committer exits once idle */
	struct cid_audit_stats stats; /* under lock; its seconds are not kept: since is */
	struct timespec since;	      /* when stats were last taken */
};

/* ---- the log and group commit ---- */

enum cid_err cid_audit_open(struct cid_store *s, bool group, struct cid_audit **out)
{
	struct cid_audit *log = calloc(1, sizeof(*log));

	if (log == NULL)
		return CID_ERR_NOMEM;
	if (cid_sync_init(&log->lock, &log->go, CLOCK_MONOTONIC) != CID_OK) {
		free(log);
		return CID_ERR_NOMEM;
	}
	log->store = s;
	log->group = group;
	log->tail = &log->queue;
	atomic_init(&log->commits, 0);
	(void)clock_gettime(CLOCK_MONOTONIC, &log->since);
	*out = log;
	return CID_OK;
}

void cid_audit_close(struct cid_audit *log)
{
	bool up;

	if (log == NULL)
		return;
	pthread_mutex_lock(&log->lock);
	log->stopping = true;
	pthread_cond_signal(&log->go);
	up = log->committer_up;
	pthread_mutex_unlock(&log->lock);
	if (up)
		pthread_join(log->committer, NULL);
	cid_sync_destroy(&log->lock, &log->go);
	free(log);
}

uint64_t cid_audit_commits(const struct cid_audit *log)
{
	return atomic_load(&log->commits);
}

struct cid_store *audit_store(const struct cid_audit *log)
{
	return log->store;
}

static uint64_t elapsed_ns(const struct timespec *from, const struct timespec *to)
{
	int64_t ns = ((int64_t)to->tv_sec - (int64_t)from->tv_sec) * 1000000000LL +
		     ((int64_t)to->tv_nsec - (int64_t)from->tv_nsec);

	return ns > 0 ? (uint64_t)ns : 0;
}

/* The histogram bucket of a commit that carried appends calls: floor(log2). */
static size_t group_bucket(uint64_t appends)
{
	size_t b = 0;

	while (appends > 1 && b + 1 < CID_AUDIT_GROUP_BUCKETS) {
		appends >>= 1;
		b++;
	}
	return b;
}

/* Counts one commit of the calls in list (log->lock held). */
static void stats_count(struct cid_audit *log, const struct audit_waiter *list, enum cid_err rc,
			uint64_t ns, uint64_t cpu_ns)
{
	struct cid_audit_stats *st = &log->stats;
	uint64_t appends = 0;
	uint64_t entries = 0;

	for (const struct audit_waiter *w = list; w != NULL; w = w->next) {
		appends++;
		entries += rc == CID_OK ? w->written : 0;
	}
	st->commit_ns += ns;
	st->commit_cpu_ns += cpu_ns;
	if (rc != CID_OK) {
		st->failed++;
		st->failed_appends += appends;
		return;
	}
	st->commits++;
	st->appends += appends;
	st->entries += entries;
	st->max_appends = appends > st->max_appends ? appends : st->max_appends;
	st->max_entries = entries > st->max_entries ? entries : st->max_entries;
	st->groups[group_bucket(appends)]++;
}

/* Writes the waiters of list in one transaction, counting it. */
static enum cid_err commit_batch(struct cid_audit *log, struct audit_waiter *list)
{
	struct timespec t0;
	struct timespec t1;
	struct timespec c0;
	struct timespec c1;
	enum cid_err rc;

	(void)clock_gettime(CLOCK_MONOTONIC, &t0);
	(void)clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
	rc = cid_store_update(log->store, audit_chain_write, list);
	(void)clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
	(void)clock_gettime(CLOCK_MONOTONIC, &t1);
	if (rc == CID_OK)
		atomic_fetch_add(&log->commits, 1);
	pthread_mutex_lock(&log->lock);
	stats_count(log, list, rc, elapsed_ns(&t0, &t1), elapsed_ns(&c0, &c1));
	pthread_mutex_unlock(&log->lock);
	return rc;
}

void cid_audit_stats_take(struct cid_audit *log, struct cid_audit_stats *out)
{
	struct timespec now;

	pthread_mutex_lock(&log->lock);
	(void)clock_gettime(CLOCK_MONOTONIC, &now);
	*out = log->stats;
	out->seconds = (double)elapsed_ns(&log->since, &now) / 1e9;
	memset(&log->stats, 0, sizeof(log->stats));
	log->since = now;
	pthread_mutex_unlock(&log->lock);
}

enum cid_err cid_audit_stats_format(const struct cid_audit_stats *st, char *out, size_t size)
{
	enum cid_err rc = CID_OK;
	double secs = st->seconds > 0 ? st->seconds : 1;
	double per = st->commits > 0 ? (double)st->commits : 1;
	uint64_t all = st->commits + st->failed;
	size_t used;
	int n;

	n = snprintf(out, size,
		     "seconds=%.1f commits=%" PRIu64 " commits_per_s=%.1f failed=%" PRIu64
		     " failed_appends=%" PRIu64 " appends=%" PRIu64 " entries=%" PRIu64
		     " appends_per_commit=%.1f max_appends=%" PRIu64 " entries_per_commit=%.1f"
		     " max_entries=%" PRIu64 " commit_ms=%.2f commit_cpu_ms=%.2f groups=",
		     st->seconds, st->commits, (double)st->commits / secs, st->failed,
		     st->failed_appends, st->appends, st->entries, (double)st->appends / per,
		     st->max_appends, (double)st->entries / per, st->max_entries,
		     all > 0 ? (double)st->commit_ns / 1e6 / (double)all : 0.0,
		     all > 0 ? (double)st->commit_cpu_ns / 1e6 / (double)all : 0.0);
	CID_ENSURE(n >= 0 && (size_t)n < size, CID_ERR_INVALID);
	used = (size_t)n;
	for (size_t b = 0; b < CID_AUDIT_GROUP_BUCKETS; b++) {
		uint64_t lo = (uint64_t)1 << b;

		if (b + 1 == CID_AUDIT_GROUP_BUCKETS)
			n = snprintf(out + used, size - used, "%s%" PRIu64 "+:%" PRIu64,
				     b > 0 ? "," : "", lo, st->groups[b]);
		else if (lo == 1)
			n = snprintf(out + used, size - used, "1:%" PRIu64, st->groups[b]);
		else
			n = snprintf(out + used, size - used, ",%" PRIu64 "-%" PRIu64 ":%" PRIu64,
				     lo, 2 * lo - 1, st->groups[b]);
		CID_ENSURE(n >= 0 && (size_t)n < size - used, CID_ERR_INVALID);
		used += (size_t)n;
	}
out:
	if (rc != CID_OK && size > 0)
		out[0] = '\0'; /* no partial line */
	return rc;
}

/* Tells queued waiter w its fate; once DONE, w may return and its stack go at once. */
static void waiter_tell(struct audit_waiter *w, enum audit_waiter_state state)
{
	pthread_mutex_lock(&w->slot);
	w->state = state;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->slot);
}

/* Sleeps until w is written or chosen to lead; says which. */
static enum audit_waiter_state waiter_wait(struct audit_waiter *w)
{
	enum audit_waiter_state state;

	pthread_mutex_lock(&w->slot);
	while (w->state == AUDIT_WAITER_QUEUED)
		pthread_cond_wait(&w->wake, &w->slot);
	state = w->state;
	pthread_mutex_unlock(&w->slot);
	return state;
}

/* Tells queued w the result of its round: wakes its caller, or calls its callback. */
static void waiter_done(struct audit_waiter *w)
{
	if (w->done != NULL) {
		w->done(w->done_arg, w->rc); /* the caller's again from here */
		return;
	}
	waiter_tell(w, AUDIT_WAITER_DONE);
}

/* Gives the lead of the next round to w: its caller, or the committer for a submit. */
static void lead_give(struct cid_audit *log, struct audit_waiter *w)
{
	if (w->done == NULL) {
		waiter_tell(w, AUDIT_WAITER_LEAD);
		return;
	}
	pthread_mutex_lock(&log->lock);
	log->lead = true;
	pthread_cond_signal(&log->go);
	pthread_mutex_unlock(&log->lock);
}

/*
 * Leads one round: takes the whole queue, commits it, hands the lead to the
 * head of what queued meanwhile (first: a blocking appender chosen starts
 * the next commit at once; when the head is a submit, the committer leads
 * the next round once it has told this one), and only then tells each of
 * the round its result, but self (the leading caller, NULL for the
 * committer), who reads its own.
 */
static void round_lead(struct cid_audit *log, struct audit_waiter *self)
{
	struct audit_waiter *batch;
	struct audit_waiter *next;
	enum cid_err rc;

	pthread_mutex_lock(&log->lock);
	batch = log->queue;
	log->queue = NULL;
	log->tail = &log->queue;
	pthread_mutex_unlock(&log->lock);

	rc = commit_batch(log, batch);

	pthread_mutex_lock(&log->lock);
	next = log->queue;
	log->leading = next != NULL; /* else the next to queue leads */
	pthread_mutex_unlock(&log->lock);
	if (next != NULL)
		lead_give(log, next);
	for (struct audit_waiter *b = batch; b != NULL; b = next) {
		next = b->next; /* b may return (and its stack go) once told */
		b->rc = rc;
		b->next = NULL;
		if (b != self)
			waiter_done(b);
	}
}

/*
 * Queues w; true if it is to lead (no round runs or is promised). With
 * lead_now false (a submit), the committer is told to lead instead.
 */
static bool queue_up(struct cid_audit *log, struct audit_waiter *w, bool lead_now)
{
	bool lead;

	pthread_mutex_lock(&log->lock);
	*log->tail = w;
	log->tail = &w->next;
	lead = !log->leading;
	log->leading = true;
	if (lead && !lead_now) {
		log->lead = true;
		pthread_cond_signal(&log->go);
	}
	pthread_mutex_unlock(&log->lock);
	return lead && lead_now;
}

/*
 * Writes w (with everything queued) and returns when w is written. The
 * first to queue while no round runs leads one (round_lead); the others
 * sleep until told, each through its own slot: a waiter is woken once, when
 * it is written, or when the lead of the next round falls to it.
 */
static void group_commit(struct cid_audit *log, struct audit_waiter *w)
{
	w->rc = cid_sync_init(&w->slot, &w->wake, CLOCK_MONOTONIC);
	if (w->rc != CID_OK)
		return;
	w->state = AUDIT_WAITER_QUEUED;
	if (queue_up(log, w, true) || waiter_wait(w) == AUDIT_WAITER_LEAD)
		round_lead(log, w);
	cid_sync_destroy(&w->slot, &w->wake);
}

/* The committer thread: leads each round whose lead falls to a submit, until closed. */
static void *committer_main(void *arg)
{
	struct cid_audit *log = arg;

	(void)pthread_setname_np(pthread_self(), "cid-audit");
	pthread_mutex_lock(&log->lock);
	for (;;) {
		while (!log->lead && !log->stopping)
			pthread_cond_wait(&log->go, &log->lock);
		if (!log->lead)
			break;
		log->lead = false;
		pthread_mutex_unlock(&log->lock);
		round_lead(log, NULL);
		pthread_mutex_lock(&log->lock);
	}
	pthread_mutex_unlock(&log->lock);
	return NULL;
}

enum cid_err audit_append_prepared(struct cid_audit *log, const struct audit_prepared *prep,
				   const char *const *once, size_t n, uint64_t *first,
				   size_t *written)
{
	enum cid_err rc = CID_OK;
	/* the waiter only reads its entries' bytes */
	struct audit_waiter w = {
	    .prep = (struct audit_prepared *)(uintptr_t)prep, .once = once, .n = n};

	CID_ENSURE(log != NULL && prep != NULL && n > 0, CID_ERR_INVALID);
	if (log->group) {
		group_commit(log, &w);
		rc = w.rc;
	} else {
		rc = commit_batch(log, &w);
	}
	CID_TRY(rc);
	if (first != NULL)
		*first = w.first;
	if (written != NULL)
		*written = w.written;
out:
	return rc;
}

/* Appends entries, each with its once-key or none, as consecutive entries. */
enum cid_err audit_append(struct cid_audit *log, json_t *const *entries, const char *const *once,
			  size_t n, uint64_t *first, size_t *written)
{
	enum cid_err rc = CID_OK;
	struct audit_prepared *prep = NULL;

	CID_ENSURE(log != NULL && entries != NULL && n > 0, CID_ERR_INVALID);
	CID_TRY(audit_entries_prepare(entries, n, &prep));
	CID_TRY(audit_append_prepared(log, prep, once, n, first, written));
out:
	audit_prepared_free(prep, n);
	return rc;
}

enum cid_err cid_audit_append(struct cid_audit *log, json_t *const *entries, size_t n,
			      uint64_t *first_seq)
{
	return audit_append(log, entries, NULL, n, first_seq, NULL);
}

/* ---- submitted appends ---- */

enum cid_err audit_expired_once_key(const char *id, char **out)
{
	size_t len = id == NULL ? 0 : strnlen(id, CID_AUDIT_MAX_NAME + 1);

	*out = NULL;
	if (len == 0 || len > CID_AUDIT_MAX_NAME)
		return CID_ERR_INVALID;
	*out = malloc(len + 3);
	if (*out == NULL)
		return CID_ERR_NOMEM;
	memcpy(*out, "x\n", 2);
	memcpy(*out + 2, id, len + 1);
	return CID_OK;
}

/* Frees entries[0..n) and once[0..n) (either may be NULL), and both arrays. */
static void entries_free(json_t **entries, char **once, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (entries != NULL)
			json_decref(entries[i]);
		if (once != NULL)
			free(once[i]);
	}
	free(entries);
	free(once);
}

void cid_audit_pending_free(struct cid_audit_pending *p)
{
	if (p == NULL)
		return;
	/* audit_pending_new took the arrays as json_t ** and char **: they are p's */
	entries_free((json_t **)(uintptr_t)p->w.entries, (char **)(uintptr_t)p->w.once, p->w.n);
	audit_prepared_free(p->w.prep, p->w.n);
	free(p);
}

enum cid_err audit_pending_of(struct cid_audit *log, struct audit_prepared *prep, char **once,
			      size_t n, struct cid_audit_pending **out)
{
	struct cid_audit_pending *p = calloc(1, sizeof(*p));

	if (p == NULL || log == NULL || prep == NULL || n == 0) {
		entries_free(NULL, once, n);
		audit_prepared_free(prep, n);
		free(p);
		return p == NULL ? CID_ERR_NOMEM : CID_ERR_INVALID;
	}
	p->log = log;
	p->w.prep = prep;
	p->w.once = (const char *const *)once;
	p->w.n = n;
	*out = p;
	return CID_OK;
}

enum cid_err audit_pending_new(struct cid_audit *log, json_t **entries, char **once, size_t n,
			       struct cid_audit_pending **out)
{
	enum cid_err rc = CID_OK;
	struct cid_audit_pending *p = calloc(1, sizeof(*p));

	if (entries == NULL)
		n = 0; /* nothing to take over: refused below */
	if (p == NULL) {
		entries_free(entries, once, n);
		return CID_ERR_NOMEM;
	}
	p->log = log;
	p->w.entries = entries;
	p->w.once = (const char *const *)once;
	p->w.n = n;
	CID_ENSURE(log != NULL && entries != NULL && n > 0, CID_ERR_INVALID);
	CID_TRY(audit_entries_prepare(entries, n, &p->w.prep));
	*out = p;
	p = NULL;
out:
	cid_audit_pending_free(p);
	return rc;
}

size_t cid_audit_pending_count(const struct cid_audit_pending *p)
{
	return p->w.n;
}

enum cid_err cid_audit_pending_commit(struct cid_audit_pending *p)
{
	enum cid_err rc;

	if (p->log->group) {
		group_commit(p->log, &p->w);
		rc = p->w.rc;
	} else {
		rc = commit_batch(p->log, &p->w);
	}
	cid_audit_pending_free(p);
	return rc;
}

void cid_audit_submit(struct cid_audit_pending *p, cid_audit_done done, void *arg)
{
	struct cid_audit *log = p->log;

	p->w.done = done;
	p->w.done_arg = arg;
	if (!log->group) {
		p->w.rc = commit_batch(log, &p->w);
		waiter_done(&p->w);
		return;
	}
	pthread_mutex_lock(&log->lock);
	if (!log->committer_up)
		log->committer_up = pthread_create(&log->committer, NULL, committer_main, log) == 0;
	if (!log->committer_up) {
		pthread_mutex_unlock(&log->lock);
		p->w.rc = CID_ERR_NOMEM;
		waiter_done(&p->w);
		return;
	}
	pthread_mutex_unlock(&log->lock);
	(void)queue_up(log, &p->w, false);
}
