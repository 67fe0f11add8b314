/*
 * sync: a lock and its condition variable made together. A condition made
 * on CLOCK_MONOTONIC times its waits on that clock (a deadline read from it
 * is waited for, not taken as long past, as CLOCK_REALTIME would); a clock
 * a condition cannot use is refused, with nothing made; a deadline so many
 * milliseconds from now is that, its nanoseconds under a second; a time
 * kept in milliseconds on the monotonic clock is that time as a timespec.
 */
#include "support.h"
#include "sync.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

static int64_t ms_of(clockid_t clock)
{
	struct timespec t;

	assert_int_equal(clock_gettime(clock, &t), 0);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Waits on c until until, which must time out. */
static void wait_out(pthread_mutex_t *m, pthread_cond_t *c, const struct timespec *until)
{
	int r = 0;

	pthread_mutex_lock(m);
	while (r == 0)
		r = pthread_cond_timedwait(c, m, until);
	pthread_mutex_unlock(m);
	assert_int_equal(r, ETIMEDOUT);
}

/* A timed wait of 50 ms, its deadline read from clock; how long it took. */
static int64_t waited_ms(pthread_mutex_t *m, pthread_cond_t *c, clockid_t clock)
{
	struct timespec until;
	int64_t t0 = ms_of(CLOCK_MONOTONIC);

	assert_int_equal(cid_sync_deadline(&until, clock, 50), CID_OK);
	wait_out(m, c, &until);
	return ms_of(CLOCK_MONOTONIC) - t0;
}

static void test_each_clock_times_its_own_waits(void **state)
{
	static const clockid_t clocks[] = {CLOCK_MONOTONIC, CLOCK_REALTIME};

	(void)state;
	for (size_t i = 0; i < sizeof(clocks) / sizeof(clocks[0]); i++) {
		pthread_mutex_t m;
		pthread_cond_t c;
		int64_t ms;

		assert_int_equal(cid_sync_init(&m, &c, clocks[i]), CID_OK);
		ms = waited_ms(&m, &c, clocks[i]);
		assert_true(ms >= 45);
		assert_true(ms < 5000);
		cid_sync_destroy(&m, &c);
	}
}

/* A monotonic deadline is seconds since boot: on a wall-clock condition it is long past. */
static void test_a_monotonic_deadline_is_waited_for(void **state)
{
	pthread_mutex_t m;
	pthread_cond_t c;

	(void)state;
	assert_int_equal(cid_sync_init(&m, &c, CLOCK_REALTIME), CID_OK);
	assert_true(waited_ms(&m, &c, CLOCK_MONOTONIC) < 45); /* the mix-up the clock prevents */
	cid_sync_destroy(&m, &c);
}

static void test_a_clock_no_condition_uses_is_refused(void **state)
{
	pthread_mutex_t m;
	pthread_cond_t c;

	(void)state;
	assert_int_equal(cid_sync_init(&m, &c, CLOCK_PROCESS_CPUTIME_ID), CID_ERR_INVALID);
	assert_int_equal(cid_sync_init(&m, &c, CLOCK_MONOTONIC), CID_OK); /* and it still works */
	cid_sync_destroy(&m, &c);
}

/* A deadline is now plus ms on its clock, its nanoseconds under a second. */
static void test_deadline_table(void **state)
{
	static const int64_t rows[] = {0, 1, 999, 1000, 1001, 1999, 10000, 86400000};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct timespec until;
		int64_t before = ms_of(CLOCK_MONOTONIC);
		int64_t at;
		int64_t after;

		assert_int_equal(cid_sync_deadline(&until, CLOCK_MONOTONIC, rows[i]), CID_OK);
		after = ms_of(CLOCK_MONOTONIC);
		assert_true(until.tv_nsec >= 0 && until.tv_nsec < 1000000000L);
		at = (int64_t)until.tv_sec * 1000 + until.tv_nsec / 1000000;
		if (at < before + rows[i] || at > after + rows[i])
			fail_msg("%lld ms: deadline %lld, now %lld..%lld", (long long)rows[i],
				 (long long)at, (long long)before, (long long)after);
	}
	/* a clock that cannot be read leaves the deadline as it was */
	{
		struct timespec kept = {7, 8};

		assert_int_equal(cid_sync_deadline(&kept, (clockid_t)-1, 5), CID_ERR_IO);
		assert_true(kept.tv_sec == 7 && kept.tv_nsec == 8);
	}
}

/* A time kept in milliseconds (cid_sync_now_ms) is that time as a timespec (cid_sync_at). */
static void test_milliseconds_table(void **state)
{
	static const struct {
		int64_t ms;
		time_t sec;
		long nsec;
	} rows[] = {
	    {0, 0, 0},	  {1, 0, 1000000L},    {999, 0, 999000000L},
	    {1000, 1, 0}, {1001, 1, 1000000L}, {86400123, 86400, 123000000L},
	};

	int64_t before = ms_of(CLOCK_MONOTONIC);
	int64_t now = cid_sync_now_ms();
	pthread_mutex_t m;
	pthread_cond_t c;
	struct timespec until;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct timespec at = cid_sync_at(rows[i].ms);

		if (at.tv_sec != rows[i].sec || at.tv_nsec != rows[i].nsec)
			fail_msg("%lld ms: %lld s %ld ns", (long long)rows[i].ms,
				 (long long)at.tv_sec, at.tv_nsec);
	}
	/* the monotonic clock, read as the test reads it */
	assert_true(now >= before && now <= ms_of(CLOCK_MONOTONIC));
	/* a monotonic condition waits until the time it is given */
	assert_int_equal(cid_sync_init(&m, &c, CLOCK_MONOTONIC), CID_OK);
	until = cid_sync_at(cid_sync_now_ms() + 50);
	wait_out(&m, &c, &until);
	assert_true(cid_sync_now_ms() - now >= 49);
	cid_sync_destroy(&m, &c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_each_clock_times_its_own_waits),
	    cmocka_unit_test(test_a_monotonic_deadline_is_waited_for),
	    cmocka_unit_test(test_a_clock_no_condition_uses_is_refused),
	    cmocka_unit_test(test_deadline_table),
	    cmocka_unit_test(test_milliseconds_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
