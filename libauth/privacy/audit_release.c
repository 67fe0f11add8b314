/*
 * audit_release: the release's audit hook (release.h) writing to the audit
 * log (audit.h). It sits above both, so the log, the lowest module of the
 * privacy layer, knows nothing of releases, and a release knows the log only
 * as the hook it calls.
 *
 * A release's decisions become entries before any claim is released: one per
 * group of decisions sharing (decision, purpose, reason, basis, the policy
 * file of their rules, and the source of a verified value: its "verified"
 * member), with the group's attributes and consent records sorted and without
 * repeats, and the lines of its rules ascending ("file.policy:9,10"), so the
 * same release always makes the same entries. A policy permits one attribute
 * per line, so grouping by line made an entry per attribute released: a
 * userinfo answer of five attributes wrote five entries, where one says it. A decision
 * denied because its consent expired also records that expiry, as one consent.expired entry per
 * consent record ever: its once-key (audit_expired_once_key, the sweeper's too) is written in the
 * same transaction as the entry.
 * The entries are made straight into their canonical bytes (audit_build_*,
 * audit_int.h), not as jansson objects: a release writes a few per request.
 */
#include "audit_release.h"

#include "audit_int.h"
#include "policy.h"

#include <stdlib.h>
#include <string.h>

/* One entry of a release in the making: decisions sharing the grouping key. */
struct group {
	const struct cid_release_decision *key; /* the first decision of the group */
	struct cid_str *attributes;		/* n_attributes of them, borrowed from the event */
	size_t n_attributes;
	struct cid_str *records; /* the consent records' ids, n_records of them, borrowed */
	size_t n_records;
	size_t file_len; /* of the file its key's rule names ("file.policy" of "file.policy:9") */
	uint32_t *lines; /* the lines its decisions' rules name, in their order */
	size_t n_lines;	 /* none when no rule decided it */
};

/*
 * True if two verified values' sources (or none) make the same "verified"
 * member (verified_member): the issuer, the trust framework and the time of
 * the verification, so that an entry never names one verification for an
 * attribute another verified.
 */
static bool same_source(const json_t *a, const json_t *b)
{
	static const char *const names[] = {"issuer", "trust_framework", "time"};

	if ((a == NULL) != (b == NULL))
		return false;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!audit_same_str(cid_json_str(a, names[i]), cid_json_str(b, names[i])))
			return false;
	return true;
}

/*
 * True if decision b, whose rule (if any) names a file of file_len bytes,
 * belongs to group g: the same key, and the rules of both none or lines of one
 * file.
 */
static bool same_group(const struct group *g, const struct cid_release_decision *b, size_t file_len)
{
	const struct cid_release_decision *a = g->key;
	const struct cid_decision *x = &a->decision;
	const struct cid_decision *y = &b->decision;

	if ((x->rule == NULL) != (y->rule == NULL))
		return false;
	if (x->rule != NULL &&
	    (g->file_len != file_len || strncmp(x->rule, y->rule, file_len) != 0))
		return false;
	return x->permit == y->permit && x->reason == y->reason &&
	       audit_same_str(a->purpose, b->purpose) && x->basis == y->basis &&
	       audit_same_str(x->statute, y->statute) && same_source(a->source, b->source);
}

/*
 * A verified value released (release.h's source): "verified": {"issuer",
 * "trust_framework", "time"?}, so the log says whose word the service got.
 */
static void verified_member(const json_t *source, struct audit_build *e)
{
	struct audit_build v;

	if (source == NULL)
		return;
	audit_build_init(&v);
	audit_build_str(&v, "issuer", cid_json_str(source, "issuer"));
	audit_build_str(&v, "trust_framework", cid_json_str(source, "trust_framework"));
	audit_build_str(&v, "time", cid_json_str(source, "time"));
	audit_build_object(e, "verified", &v);
	audit_build_free(&v);
}

/* The members every entry of the event shares. */
static void event_base(const struct cid_release_event *ev, const char *time, const char *actor,
		       struct audit_build *e)
{
	audit_build_str(e, "time", time);
	audit_build_str(e, "actor", actor);
	audit_build_str(e, "citizen", ev->account_id);
	audit_build_str(e, "service", ev->service);
}

/* How the citizen authenticated, as the grant says: "acr", "amr", "auth_time" when known. */
static enum cid_err auth_members(const struct cid_release_event *ev, struct audit_build *e)
{
	enum cid_err rc = CID_OK;
	struct cid_str *amr = NULL;

	audit_build_str(e, "acr", ev->acr);
	if (ev->n_amr > 0) {
		amr = calloc(ev->n_amr, sizeof(*amr));
		CID_ENSURE(amr != NULL, CID_ERR_NOMEM);
		for (size_t i = 0; i < ev->n_amr; i++) {
			CID_ENSURE(ev->amr[i] != NULL, CID_ERR_INVALID);
			amr[i] = cid_str_of(ev->amr[i]);
		}
		audit_build_strs(e, "amr", amr, ev->n_amr);
	}
	if (ev->auth_time > 0) {
		char at[AUDIT_TIME_CHARS + 1];

		CID_TRY(cid_audit_time(ev->auth_time, at));
		audit_build_str(e, "auth_time", at);
	}
out:
	free(amr);
	return rc;
}

static int line_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a;
	uint32_t y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/*
 * The "rule" of a group's entry (audit.h): its file, then the lines of its
 * rules ascending and once each (sorting g's lines); NULL in *out when no
 * rule decided it. Errors: CID_ERR_NOMEM.
 */
static enum cid_err group_rule(struct group *g, char **out)
{
	enum cid_err rc = CID_OK;
	struct cid_buf b;

	cid_buf_init(&b, CID_AUDIT_MAX_RULE);
	*out = NULL;
	if (g->n_lines == 0)
		goto out;
	qsort(g->lines, g->n_lines, sizeof(*g->lines), line_cmp);
	cid_buf_append(&b, g->key->decision.rule, g->file_len);
	for (size_t i = 0; i < g->n_lines; i++) {
		if (i > 0 && g->lines[i] == g->lines[i - 1])
			continue;
		cid_buf_append(&b, i == 0 ? ":" : ",", 1);
		cid_buf_append_int(&b, g->lines[i]);
	}
	CID_TRY(cid_buf_status(&b));
	*out = cid_buf_take(&b, NULL);
	CID_ENSURE(*out != NULL, CID_ERR_NOMEM);
out:
	cid_buf_free(&b);
	return rc;
}

static enum cid_err release_entry(const struct cid_release_event *ev, const char *time,
				  struct group *g, struct audit_build *e,
				  struct audit_prepared *out)
{
	enum cid_err rc = CID_OK;
	const struct cid_decision *d = &g->key->decision;
	char *rule = NULL;

	event_base(ev, time, "service", e);
	audit_build_str(e, "type", d->permit ? "release.permit" : "release.deny");
	audit_build_str(e, "decision", d->permit ? "permit" : "deny");
	audit_build_str(e, "reason", cid_reason_name(d->reason));
	audit_build_str(e, "purpose", g->key->purpose);
	/* a citation is as long as a policy line lets it be: no buffer of ours cuts it */
	if (g->key->purpose != NULL && d->basis == CID_BASIS_STATUTE)
		audit_build_prefixed(e, "basis", "statute:", d->statute != NULL ? d->statute : "");
	else if (g->key->purpose != NULL)
		audit_build_str(e, "basis", "consent");
	CID_TRY(group_rule(g, &rule));
	audit_build_str(e, "rule", rule);
	audit_build_str(e, "policy_version", d->policy_version);
	audit_build_str(e, "purpose_digest", g->key->purpose_digest);
	CID_TRY(auth_members(ev, e));
	audit_build_str(e, "endpoint", cid_release_target_name(ev->target));
	audit_build_str(e, "request_id", ev->request_id);
	audit_build_str(e, "grant_id", ev->grant_id);
	audit_build_int(e, "level", ev->level);
	audit_str_set(g->attributes, &g->n_attributes);
	audit_build_strs(e, "attributes", g->attributes, g->n_attributes);
	audit_str_set(g->records, &g->n_records);
	if (g->n_records > 0)
		audit_build_strs(e, "consent_records", g->records, g->n_records);
	verified_member(g->key->source, e);
	rc = audit_build_finish(e, out);
out:
	free(rule);
	return rc;
}

/* The attribute's base name ("family_name" of "family_name#ja-Kana-JP"). */
static struct cid_str base_name(const char *attribute)
{
	const char *hash = strchr(attribute, '#');

	return hash == NULL ? cid_str_of(attribute)
			    : (struct cid_str){attribute, (size_t)(hash - attribute)};
}

/* The consent.expired entry of the decisions of ev with consent record id. */
static enum cid_err expired_entry(const struct cid_release_event *ev, const char *time,
				  const struct cid_release_decision *first, struct audit_build *e,
				  struct audit_prepared *out)
{
	enum cid_err rc = CID_OK;
	const char *id = first->decision.consent_id;
	struct cid_str record = cid_str_of(id);
	struct cid_str *attrs = calloc(ev->n_decisions, sizeof(*attrs));
	size_t n = 0;

	CID_ENSURE(attrs != NULL, CID_ERR_NOMEM);
	for (const struct cid_release_decision *d = first; d < ev->decisions + ev->n_decisions; d++)
		if (d->decision.reason == CID_REASON_EXPIRED &&
		    audit_same_str(d->decision.consent_id, id))
			attrs[n++] = base_name(d->attribute);
	audit_str_set(attrs, &n);
	event_base(ev, time, "system", e);
	audit_build_str(e, "type", "consent.expired");
	audit_build_str(e, "purpose", first->purpose);
	audit_build_strs(e, "attributes", attrs, n);
	audit_build_strs(e, "consent_records", &record, 1);
	rc = audit_build_finish(e, out);
out:
	free(attrs);
	return rc;
}

static void once_free(char **once, size_t cap)
{
	for (size_t i = 0; once != NULL && i < cap; i++)
		free(once[i]);
	free(once);
}

/*
 * The entries of ev (n_decisions > 0) into new arrays *prep_out and *once_out
 * of 2 * n_decisions + 1 (empty past *n_out), each entry with its once-key or
 * NULL: what both hooks write. Nothing on error.
 */
static enum cid_err release_make(const struct cid_release_event *ev,
				 struct audit_prepared **prep_out, char ***once_out, size_t *n_out)
{
	enum cid_err rc = CID_OK;
	size_t nd = ev->n_decisions;
	struct group *groups = calloc(nd + 1, sizeof(*groups));
	struct audit_prepared *prep = calloc(2 * nd + 1, sizeof(*prep));
	char **once = calloc(2 * nd + 1, sizeof(*once));
	struct audit_build e;
	size_t ng = 0;
	size_t n = 0;
	char time[AUDIT_TIME_CHARS + 1];

	audit_build_init(&e);
	CID_ENSURE(groups != NULL && prep != NULL && once != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_audit_time(ev->now, time));
	/* each expired consent record once per event here, once ever by its once-key */
	for (size_t i = 0; i < nd; i++) {
		const struct cid_release_decision *d = &ev->decisions[i];
		bool seen = false;

		if (d->decision.reason != CID_REASON_EXPIRED || d->decision.consent_id == NULL)
			continue;
		for (size_t j = 0; j < i && !seen; j++)
			seen = ev->decisions[j].decision.reason == CID_REASON_EXPIRED &&
			       audit_same_str(ev->decisions[j].decision.consent_id,
					      d->decision.consent_id);
		if (seen)
			continue;
		CID_TRY(audit_expired_once_key(d->decision.consent_id, &once[n]));
		CID_TRY(expired_entry(ev, time, d, &e, &prep[n]));
		n++;
	}
	for (size_t i = 0; i < nd; i++) {
		const struct cid_release_decision *d = &ev->decisions[i];
		struct group *g = NULL;
		size_t file_len = 0;
		uint32_t line = 0;
		size_t one = 0;

		/* a rule names one line of its policy file: "file.policy:LINE" */
		CID_ENSURE(d->decision.rule == NULL ||
			       cid_audit_rule_parse(d->decision.rule, &file_len, &line, 1, &one),
			   CID_ERR_INVALID);
		CID_ENSURE(d->attribute != NULL, CID_ERR_INVALID);
		for (size_t j = 0; j < ng && g == NULL; j++)
			if (same_group(&groups[j], d, file_len))
				g = &groups[j];
		if (g == NULL) {
			g = &groups[ng++];
			g->key = d;
			g->file_len = file_len;
			g->attributes = calloc(nd, sizeof(*g->attributes));
			g->records = calloc(nd, sizeof(*g->records));
			g->lines = calloc(nd, sizeof(*g->lines));
			CID_ENSURE(g->attributes != NULL && g->records != NULL && g->lines != NULL,
				   CID_ERR_NOMEM);
		}
		if (d->decision.rule != NULL)
			g->lines[g->n_lines++] = line;
		g->attributes[g->n_attributes++] = cid_str_of(d->attribute);
		if (d->decision.consent_id != NULL)
			g->records[g->n_records++] = cid_str_of(d->decision.consent_id);
	}
	for (size_t j = 0; j < ng; j++) {
		CID_TRY(release_entry(ev, time, &groups[j], &e, &prep[n]));
		n++;
	}
	*prep_out = prep;
	*once_out = once;
	*n_out = n;
	prep = NULL;
	once = NULL;
out:
	for (size_t j = 0; groups != NULL && j < ng; j++) {
		free(groups[j].attributes);
		free(groups[j].records);
		free(groups[j].lines);
	}
	free(groups);
	audit_build_free(&e);
	audit_prepared_free(prep, 2 * nd + 1);
	once_free(once, 2 * nd + 1);
	return rc;
}

enum cid_err cid_audit_release_hook(void *arg, const struct cid_release_event *ev,
				    struct cid_audit_range *range)
{
	enum cid_err rc = CID_OK;
	struct audit_prepared *prep = NULL;
	char **once = NULL;
	size_t n = 0;
	uint64_t first = 0;
	size_t written = 0;

	*range = (struct cid_audit_range){0};
	if (ev->n_decisions == 0)
		return CID_OK;
	CID_TRY(release_make(ev, &prep, &once, &n));
	CID_TRY(audit_append_prepared(arg, prep, (const char *const *)once, n, &first, &written));
	if (written > 0)
		*range = (struct cid_audit_range){first, first + written - 1, written};
out:
	audit_prepared_free(prep, 2 * ev->n_decisions + 1);
	once_free(once, 2 * ev->n_decisions + 1);
	return rc;
}

enum cid_err cid_audit_release_later(void *arg, const struct cid_release_event *ev,
				     struct cid_audit_range *range)
{
	enum cid_err rc = CID_OK;
	struct cid_audit_later *later = arg;
	struct audit_prepared *prep = NULL;
	char **once = NULL;
	size_t n = 0;

	*range = (struct cid_audit_range){0};
	if (ev->n_decisions == 0)
		return CID_OK;
	CID_ENSURE(*later->out == NULL, CID_ERR_INVALID);
	CID_TRY(release_make(ev, &prep, &once, &n));
	/* the arrays hold 2 * n_decisions + 1, empty past n: the pending's n are all */
	CID_TRY(audit_pending_of(later->log, prep, once, n, later->out));
	range->count = n;
out:
	return rc;
}
