/*
 * token_jwt: the JWTs civicid issues, and the check of the access tokens
 * presented back to it.
 *
 * Access tokens are stateless: minting one writes nothing, and checking one
 * reads only what can revoke it (the revoked jti, the grant, the citizen's
 * generation), so a token is refused the moment any of those changes, however
 * long it has left to live. What does not change (the signature against a
 * keyset, the claims) is worked out once: the keyset's memo keeps a checked
 * token's claims beside the token's bytes, and a keyset that drops a key
 * starts with an empty memo, so nothing it no longer verifies is remembered.
 */
#include "token.h"

#include "bounds.h"
#include "crypto.h"
#include "str.h"
#include "token_int.h"

#include <stdlib.h>
#include <string.h>

void cid_token_subject(const struct cid_ctx *ctx, const struct cid_policyset *ps,
		       const struct cid_client *client, const char *account_id,
		       char out[CID_TOKEN_CHARS + 1])
{
	const struct cid_policy *pol = cid_policyset_find(ps, client->client_id);
	/* sector (<= 255) + separator + account id + 32-byte salt */
	uint8_t material[256 + 1 + CID_ID_CHARS + 32];
	uint8_t digest[32];
	size_t al = strnlen(account_id, CID_ID_CHARS);
	size_t sl = strnlen(client->sector, 255);
	size_t n = 0;

	if (!client->pairwise && pol != NULL && cid_policy_public_subject(pol)) {
		memcpy(out, account_id, al);
		out[al] = '\0';
		return;
	}
	/*= OIDC Core §8.1: sub = SHA-256 ( sector_identifier || local_account_id || salt ) */
	memcpy(material + n, client->sector, sl);
	n += sl;
	material[n++] = '\n'; /* no sector can contain it, so the split is unambiguous */
	memcpy(material + n, account_id, al);
	n += al;
	memcpy(material + n, cid_ctx_pairwise_salt(ctx), 32);
	n += 32;
	cid_sha256(material, n, digest);
	if (cid_b64url_encode(digest, sizeof(digest), out, CID_TOKEN_CHARS + 1) != CID_OK)
		out[0] = '\0';
}

/* Claims every token of ours has. */
static json_t *base_claims(const struct cid_ctx *ctx, const char *sub, const char *aud, int64_t now,
			   int64_t ttl)
{
	return json_pack("{s:s, s:s, s:s, s:I, s:I}", "iss", cid_ctx_config(ctx)->issuer, "sub",
			 sub, "aud", aud, "iat", (json_int_t)now, "exp", (json_int_t)now + ttl);
}

/*
 * Adds to token claims c how the citizen of grant g authenticated (auth_time,
 * acr) and, for an access token, the grant_id, for an ID token amr, sid and
 * nonce: each only when the grant has one.
 */
static enum cid_err grant_claims(json_t *c, const struct cid_grant *g, bool id_token)
{
	json_t *amr = NULL;

	if ((g->auth_time != 0 &&
	     json_object_set_new(c, "auth_time", json_integer(g->auth_time)) != 0) ||
	    (g->acr[0] != '\0' && json_object_set_new(c, "acr", json_string(g->acr)) != 0))
		return CID_ERR_NOMEM;
	if (!id_token)
		return json_object_set_new(c, "grant_id", json_string(g->id)) == 0 ? CID_OK
										   : CID_ERR_NOMEM;
	if ((g->sid[0] != '\0' && json_object_set_new(c, "sid", json_string(g->sid)) != 0) ||
	    (g->nonce != NULL && json_object_set_new(c, "nonce", json_string(g->nonce)) != 0))
		return CID_ERR_NOMEM;
	if (g->n_amr == 0)
		return CID_OK;
	if ((amr = json_array()) == NULL || json_object_set_new(c, "amr", amr) != 0)
		return CID_ERR_NOMEM;
	for (size_t i = 0; i < g->n_amr; i++)
		if (json_array_append_new(amr, json_string(g->amr[i])) != 0)
			return CID_ERR_NOMEM;
	return CID_OK;
}

enum cid_err cid_token_access_mint(struct cid_ctx *ctx, const struct cid_keyset *ks,
				   const struct cid_client *client, const char *sub,
				   const char *scope, const struct cid_grant *grant, int64_t now,
				   char **out)
{
	enum cid_err rc = CID_OK;
	char jti[CID_TOKEN_CHARS + 1];
	json_t *c = base_claims(ctx, sub, client->client_id, now, cid_ctx_config(ctx)->access_ttl);

	CID_ENSURE(c != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_random_token(jti));
	/*= RFC 9068 §2.2: iss, exp, aud, sub, client_id, iat, jti are REQUIRED */
	CID_ENSURE(json_object_set_new(c, "client_id", json_string(client->client_id)) == 0 &&
		       json_object_set_new(c, "jti", json_string(jti)) == 0,
		   CID_ERR_NOMEM);
	if (scope != NULL && scope[0] != '\0')
		CID_ENSURE(json_object_set_new(c, "scope", json_string(scope)) == 0, CID_ERR_NOMEM);
	if (grant != NULL)
		CID_TRY(grant_claims(c, grant, false));
	/*= RFC 9068 §2.1: typ header "at+jwt" */
	CID_TRY(cid_jws_sign(ks, "ES256", "at+jwt", c, out));
out:
	json_decref(c);
	return rc;
}

enum cid_err cid_token_id_mint(struct cid_ctx *ctx, const struct cid_keyset *ks,
			       const struct cid_client *client, const char *sub,
			       const struct cid_grant *grant, const char *access_token,
			       json_t *claims, int64_t now, char **out)
{
	enum cid_err rc = CID_OK;
	char at_hash[44];
	const char *name;
	json_t *value;
	json_t *c =
	    base_claims(ctx, sub, client->client_id, now, cid_ctx_config(ctx)->id_token_ttl);

	CID_ENSURE(c != NULL, CID_ERR_NOMEM);
	/* not json_object_update_missing: jansson 2.14's drops a member it runs out of
	 * memory for and still reports success, and a released claim would go missing */
	json_object_foreach(claims, name, value)
	{
		if (json_object_get(c, name) == NULL)
			CID_ENSURE(json_object_set(c, name, value) == 0, CID_ERR_NOMEM);
	}
	CID_TRY(grant_claims(c, grant, true));
	CID_ENSURE(json_object_set_new(c, "azp", json_string(client->client_id)) == 0,
		   CID_ERR_NOMEM);
	if (access_token != NULL) {
		/*= OIDC Core §3.1.3.6: at_hash is the base64url of the left half of the hash */
		CID_TRY(cid_jose_half_hash(client->id_token_alg, access_token, at_hash));
		CID_ENSURE(json_object_set_new(c, "at_hash", json_string(at_hash)) == 0,
			   CID_ERR_NOMEM);
	}
	CID_TRY(cid_jws_sign(ks, client->id_token_alg, "JWT", c, out));
out:
	json_decref(c);
	return rc;
}

void cid_access_free(struct cid_access *a)
{
	if (a != NULL && atomic_fetch_sub(&a->refs, 1) == 1)
		free(a);
}

static void access_ref(void *a)
{
	atomic_fetch_add(&((struct cid_access *)a)->refs, 1);
}

static void access_unref(void *a)
{
	cid_access_free(a);
}

/* A checked token's claims are a function of the token and the keyset: the keyset's memo. */
static const struct cid_memo_kind access_kind = {access_ref, access_unref};

/* The string claims of struct cid_access, in the order of its members. */
static const char *const text_claims[] = {"sub", "aud",	     "client_id", "scope",
					  "jti", "grant_id", "acr"};

/* Integer claim name of c into *out (0 when absent); false if it is there but no integer. */
static bool int_claim(const json_t *c, const char *name, int64_t *out)
{
	const json_t *v = json_object_get(c, name);

	*out = v == NULL ? 0 : (int64_t)json_integer_value(v);
	return v == NULL || json_is_integer(v);
}

/* The typed claims of c, which passed the checks of access_parse. Errors: CID_ERR_INVALID, NOMEM.
 */
static enum cid_err access_of(const json_t *c, struct cid_access **out)
{
	enum cid_err rc = CID_OK;
	const char **slot[] = {NULL, NULL, NULL, NULL, NULL, NULL, NULL};
	struct cid_access *a = NULL;
	size_t n = 0;
	char *p;

	_Static_assert(sizeof(slot) / sizeof(slot[0]) ==
			   sizeof(text_claims) / sizeof(text_claims[0]),
		       "a slot per string claim");
	for (size_t i = 0; i < sizeof(text_claims) / sizeof(text_claims[0]); i++) {
		const json_t *v = json_object_get(c, text_claims[i]);

		CID_ENSURE(v == NULL || json_is_string(v), CID_ERR_INVALID);
		n += v == NULL ? 0 : json_string_length(v) + 1;
	}
	a = calloc(1, sizeof(*a) + n);
	CID_ENSURE(a != NULL, CID_ERR_NOMEM);
	atomic_init(&a->refs, 1);
	slot[0] = &a->sub;
	slot[1] = &a->aud;
	slot[2] = &a->client_id;
	slot[3] = &a->scope;
	slot[4] = &a->jti;
	slot[5] = &a->grant_id;
	slot[6] = &a->acr;
	p = a->text;
	for (size_t i = 0; i < sizeof(text_claims) / sizeof(text_claims[0]); i++) {
		const json_t *v = json_object_get(c, text_claims[i]);

		if (v == NULL)
			continue;
		memcpy(p, json_string_value(v), json_string_length(v) + 1);
		*slot[i] = p;
		p += json_string_length(v) + 1;
	}
	CID_ENSURE(int_claim(c, "exp", &a->exp) && int_claim(c, "iat", &a->iat) &&
		       int_claim(c, "auth_time", &a->auth_time),
		   CID_ERR_INVALID);
	/* every access token civicid mints names its subject and its client */
	CID_ENSURE(a->sub != NULL && a->client_id != NULL, CID_ERR_INVALID);
	*out = a;
	a = NULL;
out:
	cid_access_free(a);
	return rc;
}

/*
 * What of an access token depends on the token and the keyset alone: the
 * signature, typ at+jwt, our iss, an integer exp and iat, a jti of ours, a
 * sub and a client_id, claims of the right types. Expiry and the lifetime
 * are left to the caller, as they change with time and the configuration.
 */
static enum cid_err access_parse(struct cid_ctx *ctx, const struct cid_keyset *ks, const char *jwt,
				 size_t n, struct cid_access **out)
{
	enum cid_err rc = CID_OK;
	json_t *c = NULL;
	const char *jti;

	CID_TRY(cid_jws_verify(ks, jwt, n, "at+jwt", &c));
	CID_ENSURE(cid_str_eq(cid_str_of(cid_json_str(c, "iss")), cid_ctx_config(ctx)->issuer),
		   CID_ERR_INVALID);
	/* every access token civicid mints has both: its lifetime is checked */
	CID_ENSURE(json_is_integer(json_object_get(c, "exp")) &&
		       json_is_integer(json_object_get(c, "iat")),
		   CID_ERR_INVALID);
	jti = cid_json_str(c, "jti");
	CID_ENSURE(jti != NULL && strlen(jti) == CID_TOKEN_CHARS, CID_ERR_INVALID);
	CID_TRY(access_of(c, out));
out:
	json_decref(c);
	return rc;
}

enum cid_err cid_token_access_verify(struct cid_ctx *ctx, struct cid_keyref *ref,
				     struct cid_txn *txn, const char *jwt, int64_t now,
				     struct cid_access **out, struct cid_grant **grant_out)
{
	enum cid_err rc = CID_OK;
	struct cid_memo *memo = cid_keyref_memo(ref, &access_kind);
	struct cid_access *a = NULL;
	struct cid_grant *grant = NULL;
	struct cid_str val;
	size_t n = jwt == NULL ? 0 : strnlen(jwt, CID_MAX_TOKEN + 1);
	struct cid_str token = {jwt, n};

	CID_ENSURE(n > 0, CID_ERR_INVALID);
	a = cid_memo_get(memo, token, (struct cid_str){"", 0});
	if (a == NULL) {
		/* a malformed token's errors come before its expiry's, as they always did */
		CID_TRY(access_parse(ctx, cid_keyref_keyset(ref), jwt, n, &a));
		cid_memo_put(memo, token, (struct cid_str){"", 0}, a);
	}
	/* civicid mints access tokens for access_ttl from now: one that claims
	 * longer or to come from the future was not minted by it, whoever holds
	 * the key (iat and exp non-negative, so exp - iat cannot overflow) */
	CID_ENSURE(a->iat >= 0 && a->exp >= 0 && a->iat <= now + CID_CLOCK_SKEW &&
		       a->exp - a->iat <= cid_ctx_config(ctx)->access_ttl + CID_CLOCK_SKEW,
		   CID_ERR_INVALID);
	/* our own token, on our own clock: expired at its exp, as codes and
	 * refresh tokens are (RFC 7662 §2.2: active is not expired) */
	CID_ENSURE(a->exp > now, CID_ERR_EXPIRED);
	/* what revokes a token is read on every call, never remembered */
	rc = cid_txn_get(txn, CID_DB_REVOKED, cid_str_of(a->jti), &val);
	CID_ENSURE(rc != CID_OK, CID_ERR_REVOKED);
	CID_ENSURE(rc == CID_ERR_NOTFOUND, rc);
	rc = CID_OK;
	if (a->grant_id != NULL) {
		CID_TRY(cid_grant_get_txn(txn, a->grant_id, &grant));
		CID_TRY(token_grant_usable_typed(txn, grant));
	}
	*out = a;
	a = NULL;
	if (grant_out != NULL) {
		*grant_out = grant;
		grant = NULL;
	}
out:
	cid_access_free(a);
	cid_grant_free(grant);
	return rc;
}

struct revoke_jti {
	const char *jti;
	int64_t exp;
};

static enum cid_err revoke_jti_cb(struct cid_txn *txn, void *arg)
{
	struct revoke_jti *r = arg;
	enum cid_err rc = CID_OK;
	json_t *rec = json_pack("{s:I}", "exp", (json_int_t)r->exp);

	CID_ENSURE(rec != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_txn_put_json(txn, CID_DB_REVOKED, cid_str_of(r->jti), rec, 0));
out:
	json_decref(rec);
	return rc;
}

enum cid_err cid_token_access_revoke(struct cid_store *s, const struct cid_access *a)
{
	struct revoke_jti r = {.jti = a->jti, .exp = a->exp};

	if (r.jti == NULL || r.exp == 0)
		return CID_ERR_INVALID;
	return cid_store_update(s, revoke_jti_cb, &r);
}
