/*
 * Tests of policy_law and of the policy keys it reads: the parser refuses
 * a malformed corporate number, an unknown relationship, a register text in
 * one language only, a repeated `sensitive`, each at its line; the check by
 * controller type refuses an ill-cited statute basis (local_government) and
 * a third party without its legal name and number (business), naming the
 * file and line, and lets the same set pass when the type does not ask;
 * the register holds what the policy says, and refuses a policy that lacks
 * a register text; written as CSV and JSON in ja and en.
 */
#include "policy_law.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))

#define HEAD "service svc\nname.ja サービス\nname.en Service\n"
#define REGISTER                                                                                   \
	"file.ja 保育所入所管理ファイル\nfile.en Nursery admission file\n"              \
	"organ.ja 子ども家庭課\norgan.en Children and Families Division\n"                   \
	"persons.ja 入所を申請した児童\npersons.en Children applying for a place\n"       \
	"collection.ja 本人からの申請\ncollection.en Applications\n"
#define PURPOSE(basis) "purpose p\ntext.ja 目的\ntext.en Purpose\nbasis " basis "\nretention 1y\n"
#define CONSENT	       PURPOSE("consent") "consent_valid 1y\n"

/* Parses text as "svc.policy"; *errors (caller frees) gets what it reported. */
static enum cid_err parse(const char *text, struct cid_policyset **ps, char **errors)
{
	size_t len = 0;
	FILE *f = open_memstream(errors, &len);

	assert_non_null(f);
	enum cid_err rc = cid_policyset_parse("svc.policy", text, strlen(text), f, ps);
	fclose(f);
	return rc;
}

struct parse_case {
	const char *text;
	const char *error; /* NULL: parses */
};

static const struct parse_case parse_cases[] = {
    {HEAD "recipient.number 7000012050002\n" CONSENT "permit email\n", NULL},
    {HEAD "recipient.number 8000012050002\n" CONSENT "permit email\n",
     "svc.policy:4: recipient.number '8000012050002' is not a corporate number"},
    {HEAD "recipient.number 700001205000\n" CONSENT "permit email\n",
     "svc.policy:4: recipient.number"},
    {HEAD "recipient.number 7000012050002 x\n" CONSENT "permit email\n", "takes one word"},
    {HEAD "relationship entrusted\n" CONSENT "permit email\n", NULL},
    {HEAD "relationship partner\n" CONSENT "permit email\n",
     "svc.policy:4: relationship must be third_party, entrusted or internal"},
    {HEAD "file.ja ファイル\n" CONSENT "permit email\n", "svc.policy:4: file.ja without file.en"},
    {HEAD "recipient_regular.en The prefecture\n" CONSENT "permit email\n",
     "svc.policy:4: recipient_regular.en without recipient_regular.ja"},
    {HEAD CONSENT "permit email\nfile.ja ファイル\n", "belongs before the first purpose"},
    {HEAD CONSENT "permit email sensitive\n", NULL},
    {HEAD CONSENT "permit email level=2 sensitive\n", NULL},
    {HEAD CONSENT "permit email sensitive sensitive\n", "svc.policy:10: sensitive given twice"},
    {HEAD CONSENT "permit email\ndeny phone_number sensitive\n", "deny takes only an attribute"},
};

static void test_parse_law_keys(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(parse_cases); i++) {
		struct cid_policyset *ps = NULL;
		char *errors = NULL;
		enum cid_err rc = parse(parse_cases[i].text, &ps, &errors);

		if (parse_cases[i].error == NULL && rc != CID_OK)
			fail_msg("case %zu: refused: %s", i, errors);
		if (parse_cases[i].error != NULL &&
		    (rc != CID_ERR_CONFIG || strstr(errors, parse_cases[i].error) == NULL))
			fail_msg("case %zu: rc %d, errors \"%s\", want \"%s\"", i, rc, errors,
				 parse_cases[i].error);
		cid_policyset_free(ps);
		free(errors);
	}
}

struct check_case {
	const char *text;
	enum cid_controller_type type;
	const char *error; /* NULL: passes */
};

static const struct check_case check_cases[] = {
    {HEAD PURPOSE("statute Test Act, Art. 1") "permit email\n", CID_CONTROLLER_UNDECLARED, NULL},
    {HEAD PURPOSE("statute Test Act, Art. 1") "permit email\n", CID_CONTROLLER_LOCAL_GOVERNMENT,
     "svc.policy:7: purpose p: the statute basis is not cited as the law requires "
     "(controller_type local_government): no article"},
    {HEAD PURPOSE("statute 住民基本台帳法 第12条 第1項") "permit email\n",
     CID_CONTROLLER_LOCAL_GOVERNMENT, NULL},
    {HEAD CONSENT "permit email\n", CID_CONTROLLER_LOCAL_GOVERNMENT, NULL},
    {HEAD CONSENT "permit email\n", CID_CONTROLLER_BUSINESS,
     "svc.policy:1: service svc is a third party (controller_type business): its provision "
     "records need recipient.name"},
    {HEAD "recipient.name 株式会社アルファ\n" CONSENT "permit email\n", CID_CONTROLLER_BUSINESS,
     "recipient.number"},
    {HEAD "recipient.name 株式会社アルファ\nrecipient.number 5010401067252\n" CONSENT
	  "permit email\n",
     CID_CONTROLLER_BUSINESS, NULL},
    {HEAD "relationship entrusted\n" CONSENT "permit email\n", CID_CONTROLLER_BUSINESS, NULL},
    {HEAD "relationship internal\n" CONSENT "permit email\n", CID_CONTROLLER_BUSINESS, NULL},
    /* a business may rely on a statute without a Japanese citation form */
    {HEAD "relationship internal\n" PURPOSE("statute Test Act, Art. 1") "permit email\n",
     CID_CONTROLLER_BUSINESS, NULL},
};

static void test_check_by_controller_type(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(check_cases); i++) {
		struct cid_policyset *ps = NULL;
		char *errors = NULL;
		size_t len = 0;

		assert_int_equal(parse(check_cases[i].text, &ps, &errors), CID_OK);
		free(errors);
		errors = NULL;
		FILE *f = open_memstream(&errors, &len);
		assert_non_null(f);
		enum cid_err rc = cid_policyset_law_check(ps, check_cases[i].type, f);
		fclose(f);
		if (check_cases[i].error == NULL && rc != CID_OK)
			fail_msg("case %zu: refused: %s", i, errors);
		if (check_cases[i].error != NULL &&
		    (rc != CID_ERR_CONFIG || strstr(errors, check_cases[i].error) == NULL))
			fail_msg("case %zu: rc %d, errors \"%s\", want \"%s\"", i, rc, errors,
				 check_cases[i].error);
		cid_policyset_free(ps);
		free(errors);
	}
}

static void test_recipient_of_a_policy(void **state)
{
	struct cid_policyset *ps = NULL;
	struct cid_recipient_info r;
	char *errors = NULL;

	(void)state;
	assert_int_equal(parse(HEAD "recipient.name 株式会社アルファ\nrecipient.number "
				    "5010401067252\nrelationship entrusted\n" CONSENT
				    "permit email\n",
			       &ps, &errors),
			 CID_OK);
	cid_policy_recipient(cid_policyset_find(ps, "svc"), &r);
	assert_string_equal(r.name, "株式会社アルファ");
	assert_string_equal(r.corporate_number, "5010401067252");
	assert_int_equal(r.relationship, CID_RELATIONSHIP_ENTRUSTED);
	cid_policy_recipient(NULL, &r);
	assert_null(r.name);
	assert_int_equal(r.relationship, CID_RELATIONSHIP_THIRD_PARTY);
	cid_policyset_free(ps);
	free(errors);
}

static char *write_register(const json_t *reg, const char *lang, bool csv)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	assert_int_equal(cid_policy_register_write(reg, lang, csv, f), CID_OK);
	fclose(f);
	return text;
}

static void test_register_from_the_policy(void **state)
{
	struct cid_policyset *ps = NULL;
	json_t *reg = NULL;
	char *errors = NULL;

	(void)state;
	assert_int_equal(
	    parse(HEAD REGISTER
		  "recipient_regular.ja 県\nrecipient_regular.en The "
		  "prefecture\n" PURPOSE(
		      "statute 地方税法 第22条") "permit family_name\npermit birthdate sensitive\n"
						 "deny email\npurpose q\ntext.ja 連絡\ntext.en "
						 "Contact\nbasis consent\nretention 1y\n"
						 "consent_valid 1y\npermit email\npermit "
						 "family_name\n",
		  &ps, &errors),
	    CID_OK);
	assert_int_equal(cid_policy_register(ps, NULL, &reg), CID_OK);
	assert_int_equal(json_array_size(reg), 1);
	const json_t *row = json_array_get(reg, 0);
	assert_string_equal(json_string_value(json_object_get(json_object_get(row, "file"), "ja")),
			    "保育所入所管理ファイル");
	/* email: denied in p, permitted in q; family_name once though in both */
	char *items = json_dumps(json_object_get(row, "items"), JSON_COMPACT);
	assert_string_equal(items, "[\"birthdate\",\"email\",\"family_name\"]");
	free(items);
	assert_true(json_is_true(json_object_get(row, "sensitive")));
	assert_int_equal(json_array_size(json_object_get(row, "purposes")), 2);

	char *csv = write_register(reg, "ja", true);
	assert_non_null(strstr(csv, "\xEF\xBB\xBF"
				    "ファイル名,保有機関,利用目的,記録項目,記録範囲,収集方法,"
				    "要配慮個人情報,通常の提供先,サービス,ポリシー版\r\n"));
	assert_non_null(strstr(csv, "保育所入所管理ファイル,子ども家庭課,目的、連絡,"
				    "birthdate、email、family_name,入所を申請した児童,"
				    "本人からの申請,含む（birthdate）,県,svc,"));
	free(csv);
	csv = write_register(reg, "en", true);
	assert_non_null(strstr(csv, "Nursery admission file,Children and Families Division,"
				    "Purpose; Contact,birthdate; email; family_name,"
				    "Children applying for a place,Applications,yes (birthdate),"
				    "The prefecture,svc,"));
	free(csv);
	char *json = write_register(reg, "en", false);
	json_t *flat = json_loads(json, 0, NULL);
	assert_non_null(flat);
	assert_string_equal(json_string_value(json_object_get(json_array_get(flat, 0), "organ")),
			    "Children and Families Division");
	json_decref(flat);
	free(json);
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	assert_int_equal(cid_policy_register_write(reg, "fr", true, f), CID_ERR_INVALID);
	fclose(f);
	free(out);
	json_decref(reg);
	cid_policyset_free(ps);
	free(errors);
}

static void test_register_refuses_a_policy_without_its_texts(void **state)
{
	struct cid_policyset *ps = NULL;
	json_t *reg = NULL;
	char *errors = NULL, *reported = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(
	    parse(HEAD "file.ja ファイル\nfile.en File\n" CONSENT "permit email\n", &ps, &errors),
	    CID_OK);
	FILE *f = open_memstream(&reported, &len);
	assert_int_equal(cid_policy_register(ps, f, &reg), CID_ERR_CONFIG);
	fclose(f);
	assert_null(reg);
	assert_non_null(strstr(reported, "svc.policy:1: no organ.ja"));
	assert_non_null(strstr(reported, "svc.policy:1: no persons.ja"));
	assert_non_null(strstr(reported, "svc.policy:1: no collection.ja"));
	assert_null(strstr(reported, "no file.ja"));
	free(reported);
	cid_policyset_free(ps);
	free(errors);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_law_keys),
	    cmocka_unit_test(test_check_by_controller_type),
	    cmocka_unit_test(test_recipient_of_a_policy),
	    cmocka_unit_test(test_register_from_the_policy),
	    cmocka_unit_test(test_register_refuses_a_policy_without_its_texts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
