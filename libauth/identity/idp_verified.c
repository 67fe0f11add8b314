/*
 * idp_verified: what an upstream's ID token vouches for, as provenance
 * entries of account_verified.c (issue 15).
 *
 * Two sources, both through the registration's claim map (an upstream
 * claim the map does not name is never imported): the token's
 * verified_claims (OpenID Connect for Identity Assurance 1.0 §5: an object
 * or an array of {verification: {trust_framework, time?, evidence?},
 * claims: {...}}), and its plain claims. A plain claim is verified only
 * when the registration names the trust framework the upstream works
 * under; otherwise its source is kept without one (not a verified value).
 * A verified_claims value wins over a plain one. Every value passes the
 * claim table's check, every string is bounded: the upstream's word is
 * recorded, never trusted to be well-formed. cid_idp_assurance sums up,
 * for the discovery document, the trust frameworks the registrations name
 * and the claims their maps bring under them.
 */
#include "account.h"
#include "idp.h"
#include "idp_int.h"
#include "str.h"

#include <stdlib.h>
#include <string.h>

#define MAX_VERIFIED 8	/* verified_claims elements read */
#define MAX_EVIDENCE 4	/* evidence items kept per element */
#define MAX_CHECKS   4	/* check_details kept per evidence item */
#define MAX_TEXT     64 /* a verification time or an evidence member */

/* s if it is a string of 1 to max printable ASCII bytes, else NULL. */
static const char *short_text(const json_t *v, size_t max)
{
	const char *s = json_string_value(v);
	size_t n = s == NULL ? 0 : json_string_length(v);

	if (n == 0 || n > max)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return NULL;
	}
	return s;
}

/* Sets o[name] to the string s unless s is NULL. */
static bool set_text(json_t *o, const char *name, const char *s)
{
	return s == NULL || json_object_set_new(o, name, json_string(s)) == 0;
}

/*
 * Copies into o, as "check_details", the first MAX_CHECKS checks of checks
 * that name a check_method, with their organization, txn and time where
 * given (OIDC4IDA 1.0 §5.1.1.1); else, from legacy (the check_method of a
 * summary stored before, flat), one check. Nothing when none is usable.
 */
static bool set_checks(json_t *o, const json_t *checks, const json_t *legacy)
{
	json_t *list = json_array();
	size_t i;
	const json_t *c;
	bool ok = list != NULL;

	json_array_foreach(checks, i, c)
	{
		const char *method = short_text(json_object_get(c, "check_method"), MAX_TEXT);
		json_t *one;

		if (!ok || json_array_size(list) >= MAX_CHECKS)
			break;
		/* one without a method takes no place: the first usable ones are kept */
		if (method == NULL)
			continue;
		one = json_pack("{s:s}", "check_method", method);
		ok = one != NULL &&
		     set_text(one, "organization",
			      short_text(json_object_get(c, "organization"), MAX_TEXT)) &&
		     set_text(one, "txn", short_text(json_object_get(c, "txn"), MAX_TEXT)) &&
		     set_text(one, "time", short_text(json_object_get(c, "time"), MAX_TEXT));
		if (!ok)
			json_decref(one);
		else
			ok = json_array_append_new(list, one) == 0;
	}
	if (ok && json_array_size(list) == 0 && short_text(legacy, MAX_TEXT) != NULL)
		ok = json_array_append_new(list, json_pack("{s:O}", "check_method", legacy)) == 0;
	if (ok && json_array_size(list) > 0)
		ok = json_object_set(o, "check_details", list) == 0;
	json_decref(list);
	return ok;
}

/*
 * Sets o[name] to {"type": t} where t is part's type, else legacy (a flat
 * summary's document_type or record_type), unless neither is usable text.
 */
static bool set_typed(json_t *o, const char *name, const json_t *part, const json_t *legacy)
{
	const char *t = short_text(json_object_get(part, "type"), MAX_TEXT);

	if (t == NULL)
		t = short_text(legacy, MAX_TEXT);
	return t == NULL || json_object_set_new(o, name, json_pack("{s:s}", "type", t)) == 0;
}

/*
 * One evidence item in OIDC4IDA 1.0's shape (§5.1.1), reduced to what
 * civicid keeps: type (document, electronic_record, vouch or
 * electronic_signature), check_details, time, and the document's
 * document_details.type, the record's record.type, the vouch's
 * attestation.type, or the signature's signature_type, issuer,
 * serial_number (all three required) and created_at. ev is an upstream's
 * item or one civicid stored, in this shape or the flat summary of
 * before ({"type","check_method"?,"document_type"?,"record_type"?}), so
 * the one function reads both. NULL when ev is not usable; *nomem on
 * allocation failure.
 */
static json_t *evidence_item(const json_t *ev, bool *nomem)
{
	const char *type = short_text(json_object_get(ev, "type"), MAX_TEXT);
	json_t *item;
	bool ok;

	if (type == NULL)
		return NULL;
	if (strcmp(type, "electronic_signature") == 0) {
		const char *st = short_text(json_object_get(ev, "signature_type"), MAX_TEXT);
		const char *by = short_text(json_object_get(ev, "issuer"), MAX_TEXT);
		const char *serial = short_text(json_object_get(ev, "serial_number"), MAX_TEXT);

		if (st == NULL || by == NULL || serial == NULL)
			return NULL;
		item = json_pack("{s:s, s:s, s:s, s:s}", "type", type, "signature_type", st,
				 "issuer", by, "serial_number", serial);
		ok = item != NULL &&
		     set_text(item, "created_at",
			      short_text(json_object_get(ev, "created_at"), MAX_TEXT));
	} else if (strcmp(type, "document") == 0 || strcmp(type, "electronic_record") == 0 ||
		   strcmp(type, "vouch") == 0) {
		item = json_pack("{s:s}", "type", type);
		ok = item != NULL &&
		     set_checks(item, json_object_get(ev, "check_details"),
				json_object_get(ev, "check_method")) &&
		     set_text(item, "time", short_text(json_object_get(ev, "time"), MAX_TEXT));
		if (ok && strcmp(type, "document") == 0)
			ok = set_typed(item, "document_details",
				       json_object_get(ev, "document_details"),
				       json_object_get(ev, "document_type"));
		else if (ok && strcmp(type, "electronic_record") == 0)
			ok = set_typed(item, "record", json_object_get(ev, "record"),
				       json_object_get(ev, "record_type"));
		else if (ok)
			ok = set_typed(item, "attestation", json_object_get(ev, "attestation"),
				       NULL);
	} else {
		return NULL; /* no type of the spec's: an RP could not read it */
	}
	if (!ok) {
		json_decref(item);
		*nomem = true;
		return NULL;
	}
	return item;
}

enum cid_err cid_idp_evidence(const json_t *evidence, json_t **out)
{
	json_t *list = json_array();
	size_t i;
	const json_t *ev;
	bool nomem = list == NULL;

	*out = NULL;
	json_array_foreach(evidence, i, ev)
	{
		json_t *item;

		if (nomem || i >= MAX_EVIDENCE)
			break;
		item = evidence_item(ev, &nomem);
		if (item != NULL && json_array_append_new(list, item) != 0)
			nomem = true;
	}
	if (nomem) {
		json_decref(list);
		return CID_ERR_NOMEM;
	}
	if (json_array_size(list) == 0)
		json_decref(list);
	else
		*out = list;
	return CID_OK;
}

/*
 * Adds to out, for each claim of claims the claim map names and whose value
 * passes the claim table, its entry: the value, the upstream, now, and the
 * verification's members (trust_framework may be NULL: imported, not verified).
 */
static enum cid_err add_entries(const struct cid_idp *idp, const json_t *claims,
				const char *trust_framework, const char *time,
				const json_t *evidence, int64_t now, json_t *out)
{
	enum cid_err rc = CID_OK;
	const char *from;
	const json_t *to;
	json_t *e = NULL;

	json_object_foreach((json_t *)(uintptr_t)idp->claim_map, from, to)
	{
		const char *local = json_string_value(to);
		json_t *v = json_object_get(claims, from);

		if (local == NULL || v == NULL || cid_claim_check(local, v) != CID_OK)
			continue;
		e = json_pack("{s:O, s:s, s:I}", "value", v, "issuer", idp->issuer, "imported_at",
			      (json_int_t)now);
		CID_ENSURE(
		    e != NULL && set_text(e, "trust_framework", trust_framework) &&
			set_text(e, "time", time) &&
			(evidence == NULL ||
			 json_object_set(e, "evidence", (json_t *)(uintptr_t)evidence) == 0) &&
			json_object_set(out, local, e) == 0,
		    CID_ERR_NOMEM);
		json_decref(e);
		e = NULL;
	}
out:
	json_decref(e);
	return rc;
}

/*
 * The entries of one verified_claims element: only under the trust
 * framework the registration names. An upstream vouches under the
 * framework the operator registered it for, not under any it names: else
 * a neighbour city's or a test provider's token could mint values "verified
 * by My Number Card". Others (and one with no framework) are skipped.
 */
static enum cid_err add_verified(const struct cid_idp *idp, const json_t *vc, int64_t now,
				 json_t *out)
{
	const json_t *verification = json_object_get(vc, "verification");
	const char *tf =
	    short_text(json_object_get(verification, "trust_framework"), CID_IDP_MAX_ACR);
	json_t *evidence = NULL;
	enum cid_err rc;

	if (tf == NULL || strcmp(tf, idp->trust_framework) != 0 ||
	    !json_is_object(json_object_get(vc, "claims")))
		return CID_OK;
	rc = cid_idp_evidence(json_object_get(verification, "evidence"), &evidence);
	if (rc != CID_OK)
		return rc;
	rc = add_entries(idp, json_object_get(vc, "claims"), tf,
			 short_text(json_object_get(verification, "time"), MAX_TEXT), evidence, now,
			 out);
	json_decref(evidence);
	return rc;
}

enum cid_err cid_idp_verified_claims(const struct cid_idp *idp, const json_t *upstream, int64_t now,
				     json_t **out)
{
	enum cid_err rc = CID_OK;
	json_t *entries = json_object();
	const json_t *vc = json_object_get(upstream, "verified_claims");
	size_t i;
	const json_t *one;

	CID_ENSURE(entries != NULL, CID_ERR_NOMEM);
	CID_TRY(add_entries(idp, upstream,
			    idp->trust_framework[0] != '\0' ? idp->trust_framework : NULL, NULL,
			    NULL, now, entries));
	/* a verified value wins over a plain one: added after, over it */
	if (json_is_object(vc))
		CID_TRY(add_verified(idp, vc, now, entries));
	json_array_foreach(vc, i, one)
	{
		if (i >= MAX_VERIFIED)
			break;
		CID_TRY(add_verified(idp, one, now, entries));
	}
	*out = entries;
	entries = NULL;
out:
	json_decref(entries);
	return rc;
}

static int by_text(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of set (its values unused), as a sorted array of strings into *out. */
static enum cid_err sorted_keys(const json_t *set, json_t **out)
{
	enum cid_err rc = CID_OK;
	size_t n = json_object_size(set);
	const char **keys = calloc(n + 1, sizeof(*keys));
	json_t *list = json_array();
	size_t i = 0;
	const char *k;
	const json_t *v;

	CID_ENSURE(keys != NULL && list != NULL, CID_ERR_NOMEM);
	json_object_foreach((json_t *)(uintptr_t)set, k, v) keys[i++] = k;
	qsort(keys, n, sizeof(*keys), by_text);
	for (i = 0; i < n; i++)
		CID_ENSURE(json_array_append_new(list, json_string(keys[i])) == 0, CID_ERR_NOMEM);
	*out = list;
	list = NULL;
out:
	free(keys);
	json_decref(list);
	return rc;
}

/* The sets cid_idp_assurance gathers: their keys are its answer. */
struct assurance {
	json_t *frameworks;
	json_t *claims;
};

/* Adds view's trust framework, and the local claims its claim map imports, when it names one. */
static enum cid_err assurance_one(const json_t *view, void *arg)
{
	const struct assurance *a = arg;
	const char *tf = cid_json_str(view, "trust_framework");
	const char *from;
	const json_t *to;

	if (tf == NULL)
		return CID_OK;
	if (json_object_set_new(a->frameworks, tf, json_true()) != 0)
		return CID_ERR_NOMEM;
	json_object_foreach(json_object_get(view, "claim_map"), from, to)
	{
		if (json_is_string(to) &&
		    json_object_set_new(a->claims, json_string_value(to), json_true()) != 0)
			return CID_ERR_NOMEM;
	}
	return CID_OK;
}

enum cid_err cid_idp_assurance(struct cid_store *s, json_t **frameworks, json_t **claims)
{
	enum cid_err rc = CID_OK;
	struct assurance sets = {json_object(), json_object()};
	json_t *tf_list = NULL;
	json_t *claim_list = NULL;

	CID_ENSURE(sets.frameworks != NULL && sets.claims != NULL, CID_ERR_NOMEM);
	CID_TRY(idp_foreach_public(s, assurance_one, &sets));
	CID_TRY(sorted_keys(sets.frameworks, &tf_list));
	CID_TRY(sorted_keys(sets.claims, &claim_list));
	*frameworks = tf_list;
	*claims = claim_list;
	tf_list = NULL;
	claim_list = NULL;
out:
	json_decref(sets.frameworks);
	json_decref(sets.claims);
	json_decref(tf_list);
	json_decref(claim_list);
	return rc;
}
