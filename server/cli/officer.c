/*
 * officer: `civicid audit officer add|list|disable|unlock`, the privacy officers
 * who may open the audit console. As for citizens, the password comes from
 * stdin or a file, never the command line, and the TOTP seed is printed once,
 * at creation: every officer logs in with password and code.
 */
#include "cli.h"

#include "crypto.h"
#include "officer.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char officer_help[] =
    "usage: civicid audit officer VERB [options]\n"
    "\n"
    "  add NAME (--password-stdin | --password-file FILE)\n"
    "                       create a privacy officer; prints the TOTP secret and\n"
    "                       its otpauth:// URI, once\n"
    "  list                 the officers, and whether each is disabled\n"
    "  disable NAME         refuse the officer's logins and end their sessions\n"
    "  unlock NAME          accept the officer's codes again after too many wrong\n"
    "                       ones in a row (they were typed with the right password)\n"
    "\n"
    "Options for every verb:\n"
    "  -s, --store DIR      LMDB store directory (default ./var/civicid)\n"
    "  -c, --config FILE    read argon2 parameters and the store from FILE\n"
    "      --json           print JSON\n"
    "\n"
    "Officers are not citizens: a citizen's login never opens the console at\n"
    "/officer. Names are 1-64 characters of A-Z a-z 0-9 . _ -; passwords 8-1024\n"
    "bytes. The console asks for the password and a code of the authenticator app\n"
    "(RFC 6238: SHA-1, 6 digits, 30 s) every time; a session lasts 30 minutes.\n";

struct officer_opts {
	struct cli_common common;
	const char *password_file;
};

static int parse(int argc, char **argv, struct officer_opts *o)
{
	static const struct option opts[] = {
	    CLI_COMMON_OPTIONS,
	    {"password-stdin", no_argument, NULL, 'P'},
	    {"password-file", required_argument, NULL, 'F'},
	    {NULL, 0, NULL, 0},
	};
	int opt;

	optind = 1;
	while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORT, opts, NULL)) != -1) {
		switch (opt) {
		case 'P': o->password_file = "-"; break;
		case 'F': o->password_file = optarg; break;
		default:
			if (!cli_common_option(&o->common, opt, optarg))
				return cli_usage("audit officer", "unknown option");
			break;
		}
	}
	return 0;
}

static int verb_add(struct cli_env *env, const struct officer_opts *o, const char *name)
{
	char *pw;
	char *secret = NULL;
	char *uri = NULL;
	enum cid_err rc;

	if (o->password_file == NULL)
		return cli_usage("audit officer", "add needs --password-stdin or --password-file");
	if (!cid_officer_name_ok(name))
		return cli_usage("audit officer", "a name is 1-64 characters of A-Z a-z 0-9 . _ -");
	pw = cli_read_secret("audit officer", o->password_file, CID_MAX_PASSWORD);
	if (pw == NULL)
		return 1;
	rc = cid_officer_add(env->store, &env->cfg->argon2, name, pw, cli_now(), &secret, &uri);
	cid_wipe(pw, strlen(pw));
	free(pw);
	if (rc == CID_ERR_EXISTS) {
		fprintf(stderr, "civicid audit officer: %s: an officer of that name exists\n",
			name);
		return 1;
	}
	if (rc == CID_ERR_INVALID) {
		fprintf(stderr, "civicid audit officer: %s: the password must be 8-1024 bytes\n",
			name);
		return 1;
	}
	if (rc != CID_OK)
		return cli_fail("audit officer", name, rc);
	if (!o->common.json)
		printf("privacy officer %s created\n", name);
	return cli_show_totp_secret(
	    o->common.json, "name", name, secret, uri,
	    "enrol it in the officer's authenticator app now, the URI as a QR code");
}

static void print_officer(const json_t *row)
{
	printf("%s%s\n", json_string_value(json_object_get(row, "name")),
	       json_is_true(json_object_get(row, "disabled")) ? "  (disabled)" : "");
}

static int verb_list(struct cli_env *env, const struct officer_opts *o)
{
	json_t *all = NULL;
	enum cid_err rc = cid_officer_list(env->store, &all);

	return cli_print_list("audit officer", rc, all, o->common.json, print_officer);
}

/* disable or unlock NAME */
static int verb_change(struct cli_env *env, const struct officer_opts *o, const char *verb,
		       const char *name)
{
	bool unlock = strcmp(verb, "unlock") == 0;
	enum cid_err rc =
	    unlock ? cid_officer_unlock(env->store, name) : cid_officer_disable(env->store, name);

	if (rc == CID_ERR_NOTFOUND) {
		fprintf(stderr, "civicid audit officer: %s: no such officer\n", name);
		return 1;
	}
	if (rc != CID_OK)
		return cli_fail("audit officer", name, rc);
	if (!o->common.json)
		printf("privacy officer %s %s\n", name,
		       unlock ? "unlocked: codes are accepted again" : "disabled");
	return 0;
}

int cid_cli_audit_officer(int argc, char **argv)
{
	struct officer_opts o = {0};
	struct cli_env env;
	const char *verb;
	bool list;
	int status;

	if (argc < 2 || cli_wants_help(argc, argv))
		return argc < 2 ? (fputs(officer_help, stderr), 2) : cli_help(officer_help);
	verb = argv[1];
	list = strcmp(verb, "list") == 0;
	if (!list && strcmp(verb, "add") != 0 && strcmp(verb, "disable") != 0 &&
	    strcmp(verb, "unlock") != 0)
		return cli_usage("audit officer", "unknown verb");
	status = parse(argc - 1, argv + 1, &o);
	if (status != 0)
		return status;
	if (argc - 1 - optind != (list ? 0 : 1))
		return cli_usage("audit officer",
				 list ? "unexpected argument" : "expected one NAME");
	if (o.password_file != NULL && strcmp(verb, "add") != 0)
		return cli_usage("audit officer",
				 "--password-stdin and --password-file go with add");
	status = cli_open("audit officer", &o.common, &env);
	if (status != 0)
		return status;
	if (list)
		status = verb_list(&env, &o);
	else if (strcmp(verb, "add") == 0)
		status = verb_add(&env, &o, argv[1 + optind]);
	else
		status = verb_change(&env, &o, verb, argv[1 + optind]);
	cli_close(&env);
	return status;
}
