/*
 * audit_officer: what a privacy officer does in the console is on the
 * record, as ordinary entries of the log (audit.h): each search of the log
 * (officer.searched: the filter as typed, the rows shown) and each entry
 * opened (officer.viewed: which seq), naming the officer. An entry about one
 * citizen (a search for them, or a view of an entry naming them) names the
 * citizen too, so "who looked at this person" is a query by citizen. They
 * chain, enter the tree and are proved like every other entry; the
 * citizen's slice (release and consent entries) never shows them. A look-up
 * of who a pseudonym is (officer.resolved) is the only way from an entry
 * to a citizen, and is on the record before its answer leaves. The
 * operator's command-line reads of citizens' data (operator.viewed: the
 * command, the rows, the citizen) are on the record the same way, before
 * the command prints; so is an account's deletion (account.deleted, by the
 * operator or the citizen), whose entry is made here and appended in the
 * deletion's own transaction.
 */
#include "audit.h"

#include "audit_int.h"
#include "pseudonym.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static enum cid_err ext_set(json_t *ext, const char *name, const char *value)
{
	if (value == NULL)
		return CID_OK;
	if (!cid_utf8_valid(value, strlen(value)))
		return CID_ERR_INVALID;
	return json_object_set_new(ext, name, json_string(value)) == 0 ? CID_OK : CID_ERR_NOMEM;
}

enum cid_err cid_audit_officer_entry(const struct cid_audit_officer_act *x, json_t **out)
{
	enum cid_err rc = CID_OK;
	json_t *e = NULL;
	json_t *ext;
	char when[AUDIT_TIME_CHARS + 1];
	char actor[8 + CID_AUDIT_MAX_NAME + 1];
	char n[24];
	bool searched;

	CID_ENSURE(x != NULL && x->officer != NULL && x->officer[0] != '\0' &&
		       strlen(x->officer) <= CID_AUDIT_MAX_NAME,
		   CID_ERR_INVALID);
	CID_ENSURE(x->act == CID_AUDIT_OFFICER_SEARCHED || x->act == CID_AUDIT_OFFICER_VIEWED,
		   CID_ERR_INVALID);
	searched = x->act == CID_AUDIT_OFFICER_SEARCHED;
	CID_TRY(cid_audit_time(x->now, when));
	snprintf(actor, sizeof(actor), "officer:%s", x->officer);
	e = json_pack("{s:s, s:s, s:s, s:s, s:{}}", "type",
		      searched ? "officer.searched" : "officer.viewed", "time", when, "actor",
		      actor, "endpoint", "officer-console", "ext");
	CID_ENSURE(e != NULL, CID_ERR_NOMEM);
	ext = json_object_get(e, "ext");
	snprintf(n, sizeof(n), "%" PRIu64, searched ? x->rows : x->seq);
	CID_TRY(ext_set(ext, searched ? "rows" : "seq", n));
	if (searched && x->filter != NULL) {
		const struct cid_audit_filter *f = x->filter;
		const char *names[] = {"citizen", "service", "release", "attribute",
				       "type",	  "from",    "to"};
		const char *values[] = {f->citizen, f->service, f->release, f->attribute,
					f->type,    f->from,	f->to};

		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			CID_TRY(ext_set(ext, names[i], values[i]));
		if (f->after_seq != 0) {
			snprintf(n, sizeof(n), "%" PRIu64, f->after_seq);
			CID_TRY(ext_set(ext, "before", n));
		}
	}
	if (x->citizen != NULL)
		CID_ENSURE(json_object_set_new(e, "citizen", json_string(x->citizen)) == 0,
			   CID_ERR_NOMEM);
	*out = e;
	e = NULL;
out:
	json_decref(e);
	return rc;
}

enum cid_err cid_audit_officer_record(struct cid_audit *log, const struct cid_audit_officer_act *x,
				      uint64_t *seq)
{
	enum cid_err rc = CID_OK;
	json_t *e = NULL;

	CID_ENSURE(log != NULL, CID_ERR_INVALID);
	CID_TRY(cid_audit_officer_entry(x, &e));
	CID_TRY(cid_audit_append(log, &e, 1, seq));
out:
	json_decref(e);
	return rc;
}

/* The length of the white space (U+0020, U+00A0, U+3000) at p, or 0. */
static size_t blank_at(const char *p)
{
	if (p[0] == ' ')
		return 1;
	if ((unsigned char)p[0] == 0xc2 && (unsigned char)p[1] == 0xa0)
		return 2;
	if ((unsigned char)p[0] == 0xe3 && (unsigned char)p[1] == 0x80 &&
	    (unsigned char)p[2] == 0x80)
		return 3;
	return 0;
}

enum cid_err cid_audit_reason_check(const char *reason, bool required, bool *given)
{
	size_t n;
	size_t at = 0;
	size_t w;

	*given = false;
	if (reason == NULL)
		return required ? CID_ERR_INVALID : CID_OK;
	n = strnlen(reason, CID_AUDIT_MAX_REASON + 1);
	if (n > CID_AUDIT_MAX_REASON || !cid_utf8_valid(reason, n))
		return CID_ERR_INVALID;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)reason[i] < 0x20 || reason[i] == 0x7f)
			return CID_ERR_INVALID;
	while (at < n && (w = blank_at(reason + at)) > 0)
		at += w;
	*given = at < n;
	return *given || !required ? CID_OK : CID_ERR_INVALID;
}

enum cid_err cid_audit_resolve(struct cid_audit *log, const char *actor, const char *pseudonym,
			       const char *reason, int64_t now, json_t **out)
{
	enum cid_err rc = CID_OK;
	enum cid_err found;
	struct cid_txn *txn = NULL;
	json_t *scope = NULL;
	json_t *e = NULL;
	char when[AUDIT_TIME_CHARS + 1];
	bool officer;
	bool given;

	CID_ENSURE(log != NULL && actor != NULL && out != NULL &&
		       cid_pseudonym_syntax_ok(pseudonym) &&
		       audit_index_name_ok(actor, strnlen(actor, CID_AUDIT_MAX_NAME + 1)),
		   CID_ERR_INVALID);
	officer = strncmp(actor, "officer:", 8) == 0 && actor[8] != '\0';
	CID_ENSURE(officer || strcmp(actor, "operator") == 0, CID_ERR_INVALID);
	/* an officer says why; the operator may (a disclosure request's number) */
	CID_TRY(cid_audit_reason_check(reason, officer, &given));
	if (!given)
		reason = NULL;
	CID_TRY(cid_audit_time(now, when));
	CID_TRY(cid_store_read_begin(audit_store(log), &txn));
	found = cid_pseudonym_resolve(txn, pseudonym, &scope);
	cid_store_read_end(txn);
	txn = NULL;
	CID_ENSURE(found == CID_OK || found == CID_ERR_NOTFOUND, found);
	/* the look-up is on the record before its answer leaves, found or not */
	e = json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}}", "type", "officer.resolved", "time",
		      when, "actor", actor, "endpoint", officer ? "officer-console" : "cli",
		      "citizen", pseudonym, "ext", "pseudonym", pseudonym, "found",
		      found == CID_OK ? "true" : "false");
	CID_ENSURE(e != NULL, CID_ERR_NOMEM);
	CID_TRY(ext_set(json_object_get(e, "ext"), "reason", reason));
	CID_TRY(cid_audit_append(log, &e, 1, NULL));
	CID_TRY(found);
	*out = scope;
	scope = NULL;
out:
	cid_store_read_end(txn);
	json_decref(e);
	json_decref(scope);
	return rc;
}

/* Printable ASCII only: a command as the operator's shell ran it, no escapes. */
static bool command_ok(const char *s)
{
	size_t n;

	if (s == NULL)
		return false;
	n = strnlen(s, CID_AUDIT_MAX_NAME + 1);
	if (n == 0 || n > CID_AUDIT_MAX_NAME)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	return true;
}

enum cid_err cid_audit_operator_viewed(struct cid_audit *log, const char *command,
				       const char *citizen, uint64_t rows, int64_t now)
{
	enum cid_err rc = CID_OK;
	json_t *e = NULL;
	char when[AUDIT_TIME_CHARS + 1];
	char n[24];

	CID_ENSURE(log != NULL && command_ok(command) &&
		       (citizen == NULL ||
			audit_index_name_ok(citizen, strnlen(citizen, CID_AUDIT_MAX_NAME + 1))),
		   CID_ERR_INVALID);
	CID_TRY(cid_audit_time(now, when));
	snprintf(n, sizeof(n), "%" PRIu64, rows);
	e = json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:s}}", "type", "operator.viewed", "time", when,
		      "actor", "operator", "endpoint", "cli", "ext", "command", command, "rows", n);
	CID_ENSURE(e != NULL, CID_ERR_NOMEM);
	if (citizen != NULL)
		CID_ENSURE(json_object_set_new(e, "citizen", json_string(citizen)) == 0,
			   CID_ERR_NOMEM);
	CID_TRY(cid_audit_append(log, &e, 1, NULL));
out:
	json_decref(e);
	return rc;
}

enum cid_err cid_audit_deletion_entry(const struct cid_audit_deletion *x, json_t **out)
{
	enum cid_err rc = CID_OK;

	const struct {
		const char *name;
		size_t n;
	} counts[] = {{"sessions", x->sessions},
		      {"grants", x->grants},
		      {"links", x->links},
		      {"withdrawn", x->withdrawn}};

	char when[AUDIT_TIME_CHARS + 1];
	char n[24];
	json_t *e = NULL;
	json_t *ext;

	CID_ENSURE(x->actor != NULL && x->endpoint != NULL && x->citizen != NULL, CID_ERR_INVALID);
	CID_TRY(cid_audit_time(x->now, when));
	e = json_pack("{s:s, s:s, s:s, s:s, s:s, s:{}}", "type", "account.deleted", "time", when,
		      "actor", x->actor, "endpoint", x->endpoint, "citizen", x->citizen, "ext");
	CID_ENSURE(e != NULL, CID_ERR_NOMEM);
	ext = json_object_get(e, "ext");
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		snprintf(n, sizeof(n), "%zu", counts[i].n);
		CID_ENSURE(json_object_set_new(ext, counts[i].name, json_string(n)) == 0,
			   CID_ERR_NOMEM);
	}
	*out = e;
	e = NULL;
out:
	json_decref(e);
	return rc;
}
