/*
 * policy: `civicid policy check|show|reload`. check and show load policies
 * exactly as the server does (libauth/privacy/policy_load.c), so a file that passes
 * `check` is one the server accepts, and `show` prints what the consent
 * screen is built from; neither opens the store. reload only asks: it bumps a
 * counter in the store that every running server polls, and each server
 * reloads its own policy directory (or keeps the old policies, saying why on
 * its stderr).
 */
#include "cli.h"

#include "cid.h"
#include "policy.h"
#include "policy_law.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DEFAULT_DIR "./policies"

static const char policy_help[] =
    "usage: civicid policy VERB [options]\n"
    "\n"
    "  check [FILE|DIR]...  parse the policies (every *.policy file of each DIR;\n"
    "                       default ./policies) as one set, as the server loads\n"
    "                       them; print every error as file:line: message and\n"
    "                       exit 1 if there is any, else each service and version\n"
    "  show SERVICE         the service's policy: purposes, texts, basis, rules\n"
    "  register [--format csv|json] [--lang ja|en]\n"
    "                       the personal information file register (個人情報ファイル簿)\n"
    "                       of the policies of --dir: file name, organ, purpose of\n"
    "                       use, items, persons covered, collection method,\n"
    "                       要配慮個人情報, regular recipients (default csv, ja);\n"
    "                       the citations are checked as for local_government\n"
    "  reload               ask the servers on the store to reload their policies\n"
    "                       (within 5 s; SIGHUP does it at once). Check first: a\n"
    "                       server that finds an error keeps its old policies\n"
    "\n"
    "  -d, --dir DIR        (show, register) the policy directory (default ./policies)\n"
    "      --controller-type T\n"
    "                       (check) also check what controller_type T asks:\n"
    "                       local_government or business (README: the records\n"
    "                       Japanese law names)\n"
    "  -s, --store DIR      (reload) LMDB store directory (default ./var/civicid)\n"
    "  -c, --config FILE    (reload) read the store from FILE\n"
    "      --json           print JSON\n"
    "\n"
    "The format is described in policies/README.md.\n";

/* Appends the paths an argument names: the file itself, or a directory's policies. */
static int add_paths(const char *arg, char ***paths, size_t *n, size_t *cap)
{
	struct stat st;
	char **found = NULL;
	size_t n_found = 0;
	enum cid_err rc;

	if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode)) {
		rc = cid_policy_list_dir(arg, &found, &n_found);
		if (rc == CID_ERR_IO) {
			perror(arg);
			return 1;
		}
		if (rc != CID_OK)
			return cli_fail("policy", arg, rc);
	} else {
		found = calloc(1, sizeof(*found));
		if (found == NULL || (found[0] = strdup(arg)) == NULL) {
			free(found);
			return cli_fail("policy", arg, CID_ERR_NOMEM);
		}
		n_found = 1;
	}
	if (*n + n_found > *cap) {
		size_t want = *n + n_found + 8;
		char **grown = realloc(*paths, want * sizeof(*grown));
		if (grown == NULL) {
			cid_policy_paths_free(found, n_found);
			return cli_fail("policy", arg, CID_ERR_NOMEM);
		}
		*paths = grown;
		*cap = want;
	}
	for (size_t i = 0; i < n_found; i++)
		(*paths)[(*n)++] = found[i];
	free(found); /* the strings now belong to *paths */
	return 0;
}

/* The lines of an error text as a JSON array; NULL when out of memory. */
static json_t *error_lines(const char *text, size_t len)
{
	json_t *a = json_array();

	for (size_t pos = 0; a != NULL && pos < len;) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl == NULL ? len - pos : (size_t)(nl - (text + pos));
		if (json_array_append_new(a, json_stringn(text + pos, n)) != 0) {
			json_decref(a);
			return NULL;
		}
		pos += n + 1;
	}
	return a;
}

/* Prints what check loaded; returns 0, or 1 when the JSON answer could not be built. */
static int print_check(const struct cid_policyset *ps, bool json)
{
	size_t n = cid_policyset_count(ps);
	json_t *list = json_array();
	bool complete = list != NULL;

	if (!json)
		printf("%zu policies OK\n", n);
	for (size_t i = 0; i < n; i++) {
		const char *service = cid_policyset_service(ps, i);
		const char *version = cid_policyset_version(ps, service);
		json_t *d = NULL;
		const char *file = "";

		if (cid_policy_describe(ps, service, &d) == CID_OK)
			file = json_string_value(json_object_get(d, "file"));
		if (!json)
			printf("  %-24s %s  %s\n", service, version, file);
		else if (json_array_append_new(list,
					       json_pack("{s:s, s:s, s:s}", "service", service,
							 "version", version, "file", file)) != 0)
			complete = false;
		json_decref(d);
	}
	if (!json) {
		json_decref(list);
		return 0;
	}
	if (!complete) { /* a list short of a policy is no answer */
		json_decref(list);
		return cli_print_json(NULL);
	}
	return cli_print_json(json_pack("{s:b, s:o, s:[]}", "ok", 1, "policies", list, "errors"));
}

static int check(int argc, char **argv, bool json, const char *controller_type)
{
	char **paths = NULL, *text = NULL;
	size_t n = 0, cap = 0, len = 0;
	struct cid_policyset *ps = NULL;
	FILE *errors = stderr;
	int status = 0;

	if (argc == 0)
		status = add_paths(DEFAULT_DIR, &paths, &n, &cap);
	for (int i = 0; status == 0 && i < argc; i++)
		status = add_paths(argv[i], &paths, &n, &cap);
	if (status != 0)
		goto out;
	if (json && (errors = open_memstream(&text, &len)) == NULL) {
		status = cli_fail("policy", "check", CID_ERR_NOMEM);
		goto out;
	}
	enum cid_controller_type type = CID_CONTROLLER_UNDECLARED;
	if (!cid_controller_type_parse(controller_type, &type)) {
		if (json)
			fclose(errors);
		status = cli_usage("policy", "--controller-type is local_government or business");
		goto out;
	}
	enum cid_err rc = cid_policyset_load((const char *const *)paths, n, errors, &ps);
	if (rc == CID_OK) {
		rc = cid_policyset_law_check(ps, type, errors);
		if (rc != CID_OK) {
			cid_policyset_free(ps);
			ps = NULL;
		}
	}
	if (json)
		fclose(errors);
	if (rc == CID_OK) {
		status = print_check(ps, json);
		if (n == 0)
			fprintf(stderr, "civicid policy: no *.policy files: every release would be "
					"denied\n");
	} else if (rc == CID_ERR_CONFIG || rc == CID_ERR_IO) {
		/* 1 whether or not the answer prints: the files do not load */
		status = 1;
		if (!json)
			fprintf(stderr, "civicid policy: %zu file(s) checked: errors above\n", n);
		else if (cli_print_json(json_pack("{s:b, s:[], s:o}", "ok", 0, "policies", "errors",
						  error_lines(text, len))) != 0)
			status = 1;
	} else {
		status = cli_fail("policy", "check", rc);
	}
out:
	cid_policyset_free(ps);
	cid_policy_paths_free(paths, n);
	free(text);
	return status;
}

static void print_rules(const json_t *rules, const char *verb)
{
	size_t i;
	const json_t *r;

	json_array_foreach(rules, i, r)
	{
		const json_t *level = json_object_get(r, "level");
		printf("    %-6s %-24s", verb, json_string_value(json_object_get(r, "attribute")));
		if (level != NULL)
			printf(" level %lld", (long long)json_integer_value(level));
		else
			printf("        ");
		printf("  %s\n", json_string_value(json_object_get(r, "rule")));
	}
}

static const char *text_of(const json_t *o, const char *a, const char *b)
{
	return json_string_value(json_object_get(json_object_get(o, a), b));
}

static void print_policy(const json_t *d)
{
	size_t i;
	const json_t *p;

	printf("%s: %s / %s\n", json_string_value(json_object_get(d, "service")),
	       text_of(d, "name", "ja"), text_of(d, "name", "en"));
	printf("  file %s, version %s\n", json_string_value(json_object_get(d, "file")),
	       json_string_value(json_object_get(d, "version")));
	printf("  subject %s\n", json_string_value(json_object_get(d, "subject")));
	json_array_foreach(json_object_get(d, "purposes"), i, p)
	{
		const char *basis = json_string_value(json_object_get(p, "basis"));

		printf("\n  purpose %s\n", json_string_value(json_object_get(p, "id")));
		printf("    ja: %s\n    en: %s\n", text_of(p, "text", "ja"),
		       text_of(p, "text", "en"));
		if (strcmp(basis, "statute") == 0)
			printf("    basis statute: %s\n",
			       json_string_value(json_object_get(p, "statute")));
		else
			printf("    basis consent, valid %lld days\n",
			       (long long)json_integer_value(
				   json_object_get(p, "consent_valid_days")));
		printf("    retention %lld days\n",
		       (long long)json_integer_value(json_object_get(p, "retention_days")));
		printf("    category %s\n", json_string_value(json_object_get(p, "category")));
		printf("    digest %s\n", json_string_value(json_object_get(p, "digest")));
		print_rules(json_object_get(p, "permit"), "permit");
		print_rules(json_object_get(p, "deny"), "deny");
	}
}

static int show(const char *service, const char *dir, bool json)
{
	struct cid_policyset *ps = NULL;
	json_t *d = NULL;
	enum cid_err rc = cid_policyset_load_dir(dir, stderr, &ps);

	if (rc == CID_ERR_CONFIG || rc == CID_ERR_IO) {
		fprintf(stderr, "civicid policy: the policies of %s do not load: errors above\n",
			dir);
		return 1;
	}
	if (rc != CID_OK)
		return cli_fail("policy", dir, rc);
	rc = cid_policy_describe(ps, service, &d);
	cid_policyset_free(ps);
	if (rc == CID_ERR_NOTFOUND) {
		fprintf(stderr, "civicid policy: no policy for service '%s' in %s\n", service, dir);
		return 1;
	}
	if (rc != CID_OK)
		return cli_fail("policy", "show", rc);
	if (json)
		return cli_print_json(d);
	print_policy(d);
	json_decref(d);
	return 0;
}

static int policy_register(const char *dir, const char *format, const char *lang)
{
	struct cid_policyset *ps = NULL;
	json_t *reg = NULL;
	bool csv = format == NULL || strcmp(format, "csv") == 0;
	enum cid_err rc;

	if (!csv && strcmp(format, "json") != 0)
		return cli_usage("policy", "--format is csv or json");
	if (lang == NULL)
		lang = "ja";
	if (strcmp(lang, "ja") != 0 && strcmp(lang, "en") != 0)
		return cli_usage("policy", "--lang is ja or en");
	rc = cid_policyset_load_dir_law(dir, "local_government", stderr, &ps);
	if (rc == CID_ERR_CONFIG || rc == CID_ERR_IO) {
		fprintf(stderr, "civicid policy: the policies of %s do not load: errors above\n",
			dir);
		return 1;
	}
	if (rc != CID_OK)
		return cli_fail("policy", dir, rc);
	rc = cid_policy_register(ps, stderr, &reg);
	cid_policyset_free(ps);
	if (rc == CID_ERR_CONFIG) {
		fprintf(stderr,
			"civicid policy: register: the policies of %s lack the register's "
			"texts: errors above\n",
			dir);
		return 1;
	}
	if (rc == CID_OK)
		rc = cid_policy_register_write(reg, lang, csv, stdout);
	json_decref(reg);
	return rc == CID_OK ? 0 : cli_fail("policy", "register", rc);
}

static int reload(const struct cli_common *common)
{
	struct cli_env env;
	uint64_t counter = 0;
	int status = cli_open("policy", common, &env);
	enum cid_err rc;

	if (status != 0)
		return status;
	rc = cid_policies_request_reload(env.store, &counter);
	if (rc != CID_OK) {
		status = cli_fail("policy", "reload", rc);
	} else if (common->json) {
		status =
		    cli_print_json(json_pack("{s:b, s:I, s:s}", "requested", 1, "counter",
					     (json_int_t)counter, "store", env.cfg->store_dir));
	} else {
		printf("reload requested (%llu): servers on %s reload their policies within 5 s;\n"
		       "a server that finds an error keeps its old policies and says why on "
		       "its stderr\n",
		       (unsigned long long)counter, env.cfg->store_dir);
	}
	cli_close(&env);
	return status;
}

int cid_cli_policy(int argc, char **argv)
{
	static const struct option opts[] = {
	    CLI_COMMON_OPTIONS,
	    {"dir", required_argument, NULL, 'd'},
	    {"format", required_argument, NULL, 'F'},
	    {"lang", required_argument, NULL, 'L'},
	    {"controller-type", required_argument, NULL, 'T'},
	    {NULL, 0, NULL, 0},
	};
	const char *dir = DEFAULT_DIR, *format = NULL, *lang = NULL, *controller_type = NULL;
	struct cli_common common = {0};
	bool is_check, is_reload, is_register;
	int opt;

	if (argc < 2 || cli_wants_help(argc, argv))
		return argc < 2 ? (fputs(policy_help, stderr), 2) : cli_help(policy_help);
	const char *verb = argv[1];
	is_check = strcmp(verb, "check") == 0;
	is_reload = strcmp(verb, "reload") == 0;
	is_register = strcmp(verb, "register") == 0;
	if (!is_check && !is_reload && !is_register && strcmp(verb, "show") != 0)
		return cli_usage("policy", "unknown verb");
	optind = 1;
	while ((opt = getopt_long(argc - 1, argv + 1, is_check ? "" : "d:s:c:", opts, NULL)) !=
	       -1) {
		switch (opt) {
		case 'F':
		case 'L':
			if (!is_register)
				return cli_usage("policy", "--format and --lang go with register");
			*(opt == 'F' ? &format : &lang) = optarg;
			break;
		case 'T':
			if (!is_check)
				return cli_usage("policy", "--controller-type goes with check");
			controller_type = optarg;
			break;
		case 'd':
			if (is_check)
				return cli_usage("policy", "check takes files and directories, not "
							   "--dir");
			if (is_reload)
				return cli_usage("policy", "reload takes no --dir: each server "
							   "reloads its own directory");
			dir = optarg;
			break;
		case 's':
		case 'c':
			if (!is_reload)
				return cli_usage("policy", "--store and --config go with reload");
			(void)cli_common_option(&common, opt, optarg); /* common: it takes them */
			break;
		default:
			if (!cli_common_option(&common, opt, optarg))
				return cli_usage("policy", "unknown option");
			break;
		}
	}
	argc -= optind + 1;
	argv += optind + 1;
	if (is_check)
		return check(argc, argv, common.json, controller_type);
	if (is_reload) {
		if (argc != 0)
			return cli_usage("policy", "reload takes no argument");
		return reload(&common);
	}
	if (is_register) {
		if (argc != 0 || common.json)
			return cli_usage("policy", "register takes no argument (--format json for "
						   "JSON)");
		return policy_register(dir, format, lang);
	}
	if (argc != 1)
		return cli_usage("policy", "show takes one SERVICE");
	return show(argv[0], dir, common.json);
}
