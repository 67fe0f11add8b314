/*
 * tenant: `civicid tenant add|list|show|disable|adopt`, the cities of a
 * server that serves several (tenant.h). Every rule (names, settings, where
 * a tenant lives) is libauth's; this file parses and prints.
 */
#include "cli.h"

#include "cid.h"
#include "tenant.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char tenant_help[] =
    "usage: civicid tenant VERB [NAME] [options]\n"
    "\n"
    "  add NAME [--set KEY=VALUE ...]\n"
    "                       add a city: its issuer is ISSUER/t/NAME, its store\n"
    "                       STORE/tenants/NAME, its policies POLICIES/NAME/\n"
    "  list                 the cities, their issuers, whether each is disabled;\n"
    "                       a broken one as \"?\", its problem on stderr (exit 1)\n"
    "  show NAME            its issuer, signing keys, counts and the policy\n"
    "                       versions in force (opens it: makes its keys at first)\n"
    "  disable NAME         its issuer answers nothing from now on; data is kept\n"
    "  adopt NAME [--set KEY=VALUE ...] [--move-policies]\n"
    "                       turn the store's single city into its first tenant:\n"
    "                       the store moves to STORE/tenants/NAME (stop the server\n"
    "                       first), its audit log records it and still verifies;\n"
    "                       with --move-policies, POLICIES/*.policy move to\n"
    "                       POLICIES/NAME/ too\n"
    "\n"
    "  --set KEY=VALUE      a setting of the city: city_name_ja, city_name_en,\n"
    "                       city_logo, default_locale, timezone, controller_name,\n"
    "                       controller_contact, controller_address, controller_email,\n"
    "                       controller_phone, policy_url, jurisdiction; or, at\n"
    "                       add, host: serve the city at a host of its own\n"
    "                       (issuer SCHEME://HOST, at its root) instead of /t/NAME\n"
    "  --name-ja TEXT       short for --set city_name_ja=TEXT\n"
    "  --name-en TEXT       short for --set city_name_en=TEXT\n"
    "  -s, --store DIR      LMDB store directory (default ./var/civicid)\n"
    "  -c, --config FILE    read the server's configuration (issuer, policies)\n"
    "      --json           print JSON\n"
    "\n"
    "Names are 1-63 of a-z 0-9 and '-', not at either end. Once a store has a\n"
    "tenant, every other command needs --tenant NAME.\n";

#define MAX_SETTINGS 32

struct tenant_opts {
	struct cli_common common;
	const char *keys[MAX_SETTINGS];
	const char *values[MAX_SETTINGS];
	size_t n;
	bool move_policies; /* adopt: the single city's policy files go with it */
};

static int add_setting(struct tenant_opts *o, const char *key, const char *value)
{
	if (o->n >= MAX_SETTINGS)
		return cli_usage("tenant", "too many settings");
	o->keys[o->n] = key;
	o->values[o->n] = value;
	o->n++;
	return 0;
}

static int parse(int argc, char **argv, struct tenant_opts *o)
{
	static const struct option opts[] = {
	    CLI_COMMON_OPTIONS,
	    {"set", required_argument, NULL, 'S'},
	    {"name-ja", required_argument, NULL, 'J'},
	    {"name-en", required_argument, NULL, 'E'},
	    {"move-policies", no_argument, NULL, 'M'},
	    {NULL, 0, NULL, 0},
	};
	int opt;
	int rc = 0;

	optind = 1;
	while (rc == 0 && (opt = getopt_long(argc, argv, CLI_COMMON_SHORT, opts, NULL)) != -1) {
		char *eq;

		switch (opt) {
		case 'J': rc = add_setting(o, "city_name_ja", optarg); break;
		case 'E': rc = add_setting(o, "city_name_en", optarg); break;
		case 'M': o->move_policies = true; break;
		case 'S':
			eq = strchr(optarg, '=');
			if (eq == NULL || eq == optarg)
				return cli_usage("tenant", "--set takes KEY=VALUE");
			/* argv's strings are the program's to change (C17 5.1.2.2.1) */
			*eq = '\0';
			rc = add_setting(o, optarg, eq + 1);
			break;
		default:
			if (!cli_common_option(&o->common, opt, optarg))
				return cli_usage("tenant", "unknown option");
			break;
		}
	}
	return rc;
}

/* The server's config (defaults, --config, --store), not a tenant's. */
static int base_config(const struct tenant_opts *o, struct cid_config **out)
{
	char err[512];

	if (cid_config_new(out) != CID_OK)
		return cli_fail("tenant", "configuration", CID_ERR_NOMEM);
	if (o->common.config != NULL &&
	    cid_config_load(*out, o->common.config, err, sizeof(err)) != CID_OK) {
		fprintf(stderr, "civicid tenant: %s\n", err);
		return 2;
	}
	if (o->common.store != NULL &&
	    cid_config_set(*out, "store", o->common.store, err, sizeof(err)) != CID_OK) {
		fprintf(stderr, "civicid tenant: --store: %s\n", err);
		return 2;
	}
	return 0;
}

static void print_row(const json_t *row)
{
	const char *issuer = json_string_value(json_object_get(row, "issuer"));

	printf("%-24s %s%s%s\n", json_string_value(json_object_get(row, "name")),
	       issuer != NULL ? issuer : "?",
	       json_is_true(json_object_get(row, "disabled")) ? "  (disabled)" : "",
	       json_object_get(row, "error") != NULL ? "  (broken: see stderr)" : "");
}

/*
 * Lists every tenant, a broken one too (issuer "?"); then names each broken
 * one and its problem on stderr, and fails: the list is whole, the store not.
 */
static int verb_list(const struct cid_config *base, bool json)
{
	json_t *all = NULL;
	enum cid_err rc = cid_tenant_list(base, &all);
	size_t i;
	const json_t *row;
	int status;

	json_incref(all); /* cli_print_list takes one reference */
	status = cli_print_list("tenant", rc, all, json, print_row);
	fflush(stdout);
	json_array_foreach(all, i, row)
	{
		const char *error = json_string_value(json_object_get(row, "error"));

		if (error == NULL)
			continue;
		fprintf(stderr, "civicid tenant: tenant %s: %s\n",
			json_string_value(json_object_get(row, "name")), error);
		status = status != 0 ? status : 1;
	}
	json_decref(all);
	return status;
}

static void print_show(const json_t *show)
{
	size_t i;
	const json_t *v;
	const json_t *c = json_object_get(show, "counts");

	printf("name:     %s%s\n", json_string_value(json_object_get(show, "name")),
	       json_is_true(json_object_get(show, "disabled")) ? " (disabled)" : "");
	printf("issuer:   %s\n", json_string_value(json_object_get(show, "issuer")));
	printf("store:    %s\n", json_string_value(json_object_get(show, "store")));
	printf("policies: %s\n", json_string_value(json_object_get(show, "policies_dir")));
	printf("city:     %s / %s\n", json_string_value(json_object_get(show, "city_name_ja")),
	       json_string_value(json_object_get(show, "city_name_en")));
	json_array_foreach(json_object_get(show, "keys"), i, v)
	    printf("key:      %s (%s)\n", json_string_value(json_object_get(v, "kid")),
		   json_string_value(json_object_get(v, "state")));
	printf("counts:   %lld citizens, %lld services, %lld officers, %lld audit entries\n",
	       (long long)json_integer_value(json_object_get(c, "citizens")),
	       (long long)json_integer_value(json_object_get(c, "services")),
	       (long long)json_integer_value(json_object_get(c, "officers")),
	       (long long)json_integer_value(json_object_get(c, "audit_entries")));
	json_array_foreach(json_object_get(show, "policies"), i, v)
	    printf("policy:   %s %s\n", json_string_value(json_object_get(v, "service")),
		   json_string_value(json_object_get(v, "version")));
}

static int verb_show(const struct cid_config *base, const char *name, bool json)
{
	struct cid_config *cfg = NULL;
	struct cid_ctx *ctx = NULL;
	json_t *show = NULL;
	bool disabled = false;
	char err[512] = "";
	enum cid_err rc = cid_tenant_config(base, name, &cfg, &disabled, err, sizeof(err));
	int status = 1;

	if (rc != CID_OK) {
		fprintf(stderr, "civicid tenant: %s\n", err[0] != '\0' ? err : cid_strerror(rc));
		goto out;
	}
	/* a look, not a server: the CLI's issuer must not become the log's */
	rc = cid_ctx_open_flags(cfg, cli_now(), CID_CTX_NO_ISSUER, stderr, &ctx);
	if (rc != CID_OK) {
		fprintf(stderr, "civicid tenant: cannot open %s (store %s, policies %s): %s\n",
			name, cfg->store_dir, cfg->policies_dir, cid_strerror(rc));
		goto out;
	}
	rc = cid_tenant_show(ctx, name, disabled, &show);
	if (rc != CID_OK) {
		status = cli_fail("tenant", "show", rc);
		goto out;
	}
	if (json) {
		status = cli_print_json(show);
		show = NULL;
	} else {
		print_show(show);
		status = 0;
	}
out:
	json_decref(show);
	cid_ctx_close(ctx);
	cid_config_free(cfg);
	return status;
}

/* add or adopt */
static int verb_add(const struct cid_config *base, const struct tenant_opts *o, const char *name,
		    bool adopt)
{
	char err[512] = "";
	struct cid_config *cfg = NULL;
	bool disabled = false;
	int status = 0;
	enum cid_err rc =
	    adopt ? cid_tenant_adopt(base, name, o->keys, o->values, o->n, cli_now(), err,
				     sizeof(err))
		  : cid_tenant_add(base, name, o->keys, o->values, o->n, err, sizeof(err));

	if (rc != CID_OK) {
		fprintf(stderr, "civicid tenant: %s: %s\n", adopt ? "adopt" : "add",
			err[0] != '\0' ? err : cid_strerror(rc));
		return rc == CID_ERR_INVALID || rc == CID_ERR_CONFIG ? 2 : 1;
	}
	if (adopt && o->move_policies &&
	    (rc = cid_tenant_move_policies(base, name, err, sizeof(err))) != CID_OK) {
		fprintf(stderr, "civicid tenant: adopted %s, but its policies: %s\n", name,
			err[0] != '\0' ? err : cid_strerror(rc));
		return 1;
	}
	/* its issuer as the registry makes it: below /t/NAME, or at its own host */
	rc = cid_tenant_config(base, name, &cfg, &disabled, err, sizeof(err));
	if (rc != CID_OK) {
		fprintf(stderr, "civicid tenant: %s %s, but it does not open: %s\n", name,
			adopt ? "adopted" : "added", err[0] != '\0' ? err : cid_strerror(rc));
		return 1;
	}
	if (o->common.json)
		status = cli_print_json(json_pack("{s:s, s:b, s:s}", "name", name, "adopted", adopt,
						  "issuer", cfg->issuer));
	else
		printf("tenant %s %s: issuer %s, policies %s/%s/\n", name,
		       adopt ? "adopted" : "added", cfg->issuer, base->policies_dir, name);
	cid_config_free(cfg);
	return status;
}

int cid_cli_tenant(int argc, char **argv)
{
	struct tenant_opts o = {0};
	struct cid_config *base = NULL;
	const char *verb;
	const char *name;
	bool adding;
	int status;
	enum cid_err rc;

	if (argc < 2 || cli_wants_help(argc, argv))
		return argc < 2 ? cli_usage("tenant", "a verb is needed") : cli_help(tenant_help);
	verb = argv[1];
	status = parse(argc - 1, argv + 1, &o);
	if (status == 0)
		status = base_config(&o, &base);
	if (status != 0)
		goto out;
	name = optind + 1 < argc ? argv[optind + 1] : NULL;
	adding = strcmp(verb, "add") == 0 || strcmp(verb, "adopt") == 0;
	/* an option a verb does not take is a mistake to say, not to drop */
	if (o.n > 0 && !adding) {
		status =
		    cli_usage("tenant", "--set, --name-ja and --name-en are for add and adopt");
	} else if (o.move_policies && strcmp(verb, "adopt") != 0) {
		status = cli_usage("tenant", "--move-policies is for adopt");
	} else if (strcmp(verb, "list") == 0) {
		status = name == NULL ? verb_list(base, o.common.json)
				      : cli_usage("tenant", "list takes no NAME");
	} else if (name == NULL || optind + 2 < argc) {
		status = cli_usage("tenant", "one NAME is needed");
	} else if (adding) {
		status = verb_add(base, &o, name, strcmp(verb, "adopt") == 0);
	} else if (strcmp(verb, "show") == 0) {
		status = verb_show(base, name, o.common.json);
	} else if (strcmp(verb, "disable") == 0) {
		rc = cid_tenant_disable(base, name);
		status = rc == CID_OK ? 0 : cli_fail("tenant", name, rc);
		if (status == 0 && o.common.json)
			status =
			    cli_print_json(json_pack("{s:s, s:b}", "name", name, "disabled", true));
		else if (status == 0)
			printf("tenant %s disabled: its issuer answers nothing from now on\n",
			       name);
	} else {
		status = cli_usage("tenant", "unknown verb");
	}
out:
	cid_config_free(base);
	return status;
}
