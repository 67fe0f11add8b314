/*
 * account_delete: one write transaction runs each owner's deletion in
 * turn (account_delete.h lists them) and the audit entry. The sessions are
 * ended first, while the citizen is still there to be named to its
 * services; the record goes last but one, the entry last, so a failure
 * anywhere aborts the lot and cid_store_update's rerun starts from scratch.
 */
#include "account_delete.h"

#include "account.h"
#include "audit.h"
#include "consent.h"
#include "idp.h"
#include "logins.h"
#include "logout.h"
#include "token.h"

#include <string.h>

/* Who asked: what the entry says and how the consents are withdrawn. */
struct requester {
	const char *actor;
	const char *endpoint;
	enum cid_consent_method method;
};

static const struct requester operator_cli = {"operator", "cli", CID_CONSENT_METHOD_CLI_WITHDRAW};
static const struct requester citizen_page = {"citizen", "account", CID_CONSENT_METHOD_ACCOUNT};

/* One deletion: of username (the operator's), or of account_id (the citizen's own). */
struct deletion {
	const char *username;
	const char *account_id;
	const struct requester *by;
	int64_t now;
	struct cid_account_deleted done;
};

static enum cid_err delete_cb(struct cid_txn *txn, void *arg)
{
	struct deletion *d = arg;
	enum cid_err rc = CID_OK;
	struct cid_account *citizen = NULL;
	json_t *entry = NULL;

	/* a rerun (the map grew) starts over */
	memset(&d->done, 0, sizeof(d->done));
	if (d->account_id != NULL)
		CID_TRY(cid_account_get_txn(txn, d->account_id, &citizen));
	else
		CID_TRY(cid_account_find_txn(txn, d->username, &citizen));
	memcpy(d->done.id, citizen->id, sizeof(d->done.id));
	/* as a disable does: every live session's services are told */
	CID_TRY(cid_logout_disable_citizen_txn(txn, citizen->username, CID_LOGOUT_CAUSE_DELETE,
					       d->now, &d->done.sessions));
	CID_TRY(cid_grant_delete_account_txn(txn, d->done.id, &d->done.grants));
	CID_TRY(cid_idp_unlink_account_txn(txn, d->done.id, &d->done.links));
	CID_TRY(cid_logins_delete_txn(txn, d->done.id));
	/* the evidence stays, but nothing of the citizen is in force: retention runs from now */
	CID_TRY(cid_consent_withdraw_account_txn(txn, d->done.id, d->by->method, d->now,
						 &d->done.withdrawn));
	CID_TRY(cid_account_remove_txn(txn, citizen->username, d->done.id));
	CID_TRY(
	    cid_audit_deletion_entry(&(struct cid_audit_deletion){.actor = d->by->actor,
								  .endpoint = d->by->endpoint,
								  .citizen = d->done.id,
								  .sessions = d->done.sessions,
								  .grants = d->done.grants,
								  .links = d->done.links,
								  .withdrawn = d->done.withdrawn,
								  .now = d->now},
				     &entry));
	CID_TRY(cid_audit_append_txn(txn, entry, &d->done.seq));
out:
	json_decref(entry);
	cid_account_free(citizen);
	return rc;
}

static enum cid_err run(struct cid_store *s, struct deletion *d, struct cid_account_deleted *out)
{
	enum cid_err rc = CID_OK;

	CID_TRY(cid_store_update(s, delete_cb, d));
	if (out != NULL)
		*out = d->done;
out:
	return rc;
}

enum cid_err cid_account_delete(struct cid_store *s, const char *username, int64_t now,
				struct cid_account_deleted *out)
{
	struct deletion d = {.username = username, .by = &operator_cli, .now = now};

	return run(s, &d, out);
}

enum cid_err cid_account_delete_own(struct cid_store *s, const char *account_id, int64_t now,
				    struct cid_account_deleted *out)
{
	struct deletion d = {.account_id = account_id, .by = &citizen_page, .now = now};

	/* never the username path: no id is no citizen */
	if (account_id == NULL)
		return CID_ERR_NOTFOUND;
	return run(s, &d, out);
}
