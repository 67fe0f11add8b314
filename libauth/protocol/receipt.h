/*
 * receipt: signed consent receipts (Kantara Consent Receipt Specification
 * 1.1) of the consents a citizen gave.
 *
 * One receipt covers one consent decision: the granted records of one
 * (citizen, service, purpose) written together, i.e. with the same "at",
 * how.method, how.request_id and policy_version (one submit of the consent
 * screen, or one `civicid consent grant`). Refusals in the same decision are
 * not listed: a receipt is the evidence of what was given. Any granted
 * record id of the decision names the same receipt; its consentReceiptID
 * (and jti) is the id of the decision's first record (the lowest seq), so
 * the receipt id is stable however it is asked for. A receipt attests the
 * consent as given at consentTimestamp; a later withdrawal or expiry does not
 * unmake it (the account page and `civicid consent list` say what is in
 * force now). A withdrawal has a receipt too, by the same rules over its
 * withdrawn records (Kantara 1.1 has no withdrawal receipt: the format is
 * the same, "consent_state" says "withdrawn", consentTimestamp is when it
 * was withdrawn, "termination" says so, "expires_at" is null and "audit"
 * proves the consent.withdrawn entry). Refused records have no receipt.
 *
 * The receipt is a compact JWS, header {"alg":"ES256","typ":CID_RECEIPT_TYP,
 * "kid"}, signed with the server's active ES256 key, so anyone holding the
 * JWKS (GET /jwks) verifies it offline. Its claims:
 *   "iss"               the issuer
 *   "iat"               when this copy was signed (unix seconds)
 *   "jti"               = consentReceiptID
 *   "version"           "KI-CR-v1.1.0"
 *   "jurisdiction"      config jurisdiction ("JP")
 *   "consentTimestamp"  the records' "at" (unix seconds, as Kantara 1.1)
 *   "collectionMethod"  the records' how.method ("web:consent-screen", "cli:paper")
 *   "consentReceiptID"  the id of the decision's first record
 *   "language"          "ja" or "en": the language of the texts below
 *   "piiPrincipalId"    the citizen's subject for this service as the service
 *                       sees it (cid_token_subject: pairwise by default)
 *   "piiControllers"    [{"piiController","contact","address":{"streetAddress",
 *                       "addressCountry"},"email","phone"?,"piiControllerUrl"}]
 *                       from the config (controller_*; piiControllerUrl is the issuer)
 *   "policyUrl"         config policy_url
 *   "services"          [{"service": "<display name> (<client_id>)", "client_id",
 *                       "purposes": [{"purpose" (the purpose text of the policy),
 *                       "purposeCategory": ["2 - Contracted Service"],
 *                       "consentType": "EXPLICIT", "piiCategory": [attribute
 *                       names, sorted], "primaryPurpose": true, "termination"
 *                       (until when the consent holds, and the retention at the
 *                       service, as text), "thirdPartyDisclosure": true,
 *                       "thirdPartyName": the service's display name}]}]
 *                       The service is the recipient of attributes the city
 *                       holds, hence a disclosure to a third party; civicid
 *                       has no purpose categories yet, and a citizen signs in
 *                       to use the service: "2 - Contracted Service".
 *   "sensitive"         false, "spiCat" []: no claim of account.h is a special
 *                       category (要配慮個人情報)
 * civicid extensions:
 *   "policy_version", "purpose_digest"  as recorded (policy.h)
 *   "purpose_id"        the purpose's id in the policy
 *   "purpose_text_current" true if the policy in force still has the recorded
 *                       purpose_digest, i.e. "purpose" is the text the citizen
 *                       was shown; false if the policy changed since (then
 *                       "purpose" is today's text, or the id when the purpose
 *                       is gone)
 *   "expires_at"        RFC 3339 time the consent lapses, or null (until withdrawn)
 *   "consent_records"   the ids of every record the receipt covers
 *   "consent_state"     "granted", or "withdrawn" for a withdrawal's receipt
 *   "audit"             the log entry that recorded the decision and its
 *                       inclusion proof (cid_audit_record_proof): {"seq",
 *                       "size", "entry", "leaf_hash", "proof", "checkpoint"},
 *                       so the receipt verifies offline against
 *                       the log's vkeys without the rest of the log; a
 *                       checkpoint is signed first when none covers the entry.
 *                       Absent for a decision recorded before the log, or
 *                       while a store's tree is still being built
 * Thread-safe.
 */
#ifndef CID_RECEIPT_H
#define CID_RECEIPT_H

#include "cid.h"
#include "err.h"
#include "jose.h"

#include <jansson.h>
#include <stdint.h>

/* The JWS "typ" of a receipt (explicit typing, RFC 8725 §3.11): never mistaken for a token. */
#define CID_RECEIPT_TYP "consent-receipt+jwt"

/* Kantara CR 1.1 "version". */
#define CID_RECEIPT_VERSION "KI-CR-v1.1.0"

/*
 * Builds and signs the receipt of the consent decision of record record_id.
 * account_id (may be NULL: an operator's request) restricts the lookup to that
 * citizen's records: another citizen's record is CID_ERR_NOTFOUND, exactly as
 * an unknown id. locale ("ja" or "en"; anything else reads as "ja") chooses the
 * texts. now is the iat. *jws_out (caller frees) is the compact JWS;
 * *claims_out (may be NULL; new reference) its claims.
 * Errors: CID_ERR_INVALID (record_id is not UUID syntax), CID_ERR_NOTFOUND
 * (no such record, another citizen's, or the service's client registration is
 * gone so its subject cannot be computed), CID_ERR_REFUSED (the record refuses
 * a consent: only a consent given or withdrawn has a receipt),
 * CID_ERR_CONFIG (controller_name, controller_contact, controller_address,
 * controller_email or policy_url is not set: a receipt must name who is
 * accountable), CID_ERR_STORE, CID_ERR_CRYPTO, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_receipt_make(struct cid_ctx *ctx, const char *record_id,
					     const char *account_id, const char *locale,
					     int64_t now, char **jws_out, json_t **claims_out);

/*
 * Verifies a receipt (compact JWS of len bytes, at most CID_MAX_RECEIPT:
 * its log proof makes it larger than a token) with the keys of ks and the
 * receipt typ, as anyone holding the JWKS does. *claims_out: new reference.
 * Errors: those of cid_jws_verify_max.
 */
CID_MUST_CHECK enum cid_err cid_receipt_verify(const struct cid_keyset *ks, const char *jws,
					       size_t len, json_t **claims_out);

#endif
