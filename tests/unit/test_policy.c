/*
 * policy: the release-policy parser and evaluator. Table-driven: one row per
 * decision (service, purpose, attribute, the citizen's consent facts, the
 * session's level) with the whole expected decision, and one row per parser
 * error with the exact "file:line:" it must be reported at.
 */
#include "crypto.h"
#include "policy.h"
#include "support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#ifndef CID_DEMO_POLICIES
#error "CID_DEMO_POLICIES (the source tree's policies/) comes from tests/CMakeLists.txt"
#endif

#define NOW ((int64_t)1770000000)

/* Line numbers matter: rules are named "childcare.policy:LINE". */
#define CHILDCARE_HEAD                                                                             \
	"service childcare\n"				     /* 1 */                               \
	"name.ja 子育て支援\n"				     /* 2 */                               \
	"name.en Childcare support\n"			     /* 3 */                               \
	"subject pairwise\n"				     /* 4 */                               \
	"purpose fee-calculation\n"			     /* 5 */
#define CHILDCARE_TEXT_JA "\ttext.ja 保育料を算定するため\n" /* 6 */
#define CHILDCARE_REST                                                                             \
	"\ttext.en To calculate childcare fees\n"		   /* 7 */                         \
	"\tbasis consent\n"					   /* 8 */                         \
	"\tretention 5y\n"					   /* 9 */                         \
	"\tconsent_valid 1y\n"					   /* 10 */                        \
	"\tpermit household_size\n"				   /* 11 */                        \
	"\tpermit resident_district\n"				   /* 12 */                        \
	"\tpermit birthdate level=2\n"				   /* 13 */                        \
	"\tpermit family_name\n"				   /* 14 */                        \
	"\tpermit given_name\n"					   /* 15 */                        \
	"\tdeny email\n"					   /* 16 */                        \
	"\tpermit phone_number\n"				   /* 17 */                        \
	"\tdeny phone_number\t# deny wins over the permit above\n" /* 18 */                        \
	"\tdeny address\n"					   /* 19 */                        \
	"\tpermit address level=2\n"				   /* 20 */                        \
	"purpose eligibility\n"					   /* 21 */                        \
	"\ttext.ja 教育・保育給付認定のため\n"			   /* 22 */                        \
	"\ttext.en For eligibility certification\n"		   /* 23 */                        \
	"\tbasis statute 子ども・子育て支援法 第20条\n"		   /* 24 */                        \
	"\tretention 5y\n"					   /* 25 */                        \
	"\tpermit resident_district\n"				   /* 26 */                        \
	"\tpermit birthdate level=2\n"				   /* 27 */                        \
	"\tdeny email\n"					   /* 28 */

static const char childcare[] = CHILDCARE_HEAD CHILDCARE_TEXT_JA CHILDCARE_REST;

/* The same policy with the purpose text changed: what is asked changed. */
static const char childcare_new_text[] =
    CHILDCARE_HEAD "\ttext.ja 保育料を世帯の状況に応じて算定するため\n" CHILDCARE_REST;

/* The same policy with a comment added: a new version, but nothing asked changed. */
static const char childcare_new_comment[] =
    CHILDCARE_HEAD CHILDCARE_TEXT_JA CHILDCARE_REST "# reviewed 2026-04-01: no change\n";

static const char library[] = "service library\n"		       /* 1 */
			      "name.ja 市立図書館\n"		       /* 2 */
			      "name.en City library\n"		       /* 3 */
			      "subject public\n"		       /* 4 */
			      "purpose card\n"			       /* 5 */
			      "  text.ja 利用カードを発行するため\n"   /* 6 */
			      "  text.en To issue your library card\n" /* 7 */
			      "  basis consent\n"		       /* 8 */
			      "  retention 1y\n"		       /* 9 */
			      "  consent_valid 3y\n"		       /* 10 */
			      "  permit given_name\n"		       /* 11 */
			      "  permit email\n";		       /* 12 */

enum which { PS_CHILDCARE, PS_LIBRARY, PS_NEW_TEXT, PS_NEW_COMMENT, PS_BOTH, N_SETS };

struct fixture {
	struct cid_policyset *sets[N_SETS];
	char dir[256];
};

static void write_file(const char *dir, const char *name, const char *text, size_t len)
{
	char path[512];
	FILE *f;

	assert_true((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) < sizeof(path));
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static struct cid_policyset *parse_ok(const char *name, const char *text)
{
	struct cid_policyset *ps = NULL;

	assert_int_equal(cid_policyset_parse(name, text, strlen(text), stderr, &ps), CID_OK);
	assert_non_null(ps);
	return ps;
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	fx->sets[PS_CHILDCARE] = parse_ok("childcare.policy", childcare);
	fx->sets[PS_LIBRARY] = parse_ok("library.policy", library);
	fx->sets[PS_NEW_TEXT] = parse_ok("childcare.policy", childcare_new_text);
	fx->sets[PS_NEW_COMMENT] = parse_ok("childcare.policy", childcare_new_comment);
	cid_test_tmpdir(fx->dir);
	write_file(fx->dir, "childcare.policy", childcare, strlen(childcare));
	write_file(fx->dir, "library.policy", library, strlen(library));
	assert_int_equal(cid_policyset_load_dir(fx->dir, stderr, &fx->sets[PS_BOTH]), CID_OK);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	for (size_t i = 0; i < N_SETS; i++)
		cid_policyset_free(fx->sets[i]);
	cid_test_rmdir(fx->dir);
	free(fx);
	return 0;
}

/* The digest of a purpose as cid_policy_describe reports it, or "". */
static void digest_of(const struct cid_policyset *ps, const char *service, const char *purpose,
		      char out[CID_HASH_HEX + 1])
{
	json_t *d = NULL, *p;
	size_t i;

	out[0] = '\0';
	if (service == NULL || purpose == NULL || cid_policy_describe(ps, service, &d) != CID_OK)
		return;
	json_array_foreach(json_object_get(d, "purposes"), i, p)
	{
		if (strcmp(json_string_value(json_object_get(p, "id")), purpose) == 0) {
			const char *dg = json_string_value(json_object_get(p, "digest"));
			assert_int_equal(strlen(dg), CID_HASH_HEX);
			memcpy(out, dg, CID_HASH_HEX + 1);
		}
	}
	json_decref(d);
}

/* ---- the evaluator ---- */

enum digest_kind {
	DIGEST_CURRENT, /* the purpose's digest in the set evaluated */
	DIGEST_OLD,	/* the purpose's digest in the first childcare policy */
	DIGEST_NONE,	/* no digest recorded */
	DIGEST_BOGUS,	/* a digest of nothing this policy ever asked */
};

struct fact_spec {
	const char *attribute; /* NULL ends the list */
	enum cid_consent_state state;
	int64_t expires_at;
	enum digest_kind digest;
	const char *record_id;
};

struct eval_case {
	const char *name;
	enum which set;
	const char *service, *purpose, *attribute;
	struct fact_spec facts[3];
	int level;
	bool permit;
	enum cid_reason reason;
	const char *rule;	/* expected rule, or NULL */
	const char *consent_id; /* expected, or NULL */
	int min_level;
	enum cid_basis basis;
	const char *statute; /* expected citation, or NULL */
	bool no_version;     /* policy_version must be NULL (no policy for the service) */
};

#define FEE	.service = "childcare", .purpose = "fee-calculation"
#define ELIG	.service = "childcare", .purpose = "eligibility"
#define CARD	.service = "library", .purpose = "card"
#define STATUTE .basis = CID_BASIS_STATUTE, .statute = "子ども・子育て支援法 第20条"
#define GRANTED(attr, id)                                                                          \
	{                                                                                          \
		attr, CID_CONSENT_GRANTED, 0, DIGEST_CURRENT, id                                   \
	}
#define GRANTED_UNTIL(attr, t, id)                                                                 \
	{                                                                                          \
		attr, CID_CONSENT_GRANTED, t, DIGEST_CURRENT, id                                   \
	}
#define STATE(attr, st, id)                                                                        \
	{                                                                                          \
		attr, st, 0, DIGEST_CURRENT, id                                                    \
	}
#define WITH_DIGEST(attr, dg, id)                                                                  \
	{                                                                                          \
		attr, CID_CONSENT_GRANTED, 0, dg, id                                               \
	}
#define PERMIT_CONSENT .permit = true, .reason = CID_REASON_PERMIT_CONSENT

static const struct eval_case eval_cases[] = {
    /* consent basis */
    {"granted consent permits",
     PS_CHILDCARE,
     FEE,
     "household_size",
     {GRANTED("household_size", "c1")},
     1,
     PERMIT_CONSENT,
     .rule = "childcare.policy:11",
     .consent_id = "c1",
     .min_level = 1},
    {"no decision yet: ask",
     PS_CHILDCARE,
     FEE,
     "household_size",
     {{0}},
     1,
     .reason = CID_REASON_NO_CONSENT,
     .rule = "childcare.policy:11",
     .min_level = 1},
    {"refused consent denies",
     PS_CHILDCARE,
     FEE,
     "household_size",
     {STATE("household_size", CID_CONSENT_REFUSED, "c2")},
     1,
     .reason = CID_REASON_REFUSED,
     .rule = "childcare.policy:11",
     .consent_id = "c2",
     .min_level = 1},
    {"withdrawn consent denies",
     PS_CHILDCARE,
     FEE,
     "resident_district",
     {STATE("resident_district", CID_CONSENT_WITHDRAWN, "c3")},
     1,
     .reason = CID_REASON_WITHDRAWN,
     .rule = "childcare.policy:12",
     .consent_id = "c3",
     .min_level = 1},
    {"expired record denies",
     PS_CHILDCARE,
     FEE,
     "resident_district",
     {STATE("resident_district", CID_CONSENT_EXPIRED, "c4")},
     1,
     .reason = CID_REASON_EXPIRED,
     .rule = "childcare.policy:12",
     .consent_id = "c4",
     .min_level = 1},
    {"grant past its expiry is expired",
     PS_CHILDCARE,
     FEE,
     "given_name",
     {GRANTED_UNTIL("given_name", NOW - 1, "c5")},
     1,
     .reason = CID_REASON_EXPIRED,
     .rule = "childcare.policy:15",
     .consent_id = "c5",
     .min_level = 1},
    {"grant expiring right now is expired",
     PS_CHILDCARE,
     FEE,
     "given_name",
     {GRANTED_UNTIL("given_name", NOW, "c6")},
     1,
     .reason = CID_REASON_EXPIRED,
     .rule = "childcare.policy:15",
     .consent_id = "c6",
     .min_level = 1},
    {"grant before its expiry permits",
     PS_CHILDCARE,
     FEE,
     "given_name",
     {GRANTED_UNTIL("given_name", NOW + 1, "c7")},
     1,
     PERMIT_CONSENT,
     .rule = "childcare.policy:15",
     .consent_id = "c7",
     .min_level = 1},
    {"grant for another text: ask again",
     PS_CHILDCARE,
     FEE,
     "household_size",
     {WITH_DIGEST("household_size", DIGEST_BOGUS, "c8")},
     1,
     .reason = CID_REASON_POLICY_CHANGED,
     .rule = "childcare.policy:11",
     .consent_id = "c8",
     .min_level = 1},
    {"grant without a digest: ask again",
     PS_CHILDCARE,
     FEE,
     "household_size",
     {WITH_DIGEST("household_size", DIGEST_NONE, "c9")},
     1,
     .reason = CID_REASON_POLICY_CHANGED,
     .rule = "childcare.policy:11",
     .consent_id = "c9",
     .min_level = 1},
    /* deny wins, default deny */
    {"explicit deny despite a grant",
     PS_CHILDCARE,
     FEE,
     "email",
     {GRANTED("email", "c10")},
     2,
     .reason = CID_REASON_EXPLICIT_DENY,
     .rule = "childcare.policy:16"},
    {"deny wins over a permit above it",
     PS_CHILDCARE,
     FEE,
     "phone_number",
     {GRANTED("phone_number", "c11")},
     2,
     .reason = CID_REASON_EXPLICIT_DENY,
     .rule = "childcare.policy:18"},
    {"deny wins over a permit below it",
     PS_CHILDCARE,
     FEE,
     "address",
     {GRANTED("address", "c12")},
     2,
     .reason = CID_REASON_EXPLICIT_DENY,
     .rule = "childcare.policy:19"},
    {"default deny: not in the purpose",
     PS_CHILDCARE,
     FEE,
     "locale",
     {GRANTED("locale", "c13")},
     2,
     .reason = CID_REASON_NOT_IN_POLICY},
    {"unknown attribute is not in policy",
     PS_CHILDCARE,
     FEE,
     "shoe_size",
     {GRANTED("shoe_size", "c14")},
     2,
     .reason = CID_REASON_NOT_IN_POLICY},
    {"empty attribute is not in policy",
     PS_CHILDCARE,
     FEE,
     "",
     {{0}},
     2,
     .reason = CID_REASON_NOT_IN_POLICY},
    {"NULL attribute is not in policy",
     PS_CHILDCARE,
     FEE,
     NULL,
     {{0}},
     2,
     .reason = CID_REASON_NOT_IN_POLICY},
    /* authentication levels */
    {"level 2 attribute at level 1: step up",
     PS_CHILDCARE,
     FEE,
     "birthdate",
     {GRANTED("birthdate", "c15")},
     1,
     .reason = CID_REASON_LEVEL_TOO_LOW,
     .rule = "childcare.policy:13",
     .min_level = 2},
    {"level 2 attribute at level 2 permits",
     PS_CHILDCARE,
     FEE,
     "birthdate",
     {GRANTED("birthdate", "c16")},
     2,
     PERMIT_CONSENT,
     .rule = "childcare.policy:13",
     .consent_id = "c16",
     .min_level = 2},
    {"step up comes before asking for consent",
     PS_CHILDCARE,
     FEE,
     "birthdate",
     {{0}},
     1,
     .reason = CID_REASON_LEVEL_TOO_LOW,
     .rule = "childcare.policy:13",
     .min_level = 2},
    {"no authentication is below level 1",
     PS_CHILDCARE,
     FEE,
     "household_size",
     {GRANTED("household_size", "c17")},
     0,
     .reason = CID_REASON_LEVEL_TOO_LOW,
     .rule = "childcare.policy:11",
     .min_level = 1},
    {"level 2 session satisfies level 1",
     PS_CHILDCARE,
     FEE,
     "household_size",
     {GRANTED("household_size", "c18")},
     2,
     PERMIT_CONSENT,
     .rule = "childcare.policy:11",
     .consent_id = "c18",
     .min_level = 1},
    /* language tags and the choice of fact */
    {"tagged attribute covered by its base permit",
     PS_CHILDCARE,
     FEE,
     "family_name#ja-Kana-JP",
     {GRANTED("family_name", "c19")},
     1,
     PERMIT_CONSENT,
     .rule = "childcare.policy:14",
     .consent_id = "c19",
     .min_level = 1},
    {"exact fact preferred to the base fact",
     PS_CHILDCARE,
     FEE,
     "family_name#ja-Kana-JP",
     {STATE("family_name", CID_CONSENT_REFUSED, "c20"), GRANTED("family_name#ja-Kana-JP", "c21")},
     1,
     PERMIT_CONSENT,
     .rule = "childcare.policy:14",
     .consent_id = "c21",
     .min_level = 1},
    {"base refusal covers the tagged form",
     PS_CHILDCARE,
     FEE,
     "family_name#en",
     {STATE("family_name", CID_CONSENT_REFUSED, "c22")},
     1,
     .reason = CID_REASON_REFUSED,
     .rule = "childcare.policy:14",
     .consent_id = "c22",
     .min_level = 1},
    {"malformed language tag is not in policy",
     PS_CHILDCARE,
     FEE,
     "family_name#!!",
     {GRANTED("family_name", "c23")},
     1,
     .reason = CID_REASON_NOT_IN_POLICY},
    {"tag on an untagged claim is not in policy",
     PS_CHILDCARE,
     FEE,
     "household_size#en",
     {GRANTED("household_size", "c24")},
     1,
     .reason = CID_REASON_NOT_IN_POLICY},
    {"facts of other attributes are ignored",
     PS_CHILDCARE,
     FEE,
     "household_size",
     {GRANTED("resident_district", "c25"), GRANTED("email", "c26")},
     1,
     .reason = CID_REASON_NO_CONSENT,
     .rule = "childcare.policy:11",
     .min_level = 1},
    {"a longer name sharing the prefix is another attribute",
     PS_CHILDCARE,
     FEE,
     "family_name",
     {GRANTED("family_names", "c27")},
     1,
     .reason = CID_REASON_NO_CONSENT,
     .rule = "childcare.policy:14",
     .min_level = 1},
    {"the attribute's own fact among several",
     PS_CHILDCARE,
     FEE,
     "resident_district",
     {GRANTED("household_size", "c28"), STATE("resident_district", CID_CONSENT_WITHDRAWN, "c29"),
      GRANTED("given_name", "c30")},
     1,
     .reason = CID_REASON_WITHDRAWN,
     .rule = "childcare.policy:12",
     .consent_id = "c29",
     .min_level = 1},
    /* statute basis */
    {"statute basis needs no consent",
     PS_CHILDCARE,
     ELIG,
     "resident_district",
     {{0}},
     1,
     .permit = true,
     .reason = CID_REASON_PERMIT_STATUTE,
     .rule = "childcare.policy:26",
     .min_level = 1,
     STATUTE},
    {"statute basis ignores a refusal",
     PS_CHILDCARE,
     ELIG,
     "resident_district",
     {STATE("resident_district", CID_CONSENT_REFUSED, "c31")},
     1,
     .permit = true,
     .reason = CID_REASON_PERMIT_STATUTE,
     .rule = "childcare.policy:26",
     .min_level = 1,
     STATUTE},
    {"statute basis still needs the level",
     PS_CHILDCARE,
     ELIG,
     "birthdate",
     {{0}},
     1,
     .reason = CID_REASON_LEVEL_TOO_LOW,
     .rule = "childcare.policy:27",
     .min_level = 2,
     STATUTE},
    {"statute basis at level 2 permits",
     PS_CHILDCARE,
     ELIG,
     "birthdate",
     {{0}},
     2,
     .permit = true,
     .reason = CID_REASON_PERMIT_STATUTE,
     .rule = "childcare.policy:27",
     .min_level = 2,
     STATUTE},
    {"statute purpose's deny",
     PS_CHILDCARE,
     ELIG,
     "email",
     {{0}},
     2,
     .reason = CID_REASON_EXPLICIT_DENY,
     .rule = "childcare.policy:28",
     STATUTE},
    {"statute purpose's default deny",
     PS_CHILDCARE,
     ELIG,
     "household_size",
     {{0}},
     2,
     .reason = CID_REASON_NOT_IN_POLICY,
     STATUTE},
    /* unknown services and purposes */
    {"unknown service",
     PS_CHILDCARE,
     "parking",
     "fee-calculation",
     "household_size",
     {GRANTED("household_size", "c32")},
     2,
     .reason = CID_REASON_UNKNOWN_SERVICE,
     .no_version = true},
    {"service names are case-sensitive",
     PS_CHILDCARE,
     "Childcare",
     "fee-calculation",
     "household_size",
     {{0}},
     2,
     .reason = CID_REASON_UNKNOWN_SERVICE,
     .no_version = true},
    {"a prefix of a service is no service",
     PS_CHILDCARE,
     "child",
     "fee-calculation",
     "household_size",
     {{0}},
     2,
     .reason = CID_REASON_UNKNOWN_SERVICE,
     .no_version = true},
    {"NULL service",
     PS_CHILDCARE,
     NULL,
     "fee-calculation",
     "household_size",
     {{0}},
     2,
     .reason = CID_REASON_UNKNOWN_SERVICE,
     .no_version = true},
    {"purpose the service does not declare",
     PS_CHILDCARE,
     "childcare",
     "marketing",
     "household_size",
     {GRANTED("household_size", "c33")},
     2,
     .reason = CID_REASON_UNKNOWN_PURPOSE},
    {"empty purpose",
     PS_CHILDCARE,
     "childcare",
     "",
     "household_size",
     {{0}},
     2,
     .reason = CID_REASON_UNKNOWN_PURPOSE},
    {"NULL purpose",
     PS_CHILDCARE,
     "childcare",
     NULL,
     "household_size",
     {{0}},
     2,
     .reason = CID_REASON_UNKNOWN_PURPOSE},
    /* policy versions */
    {"consent to an old text: ask again",
     PS_NEW_TEXT,
     FEE,
     "household_size",
     {WITH_DIGEST("household_size", DIGEST_OLD, "c34")},
     1,
     .reason = CID_REASON_POLICY_CHANGED,
     .rule = "childcare.policy:11",
     .consent_id = "c34",
     .min_level = 1},
    {"consent to the new text permits",
     PS_NEW_TEXT,
     FEE,
     "household_size",
     {GRANTED("household_size", "c35")},
     1,
     PERMIT_CONSENT,
     .rule = "childcare.policy:11",
     .consent_id = "c35",
     .min_level = 1},
    {"new version, same question: consent stands",
     PS_NEW_COMMENT,
     FEE,
     "household_size",
     {WITH_DIGEST("household_size", DIGEST_OLD, "c36")},
     1,
     PERMIT_CONSENT,
     .rule = "childcare.policy:11",
     .consent_id = "c36",
     .min_level = 1},
    {"withdrawal reported before a text change",
     PS_NEW_TEXT,
     FEE,
     "household_size",
     {{"household_size", CID_CONSENT_WITHDRAWN, 0, DIGEST_OLD, "c37"}},
     1,
     .reason = CID_REASON_WITHDRAWN,
     .rule = "childcare.policy:11",
     .consent_id = "c37",
     .min_level = 1},
    {"expiry reported before a text change",
     PS_NEW_TEXT,
     FEE,
     "household_size",
     {{"household_size", CID_CONSENT_GRANTED, NOW - 10, DIGEST_OLD, "c38"}},
     1,
     .reason = CID_REASON_EXPIRED,
     .rule = "childcare.policy:11",
     .consent_id = "c38",
     .min_level = 1},
    /* the library: a public-subject service that may get a name and an email */
    {"library: email with consent",
     PS_LIBRARY,
     CARD,
     "email",
     {GRANTED("email", "l1")},
     1,
     PERMIT_CONSENT,
     .rule = "library.policy:12",
     .consent_id = "l1",
     .min_level = 1},
    {"library: anything else denied",
     PS_LIBRARY,
     CARD,
     "birthdate",
     {GRANTED("birthdate", "l2")},
     2,
     .reason = CID_REASON_NOT_IN_POLICY},
    {"library: name not yet decided",
     PS_LIBRARY,
     CARD,
     "given_name",
     {{0}},
     1,
     .reason = CID_REASON_NO_CONSENT,
     .rule = "library.policy:11",
     .min_level = 1},
    /* two policies in one set */
    {"set of two: library permit",
     PS_BOTH,
     CARD,
     "given_name",
     {GRANTED("given_name", "b1")},
     1,
     PERMIT_CONSENT,
     .rule = "library.policy:11",
     .consent_id = "b1",
     .min_level = 1},
    {"set of two: childcare permit",
     PS_BOTH,
     FEE,
     "household_size",
     {GRANTED("household_size", "b2")},
     1,
     PERMIT_CONSENT,
     .rule = "childcare.policy:11",
     .consent_id = "b2",
     .min_level = 1},
    {"set of two: another service's purpose",
     PS_BOTH,
     "library",
     "fee-calculation",
     "household_size",
     {GRANTED("household_size", "b3")},
     2,
     .reason = CID_REASON_UNKNOWN_PURPOSE},
    {"set of two: the other way round",
     PS_BOTH,
     "childcare",
     "card",
     "given_name",
     {GRANTED("given_name", "b4")},
     2,
     .reason = CID_REASON_UNKNOWN_PURPOSE},
    {"set of two: unknown service",
     PS_BOTH,
     "parking",
     "card",
     "given_name",
     {{0}},
     2,
     .reason = CID_REASON_UNKNOWN_SERVICE,
     .no_version = true},
};

static void assert_str_or_null(const char *what, const char *name, const char *got,
			       const char *want)
{
	if (got == NULL && want == NULL)
		return;
	if (got == NULL || want == NULL || strcmp(got, want) != 0)
		fail_msg("%s: %s is '%s', expected '%s'", name, what, got ? got : "(null)",
			 want ? want : "(null)");
}

static void test_eval_table(void **state)
{
	struct fixture *fx = *state;
	size_t n_permit = 0;

	assert_true(sizeof(eval_cases) / sizeof(eval_cases[0]) >= 45);
	for (size_t i = 0; i < sizeof(eval_cases) / sizeof(eval_cases[0]); i++) {
		const struct eval_case *c = &eval_cases[i];
		const struct cid_policyset *ps = fx->sets[c->set];
		struct cid_consent_fact facts[3];
		char digests[3][CID_HASH_HEX + 1];
		struct cid_decision d;
		size_t n = 0;

		for (; n < 3 && c->facts[n].attribute != NULL; n++) {
			const struct fact_spec *f = &c->facts[n];
			facts[n] = (struct cid_consent_fact){.attribute = f->attribute,
							     .state = f->state,
							     .expires_at = f->expires_at,
							     .purpose_digest = digests[n],
							     .record_id = f->record_id};
			switch (f->digest) {
			case DIGEST_CURRENT:
				digest_of(ps, c->service, c->purpose, digests[n]);
				break;
			case DIGEST_OLD:
				digest_of(fx->sets[PS_CHILDCARE], c->service, c->purpose,
					  digests[n]);
				break;
			case DIGEST_NONE: facts[n].purpose_digest = NULL; break;
			case DIGEST_BOGUS: memset(digests[n], '0', CID_HASH_HEX); break;
			}
			digests[n][CID_HASH_HEX] = '\0';
		}
		memset(&d, 0x5a, sizeof(d)); /* every member must be written */
		cid_policy_eval(ps, c->service, c->purpose, c->attribute, n > 0 ? facts : NULL, n,
				c->level, NOW, &d);
		if (d.permit != c->permit || d.reason != c->reason)
			fail_msg("%s: %s %s, expected %s %s", c->name, d.permit ? "permit" : "deny",
				 cid_reason_name(d.reason), c->permit ? "permit" : "deny",
				 cid_reason_name(c->reason));
		assert_str_or_null("rule", c->name, d.rule, c->rule);
		assert_str_or_null("consent_id", c->name, d.consent_id, c->consent_id);
		assert_str_or_null("statute", c->name, d.statute, c->statute);
		assert_str_or_null("policy_version", c->name, d.policy_version,
				   c->no_version ? NULL : cid_policyset_version(ps, c->service));
		if (d.min_level != c->min_level || d.basis != c->basis)
			fail_msg("%s: min_level %d basis %d, expected %d %d", c->name, d.min_level,
				 (int)d.basis, c->min_level, (int)c->basis);
		n_permit += d.permit;
	}
	assert_true(n_permit >= 10);
}

/* The version is per file; the digest only follows what the citizen is asked. */
static void test_version_and_digest(void **state)
{
	struct fixture *fx = *state;
	const struct cid_policyset *old = fx->sets[PS_CHILDCARE];
	const struct cid_policyset *text = fx->sets[PS_NEW_TEXT];
	const struct cid_policyset *comment = fx->sets[PS_NEW_COMMENT];
	char a[CID_HASH_HEX + 1], b[CID_HASH_HEX + 1], expect[CID_HASH_HEX + 1];
	uint8_t hash[32];

	cid_sha256(childcare, strlen(childcare), hash);
	cid_hex(hash, sizeof(hash), expect);
	assert_string_equal(cid_policyset_version(old, "childcare"), expect);
	assert_string_not_equal(cid_policyset_version(old, "childcare"),
				cid_policyset_version(text, "childcare"));
	assert_string_not_equal(cid_policyset_version(old, "childcare"),
				cid_policyset_version(comment, "childcare"));
	assert_null(cid_policyset_version(old, "library"));

	digest_of(old, "childcare", "fee-calculation", a);
	digest_of(text, "childcare", "fee-calculation", b);
	assert_string_not_equal(a, b);
	digest_of(comment, "childcare", "fee-calculation", b);
	assert_string_equal(a, b);
	/* the other purpose's question did not change */
	digest_of(old, "childcare", "eligibility", a);
	digest_of(text, "childcare", "eligibility", b);
	assert_string_equal(a, b);
}

/* Each change to what is asked changes the digest; retention does not. */
static void test_digest_follows_what_is_asked(void **state)
{
	static const char *const variants[] = {
	    "service s\nname.ja 名\nname.en N\npurpose p\ntext.ja 目的\ntext.en Purpose\n"
	    "basis consent\nretention 1y\nconsent_valid 1y\npermit email\n",
	    /* 1: retention and consent_valid differ: same digest as 0 */
	    "service s\nname.ja 名\nname.en N\npurpose p\ntext.ja 目的\ntext.en Purpose\n"
	    "basis consent\nretention 2y\nconsent_valid 6m\npermit email\n",
	    /* 2: a level */
	    "service s\nname.ja 名\nname.en N\npurpose p\ntext.ja 目的\ntext.en Purpose\n"
	    "basis consent\nretention 1y\nconsent_valid 1y\npermit email level=2\n",
	    /* 3: one more attribute */
	    "service s\nname.ja 名\nname.en N\npurpose p\ntext.ja 目的\ntext.en Purpose\n"
	    "basis consent\nretention 1y\nconsent_valid 1y\npermit email\npermit locale\n",
	    /* 4: the same attributes in another order: same digest as 3 */
	    "service s\nname.ja 名\nname.en N\npurpose p\ntext.ja 目的\ntext.en Purpose\n"
	    "basis consent\nretention 1y\nconsent_valid 1y\npermit locale\npermit email\n",
	    /* 5: the English text */
	    "service s\nname.ja 名\nname.en N\npurpose p\ntext.ja 目的\ntext.en A purpose\n"
	    "basis consent\nretention 1y\nconsent_valid 1y\npermit email\n",
	    /* 6: a deny that overrides a permit: same question as 0 */
	    "service s\nname.ja 名\nname.en N\npurpose p\ntext.ja 目的\ntext.en Purpose\n"
	    "basis consent\nretention 1y\nconsent_valid 1y\npermit email\npermit locale\n"
	    "deny locale\n",
	};
	char d[7][CID_HASH_HEX + 1];

	(void)state;
	for (size_t i = 0; i < 7; i++) {
		struct cid_policyset *ps = parse_ok("s.policy", variants[i]);
		digest_of(ps, "s", "p", d[i]);
		assert_int_equal(strlen(d[i]), CID_HASH_HEX);
		cid_policyset_free(ps);
	}
	assert_string_equal(d[0], d[1]);
	assert_string_not_equal(d[0], d[2]);
	assert_string_not_equal(d[0], d[3]);
	assert_string_equal(d[3], d[4]);
	assert_string_not_equal(d[0], d[5]);
	assert_string_equal(d[0], d[6]);
}

/* ---- the parser's errors ---- */

/* Lines 1-3 and 4-9: a valid head and purpose; a row adds its defect. */
#define H "service svc\nname.ja サービス\nname.en Service\n"
#define P                                                                                          \
	"purpose p\ntext.ja 目的\ntext.en Purpose\nbasis consent\nretention 1y\nconsent_valid "  \
	"1y\n"
#define TEXTS "purpose p\ntext.ja 目的\ntext.en Purpose\n"

enum generated { GEN_NONE, GEN_LONG_LINE, GEN_BIG_FILE, GEN_MANY_PURPOSES };

struct error_case {
	const char *text;
	size_t len;
	enum generated gen;
	unsigned line;	   /* of the first error */
	const char *word;  /* in its message */
	unsigned n_errors; /* 0: exactly one */
};

#define LIT(s) .text = (s), .len = sizeof(s) - 1

static const struct error_case error_cases[] = {
    {LIT(H P "permit email\nallow email\n"), .line = 11, .word = "unknown keyword 'allow'"},
    {LIT("service svc\nname.ja A\nname.ja B\nname.en S\n" P "permit email\n"), .line = 3,
     .word = "duplicate name.ja (first on line 2)"},
    {LIT(H "service other\n" P "permit email\n"), .line = 4, .word = "duplicate service"},
    {LIT(H P "text.en Again\npermit email\n"), .line = 10, .word = "duplicate text.en"},
    {LIT(H P "permit email\npermit email level=2\n"), .line = 11,
     .word = "email is already permitted on line 10"},
    {LIT(H P "permit email\ndeny phone_number\ndeny phone_number\n"), .line = 12,
     .word = "already denied"},
    {LIT(H "purpose p\ntext.en Purpose\nbasis consent\nretention 1y\nconsent_valid 1y\n"
	   "permit email\n"),
     .line = 4, .word = "no text.ja"},
    {LIT(H "purpose p\ntext.ja 目的\nbasis consent\nretention 1y\nconsent_valid 1y\n"
	   "permit email\n"),
     .line = 4, .word = "no text.en"},
    {LIT(H TEXTS "retention 1y\nconsent_valid 1y\npermit email\n"), .line = 4, .word = "no basis"},
    {LIT(H TEXTS "basis statute\nretention 1y\npermit email\n"), .line = 7,
     .word = "needs its citation"},
    {LIT(H TEXTS "basis contract\nretention 1y\npermit email\n"), .line = 7,
     .word = "consent or statute"},
    {LIT(H TEXTS "basis consent because\nretention 1y\nconsent_valid 1y\npermit email\n"),
     .line = 7, .word = "no citation"},
    {LIT(H P "permit email\n# caf\xc3\x28\n"), .line = 11, .word = "UTF-8"},
    {LIT(H P "permit email\ntext.ja a\0b\n"), .line = 11, .word = "NUL"},
    {LIT(H P "permit email\ntext.ja a\x01 b\n"), .line = 11, .word = "control character"},
    {LIT(H P "permit email\nname.en a\rb\n"), .line = 11, .word = "carriage return"},
    {.gen = GEN_LONG_LINE, .line = 11, .word = "longer than 4096 bytes"},
    {.gen = GEN_BIG_FILE, .line = 1, .word = "1 MiB"},
    {LIT(H P "permit email\npermit shoe_size\n"), .line = 11,
     .word = "unknown attribute 'shoe_size'"},
    {LIT(H P "permit email\npermit family_name#ja-Kana-JP\n"), .line = 11,
     .word = "base attribute family_name"},
    {LIT(H P "permit email\npermit birthdate level=4\n"), .line = 11, .word = "level must be 1"},
    {LIT(H P "permit email\npermit birthdate level=0\n"), .line = 11, .word = "level must be 1"},
    {LIT(H P "permit email\npermit birthdate lvl=2\n"), .line = 11, .word = "unexpected 'lvl=2'"},
    {LIT(H P "permit email\npermit birthdate level=2 level=2\n"), .line = 11,
     .word = "level given twice"},
    {LIT(H P "permit email\ndeny birthdate level=2\n"), .line = 11,
     .word = "deny takes only an attribute"},
    {LIT(H TEXTS "basis consent\nretention 0d\nconsent_valid 1y\npermit email\n"), .line = 8,
     .word = "not a duration"},
    {LIT(H TEXTS "basis consent\nretention 1y\nconsent_valid 101y\npermit email\n"), .line = 9,
     .word = "not a duration"},
    {LIT(H TEXTS "basis consent\nretention 1217m\nconsent_valid 1y\npermit email\n"), .line = 8,
     .word = "1d to 100y"},
    {LIT(H TEXTS "basis consent\nretention 5w\nconsent_valid 1y\npermit email\n"), .line = 8,
     .word = "not a duration"},
    {LIT(H TEXTS "basis consent\nretention 1y 2m\nconsent_valid 1y\npermit email\n"), .line = 8,
     .word = "takes one word"},
    {LIT(H TEXTS "basis statute 法 第1条\nretention 1y\nconsent_valid 1y\npermit email\n"),
     .line = 9, .word = "consent_valid does not apply"},
    {LIT(H TEXTS "basis consent\nretention 1y\npermit email\n"), .line = 4,
     .word = "needs consent_valid"},
    {LIT(H TEXTS "basis consent\nconsent_valid 1y\npermit email\n"), .line = 4,
     .word = "no retention"},
    {LIT(H "purpose Fee_Calc\ntext.ja 目的\ntext.en Purpose\nbasis consent\nretention 1y\n"
	   "consent_valid 1y\npermit email\n"),
     .line = 4, .word = "purpose id 'Fee_Calc'"},
    {LIT(H P "permit email\n" P "permit email\n"), .line = 11,
     .word = "purpose p is already declared on line 4"},
    {LIT(H "text.ja 目的\n" P "permit email\n"), .line = 4, .word = "outside a purpose block"},
    {LIT(H P "permit email\nsubject public\n"), .line = 11,
     .word = "subject belongs before the first purpose"},
    {LIT(H "subject anonymous\n" P "permit email\n"), .line = 4, .word = "pairwise or public"},
    {LIT(""), .line = 1, .word = "no service line", .n_errors = 3},
    {LIT("service svc\nname.ja サービス\n" P "permit email\n"), .line = 1, .word = "no name.en"},
    {LIT("service 子育て\nname.ja サービス\nname.en Service\n" P "permit email\n"), .line = 1,
     .word = "not a client_id"},
    {LIT(H P "deny email\n"), .line = 4, .word = "permits no attribute"},
    {LIT(H P "permit email\nretention\n"), .line = 11, .word = "retention needs a value"},
    {LIT(H P "permit email extra\n"), .line = 10, .word = "unexpected 'extra'", .n_errors = 2},
    {LIT(H P "category 0\npermit email\n"), .line = 10, .word = "category '0' is not a purpose"},
    {LIT(H P "category 17\npermit email\n"), .line = 10, .word = "(a number 1 to 16)"},
    {LIT(H P "category core\npermit email\n"), .line = 10, .word = "category 'core'"},
    {LIT(H P "category 1\ncategory 2\npermit email\n"), .line = 11, .word = "duplicate category"},
    {LIT(H "category 1\n" P "permit email\n"), .line = 4, .word = "category"},
    {.gen = GEN_MANY_PURPOSES, .line = 3 + 7 * 256 + 1, .word = "more than 256 purposes"},
};

/* The text of a generated row, malloc'ed. */
static char *generate(enum generated gen, size_t *len)
{
	struct cid_policyset *ps = NULL;
	size_t cap = 2 * CID_POLICY_MAX_FILE, n = 0;
	char *s = malloc(cap);

	assert_non_null(s);
	n += (size_t)snprintf(s + n, cap - n, "%s", H P "permit email\n");
	switch (gen) {
	case GEN_LONG_LINE:
		n += (size_t)snprintf(s + n, cap - n, "# ");
		memset(s + n, 'a', CID_POLICY_MAX_LINE - 2 + 1);
		n += CID_POLICY_MAX_LINE - 2 + 1;
		s[n++] = '\n';
		break;
	case GEN_BIG_FILE:
		while (n <= CID_POLICY_MAX_FILE)
			n += (size_t)snprintf(s + n, cap - n, "# a comment to make the file big\n");
		break;
	case GEN_MANY_PURPOSES:
		for (int i = 2; i <= CID_POLICY_MAX_PURPOSES + 2; i++)
			n += (size_t)snprintf(s + n, cap - n,
					      "purpose p%d\ntext.ja 目的\ntext.en Purpose\n"
					      "basis consent\nretention 1y\nconsent_valid 1y\n"
					      "permit email\n",
					      i);
		break;
	case GEN_NONE: break;
	}
	assert_true(n < cap);
	/* one line short of the limit, the same text parses */
	if (gen == GEN_LONG_LINE) {
		s[n - 2] = '\n';
		assert_int_equal(cid_policyset_parse("t.policy", s, n - 1, stderr, &ps), CID_OK);
		cid_policyset_free(ps);
		s[n - 2] = 'a';
	}
	*len = n;
	return s;
}

static unsigned count_lines(const char *s, size_t n)
{
	unsigned lines = 0;

	for (size_t i = 0; i < n; i++)
		lines += s[i] == '\n';
	return lines;
}

static void test_parse_error_table(void **state)
{
	(void)state;
	assert_true(sizeof(error_cases) / sizeof(error_cases[0]) >= 25);
	for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
		const struct error_case *c = &error_cases[i];
		struct cid_policyset *ps = (struct cid_policyset *)&ps; /* must stay untouched */
		struct cid_policyset *const sentinel = ps;
		char *out = NULL, *gen = NULL, prefix[64];
		size_t out_len = 0, len = c->len;
		const char *text = c->text;
		FILE *f = open_memstream(&out, &out_len);

		assert_non_null(f);
		if (c->gen != GEN_NONE)
			text = gen = generate(c->gen, &len);
		enum cid_err rc = cid_policyset_parse("t.policy", text, len, f, &ps);
		assert_int_equal(fclose(f), 0);
		snprintf(prefix, sizeof(prefix), "t.policy:%u: ", c->line);
		if (rc != CID_ERR_CONFIG || ps != sentinel)
			fail_msg("row %zu (%s): rc %d, expected CID_ERR_CONFIG", i, c->word, rc);
		if (strncmp(out, prefix, strlen(prefix)) != 0 || strstr(out, c->word) == NULL)
			fail_msg("row %zu: expected '%s...%s', got:\n%s", i, prefix, c->word, out);
		if (count_lines(out, out_len) != (c->n_errors == 0 ? 1 : c->n_errors))
			fail_msg("row %zu: expected %u error(s), got:\n%s", i,
				 c->n_errors == 0 ? 1 : c->n_errors, out);
		free(out);
		free(gen);
	}
}

static void test_parse_reports_every_error(void **state)
{
	static const char text[] = "service svc\n"	  /* 1 */
				   "name.ja サービス\n"	  /* 2 */
				   "name.en Service\n"	  /* 3 */
				   "purpose p\n"	  /* 4 */
				   "  text.ja 目的\n"	  /* 5 */
				   "  text.en Purpose\n"  /* 6 */
				   "  basis consent\n"	  /* 7 */
				   "  retention 0d\n"	  /* 8: error */
				   "  consent_valid 1y\n" /* 9 */
				   "  permit shoe_size\n" /* 10: error */
				   "  permit email\n"	  /* 11 */
				   "  frobnicate\n";	  /* 12: error */
	struct cid_policyset *ps = NULL;
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	(void)state;
	assert_non_null(f);
	assert_int_equal(cid_policyset_parse("three.policy", text, sizeof(text) - 1, f, &ps),
			 CID_ERR_CONFIG);
	assert_int_equal(fclose(f), 0);
	assert_null(ps);
	assert_int_equal(count_lines(out, len), 3);
	assert_non_null(strstr(out, "three.policy:8: retention '0d'"));
	assert_non_null(strstr(out, "three.policy:10: unknown attribute 'shoe_size'"));
	assert_non_null(strstr(out, "three.policy:12: unknown keyword 'frobnicate'"));
	assert_true(strstr(out, ":8:") < strstr(out, ":10:"));
	assert_true(strstr(out, ":10:") < strstr(out, ":12:"));
	free(out);
	/* no error stream: the same failure, silently */
	assert_int_equal(cid_policyset_parse("three.policy", text, sizeof(text) - 1, NULL, &ps),
			 CID_ERR_CONFIG);
	assert_null(ps);
}

/* What the format allows: CRLF, indentation, comments, '#' inside a word, no subject. */
static void test_parse_lenient_forms(void **state)
{
	static const char text[] = "# a policy\r\n"
				   "service\tsvc   # trailing comment\r\n"
				   "   name.ja サービス#1\r\n"
				   "name.en Service\r\n"
				   "\r\n"
				   "purpose p\r\n"
				   "\t\ttext.ja 窓口#3で使います\r\n"
				   "  text.en Used at desk #3\r\n"
				   " basis   statute   法 第1条  \r\n"
				   "retention 30d\r\n"
				   "permit  email   level=2\r\n";
	struct cid_policyset *ps = parse_ok("lenient.policy", text);
	json_t *d = NULL;

	(void)state;
	assert_int_equal(cid_policy_describe(ps, "svc", &d), CID_OK);
	json_t *p = json_array_get(json_object_get(d, "purposes"), 0);
	assert_string_equal(json_string_value(json_object_get(json_object_get(d, "name"), "ja")),
			    "サービス#1");
	assert_string_equal(json_string_value(json_object_get(d, "subject")), "pairwise");
	assert_string_equal(json_string_value(json_object_get(json_object_get(p, "text"), "ja")),
			    "窓口#3で使います");
	assert_string_equal(json_string_value(json_object_get(json_object_get(p, "text"), "en")),
			    "Used at desk");
	assert_string_equal(json_string_value(json_object_get(p, "statute")), "法 第1条");
	assert_int_equal(json_integer_value(json_object_get(p, "retention_days")), 30);
	assert_int_equal(json_integer_value(json_object_get(p, "consent_valid_days")), 0);
	/* no category line: the default one */
	assert_string_equal(json_string_value(json_object_get(p, "category")),
			    "2 - Contracted Service");
	json_t *permit = json_array_get(json_object_get(p, "permit"), 0);
	assert_int_equal(json_integer_value(json_object_get(permit, "level")), 2);
	assert_string_equal(json_string_value(json_object_get(permit, "rule")),
			    "lenient.policy:11");
	json_decref(d);
	cid_policyset_free(ps);
}

/* A purpose's category names the Kantara receipt's purposeCategory, by number. */
static void test_category_table(void **state)
{
	static const struct {
		const char *line; /* "" for none */
		const char *name;
	} rows[] = {
	    {"", "2 - Contracted Service"},
	    {"category 1\n", "1 - Core Function"},
	    {"category 12\n", "12 - Legally Required Data Retention"},
	    {"category 13\n", "13 - Required by Law Enforcement or Government"},
	    {"category 16\n", "16 - Improve Performance"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char text[512];
		struct cid_purpose_info pu = {0};

		assert_true((size_t)snprintf(text, sizeof(text),
					     "service svc\nname.ja サ\nname.en S\n" P
					     "%spermit email\n",
					     rows[i].line) < sizeof(text));
		struct cid_policyset *ps = parse_ok("category.policy", text);
		assert_true(cid_policy_purpose_find(cid_policyset_find(ps, "svc"), "p", &pu));
		assert_string_equal(pu.category, rows[i].name);
		cid_policyset_free(ps);
	}
	assert_string_equal(cid_policy_category_name(0), "2 - Contracted Service");
	assert_string_equal(cid_policy_category_name(17), "2 - Contracted Service");
	assert_string_equal(cid_policy_category_name(14), "14 - Protecting Your Health");
}

/* ---- description, subjects ---- */

static void test_describe(void **state)
{
	struct fixture *fx = *state;
	const struct cid_policyset *ps = fx->sets[PS_BOTH];
	json_t *d = NULL;

	assert_int_equal(cid_policy_describe(ps, "childcare", &d), CID_OK);
	assert_string_equal(json_string_value(json_object_get(d, "service")), "childcare");
	assert_string_equal(json_string_value(json_object_get(json_object_get(d, "name"), "ja")),
			    "子育て支援");
	assert_string_equal(json_string_value(json_object_get(json_object_get(d, "name"), "en")),
			    "Childcare support");
	assert_string_equal(json_string_value(json_object_get(d, "subject")), "pairwise");
	assert_string_equal(json_string_value(json_object_get(d, "version")),
			    cid_policyset_version(ps, "childcare"));
	assert_string_equal(json_string_value(json_object_get(d, "file")), "childcare.policy");
	json_t *purposes = json_object_get(d, "purposes");
	assert_int_equal(json_array_size(purposes), 2);

	json_t *fee = json_array_get(purposes, 0);
	assert_string_equal(json_string_value(json_object_get(fee, "id")), "fee-calculation");
	assert_string_equal(json_string_value(json_object_get(fee, "basis")), "consent");
	assert_null(json_object_get(fee, "statute"));
	assert_int_equal(json_integer_value(json_object_get(fee, "retention_days")), 5 * 365);
	assert_int_equal(json_integer_value(json_object_get(fee, "consent_valid_days")), 365);
	assert_int_equal(strlen(json_string_value(json_object_get(fee, "digest"))), CID_HASH_HEX);
	/* phone_number and address are denied too, so they are not offered */
	json_t *permit = json_object_get(fee, "permit");
	static const char *const offered[] = {"household_size", "resident_district", "birthdate",
					      "family_name", "given_name"};
	assert_int_equal(json_array_size(permit), 5);
	for (size_t i = 0; i < 5; i++)
		assert_string_equal(
		    json_string_value(json_object_get(json_array_get(permit, i), "attribute")),
		    offered[i]);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(permit, 2), "level")),
			 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(permit, 2), "rule")),
			    "childcare.policy:13");
	json_t *deny = json_object_get(fee, "deny");
	assert_int_equal(json_array_size(deny), 3);
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(deny, 0), "attribute")), "email");
	assert_string_equal(json_string_value(json_object_get(json_array_get(deny, 0), "rule")),
			    "childcare.policy:16");

	json_t *elig = json_array_get(purposes, 1);
	assert_string_equal(json_string_value(json_object_get(elig, "basis")), "statute");
	assert_string_equal(json_string_value(json_object_get(elig, "statute")),
			    "子ども・子育て支援法 第20条");
	assert_int_equal(json_integer_value(json_object_get(elig, "consent_valid_days")), 0);
	json_decref(d);

	assert_int_equal(cid_policy_describe(ps, "nosuch", &d), CID_ERR_NOTFOUND);
}

static void test_subject_pairwise_or_public(void **state)
{
	struct fixture *fx = *state;

	static const struct {
		enum which set;
		const char *service, *subject;
	} rows[] = {
	    {PS_CHILDCARE, "childcare", "pairwise"},
	    {PS_LIBRARY, "library", "public"},
	    {PS_BOTH, "childcare", "pairwise"},
	    {PS_BOTH, "library", "public"},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		json_t *d = NULL;
		assert_int_equal(cid_policy_describe(fx->sets[rows[i].set], rows[i].service, &d),
				 CID_OK);
		assert_string_equal(json_string_value(json_object_get(d, "subject")),
				    rows[i].subject);
		json_decref(d);
	}
}

static void test_reason_names(void **state)
{
	(void)state;
	for (int i = 0; i < CID_REASON_COUNT; i++) {
		const char *name = cid_reason_name((enum cid_reason)i);
		assert_string_not_equal(name, "unknown");
		for (int j = 0; j < i; j++)
			assert_string_not_equal(name, cid_reason_name((enum cid_reason)j));
	}
	assert_string_equal(cid_reason_name(CID_REASON_LEVEL_TOO_LOW), "level_too_low");
	assert_string_equal(cid_reason_name(CID_REASON_NO_CONSENT), "no_consent");
	assert_string_equal(cid_reason_name(CID_REASON_COUNT), "unknown");
}

static void test_accessors_and_null(void **state)
{
	struct fixture *fx = *state;
	const struct cid_policyset *ps = fx->sets[PS_BOTH];
	struct cid_decision d;

	assert_int_equal(cid_policyset_count(ps), 2);
	assert_string_equal(cid_policyset_service(ps, 0), "childcare");
	assert_string_equal(cid_policyset_service(ps, 1), "library");
	assert_null(cid_policyset_service(ps, 2));
	assert_int_equal(cid_policyset_count(NULL), 0);
	assert_null(cid_policyset_version(NULL, "childcare"));
	cid_policyset_free(NULL);
	cid_policy_eval(NULL, "childcare", "fee-calculation", "email", NULL, 0, 2, NOW, &d);
	assert_false(d.permit);
	assert_int_equal(d.reason, CID_REASON_UNKNOWN_SERVICE);
}

/* ---- one service across its purposes (the release point's question) ---- */

static void test_policy_view(void **state)
{
	struct fixture *fx = *state;
	const struct cid_policy *cc = cid_policyset_find(fx->sets[PS_BOTH], "childcare");
	const struct cid_policy *lib = cid_policyset_find(fx->sets[PS_BOTH], "library");
	struct cid_purpose_info pu;

	assert_non_null(cc);
	assert_non_null(lib);
	assert_null(cid_policyset_find(fx->sets[PS_BOTH], "nobody"));
	assert_null(cid_policyset_find(NULL, "childcare"));
	assert_string_equal(cid_policy_service(cc), "childcare");
	assert_string_equal(cid_policy_version(cc),
			    cid_policyset_version(fx->sets[PS_BOTH], "childcare"));
	assert_string_equal(cid_policy_name(cc, "ja"), "子育て支援");
	assert_string_equal(cid_policy_name(cc, "en"), "Childcare support");
	assert_string_equal(cid_policy_name(cc, NULL), "子育て支援");
	assert_false(cid_policy_public_subject(cc));
	assert_true(cid_policy_public_subject(lib));
	assert_int_equal(cid_policy_purpose_count(cc), 2);
	assert_int_equal(cid_policy_purpose_count(NULL), 0);
	cid_policy_purpose(cc, 0, &pu);
	assert_string_equal(pu.id, "fee-calculation");
	assert_int_equal(pu.basis, CID_BASIS_CONSENT);
	assert_null(pu.statute);
	assert_int_equal(pu.consent_valid_days, 365);
	assert_int_equal(pu.retention_days, 5 * 365);
	assert_string_equal(pu.text_en, "To calculate childcare fees");
	assert_int_equal(strlen(pu.digest), 64);
	cid_policy_purpose(cc, 1, &pu);
	assert_string_equal(pu.id, "eligibility");
	assert_int_equal(pu.basis, CID_BASIS_STATUTE);
	assert_string_equal(pu.statute, "子ども・子育て支援法 第20条");
	assert_int_equal(pu.consent_valid_days, 0);
	assert_string_equal(cid_purpose_text(&pu, "ja"), pu.text_ja);
	assert_string_equal(cid_purpose_text(&pu, "en"), pu.text_en);

	/* found by id; a miss leaves *out as it was */
	assert_true(cid_policy_purpose_find(cc, "fee-calculation", &pu));
	assert_string_equal(pu.id, "fee-calculation");
	assert_false(cid_policy_purpose_find(cc, "fee", &pu));
	assert_false(cid_policy_purpose_find(cc, NULL, &pu));
	assert_false(cid_policy_purpose_find(NULL, "fee-calculation", &pu));
	assert_false(cid_policy_purpose_find(lib, "fee-calculation", &pu));
	assert_string_equal(pu.id, "fee-calculation");
}

/*
 * Permit if some purpose permits and none denies explicitly; the deciding
 * purpose is the deny, else the permit, else the first that could change.
 */
static void test_eval_service_table(void **state)
{
	struct fixture *fx = *state;
	const struct cid_policy *cc = cid_policyset_find(fx->sets[PS_CHILDCARE], "childcare");
	struct cid_purpose_info fee;
	cid_policy_purpose(cc, 0, &fee);
	const struct cid_consent_fact granted[] = {
	    {"household_size", CID_CONSENT_GRANTED, 0, fee.digest, "rec-1"},
	    {"family_name", CID_CONSENT_GRANTED, 0, fee.digest, "rec-2"},
	    {"email", CID_CONSENT_GRANTED, 0, fee.digest, "rec-3"},
	    {"birthdate", CID_CONSENT_REFUSED, 0, fee.digest, "rec-4"},
	};
	const struct cid_fact_list with[2] = {{granted, 4}, {NULL, 0}};

	static const struct {
		const char *name;
		const char *service;
		const char *attribute;
		int level;
		bool facts;
		bool permit;
		enum cid_reason reason;
		size_t purpose;
	} rows[] = {
	    {"statute purpose permits without consent", "childcare", "resident_district", 1, false,
	     true, CID_REASON_PERMIT_STATUTE, 1},
	    {"consent purpose without a decision", "childcare", "household_size", 1, false, false,
	     CID_REASON_NO_CONSENT, 0},
	    {"consent purpose with a grant", "childcare", "household_size", 1, true, true,
	     CID_REASON_PERMIT_CONSENT, 0},
	    {"a grant covers the tagged forms", "childcare", "family_name#ja-Kana-JP", 1, true,
	     true, CID_REASON_PERMIT_CONSENT, 0},
	    {"explicit deny wins over a grant", "childcare", "email", 1, true, false,
	     CID_REASON_EXPLICIT_DENY, 0},
	    {"deny in the same purpose wins over its permit", "childcare", "phone_number", 2, false,
	     false, CID_REASON_EXPLICIT_DENY, 0},
	    {"level too low everywhere", "childcare", "birthdate", 1, false, false,
	     CID_REASON_LEVEL_TOO_LOW, 0},
	    {"refused for one purpose, statute permits in another", "childcare", "birthdate", 2,
	     true, true, CID_REASON_PERMIT_STATUTE, 1},
	    {"in no purpose: default deny", "childcare", "nickname", 2, true, false,
	     CID_REASON_NOT_IN_POLICY, 0},
	    {"unknown attribute", "childcare", "shoe_size", 2, true, false,
	     CID_REASON_NOT_IN_POLICY, 0},
	    {"unknown service", "nobody", "email", 2, false, false, CID_REASON_UNKNOWN_SERVICE,
	     SIZE_MAX},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct cid_policy *pol =
		    cid_policyset_find(fx->sets[PS_CHILDCARE], rows[i].service);
		struct cid_decision d;
		size_t purpose = 42;

		cid_policy_eval_service(pol, rows[i].attribute, rows[i].facts ? with : NULL,
					rows[i].level, NOW, &d, &purpose);
		if (d.permit != rows[i].permit || d.reason != rows[i].reason ||
		    purpose != rows[i].purpose)
			fail_msg("%s: permit %d reason %s purpose %zu", rows[i].name, d.permit,
				 cid_reason_name(d.reason), purpose);
		if (d.permit)
			assert_non_null(d.rule);
		if (d.reason == CID_REASON_PERMIT_CONSENT)
			assert_non_null(d.consent_id);
	}
}

/* ---- loading files ---- */

static void test_load_dir(void **state)
{
	struct fixture *fx = *state;
	struct cid_policyset *ps = NULL;
	char dir[256], sub[300], path[300];
	char **paths = NULL;
	size_t n = 0;

	(void)fx;
	cid_test_tmpdir(dir);
	write_file(dir, "library.policy", library, strlen(library));
	write_file(dir, "childcare.policy", childcare, strlen(childcare));
	write_file(dir, "README.md", "not a policy\n", 13);
	write_file(dir, ".draft.policy", "junk\n", 5);
	write_file(dir, "childcare.policy~", "junk\n", 5);
	snprintf(sub, sizeof(sub), "%s/sub.policy", dir);
	assert_int_equal(mkdir(sub, 0700), 0);

	assert_int_equal(cid_policy_list_dir(dir, &paths, &n), CID_OK);
	assert_int_equal(n, 2);
	snprintf(path, sizeof(path), "%s/childcare.policy", dir);
	assert_string_equal(paths[0], path);
	cid_policy_paths_free(paths, n);

	assert_int_equal(cid_policyset_load_dir(dir, stderr, &ps), CID_OK);
	assert_int_equal(cid_policyset_count(ps), 2);
	assert_string_equal(cid_policyset_service(ps, 0), "childcare"); /* sorted by name */
	assert_string_equal(cid_policyset_service(ps, 1), "library");
	assert_string_equal(cid_policyset_version(ps, "childcare"),
			    cid_policyset_version(fx->sets[PS_CHILDCARE], "childcare"));
	cid_policyset_free(ps);
	cid_test_rmdir(dir);
}

static void test_load_dir_empty_denies_everything(void **state)
{
	struct cid_policyset *ps = NULL;
	struct cid_decision d;
	char dir[256];

	(void)state;
	cid_test_tmpdir(dir);
	assert_int_equal(cid_policyset_load_dir(dir, stderr, &ps), CID_OK);
	assert_int_equal(cid_policyset_count(ps), 0);
	cid_policy_eval(ps, "library", "card", "email", NULL, 0, 2, NOW, &d);
	assert_false(d.permit);
	assert_int_equal(d.reason, CID_REASON_UNKNOWN_SERVICE);
	assert_int_equal(cid_policy_describe(ps, "library", &(json_t *){NULL}), CID_ERR_NOTFOUND);
	cid_policyset_free(ps);
	cid_test_rmdir(dir);
}

static void test_load_two_files_one_service(void **state)
{
	struct cid_policyset *ps = NULL;
	char dir[256], *out = NULL, expect[1024];
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	(void)state;
	assert_non_null(f);
	cid_test_tmpdir(dir);
	write_file(dir, "a.policy", library, strlen(library));
	write_file(dir, "b.policy", library, strlen(library));
	assert_int_equal(cid_policyset_load_dir(dir, f, &ps), CID_ERR_CONFIG);
	assert_int_equal(fclose(f), 0);
	assert_null(ps);
	snprintf(expect, sizeof(expect),
		 "%s/b.policy:1: service library already has a policy: %s/a.policy\n", dir, dir);
	assert_string_equal(out, expect);
	free(out);
	cid_test_rmdir(dir);
}

static void test_load_reports_every_file(void **state)
{
	struct cid_policyset *ps = NULL;
	char dir[256], a[300], b[300], missing[300], *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	(void)state;
	assert_non_null(f);
	cid_test_tmpdir(dir);
	write_file(dir, "a.policy", H P "permit email\npermit bogus\n",
		   sizeof(H P "permit email\npermit bogus\n") - 1);
#define OTHER "service other\nname.ja 別\nname.en Other\n" P "permit email\ndeny\n"
	write_file(dir, "b.policy", OTHER, sizeof(OTHER) - 1);
	snprintf(a, sizeof(a), "%s/a.policy", dir);
	snprintf(b, sizeof(b), "%s/b.policy", dir);
	snprintf(missing, sizeof(missing), "%s/missing.policy", dir);
	const char *paths[] = {a, missing, b};
	assert_int_equal(cid_policyset_load(paths, 3, f, &ps), CID_ERR_IO);
	assert_int_equal(fclose(f), 0);
	assert_null(ps);
	assert_int_equal(count_lines(out, len), 3);
	assert_non_null(strstr(out, "/a.policy:11: unknown attribute"));
	assert_non_null(strstr(out, "/missing.policy: cannot read"));
	assert_non_null(strstr(out, "/b.policy:11: deny needs a value"));
	free(out);

	/* without the missing file it is a configuration error */
	const char *two[] = {a, b};
	assert_int_equal(cid_policyset_load(two, 2, NULL, &ps), CID_ERR_CONFIG);
	assert_int_equal(cid_policyset_load_dir("/nonexistent/policies", NULL, &ps), CID_ERR_IO);
	assert_null(ps);
	cid_test_rmdir(dir);
}

/*
 * The demo city's policies in policies/ load and say what the README says.
 * The directory is the source tree's (CID_DEMO_POLICIES, from CMake), or
 * CID_POLICIES_DIR when set; a directory that is not there fails the test.
 */
static void test_demo_policies(void **state)
{
	const char *dir = getenv("CID_POLICIES_DIR");
	struct cid_policyset *ps = NULL;
	struct cid_decision d;
	struct stat st;

	(void)state;
	if (dir == NULL || dir[0] == '\0')
		dir = CID_DEMO_POLICIES;
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		fail_msg("the demo policies are not at %s (set CID_POLICIES_DIR)", dir);
	assert_int_equal(cid_policyset_load_dir(dir, stderr, &ps), CID_OK);
	assert_int_equal(cid_policyset_count(ps), 3);
	assert_string_equal(cid_policyset_service(ps, 0), "childcare");
	assert_string_equal(cid_policyset_service(ps, 1), "disaster-alert");
	assert_string_equal(cid_policyset_service(ps, 2), "library");
	cid_policy_eval(ps, "disaster-alert", "evacuation-support-register", "household_size", NULL,
			0, 1, NOW, &d);
	assert_int_equal(d.reason, CID_REASON_PERMIT_STATUTE);
	assert_non_null(strstr(d.statute, "災害対策基本法 第49条の10"));
	cid_policy_eval(ps, "disaster-alert", "alert-notification", "phone_number", NULL, 0, 1, NOW,
			&d);
	assert_int_equal(d.reason, CID_REASON_NO_CONSENT);
	cid_policy_eval(ps, "childcare", "fee-calculation", "email", NULL, 0, 2, NOW, &d);
	assert_int_equal(d.reason, CID_REASON_EXPLICIT_DENY);
	cid_policy_eval(ps, "childcare", "fee-calculation", "birthdate", NULL, 0, 1, NOW, &d);
	assert_int_equal(d.reason, CID_REASON_LEVEL_TOO_LOW);
	cid_policy_eval(ps, "childcare", "eligibility-certification", "resident_district", NULL, 0,
			1, NOW, &d);
	assert_int_equal(d.reason, CID_REASON_PERMIT_STATUTE);
	cid_policy_eval(ps, "library", "library-card", "birthdate", NULL, 0, 2, NOW, &d);
	assert_int_equal(d.reason, CID_REASON_NOT_IN_POLICY);
	cid_policyset_free(ps);
}

/* A policy's days for people: whole years of 365, else whole months of 30, else days. */
/*
 * Level 3 (an upstream login mapped to it) and `verified`: a level-3 rule
 * denies below it (level_too_low, min_level 3: a one-time code is not
 * enough) and permits at it; the decision says whether the permitting rule
 * asks for a verified value; `verified` joins the purpose digest, and a
 * deny or a doubled `verified` is an error.
 */
static void test_level3_and_verified(void **state)
{
	static const char head[] = "service s\nname.ja 名\nname.en N\npurpose p\ntext.ja 目的\n"
				   "text.en Purpose\nbasis statute Act 1\nretention 1y\n";

	static const struct {
		const char *attribute;
		int level;
		bool permit;
		enum cid_reason reason;
		int min_level;
		bool verified;
	} rows[] = {
	    {"address", CID_LEVEL_PASSWORD, false, CID_REASON_LEVEL_TOO_LOW, 3, true},
	    {"address", CID_LEVEL_MFA, false, CID_REASON_LEVEL_TOO_LOW, 3, true},
	    {"address", CID_LEVEL_HIGH, true, CID_REASON_PERMIT_STATUTE, 3, true},
	    {"birthdate", CID_LEVEL_PASSWORD, true, CID_REASON_PERMIT_STATUTE, 1, true},
	    {"email", CID_LEVEL_MFA, false, CID_REASON_LEVEL_TOO_LOW, 3, false},
	    {"email", CID_LEVEL_HIGH, true, CID_REASON_PERMIT_STATUTE, 3, false},
	    {"locale", CID_LEVEL_HIGH, true, CID_REASON_PERMIT_STATUTE, 1, false},
	};

	char text[512];
	char plain[CID_HASH_HEX + 1], with[CID_HASH_HEX + 1];
	struct cid_policyset *ps;

	(void)state;
	snprintf(text, sizeof(text), "%s%s", head,
		 "permit address level=3 verified\npermit birthdate verified\n"
		 "permit email level=3\npermit locale\n");
	ps = parse_ok("s.policy", text);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct cid_decision d;

		cid_policy_eval(ps, "s", "p", rows[i].attribute, NULL, 0, rows[i].level, NOW, &d);
		if (d.permit != rows[i].permit || d.reason != rows[i].reason ||
		    d.min_level != rows[i].min_level || d.verified != rows[i].verified)
			fail_msg("row %zu (%s at level %d): permit %d reason %s min %d verified %d",
				 i, rows[i].attribute, rows[i].level, d.permit,
				 cid_reason_name(d.reason), d.min_level, d.verified);
	}
	digest_of(ps, "s", "p", with);
	cid_policyset_free(ps);
	snprintf(text, sizeof(text), "%s%s", head,
		 "permit address level=3\npermit birthdate\npermit email level=3\npermit locale\n");
	ps = parse_ok("s.policy", text);
	digest_of(ps, "s", "p", plain);
	cid_policyset_free(ps);
	assert_string_not_equal(plain, with);
	for (size_t i = 0; i < 2; i++) {
		static const char *const bad[] = {"permit email verified verified\n",
						  "permit locale\ndeny email verified\n"};
		static const char *const why[] = {"verified given twice", "deny takes only"};
		char *errors = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&errors, &len);

		snprintf(text, sizeof(text), "%s%s", head, bad[i]);
		assert_non_null(f);
		assert_int_equal(cid_policyset_parse("s.policy", text, strlen(text), f, &ps),
				 CID_ERR_CONFIG);
		fclose(f);
		assert_non_null(strstr(errors, why[i]));
		free(errors);
	}
}

static void test_duration_in_words(void **state)
{
	static const struct {
		uint32_t days;
		const char *key;
		uint32_t n;
	} rows[] = {
	    {0, "dur.days", 0},	    {1, "dur.day", 1},	     {2, "dur.days", 2},
	    {30, "dur.month", 1},   {180, "dur.months", 6},  {365, "dur.year", 1},
	    {730, "dur.years", 2},  {31, "dur.days", 31},    {366, "dur.days", 366},
	    {1095, "dur.years", 3}, {390, "dur.months", 13},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *key = NULL;
		uint32_t n = 99;

		cid_policy_duration(rows[i].days, &key, &n);
		if (strcmp(key, rows[i].key) != 0 || n != rows[i].n)
			fail_msg("%u days: %s %u, expected %s %u", rows[i].days, key, n,
				 rows[i].key, rows[i].n);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_eval_table),
	    cmocka_unit_test(test_version_and_digest),
	    cmocka_unit_test(test_digest_follows_what_is_asked),
	    cmocka_unit_test(test_parse_error_table),
	    cmocka_unit_test(test_parse_reports_every_error),
	    cmocka_unit_test(test_parse_lenient_forms),
	    cmocka_unit_test(test_category_table),
	    cmocka_unit_test(test_describe),
	    cmocka_unit_test(test_subject_pairwise_or_public),
	    cmocka_unit_test(test_reason_names),
	    cmocka_unit_test(test_accessors_and_null),
	    cmocka_unit_test(test_policy_view),
	    cmocka_unit_test(test_eval_service_table),
	    cmocka_unit_test(test_load_dir),
	    cmocka_unit_test(test_load_dir_empty_denies_everything),
	    cmocka_unit_test(test_load_two_files_one_service),
	    cmocka_unit_test(test_load_reports_every_file),
	    cmocka_unit_test(test_demo_policies),
	    cmocka_unit_test(test_duration_in_words),
	    cmocka_unit_test(test_level3_and_verified),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
