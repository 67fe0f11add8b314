/*
 * audit_purge: `civicid audit purge` (the end of each purpose's retention:
 * libauth's cid_retention_sweep, which the server also runs every minute
 * with its consent sweep) and `civicid audit resolve PSEUDONYM` (who a
 * pseudonym of the log is, a look-up that is itself logged:
 * cid_audit_resolve), and `civicid audit sweep` (the janitor once: the
 * store's spent codes and tokens, ended sessions and grants, janitor.h; the
 * server runs it every ten minutes). The three are the operator's tools of
 * storage limitation, which is why sweep is an audit verb although it writes
 * no entry. This file reads options, opens the store, prints.
 */
#include "cli.h"

#include "audit.h"
#include "janitor.h"
#include "pseudonym.h"
#include "retention.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Scopes purged in one run of `audit purge` (one write transaction). */
#define PURGE_MAX 256

static const char purge_help[] =
    "usage: civicid audit purge [--policies DIR] [--json]\n"
    "       civicid audit resolve PSEUDONYM [--reason TEXT] [--json]\n"
    "       civicid audit sweep [--json]\n"
    "\n"
    "  purge                for each citizen's purpose whose retention has run out\n"
    "                       (no consent in force, and the policy's `retention`\n"
    "                       elapsed since the last entry, withdrawal or expiry),\n"
    "                       delete the pseudonym's mapping and the consent records,\n"
    "                       and log retention.purged naming the pseudonym; the log\n"
    "                       still verifies, its entries of that purpose name no one.\n"
    "                       A deleted citizen's pseudonyms of no purpose go once\n"
    "                       every purpose of theirs went, the policies' longest\n"
    "                       retention after their newest entry.\n"
    "                       At most 256 a run (the rest is counted: run again). The\n"
    "                       server does the same every minute\n"
    "      --policies DIR   the policies in force (default: the config's)\n"
    "  resolve PSEUDONYM    the citizen, service and purpose behind a pseudonym of\n"
    "                       the log; the look-up is logged first (officer.resolved,\n"
    "                       actor operator), found or not\n"
    "      --reason TEXT    why (a disclosure request's number...): kept in that\n"
    "                       entry; one line, at most 200 characters\n"
    "  sweep                delete what the store no longer needs: authorization\n"
    "                       codes and refresh tokens past their expiry (used or\n"
    "                       not), revoked access tokens' ids once the tokens\n"
    "                       expired, abandoned login pages, ended sessions of\n"
    "                       citizens and officers, failed-login counters past\n"
    "                       their window, and grants a day after their last token\n"
    "                       expired; prints how many of each. Nothing still\n"
    "                       usable goes. The server does the same every ten minutes\n"
    "\n"
    "  -s, --store DIR      LMDB store directory (default ./var/civicid)\n"
    "  -c, --config FILE    read the store from FILE\n"
    "      --json           print JSON\n"
    "\n"
    "Exit status: 0 done, 1 failed (resolve: no such pseudonym, or purged), 2 bad usage.\n";

static int purge(struct cli_env *env, const char *policies, bool json)
{
	struct cid_policyset *ps = NULL;
	struct cid_retention_sweep done;
	char err[512];
	enum cid_err rc;

	if (policies != NULL &&
	    cid_config_set(env->cfg, "policies", policies, err, sizeof(err)) != CID_OK) {
		fprintf(stderr, "civicid audit: %s\n", err);
		return 2;
	}
	rc = cid_policyset_load_dir(env->cfg->policies_dir, stderr, &ps);
	if (rc != CID_OK) {
		fprintf(stderr,
			"civicid audit: purge: the policies of %s do not load (%s); their "
			"retention decides (--policies DIR)\n",
			env->cfg->policies_dir,
			rc == CID_ERR_CONFIG ? "errors above" : cid_strerror(rc));
		return 1;
	}
	rc = cid_retention_sweep(env->store, ps, cli_now(), PURGE_MAX, &done);
	cid_policyset_free(ps);
	if (rc != CID_OK)
		return cli_fail("audit", "purge", rc);
	if (json) {
		printf("{\"purged\":%zu,\"vetoed\":%zu,\"left\":%zu}\n", done.purged, done.vetoed,
		       done.left);
		return 0;
	}
	printf("%zu retention.purged entries written", done.purged);
	if (done.vetoed > 0)
		printf("; %zu kept by a legal retention rule", done.vetoed);
	printf("%s\n", done.left > 0 ? "; more are due: run again" : "");
	return 0;
}

/* The counts of one janitor run as {"codes": N, ...}; NULL when out of memory. */
static json_t *sweep_json(const struct cid_janitor_counts *done)
{
	json_t *counts = json_object();

	for (int i = 0; i < CID_JANITOR_PARTS && counts != NULL; i++)
		if (json_object_set_new(counts, cid_janitor_name((enum cid_janitor_part)i),
					json_integer((json_int_t)done->removed[i])) != 0) {
			json_decref(counts);
			counts = NULL;
		}
	return counts;
}

static int sweep(struct cli_env *env, bool json)
{
	struct cid_janitor_counts done;
	enum cid_err rc = cid_janitor_run(env->store, cli_now(), &done);
	int status = 0;

	/* what the parts before a failure deleted is printed all the same */
	if (json)
		status = cli_print_json(sweep_json(&done));
	else
		for (int i = 0; i < CID_JANITOR_PARTS; i++)
			printf("%-17s %zu deleted\n", cid_janitor_name((enum cid_janitor_part)i),
			       done.removed[i]);
	return rc != CID_OK ? cli_fail("audit", "sweep", rc) : status;
}

static int resolve(struct cli_env *env, const char *pseudonym, const char *reason, bool json)
{
	struct cid_audit *log = NULL;
	json_t *scope = NULL;
	enum cid_err rc;

	rc = cid_audit_open(env->store, false, &log);
	if (rc == CID_OK)
		rc = cid_audit_resolve(log, "operator", pseudonym, reason, cli_now(), &scope);
	cid_audit_close(log);
	if (rc == CID_ERR_NOTFOUND) {
		fprintf(stderr,
			"civicid audit: resolve: %s names no one (never made, or purged at the "
			"end of its retention); the look-up is logged\n",
			pseudonym);
		return 1;
	}
	if (rc == CID_ERR_INVALID) {
		fprintf(stderr,
			"civicid audit: --reason: one line of UTF-8, at most %d characters\n",
			CID_AUDIT_REASON_CHARS);
		return 2;
	}
	if (rc != CID_OK)
		return cli_fail("audit", "resolve", rc);
	if (json)
		return cli_print_json(scope);
	printf("%s: citizen %s, service %s, purpose %s\n", pseudonym,
	       cid_json_str(scope, "citizen"), cid_json_str(scope, "service"),
	       cid_json_str(scope, "purpose"));
	json_decref(scope);
	return 0;
}

int cid_cli_audit_purge(int argc, char **argv)
{
	struct cli_common common = {0};
	struct cli_env env;
	const char *policies = NULL;
	const char *reason = NULL;
	const char *pseudonym = NULL;
	const struct cli_arg purge_args[] = {{"policies", &policies}};
	const struct cli_arg resolve_args[] = {{"reason", &reason}};
	bool is_purge = strcmp(argv[1], "purge") == 0;
	bool is_sweep = strcmp(argv[1], "sweep") == 0;
	int status;

	if (cli_wants_help(argc, argv))
		return cli_help(purge_help);
	if (is_purge || is_sweep) /* sweep takes only the common options */
		status = cli_parse_args("audit", argc - 1, argv + 1, &common, purge_args,
					is_sweep ? 0 : sizeof(purge_args) / sizeof(purge_args[0]));
	else
		status = cli_parse_operand("audit", argc - 1, argv + 1, &common, resolve_args,
					   sizeof(resolve_args) / sizeof(resolve_args[0]),
					   "resolve needs PSEUDONYM", &pseudonym);
	if (status != 0)
		return status;
	if (!is_purge && !is_sweep && !cid_pseudonym_syntax_ok(pseudonym))
		return cli_usage("audit", "resolve takes a pseudonym of the log (ps_ and 32 hex)");
	if (cli_open("audit", &common, &env) != 0)
		return 1;
	if (is_sweep)
		status = sweep(&env, common.json);
	else if (is_purge)
		status = purge(&env, policies, common.json);
	else
		status = resolve(&env, pseudonym, reason, common.json);
	cli_close(&env);
	return status;
}
