/*
 * daemon: libmicrohttpd set-up, the per-request context, and dispatch.
 *
 * MHD runs a pool of epoll threads. Requests are answered on the last call of
 * the access handler (answering on the first makes MHD close the connection).
 * Bodies are collected up to CID_MAX_BODY; more gets 413, and what still
 * comes is read and dropped (the guard's request deadline bounds it).
 * The login POST costs one argon2id hash (tens of ms), which would stall every
 * connection of its polling thread, so it is handed to a small pool of login
 * workers while the connection is suspended, and resumed when they are done
 * (libauth bounds the hashes at once, argon2_at_once: more workers than that
 * keep the cores hashing while others wait for their login's commits). A
 * tenant's first open (its store read, its keys made) is handed the same way
 * to an opener thread of its own, so that one new tenant does not hold up the
 * requests of the others on its polling thread, nor a burst of new tenants
 * the open tenants' logins. A request that may wait for a durable write of
 * the store (a pending authorization, a code, a consent, a revocation: the
 * endpoint's row says so, libauth's cid_endpoint_run) is handed the same way
 * to a writer thread, so that a slow or hung disk holds up those requests
 * and not the other connections of their polling thread; what runs on a
 * polling thread only reads, and a handful of them per core is enough.
 * A request whose answer releases attributes (userinfo, a token answer with an
 * ID token) is answered on its polling thread, but its audit entries are only
 * made there (the request's audit_later): the connection is suspended and the
 * entries submitted to the log's group commit (cid_audit_submit), and the
 * answer is sent when the log says they are durable, or a server error when
 * their commit failed. Once the server is stopping, such an answer is refused
 * (503, as a write is): its commit could wait, on the polling thread, for
 * the disk the stop is waiting for.
 * MHD gives one polling thread up to max_connections/threads connections, so
 * a handler that blocked there for the fsync would stall them all; a thread
 * that waited for it in their stead (as a pool of commit workers did) cost
 * two more thread switches per request, the most of its CPU on this path.
 * The guard (guard.h) bounds what MHD does not: how long a request may take
 * to arrive, and who gives way when connections near the limit.
 */
#include "http.h"

#include "bounds.h"
#include "buf.h"
#include "frame.h"
#include "guard.h"
#include "netaddr.h"
#include "oidc.h"
#include "reply.h"
#include "route.h"
#include "sync.h"
#include "tenant.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>

/* Worker threads answering suspended connections, in the order queued. */
struct pool {
	struct cid_http *h;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct conn *head, *tail; /* jobs waiting for a worker */
	bool stopping;		  /* set once: no job is queued after it */
	pthread_t *workers;
	unsigned n_workers;
	const char *name; /* of its threads, as top -H and perf show them */
};

struct cid_http {
	struct MHD_Daemon *mhd;
	struct cid_guard *guard;
	struct cid_ctx *ctx;	     /* the single city's, or NULL when tenants */
	struct cid_tenants *tenants; /* several cities (tenant.h), or NULL */
	const struct cid_templates *tpl;
	struct pool login;  /* slow endpoints: argon2id, log scans, upstream calls */
	struct pool writer; /* endpoints that may wait for a durable write of the store */
	/* a tenant's first open, one at a time (the map opens one at a time anyway):
	 * a burst of requests for unopened tenants waits here, not in the login
	 * pool, so the open tenants' logins never queue behind it */
	struct pool opener;
	/*
	 * What cid_http_stop waits for before it stops MHD. Both counters change
	 * without a lock while requests are in flight (the polling threads and
	 * the log's committer would otherwise meet on one mutex twice per
	 * request); only the step to 0 takes the lock (count_down), and stop
	 * reads them under it.
	 */
	pthread_mutex_t audits_lock;
	pthread_cond_t audits_idle; /* audits or owed down to 0, while stopping */
	/* answers waiting for their audit entries (audit_later): submitted, not
	   yet told; MHD must resume them */
	atomic_uint audits;
	/* requests suspended for a worker or the log, not yet completed (sent or
	   dropped by their client): let them be sent, as MHD would close their
	   connections unanswered */
	atomic_uint owed;
	/* set first by cid_http_stop: an answer's entries are then written in place */
	atomic_bool stopping;
};

/* One request's state, from the first handler call to NOTIFY_COMPLETED. */
struct conn {
	struct cid_http *h;
	struct cid_ctx *ctx; /* the city asked: h->ctx, or the tenant of the path */
	struct MHD_Connection *mhd;
	struct conn *next; /* in a worker pool's queue */
	const struct cid_endpoint *route;
	struct cid_buf body;
	bool too_big;
	bool received;	/* the whole request is in: the guard no longer times it */
	bool in_worker; /* a worker, or the audit log, owns req/reply until it resumes us */
	bool done;	/* the worker finished, or the entries were written; reply is ready */
	bool opening;	/* the worker's job is the tenant's first open, not the answer */
	bool owed;	/* counted in h->owed: suspended once, not yet completed */
	struct cid_audit_pending *audit; /* submitted entries: the log's until it tells us */
	struct cid_request req;
	struct cid_reply reply;
	char addr[INET6_ADDRSTRLEN];
	struct cid_buf forwarded_for;	/* every X-Forwarded-For value, joined by commas */
	struct cid_buf forwarded;	/* every Forwarded value, joined by commas */
	char *path;			/* the path asked for (owned), the request's path */
	struct cid_tenant_route tenant; /* the tenant asked for; name "" for none */
	enum cid_err rc;
};

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

static void conn_free(struct conn *c)
{
	if (c == NULL)
		return;
	cid_buf_free(&c->body);
	cid_buf_free(&c->forwarded_for);
	cid_buf_free(&c->forwarded);
	free(c->path);
	cid_request_clear(&c->req);
	cid_reply_free(&c->reply);
	cid_audit_pending_free(c->audit);
	free(c);
}

static void open_tenant(struct conn *c);

static void *pool_worker(void *arg)
{
	struct pool *p = arg;

	(void)pthread_setname_np(pthread_self(), p->name);
	for (;;) {
		struct conn *c;

		pthread_mutex_lock(&p->lock);
		while (p->head == NULL && !p->stopping)
			pthread_cond_wait(&p->cond, &p->lock);
		c = p->head;
		if (c == NULL) {
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		p->head = c->next;
		if (p->head == NULL)
			p->tail = NULL;
		pthread_mutex_unlock(&p->lock);
		if (c->opening)
			open_tenant(c);
		else
			c->rc = cid_endpoint_answer(c->ctx, c->route, &c->req, &c->reply);
		c->done = true;
		MHD_resume_connection(c->mhd);
	}
}

/*
 * Queues c for a worker of p; false once stopping, since the workers may have
 * exited and a connection left suspended would outlive MHD_stop_daemon.
 */
static bool enqueue(struct pool *p, struct conn *c)
{
	bool queued = false;

	pthread_mutex_lock(&p->lock);
	if (!p->stopping) {
		c->next = NULL;
		if (p->tail != NULL)
			p->tail->next = c;
		else
			p->head = c;
		p->tail = c;
		pthread_cond_signal(&p->cond);
		queued = true;
	}
	pthread_mutex_unlock(&p->lock);
	return queued;
}

/*
 * Starts n workers of p named name (at most 15 bytes: a static string) on
 * stacks of stack bytes (0: the default).
 */
static enum cid_err pool_start(struct pool *p, struct cid_http *h, const char *name, unsigned n,
			       size_t stack)
{
	enum cid_err rc = CID_OK;
	pthread_attr_t attr;
	bool attr_ok = pthread_attr_init(&attr) == 0;

	p->h = h;
	p->name = name;
	CID_ENSURE(attr_ok, CID_ERR_NOMEM);
	if (n == 0)
		goto out;
	CID_ENSURE(stack == 0 || pthread_attr_setstacksize(&attr, stack) == 0, CID_ERR_IO);
	p->workers = calloc(n, sizeof(*p->workers));
	CID_ENSURE(p->workers != NULL, CID_ERR_NOMEM);
	for (; p->n_workers < n; p->n_workers++)
		CID_ENSURE(pthread_create(&p->workers[p->n_workers], &attr, pool_worker, p) == 0,
			   CID_ERR_IO);
out:
	if (attr_ok)
		pthread_attr_destroy(&attr);
	return rc;
}

/*
 * Lets p's workers finish the queued jobs, and joins them. Its lock stays:
 * until MHD is stopped a request may still try to queue (enqueue refuses it),
 * so pool_free destroys the lock after MHD_stop_daemon.
 */
static void pool_stop(struct pool *p)
{
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->n_workers; i++)
		pthread_join(p->workers[i], NULL);
	free(p->workers);
	p->workers = NULL;
	p->n_workers = 0;
}

static void pool_free(struct pool *p)
{
	cid_sync_destroy(&p->lock, &p->cond);
}

struct args {
	struct cid_params *p;
	enum cid_err rc;
};

static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
			       const char *value, size_t value_size)
{
	struct args *a = cls;

	(void)kind;
	if (a->rc != CID_OK)
		return MHD_NO;
	a->rc = cid_params_add(a->p, key, key_size, value == NULL ? "" : value,
			       value == NULL ? 0 : value_size);
	return a->rc == CID_OK ? MHD_YES : MHD_NO;
}

/* A header value bounded by CID_MAX_HEADER; *too_long set when over. */
static const char *header(struct MHD_Connection *mhd, enum MHD_ValueKind kind, const char *name,
			  bool *too_long)
{
	const char *v = MHD_lookup_connection_value(mhd, kind, name);

	if (v != NULL && strnlen(v, CID_MAX_HEADER + 1) > CID_MAX_HEADER) {
		*too_long = true;
		return NULL;
	}
	return v;
}

/*
 * Collects every value of the forwarding headers, in order, joined by commas
 * (RFC 9110 §5.3: a repeated list header is one list): the rule that reads
 * them is libauth's (netaddr.h); a proxy's hop may be in any of them.
 */
static enum MHD_Result add_forwarding(void *cls, enum MHD_ValueKind kind, const char *key,
				      size_t key_size, const char *value, size_t value_size)
{
	struct conn *c = cls;
	struct cid_buf *b = NULL;

	(void)kind;
	if (key_size == 15 && strncasecmp(key, "X-Forwarded-For", 15) == 0)
		b = &c->forwarded_for;
	else if (key_size == 9 && strncasecmp(key, "Forwarded", 9) == 0)
		b = &c->forwarded;
	if (b == NULL)
		return MHD_YES;
	/* data is set by the first append, even of an empty value */
	if (b->data != NULL)
		cid_buf_append(b, ",", 1);
	cid_buf_append(b, value == NULL ? "" : value, value == NULL ? 0 : value_size);
	return MHD_YES;
}

/* Fills c->req from the connection. Returns the error reply's status, or 0. */
/*
 * True if a Content-Type names application/x-www-form-urlencoded (RFC 9110
 * §8.3.1: the media type, case-insensitive, then nothing or parameters).
 */
static bool is_form(const char *ctype)
{
	static const char form[] = "application/x-www-form-urlencoded";
	const size_t n = sizeof(form) - 1;

	if (ctype == NULL || strncasecmp(ctype, form, n) != 0)
		return false;
	ctype += n;
	while (*ctype == ' ' || *ctype == '\t')
		ctype++;
	return *ctype == '\0' || *ctype == ';';
}

static int build_request(struct conn *c, const char *method)
{
	struct MHD_Connection *mhd = c->mhd;
	const struct cid_config *cfg = cid_ctx_config(c->ctx);
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(mhd, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const char *ctype;
	bool too_long = false;
	struct args a = {&c->req.params, CID_OK};

	c->req.now = now_s();
	c->req.post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
	c->req.authorization =
	    header(mhd, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION, &too_long);
	c->req.session_cookie =
	    header(mhd, MHD_COOKIE_KIND, cid_cookie_name(cfg, CID_COOKIE_SESSION), &too_long);
	c->req.csrf_cookie =
	    header(mhd, MHD_COOKIE_KIND, cid_cookie_name(cfg, CID_COOKIE_CSRF), &too_long);
	c->req.officer_cookie =
	    header(mhd, MHD_COOKIE_KIND, cid_cookie_name(cfg, CID_COOKIE_OFFICER), &too_long);
	c->req.lang_cookie =
	    header(mhd, MHD_COOKIE_KIND, cid_cookie_name(cfg, CID_COOKIE_LANG), &too_long);
	c->req.accept_language =
	    header(mhd, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_LANGUAGE, &too_long);
	{
		/* only its coarse label is kept: an over-long one is no reason to refuse */
		bool ua_long = false;

		c->req.user_agent =
		    header(mhd, MHD_HEADER_KIND, MHD_HTTP_HEADER_USER_AGENT, &ua_long);
	}
	ctype = header(mhd, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE, &too_long);
	if (too_long)
		return 431;
	c->req.form_content_type = is_form(ctype);
	if (ci != NULL && ci->client_addr != NULL) {
		const struct sockaddr *sa = ci->client_addr;
		const void *src = sa->sa_family == AF_INET6
				      ? (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr
				      : (const void *)&((const struct sockaddr_in *)sa)->sin_addr;

		if (inet_ntop(sa->sa_family, src, c->addr, sizeof(c->addr)) == NULL)
			c->addr[0] = '\0';
	}
	c->req.remote_addr = c->addr;
	MHD_get_connection_values_n(mhd, MHD_HEADER_KIND, add_forwarding, c);
	if (cid_buf_status(&c->forwarded_for) != CID_OK || cid_buf_status(&c->forwarded) != CID_OK)
		return 431;
	c->req.forwarded_for = c->forwarded_for.data;
	c->req.forwarded = c->forwarded.data;
	if (c->too_big)
		return 413;
	if (c->req.post) {
		if (c->req.form_content_type)
			a.rc = cid_params_parse_form(
			    &c->req.params, c->body.data == NULL ? "" : c->body.data, c->body.len);
	} else {
		MHD_get_connection_values_n(mhd, MHD_GET_ARGUMENT_KIND, add_arg, &a);
	}
	if (a.rc == CID_ERR_TOOBIG)
		return 413;
	if (a.rc != CID_OK)
		return 400;
	return 0;
}

/* Seconds a client is asked to wait (Retry-After) when the server is stopping: a restart's. */
#define STOPPING_RETRY_S 5
/* Milliseconds a stop waits for the answers it resumed to be sent (a slow reader's bound). */
#define STOP_DRAIN_MS 10000

/*
 * The reply refusing a request before its endpoint ran: one the skin could
 * not even build (status 400, 413, 431), or could not hand to a worker because
 * the server is stopping (503, with Retry-After): a page (its message key, in
 * the language of what was read of the request) for a page endpoint, else JSON.
 */
static enum cid_err refusal(struct cid_ctx *ctx, const struct conn *c, struct cid_reply *reply,
			    int status, enum cid_err why)
{
	const struct cid_config *cfg = cid_ctx_config(ctx);
	const char *text = status == 413   ? "the request is too large"
			   : status == 431 ? "a request header is too large"
			   : status == 503 ? "the server is stopping: retry shortly"
					   : cid_strerror(why);
	const char *key = status == 413	  ? "err.too_large"
			  : status == 431 ? "err.header_too_large"
			  : status == 503 ? "err.stopping"
					  : "err.bad_request";
	const char *error = status == 503 ? "temporarily_unavailable" : "invalid_request";
	enum cid_err rc;

	if (status == 503)
		reply->retry_after = STOPPING_RETRY_S;
	if (c->route != NULL && c->route->page) {
		rc = cid_reply_error_page(reply, status, error, key,
					  cid_request_locale(cfg, &c->req));
		/* the page's header, footer and way back, as every page has */
		return rc == CID_OK ? cid_frame_add(ctx, c->route, &c->req, reply) : rc;
	}
	return cid_reply_error_json(reply, status, error, text);
}

/*
 * With several cities, the tenant of the request (libauth's rule,
 * cid_tenants_route: its own host by the Host header, else /t/NAME/REST)
 * into c->tenant, and the path its endpoints know returned; NULL when none
 * (*status 404). The proxy in front passes the Host it was asked for
 * (deploy/nginx.conf.example). The tenant is opened by open_tenant once the
 * request has arrived whole, so that the guard does not count the server's
 * own work (a first open reads the store, and makes the tenant's keys)
 * against the client; a first open runs on the opener thread with the
 * connection suspended (to_worker), as argon2 runs on a login worker, so
 * that it does not stall the other connections of its polling thread.
 */
static const char *tenant_of(struct conn *c, const char *url, int *status)
{
	bool too_long = false;
	const char *host = header(c->mhd, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST, &too_long);

	*status = 404;
	if (cid_tenants_route(c->h->tenants, host, url, &c->tenant) != CID_OK) {
		c->tenant.name[0] = '\0';
		return NULL;
	}
	return c->tenant.path;
}

/*
 * The context of c->tenant into c->ctx; when the tenant does not exist, is
 * disabled or was asked for the other way than it is served, c->route NULL
 * with status 404, or 503 when it cannot be opened now (the server's stderr
 * says why).
 */
static void open_tenant(struct conn *c)
{
	enum cid_err rc = cid_tenants_open(c->h->tenants, &c->tenant, now_s(), &c->ctx);

	if (rc == CID_OK)
		return;
	c->ctx = NULL;
	c->route = NULL;
	c->rc = CID_ERR_NOTFOUND;
	c->reply.status =
	    rc == CID_ERR_NOTFOUND || rc == CID_ERR_INVALID || rc == CID_ERR_DISABLED ? 404 : 503;
}

/*
 * Takes one off *n (h->audits or h->owed) and, when that leaves none while
 * the server stops, wakes cid_http_stop. Only the last one is taken off
 * under the lock: stop reads the counters under it, so it cannot see 0 and
 * free h before this thread has let go of the lock, the last it touches of
 * h (the audit log's committer, which calls audit_written, is not joined by
 * stop). Any other is taken off without it: the request path meets no
 * mutex while requests are in flight.
 */
static void count_down(struct cid_http *h, atomic_uint *n)
{
	unsigned v = atomic_load(n);

	while (v > 1)
		if (atomic_compare_exchange_weak(n, &v, v - 1))
			return;
	pthread_mutex_lock(&h->audits_lock);
	if (atomic_fetch_sub(n, 1) == 1 && atomic_load(&h->stopping))
		pthread_cond_broadcast(&h->audits_idle);
	pthread_mutex_unlock(&h->audits_lock);
}

/* Counts c in h->owed (once), or out of it (when it was counted). */
static void owe(struct conn *c, bool owed)
{
	if (c->owed == owed)
		return;
	c->owed = owed;
	if (owed)
		atomic_fetch_add(&c->h->owed, 1);
	else
		count_down(c->h, &c->h->owed);
}

/* Suspends c and queues it for a worker of p; false (c resumed) once the pool is stopping. */
static bool to_worker(struct pool *p, struct conn *c)
{
	bool was_owed = c->owed;

	owe(c, true);
	c->in_worker = true;
	c->done = false;
	MHD_suspend_connection(c->mhd);
	if (enqueue(p, c))
		return true;
	c->in_worker = false;
	MHD_resume_connection(c->mhd);
	owe(c, was_owed);
	return false;
}

/*
 * Answers c, which a stopping pool refused: 503 (refusal), so that its
 * client retries once the server is back, rather than a closed connection
 * that leaves it guessing whether its request was carried out.
 */
static enum MHD_Result stopping(struct conn *c)
{
	cid_reply_free(&c->reply);
	if (refusal(c->ctx, c, &c->reply, 503, CID_ERR_IO) != CID_OK)
		return MHD_NO;
	return cid_respond(c->h->tpl, c->mhd, &c->reply);
}

/* Told by the audit log that c's entries are written (rc CID_OK) or not: resumes c. */
static void audit_written(void *arg, enum cid_err rc)
{
	struct conn *c = arg;
	struct cid_http *h = c->h; /* c may be gone once resumed */

	c->rc = rc; /* not CID_OK: the answer becomes a server error, nothing leaves */
	c->done = true;
	MHD_resume_connection(c->mhd);
	count_down(h, &h->audits);
}

/* What audit_later did with a request's answer. */
enum audit_fate {
	AUDIT_NONE,	 /* it holds no audit entries: send it */
	AUDIT_SUSPENDED, /* submitted; the connection is resumed once they are written */
	AUDIT_REFUSED,	 /* the server is stopping: the entries are dropped, refuse it */
};

/*
 * When c's answer holds audit entries not yet written, submits them and
 * suspends c until they are. Once the server is stopping they are dropped
 * instead, and nothing of the answer may leave: their commit, made here,
 * could wait on the polling thread for the hung disk the stop waits for.
 */
static enum audit_fate audit_later(struct conn *c)
{
	struct cid_http *h = c->h;
	struct cid_audit_pending *p = c->reply.audit;

	if (p == NULL)
		return AUDIT_NONE;
	c->reply.audit = NULL;
	/* counted before stopping is read, as stop sets it before it reads the
	   count (sequentially consistent): stop sees this one, or this sees stop */
	atomic_fetch_add(&h->audits, 1);
	if (atomic_load(&h->stopping)) {
		count_down(h, &h->audits);
		cid_audit_pending_free(p);
		return AUDIT_REFUSED;
	}
	owe(c, true);
	c->in_worker = true;
	c->done = false;
	c->audit = p;
	MHD_suspend_connection(c->mhd);
	cid_audit_submit(p, audit_written, c);
	return AUDIT_SUSPENDED;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *mhd, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **con_cls)
{
	struct cid_http *h = cls;
	struct conn *c = *con_cls;
	int status = 0;

	(void)version;
	if (c == NULL) {
		c = calloc(1, sizeof(*c));
		if (c == NULL)
			return MHD_NO;
		c->h = h;
		c->mhd = mhd;
		cid_buf_init(&c->body, CID_MAX_BODY);
		cid_buf_init(&c->forwarded_for, CID_MAX_HEADER);
		cid_buf_init(&c->forwarded, CID_MAX_HEADER);
		c->ctx = h->ctx;
		if (h->tenants != NULL)
			url = tenant_of(c, url, &status);
		c->route = url == NULL ? NULL : cid_route_find(url, method, &status);
		if (url == NULL)
			url = "/";
		c->path = strdup(url);
		if (c->path == NULL) {
			conn_free(c);
			return MHD_NO;
		}
		c->req.path = c->path;
		c->rc = CID_OK;
		*con_cls = c;
		if (c->route == NULL)
			c->rc = CID_ERR_NOTFOUND;
		c->reply.status = status;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		if (!c->too_big) {
			cid_buf_append(&c->body, upload_data, *upload_data_size);
			if (cid_buf_status(&c->body) != CID_OK)
				c->too_big = true;
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (!c->received) {
		c->received = true;
		cid_guard_received(h->guard, mhd);
		if (c->tenant.name[0] != '\0' &&
		    cid_tenants_needs_open(h->tenants, c->tenant.name, now_s())) {
			c->opening = true;
			if (to_worker(&h->opener, c))
				return MHD_YES;
			/* stopping: refused, as a tenant that cannot be opened now */
			c->ctx = NULL;
			c->route = NULL;
			c->reply.status = 503;
			c->reply.retry_after = STOPPING_RETRY_S;
		} else if (c->tenant.name[0] != '\0') {
			open_tenant(c);
		}
	}
	if (c->in_worker && !c->done)
		return MHD_YES; /* spurious call while suspended */
	if (c->audit != NULL) { /* told: the entries are ours again, freed on our own thread */
		cid_audit_pending_free(c->audit);
		c->audit = NULL;
	}
	if (c->opening) { /* opened (or refused) by the worker: on as if it had been open */
		c->opening = false;
		c->in_worker = false;
		c->done = false;
	}
	if (c->route == NULL) {
		int st = c->reply.status;
		const char *error = st == 405	? "invalid_request"
				    : st == 503 ? "temporarily_unavailable"
						: "not_found";
		const char *why = st == 405	   ? "method not allowed"
				  : st == 503	   ? "the tenant cannot be opened now"
				  : c->ctx == NULL ? "no such tenant"
						   : "no such endpoint";

		c->reply.status = 0;
		if (cid_reply_error_json(&c->reply, st, error, why) != CID_OK)
			return MHD_NO;
		return cid_respond(h->tpl, mhd, &c->reply);
	}
	if (!c->in_worker) {
		status = build_request(c, method);
		if (status != 0) {
			cid_reply_free(&c->reply);
			if (refusal(c->ctx, c, &c->reply, status, CID_ERR_INVALID) != CID_OK)
				return MHD_NO;
			return cid_respond(h->tpl, mhd, &c->reply);
		}
		if (c->route->fn == NULL)
			return cid_respond_css(h->tpl, mhd);
		switch (cid_endpoint_run(c->route, &c->req)) {
		case CID_RUN_SLOW: return to_worker(&h->login, c) ? MHD_YES : stopping(c);
		case CID_RUN_WRITES: return to_worker(&h->writer, c) ? MHD_YES : stopping(c);
		case CID_RUN_READS: break;
		}
		c->req.audit_later = true;
		c->rc = cid_endpoint_answer(c->ctx, c->route, &c->req, &c->reply);
		switch (c->rc == CID_OK ? audit_later(c) : AUDIT_NONE) {
		case AUDIT_SUSPENDED: return MHD_YES;
		case AUDIT_REFUSED: return stopping(c);
		case AUDIT_NONE: break;
		}
	}
	if (c->rc != CID_OK) {
		cid_reply_free(&c->reply);
		if (cid_reply_error_json(&c->reply, 500, "server_error", cid_strerror(c->rc)) !=
		    CID_OK)
			return MHD_NO;
	}
	return cid_respond(h->tpl, mhd, &c->reply);
}

static void completed(void *cls, struct MHD_Connection *mhd, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct cid_http *h = cls;
	struct conn *c = *con_cls;

	(void)toe;
	if (c != NULL)
		owe(c, false);
	conn_free(c);
	*con_cls = NULL;
	cid_guard_waiting(h->guard, mhd);
}

/*
 * Raises the soft limit on open files to what max_connections needs (a
 * systemd service starts with 1024), as far as the hard limit allows; short
 * of that, accept(2) would fail with EMFILE before the guard could act.
 */
static void raise_nofile(const struct cid_config *cfg)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)cfg->max_connections + 2 * (rlim_t)cfg->threads + CID_FD_SPARE;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= need)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need ? need : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < need)
		fprintf(stderr,
			"civicid: max_connections %u needs %llu open files, the limit is %llu "
			"(raise LimitNOFILE or ulimit -n)\n",
			cfg->max_connections, (unsigned long long)need,
			(unsigned long long)rl.rlim_cur);
}

static enum cid_err parse_listen(const char *addr, uint16_t port, struct sockaddr_storage *ss,
				 unsigned *flags)
{
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, addr, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons(port);
		return CID_OK;
	}
	if (inet_pton(AF_INET6, addr, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(port);
		*flags |= MHD_USE_IPv6;
		return CID_OK;
	}
	return CID_ERR_CONFIG;
}

static enum cid_err start(const struct cid_config *cfg, struct cid_ctx *ctx,
			  struct cid_tenants *tenants, const struct cid_templates *tpl,
			  struct cid_http **out, uint16_t *port_out)
{
	enum cid_err rc = CID_OK;
	struct cid_http *h = calloc(1, sizeof(*h));
	struct sockaddr_storage ss;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
			 MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *di;
	/* behind trusted proxies every connection is a proxy's: a cap per address
	 * would cap the proxy (its 257th connection reset at accept, before the
	 * guard could make room), so limiting each client is then the proxy's */
	unsigned per_ip = cid_netaddr_set_count(cfg->trusted_proxies) > 0
			      ? (unsigned)cfg->max_connections
			      : (unsigned)CID_MAX_CONN_PER_IP;

	CID_ENSURE(h != NULL, CID_ERR_NOMEM);
	h->ctx = ctx;
	h->tenants = tenants;
	h->tpl = tpl;
	CID_TRY(cid_sync_init(&h->login.lock, &h->login.cond, CLOCK_MONOTONIC));
	CID_TRY(cid_sync_init(&h->writer.lock, &h->writer.cond, CLOCK_MONOTONIC));
	CID_TRY(cid_sync_init(&h->opener.lock, &h->opener.cond, CLOCK_MONOTONIC));
	CID_TRY(cid_sync_init(&h->audits_lock, &h->audits_idle, CLOCK_MONOTONIC));
	CID_TRY(parse_listen(cfg->listen, cfg->port, &ss, &flags));
	raise_nofile(cfg);
	CID_TRY(cid_guard_new(cfg->max_connections, cfg->connection_timeout, &h->guard));
	CID_TRY(pool_start(&h->login, h, "cid-login", cfg->login_threads, 0));
	CID_TRY(pool_start(&h->writer, h, "cid-write", cfg->write_threads, 0));
	CID_TRY(pool_start(&h->opener, h, "cid-open", tenants != NULL ? 1 : 0, 0));
	h->mhd = MHD_start_daemon(
	    flags, 0, NULL, NULL, handle, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)cfg->threads, MHD_OPTION_THREAD_STACK_SIZE,
	    CID_HTTP_THREAD_STACK, MHD_OPTION_CONNECTION_LIMIT, (unsigned int)cfg->max_connections,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned int)cfg->connection_timeout, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	    (size_t)CID_MAX_CONN_MEMORY, MHD_OPTION_STRICT_FOR_CLIENT, (int)1,
	    MHD_OPTION_NOTIFY_COMPLETED, completed, h, MHD_OPTION_NOTIFY_CONNECTION,
	    cid_guard_notify, h->guard, MHD_OPTION_END);
	CID_ENSURE(h->mhd != NULL, CID_ERR_IO);
	di = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_BIND_PORT);
	*port_out = di != NULL ? di->port : cfg->port;
	*out = h;
	h = NULL;
out:
	cid_http_stop(h);
	return rc;
}

enum cid_err cid_http_start(struct cid_ctx *ctx, const struct cid_templates *tpl,
			    struct cid_http **out, uint16_t *port_out)
{
	return start(cid_ctx_config(ctx), ctx, NULL, tpl, out, port_out);
}

enum cid_err cid_http_start_tenants(const struct cid_config *cfg, struct cid_tenants *tenants,
				    const struct cid_templates *tpl, struct cid_http **out,
				    uint16_t *port_out)
{
	return start(cfg, NULL, tenants, tpl, out, port_out);
}

void cid_http_stop(struct cid_http *h)
{
	struct timespec until;

	if (h == NULL)
		return;
	pool_stop(&h->opener); /* before the others: an opened request may queue there */
	pool_stop(&h->login);
	pool_stop(&h->writer);
	atomic_store(&h->stopping, true); /* before the counters are read: see audit_later */
	pthread_mutex_lock(&h->audits_lock);
	while (atomic_load(&h->audits) > 0)
		pthread_cond_wait(&h->audits_idle, &h->audits_lock);
	/* every worker and the log have resumed what they held: let MHD send it */
	if (cid_sync_deadline(&until, CLOCK_MONOTONIC, STOP_DRAIN_MS) == CID_OK) {
		while (atomic_load(&h->owed) > 0 &&
		       pthread_cond_timedwait(&h->audits_idle, &h->audits_lock, &until) == 0)
			;
	}
	pthread_mutex_unlock(&h->audits_lock);
	if (h->mhd != NULL)
		MHD_stop_daemon(h->mhd);
	pool_free(&h->opener);
	pool_free(&h->login);
	pool_free(&h->writer);
	cid_sync_destroy(&h->audits_lock, &h->audits_idle);
	cid_guard_free(h->guard);
	free(h);
}
