/*
 * audit_provisions: `civicid audit provisions`: the third-party provision
 * records of APPI Art. 29 made from the audit log (libauth's provision.h
 * makes them; this file reads options and prints), and `--purge-before`,
 * which says whether the records before a day are past the retention of
 * Art. 30 (provision.h decides; a record still kept refuses).
 */
#include "cli.h"

#include "audit.h"
#include "provision.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char provisions_help[] =
    "usage: civicid audit provisions [--recipient SERVICE] [--from T] [--to T]\n"
    "                                [--format text|csv|json] [--purge-before T]\n"
    "\n"
    "The third-party provision records (第三者提供記録, APPI Art. 29) made from the\n"
    "log's release.permit entries: per recipient and citizen, the recipient's\n"
    "legal name and corporate number (from its policy, as in force at each\n"
    "release), the items, whether consent was obtained with the consent record\n"
    "ids, the bases, the dates (in Japan) and the first and last release.\n"
    "Recipients whose policy says relationship entrusted or internal are no\n"
    "third party: listed apart and labelled, not as records (not in the CSV).\n"
    "\n"
    "      --recipient S    one recipient (a client_id)\n"
    "      --from T --to T  releases with from <= time < to: 2026-11-25 (midnight\n"
    "                       UTC) or 2026-11-25T09:30:00Z; default: the whole log\n"
    "      --format F       text (default), csv (the records, for a spreadsheet)\n"
    "                       or json (as --json)\n"
    "      --purge-before T may the records of the releases before T be purged?\n"
    "                       A record is kept 3 years from its last provision (APPI\n"
    "                       Art. 30, rules Art. 21): exit 0 when every one is past\n"
    "                       it, 1 (refused, naming the record and the day it is\n"
    "                       kept until) otherwise. It purges nothing itself.\n"
    "  -s, --store DIR      LMDB store directory (default ./var/civicid)\n"
    "  -c, --config FILE    read the store from FILE\n"
    "      --json           print JSON\n"
    "\n"
    "Exit status: 0 done (or the purge is allowed), 1 failed or refused, 2 bad usage.\n";

struct opts {
	struct cli_common common;
	const char *format;
	char from[21], to[21], purge[21];
	struct cid_provision_query q;
	bool purge_check;
};

static void print_list(const json_t *row, const char *name)
{
	size_t i;
	const json_t *v;

	json_array_foreach(json_object_get(row, name), i, v)
	    printf("%s%s", i > 0 ? " " : "", json_string_value(v));
}

static void print_rows(const json_t *rows, bool third_party)
{
	size_t i;
	const json_t *r;
	const char *service = NULL;

	json_array_foreach(rows, i, r)
	{
		const json_t *rec = json_object_get(r, "recipient");
		const char *name = cid_json_str(rec, "name");
		const char *number = cid_json_str(rec, "corporate_number");

		if (service == NULL || strcmp(service, cid_json_str(r, "service")) != 0) {
			service = cid_json_str(r, "service");
			if (third_party)
				printf("recipient %s: %s, corporate number %s\n", service,
				       name != NULL ? name : "(no legal name in its policy)",
				       number != NULL ? number : "(none in its policy)");
			else
				printf("recipient %s: %s, %s\n", service,
				       cid_json_str(rec, "relationship"),
				       name != NULL ? name : "(no legal name in its policy)");
		}
		printf("  citizen %s: items ", cid_json_str(r, "citizen"));
		print_list(r, "attributes");
		if (json_is_true(json_object_get(r, "consent_obtained"))) {
			printf("; consent obtained, records ");
			print_list(r, "consent_records");
		} else {
			printf("; no consent (bases ");
			print_list(r, "bases");
			printf(")");
		}
		printf("; dates ");
		print_list(r, "dates");
		printf("; %lld releases\n", (long long)cid_json_int(r, "count"));
	}
}

static int print_records(const struct opts *o, json_t *rec)
{
	const json_t *provisions = json_object_get(rec, "provisions");
	const json_t *others = json_object_get(rec, "not_third_party");

	if (o->common.json || (o->format != NULL && strcmp(o->format, "json") == 0)) {
		if (json_object_set_new(rec, "from",
					o->q.from ? json_string(o->q.from) : json_null()) != 0 ||
		    json_object_set_new(rec, "to", o->q.to ? json_string(o->q.to) : json_null()) !=
			0) {
			json_decref(rec);
			return cli_print_json(NULL);
		}
		return cli_print_json(rec);
	}
	if (o->format != NULL && strcmp(o->format, "csv") == 0) {
		enum cid_err rc = cid_provision_records_csv(rec, stdout);
		json_decref(rec);
		return rc == CID_OK ? 0 : cli_fail("audit", "provisions", rc);
	}
	printf("third-party provision records (APPI Art. 29), %s to %s\n",
	       o->q.from ? o->q.from : "the start", o->q.to ? o->q.to : "now");
	print_rows(provisions, true);
	if (json_array_size(provisions) == 0)
		printf("no provisions in the period\n");
	if (json_array_size(others) > 0) {
		printf("\nnot third-party provisions (APPI Art. 27(5): entrusted or internal), "
		       "no record kept:\n");
		print_rows(others, false);
	}
	json_decref(rec);
	return 0;
}

/* rec: the records before the day; all: every release of the same recipients. */
static int purge_check(const struct opts *o, json_t *rec, const json_t *all)
{
	const json_t *refused = NULL;
	char keep_until[11] = "";
	const json_t *provisions = json_object_get(rec, "provisions");
	bool allowed = false;
	int status;

	if (cid_provision_records_purge_allowed(provisions, all, cli_now(), &allowed, &refused,
						keep_until) != CID_OK) {
		json_decref(rec);
		return cli_fail("audit", "provisions", CID_ERR_NOMEM);
	}
	status = allowed ? 0 : 1;

	if (o->common.json) {
		json_t *r = json_pack("{s:s, s:b, s:I}", "purge_before", o->q.to, "allowed",
				      allowed, "records", (json_int_t)json_array_size(provisions));
		if (r != NULL && !allowed &&
		    json_object_set_new(r, "refused",
					json_pack("{s:s?, s:s?, s:s?, s:s}", "service",
						  cid_json_str(refused, "service"), "citizen",
						  cid_json_str(refused, "citizen"), "last",
						  cid_json_str(refused, "last"), "keep_until",
						  keep_until)) != 0) {
			json_decref(r);
			r = NULL;
		}
		json_decref(rec);
		return cli_print_json(r) != 0 ? 1 : status;
	}
	if (allowed)
		printf("the %zu provision records before %s are past their retention (3 years, "
		       "APPI Art. 30): a purge may remove them\n",
		       json_array_size(provisions), o->q.to);
	else
		fprintf(stderr,
			"civicid audit: purge refused: the provision record of %s to citizen %s "
			"(last provision %s) must be kept until %s (APPI Art. 30 and its rules "
			"Art. 21: 3 years from the last provision)\n",
			cid_json_str(refused, "service"), cid_json_str(refused, "citizen"),
			cid_json_str(refused, "last"), keep_until[0] ? keep_until : "a later day");
	json_decref(rec);
	return status;
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option options[] = {
	    CLI_COMMON_OPTIONS,
	    {"recipient", required_argument, NULL, 'R'},
	    {"from", required_argument, NULL, 'b'},
	    {"to", required_argument, NULL, 'e'},
	    {"format", required_argument, NULL, 'F'},
	    {"purge-before", required_argument, NULL, 'P'},
	    {NULL, 0, NULL, 0},
	};
	int opt;

	optind = 1;
	while ((opt = getopt_long(argc - 1, argv + 1, CLI_COMMON_SHORT, options, NULL)) != -1) {
		char *bound = opt == 'b' ? o->from : opt == 'e' ? o->to : o->purge;
		switch (opt) {
		case 'R': o->q.recipient = optarg; break;
		case 'F': o->format = optarg; break;
		case 'b':
		case 'e':
		case 'P':
			if (cid_audit_bound_parse(optarg, bound) != CID_OK)
				return cli_usage("audit", "--from/--to/--purge-before: YYYY-MM-DD "
							  "or YYYY-MM-DDTHH:MM:SSZ");
			*(opt == 'b' ? &o->q.from : &o->q.to) = bound;
			o->purge_check = o->purge_check || opt == 'P';
			break;
		default:
			if (!cli_common_option(&o->common, opt, optarg))
				return cli_usage("audit", "unknown option");
			break;
		}
	}
	if (optind != argc - 1)
		return cli_usage("audit", "unexpected argument");
	if (o->format != NULL && strcmp(o->format, "text") != 0 && strcmp(o->format, "csv") != 0 &&
	    strcmp(o->format, "json") != 0)
		return cli_usage("audit", "--format is text, csv or json");
	if (o->purge_check && (o->q.from != NULL || o->q.to != o->purge || o->format != NULL))
		return cli_usage("audit", "--purge-before takes no --from, --to or --format "
					  "(it checks every record before the day)");
	return 0;
}

int cid_cli_audit_provisions(int argc, char **argv)
{
	struct opts o = {0};
	struct cli_env env;
	struct cid_txn *txn = NULL;
	json_t *rec = NULL;
	json_t *all = NULL;
	enum cid_err rc;
	int status;

	if (cli_wants_help(argc, argv))
		return cli_help(provisions_help);
	status = parse(argc, argv, &o);
	if (status != 0)
		return status;
	if (cli_open("audit", &o.common, &env) != 0)
		return 1;
	rc = cid_store_read_begin(env.store, &txn);
	if (rc == CID_OK)
		rc = cid_provision_records(txn, &o.q, &rec);
	/* a record is kept from its newest provision, one after the day included */
	if (rc == CID_OK && o.purge_check) {
		const struct cid_provision_query every = {.recipient = o.q.recipient};
		rc = cid_provision_records(txn, &every, &all);
	}
	cid_store_read_end(txn);
	if (rc != CID_OK) {
		json_decref(rec);
		status = cli_fail("audit", "provisions", rc);
	} else if (o.purge_check) {
		status = purge_check(&o, rec, all);
	} else {
		status = print_records(&o, rec);
	}
	json_decref(all);
	cli_close(&env);
	return status;
}
