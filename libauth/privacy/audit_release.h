/*
 * audit_release: the audit hook of release.h that records every release
 * decision in the audit log of audit.h. It sits above both: the log knows
 * nothing of releases, the release knows the log only as the hook it calls
 * (cid.c installs this one on every context).
 *
 * Thread-safe: as cid_audit_append.
 */
#ifndef CID_AUDIT_RELEASE_H
#define CID_AUDIT_RELEASE_H

#include "audit.h"
#include "err.h"
#include "release.h"

/*
 * The audit hook (cid_audit_hook; arg: the struct cid_audit *). Turns the
 * event into entries and appends them as consecutive entries (one commit)
 * before it returns, first:
 *   - one "consent.expired" entry (actor "system") per consent record behind
 *     a decision denied with reason expired, only the first time that record
 *     is seen in any release: its attributes are the base names denied with
 *     it, "consent_records" that one record; then
 *   - one "release.permit" or "release.deny" entry (actor "service") per
 *     group of decisions sharing (decision, purpose, reason, basis, rule),
 *     in the order the groups first appear, with the group's attributes and
 *     consent records sorted and without repeats, "endpoint" the target's
 *     name, and the event's level, request_id (the release id) and grant_id.
 * *range is the seqs written (count 0 when the event has no decisions).
 * Errors: CID_ERR_INVALID (a consent record id empty or over 200 bytes, a
 * member cid_audit_append refuses), those of cid_audit_append; then nothing
 * of the event is in the log.
 */
CID_MUST_CHECK enum cid_err cid_audit_release_hook(void *log, const struct cid_release_event *ev,
						   struct cid_audit_range *range);

/* Where cid_audit_release_later puts a release's entries. */
struct cid_audit_later {
	struct cid_audit *log;		/* the log they are for (borrowed) */
	struct cid_audit_pending **out; /* NULL before the hook; the caller's after */
};

/*
 * The audit hook (arg: a struct cid_audit_later *) for a caller that writes
 * the entries itself before the release's answer leaves (the server, with
 * cid_audit_submit): the same entries as cid_audit_release_hook, made and
 * checked into *arg->out, nothing written. *range has no seqs yet: count is
 * the entries made (a consent.expired entry among them may yet be skipped
 * by its once-key), first and last 0. *arg->out stays NULL when the event has
 * no decisions. Errors: CID_ERR_INVALID (as cid_audit_release_hook, or
 * *arg->out set already), CID_ERR_NOMEM; then *arg->out is unchanged.
 */
CID_MUST_CHECK enum cid_err cid_audit_release_later(void *arg, const struct cid_release_event *ev,
						    struct cid_audit_range *range);

#endif
