/*
 * keys: `civicid keys list|rotate|drop|jwks`, and `keys rotate --audit` for the
 * audit log's own key (audit.h). Every change of the token keys is an entry
 * of the audit log (key.published, key.activated, key.withdrawn), written
 * with the change (cid_audit_keys_change). Only public data is ever printed. A
 * running server notices a rotation within seconds (it polls keys_version)
 * or at once on SIGHUP, and activates a published next key itself when its
 * time comes; the audit key is read from the store at each checkpoint.
 */
#include "cli.h"

#include "audit.h"
#include "jose.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char keys_help[] =
    "usage: civicid keys VERB [options]\n"
    "\n"
    "  list                 kid, algorithm, state and times of every signing key:\n"
    "                       next (published in the JWKS, signs from a time), active\n"
    "                       (signs), retired (verifies until it is dropped)\n"
    "  rotate --publish-only [--alg ES256|RS256]\n"
    "                       a planned rotation, step 1: a next key, in the JWKS at once\n"
    "                       but signing nothing. After key_publish_delay seconds\n"
    "                       (config; default one day) the running server makes it the\n"
    "                       active key: relying parties that refetched the JWKS in\n"
    "                       between know it before its first token. Without --alg, an\n"
    "                       algorithm that already has a next key is left as it is\n"
    "  rotate --activate [--alg ES256|RS256] [--force]\n"
    "                       step 2 now rather than by the server: the next key signs,\n"
    "                       the active key is retired. Refused before key_publish_delay\n"
    "                       has passed, unless --force\n"
    "  rotate [--alg ES256|RS256]\n"
    "                       an immediate rotation without a publish delay, for a key\n"
    "                       that must stop signing now but is not compromised: a new\n"
    "                       key signs at once (relying parties whose cached JWKS lacks\n"
    "                       it fail on its tokens until they refetch); a published next\n"
    "                       key is retired with the old active one\n"
    "                       A retired key stays in the JWKS, and civicid accepts what it\n"
    "                       signs, for key_keep seconds (config; default one day) so\n"
    "                       that tokens it signed still verify. Default: both algorithms.\n"
    "  rotate --revoke [--alg ES256|RS256]\n"
    "                       for a key that may be compromised: as plain rotate, but the\n"
    "                       old active key (and a published next key) is withdrawn at\n"
    "                       once: out of the JWKS, and civicid refuses what it signed,\n"
    "                       forged tokens too, within seconds (the running server polls\n"
    "                       the store). Every token it signed is refused: citizens sign\n"
    "                       in again\n"
    "  drop KID             withdraw a retired or next key at once, as --revoke does: for\n"
    "                       a key found compromised after a plain rotate. The active key\n"
    "                       is not dropped: rotate --revoke it\n"
    "  rotate --audit       a new audit key (the Ed25519 key of the audit log's\n"
    "                       checkpoints; never a token key): logged as a key.rotated\n"
    "                       entry carrying its verifier key, and the checkpoint\n"
    "                       covering that entry is signed by the old and the new key.\n"
    "                       Checkpoints signed before still verify with the old key\n"
    "                       (`civicid audit vkeys` lists them all); give the new vkey\n"
    "                       to the witnesses (`civicid witness add-log`)\n"
    "  jwks                 the public keys of every key ever made, as a JWKS with\n"
    "                       a member \"issuer\": the audit log's issuer, which\n"
    "                       `civicid audit verify --file` checks every checkpoint\n"
    "                       against (absent until a server has started on the store)\n"
    "\n"
    "Every change of the token keys is an entry of the audit log, written with the\n"
    "change: key.published, key.activated, key.withdrawn (ext.kid, ext.alg), actor\n"
    "\"operator\" (\"system\" when the server activates a next key itself)\n"
    "\n"
    "  -s, --store DIR      LMDB store directory (default ./var/civicid)\n"
    "  -c, --config FILE    configuration file (key_keep, key_publish_delay, the store)\n"
    "      --json           print JSON\n"
    "\n"
    "Private keys never leave the store.\n";

enum rotate_mode { ROTATE_NOW, ROTATE_REVOKE, ROTATE_PUBLISH, ROTATE_ACTIVATE };

static const char *const algs[] = {"ES256", "RS256"};

static int64_t int_member(const json_t *o, const char *name)
{
	return (int64_t)json_integer_value(json_object_get(o, name));
}

static void print_keys(const json_t *list)
{
	size_t i;
	const json_t *k;
	char t1[32];
	char t2[32];
	int64_t now = cli_now();

	printf("%-44s %-6s %-8s %s\n", "kid", "alg", "state", "created");
	json_array_foreach(list, i, k)
	{
		const char *state = json_string_value(json_object_get(k, "state"));

		printf("%-44s %-6s %-8s %-21s ", json_string_value(json_object_get(k, "kid")),
		       json_string_value(json_object_get(k, "alg")), state,
		       cli_time(int_member(k, "created_at"), t1));
		if (strcmp(state, "next") == 0)
			printf("signs from %s\n", cli_time(int_member(k, "activate_at"), t2));
		else if (strcmp(state, "retired") == 0)
			printf("%s %s\n",
			       int_member(k, "drop_after") > now ? "in the JWKS until"
								 : "out of the JWKS since",
			       cli_time(int_member(k, "drop_after"), t2));
		else if (json_object_get(k, "activated_at") != NULL)
			printf("signs since %s\n", cli_time(int_member(k, "activated_at"), t2));
		else
			printf("signs\n");
	}
}

#define KID_BUF 64 /* a kid is a 43-character thumbprint */

/* The activate_at of the next key of alg, 0 if none is listed; kid (may be NULL) its kid. */
static int64_t next_activate_at(struct cli_env *env, const char *alg, char kid[KID_BUF])
{
	json_t *list = NULL;
	const json_t *k;
	size_t i;
	int64_t at = 0;

	if (cid_keys_list(env->store, &list) != CID_OK)
		return 0;
	json_array_foreach(list, i, k)
	{
		if (strcmp(json_string_value(json_object_get(k, "alg")), alg) == 0 &&
		    strcmp(json_string_value(json_object_get(k, "state")), "next") == 0) {
			at = int_member(k, "activate_at");
			if (kid != NULL)
				snprintf(kid, KID_BUF, "%s",
					 json_string_value(json_object_get(k, "kid")));
		}
	}
	json_decref(list);
	return at;
}

/* One alg's step of a rotation; adds {"alg","kid"...} to out and prints a line. */
static int rotate_one(struct cli_env *env, const char *alg, enum rotate_mode mode, bool force,
		      bool json, json_t *out)
{
	int64_t now = cli_now();
	int64_t delay = env->cfg->key_publish_delay;
	struct cid_keys_op op = {.alg = alg, .now = now, .force = force};
	struct cid_keys_result done = {0};
	char *kid;
	char when[32];
	enum cid_err rc;
	int added;

	switch (mode) {
	case ROTATE_PUBLISH:
		op.verb = CID_KEYS_PUBLISH;
		op.span = delay;
		break;
	case ROTATE_ACTIVATE:
		op.verb = CID_KEYS_ACTIVATE;
		op.span = env->cfg->key_keep;
		break;
	case ROTATE_REVOKE: op.verb = CID_KEYS_ROTATE; break; /* keep 0: withdrawn at once */
	default:
		op.verb = CID_KEYS_ROTATE;
		op.span = env->cfg->key_keep;
		break;
	}
	/* the change and its entry in the audit log, in one transaction */
	rc = cid_audit_keys_change(env->store, &op, "operator", "cli", &done);
	kid = done.kid;
	if (rc == CID_ERR_EXISTS) {
		fprintf(stderr,
			"civicid keys: a next %s key is already published (signs from %s): "
			"activate it first (keys rotate --activate)\n",
			alg, cli_time(next_activate_at(env, alg, NULL), when));
		return 1;
	}
	if (rc == CID_ERR_TOOEARLY) {
		fprintf(stderr,
			"civicid keys: the next %s key may sign from %s (key_publish_delay): "
			"relying parties that have not refetched the JWKS since it was "
			"published would fail on its tokens. Wait, or use --force\n",
			alg, cli_time(next_activate_at(env, alg, NULL), when));
		return 1;
	}
	if (rc == CID_ERR_NOTFOUND && mode == ROTATE_ACTIVATE) {
		fprintf(stderr,
			"civicid keys: no next %s key is published: `civicid keys rotate "
			"--publish-only` first\n",
			alg);
		return 1;
	}
	if (rc != CID_OK)
		return cli_fail("keys", alg, rc);
	if (mode == ROTATE_PUBLISH) {
		int64_t at = now + delay; /* cid_keys_publish checked the sum */

		added = json_array_append_new(out, json_pack("{s:s, s:s, s:I}", "alg", alg, "kid",
							     kid, "activate_at", (json_int_t)at));
		if (!json)
			printf("%s: next key %s published; it signs from %s (the running server "
			       "switches by itself, or: keys rotate --activate)\n",
			       alg, kid, cli_time(at, when));
	} else {
		added = json_array_append_new(out, json_pack("{s:s, s:s}", "alg", alg, "kid", kid));
		if (!json)
			printf("%s: new active key %s%s\n", alg, kid,
			       mode == ROTATE_REVOKE
				   ? "; the old key is withdrawn: out of the JWKS, "
				     "and what it signed is refused"
				   : "");
	}
	free(kid);
	if (json && added != 0) {
		fprintf(stderr,
			"civicid keys: %s: done, but out of memory for the JSON answer (see "
			"civicid keys list)\n",
			alg);
		return 1;
	}
	return 0;
}

/*
 * --publish-only without --alg: an algorithm whose next key is already
 * published is left as it is, and said so (in out too), rather than failing
 * the command after the other algorithm's key was published. 1: alg was
 * skipped, 0: it has no next key, -1: out of memory for the JSON answer.
 */
static int publish_skip(struct cli_env *env, const char *alg, bool json, json_t *out)
{
	char kid[KID_BUF] = "";
	char when[32];
	int64_t at = next_activate_at(env, alg, kid);

	if (at == 0)
		return 0;
	if (!json)
		printf("%s: a next key %s is already published (signs from %s): left as it is\n",
		       alg, kid, cli_time(at, when));
	if (json_array_append_new(out, json_pack("{s:s, s:s, s:I, s:b}", "alg", alg, "kid", kid,
						 "activate_at", (json_int_t)at, "already_published",
						 1)) != 0 &&
	    json) {
		fprintf(stderr, "civicid keys: out of memory for the JSON answer (see civicid keys "
				"list)\n");
		return -1;
	}
	return 1;
}

static int rotate(struct cli_env *env, const char *alg, enum rotate_mode mode, bool force,
		  bool json)
{
	json_t *out = json_array();
	size_t done = 0;
	size_t skipped = 0;
	int status = 0;
	int skip;

	for (size_t i = 0; i < 2 && status == 0; i++) {
		if (alg != NULL && strcmp(alg, algs[i]) != 0)
			continue;
		/* --activate without --alg: the algorithms that have a next key */
		if (mode == ROTATE_ACTIVATE && alg == NULL &&
		    next_activate_at(env, algs[i], NULL) == 0)
			continue;
		skip = mode == ROTATE_PUBLISH && alg == NULL ? publish_skip(env, algs[i], json, out)
							     : 0;
		if (skip != 0) {
			status = skip < 0;
			skipped++;
			continue;
		}
		status = rotate_one(env, algs[i], mode, force, json, out);
		done += status == 0;
	}
	if (status == 0 && done == 0 && skipped > 0) {
		fprintf(stderr, "civicid keys: a next key of every algorithm is already published: "
				"activate them first (keys rotate --activate)\n");
		status = 1;
	} else if (status == 0 && done == 0) {
		fprintf(stderr, "civicid keys: no next key is published: `civicid keys rotate "
				"--publish-only` first\n");
		status = 1;
	}
	/* what was done is said even when a later step failed */
	if (json && json_array_size(out) > 0)
		status = cli_print_json(out) != 0 ? 1 : status;
	else
		json_decref(out);
	return status;
}

/* drop KID: a retired or next key withdrawn at once. */
static int drop(struct cli_env *env, const char *kid, bool json)
{
	const struct cid_keys_op op = {.verb = CID_KEYS_DROP, .kid = kid, .now = cli_now()};
	struct cid_keys_result done = {0};
	enum cid_err rc = cid_audit_keys_change(env->store, &op, "operator", "cli", &done);
	bool dropped = done.dropped;

	if (rc == CID_ERR_REFUSED) {
		fprintf(stderr,
			"civicid keys: %s is an active key, which signs: `civicid keys rotate "
			"--revoke --alg ALG` replaces and withdraws it\n",
			kid);
		return 1;
	}
	if (rc == CID_ERR_NOTFOUND) {
		fprintf(stderr, "civicid keys: no key %s (see civicid keys list)\n", kid);
		return 1;
	}
	if (rc != CID_OK)
		return cli_fail("keys", kid, rc);
	if (json)
		return cli_print_json(json_pack("{s:s, s:b}", "kid", kid, "dropped", (int)dropped));
	if (dropped)
		printf("%s withdrawn: out of the JWKS, and what it signed is refused\n", kid);
	else
		printf("%s was already out of the JWKS\n", kid);
	return 0;
}

/* rotate --audit: a new audit key, on the record. */
static int rotate_audit(struct cli_env *env, bool json)
{
	char *vkey = NULL;
	uint64_t size = 0;
	enum cid_err rc;
	int status = 0;

	if (cli_audit_tree_ready("keys", env) != 0)
		return 1;
	rc = cid_audit_key_rotate(env->store, "operator", "cli", cli_now(), &vkey, &size);
	if (rc == CID_ERR_CONFIG) {
		fprintf(stderr, "civicid keys: the store records no issuer yet, which the audit "
				"log's origin is made of: start `civicid serve` on it once\n");
		return 1;
	}
	if (rc != CID_OK)
		return cli_fail("keys", "rotate --audit", rc);
	if (json)
		status = cli_print_json(
		    json_pack("{s:s, s:I}", "vkey", vkey, "checkpoint", (json_int_t)size));
	else
		printf("new audit key %s\n(key.rotated is entry %" PRIu64
		       "; the checkpoint of %" PRIu64 " entries is signed by the old and the new "
		       "key)\n",
		       vkey, size - 1, size);
	free(vkey);
	return status;
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
	    {"publish-only", no_argument, NULL, 'P'},
	    {"activate", no_argument, NULL, 'A'},
	    {"force", no_argument, NULL, 'f'},
	    {"audit", no_argument, NULL, 'u'},
	    {"revoke", no_argument, NULL, 'R'},
	    {NULL, 0, NULL, 0},
	};
	struct cli_common common = {0};
	const char *alg = NULL;
	bool publish = false;
	bool activate = false;
	bool force = false;
	bool audit = false;
	bool revoke = false;
	const char *kid = NULL;
	struct cli_env env;
	int opt, status;

	if (argc < 2 || cli_wants_help(argc, argv))
		return argc < 2 ? (fputs(keys_help, stderr), 2) : cli_help(keys_help);
	const char *verb = argv[1];
	if (strcmp(verb, "list") != 0 && strcmp(verb, "rotate") != 0 && strcmp(verb, "drop") != 0 &&
	    strcmp(verb, "jwks") != 0)
		return cli_usage("keys", "unknown verb");
	/* drop's KID right after the verb, when it has a kid's shape, is taken as it
	 * is: a kid is base64url and may begin with '-', which getopt would read as
	 * options (getopt then sees the KID as its program name); "-sDIR" has not */
	int skip = 1;

	if (strcmp(verb, "drop") == 0 && argc >= 3 && cid_kid_syntax_ok(argv[2])) {
		kid = argv[2];
		skip = 2;
	}
	optind = 1;
	while ((opt = getopt_long(argc - skip, argv + skip, CLI_COMMON_SHORT, opts, NULL)) != -1) {
		if (opt == 'a')
			alg = optarg;
		else if (opt == 'P')
			publish = true;
		else if (opt == 'A')
			activate = true;
		else if (opt == 'f')
			force = true;
		else if (opt == 'u')
			audit = true;
		else if (opt == 'R')
			revoke = true;
		else if (!cli_common_option(&common, opt, optarg))
			return cli_usage("keys", "unknown option");
	}
	/* drop takes the kid; the other verbs nothing (getopt moved operands last) */
	if (strcmp(verb, "drop") == 0 && kid == NULL) {
		if (optind != argc - 2)
			return cli_usage("keys", "drop takes one KID (see civicid keys list)");
		kid = argv[1 + optind];
	} else if (optind != argc - skip) {
		return cli_usage("keys", "unexpected argument");
	}
	if (strcmp(verb, "drop") == 0 && (alg != NULL || publish || activate || force || audit))
		return cli_usage("keys", "drop takes a KID and no other option");
	if (alg != NULL && strcmp(alg, "ES256") != 0 && strcmp(alg, "RS256") != 0)
		return cli_usage("keys", "--alg must be ES256 or RS256");
	if ((publish || activate) && strcmp(verb, "rotate") != 0)
		return cli_usage("keys", "--publish-only and --activate are options of rotate");
	if (publish && activate)
		return cli_usage("keys",
				 "--publish-only and --activate are two steps: one at a time");
	if (force && !activate)
		return cli_usage("keys", "--force goes with rotate --activate");
	if (revoke && (strcmp(verb, "rotate") != 0 || publish || activate))
		return cli_usage("keys", "--revoke goes with rotate alone (an immediate "
					 "rotation that withdraws the old key)");
	if (audit && (strcmp(verb, "rotate") != 0 || publish || activate || revoke || alg != NULL))
		return cli_usage("keys", "--audit goes with rotate alone (the audit key is "
					 "Ed25519 and switches at once)");
	status = cli_open("keys", &common, &env);
	if (status != 0)
		return status;
	enum cid_err rc = cid_keys_ensure(env.store, cli_now());
	if (rc != CID_OK) {
		status = cli_fail("keys", "creating the first keys", rc);
	} else if (audit) {
		status = rotate_audit(&env, common.json);
	} else if (strcmp(verb, "rotate") == 0) {
		enum rotate_mode mode = revoke ? ROTATE_REVOKE : ROTATE_NOW;

		if (publish)
			mode = ROTATE_PUBLISH;
		else if (activate)
			mode = ROTATE_ACTIVATE;
		status = rotate(&env, alg, mode, force, common.json);
	} else if (strcmp(verb, "drop") == 0) {
		status = drop(&env, kid, common.json);
	} else if (strcmp(verb, "jwks") == 0) {
		status = print_all_jwks(&env);
	} else {
		json_t *list = NULL;
		rc = cid_keys_list(env.store, &list);
		if (rc != CID_OK) {
			status = cli_fail("keys", "list", rc);
		} else if (common.json) {
			status = cli_print_json(list);
		} else {
			print_keys(list);
			json_decref(list);
		}
	}
	cli_close(&env);
	return status;
}
