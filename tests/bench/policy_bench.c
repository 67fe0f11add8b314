/*
 * policy_bench: how fast the release-policy evaluator decides. Loads a policy
 * directory (the demo city's policies/), then runs cid_policy_eval ten million
 * times on one thread over a fixed mix of permits and denies (consent,
 * statute, explicit deny, default deny, step-up, unknown service), timing
 * batches of 1000 decisions with CLOCK_MONOTONIC. Prints decisions per second
 * and the median time per decision (the median batch / 1000), so that a slow
 * outlier batch (a page fault, a preemption) does not move the figure.
 * A benchmark, not a test: it never fails on speed.
 * Usage: policy_bench [POLICY_DIR]   (default ./policies)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "policy.h"

#define BATCH	1000
#define BATCHES 10000 /* 10 million decisions */

struct bench_case {
	const char *service, *purpose, *attribute;
	int level;
	bool with_fact; /* a current grant for the attribute */
};

static const struct bench_case cases[] = {
    {"childcare", "fee-calculation", "household_size", 1, true},	       /* permit: consent */
    {"childcare", "fee-calculation", "family_name#ja-Kana-JP", 1, true},       /* permit: tagged */
    {"childcare", "fee-calculation", "birthdate", 2, true},		       /* permit: level 2 */
    {"childcare", "fee-calculation", "birthdate", 1, true},		       /* deny: step up */
    {"childcare", "fee-calculation", "email", 2, true},			       /* deny: explicit */
    {"childcare", "fee-calculation", "phone_number", 2, false},		       /* deny: default */
    {"childcare", "eligibility-certification", "resident_district", 1, false}, /* statute */
    {"library", "library-card", "email", 1, true},			       /* permit */
    {"library", "library-card", "given_name", 1, false},		       /* deny: ask */
    {"library", "library-card", "birthdate", 2, true},			       /* deny: default */
    {"disaster-alert", "evacuation-support-register", "household_size", 1, false},
    {"disaster-alert", "alert-notification", "phone_number", 1, true},
    {"parking", "permit", "address", 2, false}, /* deny: unknown service */
    {"library", "marketing", "email", 2, true}, /* deny: unknown purpose */
};

#define N_CASES (sizeof(cases) / sizeof(cases[0]))

/* The digest of (service, purpose), so that the grant facts are current. */
static char *digest_of(const struct cid_policyset *ps, const char *service, const char *purpose)
{
	json_t *d = NULL, *p;
	char *out = NULL;
	size_t i;

	if (cid_policy_describe(ps, service, &d) != CID_OK)
		return NULL;
	json_array_foreach(json_object_get(d, "purposes"), i, p)
	{
		if (strcmp(json_string_value(json_object_get(p, "id")), purpose) == 0)
			out = strdup(json_string_value(json_object_get(p, "digest")));
	}
	json_decref(d);
	return out;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "./policies";
	struct cid_policyset *ps = NULL;
	struct cid_consent_fact facts[N_CASES];
	char *digests[N_CASES];
	double *batch_ns = malloc(BATCHES * sizeof(*batch_ns));
	size_t permits = 0, reasons[CID_REASON_COUNT] = {0};
	int64_t now = (int64_t)time(NULL);
	struct cid_decision d;

	if (batch_ns == NULL)
		return 1;
	if (cid_policyset_load_dir(dir, stderr, &ps) != CID_OK) {
		fprintf(stderr, "policy_bench: cannot load the policies of %s\n", dir);
		free(batch_ns);
		return 1;
	}
	for (size_t i = 0; i < N_CASES; i++) {
		digests[i] = digest_of(ps, cases[i].service, cases[i].purpose);
		facts[i] = (struct cid_consent_fact){.attribute = cases[i].attribute,
						     .state = CID_CONSENT_GRANTED,
						     .expires_at = now + 86400,
						     .purpose_digest = digests[i],
						     .record_id = "bench"};
	}
	/* warm up, and count what the mix decides */
	for (size_t i = 0; i < N_CASES; i++) {
		const struct bench_case *c = &cases[i];
		cid_policy_eval(ps, c->service, c->purpose, c->attribute, &facts[i], c->with_fact,
				c->level, now, &d);
		permits += d.permit;
		reasons[d.reason]++;
	}
	printf("policy_bench: %zu policies from %s; a mix of %zu cases, %zu permits:",
	       cid_policyset_count(ps), dir, N_CASES, permits);
	for (int r = 0; r < CID_REASON_COUNT; r++)
		if (reasons[r] > 0)
			printf(" %s=%zu", cid_reason_name((enum cid_reason)r), reasons[r]);
	printf("\n");

	size_t k = 0;
	permits = 0;
	double start = bench_now_s();
	for (size_t b = 0; b < BATCHES; b++) {
		double t0 = bench_now_s();
		for (size_t i = 0; i < BATCH; i++) {
			const struct bench_case *c = &cases[k];
			cid_policy_eval(ps, c->service, c->purpose, c->attribute, &facts[k],
					c->with_fact, c->level, now, &d);
			permits += d.permit;
			k = k + 1 == N_CASES ? 0 : k + 1;
		}
		batch_ns[b] = (bench_now_s() - t0) * 1e9;
	}
	double total = bench_now_s() - start;
	struct bench_spread spread = bench_spread(batch_ns, BATCHES);
	printf("%d decisions on 1 thread in %.3f s: %.2f million decisions/s\n", BATCH * BATCHES,
	       total, (double)BATCH * BATCHES / total / 1e6);
	printf("per decision: median %.1f ns, p99 %.1f ns (batches of %d; %zu permits)\n",
	       spread.median / BATCH, spread.p99 / BATCH, BATCH, permits);
	for (size_t i = 0; i < N_CASES; i++)
		free(digests[i]);
	free(batch_ns);
	cid_policyset_free(ps);
	return 0;
}
