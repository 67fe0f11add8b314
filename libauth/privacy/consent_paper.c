/*
 * consent_paper: a paper consent is checked against the policies in force,
 * then written by consent.c like any other decision.
 *
 * The checks run in the order an operator can act on them: first what no
 * record could ever hold (consent.c's own name rules, so a mistyped name is
 * never reported as "not in the policy"), then the policy, the purpose, its
 * basis and each attribute, then the lifetime. "May a purpose ask for this
 * attribute" is answered by the evaluator itself with no facts: the answer
 * "no consent yet" is exactly "the consent screen would ask", so paper and
 * screen can never disagree on what is askable. Nothing is written until
 * every check passed, and then in cid_consent_record's one transaction.
 */
#include "consent_paper.h"

#include "bounds.h"
#include "policy_archive.h"

#include <stdlib.h>
#include <string.h>

/* Checks what no record could hold, before the policy is asked anything. */
static bool well_formed(const struct cid_consent_paper *g)
{
	if (!cid_consent_name_ok(g->service) || !cid_consent_name_ok(g->purpose))
		return false;
	if (g->attributes == NULL || g->n_attributes == 0 || g->days < 0 ||
	    g->days > CID_CONSENT_PAPER_MAX_DAYS)
		return false;
	for (size_t i = 0; i < g->n_attributes; i++) {
		if (!cid_consent_attribute_ok(g->attributes[i]))
			return false;
		for (size_t j = 0; j < i; j++)
			if (strcmp(g->attributes[i], g->attributes[j]) == 0)
				return false;
	}
	return true;
}

/* True if the consent screen could ask for attribute under the purpose. */
static bool askable(const struct cid_policyset *ps, const struct cid_consent_paper *g,
		    const char *attribute)
{
	struct cid_decision d;

	/* the highest level: a permit that needs a step-up is still a permit to ask for */
	cid_policy_eval(ps, g->service, g->purpose, attribute, NULL, 0, CID_LEVEL_MFA, g->now, &d);
	return d.reason == CID_REASON_NO_CONSENT || d.reason == CID_REASON_LEVEL_TOO_LOW;
}

/*
 * The terms of g under ps: the policy's version, the purpose's digest and the
 * number of days the grant lasts, or the refusal.
 */
static bool terms_of(const struct cid_policyset *ps, const struct cid_consent_paper *g,
		     const char **version, const char **digest, int64_t *days,
		     struct cid_consent_paper_refusal *why)
{
	const struct cid_policy *pol = cid_policyset_find(ps, g->service);
	struct cid_purpose_info pu;
	int64_t longest;

	*why = (struct cid_consent_paper_refusal){.fault = CID_PAPER_NO_POLICY};
	if (pol == NULL)
		return false;
	why->fault = CID_PAPER_NO_PURPOSE;
	if (!cid_policy_purpose_find(pol, g->purpose, &pu))
		return false;
	why->fault = CID_PAPER_STATUTE;
	if (pu.basis != CID_BASIS_CONSENT)
		return false;
	why->fault = CID_PAPER_NOT_PERMITTED;
	for (size_t i = 0; i < g->n_attributes; i++) {
		why->attribute = g->attributes[i];
		if (!askable(ps, g, g->attributes[i]))
			return false;
	}
	*why = (struct cid_consent_paper_refusal){.fault = CID_PAPER_OTHER_VERSION,
						  .in_force = cid_policy_version(pol)};
	if (g->policy_version != NULL && strcmp(g->policy_version, why->in_force) != 0)
		return false;
	*why = (struct cid_consent_paper_refusal){.fault = CID_PAPER_OTHER_DIGEST,
						  .in_force = pu.digest};
	if (g->purpose_digest != NULL && strcmp(g->purpose_digest, why->in_force) != 0)
		return false;
	longest = pu.consent_valid_days < CID_CONSENT_PAPER_MAX_DAYS ? pu.consent_valid_days
								     : CID_CONSENT_PAPER_MAX_DAYS;
	*why = (struct cid_consent_paper_refusal){.fault = CID_PAPER_TOO_LONG, .max_days = longest};
	if (g->days > longest)
		return false;
	*version = cid_policy_version(pol);
	*digest = pu.digest;
	*days = g->days != 0 ? g->days : longest;
	return true;
}

enum cid_err cid_consent_paper_grant(struct cid_store *s, const struct cid_policyset *ps,
				     const struct cid_consent_paper *g, char **ids_out,
				     int64_t *expires_at_out,
				     struct cid_consent_paper_refusal *refusal)
{
	enum cid_err rc = CID_OK;
	struct cid_consent_paper_refusal why;
	struct cid_consent_context ctx = {.method = CID_CONSENT_METHOD_CLI_PAPER};
	struct cid_consent_change *changes = NULL;
	int64_t days = 0;
	int64_t expires_at;

	CID_ENSURE(g != NULL && well_formed(g), CID_ERR_INVALID);
	if (!terms_of(ps, g, &ctx.policy_version, &ctx.purpose_digest, &days, &why)) {
		if (refusal != NULL)
			*refusal = why;
		rc = CID_ERR_REFUSED;
		goto out;
	}
	ctx.account_id = g->account_id;
	ctx.service = g->service;
	ctx.purpose = g->purpose;
	ctx.now = g->now;
	expires_at = cid_consent_expiry(days, g->now);
	changes = calloc(g->n_attributes, sizeof(*changes));
	CID_ENSURE(changes != NULL, CID_ERR_NOMEM);
	/* the text the form printed stays readable under the version recorded */
	CID_TRY(cid_policy_archive_put(s, ps, g->now, NULL));
	for (size_t i = 0; i < g->n_attributes; i++)
		changes[i] =
		    (struct cid_consent_change){g->attributes[i], CID_CONSENT_GRANTED, expires_at};
	CID_TRY(cid_consent_record(s, &ctx, changes, g->n_attributes, ids_out));
	if (expires_at_out != NULL)
		*expires_at_out = expires_at;
out:
	free(changes);
	return rc;
}
