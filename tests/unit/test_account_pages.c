/*
 * account_pages: the citizen's account page and receipt download through
 * their real entry points on a real context (LMDB store, keys, a service
 * under its policy, two citizens with sessions, consent records and audit
 * entries written by consent.c and audit.c). Checks who may see what: no
 * session, another citizen's record, malformed ids, paging input.
 */
#include "account.h"
#include "account_consent.h"
#include "account_login.h"
#include "account_pages.h"
#include "audit.h"
#include "cid.h"
#include "client.h"
#include "config.h"
#include "consent.h"
#include "jose.h"
#include "oidc.h"
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

#define NOW 1800000000
#define DAY ((int64_t)24 * 3600)

struct citizen {
	char id[CID_ID_CHARS + 1];
	char cookie[CID_TOKEN_CHARS + 1];
};

struct fixture {
	char dir[256];
	struct cid_config *cfg;
	struct cid_ctx *ctx;
	struct cid_audit *log;
	struct citizen hanako, taro;
	char *granted;	/* hanako's grant of family_name */
	char *refused;	/* hanako's refusal of email */
	char *expired;	/* hanako's grant of given_name, expired at the time of the requests */
	char *taro_rec; /* taro's grant of email */
};

static void add_citizen(struct fixture *f, const char *name, struct citizen *c)
{
	static const char *const amr[] = {"pwd"};
	json_t *claims = json_pack("{s:s}", "given_name", name);

	assert_int_equal(cid_account_add(cid_ctx_store(f->ctx), &f->cfg->argon2, name,
					 "correct horse battery", claims, NOW, c->id),
			 CID_OK);
	json_decref(claims);
	assert_int_equal(cid_session_new(cid_ctx_store(f->ctx), c->id, CID_ACR_PASSWORD, amr, 1,
					 NOW, (int64_t)8 * 3600, c->cookie, NULL),
			 CID_OK);
}

/* Records one decision of account and returns the record id (caller frees). */
static char *record(struct fixture *f, const char *account, const char *attribute,
		    enum cid_consent_state state, int64_t expires_at)
{
	const struct cid_policy *pol;
	struct cid_purpose_info pu;
	struct cid_policyref *pref = cid_ctx_policies_acquire(f->ctx);
	struct cid_consent_change ch = {attribute, state, expires_at};
	char *id = NULL;

	pol = cid_policyset_find(cid_policyref_set(pref), "svc");
	cid_policy_purpose(pol, 0, &pu);
	struct cid_consent_context cc = {
	    .account_id = account,
	    .service = "svc",
	    .purpose = "fees",
	    .policy_version = cid_policy_version(pol),
	    .purpose_digest = pu.digest,
	    .method = CID_CONSENT_METHOD_SCREEN,
	    .request_id = "req-ref",
	    .now = NOW - 2 * DAY,
	};
	assert_int_equal(cid_consent_record(cid_ctx_store(f->ctx), &cc, &ch, 1, &id), CID_OK);
	cid_policyref_put(pref);
	return id;
}

/* Appends a release.permit of attribute to svc for account, at minute i. */
static void release(struct fixture *f, const char *account, const char *attribute, int i)
{
	char t[32];
	json_t *e;

	snprintf(t, sizeof(t), "2027-01-15T07:%02d:00Z", i % 60);
	e = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:[s], s:s, s:s, s:s, s:s}", "time", t,
		      "type", "release.permit", "actor", "service", "citizen", account, "service",
		      "svc", "purpose", "fees", "attributes", attribute, "decision", "permit",
		      "reason", "permit_consent", "basis", "consent", "endpoint", "userinfo");
	assert_non_null(e);
	assert_int_equal(cid_audit_append(f->log, &e, 1, NULL), CID_OK);
	json_decref(e);
}

#define LAW_CITATION "Basic Resident Registers Act Art. 30-9"

/* A service whose one purpose is provided by law: no citizen is ever asked about it. */
static const char law_policy[] = "service law-svc\n"
				 "name.ja 住民記録照会\n"
				 "name.en Resident records check\n"
				 "purpose verify\n"
				 "\ttext.ja 住所を確認するため\n"
				 "\ttext.en To confirm your address\n"
				 "\tbasis statute " LAW_CITATION "\n"
				 "\tretention 5y\n"
				 "\tpermit resident_district\n"
				 "\tpermit family_name\n";

/* The fixture, with law (NULL: none) as a second policy file, law-svc.policy. */
static int setup_with(void **state, const char *law)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char path[512];

	assert_non_null(f);
	f->cfg = cid_test_config(f->dir);
	cid_test_set(f->cfg, "default_locale", "en");
	cid_test_set(f->cfg, "controller_name", "Aoi City");
	cid_test_set(f->cfg, "controller_contact", "Privacy Office");
	cid_test_set(f->cfg, "controller_address", "1-1 Aoi, Aoi City");
	cid_test_set(f->cfg, "controller_email", "privacy@city.example.jp");
	cid_test_set(f->cfg, "policy_url", "https://city.example.jp/privacy");
	cid_test_policies(f->cfg, f->dir, "svc.policy", cid_test_svc_policy);
	if (law != NULL) {
		snprintf(path, sizeof(path), "%s/policies/law-svc.policy", f->dir);
		cid_test_write_file(path, law);
	}
	assert_int_equal(cid_ctx_open(f->cfg, NOW, NULL, &f->ctx), CID_OK);
	assert_int_equal(cid_audit_open(cid_ctx_store(f->ctx), false, &f->log), CID_OK);
	cid_test_add_svc_client(f->ctx, NOW);
	add_citizen(f, "hanako", &f->hanako);
	add_citizen(f, "taro", &f->taro);
	f->granted = record(f, f->hanako.id, "family_name", CID_CONSENT_GRANTED, NOW + 365 * DAY);
	f->refused = record(f, f->hanako.id, "email", CID_CONSENT_REFUSED, 0);
	f->expired = record(f, f->hanako.id, "given_name", CID_CONSENT_GRANTED, NOW - DAY);
	f->taro_rec = record(f, f->taro.id, "email", CID_CONSENT_GRANTED, 0);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, NULL);
}

static int setup_law(void **state)
{
	return setup_with(state, law_policy);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	free(f->granted);
	free(f->refused);
	free(f->expired);
	free(f->taro_rec);
	cid_audit_close(f->log);
	cid_test_ctx_close(f->ctx, f->cfg, f->dir);
	free(f);
	return 0;
}

/* A GET with the query (form-encoded) and the session cookie (may be NULL). */
static void get(struct fixture *f,
		enum cid_err (*fn)(struct cid_ctx *, const struct cid_request *,
				   struct cid_reply *),
		const char *cookie, const char *query, struct cid_reply *reply)
{
	struct cid_request req = {.session_cookie = cookie, .now = NOW, .remote_addr = "127.0.0.1"};

	assert_int_equal(cid_params_parse_form(&req.params, query, strlen(query)), CID_OK);
	memset(reply, 0, sizeof(*reply));
	assert_int_equal(fn(f->ctx, &req, reply), CID_OK);
	cid_request_clear(&req);
}

static const char *page_str(const struct cid_reply *r, const char *name)
{
	return json_string_value(json_object_get(r->page_data, name));
}

static void assert_signed_out(const struct cid_reply *r)
{
	assert_int_equal(r->status, 401);
	assert_int_equal(r->page, CID_PAGE_ACCOUNT);
	assert_null(r->location);
	assert_true(json_is_true(json_object_get(r->page_data, "signed_out")));
	assert_true(json_is_false(json_object_get(r->page_data, "signed_in")));
	assert_null(json_object_get(r->page_data, "consents"));
}

static void test_without_a_session_both_pages_say_sign_in(void **state)
{
	struct fixture *f = *state;
	struct cid_reply r;
	static const char *const cookies[] = {
	    NULL,
	    "",
	    "not-a-session",
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	    "../../../../etc/passwd",
	};
	char id_query[64];

	snprintf(id_query, sizeof(id_query), "id=%s", f->granted);
	for (size_t i = 0; i < sizeof(cookies) / sizeof(cookies[0]); i++) {
		get(f, cid_account_page, cookies[i], "", &r);
		assert_signed_out(&r);
		cid_reply_free(&r);
		get(f, cid_account_receipt, cookies[i], id_query, &r);
		assert_signed_out(&r);
		assert_null(r.body);
		cid_reply_free(&r);
	}
}

/* A disabled citizen's session shows nothing, and stays dead when they are enabled again. */
static void test_a_disabled_citizen_is_signed_out(void **state)
{
	struct fixture *f = *state;
	struct cid_reply r;
	char id_query[64];

	snprintf(id_query, sizeof(id_query), "id=%s", f->granted);
	for (int enabled = 0; enabled < 2; enabled++) {
		assert_int_equal(
		    cid_account_set_disabled(cid_ctx_store(f->ctx), "hanako", enabled == 0, NOW),
		    CID_OK);
		get(f, cid_account_page, f->hanako.cookie, "", &r);
		assert_signed_out(&r);
		cid_reply_free(&r);
		get(f, cid_account_receipt, f->hanako.cookie, id_query, &r);
		assert_signed_out(&r);
		assert_null(r.body);
		cid_reply_free(&r);
	}
	/* another citizen's session is untouched */
	get(f, cid_account_page, f->taro.cookie, "", &r);
	assert_int_equal(r.status, 200);
	cid_reply_free(&r);
}

static void test_the_page_lists_the_current_decision_per_attribute(void **state)
{
	struct fixture *f = *state;
	struct cid_reply r;
	size_t i;
	const json_t *item;
	int seen = 0;

	get(f, cid_account_page, f->hanako.cookie, "", &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.page, CID_PAGE_ACCOUNT);
	assert_true(r.no_store);
	assert_string_equal(r.locale, "en");
	const json_t *consents = json_object_get(r.page_data, "consents");
	assert_int_equal(json_array_size(consents), 1);
	const json_t *g = json_array_get(consents, 0);
	assert_string_equal(json_string_value(json_object_get(g, "service_name")),
			    "Childcare support");
	assert_string_equal(json_string_value(json_object_get(g, "purpose_text")),
			    "To calculate your childcare fee");
	json_array_foreach(json_object_get(g, "items"), i, item)
	{
		const char *label = json_string_value(json_object_get(item, "label_key"));
		const char *st = json_string_value(json_object_get(item, "state_key"));
		const json_t *rid = json_object_get(item, "receipt_id");

		if (strcmp(label, "attr.family_name") == 0) {
			assert_string_equal(st, "account_state_granted");
			assert_string_equal(json_string_value(rid), f->granted);
			assert_string_equal(json_string_value(json_object_get(item, "expires")),
					    "2028-01-15T08:00:00Z");
			/* as the citizen reads it: in English, in the city's zone (Asia/Tokyo) */
			assert_string_equal(
			    json_string_value(json_object_get(item, "expires_local")),
			    "15 January 2028, 17:00");
		} else if (strcmp(label, "attr.email") == 0) {
			assert_string_equal(st, "account_state_refused");
			assert_null(rid);
		} else {
			assert_string_equal(label, "attr.given_name");
			assert_string_equal(st, "account_state_expired");
			assert_null(rid); /* a lapsed grant: nothing in force to prove */
		}
		seen++;
	}
	assert_int_equal(seen, 3);
	/* nothing released yet: the trail holds her three decisions, newest first */
	const json_t *trail = json_object_get(r.page_data, "trail");
	assert_int_equal(json_array_size(trail), 3);
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(trail, 0), "event_key")),
	    "account_ev_granted");
	assert_string_equal(
	    json_string_value(json_object_get(
		json_array_get(json_object_get(json_array_get(trail, 0), "items"), 0),
		"label_key")),
	    "attr.given_name");
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(trail, 1), "event_key")),
	    "account_ev_refused");
	assert_null(json_object_get(r.page_data, "next_after"));
	cid_reply_free(&r);

	/* a withdrawal is the new current decision, and takes the receipt link away */
	const char *const attrs[] = {"family_name"};
	struct cid_consent_context cc = {.account_id = f->hanako.id,
					 .service = "svc",
					 .purpose = "fees",
					 .method = CID_CONSENT_METHOD_CLI_WITHDRAW,
					 .now = NOW - DAY};
	assert_int_equal(cid_consent_withdraw(cid_ctx_store(f->ctx), &cc, attrs, 1, NULL, NULL),
			 CID_OK);
	get(f, cid_account_page, f->hanako.cookie, "lang=ja", &r);
	assert_string_equal(r.locale, "ja");
	g = json_array_get(json_object_get(r.page_data, "consents"), 0);
	assert_string_equal(json_string_value(json_object_get(g, "service_name")), "子育て支援");
	trail = json_object_get(r.page_data, "trail");
	assert_int_equal(json_array_size(trail), 4);
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(trail, 0), "event_key")),
	    "account_ev_withdrawn");
	json_array_foreach(json_object_get(g, "items"), i, item)
	{
		assert_null(json_object_get(item, "receipt_id"));
		if (strcmp(json_string_value(json_object_get(item, "label_key")),
			   "attr.family_name") == 0)
			assert_string_equal(json_string_value(json_object_get(item, "state_key")),
					    "account_state_withdrawn");
	}
	cid_reply_free(&r);
}

static void test_the_trail_is_the_citizens_own_newest_first_and_pages(void **state)
{
	struct fixture *f = *state;
	struct cid_reply r;
	char query[64];
	const int n = CID_ACCOUNT_PAGE + 5;

	release(f, f->taro.id, "email", 0);
	for (int i = 0; i < n; i++)
		release(f, f->hanako.id, i % 2 == 0 ? "family_name" : "given_name#ja-Kana-JP", i);
	get(f, cid_account_page, f->hanako.cookie, "", &r);
	assert_int_equal(r.status, 200);
	const json_t *trail = json_object_get(r.page_data, "trail");
	assert_int_equal(json_array_size(trail), CID_ACCOUNT_PAGE);
	const json_t *first = json_array_get(trail, 0);
	/* the newest: hanako's last release, at minute n-1, of family_name */
	assert_string_equal(json_string_value(json_object_get(first, "time")),
			    "2027-01-15T07:54:00Z");
	assert_string_equal(json_string_value(json_object_get(first, "local_time")),
			    "15 January 2027, 16:54");
	assert_string_equal(json_string_value(json_object_get(first, "service_name")),
			    "Childcare support");
	assert_string_equal(json_string_value(json_object_get(first, "purpose_text")),
			    "To calculate your childcare fee");
	assert_string_equal(json_string_value(json_object_get(first, "event_key")),
			    "account_ev_release");
	assert_string_equal(json_string_value(json_object_get(
				json_array_get(json_object_get(first, "items"), 0), "label_key")),
			    "attr.family_name");
	/* a language-tagged release is labelled by its base attribute */
	assert_string_equal(
	    json_string_value(json_object_get(
		json_array_get(json_object_get(json_array_get(trail, 1), "items"), 0),
		"label_key")),
	    "attr.given_name");
	const json_t *next = json_object_get(r.page_data, "next_after");
	assert_true(json_is_integer(next));
	snprintf(query, sizeof(query), "after=%lld", (long long)json_integer_value(next));
	cid_reply_free(&r);

	get(f, cid_account_page, f->hanako.cookie, query, &r);
	trail = json_object_get(r.page_data, "trail");
	/* the five oldest releases and her three decisions before them; none of taro's */
	assert_int_equal(json_array_size(trail), 5 + 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(trail, 4), "time")),
			    "2027-01-15T07:00:00Z");
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(trail, 7), "event_key")),
	    "account_ev_granted");
	assert_null(json_object_get(r.page_data, "next_after"));
	cid_reply_free(&r);

	/* taro sees his own decision and release only */
	get(f, cid_account_page, f->taro.cookie, "", &r);
	assert_int_equal(json_array_size(json_object_get(r.page_data, "trail")), 2);
	cid_reply_free(&r);
}

static void test_a_bad_page_number_is_an_error_page(void **state)
{
	struct fixture *f = *state;
	struct cid_reply r;
	static const char *const queries[] = {"after=abc", "after=-1", "after=1e3",
					      "after=99999999999999999999999"};

	for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
		get(f, cid_account_page, f->hanako.cookie, queries[i], &r);
		assert_int_equal(r.status, 400);
		assert_int_equal(r.page, CID_PAGE_ERROR);
		cid_reply_free(&r);
	}
}

static void test_the_receipt_downloads_for_the_own_grant_only(void **state)
{
	struct fixture *f = *state;
	struct cid_reply r;
	char query[96];
	json_t *claims = NULL;
	struct cid_keyref *kref;

	snprintf(query, sizeof(query), "id=%s&lang=en&format=jwt", f->granted);
	get(f, cid_account_receipt, f->hanako.cookie, query, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.content_type, "application/jwt");
	assert_non_null(r.content_disposition);
	assert_non_null(strstr(r.content_disposition, "attachment"));
	assert_true(r.no_store);
	assert_int_equal(r.page, CID_PAGE_NONE);
	kref = cid_ctx_keys_acquire(f->ctx);
	assert_int_equal(
	    cid_jws_verify(cid_keyref_keyset(kref), r.body, r.body_len, CID_RECEIPT_TYP, &claims),
	    CID_OK);
	cid_keyref_put(kref);
	assert_string_equal(json_string_value(json_object_get(claims, "consentReceiptID")),
			    f->granted);
	json_decref(claims);
	cid_reply_free(&r);

	/* taro's record through hanako's session: the same 404 as an unknown id */
	snprintf(query, sizeof(query), "id=%s", f->taro_rec);
	get(f, cid_account_receipt, f->hanako.cookie, query, &r);
	assert_int_equal(r.status, 404);
	assert_int_equal(r.page, CID_PAGE_ERROR);
	assert_null(r.body);
	assert_string_equal(page_str(&r, "error"), "not_found");
	cid_reply_free(&r);
	get(f, cid_account_receipt, f->hanako.cookie, "id=00000000-0000-4000-8000-000000000000",
	    &r);
	assert_int_equal(r.status, 404);
	assert_string_equal(page_str(&r, "error"), "not_found");
	cid_reply_free(&r);

	/* a refusal has no receipt, and says so */
	snprintf(query, sizeof(query), "id=%s", f->refused);
	get(f, cid_account_receipt, f->hanako.cookie, query, &r);
	assert_int_equal(r.status, 404);
	assert_string_equal(page_str(&r, "error"), "no_receipt");
	cid_reply_free(&r);
}

static void test_malformed_receipt_ids_are_not_found(void **state)
{
	struct fixture *f = *state;
	struct cid_reply r;
	static const char *const queries[] = {
	    "",
	    "id=",
	    "id=x",
	    "id=..%2F..%2Fetc%2Fpasswd",
	    "id=00000000-0000-4000-8000-00000000000",
	    "id=00000000-0000-4000-8000-0000000000000",
	    "id=00000000-0000-4000-8000-00000000000%0A",
	    "lang=en",
	};

	for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
		get(f, cid_account_receipt, f->hanako.cookie, queries[i], &r);
		assert_int_equal(r.status, 404);
		assert_int_equal(r.page, CID_PAGE_ERROR);
		assert_null(r.body);
		cid_reply_free(&r);
	}
}

static void test_an_unconfigured_controller_is_503(void **state)
{
	struct fixture *f = *state;
	struct cid_reply r;
	char query[64];

	cid_test_set(f->cfg, "controller_email", "");
	snprintf(query, sizeof(query), "id=%s", f->granted);
	get(f, cid_account_receipt, f->hanako.cookie, query, &r);
	assert_int_equal(r.status, 503);
	assert_int_equal(r.page, CID_PAGE_ERROR);
	assert_null(r.body);
	cid_reply_free(&r);
}

/* Records taro's grant of email for service, which has no policy. */
static void record_unpolicied(struct fixture *f, const char *service)
{
	struct cid_consent_change ch = {"email", CID_CONSENT_GRANTED, 0};
	struct cid_consent_context cc = {
	    .account_id = f->taro.id,
	    .service = service,
	    .purpose = "fees",
	    .policy_version = "v-gone",
	    .purpose_digest = "d-gone",
	    .method = CID_CONSENT_METHOD_SCREEN,
	    .request_id = "req-ref",
	    .now = NOW - DAY,
	};
	char *id = NULL;

	assert_int_equal(cid_consent_record(cid_ctx_store(f->ctx), &cc, &ch, 1, &id), CID_OK);
	free(id);
}

static void test_a_service_without_policy_is_named_by_registration_or_id(void **state)
{
	struct fixture *f = *state;
	const char *uris[] = {"https://reg.example/cb"};
	struct cid_client_spec spec = {
	    .client_id = "reg-only",
	    .name = "Registered only",
	    .redirect_uris = uris,
	    .n_redirect_uris = 1,
	    .scopes = "openid email",
	};
	char *cid = NULL;
	char *secret = NULL;
	struct cid_reply r;
	const json_t *g;
	size_t i;
	int seen = 0;

	assert_int_equal(cid_client_add(cid_ctx_store(f->ctx), &spec, NOW, &cid, &secret), CID_OK);
	free(cid);
	free(secret);
	record_unpolicied(f, "reg-only");
	record_unpolicied(f, "gone-svc");
	get(f, cid_account_page, f->taro.cookie, "lang=en", &r);
	assert_int_equal(r.status, 200);
	json_array_foreach(json_object_get(r.page_data, "consents"), i, g)
	{
		const char *name = json_string_value(json_object_get(g, "service_name"));

		/* the purpose has no text without a policy: its id stands in */
		assert_string_equal(json_string_value(json_object_get(g, "purpose_text")),
				    strcmp(name, "Childcare support") == 0
					? "To calculate your childcare fee"
					: "fees");
		if (strcmp(name, "Registered only") == 0 || strcmp(name, "gone-svc") == 0)
			seen++;
	}
	assert_int_equal(seen, 2);
	cid_reply_free(&r);
}

/* Appends a release.permit of attribute to service for account, at minute i. */
static void release_to(struct fixture *f, const char *account, const char *service,
		       const char *attribute, int i)
{
	char t[32];
	json_t *e;

	snprintf(t, sizeof(t), "2027-01-16T08:%02d:00Z", i % 60);
	e = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:[s], s:s, s:s, s:s, s:s}", "time", t,
		      "type", "release.permit", "actor", "service", "citizen", account, "service",
		      service, "purpose", "fees", "attributes", attribute, "decision", "permit",
		      "reason", "permit_consent", "basis", "consent", "endpoint", "userinfo");
	assert_non_null(e);
	assert_int_equal(cid_audit_append(f->log, &e, 1, NULL), CID_OK);
	json_decref(e);
}

/* The seq of the page's trail link name, as a query "NAME=SEQ&..." with the rest appended. */
static void link_query(const struct cid_reply *r, const char *name, const char *param,
		       const char *rest, char *out, size_t n)
{
	const json_t *v = json_object_get(r->page_data, name);

	assert_true(json_is_integer(v));
	snprintf(out, n, "%s=%lld%s", param, (long long)json_integer_value(v), rest);
}

static const char *trail_time(const struct cid_reply *r, size_t i)
{
	return json_string_value(
	    json_object_get(json_array_get(json_object_get(r->page_data, "trail"), i), "time"));
}

static void test_the_trail_pages_back_and_forth(void **state)
{
	struct fixture *f = *state;
	struct cid_reply first;
	struct cid_reply older;
	struct cid_reply newer;
	char query[96];

	for (int i = 0; i < CID_ACCOUNT_PAGE + 5; i++)
		release_to(f, f->hanako.id, "svc", "family_name", i);
	get(f, cid_account_page, f->hanako.cookie, "", &first);
	/* the newest page has a way down, none up */
	assert_null(json_object_get(first.page_data, "prev_newer"));
	assert_true(json_is_true(json_object_get(first.page_data, "has_pages")));
	link_query(&first, "next_after", "after", "", query, sizeof(query));
	get(f, cid_account_page, f->hanako.cookie, query, &older);
	assert_int_equal(json_array_size(json_object_get(older.page_data, "trail")), 5 + 3);
	assert_null(json_object_get(older.page_data, "next_after"));
	/* and back up: the same page as the first, newest first */
	link_query(&older, "prev_newer", "newer", "", query, sizeof(query));
	get(f, cid_account_page, f->hanako.cookie, query, &newer);
	assert_int_equal(newer.status, 200);
	assert_int_equal(json_array_size(json_object_get(newer.page_data, "trail")),
			 CID_ACCOUNT_PAGE);
	assert_string_equal(trail_time(&newer, 0), trail_time(&first, 0));
	assert_string_equal(trail_time(&newer, CID_ACCOUNT_PAGE - 1),
			    trail_time(&first, CID_ACCOUNT_PAGE - 1));
	assert_null(json_object_get(newer.page_data, "prev_newer"));
	assert_true(json_equal(json_object_get(newer.page_data, "next_after"),
			       json_object_get(first.page_data, "next_after")));
	cid_reply_free(&first);
	cid_reply_free(&older);
	cid_reply_free(&newer);
}

static void test_the_trail_filters_by_service(void **state)
{
	struct fixture *f = *state;
	struct cid_reply r;
	const json_t *row;
	const json_t *v;
	size_t i;
	int offered = 0;

	record_unpolicied(f, "other-svc"); /* taro's consent names a second service */
	for (int k = 0; k < 4; k++)
		release_to(f, f->taro.id, k % 2 == 0 ? "svc" : "other-svc", "email", k);
	get(f, cid_account_page, f->taro.cookie, "service=other-svc&lang=en", &r);
	assert_int_equal(r.status, 200);
	/* two releases to other-svc and taro's grant to it; nothing of svc */
	assert_int_equal(json_array_size(json_object_get(r.page_data, "trail")), 3);
	json_array_foreach(json_object_get(r.page_data, "trail"), i, row) assert_string_equal(
	    json_string_value(json_object_get(row, "service_name")), "other-svc");
	assert_string_equal(page_str(&r, "filter_service"), "other-svc");
	json_array_foreach(json_object_get(r.page_data, "services"), i, v)
	{
		const char *id = json_string_value(json_object_get(v, "id"));

		assert_int_equal(json_is_true(json_object_get(v, "selected")),
				 strcmp(id, "other-svc") == 0);
		offered++;
	}
	assert_int_equal(offered, 2); /* svc (its policy) and other-svc (taro's consent) */
	cid_reply_free(&r);

	/* "" is every service */
	get(f, cid_account_page, f->taro.cookie, "service=", &r);
	assert_int_equal(json_array_size(json_object_get(r.page_data, "trail")), 2 + 4);
	assert_null(json_object_get(r.page_data, "filter_service"));
	cid_reply_free(&r);
}

static void test_a_bad_filter_or_paging_is_an_error_page(void **state)
{
	struct fixture *f = *state;
	struct cid_reply r;

	static const struct {
		const char *query;
		const char *why;
	} rows[] = {
	    {"service=nope", "err.account_service"},
	    {"service=%3Cscript%3E", "err.account_service"},
	    {"service=svc%20", "err.account_service"},
	    {"after=3&newer=5", "err.account_paging"},
	    {"newer=abc", "err.account_after"},
	    {"newer=-3", "err.account_after"},
	    {"newer=18446744073709551616", "err.account_after"},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		get(f, cid_account_page, f->hanako.cookie, rows[i].query, &r);
		assert_int_equal(r.status, 400);
		assert_int_equal(r.page, CID_PAGE_ERROR);
		assert_string_equal(page_str(&r, "description"), rows[i].why);
		cid_reply_free(&r);
	}
}

/* A grant of account to client, as a login at the service leaves it. */
static void grant(struct fixture *f, const char *account, const char *client)
{
	char code[CID_TOKEN_CHARS + 1];
	char sid[CID_TOKEN_CHARS + 1];
	char refresh[CID_TOKEN_CHARS + 1];
	struct cid_grant *g = NULL;
	json_t *a;

	cid_test_session_sid(cid_ctx_store(f->ctx), account, NOW, sid);
	a = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:[s], s:s}", "client_id", client,
		      "redirect_uri", "https://rp.example/cb", "account_id", account, "sid", sid,
		      "auth_time", (json_int_t)NOW, "acr", "urn:civicid:acr:password", "amr", "pwd",
		      "scope", "openid profile");
	assert_non_null(a);
	assert_int_equal(cid_code_issue(cid_ctx_store(f->ctx), a, NOW - DAY, 60, code), CID_OK);
	assert_int_equal(cid_code_redeem(cid_ctx_store(f->ctx), code, client,
					 "https://rp.example/cb", NULL, NOW - DAY + 1, 30 * DAY, &g,
					 refresh),
			 CID_OK);
	cid_grant_free(g);
	json_decref(a);
}

/* The groups of consents naming service, into groups (an array the caller frees). */
static json_t *groups_of(const struct cid_reply *r, const char *service)
{
	json_t *groups = json_array();
	json_t *g;
	size_t i;

	json_array_foreach(json_object_get(r->page_data, "consents"), i, g)
	{
		if (strcmp(cid_json_str(g, "service"), service) == 0)
			json_array_append(groups, g);
	}
	return groups;
}

/*
 * A service whose purposes are all provided by law has no consent record,
 * yet the citizen's attributes flow to it: the page lists it, once, under
 * its own heading, with the citation and no button, for a citizen who holds
 * a grant with it; not for one who does not, nor for a service without a
 * policy or the account pages' own client. A service that has lost its
 * policy is still offered by the trail's filter when its entries are there.
 */
static void test_a_statute_only_service_the_citizen_signed_in_to_is_listed(void **state)
{
	struct fixture *f = *state;
	struct cid_reply r;
	json_t *law;
	const json_t *g;
	const json_t *item;
	const json_t *v;
	size_t i;
	int heads = 0;
	int items = 0;

	grant(f, f->hanako.id, "law-svc");
	grant(f, f->hanako.id, "law-svc");  /* a second login: still one listing */
	grant(f, f->hanako.id, "svc");	    /* listed by her consents already */
	grant(f, f->hanako.id, "gone-law"); /* no policy any more */
	grant(f, f->hanako.id, CID_ACCOUNT_CLIENT_ID);
	release_to(f, f->hanako.id, "gone-law", "family_name", 1);
	get(f, cid_account_page, f->hanako.cookie, "lang=en", &r);
	assert_int_equal(r.status, 200);
	assert_true(json_is_true(json_object_get(r.page_data, "has_consents")));
	law = groups_of(&r, "law-svc");
	assert_int_equal(json_array_size(law), 1);
	g = json_array_get(law, 0);
	assert_string_equal(cid_json_str(g, "service_name"), "Resident records check");
	assert_string_equal(cid_json_str(g, "purpose_text"), "To confirm your address");
	assert_string_equal(cid_json_str(g, "statute"), LAW_CITATION);
	/* its heading, without the button that withdraws what a service gets by consent */
	assert_true(json_is_true(json_object_get(g, "service_head")));
	assert_false(json_is_true(json_object_get(g, "can_withdraw_service")));
	assert_false(json_is_true(json_object_get(g, "can_withdraw_purpose")));
	json_array_foreach(json_object_get(g, "items"), i, item)
	{
		assert_string_equal(cid_json_str(item, "state_key"), "account_state_law");
		assert_null(json_object_get(item, "can_withdraw"));
		assert_null(json_object_get(item, "can_share"));
		assert_null(json_object_get(item, "receipt_id"));
		items++;
	}
	assert_int_equal(items, 2);
	assert_string_equal(
	    cid_json_str(json_array_get(json_object_get(g, "items"), 0), "label_key"),
	    "attr.resident_district");
	json_decref(law);
	/* her consents' service keeps its one heading and its button */
	law = groups_of(&r, "svc");
	json_array_foreach(law, i, g)
	{
		if (json_is_true(json_object_get(g, "service_head"))) {
			assert_true(json_is_true(json_object_get(g, "can_withdraw_service")));
			heads++;
		}
	}
	assert_int_equal(heads, 1);
	json_decref(law);
	/* no policy, nothing provided by law: not listed */
	law = groups_of(&r, "gone-law");
	assert_int_equal(json_array_size(law), 0);
	json_decref(law);
	law = groups_of(&r, CID_ACCOUNT_CLIENT_ID);
	assert_int_equal(json_array_size(law), 0);
	json_decref(law);
	/* the filter: gone-law has its release in the trail, the account client nothing */
	heads = 0;
	json_array_foreach(json_object_get(r.page_data, "services"), i, v)
	{
		const char *id = cid_json_str(v, "id");

		assert_string_not_equal(id, CID_ACCOUNT_CLIENT_ID);
		if (strcmp(id, "gone-law") == 0)
			heads++;
	}
	assert_int_equal(heads, 1);
	cid_reply_free(&r);
	get(f, cid_account_page, f->hanako.cookie, "service=gone-law", &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_array_size(json_object_get(r.page_data, "trail")), 1);
	cid_reply_free(&r);

	/* taro holds no grant with it: his page does not name it */
	get(f, cid_account_page, f->taro.cookie, "lang=en", &r);
	assert_int_equal(r.status, 200);
	law = groups_of(&r, "law-svc");
	assert_int_equal(json_array_size(law), 0);
	json_decref(law);
	cid_reply_free(&r);
}

/* A withdrawal on the account page has its receipt: linked from the notice, a page, a JWT. */
static void test_a_withdrawal_has_its_receipt(void **state)
{
	struct fixture *f = *state;
	struct cid_account_outcome out;
	struct cid_account_change ch = {.account_id = f->hanako.id,
					.action = CID_ACCOUNT_WITHDRAW,
					.service = "svc",
					.purpose = "fees",
					.attribute = "family_name",
					.now = NOW - 60};
	struct cid_reply r;
	struct cid_keyref *kref;
	struct cid_txn *txn = NULL;
	json_t *claims = NULL;
	json_t *e = NULL;
	const json_t *notice;
	char query[160];

	assert_int_equal(cid_account_consent_change(f->ctx, &ch, &out), CID_OK);
	assert_true(cid_uuid_syntax_ok(out.receipt));
	/* the notice after the change links it */
	snprintf(query, sizeof(query), "notice=withdrawn_attribute&receipt=%s&lang=en",
		 out.receipt);
	get(f, cid_account_page, f->hanako.cookie, query, &r);
	assert_int_equal(r.status, 200);
	notice = json_array_get(json_object_get(r.page_data, "notice"), 0);
	assert_string_equal(json_string_value(json_object_get(notice, "receipt")), out.receipt);
	cid_reply_free(&r);
	/* only after a withdrawal, and only an id of record syntax */
	snprintf(query, sizeof(query), "notice=shared&receipt=%s", out.receipt);
	get(f, cid_account_page, f->hanako.cookie, query, &r);
	notice = json_array_get(json_object_get(r.page_data, "notice"), 0);
	assert_non_null(notice);
	assert_null(json_object_get(notice, "receipt"));
	cid_reply_free(&r);
	get(f, cid_account_page, f->hanako.cookie, "notice=withdrawn_attribute&receipt=%22%3E", &r);
	notice = json_array_get(json_object_get(r.page_data, "notice"), 0);
	assert_non_null(notice);
	assert_null(json_object_get(notice, "receipt"));
	cid_reply_free(&r);
	/* the page says it is a withdrawal, and when */
	snprintf(query, sizeof(query), "id=%s&lang=en", out.receipt);
	get(f, cid_account_receipt, f->hanako.cookie, query, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.page, CID_PAGE_RECEIPT);
	assert_true(json_is_true(json_object_get(r.page_data, "withdrawn")));
	assert_null(json_object_get(r.page_data, "expires"));
	assert_null(json_object_get(r.page_data, "until_withdrawn"));
	assert_string_equal(page_str(&r, "receipt_id"), out.receipt);
	assert_string_equal(page_str(&r, "method_key"), "receipt_method_account");
	assert_non_null(page_str(&r, "audit_seq"));
	cid_reply_free(&r);
	/* the JWT: the same format, consent_state withdrawn, proving the consent.withdrawn entry */
	snprintf(query, sizeof(query), "id=%s&format=jwt", out.receipt);
	get(f, cid_account_receipt, f->hanako.cookie, query, &r);
	assert_int_equal(r.status, 200);
	kref = cid_ctx_keys_acquire(f->ctx);
	assert_int_equal(cid_receipt_verify(cid_keyref_keyset(kref), r.body, r.body_len, &claims),
			 CID_OK);
	cid_keyref_put(kref);
	cid_reply_free(&r);
	assert_string_equal(cid_json_str(claims, "consent_state"), "withdrawn");
	assert_string_equal(cid_json_str(claims, "consentReceiptID"), out.receipt);
	assert_int_equal(cid_json_int(claims, "consentTimestamp"), NOW - 60);
	assert_true(json_is_null(json_object_get(claims, "expires_at")));
	assert_int_equal(cid_store_read_begin(cid_ctx_store(f->ctx), &txn), CID_OK);
	assert_int_equal(
	    cid_audit_get(txn, (uint64_t)cid_json_int(json_object_get(claims, "audit"), "seq"), &e),
	    CID_OK);
	cid_store_read_end(txn);
	assert_string_equal(cid_json_str(e, "type"), "consent.withdrawn");
	assert_string_equal(
	    json_string_value(json_array_get(json_object_get(e, "consent_records"), 0)),
	    out.receipt);
	json_decref(e);
	json_decref(claims);
}

static void test_the_receipt_page_says_the_kantara_fields_in_plain_words(void **state)
{
	struct fixture *f = *state;
	struct cid_reply r;
	char query[96];
	const json_t *items;

	snprintf(query, sizeof(query), "id=%s&lang=en", f->granted);
	get(f, cid_account_receipt, f->hanako.cookie, query, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.page, CID_PAGE_RECEIPT);
	assert_null(r.body);
	assert_true(r.no_store);
	assert_string_equal(page_str(&r, "id"), f->granted);
	assert_string_equal(page_str(&r, "receipt_id"), f->granted);
	assert_string_equal(page_str(&r, "version"), CID_RECEIPT_VERSION);
	assert_string_equal(page_str(&r, "service_name"), "Childcare support");
	assert_string_equal(page_str(&r, "client_id"), "svc");
	assert_string_equal(page_str(&r, "purpose_text"), "To calculate your childcare fee");
	assert_true(json_is_false(json_object_get(r.page_data, "purpose_changed")));
	items = json_object_get(r.page_data, "items");
	/* the decision that granted family_name granted given_name with it (one submit) */
	assert_int_equal(json_array_size(items), 2);
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(items, 0), "label_key")),
	    "attr.family_name");
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(items, 1), "label_key")),
	    "attr.given_name");
	assert_string_equal(page_str(&r, "controller_name"), "Aoi City");
	assert_string_equal(page_str(&r, "controller_contact"), "Privacy Office");
	assert_string_equal(page_str(&r, "controller_address"), "1-1 Aoi, Aoi City");
	assert_string_equal(page_str(&r, "controller_email"), "privacy@city.example.jp");
	assert_string_equal(page_str(&r, "policy_url"), "https://city.example.jp/privacy");
	assert_string_equal(page_str(&r, "jurisdiction"), "JP");
	assert_string_equal(page_str(&r, "method_key"), "receipt_method_screen");
	assert_non_null(page_str(&r, "policy_version"));
	assert_non_null(page_str(&r, "principal_id"));
	/* given two days before NOW (2027-01-15T08:00:00Z), lasting a year: local times */
	assert_string_equal(page_str(&r, "given"), "2027-01-13T08:00:00Z");
	assert_string_equal(page_str(&r, "given_local"), "13 January 2027, 17:00");
	assert_string_equal(page_str(&r, "expires_local"), "15 January 2028, 17:00");
	assert_null(json_object_get(r.page_data, "until_withdrawn"));
	assert_true(json_is_integer(json_object_get(r.page_data, "retention_days")));
	/* the log entry that recorded the decision: its seq, as the signed receipt carries it */
	{
		struct cid_txn *txn = NULL;
		json_t *e = NULL;
		const char *seq = page_str(&r, "audit_seq");

		assert_non_null(seq);
		assert_int_equal(cid_store_read_begin(cid_ctx_store(f->ctx), &txn), CID_OK);
		assert_int_equal(cid_audit_get(txn, strtoull(seq, NULL, 10), &e), CID_OK);
		cid_store_read_end(txn);
		assert_string_equal(cid_json_str(e, "type"), "consent.granted");
		assert_string_equal(
		    json_string_value(json_array_get(json_object_get(e, "consent_records"), 0)),
		    f->granted);
		json_decref(e);
	}
	cid_reply_free(&r);

	/* in Japanese: the same facts, the times as a Japanese reader reads them */
	snprintf(query, sizeof(query), "id=%s&lang=ja&format=html", f->granted);
	get(f, cid_account_receipt, f->hanako.cookie, query, &r);
	assert_int_equal(r.page, CID_PAGE_RECEIPT);
	assert_string_equal(page_str(&r, "service_name"), "子育て支援");
	assert_string_equal(page_str(&r, "expires_local"), "2028年1月15日 17:00");
	cid_reply_free(&r);

	/* taro's consent lasts until withdrawn */
	snprintf(query, sizeof(query), "id=%s", f->taro_rec);
	get(f, cid_account_receipt, f->taro.cookie, query, &r);
	assert_int_equal(r.page, CID_PAGE_RECEIPT);
	assert_true(json_is_true(json_object_get(r.page_data, "until_withdrawn")));
	assert_null(json_object_get(r.page_data, "expires"));
	cid_reply_free(&r);

	/* another citizen's receipt is not found as a page either; an unknown format is refused */
	get(f, cid_account_receipt, f->hanako.cookie, query, &r);
	assert_int_equal(r.status, 404);
	assert_int_equal(r.page, CID_PAGE_ERROR);
	cid_reply_free(&r);
	snprintf(query, sizeof(query), "id=%s&format=pdf", f->granted);
	get(f, cid_account_receipt, f->hanako.cookie, query, &r);
	assert_int_equal(r.status, 400);
	assert_string_equal(page_str(&r, "description"), "err.receipt_format");
	cid_reply_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_a_disabled_citizen_is_signed_out, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_without_a_session_both_pages_say_sign_in, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_the_page_lists_the_current_decision_per_attribute,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_the_trail_is_the_citizens_own_newest_first_and_pages, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_a_bad_page_number_is_an_error_page, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_the_receipt_downloads_for_the_own_grant_only,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed_receipt_ids_are_not_found, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_an_unconfigured_controller_is_503, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(
		test_a_service_without_policy_is_named_by_registration_or_id, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_the_trail_pages_back_and_forth, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_the_trail_filters_by_service, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_a_bad_filter_or_paging_is_an_error_page, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(
		test_the_receipt_page_says_the_kantara_fields_in_plain_words, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_a_withdrawal_has_its_receipt, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_a_statute_only_service_the_citizen_signed_in_to_is_listed, setup_law,
		teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
