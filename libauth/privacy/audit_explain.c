/*
 * audit_explain: one entry explained from the store alone (audit_explain.h).
 *
 * The notice is never taken from the policies in force: a file may have
 * changed since, so the text comes from the archived version the entry
 * names, parsed again as it was loaded, and the purpose digest recomputed
 * from it must be the one the entry (and the consent behind a permit)
 * recorded. Each check that fails adds a sentence to "problems"; each that
 * cannot be made, to "gaps". Reads only.
 */
#include "audit_explain.h"

#include "audit.h"
#include "buf.h"
#include "consent.h"
#include "policy.h"
#include "policy_archive.h"
#include "pseudonym.h"
#include "str.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define EXPLAIN_MAX_CONSENTS 64 /* consent records explained per entry */

struct explain {
	struct cid_store *s;
	const json_t *entry;
	json_t *out;
	json_t *problems, *gaps;
};

static enum cid_err say(json_t *list, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static enum cid_err say(json_t *list, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	return json_array_append_new(list, json_string(text)) == 0 ? CID_OK : CID_ERR_NOMEM;
}

static enum cid_err copy_member(json_t *to, const json_t *from, const char *name)
{
	json_t *v = json_object_get(from, name);

	if (v == NULL)
		return CID_OK;
	return json_object_set(to, name, v) == 0 ? CID_OK : CID_ERR_NOMEM;
}

static enum cid_err authentication(struct explain *x)
{
	enum cid_err rc = CID_OK;
	json_t *a = json_object();
	static const char *const members[] = {"level", "acr", "amr", "auth_time"};

	CID_ENSURE(a != NULL, CID_ERR_NOMEM);
	for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++)
		CID_TRY(copy_member(a, x->entry, members[i]));
	if (json_object_size(a) > 0)
		CID_ENSURE(json_object_set(x->out, "authentication", a) == 0, CID_ERR_NOMEM);
out:
	json_decref(a);
	return rc;
}

/*
 * The lines of rule "file.policy:N[,N...]" (audit.h) in the archived file
 * arc, joined by newlines, into policy's "rule_line"; none when the rule names
 * another file or a line the text does not have.
 */
static enum cid_err rule_line(const json_t *arc, const char *rule, json_t *policy)
{
	enum cid_err rc = CID_OK;
	const json_t *text = json_object_get(arc, "text");
	struct cid_buf b;

	cid_buf_init(&b, (size_t)CID_AUDIT_RULE_MAX_LINES * (CID_POLICY_MAX_LINE + 1));
	if (!cid_audit_rule_text(rule, cid_json_str(arc, "file"), json_string_value(text),
				 json_string_length(text), &b))
		goto out;
	CID_ENSURE(json_object_set_new(policy, "rule_line", json_stringn(b.data, b.len)) == 0,
		   CID_ERR_NOMEM);
out:
	cid_buf_free(&b);
	return rc;
}

/* The purpose of the entry in the archived text arc: the notice section. */
static enum cid_err notice(struct explain *x, const json_t *arc, const char **digest)
{
	enum cid_err rc = CID_OK;
	const json_t *text = json_object_get(arc, "text");
	const char *service = cid_json_str(x->entry, "service");
	const char *purpose = cid_json_str(x->entry, "purpose");
	const char *recorded = cid_json_str(x->entry, "purpose_digest");
	struct cid_policyset *ps = NULL;
	const struct cid_policy *pol;
	struct cid_purpose_info pu;
	json_t *n = NULL;

	*digest = NULL;
	if (purpose == NULL || service == NULL)
		goto out;
	if (cid_json_str(arc, "file") == NULL) {
		rc = say(x->problems, "the archived policy %s names no file: the record is damaged",
			 cid_json_str(arc, "version"));
		goto out;
	}
	rc = cid_policyset_parse(cid_json_str(arc, "file"), json_string_value(text),
				 json_string_length(text), NULL, &ps);
	if (rc == CID_ERR_CONFIG) {
		rc = say(x->problems, "the archived policy %s does not parse",
			 cid_json_str(arc, "version"));
		goto out;
	}
	CID_TRY(rc);
	pol = cid_policyset_find(ps, service);
	if (pol == NULL || !cid_policy_purpose_find(pol, purpose, &pu)) {
		rc = say(x->problems, "the archived policy %s has no purpose %s of service %s",
			 cid_json_str(arc, "version"), purpose, service);
		goto out;
	}
	n = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:b}", "purpose", pu.id, "text_ja",
		      pu.text_ja, "text_en", pu.text_en, "basis",
		      pu.basis == CID_BASIS_STATUTE ? "statute" : "consent", "retention_days",
		      (json_int_t)pu.retention_days, "digest", pu.digest, "matches",
		      recorded != NULL && strcmp(recorded, pu.digest) == 0);
	CID_ENSURE(n != NULL, CID_ERR_NOMEM);
	if (pu.statute != NULL)
		CID_ENSURE(json_object_set_new(n, "statute", json_string(pu.statute)) == 0,
			   CID_ERR_NOMEM);
	if (recorded != NULL) {
		CID_ENSURE(json_object_set_new(n, "digest_recorded", json_string(recorded)) == 0,
			   CID_ERR_NOMEM);
		if (strcmp(recorded, pu.digest) != 0)
			CID_TRY(say(x->problems,
				    "MISMATCH: the entry records purpose digest %s, the archived "
				    "text of policy %s gives %s: this is not the notice the entry "
				    "was decided under",
				    recorded, cid_json_str(arc, "version"), pu.digest));
	} else {
		CID_TRY(say(x->gaps,
			    "the entry records no purpose digest (written before "
			    "civicid recorded it): the notice is the version's, unchecked"));
	}
	CID_ENSURE(json_object_set(x->out, "notice", n) == 0, CID_ERR_NOMEM);
	*digest = cid_json_str(n, "digest");
out:
	json_decref(n); /* *digest lives in x->out's reference */
	cid_policyset_free(ps);
	return rc;
}

/* The policy section, and from it the notice: *digest is the recomputed purpose digest. */
static enum cid_err policy(struct explain *x, const char **digest)
{
	enum cid_err rc = CID_OK;
	const char *version = cid_json_str(x->entry, "policy_version");
	struct cid_txn *txn = NULL;
	json_t *arc = NULL;
	json_t *p = NULL;
	bool intact;

	*digest = NULL;
	if (version == NULL)
		goto out;
	CID_TRY(cid_store_read_begin(x->s, &txn));
	rc = cid_policy_archive_get(txn, version, &arc);
	cid_store_read_end(txn);
	txn = NULL;
	if (rc == CID_ERR_NOTFOUND) {
		p = json_pack("{s:s, s:b, s:b}", "version", version, "archived", 0, "intact", 0);
		CID_ENSURE(p != NULL && json_object_set(x->out, "policy", p) == 0, CID_ERR_NOMEM);
		rc = say(x->gaps,
			 "policy version %s is not in the archive (loaded before civicid kept "
			 "every version): its notice text cannot be shown",
			 version);
		goto out;
	}
	CID_TRY(rc);
	intact = cid_policy_archive_intact(arc);
	p = json_pack("{s:s, s:b, s:b}", "version", version, "archived", 1, "intact", intact);
	CID_ENSURE(p != NULL, CID_ERR_NOMEM);
	CID_TRY(copy_member(p, arc, "service"));
	CID_TRY(copy_member(p, arc, "file"));
	{
		char at[21];

		if (cid_audit_time(cid_json_int(arc, "loaded_at"), at) == CID_OK)
			CID_ENSURE(json_object_set_new(p, "loaded_at", json_string(at)) == 0,
				   CID_ERR_NOMEM);
	}
	CID_ENSURE(json_object_set(x->out, "policy", p) == 0, CID_ERR_NOMEM);
	if (!intact) {
		rc = say(x->problems,
			 "MISMATCH: the archived text filed under policy version %s does not "
			 "hash to it: the archive was changed",
			 version);
		goto out;
	}
	CID_TRY(rule_line(arc, cid_json_str(x->entry, "rule"), p));
	CID_TRY(notice(x, arc, digest));
out:
	cid_store_read_end(txn);
	json_decref(arc);
	json_decref(p);
	return rc;
}

/* Whether the consent behind the entry must have been given under its notice. */
static bool consent_justifies(const json_t *entry)
{
	const char *type = cid_json_str(entry, "type");
	const char *reason = cid_json_str(entry, "reason");

	return type != NULL && (strcmp(type, "consent.granted") == 0 ||
				(strcmp(type, "release.permit") == 0 && reason != NULL &&
				 strcmp(reason, "permit_consent") == 0));
}

/* The records of history of rec's (service, purpose, attribute), in order. */
static enum cid_err same_attribute(const json_t *history, const struct cid_consent_record *rec,
				   json_t **out)
{
	enum cid_err rc = CID_OK;
	json_t *list = json_array();
	size_t i;
	const json_t *h;

	CID_ENSURE(list != NULL, CID_ERR_NOMEM);
	json_array_foreach(history, i, h)
	{
		struct cid_consent_record r;

		if (cid_consent_record_read(h, &r) != CID_OK)
			continue;
		if (strcmp(r.service, rec->service) == 0 && strcmp(r.purpose, rec->purpose) == 0 &&
		    strcmp(r.attribute, rec->attribute) == 0)
			CID_ENSURE(json_array_append(list, (json_t *)(uintptr_t)h) == 0,
				   CID_ERR_NOMEM);
	}
	*out = list;
	list = NULL;
out:
	json_decref(list);
	return rc;
}

/*
 * True if the entry names a pseudonym whose mapping is gone: purged at the
 * end of its retention (retention.h), its consent records with it.
 */
static enum cid_err scope_purged(const struct explain *x, bool *purged)
{
	const char *who = cid_json_str(x->entry, "citizen");
	struct cid_txn *txn = NULL;
	json_t *scope = NULL;
	enum cid_err rc;

	*purged = false;
	if (!cid_pseudonym_syntax_ok(who))
		return CID_OK;
	rc = cid_store_read_begin(x->s, &txn);
	if (rc == CID_OK)
		rc = cid_pseudonym_resolve(txn, who, &scope);
	cid_store_read_end(txn);
	json_decref(scope);
	if (rc == CID_ERR_NOTFOUND) {
		*purged = true;
		rc = CID_OK;
	}
	return rc;
}

/*
 * The account the entry's citizen names, as "account" of the explanation: its
 * pseudonym resolved, or the account id itself in entries from before
 * pseudonyms. Nothing is added when the entry names no citizen or its
 * pseudonym was purged.
 */
static enum cid_err citizen_account(const struct explain *x)
{
	const char *who = cid_json_str(x->entry, "citizen");
	struct cid_txn *txn = NULL;
	json_t *scope = NULL;
	const char *account = who;
	enum cid_err rc = CID_OK;

	if (who == NULL || who[0] == '\0')
		return CID_OK;
	if (cid_pseudonym_syntax_ok(who)) {
		rc = cid_store_read_begin(x->s, &txn);
		if (rc == CID_OK)
			rc = cid_pseudonym_resolve(txn, who, &scope);
		cid_store_read_end(txn);
		account = cid_json_str(scope, "citizen");
		if (rc == CID_ERR_NOTFOUND) {
			rc = CID_OK;
			account = NULL;
		}
	}
	if (rc == CID_OK && account != NULL && account[0] != '\0' &&
	    json_object_set_new(x->out, "account", json_string(account)) != 0)
		rc = CID_ERR_NOMEM;
	json_decref(scope);
	return rc;
}

/* One consent record named by the entry, its history and its notice check. */
static enum cid_err consent(struct explain *x, const char *id, const char *digest, json_t *list)
{
	enum cid_err rc = CID_OK;
	json_t *stored = NULL;
	json_t *history = NULL;
	json_t *mine = NULL;
	json_t *row = NULL;
	struct cid_consent_record rec;
	bool same;
	bool purged;
	char text[256];

	rc = cid_consent_get(x->s, id, &stored);
	if (rc == CID_ERR_NOTFOUND) {
		row = json_pack("{s:n, s:s}", "record", "id", id);
		CID_ENSURE(row != NULL && json_array_append(list, row) == 0, CID_ERR_NOMEM);
		CID_TRY(scope_purged(x, &purged));
		if (purged)
			snprintf(text, sizeof(text),
				 "consent record %s was purged with the entry's pseudonym at the "
				 "end of its retention (retention.purged)",
				 id);
		else
			snprintf(
			    text, sizeof(text),
			    "MISMATCH: consent record %s named by the entry is not in the store",
			    id);
		CID_ENSURE(
		    json_array_append_new(purged ? x->gaps : x->problems, json_string(text)) == 0,
		    CID_ERR_NOMEM);
		goto out;
	}
	CID_TRY(rc);
	CID_TRY(cid_consent_record_read(stored, &rec));
	CID_TRY(cid_consent_history(x->s, rec.account_id, rec.service, &history));
	CID_TRY(same_attribute(history, &rec, &mine));
	same = digest != NULL && strcmp(rec.purpose_digest, digest) == 0;
	row = json_pack("{s:O, s:b, s:O}", "record", stored, "same_notice", same, "history", mine);
	CID_ENSURE(row != NULL && json_array_append(list, row) == 0, CID_ERR_NOMEM);
	if (digest != NULL && !same && consent_justifies(x->entry))
		CID_TRY(say(x->problems,
			    "MISMATCH: consent record %s was given under purpose digest %s, not "
			    "under the notice of this entry (%s)",
			    id, rec.purpose_digest, digest));
out:
	json_decref(stored);
	json_decref(history);
	json_decref(mine);
	json_decref(row);
	return rc;
}

static enum cid_err consents(struct explain *x, const char *digest)
{
	enum cid_err rc = CID_OK;
	const json_t *ids = json_object_get(x->entry, "consent_records");
	json_t *list = json_array();
	size_t i;
	const json_t *v;

	CID_ENSURE(list != NULL, CID_ERR_NOMEM);
	json_array_foreach(ids, i, v)
	{
		if (i >= EXPLAIN_MAX_CONSENTS || !json_is_string(v))
			break;
		CID_TRY(consent(x, json_string_value(v), digest, list));
	}
	CID_ENSURE(json_object_set(x->out, "consents", list) == 0, CID_ERR_NOMEM);
out:
	json_decref(list);
	return rc;
}

enum cid_err cid_audit_explain(struct cid_store *s, uint64_t seq, json_t **out)
{
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;
	json_t *entry = NULL;
	struct explain x = {.s = s};
	const char *digest = NULL;

	CID_ENSURE(s != NULL && out != NULL, CID_ERR_INVALID);
	CID_TRY(cid_store_read_begin(s, &txn));
	rc = cid_audit_get(txn, seq, &entry);
	cid_store_read_end(txn);
	CID_TRY(rc);
	x.entry = entry;
	x.out = json_pack("{s:I, s:O}", "seq", (json_int_t)seq, "entry", entry);
	x.problems = json_array();
	x.gaps = json_array();
	CID_ENSURE(x.out != NULL && x.problems != NULL && x.gaps != NULL, CID_ERR_NOMEM);
	CID_TRY(citizen_account(&x));
	CID_TRY(authentication(&x));
	CID_TRY(policy(&x, &digest));
	if (digest == NULL)
		digest = cid_json_str(entry, "purpose_digest");
	CID_TRY(consents(&x, digest));
	CID_ENSURE(json_object_set(x.out, "problems", x.problems) == 0 &&
		       json_object_set(x.out, "gaps", x.gaps) == 0,
		   CID_ERR_NOMEM);
	*out = x.out;
	x.out = NULL;
out:
	json_decref(entry);
	json_decref(x.out);
	json_decref(x.problems);
	json_decref(x.gaps);
	return rc;
}
