/*
 * sync: a lock and its condition variable, made together (sync.h).
 */
#include "sync.h"

#include <stdbool.h>

enum cid_err cid_sync_init(pthread_mutex_t *m, pthread_cond_t *c, clockid_t clock)
{
	enum cid_err rc = CID_ERR_NOMEM;
	pthread_condattr_t attr;

	if (pthread_condattr_init(&attr) != 0)
		return CID_ERR_NOMEM;
	if (pthread_condattr_setclock(&attr, clock) != 0)
		rc = CID_ERR_INVALID;
	else if (pthread_mutex_init(m, NULL) == 0) {
		if (pthread_cond_init(c, &attr) == 0)
			rc = CID_OK;
		else
			pthread_mutex_destroy(m);
	}
	pthread_condattr_destroy(&attr);
	return rc;
}

void cid_sync_destroy(pthread_mutex_t *m, pthread_cond_t *c)
{
	pthread_cond_destroy(c);
	pthread_mutex_destroy(m);
}

/* Into *ms, the time on clock in milliseconds; false if it cannot be read. */
static bool ms_on(clockid_t clock, int64_t *ms)
{
	struct timespec ts;

	if (clock_gettime(clock, &ts) != 0)
		return false;
	*ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	return true;
}

enum cid_err cid_sync_deadline(struct timespec *until, clockid_t clock, int64_t ms)
{
	int64_t now;

	if (!ms_on(clock, &now))
		return CID_ERR_IO;
	*until = cid_sync_at(now + ms);
	return CID_OK;
}

int64_t cid_sync_now_ms(void)
{
	int64_t now = 0;

	(void)ms_on(CLOCK_MONOTONIC, &now);
	return now;
}

struct timespec cid_sync_at(int64_t ms)
{
	struct timespec at = {.tv_sec = (time_t)(ms / 1000),
			      .tv_nsec = (long)(ms % 1000) * 1000000L};

	return at;
}
