/*
 * release: the single point where a citizen's attributes are chosen for a
 * service, and where what the citizen must first be asked is worked out.
 *
 * Every personal attribute that leaves civicid (ID-token claims, userinfo)
 * is selected by cid_release_claims and nowhere else. What a service asks for
 * is the claims of its granted scopes (account_claims.c's claim table names each
 * claim's scope) and the claims the OIDC `claims` parameter names for the
 * target (Core §5.5) whose scope the client may ask for; asking is never a
 * grant. Each asked attribute that the citizen has goes to the policy
 * evaluator (policy.h) across the service's purposes, with the citizen's
 * current consent decisions (consent.h) read in one read transaction:
 * permitted if some purpose permits it and no purpose denies it explicitly. Every decision, permit
 * or deny, is handed to the audit hook before anything is released; a hook that fails stops the
 * release.
 *
 * cid_release_prompt answers the authorization endpoint's question before a
 * code is issued: must the citizen step up to a higher authentication level,
 * and which consent-based attributes need the citizen's decision (the consent
 * screen)? It uses the same notion of "asked" and the same evaluator.
 *
 * Nothing here allocates in a decision; the consent facts of a release are
 * read once per purpose. Thread-safe: everything is borrowed for the call.
 */
#ifndef CID_RELEASE_H
#define CID_RELEASE_H

#include "account.h"
#include "audit.h"
#include "err.h"
#include "policy.h"
#include "store.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

enum cid_release_target {
	CID_RELEASE_ID_TOKEN,
	CID_RELEASE_USERINFO,
};

/* "id_token" or "userinfo": the endpoint a decision was made for. */
const char *cid_release_target_name(enum cid_release_target target);

/* One decision of a release: the attribute asked and how it was decided. */
struct cid_release_decision {
	const char *attribute;	      /* the claim as stored, e.g. "family_name#ja-Kana-JP" */
	const char *purpose;	      /* the deciding purpose's id, NULL when none (no policy) */
	struct cid_decision decision; /* permit, reason, rule, basis, consent record, version */
	const char *purpose_digest;   /* that purpose's digest (policy.h): what it asks, notice
					 texts included; NULL with purpose */
	const json_t *source;	      /* a permitted verified value: its provenance entry
					 (account.h's cid_account_verified_get), borrowed from
					 the citizen; else NULL */
};

/*
 * What the audit hook receives: every decision of one release, permits and
 * denies, all borrowed for the call only.
 */
struct cid_release_event {
	const char *service;	/* the client_id */
	const char *account_id; /* the citizen */
	enum cid_release_target target;
	int level;		/* the authentication level the release was decided at */
	const char *acr;	/* how the citizen authenticated: the grant's acr (NULL: none) */
	const char *const *amr; /* and its methods (RFC 8176), n_amr of them */
	size_t n_amr;
	int64_t auth_time;	/* when the citizen authenticated (0: unknown) */
	int64_t now;		/* when */
	const char *request_id; /* the release's correlation id (may be NULL) */
	const char *grant_id;	/* the grant released under (may be NULL) */
	const struct cid_release_decision *decisions;
	size_t n_decisions;
};

/*
 * The audit hook: called once per release, synchronously, before any claim is
 * added to the answer; it reports the entries it wrote in *range (audit.h).
 * audit_release.h has the one that writes to the audit log. Returning
 * anything but CID_OK stops the release (the endpoint answers with a server
 * error and nothing leaves).
 */
typedef enum cid_err (*cid_audit_hook)(void *arg, const struct cid_release_event *event,
				       struct cid_audit_range *range);

/* What one release (or one prompt) is decided from; everything borrowed. */
struct cid_release_request {
	const struct cid_policyset *policies; /* the snapshot in force */
	struct cid_txn *txn;		      /* a read transaction: the consent records;
						 cid_release_claims ends it (cid_store_read_end)
						 before the audit hook, which may write */
	const char *service;		      /* client_id */
	const char *account_id;
	const struct cid_account *citizen; /* of cid_account_get: whose claims may leave */
	const char *scope;		   /* the granted scope ("" or NULL: none) */
	const json_t *claims_request;	   /* the parsed `claims` parameter, or NULL */
	const char *client_scopes;	   /* the scopes the client may ask for (its
					      registration's): the claims parameter asks
					      only for claims of these (NULL: none) */
	int level;			   /* CID_LEVEL_PASSWORD, _MFA or _HIGH */
	const char *acr;		   /* passed on to the hook (may be NULL) */
	const char *const *amr;		   /* passed on to the hook, n_amr of them */
	size_t n_amr;
	int64_t auth_time; /* passed on to the hook (0: unknown) */
	int64_t now;
	cid_audit_hook audit; /* may be NULL: no hook */
	void *audit_arg;
	const char *request_id;	       /* passed on to the hook (may be NULL) */
	const char *grant_id;	       /* passed on to the hook (may be NULL) */
	struct cid_audit_range *range; /* may be NULL; else receives the hook's range
					  (count 0 when nothing was decided) */
};

/* The authentication level of an acr: CID_LEVEL_HIGH for urn:civicid:acr:high, CID_LEVEL_MFA
 * for urn:civicid:acr:mfa, else password. */
int cid_release_level(const char *acr);

/*
 * Adds to out (a JSON object, borrowed) the claims of rq->citizen that the
 * policy permits for target, after handing every decision to rq->audit. A
 * claim the citizen does not have is absent, never null; a stored member that
 * is not a claim of account.h's table is never released; a claim not
 * permitted is simply absent. A claim is the citizen's typed value, or,
 * without one, the value an upstream imported (account.h's "verified").
 * When the permitting rule says `verified` (policy.h), only a verified value
 * (cid_account_verified_get) may leave, never a typed one: it goes out as
 * OIDC for Identity Assurance 1.0 "verified_claims", one element per
 * verification {"verification": {"trust_framework", "time"?, "evidence"?},
 * "claims": {...}} (an object when there is one, else an array), and its
 * decision carries the source; with no verified value the decision is a
 * deny, not_verified. Asked means as for any claim: its scope, or the claims
 * parameter naming it for target, at the top or in verified_claims.claims,
 * when its scope is one of rq->client_scopes (a claim named outside them is
 * ignored, OIDC Core §5.5). A claim asked only in verified_claims.claims
 * (not by scope, nor at the top) asks for its verified value alone: under
 * any permit it leaves only as verified_claims, and with no verified value
 * the decision is a deny, not_verified, as under `verified`.
 * Errors: CID_ERR_NOMEM, CID_ERR_STORE (reading consent records), the audit
 * hook's error (then out is untouched).
 */
CID_MUST_CHECK enum cid_err cid_release_claims(const struct cid_release_request *rq,
					       enum cid_release_target target, json_t *out);

/*
 * Works out, for an authorization request about to be granted (both targets
 * count as asked), what the citizen must do first. *step_up is true when an
 * asked attribute is denied only for level_too_low at rq->level and would be
 * permitted, or asked, at level 2. *ask (new reference) is the consent screen's
 * content, an array of the purposes to show, in file order:
 *   [{"purpose","basis":"consent"|"statute","statute"?,"digest","version",
 *     "consent_valid_days","ask":[attribute...],"info":[attribute...],
 *     "unavailable"?:[attribute...],
 *     "verified"?:{attribute:{"issuer","trust_framework"}}}]
 * "ask" lists the consent-basis attributes to decide: those without a
 * current decision (no_consent, expired, policy_changed) or, with
 * prompt_consent, every asked one the purpose could release with consent.
 * "info" lists the statute-based attributes released without consent.
 * "verified" (present when not empty) maps each attribute of "ask" or
 * "info" whose release would use a value an upstream verified (the
 * purpose's rule says `verified`, or the attribute is asked only in
 * verified_claims, and the citizen holds one, as in cid_release_claims) to
 * {"issuer", "trust_framework"} of that value: what the consent screen
 * tells the citizen of it.
 * "unavailable" (present when not empty) lists, instead of "ask" or
 * "info", each attribute whose rule says `verified` (or that is asked only
 * in verified_claims) while the citizen holds no verified value of it: the release would deny it
 * (not_verified), so the screen offers no choice and promises nothing; it counts in no *n_ask.
 * Attributes are base names (family_name stands for its tagged forms); an
 * attribute some purpose denies explicitly is never shown. *n_ask is the
 * number of attributes to decide over all purposes: no screen is needed when
 * it is 0. At most max_ask are asked (the rest wait for the next request).
 * step_up_attrs (a JSON array, may be NULL) receives the base names of the
 * attributes that make *step_up true, once each (purpose by purpose, in the
 * claim table's order within one):
 * what the step-up page tells the citizen the stronger login is for.
 * Errors: CID_ERR_NOMEM, CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err cid_release_prompt(const struct cid_release_request *rq,
					       bool prompt_consent, size_t max_ask, bool *step_up,
					       json_t *step_up_attrs, json_t **ask, size_t *n_ask);

#endif
