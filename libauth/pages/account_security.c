/*
 * account_security: the citizen looks after their own sign-in: where they
 * are signed in, their password, their second factor, their recent logins.
 *
 * Nothing here is a rule of its own but the order of a password change
 * (cheap refusals before the hash, the old password checked as a login is,
 * other sessions ended after): sessions end through cid_logout_end and
 * cid_logout_end_account (their services are told, as after a logout at a
 * service), passwords follow
 * cid_account_password_ok and the CLI's argon2id, codes are checked and
 * counted by account_totp, links are undone by cid_idp_unlink (which keeps
 * the last way in), and the account is deleted by account_erase (behind a
 * fresh login). Every action reads the account id from the session, never
 * from the form.
 */
#include "account_security.h"

#include "account.h"
#include "account_consent.h"
#include "account_erase.h"
#include "account_pages_int.h"
#include "audit.h"
#include "bounds.h"
#include "client.h"
#include "crypto.h"
#include "idp.h"
#include "logins.h"
#include "logout.h"
#include "policy.h"
#include "qr.h"
#include "session.h"
#include "str.h"
#include "tz.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const notice_names[CID_SECURITY_NOTICE_COUNT] = {
    [CID_SECURITY_SESSION_ENDED] = "session_ended",
    [CID_SECURITY_OTHERS_ENDED] = "others_ended",
    [CID_SECURITY_PASSWORD_CHANGED] = "password_changed",
    [CID_SECURITY_TOTP_PENDING] = "totp_pending",
    [CID_SECURITY_TOTP_ENROLLED] = "totp_enrolled",
    [CID_SECURITY_TOTP_REMOVED] = "totp_removed",
    [CID_SECURITY_SESSION_UNKNOWN] = "session_unknown",
    [CID_SECURITY_PASSWORD_WRONG] = "password_wrong",
    [CID_SECURITY_PASSWORD_WEAK] = "password_weak",
    [CID_SECURITY_PASSWORD_MISMATCH] = "password_mismatch",
    [CID_SECURITY_THROTTLED] = "throttled",
    [CID_SECURITY_CODE_WRONG] = "code_wrong",
    [CID_SECURITY_CODE_LOCKED] = "code_locked",
    [CID_SECURITY_TOTP_EXPIRED] = "totp_expired",
    [CID_SECURITY_TOTP_STATE] = "totp_state",
    [CID_SECURITY_UNLINKED] = "unlinked",
    [CID_SECURITY_LINK_UNKNOWN] = "link_unknown",
    [CID_SECURITY_LINK_LAST] = "link_last",
    [CID_SECURITY_SIGNED_IN_AGAIN] = "signed_in_again",
    [CID_SECURITY_DELETED] = "deleted",
    [CID_SECURITY_LOGIN_STALE] = "login_stale",
    [CID_SECURITY_DELETE_CONFIRM_WRONG] = "delete_confirm_wrong",
};

const char *cid_security_notice_name(enum cid_security_notice notice)
{
	return notice > CID_SECURITY_NONE && notice < CID_SECURITY_NOTICE_COUNT
		   ? notice_names[notice]
		   : NULL;
}

/* ---- the rules behind the actions ---- */

enum cid_err cid_security_end_session(struct cid_ctx *ctx, const char *account_id, const char *sid,
				      int64_t now, struct cid_logout_done *done)
{
	enum cid_err rc = CID_OK;
	struct cid_session_entry *list = NULL;
	size_t n = 0;
	bool mine = false;

	CID_ENSURE(account_id != NULL, CID_ERR_INVALID);
	CID_ENSURE(sid != NULL && cid_token_syntax_ok(sid), CID_ERR_NOTFOUND);
	CID_TRY(cid_session_list(cid_ctx_store(ctx), account_id, now, &list, &n));
	for (size_t i = 0; i < n && !mine; i++)
		mine = strcmp(list[i].sess.sid, sid) == 0;
	CID_ENSURE(mine, CID_ERR_NOTFOUND);
	CID_TRY(cid_logout_end(ctx, NULL, sid, CID_LOGOUT_CAUSE_ACCOUNT, now, done));
out:
	cid_session_list_free(list, n);
	return rc;
}

enum cid_err cid_security_end_others(struct cid_ctx *ctx, const char *account_id,
				     const char *keep_sid, int64_t now, size_t *ended)
{
	/* every one, not the page's list of the most recent: a thief's 40
	 * sessions must not outlive "sign out everywhere" */
	return cid_logout_end_account(cid_ctx_store(ctx), account_id, keep_sid,
				      CID_LOGOUT_CAUSE_ACCOUNT, now, ended);
}

/*
 * The username of account_id into out, and into *has_totp (may be NULL)
 * whether a second factor is enrolled. Errors: CID_ERR_NOTFOUND,
 * CID_ERR_STORE, CID_ERR_NOMEM.
 */
static enum cid_err username_of(struct cid_ctx *ctx, const char *account_id,
				char out[CID_MAX_USERNAME + 1], bool *has_totp)
{
	enum cid_err rc = CID_OK;
	struct cid_account *a = NULL;

	CID_TRY(cid_account_get(cid_ctx_store(ctx), account_id, &a));
	memcpy(out, a->username, sizeof(a->username));
	if (has_totp != NULL)
		*has_totp = a->has_totp;
out:
	cid_account_free(a);
	return rc;
}

enum cid_err cid_security_change_password(struct cid_ctx *ctx, const struct cid_password_change *ch,
					  enum cid_security_notice *notice, int64_t *retry_after)
{
	enum cid_err rc = CID_OK;
	const struct cid_config *cfg = cid_ctx_config(ctx);
	char username[CID_MAX_USERNAME + 1];
	char id[CID_ID_CHARS + 1];
	int64_t wait = 0;
	bool has_totp = false;

	*notice = CID_SECURITY_NONE;
	/* the refusals that cost nothing come before any hash */
	if (ch->new_password == NULL || ch->confirm == NULL ||
	    strcmp(ch->new_password, ch->confirm) != 0) {
		*notice = CID_SECURITY_PASSWORD_MISMATCH;
		rc = CID_ERR_REFUSED;
		goto out;
	}
	if (!cid_account_password_ok(ch->new_password)) {
		*notice = CID_SECURITY_PASSWORD_WEAK;
		rc = CID_ERR_REFUSED;
		goto out;
	}
	CID_TRY(username_of(ctx, ch->account_id, username, &has_totp));
	/* where a code is enrolled, the old password alone (a phished one) is not enough */
	if (has_totp && (ch->sess == NULL || !cid_erase_login_strong(ch->sess, true, ch->now))) {
		*notice = CID_SECURITY_LOGIN_STALE;
		rc = CID_ERR_REFUSED;
		goto out;
	}
	/* the old password is checked as a login is: a wrong one counts for the throttle */
	rc = cid_account_authenticate(cid_ctx_store(ctx), &cfg->argon2, username,
				      ch->old_password == NULL ? "" : ch->old_password, ch->addr,
				      ch->now, id, &wait);
	if (rc == CID_ERR_THROTTLED) {
		*notice = CID_SECURITY_THROTTLED;
		if (retry_after != NULL)
			*retry_after = wait;
		rc = CID_ERR_REFUSED;
		goto out;
	}
	if (rc == CID_ERR_DENIED || rc == CID_ERR_INVALID ||
	    (rc == CID_OK && strcmp(id, ch->account_id) != 0)) {
		*notice = CID_SECURITY_PASSWORD_WRONG;
		rc = CID_ERR_REFUSED;
		goto out;
	}
	CID_TRY(rc);
	CID_TRY(cid_account_set_password(cid_ctx_store(ctx), &cfg->argon2, username,
					 ch->new_password, ch->now));
	/* whoever knew the old password is signed out everywhere else */
	CID_TRY(cid_security_end_others(ctx, ch->account_id, ch->keep_sid, ch->now, NULL));
	*notice = CID_SECURITY_PASSWORD_CHANGED;
out:
	cid_wipe(id, sizeof(id));
	return rc;
}

/* ---- the page ---- */

/* The page's data under construction. */
struct view {
	struct cid_ctx *ctx;
	const char *locale;
	const struct cid_policyset *ps;
	const struct cid_account *citizen; /* read once for every part of the page */
	json_t *data;
};

static enum cid_err set_new(json_t *o, const char *name, json_t *v)
{
	return json_object_set_new(o, name, v) == 0 ? CID_OK : CID_ERR_NOMEM;
}

/* o[name] = t as RFC 3339 and o[local] = t as the citizen reads it ("" without a date). */
static enum cid_err set_time(const struct view *v, json_t *o, const char *name, const char *local,
			     int64_t t)
{
	enum cid_err rc = CID_OK;
	char rfc[32];
	char text[CID_TZ_TEXT_MAX];

	if (cid_audit_time(t, rfc) != CID_OK)
		rfc[0] = '\0';
	if (cid_tz_format(cid_ctx_tz(v->ctx), t, v->locale, true, text) != CID_OK)
		text[0] = '\0';
	CID_TRY(set_new(o, name, json_string(rfc)));
	CID_TRY(set_new(o, local, json_string(text)));
out:
	return rc;
}

/* The name the citizen knows a service by: its policy's, its registration's, its client_id. */
static enum cid_err service_item(const struct view *v, const char *client_id, json_t *services)
{
	const struct cid_policy *pol = cid_policyset_find(v->ps, client_id);
	struct cid_client *client = NULL;
	const char *name = client_id;
	enum cid_err rc = CID_OK;

	if (pol != NULL)
		name = cid_policy_name(pol, v->locale);
	else if (cid_client_get(cid_ctx_store(v->ctx), client_id, &client) == CID_OK)
		name = client->name;
	CID_ENSURE(json_array_append_new(services, json_pack("{s:s}", "name", name)) == 0,
		   CID_ERR_NOMEM);
out:
	cid_client_free(client);
	return rc;
}

static enum cid_err sessions_view(const struct view *v, const char *account_id,
				  const struct cid_session *current, int64_t now)
{
	enum cid_err rc = CID_OK;
	struct cid_session_entry *list = NULL;
	size_t n = 0;
	json_t *sessions = json_array();
	json_t *item = NULL;
	bool others = false;

	CID_ENSURE(sessions != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_session_list(cid_ctx_store(v->ctx), account_id, now, &list, &n));
	for (size_t i = 0; i < n; i++) {
		const struct cid_session *s = &list[i].sess;
		bool here = strcmp(s->sid, current->sid) == 0;
		json_t *services = json_array();
		size_t j;
		json_t *c;

		item = json_pack("{s:s, s:b, s:s, s:o*}", "sid", s->sid, "current", here, "device",
				 s->device, "services", services);
		CID_ENSURE(item != NULL, CID_ERR_NOMEM);
		json_array_foreach(list[i].clients, j, c)
		{
			if (json_is_string(c))
				CID_TRY(service_item(v, json_string_value(c), services));
		}
		CID_TRY(set_time(v, item, "created", "created_local", s->created_at));
		CID_TRY(set_time(v, item, "last_used", "last_used_local", s->last_used));
		others = others || !here;
		CID_ENSURE(json_array_append_new(sessions, item) == 0, CID_ERR_NOMEM);
		item = NULL;
	}
	CID_TRY(set_new(v->data, "sessions", sessions));
	sessions = NULL;
	CID_TRY(set_new(v->data, "has_others", json_boolean(others)));
out:
	cid_session_list_free(list, n);
	json_decref(sessions);
	json_decref(item);
	return rc;
}

static enum cid_err logins_view(const struct view *v, const char *account_id)
{
	enum cid_err rc = CID_OK;
	struct cid_login logins[CID_LOGINS_KEEP];
	size_t n = 0;
	json_t *list = json_array();
	json_t *item = NULL;
	char key[32];

	CID_ENSURE(list != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_logins_list(cid_ctx_store(v->ctx), account_id, logins, &n));
	for (size_t i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "security_method_%s", logins[i].method);
		item = json_pack("{s:b, s:s, s:s}", "ok", logins[i].ok, "method_key", key, "device",
				 logins[i].device);
		CID_ENSURE(item != NULL, CID_ERR_NOMEM);
		CID_TRY(set_time(v, item, "time", "local_time", logins[i].at));
		CID_ENSURE(json_array_append_new(list, item) == 0, CID_ERR_NOMEM);
		item = NULL;
	}
	CID_TRY(set_new(v->data, "has_logins", json_boolean(n > 0)));
	CID_TRY(set_new(v->data, "no_logins", json_boolean(n == 0)));
	CID_TRY(set_new(v->data, "logins", list));
	list = NULL;
out:
	json_decref(list);
	json_decref(item);
	return rc;
}

/*
 * The second factor: enrolled, pending (with its QR code: only to the
 * session that began it, while its login is fresh), or none.
 */
static enum cid_err totp_view(const struct view *v, const struct cid_session *sess, int64_t now)
{
	enum cid_err rc = CID_OK;
	bool has_totp = v->citizen->has_totp;
	char *secret = NULL;
	char *uri = NULL;
	json_t *qr = NULL;

	CID_TRY(set_new(v->data, "totp_enrolled", json_boolean(has_totp)));
	CID_TRY(set_new(v->data, "totp_none", json_boolean(!has_totp)));
	if (has_totp)
		goto out;
	rc = cid_security_totp_pending(cid_ctx_store(v->ctx), sess, now, &secret, &uri);
	if (rc == CID_ERR_NOTFOUND) {
		rc = CID_OK;
		goto out;
	}
	CID_TRY(rc);
	CID_TRY(cid_qr_runs(uri, &qr));
	CID_TRY(set_new(v->data, "totp_pending",
			json_pack("[{s:s, s:s, s:O}]", "secret", secret, "uri", uri, "qr", qr)));
out:
	if (secret != NULL) {
		cid_wipe(secret, strlen(secret));
		free(secret);
	}
	if (uri != NULL) {
		cid_wipe(uri, strlen(uri));
		free(uri);
	}
	json_decref(qr);
	return rc;
}

/*
 * The upstream identities linked to the account, each by the name the login
 * page gives its upstream in the page's language (cid_idp_labels), or by its
 * issuer when no registration has it any more.
 */
static enum cid_err linked_view(const struct view *v, const char *account_id)
{
	enum cid_err rc = CID_OK;
	json_t *links = NULL;
	json_t *labels = NULL;
	json_t *list = json_array();
	json_t *item = NULL;
	size_t i;
	json_t *l;

	CID_ENSURE(list != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_idp_links_of(cid_ctx_store(v->ctx), account_id, &links));
	if (json_array_size(links) > 0)
		CID_TRY(cid_idp_labels(cid_ctx_store(v->ctx), v->locale, &labels));
	json_array_foreach(links, i, l)
	{
		const char *issuer = cid_json_str(l, "issuer");
		const char *sub = cid_json_str(l, "sub");
		const char *name;

		CID_ENSURE(issuer != NULL && sub != NULL, CID_ERR_STORE);
		name = cid_json_str(labels, issuer);
		item = json_pack("{s:s, s:s, s:s}", "name", name != NULL ? name : issuer, "issuer",
				 issuer, "sub", sub);
		CID_ENSURE(item != NULL, CID_ERR_NOMEM);
		CID_TRY(set_time(v, item, "since", "since_local",
				 json_integer_value(json_object_get(l, "linked_at"))));
		CID_ENSURE(json_array_append_new(list, item) == 0, CID_ERR_NOMEM);
		item = NULL;
	}
	CID_TRY(set_new(v->data, "has_linked", json_boolean(json_array_size(list) > 0)));
	CID_TRY(set_new(v->data, "linked", list));
	list = NULL;
out:
	json_decref(links);
	json_decref(labels);
	json_decref(list);
	json_decref(item);
	return rc;
}

/* The notice of ?notice=KIND, when it names one of ours. */
static enum cid_err notice_view(const struct view *v, const struct cid_request *req)
{
	const char *name = cid_params_get(&req->params, "notice");
	char key[64];
	size_t i = CID_SECURITY_NONE + 1;

	while (name != NULL && i < CID_SECURITY_NOTICE_COUNT && strcmp(name, notice_names[i]) != 0)
		i++;
	if (name == NULL || i == CID_SECURITY_NOTICE_COUNT)
		return CID_OK;
	snprintf(key, sizeof(key), "security_notice_%s", notice_names[i]);
	return set_new(
	    v->data, "notice",
	    json_pack("[{s:s, s:b}]", "key", key, "error", i >= CID_SECURITY_SESSION_UNKNOWN));
}

/*
 * What the citizen types to delete the account, and whether they must sign in
 * again first: the rule decided once (cid_erase_login_strong); a citizen with
 * a code whose login is not strong enough is told the new login asks it.
 */
static enum cid_err delete_view(const struct view *v, const struct cid_session *sess, int64_t now)
{
	enum cid_err rc = CID_OK;
	bool has_totp = v->citizen->has_totp;
	bool strong = cid_erase_login_strong(sess, has_totp, now);

	CID_TRY(set_new(v->data, "username", json_string(v->citizen->username)));
	CID_TRY(set_new(v->data, "login_fresh", json_boolean(strong)));
	CID_TRY(set_new(v->data, "login_needs_code", json_boolean(has_totp && !strong)));
out:
	return rc;
}

enum cid_err cid_security_page(struct cid_ctx *ctx, const struct cid_request *req,
			       struct cid_reply *reply)
{
	enum cid_err rc = CID_OK;
	const char *locale = account_page_locale(ctx, req);
	struct cid_policyref *pref = NULL;
	struct cid_account *citizen = NULL;
	struct cid_session sess;
	struct view v = {.ctx = ctx, .locale = locale};

	CID_TRY(account_find_session(ctx, req, locale, reply, &sess));
	CID_TRY(cid_account_get(cid_ctx_store(ctx), sess.account_id, &citizen));
	v.citizen = citizen;
	pref = cid_ctx_policies_acquire(ctx);
	v.ps = cid_policyref_set(pref);
	v.data = json_pack("{s:b, s:s, s:i}", "signed_in", 1, "lang", locale, "min_password",
			   CID_MIN_PASSWORD);
	CID_ENSURE(v.data != NULL, CID_ERR_NOMEM);
	CID_TRY(sessions_view(&v, sess.account_id, &sess, req->now));
	CID_TRY(totp_view(&v, &sess, req->now));
	CID_TRY(logins_view(&v, sess.account_id));
	CID_TRY(linked_view(&v, sess.account_id));
	CID_TRY(notice_view(&v, req));
	CID_TRY(delete_view(&v, &sess, req->now));
	CID_TRY(cid_account_form_token(ctx, req, reply, v.data));
	rc = cid_reply_page(reply, 200, CID_PAGE_ACCOUNT_SECURITY, v.data, locale);
	v.data = NULL;
out:
	cid_policyref_put(pref);
	cid_account_free(citizen);
	json_decref(v.data);
	return cid_endpoint_rc(rc);
}

/* ---- the form ---- */

/* A form value, NULL when absent or empty. */
static const char *field(const struct cid_request *req, const char *name)
{
	const char *v = cid_params_get(&req->params, name);

	return v != NULL && v[0] != '\0' ? v : NULL;
}

/* The notice of a code check's refusal (account.h's errors of a code). */
static enum cid_security_notice code_refusal(enum cid_err rc)
{
	switch (rc) {
	case CID_ERR_DENIED:
	case CID_ERR_INVALID: return CID_SECURITY_CODE_WRONG;
	case CID_ERR_LOCKED: return CID_SECURITY_CODE_LOCKED;
	case CID_ERR_THROTTLED: return CID_SECURITY_THROTTLED;
	default: return CID_SECURITY_NONE;
	}
}

enum cid_err cid_security_totp_begin(struct cid_store *s, const struct cid_session *sess,
				     int64_t now, enum cid_security_notice *notice)
{
	enum cid_err rc;

	*notice = CID_SECURITY_LOGIN_STALE;
	if (!cid_erase_login_fresh(sess, now))
		return CID_ERR_REFUSED;
	rc = cid_account_totp_begin(s, sess->account_id, sess->sid, now, NULL, NULL);
	*notice = rc == CID_OK		 ? CID_SECURITY_TOTP_PENDING
		  : rc == CID_ERR_EXISTS ? CID_SECURITY_TOTP_STATE
					 : CID_SECURITY_NONE;
	return rc == CID_ERR_EXISTS ? CID_ERR_REFUSED : rc;
}

enum cid_err cid_security_totp_confirm(struct cid_store *s, const struct cid_session *sess,
				       const char *code, int64_t now,
				       enum cid_security_notice *notice)
{
	enum cid_err rc;

	*notice = CID_SECURITY_LOGIN_STALE;
	if (!cid_erase_login_fresh(sess, now))
		return CID_ERR_REFUSED;
	rc =
	    cid_account_totp_confirm(s, sess->account_id, sess->sid, code == NULL ? "" : code, now);
	*notice = rc == CID_OK		   ? CID_SECURITY_TOTP_ENROLLED
		  : rc == CID_ERR_NOTFOUND ? CID_SECURITY_TOTP_EXPIRED
		  : rc == CID_ERR_EXISTS   ? CID_SECURITY_TOTP_STATE
					   : code_refusal(rc);
	return rc == CID_OK || *notice == CID_SECURITY_NONE ? rc : CID_ERR_REFUSED;
}

enum cid_err cid_security_totp_pending(struct cid_store *s, const struct cid_session *sess,
				       int64_t now, char **secret_b32_out, char **uri_out)
{
	if (!cid_erase_login_fresh(sess, now))
		return CID_ERR_NOTFOUND;
	return cid_account_totp_pending(s, sess->account_id, sess->sid, now, secret_b32_out,
					uri_out);
}

/* Ends this browser's session and answers the logged-out page, with its services' frames. */
static enum cid_err sign_out(struct cid_ctx *ctx, const struct cid_request *req, const char *locale,
			     struct cid_reply *reply)
{
	enum cid_err rc = CID_OK;
	struct cid_logout_done done = {0};
	json_t *data = NULL;

	rc = cid_logout_end(ctx, req->session_cookie, NULL, CID_LOGOUT_CAUSE_ACCOUNT, req->now,
			    &done);
	CID_ENSURE(rc == CID_OK || rc == CID_ERR_NOTFOUND, rc);
	CID_TRY(cid_reply_cookie(reply, cid_ctx_config(ctx), CID_COOKIE_SESSION, "", 0));
	data = json_pack("{s:s}", "client_name", "");
	CID_ENSURE(data != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_logout_page_frames(&done, data, reply));
	rc = cid_reply_page(reply, 200, CID_PAGE_LOGGED_OUT, data, locale);
	data = NULL;
out:
	json_decref(data);
	cid_logout_done_clear(&done);
	return rc;
}

/* The action of a form into *notice; CID_ANSWERED when it answered the page itself. */
static enum cid_err act(struct cid_ctx *ctx, const struct cid_request *req,
			const struct cid_session *sess, const char *action, const char *locale,
			struct cid_reply *reply, enum cid_security_notice *notice)
{
	enum cid_err rc = CID_OK;
	struct cid_store *s = cid_ctx_store(ctx);
	const char *sid = field(req, "sid");
	const char *code = field(req, "code");
	char addr[CID_NETADDR_TEXT_MAX];

	cid_request_client_addr(ctx, req, addr);
	if (strcmp(action, "end_all") == 0 ||
	    (strcmp(action, "end_session") == 0 && sid != NULL && strcmp(sid, sess->sid) == 0)) {
		if (strcmp(action, "end_all") == 0)
			CID_TRY(cid_security_end_others(ctx, sess->account_id, sess->sid, req->now,
							NULL));
		CID_TRY(sign_out(ctx, req, locale, reply));
		rc = CID_ANSWERED;
	} else if (strcmp(action, "end_session") == 0) {
		rc = cid_security_end_session(ctx, sess->account_id, sid, req->now, NULL);
		*notice = rc == CID_OK ? CID_SECURITY_SESSION_ENDED : CID_SECURITY_SESSION_UNKNOWN;
		CID_ENSURE(rc == CID_OK || rc == CID_ERR_NOTFOUND, rc);
		rc = CID_OK;
	} else if (strcmp(action, "end_others") == 0) {
		CID_TRY(cid_security_end_others(ctx, sess->account_id, sess->sid, req->now, NULL));
		*notice = CID_SECURITY_OTHERS_ENDED;
	} else if (strcmp(action, "password") == 0) {
		struct cid_password_change ch = {
		    .account_id = sess->account_id,
		    .old_password = cid_params_get(&req->params, "old"),
		    .new_password = cid_params_get(&req->params, "new"),
		    .confirm = cid_params_get(&req->params, "confirm"),
		    .addr = addr,
		    .keep_sid = sess->sid,
		    .sess = sess,
		    .now = req->now,
		};

		rc = cid_security_change_password(ctx, &ch, notice, NULL);
		if (*notice == CID_SECURITY_LOGIN_STALE)
			return account_reauth_redirect(reply, locale);
		CID_ENSURE(rc == CID_OK || rc == CID_ERR_REFUSED, rc);
		rc = CID_OK;
	} else if (strcmp(action, "totp_begin") == 0 || strcmp(action, "totp_confirm") == 0) {
		rc = strcmp(action, "totp_begin") == 0
			 ? cid_security_totp_begin(s, sess, req->now, notice)
			 : cid_security_totp_confirm(s, sess, code, req->now, notice);
		if (*notice == CID_SECURITY_LOGIN_STALE)
			return account_reauth_redirect(reply, locale);
		CID_ENSURE(rc == CID_OK || rc == CID_ERR_REFUSED, rc);
		rc = CID_OK;
	} else if (strcmp(action, "totp_remove") == 0) {
		rc = cid_account_totp_remove(s, sess->account_id, code == NULL ? "" : code, addr,
					     req->now, NULL);
		*notice = rc == CID_OK		   ? CID_SECURITY_TOTP_REMOVED
			  : rc == CID_ERR_NOTFOUND ? CID_SECURITY_TOTP_STATE
						   : code_refusal(rc);
		CID_ENSURE(*notice != CID_SECURITY_NONE, rc);
		rc = CID_OK;
	} else if (strcmp(action, "delete_account") == 0) {
		rc = account_erase_answer(ctx, req, sess, locale, reply, notice);
	} else if (strcmp(action, "unlink") == 0) {
		rc = cid_idp_unlink(s, sess->account_id, field(req, "issuer"), field(req, "sub"));
		*notice = rc == CID_OK		   ? CID_SECURITY_UNLINKED
			  : rc == CID_ERR_NOTFOUND ? CID_SECURITY_LINK_UNKNOWN
			  : rc == CID_ERR_REFUSED  ? CID_SECURITY_LINK_LAST
						   : CID_SECURITY_NONE;
		CID_ENSURE(*notice != CID_SECURITY_NONE, rc);
		rc = CID_OK;
	} else {
		rc =
		    cid_reply_error_page(reply, 400, "invalid_request", "err.account_form", locale);
		CID_TRY(rc);
		rc = CID_ANSWERED;
	}
out:
	return rc;
}

enum cid_err cid_security_post(struct cid_ctx *ctx, const struct cid_request *req,
			       struct cid_reply *reply)
{
	static const char *const names[] = {"notice", "lang"};
	enum cid_err rc = CID_OK;
	const char *locale = account_page_locale(ctx, req);
	const char *action = field(req, "action");
	enum cid_security_notice notice = CID_SECURITY_NONE;
	struct cid_session sess;
	const char *values[2];

	CID_TRY(account_find_session(ctx, req, locale, reply, &sess));
	if (!account_form_ok(req)) {
		rc = cid_reply_error_page(reply, 403, "invalid_request", "err.account_stale",
					  locale);
		goto out;
	}
	rc = act(ctx, req, &sess, action == NULL ? "" : action, locale, reply, &notice);
	if (rc == CID_ANSWERED) {
		rc = CID_OK;
		goto out;
	}
	CID_TRY(rc);
	/* Post/Redirect/Get: the page says what happened, and a reload changes nothing */
	values[0] = cid_security_notice_name(notice);
	values[1] = locale;
	rc = cid_reply_redirect(reply, 303, "/account/security", names, values, 2);
out:
	return cid_endpoint_rc(rc);
}

/* One row answers both methods (the router takes the first row of a path); slow: argon2id. */
static enum cid_err answer(struct cid_ctx *ctx, const struct cid_request *req,
			   struct cid_reply *reply)
{
	return req->post ? cid_security_post(ctx, req, reply) : cid_security_page(ctx, req, reply);
}

static const struct cid_endpoint endpoints[] = {
    {"/account/security", answer, true, true, true, CID_RUN_SLOW, NULL, NULL},
};

const struct cid_endpoint *cid_security_endpoints(size_t *n)
{
	*n = sizeof(endpoints) / sizeof(endpoints[0]);
	return endpoints;
}
