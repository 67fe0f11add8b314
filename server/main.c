/*
 * civicid: one binary, one subcommand per concern. The table below is the
 * whole dispatch; each command lives in cli/.
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#ifndef CID_VERSION
#define CID_VERSION "dev"
#endif

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
    {"serve", cid_cli_serve, "run the OpenID Connect provider"},
    {"user", cid_cli_user, "manage citizens: add, list, show, set, disable, enable, passwd"},
    {"client", cid_cli_client, "manage services (relying parties): add, list, show, remove"},
    {"idp", cid_cli_idp, "upstream identity providers: add, list, show, remove"},
    {"keys", cid_cli_keys, "signing keys: list, rotate"},
    {"policy", cid_cli_policy, "release policies: check, show, reload"},
    {"consent", cid_cli_consent, "citizens' consent records: list, show, withdraw, grant"},
    {"audit", cid_cli_audit, "the audit log: verify, export, query, provisions; officers"},
    {"witness", cid_cli_witness, "a witness for transparency logs: init, add-log, serve, show"},
    {"tenant", cid_cli_tenant, "several cities on one server: add, list, show, disable, adopt"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: civicid COMMAND [options]\n\n"
		   "civicid is a city's single-sign-on server (OpenID Connect provider).\n\n"
		   "Commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nEvery command takes --help. Commands that use the store take\n"
		   "--store DIR (default ./var/civicid) and --config FILE, --tenant NAME\n"
		   "(the city, when the store has several), and --json for\n"
		   "output meant for scripts. Exit status: 0 done, 1 failed, 2 bad usage.\n");
}

/*
 * What a command printed (a client secret or a TOTP secret shown once, an
 * answer meant for a script) must have reached stdout: if not, it failed,
 * whatever it did, and says so. Returns the exit status.
 */
static int output_written(int status)
{
	if (fflush(stdout) == 0 && !ferror(stdout))
		return status;
	fprintf(stderr,
		"civicid: what this command printed could not be written (%s): what it did is "
		"done, but its output (a secret shown once, say) is lost\n",
		strerror(errno));
	return status == 0 ? 1 : status;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("civicid %s\n", CID_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return output_written(commands[i].run(argc - 1, argv + 1));
	fprintf(stderr, "civicid: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return 2;
}
