/*
 * idp_link: the links from an upstream identity to a citizen (idp.h).
 *
 * Invariant: a link's key is the upstream identity (issuer "\n" sub), so
 * "linked to at most one citizen" is what the store's keys are, and every
 * link is read and written in one transaction (link_read, link_txn are the
 * only readers and writers of a link record).
 */
#include "idp.h"

#include "account.h"
#include "idp_int.h"
#include "str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The store key of a link: issuer "\n" sub, into key (CID_IDP_MAX_ISSUER + 1 +
 * CID_IDP_MAX_SUB + 1 bytes); false when either is malformed. */
#define LINK_KEY_MAX (CID_IDP_MAX_ISSUER + 1 + CID_IDP_MAX_SUB + 1)

static bool link_key(const char *issuer, const char *sub, char key[LINK_KEY_MAX], size_t *len)
{
	if (!idp_printable(issuer, CID_IDP_MAX_ISSUER, false) ||
	    !idp_printable(sub, CID_IDP_MAX_SUB, false))
		return false;
	*len = (size_t)snprintf(key, LINK_KEY_MAX, "%s\n%s", issuer, sub);
	return true;
}

/*
 * The citizen the link under key is to, read in txn into account (may be
 * NULL). Errors: CID_ERR_NOTFOUND, CID_ERR_STORE (a link without a
 * citizen's id: the store is damaged).
 */
static enum cid_err link_read(struct cid_txn *txn, struct cid_str key,
			      char account[CID_ID_CHARS + 1])
{
	enum cid_err rc = CID_OK;
	json_t *rec = NULL;
	const char *id;

	CID_TRY(cid_txn_get_json(txn, CID_DB_IDP_LINKS, key, &rec));
	id = cid_json_str(rec, "account");
	CID_ENSURE(id != NULL && strlen(id) == CID_ID_CHARS, CID_ERR_STORE);
	if (account != NULL)
		memcpy(account, id, CID_ID_CHARS + 1);
out:
	json_decref(rec);
	return rc;
}

enum cid_err cid_idp_link_get(struct cid_store *s, const char *issuer, const char *sub,
			      char account[CID_ID_CHARS + 1])
{
	enum cid_err rc = CID_OK;
	char key[LINK_KEY_MAX];
	size_t len = 0;
	struct cid_txn *txn = NULL;

	if (!link_key(issuer, sub, key, &len))
		return CID_ERR_NOTFOUND;
	CID_TRY(cid_store_read_begin(s, &txn));
	rc = link_read(txn, (struct cid_str){key, len}, account);
	cid_store_read_end(txn);
out:
	return rc;
}

/* cid_idp_link in the write transaction txn: the one rule of writing a link. */
static enum cid_err link_txn(struct cid_txn *txn, struct cid_str key, const char *account,
			     int64_t now)
{
	enum cid_err rc = CID_OK;
	char linked[CID_ID_CHARS + 1];
	json_t *rec = NULL;
	struct cid_account *citizen = NULL;

	rc = link_read(txn, key, linked);
	if (rc == CID_OK) {
		/* one upstream identity, one citizen: linked again to the same is no change */
		rc = strcmp(linked, account) == 0 ? CID_OK : CID_ERR_EXISTS;
		goto out;
	}
	CID_ENSURE(rc == CID_ERR_NOTFOUND, rc);
	CID_TRY(cid_account_get_txn(txn, account, &citizen));
	/* checked where it is written: one disabled after the caller looked gets no link */
	CID_ENSURE(citizen->active, CID_ERR_DISABLED);
	rec = json_pack("{s:s, s:I}", "account", account, "linked_at", (json_int_t)now);
	CID_ENSURE(rec != NULL, CID_ERR_NOMEM);
	rc = cid_txn_put_json(txn, CID_DB_IDP_LINKS, key, rec, CID_PUT_NOOVERWRITE);
out:
	cid_account_free(citizen);
	json_decref(rec);
	return rc;
}

struct link_arg {
	struct cid_str key;
	const char *account;
	int64_t now;
};

static enum cid_err link_cb(struct cid_txn *txn, void *arg)
{
	const struct link_arg *a = arg;

	return link_txn(txn, a->key, a->account, a->now);
}

enum cid_err cid_idp_link(struct cid_store *s, const char *issuer, const char *sub,
			  const char *account, int64_t now)
{
	char key[LINK_KEY_MAX];
	size_t len = 0;
	struct link_arg a;

	if (!link_key(issuer, sub, key, &len))
		return CID_ERR_INVALID;
	a = (struct link_arg){{key, len}, account, now};
	return cid_store_update(s, link_cb, &a);
}

struct link_or_create_arg {
	struct cid_str key;
	const struct cid_account_draft *draft;
	int64_t now;
	char account[CID_ID_CHARS + 1]; /* out: the citizen linked */
};

static enum cid_err link_or_create_cb(struct cid_txn *txn, void *arg)
{
	struct link_or_create_arg *a = arg;
	enum cid_err rc = link_read(txn, a->key, a->account);

	/* linked already (another first login of this identity came first): its citizen */
	if (rc != CID_ERR_NOTFOUND)
		return rc;
	CID_TRY(cid_account_add_txn(txn, a->draft));
	CID_TRY(link_txn(txn, a->key, a->draft->id, a->now));
	memcpy(a->account, a->draft->id, sizeof(a->account));
out:
	return rc;
}

enum cid_err cid_idp_link_or_create(struct cid_store *s, const struct cid_argon2_params *params,
				    const char *issuer, const char *sub, const char *username,
				    const json_t *claims, int64_t now,
				    char account[CID_ID_CHARS + 1])
{
	enum cid_err rc = CID_OK;
	char key[LINK_KEY_MAX];
	size_t len = 0;
	struct cid_account_draft draft = {0};
	struct link_or_create_arg a = {.draft = &draft, .now = now};

	CID_ENSURE(link_key(issuer, sub, key, &len), CID_ERR_INVALID);
	a.key = (struct cid_str){key, len};
	/* the password is hashed before the transaction, even when it then finds a link */
	CID_TRY(cid_account_draft_federated(params, username, claims, now, &draft));
	CID_TRY(cid_store_update(s, link_or_create_cb, &a));
	memcpy(account, a.account, sizeof(a.account));
out:
	cid_account_draft_clear(&draft);
	return rc;
}

struct links_of_arg {
	const char *account;
	json_t *out;
};

static enum cid_err link_of_one(struct cid_str key, struct cid_str val, void *arg)
{
	struct links_of_arg *a = arg;
	json_t *rec = NULL;
	enum cid_err rc = cid_store_parse_json(val, &rec);
	const char *id = cid_json_str(rec, "account");
	const char *nl = memchr(key.ptr, '\n', key.len);

	if (rc == CID_OK && id != NULL && nl != NULL && strcmp(id, a->account) == 0) {
		json_t *row =
		    json_pack("{s:s%, s:s%, s:O}", "issuer", key.ptr, (size_t)(nl - key.ptr), "sub",
			      nl + 1, (size_t)(key.len - (size_t)(nl - key.ptr) - 1), "linked_at",
			      json_object_get(rec, "linked_at"));

		if (row == NULL || json_array_append_new(a->out, row) != 0)
			rc = CID_ERR_NOMEM;
	}
	json_decref(rec);
	return rc;
}

/* cid_idp_links_of in txn (read or write). */
static enum cid_err links_of_txn(struct cid_txn *txn, const char *account, json_t **out)
{
	enum cid_err rc = CID_OK;
	struct links_of_arg a = {account, json_array()};

	CID_ENSURE(a.out != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_txn_foreach(txn, CID_DB_IDP_LINKS, cid_str_of(""), link_of_one, &a));
	*out = a.out;
	a.out = NULL;
out:
	json_decref(a.out);
	return rc;
}

enum cid_err cid_idp_links_of(struct cid_store *s, const char *account, json_t **out)
{
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;

	CID_TRY(cid_store_read_begin(s, &txn));
	rc = links_of_txn(txn, account, out);
	cid_store_read_end(txn);
out:
	return rc;
}

enum cid_err cid_idp_unlink_account_txn(struct cid_txn *txn, const char *account, size_t *n)
{
	enum cid_err rc = CID_OK;
	json_t *links = NULL;
	const json_t *row;
	char key[LINK_KEY_MAX];
	size_t len = 0;
	size_t i;

	CID_ENSURE(account != NULL, CID_ERR_INVALID);
	/* read first, delete after: the walk's cursor is on the database written */
	CID_TRY(links_of_txn(txn, account, &links));
	json_array_foreach(links, i, row)
	{
		CID_ENSURE(
		    link_key(cid_json_str(row, "issuer"), cid_json_str(row, "sub"), key, &len),
		    CID_ERR_STORE);
		CID_TRY(cid_txn_del(txn, CID_DB_IDP_LINKS, (struct cid_str){key, len}));
	}
	if (n != NULL)
		*n = json_array_size(links);
out:
	json_decref(links);
	return rc;
}

/* Counts account's links (a cid_txn_foreach callback over CID_DB_IDP_LINKS). */
struct count_arg {
	const char *account;
	size_t n;
};

static enum cid_err count_one(struct cid_str key, struct cid_str val, void *arg)
{
	struct count_arg *a = arg;
	json_t *rec = NULL;
	enum cid_err rc = cid_store_parse_json(val, &rec);
	const char *id = cid_json_str(rec, "account");

	(void)key;
	if (rc == CID_OK && id != NULL && strcmp(id, a->account) == 0)
		a->n++;
	json_decref(rec);
	return rc;
}

struct unlink_arg {
	struct cid_str key;
	const char *account;
};

static enum cid_err unlink_cb(struct cid_txn *txn, void *arg)
{
	const struct unlink_arg *a = arg;
	enum cid_err rc = CID_OK;
	json_t *rec = NULL;
	struct cid_account *citizen = NULL;
	struct count_arg count = {a->account, 0};
	const char *id;

	CID_TRY(cid_txn_get_json(txn, CID_DB_IDP_LINKS, a->key, &rec));
	id = cid_json_str(rec, "account");
	/* another citizen's link is as unknown as a made-up one */
	CID_ENSURE(id != NULL && strcmp(id, a->account) == 0, CID_ERR_NOTFOUND);
	CID_TRY(cid_account_get_txn(txn, a->account, &citizen));
	CID_TRY(cid_txn_foreach(txn, CID_DB_IDP_LINKS, cid_str_of(""), count_one, &count));
	/* the last way in: a citizen with no password known keeps one link */
	CID_ENSURE(citizen->has_password || count.n > 1, CID_ERR_REFUSED);
	CID_TRY(cid_txn_del(txn, CID_DB_IDP_LINKS, a->key));
out:
	cid_account_free(citizen);
	json_decref(rec);
	return rc;
}

enum cid_err cid_idp_unlink(struct cid_store *s, const char *account, const char *issuer,
			    const char *sub)
{
	char key[LINK_KEY_MAX];
	size_t len = 0;
	struct unlink_arg a;

	if (account == NULL || !link_key(issuer, sub, key, &len))
		return CID_ERR_NOTFOUND;
	a = (struct unlink_arg){{key, len}, account};
	return cid_store_update(s, unlink_cb, &a);
}
