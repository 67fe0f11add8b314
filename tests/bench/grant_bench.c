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
#include "store.h"
#include "str.h"
#include "token.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define START	    1800000000
#define SERVICES    10
#define CITIZENS    10000
#define WITHDRAWALS 50

static const char *const services[SERVICES] = {
    "childcare", "library",   "parking",   "waste",	  "housing",
    "tax",	 "elections", "transport", "sports-club", "health-check",
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void username(uint64_t c, char out[32])
{
	snprintf(out, 32, "g%08" PRIu64, c);
}

/* One grant of citizen id to service, as an authorization request leaves it. */
static enum cid_err grant_of(struct cid_store *s, const char *id, const char *service, int64_t t)
{
	char code[CID_TOKEN_CHARS + 1];
	enum cid_err rc;
	json_t *a = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:[s], s:s}", "client_id", service,
			      "redirect_uri", "https://rp.example/cb", "account_id", id, "sid",
			      "sid1", "auth_time", (json_int_t)t, "acr", "urn:civicid:acr:password",
			      "amr", "pwd", "scope", "openid profile");

	if (a == NULL)
		return CID_ERR_NOMEM;
	rc = cid_code_issue(s, a, t, 60, code);
	json_decref(a);
	return rc;
}

static int fill(const char *dir, uint64_t citizens, uint64_t per)
{
	const struct cid_argon2_params cheap = {.t_cost = 1, .m_cost_kib = 8, .parallelism = 1};
	struct cid_store *s = NULL;
	char id[CID_ID_CHARS + 1];
	char user[32];
	double t0 = now_s();
	int status = 1;

	if (cid_store_open(dir, &s) != CID_OK) {
		fprintf(stderr, "grant_bench: cannot open the store in %s\n", dir);
		goto out;
	}
	for (uint64_t c = 0; c < citizens; c++) {
		username(c, user);
		if (cid_account_add(s, &cheap, user, "scale-password-1", NULL, START, id) !=
		    CID_OK) {
			fprintf(stderr, "grant_bench: adding citizen %" PRIu64 " failed\n", c);
			goto out;
		}
		for (uint64_t g = 0; g < per; g++)
			if (grant_of(s, id, services[(c + g) % SERVICES], START + (int64_t)g) !=
			    CID_OK) {
				fprintf(stderr, "grant_bench: a grant failed\n");
				goto out;
			}
	}
	printf("fill: %" PRIu64 " citizens, %" PRIu64 " grants in %.1f s, map %zu MiB\n", citizens,
	       citizens * per, now_s() - t0, cid_store_map_size(s) >> 20);
	status = 0;
out:
	cid_store_close(s);
	return status;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a;
	double y = *(const double *)b;

	return (x > y) - (x < y);
}

static int withdraw(const char *dir, uint64_t citizens)
{
	struct cid_store *s = NULL;
	struct cid_account *acct = NULL;
	double took[WITHDRAWALS];
	size_t revoked = 0;
	int status = 1;

	if (cid_store_open(dir, &s) != CID_OK) {
		fprintf(stderr, "grant_bench: cannot open the store in %s\n", dir);
		goto out;
	}
	for (size_t i = 0; i < WITHDRAWALS; i++) {
		uint64_t c = (uint64_t)i * 7919 % citizens;
		char user[32];
		size_t n = 0;
		double t0;

		username(c, user);
		if (cid_account_find(s, user, &acct) != CID_OK) {
			fprintf(stderr, "grant_bench: no citizen %s (fill first)\n", user);
			goto out;
		}
		t0 = now_s();
		if (cid_grant_revoke_client(s, acct->id, services[c % SERVICES], START + 100, &n) !=
		    CID_OK) {
			fprintf(stderr, "grant_bench: the withdrawal failed\n");
			goto out;
		}
		took[i] = now_s() - t0;
		revoked += n;
		cid_account_free(acct);
		acct = NULL;
	}
	qsort(took, WITHDRAWALS, sizeof(took[0]), cmp_double);
	printf("withdraw: %d withdrawals (%zu grants revoked): median %.3f ms, longest %.3f ms\n",
	       WITHDRAWALS, revoked, took[WITHDRAWALS / 2] * 1e3, took[WITHDRAWALS - 1] * 1e3);
	status = 0;
out:
	cid_account_free(acct);
	cid_store_close(s);
	return status;
}

static enum cid_err unindex_cb(struct cid_txn *txn, void *arg)
{
	(void)arg;
	return cid_txn_clear(txn, CID_DB_GRANT_INDEX);
}

static int index_op(const char *dir, bool drop)
{
	struct cid_store *s = NULL;
	size_t built = 0;
	double t0;
	int status = 1;

	if (cid_store_open(dir, &s) != CID_OK) {
		fprintf(stderr, "grant_bench: cannot open the store in %s\n", dir);
		goto out;
	}
	t0 = now_s();
	if (drop) {
		if (cid_store_update(s, unindex_cb, NULL) != CID_OK) {
			fprintf(stderr, "grant_bench: deleting the index failed\n");
			goto out;
		}
		printf("unindex: the grant index is gone\n");
	} else {
		if (cid_grant_index_ensure(s, &built) != CID_OK) {
			fprintf(stderr, "grant_bench: building the index failed\n");
			goto out;
		}
		printf("reindex: %zu index keys in %.3f s\n", built, now_s() - t0);
	}
	status = 0;
out:
	cid_store_close(s);
	return status;
}

static bool count_arg(const char *text, uint64_t *out)
{
	return cid_parse_u64(text, strlen(text), 1, 10000000, out) == CID_OK;
}

int main(int argc, char **argv)
{
	uint64_t c = CITIZENS;
	uint64_t g = 0;

	if (argc == 5 && strcmp(argv[1], "fill") == 0 && count_arg(argv[3], &c) &&
	    count_arg(argv[4], &g))
		return fill(argv[2], c, g);
	if ((argc == 3 || (argc == 4 && count_arg(argv[3], &c))) &&
	    strcmp(argv[1], "withdraw") == 0)
		return withdraw(argv[2], c);
	if (argc == 3 && (strcmp(argv[1], "unindex") == 0 || strcmp(argv[1], "reindex") == 0))
		return index_op(argv[2], strcmp(argv[1], "unindex") == 0);
	fprintf(stderr,
		"usage: grant_bench fill DIR C G | withdraw DIR [C] | unindex DIR | reindex DIR\n");
	return 2;
}
