/*
 * user: `civicid user add|list|show|set|disable|enable|delete|passwd|totp`. Passwords
 * are read from stdin or a file, never from the command line (where `ps`
 * and shell history would show them). A TOTP secret is printed once, at
 * enrolment, like a client secret: nothing shows it again.
 */
#include "cli.h"

#include "account.h"
#include "account_delete.h"
#include "bounds.h"
#include "buf.h"
#include "crypto.h"
#include "logout.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLI_STR_(x) #x
#define CLI_STR(x)  CLI_STR_(x)

static const char user_help[] =
    "usage: civicid user VERB [options]\n"
    "\n"
    "  add USERNAME (--password-stdin | --password-file FILE) [--claim NAME=VALUE]...\n"
    "  list\n"
    "  show USERNAME\n"
    "  set USERNAME [--claim NAME=VALUE]... [--unset NAME]...\n"
    "  disable USERNAME          refuse logins; revoke every token and end every session\n"
    "                            (services with a back-channel logout URI are told)\n"
    "  enable USERNAME           allow logins again (revoked tokens stay revoked)\n"
    "  delete USERNAME --yes     erase the citizen (their request to delete, APPI Art. 35,\n"
    "                            GDPR Art. 17): the record, claims, TOTP, sessions (as a\n"
    "                            disable ends them), grants and tokens, upstream links and\n"
    "                            recent logins, at once; consents in force are withdrawn.\n"
    "                            The audit log and consent records stay (pseudonymous;\n"
    "                            purged at their retention's end).\n"
    "                            The name may then be registered again as a new citizen\n"
    "  passwd USERNAME (--password-stdin | --password-file FILE)\n"
    "  totp USERNAME [--replace] enrol in TOTP, the second factor: prints the secret\n"
    "                            and an otpauth:// URI, once\n"
    "  totp USERNAME --disable   remove TOTP: the password alone logs in again\n"
    "  totp USERNAME --unlock    accept codes again after too many wrong ones in a row\n"
    "\n"
    "Options for every verb:\n"
    "  -s, --store DIR      LMDB store directory (default ./var/civicid)\n"
    "  -c, --config FILE    read argon2 parameters and the store from FILE\n"
    "      --json           print JSON\n"
    "\n"
    "Usernames are 1-128 characters of A-Z a-z 0-9 . _ @ -. Passwords 8-1024 bytes.\n"
    "Claims are the OpenID Connect standard claims (name, family_name, given_name,\n"
    "middle_name, nickname, preferred_username, profile, picture, website, email,\n"
    "email_verified, gender, birthdate, zoneinfo, locale, phone_number,\n"
    "phone_number_verified, address) and the city's: resident_district,\n"
    "household_size (1-99), resident_since (YYYY-MM-DD), preferred_language.\n"
    "Human-readable names take a language tag: 'family_name#ja-Kana-JP=ヤマダ'.\n"
    "address takes a JSON object: 'address={\"locality\":\"Aizu\"}'; booleans true|false.\n"
    "\n"
    "TOTP (RFC 6238: SHA-1, 6 digits, 30 s, what authenticator apps expect) makes\n"
    "password plus code the higher authentication level. The secret and URI are\n"
    "shown once: hand them to the citizen now (the URI as a QR code); civicid keeps\n"
    "the secret in the store to check codes but never prints it again. A citizen\n"
    "already enrolled needs --replace, which makes a new secret and ends the old one.\n"
    "After " CLI_STR(
	CID_CODE_MAX_FAILURES) " wrong codes in a row, however far apart, codes are refused (even\n"
			       "the right one) until --unlock or --replace; `user show` says so. "
			       "Check who asks\n"
			       "before unlocking: whoever typed the codes knew the password.\n";

struct user_opts {
	struct cli_common common;
	const char *password_file;
	bool replace, disable, unlock; /* totp */
	bool yes;		       /* delete */
	json_t *claims;		       /* name -> value (null: remove) */
};

static int add_claim(struct user_opts *o, const char *arg, bool unset)
{
	char name[CID_MAX_PARAM_NAME + 1];
	const char *eq = unset ? arg + strlen(arg) : strchr(arg, '=');
	json_t *value;

	if (eq == NULL || eq == arg || (size_t)(eq - arg) > CID_MAX_PARAM_NAME) {
		fprintf(stderr, "civicid user: --claim wants NAME=VALUE, got '%s'\n", arg);
		return 2;
	}
	memcpy(name, arg, (size_t)(eq - arg));
	name[eq - arg] = '\0';
	if (cid_claim_lookup(name) == NULL) {
		fprintf(stderr, "civicid user: unknown claim '%s' (see civicid user --help)\n",
			name);
		return 2;
	}
	value = NULL;
	if (unset)
		value = json_null();
	else if (cid_claim_parse(name, eq + 1, &value) != CID_OK)
		value = NULL;
	if (value == NULL) {
		fprintf(stderr, "civicid user: bad value for claim '%s'\n", name);
		json_decref(value);
		return 2;
	}
	if (json_object_set_new(o->claims, name, value) != 0) {
		fputs("civicid user: out of memory\n", stderr);
		return 1;
	}
	return 0;
}

/* Parses options after the verb; leaves positional arguments from optind. */
static int parse(int argc, char **argv, struct user_opts *o)
{
	static const struct option opts[] = {
	    CLI_COMMON_OPTIONS,
	    {"claim", required_argument, NULL, 'a'},
	    {"unset", required_argument, NULL, 'u'},
	    {"password-stdin", no_argument, NULL, 'P'},
	    {"password-file", required_argument, NULL, 'F'},
	    {"replace", no_argument, NULL, 'R'},
	    {"disable", no_argument, NULL, 'D'},
	    {"unlock", no_argument, NULL, 'U'},
	    {"yes", no_argument, NULL, 'Y'},
	    {NULL, 0, NULL, 0},
	};
	int opt, rc;

	optind = 1;
	while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORT, opts, NULL)) != -1) {
		switch (opt) {
		case 'P': o->password_file = "-"; break;
		case 'F': o->password_file = optarg; break;
		case 'R': o->replace = true; break;
		case 'D': o->disable = true; break;
		case 'U': o->unlock = true; break;
		case 'Y': o->yes = true; break;
		case 'a':
		case 'u':
			rc = add_claim(o, optarg, opt == 'u');
			if (rc != 0)
				return rc;
			break;
		default:
			if (!cli_common_option(&o->common, opt, optarg))
				return cli_usage("user", "unknown option");
			break;
		}
	}
	return 0;
}

static void print_user(const struct cid_account *u, int64_t failures)
{
	const char *key;
	const json_t *v;

	printf("username: %s\n", u->username);
	printf("id:       %s\n", u->id);
	printf("disabled: %s\n", u->active ? "no" : "yes");
	printf("totp:     %s\n", u->has_totp ? "enrolled" : "no");
	if (failures >= CID_CODE_MAX_FAILURES)
		printf("          locked after %lld wrong codes in a row (totp --unlock)\n",
		       (long long)failures);
	else if (failures > 0)
		printf("          %lld wrong codes in a row\n", (long long)failures);
	json_object_foreach(u->claims, key, v)
	{
		char *s = cid_json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
		printf("  %s: %s\n", key, s ? s : "?");
		free(s);
	}
}

static int verb_add(struct cli_env *env, struct user_opts *o, const char *username)
{
	char id[CID_ID_CHARS + 1];
	char *pw;
	enum cid_err rc;

	if (o->password_file == NULL)
		return cli_usage("user", "add needs --password-stdin or --password-file");
	pw = cli_read_secret("user", o->password_file, CID_MAX_PASSWORD);
	if (pw == NULL)
		return 1;
	rc = cid_account_add(env->store, &env->cfg->argon2, username, pw, o->claims, cli_now(), id);
	cid_wipe(pw, strlen(pw));
	free(pw);
	if (rc != CID_OK)
		return cli_fail("user", username, rc);
	if (o->common.json)
		return cli_print_json(json_pack("{s:s, s:s}", "username", username, "id", id));
	printf("citizen %s added\n", username);
	return 0;
}

static int verb_passwd(struct cli_env *env, struct user_opts *o, const char *username)
{
	char *pw;
	enum cid_err rc;

	if (o->password_file == NULL)
		return cli_usage("user", "passwd needs --password-stdin or --password-file");
	pw = cli_read_secret("user", o->password_file, CID_MAX_PASSWORD);
	if (pw == NULL)
		return 1;
	rc = cid_account_set_password(env->store, &env->cfg->argon2, username, pw, cli_now());
	cid_wipe(pw, strlen(pw));
	free(pw);
	if (rc != CID_OK)
		return cli_fail("user", username, rc);
	if (!o->common.json)
		printf("password of %s changed\n", username);
	return 0;
}

/*
 * The outcome rc of a change to username's TOTP: "not enrolled" when the
 * citizen exists without TOTP, else the error, else "TOTP DONE for USERNAME:
 * THEN" (not with --json).
 */
static int totp_changed(struct cli_env *env, const struct user_opts *o, const char *username,
			enum cid_err rc, const char *done, const char *then)
{
	struct cid_account *u = NULL;

	if (rc == CID_ERR_NOTFOUND && cid_account_find(env->store, username, &u) == CID_OK) {
		cid_account_free(u);
		fprintf(stderr, "civicid user: %s: not enrolled in TOTP\n", username);
		return 1;
	}
	if (rc != CID_OK)
		return cli_fail("user", username, rc);
	if (!o->common.json)
		printf("TOTP %s for %s: %s\n", done, username, then);
	return 0;
}

static int verb_totp(struct cli_env *env, const struct user_opts *o, const char *username)
{
	char *secret = NULL;
	char *uri = NULL;
	enum cid_err rc;

	if (o->disable)
		return totp_changed(env, o, username,
				    cid_account_totp_disable(env->store, username, cli_now()),
				    "removed", "the password alone logs in");
	if (o->unlock)
		return totp_changed(env, o, username,
				    cid_account_totp_unlock(env->store, username, cli_now()),
				    "unlocked", "codes are accepted again");
	rc = cid_account_totp_enrol(env->store, username, o->replace, cli_now(), &secret, &uri);
	if (rc == CID_ERR_EXISTS) {
		fprintf(stderr,
			"civicid user: %s: already enrolled in TOTP; --replace makes a new secret "
			"(the old one stops working), --disable removes it\n",
			username);
		return 1;
	}
	if (rc != CID_OK)
		return cli_fail("user", username, rc);
	if (!o->common.json)
		printf("TOTP enrolled for %s\n", username);
	return cli_show_totp_secret(
	    o->common.json, "username", username, secret, uri,
	    "give it to the citizen now, the URI as a QR code for an authenticator "
	    "app");
}

static int verb_delete(struct cli_env *env, const struct user_opts *o, const char *username)
{
	struct cid_account_deleted done;
	enum cid_err rc = cid_account_delete(env->store, username, cli_now(), &done);

	if (rc != CID_OK)
		return cli_fail("user", username, rc);
	if (o->common.json)
		return cli_print_json(
		    json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I}", "username", username, "id",
			      done.id, "sessions", (json_int_t)done.sessions, "grants",
			      (json_int_t)done.grants, "links", (json_int_t)done.links, "withdrawn",
			      (json_int_t)done.withdrawn, "audit_seq", (json_int_t)done.seq));
	printf("citizen %s deleted: %zu sessions ended, %zu grants and %zu upstream links "
	       "removed, %zu consents withdrawn (audit entry %" PRIu64 ")\n",
	       username, done.sessions, done.grants, done.links, done.withdrawn, done.seq);
	return 0;
}

static void print_user_row(const json_t *row)
{
	struct cid_account *u = NULL;
	const char *name;

	if (cid_account_from_record(row, &u) != CID_OK) {
		printf("(a damaged record)\n");
		return;
	}
	name = json_string_value(json_object_get(u->claims, "name"));
	printf("%-24s %s%s\n", u->username, name ? name : "", u->active ? "" : "  (disabled)");
	cid_account_free(u);
}

static int verb_list(struct cli_env *env, const struct user_opts *o)
{
	json_t *all = NULL;
	enum cid_err rc = cid_account_list(env->store, &all);

	if (rc == CID_OK &&
	    cli_on_record(env, "user", "user list", NULL, json_array_size(all)) != 0) {
		json_decref(all);
		return 1;
	}
	return cli_print_list("user", rc, all, o->common.json, print_user_row);
}

static int verb_show(struct cli_env *env, const struct user_opts *o, const char *username)
{
	struct cid_account *u = NULL;
	json_t *shown = NULL;
	enum cid_err rc = cid_account_find(env->store, username, &u);
	int64_t failures = 0;

	if (rc == CID_OK && u->has_totp)
		rc = cid_account_totp_failures(env->store, username, &failures);
	if (rc == CID_OK && o->common.json) {
		rc = cid_account_show(env->store, username, &shown);
		if (rc == CID_OK && u->has_totp &&
		    json_object_set_new(shown, "totp_failures", json_integer(failures)) != 0)
			rc = CID_ERR_NOMEM;
	}
	if (rc != CID_OK) {
		cid_account_free(u);
		json_decref(shown);
		return cli_fail("user", username, rc);
	}
	if (cli_on_record(env, "user", "user show", u->id, 1) != 0) {
		cid_account_free(u);
		json_decref(shown);
		return 1;
	}
	if (o->common.json) {
		cid_account_free(u);
		return cli_print_json(shown);
	}
	print_user(u, failures);
	cid_account_free(u);
	return 0;
}

static int run_verb(struct cli_env *env, struct user_opts *o, const char *verb,
		    const char *username)
{
	enum cid_err rc;

	if (strcmp(verb, "add") == 0)
		return verb_add(env, o, username);
	if (strcmp(verb, "show") == 0)
		return verb_show(env, o, username);
	if (strcmp(verb, "passwd") == 0)
		return verb_passwd(env, o, username);
	if (strcmp(verb, "totp") == 0)
		return verb_totp(env, o, username);
	if (strcmp(verb, "delete") == 0)
		return verb_delete(env, o, username);
	if (strcmp(verb, "set") == 0) {
		if (json_object_size(o->claims) == 0)
			return cli_usage("user", "set needs --claim or --unset");
		rc = cid_account_set_claims(env->store, username, o->claims, cli_now());
	} else if (strcmp(verb, "disable") == 0) {
		/* the citizen's services are told: back-channel logout (logout.h) */
		rc = cid_logout_disable_citizen(env->store, username, cli_now(), NULL);
	} else {
		rc = cid_account_set_disabled(env->store, username, false, cli_now());
	}
	if (rc != CID_OK)
		return cli_fail("user", username, rc);
	if (!o->common.json)
		printf("citizen %s updated\n", username);
	return 0;
}

int cid_cli_user(int argc, char **argv)
{
	static const char *const verbs[] = {"add",    "list",	"show",	  "set", "disable",
					    "enable", "delete", "passwd", "totp"};
	struct user_opts o = {0};
	struct cli_env env;
	const char *verb;
	int status;
	bool known = false;

	if (argc < 2 || cli_wants_help(argc, argv))
		return argc < 2 ? (fputs(user_help, stderr), 2) : cli_help(user_help);
	verb = argv[1];
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		known = known || strcmp(verb, verbs[i]) == 0;
	if (!known)
		return cli_usage("user", "unknown verb");
	o.claims = json_object();
	status = parse(argc - 1, argv + 1, &o);
	if (status != 0)
		goto out;
	bool needs_name = strcmp(verb, "list") != 0;
	int positional = argc - 1 - optind;
	if (positional != (needs_name ? 1 : 0)) {
		status =
		    cli_usage("user", needs_name ? "expected one USERNAME" : "unexpected argument");
		goto out;
	}
	if (json_object_size(o.claims) > 0 && strcmp(verb, "add") != 0 &&
	    strcmp(verb, "set") != 0) {
		status = cli_usage("user", "--claim and --unset go with add and set");
		goto out;
	}
	if ((o.replace || o.disable || o.unlock) && strcmp(verb, "totp") != 0) {
		status = cli_usage("user", "--replace, --disable and --unlock go with totp");
		goto out;
	}
	if (o.yes != (strcmp(verb, "delete") == 0)) {
		status = cli_usage("user", o.yes ? "--yes goes with delete"
						 : "delete erases the citizen for good: confirm "
						   "with --yes");
		goto out;
	}
	if (o.replace + o.disable + o.unlock > 1) {
		status = cli_usage("user", "totp takes one of --replace, --disable, --unlock");
		goto out;
	}
	status = cli_open("user", &o.common, &env);
	if (status != 0)
		goto out;
	if (strcmp(verb, "list") == 0)
		status = verb_list(&env, &o);
	else
		status = run_verb(&env, &o, verb, argv[1 + optind]);
	cli_close(&env);
out:
	json_decref(o.claims);
	return status;
}
