/*
 * logout: ending SSO sessions on a real store queues a back-channel notice
 * for exactly the session's services with a back-channel logout URI, and
 * hands back those with a front-channel one; a session that had died ends
 * quietly; disabling a citizen ends all their sessions in the same
 * transaction. The queue: claims in due order, leases, retries with a
 * doubling wait, gives up after the last try, and survives reopening the
 * store.
 */
#include "account.h"
#include "client.h"
#include "crypto.h"
#include "logout.h"
#include "session.h"
#include "support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define NOW 1800000000
#define TTL 3600

/* The services: which logout URIs each registers. */
static const struct {
	const char *id;
	const char *back;
	const char *front;
	bool front_required;
} services[] = {
    {"back-only", "https://back.example/bc", NULL, false},
    {"both", "https://both.example/bc", "https://both.example/fc", true},
    {"neither", NULL, NULL, false},
    {"front-only", NULL, "https://front.example/fc?x=1", false},
    {"not-in-session", "https://other.example/bc", "https://other.example/fc", false},
};

#define N_SERVICES (sizeof(services) / sizeof(services[0]))

struct fixture {
	char dir[256];
	struct cid_store *s;
	char hanako[CID_ID_CHARS + 1];
	char taro[CID_ID_CHARS + 1];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->s = cid_test_store_open(f->dir);
	assert_int_equal(cid_account_add(f->s, &cid_test_argon2, "hanako", "correct horse battery",
					 NULL, NOW, f->hanako),
			 CID_OK);
	assert_int_equal(cid_account_add(f->s, &cid_test_argon2, "taro", "correct horse battery",
					 NULL, NOW, f->taro),
			 CID_OK);
	for (size_t i = 0; i < N_SERVICES; i++) {
		char uri[64];
		const char *uris[] = {uri};
		struct cid_client_spec spec = {.client_id = services[i].id,
					       .redirect_uris = uris,
					       .n_redirect_uris = 1,
					       .backchannel_logout_uri = services[i].back,
					       .frontchannel_logout_uri = services[i].front,
					       .frontchannel_logout_session_required =
						   services[i].front_required};
		char *id = NULL;
		char *secret = NULL;

		assert_true(snprintf(uri, sizeof(uri), "https://%s.example/cb", services[i].id) >
			    0);
		assert_int_equal(cid_client_add(f->s, &spec, NOW, &id, &secret), CID_OK);
		free(id);
		free(secret);
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	cid_test_store_close(f->s, f->dir);
	free(f);
	return 0;
}

/* A session of account at NOW in which every service but "not-in-session" got tokens. */
static void session_with_services(struct fixture *f, const char *account,
				  char cookie[CID_TOKEN_CHARS + 1], struct cid_session *sess)
{
	static const char *const amr[] = {"pwd"};

	assert_int_equal(
	    cid_session_new(f->s, account, CID_ACR_PASSWORD, amr, 1, NOW, TTL, cookie, sess),
	    CID_OK);
	for (size_t i = 0; i + 1 < N_SERVICES; i++)
		assert_int_equal(cid_session_add_client(f->s, cookie, services[i].id), CID_OK);
	/* twice is once */
	assert_int_equal(cid_session_add_client(f->s, cookie, "both"), CID_OK);
}

static const struct cid_logout_retry retry = {.attempts = 3, .backoff = 30, .lease = 40};

/* Claims every notice due at now (at most 16) into out; returns how many. */
static size_t claim_all(struct cid_store *s, int64_t now, struct cid_logout_notice out[16])
{
	size_t n = 99;

	assert_int_equal(cid_logout_claim(s, now, &retry, out, 16, &n), CID_OK);
	assert_true(n <= 16);
	return n;
}

static size_t queued(struct cid_store *s, int64_t *next_due)
{
	size_t n = 0;

	assert_int_equal(cid_logout_queued(s, &n, next_due), CID_OK);
	return n;
}

struct settle_arg {
	const struct cid_logout_notice *n;
	bool delivered;
	bool final;
	int64_t now;
	enum cid_logout_fate fate;
};

static enum cid_err settle_cb(struct cid_txn *txn, void *arg)
{
	struct settle_arg *a = arg;

	return cid_logout_settle_txn(txn, a->n, a->delivered, a->final, a->now, &retry, &a->fate);
}

static enum cid_err settle(struct cid_store *s, const struct cid_logout_notice *n, bool delivered,
			   bool final, int64_t now, enum cid_logout_fate *fate)
{
	struct settle_arg a = {n, delivered, final, now, CID_LOGOUT_RETRY};
	enum cid_err rc = cid_store_update(s, settle_cb, &a);

	*fate = a.fate;
	return rc;
}

/* ---- ending sessions ---- */

static void test_end_session_queues_exactly_its_back_channel_services(void **state)
{
	struct fixture *f = *state;
	char cookie[CID_TOKEN_CHARS + 1];
	struct cid_session sess;
	struct cid_logout_ended ended;
	struct cid_logout_notice n[16];
	const json_t *fc;
	size_t got;

	session_with_services(f, f->hanako, cookie, &sess);
	assert_int_equal(queued(f->s, NULL), 0);
	assert_int_equal(
	    cid_logout_end_session(f->s, cookie, NULL, CID_LOGOUT_CAUSE_RP, NOW + 60, &ended),
	    CID_OK);
	assert_string_equal(ended.sid, sess.sid);
	assert_string_equal(ended.account_id, f->hanako);
	assert_true(ended.alive);
	assert_int_equal(ended.queued, 2);
	/* the front-channel services, in the order they took part */
	assert_int_equal(json_array_size(ended.frontchannel), 2);
	fc = json_array_get(ended.frontchannel, 0);
	assert_string_equal(json_string_value(json_object_get(fc, "client_id")), "both");
	assert_string_equal(json_string_value(json_object_get(fc, "uri")),
			    "https://both.example/fc");
	assert_true(json_is_true(json_object_get(fc, "session_required")));
	fc = json_array_get(ended.frontchannel, 1);
	assert_string_equal(json_string_value(json_object_get(fc, "client_id")), "front-only");
	assert_true(json_is_false(json_object_get(fc, "session_required")));
	cid_logout_ended_clear(&ended);
	cid_logout_ended_clear(NULL);

	/* the session is gone */
	assert_int_equal(cid_session_get(f->s, cookie, NOW + 61, NULL), CID_ERR_NOTFOUND);
	/* exactly the two back-channel services, due at once, naming the session */
	got = claim_all(f->s, NOW + 60, n);
	assert_int_equal(got, 2);
	for (size_t i = 0; i < got; i++) {
		assert_true(strcmp(n[i].client_id, "back-only") == 0 ||
			    strcmp(n[i].client_id, "both") == 0);
		assert_string_equal(n[i].sid, sess.sid);
		assert_string_equal(n[i].account_id, f->hanako);
		assert_string_equal(n[i].cause, CID_LOGOUT_CAUSE_RP);
		assert_int_equal(n[i].attempts, 1);
		assert_int_equal(n[i].created_at, NOW + 60);
	}
	assert_string_not_equal(n[0].client_id, n[1].client_id);
}

static void test_end_session_by_sid_and_refusals(void **state)
{
	struct fixture *f = *state;
	char cookie[CID_TOKEN_CHARS + 1];
	char other[CID_TOKEN_CHARS + 1];
	struct cid_session sess;
	struct cid_session taro;
	struct cid_logout_notice n[16];

	session_with_services(f, f->hanako, cookie, &sess);
	session_with_services(f, f->taro, other, &taro);
	/* refused: no such session, a malformed sid or cookie, a bad cause */
	assert_int_equal(
	    cid_logout_end_session(f->s, NULL, "A" /* not a sid */, CID_LOGOUT_CAUSE_RP, NOW, NULL),
	    CID_ERR_NOTFOUND);
	assert_int_equal(cid_logout_end_session(f->s, NULL, other /* a cookie, not a sid */,
						CID_LOGOUT_CAUSE_RP, NOW, NULL),
			 CID_ERR_NOTFOUND);
	assert_int_equal(
	    cid_logout_end_session(f->s, "not-a-cookie", NULL, CID_LOGOUT_CAUSE_RP, NOW, NULL),
	    CID_ERR_NOTFOUND);
	assert_int_equal(cid_logout_end_session(f->s, NULL, NULL, CID_LOGOUT_CAUSE_RP, NOW, NULL),
			 CID_ERR_NOTFOUND);
	assert_int_equal(cid_logout_end_session(f->s, cookie, NULL, "", NOW, NULL),
			 CID_ERR_INVALID);
	assert_int_equal(
	    cid_logout_end_session(f->s, cookie, NULL, "a-cause-far-too-long", NOW, NULL),
	    CID_ERR_INVALID);
	assert_int_equal(queued(f->s, NULL), 0);
	/* by sid (the id_token_hint's), without the details */
	assert_int_equal(
	    cid_logout_end_session(f->s, NULL, sess.sid, CID_LOGOUT_CAUSE_ACCOUNT, NOW, NULL),
	    CID_OK);
	assert_int_equal(cid_session_get(f->s, cookie, NOW, NULL), CID_ERR_NOTFOUND);
	assert_int_equal(cid_session_get(f->s, other, NOW, NULL), CID_OK);
	assert_int_equal(claim_all(f->s, NOW, n), 2);
	assert_string_equal(n[0].sid, sess.sid);
	assert_string_equal(n[0].cause, CID_LOGOUT_CAUSE_ACCOUNT);
	/* once ended, it is not found again */
	assert_int_equal(
	    cid_logout_end_session(f->s, NULL, sess.sid, CID_LOGOUT_CAUSE_RP, NOW, NULL),
	    CID_ERR_NOTFOUND);
}

/* A session that had died by itself, or with its citizen, ends without a notice. */
static void test_dead_session_ends_quietly(void **state)
{
	struct fixture *f = *state;
	char cookie[CID_TOKEN_CHARS + 1];
	char other[CID_TOKEN_CHARS + 1];
	struct cid_session sess;
	struct cid_session taro;
	struct cid_logout_ended ended;

	session_with_services(f, f->hanako, cookie, &sess);
	assert_int_equal(
	    cid_logout_end_session(f->s, cookie, NULL, CID_LOGOUT_CAUSE_RP, NOW + TTL, &ended),
	    CID_OK);
	assert_false(ended.alive);
	assert_int_equal(ended.queued, 0);
	assert_int_equal(json_array_size(ended.frontchannel), 0);
	cid_logout_ended_clear(&ended);
	/* a citizen disabled behind logout's back (the old way): their session is dead */
	session_with_services(f, f->taro, other, &taro);
	assert_int_equal(cid_account_set_disabled(f->s, "taro", true, NOW), CID_OK);
	assert_int_equal(
	    cid_logout_end_session(f->s, other, NULL, CID_LOGOUT_CAUSE_RP, NOW + 1, &ended),
	    CID_OK);
	assert_false(ended.alive);
	assert_int_equal(ended.queued, 0);
	cid_logout_ended_clear(&ended);
	assert_int_equal(queued(f->s, NULL), 0);
}

/* A service removed after it took part is told nothing, and breaks nothing. */
static void test_removed_service_is_skipped(void **state)
{
	struct fixture *f = *state;
	char cookie[CID_TOKEN_CHARS + 1];
	struct cid_session sess;
	struct cid_logout_ended ended;
	struct cid_logout_notice n[16];

	session_with_services(f, f->hanako, cookie, &sess);
	assert_int_equal(cid_client_remove(f->s, "both"), CID_OK);
	assert_int_equal(
	    cid_logout_end_session(f->s, cookie, NULL, CID_LOGOUT_CAUSE_RP, NOW, &ended), CID_OK);
	assert_int_equal(ended.queued, 1);
	assert_int_equal(json_array_size(ended.frontchannel), 1);
	cid_logout_ended_clear(&ended);
	assert_int_equal(claim_all(f->s, NOW, n), 1);
	assert_string_equal(n[0].client_id, "back-only");
}

static void test_disable_citizen_ends_every_session_and_tells_its_services(void **state)
{
	struct fixture *f = *state;
	char c1[CID_TOKEN_CHARS + 1];
	char c2[CID_TOKEN_CHARS + 1];
	char c3[CID_TOKEN_CHARS + 1];
	struct cid_session s1;
	struct cid_session s2;
	struct cid_session s3;
	struct cid_logout_notice n[16];
	struct cid_account *citizen = NULL;
	size_t ended = 99;
	size_t got;

	session_with_services(f, f->hanako, c1, &s1);
	session_with_services(f, f->hanako, c2, &s2);
	session_with_services(f, f->taro, c3, &s3);
	assert_int_equal(cid_logout_disable_citizen(f->s, "hanako", NOW + 5, &ended), CID_OK);
	assert_int_equal(ended, 2);
	assert_int_equal(cid_account_find(f->s, "hanako", &citizen), CID_OK);
	assert_false(citizen->active);
	cid_account_free(citizen);
	assert_int_equal(cid_session_get(f->s, c1, NOW + 5, NULL), CID_ERR_NOTFOUND);
	assert_int_equal(cid_session_get(f->s, c2, NOW + 5, NULL), CID_ERR_NOTFOUND);
	assert_int_equal(cid_session_get(f->s, c3, NOW + 5, NULL), CID_OK);
	/* two services per session, each naming its own session */
	got = claim_all(f->s, NOW + 5, n);
	assert_int_equal(got, 4);
	for (size_t i = 0; i < got; i++) {
		assert_string_equal(n[i].account_id, f->hanako);
		assert_string_equal(n[i].cause, CID_LOGOUT_CAUSE_DISABLE);
		assert_true(strcmp(n[i].sid, s1.sid) == 0 || strcmp(n[i].sid, s2.sid) == 0);
	}
	/* again: nothing alive to end, nothing queued */
	assert_int_equal(cid_logout_disable_citizen(f->s, "hanako", NOW + 6, &ended), CID_OK);
	assert_int_equal(ended, 0);
	assert_int_equal(claim_all(f->s, NOW + 6, n), 0);
	assert_int_equal(cid_logout_disable_citizen(f->s, "nobody", NOW, &ended), CID_ERR_NOTFOUND);
	/* enabling revives none of the sessions */
	assert_int_equal(cid_account_set_disabled(f->s, "hanako", false, NOW + 7), CID_OK);
	assert_int_equal(cid_session_get(f->s, c1, NOW + 7, NULL), CID_ERR_NOTFOUND);
}

/* ---- the queue ---- */

static void test_backoff_doubles_up_to_its_cap(void **state)
{
	static const struct {
		int64_t backoff;
		unsigned attempts;
		int64_t wait;
	} rows[] = {
	    {30, 1, 30},     {30, 2, 60},     {30, 3, 120},    {30, 4, 240}, {30, 8, 3600},
	    {30, 20, 3600},  {1, 1, 1},	      {1, 5, 16},      {0, 1, 1},    {3600, 1, 3600},
	    {3600, 2, 3600}, {1, 1000, 3600}, {2000, 2, 3600}, {30, 0, 30},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct cid_logout_retry r = {.attempts = 5, .backoff = rows[i].backoff, .lease = 1};
		int64_t got = cid_logout_backoff(&r, rows[i].attempts);

		if (got != rows[i].wait)
			fail_msg("backoff %lld after try %u: got %lld, want %lld",
				 (long long)rows[i].backoff, rows[i].attempts, (long long)got,
				 (long long)rows[i].wait);
	}
}

/* One notice: leased while it is sent, tried again after a doubling wait, given up after 3. */
static void test_retry_with_backoff_then_give_up(void **state)
{
	struct fixture *f = *state;
	char cookie[CID_TOKEN_CHARS + 1];
	struct cid_session sess;
	struct cid_logout_notice n[16];
	struct cid_logout_notice again[16];
	enum cid_logout_fate fate;
	int64_t t = NOW;
	int64_t due = 0;

	assert_int_equal(cid_client_remove(f->s, "both"), CID_OK); /* one notice only */
	session_with_services(f, f->hanako, cookie, &sess);
	assert_int_equal(cid_logout_end_session(f->s, cookie, NULL, CID_LOGOUT_CAUSE_RP, t, NULL),
			 CID_OK);
	assert_int_equal(queued(f->s, &due), 1);
	assert_int_equal(due, t);

	/* try 1: claimed, leased: nobody else claims it until the lease runs out */
	assert_int_equal(claim_all(f->s, t, n), 1);
	assert_int_equal(n[0].attempts, 1);
	assert_int_equal(queued(f->s, &due), 1);
	assert_int_equal(due, t + retry.lease);
	assert_int_equal(claim_all(f->s, t + retry.lease - 1, again), 0);
	assert_int_equal(settle(f->s, &n[0], false, false, t + 2, &fate), CID_OK);
	assert_int_equal(fate, CID_LOGOUT_RETRY);
	assert_int_equal(queued(f->s, &due), 1);
	assert_int_equal(due, t + 2 + 30);

	/* try 2, after the first wait */
	t += 2;
	assert_int_equal(claim_all(f->s, t + 29, n), 0);
	assert_int_equal(claim_all(f->s, t + 30, n), 1);
	assert_int_equal(n[0].attempts, 2);
	assert_int_equal(settle(f->s, &n[0], false, false, t + 30, &fate), CID_OK);
	assert_int_equal(fate, CID_LOGOUT_RETRY);
	assert_int_equal(queued(f->s, &due), 1);
	assert_int_equal(due, t + 30 + 60); /* doubled */

	/* try 3 is the last: given up, gone */
	t += 90;
	assert_int_equal(claim_all(f->s, t, n), 1);
	assert_int_equal(n[0].attempts, 3);
	assert_int_equal(settle(f->s, &n[0], false, false, t, &fate), CID_OK);
	assert_int_equal(fate, CID_LOGOUT_GIVEN_UP);
	assert_int_equal(queued(f->s, &due), 0);
	assert_int_equal(due, 0);
	/* settling it again finds nothing and changes nothing */
	assert_int_equal(settle(f->s, &n[0], true, false, t, &fate), CID_ERR_NOTFOUND);
}

/* Delivered leaves the queue; final gives up at once; a lost lease is someone else's. */
static void test_delivered_final_and_lost_lease(void **state)
{
	struct fixture *f = *state;
	char cookie[CID_TOKEN_CHARS + 1];
	struct cid_session sess;
	struct cid_logout_notice n[16];
	struct cid_logout_notice later[16];
	enum cid_logout_fate fate;

	session_with_services(f, f->hanako, cookie, &sess);
	assert_int_equal(cid_logout_end_session(f->s, cookie, NULL, CID_LOGOUT_CAUSE_RP, NOW, NULL),
			 CID_OK);
	assert_int_equal(claim_all(f->s, NOW, n), 2);
	assert_int_equal(settle(f->s, &n[0], true, false, NOW + 1, &fate), CID_OK);
	assert_int_equal(fate, CID_LOGOUT_DELIVERED);
	assert_int_equal(settle(f->s, &n[1], false, true, NOW + 1, &fate), CID_OK);
	assert_int_equal(fate, CID_LOGOUT_GIVEN_UP);
	assert_int_equal(queued(f->s, NULL), 0);

	/* a lease that ran out: the notice is claimed again (a second try), and the
	 * first claim's late settlement finds nothing */
	session_with_services(f, f->hanako, cookie, &sess);
	assert_int_equal(cid_logout_end_session(f->s, cookie, NULL, CID_LOGOUT_CAUSE_RP, NOW, NULL),
			 CID_OK);
	assert_int_equal(claim_all(f->s, NOW, n), 2);
	assert_int_equal(claim_all(f->s, NOW + retry.lease, later), 2);
	assert_int_equal(later[0].attempts, 2);
	assert_int_equal(settle(f->s, &n[0], true, false, NOW + 50, &fate), CID_ERR_NOTFOUND);
	assert_int_equal(queued(f->s, NULL), 2);
	/* max bounds a claim */
	{
		size_t got = 99;

		assert_int_equal(cid_logout_claim(f->s, NOW + 200, &retry, n, 1, &got), CID_OK);
		assert_int_equal(got, 1);
		assert_int_equal(cid_logout_claim(f->s, NOW + 200, &retry, n, 0, &got), CID_OK);
		assert_int_equal(got, 0);
	}
	{
		struct cid_logout_retry bad = retry;
		size_t got = 0;

		bad.lease = 0;
		assert_int_equal(cid_logout_claim(f->s, NOW, &bad, n, 1, &got), CID_ERR_INVALID);
	}
}

static enum cid_err put_garbage(struct cid_txn *txn, void *arg)
{
	(void)arg;
	return cid_txn_put(txn, CID_DB_LOGOUT_QUEUE, cid_str_of("0000000000000000\ngarbage"),
			   cid_str_of("[1,2]"), 0);
}

/* The queue is in the store: a restart loses nothing; a damaged record is dropped. */
static void test_queue_survives_reopen(void **state)
{
	struct fixture *f = *state;
	char cookie[CID_TOKEN_CHARS + 1];
	struct cid_session sess;
	struct cid_logout_notice n[16];

	session_with_services(f, f->hanako, cookie, &sess);
	assert_int_equal(cid_logout_end_session(f->s, cookie, NULL, CID_LOGOUT_CAUSE_RP, NOW, NULL),
			 CID_OK);
	assert_int_equal(cid_store_update(f->s, put_garbage, NULL), CID_OK);
	cid_store_close(f->s);
	f->s = NULL;
	assert_int_equal(cid_store_open(f->dir, &f->s), CID_OK);
	assert_int_equal(queued(f->s, NULL), 3);
	assert_int_equal(claim_all(f->s, NOW, n), 2);
	assert_string_equal(n[0].sid, sess.sid);
	assert_int_equal(queued(f->s, NULL), 2); /* the damaged one is gone */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		test_end_session_queues_exactly_its_back_channel_services, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_end_session_by_sid_and_refusals, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dead_session_ends_quietly, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_removed_service_is_skipped, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_disable_citizen_ends_every_session_and_tells_its_services, setup, teardown),
	    cmocka_unit_test(test_backoff_doubles_up_to_its_cap),
	    cmocka_unit_test_setup_teardown(test_retry_with_backoff_then_give_up, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_delivered_final_and_lost_lease, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_queue_survives_reopen, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
