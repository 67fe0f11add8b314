/*
 * logins: the window of a citizen's latest login attempts, one record per
 * citizen. The window is trimmed on every write, so a record never holds
 * more than CID_LOGINS_KEEP attempts whatever happened before, and a record
 * that does not read is started again rather than refusing a login over it.
 */
#include "logins.h"

#include "str.h"

#include <jansson.h>
#include <string.h>

static bool method_ok(const char *method)
{
	return method != NULL &&
	       (strcmp(method, CID_LOGIN_PASSWORD) == 0 || strcmp(method, CID_LOGIN_CODE) == 0);
}

static bool id_ok(const char *account_id)
{
	return account_id != NULL && strnlen(account_id, CID_ID_CHARS + 1) == CID_ID_CHARS;
}

enum cid_err cid_logins_put_txn(struct cid_txn *txn, const char *account_id, int64_t at, bool ok,
				const char *method, const char *ua)
{
	enum cid_err rc = CID_OK;
	char device[CID_UA_LABEL_MAX];
	json_t *rec = NULL;
	json_t *list;

	CID_ENSURE(id_ok(account_id) && method_ok(method), CID_ERR_INVALID);
	/* a login step that raced the account's deletion records nothing of it */
	rc = cid_txn_get(txn, CID_DB_CITIZENS, cid_str_of(account_id), &(struct cid_str){0});
	if (rc == CID_ERR_NOTFOUND) {
		rc = CID_OK;
		goto out;
	}
	CID_TRY(rc);
	cid_useragent_label(ua, device);
	rc = cid_txn_get_json(txn, CID_DB_LOGINS, cid_str_of(account_id), &rec);
	/* none yet (NOTFOUND) or damaged (STORE) alike: the window starts again below */
	CID_ENSURE(rc == CID_OK || rc == CID_ERR_NOTFOUND || rc == CID_ERR_STORE, rc);
	list = json_object_get(rec, "logins");
	if (!json_is_array(list)) {
		json_decref(rec);
		rec = json_pack("{s:[]}", "logins");
		CID_ENSURE(rec != NULL, CID_ERR_NOMEM);
		list = json_object_get(rec, "logins");
	}
	CID_ENSURE(json_array_append_new(list, json_pack("{s:I, s:b, s:s, s:s}", "at",
							 (json_int_t)at, "ok", ok, "method", method,
							 "device", device)) == 0,
		   CID_ERR_NOMEM);
	while (json_array_size(list) > CID_LOGINS_KEEP)
		CID_ENSURE(json_array_remove(list, 0) == 0, CID_ERR_NOMEM);
	CID_TRY(cid_txn_put_json(txn, CID_DB_LOGINS, cid_str_of(account_id), rec, 0));
out:
	json_decref(rec);
	return rc;
}

struct put {
	const char *account_id;
	int64_t at;
	bool ok;
	const char *method;
	const char *ua;
};

static enum cid_err put_cb(struct cid_txn *txn, void *arg)
{
	const struct put *p = arg;

	return cid_logins_put_txn(txn, p->account_id, p->at, p->ok, p->method, p->ua);
}

enum cid_err cid_logins_put(struct cid_store *s, const char *account_id, int64_t at, bool ok,
			    const char *method, const char *ua)
{
	struct put p = {account_id, at, ok, method, ua};

	if (!id_ok(account_id) || !method_ok(method))
		return CID_ERR_INVALID;
	return cid_store_update(s, put_cb, &p);
}

/* One stored attempt into *l; false if it does not read. */
static bool from_entry(const json_t *e, struct cid_login *l)
{
	const char *method = cid_json_str(e, "method");
	const char *device = cid_json_str(e, "device");

	if (!json_is_integer(json_object_get(e, "at")) ||
	    !json_is_boolean(json_object_get(e, "ok")) || !method_ok(method) || device == NULL ||
	    strlen(device) >= sizeof(l->device))
		return false;
	memset(l, 0, sizeof(*l));
	l->at = (int64_t)json_integer_value(json_object_get(e, "at"));
	l->ok = json_is_true(json_object_get(e, "ok"));
	memcpy(l->method, method, strlen(method) + 1);
	memcpy(l->device, device, strlen(device) + 1);
	return true;
}

enum cid_err cid_logins_delete_txn(struct cid_txn *txn, const char *account_id)
{
	enum cid_err rc;

	if (account_id == NULL)
		return CID_ERR_INVALID;
	if (!id_ok(account_id))
		return CID_OK; /* no such id can have attempts */
	rc = cid_txn_del(txn, CID_DB_LOGINS, cid_str_of(account_id));
	return rc == CID_ERR_NOTFOUND ? CID_OK : rc;
}

enum cid_err cid_logins_list(struct cid_store *s, const char *account_id,
			     struct cid_login out[CID_LOGINS_KEEP], size_t *n)
{
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;
	json_t *rec = NULL;
	const json_t *list;
	size_t got = 0;

	CID_ENSURE(account_id != NULL, CID_ERR_INVALID);
	*n = 0;
	if (!id_ok(account_id))
		goto out; /* no such id can have attempts */
	CID_TRY(cid_store_read_begin(s, &txn));
	rc = cid_txn_get_json(txn, CID_DB_LOGINS, cid_str_of(account_id), &rec);
	if (rc == CID_ERR_NOTFOUND) {
		rc = CID_OK;
		goto out;
	}
	CID_TRY(rc);
	list = json_object_get(rec, "logins");
	/* newest last in the store, newest first out */
	for (size_t i = json_array_size(list); i > 0 && got < CID_LOGINS_KEEP; i--)
		if (from_entry(json_array_get(list, i - 1), &out[got]))
			got++;
	*n = got;
out:
	cid_store_read_end(txn);
	json_decref(rec);
	return rc;
}
