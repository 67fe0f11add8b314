/*
 * cid: the context every request runs against.
 *
 * A cid_ctx ties together the configuration (borrowed, immutable), the store,
 * the pairwise-subject salt, the current signing keyset, the current release
 * policies and the audit log with the hook that feeds it. The keyset and the policyset are
 * immutable snapshots that can be replaced while requests run (after `civicid keys rotate`,
 * `civicid policy reload` or SIGHUP): callers take a counted reference with cid_ctx_keys_acquire /
 * cid_ctx_policies_acquire and drop it with cid_keyref_put / cid_policyref_put, so a snapshot is
 * freed only when the last request using it is done, and a request sees one snapshot from start to
 * end. The discovery document is built once at open. All functions are thread-safe, except
 * cid_ctx_set_audit_hook (see there).
 */
#ifndef CID_CTX_H
#define CID_CTX_H

#include "config.h"
#include "err.h"
#include "jose.h"
#include "policy.h"
#include "release.h"
#include "store.h"
#include "tz.h"

#include <stdint.h>
#include <stdio.h>

struct cid_ctx;

/*
 * Loads the release policies of cfg->policies_dir (every error of every file
 * is written to errors as "file:line: message", errors may be NULL), opens the
 * store of cfg (borrowed: must outlive the context) and builds its grant,
 * session, consent id and consent due indexes if it lacks them
 * (cid_grant_index_ensure, cid_session_index_ensure, cid_consent_index_ensure,
 * cid_consent_due_ensure; one that cannot be
 * built stops the start, and errors is told which and why; damaged consent
 * records the due index leaves out are counted to errors), creates the signing keys
 * and the pairwise salt and records cfg's issuer as the audit log's
 * (cid_audit_issuer_record) and makes the audit key (cid_audit_key_ensure)
 * on first start, loads the keyset and builds the discovery document. When
 * the log was started under another issuer, that one stays the log's, and a
 * warning saying so goes to errors. The pages' time zone and the city's logo
 * are read too; one that cannot be read is reported to errors (then the pages
 * show UTC, or no logo), never fatal.
 * *out is freed with cid_ctx_close.
 * Errors: those of cid_policyset_load_dir (CID_ERR_CONFIG: a policy has
 * errors; CID_ERR_IO: the directory or a file is unreadable), then those of
 * cid_store_open, cid_grant_index_ensure, cid_session_index_ensure,
 * cid_consent_index_ensure, cid_consent_due_ensure, cid_audit_issuer_record,
 * cid_audit_key_ensure (CID_ERR_CONFIG: no origin can be made of the log's
 * issuer), cid_keys_ensure, cid_keyset_load,
 * cid_oidc_discovery_build (CID_ERR_TOOBIG: the issuer is too long for the
 * endpoints' URLs).
 */
CID_MUST_CHECK enum cid_err cid_ctx_open(const struct cid_config *cfg, int64_t now, FILE *errors,
					 struct cid_ctx **out);

/*
 * cid_ctx_open with flags. CID_CTX_NO_ISSUER: for a command that looks at a
 * store rather than serves it (`civicid tenant show`): the log's issuer is
 * not recorded, since only the first server started on a store may record
 * it (audit.h: cid_audit_issuer_record) and a command's issuer (the CLI's
 * default) would stay the log's for good; while none is recorded, the audit
 * key (made from it) is not made either. Errors: those of cid_ctx_open.
 */
#define CID_CTX_NO_ISSUER 1u
CID_MUST_CHECK enum cid_err cid_ctx_open_flags(const struct cid_config *cfg, int64_t now,
					       unsigned flags, FILE *errors, struct cid_ctx **out);

/* Closes the context. No request may be running. NULL is a no-op. */
void cid_ctx_close(struct cid_ctx *ctx);

struct cid_fetch_cache;

/* Borrowed accessors, valid for the context's life. */
const struct cid_config *cid_ctx_config(const struct cid_ctx *ctx);
struct cid_store *cid_ctx_store(struct cid_ctx *ctx);

/*
 * The documents of upstream identity providers (discovery, JWKS) kept
 * between logins (fetch_cache.h). Borrowed, never NULL once open; thread-safe.
 */
struct cid_fetch_cache *cid_ctx_fetch_cache(struct cid_ctx *ctx);

/*
 * Takes a place for one request's calls to upstream identity providers
 * (their documents, the token exchange), to give back with
 * cid_ctx_upstream_leave: true when taken; false at once when half the
 * login threads (config.h login_threads, at least one place) already wait
 * on upstreams, so that upstreams that hang never hold every login thread
 * and the password logins queued behind them. The login threads serve every
 * context of a server, so the places are counted across all of them when
 * the config shares a count (config.h upstream_calls: a server's tenants
 * share one, tenant.h); else per context. Thread-safe.
 */
CID_MUST_CHECK bool cid_ctx_upstream_enter(struct cid_ctx *ctx);

/* Gives back the place a true cid_ctx_upstream_enter took. */
void cid_ctx_upstream_leave(struct cid_ctx *ctx);

/*
 * The time zone of the pages (config.h: timezone), read at open; UTC when
 * the configured zone could not be read (cid_ctx_open said why). Borrowed,
 * never NULL; cid_tz_format shows a time in it.
 */
const struct cid_tz *cid_ctx_tz(const struct cid_ctx *ctx);

/*
 * The city's logo (config.h: city_logo) read at open: its bytes (borrowed,
 * *len of them) and media type into *type; NULL when none is configured or
 * it could not be read (cid_ctx_open said why).
 */
const unsigned char *cid_ctx_logo(const struct cid_ctx *ctx, size_t *len, const char **type);

/* The 32-byte secret salt of pairwise subjects (OIDC Core §8.1). */
const uint8_t *cid_ctx_pairwise_salt(const struct cid_ctx *ctx);

/* The discovery document built at open (cid_oidc_discovery_build), borrowed. */
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
 * The memo (memo.h) of what was verified with this keyset and nothing else,
 * for objects of kind (one kind per keyset: token.c's verified access
 * tokens), made on first call with CID_TOKEN_MEMO_ENTRIES entries. A new
 * keyset starts with an empty one, so nothing verified with a key no longer
 * in force is remembered. NULL when it cannot be made or holds another kind.
 * Borrowed while the reference is held. Thread-safe.
 */
struct cid_memo *cid_keyref_memo(struct cid_keyref *r, const struct cid_memo_kind *kind);

/*
 * Reloads the keyset if the store's keys_version changed, or if a retired key
 * passed its drop time (pass the current time). When a published next key's
 * activate_at has come, it first activates it (cid_keys_activate_due, on
 * the record: cid_audit_keys_change by actor "system" writes its
 * key.activated entry in the same transaction; the active key is retired for
 * the config's key_keep seconds): that is how a running server switches to a
 * key published by `keys rotate --publish-only`. Cheap when nothing changed:
 * one read. Errors: those of cid_audit_keys_change and cid_keyset_load (the
 * old keyset stays in force).
 */
CID_MUST_CHECK enum cid_err cid_ctx_keys_refresh(struct cid_ctx *ctx, int64_t now);

/* A counted reference to a policyset snapshot. */
struct cid_policyref;

/* Takes a reference to the policies in force; never NULL. Drop it with cid_policyref_put. */
struct cid_policyref *cid_ctx_policies_acquire(struct cid_ctx *ctx);

/* The policyset of a reference, borrowed while the reference is held. */
const struct cid_policyset *cid_policyref_set(const struct cid_policyref *r);

/* Drops a reference; the last one frees the snapshot. NULL is a no-op. */
void cid_policyref_put(struct cid_policyref *r);

/*
 * Reloads the policies from cfg->policies_dir when force is true (SIGHUP) or
 * when the store's policy_reload counter changed since the last look (a
 * `civicid policy reload` from any process). Cheap when nothing changed: one
 * read. On success the new snapshot replaces the old at once; requests under
 * way finish with the old. *reloaded (may be NULL) says whether a load was
 * attempted and succeeded. Every error of every file goes to errors (may be
 * NULL), and the old policies stay in force; a failed reload is not retried
 * until the counter moves again or force.
 * Errors: those of cid_policyset_load_dir, CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err cid_ctx_policies_refresh(struct cid_ctx *ctx, bool force, FILE *errors,
						     bool *reloaded);

/*
 * Asks every server on the store to reload its policies: increments META
 * "policy_reload", which servers poll (every few seconds). *counter_out (may
 * be NULL) receives the new value. Errors: CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err cid_policies_request_reload(struct cid_store *s, uint64_t *counter_out);

/* The store's policy_reload counter (0 when no reload was ever asked). Errors: CID_ERR_STORE. */
CID_MUST_CHECK enum cid_err cid_policies_reload_counter(struct cid_store *s, uint64_t *out);

/*
 * The audit hook that every release decision is handed to (release.h):
 * fn(arg, event), called synchronously before a release's answer is built.
 * By default, and after cid_ctx_set_audit_hook(ctx, NULL, NULL), it is
 * cid_audit_release_hook on the context's own log: no context releases
 * anything unaudited. Tests replace it to see the decisions. Set it before the
 * first request: the hook is read without a lock.
 */
void cid_ctx_set_audit_hook(struct cid_ctx *ctx, cid_audit_hook fn, void *arg);

/* The hook and its argument (never NULL on an open context). */
void cid_ctx_audit_hook(const struct cid_ctx *ctx, cid_audit_hook *fn, void **arg);

/*
 * The context's audit log (audit.h), opened with it (group commit unless
 * audit_group_commit = 0) and closed with it: the log releases are appended to
 * and the officer console reads and appends to. Borrowed; never NULL.
 */
struct cid_audit;
struct cid_audit *cid_ctx_audit_log(const struct cid_ctx *ctx);

#endif
