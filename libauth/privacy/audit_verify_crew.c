/*
 * audit_verify_crew: the batches of a verify walk (audit_int.h), the store's
 * and the export's alike. What each entry shows on its own
 * (audit_entry_pre: the canonical scan and the hash, most of the CPU) is
 * found for a whole batch at once by helper threads, one fewer than the
 * cores (at most AUDIT_WALK_THREADS in all), while the caller's thread links
 * the batch before in order, gathers the next, and takes a share of the work
 * itself when it has time for one. The helpers live as long as the walk: a
 * thread made per batch was started on the caller's core and waited for it.
 */
#include "audit_int.h"
#include "str.h"
#include "sync.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* A share of a batch, and whether its lines are to be checked as UTF-8 text. */
struct audit_walk_share {
	struct audit_walk_item *items;
	size_t n;
	bool text;
};

/* The helper threads of a walk, and the shares handed to them. */
struct audit_walk_crew {
	pthread_mutex_t lock;
	pthread_cond_t go;   /* a share was handed out, or stop */
	pthread_cond_t done; /* busy fell to 0 */
	unsigned busy;	     /* shares handed out, not yet done */
	bool stop;
	unsigned n; /* helpers started */

	struct walk_helper {
		struct audit_walk_crew *crew;
		pthread_t id;
		struct audit_walk_share job;
		bool has_job;
	} h[AUDIT_WALK_THREADS - 1];
};

/* audit_entry_pre over a share, each entry's hash the next one's prev. */
static void share_prepare(const struct audit_walk_share *sh)
{
	char hex[2][CID_AUDIT_HASH_HEX];

	for (size_t i = 0; i < sh->n; i++) {
		struct audit_walk_item *it = &sh->items[i];
		/* the share's first entry is linked by the walk */
		const char *prev = i == 0 || !sh->items[i - 1].pre.hashed ? NULL : hex[(i - 1) & 1];

		it->text = !sh->text || cid_utf8_valid(it->p, it->n);
		if (it->skip || !it->text)
			it->pre = (struct audit_entry_pre){0};
		else
			audit_entry_pre(it->p, it->n, prev, &it->pre, hex[i & 1]);
	}
}

static void *helper_main(void *arg)
{
	struct walk_helper *me = arg;
	struct audit_walk_crew *c = me->crew;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		while (!me->has_job && !c->stop)
			pthread_cond_wait(&c->go, &c->lock);
		if (!me->has_job)
			break;
		pthread_mutex_unlock(&c->lock);
		share_prepare(&me->job);
		pthread_mutex_lock(&c->lock);
		me->has_job = false;
		if (--c->busy == 0)
			pthread_cond_signal(&c->done);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* Starts up to helpers helper threads; as many as start (maybe none) are used. */
static enum cid_err crew_start(struct audit_walk_crew *c, unsigned helpers)
{
	enum cid_err rc = cid_sync_init(&c->lock, &c->go, CLOCK_MONOTONIC);

	if (rc != CID_OK)
		return rc;
	if (pthread_cond_init(&c->done, NULL) != 0) {
		cid_sync_destroy(&c->lock, &c->go);
		return CID_ERR_NOMEM;
	}
	for (c->n = 0; c->n < helpers && c->n < AUDIT_WALK_THREADS - 1; c->n++) {
		c->h[c->n] = (struct walk_helper){.crew = c};
		if (pthread_create(&c->h[c->n].id, NULL, helper_main, &c->h[c->n]) != 0)
			break;
	}
	return CID_OK;
}

/* Waits until every share handed out is done. */
static void crew_wait(struct audit_walk_crew *c)
{
	pthread_mutex_lock(&c->lock);
	while (c->busy > 0)
		pthread_cond_wait(&c->done, &c->lock);
	pthread_mutex_unlock(&c->lock);
}

/* Waits for the shares handed out, and stops and joins the helpers. */
static void crew_stop(struct audit_walk_crew *c)
{
	crew_wait(c);
	pthread_mutex_lock(&c->lock);
	c->stop = true;
	pthread_cond_broadcast(&c->go);
	pthread_mutex_unlock(&c->lock);
	for (unsigned i = 0; i < c->n; i++)
		pthread_join(c->h[i].id, NULL);
	pthread_cond_destroy(&c->done);
	cid_sync_destroy(&c->lock, &c->go);
}

/*
 * Hands items[0..n) out to the helpers, but for the first share, which the
 * caller keeps: *mine. The caller links the batch before and gathers the
 * next (about half an entry's preparing per entry), so with one helper it
 * keeps a quarter, with more none; with none, all.
 */
static void crew_hand(struct audit_walk_crew *c, struct audit_walk_item *items, size_t n, bool text,
		      struct audit_walk_share *mine)
{
	size_t keep = c->n == 0 ? n : c->n == 1 ? n / 4 : 0;
	size_t per = c->n == 0 ? 0 : (n - keep + c->n - 1) / c->n;
	size_t from = keep;

	*mine = (struct audit_walk_share){items, keep, text};
	pthread_mutex_lock(&c->lock);
	for (unsigned i = 0; i < c->n && from < n; i++) {
		size_t take = n - from < per ? n - from : per;

		c->h[i].job = (struct audit_walk_share){items + from, take, text};
		c->h[i].has_job = true;
		c->busy++;
		from += take;
	}
	pthread_cond_broadcast(&c->go);
	pthread_mutex_unlock(&c->lock);
}

enum cid_err audit_batches_start(struct audit_batches *b, unsigned threads, bool text,
				 audit_link_fn *link, void *arg)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned all = cores < 1			  ? 1
		       : cores > (long)AUDIT_WALK_THREADS ? AUDIT_WALK_THREADS
							  : (unsigned)cores;
	enum cid_err rc;

	*b = (struct audit_batches){.text = text, .link = link, .arg = arg};
	if (threads > 0 && threads < all)
		all = threads;
	b->buf[0] = malloc(2 * AUDIT_WALK_BATCH * sizeof(*b->buf[0]));
	b->crew = malloc(sizeof(*b->crew));
	if (b->buf[0] == NULL || b->crew == NULL) {
		free(b->buf[0]);
		free(b->crew);
		*b = (struct audit_batches){0};
		return CID_ERR_NOMEM;
	}
	b->buf[1] = b->buf[0] + AUDIT_WALK_BATCH;
	*b->crew = (struct audit_walk_crew){0};
	rc = crew_start(b->crew, all - 1);
	if (rc != CID_OK) {
		free(b->buf[0]);
		free(b->crew);
		*b = (struct audit_batches){0};
	}
	return rc;
}

struct audit_walk_item *audit_batches_slot(struct audit_batches *b)
{
	struct audit_walk_item *it = &b->buf[b->gather][b->n[b->gather]];

	*it = (struct audit_walk_item){0};
	return it;
}

enum cid_err audit_batches_flush(struct audit_batches *b)
{
	enum cid_err rc = CID_OK;
	unsigned cur = b->gather;
	unsigned other = 1 - cur;
	struct audit_walk_share mine;

	crew_wait(b->crew);
	crew_hand(b->crew, b->buf[cur], b->n[cur], b->text, &mine);
	for (size_t i = 0; i < b->n[other] && rc == CID_OK; i++)
		rc = b->link(b->arg, &b->buf[other][i]);
	if (rc == CID_OK)
		share_prepare(&mine);
	b->n[other] = 0;
	b->gather = other;
	return rc;
}

enum cid_err audit_batches_add(struct audit_batches *b)
{
	return ++b->n[b->gather] == AUDIT_WALK_BATCH ? audit_batches_flush(b) : CID_OK;
}

enum cid_err audit_batches_finish(struct audit_batches *b)
{
	enum cid_err rc = audit_batches_flush(b); /* links the one before, hands the last out */

	if (rc == CID_OK)
		rc = audit_batches_flush(b); /* links the last */
	crew_wait(b->crew);
	return rc;
}

void audit_batches_stop(struct audit_batches *b)
{
	if (b->crew == NULL)
		return;
	crew_stop(b->crew);
	free(b->crew);
	free(b->buf[0]);
	*b = (struct audit_batches){0};
}
