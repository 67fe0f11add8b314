/*
 * audit: the append-only, hash-chained log of every consent event and every
 * attribute-release decision, its signed checkpoints, and the views read
 * from it (query, export, the provisions record, the citizen's own slice).
 * The log knows nothing of the modules that write to it: release decisions
 * reach it through the hook of audit_release.h, consent events from consent.c.
 *
 * Entries. One JSON object per event, stored canonically: jansson compact
 * output with sorted keys (JSON_COMPACT | JSON_SORT_KEYS), ASCII member names,
 * integers only, UTF-8 strings as is. For the objects written here that is
 * exactly RFC 8785 (JCS). Members (absent when they do not apply):
 *   "seq"            0, 1, 2, ... gap-free
 *   "time"           RFC 3339 UTC, seconds: "2026-11-25T09:30:00Z"
 *   "prev"           lowercase hex of the previous entry's hash (64 zeros for seq 0)
 *   "type"           "consent.granted" | "consent.refused" | "consent.withdrawn" |
 *                    "consent.expired" | "release.permit" | "release.deny" |
 *                    "audit.exported" | "logout.delivered" | "logout.failed" |
 *                    "key.rotated" | "key.published" | "key.activated" |
 *                    "key.withdrawn" | "officer.searched" | "officer.viewed" |
 *                    "officer.resolved" | "retention.purged" | "operator.viewed" |
 *                    "account.deleted"
 *   "actor"          who caused it: "citizen", "service", "operator" (the CLI),
 *                    "officer:<name>", "system"
 *   "citizen"        the pseudonym of the citizen's scope (pseudonym.h: one per
 *                    account, service and purpose; "ps_" and 32 hex digits), set
 *                    when the entry is chained: writers give the account id,
 *                    the log holds the pseudonym (entries written before
 *                    pseudonyms hold the account id)
 *   "service"        client_id (the recipient)
 *   "purpose"        purpose id of the policy
 *   "attributes"     array of attribute names (claims as released, e.g.
 *                    "family_name#ja-Kana-JP"; base names for consent events)
 *   "decision"       "permit" | "deny"            (release entries)
 *   "reason"         cid_reason_name() of the decision (release entries)
 *   "basis"          "consent" | "statute:<citation>"
 *   "rule"           the policy lines that decided the entry's attributes:
 *                    "file.policy:LINE", or "file.policy:LINE,LINE,..." (lines
 *                    ascending, each once) when an entry's attributes were
 *                    decided alike by several lines of the file (one entry
 *                    per decision, not per line; entries written before
 *                    2026-12 name one line each); cid_audit_rule_parse reads it
 *   "consent_records" array of consent record ids behind the decision
 *   "policy_version" hex SHA-256 of the policy file (its text: policy_archive.h)
 *   "purpose_digest" the deciding purpose's digest (policy.h) under that
 *                    version: what it asked, its ja/en notice included
 *   "endpoint"       "id_token" | "userinfo" | "consent-screen" | "account" | "cli" |
 *                    "officer-console" | "backchannel-logout"
 *   "request_id"     correlation id of the request; on release entries the
 *                    release id: the opaque value of X-Civicid-Release, new
 *                    per answer (UUID v7: its time, then random bits), so a
 *                    service learns nothing of other releases
 *   "grant_id"       the grant a release was made under (release entries)
 *   "level"          authentication level of the release (1 password, 2 MFA, 3 high)
 *   "verified"       a verified value released (release.h): {"issuer",
 *                    "trust_framework", "time"?} of the upstream that vouched
 *   "acr", "amr", "auth_time"  how and when the citizen authenticated, as
 *                    the grant released under says (release entries; each
 *                    absent when unknown): the acr URI, the RFC 8176 method
 *                    names, an RFC 3339 time
 *   "expires_at"     for consent.granted: RFC 3339 time the grant lapses; for
 *                    consent.expired written by the sweeper (consent_sweep.h):
 *                    when it lapsed
 *   "ext"            for audit.exported: what left the log, every member a
 *                    string: "format" ("jsonl" | "csv", or "trail-json" |
 *                    "trail-csv": a citizen's trail, trail.h), "rows" (entries in
 *                    the export, decimal), "checkpoint" (a whole-log export:
 *                    the size of the signed checkpoint it ends with, = rows;
 *                    absent when nothing signs it), and the filter's members
 *                    that were set: "citizen" (account id), "service",
 *                    "release", "attribute", "type", "from", "to" (RFC 3339
 *                    bounds); none of them: every entry;
 *                    for logout.*: the end of one back-channel logout notice
 *                    (logout_notify.h), every member a string: "sid_hash"
 *                    (lowercase hex SHA-256 of the ended session's sid: the
 *                    service can match it, nobody learns the sid), "attempts"
 *                    (tries made, decimal), "status" (the last HTTP status,
 *                    or "none" without an answer), "cause" ("rp-logout",
 *                    "account", "disabled", "deleted": why the session
 *                    ended), and for
 *                    logout.failed "error" (why the last try failed);
 *                    for key.rotated: "vkey" (the new audit key's verifier
 *                    key) and "previous" (the one it replaces);
 *                    for key.published, key.activated, key.withdrawn (a
 *                    token signing key's change, cid_audit_keys_change):
 *                    "kid" and "alg" of the key, and for key.published
 *                    "activate_at" (when it may sign), for key.activated
 *                    "previous" (the active key it replaces, absent if none)
 *                    with "previous_until" (when that one stops verifying);
 *                    for officer.searched: "rows" (entries shown) and the
 *                    filter's members that were set, as for audit.exported,
 *                    and "before" (the paging seq); for officer.viewed:
 *                    "seq" (the entry opened); a filter's "citizen"
 *                    (audit.exported, officer.searched) is held as the
 *                    citizen's pseudonym of no purpose;
 *                    for officer.resolved (cid_audit_resolve): "pseudonym",
 *                    "found" ("true" | "false"); for retention.purged
 *                    (retention.h): "purged", "consent_records",
 *                    "retention_days", "ended", "rule"; for account.deleted
 *                    (account_delete.h): "sessions", "grants", "links",
 *                    "withdrawn" (decimal: what the deletion removed or
 *                    withdrew)
 * Attribute values are never logged. A logout.* entry (actor "system",
 * endpoint "backchannel-logout", "service" the service told, or that could
 * not be told after the last try) names no citizen: no personal data, and in
 * no citizen's slice. An audit.exported entry (actor
 * "operator" or "officer:<name>", endpoint "cli" or "officer-console") names
 * no service, and the citizen its filter named, if one (so a query by
 * citizen finds who took a copy of their entries). An officer.searched
 * or officer.viewed entry (actor "officer:<name>", endpoint
 * "officer-console") names the citizen it concerns, if one. Neither is in
 * any citizen's slice (that shows release and consent entries only).
 *
 * Hash chain. hash(entry) = SHA-256(0x00 || canonical bytes); entry.prev is
 * the hash of the entry before it. The head (META "audit_head":
 * {"size": number of entries, "hash": hash of the last}) moves in the same
 * write transaction as the entries.
 *
 * Tree. An RFC 9162 Merkle tree over the entries, whose leaves are the
 * entries' hashes, grows in the same write transaction as the entries
 * (audit_tree.c): CID_DB_AUDIT_TREE holds every complete subtree's hash, in
 * the order they were completed, and META "audit_tree_frontier" the
 * frontier, so the tree head of any size and the proofs cost O(log n) reads.
 * A store written before the tree (or before its present layout) catches up
 * (cid_audit_tree_catch_up).
 *
 * Checkpoints. A checkpoint is a signed tree head in the C2SP checkpoint
 * format (c2sp.org/tlog-checkpoint), a signed note:
 *   ORIGIN "\n" SIZE "\n" base64(tree head of the first SIZE entries) "\n"
 *   "time " POSIX-seconds "\n" "\n" "— " ORIGIN " " base64(key id || Ed25519 sig) "\n"
 * signed by the audit key, a dedicated Ed25519 key (never a token key),
 * stored in CID_DB_AUDIT_CP under 16 hex digits of SIZE as {"note", "time"};
 * witnesses' cosignature lines are appended to the note. Stores from before
 * the notes also hold {"jws"} checkpoints (ES256 JWS, typ
 * "civicid-checkpoint+jwt", payload {"iss", "size", "hash" of entry SIZE-1,
 * "time", "iat"}, the token keys'): kept and verified as before.
 *
 * The audit key and the origin (audit_keys.c). META "audit_keys" holds the
 * origin, derived once from the log's issuer ("https://id.city.example/p"
 * gives "id.city.example/p/audit"), which is also the key's name, and every
 * audit key ever made, the private seeds never leaving the store. A rotation
 * appends a key.rotated entry carrying the new vkey and signs the checkpoint
 * covering it with the old and the new key; checkpoints signed before verify
 * with the retired key. The vkeys are what a verifier trusts
 * (cid_audit_vkeys, published at /.well-known/civicid-audit).
 *
 * The log's issuer. The issuer recorded in the store (META "audit_issuer":
 * {"issuer": URL}) by the first server started on it (cid_audit_issuer_record
 * from cid_ctx_open) is never changed afterwards: the origin is made of it,
 * and every legacy checkpoint of one log carries it as iss.
 *
 * Token signing keys on the record. Every change of which token keys sign
 * and which tokens are accepted (jose.h) is an entry, written in the
 * transaction that makes the change (cid_audit_keys_change): key.published,
 * key.activated, key.withdrawn; actor "operator" (endpoint "cli") or
 * "system" (the server activating a next key when its time came, no
 * endpoint), no citizen. key.rotated stays the audit key's alone.
 *
 * What verification proves. Every entry is checked against the chain and
 * the tree; a signed checkpoint proves the entries it covers. Entries after the newest
 * checkpoint are proved by nothing (anyone can append entries and recompute
 * prev links, or rebuild a whole log without checkpoints), so an export,
 * which is signed when made, fails verification unless its last entry is
 * covered (the caller may accept such a tail, reported as unverified); the
 * live store legitimately has such a tail (the server signs every
 * audit_checkpoint_interval seconds): it is reported, not failed.
 *
 * Store layout: CID_DB_AUDIT: 16 lowercase hex digits of seq -> entry bytes;
 * CID_DB_AUDIT_IDX: "c\n" citizen (as the entry names it, and the pseudonym its "ext" names for
 * a search or an export by citizen) "\n" seq16 and "s\n" service "\n" seq16
 * -> the entry's time (indexes for the citizen slice and per-service queries,
 * written in the same transaction as the entry; the time lets a range skip
 * entries unread), "r\n" request_id "\n" seq16 -> the entry's time (the
 * entries of one release id), "t\n" time "\n" seq16 -> "" (the time index), "d\n" service "\n"
 * time "\n" seq16 -> "" (the service-day index: a service's time range is one run of keys;
 * META "audit_day_index" {"from", "to"} is the run of seqs it covers, moved with the head, so
 * entries from before it, or written by a civicid without it, are found by the service index);
 * "x\n" consent record id -> "" once a consent.expired entry was written for that record (its
 * one maker: audit_expired_once_key);
 * CID_DB_AUDIT_CP as above.
 * "citizen", "service" and "request_id" of an entry are therefore at most 200 bytes without a
 * newline.
 *
 * Durability and group commit. cid_audit_append returns only after the
 * entries are committed durably. Calls that arrive while a commit is running
 * wait and are written together in the next one (one fsync for all of them).
 * Writers outside this process (the CLI) serialise through LMDB's writer lock;
 * the head is always read inside the write transaction, so they never fork the
 * chain.
 *
 * Export format (JSON Lines, what cid_audit_verify_export reads): one line per
 * entry, exactly its canonical bytes, in seq order from 0; and after the
 * entry a checkpoint covers (the entry seq N-1) one line {"note":"<signed
 * note>"} (with any cosignatures), preceded by {"checkpoint":"<JWS>"} where a
 * legacy checkpoint of that size exists.
 *
 * Exports on the record. Every export of entries that leaves civicid (the
 * officer console's download, `civicid audit export`) is itself logged as an
 * audit.exported entry before a byte of it leaves: a filtered export is
 * written to the caller's buffer, then recorded with its row count, and only
 * then handed over (cid_audit_write_recorded); a whole-log export appends its
 * record and signs a checkpoint covering it in one write transaction, then
 * writes the log up to that record (cid_audit_export_recorded), so the file
 * holds its own record as its last entry and still ends covered by a
 * checkpoint.
 *
 * Thread-safe: a struct cid_audit is shared by all request threads.
 */
#ifndef CID_AUDIT_H
#define CID_AUDIT_H

#include "audit_head.h"
#include "bounds.h"
#include "err.h"
#include "jose.h"
#include "merkle.h"
#include "note.h"
#include "store.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct cid_audit;

/* ---- the log and its writes (audit.c) ---- */

/*
 * Opens the log over store s (borrowed; must outlive the log). group: share
 * commits between concurrent appends (the default for the server); false
 * commits each append on its own (for the benchmark that compares the two).
 * *out is freed with cid_audit_close. Errors: CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_audit_open(struct cid_store *s, bool group, struct cid_audit **out);

/*
 * Frees the log. No append may be running, and every submitted append must
 * have been told (cid_audit_submit); the committer thread, if started, is
 * joined. NULL is a no-op.
 */
void cid_audit_close(struct cid_audit *log);

/* Number of write transactions the log has committed (for tests and the benchmark). */
uint64_t cid_audit_commits(const struct cid_audit *log);

/* Buckets of struct cid_audit_stats.groups: 1, 2-3, 4-7, ..., 128 and more. */
#define CID_AUDIT_GROUP_BUCKETS 8

/*
 * How group commit groups, counted by cid_audit_append (not by
 * cid_audit_append_txn, whose commit is its caller's). Each commit is one
 * LMDB write transaction made durable: an fdatasync of the data pages, then
 * a synchronous write of the meta page.
 */
struct cid_audit_stats {
	double seconds;		 /* the span counted: since the last take, or open */
	uint64_t commits;	 /* durable commits of appends */
	uint64_t failed;	 /* commits that failed (each of their appends got the error) */
	uint64_t failed_appends; /* the appends of those */
	uint64_t appends;	 /* cid_audit_append calls the commits carried */
	uint64_t entries;	 /* entries they wrote */
	uint64_t max_appends;	 /* the most calls one commit carried */
	uint64_t max_entries;	 /* the most entries one commit wrote */
	uint64_t commit_ns;	 /* time in the write transactions, committed or failed */
	uint64_t commit_cpu_ns;	 /* the writing thread's CPU time in them: commit_ns less the
				    time it waited for the disk or for a core */
	uint64_t groups[CID_AUDIT_GROUP_BUCKETS]; /* commits by calls carried: [b] 2^b..2^(b+1)-1 */
};

/*
 * Copies the counters into *out and starts counting anew (so two takes
 * around a benchmark run give that run's figures). Thread-safe.
 */
void cid_audit_stats_take(struct cid_audit *log, struct cid_audit_stats *out);

/*
 * Formats *st as one line of name=value words (no newline): seconds, commits,
 * commits_per_s, failed, failed_appends, appends, entries,
 * appends_per_commit, max_appends, entries_per_commit, max_entries,
 * commit_ms (mean time in a write transaction, its fsyncs included),
 * commit_cpu_ms (the mean CPU time of the writing thread in one), groups
 * (the histogram, "1:N,2-3:N,...,128+:N"). Errors: CID_ERR_INVALID (out
 * shorter than the line, which then holds ""; 1024 bytes are always enough).
 */
CID_MUST_CHECK enum cid_err cid_audit_stats_format(const struct cid_audit_stats *st, char *out,
						   size_t size);

/* Consecutive entries of the log: seqs first..last (count 0: none). */
struct cid_audit_range {
	uint64_t first, last;
	size_t count;
};

/*
 * Appends entries[0..n) (JSON objects, borrowed, without "seq" and "prev":
 * those are set here) durably, as consecutive entries; waits for a shared
 * commit when group is on. *first_seq (may be NULL) is the seq of entries[0].
 * Errors: CID_ERR_INVALID (not an object, has "seq"/"prev", a member name not
 * ASCII, a real number, n == 0, "citizen", "service" or "request_id" not a
 * string of 1 to 200 bytes without '\n', "time" not "YYYY-MM-DDTHH:MM:SSZ"),
 * CID_ERR_STORE, CID_ERR_NOMEM. On error nothing
 * of this call is in the log; in a group commit a store failure fails every
 * call of that commit. Never call it inside a cid_store_update callback (it
 * would wait for the LMDB writer lock its own thread holds): use
 * cid_audit_append_txn there.
 */
CID_MUST_CHECK enum cid_err cid_audit_append(struct cid_audit *log, json_t *const *entries,
					     size_t n, uint64_t *first_seq);

/*
 * An append made and checked but not yet written (audit_release.h makes
 * them: cid_audit_release_later), for a caller that must not block on the
 * commit, the server's polling threads. It is written by cid_audit_submit
 * (without waiting) or cid_audit_pending_commit (waiting, and freeing it);
 * cid_audit_pending_free frees it, written or not.
 */
struct cid_audit_pending;

/*
 * Told once a submitted append's commit has returned: rc CID_OK when its
 * entries are durable (an entry whose once-key was in the log already is
 * skipped, as in cid_audit_append), else the commit's error, and then none of
 * them is in the log. It runs on the thread that led the commit (the log's
 * committer, or an appender's), so it must be short and must not append;
 * when the log does not group, or its committer cannot start, it runs on
 * the submitter's own thread, before cid_audit_submit returns.
 */
typedef void (*cid_audit_done)(void *arg, enum cid_err rc);

/*
 * Queues p's entries for the next group commit and returns at once; done(arg,
 * rc) is called exactly once, after that commit returned (on the caller's
 * thread, before this returns, when the log does not group). p stays the
 * caller's, but it must not touch p until done is called; it frees p after
 * (cid_audit_pending_free), on its own thread, where the entries were made
 * (freeing them on the committing thread made the threads' malloc arenas
 * contend). A submitted append leads no round: a round whose lead would fall
 * to it is led by the log's committer thread, started at the first submit
 * (when that start fails, done gets CID_ERR_NOMEM at once).
 */
void cid_audit_submit(struct cid_audit_pending *p, cid_audit_done done, void *arg);

/*
 * Writes p's entries as cid_audit_append does, waiting for the commit, and
 * frees p. Errors: those of cid_audit_append's commit; CID_ERR_NOMEM (its
 * wait could not be set up: nothing written).
 */
CID_MUST_CHECK enum cid_err cid_audit_pending_commit(struct cid_audit_pending *p);

/* The entries p holds. */
size_t cid_audit_pending_count(const struct cid_audit_pending *p);

/* Frees p without writing it. NULL is a no-op. */
void cid_audit_pending_free(struct cid_audit_pending *p);

/*
 * Appends one entry inside the caller's write transaction (from
 * cid_store_update), so it commits, or not, with the caller's own writes (the
 * consent records). Same checks as cid_audit_append. *seq may be NULL.
 */
CID_MUST_CHECK enum cid_err cid_audit_append_txn(struct cid_txn *txn, const json_t *entry,
						 uint64_t *seq);

/*
 * Builds the Merkle tree (audit_tree.c) over the entries it does not cover
 * yet, at most max of them in one write transaction, and says in *remaining
 * how many it still lags behind the head afterwards (max 0: only says). A
 * store written before civicid kept the tree has a lagging tree until this
 * has run to 0; appends keep a current tree current by themselves.
 * Checkpoints, proofs and exports need a current tree.
 * Errors: CID_ERR_INVALID (s or remaining NULL), CID_ERR_STORE (an entry is
 * missing or the stored tree is damaged: `audit verify` names it), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_audit_tree_catch_up(struct cid_store *s, uint64_t max,
						    uint64_t *remaining);

/*
 * The tree head (RFC 9162 MTH) of the log's first size entries into root,
 * from the stored tree (popcount(size) reads at most).
 * Errors: CID_ERR_INVALID (size above the log's), CID_ERR_TOOEARLY (the
 * tree has not reached size: see cid_audit_tree_catch_up), CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err cid_audit_tree_head(struct cid_txn *txn, uint64_t size,
						uint8_t root[CID_MERKLE_HASH]);

/*
 * The inclusion proof of entry seq in the tree of the first size entries
 * (RFC 9162 §2.1.3), and the consistency proof of the tree of old_size
 * entries with the one of size (§2.1.4), from the stored tree, O(log n)
 * reads. *out is written only on success.
 * Errors: CID_ERR_INVALID (seq >= size, old_size > size, size above the
 * log's), CID_ERR_TOOEARLY (the tree lags), CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err cid_audit_inclusion_proof(struct cid_txn *txn, uint64_t seq,
						      uint64_t size, struct cid_merkle_proof *out);
CID_MUST_CHECK enum cid_err cid_audit_consistency_proof(struct cid_txn *txn, uint64_t old_size,
							uint64_t size,
							struct cid_merkle_proof *out);

/* ---- rules ---- */

/* The most lines cid_audit_rule_parse reads of one "rule". */
#define CID_AUDIT_RULE_MAX_LINES 256

/*
 * Reads an entry's "rule" (above): "FILE:LINE[,LINE...]", split at the last
 * ':' (FILE not empty, and may itself hold a ':'), each LINE a decimal
 * 1..1000000 without a sign or leading zero, ascending. *file_len gets FILE's length (the prefix of
 * rule); lines[0..*n) the lines, at most max. Returns false (and *n 0) when rule is NULL, not of
 * that form, or names more than max lines.
 */
bool cid_audit_rule_parse(const char *rule, size_t *file_len, uint32_t *lines, size_t max,
			  size_t *n);

struct cid_buf;

/*
 * The lines a rule (cid_audit_rule_parse) names in text[len], the bytes of
 * the policy file named file ("childcare.policy"), each without its line
 * end, joined by newlines, appended to out (a bounded buffer, buf.h). One
 * pass: the lines ascend. Returns true when every line was found; false
 * when rule is not of that form, names another file, or names a line text
 * lacks (longer than CID_POLICY_MAX_LINE, not UTF-8), or out overflowed: out
 * may then hold part of the lines, for the caller to drop.
 */
bool cid_audit_rule_text(const char *rule, const char *file, const char *text, size_t len,
			 struct cid_buf *out);

/* ---- times (audit.c) ---- */

/* "2026-11-25T09:30:00Z" of unix time t into out[21]. Errors: CID_ERR_INVALID (out of range). */
CID_MUST_CHECK enum cid_err cid_audit_time(int64_t t, char out[21]);

/*
 * The unix time of midnight UTC of "YYYY-MM-DD" (a real date, 1970..9999)
 * into *t. Errors: CID_ERR_INVALID.
 */
CID_MUST_CHECK enum cid_err cid_audit_day_parse(const char *s, int64_t *t);

/*
 * A filter bound as people write it: "YYYY-MM-DD" (its midnight UTC) or
 * "YYYY-MM-DDTHH:MM:SSZ" (a real date), into out[21] as the filter takes it.
 * Errors: CID_ERR_INVALID.
 */
CID_MUST_CHECK enum cid_err cid_audit_bound_parse(const char *s, char out[21]);

/* ---- the head, the issuer, checkpoints (audit_head.c, audit_issuer.c, audit_checkpoint.c) ---- */

/* cid_audit_head: audit_head.h */

/*
 * Records iss as the log's issuer unless one is recorded already (the first
 * server started on a store records its own; later ones never change it).
 * *recorded (may be NULL; caller frees) is the issuer in force afterwards:
 * iss, or the one recorded before, which the caller may warn about.
 * Errors: CID_ERR_INVALID (iss NULL, empty or over CID_MAX_URI bytes),
 * CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_audit_issuer_record(struct cid_store *s, const char *iss,
						    char **recorded);

/*
 * The log's issuer (see above) into *out (caller frees).
 * Errors: CID_ERR_NOTFOUND (none recorded: no server has started on the
 * store), CID_ERR_STORE (the record is damaged), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_audit_issuer(struct cid_store *s, char **out);

/*
 * Signs and stores a checkpoint (a signed note, above) of the current head
 * with the active audit key, unless the newest signed-note checkpoint already
 * covers the head; makes the audit key first if the store has none (an older
 * store). *note_out (may be NULL; a new string) is the checkpoint covering
 * the head, with the cosignatures it has.
 * Errors: CID_ERR_NOTFOUND (empty log: nothing to sign), CID_ERR_CONFIG (the
 * store records no issuer: no server has started on it yet; or one no
 * origin can be made of), CID_ERR_TOOEARLY (the tree lags:
 * cid_audit_tree_catch_up first), CID_ERR_CRYPTO, CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_audit_checkpoint(struct cid_store *s, int64_t now, char **note_out);

/*
 * The signed-note checkpoint of size (0: the newest), with its cosignatures,
 * into *note (a new string). Errors: CID_ERR_INVALID (s or note NULL),
 * CID_ERR_NOTFOUND (no signed-note checkpoint of that size), CID_ERR_STORE,
 * CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_audit_checkpoint_get(struct cid_store *s, uint64_t size,
						     char **note);

/* ---- the audit key (audit_keys.c; its rotation: audit_rotate.c) ---- */

/*
 * Makes the origin and the first audit key from the recorded issuer unless
 * the store has them (cid_ctx_open calls it on every start).
 * Errors: CID_ERR_INVALID (s NULL), CID_ERR_CONFIG (no issuer recorded, or
 * an issuer no origin can be made of: over 250 bytes without its scheme, or
 * with a space or '+'), CID_ERR_CRYPTO, CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_audit_key_ensure(struct cid_store *s, int64_t now);

/*
 * The published verifier keys as a new JSON object: {"origin", "vkeys":
 * [every audit key's vkey, oldest first], "active": the signing one's}.
 * Errors: CID_ERR_NOTFOUND (no audit key yet), CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_audit_vkeys(struct cid_store *s, json_t **out);

/*
 * Rotates the audit key (made first if there is none): in one write
 * transaction, a new key, a key.rotated entry by actor through endpoint
 * carrying its vkey ("ext": {"vkey", "previous"}), the old key retired, and
 * a checkpoint covering that entry signed by the old and the new key. *vkey
 * (may be NULL; caller frees): the new key's; *size (may be NULL): the
 * checkpoint's. Errors: CID_ERR_INVALID (actor or endpoint NULL or empty),
 * CID_ERR_TOOBIG (CID_AUDIT_MAX_KEYS keys already), CID_ERR_TOOEARLY (the
 * tree lags), those of cid_audit_key_ensure; on any, nothing changed.
 */
CID_MUST_CHECK enum cid_err cid_audit_key_rotate(struct cid_store *s, const char *actor,
						 const char *endpoint, int64_t now, char **vkey,
						 uint64_t *size);

/* ---- the token signing keys on the record (audit_token_keys.c) ---- */

/*
 * Changes the token signing keys as op says (cid_keys_change, jose.h: same
 * rules) and appends, in the same write transaction, one entry per change:
 * {"type": "key.published" | "key.activated" | "key.withdrawn", "time": op's
 * now, "actor": actor, "endpoint": endpoint (absent when NULL), "ext":
 * {"kid", "alg", "activate_at"? (published), "previous"?, "previous_until"?
 * (activated, replacing an active key)}} (times RFC 3339). A rotation with
 * keep 0 (--revoke) writes key.withdrawn for each key it withdraws and
 * key.activated for the new key; a drop key.withdrawn, unless the key was
 * already out. If an entry cannot be written nothing changes, the keys
 * included. Both skins call it: the CLI as "operator" through "cli", the
 * server's own activation of a due next key as "system" (endpoint NULL).
 * *out (may be NULL): as cid_keys_change's.
 * Errors: CID_ERR_INVALID (s, op or actor NULL, actor or endpoint empty),
 * those of cid_keys_change and of cid_audit_append_txn.
 */
CID_MUST_CHECK enum cid_err cid_audit_keys_change(struct cid_store *s, const struct cid_keys_op *op,
						  const char *actor, const char *endpoint,
						  struct cid_keys_result *out);

/*
 * What a verifier trusts: the log's verifier keys (Ed25519 note vkeys, type
 * 0x01, all named by one origin) and witnesses' cosignature vkeys (type
 * 0x04). Immutable once built; freed with cid_audit_trust_free.
 */
struct cid_audit_trust;

/* An empty trust set. Errors: CID_ERR_NOMEM. */
CID_MUST_CHECK enum cid_err cid_audit_trust_new(struct cid_audit_trust **out);

/*
 * Adds one vkey (a repeat is ignored). Errors: CID_ERR_INVALID (not a vkey
 * of type 0x01 or 0x04, or a log key of another name than those before),
 * CID_ERR_TOOBIG (CID_AUDIT_MAX_TRUST keys), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_audit_trust_add(struct cid_audit_trust *t, struct cid_str vkey);

/*
 * Parses a vkeys file: one vkey a line (blank lines and lines starting with
 * '#' ignored), or the JSON document of cid_audit_vkeys (its "vkeys"). At
 * least one log key. Errors: CID_ERR_INVALID, CID_ERR_TOOBIG (over
 * CID_AUDIT_MAX_VKEYS bytes or too many keys), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_audit_trust_parse(const char *text, size_t len,
						  struct cid_audit_trust **out);

/*
 * The store's own audit keys, retired ones included (empty, with origin "",
 * when the store has none yet). Errors: CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_audit_trust_load(struct cid_store *s, struct cid_audit_trust **out);

/* The origin the log keys name ("" when there is none), borrowed. */
const char *cid_audit_trust_origin(const struct cid_audit_trust *t);

void cid_audit_trust_free(struct cid_audit_trust *t);

/* ---- verification (audit_verify.c) ---- */

/* What a verification found. */
struct cid_audit_report {
	bool ok;	       /* passed: no damage, and no unsigned tail unless it is accepted */
	bool unsigned_tail;    /* no damage found, but entries covered..entries-1 are covered by
				  no signed checkpoint: nothing proves them (covered 0: nothing
				  is signed) */
	bool issuer_checked;   /* the iss of legacy checkpoints was compared with an expected one */
	bool rollback;	       /* the log is smaller than a witness checkpoint, or its tree at
				  that size is another: a restored backup, a cut tail or a fork */
	bool witness_checked;  /* a witness checkpoint was given and the log extends it */
	uint64_t entries;      /* entries read */
	uint64_t checkpoints;  /* checkpoints (signed notes and legacy JWS) that verified */
	uint64_t legacy;       /* of which legacy JWS checkpoints */
	uint64_t covered;      /* size of the newest verified checkpoint */
	uint64_t witnessed;    /* the largest size a trusted witness cosigned (or the witness
				  checkpoint given covers): 0 none */
	uint64_t witness_time; /* that cosignature's timestamp (0: not known) */
	uint64_t bad_seq;      /* when !ok: the first bad sequence number (with
				  unsigned_tail: the first unsigned one) */
	char issuer[CID_MAX_URI + 1];	     /* the iss of the verified JWS checkpoints ("" none) */
	char origin[CID_NOTE_MAX_NAME + 1];  /* the origin of the verified notes ("" none) */
	char witness[CID_NOTE_MAX_NAME + 1]; /* the witness of witnessed ("" none or unknown) */
	/* with witness_checked: the trusted witness whose cosignature on the witness
	   checkpoint verified (the newest, when several did) */
	char witness_checkpoint_by[CID_NOTE_MAX_NAME + 1];
	char reason[256]; /* when !ok: what is wrong, for people */
};

/* How a verification is made. NULL opts: all defaults. */
struct cid_audit_verify_opts {
	const char *issuer;	  /* the iss every legacy checkpoint must carry; NULL: the JWKS's
				     issuer (cid_keyset_issuer), else any one iss shared by all */
	bool allow_unsigned_tail; /* entries after the last checkpoint (or an export without
				     any) are reported unverified with ok true, not failed */
	/* the log's vkeys and witnesses' cosignature vkeys believed; NULL: for the store,
	   its own audit keys; for an export, none (a signed note then fails) */
	const struct cid_audit_trust *trust;
	/* a witness-cosigned checkpoint (a signed note by a trusted log key with a valid
	   cosignature of a trusted witness, e.g. from `civicid witness show`): the log
	   must hold at least its entries and extend its tree, else the report names a
	   rollback. NULL: none */
	const char *witness_checkpoint;
	size_t witness_checkpoint_len;
	/* the walk (the store's or an export's): at most this many threads, the
	   caller's included; 0: one per core, at most 4 (a server checking its own
	   log leaves the other cores to its requests: 1) */
	unsigned threads;
};

/*
 * Verifies the whole log in the store: every entry's seq, prev link and
 * canonical form, the head, the stored Merkle tree (every node and the
 * frontier against the entries), every signed-note checkpoint (signature by
 * a trusted audit key, origin, tree head) and every legacy JWS checkpoint
 * (keys of ks: load it with cid_keyset_load_all so retired keys count; iss,
 * hash). Every legacy checkpoint's iss must be the log's issuer
 * (cid_audit_issuer), or, when the store records none, the same for all.
 * Damage is a report with ok false and the first bad seq, not an error:
 *   - an entry changed: its seq (its hash no longer matches the next prev,
 *     its leaf in the tree, the head or a checkpoint);
 *   - an entry deleted: the missing seq; two swapped: the first of them;
 *   - the tail truncated below the head or a checkpoint: the first missing seq;
 *   - a checkpoint that does not verify (another key, a changed byte), or
 *     legacy and signed as another issuer: the last entry it claims to cover;
 *   - a stored tree node that is not the entries' (proofs from it would
 *     fail): the first entry below it;
 *   - with opts->witness_checkpoint of size W: fewer than W entries, or a
 *     tree of the first W entries other than the one it signs (rollback
 *     set): the first missing entry, or W - 1.
 * Entries after the newest checkpoint are the live log's normal state: the
 * report is ok with unsigned_tail set. The walk runs on opts->threads
 * threads (started and joined within the call).
 * Errors: CID_ERR_DENIED (opts->witness_checkpoint is not a checkpoint
 * signed by a trusted log key: nothing is read), CID_ERR_REFUSED (it is, but
 * no trusted witness's cosignature on it verifies: only the log vouches for
 * it, so it proves nothing; nothing is read), CID_ERR_STORE (cannot read),
 * CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_audit_verify_store(struct cid_store *s, const struct cid_keyset *ks,
						   const struct cid_audit_verify_opts *opts,
						   struct cid_audit_report *rep);

/*
 * Verifies an export (format above) read from in, offline: signed notes with
 * opts->trust, legacy JWS checkpoints with the public keys of ks
 * (cid_keyset_from_jwks; may be NULL when the export has none). Same
 * diagnosis as cid_audit_verify_store; lines over 1 MiB, invalid UTF-8 or
 * JSON are damage at that seq, and so is a checkpoint no key given can
 * check (the reason names what to give). An export is made ending with a
 * checkpoint covering its last entry: one that does not (entries appended
 * after the last checkpoint, or no checkpoint at all, as when entries were
 * changed, every later prev recomputed and the checkpoints deleted) is not
 * ok, with unsigned_tail set and bad_seq the first entry nothing signs,
 * unless opts->allow_unsigned_tail. A file with no entry at all is not ok
 * (bad_seq 0), whatever the options: every export holds at least its own
 * audit.exported entry.
 * Errors: CID_ERR_INVALID (opts->issuer and the JWKS's issuer differ: nothing
 * is read), CID_ERR_DENIED and CID_ERR_REFUSED (as for the store),
 * CID_ERR_IO (read error),
 * CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_audit_verify_export(FILE *in, const struct cid_keyset *ks,
						    const struct cid_audit_verify_opts *opts,
						    struct cid_audit_report *rep);

/* ---- proofs (audit_proof.c) ---- */

/*
 * The inclusion proof of entry seq against the signed-note checkpoint of
 * size (0: the newest, which must cover seq), as a C2SP tlog-proof
 * (c2sp.org/tlog-proof@v1): "extra" is the base64 of the entry's canonical
 * bytes, then "index" seq, the path, a blank line and the checkpoint with
 * its cosignatures. *out: a new string, *len (may be NULL) its length.
 * Errors: CID_ERR_INVALID (seq >= size), CID_ERR_NOTFOUND (no such entry, no
 * signed-note checkpoint of size, or none covering seq yet), CID_ERR_TOOEARLY
 * (the tree lags), CID_ERR_TOOBIG, CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_audit_prove(struct cid_store *s, uint64_t seq, uint64_t size,
					    char **out, size_t *len);

/*
 * The consistency proof between the signed-note checkpoints of old_size and
 * size (0: the newest), as a JSON document (a new string):
 * {"type": "civicid-audit-consistency/v1", "old_size", "size", "proof":
 * [base64 hashes, RFC 9162 §2.1.4], "old_checkpoint", "checkpoint"}.
 * Errors: CID_ERR_INVALID (old_size 0 or above size), CID_ERR_NOTFOUND (no
 * signed-note checkpoint of a size), CID_ERR_TOOEARLY, CID_ERR_STORE,
 * CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_audit_prove_consistency(struct cid_store *s, uint64_t old_size,
							uint64_t size, char **out);

/*
 * The proof of one consent entry for a receipt (audit_record_proof.c): the
 * entry of type ("consent.granted", "consent.withdrawn") of citizen written
 * at second at whose consent_records hold record_id, proved against the
 * newest signed-note checkpoint, one signed here (cid_audit_checkpoint) when
 * none covers it yet. *out (new reference): {"seq", "size" (the
 * checkpoint's), "entry" (the entry's canonical bytes, a string), "leaf_hash"
 * (lowercase hex SHA-256(0x00 || entry)), "proof" (the RFC 9162 inclusion
 * path, lowercase hex hashes), "checkpoint" (the signed note, cosignatures
 * included)}: all of cid_audit_prove's document (its "extra" is the base64
 * of entry, its path the proof's hashes in base64), and no more.
 * Errors: CID_ERR_INVALID (a NULL argument), CID_ERR_NOTFOUND (no such
 * entry: a record written before the log), CID_ERR_TOOEARLY (the tree
 * lags), those of cid_audit_checkpoint, CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_audit_record_proof(struct cid_store *s, const char *type,
						   const char *citizen, const char *record_id,
						   int64_t at, int64_t now, json_t **out);

/*
 * The citizen's trail with its proofs (audit_trail.c), what their download
 * (trail.h) is made of: the entries of cid_audit_citizen_page (the rule of
 * what a citizen sees: release.permit and consent.* entries naming
 * account_id) newest first, from below seq before (0: from the newest), at
 * most limit, each with its inclusion proof against ONE signed-note
 * checkpoint: when ws has witnesses, the newest checkpoint a witness of ws
 * cosigned (its cosignature verified with the witness's vkey) among the
 * newest CID_TRAIL_CP_SCAN; else, or when none is found, the newest
 * checkpoint, signed now (cid_audit_checkpoint) when none covers the page's
 * newest entry. *out (new reference): {"origin", "vkeys" (every audit key's
 * vkey, oldest first), "witness_vkeys" (ws's; [] none), "checkpoint":
 * {"size", "note" (cosignatures included), "cosigned" (bool)} or null (an
 * empty trail in a log never signed), "entries": [{"seq", "entry" (the
 * canonical bytes), "leaf_hash" (lowercase hex SHA-256(0x00 || entry)),
 * "proof" (the RFC 9162 inclusion path, lowercase hex, leaf to root) or null
 * (an entry newer than the cosigned checkpoint)}], "next_before" (the seq of
 * the page's oldest entry, only when older entries remain), "names" (every
 * name the log gives the citizen, read with the page: the account id, then
 * a pseudonym per scope, pseudonym.h cid_pseudonym_names)}.
 * Errors: CID_ERR_INVALID (s, account_id or out NULL, limit 0 or above
 * CID_TRAIL_MAX), those of cid_audit_checkpoint (CID_ERR_CONFIG: no server
 * has started on the store), CID_ERR_TOOEARLY (the tree lags), CID_ERR_STORE,
 * CID_ERR_NOMEM.
 */
struct cid_audit_witnesses;
CID_MUST_CHECK enum cid_err cid_audit_trail(struct cid_store *s,
					    const struct cid_audit_witnesses *ws,
					    const char *account_id, uint64_t before, size_t limit,
					    int64_t now, json_t **out);

/* What cid_audit_proof_verify found. */
struct cid_audit_proof_result {
	bool ok;		 /* the proof holds */
	bool inclusion;		 /* an inclusion proof (else a consistency proof) */
	uint64_t seq;		 /* inclusion: the entry's */
	uint64_t old_size;	 /* consistency: the older checkpoint's size */
	uint64_t size;		 /* the (newer) checkpoint's size */
	uint64_t cosigned_at;	 /* the newest trusted witness cosignature on it (0: none) */
	char type[64], time[32]; /* inclusion: the entry's type and time */
	char origin[CID_NOTE_MAX_NAME + 1];  /* the log's */
	char witness[CID_NOTE_MAX_NAME + 1]; /* the witness of cosigned_at */
	char reason[256];		     /* when !ok: why, for people */
};

/*
 * Checks a proof document of cid_audit_prove or cid_audit_prove_consistency
 * offline against the verifier keys t: the checkpoints' signatures by a log
 * key, the entry's canonical form and seq, the Merkle path. A proof that
 * does not hold is *r with ok false and a reason, not an error.
 * Errors: CID_ERR_INVALID (doc or t NULL), CID_ERR_NOMEM, CID_ERR_CRYPTO.
 */
CID_MUST_CHECK enum cid_err cid_audit_proof_verify(const char *doc, size_t len,
						   const struct cid_audit_trust *t,
						   struct cid_audit_proof_result *r);

/* ---- witnesses (audit_witness.c) ---- */

/* The witnesses checkpoints are pushed to (config audit_witnesses), parsed once. */
struct cid_audit_witnesses;

/*
 * Parses the audit_witnesses setting: items separated by ',' or newlines,
 * each "URL VKEY": the witness's submission prefix (http or https; its
 * endpoint is URL/add-checkpoint) and its cosignature vkey (type 0x04, what
 * `civicid witness init` prints). Empty or NULL text: no witness. *out is
 * freed with cid_audit_witnesses_free.
 * Errors: CID_ERR_CONFIG (what is wrong in err[errsz]), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_audit_witnesses_parse(const char *text,
						      struct cid_audit_witnesses **out, char *err,
						      size_t errsz);

void cid_audit_witnesses_free(struct cid_audit_witnesses *ws);

/* The number of witnesses (0 for NULL), and the vkey of witness i (borrowed). */
size_t cid_audit_witnesses_count(const struct cid_audit_witnesses *ws);
const char *cid_audit_witness_vkey(const struct cid_audit_witnesses *ws, size_t i);

/*
 * Pushes the newest signed-note checkpoint to every witness of ws
 * (c2sp.org/tlog-witness add-checkpoint): "old N" (the size the witness last
 * cosigned, learnt from a 409 answer and remembered in the store), the
 * consistency proof from N, the checkpoint. A cosignature that verifies
 * with the witness's vkey is appended to the stored checkpoint's note. Each
 * failure (no connection, timeout, a refusal: its status and reason, a
 * witness holding a larger tree than the log) is one line on log (may be
 * NULL) and no error: the next push tries again. Blocks for up to the
 * http_fetch timeouts per witness: never call it on a request thread.
 * Errors: CID_ERR_INVALID (s NULL), CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_audit_witness_push(struct cid_store *s,
						   const struct cid_audit_witnesses *ws,
						   int64_t now, FILE *log);

/*
 * The checkpoint of origin in doc: doc itself when it is a note, or from a
 * witness's state (`civicid witness show --json`: logs[].checkpoint of that
 * origin). *note (a new string, *note_len bytes) is not verified here.
 * Errors: CID_ERR_INVALID (doc or origin NULL, or JSON without "logs"),
 * CID_ERR_NOTFOUND (the witness cosigned nothing of origin), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_audit_witness_checkpoint_read(const char *doc, size_t len,
							      const char *origin, char **note,
							      size_t *note_len);

/* ---- reading (audit_read.c) ---- */

/* A filter of cid_audit_query. NULL / 0 members do not filter. */
struct cid_audit_filter {
	const char *citizen; /* an account id: the entries under every name the log gives
				it (cid_pseudonym_names); or one pseudonym: that scope's */
	const char *service;
	const char *release;   /* a release id: the entries whose request_id it is */
	const char *attribute; /* matches "family_name" and "family_name#..." */
	const char *type;      /* exact, or a prefix ending in '.', e.g. "release." */
	const char *from, *to; /* RFC 3339 times, from <= time < to */
	uint64_t after_seq;    /* paging: only seq > after_seq, or with newest_first
				  seq < after_seq; 0: no bound either way */
	bool newest_first;
	size_t limit; /* 0: no limit */
};

/*
 * Calls fn(seq, entry bytes, arg) for each entry matching f, in seq order (or
 * newest first). Uses the release, citizen or service index when f names one
 * (a time range is then decided from the index values, without reading the
 * entries outside it); a service with both from and to (and no release or
 * citizen) seeks the service-day index to from: it costs a seek and the
 * service's index keys in the range (all of them, even with a limit: they are
 * merged into seq order), not the service's history. With only a time range
 * (and no after_seq) it walks the time index over the range, in time order
 * (seq order within one second). entry is borrowed for the call. fn's non-OK
 * return stops the walk and is returned. Errors: CID_ERR_INVALID (bad
 * filter: from/to not "YYYY-MM-DDTHH:MM:SSZ", an empty type or attribute),
 * CID_ERR_STORE, fn's.
 */
CID_MUST_CHECK enum cid_err
cid_audit_query(struct cid_txn *txn, const struct cid_audit_filter *f,
		enum cid_err (*fn)(uint64_t seq, struct cid_str entry, void *arg), void *arg);

/* One entry by seq, parsed. *out: new reference. Errors: CID_ERR_NOTFOUND, CID_ERR_STORE. */
CID_MUST_CHECK enum cid_err cid_audit_get(struct cid_txn *txn, uint64_t seq, json_t **out);

/*
 * The record of provisions of personal data for [from, to): for each
 * (service, citizen) with release.permit entries, the union of attributes,
 * the first and last time, the bases and the consent records. *out (new
 * reference): [{"service","citizen","attributes":[...],"first","last",
 * "count","bases":[...],"consent_records":[...]}], sorted by service then
 * citizen. Errors: CID_ERR_INVALID (times), CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_audit_provisions(struct cid_txn *txn, const char *from,
						 const char *to, json_t **out);

/*
 * The citizen's own slice, newest first, at most limit entries (after_seq as
 * in the filter for paging): who received which attribute, when, for what.
 * *out (new reference): [{"seq","time","type","service","purpose",
 * "attributes","basis","endpoint"}] of release.permit and consent.* entries;
 * the actor of officer entries is not shown (an officer's name is for the
 * officer view). Errors: CID_ERR_INVALID (account_id NULL), CID_ERR_STORE,
 * CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_audit_citizen(struct cid_txn *txn, const char *account_id,
					      uint64_t after_seq, size_t limit, json_t **out);

/*
 * cid_audit_citizen narrowed to one service (service NULL: every service) and
 * paged either way: newer false, newest first from below from_seq (0: from the
 * newest), as cid_audit_citizen; newer true, oldest first from above from_seq
 * (the page before a page, read from its edge). At most limit entries; same
 * *out and errors.
 */
CID_MUST_CHECK enum cid_err cid_audit_citizen_page(struct cid_txn *txn, const char *account_id,
						   const char *service, uint64_t from_seq,
						   bool newer, size_t limit, json_t **out);

/* ---- the officer's acts on the record (audit_officer.c) ---- */

enum cid_audit_officer_kind {
	CID_AUDIT_OFFICER_SEARCHED, /* a search of the log: "officer.searched" */
	CID_AUDIT_OFFICER_VIEWED,   /* one entry opened: "officer.viewed" */
};

/* What an officer.* entry records: which officer did what, about whom. */
struct cid_audit_officer_act {
	enum cid_audit_officer_kind act;
	const char *officer;		       /* the officer's name (actor "officer:<name>") */
	const char *citizen;		       /* the citizen it concerns, or NULL: a search's
						  citizen, the viewed entry's */
	const struct cid_audit_filter *filter; /* SEARCHED: as typed (NULL: none) */
	uint64_t rows;			       /* SEARCHED: entries shown */
	uint64_t seq;			       /* VIEWED: the entry opened */
	int64_t now;
};

/*
 * The officer.* entry of x, ready for cid_audit_append: "type", "time",
 * "actor" ("officer:<name>"), "endpoint" "officer-console", "citizen" when
 * x->citizen, and "ext", every member a string: for officer.searched "rows"
 * and the filter's members that were set ("citizen", "service", "release",
 * "attribute", "type", "from", "to", and "before": the paging seq); for
 * officer.viewed "seq". *out: new reference.
 * Errors: CID_ERR_INVALID (x NULL, officer NULL, empty or over
 * CID_AUDIT_MAX_NAME bytes, an unknown act, a filter value not UTF-8, now
 * out of range), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_audit_officer_entry(const struct cid_audit_officer_act *x,
						    json_t **out);

/*
 * Appends the officer.* entry of x to log durably (cid_audit_append): the
 * console calls it before the page showing what was looked at leaves.
 * *seq (may be NULL): its seq. Errors: those of cid_audit_officer_entry
 * (CID_ERR_INVALID also for log NULL) and of cid_audit_append.
 */
CID_MUST_CHECK enum cid_err cid_audit_officer_record(struct cid_audit *log,
						     const struct cid_audit_officer_act *x,
						     uint64_t *seq);

/*
 * The rule of a look-up's reason (cid_audit_resolve): one line (no control
 * character) of UTF-8, at most CID_AUDIT_MAX_REASON bytes (CID_AUDIT_REASON_CHARS
 * characters of any script fit). *given: it holds something besides white
 * space (U+0020, U+00A0, U+3000). NULL or blank is refused when required.
 * Errors: CID_ERR_INVALID.
 */
CID_MUST_CHECK enum cid_err cid_audit_reason_check(const char *reason, bool required, bool *given);

/*
 * Who pseudonym is (pseudonym.h), on the record: reads the mapping, then
 * appends durably, found or not, {"type": "officer.resolved", "time": now,
 * "actor", "endpoint" ("officer-console" for "officer:<name>", "cli" for
 * "operator"), "citizen": pseudonym, "ext": {"pseudonym", "found": "true" |
 * "false", "reason"? (why the look-up was made, as its maker stated it: a
 * disclosure request's number, a complaint)}}, and only then hands over the
 * scope: *out (new reference) {"citizen" (account id), "service", "purpose"}.
 * An officer must give a reason (cid_audit_reason_check, required); the
 * operator may (NULL or blank: none).
 * Errors: CID_ERR_INVALID (log or out NULL, pseudonym not one, actor not
 * "operator" or "officer:<name>", a reason cid_audit_reason_check refuses;
 * nothing is logged then), CID_ERR_NOTFOUND (no such pseudonym, or purged:
 * the look-up is still recorded), those of cid_audit_append.
 */
CID_MUST_CHECK enum cid_err cid_audit_resolve(struct cid_audit *log, const char *actor,
					      const char *pseudonym, const char *reason,
					      int64_t now, json_t **out);

/*
 * What the operator's command line printed of citizens' data, on the record
 * before it is printed (the console's reads are officer.* entries):
 * appends durably {"type": "operator.viewed", "time": now, "actor":
 * "operator", "endpoint": "cli", "citizen": citizen (an account id; the
 * log holds its pseudonym of no purpose, as for a search by citizen) when
 * the read concerns one citizen, "ext": {"command" (what was run, e.g.
 * "user show"), "rows" (decimal: the records printed)}}. So "who looked at
 * this person" is one query by citizen, whichever skin the look was made
 * through. command: 1 to CID_AUDIT_MAX_NAME bytes of printable ASCII.
 * citizen NULL: a read of many (a listing of every citizen).
 * Errors: CID_ERR_INVALID (log NULL, command or citizen not a usable name,
 * now out of range; nothing is logged), those of cid_audit_append.
 */
CID_MUST_CHECK enum cid_err cid_audit_operator_viewed(struct cid_audit *log, const char *command,
						      const char *citizen, uint64_t rows,
						      int64_t now);

/* What an account's deletion removed or withdrew, for its entry. */
struct cid_audit_deletion {
	const char *actor;    /* who asked: "operator" or "citizen" */
	const char *endpoint; /* where: "cli" or "account" */
	const char *citizen;  /* the deleted account's id */
	size_t sessions, grants, links, withdrawn;
	int64_t now;
};

/*
 * The account.deleted entry of x into *out (new reference; the caller
 * appends it in the deletion's own transaction, account_delete.h):
 * {"type": "account.deleted", "time", "actor", "endpoint", "citizen",
 * "ext": {"sessions", "grants", "links", "withdrawn"} (decimal)}.
 * Errors: CID_ERR_INVALID (a member NULL, now out of range), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_audit_deletion_entry(const struct cid_audit_deletion *x,
						     json_t **out);

/* ---- exports and their record (audit_export.c) ---- */

/*
 * Writes the whole log as the export format to out (every entry and every
 * checkpoint after the entry it covers). Errors: CID_ERR_IO, CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err cid_audit_export(struct cid_txn *txn, FILE *out);

/*
 * The export anyone can verify offline: signs a checkpoint of the head first
 * (cid_audit_checkpoint at now), so that the file ends with a checkpoint
 * covering all of it, then writes the whole log (cid_audit_export) in a read
 * transaction of s. An empty log exports without a checkpoint (an empty
 * file, which cid_audit_verify_export refuses: it proves nothing). *entries (may
 * be NULL) gets the number of entries written. Errors: those of both, except
 * CID_ERR_NOTFOUND; nothing is written on an error of the checkpoint
 * (CID_ERR_CONFIG: no issuer recorded; CID_ERR_TOOEARLY: the tree lags).
 * Not on the record: an export that leaves civicid goes through
 * cid_audit_export_recorded.
 */
CID_MUST_CHECK enum cid_err cid_audit_export_signed(struct cid_store *s, int64_t now, FILE *out,
						    uint64_t *entries);

/*
 * Writes the entries matching f to out, as JSON Lines (csv false) or as CSV
 * (UTF-8 with a byte order mark, which spreadsheets need to read it as
 * UTF-8: the console's download and `civicid audit export --format csv`
 * alike) with a header row (seq,time,type,actor,citizen,service,purpose,attributes,
 * decision,reason,basis,rule,consent_records,policy_version,endpoint,request_id;
 * lists joined by ' '; RFC 4180 quoting, CRLF row ends; cells starting with
 * = + - @ TAB or CR prefixed with ' so spreadsheets do not run them).
 * *n_out (may be NULL): rows written.
 * Errors: those of cid_audit_query, CID_ERR_IO.
 */
CID_MUST_CHECK enum cid_err cid_audit_write_filtered(struct cid_txn *txn,
						     const struct cid_audit_filter *f, bool csv,
						     FILE *out, uint64_t *n_out);

/* What an audit.exported entry records ("ext" above): who took which slice of the log. */
struct cid_audit_exported {
	const char *actor;		       /* "operator" (the CLI) or "officer:<name>" */
	const char *endpoint;		       /* "cli" or "officer-console" */
	const char *format;		       /* "jsonl", "csv", "trail-json", "trail-csv" */
	const struct cid_audit_filter *filter; /* the entries selected; NULL: every entry */
	uint64_t rows;			       /* entries in the export */
	uint64_t checkpoint;		       /* size of the checkpoint it ends with; 0: none */
	int64_t now;
};

/*
 * The audit.exported entry of x, ready for cid_audit_append: "type", "time"
 * (x->now), "actor", "endpoint", "citizen" when the filter names one (as
 * "ext.citizen": both become the same pseudonym when chained), and "ext"
 * (the filter's limit, after_seq and newest_first are not recorded).
 * *out: new reference.
 * Errors: CID_ERR_INVALID (actor or endpoint NULL or empty, format not
 * one of those above, a filter value not UTF-8, now out of range),
 * CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_audit_exported_entry(const struct cid_audit_exported *x,
						     json_t **out);

/*
 * A filtered export on the record: writes the entries matching x->filter
 * (every entry when NULL; its limit aside) to buffer as x->format
 * (cid_audit_write_filtered) from one read transaction, then appends to log
 * the audit.exported entry of x with rows, the number written (x->rows and
 * x->checkpoint are not read). The caller lets buffer's content leave only
 * on CID_OK: the export is on the record before a byte of it leaves. *rows
 * (may be NULL) gets the count. max_rows (0: no limit): when more entries
 * match, CID_ERR_TOOBIG and nothing is recorded (buffer holds max_rows + 1
 * rows to throw away). Errors: CID_ERR_TOOBIG, those of
 * cid_audit_write_filtered (CID_ERR_INVALID: a bad filter), of
 * cid_audit_exported_entry and of cid_audit_append; on any, nothing is
 * recorded.
 */
CID_MUST_CHECK enum cid_err cid_audit_write_recorded(struct cid_audit *log,
						     const struct cid_audit_exported *x,
						     size_t max_rows, FILE *buffer, uint64_t *rows);

/*
 * The whole log on the record. In one write transaction of s: appends the
 * audit.exported entry of x (its actor, endpoint and now; format "jsonl", no
 * filter, rows N + 1 when the log held N entries) as entry N and signs and
 * stores a checkpoint of size N + 1 covering it, as cid_audit_checkpoint
 * would ("checkpoint" N + 1 in the record). Then, from a read transaction,
 * writes entries 0..N and the checkpoints among them to out (the export
 * format). The export holds its own record as its last entry, ends with a
 * checkpoint covering it, and leaves out what others append meanwhile.
 * *entries (may be NULL): N + 1.
 * Errors before the commit, when nothing is recorded, signed or written:
 * CID_ERR_INVALID (s, x or out NULL, or as cid_audit_exported_entry),
 * CID_ERR_CONFIG (the store records no issuer: no server has started on it),
 * CID_ERR_TOOEARLY (the tree lags), CID_ERR_CRYPTO, CID_ERR_STORE,
 * CID_ERR_NOMEM.
 * After it, the record stays (a record too many, never an export without
 * one): CID_ERR_STORE (reading), CID_ERR_IO (writing out).
 */
CID_MUST_CHECK enum cid_err cid_audit_export_recorded(struct cid_store *s,
						      const struct cid_audit_exported *x, FILE *out,
						      uint64_t *entries);

#endif
