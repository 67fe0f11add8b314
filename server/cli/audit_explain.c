/*
 * audit_explain: `civicid audit explain --seq N`: why one entry of the log
 * is what it is (libauth's cid_audit_explain does every check): the rule and
 * its line, the policy version with the exact ja/en notice the citizen was
 * shown under it, the consent records and their history, the time, how the
 * citizen authenticated. A mismatch it found is printed loudly on stderr and
 * fails the command.
 */
#include "cli.h"

#include "audit_explain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char explain_help[] =
    "usage: civicid audit explain --seq N [--json]\n"
    "\n"
    "  explain --seq N      entry N explained from the store: its time, type,\n"
    "                       decision and rule (with the rule's line), the policy\n"
    "                       version it was decided under and the exact ja/en notice\n"
    "                       of its purpose in that version (kept in the store since\n"
    "                       it was loaded: the file may have changed since), checked\n"
    "                       against the purpose digest the entry recorded; the\n"
    "                       consent records behind it, each with its history; how\n"
    "                       the citizen authenticated (acr, amr, time); an entry\n"
    "                       naming a citizen is a look at them: first recorded in\n"
    "                       the log as an operator.viewed entry (nothing is printed\n"
    "                       if it cannot be)\n"
    "\n"
    "  -s, --store DIR      LMDB store directory (default ./var/civicid)\n"
    "  -c, --config FILE    read the store from FILE\n"
    "      --json           print the explanation as JSON\n"
    "\n"
    "Exit status: 0 explained and every check held, 1 a mismatch (printed on\n"
    "stderr) or a failure, 2 bad usage.\n";

static const char *str_or(const json_t *o, const char *name, const char *dflt)
{
	const char *v = cid_json_str(o, name);

	return v != NULL ? v : dflt;
}

/* A list of strings joined by sep, on one line. */
static void print_list(const json_t *list, const char *sep)
{
	size_t i;
	const json_t *v;

	json_array_foreach(list, i, v)
	    printf("%s%s", i > 0 ? sep : "", json_is_string(v) ? json_string_value(v) : "?");
}

static void print_entry(const json_t *e)
{
	printf("entry %lld: %s at %s\n", (long long)json_integer_value(json_object_get(e, "seq")),
	       str_or(e, "type", "?"), str_or(e, "time", "?"));
	printf("  actor %s, service %s, citizen %s, endpoint %s\n", str_or(e, "actor", "-"),
	       str_or(e, "service", "-"), str_or(e, "citizen", "-"), str_or(e, "endpoint", "-"));
	if (cid_json_str(e, "decision") != NULL)
		printf("  decision %s (%s)\n", str_or(e, "decision", "-"),
		       str_or(e, "reason", "-"));
	if (cid_json_str(e, "purpose") != NULL)
		printf("  purpose %s, basis %s\n", str_or(e, "purpose", "-"),
		       str_or(e, "basis", "-"));
	if (json_is_array(json_object_get(e, "attributes"))) {
		printf("  attributes ");
		print_list(json_object_get(e, "attributes"), ", ");
		printf("\n");
	}
	if (cid_json_str(e, "request_id") != NULL)
		printf("  release id %s, grant %s\n", str_or(e, "request_id", "-"),
		       str_or(e, "grant_id", "-"));
}

static void print_policy(const json_t *x)
{
	const json_t *p = json_object_get(x, "policy");
	const json_t *n = json_object_get(x, "notice");
	const char *rule = cid_json_str(json_object_get(x, "entry"), "rule");

	const char *text = cid_json_str(p, "rule_line");

	/* one line quoted after the rule; the lines of several rules each on its own */
	if (rule != NULL) {
		if (text != NULL && strchr(text, '\n') == NULL) {
			printf("rule %s: \"%s\"\n", rule, text);
		} else {
			printf("rule %s\n", rule);
			for (const char *l = text; l != NULL;) {
				const char *nl = strchr(l, '\n');
				int len = nl == NULL ? (int)strlen(l) : (int)(nl - l);

				printf("  \"%.*s\"\n", len, l);
				l = nl == NULL ? NULL : nl + 1;
			}
		}
	}
	if (p == NULL)
		return;
	printf("policy version %s\n", str_or(p, "version", "?"));
	if (json_is_true(json_object_get(p, "archived")))
		printf("  %s of service %s, first loaded %s, text %s\n", str_or(p, "file", "?"),
		       str_or(p, "service", "?"), str_or(p, "loaded_at", "?"),
		       json_is_true(json_object_get(p, "intact"))
			   ? "intact (its SHA-256 is the version)"
			   : "CHANGED (not its version)");
	else
		printf("  not in the policy archive\n");
	if (n == NULL)
		return;
	printf("notice of purpose %s (basis %s%s%s, retention %lld days)\n",
	       str_or(n, "purpose", "?"), str_or(n, "basis", "?"),
	       cid_json_str(n, "statute") != NULL ? " " : "", str_or(n, "statute", ""),
	       (long long)json_integer_value(json_object_get(n, "retention_days")));
	printf("  ja: %s\n", str_or(n, "text_ja", ""));
	printf("  en: %s\n", str_or(n, "text_en", ""));
	printf("  purpose digest %s: %s\n", str_or(n, "digest", "?"),
	       json_is_true(json_object_get(n, "matches"))  ? "matches the entry's"
	       : cid_json_str(n, "digest_recorded") == NULL ? "the entry records none"
							    : "DOES NOT MATCH the entry's");
}

static void print_authentication(const json_t *a)
{
	if (a == NULL)
		return;
	printf("authentication: acr %s, amr ", str_or(a, "acr", "-"));
	if (json_array_size(json_object_get(a, "amr")) > 0)
		print_list(json_object_get(a, "amr"), " ");
	else
		printf("-");
	printf(", at %s", str_or(a, "auth_time", "-"));
	if (json_is_integer(json_object_get(a, "level")))
		printf(", level %lld", (long long)json_integer_value(json_object_get(a, "level")));
	printf("\n");
}

static void print_record(const char *indent, const json_t *r)
{
	char at[32];

	printf("%s%s %s at %s", indent, str_or(r, "id", "?"), str_or(r, "state", "?"),
	       cli_time(cid_json_int(r, "at"), at));
	if (cid_json_int(r, "expires_at") > 0)
		printf(" until %s", cli_time(cid_json_int(r, "expires_at"), at));
	printf(", %s, policy %.12s, purpose digest %.12s\n",
	       str_or(json_object_get(r, "how"), "method", "-"), str_or(r, "policy_version", "-"),
	       str_or(r, "purpose_digest", "-"));
}

static void print_consents(const json_t *list)
{
	size_t i, j;
	const json_t *c, *h;

	if (json_array_size(list) == 0)
		return;
	printf("consent records:\n");
	json_array_foreach(list, i, c)
	{
		const json_t *rec = json_object_get(c, "record");

		if (!json_is_object(rec)) {
			printf("  %s: NOT IN THE STORE\n", str_or(c, "id", "?"));
			continue;
		}
		print_record("  ", rec);
		printf("    attribute %s, %s\n", str_or(rec, "attribute", "?"),
		       json_is_true(json_object_get(c, "same_notice"))
			   ? "given under this notice"
			   : "given under another notice");
		printf("    history (oldest first):\n");
		json_array_foreach(json_object_get(c, "history"), j, h) print_record("      ", h);
	}
}

static int explain(struct cli_env *env, const char *seq_in, bool json)
{
	uint64_t seq = 0;
	json_t *x = NULL;
	enum cid_err rc;
	const json_t *problems;
	size_t i;
	const json_t *v;
	int status = 0;

	if (seq_in == NULL ||
	    cid_parse_u64(seq_in, strlen(seq_in), 0, (uint64_t)INT64_MAX, &seq) != CID_OK)
		return cli_usage("audit", "explain takes --seq N (a decimal number)");
	rc = cid_audit_explain(env->store, seq, &x);
	if (rc == CID_ERR_NOTFOUND) {
		fprintf(stderr, "civicid audit: explain: no entry %s in the log\n", seq_in);
		return 1;
	}
	if (rc != CID_OK)
		return cli_fail("audit", "explain", rc);
	/* the explanation shows a citizen's records: a look, on the record first */
	if (cid_json_str(json_object_get(x, "entry"), "citizen") != NULL &&
	    cli_on_record(env, "audit", "audit explain", cid_json_str(x, "account"), 1) != 0) {
		json_decref(x);
		return 1;
	}
	problems = json_object_get(x, "problems");
	if (json) {
		status = cli_print_json(json_incref(x));
	} else {
		print_entry(json_object_get(x, "entry"));
		print_policy(x);
		print_authentication(json_object_get(x, "authentication"));
		print_consents(json_object_get(x, "consents"));
		json_array_foreach(json_object_get(x, "gaps"), i, v)
		    printf("not checked: %s\n", json_string_value(v));
	}
	json_array_foreach(problems, i, v)
	    fprintf(stderr, "civicid audit: explain: entry %s: %s\n", seq_in, json_string_value(v));
	if (json_array_size(problems) > 0)
		status = 1;
	json_decref(x);
	return status;
}

int cid_cli_audit_explain(int argc, char **argv)
{
	struct cli_common common = {0};
	struct cli_env env;
	const char *seq = NULL;
	const struct cli_arg args[] = {{"seq", &seq}};
	int status;

	if (cli_wants_help(argc, argv))
		return cli_help(explain_help);
	status = cli_parse_args("audit", argc - 1, argv + 1, &common, args,
				sizeof(args) / sizeof(args[0]));
	if (status != 0)
		return status;
	if (seq == NULL)
		return cli_usage("audit", "explain takes --seq N");
	if (cli_open("audit", &common, &env) != 0)
		return 1;
	status = explain(&env, seq, common.json);
	cli_close(&env);
	return status;
}
