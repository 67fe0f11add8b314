/*
 * audit_int: what the files of the audit module share (audit_head.c,
 * audit_issuer.c, audit.c, audit_commit.c, audit_canon.c, audit_tree.c,
 * audit_keys.c, audit_checkpoint.c, audit_rotate.c, audit_verify.c,
 * audit_scan.c, audit_verify_export.c, audit_proof.c, audit_witness.c,
 * audit_read.c, audit_export.c, and audit_release.c, its file above
 * release): the store's key shapes, the canonical-form and hash rules, the
 * chain write and the append with once-keys, the tree, the keys and the walk
 * of verification, and small helpers. Not part of the API.
 */
#ifndef CID_AUDIT_INT_H
#define CID_AUDIT_INT_H

#include "audit.h"
#include "bounds.h"
#include "buf.h"
#include "err.h"
#include "merkle.h"
#include "note.h"
#include "str.h"

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUDIT_SEQ_HEX	 16 /* a seq as a key: 16 lowercase hex digits */
#define AUDIT_ZERO_HASH	 "0000000000000000000000000000000000000000000000000000000000000000"
#define AUDIT_TIME_CHARS 20			  /* "2026-11-25T09:30:00Z" */
#define AUDIT_STOP	 CID_ERR_COUNT		  /* internal: a walk stopped on purpose */
#define AUDIT_HEAD_KEY	 "audit_head"		  /* META: {"size", "hash"} of the chain */
#define AUDIT_KEYS_KEY	 "audit_keys"		  /* META: the audit key record (audit_keys.c) */
#define AUDIT_JWS_TYP	 "civicid-checkpoint+jwt" /* the typ of a (legacy) JWS checkpoint */
#define AUDIT_DAY_KEY	 "audit_day_index"	  /* META: the run "d" covers (audit_day_cover) */

/* "d\n" service "\n" time "\n" seq16: the longest service-day index key */
#define AUDIT_DAY_KEY_MAX (4 + CID_AUDIT_MAX_NAME + AUDIT_TIME_CHARS + AUDIT_SEQ_HEX)

/* ---- seqs as keys, and the head (audit_head.c) ---- */

/* The key of entry (or checkpoint of size) seq: AUDIT_SEQ_HEX hex digits and NUL. */
void audit_seq_key(uint64_t seq, char out[AUDIT_SEQ_HEX + 1]);

/* The seq of a key of audit_seq_key; false when key is not one. */
bool audit_seq_key_parse(struct cid_str key, uint64_t *seq);

/* True if v holds only ASCII member names and no real numbers, at any depth. */
bool audit_canon_ok(const json_t *v, int depth);

/*
 * Appends v to b in the canonical form (AUDIT_CANON_FLAGS of jansson:
 * compact, members sorted, byte for byte what json_dump_callback writes)
 * without jansson's per-call allocations (its loop-check table, its sorted
 * key array), on the audit log's hot path. v as audit_canon_ok accepts it
 * (a real number, or an object of more than AUDIT_CANON_NAMES members,
 * goes to jansson). Errors stay in b (cid_buf_status).
 */
#define AUDIT_CANON_FLAGS (JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY)
#define AUDIT_CANON_NAMES 32
struct cid_buf;
void audit_canon_append(struct cid_buf *b, const json_t *v);

/* qsort's order of member names (const char *), JSON_SORT_KEYS's: strcmp. */
int audit_name_cmp(const void *a, const void *b);

/*
 * hash = SHA-256(0x00 || bytes), the entry's leaf hash, into raw and as
 * lowercase hex into hex. Errors: CID_ERR_CRYPTO.
 */
CID_MUST_CHECK enum cid_err audit_entry_hash(const char *p, size_t n, uint8_t raw[CID_MERKLE_HASH],
					     char hex[CID_AUDIT_HASH_HEX]);

/*
 * The service-day index ("d\n" service "\n" time "\n" seq16 -> "", one key
 * per entry with a service and a time, written by chain_write) covers the
 * entries [*from, *to): every entry in that run has its key, and no entry
 * outside it is known to. The run is recorded in META AUDIT_DAY_KEY by every
 * write of the chain; a store written before the index existed has none
 * (both 0), and entries written after *to (by a civicid without the index)
 * are simply outside it: the writer starts a new run at the head when *to is
 * not the head. Errors: CID_ERR_STORE (a record not of that shape).
 */
CID_MUST_CHECK enum cid_err audit_day_cover(struct cid_txn *txn, uint64_t *from, uint64_t *to);

/* True if h is 64 lowercase hex digits. */
bool audit_hash_syntax_ok(const char *h);

/* An id usable as part of an index key: non-empty, short, no NUL or newline. */
bool audit_index_name_ok(const char *s, size_t len);

/* audit_index_name_ok of a JSON member: absent is fine, anything else must be a usable name. */
bool audit_index_member_ok(const json_t *v);

/* True if t is "YYYY-MM-DDTHH:MM:SSZ" in shape (digits where digits go). */
bool audit_time_syntax_ok(const char *t);

/* ---- the chain write (audit.c) and the group commit (audit_commit.c) ---- */

/*
 * One entry checked, its bytes made but for the members only the write
 * transaction can give: "seq", "prev", "citizen" (its pseudonym), and "ext"
 * when it names a citizen to pseudonymise. The members are written in sorted
 * order (as JSON_SORT_KEYS), each as ',' name ':' value; hole[i] is where the
 * member named hole[i].name goes, in that order. The transaction then only
 * fills the holes, so the JSON work of a group is done by its appenders, side
 * by side, not by the one writer. Made from a jansson object
 * (audit_entries_prepare, audit.c) or member by member (audit_build_*,
 * audit_build.c); freed with audit_prepared_free.
 */
#define AUDIT_PREP_HOLES 4

struct audit_prepared {
	struct cid_buf text;
	size_t n_holes;

	struct {
		const char *name; /* static */
		size_t at;
	} hole[AUDIT_PREP_HOLES];

	/* the string members the transaction reads (NULL: none), borrowed from the
	 * jansson entry, or in owned when built */
	const char *citizen, *service, *purpose, *time, *request_id;
	const json_t *ext; /* the entry's "ext" (jansson entries only; borrowed) */
	char *owned;
};

/*
 * An entry made member by member straight into canonical bytes, for the
 * release path, which would otherwise make several jansson objects per
 * request only to turn them into bytes. Members are added in any order, each
 * name once (static strings of ASCII); audit_build_finish sorts them. A value
 * that cid_audit_append would refuse (a string not UTF-8, more than
 * AUDIT_CANON_NAMES members) is remembered and refused by finish. Usage:
 * audit_build_init, audit_build_str/int/strs/object..., audit_build_finish
 * (which leaves b empty, ready for the next entry), audit_build_free.
 */
struct audit_member {
	const char *name; /* static */
	size_t at, len;	  /* of its value in the builder's vals */
};

struct audit_build {
	struct cid_buf vals; /* the members' values, one after another */
	struct cid_buf keys; /* the string members the transaction reads, NUL-ended */
	size_t n;
	bool bad;
	struct audit_member m[AUDIT_CANON_NAMES];

	size_t key_at[5]; /* citizen, service, purpose, time, request_id in keys; SIZE_MAX: none */
};

void audit_build_init(struct audit_build *b);
void audit_build_free(struct audit_build *b);
/* Member name: the string s (NULL: no member). */
void audit_build_str(struct audit_build *b, const char *name, const char *s);
/*
 * Member name: the string prefix followed by s (s NULL: no member), each
 * UTF-8, written piece by piece: no copy of the whole, and no bound on it.
 */
void audit_build_prefixed(struct audit_build *b, const char *name, const char *prefix,
			  const char *s);
/* Member name: the integer v. */
void audit_build_int(struct audit_build *b, const char *name, int64_t v);
/* Member name: the array of strings v[0..n), in that order. */
void audit_build_strs(struct audit_build *b, const char *name, const struct cid_str *v, size_t n);
/* Member name: the object of sub's members (sorted); sub is left as it was. */
void audit_build_object(struct audit_build *b, const char *name, const struct audit_build *sub);

/*
 * Makes b's entry into *out (freed with audit_prepared_free) with the checks
 * of cid_audit_append: "citizen", "service" and "request_id" usable as index
 * names, "time" of audit_time_syntax_ok, no "seq", "prev" or "ext", no
 * member twice. b is emptied either way. Errors: CID_ERR_INVALID (a check,
 * or a value remembered as bad), CID_ERR_NOMEM, CID_ERR_TOOBIG; then *out is
 * empty.
 */
CID_MUST_CHECK enum cid_err audit_build_finish(struct audit_build *b, struct audit_prepared *out);

/*
 * Sorts v[0..*n) bytewise (a prefix first, as strcmp) and drops repeats, in
 * place: the order of audit_sorted_set, for the arrays of audit_build_strs.
 */
void audit_str_set(struct cid_str *v, size_t *n);

/* A queued waiter's fate: still waiting, written (rc set), or to lead the next round. */
enum audit_waiter_state { AUDIT_WAITER_QUEUED, AUDIT_WAITER_DONE, AUDIT_WAITER_LEAD };

/*
 * One append's entries on their way into the chain: a caller of
 * cid_audit_append (or cid_audit_pending_commit) waiting in the group commit,
 * one submit (cid_audit_submit), or, alone, cid_audit_append_txn's entry.
 */
struct audit_waiter {
	json_t *const *entries;
	struct audit_prepared *prep; /* per entry: its bytes but for the transaction's members */
	const char *const *once;     /* per entry: an index key that must be new, or NULL */
	size_t n;
	uint64_t first; /* outputs, valid when done */
	size_t written;
	enum cid_err rc;
	struct audit_waiter *next;
	/* how the waiter learns its fate: its own lock, so that waking it never
	 * makes it queue for the log's lock (where the leader of the next round
	 * and the newcomers are) before it can return */
	pthread_mutex_t slot;
	pthread_cond_t wake;
	enum audit_waiter_state state; /* under slot */
	cid_audit_done done; /* set: a submitted append (struct cid_audit_pending), told by
				calling it; it never leads, and has no slot */
	void *done_arg;
};

/*
 * Checks each of entries[0..n) as cid_audit_append does and makes its bytes
 * but for what the write transaction gives it, into *out: a new array of n,
 * freed with audit_prepared_free. The caller has checked n > 0 and entries
 * not NULL. Errors: CID_ERR_INVALID (an entry cid_audit_append refuses),
 * CID_ERR_NOMEM; then *out is not set and nothing is left allocated.
 */
CID_MUST_CHECK enum cid_err audit_entries_prepare(json_t *const *entries, size_t n,
						  struct audit_prepared **out);

/* Frees prep[0..n) and the array (prep may be NULL). */
void audit_prepared_free(struct audit_prepared *prep, size_t n);

/*
 * cid_store_update's callback: in the write transaction txn, writes the
 * entries of the waiters of the list whose head is list (struct
 * audit_waiter), in order: reads the head, gives each entry its seq and
 * prev and its citizen's pseudonym (made on first use), writes it with its
 * index keys, appends its leaf to the tree and moves the head. An entry with
 * a once-key is written with that key, or skipped when the key is there
 * already. Each waiter's first and written are set. It may run again on the
 * same list (after the map grew): its outputs go to the waiters only.
 * Errors: those of the store's reads and writes (CID_ERR_STORE; CID_ERR_EXISTS
 * when the next seq is taken, a damaged head; CID_ERR_TOOBIG, a once-key or
 * index key over LMDB's bound), those of cid_pseudonym_get_or_make
 * (CID_ERR_INVALID: a citizen it cannot name), CID_ERR_NOMEM, CID_ERR_CRYPTO.
 */
CID_MUST_CHECK enum cid_err audit_chain_write(struct cid_txn *txn, void *list);

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

/*
 * An append of entries[0..n), each with its once-key once[i] (once may be
 * NULL; once[i] may be NULL) as in audit_append, made into *out and checked
 * as cid_audit_append checks. Takes over both arrays and their n elements
 * (json_decref and free), on error too. Errors: those of cid_audit_append
 * before its commit; then nothing is made.
 */
CID_MUST_CHECK enum cid_err audit_pending_new(struct cid_audit *log, json_t **entries, char **once,
					      size_t n, struct cid_audit_pending **out);

/*
 * audit_append of entries prepared already (prep[0..n), borrowed: audit_build_finish's, or
 * audit_entries_prepare's while their jansson entries live). Errors: those of
 * cid_audit_append's commit; CID_ERR_INVALID (log or prep NULL, n 0).
 */
CID_MUST_CHECK enum cid_err audit_append_prepared(struct cid_audit *log,
						  const struct audit_prepared *prep,
						  const char *const *once, size_t n,
						  uint64_t *first, size_t *written);

/*
 * audit_pending_new of entries prepared already by audit_build_finish: takes
 * over prep and once (arrays of n) and their elements, on error too.
 * Errors: CID_ERR_INVALID (log or prep NULL, n 0), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err audit_pending_of(struct cid_audit *log, struct audit_prepared *prep,
					     char **once, size_t n, struct cid_audit_pending **out);

/*
 * The once-key of the consent.expired entry of consent record id: "x\n" id
 * (audit.h's store layout), what a release's entry (audit_release.c) and the
 * sweeper's (consent_sweep.c) pass to audit_append, so that a record's expiry
 * is logged once ever, whichever writes it first. *out: a new string (free),
 * NULL on error. Errors: CID_ERR_INVALID (id NULL, empty or longer than
 * CID_AUDIT_MAX_NAME), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err audit_expired_once_key(const char *id, char **out);

/* The store the log writes to (borrowed). */
struct cid_store *audit_store(const struct cid_audit *log);

/* The log's issuer, read in txn (audit_issuer.c): a new string, or NULL when none is recorded. */
CID_MUST_CHECK enum cid_err audit_issuer_get(struct cid_txn *txn, char **out);

/* ---- the Merkle tree (audit_tree.c) ---- */

/* The tree inside one write transaction that appends entries. */
struct audit_tree {
	struct cid_txn *txn;
	struct cid_merkle_frontier f;
	bool current; /* the frontier covers every entry: appends extend it */
	bool grew;    /* leaves were appended: the frontier is written at close */
};

/*
 * Reads the stored frontier into t for a log of log_size entries.
 * Errors: CID_ERR_STORE (a damaged frontier, or one beyond the log).
 */
CID_MUST_CHECK enum cid_err audit_tree_open(struct cid_txn *txn, uint64_t log_size,
					    struct audit_tree *t);

/* Appends the leaf of the next entry, storing the nodes it completes (not when lagging). */
CID_MUST_CHECK enum cid_err audit_tree_append(struct audit_tree *t,
					      const uint8_t leaf[CID_MERKLE_HASH]);

/* Writes the frontier if leaves were appended. Errors: CID_ERR_STORE. */
CID_MUST_CHECK enum cid_err audit_tree_close(struct audit_tree *t);

/* The stored frontier (the empty tree's when none is stored). Errors: CID_ERR_STORE. */
CID_MUST_CHECK enum cid_err audit_tree_frontier(struct cid_txn *txn, struct cid_merkle_frontier *f);

/* merkle.h's get callback over the stored nodes; arg is the struct cid_txn. */
CID_MUST_CHECK enum cid_err audit_tree_get(void *arg, unsigned level, uint64_t index,
					   uint8_t out[CID_MERKLE_HASH]);

/*
 * The place of node (level, index) in post-order, which is the order the
 * frontier completes nodes in; audit_tree_key writes its eight big-endian
 * bytes, the node's key in CID_DB_AUDIT_TREE (audit_tree.c). Defined for
 * nodes of a tree of fewer than 2^63 leaves.
 */
#define AUDIT_TREE_KEY 8
uint64_t audit_tree_place(unsigned level, uint64_t index);
void audit_tree_key(unsigned level, uint64_t index, char key[AUDIT_TREE_KEY]);

/*
 * A reader of stored nodes for a walk that asks for them in the order they
 * were completed (verification): the nodes are read in runs of
 * AUDIT_TREE_RUN with one cursor walk each, not one lookup per node.
 * audit_tree_read answers as audit_tree_get. The reader borrows txn.
 * Errors: CID_ERR_NOMEM; audit_tree_read: those of audit_tree_get.
 */
#define AUDIT_TREE_RUN 1024
struct audit_tree_reader;
CID_MUST_CHECK enum cid_err audit_tree_reader_new(struct cid_txn *txn,
						  struct audit_tree_reader **out);
void audit_tree_reader_free(struct audit_tree_reader *r);
CID_MUST_CHECK enum cid_err audit_tree_read(struct audit_tree_reader *r, unsigned level,
					    uint64_t index, uint8_t out[CID_MERKLE_HASH]);

/*
 * The tree head of the first size entries from the stored tree.
 * Errors: CID_ERR_TOOEARLY (the tree has not reached size: it lags), CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err audit_tree_root(struct cid_txn *txn, uint64_t size,
					    uint8_t root[CID_MERKLE_HASH]);

/* ---- checkpoints and keys (audit_checkpoint.c, audit_keys.c; rotation: audit_rotate.c) ---- */

/*
 * Signs with signers (each a key named the origin) and stores in txn (a
 * write transaction) a checkpoint of txn's head, keeping a signed-note
 * checkpoint already stored for that head: it commits, or not, with the
 * caller's writes. *size: the number of entries it covers.
 * Errors: CID_ERR_NOTFOUND (empty log), CID_ERR_TOOEARLY (the tree lags),
 * CID_ERR_INVALID (now), CID_ERR_CRYPTO, CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err audit_checkpoint_sign_txn(struct cid_txn *txn, int64_t now,
						      const struct cid_note_signer *const *signers,
						      size_t n, uint64_t *size);

/*
 * audit_checkpoint_sign_txn with the active audit key, made first if the
 * store has none (CID_ERR_CONFIG: no issuer recorded).
 */
CID_MUST_CHECK enum cid_err audit_checkpoint_txn(struct cid_txn *txn, int64_t now, uint64_t *size);

/* The newest signed-note checkpoint's size (0: none) and note (new string; may be NULL). */
CID_MUST_CHECK enum cid_err audit_newest_note(struct cid_txn *txn, uint64_t *size, char **note);

/* The origin of issuer iss: "https://h/p" -> "h/p/audit". Errors: CID_ERR_CONFIG. */
CID_MUST_CHECK enum cid_err audit_origin_of(const char *iss, char out[CID_NOTE_MAX_NAME + 1]);

/* META "audit_keys" (audit_keys.c), checked in shape. Errors: NOTFOUND, STORE. */
CID_MUST_CHECK enum cid_err audit_keys_get(struct cid_txn *txn, json_t **out);

/* The same, made now from the issuer when there is none. Errors: also CONFIG, CRYPTO. */
CID_MUST_CHECK enum cid_err audit_keys_ensure(struct cid_txn *txn, int64_t now, json_t **out);

/* The member of the active key of a key record (borrowed), NULL if none is active. */
const json_t *audit_key_active(const json_t *rec);

/*
 * A new key member, {"vkey", "seed", "created_at"} of a fresh key named
 * origin, into *out; its vkey into *vkey (may be NULL; a new string).
 * Errors: CID_ERR_CRYPTO, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err audit_key_new(const char *origin, int64_t now, json_t **out,
					  char **vkey);

/* The signer of a key member, named origin. Errors: CID_ERR_STORE, CRYPTO, NOMEM. */
CID_MUST_CHECK enum cid_err audit_key_signer(const char *origin, const json_t *key,
					     struct cid_note_signer **out);

/* What a verifier trusts: the log's vkeys (one origin) and witnesses' cosignature vkeys. */
struct cid_audit_trust {
	char origin[CID_NOTE_MAX_NAME + 1]; /* the log keys' name; "" until one is added */
	size_t n;
	struct cid_note_verifier *v[CID_AUDIT_MAX_TRUST];
};

/* The newest cosignature of a trusted witness on a checkpoint. */
struct audit_cosigned {
	uint64_t time;	  /* its timestamp; 0: no trusted witness cosigned */
	const char *name; /* the witness's key name (borrowed from the trust set) */
};

/*
 * Parses msg as a signed checkpoint note (*note and *cp borrow msg) and
 * checks it against t: the origin is t's, a trusted log key signed it;
 * *cosigned tells the newest valid cosignature of a trusted witness.
 * Errors: CID_ERR_INVALID (not a signed checkpoint), CID_ERR_DENIED
 * (another origin, or no valid signature of a trusted log key),
 * CID_ERR_NOMEM, CID_ERR_CRYPTO.
 */
CID_MUST_CHECK enum cid_err audit_note_check(const struct cid_audit_trust *t, struct cid_str msg,
					     struct cid_note *note, struct cid_checkpoint *cp,
					     struct audit_cosigned *cosigned);

/* ---- verification (audit_verify.c, audit_verify_export.c) ---- */

/* What a walk over the entries has found so far. */
struct audit_verify {
	struct cid_audit_report *rep;
	const char *expected_iss;	     /* legacy checkpoints' iss; NULL: none given */
	const struct cid_keyset *ks;	     /* legacy checkpoints' keys; may be NULL */
	const struct cid_audit_trust *trust; /* signed notes' keys; may be NULL */
	bool store;			     /* the store's walk (else an export's) */
	uint64_t next;			     /* the seq expected next */
	char prev[CID_AUDIT_HASH_HEX];	     /* hash of entry next-1 */
	struct cid_merkle_frontier tree;     /* the tree of entries 0..next-1 */
	char *scratch;			     /* re-serialised entry, for the canonical check */
	size_t scratch_cap;
	/* the store's own tree: checked node by node up to its frontier */
	struct cid_txn *txn;
	struct audit_tree_reader *nodes; /* txn's nodes, read in runs */
	uint64_t stored_size;
	uint8_t stored_root[CID_MERKLE_HASH];
	/* a witness checkpoint */
	bool witness;
	uint64_t witness_size;
	uint8_t witness_root[CID_MERKLE_HASH];
	struct audit_cosigned witness_cosig;
};

/* What audit_entry_scan found in an entry it accepts (prev points into the entry). */
struct audit_scan {
	uint64_t seq;
	const char *prev;
	size_t prev_len;
	bool has_seq;
	bool has_prev;
};

/*
 * True only if [p, p+n) is certainly an entry in canonical form
 * (audit_scan.c): an object in the plain subset the scan knows, with an
 * integer seq >= 0 and a string prev without escapes, into *out. False says
 * nothing: the entry is checked with jansson.
 */
bool audit_entry_scan(const char *p, size_t n, struct audit_scan *out);

/* Records bad seq with a reason unless a smaller one is already recorded. */
void audit_report_bad(struct cid_audit_report *rep, uint64_t seq, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Starts a walk: *rep reset to ok, v set from opts, the witness checkpoint
 * parsed and checked. Errors: CID_ERR_DENIED (a witness checkpoint no
 * trusted log key signed, or not a checkpoint), CID_ERR_REFUSED (one no
 * trusted witness cosigned), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err audit_verify_begin(struct audit_verify *v, struct cid_audit_report *rep,
					       const struct cid_audit_verify_opts *opts);

/*
 * Checks that [p, p+n) is entry v->next (canonical, linked to v->prev),
 * adds its leaf to v->tree and advances v; *good false after reporting
 * damage. Errors: CID_ERR_NOMEM, CID_ERR_CRYPTO.
 */
CID_MUST_CHECK enum cid_err audit_verify_entry(struct audit_verify *v, const char *p, size_t n,
					       bool *good);

/*
 * What the walk can know of an entry without the entries before it, so that
 * it is found for many entries at once, on other threads (audit_entry_pre),
 * and the walk (audit_verify_entry_pre) only links them in order.
 */
struct audit_entry_pre {
	uint64_t seq;		       /* its seq, when scanned */
	uint8_t leaf[CID_MERKLE_HASH]; /* its hash, when hashed */
	bool scanned; /* audit_entry_scan accepted it (false: the walk parses it) */
	bool hashed;  /* leaf holds its hash (false: the walk hashes it) */
	bool chained; /* its prev is the hash of the entry given as the one before */
};

/*
 * Fills *pre for the entry [p, p+n): the scan, and when the scan accepts it
 * its hash (also as hex into hex) and whether its prev is prev (the hex hash
 * of the entry before it; NULL: not known, chained false). Never fails: what
 * it cannot find is left to the walk.
 */
void audit_entry_pre(const char *p, size_t n, const char *prev, struct audit_entry_pre *pre,
		     char hex[CID_AUDIT_HASH_HEX]);

/*
 * audit_verify_entry with what audit_entry_pre found of [p, p+n) (borrowed):
 * an entry not chained has its prev compared with v->prev here.
 */
CID_MUST_CHECK enum cid_err audit_verify_entry_pre(struct audit_verify *v, const char *p, size_t n,
						   const struct audit_entry_pre *pre, bool *good);

/*
 * The batches of a walk (audit_verify_crew.c): the walk gathers entries
 * into a batch (audit_batches_slot, then audit_batches_add), helper threads
 * find what each shows on its own (audit_entry_pre, and with text whether
 * it is UTF-8) while the walk's link function is called on the batch
 * before, in order, on the caller's thread. A batch's bytes must stay
 * valid until the batch after the next is gathered.
 */
#define AUDIT_WALK_BATCH   ((size_t)2048)
#define AUDIT_WALK_THREADS 4 /* at most, the caller's included */

/* An entry (or line) of a batch: its bytes, what it shows on its own, the walk's notes. */
struct audit_walk_item {
	struct audit_entry_pre pre; /* written by whichever thread prepares it */
	const char *p;
	size_t n;
	uint64_t seq; /* the store's key, when it parsed (seq_ok) */
	bool seq_ok;
	bool skip; /* not an entry (an export's checkpoint line): pre left zero */
	bool text; /* valid UTF-8, or not checked (the batches' text false) */
};

/* Links one item, in order: CID_OK, AUDIT_STOP (damage reported), or an error. */
typedef enum cid_err audit_link_fn(void *arg, const struct audit_walk_item *it);

struct audit_walk_crew;

struct audit_batches {
	struct audit_walk_item *buf[2]; /* AUDIT_WALK_BATCH each: one gathered, one prepared */
	size_t n[2];
	unsigned gather; /* the buffer being gathered; its items point into the walk's bytes */
	bool text;
	audit_link_fn *link;
	void *arg;
	struct audit_walk_crew *crew;
};

/*
 * Starts *b: threads in all (0: the cores, at most AUDIT_WALK_THREADS; the
 * caller's included, so 1 starts no helper), text to check each item as
 * UTF-8, link called with arg. Errors: CID_ERR_NOMEM; then *b holds nothing.
 */
CID_MUST_CHECK enum cid_err audit_batches_start(struct audit_batches *b, unsigned threads,
						bool text, audit_link_fn *link, void *arg);

/* The next item of the batch gathered, zeroed, to fill in; audit_batches_add adds it. */
struct audit_walk_item *audit_batches_slot(struct audit_batches *b);

/* Adds the slot filled in; a full batch is flushed. Errors: those of the link function. */
CID_MUST_CHECK enum cid_err audit_batches_add(struct audit_batches *b);

/*
 * Links the batch prepared meanwhile, in order, and hands the one gathered
 * out; the one linked is gathered next (b->gather changes). Errors: those of
 * the link function (AUDIT_STOP included), after which nothing more is linked.
 */
CID_MUST_CHECK enum cid_err audit_batches_flush(struct audit_batches *b);

/* Links every item gathered, the last batch included. Errors: those of the link function. */
CID_MUST_CHECK enum cid_err audit_batches_finish(struct audit_batches *b);

/* Waits for the helpers, stops them, frees *b's own memory; *b may hold nothing. */
void audit_batches_stop(struct audit_batches *b);

/*
 * Checks a checkpoint found after v->next entries: a legacy JWS (jws true) or
 * a signed note. *good false after reporting damage. Errors: CID_ERR_NOMEM,
 * CID_ERR_CRYPTO.
 */
CID_MUST_CHECK enum cid_err audit_verify_checkpoint(struct audit_verify *v, bool jws,
						    const char *text, size_t len, bool *good);

/*
 * What v knows once v->next entries were read: at the stored frontier's size
 * and the witness checkpoint's, the tree compared with theirs (damage reported).
 */
void audit_verify_at_size(struct audit_verify *v);

/*
 * *yes if jws is a legacy checkpoint whose signature verifies with ks and
 * that covers size entries. Errors: CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err audit_jws_covers(const struct cid_keyset *ks, const char *jws,
					     size_t len, uint64_t size, bool *yes);

/* Ends a walk: the witness checkpoint's verdict and the unsigned-tail rule. Frees v. */
void audit_verify_end(struct audit_verify *v, bool accept_tail);

/* Both NULL, or both strings and equal. */
bool audit_same_str(const char *a, const char *b);

/* Sorts an array of strings and drops repeats, in place. Errors: CID_ERR_NOMEM. */
CID_MUST_CHECK enum cid_err audit_sorted_set(json_t *arr);

#endif
