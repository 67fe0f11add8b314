/*
 * http: the witness's libmicrohttpd daemon. A small pool of epoll threads;
 * each request's body is collected up to CID_WITNESS_MAX_BODY (more gets
 * 413 without reading on) and answered on the last call of the access
 * handler. The LMDB write that records a cosignature blocks its polling
 * thread for one fsync, which a witness's rate of requests allows.
 */
#include "witness_http.h"

#include "bounds.h"
#include "buf.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define THREADS		4
#define MAX_CONNECTIONS 256
#define PER_IP		64
#define PATH		"/add-checkpoint"

struct cid_witness_http {
	struct MHD_Daemon *mhd;
	struct cid_witness *w;
	FILE *log;
};

enum target { ADD_CHECKPOINT, NO_PATH, NO_METHOD };

struct request {
	enum target target;
	struct cid_buf body;
	bool too_big;
};

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *type,
				 const char *text, size_t len, const char *verdict)
{
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(len, (void *)(uintptr_t)text, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (r == NULL)
		return MHD_NO;
	(void)MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	(void)MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	(void)MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	if (status == 405)
		(void)MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "POST");
	/* the witness's reading of the request, also where the spec's body is only a size */
	if (verdict != NULL)
		(void)MHD_add_response_header(r, "X-Civicid-Witness-Verdict", verdict);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result send_plain(struct MHD_Connection *c, unsigned status, const char *text)
{
	return send_text(c, status, "text/plain; charset=utf-8", text, strlen(text), NULL);
}

static enum MHD_Result add_checkpoint(struct cid_witness_http *h, struct MHD_Connection *c,
				      struct request *q)
{
	struct cid_witness_result res;
	enum MHD_Result ret;
	enum cid_err rc = cid_witness_add_checkpoint(h->w, q->body.data == NULL ? "" : q->body.data,
						     q->body.len, (int64_t)time(NULL), &res);

	if (rc != CID_OK) {
		if (h->log != NULL)
			fprintf(h->log, "civicid witness: add-checkpoint failed: %s\n",
				cid_strerror(rc));
		return send_plain(c, 500, "the witness could not record the checkpoint\n");
	}
	if (h->log != NULL && res.verdict != CID_WITNESS_COSIGNED)
		fprintf(h->log, "civicid witness: refused (%s): size %llu, recorded %llu\n",
			cid_witness_verdict_name(res.verdict), (unsigned long long)res.size,
			(unsigned long long)res.recorded);
	ret = send_text(c, (unsigned)res.status, res.content_type, res.body, strlen(res.body),
			cid_witness_verdict_name(res.verdict));
	cid_witness_result_clear(&res);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **con_cls)
{
	struct cid_witness_http *h = cls;
	struct request *q = *con_cls;

	(void)version;
	if (q == NULL) {
		q = calloc(1, sizeof(*q));
		if (q == NULL)
			return MHD_NO;
		cid_buf_init(&q->body, CID_WITNESS_MAX_BODY);
		q->target = strcmp(url, PATH) != 0			? NO_PATH
			    : strcmp(method, MHD_HTTP_METHOD_POST) != 0 ? NO_METHOD
									: ADD_CHECKPOINT;
		*con_cls = q;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		if (q->target == ADD_CHECKPOINT && !q->too_big) {
			cid_buf_append(&q->body, upload_data, *upload_data_size);
			q->too_big = cid_buf_status(&q->body) != CID_OK;
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	switch (q->target) {
	case NO_PATH: return send_plain(c, 404, "no such endpoint: POST /add-checkpoint\n");
	case NO_METHOD: return send_plain(c, 405, "method not allowed: POST /add-checkpoint\n");
	default: break;
	}
	if (q->too_big)
		return send_plain(c, 413, "the request is too large\n");
	return add_checkpoint(h, c, q);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct request *q = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (q != NULL) {
		cid_buf_free(&q->body);
		free(q);
	}
	*con_cls = NULL;
}

enum cid_err cid_witness_http_start(struct cid_witness *w, const char *listen, uint16_t port,
				    FILE *log, struct cid_witness_http **out, uint16_t *port_out)
{
	struct cid_witness_http *h = calloc(1, sizeof(*h));
	struct sockaddr_storage ss;
	struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *di;
	enum cid_err rc = CID_OK;

	CID_ENSURE(h != NULL, CID_ERR_NOMEM);
	h->w = w;
	h->log = log;
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, listen, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons(port);
	} else if (inet_pton(AF_INET6, listen, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(port);
		flags |= MHD_USE_IPv6;
	} else {
		rc = CID_ERR_CONFIG;
		goto out;
	}
	h->mhd = MHD_start_daemon(
	    flags, 0, NULL, NULL, handle, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)THREADS, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned int)MAX_CONNECTIONS, MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)PER_IP,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)CID_CONN_TIMEOUT,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CID_MAX_CONN_MEMORY,
	    MHD_OPTION_STRICT_FOR_CLIENT, (int)1, MHD_OPTION_NOTIFY_COMPLETED, completed, h,
	    MHD_OPTION_END);
	CID_ENSURE(h->mhd != NULL, CID_ERR_IO);
	di = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_BIND_PORT);
	*port_out = di != NULL ? di->port : port;
	*out = h;
	h = NULL;
out:
	cid_witness_http_stop(h);
	return rc;
}

void cid_witness_http_stop(struct cid_witness_http *h)
{
	if (h == NULL)
		return;
	if (h->mhd != NULL)
		MHD_stop_daemon(h->mhd);
	free(h);
}
