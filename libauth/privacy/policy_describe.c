/*
 * policy_describe: a policy as the citizen and the privacy officer read it.
 *
 * The consent screen and `civicid policy show` are told what a purpose may
 * receive, not how the evaluator finds it: a permit that a deny of the same
 * attribute overrides is left out, so a description never promises what the
 * evaluator refuses. Only reads the set; the JSON it builds is the caller's.
 */
#include "policy_int.h"

#include <string.h>

static json_t *describe_purpose(const struct cid_policyset *ps, const struct purpose *pu)
{
	json_t *permit = json_array(), *deny = json_array();
	bool ok = permit != NULL && deny != NULL;

	for (size_t i = pu->first_rule; ok && i < pu->first_rule + pu->n_rules; i++) {
		const struct rule *r = &ps->rules[i];
		if (r->kind == RULE_DENY)
			ok = json_array_append_new(deny,
						   json_pack("{s:s, s:s}", "attribute",
							     r->attribute, "rule", r->where)) == 0;
		else if (!policy_denied(ps, pu, r->attribute)) {
			json_t *e = json_pack("{s:s, s:i, s:s}", "attribute", r->attribute, "level",
					      r->level, "rule", r->where);
			ok = e != NULL &&
			     (!r->verified || json_object_set_new(e, "verified", json_true()) == 0);
			ok = json_array_append_new(permit, e) == 0 && ok;
		}
	}
	if (!ok) {
		json_decref(permit);
		json_decref(deny);
		return NULL;
	}
	json_t *o = json_pack("{s:s, s:{s:s, s:s}, s:s, s:I, s:I, s:s, s:s, s:o, s:o}", "id",
			      pu->id, "text", "ja", pu->text_ja, "en", pu->text_en, "basis",
			      pu->basis == CID_BASIS_STATUTE ? "statute" : "consent",
			      "retention_days", (json_int_t)pu->retention_days,
			      "consent_valid_days", (json_int_t)pu->consent_valid_days, "category",
			      cid_policy_category_name(pu->category), "digest", pu->digest,
			      "permit", permit, "deny", deny);
	if (o != NULL && pu->statute != NULL &&
	    json_object_set_new(o, "statute", json_string(pu->statute)) != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

enum cid_err cid_policy_describe(const struct cid_policyset *ps, const char *service, json_t **out)
{
	const struct cid_policy *pol = cid_policyset_find(ps, service);
	json_t *purposes, *o;

	if (pol == NULL)
		return CID_ERR_NOTFOUND;
	purposes = json_array();
	if (purposes == NULL)
		return CID_ERR_NOMEM;
	for (size_t i = pol->first_purpose; i < pol->first_purpose + pol->n_purposes; i++) {
		if (json_array_append_new(purposes, describe_purpose(ps, &ps->purposes[i])) != 0) {
			json_decref(purposes);
			return CID_ERR_NOMEM;
		}
	}
	o = json_pack("{s:s, s:{s:s, s:s}, s:s, s:s, s:s, s:o}", "service", pol->service, "name",
		      "ja", pol->name_ja, "en", pol->name_en, "subject",
		      pol->public_subject ? "public" : "pairwise", "version", pol->version, "file",
		      pol->file, "purposes", purposes);
	if (o == NULL)
		return CID_ERR_NOMEM;
	*out = o;
	return CID_OK;
}

const char *cid_policy_name(const struct cid_policy *pol, const char *locale)
{
	return locale != NULL && strcmp(locale, "en") == 0 ? pol->name_en : pol->name_ja;
}

const char *cid_purpose_text(const struct cid_purpose_info *pu, const char *locale)
{
	return strcmp(locale, "en") == 0 ? pu->text_en : pu->text_ja;
}

void cid_policy_duration(uint32_t days, const char **key, uint32_t *n)
{
	/* the policy language's units (policy_parse.c): Ny is 365 days, Nm is 30 */
	if (days > 0 && days % 365 == 0) {
		*n = days / 365;
		*key = *n == 1 ? "dur.year" : "dur.years";
	} else if (days > 0 && days % 30 == 0) {
		*n = days / 30;
		*key = *n == 1 ? "dur.month" : "dur.months";
	} else {
		*n = days;
		*key = days == 1 ? "dur.day" : "dur.days";
	}
}
