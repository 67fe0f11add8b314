/*
 * store: the LMDB environment and its named databases.
 *
 * One environment per store directory, shared by the server and the CLI (LMDB
 * allows several processes). Values are UTF-8 JSON objects (jansson) so an
 * operator can read them with mdb_dump; keys are short byte strings.
 *
 * Read transactions are reused per thread: each thread keeps one MDB_txn in a
 * pthread key owned by the store and resets/renews it instead of beginning a
 * new one (MDB_NOTLS is set so this is legal). Writes go through
 * cid_store_update(), which runs a callback in a write transaction and, when the
 * map is full, doubles the map size (up to CID_STORE_MAP_MAX) and runs the
 * callback again. A rwlock held shared by every open transaction of this process
 * lets the resize wait until none is open, as mdb_env_set_mapsize requires.
 *
 * Opaque secrets are never stored: modules store cid_secret_hash() of them as
 * keys. The one exception is a citizen's TOTP seed (account.h), a shared secret
 * the server needs in clear; the directory is 0700 and the files 0600.
 */
#ifndef CID_STORE_H
#define CID_STORE_H

#include "err.h"
#include "memo.h"
#include "str.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Reader slots of an environment (LMDB's default is 126). Each thread that
 * reads keeps its read transaction, and so its slot, until it ends: the
 * server's HTTP threads (at most 256), login threads (at most 64), its own
 * few, and CLI processes beside it must all fit, or a read past the 126th
 * fails with MDB_READERS_FULL.
 */
#define CID_STORE_MAX_READERS 512

enum cid_db {
	CID_DB_META,	   /* "schema" -> {"version":N}; "pairwise_salt"; "keys_version" */
	CID_DB_CITIZENS,   /* account id (UUID) -> citizen record */
	CID_DB_USERNAMES,  /* username -> {"id": account id} */
	CID_DB_CLIENTS,	   /* client_id -> client record */
	CID_DB_SESSIONS,   /* secret_hash(cookie) -> SSO session */
	CID_DB_AUTHREQS,   /* pending authorization request id -> validated request */
	CID_DB_CODES,	   /* secret_hash(code) -> authorization code record */
	CID_DB_REFRESH,	   /* secret_hash(refresh token) -> refresh token record */
	CID_DB_GRANTS,	   /* grant id -> grant (one per authorization, the token family) */
	CID_DB_REVOKED,	   /* access-token jti -> {"exp": N} */
	CID_DB_KEYS,	   /* kid -> signing key (private PEM, state, times) */
	CID_DB_THROTTLE,   /* "acct:<id>" / "addr:<ip>" -> failure counter */
	CID_DB_PAIRWISE,   /* sector "\n" pairwise sub -> {"id": account id} */
	CID_DB_CONSENTS,   /* account "\n" service "\n" purpose "\n" attribute "\n" seq -> record
			      (consent.h); META "consent_seq" */
	CID_DB_AUDIT,	   /* seq (16 hex digits) -> audit entry (audit.h); META "audit_head" */
	CID_DB_AUDIT_IDX,  /* "c\n" citizen / "s\n" service "\n" seq -> "" (audit.h) */
	CID_DB_AUDIT_CP,   /* size (16 hex digits) -> {"note"} or {"jws"} checkpoint (audit.h) */
	CID_DB_AUDIT_TREE, /* post-order place (8 bytes BE) -> Merkle node (32 bytes) (audit_tree.c)
			    */
	CID_DB_OFFICERS,   /* officer name -> privacy-officer account (officer.h) */
	CID_DB_OFFICER_SESSIONS, /* secret_hash(cookie) -> officer console session */
	CID_DB_WITNESS,	     /* "self" / "log\n" origin -> a witness's key and logs (witness.h) */
	CID_DB_LOGOUT_QUEUE, /* due time (16 hex digits) "\n" id -> back-channel logout notice
				(logout.h) */
	CID_DB_LOGINS,	     /* account id -> {"logins": [the latest login attempts]} (logins.h) */
	CID_DB_POLICIES,     /* policy version (hex SHA-256 of the file) -> the file's text and
				where it came from, every version ever loaded (policy_archive.h) */
	CID_DB_IDPS,	     /* upstream identity provider name -> its registration (idp.h) */
	CID_DB_IDP_LINKS,    /* upstream issuer "\n" sub -> {"account", "linked_at"} (idp.h) */
	CID_DB_PSEUDONYMS,   /* "a\n" account scope -> pseudonym; "p\n" pseudonym -> scope
				(pseudonym.h) */
	CID_DB_GRANT_INDEX,  /* account id "\n" client_id "\n" grant id -> "": one key per grant
				of CID_DB_GRANTS, written with it (token.h) */
	/* "a\n" account id "\n" session key -> ""; "s\n" sid -> session key: the two keys of
	   each session of CID_DB_SESSIONS, written and deleted with it (session.h) */
	CID_DB_SESSION_INDEX,
	/* consent record id -> the record's key in CID_DB_CONSENTS: one key per record, written
	   and deleted with it (consent.h) */
	CID_DB_CONSENT_IDS,
	/* expires_at (16 hex digits) "\n" consent record id -> the record's key in
	   CID_DB_CONSENTS: one key per grant with an expiry, in due order, written and deleted
	   with it, removed by the consent sweeper once handled (consent.h, consent_sweep.h);
	   META "consent_due" */
	CID_DB_CONSENT_DUE,
	CID_DB_COUNT
};

struct cid_store;
struct cid_txn;

/*
 * Opens (creating if needed, mode 0700) the store in directory dir, creates the
 * named databases, and checks or writes the schema version.
 * *out is freed with cid_store_close().
 * Errors: CID_ERR_IO (directory cannot be created or opened), CID_ERR_STORE
 * (LMDB error, or a schema version newer than this build: CID_ERR_CONFIG),
 * CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_store_open(const char *dir, struct cid_store **out);

/*
 * cid_store_open with flags. CID_STORE_NO_THREAD_CACHE: a thread's read
 * transaction (still one per thread, kept until close) is found in the
 * store's list by its thread rather than through a pthread key: a little
 * slower per read, but such a store takes no key, of which a process has
 * 1,024 in all. For a process that opens a store per tenant (tenant.h).
 */
#define CID_STORE_NO_THREAD_CACHE 1u
CID_MUST_CHECK enum cid_err cid_store_open_flags(const char *dir, unsigned flags,
						 struct cid_store **out);

/* Closes the environment. No transaction may be open. NULL is a no-op. */
void cid_store_close(struct cid_store *s);

/*
 * True once LMDB refused a transaction with MDB_PANIC: a commit failed while
 * writing its meta page (after its data was synced), and LMDB then fails
 * every transaction of this environment, reads included, until it is closed
 * and opened again. The store on disk is at its last durable commit. The
 * server stops when it sees this (a restart reopens the store). Thread-safe.
 */
bool cid_store_broken(const struct cid_store *s);

/*
 * True while the store is full: a write was refused (CID_ERR_STORE) because
 * the map reached its limit (CID_STORE_MAP_MAX, 4 TiB, or the one
 * cid_store_set_map_max set) and no write has committed since. Reads still
 * work; every write that needs a new page fails, a deletion too (LMDB's
 * B-tree copies a page to change it), until the limit is raised. At
 * CID_STORE_MAP_MAX the disk is full long before. The server logs it.
 * Thread-safe.
 */
bool cid_store_full(const struct cid_store *s);

/*
 * Lowers the map's limit to bytes (at least CID_STORE_MAP_INITIAL, at most
 * CID_STORE_MAP_MAX), or raises it back, for tests and small devices; a map
 * already larger is not shrunk, and grows no more. Takes the resize lock: no transaction of
 * this thread may be open. Thread-safe.
 */
void cid_store_set_map_max(struct cid_store *s, size_t bytes);

/*
 * Frees the reader slots of processes that died with a read transaction
 * open (a killed CLI command): such a slot pins the snapshot it read, so
 * LMDB reuses no page freed after it and the file grows with every commit.
 * Opening a store does it once; a server does it again from its janitor.
 * *freed (may be NULL) gets the number of slots freed.
 * Errors: CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err cid_store_reader_check(struct cid_store *s, size_t *freed);

/*
 * Begins (or renews) this thread's read transaction; end it with
 * cid_store_read_end() on the same thread before beginning another.
 * Errors: CID_ERR_STORE, CID_ERR_NOMEM (a thread's first transaction
 * could not be allocated: any function that reads the store may pass
 * this on, whether or not its own list names it).
 */
CID_MUST_CHECK enum cid_err cid_store_read_begin(struct cid_store *s, struct cid_txn **out);

/* Resets the thread's read transaction for reuse. NULL is a no-op. */
void cid_store_read_end(struct cid_txn *txn);

/*
 * Runs fn(txn, arg) in a write transaction. If fn returns CID_OK the
 * transaction is committed (durably: no MDB_NOSYNC) and cid_store_update
 * returns CID_OK; otherwise it is aborted and fn's error is returned.
 * On a full map the map is grown and fn is called again, so fn must have no
 * effect outside the transaction until it returns CID_OK (collect outputs in
 * arg and use them after). Writers are serialised by LMDB.
 * Errors: fn's error, CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err cid_store_update(struct cid_store *s,
					     enum cid_err (*fn)(struct cid_txn *txn, void *arg),
					     void *arg);

/*
 * Reads the value of key. val borrows LMDB's memory: valid until the
 * transaction ends (or, in a write transaction, until the next write).
 * Errors: CID_ERR_NOTFOUND, CID_ERR_TOOBIG (key over CID_STORE_MAX_KEY), CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err cid_txn_get(struct cid_txn *txn, enum cid_db db, struct cid_str key,
					struct cid_str *val);

/*
 * Reads and parses a JSON object value. *out is a new reference: json_decref it.
 * Errors: those of cid_txn_get, CID_ERR_STORE (value is not a JSON object).
 */
CID_MUST_CHECK enum cid_err cid_txn_get_json(struct cid_txn *txn, enum cid_db db,
					     struct cid_str key, json_t **out);

/*
 * Parses a value read with cid_txn_get or cid_txn_foreach as cid_txn_get_json
 * does (a JSON object, no duplicate members). *out: new reference.
 * Errors: CID_ERR_STORE (not a JSON object: the store is damaged).
 */
CID_MUST_CHECK enum cid_err cid_store_parse_json(struct cid_str val, json_t **out);

/*
 * Members of a stored record, borrowed from o: the string member name, or
 * NULL when absent or not a string; the integer member, or 0 when absent or
 * not an integer. o may be NULL.
 */
const char *cid_json_str(const json_t *o, const char *name);
int64_t cid_json_int(const json_t *o, const char *name);

/* Flags of cid_txn_put. */
#define CID_PUT_NOOVERWRITE 1u /* fail with CID_ERR_EXISTS if the key exists */
/*
 * The key sorts after every key of db (fail with CID_ERR_EXISTS if not):
 * LMDB then splits a full last page by starting a new one, so keys written in
 * order fill their pages instead of leaving each half empty.
 */
#define CID_PUT_APPEND 2u

/*
 * Writes key -> val in a write transaction (txn from cid_store_update).
 * Errors: CID_ERR_EXISTS (with CID_PUT_NOOVERWRITE or CID_PUT_APPEND), CID_ERR_TOOBIG (key),
 * CID_ERR_INVALID (read transaction), CID_ERR_STORE (including MDB_MAP_FULL,
 * which cid_store_update handles).
 */
CID_MUST_CHECK enum cid_err cid_txn_put(struct cid_txn *txn, enum cid_db db, struct cid_str key,
					struct cid_str val, unsigned flags);

/* Serialises obj compactly (sorted keys) and writes it as cid_txn_put does. obj is borrowed. */
CID_MUST_CHECK enum cid_err cid_txn_put_json(struct cid_txn *txn, enum cid_db db,
					     struct cid_str key, const json_t *obj, unsigned flags);

/* Deletes key. Errors: CID_ERR_NOTFOUND, CID_ERR_INVALID (read txn), CID_ERR_STORE. */
CID_MUST_CHECK enum cid_err cid_txn_del(struct cid_txn *txn, enum cid_db db, struct cid_str key);

/*
 * Calls fn(key, val, arg) for each record of db in key order, starting at the
 * first key >= prefix that starts with prefix (prefix.len 0: all). Stops early
 * when fn returns anything but CID_OK and returns that. key/val are borrowed
 * for the call only.
 * Errors: fn's, CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err
cid_txn_foreach(struct cid_txn *txn, enum cid_db db, struct cid_str prefix,
		enum cid_err (*fn)(struct cid_str key, struct cid_str val, void *arg), void *arg);

/*
 * Like cid_txn_foreach over the keys that start with prefix, but beginning at
 * start and walking in either direction: forward from the first key >= start,
 * or (reverse) backward from the last key <= start. start.len 0 begins at the
 * first (or last) key with the prefix; a start outside the prefix's keys
 * simply finds none on that side. key/val are borrowed for the call only.
 * Errors: fn's, CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err cid_txn_foreach_range(
    struct cid_txn *txn, enum cid_db db, struct cid_str prefix, struct cid_str start, bool reverse,
    enum cid_err (*fn)(struct cid_str key, struct cid_str val, void *arg), void *arg);

/*
 * Counters in CID_DB_META, stored as {member: N} under key name (the member
 * name is part of the stored format: "keys_version" {"version"},
 * "policy_reload" {"counter"}, "consent_seq" {"seq"}).
 * cid_txn_counter_get reads N (0 when the key is absent); cid_txn_counter_add
 * adds add in a write transaction and writes the new value to *out (may be NULL).
 * Errors: CID_ERR_STORE (not a non-negative integer, or would pass INT64_MAX),
 * those of cid_txn_get_json / cid_txn_put_json, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_txn_counter_get(struct cid_txn *txn, const char *name,
						const char *member, uint64_t *out);
CID_MUST_CHECK enum cid_err cid_txn_counter_add(struct cid_txn *txn, const char *name,
						const char *member, uint64_t add, uint64_t *out);

/*
 * The number of records of db into *out, in O(1) (LMDB keeps it), as txn
 * sees them (a write transaction's own writes included).
 * Errors: CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err cid_txn_count(struct cid_txn *txn, enum cid_db db, uint64_t *out);

/*
 * Deletes every record of db in a write transaction (db itself stays).
 * Errors: CID_ERR_INVALID (read transaction), CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err cid_txn_clear(struct cid_txn *txn, enum cid_db db);

/*
 * Makes index database index whole for the records of database data, in one
 * write transaction: when index does not hold exactly keys_per_record keys
 * per record (a store written before the index existed, or written since by
 * a build without it), empties it and calls fn(txn, key, val, arg) for every
 * record of data, which writes that record's keys into index (never into
 * data, which the cursor walks) and returns CID_OK, or, writing nothing:
 * CID_ERR_INVALID for a damaged record that can never be used (it is
 * deleted from data after the walk, in the same transaction, so the index
 * stays exact), or CID_ERR_STORE for a damaged record that must stop the
 * build (the transaction then writes nothing). *built (may be NULL): the
 * index keys written (keys_per_record per record indexed), 0 when the index
 * was whole. Runs once, as a marker would, and also mends a store an older
 * build wrote to after the upgrade.
 * Errors: fn's (but CID_ERR_INVALID), CID_ERR_INVALID (s or fn NULL, data
 * is index, keys_per_record 0), CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_store_index_ensure(
    struct cid_store *s, enum cid_db data, enum cid_db index, size_t keys_per_record,
    enum cid_err (*fn)(struct cid_txn *txn, struct cid_str key, struct cid_str val, void *arg),
    void *arg, size_t *built);

/*
 * The dead records of one database, as cid_store_sweep removes them. dead
 * says whether the record key -> val may go at now (the rule of the module
 * that writes db, which alone knows when its records stop being needed); del
 * deletes it in txn with whatever is written with it (index keys), or, when
 * NULL, cid_txn_del deletes the key; a del may instead rewrite the record so
 * that dead no longer holds (a one-time stamp of records from an older
 * civicid, token_sweep.c). key and val are borrowed for the call.
 */
struct cid_store_sweep {
	enum cid_db db;
	bool (*dead)(struct cid_str key, struct cid_str val, int64_t now);
	enum cid_err (*del)(struct cid_txn *txn, struct cid_str key, struct cid_str val,
			    int64_t now);
};

/*
 * Deletes the records of sw->db that sw->dead calls dead at now, at most
 * batch per write transaction: a read transaction finds up to batch of them
 * (walking on from where the last walk stopped), then one write transaction
 * asks dead again of each as it now stands (a record changed meanwhile may
 * stay) and deletes it; until a walk reaches the end. The writer is held for
 * batch lookups and deletions, never for a walk, so a large backlog goes in
 * many short transactions between the server's writes. Idempotent: a second
 * run at the same now deletes nothing. *removed (may be NULL): how many went,
 * also after an error (those of the batches committed before it).
 * Errors: CID_ERR_INVALID (batch 0 or over CID_SWEEP_BATCH, sw or sw->dead
 * NULL), sw->del's, CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_store_sweep(struct cid_store *s, const struct cid_store_sweep *sw,
					    int64_t now, size_t batch, size_t *removed);

/*
 * The rule most sweeps need: true when the record val is a JSON object whose
 * integer member (an expiry, seconds since the epoch), plus grace, is at most
 * now. A record that does not parse, or lacks the member, is not dead: damage
 * is kept for an operator to see.
 */
bool cid_store_record_past(struct cid_str val, const char *member, int64_t grace, int64_t now);

/* The store txn belongs to. */
struct cid_store *cid_txn_store(const struct cid_txn *txn);

/*
 * The memo of db's parsed records (memo.h), made on first call with kind and
 * CID_STORE_MEMO_ENTRIES entries, for the one module that parses db's records
 * into objects of that kind: a record read again with the same bytes is not
 * parsed again. NULL when it cannot be made, or db's memo holds another kind:
 * the caller then parses every time. Borrowed, valid until the store closes.
 * Thread-safe.
 */
struct cid_memo *cid_store_memo(struct cid_store *s, enum cid_db db,
				const struct cid_memo_kind *kind);

/* Number of bytes of the current map (for tests and `civicid` diagnostics). */
size_t cid_store_map_size(const struct cid_store *s);

#endif
