/*
 * trail: the citizen's download of their own trail (trail.h). The entries,
 * the rule of which are the citizen's and their proofs come from the audit
 * log (cid_audit_trail); this file adds what people read (the names of the
 * service and purpose, the decision in words) and the one signature that
 * binds the page's entries together, so a download with an entry left out
 * does not verify either. What is shown is copied from the entry's own
 * logged bytes, so a verifier can check the words against the proved text.
 */
#include "trail.h"

#include "audit.h"
#include "bounds.h"
#include "buf.h"
#include "client.h"
#include "config.h"
#include "crypto.h"
#include "csv.h"
#include "jose.h"
#include "merkle.h"
#include "policy.h"
#include "str.h"
#include "tz.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The decision an entry's type records: "permit" or the consent event, NULL for others. */
static const char *decision_of(const char *type)
{
	static const char *const consent[] = {"granted", "refused", "withdrawn", "expired"};

	if (type == NULL)
		return NULL;
	if (strcmp(type, "release.permit") == 0)
		return "permit";
	for (size_t i = 0; i < sizeof(consent) / sizeof(consent[0]); i++)
		if (strncmp(type, "consent.", 8) == 0 && strcmp(type + 8, consent[i]) == 0)
			return consent[i];
	return NULL;
}

const char *cid_trail_decision_text(const char *decision, const char *locale)
{
	static const struct {
		const char *decision, *en, *ja;
	} words[] = {
	    {"permit", "released to the service", "提供"},
	    {"granted", "consent given", "同意"},
	    {"refused", "consent refused", "拒否"},
	    {"withdrawn", "consent withdrawn", "同意の撤回"},
	    {"expired", "consent expired", "同意の期限切れ"},
	};

	bool en = locale != NULL && strcmp(locale, "en") == 0;

	for (size_t i = 0; decision != NULL && i < sizeof(words) / sizeof(words[0]); i++)
		if (strcmp(decision, words[i].decision) == 0)
			return en ? words[i].en : words[i].ja;
	return NULL;
}

/* The service's name for people: its policy's in locale, its registration's, its id. */
static enum cid_err service_name(struct cid_ctx *ctx, const struct cid_policyset *ps,
				 const char *service, const char *locale, json_t *item)
{
	const struct cid_policy *pol = cid_policyset_find(ps, service);
	struct cid_client *client = NULL;
	const char *name = service;
	int bad;

	if (pol != NULL)
		name = cid_policy_name(pol, locale);
	else if (cid_client_get(cid_ctx_store(ctx), service, &client) == CID_OK)
		name = client->name;
	bad = json_object_set_new(item, "service_name", json_string(name != NULL ? name : service));
	cid_client_free(client);
	return bad == 0 ? CID_OK : CID_ERR_NOMEM;
}

/* The words of one entry: its logged members, its decision, the names. */
static enum cid_err describe(struct cid_ctx *ctx, const struct cid_policyset *ps,
			     const char *locale, json_t *item)
{
	static const char *const copied[] = {"time",	"type",	      "service",
					     "purpose", "attributes", "basis"};
	enum cid_err rc = CID_OK;
	json_t *e = NULL;
	const char *service;
	const char *purpose;
	const char *text;
	const char *decision;
	struct cid_purpose_info pu;

	CID_TRY(cid_store_parse_json(cid_str_of(cid_json_str(item, "entry")), &e));
	for (size_t i = 0; i < sizeof(copied) / sizeof(copied[0]); i++) {
		json_t *v = json_object_get(e, copied[i]);

		if (v != NULL)
			CID_ENSURE(json_object_set(item, copied[i], v) == 0, CID_ERR_NOMEM);
	}
	decision = decision_of(cid_json_str(e, "type"));
	service = cid_json_str(e, "service");
	purpose = cid_json_str(e, "purpose");
	/* the citizen slice holds only these: another is damage */
	CID_ENSURE(decision != NULL && service != NULL, CID_ERR_STORE);
	CID_ENSURE(json_object_set_new(item, "decision", json_string(decision)) == 0,
		   CID_ERR_NOMEM);
	CID_TRY(service_name(ctx, ps, service, locale, item));
	text = purpose;
	if (purpose != NULL &&
	    cid_policy_purpose_find(cid_policyset_find(ps, service), purpose, &pu))
		text = cid_purpose_text(&pu, locale);
	CID_ENSURE(
	    json_object_set_new(item, "purpose_text", json_string(text != NULL ? text : "")) == 0,
	    CID_ERR_NOMEM);
out:
	json_decref(e);
	return rc;
}

/* "entries_hash": hex SHA-256 of the entries' leaf hashes (recomputed from "entry"), in order. */
static enum cid_err entries_hash(const json_t *entries, char out[2 * CID_MERKLE_HASH + 1])
{
	enum cid_err rc = CID_OK;
	size_t n = json_array_size(entries);
	uint8_t *all = malloc(n * CID_MERKLE_HASH + 1);
	uint8_t digest[CID_MERKLE_HASH];
	size_t i;
	const json_t *item;

	CID_ENSURE(all != NULL, CID_ERR_NOMEM);
	json_array_foreach(entries, i, item)
	{
		const char *entry = cid_json_str(item, "entry");

		CID_ENSURE(entry != NULL, CID_ERR_STORE);
		CID_TRY(cid_merkle_leaf_hash(entry, strlen(entry), all + i * CID_MERKLE_HASH));
	}
	cid_sha256(all, n * CID_MERKLE_HASH, digest);
	cid_hex(digest, CID_MERKLE_HASH, out);
out:
	free(all);
	return rc;
}

/* Signs the page: the "signature" member (trail.h). */
static enum cid_err sign(struct cid_ctx *ctx, json_t *bundle, int64_t now)
{
	enum cid_err rc = CID_OK;
	struct cid_keyref *kref = NULL;
	char digest[2 * CID_MERKLE_HASH + 1];
	char *jws = NULL;
	const json_t *cp = json_object_get(bundle, "checkpoint");
	json_t *claims = NULL;

	CID_TRY(entries_hash(json_object_get(bundle, "entries"), digest));
	claims =
	    json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:s}", "iss",
		      cid_ctx_config(ctx)->issuer, "sub", cid_json_str(bundle, "citizen"), "iat",
		      (json_int_t)now, "before", (json_int_t)cid_json_int(bundle, "before"),
		      "next_before", (json_int_t)cid_json_int(bundle, "next_before"), "size",
		      (json_int_t)cid_json_int(cp, "size"), "count",
		      (json_int_t)json_array_size(json_object_get(bundle, "entries")),
		      "entries_hash", digest);
	CID_ENSURE(claims != NULL, CID_ERR_NOMEM);
	kref = cid_ctx_keys_acquire(ctx);
	CID_TRY(cid_jws_sign(cid_keyref_keyset(kref), "ES256", CID_TRAIL_TYP, claims, &jws));
	CID_ENSURE(json_object_set_new(bundle, "signature", json_string(jws)) == 0, CID_ERR_NOMEM);
out:
	cid_keyref_put(kref);
	json_decref(claims);
	free(jws);
	return rc;
}

enum cid_err cid_trail_bundle(struct cid_ctx *ctx, const char *account_id, const char *locale,
			      uint64_t before, size_t limit, int64_t now, json_t **out)
{
	enum cid_err rc = CID_OK;
	const char *lang = locale != NULL && strcmp(locale, "en") == 0 ? "en" : "ja";
	struct cid_audit_witnesses *ws = NULL;
	struct cid_policyref *pref = NULL;
	json_t *bundle = NULL;
	char err[256];
	char when[32];
	size_t i;
	json_t *item;

	CID_ENSURE(ctx != NULL && account_id != NULL && out != NULL, CID_ERR_INVALID);
	CID_TRY(cid_audit_time(now, when));
	/* a download is rare: the witnesses' vkeys are read from the configuration each time */
	CID_TRY(
	    cid_audit_witnesses_parse(cid_ctx_config(ctx)->audit_witnesses, &ws, err, sizeof(err)));
	CID_TRY(cid_audit_trail(cid_ctx_store(ctx), ws, account_id, before, limit, now, &bundle));
	CID_ENSURE(json_object_set_new(bundle, "type", json_string(CID_TRAIL_TYPE)) == 0 &&
		       json_object_set_new(bundle, "issuer",
					   json_string(cid_ctx_config(ctx)->issuer)) == 0 &&
		       json_object_set_new(bundle, "citizen", json_string(account_id)) == 0 &&
		       json_object_set_new(bundle, "lang", json_string(lang)) == 0 &&
		       json_object_set_new(bundle, "generated", json_string(when)) == 0 &&
		       json_object_set_new(bundle, "limit", json_integer((json_int_t)limit)) == 0 &&
		       json_object_set_new(bundle, "before", json_integer((json_int_t)before)) == 0,
		   CID_ERR_NOMEM);
	pref = cid_ctx_policies_acquire(ctx);
	json_array_foreach(json_object_get(bundle, "entries"), i, item)
	    CID_TRY(describe(ctx, cid_policyref_set(pref), lang, item));
	CID_TRY(sign(ctx, bundle, now));
	*out = bundle;
	bundle = NULL;
out:
	cid_policyref_put(pref);
	cid_audit_witnesses_free(ws);
	json_decref(bundle);
	return rc;
}

enum cid_err cid_trail_recorded(struct cid_ctx *ctx, const char *account_id, const char *locale,
				uint64_t before, bool csv, const char *actor, const char *endpoint,
				int64_t now, json_t **out)
{
	enum cid_err rc = CID_OK;
	json_t *bundle = NULL;
	json_t *rec = NULL;
	struct cid_audit_filter f = {.citizen = account_id};

	CID_TRY(cid_trail_bundle(ctx, account_id, locale, before, CID_TRAIL_MAX, now, &bundle));
	CID_TRY(cid_audit_exported_entry(
	    &(struct cid_audit_exported){
		.actor = actor,
		.endpoint = endpoint,
		.format = csv ? "trail-csv" : "trail-json",
		.filter = &f,
		.rows = json_array_size(json_object_get(bundle, "entries")),
		.now = now,
	    },
	    &rec));
	CID_TRY(cid_audit_append(cid_ctx_audit_log(ctx), &rec, 1, NULL));
	*out = bundle;
	bundle = NULL;
out:
	json_decref(bundle);
	json_decref(rec);
	return rc;
}

/* One CSV cell (csv.h), then the separator or the row's end. */
static void csv_cell(struct cid_buf *b, const char *s, bool last)
{
	cid_csv_append(b, s);
	cid_buf_puts(b, last ? "\r\n" : ",");
}

/* The basis in words: "consent", or the statute's citation. */
static void basis_text(const char *basis, bool en, char *out, size_t size)
{
	const char *law = "statute:";

	if (basis != NULL && strncmp(basis, law, strlen(law)) == 0)
		snprintf(out, size, "%s %s", en ? "law:" : "法令:", basis + strlen(law));
	else if (basis != NULL && strcmp(basis, "consent") == 0)
		snprintf(out, size, "%s", en ? "your consent" : "本人の同意");
	else
		snprintf(out, size, "%s", basis != NULL ? basis : "");
}

enum cid_err cid_trail_csv(struct cid_ctx *ctx, const json_t *bundle, char **out, size_t *len)
{
	static const char *const head_en[] = {"seq",   "time",	"service", "purpose",
					      "items", "basis", "decision"};
	static const char *const head_ja[] = {"番号", "日時", "提供先", "利用目的",
					      "項目", "根拠", "内容"};
	enum cid_err rc = CID_OK;
	const char *lang = cid_json_str(bundle, "lang");
	bool en = lang != NULL && strcmp(lang, "en") == 0;
	const json_t *entries = json_object_get(bundle, "entries");
	struct cid_buf b;
	struct cid_buf items;
	char text[CID_TZ_TEXT_MAX];
	char basis[512];
	char seq[24];
	char hint[1024];
	size_t i;
	size_t j;
	const json_t *e;
	const json_t *a;
	int64_t t;

	cid_buf_init(&b, CID_TRAIL_CSV_MAX);
	cid_buf_init(&items, CID_TRAIL_CSV_MAX);
	CID_ENSURE(ctx != NULL && json_is_array(entries) && out != NULL && len != NULL,
		   CID_ERR_INVALID);
	cid_buf_puts(&b, "\xEF\xBB\xBF");
	for (i = 0; i < 7; i++)
		csv_cell(&b, en ? head_en[i] : head_ja[i], i == 6);
	json_array_foreach(entries, i, e)
	{
		const char *time = cid_json_str(e, "time");

		cid_buf_free(&items);
		json_array_foreach(json_object_get(e, "attributes"), j, a)
		{
			if (j > 0)
				cid_buf_puts(&items, " ");
			if (json_is_string(a))
				cid_buf_puts(&items, json_string_value(a));
		}
		snprintf(seq, sizeof(seq), "%" JSON_INTEGER_FORMAT,
			 (json_int_t)cid_json_int(e, "seq"));
		if (time == NULL || cid_time_parse(time, &t) != CID_OK ||
		    cid_tz_format(cid_ctx_tz(ctx), t, en ? "en" : "ja", true, text) != CID_OK)
			snprintf(text, sizeof(text), "%s", time != NULL ? time : "");
		basis_text(cid_json_str(e, "basis"), en, basis, sizeof(basis));
		csv_cell(&b, seq, false);
		csv_cell(&b, text, false);
		csv_cell(&b, cid_json_str(e, "service_name") ? cid_json_str(e, "service_name") : "",
			 false);
		csv_cell(&b, cid_json_str(e, "purpose_text") ? cid_json_str(e, "purpose_text") : "",
			 false);
		csv_cell(&b, items.data != NULL ? items.data : "", false);
		csv_cell(&b, basis, false);
		csv_cell(
		    &b,
		    cid_trail_decision_text(cid_json_str(e, "decision"), en ? "en" : "ja")
			? cid_trail_decision_text(cid_json_str(e, "decision"), en ? "en" : "ja")
			: "",
		    true);
	}
	cid_buf_puts(&b, "\r\n");
	snprintf(hint, sizeof(hint),
		 en ? "Times are local (the city's time zone). The verifiable copy of this list is "
		      "the JSON download (%s/account/trail?format=json, or `civicid audit trail "
		      "--format json` at the city): each entry with its inclusion proof in the "
		      "city's audit log. How to check it: the civicid README, \"The citizen's "
		      "trail bundle\"."
		    : "日時は市の標準時です。この一覧の検証できる版はJSON形式のダウンロード（%s/"
		      "account/trail?format=json、または市の窓口で `civicid audit trail --format "
		      "json`）で、各記録に市の監査ログへの包含証明が付いています。検証方法は "
		      "civicid の README「The citizen's trail bundle」をご覧ください。",
		 cid_ctx_config(ctx)->issuer);
	csv_cell(&b, hint, true);
	CID_TRY(cid_buf_status(&b));
	CID_TRY(cid_buf_status(&items));
	*out = cid_buf_take(&b, len);
	CID_ENSURE(*out != NULL, CID_ERR_NOMEM);
out:
	cid_buf_free(&b);
	cid_buf_free(&items);
	return rc;
}
