/*
 * fetch_cache: a few documents of other parties kept by URL until their
 * freshness ends (fetch_cache.h).
 *
 * Invariants: a slot is empty (body and url NULL) or holds a whole answer,
 * its URL (in the body's allocation, after the answer: an empty cache is a
 * few hundred bytes, what every tenant pays) and when it stops being fresh; the lock guards the
 * slots and is never held across a fetch; a caller always gets its own copy, so a slot replaced
 * meanwhile frees nothing anyone reads.
 */
#include "fetch_cache.h"

#include "bounds.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct slot {
	char *body;	 /* owned: the answer, a NUL, the URL, a NUL */
	const char *url; /* in body */
	size_t len;
	int64_t expires; /* fresh while now < expires */
};

struct cid_fetch_cache {
	pthread_mutex_t lock;
	struct slot slots[CID_FETCH_CACHE_SLOTS];
};

enum cid_err cid_fetch_cache_new(struct cid_fetch_cache **out)
{
	struct cid_fetch_cache *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return CID_ERR_NOMEM;
	if (pthread_mutex_init(&c->lock, NULL) != 0) {
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
		free(c->slots[i].body);
	pthread_mutex_destroy(&c->lock);
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

/* The fresh copy of url at now into *body, *len; false when none (or out of memory). */
static bool kept(struct cid_fetch_cache *c, const char *url, int64_t now, char **body, size_t *len)
{
	bool found = false;

	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < CID_FETCH_CACHE_SLOTS && !found; i++) {
		const struct slot *s = &c->slots[i];

		if (s->body != NULL && now < s->expires && strcmp(s->url, url) == 0) {
			found = copy_out(s->body, s->len, body);
			if (found)
				*len = s->len;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return found;
}

/* Keeps a copy of body for url until expires: its own slot, an empty one, or the first to expire.
 */
static void keep(struct cid_fetch_cache *c, const char *url, const char *body, size_t len,
		 int64_t expires)
{
	size_t url_len = strlen(url);
	char *copy = malloc(len + 1 + url_len + 1);
	struct slot *s = NULL;

	if (copy == NULL)
		return; /* not kept: the next login fetches again */
	memcpy(copy, body, len);
	copy[len] = '\0';
	memcpy(copy + len + 1, url, url_len + 1);
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < CID_FETCH_CACHE_SLOTS && s == NULL; i++) {
		if (c->slots[i].body != NULL && strcmp(c->slots[i].url, url) == 0)
			s = &c->slots[i];
	}
	for (size_t i = 0; i < CID_FETCH_CACHE_SLOTS && s == NULL; i++) {
		if (c->slots[i].body == NULL)
			s = &c->slots[i];
	}
	if (s == NULL) {
		size_t first = 0;

		for (size_t j = 1; j < CID_FETCH_CACHE_SLOTS; j++) {
			if (c->slots[j].expires < c->slots[first].expires)
				first = j;
		}
		s = &c->slots[first];
	}
	free(s->body);
	s->body = copy;
	s->url = copy + len + 1;
	s->len = len;
	s->expires = expires;
	pthread_mutex_unlock(&c->lock);
}

enum cid_err cid_fetch_cache_get(struct cid_fetch_cache *c, const char *url,
				 const struct cid_fetch_limits *lim, int64_t now, bool refetch,
				 char **body, size_t *len, char *why, size_t whysz)
{
	enum cid_err rc = CID_OK;
	bool keepable = url != NULL && strlen(url) <= CID_FETCH_CACHE_URL;
	int64_t age = 0;
	char *b = NULL;
	size_t n = 0;

	if (keepable && !refetch && kept(c, url, now, body, len))
		return CID_OK;
	CID_TRY(cid_http_fetch_age(url, lim, &b, &n, &age, why, whysz));
	age = age < CID_FETCH_CACHE_MIN	  ? CID_FETCH_CACHE_MIN
	      : age > CID_FETCH_CACHE_MAX ? CID_FETCH_CACHE_MAX
					  : age;
	if (keepable)
		keep(c, url, b, n, now + age);
	*body = b;
	*len = n;
	b = NULL;
out:
	free(b);
	return rc;
}
