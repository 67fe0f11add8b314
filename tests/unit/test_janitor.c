/*
 * test_janitor: the sweeps of dead records on a real store. A table says,
 * for a record of each database and a moment, whether the janitor keeps it
 * (the boundaries at expiry and within CID_CLOCK_SKEW included); then real
 * flows: a refresh token still rotates after a sweep, reuse detection still
 * revokes after one, a grant outlives its tokens and goes after them, a
 * grant from an older civicid is stamped once and goes later, a session goes
 * with its index keys, and a backlog goes in bounded batches.
 */
#include "account.h"
#include "bounds.h"
#include "janitor.h"
#include "session.h"
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

#define T0   1800000000
#define SKEW CID_CLOCK_SKEW
/* a grant's grace after its tokens_exp (token.h, cid_grant_sweep) */
#define GRANT_GRACE (CID_ACCESS_TTL_MAX + CID_CLOCK_SKEW)

struct fixture {
	char dir[256];
	struct cid_store *s;
	char account[CID_ID_CHARS + 1];
};

/* While set, the wrap below fails META reads (see __wrap_cid_txn_get). */
static bool fail_meta_get;

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	fail_meta_get = false;
	assert_non_null(f);
	f->s = cid_test_store_open(f->dir);
	assert_int_equal(cid_account_add(f->s, &cid_test_argon2, "hanako", "correct horse battery",
					 NULL, T0, f->account),
			 CID_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	cid_test_store_close(f->s, f->dir);
	free(f);
	fail_meta_get = false;
	return 0;
}

static uint64_t count(struct fixture *f, enum cid_db db)
{
	struct cid_txn *txn = NULL;
	uint64_t n = 0;

	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_txn_count(txn, db, &n), CID_OK);
	cid_store_read_end(txn);
	return n;
}

static size_t removed_total(const struct cid_janitor_counts *c)
{
	size_t n = 0;

	for (size_t i = 0; i < CID_JANITOR_PARTS; i++)
		n += c->removed[i];
	return n;
}

/* Runs the janitor at now; returns how many it deleted of part, and checks no other went. */
static size_t sweep_part(struct fixture *f, int64_t now, enum cid_janitor_part part)
{
	struct cid_janitor_counts c;

	assert_int_equal(cid_janitor_run(f->s, now, &c), CID_OK);
	assert_int_equal(removed_total(&c), c.removed[part]);
	return c.removed[part];
}

/* ---- the rules, one row per record and moment ---- */

struct put {
	enum cid_db db;
	const char *key;
	const char *val;   /* the stored bytes: JSON, or damage */
	const char *index; /* a key of CID_DB_GRANT_INDEX written with it, or NULL */
};

static enum cid_err put_cb(struct cid_txn *txn, void *arg)
{
	const struct put *p = arg;
	enum cid_err rc = cid_txn_put(txn, p->db, cid_str_of(p->key), cid_str_of(p->val), 0);

	if (rc == CID_OK && p->index != NULL)
		rc = cid_txn_put(txn, CID_DB_GRANT_INDEX, cid_str_of(p->index), cid_str_of(""), 0);
	return rc;
}

static enum cid_err clear_cb(struct cid_txn *txn, void *arg)
{
	const struct put *p = arg;
	enum cid_err rc = cid_txn_clear(txn, p->db);

	if (rc == CID_OK)
		rc = cid_txn_clear(txn, CID_DB_GRANT_INDEX);
	return rc;
}

#define GRANT(id, extra)                                                                           \
	"{\"grant_id\":\"" id "\",\"account_id\":\"acct\",\"client_id\":\"rp1\"" extra "}"

static void test_each_database_keeps_the_live_and_deletes_the_dead(void **state)
{
	static const struct {
		const char *what;
		enum cid_janitor_part part;
		struct put rec;
		int64_t now;
		bool gone;
	} rows[] = {
	    /* codes: kept while a replay could still be presented (and revoke its grant) */
	    {"a code before its expiry stays",
	     CID_JANITOR_CODES,
	     {CID_DB_CODES, "c", "{\"exp\":1800000000,\"used\":false}", NULL},
	     T0 - 1,
	     false},
	    {"a code at its expiry stays, within the skew",
	     CID_JANITOR_CODES,
	     {CID_DB_CODES, "c", "{\"exp\":1800000000,\"used\":false}", NULL},
	     T0,
	     false},
	    {"a used code stays for reuse detection until exp + skew",
	     CID_JANITOR_CODES,
	     {CID_DB_CODES, "c", "{\"exp\":1800000000,\"used\":true}", NULL},
	     T0 + SKEW - 1,
	     false},
	    {"a used code goes at exp + skew",
	     CID_JANITOR_CODES,
	     {CID_DB_CODES, "c", "{\"exp\":1800000000,\"used\":true}", NULL},
	     T0 + SKEW,
	     true},
	    {"an unused code goes at exp + skew",
	     CID_JANITOR_CODES,
	     {CID_DB_CODES, "c", "{\"exp\":1800000000,\"used\":false}", NULL},
	     T0 + SKEW,
	     true},
	    {"a code without exp is damage, kept",
	     CID_JANITOR_CODES,
	     {CID_DB_CODES, "c", "{\"used\":true}", NULL},
	     T0 + 86400,
	     false},
	    {"a record that is no JSON is damage, kept",
	     CID_JANITOR_CODES,
	     {CID_DB_CODES, "c", "not json", NULL},
	     T0 + 86400,
	     false},
	    /* refresh tokens: the same rule, the same reason (RFC 9700 §4.14.2) */
	    {"a rotated refresh token stays until exp + skew",
	     CID_JANITOR_REFRESH,
	     {CID_DB_REFRESH, "r", "{\"exp\":1800000000,\"used\":true}", NULL},
	     T0 + SKEW - 1,
	     false},
	    {"a rotated refresh token goes at exp + skew",
	     CID_JANITOR_REFRESH,
	     {CID_DB_REFRESH, "r", "{\"exp\":1800000000,\"used\":true}", NULL},
	     T0 + SKEW,
	     true},
	    {"an unused refresh token goes at exp + skew",
	     CID_JANITOR_REFRESH,
	     {CID_DB_REFRESH, "r", "{\"exp\":1800000000,\"used\":false}", NULL},
	     T0 + SKEW,
	     true},
	    /* a revoked access token is accepted as unexpired up to exp + skew */
	    {"a revoked jti stays while its token is within the skew",
	     CID_JANITOR_REVOKED,
	     {CID_DB_REVOKED, "jti", "{\"exp\":1800000000}", NULL},
	     T0 + SKEW - 1,
	     false},
	    {"a revoked jti goes once its token is refused as expired",
	     CID_JANITOR_REVOKED,
	     {CID_DB_REVOKED, "jti", "{\"exp\":1800000000}", NULL},
	     T0 + SKEW,
	     true},
	    {"a pending request stays until exp + skew",
	     CID_JANITOR_AUTHREQS,
	     {CID_DB_AUTHREQS, "q", "{\"exp\":1800000000,\"stage\":\"login\"}", NULL},
	     T0 + SKEW - 1,
	     false},
	    {"an abandoned pending request goes",
	     CID_JANITOR_AUTHREQS,
	     {CID_DB_AUTHREQS, "q", "{\"exp\":1800000000,\"stage\":\"login\"}", NULL},
	     T0 + SKEW,
	     true},
	    {"an officer's console session stays until expiry + skew",
	     CID_JANITOR_OFFICER_SESSIONS,
	     {CID_DB_OFFICER_SESSIONS, "o", "{\"name\":\"ann\",\"expires_at\":1800000000}", NULL},
	     T0 + SKEW - 1,
	     false},
	    {"an officer's ended console session goes",
	     CID_JANITOR_OFFICER_SESSIONS,
	     {CID_DB_OFFICER_SESSIONS, "o", "{\"name\":\"ann\",\"expires_at\":1800000000}", NULL},
	     T0 + SKEW,
	     true},
	    /* throttle.h's rule: windowed counters go with their window, code counters never */
	    {"a login counter stays within its window",
	     CID_JANITOR_THROTTLE,
	     {CID_DB_THROTTLE, "pair:x", "{\"n\":3,\"first\":1800000000,\"last\":1800000000}",
	      NULL},
	     T0 + CID_THROTTLE_WINDOW - 1,
	     false},
	    {"a login counter goes with its window",
	     CID_JANITOR_THROTTLE,
	     {CID_DB_THROTTLE, "pair:x", "{\"n\":3,\"first\":1800000000,\"last\":1800000000}",
	      NULL},
	     T0 + CID_THROTTLE_WINDOW,
	     true},
	    {"a wrong-code counter is never forgotten",
	     CID_JANITOR_THROTTLE,
	     {CID_DB_THROTTLE, "code:x", "{\"n\":3,\"first\":1800000000,\"last\":1800000000}",
	      NULL},
	     T0 + 365 * 86400,
	     false},
	    /* grants: kept as long as an access token of the family may verify */
	    {"a grant stays until tokens_exp + the longest access token + skew",
	     CID_JANITOR_GRANTS,
	     {CID_DB_GRANTS, "g1", GRANT("g1", ",\"tokens_exp\":1800000000"), "acct\nrp1\ng1"},
	     T0 + GRANT_GRACE - 1,
	     false},
	    {"a grant goes then, with its index key",
	     CID_JANITOR_GRANTS,
	     {CID_DB_GRANTS, "g1", GRANT("g1", ",\"tokens_exp\":1800000000"), "acct\nrp1\ng1"},
	     T0 + GRANT_GRACE,
	     true},
	    {"a revoked grant goes by the same clock",
	     CID_JANITOR_GRANTS,
	     {CID_DB_GRANTS, "g1", GRANT("g1", ",\"tokens_exp\":1800000000,\"revoked\":true"),
	      "acct\nrp1\ng1"},
	     T0 + GRANT_GRACE,
	     true},
	    {"a grant from before tokens_exp stays (the first sweep stamps it)",
	     CID_JANITOR_GRANTS,
	     {CID_DB_GRANTS, "g1", GRANT("g1", ",\"created_at\":1"), "acct\nrp1\ng1"},
	     T0 + 10 * GRANT_GRACE,
	     false},
	    {"a grant stored under another id is damage, kept",
	     CID_JANITOR_GRANTS,
	     {CID_DB_GRANTS, "g2", GRANT("g1", ",\"tokens_exp\":1"), "acct\nrp1\ng1"},
	     T0 + GRANT_GRACE,
	     false},
	};
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct put rec = rows[i].rec;
		uint64_t before = count(f, rec.db);

		print_message("%s\n", rows[i].what);
		assert_int_equal(cid_store_update(f->s, put_cb, &rec), CID_OK);
		assert_int_equal(sweep_part(f, rows[i].now, rows[i].part), rows[i].gone ? 1 : 0);
		assert_int_equal(count(f, rows[i].rec.db), before + (rows[i].gone ? 0 : 1));
		if (rows[i].rec.index != NULL)
			assert_int_equal(count(f, CID_DB_GRANT_INDEX), rows[i].gone ? 0 : 1);
		/* idempotent: a second run at the same moment finds nothing */
		assert_int_equal(sweep_part(f, rows[i].now, rows[i].part), 0);
		assert_int_equal(cid_store_update(f->s, clear_cb, &rec), CID_OK);
	}
}

/* ---- real flows ---- */

static void issue(struct fixture *f, int64_t now, char code[CID_TOKEN_CHARS + 1])
{
	char sid[CID_TOKEN_CHARS + 1];
	json_t *a;

	cid_test_session_sid(f->s, f->account, now, sid);
	a = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:[s], s:s}", "client_id", "rp1",
		      "redirect_uri", "https://rp.example/cb", "account_id", f->account, "sid", sid,
		      "auth_time", (json_int_t)now, "acr", "urn:civicid:acr:password", "amr", "pwd",
		      "scope", "openid");

	assert_non_null(a);
	assert_int_equal(cid_code_issue(f->s, a, now, 60, code), CID_OK);
	json_decref(a);
}

/*
 * A code issued at T0 (exp T0 + 60) redeemed at T0 + 1 for a refresh token
 * living 3600 s (exp T0 + 3601): the grant id into id.
 */
static void family(struct fixture *f, char refresh[CID_TOKEN_CHARS + 1],
		   char id[CID_TOKEN_CHARS + 1])
{
	char code[CID_TOKEN_CHARS + 1];
	struct cid_grant *g = NULL;

	issue(f, T0, code);
	assert_int_equal(cid_code_redeem(f->s, code, "rp1", "https://rp.example/cb", NULL, T0 + 1,
					 3600, &g, refresh),
			 CID_OK);
	memcpy(id, g->id, CID_TOKEN_CHARS + 1);
	cid_grant_free(g);
}

static void test_refresh_token_still_rotates_after_the_sweep(void **state)
{
	struct fixture *f = *state;
	char r1[CID_TOKEN_CHARS + 1];
	char r2[CID_TOKEN_CHARS + 1];
	char r3[CID_TOKEN_CHARS + 1];
	char id[CID_TOKEN_CHARS + 1];
	struct cid_grant *g = NULL;
	struct cid_janitor_counts c;

	family(f, r1, id);
	/* rotated near its end: the successor lives until T0 + 6600 */
	assert_int_equal(cid_refresh_rotate(f->s, r1, "rp1", NULL, T0 + 3000, 3600, &g, r2),
			 CID_OK);
	cid_grant_free(g);
	g = NULL;
	/* past r1's exp + skew: the code and the rotated r1 go; r2 and the grant stay */
	assert_int_equal(cid_janitor_run(f->s, T0 + 3601 + SKEW, &c), CID_OK);
	assert_int_equal(c.removed[CID_JANITOR_CODES], 1);
	assert_int_equal(c.removed[CID_JANITOR_REFRESH], 1);
	assert_int_equal(removed_total(&c), 2);
	assert_int_equal(cid_refresh_rotate(f->s, r2, "rp1", NULL, T0 + 3700, 3600, &g, r3),
			 CID_OK);
	assert_string_equal(g->id, id);
	cid_grant_free(g);
	g = NULL;
	assert_int_equal(cid_refresh_lookup(f->s, r3, T0 + 3701, &g, &(int64_t){0}, &(int64_t){0}),
			 CID_OK);
	cid_grant_free(g);
	/* when the grant would have gone by r1's expiry, each refresh has moved its clock on */
	assert_int_equal(cid_janitor_run(f->s, T0 + 3601 + GRANT_GRACE, &c), CID_OK);
	assert_int_equal(c.removed[CID_JANITOR_REFRESH], 2);
	assert_int_equal(c.removed[CID_JANITOR_GRANTS], 0);
	/* r3's expiry (T0 + 7300) is the family's end */
	assert_int_equal(sweep_part(f, T0 + 7300 + GRANT_GRACE - 1, CID_JANITOR_GRANTS), 0);
	assert_int_equal(sweep_part(f, T0 + 7300 + GRANT_GRACE, CID_JANITOR_GRANTS), 1);
	assert_int_equal(count(f, CID_DB_GRANT_INDEX), 0);
}

static void test_reuse_detection_still_revokes_after_the_sweep(void **state)
{
	struct fixture *f = *state;
	char r1[CID_TOKEN_CHARS + 1];
	char r2[CID_TOKEN_CHARS + 1];
	char again[CID_TOKEN_CHARS + 1];
	char id[CID_TOKEN_CHARS + 1];
	struct cid_grant *g = NULL;

	family(f, r1, id);
	assert_int_equal(cid_refresh_rotate(f->s, r1, "rp1", NULL, T0 + 10, 3600, &g, r2), CID_OK);
	cid_grant_free(g);
	g = NULL;
	/* the code goes; the rotated r1 is kept for as long as it could be presented */
	assert_int_equal(sweep_part(f, T0 + 60 + SKEW, CID_JANITOR_CODES), 1);
	assert_int_equal(sweep_part(f, T0 + 3601 + SKEW - 1, CID_JANITOR_CODES), 0);
	/* a thief presents r1: the family is revoked, the legitimate r2 with it */
	assert_int_equal(
	    cid_refresh_rotate(f->s, r1, "rp1", NULL, T0 + 3601 + SKEW - 1, 3600, &g, again),
	    CID_ERR_REVOKED);
	assert_int_equal(
	    cid_refresh_rotate(f->s, r2, "rp1", NULL, T0 + 3601 + SKEW - 1, 3600, &g, again),
	    CID_ERR_REVOKED);
	assert_int_equal(cid_grant_get(f->s, id, &g), CID_ERR_REVOKED);
	assert_null(g);
}

/* A code never redeemed leaves a grant that goes when the code could have had access tokens. */
static void test_abandoned_grant_goes_after_its_code(void **state)
{
	struct fixture *f = *state;
	char code[CID_TOKEN_CHARS + 1];
	struct cid_janitor_counts c;

	issue(f, T0, code);
	assert_int_equal(count(f, CID_DB_GRANTS), 1);
	assert_int_equal(sweep_part(f, T0 + 60 + SKEW, CID_JANITOR_CODES), 1);
	assert_int_equal(sweep_part(f, T0 + 60 + GRANT_GRACE - 1, CID_JANITOR_GRANTS), 0);
	assert_int_equal(cid_janitor_run(f->s, T0 + 60 + GRANT_GRACE, &c), CID_OK);
	assert_int_equal(c.removed[CID_JANITOR_GRANTS], 1);
	assert_int_equal(count(f, CID_DB_GRANTS), 0);
	assert_int_equal(count(f, CID_DB_GRANT_INDEX), 0);
	/* the index stays whole: nothing for the check at start to rebuild */
	{
		size_t built = 1;

		assert_int_equal(cid_grant_index_ensure(f->s, &built), CID_OK);
		assert_int_equal(built, 0);
	}
}

static void test_expired_session_goes_with_its_index_keys(void **state)
{
	struct fixture *f = *state;
	static const char *const amr[] = {"pwd"};
	char cookie[CID_TOKEN_CHARS + 1];
	char live_cookie[CID_TOKEN_CHARS + 1];
	struct cid_session old;
	struct cid_session live;

	assert_int_equal(
	    cid_session_new(f->s, f->account, CID_ACR_PASSWORD, amr, 1, T0, 100, cookie, &old),
	    CID_OK);
	assert_int_equal(cid_session_new(f->s, f->account, CID_ACR_PASSWORD, amr, 1, T0, 1000,
					 live_cookie, &live),
			 CID_OK);
	assert_int_equal(count(f, CID_DB_SESSION_INDEX), 4);
	/* refused from expires_at on, but kept within the skew */
	assert_int_equal(cid_session_get(f->s, cookie, T0 + 100, NULL), CID_ERR_EXPIRED);
	assert_int_equal(sweep_part(f, T0 + 100 + SKEW - 1, CID_JANITOR_SESSIONS), 0);
	assert_int_equal(sweep_part(f, T0 + 100 + SKEW, CID_JANITOR_SESSIONS), 1);
	assert_int_equal(cid_session_get(f->s, cookie, T0 + 100, NULL), CID_ERR_NOTFOUND);
	assert_int_equal(cid_session_end_sid(f->s, old.sid), CID_ERR_NOTFOUND);
	/* the other session and its two keys are untouched */
	assert_int_equal(count(f, CID_DB_SESSION_INDEX), 2);
	assert_int_equal(cid_session_get(f->s, live_cookie, T0 + 100 + SKEW, NULL), CID_OK);
	assert_int_equal(cid_session_index_ensure(f->s, &(size_t){1}), CID_OK);
}

/* ---- batches ---- */

static int del_calls;
static int del_fail_at;

static bool always_dead(struct cid_str key, struct cid_str val, int64_t now)
{
	(void)key;
	(void)val;
	(void)now;
	return true;
}

/* Deletes, but fails the del_fail_at-th call: its transaction is aborted. */
static enum cid_err failing_del(struct cid_txn *txn, struct cid_str key, struct cid_str val,
				int64_t now)
{
	(void)val;
	(void)now;
	if (++del_calls == del_fail_at)
		return CID_ERR_STORE;
	return cid_txn_del(txn, CID_DB_CODES, key);
}

static enum cid_err put_codes_cb(struct cid_txn *txn, void *arg)
{
	const int *n = arg;
	char key[16];
	enum cid_err rc = CID_OK;

	for (int i = 0; i < *n && rc == CID_OK; i++) {
		/* even keys are dead, odd ones live, interleaved across every batch */
		const char *val = i % 2 == 0 ? "{\"exp\":1}" : "{\"exp\":1900000000}";

		snprintf(key, sizeof(key), "k%05d", i);
		rc = cid_txn_put(txn, CID_DB_CODES, cid_str_of(key), cid_str_of(val), 0);
	}
	return rc;
}

/*
 * Each write transaction deletes at most its batch: when the 8th deletion
 * fails with batches of 3, the two batches committed before it stay done
 * and the third is rolled back whole.
 */
static void test_sweep_commits_bounded_batches(void **state)
{
	struct fixture *f = *state;
	const struct cid_store_sweep sw = {CID_DB_CODES, always_dead, failing_del};
	int n = 10;
	size_t removed = 99;

	assert_int_equal(cid_store_update(f->s, put_codes_cb, &n), CID_OK);
	del_calls = 0;
	del_fail_at = 8;
	assert_int_equal(cid_store_sweep(f->s, &sw, T0, 3, &removed), CID_ERR_STORE);
	assert_int_equal(removed, 6);
	assert_int_equal(count(f, CID_DB_CODES), 4);
	/* the rest goes on the next run */
	del_fail_at = 0;
	assert_int_equal(cid_store_sweep(f->s, &sw, T0, 3, &removed), CID_OK);
	assert_int_equal(removed, 4);
	assert_int_equal(count(f, CID_DB_CODES), 0);
	/* a batch is at least one and at most CID_SWEEP_BATCH */
	assert_int_equal(cid_store_sweep(f->s, &sw, T0, 0, NULL), CID_ERR_INVALID);
	assert_int_equal(cid_store_sweep(f->s, &sw, T0, CID_SWEEP_BATCH + 1, NULL),
			 CID_ERR_INVALID);
}

/* A backlog of several batches, live records among it, goes in one run; the live stay. */
static void test_backlog_goes_in_one_run(void **state)
{
	struct fixture *f = *state;
	int n = 4 * CID_SWEEP_BATCH + 7;
	struct cid_janitor_counts c;

	assert_int_equal(cid_store_update(f->s, put_codes_cb, &n), CID_OK);
	assert_int_equal(cid_janitor_run(f->s, T0, &c), CID_OK);
	assert_int_equal(c.removed[CID_JANITOR_CODES], (size_t)(n + 1) / 2);
	assert_int_equal(count(f, CID_DB_CODES), (uint64_t)n / 2);
	assert_int_equal(sweep_part(f, T0, CID_JANITOR_CODES), 0);
}

static void test_part_names(void **state)
{
	(void)state;
	for (int i = 0; i < CID_JANITOR_PARTS; i++) {
		assert_true(cid_janitor_name((enum cid_janitor_part)i)[0] != '\0');
		for (int j = 0; j < i; j++)
			assert_string_not_equal(cid_janitor_name((enum cid_janitor_part)i),
						cid_janitor_name((enum cid_janitor_part)j));
	}
	assert_string_equal(cid_janitor_name(CID_JANITOR_PARTS), "");
}

/* The grant of key as stored (new reference). */
static json_t *grant_at(struct fixture *f, const char *key)
{
	struct cid_txn *txn = NULL;
	json_t *g = NULL;

	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_txn_get_json(txn, CID_DB_GRANTS, cid_str_of(key), &g), CID_OK);
	cid_store_read_end(txn);
	return g;
}

/*
 * A store that fails to read: while fail_meta_get is set, cid_txn_get
 * (linked through -Wl,--wrap=cid_txn_get) answers CID_ERR_STORE for every
 * key of the META database, and reads the others.
 */

// NOLINTBEGIN(bugprone-reserved-identifier): ld's --wrap needs these names
enum cid_err __real_cid_txn_get(struct cid_txn *txn, enum cid_db db, struct cid_str key,
				struct cid_str *val);
enum cid_err __wrap_cid_txn_get(struct cid_txn *txn, enum cid_db db, struct cid_str key,
				struct cid_str *val);

// NOLINTEND(bugprone-reserved-identifier)

enum cid_err __wrap_cid_txn_get(struct cid_txn *txn, enum cid_db db, struct cid_str key,
				struct cid_str *val)
{
	if (fail_meta_get && db == CID_DB_META)
		return CID_ERR_STORE;
	return __real_cid_txn_get(txn, db, key, val);
}

/*
 * A grant written before "tokens_exp" existed is stamped by the store's
 * first sweep with the longest a token of it could live, and goes by the
 * usual rule after that; the stamp's walk is done once per store.
 */
static void test_a_grant_from_before_tokens_exp_is_stamped_once(void **state)
{
	struct fixture *f = *state;
	struct put old = {CID_DB_GRANTS, "g1", GRANT("g1", ",\"created_at\":1"), "acct\nrp1\ng1"};
	struct put later = {CID_DB_GRANTS, "g2", GRANT("g2", ",\"created_at\":1"), NULL};
	json_t *g;

	assert_int_equal(cid_store_update(f->s, put_cb, &old), CID_OK);
	assert_int_equal(sweep_part(f, T0, CID_JANITOR_GRANTS), 0);
	g = grant_at(f, "g1");
	assert_int_equal(cid_json_int(g, "tokens_exp"), T0 + CID_REFRESH_TTL_MAX);
	json_decref(g);
	/* the walk is not made again: a grant written by an older civicid since stays as it is */
	assert_int_equal(cid_store_update(f->s, put_cb, &later), CID_OK);
	assert_int_equal(sweep_part(f, T0 + 1, CID_JANITOR_GRANTS), 0);
	g = grant_at(f, "g2");
	assert_null(json_object_get(g, "tokens_exp"));
	json_decref(g);
	/* the stamped grant goes by the rule, with its index key */
	assert_int_equal(
	    sweep_part(f, T0 + CID_REFRESH_TTL_MAX + GRANT_GRACE - 1, CID_JANITOR_GRANTS), 0);
	assert_int_equal(sweep_part(f, T0 + CID_REFRESH_TTL_MAX + GRANT_GRACE, CID_JANITOR_GRANTS),
			 1);
	assert_int_equal(count(f, CID_DB_GRANTS), 1);
	assert_int_equal(count(f, CID_DB_GRANT_INDEX), 0);
}

/*
 * The stamp's mark cannot be read: the grant sweep fails with the store's
 * error, and neither stamps nor deletes anything (it cannot know whether the
 * walk was made); once the store reads again, the next sweep stamps.
 */
static void test_a_failed_read_of_the_stamp_mark_stamps_nothing(void **state)
{
	struct fixture *f = *state;
	struct put old = {CID_DB_GRANTS, "g1", GRANT("g1", ",\"created_at\":1"), "acct\nrp1\ng1"};
	size_t removed = 0;
	uint64_t meta = count(f, CID_DB_META); /* the schema's version */
	json_t *g;

	assert_int_equal(cid_store_update(f->s, put_cb, &old), CID_OK);
	fail_meta_get = true;
	assert_int_equal(cid_grant_sweep(f->s, T0, &removed), CID_ERR_STORE);
	fail_meta_get = false;
	g = grant_at(f, "g1");
	assert_null(json_object_get(g, "tokens_exp"));
	json_decref(g);
	assert_int_equal(count(f, CID_DB_META), meta); /* no mark */
	assert_int_equal(cid_grant_sweep(f->s, T0, &removed), CID_OK);
	g = grant_at(f, "g1");
	assert_int_equal(cid_json_int(g, "tokens_exp"), T0 + CID_REFRESH_TTL_MAX);
	json_decref(g);
	assert_int_equal(count(f, CID_DB_META), meta + 1); /* the mark */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_each_database_keeps_the_live_and_deletes_the_dead,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refresh_token_still_rotates_after_the_sweep, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_reuse_detection_still_revokes_after_the_sweep,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_abandoned_grant_goes_after_its_code, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_expired_session_goes_with_its_index_keys, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_a_grant_from_before_tokens_exp_is_stamped_once,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_a_failed_read_of_the_stamp_mark_stamps_nothing,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sweep_commits_bounded_batches, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_backlog_goes_in_one_run, setup, teardown),
	    cmocka_unit_test(test_part_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
