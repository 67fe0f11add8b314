/*
 * account_delete: erasing a citizen at their request (APPI Art. 35, GDPR
 * Art. 17). Everything that holds the citizen's personal data, or lets
 * anything act as them, is deleted in ONE durable write transaction, each
 * part by the module that owns it, with the audit entry that says so: a
 * crash leaves the citizen whole or gone, never half-deleted. It sits in
 * the protocol layer because grants (token.h) are the highest part of it.
 *
 * Deleted (every database that keys or names a citizen by account id or
 * username):
 *   CID_DB_CITIZENS       the record: claims, verified claims and their
 *                         provenance, password hash, TOTP secret (enrolled
 *                         or pending) and its last used step (account.h)
 *   CID_DB_USERNAMES      the username's entry: the name is free, and
 *                         registering it again makes a NEW citizen (new id)
 *   CID_DB_THROTTLE       "code:citizen:<id>", the run of wrong one-time codes
 *   CID_DB_SESSIONS, CID_DB_SESSION_INDEX   every SSO session and its two
 *                         index keys, ended as a disable ends them
 *                         (logout.h): each live one's services with a
 *                         back-channel logout URI are sent a notice (cause
 *                         "deleted")
 *   CID_DB_GRANTS, CID_DB_GRANT_INDEX   every grant (scope, nonce, requested
 *                         claims, acr) and its index key (token.h): codes,
 *                         refresh tokens and access tokens of the grants
 *                         are refused from the commit on
 *   CID_DB_IDP_LINKS      every upstream identity linked to the account
 *                         (idp.h): logging in with one again makes a new
 *                         citizen or asks to link, as for a stranger
 *   CID_DB_LOGINS         the recent login attempts (logins.h)
 *
 * Kept, and why:
 *   CID_DB_AUDIT, CID_DB_AUDIT_IDX, CID_DB_AUDIT_TREE, CID_DB_AUDIT_CP   the
 *                         audit log is append-only and proved by its hash
 *                         chain, Merkle tree and signed checkpoints: an
 *                         entry removed would break every proof after it.
 *                         Its entries name a pseudonym (pseudonym.h), never
 *                         the account id (but those written before
 *                         pseudonyms), and never an attribute's value.
 *   CID_DB_PSEUDONYMS     the mapping from the pseudonyms to the account id:
 *                         each purpose's is purged at the end of its
 *                         retention (retention.h), after which its entries
 *                         name nobody. Scopes of no purpose (the operator's
 *                         and officers' reads, and this deletion's own
 *                         entry) are not purged by it.
 *   CID_DB_CONSENTS, CID_DB_CONSENT_IDS   consent records are the evidence
 *                         of what the citizen agreed to, under which notice,
 *                         when (consent.h): the account id, service, purpose
 *                         and attribute NAMES, never a value. Every grant
 *                         still in force is withdrawn (a WITHDRAWN record
 *                         and its consent.withdrawn entry, method
 *                         "cli:withdraw", or "web:account" when the citizen
 *                         asked), so nothing of the citizen is in
 *                         force and each purpose's retention runs from the
 *                         deletion: retention.h then deletes the records
 *                         with their scope's mapping.
 *   CID_DB_LOGOUT_QUEUE   the notices this deletion queued hold the account
 *                         id (to compute the subject each service knows the
 *                         citizen by) until sent or given up (logout.h).
 * Hold nothing of the citizen once the above are gone: CID_DB_CODES and
 * CID_DB_REFRESH (a grant id, a client_id, times: refused, their grant
 * gone; the janitor deletes them at their expiry, janitor.h), CID_DB_REVOKED
 * (a jti), the throttle's "pair:" (a hash of name and
 * address) and "addr:" counters (forgotten after their window),
 * CID_DB_AUTHREQS (pending requests name a session, not an account, and
 * expire), CID_DB_PAIRWISE (unused: subjects are computed, token.h); META,
 * CLIENTS, KEYS, OFFICERS, OFFICER_SESSIONS, WITNESS, POLICIES, IDPS hold
 * nothing of citizens. Access tokens a service already holds are JWTs: they
 * name the grant, so userinfo refuses them from the commit on.
 *
 * Thread-safe (all state in the store).
 */
#ifndef CID_ACCOUNT_DELETE_H
#define CID_ACCOUNT_DELETE_H

#include "bounds.h"
#include "err.h"
#include "store.h"

#include <stddef.h>
#include <stdint.h>

/* What a deletion removed. */
struct cid_account_deleted {
	char id[CID_ID_CHARS + 1]; /* the account id that was the citizen's */
	size_t sessions;	   /* SSO sessions ended */
	size_t grants;		   /* grants deleted */
	size_t links;		   /* upstream identities unlinked */
	size_t withdrawn;	   /* consent grants in force withdrawn */
	uint64_t seq;		   /* the seq of its account.deleted entry */
};

/*
 * Deletes citizen username at now, at the operator's command, as the header
 * says (consents withdrawn with method "cli:withdraw"), and in the same
 * transaction appends
 *   {"type": "account.deleted", "time": now, "actor": "operator",
 *    "endpoint": "cli", "citizen": the account id (the log holds its
 *    pseudonym of no purpose), "ext": {"sessions", "grants", "links",
 *    "withdrawn": decimal strings, what was removed or withdrawn}}
 * *out (may be NULL) is written only on success.
 * Errors: CID_ERR_NOTFOUND (no such citizen, a malformed username; nothing
 * changes: a second deletion of one name finds none), CID_ERR_STORE,
 * CID_ERR_CRYPTO, CID_ERR_NOMEM, those of cid_audit_append_txn (nothing is
 * deleted then).
 */
CID_MUST_CHECK enum cid_err cid_account_delete(struct cid_store *s, const char *username,
					       int64_t now, struct cid_account_deleted *out);

/*
 * Deletes the citizen of account_id at now at their own request (the
 * security page, account_erase.h), as cid_account_delete does, but the
 * consents are withdrawn with method "web:account" and the entry says the
 * citizen asked: "actor": "citizen", "endpoint": "account" (the rest as
 * above). The account id comes from the citizen's session, never from a form.
 * *out (may be NULL) is written only on success.
 * Errors: as cid_account_delete (CID_ERR_NOTFOUND: no such citizen, or a
 * malformed id; nothing changes).
 */
CID_MUST_CHECK enum cid_err cid_account_delete_own(struct cid_store *s, const char *account_id,
						   int64_t now, struct cid_account_deleted *out);

#endif
