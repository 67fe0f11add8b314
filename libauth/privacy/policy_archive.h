/*
 * policy_archive: every policy file ever loaded, kept in the store by its
 * version, so that what a citizen was shown stays readable after the file
 * changes or goes.
 *
 * A log entry or a consent record names the policy version it was decided
 * under (the hex SHA-256 of the file, policy.h); the file's text is what
 * holds the purpose's ja/en notice, the rule lines and the purpose digest.
 * Each load (the server's start, every reload) puts the text of each policy
 * of the set under its version, once: a version already kept is never
 * rewritten, so the first load's service, file name and time stay, and
 * loading the same files again writes nothing. Versions are never deleted.
 *
 * Store layout (CID_DB_POLICIES): version (64 lowercase hex digits) ->
 *   {"service", "file" (base name, as rules name it), "text" (the file, UTF-8),
 *    "loaded_at" (unix seconds of the first load)}
 * Thread-safe.
 */
#ifndef CID_POLICY_ARCHIVE_H
#define CID_POLICY_ARCHIVE_H

#include "err.h"
#include "policy.h"
#include "store.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Keeps the text of every policy of ps under its version, in one write
 * transaction of s, unless that version is kept already. *added (may be
 * NULL): the number of versions new to the archive.
 * Errors: CID_ERR_INVALID (s or ps NULL, a policy's text not UTF-8),
 * CID_ERR_STORE, CID_ERR_NOMEM; on any, nothing is written.
 */
CID_MUST_CHECK enum cid_err cid_policy_archive_put(struct cid_store *s,
						   const struct cid_policyset *ps, int64_t now,
						   size_t *added);

/*
 * The archived policy of version as stored (the members above and
 * "version"). *out: new reference. Not checked here: a caller that relies
 * on the text checks its SHA-256 against version (cid_policy_archive_intact).
 * Errors: CID_ERR_NOTFOUND (never loaded, or version not 64 hex digits),
 * CID_ERR_STORE (damaged record), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_policy_archive_get(struct cid_txn *txn, const char *version,
						   json_t **out);

/* True when rec (of cid_policy_archive_get) has a "text" whose SHA-256 is its "version". */
bool cid_policy_archive_intact(const json_t *rec);

#endif
