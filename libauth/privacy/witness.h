/*
 * witness: the rule of a transparency-log witness (c2sp.org/tlog-witness),
 * independent of HTTP. A third party (a prefecture, a neighbouring city, a
 * privacy officer's PC) runs one, in its own store with its own key, to stop
 * a log from showing different histories over time: for each log origin it
 * remembers the last checkpoint it cosigned, and cosigns a new one only when
 * a consistency proof shows the new tree extends it. A rollback, a cut tail
 * or a fork (two trees of one size) cannot get a cosignature, and a verifier
 * holding a cosigned checkpoint can tell a restored backup from the log.
 *
 * State, in the store's CID_DB_WITNESS: "self" is the witness's name and
 * Ed25519 cosigning key (type 0x04, the private seed in clear, as the
 * server's signing keys are: the store directory is 0700); "log\n" ORIGIN
 * is {"keys": [log vkeys], "size", "root" (base64), "time" (of the last
 * cosignature), "checkpoint" (the note last cosigned, with our line)}.
 * Each request's check-and-record runs in one LMDB write transaction, so
 * concurrent requests (threads or processes) are serialised and a smaller
 * checkpoint can never overwrite a larger one (tlog-witness's race).
 *
 * The witness's own key is parsed once at cid_witness_open; a log's vkeys
 * are parsed per request (a raw 32-byte import, no decoder), so a log added
 * by `civicid witness add-log` is honoured by a running witness at once.
 */
#ifndef CID_WITNESS_H
#define CID_WITNESS_H

#include "err.h"
#include "store.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct cid_witness;

/*
 * Makes the witness of the store: a new Ed25519 cosigning key named name
 * (a key name: no spaces, no '+'; a schema-less URL is usual) made at now.
 * *vkey receives its verifier key (caller frees), what logs and verifiers
 * are given to trust it.
 * Errors: CID_ERR_EXISTS (the store already has a witness key),
 * CID_ERR_INVALID (name), CID_ERR_STORE, CID_ERR_CRYPTO, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_witness_init(struct cid_store *store, const char *name, int64_t now,
					     char **vkey);

/*
 * Opens the witness of the store (store borrowed: it must outlive *out),
 * parsing its key once. *out is freed with cid_witness_free(); it may be
 * shared by threads.
 * Errors: CID_ERR_NOTFOUND (no cid_witness_init yet), CID_ERR_STORE (a
 * damaged record), CID_ERR_CRYPTO, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_witness_open(struct cid_store *store, struct cid_witness **out);

void cid_witness_free(struct cid_witness *w);

/* The witness's verifier key (borrowed while w lives). */
const char *cid_witness_vkey(const struct cid_witness *w);

/*
 * Trusts vkey (an Ed25519 note key, type 0x01) for checkpoints of origin,
 * adding origin if new (recorded size 0). A log may have up to
 * CID_WITNESS_MAX_KEYS keys (a key rotation signs with old and new).
 * Errors: CID_ERR_INVALID (origin empty, over CID_NOTE_MAX_NAME, not one
 * line of UTF-8 text; vkey not an Ed25519 note vkey), CID_ERR_EXISTS (the
 * key is already trusted for origin), CID_ERR_TOOBIG (too many keys),
 * CID_ERR_STORE, CID_ERR_NOMEM, CID_ERR_CRYPTO.
 */
CID_MUST_CHECK enum cid_err cid_witness_add_log(struct cid_store *store, const char *origin,
						const char *vkey);

/*
 * The witness's state as a new JSON object (caller decrefs): {"name", "vkey",
 * "logs": [{"origin", "keys", "size", "root", "time", "checkpoint",
 * "refused"}]}: "time" and "checkpoint" are absent until the first
 * cosignature; "refused" is {"verdict", "time", "checkpoint"} of the last
 * log-signed checkpoint refused as a rollback, fork or inconsistent.
 * Errors: CID_ERR_NOTFOUND (no witness key), CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_witness_state(struct cid_store *store, json_t **out);

/* What the witness made of an add-checkpoint request. */
enum cid_witness_verdict {
	CID_WITNESS_COSIGNED,	    /* consistent: recorded and cosigned (200) */
	CID_WITNESS_MALFORMED,	    /* not an add-checkpoint body, or old size > size (400) */
	CID_WITNESS_UNKNOWN_ORIGIN, /* no log of that origin is configured (404) */
	CID_WITNESS_BAD_SIGNATURE,  /* no valid signature of a trusted log key (403) */
	CID_WITNESS_CONFLICT,	    /* old size is not the recorded size (409) */
	CID_WITNESS_ROLLBACK,	    /* smaller than the recorded tree: truncated or rolled back */
	CID_WITNESS_FORK,	    /* same size as the recorded tree, another root (422) */
	CID_WITNESS_INCONSISTENT,   /* the proof does not show the tree extends the recorded one */
};

struct cid_witness_result {
	enum cid_witness_verdict verdict;
	/* the HTTP status c2sp.org/tlog-witness gives the verdict (a ROLLBACK gets 409 with
	 * the recorded size, or 400 when its old size is above its size as well) */
	int status;
	const char *content_type; /* static: "text/plain; charset=utf-8" or "text/x.tlog.size" */
	uint64_t size;		  /* the checkpoint's size (0 if unparsed) */
	uint64_t recorded;	  /* the size the witness had recorded for the origin */
	char *body;		  /* the answer: the cosignature line on 200, "<recorded>\n" on
				     409, else a line saying why; free with cid_witness_result_clear */
};

/*
 * Handles one add-checkpoint request body [body, body+len) at time now (the
 * cosignature's timestamp; never below the origin's last one): parses "old
 * N", the consistency proof lines, a blank line and the signed checkpoint;
 * checks the origin, the log's signature, the sizes against the recorded
 * one, and the proof; on success records the checkpoint and returns the
 * witness's cosignature line in out->body. The order of checks is the
 * spec's: 400, 404, 403, 400, 409, 422.
 * Every verdict is CID_OK with *out filled (clear it with
 * cid_witness_result_clear); errors are only the store's and the machine's:
 * CID_ERR_STORE, CID_ERR_CRYPTO, CID_ERR_NOMEM (then *out is empty).
 * Thread-safe.
 */
CID_MUST_CHECK enum cid_err cid_witness_add_checkpoint(struct cid_witness *w, const char *body,
						       size_t len, int64_t now,
						       struct cid_witness_result *out);

/* The verdict's name: "cosigned", "malformed", "unknown_origin", ... (static). */
const char *cid_witness_verdict_name(enum cid_witness_verdict v);

/* Frees out->body; out is empty afterwards. */
void cid_witness_result_clear(struct cid_witness_result *out);

#endif
