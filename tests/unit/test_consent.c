/*
 * consent: append-only records on a real LMDB store. What the evaluator reads
 * (current) is the last record per attribute, never a neighbour's; history
 * keeps every change; a batch is all or nothing; bad names are refused
 * (table-driven) before they can become key parts.
 */
#include "audit.h"
#include "bounds.h"
#include "consent.h"
#include "consent_paper.h"
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

#include <cmocka.h>

#define NOW		1800000000
#define HANAKO		"0a1b2c3d-0000-4000-8000-000000000001"
#define TARO		"0a1b2c3d-0000-4000-8000-000000000002"
#define SERVICE		"childcare"
#define PURPOSE		"fee-calculation"
#define VERSION		"3f1c0e6a9d2b4c5e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e"
#define DIGEST		"digest-1"
#define METHOD		CID_CONSENT_METHOD_SCREEN
#define METHOD_NAME	"web:consent-screen" /* METHOD as records store it */
#define X16		"xxxxxxxxxxxxxxxx"
#define NAME_128	X16 X16 X16 X16 X16 X16 X16 X16
#define NAME_129	NAME_128 "x"
#define WEEK		(7 * 24 * 3600)
#define REQUEST_PURPOSE "保育料の算定のため <b>&</b>" /* the service's words, kept as sent */
#define N_ORDERING	40 /* past 0x0f and 0x1f: hex keys must still sort by number */

static struct cid_consent_context context(const char *account_id, const char *service,
					  const char *purpose, int64_t now)
{
	return (struct cid_consent_context){
	    .account_id = account_id,
	    .service = service,
	    .purpose = purpose,
	    .policy_version = VERSION,
	    .purpose_digest = DIGEST,
	    .method = METHOD,
	    .request_id = "req-1",
	    .request_purpose = REQUEST_PURPOSE,
	    .now = now,
	};
}

/* Records one change of hanako's (SERVICE, PURPOSE) at now; returns its id (caller frees). */
static char *record1(struct cid_store *s, const char *attribute, enum cid_consent_state state,
		     int64_t expires_at, int64_t now)
{
	struct cid_consent_context ctx = context(HANAKO, SERVICE, PURPOSE, now);
	struct cid_consent_change c = {attribute, state, expires_at};
	char *id = NULL;

	assert_int_equal(cid_consent_record(s, &ctx, &c, 1, &id), CID_OK);
	assert_non_null(id);
	return id;
}

/* The current facts of (account, service, purpose) at now; free with cid_consent_facts_free. */
static struct cid_consent_facts *current(struct cid_store *s, const char *account_id,
					 const char *service, const char *purpose, int64_t now)
{
	struct cid_txn *txn = NULL;
	struct cid_consent_facts *facts = NULL;

	assert_int_equal(cid_store_read_begin(s, &txn), CID_OK);
	assert_int_equal(cid_consent_current(txn, account_id, service, purpose, now, &facts),
			 CID_OK);
	cid_store_read_end(txn);
	assert_non_null(facts);
	return facts;
}

/* The fact of attribute, or NULL. */
static const struct cid_consent_fact *fact_of(const struct cid_consent_facts *facts,
					      const char *attribute)
{
	size_t n = 0;
	const struct cid_consent_fact *all = cid_consent_facts_get(facts, &n);

	for (size_t i = 0; i < n; i++)
		if (strcmp(all[i].attribute, attribute) == 0)
			return &all[i];
	return NULL;
}

static size_t n_facts(const struct cid_consent_facts *facts)
{
	size_t n = 0;

	(void)cid_consent_facts_get(facts, &n);
	return n;
}

static json_t *history(struct cid_store *s, const char *account_id, const char *service)
{
	json_t *h = NULL;

	assert_int_equal(cid_consent_history(s, account_id, service, &h), CID_OK);
	assert_true(json_is_array(h));
	return h;
}

static size_t history_size(struct cid_store *s, const char *account_id)
{
	json_t *h = history(s, account_id, NULL);
	size_t n = json_array_size(h);

	json_decref(h);
	return n;
}

static const char *member(const json_t *o, const char *name)
{
	return json_string_value(json_object_get(o, name));
}

static json_int_t int_member(const json_t *o, const char *name)
{
	return json_integer_value(json_object_get(o, name));
}

/* ---- behaviour ---- */

/* cid_consent_record_parse: a stored value is a record, or the store is damaged */
static void test_record_parse_table(void **state)
{
	static const struct {
		const char *val;
		enum cid_err want;
	} rows[] = {
	    {"{\"id\":\"r\",\"account_id\":\"a\",\"service\":\"s\",\"purpose\":\"p\","
	     "\"attribute\":\"email\",\"state\":\"granted\",\"expires_at\":0,"
	     "\"policy_version\":\"v\",\"purpose_digest\":\"d\"}",
	     CID_OK},
	    {"{\"id\":\"r\",\"account_id\":\"a\",\"service\":\"s\",\"purpose\":\"p\","
	     "\"attribute\":\"email\",\"state\":\"lost\",\"expires_at\":0,"
	     "\"policy_version\":\"v\",\"purpose_digest\":\"d\"}",
	     CID_ERR_STORE},		       /* not a state */
	    {"{\"id\":\"r\"}", CID_ERR_STORE}, /* members missing */
	    {"[]", CID_ERR_STORE},
	    {"{\"id\":", CID_ERR_STORE},
	    {"", CID_ERR_STORE},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		json_t *rec = NULL;

		print_message("row %zu\n", i);
		assert_int_equal(cid_consent_record_parse(cid_str_of(rows[i].val), &rec),
				 rows[i].want);
		assert_true((rec != NULL) == (rows[i].want == CID_OK));
		json_decref(rec);
	}
}

static void test_withdraw_after_grant_keeps_both_records(void **state)
{
	struct cid_test_store *f = *state;
	char *grant = record1(f->s, "email", CID_CONSENT_GRANTED, 0, NOW);
	char *withdrawal = record1(f->s, "email", CID_CONSENT_WITHDRAWN, 0, NOW + 60);
	struct cid_consent_facts *facts = current(f->s, HANAKO, SERVICE, PURPOSE, NOW + 61);
	const struct cid_consent_fact *email = fact_of(facts, "email");
	json_t *h = history(f->s, HANAKO, NULL);

	assert_int_equal(n_facts(facts), 1);
	assert_non_null(email);
	assert_int_equal(email->state, CID_CONSENT_WITHDRAWN);
	assert_string_equal(email->record_id, withdrawal);
	assert_string_equal(email->purpose_digest, DIGEST);
	/* never deleted: the grant is still there, before the withdrawal */
	assert_int_equal(json_array_size(h), 2);
	assert_string_equal(member(json_array_get(h, 0), "id"), grant);
	assert_string_equal(member(json_array_get(h, 0), "state"), "granted");
	assert_int_equal(int_member(json_array_get(h, 0), "at"), NOW);
	assert_string_equal(member(json_array_get(h, 1), "id"), withdrawal);
	assert_string_equal(member(json_array_get(h, 1), "state"), "withdrawn");
	assert_int_equal(int_member(json_array_get(h, 1), "at"), NOW + 60);
	assert_string_equal(member(json_object_get(json_array_get(h, 1), "how"), "method"),
			    METHOD_NAME);
	assert_string_equal(member(json_object_get(json_array_get(h, 1), "how"), "request_id"),
			    "req-1");
	assert_string_equal(member(json_array_get(h, 1), "policy_version"), VERSION);
	assert_string_equal(member(json_array_get(h, 1), "account_id"), HANAKO);
	json_decref(h);
	cid_consent_facts_free(facts);
	free(grant);
	free(withdrawal);
}

static void test_grant_expires_at_its_expiry(void **state)
{
	struct cid_test_store *f = *state;
	char *id = record1(f->s, "birthdate", CID_CONSENT_GRANTED, NOW + WEEK, NOW);
	struct cid_consent_facts *before = current(f->s, HANAKO, SERVICE, PURPOSE, NOW + WEEK - 1);
	struct cid_consent_facts *at = current(f->s, HANAKO, SERVICE, PURPOSE, NOW + WEEK);
	struct cid_consent_facts *after = current(f->s, HANAKO, SERVICE, PURPOSE, NOW + 2 * WEEK);
	json_t *h = history(f->s, HANAKO, SERVICE);

	assert_int_equal(fact_of(before, "birthdate")->state, CID_CONSENT_GRANTED);
	assert_int_equal(fact_of(before, "birthdate")->expires_at, NOW + WEEK);
	assert_int_equal(fact_of(at, "birthdate")->state, CID_CONSENT_EXPIRED);
	assert_int_equal(fact_of(at, "birthdate")->expires_at, NOW + WEEK);
	assert_string_equal(fact_of(at, "birthdate")->record_id, id);
	assert_int_equal(fact_of(after, "birthdate")->state, CID_CONSENT_EXPIRED);
	/* what is stored stays what was given; only the reading changes with time */
	assert_string_equal(member(json_array_get(h, 0), "state"), "granted");
	assert_int_equal(int_member(json_array_get(h, 0), "expires_at"), NOW + WEEK);
	json_decref(h);
	cid_consent_facts_free(before);
	cid_consent_facts_free(at);
	cid_consent_facts_free(after);
	free(id);
}

static void test_refusal_is_current_and_a_later_grant_supersedes_it(void **state)
{
	struct cid_test_store *f = *state;
	char *refusal = record1(f->s, "household_size", CID_CONSENT_REFUSED, 0, NOW);
	struct cid_consent_facts *facts = current(f->s, HANAKO, SERVICE, PURPOSE, NOW);
	char *grant = NULL;

	assert_int_equal(fact_of(facts, "household_size")->state, CID_CONSENT_REFUSED);
	assert_int_equal(fact_of(facts, "household_size")->expires_at, 0);
	assert_string_equal(fact_of(facts, "household_size")->record_id, refusal);
	cid_consent_facts_free(facts);
	grant = record1(f->s, "household_size", CID_CONSENT_GRANTED, NOW + WEEK, NOW + 1);
	facts = current(f->s, HANAKO, SERVICE, PURPOSE, NOW + 2);
	assert_int_equal(fact_of(facts, "household_size")->state, CID_CONSENT_GRANTED);
	assert_string_equal(fact_of(facts, "household_size")->record_id, grant);
	assert_int_equal(history_size(f->s, HANAKO), 2);
	cid_consent_facts_free(facts);
	free(refusal);
	free(grant);
}

static void test_expiry_of_refusal_or_withdrawal_is_not_recorded(void **state)
{
	struct cid_test_store *f = *state;
	char *id = record1(f->s, "email", CID_CONSENT_REFUSED, NOW + WEEK, NOW);
	json_t *rec = NULL;

	assert_int_equal(cid_consent_get(f->s, id, &rec), CID_OK);
	assert_int_equal(int_member(rec, "expires_at"), 0);
	json_decref(rec);
	free(id);
}

static void test_several_attributes_in_one_call(void **state)
{
	struct cid_test_store *f = *state;
	struct cid_consent_context ctx = context(HANAKO, SERVICE, PURPOSE, NOW);
	const struct cid_consent_change changes[] = {
	    {"email", CID_CONSENT_GRANTED, NOW + WEEK},
	    {"birthdate", CID_CONSENT_REFUSED, 0},
	    {"household_size", CID_CONSENT_GRANTED, 0},
	};
	char *ids[3] = {NULL, NULL, NULL};
	struct cid_consent_facts *facts = NULL;
	json_t *h = NULL;

	assert_int_equal(cid_consent_record(f->s, &ctx, changes, 3, ids), CID_OK);
	for (size_t i = 0; i < 3; i++) {
		assert_non_null(ids[i]);
		assert_int_equal(strlen(ids[i]), CID_ID_CHARS);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(ids[i], ids[j]);
	}
	facts = current(f->s, HANAKO, SERVICE, PURPOSE, NOW);
	assert_int_equal(n_facts(facts), 3);
	assert_int_equal(fact_of(facts, "email")->state, CID_CONSENT_GRANTED);
	assert_string_equal(fact_of(facts, "email")->record_id, ids[0]);
	assert_int_equal(fact_of(facts, "birthdate")->state, CID_CONSENT_REFUSED);
	assert_string_equal(fact_of(facts, "birthdate")->record_id, ids[1]);
	assert_int_equal(fact_of(facts, "household_size")->state, CID_CONSENT_GRANTED);
	/* one call, consecutive numbers */
	h = history(f->s, HANAKO, NULL);
	json_int_t seqs[3] = {0, 0, 0};
	size_t i;
	json_t *rec;
	json_array_foreach(h, i, rec)
	{
		for (size_t k = 0; k < 3; k++)
			if (strcmp(member(rec, "id"), ids[k]) == 0)
				seqs[k] = int_member(rec, "seq");
	}
	assert_int_equal(seqs[0], 1);
	assert_int_equal(seqs[1], 2);
	assert_int_equal(seqs[2], 3);
	json_decref(h);
	cid_consent_facts_free(facts);
	for (size_t k = 0; k < 3; k++)
		free(ids[k]);
}

static void test_invalid_change_in_a_batch_writes_nothing(void **state)
{
	struct cid_test_store *f = *state;
	struct cid_consent_context ctx = context(HANAKO, SERVICE, PURPOSE, NOW);
	const struct cid_consent_change bad_last[] = {
	    {"email", CID_CONSENT_GRANTED, 0},
	    {"birthdate", CID_CONSENT_GRANTED, 0},
	    {"favourite_colour", CID_CONSENT_GRANTED, 0},
	};
	const struct cid_consent_change twice[] = {
	    {"email", CID_CONSENT_GRANTED, 0},
	    {"email", CID_CONSENT_REFUSED, 0},
	};
	char untouched[] = "untouched";
	char *ids[3] = {untouched, NULL, NULL};
	char *id = NULL;
	json_t *rec = NULL;

	assert_int_equal(cid_consent_record(f->s, &ctx, bad_last, 3, ids), CID_ERR_INVALID);
	assert_string_equal(ids[0], "untouched");
	assert_int_equal(cid_consent_record(f->s, &ctx, twice, 2, NULL), CID_ERR_INVALID);
	assert_int_equal(history_size(f->s, HANAKO), 0);
	/* the counter did not move either */
	id = record1(f->s, "email", CID_CONSENT_GRANTED, 0, NOW);
	assert_int_equal(cid_consent_get(f->s, id, &rec), CID_OK);
	assert_int_equal(int_member(rec, "seq"), 1);
	json_decref(rec);
	free(id);
}

static void test_withdraw_fails_whole_batch_without_a_grant(void **state)
{
	struct cid_test_store *f = *state;
	struct cid_consent_context ctx = context(HANAKO, SERVICE, PURPOSE, NOW + 10);
	const char *const attrs[] = {"email", "birthdate"};
	char *email = record1(f->s, "email", CID_CONSENT_GRANTED, 0, NOW);

	/* birthdate was never granted: the email withdrawal is not written either */
	assert_int_equal(cid_consent_withdraw(f->s, &ctx, attrs, 2, NULL, NULL), CID_ERR_NOTFOUND);
	assert_int_equal(history_size(f->s, HANAKO), 1);
	free(record1(f->s, "birthdate", CID_CONSENT_REFUSED, 0, NOW + 1));
	assert_int_equal(cid_consent_withdraw(f->s, &ctx, attrs, 2, NULL, NULL), CID_ERR_NOTFOUND);
	assert_int_equal(history_size(f->s, HANAKO), 2);
	free(email);
}

static void test_withdraw_records_the_versions_it_withdraws(void **state)
{
	struct cid_test_store *f = *state;
	struct cid_consent_context grant = context(HANAKO, SERVICE, PURPOSE, NOW);
	struct cid_consent_context withdraw = context(HANAKO, SERVICE, PURPOSE, NOW + 10);
	const struct cid_consent_change c[] = {{"email", CID_CONSENT_GRANTED, NOW + WEEK}};
	const char *const attrs[] = {"email"};
	char *id = NULL;
	json_t *rec = NULL;
	struct cid_consent_facts *facts = NULL;

	grant.policy_version = "old-version";
	grant.purpose_digest = "old-digest";
	assert_int_equal(cid_consent_record(f->s, &grant, c, 1, NULL), CID_OK);
	withdraw.policy_version = NULL; /* copied from the grant */
	withdraw.purpose_digest = NULL;
	withdraw.method = CID_CONSENT_METHOD_CLI_WITHDRAW;
	withdraw.request_id = NULL;
	assert_int_equal(cid_consent_withdraw(f->s, &withdraw, attrs, 1, &id, NULL), CID_OK);
	assert_int_equal(cid_consent_get(f->s, id, &rec), CID_OK);
	assert_string_equal(member(rec, "state"), "withdrawn");
	assert_string_equal(member(rec, "policy_version"), "old-version");
	assert_string_equal(member(rec, "purpose_digest"), "old-digest");
	assert_string_equal(member(json_object_get(rec, "how"), "method"), "cli:withdraw");
	/* no request: the call's own id, a decision of its own (a receipt of its own) */
	assert_true(cid_uuid_syntax_ok(member(json_object_get(rec, "how"), "request_id")));
	assert_int_equal(int_member(rec, "expires_at"), 0);
	facts = current(f->s, HANAKO, SERVICE, PURPOSE, NOW + 11);
	assert_int_equal(fact_of(facts, "email")->state, CID_CONSENT_WITHDRAWN);
	/* withdrawn already: nothing left to withdraw */
	assert_int_equal(cid_consent_withdraw(f->s, &withdraw, attrs, 1, NULL, NULL),
			 CID_ERR_NOTFOUND);
	json_decref(rec);
	cid_consent_facts_free(facts);
	free(id);
}

static void test_withdraw_refuses_an_expired_grant(void **state)
{
	struct cid_test_store *f = *state;
	struct cid_consent_context ctx = context(HANAKO, SERVICE, PURPOSE, NOW + WEEK);
	const char *const attrs[] = {"email"};

	free(record1(f->s, "email", CID_CONSENT_GRANTED, NOW + WEEK, NOW));
	assert_int_equal(cid_consent_withdraw(f->s, &ctx, attrs, 1, NULL, NULL), CID_ERR_NOTFOUND);
	ctx.now = NOW + WEEK - 1;
	assert_int_equal(cid_consent_withdraw(f->s, &ctx, attrs, 1, NULL, NULL), CID_OK);
	assert_int_equal(history_size(f->s, HANAKO), 2);
}

static void test_current_sees_only_its_citizen_service_and_purpose(void **state)
{
	struct cid_test_store *f = *state;

	/* neighbours, including names that extend ours ("childcare" / "childcare2") */
	const struct {
		const char *account, *service, *purpose;
		enum cid_consent_state state;
	} others[] = {
	    {TARO, SERVICE, PURPOSE, CID_CONSENT_GRANTED},
	    {HANAKO, "library", PURPOSE, CID_CONSENT_GRANTED},
	    {HANAKO, SERVICE, "newsletter", CID_CONSENT_GRANTED},
	    {HANAKO, SERVICE "2", PURPOSE, CID_CONSENT_GRANTED},
	    {HANAKO, SERVICE, PURPOSE "-2", CID_CONSENT_GRANTED},
	    {HANAKO, "child", "care\n" PURPOSE, CID_CONSENT_GRANTED}, /* refused, see below */
	};
	struct cid_consent_facts *facts = NULL;
	json_t *h = NULL;

	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		struct cid_consent_context ctx =
		    context(others[i].account, others[i].service, others[i].purpose, NOW);
		const struct cid_consent_change c[] = {
		    {"email", others[i].state, 0},
		    {"birthdate", others[i].state, 0},
		};
		enum cid_err want = strchr(others[i].purpose, '\n') ? CID_ERR_INVALID : CID_OK;

		assert_int_equal(cid_consent_record(f->s, &ctx, c, 2, NULL), want);
	}
	free(record1(f->s, "email", CID_CONSENT_REFUSED, 0, NOW));
	facts = current(f->s, HANAKO, SERVICE, PURPOSE, NOW);
	assert_int_equal(n_facts(facts), 1);
	assert_int_equal(fact_of(facts, "email")->state, CID_CONSENT_REFUSED);
	assert_null(fact_of(facts, "birthdate"));
	cid_consent_facts_free(facts);
	/* a name with the separator cannot reach another triple's records */
	facts = current(f->s, HANAKO, SERVICE "\n" PURPOSE, "x", NOW);
	assert_int_equal(n_facts(facts), 0);
	assert_null(cid_consent_facts_get(facts, &(size_t){0}));
	cid_consent_facts_free(facts);
	facts = current(f->s, "not-an-id", SERVICE, PURPOSE, NOW);
	assert_int_equal(n_facts(facts), 0);
	cid_consent_facts_free(facts);
	/* history: by citizen, and by citizen and service */
	assert_int_equal(history_size(f->s, TARO), 2);
	h = history(f->s, HANAKO, SERVICE);
	assert_int_equal(json_array_size(h), 2 + 2 + 1); /* newsletter, fee-calculation-2, ours */
	json_decref(h);
	h = history(f->s, HANAKO, NULL);
	assert_int_equal(json_array_size(h), 4 * 2 + 1);
	json_decref(h);
	h = history(f->s, HANAKO, "no-such-service");
	assert_int_equal(json_array_size(h), 0);
	json_decref(h);
	h = history(f->s, "bad\nid", NULL);
	assert_int_equal(json_array_size(h), 0);
	json_decref(h);
}

static void test_ordering_past_sixteen_records(void **state)
{
	struct cid_test_store *f = *state;
	char *ids[N_ORDERING];
	struct cid_consent_facts *facts = NULL;
	json_t *h = NULL;
	json_t *latest = NULL;
	struct cid_txn *txn = NULL;
	size_t i;
	json_t *rec;

	/* email alternates; birthdate, interleaved, changes every third time */
	for (i = 0; i < N_ORDERING; i++) {
		const char *attr = i % 3 == 2 ? "birthdate" : "email";
		enum cid_consent_state st =
		    i % 2 == 0 ? CID_CONSENT_GRANTED : CID_CONSENT_WITHDRAWN;

		ids[i] = record1(f->s, attr, st, 0, NOW + (int64_t)i);
	}
	facts = current(f->s, HANAKO, SERVICE, PURPOSE, NOW + N_ORDERING);
	assert_int_equal(n_facts(facts), 2);
	/* the last email change is i = 39 (withdrawn), the last birthdate one i = 38 (granted) */
	assert_string_equal(fact_of(facts, "email")->record_id, ids[39]);
	assert_int_equal(fact_of(facts, "email")->state, CID_CONSENT_WITHDRAWN);
	assert_string_equal(fact_of(facts, "birthdate")->record_id, ids[38]);
	assert_int_equal(fact_of(facts, "birthdate")->state, CID_CONSENT_GRANTED);
	/* history: per attribute (birthdate < email), oldest first */
	h = history(f->s, HANAKO, NULL);
	assert_int_equal(json_array_size(h), N_ORDERING);
	json_int_t last = 0;
	const char *last_attr = "";
	json_array_foreach(h, i, rec)
	{
		if (strcmp(member(rec, "attribute"), last_attr) != 0)
			last = 0;
		assert_true(int_member(rec, "seq") > last);
		last = int_member(rec, "seq");
		last_attr = member(rec, "attribute");
	}
	assert_string_equal(member(json_array_get(h, 0), "attribute"), "birthdate");
	assert_string_equal(member(json_array_get(h, N_ORDERING - 1), "id"), ids[39]);
	json_decref(h);
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_consent_latest(txn, HANAKO, SERVICE, PURPOSE, "email", &latest),
			 CID_OK);
	assert_string_equal(member(latest, "id"), ids[39]);
	assert_int_equal(int_member(latest, "seq"), 40);
	json_decref(latest);
	assert_int_equal(cid_consent_latest(txn, HANAKO, SERVICE, PURPOSE, "address", &latest),
			 CID_ERR_NOTFOUND);
	assert_int_equal(cid_consent_latest(txn, HANAKO, SERVICE, PURPOSE, "email#ja", &latest),
			 CID_ERR_NOTFOUND);
	cid_store_read_end(txn);
	cid_consent_facts_free(facts);
	for (i = 0; i < N_ORDERING; i++)
		free(ids[i]);
}

static void test_get_by_id(void **state)
{
	struct cid_test_store *f = *state;
	char *a = record1(f->s, "email", CID_CONSENT_GRANTED, NOW + WEEK, NOW);
	char *b = record1(f->s, "birthdate", CID_CONSENT_REFUSED, 0, NOW + 1);
	json_t *rec = NULL;

	assert_int_equal(cid_consent_get(f->s, a, &rec), CID_OK);
	assert_string_equal(member(rec, "id"), a);
	assert_string_equal(member(rec, "attribute"), "email");
	assert_string_equal(member(rec, "service"), SERVICE);
	assert_string_equal(member(rec, "purpose"), PURPOSE);
	assert_int_equal(int_member(rec, "expires_at"), NOW + WEEK);
	json_decref(rec);
	assert_int_equal(cid_consent_get(f->s, b, &rec), CID_OK);
	assert_string_equal(member(rec, "state"), "refused");
	json_decref(rec);
	rec = NULL;
	assert_int_equal(cid_consent_get(f->s, "00000000-0000-4000-8000-000000000000", &rec),
			 CID_ERR_NOTFOUND);
	/* the citizen's id is in every record, but is not a record id */
	assert_int_equal(cid_consent_get(f->s, HANAKO, &rec), CID_ERR_NOTFOUND);
	assert_int_equal(cid_consent_get(f->s, "short", &rec), CID_ERR_NOTFOUND);
	assert_int_equal(cid_consent_get(f->s, NULL, &rec), CID_ERR_NOTFOUND);
	assert_null(rec);
	free(a);
	free(b);
}

/*
 * Other modules read a record through struct cid_consent_record: every
 * member of a stored record, and a damaged one refused as a damaged store.
 */
static void test_record_read_typed(void **state)
{
	static const struct {
		const char *member;
		const char *value; /* JSON; NULL: removed */
	} damages[] = {
	    {"id", NULL},
	    {"account_id", "7"},
	    {"service", NULL},
	    {"purpose", "null"},
	    {"attribute", "[]"},
	    {"state", "\"Granted\""},
	    {"state", NULL},
	    {"expires_at", "\"0\""},
	    {"policy_version", NULL},
	    {"purpose_digest", "1"},
	};
	struct cid_test_store *f = *state;
	char *a = record1(f->s, "email", CID_CONSENT_GRANTED, NOW + WEEK, NOW);
	struct cid_consent_record r;
	json_t *rec = NULL;

	assert_int_equal(cid_consent_get(f->s, a, &rec), CID_OK);
	assert_int_equal(cid_consent_record_read(rec, &r), CID_OK);
	assert_string_equal(r.id, a);
	assert_true(r.seq >= 0);
	assert_string_equal(r.account_id, HANAKO);
	assert_string_equal(r.service, SERVICE);
	assert_string_equal(r.purpose, PURPOSE);
	assert_string_equal(r.attribute, "email");
	assert_int_equal(r.state, CID_CONSENT_GRANTED);
	assert_int_equal(r.at, NOW);
	assert_int_equal(r.expires_at, NOW + WEEK);
	assert_string_equal(r.method, METHOD_NAME);
	assert_string_equal(r.request_id, "req-1");
	assert_string_equal(r.request_purpose, REQUEST_PURPOSE);
	assert_string_equal(r.policy_version, VERSION);
	assert_string_equal(r.purpose_digest, DIGEST);
	assert_false(cid_consent_record_expired(&r, NOW + WEEK - 1));
	assert_true(cid_consent_record_expired(&r, NOW + WEEK));
	for (size_t i = 0; i < sizeof(damages) / sizeof(damages[0]); i++) {
		json_t *bad = json_deep_copy(rec);
		struct cid_consent_record untouched = {.id = "untouched"};

		assert_non_null(bad);
		if (damages[i].value == NULL)
			assert_int_equal(json_object_del(bad, damages[i].member), 0);
		else
			assert_int_equal(json_object_set_new(
					     bad, damages[i].member,
					     json_loads(damages[i].value, JSON_DECODE_ANY, NULL)),
					 0);
		if (cid_consent_record_read(bad, &untouched) != CID_ERR_STORE)
			fail_msg("%s %s: read", damages[i].member,
				 damages[i].value == NULL ? "removed" : damages[i].value);
		assert_string_equal(untouched.id, "untouched");
		json_decref(bad);
	}
	/* a record without how, or without a request, reads as having none */
	assert_int_equal(json_object_del(rec, "how"), 0);
	assert_int_equal(cid_consent_record_read(rec, &r), CID_OK);
	assert_null(r.method);
	assert_null(r.request_id);
	assert_null(r.request_purpose);
	assert_int_equal(cid_consent_record_read(NULL, &r), CID_ERR_STORE);
	json_decref(rec);
	free(a);
}

static void test_facts_outlive_the_transaction(void **state)
{
	struct cid_test_store *f = *state;
	char *id = record1(f->s, "email", CID_CONSENT_GRANTED, 0, NOW);
	struct cid_consent_facts *facts = current(f->s, HANAKO, SERVICE, PURPOSE, NOW);
	const struct cid_consent_fact *email = fact_of(facts, "email");

	/* the read transaction is over; later writes must not move the strings */
	for (int i = 0; i < 50; i++)
		free(record1(f->s, "email", i % 2 ? CID_CONSENT_GRANTED : CID_CONSENT_REFUSED, 0,
			     NOW + 1 + i));
	assert_string_equal(email->attribute, "email");
	assert_string_equal(email->record_id, id);
	assert_string_equal(email->purpose_digest, DIGEST);
	assert_int_equal(email->state, CID_CONSENT_GRANTED);
	cid_consent_facts_free(facts);
	cid_consent_facts_free(NULL);
	free(id);
}

static void test_state_names(void **state)
{
	enum cid_consent_state st = CID_CONSENT_GRANTED;

	(void)state;
	assert_string_equal(cid_consent_state_name(CID_CONSENT_GRANTED), "granted");
	assert_string_equal(cid_consent_state_name(CID_CONSENT_REFUSED), "refused");
	assert_string_equal(cid_consent_state_name(CID_CONSENT_WITHDRAWN), "withdrawn");
	assert_string_equal(cid_consent_state_name(CID_CONSENT_EXPIRED), "expired");
	assert_string_equal(cid_consent_state_name((enum cid_consent_state)42), "unknown");
	assert_int_equal(cid_consent_state_parse("withdrawn", &st), CID_OK);
	assert_int_equal(st, CID_CONSENT_WITHDRAWN);
	assert_int_equal(cid_consent_state_parse("Granted", &st), CID_ERR_INVALID);
	assert_int_equal(cid_consent_state_parse(NULL, &st), CID_ERR_INVALID);
	assert_true(cid_consent_attribute_ok("family_name"));
	assert_false(cid_consent_attribute_ok("family_name#ja-Kana-JP"));
	assert_false(cid_consent_attribute_ok("password"));
	assert_false(cid_consent_attribute_ok(NULL));
}

/* ---- the one rule of expiry, one row per case ---- */

static void test_expiry_rule_table(void **state)
{
	static const struct {
		const char *what;
		enum cid_consent_state recorded;
		int64_t expires_at, now;
		enum cid_consent_state expect;
	} rows[] = {
	    {"grant without expiry", CID_CONSENT_GRANTED, 0, NOW, CID_CONSENT_GRANTED},
	    {"grant a second before its expiry", CID_CONSENT_GRANTED, NOW + 1, NOW,
	     CID_CONSENT_GRANTED},
	    {"grant at its expiry", CID_CONSENT_GRANTED, NOW, NOW, CID_CONSENT_EXPIRED},
	    {"grant after its expiry", CID_CONSENT_GRANTED, NOW - 1, NOW, CID_CONSENT_EXPIRED},
	    {"refusal with a past expiry", CID_CONSENT_REFUSED, NOW - 1, NOW, CID_CONSENT_REFUSED},
	    {"withdrawal with a past expiry", CID_CONSENT_WITHDRAWN, NOW - 1, NOW,
	     CID_CONSENT_WITHDRAWN},
	    {"expired stays expired", CID_CONSENT_EXPIRED, 0, NOW, CID_CONSENT_EXPIRED},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		enum cid_consent_state got =
		    cid_consent_state_at(rows[i].recorded, rows[i].expires_at, rows[i].now);

		if (got != rows[i].expect)
			fail_msg("%s: got %s, wanted %s", rows[i].what, cid_consent_state_name(got),
				 cid_consent_state_name(rows[i].expect));
	}
}

/* cid_consent_expired reads a stored record by the same rule; a non-record is never expired. */
static void test_expired_record_table(void **state)
{
	static const struct {
		const char *what;
		const char *json; /* NULL: no record at all */
		bool expect;
	} rows[] = {
	    {"grant without expiry", "{\"state\":\"granted\",\"expires_at\":0}", false},
	    {"grant before its expiry", "{\"state\":\"granted\",\"expires_at\":1800000001}", false},
	    {"grant at its expiry", "{\"state\":\"granted\",\"expires_at\":1800000000}", true},
	    {"grant after its expiry", "{\"state\":\"granted\",\"expires_at\":1799999999}", true},
	    {"refusal", "{\"state\":\"refused\",\"expires_at\":1799999999}", false},
	    {"withdrawal", "{\"state\":\"withdrawn\",\"expires_at\":1}", false},
	    {"stored as expired", "{\"state\":\"expired\",\"expires_at\":1}", false},
	    {"unknown state", "{\"state\":\"Granted\",\"expires_at\":1}", false},
	    {"no state", "{\"expires_at\":1}", false},
	    {"no record", NULL, false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		json_t *rec = rows[i].json == NULL ? NULL : json_loads(rows[i].json, 0, NULL);

		if (rows[i].json != NULL)
			assert_non_null(rec);
		if (cid_consent_expired(rec, NOW) != rows[i].expect)
			fail_msg("%s: wanted %s", rows[i].what, rows[i].expect ? "expired" : "not");
		json_decref(rec);
	}
}

/* The readers agree with the rule at the second of expiry: current, and the withdrawal's check. */
static void test_readers_follow_the_expiry_rule(void **state)
{
	struct cid_test_store *f = *state;
	char *id = record1(f->s, "email", CID_CONSENT_GRANTED, NOW + WEEK, NOW);
	struct cid_consent_facts *before = current(f->s, HANAKO, SERVICE, PURPOSE, NOW + WEEK - 1);
	struct cid_consent_facts *at = current(f->s, HANAKO, SERVICE, PURPOSE, NOW + WEEK);
	json_t *rec = NULL;

	assert_int_equal(fact_of(before, "email")->state, CID_CONSENT_GRANTED);
	assert_int_equal(fact_of(at, "email")->state, CID_CONSENT_EXPIRED);
	assert_int_equal(cid_consent_get(f->s, id, &rec), CID_OK);
	assert_false(cid_consent_expired(rec, NOW + WEEK - 1));
	assert_true(cid_consent_expired(rec, NOW + WEEK));
	json_decref(rec);
	cid_consent_facts_free(before);
	cid_consent_facts_free(at);
	free(id);
}

static void test_expiry_from_a_number_of_days(void **state)
{
	static const struct {
		int64_t days, now, expect;
	} rows[] = {
	    {0, NOW, 0},
	    {-1, NOW, 0},
	    {1, NOW, NOW + 24 * 3600},
	    {365, NOW, NOW + (int64_t)365 * 24 * 3600},
	    {INT64_MAX / 1000, NOW, INT64_MAX}, /* saturates rather than overflows */
	    {1, INT64_MAX - 10, INT64_MAX},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (cid_consent_expiry(rows[i].days, rows[i].now) != rows[i].expect)
			fail_msg("row %zu: got %lld, wanted %lld", i,
				 (long long)cid_consent_expiry(rows[i].days, rows[i].now),
				 (long long)rows[i].expect);
}

/* ---- the methods: stored name, audit actor and endpoint, from one table ---- */

/* The newest audit entry of the store (caller frees). */
static json_t *last_audit_entry(struct cid_store *s)
{
	struct cid_txn *txn = NULL;
	uint64_t size = 0;
	char hash[CID_AUDIT_HASH_HEX];
	json_t *e = NULL;

	assert_int_equal(cid_store_read_begin(s, &txn), CID_OK);
	assert_int_equal(cid_audit_head(txn, &size, hash), CID_OK);
	assert_true(size > 0);
	assert_int_equal(cid_audit_get(txn, size - 1, &e), CID_OK);
	cid_store_read_end(txn);
	return e;
}

static void test_method_table(void **state)
{
	struct cid_test_store *f = *state;

	static const struct {
		enum cid_consent_method method;
		const char *name, *actor, *endpoint;
	} rows[] = {
	    {CID_CONSENT_METHOD_SCREEN, "web:consent-screen", "citizen", "consent-screen"},
	    {CID_CONSENT_METHOD_CLI_WITHDRAW, "cli:withdraw", "operator", "cli"},
	    {CID_CONSENT_METHOD_CLI_PAPER, "cli:paper", "operator", "cli"},
	    {CID_CONSENT_METHOD_ACCOUNT, "web:account", "citizen", "account"},
	};
	enum cid_consent_method m = CID_CONSENT_METHOD_NONE;

	/* every method has a row here */
	assert_int_equal(sizeof(rows) / sizeof(rows[0]), CID_CONSENT_METHOD_COUNT - 1);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct cid_consent_context ctx =
		    context(HANAKO, SERVICE, PURPOSE, NOW + (int64_t)i);
		const struct cid_consent_change c = {"email", CID_CONSENT_REFUSED, 0};
		char *id = NULL;
		json_t *rec = NULL;
		json_t *e;

		assert_string_equal(cid_consent_method_name(rows[i].method), rows[i].name);
		assert_int_equal(cid_consent_method_parse(rows[i].name, &m), CID_OK);
		assert_int_equal(m, rows[i].method);
		/* the record stores the name; its audit entry names actor and endpoint */
		ctx.method = rows[i].method;
		assert_int_equal(cid_consent_record(f->s, &ctx, &c, 1, &id), CID_OK);
		assert_int_equal(cid_consent_get(f->s, id, &rec), CID_OK);
		assert_string_equal(member(json_object_get(rec, "how"), "method"), rows[i].name);
		e = last_audit_entry(f->s);
		assert_string_equal(member(e, "actor"), rows[i].actor);
		assert_string_equal(member(e, "endpoint"), rows[i].endpoint);
		json_decref(e);
		json_decref(rec);
		free(id);
	}
	/* no method, or none of the table: no name, and no record */
	assert_null(cid_consent_method_name(CID_CONSENT_METHOD_NONE));
	assert_null(cid_consent_method_name(CID_CONSENT_METHOD_COUNT));
	assert_null(cid_consent_method_name((enum cid_consent_method) - 1));
	m = CID_CONSENT_METHOD_SCREEN;
	assert_int_equal(cid_consent_method_parse("web:", &m), CID_ERR_INVALID);
	assert_int_equal(cid_consent_method_parse("cli:other", &m), CID_ERR_INVALID);
	assert_int_equal(cid_consent_method_parse(NULL, &m), CID_ERR_INVALID);
	assert_int_equal(m, CID_CONSENT_METHOD_SCREEN);
}

/* ---- a refused withdrawal names the attribute at fault ---- */

static void test_withdraw_names_the_attribute_at_fault(void **state)
{
	struct cid_test_store *f = *state;

	/* hanako's decisions at NOW: email granted, phone_number refused, birthdate granted then
	 * withdrawn, given_name granted until NOW + 5; family_name never decided */
	static const struct {
		const char *what;
		const char *attrs[2];
		size_t n;
		int64_t now;
		enum cid_err expect;
		const char *attribute; /* of the fault */
		bool decided;
		enum cid_consent_state state;
	} rows[] = {
	    {"never decided",
	     {"family_name"},
	     1,
	     NOW + 10,
	     CID_ERR_NOTFOUND,
	     "family_name",
	     false,
	     CID_CONSENT_GRANTED},
	    {"refused",
	     {"phone_number"},
	     1,
	     NOW + 10,
	     CID_ERR_NOTFOUND,
	     "phone_number",
	     true,
	     CID_CONSENT_REFUSED},
	    {"withdrawn",
	     {"birthdate"},
	     1,
	     NOW + 10,
	     CID_ERR_NOTFOUND,
	     "birthdate",
	     true,
	     CID_CONSENT_WITHDRAWN},
	    {"expired",
	     {"given_name"},
	     1,
	     NOW + 10,
	     CID_ERR_NOTFOUND,
	     "given_name",
	     true,
	     CID_CONSENT_EXPIRED},
	    {"the first at fault of two",
	     {"email", "birthdate"},
	     2,
	     NOW + 10,
	     CID_ERR_NOTFOUND,
	     "birthdate",
	     true,
	     CID_CONSENT_WITHDRAWN},
	    {"the first of two at fault",
	     {"family_name", "phone_number"},
	     2,
	     NOW + 10,
	     CID_ERR_NOTFOUND,
	     "family_name",
	     false,
	     CID_CONSENT_GRANTED},
	    {"in force: nothing at fault",
	     {"given_name", "email"},
	     2,
	     NOW + 4,
	     CID_OK,
	     NULL,
	     false,
	     CID_CONSENT_GRANTED},
	};

	free(record1(f->s, "email", CID_CONSENT_GRANTED, 0, NOW - 3));
	free(record1(f->s, "phone_number", CID_CONSENT_REFUSED, 0, NOW - 3));
	free(record1(f->s, "birthdate", CID_CONSENT_GRANTED, 0, NOW - 3));
	free(record1(f->s, "birthdate", CID_CONSENT_WITHDRAWN, 0, NOW - 2));
	free(record1(f->s, "given_name", CID_CONSENT_GRANTED, NOW + 5, NOW - 1));
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct cid_consent_context ctx = context(HANAKO, SERVICE, PURPOSE, rows[i].now);
		struct cid_consent_fault fault = {.attribute = "untouched"};
		size_t before = history_size(f->s, HANAKO);
		enum cid_err rc =
		    cid_consent_withdraw(f->s, &ctx, rows[i].attrs, rows[i].n, NULL, &fault);

		if (rc != rows[i].expect)
			fail_msg("%s: got %s, wanted %s", rows[i].what, cid_strerror(rc),
				 cid_strerror(rows[i].expect));
		if (rc == CID_OK) {
			/* written only on the refusal */
			assert_string_equal(fault.attribute, "untouched");
			assert_int_equal(history_size(f->s, HANAKO), before + rows[i].n);
			continue;
		}
		assert_int_equal(history_size(f->s, HANAKO), before);
		if (strcmp(fault.attribute, rows[i].attribute) != 0 ||
		    fault.decided != rows[i].decided ||
		    (rows[i].decided && fault.state != rows[i].state))
			fail_msg("%s: fault names %s (decided %d, %s)", rows[i].what,
				 fault.attribute, fault.decided,
				 cid_consent_state_name(fault.state));
		/* the name is the caller's own string, not a copy */
		assert_ptr_equal(fault.attribute, strcmp(rows[i].attrs[0], rows[i].attribute) == 0
						      ? rows[i].attrs[0]
						      : rows[i].attrs[1]);
	}
	/* and a caller that does not ask is not told */
	struct cid_consent_context ctx = context(HANAKO, SERVICE, PURPOSE, NOW + 10);
	const char *const never[] = {"family_name"};
	assert_int_equal(cid_consent_withdraw(f->s, &ctx, never, 1, NULL, NULL), CID_ERR_NOTFOUND);
}

/* ---- paper grants: checked against the policies in force, one row per case ---- */

static const char paper_policy[] = "service childcare\n"
				   "name.ja 子育て支援\n"
				   "name.en Childcare support\n"
				   "purpose fee-calculation\n"
				   "\ttext.ja 保育料を算定するため\n"
				   "\ttext.en To calculate your childcare fee\n"
				   "\tbasis consent\n"
				   "\tretention 5y\n"
				   "\tconsent_valid 1y\n"
				   "\tpermit email\n"
				   "\tpermit household_size\n"
				   "\tpermit birthdate level=2\n"
				   "\tdeny given_name\n"
				   "purpose eligibility\n"
				   "\ttext.ja 認定の審査のため\n"
				   "\ttext.en To certify your eligibility\n"
				   "\tbasis statute 子ども・子育て支援法 第20条\n"
				   "\tretention 5y\n"
				   "\tpermit resident_district\n"
				   "purpose letters\n"
				   "\ttext.ja お知らせのため\n"
				   "\ttext.en To write to you\n"
				   "\tbasis consent\n"
				   "\tretention 30y\n"
				   "\tconsent_valid 20y\n"
				   "\tpermit email\n";

enum form_value { FORM_NONE, FORM_IN_FORCE, FORM_OTHER }; /* the version or digest on the form */

struct paper_case {
	const char *what;
	const char *account_id; /* NULL: HANAKO */
	const char *service, *purpose;
	const char *attrs[2];
	size_t n;
	int64_t days;
	enum form_value version, digest;
	enum cid_err expect;
	enum cid_consent_paper_fault fault; /* CID_ERR_REFUSED */
	const char *attribute;		    /* CID_PAPER_NOT_PERMITTED */
	int64_t lasts; /* CID_OK: days the records last; CID_PAPER_TOO_LONG: max_days */
};

#define FEE .service = "childcare", .purpose = "fee-calculation"

static const struct paper_case paper_cases[] = {
    {.what = "lasts the purpose's consent_valid",
     FEE,
     .attrs = {"email"},
     .n = 1,
     .days = 0,
     .version = FORM_NONE,
     .digest = FORM_NONE,
     .expect = CID_OK,
     .lasts = 365},
    {.what = "two attributes, fewer days",
     FEE,
     .attrs = {"email", "household_size"},
     .n = 2,
     .days = 30,
     .version = FORM_NONE,
     .digest = FORM_NONE,
     .expect = CID_OK,
     .lasts = 30},
    {.what = "exactly consent_valid",
     FEE,
     .attrs = {"email"},
     .n = 1,
     .days = 365,
     .version = FORM_NONE,
     .digest = FORM_NONE,
     .expect = CID_OK,
     .lasts = 365},
    {.what = "beyond consent_valid",
     FEE,
     .attrs = {"email"},
     .n = 1,
     .days = 366,
     .version = FORM_NONE,
     .digest = FORM_NONE,
     .expect = CID_ERR_REFUSED,
     .fault = CID_PAPER_TOO_LONG,
     .lasts = 365},
    {.what = "a longer consent_valid is cut to the cap",
     .service = "childcare",
     .purpose = "letters",
     .attrs = {"email"},
     .n = 1,
     .days = 0,
     .version = FORM_NONE,
     .digest = FORM_NONE,
     .expect = CID_OK,
     .lasts = CID_CONSENT_PAPER_MAX_DAYS},
    {.what = "the cap itself",
     .service = "childcare",
     .purpose = "letters",
     .attrs = {"email"},
     .n = 1,
     .days = CID_CONSENT_PAPER_MAX_DAYS,
     .version = FORM_NONE,
     .digest = FORM_NONE,
     .expect = CID_OK,
     .lasts = CID_CONSENT_PAPER_MAX_DAYS},
    {.what = "beyond the cap",
     .service = "childcare",
     .purpose = "letters",
     .attrs = {"email"},
     .n = 1,
     .days = CID_CONSENT_PAPER_MAX_DAYS + 1,
     .version = FORM_NONE,
     .digest = FORM_NONE,
     .expect = CID_ERR_INVALID},
    {.what = "no policy for the service",
     .service = "library",
     .purpose = "loans",
     .attrs = {"email"},
     .n = 1,
     .days = 0,
     .version = FORM_NONE,
     .digest = FORM_NONE,
     .expect = CID_ERR_REFUSED,
     .fault = CID_PAPER_NO_POLICY},
    {.what = "no such purpose",
     .service = "childcare",
     .purpose = "marketing",
     .attrs = {"email"},
     .n = 1,
     .days = 0,
     .version = FORM_NONE,
     .digest = FORM_NONE,
     .expect = CID_ERR_REFUSED,
     .fault = CID_PAPER_NO_PURPOSE},
    {.what = "a statute basis asks no consent",
     .service = "childcare",
     .purpose = "eligibility",
     .attrs = {"resident_district"},
     .n = 1,
     .days = 0,
     .version = FORM_NONE,
     .digest = FORM_NONE,
     .expect = CID_ERR_REFUSED,
     .fault = CID_PAPER_STATUTE},
    {.what = "an attribute the purpose denies",
     FEE,
     .attrs = {"household_size", "given_name"},
     .n = 2,
     .days = 0,
     .version = FORM_NONE,
     .digest = FORM_NONE,
     .expect = CID_ERR_REFUSED,
     .fault = CID_PAPER_NOT_PERMITTED,
     .attribute = "given_name"},
    {.what = "an attribute the purpose does not list",
     FEE,
     .attrs = {"phone_number", "email"},
     .n = 2,
     .days = 0,
     .version = FORM_NONE,
     .digest = FORM_NONE,
     .expect = CID_ERR_REFUSED,
     .fault = CID_PAPER_NOT_PERMITTED,
     .attribute = "phone_number"},
    {.what = "an attribute behind a step-up may be asked",
     FEE,
     .attrs = {"birthdate"},
     .n = 1,
     .days = 0,
     .version = FORM_NONE,
     .digest = FORM_NONE,
     .expect = CID_OK,
     .lasts = 365},
    {.what = "the form names what is in force",
     FEE,
     .attrs = {"email"},
     .n = 1,
     .days = 0,
     .version = FORM_IN_FORCE,
     .digest = FORM_IN_FORCE,
     .expect = CID_OK,
     .lasts = 365},
    {.what = "the form names another version",
     FEE,
     .attrs = {"email"},
     .n = 1,
     .days = 0,
     .version = FORM_OTHER,
     .digest = FORM_IN_FORCE,
     .expect = CID_ERR_REFUSED,
     .fault = CID_PAPER_OTHER_VERSION},
    {.what = "the form names another text",
     FEE,
     .attrs = {"email"},
     .n = 1,
     .days = 0,
     .version = FORM_IN_FORCE,
     .digest = FORM_OTHER,
     .expect = CID_ERR_REFUSED,
     .fault = CID_PAPER_OTHER_DIGEST},
    {.what = "a service name no record can have",
     .service = "child\ncare",
     .purpose = "fee-calculation",
     .attrs = {"email"},
     .n = 1,
     .days = 0,
     .version = FORM_NONE,
     .digest = FORM_NONE,
     .expect = CID_ERR_INVALID},
    {.what = "a purpose name no record can have",
     .service = "childcare",
     .purpose = NAME_129,
     .attrs = {"email"},
     .n = 1,
     .days = 0,
     .version = FORM_NONE,
     .digest = FORM_NONE,
     .expect = CID_ERR_INVALID},
    {.what = "no attribute",
     FEE,
     .attrs = {NULL},
     .n = 0,
     .days = 0,
     .version = FORM_NONE,
     .digest = FORM_NONE,
     .expect = CID_ERR_INVALID},
    {.what = "an attribute twice",
     FEE,
     .attrs = {"email", "email"},
     .n = 2,
     .days = 0,
     .version = FORM_NONE,
     .digest = FORM_NONE,
     .expect = CID_ERR_INVALID},
    {.what = "a tagged attribute",
     FEE,
     .attrs = {"family_name#ja-Kana-JP"},
     .n = 1,
     .days = 0,
     .version = FORM_NONE,
     .digest = FORM_NONE,
     .expect = CID_ERR_INVALID},
    {.what = "negative days",
     FEE,
     .attrs = {"email"},
     .n = 1,
     .days = -1,
     .version = FORM_NONE,
     .digest = FORM_NONE,
     .expect = CID_ERR_INVALID},
    {.what = "an account id that is no UUID",
     .account_id = "hanako",
     FEE,
     .attrs = {"email"},
     .n = 1,
     .days = 0,
     .version = FORM_NONE,
     .digest = FORM_NONE,
     .expect = CID_ERR_INVALID},
};

/* The value a row puts on the form: none, what is in force, or something else. */
static const char *form(enum form_value v, const char *in_force)
{
	return v == FORM_NONE ? NULL : v == FORM_IN_FORCE ? in_force : "signed-under-another";
}

/* Checks the records a paper grant wrote: method, versions, expiry. */
static void check_paper_records(struct cid_store *s, const struct paper_case *r, char **ids,
				const char *version, const char *digest, int64_t expires_at)
{
	assert_int_equal(expires_at, NOW + r->lasts * 24 * 3600);
	for (size_t j = 0; j < r->n; j++) {
		json_t *rec = NULL;

		assert_int_equal(cid_consent_get(s, ids[j], &rec), CID_OK);
		assert_string_equal(member(rec, "attribute"), r->attrs[j]);
		assert_string_equal(member(rec, "state"), "granted");
		assert_string_equal(member(json_object_get(rec, "how"), "method"), "cli:paper");
		assert_string_equal(member(rec, "policy_version"), version);
		assert_string_equal(member(rec, "purpose_digest"), digest);
		assert_int_equal(int_member(rec, "expires_at"), expires_at);
		json_decref(rec);
		free(ids[j]);
	}
}

static void test_paper_grant_table(void **state)
{
	struct cid_test_store *f = *state;
	struct cid_policyset *ps = NULL;
	struct cid_purpose_info fee;
	const char *version;

	assert_int_equal(cid_policyset_parse("childcare.policy", paper_policy, strlen(paper_policy),
					     stderr, &ps),
			 CID_OK);
	version = cid_policyset_version(ps, "childcare");
	assert_true(
	    cid_policy_purpose_find(cid_policyset_find(ps, "childcare"), "fee-calculation", &fee));
	for (size_t i = 0; i < sizeof(paper_cases) / sizeof(paper_cases[0]); i++) {
		const struct paper_case *r = &paper_cases[i];
		struct cid_consent_paper g = {
		    .account_id = r->account_id != NULL ? r->account_id : HANAKO,
		    .service = r->service,
		    .purpose = r->purpose,
		    .attributes = r->attrs,
		    .n_attributes = r->n,
		    .days = r->days,
		    .policy_version = form(r->version, version),
		    .purpose_digest = form(r->digest, fee.digest),
		    .now = NOW,
		};
		struct cid_consent_paper_refusal why = {.attribute = "untouched"};
		char *ids[2] = {NULL, NULL};
		int64_t expires_at = -1;
		size_t before = history_size(f->s, HANAKO);
		enum cid_err rc = cid_consent_paper_grant(f->s, ps, &g, ids, &expires_at, &why);

		if (rc != r->expect)
			fail_msg("%s: got %s, wanted %s", r->what, cid_strerror(rc),
				 cid_strerror(r->expect));
		if (rc == CID_OK) {
			struct cid_purpose_info pu;

			assert_true(cid_policy_purpose_find(cid_policyset_find(ps, r->service),
							    r->purpose, &pu));
			assert_int_equal(history_size(f->s, HANAKO), before + r->n);
			check_paper_records(f->s, r, ids, version, pu.digest, expires_at);
			assert_string_equal(why.attribute, "untouched");
			continue;
		}
		/* nothing written, no id handed out, the expiry untouched */
		assert_int_equal(history_size(f->s, HANAKO), before);
		assert_null(ids[0]);
		assert_int_equal(expires_at, -1);
		if (rc != CID_ERR_REFUSED) {
			assert_string_equal(why.attribute, "untouched");
			continue;
		}
		if (why.fault != r->fault)
			fail_msg("%s: fault %d, wanted %d", r->what, why.fault, r->fault);
		if (r->fault == CID_PAPER_NOT_PERMITTED)
			assert_string_equal(why.attribute, r->attribute);
		if (r->fault == CID_PAPER_OTHER_VERSION)
			assert_string_equal(why.in_force, version);
		if (r->fault == CID_PAPER_OTHER_DIGEST)
			assert_string_equal(why.in_force, fee.digest);
		if (r->fault == CID_PAPER_TOO_LONG)
			assert_int_equal(why.max_days, r->lasts);
	}
	cid_policyset_free(ps);
}

/* Without policies in force there is nothing a paper consent could answer. */
static void test_paper_grant_without_policies(void **state)
{
	struct cid_test_store *f = *state;
	const char *const attrs[] = {"email"};
	struct cid_consent_paper g = {
	    .account_id = HANAKO,
	    .service = "childcare",
	    .purpose = "fee-calculation",
	    .attributes = attrs,
	    .n_attributes = 1,
	    .now = NOW,
	};
	struct cid_consent_paper_refusal why = {.fault = CID_PAPER_TOO_LONG};

	assert_int_equal(cid_consent_paper_grant(f->s, NULL, &g, NULL, NULL, &why),
			 CID_ERR_REFUSED);
	assert_int_equal(why.fault, CID_PAPER_NO_POLICY);
	assert_int_equal(cid_consent_paper_grant(f->s, NULL, NULL, NULL, NULL, &why),
			 CID_ERR_INVALID);
	assert_int_equal(history_size(f->s, HANAKO), 0);
}

/* ---- invalid input, one row per case ---- */

struct record_case {
	const char *what;
	const char *account_id, *service, *purpose, *policy_version, *purpose_digest;
	enum cid_consent_method method;
	const char *request_id;
	const char *attribute, *attribute2; /* attribute2: a second change, or NULL */
	enum cid_consent_state state;
	int64_t expires_at;
	int64_t now;
	size_t n; /* changes passed: attribute, then attribute2 */
	enum cid_err expect;
};

#define OK_CTX HANAKO, SERVICE, PURPOSE, VERSION, DIGEST, METHOD, NULL

static const struct record_case record_cases[] = {
    {"valid", OK_CTX, "email", NULL, CID_CONSENT_GRANTED, 0, NOW, 1, CID_OK},
    {"account id NULL", NULL, SERVICE, PURPOSE, VERSION, DIGEST, METHOD, NULL, "email", NULL,
     CID_CONSENT_GRANTED, 0, NOW, 1, CID_ERR_INVALID},
    {"account id of 35 chars", "0a1b2c3d-0000-4000-8000-00000000000", SERVICE, PURPOSE, VERSION,
     DIGEST, METHOD, NULL, "email", NULL, CID_CONSENT_GRANTED, 0, NOW, 1, CID_ERR_INVALID},
    {"account id not a UUID", "0A1B2C3D-0000-4000-8000-000000000001", SERVICE, PURPOSE, VERSION,
     DIGEST, METHOD, NULL, "email", NULL, CID_CONSENT_GRANTED, 0, NOW, 1, CID_ERR_INVALID},
    {"account id with a newline", "0a1b2c3d-0000-4000-8000-00000000000\n", SERVICE, PURPOSE,
     VERSION, DIGEST, METHOD, NULL, "email", NULL, CID_CONSENT_GRANTED, 0, NOW, 1, CID_ERR_INVALID},
    {"service NULL", HANAKO, NULL, PURPOSE, VERSION, DIGEST, METHOD, NULL, "email", NULL,
     CID_CONSENT_GRANTED, 0, NOW, 1, CID_ERR_INVALID},
    {"service empty", HANAKO, "", PURPOSE, VERSION, DIGEST, METHOD, NULL, "email", NULL,
     CID_CONSENT_GRANTED, 0, NOW, 1, CID_ERR_INVALID},
    {"service with a newline", HANAKO, "child\ncare", PURPOSE, VERSION, DIGEST, METHOD, NULL,
     "email", NULL, CID_CONSENT_GRANTED, 0, NOW, 1, CID_ERR_INVALID},
    {"service of 128 bytes", HANAKO, NAME_128, PURPOSE, VERSION, DIGEST, METHOD, NULL, "email",
     NULL, CID_CONSENT_GRANTED, 0, NOW, 1, CID_OK},
    {"service of 129 bytes", HANAKO, NAME_129, PURPOSE, VERSION, DIGEST, METHOD, NULL, "email",
     NULL, CID_CONSENT_GRANTED, 0, NOW, 1, CID_ERR_INVALID},
    {"service not UTF-8", HANAKO, "child\xff", PURPOSE, VERSION, DIGEST, METHOD, NULL, "email",
     NULL, CID_CONSENT_GRANTED, 0, NOW, 1, CID_ERR_INVALID},
    {"service with a control", HANAKO, "child\x01", PURPOSE, VERSION, DIGEST, METHOD, NULL, "email",
     NULL, CID_CONSENT_GRANTED, 0, NOW, 1, CID_ERR_INVALID},
    {"service in Japanese", HANAKO, "子育て支援", PURPOSE, VERSION, DIGEST, METHOD, NULL, "email",
     NULL, CID_CONSENT_GRANTED, 0, NOW, 1, CID_OK},
    {"purpose NULL", HANAKO, SERVICE, NULL, VERSION, DIGEST, METHOD, NULL, "email", NULL,
     CID_CONSENT_GRANTED, 0, NOW, 1, CID_ERR_INVALID},
    {"purpose with a newline", HANAKO, SERVICE, "fee\n", VERSION, DIGEST, METHOD, NULL, "email",
     NULL, CID_CONSENT_GRANTED, 0, NOW, 1, CID_ERR_INVALID},
    {"purpose of 129 bytes", HANAKO, SERVICE, NAME_129, VERSION, DIGEST, METHOD, NULL, "email",
     NULL, CID_CONSENT_GRANTED, 0, NOW, 1, CID_ERR_INVALID},
    {"attribute NULL", OK_CTX, NULL, NULL, CID_CONSENT_GRANTED, 0, NOW, 1, CID_ERR_INVALID},
    {"attribute empty", OK_CTX, "", NULL, CID_CONSENT_GRANTED, 0, NOW, 1, CID_ERR_INVALID},
    {"attribute unknown", OK_CTX, "favourite_colour", NULL, CID_CONSENT_GRANTED, 0, NOW, 1,
     CID_ERR_INVALID},
    {"attribute with a language tag", OK_CTX, "family_name#ja-Kana-JP", NULL, CID_CONSENT_GRANTED,
     0, NOW, 1, CID_ERR_INVALID},
    {"attribute with a newline", OK_CTX, "email\n", NULL, CID_CONSENT_GRANTED, 0, NOW, 1,
     CID_ERR_INVALID},
    {"attribute twice", OK_CTX, "email", "email", CID_CONSENT_GRANTED, 0, NOW, 2, CID_ERR_INVALID},
    {"state EXPIRED", OK_CTX, "email", NULL, CID_CONSENT_EXPIRED, 0, NOW, 1, CID_ERR_INVALID},
    {"state out of range", OK_CTX, "email", NULL, (enum cid_consent_state)42, 0, NOW, 1,
     CID_ERR_INVALID},
    {"no changes", OK_CTX, "email", NULL, CID_CONSENT_GRANTED, 0, NOW, 0, CID_ERR_INVALID},
    {"grant expiring now", OK_CTX, "email", NULL, CID_CONSENT_GRANTED, NOW, NOW, 1,
     CID_ERR_INVALID},
    {"grant expiring next second", OK_CTX, "email", NULL, CID_CONSENT_GRANTED, NOW + 1, NOW, 1,
     CID_OK},
    {"negative expiry", OK_CTX, "email", NULL, CID_CONSENT_WITHDRAWN, -1, NOW, 1, CID_ERR_INVALID},
    {"negative time", OK_CTX, "email", NULL, CID_CONSENT_GRANTED, 0, -1, 1, CID_ERR_INVALID},
    {"policy version NULL", HANAKO, SERVICE, PURPOSE, NULL, DIGEST, METHOD, NULL, "email", NULL,
     CID_CONSENT_GRANTED, 0, NOW, 1, CID_ERR_INVALID},
    {"purpose digest empty", HANAKO, SERVICE, PURPOSE, VERSION, "", METHOD, NULL, "email", NULL,
     CID_CONSENT_GRANTED, 0, NOW, 1, CID_ERR_INVALID},
    {"no method", HANAKO, SERVICE, PURPOSE, VERSION, DIGEST, CID_CONSENT_METHOD_NONE, NULL, "email",
     NULL, CID_CONSENT_GRANTED, 0, NOW, 1, CID_ERR_INVALID},
    {"request id with a newline", HANAKO, SERVICE, PURPOSE, VERSION, DIGEST, METHOD, "r\n1",
     "email", NULL, CID_CONSENT_GRANTED, 0, NOW, 1, CID_ERR_INVALID},
    {"request id given", HANAKO, SERVICE, PURPOSE, VERSION, DIGEST, METHOD, "req-9", "email", NULL,
     CID_CONSENT_REFUSED, 0, NOW, 1, CID_OK},
};

static void test_record_input_table(void **state)
{
	struct cid_test_store *f = *state;

	for (size_t i = 0; i < sizeof(record_cases) / sizeof(record_cases[0]); i++) {
		const struct record_case *r = &record_cases[i];
		struct cid_consent_context ctx = {
		    .account_id = r->account_id,
		    .service = r->service,
		    .purpose = r->purpose,
		    .policy_version = r->policy_version,
		    .purpose_digest = r->purpose_digest,
		    .method = r->method,
		    .request_id = r->request_id,
		    .now = r->now,
		};
		const struct cid_consent_change c[2] = {
		    {r->attribute, r->state, r->expires_at},
		    {r->attribute2, r->state, r->expires_at},
		};
		size_t n = r->n;
		size_t before = history_size(f->s, HANAKO);
		char *ids[2] = {NULL, NULL};
		enum cid_err rc = cid_consent_record(f->s, &ctx, c, n, ids);

		if (rc != r->expect)
			fail_msg("%s: got %s, wanted %s", r->what, cid_strerror(rc),
				 cid_strerror(r->expect));
		/* an error writes nothing and hands out no id */
		if (rc != CID_OK) {
			assert_null(ids[0]);
			assert_int_equal(history_size(f->s, HANAKO), before);
		} else if (r->account_id != NULL && strcmp(r->account_id, HANAKO) == 0) {
			assert_int_equal(history_size(f->s, HANAKO), before + n);
		}
		free(ids[0]);
		free(ids[1]);
	}
}

/* 300 characters of 3 bytes each, and one more */
#define KANA	 "あ"
#define KANA_10	 KANA KANA KANA KANA KANA KANA KANA KANA KANA KANA
#define KANA_100 KANA_10 KANA_10 KANA_10 KANA_10 KANA_10 KANA_10 KANA_10 KANA_10 KANA_10 KANA_10
#define KANA_300 KANA_100 KANA_100 KANA_100

/* The service's stated purpose (OIDC4IDA §8): characters counted, not bytes; one line. */
static void test_request_purpose_table(void **state)
{
	static const struct {
		const char *text;
		bool ok;
	} cases[] = {
	    {NULL, false},
	    {"", false},
	    {"ab", false},
	    {"abc", true},
	    {"あい", false},
	    {"あいう", true},
	    {KANA_300, true},
	    {KANA_300 KANA, false},
	    {KANA_300 "x", false},
	    {"line\nbreak", false},
	    {"tab\there", false},
	    {"del\x7f", false},
	    {"next\xc2\x85line", false},     /* U+0085, a C1 control */
	    {"no-break\xc2\xa0space", true}, /* U+00A0 is text */
	    {"bad\xff", false},
	    {"overlong\xc0\xaf", false},
	};
	struct cid_test_store *f = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cid_consent_context ctx = context(HANAKO, SERVICE, PURPOSE, NOW);
		struct cid_consent_change c = {"email", CID_CONSENT_GRANTED, 0};
		char *id = NULL;
		enum cid_err rc;

		if (cid_consent_request_purpose_ok(cases[i].text) != cases[i].ok)
			fail_msg("case %zu: wanted %s", i, cases[i].ok ? "ok" : "refused");
		/* a record keeps only a purpose the rule accepts; NULL is "none stated" */
		ctx.request_purpose = cases[i].text;
		rc = cid_consent_record(f->s, &ctx, &c, 1, &id);
		if (rc != (cases[i].ok || cases[i].text == NULL ? CID_OK : CID_ERR_INVALID))
			fail_msg("case %zu: record got %s", i, cid_strerror(rc));
		free(id);
	}
}

/* ---- the id index (consent_ids.c) ---- */

/* Adds the key a record should have in the id index to the object arg: its id -> its key. */
static enum cid_err expect_id(struct cid_str key, struct cid_str val, void *arg)
{
	json_t *rec = NULL;

	assert_int_equal(cid_store_parse_json(val, &rec), CID_OK);
	assert_null(json_object_get(arg, member(rec, "id")));
	assert_int_equal(
	    json_object_set_new(arg, member(rec, "id"), json_stringn(key.ptr, key.len)), 0);
	json_decref(rec);
	return CID_OK;
}

/* The id index holds exactly one key per record, against a full scan; returns the records. */
static size_t assert_ids_exact(struct cid_store *s)
{
	return cid_test_assert_index_exact(s, CID_DB_CONSENTS, CID_DB_CONSENT_IDS, expect_id);
}

/* One write of a test: key NULL clears db, val NULL deletes key, del_record: cid_consent_del. */
struct raw_write {
	enum cid_db db;
	const char *key;
	const char *val;
	bool del_record;
};

static enum cid_err raw_write_cb(struct cid_txn *txn, void *arg)
{
	const struct raw_write *w = arg;

	if (w->del_record)
		return cid_consent_del(txn, cid_str_of(w->key));
	if (w->key == NULL)
		return cid_txn_clear(txn, w->db);
	if (w->val == NULL)
		return cid_txn_del(txn, w->db, cid_str_of(w->key));
	return cid_txn_put(txn, w->db, cid_str_of(w->key), cid_str_of(w->val), 0);
}

static enum cid_err raw_write(struct cid_store *s, struct raw_write w)
{
	return cid_store_update(s, raw_write_cb, &w);
}

/* Collects the store keys of the records whose id is not id. */
struct others {
	const char *id;
	json_t *keys;
};

static enum cid_err other_record(struct cid_str key, struct cid_str val, void *arg)
{
	struct others *o = arg;
	json_t *rec = NULL;

	assert_int_equal(cid_store_parse_json(val, &rec), CID_OK);
	if (strcmp(member(rec, "id"), o->id) != 0)
		assert_int_equal(json_array_append_new(o->keys, json_stringn(key.ptr, key.len)), 0);
	json_decref(rec);
	return CID_OK;
}

/* The store key of the record of id. */
static char *key_of_id(struct cid_store *s, const char *id)
{
	struct cid_txn *txn = NULL;
	struct cid_str key;
	char *out;

	assert_int_equal(cid_store_read_begin(s, &txn), CID_OK);
	assert_int_equal(cid_txn_get(txn, CID_DB_CONSENT_IDS, cid_str_of(id), &key), CID_OK);
	out = strndup(key.ptr, key.len);
	cid_store_read_end(txn);
	assert_non_null(out);
	return out;
}

/*
 * The id index holds one key per record through every write and delete, and
 * cid_consent_get reads that record and no other: with every other record
 * damaged, and damaged so that its bytes even hold the id sought, it still
 * finds its record; a damaged record of its own is damage, an id key naming
 * another id's record too. cid_consent_del (a retention purge) takes the
 * record's id key with it.
 */
static void test_consent_get_reads_no_other_record(void **state)
{
	struct cid_test_store *f = *state;
	struct cid_consent_context taro = context(TARO, "library", PURPOSE, NOW);
	struct cid_consent_change c = {"email", CID_CONSENT_GRANTED, 0};
	char *a = record1(f->s, "email", CID_CONSENT_GRANTED, NOW + WEEK, NOW);
	char *b = record1(f->s, "email", CID_CONSENT_WITHDRAWN, 0, NOW + 1);
	char *t = NULL;
	char *key;
	char damaged[128];
	struct others o = {a, json_array()};
	struct cid_txn *txn = NULL;
	json_t *rec = NULL;
	size_t i;
	json_t *k;

	assert_non_null(o.keys);
	assert_int_equal(cid_consent_record(f->s, &taro, &c, 1, &t), CID_OK);
	assert_int_equal(assert_ids_exact(f->s), 3);
	/* deleted as a purge deletes: the record and its id key, and no other key */
	key = key_of_id(f->s, t);
	assert_int_equal(raw_write(f->s, (struct raw_write){.key = key, .del_record = true}),
			 CID_OK);
	assert_int_equal(assert_ids_exact(f->s), 2);
	assert_int_equal(cid_consent_get(f->s, t, &rec), CID_ERR_NOTFOUND);
	assert_int_equal(raw_write(f->s, (struct raw_write){.key = key, .del_record = true}),
			 CID_ERR_NOTFOUND);
	free(key);

	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_txn_foreach(txn, CID_DB_CONSENTS, cid_str_of(""), other_record, &o),
			 CID_OK);
	cid_store_read_end(txn);
	assert_int_equal(json_array_size(o.keys), 1);
	assert_true(snprintf(damaged, sizeof(damaged), "damaged, not JSON: %s", a) > 0);
	json_array_foreach(o.keys, i, k) assert_int_equal(
	    raw_write(f->s,
		      (struct raw_write){CID_DB_CONSENTS, json_string_value(k), damaged, false}),
	    CID_OK);
	assert_int_equal(cid_consent_get(f->s, a, &rec), CID_OK);
	assert_string_equal(member(rec, "id"), a);
	json_decref(rec);
	rec = NULL;
	assert_int_equal(cid_consent_get(f->s, b, &rec), CID_ERR_STORE);
	/* an id key that names another id's record */
	key = key_of_id(f->s, a);
	assert_int_equal(raw_write(f->s, (struct raw_write){CID_DB_CONSENT_IDS, b, key, false}),
			 CID_OK);
	assert_int_equal(cid_consent_get(f->s, b, &rec), CID_ERR_STORE);
	assert_null(rec);
	free(key);
	json_decref(o.keys);
	free(a);
	free(b);
	free(t);
}

/*
 * A store written before the id index existed gets it at start, once; so
 * does one an older build wrote a record in. A record without an id stops
 * the build, which then writes nothing.
 */
static void test_consent_index_built_for_a_store_without_one(void **state)
{
	struct cid_test_store *f = *state;
	char *a = record1(f->s, "email", CID_CONSENT_GRANTED, NOW + WEEK, NOW);
	char *b = record1(f->s, "birthdate", CID_CONSENT_REFUSED, 0, NOW + 1);
	struct cid_txn *txn = NULL;
	json_t *rec = NULL;
	size_t built = 99;
	uint64_t n = 99;

	/* the store as an older build left it: records, no index */
	assert_int_equal(raw_write(f->s, (struct raw_write){CID_DB_CONSENT_IDS, NULL, NULL, false}),
			 CID_OK);
	assert_int_equal(cid_consent_get(f->s, a, &rec), CID_ERR_NOTFOUND);
	/* the start builds it */
	assert_int_equal(cid_consent_index_ensure(f->s, &built), CID_OK);
	assert_int_equal(built, 2);
	assert_int_equal(assert_ids_exact(f->s), 2);
	assert_int_equal(cid_consent_index_ensure(f->s, &built), CID_OK);
	assert_int_equal(built, 0); /* once */
	assert_int_equal(cid_consent_get(f->s, a, &rec), CID_OK);
	json_decref(rec);
	rec = NULL;
	/* an older build wrote a record without its key */
	assert_int_equal(raw_write(f->s, (struct raw_write){CID_DB_CONSENT_IDS, b, NULL, false}),
			 CID_OK);
	assert_int_equal(cid_consent_index_ensure(f->s, &built), CID_OK);
	assert_int_equal(built, 2);
	assert_int_equal(assert_ids_exact(f->s), 2);
	/* a record that has no id, sorting first: a build that committed on its error
	   would leave the index empty */
	assert_int_equal(
	    raw_write(f->s, (struct raw_write){CID_DB_CONSENTS, "!damaged", "{}", false}), CID_OK);
	assert_int_equal(cid_consent_index_ensure(f->s, &built), CID_ERR_STORE);
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_txn_count(txn, CID_DB_CONSENT_IDS, &n), CID_OK);
	cid_store_read_end(txn);
	assert_int_equal(n, 2);
	free(a);
	free(b);
}

/* Damages the stored record of id: its bytes are no JSON any more. */
static void damage_record(struct cid_store *s, const char *id)
{
	char *key = key_of_id(s, id);

	assert_int_equal(
	    raw_write(s, (struct raw_write){CID_DB_CONSENTS, key, "damaged, not JSON", false}),
	    CID_OK);
	free(key);
}

/* cid_consent_current of hanako's (SERVICE, PURPOSE) at now: its error, or CID_OK. */
static enum cid_err current_rc(struct cid_store *s, int64_t now)
{
	struct cid_txn *txn = NULL;
	struct cid_consent_facts *facts = NULL;
	enum cid_err rc;

	assert_int_equal(cid_store_read_begin(s, &txn), CID_OK);
	rc = cid_consent_current(txn, HANAKO, SERVICE, PURPOSE, now, &facts);
	cid_store_read_end(txn);
	cid_consent_facts_free(facts);
	return rc;
}

/*
 * A decision recorded over a damaged latest record (one that no longer
 * reads) supersedes it as any other would: the damage stops the readers of
 * the current decision until then, the new record is the current one after,
 * and the damaged record is kept as it is (append-only, damage is never
 * mended here). A withdrawal over it is refused (CID_ERR_STORE): which
 * grant, under which versions, it would withdraw is unknown; nothing is
 * written.
 */
static void test_decision_over_a_damaged_latest_record(void **state)
{
	struct cid_test_store *f = *state;
	struct cid_consent_context ctx = context(HANAKO, SERVICE, PURPOSE, NOW + 3);
	const char *email = "email";
	char *a = record1(f->s, "email", CID_CONSENT_GRANTED, NOW + WEEK, NOW);
	char *b = NULL;
	char *c = NULL;
	char *w = NULL;
	struct cid_consent_facts *facts;
	const struct cid_consent_fact *fact;
	json_t *rec = NULL;

	damage_record(f->s, a);
	assert_int_equal(current_rc(f->s, NOW + 1), CID_ERR_STORE);
	b = record1(f->s, "email", CID_CONSENT_GRANTED, NOW + 2 * WEEK, NOW + 1);
	facts = current(f->s, HANAKO, SERVICE, PURPOSE, NOW + 1);
	fact = fact_of(facts, "email");
	assert_non_null(fact);
	assert_int_equal(fact->state, CID_CONSENT_GRANTED);
	assert_string_equal(fact->record_id, b);
	assert_int_equal(fact->expires_at, NOW + 2 * WEEK);
	cid_consent_facts_free(facts);
	assert_int_equal(cid_consent_get(f->s, a, &rec), CID_ERR_STORE);
	assert_int_equal(cid_consent_get(f->s, b, &rec), CID_OK);
	json_decref(rec);
	rec = NULL;
	/* a refusal over a damaged latest record, the same */
	damage_record(f->s, b);
	c = record1(f->s, "email", CID_CONSENT_REFUSED, 0, NOW + 2);
	facts = current(f->s, HANAKO, SERVICE, PURPOSE, NOW + 2);
	fact = fact_of(facts, "email");
	assert_non_null(fact);
	assert_int_equal(fact->state, CID_CONSENT_REFUSED);
	assert_string_equal(fact->record_id, c);
	cid_consent_facts_free(facts);
	/* a withdrawal over one is refused, and writes nothing */
	damage_record(f->s, c);
	assert_int_equal(cid_consent_withdraw(f->s, &ctx, &email, 1, &w, NULL), CID_ERR_STORE);
	assert_null(w);
	assert_int_equal(current_rc(f->s, NOW + 3), CID_ERR_STORE);
	assert_int_equal(cid_test_count(f->s, CID_DB_CONSENTS), 3);
	assert_int_equal(cid_test_count(f->s, CID_DB_CONSENT_IDS), 3);
	free(a);
	free(b);
	free(c);
}

/* ---- withdrawing everything in force of a deleted citizen ---- */

/* One decision recorded before the withdrawal, and what the withdrawal makes of it. */
static const struct withdraw_all_case {
	const char *account;
	const char *service;
	const char *purpose;
	const char *attribute;
	enum cid_consent_state state;
	int64_t expires_at;
	enum cid_consent_state after; /* the latest record's state afterwards */
} withdraw_all_cases[] = {
    {HANAKO, SERVICE, PURPOSE, "email", CID_CONSENT_GRANTED, 0, CID_CONSENT_WITHDRAWN},
    {HANAKO, SERVICE, PURPOSE, "birthdate", CID_CONSENT_REFUSED, 0, CID_CONSENT_REFUSED},
    {HANAKO, SERVICE, PURPOSE, "name", CID_CONSENT_WITHDRAWN, 0, CID_CONSENT_WITHDRAWN},
    /* expired at the time of the withdrawal: not in force, left as it is */
    {HANAKO, SERVICE, PURPOSE, "gender", CID_CONSENT_GRANTED, NOW + 50, CID_CONSENT_GRANTED},
    {HANAKO, SERVICE, "other-purpose", "email", CID_CONSENT_GRANTED, NOW + 3600,
     CID_CONSENT_WITHDRAWN},
    {HANAKO, "library", PURPOSE, "address", CID_CONSENT_GRANTED, 0, CID_CONSENT_WITHDRAWN},
    /* another citizen's grant is theirs */
    {TARO, SERVICE, PURPOSE, "email", CID_CONSENT_GRANTED, 0, CID_CONSENT_GRANTED},
};

static enum cid_err withdraw_all_cb(struct cid_txn *txn, void *arg)
{
	return cid_consent_withdraw_account_txn(txn, HANAKO, CID_CONSENT_METHOD_CLI_WITHDRAW,
						NOW + 100, arg);
}

static void test_withdraw_account_table(void **state)
{
	struct cid_test_store *f = *state;
	const size_t n = sizeof(withdraw_all_cases) / sizeof(withdraw_all_cases[0]);
	size_t withdrawn = 99;
	size_t before;
	struct cid_txn *txn = NULL;

	for (size_t i = 0; i < n; i++) {
		const struct withdraw_all_case *c = &withdraw_all_cases[i];
		struct cid_consent_context ctx = context(c->account, c->service, c->purpose, NOW);
		struct cid_consent_change change = {c->attribute, c->state, c->expires_at};

		assert_int_equal(cid_consent_record(f->s, &ctx, &change, 1, NULL), CID_OK);
	}
	before = history_size(f->s, HANAKO);
	assert_int_equal(cid_store_update(f->s, withdraw_all_cb, &withdrawn), CID_OK);
	assert_int_equal(withdrawn, 3);
	assert_int_equal(history_size(f->s, HANAKO), before + 3);
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	for (size_t i = 0; i < n; i++) {
		const struct withdraw_all_case *c = &withdraw_all_cases[i];
		json_t *rec = NULL;
		struct cid_consent_record r;

		assert_int_equal(
		    cid_consent_latest(txn, c->account, c->service, c->purpose, c->attribute, &rec),
		    CID_OK);
		assert_int_equal(cid_consent_record_read(rec, &r), CID_OK);
		if (r.state != c->after)
			fail_msg("row %zu (%s): state %d, want %d", i, c->attribute, (int)r.state,
				 (int)c->after);
		/* a withdrawal keeps the versions of the grant it ends, and says who did it */
		if (c->after == CID_CONSENT_WITHDRAWN && c->state == CID_CONSENT_GRANTED) {
			assert_string_equal(r.policy_version, VERSION);
			assert_string_equal(r.method, "cli:withdraw");
			assert_int_equal(r.at, NOW + 100);
		}
		json_decref(rec);
	}
	cid_store_read_end(txn);
	/* nothing left in force: a second run withdraws nothing */
	assert_int_equal(cid_store_update(f->s, withdraw_all_cb, &withdrawn), CID_OK);
	assert_int_equal(withdrawn, 0);
	/* at NOW the gender grant was in force: a read transaction cannot withdraw it */
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_consent_withdraw_account_txn(
			     txn, HANAKO, CID_CONSENT_METHOD_CLI_WITHDRAW, NOW, NULL),
			 CID_ERR_INVALID);
	cid_store_read_end(txn);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_record_parse_table),
	    cmocka_unit_test_setup_teardown(test_request_purpose_table, cid_test_store_setup,
					    cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_withdraw_after_grant_keeps_both_records,
					    cid_test_store_setup, cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_grant_expires_at_its_expiry, cid_test_store_setup,
					    cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_refusal_is_current_and_a_later_grant_supersedes_it,
					    cid_test_store_setup, cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_expiry_of_refusal_or_withdrawal_is_not_recorded,
					    cid_test_store_setup, cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_several_attributes_in_one_call,
					    cid_test_store_setup, cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_invalid_change_in_a_batch_writes_nothing,
					    cid_test_store_setup, cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_withdraw_fails_whole_batch_without_a_grant,
					    cid_test_store_setup, cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_withdraw_records_the_versions_it_withdraws,
					    cid_test_store_setup, cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_withdraw_refuses_an_expired_grant,
					    cid_test_store_setup, cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_current_sees_only_its_citizen_service_and_purpose,
					    cid_test_store_setup, cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_ordering_past_sixteen_records,
					    cid_test_store_setup, cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_get_by_id, cid_test_store_setup,
					    cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_consent_get_reads_no_other_record,
					    cid_test_store_setup, cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_decision_over_a_damaged_latest_record,
					    cid_test_store_setup, cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_consent_index_built_for_a_store_without_one,
					    cid_test_store_setup, cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_record_read_typed, cid_test_store_setup,
					    cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_facts_outlive_the_transaction,
					    cid_test_store_setup, cid_test_store_teardown),
	    cmocka_unit_test(test_state_names),
	    cmocka_unit_test(test_expiry_rule_table),
	    cmocka_unit_test(test_expired_record_table),
	    cmocka_unit_test_setup_teardown(test_readers_follow_the_expiry_rule,
					    cid_test_store_setup, cid_test_store_teardown),
	    cmocka_unit_test(test_expiry_from_a_number_of_days),
	    cmocka_unit_test_setup_teardown(test_method_table, cid_test_store_setup,
					    cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_withdraw_names_the_attribute_at_fault,
					    cid_test_store_setup, cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_paper_grant_table, cid_test_store_setup,
					    cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_paper_grant_without_policies, cid_test_store_setup,
					    cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_record_input_table, cid_test_store_setup,
					    cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_withdraw_account_table, cid_test_store_setup,
					    cid_test_store_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
