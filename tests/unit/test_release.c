/*
 * release: the single release point and the consent-screen question, on a
 * real store with real consent records. Table-driven: each row records the
 * citizen's decisions (as the consent screen or the CLI would), asks for
 * claims by scope and by the claims parameter, and says exactly which claims
 * leave and why the audit hook was told each decision was made.
 */
#include "consent.h"
#include "policy.h"
#include "release.h"
#include "str.h"
#include "support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define NOW ((int64_t)1800000000)
#define AT  (NOW + 100) /* when the releases are decided */

/*
 * "consented" asks consent for names, contact and (at level 2) the birth
 * date; "legal" needs none for the district, and the address at level 2;
 * "newsletter" asks consent for email_verified and denies the phone number,
 * which wins over consented's permit.
 */
static const char policy_text[] = "service svc\n"
				  "name.ja 試験サービス\n"
				  "name.en Test service\n"
				  "purpose consented\n"
				  "\ttext.ja 同意の目的\n"
				  "\ttext.en The consented purpose\n"
				  "\tbasis consent\n"
				  "\tretention 1y\n"
				  "\tconsent_valid 1y\n"
				  "\tpermit given_name\n"
				  "\tpermit family_name\n"
				  "\tpermit email\n"
				  "\tpermit phone_number\n"
				  "\tpermit household_size\n"
				  "\tpermit resident_district\n"
				  "\tpermit birthdate level=2\n"
				  "purpose legal\n"
				  "\ttext.ja 法令の目的\n"
				  "\ttext.en The statutory purpose\n"
				  "\tbasis statute Test Act, Art. 2\n"
				  "\tretention 1y\n"
				  "\tpermit resident_district\n"
				  "\tpermit address level=2\n"
				  "purpose newsletter\n"
				  "\ttext.ja お知らせ\n"
				  "\ttext.en Newsletter\n"
				  "\tbasis consent\n"
				  "\tretention 1y\n"
				  "\tconsent_valid 1y\n"
				  "\tpermit email_verified\n"
				  "\tdeny phone_number\n";

static const char citizen_json[] =
    "{\"id\":\"%s\",\"username\":\"hanako\","
    "\"claims\":{\"given_name\":\"花子\",\"family_name\":\"山田\","
    "\"family_name#ja-Kana-JP\":\"ヤマダ\",\"email\":\"hanako@example.jp\","
    "\"email_verified\":true,\"phone_number\":\"+81-242-00-0000\",\"birthdate\":\"1988-04-12\","
    "\"resident_district\":\"Aoi\",\"household_size\":3,\"nickname\":\"はな\","
    "\"address\":{\"locality\":\"Aizuwakamatsu\"},\"bogus_member\":\"x\"}}";

struct fixture {
	char dir[256];
	struct cid_store *store;
	struct cid_policyset *ps;
	int next_account;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->store = cid_test_store_open(f->dir);
	assert_int_equal(
	    cid_policyset_parse("svc.policy", policy_text, strlen(policy_text), NULL, &f->ps),
	    CID_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	cid_policyset_free(f->ps);
	cid_test_store_close(f->store, f->dir);
	free(f);
	return 0;
}

/* The digest of a purpose of service, as the consent screen records it. */
static const char *digest_of_in(const struct cid_policyset *ps, const char *service,
				const char *purpose)
{
	const struct cid_policy *pol = cid_policyset_find(ps, service);
	struct cid_purpose_info pu;

	for (size_t i = 0; i < cid_policy_purpose_count(pol); i++) {
		cid_policy_purpose(pol, i, &pu);
		if (strcmp(pu.id, purpose) == 0)
			return pu.digest;
	}
	fail_msg("no purpose %s", purpose);
	return NULL;
}

/* The digest of a purpose of svc. */
static const char *digest_of(const struct cid_policyset *ps, const char *purpose)
{
	return digest_of_in(ps, "svc", purpose);
}

/*
 * Records the decisions of a row: space-separated "purpose:attribute:state"
 * with optional ":e=SECONDS" (a grant expiring at NOW + SECONDS) and ":old"
 * (given under another purpose text).
 */
static void record(struct fixture *f, const char *account, const char *spec)
{
	char buf[512];
	char *save = NULL;

	if (spec == NULL)
		return;
	assert_true(strlen(spec) < sizeof(buf));
	memcpy(buf, spec, strlen(spec) + 1);
	for (char *tok = strtok_r(buf, " ", &save); tok != NULL; tok = strtok_r(NULL, " ", &save)) {
		char *purpose = tok;
		char *attribute = strchr(purpose, ':');
		char *state, *opt;
		struct cid_consent_change ch = {0};
		bool old = false;

		assert_non_null(attribute);
		*attribute++ = '\0';
		state = strchr(attribute, ':');
		assert_non_null(state);
		*state++ = '\0';
		opt = strchr(state, ':');
		if (opt != NULL)
			*opt++ = '\0';
		for (; opt != NULL && *opt != '\0';) {
			char *next = strchr(opt, ':');
			if (next != NULL)
				*next++ = '\0';
			if (strcmp(opt, "old") == 0)
				old = true;
			else if (strncmp(opt, "e=", 2) == 0)
				ch.expires_at = NOW + strtol(opt + 2, NULL, 10);
			else
				fail_msg("bad option %s", opt);
			opt = next;
		}
		ch.attribute = attribute;
		assert_int_equal(cid_consent_state_parse(state, &ch.state), CID_OK);
		struct cid_consent_context cc = {
		    .account_id = account,
		    .service = "svc",
		    .purpose = purpose,
		    .policy_version = cid_policyset_version(f->ps, "svc"),
		    .purpose_digest =
			old ? "0000000000000000000000000000000000000000000000000000000000000000"
			    : digest_of(f->ps, purpose),
		    .method = CID_CONSENT_METHOD_SCREEN,
		    .now = NOW,
		};
		assert_int_equal(cid_consent_record(f->store, &cc, &ch, 1, NULL), CID_OK);
	}
}

/* What the audit hook saw, in a form a row can compare. */
struct seen {
	char text[2048]; /* "attribute=reason@purpose " per decision */
	size_t calls;
	size_t decisions;
	size_t permits;
	enum cid_err fail_with; /* what the hook returns */
	struct cid_store *grow; /* if set, the hook writes more than the map holds */
	enum cid_err grow_rc;	/* what that write returned */
	bool complete;		/* every decision names rule/basis/version as it should */
};

/* Writes a value of *arg bytes (more than the map held when it was chosen). */
static enum cid_err big_put(struct cid_txn *txn, void *arg)
{
	size_t n = *(size_t *)arg;
	char *big = calloc(1, n);
	enum cid_err rc;

	if (big == NULL)
		return CID_ERR_NOMEM;
	rc = cid_txn_put(txn, CID_DB_META, cid_str_of("release-test-big"), (struct cid_str){big, n},
			 0);
	free(big);
	return rc;
}

static enum cid_err hook(void *arg, const struct cid_release_event *ev,
			 struct cid_audit_range *range)
{
	(void)range;
	struct seen *s = arg;
	size_t len = strlen(s->text);

	s->calls++;
	if (s->grow != NULL) {
		size_t n = cid_store_map_size(s->grow) + ((size_t)1 << 20);

		s->grow_rc = cid_store_update(s->grow, big_put, &n);
	}
	for (size_t i = 0; i < ev->n_decisions; i++) {
		const struct cid_release_decision *d = &ev->decisions[i];
		int n = snprintf(s->text + len, sizeof(s->text) - len, "%s=%s@%s ", d->attribute,
				 cid_reason_name(d->decision.reason),
				 d->purpose == NULL ? "-" : d->purpose);
		assert_true(n > 0 && (size_t)n < sizeof(s->text) - len);
		len += (size_t)n;
		s->decisions++;
		if (d->decision.permit) {
			s->permits++;
			/* a permit always says which rule, purpose and policy version */
			if (d->decision.rule == NULL || d->purpose == NULL ||
			    d->decision.policy_version == NULL)
				s->complete = false;
			if (d->decision.reason == CID_REASON_PERMIT_CONSENT &&
			    d->decision.consent_id == NULL)
				s->complete = false;
			if (d->decision.reason == CID_REASON_PERMIT_STATUTE &&
			    d->decision.statute == NULL)
				s->complete = false;
		}
	}
	if (strcmp(ev->service, "svc") != 0 && strcmp(ev->service, "nobody") != 0)
		s->complete = false;
	return s->fail_with;
}

struct release_case {
	const char *name;
	const char *consents; /* record() spec, or NULL */
	const char *scope;
	const char *claims_request; /* JSON or NULL */
	enum cid_release_target target;
	int level;
	const char *expect; /* the claims released, exactly (space-separated) */
	const char *audit;  /* words that must be in what the hook saw ("attr=reason@purpose") */
	const char *client_scopes; /* the scopes the client may ask for (NULL: all of them) */
};

/* What a client registered for every scope may ask for. */
#define ALL_SCOPES "openid profile email address phone city"

#define UI CID_RELEASE_USERINFO
#define IT CID_RELEASE_ID_TOKEN

static const struct release_case cases[] = {
    {"no consent: consent-basis attributes are withheld", NULL, "openid profile email", NULL, UI, 1,
     "", "given_name=no_consent@consented email=no_consent@consented", NULL},
    {"openid only asks for nothing", "consented:email:granted", "openid", NULL, UI, 1, "", "",
     NULL},
    {"granted: released, with the tagged forms of the name",
     "consented:family_name:granted consented:given_name:granted", "openid profile", NULL, UI, 1,
     "family_name family_name#ja-Kana-JP given_name",
     "family_name=permit_consent@consented family_name#ja-Kana-JP=permit_consent@consented "
     "nickname=not_in_policy@consented",
     NULL},
    {"refused: withheld", "consented:email:refused", "openid email", NULL, UI, 1, "",
     "email=refused@consented", NULL},
    {"withdrawn: withheld", "consented:email:granted consented:email:withdrawn", "openid email",
     NULL, UI, 1, "", "email=withdrawn@consented", NULL},
    {"re-granted after withdrawal: released",
     "consented:email:granted consented:email:withdrawn consented:email:granted", "openid email",
     NULL, UI, 1, "email", "email=permit_consent@consented", NULL},
    {"expired: withheld", "consented:email:granted:e=50", "openid email", NULL, UI, 1, "",
     "email=expired@consented", NULL},
    {"not yet expired: released", "consented:email:granted:e=500", "openid email", NULL, UI, 1,
     "email", "email=permit_consent@consented", NULL},
    {"consent given under another purpose text: withheld", "consented:email:granted:old",
     "openid email", NULL, UI, 1, "", "email=policy_changed@consented", NULL},
    {"consent for one purpose does not answer another", "consented:email_verified:granted",
     "openid email", NULL, UI, 1, "", "email_verified=no_consent@newsletter", NULL},
    {"statute: released without any consent", NULL, "openid city", NULL, UI, 1, "resident_district",
     "resident_district=permit_statute@legal", NULL},
    {"statute at level 2: withheld at level 1", NULL, "openid address", NULL, UI, 1, "",
     "address=level_too_low@legal", NULL},
    {"statute at level 2: released at level 2", NULL, "openid address", NULL, UI, 2, "address",
     "address=permit_statute@legal", NULL},
    {"level-2 consent attribute at level 1: withheld though granted", "consented:birthdate:granted",
     "openid profile", NULL, UI, 1, "", "birthdate=level_too_low@consented", NULL},
    {"level-2 consent attribute at level 2: released", "consented:birthdate:granted",
     "openid profile", NULL, UI, 2, "birthdate", "birthdate=permit_consent@consented", NULL},
    {"explicit deny in one purpose wins over a consented permit", "consented:phone_number:granted",
     "openid phone", NULL, UI, 1, "", "phone_number=explicit_deny@newsletter", NULL},
    {"not in any purpose: default deny", NULL, "openid profile", NULL, UI, 1, "",
     "nickname=not_in_policy@consented", NULL},
    {"claims parameter asks for a claim outside the scopes", "consented:email:granted", "openid",
     "{\"userinfo\":{\"email\":null}}", UI, 1, "email", "email=permit_consent@consented", NULL},
    {"claims parameter outside the client's scopes is ignored: not decided, not released",
     "consented:email:granted consented:given_name:granted", "openid",
     "{\"userinfo\":{\"email\":null,\"given_name\":null}}", UI, 1, "given_name",
     "given_name=permit_consent@consented email", "openid profile"},
    {"claims parameter within the client's scopes asks beyond the granted ones",
     "consented:email:granted", "openid", "{\"userinfo\":{\"email\":null}}", UI, 1, "email",
     "email=permit_consent@consented", "openid email"},
    {"claims parameter for the other target asks nothing", "consented:email:granted", "openid",
     "{\"id_token\":{\"email\":null}}", UI, 1, "", "", NULL},
    {"claims parameter for the ID token", "consented:email:granted", "openid",
     "{\"id_token\":{\"email\":{\"essential\":true}}}", IT, 1, "email",
     "email=permit_consent@consented", NULL},
    {"claims parameter is no grant: not permitted stays absent", NULL, "openid",
     "{\"userinfo\":{\"nickname\":null,\"email\":null}}", UI, 1, "",
     "nickname=not_in_policy@consented email=no_consent@consented", NULL},
    {"unknown stored members are never released, even when named", NULL, "openid",
     "{\"userinfo\":{\"bogus_member\":null}}", UI, 1, "", "", NULL},
    {"claims parameter names the base claim: tagged forms follow", "consented:family_name:granted",
     "openid", "{\"userinfo\":{\"family_name\":null}}", UI, 1, "family_name family_name#ja-Kana-JP",
     "", NULL},
    {"everything asked, some consents, level 2",
     "consented:given_name:granted consented:email:granted consented:household_size:refused "
     "newsletter:email_verified:granted",
     "openid profile email phone address city", NULL, UI, 2,
     "given_name email email_verified resident_district address",
     "household_size=refused@consented phone_number=explicit_deny@newsletter "
     "bogus_member",
     NULL},
};

static size_t count_words(const char *s)
{
	size_t n = 0;

	for (const char *p = s; *p != '\0';) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		n++;
		while (*p != '\0' && *p != ' ')
			p++;
	}
	return n;
}

/* A fresh citizen for each row, so rows never see each other's records. */
static struct cid_account *new_citizen(struct fixture *f, char account[CID_ID_CHARS + 1])
{
	char text[sizeof(citizen_json) + CID_ID_CHARS];
	struct cid_account *a = NULL;

	snprintf(account, CID_ID_CHARS + 1, "00000000-0000-4000-8000-%012d", ++f->next_account);
	snprintf(text, sizeof(text), citizen_json, account);
	json_t *c = json_loads(text, 0, NULL);
	assert_non_null(c);
	assert_int_equal(cid_account_from_record(c, &a), CID_OK);
	json_decref(c);
	return a;
}

/* Runs a release for a row; returns the released claims (new reference). */
static json_t *release(struct fixture *f, const struct cid_policyset *ps, const char *service,
		       const char *account, const struct cid_account *citizen, const char *scope,
		       const json_t *claims_request, const char *client_scopes,
		       enum cid_release_target target, int level, struct seen *seen,
		       enum cid_err expect_rc)
{
	json_t *out = json_object();
	struct cid_release_request rq = {
	    .policies = ps,
	    .service = service,
	    .account_id = account,
	    .citizen = citizen,
	    .scope = scope,
	    .claims_request = claims_request,
	    .client_scopes = client_scopes,
	    .level = level,
	    .now = AT,
	    .audit = hook,
	    .audit_arg = seen,
	};

	assert_non_null(out);
	assert_int_equal(cid_store_read_begin(f->store, &rq.txn), CID_OK);
	assert_int_equal(cid_release_claims(&rq, target, out), expect_rc);
	cid_store_read_end(rq.txn);
	return out;
}

static void test_release_table(void **state)
{
	struct fixture *f = *state;
	size_t failed = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct release_case *c = &cases[i];
		char account[CID_ID_CHARS + 1];
		struct cid_account *citizen = new_citizen(f, account);
		json_t *req =
		    c->claims_request == NULL ? NULL : json_loads(c->claims_request, 0, NULL);
		struct seen seen = {.complete = true};
		char word[128];
		bool ok = true;

		record(f, account, c->consents);
		json_t *out = release(f, f->ps, "svc", account, citizen, c->scope, req,
				      c->client_scopes != NULL ? c->client_scopes : ALL_SCOPES,
				      c->target, c->level, &seen, CID_OK);
		if (json_object_size(out) != count_words(c->expect)) {
			print_error("%s: released %zu claims, expected '%s'\n", c->name,
				    json_object_size(out), c->expect);
			ok = false;
		}
		for (const char *p = c->expect; *p != '\0';) {
			size_t n = strcspn(p, " ");

			assert_true(n < sizeof(word));
			memcpy(word, p, n);
			word[n] = '\0';
			if (json_object_get(out, word) == NULL) {
				print_error("%s: %s not released\n", c->name, word);
				ok = false;
			}
			p += n;
			while (*p == ' ')
				p++;
		}
		/* every asked claim the citizen has is one decision; permits are what left */
		if (seen.permits != json_object_size(out) || !seen.complete ||
		    seen.calls != (seen.decisions > 0)) {
			print_error("%s: audit saw %zu decisions, %zu permits, complete %d: %s\n",
				    c->name, seen.decisions, seen.permits, seen.complete,
				    seen.text);
			ok = false;
		}
		for (const char *p = c->audit; *p != '\0';) {
			size_t n = strcspn(p, " ");

			assert_true(n < sizeof(word));
			memcpy(word, p, n);
			word[n] = '\0';
			/* "bogus_member": a word the hook must NOT have seen */
			bool want = strchr(word, '=') != NULL;
			if ((strstr(seen.text, word) != NULL) != want) {
				print_error("%s: audit %s '%s' in: %s\n", c->name,
					    want ? "lacks" : "has", word, seen.text);
				ok = false;
			}
			p += n;
			while (*p == ' ')
				p++;
		}
		if (!ok)
			failed++;
		json_decref(req);
		json_decref(out);
		cid_account_free(citizen);
	}
	if (failed > 0)
		fail_msg("%zu of %zu rows failed", failed, sizeof(cases) / sizeof(cases[0]));
}

/* The audit hook sees every decision before anything is released; a failing hook stops it. */
static void test_audit_hook_gates_the_release(void **state)
{
	struct fixture *f = *state;
	char account[CID_ID_CHARS + 1];
	struct cid_account *citizen = new_citizen(f, account);
	struct seen seen = {.complete = true, .fail_with = CID_ERR_STORE};
	json_t *out;

	record(f, account, "consented:email:granted");
	out = release(f, f->ps, "svc", account, citizen, "openid email city", NULL, NULL, UI, 1,
		      &seen, CID_ERR_STORE);
	assert_int_equal(json_object_size(out), 0); /* nothing left */
	assert_int_equal(seen.calls, 1);
	/* email, email_verified, resident_district, household_size */
	assert_int_equal(seen.decisions, 4);
	assert_int_equal(seen.permits, 2);
	assert_non_null(strstr(seen.text, "email=permit_consent@consented"));
	assert_non_null(strstr(seen.text, "resident_district=permit_statute@legal"));
	assert_non_null(strstr(seen.text, "email_verified=no_consent@newsletter"));
	json_decref(out);
	cid_account_free(citizen);
}

/*
 * The hook runs with no read transaction of the release open, so its durable
 * write can grow a full map (which waits for this process's readers): the
 * audit log's append must never fail for want of room while serving.
 */
static void test_audit_hook_may_grow_the_map(void **state)
{
	struct fixture *f = *state;
	char account[CID_ID_CHARS + 1];
	struct cid_account *citizen = new_citizen(f, account);
	struct seen seen = {.complete = true, .grow = f->store, .grow_rc = CID_ERR_COUNT};
	size_t before = cid_store_map_size(f->store);
	json_t *out;

	record(f, account, "consented:email:granted");
	out = release(f, f->ps, "svc", account, citizen, "openid email city", NULL, NULL, UI, 1,
		      &seen, CID_OK);
	assert_int_equal(seen.calls, 1);
	assert_int_equal(seen.grow_rc, CID_OK);
	assert_true(cid_store_map_size(f->store) > before);
	assert_non_null(json_object_get(out, "email"));
	json_decref(out);
	cid_account_free(citizen);
}

/* A service without a policy gets nothing, and the hook hears why. */
static void test_unknown_service_gets_nothing(void **state)
{
	struct fixture *f = *state;
	char account[CID_ID_CHARS + 1];
	struct cid_account *citizen = new_citizen(f, account);
	struct seen seen = {.complete = true};
	json_t *out = release(f, f->ps, "nobody", account, citizen, "openid profile email city",
			      NULL, NULL, UI, 2, &seen, CID_OK);

	assert_int_equal(json_object_size(out), 0);
	assert_true(seen.decisions > 0);
	assert_int_equal(seen.permits, 0);
	assert_non_null(strstr(seen.text, "email=unknown_service@-"));
	json_decref(out);
	/* nor does anyone without policies */
	out = release(f, NULL, "svc", account, citizen, "openid profile email city", NULL, NULL, UI,
		      2, &seen, CID_OK);
	assert_int_equal(json_object_size(out), 0);
	json_decref(out);
	cid_account_free(citizen);
}

/* The release decides with the facts of the same read transaction: a withdrawal counts at once. */
static void test_withdrawal_takes_effect_on_next_release(void **state)
{
	struct fixture *f = *state;
	char account[CID_ID_CHARS + 1];
	struct cid_account *citizen = new_citizen(f, account);
	struct seen seen = {.complete = true};
	const char *attrs[] = {"email"};
	struct cid_consent_context cc = {.account_id = account,
					 .service = "svc",
					 .purpose = "consented",
					 .method = CID_CONSENT_METHOD_CLI_WITHDRAW,
					 .now = NOW + 1};
	json_t *out;

	record(f, account, "consented:email:granted");
	out = release(f, f->ps, "svc", account, citizen, "openid email", NULL, NULL, UI, 1, &seen,
		      CID_OK);
	assert_non_null(json_object_get(out, "email"));
	json_decref(out);
	assert_int_equal(cid_consent_withdraw(f->store, &cc, attrs, 1, NULL, NULL), CID_OK);
	out = release(f, f->ps, "svc", account, citizen, "openid email", NULL, NULL, UI, 1, &seen,
		      CID_OK);
	assert_null(json_object_get(out, "email"));
	json_decref(out);
	cid_account_free(citizen);
}

struct prompt_case {
	const char *name;
	const char *consents;
	const char *scope;
	bool prompt_consent;
	int level;
	bool step_up;
	const char *ask;  /* "purpose:a,b;purpose:c" of the consent-basis attributes to ask */
	const char *info; /* "purpose:a,b" of the statute-based attributes shown as information */
	const char *claims_request; /* JSON or NULL */
	const char *client_scopes;  /* NULL: all of them */
};

static const struct prompt_case prompt_cases[] = {
    {"nothing decided: ask every permitted consent attribute", NULL, "openid profile email city",
     false, 1, true,
     "consented:family_name,given_name,email,household_size;newsletter:email_verified",
     "legal:resident_district", NULL, NULL},
    {"birthdate needs level 2: asked only after the step-up", NULL, "openid profile", false, 2,
     false, "consented:family_name,given_name,birthdate", "", NULL, NULL},
    {"decided attributes are not asked again",
     "consented:family_name:granted consented:given_name:refused", "openid profile", false, 2,
     false, "consented:birthdate", "", NULL, NULL},
    {"prompt=consent asks again what was decided",
     "consented:family_name:granted consented:given_name:refused consented:birthdate:withdrawn",
     "openid profile", true, 2, false, "consented:family_name,given_name,birthdate", "", NULL,
     NULL},
    {"expired and changed-text decisions are asked again",
     "consented:email:granted:e=50 newsletter:email_verified:granted:old", "openid email", false, 1,
     false, "consented:email;newsletter:email_verified", "", NULL, NULL},
    {"explicitly denied attributes are never shown", NULL, "openid phone", false, 2, false, "", "",
     NULL, NULL},
    {"statute attributes are shown as information next to the asked ones", NULL,
     "openid city address", false, 2, false, "consented:household_size",
     "legal:address,resident_district", NULL, NULL},
    {"statute-only requests need no screen", NULL, "openid address", false, 2, false, "",
     "legal:address", NULL, NULL},
    {"a statute attribute at level 2 asks for the step-up", NULL, "openid address", false, 1, true,
     "", "", NULL, NULL},
    {"a refused level-2 attribute does not ask for a step-up", "consented:birthdate:refused",
     "openid profile", false, 1, false, "consented:family_name,given_name", "", NULL, NULL},
    {"openid alone asks nothing", NULL, "openid", false, 1, false, "", "", NULL, NULL},
    {"an attribute also provided by statute gets no checkbox, even with prompt=consent", NULL,
     "openid city", true, 1, false, "consented:household_size", "legal:resident_district", NULL,
     NULL},
    {"the claims parameter offers no claim outside the client's scopes", NULL, "openid", false, 1,
     false, "consented:given_name", "",
     "{\"userinfo\":{\"email\":null,\"given_name\":null},\"id_token\":{\"household_size\":"
     "null}}",
     "openid profile"},
    {"the claims parameter offers a claim of the client's scopes", NULL, "openid", false, 1, false,
     "consented:given_name,email", "",
     "{\"userinfo\":{\"email\":null,\"given_name\":null},\"id_token\":{\"household_size\":"
     "null}}",
     "openid profile email"},
};

/* "purpose:a,b;purpose:c" of the prompt's member key ("ask" or "info"). */
static void prompt_text(const json_t *ask, const char *key, char *out, size_t size)
{
	size_t i, j;
	const json_t *entry, *a;
	size_t len = 0;

	out[0] = '\0';
	json_array_foreach(ask, i, entry)
	{
		const json_t *list = json_object_get(entry, key);

		if (json_array_size(list) == 0)
			continue;
		len += (size_t)snprintf(out + len, size - len, "%s%s:", len > 0 ? ";" : "",
					json_string_value(json_object_get(entry, "purpose")));
		json_array_foreach(list, j, a) len += (size_t)snprintf(
		    out + len, size - len, "%s%s", j > 0 ? "," : "", json_string_value(a));
		assert_true(len < size);
	}
}

static void test_prompt_table(void **state)
{
	struct fixture *f = *state;
	size_t failed = 0;

	for (size_t i = 0; i < sizeof(prompt_cases) / sizeof(prompt_cases[0]); i++) {
		const struct prompt_case *c = &prompt_cases[i];
		char account[CID_ID_CHARS + 1];
		struct cid_account *citizen = new_citizen(f, account);
		json_t *req =
		    c->claims_request == NULL ? NULL : json_loads(c->claims_request, 0, NULL);
		struct cid_release_request rq = {
		    .policies = f->ps,
		    .service = "svc",
		    .account_id = account,
		    .citizen = citizen,
		    .scope = c->scope,
		    .claims_request = req,
		    .client_scopes = c->client_scopes != NULL ? c->client_scopes : ALL_SCOPES,
		    .level = c->level,
		    .now = AT,
		};
		json_t *ask = NULL;
		size_t n_ask = 99;
		bool step_up = !c->step_up;
		char got_ask[512], got_info[512];

		record(f, account, c->consents);
		assert_int_equal(cid_store_read_begin(f->store, &rq.txn), CID_OK);
		assert_int_equal(
		    cid_release_prompt(&rq, c->prompt_consent, 24, &step_up, NULL, &ask, &n_ask),
		    CID_OK);
		cid_store_read_end(rq.txn);
		prompt_text(ask, "ask", got_ask, sizeof(got_ask));
		prompt_text(ask, "info", got_info, sizeof(got_info));
		if (step_up != c->step_up || strcmp(got_ask, c->ask) != 0 ||
		    strcmp(got_info, c->info) != 0 || (n_ask == 0) != (c->ask[0] == '\0')) {
			print_error("%s: step_up %d ask '%s' info '%s' n %zu\n", c->name, step_up,
				    got_ask, got_info, n_ask);
			failed++;
		}
		json_decref(ask);
		json_decref(req);
		cid_account_free(citizen);
	}
	if (failed > 0)
		fail_msg("%zu prompt rows failed", failed);
}

/* The step-up names what it is for: the attributes that only level 2 would release or ask. */
static void test_prompt_names_the_step_up_attributes(void **state)
{
	static const struct {
		const char *scope;
		int level;
		const char *attrs;
	} rows[] = {
	    {"openid profile email city", 1, "birthdate"},
	    {"openid address", 1, "address"},
	    {"openid address profile", 1, "birthdate,address"},
	    {"openid address", 2, ""},
	    {"openid email", 1, ""},
	};
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char account[CID_ID_CHARS + 1];
		struct cid_account *citizen = new_citizen(f, account);
		struct cid_release_request rq = {.policies = f->ps,
						 .service = "svc",
						 .account_id = account,
						 .citizen = citizen,
						 .scope = rows[i].scope,
						 .level = rows[i].level,
						 .now = AT};
		json_t *ask = NULL;
		json_t *attrs = json_array();
		size_t n_ask = 0;
		bool step_up = false;
		char got[256] = "";
		size_t j;
		const json_t *a;

		assert_non_null(attrs);
		assert_int_equal(cid_store_read_begin(f->store, &rq.txn), CID_OK);
		assert_int_equal(cid_release_prompt(&rq, false, 24, &step_up, attrs, &ask, &n_ask),
				 CID_OK);
		cid_store_read_end(rq.txn);
		json_array_foreach(attrs, j, a)
		{
			size_t len = strlen(got);

			snprintf(got + len, sizeof(got) - len, "%s%s", j > 0 ? "," : "",
				 json_string_value(a));
		}
		if (strcmp(got, rows[i].attrs) != 0 || step_up != (rows[i].attrs[0] != '\0'))
			fail_msg("%s at level %d: step_up %d for '%s', expected '%s'",
				 rows[i].scope, rows[i].level, step_up, got, rows[i].attrs);
		json_decref(attrs);
		json_decref(ask);
		cid_account_free(citizen);
	}
}

/* The prompt records what a consent needs: digest, version, consent lifetime, citation. */
static void test_prompt_carries_what_a_record_needs(void **state)
{
	struct fixture *f = *state;
	char account[CID_ID_CHARS + 1];
	struct cid_account *citizen = new_citizen(f, account);
	struct cid_release_request rq = {.policies = f->ps,
					 .service = "svc",
					 .account_id = account,
					 .citizen = citizen,
					 .scope = "openid email city",
					 .level = 1,
					 .now = AT};
	json_t *ask = NULL;
	size_t n_ask = 0;
	bool step_up = true;

	assert_int_equal(cid_store_read_begin(f->store, &rq.txn), CID_OK);
	assert_int_equal(cid_release_prompt(&rq, false, 1, &step_up, NULL, &ask, &n_ask), CID_OK);
	cid_store_read_end(rq.txn);
	assert_false(step_up);
	assert_int_equal(n_ask, 1); /* max_ask caps the screen */
	const json_t *first = json_array_get(ask, 0);
	assert_string_equal(json_string_value(json_object_get(first, "purpose")), "consented");
	assert_string_equal(json_string_value(json_object_get(first, "digest")),
			    digest_of(f->ps, "consented"));
	assert_string_equal(json_string_value(json_object_get(first, "version")),
			    cid_policyset_version(f->ps, "svc"));
	assert_int_equal(json_integer_value(json_object_get(first, "consent_valid_days")), 365);
	const json_t *legal = json_array_get(ask, 1);
	assert_string_equal(json_string_value(json_object_get(legal, "purpose")), "legal");
	assert_string_equal(json_string_value(json_object_get(legal, "statute")),
			    "Test Act, Art. 2");
	json_decref(ask);
	cid_account_free(citizen);
}

static void test_level_of_acr(void **state)
{
	(void)state;
	assert_int_equal(cid_release_level("urn:civicid:acr:mfa"), CID_LEVEL_MFA);
	assert_int_equal(cid_release_level("urn:civicid:acr:password"), CID_LEVEL_PASSWORD);
	assert_int_equal(cid_release_level(NULL), CID_LEVEL_PASSWORD);
	assert_int_equal(cid_release_level("urn:civicid:acr:mfa2"), CID_LEVEL_PASSWORD);
	assert_int_equal(cid_release_level("urn:civicid:acr:high"), CID_LEVEL_HIGH);
	assert_int_equal(cid_release_level("urn:civicid:acr:highx"), CID_LEVEL_PASSWORD);
}

/* The hook of the verified-release test: each decision as "attribute=reason[<issuer]". */
static enum cid_err verified_hook(void *arg, const struct cid_release_event *ev,
				  struct cid_audit_range *range)
{
	char *text = arg;

	for (size_t i = 0; i < ev->n_decisions; i++) {
		const struct cid_release_decision *d = &ev->decisions[i];
		size_t len = strlen(text);

		snprintf(text + len, 1024 - len, "%s=%s%s%s ", d->attribute,
			 cid_reason_name(d->decision.reason), d->source != NULL ? "<" : "",
			 d->source != NULL ? cid_json_str(d->source, "issuer") : "");
	}
	*range = (struct cid_audit_range){0};
	return CID_OK;
}

/* The stored evidence below (a flat summary of an earlier civicid) as released: OIDC4IDA 1.0's */
#define EVIDENCE                                                                                   \
	"[{\"type\":\"document\",\"check_details\":[{\"check_method\":\"vpip\"}],"                 \
	"\"document_details\":{\"type\":\"idcard\"}}]"

/* The typed citizen of a stored citizen record's JSON text: freed with cid_account_free. */
static struct cid_account *citizen_of(const char *record)
{
	struct cid_account *citizen = NULL;
	json_t *rec = json_loads(record, 0, NULL);

	assert_non_null(rec);
	assert_int_equal(cid_account_from_record(rec, &citizen), CID_OK);
	json_decref(rec);
	return citizen;
}

/*
 * `permit ATTR verified` releases only a value an upstream verified (with
 * a trust framework), as OIDC4IDA verified_claims with its verification;
 * a typed value, or an imported one without a trust framework, does not
 * satisfy it (not_verified); a plain rule releases the typed value, or an
 * imported one when there is no typed value; level 3 gates as any level;
 * the claims parameter's verified_claims asks as scope does; the hook sees
 * the source of each verified value; evidence stored in the flat summary of
 * an earlier civicid leaves in the spec's shape (a draft's type dropped).
 */

static void test_verified_release(void **state)
{
	static const char text[] = "service vsvc\nname.ja 名\nname.en N\npurpose p\n"
				   "text.ja 目的\ntext.en Purpose\nbasis statute Act 1\n"
				   "retention 1y\npermit address level=3 verified\n"
				   "permit birthdate verified\npermit family_name verified\n"
				   "permit given_name\npermit nickname\npermit email\n";
	static const char record[] =
	    "{\"id\":\"00000000-0000-4000-8000-000000000077\",\"username\":\"v\","
	    "\"claims\":{\"address\":{\"locality\":\"typed\"},\"birthdate\":\"1990-01-01\","
	    "\"given_name\":\"Typed\",\"email\":\"typed@example.jp\"},"
	    "\"verified\":{\"address\":{\"value\":{\"locality\":\"Aizu\"},\"issuer\":"
	    "\"https://card.example.jp\",\"imported_at\":1,\"trust_framework\":\"jp_card\","
	    "\"time\":\"2026-01-02T03:04:05Z\",\"evidence\":[{\"type\":\"document\","
	    "\"check_method\":\"vpip\",\"document_type\":\"idcard\"},{\"type\":\"id_document\"}]},"
	    "\"family_name\":{\"value\":\"Plain\",\"issuer\":\"https://card.example.jp\","
	    "\"imported_at\":1},"
	    "\"nickname\":{\"value\":\"Imported\",\"issuer\":\"https://card.example.jp\","
	    "\"imported_at\":1},"
	    "\"given_name\":{\"value\":\"Card\",\"issuer\":\"https://card.example.jp\","
	    "\"imported_at\":1,\"trust_framework\":\"jp_card\"}}}";

	static const struct {
		const char *scope;
		const char *claims; /* the claims parameter, NULL: none */
		int level;
		const char *out;  /* the answer, JSON */
		const char *seen; /* what the hook saw */
	} rows[] = {
	    {"openid profile address", NULL, CID_LEVEL_HIGH,
	     "{\"given_name\":\"Typed\",\"nickname\":\"Imported\",\"verified_claims\":"
	     "{\"verification\":{\"trust_framework\":\"jp_card\",\"time\":"
	     "\"2026-01-02T03:04:05Z\",\"evidence\":" EVIDENCE "},"
	     "\"claims\":{\"address\":{\"locality\":\"Aizu\"}}}}",
	     "address=permit_statute<https://card.example.jp birthdate=not_verified "
	     "given_name=permit_statute family_name=not_verified nickname=permit_statute "},
	    {"openid address", NULL, CID_LEVEL_MFA, "{}", "address=level_too_low "},
	    {"openid",
	     "{\"userinfo\":{\"verified_claims\":{\"verification\":{\"trust_framework\":"
	     "null},\"claims\":{\"address\":null}}}}",
	     CID_LEVEL_HIGH,
	     "{\"verified_claims\":{\"verification\":{\"trust_framework\":\"jp_card\","
	     "\"time\":\"2026-01-02T03:04:05Z\",\"evidence\":" EVIDENCE "},"
	     "\"claims\":{\"address\":{\"locality\":\"Aizu\"}}}}",
	     "address=permit_statute<https://card.example.jp "},
	    /* asked only in verified_claims, under plain rules: the verified value or nothing,
	       never the typed one (email), nor one imported unverified (nickname) */
	    {"openid",
	     "{\"userinfo\":{\"verified_claims\":{\"verification\":{\"trust_framework\":"
	     "null},\"claims\":{\"email\":null,\"given_name\":null,\"nickname\":null}}}}",
	     CID_LEVEL_PASSWORD,
	     "{\"verified_claims\":{\"verification\":{\"trust_framework\":\"jp_card\"},"
	     "\"claims\":{\"given_name\":\"Card\"}}}",
	     "given_name=permit_statute<https://card.example.jp email=not_verified "
	     "nickname=not_verified "},
	    /* asked plainly too: a plain rule releases the typed value, as before */
	    {"openid",
	     "{\"userinfo\":{\"email\":null,\"verified_claims\":{\"claims\":{\"email\":null,"
	     "\"given_name\":null}},\"given_name\":null}}",
	     CID_LEVEL_PASSWORD, "{\"email\":\"typed@example.jp\",\"given_name\":\"Typed\"}",
	     "given_name=permit_statute email=permit_statute "},
	};
	struct fixture *f = *state;
	struct cid_policyset *ps = NULL;
	struct cid_account *citizen = citizen_of(record);

	assert_int_equal(cid_policyset_parse("vsvc.policy", text, strlen(text), NULL, &ps), CID_OK);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char seen[1024] = "";
		json_t *claims = rows[i].claims ? json_loads(rows[i].claims, 0, NULL) : NULL;
		json_t *want = json_loads(rows[i].out, 0, NULL);
		json_t *out = json_object();
		struct cid_release_request rq = {
		    .policies = ps,
		    .service = "vsvc",
		    .account_id = citizen->id,
		    .citizen = citizen,
		    .scope = rows[i].scope,
		    .claims_request = claims,
		    .client_scopes = ALL_SCOPES,
		    .level = rows[i].level,
		    .now = AT,
		    .audit = verified_hook,
		    .audit_arg = seen,
		};
		char *got;

		assert_int_equal(cid_store_read_begin(f->store, &rq.txn), CID_OK);
		assert_int_equal(cid_release_claims(&rq, CID_RELEASE_USERINFO, out), CID_OK);
		cid_store_read_end(rq.txn);
		got = json_dumps(out, JSON_SORT_KEYS);
		if (!json_equal(out, want))
			fail_msg("row %zu: released %s", i, got);
		if (strcmp(seen, rows[i].seen) != 0)
			fail_msg("row %zu: the hook saw \"%s\"", i, seen);
		free(got);
		json_decref(out);
		json_decref(want);
		json_decref(claims);
	}
	cid_account_free(citizen);
	cid_policyset_free(ps);
}

/* True if a and b have the same member name, or neither has it. */
static bool same(const json_t *a, const json_t *b, const char *name)
{
	const json_t *x = json_object_get(a, name);
	const json_t *y = json_object_get(b, name);

	return (x == NULL && y == NULL) || json_equal(x, y);
}

/*
 * The consent screen's marks follow the release's rule: an attribute on the
 * screen (asked or shown) is marked with its value's upstream and trust
 * framework only when its rule says `verified` and the citizen holds a
 * verified value; a plain rule (the typed value leaves) leaves it unmarked.
 * Under a `verified` rule, an imported value without a trust framework or
 * a typed value only is no verified value: the release would deny it, so
 * the screen lists it as unavailable, never as a choice, and asks nothing.
 */
static void test_prompt_marks_verified_values(void **state)
{
	static const char text[] = "service msvc\nname.ja 名\nname.en N\n"
				   "purpose c\ntext.ja 同意\ntext.en Consent\nbasis consent\n"
				   "retention 1y\nconsent_valid 1y\npermit address verified\n"
				   "permit given_name\npermit family_name verified\n"
				   "permit email verified\n"
				   "purpose s\ntext.ja 法令\ntext.en Statute\nbasis statute Act 1\n"
				   "retention 1y\npermit birthdate verified\n";
	static const char record[] =
	    "{\"id\":\"00000000-0000-4000-8000-000000000078\",\"username\":\"m\","
	    "\"claims\":{\"address\":{\"locality\":\"typed\"},\"given_name\":\"Typed\","
	    "\"email\":\"typed@example.jp\"},"
	    "\"verified\":{\"address\":{\"value\":{\"locality\":\"Aizu\"},\"issuer\":"
	    "\"https://card.example.jp\",\"imported_at\":1,\"trust_framework\":\"jp_card\"},"
	    "\"given_name\":{\"value\":\"Card\",\"issuer\":\"https://card.example.jp\","
	    "\"imported_at\":1,\"trust_framework\":\"jp_card\"},"
	    "\"family_name\":{\"value\":\"Plain\",\"issuer\":\"https://card.example.jp\","
	    "\"imported_at\":1},"
	    "\"birthdate\":{\"value\":\"1990-01-01\",\"issuer\":\"https://city.example.jp\","
	    "\"imported_at\":1,\"trust_framework\":\"jp_register\"}}}";
	static const char want[] =
	    "[{\"purpose\":\"c\",\"ask\":[\"given_name\",\"address\"],\"unavailable\":"
	    "[\"family_name\",\"email\"],\"verified\":{\"address\":{\"issuer\":"
	    "\"https://card.example.jp\",\"trust_framework\":\"jp_card\"}}},"
	    "{\"purpose\":\"s\",\"info\":[\"birthdate\"],\"verified\":{\"birthdate\":"
	    "{\"issuer\":\"https://city.example.jp\",\"trust_framework\":\"jp_register\"}}}]";
	struct fixture *f = *state;
	struct cid_policyset *ps = NULL;
	struct cid_account *citizen = citizen_of(record);
	json_t *expected = json_loads(want, 0, NULL);
	json_t *ask = NULL;
	size_t n_ask = 0;
	bool step_up = true;
	size_t i;
	size_t seen = 0;
	const json_t *entry;
	const json_t *mark;

	assert_non_null(expected);
	assert_int_equal(cid_policyset_parse("msvc.policy", text, strlen(text), NULL, &ps), CID_OK);
	struct cid_release_request rq = {
	    .policies = ps,
	    .service = "msvc",
	    .account_id = citizen->id,
	    .citizen = citizen,
	    .scope = "openid profile email address",
	    .level = CID_LEVEL_PASSWORD,
	    .now = AT,
	};
	assert_int_equal(cid_store_read_begin(f->store, &rq.txn), CID_OK);
	assert_int_equal(cid_release_prompt(&rq, false, 24, &step_up, NULL, &ask, &n_ask), CID_OK);
	cid_store_read_end(rq.txn);
	assert_false(step_up);
	assert_int_equal(n_ask, 2); /* nothing unavailable counts */
	assert_int_equal(json_array_size(ask), 2);
	json_array_foreach(ask, i, entry)
	{
		const json_t *w = json_array_get(expected, i);
		const char *list = json_object_get(w, "ask") != NULL ? "ask" : "info";

		assert_string_equal(cid_json_str(entry, "purpose"), cid_json_str(w, "purpose"));
		if (!same(entry, w, list) || !same(entry, w, "verified") ||
		    !same(entry, w, "unavailable"))
			fail_msg("purpose %s: %s", cid_json_str(w, "purpose"),
				 json_dumps(entry, JSON_SORT_KEYS));
	}
	json_decref(ask);
	/* a purpose with nothing verified to show carries no marks */
	rq.scope = "openid profile";
	assert_int_equal(cid_store_read_begin(f->store, &rq.txn), CID_OK);
	assert_int_equal(cid_release_prompt(&rq, false, 24, &step_up, NULL, &ask, &n_ask), CID_OK);
	cid_store_read_end(rq.txn);
	json_array_foreach(ask, i, entry)
	{
		if (strcmp(cid_json_str(entry, "purpose"), "c") == 0) {
			assert_null(json_object_get(entry, "verified"));
			seen++;
		}
	}
	assert_int_equal(seen, 1);
	json_decref(ask);
	/* asked only in verified_claims, a plain rule's attribute is promised as verified */
	json_t *vc = json_loads(
	    "{\"userinfo\":{\"verified_claims\":{\"claims\":{\"given_name\":null}}}}", 0, NULL);
	assert_non_null(vc);
	rq.scope = "openid";
	rq.claims_request = vc;
	rq.client_scopes = ALL_SCOPES;
	assert_int_equal(cid_store_read_begin(f->store, &rq.txn), CID_OK);
	assert_int_equal(cid_release_prompt(&rq, false, 24, &step_up, NULL, &ask, &n_ask), CID_OK);
	cid_store_read_end(rq.txn);
	assert_int_equal(n_ask, 1);
	entry = json_array_get(ask, 0);
	assert_string_equal(cid_json_str(entry, "purpose"), "c");
	assert_string_equal(json_string_value(json_array_get(json_object_get(entry, "ask"), 0)),
			    "given_name");
	mark = json_object_get(json_object_get(entry, "verified"), "given_name");
	assert_non_null(mark);
	assert_string_equal(cid_json_str(mark, "trust_framework"), "jp_card");
	json_decref(ask);
	json_decref(vc);
	json_decref(expected);
	cid_account_free(citizen);
	cid_policyset_free(ps);
}

/*
 * A citizen whose only verified value of an attribute is language-tagged
 * (an upstream gave "family_name#ja-Kana-JP") is asked for family_name with
 * that value's mark: the release of family_name's `verified` rule takes the
 * tagged form, so the screen neither hides it as unavailable nor promises
 * less than leaves.
 */
static void test_prompt_marks_a_tagged_verified_value(void **state)
{
	static const char text[] = "service tsvc\nname.ja 名\nname.en N\n"
				   "purpose c\ntext.ja 同意\ntext.en Consent\nbasis consent\n"
				   "retention 1y\nconsent_valid 1y\npermit family_name verified\n"
				   "permit given_name verified\n";
	static const char record[] =
	    "{\"id\":\"00000000-0000-4000-8000-000000000079\",\"username\":\"t\","
	    "\"claims\":{\"given_name\":\"Typed\"},"
	    "\"verified\":{\"family_name#ja-Kana-JP\":{\"value\":\"ヤマダ\",\"issuer\":"
	    "\"https://card.example.jp\",\"imported_at\":1,\"trust_framework\":\"jp_card\"}}}";
	struct fixture *f = *state;
	struct cid_policyset *ps = NULL;
	struct cid_account *citizen = citizen_of(record);
	json_t *ask = NULL;
	size_t n_ask = 0;
	bool step_up = true;
	const json_t *c;
	const json_t *mark;

	assert_int_equal(cid_policyset_parse("tsvc.policy", text, strlen(text), NULL, &ps), CID_OK);
	struct cid_release_request rq = {
	    .policies = ps,
	    .service = "tsvc",
	    .account_id = citizen->id,
	    .citizen = citizen,
	    .scope = "openid profile",
	    .level = CID_LEVEL_PASSWORD,
	    .now = AT,
	};
	assert_int_equal(cid_store_read_begin(f->store, &rq.txn), CID_OK);
	assert_int_equal(cid_release_prompt(&rq, false, 24, &step_up, NULL, &ask, &n_ask), CID_OK);
	cid_store_read_end(rq.txn);
	assert_int_equal(json_array_size(ask), 1);
	c = json_array_get(ask, 0);
	assert_int_equal(json_array_size(json_object_get(c, "ask")), 1);
	assert_string_equal(json_string_value(json_array_get(json_object_get(c, "ask"), 0)),
			    "family_name");
	/* given_name has only a typed value: no verified one, so nothing to promise */
	assert_int_equal(json_array_size(json_object_get(c, "unavailable")), 1);
	assert_string_equal(json_string_value(json_array_get(json_object_get(c, "unavailable"), 0)),
			    "given_name");
	mark = json_object_get(json_object_get(c, "verified"), "family_name");
	assert_non_null(mark);
	assert_string_equal(cid_json_str(mark, "trust_framework"), "jp_card");
	assert_string_equal(cid_json_str(mark, "issuer"), "https://card.example.jp");
	json_decref(ask);
	cid_account_free(citizen);
	cid_policyset_free(ps);
}

/*
 * The prompt's pieces where its rules meet: an attribute also provided by
 * statute gets no checkbox under the consent purpose, only the statute's
 * information line; one whose rule asks a verified value the citizen lacks
 * is listed as unavailable, never counted against max_ask; max_ask cuts
 * the checkboxes in the claim table's order, and an attribute cut carries
 * no verified mark (nothing on the screen to mark), while one kept does.
 */
static void test_prompt_statute_unavailable_and_max_ask_marks(void **state)
{
	static const char text[] =
	    "service psvc\nname.ja 名\nname.en N\n"
	    "purpose c\ntext.ja 同意\ntext.en Consent\nbasis consent\n"
	    "retention 1y\nconsent_valid 1y\npermit family_name verified\n"
	    "permit given_name verified\npermit email verified\n"
	    "permit address\npermit resident_district\n"
	    "purpose s\ntext.ja 法令\ntext.en Statute\nbasis statute Act 1\n"
	    "retention 1y\npermit resident_district\npermit birthdate verified\n";
	static const char record[] =
	    "{\"id\":\"00000000-0000-4000-8000-000000000079\",\"username\":\"p\","
	    "\"claims\":{\"family_name\":\"Typed\",\"given_name\":\"Typed\","
	    "\"email\":\"typed@example.jp\",\"address\":{\"locality\":\"typed\"},"
	    "\"resident_district\":\"Aoi\"},"
	    "\"verified\":{\"family_name\":{\"value\":\"Card\",\"issuer\":"
	    "\"https://card.example.jp\",\"imported_at\":1,\"trust_framework\":\"jp_card\"},"
	    "\"given_name\":{\"value\":\"Card\",\"issuer\":\"https://card.example.jp\","
	    "\"imported_at\":1,\"trust_framework\":\"jp_card\"},"
	    "\"birthdate\":{\"value\":\"1990-01-01\",\"issuer\":\"https://city.example.jp\","
	    "\"imported_at\":1,\"trust_framework\":\"jp_register\"}}}";
#define CARD "{\"issuer\":\"https://card.example.jp\",\"trust_framework\":\"jp_card\"}"
#define STATUTE                                                                                    \
	"{\"purpose\":\"s\",\"basis\":\"statute\",\"consent_valid_days\":0,\"ask\":[],"            \
	"\"info\":[\"birthdate\",\"resident_district\"],\"statute\":\"Act 1\",\"verified\":"       \
	"{\"birthdate\":{\"issuer\":\"https://city.example.jp\",\"trust_framework\":"              \
	"\"jp_register\"}}}"

	static const struct {
		size_t max_ask;
		size_t n_ask;
		const char *want; /* the prompt without each entry's digest and version */
	} rows[] = {
	    {1, 1,
	     "[{\"purpose\":\"c\",\"basis\":\"consent\",\"consent_valid_days\":365,\"ask\":"
	     "[\"family_name\"],\"info\":[],\"unavailable\":[\"email\"],\"verified\":"
	     "{\"family_name\":" CARD "}}," STATUTE "]"},
	    {2, 2,
	     "[{\"purpose\":\"c\",\"basis\":\"consent\",\"consent_valid_days\":365,\"ask\":"
	     "[\"family_name\",\"given_name\"],\"info\":[],\"unavailable\":[\"email\"],"
	     "\"verified\":"
	     "{\"family_name\":" CARD ",\"given_name\":" CARD "}}," STATUTE "]"},
	    {24, 3,
	     "[{\"purpose\":\"c\",\"basis\":\"consent\",\"consent_valid_days\":365,\"ask\":"
	     "[\"family_name\",\"given_name\",\"address\"],\"info\":[],\"unavailable\":[\"email\"],"
	     "\"verified\":{\"family_name\":" CARD ",\"given_name\":" CARD "}}," STATUTE "]"},
	};

#undef CARD
#undef STATUTE
	struct fixture *f = *state;
	struct cid_policyset *ps = NULL;
	struct cid_account *citizen = citizen_of(record);

	assert_int_equal(cid_policyset_parse("psvc.policy", text, strlen(text), NULL, &ps), CID_OK);
	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		struct cid_release_request rq = {
		    .policies = ps,
		    .service = "psvc",
		    .account_id = citizen->id,
		    .citizen = citizen,
		    .scope = "openid profile email address city",
		    .level = CID_LEVEL_PASSWORD,
		    .now = AT,
		};
		json_t *want = json_loads(rows[r].want, 0, NULL);
		json_t *ask = NULL;
		size_t n_ask = 0;
		bool step_up = true;
		size_t i;
		json_t *entry;
		char *got;

		assert_non_null(want);
		assert_int_equal(cid_store_read_begin(f->store, &rq.txn), CID_OK);
		assert_int_equal(
		    cid_release_prompt(&rq, false, rows[r].max_ask, &step_up, NULL, &ask, &n_ask),
		    CID_OK);
		cid_store_read_end(rq.txn);
		assert_false(step_up);
		assert_int_equal(n_ask, rows[r].n_ask);
		/* the digest and version are the policy's (test_prompt_carries_what_a_record_needs)
		 */
		json_array_foreach(ask, i, entry)
		{
			const char *purpose = cid_json_str(entry, "purpose");

			assert_non_null(purpose);
			assert_string_equal(cid_json_str(entry, "digest"),
					    digest_of_in(ps, "psvc", purpose));
			assert_string_equal(cid_json_str(entry, "version"),
					    cid_policyset_version(ps, "psvc"));
			assert_int_equal(json_object_del(entry, "digest"), 0);
			assert_int_equal(json_object_del(entry, "version"), 0);
		}
		got = json_dumps(ask, JSON_SORT_KEYS | JSON_COMPACT);
		if (!json_equal(ask, want))
			fail_msg("max_ask %zu: the prompt is %s", rows[r].max_ask, got);
		free(got);
		json_decref(ask);
		json_decref(want);
	}
	cid_account_free(citizen);
	cid_policyset_free(ps);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_release_table, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_verified_release, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_audit_hook_gates_the_release, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_audit_hook_may_grow_the_map, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_service_gets_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_withdrawal_takes_effect_on_next_release, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_prompt_table, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_prompt_names_the_step_up_attributes, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_prompt_carries_what_a_record_needs, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_prompt_marks_a_tagged_verified_value, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_prompt_marks_verified_values, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_prompt_statute_unavailable_and_max_ask_marks,
					    setup, teardown),
	    cmocka_unit_test(test_level_of_acr),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
