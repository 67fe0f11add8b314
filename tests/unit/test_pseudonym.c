/*
 * Tests of pseudonym: a scope (account, service, purpose) gets one random
 * pseudonym, made once and resolved back; bad names are refused; a purge
 * removes both directions, and again is a no-op; entries appended to the log
 * name the pseudonym, never the account id, while a query by citizen still
 * finds them; a look-up of a pseudonym by an officer is on the record.
 */
#include "audit.h"
#include "pseudonym.h"
#include "support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define NOW    1800000000
#define HANAKO "0a1b2c3d-0000-4000-8000-000000000001"
#define TARO   "0a1b2c3d-0000-4000-8000-000000000002"

struct make_args {
	const char *account, *service, *purpose;
	char out[CID_PSEUDONYM_CHARS + 1];
	enum cid_err rc;
};

static enum cid_err make_cb(struct cid_txn *txn, void *arg)
{
	struct make_args *a = arg;

	a->rc = cid_pseudonym_get_or_make(txn, a->account, a->service, a->purpose, a->out);
	return CID_OK;
}

/* The pseudonym of a scope, made if need be; the error of the call in *rc. */
static enum cid_err make(struct cid_test_audit *f, const char *account, const char *service,
			 const char *purpose, char out[CID_PSEUDONYM_CHARS + 1])
{
	struct make_args a = {account, service, purpose, {0}, CID_OK};

	assert_int_equal(cid_store_update(f->s, make_cb, &a), CID_OK);
	if (a.rc == CID_OK)
		memcpy(out, a.out, sizeof(a.out));
	return a.rc;
}

static enum cid_err resolve(struct cid_test_audit *f, const char *p, json_t **out)
{
	struct cid_txn *txn = NULL;
	enum cid_err rc;

	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	rc = cid_pseudonym_resolve(txn, p, out);
	cid_store_read_end(txn);
	return rc;
}

struct purge_args {
	const char *p;
	bool purged;
	enum cid_err rc;
};

static enum cid_err purge_cb(struct cid_txn *txn, void *arg)
{
	struct purge_args *a = arg;

	a->rc = cid_pseudonym_purge(txn, a->p, &a->purged);
	return CID_OK;
}

static enum cid_err purge(struct cid_test_audit *f, const char *p, bool *purged)
{
	struct purge_args a = {p, false, CID_OK};

	assert_int_equal(cid_store_update(f->s, purge_cb, &a), CID_OK);
	*purged = a.purged;
	return a.rc;
}

/* One scope, one pseudonym: made once, of the right shape, resolved back to its scope. */
static void test_one_pseudonym_per_scope(void **state)
{
	static const struct {
		const char *account, *service, *purpose;
	} scopes[] = {
	    {HANAKO, "childcare", "fees"}, {HANAKO, "childcare", "visits"},
	    {HANAKO, "library", "fees"},   {TARO, "childcare", "fees"},
	    {HANAKO, NULL, NULL},	   {HANAKO, "childcare", NULL},
	};
	struct cid_test_audit *f = *state;
	char p[6][CID_PSEUDONYM_CHARS + 1];
	char again[CID_PSEUDONYM_CHARS + 1];
	json_t *scope = NULL;

	for (size_t i = 0; i < 6; i++) {
		assert_int_equal(
		    make(f, scopes[i].account, scopes[i].service, scopes[i].purpose, p[i]), CID_OK);
		assert_true(cid_pseudonym_syntax_ok(p[i]));
		assert_null(strstr(p[i], scopes[i].account));
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(p[i], p[j]);
		assert_int_equal(
		    make(f, scopes[i].account, scopes[i].service, scopes[i].purpose, again),
		    CID_OK);
		assert_string_equal(again, p[i]);
		assert_int_equal(resolve(f, p[i], &scope), CID_OK);
		assert_string_equal(cid_json_str(scope, "citizen"), scopes[i].account);
		assert_string_equal(cid_json_str(scope, "service"),
				    scopes[i].service != NULL ? scopes[i].service : "");
		assert_string_equal(cid_json_str(scope, "purpose"),
				    scopes[i].purpose != NULL ? scopes[i].purpose : "");
		json_decref(scope);
		scope = NULL;
	}
}

/* Whether a citizen has a scope of a purpose, read from the mapping's keys. */
static bool purposed(struct cid_test_audit *f, const char *account)
{
	struct cid_txn *txn = NULL;
	bool any = true;

	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_pseudonym_purposed(txn, account, &any), CID_OK);
	cid_store_read_end(txn);
	return any;
}

/* Scopes of no purpose (the citizen's own, a service's) are not scopes of a purpose. */
static void test_purposed_reads_the_scopes(void **state)
{
	struct cid_test_audit *f = *state;
	char p[CID_PSEUDONYM_CHARS + 1];
	bool any;

	assert_false(purposed(f, HANAKO)); /* none at all */
	assert_int_equal(make(f, HANAKO, NULL, NULL, p), CID_OK);
	assert_int_equal(make(f, HANAKO, "childcare", NULL, p), CID_OK);
	assert_false(purposed(f, HANAKO));
	assert_int_equal(make(f, TARO, "childcare", "fees", p), CID_OK);
	assert_false(purposed(f, HANAKO)); /* another citizen's */
	assert_true(purposed(f, TARO));
	assert_int_equal(make(f, HANAKO, "library", "fees", p), CID_OK);
	assert_true(purposed(f, HANAKO));
	assert_int_equal(cid_pseudonym_purposed(NULL, "", &any), CID_ERR_INVALID);
}

/* Names that cannot be a scope, and strings that are not pseudonyms. */
static void test_bad_input(void **state)
{
	struct cid_test_audit *f = *state;
	char longname[CID_AUDIT_MAX_NAME + 2];
	char p[CID_PSEUDONYM_CHARS + 1];
	json_t *scope = NULL;
	bool purged = true;
	static const char *const not_pseudonyms[] = {
	    "",
	    "ps_",
	    "ps_0123456789abcdef0123456789abcde",   /* 31 digits */
	    "ps_0123456789abcdef0123456789abcdef0", /* 33 */
	    "ps_0123456789ABCDEF0123456789abcdef",  /* upper case */
	    "px_0123456789abcdef0123456789abcdef",
	    HANAKO,
	};

	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(make(f, NULL, "childcare", "fees", p), CID_ERR_INVALID);
	assert_int_equal(make(f, "", "childcare", "fees", p), CID_ERR_INVALID);
	assert_int_equal(make(f, "a\nb", "childcare", "fees", p), CID_ERR_INVALID);
	assert_int_equal(make(f, HANAKO, "child\ncare", "fees", p), CID_ERR_INVALID);
	assert_int_equal(make(f, HANAKO, "childcare", "fe\nes", p), CID_ERR_INVALID);
	assert_int_equal(make(f, longname, "childcare", "fees", p), CID_ERR_INVALID);
	for (size_t i = 0; i < sizeof(not_pseudonyms) / sizeof(not_pseudonyms[0]); i++) {
		assert_false(cid_pseudonym_syntax_ok(not_pseudonyms[i]));
		assert_int_equal(resolve(f, not_pseudonyms[i], &scope), CID_ERR_INVALID);
		assert_int_equal(purge(f, not_pseudonyms[i], &purged), CID_ERR_INVALID);
	}
	assert_false(cid_pseudonym_syntax_ok(NULL));
	assert_int_equal(resolve(f, "ps_0123456789abcdef0123456789abcdef", &scope),
			 CID_ERR_NOTFOUND);
	assert_null(scope);
}

/* A purge removes both directions; a second one finds nothing; the scope then gets a new one. */
static void test_purge_is_idempotent(void **state)
{
	struct cid_test_audit *f = *state;
	char p[CID_PSEUDONYM_CHARS + 1];
	char other[CID_PSEUDONYM_CHARS + 1];
	char next[CID_PSEUDONYM_CHARS + 1];
	struct cid_txn *txn = NULL;
	json_t *names = NULL;
	json_t *scope = NULL;
	bool purged = false;

	assert_int_equal(make(f, HANAKO, "childcare", "fees", p), CID_OK);
	assert_int_equal(make(f, HANAKO, "library", "loans", other), CID_OK);
	assert_int_equal(purge(f, p, &purged), CID_OK);
	assert_true(purged);
	assert_int_equal(resolve(f, p, &scope), CID_ERR_NOTFOUND);
	assert_int_equal(purge(f, p, &purged), CID_OK);
	assert_false(purged);
	/* the other scope of the citizen is untouched */
	assert_int_equal(resolve(f, other, &scope), CID_OK);
	json_decref(scope);
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_pseudonym_names(txn, HANAKO, &names), CID_OK);
	cid_store_read_end(txn);
	assert_int_equal(json_array_size(names), 2); /* the account id, and the other scope's */
	assert_string_equal(json_string_value(json_array_get(names, 0)), HANAKO);
	assert_string_equal(json_string_value(json_array_get(names, 1)), other);
	json_decref(names);
	assert_int_equal(make(f, HANAKO, "childcare", "fees", next), CID_OK);
	assert_string_not_equal(next, p);
}

static json_t *release_entry(const char *account, const char *service, const char *purpose)
{
	json_t *e =
	    json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:[s]}", "type", "release.permit", "time",
		      "2027-01-15T08:00:00Z", "actor", "service", "citizen", account, "service",
		      service, "purpose", purpose, "attributes", "email");

	assert_non_null(e);
	return e;
}

static enum cid_err count_cb(uint64_t seq, struct cid_str entry, void *arg)
{
	size_t *n = arg;

	(void)seq;
	(void)entry;
	(*n)++;
	return CID_OK;
}

/* What the log holds names the pseudonym; the citizen's readers still find every entry. */
static void test_entries_name_the_pseudonym(void **state)
{
	struct cid_test_audit *f = *state;
	json_t *e[3] = {release_entry(HANAKO, "childcare", "fees"),
			release_entry(HANAKO, "library", "loans"),
			release_entry(TARO, "childcare", "fees")};
	struct cid_audit_filter by_hanako = {.citizen = HANAKO};
	struct cid_audit_filter newest = {.citizen = HANAKO, .newest_first = true, .limit = 1};
	struct cid_txn *txn = NULL;
	json_t *got = NULL;
	json_t *trail = NULL;
	char *p;
	size_t n = 0;

	assert_int_equal(cid_audit_append(f->log, e, 3, NULL), CID_OK);
	p = cid_test_pseudonym(f->s, HANAKO, "childcare", "fees");
	assert_non_null(p);
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_audit_get(txn, 0, &got), CID_OK);
	assert_string_equal(cid_json_str(got, "citizen"), p);
	json_decref(got);
	assert_int_equal(cid_audit_query(txn, &by_hanako, count_cb, &n), CID_OK);
	assert_int_equal(n, 2);
	n = 0;
	assert_int_equal(cid_audit_query(txn, &newest, count_cb, &n), CID_OK);
	assert_int_equal(n, 1);
	assert_int_equal(cid_audit_citizen(txn, HANAKO, 0, 10, &trail), CID_OK);
	assert_int_equal(json_array_size(trail), 2);
	assert_int_equal(cid_json_int(json_array_get(trail, 0), "seq"), 1); /* newest first */
	assert_string_equal(cid_json_str(json_array_get(trail, 0), "service"), "library");
	json_decref(trail);
	cid_store_read_end(txn);
	for (size_t i = 0; i < 3; i++)
		json_decref(e[i]);
	free(p);
}

/* A search by citizen names the citizen's pseudonym of no purpose, in ext too; the caller's entry
 * is left alone. */
static void test_filter_citizen_is_pseudonymous(void **state)
{
	struct cid_test_audit *f = *state;
	struct cid_audit_filter filter = {.citizen = HANAKO, .type = "release."};
	struct cid_audit_officer_act x = {.act = CID_AUDIT_OFFICER_SEARCHED,
					  .officer = "alice",
					  .citizen = HANAKO,
					  .filter = &filter,
					  .rows = 1,
					  .now = NOW};
	struct cid_txn *txn = NULL;
	json_t *e = NULL;
	json_t *got = NULL;
	char *p;

	assert_int_equal(cid_audit_officer_entry(&x, &e), CID_OK);
	assert_int_equal(cid_audit_append(f->log, &e, 1, NULL), CID_OK);
	assert_string_equal(cid_json_str(e, "citizen"), HANAKO);
	assert_string_equal(cid_json_str(json_object_get(e, "ext"), "citizen"), HANAKO);
	json_decref(e);
	p = cid_test_pseudonym(f->s, HANAKO, NULL, NULL);
	assert_non_null(p);
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_audit_get(txn, 0, &got), CID_OK);
	cid_store_read_end(txn);
	assert_string_equal(cid_json_str(got, "citizen"), p);
	assert_string_equal(cid_json_str(json_object_get(got, "ext"), "citizen"), p);
	assert_string_equal(cid_json_str(json_object_get(got, "ext"), "type"), "release.");
	json_decref(got);
	free(p);
}

/* An officer's look-up is logged before it answers, found or not. */
static void test_resolve_is_on_the_record(void **state)
{
	struct cid_test_audit *f = *state;
	json_t *e = release_entry(HANAKO, "childcare", "fees");
	struct cid_txn *txn = NULL;
	json_t *scope = NULL;
	json_t *got = NULL;
	char *p;
	bool purged;

	assert_int_equal(cid_audit_append(f->log, &e, 1, NULL), CID_OK);
	json_decref(e);
	p = cid_test_pseudonym(f->s, HANAKO, "childcare", "fees");
	assert_int_equal(
	    cid_audit_resolve(f->log, "officer:privacy", p, "開示請求 2027-014", NOW, &scope),
	    CID_OK);
	assert_string_equal(cid_json_str(scope, "citizen"), HANAKO);
	json_decref(scope);
	scope = NULL;
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_audit_get(txn, 1, &got), CID_OK);
	cid_store_read_end(txn);
	assert_string_equal(cid_json_str(got, "type"), "officer.resolved");
	assert_string_equal(cid_json_str(got, "actor"), "officer:privacy");
	assert_string_equal(cid_json_str(got, "citizen"), p); /* kept, not mapped again */
	assert_string_equal(cid_json_str(json_object_get(got, "ext"), "found"), "true");
	assert_string_equal(cid_json_str(json_object_get(got, "ext"), "reason"),
			    "開示請求 2027-014");
	json_decref(got);
	assert_int_equal(purge(f, p, &purged), CID_OK);
	assert_int_equal(cid_audit_resolve(f->log, "operator", p, NULL, NOW, &scope),
			 CID_ERR_NOTFOUND);
	assert_null(scope);
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_audit_get(txn, 2, &got), CID_OK);
	cid_store_read_end(txn);
	assert_string_equal(cid_json_str(got, "endpoint"), "cli");
	assert_string_equal(cid_json_str(json_object_get(got, "ext"), "found"), "false");
	assert_null(json_object_get(json_object_get(got, "ext"), "reason")); /* none given */
	json_decref(got);
	/* who may look: an officer or the operator */
	assert_int_equal(cid_audit_resolve(f->log, "citizen", p, NULL, NOW, &scope),
			 CID_ERR_INVALID);
	assert_int_equal(cid_audit_resolve(f->log, "officer:", p, NULL, NOW, &scope),
			 CID_ERR_INVALID);
	assert_int_equal(cid_audit_resolve(f->log, "operator", HANAKO, NULL, NOW, &scope),
			 CID_ERR_INVALID);
	/* a reason is one line of UTF-8, bounded; a bad one is refused before anything is logged */
	{
		static const char *const bad[] = {"two\nlines", "tab\there", "\xff\xfe", NULL};
		/* 200 characters of Japanese (600 bytes) are one reason */
		char kana[CID_AUDIT_MAX_REASON + 1] = "";
		bool given = false;

		for (size_t i = 0; i < CID_AUDIT_REASON_CHARS; i++)
			memcpy(kana + 3 * i, "\xe3\x81\x82", 4); /* あ */
		assert_int_equal(cid_audit_reason_check(kana, true, &given), CID_OK);
		assert_true(given);
		/* an officer must say why: none, or only white space of any script, is refused */
		assert_int_equal(cid_audit_reason_check(NULL, true, &given), CID_ERR_INVALID);
		assert_int_equal(cid_audit_reason_check(" \xc2\xa0\xe3\x80\x80", true, &given),
				 CID_ERR_INVALID);
		assert_int_equal(cid_audit_reason_check("\xe3\x80\x80", false, &given), CID_OK);
		assert_false(given);
		assert_int_equal(cid_audit_resolve(f->log, "officer:privacy", p, NULL, NOW, &scope),
				 CID_ERR_INVALID);
		assert_int_equal(
		    cid_audit_resolve(f->log, "officer:privacy", p, "\xe3\x80\x80", NOW, &scope),
		    CID_ERR_INVALID);
		char long_reason[CID_AUDIT_MAX_REASON + 2];

		memset(long_reason, 'x', sizeof(long_reason) - 1);
		long_reason[sizeof(long_reason) - 1] = '\0';
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			assert_int_equal(cid_audit_resolve(f->log, "operator", p,
							   bad[i] != NULL ? bad[i] : long_reason,
							   NOW, &scope),
					 CID_ERR_INVALID);
		assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
		assert_int_equal(cid_audit_get(txn, 3, &got), CID_ERR_NOTFOUND); /* none logged */
		cid_store_read_end(txn);
	}
	free(p);
}

/*
 * The operator's command-line read of a citizen is on the record under the
 * citizen's pseudonym of no purpose: a query by citizen finds it beside the
 * releases ("who looked at this person"), the citizen's own slice does not
 * list it, and a bad command or citizen is refused with nothing logged.
 */
static void test_operator_read_is_on_the_record(void **state)
{
	struct cid_test_audit *f = *state;

	static const struct {
		const char *command;
		const char *citizen;
	} bad[] = {
	    {NULL, HANAKO},	      {"", HANAKO},	    {"user\nshow", HANAKO},
	    {"user\x7fshow", HANAKO}, {"ユーザー", HANAKO}, {"user show", ""},
	    {"user show", "a\nb"},
	};

	char long_command[CID_AUDIT_MAX_NAME + 2];
	json_t *e = release_entry(HANAKO, "childcare", "fees");
	struct cid_audit_filter by_hanako = {.citizen = HANAKO};
	struct cid_audit_filter reads = {.citizen = HANAKO, .type = "operator."};
	struct cid_txn *txn = NULL;
	json_t *got = NULL;
	json_t *trail = NULL;
	char *p;
	size_t n = 0;

	assert_int_equal(cid_audit_append(f->log, &e, 1, NULL), CID_OK);
	json_decref(e);
	assert_int_equal(cid_audit_operator_viewed(f->log, "user show", HANAKO, 1, NOW), CID_OK);
	assert_int_equal(cid_audit_operator_viewed(f->log, "user list", NULL, 2, NOW), CID_OK);
	p = cid_test_pseudonym(f->s, HANAKO, NULL, NULL);
	assert_non_null(p);
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_audit_get(txn, 1, &got), CID_OK);
	assert_string_equal(cid_json_str(got, "type"), "operator.viewed");
	assert_string_equal(cid_json_str(got, "actor"), "operator");
	assert_string_equal(cid_json_str(got, "endpoint"), "cli");
	assert_string_equal(cid_json_str(got, "citizen"), p); /* never the account id */
	assert_string_equal(cid_json_str(json_object_get(got, "ext"), "command"), "user show");
	assert_string_equal(cid_json_str(json_object_get(got, "ext"), "rows"), "1");
	json_decref(got);
	assert_int_equal(cid_audit_get(txn, 2, &got), CID_OK);
	assert_null(json_object_get(got, "citizen")); /* a listing of many names no one */
	assert_string_equal(cid_json_str(json_object_get(got, "ext"), "rows"), "2");
	json_decref(got);
	assert_int_equal(cid_audit_query(txn, &by_hanako, count_cb, &n), CID_OK);
	assert_int_equal(n, 2); /* the release and the read */
	n = 0;
	assert_int_equal(cid_audit_query(txn, &reads, count_cb, &n), CID_OK);
	assert_int_equal(n, 1);
	assert_int_equal(cid_audit_citizen(txn, HANAKO, 0, 10, &trail), CID_OK);
	assert_int_equal(json_array_size(trail), 1); /* the release only */
	assert_string_equal(cid_json_str(json_array_get(trail, 0), "type"), "release.permit");
	json_decref(trail);
	cid_store_read_end(txn);
	memset(long_command, 'x', sizeof(long_command) - 1);
	long_command[sizeof(long_command) - 1] = '\0';
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(
		    cid_audit_operator_viewed(f->log, bad[i].command, bad[i].citizen, 1, NOW),
		    CID_ERR_INVALID);
	assert_int_equal(cid_audit_operator_viewed(f->log, long_command, HANAKO, 1, NOW),
			 CID_ERR_INVALID);
	assert_int_equal(cid_audit_operator_viewed(NULL, "user show", HANAKO, 1, NOW),
			 CID_ERR_INVALID);
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_audit_get(txn, 3, &got), CID_ERR_NOTFOUND); /* none logged */
	cid_store_read_end(txn);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_purposed_reads_the_scopes, cid_test_audit_setup,
					    cid_test_audit_teardown),
	    cmocka_unit_test_setup_teardown(test_one_pseudonym_per_scope, cid_test_audit_setup,
					    cid_test_audit_teardown),
	    cmocka_unit_test_setup_teardown(test_bad_input, cid_test_audit_setup,
					    cid_test_audit_teardown),
	    cmocka_unit_test_setup_teardown(test_purge_is_idempotent, cid_test_audit_setup,
					    cid_test_audit_teardown),
	    cmocka_unit_test_setup_teardown(test_entries_name_the_pseudonym, cid_test_audit_setup,
					    cid_test_audit_teardown),
	    cmocka_unit_test_setup_teardown(test_filter_citizen_is_pseudonymous,
					    cid_test_audit_setup, cid_test_audit_teardown),
	    cmocka_unit_test_setup_teardown(test_resolve_is_on_the_record, cid_test_audit_setup,
					    cid_test_audit_teardown),
	    cmocka_unit_test_setup_teardown(test_operator_read_is_on_the_record,
					    cid_test_audit_setup, cid_test_audit_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
