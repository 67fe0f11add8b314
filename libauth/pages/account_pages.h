/*
 * account_pages: the citizen's own account pages, behind the single-sign-on
 * session cookie (no login form of their own: a citizen signs in through any
 * city service, and the session then opens these pages).
 *
 *   GET /account[?service=CLIENT_ID][&after=SEQ|&newer=SEQ][&lang=ja|en]
 *       CID_PAGE_ACCOUNT: the current decision on every attribute, per service
 *       and purpose, with a receipt link for each grant in force, each
 *       service's purposes provided by law after them; then, each under its
 *       heading, the purposes provided by law of the services the citizen
 *       holds grants with (cid_grant_services) and has no consent record
 *       with, in client_id order (a service whose purposes are all
 *       statutory is never asked about); and the
 *       citizen's slice of the audit log (cid_audit_citizen_page): who
 *       received which attributes, when, for what purpose, newest first,
 *       CID_ACCOUNT_PAGE entries per page, ?after=SEQ for the next (older)
 *       page, ?newer=SEQ for the one before (newer), never both; ?service=
 *       narrows it to one of the services the page offers (every service of
 *       the policies in force, any other the citizen's consents name, and any
 *       other they hold grants with whose entries are in their trail; ""
 *       is every service). 400 error page for a bad number (err.account_after),
 *       both directions (err.account_paging), a service not offered
 *       (err.account_service).
 *   GET /account/receipt?id=RECORD_ID[&format=html|jwt][&lang=ja|en]
 *       the consent receipt (receipt.h) of one of the session's own records:
 *       CID_PAGE_RECEIPT (html, the default), the facts of its signed claims
 *       in plain words; or (jwt) the signed receipt as application/jwt with
 *       Content-Disposition: attachment. Another format: 400 error page.
 *
 * Without a live session both answer 401 with CID_PAGE_ACCOUNT saying the
 * citizen is signed out and offering the login of the account pages'
 * own client (account_login.h); never a redirect by itself. Another
 * citizen's record id, an unknown or a malformed one all answer the same
 * 404, so ids reveal nothing.
 *
 *   GET /account/trail[?format=html|json|csv][&before=SEQ][&lang=ja|en]
 *       the citizen's trail as a download (trail.h), newest first,
 *       ?before=SEQ for the next (older) page (the bundle's "next_before"):
 *       json, the bundle that verifies offline (application/json,
 *       attachment), and csv, the same entries for people (text/csv,
 *       attachment), CID_TRAIL_MAX entries; html (the default),
 *       CID_PAGE_TRAIL, a printable page of CID_TRAIL_PRINT_MAX of them,
 *       linking the JSON from the same entry down. All no-store. 400 error page for another
 *       format (err.trail_format) or a bad number (err.account_after).
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
 *        "can_withdraw_service"? (true on the first group of a service the
 *        citizen has consent records with: the button that withdraws
 *        everything it gets), "can_withdraw_purpose"?, "statute"? (citation:
 *        a purpose provided by law, after the service's own groups), "items":[{"label_key"
 *        ("attr.NAME"), "state_key" ("account_state_granted|refused|withdrawn|
 *        expired|law"), "service", "purpose", "attribute", "expires"? (RFC
 *        3339) with "expires_local", "withdrawn_on"? (RFC 3339) with
 *        "withdrawn_on_local", "receipt_id"? (record id, grants in force
 *        only), "can_withdraw", "can_share" (cid_account_offer)}]}],
 *    "has_consents", "no_consents",
 *    "trail": [{"time" (RFC 3339), "local_time","service_name","purpose_text","event_key"
 *        ("account_ev_release|granted|refused|withdrawn|expired"),
 *        "items":[{"label_key"}], "statute"? (citation of a statute basis)}],
 *    "has_trail", "no_trail", "next_after"? (?after= of the older page),
 *    "prev_newer"? (?newer= of the newer page), "has_pages" (either is there),
 *    "services": [{"id","name","selected"}] (the filter's choices),
 *    "filter_service"? (the service the trail is narrowed to), "lang"}
 *
 * CID_PAGE_RECEIPT data: {"signed_in": true, "lang", "id" (the record id
 *    asked: the JWT link), "receipt_id", "version", "jurisdiction",
 *    "principal_id" (the citizen's subject at the service), "policy_url",
 *    "policy_version", "method_key" ("receipt_method_screen|account|paper|
 *    other"), "controller_name", "controller_contact", "controller_address",
 *    "controller_email", "controller_phone"?, "controller_url",
 *    "service_name", "client_id", "purpose_text", "purpose_changed" (the
 *    policy's text changed since), "items": [{"label_key"}], "given" (RFC
 *    3339) with "given_local", "expires" with "expires_local" or
 *    "until_withdrawn": true, "retention_days"? (the policy in force, while
 *    it has the purpose), "audit_seq"? (decimal: the seq of the log entry
 *    that recorded the decision, when the receipt carries its proof),
 *    "withdrawn"? (true: the receipt of a withdrawal; "given" is then when
 *    it was withdrawn, and there is no "expires"/"until_withdrawn")}
 * CID_PAGE_TRAIL data: {"signed_in": true, "lang", "entries": [{"seq",
 *    "time" (RFC 3339), "local_time", "service_name", "purpose_text",
 *    "decision_text", "items": [{"label_key"}], "statute"? (citation),
 *    "unproved"? (true: newer than the cosigned checkpoint)}], "has_entries",
 *    "no_entries", "limit" (CID_TRAIL_PRINT_MAX), "cosigned" (the checkpoint a
 *    witness cosigned), "origin", "generated_local", "checkpoint_size"?,
 *    "before"? (the page asked), "next_before"? (the older page)}
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
 * (401), or an error page (400: the filter or paging above). Errors (no reply):
 * CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_account_page(struct cid_ctx *ctx, const struct cid_request *req,
					     struct cid_reply *reply);

/*
 * GET /account/receipt?id=RECORD_ID. Fills *reply (zeroed): the receipt page
 * (200) or with format=jwt the receipt (200, application/jwt, attachment,
 * no-store), the signed-out page (401), an error page 400 (another format),
 * 404 (no such record of this citizen, or a refusal or withdrawal, which
 * has no receipt) or 503 (the controller is not configured: see config.h).
 * Errors (no reply): CID_ERR_STORE, CID_ERR_CRYPTO, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_account_receipt(struct cid_ctx *ctx, const struct cid_request *req,
						struct cid_reply *reply);

/*
 * GET /account/trail. Fills *reply (zeroed): the download or the printable
 * page (200), the signed-out page (401) or an error page (400, above).
 * Errors (no reply): those of cid_trail_bundle and cid_trail_csv.
 */
CID_MUST_CHECK enum cid_err cid_account_trail(struct cid_ctx *ctx, const struct cid_request *req,
					      struct cid_reply *reply);

/* The rows of the endpoint table (endpoints.h) for the pages above, in *n rows. Static. */
const struct cid_endpoint *cid_account_endpoints(size_t *n);

#endif
