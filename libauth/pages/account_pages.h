/*
 * account_pages: the citizen's own account pages, behind the single-sign-on
 * session cookie (no login form of their own: a citizen signs in through any
 * city service, and the session then opens these pages).
 *
 *   GET /account[?after=SEQ][&lang=ja|en]
 *       CID_PAGE_ACCOUNT: the current decision on every attribute, per service
 *       and purpose, with a receipt link for each grant in force; and the
 *       citizen's slice of the audit log (cid_audit_citizen): who received
 *       which attributes, when, for what purpose, newest first, ACCOUNT_PAGE
 *       entries per page, ?after=SEQ for the next (older) page.
 *   GET /account/receipt?id=RECORD_ID[&lang=ja|en]
 *       the signed consent receipt (receipt.h) of one of the session's own
 *       records, as application/jwt with Content-Disposition: attachment.
 *
 * Without a live session both answer 401 with CID_PAGE_ACCOUNT saying the
 * citizen must sign in through a city service; never a redirect (there is no
 * safe place to send them). Another citizen's record id, an unknown or a
 * malformed one all answer the same 404, so ids reveal nothing.
 *
 *   POST /account/consent
 *       a change of the citizen's consents: account_consent.h.
 *
 * CID_PAGE_ACCOUNT data (every text a message key or data, escaped by the
 * template):
 *   {"signed_in": bool, "signed_out": bool, "csrf" (the forms' token),
 *    "notice"? ([one notice after a change], account_consent.h, with
 *        "service_name" and "purpose_text" for its ids),
 *    "consents": [{"service_name","purpose_text","service","purpose"?,
 *        "service_head"? (true on a service's first group),
 *        "can_withdraw_purpose"?, "statute"? (citation: a purpose provided by
 *        law, after the service's own groups), "items":[{"label_key"
 *        ("attr.NAME"), "state_key" ("account_state_granted|refused|withdrawn|
 *        expired|law"), "service", "purpose", "attribute", "expires"? (RFC
 *        3339) with "expires_local", "withdrawn_on"? (RFC 3339) with
 *        "withdrawn_on_local", "receipt_id"? (record id, grants in force
 *        only), "can_withdraw", "can_share" (cid_account_offer)}]}],
 *    "has_consents", "no_consents",
 *    "trail": [{"time" (RFC 3339), "local_time","service_name","purpose_text","event_key"
 *        ("account_ev_release|granted|refused|withdrawn|expired"),
 *        "items":[{"label_key"}], "statute"? (citation of a statute basis)}],
 *    "has_trail", "no_trail", "next_after"? (seq for the next page), "lang"}
 * Every "*_local" (and "local_time") is that time as the citizen reads it:
 * in the page's language and the city's zone (config timezone, cid_tz_format).
 * Thread-safe.
 */
#ifndef CID_ACCOUNT_PAGES_H
#define CID_ACCOUNT_PAGES_H

#include "cid.h"
#include "err.h"
#include "reply.h"

/* Audit entries per page of the trail. */
#define CID_ACCOUNT_PAGE 50

/*
 * GET /account. Fills *reply (zeroed): the page (200), the signed-out page
 * (401), or an error page (400: ?after is not a number). Errors (no reply):
 * CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_account_page(struct cid_ctx *ctx, const struct cid_request *req,
					     struct cid_reply *reply);

/*
 * GET /account/receipt?id=RECORD_ID. Fills *reply (zeroed): the receipt (200,
 * application/jwt, attachment, no-store), the signed-out page (401), an error
 * page 404 (no such record of this citizen, or a refusal or withdrawal, which
 * has no receipt) or 503 (the controller is not configured: see config.h).
 * Errors (no reply): CID_ERR_STORE, CID_ERR_CRYPTO, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_account_receipt(struct cid_ctx *ctx, const struct cid_request *req,
						struct cid_reply *reply);

/* The rows of the endpoint table (endpoints.h) for the pages above, in *n rows. Static. */
const struct cid_endpoint *cid_account_endpoints(size_t *n);

#endif
