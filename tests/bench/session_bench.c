/*
 * session_bench: what ending a session by its sid (logout), ending every
 * session of a citizen (a disable) and listing them (/account/security) cost
 * on a big store. Not a test: it never fails on speed.
 *   session_bench fill DIR C S  C citizens (cheap argon2 parameters: the
 *                               store's size is measured, not the login), each
 *                               with S sessions started as a login starts them
 *   session_bench end DIR       median and longest of ENDS cid_session_end_sid
 *                               calls (front/back-channel logout by sid), each
 *                               for a session of another citizen: the time the
 *                               store's one writer is held; then the same for
 *                               ending every session of ENDS citizens in one
 *                               write transaction (cid_session_end_account_txn,
 *                               what a disable runs) and for listing a
 *                               citizen's sessions (cid_session_list)
 *   session_bench unindex DIR   deletes the session index: the store as one
 *                               written before the index existed
 *   session_bench reindex DIR   builds the index of such a store as `civicid
 *                               serve` does at start (cid_session_index_ensure)
 * Put DIR on a tmpfs (/dev/shm) to fill quickly: every session is its own
 * durable transaction. Run the release build for figures worth quoting.
 */
#include "account.h"
#include "session.h"
#include "store.h"
#include "str.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define START 1800000000
#define TTL   (30 * 86400)
#define ENDS  50

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fill(const char *dir, uint64_t citizens, uint64_t per)
{
	static const char *const pwd[] = {"pwd"};
	const struct cid_argon2_params cheap = {.t_cost = 1, .m_cost_kib = 8, .parallelism = 1};
	struct cid_store *s = NULL;
	char id[CID_ID_CHARS + 1];
	char cookie[CID_TOKEN_CHARS + 1];
	char user[32];
	double t0 = now_s();
	int status = 1;

	if (cid_store_open(dir, &s) != CID_OK) {
		fprintf(stderr, "session_bench: cannot open the store in %s\n", dir);
		goto out;
	}
	for (uint64_t c = 0; c < citizens; c++) {
		snprintf(user, sizeof(user), "s%08" PRIu64, c);
		if (cid_account_add(s, &cheap, user, "scale-password-1", NULL, START, id) !=
		    CID_OK) {
			fprintf(stderr, "session_bench: adding citizen %" PRIu64 " failed\n", c);
			goto out;
		}
		for (uint64_t k = 0; k < per; k++)
			if (cid_session_start(s, id, CID_ACR_PASSWORD, pwd, 1, START + (int64_t)k,
					      TTL, "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
					      cookie, NULL) != CID_OK) {
				fprintf(stderr, "session_bench: a session failed\n");
				goto out;
			}
	}
	printf("fill: %" PRIu64 " citizens, %" PRIu64 " sessions in %.1f s, map %zu MiB\n",
	       citizens, citizens * per, now_s() - t0, cid_store_map_size(s) >> 20);
	status = 0;
out:
	cid_store_close(s);
	return status;
}

/* ENDS sessions of as many citizens, picked by a walk of the sessions before any clock runs. */
struct pick {
	uint64_t seen;
	size_t n;
	char sid[ENDS][CID_TOKEN_CHARS + 1];
	char account[ENDS][CID_ID_CHARS + 1];
};

static enum cid_err pick_one(struct cid_str key, struct cid_str val, void *arg)
{
	struct pick *p = arg;
	json_t *rec = NULL;
	const char *sid;
	const char *account;

	(void)key;
	/* every 997th session: spread over the store, each of another citizen */
	if (p->n == ENDS || p->seen++ % 997 != 0 || cid_store_parse_json(val, &rec) != CID_OK)
		return CID_OK;
	sid = cid_json_str(rec, "sid");
	account = cid_json_str(rec, "account_id");
	if (sid != NULL && account != NULL && strlen(sid) == CID_TOKEN_CHARS &&
	    strlen(account) == CID_ID_CHARS) {
		memcpy(p->sid[p->n], sid, CID_TOKEN_CHARS + 1);
		memcpy(p->account[p->n], account, CID_ID_CHARS + 1);
		p->n++;
	}
	json_decref(rec);
	return CID_OK;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a;
	double y = *(const double *)b;

	return (x > y) - (x < y);
}

static void report(const char *what, double took[ENDS], size_t n)
{
	qsort(took, n, sizeof(took[0]), cmp_double);
	printf("%s: %zu calls: median %.3f ms, longest %.3f ms\n", what, n, took[n / 2] * 1e3,
	       took[n - 1] * 1e3);
}

static enum cid_err told(const struct cid_session *sess, const json_t *clients, void *arg)
{
	(void)sess;
	(void)clients;
	(void)arg;
	return CID_OK;
}

struct end_account {
	const char *account_id;
	size_t ended;
};

static enum cid_err end_account_cb(struct cid_txn *txn, void *arg)
{
	struct end_account *e = arg;

	return cid_session_end_account_txn(txn, e->account_id, told, NULL, &e->ended);
}

static int end(const char *dir)
{
	struct cid_store *s = NULL;
	struct cid_txn *txn = NULL;
	struct pick *p = calloc(1, sizeof(*p));
	struct cid_session_entry *list = NULL;
	double took[ENDS];
	size_t listed = 0;
	size_t ended = 0;
	size_t n;
	double t0;
	int status = 1;

	if (p == NULL || cid_store_open(dir, &s) != CID_OK) {
		fprintf(stderr, "session_bench: cannot open the store in %s\n", dir);
		goto out;
	}
	if (cid_store_read_begin(s, &txn) != CID_OK ||
	    cid_txn_foreach(txn, CID_DB_SESSIONS, cid_str_of(""), pick_one, p) != CID_OK ||
	    p->n < 2) {
		fprintf(stderr, "session_bench: too few sessions (fill first)\n");
		goto out;
	}
	cid_store_read_end(txn);
	txn = NULL;
	/* the even picks are listed, then their citizens' sessions all ended; the odd ones
	 * ended by sid */
	for (size_t i = 0; i < p->n; i += 2) {
		t0 = now_s();
		if (cid_session_list(s, p->account[i], START + 1, &list, &n) != CID_OK) {
			fprintf(stderr, "session_bench: listing failed\n");
			goto out;
		}
		took[i / 2] = now_s() - t0;
		listed += n;
		cid_session_list_free(list, n);
		list = NULL;
	}
	report("list", took, (p->n + 1) / 2);
	for (size_t i = 1; i < p->n; i += 2) {
		t0 = now_s();
		if (cid_session_end_sid(s, p->sid[i]) != CID_OK) {
			fprintf(stderr, "session_bench: ending by sid failed\n");
			goto out;
		}
		took[i / 2] = now_s() - t0;
	}
	report("end by sid", took, p->n / 2);
	for (size_t i = 0; i < p->n; i += 2) {
		struct end_account e = {p->account[i], 0};

		t0 = now_s();
		if (cid_store_update(s, end_account_cb, &e) != CID_OK) {
			fprintf(stderr, "session_bench: ending a citizen's sessions failed\n");
			goto out;
		}
		took[i / 2] = now_s() - t0;
		ended += e.ended;
	}
	report("end a citizen's", took, (p->n + 1) / 2);
	printf("(%zu sessions listed, %zu ended with their citizens)\n", listed, ended);
	status = 0;
out:
	cid_store_read_end(txn);
	cid_store_close(s);
	free(p);
	return status;
}

static enum cid_err unindex_cb(struct cid_txn *txn, void *arg)
{
	(void)arg;
	return cid_txn_clear(txn, CID_DB_SESSION_INDEX);
}

static int index_op(const char *dir, bool drop)
{
	struct cid_store *s = NULL;
	size_t built = 0;
	double t0;
	int status = 1;

	if (cid_store_open(dir, &s) != CID_OK) {
		fprintf(stderr, "session_bench: cannot open the store in %s\n", dir);
		goto out;
	}
	t0 = now_s();
	if (drop) {
		if (cid_store_update(s, unindex_cb, NULL) != CID_OK) {
			fprintf(stderr, "session_bench: deleting the index failed\n");
			goto out;
		}
		printf("unindex: the session index is gone\n");
	} else {
		if (cid_session_index_ensure(s, &built) != CID_OK) {
			fprintf(stderr, "session_bench: building the index failed\n");
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
	uint64_t c = 0;
	uint64_t k = 0;

	if (argc == 5 && strcmp(argv[1], "fill") == 0 && count_arg(argv[3], &c) &&
	    count_arg(argv[4], &k))
		return fill(argv[2], c, k);
	if (argc == 3 && strcmp(argv[1], "end") == 0)
		return end(argv[2]);
	if (argc == 3 && (strcmp(argv[1], "unindex") == 0 || strcmp(argv[1], "reindex") == 0))
		return index_op(argv[2], strcmp(argv[1], "unindex") == 0);
	fprintf(stderr,
		"usage: session_bench fill DIR C S | end DIR | unindex DIR | reindex DIR\n");
	return 2;
}
