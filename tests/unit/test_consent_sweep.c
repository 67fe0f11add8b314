/*
 * Tests of consent_sweep: with a fixed clock, a grant that expired gets one
 * consent.expired entry from the sweeper, with no release; a grant not yet
 * expired, a refusal, a withdrawal or a grant renewed in time gets none; a
 * second sweep, or a sweep after a release logged the expiry, writes
 * nothing; a run writes at most max and counts the rest; a damaged record
 * is skipped and counted, and the others are still swept, by the sweep and
 * by the build of the due index alike.
 */
#include "account.h"
#include "audit.h"
#include "audit_release.h"
#include "consent.h"
#include "consent_sweep.h"
#include "support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define NOW    1800000000
#define DAY    86400
#define HANAKO "0a1b2c3d-0000-4000-8000-000000000001"
#define TARO   "0a1b2c3d-0000-4000-8000-000000000002"

/* Records one change of account's (childcare, fees) at now; returns its id (caller frees). */
static char *record1(struct cid_test_audit *f, const char *account, const char *attribute,
		     enum cid_consent_state state, int64_t expires_at, int64_t now)
{
	struct cid_consent_context ctx = {
	    .account_id = account,
	    .service = "childcare",
	    .purpose = "fees",
	    .policy_version = "v1",
	    .purpose_digest = "dg1",
	    .method = CID_CONSENT_METHOD_SCREEN,
	    .now = now,
	};
	struct cid_consent_change c = {attribute, state, expires_at};
	char *id = NULL;

	assert_int_equal(cid_consent_record(f->s, &ctx, &c, 1, &id), CID_OK);
	return id;
}

/* Entries in the log. */
static uint64_t log_size(struct cid_test_audit *f)
{
	struct cid_txn *txn = NULL;
	uint64_t size = 0;
	char hash[CID_AUDIT_HASH_HEX];

	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_audit_head(txn, &size, hash), CID_OK);
	cid_store_read_end(txn);
	return size;
}

/* Entry seq, parsed (caller frees). */
static json_t *entry(struct cid_test_audit *f, uint64_t seq)
{
	struct cid_txn *txn = NULL;
	json_t *e = NULL;

	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_audit_get(txn, seq, &e), CID_OK);
	cid_store_read_end(txn);
	return e;
}

/* The key and value of the last consent record under prefix (a walk's last call wins). */
struct last_record {
	char key[512];
	size_t len;
	json_t *rec;
};

static enum cid_err last_one(struct cid_str key, struct cid_str val, void *arg)
{
	struct last_record *l = arg;

	assert_true(key.len < sizeof(l->key));
	memcpy(l->key, key.ptr, key.len);
	l->len = key.len;
	json_decref(l->rec);
	assert_int_equal(cid_store_parse_json(val, &l->rec), CID_OK);
	return CID_OK;
}

static enum cid_err put_last(struct cid_txn *txn, void *arg)
{
	struct last_record *l = arg;

	return cid_txn_put_json(txn, CID_DB_CONSENTS, (struct cid_str){l->key, l->len}, l->rec, 0);
}

/* Damages account's newest record (in key order): its member is removed. */
static void damage_latest(struct cid_test_audit *f, const char *account, const char *member)
{
	struct last_record l = {0};
	struct cid_txn *txn = NULL;
	char prefix[64];

	snprintf(prefix, sizeof(prefix), "%s\n", account);
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_txn_foreach(txn, CID_DB_CONSENTS, cid_str_of(prefix), last_one, &l),
			 CID_OK);
	cid_store_read_end(txn);
	assert_non_null(l.rec);
	assert_int_equal(json_object_del(l.rec, member), 0);
	assert_int_equal(cid_store_update(f->s, put_last, &l), CID_OK);
	json_decref(l.rec);
}

static void sweep(struct cid_test_audit *f, int64_t now, size_t max, size_t written, size_t left)
{
	struct cid_consent_sweep done = {0};

	assert_int_equal(cid_consent_sweep(f->s, f->log, now, max, &done), CID_OK);
	assert_int_equal(done.written, written);
	assert_int_equal(done.left, left);
}

/* Only the latest record of an attribute counts, and only a grant past its expiry. */
static void test_sweep_expired_once(void **state)
{
	struct cid_test_audit *f = *state;
	char *email = record1(f, HANAKO, "email", CID_CONSENT_GRANTED, NOW + DAY, NOW);
	char *ids[5] = {
	    record1(f, HANAKO, "birthdate", CID_CONSENT_GRANTED, 0, NOW),
	    record1(f, HANAKO, "address", CID_CONSENT_REFUSED, 0, NOW),
	    record1(f, HANAKO, "phone_number", CID_CONSENT_GRANTED, NOW + DAY, NOW),
	    record1(f, HANAKO, "phone_number", CID_CONSENT_WITHDRAWN, 0, NOW + 60),
	    record1(f, HANAKO, "gender", CID_CONSENT_GRANTED, NOW + DAY, NOW),
	};
	char *renewed = record1(f, HANAKO, "gender", CID_CONSENT_GRANTED, NOW + 9 * DAY, NOW + 120);
	/* a later record of another attribute whose name starts with email's: email's stays latest
	 */
	char *verified = record1(f, HANAKO, "email_verified", CID_CONSENT_GRANTED, 0, NOW + 180);
	uint64_t before = log_size(f);
	json_t *e;

	sweep(f, NOW + DAY - 1, 16, 0, 0); /* nothing has expired yet */
	assert_int_equal(log_size(f), before);
	sweep(f, NOW + DAY, 16, 1, 0); /* the email grant expires at that second */
	assert_int_equal(log_size(f), before + 1);
	e = entry(f, before);
	assert_string_equal(cid_json_str(e, "type"), "consent.expired");
	assert_string_equal(cid_json_str(e, "actor"), "system");
	cid_test_assert_citizen(f->s, e, HANAKO);
	assert_string_equal(cid_json_str(e, "service"), "childcare");
	assert_string_equal(cid_json_str(e, "purpose"), "fees");
	assert_string_equal(cid_json_str(e, "basis"), "consent");
	assert_string_equal(cid_json_str(e, "policy_version"), "v1");
	assert_string_equal(cid_json_str(e, "purpose_digest"), "dg1");
	assert_string_equal(cid_json_str(e, "time"), "2027-01-16T08:00:00Z");
	assert_string_equal(cid_json_str(e, "expires_at"), "2027-01-16T08:00:00Z");
	assert_string_equal(json_string_value(json_array_get(json_object_get(e, "attributes"), 0)),
			    "email");
	assert_int_equal(json_array_size(json_object_get(e, "attributes")), 1);
	assert_string_equal(
	    json_string_value(json_array_get(json_object_get(e, "consent_records"), 0)), email);
	json_decref(e);
	/* again, and a week later: the one entry stays the only one */
	sweep(f, NOW + DAY, 16, 0, 0);
	sweep(f, NOW + 7 * DAY, 16, 0, 0);
	assert_int_equal(log_size(f), before + 1);
	/* the renewed gender grant expires in its turn, once */
	sweep(f, NOW + 9 * DAY, 16, 1, 0);
	sweep(f, NOW + 30 * DAY, 16, 0, 0);
	assert_int_equal(log_size(f), before + 2);
	e = entry(f, before + 1);
	assert_string_equal(
	    json_string_value(json_array_get(json_object_get(e, "consent_records"), 0)), renewed);
	json_decref(e);
	free(email);
	free(renewed);
	free(verified);
	for (size_t i = 0; i < 5; i++)
		free(ids[i]);
}

/* A release that met the expiry first leaves the sweeper nothing to write, and the reverse. */
static void test_sweep_after_release(void **state)
{
	struct cid_test_audit *f = *state;
	char *id = record1(f, TARO, "email", CID_CONSENT_GRANTED, NOW + DAY, NOW);
	char *late = record1(f, TARO, "birthdate", CID_CONSENT_GRANTED, NOW + 2 * DAY, NOW);
	struct cid_decision expired = {.permit = false,
				       .reason = CID_REASON_EXPIRED,
				       .rule = "childcare.policy:10",
				       .basis = CID_BASIS_CONSENT,
				       .policy_version = "v1"};
	struct cid_release_decision d[1] = {{"email", "fees", expired, "dg1", NULL}};
	struct cid_release_event ev = {
	    .service = "childcare",
	    .account_id = TARO,
	    .target = CID_RELEASE_USERINFO,
	    .level = 1,
	    .now = NOW + DAY,
	    .request_id = "req-1",
	    .grant_id = "grant-1",
	    .decisions = d,
	    .n_decisions = 1,
	};
	struct cid_audit_range r = {0};
	uint64_t before;

	d[0].decision.consent_id = id;
	assert_int_equal(cid_audit_release_hook(f->log, &ev, &r), CID_OK);
	assert_int_equal(r.count, 2); /* consent.expired, release.deny */
	before = log_size(f);
	sweep(f, NOW + DAY + 1, 16, 0, 0);
	assert_int_equal(log_size(f), before);
	/* the sweeper first: the release's own consent.expired is then not written */
	sweep(f, NOW + 2 * DAY, 16, 1, 0);
	d[0].attribute = "birthdate";
	d[0].decision.consent_id = late;
	ev.now = NOW + 2 * DAY + 1;
	assert_int_equal(cid_audit_release_hook(f->log, &ev, &r), CID_OK);
	assert_int_equal(r.count, 1); /* release.deny only */
	free(id);
	free(late);
}

/* A run writes at most max entries and counts what is left for the next. */
static void test_sweep_bounded(void **state)
{
	struct cid_test_audit *f = *state;
	const char *attrs[5] = {"email", "birthdate", "address", "phone_number", "gender"};
	char *ids[5];
	uint64_t before;
	struct cid_consent_sweep done;

	for (size_t i = 0; i < 5; i++)
		ids[i] = record1(f, HANAKO, attrs[i], CID_CONSENT_GRANTED, NOW + DAY, NOW);
	before = log_size(f);
	sweep(f, NOW + DAY, 2, 2, 3);
	sweep(f, NOW + DAY, 2, 2, 1);
	sweep(f, NOW + DAY, 2, 1, 0);
	sweep(f, NOW + DAY, 2, 0, 0);
	assert_int_equal(log_size(f), before + 5);
	assert_int_equal(cid_consent_sweep(f->s, f->log, NOW + DAY, 0, &done), CID_ERR_INVALID);
	assert_int_equal(cid_consent_sweep(f->s, NULL, NOW + DAY, 1, &done), CID_ERR_INVALID);
	for (size_t i = 0; i < 5; i++)
		free(ids[i]);
}

/* One citizen's damaged record is skipped and counted; another's expiry is still logged. */
static void test_sweep_skips_damage(void **state)
{
	struct cid_test_audit *f = *state;
	char *bad = record1(f, HANAKO, "email", CID_CONSENT_GRANTED, NOW + DAY, NOW);
	char *good = record1(f, TARO, "email", CID_CONSENT_GRANTED, NOW + DAY, NOW);
	struct cid_consent_sweep done = {0};
	uint64_t before;
	json_t *e;

	damage_latest(f, HANAKO, "purpose_digest"); /* sorts before taro's */
	before = log_size(f);
	assert_int_equal(cid_consent_sweep(f->s, f->log, NOW + DAY, 16, &done), CID_OK);
	assert_int_equal(done.written, 1);
	assert_int_equal(done.left, 0);
	assert_int_equal(done.damaged, 1);
	assert_int_equal(log_size(f), before + 1);
	e = entry(f, before);
	assert_string_equal(
	    json_string_value(json_array_get(json_object_get(e, "consent_records"), 0)), good);
	json_decref(e);
	/* again: nothing new; the damage was counted once, and its record is kept */
	assert_int_equal(cid_consent_sweep(f->s, f->log, NOW + DAY, 16, &done), CID_OK);
	assert_int_equal(done.written, 0);
	assert_int_equal(done.damaged, 0);
	assert_int_equal(done.visited, 0);
	assert_int_equal(cid_consent_get(f->s, bad, &e), CID_ERR_STORE);
	free(bad);
	free(good);
}

/* The citizen numbered i: a UUID of its own. */
static void citizen(size_t i, char out[CID_ID_CHARS + 1])
{
	snprintf(out, CID_ID_CHARS + 1, "0a1b2c3d-0000-4000-8000-%012zx", i + 16);
}

/* Records a grant of every attribute for account, in one call; returns how many. */
static size_t record_all(struct cid_test_audit *f, const char *account, int64_t expires_at)
{
	struct cid_consent_context ctx = {
	    .account_id = account,
	    .service = "childcare",
	    .purpose = "fees",
	    .policy_version = "v1",
	    .purpose_digest = "dg1",
	    .method = CID_CONSENT_METHOD_SCREEN,
	    .now = NOW,
	};
	struct cid_consent_change c[64];
	size_t n_claims;
	const struct cid_claim_def *claims = cid_claim_table(&n_claims);
	size_t n = 0;

	for (size_t i = 0; i < n_claims && n < 64; i++)
		if (cid_consent_attribute_ok(claims[i].name))
			c[n++] = (struct cid_consent_change){claims[i].name, CID_CONSENT_GRANTED,
							     expires_at};
	assert_int_equal(cid_consent_record(f->s, &ctx, c, n, NULL), CID_OK);
	return n;
}

/* A run reads what is due, not every record: 2,000 records that are not due cost nothing. */
static void test_sweep_visits_only_due(void **state)
{
	struct cid_test_audit *f = *state;
	struct cid_consent_sweep done = {0};
	char who[CID_ID_CHARS + 1];
	size_t records = 0;
	size_t later = 0; /* of them, those that expire a month on */

	/* half never expire, half expire a month on */
	for (size_t i = 0; records < 2000; i++) {
		size_t n;

		citizen(i, who);
		n = record_all(f, who, i % 2 ? NOW + 30 * DAY : 0);
		records += n;
		later += i % 2 ? n : 0;
	}
	for (size_t i = 0; i < 3; i++) {
		citizen(10000 + i, who);
		free(record1(f, who, "email", CID_CONSENT_GRANTED, NOW + DAY, NOW));
	}
	/* due as well, but withdrawn in time: its key went with the withdrawal, not read */
	free(record1(f, who, "birthdate", CID_CONSENT_GRANTED, NOW + DAY, NOW));
	free(record1(f, who, "birthdate", CID_CONSENT_WITHDRAWN, 0, NOW + 60));
	assert_int_equal(cid_consent_sweep(f->s, f->log, NOW + DAY - 1, 16, &done), CID_OK);
	assert_int_equal(done.visited, 0);
	assert_int_equal(done.written, 0);
	assert_int_equal(cid_consent_sweep(f->s, f->log, NOW + DAY, 16, &done), CID_OK);
	assert_int_equal(done.visited, 3);
	assert_int_equal(done.written, 3);
	/* what a run handled is gone from the index: the next reads nothing */
	assert_int_equal(cid_consent_sweep(f->s, f->log, NOW + 2 * DAY, 16, &done), CID_OK);
	assert_int_equal(done.visited, 0);
	assert_int_equal(done.written, 0);
	/* a month on, those that expire then are read, and logged 256 a run */
	assert_int_equal(cid_consent_sweep(f->s, f->log, NOW + 30 * DAY, 256, &done), CID_OK);
	assert_int_equal(done.visited, later);
	assert_int_equal(done.written, 256);
	assert_int_equal(done.left, later - 256);
}

static enum cid_err strip_due(struct cid_txn *txn, void *arg)
{
	enum cid_err rc = cid_txn_clear(txn, CID_DB_CONSENT_DUE);

	(void)arg;
	if (rc == CID_OK)
		rc = cid_txn_del(txn, CID_DB_META, cid_str_of(CID_CONSENT_DUE_MARK));
	return rc;
}

static enum cid_err older_build_writes(struct cid_txn *txn, void *arg)
{
	(void)arg;
	return cid_txn_counter_add(txn, "consent_seq", "seq", 1, NULL);
}

/* A store from before the due index gets it built once, of what is still to log. */
static void test_sweep_index_built(void **state)
{
	struct cid_test_audit *f = *state;
	char *taro = record1(f, TARO, "email", CID_CONSENT_GRANTED, NOW + DAY, NOW);
	char *email;
	char *renewed;
	char *ids[3];
	char *later;
	char due[CID_CONSENT_DUE_KEY + 1];
	size_t built = 99;

	sweep(f, NOW + DAY, 16, 1, 0); /* taro's is logged */
	email = record1(f, HANAKO, "email", CID_CONSENT_GRANTED, NOW + 2 * DAY, NOW + DAY);
	ids[0] = record1(f, HANAKO, "birthdate", CID_CONSENT_GRANTED, NOW + 2 * DAY, NOW + DAY);
	renewed = record1(f, HANAKO, "birthdate", CID_CONSENT_GRANTED, NOW + 9 * DAY, NOW + DAY);
	ids[1] = record1(f, HANAKO, "address", CID_CONSENT_GRANTED, 0, NOW + DAY);
	ids[2] = record1(f, HANAKO, "gender", CID_CONSENT_REFUSED, 0, NOW + DAY);
	assert_int_equal(cid_consent_due_ensure(f->s, &built), CID_OK);
	assert_int_equal(built, 0); /* written with the records: whole */
	/* as a store written before the index */
	assert_int_equal(cid_store_update(f->s, strip_due, NULL), CID_OK);
	assert_int_equal(cid_consent_due_ensure(f->s, &built), CID_OK);
	/* hanako's email and renewed birthdate; not taro's (logged), nor what never expires */
	assert_int_equal(built, 2);
	assert_int_equal(cid_consent_due_ensure(f->s, &built), CID_OK);
	assert_int_equal(built, 0);
	sweep(f, NOW + 2 * DAY, 16, 1, 0);
	sweep(f, NOW + 9 * DAY, 16, 1, 0);
	sweep(f, NOW + 30 * DAY, 16, 0, 0);
	/* a build without the index wrote a grant since, without its due key: built again at
	 * the next start, of that grant alone (everything else is logged) */
	later = record1(f, TARO, "birthdate", CID_CONSENT_GRANTED, NOW + 40 * DAY, NOW + 30 * DAY);
	assert_true(cid_consent_due_key(NOW + 40 * DAY, later, due));
	cid_test_raw_write(f->s, CID_DB_CONSENT_DUE, due, NULL);
	assert_int_equal(cid_store_update(f->s, older_build_writes, NULL), CID_OK);
	assert_int_equal(cid_consent_due_ensure(f->s, &built), CID_OK);
	assert_int_equal(built, 1);
	assert_int_equal(cid_consent_due_ensure(f->s, &built), CID_OK);
	assert_int_equal(built, 0);
	sweep(f, NOW + 40 * DAY, 16, 1, 0);
	assert_int_equal(cid_consent_due_ensure(NULL, &built), CID_ERR_INVALID);
	free(later);
	free(taro);
	free(email);
	free(renewed);
	for (size_t i = 0; i < 3; i++)
		free(ids[i]);
}

/*
 * The due index's build skips a damaged record and counts it: it is left
 * out (damage is kept, never swept), the other grants are indexed, and a
 * damaged record that is the latest of its attribute still supersedes the
 * grant before it, as for the sweep.
 */
static void test_sweep_index_build_skips_damage(void **state)
{
	struct cid_test_audit *f = *state;
	char *bad = record1(f, HANAKO, "email", CID_CONSENT_GRANTED, NOW + DAY, NOW);
	char *kept = record1(f, HANAKO, "birthdate", CID_CONSENT_GRANTED, NOW + DAY, NOW);
	char *old = record1(f, TARO, "email", CID_CONSENT_GRANTED, NOW + DAY, NOW);
	char *over = record1(f, TARO, "email", CID_CONSENT_GRANTED, NOW + 2 * DAY, NOW + 1);
	size_t built = 99;
	size_t damaged = 99;
	uint64_t before;
	json_t *e;

	damage_latest(f, HANAKO, "purpose_digest"); /* hanako's email, after her birthdate */
	damage_latest(f, TARO, "state");	    /* over, which superseded old */
	assert_int_equal(cid_store_update(f->s, strip_due, NULL), CID_OK);
	assert_int_equal(cid_consent_due_ensure_counted(f->s, &built, &damaged), CID_OK);
	assert_int_equal(built, 1); /* kept alone */
	assert_int_equal(damaged, 2);
	assert_int_equal(cid_test_count(f->s, CID_DB_CONSENT_DUE), 1);
	/* whole now: nothing read, nothing counted */
	assert_int_equal(cid_consent_due_ensure_counted(f->s, &built, &damaged), CID_OK);
	assert_int_equal(built, 0);
	assert_int_equal(damaged, 0);
	before = log_size(f);
	sweep(f, NOW + 2 * DAY, 16, 1, 0);
	e = entry(f, before);
	assert_string_equal(
	    json_string_value(json_array_get(json_object_get(e, "consent_records"), 0)), kept);
	json_decref(e);
	assert_int_equal(cid_consent_get(f->s, bad, &e), CID_ERR_STORE);
	assert_int_equal(cid_consent_get(f->s, over, &e), CID_ERR_STORE);
	free(bad);
	free(kept);
	free(old);
	free(over);
}

/* An empty store: nothing to sweep. */
static void test_sweep_empty(void **state)
{
	struct cid_test_audit *f = *state;

	sweep(f, NOW, 1, 0, 0);
	assert_int_equal(log_size(f), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_sweep_expired_once, cid_test_audit_setup,
					    cid_test_audit_teardown),
	    cmocka_unit_test_setup_teardown(test_sweep_after_release, cid_test_audit_setup,
					    cid_test_audit_teardown),
	    cmocka_unit_test_setup_teardown(test_sweep_bounded, cid_test_audit_setup,
					    cid_test_audit_teardown),
	    cmocka_unit_test_setup_teardown(test_sweep_skips_damage, cid_test_audit_setup,
					    cid_test_audit_teardown),
	    cmocka_unit_test_setup_teardown(test_sweep_visits_only_due, cid_test_audit_setup,
					    cid_test_audit_teardown),
	    cmocka_unit_test_setup_teardown(test_sweep_index_build_skips_damage,
					    cid_test_audit_setup, cid_test_audit_teardown),
	    cmocka_unit_test_setup_teardown(test_sweep_index_built, cid_test_audit_setup,
					    cid_test_audit_teardown),
	    cmocka_unit_test_setup_teardown(test_sweep_empty, cid_test_audit_setup,
					    cid_test_audit_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
