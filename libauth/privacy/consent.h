/*
 * consent: the citizen's per-attribute decisions, one record per change.
 *
 * A consent record says, for one (citizen, service, purpose, attribute), that
 * the citizen granted, refused or withdrew it (or that it expired), when, how
 * (which screen or command, which request), under which policy version and
 * purpose digest (policy.h), and until when. Records are append-only: a change
 * is a new record; history is never updated or deleted.
 *
 * Store layout (CID_DB_CONSENTS): key
 *   account_id "\n" service "\n" purpose "\n" attribute "\n" seq
 * where seq is 16 lowercase hex digits of a per-store counter (META
 * "consent_seq"), so the keys of one attribute sort oldest to newest and the
 * current decision is the last. Value: the record as JSON
 *   {"id" (UUID), "seq", "account_id", "service", "purpose", "attribute",
 *    "state": "granted"|"refused"|"withdrawn"|"expired", "at",
 *    "expires_at" (0: none), "how": {"method", "request_id"?, "request_purpose"?},
 *    "policy_version", "purpose_digest"}
 * A granted record past expires_at reads as CID_CONSENT_EXPIRED
 * (cid_consent_state_at, the one rule of expiry). Other modules read a record
 * through struct cid_consent_record (cid_consent_record_read), never by
 * member name. Thread-safe.
 *
 * consent sits below policy: the evaluator (policy.h) reads the facts and
 * states declared here, and a rule that needs the loaded policies (a paper
 * grant) lives above both, in consent_paper.h.
 */
#ifndef CID_CONSENT_H
#define CID_CONSENT_H

#include "bounds.h"
#include "err.h"
#include "store.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Bytes of a service, purpose or attribute name (and of policy_version,
 * purpose_digest and request_id): 1..CID_CONSENT_MAX_NAME of UTF-8,
 * no '\n' (the key separator). account_id is a UUID (CID_ID_CHARS). An
 * attribute is a base claim name of account.h's table, without a "#lang" tag:
 * a decision on family_name covers its language-tagged forms.
 */

/* The state of the citizen's latest consent record for one attribute. */
enum cid_consent_state {
	CID_CONSENT_GRANTED,
	CID_CONSENT_REFUSED,
	CID_CONSENT_WITHDRAWN,
	CID_CONSENT_EXPIRED,
};

/*
 * What the evaluator (policy.h) needs to know of one consent record (the
 * latest for its (citizen, service, purpose, attribute)); strings borrowed
 * for the call.
 */
struct cid_consent_fact {
	const char *attribute;
	enum cid_consent_state state;
	int64_t expires_at;	    /* 0: no expiry recorded */
	const char *purpose_digest; /* of the purpose the consent was given under */
	const char *record_id;
};

/*
 * The one rule of consent expiry: a grant whose expires_at is set (not 0)
 * has expired from that second on (now >= expires_at) and reads as
 * CID_CONSENT_EXPIRED; any other state, and a grant without expiry, reads as
 * recorded. Every reader of a state asks this: the record readers below,
 * the evaluator, the citizen's account page and the CLI. Thread-safe.
 */
enum cid_consent_state cid_consent_state_at(enum cid_consent_state recorded, int64_t expires_at,
					    int64_t now);

/*
 * A consent record as other modules read it: a view of a record as stored
 * (cid_consent_history, _latest, _get), filled by cid_consent_record_read.
 * Its strings are borrowed from that record and live as long as it does; a
 * member read elsewhere is a member of this struct, so a misspelt one does
 * not compile.
 */
struct cid_consent_record {
	const char *id;		      /* the record's UUID */
	int64_t seq;		      /* its place among all records (0 when absent) */
	const char *account_id;	      /* the citizen */
	const char *service;	      /* client_id */
	const char *purpose;	      /* the purpose's id in the service's policy */
	const char *attribute;	      /* a base claim name */
	enum cid_consent_state state; /* as recorded: cid_consent_state_at says it at a time */
	int64_t at;		      /* when it was recorded (0 when absent) */
	int64_t expires_at;	      /* 0: none */
	const char *method;	      /* how.method, the stored name (cid_consent_method_parse);
					 NULL when absent */
	const char *request_id;	      /* how.request_id; NULL when none */
	const char *request_purpose;  /* how.request_purpose: the purpose the service
					 stated in its request; NULL when none */
	const char *policy_version;   /* of the policy it was decided under */
	const char *purpose_digest;   /* of the purpose it was decided under */
};

/*
 * Reads rec (a record as stored, borrowed) into *out, written only on
 * success. Every record the readers below hand out reads.
 * Errors: CID_ERR_STORE (not an object; id, account_id, service, purpose,
 * attribute, policy_version or purpose_digest not a string; state not a
 * state's name; expires_at not an integer).
 */
CID_MUST_CHECK enum cid_err cid_consent_record_read(const json_t *rec,
						    struct cid_consent_record *out);

/*
 * Parses a stored value val (borrowed) into *out (owned by the caller, who
 * json_decrefs it), only if it reads as a record (cid_consent_record_read).
 * Errors: CID_ERR_STORE (anything else: the store is damaged).
 */
CID_MUST_CHECK enum cid_err cid_consent_record_parse(struct cid_str val, json_t **out);

/* True if rec is a grant that has expired at now (cid_consent_state_at). */
bool cid_consent_record_expired(const struct cid_consent_record *rec, int64_t now);

/*
 * True if rec, a record as stored (cid_consent_history, _latest, _get), is a
 * grant that has expired at now (cid_consent_record_expired); false for any
 * other record, and for anything that is not a record. Thread-safe.
 */
bool cid_consent_expired(const json_t *rec, int64_t now);

/*
 * The expires_at of a grant given at now that lasts valid_days days (a
 * purpose's consent_valid, policy.h): 0 (no expiry) when valid_days <= 0;
 * INT64_MAX rather than an overflow.
 */
int64_t cid_consent_expiry(int64_t valid_days, int64_t now);

/*
 * How a decision reached the store: which screen or command recorded it. A
 * record stores the method's name in how.method ("web:consent-screen", ...:
 * the names of stores written before the enum, so they stay readable), and
 * its audit entry names the actor and endpoint that the method implies, all
 * from one table in consent.c. 0 is no method (refused), so a context left
 * zeroed cannot record a decision by accident.
 */
enum cid_consent_method {
	CID_CONSENT_METHOD_NONE,
	CID_CONSENT_METHOD_SCREEN,	 /* "web:consent-screen": the citizen, consent screen */
	CID_CONSENT_METHOD_CLI_WITHDRAW, /* "cli:withdraw": an operator, for the citizen */
	CID_CONSENT_METHOD_CLI_PAPER,	 /* "cli:paper": an operator, from a signed form */
	CID_CONSENT_METHOD_ACCOUNT,	 /* "web:account": the citizen, their account page */
	CID_CONSENT_METHOD_COUNT
};

/* The stored name of a method ("web:consent-screen", ...), or NULL for NONE or no method. */
const char *cid_consent_method_name(enum cid_consent_method method);

/*
 * The method of a stored name. Errors: CID_ERR_INVALID (NULL, or a name no
 * method has: records written by other tools keep theirs, but have no enum).
 */
CID_MUST_CHECK enum cid_err cid_consent_method_parse(const char *name,
						     enum cid_consent_method *out);

/* One decision to record (strings borrowed). */
struct cid_consent_change {
	const char *attribute;
	enum cid_consent_state state; /* GRANTED, REFUSED or WITHDRAWN */
	int64_t expires_at;	      /* 0: none (only meaningful for GRANTED) */
};

/* What every change of one call shares (strings borrowed). */
struct cid_consent_context {
	const char *account_id;
	const char *service;
	const char *purpose;
	const char *policy_version;
	const char *purpose_digest;
	enum cid_consent_method method;
	/* how.request_id of the records (the authorization request, say); NULL: the
	 * call's own, so that each call is one decision, with a receipt of its own */
	const char *request_id;
	/* the purpose the service stated in its request (cid_consent_request_purpose_ok);
	 * may be NULL */
	const char *request_purpose;
	int64_t now;
};

/*
 * Appends one record per change, all in one durable write transaction (all or
 * none). ids_out (may be NULL) receives n new record ids, each a malloc'ed
 * string the caller frees.
 * Errors: CID_ERR_INVALID (empty or over-long names, a name with '\n', no
 * method (CID_CONSENT_METHOD_NONE or out of range), state
 * EXPIRED, n == 0; also an unknown or tagged attribute, one attribute twice in
 * one call, a negative expires_at or a grant's expires_at not after ctx->now),
 * CID_ERR_STORE, CID_ERR_NOMEM, CID_ERR_CRYPTO. expires_at of a REFUSED or
 * WITHDRAWN change is recorded as 0. Nothing is written on any error.
 * An attribute's latest record that does not read (a damaged store) is
 * superseded as any other: the change is recorded and is the current
 * decision from then on; the damaged record is kept as it is (its due key,
 * if any, is the sweeper's to count and remove: consent_sweep.h).
 */
CID_MUST_CHECK enum cid_err cid_consent_record(struct cid_store *s,
					       const struct cid_consent_context *ctx,
					       const struct cid_consent_change *changes, size_t n,
					       char **ids_out);

/* Why cid_consent_withdraw refused: the first attribute without a grant in force. */
struct cid_consent_fault {
	const char *attribute;	      /* borrowed from the caller's attributes */
	bool decided;		      /* false: no record at all (never granted) */
	enum cid_consent_state state; /* when decided: its state at ctx->now (REFUSED,
					 WITHDRAWN or EXPIRED) */
};

/*
 * Withdraws the citizen's grants of attributes[0..n) for (ctx->service,
 * ctx->purpose): appends one WITHDRAWN record per attribute, each under the
 * policy_version and purpose_digest of the grant it withdraws (those of ctx
 * are ignored and may be NULL), all in one write transaction, so the check
 * and the withdrawal see the same state. ids_out as for cid_consent_record.
 * Errors: CID_ERR_NOTFOUND (an attribute has no grant in force at ctx->now:
 * none, refused, withdrawn or expired; nothing is written; *fault, if fault
 * is not NULL, names the first such attribute and why: the one out-parameter
 * written on an error, and only on this one), CID_ERR_STORE (also when an
 * attribute's latest record does not read: which grant it would withdraw,
 * under which versions, is unknown; nothing is written), those of
 * cid_consent_record.
 */
CID_MUST_CHECK enum cid_err cid_consent_withdraw(struct cid_store *s,
						 const struct cid_consent_context *ctx,
						 const char *const *attributes, size_t n,
						 char **ids_out, struct cid_consent_fault *fault);

/*
 * Withdraws every grant of account_id in force at now, of every service and
 * purpose, inside the caller's write transaction (the citizen's account is
 * deleted: account_delete.h), as cid_consent_withdraw would for each
 * (service, purpose) with method: one WITHDRAWN record per attribute, under
 * the versions of the grant it ends, and its consent.withdrawn entries. So
 * nothing of the citizen stays in force, and each purpose's retention
 * (retention.h) runs from now. *n_out (may be NULL): the records appended
 * (0 is no error). Errors: CID_ERR_INVALID (account_id not a UUID, no
 * method, now < 0, something to withdraw in a read transaction),
 * CID_ERR_STORE (a damaged record),
 * CID_ERR_CRYPTO, CID_ERR_NOMEM, those of cid_audit_append_txn.
 */
CID_MUST_CHECK enum cid_err cid_consent_withdraw_account_txn(struct cid_txn *txn,
							     const char *account_id,
							     enum cid_consent_method method,
							     int64_t now, size_t *n_out);

/*
 * The current decision of every attribute the citizen decided for (service,
 * purpose), as evaluator facts. *facts_out (free with cid_consent_facts_free)
 * holds *n_out facts whose strings live as long as it does; expired grants are
 * reported as CID_CONSENT_EXPIRED (as of now). Names that no record can have
 * (see CID_CONSENT_MAX_NAME) give no facts, not an error. n may be 0, and then
 * cid_consent_facts_get returns NULL.
 * Errors: CID_ERR_STORE, CID_ERR_NOMEM.
 */
struct cid_consent_facts;
CID_MUST_CHECK enum cid_err cid_consent_current(struct cid_txn *txn, const char *account_id,
						const char *service, const char *purpose,
						int64_t now, struct cid_consent_facts **facts_out);
const struct cid_consent_fact *cid_consent_facts_get(const struct cid_consent_facts *f, size_t *n);
void cid_consent_facts_free(struct cid_consent_facts *f);

/*
 * The latest record of one (citizen, service, purpose, attribute) as stored
 * (a grant past its expires_at still says "granted"), read in txn (read or
 * write). *out: new reference.
 * Errors: CID_ERR_NOTFOUND (no record, or a name no record can have),
 * CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_consent_latest(struct cid_txn *txn, const char *account_id,
					       const char *service, const char *purpose,
					       const char *attribute, json_t **out);

/*
 * Every record of a citizen (service may be NULL: all services), oldest first
 * per attribute, as a JSON array of records (as stored: compare a grant's
 * expires_at yourself). *out: new reference; empty for names no record can have.
 * Errors: CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_consent_history(struct cid_store *s, const char *account_id,
						const char *service, json_t **out);

/*
 * One record by id (receipts, the console, audit explain), through
 * CID_DB_CONSENT_IDS: O(log n), reading no other record. *out: new reference.
 * Errors: CID_ERR_NOTFOUND (no such id, or not a UUID), CID_ERR_STORE (a
 * damaged record, or an id key whose record is missing or has another id).
 */
CID_MUST_CHECK enum cid_err cid_consent_get(struct cid_store *s, const char *id, json_t **out);

/*
 * Deletes the record stored under key (a retention purge, retention.h), its
 * id's key and its due key (if any), in the caller's write transaction. A record that does not
 * parse is deleted all the same.
 * Errors: CID_ERR_NOTFOUND (no record under key), CID_ERR_INVALID (a read
 * transaction), CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err cid_consent_del(struct cid_txn *txn, struct cid_str key);

/*
 * Makes CID_DB_CONSENT_IDS hold exactly one key per consent record: checks,
 * in O(1), that it holds as many keys as there are records (true once it was
 * built, since every record is written and deleted with its key), and if not
 * rebuilds it from every record in one write transaction (a store written
 * before the index existed, or one an older build wrote records in).
 * cid_ctx_open runs it. *built (may be NULL) receives how many keys it wrote
 * (0: the index was whole).
 * Errors: CID_ERR_STORE (a damaged record, or two records of one id; nothing
 * is written then), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_consent_index_ensure(struct cid_store *s, size_t *built);

/*
 * The due index of the consent sweeper (consent_sweep.h), CID_DB_CONSENT_DUE:
 * key expires_at (16 lowercase hex digits) "\n" record id, value the
 * record's key in CID_DB_CONSENTS, for every grant with an expiry. It is
 * written in the transaction that writes the grant and deleted in the one
 * that deletes it (cid_consent_del); the sweeper removes a key once it has
 * handled it. Fixed-width hex sorts as the number, so the grants due at a
 * time are the first keys.
 *
 * META CID_CONSENT_DUE_MARK {"seq"} is the consent_seq up to which the index
 * holds every grant: a write here advances it with consent_seq when it was
 * current, so a store written before the index existed, or since by a build
 * without it, is told in O(1) (cid_consent_due_ensure builds it then).
 */
#define CID_CONSENT_DUE_KEY  (16 + 1 + CID_ID_CHARS)
#define CID_CONSENT_DUE_MARK "consent_due"
#define CID_CONSENT_SEQ	     "consent_seq" /* META: {"seq": the last number given out} */

/*
 * Writes the due key of the grant id that expires at expires_at to out;
 * false (out unspecified) if expires_at is not positive or id is not a UUID.
 */
bool cid_consent_due_key(int64_t expires_at, const char *id, char out[CID_CONSENT_DUE_KEY + 1]);

/* True if name may be the service or purpose of a record (see CID_CONSENT_MAX_NAME). */
bool cid_consent_name_ok(const char *name);

/*
 * True if text may be the purpose a service states in its authorization
 * request (the `purpose` parameter of OpenID Connect for Identity Assurance
 * 1.0 §8), shown to the citizen on the consent screen and kept in the
 * records: CID_PURPOSE_MIN_CHARS..CID_PURPOSE_MAX_CHARS characters of
 * UTF-8, none of them a control character (one line of text). False for NULL.
 */
bool cid_consent_request_purpose_ok(const char *text);

/* True if attribute may be the attribute of a record (see CID_CONSENT_MAX_NAME). */
bool cid_consent_attribute_ok(const char *attribute);

/* The record's name of a state ("granted", ...), or "unknown". Static. */
const char *cid_consent_state_name(enum cid_consent_state state);

/* The state of a record's name. Errors: CID_ERR_INVALID (NULL or no such state). */
CID_MUST_CHECK enum cid_err cid_consent_state_parse(const char *name, enum cid_consent_state *out);

#endif
