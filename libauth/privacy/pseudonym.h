/*
 * pseudonym: the names the audit log gives citizens. An entry never holds an
 * account id: audit.c's chain_put replaces the entry's "citizen" with the
 * pseudonym of its scope, (account, service, purpose), made here on first
 * use: "ps_" and 32 lowercase hex digits of 128 random bits, nothing derived
 * from the account. The mapping lives in CID_DB_PSEUDONYMS, apart from the
 * log and never hashed into it:
 *   "a\n" account "\n" service "\n" purpose -> pseudonym
 *   "p\n" pseudonym -> {"citizen", "service", "purpose"}
 * (service and purpose "" when the entry has none). Deleting both keys
 * (cid_pseudonym_purge, at the end of the purpose's retention: retention.h)
 * unlinks every entry of the scope from the citizen while the log, which
 * holds only the pseudonym, still verifies. One pseudonym per purpose, not
 * per citizen, so one purpose's end does not unlink another's entries and
 * two purposes' entries cannot be joined by their name.
 *
 * Entries written before pseudonyms keep the account id they hold; readers
 * look a citizen up under both (cid_pseudonym_names).
 *
 * Every function runs in the caller's transaction. Thread-safe as that is.
 */
#ifndef CID_PSEUDONYM_H
#define CID_PSEUDONYM_H

#include "err.h"
#include "store.h"

#include <jansson.h>
#include <stdbool.h>

#define CID_PSEUDONYM_PREFIX "ps_"
#define CID_PSEUDONYM_CHARS  35 /* "ps_" and 32 hex digits */

/* True if s has the shape of a pseudonym ("ps_" and 32 lowercase hex digits). */
bool cid_pseudonym_syntax_ok(const char *s);

/*
 * The pseudonym of (account, service, purpose) into out, made and stored in
 * txn (a write transaction) when the scope has none. service and purpose may
 * be NULL (stored as ""). Errors: CID_ERR_INVALID (account NULL or empty, a
 * name with a newline, the key too long), CID_ERR_CRYPTO, CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err cid_pseudonym_get_or_make(struct cid_txn *txn, const char *account,
						      const char *service, const char *purpose,
						      char out[CID_PSEUDONYM_CHARS + 1]);

/*
 * The scope of pseudonym p: *out (new reference) {"citizen", "service",
 * "purpose"}. Errors: CID_ERR_INVALID (p not a pseudonym), CID_ERR_NOTFOUND
 * (never made, or purged), CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err cid_pseudonym_resolve(struct cid_txn *txn, const char *p, json_t **out);

/*
 * Every name the log may give account: the account id itself (entries from
 * before pseudonyms) and each pseudonym of its scopes. *out: new array of
 * strings, the account id first. Errors: CID_ERR_INVALID (account NULL or
 * empty), CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_pseudonym_names(struct cid_txn *txn, const char *account,
						json_t **out);

/*
 * Whether account has a scope of a purpose (a mapping whose purpose is not
 * ""), read from the mapping's keys alone: *any. Errors: CID_ERR_INVALID
 * (account NULL, empty or with a newline, any NULL), CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err cid_pseudonym_purposed(struct cid_txn *txn, const char *account,
						   bool *any);

/*
 * Deletes the mapping of pseudonym p (both directions) in txn, a write
 * transaction. *purged: true if there was one, false if it was gone already
 * (idempotent). Errors: CID_ERR_INVALID (p not a pseudonym), CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err cid_pseudonym_purge(struct cid_txn *txn, const char *p, bool *purged);

#endif
