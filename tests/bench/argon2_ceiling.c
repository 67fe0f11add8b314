/*
 * argon2_ceiling: how many password checks the machine can do at most, the
 * ceiling the benchmark's full-login rate is measured against (run.sh). Each
 * of THREADS threads computes argon2id hashes with the server's default cost
 * (bounds.h: m = 19 MiB, t = 2, p = 1; a login's password check computes one)
 * back to back for SECONDS; the sum over the threads is divided by the time
 * the slowest thread took. A benchmark, not a test: it never fails on speed.
 * Usage: argon2_ceiling THREADS SECONDS
 * Prints: argon2id m_kib=19456 t=2 p=1 threads=2 hashes=N seconds=S rate=R
 */
#include <argon2.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "bounds.h"

#define MAX_THREADS 64

struct worker {
	pthread_t thread;
	double until;	 /* CLOCK_MONOTONIC seconds at which to stop */
	uint64_t hashes; /* written by the thread */
	double finished; /* CLOCK_MONOTONIC seconds of its last hash's end */
	int error;	 /* argon2's error code, 0 if none */
};

static void *work(void *arg)
{
	struct worker *w = arg;
	static const char password[] = "bench-password-1";
	static const unsigned char salt[16] = "civicid-bench-sa";
	unsigned char hash[32];

	do {
		int r =
		    argon2id_hash_raw(CID_ARGON2_T, CID_ARGON2_M_KIB, CID_ARGON2_P, password,
				      sizeof(password) - 1, salt, sizeof(salt), hash, sizeof(hash));

		if (r != ARGON2_OK) {
			w->error = r;
			break;
		}
		w->hashes++;
		w->finished = bench_now_s();
	} while (w->finished < w->until);
	return NULL;
}

int main(int argc, char **argv)
{
	struct worker workers[MAX_THREADS];
	uint64_t threads = 0, seconds = 0, hashes = 0;
	double start, end = 0;
	int rc = 0;

	if (argc != 3 || !bench_count(argv[1], 1, MAX_THREADS, &threads) ||
	    !bench_count(argv[2], 1, 3600, &seconds)) {
		fprintf(stderr, "usage: argon2_ceiling THREADS SECONDS (1-%d threads, 1-3600 s)\n",
			MAX_THREADS);
		return 2;
	}
	memset(workers, 0, sizeof(workers));
	start = bench_now_s();
	for (uint64_t i = 0; i < threads; i++) {
		workers[i].until = start + (double)seconds;
		if (pthread_create(&workers[i].thread, NULL, work, &workers[i]) != 0) {
			fprintf(stderr, "argon2_ceiling: cannot start thread %llu\n",
				(unsigned long long)i);
			return 1;
		}
	}
	for (uint64_t i = 0; i < threads; i++) {
		pthread_join(workers[i].thread, NULL);
		if (workers[i].error != 0) {
			fprintf(stderr, "argon2_ceiling: %s\n",
				argon2_error_message(workers[i].error));
			rc = 1;
		}
		hashes += workers[i].hashes;
		if (workers[i].finished > end)
			end = workers[i].finished;
	}
	if (rc != 0 || hashes == 0)
		return 1;
	printf("argon2id m_kib=%d t=%d p=%d threads=%llu hashes=%llu seconds=%.2f rate=%.1f\n",
	       CID_ARGON2_M_KIB, CID_ARGON2_T, CID_ARGON2_P, (unsigned long long)threads,
	       (unsigned long long)hashes, end - start, (double)hashes / (end - start));
	return 0;
}
