/*
 * trail: a citizen's download of their own trail in the audit log (who
 * received which of their attributes, when, for what purpose, on what
 * basis), as a JSON bundle that verifies offline without the rest of the
 * log, and as CSV. The account page (/account/trail) and `civicid audit
 * trail` (a disclosure request) hand out the same bundle.
 *
 * The bundle (README, "The citizen's trail bundle", is its specification):
 *   {"type": CID_TRAIL_TYPE, "issuer", "citizen" (the account id),
 *    "lang" ("ja" | "en": the names' language), "generated" (RFC 3339 UTC),
 *    "limit" (the most entries the page holds), "before" (the page asked: 0 the newest),
 *    "next_before"? (the next, older page's "before"),
 *    "origin", "vkeys", "witness_vkeys", "checkpoint": {"size", "note",
 *    "cosigned"} or null, "entries": newest first [{"seq", "time", "type",
 *    "decision" ("permit" | "granted" | "refused" | "withdrawn" |
 *    "expired"), "service", "service_name", "purpose", "purpose_text",
 *    "attributes", "basis", "entry", "leaf_hash", "proof"}],
 *    "signature"}
 * Which entries, and their proofs against one checkpoint: cid_audit_trail.
 * "time", "type", "service", "purpose", "attributes" and "basis" are copied
 * from the entry's own bytes; the names are the policies' in force (the
 * registration's name, else the client_id, for a service without one).
 * "signature" is a compact JWS (ES256, the server's token key, header typ
 * CID_TRAIL_TYP) over {"iss", "sub" (= "citizen"), "iat", "before",
 * "next_before" (0: none), "size" (the checkpoint's, 0: none), "count" (the
 * entries), "entries_hash" (lowercase hex SHA-256 of the entries' leaf
 * hashes, 32 raw bytes each, in the bundle's order)}: the checkpoint proves
 * each entry is in the log; the signature that these are all of the page.
 *
 * Thread-safe.
 */
#ifndef CID_TRAIL_H
#define CID_TRAIL_H

#include "cid.h"
#include "err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CID_TRAIL_TYPE "civicid-citizen-trail/v1"
#define CID_TRAIL_TYP  "civicid-trail+jwt"

/*
 * The bundle above of account_id's entries below seq before (0: from the
 * newest), at most limit (1..CID_TRAIL_MAX), names in locale ("en", else "ja"),
 * proved against the checkpoint cid_audit_trail chooses (the configured
 * audit_witnesses decide), signed at now. *out: new reference.
 * Errors: CID_ERR_INVALID (ctx, account_id or out NULL, limit out of range), CID_ERR_CONFIG (no
 * server has started on the store: nothing is signed; or audit_witnesses
 * does not parse), those of cid_audit_trail, CID_ERR_CRYPTO, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_trail_bundle(struct cid_ctx *ctx, const char *account_id,
					     const char *locale, uint64_t before, size_t limit,
					     int64_t now, json_t **out);

/*
 * cid_trail_bundle on the record, for a disclosure by the city (`civicid
 * audit trail`, a 開示請求): builds the bundle (CID_TRAIL_MAX entries), then appends to the
 * context's log an audit.exported entry by actor through endpoint (format
 * "trail-json", or "trail-csv" when csv, "citizen" account_id, "rows" the
 * entries) before the caller lets a byte of it leave (only on CID_OK).
 * A citizen's own download is not recorded: it shows them only their own.
 * Errors: those of cid_trail_bundle, cid_audit_exported_entry and
 * cid_audit_append (on any, nothing is recorded and *out is not set).
 */
CID_MUST_CHECK enum cid_err cid_trail_recorded(struct cid_ctx *ctx, const char *account_id,
					       const char *locale, uint64_t before, bool csv,
					       const char *actor, const char *endpoint, int64_t now,
					       json_t **out);

/*
 * The bundle as CSV for people: UTF-8 with a byte order mark, CRLF rows,
 * RFC 4180 quoting, a header row in the bundle's language, one row per
 * entry newest first (seq, the time local to the city's zone, the service's
 * name, the purpose's text, the attribute names joined by ' ', the basis and
 * the decision in words), then an empty row and one saying where the
 * verifiable JSON is (the account page's link, `civicid audit trail
 * --format json`) and how to check it. Cells starting with = + - @ TAB or
 * CR get a leading '. *out (caller frees), *len its length.
 * Errors: CID_ERR_INVALID (not a bundle), CID_ERR_TOOBIG, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_trail_csv(struct cid_ctx *ctx, const json_t *bundle, char **out,
					  size_t *len);

/* The decision of an entry's type in words of locale ("en", else "ja"); NULL: not a trail type. */
const char *cid_trail_decision_text(const char *decision, const char *locale);

#endif
