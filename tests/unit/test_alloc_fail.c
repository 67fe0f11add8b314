/*
 * Allocation failure (alloc_fail.h): each body below is a short, realistic
 * use of one libauth module, run again and again with its 1st, 2nd, 3rd ...
 * allocation failing, until it runs whole. Every failure must end in an
 * error (out of memory, or where OpenSSL's allocation failed the failure
 * OpenSSL reported: alloc_fail.h), never a crash, a leak or a success built
 * on a half-made value.
 *
 * The bodies prepare nothing they could not undo: each run uses fresh names
 * (an account, a client, a store key) so a run that failed half-way leaves
 * records no later run reads. Fixtures (a context, its keys, parsed inputs)
 * are made once, outside the countdown.
 */
#include "account.h"
#include "alloc_fail.h"
#include "audit_explain.h"
#include "audit_release.h"
#include "buf.h"
#include "client.h"
#include "consent.h"
#include "crypto.h"
#include "jose.h"
#include "logout_notify.h"
#include "merkle.h"
#include "note.h"
#include "oidc.h"
#include "policy.h"
#include "policy_archive.h"
#include "release.h"
#include "reply.h"
#include "session.h"
#include "str.h"
#include "support.h"
#include "token.h"
#include "witness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#define NOW	  ((int64_t)1800000000)
#define VERIFIER  "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
#define CHALLENGE "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"

/* An authorization request with every parameter the check reads. */
static const char authz_query[] =
    "client_id=rp1&redirect_uri=https%3A%2F%2Frp.example%2Fcb&response_type=code"
    "&scope=openid+profile+email&state=af0ifjsldkj&nonce=n-0S6_WzA2Mj"
    "&code_challenge=" CHALLENGE "&code_challenge_method=S256&prompt=login+consent"
    "&max_age=300&ui_locales=ja+en&login_hint=hanako&acr_values=urn%3Acivicid%3Aacr%3Amfa"
    "&response_mode=query&claims=%7B%22id_token%22%3A%7B%22given_name%22%3A%7B%22essential%22"
    "%3Atrue%7D%7D%2C%22userinfo%22%3A%7B%22email%22%3Anull%7D%7D";

struct fixture {
	char dir[256];
	struct cid_config *cfg;
	struct cid_ctx *ctx;
	struct cid_store *s;
	struct cid_keyref *keys;
	struct cid_client *client; /* rp1, confidential, pairwise */
	struct cid_params authz;   /* authz_query, parsed */
	json_t *auth;		   /* a normalised request, as a code is issued for */
	json_t *released;	   /* claims a release let out, for the ID token */
	char *jwks;		   /* the context's JWKS with ten more keys, as a foreign one */
	char basic[128];	   /* rp1's HTTP Basic credentials */
	char account[CID_ID_CHARS + 1]; /* hanako, the citizen of f->auth */
	unsigned long run;		/* numbers the names each run makes */
	struct cid_policyset *policies; /* cid_test_svc_policy, parsed */
	char reopen_dir[256];		/* a store with keys, for opening contexts */
	struct cid_config *reopen_cfg;
	char *log_vkey;	    /* the verifier key of the log the witness follows */
	char *witness_body; /* an add-checkpoint body: that log's first checkpoint, size 1 */
};

/*
 * The keyset's JWKS plus ten copies of its first key under other kids: more
 * keys than jansson's first array allocation holds, so that the array of
 * published keys must grow, and can fail to.
 */
static char *bigger_jwks(const struct cid_keyset *ks)
{
	size_t len = 0;
	const char *text = cid_keyset_jwks(ks, &len);
	json_t *doc = json_loadb(text, len, 0, NULL);
	json_t *keys = json_object_get(doc, "keys");
	char *out;

	assert_true(json_array_size(keys) > 0);
	for (int i = 0; i < 10; i++) {
		json_t *copy = json_copy(json_array_get(keys, 0));
		char kid[8];

		snprintf(kid, sizeof(kid), "copy-%d", i);
		assert_non_null(copy);
		assert_int_equal(json_object_set_new(copy, "kid", json_string(kid)), 0);
		assert_int_equal(json_array_append_new(keys, copy), 0);
	}
	out = json_dumps(doc, JSON_COMPACT);
	assert_non_null(out);
	json_decref(doc);
	return out;
}

#define LOG_ORIGIN "city.example/civicid/audit"

/* The log's verifier key into f->log_vkey, and its first checkpoint as an add-checkpoint body. */
static void witness_fixture(struct fixture *f)
{
	struct cid_note_signer *key = NULL;
	const struct cid_note_signer *signers[1];
	uint8_t root[CID_MERKLE_HASH];
	struct cid_buf text;
	char *note = NULL;
	int n;

	assert_int_equal(cid_note_signer_new(cid_str_of(LOG_ORIGIN), CID_NOTE_ED25519, NULL, &key),
			 CID_OK);
	assert_int_equal(cid_note_signer_vkey(key, &f->log_vkey), CID_OK);
	/* a tree of one entry: its root is the entry's leaf hash */
	assert_int_equal(cid_merkle_leaf_hash("entry 0", 7, root), CID_OK);
	cid_buf_init(&text, 4096);
	assert_int_equal(
	    cid_checkpoint_format(cid_str_of(LOG_ORIGIN), 1, root, cid_str_of(""), &text), CID_OK);
	signers[0] = key;
	assert_int_equal(
	    cid_note_sign((struct cid_str){text.data, text.len}, signers, 1, 0, &note, NULL),
	    CID_OK);
	/* from the empty tree: no proof lines */
	f->witness_body = malloc(strlen(note) + 16);
	assert_non_null(f->witness_body);
	n = snprintf(f->witness_body, strlen(note) + 16, "old 0\n\n%s", note);
	assert_true(n > 0);
	free(note);
	cid_buf_free(&text);
	cid_note_signer_free(key);
}

/* "Basic " and base64 of "id:secret" into out[128] (neither needs form-encoding). */
static void basic_credentials(const char *id, const char *secret, char out[128])
{
	char pair[96];
	int n = snprintf(pair, sizeof(pair), "%s:%s", id, secret);

	assert_true(n > 0 && (size_t)n < sizeof(pair));
	// NOLINTNEXTLINE(bugprone-not-null-terminated-result): the base64 follows
	memcpy(out, "Basic ", 6);
	assert_true(EVP_EncodeBlock((unsigned char *)out + 6, (const unsigned char *)pair, n) <
		    128 - 6);
}

static int setup(void **state)
{
	static const char *const uris[] = {"https://rp.example/cb"};
	const struct cid_client_spec spec = {
	    .client_id = "rp1",
	    .name = "Relying party",
	    .redirect_uris = uris,
	    .n_redirect_uris = 1,
	    .scopes = "openid profile email",
	};
	struct fixture *f = calloc(1, sizeof(*f));
	struct cid_ctx *ctx = NULL;
	json_t *claims;
	char *id = NULL;
	char *secret = NULL;
	char sid[CID_TOKEN_CHARS + 1];

	assert_non_null(f);
	f->cfg = cid_test_config(f->dir);
	cid_test_policies(f->cfg, f->dir, "rp1.policy", cid_test_svc_policy);
	assert_int_equal(cid_ctx_open(f->cfg, NOW, NULL, &f->ctx), CID_OK);
	f->s = cid_ctx_store(f->ctx);
	f->keys = cid_ctx_keys_acquire(f->ctx);
	assert_int_equal(cid_client_add(f->s, &spec, NOW, &id, &secret), CID_OK);
	basic_credentials(id, secret, f->basic);
	free(id);
	free(secret);
	claims = json_pack("{s:s, s:s}", "given_name", "花子", "email", "hanako@example.jp");
	assert_non_null(claims);
	assert_int_equal(cid_account_add(f->s, &f->cfg->argon2, "hanako", "correct horse battery",
					 claims, NOW, f->account),
			 CID_OK);
	json_decref(claims);
	assert_int_equal(cid_client_get(f->s, "rp1", &f->client), CID_OK);
	assert_int_equal(cid_params_parse_form(&f->authz, authz_query, strlen(authz_query)),
			 CID_OK);
	cid_test_session_sid(f->s, f->account, NOW, sid);
	f->auth =
	    json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:[s], s:s, s:s, s:s}", "client_id", "rp1",
		      "redirect_uri", "https://rp.example/cb", "account_id", f->account, "sid", sid,
		      "auth_time", (json_int_t)NOW, "acr", "urn:civicid:acr:password", "amr", "pwd",
		      "scope", "openid profile", "nonce", "n-1", "code_challenge", CHALLENGE);
	assert_non_null(f->auth);
	f->released = json_pack("{s:s, s:s, s:s, s:b}", "given_name", "花子", "family_name", "山田",
				"email", "hanako@example.jp", "email_verified", 1);
	assert_non_null(f->released);
	f->jwks = bigger_jwks(cid_keyref_keyset(f->keys));
	assert_int_equal(cid_policyset_parse("svc.policy", cid_test_svc_policy,
					     strlen(cid_test_svc_policy), NULL, &f->policies),
			 CID_OK);
	/* a second store whose keys exist, so that opening a context loads, not makes, them */
	f->reopen_cfg = cid_test_config(f->reopen_dir);
	cid_test_policies(f->reopen_cfg, f->reopen_dir, "svc.policy", cid_test_svc_policy);
	assert_int_equal(cid_ctx_open(f->reopen_cfg, NOW, NULL, &ctx), CID_OK);
	cid_ctx_close(ctx);
	witness_fixture(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	json_decref(f->auth);
	json_decref(f->released);
	free(f->jwks);
	free(f->log_vkey);
	free(f->witness_body);
	cid_policyset_free(f->policies);
	cid_test_ctx_close(NULL, f->reopen_cfg, f->reopen_dir);
	cid_params_clear(&f->authz);
	cid_client_free(f->client);
	cid_keyref_put(f->keys);
	cid_test_ctx_close(f->ctx, f->cfg, f->dir);
	free(f);
	return 0;
}

/* ---- crypto ---- */

/*
 * The storage hash of every code, cookie and token is a store key: it must
 * come out right even when no memory is left, never from a buffer the hash
 * did not write.
 */
static void test_secret_hash_needs_no_memory(void **state)
{
	char hash[CID_HASH_HEX + 1];
	uint8_t digest[32];

	(void)state;
	memset(hash, 0, sizeof(hash));
	cid_alloc_fail_all(true);
	cid_secret_hash("abc", 3, hash);
	cid_sha256("", 0, digest);
	cid_alloc_fail_all(false);
	/* FIPS 180-2 appendix B.1, and the empty message */
	assert_string_equal(hash,
			    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	cid_hex(digest, sizeof(digest), hash);
	assert_string_equal(hash,
			    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

/* ---- str: the request parsers ---- */

static enum cid_err form_body(void *arg)
{
	enum cid_err rc = CID_OK;
	struct cid_params p = {0};
	char *decoded = NULL;
	char *id = NULL;
	char *secret = NULL;
	size_t n = 0;

	(void)arg;
	CID_TRY(cid_params_parse_form(&p, authz_query, strlen(authz_query)));
	CID_TRY(cid_url_decode("a%20b+c%E3%81%82", 16, true, &decoded, &n));
	/* "rp%3A1:s%20cret", Basic-encoded */
	CID_TRY(cid_oidc_parse_basic("Basic cnAlM0ExOnMlMjBjcmV0", &id, &secret));
out:
	cid_params_clear(&p);
	free(decoded);
	free(id);
	free(secret);
	return rc;
}

static void test_form_parsers_fail_cleanly(void **state)
{
	(void)state;
	cid_alloc_fail_run("str form, url, basic", form_body, NULL, NULL);
}

/* ---- oidc: the authorization request check ---- */

static enum cid_err authz_body(void *arg)
{
	struct fixture *f = arg;
	struct cid_oauth_error err = {0};
	json_t *auth = NULL;
	enum cid_err rc = cid_oidc_authz_check(f->client, &f->authz, "en", &auth, &err);

	/* the request is valid: a refusal would be the wrong answer to a failed allocation */
	if (rc == CID_OK && json_object_get(auth, "claims") == NULL)
		rc = CID_ERR_INVALID; /* a success that lost a member */
	json_decref(auth);
	return rc;
}

static void test_authz_check_fails_cleanly(void **state)
{
	cid_alloc_fail_run("oidc authz check", authz_body, *state, NULL);
}

/* ---- store: update and read ---- */

static enum cid_err store_put_cb(struct cid_txn *txn, void *arg)
{
	enum cid_err rc = CID_OK;
	const char *key = arg;
	json_t *rec = json_pack("{s:s, s:i}", "name", key, "n", 1);

	CID_ENSURE(rec != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_txn_put_json(txn, CID_DB_META, cid_str_of(key), rec, CID_PUT_NOOVERWRITE));
	CID_TRY(cid_txn_counter_add(txn, "alloc_fail", "n", 1, NULL));
out:
	json_decref(rec);
	return rc;
}

static enum cid_err count_one(struct cid_str key, struct cid_str val, void *arg)
{
	json_t *rec = NULL;
	enum cid_err rc = cid_store_parse_json(val, &rec);

	(void)key;
	if (rc == CID_OK)
		(*(size_t *)arg)++;
	json_decref(rec);
	return rc;
}

static enum cid_err store_body(void *arg)
{
	struct fixture *f = arg;
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;
	json_t *rec = NULL;
	char key[32];
	size_t n = 0;
	uint64_t counter = 0;

	/* a key of this run only, which the prefix walk below finds alone */
	snprintf(key, sizeof(key), "af:%lu;", f->run++);
	CID_TRY(cid_store_update(f->s, store_put_cb, key));
	CID_TRY(cid_store_read_begin(f->s, &txn));
	CID_TRY(cid_txn_get_json(txn, CID_DB_META, cid_str_of(key), &rec));
	CID_TRY(cid_txn_foreach(txn, CID_DB_META, cid_str_of(key), count_one, &n));
	CID_TRY(cid_txn_counter_get(txn, "alloc_fail", "n", &counter));
	CID_ENSURE(n == 1 && counter > 0, CID_ERR_STORE);
out:
	cid_store_read_end(txn);
	json_decref(rec);
	return rc;
}

static void test_store_fails_cleanly(void **state)
{
	cid_alloc_fail_run("store update, read", store_body, *state, NULL);
}

/* ---- store: open ---- */

static enum cid_err store_open_body(void *arg)
{
	char dir[256];
	struct cid_store *s = NULL;
	struct cid_txn *txn = NULL;
	enum cid_err rc;

	(void)arg;
	cid_test_tmpdir(dir);
	rc = cid_store_open(dir, &s);
	/* this thread's first read of this store makes its read transaction */
	if (rc == CID_OK)
		rc = cid_store_read_begin(s, &txn);
	cid_store_read_end(txn);
	cid_store_close(s);
	cid_test_rmdir(dir);
	return rc;
}

static void test_store_open_fails_cleanly(void **state)
{
	(void)state;
	cid_alloc_fail_run("store open, first read", store_open_body, NULL, NULL);
}

/* ---- token ---- */

static enum cid_err token_body(void *arg)
{
	struct fixture *f = arg;
	const struct cid_keyset *ks = cid_keyref_keyset(f->keys);
	enum cid_err rc = CID_OK;
	char code[CID_TOKEN_CHARS + 1];
	char refresh[CID_TOKEN_CHARS + 1];
	char next[CID_TOKEN_CHARS + 1];
	char sub[CID_TOKEN_CHARS + 1];
	struct cid_grant *grant = NULL;
	struct cid_grant *rotated = NULL;
	struct cid_grant *looked = NULL;
	struct cid_grant *again = NULL;
	int64_t iat = 0;
	int64_t exp = 0;
	struct cid_txn *txn = NULL;
	struct cid_access *access = NULL;
	json_t *id_claims = NULL;
	char *at = NULL;
	char *idt = NULL;

	CID_TRY(cid_code_issue(f->s, f->auth, NOW, 60, code));
	CID_TRY(cid_code_redeem(f->s, code, "rp1", "https://rp.example/cb", VERIFIER, NOW + 1, 3600,
				&grant, refresh));
	CID_TRY(cid_refresh_rotate(f->s, refresh, "rp1", NULL, NOW + 2, 3600, &rotated, next));
	CID_TRY(cid_refresh_lookup(f->s, next, NOW + 3, &looked, &iat, &exp));
	cid_token_subject(f->ctx, NULL, f->client, "00000000-0000-4000-8000-000000000001", sub);
	CID_TRY(cid_token_access_mint(f->ctx, ks, f->client, sub, "openid profile", rotated,
				      NOW + 3, &at));
	CID_TRY(cid_store_read_begin(f->s, &txn));
	rc = cid_token_access_verify(f->ctx, f->keys, txn, at, NOW + 4, &access, NULL);
	cid_store_read_end(txn);
	CID_TRY(rc);
	CID_TRY(
	    cid_token_id_mint(f->ctx, ks, f->client, sub, rotated, at, f->released, NOW + 4, &idt));
	CID_TRY(cid_jws_verify(ks, idt, strlen(idt), "JWT", &id_claims));
	/* a success must carry every released claim */
	CID_ENSURE(json_object_get(id_claims, "email_verified") != NULL &&
		       json_object_get(id_claims, "given_name") != NULL &&
		       json_object_get(id_claims, "family_name") != NULL &&
		       json_object_get(id_claims, "email") != NULL,
		   CID_ERR_INVALID);
	CID_TRY(cid_token_access_revoke(f->s, access));
	CID_TRY(cid_grant_get(f->s, grant->id, &again));
	CID_TRY(cid_refresh_revoke(f->s, next, "rp1", NOW + 5));
out:
	cid_grant_free(grant);
	cid_grant_free(rotated);
	cid_grant_free(looked);
	cid_grant_free(again);
	cid_access_free(access);
	json_decref(id_claims);
	free(at);
	free(idt);
	return rc;
}

static void test_token_fails_cleanly(void **state)
{
	cid_alloc_fail_run("token code..revoke", token_body, *state, NULL);
}

/* ---- oidc: the token endpoint ---- */

static enum cid_err token_endpoint_body(void *arg)
{
	struct fixture *f = arg;
	enum cid_err rc = CID_OK;
	char code[CID_TOKEN_CHARS + 1];
	struct cid_request req = {
	    .post = true,
	    .form_content_type = true,
	    .authorization = f->basic,
	    .remote_addr = "127.0.0.1",
	    .now = NOW + 1,
	};
	struct cid_reply reply = {0};

	CID_TRY(cid_code_issue(f->s, f->auth, NOW, 60, code));
	CID_TRY(cid_params_add(&req.params, "grant_type", 10, "authorization_code", 18));
	CID_TRY(cid_params_add(&req.params, "code", 4, code, strlen(code)));
	CID_TRY(cid_params_add(&req.params, "redirect_uri", 12, "https://rp.example/cb", 21));
	CID_TRY(cid_params_add(&req.params, "code_verifier", 13, VERIFIER, strlen(VERIFIER)));
	CID_TRY(cid_oidc_token(f->ctx, &req, &reply));
	/* a reply built must be the tokens: running out of memory is no client's fault, so
	 * it must not read as invalid_client or invalid_grant (that would be "denied" here) */
	CID_ENSURE(reply.status == 200 && reply.body != NULL &&
		       strstr(reply.body, "\"id_token\"") != NULL,
		   CID_ERR_DENIED);
out:
	cid_reply_free(&reply);
	cid_params_clear(&req.params);
	return rc;
}

static void test_token_endpoint_fails_cleanly(void **state)
{
	cid_alloc_fail_run("oidc token endpoint", token_endpoint_body, *state, NULL);
}

/* ---- consent ---- */

static enum cid_err consent_body(void *arg)
{
	struct fixture *f = arg;
	enum cid_err rc = CID_OK;
	char account[CID_ID_CHARS + 1];
	const struct cid_consent_change changes[] = {
	    {"given_name", CID_CONSENT_GRANTED, NOW + 3600},
	    {"email", CID_CONSENT_REFUSED, 0},
	};
	static const char *const withdrawn[] = {"given_name"};
	struct cid_consent_context cc = {
	    .account_id = account,
	    .service = "rp1",
	    .purpose = "fees",
	    .policy_version = "v1",
	    .purpose_digest = "d1",
	    .method = CID_CONSENT_METHOD_SCREEN,
	    .request_id = "req-1",
	    .now = NOW,
	};
	struct cid_consent_facts *facts = NULL;
	struct cid_txn *txn = NULL;
	char *ids[2] = {NULL, NULL};
	char *wids[1] = {NULL};
	json_t *latest = NULL;
	json_t *history = NULL;
	json_t *one = NULL;

	/* a new citizen each run, so that no half-done run is read by the next */
	snprintf(account, sizeof(account), "0a1b2c3d-0000-4000-8000-%012lu", f->run++);
	CID_TRY(cid_consent_record(f->s, &cc, changes, 2, ids));
	CID_TRY(cid_store_read_begin(f->s, &txn));
	CID_TRY(cid_consent_current(txn, account, "rp1", "fees", NOW + 1, &facts));
	CID_TRY(cid_consent_latest(txn, account, "rp1", "fees", "email", &latest));
	cid_store_read_end(txn);
	txn = NULL;
	cc.now = NOW + 2;
	CID_TRY(cid_consent_withdraw(f->s, &cc, withdrawn, 1, wids, NULL));
	CID_TRY(cid_consent_history(f->s, account, NULL, &history));
	CID_ENSURE(json_array_size(history) == 3, CID_ERR_STORE);
	CID_TRY(cid_consent_get(f->s, ids[0], &one));
out:
	cid_store_read_end(txn);
	cid_consent_facts_free(facts);
	free(ids[0]);
	free(ids[1]);
	free(wids[0]);
	json_decref(latest);
	json_decref(history);
	json_decref(one);
	return rc;
}

static void test_consent_fails_cleanly(void **state)
{
	cid_alloc_fail_run("consent record..get", consent_body, *state, NULL);
}

/* ---- client ---- */

static enum cid_err client_body(void *arg)
{
	struct fixture *f = arg;
	static const char *const uris[] = {"https://rp.example/cb", "https://rp.example/cb2"};
	static const char *const logout[] = {"https://rp.example/bye"};
	enum cid_err rc = CID_OK;
	char client_id[32];
	struct cid_client_spec spec = {
	    .client_id = client_id,
	    .name = "Relying party",
	    .redirect_uris = uris,
	    .n_redirect_uris = 2,
	    .post_logout_uris = logout,
	    .n_post_logout_uris = 1,
	    .scopes = "openid profile",
	};
	struct cid_client *got = NULL;
	struct cid_client *authed = NULL;
	json_t *shown = NULL;
	json_t *list = NULL;
	char *id = NULL;
	char *secret = NULL;

	snprintf(client_id, sizeof(client_id), "af-%lu", f->run++);
	CID_TRY(cid_client_add(f->s, &spec, NOW, &id, &secret));
	CID_TRY(cid_client_get(f->s, client_id, &got));
	CID_TRY(cid_client_authenticate(f->s, client_id, secret, &authed));
	CID_TRY(cid_client_show(f->s, client_id, &shown));
	CID_TRY(cid_client_list(f->s, &list));
	CID_TRY(cid_client_remove(f->s, client_id));
out:
	cid_client_free(got);
	cid_client_free(authed);
	json_decref(shown);
	json_decref(list);
	free(id);
	free(secret);
	return rc;
}

static void test_client_fails_cleanly(void **state)
{
	cid_alloc_fail_run("client add..remove", client_body, *state, NULL);
}

/* ---- session ---- */

static enum cid_err session_body(void *arg)
{
	struct fixture *f = arg;
	static const char *const amr[] = {"pwd"};
	static const char *const mfa[] = {"pwd", "otp"};
	enum cid_err rc = CID_OK;
	char cookie[CID_TOKEN_CHARS + 1];
	char renewed[CID_TOKEN_CHARS + 1];
	struct cid_session sess;

	/* a citizen who exists: a session of one who does not is found by nobody */
	CID_TRY(
	    cid_session_new(f->s, f->account, CID_ACR_PASSWORD, amr, 1, NOW, 3600, cookie, &sess));
	CID_TRY(cid_session_get(f->s, cookie, NOW + 1, &sess));
	CID_TRY(cid_session_add_client(f->s, cookie, "rp1"));
	CID_TRY(cid_session_upgrade(f->s, cookie, CID_ACR_MFA, mfa, 2, NOW + 2, renewed, &sess));
	CID_TRY(cid_session_end(f->s, renewed));
out:
	return rc;
}

static void test_session_fails_cleanly(void **state)
{
	cid_alloc_fail_run("session new..end", session_body, *state, NULL);
}

/* ---- reply: the builders every endpoint answers with ---- */

static enum cid_err reply_body(void *arg)
{
	struct fixture *f = arg;
	static const char *const names[] = {"code", "state", "iss"};
	static const char *const values[] = {"c0de", "af0i fj", "https://id.example"};
	enum cid_err rc = CID_OK;
	struct cid_reply reply = {0};

	/* too big is for what does not fit: out of memory must say so; a key longer than
	 * jansson's first dump buffer is where json_dumps would drop bytes */
	CID_TRY(cid_reply_redirect(&reply, 302, "https://rp.example/cb", names, values, 3));
	CID_TRY(cid_reply_cookie(&reply, f->cfg, CID_COOKIE_SESSION, "v4lue", 3600));
	CID_TRY(cid_reply_json(&reply, 200, json_pack("{s:s}", "error_description", "none")));
	CID_ENSURE(strstr(reply.location, "state=af0i%20fj&iss=") != NULL && reply.n_cookies == 1 &&
		       strcmp(reply.body, "{\"error_description\":\"none\"}") == 0,
		   CID_ERR_DENIED);
out:
	cid_reply_free(&reply);
	return rc;
}

static void test_reply_fails_cleanly(void **state)
{
	cid_alloc_fail_run("reply redirect, cookie, json", reply_body, *state, NULL);
}

/* ---- the logout page's front-channel frames ---- */

static enum cid_err frames_body(void *arg)
{
	enum cid_err rc = CID_OK;
	struct cid_logout_done done = {0};
	struct cid_reply reply = {0};
	json_t *data = json_object();

	(void)arg;
	done.frames = json_pack("[{s:s, s:s}]", "name", "library", "url",
				"https://rp.example/fc?iss=x&sid=y");
	done.frame_src = strdup("https://rp.example");
	CID_ENSURE(data != NULL && done.frames != NULL && done.frame_src != NULL, CID_ERR_NOMEM);
	/* a failure hands the frames to data all the same: cleared once, below */
	CID_TRY(cid_logout_page_frames(&done, data, &reply));
	CID_ENSURE(json_array_size(json_object_get(data, "frames")) == 1 &&
		       strcmp(reply.frame_src, "https://rp.example") == 0,
		   CID_ERR_DENIED);
out:
	cid_logout_done_clear(&done);
	cid_reply_free(&reply);
	json_decref(data);
	return rc;
}

static void test_logout_frames_fail_cleanly(void **state)
{
	cid_alloc_fail_run("logout page frames", frames_body, *state, NULL);
}

/* ---- oidc: the authorization endpoint ---- */

static enum cid_err authorize_body(void *arg)
{
	struct fixture *f = arg;
	static const char *const amr[] = {"pwd"};
	enum cid_err rc = CID_OK;
	char cookie[CID_TOKEN_CHARS + 1];
	struct cid_request req = {.remote_addr = "127.0.0.1", .now = NOW + 1};
	struct cid_reply reply = {0};

	CID_TRY(
	    cid_session_new(f->s, f->account, CID_ACR_PASSWORD, amr, 1, NOW, 3600, cookie, NULL));
	req.session_cookie = cookie;
	req.params = f->authz; /* borrowed: never cleared here */
	CID_TRY(cid_oidc_authorize(f->ctx, &req, &reply));
	/* prompt=login: the login form, its request parked; anything else is a wrong answer */
	CID_ENSURE(reply.status == 200 && reply.page == CID_PAGE_LOGIN && reply.n_cookies == 1,
		   CID_ERR_DENIED);
out:
	cid_reply_free(&reply);
	return rc;
}

static void test_authorize_fails_cleanly(void **state)
{
	cid_alloc_fail_run("oidc authorize endpoint", authorize_body, *state, NULL);
}

/* ---- account ---- */

static enum cid_err account_body(void *arg)
{
	struct fixture *f = arg;
	enum cid_err rc = CID_OK;
	char username[32];
	char id[CID_ID_CHARS + 1];
	char again[CID_ID_CHARS + 1];
	int64_t retry = 0;
	json_t *claims = json_pack("{s:s, s:i}", "given_name", "太郎", "household_size", 3);
	json_t *change = json_pack("{s:s, s:n}", "email", "taro@example.jp", "household_size");
	struct cid_account *found = NULL;
	struct cid_account *got = NULL;
	char *secret = NULL;
	char *uri = NULL;

	snprintf(username, sizeof(username), "taro%lu", f->run++);
	CID_ENSURE(claims != NULL && change != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_account_add(f->s, &f->cfg->argon2, username, "correct horse battery", claims,
				NOW, id));
	CID_TRY(cid_account_find(f->s, username, &found));
	CID_TRY(cid_account_authenticate(f->s, &f->cfg->argon2, username, "correct horse battery",
					 "127.0.0.1", NOW, again, &retry));
	CID_TRY(cid_account_set_claims(f->s, username, change, NOW));
	CID_TRY(cid_account_totp_enrol(f->s, username, false, NOW, &secret, &uri));
	CID_TRY(cid_account_get(f->s, id, &got));
	/* a success must hold every claim the record holds */
	CID_ENSURE(got->has_totp && json_object_get(got->claims, "email") != NULL &&
		       json_object_get(got->claims, "given_name") != NULL &&
		       json_object_get(got->claims, "household_size") == NULL &&
		       json_object_get(found->claims, "household_size") != NULL,
		   CID_ERR_DENIED);
	CID_TRY(cid_account_set_disabled(f->s, username, true, NOW));
out:
	json_decref(claims);
	json_decref(change);
	cid_account_free(found);
	cid_account_free(got);
	free(secret);
	free(uri);
	return rc;
}

static void test_account_fails_cleanly(void **state)
{
	cid_alloc_fail_run("account add..disable", account_body, *state, NULL);
}

/* ---- policy and release ---- */

static enum cid_err policy_body(void *arg)
{
	(void)arg;
	enum cid_err rc = CID_OK;
	struct cid_policyset *ps = NULL;
	json_t *described = NULL;

	CID_TRY(cid_policyset_parse("svc.policy", cid_test_svc_policy, strlen(cid_test_svc_policy),
				    NULL, &ps));
	CID_TRY(cid_policy_describe(ps, "svc", &described));
out:
	json_decref(described);
	cid_policyset_free(ps);
	return rc;
}

static void test_policy_fails_cleanly(void **state)
{
	(void)state;
	cid_alloc_fail_run("policy parse, describe", policy_body, NULL, NULL);
}

static enum cid_err release_hook(void *arg, const struct cid_release_event *event,
				 struct cid_audit_range *range)
{
	(void)arg;
	*range = (struct cid_audit_range){1, event->n_decisions, event->n_decisions};
	return CID_OK;
}

static enum cid_err release_body(void *arg)
{
	struct fixture *f = arg;
	enum cid_err rc = CID_OK;
	struct cid_release_request rq = {
	    .policies = f->policies,
	    .service = "svc",
	    .account_id = f->account,
	    .scope = "openid profile email",
	    .level = CID_LEVEL_PASSWORD,
	    .now = NOW,
	    .audit = release_hook,
	};
	struct cid_account *citizen = NULL;
	json_t *out = json_object();
	json_t *ask = NULL;
	size_t n_ask = 0;
	bool step_up = false;

	CID_ENSURE(out != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_account_get(f->s, f->account, &citizen));
	rq.citizen = citizen;
	CID_TRY(cid_store_read_begin(f->s, &rq.txn));
	CID_TRY(cid_release_prompt(&rq, false, 8, &step_up, NULL, &ask, &n_ask));
	CID_TRY(cid_release_claims(&rq, CID_RELEASE_USERINFO, out));
	/* no consent given yet: the screen asks for both names the citizen has */
	CID_ENSURE(n_ask == 2 && json_object_size(out) == 0, CID_ERR_DENIED);
out:
	cid_store_read_end(rq.txn);
	cid_account_free(citizen);
	json_decref(out);
	json_decref(ask);
	return rc;
}

static void test_release_fails_cleanly(void **state)
{
	cid_alloc_fail_run("release prompt, claims", release_body, *state, NULL);
}

/* ---- explaining an entry, the policy archive, the officer's acts ---- */

struct explain_arg {
	struct fixture *f;
	uint64_t seq;
};

static enum cid_err explain_body(void *arg)
{
	struct explain_arg *a = arg;
	const struct cid_audit_filter filter = {.citizen = a->f->account, .type = "release."};
	const struct cid_audit_officer_act act = {.act = CID_AUDIT_OFFICER_SEARCHED,
						  .officer = "alice",
						  .citizen = a->f->account,
						  .filter = &filter,
						  .rows = 1,
						  .now = NOW};
	enum cid_err rc = CID_OK;
	json_t *x = NULL;
	json_t *e = NULL;

	CID_TRY(cid_policy_archive_put(a->f->s, a->f->policies, NOW, NULL));
	CID_TRY(cid_audit_explain(a->f->s, a->seq, &x));
	/* explained whole: the notice found, the consent and its history, nothing wrong */
	CID_ENSURE(json_object_get(x, "notice") != NULL &&
		       json_array_size(json_object_get(x, "problems")) == 0 &&
		       json_array_size(json_object_get(x, "consents")) == 1,
		   CID_ERR_DENIED);
	CID_TRY(cid_audit_officer_entry(&act, &e));
out:
	json_decref(x);
	json_decref(e);
	return rc;
}

static void test_explain_fails_cleanly(void **state)
{
	static const char *const amr[] = {"pwd"};
	struct fixture *f = *state;
	const struct cid_policy *pol = cid_policyset_find(f->policies, "svc");
	struct cid_purpose_info pu;
	struct cid_release_decision d = {
	    .attribute = "given_name",
	    .purpose = "fees",
	    .decision = {.permit = true,
			 .reason = CID_REASON_PERMIT_CONSENT,
			 .rule = "svc.policy:10",
			 .basis = CID_BASIS_CONSENT,
			 .policy_version = cid_policy_version(pol)},
	};
	struct cid_release_event ev = {.service = "svc",
				       .account_id = f->account,
				       .target = CID_RELEASE_USERINFO,
				       .level = CID_LEVEL_PASSWORD,
				       .acr = "urn:civicid:acr:password",
				       .amr = amr,
				       .n_amr = 1,
				       .auth_time = NOW,
				       .now = NOW,
				       .decisions = &d,
				       .n_decisions = 1};
	struct cid_consent_context ctx = {.account_id = f->account,
					  .service = "svc",
					  .purpose = "fees",
					  .method = CID_CONSENT_METHOD_SCREEN,
					  .policy_version = cid_policy_version(pol),
					  .now = NOW};
	const struct cid_consent_change change = {"given_name", CID_CONSENT_GRANTED, NOW + 86400};
	struct cid_audit_range range = {0};
	struct explain_arg a = {.f = f};
	char *id = NULL;

	assert_true(cid_policy_purpose_find(pol, "fees", &pu));
	d.purpose_digest = pu.digest;
	ctx.purpose_digest = pu.digest;
	assert_int_equal(cid_consent_record(f->s, &ctx, &change, 1, &id), CID_OK);
	d.decision.consent_id = id;
	assert_int_equal(cid_policy_archive_put(f->s, f->policies, NOW, NULL), CID_OK);
	assert_int_equal(cid_audit_release_hook(cid_ctx_audit_log(f->ctx), &ev, &range), CID_OK);
	a.seq = range.first;
	cid_alloc_fail_run("audit explain, policy archive, officer entry", explain_body, &a, NULL);
	free(id);
}

/* ---- cid: opening a context ---- */

static enum cid_err ctx_open_body(void *arg)
{
	struct fixture *f = arg;
	struct cid_ctx *ctx = NULL;
	enum cid_err rc = cid_ctx_open(f->reopen_cfg, NOW, NULL, &ctx);
	size_t len = 0;

	/* the discovery document is built whole or not at all */
	if (rc == CID_OK && strstr(cid_ctx_discovery(ctx, &len), "\"claims_supported\"") == NULL)
		rc = CID_ERR_DENIED;
	cid_ctx_close(ctx);
	return rc;
}

static void test_ctx_open_fails_cleanly(void **state)
{
	cid_alloc_fail_run("ctx open", ctx_open_body, *state, NULL);
}

/* ---- jose: a foreign JWKS and a JWS checked against it ---- */

static enum cid_err jose_body(void *arg)
{
	struct fixture *f = arg;
	const struct cid_keyset *ks = cid_keyref_keyset(f->keys);
	enum cid_err rc = CID_OK;
	struct cid_keyset *foreign = NULL;
	json_t *claims = json_pack("{s:s, s:i}", "sub", "someone", "exp", 2000000000);
	json_t *verified = NULL;
	char *jws = NULL;

	CID_ENSURE(claims != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_jws_sign(ks, "RS256", "JWT", claims, &jws));
	CID_TRY(cid_keyset_from_jwks(f->jwks, strlen(f->jwks), &foreign));
	CID_TRY(cid_jws_verify(foreign, jws, strlen(jws), "JWT", &verified));
out:
	cid_keyset_free(foreign);
	json_decref(claims);
	json_decref(verified);
	free(jws);
	return rc;
}

static void test_jose_fails_cleanly(void **state)
{
	cid_alloc_fail_run("jose jwks, sign, verify", jose_body, *state, NULL);
}

/* ---- witness: a new witness cosigns a log's first checkpoint ---- */

static enum cid_err witness_body(void *arg)
{
	struct fixture *f = arg;
	enum cid_err rc = CID_OK;
	char dir[256];
	struct cid_store *s = NULL;
	struct cid_witness *w = NULL;
	struct cid_witness_result res = {0};
	json_t *st = NULL;
	const json_t *log;
	char *vkey = NULL;

	/* a store of this run only: a witness is made once per store, and its state
	 * lists every log, so runs sharing one would grow with the count */
	cid_test_tmpdir(dir);
	CID_TRY(cid_store_open(dir, &s));
	CID_TRY(cid_witness_init(s, "witness.example/w1", NOW, &vkey));
	CID_TRY(cid_witness_open(s, &w));
	CID_TRY(cid_witness_add_log(s, LOG_ORIGIN, f->log_vkey));
	CID_TRY(
	    cid_witness_add_checkpoint(w, f->witness_body, strlen(f->witness_body), NOW + 1, &res));
	/* the checkpoint is good: any other verdict is a wrong answer to a failed allocation */
	CID_ENSURE(res.verdict == CID_WITNESS_COSIGNED && res.status == 200, CID_ERR_DENIED);
	CID_TRY(cid_witness_state(s, &st));
	log = json_array_get(json_object_get(st, "logs"), 0);
	CID_ENSURE(json_integer_value(json_object_get(log, "size")) == 1 &&
		       json_object_get(log, "checkpoint") != NULL,
		   CID_ERR_DENIED);
out:
	json_decref(st);
	cid_witness_result_clear(&res);
	cid_witness_free(w);
	free(vkey);
	cid_store_close(s);
	cid_test_rmdir(dir);
	return rc;
}

static void test_witness_fails_cleanly(void **state)
{
	cid_alloc_fail_run("witness init..state", witness_body, *state, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_secret_hash_needs_no_memory),
	    cmocka_unit_test(test_form_parsers_fail_cleanly),
	    cmocka_unit_test(test_authz_check_fails_cleanly),
	    cmocka_unit_test(test_store_fails_cleanly),
	    cmocka_unit_test(test_store_open_fails_cleanly),
	    cmocka_unit_test(test_token_fails_cleanly),
	    cmocka_unit_test(test_token_endpoint_fails_cleanly),
	    cmocka_unit_test(test_consent_fails_cleanly),
	    cmocka_unit_test(test_client_fails_cleanly),
	    cmocka_unit_test(test_session_fails_cleanly),
	    cmocka_unit_test(test_jose_fails_cleanly),
	    cmocka_unit_test(test_reply_fails_cleanly),
	    cmocka_unit_test(test_logout_frames_fail_cleanly),
	    cmocka_unit_test(test_authorize_fails_cleanly),
	    cmocka_unit_test(test_account_fails_cleanly),
	    cmocka_unit_test(test_policy_fails_cleanly),
	    cmocka_unit_test(test_release_fails_cleanly),
	    cmocka_unit_test(test_explain_fails_cleanly),
	    cmocka_unit_test(test_ctx_open_fails_cleanly),
	    cmocka_unit_test(test_witness_fails_cleanly),
	};

	/* before anything reaches OpenSSL: it takes the hook only before its first allocation */
	cid_alloc_fail_install();
	/* CID_TEST_FILTER=test_token* runs one body, e.g. while fixing what it found */
	if (getenv("CID_TEST_FILTER") != NULL)
		cmocka_set_test_filter(getenv("CID_TEST_FILTER"));
	return cmocka_run_group_tests(tests, setup, teardown);
}
