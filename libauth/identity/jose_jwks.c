/*
 * jose_jwks: public keys as JWKs, the JWKS civicid publishes, and a foreign one.
 *
 * A key's kid is its RFC 7638 thumbprint, computed over exactly the required
 * members of its public JWK, so the kid names the key and a record whose key
 * was swapped shows. A foreign JWKS (an auditor verifying an exported log
 * with a published key set) is outside input: bounded in size and in keys,
 * each key rebuilt from its parameters and checked (point on the curve, RSA
 * size), unknown kinds and keys without a kid skipped (neither could verify
 * anything here), a malformed or repeated kid refused. The keyset made
 * from it verifies only: it holds no private key and no active one.
 */
#include "jose_int.h"

#include "bounds.h"
#include "buf.h"
#include "crypto.h"
#include "str.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define B64_MAX 700 /* > cid_b64url_len(SIG_MAX) */

/* ---- public key parameters, JWK and thumbprint ---- */

/* base64url of the big-endian bytes of a BIGNUM parameter, padded to pad bytes (0: minimal). */
static enum cid_err bn_param_b64(const EVP_PKEY *pkey, const char *param, int pad,
				 char out[B64_MAX])
{
	enum cid_err rc = CID_OK;
	BIGNUM *bn = NULL;
	uint8_t bin[SIG_MAX];
	int n;

	CID_ENSURE(EVP_PKEY_get_bn_param(pkey, param, &bn) == 1, CID_ERR_CRYPTO);
	CID_ENSURE(BN_num_bytes(bn) <= (pad > 0 ? pad : (int)sizeof(bin)), CID_ERR_CRYPTO);
	n = pad > 0 ? BN_bn2binpad(bn, bin, pad) : BN_bn2bin(bn, bin);
	CID_ENSURE(n > 0, CID_ERR_CRYPTO);
	CID_TRY(cid_b64url_encode(bin, (size_t)n, out, B64_MAX));
out:
	BN_free(bn);
	return rc;
}

/* Checks that pkey is a key of the kind alg names. */
static enum cid_err pkey_check(const EVP_PKEY *pkey, enum alg alg)
{
	char group[32];
	int bits;

	switch (alg) {
	case ALG_ES256:
		if (!EVP_PKEY_is_a(pkey, "EC") ||
		    EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group,
						   sizeof(group), NULL) != 1 ||
		    strcmp(group, "prime256v1") != 0)
			return CID_ERR_CRYPTO;
		return CID_OK;
	case ALG_RS256:
		bits = EVP_PKEY_get_bits(pkey);
		if (!EVP_PKEY_is_a(pkey, "RSA") || bits < CID_RSA_MIN_BITS ||
		    bits > CID_RSA_MAX_BITS)
			return CID_ERR_CRYPTO;
		return CID_OK;
	default: return CID_ERR_INVALID;
	}
}

enum cid_err jose_jwk_public(const EVP_PKEY *pkey, enum alg alg, json_t **out)
{
	enum cid_err rc = CID_OK;
	char a[B64_MAX];
	char b[B64_MAX];
	json_t *jwk = NULL;

	CID_TRY(pkey_check(pkey, alg));
	if (alg == ALG_ES256) {
		/*= RFC 7518 §6.2.1.2: x is the full coordinate, ES256_COORD bytes */
		CID_TRY(bn_param_b64(pkey, OSSL_PKEY_PARAM_EC_PUB_X, ES256_COORD, a));
		CID_TRY(bn_param_b64(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, ES256_COORD, b));
		jwk =
		    json_pack("{s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-256", "x", a, "y", b);
	} else {
		/*= RFC 7518 §6.3.1.1: n and e in their minimal big-endian bytes */
		CID_TRY(bn_param_b64(pkey, OSSL_PKEY_PARAM_RSA_N, 0, a));
		CID_TRY(bn_param_b64(pkey, OSSL_PKEY_PARAM_RSA_E, 0, b));
		jwk = json_pack("{s:s, s:s, s:s}", "kty", "RSA", "n", a, "e", b);
	}
	CID_ENSURE(jwk != NULL, CID_ERR_NOMEM);
	*out = jwk;
out:
	return rc;
}

/*= RFC 7638 §3: SHA-256 over the required members, sorted, without whitespace */
enum cid_err jose_thumbprint(const json_t *jwk, char kid[KID_CHARS + 1])
{
	enum cid_err rc = CID_OK;
	uint8_t h[32];
	char *canon = cid_json_dumps(jwk, JSON_COMPACT | JSON_SORT_KEYS);

	CID_ENSURE(canon != NULL, CID_ERR_NOMEM);
	cid_sha256(canon, strlen(canon), h);
	CID_TRY(cid_b64url_encode(h, sizeof(h), kid, KID_CHARS + 1));
out:
	free(canon);
	return rc;
}

enum cid_err jose_keyset_publish(struct cid_keyset *ks, json_t *keys)
{
	json_t *doc = json_pack("{s:O}", "keys", keys);

	if (doc != NULL)
		ks->jwks = cid_json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (ks->jwks == NULL)
		return CID_ERR_NOMEM;
	ks->jwks_len = strlen(ks->jwks);
	return CID_OK;
}

/* ---- a verify-only keyset from a JWKS document ---- */

/* An issuer a JWKS may name: 1 to CID_MAX_URI bytes (NULL: none). */
static bool issuer_ok(const char *iss)
{
	size_t n = iss == NULL ? 0 : strnlen(iss, CID_MAX_URI + 1);

	return n > 0 && n <= CID_MAX_URI;
}

/* Decodes the base64url member name of jwk into out[cap]; *n its length. */
static enum cid_err jwk_bytes(const json_t *jwk, const char *name, uint8_t *out, size_t cap,
			      size_t *n)
{
	const json_t *v = json_object_get(jwk, name);

	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    cid_b64url_decode(json_string_value(v), json_string_length(v), out, cap, n) != CID_OK)
		return CID_ERR_INVALID;
	return CID_OK;
}

/*
 * Checks an RSA public key so that it gets the same answer every time: an odd
 * composite modulus (pkey_check bounds its size), an odd exponent in SP
 * 800-56B's range (65537 to 256 bits) below it. Not EVP_PKEY_public_check:
 * OpenSSL 3.0's tells composites apart by Miller-Rabin on random bases, and
 * refused a composite modulus fuzz_jwks made about once in 150 loads, so one
 * JWKS verified an export on one run and not on the next. A prime modulus is
 * refused here as there: anyone could compute its private exponent.
 * Errors: CID_ERR_INVALID, CID_ERR_NOMEM, CID_ERR_CRYPTO.
 */
static enum cid_err rsa_public_check(const BIGNUM *n, const BIGNUM *e)
{
	enum cid_err rc = CID_OK;
	BN_CTX *ctx = BN_CTX_new();
	int prime;

	CID_ENSURE(ctx != NULL, CID_ERR_NOMEM);
	CID_ENSURE(BN_is_odd(n) && BN_is_odd(e) && BN_num_bits(e) >= 17 && BN_num_bits(e) <= 256 &&
		       BN_cmp(e, n) < 0,
		   CID_ERR_INVALID);
	/* a composite is told composite with certainty but for 2^-128 */
	prime = BN_check_prime(n, ctx, NULL);
	CID_ENSURE(prime >= 0, CID_ERR_CRYPTO);
	CID_ENSURE(prime == 0, CID_ERR_INVALID);
out:
	BN_CTX_free(ctx);
	return rc;
}

/* The EVP_PKEY of an EC P-256 or RSA public JWK. */
static enum cid_err jwk_pkey(const json_t *jwk, enum alg alg, EVP_PKEY **out)
{
	enum cid_err rc = CID_OK;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	EVP_PKEY_CTX *check = NULL;
	EVP_PKEY *pkey = NULL;
	BIGNUM *n = NULL;
	BIGNUM *e = NULL;
	uint8_t a[SIG_MAX];
	uint8_t b[SIG_MAX];
	uint8_t point[1 + 2 * ES256_COORD];
	size_t an = 0;
	size_t bn = 0;

	bld = OSSL_PARAM_BLD_new();
	CID_ENSURE(bld != NULL, CID_ERR_NOMEM);
	if (alg == ALG_ES256) {
		CID_ENSURE(cid_str_eq(cid_str_of(cid_json_str(jwk, "crv")), "P-256"),
			   CID_ERR_INVALID);
		CID_TRY(jwk_bytes(jwk, "x", a, sizeof(a), &an));
		CID_TRY(jwk_bytes(jwk, "y", b, sizeof(b), &bn));
		/*= RFC 7518 §6.2.1.2: x and y are the full coordinates, 32 octets for P-256 */
		CID_ENSURE(an == ES256_COORD && bn == ES256_COORD, CID_ERR_INVALID);
		point[0] = 0x04; /* uncompressed */
		memcpy(point + 1, a, ES256_COORD);
		memcpy(point + 1 + ES256_COORD, b, ES256_COORD);
		CID_ENSURE(OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
							   "prime256v1", 0) == 1 &&
			       OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point,
								sizeof(point)) == 1,
			   CID_ERR_NOMEM);
	} else {
		CID_TRY(jwk_bytes(jwk, "n", a, sizeof(a), &an));
		CID_TRY(jwk_bytes(jwk, "e", b, sizeof(b), &bn));
		n = BN_bin2bn(a, (int)an, NULL);
		e = BN_bin2bn(b, (int)bn, NULL);
		CID_ENSURE(n != NULL && e != NULL, CID_ERR_NOMEM);
		CID_TRY(rsa_public_check(n, e));
		CID_ENSURE(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) == 1 &&
			       OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) == 1,
			   CID_ERR_NOMEM);
	}
	params = OSSL_PARAM_BLD_to_param(bld);
	CID_ENSURE(params != NULL, CID_ERR_NOMEM);
	pctx = EVP_PKEY_CTX_new_from_name(NULL, alg == ALG_ES256 ? "EC" : "RSA", NULL);
	CID_ENSURE(pctx != NULL, CID_ERR_NOMEM);
	CID_ENSURE(EVP_PKEY_fromdata_init(pctx) == 1 &&
		       EVP_PKEY_fromdata(pctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) == 1,
		   CID_ERR_INVALID);
	/* an EC point not on the curve, or an RSA key of the wrong size, is no key
	 * (RSA's own public check is rsa_public_check, above) */
	if (alg == ALG_ES256) {
		check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
		CID_ENSURE(check != NULL, CID_ERR_NOMEM);
		CID_ENSURE(EVP_PKEY_public_check(check) == 1, CID_ERR_INVALID);
	}
	CID_ENSURE(pkey_check(pkey, alg) == CID_OK, CID_ERR_INVALID);
	*out = pkey;
	pkey = NULL;
out:
	if (rc != CID_OK)
		ERR_clear_error();
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(check);
	EVP_PKEY_CTX_free(pctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	return rc;
}

/*
 * The alg of a public JWK we can verify with, or -1 for a key to skip (another
 * kty, an "enc" key, an algorithm we do not use, an EC key on another curve
 * that names no alg: an ES384 or ES512 key beside the ES256 one is not ours
 * to use, and must not make the set unusable). An EC key is ES256 (one that
 * says so must be on P-256), an RSA key RS256; an "alg" member must agree.
 */
static int jwk_alg(const json_t *jwk)
{
	const char *kty = cid_json_str(jwk, "kty");
	const char *alg = cid_json_str(jwk, "alg");
	const char *use = cid_json_str(jwk, "use");
	int a;

	if (kty == NULL || (use != NULL && strcmp(use, "sig") != 0))
		return -1;
	if (strcmp(kty, "EC") == 0 && alg == NULL &&
	    !cid_str_eq(cid_str_of(cid_json_str(jwk, "crv")), "P-256"))
		return -1;
	if (strcmp(kty, "EC") == 0)
		a = ALG_ES256;
	else if (strcmp(kty, "RSA") == 0)
		a = ALG_RS256;
	else
		return -1;
	if (json_object_get(jwk, "alg") != NULL && jose_alg_parse(alg) != a)
		return -1;
	return a;
}

enum cid_err cid_keyset_from_jwks(const char *json, size_t len, struct cid_keyset **out)
{
	enum cid_err rc = CID_OK;
	struct cid_keyset *ks = NULL;
	json_t *doc = NULL;
	json_t *pub = json_array();
	const json_t *keys;
	json_t *jwk = NULL;
	json_t *copy = NULL;
	size_t i;

	CID_ENSURE(pub != NULL, CID_ERR_NOMEM);
	CID_ENSURE(json != NULL && len <= CID_MAX_JWKS,
		   json == NULL ? CID_ERR_INVALID : CID_ERR_TOOBIG);
	doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
	keys = json_object_get(doc, "keys");
	CID_ENSURE(json_is_object(doc) && json_is_array(keys), CID_ERR_INVALID);
	CID_ENSURE(json_array_size(keys) <= CID_JWKS_MAX_KEYS, CID_ERR_TOOBIG);
	ks = calloc(1, sizeof(*ks));
	CID_ENSURE(ks != NULL, CID_ERR_NOMEM);
	ks->keys = calloc(json_array_size(keys) + 1, sizeof(*ks->keys));
	CID_ENSURE(ks->keys != NULL, CID_ERR_NOMEM);
	json_array_foreach(keys, i, jwk)
	{
		struct key *k = &ks->keys[ks->n];
		json_t *kid = json_object_get(jwk, "kid");
		int a;

		CID_ENSURE(json_is_object(jwk), CID_ERR_INVALID);
		a = jwk_alg(jwk);
		/* the kid is what a JWS names its key by: a key without one (RFC
		 * 7517 §4.5 allows it) can never be chosen, so it is skipped, not a
		 * reason to refuse the keys beside it; a kid that is there must be sound */
		if (a < 0 || kid == NULL)
			continue;
		CID_ENSURE(json_is_string(kid) && json_string_length(kid) > 0 &&
			       json_string_length(kid) <= CID_JWKS_MAX_KID &&
			       strlen(json_string_value(kid)) == json_string_length(kid),
			   CID_ERR_INVALID);
		CID_ENSURE(jose_key_by_kid(ks, json_string_value(kid), json_string_length(kid)) ==
			       NULL,
			   CID_ERR_INVALID);
		k->alg = (enum alg)a;
		CID_TRY(jwk_pkey(jwk, k->alg, &k->pkey));
		memcpy(k->kid, json_string_value(kid), json_string_length(kid) + 1);
		ks->n++;
		CID_TRY(jose_jwk_public(k->pkey, k->alg, &copy));
		CID_ENSURE(json_object_set(copy, "kid", kid) == 0 &&
			       json_object_set_new(copy, "alg",
						   json_string(jose_alg_names[k->alg])) == 0 &&
			       json_object_set_new(copy, "use", json_string("sig")) == 0,
			   CID_ERR_NOMEM);
		/* the append takes copy even when it fails: never release it twice */
		rc = json_array_append_new(pub, copy) == 0 ? CID_OK : CID_ERR_NOMEM;
		copy = NULL;
		CID_TRY(rc);
	}
	CID_ENSURE(ks->n > 0, CID_ERR_NOTFOUND);
	CID_TRY(jose_keyset_publish(ks, pub));
	if (json_object_get(doc, "issuer") != NULL) {
		const json_t *iss = json_object_get(doc, "issuer");

		CID_ENSURE(issuer_ok(json_string_value(iss)) &&
			       strlen(json_string_value(iss)) == json_string_length(iss),
			   CID_ERR_INVALID);
		ks->issuer = strdup(json_string_value(iss));
		CID_ENSURE(ks->issuer != NULL, CID_ERR_NOMEM);
	}
	*out = ks;
	ks = NULL;
out:
	json_decref(copy);
	json_decref(doc);
	json_decref(pub);
	cid_keyset_free(ks);
	return rc;
}

const char *cid_keyset_jwks(const struct cid_keyset *ks, size_t *len)
{
	*len = ks->jwks_len;
	return ks->jwks;
}

enum cid_err cid_keyset_jwks_issuer(const struct cid_keyset *ks, const char *iss, char **out)
{
	enum cid_err rc = CID_OK;
	json_t *doc = NULL;
	char *text;

	CID_ENSURE(ks != NULL && issuer_ok(iss), CID_ERR_INVALID);
	doc = json_loadb(ks->jwks, ks->jwks_len, 0, NULL);
	CID_ENSURE(doc != NULL && json_object_set_new(doc, "issuer", json_string(iss)) == 0,
		   CID_ERR_NOMEM);
	text = cid_json_dumps(doc, JSON_COMPACT);
	CID_ENSURE(text != NULL, CID_ERR_NOMEM);
	*out = text;
out:
	json_decref(doc);
	return rc;
}

const char *cid_keyset_issuer(const struct cid_keyset *ks)
{
	return ks->issuer;
}
