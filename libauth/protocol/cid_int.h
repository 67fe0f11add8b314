/*
 * cid_int: what the context's two files share (cid.c, cid_open.c): the
 * context itself and its counted snapshots. Not part of the API.
 */
#ifndef CID_CTX_INT_H
#define CID_CTX_INT_H

#include "audit.h"
#include "cid.h"
#include "tz.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

/*
 * One counted snapshot, of the keyset or of the policyset in force: the
 * context's slot for it is read and swapped under the context's lock, and
 * whoever drops the last reference frees it. The two public handle types wrap
 * this one struct, so keys and policies share one reference-counting protocol.
 */
struct snapshot {
	atomic_int refs;
	void *obj; /* the struct cid_keyset or cid_policyset */
	void (*obj_free)(void *obj);
	void (*done)(struct snapshot *snap); /* NULL, or what the wrapper frees of its own */
};

struct cid_keyref {
	struct snapshot snap;
	_Atomic(struct cid_memo *) memo; /* cid_keyref_memo's, made on first use */
};

struct cid_policyref {
	struct snapshot snap;
};

struct cid_ctx {
	const struct cid_config *cfg;
	struct cid_store *store;
	uint8_t salt[32];
	char *discovery;
	size_t discovery_len;
	pthread_mutex_t lock;  /* guards keys, next_drop, next_activate, policies, reload_seen */
	struct snapshot *keys; /* that of a struct cid_keyref */
	int64_t next_drop;     /* earliest drop_after among loaded retired keys (0: none) */
	int64_t next_activate; /* earliest activate_at among loaded next keys (0: none) */
	struct snapshot *policies; /* that of a struct cid_policyref */
	uint64_t reload_seen;	   /* the policy_reload counter last acted on */
	cid_audit_hook audit;
	void *audit_arg;
	struct cid_audit *audit_log; /* owned; what the default hook appends to */
	struct cid_tz *tz;	     /* owned; the pages' time zone (never NULL once open) */
	struct cid_fetch_cache *fetch_cache; /* owned; upstream documents (cid_ctx_fetch_cache) */
	/* requests calling upstreams now (cid_ctx_upstream_enter), when cfg shares no count */
	atomic_uint upstream_calls;
	unsigned char *logo; /* owned; the city's logo, or NULL */
	size_t logo_len;
	const char *logo_type; /* static; its media type */
};

/* Drops a reference to snap; the last frees the object and the snapshot. NULL is a no-op. */
void ctx_snapshot_put(struct snapshot *snap);

/*
 * A new snapshot of the policies of dir, with one reference, into *out,
 * checked for the config's controller_type (policy_law.h).
 * Errors: those of cid_policyset_load_dir_law, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err ctx_policies_load(const char *dir, const char *controller_type,
					      FILE *errors, struct snapshot **out);

#endif
