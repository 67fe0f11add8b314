/*
 * cid: the context every request runs against.
 *
 * A cid_ctx ties together the configuration (borrowed, immutable), the store,
 * the pairwise-subject salt and the current signing keyset. The keyset is an
 * immutable snapshot that can be replaced while requests run (after `civicid
 * keys rotate`): callers take a counted reference with cid_ctx_keys_acquire and
 * drop it with cid_ctx_keys_release, so a snapshot is freed only when the last
 * request using it is done. The discovery document is built once at open.
 * All functions are thread-safe.
 */
#ifndef CID_CTX_H
#define CID_CTX_H

#include "config.h"
#include "err.h"
#include "jose.h"
#include "store.h"

#include <stdint.h>

struct cid_ctx;

/*
 * Opens the store of cfg (borrowed: must outlive the context), creates the
 * signing keys and the pairwise salt on first start, loads the keyset and
 * builds the discovery document. *out is freed with cid_ctx_close.
 * Errors: those of cid_store_open, cid_keys_ensure, cid_keyset_load.
 */
CID_MUST_CHECK enum cid_err cid_ctx_open(const struct cid_config *cfg, int64_t now,
					 struct cid_ctx **out);

/* Closes the context. No request may be running. NULL is a no-op. */
void cid_ctx_close(struct cid_ctx *ctx);

/* Borrowed accessors, valid for the context's life. */
const struct cid_config *cid_ctx_config(const struct cid_ctx *ctx);
struct cid_store *cid_ctx_store(struct cid_ctx *ctx);

/* The 32-byte secret salt of pairwise subjects (OIDC Core §8.1). */
const uint8_t *cid_ctx_pairwise_salt(const struct cid_ctx *ctx);

/* The discovery document, borrowed. */
const char *cid_ctx_discovery(const struct cid_ctx *ctx, size_t *len);

/* A counted reference to a keyset snapshot. */
struct cid_keyref;

/* Takes a reference to the current keyset; never NULL. Drop it with cid_keyref_put. */
struct cid_keyref *cid_ctx_keys_acquire(struct cid_ctx *ctx);

/* The keyset of a reference, borrowed while the reference is held. */
const struct cid_keyset *cid_keyref_keyset(const struct cid_keyref *r);

/* Drops a reference; the last one frees the snapshot. NULL is a no-op. */
void cid_keyref_put(struct cid_keyref *r);

/*
 * Reloads the keyset if the store's keys_version changed, or if a retired key
 * passed its drop time (pass the current time). Cheap when nothing changed:
 * one read. Errors: those of cid_keyset_load (the old keyset stays in force).
 */
CID_MUST_CHECK enum cid_err cid_ctx_keys_refresh(struct cid_ctx *ctx, int64_t now);

#endif
