/*
 * retention: the end of a purpose's retention for a citizen. A scope of
 * the pseudonym mapping (pseudonym.h: one citizen, one service, one
 * purpose) is due when nothing of it is in force and the purpose's
 * `retention` has elapsed since it ended:
 *   ended = the latest of: the scope's newest audit entry (a release, a
 *           consent event, its consent.expired), and each of its consent
 *           records' time and, for a grant, expires_at;
 *   due   = no consent record of the scope is a grant in force at now, and
 *           now >= ended + retention (the purpose of the policies in force).
 * A due scope is purged in one write transaction: its mapping (both
 * directions) and its consent records are deleted, and a retention.purged
 * entry is appended naming the pseudonym (not the citizen: it has none any
 * more), the service and purpose, what was purged and by which rule. The
 * log keeps every entry of the scope and still verifies; they just name no
 * one.
 *
 * A scope of no purpose holds the citizen's own entries (service "":
 * account.deleted, operators' and officers' looks at them) or a service's
 * without a purpose (a release denied to a service no policy has). It is
 * due when the account is deleted, no scope of a purpose of the citizen is
 * left (each went at its purpose's end), and the longest retention of any
 * purpose of the policies in force (none: nothing is due) has elapsed since
 * the scope's newest entry of any type: the deletion stays linkable as long
 * as a purpose's use would, and an officer's look at the deleted citizen
 * holds it that long again. Its entry has no purpose or policy_version (and
 * no service for the citizen's own); "purged" is "pseudonym".
 *
 * Scopes of a purpose no policy has any more (its retention is unknown),
 * the scopes of no purpose while any scope of a purpose is left, and entries
 * written before pseudonyms (they hold the account id) are left alone.
 *
 * A purge can be refused by a legal retention rule: cid_retention_purge_allowed
 * is the one place such a veto plugs in. It sits above consent, policy and
 * the log, as consent_sweep does; the server runs it with that sweep.
 *
 * Thread-safe: as cid_store_update.
 */
#ifndef CID_RETENTION_H
#define CID_RETENTION_H

#include "err.h"
#include "policy.h"
#include "store.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One scope of the mapping, as the purge sees it (strings borrowed). */
struct cid_retention_scope {
	const char *pseudonym;
	const char *citizen; /* account id */
	const char *service;
	const char *purpose;
	uint32_t retention_days; /* of the purpose in force */
	int64_t ended;		 /* when the purpose ended for the citizen (see above) */
};

/*
 * Whether the purge of sc at now may go ahead: *allowed true, unless a legal
 * rule requires the records kept longer; then false and *why (static) says
 * which. The one place such rules plug in. Today's rule: when a release of
 * the scope (its release.permit entries) was decided under a policy version
 * that names the service a third party with its corporate number
 * (policy_law.h: what a business controller's third-party policy must give;
 * the version as archived, provision.h cid_provision_recipient), its
 * provision record (provision.h) is made from these entries and must be kept
 * 3 years from the last provision (APPI Art. 30, law.h
 * cid_provision_purge_allowed); sc->ended, never before the last release,
 * stands for the last provision. The policy in force today does not decide:
 * a recipient made entrusted since still received those provisions.
 * versions: cid_provision_recipient's cache (a JSON object the caller owns).
 * Errors: CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_retention_purge_allowed(struct cid_txn *txn, json_t *versions,
							const struct cid_retention_scope *sc,
							int64_t now, bool *allowed,
							const char **why);

/* What one run did. */
struct cid_retention_sweep {
	size_t purged;	/* scopes purged, one retention.purged entry each */
	size_t vetoed;	/* due, but refused by cid_retention_purge_allowed */
	size_t left;	/* due, not vetoed, beyond max: run again */
	size_t visited; /* scopes of the mapping read ("p\n" keys) */
	uint64_t first; /* seq of the first retention.purged entry (when purged > 0) */
};

/*
 * Finds the scopes due at now (a read transaction; those
 * cid_retention_purge_allowed refuses are counted, vetoed, and take no place
 * of max), then purges the first max of them in one write transaction, each
 * checked again there, each with one entry:
 *   {"type": "retention.purged", "time": now, "actor": "system",
 *    "citizen": the pseudonym, "service", "purpose", "policy_version",
 *    "ext": {"purged": "pseudonym,consent_records", "consent_records": N,
 *            "retention_days": D, "ended": RFC 3339, "rule":
 *            "retention Dd after the purpose ended"}}   (ext members strings)
 * (a scope of no purpose: no purpose or policy_version, no service for the
 * citizen's own, "purged": "pseudonym", "consent_records": "0", "rule":
 * "retention Dd after the account was deleted")
 * Running it again purges nothing new (idempotent).
 * Errors: CID_ERR_INVALID (s, ps or out NULL, max 0), CID_ERR_STORE,
 * CID_ERR_NOMEM, those of cid_audit_append_txn; then nothing of this run
 * is purged or logged.
 */
CID_MUST_CHECK enum cid_err cid_retention_sweep(struct cid_store *s, const struct cid_policyset *ps,
						int64_t now, size_t max,
						struct cid_retention_sweep *out);

/* Scopes a step of the server's sweep reads at most: see cid_retention_sweep_step. */
#define CID_RETENTION_STEP_KEYS 2000

/*
 * One step of a pass over the mapping: as cid_retention_sweep, but reads at
 * most keys scopes, from just after the scope where the last step stopped
 * (a cursor in CID_DB_META, "retention_cursor" {"after": pseudonym}; none:
 * from the first), and saves where it stopped in the write transaction that
 * purges (run for the cursor alone when it moved): a pass goes on across
 * runs and restarts, and comes back to the first scope after the last (a
 * cursor that is no pseudonym begins a pass again). So one step holds its caller
 * (the server's main loop) for a bounded time, whatever the size of the
 * store; a whole pass still reads every scope, in ceil(scopes / keys) steps,
 * and a scope is purged at most that many steps after it is due. The step
 * stops at the first due scope beyond max (left 1: the next step begins
 * there). Errors: those of cid_retention_sweep, CID_ERR_INVALID (keys 0);
 * then the cursor is not moved.
 */
CID_MUST_CHECK enum cid_err cid_retention_sweep_step(struct cid_store *s,
						     const struct cid_policyset *ps, int64_t now,
						     size_t max, size_t keys,
						     struct cid_retention_sweep *out);

#endif
