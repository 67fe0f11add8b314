/*
 * release: the one place that selects a citizen's attributes for a service.
 *
 * A release reads the citizen's current consent decisions once per purpose
 * of the service's policy (in the caller's read transaction), decides every
 * asked attribute with cid_policy_eval_service, hands all decisions to the
 * audit hook, and only then copies the permitted claims. The order is the
 * invariant: nothing is added to the answer before the hook has seen every
 * decision and agreed. Unknown stored members are never looked at, so they
 * can never leave.
 */
#include "release.h"

#include "account.h"
#include "consent.h"
#include "session.h"
#include "str.h"

#include <stdlib.h>
#include <string.h>

const char *cid_release_target_name(enum cid_release_target target)
{
	return target == CID_RELEASE_ID_TOKEN ? "id_token" : "userinfo";
}

int cid_release_level(const char *acr)
{
	return acr != NULL && strcmp(acr, CID_ACR_MFA) == 0 ? CID_LEVEL_MFA : CID_LEVEL_PASSWORD;
}

/* True if the claims request names name (or its base claim) for target. */
static bool named(const json_t *claims_request, enum cid_release_target target, const char *name,
		  const char *base)
{
	const json_t *part;

	if (claims_request == NULL)
		return false;
	part = json_object_get(claims_request, cid_release_target_name(target));
	return json_is_object(part) &&
	       (json_object_get(part, name) != NULL || json_object_get(part, base) != NULL);
}

/* True if the service asks for the claim name (definition def) for target. */
static bool asked(const struct cid_release_request *rq, const struct cid_claim_def *def,
		  const char *name, enum cid_release_target target)
{
	const char *scope = rq->scope == NULL ? "" : rq->scope;

	return cid_words_has(scope, def->scope, strlen(def->scope)) ||
	       named(rq->claims_request, target, name, def->name);
}

/*
 * What one purpose's facts are read into: freed with the facts. (A struct
 * rather than an array of pointers keeps calloc's sizeof about an object.)
 */
struct owned_facts {
	struct cid_consent_facts *facts;
};

/* The consent facts of every purpose of a policy, read in one transaction. */
struct facts {
	struct owned_facts *owned;
	struct cid_fact_list *lists; /* lists[i]: purpose i's facts, as the evaluator takes them */
	size_t n;
};

static void facts_free(struct facts *f)
{
	for (size_t i = 0; f->owned != NULL && i < f->n; i++)
		cid_consent_facts_free(f->owned[i].facts);
	free(f->owned);
	free(f->lists);
	memset(f, 0, sizeof(*f));
}

/* Reads the facts of each consent-basis purpose of pol (statute ones need none). */
static enum cid_err facts_load(const struct cid_release_request *rq, const struct cid_policy *pol,
			       struct facts *f)
{
	enum cid_err rc = CID_OK;
	size_t n = cid_policy_purpose_count(pol);

	memset(f, 0, sizeof(*f));
	if (n == 0)
		return CID_OK;
	f->owned = calloc(n, sizeof(*f->owned));
	f->lists = calloc(n, sizeof(*f->lists));
	CID_ENSURE(f->owned != NULL && f->lists != NULL, CID_ERR_NOMEM);
	f->n = n;
	for (size_t i = 0; i < n; i++) {
		struct cid_purpose_info pu;

		cid_policy_purpose(pol, i, &pu);
		if (pu.basis != CID_BASIS_CONSENT || rq->account_id == NULL)
			continue;
		CID_TRY(cid_consent_current(rq->txn, rq->account_id, rq->service, pu.id, rq->now,
					    &f->owned[i].facts));
		f->lists[i].facts = cid_consent_facts_get(f->owned[i].facts, &f->lists[i].n);
	}
out:
	if (rc != CID_OK)
		facts_free(f);
	return rc;
}

enum cid_err cid_release_claims(const struct cid_release_request *rq,
				enum cid_release_target target, json_t *out)
{
	enum cid_err rc = CID_OK;
	const json_t *claims = rq->citizen != NULL ? rq->citizen->claims : NULL;
	const struct cid_policy *pol = cid_policyset_find(rq->policies, rq->service);
	struct cid_release_decision *decisions = NULL;
	struct facts facts = {0};
	size_t n = 0;
	const char *name;
	json_t *value;

	if (rq->range != NULL)
		*rq->range = (struct cid_audit_range){0};
	if (!json_is_object(claims) || json_object_size(claims) == 0)
		return CID_OK;
	decisions = calloc(json_object_size(claims), sizeof(*decisions));
	CID_ENSURE(decisions != NULL, CID_ERR_NOMEM);
	CID_TRY(facts_load(rq, pol, &facts));
	/* jansson's foreach wants a non-const object; nothing here modifies it */
	json_object_foreach((json_t *)(uintptr_t)claims, name, value)
	{
		const struct cid_claim_def *def = cid_claim_lookup(name);
		struct cid_release_decision *d = &decisions[n];
		size_t purpose;

		if (def == NULL || json_is_null(value) || !asked(rq, def, name, target))
			continue;
		d->attribute = name;
		cid_policy_eval_service(pol, name, facts.lists, rq->level, rq->now, &d->decision,
					&purpose);
		if (purpose != SIZE_MAX) {
			struct cid_purpose_info pu;

			cid_policy_purpose(pol, purpose, &pu);
			d->purpose = pu.id;
			d->purpose_digest = pu.digest;
		}
		n++;
	}
	if (rq->audit != NULL && n > 0) {
		struct cid_release_event ev = {
		    .service = rq->service,
		    .account_id = rq->account_id,
		    .target = target,
		    .level = rq->level,
		    .acr = rq->acr,
		    .amr = rq->amr,
		    .n_amr = rq->n_amr,
		    .auth_time = rq->auth_time,
		    .now = rq->now,
		    .request_id = rq->request_id,
		    .grant_id = rq->grant_id,
		    .decisions = decisions,
		    .n_decisions = n,
		};
		struct cid_audit_range range = {0};

		/*
		 * Everything is read (the facts own their records): end the read
		 * transaction, so the hook's durable write may grow a full map, which
		 * waits for this process's readers.
		 */
		cid_store_read_end(rq->txn);
		CID_TRY(rq->audit(rq->audit_arg, &ev, &range));
		if (rq->range != NULL)
			*rq->range = range;
	}
	for (size_t i = 0; i < n; i++) {
		if (!decisions[i].decision.permit)
			continue;
		CID_ENSURE(json_object_set(out, decisions[i].attribute,
					   json_object_get(claims, decisions[i].attribute)) == 0,
			   CID_ERR_NOMEM);
	}
out:
	facts_free(&facts);
	free(decisions);
	return rc;
}

/* True if a decision of a consent-basis purpose leaves the citizen something to decide. */
static bool askable(const struct cid_decision *d, bool prompt_consent)
{
	switch (d->reason) {
	case CID_REASON_NO_CONSENT:
	case CID_REASON_EXPIRED:
	case CID_REASON_POLICY_CHANGED: return true;
	case CID_REASON_PERMIT_CONSENT:
	case CID_REASON_REFUSED:
	case CID_REASON_WITHDRAWN: return prompt_consent;
	default: return false;
	}
}

/* Marks in wanted[] (indexed like the claim table) the base claims the citizen has and is asked. */
static void wanted_claims(const struct cid_release_request *rq, const struct cid_claim_def *table,
			  size_t n_table, bool *wanted)
{
	const json_t *claims = rq->citizen != NULL ? rq->citizen->claims : NULL;
	const char *name;
	json_t *value;

	json_object_foreach((json_t *)(uintptr_t)claims, name, value)
	{
		const struct cid_claim_def *def = cid_claim_lookup(name);

		if (def == NULL || json_is_null(value) || def < table || def >= table + n_table)
			continue;
		if (asked(rq, def, name, CID_RELEASE_ID_TOKEN) ||
		    asked(rq, def, name, CID_RELEASE_USERINFO))
			wanted[def - table] = true;
	}
}

/* Appends name to list (may be NULL) unless it is there. */
static enum cid_err add_once(json_t *list, const char *name)
{
	size_t i;
	const json_t *v;

	json_array_foreach(list, i, v)
	{
		if (strcmp(json_string_value(v), name) == 0)
			return CID_OK;
	}
	if (list == NULL)
		return CID_OK;
	return json_array_append_new(list, json_string(name)) == 0 ? CID_OK : CID_ERR_NOMEM;
}

enum cid_err cid_release_prompt(const struct cid_release_request *rq, bool prompt_consent,
				size_t max_ask, bool *step_up, json_t *step_up_attrs,
				json_t **ask_out, size_t *n_ask)
{
	enum cid_err rc = CID_OK;
	const struct cid_policy *pol = cid_policyset_find(rq->policies, rq->service);
	size_t n_purposes = cid_policy_purpose_count(pol);
	size_t n_table = 0;
	const struct cid_claim_def *table = cid_claim_table(&n_table);
	bool *wanted = calloc(n_table + 1, sizeof(*wanted));
	bool *by_statute = calloc(n_table + 1, sizeof(*by_statute));
	struct facts facts = {0};
	json_t *ask = json_array();
	struct cid_decision d;
	size_t asked_total = 0;

	*step_up = false;
	CID_ENSURE(wanted != NULL && by_statute != NULL && ask != NULL, CID_ERR_NOMEM);
	CID_TRY(facts_load(rq, pol, &facts));
	wanted_claims(rq, table, n_table, wanted);
	/*
	 * An attribute that any purpose denies explicitly is denied: never shown.
	 * One provided by law under some purpose at this level gets no checkbox,
	 * which would promise a choice the release does not honour. Neither answer
	 * depends on the facts, and a deny is found before the level is looked at.
	 */
	for (size_t j = 0; j < n_table; j++) {
		for (size_t i = 0; wanted[j] && i < n_purposes; i++) {
			struct cid_purpose_info pu;

			cid_policy_purpose(pol, i, &pu);
			cid_policy_eval(rq->policies, rq->service, pu.id, table[j].name, NULL, 0,
					rq->level, rq->now, &d);
			if (d.reason == CID_REASON_EXPLICIT_DENY)
				wanted[j] = false;
			else if (d.reason == CID_REASON_PERMIT_STATUTE)
				by_statute[j] = true;
		}
	}
	for (size_t i = 0; i < n_purposes; i++) {
		struct cid_purpose_info pu;
		json_t *attrs = json_array();
		json_t *info = json_array();
		json_t *entry = NULL;

		cid_policy_purpose(pol, i, &pu);
		if (attrs == NULL || info == NULL) {
			json_decref(attrs);
			json_decref(info);
			CID_ENSURE(false, CID_ERR_NOMEM);
		}
		for (size_t j = 0; j < n_table; j++) {
			static const struct cid_fact_list none = {NULL, 0};
			const struct cid_fact_list *f = i < facts.n ? &facts.lists[i] : &none;
			const char *a = table[j].name;
			bool ok = true;

			if (!wanted[j])
				continue;
			cid_policy_eval(rq->policies, rq->service, pu.id, a, f->facts, f->n,
					rq->level, rq->now, &d);
			if (d.reason == CID_REASON_LEVEL_TOO_LOW) {
				cid_policy_eval(rq->policies, rq->service, pu.id, a, f->facts, f->n,
						CID_LEVEL_MFA, rq->now, &d);
				if (d.permit || askable(&d, prompt_consent)) {
					*step_up = true;
					ok = add_once(step_up_attrs, a) == CID_OK;
				}
				if (!ok) {
					json_decref(attrs);
					json_decref(info);
					CID_ENSURE(false, CID_ERR_NOMEM);
				}
				continue;
			}
			if (d.reason == CID_REASON_PERMIT_STATUTE) {
				ok = json_array_append_new(info, json_string(a)) == 0;
			} else if (pu.basis == CID_BASIS_CONSENT && !by_statute[j] &&
				   askable(&d, prompt_consent) && asked_total < max_ask) {
				ok = json_array_append_new(attrs, json_string(a)) == 0;
				asked_total++;
			}
			if (!ok) {
				json_decref(attrs);
				json_decref(info);
				CID_ENSURE(false, CID_ERR_NOMEM);
			}
		}
		if (json_array_size(attrs) > 0 || json_array_size(info) > 0) {
			entry = json_pack(
			    "{s:s, s:s, s:s, s:s, s:I, s:o, s:o}", "purpose", pu.id, "basis",
			    pu.basis == CID_BASIS_STATUTE ? "statute" : "consent", "digest",
			    pu.digest, "version", cid_policy_version(pol), "consent_valid_days",
			    (json_int_t)pu.consent_valid_days, "ask", attrs, "info", info);
			CID_ENSURE(entry != NULL, CID_ERR_NOMEM);
			if (pu.statute != NULL &&
			    json_object_set_new(entry, "statute", json_string(pu.statute)) != 0) {
				json_decref(entry);
				CID_ENSURE(false, CID_ERR_NOMEM);
			}
			/* jansson releases entry itself if the append fails */
			CID_ENSURE(json_array_append_new(ask, entry) == 0, CID_ERR_NOMEM);
		} else {
			json_decref(attrs);
			json_decref(info);
		}
	}
	*ask_out = ask;
	*n_ask = asked_total;
	ask = NULL;
out:
	facts_free(&facts);
	json_decref(ask);
	free(wanted);
	free(by_statute);
	return rc;
}
