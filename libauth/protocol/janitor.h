/*
 * janitor: deletes the records the store no longer needs (Ory Hydra's
 * `hydra janitor`, Keycloak's expiry of sessions), so that spent codes,
 * rotated refresh tokens and ended sessions neither grow the store without
 * end nor keep a citizen's account id past their use (storage limitation).
 *
 * What is dead is each database's owner's rule, not the janitor's: it only
 * runs them in turn (token.h cid_code_sweep and the rest, session.h,
 * officer.h, oidc.h, throttle.h), each through cid_store_sweep, so no write
 * transaction deletes more than CID_SWEEP_BATCH records. Nothing is deleted
 * while it can still be used or is still needed to refuse something (a
 * rotated refresh token for reuse detection, its grant for as long as its
 * access tokens can be valid); the graces are in the owners' headers. The
 * grants go last, after the tokens that name them.
 *
 * It writes nothing to the audit log: the records it deletes were never
 * released to anyone, and a count names no one. `civicid serve` runs it at
 * start and every CID_JANITOR_INTERVAL seconds; `civicid audit sweep` once. Thread-safe,
 * and safe beside a running server (LMDB serialises the writers).
 */
#ifndef CID_JANITOR_H
#define CID_JANITOR_H

#include "err.h"
#include "store.h"

#include <stddef.h>
#include <stdint.h>

/* What the janitor sweeps, in the order it does, one database each. */
enum cid_janitor_part {
	CID_JANITOR_CODES,	      /* CID_DB_CODES */
	CID_JANITOR_REFRESH,	      /* CID_DB_REFRESH */
	CID_JANITOR_REVOKED,	      /* CID_DB_REVOKED */
	CID_JANITOR_AUTHREQS,	      /* CID_DB_AUTHREQS */
	CID_JANITOR_SESSIONS,	      /* CID_DB_SESSIONS, with CID_DB_SESSION_INDEX */
	CID_JANITOR_OFFICER_SESSIONS, /* CID_DB_OFFICER_SESSIONS */
	CID_JANITOR_THROTTLE,	      /* CID_DB_THROTTLE */
	CID_JANITOR_GRANTS,	      /* CID_DB_GRANTS, with CID_DB_GRANT_INDEX */
	CID_JANITOR_PARTS
};

/* How many records one run deleted, by part. */
struct cid_janitor_counts {
	size_t removed[CID_JANITOR_PARTS];
};

/*
 * The name of part as `civicid audit sweep` prints it (the store's name of
 * its database: "codes", "refresh", ...); "" out of range. Static.
 */
const char *cid_janitor_name(enum cid_janitor_part part);

/*
 * Frees the reader slots of processes that died reading the store
 * (cid_store_reader_check), then sweeps every part at now, in order. A part that fails does not
 * stop the others; its count is what it deleted before failing. *out (may be NULL) gets the counts.
 * Idempotent: a second run at the same now deletes nothing. Errors: the first part's error
 * (CID_ERR_STORE, CID_ERR_NOMEM).
 */
CID_MUST_CHECK enum cid_err cid_janitor_run(struct cid_store *s, int64_t now,
					    struct cid_janitor_counts *out);

#endif
