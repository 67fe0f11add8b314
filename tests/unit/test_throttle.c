/*
 * test_throttle: the failed-login counters shared by citizens and officers:
 * the wait each kind imposes (a table: one row per counter and moment), the
 * keys (what shares a counter and what does not), and reading, counting,
 * clearing and sweeping on a real store.
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
		enum cid_throttle_kind kind;
		int64_t n, first, last, now;
		int64_t wait;
	} rows[] = {
	    {"free failures impose nothing", CID_THROTTLE_PAIR, CID_THROTTLE_FREE - 1, T0, T0, T0,
	     0},
	    {"the first counted failure waits 1 s", CID_THROTTLE_PAIR, CID_THROTTLE_FREE, T0, T0,
	     T0, 1},
	    {"each further failure doubles it", CID_THROTTLE_PAIR, CID_THROTTLE_FREE + 3, T0, T0,
	     T0, 8},
	    {"the wait runs from the last failure", CID_THROTTLE_PAIR, CID_THROTTLE_FREE + 3, T0,
	     T0 + 5, T0 + 10, 3},
	    {"a wait that has passed is none", CID_THROTTLE_PAIR, CID_THROTTLE_FREE + 3, T0, T0,
	     T0 + 8, 0},
	    {"the delay is capped", CID_THROTTLE_PAIR, CID_THROTTLE_FREE + 40, T0, T0, T0,
	     CID_THROTTLE_MAX_DELAY},
	    {"a clock set back is capped too", CID_THROTTLE_PAIR, CID_THROTTLE_FREE + 40, T0,
	     T0 + 5000, T0, CID_THROTTLE_MAX_DELAY},
	    {"failures older than the window are forgotten", CID_THROTTLE_PAIR,
	     CID_THROTTLE_FREE + 40, T0, T0, T0 + CID_THROTTLE_WINDOW, 0},
	    /* an address has a much higher allowance across names */
	    {"an address's free failures", CID_THROTTLE_ADDR, CID_THROTTLE_ADDR_FREE - 1, T0, T0,
	     T0, 0},
	    {"an address past them waits", CID_THROTTLE_ADDR, CID_THROTTLE_ADDR_FREE + 2, T0, T0,
	     T0, 4},
	    {"an address forgets with the window", CID_THROTTLE_ADDR, CID_THROTTLE_ADDR_FREE + 40,
	     T0, T0, T0 + CID_THROTTLE_WINDOW, 0},
	    /* codes: consecutive failures, never forgotten with time */
	    {"a few wrong codes impose nothing", CID_THROTTLE_CODE, CID_THROTTLE_FREE - 1, T0, T0,
	     T0, 0},
	    {"more wrong codes wait as a pair does", CID_THROTTLE_CODE, CID_THROTTLE_FREE + 3, T0,
	     T0, T0, 8},
	    {"the window does not forget wrong codes", CID_THROTTLE_CODE, CID_THROTTLE_FREE + 3, T0,
	     T0 + CID_THROTTLE_WINDOW, T0 + CID_THROTTLE_WINDOW + 1, 7},
	    {"one short of the limit still only waits", CID_THROTTLE_CODE,
	     CID_CODE_MAX_FAILURES - 1, T0, T0, T0 + 86400, 0},
	    {"at the limit the code is locked", CID_THROTTLE_CODE, CID_CODE_MAX_FAILURES, T0, T0,
	     T0, CID_THROTTLE_LOCKED},
	    {"a locked code stays locked a year on", CID_THROTTLE_CODE, CID_CODE_MAX_FAILURES, T0,
	     T0, T0 + 365 * 86400, CID_THROTTLE_LOCKED},
	};

	(void)state;
	/* NIST SP 800-63B §5.2.2: no more than 100 consecutive failures on one account */
	assert_true(CID_CODE_MAX_FAILURES <= 100);
	assert_true(CID_THROTTLE_ADDR_FREE >= 10 * CID_THROTTLE_FREE);
	for (int k = CID_THROTTLE_PAIR; k <= CID_THROTTLE_CODE; k++)
		assert_int_equal(cid_throttle_wait((enum cid_throttle_kind)k, NULL, T0), 0);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		json_t *rec =
		    json_pack("{s:I, s:I, s:I}", "n", (json_int_t)rows[i].n, "first",
			      (json_int_t)rows[i].first, "last", (json_int_t)rows[i].last);
		int64_t got;

		assert_non_null(rec);
		got = cid_throttle_wait(rows[i].kind, rec, rows[i].now);
		if (got != rows[i].wait)
			fail_msg("%s: wait %lld, expected %lld", rows[i].what, (long long)got,
				 (long long)rows[i].wait);
		json_decref(rec);
	}
}

static bool same_key(const struct cid_throttle_key *a, const struct cid_throttle_key *b)
{
	return a->kind == b->kind && a->key.len == b->key.len &&
	       memcmp(a->key.ptr, b->key.ptr, a->key.len) == 0;
}

/* True if key holds the bytes of s. */
static bool holds(struct cid_str key, const char *s)
{
	size_t n = strlen(s);

	for (size_t i = 0; i + n <= key.len; i++)
		if (memcmp(key.ptr + i, s, n) == 0)
			return true;
	return false;
}

static void test_pair_keys(void **state)
{
	static const struct {
		const char *realm1, *name1, *addr1;
		const char *realm2, *name2, *addr2;
		bool same;
	} rows[] = {
	    {"citizen", "hanako", "192.0.2.1", "citizen", "hanako", "192.0.2.1", true},
	    {"citizen", "hanako", "192.0.2.1", "citizen", "HanaKo", "192.0.2.1", true},
	    {"citizen", "hanako", "192.0.2.1", "citizen", "hanako", "192.0.2.2", false},
	    {"citizen", "hanako", "192.0.2.1", "citizen", "taro", "192.0.2.1", false},
	    {"citizen", "hanako", "192.0.2.1", "officer", "hanako", "192.0.2.1", false},
	    /* the parts cannot slide into each other */
	    {"citizen", "a", "1.2.3.4", "citizen", "a1", ".2.3.4", false},
	    /* one IPv6 /64 is one place */
	    {"citizen", "hanako", "2001:db8:1:2::1", "citizen", "hanako", "2001:db8:1:2:ffff::9",
	     true},
	    {"citizen", "hanako", "2001:db8:1:2::1", "citizen", "hanako", "2001:db8:1:3::1", false},
	    {"citizen", "hanako", "::ffff:192.0.2.1", "citizen", "hanako", "192.0.2.1", true},
	    {"citizen", "hanako", NULL, "citizen", "hanako", "", true},
	    {"citizen", NULL, NULL, "citizen", "", NULL, true},
	};
	struct cid_throttle_key a;
	struct cid_throttle_key b;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		cid_throttle_key_pair(&a, rows[i].realm1, rows[i].name1, rows[i].addr1);
		cid_throttle_key_pair(&b, rows[i].realm2, rows[i].name2, rows[i].addr2);
		if (same_key(&a, &b) != rows[i].same)
			fail_msg("row %zu: keys %s", i, rows[i].same ? "differ" : "are the same");
		/* "pair:" and 64 hex digits; the name typed is not kept in clear */
		assert_int_equal(a.key.len, 5 + 64);
		assert_memory_equal(a.key.ptr, "pair:", 5);
		if (rows[i].name1 != NULL && strlen(rows[i].name1) > 2)
			assert_false(holds(a.key, rows[i].name1));
	}
}

static void test_address_and_code_keys(void **state)
{
	static const struct {
		const char *addr;
		const char *key; /* NULL: nothing to count */
	} rows[] = {
	    {"192.0.2.1", "addr:192.0.2.1"},
	    {"::ffff:192.0.2.1", "addr:192.0.2.1"},
	    {"2001:DB8:1:2:3:4:5:6", "addr:2001:db8:1:2::/64"},
	    {"::1", "addr:::/64"},
	    {"not an address", "addr:not an address"},
	    {"", NULL},
	    {NULL, NULL},
	};
	struct cid_throttle_key k;
	char long_name[200];

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		memset(&k, 0, sizeof(k));
		if (cid_throttle_key_addr(&k, rows[i].addr) != (rows[i].key != NULL))
			fail_msg("row %zu: %s", i, rows[i].addr == NULL ? "(null)" : rows[i].addr);
		if (rows[i].key == NULL)
			continue;
		assert_int_equal(k.kind, CID_THROTTLE_ADDR);
		assert_int_equal(k.key.len, strlen(rows[i].key));
		assert_memory_equal(k.key.ptr, rows[i].key, k.key.len);
	}
	cid_throttle_key_code(&k, CID_THROTTLE_OFFICER, "alice");
	assert_int_equal(k.kind, CID_THROTTLE_CODE);
	assert_int_equal(k.key.len, strlen("code:officer:alice"));
	assert_memory_equal(k.key.ptr, "code:officer:alice", k.key.len);
	/* a value too long is cut, never read past the buffer */
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	cid_throttle_key_code(&k, CID_THROTTLE_CITIZEN, long_name);
	assert_int_equal(k.key.len, CID_THROTTLE_KEY_MAX - 1);
}

/* A failure counted or a counter cleared: under one key, or as attempt a (when not NULL). */
struct step {
	const struct cid_throttle_key *key;
	const struct cid_throttle_attempt *a;
	int64_t now;

	enum { COUNT, CLEAR } what;
};

static enum cid_err step_cb(struct cid_txn *txn, void *arg)
{
	const struct step *st = arg;

	if (st->a != NULL)
		return st->what == COUNT ? cid_throttle_attempt_fail(txn, st->a, st->now)
					 : cid_throttle_attempt_clear(txn, st->a);
	return st->what == COUNT ? cid_throttle_fail(txn, st->key, st->now)
				 : cid_throttle_clear(txn, st->key);
}

static void count_n(struct cid_store *s, const struct cid_throttle_key *k, int64_t now, int n)
{
	struct step st = {.key = k, .now = now, .what = COUNT};

	for (int i = 0; i < n; i++)
		assert_int_equal(cid_store_update(s, step_cb, &st), CID_OK);
}

/*
 * The wait under k, or of attempt a when not NULL, at now, and whether the
 * counter (the attempt's first) exists.
 */
static int64_t wait_of(struct cid_store *s, const struct cid_throttle_key *k,
		       const struct cid_throttle_attempt *a, int64_t now, bool *exists)
{
	struct cid_txn *txn = NULL;
	int64_t wait = 0;

	*exists = false;
	assert_int_equal(cid_store_read_begin(s, &txn), CID_OK);
	assert_int_equal(a != NULL ? cid_throttle_attempt_read(txn, a, now, &wait, exists)
				   : cid_throttle_read(txn, k, now, &wait, exists),
			 CID_OK);
	cid_store_read_end(txn);
	return wait;
}

static int64_t read_at(struct cid_store *s, const struct cid_throttle_key *k, int64_t now,
		       bool *exists)
{
	return wait_of(s, k, NULL, now, exists);
}

static void test_count_read_and_clear_on_the_store(void **state)
{
	struct cid_test_store *st = *state;
	struct cid_throttle_key k;
	struct cid_throttle_key code;
	struct step clear = {.what = CLEAR};
	bool exists = true;

	assert_true(cid_throttle_key_addr(&k, "192.0.2.1"));
	clear.key = &k;
	assert_int_equal(read_at(st->s, &k, T0, &exists), 0);
	assert_false(exists);
	/* clearing what is not there is no error */
	assert_int_equal(cid_store_update(st->s, step_cb, &clear), CID_OK);
	count_n(st->s, &k, T0, CID_THROTTLE_ADDR_FREE);
	assert_int_equal(read_at(st->s, &k, T0, &exists), 1);
	assert_true(exists);
	/* after the window, a failure starts a new count */
	count_n(st->s, &k, T0 + CID_THROTTLE_WINDOW, 1);
	assert_int_equal(read_at(st->s, &k, T0 + CID_THROTTLE_WINDOW, &exists), 0);
	assert_true(exists);
	assert_int_equal(cid_store_update(st->s, step_cb, &clear), CID_OK);
	assert_int_equal(read_at(st->s, &k, T0 + CID_THROTTLE_WINDOW, &exists), 0);
	assert_false(exists);

	/* a code counter counts on across windows up to its lock */
	cid_throttle_key_code(&code, CID_THROTTLE_CITIZEN, "00000000-0000-4000-8000-000000000001");
	for (int i = 0; i < CID_CODE_MAX_FAILURES - 1; i++)
		count_n(st->s, &code, T0 + (int64_t)i * CID_THROTTLE_WINDOW, 1);
	assert_int_not_equal(read_at(st->s, &code, T0 + 100 * CID_THROTTLE_WINDOW, &exists),
			     CID_THROTTLE_LOCKED);
	count_n(st->s, &code, T0 + 100 * CID_THROTTLE_WINDOW, 1);
	assert_int_equal(read_at(st->s, &code, T0 + 1000 * CID_THROTTLE_WINDOW, &exists),
			 CID_THROTTLE_LOCKED);
	clear.key = &code;
	assert_int_equal(cid_store_update(st->s, step_cb, &clear), CID_OK);
	assert_int_equal(read_at(st->s, &code, T0 + 1000 * CID_THROTTLE_WINDOW, &exists), 0);
	assert_false(exists);
}

static enum cid_err put_raw(struct cid_txn *txn, void *arg)
{
	const char *const *kv = arg;

	return cid_txn_put(txn, CID_DB_THROTTLE, cid_str_of(kv[0]), cid_str_of(kv[1]), 0);
}

static enum cid_err count_one(struct cid_str key, struct cid_str val, void *arg)
{
	(void)key;
	(void)val;
	(*(size_t *)arg)++;
	return CID_OK;
}

static size_t count_records(struct cid_store *s)
{
	struct cid_txn *txn = NULL;
	size_t n = 0;

	assert_int_equal(cid_store_read_begin(s, &txn), CID_OK);
	assert_int_equal(
	    cid_txn_foreach(txn, CID_DB_THROTTLE, (struct cid_str){NULL, 0}, count_one, &n),
	    CID_OK);
	cid_store_read_end(txn);
	return n;
}

/* What a login attempt reads, counts and clears, for citizens' and officers' logins alike. */
static void test_attempt_counts_in_both_and_clears_only_its_first(void **state)
{
	struct cid_test_store *st = *state;
	struct cid_throttle_attempt a;
	struct cid_throttle_attempt bare;
	struct cid_throttle_attempt code;
	struct cid_throttle_key pair;
	struct cid_throttle_key addr;
	struct step fail = {.a = &a, .now = T0, .what = COUNT};
	struct step good = {.a = &a, .now = T0, .what = CLEAR};
	char long_addr[CID_MAX_ADDR + 2];
	bool counted = true;
	bool exists = false;

	/* an address longer than any is refused, not cut */
	memset(long_addr, '1', sizeof(long_addr) - 1);
	long_addr[sizeof(long_addr) - 1] = '\0';
	assert_int_equal(
	    cid_throttle_attempt_password(&a, CID_THROTTLE_CITIZEN, "hanako", long_addr),
	    CID_ERR_INVALID);
	assert_int_equal(cid_throttle_attempt_code(&a, CID_THROTTLE_CITIZEN, "x", long_addr),
			 CID_ERR_INVALID);

	/* the keys are the ones the counters are known by */
	assert_int_equal(
	    cid_throttle_attempt_password(&a, CID_THROTTLE_OFFICER, "alice", "192.0.2.1"), CID_OK);
	cid_throttle_key_pair(&pair, CID_THROTTLE_OFFICER, "alice", "192.0.2.1");
	assert_true(cid_throttle_key_addr(&addr, "192.0.2.1"));
	assert_true(same_key(&a.first, &pair));
	assert_true(a.has_addr && same_key(&a.addr, &addr));

	/* a failure counts for the pair and for the address */
	assert_int_equal(wait_of(st->s, NULL, &a, T0, &counted), 0);
	assert_false(counted);
	assert_int_equal(cid_store_update(st->s, step_cb, &fail), CID_OK);
	read_at(st->s, &pair, T0, &exists);
	assert_true(exists);
	read_at(st->s, &addr, T0, &exists);
	assert_true(exists);
	assert_int_equal(wait_of(st->s, NULL, &a, T0, &counted), 0);
	assert_true(counted);
	/* a success clears the pair, never the address */
	assert_int_equal(cid_store_update(st->s, step_cb, &good), CID_OK);
	read_at(st->s, &pair, T0, &exists);
	assert_false(exists);
	read_at(st->s, &addr, T0, &exists);
	assert_true(exists);

	/* the wait is the larger of the two: the address's, though the pair has none */
	count_n(st->s, &addr, T0, CID_THROTTLE_ADDR_FREE - 1);
	assert_int_equal(wait_of(st->s, NULL, &a, T0, &counted), 1);
	assert_false(counted);

	/* without an address only the first counter is read and counted */
	assert_int_equal(cid_throttle_attempt_password(&bare, CID_THROTTLE_CITIZEN, "taro", ""),
			 CID_OK);
	assert_false(bare.has_addr);
	assert_int_equal(wait_of(st->s, NULL, &bare, T0, &counted), 0);
	fail.a = &bare;
	assert_int_equal(count_records(st->s), 1);
	assert_int_equal(cid_store_update(st->s, step_cb, &fail), CID_OK);
	assert_int_equal(count_records(st->s), 2);
	assert_int_equal(wait_of(st->s, NULL, &bare, T0, &counted), 0);
	assert_true(counted);

	/* a code attempt reads the code's counter, lock included, with the address's */
	assert_int_equal(cid_throttle_attempt_code(&code, CID_THROTTLE_CITIZEN,
						   "00000000-0000-4000-8000-000000000003",
						   "192.0.2.1"),
			 CID_OK);
	assert_int_equal(code.first.kind, CID_THROTTLE_CODE);
	assert_int_equal(wait_of(st->s, NULL, &code, T0, &counted), 1);
	fail.a = &code;
	for (int i = 0; i < CID_CODE_MAX_FAILURES; i++)
		assert_int_equal(cid_store_update(st->s, step_cb, &fail), CID_OK);
	assert_int_equal(wait_of(st->s, NULL, &code, T0, &counted), CID_THROTTLE_LOCKED);
	good.a = &code;
	assert_int_equal(cid_store_update(st->s, step_cb, &good), CID_OK);
	assert_int_equal(wait_of(st->s, NULL, &code, T0, &counted),
			 read_at(st->s, &addr, T0, &exists));
	assert_false(counted);
}

/* One failure at T0 for each of *arg names from one address, in one transaction. */
static enum cid_err flood_cb(struct cid_txn *txn, void *arg)
{
	enum cid_err rc = CID_OK;
	struct cid_throttle_key k;
	char name[32];

	for (int i = 0; i < *(const int *)arg && rc == CID_OK; i++) {
		snprintf(name, sizeof(name), "nobody-%d", i);
		cid_throttle_key_pair(&k, CID_THROTTLE_CITIZEN, name, "192.0.2.1");
		rc = cid_throttle_fail(txn, &k, T0);
	}
	return rc;
}

static void test_sweep_removes_what_the_window_forgot(void **state)
{
	struct cid_test_store *st = *state;
	int names = 2500; /* more than one sweep transaction removes */
	struct cid_throttle_key k;
	struct cid_throttle_key code;
	struct cid_throttle_key fresh;
	const char *garbage[] = {"pair:damaged", "not json"};
	size_t removed = 0;
	bool exists = false;

	/* a flood of names tried once, none of which exists */
	assert_int_equal(cid_store_update(st->s, flood_cb, &names), CID_OK);
	assert_true(cid_throttle_key_addr(&k, "192.0.2.1"));
	count_n(st->s, &k, T0, 1);
	cid_throttle_key_code(&code, CID_THROTTLE_CITIZEN, "00000000-0000-4000-8000-000000000002");
	count_n(st->s, &code, T0, 3);
	cid_throttle_key_pair(&fresh, CID_THROTTLE_CITIZEN, "hanako", "192.0.2.9");
	count_n(st->s, &fresh, T0 + CID_THROTTLE_WINDOW - 1, 1);
	assert_int_equal(cid_store_update(st->s, put_raw, garbage), CID_OK);
	assert_int_equal(count_records(st->s), (size_t)names + 4);

	/* nothing has expired yet */
	assert_int_equal(cid_throttle_sweep(st->s, T0 + CID_THROTTLE_WINDOW - 1, &removed), CID_OK);
	assert_int_equal(removed, 1); /* the damaged record only */
	/* then every windowed counter past its window goes; codes and fresh ones stay */
	assert_int_equal(cid_throttle_sweep(st->s, T0 + CID_THROTTLE_WINDOW, &removed), CID_OK);
	assert_int_equal(removed, (size_t)names + 1);
	assert_int_equal(count_records(st->s), 2);
	assert_int_equal(read_at(st->s, &code, T0 + CID_THROTTLE_WINDOW, &exists), 0);
	assert_true(exists);
	read_at(st->s, &fresh, T0 + CID_THROTTLE_WINDOW, &exists);
	assert_true(exists);
	/* an empty sweep is fine; removed may be NULL */
	assert_int_equal(cid_throttle_sweep(st->s, T0 + CID_THROTTLE_WINDOW, NULL), CID_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_wait_follows_the_rule),
	    cmocka_unit_test(test_pair_keys),
	    cmocka_unit_test(test_address_and_code_keys),
	    cmocka_unit_test_setup_teardown(test_count_read_and_clear_on_the_store,
					    cid_test_store_setup, cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_attempt_counts_in_both_and_clears_only_its_first,
					    cid_test_store_setup, cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_sweep_removes_what_the_window_forgot,
					    cid_test_store_setup, cid_test_store_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
