/*
 * consent_read: reading consent records (consent.h): the current facts the
 * policy evaluator takes, a citizen's history, the latest record of one
 * attribute. consent.c writes them; the key shape and the record's state
 * are consent_int.h's, shared by both.
 */
#include "consent.h"

#include "account.h"
#include "consent_int.h"
#include "crypto.h"
#include "str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- reading ---- */

struct cid_consent_facts {
	json_t *records; /* the records the facts' strings point into */
	struct cid_consent_fact *facts;
	size_t n;
};

/* The scan of one (citizen, service, purpose): each attribute's last value. */
struct current {
	size_t prefix_len;
	int64_t now;
	struct cid_consent_facts *f;
	size_t cap;
	struct cid_str attr; /* attribute of val; borrowed from the transaction */
	struct cid_str val;  /* the latest value seen for attr */
};

static enum cid_err fact_push(struct current *c)
{
	enum cid_err rc = CID_OK;
	struct cid_consent_facts *f = c->f;
	struct cid_consent_fact *fact;
	json_t *rec = NULL;
	enum cid_consent_state state;
	int64_t expires_at;

	if (c->val.ptr == NULL)
		return CID_OK;
	CID_TRY(cid_consent_record_parse(c->val, &rec));
	CID_ENSURE(cid_str_eq(c->attr, cid_json_str(rec, "attribute")), CID_ERR_STORE);
	expires_at = cid_json_int(rec, "expires_at");
	state = consent_record_state(rec, c->now);
	if (f->n == c->cap) {
		size_t cap = c->cap == 0 ? 8 : c->cap * 2;
		struct cid_consent_fact *grown = realloc(f->facts, cap * sizeof(*grown));

		CID_ENSURE(grown != NULL, CID_ERR_NOMEM);
		f->facts = grown;
		c->cap = cap;
	}
	/* the array keeps rec, and so the strings the fact borrows, alive */
	CID_ENSURE(json_array_append(f->records, rec) == 0, CID_ERR_NOMEM);
	fact = &f->facts[f->n++];
	*fact = (struct cid_consent_fact){
	    .attribute = cid_json_str(rec, "attribute"),
	    .state = state,
	    .expires_at = expires_at,
	    .purpose_digest = cid_json_str(rec, "purpose_digest"),
	    .record_id = cid_json_str(rec, "id"),
	};
	c->val = (struct cid_str){NULL, 0};
out:
	json_decref(rec);
	return rc;
}

static enum cid_err current_one(struct cid_str key, struct cid_str val, void *arg)
{
	enum cid_err rc = CID_OK;
	struct current *c = arg;
	const char *attr = key.ptr + c->prefix_len;
	size_t rest = key.len - c->prefix_len;
	struct cid_str a;

	/* attribute "\n" seq after the prefix */
	CID_ENSURE(rest > CONSENT_SEQ_CHARS + 1 && attr[rest - CONSENT_SEQ_CHARS - 1] == '\n',
		   CID_ERR_STORE);
	a = (struct cid_str){attr, rest - CONSENT_SEQ_CHARS - 1};
	CID_ENSURE(memchr(a.ptr, '\n', a.len) == NULL, CID_ERR_STORE);
	/* keys of one attribute are adjacent and oldest first: a new one closes the last */
	if (c->val.ptr != NULL && (a.len != c->attr.len || memcmp(a.ptr, c->attr.ptr, a.len) != 0))
		CID_TRY(fact_push(c));
	c->attr = a;
	c->val = val;
out:
	return rc;
}

enum cid_err cid_consent_current(struct cid_txn *txn, const char *account_id, const char *service,
				 const char *purpose, int64_t now,
				 struct cid_consent_facts **facts_out)
{
	enum cid_err rc = CID_OK;
	char prefix[CONSENT_KEY_MAX + 1];
	size_t len = consent_key_prefix(prefix, account_id, service, purpose, NULL);
	struct current c = {.prefix_len = len, .now = now};

	c.f = calloc(1, sizeof(*c.f));
	CID_ENSURE(c.f != NULL, CID_ERR_NOMEM);
	c.f->records = json_array();
	CID_ENSURE(c.f->records != NULL, CID_ERR_NOMEM);
	/* no record can be filed under a bad name: no decisions */
	if (len > 0) {
		CID_TRY(cid_txn_foreach(txn, CID_DB_CONSENTS, (struct cid_str){prefix, len},
					current_one, &c));
		CID_TRY(fact_push(&c));
	}
	*facts_out = c.f;
	c.f = NULL;
out:
	cid_consent_facts_free(c.f);
	return rc;
}

const struct cid_consent_fact *cid_consent_facts_get(const struct cid_consent_facts *f, size_t *n)
{
	*n = f == NULL ? 0 : f->n;
	return f == NULL || f->n == 0 ? NULL : f->facts;
}

void cid_consent_facts_free(struct cid_consent_facts *f)
{
	if (f == NULL)
		return;
	json_decref(f->records);
	free(f->facts);
	free(f);
}

enum cid_err cid_consent_latest(struct cid_txn *txn, const char *account_id, const char *service,
				const char *purpose, const char *attribute, json_t **out)
{
	char prefix[CONSENT_KEY_MAX + 1];
	size_t len = consent_key_prefix(prefix, account_id, service, purpose, attribute);

	if (len == 0 || attribute == NULL)
		return CID_ERR_NOTFOUND;
	return consent_latest_record(txn, (struct cid_str){prefix, len}, out);
}

/* Collects every record scanned into an array. */
static enum cid_err history_one(struct cid_str key, struct cid_str val, void *arg)
{
	json_t *records = arg;
	json_t *rec = NULL;
	enum cid_err rc = cid_consent_record_parse(val, &rec);

	(void)key;
	if (rc != CID_OK)
		return rc;
	return json_array_append_new(records, rec) == 0 ? CID_OK : CID_ERR_NOMEM;
}

enum cid_err cid_consent_history(struct cid_store *s, const char *account_id, const char *service,
				 json_t **out)
{
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;
	json_t *records = json_array();
	char prefix[CONSENT_KEY_MAX + 1];
	int len = 0;

	CID_ENSURE(records != NULL, CID_ERR_NOMEM);
	if (cid_uuid_syntax_ok(account_id) && (service == NULL || consent_name_ok(service)))
		len = snprintf(prefix, sizeof(prefix), "%s\n%s%s", account_id,
			       service == NULL ? "" : service, service == NULL ? "" : "\n");
	if (len > 0 && (size_t)len < sizeof(prefix)) {
		CID_TRY(cid_store_read_begin(s, &txn));
		CID_TRY(cid_txn_foreach(txn, CID_DB_CONSENTS, (struct cid_str){prefix, (size_t)len},
					history_one, records));
	}
	*out = records;
	records = NULL;
out:
	cid_store_read_end(txn);
	json_decref(records);
	return rc;
}
