/*
 * account_consent: the citizen takes back or gives again a consent on their
 * account page.
 *
 * What may change is decided from two sources only: the citizen's own
 * records with the service (the history consent.c keeps, keyed by the
 * session's account id, so no form can reach another citizen's records) and
 * the policies in force (a statute basis is never the citizen's to change; a
 * grant given again must be one the consent screen could ask today). The
 * writing itself is consent.c's, in one transaction per purpose with its
 * audit entries, so the release of the next token, refresh or userinfo reads
 * the change. Withdrawing everything of a service also revokes the service's
 * grants for the citizen: its refresh and access tokens stop working.
 */
#include "account_consent.h"

#include "account_pages_int.h"
#include "consent.h"
#include "crypto.h"
#include "policy.h"
#include "session.h"
#include "str.h"
#include "token.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The names of the notices, as the redirect carries them; their message is account_notice_NAME. */
static const char *const notice_names[CID_NOTICE_COUNT] = {
    [CID_NOTICE_WITHDRAWN_ATTRIBUTE] = "withdrawn_attribute",
    [CID_NOTICE_WITHDRAWN_PURPOSE] = "withdrawn_purpose",
    [CID_NOTICE_WITHDRAWN_SERVICE] = "withdrawn_service",
    [CID_NOTICE_SHARED] = "shared",
    [CID_NOTICE_NO_SERVICE] = "no_service",
    [CID_NOTICE_NO_PURPOSE] = "no_purpose",
    [CID_NOTICE_BY_LAW] = "by_law",
    [CID_NOTICE_NOT_IN_PURPOSE] = "not_in_purpose",
    [CID_NOTICE_NOT_SHARED] = "not_shared",
    [CID_NOTICE_NOT_SHAREABLE] = "not_shareable",
};

const char *cid_account_notice_name(enum cid_account_notice notice)
{
	if ((unsigned)notice >= CID_NOTICE_COUNT)
		return NULL;
	return notice_names[notice];
}

/* The citizen's records with one service, and what a change of them needs. */
struct change {
	struct cid_ctx *ctx;
	const struct cid_account_change *ch;
	const struct cid_policyset *ps;
	json_t *history; /* the citizen's records with ch->service, oldest first per attribute */
};

/*
 * The latest record of (purpose, attribute) into *rec and *found (false:
 * none). The history is in key order: an attribute's records run oldest to
 * newest, so the last match is its current decision.
 */
static enum cid_err latest_of(const json_t *history, const char *purpose, const char *attribute,
			      struct cid_consent_record *rec, bool *found)
{
	struct cid_consent_record r;
	size_t i;
	const json_t *e;

	*found = false;
	json_array_foreach(history, i, e)
	{
		if (cid_consent_record_read(e, &r) != CID_OK)
			return CID_ERR_STORE;
		if (strcmp(r.purpose, purpose) == 0 && strcmp(r.attribute, attribute) == 0) {
			*rec = r;
			*found = true;
		}
	}
	return CID_OK;
}

/* True if the citizen has a record for purpose with the service. */
static bool has_purpose(const json_t *history, const char *purpose)
{
	size_t i;
	const json_t *e;

	json_array_foreach(history, i, e)
	{
		const char *p = cid_json_str(e, "purpose");

		if (p != NULL && strcmp(p, purpose) == 0)
			return true;
	}
	return false;
}

static bool grant_in_force(const struct cid_consent_record *rec, int64_t now)
{
	return rec->state == CID_CONSENT_GRANTED && !cid_consent_record_expired(rec, now);
}

/*
 * True if the consent screen could ask for attribute under the purpose in
 * force, as consent_paper.c asks it: the evaluator without facts says "no
 * consent yet" (at the highest level: a permit that needs a step-up is
 * still one to ask for).
 */
static bool askable(const struct cid_policyset *ps, const char *service, const char *purpose,
		    const char *attribute, int64_t now)
{
	struct cid_decision d;

	cid_policy_eval(ps, service, purpose, attribute, NULL, 0, CID_LEVEL_MFA, now, &d);
	return d.reason == CID_REASON_NO_CONSENT || d.reason == CID_REASON_LEVEL_TOO_LOW;
}

enum cid_account_offer cid_account_offer(const struct cid_policyset *ps,
					 const struct cid_consent_record *rec, int64_t now)
{
	struct cid_purpose_info pu;
	bool in_policy =
	    cid_policy_purpose_find(cid_policyset_find(ps, rec->service), rec->purpose, &pu);

	/* a statute basis is not the citizen's to change, whatever was recorded before it */
	if (in_policy && pu.basis == CID_BASIS_STATUTE)
		return CID_OFFER_NONE;
	if (grant_in_force(rec, now))
		return CID_OFFER_WITHDRAW;
	if (in_policy &&
	    (rec->state == CID_CONSENT_REFUSED || rec->state == CID_CONSENT_WITHDRAWN) &&
	    askable(ps, rec->service, rec->purpose, rec->attribute, now))
		return CID_OFFER_SHARE;
	return CID_OFFER_NONE;
}

/*
 * The attributes of purpose that the citizen may withdraw (cid_account_offer)
 * at now, into names (room for every record of history; borrowed from it), *n.
 */
static enum cid_err withdrawable(const struct change *c, const char *purpose, const char **names,
				 size_t *n)
{
	struct cid_consent_record rec;
	struct cid_consent_record next;
	size_t count = json_array_size(c->history);

	*n = 0;
	for (size_t i = 0; i < count; i++) {
		if (cid_consent_record_read(json_array_get(c->history, i), &rec) != CID_OK)
			return CID_ERR_STORE;
		if (strcmp(rec.purpose, purpose) != 0)
			continue;
		/* only the latest record of each attribute is its current decision */
		if (i + 1 < count &&
		    cid_consent_record_read(json_array_get(c->history, i + 1), &next) == CID_OK &&
		    strcmp(next.purpose, purpose) == 0 &&
		    strcmp(next.attribute, rec.attribute) == 0)
			continue;
		if (cid_account_offer(c->ps, &rec, c->ch->now) == CID_OFFER_WITHDRAW)
			names[(*n)++] = rec.attribute;
	}
	return CID_OK;
}

/*
 * Withdraws names[0..n) of purpose (n > 0) in one write; out->records counts
 * them, and out->receipt is the first record of the first withdrawal (its
 * receipt's name). CID_ERR_NOTFOUND (a grant ended since it was read) is
 * passed on.
 */
static enum cid_err withdraw(const struct change *c, const char *purpose, const char *const *names,
			     size_t n, struct cid_account_outcome *out)
{
	enum cid_err rc;
	char **ids = calloc(n, sizeof(*ids));
	struct cid_consent_context cc = {
	    .account_id = c->ch->account_id,
	    .service = c->ch->service,
	    .purpose = purpose,
	    .method = CID_CONSENT_METHOD_ACCOUNT,
	    .request_id = c->ch->request_id,
	    .now = c->ch->now,
	};

	if (ids == NULL)
		return CID_ERR_NOMEM;
	rc = cid_consent_withdraw(cid_ctx_store(c->ctx), &cc, names, n, ids, NULL);
	if (rc == CID_OK) {
		out->records += n;
		if (out->receipt[0] == '\0' && ids[0] != NULL && strlen(ids[0]) == CID_ID_CHARS)
			memcpy(out->receipt, ids[0], CID_ID_CHARS + 1);
		for (size_t i = 0; i < n; i++)
			free(ids[i]);
	}
	free(ids);
	return rc;
}

/* One attribute: its latest record must be a grant in force. */
static enum cid_err withdraw_attribute(const struct change *c, struct cid_account_outcome *out)
{
	enum cid_err rc = CID_OK;
	const char *purpose = c->ch->purpose;
	const char *attribute = c->ch->attribute;
	struct cid_consent_record rec;
	bool found;

	CID_TRY(latest_of(c->history, purpose, attribute, &rec, &found));
	/* never decided: an attribute the purpose asks is not shared; else it is none of it */
	out->notice = CID_NOTICE_NOT_IN_PURPOSE;
	CID_ENSURE(found || askable(c->ps, c->ch->service, purpose, attribute, c->ch->now),
		   CID_ERR_REFUSED);
	out->notice = CID_NOTICE_NOT_SHARED;
	CID_ENSURE(found && cid_account_offer(c->ps, &rec, c->ch->now) == CID_OFFER_WITHDRAW,
		   CID_ERR_REFUSED);
	rc = withdraw(c, purpose, &attribute, 1, out);
	CID_ENSURE(rc != CID_ERR_NOTFOUND, CID_ERR_REFUSED);
	CID_TRY(rc);
	out->notice = CID_NOTICE_WITHDRAWN_ATTRIBUTE;
out:
	return rc;
}

/* A purpose: every attribute that may be withdrawn, at least one. */
static enum cid_err withdraw_purpose(const struct change *c, struct cid_account_outcome *out)
{
	enum cid_err rc = CID_OK;
	const char **names = calloc(json_array_size(c->history) + 1, sizeof(*names));
	size_t n = 0;

	CID_ENSURE(names != NULL, CID_ERR_NOMEM);
	CID_TRY(withdrawable(c, c->ch->purpose, names, &n));
	out->notice = CID_NOTICE_NOT_SHARED;
	CID_ENSURE(n > 0, CID_ERR_REFUSED);
	rc = withdraw(c, c->ch->purpose, names, n, out);
	CID_ENSURE(rc != CID_ERR_NOTFOUND, CID_ERR_REFUSED);
	CID_TRY(rc);
	out->notice = CID_NOTICE_WITHDRAWN_PURPOSE;
out:
	free(names);
	return rc;
}

/* A service: what may be withdrawn of each purpose, then its tokens for the citizen. */
static enum cid_err withdraw_service(const struct change *c, struct cid_account_outcome *out)
{
	enum cid_err rc = CID_OK;
	const char **names = calloc(json_array_size(c->history) + 1, sizeof(*names));
	const char *last = NULL;
	size_t n = 0;
	size_t i;
	const json_t *e;

	CID_ENSURE(names != NULL, CID_ERR_NOMEM);
	/* one purpose's records are contiguous in the history */
	json_array_foreach(c->history, i, e)
	{
		const char *purpose = cid_json_str(e, "purpose");

		CID_ENSURE(purpose != NULL, CID_ERR_STORE);
		if (last != NULL && strcmp(last, purpose) == 0)
			continue;
		last = purpose;
		CID_TRY(withdrawable(c, purpose, names, &n));
		if (n == 0)
			continue;
		enum cid_err w = withdraw(c, purpose, names, n, out);

		/* a grant that ended meanwhile has nothing left to withdraw */
		CID_ENSURE(w == CID_OK || w == CID_ERR_NOTFOUND, w);
	}
	CID_TRY(cid_grant_revoke_client(cid_ctx_store(c->ctx), c->ch->account_id, c->ch->service,
					c->ch->now, &out->grants_revoked));
	out->notice = CID_NOTICE_WITHDRAWN_SERVICE;
out:
	free(names);
	return rc;
}

/* One attribute given again: refused or withdrawn before, and asked by the purpose in force. */
static enum cid_err share(const struct change *c, const struct cid_purpose_info *pu,
			  struct cid_account_outcome *out)
{
	enum cid_err rc = CID_OK;
	const char *attribute = c->ch->attribute;
	struct cid_consent_record rec;
	struct cid_consent_change grant;
	struct cid_consent_context cc = {
	    .account_id = c->ch->account_id,
	    .service = c->ch->service,
	    .purpose = c->ch->purpose,
	    .policy_version = cid_policyset_version(c->ps, c->ch->service),
	    .purpose_digest = pu != NULL ? pu->digest : NULL,
	    .method = CID_CONSENT_METHOD_ACCOUNT,
	    .request_id = c->ch->request_id,
	    .now = c->ch->now,
	};
	bool found;

	CID_TRY(latest_of(c->history, c->ch->purpose, attribute, &rec, &found));
	out->notice = CID_NOTICE_NOT_IN_PURPOSE;
	CID_ENSURE(pu != NULL &&
		       askable(c->ps, c->ch->service, c->ch->purpose, attribute, c->ch->now),
		   CID_ERR_REFUSED);
	out->notice = CID_NOTICE_NOT_SHAREABLE;
	CID_ENSURE(found && cid_account_offer(c->ps, &rec, c->ch->now) == CID_OFFER_SHARE,
		   CID_ERR_REFUSED);
	grant = (struct cid_consent_change){attribute, CID_CONSENT_GRANTED,
					    cid_consent_expiry(pu->consent_valid_days, c->ch->now)};
	CID_TRY(cid_consent_record(cid_ctx_store(c->ctx), &cc, &grant, 1, NULL));
	out->records = 1;
	out->notice = CID_NOTICE_SHARED;
out:
	return rc;
}

/* Checks what no change could name, before any record is read. */
static bool well_formed(const struct cid_account_change *ch)
{
	if (ch == NULL || !cid_uuid_syntax_ok(ch->account_id) || !cid_consent_name_ok(ch->service))
		return false;
	if (ch->purpose != NULL && !cid_consent_name_ok(ch->purpose))
		return false;
	if (ch->attribute != NULL &&
	    (ch->purpose == NULL || !cid_consent_attribute_ok(ch->attribute)))
		return false;
	if (ch->action == CID_ACCOUNT_SHARE)
		return ch->attribute != NULL;
	return ch->action == CID_ACCOUNT_WITHDRAW;
}

enum cid_err cid_account_consent_change(struct cid_ctx *ctx, const struct cid_account_change *ch,
					struct cid_account_outcome *out)
{
	enum cid_err rc = CID_OK;
	struct cid_policyref *pref = NULL;
	struct change c = {.ctx = ctx, .ch = ch};
	struct cid_purpose_info pu;
	bool in_policy = false;

	*out = (struct cid_account_outcome){0};
	CID_ENSURE(well_formed(ch), CID_ERR_INVALID);
	pref = cid_ctx_policies_acquire(ctx);
	c.ps = cid_policyref_set(pref);
	CID_TRY(cid_consent_history(cid_ctx_store(ctx), ch->account_id, ch->service, &c.history));
	/* a service the citizen never decided for is none of theirs to change */
	out->notice = CID_NOTICE_NO_SERVICE;
	CID_ENSURE(json_array_size(c.history) > 0, CID_ERR_REFUSED);
	if (ch->purpose != NULL) {
		in_policy = cid_policy_purpose_find(cid_policyset_find(c.ps, ch->service),
						    ch->purpose, &pu);
		out->notice = CID_NOTICE_BY_LAW;
		CID_ENSURE(!in_policy || pu.basis != CID_BASIS_STATUTE, CID_ERR_REFUSED);
		out->notice = CID_NOTICE_NO_PURPOSE;
		CID_ENSURE(in_policy || has_purpose(c.history, ch->purpose), CID_ERR_REFUSED);
	}
	if (ch->action == CID_ACCOUNT_SHARE)
		rc = share(&c, in_policy ? &pu : NULL, out);
	else if (ch->attribute != NULL)
		rc = withdraw_attribute(&c, out);
	else if (ch->purpose != NULL)
		rc = withdraw_purpose(&c, out);
	else
		rc = withdraw_service(&c, out);
out:
	if (rc != CID_OK && rc != CID_ERR_REFUSED)
		out->notice = CID_NOTICE_NONE;
	json_decref(c.history);
	cid_policyref_put(pref);
	return rc;
}

/* ---- the form ---- */

enum cid_err cid_account_form_token(struct cid_ctx *ctx, const struct cid_request *req,
				    struct cid_reply *reply, json_t *data)
{
	enum cid_err rc = CID_OK;
	char csrf[CID_TOKEN_CHARS + 1];
	char token[CID_TOKEN_CHARS + 1];

	CID_TRY(cid_reply_csrf(ctx, req, reply, csrf));
	cid_session_form_token(req->session_cookie, csrf, token);
	CID_ENSURE(token[0] != '\0', CID_ERR_CRYPTO);
	CID_ENSURE(json_object_set_new(data, "csrf", json_string(token)) == 0, CID_ERR_NOMEM);
out:
	return rc;
}

/* A form value, NULL when absent or empty (an empty field names nothing). */
static const char *field(const struct cid_request *req, const char *name)
{
	const char *v = cid_params_get(&req->params, name);

	return v != NULL && v[0] != '\0' ? v : NULL;
}

/* A form that names no change civicid can make. */
static enum cid_err malformed(struct cid_reply *reply, const char *locale)
{
	return cid_reply_error_page(reply, 400, "invalid_request", "err.account_form", locale);
}

enum cid_err cid_account_consent_post(struct cid_ctx *ctx, const struct cid_request *req,
				      struct cid_reply *reply)
{
	static const char *const names[] = {"notice",	 "service", "purpose",
					    "attribute", "lang",    "receipt"};
	enum cid_err rc = CID_OK;
	const char *locale = account_page_locale(ctx, req);
	const char *action = field(req, "action");
	const char *values[sizeof(names) / sizeof(names[0])];
	struct cid_account_outcome done;
	struct cid_session sess;
	struct cid_account_change ch = {
	    .service = field(req, "service"),
	    .purpose = field(req, "purpose"),
	    .attribute = field(req, "attribute"),
	    .now = req->now,
	};

	CID_TRY(account_find_session(ctx, req, locale, reply, &sess));
	if (!account_form_ok(req)) {
		rc = cid_reply_error_page(reply, 403, "invalid_request", "err.account_stale",
					  locale);
		goto out;
	}
	if (action == NULL || (strcmp(action, "withdraw") != 0 && strcmp(action, "share") != 0)) {
		rc = malformed(reply, locale);
		goto out;
	}
	ch.account_id = sess.account_id;
	ch.action = strcmp(action, "share") == 0 ? CID_ACCOUNT_SHARE : CID_ACCOUNT_WITHDRAW;
	rc = cid_account_consent_change(ctx, &ch, &done);
	if (rc == CID_ERR_INVALID) {
		rc = malformed(reply, locale);
		goto out;
	}
	CID_ENSURE(rc == CID_OK || rc == CID_ERR_REFUSED, rc);
	/* Post/Redirect/Get: the page says what happened, and a reload changes nothing */
	values[0] = cid_account_notice_name(done.notice);
	values[1] = ch.service;
	values[2] = ch.purpose;
	values[3] = ch.attribute;
	values[4] = locale;
	values[5] = done.receipt[0] != '\0' ? done.receipt : NULL;
	rc = cid_reply_redirect(reply, 303, "/account", names, values,
				sizeof(names) / sizeof(names[0]));
out:
	return cid_endpoint_rc(rc);
}

enum cid_err cid_account_notice(const struct cid_request *req, json_t *data)
{
	enum cid_err rc = CID_OK;
	const char *name = cid_params_get(&req->params, "notice");
	const char *service = field(req, "service");
	const char *purpose = field(req, "purpose");
	const char *attribute = field(req, "attribute");
	const char *receipt = field(req, "receipt");
	char key[64];
	json_t *n = NULL;
	size_t i = 1;

	while (name != NULL && i < CID_NOTICE_COUNT && strcmp(name, notice_names[i]) != 0)
		i++;
	if (name == NULL || i == CID_NOTICE_COUNT)
		return CID_OK; /* no notice, or none of ours: the page says nothing */
	snprintf(key, sizeof(key), "account_notice_%s", notice_names[i]);
	n = json_pack("{s:s, s:b}", "key", key, "error", i >= CID_NOTICE_NO_SERVICE);
	CID_ENSURE(n != NULL, CID_ERR_NOMEM);
	/* shown, never trusted: only names a record could have */
	if (service != NULL && cid_consent_name_ok(service))
		CID_ENSURE(json_object_set_new(n, "service", json_string(service)) == 0,
			   CID_ERR_NOMEM);
	if (purpose != NULL && cid_consent_name_ok(purpose))
		CID_ENSURE(json_object_set_new(n, "purpose", json_string(purpose)) == 0,
			   CID_ERR_NOMEM);
	if (attribute != NULL && cid_consent_attribute_ok(attribute)) {
		snprintf(key, sizeof(key), "attr.%s", attribute);
		CID_ENSURE(json_object_set_new(n, "label_key", json_string(key)) == 0,
			   CID_ERR_NOMEM);
	}
	/* shown, and the receipt page checks it is the citizen's own */
	if (i <= CID_NOTICE_WITHDRAWN_SERVICE && receipt != NULL && cid_uuid_syntax_ok(receipt))
		CID_ENSURE(json_object_set_new(n, "receipt", json_string(receipt)) == 0,
			   CID_ERR_NOMEM);
	/* a list of one: a template section renders an array's objects, not an object */
	CID_ENSURE(json_object_set_new(data, "notice", json_pack("[O]", n)) == 0, CID_ERR_NOMEM);
out:
	json_decref(n);
	return rc;
}
