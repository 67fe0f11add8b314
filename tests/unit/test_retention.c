/*
 * Tests of retention: a scope is purged only once nothing of it is in force
 * and its purpose's retention has elapsed since it ended (one row per case);
 * the purge deletes the mapping and the consent records, writes one
 * retention.purged entry naming the pseudonym, leaves the citizen's trail
 * without the scope's entries and the log verifying, and a second run
 * purges nothing.
 */
#include "account.h"
#include "account_delete.h"
#include "audit.h"
#include "audit_explain.h"
#include "consent.h"
#include "policy.h"
#include "policy_archive.h"
#include "provision.h"
#include "pseudonym.h"
#include "retention.h"
#include "support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define NOW    1800000000
#define DAY    ((int64_t)86400)
#define HANAKO "0a1b2c3d-0000-4000-8000-000000000001"

static const char policy[] = "service childcare\n"
			     "name.ja 子育て支援\n"
			     "name.en Childcare support\n"
			     "purpose fees\n"
			     "\ttext.ja 保育料を算定するため\n"
			     "\ttext.en To calculate your childcare fee\n"
			     "\tbasis consent\n"
			     "\tretention 2d\n"
			     "\tconsent_valid 1y\n"
			     "\tpermit email\n"
			     "\tpermit birthdate\n";

struct fixture {
	struct cid_test_audit a;
	struct cid_policyset *ps;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	cid_test_audit_open(&f->a);
	assert_int_equal(
	    cid_policyset_parse("childcare.policy", policy, strlen(policy), NULL, &f->ps), CID_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	cid_policyset_free(f->ps);
	cid_test_audit_close(&f->a);
	free(f);
	return 0;
}

/* Records one change of (childcare, purpose, attribute) for account at now (with its entry). */
static void record_of(struct fixture *f, const char *account, const char *purpose,
		      const char *attribute, enum cid_consent_state state, int64_t expires_at,
		      int64_t now)
{
	struct cid_consent_context ctx = {
	    .account_id = account,
	    .service = "childcare",
	    .purpose = purpose,
	    .policy_version = "v1",
	    .purpose_digest = "dg1",
	    .method = CID_CONSENT_METHOD_SCREEN,
	    .now = now,
	};
	struct cid_consent_change c = {attribute, state, expires_at};
	char *id = NULL;

	assert_int_equal(cid_consent_record(f->a.s, &ctx, &c, 1, &id), CID_OK);
	free(id);
}

/* Records one change of (childcare, purpose, attribute) for hanako at now (with its entry). */
static void record1(struct fixture *f, const char *purpose, const char *attribute,
		    enum cid_consent_state state, int64_t expires_at, int64_t now)
{
	record_of(f, HANAKO, purpose, attribute, state, expires_at, now);
}

static struct cid_retention_sweep sweep(struct fixture *f, int64_t now)
{
	struct cid_retention_sweep done = {0};

	assert_int_equal(cid_retention_sweep(f->a.s, f->ps, now, 16, &done), CID_OK);
	return done;
}

/* One record or two, then a sweep at a time: purged or not. */
static void test_due_table(void **state)
{
	static const struct {
		const char *name;
		const char *purpose;
		enum cid_consent_state first;
		int64_t first_expires;	       /* offset from NOW; 0: none */
		enum cid_consent_state second; /* GRANTED with second_at 0: no second record */
		int64_t second_at;
		int64_t sweep_at; /* offset from NOW */
		bool purged;
	} rows[] = {
	    {"a grant in force", "fees", CID_CONSENT_GRANTED, 10 * DAY, CID_CONSENT_GRANTED, 0,
	     5 * DAY, false},
	    {"expired, retention running", "fees", CID_CONSENT_GRANTED, DAY, CID_CONSENT_GRANTED, 0,
	     3 * DAY - 1, false},
	    {"expired, retention over", "fees", CID_CONSENT_GRANTED, DAY, CID_CONSENT_GRANTED, 0,
	     3 * DAY, true},
	    {"withdrawn, retention running", "fees", CID_CONSENT_GRANTED, 10 * DAY,
	     CID_CONSENT_WITHDRAWN, DAY, 3 * DAY - 1, false},
	    {"withdrawn, retention over", "fees", CID_CONSENT_GRANTED, 10 * DAY,
	     CID_CONSENT_WITHDRAWN, DAY, 3 * DAY, true},
	    {"refused, retention over", "fees", CID_CONSENT_REFUSED, 0, CID_CONSENT_GRANTED, 0,
	     2 * DAY, true},
	    {"granted again after a withdrawal", "fees", CID_CONSENT_WITHDRAWN, 0,
	     CID_CONSENT_GRANTED, DAY, 30 * DAY, false},
	    {"a purpose no policy has", "visits", CID_CONSENT_REFUSED, 0, CID_CONSENT_GRANTED, 0,
	     400 * DAY, false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct fixture *f = NULL;
		struct cid_retention_sweep done;
		char *p;

		print_message("%s\n", rows[i].name);
		assert_int_equal(setup((void **)&f), 0);
		record1(f, rows[i].purpose, "email", rows[i].first,
			rows[i].first_expires != 0 ? NOW + rows[i].first_expires : 0, NOW);
		if (rows[i].second_at != 0)
			record1(f, rows[i].purpose, "email", rows[i].second,
				rows[i].second == CID_CONSENT_GRANTED ? NOW + 60 * DAY : 0,
				NOW + rows[i].second_at);
		p = cid_test_pseudonym(f->a.s, HANAKO, "childcare", rows[i].purpose);
		assert_non_null(p);
		done = sweep(f, NOW + rows[i].sweep_at);
		assert_int_equal(done.purged, rows[i].purged ? 1 : 0);
		free(p);
		p = cid_test_pseudonym(f->a.s, HANAKO, "childcare", rows[i].purpose);
		assert_true(rows[i].purged ? p == NULL : p != NULL);
		free(p);
		assert_int_equal(teardown((void **)&f), 0);
	}
}

static enum cid_err last_cb(uint64_t seq, struct cid_str entry, void *arg)
{
	json_t **out = arg;

	(void)seq;
	json_decref(*out);
	return cid_store_parse_json(entry, out);
}

/* The whole story: released, retention over, purged, unlinked, and the log still verifies. */
static void test_purge_unlinks_and_verifies(void **state)
{
	struct fixture *f = *state;
	struct cid_audit_filter purged = {.type = "retention.purged"};
	struct cid_audit_report rep;
	struct cid_retention_sweep done;
	struct cid_txn *txn = NULL;
	json_t *trail = NULL;
	json_t *e = NULL;
	json_t *history = NULL;
	json_t *scope = NULL;
	json_t *ext;
	char *text;
	char *p;

	record1(f, "fees", "email", CID_CONSENT_GRANTED, NOW + DAY, NOW);
	record1(f, "fees", "birthdate", CID_CONSENT_REFUSED, 0, NOW);
	p = cid_test_pseudonym(f->a.s, HANAKO, "childcare", "fees");
	assert_non_null(p);
	assert_int_equal(cid_store_read_begin(f->a.s, &txn), CID_OK);
	assert_int_equal(cid_audit_citizen(txn, HANAKO, 0, 10, &trail), CID_OK);
	cid_store_read_end(txn);
	assert_int_equal(json_array_size(trail), 2);
	json_decref(trail);

	/* an officer's look-up names the pseudonym, but is no use of the purpose */
	assert_int_equal(
	    cid_audit_resolve(f->a.log, "officer:privacy", p, "complaint 3", NOW + 2 * DAY, &scope),
	    CID_OK);
	json_decref(scope);
	scope = NULL;
	done = sweep(f, NOW + 3 * DAY - 1); /* expired at NOW + DAY, kept 2 days */
	assert_int_equal(done.purged, 0);
	done = sweep(f, NOW + 3 * DAY);
	assert_int_equal(done.purged, 1);
	assert_int_equal(done.left, 0);

	assert_int_equal(cid_store_read_begin(f->a.s, &txn), CID_OK);
	/* the trail no longer finds the scope's entries */
	assert_int_equal(cid_audit_citizen(txn, HANAKO, 0, 10, &trail), CID_OK);
	assert_int_equal(json_array_size(trail), 0);
	json_decref(trail);
	/* the mapping is gone both ways */
	assert_int_equal(cid_pseudonym_resolve(txn, p, &scope), CID_ERR_NOTFOUND);
	/* one retention.purged entry names the pseudonym and what went */
	assert_int_equal(cid_audit_query(txn, &purged, last_cb, &e), CID_OK);
	cid_store_read_end(txn);
	assert_non_null(e);
	assert_int_equal(cid_json_int(e, "seq"), (json_int_t)done.first);
	assert_string_equal(cid_json_str(e, "citizen"), p);
	assert_string_equal(cid_json_str(e, "actor"), "system");
	assert_string_equal(cid_json_str(e, "service"), "childcare");
	assert_string_equal(cid_json_str(e, "purpose"), "fees");
	assert_non_null(cid_json_str(e, "policy_version"));
	ext = json_object_get(e, "ext");
	assert_string_equal(cid_json_str(ext, "purged"), "pseudonym,consent_records");
	assert_string_equal(cid_json_str(ext, "consent_records"), "2");
	assert_string_equal(cid_json_str(ext, "retention_days"), "2");
	assert_string_equal(cid_json_str(ext, "ended"), "2027-01-16T08:00:00Z");
	assert_string_equal(cid_json_str(ext, "rule"), "retention 2d after the purpose ended");
	text = json_dumps(e, 0);
	assert_non_null(text);
	assert_null(strstr(text, HANAKO)); /* the citizen is named nowhere */
	free(text);
	json_decref(e);
	/* the consent records went with it */
	assert_int_equal(cid_consent_history(f->a.s, HANAKO, "childcare", &history), CID_OK);
	assert_int_equal(json_array_size(history), 0);
	json_decref(history);

	/* the log verifies, signed up to and past the purge */
	assert_int_equal(cid_audit_checkpoint(f->a.s, NOW + 3 * DAY, NULL), CID_OK);
	assert_int_equal(cid_audit_verify_store(f->a.s, NULL, NULL, &rep), CID_OK);
	assert_true(rep.ok);
	assert_false(rep.unsigned_tail);

	/* explaining an entry of the scope: its consent records are a gap, not a mismatch */
	assert_int_equal(cid_audit_explain(f->a.s, 0, &e), CID_OK);
	assert_int_equal(json_array_size(json_object_get(e, "problems")), 0);
	text = json_dumps(json_object_get(e, "gaps"), 0);
	assert_non_null(text);
	assert_non_null(strstr(text, "purged with the entry's pseudonym"));
	free(text);
	json_decref(e);

	/* again: nothing new */
	done = sweep(f, NOW + 30 * DAY);
	assert_int_equal(done.purged, 0);
	free(p);
}

/* A citizen with an account, a grant of childcare's purpose, and the scope of no purpose. */
static void citizen_of(struct fixture *f, const char *name, const char *purpose, char *id)
{
	json_t *e = NULL;

	assert_int_equal(
	    cid_account_add(f->a.s, &cid_test_argon2, name, "correct horse battery", NULL, NOW, id),
	    CID_OK);
	record_of(f, id, purpose, "email", CID_CONSENT_GRANTED, NOW + 10 * DAY, NOW);
	/* an operator's look at the account: an entry of the scope of no purpose */
	e = json_pack("{s:s, s:s, s:s, s:s}", "type", "operator.viewed", "time",
		      "2027-01-15T08:00:00Z", "actor", "operator", "citizen", id);
	assert_non_null(e);
	assert_int_equal(cid_audit_append(f->a.log, &e, 1, NULL), CID_OK);
	json_decref(e);
}

static bool own_scope_left(struct fixture *f, const char *id)
{
	char *p = cid_test_pseudonym(f->a.s, id, NULL, NULL);

	free(p);
	return p != NULL;
}

/*
 * The scopes of no purpose (the citizen's own entries: the deletion, the
 * operators' and officers' looks; a service's without a purpose) go only
 * once the account is deleted and every purpose of it went, the policies'
 * longest retention (2 days) after their newest entry: an officer's look
 * at the deleted citizen holds it that long again. Policies that name no
 * retention purge none. A live citizen's, or one whose purpose no policy
 * has (that scope is never purged), stay. The entry names no purpose (nor
 * a service, for the own scope) and the log verifies.
 */
static void test_own_scope_goes_after_the_deletion_and_every_purpose(void **state)
{
	struct fixture *f = *state;
	const struct cid_audit_filter purged = {.type = "retention.purged"};
	struct cid_audit_report rep;
	struct cid_txn *txn = NULL;
	json_t *scope = NULL;
	json_t *e = NULL;
	json_t *ext;
	struct cid_policyset *none = NULL;
	struct cid_retention_sweep done;
	char live[CID_ID_CHARS + 1], gone[CID_ID_CHARS + 1], kept[CID_ID_CHARS + 1];
	char *own;
	char *own_other;

	citizen_of(f, "taro", "fees", live);
	citizen_of(f, "jiro", "fees", gone);
	citizen_of(f, "saburo", "visits", kept); /* a purpose no policy has */
	/* a release denied to a service with no policy: a scope of a service, no purpose */
	e = json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", "release.deny", "time",
		      "2027-01-15T08:00:00Z", "actor", "system", "citizen", gone, "service",
		      "nopolicy");
	assert_non_null(e);
	assert_int_equal(cid_audit_append(f->a.log, &e, 1, NULL), CID_OK);
	json_decref(e);
	e = NULL;
	assert_int_equal(cid_account_delete(f->a.s, "jiro", NOW + DAY, NULL), CID_OK);
	assert_int_equal(cid_account_delete(f->a.s, "saburo", NOW + DAY, NULL), CID_OK);
	own = cid_test_pseudonym(f->a.s, gone, NULL, NULL);
	assert_non_null(own);

	/* jiro's grant was withdrawn at the deletion: that purpose goes 2 days later */
	assert_int_equal(sweep(f, NOW + 3 * DAY - 1).purged, 0);
	/* an officer looks the deleted citizen up meanwhile */
	assert_int_equal(cid_audit_resolve(f->a.log, "officer:privacy", own, "complaint 4",
					   NOW + 2 * DAY, &scope),
			 CID_OK);
	json_decref(scope);
	assert_int_equal(sweep(f, NOW + 3 * DAY).purged, 1); /* jiro's fees */
	assert_null(cid_test_pseudonym(f->a.s, gone, "childcare", "fees"));
	/* policies that name no retention decide nothing: nothing goes, however late */
	assert_int_equal(cid_policyset_load(NULL, 0, NULL, &none), CID_OK);
	assert_int_equal(cid_retention_sweep(f->a.s, none, NOW + 400 * DAY, 16, &done), CID_OK);
	cid_policyset_free(none);
	assert_int_equal(done.purged, 0);
	/* the scope of the service with no policy goes 2 days after its entry; the
	 * own one not yet: the deletion was 2 days ago, but the look 1 day ago */
	assert_int_equal(sweep(f, NOW + 4 * DAY - 1).purged, 1);
	own_other = cid_test_pseudonym(f->a.s, gone, "nopolicy", NULL);
	assert_null(own_other);
	assert_true(own_scope_left(f, gone));
	assert_int_equal(sweep(f, NOW + 4 * DAY).purged, 1);
	assert_false(own_scope_left(f, gone));

	assert_int_equal(cid_store_read_begin(f->a.s, &txn), CID_OK);
	assert_int_equal(cid_pseudonym_resolve(txn, own, &scope), CID_ERR_NOTFOUND);
	assert_int_equal(cid_audit_query(txn, &purged, last_cb, &e), CID_OK);
	cid_store_read_end(txn);
	assert_string_equal(cid_json_str(e, "citizen"), own);
	assert_null(json_object_get(e, "service"));
	assert_null(json_object_get(e, "purpose"));
	assert_null(json_object_get(e, "policy_version"));
	ext = json_object_get(e, "ext");
	assert_string_equal(cid_json_str(ext, "purged"), "pseudonym");
	assert_string_equal(cid_json_str(ext, "consent_records"), "0");
	assert_string_equal(cid_json_str(ext, "retention_days"), "2");
	assert_string_equal(cid_json_str(ext, "ended"), "2027-01-17T08:00:00Z"); /* the look */
	assert_string_equal(cid_json_str(ext, "rule"),
			    "retention 2d after the account was deleted");
	json_decref(e);

	/* long after: the live citizen's, and the one a policy-less purpose holds, stay */
	assert_int_equal(sweep(f, NOW + 400 * DAY).purged, 1); /* taro's fees */
	assert_true(own_scope_left(f, live));
	assert_true(own_scope_left(f, kept));
	assert_int_equal(sweep(f, NOW + 800 * DAY).purged, 0);

	assert_int_equal(cid_audit_checkpoint(f->a.s, NOW + 800 * DAY, NULL), CID_OK);
	assert_int_equal(cid_audit_verify_store(f->a.s, NULL, NULL, &rep), CID_OK);
	assert_true(rep.ok);
	free(own);
}

/* Appends an export of the citizen's entries at now; the pseudonym its ext names into p. */
static void export_by(struct fixture *f, const char *citizen, int64_t now,
		      char p[CID_PSEUDONYM_CHARS + 1])
{
	const struct cid_audit_filter by = {.citizen = citizen};
	const struct cid_audit_filter exported = {.type = "audit.exported"};
	const struct cid_audit_exported x = {
	    .actor = "operator", .endpoint = "cli", .format = "jsonl", .filter = &by, .now = now};
	struct cid_txn *txn = NULL;
	json_t *e = NULL;

	assert_int_equal(cid_audit_exported_entry(&x, &e), CID_OK);
	assert_int_equal(cid_audit_append(f->a.log, &e, 1, NULL), CID_OK);
	json_decref(e);
	e = NULL;
	assert_int_equal(cid_store_read_begin(f->a.s, &txn), CID_OK);
	assert_int_equal(cid_audit_query(txn, &exported, last_cb, &e), CID_OK);
	cid_store_read_end(txn);
	assert_true(cid_pseudonym_syntax_ok(cid_json_str(json_object_get(e, "ext"), "citizen")));
	snprintf(p, CID_PSEUDONYM_CHARS + 1, "%s",
		 cid_json_str(json_object_get(e, "ext"), "citizen"));
	json_decref(e);
}

/* Whether audit resolve finds who pseudonym p is (the look-up is logged either way). */
static bool resolves(struct fixture *f, const char *p, int64_t now)
{
	json_t *scope = NULL;
	enum cid_err rc = cid_audit_resolve(f->a.log, "operator", p, "check", now, &scope);

	assert_true(rc == CID_OK || rc == CID_ERR_NOTFOUND);
	json_decref(scope);
	return rc == CID_OK;
}

/*
 * An export filtered on a citizen names the citizen's pseudonym of no
 * purpose in its ext: an export by a deleted citizen whose every scope went
 * makes that pseudonym again, and by an id that is no account one too; each
 * goes the policies' longest retention (2 days) after the export, as an
 * officer's look at a deleted citizen holds it that long again, not forever.
 */
static void test_export_by_a_deleted_citizen_goes_after_the_retention(void **state)
{
	struct fixture *f = *state;
	const int64_t at = NOW + 500 * DAY;
	char gone[CID_ID_CHARS + 1];
	char p[CID_PSEUDONYM_CHARS + 1], nobody[CID_PSEUDONYM_CHARS + 1];
	size_t purged;

	citizen_of(f, "jiro", "fees", gone);
	assert_int_equal(cid_account_delete(f->a.s, "jiro", NOW + DAY, NULL), CID_OK);
	do
		purged = sweep(f, NOW + 400 * DAY).purged;
	while (purged > 0);
	assert_false(own_scope_left(f, gone));

	export_by(f, gone, at, p);
	export_by(f, "0a1b2c3d-0000-4000-8000-0000000000ff", at, nobody);
	assert_true(own_scope_left(f, gone));
	assert_int_equal(sweep(f, at + 2 * DAY - 1).purged, 0);
	assert_int_equal(sweep(f, at + 2 * DAY).purged, 2);
	assert_false(own_scope_left(f, gone));
	assert_false(resolves(f, p, at + 2 * DAY));
	assert_false(resolves(f, nobody, at + 2 * DAY));
}

/* childcare's policy with lines after name.en (a recipient), parsed into *out. */
static void policy_with(const char *lines, struct cid_policyset **out)
{
	const char *head = "service childcare\nname.ja 子育て支援\nname.en Childcare support\n";
	const char *rest = strstr(policy, "purpose fees");
	char text[1024];
	int n = snprintf(text, sizeof(text), "%s%s%s", head, lines, rest);

	assert_true(n > 0 && (size_t)n < sizeof(text));
	assert_int_equal(cid_policyset_parse("childcare.policy", text, (size_t)n, NULL, out),
			 CID_OK);
}

/* A release.permit of (childcare, fees) to account at now, decided under ps (archived). */
static void release(struct fixture *f, const char *account, const struct cid_policyset *ps,
		    int64_t now)
{
	char when[21];
	json_t *e;

	assert_int_equal(cid_policy_archive_put(f->a.s, ps, now, NULL), CID_OK);
	assert_int_equal(cid_audit_time(now, when), CID_OK);
	e = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:[s], s:s, s:s}", "type", "release.permit",
		      "time", when, "actor", "service", "citizen", account, "service", "childcare",
		      "purpose", "fees", "attributes", "email", "basis", "consent",
		      "policy_version", cid_policyset_version(ps, "childcare"));
	assert_non_null(e);
	assert_int_equal(cid_audit_append(f->a.log, &e, 1, NULL), CID_OK);
	json_decref(e);
}

/* The citizen the only provision record names, or NULL when there is none. */
static char *provision_citizen(struct fixture *f)
{
	struct cid_txn *txn = NULL;
	json_t *r = NULL;
	const char *who;
	char *out = NULL;

	assert_int_equal(cid_store_read_begin(f->a.s, &txn), CID_OK);
	assert_int_equal(cid_provision_records(txn, NULL, &r), CID_OK);
	cid_store_read_end(txn);
	who = cid_json_str(json_array_get(json_object_get(r, "provisions"), 0), "citizen");
	if (who != NULL)
		out = strdup(who);
	json_decref(r);
	return out;
}

/*
 * A business controller's provision to a third party: the provision record
 * made from the scope's releases is kept 3 years (APPI Art. 30), so the
 * purge is vetoed until then, counted, and goes ahead after. What decides is
 * the policy version each release was decided under, as the record says, not
 * today's: a recipient made entrusted since, or whose number went, is still
 * held, and the record still names the citizen; releases to an entrusted
 * recipient, or none at all, hold nothing back.
 */
static void test_provision_record_vetoes(void **state)
{
#define THIRD "recipient.name 株式会社アルファ\nrecipient.number 5010401067252\n"

	static const struct {
		const char *name;
		const char *released; /* the recipient at the release; NULL: no release */
		const char *now;      /* the recipient in the policy in force at the sweep */
		int64_t sweep_at;     /* offset from NOW */
		size_t purged, vetoed;
	} rows[] = {
	    {"a third party, retention over", THIRD, THIRD, 3 * DAY, 0, 1},
	    {"a third party, the last day", THIRD, THIRD, 1097 * DAY, 0, 1},
	    {"a third party, 3 years on", THIRD, THIRD, 1098 * DAY, 1, 0},
	    {"entrusted", THIRD "relationship entrusted\n", THIRD "relationship entrusted\n",
	     3 * DAY, 1, 0},
	    {"made entrusted since", THIRD, THIRD "relationship entrusted\n", 3 * DAY, 0, 1},
	    {"its number gone since", THIRD, "recipient.name 株式会社アルファ\n", 3 * DAY, 0, 1},
	    {"entrusted then, a third party now", THIRD "relationship entrusted\n", THIRD, 3 * DAY,
	     1, 0},
	    {"no release, no provision", NULL, THIRD, 3 * DAY, 1, 0},
	};

#undef THIRD

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct fixture *f = NULL;
		struct cid_policyset *then = NULL;
		struct cid_retention_sweep done;
		char *who;

		print_message("%s\n", rows[i].name);
		assert_int_equal(setup((void **)&f), 0);
		/* expired at NOW + DAY: its own retention (2 days) is over at NOW + 3 days */
		record1(f, "fees", "email", CID_CONSENT_GRANTED, NOW + DAY, NOW);
		if (rows[i].released != NULL) {
			policy_with(rows[i].released, &then);
			release(f, HANAKO, then, NOW);
			cid_policyset_free(then);
		}
		cid_policyset_free(f->ps);
		policy_with(rows[i].now, &f->ps);
		done = sweep(f, NOW + rows[i].sweep_at);
		assert_int_equal(done.purged, rows[i].purged);
		assert_int_equal(done.vetoed, rows[i].vetoed);
		/* a record kept names the citizen, not a pseudonym of no one */
		who = provision_citizen(f);
		if (rows[i].vetoed > 0)
			assert_string_equal(who, HANAKO);
		free(who);
		assert_int_equal(teardown((void **)&f), 0);
	}
}

/*
 * A scope the veto holds takes no place of a run: with room for one, a due
 * scope sorting after a vetoed one (a third party's, kept 3 years) is purged
 * at once, not held back behind it. Of two citizens with a refused consent,
 * the one whose scope sorts first (pseudonyms are random) gets the release
 * to the third party, the other none.
 */
static void test_vetoed_scopes_take_no_place(void **state)
{
	static const char *const ids[] = {"0a1b2c3d-0000-4000-8000-000000000100",
					  "0a1b2c3d-0000-4000-8000-000000000101"};
	struct fixture *f = *state;
	struct cid_retention_sweep done = {0};
	char *scope[2];
	char *held;
	int vetoed;

	cid_policyset_free(f->ps);
	f->ps = NULL;
	policy_with("recipient.name 株式会社アルファ\nrecipient.number 5010401067252\n", &f->ps);
	for (int i = 0; i < 2; i++) {
		record_of(f, ids[i], "fees", "email", CID_CONSENT_REFUSED, 0, NOW);
		scope[i] = cid_test_pseudonym(f->a.s, ids[i], "childcare", "fees");
		assert_non_null(scope[i]);
	}
	vetoed = strcmp(scope[0], scope[1]) < 0 ? 0 : 1;
	free(scope[0]);
	free(scope[1]);
	release(f, ids[vetoed], f->ps, NOW);
	assert_int_equal(cid_retention_sweep(f->a.s, f->ps, NOW + 3 * DAY, 1, &done), CID_OK);
	assert_int_equal(done.purged, 1);
	assert_int_equal(done.left, 0);
	assert_true(done.vetoed > 0);
	held = cid_test_pseudonym(f->a.s, ids[1 - vetoed], "childcare", "fees");
	assert_null(held);
	held = cid_test_pseudonym(f->a.s, ids[vetoed], "childcare", "fees");
	assert_non_null(held); /* the third party's release holds it */
	free(held);
}

/* Bad arguments. */
static void test_errors(void **state)
{
	struct fixture *f = *state;
	struct cid_retention_sweep done;

	assert_int_equal(cid_retention_sweep(NULL, f->ps, NOW, 16, &done), CID_ERR_INVALID);
	assert_int_equal(cid_retention_sweep(f->a.s, NULL, NOW, 16, &done), CID_ERR_INVALID);
	assert_int_equal(cid_retention_sweep(f->a.s, f->ps, NOW, 0, &done), CID_ERR_INVALID);
	assert_int_equal(cid_retention_sweep(f->a.s, f->ps, NOW, 16, NULL), CID_ERR_INVALID);
}

/* A run purges at most max scopes and counts the rest. */
static void test_max_and_left(void **state)
{
	struct fixture *f = *state;
	struct cid_consent_context ctx = {
	    .service = "childcare",
	    .purpose = "fees",
	    .policy_version = "v1",
	    .purpose_digest = "dg1",
	    .method = CID_CONSENT_METHOD_SCREEN,
	    .now = NOW,
	};
	struct cid_consent_change c = {"email", CID_CONSENT_REFUSED, 0};
	const char *who[3] = {"0a1b2c3d-0000-4000-8000-00000000000a",
			      "0a1b2c3d-0000-4000-8000-00000000000b",
			      "0a1b2c3d-0000-4000-8000-00000000000c"};
	struct cid_retention_sweep done = {0};
	char *id = NULL;

	for (size_t i = 0; i < 3; i++) {
		ctx.account_id = who[i];
		assert_int_equal(cid_consent_record(f->a.s, &ctx, &c, 1, &id), CID_OK);
		free(id);
	}
	assert_int_equal(cid_retention_sweep(f->a.s, f->ps, NOW + 2 * DAY, 2, &done), CID_OK);
	assert_int_equal(done.purged, 2);
	assert_int_equal(done.left, 1);
	assert_int_equal(cid_retention_sweep(f->a.s, f->ps, NOW + 2 * DAY, 2, &done), CID_OK);
	assert_int_equal(done.purged, 1);
	assert_int_equal(done.left, 0);
}

/*
 * A step reads at most its keys scopes, from where the last one stopped, and
 * a pass of steps reads each scope once: five scopes in force and one due,
 * steps of two read two each and the fourth step begins the next pass; once
 * one is due, a pass of steps purges it. A whole pass reads every scope.
 */
static void test_step_reads_a_bounded_slice(void **state)
{
	struct fixture *f = *state;
	char who[37];
	struct cid_retention_sweep done = {0};
	size_t visited = 0, purged = 0;

	for (int i = 0; i < 6; i++) {
		snprintf(who, sizeof(who), "0a1b2c3d-0000-4000-8000-0000000001%02d", i);
		if (i == 0)
			record_of(f, who, "fees", "email", CID_CONSENT_REFUSED, 0, NOW);
		else
			record_of(f, who, "fees", "email", CID_CONSENT_GRANTED, NOW + 10 * DAY,
				  NOW);
	}
	assert_int_equal(cid_retention_sweep(f->a.s, f->ps, NOW + DAY, 16, &done), CID_OK);
	assert_int_equal(done.visited, 6);
	assert_int_equal(done.purged, 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(cid_retention_sweep_step(f->a.s, f->ps, NOW + DAY, 16, 2, &done),
				 CID_OK);
		assert_int_equal(done.visited, 2);
	}
	/* the pass is over: the next step begins at the first scope again */
	assert_int_equal(cid_retention_sweep_step(f->a.s, f->ps, NOW + DAY, 16, 4, &done), CID_OK);
	assert_int_equal(done.visited, 4);
	assert_int_equal(cid_retention_sweep_step(f->a.s, f->ps, NOW + DAY, 16, 4, &done), CID_OK);
	assert_int_equal(done.visited, 2);
	/* now one is due: a pass of steps of two, three steps, purges it */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(
		    cid_retention_sweep_step(f->a.s, f->ps, NOW + 2 * DAY, 16, 2, &done), CID_OK);
		assert_true(done.visited <= 2);
		visited += done.visited;
		purged += done.purged;
	}
	assert_true(visited >= 5);
	assert_int_equal(purged, 1);
	assert_int_equal(cid_retention_sweep_step(f->a.s, f->ps, NOW + 2 * DAY, 16, 0, &done),
			 CID_ERR_INVALID);
}

/* A step stops at the first due scope beyond max; the next step begins there. */
static void test_step_resumes_at_the_scope_left(void **state)
{
	struct fixture *f = *state;
	char who[37];
	struct cid_retention_sweep done = {0};

	for (int i = 0; i < 3; i++) {
		snprintf(who, sizeof(who), "0a1b2c3d-0000-4000-8000-0000000002%02d", i);
		record_of(f, who, "fees", "email", CID_CONSENT_REFUSED, 0, NOW);
	}
	assert_int_equal(cid_retention_sweep_step(f->a.s, f->ps, NOW + 2 * DAY, 2, 100, &done),
			 CID_OK);
	assert_int_equal(done.purged, 2);
	assert_int_equal(done.left, 1);
	assert_int_equal(done.visited, 3);
	assert_int_equal(cid_retention_sweep_step(f->a.s, f->ps, NOW + 2 * DAY, 2, 100, &done),
			 CID_OK);
	assert_int_equal(done.purged, 1);
	assert_int_equal(done.left, 0);
	assert_int_equal(done.visited, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_due_table),
	    cmocka_unit_test(test_provision_record_vetoes),
	    cmocka_unit_test_setup_teardown(test_purge_unlinks_and_verifies, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_own_scope_goes_after_the_deletion_and_every_purpose, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_export_by_a_deleted_citizen_goes_after_the_retention, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_vetoed_scopes_take_no_place, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_max_and_left, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_step_reads_a_bounded_slice, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_step_resumes_at_the_scope_left, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
