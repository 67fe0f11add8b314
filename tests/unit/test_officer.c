/*
 * test_officer: privacy-officer accounts, their login (password + TOTP,
 * throttled) and console sessions, on a real store.
 */
#include "account.h"
#include "bounds.h"
#include "officer.h"
#include "support.h"
#include "totp.h"

#include <pthread.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define T0	 1795000000 /* a fixed "now", on a step boundary or not: irrelevant */
#define PASSWORD "correct horse battery"

struct fixture {
	struct cid_test_store st;
	uint8_t secret[CID_TOTP_SECRET_MAX];
	size_t secret_len;
};

static void code_at(const struct fixture *f, int64_t now, char out[CID_TOTP_DIGITS + 1])
{
	uint32_t c = 0;

	assert_int_equal(
	    cid_totp(CID_TOTP_SHA1, f->secret, f->secret_len, now, CID_TOTP_DIGITS, &c), CID_OK);
	snprintf(out, CID_TOTP_DIGITS + 1, "%06u", c);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char *b32 = NULL;
	char *uri = NULL;
	char id[CID_ID_CHARS + 1];

	assert_non_null(f);
	f->st.s = cid_test_store_open(f->st.dir);
	assert_int_equal(
	    cid_officer_add(f->st.s, &cid_test_argon2, "alice", PASSWORD, T0, &b32, &uri), CID_OK);
	assert_int_equal(strlen(b32), CID_TOTP_SECRET_CHARS);
	assert_non_null(strstr(uri, "otpauth://totp/" CID_OFFICER_TOTP_ISSUER ":alice?secret="));
	assert_non_null(strstr(uri, b32));
	assert_int_equal(
	    cid_base32_decode(b32, strlen(b32), f->secret, sizeof(f->secret), &f->secret_len),
	    CID_OK);
	free(b32);
	free(uri);
	assert_int_equal(
	    cid_officer_add(f->st.s, &cid_test_argon2, "bob", PASSWORD, T0, NULL, NULL), CID_OK);
	assert_int_equal(cid_officer_disable(f->st.s, "bob"), CID_OK);
	/* a citizen with the same name and password is not an officer */
	assert_int_equal(
	    cid_account_add(f->st.s, &cid_test_argon2, "carol", PASSWORD, NULL, T0, id), CID_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	cid_test_store_close(f->st.s, f->st.dir);
	free(f);
	return 0;
}

enum code_kind { CODE_GOOD, CODE_WRONG, CODE_MALFORMED };

/* The client address of a login: none (the CLI), or text of CID_MAX_ADDR bytes, or one more. */
enum addr_kind { ADDR_NONE, ADDR_AT_LIMIT, ADDR_OVER_LIMIT };

struct login_case {
	const char *what;
	const char *name;
	const char *password;
	enum code_kind code;
	enum cid_err want;
	enum addr_kind addr;
};

static const struct login_case login_cases[] = {
    {"right password and code", "alice", PASSWORD, CODE_GOOD, CID_OK, ADDR_NONE},
    {"wrong password", "alice", "wrong password", CODE_GOOD, CID_ERR_DENIED, ADDR_NONE},
    {"wrong code", "alice", PASSWORD, CODE_WRONG, CID_ERR_DENIED, ADDR_NONE},
    {"malformed code", "alice", PASSWORD, CODE_MALFORMED, CID_ERR_INVALID, ADDR_NONE},
    {"disabled officer", "bob", PASSWORD, CODE_GOOD, CID_ERR_DENIED, ADDR_NONE},
    {"unknown officer", "mallory", PASSWORD, CODE_GOOD, CID_ERR_DENIED, ADDR_NONE},
    {"a citizen's credentials", "carol", PASSWORD, CODE_GOOD, CID_ERR_DENIED, ADDR_NONE},
    {"name no officer can have", "a/b", PASSWORD, CODE_GOOD, CID_ERR_DENIED, ADDR_NONE},
    {"empty name", "", PASSWORD, CODE_GOOD, CID_ERR_INVALID, ADDR_NONE},
    {"address as long as a citizen's may be", "alice", PASSWORD, CODE_GOOD, CID_OK, ADDR_AT_LIMIT},
    {"address longer than a citizen's may be", "alice", PASSWORD, CODE_GOOD, CID_ERR_INVALID,
     ADDR_OVER_LIMIT},
};

static void test_login_outcomes(void **state)
{
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(login_cases) / sizeof(login_cases[0]); i++) {
		const struct login_case *c = &login_cases[i];
		/* each row at its own step, so a good code is always fresh */
		int64_t now = T0 + (int64_t)i * 2 * CID_TOTP_STEP;
		char code[CID_TOTP_DIGITS + 1];
		char cookie[CID_TOKEN_CHARS + 1] = "";
		char name[CID_OFFICER_MAX_NAME + 1] = "";
		char addr[CID_MAX_ADDR + 2] = "";
		enum cid_err rc;

		if (c->addr != ADDR_NONE)
			memset(addr, '7',
			       c->addr == ADDR_AT_LIMIT ? CID_MAX_ADDR : CID_MAX_ADDR + 1);
		code_at(f, now, code);
		if (c->code == CODE_WRONG)
			code[0] = "1234567890"[code[0] - '0']; /* another digit */
		if (c->code == CODE_MALFORMED)
			memcpy(code, "12a456", sizeof(code));
		rc = cid_officer_login(f->st.s, &cid_test_argon2, c->name, c->password, code,
				       c->addr == ADDR_NONE ? NULL : addr, now, cookie, NULL);
		if (rc != c->want)
			fail_msg("%s: got %s, want %s", c->what, cid_strerror(rc),
				 cid_strerror(c->want));
		if (c->want == CID_OK) {
			assert_int_equal(cid_officer_session(f->st.s, cookie, now, name), CID_OK);
			assert_string_equal(name, c->name);
		}
	}
}

static void test_code_replay_refused(void **state)
{
	struct fixture *f = *state;
	char code[CID_TOTP_DIGITS + 1];
	char cookie[CID_TOKEN_CHARS + 1];

	code_at(f, T0, code);
	assert_int_equal(cid_officer_login(f->st.s, &cid_test_argon2, "alice", PASSWORD, code,
					   "192.0.2.1", T0, cookie, NULL),
			 CID_OK);
	assert_int_equal(cid_officer_login(f->st.s, &cid_test_argon2, "alice", PASSWORD, code,
					   "192.0.2.1", T0 + 5, cookie, NULL),
			 CID_ERR_DENIED);
}

static void test_failures_throttle(void **state)
{
	struct fixture *f = *state;
	char code[CID_TOTP_DIGITS + 1];
	char cookie[CID_TOKEN_CHARS + 1];
	int64_t wait = 0;
	int64_t unknown_wait = 0;

	code_at(f, T0, code);
	for (int i = 0; i < CID_THROTTLE_FREE; i++) {
		assert_int_equal(cid_officer_login(f->st.s, &cid_test_argon2, "alice", "nope nope",
						   code, "192.0.2.7", T0, cookie, NULL),
				 CID_ERR_DENIED);
		assert_int_equal(cid_officer_login(f->st.s, &cid_test_argon2, "mallory",
						   "nope nope", code, "192.0.2.7", T0, cookie,
						   NULL),
				 CID_ERR_DENIED);
	}
	/* the right credentials now wait too from there: nothing is verified */
	assert_int_equal(cid_officer_login(f->st.s, &cid_test_argon2, "alice", PASSWORD, code,
					   "192.0.2.7", T0, cookie, &wait),
			 CID_ERR_THROTTLED);
	assert_true(wait > 0 && wait <= CID_THROTTLE_MAX_DELAY);
	/* an officer who does not exist is throttled the same: the answers tell nothing */
	assert_int_equal(cid_officer_login(f->st.s, &cid_test_argon2, "mallory", PASSWORD, code,
					   "192.0.2.7", T0, cookie, &unknown_wait),
			 CID_ERR_THROTTLED);
	assert_int_equal(unknown_wait, wait);
	/* the officer herself, from her own address, is not locked out */
	assert_int_equal(cid_officer_login(f->st.s, &cid_test_argon2, "alice", PASSWORD, code,
					   "192.0.2.8", T0, cookie, NULL),
			 CID_OK);
	/* after the window the good code works from there too */
	code_at(f, T0 + CID_THROTTLE_WINDOW, code);
	assert_int_equal(cid_officer_login(f->st.s, &cid_test_argon2, "alice", PASSWORD, code,
					   "192.0.2.7", T0 + CID_THROTTLE_WINDOW, cookie, NULL),
			 CID_OK);
}

#define RACERS 8

struct guesser {
	struct fixture *f;
	const char *code;
	pthread_barrier_t *start;
	enum cid_err rc;
};

static void *guess(void *arg)
{
	struct guesser *g = arg;
	char cookie[CID_TOKEN_CHARS + 1];

	pthread_barrier_wait(g->start);
	g->rc = cid_officer_login(g->f->st.s, &cid_test_argon2, "alice", "nope nope", g->code,
				  "192.0.2.9", T0, cookie, NULL);
	return NULL;
}

/* Officers' logins re-read the wait in the transaction that counts the outcome, as citizens'. */
static void test_wrong_passwords_at_once_get_no_more_than_the_free_checks(void **state)
{
	struct fixture *f = *state;
	char code[CID_TOTP_DIGITS + 1];
	pthread_t threads[RACERS];
	struct guesser guessers[RACERS];
	pthread_barrier_t start;
	int denied = 0;
	int throttled = 0;

	code_at(f, T0, code);
	assert_int_equal(pthread_barrier_init(&start, NULL, RACERS), 0);
	for (int i = 0; i < RACERS; i++) {
		guessers[i] = (struct guesser){.f = f, .code = code, .start = &start};
		assert_int_equal(pthread_create(&threads[i], NULL, guess, &guessers[i]), 0);
	}
	for (int i = 0; i < RACERS; i++) {
		assert_int_equal(pthread_join(threads[i], NULL), 0);
		denied += guessers[i].rc == CID_ERR_DENIED;
		throttled += guessers[i].rc == CID_ERR_THROTTLED;
	}
	pthread_barrier_destroy(&start);
	assert_int_equal(denied, CID_THROTTLE_FREE);
	assert_int_equal(throttled, RACERS - CID_THROTTLE_FREE);
}

/* alice's stored password hash, to free. */
static char *officer_hash(struct fixture *f)
{
	struct cid_txn *txn = NULL;
	json_t *rec = NULL;
	char *hash;

	assert_int_equal(cid_store_read_begin(f->st.s, &txn), CID_OK);
	assert_int_equal(cid_txn_get_json(txn, CID_DB_OFFICERS, cid_str_of("alice"), &rec), CID_OK);
	cid_store_read_end(txn);
	hash = strdup(cid_json_str(rec, "password"));
	assert_non_null(hash);
	json_decref(rec);
	return hash;
}

/* An officer's hash made with other argon2 settings is rehashed by a good login only. */
static void test_login_rehashes_a_password_made_with_other_settings(void **state)
{
	static const struct cid_argon2_params stronger = {
	    .t_cost = 2, .m_cost_kib = 128, .parallelism = 1};
	struct fixture *f = *state;
	char code[CID_TOTP_DIGITS + 1];
	char wrong[CID_TOTP_DIGITS + 1];
	char cookie[CID_TOKEN_CHARS + 1];
	char *before = officer_hash(f);
	char *after = NULL;

	code_at(f, T0, code);
	memcpy(wrong, code, sizeof(wrong));
	assert_non_null(strstr(before, "$m=64,t=1,p=1$"));
	/* a wrong password, or the right one with a wrong code, leaves it */
	assert_int_equal(cid_officer_login(f->st.s, &stronger, "alice", "nope nope", code,
					   "192.0.2.1", T0, cookie, NULL),
			 CID_ERR_DENIED);
	wrong[5] = (char)(wrong[5] == '9' ? '0' : wrong[5] + 1);
	assert_int_equal(cid_officer_login(f->st.s, &stronger, "alice", PASSWORD, wrong,
					   "192.0.2.1", T0, cookie, NULL),
			 CID_ERR_DENIED);
	after = officer_hash(f);
	assert_string_equal(after, before);
	free(after);
	assert_int_equal(cid_officer_login(f->st.s, &stronger, "alice", PASSWORD, code, "192.0.2.1",
					   T0, cookie, NULL),
			 CID_OK);
	after = officer_hash(f);
	assert_non_null(strstr(after, "$m=128,t=2,p=1$"));
	assert_int_equal(cid_password_verify(NULL, after, PASSWORD, strlen(PASSWORD)), CID_OK);
	free(before);
	free(after);
}

/* Citizens' failures count for the address an officer may share, never for the officer. */
static void test_citizen_flood_leaves_officer_login(void **state)
{
	struct fixture *f = *state;
	char code[CID_TOTP_DIGITS + 1];
	char cookie[CID_TOKEN_CHARS + 1];
	char id[CID_ID_CHARS + 1];
	char user[32];

	for (int i = 0; i < CID_THROTTLE_ADDR_FREE; i++) {
		snprintf(user, sizeof(user), "alice%d", i);
		assert_true(cid_account_authenticate(f->st.s, &cid_test_argon2, user, "nope nope",
						     "198.51.100.9", T0, id, NULL) != CID_OK);
	}
	code_at(f, T0, code);
	/* the flooding address is slowed for officers too */
	assert_int_equal(cid_officer_login(f->st.s, &cid_test_argon2, "alice", PASSWORD, code,
					   "198.51.100.9", T0, cookie, NULL),
			 CID_ERR_THROTTLED);
	assert_int_equal(cid_officer_login(f->st.s, &cid_test_argon2, "alice", PASSWORD, code,
					   "203.0.113.1", T0, cookie, NULL),
			 CID_OK);
}

/*= NIST SP 800-63B §5.2.2: the verifier SHALL limit consecutive failed
 *# authentication attempts on a single subscriber account to no more than 100 */
static void test_wrong_codes_lock_the_officer_until_unlocked(void **state)
{
	struct fixture *f = *state;
	char code[CID_TOTP_DIGITS + 1];
	char cookie[CID_TOKEN_CHARS + 1];
	char addr[32];
	int64_t t = T0;
	int64_t wait = -1;

	/* the right password and wrong codes, from many addresses over days */
	for (int i = 0; i < CID_CODE_MAX_FAILURES; i++) {
		snprintf(addr, sizeof(addr), "192.0.2.%d", i + 1);
		t += 86400;
		code_at(f, t, code);
		code[0] = "1234567890"[code[0] - '0'];
		assert_int_equal(cid_officer_login(f->st.s, &cid_test_argon2, "alice", PASSWORD,
						   code, addr, t, cookie, NULL),
				 CID_ERR_DENIED);
	}
	code_at(f, t + CID_TOTP_STEP, code);
	assert_int_equal(cid_officer_login(f->st.s, &cid_test_argon2, "alice", PASSWORD, code,
					   "203.0.113.1", t + CID_TOTP_STEP, cookie, &wait),
			 CID_ERR_LOCKED);
	assert_int_equal(wait, -1);
	/* without the password nothing is told */
	assert_int_equal(cid_officer_login(f->st.s, &cid_test_argon2, "alice", "nope nope", code,
					   "203.0.113.1", t + CID_TOTP_STEP, cookie, NULL),
			 CID_ERR_DENIED);
	assert_int_equal(cid_officer_unlock(f->st.s, "alice"), CID_OK);
	assert_int_equal(cid_officer_login(f->st.s, &cid_test_argon2, "alice", PASSWORD, code,
					   "203.0.113.1", t + CID_TOTP_STEP, cookie, NULL),
			 CID_OK);
	assert_int_equal(cid_officer_unlock(f->st.s, "alice"), CID_OK);
	assert_int_equal(cid_officer_unlock(f->st.s, "nobody"), CID_ERR_NOTFOUND);
	assert_int_equal(cid_officer_unlock(f->st.s, "bad name"), CID_ERR_NOTFOUND);
}

static void test_session_lifetime_and_logout(void **state)
{
	struct fixture *f = *state;
	char code[CID_TOTP_DIGITS + 1];
	char cookie[CID_TOKEN_CHARS + 1];
	char name[CID_OFFICER_MAX_NAME + 1];
	char csrf1[CID_TOKEN_CHARS + 1];
	char csrf2[CID_TOKEN_CHARS + 1];

	code_at(f, T0, code);
	assert_int_equal(cid_officer_login(f->st.s, &cid_test_argon2, "alice", PASSWORD, code, NULL,
					   T0, cookie, NULL),
			 CID_OK);
	assert_int_equal(
	    cid_officer_session(f->st.s, cookie, T0 + CID_OFFICER_SESSION_TTL - 1, name), CID_OK);
	assert_int_equal(cid_officer_session(f->st.s, cookie, T0 + CID_OFFICER_SESSION_TTL, name),
			 CID_ERR_EXPIRED);
	assert_int_equal(cid_officer_session(f->st.s, "not-a-cookie", T0, name), CID_ERR_NOTFOUND);
	assert_int_equal(cid_officer_session(f->st.s, NULL, T0, name), CID_ERR_NOTFOUND);
	cid_officer_csrf(cookie, csrf1);
	cid_officer_csrf(cookie, csrf2);
	assert_int_equal(strlen(csrf1), CID_TOKEN_CHARS);
	assert_string_equal(csrf1, csrf2);
	assert_string_not_equal(csrf1, cookie);
	assert_int_equal(cid_officer_logout(f->st.s, cookie), CID_OK);
	assert_int_equal(cid_officer_session(f->st.s, cookie, T0, name), CID_ERR_NOTFOUND);
	assert_int_equal(cid_officer_logout(f->st.s, cookie), CID_ERR_NOTFOUND);
}

static void test_disable_ends_sessions(void **state)
{
	struct fixture *f = *state;
	char code[CID_TOTP_DIGITS + 1];
	char cookie[CID_TOKEN_CHARS + 1];
	char name[CID_OFFICER_MAX_NAME + 1];

	code_at(f, T0, code);
	assert_int_equal(cid_officer_login(f->st.s, &cid_test_argon2, "alice", PASSWORD, code, NULL,
					   T0, cookie, NULL),
			 CID_OK);
	assert_int_equal(cid_officer_disable(f->st.s, "alice"), CID_OK);
	assert_int_equal(cid_officer_session(f->st.s, cookie, T0, name), CID_ERR_NOTFOUND);
	assert_int_equal(cid_officer_disable(f->st.s, "nobody"), CID_ERR_NOTFOUND);
}

static void test_add_and_list(void **state)
{
	struct fixture *f = *state;
	json_t *all = NULL;
	char *dump;

	assert_int_equal(
	    cid_officer_add(f->st.s, &cid_test_argon2, "alice", PASSWORD, T0, NULL, NULL),
	    CID_ERR_EXISTS);
	assert_int_equal(
	    cid_officer_add(f->st.s, &cid_test_argon2, "bad name", PASSWORD, T0, NULL, NULL),
	    CID_ERR_INVALID);
	assert_int_equal(
	    cid_officer_add(f->st.s, &cid_test_argon2, "dave", "short", T0, NULL, NULL),
	    CID_ERR_INVALID);
	assert_int_equal(cid_officer_list(f->st.s, &all), CID_OK);
	assert_int_equal(json_array_size(all), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(all, 0), "name")),
			    "alice");
	assert_true(json_is_false(json_object_get(json_array_get(all, 0), "disabled")));
	assert_true(json_is_true(json_object_get(json_array_get(all, 1), "disabled")));
	/* no secret leaves through the list */
	dump = json_dumps(all, 0);
	assert_null(strstr(dump, "argon2"));
	assert_null(strstr(dump, "secret"));
	free(dump);
	json_decref(all);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_login_outcomes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_code_replay_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failures_throttle, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_login_rehashes_a_password_made_with_other_settings,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_wrong_passwords_at_once_get_no_more_than_the_free_checks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_citizen_flood_leaves_officer_login, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_codes_lock_the_officer_until_unlocked, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_session_lifetime_and_logout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_disable_ends_sessions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_add_and_list, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
