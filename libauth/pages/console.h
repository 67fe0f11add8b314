/*
 * console: the privacy officer's web console over the audit log (audit.h).
 *
 * Each function is one endpoint (reply.h), called by the HTTP skin like the
 * cid_oidc_* endpoints: it fills *reply (zeroed) and returns CID_OK whenever it
 * produced a reply, error pages included; any other return means no reply
 * could be built. Every endpoint but the login needs a live officer session
 * (officer.h, cookie CID_COOKIE_OFFICER: HttpOnly, SameSite=Strict, Path=/,
 * Secure and __Host- when the issuer is https, reply.h); without one it redirects
 * (303) to /officer/login. Every POST carries "csrf": on the login form the
 * browser's CSRF cookie token (cid_reply_csrf), on the others the token derived
 * from the session (cid_officer_csrf); a wrong one is a 403 page.
 *
 * Query and form values are bounded (CONSOLE_MAX_* in console_int.h and the
 * page files) and checked before use; a bad one is a 400 page naming it.
 *
 * Filters (log page, export): citizen (account id, or a username that is
 * resolved to it), service, release (a release id, as a service received it in
 * X-Civicid-Release), attribute, type (exact, or "consent." /
 * "release." / "audit."), from and to (YYYY-MM-DD, UTC; both days included).
 *
 * Page data (every page also has "officer" and "csrf"):
 *   CID_PAGE_OFFICER_LOGIN  csrf, name?, msg_failed | msg_throttled | msg_locked | msg_missing
 *   CID_PAGE_OFFICER_LOG    the filter values, types[{value, selected}],
 *                           entries[{seq, time, type, actor, citizen, service,
 *                           purpose, attributes, decision, basis}] newest first,
 *                           CID_CONSOLE_PAGE_SIZE per page; next_query when older
 *                           entries follow (a query string for /officer)
 *   CID_PAGE_OFFICER_ENTRY  seq, fields[{name, value}] (every member of the
 *                           entry), consents[{id, state, service, purpose,
 *                           attribute, at, expires_at, method, policy_version}],
 *                           purpose[{id, text_ja, text_en, basis, statute,
 *                           retention_days}] (one or none), policy_current, policy_changed,
 *                           rule, rule_line (the rule's source line, when its
 *                           file is readable), pseudonym (when the entry
 *                           names its citizen by one: the look-up form's)
 *   CID_PAGE_OFFICER_VERIFY ok, entries, checkpoints, covered, unsigned_tail,
 *                           bad_seq, reason
 *   CID_PAGE_OFFICER_RESOLVE pseudonym, reason, found, gone, seq? (the entry
 *                           it was asked from), and when found citizen
 *                           (account id), citizen_name?, service, purpose
 *   CID_PAGE_OFFICER_SERVICES from, to, days, services[{service, name, permit,
 *                           deny, rows[{day, permit, deny}] (days with any),
 *                           chart_width, chart_height, permit_bars[{x, y,
 *                           width, height, label}], deny_bars[...]}]
 * The export replies with the file itself (CSV or JSON Lines, audit.h's
 * cid_audit_write_filtered) as an attachment, after appending an
 * "audit.exported" entry that names the officer and the filter.
 *
 * The pages read the log from the store; the export appends its record
 * through the context's log (cid_ctx_audit_log).
 * Thread-safe.
 */
#ifndef CID_CONSOLE_H
#define CID_CONSOLE_H

#include "cid.h"
#include "err.h"
#include "reply.h"

/* GET: the login form. POST (name, password, code, csrf): logs in; one argon2id: slow worker. */
CID_MUST_CHECK enum cid_err cid_console_login(struct cid_ctx *ctx, const struct cid_request *req,
					      struct cid_reply *reply);

/* POST (csrf): ends the session, clears the cookie, redirects to the login form. */
CID_MUST_CHECK enum cid_err cid_console_logout(struct cid_ctx *ctx, const struct cid_request *req,
					       struct cid_reply *reply);

/* GET (filters, before = a seq for the next page): the log, newest first. */
CID_MUST_CHECK enum cid_err cid_console_log(struct cid_ctx *ctx, const struct cid_request *req,
					    struct cid_reply *reply);

/* GET (seq): one entry, its consent records and its policy purpose and rule. 404 when none. */
CID_MUST_CHECK enum cid_err cid_console_entry(struct cid_ctx *ctx, const struct cid_request *req,
					      struct cid_reply *reply);

/*
 * POST (csrf, pseudonym, reason, seq?): who the pseudonym is (citizen,
 * service, purpose), after the look-up is logged with the officer and the
 * reason (audit.h's cid_audit_resolve); a purged one is a page saying it
 * names no one (logged as well). A missing or bad reason or pseudonym is a
 * 400 page and nothing is logged. A durable write: slow worker.
 */
CID_MUST_CHECK enum cid_err cid_console_resolve(struct cid_ctx *ctx, const struct cid_request *req,
						struct cid_reply *reply);

/* POST (csrf): verifies the whole log and its checkpoints (all keys, retired included). */
CID_MUST_CHECK enum cid_err cid_console_verify(struct cid_ctx *ctx, const struct cid_request *req,
					       struct cid_reply *reply);

/* POST (csrf, format = csv | jsonl, filters): the download; logged as "audit.exported". */
CID_MUST_CHECK enum cid_err cid_console_export(struct cid_ctx *ctx, const struct cid_request *req,
					       struct cid_reply *reply);

/* GET (from, to: default the last 30 days): releases and refusals per service per day. */
CID_MUST_CHECK enum cid_err cid_console_services(struct cid_ctx *ctx, const struct cid_request *req,
						 struct cid_reply *reply);

/*
 * The rows of the endpoint table (endpoints.h) for the console's pages
 * above, in *n rows: the login form at /officer/login, the log at /officer,
 * the others under /officer/. The scans of the whole log (verify, export,
 * services) and the login (argon2id) run on a worker. Static.
 */
const struct cid_endpoint *cid_console_endpoints(size_t *n);

#endif
