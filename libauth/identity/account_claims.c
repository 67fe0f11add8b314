/*
 * account_claims: the attributes a citizen may have, and what a valid value is.
 *
 * One static table names every claim civicid stores (OIDC Core §5.1 and the
 * city's own), its type, the scope that asks for it and whether it may carry
 * a language tag; nothing else can be stored, released or named in a policy.
 * Every value is checked against its definition before it is stored (type,
 * UTF-8, length, range, date and mail formats), so what leaves through
 * release.c was valid when it came in. updated_at is kept by civicid and is
 * never accepted from outside. Pure functions over constant data: thread-safe.
 */
#include "account.h"

#include "account_int.h"
#include "bounds.h"
#include "str.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

	if (n == 0 || n > CID_MAX_LANG_TAG)
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

enum cid_err account_claims_ok(json_t *claims, bool allow_null)
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
