/*
 * policy: the evaluator, the hot path of every release.
 *
 * A compiled policyset is one open-addressing table (FNV-1a, linear probing,
 * at most half full) holding every (service), (service, purpose) and
 * (service, purpose, attribute), so a decision hashes its strings once and
 * usually ends at the first probe. Nothing here allocates, writes to the set
 * or keeps state between calls, and the set never changes after load, so any
 * number of threads may evaluate at once. A deny and a permit of one
 * attribute share a slot that holds the deny (policy_load.c puts it there):
 * deny wins by construction, not by evaluation order. Deny is also the
 * default: a path that finds nothing leaves out->permit false.
 *
 * The rest of the module: policy_parse.c (text into rules), policy_load.c
 * (files into a compiled set), policy_describe.c (a policy as people read it).
 */
#include "policy_int.h"

#include "account.h"
#include "str.h"

#include <stdint.h>
#include <string.h>

/* ---- the lookup table ---- */

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME  0x100000001b3ULL

static uint64_t fnv(uint64_t h, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * FNV_PRIME;
	return h;
}

/* Hashes the parts cls uses, each followed by a NUL, so no two keys run together. */
void policy_key_hash(struct key *k)
{
	uint64_t h = fnv(FNV_OFFSET, (const char[]){(char)k->cls}, 1);

	h = fnv(h, k->service.ptr, k->service.len);
	if (k->cls != SLOT_SERVICE) {
		h = fnv(h, "", 1);
		h = fnv(h, k->purpose.ptr, k->purpose.len);
	}
	if (k->cls == SLOT_ATTRIBUTE) {
		h = fnv(h, "", 1);
		h = fnv(h, k->attribute.ptr, k->attribute.len);
	}
	k->hash = h ^ (h >> 32); /* the mask keeps low bits: fold the high ones in */
}

static bool part_eq(struct cid_str a, struct cid_str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* The slot holding k, or the empty slot where it would go (the table is never full). */
size_t policy_slot_probe(const struct cid_policyset *ps, const struct key *k)
{
	for (size_t i = k->hash & ps->mask;; i = (i + 1) & ps->mask) {
		const struct key *s = &ps->slots[i].key;

		if (s->cls == SLOT_EMPTY)
			return i;
		if (s->hash == k->hash && s->cls == k->cls && part_eq(s->service, k->service) &&
		    (k->cls == SLOT_SERVICE || part_eq(s->purpose, k->purpose)) &&
		    (k->cls != SLOT_ATTRIBUTE || part_eq(s->attribute, k->attribute)))
			return i;
	}
}

static const struct slot *slot_find(const struct cid_policyset *ps, struct key *k)
{
	policy_key_hash(k);
	const struct slot *s = &ps->slots[policy_slot_probe(ps, k)];
	return s->key.cls == SLOT_EMPTY ? NULL : s;
}

bool policy_denied(const struct cid_policyset *ps, const struct purpose *pu, const char *attribute)
{
	for (size_t i = pu->first_rule; i < pu->first_rule + pu->n_rules; i++)
		if (ps->rules[i].kind == RULE_DENY &&
		    strcmp(ps->rules[i].attribute, attribute) == 0)
			return true;
	return false;
}

/* ---- evaluation ---- */

const char *cid_reason_name(enum cid_reason r)
{
	static const char *const names[CID_REASON_COUNT] = {
	    [CID_REASON_PERMIT_CONSENT] = "permit_consent",
	    [CID_REASON_PERMIT_STATUTE] = "permit_statute",
	    [CID_REASON_UNKNOWN_SERVICE] = "unknown_service",
	    [CID_REASON_UNKNOWN_PURPOSE] = "unknown_purpose",
	    [CID_REASON_NOT_IN_POLICY] = "not_in_policy",
	    [CID_REASON_EXPLICIT_DENY] = "explicit_deny",
	    [CID_REASON_NO_CONSENT] = "no_consent",
	    [CID_REASON_REFUSED] = "refused",
	    [CID_REASON_WITHDRAWN] = "withdrawn",
	    [CID_REASON_EXPIRED] = "expired",
	    [CID_REASON_POLICY_CHANGED] = "policy_changed",
	    [CID_REASON_LEVEL_TOO_LOW] = "level_too_low",
	    [CID_REASON_NOT_VERIFIED] = "not_verified",
	};

	if ((unsigned)r >= CID_REASON_COUNT || names[r] == NULL)
		return "unknown";
	return names[r];
}

/* The fact naming attribute exactly, else the first with its base name (base bytes). */
static const struct cid_consent_fact *fact_find(const struct cid_consent_fact *facts, size_t n,
						const char *attribute, size_t base)
{
	const struct cid_consent_fact *by_base = NULL;

	for (size_t i = 0; facts != NULL && i < n; i++) {
		const char *a = facts[i].attribute;

		if (a == NULL || strncmp(a, attribute, base) != 0 ||
		    (a[base] != '\0' && a[base] != '#'))
			continue;
		if (strcmp(a, attribute) == 0)
			return &facts[i];
		if (by_base == NULL)
			by_base = &facts[i];
	}
	return by_base;
}

static void purpose_facts(const struct cid_policyset *ps, const struct purpose *pu,
			  struct cid_decision *out)
{
	out->basis = pu->basis;
	out->statute = pu->statute;
	out->policy_version = ps->policies[pu->policy].version;
}

/*
 * Decides attribute by the rule of slot s (an attribute slot, NULL: the
 * purpose pu lists no rule for it). base is the length of its base name.
 */
static void decide(const struct cid_policyset *ps, const struct purpose *pu, const struct slot *s,
		   const char *attribute, size_t base, const struct cid_consent_fact *facts,
		   size_t n_facts, int level, int64_t now, struct cid_decision *out)
{
	purpose_facts(ps, pu, out);
	if (s == NULL) {
		out->reason = CID_REASON_NOT_IN_POLICY;
		return;
	}
	const struct rule *r = &ps->rules[s->rule];
	/* a tagged name is the base claim's only if the tag is well-formed for it */
	if (attribute[base] == '#' && cid_claim_lookup(attribute) == NULL) {
		out->reason = CID_REASON_NOT_IN_POLICY;
		return;
	}
	out->rule = r->where;
	if (r->kind == RULE_DENY) {
		out->reason = CID_REASON_EXPLICIT_DENY;
		return;
	}
	out->min_level = r->level;
	out->verified = r->verified;
	if (level < r->level) {
		out->reason = CID_REASON_LEVEL_TOO_LOW;
		return;
	}
	if (pu->basis == CID_BASIS_STATUTE) {
		out->permit = true;
		out->reason = CID_REASON_PERMIT_STATUTE;
		return;
	}
	const struct cid_consent_fact *f = fact_find(facts, n_facts, attribute, base);
	if (f == NULL) {
		out->reason = CID_REASON_NO_CONSENT;
		return;
	}
	out->consent_id = f->record_id;
	switch (cid_consent_state_at(f->state, f->expires_at, now)) {
	case CID_CONSENT_GRANTED: break;
	case CID_CONSENT_REFUSED: out->reason = CID_REASON_REFUSED; return;
	case CID_CONSENT_WITHDRAWN: out->reason = CID_REASON_WITHDRAWN; return;
	case CID_CONSENT_EXPIRED: out->reason = CID_REASON_EXPIRED; return;
	default: out->reason = CID_REASON_NO_CONSENT; return;
	}
	if (f->purpose_digest == NULL || strcmp(f->purpose_digest, pu->digest) != 0) {
		out->reason = CID_REASON_POLICY_CHANGED;
		return;
	}
	out->permit = true;
	out->reason = CID_REASON_PERMIT_CONSENT;
}

void cid_policy_eval(const struct cid_policyset *ps, const char *service, const char *purpose,
		     const char *attribute, const struct cid_consent_fact *facts, size_t n_facts,
		     int level, int64_t now, struct cid_decision *out)
{
	struct key k = {
	    .cls = SLOT_ATTRIBUTE, .service = cid_str_of(service), .purpose = cid_str_of(purpose)};
	const struct slot *s = NULL;

	*out = (struct cid_decision){.permit = false, .reason = CID_REASON_UNKNOWN_SERVICE};
	if (ps == NULL || ps->slots == NULL || service == NULL)
		return;
	if (purpose != NULL && attribute != NULL) {
		k.attribute = (struct cid_str){attribute, strcspn(attribute, "#")};
		s = slot_find(ps, &k);
	}
	if (s != NULL) {
		decide(ps, &ps->purposes[s->index], s, attribute, k.attribute.len, facts, n_facts,
		       level, now, out);
		return;
	}
	k.cls = SLOT_PURPOSE;
	s = purpose == NULL ? NULL : slot_find(ps, &k);
	if (s != NULL) {
		decide(ps, &ps->purposes[s->index], NULL, attribute, 0, NULL, 0, level, now, out);
		return;
	}
	k.cls = SLOT_SERVICE;
	s = slot_find(ps, &k);
	if (s != NULL) {
		out->policy_version = ps->policies[s->index].version;
		out->reason = CID_REASON_UNKNOWN_PURPOSE;
	}
}

/* ---- the policy of a service, and its purposes ---- */

static const struct cid_policy *policy_find(const struct cid_policyset *ps, const char *service)
{
	struct key k = {.cls = SLOT_SERVICE, .service = cid_str_of(service)};
	const struct slot *s;

	if (ps == NULL || ps->slots == NULL || service == NULL)
		return NULL;
	s = slot_find(ps, &k);
	return s == NULL ? NULL : &ps->policies[s->index];
}

size_t cid_policyset_count(const struct cid_policyset *ps)
{
	return ps == NULL ? 0 : ps->n_policies;
}

const char *cid_policyset_service(const struct cid_policyset *ps, size_t i)
{
	return ps == NULL || i >= ps->n_policies ? NULL : ps->policies[i].service;
}

const char *cid_policyset_version(const struct cid_policyset *ps, const char *service)
{
	const struct cid_policy *pol = policy_find(ps, service);

	return pol == NULL ? NULL : pol->version;
}

const struct cid_policy *cid_policyset_find(const struct cid_policyset *ps, const char *service)
{
	return policy_find(ps, service);
}

const char *cid_policy_service(const struct cid_policy *pol)
{
	return pol->service;
}

const char *cid_policy_version(const struct cid_policy *pol)
{
	return pol->version;
}

const char *cid_policy_text(const struct cid_policy *pol, size_t *len)
{
	*len = pol->text_len;
	return pol->text;
}

const char *cid_policy_file(const struct cid_policy *pol)
{
	return pol->file;
}

bool cid_policy_public_subject(const struct cid_policy *pol)
{
	return pol->public_subject;
}

size_t cid_policy_purpose_count(const struct cid_policy *pol)
{
	return pol == NULL ? 0 : pol->n_purposes;
}

bool cid_policy_purpose_find(const struct cid_policy *pol, const char *id,
			     struct cid_purpose_info *out)
{
	for (size_t i = 0; id != NULL && i < cid_policy_purpose_count(pol); i++) {
		if (strcmp(pol->set->purposes[pol->first_purpose + i].id, id) == 0) {
			cid_policy_purpose(pol, i, out);
			return true;
		}
	}
	return false;
}

/* The Kantara Consent Receipt purpose categories, as receipts name them. */
static const char *const categories[CID_POLICY_CATEGORIES] = {
    "1 - Core Function",
    "2 - Contracted Service",
    "3 - Delivery",
    "4 - Contact Requested",
    "5 - Personalized Experience",
    "6 - Marketing",
    "7 - Marketing Third Parties",
    "8 - Sharing for Delivery",
    "9 - Sharing for Marketing",
    "10 - 3rd Party Sharing for Core Function",
    "11 - 3rd Party Sharing for ...",
    "12 - Legally Required Data Retention",
    "13 - Required by Law Enforcement or Government",
    "14 - Protecting Your Health",
    "15 - Protecting Our Interests",
    "16 - Improve Performance",
};

const char *cid_policy_category_name(unsigned n)
{
	if (n < 1 || n > CID_POLICY_CATEGORIES)
		n = CID_POLICY_DEFAULT_CATEGORY;
	return categories[n - 1];
}

void cid_policy_purpose(const struct cid_policy *pol, size_t i, struct cid_purpose_info *out)
{
	const struct purpose *pu = &pol->set->purposes[pol->first_purpose + i];

	*out = (struct cid_purpose_info){
	    .id = pu->id,
	    .text_ja = pu->text_ja,
	    .text_en = pu->text_en,
	    .basis = pu->basis,
	    .statute = pu->statute,
	    .retention_days = pu->retention_days,
	    .consent_valid_days = pu->basis == CID_BASIS_STATUTE ? 0 : pu->consent_valid_days,
	    .digest = pu->digest,
	    .category = cid_policy_category_name(pu->category),
	};
}

void cid_policy_eval_service(const struct cid_policy *pol, const char *attribute,
			     const struct cid_fact_list *facts, int level, int64_t now,
			     struct cid_decision *out, size_t *purpose_out)
{
	size_t permit = SIZE_MAX, open = SIZE_MAX;
	struct cid_decision d, permit_d = {0}, open_d = {0}, first_d = {0};

	*out = (struct cid_decision){.permit = false, .reason = CID_REASON_UNKNOWN_SERVICE};
	*purpose_out = SIZE_MAX;
	if (pol == NULL)
		return;
	if (pol->n_purposes == 0) {
		out->policy_version = pol->version;
		out->reason = CID_REASON_UNKNOWN_PURPOSE;
		return;
	}
	for (size_t i = 0; i < pol->n_purposes; i++) {
		const struct purpose *pu = &pol->set->purposes[pol->first_purpose + i];
		const struct cid_fact_list *f = facts == NULL ? NULL : &facts[i];
		/* the purpose is known: a miss is not_in_policy, with no fallback probes */
		struct key k = {
		    .cls = SLOT_ATTRIBUTE,
		    .service = cid_str_of(pol->service),
		    .purpose = cid_str_of(pu->id),
		    .attribute = {attribute, attribute == NULL ? 0 : strcspn(attribute, "#")}};
		const struct slot *s = attribute == NULL ? NULL : slot_find(pol->set, &k);

		d = (struct cid_decision){.permit = false};
		decide(pol->set, pu, s, attribute, k.attribute.len, f == NULL ? NULL : f->facts,
		       f == NULL ? 0 : f->n, level, now, &d);
		if (d.reason == CID_REASON_EXPLICIT_DENY) {
			*out = d;
			*purpose_out = i;
			return;
		}
		if (i == 0)
			first_d = d;
		if (d.permit && permit == SIZE_MAX) {
			permit = i;
			permit_d = d;
		} else if (!d.permit && d.reason != CID_REASON_NOT_IN_POLICY && open == SIZE_MAX) {
			open = i;
			open_d = d;
		}
	}
	if (permit != SIZE_MAX) {
		*out = permit_d;
		*purpose_out = permit;
	} else if (open != SIZE_MAX) {
		*out = open_d;
		*purpose_out = open;
	} else {
		*out = first_d;
		*purpose_out = 0;
	}
}
