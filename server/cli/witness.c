/*
 * witness: `civicid witness init|add-log|serve|show`, a transparency-log
 * witness (c2sp.org/tlog-witness) that a third party runs beside, never
 * inside, the city's server: its own store directory, its own key, its own
 * HTTP daemon (server/witness/). The rule is libauth's (witness.h); here
 * are only arguments, output and signals.
 */
#include "cli.h"

#include "str.h"
#include "witness.h"
#include "witness/witness_http.h"

#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char witness_help[] =
    "usage: civicid witness VERB --store DIR [options]\n"
    "\n"
    "A witness for transparency logs such as civicid's audit log: it remembers,\n"
    "per log, the last checkpoint it cosigned, and cosigns a new one only when a\n"
    "consistency proof shows the log grew from it. A rollback, a truncation or a\n"
    "fork is refused, and named. Run it apart from the server it watches, with\n"
    "its own store.\n"
    "\n"
    "  init --name NAME     make the witness's Ed25519 key, named NAME (e.g.\n"
    "                       witness.pref.example/w1); prints its verifier key,\n"
    "                       which logs and auditors are given to trust it\n"
    "  add-log --origin ORIGIN --key VKEY\n"
    "                       follow the log ORIGIN (its checkpoints' first line),\n"
    "                       whose checkpoints VKEY (its Ed25519 note key) signs;\n"
    "                       again with another key for a key rotation\n"
    "  serve [--listen ADDR] [--port N]\n"
    "                       answer POST /add-checkpoint (c2sp.org/tlog-witness) on\n"
    "                       ADDR (default 127.0.0.1) port N (default 8090; 0 picks\n"
    "                       one); SIGTERM/SIGINT stop\n"
    "  show                 the witness's key and, per log, its keys, the size and\n"
    "                       root last cosigned, and the last refused checkpoint\n"
    "\n"
    "  -s, --store DIR      the witness's own LMDB store (required; made 0700)\n"
    "      --json           print JSON (init, show)\n";

struct opts {
	const char *store;
	const char *name;
	const char *origin;
	const char *key;
	const char *listen;
	const char *port;
	bool json;
};

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
	    {"store", required_argument, NULL, 's'},  {"name", required_argument, NULL, 'n'},
	    {"origin", required_argument, NULL, 'o'}, {"key", required_argument, NULL, 'k'},
	    {"listen", required_argument, NULL, 'l'}, {"port", required_argument, NULL, 'p'},
	    {"json", no_argument, NULL, 'j'},	      {NULL, 0, NULL, 0},
	};
	int opt;

	optind = 1;
	while ((opt = getopt_long(argc - 1, argv + 1, "s:", longopts, NULL)) != -1) {
		switch (opt) {
		case 's': o->store = optarg; break;
		case 'n': o->name = optarg; break;
		case 'o': o->origin = optarg; break;
		case 'k': o->key = optarg; break;
		case 'l': o->listen = optarg; break;
		case 'p': o->port = optarg; break;
		case 'j': o->json = true; break;
		default: return cli_usage("witness", "unknown option");
		}
	}
	if (optind != argc - 1)
		return cli_usage("witness", "unexpected argument");
	if (o->store == NULL)
		return cli_usage("witness", "--store DIR is required (the witness's own store)");
	return 0;
}

static int open_store(const struct opts *o, struct cid_store **s)
{
	enum cid_err rc = cid_store_open(o->store, s);

	if (rc != CID_OK) {
		fprintf(stderr, "civicid witness: cannot open the store %s: %s\n", o->store,
			cid_strerror(rc));
		return 1;
	}
	return 0;
}

static int init(struct cid_store *s, const struct opts *o)
{
	char *vkey = NULL;
	enum cid_err rc;

	if (o->name == NULL)
		return cli_usage("witness", "init needs --name NAME");
	rc = cid_witness_init(s, o->name, cli_now(), &vkey);
	if (rc == CID_ERR_EXISTS) {
		fprintf(stderr,
			"civicid witness: %s already has a witness key (civicid witness "
			"show prints it)\n",
			o->store);
		return 1;
	}
	if (rc == CID_ERR_INVALID)
		return cli_usage("witness", "--name must be a key name: no spaces, no '+', at most "
					    "256 bytes (a schema-less URL such as "
					    "witness.example/w1)");
	if (rc != CID_OK)
		return cli_fail("witness", "init", rc);
	if (o->json)
		cli_print_json(json_pack("{s:s, s:s}", "name", o->name, "vkey", vkey));
	else
		printf("%s\n", vkey);
	free(vkey);
	return 0;
}

static int add_log(struct cid_store *s, const struct opts *o)
{
	enum cid_err rc;

	if (o->origin == NULL || o->key == NULL)
		return cli_usage("witness", "add-log needs --origin ORIGIN and --key VKEY");
	rc = cid_witness_add_log(s, o->origin, o->key);
	if (rc == CID_ERR_INVALID)
		return cli_usage("witness", "--origin must be one line of text and --key the log's "
					    "Ed25519 verifier key (name+id+key)");
	if (rc == CID_ERR_EXISTS) {
		fprintf(stderr, "civicid witness: that key is already trusted for %s\n", o->origin);
		return 1;
	}
	if (rc == CID_ERR_TOOBIG) {
		fprintf(stderr, "civicid witness: %s has too many keys already\n", o->origin);
		return 1;
	}
	if (rc != CID_OK)
		return cli_fail("witness", "add-log", rc);
	printf("following %s\n", o->origin);
	return 0;
}

static int show(struct cid_store *s, const struct opts *o)
{
	json_t *st = NULL;
	const json_t *log, *k;
	size_t i, j;
	char when[32];
	enum cid_err rc = cid_witness_state(s, &st);

	if (rc == CID_ERR_NOTFOUND) {
		fprintf(stderr, "civicid witness: %s has no witness (civicid witness init)\n",
			o->store);
		return 1;
	}
	if (rc != CID_OK)
		return cli_fail("witness", "show", rc);
	if (o->json) {
		cli_print_json(st);
		return 0;
	}
	printf("name: %s\nvkey: %s\n", cid_json_str(st, "name"), cid_json_str(st, "vkey"));
	json_array_foreach(json_object_get(st, "logs"), i, log)
	{
		const json_t *refused = json_object_get(log, "refused");

		printf("\nlog %s\n", cid_json_str(log, "origin"));
		json_array_foreach(json_object_get(log, "keys"), j, k)
		    printf("  key      %s\n", json_string_value(k));
		printf("  size     %lld\n  root     %s\n", (long long)cid_json_int(log, "size"),
		       cid_json_str(log, "root"));
		if (json_object_get(log, "time") != NULL)
			printf("  cosigned %s\n", cli_time(cid_json_int(log, "time"), when));
		if (refused != NULL)
			printf("  refused  %s at %s (civicid witness show --json has the "
			       "log-signed checkpoint)\n",
			       cid_json_str(refused, "verdict"),
			       cli_time(cid_json_int(refused, "time"), when));
	}
	json_decref(st);
	return 0;
}

static int serve(struct cid_store *s, const struct opts *o)
{
	const char *listen = o->listen != NULL ? o->listen : "127.0.0.1";
	struct cid_witness *w = NULL;
	struct cid_witness_http *h = NULL;
	uint64_t want = 8090;
	uint16_t port = 0;
	sigset_t set;
	int sig = 0;
	enum cid_err rc;

	if (o->port != NULL && cid_parse_u64(o->port, strlen(o->port), 0, 65535, &want) != CID_OK)
		return cli_usage("witness", "--port must be 0..65535");
	rc = cid_witness_open(s, &w);
	if (rc == CID_ERR_NOTFOUND) {
		fprintf(stderr, "civicid witness: %s has no witness (civicid witness init)\n",
			o->store);
		return 1;
	}
	if (rc != CID_OK)
		return cli_fail("witness", "opening the witness", rc);
	/* block the signals before any thread starts, so only sigwait receives them */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	rc = cid_witness_http_start(w, listen, (uint16_t)want, stderr, &h, &port);
	if (rc != CID_OK) {
		fprintf(stderr, "civicid witness: cannot listen on %s port %u: %s\n", listen,
			(unsigned)want, cid_strerror(rc));
		cid_witness_free(w);
		return 1;
	}
	printf("civicid witness: listening on %s port %u\n", listen, (unsigned)port);
	printf("civicid witness: vkey %s\n", cid_witness_vkey(w));
	fflush(stdout);
	while (sig != SIGINT && sig != SIGTERM)
		if (sigwait(&set, &sig) != 0)
			break;
	fprintf(stderr, "civicid witness: stopping\n");
	cid_witness_http_stop(h);
	cid_witness_free(w);
	return 0;
}

int cid_cli_witness(int argc, char **argv)
{
	struct opts o = {0};
	struct cid_store *s = NULL;
	const char *verb;
	int status;

	if (argc < 2 || cli_wants_help(argc, argv))
		return argc < 2 ? (fputs(witness_help, stderr), 2) : cli_help(witness_help);
	verb = argv[1];
	if (strcmp(verb, "init") != 0 && strcmp(verb, "add-log") != 0 &&
	    strcmp(verb, "serve") != 0 && strcmp(verb, "show") != 0)
		return cli_usage("witness", "unknown verb");
	status = parse(argc, argv, &o);
	if (status != 0)
		return status;
	if ((o.name != NULL && strcmp(verb, "init") != 0) ||
	    ((o.origin != NULL || o.key != NULL) && strcmp(verb, "add-log") != 0) ||
	    ((o.listen != NULL || o.port != NULL) && strcmp(verb, "serve") != 0))
		return cli_usage("witness", "an option of another verb");
	status = open_store(&o, &s);
	if (status != 0)
		return status;
	if (strcmp(verb, "init") == 0)
		status = init(s, &o);
	else if (strcmp(verb, "add-log") == 0)
		status = add_log(s, &o);
	else if (strcmp(verb, "serve") == 0)
		status = serve(s, &o);
	else
		status = show(s, &o);
	cid_store_close(s);
	return status;
}
