/*
 * jose_keyset: the keyset loaded from the key records of the store
 * (jose_keys.c keeps them): every live key parsed into an EVP_PKEY once, its
 * public JWK published, the active key of each algorithm first, with the
 * store's keys_version it was loaded at and the next time it changes by
 * itself (a retired key's drop, a next key's activation).
 */
#include "jose_int.h"

#include "crypto.h"
#include "str.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Parses one stored record into k and appends its public JWK to keys. */
static enum cid_err key_load(const json_t *rec, struct key *k, json_t *keys)
{
	enum cid_err rc = CID_OK;
	const json_t *pem = json_object_get(rec, "private_pem");
	int alg = jose_alg_parse(cid_json_str(rec, "alg"));
	char kid[KID_CHARS + 1];
	BIO *bio = NULL;
	json_t *jwk = NULL;

	/* jose_records_load admits only valid records; checked again as k->alg indexes arrays */
	CID_ENSURE(alg >= 0, CID_ERR_STORE);
	k->alg = (enum alg)alg;
	k->active = strcmp(cid_json_str(rec, "state"), "active") == 0;
	k->created_at = (int64_t)json_integer_value(json_object_get(rec, "created_at"));
	CID_ENSURE(json_string_length(pem) <= INT32_MAX, CID_ERR_STORE);
	bio = BIO_new_mem_buf(json_string_value(pem), (int)json_string_length(pem));
	CID_ENSURE(bio != NULL, CID_ERR_NOMEM);
	k->pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	CID_ENSURE(k->pkey != NULL, CID_ERR_CRYPTO);
	CID_TRY(jose_jwk_public(k->pkey, k->alg, &jwk));
	/* the kid names this public key: a record whose key was swapped is damaged */
	CID_TRY(jose_thumbprint(jwk, kid));
	CID_ENSURE(strcmp(kid, cid_json_str(rec, "kid")) == 0, CID_ERR_STORE);
	memcpy(k->kid, kid, sizeof(kid));
	CID_ENSURE(json_object_set_new(jwk, "kid", json_string(kid)) == 0 &&
		       json_object_set_new(jwk, "alg", json_string(jose_alg_names[k->alg])) == 0 &&
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
	CID_TRY(cid_txn_counter_get(txn, JOSE_KEYS_VERSION, "version", &ks->version));
	CID_TRY(jose_records_load(txn, &recs));
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

			if (active != (pass == 0) || (!all && !jose_record_live(rec, now)))
				continue;
			CID_TRY(key_load(rec, k, keys));
			ks->n++;
			if (k->active) {
				if (ks->active[k->alg] == NULL ||
				    ks->active[k->alg]->created_at < k->created_at)
					ks->active[k->alg] = k;
				continue;
			}
			if (strcmp(cid_json_str(rec, "state"), "next") == 0) {
				int64_t at = (int64_t)json_integer_value(
				    json_object_get(rec, "activate_at"));

				if (ks->next_activate == 0 || at < ks->next_activate)
					ks->next_activate = at;
				continue;
			}
			drop = (int64_t)json_integer_value(json_object_get(rec, "drop_after"));
			if (ks->next_drop == 0 || drop < ks->next_drop)
				ks->next_drop = drop;
		}
	}
	for (int a = 0; a < ALG_COUNT && !all; a++)
		CID_ENSURE(ks->active[a] != NULL, CID_ERR_NOTFOUND);
	CID_TRY(jose_keyset_publish(ks, keys));
	*out = ks;
	ks = NULL;
out:
	cid_store_read_end(txn);
	jose_records_free(recs);
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

uint64_t cid_keyset_version(const struct cid_keyset *ks)
{
	return ks->version;
}

int64_t cid_keyset_next_drop(const struct cid_keyset *ks)
{
	return ks->next_drop;
}

int64_t cid_keyset_next_activate(const struct cid_keyset *ks)
{
	return ks->next_activate;
}
