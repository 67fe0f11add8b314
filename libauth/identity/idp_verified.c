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
#include "str.h"

#include <stdlib.h>
#include <string.h>

#define MAX_VERIFIED 8	/* verified_claims elements read */
#define MAX_EVIDENCE 4	/* evidence items summarised per element */
#define MAX_TEXT     64 /* a verification time or an evidence type */

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
 * The evidence summary of a verification: for each of its first
 * MAX_EVIDENCE items, {"type"} and, where given, the check method
 * (check_details[0].check_method) and the document or record type. NULL
 * (absent) when there is none; *nomem on allocation failure.
 */
static json_t *evidence_summary(const json_t *evidence, bool *nomem)
{
	json_t *out = json_array();
	size_t i;
	const json_t *ev;

	if (out == NULL) {
		*nomem = true;
		return NULL;
	}
	json_array_foreach(evidence, i, ev)
	{
		const json_t *check = json_array_get(json_object_get(ev, "check_details"), 0);
		const char *type = short_text(json_object_get(ev, "type"), MAX_TEXT);
		json_t *item;

		if (i >= MAX_EVIDENCE || type == NULL)
			continue;
		item = json_pack("{s:s}", "type", type);
		if (item == NULL ||
		    !set_text(item, "check_method",
			      short_text(json_object_get(check, "check_method"), MAX_TEXT)) ||
		    !set_text(
			item, "document_type",
			short_text(json_object_get(json_object_get(ev, "document_details"), "type"),
				   MAX_TEXT)) ||
		    !set_text(item, "record_type",
			      short_text(json_object_get(json_object_get(ev, "record"), "type"),
					 MAX_TEXT)) ||
		    json_array_append_new(out, item) != 0) {
			*nomem = true;
			break;
		}
	}
	if (*nomem || json_array_size(out) == 0) {
		json_decref(out);
		return NULL;
	}
	return out;
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

/* The entries of one verified_claims element (skipped without a usable trust framework). */
static enum cid_err add_verified(const struct cid_idp *idp, const json_t *vc, int64_t now,
				 json_t *out)
{
	const json_t *verification = json_object_get(vc, "verification");
	const char *tf =
	    short_text(json_object_get(verification, "trust_framework"), CID_IDP_MAX_ACR);
	bool nomem = false;
	json_t *evidence;
	enum cid_err rc;

	if (tf == NULL || !json_is_object(json_object_get(vc, "claims")))
		return CID_OK;
	evidence = evidence_summary(json_object_get(verification, "evidence"), &nomem);
	if (nomem)
		return CID_ERR_NOMEM;
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

enum cid_err cid_idp_assurance(struct cid_store *s, json_t **frameworks, json_t **claims)
{
	enum cid_err rc = CID_OK;
	json_t *all = NULL;
	json_t *tf_set = json_object();
	json_t *claim_set = json_object();
	json_t *tf_list = NULL;
	json_t *claim_list = NULL;
	size_t i;
	const json_t *rec;

	CID_ENSURE(tf_set != NULL && claim_set != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_idp_list(s, &all));
	json_array_foreach(all, i, rec)
	{
		const char *tf = cid_json_str(rec, "trust_framework");
		const char *from;
		const json_t *to;

		if (tf == NULL)
			continue;
		CID_ENSURE(json_object_set_new(tf_set, tf, json_true()) == 0, CID_ERR_NOMEM);
		json_object_foreach(json_object_get(rec, "claim_map"), from, to)
		{
			if (json_is_string(to))
				CID_ENSURE(json_object_set_new(claim_set, json_string_value(to),
							       json_true()) == 0,
					   CID_ERR_NOMEM);
		}
	}
	CID_TRY(sorted_keys(tf_set, &tf_list));
	CID_TRY(sorted_keys(claim_set, &claim_list));
	*frameworks = tf_list;
	*claims = claim_list;
	tf_list = NULL;
	claim_list = NULL;
out:
	json_decref(all);
	json_decref(tf_set);
	json_decref(claim_set);
	json_decref(tf_list);
	json_decref(claim_list);
	return rc;
}
