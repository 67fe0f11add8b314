/*
 * guard: every connection is tracked from MHD's NOTIFY_CONNECTION STARTED to
 * CLOSED. One that waits for a request (new, or kept alive after an answer)
 * sits on the waiting list, oldest first, with a deadline by which the whole
 * request must have arrived. A watchdog closes those past their deadline each
 * CID_REQUEST_CHECK_MS; when a new connection takes the count over the
 * high-water mark, the ones waiting longest are closed at once, so there is
 * always room for a client that is about to send a request. A connection
 * whose request is being answered (or waits for a login worker) is never cut.
 *
 * Closing is shutdown(2) on the socket: MHD sees the end of the stream and
 * cleans up in its own thread. The descriptor cannot be reused meanwhile,
 * since MHD closes it only after the CLOSED notification, which takes our lock.
 */
#include "guard.h"

#include "bounds.h"
#include "sync.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

struct watched {
	struct watched *prev, *next; /* on the waiting list */
	MHD_socket fd;
	int64_t deadline_ms; /* the whole request by then */
	bool waiting;	     /* on the waiting list */
	bool closing;	     /* shut down; MHD has not noticed yet */
};

struct cid_guard {
	pthread_mutex_t lock;
	pthread_cond_t wake; /* CLOCK_MONOTONIC; signalled to stop */
	pthread_t watchdog;
	bool started, stopping;
	struct watched *head, *tail; /* waiting for a request, oldest first */
	unsigned count;		     /* tracked connections */
	unsigned closing;	     /* of them, shut down and not yet closed */
	unsigned high;		     /* above this many open, cut the oldest waiting */
	int64_t keepalive_ms;	     /* the idle timeout */
};

static void unlink_waiting(struct cid_guard *g, struct watched *w)
{
	if (!w->waiting)
		return;
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		g->head = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	else
		g->tail = w->prev;
	w->prev = w->next = NULL;
	w->waiting = false;
}

static void append_waiting(struct cid_guard *g, struct watched *w, int64_t deadline_ms)
{
	w->deadline_ms = deadline_ms;
	w->prev = g->tail;
	w->next = NULL;
	if (g->tail != NULL)
		g->tail->next = w;
	else
		g->head = w;
	g->tail = w;
	w->waiting = true;
}

/* Closes w's connection; MHD notices in its thread. Called with the lock held. */
static void cut(struct cid_guard *g, struct watched *w)
{
	unlink_waiting(g, w);
	shutdown(w->fd, SHUT_RDWR);
	w->closing = true;
	g->closing++;
}

static void *watchdog(void *arg)
{
	struct cid_guard *g = arg;

	(void)pthread_setname_np(pthread_self(), "cid-watchdog");
	pthread_mutex_lock(&g->lock);
	while (!g->stopping) {
		int64_t now = cid_sync_now_ms();
		int64_t wake = now + CID_REQUEST_CHECK_MS;
		struct timespec until = cid_sync_at(wake);
		struct watched *w = g->head;

		while (w != NULL) {
			struct watched *next = w->next;

			if (now >= w->deadline_ms)
				cut(g, w);
			w = next;
		}
		while (!g->stopping && cid_sync_now_ms() < wake)
			pthread_cond_timedwait(&g->wake, &g->lock, &until);
	}
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

enum cid_err cid_guard_new(unsigned max_connections, unsigned idle_timeout, struct cid_guard **out)
{
	enum cid_err rc = CID_OK;
	struct cid_guard *g = calloc(1, sizeof(*g));
	unsigned spare = max_connections * CID_CONN_SPARE_PCT / 100;

	CID_ENSURE(g != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_sync_init(&g->lock, &g->wake, CLOCK_MONOTONIC));
	g->high = max_connections - (spare > 0 ? spare : 1);
	g->keepalive_ms = (int64_t)idle_timeout * 1000;
	CID_ENSURE(pthread_create(&g->watchdog, NULL, watchdog, g) == 0, CID_ERR_IO);
	g->started = true;
	*out = g;
	g = NULL;
out:
	cid_guard_free(g);
	return rc;
}

void cid_guard_free(struct cid_guard *g)
{
	if (g == NULL)
		return;
	if (g->started) {
		pthread_mutex_lock(&g->lock);
		g->stopping = true;
		pthread_cond_signal(&g->wake);
		pthread_mutex_unlock(&g->lock);
		pthread_join(g->watchdog, NULL);
	}
	cid_sync_destroy(&g->lock, &g->wake);
	free(g);
}

static struct watched *watched_of(struct MHD_Connection *mhd)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(mhd, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci != NULL ? ci->socket_context : NULL;
}

static void started(struct cid_guard *g, struct MHD_Connection *mhd, void **socket_context)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(mhd, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct watched *w;

	if (ci == NULL)
		return;
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		/* untracked, it would escape every bound: refuse it */
		shutdown(ci->connect_fd, SHUT_RDWR);
		return;
	}
	w->fd = ci->connect_fd;
	pthread_mutex_lock(&g->lock);
	g->count++;
	append_waiting(g, w, cid_sync_now_ms() + (int64_t)CID_REQUEST_DEADLINE * 1000);
	while (g->count - g->closing > g->high && g->head != w)
		cut(g, g->head);
	pthread_mutex_unlock(&g->lock);
	*socket_context = w;
}

static void closed(struct cid_guard *g, void **socket_context)
{
	struct watched *w = *socket_context;

	if (w == NULL)
		return;
	pthread_mutex_lock(&g->lock);
	unlink_waiting(g, w);
	if (w->closing)
		g->closing--;
	g->count--;
	pthread_mutex_unlock(&g->lock);
	free(w);
	*socket_context = NULL;
}

void cid_guard_notify(void *cls, struct MHD_Connection *mhd, void **socket_context,
		      enum MHD_ConnectionNotificationCode toe)
{
	struct cid_guard *g = cls;

	switch (toe) {
	case MHD_CONNECTION_NOTIFY_STARTED: started(g, mhd, socket_context); break;
	case MHD_CONNECTION_NOTIFY_CLOSED: closed(g, socket_context); break;
	default: break;
	}
}

void cid_guard_received(struct cid_guard *g, struct MHD_Connection *mhd)
{
	struct watched *w = watched_of(mhd);

	if (w == NULL)
		return;
	pthread_mutex_lock(&g->lock);
	unlink_waiting(g, w);
	pthread_mutex_unlock(&g->lock);
}

void cid_guard_waiting(struct cid_guard *g, struct MHD_Connection *mhd)
{
	struct watched *w = watched_of(mhd);

	if (w == NULL)
		return;
	pthread_mutex_lock(&g->lock);
	if (!w->closing && !w->waiting)
		append_waiting(g, w,
			       cid_sync_now_ms() + g->keepalive_ms +
				   (int64_t)CID_REQUEST_DEADLINE * 1000);
	pthread_mutex_unlock(&g->lock);
}
