/*
 * client: `civicid client add|list|show|remove`. A confidential client's
 * secret is printed exactly once, at add; only its hash is stored.
 */
#include "cli.h"

#include "buf.h"
#include "client.h"
#include "crypto.h"

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char client_help[] =
    "usage: civicid client VERB [options]\n"
    "\n"
    "  add [--client-id ID] --name NAME [--public] --redirect-uri URI... [options]\n"
    "  list\n"
    "  show CLIENT_ID\n"
    "  remove CLIENT_ID\n"
    "\n"
    "Options of add:\n"
    "      --client-id ID              letters, digits, - _ . (default: a random UUID)\n"
    "      --name NAME                 the service's name shown to citizens\n"
    "      --public                    a public client (browser or mobile app): no secret,\n"
    "                                  PKCE required\n"
    "      --redirect-uri URI          exact redirect URI (repeat for several); https, or\n"
    "                                  http on 127.0.0.1, [::1] or localhost\n"
    "      --post-logout-redirect-uri URI   where /logout may send the browser back\n"
    "      --scope \"openid ...\"        scopes it may ask for (openid profile email\n"
    "                                  address phone city offline_access)\n"
    "      --grant-types \"...\"         authorization_code refresh_token client_credentials\n"
    "                                  (default: authorization_code refresh_token)\n"
    "      --id-token-alg ES256|RS256  ID-token signing algorithm (default ES256)\n"
    "      --subject-type pairwise|public   default pairwise (OIDC Core 8.1)\n"
    "      --sector-identifier-uri URL https URL of a JSON array listing every redirect\n"
    "                                  URI, fetched now (OIDC Core 8.1): its host is the\n"
    "                                  sector of pairwise subjects. Without it the sector\n"
    "                                  is the redirect URIs' host:port, and a pairwise\n"
    "                                  client on several host:ports needs one\n"
    "      --backchannel-logout-uri URL   where civicid POSTs a signed logout token when\n"
    "                                  a citizen's session ends (OpenID Connect\n"
    "                                  Back-Channel Logout 1.0); https, or http on\n"
    "                                  loopback\n"
    "      --backchannel-logout-session-required   the token always names the session\n"
    "                                  (sid); it does anyway\n"
    "      --frontchannel-logout-uri URL  a page the logged-out page loads in a hidden\n"
    "                                  frame (Front-Channel Logout 1.0)\n"
    "      --frontchannel-logout-session-required  add iss and sid to that URL\n"
    "\n"
    "Options for every verb:\n"
    "  -s, --store DIR      LMDB store directory (default ./var/civicid)\n"
    "  -c, --config FILE    configuration file\n"
    "      --json           print JSON (add prints client_id and client_secret)\n"
    "\n"
    "The client secret of a confidential client is shown once by add; keep it in the\n"
    "service's secret store. Lost secrets cannot be recovered: remove and add again.\n";

struct client_opts {
	struct cli_common common;
	struct cid_client_spec spec;
	const char *redirect[CID_MAX_REDIRECT_URIS];
	const char *post_logout[CID_MAX_REDIRECT_URIS];
};

static int push_uri(const char **list, size_t *n, const char *uri)
{
	if (*n >= CID_MAX_REDIRECT_URIS)
		return cli_usage("client", "too many URIs (at most 16)");
	list[(*n)++] = uri;
	return 0;
}

static int parse(int argc, char **argv, struct client_opts *o)
{
	static const struct option opts[] = {
	    CLI_COMMON_OPTIONS,
	    {"client-id", required_argument, NULL, 'i'},
	    {"name", required_argument, NULL, 'n'},
	    {"public", no_argument, NULL, 'P'},
	    {"redirect-uri", required_argument, NULL, 'r'},
	    {"post-logout-redirect-uri", required_argument, NULL, 'l'},
	    {"scope", required_argument, NULL, 'S'},
	    {"grant-types", required_argument, NULL, 'g'},
	    {"id-token-alg", required_argument, NULL, 'a'},
	    {"subject-type", required_argument, NULL, 't'},
	    {"sector-identifier-uri", required_argument, NULL, 'u'},
	    {"backchannel-logout-uri", required_argument, NULL, 'B'},
	    {"backchannel-logout-session-required", no_argument, NULL, 'b'},
	    {"frontchannel-logout-uri", required_argument, NULL, 'F'},
	    {"frontchannel-logout-session-required", no_argument, NULL, 'f'},
	    {NULL, 0, NULL, 0},
	};
	struct cid_client_spec *sp = &o->spec;
	int opt, rc = 0;

	optind = 1;
	while (rc == 0 && (opt = getopt_long(argc, argv, CLI_COMMON_SHORT, opts, NULL)) != -1) {
		switch (opt) {
		case 'i': sp->client_id = optarg; break;
		case 'n': sp->name = optarg; break;
		case 'P': sp->is_public = true; break;
		case 'r': rc = push_uri(o->redirect, &sp->n_redirect_uris, optarg); break;
		case 'l': rc = push_uri(o->post_logout, &sp->n_post_logout_uris, optarg); break;
		case 'S': sp->scopes = optarg; break;
		case 'g': sp->grant_types = optarg; break;
		case 'a': sp->id_token_alg = optarg; break;
		case 't': sp->subject_type = optarg; break;
		case 'u': sp->sector_identifier_uri = optarg; break;
		case 'B': sp->backchannel_logout_uri = optarg; break;
		case 'b': sp->backchannel_logout_session_required = true; break;
		case 'F': sp->frontchannel_logout_uri = optarg; break;
		case 'f': sp->frontchannel_logout_session_required = true; break;
		default:
			if (!cli_common_option(&o->common, opt, optarg))
				return cli_usage("client", "unknown option");
			break;
		}
	}
	sp->redirect_uris = o->redirect;
	sp->post_logout_uris = o->post_logout;
	return rc;
}

static int verb_add(struct cli_env *env, const struct client_opts *o)
{
	char *id = NULL, *secret = NULL;
	char why[512] = "";
	enum cid_err rc =
	    cid_client_register(env->store, &o->spec, cli_now(), &id, &secret, why, sizeof(why));
	int status = 0;

	if (rc != CID_OK && why[0] != '\0') {
		fprintf(stderr, "civicid client: the registration is refused: %s\n", why);
		return 1;
	}
	if (rc == CID_ERR_INVALID) {
		fprintf(stderr,
			"civicid client: the registration is invalid: check the client id, that "
			"redirect URIs are https (or http on a loopback host) without a fragment, "
			"that scopes include openid, and that a public client does not use "
			"client_credentials\n");
		return 1;
	}
	if (rc != CID_OK)
		return cli_fail("client", "add", rc);
	if (o->common.json) {
		/* s*: no client_secret member for a public client */
		status = cli_print_json(
		    json_pack("{s:s, s:s*}", "client_id", id, "client_secret", secret));
	} else {
		printf("client_id:     %s\n", id);
		if (secret != NULL)
			printf("client_secret: %s\n(shown once: store it now; civicid keeps only a "
			       "hash)\n",
			       secret);
		else
			printf("public client: no secret; it must use PKCE (S256)\n");
	}
	if (secret != NULL)
		cid_wipe(secret, strlen(secret));
	free(secret);
	free(id);
	return status;
}

static void print_client(const json_t *c)
{
	const char *key;
	const json_t *v;

	json_object_foreach((json_t *)(uintptr_t)c, key, v)
	{
		char *s = cid_json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
		printf("%-28s %s\n", key, s ? s : "?");
		free(s);
	}
}

static int verb_list(struct cli_env *env, const struct client_opts *o)
{
	json_t *all = NULL;
	json_t *c;
	size_t i;
	enum cid_err rc = cid_client_list(env->store, &all);

	if (rc != CID_OK)
		return cli_fail("client", "list", rc);
	if (o->common.json)
		return cli_print_json(all);
	json_array_foreach(all, i, c)
	{
		printf("%-36s %-13s %s\n", json_string_value(json_object_get(c, "client_id")),
		       json_string_value(json_object_get(c, "type")),
		       json_string_value(json_object_get(c, "name")));
	}
	json_decref(all);
	return 0;
}

int cid_cli_client(int argc, char **argv)
{
	struct client_opts o = {0};
	struct cli_env env;
	const char *verb;
	json_t *c = NULL;
	enum cid_err rc;
	int status;

	if (argc < 2 || cli_wants_help(argc, argv))
		return argc < 2 ? (fputs(client_help, stderr), 2) : cli_help(client_help);
	verb = argv[1];
	bool with_id = strcmp(verb, "show") == 0 || strcmp(verb, "remove") == 0;
	if (!with_id && strcmp(verb, "add") != 0 && strcmp(verb, "list") != 0)
		return cli_usage("client", "unknown verb");
	status = parse(argc - 1, argv + 1, &o);
	if (status != 0)
		return status;
	if (argc - 1 - optind != (with_id ? 1 : 0))
		return cli_usage("client",
				 with_id ? "expected one CLIENT_ID" : "unexpected argument");
	status = cli_open("client", &o.common, &env);
	if (status != 0)
		return status;
	if (strcmp(verb, "add") == 0) {
		status = verb_add(&env, &o);
	} else if (strcmp(verb, "list") == 0) {
		status = verb_list(&env, &o);
	} else if (strcmp(verb, "show") == 0) {
		rc = cid_client_show(env.store, argv[1 + optind], &c);
		if (rc != CID_OK) {
			status = cli_fail("client", argv[1 + optind], rc);
		} else if (o.common.json) {
			status = cli_print_json(c);
		} else {
			print_client(c);
			json_decref(c);
		}
	} else {
		rc = cid_client_remove(env.store, argv[1 + optind]);
		if (rc != CID_OK)
			status = cli_fail("client", argv[1 + optind], rc);
		else if (!o.common.json)
			printf("client %s removed\n", argv[1 + optind]);
	}
	cli_close(&env);
	return status;
}
