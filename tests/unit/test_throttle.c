/*
 * test_throttle: the failed-login counters shared by citizens and officers,
 * the wait they impose (a table: one row per counter and moment), and their
 * reading, counting and clearing on a real store.
 */
#include "bounds.h"
#include "support.h"
#include "throttle.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#define T0 1795000000

static void test_wait_follows_the_rule(void **state)
{
	static const struct {
		const char *what;
		int64_t n, first, last, now;
		int64_t wait;
	} rows[] = {
	    {"free failures impose nothing", CID_THROTTLE_FREE - 1, T0, T0, T0, 0},
	    {"the first counted failure waits 1 s", CID_THROTTLE_FREE, T0, T0, T0, 1},
	    {"each further failure doubles it", CID_THROTTLE_FREE + 3, T0, T0, T0, 8},
	    {"the wait runs from the last failure", CID_THROTTLE_FREE + 3, T0, T0 + 5, T0 + 10, 3},
	    {"a wait that has passed is none", CID_THROTTLE_FREE + 3, T0, T0, T0 + 8, 0},
	    {"the delay is capped", CID_THROTTLE_FREE + 40, T0, T0, T0, CID_THROTTLE_MAX_DELAY},
	    {"a clock set back is capped too", CID_THROTTLE_FREE + 40, T0, T0 + 5000, T0,
	     CID_THROTTLE_MAX_DELAY},
	    {"failures older than the window are forgotten", CID_THROTTLE_FREE + 40, T0, T0,
	     T0 + CID_THROTTLE_WINDOW, 0},
	};

	(void)state;
	assert_int_equal(cid_throttle_wait(NULL, T0), 0);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		json_t *rec =
		    json_pack("{s:I, s:I, s:I}", "n", (json_int_t)rows[i].n, "first",
			      (json_int_t)rows[i].first, "last", (json_int_t)rows[i].last);

		assert_non_null(rec);
		if (cid_throttle_wait(rec, rows[i].now) != rows[i].wait)
			fail_msg("%s: wait %lld, expected %lld", rows[i].what,
				 (long long)cid_throttle_wait(rec, rows[i].now),
				 (long long)rows[i].wait);
		json_decref(rec);
	}
}

static void test_key_is_kind_and_value(void **state)
{
	struct cid_throttle_key k;
	char long_addr[400];

	(void)state;
	cid_throttle_key(&k, "officer", "alice");
	assert_int_equal(k.key.len, strlen("officer:alice"));
	assert_memory_equal(k.key.ptr, "officer:alice", k.key.len);
	/* a value too long is cut, never read past the buffer */
	memset(long_addr, 'a', sizeof(long_addr) - 1);
	long_addr[sizeof(long_addr) - 1] = '\0';
	cid_throttle_key(&k, "addr", long_addr);
	assert_int_equal(k.key.len, CID_THROTTLE_KEY_MAX - 1);
}

struct step {
	struct cid_str key;
	int64_t now;

	enum { COUNT, CLEAR } what;
};

static enum cid_err step_cb(struct cid_txn *txn, void *arg)
{
	const struct step *st = arg;

	return st->what == COUNT ? cid_throttle_fail(txn, st->key, st->now)
				 : cid_throttle_clear(txn, st->key);
}

/* The wait under key at now, and whether a counter exists. */
static int64_t read_at(struct cid_store *s, struct cid_str key, int64_t now, bool *exists)
{
	struct cid_txn *txn = NULL;
	int64_t wait = 0;

	*exists = false;
	assert_int_equal(cid_store_read_begin(s, &txn), CID_OK);
	assert_int_equal(cid_throttle_read(txn, key, now, &wait, exists), CID_OK);
	cid_store_read_end(txn);
	return wait;
}

static void test_count_read_and_clear_on_the_store(void **state)
{
	struct cid_test_store *st = *state;
	struct cid_throttle_key k;
	struct step count = {.what = COUNT, .now = T0};
	struct step clear = {.what = CLEAR};
	bool exists = true;

	cid_throttle_key(&k, "addr", "192.0.2.1");
	count.key = clear.key = k.key;
	assert_int_equal(read_at(st->s, k.key, T0, &exists), 0);
	assert_false(exists);
	/* clearing what is not there is no error */
	assert_int_equal(cid_store_update(st->s, step_cb, &clear), CID_OK);
	for (int i = 0; i < CID_THROTTLE_FREE; i++)
		assert_int_equal(cid_store_update(st->s, step_cb, &count), CID_OK);
	assert_int_equal(read_at(st->s, k.key, T0, &exists), 1);
	assert_true(exists);
	/* after the window, a failure starts a new count */
	count.now = T0 + CID_THROTTLE_WINDOW;
	assert_int_equal(cid_store_update(st->s, step_cb, &count), CID_OK);
	assert_int_equal(read_at(st->s, k.key, count.now, &exists), 0);
	assert_true(exists);
	assert_int_equal(cid_store_update(st->s, step_cb, &clear), CID_OK);
	assert_int_equal(read_at(st->s, k.key, count.now, &exists), 0);
	assert_false(exists);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_wait_follows_the_rule),
	    cmocka_unit_test(test_key_is_kind_and_value),
	    cmocka_unit_test_setup_teardown(test_count_read_and_clear_on_the_store,
					    cid_test_store_setup, cid_test_store_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
