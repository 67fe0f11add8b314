/*
 * consent: append-only consent records, keyed so that the current decision is
 * the last key of its (citizen, service, purpose, attribute).
 *
 * Names are checked before they become key parts: none may hold '\n', the
 * separator, so a prefix scan over account\nservice\npurpose\n can only meet
 * records of exactly that triple. A name that fails the check cannot have a
 * record, so the readers answer "none" for it rather than an error.
 *
 * The sequence number comes from META "consent_seq", read and advanced in the
 * same write transaction as the records it numbers, so two writers never share
 * one. Record ids (UUIDs) are drawn before the transaction: cid_store_update
 * may run the callback twice, and the callback only touches the transaction.
 * Nothing here updates or deletes a record (a retention purge deletes them,
 * cid_consent_del); each is written with its id's key (consent_ids.c), and
 * a grant that expires with its due key (the sweeper's index, consent.h).
 *
 * Every write also appends its audit entries (audit.h) in the same
 * transaction: one consent.<state> entry per group of records that share
 * state, expiry and policy version, so a decision is in the log exactly when
 * it is in force.
 */
#include "consent.h"

#include "account.h"
#include "audit.h"
#include "bounds.h"
#include "consent_int.h"
#include "crypto.h"
#include "str.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY ((int64_t)24 * 3600)

_Static_assert(CONSENT_KEY_MAX <= CID_STORE_MAX_KEY, "a consent key must fit LMDB's key limit");

static const char *const state_names[] = {
    [CID_CONSENT_GRANTED] = "granted",
    [CID_CONSENT_REFUSED] = "refused",
    [CID_CONSENT_WITHDRAWN] = "withdrawn",
    [CID_CONSENT_EXPIRED] = "expired",
};

const char *cid_consent_state_name(enum cid_consent_state state)
{
	if ((unsigned)state >= sizeof(state_names) / sizeof(state_names[0]))
		return "unknown";
	return state_names[state];
}

enum cid_err cid_consent_state_parse(const char *name, enum cid_consent_state *out)
{
	for (size_t i = 0; name != NULL && i < sizeof(state_names) / sizeof(state_names[0]); i++) {
		if (strcmp(name, state_names[i]) == 0) {
			*out = (enum cid_consent_state)i;
			return CID_OK;
		}
	}
	return CID_ERR_INVALID;
}

enum cid_consent_state cid_consent_state_at(enum cid_consent_state recorded, int64_t expires_at,
					    int64_t now)
{
	if (recorded == CID_CONSENT_GRANTED && expires_at != 0 && now >= expires_at)
		return CID_CONSENT_EXPIRED;
	return recorded;
}

bool cid_consent_record_expired(const struct cid_consent_record *rec, int64_t now)
{
	return rec->state == CID_CONSENT_GRANTED &&
	       cid_consent_state_at(rec->state, rec->expires_at, now) == CID_CONSENT_EXPIRED;
}

bool cid_consent_expired(const json_t *rec, int64_t now)
{
	struct cid_consent_record r = {.expires_at = cid_json_int(rec, "expires_at")};

	if (cid_consent_state_parse(cid_json_str(rec, "state"), &r.state) != CID_OK)
		return false;
	return cid_consent_record_expired(&r, now);
}

bool cid_consent_due_key(int64_t expires_at, const char *id, char out[CID_CONSENT_DUE_KEY + 1])
{
	if (expires_at <= 0 || !cid_uuid_syntax_ok(id))
		return false;
	return snprintf(out, CID_CONSENT_DUE_KEY + 1, "%016" PRIx64 "\n%s", (uint64_t)expires_at,
			id) == CID_CONSENT_DUE_KEY;
}

int64_t cid_consent_expiry(int64_t valid_days, int64_t now)
{
	int64_t span;

	if (valid_days <= 0)
		return 0;
	/* saturating: a day count read back from a record cannot overflow */
	span = valid_days > INT64_MAX / DAY ? INT64_MAX : valid_days * DAY;
	return now > INT64_MAX - span ? INT64_MAX : now + span;
}

/*
 * The methods: the name a record stores, and who the audit log says acted
 * through which endpoint (audit.h). The names are those of stores written
 * before the enum existed; they never change.
 */
static const struct {
	const char *name;
	const char *actor;
	const char *endpoint;
} methods[CID_CONSENT_METHOD_COUNT] = {
    [CID_CONSENT_METHOD_SCREEN] = {"web:consent-screen", "citizen", "consent-screen"},
    [CID_CONSENT_METHOD_CLI_WITHDRAW] = {"cli:withdraw", "operator", "cli"},
    [CID_CONSENT_METHOD_CLI_PAPER] = {"cli:paper", "operator", "cli"},
    [CID_CONSENT_METHOD_ACCOUNT] = {"web:account", "citizen", "account"},
};

const char *cid_consent_method_name(enum cid_consent_method method)
{
	if ((unsigned)method >= CID_CONSENT_METHOD_COUNT)
		return NULL;
	return methods[method].name;
}

enum cid_err cid_consent_method_parse(const char *name, enum cid_consent_method *out)
{
	for (size_t i = 0; name != NULL && i < CID_CONSENT_METHOD_COUNT; i++) {
		if (methods[i].name != NULL && strcmp(name, methods[i].name) == 0) {
			*out = (enum cid_consent_method)i;
			return CID_OK;
		}
	}
	return CID_ERR_INVALID;
}

/* 1..CID_CONSENT_MAX_NAME bytes of UTF-8 (no NUL, no controls but TAB/CR) and no '\n'. */
bool consent_name_ok(const char *s)
{
	size_t n = s == NULL ? 0 : strnlen(s, CID_CONSENT_MAX_NAME + 1);

	return n >= 1 && n <= CID_CONSENT_MAX_NAME && memchr(s, '\n', n) == NULL &&
	       cid_utf8_valid(s, n);
}

bool cid_consent_name_ok(const char *name)
{
	return consent_name_ok(name);
}

bool cid_consent_request_purpose_ok(const char *text)
{
	size_t n = text == NULL ? 0 : strnlen(text, CID_PURPOSE_MAX_BYTES + 1);
	size_t chars = 0;

	if (n > CID_PURPOSE_MAX_BYTES || !cid_utf8_valid(text, n))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)text[i];

		/* C0 controls and DEL; C1 controls are two bytes, U+0080..U+009F */
		if (c < 0x20 || c == 0x7f ||
		    (c == 0xc2 && (unsigned char)text[i + 1] >= 0x80 &&
		     (unsigned char)text[i + 1] <= 0x9f))
			return false;
		if ((c & 0xc0) != 0x80) /* not a continuation byte: a character starts */
			chars++;
	}
	return chars >= CID_PURPOSE_MIN_CHARS && chars <= CID_PURPOSE_MAX_CHARS;
}

bool cid_consent_attribute_ok(const char *attribute)
{
	/* the base name only: a decision on family_name covers its language-tagged forms */
	return consent_name_ok(attribute) && strchr(attribute, '#') == NULL &&
	       cid_claim_lookup(attribute) != NULL;
}

/* Writes account\nservice\npurpose\n[attribute\n] to k; returns its length, 0 if a name is bad. */
size_t consent_key_prefix(char k[CONSENT_KEY_MAX + 1], const char *account_id, const char *service,
			  const char *purpose, const char *attribute)
{
	int n;

	if (!cid_uuid_syntax_ok(account_id) || !consent_name_ok(service) ||
	    !consent_name_ok(purpose))
		return 0;
	if (attribute != NULL && !cid_consent_attribute_ok(attribute))
		return 0;
	n = snprintf(k, CONSENT_KEY_MAX + 1, "%s\n%s\n%s\n%s%s", account_id, service, purpose,
		     attribute == NULL ? "" : attribute, attribute == NULL ? "" : "\n");
	return n > 0 && n <= CONSENT_KEY_MAX ? (size_t)n : 0;
}

enum cid_err cid_consent_record_read(const json_t *rec, struct cid_consent_record *out)
{
	const json_t *how = json_object_get(rec, "how");
	struct cid_consent_record r = {
	    .id = cid_json_str(rec, "id"),
	    .seq = cid_json_int(rec, "seq"),
	    .account_id = cid_json_str(rec, "account_id"),
	    .service = cid_json_str(rec, "service"),
	    .purpose = cid_json_str(rec, "purpose"),
	    .attribute = cid_json_str(rec, "attribute"),
	    .at = cid_json_int(rec, "at"),
	    .expires_at = cid_json_int(rec, "expires_at"),
	    .method = cid_json_str(how, "method"),
	    .request_id = cid_json_str(how, "request_id"),
	    .request_purpose = cid_json_str(how, "request_purpose"),
	    .policy_version = cid_json_str(rec, "policy_version"),
	    .purpose_digest = cid_json_str(rec, "purpose_digest"),
	};

	if (r.id == NULL || r.account_id == NULL || r.service == NULL || r.purpose == NULL ||
	    r.attribute == NULL || r.policy_version == NULL || r.purpose_digest == NULL ||
	    cid_consent_state_parse(cid_json_str(rec, "state"), &r.state) != CID_OK ||
	    !json_is_integer(json_object_get(rec, "expires_at")))
		return CID_ERR_STORE;
	*out = r;
	return CID_OK;
}

enum cid_err cid_consent_record_parse(struct cid_str val, json_t **out)
{
	json_t *rec = NULL;
	struct cid_consent_record r;

	if (cid_store_parse_json(val, &rec) != CID_OK)
		return CID_ERR_STORE;
	if (cid_consent_record_read(rec, &r) != CID_OK) {
		json_decref(rec);
		return CID_ERR_STORE;
	}
	*out = rec;
	return CID_OK;
}

/* ---- writing ---- */

struct latest {
	struct cid_str val; /* borrowed from the transaction */
	bool found;
};

static enum cid_err latest_one(struct cid_str key, struct cid_str val, void *arg)
{
	struct latest *l = arg;

	(void)key;
	l->val = val;
	l->found = true;
	return CID_OK;
}

/*
 * The latest stored record under a full key prefix (account..attribute\n), in
 * the caller's transaction. Errors: CID_ERR_NOTFOUND, CID_ERR_STORE.
 */
enum cid_err consent_latest_record(struct cid_txn *txn, struct cid_str prefix, json_t **out)
{
	enum cid_err rc = CID_OK;
	struct latest l = {0};

	CID_TRY(cid_txn_foreach(txn, CID_DB_CONSENTS, prefix, latest_one, &l));
	CID_ENSURE(l.found, CID_ERR_NOTFOUND);
	CID_TRY(cid_consent_record_parse(l.val, out));
out:
	return rc;
}

/* The state at now of rec (a parsed record: cid_consent_record_parse checked its state). */
enum cid_consent_state consent_record_state(const json_t *rec, int64_t now)
{
	enum cid_consent_state recorded = CID_CONSENT_EXPIRED;

	/* cid_consent_record_parse let only known states through; EXPIRED if that ever changes */
	if (cid_consent_state_parse(cid_json_str(rec, "state"), &recorded) != CID_OK)
		return CID_CONSENT_EXPIRED;
	return cid_consent_state_at(recorded, cid_json_int(rec, "expires_at"), now);
}

/* One call's worth of records, checked and given ids before the transaction. */
struct write {
	const struct cid_consent_context *ctx;
	const struct cid_consent_change *changes;
	size_t n;
	char (*ids)[CID_ID_CHARS + 1];
	/* withdraw: each attribute needs a grant in force, whose versions are copied */
	bool copy_versions;
	struct cid_consent_fault fault; /* withdraw: the attribute without one, and why */
	json_t **recs; /* the records written, for the audit entries (one run's worth) */
	/* how.request_id of the records: ctx's, else the call's own, so that each
	 * call is one decision (its receipt holds its records only, receipt.h) */
	const char *request_id;
	char own_request_id[CID_ID_CHARS + 1];
};

static json_t *record_new(const struct write *w, size_t i, uint64_t seq, const char *policy_version,
			  const char *purpose_digest)
{
	const struct cid_consent_context *ctx = w->ctx;
	const struct cid_consent_change *c = &w->changes[i];
	json_t *how = json_pack("{s:s}", "method", cid_consent_method_name(ctx->method));
	int64_t expires_at = c->state == CID_CONSENT_GRANTED ? c->expires_at : 0;

	if (how == NULL)
		return NULL;
	if (json_object_set_new(how, "request_id", json_string(w->request_id)) != 0 ||
	    (ctx->request_purpose != NULL &&
	     json_object_set_new(how, "request_purpose", json_string(ctx->request_purpose)) != 0)) {
		json_decref(how);
		return NULL;
	}
	return json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:o, s:s, s:s}", "id",
			 w->ids[i], "seq", (json_int_t)seq, "account_id", ctx->account_id,
			 "service", ctx->service, "purpose", ctx->purpose, "attribute",
			 c->attribute, "state", cid_consent_state_name(c->state), "at",
			 (json_int_t)ctx->now, "expires_at", (json_int_t)expires_at, "how", how,
			 "policy_version", policy_version, "purpose_digest", purpose_digest);
}

static enum cid_err write_one(struct cid_txn *txn, struct write *w, size_t i, uint64_t seq)
{
	enum cid_err rc = CID_OK;
	const struct cid_consent_context *ctx = w->ctx;
	char key[CONSENT_KEY_MAX + 1];
	char due[CID_CONSENT_DUE_KEY + 1];
	size_t len = consent_key_prefix(key, ctx->account_id, ctx->service, ctx->purpose,
					w->changes[i].attribute);
	json_t *current = NULL;
	json_t *rec = NULL;
	const char *policy_version = ctx->policy_version;
	const char *purpose_digest = ctx->purpose_digest;
	enum cid_consent_state state;

	CID_ENSURE(len > 0, CID_ERR_INVALID);
	rc = consent_latest_record(txn, (struct cid_str){key, len}, &current);
	if (!w->copy_versions && (rc == CID_ERR_NOTFOUND || rc == CID_ERR_STORE)) {
		/* no record to supersede, or a damaged one (its due key, if any, is the sweeper's)
		 */
		current = NULL;
		rc = CID_OK;
	}
	if (w->copy_versions) {
		if (rc == CID_ERR_NOTFOUND)
			w->fault = (struct cid_consent_fault){.attribute = w->changes[i].attribute};
		CID_TRY(rc);
		state = consent_record_state(current, ctx->now);
		if (state != CID_CONSENT_GRANTED)
			w->fault = (struct cid_consent_fault){w->changes[i].attribute, true, state};
		CID_ENSURE(state == CID_CONSENT_GRANTED, CID_ERR_NOTFOUND);
		policy_version = cid_json_str(current, "policy_version");
		purpose_digest = cid_json_str(current, "purpose_digest");
	}
	/* the grant this record supersedes is no longer due to the sweeper */
	if (current != NULL)
		CID_TRY(consent_due_del(txn, current));
	snprintf(key + len, sizeof(key) - len, "%0*" PRIx64, CONSENT_SEQ_CHARS, seq);
	rec = record_new(w, i, seq, policy_version, purpose_digest);
	CID_ENSURE(rec != NULL, CID_ERR_NOMEM);
	/* an existing key means the counter went back: the store is damaged */
	rc = cid_txn_put_json(txn, CID_DB_CONSENTS, (struct cid_str){key, len + CONSENT_SEQ_CHARS},
			      rec, CID_PUT_NOOVERWRITE);
	CID_ENSURE(rc != CID_ERR_EXISTS, CID_ERR_STORE);
	CID_TRY(rc);
	/* its id's key, so that cid_consent_get finds it without a scan (consent_ids.c) */
	CID_TRY(consent_id_put(txn, w->ids[i], (struct cid_str){key, len + CONSENT_SEQ_CHARS}));
	/* a grant that expires is due to the sweeper then (consent_sweep.h) */
	if (cid_consent_due_key(cid_json_int(rec, "expires_at"), w->ids[i], due)) {
		rc = cid_txn_put(
		    txn, CID_DB_CONSENT_DUE, (struct cid_str){due, CID_CONSENT_DUE_KEY},
		    (struct cid_str){key, len + CONSENT_SEQ_CHARS}, CID_PUT_NOOVERWRITE);
		CID_ENSURE(rc != CID_ERR_EXISTS, CID_ERR_STORE);
		CID_TRY(rc);
	}
	w->recs[i] = rec;
	rec = NULL;
out:
	json_decref(current);
	json_decref(rec);
	return rc;
}

/* True if records a and b go in one audit entry: same state, expiry and policy version. */
static bool same_entry(const json_t *a, const json_t *b)
{
	return strcmp(cid_json_str(a, "state"), cid_json_str(b, "state")) == 0 &&
	       cid_json_int(a, "expires_at") == cid_json_int(b, "expires_at") &&
	       strcmp(cid_json_str(a, "policy_version"), cid_json_str(b, "policy_version")) == 0;
}

/* The audit entry of the records recs[i] and every later one that same_entry joins to it. */
static enum cid_err audit_entry(const struct write *w, size_t first, bool *done, json_t **out)
{
	enum cid_err rc = CID_OK;
	const struct cid_consent_context *ctx = w->ctx;
	const json_t *rec = w->recs[first];
	int64_t expires_at = cid_json_int(rec, "expires_at");
	char type[32];
	char when[21];
	json_t *attrs = json_array();
	json_t *ids = json_array();
	json_t *e = NULL;

	CID_ENSURE(attrs != NULL && ids != NULL, CID_ERR_NOMEM);
	for (size_t j = first; j < w->n; j++) {
		if (done[j] || !same_entry(rec, w->recs[j]))
			continue;
		done[j] = true;
		CID_ENSURE(json_array_append_new(
			       attrs, json_string(cid_json_str(w->recs[j], "attribute"))) == 0 &&
			       json_array_append_new(ids, json_string(w->ids[j])) == 0,
			   CID_ERR_NOMEM);
	}
	snprintf(type, sizeof(type), "consent.%s", cid_json_str(rec, "state"));
	CID_TRY(cid_audit_time(ctx->now, when));
	e = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:O, s:O, s:s, s:s, s:s, s:s}", "type", type,
		      "time", when, "actor", methods[ctx->method].actor, "citizen", ctx->account_id,
		      "service", ctx->service, "purpose", ctx->purpose, "attributes", attrs,
		      "consent_records", ids, "basis", "consent", "policy_version",
		      cid_json_str(rec, "policy_version"), "purpose_digest",
		      cid_json_str(rec, "purpose_digest"), "endpoint",
		      methods[ctx->method].endpoint);
	CID_ENSURE(e != NULL, CID_ERR_NOMEM);
	if (ctx->request_id != NULL)
		CID_ENSURE(json_object_set_new(e, "request_id", json_string(ctx->request_id)) == 0,
			   CID_ERR_NOMEM);
	if (ctx->request_purpose != NULL)
		CID_ENSURE(json_object_set_new(e, "request_purpose",
					       json_string(ctx->request_purpose)) == 0,
			   CID_ERR_NOMEM);
	if (expires_at != 0) {
		CID_TRY(cid_audit_time(expires_at, when));
		CID_ENSURE(json_object_set_new(e, "expires_at", json_string(when)) == 0,
			   CID_ERR_NOMEM);
	}
	*out = e;
	e = NULL;
out:
	json_decref(attrs);
	json_decref(ids);
	json_decref(e);
	return rc;
}

/* Appends the audit entries of the records just written, in the same transaction. */
static enum cid_err audit_records(struct cid_txn *txn, const struct write *w)
{
	enum cid_err rc = CID_OK;
	/* n > 0: the callers check it (changes_ok) */
	bool *done = calloc(w->n == 0 ? 1 : w->n, sizeof(*done));
	json_t *e = NULL;

	CID_ENSURE(done != NULL, CID_ERR_NOMEM);
	for (size_t i = 0; i < w->n; i++) {
		if (done[i])
			continue;
		CID_TRY(audit_entry(w, i, done, &e));
		CID_TRY(cid_audit_append_txn(txn, e, NULL));
		json_decref(e);
		e = NULL;
	}
out:
	json_decref(e);
	free(done);
	return rc;
}

static void recs_clear(struct write *w)
{
	for (size_t i = 0; i < w->n; i++) {
		json_decref(w->recs[i]);
		w->recs[i] = NULL;
	}
}

static enum cid_err write_cb(struct cid_txn *txn, void *arg)
{
	struct write *w = arg;
	enum cid_err rc = CID_OK;
	uint64_t last = 0;
	uint64_t due = 0;

	/* a rerun (the map grew) starts over */
	recs_clear(w);
	CID_TRY(cid_txn_counter_get(txn, CID_CONSENT_DUE_MARK, "seq", &due));
	/* take n numbers at once; the records get the n before the new last */
	CID_TRY(cid_txn_counter_add(txn, CID_CONSENT_SEQ, "seq", w->n, &last));
	/* the due index stays marked whole only if it was whole before these records */
	if (due == last - w->n)
		CID_TRY(cid_txn_counter_add(txn, CID_CONSENT_DUE_MARK, "seq", w->n, NULL));
	for (size_t i = 0; i < w->n; i++)
		CID_TRY(write_one(txn, w, i, last - w->n + 1 + i));
	CID_TRY(audit_records(txn, w));
out:
	return rc;
}

/* Checks what every record of a call shares; policy versions unless they are to be copied. */
static bool context_ok(const struct cid_consent_context *ctx, bool copy_versions)
{
	if (ctx == NULL || !cid_uuid_syntax_ok(ctx->account_id) || !consent_name_ok(ctx->service) ||
	    !consent_name_ok(ctx->purpose) || cid_consent_method_name(ctx->method) == NULL ||
	    ctx->now < 0)
		return false;
	if ((ctx->request_id != NULL && !consent_name_ok(ctx->request_id)) ||
	    (ctx->request_purpose != NULL && !cid_consent_request_purpose_ok(ctx->request_purpose)))
		return false;
	return copy_versions ||
	       (consent_name_ok(ctx->policy_version) && consent_name_ok(ctx->purpose_digest));
}

/* Checks the changes: known attributes, each once, a recordable state, a future expiry. */
static bool changes_ok(const struct cid_consent_change *changes, size_t n, int64_t now)
{
	size_t n_claims;

	(void)cid_claim_table(&n_claims); /* only its size is needed */
	/* each attribute at most once, so more changes than claims cannot be valid */
	if (changes == NULL || n == 0 || n > n_claims)
		return false;
	for (size_t i = 0; i < n; i++) {
		const struct cid_consent_change *c = &changes[i];

		if (!cid_consent_attribute_ok(c->attribute))
			return false;
		if (c->state != CID_CONSENT_GRANTED && c->state != CID_CONSENT_REFUSED &&
		    c->state != CID_CONSENT_WITHDRAWN)
			return false;
		/* a grant must be in force when it is recorded */
		if (cid_consent_state_at(c->state, c->expires_at, now) == CID_CONSENT_EXPIRED)
			return false;
		if (c->expires_at < 0)
			return false;
		for (size_t j = 0; j < i; j++)
			if (strcmp(changes[j].attribute, c->attribute) == 0)
				return false;
	}
	return true;
}

/* Gives w room for its records and draws its ids; write_free releases them. */
static enum cid_err write_alloc(struct write *w)
{
	w->request_id = w->ctx->request_id;
	if (w->request_id == NULL) {
		enum cid_err rc = cid_random_uuid(w->own_request_id);

		if (rc != CID_OK)
			return rc;
		w->request_id = w->own_request_id;
	}
	w->ids = calloc(w->n, sizeof(*w->ids));
	// NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers
	w->recs = calloc(w->n, sizeof(*w->recs));
	if (w->ids == NULL || w->recs == NULL)
		return CID_ERR_NOMEM;
	for (size_t i = 0; i < w->n; i++) {
		enum cid_err rc = cid_random_uuid(w->ids[i]);

		if (rc != CID_OK)
			return rc;
	}
	return CID_OK;
}

static void write_free(struct write *w)
{
	free(w->ids);
	w->ids = NULL;
	if (w->recs != NULL)
		recs_clear(w);
	free(w->recs);
	w->recs = NULL;
}

/* Draws the ids, runs the write, and hands the ids out only if it committed. */
static enum cid_err write_records(struct cid_store *s, struct write *w, char **ids_out)
{
	enum cid_err rc = CID_OK;
	char **ids = NULL;
	size_t i;

	CID_TRY(write_alloc(w));
	if (ids_out != NULL) {
		/* allocated before the write, so a committed write cannot fail to report */
		ids = calloc(w->n, sizeof(*ids));
		CID_ENSURE(ids != NULL, CID_ERR_NOMEM);
		for (i = 0; i < w->n; i++) {
			ids[i] = strdup(w->ids[i]);
			CID_ENSURE(ids[i] != NULL, CID_ERR_NOMEM);
		}
	}
	CID_TRY(cid_store_update(s, write_cb, w));
	if (ids_out != NULL)
		memcpy(ids_out, ids, w->n * sizeof(*ids));
	free(ids);
	ids = NULL;
out:
	for (i = 0; ids != NULL && i < w->n; i++)
		free(ids[i]);
	free(ids);
	write_free(w);
	return rc;
}

enum cid_err cid_consent_record(struct cid_store *s, const struct cid_consent_context *ctx,
				const struct cid_consent_change *changes, size_t n, char **ids_out)
{
	struct write w = {.ctx = ctx, .changes = changes, .n = n};

	if (!context_ok(ctx, false) || !changes_ok(changes, n, ctx->now))
		return CID_ERR_INVALID;
	return write_records(s, &w, ids_out);
}

enum cid_err cid_consent_withdraw(struct cid_store *s, const struct cid_consent_context *ctx,
				  const char *const *attributes, size_t n, char **ids_out,
				  struct cid_consent_fault *fault)
{
	enum cid_err rc = CID_OK;
	struct cid_consent_change *changes = NULL;
	struct write w = {.ctx = ctx, .n = n, .copy_versions = true};

	CID_ENSURE(context_ok(ctx, true) && attributes != NULL, CID_ERR_INVALID);
	changes = calloc(n == 0 ? 1 : n, sizeof(*changes));
	CID_ENSURE(changes != NULL, CID_ERR_NOMEM);
	for (size_t i = 0; i < n; i++)
		changes[i] = (struct cid_consent_change){attributes[i], CID_CONSENT_WITHDRAWN, 0};
	CID_ENSURE(changes_ok(changes, n, ctx->now), CID_ERR_INVALID);
	w.changes = changes;
	rc = write_records(s, &w, ids_out);
	if (rc == CID_ERR_NOTFOUND && fault != NULL)
		*fault = w.fault;
out:
	free(changes);
	return rc;
}

/* The citizen's records, parsed, in key order (cid_consent_withdraw_account_txn). */
static enum cid_err collect_record(struct cid_str key, struct cid_str val, void *arg)
{
	enum cid_err rc = CID_OK;
	json_t *rec = NULL;

	(void)key;
	CID_TRY(cid_consent_record_parse(val, &rec));
	CID_ENSURE(json_array_append_new(arg, rec) == 0, CID_ERR_NOMEM);
out:
	return rc;
}

static bool same_member(const json_t *a, const json_t *b, const char *name)
{
	return strcmp(cid_json_str(a, name), cid_json_str(b, name)) == 0;
}

/* Withdraws the grants in force of one (service, purpose): changes[0..n) of base's scope. */
static enum cid_err withdraw_scope(struct cid_txn *txn, const struct cid_consent_context *ctx,
				   const struct cid_consent_change *changes, size_t n)
{
	enum cid_err rc = CID_OK;
	struct write w = {.ctx = ctx, .changes = changes, .n = n, .copy_versions = true};

	CID_TRY(write_alloc(&w));
	CID_TRY(write_cb(txn, &w));
out:
	write_free(&w);
	return rc;
}

enum cid_err cid_consent_withdraw_account_txn(struct cid_txn *txn, const char *account_id,
					      enum cid_consent_method method, int64_t now,
					      size_t *n_out)
{
	enum cid_err rc = CID_OK;
	char prefix[CID_ID_CHARS + 2];
	json_t *all = json_array();
	struct cid_consent_change *changes = NULL;
	struct cid_consent_context ctx = {.account_id = account_id, .method = method, .now = now};
	size_t n_claims;
	size_t n = 0;
	size_t withdrawn = 0;
	size_t size;

	(void)cid_claim_table(&n_claims);
	CID_ENSURE(all != NULL, CID_ERR_NOMEM);
	CID_ENSURE(cid_uuid_syntax_ok(account_id) && cid_consent_method_name(method) != NULL &&
		       now >= 0,
		   CID_ERR_INVALID);
	/* read first, write after: the walk's cursor is on the database written */
	snprintf(prefix, sizeof(prefix), "%s\n", account_id);
	CID_TRY(cid_txn_foreach(txn, CID_DB_CONSENTS, cid_str_of(prefix), collect_record, all));
	changes = calloc(n_claims, sizeof(*changes));
	CID_ENSURE(changes != NULL, CID_ERR_NOMEM);
	size = json_array_size(all);
	for (size_t i = 0; i < size; i++) {
		const json_t *rec = json_array_get(all, i);
		const json_t *next = i + 1 < size ? json_array_get(all, i + 1) : NULL;
		bool scope_ends = next == NULL || !same_member(rec, next, "service") ||
				  !same_member(rec, next, "purpose");

		/* the latest record of an attribute is the last before another attribute */
		if ((scope_ends || !same_member(rec, next, "attribute")) &&
		    consent_record_state(rec, now) == CID_CONSENT_GRANTED) {
			CID_ENSURE(n < n_claims, CID_ERR_STORE);
			changes[n++] = (struct cid_consent_change){cid_json_str(rec, "attribute"),
								   CID_CONSENT_WITHDRAWN, 0};
		}
		if (scope_ends && n > 0) {
			ctx.service = cid_json_str(rec, "service");
			ctx.purpose = cid_json_str(rec, "purpose");
			CID_TRY(withdraw_scope(txn, &ctx, changes, n));
			withdrawn += n;
			n = 0;
		}
	}
	if (n_out != NULL)
		*n_out = withdrawn;
out:
	free(changes);
	json_decref(all);
	return rc;
}
