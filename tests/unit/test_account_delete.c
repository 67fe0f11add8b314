/*
 * account_delete: on a real store where hanako holds something in every
 * database that can hold a citizen (claims, a TOTP secret and its run of
 * wrong codes, an SSO session with a back-channel service, a redeemed
 * grant with its refresh token and an unredeemed code, an upstream link,
 * recent logins, consent records and their audit entries), deleting her
 * leaves no key or value naming her account id or username anywhere but
 * in what account_delete.h keeps (the audit log, the pseudonym mapping,
 * consent records, the logout notices it queued), and those hold no claim
 * value. Her password, session, code and refresh token stop working; the
 * deletion is on the audit log under a pseudonym; a second deletion finds
 * nobody; her name can be taken again by a new citizen; taro, beside her,
 * keeps everything.
 */
#include "account.h"
#include "account_delete.h"
#include "audit.h"
#include "client.h"
#include "consent.h"
#include "idp.h"
#include "logins.h"
#include "logout.h"
#include "pseudonym.h"
#include "session.h"
#include "support.h"
#include "throttle.h"
#include "token.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define NOW	 1800000000
#define TTL	 3600
#define PASSWORD "correct horse battery"
#define ISSUER	 "https://upstream.example"
#define REDIRECT "https://rp.example/cb"

/* hanako's claim values: none may be left anywhere, the log and consent records included */
static const char *const hanako_values[] = {"山田", "花子", "yamada.hanako@example.jp",
					    "1988-04-12"};

/* What one citizen holds, to check it is gone (hanako) or still works (taro). */
struct holdings {
	char id[CID_ID_CHARS + 1];
	char cookie[CID_TOKEN_CHARS + 1];
	char code[CID_TOKEN_CHARS + 1];	   /* issued, never redeemed */
	char refresh[CID_TOKEN_CHARS + 1]; /* of a redeemed code */
	char sub[32];			   /* upstream subject linked */
};

struct fixture {
	char dir[256];
	struct cid_store *s;
	struct holdings hanako;
	struct holdings taro;
};

static void add_client(struct cid_store *s)
{
	const char *uris[] = {REDIRECT};
	struct cid_client_spec spec = {.client_id = "rp1",
				       .redirect_uris = uris,
				       .n_redirect_uris = 1,
				       .backchannel_logout_uri = "https://rp.example/bc"};
	char *id = NULL;
	char *secret = NULL;

	assert_int_equal(cid_client_add(s, &spec, NOW, &id, &secret), CID_OK);
	free(id);
	free(secret);
}

/* A code issued to rp1 for account in session sid, at NOW. */
static void issue(struct cid_store *s, const char *account, const char *sid,
		  char code[CID_TOKEN_CHARS + 1])
{
	json_t *auth =
	    json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:[s], s:s, s:s, s:{s:{s:n}}}", "client_id",
		      "rp1", "redirect_uri", REDIRECT, "account_id", account, "sid", sid,
		      "auth_time", (json_int_t)NOW, "acr", CID_ACR_PASSWORD, "amr", "pwd", "scope",
		      "openid profile", "nonce", "n-1", "claims", "userinfo", "email");

	assert_non_null(auth);
	assert_int_equal(cid_code_issue(s, auth, NOW, 600, code), CID_OK);
	json_decref(auth);
}

static enum cid_err count_code_failure(struct cid_txn *txn, void *arg)
{
	struct cid_throttle_key k = {0};

	cid_throttle_key_code(&k, CID_THROTTLE_CITIZEN, arg);
	return cid_throttle_fail(txn, &k, NOW);
}

/* Gives the citizen username (with claims) something in every database that can hold one. */
static void populate(struct cid_store *s, const char *username, json_t *claims, struct holdings *h)
{
	static const char *const amr[] = {"pwd"};
	struct cid_session sess;
	struct cid_grant *grant = NULL;
	char redeemed[CID_TOKEN_CHARS + 1];
	char *secret = NULL;
	char *uri = NULL;
	struct cid_consent_context ctx = {.service = "rp1",
					  .purpose = "login",
					  .policy_version = "v1",
					  .purpose_digest = "digest-1",
					  .method = CID_CONSENT_METHOD_SCREEN,
					  .now = NOW};
	struct cid_consent_change grants[] = {{"family_name", CID_CONSENT_GRANTED, 0},
					      {"email", CID_CONSENT_GRANTED, 0}};

	assert_int_equal(
	    cid_account_add(s, &cid_test_argon2, username, PASSWORD, claims, NOW, h->id), CID_OK);
	assert_int_equal(cid_account_totp_enrol(s, username, false, NOW, &secret, &uri), CID_OK);
	free(secret);
	free(uri);
	assert_int_equal(cid_store_update(s, count_code_failure, h->id), CID_OK);
	assert_int_equal(
	    cid_session_new(s, h->id, CID_ACR_PASSWORD, amr, 1, NOW, TTL, h->cookie, &sess),
	    CID_OK);
	assert_int_equal(cid_session_add_client(s, h->cookie, "rp1"), CID_OK);
	issue(s, h->id, sess.sid, redeemed);
	assert_int_equal(
	    cid_code_redeem(s, redeemed, "rp1", REDIRECT, NULL, NOW + 1, TTL, &grant, h->refresh),
	    CID_OK);
	cid_grant_free(grant);
	issue(s, h->id, sess.sid, h->code);
	snprintf(h->sub, sizeof(h->sub), "sub-of-%s", username);
	assert_int_equal(cid_idp_link(s, ISSUER, h->sub, h->id, NOW), CID_OK);
	assert_int_equal(
	    cid_logins_put(s, h->id, NOW, true, CID_LOGIN_PASSWORD, "Mozilla/5.0 (X11; Linux)"),
	    CID_OK);
	ctx.account_id = h->id;
	assert_int_equal(cid_consent_record(s, &ctx, grants, 2, NULL), CID_OK);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	json_t *hanako =
	    json_pack("{s:s, s:s, s:s, s:s}", "family_name", hanako_values[0], "given_name",
		      hanako_values[1], "email", hanako_values[2], "birthdate", hanako_values[3]);
	json_t *taro = json_pack("{s:s}", "given_name", "太郎");

	assert_non_null(f);
	assert_non_null(hanako);
	assert_non_null(taro);
	f->s = cid_test_store_open(f->dir);
	add_client(f->s);
	populate(f->s, "hanako", hanako, &f->hanako);
	populate(f->s, "taro", taro, &f->taro);
	json_decref(hanako);
	json_decref(taro);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	cid_test_store_close(f->s, f->dir);
	free(f);
	return 0;
}

/* The state recorded by the latest consent record of account's (rp1, login, attribute). */
static enum cid_consent_state consent_state(struct cid_store *s, const char *account,
					    const char *attribute)
{
	struct cid_txn *txn = NULL;
	json_t *rec = NULL;
	struct cid_consent_record r;

	assert_int_equal(cid_store_read_begin(s, &txn), CID_OK);
	assert_int_equal(cid_consent_latest(txn, account, "rp1", "login", attribute, &rec), CID_OK);
	cid_store_read_end(txn);
	assert_int_equal(cid_consent_record_read(rec, &r), CID_OK);
	json_decref(rec);
	return r.state;
}

static bool contains(struct cid_str hay, const char *needle)
{
	size_t n = strlen(needle);

	for (size_t i = 0; n <= hay.len && i <= hay.len - n; i++)
		if (memcmp(hay.ptr + i, needle, n) == 0)
			return true;
	return false;
}

/* What the scan of one database looks for, and what it found. */
struct scan {
	enum cid_db db;
	const char *id;
	const char *username;
	size_t id_hits; /* records whose key or value holds the account id */
};

static enum cid_err scan_one(struct cid_str key, struct cid_str val, void *arg)
{
	struct scan *sc = arg;

	/* a username or a claim value is never kept, not even where the id is */
	assert_false(contains(key, sc->username) || contains(val, sc->username));
	for (size_t i = 0; i < sizeof(hanako_values) / sizeof(hanako_values[0]); i++)
		assert_false(contains(key, hanako_values[i]) || contains(val, hanako_values[i]));
	if (contains(key, sc->id) || contains(val, sc->id)) {
		sc->id_hits++;
		/* the notices the deletion queued say why */
		if (sc->db == CID_DB_LOGOUT_QUEUE)
			assert_true(contains(val, "\"cause\":\"" CID_LOGOUT_CAUSE_DELETE "\""));
	}
	return CID_OK;
}

/* Where account_delete.h says the account id stays. */
static bool kept(enum cid_db db)
{
	return db == CID_DB_AUDIT || db == CID_DB_AUDIT_IDX || db == CID_DB_PSEUDONYMS ||
	       db == CID_DB_CONSENTS || db == CID_DB_CONSENT_IDS || db == CID_DB_LOGOUT_QUEUE;
}

/* Reads every record of every database; returns the records naming id where it may stay. */
static size_t scan_store(struct cid_store *s, const char *id, const char *username,
			 size_t hits[CID_DB_COUNT])
{
	struct cid_txn *txn = NULL;
	size_t all = 0;

	assert_int_equal(cid_store_read_begin(s, &txn), CID_OK);
	for (int db = 0; db < CID_DB_COUNT; db++) {
		struct scan sc = {(enum cid_db)db, id, username, 0};

		assert_int_equal(
		    cid_txn_foreach(txn, (enum cid_db)db, cid_str_of(""), scan_one, &sc), CID_OK);
		if (!kept((enum cid_db)db) && sc.id_hits != 0)
			fail_msg("database %d still names the deleted account (%zu records)", db,
				 sc.id_hits);
		hits[db] = sc.id_hits;
		all += sc.id_hits;
	}
	cid_store_read_end(txn);
	return all;
}

/* Counts the records naming sc->id (the scan before the deletion). */
static enum cid_err find_id(struct cid_str key, struct cid_str val, void *arg)
{
	struct scan *sc = arg;

	if (contains(key, sc->id) || contains(val, sc->id))
		sc->id_hits++;
	return CID_OK;
}

/* The scan bites: before the deletion, every database the deletion empties names hanako. */
static void test_scan_finds_the_citizen_before(void **state)
{
	struct fixture *f = *state;
	struct cid_txn *txn = NULL;

	static const enum cid_db held[] = {
	    CID_DB_CITIZENS,	CID_DB_USERNAMES,     CID_DB_THROTTLE,
	    CID_DB_SESSIONS,	CID_DB_SESSION_INDEX, CID_DB_GRANTS,
	    CID_DB_GRANT_INDEX, CID_DB_IDP_LINKS,     CID_DB_LOGINS};

	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	for (size_t i = 0; i < sizeof(held) / sizeof(held[0]); i++) {
		struct scan sc = {held[i], f->hanako.id, "hanako", 0};

		assert_int_equal(cid_txn_foreach(txn, held[i], cid_str_of(""), find_id, &sc),
				 CID_OK);
		if (sc.id_hits == 0)
			fail_msg("the fixture holds nothing of hanako in database %d",
				 (int)held[i]);
	}
	cid_store_read_end(txn);
}

static void test_delete_leaves_nothing_of_the_citizen(void **state)
{
	struct fixture *f = *state;
	struct cid_account_deleted done;
	size_t hits[CID_DB_COUNT];
	size_t queued = 0;

	assert_int_equal(cid_account_delete(f->s, "hanako", NOW + 10, &done), CID_OK);
	assert_string_equal(done.id, f->hanako.id);
	assert_int_equal(done.sessions, 1);
	assert_int_equal(done.grants, 2);
	assert_int_equal(done.links, 1);
	(void)scan_store(f->s, f->hanako.id, "hanako", hits);
	/* what stays: consent records (the evidence) and their index, the mapping */
	assert_int_equal(hits[CID_DB_CONSENTS], 4);    /* two grants, their two withdrawals */
	assert_int_equal(hits[CID_DB_CONSENT_IDS], 4); /* record id -> its key */
	assert_true(hits[CID_DB_PSEUDONYMS] > 0);
	/* the log names pseudonyms, never the id */
	assert_int_equal(hits[CID_DB_AUDIT], 0);
	assert_int_equal(hits[CID_DB_AUDIT_IDX], 0);
	/* her live session's back-channel service is told, as for a disable */
	assert_int_equal(hits[CID_DB_LOGOUT_QUEUE], 1);
	assert_int_equal(cid_logout_queued(f->s, &queued, NULL), CID_OK);
	assert_int_equal(queued, 1);
}

static void test_deleted_citizen_can_no_longer_act(void **state)
{
	struct fixture *f = *state;
	char id[CID_ID_CHARS + 1];
	int64_t wait = 0;
	struct cid_session sess;
	struct cid_grant *grant = NULL;
	char next[CID_TOKEN_CHARS + 1];
	int64_t iat = 0;
	int64_t exp = 0;
	struct cid_account *a = NULL;

	assert_int_equal(cid_account_delete(f->s, "hanako", NOW + 10, NULL), CID_OK);
	assert_int_equal(cid_account_authenticate(f->s, &cid_test_argon2, "hanako", PASSWORD, NULL,
						  NOW + 20, id, &wait),
			 CID_ERR_DENIED);
	assert_int_equal(cid_account_get(f->s, f->hanako.id, &a), CID_ERR_NOTFOUND);
	assert_int_equal(cid_session_get(f->s, f->hanako.cookie, NOW + 20, &sess),
			 CID_ERR_NOTFOUND);
	assert_int_equal(
	    cid_refresh_rotate(f->s, f->hanako.refresh, "rp1", NULL, NOW + 20, TTL, &grant, next),
	    CID_ERR_NOTFOUND);
	assert_int_equal(cid_refresh_lookup(f->s, f->hanako.refresh, NOW + 20, &grant, &iat, &exp),
			 CID_ERR_NOTFOUND);
	assert_int_equal(cid_code_redeem(f->s, f->hanako.code, "rp1", REDIRECT, NULL, NOW + 20, TTL,
					 &grant, next),
			 CID_ERR_NOTFOUND);
	assert_int_equal(cid_idp_link_get(f->s, ISSUER, f->hanako.sub, id), CID_ERR_NOTFOUND);
	/* a login step that began before the deletion records nothing of the citizen */
	{
		struct cid_login seen[CID_LOGINS_KEEP];
		size_t n = 1;

		assert_int_equal(
		    cid_logins_put(f->s, f->hanako.id, NOW + 20, false, CID_LOGIN_CODE, NULL),
		    CID_OK);
		assert_int_equal(cid_logins_list(f->s, f->hanako.id, seen, &n), CID_OK);
		assert_int_equal(n, 0);
	}
	/* nobody to delete twice, and nothing changes */
	assert_int_equal(cid_account_delete(f->s, "hanako", NOW + 30, NULL), CID_ERR_NOTFOUND);
	assert_int_equal(cid_account_delete(f->s, "no such name!", NOW + 30, NULL),
			 CID_ERR_NOTFOUND);
	assert_int_equal(cid_account_delete(f->s, NULL, NOW + 30, NULL), CID_ERR_NOTFOUND);
}

static void test_the_other_citizen_keeps_everything(void **state)
{
	struct fixture *f = *state;
	char id[CID_ID_CHARS + 1];
	int64_t wait = 0;
	struct cid_session sess;
	struct cid_grant *grant = NULL;
	char next[CID_TOKEN_CHARS + 1];
	struct cid_login logins[CID_LOGINS_KEEP];
	size_t n = 0;
	struct cid_account *taro = NULL;
	int64_t failures = 0;

	assert_int_equal(cid_account_delete(f->s, "hanako", NOW + 10, NULL), CID_OK);
	assert_int_equal(cid_account_authenticate(f->s, &cid_test_argon2, "taro", PASSWORD, NULL,
						  NOW + 20, id, &wait),
			 CID_OK);
	assert_string_equal(id, f->taro.id);
	assert_int_equal(cid_account_find(f->s, "taro", &taro), CID_OK);
	assert_true(taro->active && taro->has_totp);
	assert_string_equal(json_string_value(json_object_get(taro->claims, "given_name")), "太郎");
	cid_account_free(taro);
	assert_int_equal(cid_account_totp_failures(f->s, "taro", &failures), CID_OK);
	assert_int_equal(failures, 1);
	assert_int_equal(cid_session_get(f->s, f->taro.cookie, NOW + 20, &sess), CID_OK);
	assert_string_equal(sess.account_id, f->taro.id);
	assert_int_equal(
	    cid_refresh_rotate(f->s, f->taro.refresh, "rp1", NULL, NOW + 20, TTL, &grant, next),
	    CID_OK);
	assert_string_equal(grant->account_id, f->taro.id);
	cid_grant_free(grant);
	grant = NULL;
	assert_int_equal(
	    cid_code_redeem(f->s, f->taro.code, "rp1", REDIRECT, NULL, NOW + 20, TTL, &grant, next),
	    CID_OK);
	cid_grant_free(grant);
	assert_int_equal(cid_idp_link_get(f->s, ISSUER, f->taro.sub, id), CID_OK);
	assert_string_equal(id, f->taro.id);
	assert_int_equal(cid_logins_list(f->s, f->taro.id, logins, &n), CID_OK);
	assert_int_equal(n, 1);
	assert_int_equal(consent_state(f->s, f->taro.id, "email"), CID_CONSENT_GRANTED);
}

/* The entries a query finds, each of whom it must be by. */
struct by {
	const char *actor; /* "\"actor\":\"..\"" */
	size_t n;
};

/* Counts the entries the query finds; each must be by->actor's. */
static enum cid_err count_entry_by(uint64_t seq, struct cid_str entry, void *arg)
{
	struct by *by = arg;

	(void)seq;
	assert_true(contains(entry, by->actor));
	by->n++;
	return CID_OK;
}

/* How many entries of type the log holds, each of them by actor ("\"actor\":\"..\""). */
static size_t entries_by(struct cid_store *s, const char *type, const char *actor)
{
	struct cid_audit_filter filter = {.type = type};
	struct by by = {actor, 0};
	struct cid_txn *txn = NULL;

	assert_int_equal(cid_store_read_begin(s, &txn), CID_OK);
	assert_int_equal(cid_audit_query(txn, &filter, count_entry_by, &by), CID_OK);
	cid_store_read_end(txn);
	return by.n;
}

/* The grants in force are withdrawn, so each purpose's retention runs from the deletion. */
static void test_grants_in_force_are_withdrawn(void **state)
{
	struct fixture *f = *state;
	struct cid_account_deleted done;

	assert_int_equal(consent_state(f->s, f->hanako.id, "family_name"), CID_CONSENT_GRANTED);
	assert_int_equal(cid_account_delete(f->s, "hanako", NOW + 10, &done), CID_OK);
	assert_int_equal(done.withdrawn, 2);
	assert_int_equal(consent_state(f->s, f->hanako.id, "family_name"), CID_CONSENT_WITHDRAWN);
	assert_int_equal(consent_state(f->s, f->hanako.id, "email"), CID_CONSENT_WITHDRAWN);
	assert_int_equal(consent_state(f->s, f->taro.id, "email"), CID_CONSENT_GRANTED);
	/* one consent.withdrawn entry for the scope, by the operator */
	assert_int_equal(entries_by(f->s, "consent.withdrawn", "\"actor\":\"operator\""), 1);
}

/*
 * The citizen's own deletion (the security page) deletes as the operator's
 * does, by the account id, and the log says the citizen asked, for the
 * deletion and the withdrawals alike.
 */
static void test_own_deletion_deletes_alike_and_names_the_citizen(void **state)
{
	struct fixture *f = *state;
	struct cid_account_deleted done;
	struct cid_txn *txn = NULL;
	size_t hits[CID_DB_COUNT];
	json_t *e = NULL;

	/* no id, or no citizen's, deletes nothing: never the username path */
	assert_int_equal(cid_account_delete_own(f->s, NULL, NOW + 10, &done), CID_ERR_NOTFOUND);
	assert_int_equal(cid_account_delete_own(f->s, "hanako", NOW + 10, &done), CID_ERR_NOTFOUND);
	assert_int_equal(entries_by(f->s, "account.deleted", ""), 0);

	assert_int_equal(cid_account_delete_own(f->s, f->hanako.id, NOW + 10, &done), CID_OK);
	assert_string_equal(done.id, f->hanako.id);
	assert_int_equal(done.sessions, 1);
	assert_int_equal(done.grants, 2);
	assert_int_equal(done.links, 1);
	assert_int_equal(done.withdrawn, 2);
	(void)scan_store(f->s, f->hanako.id, "hanako", hits);
	assert_int_equal(hits[CID_DB_CONSENTS], 4);
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_audit_get(txn, done.seq, &e), CID_OK);
	cid_store_read_end(txn);
	assert_string_equal(cid_json_str(e, "type"), "account.deleted");
	assert_string_equal(cid_json_str(e, "actor"), "citizen");
	assert_string_equal(cid_json_str(e, "endpoint"), "account");
	json_decref(e);
	assert_int_equal(entries_by(f->s, "consent.withdrawn", "\"endpoint\":\"account\""), 1);
	assert_int_equal(entries_by(f->s, "consent.withdrawn", "\"actor\":\"citizen\""), 1);
	/* and taro keeps his */
	assert_int_equal(consent_state(f->s, f->taro.id, "email"), CID_CONSENT_GRANTED);
}

static void test_deletion_is_on_the_log_under_a_pseudonym(void **state)
{
	struct fixture *f = *state;
	struct cid_account_deleted done;
	struct cid_txn *txn = NULL;
	json_t *e = NULL;
	json_t *scope = NULL;
	const json_t *ext;

	assert_int_equal(cid_account_delete(f->s, "hanako", NOW + 10, &done), CID_OK);
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_audit_get(txn, done.seq, &e), CID_OK);
	assert_string_equal(cid_json_str(e, "type"), "account.deleted");
	assert_string_equal(cid_json_str(e, "actor"), "operator");
	assert_string_equal(cid_json_str(e, "endpoint"), "cli");
	assert_true(cid_pseudonym_syntax_ok(cid_json_str(e, "citizen")));
	ext = json_object_get(e, "ext");
	assert_string_equal(cid_json_str(ext, "sessions"), "1");
	assert_string_equal(cid_json_str(ext, "grants"), "2");
	assert_string_equal(cid_json_str(ext, "links"), "1");
	assert_string_equal(cid_json_str(ext, "withdrawn"), "2");
	/* the pseudonym leads back to the account id (not the name), until its purge */
	assert_int_equal(cid_pseudonym_resolve(txn, cid_json_str(e, "citizen"), &scope), CID_OK);
	assert_string_equal(cid_json_str(scope, "citizen"), f->hanako.id);
	cid_store_read_end(txn);
	json_decref(scope);
	json_decref(e);
}

/* An entry without who asked, where, or whom, is refused before anything is written. */
static void test_deletion_entry_names_who_where_and_whom(void **state)
{
	const struct cid_audit_deletion ok = {
	    .actor = "operator", .endpoint = "cli", .citizen = "acct", .sessions = 3, .now = NOW};
	struct cid_audit_deletion x;
	json_t *e = NULL;

	(void)state;
	assert_int_equal(cid_audit_deletion_entry(&ok, &e), CID_OK);
	assert_string_equal(cid_json_str(json_object_get(e, "ext"), "sessions"), "3");
	assert_string_equal(cid_json_str(json_object_get(e, "ext"), "links"), "0");
	json_decref(e);
	for (int i = 0; i < 3; i++) {
		x = ok;
		*(i == 0 ? &x.actor : i == 1 ? &x.endpoint : &x.citizen) = NULL;
		e = NULL;
		assert_int_equal(cid_audit_deletion_entry(&x, &e), CID_ERR_INVALID);
		assert_null(e);
	}
}

static void test_the_name_is_free_for_a_new_citizen(void **state)
{
	struct fixture *f = *state;
	char again[CID_ID_CHARS + 1];
	char id[CID_ID_CHARS + 1];
	int64_t wait = 0;
	struct cid_account *a = NULL;
	struct cid_grant *grant = NULL;
	char next[CID_TOKEN_CHARS + 1];
	size_t hits[CID_DB_COUNT];

	assert_int_equal(cid_account_delete(f->s, "hanako", NOW + 10, NULL), CID_OK);
	assert_int_equal(cid_account_add(f->s, &cid_test_argon2, "hanako", "another password", NULL,
					 NOW + 20, again),
			 CID_OK);
	assert_string_not_equal(again, f->hanako.id);
	assert_int_equal(cid_account_authenticate(f->s, &cid_test_argon2, "hanako", PASSWORD, NULL,
						  NOW + 30, id, &wait),
			 CID_ERR_DENIED);
	assert_int_equal(cid_account_find(f->s, "hanako", &a), CID_OK);
	/* the new citizen inherits nothing: no claims, no TOTP, no tokens */
	assert_null(json_object_get(a->claims, "family_name"));
	assert_null(json_object_get(a->claims, "email"));
	assert_false(a->has_totp);
	cid_account_free(a);
	assert_int_equal(
	    cid_refresh_rotate(f->s, f->hanako.refresh, "rp1", NULL, NOW + 30, TTL, &grant, next),
	    CID_ERR_NOTFOUND);
	/* and the old id is still nowhere it must not be (scan_store fails if it is) */
	(void)scan_store(f->s, f->hanako.id, "no-username-to-look-for", hits);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_scan_finds_the_citizen_before, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_delete_leaves_nothing_of_the_citizen, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_deleted_citizen_can_no_longer_act, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_the_other_citizen_keeps_everything, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_deletion_is_on_the_log_under_a_pseudonym, setup,
					    teardown),
	    cmocka_unit_test(test_deletion_entry_names_who_where_and_whom),
	    cmocka_unit_test_setup_teardown(test_grants_in_force_are_withdrawn, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_own_deletion_deletes_alike_and_names_the_citizen,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_the_name_is_free_for_a_new_citizen, setup,
					    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
