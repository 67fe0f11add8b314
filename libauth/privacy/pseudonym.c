/*
 * pseudonym: the mapping between citizens and the names the audit log gives
 * them (pseudonym.h). It is the only place an entry's pseudonym meets an
 * account id, so it is kept out of the log: purging a scope here is all it
 * takes to unlink its entries, and the chain and tree never change.
 */
#include "pseudonym.h"

#include "bounds.h"
#include "crypto.h"
#include "str.h"

#include <stdio.h>
#include <string.h>

#define RANDOM_BYTES  16
#define SCOPE_KEY_MAX (2 + 3 * CID_AUDIT_MAX_NAME + 3)

bool cid_pseudonym_syntax_ok(const char *s)
{
	size_t plen = strlen(CID_PSEUDONYM_PREFIX);

	if (s == NULL || strnlen(s, CID_PSEUDONYM_CHARS + 1) != CID_PSEUDONYM_CHARS ||
	    strncmp(s, CID_PSEUDONYM_PREFIX, plen) != 0)
		return false;
	for (const char *p = s + plen; *p != '\0'; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

/* A name of a scope key: no newline, bounded ("" for NULL). */
static bool part_ok(const char *s)
{
	return s == NULL || (strnlen(s, CID_AUDIT_MAX_NAME + 1) <= CID_AUDIT_MAX_NAME &&
			     strchr(s, '\n') == NULL);
}

/* "a\n" account "\n" service "\n" purpose into key; its length, or 0 when it does not fit. */
static size_t scope_key(const char *account, const char *service, const char *purpose,
			char key[SCOPE_KEY_MAX])
{
	int n;

	if (account == NULL || account[0] == '\0' || !part_ok(account) || !part_ok(service) ||
	    !part_ok(purpose))
		return 0;
	n = snprintf(key, SCOPE_KEY_MAX, "a\n%s\n%s\n%s", account, service != NULL ? service : "",
		     purpose != NULL ? purpose : "");
	return n > 0 && n < SCOPE_KEY_MAX ? (size_t)n : 0;
}

enum cid_err cid_pseudonym_get_or_make(struct cid_txn *txn, const char *account,
				       const char *service, const char *purpose,
				       char out[CID_PSEUDONYM_CHARS + 1])
{
	enum cid_err rc = CID_OK;
	char key[SCOPE_KEY_MAX];
	char pkey[2 + CID_PSEUDONYM_CHARS + 1];
	char p[CID_PSEUDONYM_CHARS + 1];
	uint8_t raw[RANDOM_BYTES];
	size_t klen = scope_key(account, service, purpose, key);
	struct cid_str v;
	json_t *rev = NULL;

	CID_ENSURE(klen > 0, CID_ERR_INVALID);
	rc = cid_txn_get(txn, CID_DB_PSEUDONYMS, (struct cid_str){key, klen}, &v);
	if (rc == CID_OK) {
		CID_ENSURE(v.len == CID_PSEUDONYM_CHARS, CID_ERR_STORE);
		memcpy(out, v.ptr, CID_PSEUDONYM_CHARS);
		out[CID_PSEUDONYM_CHARS] = '\0';
		goto out;
	}
	CID_ENSURE(rc == CID_ERR_NOTFOUND, rc);
	CID_TRY(cid_random_bytes(raw, sizeof(raw)));
	memcpy(p, CID_PSEUDONYM_PREFIX, strlen(CID_PSEUDONYM_PREFIX));
	cid_hex(raw, sizeof(raw), p + strlen(CID_PSEUDONYM_PREFIX));
	p[CID_PSEUDONYM_CHARS] = '\0';
	snprintf(pkey, sizeof(pkey), "p\n%s", p);
	rev = json_pack("{s:s, s:s, s:s}", "citizen", account, "service",
			service != NULL ? service : "", "purpose", purpose != NULL ? purpose : "");
	CID_ENSURE(rev != NULL, CID_ERR_NOMEM);
	/* 128 random bits do not collide; NOOVERWRITE makes sure of it */
	CID_TRY(
	    cid_txn_put_json(txn, CID_DB_PSEUDONYMS, cid_str_of(pkey), rev, CID_PUT_NOOVERWRITE));
	CID_TRY(cid_txn_put(txn, CID_DB_PSEUDONYMS, (struct cid_str){key, klen}, cid_str_of(p), 0));
	memcpy(out, p, sizeof(p));
out:
	json_decref(rev);
	return rc;
}

enum cid_err cid_pseudonym_resolve(struct cid_txn *txn, const char *p, json_t **out)
{
	char pkey[2 + CID_PSEUDONYM_CHARS + 1];

	if (!cid_pseudonym_syntax_ok(p) || out == NULL)
		return CID_ERR_INVALID;
	snprintf(pkey, sizeof(pkey), "p\n%s", p);
	return cid_txn_get_json(txn, CID_DB_PSEUDONYMS, cid_str_of(pkey), out);
}

static enum cid_err names_cb(struct cid_str key, struct cid_str val, void *arg)
{
	(void)key;
	if (val.len != CID_PSEUDONYM_CHARS)
		return CID_ERR_STORE;
	return json_array_append_new(arg, json_stringn(val.ptr, val.len)) == 0 ? CID_OK
									       : CID_ERR_NOMEM;
}

enum cid_err cid_pseudonym_names(struct cid_txn *txn, const char *account, json_t **out)
{
	enum cid_err rc = CID_OK;
	char prefix[2 + CID_AUDIT_MAX_NAME + 2];
	json_t *names = NULL;
	int n;

	CID_ENSURE(account != NULL && account[0] != '\0' && part_ok(account) && out != NULL,
		   CID_ERR_INVALID);
	n = snprintf(prefix, sizeof(prefix), "a\n%s\n", account);
	CID_ENSURE(n > 0 && (size_t)n < sizeof(prefix), CID_ERR_INVALID);
	names = json_pack("[s]", account);
	CID_ENSURE(names != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_txn_foreach(txn, CID_DB_PSEUDONYMS, (struct cid_str){prefix, (size_t)n},
				names_cb, names));
	*out = names;
	names = NULL;
out:
	json_decref(names);
	return rc;
}

/* A key "a\n" account "\n" service "\n" purpose names a purpose unless it ends in "\n". */
static enum cid_err purposed_cb(struct cid_str key, struct cid_str val, void *arg)
{
	(void)val;
	if (key.len > 0 && key.ptr[key.len - 1] != '\n')
		*(bool *)arg = true;
	return CID_OK;
}

enum cid_err cid_pseudonym_purposed(struct cid_txn *txn, const char *account, bool *any)
{
	enum cid_err rc = CID_OK;
	char prefix[2 + CID_AUDIT_MAX_NAME + 2];
	int n;

	CID_ENSURE(account != NULL && account[0] != '\0' && part_ok(account) && any != NULL,
		   CID_ERR_INVALID);
	*any = false;
	n = snprintf(prefix, sizeof(prefix), "a\n%s\n", account);
	CID_ENSURE(n > 0 && (size_t)n < sizeof(prefix), CID_ERR_INVALID);
	rc = cid_txn_foreach(txn, CID_DB_PSEUDONYMS, (struct cid_str){prefix, (size_t)n},
			     purposed_cb, any);
out:
	return rc;
}

enum cid_err cid_pseudonym_purge(struct cid_txn *txn, const char *p, bool *purged)
{
	enum cid_err rc = CID_OK;
	char pkey[2 + CID_PSEUDONYM_CHARS + 1];
	char key[SCOPE_KEY_MAX];
	json_t *scope = NULL;
	size_t klen;

	CID_ENSURE(cid_pseudonym_syntax_ok(p) && purged != NULL, CID_ERR_INVALID);
	*purged = false;
	snprintf(pkey, sizeof(pkey), "p\n%s", p);
	rc = cid_txn_get_json(txn, CID_DB_PSEUDONYMS, cid_str_of(pkey), &scope);
	if (rc == CID_ERR_NOTFOUND) {
		rc = CID_OK; /* purged already */
		goto out;
	}
	CID_TRY(rc);
	klen = scope_key(cid_json_str(scope, "citizen"), cid_json_str(scope, "service"),
			 cid_json_str(scope, "purpose"), key);
	CID_ENSURE(klen > 0, CID_ERR_STORE);
	CID_TRY(cid_txn_del(txn, CID_DB_PSEUDONYMS, cid_str_of(pkey)));
	rc = cid_txn_del(txn, CID_DB_PSEUDONYMS, (struct cid_str){key, klen});
	CID_ENSURE(rc == CID_OK || rc == CID_ERR_NOTFOUND, rc);
	rc = CID_OK;
	*purged = true;
out:
	json_decref(scope);
	return rc;
}
