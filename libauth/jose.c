/*
 * jose: signing keys in the store, the immutable keyset, and compact JWS.
 *
 * A key is generated (and its PEM and thumbprint computed) before the write
 * transaction that stores it, so the cid_store_update callbacks only read and
 * write records and may safely run twice. Every change bumps META
 * "keys_version" in the same transaction, which is how a running server notices
 * a rotation made by the CLI. A keyset parses each PEM once and never changes
 * afterwards: signing and verifying only read it, each call with its own
 * EVP_MD_CTX, so one keyset serves every thread. The header decides nothing
 * but the kid: the key, and therefore the algorithm, comes from our own store.
 */
#include "jose.h"

#include "bounds.h"
#include "buf.h"
#include "crypto.h"
#include "str.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define KID_CHARS     43  /* base64url of a SHA-256 thumbprint */
#define KID_MAX	      128 /* longest kid accepted from a foreign JWKS */
#define JWKS_MAX_KEYS 64
#define ES256_COORD   32 /* bytes of a P-256 coordinate, and of r and s */
#define ES256_SIG     64 /* JWS ES256 signature: r || s (RFC 7518 §3.4) */
#define RSA_MIN_BITS  2048
#define RSA_MAX_BITS  4096
#define SIG_MAX	      (RSA_MAX_BITS / 8) /* largest raw or DER signature we handle */
#define B64_MAX	      700		 /* > cid_b64url_len(SIG_MAX) */
#define KEYS_VERSION  "keys_version"
#define ENSURE_TRIES  3

enum alg { ALG_ES256, ALG_RS256, ALG_COUNT };

static const char *const alg_names[ALG_COUNT] = {"ES256", "RS256"};

/* One loaded key: parsed once, read-only afterwards. */
struct key {
	char kid[KID_MAX + 1];
	enum alg alg;
	bool active;
	int64_t created_at;
	EVP_PKEY *pkey;
};

struct cid_keyset {
	uint64_t version;
	int64_t next_drop;
	struct key *keys; /* active keys first */
	size_t n;
	const struct key *active[ALG_COUNT];
	char *jwks;
	size_t jwks_len;
};

/* A key generated outside the write transaction, ready to be stored. */
struct newkey {
	enum alg alg;
	char kid[KID_CHARS + 1];
	char *pem; /* PKCS#8 PEM, wiped and freed by newkey_clear */
	size_t pem_len;
};

static int alg_parse(const char *name)
{
	if (name == NULL)
		return -1;
	for (int i = 0; i < ALG_COUNT; i++)
		if (strcmp(name, alg_names[i]) == 0)
			return i;
	return -1;
}

/*
 * Wipes the private PEM held in a parsed record before it is freed. jansson
 * owns the string's (writable) heap memory; only its accessor is const.
 */
static void wipe_pem(json_t *rec)
{
	json_t *v = json_object_get(rec, "private_pem");

	if (json_is_string(v))
		cid_wipe((void *)(uintptr_t)json_string_value(v), json_string_length(v));
}

static void records_free(json_t *recs)
{
	size_t i;
	json_t *rec;

	json_array_foreach(recs, i, rec) wipe_pem(rec);
	json_decref(recs);
}

static void newkey_clear(struct newkey *nk)
{
	if (nk->pem != NULL) {
		cid_wipe(nk->pem, nk->pem_len);
		free(nk->pem);
	}
	/* member by member, not memset(nk, ...): memset of one element of an
	 * array of newkey makes clang's analyzer forget what the other elements
	 * hold, and it then reports their PEMs as leaked */
	nk->alg = ALG_ES256;
	memset(nk->kid, 0, sizeof(nk->kid));
	nk->pem = NULL;
	nk->pem_len = 0;
}

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
		if (!EVP_PKEY_is_a(pkey, "RSA") || bits < RSA_MIN_BITS || bits > RSA_MAX_BITS)
			return CID_ERR_CRYPTO;
		return CID_OK;
	default: return CID_ERR_INVALID;
	}
}

/*
 * The required public members of the JWK of pkey (RFC 7638 §3.2): exactly
 * {"crv","kty","x","y"} for EC and {"e","kty","n"} for RSA. *out: new reference.
 */
static enum cid_err jwk_public(const EVP_PKEY *pkey, enum alg alg, json_t **out)
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
static enum cid_err thumbprint(const json_t *jwk, char kid[KID_CHARS + 1])
{
	enum cid_err rc = CID_OK;
	uint8_t h[32];
	char *canon = NULL;
	size_t n = 0;

	CID_TRY(cid_json_dumps(jwk, JSON_COMPACT | JSON_SORT_KEYS, &canon, &n));
	cid_sha256(canon, n, h);
	CID_TRY(cid_b64url_encode(h, sizeof(h), kid, KID_CHARS + 1));
out:
	free(canon);
	return rc;
}

/* Generates a key for alg with its kid and PKCS#8 PEM. Touches nothing shared. */
static enum cid_err newkey_make(enum alg alg, struct newkey *nk)
{
	enum cid_err rc = CID_OK;
	EVP_PKEY *pkey = NULL;
	BIO *bio = NULL;
	json_t *jwk = NULL;
	char *data;
	long len;

	*nk = (struct newkey){.alg = alg};
	if (alg == ALG_ES256)
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	else
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)RSA_MIN_BITS);
	CID_ENSURE(pkey != NULL, CID_ERR_CRYPTO);
	CID_TRY(jwk_public(pkey, alg, &jwk));
	CID_TRY(thumbprint(jwk, nk->kid));
	bio = BIO_new(BIO_s_mem());
	CID_ENSURE(bio != NULL, CID_ERR_NOMEM);
	CID_ENSURE(PEM_write_bio_PKCS8PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) == 1,
		   CID_ERR_CRYPTO);
	len = BIO_get_mem_data(bio, &data);
	CID_ENSURE(len > 0, CID_ERR_CRYPTO);
	nk->pem = malloc((size_t)len + 1);
	CID_ENSURE(nk->pem != NULL, CID_ERR_NOMEM);
	memcpy(nk->pem, data, (size_t)len);
	nk->pem[len] = '\0';
	nk->pem_len = (size_t)len;
out:
	if (rc != CID_OK) {
		newkey_clear(nk);
		ERR_clear_error();
	}
	json_decref(jwk);
	BIO_free(bio); /* a memory BIO's buffer is cleansed when freed */
	EVP_PKEY_free(pkey);
	return rc;
}

/* ---- key records in the store ---- */

/* Checks the shape of a stored key record; a bad one means a damaged store. */
static bool record_valid(const json_t *rec, struct cid_str key)
{
	const char *kid = cid_json_str(rec, "kid");
	const char *state = cid_json_str(rec, "state");

	if (!json_is_object(rec) || kid == NULL || !cid_str_eq(key, kid) ||
	    alg_parse(cid_json_str(rec, "alg")) < 0 || cid_json_str(rec, "private_pem") == NULL ||
	    !json_is_integer(json_object_get(rec, "created_at")) || state == NULL)
		return false;
	if (strcmp(state, "active") == 0)
		return true;
	return strcmp(state, "retired") == 0 && json_is_integer(json_object_get(rec, "drop_after"));
}

static enum cid_err collect_cb(struct cid_str key, struct cid_str val, void *arg)
{
	json_t *rec = json_loadb(val.ptr, val.len, JSON_REJECT_DUPLICATES, NULL);

	if (rec == NULL || !record_valid(rec, key)) {
		wipe_pem(rec);
		json_decref(rec);
		return CID_ERR_STORE;
	}
	if (json_array_append_new(arg, rec) != 0)
		return CID_ERR_NOMEM;
	return CID_OK;
}

/* Every key record, in kid order. *out: new array; release with records_free. */
static enum cid_err records_load(struct cid_txn *txn, json_t **out)
{
	enum cid_err rc = CID_OK;
	json_t *recs = json_array();

	CID_ENSURE(recs != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_txn_foreach(txn, CID_DB_KEYS, (struct cid_str){NULL, 0}, collect_cb, recs));
	*out = recs;
	recs = NULL;
out:
	records_free(recs);
	return rc;
}

static bool record_active(const json_t *rec, enum alg alg)
{
	return alg_parse(cid_json_str(rec, "alg")) == (int)alg &&
	       strcmp(cid_json_str(rec, "state"), "active") == 0;
}

/* have[alg] = whether an active key of alg is stored. */
static enum cid_err active_algs(struct cid_txn *txn, bool have[ALG_COUNT])
{
	enum cid_err rc = CID_OK;
	json_t *recs = NULL;
	json_t *rec;
	size_t i;

	CID_TRY(records_load(txn, &recs));
	for (int a = 0; a < ALG_COUNT; a++) {
		have[a] = false;
		json_array_foreach(recs, i, rec) have[a] =
		    have[a] || record_active(rec, (enum alg)a);
	}
out:
	records_free(recs);
	return rc;
}

static enum cid_err newkey_put(struct cid_txn *txn, const struct newkey *nk, int64_t now)
{
	enum cid_err rc = CID_OK;
	json_t *rec = NULL;

	CID_ENSURE((unsigned)nk->alg < ALG_COUNT, CID_ERR_INVALID); /* indexes alg_names */
	rec = json_pack("{s:s, s:s, s:s%, s:s, s:I}", "kid", nk->kid, "alg", alg_names[nk->alg],
			"private_pem", nk->pem, nk->pem_len, "state", "active", "created_at",
			(json_int_t)now);
	CID_ENSURE(rec != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_txn_put_json(txn, CID_DB_KEYS, cid_str_of(nk->kid), rec, CID_PUT_NOOVERWRITE));
out:
	wipe_pem(rec);
	json_decref(rec);
	return rc;
}

struct ensure {
	int64_t now;
	struct newkey fresh[ALG_COUNT]; /* pem NULL: none generated for that alg */
	bool again;			/* an alg lacked a key and none was generated */
};

static enum cid_err ensure_cb(struct cid_txn *txn, void *arg)
{
	struct ensure *e = arg;
	enum cid_err rc = CID_OK;
	bool have[ALG_COUNT];
	bool wrote = false;

	e->again = false;
	CID_TRY(active_algs(txn, have));
	for (int a = 0; a < ALG_COUNT; a++) {
		if (have[a])
			continue;
		if (e->fresh[a].pem == NULL) {
			e->again = true;
			continue;
		}
		CID_TRY(newkey_put(txn, &e->fresh[a], e->now));
		wrote = true;
	}
	if (wrote)
		CID_TRY(cid_txn_counter_add(txn, KEYS_VERSION, "version", 1, NULL));
out:
	return rc;
}

static enum cid_err read_active(struct cid_store *s, bool have[ALG_COUNT])
{
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;

	CID_TRY(cid_store_read_begin(s, &txn));
	CID_TRY(active_algs(txn, have));
out:
	cid_store_read_end(txn);
	return rc;
}

enum cid_err cid_keys_ensure(struct cid_store *s, int64_t now)
{
	enum cid_err rc = CID_OK;
	struct ensure e = {.now = now};
	bool have[ALG_COUNT];
	bool missing;

	/* Another process may make keys between our read and our write: the
	 * callback writes only what is still missing and asks for another round
	 * if something went missing that we did not generate. */
	for (int round = 0; round < ENSURE_TRIES; round++) {
		CID_TRY(read_active(s, have));
		missing = false;
		for (int a = 0; a < ALG_COUNT; a++) {
			newkey_clear(&e.fresh[a]);
			if (have[a])
				continue;
			CID_TRY(newkey_make((enum alg)a, &e.fresh[a]));
			missing = true;
		}
		if (!missing)
			goto out;
		CID_TRY(cid_store_update(s, ensure_cb, &e));
		if (!e.again)
			goto out;
	}
	rc = CID_ERR_STORE;
out:
	for (int a = 0; a < ALG_COUNT; a++)
		newkey_clear(&e.fresh[a]);
	return rc;
}

struct rotate {
	const struct newkey *fresh;
	int64_t now;
	int64_t drop_after;
};

static enum cid_err rotate_cb(struct cid_txn *txn, void *arg)
{
	const struct rotate *r = arg;
	enum cid_err rc = CID_OK;
	json_t *recs = NULL;
	json_t *rec;
	size_t i;

	CID_TRY(records_load(txn, &recs));
	json_array_foreach(recs, i, rec)
	{
		if (!record_active(rec, r->fresh->alg))
			continue;
		CID_ENSURE(
		    json_object_set_new(rec, "state", json_string("retired")) == 0 &&
			json_object_set_new(rec, "retired_at", json_integer(r->now)) == 0 &&
			json_object_set_new(rec, "drop_after", json_integer(r->drop_after)) == 0,
		    CID_ERR_NOMEM);
		CID_TRY(cid_txn_put_json(txn, CID_DB_KEYS, cid_str_of(cid_json_str(rec, "kid")),
					 rec, 0));
	}
	CID_TRY(newkey_put(txn, r->fresh, r->now));
	CID_TRY(cid_txn_counter_add(txn, KEYS_VERSION, "version", 1, NULL));
out:
	records_free(recs);
	return rc;
}

enum cid_err cid_keys_rotate(struct cid_store *s, const char *alg, int64_t now, int64_t keep,
			     char **kid_out)
{
	enum cid_err rc = CID_OK;
	struct newkey nk = {0};
	struct rotate r = {.fresh = &nk, .now = now};
	int a = alg_parse(alg);
	char *kid = NULL;

	CID_ENSURE(a >= 0, CID_ERR_INVALID);
	CID_ENSURE(keep >= 0 && now <= INT64_MAX - keep, CID_ERR_INVALID);
	r.drop_after = now + keep;
	CID_TRY(newkey_make((enum alg)a, &nk));
	if (kid_out != NULL) {
		kid = strdup(nk.kid);
		CID_ENSURE(kid != NULL, CID_ERR_NOMEM);
	}
	CID_TRY(cid_store_update(s, rotate_cb, &r));
	if (kid_out != NULL) {
		*kid_out = kid;
		kid = NULL;
	}
out:
	free(kid);
	newkey_clear(&nk);
	return rc;
}

enum cid_err cid_keys_list(struct cid_store *s, json_t **out)
{
	static const char *const public_members[] = {"kid",	   "alg",	 "state",
						     "created_at", "retired_at", "drop_after"};
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;
	json_t *recs = NULL;
	json_t *list = json_array();
	json_t *rec;
	json_t *pub;
	size_t i;

	CID_ENSURE(list != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_store_read_begin(s, &txn));
	CID_TRY(records_load(txn, &recs));
	/* copy what may be shown rather than delete what may not */
	json_array_foreach(recs, i, rec)
	{
		pub = json_object();
		CID_ENSURE(pub != NULL && json_array_append_new(list, pub) == 0, CID_ERR_NOMEM);
		for (size_t m = 0; m < sizeof(public_members) / sizeof(public_members[0]); m++) {
			json_t *v = json_object_get(rec, public_members[m]);

			if (v != NULL)
				CID_ENSURE(json_object_set(pub, public_members[m], v) == 0,
					   CID_ERR_NOMEM);
		}
	}
	*out = list;
	list = NULL;
out:
	cid_store_read_end(txn);
	records_free(recs);
	json_decref(list);
	return rc;
}

enum cid_err cid_keys_version(struct cid_store *s, uint64_t *out)
{
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;
	uint64_t v;

	CID_TRY(cid_store_read_begin(s, &txn));
	CID_TRY(cid_txn_counter_get(txn, KEYS_VERSION, "version", &v));
	*out = v;
out:
	cid_store_read_end(txn);
	return rc;
}

/* ---- the keyset ---- */

/* Parses one stored record into k and appends its public JWK to keys. */
static enum cid_err key_load(const json_t *rec, struct key *k, json_t *keys)
{
	enum cid_err rc = CID_OK;
	const json_t *pem = json_object_get(rec, "private_pem");
	int alg = alg_parse(cid_json_str(rec, "alg"));
	char kid[KID_CHARS + 1];
	BIO *bio = NULL;
	json_t *jwk = NULL;

	/* records_load admits only valid records; checked again as k->alg indexes arrays */
	CID_ENSURE(alg >= 0, CID_ERR_STORE);
	k->alg = (enum alg)alg;
	k->active = strcmp(cid_json_str(rec, "state"), "active") == 0;
	k->created_at = (int64_t)json_integer_value(json_object_get(rec, "created_at"));
	CID_ENSURE(json_string_length(pem) <= INT32_MAX, CID_ERR_STORE);
	bio = BIO_new_mem_buf(json_string_value(pem), (int)json_string_length(pem));
	CID_ENSURE(bio != NULL, CID_ERR_NOMEM);
	k->pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	CID_ENSURE(k->pkey != NULL, CID_ERR_CRYPTO);
	CID_TRY(jwk_public(k->pkey, k->alg, &jwk));
	/* the kid names this public key: a record whose key was swapped is damaged */
	CID_TRY(thumbprint(jwk, kid));
	CID_ENSURE(strcmp(kid, cid_json_str(rec, "kid")) == 0, CID_ERR_STORE);
	memcpy(k->kid, kid, sizeof(kid));
	CID_ENSURE(json_object_set_new(jwk, "kid", json_string(kid)) == 0 &&
		       json_object_set_new(jwk, "alg", json_string(alg_names[k->alg])) == 0 &&
		       json_object_set_new(jwk, "use", json_string("sig")) == 0 &&
		       json_array_append(keys, jwk) == 0,
		   CID_ERR_NOMEM);
out:
	if (rc != CID_OK) {
		EVP_PKEY_free(k->pkey);
		k->pkey = NULL;
		ERR_clear_error();
	}
	BIO_free(bio);
	json_decref(jwk);
	return rc;
}

/* Whether rec is loaded at now: retired keys go once drop_after has passed. */
static bool record_live(const json_t *rec, int64_t now)
{
	const json_t *drop = json_object_get(rec, "drop_after");

	return drop == NULL || (int64_t)json_integer_value(drop) > now;
}

/* Sets ks's published JWKS document, {"keys": keys}. */
static enum cid_err keyset_publish(struct cid_keyset *ks, json_t *keys)
{
	json_t *doc = json_pack("{s:O}", "keys", keys);
	enum cid_err rc = doc == NULL ? CID_ERR_NOMEM
				      : cid_json_dumps(doc, JSON_COMPACT, &ks->jwks, &ks->jwks_len);

	json_decref(doc);
	return rc;
}

/* A keyset of the keys live at now (all: every stored key, active or not required). */
static enum cid_err keyset_load(struct cid_store *s, int64_t now, bool all, struct cid_keyset **out)
{
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;
	struct cid_keyset *ks = calloc(1, sizeof(*ks));
	json_t *recs = NULL;
	json_t *keys = json_array();
	json_t *rec;
	size_t i;

	CID_ENSURE(ks != NULL && keys != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_store_read_begin(s, &txn));
	CID_TRY(cid_txn_counter_get(txn, KEYS_VERSION, "version", &ks->version));
	CID_TRY(records_load(txn, &recs));
	cid_store_read_end(txn);
	txn = NULL;
	ks->keys = calloc(json_array_size(recs) + 1, sizeof(*ks->keys));
	CID_ENSURE(ks->keys != NULL, CID_ERR_NOMEM);
	/* two passes so that active keys come first in the keyset and the JWKS */
	for (int pass = 0; pass < 2; pass++) {
		json_array_foreach(recs, i, rec)
		{
			struct key *k = &ks->keys[ks->n];
			bool active = strcmp(cid_json_str(rec, "state"), "active") == 0;
			int64_t drop;

			if (active != (pass == 0) || (!all && !record_live(rec, now)))
				continue;
			CID_TRY(key_load(rec, k, keys));
			ks->n++;
			if (k->active) {
				if (ks->active[k->alg] == NULL ||
				    ks->active[k->alg]->created_at < k->created_at)
					ks->active[k->alg] = k;
				continue;
			}
			drop = (int64_t)json_integer_value(json_object_get(rec, "drop_after"));
			if (ks->next_drop == 0 || drop < ks->next_drop)
				ks->next_drop = drop;
		}
	}
	for (int a = 0; a < ALG_COUNT && !all; a++)
		CID_ENSURE(ks->active[a] != NULL, CID_ERR_NOTFOUND);
	CID_TRY(keyset_publish(ks, keys));
	*out = ks;
	ks = NULL;
out:
	cid_store_read_end(txn);
	records_free(recs);
	json_decref(keys);
	cid_keyset_free(ks);
	return rc;
}

enum cid_err cid_keyset_load(struct cid_store *s, int64_t now, struct cid_keyset **out)
{
	return keyset_load(s, now, false, out);
}

enum cid_err cid_keyset_load_all(struct cid_store *s, struct cid_keyset **out)
{
	return keyset_load(s, 0, true, out);
}

/* ---- a verify-only keyset from a JWKS document ---- */

static const struct key *key_by_kid(const struct cid_keyset *ks, const char *kid, size_t n)
{
	if (n == 0 || n > KID_MAX)
		return NULL;
	for (size_t i = 0; i < ks->n; i++)
		if (strlen(ks->keys[i].kid) == n && memcmp(ks->keys[i].kid, kid, n) == 0)
			return &ks->keys[i];
	return NULL;
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
 * kty, an "enc" key, an algorithm we do not use). An EC key must be P-256 for
 * ES256, an RSA key is RS256; an "alg" member must agree.
 */
static int jwk_alg(const json_t *jwk)
{
	const char *kty = cid_json_str(jwk, "kty");
	const char *alg = cid_json_str(jwk, "alg");
	const char *use = cid_json_str(jwk, "use");
	int a;

	if (kty == NULL || (use != NULL && strcmp(use, "sig") != 0))
		return -1;
	if (strcmp(kty, "EC") == 0)
		a = ALG_ES256;
	else if (strcmp(kty, "RSA") == 0)
		a = ALG_RS256;
	else
		return -1;
	if (json_object_get(jwk, "alg") != NULL && alg_parse(alg) != a)
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
	CID_ENSURE(json != NULL && len <= CID_MAX_BODY,
		   json == NULL ? CID_ERR_INVALID : CID_ERR_TOOBIG);
	doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
	keys = json_object_get(doc, "keys");
	CID_ENSURE(json_is_object(doc) && json_is_array(keys), CID_ERR_INVALID);
	CID_ENSURE(json_array_size(keys) <= JWKS_MAX_KEYS, CID_ERR_TOOBIG);
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
		if (a < 0)
			continue;
		/* the kid is what a JWS names its key by: without one, a key is useless */
		CID_ENSURE(json_is_string(kid) && json_string_length(kid) > 0 &&
			       json_string_length(kid) <= KID_MAX &&
			       strlen(json_string_value(kid)) == json_string_length(kid),
			   CID_ERR_INVALID);
		CID_ENSURE(key_by_kid(ks, json_string_value(kid), json_string_length(kid)) == NULL,
			   CID_ERR_INVALID);
		k->alg = (enum alg)a;
		CID_TRY(jwk_pkey(jwk, k->alg, &k->pkey));
		memcpy(k->kid, json_string_value(kid), json_string_length(kid) + 1);
		ks->n++;
		CID_TRY(jwk_public(k->pkey, k->alg, &copy));
		CID_ENSURE(json_object_set(copy, "kid", kid) == 0 &&
			       json_object_set_new(copy, "alg", json_string(alg_names[k->alg])) ==
				   0 &&
			       json_object_set_new(copy, "use", json_string("sig")) == 0,
			   CID_ERR_NOMEM);
		/* the append takes copy even when it fails: never release it twice */
		rc = json_array_append_new(pub, copy) == 0 ? CID_OK : CID_ERR_NOMEM;
		copy = NULL;
		CID_TRY(rc);
	}
	CID_ENSURE(ks->n > 0, CID_ERR_NOTFOUND);
	CID_TRY(keyset_publish(ks, pub));
	*out = ks;
	ks = NULL;
out:
	json_decref(copy);
	json_decref(doc);
	json_decref(pub);
	cid_keyset_free(ks);
	return rc;
}

void cid_keyset_free(struct cid_keyset *ks)
{
	if (ks == NULL)
		return;
	for (size_t i = 0; i < ks->n; i++)
		EVP_PKEY_free(ks->keys[i].pkey);
	free(ks->keys);
	free(ks->jwks);
	free(ks);
}

uint64_t cid_keyset_version(const struct cid_keyset *ks)
{
	return ks->version;
}

int64_t cid_keyset_next_drop(const struct cid_keyset *ks)
{
	return ks->next_drop;
}

const char *cid_keyset_jwks(const struct cid_keyset *ks, size_t *len)
{
	*len = ks->jwks_len;
	return ks->jwks;
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
	int a = alg_parse(alg);
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
		header = json_pack("{s:s, s:s, s:s}", "alg", alg_names[k->alg], "typ", typ, "kid",
				   k->kid);
	else
		header = json_pack("{s:s, s:s}", "alg", alg_names[k->alg], "kid", k->kid);
	CID_ENSURE(header != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_json_dumps(header, JSON_COMPACT | JSON_SORT_KEYS, &h, NULL));
	CID_TRY(cid_json_dumps(claims, JSON_COMPACT, &p, NULL));
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
	CID_ENSURE(len <= CID_MAX_TOKEN, CID_ERR_TOOBIG);
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
	k = key_by_kid(ks, json_string_value(kid), json_string_length(kid));
	CID_ENSURE(k != NULL, CID_ERR_INVALID);
	/* the key fixes the algorithm: "none", HS256 or another alg is refused outright */
	CID_ENSURE(json_is_string(json_object_get(header, "alg")) &&
		       strcmp(cid_json_str(header, "alg"), alg_names[k->alg]) == 0 &&
		       json_string_length(json_object_get(header, "alg")) ==
			   strlen(alg_names[k->alg]),
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
	if (alg_parse(alg) < 0 || token == NULL)
		return CID_ERR_INVALID;
	cid_sha256(token, strlen(token), h);
	rc = cid_b64url_encode(h, sizeof(h) / 2, out, 44);
	cid_wipe(h, sizeof(h));
	return rc;
}
