/*
 * Fuzz target: the OIDC `claims` request parameter (Core §5.5), which any
 * service may put in an authorization request. The input is the parameter's
 * decoded value: it goes through cid_oidc_authz_check in an otherwise valid
 * request, and when accepted, the parsed request asks for claims in both
 * release paths (release.h): cid_release_claims for the ID token and for
 * userinfo, and cid_release_prompt, against a real store, a citizen and a
 * release policy.
 *
 * What must hold whatever the value:
 * - the check accepts a JSON object (kept as "claims") or refuses with
 *   invalid_request; nothing else;
 * - asking is never a grant: every claim released is one the citizen has,
 *   that the request names for that target (or its scope asks), that the
 *   policy permits, and that the audit hook was told was permitted; every
 *   decision the hook sees is about an asked claim;
 * - the consent screen lists only asked claims the policy could release.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "client.h"
#include "oidc.h"
#include "policy.h"
#include "release.h"
#include "support.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW ((int64_t)1800000000)

/*
 * The district and household size come by statute (no consent needed), the
 * address only at level 2; names and email need consent nobody gave; the
 * phone number is denied outright.
 */
static const char policy[] = "service svc\n"
			     "name.ja 子育て支援\n"
			     "name.en Childcare support\n"
			     "purpose notices\n"
			     "\ttext.ja 区の案内\n"
			     "\ttext.en District notices\n"
			     "\tbasis statute Test Act, Art. 2\n"
			     "\tretention 1y\n"
			     "\tpermit resident_district\n"
			     "\tpermit household_size\n"
			     "\tpermit address level=2\n"
			     "purpose fees\n"
			     "\ttext.ja 保育料\n"
			     "\ttext.en Fees\n"
			     "\tbasis consent\n"
			     "\tretention 1y\n"
			     "\tconsent_valid 1y\n"
			     "\tpermit given_name\n"
			     "\tpermit family_name\n"
			     "\tpermit email\n"
			     "\tdeny phone_number\n";

/* What the policy lets out without consent, at each level. */
static bool permitted(const char *base, int level)
{
	return strcmp(base, "resident_district") == 0 || strcmp(base, "household_size") == 0 ||
	       (level == CID_LEVEL_MFA && strcmp(base, "address") == 0);
}

#define ACCOUNT "0a1b2c3d-0000-4000-8000-000000000001"

static const char citizen_text[] =
    "{\"id\":\"" ACCOUNT "\",\"username\":\"hanako\","
    "\"claims\":{\"given_name\":\"花子\",\"family_name\":\"山田\","
    "\"family_name#ja-Kana-JP\":\"ヤマダ\",\"email\":\"hanako@example.jp\","
    "\"email_verified\":true,\"phone_number\":\"+81-242-00-0000\",\"birthdate\":\"1988-04-12\","
    "\"resident_district\":\"Aoi\",\"household_size\":3,\"nickname\":\"はな\","
    "\"address\":{\"locality\":\"Aizuwakamatsu\"},\"bogus_member\":\"x\"}}";

/* Made once: libFuzzer runs millions of inputs in one process. */
static char dir[256];
static struct cid_store *store;
static struct cid_policyset *policies;
static struct cid_client *client;
static struct cid_account *citizen;

static void close_all(void)
{
	cid_client_free(client);
	cid_policyset_free(policies);
	cid_account_free(citizen);
	cid_store_close(store);
	fuzz_rmtree(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) // NOLINT(readability-non-const-parameter)
{
	static const char *const uris[] = {"https://svc.example/cb"};
	const struct cid_client_spec spec = {
	    .client_id = "svc",
	    .name = "Childcare",
	    .redirect_uris = uris,
	    .n_redirect_uris = 1,
	    .scopes = "openid profile email address phone city",
	};
	char *id = NULL;
	char *secret = NULL;
	json_t *record = json_loads(citizen_text, 0, NULL);

	(void)argc;
	(void)argv;
	fuzz_tmpdir(dir);
	if (record == NULL || cid_account_from_record(record, &citizen) != CID_OK ||
	    cid_store_open(dir, &store) != CID_OK ||
	    cid_policyset_parse("svc.policy", policy, sizeof(policy) - 1, stderr, &policies) !=
		CID_OK ||
	    cid_client_add(store, &spec, NOW, &id, &secret) != CID_OK ||
	    cid_client_get(store, "svc", &client) != CID_OK)
		abort();
	json_decref(record);
	free(id);
	free(secret);
	atexit(close_all);
	return 0;
}

/* The base name of a claim ("family_name" of "family_name#ja-Kana-JP") into base[64]. */
static void base_of(const char *name, char base[64])
{
	size_t n = strcspn(name, "#");

	if (n >= 64)
		abort(); /* no claim of the table is that long */
	memcpy(base, name, n);
	base[n] = '\0';
}

/* True if the claims request names the claim (or its base) for target. */
static bool named(const json_t *claims, const char *target, const char *name)
{
	const json_t *part = json_object_get(claims, target);
	char base[64];

	base_of(name, base);
	return json_is_object(part) &&
	       (json_object_get(part, name) != NULL || json_object_get(part, base) != NULL);
}

/* True if the claims request names, for either target, some form of the base claim. */
static bool names_base(const json_t *claims, const char *base)
{
	static const char *const targets[] = {"id_token", "userinfo"};
	const char *key;
	json_t *v;

	for (size_t i = 0; i < 2; i++)
		json_object_foreach(json_object_get(claims, targets[i]), key, v)
		{
			size_t n = strcspn(key, "#");

			if (n == strlen(base) && strncmp(key, base, n) == 0)
				return true;
		}
	return false;
}

struct seen {
	const json_t *claims;
	const char *target;
	json_t *permits; /* the attributes the hook was told are permitted */
};

static enum cid_err hook(void *arg, const struct cid_release_event *ev,
			 struct cid_audit_range *range)
{
	struct seen *s = arg;

	if (strcmp(ev->service, "svc") != 0 || ev->n_decisions == 0)
		abort();
	for (size_t i = 0; i < ev->n_decisions; i++) {
		const struct cid_release_decision *d = &ev->decisions[i];

		/* scope "openid" asks for nothing: only the claims parameter does */
		if (!named(s->claims, s->target, d->attribute))
			abort();
		if (d->decision.permit &&
		    json_object_set_new(s->permits, d->attribute, json_true()) != 0)
			return CID_ERR_NOMEM;
	}
	*range = (struct cid_audit_range){1, ev->n_decisions, ev->n_decisions};
	return CID_OK;
}

static void check_release(const json_t *claims, enum cid_release_target target, int level)
{
	struct seen seen = {claims, cid_release_target_name(target), json_object()};
	struct cid_release_request rq = {
	    .policies = policies,
	    .service = "svc",
	    .account_id = ACCOUNT,
	    .citizen = citizen,
	    .scope = "openid",
	    .claims_request = claims,
	    .client_scopes = client->scopes,
	    .level = level,
	    .now = NOW,
	    .audit = hook,
	    .audit_arg = &seen,
	};
	json_t *out = json_object();
	const char *name;
	json_t *value;
	enum cid_err rc;

	if (out == NULL || seen.permits == NULL || cid_store_read_begin(store, &rq.txn) != CID_OK)
		abort();
	rc = cid_release_claims(&rq, target, out);
	cid_store_read_end(rq.txn);
	if (rc != CID_OK && rc != CID_ERR_NOMEM)
		abort();
	json_object_foreach(out, name, value)
	{
		char base[64];

		base_of(name, base);
		if (!json_equal(value, json_object_get(citizen->claims, name)) ||
		    !named(claims, seen.target, name) || !permitted(base, level) ||
		    json_object_get(seen.permits, name) == NULL)
			abort();
	}
	json_decref(out);
	json_decref(seen.permits);
}

static void check_prompt(const json_t *claims)
{
	struct cid_release_request rq = {
	    .policies = policies,
	    .service = "svc",
	    .account_id = ACCOUNT,
	    .citizen = citizen,
	    .scope = "openid",
	    .claims_request = claims,
	    .client_scopes = client->scopes,
	    .level = CID_LEVEL_PASSWORD,
	    .now = NOW,
	};
	json_t *ask = NULL;
	json_t *purpose;
	json_t *attr;
	size_t n_ask = 0;
	size_t i;
	size_t j;
	bool step_up = false;
	enum cid_err rc;

	if (cid_store_read_begin(store, &rq.txn) != CID_OK)
		abort();
	rc = cid_release_prompt(&rq, false, 16, &step_up, NULL, &ask, &n_ask);
	cid_store_read_end(rq.txn);
	if (rc == CID_ERR_NOMEM)
		return;
	if (rc != CID_OK || !json_is_array(ask) || n_ask > 16)
		abort();
	json_array_foreach(ask, i, purpose)
	{
		json_array_foreach(json_object_get(purpose, "ask"), j, attr)
		{
			const char *a = json_string_value(attr);

			/* only names, email and family_name's forms can be consented to */
			if (a == NULL || !names_base(claims, a))
				abort();
			if (strcmp(a, "given_name") != 0 && strcmp(a, "family_name") != 0 &&
			    strcmp(a, "email") != 0)
				abort();
		}
	}
	json_decref(ask);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cid_params p = {0};
	struct cid_oauth_error err = {0};
	json_t *auth = NULL;
	const json_t *claims;
	enum cid_err rc;

	if (store == NULL)
		LLVMFuzzerInitialize(NULL, NULL);
	if (cid_params_add(&p, "client_id", 9, "svc", 3) != CID_OK ||
	    cid_params_add(&p, "redirect_uri", 12, "https://svc.example/cb", 22) != CID_OK ||
	    cid_params_add(&p, "response_type", 13, "code", 4) != CID_OK ||
	    cid_params_add(&p, "scope", 5, "openid", 6) != CID_OK)
		abort();
	/* what a parameter cannot carry (NUL, bad UTF-8, over 4 KiB) never gets here */
	if (cid_params_add(&p, "claims", 6, (const char *)data, size) != CID_OK)
		goto out;
	rc = cid_oidc_authz_check(client, &p, "en", &auth, &err);
	if (rc == CID_ERR_INVALID) {
		/* a malformed claims parameter, or an essential acr we do not offer (RFC 9470) */
		if (auth != NULL || (strcmp(err.error, "invalid_request") != 0 &&
				     strcmp(err.error, "unmet_authentication_requirements") != 0))
			abort();
		goto out;
	}
	if (rc == CID_ERR_NOMEM)
		goto out;
	if (rc != CID_OK)
		abort();
	claims = json_object_get(auth, "claims");
	/* an empty value reads as omitted (RFC 6749 §3.1) */
	if (size > 0 && !json_is_object(claims))
		abort();
	check_release(claims, CID_RELEASE_ID_TOKEN, CID_LEVEL_PASSWORD);
	check_release(claims, CID_RELEASE_USERINFO, CID_LEVEL_PASSWORD);
	check_release(claims, CID_RELEASE_USERINFO, CID_LEVEL_MFA);
	check_prompt(claims);
out:
	json_decref(auth);
	cid_params_clear(&p);
	return 0;
}
