/*
 * Fuzz target: the authorization request with all its parameters together
 * (RFC 6749 §4.1.1, OIDC Core §3.1.2.1, RFC 7636), as a query string
 * reaches /authorize: cid_params_parse_form, then cid_oidc_authz_check for
 * the client the request names, then the whole endpoint cid_oidc_authorize
 * twice, without a session and with a citizen's live session, on a real
 * store with two registered clients, a citizen and a release policy.
 *
 * What must hold whatever the query:
 * - the endpoint always builds a reply (CID_OK), and redirects only to a URI
 *   registered for the client_id of the request, byte for byte, its own
 *   parameters after it, with iss (RFC 9207); an unknown client or an
 *   unregistered redirect_uri gets an error page, never a redirect
 *   (RFC 6749 §4.1.2.1);
 * - prompt=none never shows a page of the flow (OIDC Core §3.1.2.1);
 * - a code goes only to a citizen with a session, and to a public client
 *   only with a PKCE challenge (RFC 9700 §2.1.1);
 * - cid_oidc_authz_check either normalises the request (whose members then
 *   agree with what was asked) or names an error from its list.
 * Pending requests, codes and grants are deleted after every input so the store
 * stays small.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "client.h"
#include "oidc.h"
#include "session.h"
#include "support.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW ((int64_t)1800000000)

static const char policy[] = "service svc\n"
			     "name.ja 子育て支援\n"
			     "name.en Childcare support\n"
			     "purpose fees\n"
			     "\ttext.ja 保育料を算定するため\n"
			     "\ttext.en To calculate your childcare fee\n"
			     "\tbasis consent\n"
			     "\tretention 1y\n"
			     "\tconsent_valid 1y\n"
			     "\tpermit given_name\n"
			     "\tpermit family_name\n"
			     "\tpermit email\n"
			     "\tpermit birthdate level=2\n"
			     "purpose district\n"
			     "\ttext.ja 区の案内\n"
			     "\ttext.en District notices\n"
			     "\tbasis statute Test Act, Art. 2\n"
			     "\tretention 1y\n"
			     "\tpermit resident_district\n";

/* The registered clients: the oracle the replies are checked against. */
struct registered {
	const char *client_id;
	bool is_public;
	const char *scopes;
	const char *uris[3];
	size_t n_uris;
};

static const struct registered clients[] = {
    {"svc",
     false,
     "openid profile email city offline_access",
     {"https://svc.example/cb", "https://svc.example/cb?lang=ja"},
     2},
    {"pub", true, "openid profile", {"http://127.0.0.1:8080/cb", "http://[::1]/cb"}, 2},
};

/* Made once: libFuzzer runs millions of inputs in one process. */
static struct fuzz_env env;
static char cookie[CID_TOKEN_CHARS + 1];
static bool ready;

static void close_env(void)
{
	fuzz_env_close(&env);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) // NOLINT(readability-non-const-parameter)
{
	static const char *const amr[] = {"pwd"};
	char account[CID_ID_CHARS + 1];
	json_t *claims =
	    json_pack("{s:s, s:s, s:s, s:b, s:s, s:s}", "given_name", "花子", "family_name", "山田",
		      "email", "hanako@example.jp", "email_verified", 1, "birthdate", "1988-04-12",
		      "resident_district", "Aoi");

	(void)argc;
	(void)argv;
	fuzz_env_open(&env, NOW, "svc.policy", policy);
	atexit(close_env);
	for (size_t i = 0; i < sizeof(clients) / sizeof(clients[0]); i++) {
		const struct registered *r = &clients[i];
		struct cid_client_spec spec = {
		    .client_id = r->client_id,
		    .name = r->client_id,
		    .is_public = r->is_public,
		    .redirect_uris = r->uris,
		    .n_redirect_uris = r->n_uris,
		    .scopes = r->scopes,
		    .subject_type = r->is_public ? "public" : "pairwise",
		};
		char *id = NULL;
		char *secret = NULL;

		if (cid_client_add(cid_ctx_store(env.ctx), &spec, NOW, &id, &secret) != CID_OK)
			abort();
		free(id);
		free(secret);
	}
	if (claims == NULL ||
	    cid_account_add(cid_ctx_store(env.ctx), &env.cfg->argon2, "hanako",
			    "correct horse battery", claims, NOW, account) != CID_OK ||
	    cid_session_new(cid_ctx_store(env.ctx), account, CID_ACR_PASSWORD, amr, 1, NOW - 60,
			    3600, cookie, NULL) != CID_OK)
		abort();
	json_decref(claims);
	ready = true;
	return 0;
}

static const struct registered *find_client(const char *client_id)
{
	for (size_t i = 0; client_id != NULL && i < sizeof(clients) / sizeof(clients[0]); i++)
		if (strcmp(clients[i].client_id, client_id) == 0)
			return &clients[i];
	return NULL;
}

static bool uri_registered(const struct registered *r, const char *uri)
{
	for (size_t i = 0; r != NULL && uri != NULL && i < r->n_uris; i++)
		if (strcmp(r->uris[i], uri) == 0)
			return true;
	return false;
}

/* True if the word (a prompt value, a scope) is in the space-separated list. */
static bool has_word(const char *list, const char *word)
{
	return list != NULL && cid_words_has(list, word, strlen(word));
}

static void check_authz(const struct cid_params *p)
{
	static const char *const errors[] = {
	    "invalid_request",
	    "invalid_scope",
	    "unsupported_response_type",
	    "unauthorized_client",
	    "request_not_supported",
	    "request_uri_not_supported",
	    "unmet_authentication_requirements",
	};
	const struct registered *r = find_client(cid_params_get(p, "client_id"));
	struct cid_client *client = NULL;
	struct cid_oauth_error err = {0};
	json_t *auth = NULL;
	enum cid_err rc;

	if (r == NULL || !uri_registered(r, cid_params_get(p, "redirect_uri")))
		return; /* the endpoint stops before the check: seen in check_reply */
	if (cid_client_get(cid_ctx_store(env.ctx), r->client_id, &client) != CID_OK)
		abort();
	rc = cid_oidc_authz_check(client, p, "en", &auth, &err);
	switch (rc) {
	case CID_OK: {
		const char *scope = cid_json_str(auth, "scope");
		const char *locale = cid_json_str(auth, "ui_locale");
		const json_t *claims = json_object_get(auth, "claims");

		if (strcmp(cid_json_str(auth, "client_id"), r->client_id) != 0 ||
		    strcmp(cid_json_str(auth, "redirect_uri"), cid_params_get(p, "redirect_uri")) !=
			0 ||
		    strcmp(cid_params_get(p, "response_type"), "code") != 0)
			abort();
		if (scope == NULL || strcmp(scope, cid_params_get(p, "scope")) != 0 ||
		    !has_word(scope, "openid") || !cid_words_subset(scope, r->scopes))
			abort();
		if (r->is_public && cid_json_str(auth, "code_challenge") == NULL)
			abort();
		if (locale == NULL || (strcmp(locale, "en") != 0 && strcmp(locale, "ja") != 0))
			abort();
		if (claims != NULL && !json_is_object(claims))
			abort();
		if (json_is_true(json_object_get(auth, "prompt_none")) &&
		    (json_is_true(json_object_get(auth, "prompt_login")) ||
		     json_is_true(json_object_get(auth, "prompt_consent"))))
			abort();
		break;
	}
	case CID_ERR_INVALID: {
		bool known = false;

		if (auth != NULL || err.error == NULL || err.description == NULL ||
		    err.description[0] == '\0')
			abort();
		for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++)
			known = known || strcmp(err.error, errors[i]) == 0;
		if (!known)
			abort();
		break;
	}
	case CID_ERR_NOMEM: break;
	default: abort(); /* an error oidc.h does not list */
	}
	json_decref(auth);
	cid_client_free(client);
}

/* True if the query of location (after base and its separator) has name=. */
static bool has_param(const char *query, const char *name)
{
	size_t n = strlen(name);

	for (const char *q = query; q != NULL && *q != '\0';) {
		if (strncmp(q, name, n) == 0 && q[n] == '=')
			return true;
		q = strchr(q, '&');
		q = q == NULL ? NULL : q + 1;
	}
	return false;
}

static void check_reply(const struct cid_params *p, bool session, const struct cid_reply *reply)
{
	const struct registered *r = find_client(cid_params_get(p, "client_id"));
	const char *uri = cid_params_get(p, "redirect_uri");
	const char *prompt = cid_params_get(p, "prompt");

	if (reply->location == NULL) {
		if (reply->page == CID_PAGE_NONE)
			abort(); /* neither a redirect nor a page */
		if (has_word(prompt, "none") &&
		    (reply->page == CID_PAGE_LOGIN || reply->page == CID_PAGE_TOTP ||
		     reply->page == CID_PAGE_CONSENT))
			abort(); /* OIDC Core §3.1.2.1: prompt=none MUST NOT display a page */
		return;
	}
	/*= RFC 6749 §4.1.2.1: no redirect unless client and redirection URI are valid */
	if (!uri_registered(r, uri))
		abort();
	size_t n = strlen(uri);
	if (strncmp(reply->location, uri, n) != 0 ||
	    reply->location[n] != (strchr(uri, '?') == NULL ? '?' : '&'))
		abort();
	if (reply->status != 302 && reply->status != 303)
		abort();
	const char *query = reply->location + n + 1;
	if (!has_param(query, "iss"))
		abort(); /* RFC 9207 §2 */
	if (has_param(query, "code")) {
		if (!session || has_param(query, "error"))
			abort();
		if (r->is_public && cid_params_get(p, "code_challenge") == NULL)
			abort(); /* RFC 9700 §2.1.1 */
	} else if (!has_param(query, "error")) {
		abort(); /* a redirect carries a code or an error */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cid_request req = {.remote_addr = "127.0.0.1", .now = NOW};

	if (!ready)
		LLVMFuzzerInitialize(NULL, NULL);
	/* what the form parser refuses never reaches the endpoint (fuzz_form covers it) */
	if (cid_params_parse_form(&req.params, (const char *)data, size) != CID_OK)
		goto out;
	check_authz(&req.params);
	for (int session = 0; session < 2; session++) {
		struct cid_reply reply = {0};

		req.session_cookie = session ? cookie : NULL;
		if (cid_oidc_authorize(env.ctx, &req, &reply) != CID_OK)
			abort(); /* every request gets a reply */
		check_reply(&req.params, session, &reply);
		cid_reply_free(&reply);
	}
	fuzz_store_clear(cid_ctx_store(env.ctx), CID_DB_AUTHREQS);
	fuzz_store_clear(cid_ctx_store(env.ctx), CID_DB_CODES);
	fuzz_store_clear(cid_ctx_store(env.ctx), CID_DB_GRANTS);
	fuzz_store_clear(cid_ctx_store(env.ctx), CID_DB_GRANT_INDEX);
out:
	cid_params_clear(&req.params);
	return 0;
}
