/*
 * provision: the third-party provision records of APPI Art. 29 (第三者提供
 * 記録), made from the audit log's release.permit entries, and the rule that
 * keeps them for the time Art. 30 and its rules ask.
 *
 * A record is one (recipient, citizen): what the rules (Art. 20) ask of a
 * provision made with consent: that consent was obtained, the recipient's
 * name (its legal name and corporate number, from its policy), the citizen,
 * the items, and here also the consent record ids and the dates. The
 * recipient's policy is read in the version each entry was decided under
 * (policy_archive.h), so a record says what the policy said then; the
 * newest entry's version decides the row. Releases to a recipient whose
 * policy says relationship entrusted or internal are no provision to a third
 * party (Art. 27(5)): they are listed apart, labelled, not as records.
 *
 * Retention: civicid makes its records from the log (one per recipient and
 * citizen, over continuous provisions): the standard method, kept 3 years
 * from the last provision (law.h, cid_provision_purge_allowed).
 *
 * Only reads the store; thread-safe as the read transaction is.
 */
#ifndef CID_PROVISION_H
#define CID_PROVISION_H

#include "err.h"
#include "store.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Which releases make the records; NULL members do not filter. */
struct cid_provision_query {
	const char *recipient; /* a service (client_id) */
	const char *from, *to; /* RFC 3339 times, from <= time < to (as cid_audit_query) */
};

/*
 * The records of the releases q selects. *out (new reference):
 * {"provisions":[ROW...], "not_third_party":[ROW...]}, each sorted by
 * service then citizen, ROW = {"service","recipient":{"name","corporate_number",
 * "relationship"},"citizen","attributes":[..],"consent_obtained":bool,
 * "consent_records":[..],"bases":[..],"dates":[days in Japan, "YYYY-MM-DD"],
 * "first","last" (RFC 3339),"count"}: "name" and "corporate_number" null
 * when the policy gives none (or its version is not archived: a third
 * party, so listed); "consent_obtained" true when a release of the row was
 * made on the citizen's consent (its records in "consent_records"; "bases"
 * lists every basis, "statute:<citation>" ones included). "citizen" is the
 * account id behind the entries' pseudonyms (pseudonym.h), or the
 * pseudonym itself once its mapping was purged.
 * Errors: CID_ERR_INVALID (a bad time), CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err
cid_provision_records(struct cid_txn *txn, const struct cid_provision_query *q, json_t **out);

/*
 * The recipient service as its policy said in version (policy_archive.h,
 * parsed as the server parsed it): *out {"name","corporate_number",
 * "relationship"} (borrowed from cache), or NULL when version is NULL, not
 * archived, or does not parse: then a third party without a name. cache is
 * a JSON object the caller owns and passes again within one transaction, so
 * each version is read and parsed once (a version is one service's file).
 * Errors: CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_provision_recipient(struct cid_txn *txn, json_t *cache,
						    const char *service, const char *version,
						    json_t **out);

/*
 * Whether every record of records (the "provisions" of cid_provision_records
 * of the releases before a time) may be purged at now: each is kept until
 * the retention of its recipient and citizen's newest provision ends
 * (cid_provision_purge_allowed, the standard method), one at or after that
 * time included. all is cid_provision_records of every release of the same
 * recipients, with no time bound; its row of the same service and citizen
 * gives the newest provision (in either list: a later release to a
 * recipient made entrusted since keeps the record no shorter). *allowed
 * false: *refused is the first record still kept (borrowed from all, its
 * "last" the newest provision) and keep_until its last day ("YYYY-MM-DD").
 * Errors: CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err
cid_provision_records_purge_allowed(const json_t *records, const json_t *all, int64_t now,
				    bool *allowed, const json_t **refused, char keep_until[11]);

/*
 * Writes the "provisions" of records as CSV: a byte order mark, the header
 * row (recipient service, recipient legal name, corporate number,
 * relationship, citizen, items, consent obtained, consent records, bases,
 * dates, first, last, releases), a row per record; lists joined by ' '.
 * Errors: CID_ERR_IO.
 */
CID_MUST_CHECK enum cid_err cid_provision_records_csv(const json_t *records, FILE *out);

#endif
