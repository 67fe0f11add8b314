/*
 * console_int: what the console's files share: the officer gate, the page
 * helpers and the log filter (console.c). Not part of the API.
 *
 * The page files (console_auth.c, console_log.c, console_verify.c,
 * console_export.c, console_services.c) call into console.c and never into
 * each other.
 */
#ifndef CID_CONSOLE_INT_H
#define CID_CONSOLE_INT_H

#include "audit.h"
#include "bounds.h"
#include "console.h"
#include "officer.h"
#include "reply.h"
#include "str.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONSOLE_DAY 86400
/* the console's paths that its pages redirect to (the table's rows name them too) */
#define CONSOLE_LOGIN "/officer/login"
#define CONSOLE_HOME  "/officer"

/* ---- the gate ---- */

/* The officer a console page is for: the session's name and CSRF token. */
struct officer {
	char name[CID_OFFICER_MAX_NAME + 1];
	char csrf[CID_TOKEN_CHARS + 1];
};

/* A console page for the officer who: the request passed the gate. */
typedef enum cid_err (*officer_page)(struct cid_ctx *ctx, const struct cid_request *req,
				     struct cid_reply *reply, const struct officer *who);

/*
 * Answers req with page when the gate lets it in: a live officer session
 * and, on a POST, its CSRF token. Otherwise with what the gate replied: a
 * redirect (303) to the login form without a session, a 403 page for a
 * wrong token. An endpoint's return (cid_endpoint_rc): CID_OK, also when
 * page returned CID_ANSWERED. Errors: CID_ERR_STORE, those of page and of
 * building the reply.
 */
CID_MUST_CHECK enum cid_err console_gated(struct cid_ctx *ctx, const struct cid_request *req,
					  struct cid_reply *reply, officer_page page);

/* ---- pages ---- */

/*
 * The language of a console page for req: the pages' one rule
 * (cid_request_locale: its switch, the remembered choice, the browser's).
 * Static.
 */
const char *console_locale(struct cid_ctx *ctx, const struct cid_request *req);

/* A 4xx/5xx error page, description a message key ("err.*"); CID_OK when it was built. */
CID_MUST_CHECK enum cid_err console_fail(struct cid_ctx *ctx, const struct cid_request *req,
					 struct cid_reply *r, int status, const char *error,
					 const char *description);

/* A 400 page naming the parameter name as not valid; CID_OK when it was built. */
CID_MUST_CHECK enum cid_err console_bad_param(struct cid_ctx *ctx, const struct cid_request *req,
					      struct cid_reply *r, const char *name);

/* Page data every console page has. NULL when out of memory. */
json_t *console_base_data(const struct officer *who);

/* Replies with a console page built from data (stolen); no page of the console is cached. */
CID_MUST_CHECK enum cid_err console_show(struct cid_ctx *ctx, const struct cid_request *req,
					 struct cid_reply *reply, int status, enum cid_page page,
					 json_t *data);

/*
 * Sets member name of row to t (an audit time, "YYYY-MM-DDTHH:MM:SSZ") as a
 * person reads it in the console's zone and language (tz.h); "" when t is
 * not such a time. Errors: CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err console_local_time(struct cid_ctx *ctx, const char *locale,
					       const char *t, json_t *row, const char *name);

/*
 * The usernames of citizens' account ids, looked up once per page: the
 * console shows a citizen as a name with the id beside it.
 */
struct console_names {
	struct cid_ctx *ctx;
	json_t *known; /* account id -> username ("" when there is no such account) */
};

/*
 * Sets row's "citizen_name" to the username of account id (NULL: nothing)
 * when it has one. Errors: CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err console_citizen_name(struct console_names *nm, const char *id,
						 json_t *row);

/*
 * An optional text parameter: NULL when absent, else at most max bytes with no
 * control character (params are UTF-8 already: cid_params_add checks).
 */
bool console_text_param(const struct cid_params *p, const char *name, size_t max, const char **out);

/* Days since 1970-01-01 of "YYYY-MM-DD" (a real date, 1970..9999). */
bool console_parse_day(const char *s, int64_t *day);

/*
 * The log's time (RFC 3339, cid_audit_time) where day begins, or with end
 * where it ends (the next midnight: a "to" day is included). False when the
 * log's times cannot say it: the end of 9999-12-31 is none, and a page asked
 * for it is a bad parameter, not a failure.
 */
bool console_day_time(int64_t day, bool end, char out[21]);

/* ---- the filter of the log page and the export ---- */

/* A filter as the officer typed it, and as cid_audit_query takes it. */
struct filter_in {
	const char *citizen_in, *service, *release, *attribute, *type, *from_in, *to_in;
	char citizen[CID_ID_CHARS + 1];
	char from[21], to[21];
	struct cid_audit_filter f;
};

/*
 * Reads the filter of req into fi. A citizen may be given as the account id
 * or the username. A bad value is CID_ANSWERED with a 400 page naming it
 * in reply. Other errors: CID_ERR_STORE, those of building the reply.
 */
CID_MUST_CHECK enum cid_err console_parse_filter(struct cid_ctx *ctx, const struct cid_request *req,
						 struct cid_reply *reply, struct filter_in *fi);

/*
 * A filtered page's own query members of f (order, paging, limit);
 * CID_ANSWERED once it answered (a bad value of its own).
 */
typedef enum cid_err (*console_options)(struct cid_ctx *ctx, const struct cid_request *req,
					struct cid_reply *reply, struct cid_audit_filter *f);

/* What a filtered page runs over the entries f selects, in the read transaction txn. */
typedef enum cid_err (*console_scan_fn)(struct cid_txn *txn, const struct cid_audit_filter *f,
					void *arg);

/*
 * The prologue of every filtered page (the log, the export) in one: reads
 * req's filter into fi (console_parse_filter), lets options (may be NULL)
 * set the page's own members of fi->f, then runs scan(txn, &fi->f, arg) in
 * one read transaction. A bad filter value, a bad option and a filter the
 * log refuses (scan's CID_ERR_INVALID) are each answered with a 400 page
 * naming it. Returns CID_ANSWERED once reply holds that answer; other
 * errors: CID_ERR_STORE, those of options, scan and building the reply.
 */
CID_MUST_CHECK enum cid_err console_scan(struct cid_ctx *ctx, const struct cid_request *req,
					 struct cid_reply *reply, struct filter_in *fi,
					 console_options options, console_scan_fn scan, void *arg);

/* Sets the filter's values (as typed) in data, for the form and the links. */
CID_MUST_CHECK enum cid_err console_filter_data(const struct filter_in *fi, json_t *data);

/* The filter as a query string (values URL-encoded), plus extra (may be NULL). */
char *console_filter_query(const struct filter_in *fi, const char *extra);

/* The entry types of the filter's menu into data's "types", selected marked. */
CID_MUST_CHECK enum cid_err console_type_options(const char *selected, json_t *data);

#endif
