/*
 * Fuzz target: the policy loader's reload path (cid_ctx_policies_refresh),
 * which SIGHUP and `civicid policy reload` run on a live server. A context
 * is opened once on a real store whose policy directory holds base.policy;
 * each input is written as fuzz.policy beside it and the policies are
 * reloaded, forced (SIGHUP) and then through the store's reload counter
 * (the CLI's way), while a request holds the snapshot it started with.
 *
 * What must hold whatever the file:
 * - a reload either succeeds, and the new snapshot has the base service and
 *   whatever services the file adds, or fails with an error cid.h lists,
 *   and then the snapshot in force is the very one before, still answering;
 * - a failed reload is not retried until the counter moves, and retried
 *   then it gives the same verdict;
 * - the snapshot a request holds stays valid across any reload, and every
 *   snapshot is freed when its last holder lets go (LeakSanitizer at exit,
 *   and libFuzzer's per-input leak check).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cid.h"
#include "policy.h"
#include "support.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW ((int64_t)1800000000)

static const char base_policy[] = "service base\n"
				  "name.ja 基本\n"
				  "name.en Base\n"
				  "purpose notices\n"
				  "\ttext.ja 区の案内\n"
				  "\ttext.en District notices\n"
				  "\tbasis statute Test Act, Art. 2\n"
				  "\tretention 1y\n"
				  "\tpermit resident_district\n";

/* Made once: libFuzzer runs millions of inputs in one process. */
static struct fuzz_env env;
static FILE *sink;
static bool ready;

static void close_env(void)
{
	fuzz_env_close(&env);
	fclose(sink);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) // NOLINT(readability-non-const-parameter)
{
	(void)argc;
	(void)argv;
	sink = fopen("/dev/null", "w");
	if (sink == NULL)
		abort();
	fuzz_env_open(&env, NOW, "base.policy", base_policy);
	atexit(close_env);
	ready = true;
	return 0;
}

/* The base service's district notice: what every snapshot must still answer. */
static void check_answers(const struct cid_policyset *ps)
{
	struct cid_decision d;

	cid_policy_eval(ps, "base", "notices", "resident_district", NULL, 0, 1, NOW, &d);
	if (!d.permit || d.reason != CID_REASON_PERMIT_STATUTE || d.policy_version == NULL)
		abort();
}

/* Reloads (forced or by the counter); checks what is in force afterwards. */
static enum cid_err reload(bool force, const struct cid_policyset *before)
{
	bool reloaded = true;
	enum cid_err rc = cid_ctx_policies_refresh(env.ctx, force, sink, &reloaded);
	struct cid_policyref *now = cid_ctx_policies_acquire(env.ctx);
	const struct cid_policyset *ps = cid_policyref_set(now);

	switch (rc) {
	case CID_OK:
		if (!reloaded || ps == before || cid_policyset_find(ps, "base") == NULL)
			abort();
		break;
	case CID_ERR_CONFIG:
	case CID_ERR_IO:
	case CID_ERR_NOMEM:
		/* the old policies stay in force */
		if (reloaded || ps != before)
			abort();
		break;
	default: abort(); /* an error cid.h does not list */
	}
	check_answers(ps);
	cid_policyref_put(now);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cid_policyref *held;
	struct cid_policyref *current;
	struct cid_policyref *after;
	enum cid_err forced;
	enum cid_err counted;
	bool reloaded = true;

	if (!ready)
		LLVMFuzzerInitialize(NULL, NULL);
	fuzz_write_file(env.policies, "fuzz.policy", data, size);
	/* a request under way holds the snapshot it started with */
	held = cid_ctx_policies_acquire(env.ctx);
	forced = reload(true, cid_policyref_set(held));
	/* nothing asked since: no reload, whatever the verdict was */
	current = cid_ctx_policies_acquire(env.ctx);
	if (cid_ctx_policies_refresh(env.ctx, false, sink, &reloaded) != CID_OK || reloaded)
		abort();
	after = cid_ctx_policies_acquire(env.ctx);
	if (cid_policyref_set(after) != cid_policyref_set(current))
		abort();
	cid_policyref_put(after);
	/* `civicid policy reload`: the counter moves, the same file loads alike */
	if (cid_policies_request_reload(cid_ctx_store(env.ctx), NULL) != CID_OK)
		abort();
	counted = reload(false, cid_policyref_set(current));
	cid_policyref_put(current);
	if ((forced == CID_OK) != (counted == CID_OK))
		abort();
	/* the held snapshot outlived two reloads */
	check_answers(cid_policyref_set(held));
	cid_policyref_put(held);
	return 0;
}
