/*
 * idp: the registry of upstream identity providers and the linking rules,
 * on a real LMDB store: the checks of a registration (table-driven), the
 * secret kept out of every public view, one upstream identity linked to at
 * most one citizen, a first login that creates and links its citizen in one
 * transaction (concurrent ones included), the acr map and the claim map, and
 * unlinking that keeps the last way in of a citizen with no password.
 */
#include "account.h"
#include "idp.h"
#include "idp_int.h"
#include "policy.h"
#include "support.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define NOW 1800000000
#define ISS "https://card.example.jp"

static const char *const acr_ok[] = {"urn:card:high=2", "urn:card:low=1"};
static const char *const claims_ok[] = {"given_name=given_name", "fam=family_name"};

static struct cid_idp_spec good(void)
{
	return (struct cid_idp_spec){
	    .name = "card",
	    .issuer = ISS,
	    .client_id = "civicid-city",
	    .client_secret = "s3cret-value",
	    .scope = "openid profile",
	    .acr_map = acr_ok,
	    .n_acr_map = 2,
	    .claim_map = claims_ok,
	    .n_claim_map = 2,
	    .allow_create = true,
	};
}

static void test_check_table(void **state)
{
	static const char *const acr_four[] = {"urn:card:high=4"};
	static const char *const acr_noeq[] = {"urn:card:high"};
	static const char *const claim_unknown[] = {"x=favourite_colour"};
	static const char *const claim_noname[] = {"=given_name"};
	char long_name[CID_IDP_MAX_NAME + 2];

	struct row {
		const char *what;
		const char *name, *issuer, *client_id, *secret, *scope;
		const char *const *acr;
		const char *const *claim;
		enum cid_err want;
	} rows[] = {
	    {"good", NULL, NULL, NULL, NULL, NULL, NULL, NULL, CID_OK},
	    {"loopback issuer", NULL, "http://127.0.0.1:8080", NULL, NULL, NULL, NULL, NULL,
	     CID_OK},
	    {"uppercase name", "Card", NULL, NULL, NULL, NULL, NULL, NULL, CID_ERR_INVALID},
	    {"empty name", "", NULL, NULL, NULL, NULL, NULL, NULL, CID_ERR_INVALID},
	    {"long name", long_name, NULL, NULL, NULL, NULL, NULL, NULL, CID_ERR_INVALID},
	    {"plain http", NULL, "http://card.example.jp", NULL, NULL, NULL, NULL, NULL,
	     CID_ERR_INVALID},
	    {"http localhost", NULL, "http://localhost:80", NULL, NULL, NULL, NULL, NULL,
	     CID_ERR_INVALID},
	    {"http 127.0.0.1 lookalike", NULL, "http://127.0.0.10", NULL, NULL, NULL, NULL, NULL,
	     CID_ERR_INVALID},
	    {"query", NULL, ISS "/?x=1", NULL, NULL, NULL, NULL, NULL, CID_ERR_INVALID},
	    {"fragment", NULL, ISS "#f", NULL, NULL, NULL, NULL, NULL, CID_ERR_INVALID},
	    {"userinfo", NULL, "https://u@card.example.jp", NULL, NULL, NULL, NULL, NULL,
	     CID_ERR_INVALID},
	    {"no host", NULL, "https://", NULL, NULL, NULL, NULL, NULL, CID_ERR_INVALID},
	    {"client id space", NULL, NULL, "a b", NULL, NULL, NULL, NULL, CID_ERR_INVALID},
	    {"empty secret", NULL, NULL, NULL, "", NULL, NULL, NULL, CID_ERR_INVALID},
	    {"secret newline", NULL, NULL, NULL, "a\nb", NULL, NULL, NULL, CID_ERR_INVALID},
	    {"scope without openid", NULL, NULL, NULL, NULL, "profile openidx", NULL, NULL,
	     CID_ERR_INVALID},
	    {"acr level 4", NULL, NULL, NULL, NULL, NULL, acr_four, NULL, CID_ERR_INVALID},
	    {"acr without =", NULL, NULL, NULL, NULL, NULL, acr_noeq, NULL, CID_ERR_INVALID},
	    {"unknown local claim", NULL, NULL, NULL, NULL, NULL, NULL, claim_unknown,
	     CID_ERR_INVALID},
	    {"empty upstream claim", NULL, NULL, NULL, NULL, NULL, NULL, claim_noname,
	     CID_ERR_INVALID},
	};

	(void)state;
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct cid_idp_spec sp = good();
		char why[256] = "";

		if (rows[i].name != NULL)
			sp.name = rows[i].name;
		if (rows[i].issuer != NULL)
			sp.issuer = rows[i].issuer;
		if (rows[i].client_id != NULL)
			sp.client_id = rows[i].client_id;
		if (rows[i].secret != NULL)
			sp.client_secret = rows[i].secret;
		if (rows[i].scope != NULL)
			sp.scope = rows[i].scope;
		if (rows[i].acr != NULL) {
			sp.acr_map = rows[i].acr;
			sp.n_acr_map = 1;
		}
		if (rows[i].claim != NULL) {
			sp.claim_map = rows[i].claim;
			sp.n_claim_map = 1;
		}
		if (cid_idp_check(&sp, why, sizeof(why)) != rows[i].want)
			fail_msg("row \"%s\": wanted %d", rows[i].what, (int)rows[i].want);
		if (rows[i].want != CID_OK && why[0] == '\0')
			fail_msg("row \"%s\": no reason given", rows[i].what);
	}
}

/* The amr map's entries and the trust framework, checked like the acr map's. */
static void test_check_amr_map_and_trust_framework(void **state)
{
	static const char *const amr_ok[] = {"hwk=3", "pin=2"};
	static const char *const amr_bad[][1] = {{"hwk=4"}, {"hwk"}, {"=3"}, {"h w=3"}};
	struct cid_idp_spec sp = good();
	char why[256] = "";

	(void)state;
	sp.amr_map = amr_ok;
	sp.n_amr_map = 2;
	sp.trust_framework = "jp_digital_agency";
	assert_int_equal(cid_idp_check(&sp, why, sizeof(why)), CID_OK);
	for (size_t i = 0; i < sizeof(amr_bad) / sizeof(amr_bad[0]); i++) {
		sp.amr_map = amr_bad[i];
		sp.n_amr_map = 1;
		why[0] = '\0';
		if (cid_idp_check(&sp, why, sizeof(why)) != CID_ERR_INVALID || why[0] == '\0')
			fail_msg("amr map row %zu (%s) accepted", i, amr_bad[i][0]);
	}
	sp.n_amr_map = 0;
	sp.trust_framework = "two words";
	assert_int_equal(cid_idp_check(&sp, why, sizeof(why)), CID_ERR_INVALID);
	sp.trust_framework = "";
	assert_int_equal(cid_idp_check(&sp, why, sizeof(why)), CID_ERR_INVALID);
}

/*
 * The level of an upstream login: the highest of the acr map's level for its
 * acr and the amr map's for each of its amr values (level 3 included); and
 * its amr: fed, then the upstream's registered values only with amr_pass.
 */
static void test_login_level_and_amr(void **state)
{
	static const char *const acr3[] = {"urn:card:high=3", "urn:card:low=1"};
	static const char *const amr_map[] = {"hwk=3", "otp=2"};

	static const struct {
		const char *claims;
		int level;
	} rows[] = {
	    {"{}", CID_LEVEL_PASSWORD},
	    {"{\"acr\":\"urn:card:high\"}", CID_LEVEL_HIGH},
	    {"{\"acr\":\"urn:card:low\"}", CID_LEVEL_PASSWORD},
	    {"{\"acr\":\"urn:card:low\",\"amr\":[\"otp\"]}", CID_LEVEL_MFA},
	    {"{\"acr\":\"urn:card:low\",\"amr\":[\"pwd\",\"hwk\"]}", CID_LEVEL_HIGH},
	    {"{\"amr\":[\"face\",7,null]}", CID_LEVEL_PASSWORD},
	    {"{\"amr\":\"hwk\"}", CID_LEVEL_PASSWORD},
	};
	struct cid_test_store *t = *state;
	struct cid_idp_spec sp = good();
	struct cid_idp *idp = NULL;
	const char *amr[CID_MAX_AMR];
	json_t *c;

	sp.acr_map = acr3;
	sp.amr_map = amr_map;
	sp.n_amr_map = 2;
	assert_int_equal(cid_idp_add(t->s, &sp, NOW, NULL, 0), CID_OK);
	assert_int_equal(cid_idp_get(t->s, "card", &idp), CID_OK);
	assert_int_equal(cid_idp_acr_level(idp, "urn:card:high"), CID_LEVEL_HIGH);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		c = json_loads(rows[i].claims, 0, NULL);
		assert_non_null(c);
		if (cid_idp_login_level(idp, c) != rows[i].level)
			fail_msg("row %zu (%s): level %d", i, rows[i].claims,
				 cid_idp_login_level(idp, c));
		json_decref(c);
	}
	c = json_loads("{\"amr\":[\"hwk\",\"pin\",\"x-card\",\"hwk\",\"fed\",\"sc\",\"otp\"]}", 0,
		       NULL);
	assert_non_null(c);
	/* not passed on unless asked */
	assert_int_equal(cid_idp_amr(idp, c, amr, CID_MAX_AMR), 1);
	assert_string_equal(amr[0], "fed");
	idp->amr_pass = true;
	/* registered values, each once, as many as fit */
	assert_int_equal(cid_idp_amr(idp, c, amr, CID_MAX_AMR), 4);
	assert_string_equal(amr[1], "hwk");
	assert_string_equal(amr[2], "pin");
	assert_string_equal(amr[3], "sc");
	json_decref(c);
	cid_idp_free(idp);
}

/*
 * Claim provenance: what an upstream's ID token vouches for becomes entries
 * with their source. verified_claims (an object or an array) under the
 * registration's trust framework carries it, its time and evidence
 * (cid_idp_evidence); a plain mapped claim has the registration's trust
 * framework or none; an unmapped claim, a bad value and a verification
 * under another framework or none are left out.
 */
static void test_verified_claims_provenance(void **state)
{
	static const char *const map[] = {"given_name=given_name", "address=address",
					  "birthdate=birthdate", "fam=family_name"};

	static const struct {
		const char *trust_framework; /* the registration's, NULL: none */
		const char *token;
		const char *want;
	} rows[] = {
	    {"jp_card",
	     "{\"given_name\":\"G\",\"unmapped\":\"x\",\"verified_claims\":{\"verification\":"
	     "{\"trust_framework\":\"jp_card\",\"time\":\"2026-01-02T03:04:05Z\",\"evidence\":"
	     "[{\"type\":\"document\",\"check_details\":[{\"check_method\":\"vpip\"}],"
	     "\"document_details\":{\"type\":\"idcard\",\"number\":\"123\"}},{\"type\":5}]},"
	     "\"claims\":{\"address\":{\"locality\":\"Aizu\"},\"birthdate\":\"not a date\","
	     "\"unmapped\":\"y\"}}}",
	     "{\"given_name\":{\"value\":\"G\",\"issuer\":\"" ISS "\",\"imported_at\":1800000000,"
	     "\"trust_framework\":\"jp_card\"},"
	     "\"address\":{\"value\":{\"locality\":\"Aizu\"},\"issuer\":\"" ISS "\","
	     "\"imported_at\":1800000000,\"trust_framework\":\"jp_card\",\"time\":"
	     "\"2026-01-02T03:04:05Z\",\"evidence\":[{\"type\":\"document\",\"check_details\":"
	     "[{\"check_method\":\"vpip\"}],\"document_details\":{\"type\":\"idcard\"}}]}}"},
	    /* the same token from an upstream registered under no framework: it
	     * vouches for none, whatever framework it names */
	    {NULL,
	     "{\"given_name\":\"G\",\"verified_claims\":{\"verification\":"
	     "{\"trust_framework\":\"jp_card\"},\"claims\":{\"address\":{\"locality\":"
	     "\"Aizu\"}}}}",
	     "{\"given_name\":{\"value\":\"G\",\"issuer\":\"" ISS
	     "\",\"imported_at\":1800000000}}"},
	    /* one registered under jp_reg: its jp_card element is left out, its plain
	     * claims are jp_reg's */
	    {"jp_reg",
	     "{\"fam\":\"F\",\"birthdate\":\"1990-01-01\",\"verified_claims\":[{\"verification\":"
	     "{\"time\":\"x\"},\"claims\":{\"given_name\":\"NoTf\"}},{\"verification\":"
	     "{\"trust_framework\":\"jp_card\"},\"claims\":{\"birthdate\":\"1991-02-03\"}}]}",
	     "{\"family_name\":{\"value\":\"F\",\"issuer\":\"" ISS "\",\"imported_at\":1800000000,"
	     "\"trust_framework\":\"jp_reg\"},\"birthdate\":{\"value\":\"1990-01-01\","
	     "\"issuer\":\"" ISS "\",\"imported_at\":1800000000,\"trust_framework\":\"jp_reg\"}}"},
	    {NULL, "{\"verified_claims\":\"nonsense\"}", "{}"},
	};
	struct cid_test_store *t = *state;
	struct cid_idp_spec sp = good();
	struct cid_idp *idp = NULL;

	sp.claim_map = map;
	sp.n_claim_map = 4;
	assert_int_equal(cid_idp_add(t->s, &sp, NOW, NULL, 0), CID_OK);
	assert_int_equal(cid_idp_get(t->s, "card", &idp), CID_OK);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		json_t *token = json_loads(rows[i].token, 0, NULL);
		json_t *want = json_loads(rows[i].want, 0, NULL);
		json_t *got = NULL;
		char *text;

		assert_non_null(token);
		assert_non_null(want);
		snprintf(idp->trust_framework, sizeof(idp->trust_framework), "%s",
			 rows[i].trust_framework ? rows[i].trust_framework : "");
		assert_int_equal(cid_idp_verified_claims(idp, token, NOW, &got), CID_OK);
		text = json_dumps(got, JSON_SORT_KEYS);
		if (!json_equal(got, want))
			fail_msg("row %zu: %s", i, text);
		free(text);
		json_decref(got);
		json_decref(want);
		json_decref(token);
	}
	cid_idp_free(idp);
}

/*
 * Evidence as civicid keeps and releases it: OIDC4IDA 1.0's shape, from an
 * upstream's items or from a flat summary stored by an earlier civicid;
 * bounded (4 items, 4 checks, 64-byte printable strings), a type outside
 * the spec's or a signature without its required members left out, and its
 * own output read back unchanged.
 */
static void test_idp_evidence(void **state)
{
	static const struct {
		const char *in;
		const char *want; /* NULL: no usable item */
	} rows[] = {
	    /* the spec's four types, extra members dropped */
	    {"[{\"type\":\"document\",\"time\":\"2026-01-02\",\"check_details\":[{\"check_method\":"
	     "\"vpip\",\"organization\":\"city\",\"txn\":\"t1\",\"time\":\"2026-01-01\",\"x\":1},"
	     "{\"organization\":\"no method\"},{\"check_method\":\"vri\"}],\"document_details\":"
	     "{\"type\":\"idcard\",\"document_number\":\"123\"}},"
	     "{\"type\":\"electronic_record\",\"record\":{\"type\":\"my_number_card\"}},"
	     "{\"type\":\"vouch\",\"attestation\":{\"type\":\"written_attestation\"}},"
	     "{\"type\":\"electronic_signature\",\"signature_type\":\"qes\",\"issuer\":\"CA\","
	     "\"serial_number\":\"42\",\"created_at\":\"2026-01-03\",\"x\":1}]",
	     "[{\"type\":\"document\",\"time\":\"2026-01-02\",\"check_details\":[{\"check_method\":"
	     "\"vpip\",\"organization\":\"city\",\"txn\":\"t1\",\"time\":\"2026-01-01\"},"
	     "{\"check_method\":\"vri\"}],\"document_details\":{\"type\":\"idcard\"}},"
	     "{\"type\":\"electronic_record\",\"record\":{\"type\":\"my_number_card\"}},"
	     "{\"type\":\"vouch\",\"attestation\":{\"type\":\"written_attestation\"}},"
	     "{\"type\":\"electronic_signature\",\"signature_type\":\"qes\",\"issuer\":\"CA\","
	     "\"serial_number\":\"42\",\"created_at\":\"2026-01-03\"}]"},
	    /* the flat summary an earlier civicid stored */
	    {"[{\"type\":\"document\",\"check_method\":\"vpip\",\"document_type\":\"idcard\"},"
	     "{\"type\":\"electronic_record\",\"check_method\":\"kbv\",\"record_type\":\"mnc\"},"
	     "{\"type\":\"vouch\"}]",
	     "[{\"type\":\"document\",\"check_details\":[{\"check_method\":\"vpip\"}],"
	     "\"document_details\":{\"type\":\"idcard\"}},{\"type\":\"electronic_record\","
	     "\"check_details\":[{\"check_method\":\"kbv\"}],\"record\":{\"type\":\"mnc\"}},"
	     "{\"type\":\"vouch\"}]"},
	    /* hostile: unknown or draft types, a signature missing a member, bad text */
	    {"[{\"type\":\"id_document\"},{\"type\":\"electronic_signature\",\"signature_type\":"
	     "\"qes\",\"issuer\":\"CA\"},{\"type\":\"document\",\"time\":\"\\u65e5\","
	     "\"document_details\":{\"type\":\"0123456789012345678901234567890123456789"
	     "01234567890123456789012345\"},\"check_details\":{\"check_method\":\"x\"}},"
	     "{\"type\":\"vouch\"}]",
	     "[{\"type\":\"document\"},{\"type\":\"vouch\"}]"},
	    /* 4 items, 4 checks at most */
	    {"[{\"type\":\"vouch\",\"check_details\":[{\"check_method\":\"a\"},{\"check_method\":"
	     "\"b\"},{\"check_method\":\"c\"},{\"check_method\":\"d\"},{\"check_method\":\"e\"}]},"
	     "{\"type\":\"vouch\"},{\"type\":\"vouch\"},{\"type\":\"vouch\"},{\"type\":"
	     "\"document\"}]",
	     "[{\"type\":\"vouch\",\"check_details\":[{\"check_method\":\"a\"},{\"check_method\":"
	     "\"b\"},{\"check_method\":\"c\"},{\"check_method\":\"d\"}]},"
	     "{\"type\":\"vouch\"},{\"type\":\"vouch\"},{\"type\":\"vouch\"}]"},
	    /* the first 4 checks that name a method: one without takes no place */
	    {"[{\"type\":\"vouch\",\"check_details\":[{\"organization\":\"no method\"},"
	     "{\"check_method\":\"a\"},{\"check_method\":\"\"},{\"check_method\":\"b\"},"
	     "{\"check_method\":\"c\"},{\"check_method\":\"d\"},{\"check_method\":\"e\"}]}]",
	     "[{\"type\":\"vouch\",\"check_details\":[{\"check_method\":\"a\"},{\"check_method\":"
	     "\"b\"},{\"check_method\":\"c\"},{\"check_method\":\"d\"}]}]"},
	    {"[{\"type\":\"utility_bill\"},5]", NULL},
	    {"{\"type\":\"document\"}", NULL},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		json_t *in = json_loads(rows[i].in, 0, NULL);
		json_t *want = rows[i].want != NULL ? json_loads(rows[i].want, 0, NULL) : NULL;
		json_t *got = NULL;
		json_t *again = NULL;
		char *text;

		assert_non_null(in);
		assert_true(rows[i].want == NULL || want != NULL);
		assert_int_equal(cid_idp_evidence(in, &got), CID_OK);
		text = got != NULL ? json_dumps(got, JSON_SORT_KEYS) : NULL;
		if (want == NULL ? got != NULL : !json_equal(got, want))
			fail_msg("row %zu: %s", i, text != NULL ? text : "(none)");
		free(text);
		/* what was stored reads back the same */
		assert_int_equal(cid_idp_evidence(got, &again), CID_OK);
		assert_true(want == NULL ? again == NULL : json_equal(again, want));
		json_decref(again);
		json_decref(got);
		json_decref(want);
		json_decref(in);
	}
}

/*
 * The store side of provenance: an upstream's entries are kept apart from
 * the typed claims, replaced whole at its next login, other upstreams'
 * entries untouched; only an entry with a trust framework is a verified
 * value; a bad entry writes nothing.
 */
static void test_account_put_verified(void **state)
{
	static const char *const bad[] = {
	    "{\"shoe_size\":{\"value\":1,\"issuer\":\"" ISS "\",\"imported_at\":1}}",
	    "{\"birthdate\":{\"value\":\"soon\",\"issuer\":\"" ISS "\",\"imported_at\":1}}",
	    "{\"birthdate\":{\"value\":\"1990-01-01\",\"issuer\":\"https://other.example\","
	    "\"imported_at\":1}}",
	    "{\"birthdate\":{\"value\":\"1990-01-01\",\"issuer\":\"" ISS "\"}}",
	};
	struct cid_test_store *t = *state;
	struct cid_account *a = NULL;
	char id[CID_ID_CHARS + 1];
	json_t *claims = json_pack("{s:s}", "given_name", "Typed");
	json_t *e1 = json_loads("{\"given_name\":{\"value\":\"Card\",\"issuer\":\"" ISS "\","
				"\"imported_at\":1,\"trust_framework\":\"jp_card\"},"
				"\"birthdate\":{\"value\":\"1990-01-01\",\"issuer\":\"" ISS "\","
				"\"imported_at\":1}}",
				0, NULL);
	json_t *e2 =
	    json_loads("{\"address\":{\"value\":{\"locality\":\"X\"},\"issuer\":"
		       "\"https://city.example\",\"imported_at\":2,\"trust_framework\":\"t\"}}",
		       0, NULL);
	json_t *e3 = json_object();

	assert_non_null(e1);
	assert_non_null(e2);
	assert_int_equal(cid_account_add(t->s, &cid_test_argon2, "hanako", "correct horse battery",
					 claims, NOW, id),
			 CID_OK);
	assert_int_equal(cid_account_put_verified(t->s, id, ISS, e1), CID_OK);
	assert_int_equal(cid_account_put_verified(t->s, id, "https://city.example", e2), CID_OK);
	assert_int_equal(cid_account_get(t->s, id, &a), CID_OK);
	/* the typed value is untouched, the verified one beside it */
	assert_string_equal(cid_json_str(a->claims, "given_name"), "Typed");
	assert_string_equal(cid_json_str(cid_account_verified_get(a, "given_name"), "value"),
			    "Card");
	/* imported without a trust framework: its source kept, not a verified value */
	assert_non_null(json_object_get(a->verified, "birthdate"));
	assert_null(cid_account_verified_get(a, "birthdate"));
	assert_non_null(cid_account_verified_get(a, "address"));
	assert_null(cid_account_verified_get(a, "email"));
	cid_account_free(a);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *b = json_loads(bad[i], 0, NULL);

		assert_non_null(b);
		if (cid_account_put_verified(t->s, id, ISS, b) != CID_ERR_INVALID)
			fail_msg("bad entry %zu accepted", i);
		json_decref(b);
	}
	/* the card now vouches for nothing: its entries go, the city's stay */
	assert_int_equal(cid_account_put_verified(t->s, id, ISS, e3), CID_OK);
	assert_int_equal(cid_account_get(t->s, id, &a), CID_OK);
	assert_null(json_object_get(a->verified, "given_name"));
	assert_null(json_object_get(a->verified, "birthdate"));
	assert_non_null(cid_account_verified_get(a, "address"));
	cid_account_free(a);
	assert_int_equal(
	    cid_account_put_verified(t->s, "00000000-0000-4000-8000-000000000099", ISS, e3),
	    CID_ERR_NOTFOUND);
	json_decref(claims);
	json_decref(e1);
	json_decref(e2);
	json_decref(e3);
}

/* A claim both upstreams vouch for: which entry a second upstream's login leaves, one row each. */
static const struct {
	const char *card_framework; /* the first upstream's entry's (NULL: none) */
	const char *city_framework; /* the second's, put after it */
	const char *kept;	    /* the issuer of the entry stored after both */
} shared_rows[] = {
    {"jp_card", NULL, ISS},
    {"jp_card", "jp_city", "https://city.example"},
    {NULL, NULL, "https://city.example"},
    {NULL, "jp_city", "https://city.example"},
};

/* An entry of given_name with value from issuer, under framework (NULL: none). */
static json_t *given_name_entry(const char *value, const char *issuer, const char *framework)
{
	json_t *e = json_pack("{s:{s:s, s:s, s:i}}", "given_name", "value", value, "issuer", issuer,
			      "imported_at", 1);

	assert_non_null(e);
	if (framework != NULL)
		assert_int_equal(json_object_set_new(json_object_get(e, "given_name"),
						     "trust_framework", json_string(framework)),
				 0);
	return e;
}

static void test_unframed_entry_leaves_another_upstreams_verified_one(void **state)
{
	struct cid_test_store *t = *state;

	for (size_t i = 0; i < sizeof(shared_rows) / sizeof(shared_rows[0]); i++) {
		struct cid_account *a = NULL;
		char id[CID_ID_CHARS + 1];
		char name[32];
		json_t *card = given_name_entry("Card", ISS, shared_rows[i].card_framework);
		json_t *city =
		    given_name_entry("City", "https://city.example", shared_rows[i].city_framework);
		const json_t *e;

		snprintf(name, sizeof(name), "shared%zu", i);
		assert_int_equal(cid_account_add(t->s, &cid_test_argon2, name,
						 "correct horse battery", NULL, NOW, id),
				 CID_OK);
		assert_int_equal(cid_account_put_verified(t->s, id, ISS, card), CID_OK);
		assert_int_equal(cid_account_put_verified(t->s, id, "https://city.example", city),
				 CID_OK);
		assert_int_equal(cid_account_get(t->s, id, &a), CID_OK);
		e = json_object_get(a->verified, "given_name");
		if (strcmp(cid_json_str(e, "issuer"), shared_rows[i].kept) != 0)
			fail_msg("row %zu: the entry of %s is kept", i, cid_json_str(e, "issuer"));
		assert_string_equal(cid_json_str(e, "value"),
				    strcmp(shared_rows[i].kept, ISS) == 0 ? "Card" : "City");
		cid_account_free(a);
		json_decref(card);
		json_decref(city);
	}
}

/* The display's checks, one row each. */
static void test_display_ok_table(void **state)
{
	char long_label[CID_IDP_MAX_LABEL + 2];

	static const struct {
		const char *ja, *en;
		int order;
		bool ok;
	} rows[] = {
	    {NULL, NULL, 0, true},
	    {"マイナンバーカード", "My Number Card", 1, true},
	    {"", "", CID_IDP_ORDER_MAX, true},
	    {NULL, NULL, CID_IDP_ORDER_MAX + 1, false},
	    {NULL, NULL, -1, false},
	    {"a\tb", NULL, 0, false},
	    {NULL, "\xc3\x28", 0, false},
	};

	(void)state;
	memset(long_label, 'x', sizeof(long_label) - 1);
	long_label[sizeof(long_label) - 1] = '\0';
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct cid_idp_display d = {rows[i].ja, rows[i].en, rows[i].order};

		if (cid_idp_display_ok(&d) != rows[i].ok)
			fail_msg("row %zu", i);
	}
	assert_false(cid_idp_display_ok(&(struct cid_idp_display){long_label, NULL, 0}));
	long_label[CID_IDP_MAX_LABEL] = '\0';
	assert_true(cid_idp_display_ok(&(struct cid_idp_display){long_label, NULL, 0}));
}

/*
 * The login page's buttons: by order (unset at the default), ties by name;
 * the label of the page's language, else the other's, else the name; set
 * changes, "" removes.
 */
static void test_buttons_order_and_labels(void **state)
{
	struct cid_test_store *t = *state;
	struct cid_idp_spec a = good(), b = good(), c = good();
	json_t *got = NULL;
	char *text;

	a.name = "zeta";
	a.display = (struct cid_idp_display){"カード", "Card", 5};
	b.name = "alpha";
	b.issuer = "https://alpha.example.jp";
	c.name = "beta";
	c.issuer = "https://beta.example.jp";
	c.display = (struct cid_idp_display){NULL, "Beta city", 0};
	assert_int_equal(cid_idp_add(t->s, &a, NOW, NULL, 0), CID_OK);
	assert_int_equal(cid_idp_add(t->s, &b, NOW, NULL, 0), CID_OK);
	assert_int_equal(cid_idp_add(t->s, &c, NOW, NULL, 0), CID_OK);
	assert_int_equal(cid_idp_buttons(t->s, "ja", &got), CID_OK);
	text = json_dumps(got, JSON_COMPACT);
	assert_string_equal(text,
			    "[{\"name\":\"zeta\",\"label\":\"カード\"},{\"name\":\"alpha\","
			    "\"label\":\"alpha\"},{\"name\":\"beta\",\"label\":\"Beta city\"}]");
	free(text);
	json_decref(got);
	assert_int_equal(
	    cid_idp_set_display(t->s, "zeta", &(struct cid_idp_display){NULL, "", 200}), CID_OK);
	assert_int_equal(cid_idp_set_display(t->s, "nobody", &(struct cid_idp_display){0}),
			 CID_ERR_NOTFOUND);
	assert_int_equal(
	    cid_idp_set_display(t->s, "zeta", &(struct cid_idp_display){NULL, NULL, 1000}),
	    CID_ERR_INVALID);
	assert_int_equal(cid_idp_buttons(t->s, "en", &got), CID_OK);
	text = json_dumps(got, JSON_COMPACT);
	assert_string_equal(text,
			    "[{\"name\":\"alpha\",\"label\":\"alpha\"},{\"name\":\"beta\","
			    "\"label\":\"Beta city\"},{\"name\":\"zeta\",\"label\":\"カード\"}]");
	free(text);
	json_decref(got);
}

static void test_add_get_list_remove_never_show_secret(void **state)
{
	struct cid_test_store *t = *state;
	struct cid_idp_spec sp = good();
	struct cid_idp *idp = NULL;
	json_t *all = NULL;
	json_t *one = NULL;
	char *text;

	assert_int_equal(cid_idp_add(t->s, &sp, NOW, NULL, 0), CID_OK);
	assert_int_equal(cid_idp_add(t->s, &sp, NOW, NULL, 0), CID_ERR_EXISTS);
	/* the same issuer under another name is refused too: one registration per upstream */
	sp.name = "card2";
	assert_int_equal(cid_idp_add(t->s, &sp, NOW, NULL, 0), CID_ERR_EXISTS);
	assert_int_equal(cid_idp_get(t->s, "card", &idp), CID_OK);
	assert_string_equal(idp->issuer, ISS);
	assert_string_equal(idp->client_secret, "s3cret-value");
	assert_true(idp->allow_create);
	cid_idp_free(idp);
	assert_int_equal(cid_idp_list(t->s, &all), CID_OK);
	assert_int_equal(json_array_size(all), 1);
	assert_int_equal(cid_idp_show(t->s, "card", &one), CID_OK);
	text = json_dumps(all, 0);
	assert_null(strstr(text, "s3cret"));
	free(text);
	text = json_dumps(one, 0);
	assert_null(strstr(text, "s3cret"));
	assert_non_null(strstr(text, "civicid-city"));
	free(text);
	json_decref(all);
	json_decref(one);
	assert_int_equal(cid_idp_remove(t->s, "card"), CID_OK);
	assert_int_equal(cid_idp_remove(t->s, "card"), CID_ERR_NOTFOUND);
	assert_int_equal(cid_idp_get(t->s, "card", &idp), CID_ERR_NOTFOUND);
	assert_int_equal(cid_idp_get(t->s, "../x", &idp), CID_ERR_NOTFOUND);
}

/* Each view the walker yields, as JSON text, appended to the array arg. */
static enum cid_err dump_view(const json_t *view, void *arg)
{
	char *text = json_dumps(view, JSON_SORT_KEYS | JSON_COMPACT);

	assert_non_null(text);
	assert_int_equal(json_array_append_new(arg, json_string(text)), 0);
	free(text);
	return CID_OK;
}

/* The walker's views now, with the secret never among them: an array of JSON texts. */
static json_t *walk_views(struct cid_store *s)
{
	json_t *texts = json_array();
	size_t i;
	const json_t *t;

	assert_int_equal(idp_foreach_public(s, dump_view, texts), CID_OK);
	json_array_foreach(texts, i, t)
	{
		if (strstr(json_string_value(t), "s3cret") != NULL ||
		    strstr(json_string_value(t), "client_secret") != NULL)
			fail_msg("a view holds the secret: %s", json_string_value(t));
	}
	return texts;
}

static enum cid_err stop_at_first(const json_t *view, void *arg)
{
	(void)view;
	(*(int *)arg)++;
	return CID_ERR_REFUSED;
}

struct raw_put {
	const char *name;
	const char *json;
};

/* Writes a registration's record as another writer would: no call of this module. */
static enum cid_err raw_put_cb(struct cid_txn *txn, void *arg)
{
	const struct raw_put *p = arg;

	return cid_txn_put(txn, CID_DB_IDPS, cid_str_of(p->name), cid_str_of(p->json), 0);
}

/*
 * The walker over the registrations' public views: by name, never the
 * secret, whether a view is made or comes from the memo; a change shows at
 * the next walk however it was written (set_display, or another writer of
 * the store such as `civicid idp` beside a running server, which calls no
 * hook of this process), and a removed registration is walked no more.
 */
static void test_walker_yields_public_views_only(void **state)
{
	struct cid_test_store *t = *state;
	struct cid_idp_spec a = good(), b = good();
	const struct raw_put changed = {
	    "zeta", "{\"name\":\"zeta\",\"issuer\":\"https://zeta.example.jp\",\"client_id\":\"z\","
		    "\"client_secret\":\"s3cret-other\",\"scope\":\"openid\",\"acr_map\":{},"
		    "\"claim_map\":{},\"label_en\":\"Written outside\",\"created_at\":1}"};
	json_t *first;
	json_t *again;
	int calls = 0;

	a.name = "zeta";
	a.issuer = "https://zeta.example.jp";
	a.client_secret = "s3cret-zeta";
	b.name = "alpha";
	b.issuer = "https://alpha.example.jp";
	b.client_secret = "s3cret-alpha";
	assert_int_equal(cid_idp_add(t->s, &a, NOW, NULL, 0), CID_OK);
	assert_int_equal(cid_idp_add(t->s, &b, NOW, NULL, 0), CID_OK);
	first = walk_views(t->s); /* made from the records */
	again = walk_views(t->s); /* from the memo */
	assert_int_equal(json_array_size(first), 2);
	assert_non_null(strstr(json_string_value(json_array_get(first, 0)), "\"name\":\"alpha\""));
	assert_non_null(strstr(json_string_value(json_array_get(first, 1)), "\"name\":\"zeta\""));
	assert_true(json_equal(first, again));
	json_decref(again);
	/* the walk stops at the callback's first error, and returns it */
	assert_int_equal(idp_foreach_public(t->s, stop_at_first, &calls), CID_ERR_REFUSED);
	assert_int_equal(calls, 1);
	/* set_display: the next walk has the label */
	assert_int_equal(
	    cid_idp_set_display(t->s, "alpha", &(struct cid_idp_display){NULL, "Alpha city", 0}),
	    CID_OK);
	again = walk_views(t->s);
	assert_non_null(strstr(json_string_value(json_array_get(again, 0)), "Alpha city"));
	assert_true(json_equal(json_array_get(again, 1), json_array_get(first, 1)));
	json_decref(again);
	/* another writer: the next walk has its record, without its secret */
	assert_int_equal(cid_store_update(t->s, raw_put_cb, (void *)(uintptr_t)&changed), CID_OK);
	again = walk_views(t->s);
	assert_non_null(strstr(json_string_value(json_array_get(again, 1)), "Written outside"));
	json_decref(again);
	/* removed: walked no more */
	assert_int_equal(cid_idp_remove(t->s, "alpha"), CID_OK);
	again = walk_views(t->s);
	assert_int_equal(json_array_size(again), 1);
	assert_non_null(strstr(json_string_value(json_array_get(again, 0)), "\"name\":\"zeta\""));
	json_decref(again);
	json_decref(first);
}

static void test_acr_map_levels(void **state)
{
	struct cid_test_store *t = *state;
	struct cid_idp_spec sp = good();
	struct cid_idp *idp = NULL;

	assert_int_equal(cid_idp_add(t->s, &sp, NOW, NULL, 0), CID_OK);
	assert_int_equal(cid_idp_get(t->s, "card", &idp), CID_OK);
	assert_int_equal(cid_idp_acr_level(idp, "urn:card:high"), CID_LEVEL_MFA);
	assert_int_equal(cid_idp_acr_level(idp, "urn:card:low"), CID_LEVEL_PASSWORD);
	/* an acr the map does not name, or none, is worth no more than a password */
	assert_int_equal(cid_idp_acr_level(idp, "urn:card:other"), CID_LEVEL_PASSWORD);
	assert_int_equal(cid_idp_acr_level(idp, NULL), CID_LEVEL_PASSWORD);
	cid_idp_free(idp);
}

static void test_claim_map_keeps_only_valid_mapped(void **state)
{
	struct cid_test_store *t = *state;
	struct cid_idp_spec sp = good();
	struct cid_idp *idp = NULL;
	json_t *up = json_pack("{s:s, s:i, s:s, s:s}", "given_name", "Hanako", "fam", 7, "email",
			       "h@example.jp", "sub", "u1");
	json_t *out = NULL;

	assert_int_equal(cid_idp_add(t->s, &sp, NOW, NULL, 0), CID_OK);
	assert_int_equal(cid_idp_get(t->s, "card", &idp), CID_OK);
	assert_int_equal(cid_idp_map_claims(idp, up, &out), CID_OK);
	/* given_name mapped; fam is no string (refused by the claim table); email not mapped */
	assert_int_equal(json_object_size(out), 1);
	assert_string_equal(json_string_value(json_object_get(out, "given_name")), "Hanako");
	json_decref(out);
	json_decref(up);
	cid_idp_free(idp);
}

static void test_one_identity_one_account(void **state)
{
	struct cid_test_store *t = *state;
	char a[CID_ID_CHARS + 1];
	char b[CID_ID_CHARS + 1];
	char got[CID_ID_CHARS + 1];
	json_t *links = NULL;

	assert_int_equal(cid_account_add(t->s, &cid_test_argon2, "hanako", "correct horse battery",
					 NULL, NOW, a),
			 CID_OK);
	assert_int_equal(
	    cid_account_add(t->s, &cid_test_argon2, "taro", "correct horse battery", NULL, NOW, b),
	    CID_OK);
	assert_int_equal(cid_idp_link_get(t->s, ISS, "u1", got), CID_ERR_NOTFOUND);
	assert_int_equal(cid_idp_link(t->s, ISS, "u1", a, NOW), CID_OK);
	assert_int_equal(cid_idp_link_get(t->s, ISS, "u1", got), CID_OK);
	assert_string_equal(got, a);
	/* linked again to the same citizen: no change; to another: refused */
	assert_int_equal(cid_idp_link(t->s, ISS, "u1", a, NOW + 1), CID_OK);
	assert_int_equal(cid_idp_link(t->s, ISS, "u1", b, NOW), CID_ERR_EXISTS);
	assert_int_equal(cid_idp_link_get(t->s, ISS, "u1", got), CID_OK);
	assert_string_equal(got, a);
	/* the same sub at another issuer is another identity */
	assert_int_equal(cid_idp_link(t->s, "https://other.example.jp", "u1", b, NOW), CID_OK);
	/* a citizen may hold several links */
	assert_int_equal(cid_idp_link(t->s, ISS, "u2", a, NOW), CID_OK);
	assert_int_equal(cid_idp_links_of(t->s, a, &links), CID_OK);
	assert_int_equal(json_array_size(links), 2);
	json_decref(links);
	/* no link to a citizen that does not exist; malformed identities refused */
	assert_int_equal(cid_idp_link(t->s, ISS, "u3", "00000000-0000-4000-8000-000000000000", NOW),
			 CID_ERR_NOTFOUND);
	assert_int_equal(cid_idp_link(t->s, ISS, "", a, NOW), CID_ERR_INVALID);
	assert_int_equal(cid_idp_link(t->s, ISS, "a\nb", a, NOW), CID_ERR_INVALID);
	assert_int_equal(cid_idp_link_get(t->s, ISS, "a\nb", got), CID_ERR_NOTFOUND);
	/* a disabled citizen gets no new link (checked where it is written); enabled, it does */
	assert_int_equal(cid_account_set_disabled(t->s, "taro", true, NOW), CID_OK);
	assert_int_equal(cid_idp_link(t->s, ISS, "u4", b, NOW), CID_ERR_DISABLED);
	assert_int_equal(cid_idp_link_get(t->s, ISS, "u4", got), CID_ERR_NOTFOUND);
	assert_int_equal(cid_account_set_disabled(t->s, "taro", false, NOW), CID_OK);
	assert_int_equal(cid_idp_link(t->s, ISS, "u4", b, NOW), CID_OK);
}

/* The number of citizens in the store (the account listing). */
static size_t citizens(struct cid_store *s)
{
	json_t *all = NULL;
	size_t n;

	assert_int_equal(cid_account_list(s, &all), CID_OK);
	n = json_array_size(all);
	json_decref(all);
	return n;
}

static void test_link_or_create_creates_and_links_once(void **state)
{
	struct cid_test_store *t = *state;
	char a[CID_ID_CHARS + 1];
	char created[CID_ID_CHARS + 1];
	char got[CID_ID_CHARS + 1];
	struct cid_account *citizen = NULL;
	json_t *claims = json_pack("{s:s}", "given_name", "Hanako");
	json_t *bad = json_pack("{s:i}", "given_name", 7);

	assert_non_null(claims);
	assert_non_null(bad);
	assert_int_equal(cid_account_add(t->s, &cid_test_argon2, "hanako", "correct horse battery",
					 NULL, NOW, a),
			 CID_OK);
	assert_int_equal(cid_idp_link(t->s, ISS, "u1", a, NOW), CID_OK);
	/* linked: its citizen, and no new one */
	assert_int_equal(
	    cid_idp_link_or_create(t->s, &cid_test_argon2, ISS, "u1", "card.new", claims, NOW, got),
	    CID_OK);
	assert_string_equal(got, a);
	assert_int_equal(citizens(t->s), 1);
	assert_int_equal(cid_account_find(t->s, "card.new", &citizen), CID_ERR_NOTFOUND);
	/* not linked: a citizen with the claims and no password, linked */
	assert_int_equal(cid_idp_link_or_create(t->s, &cid_test_argon2, ISS, "u2", "card.new",
						claims, NOW, created),
			 CID_OK);
	assert_string_not_equal(created, a);
	assert_int_equal(cid_idp_link_get(t->s, ISS, "u2", got), CID_OK);
	assert_string_equal(got, created);
	assert_int_equal(cid_account_find(t->s, "card.new", &citizen), CID_OK);
	assert_string_equal(citizen->id, created);
	assert_false(citizen->has_password);
	assert_string_equal(json_string_value(json_object_get(citizen->claims, "given_name")),
			    "Hanako");
	cid_account_free(citizen);
	assert_int_equal(citizens(t->s), 2);
	/* refused: nothing written, neither citizen nor link */
	assert_int_equal(
	    cid_idp_link_or_create(t->s, &cid_test_argon2, ISS, "u3", "hanako", claims, NOW, got),
	    CID_ERR_EXISTS);
	assert_int_equal(
	    cid_idp_link_or_create(t->s, &cid_test_argon2, ISS, "u3", "card.bad", bad, NOW, got),
	    CID_ERR_INVALID);
	assert_int_equal(cid_idp_link_or_create(t->s, &cid_test_argon2, ISS, "a\nb", "card.nl",
						claims, NOW, got),
			 CID_ERR_INVALID);
	assert_int_equal(
	    cid_idp_link_or_create(t->s, &cid_test_argon2, ISS, "", "card.empty", claims, NOW, got),
	    CID_ERR_INVALID);
	assert_int_equal(cid_idp_link_get(t->s, ISS, "u3", NULL), CID_ERR_NOTFOUND);
	assert_int_equal(citizens(t->s), 2);
	json_decref(claims);
	json_decref(bad);
}

#define RACERS 8

struct racer {
	struct cid_store *s;
	pthread_barrier_t *start;
	char username[32];
	char account[CID_ID_CHARS + 1];
	enum cid_err rc;
};

static void *first_login(void *arg)
{
	struct racer *r = arg;

	pthread_barrier_wait(r->start);
	r->rc = cid_idp_link_or_create(r->s, &cid_test_argon2, ISS, "u-race", r->username, NULL,
				       NOW, r->account);
	return NULL;
}

/* A double click, two tabs, a retried callback: one citizen, every login to it. */
static void test_concurrent_first_logins_make_one_citizen(void **state)
{
	struct cid_test_store *t = *state;
	pthread_t threads[RACERS];
	struct racer racers[RACERS];
	pthread_barrier_t start;
	char linked[CID_ID_CHARS + 1];

	assert_int_equal(pthread_barrier_init(&start, NULL, RACERS), 0);
	for (int i = 0; i < RACERS; i++) {
		racers[i] = (struct racer){.s = t->s, .start = &start};
		/* each callback draws its own username, as the flow does */
		snprintf(racers[i].username, sizeof(racers[i].username), "card.r%d", i);
		assert_int_equal(pthread_create(&threads[i], NULL, first_login, &racers[i]), 0);
	}
	for (int i = 0; i < RACERS; i++)
		assert_int_equal(pthread_join(threads[i], NULL), 0);
	pthread_barrier_destroy(&start);
	assert_int_equal(cid_idp_link_get(t->s, ISS, "u-race", linked), CID_OK);
	for (int i = 0; i < RACERS; i++) {
		assert_int_equal(racers[i].rc, CID_OK);
		assert_string_equal(racers[i].account, linked);
	}
	assert_int_equal(citizens(t->s), 1);
}

static void test_unlink_keeps_the_last_way_in_without_a_password(void **state)
{
	struct cid_test_store *t = *state;
	char fed[CID_ID_CHARS + 1];
	char pw[CID_ID_CHARS + 1];
	json_t *links = NULL;
	struct cid_account *citizen = NULL;

	assert_int_equal(
	    cid_idp_link_or_create(t->s, &cid_test_argon2, ISS, "f1", "card.x1", NULL, NOW, fed),
	    CID_OK);
	assert_int_equal(cid_account_add(t->s, &cid_test_argon2, "hanako", "correct horse battery",
					 NULL, NOW, pw),
			 CID_OK);
	assert_int_equal(cid_idp_link(t->s, ISS, "f2", fed, NOW), CID_OK);
	assert_int_equal(cid_idp_link(t->s, ISS, "p1", pw, NOW), CID_OK);
	/* another citizen's link, or none, is not found, and stays */
	assert_int_equal(cid_idp_unlink(t->s, pw, ISS, "f1"), CID_ERR_NOTFOUND);
	assert_int_equal(cid_idp_unlink(t->s, fed, ISS, "nobody"), CID_ERR_NOTFOUND);
	assert_int_equal(cid_idp_unlink(t->s, fed, ISS, "a\nb"), CID_ERR_NOTFOUND);
	assert_int_equal(cid_idp_link_get(t->s, ISS, "f1", NULL), CID_OK);
	/* no password: one of two links goes, the last is refused and stays */
	assert_int_equal(cid_idp_unlink(t->s, fed, ISS, "f1"), CID_OK);
	assert_int_equal(cid_idp_link_get(t->s, ISS, "f1", NULL), CID_ERR_NOTFOUND);
	assert_int_equal(cid_idp_unlink(t->s, fed, ISS, "f2"), CID_ERR_REFUSED);
	assert_int_equal(cid_idp_links_of(t->s, fed, &links), CID_OK);
	assert_int_equal(json_array_size(links), 1);
	json_decref(links);
	/* a password: the last link may go */
	assert_int_equal(cid_idp_unlink(t->s, pw, ISS, "p1"), CID_OK);
	assert_int_equal(cid_idp_link_get(t->s, ISS, "p1", NULL), CID_ERR_NOTFOUND);
	/* once an operator sets a password, the federated citizen may unlink its last */
	assert_int_equal(cid_account_get(t->s, fed, &citizen), CID_OK);
	assert_false(citizen->has_password);
	cid_account_free(citizen);
	assert_int_equal(cid_account_set_password(t->s, &cid_test_argon2, "card.x1",
						  "a password told by phone", NOW + 1),
			 CID_OK);
	assert_int_equal(cid_idp_unlink(t->s, fed, ISS, "f2"), CID_OK);
}

/* When an upstream's ID token proves the new login civicid asked for. */
static void test_login_fresh_table(void **state)
{
	static const struct {
		const char *claims;
		bool fresh;
	} rows[] = {
	    {"{\"auth_time\": 1800000000}", true},	/* at the asking */
	    {"{\"auth_time\": 1800000030}", true},	/* after it */
	    {"{\"auth_time\": 1799999940}", true},	/* within the skew before */
	    {"{\"auth_time\": 1799999939}", false},	/* an older login stood in */
	    {"{\"auth_time\": 1800000121}", false},	/* after now + skew */
	    {"{}", false},				/* none given though max_age=0 */
	    {"{\"auth_time\": \"1800000000\"}", false}, /* not a number */
	    {"{\"auth_time\": 1800000000.5}", false},	/* not an integer */
	};

	const int64_t asked = 1800000000;
	const int64_t now = 1800000060;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		json_t *c = json_loads(rows[i].claims, 0, NULL);

		assert_non_null(c);
		if (cid_idp_login_fresh(c, asked, now) != rows[i].fresh)
			fail_msg("row %zu (%s): expected %s", i, rows[i].claims,
				 rows[i].fresh ? "fresh" : "not fresh");
		json_decref(c);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_check_table),
	    cmocka_unit_test_setup_teardown(test_add_get_list_remove_never_show_secret,
					    cid_test_store_setup, cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_walker_yields_public_views_only,
					    cid_test_store_setup, cid_test_store_teardown),
	    cmocka_unit_test(test_check_amr_map_and_trust_framework),
	    cmocka_unit_test(test_display_ok_table),
	    cmocka_unit_test_setup_teardown(test_buttons_order_and_labels, cid_test_store_setup,
					    cid_test_store_teardown),
	    cmocka_unit_test(test_idp_evidence),
	    cmocka_unit_test_setup_teardown(test_verified_claims_provenance, cid_test_store_setup,
					    cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(
		test_unframed_entry_leaves_another_upstreams_verified_one, cid_test_store_setup,
		cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_account_put_verified, cid_test_store_setup,
					    cid_test_store_teardown),
	    cmocka_unit_test(test_login_fresh_table),
	    cmocka_unit_test_setup_teardown(test_login_level_and_amr, cid_test_store_setup,
					    cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_acr_map_levels, cid_test_store_setup,
					    cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_claim_map_keeps_only_valid_mapped,
					    cid_test_store_setup, cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_one_identity_one_account, cid_test_store_setup,
					    cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_link_or_create_creates_and_links_once,
					    cid_test_store_setup, cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_first_logins_make_one_citizen,
					    cid_test_store_setup, cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_unlink_keeps_the_last_way_in_without_a_password,
					    cid_test_store_setup, cid_test_store_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
