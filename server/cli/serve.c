/*
 * serve: `civicid serve`: load the configuration, open the context, start
 * HTTP, and wait for signals. SIGINT/SIGTERM stop; SIGHUP reloads the signing
 * keys and the release policies now. Both are also checked every few seconds,
 * so a `civicid keys rotate` or `civicid policy reload` from another process
 * is picked up without a restart. A reload swaps snapshots: no request is
 * dropped, and a bad policy file leaves the old policies in force.
 *
 * The context writes every release to its audit log before the answer
 * (cid.h); here, on this thread and never on a request's, a signed
 * checkpoint is made every audit_checkpoint_interval seconds when the log
 * grew, and once more at shutdown, and pushed to the configured witnesses
 * (audit_witnesses). A store from before the audit log's Merkle tree gets
 * its tree built here too, a bounded batch between two looks at the
 * signals, while requests are served. Every CID_JANITOR_INTERVAL seconds
 * (its walk reads every token and session) the janitor deletes what the
 * store no longer needs (janitor.h: spent codes and refresh tokens, ended
 * sessions, expired failed-login counters, grants whose tokens are all
 * gone), and every CID_SWEEP_INTERVAL seconds the consents that expired
 * since get their consent.expired entry
 * (consent_sweep.h; at most CID_CONSENT_SWEEP_MAX a run, the rest at the
 * next), once at start too. A worker thread sends the back-channel logout
 * notices (logout_notify.h). SIGUSR1, and the stop, print how the audit
 * log's group commit grouped since the last such print (audit.h, struct
 * cid_audit_stats) on stderr: what the benchmark reports; SIGUSR1 also the
 * argon2id hashes at once (crypto.h cid_hash_gate_stats). A store that LMDB
 * has given up on (cid_store_broken: a commit failed writing its meta page)
 * fails every transaction until reopened, so the server stops, with status
 * 1, within a tick of noticing: a supervisor's restart reopens it at its
 * last durable commit.
 */
#include "cli.h"

#include "audit.h"
#include "bounds.h"
#include "cid.h"
#include "config.h"
#include "consent_sweep.h"
#include "http/http.h"
#include "http/template.h"
#include "janitor.h"
#include "logout_notify.h"
#include "policy.h"
#include "policy_law.h"
#include "retention.h"
#include "tenant.h"

#include <getopt.h>
#include <inttypes.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#ifndef CID_WEB_DIR
#define CID_WEB_DIR "web"
#endif

static const char serve_help[] =
    "usage: civicid serve [options]\n"
    "\n"
    "Runs the OpenID Connect provider.\n"
    "\n"
    "  -c, --config FILE    read the configuration file FILE (see --help-config)\n"
    "  -l, --listen ADDR    listen address, an IPv4 or IPv6 literal (default 127.0.0.1)\n"
    "  -p, --port N         listen port; 0 picks a free port (default 8080)\n"
    "  -i, --issuer URL     issuer URL as clients see it (default http://127.0.0.1:8080)\n"
    "  -s, --store DIR      LMDB store directory (default ./var/civicid)\n"
    "  -w, --web-dir DIR    templates, messages and static files (default: built-in path)\n"
    "  -P, --policies DIR   the services' release policies, *.policy (default ./policies)\n"
    "  -n, --check          check the configuration and the policies and exit\n"
    "      --help-config    describe every configuration key\n"
    "  -h, --help           this text\n"
    "\n"
    "Flags override the file. On start civicid prints the issuer and the bound port.\n"
    "A store with tenants (civicid tenant) serves each at ISSUER/t/NAME instead (or\n"
    "at its own host, chosen by the Host header), and --check checks each tenant's\n"
    "policies.\n"
    "Signals: SIGTERM/SIGINT stop; SIGHUP reloads the signing keys and the policies\n"
    "(so does `civicid policy reload`); a bad policy file leaves the old ones in force.\n"
    "SIGUSR1 prints the audit log's group-commit counters since the last print to stderr\n"
    "(\"civicid: audit group commit: ...\"); so does the stop. It also prints how many\n"
    "argon2id hashes ran at once (\"civicid: argon2id hashes: ...\"; argon2_at_once).\n";

/* Applies one flag as the config key it stands for. */
static int set_flag(struct cid_config *cfg, const char *key, const char *value)
{
	char err[256];

	if (cid_config_set(cfg, key, value, err, sizeof(err)) != CID_OK) {
		fprintf(stderr, "civicid serve: --%s: %s\n", key, err);
		return 2;
	}
	return 0;
}

static int parse(int argc, char **argv, struct cid_config *cfg, bool *check_only)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"listen", required_argument, NULL, 'l'},
	    {"port", required_argument, NULL, 'p'},
	    {"issuer", required_argument, NULL, 'i'},
	    {"store", required_argument, NULL, 's'},
	    {"web-dir", required_argument, NULL, 'w'},
	    {"policies", required_argument, NULL, 'P'},
	    {"check", no_argument, NULL, 'n'},
	    {"help-config", no_argument, NULL, 'C'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	static const char *const keys[128] = {
	    ['l'] = "listen", ['p'] = "port",	 ['i'] = "issuer",
	    ['s'] = "store",  ['w'] = "web_dir", ['P'] = "policies"};
	char err[512];
	int opt;
	int rc;

	/*
	 * Two passes: the file first (in any spelling getopt accepts: -cFILE,
	 * --config=FILE), so that flags override it whatever their order.
	 */
	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:l:p:i:s:w:P:nh", opts, NULL)) != -1)
		if (opt == 'c' && cid_config_load(cfg, optarg, err, sizeof(err)) != CID_OK) {
			fprintf(stderr, "civicid serve: %s\n", err);
			return 2;
		}
	opterr = 1;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:l:p:i:s:w:P:nh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': break;
		case 'n': *check_only = true; break;
		case 'C': cid_config_describe(stdout); return -1;
		case 'h': fputs(serve_help, stdout); return -1;
		case 'l':
		case 'p':
		case 'i':
		case 's':
		case 'w':
		case 'P':
			rc = set_flag(cfg, keys[opt], optarg);
			if (rc != 0)
				return rc;
			break;
		default: fputs(serve_help, stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "civicid serve: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (cid_config_check(cfg, err, sizeof(err)) != CID_OK) {
		fprintf(stderr, "civicid serve: %s\n", err);
		return 2;
	}
	return 0;
}

/* Reloads the policies on SIGHUP or when `civicid policy reload` asked; says what happened. */
static void refresh_policies(struct cid_ctx *ctx, bool force)
{
	const struct cid_config *cfg = cid_ctx_config(ctx);
	bool reloaded = false;
	enum cid_err rc = cid_ctx_policies_refresh(ctx, force, stderr, &reloaded);

	if (rc == CID_ERR_CONFIG || rc == CID_ERR_IO) {
		fprintf(stderr,
			"civicid: the policies of %s were not reloaded: errors above; the old "
			"policies stay in force\n",
			cfg->policies_dir);
	} else if (rc != CID_OK) {
		fprintf(stderr, "civicid: reloading the policies failed: %s (old policies stay)\n",
			cid_strerror(rc));
	} else if (reloaded) {
		struct cid_policyref *r = cid_ctx_policies_acquire(ctx);

		fprintf(stderr, "civicid: policies reloaded from %s: %zu policies\n",
			cfg->policies_dir, cid_policyset_count(cid_policyref_set(r)));
		cid_policyref_put(r);
	}
}

/*
 * Signs a checkpoint of the audit log if it grew since the last one and
 * pushes the newest to the witnesses; says why not if it fails. While the
 * tree of an older store is being built there is nothing to sign yet.
 */
static void checkpoint(struct cid_ctx *ctx, const struct cid_audit_witnesses *ws)
{
	int64_t now = (int64_t)time(NULL);
	enum cid_err rc = cid_audit_checkpoint(cid_ctx_store(ctx), now, NULL);

	if (rc != CID_OK && rc != CID_ERR_NOTFOUND && rc != CID_ERR_TOOEARLY)
		fprintf(stderr, "civicid: signing an audit checkpoint failed: %s\n",
			cid_strerror(rc));
	if (rc == CID_OK)
		rc = cid_audit_witness_push(cid_ctx_store(ctx), ws, now, stderr);
	if (rc != CID_OK && rc != CID_ERR_NOTFOUND && rc != CID_ERR_TOOEARLY)
		fprintf(stderr, "civicid: pushing the audit checkpoint to witnesses failed: %s\n",
			cid_strerror(rc));
}

/*
 * One batch of the Merkle tree of a store written before it; false once the
 * tree is current (or cannot be built: said once, and `audit verify` names
 * the damage).
 */
static bool build_tree(struct cid_ctx *ctx, bool first)
{
	uint64_t left = 0;
	enum cid_err rc =
	    cid_audit_tree_catch_up(cid_ctx_store(ctx), first ? 0 : CID_AUDIT_CATCH_UP, &left);

	if (rc != CID_OK) {
		fprintf(stderr,
			"civicid: building the audit log's Merkle tree failed: %s (run `civicid "
			"audit verify`); no checkpoint is signed until it is built\n",
			cid_strerror(rc));
		return false;
	}
	if (first && left > 0)
		fprintf(stderr,
			"civicid: building the audit log's Merkle tree over %" PRIu64
			" entries written before it (requests are served meanwhile)\n",
			left);
	else if (!first && left == 0)
		fprintf(stderr, "civicid: the audit log's Merkle tree is built\n");
	return left > 0;
}

/*
 * Deletes the records the store no longer needs (the janitor, when janitor
 * is true), logs the consents that expired, then purges what has passed its
 * retention (the policies in force decide); says why not if any fails.
 */
static void sweep(struct cid_ctx *ctx, bool janitor)
{
	struct cid_consent_sweep done;
	struct cid_retention_sweep purged;
	struct cid_policyref *pr;
	enum cid_err rc = CID_OK;

	if (cid_store_full(cid_ctx_store(ctx)))
		fprintf(stderr,
			"civicid: the store is full: its map reached its limit of %zu GiB and "
			"every write fails (logins, tokens, releases); reads go on\n",
			cid_store_map_size(cid_ctx_store(ctx)) >> 30);
	if (janitor)
		rc = cid_janitor_run(cid_ctx_store(ctx), (int64_t)time(NULL), NULL);
	if (rc != CID_OK)
		fprintf(stderr, "civicid: deleting expired tokens and sessions failed: %s\n",
			cid_strerror(rc));
	rc = cid_consent_sweep(cid_ctx_store(ctx), cid_ctx_audit_log(ctx), (int64_t)time(NULL),
			       CID_CONSENT_SWEEP_MAX, &done);
	if (rc != CID_OK)
		fprintf(stderr, "civicid: logging expired consents failed: %s\n", cid_strerror(rc));
	else if (done.damaged > 0)
		fprintf(stderr,
			"civicid: logging expired consents skipped %zu damaged consent records\n",
			done.damaged);
	pr = cid_ctx_policies_acquire(ctx);
	/* a step, not a whole pass: the loop goes on to signals and keys soon */
	rc =
	    cid_retention_sweep_step(cid_ctx_store(ctx), cid_policyref_set(pr), (int64_t)time(NULL),
				     CID_CONSENT_SWEEP_MAX, CID_RETENTION_STEP_KEYS, &purged);
	cid_policyref_put(pr);
	if (rc != CID_OK)
		fprintf(stderr, "civicid: purging at the end of retention failed: %s\n",
			cid_strerror(rc));
}

/*
 * Prints the argon2id gate's counters since the last print, and restarts them:
 * hashes at once on average against the places, so a login benchmark shows
 * whether the cores were kept hashing.
 */
static void gate_stats(struct cid_hash_gate *g)
{
	struct cid_hash_gate_stats st;

	cid_hash_gate_stats_take(g, &st);
	fprintf(stderr,
		"civicid: argon2id hashes: %" PRIu64 " in %.1f s, %.2f at once on average of %u "
		"places, %.1f ms mean wait for a place\n",
		st.hashes, st.seconds, st.in_flight, cid_hash_gate_limit(g), st.wait_ms);
}

/* Prints the audit log's group-commit counters since the last print, and restarts them. */
static void audit_stats(struct cid_ctx *ctx)
{
	struct cid_audit_stats st;
	char line[1024];

	cid_audit_stats_take(cid_ctx_audit_log(ctx), &st);
	if (cid_audit_stats_format(&st, line, sizeof(line)) == CID_OK)
		fprintf(stderr, "civicid: audit group commit: %s\n", line);
}

/*
 * Waits for a stop signal, refreshing keys and policies every few seconds and
 * on SIGHUP; builds a lagging audit tree batch by batch in between. False
 * when it stopped for a broken store rather than a signal.
 */
static bool run(struct cid_ctx *ctx, const sigset_t *set, const struct cid_audit_witnesses *ws,
		struct cid_hash_gate *gate)
{
	const struct timespec tick = {.tv_sec = 5, .tv_nsec = 0};
	const struct timespec none = {.tv_sec = 0, .tv_nsec = 0};
	int64_t interval = cid_ctx_config(ctx)->audit_checkpoint_interval;
	int64_t next_checkpoint = (int64_t)time(NULL) + interval;
	int64_t next_sweep = (int64_t)time(NULL);
	int64_t next_janitor = next_sweep;
	bool lagging = build_tree(ctx, true);

	for (;;) {
		int sig = sigtimedwait(set, NULL, lagging ? &none : &tick);
		enum cid_err rc;

		if (sig == SIGINT || sig == SIGTERM)
			return true;
		if (cid_store_broken(cid_ctx_store(ctx))) {
			fprintf(stderr, "civicid: the store failed a commit beyond repair (LMDB "
					"panic): stopping; a restart reopens it at its last "
					"durable commit\n");
			return false;
		}
		if (sig == SIGUSR1) {
			audit_stats(ctx);
			gate_stats(gate);
		}
		if (lagging)
			lagging = build_tree(ctx, false);
		if ((int64_t)time(NULL) >= next_checkpoint) {
			checkpoint(ctx, ws);
			next_checkpoint = (int64_t)time(NULL) + interval;
		}
		if ((int64_t)time(NULL) >= next_sweep) {
			bool janitor = (int64_t)time(NULL) >= next_janitor;

			sweep(ctx, janitor);
			next_sweep = (int64_t)time(NULL) + CID_SWEEP_INTERVAL;
			if (janitor)
				next_janitor = (int64_t)time(NULL) + CID_JANITOR_INTERVAL;
		}
		rc = cid_ctx_keys_refresh(ctx, (int64_t)time(NULL));
		if (rc != CID_OK)
			fprintf(stderr,
				"civicid: reloading signing keys failed: %s (old keys stay)\n",
				cid_strerror(rc));
		else if (sig == SIGHUP)
			fprintf(stderr, "civicid: signing keys reloaded\n");
		refresh_policies(ctx, sig == SIGHUP);
	}
}

/* ---- several cities (tenant.h) ---- */

/* What one tick does for each opened tenant: the same work as run()'s, in turn. */
struct tick {
	const struct cid_audit_witnesses *ws;
	int sig;
	bool checkpoint, sweep, janitor, final, broken;
};

static void tenant_tick(struct cid_ctx *ctx, const char *name, void *arg)
{
	struct tick *k = arg;
	uint64_t left = 0;
	enum cid_err rc;

	if (k->final) {
		checkpoint(ctx, k->ws);
		audit_stats(ctx);
		return;
	}
	if (cid_store_broken(cid_ctx_store(ctx))) {
		fprintf(stderr, "civicid: tenant %s: the store failed a commit beyond repair\n",
			name);
		k->broken = true;
		return;
	}
	if (k->sig == SIGUSR1)
		audit_stats(ctx);
	/* a store from before the Merkle tree (an adopted one): a batch per tick */
	if (cid_audit_tree_catch_up(cid_ctx_store(ctx), CID_AUDIT_CATCH_UP, &left) != CID_OK)
		fprintf(stderr, "civicid: tenant %s: building the audit log's Merkle tree failed\n",
			name);
	if (k->checkpoint)
		checkpoint(ctx, k->ws);
	if (k->sweep)
		sweep(ctx, k->janitor);
	rc = cid_ctx_keys_refresh(ctx, (int64_t)time(NULL));
	if (rc != CID_OK)
		fprintf(stderr, "civicid: tenant %s: reloading signing keys failed: %s\n", name,
			cid_strerror(rc));
	refresh_policies(ctx, k->sig == SIGHUP);
}

/*
 * run() for several cities: one loop over the opened tenants (never a thread
 * per tenant); a tenant disabled meanwhile stops being answered.
 */
static bool run_tenants(struct cid_tenants *t, int64_t interval, const sigset_t *set,
			const struct cid_audit_witnesses *ws, struct cid_hash_gate *gate)
{
	const struct timespec tick = {.tv_sec = 5, .tv_nsec = 0};
	int64_t next_checkpoint = (int64_t)time(NULL) + interval;
	int64_t next_sweep = (int64_t)time(NULL);
	int64_t next_janitor = next_sweep;

	for (;;) {
		int sig = sigtimedwait(set, NULL, &tick);
		struct tick k = {.ws = ws, .sig = sig};

		if (sig == SIGINT || sig == SIGTERM)
			return true;
		if (sig == SIGUSR1)
			gate_stats(gate);
		k.checkpoint = (int64_t)time(NULL) >= next_checkpoint;
		k.sweep = (int64_t)time(NULL) >= next_sweep;
		k.janitor = k.sweep && (int64_t)time(NULL) >= next_janitor;
		cid_tenants_refresh(t);
		cid_tenants_each(t, tenant_tick, &k);
		if (k.broken) {
			fprintf(stderr, "civicid: stopping; a restart reopens the store at its "
					"last durable commit\n");
			return false;
		}
		if (k.checkpoint)
			next_checkpoint = (int64_t)time(NULL) + interval;
		if (k.sweep)
			next_sweep = (int64_t)time(NULL) + CID_SWEEP_INTERVAL;
		if (k.janitor)
			next_janitor = (int64_t)time(NULL) + CID_JANITOR_INTERVAL;
	}
}

/*
 * Each opened tenant holds its store's two files open (tenant.h): the soft
 * limit on open files goes up to the hard one, so the national worst case
 * (1,741 tenants, 3,482 files) fits beside the connections.
 */
static void raise_nofile_for_tenants(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* serve for a store with tenants: no single context; each tenant opens on its first request. */
static int serve_tenants(struct cid_config *cfg, const struct cid_templates *tpl,
			 const struct cid_audit_witnesses *ws, const sigset_t *set)
{
	struct cid_tenants *t = NULL;
	struct cid_http *http = NULL;
	struct cid_logout_worker *logout = NULL;
	uint16_t port = 0;
	size_t hosts;
	enum cid_err rc = cid_tenants_new(cfg, stderr, &t);
	int status = 1;

	raise_nofile_for_tenants();
	if (rc == CID_OK)
		rc = cid_http_start_tenants(cfg, t, tpl, &http, &port);
	if (rc != CID_OK) {
		fprintf(stderr, "civicid serve: cannot listen on %s port %u: %s\n", cfg->listen,
			(unsigned)cfg->port, cid_strerror(rc));
		goto out;
	}
	rc = cid_logout_worker_start_tenants(t, stderr, &logout);
	if (rc != CID_OK) {
		fprintf(stderr, "civicid serve: cannot start the logout notices' worker: %s\n",
			cid_strerror(rc));
		goto out;
	}
	printf("civicid: listening on %s port %u\n", cfg->listen, (unsigned)port);
	hosts = cid_tenants_host_count(t);
	printf("civicid: tenants below %s%sNAME", cfg->issuer, CID_TENANT_PATH);
	if (hosts > 0)
		printf(" and %zu at %s", hosts,
		       hosts == 1 ? "a host of its own" : "hosts of their own");
	printf(" (each opened on its first request)\n");
	fflush(stdout);
	status = run_tenants(t, cfg->audit_checkpoint_interval, set, ws, cfg->argon2.gate) ? 0 : 1;
	fprintf(stderr, "civicid: stopping\n");
out:
	cid_http_stop(http);
	cid_logout_worker_stop(logout);
	if (http != NULL) {
		struct tick k = {.ws = ws, .final = true};

		cid_tenants_each(t, tenant_tick, &k);
	}
	cid_tenants_close(t);
	return status;
}

/* The witnesses of audit_witnesses, parsed as the server uses them; says why not. */
static int witnesses_parse(const struct cid_config *cfg, struct cid_audit_witnesses **ws)
{
	char err[512] = "";
	enum cid_err rc = cid_audit_witnesses_parse(cfg->audit_witnesses, ws, err, sizeof(err));

	if (rc == CID_OK)
		return 0;
	fprintf(stderr, "civicid serve: %s\n", rc == CID_ERR_CONFIG ? err : cid_strerror(rc));
	return 2;
}

/* serve --check: the policies load as the server would load them. */
static int check_policies(const struct cid_config *cfg)
{
	struct cid_policyset *ps = NULL;
	enum cid_err rc =
	    cid_policyset_load_dir_law(cfg->policies_dir, cfg->controller_type, stderr, &ps);

	if (rc != CID_OK) {
		fprintf(stderr, "civicid serve: the policies of %s do not load: %s\n",
			cfg->policies_dir,
			rc == CID_ERR_CONFIG || rc == CID_ERR_IO ? "errors above"
								 : cid_strerror(rc));
		return 1;
	}
	printf("policies OK: %zu in %s\n", cid_policyset_count(ps), cfg->policies_dir);
	cid_policyset_free(ps);
	return 0;
}

/* serve --check on a store with tenants: each tenant's configuration and policies. */
static int check_tenants(const struct cid_config *cfg)
{
	json_t *all = NULL;
	size_t i;
	const json_t *row;
	int status = 0;

	if (cid_tenant_list(cfg, &all) != CID_OK) {
		fprintf(stderr, "civicid serve: the tenants of %s cannot be listed\n",
			cfg->store_dir);
		return 1;
	}
	json_array_foreach(all, i, row)
	{
		const char *name = json_string_value(json_object_get(row, "name"));
		struct cid_config *tcfg = NULL;
		char err[512] = "";

		if (cid_tenant_config(cfg, name, &tcfg, NULL, err, sizeof(err)) != CID_OK) {
			fprintf(stderr, "civicid serve: tenant %s: %s\n", name, err);
			status = 1;
			continue;
		}
		printf("tenant %s: ", name);
		if (check_policies(tcfg) != 0)
			status = 1;
		cid_config_free(tcfg);
	}
	json_decref(all);
	return status;
}

/*
 * Keeps the heap close to what is in use: glibc gives each thread that meets
 * contention an arena of its own, up to eight per core, each keeping the
 * memory freed into it; with 64 HTTP threads that is up to 16 arenas on two
 * cores. One arena per core is as many as can run at once.
 *
 * (argon2id's 19 MiB per hash never comes from the heap: crypto.c maps it
 * for each hash and returns it.)
 */
static void bound_heap(void)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);

	(void)mallopt(M_ARENA_MAX, cores < 1 ? 1 : (int)cores);
}

int cid_cli_serve(int argc, char **argv)
{
	struct cid_config *cfg = NULL;
	struct cid_ctx *ctx = NULL;
	struct cid_templates *tpl = NULL;
	struct cid_http *http = NULL;
	struct cid_logout_worker *logout = NULL;
	struct cid_audit_witnesses *ws = NULL;
	struct cid_hash_gate *gate = NULL;
	bool check_only = false;
	char err[512] = "";
	uint16_t port = 0;
	sigset_t set;
	enum cid_err rc;
	int status = 1;

	if (cid_config_new(&cfg) != CID_OK)
		goto out;
	if (set_flag(cfg, "web_dir", CID_WEB_DIR) != 0)
		goto out;
	status = parse(argc, argv, cfg, &check_only);
	if (status != 0) {
		status = status < 0 ? 0 : status;
		goto out;
	}
	status = witnesses_parse(cfg, &ws);
	if (status != 0)
		goto out;
	status = 1;
	rc = cid_templates_load(cfg->web_dir, &tpl, err, sizeof(err));
	if (rc != CID_OK) {
		fprintf(stderr, "civicid serve: web files: %s (%s)\n", err, cid_strerror(rc));
		goto out;
	}
	if (check_only) {
		status = cid_tenant_any(cfg) ? check_tenants(cfg) : check_policies(cfg);
		if (status == 0)
			printf("configuration OK\n");
		goto out;
	}
	/* block the signals before any thread starts, so only run() receives them */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	bound_heap();
	/* one bound on the hashes at once for every login thread and tenant */
	rc = cid_hash_gate_new(cfg->argon2_at_once, &gate);
	if (rc != CID_OK) {
		fprintf(stderr, "civicid serve: %s\n", cid_strerror(rc));
		goto out;
	}
	cfg->argon2.gate = gate;
	if (cid_tenant_any(cfg)) {
		status = serve_tenants(cfg, tpl, ws, &set);
		goto out;
	}
	rc = cid_ctx_open(cfg, (int64_t)time(NULL), stderr, &ctx);
	if (rc != CID_OK) {
		fprintf(stderr, "civicid serve: cannot start (store %s, policies %s): %s\n",
			cfg->store_dir, cfg->policies_dir, cid_strerror(rc));
		goto out;
	}
	rc = cid_http_start(ctx, tpl, &http, &port);
	if (rc != CID_OK) {
		fprintf(stderr, "civicid serve: cannot listen on %s port %u: %s\n", cfg->listen,
			(unsigned)cfg->port, cid_strerror(rc));
		goto out;
	}
	rc = cid_logout_worker_start(ctx, stderr, &logout);
	if (rc != CID_OK) {
		fprintf(stderr, "civicid serve: cannot start the logout notices' worker: %s\n",
			cid_strerror(rc));
		goto out;
	}
	printf("civicid: listening on %s port %u\n", cfg->listen, (unsigned)port);
	printf("civicid: issuer %s\n", cfg->issuer);
	{
		struct cid_policyref *r = cid_ctx_policies_acquire(ctx);

		printf("civicid: %zu release policies from %s\n",
		       cid_policyset_count(cid_policyref_set(r)), cfg->policies_dir);
		cid_policyref_put(r);
	}
	fflush(stdout);
	status = run(ctx, &set, ws, gate) ? 0 : 1;
	fprintf(stderr, "civicid: stopping\n");
	audit_stats(ctx);
out:
	cid_http_stop(http);
	cid_logout_worker_stop(logout);
	if (http != NULL)
		checkpoint(ctx, ws);
	cid_ctx_close(ctx);
	cid_audit_witnesses_free(ws);
	cid_templates_free(tpl);
	cid_config_free(cfg);
	cid_hash_gate_free(gate);
	return status;
}
