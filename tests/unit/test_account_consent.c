/*
 * account_consent: the citizen's own changes on the account page, through
 * the real endpoint (POST /account/consent) on a real context: an LMDB store,
 * a service whose policy has a consent purpose and a statute purpose, two
 * citizens with sessions, consent records, and grants with refresh tokens.
 * One table row per change: what the form says, what the page is told, what
 * the store then holds; then the sequences a row cannot hold (withdraw and
 * share again, the audit entries, the offers the page shows).
 */
#include "account.h"
#include "account_consent.h"
#include "account_pages.h"
#include "audit.h"
#include "cid.h"
#include "consent.h"
#include "policy.h"
#include "receipt.h"
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

#define NOW	   1800000000
#define DAY	   ((int64_t)24 * 3600)
#define CSRF	   "csrfcsrfcsrfcsrfcsrfcsrfcsrfcsrfcsrfcsrfcsA" /* 43 chars: a token */
#define REDIRECT   "https://rp.example/cb"
#define STATUTE_OF "Child Welfare Act Art. 24"

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
			     "purpose register\n"
			     "\ttext.ja 住民登録を確かめるため\n"
			     "\ttext.en To check your resident registration\n"
			     "\tbasis statute " STATUTE_OF "\n"
			     "\tretention 5y\n"
			     "\tpermit resident_district\n";

struct citizen {
	char id[CID_ID_CHARS + 1];
	char cookie[CID_TOKEN_CHARS + 1];
};

struct fixture {
	char dir[256];
	struct cid_config *cfg;
	struct cid_ctx *ctx;
	struct citizen hanako, taro;
	char hanako_svc[CID_TOKEN_CHARS + 1];	/* hanako's refresh token at svc */
	char hanako_other[CID_TOKEN_CHARS + 1]; /* hanako's refresh token at other */
	char taro_svc[CID_TOKEN_CHARS + 1];	/* taro's refresh token at svc */
};

static void add_citizen(struct fixture *f, const char *name, struct citizen *c)
{
	static const char *const amr[] = {"pwd"};
	json_t *claims = json_pack("{s:s}", "given_name", name);

	assert_int_equal(cid_account_add(cid_ctx_store(f->ctx), &f->cfg->argon2, name,
					 "correct horse battery", claims, NOW - 3 * DAY, c->id),
			 CID_OK);
	json_decref(claims);
	assert_int_equal(cid_session_new(cid_ctx_store(f->ctx), c->id, CID_ACR_PASSWORD, amr, 1,
					 NOW, (int64_t)8 * 3600, c->cookie, NULL),
			 CID_OK);
}

/* Records one decision of account under service's purpose (the policy's version when it has one).
 */
static void record(struct fixture *f, const char *account, const char *service, const char *purpose,
		   const char *attribute, enum cid_consent_state state, int64_t expires_at)
{
	struct cid_policyref *pref = cid_ctx_policies_acquire(f->ctx);
	const struct cid_policy *pol = cid_policyset_find(cid_policyref_set(pref), service);
	struct cid_purpose_info pu = {.digest = "old-digest"};
	struct cid_consent_change ch = {attribute, state, expires_at};

	(void)cid_policy_purpose_find(pol, purpose, &pu);
	struct cid_consent_context cc = {
	    .account_id = account,
	    .service = service,
	    .purpose = purpose,
	    .policy_version = pol != NULL ? cid_policy_version(pol) : "old-version",
	    .purpose_digest = pu.digest,
	    .method = CID_CONSENT_METHOD_SCREEN,
	    .now = NOW - 2 * DAY,
	};
	assert_int_equal(cid_consent_record(cid_ctx_store(f->ctx), &cc, &ch, 1, NULL), CID_OK);
	cid_policyref_put(pref);
}

/* A grant of account to client, with its refresh token in refresh. */
static void grant(struct fixture *f, const char *account, const char *client,
		  char refresh[CID_TOKEN_CHARS + 1])
{
	char code[CID_TOKEN_CHARS + 1];
	char sid[CID_TOKEN_CHARS + 1];
	struct cid_grant *g = NULL;
	json_t *a;

	cid_test_session_sid(cid_ctx_store(f->ctx), account, NOW, sid);
	a = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:[s], s:s}", "client_id", client,
		      "redirect_uri", REDIRECT, "account_id", account, "sid", sid, "auth_time",
		      (json_int_t)NOW, "acr", "urn:civicid:acr:password", "amr", "pwd", "scope",
		      "openid profile");

	assert_non_null(a);
	assert_int_equal(cid_code_issue(cid_ctx_store(f->ctx), a, NOW - DAY, 60, code), CID_OK);
	assert_int_equal(cid_code_redeem(cid_ctx_store(f->ctx), code, client, REDIRECT, NULL,
					 NOW - DAY + 1, 30 * DAY, &g, refresh),
			 CID_OK);
	cid_grant_free(g);
	json_decref(a);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->cfg = cid_test_config(f->dir);
	cid_test_set(f->cfg, "default_locale", "en");
	cid_test_policies(f->cfg, f->dir, "svc.policy", policy);
	assert_int_equal(cid_ctx_open(f->cfg, NOW, NULL, &f->ctx), CID_OK);
	cid_test_add_svc_client(f->ctx, NOW);
	add_citizen(f, "hanako", &f->hanako);
	add_citizen(f, "taro", &f->taro);
	record(f, f->hanako.id, "svc", "fees", "family_name", CID_CONSENT_GRANTED, NOW + 365 * DAY);
	record(f, f->hanako.id, "svc", "fees", "email", CID_CONSENT_REFUSED, 0);
	record(f, f->hanako.id, "svc", "fees", "given_name", CID_CONSENT_GRANTED, NOW - DAY);
	/* a grant recorded before the purpose became a statute one */
	record(f, f->hanako.id, "svc", "register", "resident_district", CID_CONSENT_GRANTED, 0);
	/* a service without a policy any more, and taro's own service */
	record(f, f->hanako.id, "old-svc", "news", "email", CID_CONSENT_GRANTED, 0);
	record(f, f->taro.id, "other", "news", "email", CID_CONSENT_GRANTED, 0);
	record(f, f->taro.id, "svc", "fees", "family_name", CID_CONSENT_GRANTED, 0);
	grant(f, f->hanako.id, "svc", f->hanako_svc);
	grant(f, f->hanako.id, "other", f->hanako_other);
	grant(f, f->taro.id, "svc", f->taro_svc);
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

/*
 * POSTs form (form-encoded, without csrf) as hanako, signed as sign says,
 * to /account/consent; reply is filled.
 */
static void post(struct fixture *f, const struct citizen *who, enum cid_test_sign sign,
		 const char *form, struct cid_reply *reply)
{
	struct cid_request req;

	cid_test_signed_post(&req, who->cookie,
			     who == &f->hanako ? f->taro.cookie : f->hanako.cookie, CSRF, sign,
			     form, NOW);
	memset(reply, 0, sizeof(*reply));
	assert_int_equal(cid_account_consent_post(f->ctx, &req, reply), CID_OK);
	cid_request_clear(&req);
}

/* The state of the latest record of (account, service, purpose, attribute) as read at NOW. */
static const char *state_of(struct fixture *f, const char *account, const char *service,
			    const char *purpose, const char *attribute)
{
	static const char *const names[] = {"granted", "refused", "withdrawn", "expired"};
	struct cid_txn *txn = NULL;
	struct cid_consent_record rec;
	json_t *r = NULL;
	enum cid_err rc;
	const char *out = "none";

	assert_int_equal(cid_store_read_begin(cid_ctx_store(f->ctx), &txn), CID_OK);
	rc = cid_consent_latest(txn, account, service, purpose, attribute, &r);
	cid_store_read_end(txn);
	if (rc == CID_ERR_NOTFOUND)
		return out;
	assert_int_equal(rc, CID_OK);
	assert_int_equal(cid_consent_record_read(r, &rec), CID_OK);
	out = names[cid_consent_state_at(rec.state, rec.expires_at, NOW)];
	json_decref(r);
	return out;
}

/* How many consent records the store holds (all citizens). */
static size_t records(struct fixture *f)
{
	json_t *h = NULL;
	size_t n;

	assert_int_equal(cid_consent_history(cid_ctx_store(f->ctx), f->hanako.id, NULL, &h),
			 CID_OK);
	n = json_array_size(h);
	json_decref(h);
	assert_int_equal(cid_consent_history(cid_ctx_store(f->ctx), f->taro.id, NULL, &h), CID_OK);
	n += json_array_size(h);
	json_decref(h);
	return n;
}

/* True if the refresh token is still usable. */
static bool live(struct fixture *f, const char *refresh)
{
	struct cid_grant *g = NULL;
	int64_t iat;
	int64_t exp;
	enum cid_err rc = cid_refresh_lookup(cid_ctx_store(f->ctx), refresh, NOW, &g, &iat, &exp);

	cid_grant_free(g);
	return rc == CID_OK;
}

struct row {
	const char *name;
	bool taro; /* as taro, else as hanako */
	enum cid_test_sign sign;
	const char *form;
	int status;	     /* 303 (with notice), 400, 401, 403 */
	const char *notice;  /* the notice of the redirect, when 303 */
	size_t written;	     /* records the change adds */
	const char *service; /* a record to check afterwards (of the same citizen), or NULL */
	const char *purpose;
	const char *attribute;
	const char *state;    /* its state then */
	bool hanako_svc_live; /* hanako's refresh token at svc still works */
};

static const struct row rows[] = {
    /* withdraw: one attribute, a purpose, a service */
    {"withdraw an attribute", false, CID_TEST_SIGNED,
     "action=withdraw&service=svc&purpose=fees&attribute=family_name", 303, "withdrawn_attribute",
     1, "svc", "fees", "family_name", "withdrawn", true},
    {"withdraw a purpose: its grants in force", false, CID_TEST_SIGNED,
     "action=withdraw&service=svc&purpose=fees", 303, "withdrawn_purpose", 1, "svc", "fees",
     "family_name", "withdrawn", true},
    {"withdraw a purpose leaves the refusal as it is", false, CID_TEST_SIGNED,
     "action=withdraw&service=svc&purpose=fees", 303, "withdrawn_purpose", 1, "svc", "fees",
     "email", "refused", true},
    {"withdraw a service: every grant in force, and its tokens", false, CID_TEST_SIGNED,
     "action=withdraw&service=svc", 303, "withdrawn_service", 1, "svc", "fees", "family_name",
     "withdrawn", false},
    {"withdraw a service leaves what the law provides", false, CID_TEST_SIGNED,
     "action=withdraw&service=svc", 303, "withdrawn_service", 1, "svc", "register",
     "resident_district", "granted", false},
    {"withdraw a service whose policy is gone", false, CID_TEST_SIGNED,
     "action=withdraw&service=old-svc", 303, "withdrawn_service", 1, "old-svc", "news", "email",
     "withdrawn", true},
    {"withdraw an attribute of a purpose no policy has any more", false, CID_TEST_SIGNED,
     "action=withdraw&service=old-svc&purpose=news&attribute=email", 303, "withdrawn_attribute", 1,
     "old-svc", "news", "email", "withdrawn", true},
    {"taro withdraws his own, hanako's tokens untouched", true, CID_TEST_SIGNED,
     "action=withdraw&service=svc", 303, "withdrawn_service", 1, "svc", "fees", "family_name",
     "withdrawn", true},
    /* share again */
    {"share a refused attribute", false, CID_TEST_SIGNED,
     "action=share&service=svc&purpose=fees&attribute=email", 303, "shared", 1, "svc", "fees",
     "email", "granted", true},
    {"share what is shared", false, CID_TEST_SIGNED,
     "action=share&service=svc&purpose=fees&attribute=family_name", 303, "not_shareable", 0, "svc",
     "fees", "family_name", "granted", true},
    {"share an expired grant (the consent screen asks again)", false, CID_TEST_SIGNED,
     "action=share&service=svc&purpose=fees&attribute=given_name", 303, "not_shareable", 0, "svc",
     "fees", "given_name", "expired", true},
    {"share what the purpose does not ask", false, CID_TEST_SIGNED,
     "action=share&service=svc&purpose=fees&attribute=birthdate", 303, "not_in_purpose", 0, "svc",
     "fees", "birthdate", "none", true},
    {"share under a purpose no policy has any more", false, CID_TEST_SIGNED,
     "action=share&service=old-svc&purpose=news&attribute=email", 303, "not_in_purpose", 0,
     "old-svc", "news", "email", "granted", true},
    /* refusals of a withdrawal */
    {"withdraw a refusal", false, CID_TEST_SIGNED,
     "action=withdraw&service=svc&purpose=fees&attribute=email", 303, "not_shared", 0, "svc",
     "fees", "email", "refused", true},
    {"withdraw an expired grant", false, CID_TEST_SIGNED,
     "action=withdraw&service=svc&purpose=fees&attribute=given_name", 303, "not_shared", 0, "svc",
     "fees", "given_name", "expired", true},
    {"withdraw an attribute the purpose does not ask", false, CID_TEST_SIGNED,
     "action=withdraw&service=svc&purpose=fees&attribute=birthdate", 303, "not_in_purpose", 0, NULL,
     NULL, NULL, NULL, true},
    {"withdraw what the law provides", false, CID_TEST_SIGNED,
     "action=withdraw&service=svc&purpose=register&attribute=resident_district", 303, "by_law", 0,
     "svc", "register", "resident_district", "granted", true},
    {"withdraw a statute purpose", false, CID_TEST_SIGNED,
     "action=withdraw&service=svc&purpose=register", 303, "by_law", 0, "svc", "register",
     "resident_district", "granted", true},
    {"share what the law provides", false, CID_TEST_SIGNED,
     "action=share&service=svc&purpose=register&attribute=resident_district", 303, "by_law", 0,
     NULL, NULL, NULL, NULL, true},
    {"an unknown service", false, CID_TEST_SIGNED, "action=withdraw&service=nope", 303,
     "no_service", 0, NULL, NULL, NULL, NULL, true},
    {"another citizen's service", false, CID_TEST_SIGNED, "action=withdraw&service=other", 303,
     "no_service", 0, NULL, NULL, NULL, NULL, true},
    {"another citizen's attribute", false, CID_TEST_SIGNED,
     "action=withdraw&service=other&purpose=news&attribute=email", 303, "no_service", 0, NULL, NULL,
     NULL, NULL, true},
    {"an unknown purpose", false, CID_TEST_SIGNED, "action=withdraw&service=svc&purpose=nope", 303,
     "no_purpose", 0, NULL, NULL, NULL, NULL, true},
    /* the form itself */
    {"no csrf", false, CID_TEST_UNSIGNED, "action=withdraw&service=svc", 403, NULL, 0, "svc",
     "fees", "family_name", "granted", true},
    {"another session's csrf", false, CID_TEST_OTHER_SESSION, "action=withdraw&service=svc", 403,
     NULL, 0, "svc", "fees", "family_name", "granted", true},
    {"no csrf cookie", false, CID_TEST_NO_CSRF_COOKIE, "action=withdraw&service=svc", 403, NULL, 0,
     "svc", "fees", "family_name", "granted", true},
    {"no session", false, CID_TEST_NO_SESSION, "action=withdraw&service=svc", 401, NULL, 0, NULL,
     NULL, NULL, NULL, true},
    {"no action", false, CID_TEST_SIGNED, "service=svc", 400, NULL, 0, NULL, NULL, NULL, NULL,
     true},
    {"an unknown action", false, CID_TEST_SIGNED, "action=delete&service=svc", 400, NULL, 0, NULL,
     NULL, NULL, NULL, true},
    {"no service", false, CID_TEST_SIGNED, "action=withdraw", 400, NULL, 0, NULL, NULL, NULL, NULL,
     true},
    {"an attribute without its purpose", false, CID_TEST_SIGNED,
     "action=withdraw&service=svc&attribute=email", 400, NULL, 0, NULL, NULL, NULL, NULL, true},
    {"share a whole purpose (sharing is per attribute)", false, CID_TEST_SIGNED,
     "action=share&service=svc&purpose=fees", 400, NULL, 0, NULL, NULL, NULL, NULL, true},
    {"an attribute no record can have", false, CID_TEST_SIGNED,
     "action=withdraw&service=svc&purpose=fees&attribute=family_name%23ja", 400, NULL, 0, NULL,
     NULL, NULL, NULL, true},
    {"a service name no record can have", false, CID_TEST_SIGNED, "action=withdraw&service=a%0Ab",
     400, NULL, 0, NULL, NULL, NULL, NULL, true},
};

static void test_the_table_of_changes(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *w = &rows[i];
		struct fixture *f = NULL;
		struct cid_reply r;
		const struct citizen *who;
		size_t before;
		char want[256];

		assert_int_equal(setup((void **)&f), 0);
		who = w->taro ? &f->taro : &f->hanako;
		before = records(f);
		post(f, who, w->sign, w->form, &r);
		if (r.status != w->status)
			fail_msg("%s: status %d, want %d", w->name, r.status, w->status);
		if (w->status == 303) {
			snprintf(want, sizeof(want), "/account?notice=%s&", w->notice);
			if (strncmp(r.location, want, strlen(want)) != 0)
				fail_msg("%s: location %s, want %s...", w->name, r.location, want);
			assert_non_null(strstr(r.location, "&lang=en"));
			/* a withdrawal that wrote records links its receipt */
			if ((strncmp(w->notice, "withdrawn_", 10) == 0 && w->written > 0) !=
			    (strstr(r.location, "&receipt=") != NULL))
				fail_msg("%s: location %s and its receipt", w->name, r.location);
		} else {
			assert_null(r.location);
		}
		if (records(f) != before + w->written)
			fail_msg("%s: %zu records written, want %zu", w->name, records(f) - before,
				 w->written);
		if (w->service != NULL) {
			const char *got =
			    state_of(f, who->id, w->service, w->purpose, w->attribute);

			if (strcmp(got, w->state) != 0)
				fail_msg("%s: %s is %s, want %s", w->name, w->attribute, got,
					 w->state);
		}
		if (live(f, f->hanako_svc) != w->hanako_svc_live)
			fail_msg("%s: hanako's refresh token at svc %s", w->name,
				 w->hanako_svc_live ? "revoked" : "still live");
		/* no change touches another service's or another citizen's tokens */
		assert_true(live(f, f->hanako_other));
		assert_int_equal(live(f, f->taro_svc), !(w->taro && w->written > 0));
		cid_reply_free(&r);
		assert_int_equal(teardown((void **)&f), 0);
	}
}

/* Withdrawn, then shared again: each change a record by the account page, with its audit entry. */
static void test_withdraw_then_share_again_with_audit(void **state)
{
	struct fixture *f = *state;
	struct cid_account_outcome out;
	struct cid_account_change ch = {.account_id = f->hanako.id,
					.action = CID_ACCOUNT_WITHDRAW,
					.service = "svc",
					.purpose = "fees",
					.attribute = "family_name",
					.now = NOW};
	static const char *const types[] = {"consent.withdrawn", "consent.granted"};
	json_t *rec = NULL;
	struct cid_consent_record r;
	struct cid_txn *txn = NULL;

	for (int step = 0; step < 2; step++) {
		ch.action = step == 0 ? CID_ACCOUNT_WITHDRAW : CID_ACCOUNT_SHARE;
		assert_int_equal(cid_account_consent_change(f->ctx, &ch, &out), CID_OK);
		assert_int_equal(out.notice,
				 step == 0 ? CID_NOTICE_WITHDRAWN_ATTRIBUTE : CID_NOTICE_SHARED);
		assert_int_equal(out.records, 1);
		assert_int_equal(out.grants_revoked, 0);

		json_t *e = NULL;
		uint64_t size = 0;
		char hash[CID_AUDIT_HASH_HEX];

		/* the last entry of the log is the change's, by the citizen on the account page */
		assert_int_equal(cid_store_read_begin(cid_ctx_store(f->ctx), &txn), CID_OK);
		assert_int_equal(cid_audit_head(txn, &size, hash), CID_OK);
		assert_int_equal(cid_audit_get(txn, size - 1, &e), CID_OK);
		cid_store_read_end(txn);
		assert_string_equal(cid_json_str(e, "type"), types[step]);
		assert_string_equal(cid_json_str(e, "actor"), "citizen");
		cid_test_assert_citizen(cid_ctx_store(f->ctx), e, f->hanako.id);
		assert_string_equal(cid_json_str(e, "endpoint"), "account");
		assert_string_equal(cid_json_str(e, "service"), "svc");
		assert_string_equal(
		    json_string_value(json_array_get(json_object_get(e, "attributes"), 0)),
		    "family_name");
		json_decref(e);
	}
	/* the grant given again is the purpose's in force: its lifetime and its digest */
	assert_int_equal(cid_store_read_begin(cid_ctx_store(f->ctx), &txn), CID_OK);
	assert_int_equal(cid_consent_latest(txn, f->hanako.id, "svc", "fees", "family_name", &rec),
			 CID_OK);
	cid_store_read_end(txn);
	assert_int_equal(cid_consent_record_read(rec, &r), CID_OK);
	assert_int_equal(r.state, CID_CONSENT_GRANTED);
	assert_int_equal(r.expires_at, NOW + 365 * DAY);
	assert_string_equal(r.method, "web:account");
	json_decref(rec);
	/* shared again, it can be withdrawn again; a second share is refused */
	assert_int_equal(cid_account_consent_change(f->ctx, &ch, &out), CID_ERR_REFUSED);
	assert_int_equal(out.notice, CID_NOTICE_NOT_SHAREABLE);
	assert_int_equal(out.records, 0);
}

/* Withdrawing everything of a service revokes every grant of it for the citizen. */
static void test_withdraw_all_revokes_the_refresh_tokens(void **state)
{
	struct fixture *f = *state;
	struct cid_account_outcome out;
	char second[CID_TOKEN_CHARS + 1];
	struct cid_account_change ch = {.account_id = f->hanako.id,
					.action = CID_ACCOUNT_WITHDRAW,
					.service = "svc",
					.now = NOW};

	grant(f, f->hanako.id, "svc", second);
	assert_true(live(f, f->hanako_svc) && live(f, second));
	assert_int_equal(cid_account_consent_change(f->ctx, &ch, &out), CID_OK);
	assert_int_equal(out.notice, CID_NOTICE_WITHDRAWN_SERVICE);
	assert_int_equal(out.grants_revoked, 2);
	assert_false(live(f, f->hanako_svc));
	assert_false(live(f, second));
	assert_true(live(f, f->hanako_other));
	assert_true(live(f, f->taro_svc));
	/* nothing left in force: a second time still ends whatever access is left, and says so */
	assert_int_equal(cid_account_consent_change(f->ctx, &ch, &out), CID_OK);
	assert_int_equal(out.records, 0);
	assert_int_equal(out.grants_revoked, 0);
}

static int setup_receipts(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->cfg = cid_test_config(f->dir);
	cid_test_set(f->cfg, "default_locale", "en");
	cid_test_set(f->cfg, "controller_name", "City");
	cid_test_set(f->cfg, "controller_contact", "Office");
	cid_test_set(f->cfg, "controller_address", "1 Street");
	cid_test_set(f->cfg, "controller_email", "a@city.example");
	cid_test_set(f->cfg, "policy_url", "https://city.example/p");
	cid_test_policies(f->cfg, f->dir, "svc.policy", policy);
	assert_int_equal(cid_ctx_open(f->cfg, NOW, NULL, &f->ctx), CID_OK);
	cid_test_add_svc_client(f->ctx, NOW);
	add_citizen(f, "hanako", &f->hanako);
	record(f, f->hanako.id, "svc", "fees", "family_name", CID_CONSENT_GRANTED, NOW + 365 * DAY);
	record(f, f->hanako.id, "svc", "fees", "email", CID_CONSENT_REFUSED, 0);
	*state = f;
	return 0;
}

/*
 * Changes on the account page in one second are each a decision of their
 * own: the receipt of the first lists its own records only, not those of a
 * later change that looks alike (same state, service, purpose and second).
 */
static void test_each_change_has_its_own_receipt(void **state)
{
	struct fixture *f = *state;
	struct cid_account_outcome out;
	char first[CID_ID_CHARS + 1];
	char *jws = NULL;
	json_t *claims = NULL;
	const json_t *pii;
	struct cid_account_change ch = {.account_id = f->hanako.id,
					.action = CID_ACCOUNT_WITHDRAW,
					.service = "svc",
					.purpose = "fees",
					.attribute = "family_name",
					.now = NOW};

	assert_int_equal(cid_account_consent_change(f->ctx, &ch, &out), CID_OK);
	memcpy(first, out.receipt, sizeof(first));
	/* in the same second: email shared, then withdrawn again */
	ch.action = CID_ACCOUNT_SHARE;
	ch.attribute = "email";
	assert_int_equal(cid_account_consent_change(f->ctx, &ch, &out), CID_OK);
	ch.action = CID_ACCOUNT_WITHDRAW;
	assert_int_equal(cid_account_consent_change(f->ctx, &ch, &out), CID_OK);
	assert_string_not_equal(out.receipt, first);
	assert_int_equal(cid_receipt_make(f->ctx, first, f->hanako.id, "en", NOW, &jws, &claims),
			 CID_OK);
	pii = json_object_get(
	    json_array_get(
		json_object_get(json_array_get(json_object_get(claims, "services"), 0), "purposes"),
		0),
	    "piiCategory");
	assert_int_equal(json_array_size(pii), 1);
	assert_string_equal(json_string_value(json_array_get(pii, 0)), "family_name");
	assert_int_equal(json_array_size(json_object_get(claims, "consent_records")), 1);
	free(jws);
	json_decref(claims);
}

/* The number of records the receipt of record id covers. */
static size_t receipt_records(struct fixture *f, const char *id)
{
	char *jws = NULL;
	json_t *claims = NULL;
	size_t n;

	assert_int_equal(cid_receipt_make(f->ctx, id, f->hanako.id, "en", NOW, &jws, &claims),
			 CID_OK);
	n = json_array_size(json_object_get(claims, "consent_records"));
	free(jws);
	json_decref(claims);
	return n;
}

/*
 * The operator's changes too (a paper form, a withdrawal by the CLI): two
 * calls in one second, alike in all else, are two decisions, each with a
 * receipt of its own (the rule is the consent module's, not a page's).
 */
static void test_each_call_is_a_decision_of_its_own(void **state)
{
	struct fixture *f = *state;
	struct cid_policyref *pref = cid_ctx_policies_acquire(f->ctx);
	const struct cid_policy *pol = cid_policyset_find(cid_policyref_set(pref), "svc");
	struct cid_purpose_info pu;
	struct cid_consent_change email = {"email", CID_CONSENT_GRANTED, NOW + 365 * DAY};
	struct cid_consent_change given = {"given_name", CID_CONSENT_GRANTED, NOW + 365 * DAY};
	const char *family[] = {"family_name"};
	const char *both[] = {"email"};
	char *first[1] = {NULL};
	char *second[1] = {NULL};

	assert_true(cid_policy_purpose_find(pol, "fees", &pu));
	struct cid_consent_context cc = {
	    .account_id = f->hanako.id,
	    .service = "svc",
	    .purpose = "fees",
	    .policy_version = cid_policy_version(pol),
	    .purpose_digest = pu.digest,
	    .method = CID_CONSENT_METHOD_CLI_PAPER,
	    .now = NOW,
	};
	/* two paper forms in one second */
	assert_int_equal(cid_consent_record(cid_ctx_store(f->ctx), &cc, &email, 1, first), CID_OK);
	assert_int_equal(cid_consent_record(cid_ctx_store(f->ctx), &cc, &given, 1, second), CID_OK);
	assert_int_equal(receipt_records(f, first[0]), 1);
	free(first[0]);
	free(second[0]);
	/* two withdrawals by the CLI in one second */
	cc.method = CID_CONSENT_METHOD_CLI_WITHDRAW;
	cc.now = NOW + 1;
	assert_int_equal(cid_consent_withdraw(cid_ctx_store(f->ctx), &cc, family, 1, first, NULL),
			 CID_OK);
	assert_int_equal(cid_consent_withdraw(cid_ctx_store(f->ctx), &cc, both, 1, second, NULL),
			 CID_OK);
	assert_int_equal(receipt_records(f, first[0]), 1);
	free(first[0]);
	free(second[0]);
	cid_policyref_put(pref);
}

/* The page offers exactly what the rule allows: one table, one rule. */
static void test_the_page_offers_what_the_rule_allows(void **state)
{
	struct fixture *f = *state;
	struct cid_request req = {.session_cookie = f->hanako.cookie,
				  .csrf_cookie = CSRF,
				  .now = NOW,
				  .remote_addr = "127.0.0.1"};
	struct cid_reply r = {0};
	char want[CID_TOKEN_CHARS + 1];
	size_t i;
	size_t j;
	const json_t *g;
	const json_t *item;
	int law = 0;
	int heads = 0;

	assert_int_equal(cid_params_parse_form(&req.params,
					       "notice=shared&service=svc&purpose=fees"
					       "&attribute=email",
					       strlen("notice=shared&service=svc&purpose=fees"
						      "&attribute=email")),
			 CID_OK);
	assert_int_equal(cid_account_page(f->ctx, &req, &r), CID_OK);
	assert_int_equal(r.status, 200);
	/* the forms' token is the session's, from the browser's CSRF cookie */
	cid_session_form_token(f->hanako.cookie, CSRF, want);
	assert_string_equal(json_string_value(json_object_get(r.page_data, "csrf")), want);
	const json_t *n = json_array_get(json_object_get(r.page_data, "notice"), 0);
	assert_string_equal(cid_json_str(n, "key"), "account_notice_shared");
	assert_string_equal(cid_json_str(n, "service_name"), "Childcare support");
	assert_string_equal(cid_json_str(n, "purpose_text"), "To calculate your childcare fee");
	assert_string_equal(cid_json_str(n, "label_key"), "attr.email");
	assert_true(json_is_false(json_object_get(n, "error")));
	json_array_foreach(json_object_get(r.page_data, "consents"), i, g)
	{
		if (json_is_true(json_object_get(g, "service_head")))
			heads++;
		if (cid_json_str(g, "statute") != NULL) {
			assert_string_equal(cid_json_str(g, "statute"), STATUTE_OF);
			item = json_array_get(json_object_get(g, "items"), 0);
			assert_string_equal(cid_json_str(item, "state_key"), "account_state_law");
			assert_null(json_object_get(item, "can_withdraw"));
			law++;
			continue;
		}
		json_array_foreach(json_object_get(g, "items"), j, item)
		{
			const char *attr = cid_json_str(item, "attribute");
			bool w = json_is_true(json_object_get(item, "can_withdraw"));
			bool s = json_is_true(json_object_get(item, "can_share"));

			if (strcmp(cid_json_str(g, "purpose"), "register") == 0)
				assert_false(w || s); /* a statute purpose now */
			else if (strcmp(attr, "family_name") == 0 ||
				 strcmp(cid_json_str(g, "service"), "old-svc") == 0)
				assert_true(w && !s);
			else if (strcmp(attr, "email") == 0)
				assert_true(s && !w);
			else
				assert_false(w || s); /* expired: the consent screen asks again */
		}
	}
	assert_int_equal(law, 1);
	assert_int_equal(heads, 2); /* svc and old-svc, each once */
	cid_reply_free(&r);
	cid_request_clear(&req);
}

/* A notice the page does not know, or names no record can have, are not shown. */
static void test_unknown_notices_show_nothing(void **state)
{
	struct fixture *f = *state;
	static const char *const queries[] = {"notice=pwned", "notice=", "notice=withdrawn",
					      "notice=NONE"};
	json_t *data = json_object();
	struct cid_request req = {.now = NOW};

	for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
		assert_int_equal(cid_params_parse_form(&req.params, queries[i], strlen(queries[i])),
				 CID_OK);
		assert_int_equal(cid_account_notice(&req, data), CID_OK);
		assert_null(json_object_get(data, "notice"));
		cid_request_clear(&req);
	}
	assert_int_equal(cid_params_parse_form(&req.params, "notice=by_law&service=a%0Ab", 27),
			 CID_OK);
	assert_int_equal(cid_account_notice(&req, data), CID_OK);
	const json_t *n = json_array_get(json_object_get(data, "notice"), 0);
	assert_true(json_is_true(json_object_get(n, "error")));
	assert_null(json_object_get(n, "service"));
	cid_request_clear(&req);
	json_decref(data);
	(void)f;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_the_table_of_changes),
	    cmocka_unit_test_setup_teardown(test_each_change_has_its_own_receipt, setup_receipts,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_each_call_is_a_decision_of_its_own, setup_receipts,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_withdraw_then_share_again_with_audit, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_withdraw_all_revokes_the_refresh_tokens, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_the_page_offers_what_the_rule_allows, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_notices_show_nothing, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
