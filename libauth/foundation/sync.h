/*
 * sync: a lock and the condition variable that waits under it, made
 * together, which is how every thread-shared object of civicid holds its
 * state (the audit log, the hash gate, a request batch, the server's guard
 * and pools). A condition's timed waits measure their deadline on the clock
 * it is made with: CLOCK_MONOTONIC, which a change of the date does not
 * move, for a deadline that is "so long from now".
 *
 * Thread-safe as POSIX makes the pair: made and ended by one thread, before
 * and after the others use it.
 */
#ifndef CID_SYNC_H
#define CID_SYNC_H

#include "err.h"

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/*
 * Makes *m and *c, c's timed waits on clock (CLOCK_MONOTONIC or
 * CLOCK_REALTIME). Errors: CID_ERR_INVALID (clock is not one a condition
 * can wait on), CID_ERR_NOMEM (the system refused one); then neither is
 * made.
 */
CID_MUST_CHECK enum cid_err cid_sync_init(pthread_mutex_t *m, pthread_cond_t *c, clockid_t clock);

/* Ends *m and *c, made by cid_sync_init; no thread may wait on or hold them. */
void cid_sync_destroy(pthread_mutex_t *m, pthread_cond_t *c);

/*
 * Into *until, the time on clock ms milliseconds (0 or more) from now, for a
 * timed wait of a condition made on that clock. Error: CID_ERR_IO (the clock
 * could not be read; *until is then unchanged).
 */
CID_MUST_CHECK enum cid_err cid_sync_deadline(struct timespec *until, clockid_t clock, int64_t ms);

/*
 * The time on CLOCK_MONOTONIC in milliseconds, for deadlines kept as numbers
 * (a watchdog's list); cid_sync_at turns one into a timed wait's timespec.
 * CLOCK_MONOTONIC cannot fail to be read on Linux; were it to, 0.
 */
int64_t cid_sync_now_ms(void);

/* The timespec of ms, a time on the clock in milliseconds (cid_sync_now_ms's), 0 or more. */
struct timespec cid_sync_at(int64_t ms);

#endif
