/*
 * jose: keys made in a real LMDB store, the keyset and its JWKS, compact JWS
 * signing and verification (with forged and damaged tokens), rotation with
 * overlap, and, where libjwt is available, an independent verifier.
 */
#include "bounds.h"
#include "jose.h"
#include "str.h"
#include "support.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#ifdef CID_HAVE_LIBJWT
#include <jwt.h>
#endif

#define NOW  1800000000
#define KEEP 600

struct fixture {
	char dir[256];
	struct cid_store *s;
	struct cid_keyset *ks;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->s = cid_test_store_open(f->dir);
	f->ks = cid_test_keyset(f->s, NOW);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	cid_keyset_free(f->ks);
	cid_test_store_close(f->s, f->dir);
	free(f);
	return 0;
}

/* ---- helpers ---- */

static json_t *claims_new(void)
{
	json_t *c =
	    json_pack("{s:s, s:s, s:s, s:I, s:I}", "iss", "https://id.example", "sub", "citizen-1",
		      "aud", "rp1", "iat", (json_int_t)NOW, "exp", (json_int_t)(NOW + 300));

	assert_non_null(c);
	return c;
}

static char *b64(const void *d, size_t n)
{
	size_t sz = cid_b64url_len(n) + 1;
	char *out = malloc(sz);

	assert_non_null(out);
	assert_int_equal(cid_b64url_encode(d, n, out, sz), CID_OK);
	return out;
}

static char *b64_str(const char *s)
{
	return b64(s, strlen(s));
}

/* "a.b.c" from three parts (caller frees). */
static char *join3(const char *a, const char *b, const char *c)
{
	size_t n = strlen(a) + strlen(b) + strlen(c) + 3;
	char *out = malloc(n);

	assert_non_null(out);
	assert_true(snprintf(out, n, "%s.%s.%s", a, b, c) == (int)n - 1);
	return out;
}

/* Decodes part i (0-based) of a compact JWS into a new JSON object. */
static json_t *jws_part_json(const char *jws, int part)
{
	const char *p = jws;
	const char *end;
	uint8_t buf[CID_MAX_TOKEN];
	size_t n = 0;
	json_t *o;

	for (int i = 0; i < part; i++) {
		p = strchr(p, '.');
		assert_non_null(p);
		p++;
	}
	end = strchr(p, '.');
	if (end == NULL)
		end = p + strlen(p);
	assert_int_equal(cid_b64url_decode(p, (size_t)(end - p), buf, sizeof(buf), &n), CID_OK);
	o = json_loadb((const char *)buf, n, 0, NULL);
	assert_non_null(o);
	return o;
}

static void kid_of(const char *jws, char kid[64])
{
	json_t *h = jws_part_json(jws, 0);

	assert_true(snprintf(kid, 64, "%s", json_string_value(json_object_get(h, "kid"))) > 0);
	json_decref(h);
}

static char *sign(const struct cid_keyset *ks, const char *alg, const char *typ)
{
	json_t *c = claims_new();
	char *out = NULL;

	assert_int_equal(cid_jws_sign(ks, alg, typ, c, &out), CID_OK);
	assert_non_null(out);
	json_decref(c);
	return out;
}

static enum cid_err verify(const struct cid_keyset *ks, const char *jws, const char *typ)
{
	json_t *c = NULL;
	enum cid_err rc = cid_jws_verify(ks, jws, strlen(jws), typ, &c);

	if (rc == CID_OK) {
		assert_true(json_is_object(c));
		assert_string_equal(json_string_value(json_object_get(c, "sub")), "citizen-1");
	} else {
		assert_null(c);
	}
	json_decref(c);
	return rc;
}

/* The stored record of kid (including its private PEM: tests only). */
static json_t *record_of(struct cid_store *s, const char *kid)
{
	struct cid_txn *txn = NULL;
	json_t *rec = NULL;

	assert_int_equal(cid_store_read_begin(s, &txn), CID_OK);
	assert_int_equal(cid_txn_get_json(txn, CID_DB_KEYS, cid_str_of(kid), &rec), CID_OK);
	cid_store_read_end(txn);
	return rec;
}

static EVP_PKEY *private_key_of(struct cid_store *s, const char *kid)
{
	json_t *rec = record_of(s, kid);
	const char *pem = json_string_value(json_object_get(rec, "private_pem"));
	BIO *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *pkey;

	assert_non_null(bio);
	pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	assert_non_null(pkey);
	BIO_free(bio);
	json_decref(rec);
	return pkey;
}

/* The active kid of alg, from cid_keys_list. */
static void active_kid(struct cid_store *s, const char *alg, char kid[64])
{
	json_t *list = NULL;
	json_t *k;
	size_t i;
	int found = 0;

	assert_int_equal(cid_keys_list(s, &list), CID_OK);
	json_array_foreach(list, i, k)
	{
		if (strcmp(json_string_value(json_object_get(k, "alg")), alg) == 0 &&
		    strcmp(json_string_value(json_object_get(k, "state")), "active") == 0) {
			assert_true(snprintf(kid, 64, "%s",
					     json_string_value(json_object_get(k, "kid"))) == 43);
			found++;
		}
	}
	assert_int_equal(found, 1);
	json_decref(list);
}

/*
 * An RS256 JWS over arbitrary header and payload bytes, signed with the stored
 * key kid by OpenSSL directly: lets a test reach the checks after the signature.
 */
static char *sign_rs256_raw(struct cid_store *s, const char *kid, const char *header,
			    const char *payload)
{
	EVP_PKEY *pkey = private_key_of(s, kid);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	char *h = b64_str(header);
	char *p = b64_str(payload);
	size_t n = strlen(h) + strlen(p) + 2;
	char *input = malloc(n);
	uint8_t sig[512];
	size_t siglen = sizeof(sig);
	char *sb;
	char *out;

	assert_non_null(md);
	assert_non_null(input);
	assert_true(snprintf(input, n, "%s.%s", h, p) == (int)n - 1);
	assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pkey), 1);
	assert_int_equal(EVP_DigestSign(md, sig, &siglen, (const uint8_t *)input, n - 1), 1);
	sb = b64(sig, siglen);
	out = join3(h, p, sb);
	free(sb);
	free(input);
	free(h);
	free(p);
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pkey);
	return out;
}

/* ---- key creation ---- */

static void test_ensure_creates_one_key_per_alg_once(void **state)
{
	char dir[256];
	struct cid_store *s = cid_test_store_open(dir);
	struct cid_keyset *ks = NULL;
	json_t *list = NULL;
	json_t *again = NULL;
	uint64_t v = 99;
	json_t *rec;
	char es[64];
	char rs[64];

	(void)state;
	assert_int_equal(cid_keys_version(s, &v), CID_OK);
	assert_int_equal(v, 0);
	/* no key yet: the keyset refuses to load rather than sign with nothing */
	assert_int_equal(cid_keyset_load(s, NOW, &ks), CID_ERR_NOTFOUND);
	assert_null(ks);

	assert_int_equal(cid_keys_ensure(s, NOW), CID_OK);
	assert_int_equal(cid_keys_list(s, &list), CID_OK);
	assert_int_equal(json_array_size(list), 2);
	assert_int_equal(cid_keys_version(s, &v), CID_OK);
	assert_int_equal(v, 1);
	active_kid(s, "ES256", es);
	active_kid(s, "RS256", rs);
	assert_string_not_equal(es, rs);

	/* the stored record: PKCS#8 PEM, active, created now */
	rec = record_of(s, es);
	assert_string_equal(json_string_value(json_object_get(rec, "kid")), es);
	assert_string_equal(json_string_value(json_object_get(rec, "alg")), "ES256");
	assert_string_equal(json_string_value(json_object_get(rec, "state")), "active");
	assert_int_equal(json_integer_value(json_object_get(rec, "created_at")), NOW);
	assert_true(strncmp(json_string_value(json_object_get(rec, "private_pem")),
			    "-----BEGIN PRIVATE KEY-----", 27) == 0);
	json_decref(rec);

	/* idempotent: same keys, no version change */
	assert_int_equal(cid_keys_ensure(s, NOW + 100), CID_OK);
	assert_int_equal(cid_keys_list(s, &again), CID_OK);
	assert_true(json_equal(list, again));
	assert_int_equal(cid_keys_version(s, &v), CID_OK);
	assert_int_equal(v, 1);

	json_decref(list);
	json_decref(again);
	cid_test_store_close(s, dir);
}

/* ---- JWKS ---- */

static void check_thumbprint(const json_t *jwk)
{
	const char *kty = json_string_value(json_object_get(jwk, "kty"));
	char canon[1024];
	uint8_t h[SHA256_DIGEST_LENGTH];
	char kid[64];
	int n;

	/*= RFC 7638 §3.2: required members only, lexicographic order, no whitespace */
	if (strcmp(kty, "EC") == 0)
		n = snprintf(canon, sizeof(canon),
			     "{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
			     json_string_value(json_object_get(jwk, "crv")),
			     json_string_value(json_object_get(jwk, "x")),
			     json_string_value(json_object_get(jwk, "y")));
	else
		n = snprintf(canon, sizeof(canon), "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}",
			     json_string_value(json_object_get(jwk, "e")),
			     json_string_value(json_object_get(jwk, "n")));
	assert_true(n > 0 && (size_t)n < sizeof(canon));
	SHA256((const uint8_t *)canon, (size_t)n, h);
	assert_int_equal(cid_b64url_encode(h, sizeof(h), kid, sizeof(kid)), CID_OK);
	assert_string_equal(kid, json_string_value(json_object_get(jwk, "kid")));
}

/* The JWK's x and y are the public point of the stored private key. */
static void check_ec_point(struct cid_store *s, const json_t *jwk)
{
	EVP_PKEY *pkey = private_key_of(s, json_string_value(json_object_get(jwk, "kid")));
	uint8_t pub[65];
	uint8_t xy[64];
	size_t publen = 0;
	size_t n = 0;
	const char *x = json_string_value(json_object_get(jwk, "x"));
	const char *y = json_string_value(json_object_get(jwk, "y"));

	assert_int_equal(EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, pub,
							 sizeof(pub), &publen),
			 1);
	assert_int_equal(publen, 65);
	assert_int_equal(pub[0], 0x04);
	assert_int_equal(strlen(x), 43);
	assert_int_equal(strlen(y), 43);
	assert_int_equal(cid_b64url_decode(x, 43, xy, 32, &n), CID_OK);
	assert_int_equal(n, 32);
	assert_int_equal(cid_b64url_decode(y, 43, xy + 32, 32, &n), CID_OK);
	assert_memory_equal(xy, pub + 1, 64);
	EVP_PKEY_free(pkey);
}

static void test_jwks_has_public_keys_only(void **state)
{
	static const char *const private_members[] = {"d",  "p",   "q", "dp",	      "dq",
						      "qi", "oth", "k", "private_pem"};
	struct fixture *f = *state;
	size_t len = 0;
	const char *doc = cid_keyset_jwks(f->ks, &len);
	json_t *jwks = json_loadb(doc, len, JSON_REJECT_DUPLICATES, NULL);
	json_t *keys = json_object_get(jwks, "keys");
	json_t *k;
	size_t i;
	char es[64];
	char rs[64];

	assert_int_equal(strlen(doc), len);
	assert_null(strstr(doc, "PRIVATE"));
	assert_true(json_is_array(keys));
	assert_int_equal(json_array_size(keys), 2);
	assert_int_equal(json_object_size(jwks), 1);
	active_kid(f->s, "ES256", es);
	active_kid(f->s, "RS256", rs);
	json_array_foreach(keys, i, k)
	{
		const char *kid = json_string_value(json_object_get(k, "kid"));
		const char *alg = json_string_value(json_object_get(k, "alg"));

		for (size_t m = 0; m < sizeof(private_members) / sizeof(private_members[0]); m++)
			assert_null(json_object_get(k, private_members[m]));
		assert_string_equal(json_string_value(json_object_get(k, "use")), "sig");
		check_thumbprint(k);
		if (strcmp(alg, "ES256") == 0) {
			assert_string_equal(kid, es);
			assert_string_equal(json_string_value(json_object_get(k, "kty")), "EC");
			assert_string_equal(json_string_value(json_object_get(k, "crv")), "P-256");
			assert_int_equal(json_object_size(k), 7);
			check_ec_point(f->s, k);
		} else {
			assert_string_equal(alg, "RS256");
			assert_string_equal(kid, rs);
			assert_string_equal(json_string_value(json_object_get(k, "kty")), "RSA");
			assert_string_equal(json_string_value(json_object_get(k, "e")), "AQAB");
			/* 2048-bit modulus, no leading zero octet: 256 bytes, 342 chars */
			assert_int_equal(strlen(json_string_value(json_object_get(k, "n"))), 342);
			assert_int_equal(json_object_size(k), 6);
		}
	}
	assert_int_equal(cid_keyset_version(f->ks), 1);
	assert_int_equal(cid_keyset_next_drop(f->ks), 0);
	json_decref(jwks);
}

/* ---- sign and verify ---- */

static void test_sign_verify_round_trip(void **state)
{
	static const struct {
		const char *alg;
		const char *typ;
		size_t sig_chars;
	} rows[] = {
	    {"ES256", "JWT", 86},
	    {"ES256", "at+jwt", 86},
	    {"RS256", "JWT", 342},
	    {"RS256", "at+jwt", 342},
	};
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		json_t *in = claims_new();
		json_t *out = NULL;
		json_t *h;
		char *jws = NULL;
		char kid[64];

		assert_int_equal(json_object_set_new(in, "nonce", json_string("n-\xc3\xa9\"/")), 0);
		assert_int_equal(cid_jws_sign(f->ks, rows[i].alg, rows[i].typ, in, &jws), CID_OK);
		assert_int_equal(strlen(strrchr(jws, '.') + 1), rows[i].sig_chars);
		h = jws_part_json(jws, 0);
		active_kid(f->s, rows[i].alg, kid);
		assert_int_equal(json_object_size(h), 3);
		assert_string_equal(json_string_value(json_object_get(h, "alg")), rows[i].alg);
		assert_string_equal(json_string_value(json_object_get(h, "typ")), rows[i].typ);
		assert_string_equal(json_string_value(json_object_get(h, "kid")), kid);
		assert_int_equal(cid_jws_verify(f->ks, jws, strlen(jws), rows[i].typ, &out),
				 CID_OK);
		assert_true(json_equal(in, out));
		json_decref(out);
		/* typ NULL: the caller does not care about typ */
		assert_int_equal(verify(f->ks, jws, NULL), CID_OK);
		json_decref(h);
		json_decref(in);
		free(jws);
	}
}

static void test_sign_refuses_unknown_alg_and_non_object(void **state)
{
	struct fixture *f = *state;
	json_t *c = claims_new();
	json_t *arr = json_array();
	char *out = NULL;

	assert_int_equal(cid_jws_sign(f->ks, "HS256", "JWT", c, &out), CID_ERR_INVALID);
	assert_int_equal(cid_jws_sign(f->ks, "none", "JWT", c, &out), CID_ERR_INVALID);
	assert_int_equal(cid_jws_sign(f->ks, "es256", "JWT", c, &out), CID_ERR_INVALID);
	assert_int_equal(cid_jws_sign(f->ks, NULL, "JWT", c, &out), CID_ERR_INVALID);
	assert_int_equal(cid_jws_sign(f->ks, "ES256", "JWT", arr, &out), CID_ERR_INVALID);
	assert_null(out);
	json_decref(c);
	json_decref(arr);
}

static void test_typ_must_match_when_asked(void **state)
{
	static const struct {
		const char *signed_typ; /* NULL: header without typ */
		const char *want;
		enum cid_err expect;
	} rows[] = {
	    {"JWT", "at+jwt", CID_ERR_INVALID},
	    {"at+jwt", "JWT", CID_ERR_INVALID},
	    {"logout+jwt", "JWT", CID_ERR_INVALID},
	    {NULL, "JWT", CID_ERR_INVALID},
	    {"application/at+jwt", "at+jwt", CID_OK},
	    {"APPLICATION/AT+JWT", "at+jwt", CID_OK},
	    {"jwt", "JWT", CID_OK},
	    {"application/", "JWT", CID_ERR_INVALID},
	    {"xat+jwt", "at+jwt", CID_ERR_INVALID},
	    {NULL, NULL, CID_OK},
	};
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		for (int a = 0; a < 2; a++) {
			char *jws = sign(f->ks, a == 0 ? "ES256" : "RS256", rows[i].signed_typ);

			assert_int_equal(verify(f->ks, jws, rows[i].want), rows[i].expect);
			free(jws);
		}
	}
}

/* Replaces part idx of jws by repl (caller frees). */
static char *replace_part(const char *jws, int idx, const char *repl)
{
	char *copy = strdup(jws);
	char *dot1;
	char *dot2;
	const char *parts[3];
	char *out;

	assert_non_null(copy);
	dot1 = strchr(copy, '.');
	assert_non_null(dot1);
	*dot1 = '\0';
	dot2 = strchr(dot1 + 1, '.');
	assert_non_null(dot2);
	*dot2 = '\0';
	parts[0] = copy;
	parts[1] = dot1 + 1;
	parts[2] = dot2 + 1;
	parts[idx] = repl;
	out = join3(parts[0], parts[1], parts[2]);
	free(copy);
	return out;
}

static void test_tampered_tokens_are_denied(void **state)
{
	struct fixture *f = *state;

	for (int a = 0; a < 2; a++) {
		const char *alg = a == 0 ? "ES256" : "RS256";
		char *jws = sign(f->ks, alg, "JWT");
		json_t *oc = json_pack("{s:s}", "sub", "citizen-2");
		char *other = NULL;
		char *forged_payload = b64_str("{\"sub\":\"citizen-1\",\"admin\":true}");
		char *t;
		uint8_t raw[512];
		size_t rawlen = 0;
		char *sig = strrchr(jws, '.') + 1;
		char *sb;

		assert_int_equal(cid_jws_sign(f->ks, alg, "JWT", oc, &other), CID_OK);
		json_decref(oc);

		/* another payload under the original signature */
		t = replace_part(jws, 1, forged_payload);
		assert_int_equal(verify(f->ks, t, "JWT"), CID_ERR_DENIED);
		free(t);

		/* one signature bit flipped (in the middle: the last char holds padding bits) */
		assert_int_equal(cid_b64url_decode(sig, strlen(sig), raw, sizeof(raw), &rawlen),
				 CID_OK);
		raw[rawlen / 2] ^= 0x01;
		sb = b64(raw, rawlen);
		t = replace_part(jws, 2, sb);
		assert_int_equal(verify(f->ks, t, "JWT"), CID_ERR_DENIED);
		free(t);
		free(sb);

		/* a truncated signature */
		sb = b64(raw, rawlen - 1);
		t = replace_part(jws, 2, sb);
		assert_int_equal(verify(f->ks, t, "JWT"), CID_ERR_DENIED);
		free(t);
		free(sb);

		/* all zero: r = s = 0 for ES256 */
		memset(raw, 0, rawlen);
		sb = b64(raw, rawlen);
		t = replace_part(jws, 2, sb);
		assert_int_equal(verify(f->ks, t, "JWT"), CID_ERR_DENIED);
		free(t);
		free(sb);

		/* the signature of another token (other claims) of the same key */
		t = replace_part(jws, 2, strrchr(other, '.') + 1);
		assert_int_equal(verify(f->ks, t, "JWT"), CID_ERR_DENIED);
		free(t);

		free(forged_payload);
		free(other);
		free(jws);
	}
}

static void test_header_attacks_are_invalid(void **state)
{
	struct fixture *f = *state;
	char es[64];
	char rs[64];
	char h[512];
	char *payload = b64_str("{\"sub\":\"citizen-1\"}");
	char *es_jws = sign(f->ks, "ES256", "JWT");
	const char *es_sig = strrchr(es_jws, '.') + 1;
	const char *headers[12];
	char bufs[12][512];
	const char unknown[] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
	size_t n = 0;

	active_kid(f->s, "ES256", es);
	active_kid(f->s, "RS256", rs);

#define HDR(...)                                                                                   \
	do {                                                                                       \
		assert_true(snprintf(bufs[n], sizeof(bufs[n]), __VA_ARGS__) > 0);                  \
		headers[n] = bufs[n];                                                              \
		n++;                                                                               \
	} while (0)
	HDR("{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"%s\"}", unknown);
	HDR("{\"alg\":\"none\",\"typ\":\"JWT\",\"kid\":\"%s\"}", es);
	HDR("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"%s\"}", es);
	HDR("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"%s\"}", rs);
	HDR("{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"%s\"}", es);
	HDR("{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"%s\"}", rs);
	HDR("{\"alg\":\"ES256\",\"typ\":\"JWT\"}");
	HDR("{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"%s\",\"kid\":\"%s\"}", es, es);
	HDR("{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"%s\",\"crit\":[\"exp\"],\"exp\":1}", es);
	HDR("{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"%s\\u0000x\"}", es);
	HDR("{\"typ\":\"JWT\",\"kid\":\"%s\"}", es);
	HDR("[\"ES256\"]");
#undef HDR
	for (size_t i = 0; i < n; i++) {
		char *hb = b64_str(headers[i]);
		char *t = join3(hb, payload, es_sig);

		assert_int_equal(verify(f->ks, t, "JWT"), CID_ERR_INVALID);
		free(hb);
		free(t);
	}

	/* alg none with an empty signature */
	assert_true(snprintf(h, sizeof(h), "{\"alg\":\"none\",\"kid\":\"%s\"}", es) > 0);
	{
		char *hb = b64_str(h);
		char *t = join3(hb, payload, "");

		assert_int_equal(verify(f->ks, t, NULL), CID_ERR_INVALID);
		free(hb);
		free(t);
	}
	free(payload);
	free(es_jws);
}

/* A well-signed token whose payload is not a JSON object is still refused. */
static void test_signed_payload_must_be_object(void **state)
{
	static const char *const payloads[] = {"[1,2]", "\"sub\"", "{\"a\":1,\"a\":2}",
					       "{",	"",	   "{\"sub\":\"citizen-1\"} x"};
	struct fixture *f = *state;
	char rs[64];
	char h[256];

	active_kid(f->s, "RS256", rs);
	assert_true(
	    snprintf(h, sizeof(h), "{\"alg\":\"RS256\",\"kid\":\"%s\",\"typ\":\"JWT\"}", rs) > 0);
	{
		/* the helper itself is sound: a good payload verifies */
		char *t = sign_rs256_raw(f->s, rs, h, "{\"sub\":\"citizen-1\"}");

		assert_int_equal(verify(f->ks, t, "JWT"), CID_OK);
		free(t);
	}
	for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
		char *t = sign_rs256_raw(f->s, rs, h, payloads[i]);

		assert_int_equal(verify(f->ks, t, "JWT"), CID_ERR_INVALID);
		free(t);
	}
}

static void test_malformed_tokens(void **state)
{
	struct fixture *f = *state;
	char *good = sign(f->ks, "ES256", "JWT");
	char *dot1 = strchr(good, '.');
	char *dot2 = strrchr(good, '.');
	char two[CID_MAX_TOKEN];
	char four[CID_MAX_TOKEN + 16];
	char bad_b64[CID_MAX_TOKEN + 16];
	char padded[CID_MAX_TOKEN + 16];
	char *big = malloc(5000);
	json_t *c = NULL;

	const struct {
		const char *jws;
		enum cid_err expect;
	} rows[] = {
	    {"", CID_ERR_INVALID},	   {"abc", CID_ERR_INVALID},
	    {"..", CID_ERR_INVALID},	   {"...", CID_ERR_INVALID},
	    {"e30.e30.", CID_ERR_INVALID}, {"bm90IGpzb24.e30.AAAA", CID_ERR_INVALID},
	    {two, CID_ERR_INVALID},	   {four, CID_ERR_INVALID},
	    {bad_b64, CID_ERR_INVALID},	   {padded, CID_ERR_INVALID},
	};

	assert_non_null(big);
	/* header.payload only */
	assert_true(snprintf(two, sizeof(two), "%.*s", (int)(dot2 - good), good) > 0);
	/* four parts */
	assert_true(snprintf(four, sizeof(four), "%s.AAAA", good) > 0);
	/* a character outside base64url in the header */
	assert_true(snprintf(bad_b64, sizeof(bad_b64), "*%s", good + 1) > 0);
	/* '=' padding is not base64url as JWS uses it */
	assert_true(snprintf(padded, sizeof(padded), "%.*s=%s", (int)(dot1 - good), good, dot1) >
		    0);

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		assert_int_equal(verify(f->ks, rows[i].jws, "JWT"), rows[i].expect);

	/* over CID_MAX_TOKEN: refused before any parsing */
	memset(big, 'A', 4999);
	big[4999] = '\0';
	memcpy(big, good, strlen(good));
	assert_int_equal(cid_jws_verify(f->ks, big, 4999, "JWT", &c), CID_ERR_TOOBIG);
	assert_int_equal(cid_jws_verify(f->ks, big, CID_MAX_TOKEN + 1, "JWT", &c), CID_ERR_TOOBIG);
	assert_int_equal(cid_jws_verify(f->ks, NULL, 0, "JWT", &c), CID_ERR_INVALID);
	/* a length shorter than the string: the signature is cut to 84 chars, 63 bytes */
	assert_int_equal(cid_jws_verify(f->ks, good, strlen(good) - 2, "JWT", &c), CID_ERR_DENIED);
	assert_null(c);
	free(big);
	free(good);
}

/* ---- rotation ---- */

static bool jwks_has(const struct cid_keyset *ks, const char *kid, size_t *pos)
{
	size_t len;
	const char *doc = cid_keyset_jwks(ks, &len);
	json_t *jwks = json_loadb(doc, len, 0, NULL);
	json_t *k;
	size_t i;
	bool found = false;

	assert_non_null(jwks);
	json_array_foreach(json_object_get(jwks, "keys"), i, k)
	{
		if (strcmp(json_string_value(json_object_get(k, "kid")), kid) == 0) {
			found = true;
			if (pos != NULL)
				*pos = i;
		}
	}
	json_decref(jwks);
	return found;
}

static void test_rotation_keeps_old_key_until_drop_after(void **state)
{
	struct fixture *f = *state;
	struct cid_keyset *ks2 = NULL;
	struct cid_keyset *ks3 = NULL;
	char old_kid[64];
	char tok_kid[64];
	char *new_kid = NULL;
	char *old_tok = sign(f->ks, "ES256", "at+jwt");
	char *new_tok;
	uint64_t v = 0;
	json_t *old_rec;
	size_t pos = 99;

	active_kid(f->s, "ES256", old_kid);
	assert_int_equal(cid_keys_rotate(f->s, "ES256", NOW + 10, KEEP, &new_kid), CID_OK);
	assert_non_null(new_kid);
	assert_string_not_equal(new_kid, old_kid);
	assert_int_equal(cid_keys_version(f->s, &v), CID_OK);
	assert_int_equal(v, 2);

	/* the store: old key retired with its times, new one active */
	old_rec = record_of(f->s, old_kid);
	assert_string_equal(json_string_value(json_object_get(old_rec, "state")), "retired");
	assert_int_equal(json_integer_value(json_object_get(old_rec, "retired_at")), NOW + 10);
	assert_int_equal(json_integer_value(json_object_get(old_rec, "drop_after")),
			 NOW + 10 + KEEP);
	json_decref(old_rec);
	{
		char now_active[64];

		active_kid(f->s, "ES256", now_active);
		assert_string_equal(now_active, new_kid);
	}

	/* the old keyset still signs with the old key: rotation needs a reload */
	assert_int_equal(cid_keyset_version(f->ks), 1);

	assert_int_equal(cid_keyset_load(f->s, NOW + 20, &ks2), CID_OK);
	assert_int_equal(cid_keyset_version(ks2), 2);
	assert_int_equal(cid_keyset_next_drop(ks2), NOW + 10 + KEEP);
	new_tok = sign(ks2, "ES256", "at+jwt");
	kid_of(new_tok, tok_kid);
	assert_string_equal(tok_kid, new_kid);
	assert_true(jwks_has(ks2, new_kid, &pos));
	assert_true(pos < 2); /* active keys first */
	assert_true(jwks_has(ks2, old_kid, &pos));
	assert_int_equal(pos, 2);
	assert_int_equal(verify(ks2, old_tok, "at+jwt"), CID_OK);
	assert_int_equal(verify(ks2, new_tok, "at+jwt"), CID_OK);
	/* the old keyset does not know the new key */
	assert_int_equal(verify(f->ks, new_tok, "at+jwt"), CID_ERR_INVALID);

	/* at drop_after the old key is gone */
	assert_int_equal(cid_keyset_load(f->s, NOW + 10 + KEEP, &ks3), CID_OK);
	assert_int_equal(cid_keyset_next_drop(ks3), 0);
	assert_false(jwks_has(ks3, old_kid, NULL));
	assert_true(jwks_has(ks3, new_kid, NULL));
	assert_int_equal(verify(ks3, old_tok, "at+jwt"), CID_ERR_INVALID);
	assert_int_equal(verify(ks3, new_tok, "at+jwt"), CID_OK);

	/* the other algorithm was untouched; its keys keep working */
	{
		char *rs_tok = sign(f->ks, "RS256", "JWT");

		assert_int_equal(verify(ks3, rs_tok, "JWT"), CID_OK);
		free(rs_tok);
	}

	cid_keyset_free(ks2);
	cid_keyset_free(ks3);
	free(new_kid);
	free(new_tok);
	free(old_tok);
}

/* ---- staged rotation: publish a next key, activate it later ---- */

#define DELAY 100

/* The member name of the listed key kid, as an integer (-1 when absent). */
static json_int_t listed(struct cid_store *s, const char *kid, const char *name)
{
	json_t *list = NULL;
	json_t *k;
	size_t i;
	json_int_t v = -2;

	assert_int_equal(cid_keys_list(s, &list), CID_OK);
	json_array_foreach(list, i, k)
	{
		if (strcmp(json_string_value(json_object_get(k, "kid")), kid) == 0) {
			json_t *m = json_object_get(k, name);
			v = m == NULL ? -1 : json_integer_value(m);
		}
	}
	json_decref(list);
	assert_true(v != -2); /* the key is listed */
	return v;
}

/* The listed state of kid. */
static void state_is(struct cid_store *s, const char *kid, const char *want)
{
	json_t *list = NULL;
	json_t *k;
	size_t i;
	const char *got = NULL;

	assert_int_equal(cid_keys_list(s, &list), CID_OK);
	json_array_foreach(list, i, k)
	{
		if (strcmp(json_string_value(json_object_get(k, "kid")), kid) == 0)
			got = json_string_value(json_object_get(k, "state"));
	}
	if (got == NULL || strcmp(got, want) != 0)
		fail_msg("key %s: state %s, wanted %s", kid, got ? got : "(none)", want);
	json_decref(list);
}

/*
 * A published next key is in the JWKS and signs nothing; at its activate_at
 * (not a second before) it becomes the active key and the old one is retired
 * for keep seconds, still verifying what it signed.
 */
static void test_publish_then_activate_when_due(void **state)
{
	struct fixture *f = *state;
	struct cid_keyset *ks2 = NULL;
	struct cid_keyset *ks3 = NULL;
	char old_kid[64];
	char tok_kid[64];
	char *next_kid = NULL;
	char *again = NULL;
	char *active = NULL;
	char *old_tok = sign(f->ks, "ES256", "JWT");
	char *tok;
	uint64_t v = 0;
	size_t n = 99;

	active_kid(f->s, "ES256", old_kid);
	assert_int_equal(cid_keys_publish(f->s, "ES256", NOW + 10, DELAY, &next_kid), CID_OK);
	assert_non_null(next_kid);
	assert_string_not_equal(next_kid, old_kid);
	assert_int_equal(cid_keys_version(f->s, &v), CID_OK);
	assert_int_equal(v, 2); /* servers reload: the JWKS gains the key */
	state_is(f->s, next_kid, "next");
	state_is(f->s, old_kid, "active");
	assert_int_equal(listed(f->s, next_kid, "activate_at"), NOW + 10 + DELAY);
	assert_int_equal(listed(f->s, next_kid, "drop_after"), -1);

	/* the keyset: the next key is published, the old one still signs */
	assert_int_equal(cid_keyset_load(f->s, NOW + 11, &ks2), CID_OK);
	assert_true(jwks_has(ks2, next_kid, NULL));
	assert_true(jwks_has(ks2, old_kid, NULL));
	assert_int_equal(cid_keyset_next_activate(ks2), NOW + 10 + DELAY);
	assert_int_equal(cid_keyset_next_drop(ks2), 0);
	tok = sign(ks2, "ES256", "JWT");
	kid_of(tok, tok_kid);
	assert_string_equal(tok_kid, old_kid);
	free(tok);

	/* one next key per algorithm */
	assert_int_equal(cid_keys_publish(f->s, "ES256", NOW + 12, DELAY, &again), CID_ERR_EXISTS);
	assert_null(again);

	/* a second early: refused, and nothing changed */
	assert_int_equal(
	    cid_keys_activate(f->s, "ES256", NOW + 10 + DELAY - 1, KEEP, false, &active),
	    CID_ERR_TOOEARLY);
	assert_null(active);
	assert_int_equal(cid_keys_activate_due(f->s, NOW + 10 + DELAY - 1, KEEP, &n), CID_OK);
	assert_int_equal(n, 0);
	assert_int_equal(cid_keys_version(f->s, &v), CID_OK);
	assert_int_equal(v, 2);
	state_is(f->s, next_kid, "next");

	/* at activate_at: the server's call activates it */
	assert_int_equal(cid_keys_activate_due(f->s, NOW + 10 + DELAY, KEEP, &n), CID_OK);
	assert_int_equal(n, 1);
	assert_int_equal(cid_keys_version(f->s, &v), CID_OK);
	assert_int_equal(v, 3);
	state_is(f->s, next_kid, "active");
	state_is(f->s, old_kid, "retired");
	assert_int_equal(listed(f->s, next_kid, "activated_at"), NOW + 10 + DELAY);
	assert_int_equal(listed(f->s, next_kid, "activate_at"), -1);
	assert_int_equal(listed(f->s, old_kid, "retired_at"), NOW + 10 + DELAY);
	assert_int_equal(listed(f->s, old_kid, "drop_after"), NOW + 10 + DELAY + KEEP);
	/* the call again: nothing left to do */
	assert_int_equal(cid_keys_activate_due(f->s, NOW + 10 + DELAY + 1, KEEP, &n), CID_OK);
	assert_int_equal(n, 0);
	assert_int_equal(cid_keys_activate(f->s, "ES256", NOW + 10 + DELAY + 1, KEEP, true, NULL),
			 CID_ERR_NOTFOUND);

	/* the keyset now signs with the published key and still verifies the old one's tokens */
	assert_int_equal(cid_keyset_load(f->s, NOW + 10 + DELAY + 1, &ks3), CID_OK);
	assert_int_equal(cid_keyset_next_activate(ks3), 0);
	assert_int_equal(cid_keyset_next_drop(ks3), NOW + 10 + DELAY + KEEP);
	tok = sign(ks3, "ES256", "JWT");
	kid_of(tok, tok_kid);
	assert_string_equal(tok_kid, next_kid);
	/* what the keyset of the publish window published verifies it: the point of the delay */
	assert_int_equal(verify(ks2, tok, "JWT"), CID_OK);
	assert_int_equal(verify(ks3, old_tok, "JWT"), CID_OK);
	/* the other algorithm was untouched */
	{
		char rs_before[64];
		char *rs_tok = sign(ks3, "RS256", "JWT");

		active_kid(f->s, "RS256", rs_before);
		kid_of(rs_tok, tok_kid);
		assert_string_equal(tok_kid, rs_before);
		free(rs_tok);
	}
	free(tok);
	free(old_tok);
	free(next_kid);
	cid_keyset_free(ks2);
	cid_keyset_free(ks3);
}

/*
 * The time rule of activation, one row per case: a next key published at
 * `published` with `delay` may be activated at `at` without force only from
 * published + delay on; with force at any time. The rule is the same for
 * both algorithms (one RS256 row proves it); the other rows take ES256,
 * whose key is made at once where an RSA key takes seconds under valgrind.
 */
static void test_activation_time_rule(void **state)
{
	static const struct {
		const char *name;
		const char *alg;
		int64_t delay;
		int64_t at; /* seconds after publication */
		bool force;
		enum cid_err expect;
	} rows[] = {
	    {"one second early", "ES256", DELAY, DELAY - 1, false, CID_ERR_TOOEARLY},
	    {"at once, before the delay", "ES256", DELAY, 0, false, CID_ERR_TOOEARLY},
	    {"exactly at activate_at", "ES256", DELAY, DELAY, false, CID_OK},
	    {"RS256, exactly at activate_at", "RS256", DELAY, DELAY, false, CID_OK},
	    {"long after", "ES256", DELAY, DELAY + 86400, false, CID_OK},
	    {"forced at once", "ES256", DELAY, 0, true, CID_OK},
	    {"forced early", "ES256", DELAY, DELAY - 1, true, CID_OK},
	    {"no delay configured", "ES256", 0, 0, false, CID_OK},
	};
	struct fixture *f = *state;
	int64_t t = NOW;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *alg = rows[i].alg;
		char *kid = NULL;
		char *active = NULL;
		char before[64];
		enum cid_err got;

		t += 1000;
		active_kid(f->s, alg, before);
		assert_int_equal(cid_keys_publish(f->s, alg, t, rows[i].delay, &kid), CID_OK);
		got = cid_keys_activate(f->s, alg, t + rows[i].at, KEEP, rows[i].force, &active);
		if (got != rows[i].expect)
			fail_msg("%s: got %s", rows[i].name, cid_strerror(got));
		if (got == CID_OK) {
			assert_string_equal(active, kid);
			state_is(f->s, kid, "active");
			state_is(f->s, before, "retired");
		} else {
			assert_null(active);
			state_is(f->s, kid, "next");
			state_is(f->s, before, "active");
			/* clear the way for the next row */
			assert_int_equal(cid_keys_activate(f->s, alg, t, KEEP, true, NULL), CID_OK);
		}
		free(active);
		free(kid);
	}
}

static void test_publish_and_activate_refuse_bad_arguments(void **state)
{
	struct fixture *f = *state;
	char *kid = NULL;
	uint64_t v = 0;
	size_t n = 0;

	assert_int_equal(cid_keys_publish(f->s, "HS256", NOW, DELAY, &kid), CID_ERR_INVALID);
	assert_int_equal(cid_keys_publish(f->s, NULL, NOW, DELAY, &kid), CID_ERR_INVALID);
	assert_int_equal(cid_keys_publish(f->s, "ES256", NOW, -1, &kid), CID_ERR_INVALID);
	assert_int_equal(cid_keys_publish(f->s, "ES256", INT64_MAX - 5, 10, &kid), CID_ERR_INVALID);
	assert_int_equal(cid_keys_activate(f->s, "none", NOW, KEEP, true, &kid), CID_ERR_INVALID);
	assert_int_equal(cid_keys_activate(f->s, "ES256", NOW, -1, true, &kid), CID_ERR_INVALID);
	assert_int_equal(cid_keys_activate_due(f->s, NOW, -1, &n), CID_ERR_INVALID);
	/* nothing published: nothing to activate, even by force */
	assert_int_equal(cid_keys_activate(f->s, "ES256", NOW, KEEP, true, &kid), CID_ERR_NOTFOUND);
	assert_int_equal(cid_keys_activate_due(f->s, NOW + 86400, KEEP, &n), CID_OK);
	assert_int_equal(n, 0);
	assert_null(kid);
	assert_int_equal(cid_keys_version(f->s, &v), CID_OK);
	assert_int_equal(v, 1);
}

/*
 * The immediate rotation (for a compromised key) also retires a published next
 * key: otherwise it would replace the fresh key when its time came.
 */
static void test_rotate_retires_a_published_next_key(void **state)
{
	struct fixture *f = *state;
	char old_kid[64];
	char *next_kid = NULL;
	char *new_kid = NULL;
	size_t n = 99;

	active_kid(f->s, "ES256", old_kid);
	assert_int_equal(cid_keys_publish(f->s, "ES256", NOW, DELAY, &next_kid), CID_OK);
	assert_int_equal(cid_keys_rotate(f->s, "ES256", NOW + 5, KEEP, &new_kid), CID_OK);
	state_is(f->s, new_kid, "active");
	state_is(f->s, old_kid, "retired");
	state_is(f->s, next_kid, "retired");
	/* it never signed: out of the keyset at once, not kept as the old key is */
	assert_int_equal(listed(f->s, next_kid, "drop_after"), NOW + 5);
	assert_int_equal(listed(f->s, old_kid, "drop_after"), NOW + 5 + KEEP);
	assert_int_equal(listed(f->s, next_kid, "activate_at"), -1);
	assert_int_equal(cid_keys_activate_due(f->s, NOW + DELAY + 1, KEEP, &n), CID_OK);
	assert_int_equal(n, 0);
	state_is(f->s, new_kid, "active");
	/* and a new staged rotation may start */
	free(next_kid);
	next_kid = NULL;
	assert_int_equal(cid_keys_publish(f->s, "ES256", NOW + 6, DELAY, &next_kid), CID_OK);
	free(next_kid);
	free(new_kid);
}

/*
 * An emergency rotation (keep 0) withdraws the old key at once: a keyset
 * loaded after it neither publishes the old kid nor verifies what it signed,
 * a token forged with it afterwards included; and keys_version moves, which
 * is how a running server learns of it.
 */
static void test_rotate_keep_zero_withdraws_the_old_key(void **state)
{
	struct fixture *f = *state;
	struct cid_keyset *ks2 = NULL;
	char old_kid[64];
	char *new_kid = NULL;
	char *next_kid = NULL;
	char *old_tok = sign(f->ks, "ES256", "at+jwt");
	char *new_tok;
	uint64_t v = 0;

	active_kid(f->s, "ES256", old_kid);
	assert_int_equal(cid_keys_publish(f->s, "ES256", NOW, DELAY, &next_kid), CID_OK);
	assert_int_equal(cid_keys_rotate(f->s, "ES256", NOW + 10, 0, &new_kid), CID_OK);
	assert_int_equal(cid_keys_version(f->s, &v), CID_OK);
	assert_int_equal(v, 3);
	state_is(f->s, old_kid, "retired");
	assert_int_equal(listed(f->s, old_kid, "drop_after"), NOW + 10);
	assert_int_equal(listed(f->s, next_kid, "drop_after"), NOW + 10);

	/* loaded the same second: already gone */
	assert_int_equal(cid_keyset_load(f->s, NOW + 10, &ks2), CID_OK);
	assert_false(jwks_has(ks2, old_kid, NULL));
	assert_false(jwks_has(ks2, next_kid, NULL));
	assert_true(jwks_has(ks2, new_kid, NULL));
	assert_int_equal(cid_keyset_next_drop(ks2), 0);
	assert_int_equal(verify(ks2, old_tok, "at+jwt"), CID_ERR_INVALID);
	/* the old keyset (what the thief holds) still signs: its tokens are refused */
	free(old_tok);
	old_tok = sign(f->ks, "ES256", "at+jwt");
	assert_int_equal(verify(ks2, old_tok, "at+jwt"), CID_ERR_INVALID);
	new_tok = sign(ks2, "ES256", "at+jwt");
	assert_int_equal(verify(ks2, new_tok, "at+jwt"), CID_OK);

	cid_keyset_free(ks2);
	free(new_tok);
	free(old_tok);
	free(next_kid);
	free(new_kid);
}

/*
 * A key retired with the usual overlap is dropped at once by cid_keys_drop;
 * the active key is not (it signs), nor an unknown kid; a second drop changes
 * nothing.
 */
static void test_drop_withdraws_a_retired_key(void **state)
{
	struct fixture *f = *state;
	struct cid_keyset *ks2 = NULL;
	char old_kid[64];
	char *new_kid = NULL;
	char *old_tok = sign(f->ks, "ES256", "at+jwt");
	char long_kid[200];
	uint64_t v = 0;
	uint64_t v2 = 0;
	bool dropped = false;

	active_kid(f->s, "ES256", old_kid);
	assert_int_equal(cid_keys_rotate(f->s, "ES256", NOW + 10, KEEP, &new_kid), CID_OK);
	assert_int_equal(cid_keyset_load(f->s, NOW + 20, &ks2), CID_OK);
	assert_int_equal(verify(ks2, old_tok, "at+jwt"), CID_OK); /* the overlap */
	cid_keyset_free(ks2);
	ks2 = NULL;

	assert_int_equal(cid_keys_drop(f->s, new_kid, NOW + 30, &dropped), CID_ERR_REFUSED);
	assert_int_equal(cid_keys_drop(f->s, "no-such-kid", NOW + 30, &dropped), CID_ERR_NOTFOUND);
	memset(long_kid, 'A', sizeof(long_kid) - 1);
	long_kid[sizeof(long_kid) - 1] = '\0';
	assert_int_equal(cid_keys_drop(f->s, long_kid, NOW + 30, &dropped), CID_ERR_NOTFOUND);
	assert_int_equal(cid_keys_drop(f->s, NULL, NOW + 30, &dropped), CID_ERR_INVALID);
	assert_int_equal(cid_keys_version(f->s, &v), CID_OK);

	assert_int_equal(cid_keys_drop(f->s, old_kid, NOW + 30, &dropped), CID_OK);
	assert_true(dropped);
	assert_int_equal(cid_keys_version(f->s, &v2), CID_OK);
	assert_int_equal(v2, v + 1);
	assert_int_equal(listed(f->s, old_kid, "drop_after"), NOW + 30);
	assert_int_equal(cid_keyset_load(f->s, NOW + 30, &ks2), CID_OK);
	assert_false(jwks_has(ks2, old_kid, NULL));
	assert_int_equal(verify(ks2, old_tok, "at+jwt"), CID_ERR_INVALID);

	assert_int_equal(cid_keys_drop(f->s, old_kid, NOW + 40, &dropped), CID_OK);
	assert_false(dropped);
	assert_int_equal(cid_keys_version(f->s, &v), CID_OK);
	assert_int_equal(v, v2);

	cid_keyset_free(ks2);
	free(old_tok);
	free(new_kid);
}

/* A published next key dropped is retired and gone at once. */
static void test_drop_withdraws_a_next_key(void **state)
{
	struct fixture *f = *state;
	struct cid_keyset *ks2 = NULL;
	char *next_kid = NULL;
	bool dropped = false;
	size_t n = 99;

	assert_int_equal(cid_keys_publish(f->s, "RS256", NOW, DELAY, &next_kid), CID_OK);
	/* a kid made here has a kid's shape; options and other words have not */
	assert_true(cid_kid_syntax_ok(next_kid));
	assert_true(cid_kid_syntax_ok("-e5oQ9xXkz6Tt1WfQmL0bqM2rS4vY7uJ8nB3cD5fG6h"));
	assert_false(cid_kid_syntax_ok("-s./store"));
	assert_false(cid_kid_syntax_ok("-e5oQ9xXkz6Tt1WfQmL0bqM2rS4vY7uJ8nB3cD5fG6hI"));
	assert_false(cid_kid_syntax_ok("-e5oQ9xXkz6Tt1WfQmL0bqM2rS4vY7uJ8nB3cD5fG6+"));
	assert_false(cid_kid_syntax_ok(NULL));
	assert_int_equal(cid_keys_drop(f->s, next_kid, NOW + 1, &dropped), CID_OK);
	assert_true(dropped);
	state_is(f->s, next_kid, "retired");
	assert_int_equal(listed(f->s, next_kid, "activate_at"), -1);
	assert_int_equal(cid_keyset_load(f->s, NOW + 1, &ks2), CID_OK);
	assert_false(jwks_has(ks2, next_kid, NULL));
	/* and it never signs */
	assert_int_equal(cid_keys_activate_due(f->s, NOW + DELAY + 1, KEEP, &n), CID_OK);
	assert_int_equal(n, 0);
	cid_keyset_free(ks2);
	free(next_kid);
}

static void test_rotate_rejects_bad_arguments_and_counts_versions(void **state)
{
	struct fixture *f = *state;
	char *kid = NULL;
	uint64_t v = 0;
	json_t *list = NULL;

	assert_int_equal(cid_keys_rotate(f->s, "HS256", NOW, KEEP, &kid), CID_ERR_INVALID);
	assert_int_equal(cid_keys_rotate(f->s, NULL, NOW, KEEP, &kid), CID_ERR_INVALID);
	assert_int_equal(cid_keys_rotate(f->s, "ES256", NOW, -1, &kid), CID_ERR_INVALID);
	assert_int_equal(cid_keys_rotate(f->s, "ES256", INT64_MAX - 5, 10, &kid), CID_ERR_INVALID);
	assert_null(kid);
	assert_int_equal(cid_keys_version(f->s, &v), CID_OK);
	assert_int_equal(v, 1);

	/* one rotation per alg, not two of RS256: an RSA key takes seconds under valgrind */
	assert_int_equal(cid_keys_rotate(f->s, "ES256", NOW + 1, KEEP, NULL), CID_OK);
	assert_int_equal(cid_keys_rotate(f->s, "RS256", NOW + 2, KEEP, NULL), CID_OK);
	assert_int_equal(cid_keys_version(f->s, &v), CID_OK);
	assert_int_equal(v, 3);
	/* ensure does not add a key when every alg has an active one */
	assert_int_equal(cid_keys_ensure(f->s, NOW + 3), CID_OK);
	assert_int_equal(cid_keys_version(f->s, &v), CID_OK);
	assert_int_equal(v, 3);
	assert_int_equal(cid_keys_list(f->s, &list), CID_OK);
	assert_int_equal(json_array_size(list), 4);
	json_decref(list);
	{
		/* two retired keys: the keyset reports the earlier drop */
		struct cid_keyset *ks = NULL;

		assert_int_equal(cid_keyset_load(f->s, NOW + 5, &ks), CID_OK);
		assert_int_equal(cid_keyset_next_drop(ks), NOW + 1 + KEEP);
		cid_keyset_free(ks);
	}
}

static void test_keys_list_is_public(void **state)
{
	static const char *const allowed[] = {"kid",	    "alg",	   "state",
					      "created_at", "activate_at", "activated_at",
					      "retired_at", "drop_after"};
	struct fixture *f = *state;
	json_t *list = NULL;
	json_t *k;
	char *dump;
	size_t i;

	assert_int_equal(cid_keys_rotate(f->s, "ES256", NOW + 1, KEEP, NULL), CID_OK);
	assert_int_equal(cid_keys_publish(f->s, "RS256", NOW + 1, 50, NULL), CID_OK);
	assert_int_equal(cid_keys_list(f->s, &list), CID_OK);
	assert_int_equal(json_array_size(list), 4);
	dump = json_dumps(list, 0);
	assert_non_null(dump);
	assert_null(strstr(dump, "private"));
	assert_null(strstr(dump, "PRIVATE"));
	json_array_foreach(list, i, k)
	{
		const char *name;
		json_t *v;

		json_object_foreach(k, name, v)
		{
			bool ok = false;

			for (size_t m = 0; m < sizeof(allowed) / sizeof(allowed[0]); m++)
				ok = ok || strcmp(name, allowed[m]) == 0;
			assert_true(ok);
		}
		if (strcmp(json_string_value(json_object_get(k, "state")), "retired") == 0)
			assert_int_equal(json_integer_value(json_object_get(k, "drop_after")),
					 NOW + 1 + KEEP);
		if (strcmp(json_string_value(json_object_get(k, "state")), "next") == 0)
			assert_int_equal(json_integer_value(json_object_get(k, "activate_at")),
					 NOW + 1 + 50);
	}
	free(dump);
	json_decref(list);
}

/* ---- a damaged store is reported, not trusted ---- */

static enum cid_err put_cb(struct cid_txn *txn, void *arg)
{
	json_t *rec = arg;

	return cid_txn_put_json(txn, CID_DB_KEYS,
				cid_str_of(json_string_value(json_object_get(rec, "kid"))), rec, 0);
}

struct raw_put {
	const char *key;
	const char *val;
};

static enum cid_err raw_put_cb(struct cid_txn *txn, void *arg)
{
	const struct raw_put *r = arg;

	return cid_txn_put(txn, CID_DB_KEYS, cid_str_of(r->key), cid_str_of(r->val), 0);
}

/* Copies tmpl into out with each '@' replaced by kid. */
static void subst_kid(const char *tmpl, const char *kid, char *out, size_t outsz)
{
	size_t o = 0;
	size_t kl = strlen(kid);

	for (const char *p = tmpl; *p != '\0'; p++) {
		const char *piece = *p == '@' ? kid : p;
		size_t n = *p == '@' ? kl : 1;

		assert_true(o + n < outsz);
		memcpy(out + o, piece, n);
		o += n;
	}
	out[o] = '\0';
}

static void test_damaged_key_records(void **state)
{
	struct fixture *f = *state;
	struct cid_keyset *ks = NULL;
	char es[64];
	char rs[64];
	json_t *rec;
	json_t *rs_rec;
	json_t *list = NULL;

	active_kid(f->s, "ES256", es);
	active_kid(f->s, "RS256", rs);

	/* the ES256 record given the RS256 key: the kid no longer names its key */
	rec = record_of(f->s, es);
	rs_rec = record_of(f->s, rs);
	assert_int_equal(
	    json_object_set(rec, "private_pem", json_object_get(rs_rec, "private_pem")), 0);
	assert_int_equal(cid_store_update(f->s, put_cb, rec), CID_OK);
	assert_int_equal(cid_keyset_load(f->s, NOW, &ks), CID_ERR_CRYPTO);
	json_decref(rs_rec);
	json_decref(rec);

	{
		/* records that are not key records at all: one row per broken member */
		static const char *const bad[] = {
		    "not json",
		    "[]",
		    "{\"kid\":\"other\",\"alg\":\"ES256\",\"private_pem\":\"x\",\"state\":"
		    "\"active\",\"created_at\":1}",
		    "{\"kid\":\"@\",\"alg\":\"HS256\",\"private_pem\":\"x\",\"state\":"
		    "\"active\",\"created_at\":1}",
		    "{\"kid\":\"@\",\"alg\":\"ES256\",\"state\":\"active\",\"created_at\":1}",
		    "{\"kid\":\"@\",\"alg\":\"ES256\",\"private_pem\":\"x\",\"state\":"
		    "\"paused\",\"created_at\":1}",
		    "{\"kid\":\"@\",\"alg\":\"ES256\",\"private_pem\":\"x\",\"state\":"
		    "\"retired\",\"created_at\":1}",
		    "{\"kid\":\"@\",\"alg\":\"ES256\",\"private_pem\":\"x\",\"state\":"
		    "\"next\",\"created_at\":1}",
		    "{\"kid\":\"@\",\"alg\":\"ES256\",\"private_pem\":\"x\",\"state\":"
		    "\"next\",\"created_at\":1,\"activate_at\":\"soon\"}",
		    "{\"kid\":\"@\",\"alg\":\"ES256\",\"private_pem\":\"x\",\"state\":"
		    "\"active\"}",
		    "{\"kid\":\"@\",\"kid\":\"@\",\"alg\":\"ES256\",\"private_pem\":\"x\","
		    "\"state\":\"active\",\"created_at\":1}",
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			char val[512];
			struct raw_put r = {es, val};

			subst_kid(bad[i], es, val, sizeof(val));
			assert_int_equal(cid_store_update(f->s, raw_put_cb, &r), CID_OK);
			assert_int_equal(cid_keyset_load(f->s, NOW, &ks), CID_ERR_STORE);
			assert_int_equal(cid_keys_list(f->s, &list), CID_ERR_STORE);
		}
	}
	{
		/* a well-formed record whose PEM is not a key */
		char val[256];
		struct raw_put r = {es, val};

		assert_true(snprintf(val, sizeof(val),
				     "{\"kid\":\"%s\",\"alg\":\"ES256\",\"private_pem\":\"junk\","
				     "\"state\":\"active\",\"created_at\":1}",
				     es) > 0);
		assert_int_equal(cid_store_update(f->s, raw_put_cb, &r), CID_OK);
		assert_int_equal(cid_keyset_load(f->s, NOW, &ks), CID_ERR_CRYPTO);
	}
	assert_null(ks);
	assert_null(list);
}

static void test_swapped_pem_of_same_type_is_store_damage(void **state)
{
	struct fixture *f = *state;
	struct cid_keyset *ks = NULL;
	char old_kid[64];
	char *new_kid = NULL;
	json_t *old_rec;
	json_t *new_rec;

	/* two ES256 keys: put the new key's PEM into the old key's record */
	active_kid(f->s, "ES256", old_kid);
	assert_int_equal(cid_keys_rotate(f->s, "ES256", NOW, KEEP, &new_kid), CID_OK);
	old_rec = record_of(f->s, old_kid);
	new_rec = record_of(f->s, new_kid);
	assert_int_equal(
	    json_object_set(old_rec, "private_pem", json_object_get(new_rec, "private_pem")), 0);
	assert_int_equal(cid_store_update(f->s, put_cb, old_rec), CID_OK);
	assert_int_equal(cid_keyset_load(f->s, NOW, &ks), CID_ERR_STORE);
	assert_null(ks);
	json_decref(old_rec);
	json_decref(new_rec);
	free(new_kid);
}

/*= RFC 7518 §6.2.1.2: x is the full 32 octets even when it starts with zero */
static void test_ec_coordinate_with_leading_zero_is_padded(void **state)
{
	struct fixture *f = *state;
	struct cid_keyset *ks = NULL;
	EVP_PKEY *pkey = NULL;
	uint8_t pub[65];
	size_t publen = 0;
	char *x;
	char *y;
	char canon[256];
	uint8_t h[SHA256_DIGEST_LENGTH];
	char kid[64];
	BIO *bio;
	char *pem;
	long len;
	json_t *rec;
	size_t pos;

	/* about one P-256 key in 256 has a leading zero octet in x */
	for (int i = 0; i < 20000; i++) {
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		assert_non_null(pkey);
		assert_int_equal(EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, pub,
								 sizeof(pub), &publen),
				 1);
		if (pub[1] == 0)
			break;
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
	assert_non_null(pkey);
	x = b64(pub + 1, 32);
	y = b64(pub + 33, 32);
	assert_true(snprintf(canon, sizeof(canon),
			     "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", x,
			     y) > 0);
	SHA256((const uint8_t *)canon, strlen(canon), h);
	assert_int_equal(cid_b64url_encode(h, sizeof(h), kid, sizeof(kid)), CID_OK);
	bio = BIO_new(BIO_s_mem());
	assert_non_null(bio);
	assert_int_equal(PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL), 1);
	len = BIO_get_mem_data(bio, &pem);
	rec = json_pack("{s:s, s:s, s:s%, s:s, s:I, s:I, s:I}", "kid", kid, "alg", "ES256",
			"private_pem", pem, (size_t)len, "state", "retired", "created_at",
			(json_int_t)NOW, "retired_at", (json_int_t)NOW, "drop_after",
			(json_int_t)(NOW + KEEP));
	assert_non_null(rec);
	assert_int_equal(cid_store_update(f->s, put_cb, rec), CID_OK);

	/* loads only if our thumbprint pads x as RFC 7638 and RFC 7518 require */
	assert_int_equal(cid_keyset_load(f->s, NOW, &ks), CID_OK);
	assert_true(jwks_has(ks, kid, &pos));
	assert_int_equal(pos, 2);
	cid_keyset_free(ks);
	json_decref(rec);
	BIO_free(bio);
	free(x);
	free(y);
	EVP_PKEY_free(pkey);
}

/* ---- at_hash / c_hash ---- */

static void test_half_hash(void **state)
{
	char out[44];
	uint8_t h[SHA256_DIGEST_LENGTH];
	char expect[44];
	const char *tok = "the-access-token";

	(void)state;
	/*= OIDC Core §A.4 example: at_hash of this access token with RS256 */
	assert_int_equal(
	    cid_jose_half_hash("RS256", "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y", out),
	    CID_OK);
	assert_string_equal(out, "77QmUPtjPfzWtF2AnpK9RQ");

	SHA256((const uint8_t *)tok, strlen(tok), h);
	assert_int_equal(cid_b64url_encode(h, 16, expect, sizeof(expect)), CID_OK);
	assert_int_equal(cid_jose_half_hash("ES256", tok, out), CID_OK);
	assert_string_equal(out, expect);
	assert_int_equal(strlen(out), 22);

	assert_int_equal(cid_jose_half_hash("HS256", tok, out), CID_ERR_INVALID);
	assert_int_equal(cid_jose_half_hash("ES384", tok, out), CID_ERR_INVALID);
	assert_int_equal(cid_jose_half_hash(NULL, tok, out), CID_ERR_INVALID);
	assert_int_equal(cid_jose_half_hash("ES256", NULL, out), CID_ERR_INVALID);
}

/* ---- many threads share one keyset ---- */

struct worker {
	const struct cid_keyset *ks;
	int failures;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	json_t *c = json_pack("{s:s}", "sub", "citizen-1");

	for (int i = 0; i < 60 && c != NULL; i++) {
		const char *alg = i % 4 == 0 ? "RS256" : "ES256";
		char *jws = NULL;
		json_t *out = NULL;

		if (cid_jws_sign(w->ks, alg, "at+jwt", c, &jws) != CID_OK ||
		    cid_jws_verify(w->ks, jws, strlen(jws), "at+jwt", &out) != CID_OK ||
		    !json_equal(c, out))
			w->failures++;
		json_decref(out);
		free(jws);
	}
	if (c == NULL)
		w->failures++;
	json_decref(c);
	return NULL;
}

static void test_keyset_shared_by_threads(void **state)
{
	struct fixture *f = *state;
	pthread_t t[4];
	struct worker w[4];

	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){.ks = f->ks};
		assert_int_equal(pthread_create(&t[i], NULL, worker_run, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(w[i].failures, 0);
	}
}

/* ---- an independent verifier ---- */

#ifdef CID_HAVE_LIBJWT
static char *public_pem(struct cid_store *s, const char *kid)
{
	EVP_PKEY *pkey = private_key_of(s, kid);
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long len;
	char *out;

	assert_non_null(bio);
	assert_int_equal(PEM_write_bio_PUBKEY(bio, pkey), 1);
	len = BIO_get_mem_data(bio, &data);
	assert_true(len > 0);
	out = strndup(data, (size_t)len);
	assert_non_null(out);
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	return out;
}

static void test_libjwt_verifies_our_tokens(void **state)
{
	static const struct {
		const char *alg;
		jwt_alg_t jwt_alg;
	} rows[] = {{"ES256", JWT_ALG_ES256}, {"RS256", JWT_ALG_RS256}};
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char kid[64];
		char *pem;
		char *jws = sign(f->ks, rows[i].alg, "JWT");
		char *forged;
		char *payload = b64_str("{\"sub\":\"mallory\"}");
		jwt_t *jwt = NULL;

		active_kid(f->s, rows[i].alg, kid);
		pem = public_pem(f->s, kid);
		assert_int_equal(
		    jwt_decode(&jwt, jws, (const unsigned char *)pem, (int)strlen(pem)), 0);
		assert_non_null(jwt);
		/* libjwt accepts whatever alg the header names: check it ourselves */
		assert_int_equal(jwt_get_alg(jwt), rows[i].jwt_alg);
		assert_string_equal(jwt_get_grant(jwt, "sub"), "citizen-1");
		assert_int_equal(jwt_get_grant_int(jwt, "exp"), NOW + 300);
		jwt_free(jwt);
		jwt = NULL;

		forged = replace_part(jws, 1, payload);
		assert_int_not_equal(
		    jwt_decode(&jwt, forged, (const unsigned char *)pem, (int)strlen(pem)), 0);
		jwt_free(jwt);

		free(forged);
		free(payload);
		free(pem);
		free(jws);
	}
}
#else
/* Without libjwt the independent check fails; it never vanishes from the run. */
static void test_libjwt_verifies_our_tokens(void **state)
{
	(void)state;
	fail_msg("libjwt is not installed (libjwt-dev; deploy/install-deps.sh test): "
		 "no independent library verifies our tokens");
}
#endif

/* ---- keysets for verification only ---- */

static void test_keyset_from_jwks_verifies_offline(void **state)
{
	struct fixture *f = *state;
	struct cid_keyset *pub = NULL;
	size_t len = 0;
	const char *jwks = cid_keyset_jwks(f->ks, &len);
	const char *alg[] = {"ES256", "RS256"};
	json_t *claims = claims_new();
	json_t *out = NULL;
	char *tok = NULL;
	const char *again;
	size_t again_len = 0;

	assert_int_equal(cid_keyset_from_jwks(jwks, len, &pub), CID_OK);
	for (size_t i = 0; i < 2; i++) {
		char *jws = sign(f->ks, alg[i], "JWT");
		char *bad = strdup(jws);

		assert_non_null(bad);
		assert_int_equal(cid_jws_verify(pub, jws, strlen(jws), "JWT", &out), CID_OK);
		assert_string_equal(json_string_value(json_object_get(out, "sub")), "citizen-1");
		json_decref(out);
		out = NULL;
		bad[strlen(bad) - 3] = bad[strlen(bad) - 3] == 'A' ? 'B' : 'A';
		assert_int_equal(cid_jws_verify(pub, bad, strlen(bad), "JWT", &out),
				 CID_ERR_DENIED);
		free(bad);
		free(jws);
		/* no private key: it cannot sign */
		assert_int_equal(cid_jws_sign(pub, alg[i], "JWT", claims, &tok), CID_ERR_INVALID);
		assert_null(tok);
	}
	/* its own JWKS is the same public keys */
	again = cid_keyset_jwks(pub, &again_len);
	{
		json_t *x = json_loadb(jwks, len, 0, NULL);
		json_t *y = json_loadb(again, again_len, 0, NULL);

		assert_true(json_equal(x, y));
		json_decref(x);
		json_decref(y);
	}
	assert_int_equal(cid_keyset_version(pub), 0);
	json_decref(claims);
	cid_keyset_free(pub);
}

static void test_keyset_from_jwks_refuses_bad_documents(void **state)
{
	struct fixture *f = *state;
	size_t len = 0;
	const char *jwks = cid_keyset_jwks(f->ks, &len);
	json_t *doc = json_loadb(jwks, len, 0, NULL);
	json_t *ec = NULL;
	size_t i;
	json_t *k;
	char x_short[8];

	assert_non_null(doc);
	json_array_foreach(json_object_get(doc, "keys"), i,
			   k) if (strcmp(json_string_value(json_object_get(k, "kty")), "EC") == 0)
	    ec = json_deep_copy(k);
	assert_non_null(ec);
	snprintf(x_short, sizeof(x_short), "%.6s", json_string_value(json_object_get(ec, "x")));

	struct {
		const char *name;
		const char *member; /* of the EC key to change, NULL: replace the document */
		json_t *value;	    /* NULL: delete the member */
		const char *doc;
		enum cid_err want;
	} rows[] = {
	    {"not JSON", NULL, NULL, "{\"keys\":", CID_ERR_INVALID},
	    {"no keys array", NULL, NULL, "{\"keys\":{}}", CID_ERR_INVALID},
	    {"not an object", NULL, NULL, "[]", CID_ERR_INVALID},
	    {"empty", NULL, NULL, "{\"keys\":[]}", CID_ERR_NOTFOUND},
	    {"only unusable keys", NULL, NULL,
	     "{\"keys\":[{\"kty\":\"oct\",\"k\":\"AAAA\",\"kid\":\"h\"}]}", CID_ERR_NOTFOUND},
	    {"kid missing, the only key", "kid", NULL, NULL, CID_ERR_NOTFOUND},
	    {"kid not a string", "kid", json_integer(7), NULL, CID_ERR_INVALID},
	    {"x cut short", "x", json_string(x_short), NULL, CID_ERR_INVALID},
	    {"x not base64url", "x", json_string("!!!!"), NULL, CID_ERR_INVALID},
	    {"y missing", "y", NULL, NULL, CID_ERR_INVALID},
	    {"point off the curve", "y", json_string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
	     NULL, CID_ERR_INVALID},
	    {"other curve, alg ES256", "crv", json_string("P-384"), NULL, CID_ERR_INVALID},
	};

	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		struct cid_keyset *ks = NULL;
		char *text;
		enum cid_err rc;

		if (rows[r].member == NULL) {
			text = strdup(rows[r].doc);
		} else {
			json_t *key = json_deep_copy(ec);
			json_t *d;

			if (rows[r].value == NULL)
				json_object_del(key, rows[r].member);
			else
				json_object_set_new(key, rows[r].member, rows[r].value);
			d = json_pack("{s:[o]}", "keys", key);
			text = json_dumps(d, JSON_COMPACT);
			json_decref(d);
		}
		assert_non_null(text);
		rc = cid_keyset_from_jwks(text, strlen(text), &ks);
		if (rc != rows[r].want)
			fail_msg("%s: %s, want %s", rows[r].name, cid_strerror(rc),
				 cid_strerror(rows[r].want));
		assert_null(ks);
		free(text);
	}
	/* a key on another curve naming no alg (an ES384 key) beside ours: skipped */
	{
		json_t *other = json_deep_copy(ec);
		json_t *d;
		struct cid_keyset *ks = NULL;
		const char *pub;
		size_t n = 0;
		char *text;

		json_object_del(other, "alg");
		json_object_set_new(other, "crv", json_string("P-384"));
		json_object_set_new(other, "kid", json_string("es384-beside"));
		d = json_pack("{s:[O, o]}", "keys", ec, other);
		text = json_dumps(d, JSON_COMPACT);
		json_decref(d);
		assert_non_null(text);
		assert_int_equal(cid_keyset_from_jwks(text, strlen(text), &ks), CID_OK);
		pub = cid_keyset_jwks(ks, &n);
		assert_null(strstr(pub, "es384-beside"));
		assert_non_null(strstr(pub, json_string_value(json_object_get(ec, "kid"))));
		cid_keyset_free(ks);
		free(text);
	}
	/* a key without a kid (RFC 7517 allows it) beside one with: the one
	 * without is skipped, the other loads and verifies */
	{
		json_t *bare = json_deep_copy(ec);
		json_t *d;
		struct cid_keyset *ks = NULL;
		json_t *pub;
		const char *text_pub;
		size_t n = 0;
		char *text;
		char *jws = sign(f->ks, "ES256", "JWT");
		json_t *out = NULL;

		json_object_del(bare, "kid");
		d = json_pack("{s:[o, O]}", "keys", bare, ec);
		text = json_dumps(d, JSON_COMPACT);
		json_decref(d);
		assert_non_null(text);
		assert_int_equal(cid_keyset_from_jwks(text, strlen(text), &ks), CID_OK);
		text_pub = cid_keyset_jwks(ks, &n);
		pub = json_loadb(text_pub, n, 0, NULL);
		assert_int_equal(json_array_size(json_object_get(pub, "keys")), 1);
		assert_string_equal(json_string_value(json_object_get(
					json_array_get(json_object_get(pub, "keys"), 0), "kid")),
				    json_string_value(json_object_get(ec, "kid")));
		assert_int_equal(cid_jws_verify(ks, jws, strlen(jws), "JWT", &out), CID_OK);
		json_decref(out);
		json_decref(pub);
		free(jws);
		cid_keyset_free(ks);
		free(text);
	}
	/* the same kid twice */
	{
		struct cid_keyset *ks = NULL;
		json_t *d = json_pack("{s:[O,O]}", "keys", ec, ec);
		char *text = json_dumps(d, JSON_COMPACT);

		assert_int_equal(cid_keyset_from_jwks(text, strlen(text), &ks), CID_ERR_INVALID);
		free(text);
		json_decref(d);
	}
	json_decref(ec);
	json_decref(doc);
}

/* A 2048-bit prime: as an RSA modulus, anyone can compute its private key. */
#define PRIME_2048                                                                                 \
	"5L5DlvVU06AZoUUXisrvo6iPvqCB9fgvHd9srSNGt4QuMs9zf6Ev3ib1EtXJUJ0qheOcLkRzBylWSb9DjD4szCMw" \
	"eRnN"                                                                                     \
	"gKmT_itfKI1x4NLZobFoS49DfyejFUMSBSJcSG80NBqNbxRcjAMI_"                                    \
	"LE6cUj1ZycM4XI9Hr5Q6NTuNCOwT4obhovRy5e1"                                                  \
	"WA0httMlkzY1NQohkjc-gfHyrqBU-sLp_JYOZgff3dWRRhZR-681PgM-"                                 \
	"DdRgUcshxgsJGfyPY9eQUH3bSEkbF5Vi90LU"                                                     \
	"CfIW1PRWEn2goBpxJfW2MPnHxt1S1Ccz7YTxwtPL9KSur07RcFBSyr9ebc2jT7Ianw"

/*
 * A composite 3104-bit modulus fuzz_jwks made by splicing a real one: OpenSSL's
 * own public-key check, a Miller-Rabin test with random bases, refused it about
 * once in 150 loads, so one JWKS verified an export on one run and not the next.
 */
#define SPLICED_3104                                                                               \
	"qF25kDv7d8YCK2Ay5leS7dMb1qp8yALOlnuoo587zvsPg0Mezz7tsnJqi4StiEEsCYoKRSY4Ak1ASWl-2_"       \
	"gk12y1cw9B"                                                                               \
	"BcrndmxQDgvKB0WLHKePY8J1JyVdPTzyQ5y4TNuZoyw4yeEdMPeCgQUFVefNVxzsS4e3XiIYerttqsdti0g059-"  \
	"RFGv7"                                                                                    \
	"d8YCK2Ay5leS7dMb1qp8yALOlnuoo587zvsPg0Mezz7tsnJqi4StiEEsCYoKRSY4Ak1ASWl-2_"               \
	"gk12y1cw9BBcrndmxQ"                                                                       \
	"DgvKB0WLHKePY8J1JyVdPTzyQ5y4TNuZoyw4yeEdMPeCgQUFVefNVxzsKqUnIvLVX3-hk-"                   \
	"lfS4e3XiIYerttqsdti0g0"                                                                   \
	"59-RFG_Vc_FQPiat3MUxZnExpnhw1X-"                                                          \
	"MjXsemkgyZieXvwp3RMVgIW64qt5zN1PeN6cFCmWrO9hfhUawWzD552qr5Zap"                            \
	"4LgeKZVuh-ScdjJa-qo510otZanuJhiVxNcYhaTeHJjSJOOzOtqLPYZ6WQ"

/* The result of loading {"keys":[key with member set to value]}, key a copy of rsa. */
static enum cid_err load_rsa_with(const json_t *rsa, const char *member, const char *value)
{
	json_t *key = json_deep_copy(rsa);
	json_t *doc;
	struct cid_keyset *ks = NULL;
	char *text;
	enum cid_err rc;

	assert_non_null(key);
	assert_int_equal(json_object_set_new(key, member, json_string(value)), 0);
	doc = json_pack("{s:[o]}", "keys", key);
	text = json_dumps(doc, JSON_COMPACT);
	assert_non_null(text);
	rc = cid_keyset_from_jwks(text, strlen(text), &ks);
	assert_true((rc == CID_OK) == (ks != NULL));
	cid_keyset_free(ks);
	free(text);
	json_decref(doc);
	return rc;
}

/*
 * RSA keys of a foreign JWKS are judged by rules that give the same answer
 * every time (RFC 7518 §6.3.1, SP 800-56B's exponent range): an odd
 * composite modulus of 2048 to 4096 bits, an odd exponent from 65537 up to
 * 256 bits and below the modulus.
 */
static void test_keyset_from_jwks_judges_rsa_keys_alike(void **state)
{
	struct fixture *f = *state;
	size_t len = 0;
	const char *jwks = cid_keyset_jwks(f->ks, &len);
	json_t *doc = json_loadb(jwks, len, 0, NULL);
	json_t *rsa = NULL;
	size_t i;
	json_t *k;
	char n_even[600];

	assert_non_null(doc);
	json_array_foreach(json_object_get(doc, "keys"), i, k)
	{
		if (strcmp(json_string_value(json_object_get(k, "kty")), "RSA") == 0)
			rsa = k;
	}
	assert_non_null(rsa);
	/* the modulus with its last byte made even ('A'..'P' end in even sextets: 'A' is 0) */
	snprintf(n_even, sizeof(n_even), "%s", json_string_value(json_object_get(rsa, "n")));
	n_even[strlen(n_even) - 1] = 'A';

	struct {
		const char *name;
		const char *member;
		const char *value;
		enum cid_err want;
	} rows[] = {
	    {"the key as published", "e", "AQAB", CID_OK},
	    {"exponent 3", "e", "Aw", CID_ERR_INVALID},
	    {"exponent 1", "e", "AQ", CID_ERR_INVALID},
	    {"even exponent", "e", "AQAA", CID_ERR_INVALID},
	    {"even modulus", "n", n_even, CID_ERR_INVALID},
	    {"prime modulus", "n", PRIME_2048, CID_ERR_INVALID},
	    {"1024-bit modulus", "n", &PRIME_2048[171], CID_ERR_INVALID},
	};

	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		enum cid_err rc = load_rsa_with(rsa, rows[r].member, rows[r].value);

		if (rc != rows[r].want)
			fail_msg("%s: %s, want %s", rows[r].name, cid_strerror(rc),
				 cid_strerror(rows[r].want));
	}
	/* the spliced modulus, whose first load succeeds: every one does */
	for (int run = 0; run < 1000; run++)
		assert_int_equal(load_rsa_with(rsa, "n", SPLICED_3104), CID_OK);
	json_decref(doc);
}

/* The JWKS an auditor gets names the issuer; read back, the keyset keeps it. */
static void test_jwks_carries_the_issuer(void **state)
{
	struct fixture *f = *state;
	struct cid_keyset *pub = NULL;
	char *doc = NULL;
	size_t len = 0;
	json_t *j;
	json_t *plain;
	const char *jwks = cid_keyset_jwks(f->ks, &len);
	char longiss[CID_MAX_URI + 2];
	static const char *const bad_members[] = {"7", "\"\"", "null", "[\"https://id.example\"]",
						  "\"a\\u0000b\""};

	assert_null(cid_keyset_issuer(f->ks)); /* loaded from the store: none */
	assert_int_equal(cid_keyset_jwks_issuer(f->ks, "https://id.city.example", &doc), CID_OK);
	j = json_loads(doc, 0, NULL);
	plain = json_loadb(jwks, len, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(j, "issuer")),
			    "https://id.city.example");
	assert_true(json_equal(json_object_get(j, "keys"), json_object_get(plain, "keys")));
	assert_int_equal(json_object_size(j), 2);
	json_decref(j);
	json_decref(plain);
	assert_int_equal(cid_keyset_from_jwks(doc, strlen(doc), &pub), CID_OK);
	assert_string_equal(cid_keyset_issuer(pub), "https://id.city.example");
	cid_keyset_free(pub);
	pub = NULL;
	free(doc);
	doc = NULL;
	/* a JWKS without one: no issuer */
	assert_int_equal(cid_keyset_from_jwks(jwks, len, &pub), CID_OK);
	assert_null(cid_keyset_issuer(pub));
	cid_keyset_free(pub);
	pub = NULL;
	/* an issuer that is not one is refused, writing and reading */
	memset(longiss, 'a', sizeof(longiss) - 1);
	longiss[sizeof(longiss) - 1] = '\0';
	assert_int_equal(cid_keyset_jwks_issuer(f->ks, NULL, &doc), CID_ERR_INVALID);
	assert_int_equal(cid_keyset_jwks_issuer(f->ks, "", &doc), CID_ERR_INVALID);
	assert_int_equal(cid_keyset_jwks_issuer(f->ks, longiss, &doc), CID_ERR_INVALID);
	assert_null(doc);
	for (size_t i = 0; i < sizeof(bad_members) / sizeof(bad_members[0]); i++) {
		char *text = malloc(len + 64);

		assert_non_null(text);
		/* {"keys":[...],"issuer":BAD} */
		snprintf(text, len + 64, "%.*s,\"issuer\":%s}", (int)len - 1, jwks, bad_members[i]);
		if (cid_keyset_from_jwks(text, strlen(text), &pub) != CID_ERR_INVALID)
			fail_msg("issuer %s was accepted", bad_members[i]);
		assert_null(pub);
		free(text);
	}
}

static void test_keyset_load_all_keeps_dropped_keys(void **state)
{
	struct fixture *f = *state;
	struct cid_keyset *now_ks = NULL;
	struct cid_keyset *all = NULL;
	char *old_tok = sign(f->ks, "ES256", "at+jwt");
	char *new_tok;
	json_t *out = NULL;

	assert_int_equal(cid_keys_rotate(f->s, "ES256", NOW + 10, KEEP, NULL), CID_OK);
	/* past drop_after: the current keyset no longer knows the old key */
	assert_int_equal(cid_keyset_load(f->s, NOW + 10 + KEEP + 1, &now_ks), CID_OK);
	assert_int_equal(cid_jws_verify(now_ks, old_tok, strlen(old_tok), NULL, &out),
			 CID_ERR_INVALID);
	assert_int_equal(cid_keyset_load_all(f->s, &all), CID_OK);
	assert_int_equal(cid_jws_verify(all, old_tok, strlen(old_tok), NULL, &out), CID_OK);
	json_decref(out);
	out = NULL;
	/* it signs with the new active key, which both verify */
	new_tok = sign(all, "ES256", "at+jwt");
	assert_int_equal(cid_jws_verify(now_ks, new_tok, strlen(new_tok), NULL, &out), CID_OK);
	json_decref(out);
	free(new_tok);
	free(old_tok);
	cid_keyset_free(now_ks);
	cid_keyset_free(all);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ensure_creates_one_key_per_alg_once),
	    cmocka_unit_test_setup_teardown(test_jwks_has_public_keys_only, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sign_verify_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sign_refuses_unknown_alg_and_non_object, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_typ_must_match_when_asked, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tampered_tokens_are_denied, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_header_attacks_are_invalid, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_signed_payload_must_be_object, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed_tokens, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rotation_keeps_old_key_until_drop_after, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_rotate_rejects_bad_arguments_and_counts_versions,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_keys_list_is_public, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_publish_then_activate_when_due, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_activation_time_rule, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_publish_and_activate_refuse_bad_arguments, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_rotate_retires_a_published_next_key, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_rotate_keep_zero_withdraws_the_old_key, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_drop_withdraws_a_retired_key, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_drop_withdraws_a_next_key, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_damaged_key_records, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_swapped_pem_of_same_type_is_store_damage, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_ec_coordinate_with_leading_zero_is_padded, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_keyset_from_jwks_verifies_offline, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_keyset_from_jwks_judges_rsa_keys_alike, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_keyset_from_jwks_refuses_bad_documents, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_jwks_carries_the_issuer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_keyset_load_all_keeps_dropped_keys, setup,
					    teardown),
	    cmocka_unit_test(test_half_hash),
	    cmocka_unit_test_setup_teardown(test_keyset_shared_by_threads, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_libjwt_verifies_our_tokens, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
