/*
 * cli: the command-line skin of civicid. Each subcommand is one function
 * taking the arguments after the subcommand name (argv[0] is the subcommand)
 * and returning the process exit status: 0 success, 1 failure of the
 * operation, 2 bad usage. Messages go to stderr as "civicid CMD: what: why";
 * results to stdout, as text or (with --json) one JSON document.
 */
#ifndef CID_CLI_H
#define CID_CLI_H

#include "audit.h"
#include "config.h"
#include "err.h"
#include "store.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

int cid_cli_serve(int argc, char **argv);
int cid_cli_user(int argc, char **argv);
int cid_cli_client(int argc, char **argv);
/* `civicid idp ...`: upstream identity providers (server/cli/idp.c). */
int cid_cli_idp(int argc, char **argv);
int cid_cli_keys(int argc, char **argv);
int cid_cli_policy(int argc, char **argv);
int cid_cli_consent(int argc, char **argv);
int cid_cli_audit(int argc, char **argv);
/* `civicid audit officer ...`: privacy-officer accounts (server/cli/officer.c). */
int cid_cli_audit_officer(int argc, char **argv);
/* `civicid witness ...`: a transparency-log witness with its own store (server/cli/witness.c). */
int cid_cli_witness(int argc, char **argv);
/* `civicid tenant ...`: the cities of a server (server/cli/tenant.c, tenant.h). */
int cid_cli_tenant(int argc, char **argv);

/* What every store-using command shares: the config and the open store. */
struct cli_env {
	struct cid_config *cfg;
	struct cid_store *store;
};

/* The options every store-using command takes; NULL/false when not given. */
struct cli_common {
	const char *store;  /* --store DIR, -s */
	const char *config; /* --config FILE, -c */
	bool json;	    /* --json */
	const char *tenant; /* --tenant NAME: the city of a store with several */
};

/* The getopt_long rows and short options of struct cli_common (needs <getopt.h>). */
#define CLI_COMMON_OPTIONS                                                                         \
	{"store", required_argument, NULL, 's'}, {"config", required_argument, NULL, 'c'},         \
	    {"json", no_argument, NULL, 'j'},                                                      \
	{                                                                                          \
		"tenant", required_argument, NULL, CLI_OPT_TENANT                                  \
	}
/* --tenant has no short form: its getopt value is past every character */
#define CLI_OPT_TENANT	 0x154
#define CLI_COMMON_SHORT "s:c:"

/* Records opt (with its optarg arg) if it is a common option; false if it is not. */
bool cli_common_option(struct cli_common *o, int opt, const char *arg);

/* A long option taking an argument, kept as given: --NAME ARG into *out. */
struct cli_arg {
	const char *name;
	const char **out;
};

/* The most options of a cli_arg table (cli_parse_args). */
#define CLI_MAX_ARGS 16

/*
 * Parses a command's options from argv[1..]: the common ones into *common,
 * and each --NAME ARG of args[0..n) into its *out (repeated: the last wins).
 * No argument may follow the options. Returns 0, or 2 after saying why (an
 * unknown option, an argument left over, more than CLI_MAX_ARGS in args).
 */
int cli_parse_args(const char *cmd, int argc, char **argv, struct cli_common *common,
		   const struct cli_arg *args, size_t n);

/*
 * As cli_parse_args, for a command that also takes one operand (an argument
 * that is no option, anywhere among them) into *operand, a pointer into
 * argv. Refuses as cli_parse_args does, and with the message missing when
 * there is no operand, "unexpected argument" when there are more.
 */
int cli_parse_operand(const char *cmd, int argc, char **argv, struct cli_common *common,
		      const struct cli_arg *args, size_t n, const char *missing,
		      const char **operand);

/*
 * Builds the config (defaults, then o->config if not NULL, then o->store if
 * not NULL), then, with o->tenant, that tenant's config (cid_tenant_config:
 * its issuer, store and policies), and opens the store. A store that has
 * tenants and no o->tenant is refused, saying so (status 2): no command
 * acts on a city it was not told. Prints the reason and returns non-zero on
 * failure. Release with cli_close.
 */
int cli_open(const char *cmd, const struct cli_common *o, struct cli_env *env);
void cli_close(struct cli_env *env);

/*
 * Puts the operator's read of citizens' data on the record before it is
 * printed (cid_audit_operator_viewed: command, the citizen's account id or
 * NULL for a listing of many, the records about to be printed). Returns 0,
 * or 1 after saying why: then nothing may be printed.
 */
int cli_on_record(struct cli_env *env, const char *cmd, const char *command, const char *citizen,
		  uint64_t rows);

/* Prints "civicid CMD: WHAT: <error text>" and returns 1. */
int cli_fail(const char *cmd, const char *what, enum cid_err rc);

/* Prints "civicid CMD: MESSAGE" (usage problems) and returns 2. */
int cli_usage(const char *cmd, const char *message);

/*
 * Reads a secret from path ("-" is stdin) into a new string (caller wipes and
 * frees): at most max bytes, one trailing newline (LF or CRLF) removed.
 * Returns NULL after printing why (empty, too long, unreadable).
 */
char *cli_read_secret(const char *cmd, const char *path, size_t max);

/*
 * Prints obj (stolen; NULL: it could not be built) as indented JSON on
 * stdout. Returns 0, or 1 after saying on stderr that there is no answer
 * (obj NULL, or out of memory): the exit status of a command that fails to
 * print its answer.
 */
CID_MUST_CHECK int cli_print_json(json_t *obj);

/*
 * Prints the list all (taken) that a list verb of cmd read with result rc:
 * the error (returns 1), else all as JSON with json, else print_row for each
 * element (returns 0).
 */
int cli_print_list(const char *cmd, enum cid_err rc, json_t *all, bool json,
		   void (*print_row)(const json_t *row));

/*
 * Shows a new TOTP secret and its otpauth URI, the one time they are shown:
 * with json, {key: who, "secret", "uri"}; else the lines "secret:", "uri:"
 * and "(shown once: ADVICE; civicid will not show it again)". Wipes and frees
 * secret and uri (taken). Returns 0, or 1 as cli_print_json.
 */
int cli_show_totp_secret(bool json, const char *key, const char *who, char *secret, char *uri,
			 const char *advice);

/* True if argv holds -h or --help (before any "--"). */
bool cli_wants_help(int argc, char **argv);

/* Prints a help text to stdout and returns 0. */
int cli_help(const char *text);

/* The current time as seconds since the epoch. */
int64_t cli_now(void);

/*
 * Reads the file at path (not a secret) into a new NUL-terminated buffer
 * (caller frees; *len its length): at most max bytes. Returns NULL after
 * printing "civicid CMD: PATH: why".
 */
char *cli_read_file(const char *cmd, const char *path, size_t max, size_t *len);

/*
 * Builds the audit log's Merkle tree if the store's lags (a store from
 * before the tree: cid_audit_tree_catch_up), saying so on stderr; what
 * signing, proving and exporting need. Returns 0, or 1 after saying why not.
 */
int cli_audit_tree_ready(const char *cmd, struct cli_env *env);

/* Reads a vkeys file (cid_audit_trust_parse) into a trust set; NULL after saying why. */
struct cid_audit_trust *cli_vkeys_read(const char *cmd, const char *path);

/* `civicid audit explain --seq N` (server/cli/audit_explain.c). */
int cid_cli_audit_explain(int argc, char **argv);

/* `civicid audit trail --citizen USER` (server/cli/audit_trail.c). */
int cid_cli_audit_trail(int argc, char **argv);
/* `civicid audit provisions` (server/cli/audit_provisions.c). */
int cid_cli_audit_provisions(int argc, char **argv);
/* `civicid audit purge|resolve|sweep` (server/cli/audit_purge.c). */
int cid_cli_audit_purge(int argc, char **argv);

/* `civicid audit prove|verify-proof|vkeys` (server/cli/audit_proof.c). */
int cid_cli_audit_proof(int argc, char **argv);

/*
 * t as the audit log writes times ("2027-01-15T08:00:00Z", cid_audit_time)
 * into buf, or the number itself when it has no such date. Returns buf.
 */
const char *cli_time(int64_t t, char buf[32]);

#endif
