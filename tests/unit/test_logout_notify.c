/*
 * logout_notify: the logout token (its claims, header and signature,
 * verified by cid_jws_verify and, independently, by libjwt); the sender
 * against real receivers on loopback (support/http_server.c): delivered
 * with its audit entry, tried again and given up, a receiver that hangs,
 * the cap on notices in flight, a service removed meanwhile; the worker
 * thread; and the front-channel frames and their origins for the
 * logged-out page. A real context: LMDB store, keys, audit log.
 */
#include "account.h"
#include "audit.h"
#include "cid.h"
#include "client.h"
#include "config.h"
#include "crypto.h"
#include "http_server.h"
#include "jose.h"
#include "logout.h"
#include "logout_notify.h"
#include "session.h"
#include "str.h"
#include "support.h"
#include "token.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#ifdef CID_HAVE_LIBJWT
#include <jwt.h>
/*
 * libjwt 1.10's jwt_decode refuses every typ but "JWT" (tests/LIBS notes),
 * so a logout+jwt is checked with the function jwt_decode verifies with:
 * exported by libjwt.so, though not in jwt.h. head is the NUL-terminated
 * "header.payload"; 0 means the signature verifies.
 */
int jwt_verify_sha_pem(jwt_t *jwt, const char *head, const char *sig_b64);
#endif

#define NOW 1800000000
#define ISS "https://id.city.example"

static const char ok_200[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
static const char ok_204[] = "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";
static const char err_500[] = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n"
			      "Connection: close\r\n\r\noops";

struct fixture {
	char dir[256];
	struct cid_config *cfg;
	struct cid_ctx *ctx;
	char hanako[CID_ID_CHARS + 1];
};

static int setup_with(void **state, const char *concurrency)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->cfg = cid_test_config(f->dir);
	cid_test_set(f->cfg, "issuer", ISS);
	cid_test_set(f->cfg, "backchannel_logout_attempts", "2");
	cid_test_set(f->cfg, "backchannel_logout_backoff", "1");
	cid_test_set(f->cfg, "backchannel_logout_timeout", "1");
	cid_test_set(f->cfg, "backchannel_logout_connect_timeout", "1");
	cid_test_set(f->cfg, "backchannel_logout_concurrency", concurrency);
	cid_test_policies(f->cfg, f->dir, NULL, NULL);
	assert_int_equal(cid_ctx_open(f->cfg, NOW, NULL, &f->ctx), CID_OK);
	assert_int_equal(cid_account_add(cid_ctx_store(f->ctx), &f->cfg->argon2, "hanako",
					 "correct horse battery", NULL, NOW, f->hanako),
			 CID_OK);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, "4");
}

static int setup_one_at_a_time(void **state)
{
	return setup_with(state, "1");
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	cid_test_ctx_close(f->ctx, f->cfg, f->dir);
	free(f);
	return 0;
}

/* Registers service id (its redirect URI on its own host) with these logout URIs. */
static void add_service(struct fixture *f, const char *id, const char *back, const char *front,
			bool front_required, const char *alg)
{
	char uri[96];
	const char *uris[] = {uri};
	struct cid_client_spec spec = {.client_id = id,
				       .name = id,
				       .redirect_uris = uris,
				       .n_redirect_uris = 1,
				       .id_token_alg = alg,
				       .backchannel_logout_uri = back,
				       .frontchannel_logout_uri = front,
				       .frontchannel_logout_session_required = front_required};
	char *got = NULL;
	char *secret = NULL;

	assert_true(snprintf(uri, sizeof(uri), "https://%s.example/cb", id) > 0);
	assert_int_equal(cid_client_add(cid_ctx_store(f->ctx), &spec, NOW, &got, &secret), CID_OK);
	free(got);
	free(secret);
}

/* The back-channel URI of a receiver into out[96]. */
static void receiver_uri(struct cid_test_http *srv, char out[96])
{
	cid_test_http_url(srv, "/backchannel", out, 96);
}

/* A session of hanako at NOW in which services[0..n) received tokens. */
static void session_of(struct fixture *f, const char *const *services, size_t n,
		       char cookie[CID_TOKEN_CHARS + 1], struct cid_session *sess)
{
	static const char *const amr[] = {"pwd"};

	assert_int_equal(cid_session_new(cid_ctx_store(f->ctx), f->hanako, CID_ACR_PASSWORD, amr, 1,
					 NOW, 3600, cookie, sess),
			 CID_OK);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(cid_session_add_client(cid_ctx_store(f->ctx), cookie, services[i]),
				 CID_OK);
}

/* Steps s at now until nothing is in flight (at most 10 s of wall time). */
static void step_until_idle(struct cid_logout_sender *s, int64_t now)
{
	struct timespec t0;
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		assert_int_equal(cid_logout_sender_step(s, now, 50), CID_OK);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		assert_true(t1.tv_sec - t0.tv_sec < 10);
	} while (cid_logout_sender_active(s) > 0);
}

static size_t queued(struct fixture *f)
{
	size_t n = 0;

	assert_int_equal(cid_logout_queued(cid_ctx_store(f->ctx), &n, NULL), CID_OK);
	return n;
}

static enum cid_err collect_entry(uint64_t seq, struct cid_str entry, void *arg)
{
	json_t *rec = NULL;

	(void)seq;
	assert_int_equal(cid_store_parse_json(entry, &rec), CID_OK);
	assert_int_equal(json_array_append_new(arg, rec), 0);
	return CID_OK;
}

/* The audit log's logout.* entries, oldest first (new reference). */
static json_t *logout_entries(struct fixture *f)
{
	struct cid_audit_filter filter = {.type = "logout."};
	struct cid_txn *txn = NULL;
	json_t *all = json_array();

	assert_non_null(all);
	assert_int_equal(cid_store_read_begin(cid_ctx_store(f->ctx), &txn), CID_OK);
	assert_int_equal(cid_audit_query(txn, &filter, collect_entry, all), CID_OK);
	cid_store_read_end(txn);
	return all;
}

static const char *ext(const json_t *entry, const char *name)
{
	return json_string_value(json_object_get(json_object_get(entry, "ext"), name));
}

/* Checks a logout.* entry: type, service, the session's hash, tries, status, cause; no citizen. */
static void assert_entry(const json_t *e, const char *type, const char *service, const char *sid,
			 const char *attempts, const char *status)
{
	char hash[CID_HASH_HEX + 1];

	cid_secret_hash(sid, strlen(sid), hash);
	assert_string_equal(json_string_value(json_object_get(e, "type")), type);
	assert_string_equal(json_string_value(json_object_get(e, "service")), service);
	assert_string_equal(json_string_value(json_object_get(e, "actor")), "system");
	assert_string_equal(json_string_value(json_object_get(e, "endpoint")),
			    "backchannel-logout");
	assert_string_equal(ext(e, "sid_hash"), hash);
	assert_string_equal(ext(e, "attempts"), attempts);
	assert_string_equal(ext(e, "status"), status);
	assert_string_equal(ext(e, "cause"), CID_LOGOUT_CAUSE_RP);
	/* no personal data: neither the citizen nor the sid itself */
	assert_null(json_object_get(e, "citizen"));
	{
		char *text = json_dumps(e, JSON_COMPACT);

		assert_non_null(text);
		assert_null(strstr(text, sid));
		free(text);
	}
}

/* The logout token a receiver got in its request i (new string), NULL when none. */
static char *received_token(struct cid_test_http *srv, unsigned i)
{
	char *req = cid_test_http_request(srv, i);
	const char *body;
	char *token;

	if (req == NULL)
		return NULL;
	assert_true(strncmp(req, "POST /backchannel HTTP/1.1\r\n", 28) == 0);
	assert_non_null(strcasestr(req, "\r\nContent-Type: application/x-www-form-urlencoded\r\n"));
	body = strstr(req, "\r\n\r\n");
	assert_non_null(body);
	body += 4;
	assert_true(strncmp(body, "logout_token=", 13) == 0);
	token = strdup(body + 13);
	assert_non_null(token);
	free(req);
	return token;
}

/* Verifies a logout token with the context's keys; returns its claims. */
static json_t *verify(struct fixture *f, const char *jws)
{
	struct cid_keyref *kr = cid_ctx_keys_acquire(f->ctx);
	json_t *claims = NULL;

	assert_int_equal(
	    cid_jws_verify(cid_keyref_keyset(kr), jws, strlen(jws), "logout+jwt", &claims), CID_OK);
	cid_keyref_put(kr);
	return claims;
}

/* The JOSE header of a compact JWS (new reference). */
static json_t *header_of(const char *jws)
{
	const char *dot = strchr(jws, '.');
	uint8_t raw[512];
	size_t n = 0;
	json_t *h;

	assert_non_null(dot);
	assert_int_equal(cid_b64url_decode(jws, (size_t)(dot - jws), raw, sizeof(raw), &n), CID_OK);
	h = json_loadb((const char *)raw, n, 0, NULL);
	assert_non_null(h);
	return h;
}

#ifdef CID_HAVE_LIBJWT
/* The public key of kid as PEM (caller frees), from the store's private key. */
static char *public_pem(struct fixture *f, const char *kid)
{
	struct cid_txn *txn = NULL;
	json_t *rec = NULL;
	BIO *in;
	BIO *out = BIO_new(BIO_s_mem());
	EVP_PKEY *pkey;
	char *data;
	long len;
	char *pem;

	assert_int_equal(cid_store_read_begin(cid_ctx_store(f->ctx), &txn), CID_OK);
	assert_int_equal(cid_txn_get_json(txn, CID_DB_KEYS, cid_str_of(kid), &rec), CID_OK);
	cid_store_read_end(txn);
	in = BIO_new_mem_buf(json_string_value(json_object_get(rec, "private_pem")), -1);
	assert_non_null(in);
	pkey = PEM_read_bio_PrivateKey(in, NULL, NULL, NULL);
	assert_non_null(pkey);
	assert_int_equal(PEM_write_bio_PUBKEY(out, pkey), 1);
	len = BIO_get_mem_data(out, &data);
	pem = strndup(data, (size_t)len);
	assert_non_null(pem);
	EVP_PKEY_free(pkey);
	BIO_free(in);
	BIO_free(out);
	json_decref(rec);
	return pem;
}

/* libjwt's own verification of jws with alg's key kid: true if the signature holds. */
static bool libjwt_verifies(struct fixture *f, const char *jws, jwt_alg_t alg, const char *kid)
{
	char *pem = public_pem(f, kid);
	char *copy = strdup(jws);
	char *dot;
	jwt_t *jwt = NULL;
	int r;

	assert_non_null(copy);
	dot = strrchr(copy, '.');
	assert_non_null(dot);
	*dot = '\0';
	assert_int_equal(jwt_new(&jwt), 0);
	assert_int_equal(jwt_set_alg(jwt, alg, (const unsigned char *)pem, (int)strlen(pem)), 0);
	r = jwt_verify_sha_pem(jwt, copy, dot + 1);
	jwt_free(jwt);
	free(copy);
	free(pem);
	return r == 0;
}
#endif

/* ---- the logout token ---- */

static void test_logout_token_claims_and_signature(void **state)
{
	static const struct {
		const char *alg;
#ifdef CID_HAVE_LIBJWT
		jwt_alg_t jwt_alg;
#endif
	} rows[] = {
#ifdef CID_HAVE_LIBJWT
	    {"ES256", JWT_ALG_ES256},
	    {"RS256", JWT_ALG_RS256},
#else
	    {"ES256"},
	    {"RS256"},
#endif
	};
	static const char *const members[] = {"iss", "sub", "aud", "iat",
					      "exp", "jti", "sid", "events"};
	struct fixture *f = *state;
	const char sid[] = "c2lkLW9mLXRoZS1zZXNzaW9uLXRoYXQtZW5kZWQtISE";
	char jti[2][CID_TOKEN_CHARS + 1];

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char id[16];
		struct cid_client *client = NULL;
		struct cid_keyref *kr = cid_ctx_keys_acquire(f->ctx);
		struct cid_policyref *pr = cid_ctx_policies_acquire(f->ctx);
		char sub[CID_TOKEN_CHARS + 1];
		char *jws = NULL;
		json_t *claims;
		json_t *header;
		json_t *events;

		assert_true(snprintf(id, sizeof(id), "rp-%s", rows[i].alg) > 0);
		add_service(f, id, "https://rp.example/bc", NULL, false, rows[i].alg);
		assert_int_equal(cid_client_get(cid_ctx_store(f->ctx), id, &client), CID_OK);
		assert_int_equal(cid_logout_token_mint(f->ctx, cid_keyref_keyset(kr),
						       cid_policyref_set(pr), client, f->hanako,
						       sid, NOW, &jws),
				 CID_OK);
		cid_token_subject(f->ctx, cid_policyref_set(pr), client, f->hanako, sub);

		header = header_of(jws);
		assert_string_equal(json_string_value(json_object_get(header, "typ")),
				    "logout+jwt");
		assert_string_equal(json_string_value(json_object_get(header, "alg")), rows[i].alg);
		claims = verify(f, jws);
		assert_int_equal(json_object_size(claims), sizeof(members) / sizeof(members[0]));
		for (size_t m = 0; m < sizeof(members) / sizeof(members[0]); m++)
			assert_non_null(json_object_get(claims, members[m]));
		assert_null(json_object_get(claims, "nonce"));
		assert_string_equal(cid_json_str(claims, "iss"), ISS);
		assert_string_equal(cid_json_str(claims, "aud"), id);
		assert_string_equal(cid_json_str(claims, "sid"), sid);
		/* the service's own (pairwise) subject, never the internal id */
		assert_string_equal(cid_json_str(claims, "sub"), sub);
		assert_string_not_equal(sub, f->hanako);
		assert_int_equal(cid_json_int(claims, "iat"), NOW);
		assert_int_equal(cid_json_int(claims, "exp"), NOW + CID_LOGOUT_TOKEN_TTL);
		assert_true(CID_LOGOUT_TOKEN_TTL <= 300);
		assert_int_equal(strlen(cid_json_str(claims, "jti")), CID_TOKEN_CHARS);
		memcpy(jti[i], cid_json_str(claims, "jti"), CID_TOKEN_CHARS + 1);
		events = json_object_get(claims, "events");
		assert_int_equal(json_object_size(events), 1);
		assert_true(json_is_object(json_object_get(events, CID_LOGOUT_EVENT)));
		assert_int_equal(json_object_size(json_object_get(events, CID_LOGOUT_EVENT)), 0);
		/* it is no ID token: verified as one (typ JWT), it is refused */
		{
			json_t *c = NULL;

			assert_int_equal(
			    cid_jws_verify(cid_keyref_keyset(kr), jws, strlen(jws), "JWT", &c),
			    CID_ERR_INVALID);
		}
#ifdef CID_HAVE_LIBJWT
		{
			const char *kid = json_string_value(json_object_get(header, "kid"));
			char *forged = strdup(jws);

			assert_true(libjwt_verifies(f, jws, rows[i].jwt_alg, kid));
			/* one bit of the payload changed: libjwt refuses it too */
			assert_non_null(forged);
			forged[strchr(forged, '.') - forged + 5] ^= 1;
			assert_false(libjwt_verifies(f, forged, rows[i].jwt_alg, kid));
			free(forged);
		}
#endif
		json_decref(header);
		json_decref(claims);
		free(jws);
		cid_client_free(client);
		cid_policyref_put(pr);
		cid_keyref_put(kr);
	}
	assert_string_not_equal(jti[0], jti[1]);
	{
		struct cid_client *client = NULL;
		struct cid_keyref *kr = cid_ctx_keys_acquire(f->ctx);
		char *jws = NULL;

		assert_int_equal(cid_client_get(cid_ctx_store(f->ctx), "rp-ES256", &client),
				 CID_OK);
		assert_int_equal(cid_logout_token_mint(f->ctx, cid_keyref_keyset(kr), NULL, client,
						       f->hanako, NULL, NOW, &jws),
				 CID_ERR_INVALID);
		assert_null(jws);
		cid_client_free(client);
		cid_keyref_put(kr);
	}
#ifndef CID_HAVE_LIBJWT
	fail_msg("libjwt is not installed (libjwt-dev; deploy/install-deps.sh test): "
		 "no independent library verifies the logout token");
#endif
}

/* ---- the sender ---- */

static void test_sender_delivers_and_audits(void **state)
{
	struct fixture *f = *state;
	struct cid_test_http *a = cid_test_http_start(ok_200, strlen(ok_200));
	struct cid_test_http *b = cid_test_http_start(ok_204, strlen(ok_204));
	const char *const services[] = {"svc-a", "svc-b"};
	char uri_a[96];
	char uri_b[96];
	char cookie[CID_TOKEN_CHARS + 1];
	struct cid_session sess;
	struct cid_logout_sender *sender = NULL;
	json_t *entries;

	receiver_uri(a, uri_a);
	receiver_uri(b, uri_b);
	add_service(f, "svc-a", uri_a, NULL, false, NULL);
	add_service(f, "svc-b", uri_b, NULL, false, NULL);
	session_of(f, services, 2, cookie, &sess);
	assert_int_equal(cid_logout_end(f->ctx, cookie, NULL, CID_LOGOUT_CAUSE_RP, NOW, NULL),
			 CID_OK);
	assert_int_equal(cid_test_http_hits(a) + cid_test_http_hits(b), 0); /* nothing sent yet */
	assert_int_equal(queued(f), 2);

	assert_int_equal(cid_logout_sender_new(f->ctx, &sender), CID_OK);
	step_until_idle(sender, NOW + 1);
	assert_int_equal(queued(f), 0);
	for (size_t i = 0; i < 2; i++) {
		struct cid_test_http *srv = i == 0 ? a : b;
		char *token = received_token(srv, 0);
		json_t *claims;

		assert_non_null(token);
		claims = verify(f, token);
		assert_string_equal(cid_json_str(claims, "aud"), services[i]);
		assert_string_equal(cid_json_str(claims, "sid"), sess.sid);
		assert_int_equal(cid_json_int(claims, "iat"), NOW + 1);
		json_decref(claims);
		free(token);
		assert_null(cid_test_http_request(srv, 1)); /* once */
	}
	entries = logout_entries(f);
	assert_int_equal(json_array_size(entries), 2);
	for (size_t i = 0; i < 2; i++) {
		const json_t *e = json_array_get(entries, i);
		bool is_a = strcmp(json_string_value(json_object_get(e, "service")), "svc-a") == 0;

		assert_entry(e, "logout.delivered", is_a ? "svc-a" : "svc-b", sess.sid, "1",
			     is_a ? "200" : "204");
		assert_null(json_object_get(json_object_get(e, "ext"), "error"));
	}
	json_decref(entries);
	cid_logout_sender_free(sender);
	cid_test_http_stop(a);
	cid_test_http_stop(b);
}

/* A refusing receiver: tried again after the wait, then given up and logged as failed. */
static void test_sender_retries_then_gives_up(void **state)
{
	struct fixture *f = *state;
	struct cid_test_http *srv = cid_test_http_start(err_500, strlen(err_500));
	const char *const services[] = {"svc"};
	char uri[96];
	char cookie[CID_TOKEN_CHARS + 1];
	struct cid_session sess;
	struct cid_logout_sender *sender = NULL;
	json_t *entries;
	json_t *c1;
	json_t *c2;
	char *t1;
	char *t2;

	receiver_uri(srv, uri);
	add_service(f, "svc", uri, NULL, false, NULL);
	session_of(f, services, 1, cookie, &sess);
	assert_int_equal(cid_logout_end(f->ctx, cookie, NULL, CID_LOGOUT_CAUSE_RP, NOW, NULL),
			 CID_OK);
	assert_int_equal(cid_logout_sender_new(f->ctx, &sender), CID_OK);
	step_until_idle(sender, NOW);
	assert_int_equal(cid_test_http_hits(srv), 1);
	assert_int_equal(queued(f), 1); /* waiting for its second try */
	entries = logout_entries(f);
	assert_int_equal(json_array_size(entries), 0); /* a failed try is no entry */
	json_decref(entries);
	/* not before the wait (backchannel_logout_backoff = 1) */
	step_until_idle(sender, NOW);
	assert_int_equal(cid_test_http_hits(srv), 1);
	step_until_idle(sender, NOW + 1);
	assert_int_equal(cid_test_http_hits(srv), 2);
	assert_int_equal(queued(f), 0); /* the last of 2 tries: given up */
	entries = logout_entries(f);
	assert_int_equal(json_array_size(entries), 1);
	assert_entry(json_array_get(entries, 0), "logout.failed", "svc", sess.sid, "2", "500");
	assert_string_equal(ext(json_array_get(entries, 0), "error"), "HTTP status 500");
	json_decref(entries);
	/* each try had a token of its own */
	t1 = received_token(srv, 0);
	t2 = received_token(srv, 1);
	c1 = verify(f, t1);
	c2 = verify(f, t2);
	assert_string_not_equal(cid_json_str(c1, "jti"), cid_json_str(c2, "jti"));
	assert_int_equal(cid_json_int(c2, "iat"), NOW + 1);
	json_decref(c1);
	json_decref(c2);
	free(t1);
	free(t2);
	/* nothing more to do */
	step_until_idle(sender, NOW + 3600);
	assert_int_equal(cid_test_http_hits(srv), 2);
	cid_logout_sender_free(sender);
	cid_test_http_stop(srv);
}

/* A receiver that never answers costs one timeout per try, and holds up no round. */
static void test_sender_hanging_receiver_times_out(void **state)
{
	struct fixture *f = *state;
	struct cid_test_http *srv = cid_test_http_start(NULL, 0);
	const char *const services[] = {"svc"};
	char uri[96];
	char cookie[CID_TOKEN_CHARS + 1];
	struct cid_session sess;
	struct cid_logout_sender *sender = NULL;
	struct timespec t0;
	struct timespec t1;
	json_t *entries;

	receiver_uri(srv, uri);
	add_service(f, "svc", uri, NULL, false, NULL);
	session_of(f, services, 1, cookie, &sess);
	assert_int_equal(cid_logout_end(f->ctx, cookie, NULL, CID_LOGOUT_CAUSE_RP, NOW, NULL),
			 CID_OK);
	assert_int_equal(cid_logout_sender_new(f->ctx, &sender), CID_OK);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(cid_logout_sender_step(sender, NOW, 50), CID_OK);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* a round returns after its wait, the POST still in flight */
	assert_true((double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9 <
		    0.5);
	assert_int_equal(cid_logout_sender_active(sender), 1);
	step_until_idle(sender, NOW);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec < 3); /* backchannel_logout_timeout = 1 */
	step_until_idle(sender, NOW + 1);	/* the second and last try */
	entries = logout_entries(f);
	assert_int_equal(json_array_size(entries), 1);
	assert_entry(json_array_get(entries, 0), "logout.failed", "svc", sess.sid, "2", "none");
	assert_non_null(strstr(ext(json_array_get(entries, 0), "error"), "timed out"));
	json_decref(entries);
	cid_logout_sender_free(sender);
	cid_test_http_stop(srv);
}

/* The connections a and b accepted, once they reach want or after a second. */
static unsigned hits_within(struct cid_test_http *a, struct cid_test_http *b, unsigned want)
{
	const struct timespec tick = {0, 20 * 1000000L};

	for (int i = 0; i < 50 && cid_test_http_hits(a) + cid_test_http_hits(b) < want; i++)
		nanosleep(&tick, NULL);
	nanosleep(&tick, NULL); /* and a moment for one too many to show */
	return cid_test_http_hits(a) + cid_test_http_hits(b);
}

/* At most backchannel_logout_concurrency notices in flight; the others wait in the queue. */
static void test_sender_concurrency_cap(void **state)
{
	struct fixture *f = *state;
	struct cid_test_http *a = cid_test_http_start(NULL, 0);
	struct cid_test_http *b = cid_test_http_start(NULL, 0);
	const char *const services[] = {"svc-a", "svc-b"};
	char uri_a[96];
	char uri_b[96];
	char cookie[CID_TOKEN_CHARS + 1];
	struct cid_session sess;
	struct cid_logout_sender *sender = NULL;

	receiver_uri(a, uri_a);
	receiver_uri(b, uri_b);
	add_service(f, "svc-a", uri_a, NULL, false, NULL);
	add_service(f, "svc-b", uri_b, NULL, false, NULL);
	session_of(f, services, 2, cookie, &sess);
	assert_int_equal(cid_logout_end(f->ctx, cookie, NULL, CID_LOGOUT_CAUSE_RP, NOW, NULL),
			 CID_OK);
	assert_int_equal(cid_logout_sender_new(f->ctx, &sender), CID_OK);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(cid_logout_sender_step(sender, NOW, 50), CID_OK);
		assert_int_equal(cid_logout_sender_active(sender), 1);
	}
	assert_int_equal(hits_within(a, b, 1), 1);
	step_until_idle(sender, NOW); /* the first times out; the second starts */
	assert_int_equal(cid_logout_sender_step(sender, NOW, 50), CID_OK);
	assert_int_equal(cid_logout_sender_active(sender), 1);
	assert_int_equal(hits_within(a, b, 2), 2);
	cid_logout_sender_free(sender); /* abandons the try in flight */
	assert_int_equal(queued(f), 2);
	cid_test_http_stop(a);
	cid_test_http_stop(b);
}

/* A notice whose service was removed meanwhile is given up at once, without a request. */
static void test_sender_gives_up_on_removed_service(void **state)
{
	struct fixture *f = *state;
	struct cid_test_http *srv = cid_test_http_start(ok_200, strlen(ok_200));
	const char *const services[] = {"svc"};
	char uri[96];
	char cookie[CID_TOKEN_CHARS + 1];
	struct cid_session sess;
	struct cid_logout_sender *sender = NULL;
	json_t *entries;

	receiver_uri(srv, uri);
	add_service(f, "svc", uri, NULL, false, NULL);
	session_of(f, services, 1, cookie, &sess);
	assert_int_equal(cid_logout_end(f->ctx, cookie, NULL, CID_LOGOUT_CAUSE_RP, NOW, NULL),
			 CID_OK);
	assert_int_equal(cid_client_remove(cid_ctx_store(f->ctx), "svc"), CID_OK);
	assert_int_equal(cid_logout_sender_new(f->ctx, &sender), CID_OK);
	step_until_idle(sender, NOW);
	assert_int_equal(cid_test_http_hits(srv), 0);
	assert_int_equal(queued(f), 0);
	entries = logout_entries(f);
	assert_int_equal(json_array_size(entries), 1);
	assert_entry(json_array_get(entries, 0), "logout.failed", "svc", sess.sid, "1", "none");
	assert_non_null(strstr(ext(json_array_get(entries, 0), "error"), "no longer registered"));
	json_decref(entries);
	cid_logout_sender_free(sender);
	cid_test_http_stop(srv);
}

/* The worker thread sends at the real time, and stops at once. */
static void test_worker_sends_and_stops(void **state)
{
	struct fixture *f = *state;
	struct cid_test_http *srv = cid_test_http_start(ok_200, strlen(ok_200));
	const char *const services[] = {"svc"};
	char uri[96];
	char cookie[CID_TOKEN_CHARS + 1];
	struct cid_session sess;
	struct cid_logout_worker *w = NULL;
	struct timespec t0;
	struct timespec t1;
	const struct timespec tick = {0, 20 * 1000000L};
	int64_t now = (int64_t)time(NULL);
	static const char *const amr[] = {"pwd"};

	receiver_uri(srv, uri);
	add_service(f, "svc", uri, NULL, false, NULL);
	(void)services;
	assert_int_equal(cid_session_new(cid_ctx_store(f->ctx), f->hanako, CID_ACR_PASSWORD, amr, 1,
					 now, 3600, cookie, &sess),
			 CID_OK);
	assert_int_equal(cid_session_add_client(cid_ctx_store(f->ctx), cookie, "svc"), CID_OK);
	assert_int_equal(cid_logout_worker_start(f->ctx, NULL, &w), CID_OK);
	assert_int_equal(cid_logout_end(f->ctx, cookie, NULL, CID_LOGOUT_CAUSE_RP, now, NULL),
			 CID_OK);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		nanosleep(&tick, NULL);
		clock_gettime(CLOCK_MONOTONIC, &t1);
	} while (queued(f) > 0 && t1.tv_sec - t0.tv_sec < 10);
	assert_int_equal(queued(f), 0);
	assert_int_equal(cid_test_http_hits(srv), 1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cid_logout_worker_stop(w);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true((double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9 <
		    1.0);
	cid_logout_worker_stop(NULL);
	cid_test_http_stop(srv);
}

/* ---- front-channel ---- */

static void test_end_builds_front_channel_frames(void **state)
{
	struct fixture *f = *state;
	const char *const services[] = {"f1", "f2", "f3", "plain"};
	char cookie[CID_TOKEN_CHARS + 1];
	char want[512];
	struct cid_session sess;
	struct cid_logout_done done;
	struct cid_reply reply = {0};
	json_t *data = json_object();
	const json_t *frames;

	add_service(f, "f1", NULL, "https://f1.example/fc", true, NULL);
	add_service(f, "f2", NULL, "https://F2.example:8443/fc?x=1", true, NULL);
	add_service(f, "f3", NULL, "https://f1.example/other", false, NULL);
	add_service(f, "plain", NULL, NULL, false, NULL);
	session_of(f, services, 4, cookie, &sess);
	assert_int_equal(cid_logout_end(f->ctx, cookie, NULL, CID_LOGOUT_CAUSE_RP, NOW, &done),
			 CID_OK);
	assert_string_equal(done.ended.sid, sess.sid);
	assert_int_equal(done.ended.queued, 0);
	/* iss and sid where asked for, appended to a query the URI has */
	assert_int_equal(json_array_size(done.frames), 3);
	assert_true(snprintf(want, sizeof(want),
			     "https://f1.example/fc?iss=https%%3A%%2F%%2Fid.city.example&sid=%s",
			     sess.sid) > 0);
	assert_string_equal(cid_json_str(json_array_get(done.frames, 0), "url"), want);
	assert_string_equal(cid_json_str(json_array_get(done.frames, 0), "name"), "f1");
	assert_true(snprintf(want, sizeof(want),
			     "https://F2.example:8443/fc?x=1&iss=https%%3A%%2F%%2Fid.city.example"
			     "&sid=%s",
			     sess.sid) > 0);
	assert_string_equal(cid_json_str(json_array_get(done.frames, 1), "url"), want);
	assert_string_equal(cid_json_str(json_array_get(done.frames, 2), "url"),
			    "https://f1.example/other");
	/* each origin once */
	assert_string_equal(done.frame_src, "https://f1.example https://f2.example:8443");
	/* onto a page: the data and the reply's frame-src */
	assert_int_equal(cid_logout_page_frames(&done, data, &reply), CID_OK);
	frames = json_object_get(data, "frames");
	assert_int_equal(json_array_size(frames), 3);
	assert_string_equal(reply.frame_src, "https://f1.example https://f2.example:8443");
	assert_null(done.frames);
	assert_null(done.frame_src);
	cid_logout_done_clear(&done);
	cid_logout_done_clear(NULL);
	cid_reply_free(&reply);
	json_decref(data);
	/* the session is gone: a second end finds nothing */
	assert_int_equal(cid_logout_end(f->ctx, cookie, NULL, CID_LOGOUT_CAUSE_RP, NOW, &done),
			 CID_ERR_NOTFOUND);
}

/* A session without front-channel services: an empty list, no frame-src. */
static void test_end_without_frames(void **state)
{
	struct fixture *f = *state;
	const char *const services[] = {"plain"};
	char cookie[CID_TOKEN_CHARS + 1];
	struct cid_session sess;
	struct cid_logout_done done;
	struct cid_reply reply = {0};
	json_t *data = json_object();

	add_service(f, "plain", NULL, NULL, false, NULL);
	session_of(f, services, 1, cookie, &sess);
	assert_int_equal(
	    cid_logout_end(f->ctx, NULL, sess.sid, CID_LOGOUT_CAUSE_ACCOUNT, NOW, &done), CID_OK);
	assert_int_equal(json_array_size(done.frames), 0);
	assert_null(done.frame_src);
	assert_int_equal(cid_logout_page_frames(&done, data, &reply), CID_OK);
	assert_int_equal(json_array_size(json_object_get(data, "frames")), 0);
	assert_null(reply.frame_src);
	cid_logout_done_clear(&done);
	cid_reply_free(&reply);
	json_decref(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_logout_token_claims_and_signature, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_sender_delivers_and_audits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sender_retries_then_gives_up, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sender_hanging_receiver_times_out, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_sender_concurrency_cap, setup_one_at_a_time,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_sender_gives_up_on_removed_service, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_worker_sends_and_stops, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_end_builds_front_channel_frames, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_end_without_frames, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
