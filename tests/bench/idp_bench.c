/*
 * idp_bench: what the upstream registrations cost the discovery endpoint,
 * which asks cid_idp_assurance at every request (the trust frameworks and
 * verified claims the registrations announce). Not a test: it never fails
 * on speed.
 *   idp_bench DIR [CALLS]  registers 3 upstreams in a new store in DIR (two
 *                          naming a trust framework, each with a claim map),
 *                          then prints the median and mean of CALLS calls
 *                          (default 100000) of cid_idp_assurance
 * Run the release build for figures worth quoting.
 */
#include "idp.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define START 1800000000
#define BATCH 100 /* calls per timed sample: one call is near the clock's resolution */

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Three registrations as a city might have them: the card, a register, a neighbour. */
static int register_three(struct cid_store *s)
{
	static const char *const card_map[] = {"given_name=given_name", "family_name=family_name",
					       "birthdate=birthdate", "address=address"};
	static const char *const register_map[] = {"addr=address", "fam=family_name"};
	static const char *const plain_map[] = {"given_name=given_name", "email=email"};
	static const char *const acr_map[] = {"urn:card:high=3", "urn:card:low=1"};
	const struct cid_idp_spec specs[] = {
	    {.name = "card",
	     .issuer = "https://card.example.jp",
	     .client_id = "civicid",
	     .client_secret = "card-secret-value",
	     .scope = "openid profile address",
	     .acr_map = acr_map,
	     .n_acr_map = 2,
	     .trust_framework = "jp_my_number_card",
	     .claim_map = card_map,
	     .n_claim_map = 4,
	     .allow_create = true,
	     .display = {"マイナンバーカード", "My Number Card", 10}},
	    {.name = "register",
	     .issuer = "https://register.example.jp",
	     .client_id = "civicid",
	     .client_secret = "register-secret-value",
	     .scope = "openid",
	     .trust_framework = "jp_resident_register",
	     .claim_map = register_map,
	     .n_claim_map = 2},
	    {.name = "neighbour",
	     .issuer = "https://neighbour.example.jp",
	     .client_id = "civicid:neighbour",
	     .client_secret = "neighbour-secret-value",
	     .scope = "openid profile email",
	     .claim_map = plain_map,
	     .n_claim_map = 2,
	     .display = {NULL, "Neighbouring city", 50}},
	};
	char why[200] = "";

	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		if (cid_idp_add(s, &specs[i], START, why, sizeof(why)) != CID_OK) {
			fprintf(stderr, "idp_bench: cannot register %s: %s\n", specs[i].name, why);
			return 1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct cid_store *s = NULL;
	long calls = argc > 2 ? strtol(argv[2], NULL, 10) : 100000;
	size_t n;
	double *samples = NULL;
	double total = 0;
	int status = 1;

	if (argc < 2 || argc > 3 || calls < BATCH) {
		fprintf(stderr, "usage: idp_bench DIR [CALLS >= %d]\n", BATCH);
		return 2;
	}
	n = (size_t)calls / BATCH;
	samples = calloc(n, sizeof(*samples));
	if (samples == NULL || cid_store_open(argv[1], &s) != CID_OK) {
		fprintf(stderr, "idp_bench: cannot open the store in %s\n", argv[1]);
		goto out;
	}
	if (register_three(s) != 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		double t0 = now_us();

		for (int j = 0; j < BATCH; j++) {
			json_t *frameworks = NULL;
			json_t *claims = NULL;

			if (cid_idp_assurance(s, &frameworks, &claims) != CID_OK) {
				fprintf(stderr, "idp_bench: cid_idp_assurance failed\n");
				goto out;
			}
			json_decref(frameworks);
			json_decref(claims);
		}
		samples[i] = (now_us() - t0) / BATCH;
		total += samples[i];
	}
	qsort(samples, n, sizeof(*samples), by_value);
	printf("cid_idp_assurance, 3 registrations: median %.2f us, mean %.2f us (%zu calls)\n",
	       samples[n / 2], total / (double)n, n * BATCH);
	status = 0;
out:
	cid_store_close(s);
	free(samples);
	return status;
}
