/*
 * account: citizens, their attributes and passwords, and login throttling.
 *
 * Every attribute is checked against one static claim table before it is
 * stored, so what leaves through release.c was valid when it came in. A
 * citizen record and its username index entry change in the same write
 * transaction. Password hashing is slow, so it runs before cid_store_update,
 * never inside a callback that LMDB may run twice. A login reads the throttle
 * counters first and computes no hash while they say wait; unknown users pay
 * the same argon2id cost as known ones, are counted under the same keys (the
 * name typed, not the account), and every failure (wrong password, unknown
 * user, disabled account) looks the same to the caller. The second factor
 * (TOTP) is in account_totp.c.
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
#include "totp.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define MAX_LANG_TAG 35	 /* the longest well-formed tags in practice (RFC 5646 §4.4.1) */
#define MAX_ADDR     255 /* a remote address as text; IPv6 needs 45 */

static const struct cid_claim_def claim_defs[] = {
    /* OIDC Core §5.1 */
    {"name", "profile", CID_CLAIM_STRING, true, 0, 0},
    {"family_name", "profile", CID_CLAIM_STRING, true, 0, 0},
    {"given_name", "profile", CID_CLAIM_STRING, true, 0, 0},
    {"middle_name", "profile", CID_CLAIM_STRING, true, 0, 0},
    {"nickname", "profile", CID_CLAIM_STRING, true, 0, 0},
    {"preferred_username", "profile", CID_CLAIM_STRING, false, 0, 0},
    {"profile", "profile", CID_CLAIM_STRING, false, 0, 0},
    {"picture", "profile", CID_CLAIM_STRING, false, 0, 0},
    {"website", "profile", CID_CLAIM_STRING, false, 0, 0},
    {"gender", "profile", CID_CLAIM_STRING, false, 0, 0},
    {"birthdate", "profile", CID_CLAIM_DATE, false, 0, 0},
    {"zoneinfo", "profile", CID_CLAIM_STRING, false, 0, 0},
    {"locale", "profile", CID_CLAIM_STRING, false, 0, 0},
    {"updated_at", "profile", CID_CLAIM_TIME, false, 0, 0},
    {"email", "email", CID_CLAIM_STRING, false, 0, 0},
    {"email_verified", "email", CID_CLAIM_BOOL, false, 0, 0},
    {"phone_number", "phone", CID_CLAIM_STRING, false, 0, 0},
    {"phone_number_verified", "phone", CID_CLAIM_BOOL, false, 0, 0},
    {"address", "address", CID_CLAIM_OBJECT, false, 0, 0},
    /* city attributes */
    {"resident_district", "city", CID_CLAIM_STRING, true, 0, 0},
    {"household_size", "city", CID_CLAIM_INT, false, 1, 99},
    {"resident_since", "city", CID_CLAIM_DATE, false, 0, 0},
    {"preferred_language", "city", CID_CLAIM_STRING, false, 0, 0},
};

#define N_CLAIMS (sizeof(claim_defs) / sizeof(claim_defs[0]))

/*= OIDC Core §5.1.1: the members of the address claim */
static const char *const address_members[] = {
    "formatted", "street_address", "locality", "region", "postal_code", "country",
};

static bool is_alpha(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool is_alnum(char c)
{
	return is_alpha(c) || (c >= '0' && c <= '9');
}

/*
 * BCP 47 well-formedness, simplified: subtags of 1..8 letters or digits joined
 * by '-' (or also '_' when underscore, the form Core §5.1 tolerates for locale),
 * the first of 2..8 letters. Registry membership is not checked.
 */
static bool lang_tag_ok(const char *p, size_t n, bool underscore)
{
	size_t start = 0;

	if (n == 0 || n > MAX_LANG_TAG)
		return false;
	for (size_t i = 0; i <= n; i++) {
		bool sep = i == n || p[i] == '-' || (underscore && p[i] == '_');
		size_t len = i - start;

		if (!sep) {
			if (!is_alnum(p[i]))
				return false;
			continue;
		}
		if (len < 1 || len > 8)
			return false;
		if (start == 0) {
			if (len < 2)
				return false;
			for (size_t k = 0; k < len; k++)
				if (!is_alpha(p[k]))
					return false;
		}
		start = i + 1;
	}
	return true;
}

const struct cid_claim_def *cid_claim_lookup(const char *name)
{
	const char *hash;
	size_t base;

	if (name == NULL)
		return NULL;
	hash = strchr(name, '#');
	base = hash == NULL ? strlen(name) : (size_t)(hash - name);
	for (size_t i = 0; i < N_CLAIMS; i++) {
		const struct cid_claim_def *d = &claim_defs[i];

		if (strlen(d->name) != base || memcmp(d->name, name, base) != 0)
			continue;
		if (hash == NULL)
			return d;
		if (!d->lang_tagged || !lang_tag_ok(hash + 1, strlen(hash + 1), false))
			return NULL;
		return d;
	}
	return NULL;
}

const struct cid_claim_def *cid_claim_table(size_t *n)
{
	*n = N_CLAIMS;
	return claim_defs;
}

static bool is_leap(uint64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/*= OIDC Core §5.1: birthdate is ISO 8601 YYYY-MM-DD; the year may be 0000
 *# (omitted), or the value may be the year YYYY alone. */
static bool date_ok(const char *s, size_t n)
{
	static const uint8_t days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	uint64_t y;
	uint64_t m;
	uint64_t d;

	if (n == 4)
		return cid_parse_u64(s, 4, 1, 9999, &y) == CID_OK;
	if (n != 10 || s[4] != '-' || s[7] != '-')
		return false;
	if (cid_parse_u64(s, 4, 0, 9999, &y) != CID_OK ||
	    cid_parse_u64(s + 5, 2, 1, 12, &m) != CID_OK ||
	    cid_parse_u64(s + 8, 2, 1, days[m - 1], &d) != CID_OK)
		return false;
	/* 0000 stands for an unknown year, in which 29 February may fall */
	return !(m == 2 && d == 29 && y != 0 && !is_leap(y));
}

/* One '@' with something on both sides and no spaces: the rest is the mail system's business. */
static bool email_ok(const char *s, size_t n)
{
	const char *at = memchr(s, '@', n);

	if (at == NULL || at == s || at == s + n - 1 ||
	    memchr(at + 1, '@', n - (size_t)(at - s) - 1))
		return false;
	return memchr(s, ' ', n) == NULL;
}

/* Length and UTF-8 of any string stored as (part of) a claim. */
static enum cid_err string_ok(const json_t *value)
{
	const char *s = json_string_value(value);
	size_t n = json_string_length(value);

	if (s == NULL || n == 0)
		return CID_ERR_INVALID;
	if (n > CID_MAX_CLAIM_VALUE)
		return CID_ERR_TOOBIG;
	if (!cid_utf8_valid(s, n))
		return CID_ERR_UTF8;
	return CID_OK;
}

/* The extra format of a string claim, if its name has one. */
static bool string_format_ok(const char *base, const char *s, size_t n)
{
	if (strcmp(base, "email") == 0)
		return email_ok(s, n);
	if (strcmp(base, "preferred_language") == 0)
		return lang_tag_ok(s, n, false);
	if (strcmp(base, "locale") == 0)
		return lang_tag_ok(s, n, true);
	if (strcmp(base, "profile") == 0 || strcmp(base, "picture") == 0 ||
	    strcmp(base, "website") == 0)
		return cid_http_url_ok(s, n); /* pages turn it into a link */
	return true;
}

static enum cid_err address_ok(const json_t *value)
{
	size_t seen = 0;

	if (!json_is_object(value) || json_object_size(value) == 0)
		return CID_ERR_INVALID;
	for (size_t i = 0; i < sizeof(address_members) / sizeof(address_members[0]); i++) {
		const json_t *v = json_object_get(value, address_members[i]);
		enum cid_err rc;

		if (v == NULL)
			continue;
		rc = string_ok(v);
		if (rc != CID_OK)
			return rc;
		seen++;
	}
	/* any member not counted above is not an address member */
	return seen == json_object_size(value) ? CID_OK : CID_ERR_INVALID;
}

enum cid_err cid_claim_check(const char *name, const json_t *value)
{
	const struct cid_claim_def *def = cid_claim_lookup(name);
	enum cid_err rc = CID_OK;

	CID_ENSURE(def != NULL && value != NULL, CID_ERR_INVALID);
	switch (def->type) {
	case CID_CLAIM_STRING:
		CID_TRY(string_ok(value));
		CID_ENSURE(string_format_ok(def->name, json_string_value(value),
					    json_string_length(value)),
			   CID_ERR_INVALID);
		break;
	case CID_CLAIM_BOOL: CID_ENSURE(json_is_boolean(value), CID_ERR_INVALID); break;
	case CID_CLAIM_INT:
		CID_ENSURE(json_is_integer(value) && json_integer_value(value) >= def->min &&
			       json_integer_value(value) <= def->max,
			   CID_ERR_INVALID);
		break;
	case CID_CLAIM_DATE:
		CID_TRY(string_ok(value));
		CID_ENSURE(date_ok(json_string_value(value), json_string_length(value)),
			   CID_ERR_INVALID);
		break;
	case CID_CLAIM_OBJECT: CID_TRY(address_ok(value)); break;
	case CID_CLAIM_TIME: /* maintained by civicid, never set from outside */
	default: rc = CID_ERR_INVALID; break;
	}
out:
	return rc;
}

/* The JSON value of text for a claim of type def->type, or NULL if text is not of that type. */
static json_t *claim_from_text(const struct cid_claim_def *def, const char *text)
{
	switch (def->type) {
	case CID_CLAIM_BOOL:
		if (strcmp(text, "true") == 0)
			return json_true();
		return strcmp(text, "false") == 0 ? json_false() : NULL;
	case CID_CLAIM_INT:
	case CID_CLAIM_TIME: {
		char *end = NULL;
		long long v;

		errno = 0;
		v = strtoll(text, &end, 10);
		if (*text == '\0' || *end != '\0' || errno != 0)
			return NULL;
		return json_integer(v);
	}
	case CID_CLAIM_OBJECT: return json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	case CID_CLAIM_STRING:
	case CID_CLAIM_DATE: break;
	}
	return json_string(text);
}

enum cid_err cid_claim_parse(const char *name, const char *text, json_t **out)
{
	const struct cid_claim_def *def = cid_claim_lookup(name);
	json_t *value;
	enum cid_err rc;

	if (def == NULL || text == NULL)
		return CID_ERR_INVALID;
	value = claim_from_text(def, text);
	if (value == NULL)
		return CID_ERR_INVALID;
	rc = cid_claim_check(name, value);
	if (rc != CID_OK) {
		json_decref(value);
		return rc;
	}
	*out = value;
	return CID_OK;
}

/* Checks every member of a claims object; null members (removals) only when allow_null. */
static enum cid_err claims_ok(json_t *claims, bool allow_null)
{
	const char *name;
	json_t *value;

	if (!json_is_object(claims))
		return CID_ERR_INVALID;
	if (json_object_size(claims) > CID_MAX_CLAIMS)
		return CID_ERR_TOOBIG;
	json_object_foreach(claims, name, value)
	{
		enum cid_err rc;

		if (allow_null && json_is_null(value))
			continue;
		rc = cid_claim_check(name, value);
		if (rc != CID_OK)
			return rc;
	}
	return CID_OK;
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

struct add {
	const char *username;
	const json_t *record;
};

static enum cid_err add_cb(struct cid_txn *txn, void *arg)
{
	struct add *a = arg;
	enum cid_err rc = CID_OK;
	json_t *ref = json_pack("{s:s}", "id", cid_json_str(a->record, "id"));

	CID_ENSURE(ref != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_txn_put_json(txn, CID_DB_USERNAMES, cid_str_of(a->username), ref,
				 CID_PUT_NOOVERWRITE));
	CID_TRY(cid_txn_put_json(txn, CID_DB_CITIZENS, cid_str_of(cid_json_str(a->record, "id")),
				 a->record, CID_PUT_NOOVERWRITE));
out:
	json_decref(ref);
	return rc;
}

enum cid_err cid_account_add(struct cid_store *s, const struct cid_argon2_params *params,
			     const char *username, const char *password, const json_t *claims,
			     int64_t now, char id_out[CID_ID_CHARS + 1])
{
	enum cid_err rc = CID_OK;
	char id[CID_ID_CHARS + 1];
	char hash[CID_PASSWORD_HASH_MAX] = "";
	size_t pwlen = password == NULL ? 0 : strnlen(password, CID_MAX_PASSWORD + 1);
	json_t *copy = NULL;
	json_t *record = NULL;
	struct add a = {.username = username};

	CID_ENSURE(account_username_ok(username), CID_ERR_INVALID);
	CID_ENSURE(pwlen >= CID_MIN_PASSWORD && pwlen <= CID_MAX_PASSWORD, CID_ERR_INVALID);
	/* a private copy: the caller's object is const, and updated_at is added to it */
	copy = claims == NULL ? json_object() : json_deep_copy(claims);
	CID_ENSURE(copy != NULL, CID_ERR_NOMEM);
	CID_TRY(claims_ok(copy, false));
	CID_ENSURE(json_object_set_new(copy, "updated_at", json_integer(now)) == 0, CID_ERR_NOMEM);
	CID_ENSURE(json_object_size(copy) <= CID_MAX_CLAIMS, CID_ERR_TOOBIG);
	CID_TRY(cid_random_uuid(id));
	CID_TRY(cid_password_hash(params, password, pwlen, hash));
	record = json_pack("{s:s, s:s, s:s, s:b, s:O, s:I, s:I}", "id", id, "username", username,
			   "password", hash, "disabled", 0, "claims", copy, "created_at",
			   (json_int_t)now, "updated_at", (json_int_t)now);
	CID_ENSURE(record != NULL, CID_ERR_NOMEM);
	a.record = record;
	CID_TRY(cid_store_update(s, add_cb, &a));
	memcpy(id_out, id, sizeof(id));
out:
	cid_wipe(hash, sizeof(hash));
	json_decref(copy);
	json_decref(record);
	return rc;
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
	json_t *record = NULL;
	int64_t generation = 0;

	CID_TRY(account_load_record(txn, account_id, &record));
	CID_ENSURE(cid_account_active(record), CID_ERR_DISABLED);
	CID_TRY(record_generation(record, &generation));
	*out = generation;
out:
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

/* Removes the password hash and the TOTP secret: they never leave this module. */
static enum cid_err strip(json_t *record)
{
	bool totp = cid_account_has_totp(record);

	json_object_del(record, "password");
	json_object_del(record, "totp");
	return json_object_set_new(record, "totp_enrolled", json_boolean(totp)) == 0
		   ? CID_OK
		   : CID_ERR_NOMEM;
}

enum cid_err cid_account_get_txn(struct cid_txn *txn, const char *id, json_t **out)
{
	enum cid_err rc = CID_OK;
	json_t *record = NULL;

	CID_TRY(account_load_record(txn, id, &record));
	CID_TRY(strip(record));
	*out = record;
	record = NULL;
out:
	json_decref(record);
	return rc;
}

enum cid_err cid_account_get(struct cid_store *s, const char *id, json_t **out)
{
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;

	CID_TRY(cid_store_read_begin(s, &txn));
	CID_TRY(cid_account_get_txn(txn, id, out));
out:
	cid_store_read_end(txn);
	return rc;
}

enum cid_err cid_account_find(struct cid_store *s, const char *username, json_t **out)
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
	if (c->password != NULL)
		CID_ENSURE(json_object_set_new(record, "password", json_string(c->password)) == 0,
			   CID_ERR_NOMEM);
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
	CID_TRY(claims_ok(c.claims, true));
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

enum cid_err cid_account_set_password(struct cid_store *s, const struct cid_argon2_params *params,
				      const char *username, const char *password, int64_t now)
{
	enum cid_err rc = CID_OK;
	char hash[CID_PASSWORD_HASH_MAX] = "";
	size_t pwlen = password == NULL ? 0 : strnlen(password, CID_MAX_PASSWORD + 1);
	struct change c = {.username = username, .now = now, .disabled = -1};

	CID_ENSURE(pwlen >= CID_MIN_PASSWORD && pwlen <= CID_MAX_PASSWORD, CID_ERR_INVALID);
	CID_ENSURE(account_username_ok(username), CID_ERR_NOTFOUND);
	CID_TRY(cid_password_hash(params, password, pwlen, hash));
	c.password = hash;
	CID_TRY(cid_store_update(s, account_change_cb, &c));
out:
	cid_wipe(hash, sizeof(hash));
	return rc;
}

enum cid_err account_addr_counter(const char *addr, struct cid_throttle_key *k,
				  const struct cid_throttle_key **out)
{
	size_t alen = addr == NULL ? 0 : strnlen(addr, MAX_ADDR + 1);

	if (alen > MAX_ADDR)
		return CID_ERR_INVALID;
	*out = cid_throttle_key_addr(k, addr) ? k : NULL;
	return CID_OK;
}

enum cid_err account_read_wait(struct cid_txn *txn, const struct cid_throttle_key *k, int64_t now,
			       int64_t *wait, bool *exists)
{
	return k == NULL ? CID_OK : cid_throttle_read(txn, k, now, wait, exists);
}

enum cid_err account_count_failure(struct cid_txn *txn, const struct cid_throttle_key *k,
				   int64_t now)
{
	return k == NULL ? CID_OK : cid_throttle_fail(txn, k, now);
}

/* The outcome of a password check, written in one transaction. */
struct tally {
	const struct cid_throttle_key *pair;
	const struct cid_throttle_key *addr; /* NULL: no address */
	int64_t now;
	bool success;
};

/* A success clears the pair's counter; a failure counts for the pair and the address. */
static enum cid_err tally_cb(struct cid_txn *txn, void *arg)
{
	const struct tally *t = arg;
	enum cid_err rc = CID_OK;

	if (t->success)
		return cid_throttle_clear(txn, t->pair);
	CID_TRY(cid_throttle_fail(txn, t->pair, t->now));
	CID_TRY(account_count_failure(txn, t->addr, t->now));
out:
	return rc;
}

/* What a login needs from the store, read before any hash is computed. */
struct login {
	bool found;
	bool disabled;
	bool pair_counted; /* the pair has a failure counter to clear */
	char id[CID_ID_CHARS + 1];
	char hash[CID_PASSWORD_HASH_MAX];
	int64_t wait;
};

static enum cid_err read_login(struct cid_store *s, const char *username, const struct tally *t,
			       struct login *l)
{
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;
	json_t *record = NULL;
	const char *id;
	const char *hash;

	CID_TRY(cid_store_read_begin(s, &txn));
	rc = account_load_by_username(txn, username, &record);
	/* an unknown user is no error here: the throttle is read all the same */
	CID_ENSURE(rc == CID_OK || rc == CID_ERR_NOTFOUND, rc);
	if (record != NULL) {
		id = cid_json_str(record, "id");
		hash = cid_json_str(record, "password");
		CID_ENSURE(id != NULL && strlen(id) == CID_ID_CHARS && hash != NULL &&
			       strlen(hash) < sizeof(l->hash),
			   CID_ERR_STORE);
		l->found = true;
		l->disabled = !cid_account_active(record);
		memcpy(l->id, id, CID_ID_CHARS + 1);
		memcpy(l->hash, hash, strlen(hash) + 1);
	}
	/* the same counters whether or not the name exists */
	CID_TRY(cid_throttle_read(txn, t->pair, t->now, &l->wait, &l->pair_counted));
	CID_TRY(account_read_wait(txn, t->addr, t->now, &l->wait, NULL));
out:
	cid_store_read_end(txn);
	json_decref(record);
	return rc;
}

enum cid_err cid_account_authenticate(struct cid_store *s, const struct cid_argon2_params *params,
				      const char *username, const char *password, const char *addr,
				      int64_t now, char id_out[CID_ID_CHARS + 1],
				      int64_t *retry_after)
{
	enum cid_err rc = CID_OK;
	enum cid_err verdict;
	size_t ulen = username == NULL ? 0 : strnlen(username, CID_MAX_USERNAME + 1);
	size_t pwlen = password == NULL ? 0 : strnlen(password, CID_MAX_PASSWORD + 1);
	struct cid_throttle_key pair_key = {0};
	struct cid_throttle_key addr_key = {0};
	struct login l = {0};
	struct tally t = {.pair = &pair_key, .now = now};

	CID_ENSURE(ulen >= 1 && ulen <= CID_MAX_USERNAME, CID_ERR_INVALID);
	CID_ENSURE(pwlen >= 1 && pwlen <= CID_MAX_PASSWORD, CID_ERR_INVALID);
	CID_TRY(account_addr_counter(addr, &addr_key, &t.addr));
	cid_throttle_key_pair(&pair_key, CID_THROTTLE_CITIZEN, username, addr);
	CID_TRY(read_login(s, username, &t, &l));
	if (l.wait > 0) {
		if (retry_after != NULL)
			*retry_after = l.wait;
		rc = CID_ERR_THROTTLED;
		goto out;
	}
	if (l.found)
		verdict = cid_password_verify(l.hash, password, pwlen);
	else
		verdict = cid_password_burn(params, password, pwlen);
	/* a disabled account fails after the same work, with the same error */
	if (verdict != CID_OK || l.disabled)
		verdict = CID_ERR_DENIED;
	t.success = verdict == CID_OK;
	/* a success with no counter to clear needs no write transaction */
	if (!t.success || l.pair_counted)
		CID_TRY(cid_store_update(s, tally_cb, &t));
	CID_ENSURE(verdict == CID_OK, verdict);
	memcpy(id_out, l.id, sizeof(l.id));
out:
	cid_wipe(&l, sizeof(l));
	return rc;
}
