/*
 * token: authorization codes, grants, refresh tokens, and the JWTs civicid
 * issues (access tokens per RFC 9068, ID tokens per OIDC Core §2).
 *
 * A grant (CID_DB_GRANTS) is one authorization of a client by a citizen: the
 * family of every code, refresh token and access token that descends from it.
 * Revoking the grant revokes the whole family: codes and refresh tokens are
 * refused, and access tokens (which carry the grant id in "grant_id") fail
 * cid_token_access_verify even before they expire.
 *
 * Codes and refresh tokens are random (crypto.h) and stored only as
 * cid_secret_hash. A code is single use: a second redemption finds it marked
 * used and revokes its grant (RFC 9700 §4.5 / RFC 6749 §4.1.2). A refresh
 * token is rotated at each use; presenting a used one revokes the grant
 * (RFC 9700 §4.14.2). Access tokens are stateless JWTs, so issuing one for
 * client_credentials writes nothing; revoking one records its jti until it
 * expires (CID_DB_REVOKED). An access token's signature is checked once per
 * keyset: the claims of a token that passed are remembered beside the token
 * in the keyset's memo, while its expiry, its jti and its grant are checked
 * on every use.
 *
 * A grant is also dead while its citizen is not active, and for good once the
 * citizen has been disabled after it was made: it records the citizen's
 * generation (account.h), and every use of a code, refresh token or access
 * token checks it. That is how disabling a citizen revokes all their tokens.
 * Outcomes that refuse a request without being a replay change nothing: the
 * code or refresh token stays usable (RFC 6749 §5.2, RFC 9700 §4.14.2).
 *
 * Records are JSON objects; the "authorization" object a code is issued for:
 *   {"client_id","redirect_uri","account_id","sid","auth_time","acr","amr":[],
 *    "scope","nonce"?,"code_challenge"?,"claims"?,"generation"? (of the
 *    session, account.h; absent: 0)}
 * The grant record is that object without "redirect_uri" and
 * "code_challenge", with "grant_id", "created_at", "generation",
 * "tokens_exp" (no code or refresh token of the grant expires later: the
 * janitor's clock for it, cid_grant_sweep) and "revoked". It is this module's: every other module
 * reads a grant as struct cid_grant (below), made from the record in one place. Thread-safe.
 */
#ifndef CID_TOKEN_H
#define CID_TOKEN_H

#include "bounds.h"
#include "cid.h"
#include "client.h"
#include "err.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * A grant as other modules read it: made from its record once (by the calls
 * below that return one), not changed afterwards; a member read elsewhere is
 * a member of this struct, so a misspelt one does not compile. Free with
 * cid_grant_free.
 */
struct cid_grant {
	char id[CID_TOKEN_CHARS + 1];	       /* the grant_id */
	char account_id[CID_ID_CHARS + 1];     /* the citizen */
	char client_id[CID_MAX_CLIENT_ID + 1]; /* the service */
	char *scope;			       /* granted ("" when none); after a rotation
						  that asked for less, the asked one */
	char sid[CID_TOKEN_CHARS + 1];	       /* the SSO session's sid, "" when none */
	int64_t auth_time;		       /* when the citizen authenticated; 0: none */
	char acr[32];			       /* "urn:civicid:acr:..." (session.h), "" when none */
	char amr[CID_MAX_AMR][16];	       /* "pwd", "otp" (RFC 8176) */
	size_t n_amr;
	char *nonce;	    /* of the authorization request; NULL when it had none */
	json_t *claims;	    /* the request's claims parameter (OIDC Core §5.5), an
			       object owned by the grant; NULL when none */
	int64_t generation; /* the citizen's when the grant was made (account.h) */
	int64_t created_at; /* 0 when the record has none */
	bool revoked;
	atomic_int refs; /* references held: a grant read from an unchanged record is
			    shared (the store's memo, memo.h); cid_grant_free drops one */
};

/* Drops a reference to a grant returned by a call below; the last frees it. NULL is a no-op. */
void cid_grant_free(struct cid_grant *g);

/*
 * Stores a new grant and an authorization code for auth (borrowed; shape
 * above). code_out receives the code.
 * Errors: CID_ERR_INVALID (no client_id, redirect_uri or account_id),
 * CID_ERR_NOTFOUND (no such citizen), CID_ERR_DISABLED (the citizen is not
 * active), CID_ERR_REVOKED (the citizen changed state since the session of
 * auth's generation), CID_ERR_CRYPTO, CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_code_issue(struct cid_store *s, const json_t *auth, int64_t now,
					   int64_t ttl, char code_out[CID_TOKEN_CHARS + 1]);

/*
 * Redeems a code for client_id at the token endpoint. redirect_uri must equal
 * the one of the authorization request; verifier (NULL if none was sent) must
 * match the stored S256 code_challenge (RFC 7636 §4.6), and must be absent if
 * no challenge was stored. On success the code is marked used in the same
 * transaction, a refresh token is stored for the grant when refresh_ttl > 0
 * (refresh_out, else refresh_out[0] = 0), and *grant (free with
 * cid_grant_free) is the code's grant.
 * Errors: CID_ERR_NOTFOUND (unknown or malformed code), CID_ERR_REVOKED (code
 * already used: its grant is now revoked; or the grant was revoked, or its
 * citizen is not live in its generation), CID_ERR_EXPIRED (the code's, or
 * the login session it was issued in has ended: logged out, signed out
 * everywhere, expired), CID_ERR_DENIED
 * (other client, redirect_uri or PKCE mismatch), CID_ERR_STORE (including a
 * damaged grant record: then the code stays unused), CID_ERR_CRYPTO,
 * CID_ERR_NOMEM.
 * Every error but the replay leaves the code as it was.
 */
CID_MUST_CHECK enum cid_err cid_code_redeem(struct cid_store *s, const char *code,
					    const char *client_id, const char *redirect_uri,
					    const char *verifier, int64_t now, int64_t refresh_ttl,
					    struct cid_grant **grant,
					    char refresh_out[CID_TOKEN_CHARS + 1]);

/*
 * Rotates a refresh token of client_id: marks it used and stores its successor
 * (new_out) with the same grant and a fresh lifetime of ttl. scope (NULL: not
 * asked) must be within the grant's scope. *grant (free with cid_grant_free)
 * is the token's grant, its scope the asked one when given (the stored grant
 * keeps its scope, RFC 6749 §6).
 * Errors: CID_ERR_NOTFOUND, CID_ERR_REVOKED (already used: the grant is now
 * revoked; or the grant was revoked, or its citizen is not live in its
 * generation), CID_ERR_EXPIRED, CID_ERR_DENIED (issued to another client),
 * CID_ERR_INVALID (scope wider than the grant's), CID_ERR_STORE (including a
 * damaged grant record), CID_ERR_CRYPTO, CID_ERR_NOMEM.
 * Only the replay changes anything: after any other error the token and its
 * grant are as they were, so the client may try again.
 */
CID_MUST_CHECK enum cid_err cid_refresh_rotate(struct cid_store *s, const char *token,
					       const char *client_id, const char *scope,
					       int64_t now, int64_t ttl, struct cid_grant **grant,
					       char new_out[CID_TOKEN_CHARS + 1]);

/*
 * Looks up a refresh token for introspection, only if it is unused, unexpired
 * and its grant is live (not revoked, its citizen live in its generation):
 * *grant (free with cid_grant_free) is its grant, *iat and *exp when the
 * token was issued and when it expires. The out-parameters are written only
 * on success.
 * Errors: CID_ERR_NOTFOUND, CID_ERR_REVOKED, CID_ERR_EXPIRED, CID_ERR_STORE
 * (including a damaged grant record), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_refresh_lookup(struct cid_store *s, const char *token, int64_t now,
					       struct cid_grant **grant, int64_t *iat,
					       int64_t *exp);

/*
 * Revokes the grant of a refresh token if it was issued to client_id (RFC 7009
 * §2.1: revoking a refresh token revokes the family).
 * Errors: CID_ERR_NOTFOUND, CID_ERR_DENIED (other client), CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err cid_refresh_revoke(struct cid_store *s, const char *token,
					       const char *client_id, int64_t now);

/* Marks grant_id revoked. Errors: CID_ERR_NOTFOUND, CID_ERR_STORE. */
CID_MUST_CHECK enum cid_err cid_grant_revoke(struct cid_store *s, const char *grant_id,
					     int64_t now);

/*
 * Revokes every live grant of account_id to client_id (so its codes, refresh
 * tokens and access tokens all fail from now on), in one write transaction
 * that reads that citizen's grants of that service and no other (through
 * CID_DB_GRANT_INDEX: O(log n + their number), however many grants the city
 * holds). *n_out (may be NULL) receives how many grants it revoked (0 is no
 * error).
 * Errors: CID_ERR_INVALID (a name NULL, empty, holding a newline, or longer
 * than an account id and a client_id can be), CID_ERR_STORE (including a
 * damaged grant record of theirs, or an index key whose grant is missing or
 * not theirs), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_grant_revoke_client(struct cid_store *s, const char *account_id,
						    const char *client_id, int64_t now,
						    size_t *n_out);

/*
 * The services account_id holds grants with, revoked or not, for as long as
 * the grants are kept (cid_grant_sweep deletes a grant when its family has
 * expired): *out (new reference; written only on success) an array of
 * client_id strings, each once, in byte order, [] when none. Reads that
 * citizen's index keys only (CID_DB_GRANT_INDEX), one per service, in this
 * thread's read transaction: O(their services * log n), however many
 * grants each holds.
 * Errors: CID_ERR_INVALID (account_id NULL, empty, holding a newline, or
 * longer than an account id), CID_ERR_STORE (including an index key without
 * its service), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_grant_services(struct cid_store *s, const char *account_id,
					       json_t **out);

/*
 * Deletes every grant of account_id, of every service, with its index key,
 * inside the caller's write transaction (the citizen's account is deleted:
 * account_delete.h), reading that citizen's grants and no other (through
 * CID_DB_GRANT_INDEX). Revoking would keep the records, and with them the
 * citizen's id, nonces and requested claims; deleting them revokes too: a
 * code, refresh token or access token of a grant that is gone is refused as
 * unknown (CID_ERR_NOTFOUND; the token endpoint's invalid_grant, userinfo's
 * invalid_token). Their own records hold only the grant id, client_id and
 * times, and stay, naming a grant that no longer exists, until the janitor
 * deletes them at their expiry (cid_code_sweep, cid_refresh_sweep). *n_out
 * (may be NULL): how many grants were deleted (0 is no error).
 * Errors: CID_ERR_INVALID (account_id not an account id, a read
 * transaction), CID_ERR_STORE (an index key whose grant is missing or not
 * theirs), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_grant_delete_account_txn(struct cid_txn *txn,
							 const char *account_id, size_t *n_out);

/*
 * The janitor's rules for this module's records (janitor.h): each deletes
 * what can no longer be used nor is needed to refuse something, through
 * cid_store_sweep (at most CID_SWEEP_BATCH per write transaction), and
 * writes how many went to *removed (may be NULL). Idempotent.
 *   cid_code_sweep: codes, redeemed or not, from CID_CLOCK_SKEW past their
 *     exp. Until then a replay still revokes the grant; a later one is
 *     refused as unknown (invalid_grant all the same).
 *   cid_refresh_sweep: refresh tokens, rotated or not, likewise: reuse
 *     detection (RFC 9700 §4.14.2) covers a rotated token for as long as it
 *     would have been valid, and CID_CLOCK_SKEW more.
 *   cid_access_revoked_sweep: a revoked access token's jti (CID_DB_REVOKED)
 *     from its exp + CID_CLOCK_SKEW: cid_token_access_verify refuses the
 *     token as expired from its exp.
 *   cid_grant_sweep: a grant, revoked or not, and its index key, from its
 *     "tokens_exp" + CID_ACCESS_TTL_MAX + CID_CLOCK_SKEW: by then every code
 *     and refresh token of the family is past its own sweep (so a grant a
 *     kept token names for reuse detection is still there), and every access
 *     token minted from them is refused as expired. The first sweep of a
 *     store gives a grant written before "tokens_exp" was kept now +
 *     CID_REFRESH_TTL_MAX (none of its tokens expires later), once (META
 *     "grants_stamped"), so it goes a year and a day later at most.
 * Errors: CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_code_sweep(struct cid_store *s, int64_t now, size_t *removed);
CID_MUST_CHECK enum cid_err cid_refresh_sweep(struct cid_store *s, int64_t now, size_t *removed);
CID_MUST_CHECK enum cid_err cid_access_revoked_sweep(struct cid_store *s, int64_t now,
						     size_t *removed);
CID_MUST_CHECK enum cid_err cid_grant_sweep(struct cid_store *s, int64_t now, size_t *removed);

/*
 * Makes CID_DB_GRANT_INDEX hold exactly one key per grant: checks, in O(1),
 * that it holds as many keys as there are grants (true once it was built,
 * since every grant is written and deleted with its key),
 * and if not rebuilds it from every grant record in one write transaction (a
 * store written before the index existed, or one an older build added
 * grants to). cid_ctx_open runs it. *built (may be NULL) receives how many
 * keys it wrote (0: the index was whole).
 * Errors: CID_ERR_STORE (including a grant record without its citizen or
 * service), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_grant_index_ensure(struct cid_store *s, size_t *built);

/*
 * The subject identifier of account_id for client: pairwise (OIDC Core §8.1,
 * base64url SHA-256 of sector, account id and the context's salt) or public
 * (the account id). A client registered with subject_type public gets the
 * public subject only if its release policy in ps says `subject public`:
 * without one, services could correlate a citizen. out[CID_TOKEN_CHARS + 1].
 */
void cid_token_subject(const struct cid_ctx *ctx, const struct cid_policyset *ps,
		       const struct cid_client *client, const char *account_id,
		       char out[CID_TOKEN_CHARS + 1]);

/*
 * Mints an RFC 9068 access token (typ "at+jwt", ES256) for client with sub,
 * scope, and, for a citizen's token, the grant (auth_time, acr, grant_id;
 * NULL for client_credentials). *out: new string, caller frees.
 * Errors: CID_ERR_CRYPTO, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_token_access_mint(struct cid_ctx *ctx, const struct cid_keyset *ks,
						  const struct cid_client *client, const char *sub,
						  const char *scope, const struct cid_grant *grant,
						  int64_t now, char **out);

/*
 * Mints an ID token for client from the grant (auth_time, acr, amr, sid,
 * nonce; each only when it has one), with at_hash of access_token (if not NULL) and the released
 * claims (borrowed, not modified; may be NULL), signed with the client's
 * id_token_alg. *out: new string, caller frees.
 * Errors: CID_ERR_CRYPTO, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_token_id_mint(struct cid_ctx *ctx, const struct cid_keyset *ks,
					      const struct cid_client *client, const char *sub,
					      const struct cid_grant *grant,
					      const char *access_token, json_t *claims, int64_t now,
					      char **out);

/*
 * An access token's claims as other modules read them: made once from a
 * token whose signature, typ, iss, exp and jti were checked, and shared (the
 * keyset's memo keeps it, cid_keyref_memo). sub and client_id are never
 * NULL; another string is NULL when the token has no such claim (every token
 * civicid mints has aud and iat). Drop with cid_access_free.
 */
struct cid_access {
	const char *sub;
	const char *aud;
	const char *client_id;
	const char *scope;
	const char *jti;      /* CID_TOKEN_CHARS characters */
	const char *grant_id; /* NULL: a client_credentials token (no citizen) */
	const char *acr;
	int64_t exp;
	int64_t iat;	   /* 0 when absent */
	int64_t auth_time; /* 0 when absent */
	atomic_int refs;
	char text[]; /* where the strings are */
};

/* Drops a reference to a; the last frees it. NULL is a no-op. */
void cid_access_free(struct cid_access *a);

/*
 * Checks an access token: signature by a key of ref's keyset, typ at+jwt, iss
 * is ours, exp, iat and jti present; a life no longer than access_ttl
 * (exp - iat, CID_CLOCK_SKEW allowed) and iat no later than now +
 * CID_CLOCK_SKEW, so that even a leaked key cannot mint long-lived tokens
 * that pass; not expired at now (exp > now: no skew for a token of this
 * server's own clock);
 * then, in the caller's read transaction txn, its jti not revoked, and its
 * grant (if any) not revoked and its citizen live in its generation (so a
 * disabled citizen's token fails even if nothing revoked it). The signature,
 * typ, iss and claims depend on the token and the keyset alone: a token that
 * passed them once is remembered in the keyset's memo and not verified
 * again; the times, revocation and the grant are checked on every call.
 * *out is the token's claims; *grant (grant may be NULL: not wanted) its
 * grant, NULL for a client_credentials token. Both are written only on
 * success.
 * Errors: CID_ERR_INVALID (malformed, bad typ/iss, no sub or client_id, a
 * claim of the wrong type, a life over access_ttl, iat in the future),
 * CID_ERR_DENIED (signature), CID_ERR_EXPIRED, CID_ERR_REVOKED,
 * CID_ERR_NOTFOUND (its grant is gone), CID_ERR_TOOBIG, CID_ERR_STORE
 * (including a damaged grant record), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_token_access_verify(struct cid_ctx *ctx, struct cid_keyref *ref,
						    struct cid_txn *txn, const char *jwt,
						    int64_t now, struct cid_access **out,
						    struct cid_grant **grant);

/*
 * Records the access token a (from cid_token_access_verify) as revoked until
 * its exp. Errors: CID_ERR_INVALID (no exp), CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err cid_token_access_revoke(struct cid_store *s,
						    const struct cid_access *a);

/*
 * The grant grant_id as cid_grant_get reads it, but in the caller's
 * transaction txn, and revoked or not (the caller looks at g->revoked).
 * Errors: CID_ERR_NOTFOUND, CID_ERR_STORE (including a damaged record),
 * CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_grant_get_txn(struct cid_txn *txn, const char *grant_id,
					      struct cid_grant **grant);

/*
 * Reads the grant of a citizen's access-token claims: *grant (free with
 * cid_grant_free; written only on success) is the grant of grant_id.
 * Errors: CID_ERR_NOTFOUND (no grant_id claim or no such grant),
 * CID_ERR_REVOKED, CID_ERR_STORE (including a damaged grant record),
 * CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_grant_get(struct cid_store *s, const char *grant_id,
					  struct cid_grant **grant);

#endif
