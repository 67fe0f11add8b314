/*
 * logout_notify: telling the services of an SSO session that it ended, so
 * that one logout signs the citizen out everywhere.
 *
 * Back-channel (OpenID Connect Back-Channel Logout 1.0): the store queues a
 * notice per service (logout.h) in the transaction that ends the session;
 * a worker thread of the server sends each as a form POST of a signed logout
 * token to the service's backchannel_logout_uri, many at once
 * (backchannel_logout_concurrency), each try bounded in time, failed ones
 * tried again later with a growing wait, and writes the end of each to the
 * audit log: "logout.delivered" or "logout.failed" (audit.h). Nothing of it
 * runs on the request that ended the session, which answers at once however
 * slow or unreachable the services are. The logout token (§2.4) is a JWT
 * with typ "logout+jwt", signed like the service's ID tokens with the active
 * key (ES256 unless it registered RS256): iss, aud (the service), iat, exp
 * (CID_LOGOUT_TOKEN_TTL later), jti, sid (the ID tokens' sid), sub (the
 * service's own subject of the citizen), events; never a nonce.
 *
 * Front-channel (Front-Channel Logout 1.0): the page that says the citizen
 * is logged out loads each frontchannel_logout_uri of the session's services
 * in a hidden frame, with iss and sid when the service asked for them; its
 * Content-Security-Policy allows framing exactly those origins.
 * Thread-safe, except a sender, which one thread drives.
 */
#ifndef CID_LOGOUT_NOTIFY_H
#define CID_LOGOUT_NOTIFY_H

#include "cid.h"
#include "client.h"
#include "err.h"
#include "logout.h"
#include "reply.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

/* The event a logout token carries (Back-Channel Logout 1.0 §2.4). */
#define CID_LOGOUT_EVENT "http://schemas.openid.net/event/backchannel-logout"

/* What ending a session gives the page that reports it. */
struct cid_logout_done {
	struct cid_logout_ended ended;
	/* the front-channel frames: [{"name": the service's, "url"}]; owned */
	json_t *frames;
	/* their origins, space-separated, for the page's frame-src; NULL: no frame; owned */
	char *frame_src;
};

/* Releases what d holds and zeroes it. NULL is a no-op. */
void cid_logout_done_clear(struct cid_logout_done *d);

/*
 * The one way a citizen's SSO session ends on purpose: ends the session of
 * cookie, or, cookie NULL, the one whose public id is sid, for cause (a
 * CID_LOGOUT_CAUSE_* of logout.h), at now; queues the back-channel notices
 * of its services (the server's worker sends them: nothing is sent here);
 * and builds in *out (may be NULL; clear it with cid_logout_done_clear) the
 * front-channel frames of its services, at most CID_LOGOUT_MAX_FRAMES,
 * which cid_logout_page_frames puts on a page.
 * Errors: those of cid_logout_end_session (CID_ERR_NOTFOUND: no such
 * session), CID_ERR_TOOBIG (a frame URL over CID_MAX_URI * 2), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_logout_end(struct cid_ctx *ctx, const char *cookie, const char *sid,
					   const char *cause, int64_t now,
					   struct cid_logout_done *out);

/*
 * Moves the frames of done into a page: data gets "frames" (the array,
 * possibly empty) and reply->frame_src the origins, so the page's
 * Content-Security-Policy allows them. done keeps nothing of them.
 * Errors: CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_logout_page_frames(struct cid_logout_done *done, json_t *data,
						   struct cid_reply *reply);

/*
 * Mints the logout token of the session sid of citizen account_id for
 * client (the module comment says what it holds), signed by ks with
 * client's ID-token algorithm, the subject as cid_token_subject gives it
 * under ps. *out: new string, caller frees.
 * Errors: CID_ERR_INVALID (sid or account_id NULL), CID_ERR_CRYPTO,
 * CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_logout_token_mint(struct cid_ctx *ctx, const struct cid_keyset *ks,
						  const struct cid_policyset *ps,
						  const struct cid_client *client,
						  const char *account_id, const char *sid,
						  int64_t now, char **out);

/*
 * A sender: claims due notices of ctx's store and sends them under the
 * configuration's limits (backchannel_logout_*). Driven by one thread.
 * A notice counts as delivered when the service answers 200 or 204
 * (§2.8); anything else, or no answer in time, is a failed try.
 */
struct cid_logout_sender;

/* A new sender for ctx (borrowed). *out: free with cid_logout_sender_free. Errors: CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_logout_sender_new(struct cid_ctx *ctx,
						  struct cid_logout_sender **out);

/*
 * Abandons the tries in flight (their notices are tried again when their
 * lease runs out) and frees s. NULL is a no-op.
 */
void cid_logout_sender_free(struct cid_logout_sender *s);

/*
 * One round: claims the notices due at now while places are free, starts
 * their POSTs, drives those in flight for up to wait_ms, and settles each
 * that ended (at now): delivered or given up, with its audit entry in the
 * same transaction; failed, queued again (logout.h). A notice that cannot
 * be sent at all (its service was removed, or has no back-channel URI any
 * more) is given up at once.
 * Errors: CID_ERR_STORE, CID_ERR_IO, CID_ERR_NOMEM (what is in flight
 * stays in flight).
 */
CID_MUST_CHECK enum cid_err cid_logout_sender_step(struct cid_logout_sender *s, int64_t now,
						   int wait_ms);

/* The tries in flight. */
size_t cid_logout_sender_active(const struct cid_logout_sender *s);

/* Ends the wait of a cid_logout_sender_step in progress. Safe from any thread. */
void cid_logout_sender_wake(struct cid_logout_sender *s);

/*
 * The server's worker: a thread that steps a sender at the real time every
 * CID_LOGOUT_POLL_MS (or sooner when a POST ends), picking up the notices
 * queued by any process on the store (a `civicid user disable` included).
 * A failing round is reported once to errors (may be NULL) until one
 * succeeds again. *out is stopped with cid_logout_worker_stop.
 * Errors: CID_ERR_NOMEM, CID_ERR_IO (no thread).
 */
struct cid_logout_worker;

CID_MUST_CHECK enum cid_err cid_logout_worker_start(struct cid_ctx *ctx, FILE *errors,
						    struct cid_logout_worker **out);

/* Stops the thread (within one round), abandons what is in flight, frees w. NULL is a no-op. */
void cid_logout_worker_stop(struct cid_logout_worker *w);

struct cid_tenants;

/* How often the tenants' worker looks for tenants not open with notices due (s). */
#define CID_LOGOUT_TENANT_SCAN 15

/*
 * The worker of a server with several cities (tenant.h): still one thread,
 * which each round gives every opened tenant a sender of its own (made the
 * first time a notice of that tenant is due: an opened tenant that never
 * sends one pays no sender's places and HTTP handle) and steps each without
 * waiting, then pauses CID_LOGOUT_POLL_MS: a tenant's notices go out under
 * its own keys and limits, and no tenant costs a thread. At its start and
 * every CID_LOGOUT_TENANT_SCAN seconds it also opens the tenants no request
 * opened that have notices due (cid_tenants_open_due: queued by the CLI, or
 * left by a restart). t must outlive the worker.
 * Errors: those of cid_logout_worker_start. Stopped with cid_logout_worker_stop.
 */
CID_MUST_CHECK enum cid_err cid_logout_worker_start_tenants(struct cid_tenants *t, FILE *errors,
							    struct cid_logout_worker **out);

#endif
