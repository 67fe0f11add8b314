/*
 * audit: `civicid audit verify|export|query|provisions|checkpoint|officer`
 * (purge and resolve are audit_purge.c's),
 * the privacy officer's and the regulator's tools over the audit log of
 * audit.h (prove, verify-proof and vkeys are audit_proof.c's). Everything
 * the log means is decided in libauth; this file reads options, opens the
 * store, and prints.
 */
#include "cli.h"

#include "account.h"
#include "audit.h"
#include "buf.h"
#include "crypto.h"
#include "file.h"
#include "jose.h"
#include "pseudonym.h"
#include "str.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char audit_help[] =
    "usage: civicid audit VERB [options]\n"
    "\n"
    "  verify [--vkeys VKEYS] [--witness-checkpoint CP]\n"
    "                       check the whole log in the store: every entry's hash\n"
    "                       chain link, the Merkle tree, the head, every signed\n"
    "                       checkpoint (signed notes with the audit keys, or those\n"
    "                       of VKEYS; legacy JWS ones with the store's token keys and\n"
    "                       issuer); entries after the newest checkpoint are\n"
    "                       reported unverified (exit 0: the server signs them\n"
    "                       within audit_checkpoint_interval)\n"
    "  verify --file EXPORT --vkeys VKEYS [--jwks JWKS [--issuer URL]]\n"
    "         [--allow-unsigned-tail] [--witness-checkpoint CP]\n"
    "                       check an export offline, with no store or config:\n"
    "                       VKEYS is `civicid audit vkeys` or the server's\n"
    "                       /.well-known/civicid-audit (every audit key, and\n"
    "                       witnesses' vkeys to check cosignatures). An export of a\n"
    "                       store older than the signed notes also holds legacy JWS\n"
    "                       checkpoints: JWKS is `civicid keys jwks` (every key ever\n"
    "                       made, and the log's issuer) or the server's /jwks; each\n"
    "                       must be signed as the JWKS's issuer or --issuer URL\n"
    "                       (both given: they must agree). The export must end with a\n"
    "                       signed checkpoint covering its last entry; with\n"
    "                       --allow-unsigned-tail the entries after the last one\n"
    "                       are reported unverified instead of failing\n"
    "                       --witness-checkpoint CP: a checkpoint of the log a\n"
    "                       witness cosigned (a note, or `civicid witness show\n"
    "                       --json`): the log must hold all of it and extend it,\n"
    "                       else verify names the rollback, the cut tail or the fork;\n"
    "                       CP must carry a valid cosignature of a witness whose\n"
    "                       vkey is in VKEYS (for the store: or audit_witnesses),\n"
    "                       else it is refused\n"
    "  export [--format jsonl|csv] [filters] [--output FILE]\n"
    "                       without filters and as jsonl: the whole log with its\n"
    "                       signed checkpoints, which `audit verify --file`\n"
    "                       accepts; with filters or as csv: the matching entries.\n"
    "                       Every export is first recorded in the log as an\n"
    "                       audit.exported entry (actor operator); the whole\n"
    "                       log's ends with that entry and a fresh checkpoint\n"
    "                       covering it. --output FILE (mode 0600) is replaced\n"
    "                       only by a complete export: one that fails leaves FILE\n"
    "                       as it was\n"
    "  explain --seq N      why entry N is what it is: rule, policy version and the\n"
    "                       exact notice shown, consent records and their history,\n"
    "                       how the citizen authenticated (`audit explain --help`)\n"
    "  trail --citizen USER [--format json|csv]\n"
    "                       a citizen's trail with its proofs, as the citizen\n"
    "                       downloads it (`audit trail --help`)\n"
    "  query [filters] [--limit N] [--newest-first]\n"
    "                       matching entries, one line each (--json: JSON Lines);\n"
    "                       a query by --citizen is a look at them: first recorded\n"
    "                       in the log as an operator.viewed entry (nothing is\n"
    "                       printed if it cannot be)\n"
    "  provisions [--recipient S] [--from T --to T] [--format text|csv|json]\n"
    "             [--purge-before T]\n"
    "                       the third-party provision records (APPI Art. 29) per\n"
    "                       recipient and citizen: legal name, corporate number,\n"
    "                       items, consent obtained and its records, dates; and\n"
    "                       whether the records before T may be purged (see\n"
    "                       civicid audit provisions --help)\n"
    "  checkpoint           sign a checkpoint of the log now; prints it (a C2SP\n"
    "                       signed note, with the cosignatures it has)\n"
    "  prove --seq N [--size M] | prove --from-size A [--to-size B]\n"
    "  verify-proof --proof FILE --vkeys VKEYS\n"
    "  vkeys                inclusion and consistency proofs, their offline check,\n"
    "                       the audit verifier keys (see civicid audit prove --help)\n"
    "  purge | resolve PSEUDONYM | sweep\n"
    "                       the end of each purpose's retention; who a pseudonym\n"
    "                       of the log is, itself logged; deleting spent tokens and\n"
    "                       ended sessions (civicid audit purge --help)\n"
    "  officer add|list|disable ...\n"
    "                       privacy-officer accounts (see civicid audit officer --help)\n"
    "\n"
    "Checkpoints are signed with the audit key, made in the store by the first\n"
    "`civicid serve` (the origin is made of its issuer): export and checkpoint\n"
    "refuse until it has run. `civicid keys rotate --audit` rotates it.\n"
    "\n"
    "Filters:\n"
    "      --citizen USER   a username or an account id (every pseudonym the log\n"
    "                       gives them), or one pseudonym\n"
    "      --service S      a client_id\n"
    "      --release ID     a release id, as a service received it in the\n"
    "                       X-Civicid-Release header: the entries of that answer\n"
    "      --attribute A    a claim (family_name also matches family_name#ja-Kana-JP)\n"
    "      --type T         an entry type, or a prefix such as release. or consent.\n"
    "      --from T --to T  times, from <= time < to: 2026-11-25 (midnight UTC) or\n"
    "                       2026-11-25T09:30:00Z\n"
    "\n"
    "  -s, --store DIR      LMDB store directory (default ./var/civicid)\n"
    "  -c, --config FILE    read the store from FILE\n"
    "      --json           print JSON\n"
    "\n"
    "Exit status: 0 done (verify: no damage, and every entry signed unless the\n"
    "unsigned tail is accepted, as it always is for the store), 1 failed\n"
    "(verify: damage found, a rollback, or an export's entries not all signed;\n"
    "the first bad sequence number is printed), 2 bad usage.\n"
    "A log verifies only up to its newest signed checkpoint; without a witness\n"
    "checkpoint, a log restored from an older backup or cut after its newest\n"
    "checkpoint cannot be told from the real one.\n";

struct audit_opts {
	struct cli_common common;
	const char *file, *jwks, *issuer, *format, *output, *citizen, *limit;
	const char *vkeys, *witness_cp;
	bool allow_unsigned_tail;
	char from[21], to[21];
	struct cid_audit_filter filter;
	bool filtered;
};

static int parse(int argc, char **argv, struct audit_opts *o)
{
	static const struct option opts[] = {
	    CLI_COMMON_OPTIONS,
	    {"file", required_argument, NULL, 'f'},
	    {"jwks", required_argument, NULL, 'k'},
	    {"issuer", required_argument, NULL, 'I'},
	    {"allow-unsigned-tail", no_argument, NULL, 'U'},
	    {"vkeys", required_argument, NULL, 'K'},
	    {"witness-checkpoint", required_argument, NULL, 'W'},
	    {"release", required_argument, NULL, 'R'},
	    {"format", required_argument, NULL, 'F'},
	    {"output", required_argument, NULL, 'o'},
	    {"citizen", required_argument, NULL, 'C'},
	    {"service", required_argument, NULL, 'S'},
	    {"attribute", required_argument, NULL, 'a'},
	    {"type", required_argument, NULL, 't'},
	    {"from", required_argument, NULL, 'b'},
	    {"to", required_argument, NULL, 'e'},
	    {"limit", required_argument, NULL, 'l'},
	    {"newest-first", no_argument, NULL, 'n'},
	    {NULL, 0, NULL, 0},
	};
	int opt;

	optind = 1;
	while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORT, opts, NULL)) != -1) {
		switch (opt) {
		case 'f': o->file = optarg; break;
		case 'k': o->jwks = optarg; break;
		case 'I': o->issuer = optarg; break;
		case 'U': o->allow_unsigned_tail = true; break;
		case 'K': o->vkeys = optarg; break;
		case 'W': o->witness_cp = optarg; break;
		case 'R': o->filter.release = optarg; break;
		case 'F': o->format = optarg; break;
		case 'o': o->output = optarg; break;
		case 'C': o->citizen = optarg; break;
		case 'S': o->filter.service = optarg; break;
		case 'a': o->filter.attribute = optarg; break;
		case 't': o->filter.type = optarg; break;
		case 'l': o->limit = optarg; break;
		case 'n': o->filter.newest_first = true; break;
		case 'b':
		case 'e':
			if (cid_audit_bound_parse(optarg, opt == 'b' ? o->from : o->to) != CID_OK)
				return cli_usage("audit", "--from/--to: YYYY-MM-DD or "
							  "YYYY-MM-DDTHH:MM:SSZ");
			*(opt == 'b' ? &o->filter.from : &o->filter.to) =
			    opt == 'b' ? o->from : o->to;
			break;
		default:
			if (!cli_common_option(&o->common, opt, optarg))
				return cli_usage("audit", "unknown option");
			break;
		}
	}
	o->filtered = o->citizen != NULL || o->filter.service != NULL ||
		      o->filter.release != NULL || o->filter.attribute != NULL ||
		      o->filter.type != NULL || o->filter.from != NULL || o->filter.to != NULL;
	if (o->format != NULL && strcmp(o->format, "jsonl") != 0 && strcmp(o->format, "csv") != 0)
		return cli_usage("audit", "--format is jsonl or csv");
	if (o->limit != NULL) {
		char *end = NULL;
		unsigned long long n = strtoull(o->limit, &end, 10);

		if (end == o->limit || *end != '\0' || n == 0 || n > 1000000)
			return cli_usage("audit", "--limit is 1-1000000");
		o->filter.limit = (size_t)n;
	}
	return 0;
}

/* The citizen filter: an account id as is, a username resolved to its id. */
static int resolve_citizen(struct cli_env *env, struct audit_opts *o, char id[CID_ID_CHARS + 1])
{
	struct cid_account *u = NULL;
	enum cid_err rc;

	if (o->citizen == NULL)
		return 0;
	if (cid_uuid_syntax_ok(o->citizen) || cid_pseudonym_syntax_ok(o->citizen)) {
		snprintf(id, CID_ID_CHARS + 1, "%s", o->citizen);
	} else {
		rc = cid_account_find(env->store, o->citizen, &u);
		if (rc != CID_OK)
			return cli_fail("audit", o->citizen, rc);
		snprintf(id, CID_ID_CHARS + 1, "%s", u->id);
		cid_account_free(u);
	}
	o->filter.citizen = id;
	return 0;
}

/* The JSON of a report, or NULL: a report short of a member is no report. */
static json_t *report_json(const struct cid_audit_report *rep)
{
	json_t *o = json_pack("{s:b, s:b, s:I, s:I, s:I, s:I, s:b, s:b, s:b}", "ok", rep->ok,
			      "unsigned_tail", rep->unsigned_tail, "entries",
			      (json_int_t)rep->entries, "checkpoints", (json_int_t)rep->checkpoints,
			      "legacy_checkpoints", (json_int_t)rep->legacy, "covered",
			      (json_int_t)rep->covered, "issuer_checked", rep->issuer_checked,
			      "rollback", rep->rollback, "witness_checked", rep->witness_checked);
	bool whole = o != NULL;

	if (whole && rep->issuer[0] != '\0')
		whole = json_object_set_new(o, "issuer", json_string(rep->issuer)) == 0;
	if (whole && rep->origin[0] != '\0')
		whole = json_object_set_new(o, "origin", json_string(rep->origin)) == 0;
	if (whole && rep->witnessed > 0)
		whole = json_object_set_new(o, "witnessed",
					    json_integer((json_int_t)rep->witnessed)) == 0;
	if (whole && rep->witnessed > 0 && rep->witness[0] != '\0')
		whole = json_object_set_new(o, "witness", json_string(rep->witness)) == 0;
	if (whole && rep->witness_checked)
		whole = json_object_set_new(o, "witness_checkpoint_by",
					    json_string(rep->witness_checkpoint_by)) == 0;
	if (whole && rep->witnessed > 0 && rep->witness_time > 0)
		whole = json_object_set_new(o, "witness_time",
					    json_integer((json_int_t)rep->witness_time)) == 0;
	if (whole && !rep->ok)
		whole = json_object_set_new(o, "bad_seq", json_integer((json_int_t)rep->bad_seq)) ==
			    0 &&
			json_object_set_new(o, "reason", json_string(rep->reason)) == 0;
	if (!whole) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* The lines of an intact report: what is signed, witnessed, and what is not. */
static void print_intact(const struct cid_audit_report *rep, bool offline)
{
	char t[32];

	printf("intact: %" PRIu64 " entries, %" PRIu64 " signed checkpoints\n", rep->entries,
	       rep->checkpoints);
	if (rep->entries == 0)
		return;
	if (rep->covered == 0)
		printf("unverified: nothing is signed: no checkpoint covers entries 0..%" PRIu64
		       "\n",
		       rep->entries - 1);
	else if (rep->origin[0] != '\0')
		printf("signed up to seq %" PRIu64 " by the audit key of %s\n", rep->covered - 1,
		       rep->origin);
	else
		printf("signed up to seq %" PRIu64 " as issuer %s\n", rep->covered - 1,
		       rep->issuer);
	if (rep->legacy > 0)
		printf("legacy JWS checkpoints: %" PRIu64 ", signed as issuer %s (%s)\n",
		       rep->legacy, rep->issuer,
		       rep->issuer_checked ? "the expected issuer"
		       : offline	   ? "not checked: no --issuer and no issuer in the JWKS"
					   : "not checked: the store records no issuer");
	if (rep->covered > 0 && rep->unsigned_tail)
		printf("unverified: entries %" PRIu64 "..%" PRIu64
		       " are not yet covered by a signed checkpoint\n",
		       rep->covered, rep->entries - 1);
	if (rep->witnessed > 0)
		printf("witnessed up to seq %" PRIu64 "%s%s%s%s\n", rep->witnessed - 1,
		       rep->witness[0] != '\0' ? " by " : "", rep->witness,
		       rep->witness_time > 0 ? " at " : "",
		       rep->witness_time > 0 ? cli_time(rep->witness_time > (uint64_t)INT64_MAX
							    ? INT64_MAX
							    : (int64_t)rep->witness_time,
							t)
					     : "");
	if (rep->witness_checked)
		printf("the log holds and extends the witness checkpoint (cosigned by %s): no "
		       "rollback, cut tail or fork before seq %" PRIu64 "\n",
		       rep->witness_checkpoint_by, rep->witnessed);
	else
		printf("note: a log restored from an older backup, or cut after its newest "
		       "checkpoint, is detected only against a witness checkpoint "
		       "(--witness-checkpoint)\n");
}

/*
 * Prints a verification report; offline says where an expected issuer would
 * come from. Returns the command's status: 0 for an intact log, else 1.
 */
static int print_report(const struct cid_audit_report *rep, bool json, bool offline)
{
	if (json)
		return cli_print_json(report_json(rep)) != 0 || !rep->ok ? 1 : 0;
	if (!rep->ok && rep->rollback) {
		printf("ROLLBACK at seq %" PRIu64 ": %s\n", rep->bad_seq, rep->reason);
		return 1;
	}
	if (!rep->ok && !rep->unsigned_tail) {
		printf("DAMAGED at seq %" PRIu64 ": %s\n", rep->bad_seq, rep->reason);
		return 1;
	}
	if (!rep->ok) {
		printf("NOT VERIFIED from seq %" PRIu64 ": %s\n", rep->bad_seq, rep->reason);
		printf("note: --allow-unsigned-tail checks the rest and reports these entries "
		       "as unverified\n");
		return 1;
	}
	print_intact(rep, offline);
	return 0;
}

/* Reads a JWKS file into a verify-only keyset; prints why not. */
static struct cid_keyset *jwks_keyset(const char *path)
{
	size_t n = 0;
	char *buf = cli_read_file("audit", path, CID_MAX_JWKS, &n);
	struct cid_keyset *ks = NULL;
	enum cid_err rc;

	if (buf == NULL)
		return NULL;
	rc = cid_keyset_from_jwks(buf, n, &ks);
	if (rc != CID_OK)
		cli_fail("audit", path, rc);
	free(buf);
	return ks;
}

/* --witness-checkpoint: the checkpoint of the trust's origin in the file, into vo. */
static int witness_checkpoint(const struct audit_opts *o, const struct cid_audit_trust *t,
			      struct cid_audit_verify_opts *vo, char **note)
{
	size_t n = 0;
	char *doc;
	enum cid_err rc;

	if (o->witness_cp == NULL)
		return 0;
	doc = cli_read_file("audit", o->witness_cp, CID_NOTE_MAX_SIZE * 4, &n);
	if (doc == NULL)
		return 1;
	rc = cid_audit_witness_checkpoint_read(doc, n, cid_audit_trust_origin(t), note,
					       &vo->witness_checkpoint_len);
	free(doc);
	if (rc != CID_OK) {
		fprintf(stderr, "civicid audit: %s: %s\n", o->witness_cp,
			rc == CID_ERR_NOTFOUND ? "the witness cosigned no checkpoint of this log"
					       : "neither a checkpoint nor a witness's state");
		return 1;
	}
	vo->witness_checkpoint = *note;
	return 0;
}

/* Says why verification did not run, for rc of cid_audit_verify_*; returns the exit status. */
static int verify_fail(const struct audit_opts *o, const struct cid_keyset *ks, enum cid_err rc)
{
	if (rc == CID_ERR_DENIED) {
		fprintf(stderr,
			"civicid audit: %s is not a checkpoint signed by a key of the log "
			"given: it proves nothing about this log\n",
			o->witness_cp);
		return 1;
	}
	if (rc == CID_ERR_REFUSED) {
		fprintf(stderr,
			"civicid audit: %s is not a witness checkpoint: no valid cosignature of a "
			"witness whose vkey is in %s, so only the log vouches for it (add the "
			"witness's vkey, what `civicid witness init` printed)\n",
			o->witness_cp, o->vkeys != NULL ? o->vkeys : "audit_witnesses or --vkeys");
		return 1;
	}
	if (rc == CID_ERR_INVALID) {
		fprintf(stderr,
			"civicid audit: --issuer %s differs from the issuer %s names (%s)\n",
			o->issuer, o->jwks, cid_keyset_issuer(ks));
		return 1;
	}
	return cli_fail("audit", "verify", rc);
}

/* audit verify --file: offline, from the export and the keys alone (no store, no config). */
static int verify_file(const struct audit_opts *o)
{
	struct cid_audit_report rep = {0};
	struct cid_audit_verify_opts vo = {.issuer = o->issuer,
					   .allow_unsigned_tail = o->allow_unsigned_tail};
	struct cid_audit_trust *t = NULL;
	struct cid_keyset *ks = NULL;
	char *note = NULL;
	FILE *in = NULL;
	enum cid_err rc;
	int status = 1;

	if (o->file == NULL || (o->jwks == NULL && o->vkeys == NULL))
		return cli_usage("audit", "verify an export with --file and --vkeys (and --jwks "
					  "for legacy checkpoints)");
	if (o->common.store != NULL || o->common.config != NULL)
		return cli_usage("audit", "verify --file works offline: no --store or --config");
	if (o->witness_cp != NULL && o->vkeys == NULL)
		return cli_usage("audit", "--witness-checkpoint needs --vkeys");
	if (o->jwks != NULL && (ks = jwks_keyset(o->jwks)) == NULL)
		goto out;
	if (o->vkeys != NULL && (t = cli_vkeys_read("audit", o->vkeys)) == NULL)
		goto out;
	vo.trust = t;
	if (witness_checkpoint(o, t, &vo, &note) != 0)
		goto out;
	in = fopen(o->file, "re");
	if (in == NULL) {
		status = cli_fail("audit", o->file, CID_ERR_IO);
		goto out;
	}
	rc = cid_audit_verify_export(in, ks, &vo, &rep);
	if (rc != CID_OK) {
		status = verify_fail(o, ks, rc);
		goto out;
	}
	status = print_report(&rep, o->common.json, true);
out:
	if (in != NULL)
		fclose(in);
	free(note);
	cid_audit_trust_free(t);
	cid_keyset_free(ks);
	return status;
}

/* The store's trust: --vkeys, else its own audit keys; the configured witnesses' vkeys too. */
static struct cid_audit_trust *store_trust(struct cli_env *env, const struct audit_opts *o)
{
	struct cid_audit_witnesses *ws = NULL;
	struct cid_audit_trust *t = NULL;
	char err[512];
	enum cid_err rc;

	if (o->vkeys != NULL)
		return cli_vkeys_read("audit", o->vkeys);
	rc = cid_audit_trust_load(env->store, &t);
	if (rc != CID_OK) {
		cli_fail("audit", "the audit keys", rc);
		return NULL;
	}
	/* a configured witness's cosignatures count as witnessed */
	if (cid_audit_witnesses_parse(env->cfg->audit_witnesses, &ws, err, sizeof(err)) == CID_OK)
		for (size_t i = 0; i < cid_audit_witnesses_count(ws); i++)
			if (cid_audit_trust_add(t, cid_str_of(cid_audit_witness_vkey(ws, i))) !=
			    CID_OK)
				break;
	cid_audit_witnesses_free(ws);
	return t;
}

static int verb_verify(struct cli_env *env, const struct audit_opts *o)
{
	struct cid_audit_report rep = {0};
	struct cid_audit_verify_opts vo = {0};
	struct cid_audit_trust *t = store_trust(env, o);
	struct cid_keyset *ks = NULL;
	char *note = NULL;
	enum cid_err rc;
	int status = 1;

	if (t == NULL || witness_checkpoint(o, t, &vo, &note) != 0)
		goto out;
	vo.trust = t;
	rc = cid_keyset_load_all(env->store, &ks);
	if (rc == CID_OK)
		rc = cid_audit_verify_store(env->store, ks, &vo, &rep);
	if (rc != CID_OK) {
		status = verify_fail(o, ks, rc);
		goto out;
	}
	status = print_report(&rep, o->common.json, false);
out:
	free(note);
	cid_keyset_free(ks);
	cid_audit_trust_free(t);
	return status;
}

/* Says why a checkpoint could not be signed, for rc from cid_audit_checkpoint. */
static int sign_fail(const char *what, enum cid_err rc)
{
	if (rc != CID_ERR_CONFIG)
		return cli_fail("audit", what, rc);
	fprintf(stderr,
		"civicid audit: %s: the store records no issuer yet, and the audit key and "
		"the log's origin are made of it: start `civicid serve` on this store "
		"once (it records its issuer), then try again\n",
		what);
	return 1;
}

static int verb_checkpoint(struct cli_env *env, const struct audit_opts *o)
{
	char *note = NULL;
	enum cid_err rc;
	int status = 0;

	if (cli_audit_tree_ready("audit", env) != 0)
		return 1;
	rc = cid_audit_checkpoint(env->store, cli_now(), &note);
	if (rc == CID_ERR_NOTFOUND) {
		fprintf(stderr, "civicid audit: nothing to sign: the log is empty\n");
		return 1;
	}
	if (rc != CID_OK)
		return sign_fail("checkpoint", rc);
	if (o->common.json)
		status = cli_print_json(json_pack("{s:s}", "checkpoint", note));
	else
		fputs(note, stdout);
	free(note);
	return status;
}

/* Runs fn on the output (stdout or --output) in a read transaction. */
static int with_output(struct cli_env *env, const struct audit_opts *o,
		       enum cid_err (*fn)(struct cli_env *env, const struct audit_opts *o,
					  FILE *out, uint64_t *n),
		       const char *what)
{
	/* 0600 as the store: an export names pseudonyms, services and purposes; it
	 * replaces --output only whole, so a failed export leaves the file as it was */
	char *staged = NULL;
	FILE *out = stdout;
	uint64_t n = 0;
	enum cid_err rc = CID_OK;

	if (o->output != NULL)
		rc = cid_file_begin(o->output, &out, &staged);
	if (rc != CID_OK)
		return cli_fail("audit", o->output, rc);
	rc = fn(env, o, out, &n);
	if (out == stdout && fflush(out) != 0 && rc == CID_OK)
		rc = CID_ERR_IO;
	if (out != stdout)
		rc = cid_file_end(out, staged, o->output, rc);
	if (rc != CID_OK)
		return sign_fail(what, rc);
	if (o->output != NULL)
		fprintf(stderr, "civicid audit: %" PRIu64 " entries written to %s\n", n, o->output);
	return 0;
}

/* The whole log on the record: it ends with its own audit.exported entry and a checkpoint. */
static enum cid_err write_full(struct cli_env *env, const struct audit_opts *o, FILE *out,
			       uint64_t *n)
{
	struct cid_audit_exported x = {.actor = "operator", .endpoint = "cli", .now = cli_now()};

	(void)o;
	return cid_audit_export_recorded(env->store, &x, out, n);
}

/* Copies from (from its start) to to. */
static enum cid_err copy_file(FILE *from, FILE *to)
{
	char buf[8192];
	size_t k;

	if (fflush(from) != 0 || fseek(from, 0, SEEK_SET) != 0)
		return CID_ERR_IO;
	while ((k = fread(buf, 1, sizeof(buf), from)) > 0)
		if (fwrite(buf, 1, k, to) != k)
			return CID_ERR_IO;
	return ferror(from) ? CID_ERR_IO : CID_OK;
}

/*
 * The matching entries on the record: written to a scratch file, recorded,
 * and only then copied to out.
 */
static enum cid_err write_matching(struct cli_env *env, const struct audit_opts *o, FILE *out,
				   uint64_t *n)
{
	struct cid_audit_exported x = {.actor = "operator",
				       .endpoint = "cli",
				       .format = o->format != NULL ? o->format : "jsonl",
				       .filter = &o->filter,
				       .now = cli_now()};
	struct cid_audit *log = NULL;
	FILE *scratch = tmpfile();
	enum cid_err rc = scratch != NULL ? cid_audit_open(env->store, false, &log) : CID_ERR_IO;

	if (rc == CID_OK)
		rc = cid_audit_write_recorded(log, &x, 0, scratch, n);
	if (rc == CID_OK)
		rc = copy_file(scratch, out);
	cid_audit_close(log);
	if (scratch != NULL)
		fclose(scratch);
	return rc;
}

static int verb_export(struct cli_env *env, const struct audit_opts *o)
{
	bool full = !o->filtered && (o->format == NULL || strcmp(o->format, "jsonl") == 0);

	if (o->filter.limit != 0 || o->filter.newest_first)
		return cli_usage("audit", "--limit and --newest-first go with query");
	if (full && cli_audit_tree_ready("audit", env) != 0)
		return 1;
	return with_output(env, o, full ? write_full : write_matching, "export");
}

/* Where query results go, and how many went there. */
struct query_out {
	FILE *out;
	bool json;
	uint64_t rows;
};

/* One query result as a line: seq, time, type, who, what. */
static enum cid_err print_line(uint64_t seq, struct cid_str entry, void *arg)
{
	struct query_out *q = arg;
	json_t *e = NULL;
	enum cid_err rc;
	char *attrs = NULL;

	q->rows++;
	if (q->json) {
		fprintf(q->out, "%.*s\n", (int)entry.len, entry.ptr);
		return CID_OK;
	}
	rc = cid_store_parse_json(entry, &e);
	if (rc != CID_OK)
		return rc;
	attrs = cid_json_dumps(json_object_get(e, "attributes"), JSON_COMPACT | JSON_ENCODE_ANY);
	fprintf(q->out, "%-8" PRIu64 " %s %-17s %-36s %-20s %-16s %s %s\n", seq,
		cid_json_str(e, "time") ? cid_json_str(e, "time") : "-",
		cid_json_str(e, "type") ? cid_json_str(e, "type") : "-",
		cid_json_str(e, "citizen") ? cid_json_str(e, "citizen") : "-",
		cid_json_str(e, "service") ? cid_json_str(e, "service") : "-",
		cid_json_str(e, "purpose") ? cid_json_str(e, "purpose") : "-",
		attrs != NULL ? attrs : "[]",
		cid_json_str(e, "basis") ? cid_json_str(e, "basis") : "");
	free(attrs);
	json_decref(e);
	return CID_OK;
}

/*
 * A query naming a citizen is a look at them, as `consent show` is: its lines
 * are written aside, the look is put on the record (operator.viewed, with
 * the lines' count), and only then are they printed; if the record cannot
 * be written nothing is. A query of many prints as it reads.
 */
static int verb_query(struct cli_env *env, const struct audit_opts *o)
{
	bool look = o->filter.citizen != NULL;
	struct query_out q = {.json = o->common.json};
	struct cid_txn *txn = NULL;
	enum cid_err rc;
	int status = 1;

	if (o->format != NULL || o->output != NULL)
		return cli_usage("audit", "--format and --output go with export");
	q.out = look ? tmpfile() : stdout;
	rc = q.out != NULL ? cid_store_read_begin(env->store, &txn) : CID_ERR_IO;
	if (rc == CID_OK)
		rc = cid_audit_query(txn, &o->filter, print_line, &q);
	cid_store_read_end(txn);
	if (rc == CID_OK && look && ferror(q.out))
		rc = CID_ERR_IO;
	if (rc != CID_OK) {
		status = cli_fail("audit", "query", rc);
		goto out;
	}
	if (look && cli_on_record(env, "audit", "audit query", o->filter.citizen, q.rows) != 0)
		goto out;
	if (look && (rc = copy_file(q.out, stdout)) != CID_OK) {
		status = cli_fail("audit", "query", rc);
		goto out;
	}
	status = 0;
out:
	if (look && q.out != NULL)
		fclose(q.out);
	return status;
}

/* The verbs on the store that this file runs; the others are dispatched to their files. */
struct audit_verb {
	const char *name;
	int (*run)(struct cli_env *env, const struct audit_opts *o);
};

static const struct audit_verb store_verbs[] = {
    {"verify", verb_verify},
    {"export", verb_export},
    {"query", verb_query},
    {"checkpoint", verb_checkpoint},
};

int cid_cli_audit(int argc, char **argv)
{
	struct audit_opts o = {0};
	struct cli_env env;
	char citizen[CID_ID_CHARS + 1];
	const char *verb;
	const struct audit_verb *found = NULL;
	int status;

	if (argc >= 2 && strcmp(argv[1], "officer") == 0)
		return cid_cli_audit_officer(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "explain") == 0)
		return cid_cli_audit_explain(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "trail") == 0)
		return cid_cli_audit_trail(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "provisions") == 0)
		return cid_cli_audit_provisions(argc, argv);
	if (argc >= 2 && (strcmp(argv[1], "purge") == 0 || strcmp(argv[1], "resolve") == 0 ||
			  strcmp(argv[1], "sweep") == 0))
		return cid_cli_audit_purge(argc, argv);
	if (argc >= 2 && (strcmp(argv[1], "prove") == 0 || strcmp(argv[1], "verify-proof") == 0 ||
			  strcmp(argv[1], "vkeys") == 0))
		return cid_cli_audit_proof(argc, argv);
	if (cli_wants_help(argc, argv) || argc < 2)
		return argc < 2 ? cli_usage("audit", "missing verb") : cli_help(audit_help);
	verb = argv[1];
	for (size_t i = 0; i < sizeof(store_verbs) / sizeof(store_verbs[0]); i++)
		if (strcmp(verb, store_verbs[i].name) == 0)
			found = &store_verbs[i];
	if (found == NULL) /* refused before the store is opened, which would make it */
		return cli_usage("audit", "unknown verb");
	status = parse(argc - 1, argv + 1, &o);
	if (status != 0)
		return status;
	if (optind != argc - 1)
		return cli_usage("audit", "unexpected argument");
	if (strcmp(verb, "verify") != 0 &&
	    (o.file != NULL || o.jwks != NULL || o.issuer != NULL || o.allow_unsigned_tail ||
	     o.vkeys != NULL || o.witness_cp != NULL))
		return cli_usage("audit", "--file, --jwks, --vkeys, --issuer, --witness-checkpoint "
					  "and --allow-unsigned-tail go with verify");
	if (strcmp(verb, "verify") == 0 && o.filtered)
		return cli_usage("audit", "verify takes no filter");
	/* offline: an auditor's machine has no store, and must not get one */
	if (strcmp(verb, "verify") == 0 && o.file != NULL)
		return verify_file(&o);
	if (o.jwks != NULL)
		return cli_usage("audit", "--jwks goes with verify --file");
	if (o.issuer != NULL || o.allow_unsigned_tail)
		return cli_usage("audit",
				 "--issuer and --allow-unsigned-tail go with verify --file "
				 "(the store's checkpoints must carry the log's issuer)");
	if (cli_open("audit", &o.common, &env) != 0)
		return 1;
	status = resolve_citizen(&env, &o, citizen);
	if (status == 0)
		status = found->run(&env, &o);
	cli_close(&env);
	return status;
}
