/*
 * jose: compact JWS, signed and verified with the keys of an immutable keyset.
 *
 * A keyset parses each key once (jose_keys.c from the store, jose_jwks.c from
 * a foreign JWKS) and never changes afterwards: signing and verifying only
 * read it, each call with its own EVP_MD_CTX, so one keyset serves every
 * thread and nothing is parsed per token. The header decides nothing but the
 * kid: the key, and therefore the algorithm, comes from the keyset, so
 * "none", HS256 or any alg but the key's own is refused before a signature
 * is looked at. A signature is checked before the payload is even decoded.
 */
#include "jose_int.h"

#include "bounds.h"
#include "buf.h"
#include "crypto.h"
#include "str.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ES256_SIG 64 /* JWS ES256 signature: r || s (RFC 7518 §3.4) */

const char *const jose_alg_names[ALG_COUNT] = {"ES256", "RS256"};

int jose_alg_parse(const char *name)
{
	if (name == NULL)
		return -1;
	for (int i = 0; i < ALG_COUNT; i++)
		if (strcmp(name, jose_alg_names[i]) == 0)
			return i;
	return -1;
}

const struct key *jose_key_by_kid(const struct cid_keyset *ks, const char *kid, size_t n)
{
	if (n == 0 || n > CID_JWKS_MAX_KID)
		return NULL;
	for (size_t i = 0; i < ks->n; i++)
		if (strlen(ks->keys[i].kid) == n && memcmp(ks->keys[i].kid, kid, n) == 0)
			return &ks->keys[i];
	return NULL;
}

void cid_keyset_free(struct cid_keyset *ks)
{
	if (ks == NULL)
		return;
	for (size_t i = 0; i < ks->n; i++)
		EVP_PKEY_free(ks->keys[i].pkey);
	free(ks->keys);
	free(ks->jwks);
	free(ks->issuer);
	free(ks);
}

/* ---- JWS ---- */

/*
 * Signs [msg, msg+n) with k into sig[SIG_MAX], in JWS form: r || s for ES256
 * (OpenSSL gives DER), the PKCS#1 v1.5 signature for RS256.
 */
static enum cid_err sign_raw(const struct key *k, const char *msg, size_t n, uint8_t sig[SIG_MAX],
			     size_t *siglen)
{
	enum cid_err rc = CID_OK;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	ECDSA_SIG *es = NULL;
	uint8_t der[SIG_MAX];
	size_t derlen = sizeof(der);
	const uint8_t *p = der;
	const BIGNUM *r;
	const BIGNUM *s;

	CID_ENSURE(md != NULL, CID_ERR_NOMEM);
	CID_ENSURE(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k->pkey) == 1, CID_ERR_CRYPTO);
	CID_ENSURE(EVP_DigestSign(md, der, &derlen, (const uint8_t *)msg, n) == 1, CID_ERR_CRYPTO);
	/* OpenSSL 3.0 reports success with a length of (unsigned)-1 when encoding the ECDSA
	 * signature runs out of memory (measured): der holds nothing then */
	CID_ENSURE(derlen > 0 && derlen <= sizeof(der), CID_ERR_CRYPTO);
	if (k->alg == ALG_RS256) {
		memcpy(sig, der, derlen);
		*siglen = derlen;
		goto out;
	}
	/*= RFC 7518 §3.4: the JWS signature is R and S as 32-byte big-endian, concatenated */
	es = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
	CID_ENSURE(es != NULL, CID_ERR_CRYPTO);
	ECDSA_SIG_get0(es, &r, &s);
	CID_ENSURE(BN_bn2binpad(r, sig, ES256_COORD) == ES256_COORD &&
		       BN_bn2binpad(s, sig + ES256_COORD, ES256_COORD) == ES256_COORD,
		   CID_ERR_CRYPTO);
	*siglen = ES256_SIG;
out:
	if (rc != CID_OK)
		ERR_clear_error();
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(md);
	return rc;
}

enum cid_err cid_jws_sign(const struct cid_keyset *ks, const char *alg, const char *typ,
			  const json_t *claims, char **out)
{
	enum cid_err rc = CID_OK;
	int a = jose_alg_parse(alg);
	const struct key *k = a < 0 ? NULL : ks->active[a];
	json_t *header = NULL;
	char *h = NULL;
	char *p = NULL;
	char *tok = NULL;
	uint8_t sig[SIG_MAX];
	size_t siglen = 0;
	size_t hl;
	size_t pl;
	size_t sl;

	CID_ENSURE(k != NULL && json_is_object(claims), CID_ERR_INVALID);
	if (typ != NULL)
		header = json_pack("{s:s, s:s, s:s}", "alg", jose_alg_names[k->alg], "typ", typ,
				   "kid", k->kid);
	else
		header = json_pack("{s:s, s:s}", "alg", jose_alg_names[k->alg], "kid", k->kid);
	CID_ENSURE(header != NULL, CID_ERR_NOMEM);
	h = cid_json_dumps(header, JSON_COMPACT | JSON_SORT_KEYS);
	p = cid_json_dumps(claims, JSON_COMPACT);
	CID_ENSURE(h != NULL && p != NULL, CID_ERR_NOMEM);
	hl = cid_b64url_len(strlen(h));
	pl = cid_b64url_len(strlen(p));
	sl = cid_b64url_len(SIG_MAX);
	tok = malloc(hl + 1 + pl + 1 + sl + 1);
	CID_ENSURE(tok != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_b64url_encode(h, strlen(h), tok, hl + 1));
	tok[hl] = '.';
	CID_TRY(cid_b64url_encode(p, strlen(p), tok + hl + 1, pl + 1));
	tok[hl + 1 + pl] = '.';
	CID_TRY(sign_raw(k, tok, hl + 1 + pl, sig, &siglen));
	CID_TRY(cid_b64url_encode(sig, siglen, tok + hl + 1 + pl + 1, sl + 1));
	*out = tok;
	tok = NULL;
out:
	json_decref(header);
	free(h);
	free(p);
	free(tok);
	return rc;
}

/* Verifies a JWS signature (r || s for ES256) over [msg, msg+n): CID_ERR_DENIED if it does not. */
static enum cid_err verify_raw(const struct key *k, const char *msg, size_t n, const uint8_t *sig,
			       size_t siglen)
{
	enum cid_err rc = CID_OK;
	EVP_MD_CTX *md = NULL;
	ECDSA_SIG *es = NULL;
	BIGNUM *r = NULL;
	BIGNUM *s = NULL;
	uint8_t *der = NULL;
	int derlen;

	if (k->alg == ALG_ES256) {
		/*= RFC 7518 §3.4: a signature that is not 64 octets MUST be rejected */
		CID_ENSURE(siglen == ES256_SIG, CID_ERR_DENIED);
		es = ECDSA_SIG_new();
		r = BN_bin2bn(sig, ES256_COORD, NULL);
		s = BN_bin2bn(sig + ES256_COORD, ES256_COORD, NULL);
		CID_ENSURE(es != NULL && r != NULL && s != NULL, CID_ERR_NOMEM);
		CID_ENSURE(ECDSA_SIG_set0(es, r, s) == 1, CID_ERR_CRYPTO);
		r = NULL; /* owned by es now */
		s = NULL;
		derlen = i2d_ECDSA_SIG(es, &der);
		CID_ENSURE(derlen > 0, CID_ERR_CRYPTO);
		sig = der;
		siglen = (size_t)derlen;
	}
	md = EVP_MD_CTX_new();
	CID_ENSURE(md != NULL, CID_ERR_NOMEM);
	CID_ENSURE(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, k->pkey) == 1,
		   CID_ERR_CRYPTO);
	CID_ENSURE(EVP_DigestVerify(md, sig, siglen, (const uint8_t *)msg, n) == 1, CID_ERR_DENIED);
out:
	if (rc != CID_OK)
		ERR_clear_error();
	EVP_MD_CTX_free(md);
	OPENSSL_free(der);
	ECDSA_SIG_free(es);
	BN_free(r);
	BN_free(s);
	return rc;
}

/*= RFC 7515 §4.1.9: typ is compared case-insensitively; "application/" may be omitted */
static bool typ_matches(const json_t *have, const char *want)
{
	static const char prefix[] = "application/";
	const char *t = json_string_value(have);
	size_t n = json_string_length(have);
	size_t wn = strlen(want);

	if (t == NULL)
		return false;
	if (n > sizeof(prefix) - 1 && strncasecmp(t, prefix, sizeof(prefix) - 1) == 0) {
		t += sizeof(prefix) - 1;
		n -= sizeof(prefix) - 1;
	}
	return n == wn && strncasecmp(t, want, n) == 0;
}

/* Decodes a base64url part of a JWS into a new buffer (NUL-terminated for convenience). */
static enum cid_err part_decode(const char *in, size_t n, uint8_t **out, size_t *outlen)
{
	enum cid_err rc = CID_OK;
	size_t cap = n / 4 * 3 + 3;
	uint8_t *d = malloc(cap + 1);

	CID_ENSURE(d != NULL, CID_ERR_NOMEM);
	CID_ENSURE(n > 0 && cid_b64url_decode(in, n, d, cap, outlen) == CID_OK, CID_ERR_INVALID);
	d[*outlen] = '\0';
	*out = d;
	d = NULL;
out:
	free(d);
	return rc;
}

enum cid_err cid_jws_verify(const struct cid_keyset *ks, const char *jws, size_t len,
			    const char *typ, json_t **claims_out)
{
	return cid_jws_verify_max(ks, jws, len, CID_MAX_TOKEN, typ, claims_out);
}

enum cid_err cid_jws_verify_max(const struct cid_keyset *ks, const char *jws, size_t len,
				size_t max, const char *typ, json_t **claims_out)
{
	enum cid_err rc = CID_OK;
	const char *dot1;
	const char *dot2;
	const struct key *k;
	const json_t *kid;
	uint8_t *hbuf = NULL;
	uint8_t *pbuf = NULL;
	uint8_t *sbuf = NULL;
	size_t hlen;
	size_t plen;
	size_t slen;
	json_t *header = NULL;
	json_t *claims = NULL;

	CID_ENSURE(jws != NULL && len > 0, CID_ERR_INVALID);
	CID_ENSURE(len <= max && max <= CID_MAX_RECEIPT, CID_ERR_TOOBIG);
	/* exactly three parts: two dots, the third part holds none */
	dot1 = memchr(jws, '.', len);
	CID_ENSURE(dot1 != NULL, CID_ERR_INVALID);
	dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - jws));
	CID_ENSURE(dot2 != NULL, CID_ERR_INVALID);
	CID_ENSURE(memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - jws)) == NULL, CID_ERR_INVALID);

	CID_TRY(part_decode(jws, (size_t)(dot1 - jws), &hbuf, &hlen));
	header = json_loadb((const char *)hbuf, hlen, JSON_REJECT_DUPLICATES, NULL);
	CID_ENSURE(json_is_object(header), CID_ERR_INVALID);
	/*= RFC 7515 §4.1.11: extensions listed in crit that are not understood MUST be rejected */
	CID_ENSURE(json_object_get(header, "crit") == NULL, CID_ERR_INVALID);
	kid = json_object_get(header, "kid");
	CID_ENSURE(json_is_string(kid), CID_ERR_INVALID);
	k = jose_key_by_kid(ks, json_string_value(kid), json_string_length(kid));
	CID_ENSURE(k != NULL, CID_ERR_INVALID);
	/* the key fixes the algorithm: "none", HS256 or another alg is refused outright */
	CID_ENSURE(json_is_string(json_object_get(header, "alg")) &&
		       strcmp(cid_json_str(header, "alg"), jose_alg_names[k->alg]) == 0 &&
		       json_string_length(json_object_get(header, "alg")) ==
			   strlen(jose_alg_names[k->alg]),
		   CID_ERR_INVALID);
	if (typ != NULL)
		CID_ENSURE(typ_matches(json_object_get(header, "typ"), typ), CID_ERR_INVALID);

	CID_TRY(part_decode(dot2 + 1, len - (size_t)(dot2 + 1 - jws), &sbuf, &slen));
	CID_TRY(verify_raw(k, jws, (size_t)(dot2 - jws), sbuf, slen));

	CID_TRY(part_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &pbuf, &plen));
	claims = json_loadb((const char *)pbuf, plen, JSON_REJECT_DUPLICATES, NULL);
	CID_ENSURE(json_is_object(claims), CID_ERR_INVALID);
	*claims_out = claims;
	claims = NULL;
out:
	free(hbuf);
	free(pbuf);
	free(sbuf);
	json_decref(header);
	json_decref(claims);
	return rc;
}

enum cid_err cid_jose_half_hash(const char *alg, const char *token, char out[44])
{
	uint8_t h[32];
	enum cid_err rc;

	/*= OIDC Core §3.1.3.6: hash with the alg's hash, keep the left-most half */
	if (jose_alg_parse(alg) < 0 || token == NULL)
		return CID_ERR_INVALID;
	cid_sha256(token, strlen(token), h);
	rc = cid_b64url_encode(h, sizeof(h) / 2, out, 44);
	cid_wipe(h, sizeof(h));
	return rc;
}
