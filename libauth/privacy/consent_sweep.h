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
	size_t damaged; /* latest records that did not read (cid_consent_record_read): skipped */
	uint64_t first; /* seq of the first entry written (when written > 0) */
};

/*
 * Scans the latest consent record of every attribute (one read
 * transaction) for grants expired at now whose consent.expired entry is not
 * written yet, and appends, in one commit, the first max of them in key
 * order (citizen, service, purpose, attribute), each:
 *   {"type": "consent.expired", "time": now, "actor": "system", "citizen",
 *    "service", "purpose", "attributes": [the record's attribute],
 *    "consent_records": [its id], "basis": "consent", "policy_version",
 *    "purpose_digest", "expires_at": when it expired}
 * A record already logged (by a release or an earlier sweep, even one
 * racing this one) is skipped, so running it again writes nothing new.
 * A latest record that does not read (a damaged store) is skipped and
 * counted in damaged, so the other citizens' entries are still written.
 * Errors: CID_ERR_INVALID (s, log or out NULL, max 0), CID_ERR_STORE (the
 * store failed), those of cid_audit_append; then nothing of this run is in
 * the log.
 */
CID_MUST_CHECK enum cid_err cid_consent_sweep(struct cid_store *s, struct cid_audit *log,
					      int64_t now, size_t max,
					      struct cid_consent_sweep *out);

#endif
