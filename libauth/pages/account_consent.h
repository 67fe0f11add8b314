/*
 * account_consent: the citizen changes their own consents on the account
 * page: withdraw one attribute, a whole purpose or everything a service
 * gets, or share again an attribute they refused or withdrew.
 *
 *   POST /account/consent  (form: csrf, action=withdraw|share, service,
 *                           purpose?, attribute?, lang?)
 *       CSRF: csrf must be the session's form token (cid_session_form_token
 *       of the session cookie and the browser's CSRF cookie), as on the
 *       logout page. Answers 303 to /account?notice=KIND&service=..&
 *       purpose=..&attribute=..&lang=.. (Post/Redirect/Get), where KIND names
 *       what happened or why nothing did (cid_account_notice_name); the page
 *       then says so (cid_account_notice). 401 signed-out page without a
 *       session; 403 error page for a missing or wrong csrf; 400 error page
 *       for a form that names no action, or names that no record can have.
 *
 * The rule of what may change lives in one function, cid_account_consent_change;
 * the endpoint only checks the session and the form. Thread-safe.
 */
#ifndef CID_ACCOUNT_CONSENT_H
#define CID_ACCOUNT_CONSENT_H

#include "cid.h"
#include "consent.h"
#include "err.h"
#include "policy.h"
#include "reply.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

enum cid_account_action {
	CID_ACCOUNT_WITHDRAW, /* take back grants in force */
	CID_ACCOUNT_SHARE,    /* grant again one attribute refused or withdrawn */
};

/*
 * One change the citizen asks for (strings borrowed). The scope is the
 * narrowest named: attribute (with purpose), else purpose, else the whole
 * service. Sharing is per attribute only, as on the consent screen.
 */
struct cid_account_change {
	const char *account_id; /* the session's citizen, never the form's */
	enum cid_account_action action;
	const char *service;
	const char *purpose;	/* NULL: every purpose of the service (withdraw only) */
	const char *attribute;	/* NULL: every attribute of the purpose */
	const char *request_id; /* recorded with the records; NULL: the change's own (consent.h) */
	int64_t now;
};

/* Why a change was refused (CID_ERR_REFUSED), and, on success, what it was. */
enum cid_account_notice {
	CID_NOTICE_NONE,
	CID_NOTICE_WITHDRAWN_ATTRIBUTE, /* done: one attribute withdrawn */
	CID_NOTICE_WITHDRAWN_PURPOSE,	/* done: every grant in force of a purpose */
	CID_NOTICE_WITHDRAWN_SERVICE,	/* done: everything of a service, its tokens revoked */
	CID_NOTICE_SHARED,		/* done: one attribute shared again */
	CID_NOTICE_NO_SERVICE,		/* refused: the citizen has no record with the service */
	CID_NOTICE_NO_PURPOSE,		/* refused: the service has no such purpose */
	CID_NOTICE_BY_LAW,		/* refused: the purpose's basis is a statute */
	CID_NOTICE_NOT_IN_PURPOSE,	/* refused: the purpose does not ask the attribute */
	CID_NOTICE_NOT_SHARED,		/* refused: withdraw what has no grant in force */
	CID_NOTICE_NOT_SHAREABLE,	/* refused: share what is shared, expired or undecided */
	CID_NOTICE_COUNT
};

/* What a change did. */
struct cid_account_outcome {
	enum cid_account_notice notice; /* what happened, or why nothing did */
	size_t records;			/* consent records written */
	size_t grants_revoked;		/* grants revoked (withdrawing a whole service) */
	/* a withdrawal: a record id of the first withdrawal written, which names its
	   receipt (receipt.h); "" when nothing was withdrawn */
	char receipt[CID_ID_CHARS + 1];
};

/*
 * The rule of the account page: applies ch under the policies in force and
 * the citizen's own records, and fills *out (always, also on a refusal).
 *  - Withdraw an attribute: its latest record must be a grant in force.
 *    A purpose: every attribute of it with a grant in force (one at least).
 *    A service: every grant in force of every purpose of it (none is fine),
 *    and then every grant (refresh and access tokens) of the service for the
 *    citizen is revoked (cid_grant_revoke_client).
 *  - Share an attribute: its latest record must be a refusal or withdrawal,
 *    and the purpose in force must still ask it (the evaluator says "no
 *    consent yet", as for the consent screen); the grant is recorded under
 *    the policy version and purpose digest in force, lasting the purpose's
 *    consent_valid.
 *  - A purpose whose basis is a statute can be neither withdrawn nor shared.
 * A withdrawal is one decision per purpose, each with its receipt:
 * out->receipt names the first one's.
 * Records are written by consent.c (cid_consent_withdraw, cid_consent_record,
 * method CID_CONSENT_METHOD_ACCOUNT), each with its audit entry, so the
 * next token, refresh or userinfo of the service sees the change.
 * Errors: CID_ERR_INVALID (names no record can have, no service, share
 * without attribute, attribute without purpose), CID_ERR_REFUSED (the rule
 * says no: out->notice says why; nothing written), CID_ERR_STORE,
 * CID_ERR_NOMEM, CID_ERR_CRYPTO. Withdrawing a service writes each purpose
 * in its own transaction and revokes the tokens last: on an error, what was
 * written stays written (each part is whole).
 */
CID_MUST_CHECK enum cid_err cid_account_consent_change(struct cid_ctx *ctx,
						       const struct cid_account_change *ch,
						       struct cid_account_outcome *out);

/* What the account page offers for one attribute. */
enum cid_account_offer {
	CID_OFFER_NONE,	    /* nothing: expired (the consent screen asks again), by law, ... */
	CID_OFFER_WITHDRAW, /* a grant in force */
	CID_OFFER_SHARE,    /* refused or withdrawn, and the purpose in force still asks it */
};

/*
 * What the citizen may do with the attribute whose current decision (its
 * latest record) is rec, under the policies ps at now: the rule that
 * cid_account_consent_change applies to one attribute, so the page offers
 * exactly the buttons that work. Never allocates; thread-safe.
 */
enum cid_account_offer cid_account_offer(const struct cid_policyset *ps,
					 const struct cid_consent_record *rec, int64_t now);

/* The name of a notice in the redirect ("withdrawn_attribute", ...), NULL for NONE. Static. */
const char *cid_account_notice_name(enum cid_account_notice notice);

/* POST /account/consent (see above); after a withdrawal the redirect carries ?receipt=. */
CID_MUST_CHECK enum cid_err cid_account_consent_post(struct cid_ctx *ctx,
						     const struct cid_request *req,
						     struct cid_reply *reply);

/*
 * The notice of a GET /account after a change: when req names a known
 * notice (?notice=), sets data's "notice" to a list of one {"key"
 * ("account_notice_KIND"), "error" (bool), "service"?, "purpose"?,
 * "label_key"? ("attr.NAME"), "receipt"? (after a withdrawal: the record id
 * naming its receipt, ?receipt=, a UUID; the receipt page answers only the
 * citizen's own)} with the request's names (escaped by the template: they are shown, never
 * trusted). Nothing for no or an unknown notice. Errors: CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_account_notice(const struct cid_request *req, json_t *data);

/*
 * The CSRF token of the account page's forms into data's "csrf" (setting the
 * browser's CSRF cookie in reply when it has none). Errors: CID_ERR_CRYPTO,
 * CID_ERR_TOOBIG, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_account_form_token(struct cid_ctx *ctx,
						   const struct cid_request *req,
						   struct cid_reply *reply, json_t *data);

#endif
