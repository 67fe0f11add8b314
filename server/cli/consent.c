/*
 * consent: `civicid consent list|show|withdraw|grant|receipt|sweep`, the operators' view of
 * the consent records of consent.h. Nothing here decides what a record may
 * hold or when a withdrawal is allowed: libauth does, so the web and the CLI
 * record consents by one set of rules. Records are only ever appended.
 */
#include "cli.h"

#include "account.h"
#include "cid.h"
#include "consent.h"
#include "consent_paper.h"
#include "consent_sweep.h"
#include "receipt.h"
#include "str.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(CID_CONSENT_PAPER_MAX_DAYS == 3650, "the help and messages below say 1-3650");
_Static_assert(CID_CONSENT_SWEEP_MAX == 256 && CID_SWEEP_INTERVAL == 60,
	       "the help says 256, every minute");

static const char consent_help[] =
    "usage: civicid consent VERB [options]\n"
    "\n"
    "  list USERNAME [--service S]\n"
    "        every consent record of a citizen (all services, or S), oldest first\n"
    "        per attribute; nothing is ever deleted\n"
    "  show RECORD_ID\n"
    "        one record, by the id that list prints\n"
    "  withdraw USERNAME --service S --purpose P --attribute A [--attribute B]...\n"
    "        record that the citizen withdrew consents now in force (method\n"
    "        cli:withdraw), each under the policy version it was granted under;\n"
    "        fails, recording nothing, if any attribute has no grant in force\n"
    "  grant USERNAME --service S --purpose P --attribute A [--attribute B]...\n"
    "        [--expires-in DAYS] [--policy-version V] [--purpose-digest D]\n"
    "        [--policies DIR]\n"
    "        record a consent the citizen gave on paper at a city office\n"
    "        (method cli:paper), under the policy in force (DIR, default the\n"
    "        config's policies): a consent-based purpose that permits each\n"
    "        attribute; filed under its version and purpose digest, lasting the\n"
    "        purpose's consent_valid (--expires-in: fewer days). V and D, the\n"
    "        version and digest printed on the form (`civicid policy show`),\n"
    "        are checked: a form signed under another text is refused\n"
    "  receipt RECORD_ID [--policies DIR] [--issuer URL]\n"
    "        print the signed consent receipt (a JWT, Kantara Consent Receipt 1.1)\n"
    "        of the consent decision of a granted record, or of the withdrawal of\n"
    "        a withdrawn one; it verifies against the server's /jwks. Needs the\n"
    "        controller_* and policy_url settings of\n"
    "        --config; give the server's issuer and policies (default ./policies)\n"
    "  sweep\n"
    "        write the consent.expired audit entry of each grant that has expired\n"
    "        and has none yet (as the server does every minute); at most 256 a\n"
    "        run, the rest are counted: run again. Running it twice writes nothing\n"
    "        new. A damaged record is skipped and counted\n"
    "\n"
    "Options for every verb:\n"
    "  -s, --store DIR      LMDB store directory (default ./var/civicid)\n"
    "  -c, --config FILE    read the store from FILE\n"
    "      --json           print JSON\n"
    "\n"
    "Attributes are claim names without a language tag (family_name covers\n"
    "family_name#ja-Kana-JP); see civicid user --help. Service and purpose names,\n"
    "V and D are 1-128 bytes. --expires-in is 1-3650 days and at most the\n"
    "purpose's consent_valid. Exit status: 0 done, 1 failed, 2 bad usage.\n";

struct consent_opts {
	struct cli_common common;
	const char *service, *purpose, *policy_version, *purpose_digest;
	const char *expires_in;
	const char *policies, *issuer;
	const char *attributes[CID_MAX_CLAIMS];
	size_t n_attributes;
};

static int add_attribute(struct consent_opts *o, const char *attribute)
{
	if (!cid_consent_attribute_ok(attribute)) {
		fprintf(stderr,
			"civicid consent: unknown attribute '%s' (a claim name without a "
			"language tag; see civicid user --help)\n",
			attribute);
		return 2;
	}
	for (size_t i = 0; i < o->n_attributes; i++)
		if (strcmp(o->attributes[i], attribute) == 0)
			return cli_usage("consent", "an --attribute is given twice");
	if (o->n_attributes == CID_MAX_CLAIMS)
		return cli_usage("consent", "too many --attribute options");
	o->attributes[o->n_attributes++] = attribute;
	return 0;
}

/* Parses options after the verb; leaves positional arguments from optind. */
static int parse(int argc, char **argv, struct consent_opts *o)
{
	static const struct option opts[] = {
	    CLI_COMMON_OPTIONS,
	    {"service", required_argument, NULL, 'S'},
	    {"purpose", required_argument, NULL, 'p'},
	    {"attribute", required_argument, NULL, 'a'},
	    {"policy-version", required_argument, NULL, 'V'},
	    {"purpose-digest", required_argument, NULL, 'D'},
	    {"expires-in", required_argument, NULL, 'e'},
	    {"policies", required_argument, NULL, 'P'},
	    {"issuer", required_argument, NULL, 'I'},
	    {NULL, 0, NULL, 0},
	};
	int opt, rc;

	optind = 1;
	while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORT, opts, NULL)) != -1) {
		switch (opt) {
		case 'S': o->service = optarg; break;
		case 'p': o->purpose = optarg; break;
		case 'V': o->policy_version = optarg; break;
		case 'D': o->purpose_digest = optarg; break;
		case 'e': o->expires_in = optarg; break;
		case 'P': o->policies = optarg; break;
		case 'I': o->issuer = optarg; break;
		case 'a':
			rc = add_attribute(o, optarg);
			if (rc != 0)
				return rc;
			break;
		default:
			if (!cli_common_option(&o->common, opt, optarg))
				return cli_usage("consent", "unknown option");
			break;
		}
	}
	return 0;
}

/* Which options each verb takes; a stray one is a usage error, not silently ignored. */
static int check_options(const char *verb, const struct consent_opts *o)
{
	bool list = strcmp(verb, "list") == 0;
	bool show = strcmp(verb, "show") == 0;
	bool grant = strcmp(verb, "grant") == 0;
	bool receipt = strcmp(verb, "receipt") == 0;
	bool sweep = strcmp(verb, "sweep") == 0;

	if (sweep && (o->service != NULL || o->purpose != NULL || o->n_attributes > 0 ||
		      o->policies != NULL || o->issuer != NULL || o->policy_version != NULL ||
		      o->purpose_digest != NULL || o->expires_in != NULL))
		return cli_usage("consent", "sweep takes no options but --store, --config, --json");
	if (sweep)
		return 0;
	if (!receipt && o->issuer != NULL)
		return cli_usage("consent", "--issuer goes with receipt");
	if (!receipt && !grant && o->policies != NULL)
		return cli_usage("consent", "--policies goes with grant and receipt");
	if ((show || receipt) && o->service != NULL)
		return cli_usage("consent", "show and receipt take no --service");
	if ((list || show || receipt) && (o->purpose != NULL || o->n_attributes > 0))
		return cli_usage("consent", "--purpose and --attribute go with withdraw and grant");
	if (!grant &&
	    (o->policy_version != NULL || o->purpose_digest != NULL || o->expires_in != NULL))
		return cli_usage(
		    "consent", "--policy-version, --purpose-digest and --expires-in go with grant");
	if (list || show || receipt)
		return 0;
	if (o->service == NULL || o->purpose == NULL || o->n_attributes == 0)
		return cli_usage("consent",
				 "needs --service, --purpose and at least one --attribute");
	return 0;
}

/* An optional string for printing: "" when absent. */
static const char *text_or_empty(const char *s)
{
	return s != NULL ? s : "";
}

/* The state as an operator should read it: a grant past its expiry says so. */
static const char *state_text(const struct cid_consent_record *rec, int64_t now)
{
	return cid_consent_record_expired(rec, now) ? "granted (expired)"
						    : cid_consent_state_name(rec->state);
}

/* Resolves USERNAME to the account id; prints why not. */
static int resolve(struct cli_env *env, const char *username, char id[CID_ID_CHARS + 1])
{
	struct cid_account *u = NULL;
	enum cid_err rc = cid_account_find(env->store, username, &u);

	if (rc != CID_OK)
		return cli_fail("consent", username, rc);
	memcpy(id, u->id, CID_ID_CHARS + 1);
	cid_account_free(u);
	return 0;
}

static int verb_list(struct cli_env *env, const struct consent_opts *o, const char *username)
{
	char id[CID_ID_CHARS + 1];
	char at[32];
	json_t *records = NULL;
	json_t *v;
	struct cid_consent_record rec;
	size_t i;
	int64_t now = cli_now();
	int status = resolve(env, username, id);
	enum cid_err rc;

	if (status != 0)
		return status;
	rc = cid_consent_history(env->store, id, o->service, &records);
	if (rc != CID_OK)
		return cli_fail("consent", "list", rc);
	if (cli_on_record(env, "consent", "consent list", id, json_array_size(records)) != 0) {
		json_decref(records);
		return 1;
	}
	if (o->common.json)
		return cli_print_json(records);
	if (json_array_size(records) == 0) {
		printf("no consent records for %s%s%s\n", username,
		       o->service != NULL ? " and service " : "",
		       o->service != NULL ? o->service : "");
		json_decref(records);
		return 0;
	}
	printf("%-20s %-16s %-20s %-20s %-18s %s\n", "at", "service", "purpose", "attribute",
	       "state", "record id");
	json_array_foreach(records, i, v)
	{
		/* the history's records all read (consent.h) */
		if (cid_consent_record_read(v, &rec) != CID_OK)
			continue;
		printf("%-20s %-16s %-20s %-20s %-18s %s\n", cli_time(rec.at, at), rec.service,
		       rec.purpose, rec.attribute, state_text(&rec, now), rec.id);
	}
	json_decref(records);
	return 0;
}

static void print_record(struct cli_env *env, const struct cid_consent_record *rec)
{
	struct cid_account *citizen = NULL;
	char t[32];

	printf("id:             %s\n", rec->id);
	printf("seq:            %lld\n", (long long)rec->seq);
	/* the username helps the operator; the id alone if the account cannot be read */
	if (cid_account_get(env->store, rec->account_id, &citizen) == CID_OK)
		printf("citizen:        %s (%s)\n", citizen->username, rec->account_id);
	else
		printf("citizen:        %s (no such account)\n", rec->account_id);
	cid_account_free(citizen);
	printf("service:        %s\n", rec->service);
	printf("purpose:        %s\n", rec->purpose);
	printf("attribute:      %s\n", rec->attribute);
	printf("state:          %s\n", state_text(rec, cli_now()));
	printf("at:             %s\n", cli_time(rec->at, t));
	if (rec->expires_at != 0)
		printf("expires at:     %s\n", cli_time(rec->expires_at, t));
	else
		printf("expires at:     (none)\n");
	printf("method:         %s\n", text_or_empty(rec->method));
	if (rec->request_id != NULL)
		printf("request id:     %s\n", rec->request_id);
	printf("policy version: %s\n", rec->policy_version);
	printf("purpose digest: %s\n", rec->purpose_digest);
}

static int verb_show(struct cli_env *env, const struct consent_opts *o, const char *record_id)
{
	json_t *rec = NULL;
	struct cid_consent_record r;
	enum cid_err rc = cid_consent_get(env->store, record_id, &rec);

	if (rc == CID_ERR_NOTFOUND) {
		fprintf(stderr,
			"civicid consent: no consent record %s (see civicid consent list "
			"USERNAME)\n",
			record_id);
		return 1;
	}
	if (rc != CID_OK)
		return cli_fail("consent", record_id, rc);
	rc = cid_consent_record_read(rec, &r);
	if (rc != CID_OK) {
		json_decref(rec);
		return cli_fail("consent", record_id, rc);
	}
	if (cli_on_record(env, "consent", "consent show", r.account_id, 1) != 0) {
		json_decref(rec);
		return 1;
	}
	if (o->common.json)
		return cli_print_json(rec);
	print_record(env, &r);
	json_decref(rec);
	return 0;
}

/*
 * Prints, per attribute, the record just written, and expires_at (0: none);
 * frees ids. Returns 0, or 1 when the JSON answer could not be built.
 */
static int report(const struct consent_opts *o, const char *username, const char *id,
		  const char *state, int64_t expires_at, char **ids)
{
	json_t *records = json_array();
	bool complete = records != NULL;
	char t[32];

	for (size_t i = 0; i < o->n_attributes; i++) {
		if (!o->common.json)
			printf("%s: %s %s for %s / %s (record %s)\n", username, state,
			       o->attributes[i], o->service, o->purpose, ids[i]);
		else if (json_array_append_new(records, json_pack("{s:s, s:s, s:s}", "attribute",
								  o->attributes[i], "state", state,
								  "id", ids[i])) != 0)
			complete = false;
		free(ids[i]);
	}
	if (!o->common.json) {
		if (expires_at != 0)
			printf("%s: the grant lasts until %s\n", username, cli_time(expires_at, t));
		json_decref(records);
		return 0;
	}
	if (!complete) { /* a list short of a record is no answer */
		json_decref(records);
		return cli_print_json(NULL);
	}
	/* o*: no "expires_at" member for a withdrawal */
	return cli_print_json(json_pack("{s:s, s:s, s:s, s:s, s:o, s:o*}", "username", username,
					"account_id", id, "service", o->service, "purpose",
					o->purpose, "records", records, "expires_at",
					expires_at != 0 ? json_integer(expires_at) : NULL));
}

/* Why an attribute of a refused withdrawal has no grant in force, for the operator. */
static const char *not_granted(const struct cid_consent_fault *fault)
{
	if (!fault->decided)
		return "it was never granted";
	switch (fault->state) {
	case CID_CONSENT_REFUSED: return "the citizen refused it";
	case CID_CONSENT_WITHDRAWN: return "it is already withdrawn";
	case CID_CONSENT_EXPIRED: return "the grant has expired";
	default: return "it has no grant in force";
	}
}

static int verb_withdraw(struct cli_env *env, const struct consent_opts *o, const char *username)
{
	char id[CID_ID_CHARS + 1];
	char *ids[CID_MAX_CLAIMS];
	struct cid_consent_context ctx = {
	    .service = o->service,
	    .purpose = o->purpose,
	    .method = CID_CONSENT_METHOD_CLI_WITHDRAW,
	    .now = cli_now(),
	};
	struct cid_consent_fault fault = {0};
	int status = resolve(env, username, id);
	enum cid_err rc;

	if (status != 0)
		return status;
	ctx.account_id = id;
	rc = cid_consent_withdraw(env->store, &ctx, o->attributes, o->n_attributes, ids, &fault);
	if (rc == CID_ERR_NOTFOUND) {
		fprintf(stderr,
			"civicid consent: %s has no consent in force for %s (service %s, purpose "
			"%s): %s; nothing was recorded\n",
			username, fault.attribute, o->service, o->purpose, not_granted(&fault));
		return 1;
	}
	if (rc == CID_ERR_INVALID) {
		fprintf(stderr,
			"civicid consent: withdraw: invalid service or purpose name (1-128 bytes "
			"of UTF-8, no newline)\n");
		return 1;
	}
	if (rc != CID_OK)
		return cli_fail("consent", "withdraw", rc);
	return report(o, username, id, "withdrawn", 0, ids);
}

/* Says why the policies in force refuse the paper grant of o; returns 1. */
static int refused(const struct consent_opts *o, const char *dir,
		   const struct cid_consent_paper_refusal *why)
{
	fputs("civicid consent: grant: ", stderr);
	switch (why->fault) {
	case CID_PAPER_NO_POLICY:
		fprintf(stderr, "no policy in %s governs service %s", dir, o->service);
		break;
	case CID_PAPER_NO_PURPOSE:
		fprintf(stderr, "the policy of %s has no purpose %s (civicid policy show %s)",
			o->service, o->purpose, o->service);
		break;
	case CID_PAPER_STATUTE:
		fprintf(stderr, "purpose %s of %s rests on a statute: no consent is asked for it",
			o->purpose, o->service);
		break;
	case CID_PAPER_NOT_PERMITTED:
		fprintf(stderr,
			"purpose %s of %s does not permit %s: no consent can be asked for it",
			o->purpose, o->service, why->attribute);
		break;
	case CID_PAPER_OTHER_VERSION:
		fprintf(stderr,
			"the policy of %s in force is version %s, not %s: the form was signed "
			"under another policy",
			o->service, why->in_force, o->policy_version);
		break;
	case CID_PAPER_OTHER_DIGEST:
		fprintf(stderr,
			"purpose %s of %s in force has digest %s, not %s: the form was signed "
			"under another text",
			o->purpose, o->service, why->in_force, o->purpose_digest);
		break;
	case CID_PAPER_TOO_LONG:
		fprintf(stderr,
			"a consent to purpose %s of %s lasts at most %lld days (--expires-in)",
			o->purpose, o->service, (long long)why->max_days);
		break;
	default: fputs("refused by the policies in force", stderr); break;
	}
	fputs("; nothing was recorded\n", stderr);
	return 1;
}

/* Loads the policies in force: --policies DIR, else the config's. Prints why not. */
static int load_policies(struct cli_env *env, const struct consent_opts *o,
			 struct cid_policyset **ps)
{
	char err[512];
	enum cid_err rc;

	if (o->policies != NULL &&
	    cid_config_set(env->cfg, "policies", o->policies, err, sizeof(err)) != CID_OK) {
		fprintf(stderr, "civicid consent: %s\n", err);
		return 2;
	}
	rc = cid_policyset_load_dir(env->cfg->policies_dir, stderr, ps);
	if (rc != CID_OK) {
		fprintf(stderr,
			"civicid consent: grant: the policies of %s do not load (%s); a paper "
			"consent is checked against them (--policies DIR)\n",
			env->cfg->policies_dir,
			rc == CID_ERR_CONFIG ? "errors above" : cid_strerror(rc));
		return 1;
	}
	return 0;
}

static int verb_grant(struct cli_env *env, const struct consent_opts *o, const char *username)
{
	char id[CID_ID_CHARS + 1];
	char *ids[CID_MAX_CLAIMS];
	uint64_t days = 0;
	struct cid_consent_paper g = {
	    .service = o->service,
	    .purpose = o->purpose,
	    .attributes = o->attributes,
	    .n_attributes = o->n_attributes,
	    .policy_version = o->policy_version,
	    .purpose_digest = o->purpose_digest,
	    .now = cli_now(),
	};
	struct cid_consent_paper_refusal why;
	struct cid_policyset *ps = NULL;
	int64_t expires_at = 0;
	int status;
	enum cid_err rc;

	if (o->expires_in != NULL && cid_parse_u64(o->expires_in, strlen(o->expires_in), 1,
						   CID_CONSENT_PAPER_MAX_DAYS, &days) != CID_OK)
		return cli_usage("consent", "--expires-in wants a number of days, 1-3650");
	g.days = (int64_t)days;
	status = resolve(env, username, id);
	if (status != 0)
		return status;
	g.account_id = id;
	status = load_policies(env, o, &ps);
	if (status != 0)
		return status;
	rc = cid_consent_paper_grant(env->store, ps, &g, ids, &expires_at, &why);
	if (rc == CID_ERR_REFUSED) {
		status = refused(o, env->cfg->policies_dir, &why);
	} else if (rc == CID_ERR_INVALID) {
		fprintf(stderr, "civicid consent: grant: the service and purpose must each be "
				"1-128 bytes of UTF-8 without a newline\n");
		status = 1;
	} else if (rc != CID_OK) {
		status = cli_fail("consent", "grant", rc);
	} else {
		status = report(o, username, id, "granted", expires_at, ids);
	}
	cid_policyset_free(ps);
	return status;
}

/* A receipt names its citizen: the read is on the record before it is printed. */
static enum cid_err receipt_on_record(struct cid_ctx *ctx, const char *record_id)
{
	json_t *rec = NULL;
	struct cid_consent_record r;
	enum cid_err rc = cid_consent_get(cid_ctx_store(ctx), record_id, &rec);

	if (rc == CID_OK)
		rc = cid_consent_record_read(rec, &r);
	if (rc == CID_OK)
		rc = cid_audit_operator_viewed(cid_ctx_audit_log(ctx), "consent receipt",
					       r.account_id, 1, cli_now());
	json_decref(rec);
	return rc;
}

/*
 * Prints the receipt of record_id. The receipt needs the whole context (the
 * signing keys, the pairwise salt, the policies), which opens the store
 * itself: the command's own handle is closed first, as LMDB wants one
 * environment per process.
 */
static int verb_receipt(struct cli_env *env, const struct consent_opts *o, const char *record_id)
{
	char err[512];
	struct cid_ctx *ctx = NULL;
	char *jws = NULL;
	char *issuer = NULL;
	enum cid_err rc;

	if ((o->policies != NULL &&
	     cid_config_set(env->cfg, "policies", o->policies, err, sizeof(err)) != CID_OK) ||
	    (o->issuer != NULL &&
	     cid_config_set(env->cfg, "issuer", o->issuer, err, sizeof(err)) != CID_OK) ||
	    cid_config_check(env->cfg, err, sizeof(err)) != CID_OK) {
		fprintf(stderr, "civicid consent: %s\n", err);
		return 2;
	}
	if (!cid_uuid_syntax_ok(record_id)) {
		fprintf(stderr,
			"civicid consent: %s is not a record id (see civicid consent list "
			"USERNAME)\n",
			record_id);
		return 2;
	}
	cid_store_close(env->store);
	env->store = NULL;
	/* a command records no issuer: only the first server may (audit.h) */
	rc = cid_ctx_open_flags(env->cfg, cli_now(), CID_CTX_NO_ISSUER, stderr, &ctx);
	if (rc != CID_OK)
		return cli_fail("consent", "receipt: cannot open the context", rc);
	/* signed under the log's issuer, with its audit key: none before a server */
	rc = cid_audit_issuer(cid_ctx_store(ctx), &issuer);
	free(issuer);
	if (rc == CID_ERR_NOTFOUND) {
		cid_ctx_close(ctx);
		fprintf(stderr, "civicid consent: receipt: nothing can be signed before a server "
				"has started on the store\n");
		return 1;
	}
	if (rc == CID_OK)
		rc = cid_receipt_make(ctx, record_id, NULL, env->cfg->default_locale, cli_now(),
				      &jws, NULL);
	if (rc == CID_OK)
		rc = receipt_on_record(ctx, record_id);
	cid_ctx_close(ctx);
	if (rc != CID_OK)
		free(jws);
	switch (rc) {
	case CID_OK:
		printf("%s\n", jws);
		free(jws);
		return 0;
	case CID_ERR_NOTFOUND:
		fprintf(stderr,
			"civicid consent: no consent record %s, or its service is no longer "
			"registered (see civicid consent list USERNAME)\n",
			record_id);
		return 1;
	case CID_ERR_REFUSED:
		fprintf(stderr,
			"civicid consent: record %s refuses a consent: only a consent given "
			"or withdrawn has a receipt\n",
			record_id);
		return 1;
	case CID_ERR_CONFIG:
		fprintf(stderr,
			"civicid consent: receipts name the controller: set controller_name, "
			"controller_contact, controller_address, controller_email and policy_url "
			"in the --config file (civicid serve --help-config)\n");
		return 1;
	default: return cli_fail("consent", "receipt", rc);
	}
}

static int verb_sweep(struct cli_env *env, const struct consent_opts *o)
{
	struct cid_audit *log = NULL;
	struct cid_consent_sweep done;
	enum cid_err rc = cid_audit_open(env->store, false, &log);

	if (rc == CID_OK)
		rc = cid_consent_sweep(env->store, log, cli_now(), CID_CONSENT_SWEEP_MAX, &done);
	cid_audit_close(log);
	if (rc != CID_OK)
		return cli_fail("consent", "sweep", rc);
	if (o->common.json) {
		printf("{\"written\":%zu,\"left\":%zu,\"damaged\":%zu}\n", done.written, done.left,
		       done.damaged);
		return 0;
	}
	printf("%zu consent.expired entries written%s\n", done.written,
	       done.left > 0 ? "; more expired consents are left: run again" : "");
	if (done.damaged > 0)
		printf("%zu damaged consent records skipped: they do not read, and no "
		       "consent.expired is written for them\n",
		       done.damaged);
	return 0;
}

int cid_cli_consent(int argc, char **argv)
{
	static const char *const verbs[] = {"list",  "show",	"withdraw",
					    "grant", "receipt", "sweep"};
	struct consent_opts o = {0};
	struct cli_env env;
	const char *verb;
	const char *arg;
	int status;
	bool known = false;

	if (argc < 2 || cli_wants_help(argc, argv))
		return argc < 2 ? (fputs(consent_help, stderr), 2) : cli_help(consent_help);
	verb = argv[1];
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		known = known || strcmp(verb, verbs[i]) == 0;
	if (!known)
		return cli_usage("consent", "unknown verb");
	status = parse(argc - 1, argv + 1, &o);
	if (status != 0)
		return status;
	if (strcmp(verb, "sweep") == 0 && argc - 1 - optind != 0)
		return cli_usage("consent", "sweep takes no argument");
	if (strcmp(verb, "sweep") != 0 && argc - 1 - optind != 1)
		return cli_usage("consent",
				 strcmp(verb, "show") == 0 || strcmp(verb, "receipt") == 0
				     ? "expected one RECORD_ID"
				     : "expected one USERNAME");
	arg = strcmp(verb, "sweep") == 0 ? NULL : argv[1 + optind];
	status = check_options(verb, &o);
	if (status != 0)
		return status;
	status = cli_open("consent", &o.common, &env);
	if (status != 0)
		return status;
	if (strcmp(verb, "list") == 0)
		status = verb_list(&env, &o, arg);
	else if (strcmp(verb, "show") == 0)
		status = verb_show(&env, &o, arg);
	else if (strcmp(verb, "withdraw") == 0)
		status = verb_withdraw(&env, &o, arg);
	else if (strcmp(verb, "receipt") == 0)
		status = verb_receipt(&env, &o, arg);
	else if (strcmp(verb, "sweep") == 0)
		status = verb_sweep(&env, &o);
	else
		status = verb_grant(&env, &o, arg);
	cli_close(&env);
	return status;
}
