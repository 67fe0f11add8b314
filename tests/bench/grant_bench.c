/*
 * grant_bench: what a citizen's withdrawal from a service costs on a big
 * store. Not a test: it never fails on speed.
 *   grant_bench fill DIR C G  C citizens (cheap argon2 parameters: the store's
 *                             size is measured, not the login), each with G
 *                             grants spread over SERVICES services, made as
 *                             the token endpoint makes them (cid_code_issue)
 *   grant_bench withdraw DIR [C]
 *                             median and longest of WITHDRAWALS
 *                             cid_grant_revoke_client calls (what /account's
 *                             "withdraw everything" runs), each for another
 *                             citizen of the first C (default CITIZENS) and a
 *                             service: the time the store's one writer is held
 *   grant_bench unindex DIR   deletes the grant index: the store as one written
 *                             before the index existed
 *   grant_bench reindex DIR   builds the index of such a store as `civicid serve`
 *                             does at start (cid_grant_index_ensure): how long
 *                             the one-off migration holds the writer
 * Put DIR on a tmpfs (/dev/shm) to fill quickly: every grant is its own
 * durable transaction. Run the release build for figures worth quoting.
 */
#include "account.h"
#include "bench.h"
#include "store.h"
#include "token.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define START	    1800000000
#define SERVICES    10
#define CITIZENS    10000
#define WITHDRAWALS 50

static const char *const services[SERVICES] = {
    "childcare", "library",   "parking",   "waste",	  "housing",
    "tax",	 "elections", "transport", "sports-club", "health-check",
};

/* The g-th grant of citizen c (account id), as an authorization request leaves it. */
static enum cid_err grant_of(struct cid_store *s, const char *id, uint64_t c, uint64_t g)
{
	char code[CID_TOKEN_CHARS + 1];
	int64_t t = START + (int64_t)g;
	enum cid_err rc;
	json_t *a = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:[s], s:s}", "client_id",
			      services[(c + g) % SERVICES], "redirect_uri", "https://rp.example/cb",
			      "account_id", id, "sid", "sid1", "auth_time", (json_int_t)t, "acr",
			      "urn:civicid:acr:password", "amr", "pwd", "scope", "openid profile");

	if (a == NULL)
		return CID_ERR_NOMEM;
	rc = cid_code_issue(s, a, t, 60, code);
	json_decref(a);
	return rc;
}

static const struct bench_store grants = {
    .prog = "grant_bench",
    .user_prefix = 'g',
    .records = "grants",
    .add = grant_of,
    .index = "grant",
    .index_db = CID_DB_GRANT_INDEX,
    .index_ensure = cid_grant_index_ensure,
};

static int withdraw(const char *dir, uint64_t citizens)
{
	struct cid_store *s = NULL;
	struct cid_account *acct = NULL;
	double took[WITHDRAWALS];
	struct bench_spread spread;
	size_t revoked = 0;
	int status = 1;

	if (!bench_store_open(grants.prog, dir, &s))
		goto out;
	for (size_t i = 0; i < WITHDRAWALS; i++) {
		uint64_t c = (uint64_t)i * 7919 % citizens;
		char user[BENCH_USERNAME_SIZE];
		size_t n = 0;
		double t0;

		bench_username(grants.user_prefix, c, user);
		if (cid_account_find(s, user, &acct) != CID_OK) {
			fprintf(stderr, "grant_bench: no citizen %s (fill first)\n", user);
			goto out;
		}
		t0 = bench_now_s();
		if (cid_grant_revoke_client(s, acct->id, services[c % SERVICES], START + 100, &n) !=
		    CID_OK) {
			fprintf(stderr, "grant_bench: the withdrawal failed\n");
			goto out;
		}
		took[i] = bench_now_s() - t0;
		revoked += n;
		cid_account_free(acct);
		acct = NULL;
	}
	spread = bench_spread(took, WITHDRAWALS);
	printf("withdraw: %d withdrawals (%zu grants revoked): median %.3f ms, longest %.3f ms\n",
	       WITHDRAWALS, revoked, spread.median * 1e3, spread.longest * 1e3);
	status = 0;
out:
	cid_account_free(acct);
	cid_store_close(s);
	return status;
}

int main(int argc, char **argv)
{
	uint64_t c = CITIZENS;
	int status = bench_store_main(&grants, START, argc, argv);

	if (status >= 0)
		return status;
	if ((argc == 3 || (argc == 4 && bench_count(argv[3], 1, BENCH_MAX_COUNT, &c))) &&
	    strcmp(argv[1], "withdraw") == 0)
		return withdraw(argv[2], c);
	fprintf(stderr,
		"usage: grant_bench fill DIR C G | withdraw DIR [C] | unindex DIR | reindex DIR\n");
	return 2;
}
