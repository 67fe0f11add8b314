/*
 * memo: a set-associative table of (key, bytes) -> object.
 *
 * The key picks a set (a hash of its length and its last bytes: a token's
 * last bytes are its signature, a record's key is short); an entry matches
 * only if key and bytes are equal in full, so the hash decides nothing but
 * where to look. Each entry owns one allocation holding its key and bytes,
 * and one reference to its object. A set's mutex guards its entries; objects
 * and copies leaving a set are released after the mutex is let go.
 */
#include "memo.h"

#include "crypto.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define WAYS	   4  /* entries per set */
#define HASH_BYTES 64 /* of a key's end, with its length, hashed */

struct entry {
	uint64_t hash;
	uint64_t used; /* the set's clock when last hit or put: the least is given up */
	size_t key_len;
	size_t bytes_len;
	char *copy; /* key then bytes; NULL: the entry is free */
	void *obj;
};

struct set {
	pthread_mutex_t lock;
	uint64_t clock;
	struct entry e[WAYS];
};

struct cid_memo {
	const struct cid_memo_kind *kind;
	size_t n_sets; /* a power of two */
	struct set *sets;
};

/* FNV-1a over the length and the last HASH_BYTES bytes of key. */
static uint64_t hash_of(struct cid_str key)
{
	uint64_t h = 14695981039346656037ull ^ key.len;
	size_t from = key.len > HASH_BYTES ? key.len - HASH_BYTES : 0;

	h *= 1099511628211ull;
	for (size_t i = from; i < key.len; i++) {
		h ^= (unsigned char)key.ptr[i];
		h *= 1099511628211ull;
	}
	return h;
}

static struct set *set_of(const struct cid_memo *m, uint64_t h)
{
	return &m->sets[(h ^ (h >> 32)) & (m->n_sets - 1)];
}

static bool same(const struct entry *e, uint64_t h, struct cid_str key, struct cid_str bytes)
{
	/* the key in constant time: it may be a bearer token, and a remembered one is
	 * live. The bytes need not be: both sides are the store's, the record as
	 * remembered and as it stands, never a caller's guess (memcmp is some
	 * ten times faster on a citizen's record, read on every userinfo) */
	return e->copy != NULL && e->hash == h && e->key_len == key.len &&
	       e->bytes_len == bytes.len && cid_ct_equal(e->copy, key.ptr, key.len) &&
	       (bytes.len == 0 || memcmp(e->copy + key.len, bytes.ptr, bytes.len) == 0);
}

enum cid_err cid_memo_new(size_t entries, const struct cid_memo_kind *kind, struct cid_memo **out)
{
	struct cid_memo *m;
	size_t want;
	size_t n = 1;

	if (kind == NULL || kind->ref == NULL || kind->unref == NULL || entries == 0)
		return CID_ERR_INVALID;
	want = (entries + WAYS - 1) / WAYS;
	while (n < want)
		n *= 2;
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return CID_ERR_NOMEM;
	m->kind = kind;
	m->sets = calloc(n, sizeof(*m->sets));
	if (m->sets == NULL) {
		free(m);
		return CID_ERR_NOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		if (pthread_mutex_init(&m->sets[i].lock, NULL) != 0) {
			m->n_sets = i;
			cid_memo_free(m);
			return CID_ERR_NOMEM;
		}
	}
	m->n_sets = n;
	*out = m;
	return CID_OK;
}

void cid_memo_free(struct cid_memo *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n_sets; i++) {
		for (size_t w = 0; w < WAYS; w++) {
			struct entry *e = &m->sets[i].e[w];

			if (e->copy != NULL)
				m->kind->unref(e->obj);
			free(e->copy);
		}
		pthread_mutex_destroy(&m->sets[i].lock);
	}
	free(m->sets);
	free(m);
}

void *cid_memo_get(struct cid_memo *m, struct cid_str key, struct cid_str bytes)
{
	uint64_t h;
	struct set *s;
	void *obj = NULL;

	if (m == NULL)
		return NULL;
	h = hash_of(key);
	s = set_of(m, h);
	pthread_mutex_lock(&s->lock);
	for (size_t w = 0; w < WAYS; w++) {
		struct entry *e = &s->e[w];

		if (same(e, h, key, bytes)) {
			m->kind->ref(e->obj);
			obj = e->obj;
			e->used = ++s->clock;
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return obj;
}

void cid_memo_put(struct cid_memo *m, struct cid_str key, struct cid_str bytes, void *obj)
{
	uint64_t h;
	struct set *s;
	struct entry *victim = NULL;
	char *copy;
	char *old_copy;
	void *old_obj;

	if (m == NULL || obj == NULL || key.len > CID_MEMO_MAX_BYTES ||
	    bytes.len > CID_MEMO_MAX_BYTES - key.len)
		return;
	copy = malloc(key.len + bytes.len + 1);
	if (copy == NULL)
		return;
	memcpy(copy, key.ptr, key.len);
	memcpy(copy + key.len, bytes.ptr, bytes.len);
	h = hash_of(key);
	s = set_of(m, h);
	m->kind->ref(obj);
	pthread_mutex_lock(&s->lock);
	/* the key's own entry if it has one (one entry per key), else a free one,
	 * else the one used least recently */
	for (size_t w = 0; w < WAYS && victim == NULL; w++) {
		struct entry *e = &s->e[w];

		if (e->copy != NULL && e->hash == h && e->key_len == key.len &&
		    memcmp(e->copy, key.ptr, key.len) == 0)
			victim = e;
	}
	for (size_t w = 0; w < WAYS && victim == NULL; w++)
		if (s->e[w].copy == NULL)
			victim = &s->e[w];
	if (victim == NULL) {
		victim = &s->e[0];
		for (size_t w = 1; w < WAYS; w++)
			if (s->e[w].used < victim->used)
				victim = &s->e[w];
	}
	old_copy = victim->copy;
	old_obj = victim->obj;
	*victim = (struct entry){.hash = h,
				 .used = ++s->clock,
				 .key_len = key.len,
				 .bytes_len = bytes.len,
				 .copy = copy,
				 .obj = obj};
	pthread_mutex_unlock(&s->lock);
	if (old_copy != NULL)
		m->kind->unref(old_obj);
	free(old_copy);
}

const struct cid_memo_kind *cid_memo_kind_of(const struct cid_memo *m)
{
	return m->kind;
}

size_t cid_memo_count(struct cid_memo *m)
{
	size_t n = 0;

	if (m == NULL)
		return 0;
	for (size_t i = 0; i < m->n_sets; i++) {
		pthread_mutex_lock(&m->sets[i].lock);
		for (size_t w = 0; w < WAYS; w++)
			n += m->sets[i].e[w].copy != NULL;
		pthread_mutex_unlock(&m->sets[i].lock);
	}
	return n;
}
