/*
 * token: codes, grants, refresh tokens and the JWTs we mint.
 *
 * Every state change of a family happens inside one cid_store_update, and the
 * callbacks report protocol outcomes (replay detected, expired, wrong client)
 * through their argument rather than their return value: a replay must still
 * commit the revocation of the grant, which an error return would abort. Every
 * check that can refuse a request runs before the record is marked used, so
 * that only a genuine replay costs the client its token.
 */
#include "token.h"

#include "account.h"
#include "bounds.h"
#include "crypto.h"
#include "session.h"
#include "str.h"
#include "token_int.h"

#include <stdlib.h>
#include <string.h>

/*
 * A code redeemed or a refresh token rotated (use_cb), and its outcome: rc is
 * what the public call returns.
 */
struct redeem {
	enum cid_db db; /* CID_DB_CODES or CID_DB_REFRESH */
	const char *token;
	const char *client_id;
	const char *redirect_uri;
	const char *verifier;
	const char *scope; /* refresh: the asked scope, or NULL */
	int64_t now;
	int64_t ttl;
	char next[CID_TOKEN_CHARS + 1]; /* new refresh token, or "" */
	struct cid_grant *grant;	/* the grant on success */
	enum cid_err outcome;
};

static struct cid_str key_of(const char *hash)
{
	return (struct cid_str){hash, CID_HASH_HEX};
}

/* Hashes a presented secret after bounding its length; false if it cannot be one of ours. */
static bool secret_key(const char *secret, char hash[CID_HASH_HEX + 1])
{
	size_t n = secret == NULL ? 0 : strnlen(secret, CID_TOKEN_CHARS + 1);

	if (n != CID_TOKEN_CHARS)
		return false;
	cid_secret_hash(secret, n, hash);
	return true;
}

enum cid_err token_put_revoked_grant(struct cid_txn *txn, json_t *grant, int64_t now)
{
	const char *id = cid_json_str(grant, "grant_id");

	if (id == NULL)
		return CID_ERR_STORE;
	if (json_object_set_new(grant, "revoked", json_true()) != 0 ||
	    json_object_set_new(grant, "revoked_at", json_integer(now)) != 0)
		return CID_ERR_NOMEM;
	return cid_txn_put_json(txn, CID_DB_GRANTS, cid_str_of(id), grant, 0);
}

enum cid_err token_load_grant(struct cid_txn *txn, const char *grant_id, json_t **out)
{
	if (grant_id == NULL)
		return CID_ERR_NOTFOUND;
	return cid_txn_get_json(txn, CID_DB_GRANTS, cid_str_of(grant_id), out);
}

/* The "generation" of an authorization or grant into *out, 0 when absent. */
static enum cid_err generation_of(const json_t *o, int64_t *out)
{
	const json_t *g = json_object_get(o, "generation");

	if (g != NULL && !json_is_integer(g))
		return CID_ERR_STORE;
	*out = g == NULL ? 0 : (int64_t)json_integer_value(g);
	return CID_OK;
}

void cid_grant_free(struct cid_grant *g)
{
	if (g == NULL || atomic_fetch_sub(&g->refs, 1) > 1)
		return;
	free(g->scope);
	free(g->nonce);
	json_decref(g->claims);
	free(g);
}

/*
 * Copies the string member name of rec into out[outsz] ("" when absent or
 * null); false when it is something else or does not fit.
 */
static bool copy_text(const json_t *rec, const char *name, char *out, size_t outsz)
{
	const json_t *v = json_object_get(rec, name);
	size_t n = json_string_length(v);

	out[0] = '\0';
	if (v == NULL || json_is_null(v))
		return true;
	if (!json_is_string(v) || n >= outsz)
		return false;
	memcpy(out, json_string_value(v), n + 1);
	return true;
}

/* A new copy of the string member name of rec into *out (NULL when absent or null). */
static enum cid_err dup_text(const json_t *rec, const char *name, char **out)
{
	const json_t *v = json_object_get(rec, name);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return CID_OK;
	if (!json_is_string(v))
		return CID_ERR_STORE;
	*out = strdup(json_string_value(v));
	return *out == NULL ? CID_ERR_NOMEM : CID_OK;
}

/* The "amr" member of rec into g (none when absent). Errors: CID_ERR_STORE. */
static enum cid_err amr_of(const json_t *rec, struct cid_grant *g)
{
	const json_t *amr = json_object_get(rec, "amr");
	const json_t *v;
	size_t i;

	if (amr == NULL || json_is_null(amr))
		return CID_OK;
	if (!json_is_array(amr) || json_array_size(amr) > CID_MAX_AMR)
		return CID_ERR_STORE;
	json_array_foreach(amr, i, v)
	{
		if (!json_is_string(v) || json_string_length(v) >= sizeof(g->amr[0]))
			return CID_ERR_STORE;
		memcpy(g->amr[i], json_string_value(v), json_string_length(v) + 1);
	}
	g->n_amr = json_array_size(amr);
	return CID_OK;
}

/*
 * The typed grant of a grant record: the one place a grant's members are read
 * by name for other modules. Errors: CID_ERR_STORE (a damaged record),
 * CID_ERR_NOMEM.
 */
static enum cid_err grant_of(const json_t *rec, struct cid_grant **out)
{
	enum cid_err rc = CID_OK;
	const json_t *claims = json_object_get(rec, "claims");
	const json_t *auth_time = json_object_get(rec, "auth_time");
	struct cid_grant *g = calloc(1, sizeof(*g));

	CID_ENSURE(g != NULL, CID_ERR_NOMEM);
	atomic_init(&g->refs, 1);
	CID_ENSURE(json_is_object(rec) && copy_text(rec, "grant_id", g->id, sizeof(g->id)) &&
		       copy_text(rec, "account_id", g->account_id, sizeof(g->account_id)) &&
		       copy_text(rec, "client_id", g->client_id, sizeof(g->client_id)) &&
		       g->id[0] != '\0' && g->account_id[0] != '\0' && g->client_id[0] != '\0' &&
		       copy_text(rec, "sid", g->sid, sizeof(g->sid)) &&
		       copy_text(rec, "acr", g->acr, sizeof(g->acr)) &&
		       (auth_time == NULL || json_is_integer(auth_time)) &&
		       (claims == NULL || json_is_null(claims) || json_is_object(claims)),
		   CID_ERR_STORE);
	CID_TRY(amr_of(rec, g));
	CID_TRY(dup_text(rec, "scope", &g->scope));
	if (g->scope == NULL)
		CID_ENSURE((g->scope = strdup("")) != NULL, CID_ERR_NOMEM);
	CID_TRY(dup_text(rec, "nonce", &g->nonce));
	CID_TRY(generation_of(rec, &g->generation));
	g->auth_time = auth_time == NULL ? 0 : (int64_t)json_integer_value(auth_time);
	g->created_at = cid_json_int(rec, "created_at");
	g->revoked = json_is_true(json_object_get(rec, "revoked"));
	if (json_is_object(claims))
		CID_ENSURE((g->claims = json_deep_copy(claims)) != NULL, CID_ERR_NOMEM);
	*out = g;
	g = NULL;
out:
	cid_grant_free(g);
	return rc;
}

/*
 * CID_ERR_REVOKED unless the citizen of a grant made in generation is live in
 * it: a citizen disabled now, or at any time since, holds no tokens.
 */
static enum cid_err live(struct cid_txn *txn, const char *account_id, int64_t generation)
{
	enum cid_err rc = cid_account_live(txn, account_id, generation);

	if (rc == CID_ERR_NOTFOUND || rc == CID_ERR_DISABLED)
		rc = CID_ERR_REVOKED;
	return rc;
}

/*
 * CID_ERR_REVOKED unless the grant holds tokens: it is not revoked, and its
 * citizen is live in the grant's generation (a citizen disabled now, or at
 * any time since, holds no tokens).
 */
static enum cid_err grant_usable(struct cid_txn *txn, const json_t *grant)
{
	int64_t generation = 0;
	enum cid_err rc;

	if (json_is_true(json_object_get(grant, "revoked")))
		return CID_ERR_REVOKED;
	rc = generation_of(grant, &generation);
	if (rc == CID_OK)
		rc = live(txn, cid_json_str(grant, "account_id"), generation);
	return rc;
}

enum cid_err token_grant_usable_typed(struct cid_txn *txn, const struct cid_grant *g)
{
	if (g->revoked)
		return CID_ERR_REVOKED;
	return live(txn, g->account_id, g->generation);
}

static void grant_ref(void *g)
{
	atomic_fetch_add(&((struct cid_grant *)g)->refs, 1);
}

static void grant_unref(void *g)
{
	cid_grant_free(g);
}

/* A typed grant is a function of its record's bytes: the store's memo keeps it. */
static const struct cid_memo_kind grant_kind = {grant_ref, grant_unref};

enum cid_err cid_grant_get_txn(struct cid_txn *txn, const char *grant_id, struct cid_grant **out)
{
	enum cid_err rc = CID_OK;
	struct cid_str key;
	struct cid_str val;
	struct cid_memo *memo;
	struct cid_grant *g;
	json_t *rec = NULL;

	CID_ENSURE(grant_id != NULL, CID_ERR_NOTFOUND);
	key = cid_str_of(grant_id);
	CID_TRY(cid_txn_get(txn, CID_DB_GRANTS, key, &val));
	memo = cid_store_memo(cid_txn_store(txn), CID_DB_GRANTS, &grant_kind);
	g = cid_memo_get(memo, key, val);
	if (g == NULL) {
		CID_TRY(cid_store_parse_json(val, &rec));
		CID_TRY(grant_of(rec, &g));
		cid_memo_put(memo, key, val, g);
	}
	*out = g;
out:
	json_decref(rec);
	return rc;
}

/*
 * Stores a new refresh token out for grant in txn, and the grant with its
 * family's end moved to the token's expiry ("tokens_exp": no code or refresh
 * token of the grant expires later, which is how the janitor knows when the
 * grant may go, token_sweep.c).
 */
static enum cid_err put_refresh(struct cid_txn *txn, json_t *grant, int64_t now, int64_t ttl,
				const char out[CID_TOKEN_CHARS + 1])
{
	enum cid_err rc = CID_OK;
	char hash[CID_HASH_HEX + 1];
	json_t *rec =
	    json_pack("{s:s, s:s, s:I, s:I, s:b}", "grant_id", cid_json_str(grant, "grant_id"),
		      "client_id", cid_json_str(grant, "client_id"), "iat", (json_int_t)now, "exp",
		      (json_int_t)now + ttl, "used", 0);

	CID_ENSURE(rec != NULL, CID_ERR_NOMEM);
	cid_secret_hash(out, CID_TOKEN_CHARS, hash);
	CID_TRY(cid_txn_put_json(txn, CID_DB_REFRESH, key_of(hash), rec, CID_PUT_NOOVERWRITE));
	if (cid_json_int(grant, "tokens_exp") < now + ttl) {
		CID_ENSURE(json_object_set_new(grant, "tokens_exp", json_integer(now + ttl)) == 0,
			   CID_ERR_NOMEM);
		CID_TRY(cid_txn_put_json(txn, CID_DB_GRANTS,
					 cid_str_of(cid_json_str(grant, "grant_id")), grant, 0));
	}
out:
	json_decref(rec);
	return rc;
}

struct issue {
	const json_t *auth;
	int64_t now;
	int64_t ttl;
	char code[CID_TOKEN_CHARS + 1];
	char grant_id[CID_TOKEN_CHARS + 1];
};

static enum cid_err issue_cb(struct cid_txn *txn, void *arg)
{
	struct issue *is = arg;
	enum cid_err rc = CID_OK;
	char hash[CID_HASH_HEX + 1];
	json_t *grant = json_deep_copy(is->auth);
	json_t *code = NULL;
	int64_t generation = 0;

	CID_ENSURE(grant != NULL, CID_ERR_NOMEM);
	/* the citizen is checked in this transaction, so that no grant is made
	 * after a disable, and none in a generation that has ended */
	CID_TRY(generation_of(is->auth, &generation));
	CID_TRY(cid_account_live(txn, cid_json_str(is->auth, "account_id"), generation));
	json_object_del(grant, "redirect_uri");
	json_object_del(grant, "code_challenge");
	CID_ENSURE(json_object_set_new(grant, "grant_id", json_string(is->grant_id)) == 0 &&
		       json_object_set_new(grant, "created_at", json_integer(is->now)) == 0 &&
		       json_object_set_new(grant, "generation", json_integer(generation)) == 0 &&
		       json_object_set_new(grant, "tokens_exp", json_integer(is->now + is->ttl)) ==
			   0 &&
		       json_object_set_new(grant, "revoked", json_false()) == 0,
		   CID_ERR_NOMEM);
	code = json_pack("{s:s, s:O, s:O, s:I, s:b}", "grant_id", is->grant_id, "client_id",
			 json_object_get(is->auth, "client_id"), "redirect_uri",
			 json_object_get(is->auth, "redirect_uri"), "exp",
			 (json_int_t)is->now + is->ttl, "used", 0);
	/* client_id and redirect_uri were checked by the caller: only memory can fail here */
	CID_ENSURE(code != NULL, CID_ERR_NOMEM);
	if (json_object_get(is->auth, "code_challenge") != NULL)
		CID_ENSURE(json_object_set(code, "code_challenge",
					   json_object_get(is->auth, "code_challenge")) == 0,
			   CID_ERR_NOMEM);
	CID_TRY(cid_txn_put_json(txn, CID_DB_GRANTS, cid_str_of(is->grant_id), grant,
				 CID_PUT_NOOVERWRITE));
	CID_TRY(token_grant_index_put(txn, cid_json_str(is->auth, "account_id"),
				      cid_json_str(is->auth, "client_id"), is->grant_id));
	cid_secret_hash(is->code, CID_TOKEN_CHARS, hash);
	CID_TRY(cid_txn_put_json(txn, CID_DB_CODES, key_of(hash), code, CID_PUT_NOOVERWRITE));
out:
	json_decref(grant);
	json_decref(code);
	return rc;
}

enum cid_err cid_code_issue(struct cid_store *s, const json_t *auth, int64_t now, int64_t ttl,
			    char code_out[CID_TOKEN_CHARS + 1])
{
	enum cid_err rc = CID_OK;
	struct issue is = {.auth = auth, .now = now, .ttl = ttl};

	CID_ENSURE(json_is_object(auth) && cid_json_str(auth, "client_id") != NULL &&
		       cid_json_str(auth, "redirect_uri") != NULL &&
		       cid_json_str(auth, "account_id") != NULL,
		   CID_ERR_INVALID);
	CID_TRY(cid_random_token(is.code));
	CID_TRY(cid_random_token(is.grant_id));
	CID_TRY(cid_store_update(s, issue_cb, &is));
	memcpy(code_out, is.code, sizeof(is.code));
out:
	cid_wipe(is.code, sizeof(is.code));
	return rc;
}

/*= RFC 7636 §4.1: code_verifier = 43*128unreserved */
static bool verifier_syntax_ok(const char *v, size_t n)
{
	if (n < CID_PKCE_VERIFIER_MIN || n > CID_PKCE_VERIFIER_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = v[i];
		bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			  (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
		if (!ok)
			return false;
	}
	return true;
}

/*= RFC 7636 §4.6: BASE64URL-ENCODE(SHA256(ASCII(code_verifier))) == code_challenge */
static bool pkce_ok(const char *challenge, const char *verifier)
{
	uint8_t digest[32];
	char computed[CID_TOKEN_CHARS + 1];
	size_t n;

	if (challenge == NULL)
		return verifier == NULL; /* a verifier without a challenge is a mix-up */
	if (verifier == NULL)
		return false;
	n = strnlen(verifier, CID_PKCE_VERIFIER_MAX + 1);
	if (!verifier_syntax_ok(verifier, n))
		return false;
	cid_sha256(verifier, n, digest);
	if (cid_b64url_encode(digest, sizeof(digest), computed, sizeof(computed)) != CID_OK)
		return false;
	return cid_ct_streq(computed, strlen(computed), challenge, strlen(challenge));
}

/* Marks a code or refresh record used and stores it back under hash. */
static enum cid_err put_used(struct cid_txn *txn, enum cid_db db, const char *hash, json_t *rec,
			     int64_t now)
{
	if (json_object_set_new(rec, "used", json_true()) != 0 ||
	    json_object_set_new(rec, "used_at", json_integer(now)) != 0)
		return CID_ERR_NOMEM;
	return cid_txn_put_json(txn, db, key_of(hash), rec, 0);
}

/*
 * The part redemption and rotation share: find the record, detect reuse
 * (revoking the grant), check the grant, expiry and client.
 */
static enum cid_err use_record(struct cid_txn *txn, enum cid_db db, struct redeem *r,
			       char hash[CID_HASH_HEX + 1], json_t **rec_out, json_t **grant_out)
{
	enum cid_err rc = CID_OK;
	json_t *rec = NULL;
	json_t *grant = NULL;

	r->outcome = CID_ERR_NOTFOUND;
	if (!secret_key(r->token, hash))
		goto out;
	rc = cid_txn_get_json(txn, db, key_of(hash), &rec);
	if (rc == CID_ERR_NOTFOUND) {
		rc = CID_OK;
		goto out;
	}
	CID_TRY(rc);
	rc = token_load_grant(txn, cid_json_str(rec, "grant_id"), &grant);
	if (rc == CID_ERR_NOTFOUND) {
		rc = CID_OK;
		goto out;
	}
	CID_TRY(rc);
	rc = grant_usable(txn, grant);
	if (rc == CID_ERR_REVOKED) {
		rc = CID_OK;
		r->outcome = CID_ERR_REVOKED;
		goto out;
	}
	CID_TRY(rc);
	/*= RFC 6749 §4.1.2: if an authorization code is used more than once, the
	 *# authorization server MUST deny the request and SHOULD revoke (when
	 *# possible) all tokens previously issued based on that authorization code.
	 * RFC 9700 §4.14.2 says the same of a rotated refresh token presented again. */
	if (json_is_true(json_object_get(rec, "used"))) {
		CID_TRY(token_put_revoked_grant(txn, grant, r->now));
		r->outcome = CID_ERR_REVOKED;
		goto out;
	}
	if (cid_json_int(rec, "exp") <= r->now) {
		r->outcome = CID_ERR_EXPIRED;
		goto out;
	}
	if (r->client_id == NULL ||
	    !cid_str_eq(cid_str_of(cid_json_str(rec, "client_id")), r->client_id)) {
		r->outcome = CID_ERR_DENIED;
		goto out;
	}
	r->outcome = CID_OK;
	*rec_out = rec;
	*grant_out = grant;
	rec = NULL;
	grant = NULL;
out:
	json_decref(rec);
	json_decref(grant);
	return rc;
}

/* What only a code is checked for: the redirect URI it was issued to, and PKCE. */
static void code_check(struct redeem *r, const json_t *rec)
{
	if (r->redirect_uri == NULL ||
	    !cid_str_eq(cid_str_of(cid_json_str(rec, "redirect_uri")), r->redirect_uri) ||
	    !pkce_ok(cid_json_str(rec, "code_challenge"), r->verifier))
		r->outcome = CID_ERR_DENIED;
}

/*
 * What only a refresh token is checked for: the scope asked, which then
 * replaces the grant's in what the caller gets (the stored grant keeps its own).
 */
static void refresh_check(struct redeem *r, const json_t *grant)
{
	/*= RFC 6749 §6: the requested scope MUST NOT include any scope not originally
	 *# granted by the resource owner
	 * refused before the token is marked used: an error response leaves the token
	 * and its grant intact (RFC 6749 §5.2) */
	if (r->scope != NULL && !cid_words_subset(r->scope, cid_json_str(grant, "scope")))
		r->outcome = CID_ERR_INVALID;
}

/*
 * Whether a code or refresh token of grant may still be used at now. A code
 * lives only as long as the login session it was issued in: one redeemed
 * after a logout would give the service an ID token naming an ended sid and a
 * fresh local session that no later notice ends (Keycloak refuses such a code
 * too). A refresh token (offline: false) of a grant made without
 * offline_access lives as long as that session (Back-Channel Logout 1.0 §2.7;
 * Keycloak and node-oidc-provider do the same), so that a logout, "sign out
 * everywhere" or a password change ends it, and no ID token names an ended
 * sid; with offline_access it outlives it. CID_OK, or CID_ERR_EXPIRED.
 */
static enum cid_err session_lives(struct cid_txn *txn, const json_t *grant, bool refresh,
				  int64_t now)
{
	const char *sid = cid_json_str(grant, "sid");
	const char *scope = cid_json_str(grant, "scope");
	enum cid_err rc;

	if (sid == NULL || sid[0] == '\0' ||
	    (refresh && scope != NULL && cid_words_has(scope, "offline_access", 14)))
		return CID_OK;
	rc = cid_session_sid_live_txn(txn, sid, now);
	/* a damaged session record vouches for nothing either */
	return rc == CID_OK || rc == CID_ERR_NOMEM ? rc : CID_ERR_EXPIRED;
}

/* The asked scope (NULL: none asked) in place of the one g was granted. */
static enum cid_err narrow_scope(struct cid_grant *g, const char *scope)
{
	char *copy;

	if (scope == NULL)
		return CID_OK;
	copy = strdup(scope);
	if (copy == NULL)
		return CID_ERR_NOMEM;
	free(g->scope);
	g->scope = copy;
	return CID_OK;
}

/* Redeems a code or rotates a refresh token (r->db says which). */
static enum cid_err use_cb(struct cid_txn *txn, void *arg)
{
	struct redeem *r = arg;
	enum cid_err rc = CID_OK;
	char hash[CID_HASH_HEX + 1];
	json_t *rec = NULL;
	json_t *grant = NULL;
	struct cid_grant *typed = NULL;

	CID_TRY(use_record(txn, r->db, r, hash, &rec, &grant));
	if (r->outcome != CID_OK)
		goto out;
	if (r->db == CID_DB_CODES)
		code_check(r, rec);
	else
		refresh_check(r, grant);
	rc = r->outcome == CID_OK ? session_lives(txn, grant, r->db != CID_DB_CODES, r->now)
				  : CID_OK;
	if (rc == CID_ERR_EXPIRED) {
		r->outcome = rc;
		rc = CID_OK;
	}
	CID_TRY(rc);
	if (r->outcome != CID_OK)
		goto out;
	/* a damaged grant aborts the transaction: the code or token stays as it was */
	CID_TRY(grant_of(grant, &typed));
	CID_TRY(narrow_scope(typed, r->scope));
	CID_TRY(put_used(txn, r->db, hash, rec, r->now));
	if (r->next[0] != '\0')
		CID_TRY(put_refresh(txn, grant, r->now, r->ttl, r->next));
	cid_grant_free(r->grant);
	r->grant = typed;
	typed = NULL;
out:
	json_decref(rec);
	json_decref(grant);
	cid_grant_free(typed);
	return rc;
}

/* Runs use_cb and turns its outcome into the public result. */
static enum cid_err run_redeem(struct cid_store *s, struct redeem *r, struct cid_grant **grant,
			       char next_out[CID_TOKEN_CHARS + 1])
{
	enum cid_err rc = cid_store_update(s, use_cb, r);

	if (rc == CID_OK)
		rc = r->outcome;
	if (rc == CID_OK) {
		*grant = r->grant;
		r->grant = NULL;
		memcpy(next_out, r->next, sizeof(r->next));
	}
	cid_grant_free(r->grant);
	cid_wipe(r->next, sizeof(r->next));
	return rc;
}

enum cid_err cid_code_redeem(struct cid_store *s, const char *code, const char *client_id,
			     const char *redirect_uri, const char *verifier, int64_t now,
			     int64_t refresh_ttl, struct cid_grant **grant,
			     char refresh_out[CID_TOKEN_CHARS + 1])
{
	enum cid_err rc = CID_OK;
	struct redeem r = {.db = CID_DB_CODES,
			   .token = code,
			   .client_id = client_id,
			   .redirect_uri = redirect_uri,
			   .verifier = verifier,
			   .now = now,
			   .ttl = refresh_ttl};

	if (refresh_ttl > 0)
		CID_TRY(cid_random_token(r.next));
	rc = run_redeem(s, &r, grant, refresh_out);
out:
	return rc;
}

enum cid_err cid_refresh_rotate(struct cid_store *s, const char *token, const char *client_id,
				const char *scope, int64_t now, int64_t ttl,
				struct cid_grant **grant, char new_out[CID_TOKEN_CHARS + 1])
{
	enum cid_err rc = CID_OK;
	struct redeem r = {.db = CID_DB_REFRESH,
			   .token = token,
			   .client_id = client_id,
			   .scope = scope,
			   .now = now,
			   .ttl = ttl};

	CID_TRY(cid_random_token(r.next));
	rc = run_redeem(s, &r, grant, new_out);
out:
	return rc;
}

enum cid_err cid_refresh_lookup(struct cid_store *s, const char *token, int64_t now,
				struct cid_grant **out, int64_t *iat, int64_t *exp)
{
	enum cid_err rc = CID_OK;
	char hash[CID_HASH_HEX + 1];
	struct cid_txn *txn = NULL;
	json_t *r = NULL;
	json_t *grant = NULL;

	CID_ENSURE(secret_key(token, hash), CID_ERR_NOTFOUND);
	CID_TRY(cid_store_read_begin(s, &txn));
	CID_TRY(cid_txn_get_json(txn, CID_DB_REFRESH, key_of(hash), &r));
	CID_TRY(token_load_grant(txn, cid_json_str(r, "grant_id"), &grant));
	CID_ENSURE(!json_is_true(json_object_get(r, "used")), CID_ERR_REVOKED);
	CID_TRY(grant_usable(txn, grant));
	CID_ENSURE(cid_json_int(r, "exp") > now, CID_ERR_EXPIRED);
	CID_TRY(session_lives(txn, grant, true, now));
	CID_TRY(grant_of(grant, out));
	*iat = cid_json_int(r, "iat");
	*exp = cid_json_int(r, "exp");
out:
	cid_store_read_end(txn);
	json_decref(r);
	json_decref(grant);
	return rc;
}

struct revoke {
	const char *grant_id;
	const char *hash;
	const char *client_id;
	int64_t now;
};

static enum cid_err revoke_cb(struct cid_txn *txn, void *arg)
{
	struct revoke *rv = arg;
	enum cid_err rc = CID_OK;
	json_t *rec = NULL;
	json_t *grant = NULL;
	const char *grant_id = rv->grant_id;

	if (rv->hash != NULL) {
		CID_TRY(cid_txn_get_json(txn, CID_DB_REFRESH, key_of(rv->hash), &rec));
		CID_ENSURE(cid_str_eq(cid_str_of(cid_json_str(rec, "client_id")), rv->client_id),
			   CID_ERR_DENIED);
		grant_id = cid_json_str(rec, "grant_id");
	}
	CID_TRY(token_load_grant(txn, grant_id, &grant));
	CID_TRY(token_put_revoked_grant(txn, grant, rv->now));
out:
	json_decref(rec);
	json_decref(grant);
	return rc;
}

enum cid_err cid_refresh_revoke(struct cid_store *s, const char *token, const char *client_id,
				int64_t now)
{
	char hash[CID_HASH_HEX + 1];
	struct revoke rv = {.hash = hash, .client_id = client_id, .now = now};

	if (!secret_key(token, hash) || client_id == NULL)
		return CID_ERR_NOTFOUND;
	return cid_store_update(s, revoke_cb, &rv);
}

enum cid_err cid_grant_revoke(struct cid_store *s, const char *grant_id, int64_t now)
{
	struct revoke rv = {.grant_id = grant_id, .now = now};

	return cid_store_update(s, revoke_cb, &rv);
}

enum cid_err cid_grant_get(struct cid_store *s, const char *grant_id, struct cid_grant **grant)
{
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;
	struct cid_grant *g = NULL;

	CID_ENSURE(grant_id != NULL && strnlen(grant_id, CID_TOKEN_CHARS + 1) == CID_TOKEN_CHARS,
		   CID_ERR_NOTFOUND);
	CID_TRY(cid_store_read_begin(s, &txn));
	CID_TRY(cid_grant_get_txn(txn, grant_id, &g));
	CID_ENSURE(!g->revoked, CID_ERR_REVOKED);
	*grant = g;
	g = NULL;
out:
	cid_store_read_end(txn);
	cid_grant_free(g);
	return rc;
}
