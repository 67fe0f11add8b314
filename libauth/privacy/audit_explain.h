/*
 * audit_explain: why one entry of the audit log is what it is, from the
 * store alone: the entry, the policy version it names read back from the
 * policy archive (policy_archive.h), the exact ja/en notice of its purpose
 * under that version, the rule's line, the consent records behind it with
 * the history of each, and how the citizen authenticated.
 *
 * It checks what it shows: the archived text's SHA-256 must be the version,
 * the purpose digest recomputed from that text must be the one recorded
 * (in the entry, and in the consent records that justified a permit), and a
 * mismatch is a problem, never silently skipped. What is not there to check
 * (a version loaded before the archive existed, an entry without a digest)
 * is a gap. Above audit, policy, policy_archive and consent, which know
 * nothing of it. Thread-safe.
 */
#ifndef CID_AUDIT_EXPLAIN_H
#define CID_AUDIT_EXPLAIN_H

#include "err.h"
#include "store.h"

#include <jansson.h>
#include <stdint.h>

/*
 * The explanation of entry seq of the log in s, as JSON (*out, new reference):
 *   {"seq", "entry": the entry as stored,
 *    "account"?: the account id the entry's "citizen" names (its pseudonym
 *                resolved; absent when it names none or was purged): a
 *                caller showing the explanation records that look
 *                (cid_audit_operator_viewed),
 *    "authentication": {"level"?, "acr"?, "amr"?, "auth_time"?}   (what the entry recorded),
 *    "policy": {"version", "archived": bool, "intact": bool, "service"?, "file"?,
 *               "loaded_at"? (RFC 3339 of its first load), "rule_line"? (the
 *               text of the entry's rule "file:N" in that version)}   (when the
 *               entry names a policy version),
 *    "notice": {"purpose", "text_ja", "text_en", "basis", "statute"?,
 *               "retention_days", "digest" (recomputed), "digest_recorded"?,
 *               "matches": bool}   (when the archived text holds the purpose),
 *    "consents": [{"record": the record as stored (null when not found, with
 *                  "id"), "same_notice": bool (its purpose digest is the
 *                  notice's), "history": [every record of its (citizen,
 *                  service, purpose, attribute), oldest first]}],
 *    "problems": [text...]  mismatches: the archived text is not its
 *                version, the recomputed digest differs from the recorded
 *                one, a consent record behind a permit or a grant was given
 *                under another notice, the archived text does not parse;
 *    "gaps": [text...]}     what could not be checked, and why.
 * "problems" empty means every check made held.
 * Errors: CID_ERR_NOTFOUND (no entry seq), CID_ERR_INVALID (s or out NULL),
 * CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_audit_explain(struct cid_store *s, uint64_t seq, json_t **out);

#endif
