/*
 * token_grants: a citizen's grants, found without reading anyone else's.
 *
 * CID_DB_GRANT_INDEX holds one key per grant, account "\n" client "\n" grant
 * id, written in the transaction that writes the grant, so a citizen's grants
 * of a service are one prefix of it: a withdrawal, which holds the store's one
 * writer, reads those and no other (O(log n + that citizen's grants of the
 * service) instead of every grant of the city), and a citizen's grants of
 * every service are one prefix too (deleting the account; listing the
 * services a citizen has dealt with, one key each: the walk skips past the
 * rest of a service's keys). A grant's citizen
 * and service never change (revoking it sets a member of its record), so the
 * key written with it stays right for good, and a grant is deleted only with
 * its key, when its citizen's account is or when its family has expired
 * (token_sweep.c): the index holds exactly one key per
 * grant, and equal counts of the two databases are its invariant, which cid_grant_index_ensure
 * checks at start in O(1), rebuilding an index that fails it (a store written before the index
 * existed, or one an older build added grants to).
 */
#include "token.h"

#include "bounds.h"
#include "str.h"
#include "token_int.h"

#include <stdio.h>
#include <string.h>

/* account "\n" client "\n" grant id, and its NUL */
#define INDEX_KEY_MAX (CID_ID_CHARS + 1 + CID_MAX_CLIENT_ID + 1 + CID_TOKEN_CHARS + 1)

/*
 * The index key of a grant into key (grant_id NULL: the prefix of the
 * citizen's grants of client_id), its length into *len.
 * Errors: CID_ERR_INVALID (a name missing, empty, too long or holding "\n").
 */
static enum cid_err index_key(const char *account_id, const char *client_id, const char *grant_id,
			      char key[INDEX_KEY_MAX], size_t *len)
{
	int n;

	if (account_id == NULL || client_id == NULL || account_id[0] == '\0' ||
	    client_id[0] == '\0' || strchr(account_id, '\n') != NULL ||
	    strchr(client_id, '\n') != NULL || (grant_id != NULL && grant_id[0] == '\0'))
		return CID_ERR_INVALID;
	n = snprintf(key, INDEX_KEY_MAX, "%s\n%s\n%s", account_id, client_id,
		     grant_id == NULL ? "" : grant_id);
	if (n < 0 || n >= INDEX_KEY_MAX)
		return CID_ERR_INVALID;
	*len = (size_t)n;
	return CID_OK;
}

enum cid_err token_grant_index_put(struct cid_txn *txn, const char *account_id,
				   const char *client_id, const char *grant_id)
{
	enum cid_err rc = CID_OK;
	char key[INDEX_KEY_MAX];
	size_t len = 0;

	CID_ENSURE(grant_id != NULL, CID_ERR_INVALID);
	CID_TRY(index_key(account_id, client_id, grant_id, key, &len));
	CID_TRY(
	    cid_txn_put(txn, CID_DB_GRANT_INDEX, (struct cid_str){key, len}, cid_str_of(""), 0));
out:
	return rc;
}

struct revoke_client {
	const char *account_id;
	const char *client_id;
	int64_t now;
	struct cid_txn *txn;
	size_t prefix_len;
	size_t revoked; /* how many of the grants were live and are now revoked */
};

/*
 * Revokes the grant named at the end of an index key, if live. The cursor
 * walks CID_DB_GRANT_INDEX, the revocation writes CID_DB_GRANTS only.
 */
static enum cid_err revoke_one(struct cid_str key, struct cid_str val, void *arg)
{
	struct revoke_client *rv = arg;
	enum cid_err rc = CID_OK;
	char id[CID_TOKEN_CHARS + 1];
	json_t *grant = NULL;

	(void)val;
	CID_ENSURE(key.len - rv->prefix_len < sizeof(id), CID_ERR_STORE);
	memcpy(id, key.ptr + rv->prefix_len, key.len - rv->prefix_len);
	id[key.len - rv->prefix_len] = '\0';
	rc = token_load_grant(rv->txn, id, &grant);
	CID_ENSURE(rc != CID_ERR_NOTFOUND, CID_ERR_STORE);
	CID_TRY(rc);
	/* the key said whose grant it is: the record must agree */
	CID_ENSURE(cid_str_eq(cid_str_of(cid_json_str(grant, "account_id")), rv->account_id) &&
		       cid_str_eq(cid_str_of(cid_json_str(grant, "client_id")), rv->client_id),
		   CID_ERR_STORE);
	if (!json_is_true(json_object_get(grant, "revoked"))) {
		CID_TRY(token_put_revoked_grant(rv->txn, grant, rv->now));
		rv->revoked++;
	}
out:
	json_decref(grant);
	return rc;
}

static enum cid_err revoke_client_cb(struct cid_txn *txn, void *arg)
{
	struct revoke_client *rv = arg;
	enum cid_err rc = CID_OK;
	char prefix[INDEX_KEY_MAX];

	/* a rerun (the map grew) starts over */
	rv->revoked = 0;
	rv->txn = txn;
	CID_TRY(index_key(rv->account_id, rv->client_id, NULL, prefix, &rv->prefix_len));
	CID_TRY(cid_txn_foreach(txn, CID_DB_GRANT_INDEX, (struct cid_str){prefix, rv->prefix_len},
				revoke_one, rv));
out:
	return rc;
}

enum cid_err cid_grant_revoke_client(struct cid_store *s, const char *account_id,
				     const char *client_id, int64_t now, size_t *n_out)
{
	enum cid_err rc = CID_OK;
	struct revoke_client rv = {.account_id = account_id, .client_id = client_id, .now = now};

	CID_ENSURE(account_id != NULL && client_id != NULL, CID_ERR_INVALID);
	CID_TRY(cid_store_update(s, revoke_client_cb, &rv));
	if (n_out != NULL)
		*n_out = rv.revoked;
out:
	return rc;
}

struct grant_services {
	size_t prefix_len;
	json_t *found; /* the service of the key the walk stopped at */
};

/* Takes the service of the first key it is shown and stops the walk there (CID_ERR_EXISTS). */
static enum cid_err service_of(struct cid_str key, struct cid_str val, void *arg)
{
	struct grant_services *w = arg;
	const char *client = key.ptr + w->prefix_len;
	const char *end;

	(void)val;
	if (key.len <= w->prefix_len)
		return CID_ERR_STORE;
	end = memchr(client, '\n', key.len - w->prefix_len);
	if (end == NULL || end == client || (size_t)(end - client) > CID_MAX_CLIENT_ID)
		return CID_ERR_STORE;
	w->found = json_stringn(client, (size_t)(end - client));
	if (w->found == NULL) /* not UTF-8: no client_id */
		return CID_ERR_STORE;
	return CID_ERR_EXISTS;
}

enum cid_err cid_grant_services(struct cid_store *s, const char *account_id, json_t **out)
{
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;
	struct grant_services w = {0};
	char start[INDEX_KEY_MAX];
	size_t start_len = 0;
	json_t *list = NULL;
	int n;

	CID_ENSURE(account_id != NULL && account_id[0] != '\0' &&
		       strchr(account_id, '\n') == NULL &&
		       strnlen(account_id, CID_ID_CHARS + 1) <= CID_ID_CHARS,
		   CID_ERR_INVALID);
	n = snprintf(start, sizeof(start), "%s\n", account_id);
	CID_ENSURE(n > 0 && (size_t)n < sizeof(start), CID_ERR_INVALID);
	w.prefix_len = (size_t)n;
	list = json_array();
	CID_ENSURE(list != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_store_read_begin(s, &txn));
	for (;;) {
		json_t *found;
		const char *service;
		size_t len;

		/* the first key from start on is the next service's */
		rc = cid_txn_foreach_range(
		    txn, CID_DB_GRANT_INDEX, (struct cid_str){start, w.prefix_len},
		    (struct cid_str){start, start_len}, false, service_of, &w);
		if (rc == CID_OK)
			break; /* no key left: every service is listed */
		/* stopped at a service's first key: the next walk sets rc again */
		CID_ENSURE(rc == CID_ERR_EXISTS && w.found != NULL, rc);
		found = w.found; /* the list's, or freed by a failed append */
		w.found = NULL;
		CID_ENSURE(json_array_append_new(list, found) == 0, CID_ERR_NOMEM);
		service = json_string_value(found);
		/*
		 * past every key of that service: account "\n" service "\v" sorts
		 * after account "\n" service "\n" anything, and before any longer
		 * client_id that begins with this one
		 */
		len = strlen(service);
		CID_ENSURE(w.prefix_len + len + 1 < sizeof(start), CID_ERR_STORE);
		memcpy(start + w.prefix_len, service, len);
		start[w.prefix_len + len] = '\n' + 1;
		start_len = w.prefix_len + len + 1;
	}
	*out = list;
	list = NULL;
out:
	cid_store_read_end(txn);
	json_decref(w.found);
	json_decref(list);
	return rc;
}

struct delete_account {
	size_t prefix_len;
	json_t *ids; /* the grant ids found under the prefix */
};

/* Collects the grant id at the end of an index key (the walk writes nothing). */
static enum cid_err collect_one(struct cid_str key, struct cid_str val, void *arg)
{
	struct delete_account *d = arg;
	json_t *id;
	size_t n = 0;

	(void)val;
	/* account "\n" client "\n" grant id: the grant id follows the last newline */
	while (n < key.len && key.ptr[key.len - 1 - n] != '\n')
		n++;
	if (n == 0 || n > CID_TOKEN_CHARS || key.len - n < d->prefix_len + 2)
		return CID_ERR_STORE;
	id = json_stringn(key.ptr + key.len - n, n);
	if (id == NULL) /* not UTF-8: no grant id */
		return CID_ERR_STORE;
	return json_array_append_new(d->ids, id) == 0 ? CID_OK : CID_ERR_NOMEM;
}

enum cid_err token_grant_del(struct cid_txn *txn, const json_t *grant)
{
	enum cid_err rc = CID_OK;
	const char *id = cid_json_str(grant, "grant_id");
	char key[INDEX_KEY_MAX];
	size_t len = 0;

	CID_ENSURE(id != NULL, CID_ERR_STORE);
	rc = index_key(cid_json_str(grant, "account_id"), cid_json_str(grant, "client_id"), id, key,
		       &len);
	CID_ENSURE(rc != CID_ERR_INVALID, CID_ERR_STORE);
	CID_TRY(rc);
	CID_TRY(cid_txn_del(txn, CID_DB_GRANTS, cid_str_of(id)));
	CID_TRY(cid_txn_del(txn, CID_DB_GRANT_INDEX, (struct cid_str){key, len}));
out:
	return rc;
}

/* Deletes grant id of account_id and its index key; the record must be the citizen's. */
static enum cid_err delete_grant(struct cid_txn *txn, const char *account_id, const char *id)
{
	enum cid_err rc = CID_OK;
	json_t *grant = NULL;

	rc = token_load_grant(txn, id, &grant);
	CID_ENSURE(rc != CID_ERR_NOTFOUND, CID_ERR_STORE);
	CID_TRY(rc);
	/* the key said whose grant it is: the record must agree */
	CID_ENSURE(cid_str_eq(cid_str_of(cid_json_str(grant, "account_id")), account_id),
		   CID_ERR_STORE);
	CID_TRY(token_grant_del(txn, grant));
out:
	json_decref(grant);
	return rc;
}

enum cid_err cid_grant_delete_account_txn(struct cid_txn *txn, const char *account_id,
					  size_t *n_out)
{
	enum cid_err rc = CID_OK;
	struct delete_account d = {0};
	char prefix[CID_ID_CHARS + 2];
	size_t i;
	const json_t *id;

	CID_ENSURE(account_id != NULL && strnlen(account_id, CID_ID_CHARS + 1) == CID_ID_CHARS,
		   CID_ERR_INVALID);
	d.prefix_len = (size_t)snprintf(prefix, sizeof(prefix), "%s\n", account_id);
	d.ids = json_array();
	CID_ENSURE(d.ids != NULL, CID_ERR_NOMEM);
	/* read first, delete after: the walk's cursor is on the index it would delete from */
	CID_TRY(cid_txn_foreach(txn, CID_DB_GRANT_INDEX, (struct cid_str){prefix, d.prefix_len},
				collect_one, &d));
	json_array_foreach(d.ids, i, id)
	    CID_TRY(delete_grant(txn, account_id, json_string_value(id)));
	if (n_out != NULL)
		*n_out = json_array_size(d.ids);
out:
	json_decref(d.ids);
	return rc;
}

/* Writes the index key of one grant record. */
static enum cid_err index_one(struct cid_txn *txn, struct cid_str key, struct cid_str val,
			      void *arg)
{
	enum cid_err rc = CID_OK;
	char id[CID_TOKEN_CHARS + 1];
	json_t *grant = NULL;

	(void)arg;
	CID_ENSURE(key.len < sizeof(id), CID_ERR_STORE);
	memcpy(id, key.ptr, key.len);
	id[key.len] = '\0';
	CID_TRY(cid_store_parse_json(val, &grant));
	rc = token_grant_index_put(txn, cid_json_str(grant, "account_id"),
				   cid_json_str(grant, "client_id"), id);
	/* a record without its citizen or service is damaged */
	CID_ENSURE(rc != CID_ERR_INVALID, CID_ERR_STORE);
	CID_TRY(rc);
out:
	json_decref(grant);
	return rc;
}

enum cid_err cid_grant_index_ensure(struct cid_store *s, size_t *built)
{
	return cid_store_index_ensure(s, CID_DB_GRANTS, CID_DB_GRANT_INDEX, 1, index_one, NULL,
				      built);
}
