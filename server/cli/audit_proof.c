/*
 * audit_proof: `civicid audit prove|verify-proof|vkeys`: proofs that one
 * entry is in the log, or that one checkpoint extends another, for someone
 * who holds neither the store nor the rest of the log, and the verifier
 * keys they check them with. The formats and the checks are libauth's
 * (audit.h); verify-proof runs offline, with no store or config.
 */
#include "cli.h"

#include "audit.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char proof_help[] =
    "usage: civicid audit prove --seq N [--size M]\n"
    "       civicid audit prove --from-size A [--to-size B]\n"
    "       civicid audit verify-proof --proof FILE --vkeys VKEYS\n"
    "       civicid audit vkeys\n"
    "\n"
    "  prove --seq N        the inclusion proof of entry N against the newest signed\n"
    "                       checkpoint (or the one of size M), as a C2SP tlog-proof\n"
    "                       (c2sp.org/tlog-proof@v1): the entry itself (base64, on the\n"
    "                       \"extra\" line), its index, the Merkle path and the\n"
    "                       checkpoint with its witnesses' cosignatures\n"
    "  prove --from-size A  the consistency proof that the checkpoint of size B\n"
    "                       (default: the newest) extends the one of size A, as JSON\n"
    "                       {type, old_size, size, proof, old_checkpoint, checkpoint}\n"
    "  verify-proof         checks either proof offline against the verifier keys:\n"
    "                       the checkpoints' signatures, the entry, the path;\n"
    "                       cosignatures of witnesses whose vkeys VKEYS lists are named\n"
    "  vkeys                the audit verifier keys, every one ever made, one a line\n"
    "                       (--json: the document /.well-known/civicid-audit serves):\n"
    "                       what verify --vkeys and verify-proof --vkeys read\n"
    "\n"
    "  -s, --store DIR      LMDB store directory (default ./var/civicid)\n"
    "  -c, --config FILE    read the store from FILE\n"
    "      --json           print JSON\n"
    "\n"
    "Exit status: 0 done (verify-proof: the proof holds), 1 failed, 2 bad usage.\n";

struct proof_opts {
	struct cli_common common;
	const char *seq, *size, *from, *to, *proof, *vkeys;
};

static int parse(int argc, char **argv, struct proof_opts *o)
{
	const struct cli_arg args[] = {
	    {"seq", &o->seq},	 {"size", &o->size},   {"from-size", &o->from},
	    {"to-size", &o->to}, {"proof", &o->proof}, {"vkeys", &o->vkeys},
	};

	return cli_parse_args("audit", argc, argv, &o->common, args,
			      sizeof(args) / sizeof(args[0]));
}

/* A number option: absent is 0 (when allowed), else a decimal in min..max. */
static bool number(const char *s, uint64_t min, uint64_t *out)
{
	*out = 0;
	return s == NULL || cid_parse_u64(s, strlen(s), min, (uint64_t)INT64_MAX, out) == CID_OK;
}

struct cid_audit_trust *cli_vkeys_read(const char *cmd, const char *path)
{
	size_t n = 0;
	char *buf = cli_read_file(cmd, path, CID_AUDIT_MAX_VKEYS, &n);
	struct cid_audit_trust *t = NULL;
	enum cid_err rc;

	if (buf == NULL)
		return NULL;
	rc = cid_audit_trust_parse(buf, n, &t);
	if (rc != CID_OK)
		fprintf(stderr,
			"civicid %s: %s: not a vkeys file (one vkey a line, at least one of the "
			"log: `civicid audit vkeys`): %s\n",
			cmd, path, cid_strerror(rc));
	free(buf);
	return t;
}

/* Says why a proof cannot be made, for rc of cid_audit_prove*. */
static int prove_fail(enum cid_err rc, const char *what)
{
	if (rc == CID_ERR_NOTFOUND) {
		fprintf(stderr,
			"civicid audit: %s: no such entry, or no signed checkpoint of that size "
			"(or none covering it yet: `civicid audit checkpoint` signs one)\n",
			what);
		return 1;
	}
	if (rc == CID_ERR_INVALID)
		return cli_usage("audit", "the entry must be below the checkpoint's size, and "
					  "--from-size at least 1 and at most --to-size");
	return cli_fail("audit", what, rc);
}

static int prove(struct cli_env *env, const struct proof_opts *o)
{
	uint64_t seq, size, from, to;
	char *out = NULL;
	enum cid_err rc;

	if ((o->seq != NULL) == (o->from != NULL))
		return cli_usage("audit", "prove takes --seq N or --from-size A");
	if ((o->seq == NULL && o->size != NULL) || (o->from == NULL && o->to != NULL))
		return cli_usage("audit", "--size goes with --seq, --to-size with --from-size");
	if (!number(o->seq, 0, &seq) || !number(o->size, 1, &size) || !number(o->from, 1, &from) ||
	    !number(o->to, 1, &to))
		return cli_usage("audit", "sizes and seqs are decimal numbers (sizes from 1)");
	if (cli_audit_tree_ready("audit", env) != 0)
		return 1;
	if (o->seq != NULL)
		rc = cid_audit_prove(env->store, seq, size, &out, NULL);
	else
		rc = cid_audit_prove_consistency(env->store, from, to, &out);
	if (rc != CID_OK)
		return prove_fail(rc, o->seq != NULL ? "prove --seq" : "prove --from-size");
	fputs(out, stdout);
	if (o->seq == NULL)
		fputc('\n', stdout);
	free(out);
	return 0;
}

/* The JSON of a proof's result, or NULL: a result short of a member is no result. */
static json_t *result_json(const struct cid_audit_proof_result *r)
{
	json_t *o =
	    json_pack("{s:b, s:s, s:I}", "ok", r->ok, "kind",
		      r->inclusion ? "inclusion" : "consistency", "size", (json_int_t)r->size);
	bool whole = o != NULL;

	if (whole && r->inclusion)
		whole = json_object_set_new(o, "seq", json_integer((json_int_t)r->seq)) == 0;
	if (whole && !r->inclusion)
		whole =
		    json_object_set_new(o, "old_size", json_integer((json_int_t)r->old_size)) == 0;
	if (whole && r->origin[0] != '\0')
		whole = json_object_set_new(o, "origin", json_string(r->origin)) == 0;
	if (whole && r->cosigned_at > 0)
		whole = json_object_set_new(o, "witness", json_string(r->witness)) == 0 &&
			json_object_set_new(o, "cosigned_at",
					    json_integer((json_int_t)r->cosigned_at)) == 0;
	if (whole && !r->ok)
		whole = json_object_set_new(o, "reason", json_string(r->reason)) == 0;
	if (!whole) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Prints a proof's result; returns the command's status: 0 when proven, else 1. */
static int print_result(const struct cid_audit_proof_result *r, bool json)
{
	char t[21];

	if (json)
		return cli_print_json(result_json(r)) != 0 || !r->ok ? 1 : 0;
	if (!r->ok) {
		printf("NOT PROVEN: %s\n", r->reason);
		return 1;
	}
	if (r->inclusion)
		printf("proven: entry %" PRIu64 " (%s, %s) is in the log %s of %" PRIu64
		       " entries, signed by its audit key\n",
		       r->seq, r->type, r->time, r->origin, r->size);
	else
		printf("proven: the log %s of %" PRIu64
		       " entries extends its checkpoint of %" PRIu64
		       " entries, both signed by its audit key\n",
		       r->origin, r->size, r->old_size);
	if (r->cosigned_at > 0 && cid_audit_time((int64_t)r->cosigned_at, t) == CID_OK)
		printf("cosigned by the witness %s at %s\n", r->witness, t);
	else
		printf("no cosignature of a witness whose vkey was given\n");
	return 0;
}

/* verify-proof: offline, from the proof file and the vkeys alone. */
static int verify_proof(const struct proof_opts *o)
{
	struct cid_audit_proof_result r;
	struct cid_audit_trust *t = NULL;
	size_t n = 0;
	char *doc = NULL;
	enum cid_err rc;
	int status = 1;

	if (o->proof == NULL || o->vkeys == NULL)
		return cli_usage("audit", "verify-proof needs --proof FILE and --vkeys VKEYS");
	if (o->common.store != NULL || o->common.config != NULL)
		return cli_usage("audit", "verify-proof works offline: no --store or --config");
	t = cli_vkeys_read("audit", o->vkeys);
	doc = t == NULL ? NULL : cli_read_file("audit", o->proof, CID_AUDIT_MAX_PROOF, &n);
	if (doc == NULL)
		goto out;
	rc = cid_audit_proof_verify(doc, n, t, &r);
	if (rc != CID_OK) {
		status = cli_fail("audit", "verify-proof", rc);
		goto out;
	}
	status = print_result(&r, o->common.json);
out:
	free(doc);
	cid_audit_trust_free(t);
	return status;
}

static int vkeys(struct cli_env *env, bool json)
{
	json_t *doc = NULL;
	const json_t *k;
	size_t i;
	enum cid_err rc = cid_audit_vkeys(env->store, &doc);

	if (rc == CID_ERR_NOTFOUND) {
		fprintf(stderr, "civicid audit: the store has no audit key yet: start `civicid "
				"serve` on it once\n");
		return 1;
	}
	if (rc != CID_OK)
		return cli_fail("audit", "vkeys", rc);
	if (json)
		return cli_print_json(doc);
	printf("# the audit verifier keys of %s, oldest first\n", cid_json_str(doc, "origin"));
	json_array_foreach(json_object_get(doc, "vkeys"), i, k)
	    printf("%s\n", json_string_value(k));
	json_decref(doc);
	return 0;
}

int cid_cli_audit_proof(int argc, char **argv)
{
	struct proof_opts o = {0};
	struct cli_env env;
	const char *verb = argv[1];
	int status;

	if (cli_wants_help(argc, argv))
		return cli_help(proof_help);
	status = parse(argc - 1, argv + 1, &o);
	if (status != 0)
		return status;
	if (strcmp(verb, "verify-proof") == 0)
		return verify_proof(&o);
	if (o.proof != NULL || o.vkeys != NULL)
		return cli_usage("audit", "--proof and --vkeys go with verify-proof");
	if (strcmp(verb, "vkeys") == 0 &&
	    (o.seq != NULL || o.size != NULL || o.from != NULL || o.to != NULL))
		return cli_usage("audit", "vkeys takes no --seq or size");
	if (cli_open("audit", &o.common, &env) != 0)
		return 1;
	status = strcmp(verb, "vkeys") == 0 ? vkeys(&env, o.common.json) : prove(&env, &o);
	cli_close(&env);
	return status;
}
