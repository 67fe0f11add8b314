/*
 * account: citizens and their attributes.
 *
 * Every attribute is checked against the claim table (account_claims.c)
 * before it is stored. A citizen record and its username index entry change in the same write
 * transaction. Passwords and the login's throttling are in
 * account_password.c, the second factor (TOTP) in account_totp.c.
 *
 * Disabling a citizen revokes everything they hold without finding it: the
 * record's generation moves on, and grants and sessions, which carry the
 * generation they were made in, check it at every use (cid_account_live).
 * That is one write however many grants there are, and it cannot be undone
 * by enabling the citizen again.
 */
#include "account.h"

#include "account_int.h"
#include "bounds.h"
#include "str.h"
#include "throttle.h"

#include <stdlib.h>
#include <string.h>

/* A letter or digit of ASCII. */
static bool is_alnum(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool account_username_ok(const char *u)
{
	size_t n = u == NULL ? 0 : strnlen(u, CID_MAX_USERNAME + 1);

	if (n == 0 || n > CID_MAX_USERNAME)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(u[i]) && u[i] != '.' && u[i] != '_' && u[i] != '@' && u[i] != '-')
			return false;
	return true;
}

static void account_ref(void *a)
{
	atomic_fetch_add(&((struct cid_account *)a)->refs, 1);
}

static void account_unref(void *a)
{
	cid_account_free(a);
}

/* A typed citizen is a function of the record's bytes: the store's memo keeps it. */
static const struct cid_memo_kind account_kind = {account_ref, account_unref};

static struct cid_memo *account_memo(struct cid_txn *txn)
{
	return cid_store_memo(cid_txn_store(txn), CID_DB_CITIZENS, &account_kind);
}

/* The citizen record of id as stored, borrowed from txn. Errors: those of account_load_record. */
static enum cid_err account_record_bytes(struct cid_txn *txn, const char *id, struct cid_str *val)
{
	if (id == NULL || strnlen(id, CID_ID_CHARS + 1) != CID_ID_CHARS)
		return CID_ERR_NOTFOUND;
	return cid_txn_get(txn, CID_DB_CITIZENS, (struct cid_str){id, CID_ID_CHARS}, val);
}

enum cid_err account_load_record(struct cid_txn *txn, const char *id, json_t **out)
{
	if (id == NULL || strnlen(id, CID_ID_CHARS + 1) != CID_ID_CHARS)
		return CID_ERR_NOTFOUND;
	return cid_txn_get_json(txn, CID_DB_CITIZENS, (struct cid_str){id, CID_ID_CHARS}, out);
}

enum cid_err account_load_by_username(struct cid_txn *txn, const char *username, json_t **out)
{
	enum cid_err rc = CID_OK;
	json_t *ref = NULL;

	CID_ENSURE(account_username_ok(username), CID_ERR_NOTFOUND);
	CID_TRY(cid_txn_get_json(txn, CID_DB_USERNAMES, cid_str_of(username), &ref));
	rc = account_load_record(txn, cid_json_str(ref, "id"), out);
	/* an index entry without its record means the store is damaged */
	if (rc == CID_ERR_NOTFOUND)
		rc = CID_ERR_STORE;
out:
	json_decref(ref);
	return rc;
}

enum cid_err cid_account_add_txn(struct cid_txn *txn, const struct cid_account_draft *d)
{
	enum cid_err rc = CID_OK;
	json_t *ref = NULL;

	CID_ENSURE(d->record != NULL, CID_ERR_INVALID);
	ref = json_pack("{s:s}", "id", d->id);
	CID_ENSURE(ref != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_txn_put_json(txn, CID_DB_USERNAMES,
				 cid_str_of(cid_json_str(d->record, "username")), ref,
				 CID_PUT_NOOVERWRITE));
	CID_TRY(cid_txn_put_json(txn, CID_DB_CITIZENS, (struct cid_str){d->id, CID_ID_CHARS},
				 d->record, CID_PUT_NOOVERWRITE));
out:
	json_decref(ref);
	return rc;
}

static enum cid_err add_cb(struct cid_txn *txn, void *arg)
{
	return cid_account_add_txn(txn, arg);
}

/* The draft of cid_account_add, and of cid_account_draft_federated with no_password
 * (the record says so). */
static enum cid_err draft(const struct cid_argon2_params *params, const char *username,
			  const char *password, bool no_password, const json_t *claims, int64_t now,
			  struct cid_account_draft *d)
{
	enum cid_err rc = CID_OK;
	char id[CID_ID_CHARS + 1];
	char hash[CID_PASSWORD_HASH_MAX] = "";
	size_t pwlen = password == NULL ? 0 : strnlen(password, CID_MAX_PASSWORD + 1);
	json_t *copy = NULL;
	json_t *record = NULL;

	CID_ENSURE(account_username_ok(username), CID_ERR_INVALID);
	CID_ENSURE(cid_account_password_ok(password), CID_ERR_INVALID);
	/* a private copy: the caller's object is const, and updated_at is added to it */
	copy = claims == NULL ? json_object() : json_deep_copy(claims);
	CID_ENSURE(copy != NULL, CID_ERR_NOMEM);
	CID_TRY(account_claims_ok(copy, false));
	CID_ENSURE(json_object_set_new(copy, "updated_at", json_integer(now)) == 0, CID_ERR_NOMEM);
	CID_ENSURE(json_object_size(copy) <= CID_MAX_CLAIMS, CID_ERR_TOOBIG);
	CID_TRY(cid_random_uuid(id));
	CID_TRY(cid_password_hash(params, password, pwlen, hash));
	record = json_pack("{s:s, s:s, s:s, s:b, s:O, s:I, s:I}", "id", id, "username", username,
			   "password", hash, "disabled", 0, "claims", copy, "created_at",
			   (json_int_t)now, "updated_at", (json_int_t)now);
	CID_ENSURE(record != NULL, CID_ERR_NOMEM);
	if (no_password)
		CID_ENSURE(json_object_set_new(record, "no_password", json_true()) == 0,
			   CID_ERR_NOMEM);
	memcpy(d->id, id, sizeof(id));
	d->record = record;
	record = NULL;
out:
	cid_wipe(hash, sizeof(hash));
	json_decref(copy);
	json_decref(record);
	return rc;
}

enum cid_err cid_account_add(struct cid_store *s, const struct cid_argon2_params *params,
			     const char *username, const char *password, const json_t *claims,
			     int64_t now, char id_out[CID_ID_CHARS + 1])
{
	enum cid_err rc = CID_OK;
	struct cid_account_draft d = {0};

	CID_TRY(draft(params, username, password, false, claims, now, &d));
	CID_TRY(cid_store_update(s, add_cb, &d));
	memcpy(id_out, d.id, sizeof(d.id));
out:
	cid_account_draft_clear(&d);
	return rc;
}

enum cid_err cid_account_draft_federated(const struct cid_argon2_params *params,
					 const char *username, const json_t *claims, int64_t now,
					 struct cid_account_draft *out)
{
	enum cid_err rc = CID_OK;
	char password[CID_TOKEN_CHARS + 1];

	/* a random password nobody knows: the account is entered through its upstream */
	CID_TRY(cid_random_token(password));
	rc = draft(params, username, password, true, claims, now, out);
out:
	cid_wipe(password, sizeof(password));
	return rc;
}

void cid_account_draft_clear(struct cid_account_draft *d)
{
	json_decref(d->record);
	d->record = NULL;
}

bool cid_account_active(const json_t *record)
{
	return json_is_false(json_object_get(record, "disabled"));
}

/* The "generation" of a citizen record into *out, 0 when absent. Errors: CID_ERR_STORE. */
static enum cid_err record_generation(const json_t *record, int64_t *out)
{
	const json_t *g = json_object_get(record, "generation");

	if (g == NULL) {
		*out = 0;
		return CID_OK;
	}
	if (!json_is_integer(g) || json_integer_value(g) < 0)
		return CID_ERR_STORE;
	*out = (int64_t)json_integer_value(g);
	return CID_OK;
}

enum cid_err cid_account_generation(struct cid_txn *txn, const char *account_id, int64_t *out)
{
	enum cid_err rc = CID_OK;
	struct cid_str val;
	struct cid_account *a = NULL;
	json_t *record = NULL;
	int64_t generation = 0;

	/* a citizen read before from the same record answers without a parse */
	CID_TRY(account_record_bytes(txn, account_id, &val));
	a = cid_memo_get(account_memo(txn), cid_str_of(account_id), val);
	if (a != NULL) {
		CID_ENSURE(a->active, CID_ERR_DISABLED);
		*out = a->generation;
		goto out;
	}
	CID_TRY(cid_store_parse_json(val, &record));
	CID_ENSURE(cid_account_active(record), CID_ERR_DISABLED);
	CID_TRY(record_generation(record, &generation));
	/* a record good enough for the typed citizen is remembered as one */
	if (cid_account_from_record(record, &a) == CID_OK)
		cid_memo_put(account_memo(txn), cid_str_of(account_id), val, a);
	*out = generation;
out:
	cid_account_free(a);
	json_decref(record);
	return rc;
}

enum cid_err cid_account_live(struct cid_txn *txn, const char *account_id, int64_t generation)
{
	int64_t current = 0;
	enum cid_err rc = cid_account_generation(txn, account_id, &current);

	if (rc == CID_OK && current != generation)
		rc = CID_ERR_REVOKED;
	return rc;
}

bool cid_account_has_totp(const json_t *record)
{
	return json_is_object(json_object_get(record, "totp")) ||
	       json_is_true(json_object_get(record, "totp_enrolled"));
}

/* Removes the password hash and the TOTP secrets: they never leave this module. */
static enum cid_err strip(json_t *record)
{
	bool totp = cid_account_has_totp(record);

	json_object_del(record, "password");
	json_object_del(record, "totp");
	json_object_del(record, "totp_pending");
	return json_object_set_new(record, "totp_enrolled", json_boolean(totp)) == 0
		   ? CID_OK
		   : CID_ERR_NOMEM;
}

/* A copy of the string member name of record into out[outsz]; false if absent or too long. */
static bool copy_member(const json_t *record, const char *name, char *out, size_t outsz)
{
	const char *v = cid_json_str(record, name);
	size_t n = v == NULL ? 0 : strnlen(v, outsz);

	if (v == NULL || n == outsz)
		return false;
	memcpy(out, v, n + 1);
	return true;
}

/* A time member of record, 0 when absent. Errors: CID_ERR_STORE (not an integer). */
static enum cid_err record_time(const json_t *record, const char *name, int64_t *out)
{
	const json_t *t = json_object_get(record, name);

	if (t != NULL && !json_is_integer(t))
		return CID_ERR_STORE;
	*out = t == NULL ? 0 : (int64_t)json_integer_value(t);
	return CID_OK;
}

enum cid_err cid_account_from_record(const json_t *record, struct cid_account **out)
{
	enum cid_err rc = CID_OK;
	const json_t *claims = json_object_get(record, "claims");
	const json_t *verified = json_object_get(record, "verified");
	struct cid_account *a = calloc(1, sizeof(*a));

	CID_ENSURE(a != NULL, CID_ERR_NOMEM);
	atomic_init(&a->refs, 1);
	CID_ENSURE(json_is_object(record) && copy_member(record, "id", a->id, sizeof(a->id)) &&
		       cid_uuid_syntax_ok(a->id) &&
		       copy_member(record, "username", a->username, sizeof(a->username)) &&
		       a->username[0] != '\0' && (claims == NULL || json_is_object(claims)) &&
		       (verified == NULL || json_is_object(verified)),
		   CID_ERR_STORE);
	CID_TRY(record_generation(record, &a->generation));
	CID_TRY(record_time(record, "created_at", &a->created_at));
	CID_TRY(record_time(record, "updated_at", &a->updated_at));
	a->active = cid_account_active(record);
	a->has_totp = cid_account_has_totp(record);
	a->has_password = !json_is_true(json_object_get(record, "no_password"));
	a->claims = claims == NULL ? json_object() : json_deep_copy(claims);
	a->verified = verified == NULL ? json_object() : json_deep_copy(verified);
	CID_ENSURE(a->claims != NULL && a->verified != NULL, CID_ERR_NOMEM);
	*out = a;
	a = NULL;
out:
	cid_account_free(a);
	return rc;
}

void cid_account_free(struct cid_account *a)
{
	if (a == NULL || atomic_fetch_sub(&a->refs, 1) > 1)
		return;
	json_decref(a->claims);
	json_decref(a->verified);
	free(a);
}

enum cid_err cid_account_get_txn(struct cid_txn *txn, const char *id, struct cid_account **out)
{
	enum cid_err rc = CID_OK;
	struct cid_str val;
	struct cid_account *a;
	json_t *record = NULL;

	CID_TRY(account_record_bytes(txn, id, &val));
	a = cid_memo_get(account_memo(txn), cid_str_of(id), val);
	if (a == NULL) {
		CID_TRY(cid_store_parse_json(val, &record));
		CID_TRY(cid_account_from_record(record, &a));
		cid_memo_put(account_memo(txn), cid_str_of(id), val, a);
	}
	*out = a;
out:
	json_decref(record);
	return rc;
}

enum cid_err cid_account_exists_txn(struct cid_txn *txn, const char *id, bool *exists)
{
	struct cid_str val;
	enum cid_err rc = account_record_bytes(txn, id, &val);

	*exists = rc == CID_OK;
	return rc == CID_ERR_NOTFOUND ? CID_OK : rc;
}

enum cid_err cid_account_get(struct cid_store *s, const char *id, struct cid_account **out)
{
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;

	CID_TRY(cid_store_read_begin(s, &txn));
	CID_TRY(cid_account_get_txn(txn, id, out));
out:
	cid_store_read_end(txn);
	return rc;
}

enum cid_err cid_account_find_txn(struct cid_txn *txn, const char *username,
				  struct cid_account **out)
{
	enum cid_err rc = CID_OK;
	json_t *record = NULL;

	CID_TRY(account_load_by_username(txn, username, &record));
	CID_TRY(cid_account_from_record(record, out));
out:
	json_decref(record);
	return rc;
}

enum cid_err cid_account_find(struct cid_store *s, const char *username, struct cid_account **out)
{
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;

	CID_TRY(cid_store_read_begin(s, &txn));
	CID_TRY(cid_account_find_txn(txn, username, out));
out:
	cid_store_read_end(txn);
	return rc;
}

enum cid_err cid_account_show(struct cid_store *s, const char *username, json_t **out)
{
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;
	json_t *record = NULL;

	CID_TRY(cid_store_read_begin(s, &txn));
	CID_TRY(account_load_by_username(txn, username, &record));
	CID_TRY(strip(record));
	*out = record;
	record = NULL;
out:
	cid_store_read_end(txn);
	json_decref(record);
	return rc;
}

struct list {
	struct cid_txn *txn;
	json_t *array;
};

static enum cid_err list_one(struct cid_str key, struct cid_str val, void *arg)
{
	struct list *l = arg;
	enum cid_err rc = CID_OK;
	json_t *ref = NULL;
	json_t *record = NULL;

	(void)key;
	CID_TRY(cid_store_parse_json(val, &ref));
	rc = account_load_record(l->txn, cid_json_str(ref, "id"), &record);
	CID_ENSURE(rc != CID_ERR_NOTFOUND, CID_ERR_STORE);
	CID_TRY(rc);
	CID_TRY(strip(record));
	CID_ENSURE(json_array_append_new(l->array, record) == 0, CID_ERR_NOMEM);
	record = NULL;
out:
	json_decref(ref);
	json_decref(record);
	return rc;
}

enum cid_err cid_account_list(struct cid_store *s, json_t **out)
{
	enum cid_err rc = CID_OK;
	struct list l = {.array = json_array()};

	CID_ENSURE(l.array != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_store_read_begin(s, &l.txn));
	/* the index is keyed by username, so its order is the listing's */
	CID_TRY(cid_txn_foreach(l.txn, CID_DB_USERNAMES, (struct cid_str){NULL, 0}, list_one, &l));
	*out = l.array;
	l.array = NULL;
out:
	cid_store_read_end(l.txn);
	json_decref(l.array);
	return rc;
}

static enum cid_err merge_claims(json_t *record, json_t *changes, int64_t now)
{
	json_t *claims = json_object_get(record, "claims");
	const char *name;
	json_t *value;

	if (!json_is_object(claims)) {
		claims = json_object();
		if (claims == NULL || json_object_set_new(record, "claims", claims) != 0)
			return CID_ERR_NOMEM;
	}
	json_object_foreach(changes, name, value)
	{
		if (json_is_null(value))
			json_object_del(claims, name);
		else if (json_object_set(claims, name, value) != 0)
			return CID_ERR_NOMEM;
	}
	if (json_object_set_new(claims, "updated_at", json_integer(now)) != 0)
		return CID_ERR_NOMEM;
	return json_object_size(claims) <= CID_MAX_CLAIMS ? CID_OK : CID_ERR_TOOBIG;
}

/*
 * Sets "disabled"; a change of state starts a new generation, which kills
 * every grant and session of the old one (cid_account_live). A record without
 * a valid "disabled" was not active, so enabling it is a change too.
 */
static enum cid_err set_disabled(json_t *record, bool disabled)
{
	enum cid_err rc = CID_OK;
	int64_t generation = 0;

	if (cid_account_active(record) == disabled) {
		CID_TRY(record_generation(record, &generation));
		CID_ENSURE(json_object_set_new(record, "generation",
					       json_integer((json_int_t)generation + 1)) == 0,
			   CID_ERR_NOMEM);
	}
	CID_ENSURE(json_object_set_new(record, "disabled", json_boolean(disabled)) == 0,
		   CID_ERR_NOMEM);
out:
	return rc;
}

enum cid_err account_clear_code_counter(struct cid_txn *txn, const char *id)
{
	struct cid_throttle_key k = {0};

	cid_throttle_key_code(&k, CID_THROTTLE_CITIZEN, id);
	return cid_throttle_clear(txn, &k);
}

enum cid_err account_change_cb(struct cid_txn *txn, void *arg)
{
	struct change *c = arg;
	enum cid_err rc = CID_OK;
	json_t *record = NULL;

	CID_TRY(account_load_by_username(txn, c->username, &record));
	if (c->drop_totp || c->unlock_totp) {
		CID_ENSURE(json_object_get(record, "totp") != NULL, CID_ERR_NOTFOUND);
		CID_TRY(account_clear_code_counter(txn, cid_json_str(record, "id")));
	}
	if (c->drop_totp)
		CID_ENSURE(json_object_del(record, "totp") == 0, CID_ERR_NOMEM);
	if (c->claims != NULL)
		CID_TRY(merge_claims(record, c->claims, c->now));
	if (c->disabled >= 0)
		CID_TRY(set_disabled(record, c->disabled != 0));
	if (c->password != NULL) {
		CID_ENSURE(json_object_set_new(record, "password", json_string(c->password)) == 0,
			   CID_ERR_NOMEM);
		/* a password set by an operator is one the citizen knows */
		json_object_del(record, "no_password");
	}
	CID_ENSURE(json_object_set_new(record, "updated_at", json_integer(c->now)) == 0,
		   CID_ERR_NOMEM);
	CID_TRY(cid_txn_put_json(txn, CID_DB_CITIZENS, cid_str_of(cid_json_str(record, "id")),
				 record, 0));
out:
	json_decref(record);
	return rc;
}

enum cid_err cid_account_set_claims(struct cid_store *s, const char *username, const json_t *claims,
				    int64_t now)
{
	enum cid_err rc = CID_OK;
	struct change c = {.username = username, .now = now, .disabled = -1};

	CID_ENSURE(json_is_object(claims), CID_ERR_INVALID);
	c.claims = json_deep_copy(claims);
	CID_ENSURE(c.claims != NULL, CID_ERR_NOMEM);
	CID_TRY(account_claims_ok(c.claims, true));
	CID_TRY(cid_store_update(s, account_change_cb, &c));
out:
	json_decref(c.claims);
	return rc;
}

enum cid_err cid_account_set_disabled(struct cid_store *s, const char *username, bool disabled,
				      int64_t now)
{
	struct change c = {.username = username, .now = now, .disabled = disabled};

	return cid_store_update(s, account_change_cb, &c);
}

enum cid_err cid_account_set_disabled_txn(struct cid_txn *txn, const char *username, bool disabled,
					  int64_t now)
{
	struct change c = {.username = username, .now = now, .disabled = disabled};

	return account_change_cb(txn, &c);
}

enum cid_err cid_account_remove_txn(struct cid_txn *txn, const char *username,
				    char id_out[CID_ID_CHARS + 1])
{
	enum cid_err rc = CID_OK;
	json_t *record = NULL;
	const char *id;

	CID_TRY(account_load_by_username(txn, username, &record));
	id = cid_json_str(record, "id");
	CID_ENSURE(id != NULL && strlen(id) == CID_ID_CHARS, CID_ERR_STORE);
	CID_TRY(cid_txn_del(txn, CID_DB_USERNAMES, cid_str_of(username)));
	CID_TRY(cid_txn_del(txn, CID_DB_CITIZENS, (struct cid_str){id, CID_ID_CHARS}));
	CID_TRY(account_clear_code_counter(txn, id));
	memcpy(id_out, id, CID_ID_CHARS + 1);
out:
	json_decref(record);
	return rc;
}
