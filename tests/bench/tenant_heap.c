/*
 * tenant_heap: what an opened tenant costs in memory (issue 14: at most
 * 64 KiB beyond its data). Makes N tenants t0001... in DIR/store, their
 * policies in DIR/policies (tests/bench/tenants.sh's layout; a tenant there
 * already is reused), opens each through the map a server uses (cid_tenants_get)
 * and closes the map, so that the first open's work (the signing keys, the
 * store's files) is done; then, in a map of its own, opens them again and
 * prints what the process gained per opened tenant:
 *   heap      the allocator's bytes in use (mallinfo2: arena and mmapped)
 *   anon      resident anonymous memory (RssAnon: the heap's touched pages)
 *   file      resident file pages (RssFile: the stores' maps, their data)
 *   shmem     resident shared memory (RssShmem: the stores' lock files, when
 *             on a tmpfs)
 * and the time of a map lookup of one tenant with all N open.
 * With --max-kib K it is also a check (ctest bench/tenant_heap, only in a
 * build without sanitizers, whose allocator is not glibc's: tests/run-all.sh
 * runs it on its dev build, natively, after valgrind): it fails when an
 * opened tenant adds more than K KiB of anonymous memory (the heap counts
 * LMDB's write buffers, 3 MiB an environment, mostly never touched: the
 * resident figure is the one that holds).
 * Usage: tenant_heap [--max-kib K] DIR [N]   (default 1741)
 */
#include "bench.h"
#include "config.h"
#include "tenant.h"

#include <inttypes.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOW 1800000000

struct mem {
	size_t heap;
	long anon, file, shmem; /* KiB */
};

static long status_kib(const char *key)
{
	char line[256];
	long v = -1;
	size_t n = strlen(key);
	FILE *f = fopen("/proc/self/status", "re");

	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, n) == 0 && line[n] == ':')
			v = strtol(line + n + 1, NULL, 10);
	if (f != NULL)
		fclose(f);
	return v;
}

static struct mem measure(void)
{
	struct mallinfo2 mi = mallinfo2();

	return (struct mem){.heap = mi.uordblks + mi.hblkhd,
			    .anon = status_kib("RssAnon"),
			    .file = status_kib("RssFile"),
			    .shmem = status_kib("RssShmem")};
}

static void name_of(unsigned i, char out[16])
{
	snprintf(out, 16, "t%04u", i);
}

/* Opens tenants 1..n in t; exits on an error. */
static void open_all(struct cid_tenants *t, unsigned n)
{
	for (unsigned i = 1; i <= n; i++) {
		char name[16];
		struct cid_ctx *ctx;
		enum cid_err rc;

		name_of(i, name);
		rc = cid_tenants_get(t, name, strlen(name), NOW, &ctx);
		if (rc != CID_OK) {
			fprintf(stderr, "tenant_heap: tenant %s: %s\n", name, cid_strerror(rc));
			exit(1);
		}
	}
}

int main(int argc, char **argv)
{
	struct cid_config *base = NULL;
	struct cid_tenants *t = NULL;
	uint64_t max_kib = 0; /* 0: no check */
	uint64_t tenants = 1741;
	bool bad_max = false;
	unsigned n;
	char path[4096];
	char err[512] = "";
	struct mem m0, m1;
	double t0, t1;
	const unsigned lookups = 1000000;
	pid_t child;
	int status = 0;

	if (argc > 1 && strcmp(argv[1], "--max-kib") == 0) {
		bad_max = argc < 3 || !bench_count(argv[2], 1, 1 << 20, &max_kib);
		argc -= 2;
		argv += 2;
	}
	if (bad_max || argc < 2 || argc > 3 ||
	    (argc == 3 && !bench_count(argv[2], 1, 9999, &tenants))) {
		fprintf(stderr,
			"usage: tenant_heap [--max-kib K] DIR [N]   (K 1..1048576, N 1..9999)\n");
		return 2;
	}
	n = (unsigned)tenants;
	(void)mkdir(argv[1], 0700);
	snprintf(path, sizeof(path), "%s/store", argv[1]);
	(void)mkdir(path, 0700);
	if (cid_config_new(&base) != CID_OK ||
	    cid_config_set(base, "store", path, err, sizeof(err)) != CID_OK) {
		fprintf(stderr, "tenant_heap: %s\n", err);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/policies", argv[1]);
	(void)mkdir(path, 0700);
	if (cid_config_set(base, "policies", path, err, sizeof(err)) != CID_OK) {
		fprintf(stderr, "tenant_heap: %s\n", err);
		return 1;
	}
	for (unsigned i = 1; i <= n; i++) {
		char name[16];
		enum cid_err rc;

		name_of(i, name);
		snprintf(path, sizeof(path), "%s/policies/%s", argv[1], name);
		(void)mkdir(path, 0700);
		rc = cid_tenant_add(base, name, NULL, NULL, 0, err, sizeof(err));
		if (rc != CID_OK && rc != CID_ERR_EXISTS) {
			fprintf(stderr, "tenant_heap: add %s: %s\n", name, err);
			return 1;
		}
	}
	/* the first open makes each tenant's keys and store: in a child, so that
	 * this process's heap holds nothing of it */
	child = fork();
	if (child == 0) {
		if (cid_tenants_new(base, NULL, &t) != CID_OK)
			_exit(1);
		open_all(t, n);
		cid_tenants_close(t);
		_exit(0);
	}
	if (child < 0 || waitpid(child, &status, 0) != child || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		return 1;

	if (cid_tenants_new(base, NULL, &t) != CID_OK)
		return 1;
	m0 = measure();
	t0 = bench_now_s();
	open_all(t, n);
	t1 = bench_now_s();
	m1 = measure();
	// NOLINTBEGIN(clang-analyzer-core.DivideZero): bench_count gave n in 1..9999
	printf("heap: %u tenants opened in one process in %.2f s; per opened tenant: anon %ld KiB "
	       "(the heap's resident pages), mapped %ld KiB (its store's pages and lock file), "
	       "%zu KiB allocated (LMDB's write buffers, 3 MiB an environment, are mostly never "
	       "touched)\n",
	       n, t1 - t0, (m1.anon - m0.anon) / (long)n,
	       (m1.file + m1.shmem - m0.file - m0.shmem) / (long)n, (m1.heap - m0.heap) / n / 1024);
	// NOLINTEND(clang-analyzer-core.DivideZero)
	t0 = bench_now_s();
	for (unsigned i = 0; i < lookups; i++) {
		struct cid_ctx *ctx;

		if (cid_tenants_get(t, "t0001", 5, NOW, &ctx) != CID_OK)
			return 1;
	}
	t1 = bench_now_s();
	printf("heap: a map lookup of one tenant with %u open: %.0f ns\n", n,
	       (t1 - t0) / lookups * 1e9);
	cid_tenants_close(t);
	/* after the measures: the scan's freed environments would raise glibc's mmap
	 * threshold, and the opens after it would touch reused heap pages */
	if (cid_tenants_new(base, NULL, &t) != CID_OK)
		return 1;
	/* the logout worker's scan (every CID_LOGOUT_TENANT_SCAN s) with no tenant open */
	for (int pass = 0; pass < 3; pass++) {
		size_t opened = 0;
		double c0 = bench_cpu_s();

		t0 = bench_now_s();
		if (cid_tenants_open_due(t, NOW, &opened) != CID_OK || opened != 0) {
			fprintf(stderr, "tenant_heap: the scan for due notices failed\n");
			return 1;
		}
		t1 = bench_now_s();
		printf("heap: a scan for due logout notices over %u tenants not open: %.1f ms, "
		       "%.1f ms of CPU\n",
		       n, (t1 - t0) * 1e3, (bench_cpu_s() - c0) * 1e3);
	}
	cid_tenants_close(t);
	cid_config_free(base);
	if (max_kib > 0 && (m1.anon - m0.anon) / (long)n > (long)max_kib) {
		fprintf(stderr, "tenant_heap: an opened tenant holds %ld KiB, above %" PRIu64 "\n",
			(m1.anon - m0.anon) / (long)n, max_kib);
		return 1;
	}
	return 0;
}
