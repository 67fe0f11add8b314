/*
 * memo: objects made from bytes, kept beside the bytes they were made from.
 *
 * Parsing a stored record's JSON, or checking a token's signature, costs more
 * than everything else a request does with it. A memo remembers, under a key,
 * the bytes something was made from and the object made; whoever holds the
 * key's bytes again, equal to the remembered ones byte for byte, gets that
 * object instead of making it anew. The object must be a function of the
 * bytes alone (a parse, a verification against one fixed keyset), so a memo
 * never answers what making the object would not: a record that changed has
 * other bytes and is made afresh, whoever changed it (this process or the
 * CLI). Nothing has to invalidate a memo, and nothing in it can go stale.
 *
 * A memo is bounded: a fixed table of sets of a few entries each, no entry
 * holding more than CID_MEMO_MAX_BYTES of key and bytes; a set that is full
 * gives up the entry used least recently. Objects are shared and immutable,
 * counted by their kind: the memo takes a reference for each entry and one
 * for each hit, and drops its own when the entry goes.
 * Thread-safe: one mutex per set, held only to compare and copy pointers.
 */
#ifndef CID_MEMO_H
#define CID_MEMO_H

#include "err.h"
#include "str.h"

#include <stddef.h>

/* Key and bytes of one entry together, at most; larger ones are not kept. */
#define CID_MEMO_MAX_BYTES ((size_t)8192)

/* How a memo holds objects of one kind: ref takes a reference, unref drops one. */
struct cid_memo_kind {
	void (*ref)(void *obj);
	void (*unref)(void *obj);
};

struct cid_memo;

/*
 * A new memo of at least entries entries (rounded up to whole sets; at least
 * one set) for objects of kind (borrowed: it must outlive the memo, as a
 * static const does). *out is freed with cid_memo_free.
 * Errors: CID_ERR_INVALID (no kind, or entries 0), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_memo_new(size_t entries, const struct cid_memo_kind *kind,
					 struct cid_memo **out);

/* Drops every entry's reference and frees m. No call on m may be running. NULL is a no-op. */
void cid_memo_free(struct cid_memo *m);

/*
 * The object remembered under key for exactly these bytes, with a new
 * reference the caller drops as the kind does; NULL when there is none (the
 * caller makes it, and may cid_memo_put it). m may be NULL (nothing is
 * remembered).
 */
void *cid_memo_get(struct cid_memo *m, struct cid_str key, struct cid_str bytes);

/*
 * Remembers obj (borrowed: the memo takes its own reference) as what was made
 * from bytes under key, in place of what key had. Does nothing when m is NULL,
 * key and bytes together exceed CID_MEMO_MAX_BYTES, or memory runs out: a
 * memo only saves work.
 */
void cid_memo_put(struct cid_memo *m, struct cid_str key, struct cid_str bytes, void *obj);

/* The kind m was made for. */
const struct cid_memo_kind *cid_memo_kind_of(const struct cid_memo *m);

/* Entries held now (for tests and diagnostics). */
size_t cid_memo_count(struct cid_memo *m);

#endif
