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
#include "bench.h"
#include "session.h"
#include "store.h"
#include "str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define START 1800000000
#define TTL   ((int64_t)30 * 86400)
#define ENDS  50

/* The k-th session of account id, as a login starts it. */
static enum cid_err session_of(struct cid_store *s, const char *id, uint64_t c, uint64_t k)
{
	static const char *const pwd[] = {"pwd"};
	char cookie[CID_TOKEN_CHARS + 1];

	(void)c;
	return cid_session_start(s, id, CID_ACR_PASSWORD, pwd, 1, START + (int64_t)k, TTL,
				 "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0", cookie, NULL);
}

static const struct bench_store sessions = {
    .prog = "session_bench",
    .user_prefix = 's',
    .records = "sessions",
    .add = session_of,
    .index = "session",
    .index_db = CID_DB_SESSION_INDEX,
    .index_ensure = cid_session_index_ensure,
};

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

static void report(const char *what, double took[ENDS], size_t n)
{
	struct bench_spread spread = bench_spread(took, n);

	printf("%s: %zu calls: median %.3f ms, longest %.3f ms\n", what, n, spread.median * 1e3,
	       spread.longest * 1e3);
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

	return cid_session_end_account_txn(txn, e->account_id, NULL, told, NULL, &e->ended);
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

	if (p == NULL || !bench_store_open(sessions.prog, dir, &s))
		goto out;
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
		t0 = bench_now_s();
		if (cid_session_list(s, p->account[i], START + 1, &list, &n) != CID_OK) {
			fprintf(stderr, "session_bench: listing failed\n");
			goto out;
		}
		took[i / 2] = bench_now_s() - t0;
		listed += n;
		cid_session_list_free(list, n);
		list = NULL;
	}
	report("list", took, (p->n + 1) / 2);
	for (size_t i = 1; i < p->n; i += 2) {
		t0 = bench_now_s();
		if (cid_session_end_sid(s, p->sid[i]) != CID_OK) {
			fprintf(stderr, "session_bench: ending by sid failed\n");
			goto out;
		}
		took[i / 2] = bench_now_s() - t0;
	}
	report("end by sid", took, p->n / 2);
	for (size_t i = 0; i < p->n; i += 2) {
		struct end_account e = {p->account[i], 0};

		t0 = bench_now_s();
		if (cid_store_update(s, end_account_cb, &e) != CID_OK) {
			fprintf(stderr, "session_bench: ending a citizen's sessions failed\n");
			goto out;
		}
		took[i / 2] = bench_now_s() - t0;
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

int main(int argc, char **argv)
{
	int status = bench_store_main(&sessions, START, argc, argv);

	if (status >= 0)
		return status;
	if (argc == 3 && strcmp(argv[1], "end") == 0)
		return end(argv[2]);
	fprintf(stderr,
		"usage: session_bench fill DIR C S | end DIR | unindex DIR | reindex DIR\n");
	return 2;
}
