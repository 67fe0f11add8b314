/*
 * logout: ending SSO sessions so that their services hear of it. The session
 * is removed and its notices queued in one write transaction: a crash leaves
 * either the session and no notice, or no session and every notice. Which
 * services are told is read from the session's own record of the clients
 * that received tokens in it, and from their registrations as they are at
 * that moment; a service removed since is told nothing.
 */
#include "logout_int.h"

#include "account.h"
#include "client.h"
#include "crypto.h"
#include "session.h"
#include "str.h"

#include <string.h>

void cid_logout_ended_clear(struct cid_logout_ended *e)
{
	if (e == NULL)
		return;
	json_decref(e->frontchannel);
	memset(e, 0, sizeof(*e));
}

static bool cause_ok(const char *cause)
{
	size_t n = cause == NULL ? CID_LOGOUT_CAUSE_MAX : strnlen(cause, CID_LOGOUT_CAUSE_MAX);

	return n >= 1 && n < CID_LOGOUT_CAUSE_MAX;
}

/* What ending sessions in one transaction gathers; reset when the transaction runs again. */
struct notify {
	struct cid_txn *txn;
	const char *cause;
	int64_t now;
	bool alive;    /* the last session ended was alive */
	size_t queued; /* notices queued */
	json_t *front; /* the front-channel services, or NULL when not wanted */
};

static void notify_reset(struct notify *nt, struct cid_txn *txn)
{
	nt->txn = txn;
	nt->alive = false;
	nt->queued = 0;
	if (nt->front != NULL)
		(void)json_array_clear(nt->front);
}

/*
 * Whether sess was alive at now: not expired, its citizen live in its
 * generation. A session of a disabled citizen died with the disable, whose
 * notices went out then.
 */
static enum cid_err alive(struct cid_txn *txn, const struct cid_session *sess, int64_t now,
			  bool *out)
{
	enum cid_err rc;

	*out = false;
	if (now >= sess->expires_at)
		return CID_OK;
	rc = cid_account_live(txn, sess->account_id, sess->generation);
	if (rc == CID_ERR_NOTFOUND || rc == CID_ERR_DISABLED || rc == CID_ERR_REVOKED)
		return CID_OK;
	*out = rc == CID_OK;
	return rc;
}

/* Queues the back-channel notice of client_id for sess. */
static enum cid_err queue_notice(struct notify *nt, const struct cid_session *sess,
				 const char *client_id)
{
	enum cid_err rc = CID_OK;
	char id[CID_TOKEN_CHARS + 1];
	json_t *rec = NULL;

	CID_TRY(cid_random_token(id));
	rec = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:I}", "id", id, "client_id", client_id,
			"sid", sess->sid, "account_id", sess->account_id, "cause", nt->cause,
			"attempts", 0, "created_at", (json_int_t)nt->now);
	CID_ENSURE(rec != NULL, CID_ERR_NOMEM);
	/*= Back-Channel Logout 1.0 §2.5: the OP sends a logout request to the RPs that
	 *# registered a back-channel logout URI when the session ends */
	CID_TRY(logout_queue_put(nt->txn, nt->now, rec));
	nt->queued++;
out:
	json_decref(rec);
	return rc;
}

/* Adds client c to the front-channel services of nt, when it has a URI and they are wanted. */
static enum cid_err add_front(struct notify *nt, const struct cid_client *c)
{
	if (nt->front == NULL || c->frontchannel_logout_uri == NULL)
		return CID_OK;
	return json_array_append_new(nt->front,
				     json_pack("{s:s, s:s, s:s, s:b}", "client_id", c->client_id,
					       "name", c->name, "uri", c->frontchannel_logout_uri,
					       "session_required",
					       c->frontchannel_logout_session_required)) == 0
		   ? CID_OK
		   : CID_ERR_NOMEM;
}

/* Tells the services of a session that just ended, if it was alive. */
static enum cid_err notify_session(const struct cid_session *sess, const json_t *clients, void *arg)
{
	struct notify *nt = arg;
	enum cid_err rc = CID_OK;
	struct cid_client *c = NULL;
	size_t i;
	const json_t *v;

	CID_TRY(alive(nt->txn, sess, nt->now, &nt->alive));
	if (!nt->alive)
		goto out;
	json_array_foreach(clients, i, v)
	{
		rc = cid_client_get_txn(nt->txn, json_string_value(v), &c);
		if (rc == CID_ERR_NOTFOUND || rc == CID_ERR_INVALID) {
			rc = CID_OK; /* removed since: nobody to tell */
			continue;
		}
		CID_TRY(rc);
		if (c->backchannel_logout_uri != NULL)
			CID_TRY(queue_notice(nt, sess, c->client_id));
		CID_TRY(add_front(nt, c));
		cid_client_free(c);
		c = NULL;
	}
out:
	cid_client_free(c);
	return rc;
}

struct end {
	const char *cookie;
	const char *sid;
	struct notify nt;
	struct cid_session sess; /* the session ended, once committed */
};

static enum cid_err end_cb(struct cid_txn *txn, void *arg)
{
	struct end *e = arg;
	enum cid_err rc = CID_OK;
	json_t *clients = NULL;

	notify_reset(&e->nt, txn);
	CID_TRY(cid_session_end_txn(txn, e->cookie, e->sid, &e->sess, &clients));
	CID_TRY(notify_session(&e->sess, clients, &e->nt));
out:
	json_decref(clients);
	return rc;
}

enum cid_err cid_logout_end_session(struct cid_store *s, const char *cookie, const char *sid,
				    const char *cause, int64_t now, struct cid_logout_ended *out)
{
	enum cid_err rc = CID_OK;
	struct end e = {.cookie = cookie, .sid = sid, .nt = {.cause = cause, .now = now}};

	CID_ENSURE(cause_ok(cause), CID_ERR_INVALID);
	CID_ENSURE(cookie != NULL || sid != NULL, CID_ERR_NOTFOUND);
	if (out != NULL) {
		e.nt.front = json_array();
		CID_ENSURE(e.nt.front != NULL, CID_ERR_NOMEM);
	}
	CID_TRY(cid_store_update(s, end_cb, &e));
	if (out != NULL) {
		memset(out, 0, sizeof(*out));
		memcpy(out->sid, e.sess.sid, sizeof(out->sid));
		memcpy(out->account_id, e.sess.account_id, sizeof(out->account_id));
		out->alive = e.nt.alive;
		out->queued = e.nt.queued;
		out->frontchannel = e.nt.front;
		e.nt.front = NULL;
	}
out:
	json_decref(e.nt.front);
	return rc;
}

enum cid_err cid_logout_disable_citizen_txn(struct cid_txn *txn, const char *username,
					    const char *cause, int64_t now, size_t *ended)
{
	enum cid_err rc = CID_OK;
	struct cid_account *citizen = NULL;
	struct notify nt = {.cause = cause, .now = now};
	size_t n = 0;

	CID_ENSURE(cause_ok(cause), CID_ERR_INVALID);
	notify_reset(&nt, txn);
	/* the sessions end while the citizen is still live, so that the live ones are told */
	CID_TRY(cid_account_find_txn(txn, username, &citizen));
	CID_TRY(cid_session_end_account_txn(txn, citizen->id, NULL, notify_session, &nt, &n));
	CID_TRY(cid_account_set_disabled_txn(txn, username, true, now));
	if (ended != NULL)
		*ended = n;
out:
	cid_account_free(citizen);
	return rc;
}

struct end_account {
	const char *account_id;
	const char *keep_sid;
	struct notify nt;
	size_t ended;
};

static enum cid_err end_account_cb(struct cid_txn *txn, void *arg)
{
	struct end_account *e = arg;

	notify_reset(&e->nt, txn);
	return cid_session_end_account_txn(txn, e->account_id, e->keep_sid, notify_session, &e->nt,
					   &e->ended);
}

enum cid_err cid_logout_end_account(struct cid_store *s, const char *account_id,
				    const char *keep_sid, const char *cause, int64_t now,
				    size_t *ended)
{
	enum cid_err rc = CID_OK;
	struct end_account e = {account_id, keep_sid, {.cause = cause, .now = now}, 0};

	CID_ENSURE(account_id != NULL && cause_ok(cause), CID_ERR_INVALID);
	CID_TRY(cid_store_update(s, end_account_cb, &e));
	if (ended != NULL)
		*ended = e.ended;
out:
	return rc;
}

struct disable {
	const char *username;
	int64_t now;
	size_t ended;
};

static enum cid_err disable_cb(struct cid_txn *txn, void *arg)
{
	struct disable *d = arg;

	return cid_logout_disable_citizen_txn(txn, d->username, CID_LOGOUT_CAUSE_DISABLE, d->now,
					      &d->ended);
}

enum cid_err cid_logout_disable_citizen(struct cid_store *s, const char *username, int64_t now,
					size_t *ended)
{
	enum cid_err rc = CID_OK;
	struct disable d = {.username = username, .now = now};

	CID_TRY(cid_store_update(s, disable_cb, &d));
	if (ended != NULL)
		*ended = d.ended;
out:
	return rc;
}
