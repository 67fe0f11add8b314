/*
 * audit_trail: `civicid audit trail --citizen USER`: the citizen's trail as
 * the city hands it over on a disclosure request (開示請求): the same bundle
 * the citizen downloads from /account/trail (trail.h), JSON that verifies
 * offline or CSV, on the record as an audit.exported entry before it is
 * printed (cid_trail_recorded).
 */
#include "cli.h"

#include "account.h"
#include "cid.h"
#include "config.h"
#include "trail.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char trail_help[] =
    "usage: civicid audit trail --citizen USER [--format json|csv] [--before SEQ]\n"
    "                           [--lang ja|en] [--config FILE] [--policies DIR]\n"
    "                           [--issuer URL]\n"
    "\n"
    "  trail --citizen USER the citizen's own trail (a username or an account id):\n"
    "                       who received which of their attributes, when, for what\n"
    "                       purpose, on what basis, newest first, at most 500\n"
    "                       entries; --before SEQ (the bundle's next_before) for\n"
    "                       the older ones. json: the bundle that verifies offline\n"
    "                       (each entry's logged bytes and inclusion proof against\n"
    "                       one signed checkpoint, the audit vkeys, a signature over\n"
    "                       the page; README \"The citizen's trail bundle\"); csv:\n"
    "                       the same entries for people, times in the configured\n"
    "                       timezone. Recorded first as an audit.exported entry\n"
    "                       (actor operator, format trail-json or trail-csv)\n"
    "      --lang ja|en     the language of names and words (default: the\n"
    "                       configuration's default_locale)\n"
    "\n"
    "  -s, --store DIR      LMDB store directory (default ./var/civicid)\n"
    "  -c, --config FILE    the server's configuration (its keys sign the bundle)\n"
    "      --policies DIR   --issuer URL   as `civicid serve` takes them, when\n"
    "                       the configuration file does not say\n"
    "\n"
    "Exit status: 0 printed, 1 failed (no such citizen, no server has started on\n"
    "the store), 2 bad usage.\n";

struct trail_opts {
	struct cli_common common;
	const char *citizen, *format, *before, *lang, *policies, *issuer;
};

static int parse(int argc, char **argv, struct trail_opts *o)
{
	const struct cli_arg args[] = {
	    {"citizen", &o->citizen}, {"format", &o->format},	  {"before", &o->before},
	    {"lang", &o->lang},	      {"policies", &o->policies}, {"issuer", &o->issuer},
	};
	int rc =
	    cli_parse_args("audit", argc, argv, &o->common, args, sizeof(args) / sizeof(args[0]));

	if (rc != 0)
		return rc;
	if (o->citizen == NULL)
		return cli_usage("audit", "trail needs --citizen USER");
	if (o->format != NULL && strcmp(o->format, "json") != 0 && strcmp(o->format, "csv") != 0)
		return cli_usage("audit", "trail: --format is json or csv");
	if (o->lang != NULL && strcmp(o->lang, "ja") != 0 && strcmp(o->lang, "en") != 0)
		return cli_usage("audit", "trail: --lang is ja or en");
	return 0;
}

/* The account id of user (a username or an id) into id. */
static int resolve(struct cli_env *env, const char *user, char id[CID_ID_CHARS + 1])
{
	struct cid_account *u = NULL;
	enum cid_err rc = cid_account_find(env->store, user, &u);

	if (rc == CID_ERR_NOTFOUND && cid_uuid_syntax_ok(user))
		rc = cid_account_get(env->store, user, &u);
	if (rc != CID_OK)
		return cli_fail("audit", user, rc);
	snprintf(id, CID_ID_CHARS + 1, "%s", u->id);
	cid_account_free(u);
	return 0;
}

/* Prints the bundle as the format asks. */
static int print(struct cid_ctx *ctx, json_t *bundle, bool csv)
{
	char *text = NULL;
	size_t len = 0;
	enum cid_err rc;

	if (!csv)
		return cli_print_json(json_incref(bundle));
	rc = cid_trail_csv(ctx, bundle, &text, &len);
	if (rc != CID_OK)
		return cli_fail("audit", "trail", rc);
	fwrite(text, 1, len, stdout);
	free(text);
	return 0;
}

int cid_cli_audit_trail(int argc, char **argv)
{
	struct trail_opts o = {0};
	struct cli_env env;
	struct cid_ctx *ctx = NULL;
	json_t *bundle = NULL;
	char id[CID_ID_CHARS + 1];
	char err[512];
	uint64_t before = 0;
	bool csv;
	enum cid_err rc;
	int status;

	if (cli_wants_help(argc, argv))
		return cli_help(trail_help);
	status = parse(argc - 1, argv + 1, &o);
	if (status != 0)
		return status;
	csv = o.format != NULL && strcmp(o.format, "csv") == 0;
	if (o.before != NULL &&
	    cid_parse_u64(o.before, strlen(o.before), 1, UINT64_MAX, &before) != CID_OK)
		return cli_usage("audit", "trail: --before is a seq (the bundle's next_before)");
	if (cli_open("audit", &o.common, &env) != 0)
		return 1;
	if ((o.policies != NULL &&
	     cid_config_set(env.cfg, "policies", o.policies, err, sizeof(err)) != CID_OK) ||
	    (o.issuer != NULL &&
	     cid_config_set(env.cfg, "issuer", o.issuer, err, sizeof(err)) != CID_OK) ||
	    cid_config_check(env.cfg, err, sizeof(err)) != CID_OK) {
		fprintf(stderr, "civicid audit: trail: %s\n", err);
		status = 2;
		goto out;
	}
	status = resolve(&env, o.citizen, id);
	if (status != 0)
		goto out;
	if (cli_audit_tree_ready("audit", &env) != 0) {
		status = 1;
		goto out;
	}
	/* the bundle is signed with the server's keys: the whole context, one LMDB env */
	cid_store_close(env.store);
	env.store = NULL;
	/* a command records no issuer: only the first server may (audit.h) */
	rc = cid_ctx_open_flags(env.cfg, cli_now(), CID_CTX_NO_ISSUER, stderr, &ctx);
	if (rc != CID_OK) {
		status = cli_fail("audit", "trail: cannot open the context", rc);
		goto out;
	}
	rc = cid_trail_recorded(ctx, id, o.lang != NULL ? o.lang : env.cfg->default_locale, before,
				csv, "operator", "cli", cli_now(), &bundle);
	if (rc == CID_ERR_CONFIG) {
		fprintf(stderr, "civicid audit: trail: nothing can be signed before a server has "
				"started on the store (or audit_witnesses does not parse)\n");
		status = 1;
		goto out;
	}
	if (rc != CID_OK) {
		status = cli_fail("audit", "trail", rc);
		goto out;
	}
	status = print(ctx, bundle, csv);
out:
	json_decref(bundle);
	cid_ctx_close(ctx);
	cli_close(&env);
	return status;
}
