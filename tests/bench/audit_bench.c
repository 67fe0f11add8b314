/*
 * audit_bench: how the audit log scales. Not a test: it never fails on speed.
 *   audit_bench populate DIR C R
 *                             C citizens (cheap argon2 parameters: the store's
 *                             size, not the login, is measured) and R consent
 *                             records, CONSENT_CHANGES per durable transaction
 *   audit_bench fill DIR N [C] N realistic release entries (C citizens, default
 *                             CITIZENS, ten services), in transactions of
 *                             FILL_BATCH entries, a checkpoint every
 *                             CHECKPOINT_EVERY
 *   audit_bench retention DIR N  N scopes of the pseudonym mapping (one service,
 *                             nothing due; 0: the store as it is, e.g. one
 *                             populate made), then the CPU time of one whole pass
 *                             of cid_retention_sweep and of one step
 *                             (cid_retention_sweep_step, CID_RETENTION_STEP_KEYS)
 *   audit_bench verify DIR    entries/s of cid_audit_verify_store, by the clock
 *                             and by the CPU time it took (the cores may be shared)
 *   audit_bench untree DIR    deletes the Merkle tree and its frontier: the store
 *                             as one written before the tree existed
 *   audit_bench catch-up DIR  builds the tree of such a store as `civicid serve`
 *                             does (batches of CID_AUDIT_CATCH_UP entries, each its
 *                             own write transaction): the total and the longest
 *                             batch, which is how long an append may wait
 *   audit_bench query DIR [C] median and p99 latency of QUERIES citizen-slice
 *                             queries (limit 50) twice, in a fresh process and
 *                             then of other citizens, service + time-range
 *                             queries (limit 100), and a service's whole day
 *                             (no limit)
 *   audit_bench group DIR T S T threads each appending one release entry at a
 *                             time, as request threads do, for S seconds with
 *                             group commit: appends/s and the group-commit
 *                             counters (struct cid_audit_stats), the HTTP
 *                             server's cost taken away
 *   audit_bench group DIR T S one  the same with the entries of the userinfo
 *                             benchmark: one citizen, one service, times and
 *                             release ids in the order of the appends, after
 *                             any entry fill wrote
 * Run the release build for figures worth quoting.
 */
#include "account.h"
#include "audit.h"
#include "bench.h"
#include "consent.h"
#include "jose.h"
#include "policy.h"
#include "pseudonym.h"
#include "retention.h"
#include "store.h"
#include "str.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define START		 1800000000 /* the first entry's time */
#define SPACING		 3	    /* seconds between entries */
#define SERVICES	 10
#define CITIZENS	 100000
#define FILL_BATCH	 20000
#define CHECKPOINT_EVERY 100000
#define QUERIES		 200
#define CONSENT_CHANGES	 4 /* consent records per transaction: one decision of a citizen */
#define ISS		 "https://id.city.example"

static const char *const services[SERVICES] = {
    "childcare", "library",   "parking",   "waste",	  "housing",
    "tax",	 "elections", "transport", "sports-club", "health-check",
};

static const char *const attributes[] = {
    "family_name", "given_name",   "family_name#ja-Kana-JP", "birthdate", "address",
    "email",	   "phone_number", "resident_status",	     "household", "tax_class",
};

/* A small deterministic PRNG (xorshift64*): the same store for every run. */
static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

static void citizen_id(uint64_t n, char out[37])
{
	snprintf(out, 37, "0a1b2c3d-%04" PRIx64 "-4000-8000-%012" PRIx64, (n >> 48) & 0xffff,
		 n & (uint64_t)0xffffffffffff);
}

static json_t *release_entry(uint64_t i, uint64_t *rng, uint64_t citizens)
{
	char citizen[37];
	char time[21];
	char req[40];
	uint64_t r = next_rand(rng);
	const char *service = services[r % SERVICES];
	bool permit = (r >> 8) % 10 != 0;
	size_t a = (size_t)((r >> 16) % 8);
	json_t *e;

	citizen_id((r >> 24) % citizens, citizen);
	if (cid_audit_time(START + (int64_t)i * SPACING, time) != CID_OK)
		return NULL;
	snprintf(req, sizeof(req), "req-%016" PRIx64, r);
	e = json_pack(
	    "{s:s, s:s, s:s, s:s, s:s, s:s, s:[s,s], s:s, s:s, s:s, s:s, s:s, s:s, "
	    "s:i, s:[s]}",
	    "time", time, "type", permit ? "release.permit" : "release.deny", "actor", "service",
	    "citizen", citizen, "service", service, "purpose", "eligibility", "attributes",
	    attributes[a], attributes[a + 2], "decision", permit ? "permit" : "deny", "reason",
	    permit ? "permit_consent" : "no_consent", "basis", "consent", "rule", "city.policy:42",
	    "policy_version", "3f1c0e6a9d2b4c5e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e",
	    "request_id", req, "level", 1 + (int)(r >> 40) % 2, "consent_records",
	    "c0ffee00-0000-4000-8000-000000000001");
	if (e != NULL)
		json_object_set_new(e, "endpoint",
				    json_string((r >> 41) % 2 ? "userinfo" : "id_token"));
	return e;
}

static int fill(const char *dir, uint64_t n, uint64_t citizens)
{
	struct cid_store *s = NULL;
	struct cid_keyset *ks = NULL;
	struct cid_audit *log = NULL;
	// NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers
	json_t **batch = calloc(FILL_BATCH, sizeof(*batch));
	uint64_t rng = 0x9e3779b97f4a7c15ULL;
	uint64_t done = 0;
	double t0 = bench_now_s();
	int status = 1;

	if (batch == NULL || cid_store_open(dir, &s) != CID_OK ||
	    cid_keys_ensure(s, START) != CID_OK || cid_keyset_load(s, START, &ks) != CID_OK ||
	    cid_audit_issuer_record(s, ISS, NULL) != CID_OK ||
	    cid_audit_key_ensure(s, START) != CID_OK || cid_audit_open(s, false, &log) != CID_OK) {
		fprintf(stderr, "audit_bench: cannot open the store in %s\n", dir);
		goto out;
	}
	while (done < n) {
		size_t k = n - done < FILL_BATCH ? (size_t)(n - done) : FILL_BATCH;

		for (size_t i = 0; i < k; i++)
			if ((batch[i] = release_entry(done + i, &rng, citizens)) == NULL)
				goto out;
		if (cid_audit_append(log, batch, k, NULL) != CID_OK) {
			fprintf(stderr, "audit_bench: append failed\n");
			goto out;
		}
		for (size_t i = 0; i < k; i++) {
			json_decref(batch[i]);
			batch[i] = NULL;
		}
		done += k;
		if (done % CHECKPOINT_EVERY == 0 || done == n)
			if (cid_audit_checkpoint(s, START + (int64_t)done * SPACING, NULL) !=
			    CID_OK) {
				fprintf(stderr, "audit_bench: checkpoint failed\n");
				goto out;
			}
	}
	printf("fill: %" PRIu64 " entries in %.1f s (%.0f entries/s), map %zu MiB\n", n,
	       bench_now_s() - t0, (double)n / (bench_now_s() - t0), cid_store_map_size(s) >> 20);
	status = 0;
out:
	for (size_t i = 0; batch != NULL && i < FILL_BATCH; i++)
		json_decref(batch[i]);
	free(batch);
	cid_audit_close(log);
	cid_keyset_free(ks);
	cid_store_close(s);
	return status;
}

/* Consent records of citizen c: one decision on CONSENT_CHANGES attributes. */
static enum cid_err consent_of(struct cid_store *s, const char *id, uint64_t c, size_t n)
{
	static const char *const granted[] = {"email",	   "given_name", "family_name",
					      "birthdate", "address",	 "phone_number"};
	struct cid_consent_change ch[CONSENT_CHANGES];
	struct cid_consent_context ctx = {
	    .account_id = id,
	    .service = services[c % SERVICES],
	    .purpose = "eligibility",
	    .policy_version = "3f1c0e6a9d2b4c5e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e",
	    .purpose_digest = "9d2b4c5e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e3f1c0e6a",
	    .method = CID_CONSENT_METHOD_SCREEN,
	    .now = START};

	for (size_t i = 0; i < n; i++)
		ch[i] = (struct cid_consent_change){.attribute = granted[(c + i) % 6],
						    .state = CID_CONSENT_GRANTED};
	return cid_consent_record(s, &ctx, ch, n, NULL);
}

static int populate(const char *dir, uint64_t citizens, uint64_t records)
{
	struct cid_store *s = NULL;
	char(*ids)[CID_ID_CHARS + 1] = calloc(citizens, sizeof(*ids));
	double t0 = bench_now_s();
	uint64_t done = 0;
	int status = 1;

	if (ids == NULL || !bench_store_open("audit_bench", dir, &s))
		goto out;
	for (uint64_t c = 0; c < citizens; c++) {
		char user[BENCH_USERNAME_SIZE];
		json_t *claims =
		    json_pack("{s:s, s:s}", "given_name", "Hanako", "family_name", "Yamada");

		bench_username('c', c, user);
		if (claims == NULL ||
		    cid_account_add(s, &bench_cheap_argon2, user, "scale-password-1", claims, START,
				    ids[c]) != CID_OK) {
			json_decref(claims);
			fprintf(stderr, "audit_bench: adding citizen %" PRIu64 " failed\n", c);
			goto out;
		}
		json_decref(claims);
	}
	printf("populate: %" PRIu64 " citizens in %.1f s\n", citizens, bench_now_s() - t0);
	t0 = bench_now_s();
	for (uint64_t c = 0; done < records && citizens > 0; c++) {
		size_t n =
		    records - done < CONSENT_CHANGES ? (size_t)(records - done) : CONSENT_CHANGES;

		if (consent_of(s, ids[c % citizens], c, n) != CID_OK) {
			fprintf(stderr, "audit_bench: recording consent failed\n");
			goto out;
		}
		done += n;
	}
	printf("populate: %" PRIu64 " consent records in %.1f s\n", done, bench_now_s() - t0);
	status = 0;
out:
	free(ids);
	cid_store_close(s);
	return status;
}

/* Makes pseudonyms for citizens [*next, end): one write transaction of them. */
struct scopes {
	uint64_t next, end;
};

static enum cid_err scopes_cb(struct cid_txn *txn, void *arg)
{
	struct scopes *sc = arg;
	char id[37];
	char p[CID_PSEUDONYM_CHARS + 1];
	enum cid_err rc = CID_OK;

	for (uint64_t c = sc->next; c < sc->end && rc == CID_OK; c++) {
		citizen_id(c, id);
		rc = cid_pseudonym_get_or_make(txn, id, "childcare", "eligibility", p);
	}
	return rc;
}

/* Policies for the ten services, purpose eligibility, written to dir/policies and loaded. */
static bool retention_policies(const char *dir, struct cid_policyset **ps)
{
	char path[4096];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/policies", dir);
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return false;
	for (size_t i = 0; i < SERVICES; i++) {
		snprintf(path, sizeof(path), "%s/policies/%s.policy", dir, services[i]);
		fp = fopen(path, "w");
		if (fp == NULL)
			return false;
		fprintf(fp,
			"service %s\nname.ja %s\nname.en %s\npurpose eligibility\n"
			"\ttext.ja 資格を確認するため\n\ttext.en To check your eligibility\n"
			"\tbasis consent\n\tretention 1825d\n\tconsent_valid 1y\n"
			"\tpermit email\n",
			services[i], services[i], services[i]);
		if (fclose(fp) != 0)
			return false;
	}
	snprintf(path, sizeof(path), "%s/policies", dir);
	return cid_policyset_load_dir(path, stderr, ps) == CID_OK;
}

static int retention(const char *dir, uint64_t n)
{
	struct cid_policyset *ps = NULL;
	struct cid_store *s = NULL;
	struct cid_retention_sweep done;
	double t0 = bench_now_s();
	int status = 1;

	if (!bench_store_open("audit_bench", dir, &s) || !retention_policies(dir, &ps))
		goto out;
	for (uint64_t c = 0; c < n; c += FILL_BATCH) {
		struct scopes sc = {c, c + FILL_BATCH < n ? c + FILL_BATCH : n};

		if (cid_store_update(s, scopes_cb, &sc) != CID_OK) {
			fprintf(stderr, "audit_bench: making pseudonyms failed\n");
			goto out;
		}
	}
	printf("retention: %" PRIu64 " scopes made in %.1f s\n", n, bench_now_s() - t0);
	t0 = bench_cpu_s();
	if (cid_retention_sweep(s, ps, START, 256, &done) != CID_OK)
		goto out;
	printf("retention: a whole pass read %zu scopes in %.3f s CPU (%zu purged)\n", done.visited,
	       bench_cpu_s() - t0, done.purged);
	t0 = bench_cpu_s();
	if (cid_retention_sweep_step(s, ps, START, 256, CID_RETENTION_STEP_KEYS, &done) != CID_OK)
		goto out;
	printf("retention: a step read %zu scopes in %.3f s CPU (%zu purged)\n", done.visited,
	       bench_cpu_s() - t0, done.purged);
	status = 0;
out:
	cid_policyset_free(ps);
	cid_store_close(s);
	return status;
}

static int verify(const char *dir)
{
	struct cid_store *s = NULL;
	struct cid_keyset *ks = NULL;
	struct cid_audit_report rep;
	double t0;
	double c0;
	double dt;
	double cpu;
	int status = 1;

	if (cid_store_open(dir, &s) != CID_OK || cid_keyset_load_all(s, &ks) != CID_OK) {
		fprintf(stderr, "audit_bench: cannot open the store in %s\n", dir);
		goto out;
	}
	t0 = bench_now_s();
	c0 = bench_cpu_s();
	if (cid_audit_verify_store(s, ks, NULL, &rep) != CID_OK) {
		fprintf(stderr, "audit_bench: verification failed to run\n");
		goto out;
	}
	dt = bench_now_s() - t0;
	cpu = bench_cpu_s() - c0;
	printf("verify: %s, %" PRIu64 " entries, %" PRIu64 " checkpoints in %.2f s: %.0f "
	       "entries/s (%.2f s of CPU: %.0f entries per CPU second)\n",
	       rep.ok ? "ok" : rep.reason, rep.entries, rep.checkpoints, dt,
	       (double)rep.entries / dt, cpu, (double)rep.entries / cpu);
	status = rep.ok ? 0 : 1;
out:
	cid_keyset_free(ks);
	cid_store_close(s);
	return status;
}

/* Deletes the tree and its frontier (one transaction: LMDB frees the pages whole). */
static enum cid_err untree_cb(struct cid_txn *txn, void *arg)
{
	enum cid_err rc = cid_txn_del(txn, CID_DB_META, cid_str_of("audit_tree_frontier"));

	(void)arg;
	if (rc != CID_OK && rc != CID_ERR_NOTFOUND)
		return rc;
	return cid_txn_clear(txn, CID_DB_AUDIT_TREE);
}

static int untree(const char *dir)
{
	struct cid_store *s = NULL;
	int status = 1;

	if (!bench_store_open("audit_bench", dir, &s))
		goto out;
	if (cid_store_update(s, untree_cb, NULL) != CID_OK) {
		fprintf(stderr, "audit_bench: deleting the tree failed\n");
		goto out;
	}
	printf("untree: the tree of %s is gone\n", dir);
	status = 0;
out:
	cid_store_close(s);
	return status;
}

static int catch_up(const char *dir)
{
	struct cid_store *s = NULL;
	uint64_t left = 0;
	uint64_t total = 0;
	uint64_t batches = 0;
	double worst = 0;
	double t0;
	int status = 1;

	if (cid_store_open(dir, &s) != CID_OK || cid_audit_tree_catch_up(s, 0, &total) != CID_OK) {
		fprintf(stderr, "audit_bench: cannot open the store in %s\n", dir);
		goto out;
	}
	t0 = bench_now_s();
	left = total;
	while (left > 0) {
		double b0 = bench_now_s();

		if (cid_audit_tree_catch_up(s, CID_AUDIT_CATCH_UP, &left) != CID_OK) {
			fprintf(stderr, "audit_bench: catching up failed\n");
			goto out;
		}
		if (bench_now_s() - b0 > worst)
			worst = bench_now_s() - b0;
		batches++;
	}
	printf("catch-up: %" PRIu64 " entries in %.2f s (%.0f entries/s), %" PRIu64
	       " batches of %d, the longest %.3f s\n",
	       total, bench_now_s() - t0, (double)total / (bench_now_s() - t0), batches,
	       CID_AUDIT_CATCH_UP, worst);
	status = 0;
out:
	cid_store_close(s);
	return status;
}

static void print_latency(const char *what, double *ms, size_t n, uint64_t rows)
{
	struct bench_spread spread = bench_spread(ms, n);

	printf("%s: median %.3f ms, p99 %.3f ms (%zu queries, %.1f rows each)\n", what,
	       spread.median, spread.p99, n, (double)rows / (double)n);
}

static enum cid_err count_cb(uint64_t seq, struct cid_str entry, void *arg)
{
	(void)seq;
	(void)entry;
	++*(uint64_t *)arg;
	return CID_OK;
}

/*
 * QUERIES queries of a service's entries over a day somewhere in the log (of
 * size entries), oldest first, at most limit entries each (0: all); prints
 * their latency as what. Returns 0, or 1 if a query failed.
 */
static int day_queries(struct cid_store *s, uint64_t size, uint64_t *rng, size_t limit,
		       const char *what)
{
	double ms[QUERIES];
	uint64_t rows = 0;
	int64_t day = (int64_t)24 * 3600;
	int64_t span = (int64_t)size * SPACING;

	for (size_t q = 0; q < QUERIES; q++) {
		struct cid_txn *txn = NULL;
		char from[21];
		char to[21];
		int64_t t =
		    START + (span > day ? (int64_t)(next_rand(rng) % (uint64_t)(span - day)) : 0);
		struct cid_audit_filter f = {.service = services[next_rand(rng) % SERVICES],
					     .from = from,
					     .to = to,
					     .limit = limit};
		double t0;
		enum cid_err rc;

		if (cid_audit_time(t, from) != CID_OK || cid_audit_time(t + day, to) != CID_OK)
			return 1;
		t0 = bench_now_s();
		rc = cid_store_read_begin(s, &txn);
		if (rc == CID_OK)
			rc = cid_audit_query(txn, &f, count_cb, &rows);
		cid_store_read_end(txn);
		if (rc != CID_OK)
			return 1;
		ms[q] = (bench_now_s() - t0) * 1000;
	}
	print_latency(what, ms, QUERIES, rows);
	return 0;
}

/*
 * QUERIES citizen slices (limit 50) of citizens drawn from rng; prints their
 * latency as what. Returns 0, or 1 if a query failed.
 */
static int slice_queries(struct cid_store *s, uint64_t citizens, uint64_t *rng, const char *what)
{
	double ms[QUERIES];
	uint64_t rows = 0;

	for (size_t q = 0; q < QUERIES; q++) {
		struct cid_txn *txn = NULL;
		char citizen[37];
		json_t *slice = NULL;
		double t0;
		enum cid_err rc;

		citizen_id(next_rand(rng) % citizens, citizen);
		t0 = bench_now_s();
		rc = cid_store_read_begin(s, &txn);
		if (rc == CID_OK)
			rc = cid_audit_citizen(txn, citizen, 0, 50, &slice);
		cid_store_read_end(txn);
		if (rc != CID_OK)
			return 1;
		ms[q] = (bench_now_s() - t0) * 1000;
		rows += json_array_size(slice);
		json_decref(slice);
	}
	print_latency(what, ms, QUERIES, rows);
	return 0;
}

static int query(const char *dir, uint64_t citizens)
{
	struct cid_store *s = NULL;
	struct cid_txn *txn = NULL;
	uint64_t rng = 42;
	uint64_t size = 0;
	char hash[CID_AUDIT_HASH_HEX];
	int status = 1;

	if (cid_store_open(dir, &s) != CID_OK || cid_store_read_begin(s, &txn) != CID_OK ||
	    cid_audit_head(txn, &size, hash) != CID_OK || size == 0) {
		fprintf(stderr, "audit_bench: no audit log in %s\n", dir);
		goto out;
	}
	cid_store_read_end(txn);
	txn = NULL;
	/*
	 * A fresh process maps the store's pages as it first touches them, the
	 * B-trees' upper levels included: its first queries pay for that. A
	 * server has answered before; the second set, of other citizens, is its
	 * case. Both are printed.
	 */
	if (slice_queries(s, citizens, &rng, "citizen slice, a fresh process (limit 50)") != 0 ||
	    slice_queries(s, citizens, &rng, "citizen slice (limit 50)") != 0 ||
	    day_queries(s, size, &rng, 100, "service + one-day range (limit 100)") != 0 ||
	    day_queries(s, size, &rng, 0, "a service's whole day (no limit)") != 0)
		goto out;
	status = 0;
out:
	cid_store_read_end(txn);
	cid_store_close(s);
	return status;
}

/* group's "one" mode: the order of the appends, shared by the appenders */
static _Atomic uint64_t one_next;

/* One release entry of a single citizen and service, the n-th appended after a fill. */
static json_t *one_scope_entry(void)
{
	uint64_t n = atomic_fetch_add(&one_next, 1);
	/* a fill's times end at START + SPACING * its size: these are later */
	uint64_t rng = n + 1;
	json_t *e = release_entry(100000000 + n, &rng, 1);
	char req[40];

	snprintf(req, sizeof(req), "req-%016" PRIx64, n);
	if (e != NULL && (json_object_set_new(e, "service", json_string(services[0])) != 0 ||
			  json_object_set_new(e, "request_id", json_string(req)) != 0)) {
		json_decref(e);
		e = NULL;
	}
	return e;
}

struct appender {
	struct cid_audit *log;
	bool one;
	double until;
	uint64_t rng;
	uint64_t done;
	bool failed;
};

static void *appender_main(void *arg)
{
	struct appender *a = arg;

	while (bench_now_s() < a->until) {
		json_t *e = a->one ? one_scope_entry() : release_entry(a->done, &a->rng, CITIZENS);

		if (e == NULL || cid_audit_append(a->log, &e, 1, NULL) != CID_OK) {
			json_decref(e);
			a->failed = true;
			return NULL;
		}
		json_decref(e);
		a->done++;
	}
	return NULL;
}

static int group(const char *dir, unsigned threads, unsigned secs, bool one)
{
	struct cid_store *s = NULL;
	struct cid_audit *log = NULL;
	struct appender *a = calloc(threads, sizeof(*a));
	pthread_t *th = calloc(threads, sizeof(*th));
	struct cid_audit_stats st;
	char line[1024];
	unsigned started = 0;
	uint64_t done = 0;
	bool failed = false;
	double t0;
	int status = 1;

	if (a == NULL || th == NULL || cid_store_open(dir, &s) != CID_OK ||
	    cid_audit_open(s, true, &log) != CID_OK) {
		fprintf(stderr, "audit_bench: cannot open the store in %s\n", dir);
		goto out;
	}
	cid_audit_stats_take(log, &st); /* count from here */
	t0 = bench_now_s();
	for (; started < threads; started++) {
		a[started] = (struct appender){.log = log,
					       .one = one,
					       .until = t0 + secs,
					       .rng = 0x9e3779b97f4a7c15ULL + started};
		if (pthread_create(&th[started], NULL, appender_main, &a[started]) != 0)
			break;
	}
	for (unsigned i = 0; i < started; i++) {
		pthread_join(th[i], NULL);
		done += a[i].done;
		if (a[i].failed) {
			fprintf(stderr, "audit_bench: an append failed\n");
			failed = true;
		}
	}
	cid_audit_stats_take(log, &st);
	if (started < threads || cid_audit_stats_format(&st, line, sizeof(line)) != CID_OK)
		goto out;
	printf("group: %u threads, %" PRIu64 " appends in %.1f s: %.0f appends/s\n", threads, done,
	       st.seconds, (double)done / st.seconds);
	printf("audit group commit: %s\n", line);
	status = failed ? 1 : 0;
out:
	cid_audit_close(log);
	cid_store_close(s);
	free(th);
	free(a);
	return status;
}

int main(int argc, char **argv)
{
	uint64_t n;
	uint64_t citizens = CITIZENS;
	uint64_t records = 0;

	if ((argc == 4 || argc == 5) && strcmp(argv[1], "fill") == 0) {
		if (!bench_count(argv[3], 1, UINT64_MAX, &n) ||
		    (argc == 5 && !bench_count(argv[4], 1, UINT64_MAX, &citizens))) {
			fprintf(stderr, "audit_bench: N and C must be positive numbers\n");
			return 2;
		}
		return fill(argv[2], n, citizens);
	}
	if (argc == 5 && strcmp(argv[1], "populate") == 0) {
		if (!bench_count(argv[3], 1, 100000000, &citizens) ||
		    !bench_count(argv[4], 0, UINT64_MAX, &records)) {
			fprintf(stderr, "audit_bench: populate DIR CITIZENS (1..1e8) RECORDS\n");
			return 2;
		}
		return populate(argv[2], citizens, records);
	}
	if (argc == 4 && strcmp(argv[1], "retention") == 0) {
		if (!bench_count(argv[3], 0, 100000000, &n)) {
			fprintf(stderr, "audit_bench: retention DIR SCOPES (0..1e8)\n");
			return 2;
		}
		return retention(argv[2], n);
	}
	if (argc == 3 && strcmp(argv[1], "verify") == 0)
		return verify(argv[2]);
	if ((argc == 3 || argc == 4) && strcmp(argv[1], "query") == 0) {
		if (argc == 4 && !bench_count(argv[3], 1, UINT64_MAX, &citizens)) {
			fprintf(stderr, "audit_bench: query DIR [CITIZENS]\n");
			return 2;
		}
		return query(argv[2], citizens);
	}
	if (argc == 3 && strcmp(argv[1], "untree") == 0)
		return untree(argv[2]);
	if (argc == 3 && strcmp(argv[1], "catch-up") == 0)
		return catch_up(argv[2]);
	if ((argc == 5 || argc == 6) && strcmp(argv[1], "group") == 0) {
		uint64_t t;
		uint64_t secs;

		if (!bench_count(argv[3], 1, 1024, &t) || !bench_count(argv[4], 1, 600, &secs) ||
		    (argc == 6 && strcmp(argv[5], "one") != 0)) {
			fprintf(stderr, "audit_bench: group DIR THREADS (1..1024) SECONDS "
					"(1..600) [one]\n");
			return 2;
		}
		return group(argv[2], (unsigned)t, (unsigned)secs, argc == 6);
	}
	fprintf(stderr, "usage: audit_bench populate DIR C R | fill DIR N [C] | verify DIR | "
			"retention DIR N | query DIR [C] | untree DIR | catch-up DIR | group DIR "
			"THREADS SECONDS [one]\n");
	return 2;
}
