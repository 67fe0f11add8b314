/*
 * jose_int.h: what the three files of the jose module share; not part of the
 * API (jose.h is).
 *
 *   jose.c       the keyset's keys by kid, and compact JWS sign and verify over them
 *   jose_keys.c  keys in the store and their states (next, active, retired)
 *   jose_keyset.c the keyset loaded from them
 *   jose_jwks.c  a public key as a JWK and its thumbprint, the published JWKS,
 *                and a verify-only keyset from a foreign JWKS
 *
 * A keyset is written only while it is built (jose_keyset.c or jose_jwks.c) and
 * read-only once handed out; every EVP_PKEY in it is parsed once, then shared
 * by every thread.
 */
#ifndef CID_JOSE_INT_H
#define CID_JOSE_INT_H

#include "bounds.h"
#include "jose.h"

#include <openssl/evp.h>

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KID_CHARS   43			   /* base64url of a SHA-256 thumbprint */
#define ES256_COORD 32			   /* bytes of a P-256 coordinate, and of r and s */
#define SIG_MAX	    (CID_RSA_MAX_BITS / 8) /* largest raw or DER signature we handle */

enum alg { ALG_ES256, ALG_RS256, ALG_COUNT };

/* The JWS "alg" of each enum alg. */
extern const char *const jose_alg_names[ALG_COUNT];

/* One loaded key: parsed once, read-only afterwards. */
struct key {
	char kid[CID_JWKS_MAX_KID + 1];
	enum alg alg;
	bool active;
	int64_t created_at;
	EVP_PKEY *pkey;
};

struct cid_keyset {
	uint64_t version;
	int64_t next_drop;
	int64_t next_activate;
	struct key *keys; /* active keys first */
	size_t n;
	const struct key *active[ALG_COUNT];
	char *jwks;
	size_t jwks_len;
	char *issuer; /* the "issuer" of the JWKS it was made from, or NULL */
};

/* The enum alg of a JWS "alg" name, or -1 (NULL, or an algorithm civicid does not use). */
int jose_alg_parse(const char *name);

/* The key of ks whose kid is [kid, kid+n), or NULL. */
const struct key *jose_key_by_kid(const struct cid_keyset *ks, const char *kid, size_t n);

/*
 * The required public members of the JWK of pkey (RFC 7638 §3.2): exactly
 * {"crv","kty","x","y"} for EC and {"e","kty","n"} for RSA. *out: new reference.
 * Errors: CID_ERR_CRYPTO (not a key of alg, or OpenSSL failed), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err jose_jwk_public(const EVP_PKEY *pkey, enum alg alg, json_t **out);

/* The RFC 7638 thumbprint of jwk (from jose_jwk_public) as base64url. Errors: CID_ERR_NOMEM. */
CID_MUST_CHECK enum cid_err jose_thumbprint(const json_t *jwk, char kid[KID_CHARS + 1]);

/* Sets ks's published JWKS document, {"keys": keys}. Errors: CID_ERR_NOMEM. */
CID_MUST_CHECK enum cid_err jose_keyset_publish(struct cid_keyset *ks, json_t *keys);

/* ---- key records in the store (jose_keys.c), for the keyset (jose_keyset.c) ---- */

/* META counter bumped by every change of the keys: a server reloads when it moves. */
#define JOSE_KEYS_VERSION "keys_version"

/* Every key record, checked, in kid order. *out: new array; release with jose_records_free.
 * Errors: CID_ERR_STORE (a damaged record), CID_ERR_NOMEM. */
CID_MUST_CHECK enum cid_err jose_records_load(struct cid_txn *txn, json_t **out);

/* Wipes the private PEMs of recs, then frees it. NULL is a no-op. */
void jose_records_free(json_t *recs);

/* Whether rec is loaded at now: retired keys go once drop_after has passed. */
bool jose_record_live(const json_t *rec, int64_t now);

#endif
