/*
 * bench: what the benchmark programs of tests/bench share, so that each
 * times, summarises and reads its arguments the same way: the clock, the
 * order statistics they print, their number arguments, and the store work
 * of a benchmark on a big store (fill it with citizens and their records,
 * delete an index and build it again as `civicid serve` does at start).
 * Programs, not tests: nothing here fails on speed. Single-threaded except
 * the clocks, which any thread may read.
 */
#ifndef CID_BENCH_H
#define CID_BENCH_H

#include "crypto.h"
#include "err.h"
#include "store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Seconds of CLOCK_MONOTONIC: differences of two are elapsed times. */
double bench_now_s(void);

/* Seconds of CPU the process has used, all its threads together (CLOCK_PROCESS_CPUTIME_ID). */
double bench_cpu_s(void);

/* The order statistics of a run's samples that the benchmarks print. */
struct bench_spread {
	double median;	/* the sample at n / 2 */
	double p99;	/* the sample at n * 99 / 100 */
	double longest; /* the largest */
};

/* Sorts v[0..n) (n > 0) in place, ascending, and returns its spread. */
struct bench_spread bench_spread(double *v, size_t n);

/*
 * Reads text, a decimal in min..max, into *out. Returns false (and leaves
 * *out alone) for anything else: no sign, space or suffix.
 */
bool bench_count(const char *text, uint64_t min, uint64_t max, uint64_t *out);

/* Cheap argon2id parameters: a filled store's size is measured, not its logins. */
extern const struct cid_argon2_params bench_cheap_argon2;

/*
 * Opens the store in dir into *out; on failure says so on stderr as
 * "PROG: cannot open the store in DIR" and returns false.
 */
bool bench_store_open(const char *prog, const char *dir, struct cid_store **out);

/* The size of a citizen's username made by bench_username, NUL included. */
#define BENCH_USERNAME_SIZE 32

/* The username of the c-th citizen a benchmark makes: prefix and c in 8 digits. */
void bench_username(char prefix, uint64_t c, char out[BENCH_USERNAME_SIZE]);

/* A benchmark whose store holds citizens, each with records behind one index. */
struct bench_store {
	const char *prog;    /* the program's name, which starts its messages */
	char user_prefix;    /* the first letter of its citizens' usernames */
	const char *records; /* what it makes per citizen, plural: "grants" */
	/* makes the k-th record (from 0) of citizen c, whose account is account_id */
	enum cid_err (*add)(struct cid_store *s, const char *account_id, uint64_t c, uint64_t k);
	const char *index; /* the name of the index over the records: "grant" */
	enum cid_db index_db;
	/* builds that index where the store lacks it, as `civicid serve` does at start */
	enum cid_err (*index_ensure)(struct cid_store *s, size_t *built);
};

/* The most citizens, and records of each, that `PROG fill` takes. */
#define BENCH_MAX_COUNT 10000000

/*
 * Runs the command line of b's program if it is one of these, and returns
 * its exit status:
 *   PROG fill DIR C R  adds citizens 0..C-1 to the store in dir (usernames of
 *                      b->user_prefix, bench_cheap_argon2, made at start) with
 *                      R records each made by b->add, every one its own
 *                      durable transaction (C and R in 1..BENCH_MAX_COUNT);
 *                      prints "fill: C citizens, C*R RECORDS in S s, map M MiB"
 *   PROG unindex DIR   deletes b's index: the store as one written before
 *                      the index existed
 *   PROG reindex DIR   builds it again as `civicid serve` does at start, and
 *                      prints how many keys it wrote and how long the one-off
 *                      migration held the store's writer
 * Returns -1, having done nothing, for any other command line.
 */
int bench_store_main(const struct bench_store *b, int64_t start, int argc, char **argv);

#endif
