/*
 * jose: signing keys, JWS compact signing and verification, and the JWKS.
 *
 * Keys live in the store (CID_DB_KEYS, key = kid) as
 *   {"kid", "alg": "ES256"|"RS256", "private_pem", "state": "active"|"retired",
 *    "created_at", "retired_at", "drop_after"}
 * kid is the RFC 7638 thumbprint of the public key. At first start one ES256
 * (P-256) and one RS256 (RSA 2048) key are generated. A rotation makes a new
 * active key for the algorithm and retires the old one, which stays in the
 * JWKS (for verification) until drop_after = retire time + the longest token
 * lifetime; after that it is no longer loaded. Private keys are never printed
 * or returned: cid_keys_list gives public data only.
 *
 * A cid_keyset is an immutable snapshot: every key parsed into an EVP_PKEY once,
 * and the JWKS document serialised once. Signing uses EVP_DigestSign directly
 * (ECDSA DER signatures converted to JWS r||s), so nothing is parsed per token.
 * A keyset is safe to use from many threads at once. META "keys_version" counts
 * changes so a running server can notice a rotation made by the CLI.
 */
#ifndef CID_JOSE_H
#define CID_JOSE_H

#include "err.h"
#include "store.h"

#include <jansson.h>
#include <stdint.h>

struct cid_keyset;

/*
 * Generates an active key for each of ES256 and RS256 that has none.
 * Errors: CID_ERR_CRYPTO, CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err cid_keys_ensure(struct cid_store *s, int64_t now);

/*
 * Makes a new active key for alg ("ES256" or "RS256") and retires the current
 * one, kept for verification until now + keep seconds. *kid_out (may be NULL;
 * caller frees) is the new kid.
 * Errors: CID_ERR_INVALID (alg), CID_ERR_CRYPTO, CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err cid_keys_rotate(struct cid_store *s, const char *alg, int64_t now,
					    int64_t keep, char **kid_out);

/*
 * Public view of every stored key: array of {"kid","alg","state","created_at",
 * "retired_at"?, "drop_after"?}. *out: new reference.
 */
CID_MUST_CHECK enum cid_err cid_keys_list(struct cid_store *s, json_t **out);

/* The store's keys_version counter (0 when no key was ever made). */
CID_MUST_CHECK enum cid_err cid_keys_version(struct cid_store *s, uint64_t *out);

/*
 * Loads every key not past drop_after at now into a new keyset (*out, freed
 * with cid_keyset_free). Errors: CID_ERR_NOTFOUND (no active key for ES256 or
 * RS256: call cid_keys_ensure first), CID_ERR_CRYPTO, CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err cid_keyset_load(struct cid_store *s, int64_t now,
					    struct cid_keyset **out);

/*
 * Loads every stored key, retired ones past drop_after included, into a new
 * keyset: for verifying old signatures (audit checkpoints), never for tokens.
 * Signing with it uses the newest active key of the alg, if any (else
 * CID_ERR_INVALID). Errors: CID_ERR_CRYPTO, CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_keyset_load_all(struct cid_store *s, struct cid_keyset **out);

/*
 * A verify-only keyset from a JWKS document ({"keys":[...]}, len bytes, e.g.
 * the output of cid_keyset_jwks or a published jwks_uri), for checking
 * signatures offline. Public EC P-256 keys (on the curve) verify ES256 and
 * RSA keys (an odd composite modulus of 2048 to 4096 bits, an odd exponent
 * from 65537 up to 256 bits) RS256; every such key needs a "kid" (1 to 128
 * chars, unique) and an "alg", if given, that agrees. Keys of another kty, alg or "use" are
 * skipped. It has no private key: cid_jws_sign with it fails with
 * CID_ERR_INVALID; cid_keyset_version and cid_keyset_next_drop are 0.
 * *out is freed with cid_keyset_free.
 * Errors: CID_ERR_INVALID (not a JWKS, a usable key malformed, not on its
 * curve, without kid or with a repeated one), CID_ERR_TOOBIG (over
 * CID_MAX_BODY bytes or 64 keys), CID_ERR_NOTFOUND (no usable key),
 * CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_keyset_from_jwks(const char *json, size_t len,
						 struct cid_keyset **out);

void cid_keyset_free(struct cid_keyset *ks);

/* The keys_version this keyset was loaded at. */
uint64_t cid_keyset_version(const struct cid_keyset *ks);

/*
 * The earliest drop_after among the retired keys of the keyset, or 0 when it
 * holds none: when that time passes, the keyset must be reloaded.
 */
int64_t cid_keyset_next_drop(const struct cid_keyset *ks);

/* The JWKS document ({"keys":[...]}, public keys only), borrowed for the keyset's life. */
const char *cid_keyset_jwks(const struct cid_keyset *ks, size_t *len);

/*
 * Signs claims (borrowed JSON object) as a compact JWS with the active key of
 * alg, header {"alg", "typ", "kid"}. typ is e.g. "JWT", "at+jwt". *out is a
 * new NUL-terminated string (caller frees).
 * Errors: CID_ERR_INVALID (unknown alg), CID_ERR_CRYPTO, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_jws_sign(const struct cid_keyset *ks, const char *alg,
					 const char *typ, const json_t *claims, char **out);

/*
 * Verifies a compact JWS of len bytes: header must have a known kid whose alg
 * equals the header alg (no "none", no HS*, no alg confusion); the signature
 * must verify. If typ is not NULL the header typ must equal it (case-insensitive,
 * "application/" prefix allowed per RFC 7515 §4.1.9). Does NOT check exp, iss,
 * aud: callers do. *claims_out (new reference) is the payload object.
 * Errors: CID_ERR_INVALID (malformed, wrong typ, unknown kid/alg), CID_ERR_DENIED
 * (bad signature), CID_ERR_TOOBIG (over CID_MAX_TOKEN).
 */
CID_MUST_CHECK enum cid_err cid_jws_verify(const struct cid_keyset *ks, const char *jws, size_t len,
					   const char *typ, json_t **claims_out);

/*
 * OIDC at_hash / c_hash: base64url of the left half of the hash of token,
 * with the hash of alg (SHA-256 for ES256 and RS256). out[44].
 */
CID_MUST_CHECK enum cid_err cid_jose_half_hash(const char *alg, const char *token, char out[44]);

#endif
