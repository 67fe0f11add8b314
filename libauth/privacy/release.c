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
#include "idp.h"
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
	if (acr != NULL && strcmp(acr, CID_ACR_HIGH) == 0)
		return CID_LEVEL_HIGH;
	return acr != NULL && strcmp(acr, CID_ACR_MFA) == 0 ? CID_LEVEL_MFA : CID_LEVEL_PASSWORD;
}

/* True if the object part names name or its base claim. */
static bool names(const json_t *part, const char *name, const char *base)
{
	return json_is_object(part) &&
	       (json_object_get(part, name) != NULL || json_object_get(part, base) != NULL);
}

/* How a service asks for a claim for a target; a later one asks for more. */
enum ask {
	ASK_NOT,
	ASK_VERIFIED, /* only in verified_claims: its verified value, nothing else */
	ASK_PLAIN,    /* by scope or at the top of the claims request: any value */
};

/*
 * How the claims request names name (or its base claim) for target: at the
 * top (ASK_PLAIN), else only in the claims of its verified_claims (OIDC4IDA
 * §6: an object or an array of them), which asks for a verified value
 * (ASK_VERIFIED); else ASK_NOT.
 */
static enum ask named(const json_t *claims_request, enum cid_release_target target,
		      const char *name, const char *base)
{
	const json_t *part;
	const json_t *vc;
	const json_t *one;
	size_t i;

	if (claims_request == NULL)
		return ASK_NOT;
	part = json_object_get(claims_request, cid_release_target_name(target));
	vc = json_object_get(part, "verified_claims");
	if (names(part, name, base))
		return ASK_PLAIN;
	if (names(json_object_get(vc, "claims"), name, base))
		return ASK_VERIFIED;
	json_array_foreach(vc, i, one)
	{
		if (names(json_object_get(one, "claims"), name, base))
			return ASK_VERIFIED;
	}
	return ASK_NOT;
}

/*
 * How the service asks for the claim name (definition def) for target: by a
 * granted scope, or by the claims parameter when the client may ask for the
 * claim's scope. The claims parameter is no way around the scopes a client
 * is registered for: a claim it names outside them is ignored, as OIDC Core
 * §5.5 has a request for a claim the OP will not release.
 */
static enum ask asked(const struct cid_release_request *rq, const struct cid_claim_def *def,
		      const char *name, enum cid_release_target target)
{
	const char *scope = rq->scope == NULL ? "" : rq->scope;
	const char *may = rq->client_scopes == NULL ? "" : rq->client_scopes;
	size_t n = strlen(def->scope);

	if (cid_words_has(scope, def->scope, n))
		return ASK_PLAIN;
	if (!cid_words_has(may, def->scope, n))
		return ASK_NOT;
	return named(rq->claims_request, target, name, def->name);
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

/*
 * The verified value a release uses for the claim name under decision d:
 * its provenance entry when a verified value is wanted (d's rule says
 * `verified`, or the service asked for the claim only in verified_claims)
 * and the citizen holds one (cid_account_verified_get); else NULL, and a
 * plain rule plainly asked releases the typed value, or an imported one as
 * a plain claim.
 * The one rule both the release and the consent screen's marks follow; the
 * screen names base attributes (base true), and a release of a base
 * attribute's rule takes its language-tagged forms too, so a tagged
 * verified value counts for the screen (cid_account_verified_get_base).
 */
static const json_t *verified_source(const struct cid_account *citizen, const char *name,
				     const struct cid_decision *d, enum ask how, bool base)
{
	if (!d->verified && how != ASK_VERIFIED)
		return NULL;
	return base ? cid_account_verified_get_base(citizen, name)
		    : cid_account_verified_get(citizen, name);
}

/*
 * Decides the claim name (a value of the citizen's, typed or imported) into
 * *d when the service asks for it; false when it does not. A rule asking for
 * a verified value, or a service asking for one (only in verified_claims),
 * takes only one an upstream verified (the one rule of `verified`): with
 * none, the decision is a deny, not_verified, and nothing leaves for it.
 */
static bool decide(const struct cid_release_request *rq, const struct cid_policy *pol,
		   const struct facts *facts, const char *name, const json_t *value,
		   enum cid_release_target target, struct cid_release_decision *d)
{
	const struct cid_claim_def *def = cid_claim_lookup(name);
	enum ask how = def == NULL ? ASK_NOT : asked(rq, def, name, target);
	size_t purpose;

	if (how == ASK_NOT || value == NULL || json_is_null(value))
		return false;
	d->attribute = name;
	cid_policy_eval_service(pol, name, facts->lists, rq->level, rq->now, &d->decision,
				&purpose);
	if (purpose != SIZE_MAX) {
		struct cid_purpose_info pu;

		cid_policy_purpose(pol, purpose, &pu);
		d->purpose = pu.id;
		d->purpose_digest = pu.digest;
	}
	if (d->decision.permit) {
		d->source = verified_source(rq->citizen, name, &d->decision, how, false);
		if ((d->decision.verified || how == ASK_VERIFIED) && d->source == NULL) {
			d->decision.permit = false;
			d->decision.reason = CID_REASON_NOT_VERIFIED;
		}
	}
	return true;
}

/*
 * Adds the verified value of d to out's "verified_claims": into the element
 * whose verification is its source's, or a new one (OIDC4IDA §5.1).
 */
static enum cid_err add_verified(json_t *out, const struct cid_release_decision *d)
{
	enum cid_err rc = CID_OK;
	json_t *vc = json_object_get(out, "verified_claims");
	json_t *verification =
	    json_pack("{s:O}", "trust_framework", json_object_get(d->source, "trust_framework"));
	json_t *element = NULL;
	json_t *evidence = NULL;
	json_t *one;
	size_t i;

	CID_ENSURE(verification != NULL, CID_ERR_NOMEM);
	if (json_object_get(d->source, "time") != NULL)
		CID_ENSURE(
		    json_object_set(verification, "time", json_object_get(d->source, "time")) == 0,
		    CID_ERR_NOMEM);
	/* in the spec's shape, whichever civicid stored it in (idp.h) */
	CID_TRY(cid_idp_evidence(json_object_get(d->source, "evidence"), &evidence));
	if (evidence != NULL)
		CID_ENSURE(json_object_set(verification, "evidence", evidence) == 0, CID_ERR_NOMEM);
	if (vc == NULL) {
		vc = json_array();
		CID_ENSURE(vc != NULL && json_object_set_new(out, "verified_claims", vc) == 0,
			   CID_ERR_NOMEM);
	}
	json_array_foreach(vc, i, one)
	{
		if (json_equal(json_object_get(one, "verification"), verification))
			element = one;
	}
	if (element == NULL) {
		element = json_pack("{s:O, s:{}}", "verification", verification, "claims");
		CID_ENSURE(element != NULL && json_array_append_new(vc, element) == 0,
			   CID_ERR_NOMEM);
	}
	CID_ENSURE(json_object_set(json_object_get(element, "claims"), d->attribute,
				   json_object_get(d->source, "value")) == 0,
		   CID_ERR_NOMEM);
out:
	json_decref(verification);
	json_decref(evidence);
	return rc;
}

enum cid_err cid_release_claims(const struct cid_release_request *rq,
				enum cid_release_target target, json_t *out)
{
	enum cid_err rc = CID_OK;
	const json_t *claims = rq->citizen != NULL ? rq->citizen->claims : NULL;
	const json_t *imported = rq->citizen != NULL ? rq->citizen->verified : NULL;
	const struct cid_policy *pol = cid_policyset_find(rq->policies, rq->service);
	struct cid_release_decision *decisions = NULL;
	struct facts facts = {0};
	size_t n = 0;
	size_t total = json_object_size(claims) + json_object_size(imported);
	const char *name;
	json_t *value;
	json_t *vc;

	if (rq->range != NULL)
		*rq->range = (struct cid_audit_range){0};
	if (total == 0)
		return CID_OK;
	decisions = calloc(total, sizeof(*decisions));
	CID_ENSURE(decisions != NULL, CID_ERR_NOMEM);
	CID_TRY(facts_load(rq, pol, &facts));
	/* jansson's foreach wants a non-const object; nothing here modifies it */
	json_object_foreach((json_t *)(uintptr_t)claims, name, value)
	{
		if (decide(rq, pol, &facts, name, value, target, &decisions[n]))
			n++;
	}
	/* an imported value the citizen has not typed is the citizen's value too */
	json_object_foreach((json_t *)(uintptr_t)imported, name, value)
	{
		if (json_object_get(claims, name) == NULL &&
		    decide(rq, pol, &facts, name, json_object_get(value, "value"), target,
			   &decisions[n]))
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
		const char *a = decisions[i].attribute;
		const json_t *v = json_object_get(claims, a);

		if (!decisions[i].decision.permit)
			continue;
		if (decisions[i].source != NULL) {
			CID_TRY(add_verified(out, &decisions[i]));
			continue;
		}
		if (v == NULL)
			v = json_object_get(json_object_get(imported, a), "value");
		CID_ENSURE(json_object_set(out, a, (json_t *)(uintptr_t)v) == 0, CID_ERR_NOMEM);
	}
	/* one verification: an object, as OIDC4IDA's examples show it */
	vc = json_object_get(out, "verified_claims");
	if (json_array_size(vc) == 1)
		CID_ENSURE(json_object_set(out, "verified_claims", json_array_get(vc, 0)) == 0,
			   CID_ERR_NOMEM);
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

/* The larger of a and b: how much is asked of one claim over its names and targets. */
static enum ask ask_max(enum ask a, enum ask b)
{
	return a > b ? a : b;
}

/* Marks in wanted[] how the base claim of name (a value the citizen has) is asked. */
static void want(const struct cid_release_request *rq, const struct cid_claim_def *table,
		 size_t n_table, const char *name, const json_t *value, enum ask *wanted)
{
	const struct cid_claim_def *def = cid_claim_lookup(name);
	enum ask *w;

	if (def == NULL || value == NULL || json_is_null(value) || def < table ||
	    def >= table + n_table)
		return;
	w = &wanted[def - table];
	*w = ask_max(*w, ask_max(asked(rq, def, name, CID_RELEASE_ID_TOKEN),
				 asked(rq, def, name, CID_RELEASE_USERINFO)));
}

/*
 * Marks in wanted[] (indexed like the claim table) how each base claim the
 * citizen has, typed or imported from an upstream, is asked.
 */
static void wanted_claims(const struct cid_release_request *rq, const struct cid_claim_def *table,
			  size_t n_table, enum ask *wanted)
{
	const json_t *claims = rq->citizen != NULL ? rq->citizen->claims : NULL;
	const json_t *imported = rq->citizen != NULL ? rq->citizen->verified : NULL;
	const char *name;
	json_t *value;

	json_object_foreach((json_t *)(uintptr_t)claims, name, value)
	    want(rq, table, n_table, name, value, wanted);
	json_object_foreach((json_t *)(uintptr_t)imported, name, value)
	    want(rq, table, n_table, name, json_object_get(value, "value"), wanted);
}

/*
 * Sets marks[name] to what the consent screen says of source (a provenance
 * entry, account.h), when there is one: {"issuer", "trust_framework"}.
 */
static enum cid_err mark(json_t *marks, const char *name, const json_t *source)
{
	json_t *m;

	if (source == NULL)
		return CID_OK;
	m = json_pack("{s:O, s:O}", "issuer", json_object_get(source, "issuer"), "trust_framework",
		      json_object_get(source, "trust_framework"));
	if (m == NULL)
		return CID_ERR_NOMEM;
	return json_object_set_new(marks, name, m) == 0 ? CID_OK : CID_ERR_NOMEM;
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

/* What every purpose of one prompt reads, and what the prompt gathers across them. */
struct prompt {
	const struct cid_release_request *rq;
	const struct cid_policy *pol;
	const struct facts *facts;
	const struct cid_claim_def *table;
	size_t n_table;
	const enum ask *wanted; /* by the claim table: the citizen has it and how it is asked */
	const bool *by_statute; /* provided by law under some purpose: no checkbox */
	bool prompt_consent;
	size_t max_ask;
	size_t asked_total; /* checkboxes so far, at most max_ask */
	bool *step_up;
	json_t *step_up_attrs; /* may be NULL */
};

/*
 * Appends to ask the description of purpose i of the prompt p, when it has
 * anything to show: {"purpose", "basis", "digest", "version",
 * "consent_valid_days", "ask" (the checkboxes, counted in p->asked_total up
 * to p->max_ask), "info" (provided by law), "statute"?, "verified"? (marks),
 * "unavailable"? (a verified value the citizen lacks)}. An attribute that
 * needs a higher level is not shown: it sets *p->step_up and joins
 * p->step_up_attrs when a stronger login would release or ask it.
 * Errors: CID_ERR_NOMEM.
 */
static enum cid_err prompt_purpose(struct prompt *p, size_t i, json_t *ask)
{
	static const struct cid_fact_list none = {NULL, 0};
	const struct cid_fact_list *f = i < p->facts->n ? &p->facts->lists[i] : &none;
	const struct cid_release_request *rq = p->rq;
	enum cid_err rc = CID_OK;
	struct cid_purpose_info pu;
	struct cid_decision d;
	json_t *attrs = json_array();
	json_t *info = json_array();
	json_t *unavailable = json_array();
	json_t *marks = json_object();
	json_t *entry = NULL;

	CID_ENSURE(attrs != NULL && info != NULL && unavailable != NULL && marks != NULL,
		   CID_ERR_NOMEM);
	cid_policy_purpose(p->pol, i, &pu);
	for (size_t j = 0; j < p->n_table; j++) {
		const char *a = p->table[j].name;
		const json_t *source;
		json_t *list;
		bool by_law;

		if (p->wanted[j] == ASK_NOT)
			continue;
		cid_policy_eval(rq->policies, rq->service, pu.id, a, f->facts, f->n, rq->level,
				rq->now, &d);
		if (d.reason == CID_REASON_LEVEL_TOO_LOW) {
			cid_policy_eval(rq->policies, rq->service, pu.id, a, f->facts, f->n,
					CID_LEVEL_MFA, rq->now, &d);
			if (d.permit || askable(&d, p->prompt_consent)) {
				*p->step_up = true;
				CID_TRY(add_once(p->step_up_attrs, a));
			}
			continue;
		}
		by_law = d.reason == CID_REASON_PERMIT_STATUTE;
		if (!by_law && (pu.basis != CID_BASIS_CONSENT || p->by_statute[j] ||
				!askable(&d, p->prompt_consent)))
			continue; /* not shown: no mark */
		source = verified_source(rq->citizen, a, &d, p->wanted[j], true);
		if ((d.verified || p->wanted[j] == ASK_VERIFIED) && source == NULL) {
			/* the release would deny it, not_verified: nothing to promise */
			list = unavailable;
		} else if (by_law) {
			list = info;
		} else if (p->asked_total < p->max_ask) {
			list = attrs;
			p->asked_total++;
		} else {
			continue;
		}
		CID_ENSURE(json_array_append_new(list, json_string(a)) == 0, CID_ERR_NOMEM);
		CID_TRY(mark(marks, a, source));
	}
	if (json_array_size(attrs) == 0 && json_array_size(info) == 0 &&
	    json_array_size(unavailable) == 0)
		goto out;
	entry = json_pack("{s:s, s:s, s:s, s:s, s:I, s:O, s:O}", "purpose", pu.id, "basis",
			  pu.basis == CID_BASIS_STATUTE ? "statute" : "consent", "digest",
			  pu.digest, "version", cid_policy_version(p->pol), "consent_valid_days",
			  (json_int_t)pu.consent_valid_days, "ask", attrs, "info", info);
	CID_ENSURE(entry != NULL, CID_ERR_NOMEM);
	if (pu.statute != NULL)
		CID_ENSURE(json_object_set_new(entry, "statute", json_string(pu.statute)) == 0,
			   CID_ERR_NOMEM);
	if (json_object_size(marks) > 0)
		CID_ENSURE(json_object_set(entry, "verified", marks) == 0, CID_ERR_NOMEM);
	if (json_array_size(unavailable) > 0)
		CID_ENSURE(json_object_set(entry, "unavailable", unavailable) == 0, CID_ERR_NOMEM);
	CID_ENSURE(json_array_append(ask, entry) == 0, CID_ERR_NOMEM);
out:
	json_decref(attrs);
	json_decref(info);
	json_decref(unavailable);
	json_decref(marks);
	json_decref(entry);
	return rc;
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
	enum ask *wanted = calloc(n_table + 1, sizeof(*wanted));
	bool *by_statute = calloc(n_table + 1, sizeof(*by_statute));
	struct facts facts = {0};
	json_t *ask = json_array();
	struct cid_decision d;
	struct prompt p = {
	    .rq = rq,
	    .pol = pol,
	    .facts = &facts,
	    .table = table,
	    .n_table = n_table,
	    .wanted = wanted,
	    .by_statute = by_statute,
	    .prompt_consent = prompt_consent,
	    .max_ask = max_ask,
	    .step_up = step_up,
	    .step_up_attrs = step_up_attrs,
	};

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
		for (size_t i = 0; wanted[j] != ASK_NOT && i < n_purposes; i++) {
			struct cid_purpose_info pu;

			cid_policy_purpose(pol, i, &pu);
			cid_policy_eval(rq->policies, rq->service, pu.id, table[j].name, NULL, 0,
					rq->level, rq->now, &d);
			if (d.reason == CID_REASON_EXPLICIT_DENY)
				wanted[j] = ASK_NOT;
			else if (d.reason == CID_REASON_PERMIT_STATUTE)
				by_statute[j] = true;
		}
	}
	for (size_t i = 0; i < n_purposes; i++)
		CID_TRY(prompt_purpose(&p, i, ask));
	*ask_out = ask;
	*n_ask = p.asked_total;
	ask = NULL;
out:
	facts_free(&facts);
	json_decref(ask);
	free(wanted);
	free(by_statute);
	return rc;
}
