/*
 * oidc_token: table-driven tests of the token, introspection and revocation
 * endpoints through their real entry points (cid_oidc_token,
 * cid_oidc_introspect, cid_oidc_revoke) on a real context: LMDB store, keys,
 * registered clients, a citizen and codes issued as the authorization endpoint
 * issues them. One row per request: the Authorization header, the form body,
 * the expected status and OAuth error.
 *
 * Rows are written for the behaviour the RFCs require. Secrets, codes and
 * tokens are made at run time, so row templates name them with placeholders
 * that are expanded just before the request:
 *   {rp1_secret}   the client's secret ({rp1_secret%}: every byte %-escaped)
 *   {code}         a fresh code of rp1 without PKCE; {code_pkce} with PKCE;
 *                  {code_spa} etc. a code of that client (spa's with PKCE);
 *                  {code_used} one already redeemed; {code_expired} one past its ttl
 *   {refresh}      a live refresh token of rp1; {refresh_rp2} of rp2;
 *                  {refresh_used} one of rp1 already rotated
 *   {at}           an access token of rp1; {at_rp2}; {at_svc} (client_credentials)
 *   {at@STATE}, {refresh@STATE}  rp1's token of a new citizen, who is then:
 *                  disabled; reenabled (disabled, then enabled again);
 *                  hand-disabled ("disabled": true written behind account.c's
 *                  back, so nothing was revoked); stateless (no "disabled")
 * An auth template "Basic:id:secret" is sent as "Basic base64(id:secret)".
 */
#include "account.h"
#include "audit.h"
#include "bounds.h"
#include "cid.h"
#include "client.h"
#include "config.h"
#include "jose.h"
#include "oidc.h"
#include "session.h"
#include "support.h"
#include "token.h"
#include "totp.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#define VERIFIER  "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
#define CHALLENGE "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
#define NOW	  1800000000
#define AT	  (NOW + 5) /* when the requests are made */

/* ---- the registered clients ---- */

struct client_def {
	const char *id;
	bool is_public;
	const char *redirect; /* NULL: none */
	const char *scopes;
	const char *grants; /* NULL: authorization_code refresh_token */
	const char *code_scope;
};

enum { RP1, RP2, SPA, SVC, NORE, N_CLIENTS };

static const struct client_def clients[N_CLIENTS] = {
    [RP1] = {"rp1", false, "https://rp.example/cb", "openid profile email city offline_access",
	     NULL, "openid profile"},
    [RP2] = {"rp2", false, "https://rp2.example/cb", "openid profile", NULL, "openid profile"},
    [SPA] = {"spa", true, "http://127.0.0.1:9000/cb", "openid profile", NULL, "openid profile"},
    [SVC] = {"svc", false, NULL, "city", "client_credentials", NULL},
    [NORE] = {"nore", false, "https://nore.example/cb", "openid", "authorization_code", "openid"},
};

/* rp1 may receive the given name and the district without consent; nobody else gets anything */
static const char rp1_policy[] = "service rp1\n"
				 "name.ja RP1\n"
				 "name.en RP1\n"
				 "purpose test\n"
				 "\ttext.ja テスト\n"
				 "\ttext.en Test\n"
				 "\tbasis statute Test Act, Art. 1\n"
				 "\tretention 1y\n"
				 "\tpermit given_name\n"
				 "\tpermit resident_district\n";

struct fixture {
	char dir[256];
	struct cid_config *cfg;
	struct cid_ctx *ctx;
	char *secret[N_CLIENTS]; /* NULL for the public client */
	char account[CID_ID_CHARS + 1];
	int citizens; /* made by {at@STATE} and {refresh@STATE} */
};

/* While set, the ID token cannot be signed (see __wrap_cid_token_id_mint). */
static bool fail_id_mint;

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	fail_id_mint = false;
	json_t *claims = json_pack("{s:s, s:s}", "given_name", "花子", "resident_district", "北区");

	assert_non_null(f);
	assert_non_null(claims);
	f->cfg = cid_test_config(f->dir);
	cid_test_policies(f->cfg, f->dir, "rp1.policy", rp1_policy);
	assert_int_equal(cid_ctx_open(f->cfg, NOW, NULL, &f->ctx), CID_OK);
	for (int i = 0; i < N_CLIENTS; i++) {
		const struct client_def *d = &clients[i];
		const char *uris[] = {d->redirect};
		struct cid_client_spec spec = {
		    .client_id = d->id,
		    .name = d->id,
		    .is_public = d->is_public,
		    .redirect_uris = uris,
		    .n_redirect_uris = d->redirect == NULL ? 0 : 1,
		    .scopes = d->scopes,
		    .grant_types = d->grants,
		};
		char *id = NULL;

		assert_int_equal(
		    cid_client_add(cid_ctx_store(f->ctx), &spec, NOW, &id, &f->secret[i]), CID_OK);
		assert_string_equal(id, d->id);
		assert_true((f->secret[i] == NULL) == d->is_public);
		free(id);
	}
	assert_int_equal(cid_account_add(cid_ctx_store(f->ctx), &f->cfg->argon2, "hanako",
					 "correct horse battery", claims, NOW, f->account),
			 CID_OK);
	json_decref(claims);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	for (int i = 0; i < N_CLIENTS; i++)
		free(f->secret[i]);
	cid_test_ctx_close(f->ctx, f->cfg, f->dir);
	free(f);
	return 0;
}

static int client_index(const char *id, size_t n)
{
	for (int i = 0; i < N_CLIENTS; i++)
		if (strlen(clients[i].id) == n && strncmp(clients[i].id, id, n) == 0)
			return i;
	fail_msg("no client %.*s", (int)n, id);
	return -1;
}

/* ---- making codes and tokens ---- */

/* Issues a code of account as oidc.c's oidc_grant_code does (after login). */
static void issue_code_for(struct fixture *f, const char *account, int client,
			   const char *challenge, int64_t at, char code[CID_TOKEN_CHARS + 1])
{
	const struct client_def *d = &clients[client];
	char sid[CID_TOKEN_CHARS + 1];
	json_t *auth;

	cid_test_session_sid(cid_ctx_store(f->ctx), account, at, sid);
	auth = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:[s], s:s}", "client_id", d->id,
			 "redirect_uri", d->redirect, "scope", d->code_scope, "nonce", "n-1",
			 "account_id", account, "auth_time", (json_int_t)at, "sid", sid, "amr",
			 "pwd", "acr", "urn:civicid:acr:password");

	assert_non_null(auth);
	if (challenge != NULL)
		assert_int_equal(
		    json_object_set_new(auth, "code_challenge", json_string(challenge)), 0);
	assert_int_equal(cid_code_issue(cid_ctx_store(f->ctx), auth, at, f->cfg->code_ttl, code),
			 CID_OK);
	json_decref(auth);
}

/* Issues a code of hanako. */
static void issue_code(struct fixture *f, int client, const char *challenge, int64_t at,
		       char code[CID_TOKEN_CHARS + 1])
{
	issue_code_for(f, f->account, client, challenge, at, code);
}

enum endpoint { EP_TOKEN, EP_INTROSPECT, EP_REVOKE };

/* Calls an endpoint with a ready Authorization value and form; reply must be zeroed. */
static void call(struct fixture *f, enum endpoint ep, const char *authorization, const char *form,
		 bool post, bool form_ct, struct cid_reply *reply)
{
	struct cid_request req = {
	    .post = post,
	    .form_content_type = form_ct,
	    .authorization = authorization,
	    .remote_addr = "192.0.2.7",
	    .now = AT,
	};
	enum cid_err rc = cid_params_parse_form(&req.params, form, strlen(form));

	if (rc != CID_OK) {
		/* what the skin answers when it cannot decode the body (daemon.c
		 * build_request + input_error): the endpoint is never called */
		rc = cid_reply_error_json(reply, rc == CID_ERR_TOOBIG ? 413 : 400,
					  "invalid_request", cid_strerror(rc));
	} else if (ep == EP_TOKEN) {
		rc = cid_oidc_token(f->ctx, &req, reply);
	} else if (ep == EP_INTROSPECT) {
		rc = cid_oidc_introspect(f->ctx, &req, reply);
	} else {
		rc = cid_oidc_revoke(f->ctx, &req, reply);
	}
	cid_request_clear(&req);
	if (rc != CID_OK)
		fail_msg("endpoint returned %s for %s", cid_strerror(rc), form);
}

static json_t *body_of(const struct cid_reply *r)
{
	if (r->body == NULL)
		return NULL;
	return json_loadb(r->body, r->body_len, 0, NULL);
}

/* The client's credentials as a client_secret_post form fragment. */
static void post_creds(const struct fixture *f, int client, char *out, size_t outsz)
{
	int n;

	if (f->secret[client] == NULL)
		n = snprintf(out, outsz, "client_id=%s", clients[client].id);
	else
		n = snprintf(out, outsz, "client_id=%s&client_secret=%s", clients[client].id,
			     f->secret[client]);
	assert_true(n > 0 && (size_t)n < outsz);
}

/* POSTs form (with the client's client_secret_post credentials) to ep; returns the JSON body. */
static json_t *post_as(struct fixture *f, enum endpoint ep, int client, const char *form,
		       int expect_status)
{
	char creds[256];
	char body[2048];
	struct cid_reply reply = {0};
	json_t *j;
	int n;

	post_creds(f, client, creds, sizeof(creds));
	n = snprintf(body, sizeof(body), "%s&%s", form, creds);
	assert_true(n > 0 && (size_t)n < sizeof(body));
	call(f, ep, NULL, body, true, true, &reply);
	if (reply.status != expect_status)
		fail_msg("%s: expected %d, got %d %s", form, expect_status, reply.status,
			 reply.body == NULL ? "" : reply.body);
	j = body_of(&reply);
	cid_reply_free(&reply);
	return j;
}

/* Redeems a fresh code of account and client at the token endpoint; the token response. */
static json_t *redeem_for(struct fixture *f, const char *account, int client)
{
	const struct client_def *d = &clients[client];
	char code[CID_TOKEN_CHARS + 1];
	char form[512];
	bool pkce = d->is_public;
	int n;

	issue_code_for(f, account, client, pkce ? CHALLENGE : NULL, NOW, code);
	n = snprintf(form, sizeof(form), "grant_type=authorization_code&code=%s&redirect_uri=%s%s",
		     code, d->redirect, pkce ? "&code_verifier=" VERIFIER : "");
	assert_true(n > 0 && (size_t)n < sizeof(form));
	return post_as(f, EP_TOKEN, client, form, 200);
}

/* Redeems a fresh code of hanako and client. */
static json_t *redeem(struct fixture *f, int client)
{
	return redeem_for(f, f->account, client);
}

static void copy_member(const json_t *o, const char *name, char *out, size_t outsz)
{
	const char *v = json_string_value(json_object_get(o, name));

	if (v == NULL)
		fail_msg("no %s in the response", name);
	/* cmocka 1.1 does not declare that fail_msg does not return */
	// NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker): checked
	assert_true(strlen(v) < outsz);
	memcpy(out, v, strlen(v) + 1);
}

/*
 * Member (access_token or refresh_token) of rp1's tokens for a new citizen,
 * who is then put in state st[0..n): see {at@STATE} above.
 */
static void citizen_token(struct fixture *f, const char *member, const char *st, size_t n,
			  char *out, size_t outsz)
{
	struct cid_store *s = cid_ctx_store(f->ctx);
	char name[32];
	char id[CID_ID_CHARS + 1];
	json_t *j;

#define STATE(lit) (n == sizeof(lit) - 1 && strncmp(st, lit, n) == 0)
	snprintf(name, sizeof(name), "citizen%d", ++f->citizens);
	assert_int_equal(
	    cid_account_add(s, &f->cfg->argon2, name, "correct horse battery", NULL, NOW, id),
	    CID_OK);
	j = redeem_for(f, id, RP1);
	copy_member(j, member, out, outsz);
	json_decref(j);
	if (STATE("disabled")) {
		assert_int_equal(cid_account_set_disabled(s, name, true, NOW), CID_OK);
	} else if (STATE("reenabled")) {
		assert_int_equal(cid_account_set_disabled(s, name, true, NOW), CID_OK);
		assert_int_equal(cid_account_set_disabled(s, name, false, NOW), CID_OK);
	} else if (STATE("hand-disabled")) {
		cid_test_citizen_edit(s, id, "disabled", json_true());
	} else if (STATE("stateless")) {
		cid_test_citizen_edit(s, id, "disabled", NULL);
	} else {
		fail_msg("unknown citizen state %.*s", (int)n, st);
	}
#undef STATE
}

/* ---- placeholders ---- */

static void percent_encode(const char *s, char *out, size_t outsz)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s != '\0'; s++) {
		assert_true(o + 3 < outsz);
		out[o++] = '%';
		out[o++] = hex[(unsigned char)*s >> 4];
		out[o++] = hex[(unsigned char)*s & 15];
	}
	out[o] = '\0';
}

/* The value of placeholder name[0..n) into out[outsz]. */
static void placeholder(struct fixture *f, const char *name, size_t n, char *out, size_t outsz)
{
	char code[CID_TOKEN_CHARS + 1];
	json_t *j = NULL;

#define IS(lit)		(n == sizeof(lit) - 1 && strncmp(name, lit, n) == 0)
#define HAS_PREFIX(lit) (n > sizeof(lit) - 1 && strncmp(name, lit, sizeof(lit) - 1) == 0)
	if (n > 7 && strncmp(name + n - 7, "_secret", 7) == 0) {
		int c = client_index(name, n - 7);

		assert_non_null(f->secret[c]);
		assert_true(strlen(f->secret[c]) < outsz);
		snprintf(out, outsz, "%s", f->secret[c]);
	} else if (n > 8 && strncmp(name + n - 8, "_secret%", 8) == 0) {
		int c = client_index(name, n - 8);

		assert_non_null(f->secret[c]);
		percent_encode(f->secret[c], out, outsz);
	} else if (IS("code")) {
		issue_code(f, RP1, NULL, NOW, code);
		snprintf(out, outsz, "%s", code);
	} else if (IS("code_pkce")) {
		issue_code(f, RP1, CHALLENGE, NOW, code);
		snprintf(out, outsz, "%s", code);
	} else if (IS("code_expired")) {
		issue_code(f, RP1, NULL, AT - f->cfg->code_ttl - 1, code);
		snprintf(out, outsz, "%s", code);
	} else if (IS("code_used")) {
		char form[512];

		issue_code(f, RP1, NULL, NOW, code);
		snprintf(form, sizeof(form),
			 "grant_type=authorization_code&code=%s&redirect_uri=%s", code,
			 clients[RP1].redirect);
		json_decref(post_as(f, EP_TOKEN, RP1, form, 200));
		snprintf(out, outsz, "%s", code);
	} else if (HAS_PREFIX("code_")) {
		int c = client_index(name + 5, n - 5);

		issue_code(f, c, clients[c].is_public ? CHALLENGE : NULL, NOW, code);
		snprintf(out, outsz, "%s", code);
	} else if (HAS_PREFIX("at@")) {
		citizen_token(f, "access_token", name + 3, n - 3, out, outsz);
	} else if (HAS_PREFIX("refresh@")) {
		citizen_token(f, "refresh_token", name + 8, n - 8, out, outsz);
	} else if (IS("refresh")) {
		j = redeem(f, RP1);
		copy_member(j, "refresh_token", out, outsz);
	} else if (IS("refresh_used")) {
		char form[64 + CID_MAX_TOKEN];

		j = redeem(f, RP1);
		copy_member(j, "refresh_token", out, outsz);
		assert_true((size_t)snprintf(form, sizeof(form),
					     "grant_type=refresh_token&refresh_token=%s",
					     out) < sizeof(form));
		json_decref(post_as(f, EP_TOKEN, RP1, form, 200));
	} else if (HAS_PREFIX("refresh_")) {
		j = redeem(f, client_index(name + 8, n - 8));
		copy_member(j, "refresh_token", out, outsz);
	} else if (IS("at")) {
		j = redeem(f, RP1);
		copy_member(j, "access_token", out, outsz);
	} else if (IS("at_svc")) {
		j = post_as(f, EP_TOKEN, SVC, "grant_type=client_credentials&scope=city", 200);
		copy_member(j, "access_token", out, outsz);
	} else if (HAS_PREFIX("at_")) {
		j = redeem(f, client_index(name + 3, n - 3));
		copy_member(j, "access_token", out, outsz);
	} else {
		fail_msg("unknown placeholder {%.*s}", (int)n, name);
	}
#undef IS
#undef HAS_PREFIX
	json_decref(j);
}

/* Expands the {placeholders} of tpl into out[outsz]. */
static void expand(struct fixture *f, const char *tpl, char *out, size_t outsz)
{
	size_t o = 0;

	while (*tpl != '\0') {
		if (*tpl == '{') {
			const char *end = strchr(tpl, '}');
			char val[4096];

			assert_non_null(end);
			placeholder(f, tpl + 1, (size_t)(end - tpl - 1), val, sizeof(val));
			assert_true(o + strlen(val) < outsz);
			memcpy(out + o, val, strlen(val));
			o += strlen(val);
			tpl = end + 1;
			continue;
		}
		assert_true(o + 1 < outsz);
		out[o++] = *tpl++;
	}
	out[o] = '\0';
}

static void base64(const char *in, char *out, size_t outsz)
{
	static const char abc[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(in);
	size_t o = 0;

	assert_true((n + 2) / 3 * 4 < outsz);
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)(unsigned char)in[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)(unsigned char)in[i + 1] << 8;
		if (i + 2 < n)
			v |= (unsigned char)in[i + 2];
		out[o++] = abc[(v >> 18) & 63];
		out[o++] = abc[(v >> 12) & 63];
		out[o++] = (char)(i + 1 < n ? abc[(v >> 6) & 63] : '=');
		out[o++] = (char)(i + 2 < n ? abc[v & 63] : '=');
	}
	out[o] = '\0';
}

/* The Authorization value of an auth template: "Basic:id:secret" or "basic:..." encoded. */
static void authorization_of(struct fixture *f, const char *tpl, char *out, size_t outsz)
{
	char plain[1024];

	if (strncasecmp(tpl, "Basic:", 6) != 0) {
		expand(f, tpl, out, outsz);
		return;
	}
	expand(f, tpl + 6, plain, sizeof(plain));
	assert_true(outsz > 6);
	memcpy(out, tpl, 5);
	out[5] = ' ';
	base64(plain, out + 6, outsz - 6);
}

/* ---- checking a JSON body against "name", "!name" and "name=value" words ---- */

/* want[0..n) is form-like: '+' stands for a space. */
static bool member_matches(const json_t *v, const char *want, size_t n)
{
	char buf[64];

	if (json_is_string(v)) {
		const char *s = json_string_value(v);

		if (json_string_length(v) != n)
			return false;
		for (size_t i = 0; i < n; i++)
			if (s[i] != (want[i] == '+' ? ' ' : want[i]))
				return false;
		return true;
	}
	if (json_is_boolean(v))
		return (json_is_true(v) ? n == 4 && memcmp(want, "true", 4) == 0
					: n == 5 && memcmp(want, "false", 5) == 0);
	if (json_is_integer(v)) {
		int k = snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
		return k > 0 && (size_t)k == n && memcmp(buf, want, n) == 0;
	}
	return false;
}

/* Returns the number of words of spec that body does not satisfy, printing each. */
static int check_members(const char *row, const json_t *body, const char *spec)
{
	int bad = 0;

	for (const char *p = spec; p != NULL && *p != '\0';) {
		size_t len = strcspn(p, " ");
		char name[64];
		const char *eq = memchr(p, '=', len);
		bool absent = p[0] == '!';
		size_t nl = (eq != NULL ? (size_t)(eq - p) : len) - (absent ? 1 : 0);
		const json_t *v;

		assert_true(nl < sizeof(name));
		memcpy(name, p + (absent ? 1 : 0), nl);
		name[nl] = '\0';
		v = json_object_get(body, name);
		if (absent && v != NULL) {
			print_error("%s: member %s must be absent\n", row, name);
			bad++;
		} else if (!absent && v == NULL) {
			print_error("%s: member %s is missing\n", row, name);
			bad++;
		} else if (eq != NULL && !member_matches(v, eq + 1, len - nl - 1)) {
			print_error("%s: member %s is not %.*s\n", row, name, (int)(len - nl - 1),
				    eq + 1);
			bad++;
		}
		p += len;
		while (*p == ' ')
			p++;
	}
	return bad;
}

/* ---- the table ---- */

enum { F_GET = 1, F_NOT_FORM = 2 };

struct row {
	const char *name;
	enum endpoint ep;
	unsigned flags;
	const char *auth; /* Authorization template, or NULL */
	const char *form; /* form template */
	int status;
	const char *error;   /* NULL: success */
	const char *members; /* further checks of the JSON body, or NULL */
};

#define RP1_POST  "client_id=rp1&client_secret={rp1_secret}"
#define RP2_POST  "client_id=rp2&client_secret={rp2_secret}"
#define SVC_POST  "client_id=svc&client_secret={svc_secret}"
#define RP1_BASIC "Basic:rp1:{rp1_secret}"
#define RP2_BASIC "Basic:rp2:{rp2_secret}"
#define SVC_BASIC "Basic:svc:{svc_secret}"
#define RP1_CB	  "redirect_uri=https%3A%2F%2Frp.example%2Fcb"
#define SPA_CB	  "redirect_uri=http%3A%2F%2F127.0.0.1%3A9000%2Fcb"
#define AC	  "grant_type=authorization_code&"
#define RT	  "grant_type=refresh_token&"
#define CC	  "grant_type=client_credentials"
#define CODE_OK	  "id_token refresh_token token_type=Bearer scope"

static const struct row rows[] = {
    /* request shape (RFC 6749 §3.2) */
    {"token: GET instead of POST", EP_TOKEN, F_GET, SVC_BASIC, CC, 400, "invalid_request", NULL},
    {"token: not form-urlencoded", EP_TOKEN, F_NOT_FORM, SVC_BASIC, CC, 400, "invalid_request",
     NULL},
    {"token: grant_type missing", EP_TOKEN, 0, SVC_BASIC, "scope=city", 400, "invalid_request",
     NULL},
    /* RFC 6749 §3.2: parameters sent without a value MUST be treated as omitted */
    {"token: grant_type empty is missing", EP_TOKEN, 0, SVC_BASIC, "grant_type=", 400,
     "invalid_request", NULL},
    {"token: grant_type password", EP_TOKEN, 0, SVC_BASIC,
     "grant_type=password&username=hanako&password=x", 400, "unsupported_grant_type", NULL},
    {"token: grant_type device_code", EP_TOKEN, 0, SVC_BASIC,
     "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code", 400,
     "unsupported_grant_type", NULL},
    {"token: unknown parameter ignored", EP_TOKEN, 0, SVC_BASIC, CC "&foo=bar&resource_x=1", 200,
     NULL, NULL},
    {"token: duplicate grant_type", EP_TOKEN, 0, SVC_BASIC, CC "&" CC, 400, "invalid_request",
     NULL},
    {"token: duplicate client_id", EP_TOKEN, 0, NULL, CC "&" SVC_POST "&client_id=svc", 400,
     "invalid_request", NULL},

    /* client authentication (RFC 6749 §2.3, §5.2) */
    {"auth: client_secret_basic ok", EP_TOKEN, 0, SVC_BASIC, CC, 200, NULL, NULL},
    {"auth: basic scheme is case-insensitive", EP_TOKEN, 0, "basic:svc:{svc_secret}", CC, 200, NULL,
     NULL},
    {"auth: basic wrong secret", EP_TOKEN, 0, "Basic:svc:{rp1_secret}", CC, 401, "invalid_client",
     NULL},
    {"auth: basic empty secret", EP_TOKEN, 0, "Basic:svc:", CC, 401, "invalid_client", NULL},
    {"auth: basic unknown client", EP_TOKEN, 0, "Basic:nobody:{svc_secret}", CC, 401,
     "invalid_client", NULL},
    {"auth: basic not base64", EP_TOKEN, 0, "Basic !!!!", CC, 401, "invalid_client", NULL},
    {"auth: basic without colon", EP_TOKEN, 0, "Basic:svc", CC, 401, "invalid_client", NULL},
    /* RFC 6749 §2.3.1: id and secret are form-urlencoded inside Basic */
    {"auth: basic percent-encoded id", EP_TOKEN, 0, "Basic:%73%76%63:{svc_secret}", CC, 200, NULL,
     NULL},
    {"auth: basic percent-encoded secret", EP_TOKEN, 0, "Basic:svc:{svc_secret%}", CC, 200, NULL,
     NULL},
    {"auth: basic with matching client_id", EP_TOKEN, 0, SVC_BASIC, CC "&client_id=svc", 200, NULL,
     NULL},
    {"auth: basic with other client_id", EP_TOKEN, 0, SVC_BASIC, CC "&client_id=rp1", 401,
     "invalid_client", NULL},
    {"auth: client_secret_post ok", EP_TOKEN, 0, NULL, CC "&" SVC_POST, 200, NULL, NULL},
    {"auth: post wrong secret", EP_TOKEN, 0, NULL, CC "&client_id=svc&client_secret={rp1_secret}",
     401, "invalid_client", NULL},
    {"auth: post secret missing", EP_TOKEN, 0, NULL, CC "&client_id=svc", 401, "invalid_client",
     NULL},
    {"auth: post unknown client", EP_TOKEN, 0, NULL, CC "&client_id=nobody&client_secret=x", 401,
     "invalid_client", NULL},
    {"auth: no authentication at all", EP_TOKEN, 0, NULL, CC, 401, "invalid_client", NULL},
    {"auth: basic and post at once", EP_TOKEN, 0, SVC_BASIC, CC "&" SVC_POST, 400,
     "invalid_request", NULL},
    /* RFC 6749 §3.2: an empty client_secret is an omitted one, so Basic alone is used */
    {"auth: basic with empty client_secret", EP_TOKEN, 0, SVC_BASIC, CC "&client_secret=", 200,
     NULL, NULL},
    {"auth: public client with a secret", EP_TOKEN, 0, NULL,
     AC "code={code_spa}&" SPA_CB "&code_verifier=" VERIFIER "&client_id=spa&client_secret=x", 401,
     "invalid_client", NULL},
    {"auth: public client with empty client_secret", EP_TOKEN, 0, NULL,
     AC "code={code_spa}&" SPA_CB "&code_verifier=" VERIFIER "&client_id=spa&client_secret=", 200,
     NULL, CODE_OK},

    /* authorization_code (RFC 6749 §4.1.3, RFC 7636 §4.5-4.6) */
    {"code: ok", EP_TOKEN, 0, RP1_BASIC, AC "code={code}&" RP1_CB, 200, NULL,
     CODE_OK " scope=openid+profile"},
    {"code: ok with client_secret_post", EP_TOKEN, 0, NULL, AC "code={code}&" RP1_CB "&" RP1_POST,
     200, NULL, CODE_OK},
    {"code: pkce ok", EP_TOKEN, 0, RP1_BASIC,
     AC "code={code_pkce}&" RP1_CB "&code_verifier=" VERIFIER, 200, NULL, CODE_OK},
    {"code: public client pkce ok", EP_TOKEN, 0, NULL,
     AC "code={code_spa}&" SPA_CB "&code_verifier=" VERIFIER "&client_id=spa", 200, NULL, CODE_OK},
    {"code: missing code", EP_TOKEN, 0, RP1_BASIC, AC RP1_CB, 400, "invalid_request", NULL},
    {"code: unknown code", EP_TOKEN, 0, RP1_BASIC,
     AC "code=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&" RP1_CB, 400, "invalid_grant", NULL},
    {"code: malformed code", EP_TOKEN, 0, RP1_BASIC, AC "code=short&" RP1_CB, 400, "invalid_grant",
     NULL},
    {"code: wrong redirect_uri", EP_TOKEN, 0, RP1_BASIC,
     AC "code={code}&redirect_uri=https%3A%2F%2Frp.example%2Fcb2", 400, "invalid_grant", NULL},
    {"code: redirect_uri differs in case", EP_TOKEN, 0, RP1_BASIC,
     AC "code={code}&redirect_uri=https%3A%2F%2FRP.example%2Fcb", 400, "invalid_grant", NULL},
    {"code: missing redirect_uri", EP_TOKEN, 0, RP1_BASIC, AC "code={code}", 400, "invalid_request",
     NULL},
    {"code: code of another client", EP_TOKEN, 0, RP1_BASIC, AC "code={code_rp2}&" RP1_CB, 400,
     "invalid_grant", NULL},
    {"code: code of another client, its redirect_uri", EP_TOKEN, 0, RP1_BASIC,
     AC "code={code_rp2}&redirect_uri=https%3A%2F%2Frp2.example%2Fcb", 400, "invalid_grant", NULL},
    {"code: pkce verifier missing", EP_TOKEN, 0, RP1_BASIC, AC "code={code_pkce}&" RP1_CB, 400,
     "invalid_grant", NULL},
    {"code: public client without verifier", EP_TOKEN, 0, NULL,
     AC "code={code_spa}&" SPA_CB "&client_id=spa", 400, "invalid_grant", NULL},
    {"code: pkce verifier wrong", EP_TOKEN, 0, RP1_BASIC,
     AC "code={code_pkce}&" RP1_CB "&code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXX",
     400, "invalid_grant", NULL},
    {"code: pkce verifier too short", EP_TOKEN, 0, RP1_BASIC,
     AC "code={code_pkce}&" RP1_CB "&code_verifier=dBjftJeZ4CVP", 400, "invalid_grant", NULL},
    {"code: pkce verifier is the challenge (plain)", EP_TOKEN, 0, RP1_BASIC,
     AC "code={code_pkce}&" RP1_CB "&code_verifier=" CHALLENGE, 400, "invalid_grant", NULL},
    /* RFC 9700 §2.1.1: a verifier without a challenge is refused */
    {"code: verifier without challenge", EP_TOKEN, 0, RP1_BASIC,
     AC "code={code}&" RP1_CB "&code_verifier=" VERIFIER, 400, "invalid_grant", NULL},
    /* RFC 6749 §3.2: an empty code_verifier is an omitted one */
    {"code: empty verifier without challenge", EP_TOKEN, 0, RP1_BASIC,
     AC "code={code}&" RP1_CB "&code_verifier=", 200, NULL, CODE_OK},
    {"code: replay", EP_TOKEN, 0, RP1_BASIC, AC "code={code_used}&" RP1_CB, 400, "invalid_grant",
     NULL},
    {"code: expired", EP_TOKEN, 0, RP1_BASIC, AC "code={code_expired}&" RP1_CB, 400,
     "invalid_grant", NULL},
    {"code: client without the code grant", EP_TOKEN, 0, SVC_BASIC, AC "code={code}&" RP1_CB, 400,
     "unauthorized_client", NULL},
    {"code: client without refresh gets none", EP_TOKEN, 0, "Basic:nore:{nore_secret}",
     AC "code={code_nore}&redirect_uri=https%3A%2F%2Fnore.example%2Fcb", 200, NULL,
     "id_token !refresh_token scope=openid"},

    /* refresh_token (RFC 6749 §6, RFC 9700 §4.14.2) */
    {"refresh: ok, rotated", EP_TOKEN, 0, RP1_BASIC, RT "refresh_token={refresh}", 200, NULL,
     "refresh_token scope=openid+profile"},
    {"refresh: public client ok", EP_TOKEN, 0, NULL, RT "refresh_token={refresh_spa}&client_id=spa",
     200, NULL, "refresh_token"},
    {"refresh: missing refresh_token", EP_TOKEN, 0, RP1_BASIC, RT "scope=openid", 400,
     "invalid_request", NULL},
    {"refresh: unknown", EP_TOKEN, 0, RP1_BASIC,
     RT "refresh_token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 400, "invalid_grant", NULL},
    {"refresh: issued to another client", EP_TOKEN, 0, RP2_BASIC, RT "refresh_token={refresh}", 400,
     "invalid_grant", NULL},
    {"refresh: reused", EP_TOKEN, 0, RP1_BASIC, RT "refresh_token={refresh_used}", 400,
     "invalid_grant", NULL},
    {"refresh: narrower scope", EP_TOKEN, 0, RP1_BASIC, RT "refresh_token={refresh}&scope=openid",
     200, NULL, "scope=openid"},
    {"refresh: wider scope", EP_TOKEN, 0, RP1_BASIC,
     RT "refresh_token={refresh}&scope=openid+profile+email", 400, "invalid_scope", NULL},
    /* a disabled citizen's grants are revoked, and stay so when the citizen is enabled
     * again; refused as well when the citizen's record was disabled without revocation */
    {"refresh: citizen disabled", EP_TOKEN, 0, RP1_BASIC, RT "refresh_token={refresh@disabled}",
     400, "invalid_grant", NULL},
    {"refresh: citizen enabled again", EP_TOKEN, 0, RP1_BASIC,
     RT "refresh_token={refresh@reenabled}", 400, "invalid_grant", NULL},
    {"refresh: citizen disabled, nothing revoked", EP_TOKEN, 0, RP1_BASIC,
     RT "refresh_token={refresh@hand-disabled}", 400, "invalid_grant", NULL},
    {"refresh: citizen record without its state", EP_TOKEN, 0, RP1_BASIC,
     RT "refresh_token={refresh@stateless}", 400, "invalid_grant", NULL},
    {"refresh: client without the refresh grant", EP_TOKEN, 0, "Basic:nore:{nore_secret}",
     RT "refresh_token={refresh}", 400, "unauthorized_client", NULL},
    {"refresh: machine client", EP_TOKEN, 0, SVC_BASIC, RT "refresh_token={refresh}", 400,
     "unauthorized_client", NULL},

    /* client_credentials (RFC 6749 §4.4) */
    {"cc: ok with scope", EP_TOKEN, 0, SVC_BASIC, CC "&scope=city", 200, NULL,
     "scope=city !refresh_token !id_token"},
    {"cc: ok without scope", EP_TOKEN, 0, SVC_BASIC, CC, 200, NULL, "!refresh_token !id_token"},
    {"cc: not allowed for the client", EP_TOKEN, 0, RP1_BASIC, CC, 400, "unauthorized_client",
     NULL},
    {"cc: public client", EP_TOKEN, 0, NULL, CC "&client_id=spa", 400, "unauthorized_client", NULL},
    {"cc: scope outside the client's", EP_TOKEN, 0, SVC_BASIC, CC "&scope=profile", 400,
     "invalid_scope", NULL},
    {"cc: unknown scope", EP_TOKEN, 0, SVC_BASIC, CC "&scope=admin", 400, "invalid_scope", NULL},
    {"cc: openid refused", EP_TOKEN, 0, SVC_BASIC, CC "&scope=openid+city", 400, "invalid_scope",
     NULL},
    {"cc: offline_access refused", EP_TOKEN, 0, SVC_BASIC, CC "&scope=offline_access", 400,
     "invalid_scope", NULL},

    /* introspection (RFC 7662) */
    {"introspect: GET", EP_INTROSPECT, F_GET, RP1_BASIC, "token={at}", 400, "invalid_request",
     NULL},
    {"introspect: unauthenticated", EP_INTROSPECT, 0, NULL, "token={at}", 401, "invalid_client",
     NULL},
    {"introspect: wrong secret", EP_INTROSPECT, 0, "Basic:rp1:{rp2_secret}", "token={at}", 401,
     "invalid_client", NULL},
    {"introspect: public client", EP_INTROSPECT, 0, NULL, "token={at_spa}&client_id=spa", 401,
     "invalid_client", NULL},
    {"introspect: token missing", EP_INTROSPECT, 0, RP1_BASIC, "token_type_hint=access_token", 400,
     "invalid_request", NULL},
    {"introspect: own access token", EP_INTROSPECT, 0, RP1_BASIC, "token={at}", 200, NULL,
     "active=true client_id=rp1 token_type=Bearer scope=openid+profile sub exp iss"},
    {"introspect: own access token, post", EP_INTROSPECT, 0, NULL, "token={at}&" RP1_POST, 200,
     NULL, "active=true"},
    {"introspect: own refresh token", EP_INTROSPECT, 0, RP1_BASIC,
     "token={refresh}&token_type_hint=refresh_token", 200, NULL, "active=true client_id=rp1 sub"},
    {"introspect: used refresh token", EP_INTROSPECT, 0, RP1_BASIC, "token={refresh_used}", 200,
     NULL, "active=false !client_id"},
    {"introspect: client_credentials token", EP_INTROSPECT, 0, SVC_BASIC, "token={at_svc}", 200,
     NULL, "active=true client_id=svc sub=svc scope=city"},
    {"introspect: access token of another client", EP_INTROSPECT, 0, RP2_BASIC, "token={at}", 200,
     NULL, "active=false !client_id !sub !scope"},
    {"introspect: refresh token of another client", EP_INTROSPECT, 0, RP2_BASIC, "token={refresh}",
     200, NULL, "active=false !client_id !sub"},
    {"introspect: garbage", EP_INTROSPECT, 0, RP1_BASIC, "token=not-a-token", 200, NULL,
     "active=false"},
    {"introspect: access token, citizen disabled", EP_INTROSPECT, 0, RP1_BASIC,
     "token={at@disabled}", 200, NULL, "active=false !sub !client_id"},
    {"introspect: refresh token, citizen disabled", EP_INTROSPECT, 0, RP1_BASIC,
     "token={refresh@disabled}", 200, NULL, "active=false !sub !client_id"},
    {"introspect: access token, citizen enabled again", EP_INTROSPECT, 0, RP1_BASIC,
     "token={at@reenabled}", 200, NULL, "active=false !sub"},
    {"introspect: refresh token, citizen enabled again", EP_INTROSPECT, 0, RP1_BASIC,
     "token={refresh@reenabled}", 200, NULL, "active=false !sub"},
    {"introspect: access token, citizen disabled, nothing revoked", EP_INTROSPECT, 0, RP1_BASIC,
     "token={at@hand-disabled}", 200, NULL, "active=false !sub"},
    {"introspect: refresh token, citizen disabled, nothing revoked", EP_INTROSPECT, 0, RP1_BASIC,
     "token={refresh@hand-disabled}", 200, NULL, "active=false !sub"},
    {"introspect: access token, citizen record without its state", EP_INTROSPECT, 0, RP1_BASIC,
     "token={at@stateless}", 200, NULL, "active=false !sub"},
    {"introspect: garbage jwt", EP_INTROSPECT, 0, RP1_BASIC, "token=a.b.c", 200, NULL,
     "active=false"},

    /* revocation (RFC 7009) */
    {"revoke: GET", EP_REVOKE, F_GET, RP1_BASIC, "token={refresh}", 400, "invalid_request", NULL},
    {"revoke: unauthenticated", EP_REVOKE, 0, NULL, "token={refresh}", 401, "invalid_client", NULL},
    {"revoke: wrong secret", EP_REVOKE, 0, "Basic:rp1:{rp2_secret}", "token={refresh}", 401,
     "invalid_client", NULL},
    {"revoke: token missing", EP_REVOKE, 0, RP1_BASIC, "token_type_hint=refresh_token", 400,
     "invalid_request", NULL},
    {"revoke: own refresh token", EP_REVOKE, 0, RP1_BASIC, "token={refresh}", 200, NULL, NULL},
    {"revoke: own access token", EP_REVOKE, 0, RP1_BASIC, "token={at}&token_type_hint=access_token",
     200, NULL, NULL},
    {"revoke: public client own token", EP_REVOKE, 0, NULL, "token={refresh_spa}&client_id=spa",
     200, NULL, NULL},
    {"revoke: unknown token", EP_REVOKE, 0, RP1_BASIC,
     "token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 200, NULL, NULL},
    {"revoke: garbage jwt", EP_REVOKE, 0, RP1_BASIC, "token=a.b.c", 200, NULL, NULL},
    {"revoke: refresh token of another client", EP_REVOKE, 0, RP2_BASIC, "token={refresh}", 200,
     NULL, NULL},
    {"revoke: access token of another client", EP_REVOKE, 0, RP2_BASIC, "token={at}", 200, NULL,
     NULL},
};

/* Runs one row; returns the number of problems found (each printed). */
static int run_row(struct fixture *f, const struct row *r)
{
	char auth[2048];
	char form[8192];
	struct cid_reply reply = {0};
	json_t *body = NULL;
	const char *error = NULL;
	int bad = 0;

	if (r->auth != NULL)
		authorization_of(f, r->auth, auth, sizeof(auth));
	expand(f, r->form, form, sizeof(form));
	call(f, r->ep, r->auth == NULL ? NULL : auth, form, (r->flags & F_GET) == 0,
	     (r->flags & F_NOT_FORM) == 0, &reply);
	body = body_of(&reply);
	if (reply.body != NULL && body == NULL) {
		print_error("%s: body is not JSON: %s\n", r->name, reply.body);
		bad++;
	}
	error = json_string_value(json_object_get(body, "error"));
	if (reply.status != r->status) {
		print_error("%s: expected status %d, got %d (%s)\n", r->name, r->status,
			    reply.status, reply.body == NULL ? "no body" : reply.body);
		bad++;
	}
	if (r->error != NULL) {
		if (error == NULL || strcmp(error, r->error) != 0) {
			print_error("%s: expected error %s, got %s\n", r->name, r->error,
				    error == NULL ? "(none)" : error);
			bad++;
		} else if (!json_is_string(json_object_get(body, "error_description"))) {
			print_error("%s: no error_description\n", r->name);
			bad++;
		}
	} else if (error != NULL) {
		print_error("%s: unexpected error %s (%s)\n", r->name, error,
			    json_string_value(json_object_get(body, "error_description")));
		bad++;
	}
	/*= RFC 6749 §5.2: a client that authenticated with the Authorization header
	 *# gets 401 with WWW-Authenticate of its scheme */
	if (reply.status == 401 && r->auth != NULL &&
	    (reply.www_authenticate == NULL ||
	     strncasecmp(reply.www_authenticate, "Basic", 5) != 0)) {
		print_error("%s: 401 without WWW-Authenticate: Basic\n", r->name);
		bad++;
	}
	if (reply.status != 401 && reply.www_authenticate != NULL) {
		print_error("%s: WWW-Authenticate on a %d\n", r->name, reply.status);
		bad++;
	}
	if (r->error == NULL && r->ep == EP_TOKEN && reply.status == 200) {
		/*= RFC 6749 §5.1: access_token, token_type, expires_in; no-store */
		const json_t *exp = json_object_get(body, "expires_in");

		if (json_string_value(json_object_get(body, "access_token")) == NULL ||
		    json_string_value(json_object_get(body, "token_type")) == NULL ||
		    strcasecmp(json_string_value(json_object_get(body, "token_type")), "Bearer") !=
			0 ||
		    !json_is_integer(exp) || json_integer_value(exp) <= 0 || !reply.no_store) {
			print_error("%s: incomplete token response %s\n", r->name,
				    reply.body == NULL ? "" : reply.body);
			bad++;
		}
	}
	if (r->error == NULL && r->ep == EP_INTROSPECT && reply.status == 200 &&
	    !json_is_boolean(json_object_get(body, "active"))) {
		print_error("%s: no active member\n", r->name);
		bad++;
	}
	if (r->members == NULL || reply.status != r->status)
		; /* members of an unexpected reply are noise */
	else if (body != NULL)
		bad += check_members(r->name, body, r->members);
	else {
		print_error("%s: no JSON body\n", r->name);
		bad++;
	}
	json_decref(body);
	cid_reply_free(&reply);
	return bad;
}

static void test_endpoint_table(void **state)
{
	struct fixture *f = *state;
	size_t n = sizeof(rows) / sizeof(rows[0]);
	size_t failed = 0;

	for (size_t i = 0; i < n; i++)
		if (run_row(f, &rows[i]) > 0)
			failed++;
	if (failed > 0)
		fail_msg("%zu of %zu rows failed", failed, n);
}

/* ---- sequences the table cannot express ---- */

static void test_code_response_tokens(void **state)
{
	struct fixture *f = *state;
	json_t *body = redeem(f, RP1);
	struct cid_keyref *ref = cid_ctx_keys_acquire(f->ctx);
	const struct cid_keyset *ks = cid_keyref_keyset(ref);
	struct cid_client *client = NULL;
	const char *at = json_string_value(json_object_get(body, "access_token"));
	const char *idt = json_string_value(json_object_get(body, "id_token"));
	json_t *idc = NULL;
	struct cid_access *atc = NULL;
	struct cid_txn *txn = NULL;
	char sub[CID_TOKEN_CHARS + 1];
	char at_hash[44];

	assert_non_null(at);
	assert_non_null(idt);
	assert_int_equal(json_integer_value(json_object_get(body, "expires_in")),
			 f->cfg->access_ttl);
	assert_string_equal(json_string_value(json_object_get(body, "scope")), "openid profile");
	assert_int_equal(cid_client_get(cid_ctx_store(f->ctx), "rp1", &client), CID_OK);
	cid_token_subject(f->ctx, NULL, client, f->account, sub);
	/* the ID token (OIDC Core §3.1.3.7) */
	assert_int_equal(cid_jws_verify(ks, idt, strlen(idt), "JWT", &idc), CID_OK);
	assert_string_equal(json_string_value(json_object_get(idc, "iss")), f->cfg->issuer);
	assert_string_equal(json_string_value(json_object_get(idc, "aud")), "rp1");
	assert_string_equal(json_string_value(json_object_get(idc, "azp")), "rp1");
	assert_string_equal(json_string_value(json_object_get(idc, "sub")), sub);
	assert_string_equal(json_string_value(json_object_get(idc, "nonce")), "n-1");
	assert_string_equal(json_string_value(json_object_get(idc, "given_name")), "花子");
	assert_null(json_object_get(idc, "resident_district")); /* city scope not granted */
	assert_int_equal(json_integer_value(json_object_get(idc, "auth_time")), NOW);
	assert_int_equal(cid_jose_half_hash("ES256", at, at_hash), CID_OK);
	assert_string_equal(json_string_value(json_object_get(idc, "at_hash")), at_hash);
	/* the access token (RFC 9068) */
	assert_int_equal(cid_store_read_begin(cid_ctx_store(f->ctx), &txn), CID_OK);
	assert_int_equal(cid_token_access_verify(f->ctx, ref, txn, at, AT, &atc, NULL), CID_OK);
	cid_store_read_end(txn);
	assert_string_equal(atc->client_id, "rp1");
	assert_string_equal(atc->sub, sub);
	assert_string_equal(atc->scope, "openid profile");
	json_decref(idc);
	cid_access_free(atc);
	cid_client_free(client);
	cid_keyref_put(ref);
	json_decref(body);
}

/*
 * The introspection answer of token (asked by client twice: the second time
 * the token is remembered, memo) is its metadata and nothing else: active,
 * token_type Bearer, and exactly the token's own scope, client_id, sub, exp,
 * iat, iss, jti, aud, auth_time and acr, each of the token's type and value.
 */
static void expect_metadata(struct fixture *f, int client, const char *token)
{
	static const char *const metadata[] = {"scope", "client_id", "sub", "exp",	 "iat",
					       "iss",	"jti",	     "aud", "auth_time", "acr"};
	struct cid_keyref *ref = cid_ctx_keys_acquire(f->ctx);
	json_t *claims = NULL;
	json_t *want = json_pack("{s:b, s:s}", "active", 1, "token_type", "Bearer");
	char form[4200];

	assert_non_null(want);
	assert_int_equal(
	    cid_jws_verify(cid_keyref_keyset(ref), token, strlen(token), "at+jwt", &claims),
	    CID_OK);
	for (size_t i = 0; i < sizeof(metadata) / sizeof(metadata[0]); i++) {
		json_t *v = json_object_get(claims, metadata[i]);

		if (v != NULL)
			assert_int_equal(json_object_set(want, metadata[i], v), 0);
	}
	snprintf(form, sizeof(form), "token=%s", token);
	for (int pass = 0; pass < 2; pass++) {
		json_t *got = post_as(f, EP_INTROSPECT, client, form, 200);

		if (!json_equal(got, want)) {
			char *g = json_dumps(got, JSON_SORT_KEYS);
			char *w = json_dumps(want, JSON_SORT_KEYS);

			fail_msg("pass %d: got %s, expected %s", pass, g, w);
		}
		json_decref(got);
	}
	json_decref(want);
	json_decref(claims);
	cid_keyref_put(ref);
}

/* A citizen's and a service's access token, introspected: their metadata, whole. */
static void test_introspection_is_the_token_metadata(void **state)
{
	struct fixture *f = *state;
	json_t *j = redeem(f, RP1);
	char at[CID_MAX_TOKEN];

	copy_member(j, "access_token", at, sizeof(at));
	json_decref(j);
	expect_metadata(f, RP1, at);
	j = post_as(f, EP_TOKEN, SVC, "grant_type=client_credentials&scope=city", 200);
	copy_member(j, "access_token", at, sizeof(at));
	json_decref(j);
	expect_metadata(f, SVC, at);
}

static bool introspect_active(struct fixture *f, int client, const char *token)
{
	char form[4200];
	json_t *j;
	bool active;

	snprintf(form, sizeof(form), "token=%s", token);
	j = post_as(f, EP_INTROSPECT, client, form, 200);
	assert_true(json_is_boolean(json_object_get(j, "active")));
	active = json_is_true(json_object_get(j, "active"));
	json_decref(j);
	return active;
}

static void refresh_expect(struct fixture *f, int client, const char *token, int status,
			   char next[CID_TOKEN_CHARS + 1])
{
	char form[256];
	json_t *j;

	snprintf(form, sizeof(form), "grant_type=refresh_token&refresh_token=%s", token);
	j = post_as(f, EP_TOKEN, client, form, status);
	if (status != 200)
		assert_string_equal(json_string_value(json_object_get(j, "error")),
				    "invalid_grant");
	else if (next != NULL)
		copy_member(j, "refresh_token", next, CID_TOKEN_CHARS + 1);
	json_decref(j);
}

/*= RFC 6749 §4.1.2: a code used twice is denied and the tokens issued from it
 *# SHOULD be revoked */
static void test_code_replay_revokes_tokens(void **state)
{
	struct fixture *f = *state;
	char code[CID_TOKEN_CHARS + 1];
	char form[512];
	char refresh[CID_TOKEN_CHARS + 1];
	char at[CID_MAX_TOKEN];
	json_t *j;

	issue_code(f, RP1, NULL, NOW, code);
	snprintf(form, sizeof(form), "grant_type=authorization_code&code=%s&redirect_uri=%s", code,
		 clients[RP1].redirect);
	j = post_as(f, EP_TOKEN, RP1, form, 200);
	copy_member(j, "refresh_token", refresh, sizeof(refresh));
	copy_member(j, "access_token", at, sizeof(at));
	json_decref(j);
	assert_true(introspect_active(f, RP1, at));
	j = post_as(f, EP_TOKEN, RP1, form, 400);
	assert_string_equal(json_string_value(json_object_get(j, "error")), "invalid_grant");
	json_decref(j);
	refresh_expect(f, RP1, refresh, 400, NULL);
	assert_false(introspect_active(f, RP1, at));
}

/*= RFC 9700 §4.14.2: a rotated-out refresh token presented again kills the family */
static void test_refresh_reuse_revokes_family(void **state)
{
	struct fixture *f = *state;
	json_t *j = redeem(f, RP1);
	char r1[CID_TOKEN_CHARS + 1];
	char r2[CID_TOKEN_CHARS + 1];

	copy_member(j, "refresh_token", r1, sizeof(r1));
	json_decref(j);
	/* another client's attempt neither works nor consumes the token */
	refresh_expect(f, RP2, r1, 400, NULL);
	refresh_expect(f, RP1, r1, 200, r2);
	assert_string_not_equal(r1, r2);
	assert_true(introspect_active(f, RP1, r2));
	assert_false(introspect_active(f, RP1, r1));
	refresh_expect(f, RP1, r1, 400, NULL);
	refresh_expect(f, RP1, r2, 400, NULL);
	assert_false(introspect_active(f, RP1, r2));
}

/*
 * RFC 6749 §5.2 and §6, RFC 9700 §4.14.2: a refused refresh request is an
 * error response, not a use: the refresh token and its grant stay as they
 * were, and the client can refresh with it afterwards. Only a replay of a
 * rotated-out token revokes the family (test_refresh_reuse_revokes_family).
 */
static void test_refused_refresh_leaves_the_token(void **state)
{
	static const struct {
		const char *name;
		const char *auth; /* Authorization template */
		const char *extra;
		int status;
		const char *error;
	} refusals[] = {
	    {"wider scope", RP1_BASIC, "&scope=openid+profile+email", 400, "invalid_scope"},
	    {"unknown scope", RP1_BASIC, "&scope=openid+admin", 400, "invalid_scope"},
	    {"another client", RP2_BASIC, "", 400, "invalid_grant"},
	    {"client without the refresh grant", "Basic:nore:{nore_secret}", "", 400,
	     "unauthorized_client"},
	    {"wrong client secret", "Basic:rp1:{rp2_secret}", "", 401, "invalid_client"},
	};
	struct fixture *f = *state;
	int bad = 0;

	for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
		char rt[CID_TOKEN_CHARS + 1];
		char at[CID_MAX_TOKEN];
		char next[CID_TOKEN_CHARS + 1];
		char auth[512];
		char form[512];
		struct cid_reply reply = {0};
		json_t *j = redeem(f, RP1);
		json_t *body;
		const char *error;

		copy_member(j, "refresh_token", rt, sizeof(rt));
		copy_member(j, "access_token", at, sizeof(at));
		json_decref(j);
		authorization_of(f, refusals[i].auth, auth, sizeof(auth));
		snprintf(form, sizeof(form), "grant_type=refresh_token&refresh_token=%s%s", rt,
			 refusals[i].extra);
		call(f, EP_TOKEN, auth, form, true, true, &reply);
		body = body_of(&reply);
		error = json_string_value(json_object_get(body, "error"));
		if (reply.status != refusals[i].status || error == NULL ||
		    strcmp(error, refusals[i].error) != 0) {
			print_error("%s: got %d %s\n", refusals[i].name, reply.status,
				    reply.body == NULL ? "" : reply.body);
			bad++;
		}
		json_decref(body);
		cid_reply_free(&reply);
		/* the grant and the token are intact: both live, and the token refreshes */
		if (!introspect_active(f, RP1, rt) || !introspect_active(f, RP1, at)) {
			print_error("%s: the refusal revoked the grant or spent the token\n",
				    refusals[i].name);
			bad++;
			continue;
		}
		refresh_expect(f, RP1, rt, 200, next);
		assert_true(introspect_active(f, RP1, next));
	}
	if (bad > 0)
		fail_msg("%d refused refresh requests changed the token", bad);
}

/* A narrower scope is granted for the one response; the grant keeps its scope (RFC 6749 §6). */
static void test_refresh_narrower_scope_keeps_the_grant(void **state)
{
	struct fixture *f = *state;
	char rt[CID_TOKEN_CHARS + 1];
	char form[512];
	json_t *j = redeem(f, RP1);

	copy_member(j, "refresh_token", rt, sizeof(rt));
	json_decref(j);
	snprintf(form, sizeof(form), "grant_type=refresh_token&refresh_token=%s&scope=openid", rt);
	j = post_as(f, EP_TOKEN, RP1, form, 200);
	assert_string_equal(json_string_value(json_object_get(j, "scope")), "openid");
	copy_member(j, "refresh_token", rt, sizeof(rt));
	json_decref(j);
	snprintf(form, sizeof(form), "grant_type=refresh_token&refresh_token=%s", rt);
	j = post_as(f, EP_TOKEN, RP1, form, 200);
	assert_string_equal(json_string_value(json_object_get(j, "scope")), "openid profile");
	json_decref(j);
}

static void revoke_as(struct fixture *f, int client, const char *token)
{
	char form[4200];
	struct cid_reply reply = {0};
	char creds[256];

	post_creds(f, client, creds, sizeof(creds));
	snprintf(form, sizeof(form), "token=%s&%s", token, creds);
	call(f, EP_REVOKE, NULL, form, true, true, &reply);
	assert_int_equal(reply.status, 200);
	cid_reply_free(&reply);
}

/*= RFC 7009 §2.1: a client revokes only its own tokens; revoking a refresh token
 *# also invalidates the access tokens of the same grant */
static void test_revocation_effects(void **state)
{
	struct fixture *f = *state;
	json_t *a = redeem(f, RP1);
	json_t *b = redeem(f, RP1);
	const char *a_rt = json_string_value(json_object_get(a, "refresh_token"));
	const char *a_at = json_string_value(json_object_get(a, "access_token"));
	const char *b_rt = json_string_value(json_object_get(b, "refresh_token"));
	const char *b_at = json_string_value(json_object_get(b, "access_token"));
	char next[CID_TOKEN_CHARS + 1];

	/* another client's revocation is answered 200 but changes nothing */
	revoke_as(f, RP2, a_rt);
	revoke_as(f, RP2, a_at);
	assert_true(introspect_active(f, RP1, a_at));
	assert_true(introspect_active(f, RP1, a_rt));
	/* the owner revokes the refresh token: the grant's access token dies too */
	revoke_as(f, RP1, a_rt);
	assert_false(introspect_active(f, RP1, a_rt));
	assert_false(introspect_active(f, RP1, a_at));
	refresh_expect(f, RP1, a_rt, 400, NULL);
	/* revoking an access token leaves its refresh token usable */
	revoke_as(f, RP1, b_at);
	assert_false(introspect_active(f, RP1, b_at));
	assert_true(introspect_active(f, RP1, b_rt));
	refresh_expect(f, RP1, b_rt, 200, next);
	/* revoking twice is still 200 */
	revoke_as(f, RP1, b_at);
	json_decref(a);
	json_decref(b);
}

/*
 * RFC 9110 §15.5.2 (and RFC 6749 §5.2, which allows 401 for invalid_client "to
 * indicate which HTTP authentication schemes are supported"): a server
 * generating a 401 MUST send WWW-Authenticate, whatever way the client tried.
 */
static void test_every_401_has_www_authenticate(void **state)
{
	static const struct {
		enum endpoint ep;
		const char *form;
	} cases[] = {
	    {EP_TOKEN, CC "&client_id=svc&client_secret=wrong"},
	    {EP_TOKEN, CC "&client_id=nobody&client_secret=x"},
	    {EP_TOKEN, CC},
	    {EP_TOKEN, AC "code=x&" SPA_CB "&client_id=spa&client_secret=x"},
	    {EP_INTROSPECT, "token=x"},
	    {EP_INTROSPECT, "token=x&client_id=spa"},
	    {EP_REVOKE, "token=x&client_id=rp1&client_secret=wrong"},
	};
	struct fixture *f = *state;
	int bad = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cid_reply reply = {0};

		call(f, cases[i].ep, NULL, cases[i].form, true, true, &reply);
		assert_int_equal(reply.status, 401);
		if (reply.www_authenticate == NULL) {
			print_error("401 without WWW-Authenticate: %s\n", cases[i].form);
			bad++;
		}
		cid_reply_free(&reply);
	}
	if (bad > 0)
		fail_msg("%d 401 replies without WWW-Authenticate", bad);
}

/* A disabled citizen's grant yields no more tokens. */
static void test_disabled_citizen_refresh_refused(void **state)
{
	struct fixture *f = *state;
	json_t *j = redeem(f, RP1);
	char rt[CID_TOKEN_CHARS + 1];

	copy_member(j, "refresh_token", rt, sizeof(rt));
	json_decref(j);
	assert_int_equal(cid_account_set_disabled(cid_ctx_store(f->ctx), "hanako", true, NOW),
			 CID_OK);
	refresh_expect(f, RP1, rt, 400, NULL);
}

/* The error_description of an invalid_grant answer to form, into out. */
static void grant_refusal(struct fixture *f, int client, const char *form, char *out, size_t outsz)
{
	json_t *j = post_as(f, EP_TOKEN, client, form, 400);

	assert_string_equal(json_string_value(json_object_get(j, "error")), "invalid_grant");
	copy_member(j, "error_description", out, outsz);
	json_decref(j);
}

/*
 * Issue 9 item 10: a service is not told that a citizen's account is
 * disabled. Its code and refresh token are refused as a revoked grant's are,
 * in the same words.
 */
static void test_disabled_citizen_refusal_says_nothing_of_the_account(void **state)
{
	struct fixture *f = *state;
	json_t *j = redeem(f, RP1);
	char rt[CID_TOKEN_CHARS + 1];
	char next[CID_TOKEN_CHARS + 1];
	char code[CID_TOKEN_CHARS + 1];
	char form[512];
	char revoked[256];
	char disabled[256];
	static const char *const telling[] = {"disabled", "active", "account", "citizen"};

	/* the words for a revoked grant: a refresh token used twice */
	copy_member(j, "refresh_token", rt, sizeof(rt));
	json_decref(j);
	refresh_expect(f, RP1, rt, 200, next);
	snprintf(form, sizeof(form), "grant_type=refresh_token&refresh_token=%s", rt);
	grant_refusal(f, RP1, form, revoked, sizeof(revoked));

	j = redeem(f, RP1);
	copy_member(j, "refresh_token", rt, sizeof(rt));
	json_decref(j);
	issue_code(f, RP1, NULL, NOW, code);
	assert_int_equal(cid_account_set_disabled(cid_ctx_store(f->ctx), "hanako", true, NOW),
			 CID_OK);
	snprintf(form, sizeof(form), "grant_type=refresh_token&refresh_token=%s", rt);
	grant_refusal(f, RP1, form, disabled, sizeof(disabled));
	assert_string_equal(disabled, revoked);
	snprintf(form, sizeof(form), "grant_type=authorization_code&code=%s&redirect_uri=%s", code,
		 clients[RP1].redirect);
	grant_refusal(f, RP1, form, disabled, sizeof(disabled));
	assert_string_equal(disabled, revoked);
	for (size_t i = 0; i < sizeof(telling) / sizeof(telling[0]); i++)
		assert_null(strstr(disabled, telling[i]));
}

/*
 * The same at the authorization endpoint: the SSO session of a citizen disabled
 * even behind account.c's back is no session any more, so the browser gets the
 * login page (where a disabled citizen's password fails like a wrong one), and
 * the service learns nothing from a redirect.
 */
static void test_disabled_citizen_authorize_says_nothing(void **state)
{
	static const char *const amr[] = {"pwd"};
	struct fixture *f = *state;
	char cookie[CID_TOKEN_CHARS + 1];
	struct cid_session sess;
	struct cid_reply reply = {0};
	static const char form[] = "response_type=code&client_id=rp1&scope=openid&state=s1"
				   "&redirect_uri=https%3A%2F%2Frp.example%2Fcb";
	struct cid_request req = {.session_cookie = cookie, .remote_addr = "192.0.2.7", .now = AT};

	assert_int_equal(cid_session_new(cid_ctx_store(f->ctx), f->account,
					 "urn:civicid:acr:password", amr, 1, NOW, 3600, cookie,
					 &sess),
			 CID_OK);
	cid_test_citizen_edit(cid_ctx_store(f->ctx), f->account, "disabled", json_true());
	assert_int_equal(cid_params_parse_form(&req.params, form, strlen(form)), CID_OK);
	assert_int_equal(cid_oidc_authorize(f->ctx, &req, &reply), CID_OK);
	cid_request_clear(&req);
	assert_null(reply.location);
	assert_int_equal(reply.page, CID_PAGE_LOGIN);
	cid_reply_free(&reply);
}

/* The code an authenticator shows for raw secret at t, into out[7]. */
static void code_at(const uint8_t *raw, size_t n, int64_t t, char out[7])
{
	uint32_t v = 0;

	assert_int_equal(cid_totp(CID_TOTP_SHA1, raw, n, t, CID_TOTP_DIGITS, &v), CID_OK);
	snprintf(out, 7, "%06u", v);
}

/*
 * The one-time-code step of a citizen whose codes are locked (CID_CODE_MAX_FAILURES
 * wrong ones in a row) says so, and does not take even the right code.
 */
static void test_totp_step_of_a_locked_citizen_says_locked(void **state)
{
	static const char *const amr[] = {"pwd"};
	static const char authz[] = "response_type=code&client_id=rp1&scope=openid&state=s1"
				    "&redirect_uri=https%3A%2F%2Frp.example%2Fcb"
				    "&acr_values=urn%3Acivicid%3Aacr%3Amfa";
	struct fixture *f = *state;
	struct cid_store *s = cid_ctx_store(f->ctx);
	char *secret = NULL;
	uint8_t raw[CID_TOTP_SECRET_MAX];
	size_t raw_len = 0;
	char near[3][7];
	char wrong[7];
	char code[7];
	char cookie[CID_TOKEN_CHARS + 1];
	char csrf[CID_TOKEN_CHARS + 1];
	char form[512];
	struct cid_session sess;
	struct cid_reply page = {0};
	struct cid_reply r = {0};
	struct cid_request get = {.session_cookie = cookie, .csrf_cookie = csrf, .now = AT};
	struct cid_request post = {.post = true,
				   .form_content_type = true,
				   .session_cookie = cookie,
				   .csrf_cookie = csrf,
				   .remote_addr = "192.0.2.7",
				   .now = AT};

	assert_int_equal(cid_account_totp_enrol(s, "hanako", false, NOW, &secret, NULL), CID_OK);
	assert_int_equal(cid_base32_decode(secret, strlen(secret), raw, sizeof(raw), &raw_len),
			 CID_OK);
	free(secret);
	for (int i = 0; i < CID_CODE_MAX_FAILURES; i++) {
		int64_t t = NOW + (int64_t)(i + 1) * 1000;

		code_at(raw, raw_len, t - CID_TOTP_STEP, near[0]);
		code_at(raw, raw_len, t, near[1]);
		code_at(raw, raw_len, t + CID_TOTP_STEP, near[2]);
		for (unsigned g = 0;; g++) {
			snprintf(wrong, sizeof(wrong), "%06u", g);
			if (strcmp(wrong, near[0]) != 0 && strcmp(wrong, near[1]) != 0 &&
			    strcmp(wrong, near[2]) != 0)
				break;
		}
		assert_int_equal(cid_account_totp_check(s, f->account, wrong, NULL, t, NULL),
				 CID_ERR_DENIED);
	}
	assert_int_equal(cid_session_new(s, f->account, "urn:civicid:acr:password", amr, 1, NOW,
					 3600, cookie, &sess),
			 CID_OK);
	assert_int_equal(cid_random_token(csrf), CID_OK);
	assert_int_equal(cid_params_parse_form(&get.params, authz, strlen(authz)), CID_OK);
	assert_int_equal(cid_oidc_authorize(f->ctx, &get, &page), CID_OK);
	cid_request_clear(&get);
	assert_int_equal(page.page, CID_PAGE_TOTP);
	code_at(raw, raw_len, AT, code);
	snprintf(form, sizeof(form), "req=%s&csrf=%s&code=%s",
		 json_string_value(json_object_get(page.page_data, "req")),
		 json_string_value(json_object_get(page.page_data, "csrf")), code);
	assert_int_equal(cid_params_parse_form(&post.params, form, strlen(form)), CID_OK);
	assert_int_equal(cid_oidc_totp(f->ctx, &post, &r), CID_OK);
	cid_request_clear(&post);
	assert_int_equal(r.page, CID_PAGE_TOTP);
	assert_true(json_is_true(json_object_get(r.page_data, "msg_locked")));
	assert_null(r.location);
	cid_reply_free(&page);
	cid_reply_free(&r);
}

/* ---- the release point behind the endpoints ---- */

struct audit_log {
	int calls;
	enum cid_release_target target;
	char account[CID_ID_CHARS + 1];
	char seen[512]; /* "attribute=reason " of the last call */
	enum cid_err fail_with;
};

static enum cid_err audit_cb(void *arg, const struct cid_release_event *ev,
			     struct cid_audit_range *range)
{
	struct audit_log *log = arg;
	size_t len = 0;

	(void)range;
	log->calls++;
	log->target = ev->target;
	snprintf(log->account, sizeof(log->account), "%s", ev->account_id);
	log->seen[0] = '\0';
	for (size_t i = 0; i < ev->n_decisions; i++)
		len += (size_t)snprintf(log->seen + len, sizeof(log->seen) - len, "%s=%s ",
					ev->decisions[i].attribute,
					cid_reason_name(ev->decisions[i].decision.reason));
	assert_string_equal(ev->service, "rp1");
	return log->fail_with;
}

/* Calls userinfo with a bearer token; the reply's status and body. */
static json_t *userinfo(struct fixture *f, const char *at, int expect_status)
{
	char authorization[CID_MAX_TOKEN + 16];
	struct cid_request req = {.authorization = authorization, .now = AT};
	struct cid_reply reply = {0};
	json_t *j;

	snprintf(authorization, sizeof(authorization), "Bearer %s", at);
	assert_int_equal(cid_oidc_userinfo(f->ctx, &req, &reply), CID_OK);
	assert_int_equal(reply.status, expect_status);
	j = body_of(&reply);
	cid_reply_free(&reply);
	return j;
}

struct userinfo_row {
	const char *name;
	const char *authorization;
	const char *form; /* POSTed form body, or NULL for a GET */
	int status;
	const char *error; /* NULL: neither in the challenge nor a body */
};

/* Calls userinfo as row says; true if the reply is the row's refusal. */
static bool userinfo_refuses(struct fixture *f, const struct userinfo_row *row)
{
	struct cid_request req = {.post = row->form != NULL,
				  .form_content_type = row->form != NULL,
				  .authorization = row->authorization,
				  .now = AT};
	struct cid_reply reply = {0};
	const char *www;
	char want[64];
	json_t *body;
	bool ok;

	if (row->form != NULL)
		assert_int_equal(cid_params_parse_form(&req.params, row->form, strlen(row->form)),
				 CID_OK);
	assert_int_equal(cid_oidc_userinfo(f->ctx, &req, &reply), CID_OK);
	www = reply.www_authenticate == NULL ? "" : reply.www_authenticate;
	body = body_of(&reply);
	ok = reply.status == row->status && strncmp(www, "Bearer ", 7) == 0;
	if (row->error == NULL) {
		ok = ok && strstr(www, "error=") == NULL && reply.body == NULL;
	} else {
		snprintf(want, sizeof(want), "error=\"%s\"", row->error);
		ok = ok && strstr(www, want) != NULL &&
		     cid_str_eq(cid_str_of(json_string_value(json_object_get(body, "error"))),
				row->error);
	}
	if (!ok)
		print_error("%s: got %d, WWW-Authenticate: %s, body %s\n", row->name, reply.status,
			    www, reply.body == NULL ? "(none)" : reply.body);
	json_decref(body);
	cid_reply_free(&reply);
	cid_request_clear(&req);
	return ok;
}

/*= RFC 6750 §3.1: each refusal of userinfo carries its status and, when the
 *# request carried a token, the error in the WWW-Authenticate: Bearer challenge */
static void test_userinfo_refusals(void **state)
{
	struct fixture *f = *state;
	char rt[CID_TOKEN_CHARS + 1];
	char at[CID_MAX_TOKEN];
	char tok[CID_MAX_TOKEN];
	char bearer[CID_MAX_TOKEN + 16];
	char narrow[CID_MAX_TOKEN + 16];
	char svc[CID_MAX_TOKEN + 16];
	char twice[CID_MAX_TOKEN + 16];
	char reenabled[CID_MAX_TOKEN + 16];
	char hand[CID_MAX_TOKEN + 16];
	char stateless[CID_MAX_TOKEN + 16];
	char form[256];
	json_t *j = redeem(f, RP1);
	int bad = 0;

	copy_member(j, "refresh_token", rt, sizeof(rt));
	copy_member(j, "access_token", at, sizeof(at));
	json_decref(j);
	snprintf(bearer, sizeof(bearer), "Bearer %s", at);
	snprintf(twice, sizeof(twice), "access_token=%s", at);
	/* a grant's token narrowed to profile: no openid scope */
	snprintf(form, sizeof(form), "grant_type=refresh_token&refresh_token=%s&scope=profile", rt);
	j = post_as(f, EP_TOKEN, RP1, form, 200);
	copy_member(j, "access_token", tok, sizeof(tok));
	json_decref(j);
	snprintf(narrow, sizeof(narrow), "Bearer %s", tok);
	/* a service's own token: no citizen behind it */
	j = post_as(f, EP_TOKEN, SVC, "grant_type=client_credentials&scope=city", 200);
	copy_member(j, "access_token", tok, sizeof(tok));
	json_decref(j);
	snprintf(svc, sizeof(svc), "Bearer %s", tok);
	/* citizens enabled again, disabled without revocation, without a state */
	citizen_token(f, "access_token", "reenabled", 9, tok, sizeof(tok));
	snprintf(reenabled, sizeof(reenabled), "Bearer %s", tok);
	citizen_token(f, "access_token", "hand-disabled", 13, tok, sizeof(tok));
	snprintf(hand, sizeof(hand), "Bearer %s", tok);
	citizen_token(f, "access_token", "stateless", 9, tok, sizeof(tok));
	snprintf(stateless, sizeof(stateless), "Bearer %s", tok);

	const struct userinfo_row refusals[] = {
	    {"no token", NULL, NULL, 401, NULL},
	    {"token in header and form", bearer, twice, 400, "invalid_request"},
	    {"not a token", "Bearer a.b.c", NULL, 401, "invalid_token"},
	    {"client_credentials token", svc, NULL, 401, "invalid_token"},
	    {"token without openid", narrow, NULL, 403, "insufficient_scope"},
	    {"citizen enabled again", reenabled, NULL, 401, "invalid_token"},
	    {"citizen disabled, nothing revoked", hand, NULL, 401, "invalid_token"},
	    {"citizen record without its state", stateless, NULL, 401, "invalid_token"},
	};
	for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++)
		bad += userinfo_refuses(f, &refusals[i]) ? 0 : 1;
	/* a disabled citizen's live token reads nothing more */
	json_decref(userinfo(f, at, 200));
	assert_int_equal(cid_account_set_disabled(cid_ctx_store(f->ctx), "hanako", true, NOW),
			 CID_OK);
	json_decref(userinfo(f, at, 401));
	if (bad > 0)
		fail_msg("%d userinfo refusals wrong", bad);
}

/* ID token and userinfo claims are decided by the policy, each decision handed to the hook. */
static void test_release_decisions_reach_the_audit_hook(void **state)
{
	struct fixture *f = *state;
	struct audit_log log = {0};
	char at[CID_MAX_TOKEN];
	json_t *j;

	cid_ctx_set_audit_hook(f->ctx, audit_cb, &log);
	j = redeem(f, RP1); /* scope "openid profile" */
	copy_member(j, "access_token", at, sizeof(at));
	json_decref(j);
	assert_int_equal(log.calls, 1);
	assert_int_equal(log.target, CID_RELEASE_ID_TOKEN);
	assert_string_equal(log.account, f->account);
	/* profile asks for the name and updated_at (stored by civicid, not in rp1's
	 * policy); the district is not asked (no city scope): no decision about it */
	assert_string_equal(log.seen, "given_name=permit_statute updated_at=not_in_policy ");
	j = userinfo(f, at, 200);
	assert_int_equal(log.calls, 2);
	assert_int_equal(log.target, CID_RELEASE_USERINFO);
	assert_string_equal(json_string_value(json_object_get(j, "given_name")), "花子");
	assert_null(json_object_get(j, "resident_district"));
	json_decref(j);
	/* rp2 has no policy: it learns nothing but sub */
	cid_ctx_set_audit_hook(f->ctx, NULL, NULL);
	j = redeem(f, RP2);
	copy_member(j, "access_token", at, sizeof(at));
	json_decref(j);
	j = userinfo(f, at, 200);
	assert_int_equal(json_object_size(j), 1);
	assert_non_null(json_object_get(j, "sub"));
	json_decref(j);
}

/*
 * A refresh that asked for less: userinfo with its access token asks only
 * that scope's claims, though the grant keeps its own (RFC 6749 §6); the
 * next token of the full scope releases them again.
 */
static void test_userinfo_asks_the_tokens_scope(void **state)
{
	struct fixture *f = *state;
	struct audit_log log = {0};
	char rt[CID_TOKEN_CHARS + 1];
	char at[CID_MAX_TOKEN];
	char form[512];
	json_t *j = redeem(f, RP1); /* scope "openid profile" */

	copy_member(j, "refresh_token", rt, sizeof(rt));
	json_decref(j);
	snprintf(form, sizeof(form), "grant_type=refresh_token&refresh_token=%s&scope=openid", rt);
	j = post_as(f, EP_TOKEN, RP1, form, 200);
	copy_member(j, "refresh_token", rt, sizeof(rt));
	copy_member(j, "access_token", at, sizeof(at));
	json_decref(j);
	cid_ctx_set_audit_hook(f->ctx, audit_cb, &log);
	j = userinfo(f, at, 200);
	assert_int_equal(json_object_size(j), 1); /* sub */
	assert_non_null(json_object_get(j, "sub"));
	json_decref(j);
	/* nothing of profile was asked, so nothing was decided or recorded */
	assert_null(strstr(log.seen, "given_name"));
	snprintf(form, sizeof(form), "grant_type=refresh_token&refresh_token=%s", rt);
	j = post_as(f, EP_TOKEN, RP1, form, 200);
	copy_member(j, "access_token", at, sizeof(at));
	json_decref(j);
	j = userinfo(f, at, 200);
	assert_string_equal(json_string_value(json_object_get(j, "given_name")), "花子");
	assert_string_equal(log.seen, "given_name=permit_statute updated_at=not_in_policy ");
	json_decref(j);
}

static enum cid_err count_entry(uint64_t seq, struct cid_str entry, void *arg)
{
	(void)seq;
	(void)entry;
	(*(int *)arg)++;
	return CID_OK;
}

/* The release.permit entries of the account in the context's log. */
static int permits_logged(struct fixture *f)
{
	const struct cid_audit_filter filter = {.citizen = f->account, .type = "release.permit"};
	struct cid_txn *txn = NULL;
	int n = 0;

	assert_int_equal(cid_store_read_begin(cid_ctx_store(f->ctx), &txn), CID_OK);
	assert_int_equal(cid_audit_query(txn, &filter, count_entry, &n), CID_OK);
	cid_store_read_end(txn);
	return n;
}

static enum cid_err collect_entry(uint64_t seq, struct cid_str entry, void *arg)
{
	json_t *e = json_loadb(entry.ptr, entry.len, 0, NULL);

	(void)seq;
	assert_non_null(e);
	assert_int_equal(json_array_append_new(arg, e), 0);
	return CID_OK;
}

/* The entries of a release id, as `civicid audit query --release` finds them. */
static json_t *entries_of_release(struct fixture *f, const char *release)
{
	const struct cid_audit_filter filter = {.release = release};
	struct cid_txn *txn = NULL;
	json_t *all = json_array();

	assert_non_null(all);
	assert_int_equal(cid_store_read_begin(cid_ctx_store(f->ctx), &txn), CID_OK);
	assert_int_equal(cid_audit_query(txn, &filter, collect_entry, all), CID_OK);
	cid_store_read_end(txn);
	return all;
}

/*
 * Untouched, a context writes every release to its own log, and says where:
 * X-Civicid-Release is an opaque id, fresh per answer, that the log maps to
 * the answer's entries; never seqs, which would tell a service the city's
 * volume of releases.
 */
static void test_releases_are_logged_without_any_set_up(void **state)
{
	struct fixture *f = *state;
	char authorization[CID_MAX_TOKEN + 16];
	struct cid_request req = {.authorization = authorization, .now = AT};
	struct cid_reply reply = {0};
	struct cid_reply again = {0};
	json_t *j;
	json_t *entries;
	json_t *e;
	size_t i;

	assert_int_equal(permits_logged(f), 0);
	j = redeem(f, RP1); /* the ID token releases given_name */
	assert_int_equal(permits_logged(f), 1);
	snprintf(authorization, sizeof(authorization), "Bearer %s",
		 json_string_value(json_object_get(j, "access_token")));
	assert_int_equal(cid_oidc_userinfo(f->ctx, &req, &reply), CID_OK);
	assert_int_equal(reply.status, 200);
	assert_int_equal(permits_logged(f), 2);
	assert_non_null(reply.release);
	assert_true(cid_uuid_syntax_ok(reply.release)); /* only the id: no seq, no range */
	entries = entries_of_release(f, reply.release);
	assert_true(json_array_size(entries) >= 1);
	json_array_foreach(entries, i, e)
	{
		assert_string_equal(cid_json_str(e, "request_id"), reply.release);
		assert_string_equal(cid_json_str(e, "service"), clients[RP1].id);
		assert_string_equal(cid_json_str(e, "endpoint"), "userinfo");
		assert_int_equal(strncmp(cid_json_str(e, "type"), "release.", 8), 0);
	}
	json_decref(entries);
	/* the same question again: another id, mapped to other entries */
	assert_int_equal(cid_oidc_userinfo(f->ctx, &req, &again), CID_OK);
	assert_non_null(again.release);
	assert_string_not_equal(again.release, reply.release);
	/* time-ordered ids (UUID v7), so the log's release index grows at its end */
	assert_int_equal(reply.release[14], '7');
	assert_true(strncmp(again.release, reply.release, 8) >= 0);
	entries = entries_of_release(f, again.release);
	assert_true(json_array_size(entries) >= 1);
	json_decref(entries);
	cid_reply_free(&again);
	cid_reply_free(&reply);
	json_decref(j);
}

/*
 * Asked to (audit_later), an answer holds its release's entries unwritten:
 * the log has none of them (permits_logged is still before) until they are
 * committed, then it has them. Commits and clears reply->audit.
 */
static void assert_entries_left_then_written(struct fixture *f, struct cid_reply *reply, int before)
{
	json_t *entries;

	assert_non_null(reply->audit);
	assert_true(cid_audit_pending_count(reply->audit) >= 1);
	assert_non_null(reply->release);
	assert_int_equal(permits_logged(f), before);
	assert_int_equal(json_array_size(entries = entries_of_release(f, reply->release)), 0);
	json_decref(entries);
	assert_int_equal(cid_audit_pending_commit(reply->audit), CID_OK);
	reply->audit = NULL;
	assert_int_equal(permits_logged(f), before + 1);
	entries = entries_of_release(f, reply->release);
	assert_true(json_array_size(entries) >= 1);
	json_decref(entries);
}

/*
 * Asked to (audit_later, as the server asks), userinfo leaves its entries to
 * the caller: the answer holds them unwritten, and the log has them only
 * once the caller writes them. Another hook than the log's is still called
 * before the answer, which then holds nothing to write.
 */
static void test_userinfo_leaves_its_entries_to_the_caller_when_asked(void **state)
{
	struct fixture *f = *state;
	char authorization[CID_MAX_TOKEN + 16];
	struct cid_request req = {.authorization = authorization, .now = AT, .audit_later = true};
	struct cid_reply reply = {0};
	struct audit_log log = {0};
	json_t *j = redeem(f, RP1);

	snprintf(authorization, sizeof(authorization), "Bearer %s",
		 json_string_value(json_object_get(j, "access_token")));
	assert_int_equal(permits_logged(f), 1); /* the ID token's */
	assert_int_equal(cid_oidc_userinfo(f->ctx, &req, &reply), CID_OK);
	assert_int_equal(reply.status, 200);
	assert_entries_left_then_written(f, &reply, 1);
	cid_reply_free(&reply);
	/* a hook of the context's own: called now, nothing left to write */
	cid_ctx_set_audit_hook(f->ctx, audit_cb, &log);
	assert_int_equal(cid_oidc_userinfo(f->ctx, &req, &reply), CID_OK);
	assert_int_equal(reply.status, 200);
	assert_int_equal(log.calls, 1);
	assert_null(reply.audit);
	cid_reply_free(&reply);
	json_decref(j);
}

/* Redeems a fresh code of RP1 as the server asks (audit_later): the endpoint's result. */
static enum cid_err redeem_later(struct fixture *f, struct cid_reply *reply)
{
	char code[CID_TOKEN_CHARS + 1];
	char creds[256];
	char form[1024];
	struct cid_request req = {.post = true,
				  .form_content_type = true,
				  .remote_addr = "192.0.2.7",
				  .now = AT,
				  .audit_later = true};
	enum cid_err rc;
	int n;

	issue_code(f, RP1, NULL, NOW, code);
	post_creds(f, RP1, creds, sizeof(creds));
	n = snprintf(form, sizeof(form), "grant_type=authorization_code&code=%s&redirect_uri=%s&%s",
		     code, clients[RP1].redirect, creds);
	assert_true(n > 0 && (size_t)n < sizeof(form));
	assert_int_equal(cid_params_parse_form(&req.params, form, strlen(form)), CID_OK);
	rc = cid_oidc_token(f->ctx, &req, reply);
	cid_request_clear(&req);
	return rc;
}

/*
 * The token endpoint too (its ID token's release): asked to, it leaves the
 * entries to the caller, and the log has them once the caller writes them.
 */
static void test_token_leaves_its_entries_to_the_caller_when_asked(void **state)
{
	struct fixture *f = *state;
	struct cid_reply reply = {0};
	json_t *body;

	assert_int_equal(redeem_later(f, &reply), CID_OK);
	assert_int_equal(reply.status, 200);
	body = body_of(&reply);
	assert_non_null(json_object_get(body, "id_token"));
	json_decref(body);
	assert_entries_left_then_written(f, &reply, 0);
	cid_reply_free(&reply);
}

/*
 * An ID token that cannot be signed (linked through
 * -Wl,--wrap=cid_token_id_mint: CID_ERR_CRYPTO while fail_id_mint is set).
 */
// NOLINTBEGIN(bugprone-reserved-identifier): ld's --wrap needs these names
enum cid_err __real_cid_token_id_mint(struct cid_ctx *ctx, const struct cid_keyset *ks,
				      const struct cid_client *client, const char *sub,
				      const struct cid_grant *grant, const char *access_token,
				      json_t *claims, int64_t now, char **out);
enum cid_err __wrap_cid_token_id_mint(struct cid_ctx *ctx, const struct cid_keyset *ks,
				      const struct cid_client *client, const char *sub,
				      const struct cid_grant *grant, const char *access_token,
				      json_t *claims, int64_t now, char **out);

// NOLINTEND(bugprone-reserved-identifier)

enum cid_err __wrap_cid_token_id_mint(struct cid_ctx *ctx, const struct cid_keyset *ks,
				      const struct cid_client *client, const char *sub,
				      const struct cid_grant *grant, const char *access_token,
				      json_t *claims, int64_t now, char **out)
{
	if (fail_id_mint)
		return CID_ERR_CRYPTO;
	return __real_cid_token_id_mint(ctx, ks, client, sub, grant, access_token, claims, now,
					out);
}

/*
 * The ID token fails after its release was decided and its entries left to
 * the caller: the endpoint reports the error, and the entries of a token
 * that never left are dropped with the answer, never written.
 */
static void test_token_that_fails_after_its_release_logs_nothing(void **state)
{
	struct fixture *f = *state;
	struct cid_reply reply = {0};

	fail_id_mint = true;
	assert_int_equal(redeem_later(f, &reply), CID_ERR_CRYPTO);
	fail_id_mint = false;
	assert_non_null(reply.audit); /* made, not written */
	cid_reply_free(&reply);	      /* and dropped with the answer */
	assert_int_equal(permits_logged(f), 0);
}

/*
 * A release entry says how the citizen authenticated, as the grant's tokens
 * claim it (acr, amr, auth_time), and the digest of the deciding purpose,
 * which ties it to the exact notice (audit_explain.h).
 */
static void test_release_entries_record_how_the_citizen_authenticated(void **state)
{
	struct fixture *f = *state;
	const struct cid_audit_filter filter = {.citizen = f->account, .type = "release."};
	struct cid_txn *txn = NULL;
	json_t *all = json_array();
	json_t *j;
	json_t *e;
	size_t i;
	char at[21];
	size_t with_purpose = 0;

	assert_non_null(all);
	j = redeem(f, RP1); /* the ID token releases given_name */
	json_decref(j);
	assert_int_equal(cid_audit_time(NOW, at), CID_OK);
	assert_int_equal(cid_store_read_begin(cid_ctx_store(f->ctx), &txn), CID_OK);
	assert_int_equal(cid_audit_query(txn, &filter, collect_entry, all), CID_OK);
	cid_store_read_end(txn);
	assert_true(json_array_size(all) >= 1);
	json_array_foreach(all, i, e)
	{
		const json_t *amr = json_object_get(e, "amr");

		assert_string_equal(cid_json_str(e, "acr"), "urn:civicid:acr:password");
		assert_int_equal(json_array_size(amr), 1);
		assert_string_equal(json_string_value(json_array_get(amr, 0)), "pwd");
		assert_string_equal(cid_json_str(e, "auth_time"), at);
		if (cid_json_str(e, "purpose") != NULL) {
			assert_non_null(cid_json_str(e, "purpose_digest"));
			assert_int_equal(strlen(cid_json_str(e, "purpose_digest")), CID_HASH_HEX);
			with_purpose++;
		}
	}
	assert_true(with_purpose >= 1);
	json_decref(all);
}

/* A hook that cannot record the decisions stops the release: nothing is answered. */
static void test_failing_audit_hook_releases_nothing(void **state)
{
	struct fixture *f = *state;
	struct audit_log log = {.fail_with = CID_ERR_STORE};
	char code[CID_TOKEN_CHARS + 1];
	char form[512];
	char creds[256];
	struct cid_reply reply = {0};
	struct cid_request req = {.post = true, .form_content_type = true, .now = AT};

	cid_ctx_set_audit_hook(f->ctx, audit_cb, &log);
	issue_code(f, RP1, NULL, NOW, code);
	post_creds(f, RP1, creds, sizeof(creds));
	snprintf(form, sizeof(form), "grant_type=authorization_code&code=%s&redirect_uri=%s&%s",
		 code, clients[RP1].redirect, creds);
	assert_int_equal(cid_params_parse_form(&req.params, form, strlen(form)), CID_OK);
	assert_int_equal(cid_oidc_token(f->ctx, &req, &reply), CID_ERR_STORE);
	assert_int_equal(log.calls, 1);
	assert_null(reply.body); /* no token response was built */
	cid_request_clear(&req);
	cid_reply_free(&reply);
	cid_ctx_set_audit_hook(f->ctx, NULL, NULL);
}

/* Introspection answers token metadata: no personal attribute but sub. */
static void test_introspection_releases_no_attributes(void **state)
{
	static const char *const allowed[] = {"active", "token_type", "scope",	   "client_id",
					      "sub",	"exp",	      "iat",	   "iss",
					      "jti",	"aud",	      "auth_time", "acr"};
	struct fixture *f = *state;
	char at[CID_MAX_TOKEN];
	char form[4200];
	json_t *j = redeem(f, RP1);
	const char *key;
	json_t *v;

	copy_member(j, "access_token", at, sizeof(at));
	json_decref(j);
	snprintf(form, sizeof(form), "token=%s", at);
	j = post_as(f, EP_INTROSPECT, RP1, form, 200);
	assert_true(json_is_true(json_object_get(j, "active")));
	json_object_foreach(j, key, v)
	{
		bool ok = false;
		for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
			ok = ok || strcmp(key, allowed[i]) == 0;
		if (!ok)
			fail_msg("introspection answered %s", key);
	}
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_endpoint_table, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_code_response_tokens, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_introspection_is_the_token_metadata, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_code_replay_revokes_tokens, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refresh_reuse_revokes_family, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refused_refresh_leaves_the_token, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refresh_narrower_scope_keeps_the_grant, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_userinfo_asks_the_tokens_scope, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_revocation_effects, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_every_401_has_www_authenticate, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_disabled_citizen_refresh_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_disabled_citizen_refusal_says_nothing_of_the_account, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_disabled_citizen_authorize_says_nothing, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_totp_step_of_a_locked_citizen_says_locked, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_release_decisions_reach_the_audit_hook, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(
		test_userinfo_leaves_its_entries_to_the_caller_when_asked, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_token_leaves_its_entries_to_the_caller_when_asked,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_token_that_fails_after_its_release_logs_nothing,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_releases_are_logged_without_any_set_up, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(
		test_release_entries_record_how_the_citizen_authenticated, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failing_audit_hook_releases_nothing, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_introspection_releases_no_attributes, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_userinfo_refusals, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
