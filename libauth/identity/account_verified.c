/*
 * account_verified: the attributes an upstream identity provider vouched for
 * (issue 15), kept with their source apart from what the citizen or an
 * operator typed.
 *
 * A citizen record's "verified" member maps a claim of the claim table to
 * its provenance entry: {"value", "issuer", "imported_at",
 * "trust_framework"?, "time"?, "evidence"?} (idp.h's cid_idp_verified_claims
 * makes them). "claims" is never written here and "verified" never by the
 * typed paths, so a typed value can never pass for a verified one. An
 * upstream's entries are replaced whole at each of its logins: what it no
 * longer says, it no longer vouches for; other upstreams' entries stay,
 * and one of them that a trust framework backs is replaced only by an
 * entry a trust framework backs too (the latest verification), never by
 * a value merely imported: a login through a city's upstream does not
 * undo what the card verified.
 */
#include "account.h"
#include "account_int.h"
#include "str.h"

#include <stdint.h>
#include <string.h>

struct put {
	const char *id;
	const char *issuer;
	const json_t *entries;
};

/* An entry as it may be stored: a claim of the table, its value checked, from issuer. */
static bool entry_ok(const char *name, const json_t *e, const char *issuer)
{
	const char *from = cid_json_str(e, "issuer");
	const json_t *tf = json_object_get(e, "trust_framework");

	return json_is_object(e) && cid_claim_lookup(name) != NULL &&
	       cid_claim_check(name, json_object_get(e, "value")) == CID_OK && from != NULL &&
	       strcmp(from, issuer) == 0 && json_is_integer(json_object_get(e, "imported_at")) &&
	       (tf == NULL || json_is_string(tf));
}

/* Whether entry e (may be NULL) names the trust framework it was verified under. */
static bool framed(const json_t *e)
{
	return json_is_string(json_object_get(e, "trust_framework"));
}

static enum cid_err put_cb(struct cid_txn *txn, void *arg)
{
	const struct put *p = arg;
	enum cid_err rc = CID_OK;
	json_t *record = NULL;
	json_t *verified;
	json_t *kept = json_object();
	const char *name;
	json_t *e;
	void *tmp;

	CID_ENSURE(kept != NULL, CID_ERR_NOMEM);
	CID_TRY(account_load_record(txn, p->id, &record));
	/* in the transaction that writes: a citizen disabled after any earlier look gets
	 * nothing written */
	CID_ENSURE(cid_account_active(record), CID_ERR_DISABLED);
	verified = json_object_get(record, "verified");
	/* the other upstreams' entries stay; this one's are replaced whole */
	json_object_foreach_safe(verified, tmp, name, e)
	{
		const char *from = cid_json_str(e, "issuer");

		if (from != NULL && strcmp(from, p->issuer) != 0)
			CID_ENSURE(json_object_set(kept, name, e) == 0, CID_ERR_NOMEM);
	}
	json_object_foreach((json_t *)(uintptr_t)p->entries, name, e)
	{
		if (!framed(json_object_get(kept, name)) || framed(e))
			CID_ENSURE(json_object_set(kept, name, e) == 0, CID_ERR_NOMEM);
	}
	CID_ENSURE(json_object_size(kept) <= CID_MAX_CLAIMS, CID_ERR_TOOBIG);
	CID_ENSURE(json_object_set(record, "verified", kept) == 0, CID_ERR_NOMEM);
	CID_TRY(cid_txn_put_json(txn, CID_DB_CITIZENS, cid_str_of(p->id), record, 0));
out:
	json_decref(kept);
	json_decref(record);
	return rc;
}

enum cid_err cid_account_put_verified(struct cid_store *s, const char *id, const char *issuer,
				      const json_t *entries)
{
	struct put p = {id, issuer, entries};
	const char *name;
	const json_t *e;

	if (issuer == NULL || !json_is_object(entries) ||
	    json_object_size(entries) > CID_MAX_CLAIMS)
		return CID_ERR_INVALID;
	json_object_foreach((json_t *)(uintptr_t)entries, name, e)
	{
		if (!entry_ok(name, e, issuer))
			return CID_ERR_INVALID;
	}
	return cid_store_update(s, put_cb, &p);
}

const json_t *cid_account_verified_get(const struct cid_account *a, const char *name)
{
	const json_t *e = a == NULL ? NULL : json_object_get(a->verified, name);

	/* verified: a trust framework named (by the upstream, or its registration) */
	return framed(e) ? e : NULL;
}

const json_t *cid_account_verified_get_base(const struct cid_account *a, const char *base)
{
	const json_t *e = cid_account_verified_get(a, base);
	size_t n = strlen(base);
	const char *name;
	json_t *v;

	if (e != NULL || a == NULL)
		return e;
	/* jansson's foreach wants a non-const object; nothing here modifies it */
	json_object_foreach((json_t *)(uintptr_t)a->verified, name, v)
	{
		if (strncmp(name, base, n) == 0 && name[n] == '#' &&
		    (e = cid_account_verified_get(a, name)) != NULL)
			return e;
	}
	return NULL;
}
