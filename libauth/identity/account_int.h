/*
 * account_int.h: what the three files of the account module share; not part
 * of the API (account.h is).
 *
 *   account.c         citizens' records, passwords, login throttling, generations
 *   account_claims.c  the claim table and the checks of a claim's value
 *   account_totp.c    the second factor: enrolment, the code check, the count of
 *                     consecutive wrong codes
 *   account_totp_enrol.c  the citizen's own enrolment (pending until confirmed)
 *                     and removal with a fresh code
 *
 * A record changes only inside cid_store_update, whose callback may run
 * twice: a callback computes nothing slow and only reads and writes the store.
 */
#ifndef CID_ACCOUNT_INT_H
#define CID_ACCOUNT_INT_H

#include "err.h"
#include "store.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* One change to an existing citizen; fields left NULL/-1 are not touched. */
struct change {
	const char *username;
	int64_t now;
	json_t *claims;	      /* merged: null members remove */
	int disabled;	      /* -1: unchanged */
	const char *password; /* a PHC hash */
	bool drop_totp;	      /* remove the TOTP secret; CID_ERR_NOTFOUND if none */
	bool unlock_totp;     /* clear the wrong codes' count; CID_ERR_NOTFOUND if no secret */
};

/*
 * Checks every member of a claims object with cid_claim_check; null members
 * (removals) only when allow_null. Errors: those of cid_claim_check.
 */
CID_MUST_CHECK enum cid_err account_claims_ok(json_t *claims, bool allow_null);

/* Whether u is a username civicid accepts (1..CID_MAX_USERNAME of A-Z a-z 0-9 . _ @ -). */
bool account_username_ok(const char *u);

/* Reads the record of account id (password included) in txn. *out: new reference. */
CID_MUST_CHECK enum cid_err account_load_record(struct cid_txn *txn, const char *id, json_t **out);

/*
 * Resolves username through the index to the full record (password included).
 * Errors: CID_ERR_NOTFOUND, CID_ERR_STORE (an index entry without its record).
 */
CID_MUST_CHECK enum cid_err account_load_by_username(struct cid_txn *txn, const char *username,
						     json_t **out);

/* A cid_store_update callback applying the struct change arg to its citizen's record. */
CID_MUST_CHECK enum cid_err account_change_cb(struct cid_txn *txn, void *arg);

/* Removes the count of consecutive wrong one-time codes of account id. */
CID_MUST_CHECK enum cid_err account_clear_code_counter(struct cid_txn *txn, const char *id);

#endif
