/*
 * common: what every CLI command shares, so that each reads the config,
 * opens the store, reads secrets and reports errors the same way.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "buf.h"
#include "crypto.h"
#include "tenant.h"

bool cli_common_option(struct cli_common *o, int opt, const char *arg)
{
	switch (opt) {
	case 's': o->store = arg; return true;
	case 'c': o->config = arg; return true;
	case 'j': o->json = true; return true;
	case CLI_OPT_TENANT: o->tenant = arg; return true;
	default: return false;
	}
}

/* getopt_long over argv with the common options and args'; leaves optind at the operands. */
static int parse_options(const char *cmd, int argc, char **argv, struct cli_common *common,
			 const struct cli_arg *args, size_t n)
{
	static const struct option common_opts[] = {CLI_COMMON_OPTIONS};

	enum { N_COMMON = sizeof(common_opts) / sizeof(common_opts[0]) };

	/* an option of args[i] is told by its getopt value, past every other one */
	enum { FIRST = CLI_OPT_TENANT + 1 };
	struct option opts[N_COMMON + CLI_MAX_ARGS + 1];
	int opt;

	if (n > CLI_MAX_ARGS)
		return cli_usage(cmd, "too many options (a bug)");
	memset(opts, 0, sizeof(opts));
	memcpy(opts, common_opts, sizeof(common_opts));
	for (size_t i = 0; i < n; i++)
		opts[N_COMMON + i] =
		    (struct option){args[i].name, required_argument, NULL, FIRST + (int)i};
	optind = 1;
	while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORT, opts, NULL)) != -1) {
		if (opt >= FIRST && opt < FIRST + (int)n)
			*args[opt - FIRST].out = optarg;
		else if (!cli_common_option(common, opt, optarg))
			return cli_usage(cmd, "unknown option");
	}
	return 0;
}

int cli_parse_args(const char *cmd, int argc, char **argv, struct cli_common *common,
		   const struct cli_arg *args, size_t n)
{
	int rc = parse_options(cmd, argc, argv, common, args, n);

	if (rc != 0)
		return rc;
	if (optind != argc)
		return cli_usage(cmd, "unexpected argument");
	return 0;
}

int cli_parse_operand(const char *cmd, int argc, char **argv, struct cli_common *common,
		      const struct cli_arg *args, size_t n, const char *missing,
		      const char **operand)
{
	int rc = parse_options(cmd, argc, argv, common, args, n);

	if (rc != 0)
		return rc;
	if (optind == argc)
		return cli_usage(cmd, missing);
	if (optind + 1 != argc)
		return cli_usage(cmd, "unexpected argument");
	*operand = argv[optind];
	return 0;
}

/*
 * With --tenant, replaces env->cfg by the tenant's; without, refuses a store
 * that has tenants. Returns 0, or 2 after saying why.
 */
static int cli_tenant(const char *cmd, const struct cli_common *o, struct cli_env *env)
{
	struct cid_config *cfg = NULL;
	char err[512] = "";
	enum cid_err rc;

	if (o->tenant == NULL) {
		if (!cid_tenant_any(env->cfg))
			return 0;
		fprintf(stderr,
			"civicid %s: the store %s holds several cities: name one with --tenant "
			"NAME (see civicid tenant list)\n",
			cmd, env->cfg->store_dir);
		return 2;
	}
	rc = cid_tenant_config(env->cfg, o->tenant, &cfg, NULL, err, sizeof(err));
	if (rc != CID_OK) {
		fprintf(stderr, "civicid %s: --tenant: %s\n", cmd,
			err[0] != '\0' ? err : cid_strerror(rc));
		return 2;
	}
	cid_config_free(env->cfg);
	env->cfg = cfg;
	return 0;
}

int cli_open(const char *cmd, const struct cli_common *o, struct cli_env *env)
{
	char err[512];
	enum cid_err rc;

	env->cfg = NULL;
	env->store = NULL;
	if (cid_config_new(&env->cfg) != CID_OK)
		return cli_fail(cmd, "configuration", CID_ERR_NOMEM);
	if (o->config != NULL && cid_config_load(env->cfg, o->config, err, sizeof(err)) != CID_OK) {
		fprintf(stderr, "civicid %s: %s\n", cmd, err);
		cli_close(env);
		return 2;
	}
	if (o->store != NULL &&
	    cid_config_set(env->cfg, "store", o->store, err, sizeof(err)) != CID_OK) {
		fprintf(stderr, "civicid %s: --store: %s\n", cmd, err);
		cli_close(env);
		return 2;
	}
	if (cli_tenant(cmd, o, env) != 0) {
		cli_close(env);
		return 2;
	}
	rc = cid_store_open(env->cfg->store_dir, &env->store);
	if (rc != CID_OK) {
		fprintf(stderr, "civicid %s: cannot open the store %s: %s\n", cmd,
			env->cfg->store_dir, cid_strerror(rc));
		cli_close(env);
		return 1;
	}
	return 0;
}

void cli_close(struct cli_env *env)
{
	cid_store_close(env->store);
	cid_config_free(env->cfg);
	env->store = NULL;
	env->cfg = NULL;
}

int cli_fail(const char *cmd, const char *what, enum cid_err rc)
{
	fprintf(stderr, "civicid %s: %s: %s\n", cmd, what, cid_strerror(rc));
	return 1;
}

int cli_usage(const char *cmd, const char *message)
{
	fprintf(stderr, "civicid %s: %s (see civicid %s --help)\n", cmd, message, cmd);
	return 2;
}

char *cli_read_secret(const char *cmd, const char *path, size_t max)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "re");
	char *buf = NULL;
	size_t n = 0;

	if (f == NULL) {
		fprintf(stderr, "civicid %s: %s: %s\n", cmd, path, strerror(errno));
		return NULL;
	}
	buf = malloc(max + 3);
	if (buf == NULL)
		goto fail;
	n = fread(buf, 1, max + 2, f);
	if (ferror(f)) {
		fprintf(stderr, "civicid %s: cannot read the secret from %s\n", cmd, path);
		goto fail;
	}
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	if (n == 0 || n > max || memchr(buf, '\0', n) != NULL) {
		fprintf(stderr,
			"civicid %s: the secret from %s is empty, too long (max %zu bytes) or "
			"holds NUL\n",
			cmd, path, max);
		goto fail;
	}
	buf[n] = '\0';
	if (f != stdin)
		fclose(f);
	return buf;
fail:
	if (buf != NULL)
		cid_wipe(buf, max + 3);
	free(buf);
	if (f != stdin)
		fclose(f);
	return NULL;
}

int cli_print_json(json_t *obj)
{
	char *s = obj == NULL ? NULL : cid_json_dumps(obj, JSON_INDENT(2) | JSON_SORT_KEYS);

	json_decref(obj);
	if (s == NULL) {
		fputs("civicid: out of memory: the JSON answer could not be built\n", stderr);
		return 1;
	}
	puts(s);
	free(s);
	return 0;
}

int cli_on_record(struct cli_env *env, const char *cmd, const char *command, const char *citizen,
		  uint64_t rows)
{
	struct cid_audit *log = NULL;
	enum cid_err rc = cid_audit_open(env->store, false, &log);

	if (rc == CID_OK)
		rc = cid_audit_operator_viewed(log, command, citizen, rows, cli_now());
	cid_audit_close(log);
	if (rc != CID_OK) {
		fprintf(stderr,
			"civicid %s: the read could not be put on the audit log (%s); nothing is "
			"shown\n",
			cmd, cid_strerror(rc));
		return 1;
	}
	return 0;
}

int cli_print_list(const char *cmd, enum cid_err rc, json_t *all, bool json,
		   void (*print_row)(const json_t *row))
{
	size_t i;
	const json_t *row;

	if (rc != CID_OK)
		return cli_fail(cmd, "list", rc);
	if (json)
		return cli_print_json(all);
	json_array_foreach(all, i, row) print_row(row);
	json_decref(all);
	return 0;
}

int cli_show_totp_secret(bool json, const char *key, const char *who, char *secret, char *uri,
			 const char *advice)
{
	int status = 0;

	if (json)
		status = cli_print_json(
		    json_pack("{s:s, s:s, s:s}", key, who, "secret", secret, "uri", uri));
	else
		printf("secret: %s\n"
		       "uri:    %s\n"
		       "(shown once: %s; civicid will not show it again)\n",
		       secret, uri, advice);
	cid_wipe(secret, strlen(secret));
	cid_wipe(uri, strlen(uri));
	free(secret);
	free(uri);
	return status;
}

bool cli_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return false;
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			return true;
	}
	return false;
}

int cli_help(const char *text)
{
	fputs(text, stdout);
	return 0;
}

int64_t cli_now(void)
{
	return (int64_t)time(NULL);
}

char *cli_read_file(const char *cmd, const char *path, size_t max, size_t *len)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t n = 0;

	if (f == NULL) {
		fprintf(stderr, "civicid %s: %s: %s\n", cmd, path, strerror(errno));
		return NULL;
	}
	buf = malloc(max + 2);
	if (buf != NULL)
		n = fread(buf, 1, max + 1, f);
	if (buf == NULL || ferror(f) || n > max) {
		fprintf(stderr, "civicid %s: %s: %s\n", cmd, path,
			buf == NULL ? "out of memory"
			: n > max   ? "too large"
				    : "read error");
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

int cli_audit_tree_ready(const char *cmd, struct cli_env *env)
{
	uint64_t left = 0;
	enum cid_err rc = cid_audit_tree_catch_up(env->store, 0, &left);

	if (rc == CID_OK && left > 0)
		fprintf(stderr,
			"civicid %s: building the audit log's Merkle tree over %llu entries "
			"written before it (once)\n",
			cmd, (unsigned long long)left);
	while (rc == CID_OK && left > 0)
		rc = cid_audit_tree_catch_up(env->store, CID_AUDIT_CATCH_UP, &left);
	if (rc != CID_OK)
		return cli_fail(cmd, "building the audit log's Merkle tree (see audit verify)", rc);
	return 0;
}

const char *cli_time(int64_t t, char buf[32])
{
	if (cid_audit_time(t, buf) != CID_OK)
		snprintf(buf, 32, "%lld", (long long)t);
	return buf;
}
