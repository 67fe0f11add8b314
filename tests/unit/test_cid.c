/*
 * cid: the request context on a real store. First start makes the keys and the
 * pairwise salt, a reopen reuses them; the discovery document; the counted
 * keyset references across a rotation (cid_keys_rotate), a refresh and the
 * dropping of a retired key.
 */
#include "account.h"
#include "audit.h"
#include "audit_release.h"
#include "cid.h"
#include "config.h"
#include "consent.h"
#include "idp.h"
#include "jose.h"
#include "oidc.h"
#include "str.h"
#include "support.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#define NOW  1800000000
#define KEEP ((int64_t)3600)

struct fixture {
	char dir[256];
	struct cid_config *cfg;
	struct cid_ctx *ctx;
};

static void config_in(struct fixture *f, const char *issuer)
{
	f->cfg = cid_test_config(f->dir);
	if (issuer != NULL)
		cid_test_set(f->cfg, "issuer", issuer);
	cid_test_policies(f->cfg, f->dir, NULL, NULL);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	config_in(f, NULL);
	assert_int_equal(cid_ctx_open(f->cfg, NOW, NULL, &f->ctx), CID_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	cid_test_ctx_close(f->ctx, f->cfg, f->dir);
	free(f);
	return 0;
}

/* The JWKS of a keyset, parsed. */
static json_t *jwks_of(const struct cid_keyset *ks)
{
	size_t len = 0;
	const char *doc = cid_keyset_jwks(ks, &len);
	json_t *j;

	assert_non_null(doc);
	assert_int_equal(len, strlen(doc));
	j = json_loadb(doc, len, 0, NULL);
	assert_non_null(j);
	assert_true(json_is_array(json_object_get(j, "keys")));
	return j;
}

/* The number of keys in the keyset's JWKS. */
static size_t n_keys(const struct cid_keyset *ks)
{
	json_t *j = jwks_of(ks);
	size_t n = json_array_size(json_object_get(j, "keys"));

	json_decref(j);
	return n;
}

/* True if the keyset's JWKS has a key with kid. */
static bool has_kid(const struct cid_keyset *ks, const char *kid)
{
	json_t *j = jwks_of(ks);
	json_t *k;
	size_t i;
	bool found = false;

	json_array_foreach(json_object_get(j, "keys"), i, k)
	{
		const char *v = json_string_value(json_object_get(k, "kid"));

		if (v != NULL && strcmp(v, kid) == 0)
			found = true;
	}
	json_decref(j);
	return found;
}

/* The kid of the key for alg in the keyset's JWKS (the first, i.e. the active one). */
static void kid_of(const struct cid_keyset *ks, const char *alg, char out[64])
{
	json_t *j = jwks_of(ks);
	json_t *k;
	size_t i;

	out[0] = '\0';
	json_array_foreach(json_object_get(j, "keys"), i, k)
	{
		const char *a = json_string_value(json_object_get(k, "alg"));
		const char *v = json_string_value(json_object_get(k, "kid"));

		if (a != NULL && v != NULL && strcmp(a, alg) == 0 && out[0] == '\0') {
			assert_true(strlen(v) < 64);
			snprintf(out, 64, "%s", v);
		}
	}
	json_decref(j);
	assert_true(out[0] != '\0');
}

/* The kid in the protected header of a compact JWS. */
static void header_kid(const char *jws, char out[64])
{
	const char *dot = strchr(jws, '.');
	char hdr[512];
	size_t n = 0;
	json_t *h;

	assert_non_null(dot);
	assert_int_equal(cid_b64url_decode(jws, (size_t)(dot - jws), hdr, sizeof(hdr) - 1, &n),
			 CID_OK);
	h = json_loadb(hdr, n, 0, NULL);
	assert_non_null(h);
	assert_non_null(json_string_value(json_object_get(h, "kid")));
	assert_true(strlen(json_string_value(json_object_get(h, "kid"))) < 64);
	snprintf(out, 64, "%s", json_string_value(json_object_get(h, "kid")));
	json_decref(h);
}

static char *sign(const struct cid_keyset *ks, const char *alg)
{
	json_t *claims = json_pack("{s:s, s:I}", "sub", "s", "iat", (json_int_t)NOW);
	char *out = NULL;

	assert_non_null(claims);
	assert_int_equal(cid_jws_sign(ks, alg, "JWT", claims, &out), CID_OK);
	json_decref(claims);
	return out;
}

static enum cid_err verify(const struct cid_keyset *ks, const char *jws)
{
	json_t *claims = NULL;
	enum cid_err rc = cid_jws_verify(ks, jws, strlen(jws), "JWT", &claims);

	assert_true((claims != NULL) == (rc == CID_OK));
	json_decref(claims);
	return rc;
}

/* ---- first start and reopen ---- */

static void test_first_start_then_reopen_reuses_keys_and_salt(void **state)
{
	struct fixture f = {0};
	struct cid_store *s = NULL;
	struct cid_keyref *ref;
	uint64_t version = 99;
	uint64_t version2 = 0;
	uint8_t salt[32];
	uint8_t zero[32] = {0};
	char es[64];
	char rs[64];
	char es2[64];
	char rs2[64];
	json_t *jwks;
	json_t *k;
	json_t *list = NULL;
	size_t i;

	(void)state;
	f.cfg = cid_test_config_keyless(f.dir);
	cid_test_policies(f.cfg, f.dir, NULL, NULL);
	/* an empty store has no keys */
	assert_int_equal(cid_store_open(f.dir, &s), CID_OK);
	assert_int_equal(cid_keys_version(s, &version), CID_OK);
	assert_int_equal(version, 0);
	cid_store_close(s);

	assert_int_equal(cid_ctx_open(f.cfg, NOW, NULL, &f.ctx), CID_OK);
	assert_ptr_equal(cid_ctx_config(f.ctx), f.cfg);
	assert_int_equal(cid_keys_version(cid_ctx_store(f.ctx), &version), CID_OK);
	assert_true(version > 0);
	/* one active key per algorithm, public parts only */
	assert_int_equal(cid_keys_list(cid_ctx_store(f.ctx), &list), CID_OK);
	assert_int_equal(json_array_size(list), 2);
	json_array_foreach(list, i, k)
	{
		assert_string_equal(json_string_value(json_object_get(k, "state")), "active");
		assert_null(json_object_get(k, "private_pem"));
	}
	json_decref(list);
	ref = cid_ctx_keys_acquire(f.ctx);
	assert_non_null(ref);
	jwks = jwks_of(cid_keyref_keyset(ref));
	assert_int_equal(json_array_size(json_object_get(jwks, "keys")), 2);
	json_array_foreach(json_object_get(jwks, "keys"), i, k)
	{
		static const char *const private_members[] = {"d", "p", "q", "dp", "dq", "qi"};

		assert_string_equal(json_string_value(json_object_get(k, "use")), "sig");
		for (size_t m = 0; m < sizeof(private_members) / sizeof(private_members[0]); m++)
			assert_null(json_object_get(k, private_members[m]));
	}
	json_decref(jwks);
	kid_of(cid_keyref_keyset(ref), "ES256", es);
	kid_of(cid_keyref_keyset(ref), "RS256", rs);
	assert_string_not_equal(es, rs);
	cid_keyref_put(ref);
	memcpy(salt, cid_ctx_pairwise_salt(f.ctx), sizeof(salt));
	assert_memory_not_equal(salt, zero, sizeof(salt));
	cid_ctx_close(f.ctx);

	/* a reopen, later: same keys, same salt, no new key made */
	assert_int_equal(cid_ctx_open(f.cfg, NOW + 86400, NULL, &f.ctx), CID_OK);
	assert_int_equal(cid_keys_version(cid_ctx_store(f.ctx), &version2), CID_OK);
	assert_int_equal(version2, version);
	ref = cid_ctx_keys_acquire(f.ctx);
	assert_int_equal(n_keys(cid_keyref_keyset(ref)), 2);
	kid_of(cid_keyref_keyset(ref), "ES256", es2);
	kid_of(cid_keyref_keyset(ref), "RS256", rs2);
	assert_string_equal(es, es2);
	assert_string_equal(rs, rs2);
	cid_keyref_put(ref);
	assert_memory_equal(cid_ctx_pairwise_salt(f.ctx), salt, sizeof(salt));
	cid_ctx_close(f.ctx);
	cid_config_free(f.cfg);
	cid_test_rmdir(f.dir);
}

static void test_salt_differs_between_stores(void **state)
{
	struct fixture a = {0};
	struct fixture b = {0};

	(void)state;
	config_in(&a, NULL);
	config_in(&b, NULL);
	assert_int_equal(cid_ctx_open(a.cfg, NOW, NULL, &a.ctx), CID_OK);
	assert_int_equal(cid_ctx_open(b.cfg, NOW, NULL, &b.ctx), CID_OK);
	assert_memory_not_equal(cid_ctx_pairwise_salt(a.ctx), cid_ctx_pairwise_salt(b.ctx), 32);
	cid_ctx_close(a.ctx);
	cid_ctx_close(b.ctx);
	cid_config_free(a.cfg);
	cid_config_free(b.cfg);
	cid_test_rmdir(a.dir);
	cid_test_rmdir(b.dir);
}

/* ---- discovery ---- */

static bool array_has(const json_t *a, const char *s)
{
	const json_t *v;
	size_t i;

	json_array_foreach(a, i, v)
	{
		if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
			return true;
	}
	return false;
}

static void test_discovery_document(void **state)
{
	static const char *const iss = "https://id.city.example/oidc";
	static const char *const required[] = {/* OpenID Connect Discovery §3 REQUIRED members */
					       "issuer", "authorization_endpoint", "token_endpoint",
					       "jwks_uri", "response_types_supported",
					       "subject_types_supported",
					       "id_token_signing_alg_values_supported",
					       /* and the endpoints civicid serves */
					       "userinfo_endpoint", "introspection_endpoint",
					       "revocation_endpoint", "end_session_endpoint"};
	struct fixture f = {0};
	struct cid_reply reply = {0};
	const char *doc;
	const char *doc2;
	size_t len = 0;
	size_t len2 = 0;
	size_t n_defs = 0;
	const struct cid_claim_def *defs;
	json_t *d;
	json_t *v;
	const char *key;
	size_t n_city = 0;

	(void)state;
	config_in(&f, iss);
	assert_int_equal(cid_ctx_open(f.cfg, NOW, NULL, &f.ctx), CID_OK);
	doc = cid_ctx_discovery(f.ctx, &len);
	assert_non_null(doc);
	assert_int_equal(len, strlen(doc));
	/* built once at open */
	doc2 = cid_ctx_discovery(f.ctx, &len2);
	assert_ptr_equal(doc, doc2);
	assert_int_equal(len, len2);
	d = json_loadb(doc, len, JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(d);
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
		if (json_object_get(d, required[i]) == NULL)
			fail_msg("discovery lacks %s", required[i]);
	assert_string_equal(json_string_value(json_object_get(d, "issuer")), iss);
	/* every endpoint lies under the issuer */
	json_object_foreach(d, key, v)
	{
		size_t kl = strlen(key);
		bool endpoint = (kl > 9 && strcmp(key + kl - 9, "_endpoint") == 0) ||
				strcmp(key, "jwks_uri") == 0;

		if (!endpoint)
			continue;
		assert_true(json_is_string(v));
		if (strncmp(json_string_value(v), iss, strlen(iss)) != 0 ||
		    json_string_value(v)[strlen(iss)] != '/')
			fail_msg("%s = %s is not under the issuer", key, json_string_value(v));
	}
	assert_string_equal(json_string_value(json_object_get(d, "token_endpoint")),
			    "https://id.city.example/oidc/token");
	assert_string_equal(json_string_value(json_object_get(d, "jwks_uri")),
			    "https://id.city.example/oidc/jwks");
	/* RFC 7636 §4.2 / RFC 9700 §2.1.1: S256 only, never plain */
	v = json_object_get(d, "code_challenge_methods_supported");
	assert_int_equal(json_array_size(v), 1);
	assert_string_equal(json_string_value(json_array_get(v, 0)), "S256");
	v = json_object_get(d, "response_types_supported");
	assert_int_equal(json_array_size(v), 1);
	assert_string_equal(json_string_value(json_array_get(v, 0)), "code");
	v = json_object_get(d, "grant_types_supported");
	assert_true(array_has(v, "authorization_code"));
	assert_true(array_has(v, "refresh_token"));
	assert_true(array_has(v, "client_credentials"));
	assert_false(array_has(v, "implicit"));
	assert_false(array_has(v, "password"));
	v = json_object_get(d, "id_token_signing_alg_values_supported");
	assert_true(array_has(v, "ES256"));
	assert_true(array_has(v, "RS256"));
	assert_false(array_has(v, "none"));
	v = json_object_get(d, "scopes_supported");
	assert_true(array_has(v, "openid"));
	assert_true(array_has(v, "city"));
	v = json_object_get(d, "token_endpoint_auth_methods_supported");
	assert_true(array_has(v, "client_secret_basic"));
	assert_true(array_has(v, "client_secret_post"));
	/* every level a session can reach, the card's (level 3) too */
	v = json_object_get(d, "acr_values_supported");
	assert_int_equal(json_array_size(v), 3);
	assert_true(array_has(v, "urn:civicid:acr:password"));
	assert_true(array_has(v, "urn:civicid:acr:mfa"));
	assert_true(array_has(v, "urn:civicid:acr:high"));
	assert_true(
	    json_is_true(json_object_get(d, "authorization_response_iss_parameter_supported")));
	assert_true(json_is_false(json_object_get(d, "request_parameter_supported")));
	/* claims_supported: sub and the whole claim table, with the city claims */
	v = json_object_get(d, "claims_supported");
	assert_true(array_has(v, "sub"));
	defs = cid_claim_table(&n_defs);
	assert_true(n_defs > 0);
	assert_int_equal(json_array_size(v), n_defs + 1);
	for (size_t i = 0; i < n_defs; i++) {
		if (!array_has(v, defs[i].name))
			fail_msg("claims_supported lacks %s", defs[i].name);
		if (strcmp(defs[i].scope, "city") == 0)
			n_city++;
	}
	assert_true(n_city > 0);
	assert_true(array_has(v, "resident_district"));
	assert_true(array_has(v, "household_size"));
	assert_true(array_has(v, "resident_since"));
	assert_true(array_has(v, "preferred_language"));
	/* the endpoint serves exactly this document */
	assert_int_equal(cid_oidc_discovery(f.ctx, &reply), CID_OK);
	assert_int_equal(reply.status, 200);
	assert_string_equal(reply.content_type, "application/json");
	assert_int_equal(reply.body_len, len);
	assert_memory_equal(reply.body, doc, len);
	cid_reply_free(&reply);
	json_decref(d);
	cid_ctx_close(f.ctx);
	cid_config_free(f.cfg);
	cid_test_rmdir(f.dir);
}

/* The discovery document the endpoint serves now, parsed. */
static json_t *served_discovery(struct cid_ctx *ctx)
{
	struct cid_reply reply = {0};
	json_t *d;

	assert_int_equal(cid_oidc_discovery(ctx, &reply), CID_OK);
	assert_int_equal(reply.status, 200);
	assert_int_equal(reply.body_len, strlen(reply.body));
	d = json_loadb(reply.body, reply.body_len, JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(d);
	cid_reply_free(&reply);
	return d;
}

/* An upstream registration of the tests: its trust framework may be NULL (none). */
struct upstream {
	const char *name;
	const char *issuer;
	const char *trust_framework;
	const char *claim_map[4]; /* "upstream_claim=local_claim", NULL after the last */
};

/* plain's map names the same local claims as card's; city's adds family_name */
static const struct upstream upstreams[] = {
    {"plain",
     "https://plain.example.jp",
     NULL,
     {"address=address", "birthdate=birthdate", "given_name=given_name"}},
    {"card",
     "https://card.example.jp",
     "jp_my_number_card",
     {"address=address", "birthdate=birthdate", "given_name=given_name"}},
    {"city",
     "https://city.example.jp",
     "jp_municipal_register",
     {"fam=family_name", "addr=address"}},
};

static void register_upstream(struct cid_ctx *ctx, const struct upstream *u)
{
	struct cid_idp_spec spec = {
	    .name = u->name,
	    .issuer = u->issuer,
	    .client_id = "civicid",
	    .client_secret = "upstream-secret",
	    .scope = "openid",
	    .trust_framework = u->trust_framework,
	    .claim_map = u->claim_map,
	};

	while (spec.n_claim_map < 4 && u->claim_map[spec.n_claim_map] != NULL)
		spec.n_claim_map++;
	assert_int_equal(cid_idp_add(cid_ctx_store(ctx), &spec, NOW, NULL, 0), CID_OK);
}

/* The served discovery document is the one built at open, without OIDC4IDA's members. */
static void assert_discovery_as_built(struct cid_ctx *ctx, const json_t *built, const char *when)
{
	json_t *d = served_discovery(ctx);

	if (json_object_get(d, "verified_claims_supported") != NULL ||
	    json_object_get(d, "trust_frameworks_supported") != NULL ||
	    json_object_get(d, "claims_in_verified_claims_supported") != NULL ||
	    !json_equal(d, built))
		fail_msg("%s: the document is not the one built at open", when);
	json_decref(d);
}

/*
 * OIDC4IDA 1.0's OP metadata follows the upstream registrations of the
 * running server: none while no registration names a trust framework (an
 * empty trust_frameworks_supported is not allowed); then true, the
 * frameworks and the claims their claim maps import, distinct and sorted;
 * never evidence_supported; gone again when the registration is removed.
 * The rest of the document is the one built at open.
 */
static void test_discovery_verified_claims_follow_upstreams(void **state)
{
	struct fixture *f = *state;
	size_t len = 0;
	const char *doc = cid_ctx_discovery(f->ctx, &len);
	json_t *built = json_loadb(doc, len, 0, NULL);
	json_t *d;
	const char *key;
	json_t *v;

	assert_non_null(built);
	assert_discovery_as_built(f->ctx, built, "no upstream");
	register_upstream(f->ctx, &upstreams[0]);
	assert_discovery_as_built(f->ctx, built, "an upstream naming no trust framework");
	register_upstream(f->ctx, &upstreams[1]);
	register_upstream(f->ctx, &upstreams[2]);
	d = served_discovery(f->ctx);
	assert_true(json_is_true(json_object_get(d, "verified_claims_supported")));
	v = json_pack("[s,s]", "jp_municipal_register", "jp_my_number_card");
	assert_true(json_equal(json_object_get(d, "trust_frameworks_supported"), v));
	json_decref(v);
	v = json_pack("[s,s,s,s]", "address", "birthdate", "family_name", "given_name");
	assert_true(json_equal(json_object_get(d, "claims_in_verified_claims_supported"), v));
	json_decref(v);
	assert_null(json_object_get(d, "evidence_supported"));
	/* everything else as built at open */
	json_object_foreach(built, key, v)
	{
		if (!json_equal(json_object_get(d, key), v))
			fail_msg("%s changed", key);
	}
	assert_int_equal(json_object_size(d), json_object_size(built) + 3);
	json_decref(d);
	/* removed: the document no longer claims what no registration vouches for */
	assert_int_equal(cid_idp_remove(cid_ctx_store(f->ctx), "card"), CID_OK);
	assert_int_equal(cid_idp_remove(cid_ctx_store(f->ctx), "city"), CID_OK);
	assert_discovery_as_built(f->ctx, built, "the upstreams removed");
	json_decref(built);
}

/* ---- keyset references, rotation, refresh and drop ---- */

static void test_refresh_without_change_keeps_keyset(void **state)
{
	struct fixture *f = *state;
	struct cid_keyref *a = cid_ctx_keys_acquire(f->ctx);
	struct cid_keyref *b;

	assert_int_equal(cid_ctx_keys_refresh(f->ctx, NOW + 1), CID_OK);
	b = cid_ctx_keys_acquire(f->ctx);
	assert_ptr_equal(a, b);
	assert_ptr_equal(cid_keyref_keyset(a), cid_keyref_keyset(b));
	cid_keyref_put(b);
	/* nothing retired: no time is ever a reason to reload */
	assert_int_equal(cid_keyset_next_drop(cid_keyref_keyset(a)), 0);
	assert_int_equal(cid_ctx_keys_refresh(f->ctx, NOW + (int64_t)10 * 365 * 86400), CID_OK);
	b = cid_ctx_keys_acquire(f->ctx);
	assert_ptr_equal(a, b);
	cid_keyref_put(b);
	cid_keyref_put(a);
	/* NULL is a no-op */
	cid_keyref_put(NULL);
}

static void test_rotation_refresh_and_drop(void **state)
{
	struct fixture *f = *state;
	struct cid_store *s = cid_ctx_store(f->ctx);
	struct cid_keyref *old = cid_ctx_keys_acquire(f->ctx);
	const struct cid_keyset *ks1 = cid_keyref_keyset(old);
	struct cid_keyref *cur;
	struct cid_keyref *same;
	const struct cid_keyset *ks2;
	const struct cid_keyset *ks3;
	char es_old[64];
	char rs[64];
	char kid[64];
	char *es_new = NULL;
	char *t_old = sign(ks1, "ES256");
	char *t_new = NULL;
	char *t_late = NULL;
	const int64_t rotated = NOW + 10;

	kid_of(ks1, "ES256", es_old);
	kid_of(ks1, "RS256", rs);
	assert_int_equal(cid_keys_rotate(s, "ES256", rotated, KEEP, &es_new), CID_OK);
	assert_non_null(es_new);
	assert_string_not_equal(es_new, es_old);

	/* before a refresh the context still hands out the old snapshot */
	same = cid_ctx_keys_acquire(f->ctx);
	assert_ptr_equal(same, old);
	cid_keyref_put(same);

	assert_int_equal(cid_ctx_keys_refresh(f->ctx, rotated + 10), CID_OK);
	cur = cid_ctx_keys_acquire(f->ctx);
	assert_ptr_not_equal(cur, old);
	ks2 = cid_keyref_keyset(cur);
	assert_ptr_not_equal(ks2, ks1);
	/* the new JWKS has the new key and still the retired one */
	assert_int_equal(n_keys(ks2), 3);
	assert_true(has_kid(ks2, es_new));
	assert_true(has_kid(ks2, es_old));
	assert_true(has_kid(ks2, rs));
	assert_int_equal(cid_keyset_next_drop(ks2), rotated + KEEP);
	/* the reference taken before the rotation still works, unchanged */
	assert_int_equal(n_keys(ks1), 2);
	assert_false(has_kid(ks1, es_new));
	t_late = sign(ks1, "ES256");
	header_kid(t_late, kid);
	assert_string_equal(kid, es_old);
	/* the new keyset signs with the new key and still verifies the old one's tokens */
	t_new = sign(ks2, "ES256");
	header_kid(t_new, kid);
	assert_string_equal(kid, es_new);
	assert_int_equal(verify(ks2, t_old), CID_OK);
	assert_int_equal(verify(ks2, t_late), CID_OK);
	assert_int_equal(verify(ks1, t_new), CID_ERR_INVALID); /* unknown kid */
	/* the last reference to the old snapshot frees it (sanitizers watch) */
	cid_keyref_put(old);

	/* one second before drop_after: nothing to reload */
	assert_int_equal(cid_ctx_keys_refresh(f->ctx, rotated + KEEP - 1), CID_OK);
	same = cid_ctx_keys_acquire(f->ctx);
	assert_ptr_equal(same, cur);
	cid_keyref_put(same);
	/* at drop_after the retired key goes */
	assert_int_equal(cid_ctx_keys_refresh(f->ctx, rotated + KEEP), CID_OK);
	same = cid_ctx_keys_acquire(f->ctx);
	assert_ptr_not_equal(same, cur);
	ks3 = cid_keyref_keyset(same);
	assert_int_equal(n_keys(ks3), 2);
	assert_false(has_kid(ks3, es_old));
	assert_true(has_kid(ks3, es_new));
	assert_true(has_kid(ks3, rs));
	assert_int_equal(cid_keyset_next_drop(ks3), 0);
	assert_int_equal(verify(ks3, t_old), CID_ERR_INVALID);
	assert_int_equal(verify(ks3, t_new), CID_OK);
	/* the previous snapshot is still held by cur and still has the old key */
	assert_true(has_kid(ks2, es_old));
	cid_keyref_put(same);
	cid_keyref_put(cur);
	/* and a later refresh keeps the keyset */
	cur = cid_ctx_keys_acquire(f->ctx);
	assert_int_equal(cid_ctx_keys_refresh(f->ctx, rotated + 2 * KEEP), CID_OK);
	same = cid_ctx_keys_acquire(f->ctx);
	assert_ptr_equal(same, cur);
	cid_keyref_put(same);
	cid_keyref_put(cur);
	free(es_new);
	free(t_old);
	free(t_new);
	free(t_late);
}

static enum cid_err entry_collect(uint64_t seq, struct cid_str entry, void *arg)
{
	json_t *e = json_loadb(entry.ptr, entry.len, 0, NULL);

	(void)seq;
	assert_non_null(e);
	assert_int_equal(json_array_append_new(arg, e), 0);
	return CID_OK;
}

/* The log's entries of type, oldest first (new array). */
static json_t *entries_of(struct cid_store *s, const char *type)
{
	const struct cid_audit_filter f = {.type = type};
	struct cid_txn *txn = NULL;
	json_t *all = json_array();

	assert_non_null(all);
	assert_int_equal(cid_store_read_begin(s, &txn), CID_OK);
	assert_int_equal(cid_audit_query(txn, &f, entry_collect, all), CID_OK);
	cid_store_read_end(txn);
	return all;
}

/*
 * A published next key: the server's refresh publishes it at once and keeps
 * signing with the active key; at activate_at the refresh activates it, signs
 * with it, and keeps the retired key for key_keep. The activation is on the
 * audit log (key.activated, actor "system"), once.
 */
static void test_refresh_activates_published_key_when_due(void **state)
{
	struct fixture *f = *state;
	struct cid_store *s = cid_ctx_store(f->ctx);
	int64_t keep = cid_ctx_config(f->ctx)->key_keep;
	const int64_t published = NOW + 10;
	const int64_t delay = 100;
	struct cid_keyref *r1 = cid_ctx_keys_acquire(f->ctx);
	struct cid_keyref *r2;
	struct cid_keyref *same;
	struct cid_keyref *r3;
	char es_old[64];
	char kid[64];
	char *es_next = NULL;
	char *t_window;
	char *t_after;
	json_t *activated;
	const json_t *e;

	kid_of(cid_keyref_keyset(r1), "ES256", es_old);
	assert_int_equal(cid_keys_publish(s, "ES256", published, delay, &es_next), CID_OK);

	/* the next poll publishes it; the active key still signs */
	assert_int_equal(cid_ctx_keys_refresh(f->ctx, published + 1), CID_OK);
	r2 = cid_ctx_keys_acquire(f->ctx);
	assert_ptr_not_equal(r2, r1);
	assert_true(has_kid(cid_keyref_keyset(r2), es_next));
	assert_int_equal(n_keys(cid_keyref_keyset(r2)), 3);
	t_window = sign(cid_keyref_keyset(r2), "ES256");
	header_kid(t_window, kid);
	assert_string_equal(kid, es_old);

	/* polls before activate_at change nothing */
	assert_int_equal(cid_ctx_keys_refresh(f->ctx, published + delay - 1), CID_OK);
	same = cid_ctx_keys_acquire(f->ctx);
	assert_ptr_equal(same, r2);
	cid_keyref_put(same);

	/* the first poll at activate_at switches: the published key signs */
	assert_int_equal(cid_ctx_keys_refresh(f->ctx, published + delay), CID_OK);
	r3 = cid_ctx_keys_acquire(f->ctx);
	assert_ptr_not_equal(r3, r2);
	t_after = sign(cid_keyref_keyset(r3), "ES256");
	header_kid(t_after, kid);
	assert_string_equal(kid, es_next);
	/* a relying party holding the JWKS of the window verifies it; old tokens still verify */
	assert_int_equal(verify(cid_keyref_keyset(r2), t_after), CID_OK);
	assert_int_equal(verify(cid_keyref_keyset(r3), t_window), CID_OK);
	assert_int_equal(cid_keyset_next_activate(cid_keyref_keyset(r3)), 0);
	assert_int_equal(cid_keyset_next_drop(cid_keyref_keyset(r3)), published + delay + keep);
	/* once: a later poll keeps the keyset until the retired key's drop */
	assert_int_equal(cid_ctx_keys_refresh(f->ctx, published + delay + 1), CID_OK);
	same = cid_ctx_keys_acquire(f->ctx);
	assert_ptr_equal(same, r3);
	cid_keyref_put(same);
	/* the server's own switch is on the record, once, by "system" */
	activated = entries_of(s, "key.activated");
	assert_int_equal(json_array_size(activated), 1);
	e = json_array_get(activated, 0);
	assert_string_equal(cid_json_str(e, "actor"), "system");
	assert_string_equal(cid_json_str(json_object_get(e, "ext"), "kid"), es_next);
	assert_string_equal(cid_json_str(json_object_get(e, "ext"), "alg"), "ES256");
	assert_string_equal(cid_json_str(json_object_get(e, "ext"), "previous"), es_old);
	json_decref(activated);

	cid_keyref_put(r1);
	cid_keyref_put(r2);
	cid_keyref_put(r3);
	free(es_next);
	free(t_window);
	free(t_after);
}

/* A reopen after a rotation loads the retired key until its drop time. */
static void test_reopen_after_rotation(void **state)
{
	struct fixture *f = *state;
	struct cid_keyref *ref = cid_ctx_keys_acquire(f->ctx);
	char es_old[64];
	char *es_new = NULL;

	kid_of(cid_keyref_keyset(ref), "ES256", es_old);
	cid_keyref_put(ref);
	assert_int_equal(cid_keys_rotate(cid_ctx_store(f->ctx), "ES256", NOW, KEEP, &es_new),
			 CID_OK);
	cid_ctx_close(f->ctx);
	f->ctx = NULL;
	assert_int_equal(cid_ctx_open(f->cfg, NOW + 1, NULL, &f->ctx), CID_OK);
	ref = cid_ctx_keys_acquire(f->ctx);
	assert_true(has_kid(cid_keyref_keyset(ref), es_old));
	assert_true(has_kid(cid_keyref_keyset(ref), es_new));
	cid_keyref_put(ref);
	cid_ctx_close(f->ctx);
	f->ctx = NULL;
	assert_int_equal(cid_ctx_open(f->cfg, NOW + KEEP, NULL, &f->ctx), CID_OK);
	ref = cid_ctx_keys_acquire(f->ctx);
	assert_false(has_kid(cid_keyref_keyset(ref), es_old));
	assert_true(has_kid(cid_keyref_keyset(ref), es_new));
	cid_keyref_put(ref);
	free(es_new);
}

/* ---- references under concurrency ---- */

struct worker {
	struct cid_ctx *ctx;
	int rounds;
	int failures;
};

static void *work(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < w->rounds; i++) {
		struct cid_keyref *r = cid_ctx_keys_acquire(w->ctx);
		const struct cid_keyset *ks = cid_keyref_keyset(r);
		json_t *claims = json_pack("{s:i}", "i", i);
		json_t *back = NULL;
		char *t = NULL;

		if (claims == NULL || cid_jws_sign(ks, "ES256", "JWT", claims, &t) != CID_OK ||
		    cid_jws_verify(ks, t, strlen(t), "JWT", &back) != CID_OK)
			w->failures++;
		json_decref(back);
		json_decref(claims);
		free(t);
		cid_keyref_put(r);
	}
	return NULL;
}

static void test_references_across_threads(void **state)
{
	enum { THREADS = 3, ROUNDS = 200, ROTATIONS = 4 };
	struct fixture *f = *state;
	pthread_t th[THREADS];
	struct worker w[THREADS];

	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){.ctx = f->ctx, .rounds = ROUNDS};
		assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
	}
	for (int i = 0; i < ROTATIONS; i++) {
		assert_int_equal(
		    cid_keys_rotate(cid_ctx_store(f->ctx), "ES256", NOW + 1 + i, KEEP, NULL),
		    CID_OK);
		assert_int_equal(cid_ctx_keys_refresh(f->ctx, NOW + 1 + i), CID_OK);
	}
	for (int i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(w[i].failures, 0);
	}
	/* every rotation's retired key is still published */
	struct cid_keyref *r = cid_ctx_keys_acquire(f->ctx);
	assert_int_equal(n_keys(cid_keyref_keyset(r)), 2 + ROTATIONS);
	cid_keyref_put(r);
}

/* ---- the release policies ---- */

static const char policy_v1[] = "service rp1\nname.ja x\nname.en x\npurpose p\n"
				"text.ja t\ntext.en t\nbasis statute Act 1\nretention 1d\n"
				"permit email\n";

/* Writes DIR/policies/NAME. */
static void write_policy(const struct fixture *f, const char *name, const char *text)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/policies/%s", f->dir, name);
	cid_test_write_file(path, text);
}

static bool permits_email(struct cid_ctx *ctx)
{
	struct cid_policyref *r = cid_ctx_policies_acquire(ctx);
	struct cid_decision d;

	cid_policy_eval(cid_policyref_set(r), "rp1", "p", "email", NULL, 0, 1, NOW, &d);
	cid_policyref_put(r);
	return d.permit;
}

/*
 * The first start records its issuer as the audit log's; a later start under
 * another issuer keeps the log's and says so, and checkpoints carry the log's.
 */
static void test_first_start_records_the_log_issuer(void **state)
{
	struct fixture f = {0};
	char *iss = NULL;
	char *text = NULL;
	size_t len = 0;
	char *note = NULL;
	json_t *vkeys = NULL;
	json_t *e;
	FILE *errors;

	(void)state;
	config_in(&f, "https://id.city.example");
	errors = open_memstream(&text, &len);
	assert_non_null(errors);
	assert_int_equal(cid_ctx_open(f.cfg, NOW, errors, &f.ctx), CID_OK);
	assert_int_equal(fclose(errors), 0);
	assert_int_equal(len, 0); /* nothing to warn about */
	free(text);
	assert_int_equal(cid_audit_issuer(cid_ctx_store(f.ctx), &iss), CID_OK);
	assert_string_equal(iss, "https://id.city.example");
	free(iss);
	iss = NULL;
	cid_ctx_close(f.ctx);

	cid_test_set(f.cfg, "issuer", "https://moved.city.example");
	text = NULL;
	errors = open_memstream(&text, &len);
	assert_non_null(errors);
	assert_int_equal(cid_ctx_open(f.cfg, NOW + 60, errors, &f.ctx), CID_OK);
	assert_int_equal(fclose(errors), 0);
	assert_non_null(strstr(text, "keeps the issuer it was started with, "
				     "https://id.city.example"));
	assert_non_null(strstr(text, "not as https://moved.city.example"));
	free(text);
	assert_int_equal(cid_audit_issuer(cid_ctx_store(f.ctx), &iss), CID_OK);
	assert_string_equal(iss, "https://id.city.example");
	free(iss);
	e = json_pack("{s:s, s:s}", "type", "consent.granted", "actor", "system");
	assert_int_equal(cid_audit_append(cid_ctx_audit_log(f.ctx), &e, 1, NULL), CID_OK);
	json_decref(e);
	/* the audit key was made on the first start: checkpoints name the first issuer's origin */
	assert_int_equal(cid_audit_checkpoint(cid_ctx_store(f.ctx), NOW + 60, &note), CID_OK);
	assert_true(strncmp(note, "id.city.example/audit\n1\n", 24) == 0);
	assert_int_equal(cid_audit_vkeys(cid_ctx_store(f.ctx), &vkeys), CID_OK);
	assert_string_equal(cid_json_str(vkeys, "origin"), "id.city.example/audit");
	json_decref(vkeys);
	free(note);
	cid_test_ctx_close(f.ctx, f.cfg, f.dir);
}

/* An issuer no checkpoint origin can be made of refuses the start, and says why. */
static void test_open_refuses_an_issuer_without_origin(void **state)
{
	struct fixture f = {0};
	char *text = NULL;
	size_t len = 0;
	FILE *errors;

	(void)state;
	config_in(&f, "https://id.city.example/a+b");
	errors = open_memstream(&text, &len);
	assert_non_null(errors);
	assert_int_equal(cid_ctx_open(f.cfg, NOW, errors, &f.ctx), CID_ERR_CONFIG);
	assert_int_equal(fclose(errors), 0);
	assert_non_null(strstr(text, "origin cannot be made from its issuer"));
	free(text);
	cid_test_ctx_close(NULL, f.cfg, f.dir);
}

#define SESSION_KEY "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SID	    "sssssssssssssssssssssssssssssssssssssssssss"

/* Each index the start builds, over a record of its data as an older build wrote it. */
static const struct index_case {
	const char *name;
	enum cid_db data, index;
	uint64_t keys_per_record;
	const char *key, *val;
} INDEX_CASES[] = {
    {"grant", CID_DB_GRANTS, CID_DB_GRANT_INDEX, 1, "grant-1",
     "{\"account_id\":\"acct\",\"client_id\":\"rp1\"}"},
    {"session", CID_DB_SESSIONS, CID_DB_SESSION_INDEX, 2, SESSION_KEY,
     "{\"account_id\":\"acct\",\"sid\":\"" SID "\"}"},
    {"consent id", CID_DB_CONSENTS, CID_DB_CONSENT_IDS, 1, "consent-1",
     "{\"id\":\"01234567-89ab-4def-8123-456789abcdef\",\"account_id\":\"acct\","
     "\"service\":\"rp1\",\"purpose\":\"p\",\"attribute\":\"email\",\"policy_version\":"
     "\"v\",\"purpose_digest\":\"d\",\"state\":\"granted\",\"expires_at\":0}"},
};

#define N_INDEX_CASES (sizeof(INDEX_CASES) / sizeof(INDEX_CASES[0]))

/* A store whose indexes are gone (an older build's) gets every one back at the start. */
static void test_open_builds_every_index(void **state)
{
	struct fixture *f = *state;
	struct cid_store *s = cid_ctx_store(f->ctx);

	for (size_t i = 0; i < N_INDEX_CASES; i++) {
		cid_test_raw_write(s, INDEX_CASES[i].data, INDEX_CASES[i].key, INDEX_CASES[i].val);
		cid_test_raw_write(s, INDEX_CASES[i].index, NULL, NULL);
	}
	cid_ctx_close(f->ctx);
	f->ctx = NULL;
	assert_int_equal(cid_ctx_open(f->cfg, NOW, NULL, &f->ctx), CID_OK);
	s = cid_ctx_store(f->ctx);
	for (size_t i = 0; i < N_INDEX_CASES; i++) {
		print_message("%s index\n", INDEX_CASES[i].name);
		assert_int_equal(cid_test_count(s, INDEX_CASES[i].data), 1);
		assert_int_equal(cid_test_count(s, INDEX_CASES[i].index),
				 INDEX_CASES[i].keys_per_record);
	}
}

/* A start that cannot build an index stops, naming the index and the damage. */
static void test_open_says_which_index_cannot_be_built(void **state)
{
	struct fixture *f = *state;
	char *text = NULL;
	size_t len = 0;
	FILE *errors;

	/* a grant that names no citizen, and no index to say it was there before */
	cid_test_raw_write(cid_ctx_store(f->ctx), CID_DB_GRANTS, "grant-1", "{}");
	cid_ctx_close(f->ctx);
	f->ctx = NULL;
	errors = open_memstream(&text, &len);
	assert_non_null(errors);
	assert_int_equal(cid_ctx_open(f->cfg, NOW, errors, &f->ctx), CID_ERR_STORE);
	assert_int_equal(fclose(errors), 0);
	assert_null(f->ctx);
	assert_non_null(strstr(text, "the grant index cannot be built: a grant record names no "
				     "citizen or service"));
	free(text);
}

/*
 * A consent record that does not read is left out of the due index, not an
 * error; the start says so, since nothing that index drives reads it again.
 */
static void test_open_says_what_an_index_left_out(void **state)
{
	struct fixture *f = *state;
	char *text = NULL;
	size_t len = 0;
	FILE *errors;

	cid_test_raw_write(cid_ctx_store(f->ctx), CID_DB_CONSENTS,
			   "acct\nrp1\np\nemail\n0000000000000001", "not a record");
	/* damaged since its id was indexed: the id index is whole */
	cid_test_raw_write(cid_ctx_store(f->ctx), CID_DB_CONSENT_IDS,
			   "01234567-89ab-4def-8123-456789abcdef",
			   "acct\nrp1\np\nemail\n0000000000000001");
	/* written by an older build, without the due index */
	cid_test_raw_write(cid_ctx_store(f->ctx), CID_DB_META, CID_CONSENT_SEQ, "{\"seq\":1}");
	cid_ctx_close(f->ctx);
	f->ctx = NULL;
	errors = open_memstream(&text, &len);
	assert_non_null(errors);
	assert_int_equal(cid_ctx_open(f->cfg, NOW, errors, &f->ctx), CID_OK);
	assert_int_equal(fclose(errors), 0);
	assert_non_null(strstr(text, "civicid: 1 records do not read (a damaged store): left "
				     "out of the consent due index"));
	free(text);
}

/* A bad policy refuses the start, every error reported as file:line. */
static void test_open_refuses_bad_policies(void **state)
{
	struct fixture f = {0};
	char *text = NULL;
	size_t len = 0;
	FILE *errors;
	struct cid_ctx *ctx = NULL;

	(void)state;
	config_in(&f, NULL);
	write_policy(&f, "bad.policy", "service rp1\nname.ja x\npermit email\nbogus 1\n");
	errors = open_memstream(&text, &len);
	assert_non_null(errors);
	assert_int_equal(cid_ctx_open(f.cfg, NOW, errors, &ctx), CID_ERR_CONFIG);
	fclose(errors);
	assert_null(ctx);
	assert_non_null(strstr(text, "bad.policy:3: "));
	assert_non_null(strstr(text, "bad.policy:4: "));
	assert_non_null(strstr(text, "the release policies do not load"));
	free(text);
	/* a missing directory too */
	char err[128];
	assert_int_equal(
	    cid_config_set(f.cfg, "policies", "/nonexistent/civicid-policies", err, sizeof(err)),
	    CID_OK);
	assert_int_equal(cid_ctx_open(f.cfg, NOW, NULL, &ctx), CID_ERR_IO);
	cid_config_free(f.cfg);
	cid_test_rmdir(f.dir);
}

/* Opens a context of f with key = value, its errors into *text (free it). */
static struct cid_ctx *open_with(struct fixture *f, const char *key, const char *value, char **text)
{
	size_t len = 0;
	FILE *errors = open_memstream(text, &len);
	struct cid_ctx *ctx = NULL;

	assert_non_null(errors);
	cid_test_set(f->cfg, key, value);
	assert_int_equal(cid_ctx_open(f->cfg, NOW, errors, &ctx), CID_OK);
	fclose(errors);
	return ctx;
}

/*
 * The pages' zone is read at open: the configured one, or, when it cannot be
 * read, UTC with an error naming it (the server goes on). The logo likewise.
 */
static void test_open_reads_zone_and_logo(void **state)
{
	struct fixture f = {0};
	struct cid_ctx *ctx;
	char *text = NULL;
	char path[512];
	const char *type = NULL;
	size_t len = 0;
	FILE *fp;
	static const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0};

	(void)state;
	config_in(&f, NULL);
	/* the default: Tokyo */
	ctx = open_with(&f, "timezone", "Asia/Tokyo", &text);
	assert_string_equal(cid_tz_name(cid_ctx_tz(ctx)), "Asia/Tokyo");
	assert_int_equal(cid_tz_offset(cid_ctx_tz(ctx), NOW), 9 * 3600);
	assert_string_equal(text, "");
	assert_null(cid_ctx_logo(ctx, &len, &type));
	free(text);
	cid_ctx_close(ctx);
	/* a zone tzdata does not have: UTC, and the start says so */
	ctx = open_with(&f, "timezone", "Nowhere/Atlantis", &text);
	assert_string_equal(cid_tz_name(cid_ctx_tz(ctx)), "UTC");
	assert_int_equal(cid_tz_offset(cid_ctx_tz(ctx), NOW), 0);
	assert_non_null(strstr(text, "timezone Nowhere/Atlantis: "));
	assert_non_null(strstr(text, "pages show times in UTC"));
	free(text);
	cid_ctx_close(ctx);
	/* the logo: a PNG under web_dir/static is read; a missing one, or one that is no PNG, is
	 * reported and left out */
	cid_test_set(f.cfg, "timezone", "Europe/Berlin");
	cid_test_set(f.cfg, "web_dir", f.dir);
	snprintf(path, sizeof(path), "%s/static", f.dir);
	assert_int_equal(mkdir(path, 0700), 0);
	ctx = open_with(&f, "city_logo", "logo.png", &text);
	assert_null(cid_ctx_logo(ctx, &len, &type));
	assert_non_null(strstr(text, "logo.png cannot be opened; pages show no logo"));
	free(text);
	cid_ctx_close(ctx);
	snprintf(path, sizeof(path), "%s/static/logo.png", f.dir);
	fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(png, 1, sizeof(png), fp), sizeof(png));
	fclose(fp);
	ctx = open_with(&f, "city_logo", "logo.png", &text);
	assert_non_null(cid_ctx_logo(ctx, &len, &type));
	assert_int_equal(len, sizeof(png));
	assert_string_equal(type, "image/png");
	assert_string_equal(text, "");
	free(text);
	cid_ctx_close(ctx);
	snprintf(path, sizeof(path), "%s/static/fake.gif", f.dir);
	fp = fopen(path, "wb");
	assert_non_null(fp);
	fputs("<svg onload=alert(1)>", fp);
	fclose(fp);
	ctx = open_with(&f, "city_logo", "fake.gif", &text);
	assert_null(cid_ctx_logo(ctx, &len, &type));
	assert_non_null(strstr(text, "is not the image its name says"));
	free(text);
	cid_ctx_close(ctx);
	cid_config_free(f.cfg);
	cid_test_rmdir(f.dir);
}

/*
 * `civicid policy reload` bumps a counter; a refresh reloads only when it
 * moved (or on force); a bad file leaves the old snapshot in force; a held
 * reference keeps its snapshot after a swap.
 */
static void test_policy_reload(void **state)
{
	struct fixture f = {0};
	struct cid_store *s;
	uint64_t counter = 0;
	bool reloaded = true;
	char *text = NULL;
	size_t len = 0;
	FILE *errors;

	(void)state;
	config_in(&f, NULL);
	write_policy(&f, "rp1.policy", policy_v1);
	assert_int_equal(cid_ctx_open(f.cfg, NOW, NULL, &f.ctx), CID_OK);
	s = cid_ctx_store(f.ctx);
	assert_true(permits_email(f.ctx));
	/* nothing asked: nothing reloaded, even though the file changed */
	write_policy(&f, "rp1.policy", "# now nothing for rp1\n");
	assert_int_equal(cid_ctx_policies_refresh(f.ctx, false, NULL, &reloaded), CID_OK);
	assert_false(reloaded);
	assert_true(permits_email(f.ctx));
	/* a bad file on reload: the old policies stay, and the errors are told */
	struct cid_policyref *held = cid_ctx_policies_acquire(f.ctx);
	assert_int_equal(cid_policies_request_reload(s, &counter), CID_OK);
	assert_int_equal(counter, 1);
	errors = open_memstream(&text, &len);
	assert_int_equal(cid_ctx_policies_refresh(f.ctx, false, errors, &reloaded), CID_ERR_CONFIG);
	fclose(errors);
	assert_false(reloaded);
	assert_non_null(strstr(text, "rp1.policy:1: "));
	free(text);
	assert_true(permits_email(f.ctx));
	/* ... and it is not retried at every poll, only when asked again */
	assert_int_equal(cid_ctx_policies_refresh(f.ctx, false, NULL, &reloaded), CID_OK);
	assert_false(reloaded);
	/* a good change, asked for: the new snapshot replaces the old */
	write_policy(&f, "rp1.policy", policy_v1);
	write_policy(&f, "rp2.policy",
		     "service rp2\nname.ja y\nname.en y\npurpose p\ntext.ja t\ntext.en t\n"
		     "basis statute Act 1\nretention 1d\npermit name\n");
	assert_int_equal(cid_policies_request_reload(s, &counter), CID_OK);
	assert_int_equal(counter, 2);
	assert_int_equal(cid_ctx_policies_refresh(f.ctx, false, NULL, &reloaded), CID_OK);
	assert_true(reloaded);
	struct cid_policyref *now = cid_ctx_policies_acquire(f.ctx);
	assert_int_equal(cid_policyset_count(cid_policyref_set(now)), 2);
	/* the reference taken before the swap still reads its own snapshot */
	assert_int_equal(cid_policyset_count(cid_policyref_set(held)), 1);
	cid_policyref_put(held);
	cid_policyref_put(now);
	/* SIGHUP: force, without the counter */
	char path[512];
	snprintf(path, sizeof(path), "%s/policies/rp2.policy", f.dir);
	assert_int_equal(remove(path), 0);
	assert_int_equal(cid_ctx_policies_refresh(f.ctx, true, NULL, &reloaded), CID_OK);
	assert_true(reloaded);
	now = cid_ctx_policies_acquire(f.ctx);
	assert_int_equal(cid_policyset_count(cid_policyref_set(now)), 1);
	cid_policyref_put(now);
	/* a reload asked before a start is not redone by the new server */
	cid_ctx_close(f.ctx);
	assert_int_equal(cid_ctx_open(f.cfg, NOW, NULL, &f.ctx), CID_OK);
	assert_int_equal(cid_ctx_policies_refresh(f.ctx, false, NULL, &reloaded), CID_OK);
	assert_false(reloaded);
	assert_int_equal(cid_policies_reload_counter(cid_ctx_store(f.ctx), &counter), CID_OK);
	assert_int_equal(counter, 2);
	cid_ctx_close(f.ctx);
	cid_config_free(f.cfg);
	cid_test_rmdir(f.dir);
}

static enum cid_err count_hook(void *arg, const struct cid_release_event *ev,
			       struct cid_audit_range *range)
{
	(void)ev;
	(void)range;
	(*(int *)arg)++;
	return CID_OK;
}

/* No context releases unaudited: the hook is its own log's unless replaced. */
static void test_audit_hook_defaults_to_the_log(void **state)
{
	struct fixture *f = *state;
	cid_audit_hook fn = count_hook;
	void *arg = f;
	int n = 0;

	assert_non_null(cid_ctx_audit_log(f->ctx));
	cid_ctx_audit_hook(f->ctx, &fn, &arg);
	assert_ptr_equal(fn, cid_audit_release_hook);
	assert_ptr_equal(arg, cid_ctx_audit_log(f->ctx));
	cid_ctx_set_audit_hook(f->ctx, count_hook, &n);
	cid_ctx_audit_hook(f->ctx, &fn, &arg);
	assert_ptr_equal(fn, count_hook);
	assert_ptr_equal(arg, &n);
	/* NULL is not "none": it puts the log's hook back */
	cid_ctx_set_audit_hook(f->ctx, NULL, &n);
	cid_ctx_audit_hook(f->ctx, &fn, &arg);
	assert_ptr_equal(fn, cid_audit_release_hook);
	assert_ptr_equal(arg, cid_ctx_audit_log(f->ctx));
}

/*
 * The places for calls to upstreams: half the login threads, at least one.
 * Each row takes places until one is refused, then one given back is taken
 * again, and only one; all given back, as many are taken as before.
 */
static void test_upstream_places_are_half_the_login_threads(void **state)
{
	static const struct {
		const char *login_threads;
		unsigned places;
	} rows[] = {
	    {"1", 1}, {"2", 1}, {"3", 1}, {"8", 4}, {"9", 4}, {"64", 32},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct fixture f = {0};
		unsigned taken = 0;

		config_in(&f, NULL);
		cid_test_set(f.cfg, "login_threads", rows[i].login_threads);
		assert_int_equal(cid_ctx_open(f.cfg, NOW, NULL, &f.ctx), CID_OK);
		while (taken <= rows[i].places && cid_ctx_upstream_enter(f.ctx))
			taken++;
		if (taken != rows[i].places)
			fail_msg("login_threads %s: %u places taken, want %u",
				 rows[i].login_threads, taken, rows[i].places);
		/* refused again, at once: a refusal takes no place */
		assert_false(cid_ctx_upstream_enter(f.ctx));
		cid_ctx_upstream_leave(f.ctx);
		assert_true(cid_ctx_upstream_enter(f.ctx));
		assert_false(cid_ctx_upstream_enter(f.ctx));
		for (unsigned n = 0; n < taken; n++)
			cid_ctx_upstream_leave(f.ctx);
		for (taken = 0; taken <= rows[i].places && cid_ctx_upstream_enter(f.ctx); taken++)
			;
		assert_int_equal(taken, rows[i].places);
		for (unsigned n = 0; n < taken; n++)
			cid_ctx_upstream_leave(f.ctx);
		cid_test_ctx_close(f.ctx, f.cfg, f.dir);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_first_start_then_reopen_reuses_keys_and_salt),
	    cmocka_unit_test(test_salt_differs_between_stores),
	    cmocka_unit_test(test_discovery_document),
	    cmocka_unit_test_setup_teardown(test_discovery_verified_claims_follow_upstreams, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_refresh_without_change_keeps_keyset, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_rotation_refresh_and_drop, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refresh_activates_published_key_when_due, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_reopen_after_rotation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_references_across_threads, setup, teardown),
	    cmocka_unit_test(test_first_start_records_the_log_issuer),
	    cmocka_unit_test(test_open_refuses_an_issuer_without_origin),
	    cmocka_unit_test_setup_teardown(test_open_builds_every_index, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_says_which_index_cannot_be_built, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_open_says_what_an_index_left_out, setup, teardown),
	    cmocka_unit_test(test_open_refuses_bad_policies),
	    cmocka_unit_test(test_open_reads_zone_and_logo),
	    cmocka_unit_test(test_policy_reload),
	    cmocka_unit_test_setup_teardown(test_audit_hook_defaults_to_the_log, setup, teardown),
	    cmocka_unit_test(test_upstream_places_are_half_the_login_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
