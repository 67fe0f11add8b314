/*
 * fetch_cache: a few documents of other parties kept by URL until their
 * freshness ends, their recent failures, and the fetches under way
 * (fetch_cache.h).
 *
 * Invariants: a slot is empty (mem NULL) or holds its URL and, in the same
 * allocation after it (an empty cache is a few hundred bytes, what every
 * tenant pays), a whole answer or none (a failure remembered alone), when
 * the answer stops being fresh and until when its failure is remembered.
 * A URL is in fetching from the moment a caller decides to fetch it until
 * that fetch's outcome is in its slot, both under one holding of the lock,
 * so a waiter woken finds the outcome. The lock guards the slots and
 * fetching and is never held across a fetch; a caller always gets its own
 * copy, so a slot replaced meanwhile frees nothing anyone reads.
 */
#include "fetch_cache.h"

#include "bounds.h"
#include "sync.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct slot {
	char *mem;	  /* owned: the URL, a NUL, then the answer and a NUL when kept */
	const char *body; /* in mem, or NULL: no answer kept */
	size_t len;
	int64_t expires;      /* the answer is fresh while now < expires */
	int64_t failed_until; /* a fetch failed: none again while now < failed_until */
	enum cid_err failed;  /* that fetch's error */
};

struct cid_fetch_cache {
	pthread_mutex_t lock;
	pthread_cond_t ended; /* a fetch's outcome is in: its waiters look again */
	struct slot slots[CID_FETCH_CACHE_SLOTS];
	/* the URLs being fetched, each its fetcher's string (borrowed until it ends); NULL: free */
	const char *fetching[CID_FETCH_CACHE_SLOTS];
};

/* What a caller found: a copy, a failure (of a fetch, or of the copy), or its turn to fetch. */
enum found { FOUND_COPY, FOUND_FAILURE, FOUND_NOTHING };

enum cid_err cid_fetch_cache_new(struct cid_fetch_cache **out)
{
	struct cid_fetch_cache *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return CID_ERR_NOMEM;
	if (cid_sync_init(&c->lock, &c->ended, CLOCK_MONOTONIC) != CID_OK) {
		free(c);
		return CID_ERR_NOMEM;
	}
	*out = c;
	return CID_OK;
}

void cid_fetch_cache_free(struct cid_fetch_cache *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < CID_FETCH_CACHE_SLOTS; i++)
		free(c->slots[i].mem);
	cid_sync_destroy(&c->lock, &c->ended);
	free(c);
}

/* A copy of [p, p+n) and a NUL into *out; false when out of memory. */
static bool copy_out(const char *p, size_t n, char **out)
{
	char *b = malloc(n + 1);

	if (b == NULL)
		return false;
	memcpy(b, p, n);
	b[n] = '\0';
	*out = b;
	return true;
}

/* The slot of url, or NULL. Under the lock. */
static struct slot *slot_of(struct cid_fetch_cache *c, const char *url)
{
	for (size_t i = 0; i < CID_FETCH_CACHE_SLOTS; i++) {
		if (c->slots[i].mem != NULL && strcmp(c->slots[i].mem, url) == 0)
			return &c->slots[i];
	}
	return NULL;
}

/* Whether a fetch of url is under way. Under the lock. */
static bool being_fetched(const struct cid_fetch_cache *c, const char *url)
{
	for (size_t i = 0; i < CID_FETCH_CACHE_SLOTS; i++) {
		if (c->fetching[i] != NULL && strcmp(c->fetching[i], url) == 0)
			return true;
	}
	return false;
}

/*
 * What c holds of url at now: a fresh copy into *body, *len (unless refetch,
 * when it is taken only from a fetch waited for), else a failure remembered
 * (*failed its error), else, once no other caller fetches url, nothing: then
 * url is marked as being fetched by this caller at *place (CID_FETCH_CACHE_SLOTS:
 * not marked, every place taken), for settle to unmark.
 */
static enum found look(struct cid_fetch_cache *c, const char *url, int64_t now, bool refetch,
		       char **body, size_t *len, enum cid_err *failed, size_t *place)
{
	enum found found = FOUND_NOTHING;
	bool waited = false;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		const struct slot *s = slot_of(c, url);

		if (s != NULL && s->body != NULL && now < s->expires && (!refetch || waited)) {
			found = copy_out(s->body, s->len, body) ? FOUND_COPY : FOUND_FAILURE;
			*len = s->len;
			*failed = found == FOUND_COPY ? CID_OK : CID_ERR_NOMEM;
			break;
		}
		if (s != NULL && now < s->failed_until) {
			found = FOUND_FAILURE;
			*failed = s->failed;
			break;
		}
		if (!being_fetched(c, url))
			break;
		/* bounded: the fetch under way ends within its own timeout; a wake for
		 * another URL's fetch (one condition for all) waits on */
		while (being_fetched(c, url))
			pthread_cond_wait(&c->ended, &c->lock);
		waited = true;
	}
	*place = CID_FETCH_CACHE_SLOTS;
	for (size_t i = 0; found == FOUND_NOTHING && i < CID_FETCH_CACHE_SLOTS; i++) {
		if (c->fetching[i] == NULL) {
			c->fetching[i] = url;
			*place = i;
			break;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return found;
}

/* When s's answer and failure are both forgotten. */
static int64_t forgotten_at(const struct slot *s)
{
	return s->expires > s->failed_until ? s->expires : s->failed_until;
}

/*
 * The slot for url: its own, an empty one, or the one forgotten first.
 * Under the lock.
 */
static struct slot *slot_for(struct cid_fetch_cache *c, const char *url)
{
	struct slot *s = slot_of(c, url);

	for (size_t i = 0; i < CID_FETCH_CACHE_SLOTS && s == NULL; i++) {
		if (c->slots[i].mem == NULL)
			s = &c->slots[i];
	}
	if (s == NULL) {
		s = &c->slots[0];
		for (size_t i = 1; i < CID_FETCH_CACHE_SLOTS; i++) {
			if (forgotten_at(&c->slots[i]) < forgotten_at(s))
				s = &c->slots[i];
		}
	}
	return s;
}

/*
 * The outcome of this caller's fetch of url (marked at place by look): the
 * answer body[len] kept until expires, or (body NULL) the failure rc
 * remembered until failed_until, an answer kept before staying while
 * fresh. Wakes the callers waiting for it. rc CID_ERR_NOMEM (or no memory
 * here): nothing is kept, the next caller fetches again.
 */
static void settle(struct cid_fetch_cache *c, const char *url, size_t place, const char *body,
		   size_t len, int64_t expires, enum cid_err rc, int64_t failed_until)
{
	size_t url_len = strlen(url);
	char *mem = NULL;
	struct slot *s = NULL;

	if (rc != CID_ERR_NOMEM)
		mem = malloc(url_len + 1 + (body != NULL ? len + 1 : 0));
	if (mem != NULL) {
		memcpy(mem, url, url_len + 1);
		if (body != NULL) {
			memcpy(mem + url_len + 1, body, len);
			mem[url_len + 1 + len] = '\0';
		}
	}
	pthread_mutex_lock(&c->lock);
	if (place < CID_FETCH_CACHE_SLOTS)
		c->fetching[place] = NULL;
	if (mem != NULL)
		s = slot_for(c, url);
	if (s != NULL && body == NULL && s->mem != NULL && strcmp(s->mem, url) == 0) {
		/* a failure beside an answer kept: the answer stays while fresh */
		s->failed_until = failed_until;
		s->failed = rc;
	} else if (s != NULL) {
		free(s->mem);
		*s = (struct slot){.mem = mem,
				   .body = body != NULL ? mem + url_len + 1 : NULL,
				   .len = body != NULL ? len : 0,
				   .expires = body != NULL ? expires : 0,
				   .failed_until = body != NULL ? 0 : failed_until,
				   .failed = rc};
		mem = NULL;
	}
	pthread_cond_broadcast(&c->ended);
	pthread_mutex_unlock(&c->lock);
	free(mem);
}

enum cid_err cid_fetch_cache_get(struct cid_fetch_cache *c, const char *url,
				 const struct cid_fetch_limits *lim, int64_t now, bool refetch,
				 char **body, size_t *len, char *why, size_t whysz)
{
	enum cid_err rc = CID_OK;
	bool keepable = url != NULL && strlen(url) <= CID_FETCH_CACHE_URL;
	size_t place = CID_FETCH_CACHE_SLOTS;
	int64_t age = 0;
	char *b = NULL;
	size_t n = 0;

	if (keepable) {
		switch (look(c, url, now, refetch, body, len, &rc, &place)) {
		case FOUND_COPY: return CID_OK;
		case FOUND_FAILURE:
			if (rc != CID_ERR_NOMEM)
				snprintf(why, whysz,
					 "a fetch of it failed less than %d s ago (not tried again "
					 "before)",
					 CID_FETCH_CACHE_FAILED);
			return rc;
		case FOUND_NOTHING: break;
		}
	}
	rc = cid_http_fetch_age(url, lim, &b, &n, &age, why, whysz);
	age = age < CID_FETCH_CACHE_MIN	  ? CID_FETCH_CACHE_MIN
	      : age > CID_FETCH_CACHE_MAX ? CID_FETCH_CACHE_MAX
					  : age;
	if (keepable)
		settle(c, url, place, rc == CID_OK ? b : NULL, n, now + age, rc,
		       now + CID_FETCH_CACHE_FAILED);
	CID_TRY(rc);
	*body = b;
	*len = n;
	b = NULL;
out:
	free(b);
	return rc;
}
