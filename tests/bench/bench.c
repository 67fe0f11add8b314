/*
 * bench: the helpers of the benchmark programs (bench.h). The store work
 * goes through libauth's public API only, as the server's would.
 */
#include "bench.h"

#include "account.h"
#include "str.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const struct cid_argon2_params bench_cheap_argon2 = {
    .t_cost = 1, .m_cost_kib = 8, .parallelism = 1};

static double seconds_of(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double bench_now_s(void)
{
	return seconds_of(CLOCK_MONOTONIC);
}

double bench_cpu_s(void)
{
	return seconds_of(CLOCK_PROCESS_CPUTIME_ID);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a;
	double y = *(const double *)b;

	return (x > y) - (x < y);
}

struct bench_spread bench_spread(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return (struct bench_spread){
	    .median = v[n / 2], .p99 = v[n * 99 / 100], .longest = v[n - 1]};
}

bool bench_count(const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
	return cid_parse_u64(text, strlen(text), min, max, out) == CID_OK;
}

bool bench_store_open(const char *prog, const char *dir, struct cid_store **out)
{
	if (cid_store_open(dir, out) == CID_OK)
		return true;
	fprintf(stderr, "%s: cannot open the store in %s\n", prog, dir);
	return false;
}

void bench_username(char prefix, uint64_t c, char out[BENCH_USERNAME_SIZE])
{
	snprintf(out, BENCH_USERNAME_SIZE, "%c%08" PRIu64, prefix, c);
}

static int fill(const struct bench_store *b, const char *dir, int64_t start, uint64_t citizens,
		uint64_t per)
{
	struct cid_store *s = NULL;
	char id[CID_ID_CHARS + 1];
	char user[BENCH_USERNAME_SIZE];
	double t0 = bench_now_s();
	int status = 1;

	if (!bench_store_open(b->prog, dir, &s))
		goto out;
	for (uint64_t c = 0; c < citizens; c++) {
		bench_username(b->user_prefix, c, user);
		if (cid_account_add(s, &bench_cheap_argon2, user, "scale-password-1", NULL, start,
				    id) != CID_OK) {
			fprintf(stderr, "%s: adding citizen %" PRIu64 " failed\n", b->prog, c);
			goto out;
		}
		for (uint64_t k = 0; k < per; k++)
			if (b->add(s, id, c, k) != CID_OK) {
				fprintf(stderr, "%s: making the %s of citizen %" PRIu64 " failed\n",
					b->prog, b->records, c);
				goto out;
			}
	}
	printf("fill: %" PRIu64 " citizens, %" PRIu64 " %s in %.1f s, map %zu MiB\n", citizens,
	       citizens * per, b->records, bench_now_s() - t0, cid_store_map_size(s) >> 20);
	status = 0;
out:
	cid_store_close(s);
	return status;
}

static enum cid_err unindex_cb(struct cid_txn *txn, void *arg)
{
	return cid_txn_clear(txn, *(const enum cid_db *)arg);
}

static int index_op(const struct bench_store *b, const char *dir, bool drop)
{
	struct cid_store *s = NULL;
	enum cid_db db = b->index_db;
	size_t built = 0;
	double t0;
	int status = 1;

	if (!bench_store_open(b->prog, dir, &s))
		goto out;
	t0 = bench_now_s();
	if (drop) {
		if (cid_store_update(s, unindex_cb, &db) != CID_OK) {
			fprintf(stderr, "%s: deleting the index failed\n", b->prog);
			goto out;
		}
		printf("unindex: the %s index is gone\n", b->index);
	} else {
		if (b->index_ensure(s, &built) != CID_OK) {
			fprintf(stderr, "%s: building the index failed\n", b->prog);
			goto out;
		}
		printf("reindex: %zu index keys in %.3f s\n", built, bench_now_s() - t0);
	}
	status = 0;
out:
	cid_store_close(s);
	return status;
}

int bench_store_main(const struct bench_store *b, int64_t start, int argc, char **argv)
{
	uint64_t citizens = 0;
	uint64_t per = 0;

	if (argc == 5 && strcmp(argv[1], "fill") == 0 &&
	    bench_count(argv[3], 1, BENCH_MAX_COUNT, &citizens) &&
	    bench_count(argv[4], 1, BENCH_MAX_COUNT, &per))
		return fill(b, argv[2], start, citizens, per);
	if (argc == 3 && (strcmp(argv[1], "unindex") == 0 || strcmp(argv[1], "reindex") == 0))
		return index_op(b, argv[2], strcmp(argv[1], "unindex") == 0);
	return -1;
}
