/*
 * idp: `civicid idp add|set|list|show|remove`, the upstream identity providers
 * citizens may log in through (libauth idp.h). The client secret is read
 * from stdin only (never an argument: ps would show it) and never printed.
 */
#include "cli.h"

#include "crypto.h"
#include "idp.h"
#include "str.h"

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char idp_help[] =
    "usage: civicid idp VERB [options]\n"
    "\n"
    "  add NAME --issuer URL --client-id ID --client-secret-stdin --scope \"openid ...\"\n"
    "      [--acr-map UPSTREAM_ACR=LEVEL]... [--amr-map UPSTREAM_AMR=LEVEL]... [--amr-pass]\n"
    "      [--claim-map UPSTREAM=LOCAL]... [--trust-framework NAME] [--allow-create]\n"
    "      [--label-ja TEXT] [--label-en TEXT] [--order N]\n"
    "  set NAME [--label-ja TEXT] [--label-en TEXT] [--order N]\n"
    "  list\n"
    "  show NAME\n"
    "  remove NAME\n"
    "\n"
    "Options of add:\n"
    "      --issuer URL             the upstream's issuer (https; http://127.0.0.1 for tests)\n"
    "      --client-id ID           civicid's client id at the upstream\n"
    "      --client-secret-stdin    read civicid's client secret there from stdin\n"
    "      --scope \"openid ...\"     the scopes asked of the upstream\n"
    "      --acr-map ACR=LEVEL      a login with that upstream acr counts as LEVEL\n"
    "                               (1 password, 2 password and one-time code, 3 above\n"
    "                               both: the card); repeat\n"
    "      --amr-map AMR=LEVEL      a login whose upstream amr holds AMR counts as LEVEL\n"
    "                               (the highest of both maps wins); repeat\n"
    "      --amr-pass               civicid's amr carries the upstream's (RFC 8176 values)\n"
    "                               after fed\n"
    "      --claim-map UP=LOCAL     an upstream claim copied into a citizen created at\n"
    "                               first login, and kept with its source at every login;\n"
    "                               repeat\n"
    "      --trust-framework NAME   the framework the upstream vouches under: its\n"
    "                               verified_claims under NAME and its plain mapped\n"
    "                               claims count as verified; without it, none does\n"
    "      --allow-create           a first login with no linked account creates one;\n"
    "                               without it the citizen links an existing account\n"
    "\n"
    "Options of add and set (the login page's button):\n"
    "      --label-ja TEXT          its label on Japanese pages (\"\" removes it; none:\n"
    "      --label-en TEXT          the other language's, else NAME), up to 64 bytes\n"
    "      --order N                its place, 1 first to 999 (default 100; ties by NAME)\n"
    "\n"
    "Options for every verb:\n"
    "  -s, --store DIR      LMDB store directory (default ./var/civicid)\n"
    "  -c, --config FILE    configuration file\n"
    "      --json           print JSON\n"
    "\n"
    "The redirect URI to register at the upstream is ISSUER/upstream/callback, with\n"
    "civicid's own issuer. The secret is never shown again.\n";

struct idp_opts {
	struct cli_common common;
	struct cid_idp_spec spec;
	bool secret_stdin;
	const char *acr[CID_IDP_MAX_MAP];
	const char *amr[CID_IDP_MAX_MAP];
	const char *claim[CID_IDP_MAX_MAP];
};

static int push(const char **list, size_t *n, const char *entry)
{
	if (*n >= CID_IDP_MAX_MAP)
		return cli_usage("idp", "at most 16 entries in each of --acr-map, --amr-map and "
					"--claim-map");
	list[(*n)++] = entry;
	return 0;
}

static int parse(int argc, char **argv, struct idp_opts *o)
{
	static const struct option opts[] = {
	    CLI_COMMON_OPTIONS,
	    {"issuer", required_argument, NULL, 'i'},
	    {"client-id", required_argument, NULL, 'C'},
	    {"client-secret-stdin", no_argument, NULL, 'S'},
	    {"scope", required_argument, NULL, 'o'},
	    {"acr-map", required_argument, NULL, 'a'},
	    {"claim-map", required_argument, NULL, 'm'},
	    {"allow-create", no_argument, NULL, 'A'},
	    {"amr-map", required_argument, NULL, 'M'},
	    {"amr-pass", no_argument, NULL, 'P'},
	    {"trust-framework", required_argument, NULL, 'T'},
	    {"label-ja", required_argument, NULL, 'J'},
	    {"label-en", required_argument, NULL, 'E'},
	    {"order", required_argument, NULL, 'O'},
	    {NULL, 0, NULL, 0},
	};
	struct cid_idp_spec *sp = &o->spec;
	int opt, rc = 0;

	optind = 1;
	while (rc == 0 && (opt = getopt_long(argc, argv, CLI_COMMON_SHORT, opts, NULL)) != -1) {
		switch (opt) {
		case 'i': sp->issuer = optarg; break;
		case 'C': sp->client_id = optarg; break;
		case 'S': o->secret_stdin = true; break;
		case 'o': sp->scope = optarg; break;
		case 'a': rc = push(o->acr, &sp->n_acr_map, optarg); break;
		case 'm': rc = push(o->claim, &sp->n_claim_map, optarg); break;
		case 'A': sp->allow_create = true; break;
		case 'M': rc = push(o->amr, &sp->n_amr_map, optarg); break;
		case 'P': sp->amr_pass = true; break;
		case 'T': sp->trust_framework = optarg; break;
		case 'J': sp->display.label_ja = optarg; break;
		case 'E': sp->display.label_en = optarg; break;
		case 'O': {
			uint64_t n = 0;

			if (cid_parse_u64(optarg, strlen(optarg), 1, CID_IDP_ORDER_MAX, &n) !=
			    CID_OK)
				return cli_usage("idp", "--order must be 1 to 999");
			sp->display.order = (int)n;
			break;
		}
		default:
			if (!cli_common_option(&o->common, opt, optarg))
				return cli_usage("idp", "unknown option");
			break;
		}
	}
	sp->acr_map = o->acr;
	sp->amr_map = o->amr;
	sp->claim_map = o->claim;
	return rc;
}

static int verb_add(struct cli_env *env, struct idp_opts *o, const char *name)
{
	char why[256] = "";
	char *secret = NULL;
	enum cid_err rc;
	int status = 0;

	if (!o->secret_stdin)
		return cli_usage("idp", "add needs --client-secret-stdin");
	secret = cli_read_secret("idp", "-", CID_MAX_SECRET);
	if (secret == NULL)
		return 1;
	o->spec.name = name;
	o->spec.client_secret = secret;
	rc = cid_idp_add(env->store, &o->spec, cli_now(), why, sizeof(why));
	if (rc != CID_OK && why[0] != '\0') {
		fprintf(stderr, "civicid idp: %s: %s\n", name, why);
		status = 1;
	} else if (rc != CID_OK) {
		status = cli_fail("idp", name, rc);
	} else if (o->common.json) {
		status = cli_print_json(json_pack("{s:s}", "name", name));
	} else {
		printf("upstream %s added\n", name);
	}
	cid_wipe(secret, strlen(secret));
	free(secret);
	return status;
}

static void print_row(const json_t *row)
{
	printf("%-20s %s%s\n", json_string_value(json_object_get(row, "name")),
	       json_string_value(json_object_get(row, "issuer")),
	       json_is_true(json_object_get(row, "allow_create")) ? "  (creates accounts)" : "");
}

static void print_idp(const json_t *c)
{
	const char *key;
	const json_t *v;

	json_object_foreach((json_t *)(uintptr_t)c, key, v)
	{
		char *s = cid_json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
		printf("%-14s %s\n", key, s ? s : "?");
		free(s);
	}
}

int cid_cli_idp(int argc, char **argv)
{
	struct idp_opts o = {0};
	struct cli_env env;
	const char *verb;
	json_t *all = NULL;
	enum cid_err rc;
	int status;
	bool with_name;

	if (argc < 2 || cli_wants_help(argc, argv))
		return argc < 2 ? (fputs(idp_help, stderr), 2) : cli_help(idp_help);
	verb = argv[1];
	with_name = strcmp(verb, "add") == 0 || strcmp(verb, "set") == 0 ||
		    strcmp(verb, "show") == 0 || strcmp(verb, "remove") == 0;
	if (!with_name && strcmp(verb, "list") != 0)
		return cli_usage("idp", "unknown verb");
	status = parse(argc - 1, argv + 1, &o);
	if (status != 0)
		return status;
	if (argc - 1 - optind != (with_name ? 1 : 0))
		return cli_usage("idp", with_name ? "expected one NAME" : "unexpected argument");
	status = cli_open("idp", &o.common, &env);
	if (status != 0)
		return status;
	if (strcmp(verb, "add") == 0) {
		status = verb_add(&env, &o, argv[1 + optind]);
	} else if (strcmp(verb, "set") == 0) {
		rc = cid_idp_set_display(env.store, argv[1 + optind], &o.spec.display);
		if (rc != CID_OK)
			status = cli_fail("idp", argv[1 + optind], rc);
		else if (!o.common.json)
			printf("upstream %s changed\n", argv[1 + optind]);
	} else if (strcmp(verb, "list") == 0) {
		rc = cid_idp_list(env.store, &all);
		status = cli_print_list("idp", rc, all, o.common.json, print_row);
	} else if (strcmp(verb, "show") == 0) {
		rc = cid_idp_show(env.store, argv[1 + optind], &all);
		if (rc != CID_OK) {
			status = cli_fail("idp", argv[1 + optind], rc);
		} else if (o.common.json) {
			status = cli_print_json(all);
		} else {
			print_idp(all);
			json_decref(all);
		}
	} else {
		rc = cid_idp_remove(env.store, argv[1 + optind]);
		if (rc != CID_OK)
			status = cli_fail("idp", argv[1 + optind], rc);
		else if (!o.common.json)
			printf("upstream %s removed (its links to accounts are kept)\n",
			       argv[1 + optind]);
	}
	cli_close(&env);
	return status;
}
