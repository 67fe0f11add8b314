/*
 * consent_sweep: the sweeper that writes consent.expired when a consent
 * expires, not only when a release meets it. A grant past its expires_at
 * (cid_consent_state_at) that is still the latest record of its attribute
 * gets one consent.expired entry, ever: the entry shares its once-key
 * ("x\n" record id, audit.h) with the one a release writes for the same
 * record, so whichever comes first is the only one. It sits above the
 * consent records and the log, as audit_release does.
 *
 * Thread-safe: as cid_audit_append.
 */
#ifndef CID_CONSENT_SWEEP_H
#define CID_CONSENT_SWEEP_H

#include "audit.h"
#include "err.h"
#include "store.h"

#include <stddef.h>
#include <stdint.h>

/* What one sweep did. */
struct cid_consent_sweep {
	size_t written; /* consent.expired entries written by this run */
	size_t left;	/* expired grants still without their entry (beyond max): run again */
	size_t damaged; /* due records that did not read (cid_consent_record_read): skipped */
	size_t visited; /* keys of the due index read: those due at now, not every record */
	uint64_t first; /* seq of the first entry written (when written > 0) */
};

/*
 * Reads the due index (consent.h, CID_DB_CONSENT_DUE) up to now (one read
 * transaction; nothing past now, so a run costs what is due, not every
 * record) for grants expired at now that are still the latest record of
 * their attribute and whose consent.expired entry is not written yet, and
 * appends, in one commit, the first max of them in due order, each:
 *   {"type": "consent.expired", "time": now, "actor": "system", "citizen",
 *    "service", "purpose", "attributes": [the record's attribute],
 *    "consent_records": [its id], "basis": "consent", "policy_version",
 *    "purpose_digest", "expires_at": when it expired}
 * A record already logged (by a release or an earlier sweep, even one
 * racing this one) is skipped, so running it again writes nothing new.
 * Then, in a second commit, removes the due keys it handled: those it
 * logged, and those of grants superseded, logged, purged or damaged (a
 * damaged record is counted in damaged, once, and kept), so the other
 * citizens' entries are still written.
 * The index is made whole first (cid_consent_due_ensure: one read when it
 * is, as after cid_ctx_open), so grants written before it are seen.
 * Errors: CID_ERR_INVALID (s, log or out NULL, max 0 or huge, now < 0),
 * CID_ERR_STORE (the store failed), CID_ERR_NOMEM, those of
 * cid_audit_append; then nothing of this run is in the log (an entry
 * written whose key stayed is found logged by the next run).
 */
CID_MUST_CHECK enum cid_err cid_consent_sweep(struct cid_store *s, struct cid_audit *log,
					      int64_t now, size_t max,
					      struct cid_consent_sweep *out);

/*
 * Makes the due index whole: checks in O(1), in a read transaction, that
 * META CID_CONSENT_DUE_MARK says so (consent.h), and if not (a store written before the index, or
 * since by a build without it) rebuilds it in one write transaction from
 * every record: a key for each latest record of an attribute that is a
 * grant with an expiry and has no consent.expired entry yet. A damaged
 * record (one that does not read: cid_consent_record_read) is left out and
 * kept, not an error; as the latest of its attribute it still supersedes
 * the grant before it, as for the sweep. cid_ctx_open runs it. *built (may
 * be NULL) receives how many keys it wrote (0: the index was whole).
 * Errors: CID_ERR_INVALID (s NULL), CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_consent_due_ensure(struct cid_store *s, size_t *built);

/*
 * cid_consent_due_ensure, and *damaged (may be NULL): how many damaged
 * records a build left out (0 when the index was whole: none was read).
 */
CID_MUST_CHECK enum cid_err cid_consent_due_ensure_counted(struct cid_store *s, size_t *built,
							   size_t *damaged);

#endif
