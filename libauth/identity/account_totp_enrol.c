/*
 * account_totp_enrol: the citizen enrols and removes their own second factor
 * on the account's security page, where nobody but the citizen checks that
 * the authenticator works. So a new secret is only pending until a code made
 * from it is typed back (then it becomes the "totp" member and the second
 * factor of every later login), and removing the factor takes a fresh code
 * of the secret in force, checked (and counted when wrong) exactly as at
 * login, so a browser left signed in is not enough to strip it.
 *
 * The pending secret lives in the citizen record as "totp_pending":
 * {"secret", "created_at", "sid"}, stripped like "totp" from everything
 * that leaves this module, and worth nothing after CID_TOTP_PENDING_TTL.
 * It belongs to the session that began it (sid), not to the account: only
 * that session is shown it and may confirm it, so another browser signed
 * in as the citizen (left open, or a stolen cookie) never learns the key
 * the citizen is about to rely on. A record without a sid (from before the
 * rule) is nobody's, as if nothing were pending.
 */
#include "account.h"

#include "account_int.h"
#include "bounds.h"
#include "crypto.h"
#include "str.h"
#include "totp.h"

#include <stdlib.h>
#include <string.h>

struct pending {
	const char *id;
	const char *sid; /* the session that began it */
	int64_t now;
	const char *secret; /* base32: begin */
	const char *code;   /* confirm */
	enum cid_err verdict;
};

static enum cid_err begin_cb(struct cid_txn *txn, void *arg)
{
	const struct pending *p = arg;
	enum cid_err rc = CID_OK;
	json_t *record = NULL;

	CID_TRY(account_load_record(txn, p->id, &record));
	CID_ENSURE(!cid_account_has_totp(record), CID_ERR_EXISTS);
	CID_ENSURE(
	    json_object_set_new(record, "totp_pending",
				json_pack("{s:s, s:I, s:s}", "secret", p->secret, "created_at",
					  (json_int_t)p->now, "sid", p->sid)) == 0,
	    CID_ERR_NOMEM);
	CID_TRY(cid_txn_put_json(txn, CID_DB_CITIZENS, cid_str_of(p->id), record, 0));
out:
	json_decref(record);
	return rc;
}

/* The username of account_id into out; CID_ERR_NOTFOUND when there is no such citizen. */
static enum cid_err username_of(struct cid_store *s, const char *account_id,
				char out[CID_MAX_USERNAME + 1])
{
	enum cid_err rc = CID_OK;
	struct cid_account *a = NULL;

	CID_TRY(cid_account_get(s, account_id, &a));
	memcpy(out, a->username, sizeof(a->username));
out:
	cid_account_free(a);
	return rc;
}

enum cid_err cid_account_totp_begin(struct cid_store *s, const char *account_id, const char *sid,
				    int64_t now, char **secret_b32_out, char **uri_out)
{
	enum cid_err rc = CID_OK;
	char username[CID_MAX_USERNAME + 1];
	struct cid_totp_enrolment en = {0};
	struct pending p = {.id = account_id, .sid = sid, .now = now};

	CID_ENSURE(cid_token_syntax_ok(sid), CID_ERR_INVALID);
	CID_TRY(username_of(s, account_id, username));
	CID_TRY(cid_totp_enrolment_new(&en, CID_TOTP_ISSUER, username));
	p.secret = en.b32;
	CID_TRY(cid_store_update(s, begin_cb, &p));
	cid_totp_enrolment_give(&en, secret_b32_out, uri_out);
out:
	cid_totp_enrolment_wipe(&en);
	return rc;
}

/*
 * The pending secret of record, if any, begun by the session sid and still
 * fresh at now: borrowed from record.
 */
static const char *pending_secret(const json_t *record, const char *sid, int64_t now)
{
	const json_t *p = json_object_get(record, "totp_pending");
	const char *b32 = cid_json_str(p, "secret");
	const char *owner = cid_json_str(p, "sid");
	int64_t created = cid_json_int(p, "created_at");

	if (b32 == NULL || strlen(b32) != CID_TOTP_SECRET_CHARS || owner == NULL ||
	    strcmp(owner, sid) != 0 || now < created || now - created >= CID_TOTP_PENDING_TTL)
		return NULL;
	return b32;
}

enum cid_err cid_account_totp_pending(struct cid_store *s, const char *account_id, const char *sid,
				      int64_t now, char **secret_b32_out, char **uri_out)
{
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;
	json_t *record = NULL;
	const char *b32;
	uint8_t secret[CID_TOTP_SECRET_MAX];
	size_t secret_len = 0;
	char *copy = NULL;
	char *uri = NULL;

	CID_ENSURE(cid_token_syntax_ok(sid), CID_ERR_INVALID);
	CID_TRY(cid_store_read_begin(s, &txn));
	CID_TRY(account_load_record(txn, account_id, &record));
	b32 = pending_secret(record, sid, now);
	CID_ENSURE(b32 != NULL && !cid_account_has_totp(record), CID_ERR_NOTFOUND);
	CID_ENSURE(cid_base32_decode(b32, strlen(b32), secret, sizeof(secret), &secret_len) ==
		       CID_OK,
		   CID_ERR_STORE);
	CID_TRY(cid_totp_uri(CID_TOTP_ISSUER, cid_json_str(record, "username"), secret, secret_len,
			     &uri));
	copy = strdup(b32);
	CID_ENSURE(copy != NULL, CID_ERR_NOMEM);
	*secret_b32_out = copy;
	*uri_out = uri;
	copy = NULL;
	uri = NULL;
out:
	cid_store_read_end(txn);
	json_decref(record);
	cid_wipe(secret, sizeof(secret));
	free(copy);
	if (uri != NULL) {
		cid_wipe(uri, strlen(uri));
		free(uri);
	}
	return rc;
}

static enum cid_err confirm_cb(struct cid_txn *txn, void *arg)
{
	struct pending *p = arg;
	enum cid_err rc = CID_OK;
	json_t *record = NULL;
	const char *b32;
	uint8_t secret[CID_TOTP_SECRET_MAX];
	size_t secret_len = 0;
	int64_t matched = 0;

	p->verdict = CID_ERR_DENIED;
	CID_TRY(account_load_record(txn, p->id, &record));
	CID_ENSURE(!cid_account_has_totp(record), CID_ERR_EXISTS);
	b32 = pending_secret(record, p->sid, p->now);
	CID_ENSURE(b32 != NULL, CID_ERR_NOTFOUND);
	CID_ENSURE(cid_base32_decode(b32, strlen(b32), secret, sizeof(secret), &secret_len) ==
		       CID_OK,
		   CID_ERR_STORE);
	rc = cid_totp_verify(secret, secret_len, p->code, p->now, CID_TOTP_WINDOW, 0, &matched);
	CID_ENSURE(rc == CID_OK || rc == CID_ERR_DENIED, rc);
	if (rc == CID_ERR_DENIED) {
		rc = CID_OK; /* nothing changes: the citizen may try again */
		goto out;
	}
	/* the confirming code's step counts as used: it cannot log in afterwards */
	CID_ENSURE(json_object_set_new(record, "totp",
				       json_pack("{s:s, s:I, s:I}", "secret", b32, "enrolled_at",
						 (json_int_t)p->now, "last_step",
						 (json_int_t)matched)) == 0 &&
		       json_object_del(record, "totp_pending") == 0 &&
		       json_object_set_new(record, "updated_at", json_integer(p->now)) == 0,
		   CID_ERR_NOMEM);
	CID_TRY(cid_txn_put_json(txn, CID_DB_CITIZENS, cid_str_of(p->id), record, 0));
	/* a new secret starts a new count of wrong codes */
	CID_TRY(account_clear_code_counter(txn, p->id));
	p->verdict = CID_OK;
out:
	cid_wipe(secret, sizeof(secret));
	json_decref(record);
	return rc;
}

enum cid_err cid_account_totp_confirm(struct cid_store *s, const char *account_id, const char *sid,
				      const char *code, int64_t now)
{
	enum cid_err rc = CID_OK;
	struct pending p = {.id = account_id, .sid = sid, .now = now, .code = code};

	CID_ENSURE(cid_token_syntax_ok(sid) && cid_totp_code_ok(code) && now >= 0, CID_ERR_INVALID);
	CID_TRY(cid_store_update(s, confirm_cb, &p));
	CID_ENSURE(p.verdict == CID_OK, p.verdict);
out:
	return rc;
}

enum cid_err cid_account_totp_remove(struct cid_store *s, const char *account_id, const char *code,
				     const char *addr, int64_t now, int64_t *retry_after)
{
	enum cid_err rc = CID_OK;
	char username[CID_MAX_USERNAME + 1];

	CID_TRY(username_of(s, account_id, username));
	CID_TRY(cid_account_totp_check(s, account_id, code, addr, now, retry_after));
	CID_TRY(cid_account_totp_disable(s, username, now));
out:
	return rc;
}
