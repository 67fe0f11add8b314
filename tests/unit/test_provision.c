/*
 * Tests of provision: on a real store with real log entries and archived
 * policies, the records group releases by recipient and citizen; a third
 * party's carries the legal name and corporate number of the policy version
 * each release was decided under (the newest deciding); an entrusted and an
 * internal recipient are listed apart; a version the archive lacks is a
 * third party without a name, listed; denials and consent events make no
 * record; the recipient and time filters hold; the purge is refused while a
 * record is within its 3 years and allowed after; the CSV holds the records
 * and nothing else.
 */
#include "audit.h"
#include "policy.h"
#include "policy_archive.h"
#include "provision.h"
#include "support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define NOW    ((int64_t)1796432400) /* 2026-12-05T01:00:00Z, 10:00 in Japan */
#define ISS    "https://id.example"
#define HANAKO "0a1b2c3d-0000-4000-8000-000000000001"
#define TARO   "0a1b2c3d-0000-4000-8000-000000000002"

#define POLICY(service, head)                                                                      \
	"service " service "\nname.ja " service "\nname.en " service "\n" head                     \
	"purpose fees\ntext.ja 目的\ntext.en Purpose\nbasis consent\nretention 1y\n"             \
	"consent_valid 1y\npermit email\npermit family_name\n"

static const struct {
	const char *file, *text;
} policies[] = {
    {"alpha.policy", POLICY("alpha", "recipient.name 株式会社アルファ\nrecipient.number "
				     "5010401067252\n")},
    /* alpha's next version: renamed */
    {"alpha.policy", POLICY("alpha", "recipient.name 株式会社アルファ新\nrecipient.number "
				     "5010401067252\n")},
    {"beta.policy", POLICY("beta", "recipient.name 株式会社ベータ\nrelationship entrusted\n")},
    {"desk.policy", POLICY("desk", "relationship internal\n")},
};

#define N_POLICIES (sizeof(policies) / sizeof(policies[0]))

struct fixture {
	char dir[256];
	struct cid_store *s;
	struct cid_audit *log;
	char versions[N_POLICIES][CID_HASH_HEX + 1];
};

static void archive(struct fixture *f, size_t i)
{
	struct cid_policyset *ps = NULL;

	assert_int_equal(cid_policyset_parse(policies[i].file, policies[i].text,
					     strlen(policies[i].text), stderr, &ps),
			 CID_OK);
	assert_int_equal(cid_policy_archive_put(f->s, ps, NOW, NULL), CID_OK);
	snprintf(f->versions[i], sizeof(f->versions[i]), "%s",
		 cid_policyset_version(ps, cid_policyset_service(ps, 0)));
	cid_policyset_free(ps);
}

/* Appends one entry; version NULL: none, "" a version never archived. */
static void entry(struct fixture *f, const char *type, const char *citizen, const char *service,
		  const char *attribute, const char *basis, const char *record, const char *version,
		  int64_t t)
{
	char time[21];
	uint64_t seq;

	assert_int_equal(cid_audit_time(t, time), CID_OK);
	json_t *e = json_pack("{s:s, s:s, s:s, s:s, s:[s], s:s, s:s}", "time", time, "type", type,
			      "citizen", citizen, "service", service, "attributes", attribute,
			      "actor", "service", "basis", basis);
	assert_non_null(e);
	if (record != NULL)
		assert_int_equal(
		    json_object_set_new(e, "consent_records", json_pack("[s]", record)), 0);
	if (version != NULL)
		assert_int_equal(
		    json_object_set_new(
			e, "policy_version",
			json_string(version[0] != '\0'
					? version
					: "00000000000000000000000000000000000000000000000000000000"
					  "00000000")),
		    0);
	/* version may be f->versions[i], whose NULL test the analyzer takes for one of f */
	// NOLINTNEXTLINE(clang-analyzer-core.NullDereference): f is set
	assert_int_equal(cid_audit_append(f->log, &e, 1, &seq), CID_OK);
	json_decref(e);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->s = cid_test_store_open(f->dir);
	assert_int_equal(cid_audit_issuer_record(f->s, ISS, NULL), CID_OK);
	assert_int_equal(cid_audit_open(f->s, true, &f->log), CID_OK);
	for (size_t i = 0; i < N_POLICIES; i++)
		archive(f, i);
	entry(f, "release.permit", HANAKO, "alpha", "email", "consent", "rec-1", f->versions[0],
	      NOW);
	entry(f, "release.permit", HANAKO, "alpha", "family_name#ja-Kana-JP", "consent", "rec-2",
	      f->versions[1], NOW + 86400);
	entry(f, "release.deny", TARO, "alpha", "email", "consent", NULL, f->versions[1], NOW);
	entry(f, "consent.granted", TARO, "alpha", "email", "consent", "rec-3", f->versions[1],
	      NOW);
	entry(f, "release.permit", TARO, "beta", "email", "consent", "rec-4", f->versions[2], NOW);
	entry(f, "release.permit", TARO, "desk", "email", "statute:法 第1条", NULL, f->versions[3],
	      NOW);
	entry(f, "release.permit", TARO, "gamma", "email", "statute:法 第1条", NULL, "", NOW);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	cid_audit_close(f->log);
	cid_test_store_close(f->s, f->dir);
	free(f);
	return 0;
}

static json_t *records(struct fixture *f, const struct cid_provision_query *q)
{
	struct cid_txn *txn = NULL;
	json_t *out = NULL;

	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_provision_records(txn, q, &out), CID_OK);
	cid_store_read_end(txn);
	return out;
}

static char *dump(const json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);

	assert_non_null(s);
	return s;
}

/* dump, of a value made for it (released) */
static char *dump_new(json_t *v)
{
	char *s = dump(v);

	json_decref(v);
	return s;
}

static void test_records_per_recipient_and_citizen(void **state)
{
	struct fixture *f = *state;
	json_t *r = records(f, NULL);
	const json_t *p = json_object_get(r, "provisions");
	char *s;

	/* alpha/hanako and gamma/taro; beta and desk apart; no deny or consent event */
	assert_int_equal(json_array_size(p), 2);
	const json_t *alpha = json_array_get(p, 0);
	assert_string_equal(cid_json_str(alpha, "service"), "alpha");
	assert_string_equal(cid_json_str(alpha, "citizen"), HANAKO);
	/* the newest release's version names the recipient */
	s = dump(json_object_get(alpha, "recipient"));
	assert_string_equal(
	    s, "{\"corporate_number\":\"5010401067252\",\"name\":\"株式会社アルファ新\","
	       "\"relationship\":\"third_party\"}");
	free(s);
	s = dump_new(
	    json_pack("[O,O,O,O,O]", json_object_get(alpha, "attributes"),
		      json_object_get(alpha, "consent_records"), json_object_get(alpha, "dates"),
		      json_object_get(alpha, "consent_obtained"), json_object_get(alpha, "count")));
	assert_string_equal(s, "[[\"email\",\"family_name#ja-Kana-JP\"],[\"rec-1\",\"rec-2\"],"
			       "[\"2026-12-05\",\"2026-12-06\"],true,2]");
	free(s);
	assert_string_equal(cid_json_str(alpha, "first"), "2026-12-05T01:00:00Z");
	assert_string_equal(cid_json_str(alpha, "last"), "2026-12-06T01:00:00Z");
	/* a version the archive lacks: a third party without a name, listed */
	const json_t *gamma = json_array_get(p, 1);
	assert_string_equal(cid_json_str(gamma, "service"), "gamma");
	s = dump_new(json_pack("[O,O]", json_object_get(gamma, "recipient"),
			       json_object_get(gamma, "consent_obtained")));
	assert_string_equal(
	    s,
	    "[{\"corporate_number\":null,\"name\":null,\"relationship\":\"third_party\"},false]");
	free(s);
	/* entrusted and internal: apart, labelled */
	s = dump(json_object_get(r, "not_third_party"));
	assert_non_null(strstr(s, "\"name\":\"株式会社ベータ\",\"relationship\":\"entrusted\""));
	assert_non_null(strstr(s, "\"relationship\":\"internal\""));
	assert_int_equal(json_array_size(json_object_get(r, "not_third_party")), 2);
	free(s);
	json_decref(r);
}

static void test_records_filters(void **state)
{
	struct fixture *f = *state;
	struct cid_provision_query q = {.recipient = "alpha"};
	json_t *r = records(f, &q);
	struct cid_txn *txn = NULL;
	json_t *none = NULL;

	assert_int_equal(json_array_size(json_object_get(r, "provisions")), 1);
	assert_int_equal(json_array_size(json_object_get(r, "not_third_party")), 0);
	json_decref(r);
	q = (struct cid_provision_query){.from = "2026-12-06T00:00:00Z"};
	r = records(f, &q);
	assert_int_equal(json_array_size(json_object_get(r, "provisions")), 1);
	assert_int_equal(cid_json_int(json_array_get(json_object_get(r, "provisions"), 0), "count"),
			 1);
	json_decref(r);
	q = (struct cid_provision_query){.from = "yesterday"};
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_provision_records(txn, &q, &none), CID_ERR_INVALID);
	cid_store_read_end(txn);
	assert_null(none);
}

/* cid_provision_records_purge_allowed of records, all the records of every time. */
static bool purge_allowed(const json_t *records, const json_t *all, int64_t now,
			  const json_t **refused, char keep[11])
{
	bool allowed = false;

	assert_int_equal(
	    cid_provision_records_purge_allowed(records, all, now, &allowed, refused, keep),
	    CID_OK);
	return allowed;
}

static void test_purge_refused_within_retention(void **state)
{
	struct fixture *f = *state;
	json_t *r = records(f, NULL);
	const json_t *p = json_object_get(r, "provisions");
	const json_t *refused = NULL;
	char keep[11];

	/* alpha's last provision is 6 Dec 2026: kept through 6 Dec 2029 */
	assert_false(purge_allowed(p, r, NOW + (int64_t)365 * 86400, &refused, keep));
	assert_string_equal(cid_json_str(refused, "service"), "alpha");
	assert_string_equal(keep, "2029-12-06");
	/* gamma (5 Dec) is free from 6 Dec 2029, alpha still kept that day */
	refused = NULL;
	assert_false(purge_allowed(p, r, (int64_t)1891177200 + 86400 - 1, &refused, keep));
	assert_string_equal(cid_json_str(refused, "service"), "alpha");
	assert_true(purge_allowed(p, r, (int64_t)1891177200 + 86400, &refused, keep));
	assert_true(purge_allowed(json_object_get(r, "none"), r, NOW, &refused, keep));
	json_decref(r);
}

/*
 * The check of the records before a day: alpha's provisions to hanako
 * before it ended in Dec 2026, but one more came on 19 Mar 2030, after the
 * day: the record is one (recipient, citizen), kept 3 years from its newest
 * provision, so it is refused in Jan 2030 though its part before the day
 * alone would be past its 3 years.
 */
static void test_purge_counts_a_provision_after_the_day(void **state)
{
	struct fixture *f = *state;
	const struct cid_provision_query before = {.to = "2029-12-09T01:00:00Z"};
	json_t *r, *all;
	const json_t *refused = NULL;
	char keep[11];

	entry(f, "release.permit", HANAKO, "alpha", "email", "consent", "rec-9", f->versions[1],
	      NOW + (int64_t)1200 * 86400);
	r = records(f, &before);
	all = records(f, NULL);
	assert_string_equal(
	    cid_json_str(json_array_get(json_object_get(r, "provisions"), 0), "last"),
	    "2026-12-06T01:00:00Z");
	assert_false(purge_allowed(json_object_get(r, "provisions"), all,
				   NOW + (int64_t)1150 * 86400, &refused, keep));
	assert_string_equal(cid_json_str(refused, "service"), "alpha");
	assert_string_equal(cid_json_str(refused, "citizen"), HANAKO);
	assert_string_equal(cid_json_str(refused, "last"), "2030-03-19T01:00:00Z");
	assert_string_equal(keep, "2033-03-19");
	/* kept through 19 Mar 2033 in Japan; from the 20th the records before the day may go */
	assert_false(purge_allowed(json_object_get(r, "provisions"), all, (int64_t)1994857200 - 1,
				   &refused, keep));
	assert_true(purge_allowed(json_object_get(r, "provisions"), all, (int64_t)1994857200,
				  &refused, keep));
	json_decref(all);
	json_decref(r);
}

static void test_records_csv(void **state)
{
	struct fixture *f = *state;
	json_t *r = records(f, NULL);
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	assert_non_null(out);
	assert_int_equal(cid_provision_records_csv(r, out), CID_OK);
	fclose(out);
	assert_non_null(strstr(text,
			       "\xEF\xBB\xBF"
			       "recipient_service,recipient_name,corporate_number,relationship,"
			       "citizen,items,consent_obtained,consent_records,bases,dates,first,"
			       "last,releases\r\n"));
	assert_non_null(strstr(text, "alpha,株式会社アルファ新,5010401067252,third_party," HANAKO
				     ",email family_name#ja-Kana-JP,yes,rec-1 rec-2,consent,"
				     "2026-12-05 2026-12-06,2026-12-05T01:00:00Z,"
				     "2026-12-06T01:00:00Z,2\r\n"));
	assert_non_null(strstr(text, "gamma,,,third_party," TARO ",email,no,,statute:法 第1条,"));
	assert_null(strstr(text, "beta"));
	assert_null(strstr(text, "desk"));
	free(text);
	json_decref(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_records_per_recipient_and_citizen, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_records_filters, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_purge_refused_within_retention, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_purge_counts_a_provision_after_the_day, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_records_csv, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
