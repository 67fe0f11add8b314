/*
 * receipt: consent receipts made from real consent records in a fresh store
 * (a real context: LMDB, keys, a registered service under its policy), their
 * signatures checked with cid_jws_verify, every Kantara 1.1 mandatory field
 * checked, and each refusal path (refused, withdrawn, unknown, another
 * citizen's, malformed id, controller not configured).
 */
#include "account.h"
#include "audit.h"
#include "cid.h"
#include "client.h"
#include "config.h"
#include "consent.h"
#include "jose.h"
#include "merkle.h"
#include "policy.h"
#include "receipt.h"
#include "str.h"
#include "support.h"
#include "token.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define NOW 1800000000
#define DAY ((int64_t)24 * 3600)

struct fixture {
	char dir[256];
	struct cid_config *cfg;
	struct cid_ctx *ctx;
	char hanako[CID_ID_CHARS + 1];
	char taro[CID_ID_CHARS + 1];
	char version[CID_HASH_HEX + 1];
	char digest[CID_HASH_HEX + 1];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const struct cid_policy *pol;
	struct cid_purpose_info pu;
	struct cid_policyref *pref;
	json_t *claims = json_pack("{s:s}", "given_name", "花子");

	assert_non_null(f);
	f->cfg = cid_test_config(f->dir);
	cid_test_set(f->cfg, "issuer", "https://id.city.example.jp");
	cid_test_set(f->cfg, "controller_name", "Aoi City");
	cid_test_set(f->cfg, "controller_contact", "Privacy Office, Aoi City Hall");
	cid_test_set(f->cfg, "controller_address", "1-1 Aoi, Aoi City, Fukushima 965-0000");
	cid_test_set(f->cfg, "controller_email", "privacy@city.example.jp");
	cid_test_set(f->cfg, "controller_phone", "+81-242-00-0001");
	cid_test_set(f->cfg, "policy_url", "https://city.example.jp/privacy");
	cid_test_policies(f->cfg, f->dir, "svc.policy", cid_test_svc_policy);
	assert_int_equal(cid_ctx_open(f->cfg, NOW, NULL, &f->ctx), CID_OK);
	cid_test_add_svc_client(f->ctx, NOW);
	assert_int_equal(cid_account_add(cid_ctx_store(f->ctx), &f->cfg->argon2, "hanako",
					 "correct horse battery", claims, NOW, f->hanako),
			 CID_OK);
	assert_int_equal(cid_account_add(cid_ctx_store(f->ctx), &f->cfg->argon2, "taro",
					 "correct horse battery", claims, NOW, f->taro),
			 CID_OK);
	json_decref(claims);
	pref = cid_ctx_policies_acquire(f->ctx);
	pol = cid_policyset_find(cid_policyref_set(pref), "svc");
	assert_non_null(pol);
	cid_policy_purpose(pol, 0, &pu);
	snprintf(f->version, sizeof(f->version), "%s", cid_policy_version(pol));
	snprintf(f->digest, sizeof(f->digest), "%s", pu.digest);
	cid_policyref_put(pref);
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

/* One decision of the consent screen for account: ids[i] is the record of changes[i]. */
static void decide(struct fixture *f, const char *account, const char *digest, int64_t at,
		   const struct cid_consent_change *changes, size_t n, char **ids)
{
	struct cid_consent_context cc = {
	    .account_id = account,
	    .service = "svc",
	    .purpose = "fees",
	    .policy_version = f->version,
	    .purpose_digest = digest,
	    .method = CID_CONSENT_METHOD_SCREEN,
	    .request_id = "req-ref-1",
	    .now = at,
	};

	assert_int_equal(cid_consent_record(cid_ctx_store(f->ctx), &cc, changes, n, ids), CID_OK);
}

static void free_ids(char **ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
}

/* Verifies jws with the context's keys and the receipt typ; returns its claims. */
static json_t *verify(struct fixture *f, const char *jws)
{
	struct cid_keyref *kref = cid_ctx_keys_acquire(f->ctx);
	json_t *claims = NULL;

	assert_int_equal(cid_receipt_verify(cid_keyref_keyset(kref), jws, strlen(jws), &claims),
			 CID_OK);
	cid_keyref_put(kref);
	return claims;
}

static const char *str(const json_t *o, const char *name)
{
	const json_t *v = json_object_get(o, name);

	assert_true(json_is_string(v));
	assert_true(json_string_length(v) > 0);
	return json_string_value(v);
}

static void test_receipt_of_a_grant_verifies_and_carries_every_mandatory_field(void **state)
{
	struct fixture *f = *state;
	const struct cid_consent_change changes[] = {
	    {"given_name", CID_CONSENT_GRANTED, NOW + 365 * DAY},
	    {"email", CID_CONSENT_REFUSED, 0},
	    {"family_name", CID_CONSENT_GRANTED, NOW + 365 * DAY},
	};
	char *ids[3];
	char *jws = NULL;
	json_t *built = NULL;
	char sub[CID_TOKEN_CHARS + 1];
	struct cid_client *client = NULL;
	struct cid_policyref *pref;

	decide(f, f->hanako, f->digest, NOW, changes, 3, ids);
	assert_int_equal(cid_receipt_make(f->ctx, ids[2], f->hanako, "en", NOW + 10, &jws, &built),
			 CID_OK);
	json_t *c = verify(f, jws);
	assert_true(json_equal(c, built));
	/* JWT */
	assert_string_equal(str(c, "iss"), "https://id.city.example.jp");
	assert_int_equal(json_integer_value(json_object_get(c, "iat")), NOW + 10);
	/* Kantara 1.1 */
	assert_string_equal(str(c, "version"), "KI-CR-v1.1.0");
	assert_string_equal(str(c, "jurisdiction"), "JP");
	assert_int_equal(json_integer_value(json_object_get(c, "consentTimestamp")), NOW);
	assert_string_equal(str(c, "collectionMethod"), "web:consent-screen");
	/* the decision's first record names the receipt, whichever record was asked for */
	assert_string_equal(str(c, "consentReceiptID"), ids[0]);
	assert_string_equal(str(c, "jti"), ids[0]);
	assert_string_equal(str(c, "language"), "en");
	assert_int_equal(cid_client_get(cid_ctx_store(f->ctx), "svc", &client), CID_OK);
	pref = cid_ctx_policies_acquire(f->ctx);
	cid_token_subject(f->ctx, cid_policyref_set(pref), client, f->hanako, sub);
	cid_policyref_put(pref);
	cid_client_free(client);
	assert_string_equal(str(c, "piiPrincipalId"), sub);
	assert_string_not_equal(sub, f->hanako); /* pairwise, never the account id */
	const json_t *ctl = json_array_get(json_object_get(c, "piiControllers"), 0);
	assert_int_equal(json_array_size(json_object_get(c, "piiControllers")), 1);
	assert_string_equal(str(ctl, "piiController"), "Aoi City");
	assert_string_equal(str(ctl, "contact"), "Privacy Office, Aoi City Hall");
	assert_string_equal(str(json_object_get(ctl, "address"), "streetAddress"),
			    "1-1 Aoi, Aoi City, Fukushima 965-0000");
	assert_string_equal(str(json_object_get(ctl, "address"), "addressCountry"), "JP");
	assert_string_equal(str(ctl, "email"), "privacy@city.example.jp");
	assert_string_equal(str(ctl, "phone"), "+81-242-00-0001");
	assert_string_equal(str(c, "policyUrl"), "https://city.example.jp/privacy");
	const json_t *svc = json_array_get(json_object_get(c, "services"), 0);
	assert_int_equal(json_array_size(json_object_get(c, "services")), 1);
	assert_string_equal(str(svc, "service"), "Childcare support (svc)");
	assert_string_equal(str(svc, "client_id"), "svc");
	const json_t *pu = json_array_get(json_object_get(svc, "purposes"), 0);
	assert_int_equal(json_array_size(json_object_get(svc, "purposes")), 1);
	assert_string_equal(str(pu, "purpose"), "To calculate your childcare fee");
	assert_string_equal(
	    json_string_value(json_array_get(json_object_get(pu, "purposeCategory"), 0)),
	    "2 - Contracted Service");
	assert_string_equal(str(pu, "consentType"), "EXPLICIT");
	/* the granted attributes only, sorted; the refusal is no part of a receipt */
	const json_t *cat = json_object_get(pu, "piiCategory");
	assert_int_equal(json_array_size(cat), 2);
	assert_string_equal(json_string_value(json_array_get(cat, 0)), "family_name");
	assert_string_equal(json_string_value(json_array_get(cat, 1)), "given_name");
	assert_true(json_is_true(json_object_get(pu, "primaryPurpose")));
	assert_non_null(strstr(str(pu, "termination"), "2028-01-15T08:00:00Z"));
	assert_non_null(strstr(str(pu, "termination"), "365 days"));
	assert_true(json_is_true(json_object_get(pu, "thirdPartyDisclosure")));
	assert_string_equal(str(pu, "thirdPartyName"), "Childcare support");
	assert_true(json_is_false(json_object_get(c, "sensitive")));
	assert_true(json_is_array(json_object_get(c, "spiCat")));
	assert_int_equal(json_array_size(json_object_get(c, "spiCat")), 0);
	/* civicid extensions */
	assert_string_equal(str(c, "policy_version"), f->version);
	assert_string_equal(str(c, "purpose_digest"), f->digest);
	assert_string_equal(str(c, "purpose_id"), "fees");
	assert_true(json_is_true(json_object_get(c, "purpose_text_current")));
	assert_string_equal(str(c, "expires_at"), "2028-01-15T08:00:00Z");
	const json_t *recs = json_object_get(c, "consent_records");
	assert_int_equal(json_array_size(recs), 2);
	assert_string_equal(json_string_value(json_array_get(recs, 0)), ids[0]);
	assert_string_equal(json_string_value(json_array_get(recs, 1)), ids[2]);
	json_decref(c);
	json_decref(built);
	free(jws);
	free_ids(ids, 3);
}

static void test_receipt_has_an_explicit_typ_and_a_japanese_form(void **state)
{
	struct fixture *f = *state;
	const struct cid_consent_change changes[] = {{"email", CID_CONSENT_GRANTED, 0}};
	char *ids[1];
	char *jws = NULL;
	json_t *c = NULL;
	struct cid_keyref *kref = cid_ctx_keys_acquire(f->ctx);

	decide(f, f->hanako, f->digest, NOW, changes, 1, ids);
	/* the operator's form (no citizen given) finds the record by scanning */
	assert_int_equal(cid_receipt_make(f->ctx, ids[0], NULL, "ja", NOW, &jws, NULL), CID_OK);
	/* an ID token's typ is not a receipt's, and the reverse */
	assert_int_equal(cid_jws_verify_max(cid_keyref_keyset(kref), jws, strlen(jws),
					    CID_MAX_RECEIPT, "JWT", &c),
			 CID_ERR_INVALID);
	assert_null(c);
	cid_keyref_put(kref);
	c = verify(f, jws);
	assert_string_equal(str(c, "language"), "ja");
	const json_t *svc = json_array_get(json_object_get(c, "services"), 0);
	const json_t *pu = json_array_get(json_object_get(svc, "purposes"), 0);
	assert_string_equal(str(svc, "service"), "子育て支援 (svc)");
	assert_string_equal(str(pu, "purpose"), "保育料を算定するため");
	assert_non_null(strstr(str(pu, "termination"), "撤回するまで"));
	assert_true(json_is_null(json_object_get(c, "expires_at")));
	json_decref(c);
	free(jws);
	free_ids(ids, 1);
}

static void test_other_decisions_are_not_in_the_receipt(void **state)
{
	struct fixture *f = *state;
	const struct cid_consent_change first[] = {{"email", CID_CONSENT_GRANTED, 0}};
	const struct cid_consent_change later[] = {{"given_name", CID_CONSENT_GRANTED, 0}};
	char *a[1];
	char *b[1];
	char *jws = NULL;
	json_t *c = NULL;

	decide(f, f->hanako, f->digest, NOW, first, 1, a);
	decide(f, f->hanako, f->digest, NOW + 60, later, 1, b);
	assert_int_equal(cid_receipt_make(f->ctx, b[0], f->hanako, "en", NOW, &jws, &c), CID_OK);
	assert_string_equal(str(c, "consentReceiptID"), b[0]);
	const json_t *svc = json_array_get(json_object_get(c, "services"), 0);
	const json_t *cat =
	    json_object_get(json_array_get(json_object_get(svc, "purposes"), 0), "piiCategory");
	assert_int_equal(json_array_size(cat), 1);
	assert_string_equal(json_string_value(json_array_get(cat, 0)), "given_name");
	json_decref(c);
	free(jws);
	free_ids(a, 1);
	free_ids(b, 1);
}

static void test_a_changed_purpose_text_is_flagged(void **state)
{
	struct fixture *f = *state;
	const struct cid_consent_change changes[] = {{"email", CID_CONSENT_GRANTED, 0}};
	char *ids[1];
	char *jws = NULL;
	json_t *c = NULL;

	decide(f, f->hanako, "digest-of-an-older-text", NOW, changes, 1, ids);
	assert_int_equal(cid_receipt_make(f->ctx, ids[0], f->hanako, "en", NOW, &jws, &c), CID_OK);
	assert_true(json_is_false(json_object_get(c, "purpose_text_current")));
	assert_string_equal(str(c, "purpose_digest"), "digest-of-an-older-text");
	json_decref(c);
	free(jws);
	free_ids(ids, 1);
}

/* n bytes of lowercase hex into out. */
static void unhex(const char *hex, uint8_t *out, size_t n)
{
	assert_int_equal(strlen(hex), 2 * n);
	for (size_t i = 0; i < n; i++) {
		char b[3] = {hex[2 * i], hex[2 * i + 1], 0};

		out[i] = (uint8_t)strtoul(b, NULL, 16);
	}
}

/*
 * The "audit" member of a receipt proves its decision's entry offline: the
 * tlog proof with cid_audit_proof_verify and the store's vkeys, the hex path
 * with cid_merkle_verify_inclusion against the root the checkpoint signs.
 */
static void check_audit_proof(struct fixture *f, const json_t *audit, const char *type,
			      const char *record_id)
{
	struct cid_audit_trust *trust = NULL;
	struct cid_audit_proof_result r;
	struct cid_merkle_proof p = {0};
	uint8_t leaf[CID_MERKLE_HASH];
	uint8_t mine[CID_MERKLE_HASH];
	uint8_t root[CID_MERKLE_HASH];
	const char *entry = str(audit, "entry");
	const char *cp = str(audit, "checkpoint");
	char tlog[16384];
	char b64[8192];
	int len;
	const char *line2;
	const char *line3;
	size_t got = 0;
	size_t i;
	const json_t *h;
	json_t *e = json_loads(entry, 0, NULL);
	json_int_t seq = json_integer_value(json_object_get(audit, "seq"));
	json_int_t size = json_integer_value(json_object_get(audit, "size"));
	bool named = false;

	/* the entry is the decision's */
	assert_non_null(e);
	assert_string_equal(str(e, "type"), type);
	assert_int_equal(json_integer_value(json_object_get(e, "seq")), seq);
	json_array_foreach(json_object_get(e, "consent_records"), i, h) named =
	    named || strcmp(json_string_value(h), record_id) == 0;
	assert_true(named);
	json_decref(e);
	/* the existing verifier, on the C2SP tlog-proof the members make */
	assert_int_equal(cid_b64_encode(entry, strlen(entry), b64, sizeof(b64)), CID_OK);
	len = snprintf(tlog, sizeof(tlog), "c2sp.org/tlog-proof@v1\nextra %s\nindex %lld\n", b64,
		       (long long)seq);
	json_array_foreach(json_object_get(audit, "proof"), i, h)
	{
		uint8_t one[CID_MERKLE_HASH];

		unhex(json_string_value(h), one, CID_MERKLE_HASH);
		assert_int_equal(cid_b64_encode(one, CID_MERKLE_HASH, b64, sizeof(b64)), CID_OK);
		len += snprintf(tlog + len, sizeof(tlog) - (size_t)len, "%s\n", b64);
	}
	len += snprintf(tlog + len, sizeof(tlog) - (size_t)len, "\n%s", cp);
	assert_true(len > 0 && (size_t)len < sizeof(tlog));
	assert_int_equal(cid_audit_trust_load(cid_ctx_store(f->ctx), &trust), CID_OK);
	assert_int_equal(cid_audit_proof_verify(tlog, strlen(tlog), trust, &r), CID_OK);
	assert_true(r.ok);
	assert_true(r.inclusion);
	assert_int_equal(r.seq, seq);
	assert_int_equal(r.size, size);
	assert_string_equal(r.type, type);
	cid_audit_trust_free(trust);
	/* the hex members, by RFC 9162 alone */
	assert_int_equal(cid_merkle_leaf_hash(entry, strlen(entry), mine), CID_OK);
	unhex(str(audit, "leaf_hash"), leaf, CID_MERKLE_HASH);
	assert_memory_equal(leaf, mine, CID_MERKLE_HASH);
	json_array_foreach(json_object_get(audit, "proof"), i, h)
	{
		assert_true(i < CID_MERKLE_MAX_PROOF);
		unhex(json_string_value(h), p.hash[i], CID_MERKLE_HASH);
		p.len = i + 1;
	}
	line2 = strchr(cp, '\n');
	assert_non_null(line2);
	assert_int_equal(strtoll(line2 + 1, NULL, 10), size);
	line3 = strchr(line2 + 1, '\n');
	assert_non_null(line3);
	assert_int_equal(
	    cid_b64_decode(line3 + 1, strcspn(line3 + 1, "\n"), root, sizeof(root), &got), CID_OK);
	assert_int_equal(got, CID_MERKLE_HASH);
	assert_int_equal(cid_merkle_verify_inclusion((uint64_t)seq, (uint64_t)size, leaf, &p, root),
			 CID_OK);
	root[0] ^= 1;
	assert_int_equal(cid_merkle_verify_inclusion((uint64_t)seq, (uint64_t)size, leaf, &p, root),
			 CID_ERR_DENIED);
}

/* A receipt carries the seq of its decision's log entry and its proof, signed if need be. */
static void test_receipt_carries_its_log_entry_and_proof(void **state)
{
	struct fixture *f = *state;
	const struct cid_consent_change one[] = {{"given_name", CID_CONSENT_GRANTED, 0}};
	const struct cid_consent_change two[] = {{"email", CID_CONSENT_GRANTED, 0},
						 {"family_name", CID_CONSENT_GRANTED, 0}};
	char *a[1];
	char *b[2];
	char *jws = NULL;
	json_t *c = NULL;
	const json_t *audit;
	char *note = NULL;

	decide(f, f->hanako, f->digest, NOW, one, 1, a);
	decide(f, f->taro, f->digest, NOW + 5, two, 2, b);
	/* no checkpoint covers them yet: making the receipt signs one */
	assert_int_equal(cid_audit_checkpoint_get(cid_ctx_store(f->ctx), 0, &note),
			 CID_ERR_NOTFOUND);
	assert_int_equal(cid_receipt_make(f->ctx, a[0], f->hanako, "en", NOW + 10, &jws, &c),
			 CID_OK);
	audit = json_object_get(c, "audit");
	assert_non_null(audit);
	check_audit_proof(f, audit, "consent.granted", a[0]);
	assert_int_equal(cid_audit_checkpoint_get(cid_ctx_store(f->ctx), 0, &note), CID_OK);
	free(note);
	json_decref(c);
	free(jws);
	/* the other decision: another entry, under the checkpoint now there */
	assert_int_equal(cid_receipt_make(f->ctx, b[1], f->taro, "ja", NOW + 20, &jws, &c), CID_OK);
	check_audit_proof(f, json_object_get(c, "audit"), "consent.granted", b[0]);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(c, "audit"), "seq")),
			 json_integer_value(json_object_get(json_object_get(c, "audit"), "size")) -
			     1);
	/* signed with the rest: the claims verified are the ones with the proof */
	json_t *v = verify(f, jws);
	assert_true(json_equal(v, c));
	json_decref(v);
	json_decref(c);
	free(jws);
	free_ids(a, 1);
	free_ids(b, 2);
}

static void test_refusals_have_no_receipt_withdrawals_have_theirs(void **state)
{
	struct fixture *f = *state;
	const struct cid_consent_change changes[] = {
	    {"given_name", CID_CONSENT_GRANTED, 0},
	    {"email", CID_CONSENT_REFUSED, 0},
	};
	const char *const withdraw[] = {"given_name"};
	struct cid_consent_context cc = {
	    .account_id = f->hanako,
	    .service = "svc",
	    .purpose = "fees",
	    .method = CID_CONSENT_METHOD_CLI_WITHDRAW,
	    .now = NOW + 10,
	};
	char *ids[2];
	char *wid[1];
	char *jws = NULL;
	json_t *w = NULL;
	json_t *v = NULL;
	const json_t *wp;

	decide(f, f->hanako, f->digest, NOW, changes, 2, ids);
	assert_int_equal(cid_consent_withdraw(cid_ctx_store(f->ctx), &cc, withdraw, 1, wid, NULL),
			 CID_OK);
	assert_int_equal(cid_receipt_make(f->ctx, ids[1], f->hanako, "en", NOW, &jws, NULL),
			 CID_ERR_REFUSED);
	assert_null(jws);
	/* a withdrawal has its own receipt, in the same format, saying withdrawn */
	assert_int_equal(cid_receipt_make(f->ctx, wid[0], f->hanako, "en", NOW + 20, &jws, &w),
			 CID_OK);
	v = verify(f, jws);
	assert_true(json_equal(v, w));
	json_decref(v);
	assert_string_equal(str(w, "consent_state"), "withdrawn");
	assert_string_equal(str(w, "consentReceiptID"), wid[0]);
	assert_int_equal(json_integer_value(json_object_get(w, "consentTimestamp")), NOW + 10);
	assert_string_equal(str(w, "collectionMethod"), "cli:withdraw");
	assert_true(json_is_null(json_object_get(w, "expires_at")));
	wp = json_array_get(
	    json_object_get(json_array_get(json_object_get(w, "services"), 0), "purposes"), 0);
	assert_string_equal(
	    json_string_value(json_array_get(json_object_get(wp, "piiCategory"), 0)), "given_name");
	assert_non_null(strstr(str(wp, "termination"), "Withdrawn"));
	check_audit_proof(f, json_object_get(w, "audit"), "consent.withdrawn", wid[0]);
	json_decref(w);
	free(jws);
	jws = NULL;
	/* the operator's form finds it too */
	assert_int_equal(cid_receipt_make(f->ctx, wid[0], NULL, "en", NOW, &jws, NULL), CID_OK);
	free(jws);
	jws = NULL;
	/* the grant, withdrawn since, still has its receipt: it attests what was given */
	assert_int_equal(cid_receipt_make(f->ctx, ids[0], f->hanako, "en", NOW, &jws, &w), CID_OK);
	assert_string_equal(str(w, "consent_state"), "granted");
	json_decref(w);
	free(jws);
	free_ids(ids, 2);
	free_ids(wid, 1);
}

static void test_unknown_foreign_and_malformed_ids_are_refused(void **state)
{
	struct fixture *f = *state;
	const struct cid_consent_change changes[] = {{"email", CID_CONSENT_GRANTED, 0}};
	char *ids[1];
	char *jws = NULL;
	static const char *const malformed[] = {
	    "",
	    "not-a-uuid",
	    "00000000-0000-4000-8000-00000000000",
	    "00000000-0000-4000-8000-0000000000000",
	    "00000000-0000-4000-8000-00000000000G",
	    "00000000-0000-4000-8000-00000000000A", /* upper case: never ours */
	    "../../etc/passwd",
	};

	decide(f, f->hanako, f->digest, NOW, changes, 1, ids);
	assert_int_equal(cid_receipt_make(f->ctx, "00000000-0000-4000-8000-000000000000", f->hanako,
					  "en", NOW, &jws, NULL),
			 CID_ERR_NOTFOUND);
	assert_int_equal(cid_receipt_make(f->ctx, "00000000-0000-4000-8000-000000000000", NULL,
					  "en", NOW, &jws, NULL),
			 CID_ERR_NOTFOUND);
	/* another citizen asking for hanako's record learns nothing more than "not found" */
	assert_int_equal(cid_receipt_make(f->ctx, ids[0], f->taro, "en", NOW, &jws, NULL),
			 CID_ERR_NOTFOUND);
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++)
		assert_int_equal(
		    cid_receipt_make(f->ctx, malformed[i], f->hanako, "en", NOW, &jws, NULL),
		    CID_ERR_INVALID);
	assert_null(jws);
	free_ids(ids, 1);
}

static void test_a_paper_grant_is_one_receipt_of_its_attributes(void **state)
{
	struct fixture *f = *state;
	const struct cid_consent_change changes[] = {
	    {"given_name", CID_CONSENT_GRANTED, 0},
	    {"email", CID_CONSENT_GRANTED, 0},
	};
	/* what `civicid consent grant` records: no request id */
	struct cid_consent_context cc = {
	    .account_id = f->hanako,
	    .service = "svc",
	    .purpose = "fees",
	    .policy_version = f->version,
	    .purpose_digest = f->digest,
	    .method = CID_CONSENT_METHOD_CLI_PAPER,
	    .now = NOW,
	};
	char *ids[2];
	char *jws = NULL;
	json_t *c = NULL;

	assert_int_equal(cid_consent_record(cid_ctx_store(f->ctx), &cc, changes, 2, ids), CID_OK);
	assert_int_equal(cid_receipt_make(f->ctx, ids[1], NULL, "en", NOW, &jws, &c), CID_OK);
	assert_string_equal(str(c, "collectionMethod"), "cli:paper");
	assert_string_equal(str(c, "consentReceiptID"), ids[0]);
	const json_t *svc = json_array_get(json_object_get(c, "services"), 0);
	const json_t *cat =
	    json_object_get(json_array_get(json_object_get(svc, "purposes"), 0), "piiCategory");
	assert_int_equal(json_array_size(cat), 2);
	assert_string_equal(json_string_value(json_array_get(cat, 0)), "email");
	assert_string_equal(json_string_value(json_array_get(cat, 1)), "given_name");
	assert_int_equal(json_array_size(json_object_get(c, "consent_records")), 2);
	json_decref(c);
	free(jws);
	free_ids(ids, 2);
}

static void test_no_receipt_once_the_service_is_unregistered(void **state)
{
	struct fixture *f = *state;
	const struct cid_consent_change changes[] = {{"email", CID_CONSENT_GRANTED, 0}};
	char *ids[1];
	char *jws = NULL;

	decide(f, f->hanako, f->digest, NOW, changes, 1, ids);
	/* the pairwise subject needs the registration (its sector): without it, no receipt */
	assert_int_equal(cid_client_remove(cid_ctx_store(f->ctx), "svc"), CID_OK);
	assert_int_equal(cid_receipt_make(f->ctx, ids[0], f->hanako, "en", NOW, &jws, NULL),
			 CID_ERR_NOTFOUND);
	assert_int_equal(cid_receipt_make(f->ctx, ids[0], NULL, "en", NOW, &jws, NULL),
			 CID_ERR_NOTFOUND);
	assert_null(jws);
	free_ids(ids, 1);
}

static void test_no_receipt_without_a_controller(void **state)
{
	struct fixture *f = *state;
	const struct cid_consent_change changes[] = {{"email", CID_CONSENT_GRANTED, 0}};
	static const char *const keys[] = {"controller_name", "controller_contact",
					   "controller_address", "controller_email", "policy_url"};
	char *ids[1];
	char *jws = NULL;
	char err[128];

	decide(f, f->hanako, f->digest, NOW, changes, 1, ids);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		/* the context borrows the config: a test may change it between calls */
		assert_int_equal(cid_config_set(f->cfg, keys[i], "", err, sizeof(err)), CID_OK);
		assert_int_equal(cid_receipt_make(f->ctx, ids[0], f->hanako, "en", NOW, &jws, NULL),
				 CID_ERR_CONFIG);
		assert_int_equal(
		    cid_config_set(f->cfg, keys[i], "https://x.example/", err, sizeof(err)),
		    CID_OK);
	}
	assert_null(jws);
	/* the phone is optional */
	assert_int_equal(cid_config_set(f->cfg, "controller_phone", "", err, sizeof(err)), CID_OK);
	assert_int_equal(cid_receipt_make(f->ctx, ids[0], f->hanako, "en", NOW, &jws, NULL),
			 CID_OK);
	free(jws);
	free_ids(ids, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		test_receipt_of_a_grant_verifies_and_carries_every_mandatory_field, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(test_receipt_has_an_explicit_typ_and_a_japanese_form,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_other_decisions_are_not_in_the_receipt, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_a_changed_purpose_text_is_flagged, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_refusals_have_no_receipt_withdrawals_have_theirs,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_foreign_and_malformed_ids_are_refused,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_a_paper_grant_is_one_receipt_of_its_attributes,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_receipt_once_the_service_is_unregistered, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_no_receipt_without_a_controller, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_receipt_carries_its_log_entry_and_proof, setup,
					    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
