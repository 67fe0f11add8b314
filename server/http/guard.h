/*
 * guard: the connection bounds libmicrohttpd does not give.
 *
 * MHD's idle timeout restarts with every byte, so a client that sends its
 * request one byte at a time holds a connection forever; and at its
 * connection limit MHD stops accepting, so idle connections make every new
 * client wait in the kernel's backlog until a timeout frees a slot. The guard
 * bounds both: a request must arrive whole by a deadline, and above a
 * high-water mark the connections waiting longest for a request are closed.
 */
#ifndef CID_GUARD_H
#define CID_GUARD_H

#include "err.h"

#include <microhttpd.h>

struct cid_guard;

/*
 * A guard for at most max_connections connections whose idle timeout is
 * idle_timeout seconds, with its watchdog thread started. *out is freed with
 * cid_guard_free. Pass cid_guard_notify and *out as MHD_OPTION_NOTIFY_CONNECTION.
 * Errors: CID_ERR_NOMEM, CID_ERR_IO (the thread cannot start).
 */
CID_MUST_CHECK enum cid_err cid_guard_new(unsigned max_connections, unsigned idle_timeout,
					  struct cid_guard **out);

/*
 * Stops the watchdog and frees g; call it after MHD_stop_daemon, when every
 * connection has been notified closed. NULL is a no-op.
 */
void cid_guard_free(struct cid_guard *g);

/*
 * The MHD_NotifyConnectionCallback: STARTED begins tracking a connection
 * (it waits for a request from now on) and, above the high-water mark, closes
 * the connections that have waited longest; CLOSED stops tracking it.
 * Thread-safe; *socket_context belongs to the guard.
 */
void cid_guard_notify(void *cls, struct MHD_Connection *mhd, void **socket_context,
		      enum MHD_ConnectionNotificationCode toe);

/*
 * A whole request (head and body) has arrived on mhd: no deadline and no
 * eviction until cid_guard_waiting. Call from the access handler. Thread-safe.
 */
void cid_guard_received(struct cid_guard *g, struct MHD_Connection *mhd);

/*
 * The answer on mhd is done and the connection waits for the next request,
 * which must arrive whole within the idle timeout plus CID_REQUEST_DEADLINE.
 * Call from NOTIFY_COMPLETED. Thread-safe.
 */
void cid_guard_waiting(struct cid_guard *g, struct MHD_Connection *mhd);

#endif
