/*
 * keys: `civicid keys list|rotate|jwks`. Only public data is ever printed. A
 * running server notices a rotation within seconds (it polls keys_version)
 * or at once on SIGHUP.
 */
#include "cli.h"

#include "audit.h"
#include "jose.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char keys_help[] =
    "usage: civicid keys VERB [options]\n"
    "\n"
    "  list                 kid, algorithm, state and times of every signing key\n"
    "  rotate [--alg ES256|RS256]   new active key(s); the old key stays in the JWKS\n"
    "                       for key_keep seconds (config; default one day) so that\n"
    "                       tokens it signed still verify. Default: both algorithms.\n"
    "  jwks                 the public keys of every key ever made, as a JWKS with\n"
    "                       a member \"issuer\": the audit log's issuer, which\n"
    "                       `civicid audit verify --file` checks every checkpoint\n"
    "                       against (absent until a server has started on the store)\n"
    "\n"
    "  -s, --store DIR      LMDB store directory (default ./var/civicid)\n"
    "  -c, --config FILE    configuration file (for key_keep and the store)\n"
    "      --json           print JSON\n"
    "\n"
    "Private keys never leave the store.\n";

static void print_keys(const json_t *list)
{
	size_t i;
	const json_t *k;

	printf("%-44s %-6s %-8s %s\n", "kid", "alg", "state", "created / drop after");
	json_array_foreach(list, i, k)
	{
		printf("%-44s %-6s %-8s %lld", json_string_value(json_object_get(k, "kid")),
		       json_string_value(json_object_get(k, "alg")),
		       json_string_value(json_object_get(k, "state")),
		       (long long)json_integer_value(json_object_get(k, "created_at")));
		if (json_object_get(k, "drop_after") != NULL)
			printf(" / %lld",
			       (long long)json_integer_value(json_object_get(k, "drop_after")));
		printf("\n");
	}
}

static int rotate(struct cli_env *env, const char *alg, bool json)
{
	const char *algs[] = {"ES256", "RS256"};
	json_t *out = json_array();

	for (size_t i = 0; i < 2; i++) {
		char *kid = NULL;
		if (alg != NULL && strcmp(alg, algs[i]) != 0)
			continue;
		enum cid_err rc =
		    cid_keys_rotate(env->store, algs[i], cli_now(), env->cfg->key_keep, &kid);
		if (rc != CID_OK) {
			json_decref(out);
			return cli_fail("keys", "rotate", rc);
		}
		if (!json)
			printf("%s: new active key %s\n", algs[i], kid);
		json_array_append_new(out, json_pack("{s:s, s:s}", "alg", algs[i], "kid", kid));
		free(kid);
	}
	if (json)
		cli_print_json(out);
	else
		json_decref(out);
	return 0;
}

/*
 * Every stored public key, retired and dropped ones too, as a JWKS document
 * naming the audit log's issuer, so an auditor checks checkpoints against it.
 */
static int print_all_jwks(struct cli_env *env)
{
	struct cid_keyset *ks = NULL;
	char *iss = NULL;
	char *doc = NULL;
	size_t len = 0;
	enum cid_err rc = cid_keyset_load_all(env->store, &ks);

	if (rc == CID_OK)
		rc = cid_audit_issuer(env->store, &iss);
	if (rc == CID_OK)
		rc = cid_keyset_jwks_issuer(ks, iss, &doc);
	if (rc == CID_ERR_NOTFOUND) {
		fprintf(stderr, "civicid keys: the store records no issuer yet (no server has "
				"started on it): the JWKS names none\n");
		rc = CID_OK;
	}
	if (rc == CID_OK)
		printf("%s\n", doc != NULL ? doc : cid_keyset_jwks(ks, &len));
	free(doc);
	free(iss);
	cid_keyset_free(ks);
	return rc == CID_OK ? 0 : cli_fail("keys", "jwks", rc);
}

int cid_cli_keys(int argc, char **argv)
{
	static const struct option opts[] = {
	    CLI_COMMON_OPTIONS,
	    {"alg", required_argument, NULL, 'a'},
	    {NULL, 0, NULL, 0},
	};
	struct cli_common common = {0};
	const char *alg = NULL;
	struct cli_env env;
	int opt, status;

	if (argc < 2 || cli_wants_help(argc, argv))
		return argc < 2 ? (fputs(keys_help, stderr), 2) : cli_help(keys_help);
	const char *verb = argv[1];
	if (strcmp(verb, "list") != 0 && strcmp(verb, "rotate") != 0 && strcmp(verb, "jwks") != 0)
		return cli_usage("keys", "unknown verb");
	optind = 1;
	while ((opt = getopt_long(argc - 1, argv + 1, CLI_COMMON_SHORT, opts, NULL)) != -1) {
		if (opt == 'a')
			alg = optarg;
		else if (!cli_common_option(&common, opt, optarg))
			return cli_usage("keys", "unknown option");
	}
	if (optind != argc - 1)
		return cli_usage("keys", "unexpected argument");
	if (alg != NULL && strcmp(alg, "ES256") != 0 && strcmp(alg, "RS256") != 0)
		return cli_usage("keys", "--alg must be ES256 or RS256");
	status = cli_open("keys", &common, &env);
	if (status != 0)
		return status;
	enum cid_err rc = cid_keys_ensure(env.store, cli_now());
	if (rc != CID_OK) {
		status = cli_fail("keys", "creating the first keys", rc);
	} else if (strcmp(verb, "rotate") == 0) {
		status = rotate(&env, alg, common.json);
	} else if (strcmp(verb, "jwks") == 0) {
		status = print_all_jwks(&env);
	} else {
		json_t *list = NULL;
		rc = cid_keys_list(env.store, &list);
		if (rc != CID_OK) {
			status = cli_fail("keys", "list", rc);
		} else if (common.json) {
			cli_print_json(list);
		} else {
			print_keys(list);
			json_decref(list);
		}
	}
	cli_close(&env);
	return status;
}
