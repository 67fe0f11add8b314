/*
 * audit_explain and policy_archive: every policy version ever loaded stays
 * readable by its version, and an entry is explained from the store alone
 * with the notice exactly as the version it names worded it, even after the
 * file changed; every mismatch between the archive, the entry and the
 * consent records is named.
 */
#include "audit.h"
#include "audit_explain.h"
#include "audit_release.h"
#include "consent.h"
#include "policy.h"
#include "policy_archive.h"
#include "pseudonym.h"
#include "release.h"
#include "support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define NOW	((int64_t)1800000000)
#define ACCOUNT "0b0e8e8e-1111-4222-8333-444455556666"

/* v1 and v2 differ in the notice's texts only: a changed purpose digest */
static const char policy_v1[] = "service svc\n"
				"name.ja 試験\n"
				"name.en Test\n"
				"purpose fees\n"
				"\ttext.ja 保育料の算定のため（第1版）\n"
				"\ttext.en To calculate fees (version 1)\n"
				"\tbasis consent\n"
				"\tretention 1y\n"
				"\tconsent_valid 1y\n"
				"\tpermit given_name\n"
				"\tpermit family_name\n";

static const char policy_v2[] = "service svc\n"
				"name.ja 試験\n"
				"name.en Test\n"
				"purpose fees\n"
				"\ttext.ja 保育料と給食費の算定のため（第2版）\n"
				"\ttext.en To calculate fees and school meals (version 2)\n"
				"\tbasis consent\n"
				"\tretention 1y\n"
				"\tconsent_valid 1y\n"
				"\tpermit given_name\n"
				"\tpermit family_name\n";

static struct cid_policyset *parse(const char *text)
{
	struct cid_policyset *ps = NULL;

	assert_int_equal(cid_policyset_parse("svc.policy", text, strlen(text), NULL, &ps), CID_OK);
	return ps;
}

static const struct cid_policy *svc(const struct cid_policyset *ps)
{
	const struct cid_policy *pol = cid_policyset_find(ps, "svc");

	assert_non_null(pol);
	return pol;
}

static json_t *archived(struct cid_store *s, const char *version, enum cid_err want)
{
	struct cid_txn *txn = NULL;
	json_t *rec = NULL;

	assert_int_equal(cid_store_read_begin(s, &txn), CID_OK);
	assert_int_equal(cid_policy_archive_get(txn, version, &rec), want);
	cid_store_read_end(txn);
	return rec;
}

/* ---- the archive ---- */

static void test_archive_keeps_every_version(void **state)
{
	struct cid_test_store *t = *state;
	struct cid_policyset *v1 = parse(policy_v1);
	struct cid_policyset *v2 = parse(policy_v2);
	char version1[CID_HASH_HEX + 1];
	char version2[CID_HASH_HEX + 1];
	size_t added = 99;
	json_t *rec;

	snprintf(version1, sizeof(version1), "%s", cid_policy_version(svc(v1)));
	snprintf(version2, sizeof(version2), "%s", cid_policy_version(svc(v2)));
	assert_string_not_equal(version1, version2);
	archived(t->s, version1, CID_ERR_NOTFOUND);
	assert_int_equal(cid_policy_archive_put(t->s, v1, NOW, &added), CID_OK);
	assert_int_equal(added, 1);
	/* idempotent: the same version again writes nothing, its first load stays */
	assert_int_equal(cid_policy_archive_put(t->s, v1, NOW + 50, &added), CID_OK);
	assert_int_equal(added, 0);
	assert_int_equal(cid_policy_archive_put(t->s, v2, NOW + 100, &added), CID_OK);
	assert_int_equal(added, 1);
	/* both versions, each its own text, byte for byte */
	rec = archived(t->s, version1, CID_OK);
	assert_string_equal(cid_json_str(rec, "text"), policy_v1);
	assert_string_equal(cid_json_str(rec, "service"), "svc");
	assert_string_equal(cid_json_str(rec, "file"), "svc.policy");
	assert_string_equal(cid_json_str(rec, "version"), version1);
	assert_int_equal(cid_json_int(rec, "loaded_at"), NOW);
	assert_true(cid_policy_archive_intact(rec));
	json_decref(rec);
	rec = archived(t->s, version2, CID_OK);
	assert_string_equal(cid_json_str(rec, "text"), policy_v2);
	assert_int_equal(cid_json_int(rec, "loaded_at"), NOW + 100);
	assert_true(cid_policy_archive_intact(rec));
	json_decref(rec);
	/* names no version can have, and one never loaded */
	archived(t->s, "abc", CID_ERR_NOTFOUND);
	archived(t->s, "../../etc/passwd", CID_ERR_NOTFOUND);
	archived(t->s, "0000000000000000000000000000000000000000000000000000000000000000",
		 CID_ERR_NOTFOUND);
	assert_int_equal(cid_policy_archive_put(NULL, v1, NOW, NULL), CID_ERR_INVALID);
	assert_int_equal(cid_policy_archive_put(t->s, NULL, NOW, NULL), CID_ERR_INVALID);
	cid_policyset_free(v1);
	cid_policyset_free(v2);
}

/* The server keeps what it loads: at start and at each reload, before it is in force. */
static void test_ctx_archives_at_start_and_reload(void **state)
{
	char dir[256];
	struct cid_config *cfg = cid_test_config(dir);
	struct cid_ctx *ctx = NULL;
	struct cid_policyset *v1 = parse(policy_v1);
	struct cid_policyset *v2 = parse(policy_v2);
	uint64_t counter = 0;
	bool reloaded = false;
	json_t *rec;

	(void)state;
	cid_test_policies(cfg, dir, "svc.policy", policy_v1);
	assert_int_equal(cid_ctx_open(cfg, NOW, NULL, &ctx), CID_OK);
	rec = archived(cid_ctx_store(ctx), cid_policy_version(svc(v1)), CID_OK);
	assert_string_equal(cid_json_str(rec, "text"), policy_v1);
	json_decref(rec);
	archived(cid_ctx_store(ctx), cid_policy_version(svc(v2)), CID_ERR_NOTFOUND);
	cid_test_policies(cfg, dir, "svc.policy", policy_v2);
	assert_int_equal(cid_policies_request_reload(cid_ctx_store(ctx), &counter), CID_OK);
	assert_int_equal(cid_ctx_policies_refresh(ctx, false, NULL, &reloaded), CID_OK);
	assert_true(reloaded);
	rec = archived(cid_ctx_store(ctx), cid_policy_version(svc(v2)), CID_OK);
	assert_string_equal(cid_json_str(rec, "text"), policy_v2);
	json_decref(rec);
	/* the old text is still there, though no file holds it any more */
	rec = archived(cid_ctx_store(ctx), cid_policy_version(svc(v1)), CID_OK);
	assert_string_equal(cid_json_str(rec, "text"), policy_v1);
	json_decref(rec);
	cid_policyset_free(v1);
	cid_policyset_free(v2);
	cid_test_ctx_close(ctx, cfg, dir);
}

/* ---- explain ---- */

struct world {
	char dir[256];
	struct cid_store *s;
	struct cid_audit *log;
	struct cid_policyset *v1, *v2;
	char *record_id; /* the consent behind the release */
};

static int world_setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));

	assert_non_null(w);
	w->s = cid_test_store_open(w->dir);
	assert_int_equal(cid_audit_open(w->s, false, &w->log), CID_OK);
	w->v1 = parse(policy_v1);
	w->v2 = parse(policy_v2);
	*state = w;
	return 0;
}

static int world_teardown(void **state)
{
	struct world *w = *state;

	free(w->record_id);
	cid_policyset_free(w->v1);
	cid_policyset_free(w->v2);
	cid_audit_close(w->log);
	cid_test_store_close(w->s, w->dir);
	free(w);
	return 0;
}

/* The citizen grants given_name under ps's notice (as the consent screen would). */
static char *grant(struct world *w, const struct cid_policyset *ps, int64_t at)
{
	struct cid_purpose_info pu;
	struct cid_consent_context ctx = {
	    .account_id = ACCOUNT,
	    .service = "svc",
	    .purpose = "fees",
	    .method = CID_CONSENT_METHOD_SCREEN,
	    .policy_version = cid_policy_version(svc(ps)),
	    .now = at,
	};
	struct cid_consent_change change = {"given_name", CID_CONSENT_GRANTED,
					    at + (int64_t)86400 * 365};
	char *id = NULL;

	assert_true(cid_policy_purpose_find(svc(ps), "fees", &pu));
	ctx.purpose_digest = pu.digest;
	assert_int_equal(cid_consent_record(w->s, &ctx, &change, 1, &id), CID_OK);
	return id;
}

/* A release of given_name under ps, with consent record id, through the audit hook. */
static uint64_t release(struct world *w, const struct cid_policyset *ps, const char *id,
			const char *digest)
{
	static const char *const amr[] = {"pwd", "otp"};
	struct cid_purpose_info pu;
	struct cid_release_decision d = {
	    .attribute = "given_name",
	    .purpose = "fees",
	    .decision = {.permit = true,
			 .reason = CID_REASON_PERMIT_CONSENT,
			 .rule = "svc.policy:10",
			 .basis = CID_BASIS_CONSENT,
			 .consent_id = id,
			 .policy_version = cid_policy_version(svc(ps))},
	};
	struct cid_release_event ev = {
	    .service = "svc",
	    .account_id = ACCOUNT,
	    .target = CID_RELEASE_USERINFO,
	    .level = CID_LEVEL_MFA,
	    .acr = "urn:civicid:acr:mfa",
	    .amr = amr,
	    .n_amr = 2,
	    .auth_time = NOW - 60,
	    .now = NOW + 10,
	    .request_id = "rel-1",
	    .grant_id = "grant-1",
	    .decisions = &d,
	    .n_decisions = 1,
	};
	struct cid_audit_range range = {0};

	assert_true(cid_policy_purpose_find(svc(ps), "fees", &pu));
	d.purpose_digest = digest != NULL ? digest : pu.digest;
	assert_int_equal(cid_audit_release_hook(w->log, &ev, &range), CID_OK);
	assert_int_equal(range.count, 1);
	return range.first;
}

static json_t *explain(struct world *w, uint64_t seq)
{
	json_t *x = NULL;

	assert_int_equal(cid_audit_explain(w->s, seq, &x), CID_OK);
	return x;
}

/*
 * Explains the one entry of a release of given_name and family_name
 * permitted alike by rules svc.policy:10 and second (two lines of one
 * purpose's policy): new reference.
 */
static json_t *explain_two_lines(struct world *w, const char *second)
{
	struct cid_purpose_info pu;
	struct cid_decision permit = {.permit = true,
				      .reason = CID_REASON_PERMIT_CONSENT,
				      .basis = CID_BASIS_CONSENT,
				      .policy_version = cid_policy_version(svc(w->v1))};
	struct cid_release_decision d[2] = {
	    {"given_name", "fees", permit, NULL, NULL},
	    {"family_name", "fees", permit, NULL, NULL},
	};
	struct cid_release_event ev = {
	    .service = "svc",
	    .account_id = ACCOUNT,
	    .target = CID_RELEASE_USERINFO,
	    .level = CID_LEVEL_PASSWORD,
	    .now = NOW + 10,
	    .request_id = "rel-2",
	    .grant_id = "grant-2",
	    .decisions = d,
	    .n_decisions = 2,
	};
	struct cid_audit_range range = {0};

	assert_true(cid_policy_purpose_find(svc(w->v1), "fees", &pu));
	d[0].purpose_digest = d[1].purpose_digest = pu.digest;
	d[0].decision.rule = "svc.policy:10";
	d[1].decision.rule = second;
	assert_int_equal(cid_policy_archive_put(w->s, w->v1, NOW, NULL), CID_OK);
	assert_int_equal(cid_audit_release_hook(w->log, &ev, &range), CID_OK);
	assert_int_equal(range.count, 1);
	return explain(w, range.first);
}

/*
 * Two attributes permitted alike by two lines of the policy are one entry,
 * whose rule names both lines; explain shows the text of each.
 */
static void test_explain_shows_every_line_of_its_rule(void **state)
{
	json_t *x = explain_two_lines(*state, "svc.policy:11");

	assert_string_equal(cid_json_str(json_object_get(x, "entry"), "rule"), "svc.policy:10,11");
	assert_string_equal(cid_json_str(json_object_get(x, "policy"), "rule_line"),
			    "\tpermit given_name\n\tpermit family_name");
	json_decref(x);
}

/* A rule naming a line the archived text lacks shows no rule text. */
static void test_explain_rule_past_the_text_shows_no_line(void **state)
{
	json_t *x = explain_two_lines(*state, "svc.policy:99");

	assert_string_equal(cid_json_str(json_object_get(x, "entry"), "rule"), "svc.policy:10,99");
	assert_non_null(json_object_get(x, "policy"));
	assert_null(json_object_get(json_object_get(x, "policy"), "rule_line"));
	json_decref(x);
}

static const char *notice_text(const json_t *x, const char *lang)
{
	return cid_json_str(json_object_get(x, "notice"), lang);
}

/*
 * The case: a release under text v1, the policy reloaded with text
 * v2; the old release is explained with v1's notice, checked, and with all
 * the rest: rule line, consent and its history, authentication.
 */
static void test_explain_shows_the_text_of_its_version(void **state)
{
	struct world *w = *state;
	uint64_t seq;
	json_t *x;
	const json_t *c;
	const json_t *a;

	assert_int_equal(cid_policy_archive_put(w->s, w->v1, NOW, NULL), CID_OK);
	w->record_id = grant(w, w->v1, NOW);
	seq = release(w, w->v1, w->record_id, NULL);
	/* reloaded with v2 */
	assert_int_equal(cid_policy_archive_put(w->s, w->v2, NOW + 100, NULL), CID_OK);
	x = explain(w, seq);
	assert_int_equal(json_integer_value(json_object_get(x, "seq")), (json_int_t)seq);
	assert_string_equal(cid_json_str(json_object_get(x, "entry"), "type"), "release.permit");
	/* the account its pseudonym names: the caller records the look */
	assert_true(cid_pseudonym_syntax_ok(cid_json_str(json_object_get(x, "entry"), "citizen")));
	assert_string_equal(cid_json_str(x, "account"), ACCOUNT);
	assert_string_equal(notice_text(x, "text_ja"), "保育料の算定のため（第1版）");
	assert_string_equal(notice_text(x, "text_en"), "To calculate fees (version 1)");
	assert_true(json_is_true(json_object_get(json_object_get(x, "notice"), "matches")));
	assert_string_equal(notice_text(x, "basis"), "consent");
	assert_string_equal(cid_json_str(json_object_get(x, "policy"), "version"),
			    cid_policy_version(svc(w->v1)));
	assert_true(json_is_true(json_object_get(json_object_get(x, "policy"), "intact")));
	assert_string_equal(cid_json_str(json_object_get(x, "policy"), "rule_line"),
			    "\tpermit given_name");
	/* how the citizen authenticated */
	a = json_object_get(x, "authentication");
	assert_string_equal(cid_json_str(a, "acr"), "urn:civicid:acr:mfa");
	assert_int_equal(json_array_size(json_object_get(a, "amr")), 2);
	assert_string_equal(json_string_value(json_array_get(json_object_get(a, "amr"), 1)), "otp");
	assert_string_equal(cid_json_str(a, "auth_time"), "2027-01-15T07:59:00Z");
	assert_int_equal(json_integer_value(json_object_get(a, "level")), CID_LEVEL_MFA);
	/* the consent behind it, given under this notice, with its history */
	assert_int_equal(json_array_size(json_object_get(x, "consents")), 1);
	c = json_array_get(json_object_get(x, "consents"), 0);
	assert_string_equal(cid_json_str(json_object_get(c, "record"), "id"), w->record_id);
	assert_true(json_is_true(json_object_get(c, "same_notice")));
	assert_int_equal(json_array_size(json_object_get(c, "history")), 1);
	assert_int_equal(json_array_size(json_object_get(x, "problems")), 0);
	assert_int_equal(json_array_size(json_object_get(x, "gaps")), 0);
	json_decref(x);
	/* the citizen withdraws: the history grows, the old release's consent stays the same */
	{
		struct cid_consent_context ctx = {.account_id = ACCOUNT,
						  .service = "svc",
						  .purpose = "fees",
						  .method = CID_CONSENT_METHOD_ACCOUNT,
						  .now = NOW + 200};
		const char *attrs[] = {"given_name"};

		assert_int_equal(cid_consent_withdraw(w->s, &ctx, attrs, 1, NULL, NULL), CID_OK);
	}
	x = explain(w, seq);
	c = json_array_get(json_object_get(x, "consents"), 0);
	assert_int_equal(json_array_size(json_object_get(c, "history")), 2);
	assert_string_equal(cid_json_str(json_array_get(json_object_get(c, "history"), 1), "state"),
			    "withdrawn");
	assert_int_equal(json_array_size(json_object_get(x, "problems")), 0);
	json_decref(x);
}

/* An entry recording another digest than its version's text gives: named, loudly. */
static void test_explain_names_a_digest_mismatch(void **state)
{
	struct world *w = *state;
	struct cid_purpose_info pu2;
	uint64_t seq;
	json_t *x;

	assert_int_equal(cid_policy_archive_put(w->s, w->v1, NOW, NULL), CID_OK);
	w->record_id = grant(w, w->v1, NOW);
	/* the entry says v1's version but v2's digest */
	assert_true(cid_policy_purpose_find(svc(w->v2), "fees", &pu2));
	seq = release(w, w->v1, w->record_id, pu2.digest);
	x = explain(w, seq);
	assert_false(json_is_true(json_object_get(json_object_get(x, "notice"), "matches")));
	assert_int_equal(json_array_size(json_object_get(x, "problems")), 1);
	assert_non_null(strstr(json_string_value(json_array_get(json_object_get(x, "problems"), 0)),
			       "MISMATCH"));
	json_decref(x);
}

/* A consent given under another notice behind a permit is named. */
static void test_explain_names_a_consent_under_another_notice(void **state)
{
	struct world *w = *state;
	uint64_t seq;
	json_t *x;
	const json_t *c;

	assert_int_equal(cid_policy_archive_put(w->s, w->v1, NOW, NULL), CID_OK);
	assert_int_equal(cid_policy_archive_put(w->s, w->v2, NOW, NULL), CID_OK);
	w->record_id = grant(w, w->v2, NOW); /* consent to v2's text */
	seq = release(w, w->v1, w->record_id, NULL);
	x = explain(w, seq);
	c = json_array_get(json_object_get(x, "consents"), 0);
	assert_false(json_is_true(json_object_get(c, "same_notice")));
	assert_int_equal(json_array_size(json_object_get(x, "problems")), 1);
	assert_non_null(strstr(json_string_value(json_array_get(json_object_get(x, "problems"), 0)),
			       w->record_id));
	json_decref(x);
}

static enum cid_err put_raw(struct cid_txn *txn, void *arg)
{
	const char *const *kv = arg;

	return cid_txn_put(txn, CID_DB_POLICIES, cid_str_of(kv[0]), cid_str_of(kv[1]), 0);
}

/* An archived text changed behind the archive's back no longer hashes to its version. */
static void test_explain_names_a_changed_archive(void **state)
{
	struct world *w = *state;
	uint64_t seq;
	json_t *x;
	json_t *forged;
	char *bytes;
	const char *kv[2];

	w->record_id = grant(w, w->v1, NOW);
	seq = release(w, w->v1, w->record_id, NULL);
	/* not archived: a gap, not a problem */
	x = explain(w, seq);
	assert_false(json_is_true(json_object_get(json_object_get(x, "policy"), "archived")));
	assert_null(json_object_get(x, "notice"));
	assert_int_equal(json_array_size(json_object_get(x, "gaps")), 1);
	assert_int_equal(json_array_size(json_object_get(x, "problems")), 0);
	json_decref(x);
	/* v2's text filed under v1's version */
	forged = json_pack("{s:s, s:s, s:s, s:I}", "service", "svc", "file", "svc.policy", "text",
			   policy_v2, "loaded_at", (json_int_t)NOW);
	bytes = json_dumps(forged, JSON_COMPACT | JSON_SORT_KEYS);
	kv[0] = cid_policy_version(svc(w->v1));
	kv[1] = bytes;
	assert_int_equal(cid_store_update(w->s, put_raw, (void *)kv), CID_OK);
	x = explain(w, seq);
	assert_false(json_is_true(json_object_get(json_object_get(x, "policy"), "intact")));
	assert_null(json_object_get(x, "notice")); /* a changed text is never shown as the notice */
	assert_int_equal(json_array_size(json_object_get(x, "problems")), 1);
	assert_non_null(strstr(json_string_value(json_array_get(json_object_get(x, "problems"), 0)),
			       "MISMATCH"));
	json_decref(x);
	free(bytes);
	json_decref(forged);
	/* the right text, but a record short of its file name: damaged, said so */
	forged = json_pack("{s:s, s:s, s:I}", "service", "svc", "text", policy_v1, "loaded_at",
			   (json_int_t)NOW);
	bytes = json_dumps(forged, JSON_COMPACT | JSON_SORT_KEYS);
	kv[1] = bytes;
	assert_int_equal(cid_store_update(w->s, put_raw, (void *)kv), CID_OK);
	x = explain(w, seq);
	assert_true(json_is_true(json_object_get(json_object_get(x, "policy"), "intact")));
	assert_int_equal(json_array_size(json_object_get(x, "problems")), 1);
	assert_non_null(strstr(json_string_value(json_array_get(json_object_get(x, "problems"), 0)),
			       "names no file"));
	json_decref(x);
	free(bytes);
	json_decref(forged);
}

static void test_explain_errors(void **state)
{
	struct world *w = *state;
	json_t *x = NULL;

	assert_int_equal(cid_audit_explain(w->s, 0, &x), CID_ERR_NOTFOUND);
	assert_int_equal(cid_audit_explain(NULL, 0, &x), CID_ERR_INVALID);
	assert_int_equal(cid_audit_explain(w->s, 0, NULL), CID_ERR_INVALID);
	assert_null(x);
}

/* ---- the officer's acts ---- */

static void test_officer_entries(void **state)
{
	struct world *w = *state;
	const struct cid_audit_filter f = {.citizen = ACCOUNT, .type = "release.", .after_seq = 7};
	struct cid_audit_officer_act searched = {.act = CID_AUDIT_OFFICER_SEARCHED,
						 .officer = "alice",
						 .citizen = ACCOUNT,
						 .filter = &f,
						 .rows = 3,
						 .now = NOW};
	struct cid_audit_officer_act viewed = {
	    .act = CID_AUDIT_OFFICER_VIEWED, .officer = "alice", .seq = 0, .now = NOW};
	struct cid_txn *txn = NULL;
	struct cid_audit_report rep = {0};
	const struct cid_audit_verify_opts opts = {0};
	uint64_t seq = 99;
	json_t *e = NULL;
	json_t *slice = NULL;
	json_t *scope = NULL;

	assert_int_equal(cid_audit_officer_record(w->log, &searched, &seq), CID_OK);
	assert_int_equal(seq, 0);
	assert_int_equal(cid_audit_officer_record(w->log, &viewed, &seq), CID_OK);
	assert_int_equal(seq, 1);
	assert_int_equal(cid_store_read_begin(w->s, &txn), CID_OK);
	assert_int_equal(cid_audit_get(txn, 0, &e), CID_OK);
	assert_string_equal(cid_json_str(e, "type"), "officer.searched");
	assert_string_equal(cid_json_str(e, "actor"), "officer:alice");
	assert_string_equal(cid_json_str(e, "endpoint"), "officer-console");
	assert_int_equal(cid_pseudonym_resolve(txn, cid_json_str(e, "citizen"), &scope), CID_OK);
	assert_string_equal(cid_json_str(scope, "citizen"), ACCOUNT); /* its pseudonym */
	json_decref(scope);
	assert_string_equal(cid_json_str(json_object_get(e, "ext"), "rows"), "3");
	assert_string_equal(cid_json_str(json_object_get(e, "ext"), "type"), "release.");
	assert_string_equal(cid_json_str(json_object_get(e, "ext"), "before"), "7");
	json_decref(e);
	assert_int_equal(cid_audit_get(txn, 1, &e), CID_OK);
	assert_string_equal(cid_json_str(e, "type"), "officer.viewed");
	assert_string_equal(cid_json_str(json_object_get(e, "ext"), "seq"), "0");
	assert_null(json_object_get(e, "citizen"));
	json_decref(e);
	/* never in the citizen's own slice */
	assert_int_equal(cid_audit_citizen(txn, ACCOUNT, 0, 10, &slice), CID_OK);
	assert_int_equal(json_array_size(slice), 0);
	json_decref(slice);
	cid_store_read_end(txn);
	/* explained: the search names the citizen's account, the view no one */
	e = explain(w, 0);
	assert_string_equal(cid_json_str(e, "account"), ACCOUNT);
	json_decref(e);
	e = explain(w, 1);
	assert_null(json_object_get(e, "account"));
	json_decref(e);
	/* ordinary entries: the chain and the tree verify */
	assert_int_equal(cid_audit_verify_store(w->s, NULL, &opts, &rep), CID_OK);
	assert_true(rep.ok);
	assert_int_equal(rep.entries, 2);
	/* refused */
	viewed.officer = "";
	assert_int_equal(cid_audit_officer_record(w->log, &viewed, NULL), CID_ERR_INVALID);
	viewed.officer = NULL;
	assert_int_equal(cid_audit_officer_entry(&viewed, &e), CID_ERR_INVALID);
	viewed.officer = "alice";
	viewed.act = (enum cid_audit_officer_kind)7;
	assert_int_equal(cid_audit_officer_entry(&viewed, &e), CID_ERR_INVALID);
	assert_int_equal(cid_audit_officer_record(NULL, &searched, NULL), CID_ERR_INVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_archive_keeps_every_version, cid_test_store_setup,
					    cid_test_store_teardown),
	    cmocka_unit_test(test_ctx_archives_at_start_and_reload),
	    cmocka_unit_test_setup_teardown(test_explain_shows_the_text_of_its_version, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_explain_shows_every_line_of_its_rule, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_explain_rule_past_the_text_shows_no_line,
					    world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_explain_names_a_digest_mismatch, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_explain_names_a_consent_under_another_notice,
					    world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_explain_names_a_changed_archive, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_explain_errors, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_officer_entries, world_setup, world_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
