/*
 * policy_archive: every policy file ever loaded, by version (policy_archive.h).
 *
 * A version present is left as it is, so the archive only grows and a
 * reload of unchanged files is a read. The text is stored as loaded; the
 * version it is filed under is its SHA-256, which a reader checks before
 * trusting it.
 */
#include "policy_archive.h"

#include "crypto.h"
#include "str.h"

#include <string.h>

struct put_args {
	const struct cid_policyset *ps;
	int64_t now;
	size_t added;
};

static enum cid_err put_txn(struct cid_txn *txn, void *arg)
{
	struct put_args *a = arg;
	enum cid_err rc = CID_OK;
	json_t *rec = NULL;

	a->added = 0;
	for (size_t i = 0; i < cid_policyset_count(a->ps); i++) {
		const char *service = cid_policyset_service(a->ps, i);
		const struct cid_policy *pol = cid_policyset_find(a->ps, service);
		const char *version = cid_policy_version(pol);
		struct cid_str val;
		size_t len = 0;
		const char *text = cid_policy_text(pol, &len);

		rc = cid_txn_get(txn, CID_DB_POLICIES, cid_str_of(version), &val);
		if (rc == CID_OK)
			continue;
		CID_ENSURE(rc == CID_ERR_NOTFOUND, rc);
		CID_ENSURE(text != NULL && cid_utf8_valid(text, len), CID_ERR_INVALID);
		rec = json_pack("{s:s, s:s, s:s%, s:I}", "service", service, "file",
				cid_policy_file(pol), "text", text, len, "loaded_at",
				(json_int_t)a->now);
		CID_ENSURE(rec != NULL, CID_ERR_NOMEM);
		CID_TRY(cid_txn_put_json(txn, CID_DB_POLICIES, cid_str_of(version), rec, 0));
		json_decref(rec);
		rec = NULL;
		a->added++;
	}
out:
	json_decref(rec);
	return rc;
}

enum cid_err cid_policy_archive_put(struct cid_store *s, const struct cid_policyset *ps,
				    int64_t now, size_t *added)
{
	struct put_args a = {.ps = ps, .now = now};
	enum cid_err rc;

	if (s == NULL || ps == NULL)
		return CID_ERR_INVALID;
	rc = cid_store_update(s, put_txn, &a);
	if (rc == CID_OK && added != NULL)
		*added = a.added;
	return rc;
}

static bool hex64(const char *v)
{
	if (v == NULL || strlen(v) != CID_HASH_HEX)
		return false;
	for (size_t i = 0; i < CID_HASH_HEX; i++)
		if (!((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f')))
			return false;
	return true;
}

enum cid_err cid_policy_archive_get(struct cid_txn *txn, const char *version, json_t **out)
{
	enum cid_err rc = CID_OK;
	json_t *rec = NULL;

	CID_ENSURE(hex64(version), CID_ERR_NOTFOUND);
	CID_TRY(cid_txn_get_json(txn, CID_DB_POLICIES, cid_str_of(version), &rec));
	CID_ENSURE(json_is_string(json_object_get(rec, "text")), CID_ERR_STORE);
	CID_ENSURE(json_object_set_new(rec, "version", json_string(version)) == 0, CID_ERR_NOMEM);
	*out = rec;
	rec = NULL;
out:
	json_decref(rec);
	return rc;
}

bool cid_policy_archive_intact(const json_t *rec)
{
	const json_t *text = json_object_get(rec, "text");
	const char *version = cid_json_str(rec, "version");
	uint8_t hash[32];
	char hex[CID_HASH_HEX + 1];

	if (!json_is_string(text) || !hex64(version))
		return false;
	cid_sha256(json_string_value(text), json_string_length(text), hash);
	cid_hex(hash, sizeof(hash), hex);
	return strcmp(hex, version) == 0;
}
