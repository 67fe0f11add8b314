/*
 * memo: an object is found again only for the same key and the very same
 * bytes; a key holds one entry; the table never holds more than it was made
 * for, and every reference it takes is dropped (when an entry is replaced,
 * given up or the memo freed); many threads reading and replacing the same
 * keys at once leave every object counted right. The store's memo per
 * database: made once, for one kind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memo.h"
#include "store.h"
#include "support.h"

#include <pthread.h>

/* cmocka.h needs setjmp.h, stdarg.h and stddef.h before it */
#include <cmocka.h>

/* A counted test object; live counts those not yet freed. */
struct obj {
	atomic_int refs;
	int value;
};

static atomic_int live;

static struct obj *obj_new(int value)
{
	struct obj *o = calloc(1, sizeof(*o));

	assert_non_null(o);
	atomic_init(&o->refs, 1);
	o->value = value;
	atomic_fetch_add(&live, 1);
	return o;
}

static void obj_ref(void *p)
{
	atomic_fetch_add(&((struct obj *)p)->refs, 1);
}

static void obj_unref(void *p)
{
	struct obj *o = p;

	if (atomic_fetch_sub(&o->refs, 1) == 1) {
		atomic_fetch_sub(&live, 1);
		free(o);
	}
}

static const struct cid_memo_kind kind = {obj_ref, obj_unref};
static const struct cid_memo_kind other_kind = {obj_ref, obj_unref};

static struct cid_str S(const char *s) {
	return cid_str_of(s);

}

static void
test_found_only_for_the_same_key_and_bytes(void **state)

{
	struct cid_memo *m = NULL;
	struct obj *o = obj_new(1);
	struct obj *got;

	const struct {
		const char *key, *bytes;
		bool found;
	} rows[] = {
	    {"client-a", "{\"v\":1}", true},
	    {"client-a", "{\"v\":2}", false},  /* the record changed */
	    {"client-a", "{\"v\":1} ", false}, /* one more byte */
	    {"client-a", "{\"v\":", false},    /* fewer bytes */
	    {"client-b", "{\"v\":1}", false},  /* another key, same bytes */
	    {"client-", "a{\"v\":1}", false},  /* the same bytes split otherwise */
	    {"client-aa", "\"v\":1}", false},  /* ditto */
	    {"", "", false},		       /* nothing */
	};

	(void)state;
	assert_int_equal(cid_memo_new(16, &kind, &m), CID_OK);
	cid_memo_put(m, S("client-a"), S("{\"v\":1}"), o);
	assert_int_equal(atomic_load(&o->refs), 2); /* ours and the memo's */
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		got = cid_memo_get(m, S(rows[i].key), S(rows[i].bytes));
		if ((got != NULL) != rows[i].found)
			fail_msg("row %zu (%s): found %d", i, rows[i].key, got != NULL);
		if (got != NULL) {
			assert_ptr_equal(got, o);
			assert_int_equal(atomic_load(&o->refs), 3); /* and the caller's */
			obj_unref(got);
		}
	}
	/* NULL memo: nothing remembered, nothing kept */
	assert_null(cid_memo_get(NULL, S("client-a"), S("{\"v\":1}")));
	cid_memo_put(NULL, S("client-a"), S("{\"v\":1}"), o);
	obj_unref(o);
	assert_int_equal(atomic_load(&live), 1); /* the memo still holds it */
	cid_memo_free(m);
	assert_int_equal(atomic_load(&live), 0);
}

static void test_a_key_holds_one_entry(void **state)
{
	struct cid_memo *m = NULL;
	struct obj *old = obj_new(1);
	struct obj *fresh = obj_new(2);
	struct obj *got;

	(void)state;
	assert_int_equal(cid_memo_new(16, &kind, &m), CID_OK);
	cid_memo_put(m, S("k"), S("v1"), old);
	cid_memo_put(m, S("k"), S("v2"), fresh);
	assert_int_equal(cid_memo_count(m), 1);
	/* the replaced object's reference was dropped */
	assert_int_equal(atomic_load(&old->refs), 1);
	assert_null(cid_memo_get(m, S("k"), S("v1")));
	got = cid_memo_get(m, S("k"), S("v2"));
	assert_ptr_equal(got, fresh);
	obj_unref(got);
	obj_unref(old);
	obj_unref(fresh);
	cid_memo_free(m);
	assert_int_equal(atomic_load(&live), 0);
}

static void test_bounded_and_every_reference_dropped(void **state)
{
	struct cid_memo *m = NULL;
	char key[32];
	size_t found = 0;

	(void)state;
	assert_int_equal(cid_memo_new(64, &kind, &m), CID_OK);
	for (int i = 0; i < 10000; i++) {
		struct obj *o = obj_new(i);

		snprintf(key, sizeof(key), "key-%d", i);
		cid_memo_put(m, S(key), S("bytes"), o);
		obj_unref(o);
		assert_true(cid_memo_count(m) <= 64);
	}
	/* what was given up was freed: only what the memo holds lives */
	assert_int_equal((size_t)atomic_load(&live), cid_memo_count(m));
	/* the most recent ones are still there */
	for (int i = 10000 - 8; i < 10000; i++) {
		struct obj *got;

		snprintf(key, sizeof(key), "key-%d", i);
		got = cid_memo_get(m, S(key), S("bytes"));
		if (got != NULL) {
			assert_int_equal(got->value, i);
			obj_unref(got);
			found++;
		}
	}
	assert_true(found > 0);
	cid_memo_free(m);
	assert_int_equal(atomic_load(&live), 0);
}

static void test_a_recently_used_entry_stays(void **state)
{
	struct cid_memo *m = NULL;
	struct obj *kept = obj_new(-1);
	char key[32];

	(void)state;
	/* one set of four: every key lands in it */
	assert_int_equal(cid_memo_new(4, &kind, &m), CID_OK);
	cid_memo_put(m, S("kept"), S("b"), kept);
	for (int i = 0; i < 100; i++) {
		struct obj *o = obj_new(i);
		struct obj *got = cid_memo_get(m, S("kept"), S("b"));

		assert_ptr_equal(got, kept);
		obj_unref(got);
		snprintf(key, sizeof(key), "other-%d", i);
		cid_memo_put(m, S(key), S("b"), o);
		obj_unref(o);
		assert_int_equal(cid_memo_count(m), i < 3 ? (size_t)i + 2 : 4);
	}
	obj_unref(kept);
	cid_memo_free(m);
	assert_int_equal(atomic_load(&live), 0);
}

static void test_oversized_entries_are_not_kept(void **state)
{
	struct cid_memo *m = NULL;
	struct obj *o = obj_new(1);
	char *big = malloc(CID_MEMO_MAX_BYTES + 1);

	(void)state;
	assert_non_null(big);
	memset(big, 'x', CID_MEMO_MAX_BYTES);
	big[CID_MEMO_MAX_BYTES] = '\0';
	assert_int_equal(cid_memo_new(16, &kind, &m), CID_OK);
	/* key and bytes together over the limit */
	cid_memo_put(m, S("k"), (struct cid_str){big, CID_MEMO_MAX_BYTES}, o);
	assert_int_equal(cid_memo_count(m), 0);
	assert_int_equal(atomic_load(&o->refs), 1);
	/* exactly the limit is kept */
	cid_memo_put(m, S("k"), (struct cid_str){big, CID_MEMO_MAX_BYTES - 1}, o);
	assert_int_equal(cid_memo_count(m), 1);
	obj_unref(o);
	cid_memo_free(m);
	free(big);
	assert_int_equal(atomic_load(&live), 0);
}

static void test_new_refuses_what_cannot_work(void **state)
{
	struct cid_memo *m = NULL;
	const struct cid_memo_kind half = {obj_ref, NULL};

	(void)state;
	assert_int_equal(cid_memo_new(0, &kind, &m), CID_ERR_INVALID);
	assert_int_equal(cid_memo_new(4, NULL, &m), CID_ERR_INVALID);
	assert_int_equal(cid_memo_new(4, &half, &m), CID_ERR_INVALID);
	assert_null(m);
	cid_memo_free(NULL);
	assert_int_equal(cid_memo_count(NULL), 0);
}

/* ---- many threads ---- */

#define THREADS 8
#define ROUNDS	20000
#define KEYS	64

struct worker {
	struct cid_memo *m;
	unsigned seed;
	int mismatches;
};

/*
 * Each round reads a key with one of two versions of its bytes and, on a
 * miss, makes the object and puts it: the value says key and version, so a
 * hit that returns an object made from other bytes is seen.
 */
static void *worker_run(void *arg)
{
	struct worker *w = arg;
	char key[16];
	char bytes[16];

	for (int i = 0; i < ROUNDS; i++) {
		int k = (int)(rand_r(&w->seed) % KEYS);
		int version = (int)(rand_r(&w->seed) % 2);
		int value = k * 10 + version;
		struct obj *got;

		snprintf(key, sizeof(key), "k%d", k);
		snprintf(bytes, sizeof(bytes), "v%d", version);
		got = cid_memo_get(w->m, S(key), S(bytes));
		if (got == NULL) {
			got = obj_new(value);
			cid_memo_put(w->m, S(key), S(bytes), got);
		}
		if (got->value != value)
			w->mismatches++;
		obj_unref(got);
	}
	return NULL;
}

static void test_threads_share_a_memo(void **state)
{
	struct cid_memo *m = NULL;
	pthread_t t[THREADS];
	struct worker w[THREADS];

	(void)state;
	/* fewer entries than keys (a whole number of sets), so entries are given up all
	 * the time */
	assert_int_equal(cid_memo_new(KEYS / 2, &kind, &m), CID_OK);
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){.m = m, .seed = (unsigned)i * 7919u + 1u};
		assert_int_equal(pthread_create(&t[i], NULL, worker_run, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(w[i].mismatches, 0);
	}
	assert_true(cid_memo_count(m) <= KEYS / 2);
	assert_int_equal((size_t)atomic_load(&live), cid_memo_count(m));
	cid_memo_free(m);
	assert_int_equal(atomic_load(&live), 0);
}

/* ---- the store's memos ---- */

static void test_store_memo_one_per_database_and_kind(void **state)
{
	char dir[256];
	struct cid_store *s = cid_test_store_open(dir);
	struct cid_memo *clients;

	(void)state;
	clients = cid_store_memo(s, CID_DB_CLIENTS, &kind);
	assert_non_null(clients);
	assert_ptr_equal(cid_store_memo(s, CID_DB_CLIENTS, &kind), clients);
	/* another kind gets none: its objects would be taken for the first kind's */
	assert_null(cid_store_memo(s, CID_DB_CLIENTS, &other_kind));
	/* another database, another memo */
	assert_non_null(cid_store_memo(s, CID_DB_GRANTS, &other_kind));
	assert_ptr_not_equal(cid_store_memo(s, CID_DB_GRANTS, &other_kind), clients);
	assert_null(cid_store_memo(s, CID_DB_COUNT, &kind));
	/* what the memo holds is dropped when the store closes */
	struct obj *o = obj_new(1);
	cid_memo_put(clients, S("k"), S("v"), o);
	obj_unref(o);
	cid_test_store_close(s, dir);
	assert_int_equal(atomic_load(&live), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_found_only_for_the_same_key_and_bytes),
	    cmocka_unit_test(test_a_key_holds_one_entry),
	    cmocka_unit_test(test_bounded_and_every_reference_dropped),
	    cmocka_unit_test(test_a_recently_used_entry_stays),
	    cmocka_unit_test(test_oversized_entries_are_not_kept),
	    cmocka_unit_test(test_new_refuses_what_cannot_work),
	    cmocka_unit_test(test_threads_share_a_memo),
	    cmocka_unit_test(test_store_memo_one_per_database_and_kind),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
