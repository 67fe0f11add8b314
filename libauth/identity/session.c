/*
 * session: SSO sessions, keyed by the storage hash of the cookie.
 *
 * The cookie is the only bearer secret and is never stored; the sid is a
 * separate random value that may appear in ID tokens and logout requests, so
 * knowing a sid never lets anyone present a session. A cookie that cannot be
 * one of ours (wrong length or alphabet) is refused before it is hashed, and
 * every stored field is bounds-checked on the way back into struct cid_session.
 */
#include "session.h"

#include "account.h"
#include "crypto.h"
#include "session_int.h"
#include "str.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* The store key of a cookie; false if the cookie cannot be one of ours. */
static bool cookie_key(const char *cookie, char hash[CID_HASH_HEX + 1])
{
	if (!cid_token_syntax_ok(cookie))
		return false;
	cid_secret_hash(cookie, CID_TOKEN_CHARS, hash);
	return true;
}

static struct cid_str key_of(const char *hash)
{
	return (struct cid_str){hash, CID_HASH_HEX};
}

/* Copies a NUL-terminated string into dst[cap]; false if absent or too long. */
static bool copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = src == NULL ? cap : strnlen(src, cap);

	if (n >= cap)
		return false;
	memcpy(dst, src, n + 1);
	return true;
}

/*
 * The members a record made before they were kept may lack: created_at (its
 * auth_time), last_used (created_at) and device (unknown).
 */
static enum cid_err times_from_record(const json_t *rec, struct cid_session *s)
{
	const json_t *created = json_object_get(rec, "created_at");
	const json_t *used = json_object_get(rec, "last_used");
	const json_t *device = json_object_get(rec, "device");

	if ((created != NULL && !json_is_integer(created)) ||
	    (used != NULL && !json_is_integer(used)) ||
	    (device != NULL &&
	     (!json_is_string(device) || json_string_length(device) >= sizeof(s->device))))
		return CID_ERR_STORE;
	s->created_at = created != NULL ? (int64_t)json_integer_value(created) : s->auth_time;
	s->last_used = used != NULL ? (int64_t)json_integer_value(used) : s->created_at;
	if (device != NULL)
		memcpy(s->device, json_string_value(device), json_string_length(device) + 1);
	return CID_OK;
}

/* Fills s from a stored record; CID_ERR_STORE if the record is malformed. */
static enum cid_err from_record(const json_t *rec, struct cid_session *s)
{
	const json_t *amr = json_object_get(rec, "amr");
	const json_t *generation = json_object_get(rec, "generation");

	memset(s, 0, sizeof(*s));
	if (!copy_str(s->sid, sizeof(s->sid), cid_json_str(rec, "sid")) ||
	    !copy_str(s->account_id, sizeof(s->account_id), cid_json_str(rec, "account_id")) ||
	    !copy_str(s->acr, sizeof(s->acr), cid_json_str(rec, "acr")) ||
	    !json_is_integer(json_object_get(rec, "auth_time")) ||
	    !json_is_integer(json_object_get(rec, "expires_at")) || !json_is_array(amr) ||
	    json_array_size(amr) > CID_MAX_AMR ||
	    (generation != NULL &&
	     (!json_is_integer(generation) || json_integer_value(generation) < 0)))
		return CID_ERR_STORE;
	/* a session from before generations existed is of generation 0 */
	s->generation = generation == NULL ? 0 : (int64_t)json_integer_value(generation);
	s->auth_time = (int64_t)json_integer_value(json_object_get(rec, "auth_time"));
	s->expires_at = (int64_t)json_integer_value(json_object_get(rec, "expires_at"));
	for (size_t i = 0; i < json_array_size(amr); i++)
		if (!copy_str(s->amr[i], sizeof(s->amr[i]),
			      json_string_value(json_array_get(amr, i))))
			return CID_ERR_STORE;
	s->n_amr = json_array_size(amr);
	return times_from_record(rec, s);
}

/*
 * Copies acr (NULL: "") and the n_amr non-empty methods amr into s; false if
 * any does not fit struct cid_session, so a stored record always reads back.
 */
static bool auth_copy(struct cid_session *s, const char *acr, const char *const *amr, size_t n_amr)
{
	if (n_amr > CID_MAX_AMR || (n_amr > 0 && amr == NULL) ||
	    !copy_str(s->acr, sizeof(s->acr), acr == NULL ? "" : acr))
		return false;
	for (size_t i = 0; i < n_amr; i++)
		if (!copy_str(s->amr[i], sizeof(s->amr[i]), amr[i]) || s->amr[i][0] == '\0')
			return false;
	s->n_amr = n_amr;
	return true;
}

/* The "amr" member of a record: s's methods as a new JSON array (NULL: no memory). */
static json_t *amr_array(const struct cid_session *s)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < s->n_amr; i++)
		if (json_array_append_new(a, json_string(s->amr[i])) != 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

struct put {
	const char *hash;
	json_t *rec;
	int64_t generation; /* output */
};

/* Stores a new session in its citizen's current generation, read in the same transaction. */
static enum cid_err put_cb(struct cid_txn *txn, void *arg)
{
	struct put *p = arg;
	enum cid_err rc = CID_OK;

	CID_TRY(cid_account_generation(txn, cid_json_str(p->rec, "account_id"), &p->generation));
	CID_ENSURE(json_object_set_new(p->rec, "generation", json_integer(p->generation)) == 0,
		   CID_ERR_NOMEM);
	CID_TRY(
	    cid_txn_put_json(txn, CID_DB_SESSIONS, key_of(p->hash), p->rec, CID_PUT_NOOVERWRITE));
	CID_TRY(session_index_put(txn, cid_json_str(p->rec, "account_id"),
				  cid_json_str(p->rec, "sid"), p->hash));
out:
	return rc;
}

enum cid_err cid_session_new(struct cid_store *s, const char *account_id, const char *acr,
			     const char *const *amr, size_t n_amr, int64_t now, int64_t ttl,
			     char cookie_out[CID_TOKEN_CHARS + 1], struct cid_session *out)
{
	return cid_session_start(s, account_id, acr, amr, n_amr, now, ttl, NULL, cookie_out, out);
}

enum cid_err cid_session_start(struct cid_store *s, const char *account_id, const char *acr,
			       const char *const *amr, size_t n_amr, int64_t now, int64_t ttl,
			       const char *ua, char cookie_out[CID_TOKEN_CHARS + 1],
			       struct cid_session *out)
{
	return cid_session_start_at(s, account_id, acr, amr, n_amr, now, now, ttl, ua, cookie_out,
				    out);
}

enum cid_err cid_session_start_at(struct cid_store *s, const char *account_id, const char *acr,
				  const char *const *amr, size_t n_amr, int64_t auth_time,
				  int64_t now, int64_t ttl, const char *ua,
				  char cookie_out[CID_TOKEN_CHARS + 1], struct cid_session *out)
{
	enum cid_err rc = CID_OK;
	char cookie[CID_TOKEN_CHARS + 1] = "";
	char hash[CID_HASH_HEX + 1];
	struct cid_session sess = {0};
	json_t *rec = NULL;
	json_t *methods = NULL;
	json_t *clients = json_array();

	CID_ENSURE(clients != NULL, CID_ERR_NOMEM);
	CID_ENSURE(account_id != NULL && strnlen(account_id, CID_ID_CHARS + 1) == CID_ID_CHARS,
		   CID_ERR_INVALID);
	CID_ENSURE(copy_str(sess.account_id, sizeof(sess.account_id), account_id), CID_ERR_INVALID);
	CID_ENSURE(auth_copy(&sess, acr, amr, n_amr) && ttl > 0, CID_ERR_INVALID);
	CID_ENSURE(auth_time > 0 && auth_time <= now, CID_ERR_INVALID);
	methods = amr_array(&sess);
	CID_ENSURE(methods != NULL, CID_ERR_NOMEM);
	sess.auth_time = auth_time;
	sess.created_at = now;
	sess.last_used = now;
	sess.expires_at = now + ttl;
	cid_useragent_label(ua, sess.device);
	CID_TRY(cid_random_token(cookie));
	CID_TRY(cid_random_token(sess.sid));
	rec = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:s, s:s, s:O, s:O}", "sid", sess.sid,
			"account_id", sess.account_id, "auth_time", (json_int_t)sess.auth_time,
			"created_at", (json_int_t)now, "last_used", (json_int_t)now, "expires_at",
			(json_int_t)sess.expires_at, "device", sess.device, "acr", sess.acr, "amr",
			methods, "clients", clients);
	CID_ENSURE(rec != NULL, CID_ERR_NOMEM);
	cid_secret_hash(cookie, CID_TOKEN_CHARS, hash);
	{
		struct put p = {hash, rec, 0};

		CID_TRY(cid_store_update(s, put_cb, &p));
		sess.generation = p.generation;
	}
	memcpy(cookie_out, cookie, sizeof(cookie));
	if (out != NULL)
		*out = sess;
out:
	cid_wipe(cookie, sizeof(cookie));
	json_decref(rec);
	json_decref(methods);
	json_decref(clients);
	return rc;
}

/* CID_ERR_REVOKED unless the session's citizen is live in its generation (account.h). */
static enum cid_err citizen_live(struct cid_txn *txn, const struct cid_session *sess)
{
	enum cid_err rc = cid_account_live(txn, sess->account_id, sess->generation);

	if (rc == CID_ERR_NOTFOUND || rc == CID_ERR_DISABLED)
		rc = CID_ERR_REVOKED;
	return rc;
}

enum cid_err cid_session_get(struct cid_store *s, const char *cookie, int64_t now,
			     struct cid_session *out)
{
	enum cid_err rc = CID_OK;
	char hash[CID_HASH_HEX + 1];
	struct cid_txn *txn = NULL;
	struct cid_session sess;
	json_t *rec = NULL;

	CID_ENSURE(cookie_key(cookie, hash), CID_ERR_NOTFOUND);
	CID_TRY(cid_store_read_begin(s, &txn));
	CID_TRY(cid_txn_get_json(txn, CID_DB_SESSIONS, key_of(hash), &rec));
	CID_TRY(from_record(rec, &sess));
	CID_ENSURE(now < sess.expires_at, CID_ERR_EXPIRED);
	CID_TRY(citizen_live(txn, &sess));
	if (out != NULL)
		*out = sess;
out:
	cid_store_read_end(txn);
	json_decref(rec);
	return rc;
}

struct upgrade {
	const char *hash;	 /* the old cookie's */
	const char *new_hash;	 /* the new cookie's */
	struct cid_session want; /* the acr and amr to set, checked by auth_copy */
	int64_t auth_time;	 /* when the citizen authenticated so */
	int64_t now;
	struct cid_session sess; /* the upgraded session, once committed */
};

/* Moves the session to the new cookie's key with the raised level: the old key is gone. */
static enum cid_err upgrade_cb(struct cid_txn *txn, void *arg)
{
	struct upgrade *u = arg;
	enum cid_err rc = CID_OK;
	json_t *rec = NULL;
	json_t *methods = amr_array(&u->want);

	CID_ENSURE(methods != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_txn_get_json(txn, CID_DB_SESSIONS, key_of(u->hash), &rec));
	CID_TRY(from_record(rec, &u->sess));
	CID_ENSURE(u->now < u->sess.expires_at, CID_ERR_EXPIRED);
	CID_TRY(citizen_live(txn, &u->sess));
	CID_ENSURE(json_object_set_new(rec, "acr", json_string(u->want.acr)) == 0 &&
		       json_object_set(rec, "amr", methods) == 0 &&
		       json_object_set_new(rec, "auth_time", json_integer(u->auth_time)) == 0,
		   CID_ERR_NOMEM);
	/*= OWASP ASVS 4.0.3 V3.2.1: the application generates a new session token on
	 *# user authentication */
	CID_TRY(
	    cid_txn_put_json(txn, CID_DB_SESSIONS, key_of(u->new_hash), rec, CID_PUT_NOOVERWRITE));
	CID_TRY(cid_txn_del(txn, CID_DB_SESSIONS, key_of(u->hash)));
	/* the same sid and citizen, under the new cookie's key */
	CID_TRY(session_index_del(txn, rec, u->hash));
	CID_TRY(session_index_put(txn, u->sess.account_id, u->sess.sid, u->new_hash));
	CID_TRY(from_record(rec, &u->sess));
out:
	json_decref(rec);
	json_decref(methods);
	return rc;
}

enum cid_err cid_session_upgrade(struct cid_store *s, const char *cookie, const char *acr,
				 const char *const *amr, size_t n_amr, int64_t now,
				 char cookie_out[CID_TOKEN_CHARS + 1], struct cid_session *out)
{
	return cid_session_upgrade_at(s, cookie, acr, amr, n_amr, now, now, cookie_out, out);
}

enum cid_err cid_session_upgrade_at(struct cid_store *s, const char *cookie, const char *acr,
				    const char *const *amr, size_t n_amr, int64_t auth_time,
				    int64_t now, char cookie_out[CID_TOKEN_CHARS + 1],
				    struct cid_session *out)
{
	enum cid_err rc = CID_OK;
	char hash[CID_HASH_HEX + 1];
	char new_hash[CID_HASH_HEX + 1];
	char fresh[CID_TOKEN_CHARS + 1] = "";
	struct upgrade u = {.hash = hash, .new_hash = new_hash, .auth_time = auth_time, .now = now};

	/* a step-up names its level and at least one method */
	CID_ENSURE(acr != NULL && n_amr >= 1 && auth_copy(&u.want, acr, amr, n_amr),
		   CID_ERR_INVALID);
	CID_ENSURE(auth_time > 0 && auth_time <= now, CID_ERR_INVALID);
	CID_ENSURE(cookie_key(cookie, hash), CID_ERR_NOTFOUND);
	CID_TRY(cid_random_token(fresh));
	cid_secret_hash(fresh, CID_TOKEN_CHARS, new_hash);
	CID_TRY(cid_store_update(s, upgrade_cb, &u));
	memcpy(cookie_out, fresh, sizeof(fresh));
	if (out != NULL)
		*out = u.sess;
out:
	cid_wipe(fresh, sizeof(fresh));
	return rc;
}

void cid_session_form_token(const char *cookie, const char *csrf, char out[CID_TOKEN_CHARS + 1])
{
	static const char label[] = "civicid session form\n";
	uint8_t in[sizeof(label) - 1 + (size_t)2 * CID_TOKEN_CHARS + 1];
	uint8_t digest[32];
	const char *c = cookie == NULL ? "" : cookie;
	const char *t = csrf == NULL ? "" : csrf;
	size_t cl = strnlen(c, CID_TOKEN_CHARS);
	size_t tl = strnlen(t, CID_TOKEN_CHARS);
	size_t n = 0;

	memcpy(in, label, sizeof(label) - 1);
	n += sizeof(label) - 1;
	memcpy(in + n, t, tl);
	n += tl;
	in[n++] = '\n'; /* in no token: the split is unambiguous */
	memcpy(in + n, c, cl);
	n += cl;
	cid_sha256(in, n, digest);
	if (cid_b64url_encode(digest, sizeof(digest), out, CID_TOKEN_CHARS + 1) != CID_OK)
		out[0] = '\0';
	cid_wipe(in, sizeof(in));
	cid_wipe(digest, sizeof(digest));
}

struct add_client {
	const char *hash;
	const char *client_id;
	int64_t now; /* < 0: the last use is not written */
};

static enum cid_err add_client_cb(struct cid_txn *txn, void *arg)
{
	struct add_client *a = arg;
	enum cid_err rc = CID_OK;
	json_t *rec = NULL;
	json_t *clients;
	size_t i;
	json_t *c;

	bool known = false;
	bool stale;

	CID_TRY(cid_txn_get_json(txn, CID_DB_SESSIONS, key_of(a->hash), &rec));
	clients = json_object_get(rec, "clients");
	CID_ENSURE(json_is_array(clients), CID_ERR_STORE);
	json_array_foreach(clients, i, c)
	{
		if (cid_str_eq(cid_str_of(json_string_value(c)), a->client_id))
			known = true;
	}
	stale = a->now >= 0 && cid_json_int(rec, "last_used") < a->now - CID_SESSION_TOUCH;
	if (known && !stale)
		goto out; /* nothing new to write */
	if (!known)
		CID_ENSURE(json_array_append_new(clients, json_string(a->client_id)) == 0,
			   CID_ERR_NOMEM);
	if (a->now >= 0)
		CID_ENSURE(json_object_set_new(rec, "last_used", json_integer(a->now)) == 0,
			   CID_ERR_NOMEM);
	CID_TRY(cid_txn_put_json(txn, CID_DB_SESSIONS, key_of(a->hash), rec, 0));
out:
	json_decref(rec);
	return rc;
}

enum cid_err cid_session_add_client(struct cid_store *s, const char *cookie, const char *client_id)
{
	return cid_session_add_client_at(s, cookie, client_id, -1);
}

enum cid_err cid_session_add_client_at(struct cid_store *s, const char *cookie,
				       const char *client_id, int64_t now)
{
	enum cid_err rc = CID_OK;
	char hash[CID_HASH_HEX + 1];
	size_t n = client_id == NULL ? 0 : strnlen(client_id, CID_MAX_CLIENT_ID + 1);
	struct add_client a = {hash, client_id, now};

	CID_ENSURE(n >= 1 && n <= CID_MAX_CLIENT_ID && cid_utf8_valid(client_id, n),
		   CID_ERR_INVALID);
	CID_ENSURE(cookie_key(cookie, hash), CID_ERR_NOTFOUND);
	CID_TRY(cid_store_update(s, add_client_cb, &a));
out:
	return rc;
}

/*
 * Deletes the session stored under hash and its index keys, which rec (its
 * record, NULL when it does not parse) names.
 */
static enum cid_err del_session(struct cid_txn *txn, const char *hash, const json_t *rec)
{
	enum cid_err rc = CID_OK;

	CID_TRY(cid_txn_del(txn, CID_DB_SESSIONS, key_of(hash)));
	CID_TRY(session_index_del(txn, rec, hash));
out:
	return rc;
}

static enum cid_err del_cb(struct cid_txn *txn, void *arg)
{
	enum cid_err rc = CID_OK;
	json_t *rec = NULL;

	rc = cid_txn_get_json(txn, CID_DB_SESSIONS, key_of(arg), &rec);
	/* a record that does not parse is deleted all the same */
	CID_ENSURE(rc == CID_OK || rc == CID_ERR_STORE, rc);
	CID_TRY(del_session(txn, arg, rec));
out:
	json_decref(rec);
	return rc;
}

static bool session_dead(struct cid_str key, struct cid_str val, int64_t now)
{
	return key.len == CID_HASH_HEX &&
	       cid_store_record_past(val, "expires_at", CID_CLOCK_SKEW, now);
}

static enum cid_err session_sweep_del(struct cid_txn *txn, struct cid_str key, struct cid_str val,
				      int64_t now)
{
	enum cid_err rc = CID_OK;
	char hash[CID_HASH_HEX + 1];
	json_t *rec = NULL;

	(void)now;
	memcpy(hash, key.ptr, CID_HASH_HEX);
	hash[CID_HASH_HEX] = '\0';
	/* session_dead parsed it: only memory can fail here */
	CID_TRY(cid_store_parse_json(val, &rec));
	CID_TRY(del_session(txn, hash, rec));
out:
	json_decref(rec);
	return rc;
}

static const struct cid_store_sweep sessions = {CID_DB_SESSIONS, session_dead, session_sweep_del};

enum cid_err cid_session_sweep(struct cid_store *s, int64_t now, size_t *removed)
{
	return cid_store_sweep(s, &sessions, now, CID_SWEEP_BATCH, removed);
}

enum cid_err cid_session_end(struct cid_store *s, const char *cookie)
{
	char hash[CID_HASH_HEX + 1];

	if (!cookie_key(cookie, hash))
		return CID_ERR_NOTFOUND;
	return cid_store_update(s, del_cb, hash);
}

/*
 * The session whose public id is sid, through the index: its key into hash
 * and its record into *rec (new reference), which must say it is sid's.
 */
static enum cid_err load_sid(struct cid_txn *txn, const char *sid, char hash[CID_HASH_HEX + 1],
			     json_t **rec)
{
	enum cid_err rc = CID_OK;
	json_t *r = NULL;

	CID_TRY(session_index_sid(txn, sid, hash));
	CID_TRY(cid_txn_get_json(txn, CID_DB_SESSIONS, key_of(hash), &r));
	/* the key said whose session it is: the record must agree */
	CID_ENSURE(cid_str_eq(cid_str_of(cid_json_str(r, "sid")), sid), CID_ERR_STORE);
	*rec = r;
	r = NULL;
out:
	json_decref(r);
	return rc;
}

enum cid_err cid_session_sid_live_txn(struct cid_txn *txn, const char *sid, int64_t now)
{
	enum cid_err rc = CID_OK;
	char hash[CID_HASH_HEX + 1];
	struct cid_session sess;
	json_t *rec = NULL;

	CID_ENSURE(sid != NULL && cid_token_syntax_ok(sid), CID_ERR_NOTFOUND);
	CID_TRY(load_sid(txn, sid, hash, &rec));
	CID_TRY(from_record(rec, &sess));
	CID_ENSURE(now < sess.expires_at, CID_ERR_EXPIRED);
out:
	json_decref(rec);
	return rc;
}

struct end_sid {
	const char *sid;
};

static enum cid_err end_sid_cb(struct cid_txn *txn, void *arg)
{
	const struct end_sid *e = arg;
	enum cid_err rc = CID_OK;
	char hash[CID_HASH_HEX + 1];
	json_t *rec = NULL;

	CID_TRY(load_sid(txn, e->sid, hash, &rec));
	CID_TRY(del_session(txn, hash, rec));
out:
	json_decref(rec);
	return rc;
}

enum cid_err cid_session_end_sid(struct cid_store *s, const char *sid)
{
	struct end_sid e = {sid};

	if (!cid_token_syntax_ok(sid))
		return CID_ERR_NOTFOUND;
	return cid_store_update(s, end_sid_cb, &e);
}

/* The clients member of a stored session as a new reference (an empty array when absent). */
static enum cid_err clients_of(const json_t *rec, json_t **out)
{
	json_t *c = json_object_get(rec, "clients");

	if (c != NULL && !json_is_array(c))
		return CID_ERR_STORE;
	*out = c != NULL ? json_incref(c) : json_array();
	return *out != NULL ? CID_OK : CID_ERR_NOMEM;
}

enum cid_err cid_session_end_txn(struct cid_txn *txn, const char *cookie, const char *sid,
				 struct cid_session *out, json_t **clients)
{
	enum cid_err rc = CID_OK;
	char hash[CID_HASH_HEX + 1];
	struct cid_session sess;
	json_t *rec = NULL;
	json_t *list = NULL;

	if (cookie != NULL) {
		CID_ENSURE(cookie_key(cookie, hash), CID_ERR_NOTFOUND);
		CID_TRY(cid_txn_get_json(txn, CID_DB_SESSIONS, key_of(hash), &rec));
	} else {
		CID_ENSURE(cid_token_syntax_ok(sid), CID_ERR_NOTFOUND);
		CID_TRY(load_sid(txn, sid, hash, &rec));
	}
	CID_TRY(from_record(rec, &sess));
	CID_TRY(clients_of(rec, &list));
	CID_TRY(del_session(txn, hash, rec));
	*out = sess;
	*clients = list;
	list = NULL;
out:
	json_decref(rec);
	json_decref(list);
	return rc;
}

/*
 * Ends the session of account_id stored under key, telling fn first, unless
 * its sid is keep_sid; a damaged record is left as it is, a key whose record
 * is gone (ended by an older build) is passed over.
 */
static enum cid_err
end_one(struct cid_txn *txn, const char *account_id, const char *keep_sid, const char *key,
	enum cid_err (*fn)(const struct cid_session *sess, const json_t *clients, void *arg),
	void *arg, size_t *ended)
{
	enum cid_err rc = CID_OK;
	struct cid_session sess;
	json_t *rec = NULL;
	json_t *clients = NULL;

	rc = cid_txn_get_json(txn, CID_DB_SESSIONS, key_of(key), &rec);
	if (rc == CID_ERR_NOTFOUND || rc == CID_ERR_STORE) {
		rc = CID_OK;
		goto out;
	}
	CID_TRY(rc);
	if (from_record(rec, &sess) != CID_OK)
		goto out;
	/* the key said whose session it is: the record must agree */
	CID_ENSURE(strcmp(sess.account_id, account_id) == 0, CID_ERR_STORE);
	if (keep_sid != NULL && strcmp(sess.sid, keep_sid) == 0)
		goto out;
	rc = clients_of(rec, &clients);
	if (rc == CID_ERR_STORE) {
		rc = CID_OK;
		goto out;
	}
	CID_TRY(rc);
	CID_TRY(fn(&sess, clients, arg));
	CID_TRY(del_session(txn, key, rec));
	(*ended)++;
out:
	json_decref(rec);
	json_decref(clients);
	return rc;
}

enum cid_err cid_session_end_account_txn(struct cid_txn *txn, const char *account_id,
					 const char *keep_sid,
					 enum cid_err (*fn)(const struct cid_session *sess,
							    const json_t *clients, void *arg),
					 void *arg, size_t *n)
{
	enum cid_err rc = CID_OK;
	json_t *keys = json_array(); /* collected first: no delete under the index's cursor */
	size_t ended = 0;
	size_t i;
	json_t *k;

	CID_ENSURE(keys != NULL, CID_ERR_NOMEM);
	CID_ENSURE(account_id != NULL, CID_ERR_INVALID);
	CID_TRY(session_index_account(txn, account_id, keys));
	json_array_foreach(keys, i, k)
	{
		CID_TRY(end_one(txn, account_id, keep_sid, json_string_value(k), fn, arg, &ended));
	}
	if (n != NULL)
		*n = ended;
out:
	json_decref(keys);
	return rc;
}

/* ---- a citizen's own list ---- */

struct listing {
	struct cid_txn *txn;
	const char *account_id;
	int64_t now;
	struct cid_session_entry *list; /* CID_SESSION_LIST_MAX entries */
	size_t n;
};

static enum cid_err list_one(struct cid_str key, struct cid_str val, void *arg)
{
	struct listing *l = arg;
	enum cid_err rc = CID_OK;
	struct cid_session sess;
	json_t *rec = NULL;
	json_t *clients = NULL;
	size_t at;

	/* a damaged record, another citizen's, an ended or a dead one is not listed */
	if (key.len != CID_HASH_HEX || cid_store_parse_json(val, &rec) != CID_OK ||
	    !cid_str_eq(cid_str_of(cid_json_str(rec, "account_id")), l->account_id) ||
	    from_record(rec, &sess) != CID_OK || l->now >= sess.expires_at ||
	    citizen_live(l->txn, &sess) != CID_OK || clients_of(rec, &clients) != CID_OK)
		goto out;
	/* insertion by last use, newest first; the oldest falls off a full list */
	at = l->n;
	while (at > 0 && l->list[at - 1].sess.last_used < sess.last_used)
		at--;
	if (at == CID_SESSION_LIST_MAX)
		goto out;
	if (l->n == CID_SESSION_LIST_MAX)
		json_decref(l->list[--l->n].clients);
	memmove(&l->list[at + 1], &l->list[at], (l->n - at) * sizeof(l->list[0]));
	l->list[at].sess = sess;
	l->list[at].clients = clients;
	clients = NULL;
	l->n++;
out:
	json_decref(rec);
	json_decref(clients);
	return rc;
}

/* Lists the session stored under key, if it is there. */
static enum cid_err list_key(struct cid_str key, void *arg)
{
	struct listing *l = arg;
	enum cid_err rc = CID_OK;
	struct cid_str val;

	rc = cid_txn_get(l->txn, CID_DB_SESSIONS, key, &val);
	if (rc == CID_ERR_NOTFOUND) /* ended by an older build */
		return CID_OK;
	CID_TRY(rc);
	CID_TRY(list_one(key, val, l));
out:
	return rc;
}

enum cid_err cid_session_list(struct cid_store *s, const char *account_id, int64_t now,
			      struct cid_session_entry **out, size_t *n)
{
	enum cid_err rc = CID_OK;
	struct listing l = {.account_id = account_id, .now = now};

	CID_ENSURE(account_id != NULL, CID_ERR_INVALID);
	l.list = calloc(CID_SESSION_LIST_MAX, sizeof(l.list[0]));
	CID_ENSURE(l.list != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_store_read_begin(s, &l.txn));
	CID_TRY(session_index_account_each(l.txn, account_id, list_key, &l));
	if (l.n == 0) {
		free(l.list);
		l.list = NULL;
	}
	*out = l.list;
	*n = l.n;
	l.list = NULL;
	l.n = 0;
out:
	cid_store_read_end(l.txn);
	cid_session_list_free(l.list, l.n);
	return rc;
}

void cid_session_list_free(struct cid_session_entry *list, size_t n)
{
	if (list == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		json_decref(list[i].clients);
	free(list);
}
