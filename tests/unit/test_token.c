/*
 * token: codes, grants and refresh tokens on a real LMDB store, and the JWTs
 * minted through a real context (keys generated in the store), for a real
 * citizen (account.h).
 */
#include "account.h"
#include "client.h"
#include "config.h"
#include "jose.h"
#include "logout.h"
#include "session.h"
#include "support.h"
#include "token.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define VERIFIER  "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
#define CHALLENGE "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
#define NOW	  1800000000
#define TEN_YEARS (10LL * 365 * 86400)
/* 32 bytes: one more than an acr can hold */
#define CID_TEST_LONG_ACR "urn:civicid:acr:0123456789abcdef"

struct fixture {
	char dir[256];
	struct cid_config *cfg;
	struct cid_ctx *ctx;
	struct cid_store *s;
	char account[CID_ID_CHARS + 1];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->cfg = cid_test_config(f->dir);
	cid_test_policies(f->cfg, f->dir, NULL, NULL);
	assert_int_equal(cid_ctx_open(f->cfg, NOW, NULL, &f->ctx), CID_OK);
	f->s = cid_ctx_store(f->ctx);
	assert_int_equal(cid_account_add(f->s, &cid_test_argon2, "hanako", "correct horse battery",
					 NULL, NOW, f->account),
			 CID_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	cid_test_ctx_close(f->ctx, f->cfg, f->dir);
	free(f);
	return 0;
}

static json_t *auth_for(const struct fixture *f, const char *client, const char *challenge)
{
	char sid[CID_TOKEN_CHARS + 1];
	json_t *a;

	cid_test_session_sid(f->s, f->account, NOW, sid);
	a = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:[s], s:s, s:s}", "client_id", client,
		      "redirect_uri", "https://rp.example/cb", "account_id", f->account, "sid", sid,
		      "auth_time", (json_int_t)NOW, "acr", "urn:civicid:acr:password", "amr", "pwd",
		      "scope", "openid profile", "nonce", "n-1");

	assert_non_null(a);
	if (challenge != NULL)
		assert_int_equal(json_object_set_new(a, "code_challenge", json_string(challenge)),
				 0);
	return a;
}

static void issue(struct fixture *f, const char *challenge, char code[CID_TOKEN_CHARS + 1])
{
	json_t *a = auth_for(f, "rp1", challenge);

	assert_int_equal(cid_code_issue(f->s, a, NOW, 60, code), CID_OK);
	assert_int_equal(strlen(code), CID_TOKEN_CHARS);
	json_decref(a);
}

/* Issues a code for rp1 (no PKCE) and redeems it at NOW + 1; returns the grant (cid_grant_free). */
static struct cid_grant *redeemed(struct fixture *f, int64_t refresh_ttl,
				  char refresh[CID_TOKEN_CHARS + 1])
{
	char code[CID_TOKEN_CHARS + 1];
	struct cid_grant *grant = NULL;

	issue(f, NULL, code);
	assert_int_equal(cid_code_redeem(f->s, code, "rp1", "https://rp.example/cb", NULL, NOW + 1,
					 refresh_ttl, &grant, refresh),
			 CID_OK);
	assert_non_null(grant);
	return grant;
}

/* The grant record of grant_id as stored (new reference). */
static json_t *stored_grant(struct fixture *f, const char *grant_id)
{
	struct cid_txn *txn = NULL;
	json_t *rec = NULL;

	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_txn_get_json(txn, CID_DB_GRANTS, cid_str_of(grant_id), &rec), CID_OK);
	cid_store_read_end(txn);
	return rec;
}

/*
 * A refresh token issued without offline_access ends with the login session
 * its code was issued in (Back-Channel Logout 1.0 §2.7): once the session is
 * gone (a logout) or expired, neither rotation nor introspection takes it;
 * with offline_access it outlives the session.
 */
static void test_refresh_ends_with_its_session_unless_offline(void **state)
{
	struct fixture *f = *state;

	for (int offline = 0; offline < 2; offline++) {
		for (int expired = 0; expired < 2; expired++) {
			json_t *a = auth_for(f, "rp1", NULL);
			const char *sid = cid_json_str(a, "sid");
			const enum cid_err want = offline ? CID_OK : CID_ERR_EXPIRED;
			/* the session (CID_TEST_SESSION_TTL) is over at late */
			const int64_t late = NOW + CID_TEST_SESSION_TTL;
			const int64_t at = expired ? late : NOW + 2;
			char code[CID_TOKEN_CHARS + 1];
			char refresh[CID_TOKEN_CHARS + 1];
			char next[CID_TOKEN_CHARS + 1];
			struct cid_grant *g = NULL;
			int64_t iat = 0;
			int64_t exp = 0;

			if (offline)
				assert_int_equal(
				    json_object_set_new(a, "scope",
							json_string("openid offline_access")),
				    0);
			assert_int_equal(cid_code_issue(f->s, a, NOW, 60, code), CID_OK);
			assert_int_equal(cid_code_redeem(f->s, code, "rp1", "https://rp.example/cb",
							 NULL, NOW + 1, 2 * CID_TEST_SESSION_TTL,
							 &g, refresh),
					 CID_OK);
			cid_grant_free(g);
			g = NULL;
			if (!expired)
				assert_int_equal(cid_session_end_sid(f->s, sid), CID_OK);
			assert_int_equal(cid_refresh_lookup(f->s, refresh, at, &g, &iat, &exp),
					 want);
			cid_grant_free(g);
			g = NULL;
			assert_int_equal(
			    cid_refresh_rotate(f->s, refresh, "rp1", NULL, at, 3600, &g, next),
			    want);
			cid_grant_free(g);
			json_decref(a);
		}
	}
}

/*
 * A code lives only as long as the login session it was issued in, with or
 * without offline_access: redeemed after a logout it would give the service
 * an ID token naming an ended sid. Refused as expired, and left unused.
 */
static void test_code_ends_with_its_session(void **state)
{
	struct fixture *f = *state;

	for (int offline = 0; offline < 2; offline++) {
		json_t *a = auth_for(f, "rp1", NULL);
		char code[CID_TOKEN_CHARS + 1];
		char refresh[CID_TOKEN_CHARS + 1];
		struct cid_grant *g = NULL;

		if (offline)
			assert_int_equal(
			    json_object_set_new(a, "scope", json_string("openid offline_access")),
			    0);
		assert_int_equal(cid_code_issue(f->s, a, NOW, 60, code), CID_OK);
		assert_int_equal(cid_session_end_sid(f->s, cid_json_str(a, "sid")), CID_OK);
		assert_int_equal(cid_code_redeem(f->s, code, "rp1", "https://rp.example/cb", NULL,
						 NOW + 1, 3600, &g, refresh),
				 CID_ERR_EXPIRED);
		assert_null(g);
		/* refused, not replayed: a second try is refused the same way */
		assert_int_equal(cid_code_redeem(f->s, code, "rp1", "https://rp.example/cb", NULL,
						 NOW + 1, 3600, &g, refresh),
				 CID_ERR_EXPIRED);
		json_decref(a);
	}
}

/* A damaged session record vouches for nothing: the refresh is refused as expired. */
static void test_refresh_refused_when_its_session_record_is_damaged(void **state)
{
	struct fixture *f = *state;
	json_t *a = auth_for(f, "rp1", NULL);
	char code[CID_TOKEN_CHARS + 1];
	char refresh[CID_TOKEN_CHARS + 1];
	char next[CID_TOKEN_CHARS + 1];
	char hash[CID_HASH_HEX + 1];
	char key[CID_TOKEN_CHARS + 3];
	struct cid_grant *g = NULL;

	assert_int_equal(cid_code_issue(f->s, a, NOW, 60, code), CID_OK);
	assert_int_equal(cid_code_redeem(f->s, code, "rp1", "https://rp.example/cb", NULL, NOW + 1,
					 2 * CID_TEST_SESSION_TTL, &g, refresh),
			 CID_OK);
	cid_grant_free(g);
	g = NULL;
	/* the sid's index key now names a record that is not a session */
	memset(hash, 'd', CID_HASH_HEX);
	hash[CID_HASH_HEX] = '\0';
	cid_test_raw_write(f->s, CID_DB_SESSIONS, hash, "damaged: not a JSON object");
	assert_int_equal(snprintf(key, sizeof(key), "s\n%s", cid_json_str(a, "sid")) > 0, 1);
	cid_test_raw_write(f->s, CID_DB_SESSION_INDEX, key, hash);
	assert_int_equal(cid_refresh_rotate(f->s, refresh, "rp1", NULL, NOW + 2, 3600, &g, next),
			 CID_ERR_EXPIRED);
	assert_null(g);
	json_decref(a);
}

static void test_code_redeem_once_then_replay_revokes_grant(void **state)
{
	struct fixture *f = *state;
	char code[CID_TOKEN_CHARS + 1];
	char refresh[CID_TOKEN_CHARS + 1];
	char next[CID_TOKEN_CHARS + 1];
	struct cid_grant *grant = NULL;
	struct cid_grant *again = NULL;
	json_t *stored;

	issue(f, CHALLENGE, code);
	assert_int_equal(cid_code_redeem(f->s, code, "rp1", "https://rp.example/cb", VERIFIER,
					 NOW + 1, 3600, &grant, refresh),
			 CID_OK);
	assert_string_equal(grant->nonce, "n-1");
	stored = stored_grant(f, grant->id);
	assert_null(json_object_get(stored, "code_challenge"));
	json_decref(stored);
	assert_int_equal(strlen(refresh), CID_TOKEN_CHARS);
	/* replay: refused, and the grant (with its refresh token) is revoked */
	assert_int_equal(cid_code_redeem(f->s, code, "rp1", "https://rp.example/cb", VERIFIER,
					 NOW + 2, 3600, &again, next),
			 CID_ERR_REVOKED);
	assert_null(again);
	assert_int_equal(cid_grant_get(f->s, grant->id, &again), CID_ERR_REVOKED);
	assert_int_equal(
	    cid_refresh_rotate(f->s, refresh, "rp1", NULL, NOW + 3, 3600, &again, next),
	    CID_ERR_REVOKED);
	assert_null(again);
	cid_grant_free(grant);
}

struct redeem_case {
	const char *name;
	const char *challenge; /* stored */
	const char *client;
	const char *redirect;
	const char *verifier;
	int64_t at;
	enum cid_err rc;
};

static const struct redeem_case redeem_cases[] = {
    {"pkce ok", CHALLENGE, "rp1", "https://rp.example/cb", VERIFIER, NOW + 1, CID_OK},
    {"no pkce ok", NULL, "rp1", "https://rp.example/cb", NULL, NOW + 1, CID_OK},
    {"wrong verifier", CHALLENGE, "rp1", "https://rp.example/cb",
     "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXX", NOW + 1, CID_ERR_DENIED},
    {"verifier missing", CHALLENGE, "rp1", "https://rp.example/cb", NULL, NOW + 1, CID_ERR_DENIED},
    {"verifier too short", CHALLENGE, "rp1", "https://rp.example/cb", "short", NOW + 1,
     CID_ERR_DENIED},
    {"verifier without challenge", NULL, "rp1", "https://rp.example/cb", VERIFIER, NOW + 1,
     CID_ERR_DENIED},
    {"other client", NULL, "rp2", "https://rp.example/cb", NULL, NOW + 1, CID_ERR_DENIED},
    {"other redirect", NULL, "rp1", "https://rp.example/cb2", NULL, NOW + 1, CID_ERR_DENIED},
    {"redirect missing", NULL, "rp1", NULL, NULL, NOW + 1, CID_ERR_DENIED},
    {"expired", NULL, "rp1", "https://rp.example/cb", NULL, NOW + 61, CID_ERR_EXPIRED},
};

static void test_code_redeem_table(void **state)
{
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(redeem_cases) / sizeof(redeem_cases[0]); i++) {
		const struct redeem_case *c = &redeem_cases[i];
		char code[CID_TOKEN_CHARS + 1];
		char refresh[CID_TOKEN_CHARS + 1];
		struct cid_grant *grant = NULL;
		enum cid_err rc;

		issue(f, c->challenge, code);
		rc = cid_code_redeem(f->s, code, c->client, c->redirect, c->verifier, c->at, 0,
				     &grant, refresh);
		if (rc != c->rc)
			fail_msg("%s: expected %s, got %s", c->name, cid_strerror(c->rc),
				 cid_strerror(rc));
		assert_true((grant != NULL) == (c->rc == CID_OK));
		cid_grant_free(grant);
	}
}

static void test_code_unknown_and_malformed(void **state)
{
	struct fixture *f = *state;
	char refresh[CID_TOKEN_CHARS + 1];
	struct cid_grant *grant = NULL;

	assert_int_equal(cid_code_redeem(f->s, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "rp1",
					 "https://rp.example/cb", NULL, NOW, 0, &grant, refresh),
			 CID_ERR_NOTFOUND);
	assert_int_equal(cid_code_redeem(f->s, "short", "rp1", "https://rp.example/cb", NULL, NOW,
					 0, &grant, refresh),
			 CID_ERR_NOTFOUND);
	assert_int_equal(cid_code_redeem(f->s, NULL, "rp1", "https://rp.example/cb", NULL, NOW, 0,
					 &grant, refresh),
			 CID_ERR_NOTFOUND);
	assert_null(grant);
}

static void test_refresh_rotation_and_reuse_revokes_family(void **state)
{
	struct fixture *f = *state;
	char r1[CID_TOKEN_CHARS + 1];
	char r2[CID_TOKEN_CHARS + 1];
	char r3[CID_TOKEN_CHARS + 1];
	struct cid_grant *grant = NULL;
	struct cid_grant *g2 = NULL;
	int64_t iat = 0;
	int64_t exp = 0;

	cid_grant_free(redeemed(f, 3600, r1));
	/* another client cannot use it, and that attempt does not consume it */
	assert_int_equal(cid_refresh_rotate(f->s, r1, "rp2", NULL, NOW + 2, 3600, &grant, r2),
			 CID_ERR_DENIED);
	assert_int_equal(cid_refresh_rotate(f->s, r1, "rp1", NULL, NOW + 2, 3600, &grant, r2),
			 CID_OK);
	assert_string_not_equal(r1, r2);
	assert_int_equal(cid_refresh_lookup(f->s, r2, NOW + 3, &g2, &iat, &exp), CID_OK);
	assert_int_equal(iat, NOW + 2);
	assert_int_equal(exp, NOW + 2 + 3600);
	cid_grant_free(g2);
	g2 = NULL;
	/* the rotated-out token is presented again: refused and the family dies */
	assert_int_equal(cid_refresh_rotate(f->s, r1, "rp1", NULL, NOW + 3, 3600, &g2, r3),
			 CID_ERR_REVOKED);
	assert_int_equal(cid_refresh_rotate(f->s, r2, "rp1", NULL, NOW + 4, 3600, &g2, r3),
			 CID_ERR_REVOKED);
	assert_int_equal(cid_refresh_lookup(f->s, r2, NOW + 4, &g2, &iat, &exp), CID_ERR_REVOKED);
	assert_null(g2);
	cid_grant_free(grant);
}

/* A scope wider than the grant's is refused without spending the token; a narrower one is given. */
static void test_refresh_scope_within_the_grant(void **state)
{
	struct fixture *f = *state;
	char r1[CID_TOKEN_CHARS + 1];
	char r2[CID_TOKEN_CHARS + 1];
	struct cid_grant *grant = NULL;
	int64_t iat = 0;
	int64_t exp = 0;

	cid_grant_free(redeemed(f, 3600, r1)); /* scope "openid profile" */
	assert_int_equal(
	    cid_refresh_rotate(f->s, r1, "rp1", "openid profile email", NOW + 2, 3600, &grant, r2),
	    CID_ERR_INVALID);
	assert_null(grant);
	assert_int_equal(cid_refresh_lookup(f->s, r1, NOW + 2, &grant, &iat, &exp), CID_OK);
	cid_grant_free(grant);
	grant = NULL;
	assert_int_equal(cid_refresh_rotate(f->s, r1, "rp1", "openid", NOW + 2, 3600, &grant, r2),
			 CID_OK);
	assert_string_equal(grant->scope, "openid");
	cid_grant_free(grant);
	grant = NULL;
	/* the grant keeps its scope: the successor may ask for all of it again */
	assert_int_equal(cid_refresh_rotate(f->s, r2, "rp1", NULL, NOW + 3, 3600, &grant, r1),
			 CID_OK);
	assert_string_equal(grant->scope, "openid profile");
	cid_grant_free(grant);
}

static void test_refresh_expired_and_revoked(void **state)
{
	struct fixture *f = *state;
	char r1[CID_TOKEN_CHARS + 1];
	char r2[CID_TOKEN_CHARS + 1];
	struct cid_grant *grant = NULL;

	cid_grant_free(redeemed(f, 100, r1));
	assert_int_equal(cid_refresh_rotate(f->s, r1, "rp1", NULL, NOW + 200, 100, &grant, r2),
			 CID_ERR_EXPIRED);
	assert_int_equal(cid_refresh_revoke(f->s, r1, "rp2", NOW), CID_ERR_DENIED);
	assert_int_equal(cid_refresh_revoke(f->s, r1, "rp1", NOW), CID_OK);
	assert_int_equal(cid_refresh_rotate(f->s, r1, "rp1", NULL, NOW + 2, 100, &grant, r2),
			 CID_ERR_REVOKED);
	assert_int_equal(cid_refresh_revoke(f->s, "nope", "rp1", NOW), CID_ERR_NOTFOUND);
}

/* Copies the key of the one grant in the store into arg (a char[CID_TOKEN_CHARS + 1]). */
static enum cid_err grant_key(struct cid_str key, struct cid_str val, void *arg)
{
	char *id = arg;

	(void)val;
	assert_int_equal(key.len, CID_TOKEN_CHARS);
	assert_int_equal(id[0], '\0');
	memcpy(id, key.ptr, key.len);
	id[key.len] = '\0';
	return CID_OK;
}

/* A grant member's change: value NULL removes the member. */
struct grant_edit {
	const char *id;
	const char *name;
	json_t *value;
};

static enum cid_err grant_edit_cb(struct cid_txn *txn, void *arg)
{
	struct grant_edit *e = arg;
	enum cid_err rc = CID_OK;
	json_t *rec = NULL;

	CID_TRY(cid_txn_get_json(txn, CID_DB_GRANTS, cid_str_of(e->id), &rec));
	if (e->value == NULL)
		json_object_del(rec, e->name);
	else
		CID_ENSURE(json_object_set(rec, e->name, e->value) == 0, CID_ERR_NOMEM);
	CID_TRY(cid_txn_put_json(txn, CID_DB_GRANTS, cid_str_of(e->id), rec, 0));
out:
	json_decref(rec);
	return rc;
}

/* Sets (or with value NULL removes) a member of the stored grant id; takes value. */
static void grant_edit(struct fixture *f, const char *id, const char *name, json_t *value)
{
	struct grant_edit e = {id, name, value};

	assert_int_equal(cid_store_update(f->s, grant_edit_cb, &e), CID_OK);
	json_decref(value);
}

/*
 * A grant is read from its record in one place, member by member; a damaged
 * record is a damaged store, and refuses before anything is spent: the code
 * or refresh token works once the record is whole again.
 */
static void test_grant_typed_from_its_record(void **state)
{
	static const struct {
		const char *name;
		const char *value; /* JSON; NULL: removed */
	} damages[] = {
	    {"grant_id", NULL},
	    {"client_id", "5"},
	    {"client_id", "\"\""},
	    {"scope", "[]"},
	    {"amr", "\"pwd\""},
	    {"amr", "[\"a\",\"b\",\"c\",\"d\",\"e\"]"},
	    {"acr", "\"" CID_TEST_LONG_ACR "\""},
	    {"auth_time", "\"now\""},
	    {"claims", "[]"},
	    {"nonce", "1"},
	    {"generation", "\"0\""},
	};
	struct fixture *f = *state;
	json_t *auth = auth_for(f, "rp1", NULL);
	char code[CID_TOKEN_CHARS + 1];
	char refresh[CID_TOKEN_CHARS + 1];
	char next[CID_TOKEN_CHARS + 1];
	char id[CID_TOKEN_CHARS + 1] = "";
	struct cid_txn *txn = NULL;
	struct cid_grant *g = NULL;
	int64_t iat = 0;
	int64_t exp = 0;
	json_t *whole;

	assert_int_equal(
	    json_object_set_new(auth, "claims", json_pack("{s:{s:n}}", "userinfo", "email")), 0);
	assert_int_equal(cid_code_issue(f->s, auth, NOW, 60, code), CID_OK);
	json_decref(auth);
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(
	    cid_txn_foreach(txn, CID_DB_GRANTS, (struct cid_str){NULL, 0}, grant_key, id), CID_OK);
	cid_store_read_end(txn);
	whole = stored_grant(f, id);
	for (size_t i = 0; i < sizeof(damages) / sizeof(damages[0]); i++) {
		json_t *v = damages[i].value == NULL
				? NULL
				: json_loads(damages[i].value, JSON_DECODE_ANY, NULL);

		assert_true(damages[i].value == NULL || v != NULL);
		grant_edit(f, id, damages[i].name, v);
		if (cid_code_redeem(f->s, code, "rp1", "https://rp.example/cb", NULL, NOW + 1, 3600,
				    &g, refresh) != CID_ERR_STORE)
			fail_msg("%s %s: not refused", damages[i].name,
				 damages[i].value == NULL ? "removed" : damages[i].value);
		assert_null(g);
		grant_edit(f, id, damages[i].name,
			   json_incref(json_object_get(whole, damages[i].name)));
	}
	/* whole again: the code was never spent */
	assert_int_equal(cid_code_redeem(f->s, code, "rp1", "https://rp.example/cb", NULL, NOW + 1,
					 3600, &g, refresh),
			 CID_OK);
	assert_string_equal(g->id, id);
	assert_string_equal(g->account_id, f->account);
	assert_string_equal(g->client_id, "rp1");
	assert_string_equal(g->scope, "openid profile");
	assert_int_equal(strlen(g->sid), CID_TOKEN_CHARS); /* the session's (auth_for) */
	assert_string_equal(g->acr, "urn:civicid:acr:password");
	assert_int_equal(g->n_amr, 1);
	assert_string_equal(g->amr[0], "pwd");
	assert_int_equal(g->auth_time, NOW);
	assert_string_equal(g->nonce, "n-1");
	assert_true(json_is_null(json_object_get(json_object_get(g->claims, "userinfo"), "email")));
	assert_int_equal(g->generation, 0);
	assert_int_equal(g->created_at, NOW);
	assert_false(g->revoked);
	cid_grant_free(g);
	g = NULL;
	/* the same for the refresh token and a grant read by id */
	grant_edit(f, id, "amr", json_string("pwd"));
	assert_int_equal(cid_refresh_lookup(f->s, refresh, NOW + 2, &g, &iat, &exp), CID_ERR_STORE);
	assert_int_equal(cid_grant_get(f->s, id, &g), CID_ERR_STORE);
	assert_int_equal(cid_refresh_rotate(f->s, refresh, "rp1", NULL, NOW + 2, 3600, &g, next),
			 CID_ERR_STORE);
	assert_null(g);
	grant_edit(f, id, "amr", json_incref(json_object_get(whole, "amr")));
	assert_int_equal(cid_refresh_rotate(f->s, refresh, "rp1", NULL, NOW + 2, 3600, &g, next),
			 CID_OK);
	cid_grant_free(g);
	g = NULL;
	/* a grant without the optional members reads as having none */
	grant_edit(f, id, "nonce", NULL);
	grant_edit(f, id, "claims", NULL);
	grant_edit(f, id, "sid", NULL);
	assert_int_equal(cid_grant_get(f->s, id, &g), CID_OK);
	assert_null(g->nonce);
	assert_null(g->claims);
	assert_string_equal(g->sid, "");
	cid_grant_free(g);
	cid_grant_free(NULL);
	json_decref(whole);
}

static struct cid_client *client_of(const char *alg, bool pairwise, const char *sector)
{
	static char uri[] = "https://rp.example/cb", id[] = "rp1", scopes[] = "openid profile";
	static char *uris[] = {uri};
	struct cid_client *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	c->client_id = id;
	c->redirect_uris = uris;
	c->n_redirect_uris = 1;
	c->scopes = scopes;
	memcpy(c->id_token_alg, alg, strlen(alg) + 1);
	c->pairwise = pairwise;
	c->sector = (char *)(uintptr_t)sector;
	return c;
}

/* cid_token_access_verify in a read transaction of its own. */
static enum cid_err check_access(struct cid_ctx *ctx, struct cid_keyref *ref, const char *jwt,
				 int64_t now, struct cid_access **out)
{
	struct cid_txn *txn = NULL;
	enum cid_err rc = cid_store_read_begin(cid_ctx_store(ctx), &txn);

	if (rc == CID_OK)
		rc = cid_token_access_verify(ctx, ref, txn, jwt, now, out, NULL);
	cid_store_read_end(txn);
	return rc;
}

/*
 * Disabling the citizen kills every grant of theirs: codes, refresh tokens and
 * access tokens are refused without being consumed, and enabling the citizen
 * again revives none of them; no code is issued for a citizen not active.
 */
static void test_disabled_citizen_kills_grants(void **state)
{
	struct fixture *f = *state;
	struct cid_client *c = client_of("ES256", true, "rp.example");
	struct cid_keyref *ref = cid_ctx_keys_acquire(f->ctx);
	const struct cid_keyset *ks = cid_keyref_keyset(ref);
	char code[CID_TOKEN_CHARS + 1];
	char r1[CID_TOKEN_CHARS + 1];
	char r2[CID_TOKEN_CHARS + 1];
	struct cid_grant *grant = redeemed(f, 3600, r1);
	json_t *auth = auth_for(f, "rp1", NULL);
	struct cid_access *out = NULL;
	struct cid_grant *got = NULL;
	int64_t iat = 0;
	int64_t exp = 0;
	char *at = NULL;

	issue(f, NULL, code);
	assert_int_equal(cid_token_access_mint(f->ctx, ks, c, "s", "openid", grant, NOW + 1, &at),
			 CID_OK);
	/* verified once, so remembered: the citizen's state is read all the same */
	assert_int_equal(check_access(f->ctx, ref, at, NOW + 2, &out), CID_OK);
	cid_access_free(out);
	out = NULL;
	assert_int_equal(cid_account_set_disabled(f->s, "hanako", true, NOW), CID_OK);
	for (int pass = 0; pass < 2; pass++) {
		assert_int_equal(check_access(f->ctx, ref, at, NOW + 2, &out), CID_ERR_REVOKED);
		assert_int_equal(cid_refresh_lookup(f->s, r1, NOW + 2, &got, &iat, &exp),
				 CID_ERR_REVOKED);
		assert_int_equal(cid_refresh_rotate(f->s, r1, "rp1", NULL, NOW + 2, 3600, &got, r2),
				 CID_ERR_REVOKED);
		assert_int_equal(cid_code_redeem(f->s, code, "rp1", "https://rp.example/cb", NULL,
						 NOW + 2, 3600, &got, r2),
				 CID_ERR_REVOKED);
		assert_null(out);
		assert_null(got);
		/* the second pass: enabled again, and still nothing lives */
		assert_int_equal(cid_account_set_disabled(f->s, "hanako", pass == 1, NOW), CID_OK);
	}
	/* the citizen is disabled again: no code for them */
	assert_int_equal(cid_code_issue(f->s, auth, NOW, 60, code), CID_ERR_DISABLED);
	/* enabled: a code for a session of an ended generation is refused too */
	assert_int_equal(cid_account_set_disabled(f->s, "hanako", false, NOW), CID_OK);
	assert_int_equal(cid_code_issue(f->s, auth, NOW, 60, code), CID_ERR_REVOKED);
	assert_int_equal(json_object_set_new(auth, "generation", json_integer(4)), 0);
	assert_int_equal(cid_code_issue(f->s, auth, NOW, 60, code), CID_OK);
	/* a nobody gets no code */
	assert_int_equal(json_object_set_new(auth, "account_id",
					     json_string("00000000-0000-4000-8000-000000000009")),
			 0);
	assert_int_equal(cid_code_issue(f->s, auth, NOW, 60, code), CID_ERR_NOTFOUND);
	json_decref(auth);
	cid_grant_free(grant);
	free(at);
	cid_keyref_put(ref);
	free(c);
}

/*
 * Single logout's disabling (cid_logout_disable_citizen: the citizen disabled
 * and their sessions ended in one transaction) revokes an access token that
 * was verified, and so remembered, before: the memo keeps the token's claims,
 * never the citizen's state. Enabled again, the token stays dead.
 */
static void test_logout_disable_kills_a_remembered_access_token(void **state)
{
	struct fixture *f = *state;
	struct cid_client *c = client_of("ES256", true, "rp.example");
	struct cid_keyref *ref = cid_ctx_keys_acquire(f->ctx);
	char refresh[CID_TOKEN_CHARS + 1];
	struct cid_grant *grant = redeemed(f, 0, refresh);
	struct cid_access *a = NULL;
	struct cid_access *b = NULL;
	size_t ended = 99;
	char *at = NULL;

	assert_int_equal(cid_token_access_mint(f->ctx, cid_keyref_keyset(ref), c, "s", "openid",
					       grant, NOW + 1, &at),
			 CID_OK);
	/* twice: the second answer comes from the memo */
	assert_int_equal(check_access(f->ctx, ref, at, NOW + 2, &a), CID_OK);
	assert_int_equal(check_access(f->ctx, ref, at, NOW + 2, &b), CID_OK);
	assert_ptr_equal(a, b);
	cid_access_free(b);
	b = NULL;
	assert_int_equal(cid_logout_disable_citizen(f->s, "hanako", NOW + 2, &ended), CID_OK);
	assert_int_equal(ended, 1); /* the session the code was issued in */
	assert_int_equal(check_access(f->ctx, ref, at, NOW + 2, &b), CID_ERR_REVOKED);
	assert_null(b);
	assert_int_equal(cid_account_set_disabled(f->s, "hanako", false, NOW + 3), CID_OK);
	assert_int_equal(check_access(f->ctx, ref, at, NOW + 3, &b), CID_ERR_REVOKED);
	assert_null(b);
	cid_access_free(a);
	cid_grant_free(grant);
	free(at);
	cid_keyref_put(ref);
	free(c);
}

/* Fail-closed: a token whose citizen record does not say "disabled": false is refused. */
static void test_grant_needs_an_active_record(void **state)
{
	struct fixture *f = *state;
	char r1[CID_TOKEN_CHARS + 1];
	struct cid_grant *grant = redeemed(f, 3600, r1);
	struct cid_grant *out = NULL;
	int64_t iat = 0;
	int64_t exp = 0;

	/* disabled by hand, no new generation: what revocation might miss is still refused */
	cid_test_citizen_edit(f->s, f->account, "disabled", json_true());
	assert_int_equal(cid_refresh_lookup(f->s, r1, NOW + 2, &out, &iat, &exp), CID_ERR_REVOKED);
	cid_test_citizen_edit(f->s, f->account, "disabled", NULL);
	assert_int_equal(cid_refresh_lookup(f->s, r1, NOW + 2, &out, &iat, &exp), CID_ERR_REVOKED);
	cid_test_citizen_edit(f->s, f->account, "disabled", json_false());
	assert_int_equal(cid_refresh_lookup(f->s, r1, NOW + 2, &out, &iat, &exp), CID_OK);
	cid_grant_free(out);
	cid_grant_free(grant);
}

static void test_access_token_checks_and_revocation(void **state)
{
	struct fixture *f = *state;
	struct cid_client *c = client_of("ES256", true, "rp.example");
	struct cid_keyref *ref = cid_ctx_keys_acquire(f->ctx);
	const struct cid_keyset *ks = cid_keyref_keyset(ref);
	char refresh[CID_TOKEN_CHARS + 1];
	struct cid_grant *grant = redeemed(f, 3600, refresh);
	struct cid_access *claims = NULL;
	char *at = NULL;

	assert_int_equal(
	    cid_token_access_mint(f->ctx, ks, c, "sub-1", "openid profile", grant, NOW + 1, &at),
	    CID_OK);
	assert_int_equal(check_access(f->ctx, ref, at, NOW + 2, &claims), CID_OK);
	assert_string_equal(claims->client_id, "rp1");
	assert_string_equal(claims->scope, "openid profile");
	assert_non_null(claims->jti);
	assert_non_null(claims->grant_id);
	/* expiry (access_ttl 300 + skew 60) */
	struct cid_access *tmp = NULL;
	assert_int_equal(check_access(f->ctx, ref, at, NOW + 1000, &tmp), CID_ERR_EXPIRED);
	/* tampering */
	char *bad = strdup(at);
	assert_non_null(bad);
	bad[strlen(bad) - 3] = bad[strlen(bad) - 3] == 'A' ? 'B' : 'A';
	assert_int_equal(check_access(f->ctx, ref, bad, NOW + 2, &tmp), CID_ERR_DENIED);
	free(bad);
	/* revoking the jti */
	assert_int_equal(cid_token_access_revoke(f->s, claims), CID_OK);
	assert_int_equal(check_access(f->ctx, ref, at, NOW + 2, &tmp), CID_ERR_REVOKED);
	assert_null(tmp);
	cid_access_free(claims);
	cid_grant_free(grant);
	free(at);
	cid_keyref_put(ref);
	free(c);
}

static void test_grant_revocation_kills_access_tokens(void **state)
{
	struct fixture *f = *state;
	struct cid_client *c = client_of("ES256", true, "rp.example");
	struct cid_keyref *ref = cid_ctx_keys_acquire(f->ctx);
	char refresh[CID_TOKEN_CHARS + 1];
	struct cid_grant *grant = redeemed(f, 0, refresh);
	struct cid_access *claims = NULL;
	char *at = NULL;

	assert_string_equal(refresh, "");
	assert_int_equal(cid_token_access_mint(f->ctx, cid_keyref_keyset(ref), c, "s", "openid",
					       grant, NOW + 1, &at),
			 CID_OK);
	/* verified once, so remembered: the revocation is read all the same */
	assert_int_equal(check_access(f->ctx, ref, at, NOW + 2, &claims), CID_OK);
	cid_access_free(claims);
	claims = NULL;
	assert_int_equal(cid_grant_revoke(f->s, grant->id, NOW + 2), CID_OK);
	assert_int_equal(check_access(f->ctx, ref, at, NOW + 2, &claims), CID_ERR_REVOKED);
	assert_null(claims);
	cid_grant_free(grant);
	free(at);
	cid_keyref_put(ref);
	free(c);
}

/*
 * A grant read again from the same record is the same object (the store's
 * memo); revoking it changes the record, so the next read is a new object
 * that says so, while the first is untouched for those who hold it.
 */
static void test_a_changed_grant_record_is_read_anew(void **state)
{
	struct fixture *f = *state;
	char refresh[CID_TOKEN_CHARS + 1];
	struct cid_grant *grant = redeemed(f, 0, refresh);
	struct cid_grant *a = NULL;
	struct cid_grant *b = NULL;
	struct cid_grant *c = NULL;
	struct cid_txn *txn = NULL;

	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_grant_get_txn(txn, grant->id, &a), CID_OK);
	assert_int_equal(cid_grant_get_txn(txn, grant->id, &b), CID_OK);
	cid_store_read_end(txn);
	assert_ptr_equal(a, b);
	assert_false(a->revoked);
	assert_int_equal(cid_grant_revoke(f->s, grant->id, NOW + 2), CID_OK);
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_grant_get_txn(txn, grant->id, &c), CID_OK);
	cid_store_read_end(txn);
	assert_ptr_not_equal(c, a);
	assert_true(c->revoked);
	assert_false(a->revoked);
	cid_grant_free(c);
	c = NULL;
	assert_int_equal(cid_grant_get(f->s, grant->id, &c), CID_ERR_REVOKED);
	assert_null(c);
	cid_grant_free(a);
	cid_grant_free(b);
	cid_grant_free(grant);
}

/*
 * An access token verified once is remembered with the keyset it was verified
 * with: the same token again is the same object, not verified again. What the
 * memo holds never outlives what made it true: past its exp the token is
 * expired, and a keyset without its key (rotated, then dropped) starts with
 * an empty memo, so the token fails as any token of an unknown key does,
 * while a reference to the old keyset still knows it.
 */
static void test_a_verified_token_is_remembered_with_its_keyset(void **state)
{
	struct fixture *f = *state;
	struct cid_client *c = client_of("ES256", false, NULL);
	struct cid_keyref *ref = cid_ctx_keys_acquire(f->ctx);
	struct cid_keyref *later = NULL;
	char refresh[CID_TOKEN_CHARS + 1];
	struct cid_grant *grant = redeemed(f, 0, refresh);
	struct cid_access *a = NULL;
	struct cid_access *b = NULL;
	struct cid_access *none = NULL;
	char *at = NULL;

	assert_int_equal(cid_token_access_mint(f->ctx, cid_keyref_keyset(ref), c, "s", "openid",
					       grant, NOW + 1, &at),
			 CID_OK);
	assert_int_equal(check_access(f->ctx, ref, at, NOW + 2, &a), CID_OK);
	assert_int_equal(check_access(f->ctx, ref, at, NOW + 3, &b), CID_OK);
	assert_ptr_equal(a, b);
	assert_string_equal(b->sub, "s");
	/* valid until its exp, not a second more: no skew on our own clock */
	assert_int_equal(check_access(f->ctx, ref, at, a->exp - 1, &none), CID_OK);
	cid_access_free(none);
	none = NULL;
	assert_int_equal(check_access(f->ctx, ref, at, a->exp, &none), CID_ERR_EXPIRED);
	assert_null(none);
	/* the signing key is rotated out and dropped at once (kept 0 s) */
	assert_int_equal(cid_keys_rotate(f->s, "ES256", NOW + 2, 0, NULL), CID_OK);
	assert_int_equal(cid_ctx_keys_refresh(f->ctx, NOW + 2), CID_OK);
	later = cid_ctx_keys_acquire(f->ctx);
	assert_ptr_not_equal(later, ref);
	assert_int_equal(check_access(f->ctx, later, at, NOW + 3, &none), CID_ERR_INVALID);
	assert_null(none);
	cid_access_free(b);
	b = NULL;
	assert_int_equal(check_access(f->ctx, ref, at, NOW + 3, &b), CID_OK);
	assert_ptr_equal(a, b);
	cid_access_free(a);
	cid_access_free(b);
	cid_keyref_put(later);
	cid_grant_free(grant);
	free(at);
	cid_keyref_put(ref);
	free(c);
}

/* Signs claims (stolen reference) as a JWS of typ with the ES256 key. */
static char *signed_as(const struct cid_keyset *ks, const char *typ, json_t *claims)
{
	char *jws = NULL;

	assert_non_null(claims);
	assert_int_equal(cid_jws_sign(ks, "ES256", typ, claims, &jws), CID_OK);
	json_decref(claims);
	return jws;
}

static void test_access_check_refuses_what_is_not_our_access_token(void **state)
{
	struct fixture *f = *state;
	struct cid_keyref *ref = cid_ctx_keys_acquire(f->ctx);
	const struct cid_keyset *ks = cid_keyref_keyset(ref);
	const char *iss = cid_ctx_config(f->ctx)->issuer;
	const char *jti = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
	const int64_t ttl = cid_ctx_config(f->ctx)->access_ttl;

	struct {
		const char *name;
		char *jwt;
		enum cid_err rc;
	} cases[] = {
	    {"well-formed",
	     signed_as(ks, "at+jwt",
		       json_pack("{s:s, s:I, s:I, s:s, s:s, s:s}", "iss", iss, "iat",
				 (json_int_t)NOW, "exp", (json_int_t)NOW + 60, "jti", jti, "sub",
				 "s", "client_id", "rp1")),
	     CID_OK},
	    /* what a leaked key could sign: civicid never mints such lives */
	    {"the longest life: access_ttl and the clock skew",
	     signed_as(ks, "at+jwt",
		       json_pack("{s:s, s:I, s:I, s:s, s:s, s:s}", "iss", iss, "iat",
				 (json_int_t)NOW, "exp", (json_int_t)NOW + ttl + CID_CLOCK_SKEW,
				 "jti", jti, "sub", "s", "client_id", "rp1")),
	     CID_OK},
	    {"a second longer",
	     signed_as(ks, "at+jwt",
		       json_pack("{s:s, s:I, s:I, s:s, s:s, s:s}", "iss", iss, "iat",
				 (json_int_t)NOW, "exp", (json_int_t)NOW + ttl + CID_CLOCK_SKEW + 1,
				 "jti", jti, "sub", "s", "client_id", "rp1")),
	     CID_ERR_INVALID},
	    {"ten years, by the active key",
	     signed_as(ks, "at+jwt",
		       json_pack("{s:s, s:I, s:I, s:s, s:s, s:s}", "iss", iss, "iat",
				 (json_int_t)NOW, "exp", (json_int_t)NOW + TEN_YEARS, "jti", jti,
				 "sub", "s", "client_id", "rp1")),
	     CID_ERR_INVALID},
	    {"ten years, issued in the past so it looks short-lived now",
	     signed_as(ks, "at+jwt",
		       json_pack("{s:s, s:I, s:I, s:s, s:s, s:s}", "iss", iss, "iat",
				 (json_int_t)NOW - TEN_YEARS + 60, "exp", (json_int_t)NOW + 60,
				 "jti", jti, "sub", "s", "client_id", "rp1")),
	     CID_ERR_INVALID},
	    {"issued in the future, beyond the skew",
	     signed_as(ks, "at+jwt",
		       json_pack("{s:s, s:I, s:I, s:s, s:s, s:s}", "iss", iss, "iat",
				 (json_int_t)NOW + CID_CLOCK_SKEW + 1, "exp",
				 (json_int_t)NOW + CID_CLOCK_SKEW + 61, "jti", jti, "sub", "s",
				 "client_id", "rp1")),
	     CID_ERR_INVALID},
	    {"issued in the future, within the skew",
	     signed_as(ks, "at+jwt",
		       json_pack("{s:s, s:I, s:I, s:s, s:s, s:s}", "iss", iss, "iat",
				 (json_int_t)NOW + CID_CLOCK_SKEW, "exp",
				 (json_int_t)NOW + CID_CLOCK_SKEW + 60, "jti", jti, "sub", "s",
				 "client_id", "rp1")),
	     CID_OK},
	    {"a negative iat",
	     signed_as(ks, "at+jwt",
		       json_pack("{s:s, s:I, s:I, s:s, s:s, s:s}", "iss", iss, "iat",
				 (json_int_t)INT64_MIN, "exp", (json_int_t)NOW + 60, "jti", jti,
				 "sub", "s", "client_id", "rp1")),
	     CID_ERR_INVALID},
	    {"no iat",
	     signed_as(ks, "at+jwt",
		       json_pack("{s:s, s:I, s:s, s:s, s:s}", "iss", iss, "exp",
				 (json_int_t)NOW + 60, "jti", jti, "sub", "s", "client_id", "rp1")),
	     CID_ERR_INVALID},
	    {"no sub",
	     signed_as(ks, "at+jwt",
		       json_pack("{s:s, s:I, s:s, s:s}", "iss", iss, "exp", (json_int_t)NOW + 60,
				 "jti", jti, "client_id", "rp1")),
	     CID_ERR_INVALID},
	    {"no client_id",
	     signed_as(ks, "at+jwt",
		       json_pack("{s:s, s:I, s:s, s:s}", "iss", iss, "exp", (json_int_t)NOW + 60,
				 "jti", jti, "sub", "s")),
	     CID_ERR_INVALID},
	    {"a scope that is no string",
	     signed_as(ks, "at+jwt",
		       json_pack("{s:s, s:I, s:s, s:s, s:s, s:i}", "iss", iss, "exp",
				 (json_int_t)NOW + 60, "jti", jti, "sub", "s", "client_id", "rp1",
				 "scope", 42)),
	     CID_ERR_INVALID},
	    {"an iat that is no integer",
	     signed_as(ks, "at+jwt",
		       json_pack("{s:s, s:I, s:s, s:s, s:s, s:s}", "iss", iss, "exp",
				 (json_int_t)NOW + 60, "jti", jti, "sub", "s", "client_id", "rp1",
				 "iat", "now")),
	     CID_ERR_INVALID},
	    {"an ID token",
	     signed_as(
		 ks, "JWT",
		 json_pack("{s:s, s:I, s:s}", "iss", iss, "exp", (json_int_t)NOW + 60, "jti", jti)),
	     CID_ERR_INVALID},
	    {"other issuer",
	     signed_as(ks, "at+jwt",
		       json_pack("{s:s, s:I, s:s}", "iss", "https://evil.example", "exp",
				 (json_int_t)NOW + 60, "jti", jti)),
	     CID_ERR_INVALID},
	    {"no exp", signed_as(ks, "at+jwt", json_pack("{s:s, s:s}", "iss", iss, "jti", jti)),
	     CID_ERR_INVALID},
	    {"short jti",
	     signed_as(
		 ks, "at+jwt",
		 json_pack("{s:s, s:I, s:s}", "iss", iss, "exp", (json_int_t)NOW + 60, "jti", "j")),
	     CID_ERR_INVALID},
	    {"unknown grant",
	     signed_as(ks, "at+jwt",
		       json_pack("{s:s, s:I, s:I, s:s, s:s, s:s, s:s}", "iss", iss, "iat",
				 (json_int_t)NOW, "exp", (json_int_t)NOW + 60, "jti", jti, "sub",
				 "s", "client_id", "rp1", "grant_id", "no-such-grant")),
	     CID_ERR_NOTFOUND},
	    {"empty", NULL, CID_ERR_INVALID},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cid_access *claims = NULL;
		enum cid_err rc = check_access(f->ctx, ref, cases[i].jwt, NOW, &claims);

		if (rc != cases[i].rc)
			fail_msg("%s: expected %s, got %s", cases[i].name,
				 cid_strerror(cases[i].rc), cid_strerror(rc));
		assert_true((claims != NULL) == (rc == CID_OK));
		cid_access_free(claims);
		free(cases[i].jwt);
	}
	cid_keyref_put(ref);
}

static void test_id_token_claims_and_at_hash(void **state)
{
	struct fixture *f = *state;
	struct cid_client *c = client_of("RS256", true, "rp.example");
	struct cid_keyref *ref = cid_ctx_keys_acquire(f->ctx);
	const struct cid_keyset *ks = cid_keyref_keyset(ref);
	char refresh[CID_TOKEN_CHARS + 1];
	struct cid_grant *grant = redeemed(f, 0, refresh);
	json_t *released = json_pack("{s:s}", "given_name", "花子");
	json_t *claims = NULL;
	char *idt = NULL;
	char at_hash[44];

	assert_int_equal(cid_token_id_mint(f->ctx, ks, c, "sub-1", grant, "the-access-token",
					   released, NOW, &idt),
			 CID_OK);
	assert_int_equal(cid_jws_verify(ks, idt, strlen(idt), "JWT", &claims), CID_OK);
	assert_string_equal(json_string_value(json_object_get(claims, "iss")),
			    cid_ctx_config(f->ctx)->issuer);
	assert_string_equal(json_string_value(json_object_get(claims, "aud")), "rp1");
	assert_string_equal(json_string_value(json_object_get(claims, "sub")), "sub-1");
	assert_string_equal(json_string_value(json_object_get(claims, "nonce")), "n-1");
	assert_string_equal(json_string_value(json_object_get(claims, "sid")), grant->sid);
	assert_string_equal(json_string_value(json_object_get(claims, "given_name")), "花子");
	assert_int_equal(json_integer_value(json_object_get(claims, "auth_time")), NOW);
	assert_int_equal(json_integer_value(json_object_get(claims, "exp")),
			 NOW + cid_ctx_config(f->ctx)->id_token_ttl);
	assert_true(json_is_array(json_object_get(claims, "amr")));
	assert_null(json_object_get(claims, "grant_id"));
	assert_int_equal(cid_jose_half_hash("RS256", "the-access-token", at_hash), CID_OK);
	assert_string_equal(json_string_value(json_object_get(claims, "at_hash")), at_hash);
	json_decref(claims);
	cid_grant_free(grant);
	json_decref(released);
	free(idt);
	cid_keyref_put(ref);
	free(c);
}

static void test_subject_pairwise_per_sector(void **state)
{
	struct fixture *f = *state;
	struct cid_client *a = client_of("ES256", true, "a.example");
	struct cid_client *a2 = client_of("ES256", true, "a.example");
	struct cid_client *b = client_of("ES256", true, "b.example");
	struct cid_client *pub = client_of("ES256", false, "a.example");
	const char *acct = "00000000-0000-4000-8000-000000000001";
	char sa[CID_TOKEN_CHARS + 1], sa2[CID_TOKEN_CHARS + 1], sb[CID_TOKEN_CHARS + 1],
	    sp[CID_TOKEN_CHARS + 1];

	static const char public_policy[] = "service rp1\nname.ja x\nname.en x\nsubject public\n"
					    "purpose p\ntext.ja t\ntext.en t\n"
					    "basis statute Act 1\nretention 1d\npermit name\n";
	struct cid_policyset *pub_ps = NULL, *pairwise_ps = NULL;
	char spp[CID_TOKEN_CHARS + 1], sn[CID_TOKEN_CHARS + 1];

	assert_int_equal(
	    cid_policyset_parse("rp1.policy", public_policy, strlen(public_policy), NULL, &pub_ps),
	    CID_OK);
	cid_token_subject(f->ctx, pub_ps, a, acct, sa);
	cid_token_subject(f->ctx, pub_ps, a2, acct, sa2);
	cid_token_subject(f->ctx, pub_ps, b, acct, sb);
	cid_token_subject(f->ctx, pub_ps, pub, acct, sp);
	assert_string_equal(sa, sa2);
	assert_string_not_equal(sa, sb);
	assert_int_equal(strlen(sa), CID_TOKEN_CHARS);
	/* a public client whose policy says subject public sees the public sub */
	assert_string_equal(sp, acct);
	assert_null(strstr(sa, acct));
	/* without such a policy (none, or subject pairwise) it is pairwise like any other */
	cid_token_subject(f->ctx, NULL, pub, acct, sn);
	assert_string_equal(sn, sa);
	{
		static const char pw[] = "service rp1\nname.ja x\nname.en x\nsubject pairwise\n"
					 "purpose p\ntext.ja t\ntext.en t\n"
					 "basis statute Act 1\nretention 1d\npermit name\n";
		assert_int_equal(
		    cid_policyset_parse("rp1.policy", pw, strlen(pw), NULL, &pairwise_ps), CID_OK);
	}
	cid_token_subject(f->ctx, pairwise_ps, pub, acct, spp);
	assert_string_equal(spp, sa);
	cid_policyset_free(pub_ps);
	cid_policyset_free(pairwise_ps);
	free(a);
	free(a2);
	free(b);
	free(pub);
}

/* A citizen cutting a service off revokes their grants of that service, and nothing else. */
static void test_grant_revoke_client_revokes_that_citizens_grants_of_that_service(void **state)
{
	struct fixture *f = *state;
	char r1[CID_TOKEN_CHARS + 1];
	char r2[CID_TOKEN_CHARS + 1];
	struct cid_grant *g1 = redeemed(f, 3600, r1);
	struct cid_grant *g2 = redeemed(f, 3600, r2);
	struct cid_grant *g = NULL;
	int64_t iat;
	int64_t exp;
	size_t n = 99;

	/* another service, another citizen: nothing to revoke */
	assert_int_equal(cid_grant_revoke_client(f->s, f->account, "rp2", NOW + 2, &n), CID_OK);
	assert_int_equal(n, 0);
	assert_int_equal(cid_grant_revoke_client(f->s, "00000000-0000-4000-8000-000000000000",
						 "rp1", NOW + 2, &n),
			 CID_OK);
	assert_int_equal(n, 0);
	assert_int_equal(cid_refresh_lookup(f->s, r1, NOW + 2, &g, &iat, &exp), CID_OK);
	cid_grant_free(g);
	g = NULL;
	/* the service: both of its grants, so both refresh tokens fail */
	assert_int_equal(cid_grant_revoke_client(f->s, f->account, "rp1", NOW + 2, &n), CID_OK);
	assert_int_equal(n, 2);
	assert_int_equal(cid_refresh_lookup(f->s, r1, NOW + 3, &g, &iat, &exp), CID_ERR_REVOKED);
	assert_int_equal(cid_refresh_lookup(f->s, r2, NOW + 3, &g, &iat, &exp), CID_ERR_REVOKED);
	assert_null(g);
	/* revoked ones are not counted again; n may be NULL */
	assert_int_equal(cid_grant_revoke_client(f->s, f->account, "rp1", NOW + 4, &n), CID_OK);
	assert_int_equal(n, 0);
	assert_int_equal(cid_grant_revoke_client(f->s, f->account, "rp1", NOW + 4, NULL), CID_OK);
	assert_int_equal(cid_grant_revoke_client(f->s, NULL, "rp1", NOW + 4, &n), CID_ERR_INVALID);
	assert_int_equal(cid_grant_revoke_client(f->s, f->account, NULL, NOW + 4, &n),
			 CID_ERR_INVALID);
	cid_grant_free(g1);
	cid_grant_free(g2);
}

/* ---- the grant index (token_grants.c) ---- */

/* A code for account to client (the redirect URI of auth_for). */
static void issue_for(struct fixture *f, const char *account, const char *client,
		      char code[CID_TOKEN_CHARS + 1])
{
	json_t *a = auth_for(f, client, NULL);

	assert_int_equal(json_object_set_new(a, "account_id", json_string(account)), 0);
	assert_int_equal(cid_code_issue(f->s, a, NOW, 60, code), CID_OK);
	json_decref(a);
}

/* Adds the key a grant record should have in the index to the object arg. */
static enum cid_err expect_key(struct cid_str key, struct cid_str val, void *arg)
{
	json_t *rec = NULL;
	char want[512];
	int n;

	assert_int_equal(cid_store_parse_json(val, &rec), CID_OK);
	n = snprintf(want, sizeof(want), "%s\n%s\n%.*s", cid_json_str(rec, "account_id"),
		     cid_json_str(rec, "client_id"), (int)key.len, key.ptr);
	assert_true(n > 0 && (size_t)n < sizeof(want));
	assert_int_equal(json_object_set_new(arg, want, json_string("")), 0);
	json_decref(rec);
	return CID_OK;
}

/*
 * The index holds exactly one key per grant, account "\n" client "\n" grant
 * id, against a full scan of the grants; returns the number of grants.
 */
static size_t assert_index_exact(struct fixture *f)
{
	return cid_test_assert_index_exact(f->s, CID_DB_GRANTS, CID_DB_GRANT_INDEX, expect_key);
}

enum index_step {
	STEP_ISSUE,
	STEP_ISSUE_OTHER,
	STEP_REDEEM,
	STEP_ROTATE,
	STEP_REPLAY,
	STEP_EXPIRED,
	STEP_REVOKE_TOKEN,
	STEP_REVOKE_GRANT,
	STEP_WITHDRAW,
};

struct index_walk {
	char other[CID_ID_CHARS + 1];
	char code[CID_TOKEN_CHARS + 1];
	char r1[CID_TOKEN_CHARS + 1];
	char r2[CID_TOKEN_CHARS + 1];
	char grant_id[CID_TOKEN_CHARS + 1];
};

/* Runs one step of the walk below; returns what its call returned. */
static enum cid_err index_step_run(struct fixture *f, struct index_walk *w, enum index_step step)
{
	char code[CID_TOKEN_CHARS + 1];
	char r[CID_TOKEN_CHARS + 1];
	struct cid_grant *g = NULL;
	enum cid_err rc;

	switch (step) {
	case STEP_ISSUE: issue_for(f, f->account, "rp1", w->code); return CID_OK;
	case STEP_ISSUE_OTHER: issue_for(f, w->other, "rp2", code); return CID_OK;
	case STEP_REDEEM:
		rc = cid_code_redeem(f->s, w->code, "rp1", "https://rp.example/cb", NULL, NOW + 1,
				     3600, &g, w->r1);
		if (rc == CID_OK)
			memcpy(w->grant_id, g->id, sizeof(w->grant_id));
		break;
	case STEP_ROTATE:
		rc = cid_refresh_rotate(f->s, w->r1, "rp1", NULL, NOW + 2, 3600, &g, w->r2);
		break;
	case STEP_REPLAY:
		rc = cid_refresh_rotate(f->s, w->r1, "rp1", NULL, NOW + 3, 3600, &g, r);
		break;
	case STEP_EXPIRED:
		issue_for(f, f->account, "rp1", code);
		rc = cid_code_redeem(f->s, code, "rp1", "https://rp.example/cb", NULL, NOW + 61,
				     3600, &g, r);
		break;
	case STEP_REVOKE_TOKEN:
		cid_grant_free(redeemed(f, 3600, r));
		rc = cid_refresh_revoke(f->s, r, "rp1", NOW + 3);
		break;
	case STEP_REVOKE_GRANT: rc = cid_grant_revoke(f->s, w->grant_id, NOW + 4); break;
	case STEP_WITHDRAW:
		rc = cid_grant_revoke_client(f->s, f->account, "rp1", NOW + 5, NULL);
		break;
	default: fail();
	}
	cid_grant_free(g);
	return rc;
}

/*
 * The index stays exact through every change a grant goes through: made with
 * a code, its code redeemed, its refresh token rotated and replayed, a code
 * expiring, revocation by token, by id and by withdrawal (grants are never
 * deleted: no sweep removes them, a disabled citizen's are dead by their
 * generation). After each step the index is compared with a full scan.
 */
static void test_grant_index_exact_through_every_grant_change(void **state)
{
	static const struct {
		const char *what;
		enum index_step step;
		enum cid_err want;
		size_t grants;
	} rows[] = {
	    {"a code: its grant and the grant's key", STEP_ISSUE, CID_OK, 1},
	    {"another citizen's code for another service", STEP_ISSUE_OTHER, CID_OK, 2},
	    {"the code redeemed, a refresh token issued", STEP_REDEEM, CID_OK, 2},
	    {"the refresh token rotated", STEP_ROTATE, CID_OK, 2},
	    {"the rotated-out token replayed: its grant revoked", STEP_REPLAY, CID_ERR_REVOKED, 2},
	    {"a code redeemed after it expired", STEP_EXPIRED, CID_ERR_EXPIRED, 3},
	    {"a refresh token revoked (RFC 7009)", STEP_REVOKE_TOKEN, CID_OK, 4},
	    {"a grant revoked by its id", STEP_REVOKE_GRANT, CID_OK, 4},
	    {"the citizen withdraws from the service", STEP_WITHDRAW, CID_OK, 4},
	};
	struct fixture *f = *state;
	struct index_walk w = {0};

	assert_int_equal(cid_account_add(f->s, &cid_test_argon2, "taro", "correct horse battery",
					 NULL, NOW, w.other),
			 CID_OK);
	assert_int_equal(assert_index_exact(f), 0);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		print_message("%s\n", rows[i].what);
		assert_int_equal(index_step_run(f, &w, rows[i].step), rows[i].want);
		assert_int_equal(assert_index_exact(f), rows[i].grants);
	}
}

/* Collects the ids of the grants that are not account's to client. */
struct others {
	const char *account;
	const char *client;
	json_t *ids;
};

static enum cid_err other_one(struct cid_str key, struct cid_str val, void *arg)
{
	struct others *o = arg;
	json_t *rec = NULL;

	assert_int_equal(cid_store_parse_json(val, &rec), CID_OK);
	if (strcmp(cid_json_str(rec, "account_id"), o->account) != 0 ||
	    strcmp(cid_json_str(rec, "client_id"), o->client) != 0)
		assert_int_equal(json_array_append_new(o->ids, json_stringn(key.ptr, key.len)), 0);
	json_decref(rec);
	return CID_OK;
}

/* The services of account (cid_grant_services) as one string, comma-separated. */
static void services_of(struct fixture *f, const char *account, char *out, size_t n)
{
	json_t *list = NULL;
	size_t i;
	const json_t *v;

	out[0] = '\0';
	assert_int_equal(cid_grant_services(f->s, account, &list), CID_OK);
	assert_true(json_is_array(list));
	json_array_foreach(list, i, v)
	{
		size_t used = strlen(out);

		snprintf(out + used, n - used, "%s%s", i > 0 ? "," : "", json_string_value(v));
	}
	json_decref(list);
}

/*
 * The services a citizen holds grants with: each once however many grants
 * it holds, in byte order (a client_id that begins with another's is not
 * skipped with it), revoked grants too, none of another citizen's.
 */
static void test_grant_services_lists_each_of_a_citizens_services_once(void **state)
{
	struct fixture *f = *state;
	char other[CID_ID_CHARS + 1];
	char code[CID_TOKEN_CHARS + 1];
	char got[256];
	size_t n = 0;
	json_t *list = NULL;

	assert_int_equal(cid_account_add(f->s, &cid_test_argon2, "taro", "correct horse battery",
					 NULL, NOW, other),
			 CID_OK);
	services_of(f, f->account, got, sizeof(got));
	assert_string_equal(got, "");
	issue_for(f, f->account, "rp2", code);
	for (int k = 0; k < 3; k++)
		issue_for(f, f->account, "rp1", code);
	issue_for(f, f->account, "rp1-x", code);
	issue_for(f, f->account, "rp1", code);
	issue_for(f, other, "rp0", code);
	issue_for(f, other, "rp1", code);
	issue_for(f, other, "zz", code);
	assert_int_equal(cid_grant_revoke_client(f->s, f->account, "rp2", NOW + 1, &n), CID_OK);
	assert_int_equal(n, 1);
	services_of(f, f->account, got, sizeof(got));
	assert_string_equal(got, "rp1,rp1-x,rp2");
	services_of(f, other, got, sizeof(got));
	assert_string_equal(got, "rp0,rp1,zz");

	assert_int_equal(cid_grant_services(f->s, NULL, &list), CID_ERR_INVALID);
	assert_int_equal(cid_grant_services(f->s, "", &list), CID_ERR_INVALID);
	assert_int_equal(cid_grant_services(f->s, "a\nb", &list), CID_ERR_INVALID);
	assert_int_equal(cid_grant_services(f->s, "00000000-0000-4000-8000-0000000000000", &list),
			 CID_ERR_INVALID);
	assert_null(list);
}

#define DAMAGED "damaged: not a JSON object"

/*
 * A withdrawal reads that citizen's grants of that service and no other: with
 * every other grant record of the store damaged (a read of one fails the
 * call), it still revokes exactly its two grants, and leaves the others' bytes
 * as they were. The same call for a citizen whose grants are damaged fails:
 * the damage is real.
 */
static void test_grant_revoke_client_reads_no_other_grant(void **state)
{
	struct fixture *f = *state;
	char other[CID_ID_CHARS + 1];
	char code[CID_TOKEN_CHARS + 1];
	char r1[CID_TOKEN_CHARS + 1];
	char r2[CID_TOKEN_CHARS + 1];
	struct others o = {f->account, "rp1", json_array()};
	struct cid_txn *txn = NULL;
	struct cid_grant *g = NULL;
	struct cid_str val;
	int64_t iat;
	int64_t exp;
	size_t n = 99;
	size_t i;
	json_t *id;

	assert_non_null(o.ids);
	assert_int_equal(cid_account_add(f->s, &cid_test_argon2, "taro", "correct horse battery",
					 NULL, NOW, other),
			 CID_OK);
	cid_grant_free(redeemed(f, 3600, r1));
	cid_grant_free(redeemed(f, 3600, r2));
	issue_for(f, f->account, "rp2", code);
	for (int k = 0; k < 3; k++)
		issue_for(f, other, "rp1", code);
	issue_for(f, other, "rp2", code);
	assert_int_equal(assert_index_exact(f), 7);
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_txn_foreach(txn, CID_DB_GRANTS, cid_str_of(""), other_one, &o),
			 CID_OK);
	cid_store_read_end(txn);
	assert_int_equal(json_array_size(o.ids), 5);
	json_array_foreach(o.ids, i, id)
	    cid_test_raw_write(f->s, CID_DB_GRANTS, json_string_value(id), DAMAGED);

	assert_int_equal(cid_grant_revoke_client(f->s, f->account, "rp1", NOW + 2, &n), CID_OK);
	assert_int_equal(n, 2);
	assert_int_equal(cid_refresh_lookup(f->s, r1, NOW + 3, &g, &iat, &exp), CID_ERR_REVOKED);
	assert_int_equal(cid_refresh_lookup(f->s, r2, NOW + 3, &g, &iat, &exp), CID_ERR_REVOKED);
	assert_null(g);
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	json_array_foreach(o.ids, i, id)
	{
		assert_int_equal(
		    cid_txn_get(txn, CID_DB_GRANTS, cid_str_of(json_string_value(id)), &val),
		    CID_OK);
		assert_true(cid_str_eq(val, DAMAGED));
	}
	cid_store_read_end(txn);
	assert_int_equal(cid_grant_revoke_client(f->s, other, "rp1", NOW + 2, &n), CID_ERR_STORE);
	assert_int_equal(cid_grant_revoke_client(f->s, f->account, "rp2", NOW + 2, &n),
			 CID_ERR_STORE);
	json_decref(o.ids);
}

/* The number of keys of the grant index. */
/*
 * A store written before the index existed gets it at start, once; so does
 * one an older build added a grant to. A grant record without its citizen
 * stops the build, which then writes nothing.
 */
static void test_grant_index_built_for_a_store_without_one(void **state)
{
	struct fixture *f = *state;
	char other[CID_ID_CHARS + 1];
	char code[CID_TOKEN_CHARS + 1];
	char r1[CID_TOKEN_CHARS + 1];
	char r2[CID_TOKEN_CHARS + 1];
	char key[128];
	struct cid_grant *g = redeemed(f, 3600, r1);
	size_t built = 99;
	size_t n = 99;

	assert_int_equal(cid_account_add(f->s, &cid_test_argon2, "taro", "correct horse battery",
					 NULL, NOW, other),
			 CID_OK);
	cid_grant_free(redeemed(f, 3600, r2));
	issue_for(f, other, "rp2", code);
	/* the store as an older build left it: grants, no index */
	cid_test_raw_write(f->s, CID_DB_GRANT_INDEX, NULL, NULL);
	assert_int_equal(cid_test_count(f->s, CID_DB_GRANT_INDEX), 0);
	/* a withdrawal would find nothing to revoke */
	assert_int_equal(cid_grant_revoke_client(f->s, f->account, "rp1", NOW + 2, &n), CID_OK);
	assert_int_equal(n, 0);
	/* the start builds it */
	cid_ctx_close(f->ctx);
	assert_int_equal(cid_ctx_open(f->cfg, NOW, NULL, &f->ctx), CID_OK);
	f->s = cid_ctx_store(f->ctx);
	assert_int_equal(assert_index_exact(f), 3);
	assert_int_equal(cid_grant_index_ensure(f->s, &built), CID_OK);
	assert_int_equal(built, 0); /* once */
	assert_int_equal(cid_grant_revoke_client(f->s, f->account, "rp1", NOW + 2, &n), CID_OK);
	assert_int_equal(n, 2);
	/* an older build added a grant without its key */
	assert_int_equal(snprintf(key, sizeof(key), "%s\nrp1\n%s", f->account, g->id) > 0, 1);
	cid_test_raw_write(f->s, CID_DB_GRANT_INDEX, key, NULL);
	assert_int_equal(cid_test_count(f->s, CID_DB_GRANT_INDEX), 2);
	assert_int_equal(cid_grant_index_ensure(f->s, &built), CID_OK);
	assert_int_equal(built, 3);
	assert_int_equal(assert_index_exact(f), 3);
	assert_int_equal(cid_grant_index_ensure(f->s, NULL), CID_OK);
	/* a grant record that does not say whose it is, sorting before every grant id: a
	   build that committed on its error would leave the index empty */
	cid_test_raw_write(f->s, CID_DB_GRANTS, "!damaged-grant",
			   "{\"grant_id\":\"!damaged-grant\"}");
	assert_int_equal(cid_grant_index_ensure(f->s, &built), CID_ERR_STORE);
	assert_int_equal(cid_test_count(f->s, CID_DB_GRANT_INDEX), 3);
	cid_grant_free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_refresh_ends_with_its_session_unless_offline,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_code_ends_with_its_session, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refresh_refused_when_its_session_record_is_damaged,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_code_redeem_once_then_replay_revokes_grant, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_code_redeem_table, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_grant_typed_from_its_record, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_grant_revoke_client_revokes_that_citizens_grants_of_that_service, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(test_grant_index_exact_through_every_grant_change,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_grant_services_lists_each_of_a_citizens_services_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_grant_revoke_client_reads_no_other_grant, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_grant_index_built_for_a_store_without_one, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_code_unknown_and_malformed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refresh_rotation_and_reuse_revokes_family, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_refresh_scope_within_the_grant, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refresh_expired_and_revoked, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_disabled_citizen_kills_grants, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_logout_disable_kills_a_remembered_access_token,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_grant_needs_an_active_record, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_access_token_checks_and_revocation, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_a_changed_grant_record_is_read_anew, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_a_verified_token_is_remembered_with_its_keyset,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_grant_revocation_kills_access_tokens, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_access_check_refuses_what_is_not_our_access_token,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_id_token_claims_and_at_hash, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_subject_pairwise_per_sector, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
