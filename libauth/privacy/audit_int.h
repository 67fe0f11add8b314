/*
 * audit_int: what the files of the audit module share (audit.c,
 * audit_verify.c, audit_read.c, audit_export.c, and audit_release.c, its file
 * above release): the store's key shapes, the canonical-form and hash rules,
 * the append with once-keys, and small helpers. Not part of the API.
 */
#ifndef CID_AUDIT_INT_H
#define CID_AUDIT_INT_H

#include "audit.h"
#include "err.h"
#include "str.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUDIT_SEQ_HEX	 16 /* a seq as a key: 16 lowercase hex digits */
#define AUDIT_ZERO_HASH	 "0000000000000000000000000000000000000000000000000000000000000000"
#define AUDIT_TIME_CHARS 20	       /* "2026-11-25T09:30:00Z" */
#define AUDIT_STOP	 CID_ERR_COUNT /* internal: a walk stopped on purpose */

/* The key of entry (or checkpoint of size) seq: AUDIT_SEQ_HEX hex digits and NUL. */
void audit_seq_key(uint64_t seq, char out[AUDIT_SEQ_HEX + 1]);

/* The seq of a key of audit_seq_key; false when key is not one. */
bool audit_seq_key_parse(struct cid_str key, uint64_t *seq);

/* True if v holds only ASCII member names and no real numbers, at any depth. */
bool audit_canon_ok(const json_t *v, int depth);

/*
 * hash = SHA-256(0x00 || bytes) as lowercase hex into hex.
 * Errors: CID_ERR_NOMEM, CID_ERR_CRYPTO.
 */
CID_MUST_CHECK enum cid_err audit_entry_hash(const char *p, size_t n, char hex[CID_AUDIT_HASH_HEX]);

/* True if h is 64 lowercase hex digits. */
bool audit_hash_syntax_ok(const char *h);

/* An id usable as part of an index key: non-empty, short, no NUL or newline. */
bool audit_index_name_ok(const char *s, size_t len);

/* audit_index_name_ok of a JSON member: absent is fine, anything else must be a usable name. */
bool audit_index_member_ok(const json_t *v);

/* True if t is "YYYY-MM-DDTHH:MM:SSZ" in shape (digits where digits go). */
bool audit_time_syntax_ok(const char *t);

/*
 * cid_audit_append, where once[i] (once may be NULL; once[i] may be NULL) is
 * an index key that must be new for entries[i] to be written: an entry whose
 * key is in the index already is skipped, and the key is written with the
 * entry, in the same transaction. *first (may be NULL) is the seq of the
 * first entry written, *written (may be NULL) how many were. Errors: those of
 * cid_audit_append.
 */
CID_MUST_CHECK enum cid_err audit_append(struct cid_audit *log, json_t *const *entries,
					 const char *const *once, size_t n, uint64_t *first,
					 size_t *written);

/* The store the log writes to (borrowed). */
struct cid_store *audit_store(const struct cid_audit *log);

/*
 * Signs with ks and stores in txn (a write transaction) a checkpoint of txn's
 * head as the log's issuer (keeping one already stored for that head): the
 * checkpoint commits, or not, with the caller's writes. *size: the number of
 * entries it covers. Errors: CID_ERR_NOTFOUND (empty log), CID_ERR_CONFIG (no
 * issuer recorded), CID_ERR_INVALID (now out of range), CID_ERR_CRYPTO (no
 * active ES256 key), CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err audit_checkpoint_txn(struct cid_txn *txn, const struct cid_keyset *ks,
						 int64_t now, uint64_t *size);

/* Both NULL, or both strings and equal. */
bool audit_same_str(const char *a, const char *b);

/* Sorts an array of strings and drops repeats, in place. Errors: CID_ERR_NOMEM. */
CID_MUST_CHECK enum cid_err audit_sorted_set(json_t *arr);

#endif
