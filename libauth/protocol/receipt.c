/*
 * receipt: a consent receipt is a view of consent records, signed; nothing is
 * stored. The records are the evidence and stay append-only in consent.c; a
 * receipt can be made again at any time from them, and the same decision
 * always yields the same receipt id and content (only iat differs), so a
 * citizen who downloads twice holds two copies of one receipt, not two
 * receipts.
 *
 * Every text comes from one place: the controller from the config, the
 * service's name and the purpose text from the policy in force (flagged when
 * it no longer is the text the citizen saw), the subject from token.c, the
 * log entry and its proof from the audit log (audit.h).
 */
#include "receipt.h"

#include "audit.h"
#include "bounds.h"
#include "client.h"
#include "consent.h"
#include "crypto.h"
#include "policy.h"
#include "store.h"
#include "token.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TEXT 512

/* Both NULL, or both the same string. */
static bool same_opt(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* True if rec is a grant (or withdrawal) written by the same decision as anchor (receipt.h). */
static bool same_decision(const struct cid_consent_record *anchor,
			  const struct cid_consent_record *rec)
{
	return rec->state == anchor->state && same_opt(anchor->account_id, rec->account_id) &&
	       same_opt(anchor->service, rec->service) && same_opt(anchor->purpose, rec->purpose) &&
	       same_opt(anchor->policy_version, rec->policy_version) && anchor->at == rec->at &&
	       same_opt(anchor->method, rec->method) &&
	       same_opt(anchor->request_id, rec->request_id);
}

/* The record whose id is id in records, read into *out; false if none. */
static bool find_id(const json_t *records, const char *id, struct cid_consent_record *out)
{
	size_t i;
	const json_t *rec;

	json_array_foreach(records, i, rec)
	{
		if (cid_consent_record_read(rec, out) == CID_OK && strcmp(out->id, id) == 0)
			return true;
	}
	return false;
}

/*
 * The citizen's history holding record id: restricted to account_id when it
 * is not NULL, else found by a scan (operators). *history (new reference) and
 * *rec (its strings borrowed from it).
 */
static enum cid_err load_record(struct cid_store *s, const char *id, const char *account_id,
				json_t **history, struct cid_consent_record *rec)
{
	enum cid_err rc = CID_OK;
	json_t *one = NULL;
	json_t *all = NULL;
	struct cid_consent_record r;

	if (account_id == NULL) {
		CID_TRY(cid_consent_get(s, id, &one));
		CID_TRY(cid_consent_record_read(one, &r));
		CID_TRY(cid_consent_history(s, r.account_id, r.service, &all));
	} else {
		CID_TRY(cid_consent_history(s, account_id, NULL, &all));
	}
	CID_ENSURE(find_id(all, id, rec), CID_ERR_NOTFOUND);
	*history = all;
	all = NULL;
out:
	json_decref(one);
	json_decref(all);
	return rc;
}

/* What a receipt says of the purpose, from the policy in force. */
struct purpose_view {
	const char *text; /* borrowed from the policyset, or the purpose id */
	bool current;	  /* the policy still asks what the citizen was asked */
	bool known;	  /* the policy still has the purpose */
	uint32_t retention_days;
	const char *category; /* its Kantara purposeCategory (policy.h); static */
};

static void view_purpose(const struct cid_policy *pol, const struct cid_consent_record *rec,
			 bool en, struct purpose_view *out)
{
	const char *id = rec->purpose;
	const char *digest = rec->purpose_digest;
	struct cid_purpose_info pu;

	*out = (struct purpose_view){.text = id, .category = cid_policy_category_name(0)};
	if (!cid_policy_purpose_find(pol, id, &pu))
		return;
	out->text = en ? pu.text_en : pu.text_ja;
	out->known = true;
	out->current = digest != NULL && strcmp(pu.digest, digest) == 0;
	out->retention_days = pu.retention_days;
	out->category = pu.category;
}

/*
 * Kantara "termination": until when the consent holds (or that it was
 * withdrawn), and what the service may keep.
 */
static enum cid_err termination(int64_t expires_at, bool withdrawn, const struct purpose_view *pv,
				bool en, char out[MAX_TEXT])
{
	char t[32];
	char keep[160] = "";
	int n;

	if (pv->known)
		snprintf(keep, sizeof(keep),
			 en ? "; the service keeps what it received for at most %u days"
			    : "。サービスでの保存期間は最長 %u 日",
			 (unsigned)pv->retention_days);
	if (withdrawn) {
		n = snprintf(out, MAX_TEXT,
			     en ? "Withdrawn at consentTimestamp: nothing more is released%s"
				: "consentTimestamp の時点で撤回済み。以後は提供されません%s",
			     keep);
	} else if (expires_at != 0) {
		if (cid_audit_time(expires_at, t) != CID_OK)
			return CID_ERR_STORE;
		n = snprintf(out, MAX_TEXT,
			     en ? "Until %s unless withdrawn earlier%s"
				: "%s まで（それより前に撤回できます）%s",
			     t, keep);
	} else {
		n = snprintf(out, MAX_TEXT, en ? "Until withdrawn%s" : "撤回するまで%s", keep);
	}
	return n > 0 && n < MAX_TEXT ? CID_OK : CID_ERR_TOOBIG;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * The decision of anchor among history: *first_id (borrowed) the id of its
 * lowest-seq record, *ids and *attributes (new arrays) its record ids in seq
 * order and its attributes sorted.
 */
static enum cid_err collect(const json_t *history, const struct cid_consent_record *anchor,
			    const char **first_id, json_t **ids, json_t **attributes)
{
	enum cid_err rc = CID_OK;
	struct cid_consent_record members[CID_MAX_CLAIMS];
	const char *names[CID_MAX_CLAIMS];
	size_t n = 0;
	size_t i;
	const json_t *v;
	struct cid_consent_record rec;
	json_t *id_list = json_array();
	json_t *attr_list = json_array();

	CID_ENSURE(id_list != NULL && attr_list != NULL, CID_ERR_NOMEM);
	json_array_foreach(history, i, v)
	{
		/* the history's records all read (consent.h): one that does not is damage */
		CID_TRY(cid_consent_record_read(v, &rec));
		if (!same_decision(anchor, &rec))
			continue;
		/* one record per attribute per decision: more than the claim table is damage */
		CID_ENSURE(n < CID_MAX_CLAIMS, CID_ERR_STORE);
		members[n++] = rec;
	}
	CID_ENSURE(n > 0, CID_ERR_STORE);
	/* seq order (insertion sort: a decision has a few records) */
	for (size_t a = 1; a < n; a++)
		for (size_t b = a; b > 0 && members[b - 1].seq > members[b].seq; b--) {
			struct cid_consent_record tmp = members[b];
			members[b] = members[b - 1];
			members[b - 1] = tmp;
		}
	for (i = 0; i < n; i++) {
		CID_ENSURE(json_array_append_new(id_list, json_string(members[i].id)) == 0,
			   CID_ERR_NOMEM);
		names[i] = members[i].attribute;
	}
	qsort(names, n, sizeof(names[0]), cmp_str);
	for (i = 0; i < n; i++)
		CID_ENSURE(json_array_append_new(attr_list, json_string(names[i])) == 0,
			   CID_ERR_NOMEM);
	*first_id = members[0].id;
	*ids = id_list;
	*attributes = attr_list;
	id_list = NULL;
	attr_list = NULL;
out:
	json_decref(id_list);
	json_decref(attr_list);
	return rc;
}

/* True if every mandatory controller setting is there. */
static bool controller_set(const struct cid_config *cfg)
{
	return cfg->controller_name[0] != '\0' && cfg->controller_contact[0] != '\0' &&
	       cfg->controller_address[0] != '\0' && cfg->controller_email[0] != '\0' &&
	       cfg->policy_url[0] != '\0';
}

static json_t *controllers(const struct cid_config *cfg)
{
	json_t *c =
	    json_pack("{s:s, s:s, s:{s:s, s:s}, s:s, s:s}", "piiController", cfg->controller_name,
		      "contact", cfg->controller_contact, "address", "streetAddress",
		      cfg->controller_address, "addressCountry", cfg->jurisdiction, "email",
		      cfg->controller_email, "piiControllerUrl", cfg->issuer);

	if (c != NULL && cfg->controller_phone[0] != '\0' &&
	    json_object_set_new(c, "phone", json_string(cfg->controller_phone)) != 0) {
		json_decref(c);
		return NULL;
	}
	return c == NULL ? NULL : json_pack("[o]", c);
}

enum cid_err cid_receipt_make(struct cid_ctx *ctx, const char *record_id, const char *account_id,
			      const char *locale, int64_t now, char **jws_out, json_t **claims_out)
{
	enum cid_err rc = CID_OK;
	const struct cid_config *cfg = cid_ctx_config(ctx);
	struct cid_store *s = cid_ctx_store(ctx);
	bool en = locale != NULL && strcmp(locale, "en") == 0;
	struct cid_policyref *pref = NULL;
	struct cid_keyref *kref = NULL;
	struct cid_client *client = NULL;
	json_t *history = NULL;
	json_t *ids = NULL;
	json_t *attributes = NULL;
	json_t *claims = NULL;
	json_t *purpose = NULL;
	json_t *ctrl = NULL;
	json_t *audit = NULL;
	struct cid_consent_record rec = {0};
	const char *first_id = NULL;
	char sub[CID_TOKEN_CHARS + 1];
	char service_label[CID_MAX_CLIENT_ID + 300];
	char term[MAX_TEXT];
	char expires[32];
	struct purpose_view pv;
	const struct cid_policy *pol;
	const char *service_name;
	int64_t expires_at;
	bool withdrawn;
	char *jws = NULL;

	CID_ENSURE(cid_uuid_syntax_ok(record_id), CID_ERR_INVALID);
	CID_ENSURE(account_id == NULL || cid_uuid_syntax_ok(account_id), CID_ERR_NOTFOUND);
	CID_TRY(load_record(s, record_id, account_id, &history, &rec));
	CID_ENSURE(rec.state == CID_CONSENT_GRANTED || rec.state == CID_CONSENT_WITHDRAWN,
		   CID_ERR_REFUSED);
	withdrawn = rec.state == CID_CONSENT_WITHDRAWN;
	CID_ENSURE(controller_set(cfg), CID_ERR_CONFIG);
	CID_TRY(collect(history, &rec, &first_id, &ids, &attributes));

	rc = cid_client_get(s, rec.service, &client);
	CID_ENSURE(rc != CID_ERR_INVALID, CID_ERR_NOTFOUND);
	CID_TRY(rc);
	pref = cid_ctx_policies_acquire(ctx);
	pol = cid_policyset_find(cid_policyref_set(pref), client->client_id);
	cid_token_subject(ctx, cid_policyref_set(pref), client, rec.account_id, sub);
	service_name = pol != NULL ? cid_policy_name(pol, en ? "en" : "ja") : client->name;
	CID_ENSURE(snprintf(service_label, sizeof(service_label), "%s (%s)", service_name,
			    client->client_id) < (int)sizeof(service_label),
		   CID_ERR_TOOBIG);
	view_purpose(pol, &rec, en, &pv);
	expires_at = rec.expires_at;
	CID_TRY(termination(expires_at, withdrawn, &pv, en, term));

	purpose = json_pack("{s:s, s:[s], s:s, s:O, s:b, s:s, s:b, s:s}", "purpose", pv.text,
			    "purposeCategory", pv.category, "consentType", "EXPLICIT",
			    "piiCategory", attributes, "primaryPurpose", 1, "termination", term,
			    "thirdPartyDisclosure", 1, "thirdPartyName", service_name);
	ctrl = controllers(cfg);
	CID_ENSURE(purpose != NULL && ctrl != NULL, CID_ERR_NOMEM);
	claims = json_pack(
	    "{s:s, s:I, s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:O, s:s, "
	    "s:[{s:s, s:s, s:[O]}], s:b, s:[], s:s, s:s, s:s, s:b, s:O}",
	    "iss", cfg->issuer, "iat", (json_int_t)now, "jti", first_id, "version",
	    CID_RECEIPT_VERSION, "jurisdiction", cfg->jurisdiction, "consentTimestamp",
	    (json_int_t)rec.at, "collectionMethod", rec.method, "consentReceiptID", first_id,
	    "language", en ? "en" : "ja", "piiPrincipalId", sub, "piiControllers", ctrl,
	    "policyUrl", cfg->policy_url, "services", "service", service_label, "client_id",
	    client->client_id, "purposes", purpose, "sensitive", 0, "spiCat", "policy_version",
	    rec.policy_version, "purpose_digest", rec.purpose_digest, "purpose_id", rec.purpose,
	    "purpose_text_current", pv.current, "consent_records", ids);
	/* a record without method, versions or purpose is damage, not a receipt */
	CID_ENSURE(claims != NULL, CID_ERR_STORE);
	CID_ENSURE(json_object_set_new(claims, "consent_state",
				       json_string(withdrawn ? "withdrawn" : "granted")) == 0,
		   CID_ERR_NOMEM);
	if (expires_at != 0) {
		CID_ENSURE(cid_audit_time(expires_at, expires) == CID_OK, CID_ERR_STORE);
		CID_ENSURE(json_object_set_new(claims, "expires_at", json_string(expires)) == 0,
			   CID_ERR_NOMEM);
	} else {
		CID_ENSURE(json_object_set_new(claims, "expires_at", json_null()) == 0,
			   CID_ERR_NOMEM);
	}
	/* the log entry of the decision and its proof; none for a record from before the log */
	rc = cid_audit_record_proof(s, withdrawn ? "consent.withdrawn" : "consent.granted",
				    rec.account_id, first_id, rec.at, now, &audit);
	if (rc == CID_ERR_NOTFOUND || rc == CID_ERR_TOOEARLY)
		rc = CID_OK;
	CID_TRY(rc);
	if (audit != NULL)
		CID_ENSURE(json_object_set(claims, "audit", audit) == 0, CID_ERR_NOMEM);
	kref = cid_ctx_keys_acquire(ctx);
	CID_TRY(cid_jws_sign(cid_keyref_keyset(kref), "ES256", CID_RECEIPT_TYP, claims, &jws));
	*jws_out = jws;
	if (claims_out != NULL) {
		*claims_out = claims;
		claims = NULL;
	}
out:
	cid_keyref_put(kref);
	cid_policyref_put(pref);
	cid_client_free(client);
	json_decref(history);
	json_decref(ids);
	json_decref(attributes);
	json_decref(purpose);
	json_decref(ctrl);
	json_decref(audit);
	json_decref(claims);
	return rc;
}

enum cid_err cid_receipt_verify(const struct cid_keyset *ks, const char *jws, size_t len,
				json_t **claims_out)
{
	return cid_jws_verify_max(ks, jws, len, CID_MAX_RECEIPT, CID_RECEIPT_TYP, claims_out);
}
