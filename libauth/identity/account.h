/*
 * account: citizens, their attributes (claims) and password credentials, and
 * the throttling of failed logins.
 *
 * A citizen record (CID_DB_CITIZENS, key = account id, a random UUID that never
 * leaves the server) is a JSON object:
 *   {"id", "username", "password" (argon2id PHC string), "disabled": bool,
 *    "generation": N (absent: 0), "claims": {...}, "created_at", "updated_at",
 *    "totp": {"secret", "enrolled_at", "last_step"} (only once enrolled),
 *    "no_password": true (only while created through an upstream, no password known),
 *    "verified": {claim: provenance} (what upstreams vouched for, account_verified.c)}
 * CID_DB_USERNAMES maps username -> {"id"} and is kept in the same write
 * transaction, so the two never disagree. Usernames are 1..CID_MAX_USERNAME
 * bytes of [A-Za-z0-9._@-], compared exactly (the CLI lower-cases nothing).
 * The record is this module's: every other module reads a citizen as struct
 * cid_account (below), made from it in one place.
 *
 * Attributes are OIDC standard claims (Core §5.1) plus city attributes, checked
 * against one table (cid_claim_lookup). Names of the human-readable string
 * claims may carry a BCP 47 language tag: "family_name#ja-Kana-JP".
 *
 * Throttling (CID_DB_THROTTLE; the rule and the counters are throttle.h's,
 * shared with officers' logins): a wrong password counts for the submitted
 * username from the client's address (whether or not the name exists, so the
 * answers never tell) and for the address; a correct one clears that pair's
 * count. No password count spans an account, so nobody can lock a citizen out
 * from elsewhere. Wrong one-time codes count per account, consecutively: after
 * CID_CODE_MAX_FAILURES the second factor is refused until an operator
 * unlocks it (cid_account_totp_unlock); a correct code before that clears them.
 * Thread-safe (all state in the store).
 */
#ifndef CID_ACCOUNT_H
#define CID_ACCOUNT_H

#include "bounds.h"
#include "crypto.h"
#include "err.h"
#include "store.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum cid_claim_type {
	CID_CLAIM_STRING,
	CID_CLAIM_BOOL,
	CID_CLAIM_INT,	  /* integer, range per claim */
	CID_CLAIM_DATE,	  /* "YYYY-MM-DD" (or "YYYY", "0000-MM-DD" per Core §5.1) */
	CID_CLAIM_OBJECT, /* address: an object of string members (Core §5.1.1) */
	CID_CLAIM_TIME,	  /* seconds since epoch (updated_at), maintained by civicid */
};

struct cid_claim_def {
	const char *name; /* "given_name", "resident_district" */
	const char
	    *scope; /* scope that requests it: "profile", "email", "address", "phone", "city" */
	enum cid_claim_type type;
	bool lang_tagged; /* may appear as name#lang-tag */
	int64_t min, max; /* for CID_CLAIM_INT */
};

/*
 * Looks up a claim name (a "#lang" suffix is accepted and checked when the claim
 * is lang_tagged). Returns the static definition or NULL if the name is unknown
 * or the language tag is malformed. Thread-safe.
 */
const struct cid_claim_def *cid_claim_lookup(const char *name);

/* The claim table, n entries; static. */
const struct cid_claim_def *cid_claim_table(size_t *n);

/*
 * Checks one claim value against its definition (type, UTF-8, length,
 * integer range, date format). Errors: CID_ERR_INVALID (unknown claim or wrong
 * type/range), CID_ERR_UTF8, CID_ERR_TOOBIG.
 */
CID_MUST_CHECK enum cid_err cid_claim_check(const char *name, const json_t *value);

/*
 * Parses the text form of a claim value (as an operator types it: "3",
 * "true", "1988-04-12", a JSON object for address) into the JSON type of the
 * claim's definition, and checks it as cid_claim_check does. *out: new reference.
 * Errors: CID_ERR_INVALID (unknown claim, text not of the claim's type),
 * those of cid_claim_check, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_claim_parse(const char *name, const char *text, json_t **out);

/*
 * Creates a citizen at time now (its "created_at" and "updated_at"). claims
 * (borrowed) must be an object whose members all pass cid_claim_check. The
 * password is hashed with params. id_out receives the new account id.
 * Errors: CID_ERR_INVALID (bad username, password length, claims), CID_ERR_EXISTS
 * (username taken), CID_ERR_UTF8, CID_ERR_TOOBIG, CID_ERR_STORE, CID_ERR_CRYPTO.
 */
CID_MUST_CHECK enum cid_err cid_account_add(struct cid_store *s,
					    const struct cid_argon2_params *params,
					    const char *username, const char *password,
					    const json_t *claims, int64_t now,
					    char id_out[CID_ID_CHARS + 1]);

/*
 * A citizen ready to be written by cid_account_add_txn, so that its creation
 * can share a write transaction with other writes (idp.h's
 * cid_idp_link_or_create): its username and claims checked as
 * cid_account_add checks them, its id drawn and its password hashed, which
 * is slow and so done before the transaction (whose callback may run
 * twice), never in it. Made by cid_account_draft_federated; whoever made it
 * releases it with cid_account_draft_clear.
 */
struct cid_account_draft {
	char id[CID_ID_CHARS + 1]; /* the id the citizen will have */
	json_t *record;		   /* owned; read and written by this module only */
};

/*
 * Drafts into *out a citizen entered through an upstream identity provider
 * (idp.h), with a random password nobody knows: the record says
 * "no_password": true (struct cid_account's has_password false) until
 * cid_account_set_password gives it one. *out is written only on success.
 * Errors: CID_ERR_INVALID (bad username, claims), CID_ERR_UTF8,
 * CID_ERR_TOOBIG, CID_ERR_CRYPTO, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_account_draft_federated(const struct cid_argon2_params *params,
							const char *username, const json_t *claims,
							int64_t now, struct cid_account_draft *out);

/*
 * Writes the citizen d (borrowed) in the write transaction txn: its record
 * and its username, as cid_account_add does. d stays the caller's.
 * Errors: CID_ERR_EXISTS (username taken), CID_ERR_INVALID (an empty draft,
 * or a read transaction), CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_account_add_txn(struct cid_txn *txn,
						const struct cid_account_draft *d);

/* Releases what d holds and empties it; an empty draft is a no-op. */
void cid_account_draft_clear(struct cid_account_draft *d);

/*
 * A citizen as every other module reads it: made from the stored record once
 * (cid_account_from_record, which every getter below uses), not changed
 * afterwards. The password hash and the TOTP secret are never in it. Only
 * this module reads a citizen record by its member names; a member read
 * elsewhere is a member of this struct, so a misspelt one does not compile.
 * Free with cid_account_free.
 */
struct cid_account {
	char id[CID_ID_CHARS + 1];	     /* the account id (a UUID) */
	char username[CID_MAX_USERNAME + 1]; /* as stored */
	bool active;			     /* cid_account_active of the record: the one rule */
	bool has_totp;			     /* cid_account_has_totp of the record */
	bool has_password;		     /* false: created through an upstream, no password
						known (cid_account_draft_federated) */
	int64_t generation;		     /* the record's; 0 when it has none (see below) */
	int64_t created_at;		     /* 0 when the record has none */
	int64_t updated_at;		     /* 0 when the record has none */
	json_t *claims;	  /* the attributes: an object, empty when the record has none;
			     owned by the account. Read a claim through the claim
			     table (cid_claim_lookup): a member that is no claim of
			     it (none is stored by civicid) is no attribute */
	json_t *verified; /* what upstreams vouched for: {claim: {"value", "issuer",
			     "imported_at", "trust_framework"?, "time"?, "evidence"?}},
			     empty when none; owned. Apart from claims: a typed value is
			     never in it (cid_account_put_verified) */
	atomic_int refs;  /* references held: a citizen read from an unchanged record is
			     shared (the store's memo, memo.h); cid_account_free drops one */
};

/*
 * Replaces what the upstream issuer vouches for about citizen id with
 * entries (borrowed): {claim: {"value", "issuer" (= issuer), "imported_at",
 * "trust_framework"?, "time"?, "evidence"?}} as idp.h's
 * cid_idp_verified_claims makes them (may be empty: it vouches for nothing
 * now). Other issuers' entries stay, except a claim's entry that entries
 * holds too: it is replaced when it has no trust framework or the new one
 * has one, and stays (the new one dropped) when only it has one, so a value
 * merely imported never displaces a verified one of another upstream.
 * Never touches the typed "claims". A disabled citizen's record is not
 * written: that is checked in the write transaction itself, so a citizen
 * disabled after the caller looked still gets nothing written.
 * Errors: CID_ERR_INVALID (a name not in the claim table, a value failing
 * cid_claim_check, an entry of another issuer or without imported_at;
 * nothing written), CID_ERR_NOTFOUND (no such citizen), CID_ERR_DISABLED
 * (the citizen is disabled; nothing written), CID_ERR_TOOBIG (over
 * CID_MAX_CLAIMS entries in all), CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_account_put_verified(struct cid_store *s, const char *id,
						     const char *issuer, const json_t *entries);

/*
 * The provenance entry of claim name of a (borrowed from a) when an
 * upstream verified it: stored with a trust framework (OIDC4IDA
 * verification.trust_framework, or the registration's). NULL when there is
 * none, or the value was imported without one (its source is kept, but it is
 * not a verified value: a policy's `verified` does not take it).
 */
const json_t *cid_account_verified_get(const struct cid_account *a, const char *name);

/*
 * cid_account_verified_get of the base claim name (no "#lang") or, when it
 * has none, of its first language-tagged form that has one (a citizen may
 * hold only "family_name#ja-Kana-JP", which a release of family_name's rule
 * takes): what a screen naming base attributes reports. NULL when neither.
 */
const json_t *cid_account_verified_get_base(const struct cid_account *a, const char *base);

/*
 * Makes the typed citizen of record (a stored citizen record, or one stripped
 * as cid_account_show returns it; borrowed). *out (free with
 * cid_account_free) is written only on success.
 * Errors: CID_ERR_STORE (the record is damaged: not an object, "id" not a
 * UUID, "username" missing, empty or over CID_MAX_USERNAME bytes,
 * "generation" not an integer >= 0, "claims" or "verified" present but not an object, a
 * time not an integer), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_account_from_record(const json_t *record, struct cid_account **out);

/* Drops a reference to a citizen of cid_account_from_record or a getter; the last frees it.
 * NULL is a no-op. */
void cid_account_free(struct cid_account *a);

/*
 * Reads a citizen by account id (cid_account_get, or cid_account_get_txn
 * inside a caller's read or write transaction) or by username
 * (cid_account_find, or cid_account_find_txn inside a caller's transaction).
 * *out (free with cid_account_free) is written only on success.
 * Errors: CID_ERR_NOTFOUND (no such citizen, a malformed id or username),
 * CID_ERR_STORE (including a damaged record, as cid_account_from_record),
 * CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_account_get(struct cid_store *s, const char *id,
					    struct cid_account **out);
CID_MUST_CHECK enum cid_err cid_account_find(struct cid_store *s, const char *username,
					     struct cid_account **out);
CID_MUST_CHECK enum cid_err cid_account_get_txn(struct cid_txn *txn, const char *id,
						struct cid_account **out);
CID_MUST_CHECK enum cid_err cid_account_find_txn(struct cid_txn *txn, const char *username,
						 struct cid_account **out);

/*
 * Whether a citizen record of account id is in the store, read in txn
 * without parsing it (the retention sweep asks it of every citizen it
 * walks): *exists. A malformed id is no citizen. Errors: CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err cid_account_exists_txn(struct cid_txn *txn, const char *id,
						   bool *exists);

/*
 * The record of username for printing (the CLI's --json): as stored, with
 * the "password" and "totp" members removed and "totp_enrolled": true|false
 * added. *out: new reference, json_decref it.
 * Errors: CID_ERR_NOTFOUND, CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_account_show(struct cid_store *s, const char *username,
					     json_t **out);

/*
 * All citizens, records stripped as by cid_account_show, ordered by username;
 * *out is a new array. A row is read through cid_account_from_record.
 * Errors: CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_account_list(struct cid_store *s, json_t **out);

/*
 * Merges claims into the citizen's: a member with JSON null removes that claim.
 * Sets "updated_at" (of the record and of the claims) to now. Errors: CID_ERR_NOTFOUND, those of
 * cid_claim_check, CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err cid_account_set_claims(struct cid_store *s, const char *username,
						   const json_t *claims, int64_t now);

/*
 * Disables or enables login and token use. A change of state also starts a
 * new generation (see cid_account_live): every grant, token and SSO session
 * the citizen held is dead at once, in the same transaction, and enabling
 * the citizen again revives none of them. Setting the state the citizen is
 * already in changes nothing. The record's "updated_at" becomes now.
 * Errors: CID_ERR_NOTFOUND, CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err cid_account_set_disabled(struct cid_store *s, const char *username,
						     bool disabled, int64_t now);

/*
 * cid_account_set_disabled inside the caller's write transaction (from
 * cid_store_update), so that what goes with it commits with it (single
 * logout ends the citizen's sessions, logout.h). Errors: as
 * cid_account_set_disabled.
 */
CID_MUST_CHECK enum cid_err cid_account_set_disabled_txn(struct cid_txn *txn, const char *username,
							 bool disabled, int64_t now);

/*
 * Removes citizen username's record and its username index entry inside the
 * caller's write transaction (from cid_store_update), with the count of wrong
 * one-time codes kept under the account id (throttle.h): the claims, the
 * verified claims, the password hash and the TOTP secret, enrolled or
 * pending, are members of the record and go with it. The name is free at
 * once: cid_account_add makes it a new citizen, with a new id. id_out gets
 * the removed account id. What other modules hold of the citizen is theirs
 * to delete (account_delete.h deletes everything in one transaction).
 * Errors: CID_ERR_NOTFOUND (no such citizen, a malformed username),
 * CID_ERR_INVALID (a read transaction), CID_ERR_STORE (an index entry
 * without its record, or a record without a usable id).
 */
CID_MUST_CHECK enum cid_err cid_account_remove_txn(struct cid_txn *txn, const char *username,
						   char id_out[CID_ID_CHARS + 1]);

/*
 * The one rule of an active citizen: record's "disabled" member is exactly
 * false. A record without it, with any other value, or NULL is not active
 * (fail-closed). record: a stored or stripped citizen record, borrowed.
 * cid_account_from_record sets struct cid_account's active with it: other
 * modules read that member, and nothing else decides it.
 */
bool cid_account_active(const json_t *record);

/*
 * Generations. Each grant (token.h) and SSO session (session.h) records the
 * generation of its citizen when it was made; cid_account_set_disabled starts
 * a new one at each change of state. So revoking everything a citizen holds
 * costs one write, however many grants and sessions there are, and a grant
 * made before a disable stays dead after the enable. Records made before
 * generations existed count as generation 0.
 *
 * cid_account_generation: the current generation of an active citizen, for a
 * grant or session about to be made, into *out (written only on success).
 * cid_account_live: whether what was made for account_id in generation is
 * still usable: the citizen exists, is active, and has not changed state since.
 * Both read in txn (read or write). Thread-safe.
 * Errors: CID_ERR_NOTFOUND (no such citizen, or a malformed id),
 * CID_ERR_DISABLED (not active), CID_ERR_REVOKED (cid_account_live: a later
 * generation), CID_ERR_STORE (including a damaged "generation").
 */
CID_MUST_CHECK enum cid_err cid_account_generation(struct cid_txn *txn, const char *account_id,
						   int64_t *out);
CID_MUST_CHECK enum cid_err cid_account_live(struct cid_txn *txn, const char *account_id,
					     int64_t generation);

/*
 * The one rule of a new password (cid_account_add, cid_account_set_password
 * and the account's security page): CID_MIN_PASSWORD..CID_MAX_PASSWORD
 * bytes. NULL is not one.
 */
bool cid_account_password_ok(const char *password);

/*
 * Replaces the password at time now (the record's "updated_at").
 * Errors: CID_ERR_NOTFOUND, CID_ERR_INVALID, CID_ERR_CRYPTO, CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err cid_account_set_password(struct cid_store *s,
						     const struct cid_argon2_params *params,
						     const char *username, const char *password,
						     int64_t now);

/*
 * Authenticates username/password from client address addr (NULL or "": none,
 * as from the CLI) at time now. Costs one argon2id verification whether or
 * not the account exists (unknown accounts verify against a dummy hash), and
 * reads and writes the same counters for a known and an unknown name. On
 * success writes the account id to id_out and clears the counter of this
 * username from this address; on failure counts it there and for the address.
 * Errors: CID_ERR_DENIED (unknown user, wrong password, or disabled account:
 * deliberately the same error, so callers cannot reveal which),
 * CID_ERR_THROTTLED (*retry_after set to seconds to wait; no hash computed),
 * CID_ERR_INVALID (lengths), CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err
cid_account_authenticate(struct cid_store *s, const struct cid_argon2_params *params,
			 const char *username, const char *password, const char *addr, int64_t now,
			 char id_out[CID_ID_CHARS + 1], int64_t *retry_after);

/*
 * cid_account_authenticate of a citizen logging in from the browser whose
 * User-Agent is ua (NULL: unknown): the attempt on an existing account,
 * right or wrong, is also recorded in its recent logins (logins.h), in the
 * write transaction of the throttle's counters. A throttled attempt
 * verifies nothing and records nothing. Errors: as cid_account_authenticate.
 */
CID_MUST_CHECK enum cid_err cid_account_login(struct cid_store *s,
					      const struct cid_argon2_params *params,
					      const char *username, const char *password,
					      const char *addr, const char *ua, int64_t now,
					      char id_out[CID_ID_CHARS + 1], int64_t *retry_after);

/*
 * TOTP second factor (RFC 6238 as totp.h implements it: SHA-1, 6 digits, 30 s).
 *
 * The secret is stored in the citizen record in base32, not as a hash: it is a
 * shared secret, and the server needs it to compute codes. It is protected
 * like the rest of the store: the store directory is created 0700 and the LMDB
 * files 0600 (store.h), so only the civicid user reads it; backups of the
 * store carry it too. It never leaves this module through cid_account_get,
 * _find or _list.
 */

/*
 * Enrols username in TOTP at time now: makes a new random secret and stores it
 * with "enrolled_at": now and "last_step": 0. If the citizen is already
 * enrolled it fails with CID_ERR_EXISTS unless replace is true, in which case
 * the old secret stops working at once.
 * *secret_b32_out (CID_TOTP_SECRET_CHARS base32 characters) and *uri_out (the
 * otpauth:// URI for a QR code) are new strings holding the secret, written
 * only on success: show them to the citizen once, then wipe and free them.
 * Either out-parameter may be NULL when not wanted.
 * Errors: CID_ERR_NOTFOUND (no such citizen), CID_ERR_EXISTS, CID_ERR_CRYPTO,
 * CID_ERR_NOMEM, CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err cid_account_totp_enrol(struct cid_store *s, const char *username,
						   bool replace, int64_t now, char **secret_b32_out,
						   char **uri_out);

/*
 * Removes username's TOTP secret (and its count of wrong codes) at time now
 * (the record's "updated_at"): the citizen logs in with the password alone.
 * Errors: CID_ERR_NOTFOUND (no such citizen, or not enrolled), CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err cid_account_totp_disable(struct cid_store *s, const char *username,
						     int64_t now);

/*
 * Clears username's count of consecutive wrong one-time codes, which after
 * CID_CODE_MAX_FAILURES refuses the second factor (`civicid user totp NAME
 * --unlock`, once the operator knows who asks; enrolling a new secret clears
 * it too). Idempotent; the record's "updated_at" becomes now.
 * Errors: CID_ERR_NOTFOUND (no such citizen, or not enrolled), CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err cid_account_totp_unlock(struct cid_store *s, const char *username,
						    int64_t now);

/*
 * The number of consecutive wrong one-time codes of username into *out (0:
 * none since the last correct code or unlock; CID_CODE_MAX_FAILURES or more:
 * refused until unlocked). Errors: CID_ERR_NOTFOUND (no such citizen, or
 * not enrolled), CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err cid_account_totp_failures(struct cid_store *s, const char *username,
						      int64_t *out);

/*
 * Checks a TOTP code of account account_id, typed at time now from remote
 * address addr (NULL: none, as from the CLI). The code is verified and its
 * time step recorded as used in one write transaction, so a code is accepted
 * at most once, even by two concurrent requests, and no code of an earlier
 * step is accepted afterwards. A wrong or replayed code counts for the
 * account's run of wrong codes (never forgotten with time) and for the
 * address; a correct one ends the run.
 * Errors: CID_ERR_INVALID (code is not exactly CID_TOTP_DIGITS ASCII digits,
 * addr too long, now < 0: refused before the store is read, not counted),
 * CID_ERR_NOTFOUND (no such account, or not enrolled), CID_ERR_LOCKED (the
 * run reached CID_CODE_MAX_FAILURES: refused, even the right code, until
 * cid_account_totp_unlock; nothing verified), CID_ERR_THROTTLED
 * (*retry_after, if not NULL, set to the seconds to wait; nothing verified),
 * CID_ERR_DENIED (wrong, expired or already used code, or a disabled account),
 * CID_ERR_STORE (including a damaged stored secret), CID_ERR_CRYPTO.
 */
CID_MUST_CHECK enum cid_err cid_account_totp_check(struct cid_store *s, const char *account_id,
						   const char *code, const char *addr, int64_t now,
						   int64_t *retry_after);

/*
 * The citizen's own enrolment (the account's security page,
 * account_totp_enrol.c): a new secret is pending until a code of it is
 * typed back, at most CID_TOTP_PENDING_TTL seconds.
 *
 * cid_account_totp_begin: makes a new pending secret for account_id at now
 * (replacing one pending before, whichever session began it), begun by
 * the session sid (session.h): the one session that is shown it and may
 * confirm it; *secret_b32_out and *uri_out as of cid_account_totp_enrol
 * (each may be NULL). The citizen logs in as before until it is confirmed.
 * Errors: CID_ERR_INVALID (sid not a token), CID_ERR_NOTFOUND (no such
 * citizen), CID_ERR_EXISTS (already enrolled: remove the factor first),
 * CID_ERR_CRYPTO, CID_ERR_NOMEM, CID_ERR_STORE.
 *
 * cid_account_totp_pending: the pending secret and its URI again (the page
 * shows them to the session sid that began it until confirmed), new
 * strings as above, both required. Errors: CID_ERR_INVALID (sid not a
 * token), CID_ERR_NOTFOUND (no such citizen, nothing pending, pending for
 * too long, or begun by another session: to sid it is as if nothing were
 * pending), CID_ERR_STORE, CID_ERR_NOMEM.
 *
 * cid_account_totp_confirm: a code of the secret pending for the session
 * sid at now makes it the citizen's TOTP secret (its step used, the count
 * of wrong codes cleared). A wrong one changes nothing and is not counted:
 * only the session that began it sees the pending secret, so a guess gains
 * nothing. Errors: CID_ERR_INVALID (sid not a token, code not
 * CID_TOTP_DIGITS digits, now < 0), CID_ERR_DENIED (wrong code),
 * CID_ERR_NOTFOUND (as cid_account_totp_pending: a right code typed in
 * another session is refused so), CID_ERR_EXISTS (enrolled meanwhile),
 * CID_ERR_STORE, CID_ERR_CRYPTO, CID_ERR_NOMEM.
 *
 * cid_account_totp_remove: a fresh code of the secret in force, checked
 * and counted as cid_account_totp_check does from addr, then the factor
 * is removed (cid_account_totp_disable). Errors: those of
 * cid_account_totp_check (CID_ERR_DENIED: wrong code, nothing removed;
 * CID_ERR_NOTFOUND: not enrolled), CID_ERR_STORE.
 */
#define CID_TOTP_PENDING_TTL 600
CID_MUST_CHECK enum cid_err cid_account_totp_begin(struct cid_store *s, const char *account_id,
						   const char *sid, int64_t now,
						   char **secret_b32_out, char **uri_out);
CID_MUST_CHECK enum cid_err cid_account_totp_pending(struct cid_store *s, const char *account_id,
						     const char *sid, int64_t now,
						     char **secret_b32_out, char **uri_out);
CID_MUST_CHECK enum cid_err cid_account_totp_confirm(struct cid_store *s, const char *account_id,
						     const char *sid, const char *code,
						     int64_t now);
CID_MUST_CHECK enum cid_err cid_account_totp_remove(struct cid_store *s, const char *account_id,
						    const char *code, const char *addr, int64_t now,
						    int64_t *retry_after);

/*
 * True if record (a stored or a stripped citizen record, borrowed) is enrolled
 * in TOTP: the step-up to level 2 is possible for this citizen. Other modules
 * read struct cid_account's has_totp, set with it.
 */
bool cid_account_has_totp(const json_t *record);

#endif
