/*
 * Test support shared by the unit tests: fresh store directories on disk
 * (real LMDB, never an in-memory stand-in) and cheap argon2 parameters.
 */
#ifndef CID_TEST_SUPPORT_H
#define CID_TEST_SUPPORT_H

#include "cid.h"
#include "config.h"
#include "crypto.h"
#include "jose.h"
#include "reply.h"
#include "store.h"

/* Cheap argon2id parameters so unit tests stay fast; production uses bounds.h. */
extern const struct cid_argon2_params cid_test_argon2;

/*
 * Makes a new empty directory under $CID_TEST_TMP (or /tmp) and writes its
 * path to dir[256]. Aborts the test on failure.
 */
void cid_test_tmpdir(char dir[256]);

/* Removes a directory made by cid_test_tmpdir and everything in it. */
void cid_test_rmdir(const char *dir);

/* Opens a fresh store in a new temporary directory; dir[256] receives its path. */
struct cid_store *cid_test_store_open(char dir[256]);

/* Closes the store and removes its directory. */
void cid_test_store_close(struct cid_store *s, const char *dir);

/*
 * Gives s the signing keys (copies of those made once per test process, as
 * made at now, when s has none) and loads them (free with cid_keyset_free).
 */
struct cid_keyset *cid_test_keyset(struct cid_store *s, int64_t now);

/*
 * The cmocka fixture of a test that needs only a fresh store:
 * cmocka_unit_test_setup_teardown(test, cid_test_store_setup, cid_test_store_teardown)
 * puts a struct cid_test_store in *state.
 */
struct cid_test_store {
	char dir[256];
	struct cid_store *s;
};

int cid_test_store_setup(void **state);
int cid_test_store_teardown(void **state);

/*
 * The fixture of a test of what writes the audit log: a fresh store whose
 * log's issuer is https://id.example, and its log open with group commit.
 * cmocka_unit_test_setup_teardown(test, cid_test_audit_setup, cid_test_audit_teardown)
 * puts a struct cid_test_audit in *state; a fixture that holds more opens one
 * with cid_test_audit_open and ends it with cid_test_audit_close. Aborts the
 * test on failure.
 */
struct cid_test_audit {
	char dir[256];
	struct cid_store *s;
	struct cid_audit *log;
};

void cid_test_audit_open(struct cid_test_audit *a);
void cid_test_audit_close(struct cid_test_audit *a);
int cid_test_audit_setup(void **state);
int cid_test_audit_teardown(void **state);

/*
 * A new config for a test context: its store in a new temporary directory
 * (path in dir[256]), holding copies of the signing keys made once per test
 * process (created_at 0), and cheap argon2id. Aborts the test on failure; end
 * it with cid_test_ctx_close.
 */
struct cid_config *cid_test_config(char dir[256]);

/*
 * cid_test_config, but the store has no signing keys yet (cid_test_config
 * gives it copies of keys made once per test process): for a test of what a
 * first start makes, and for one whose store gets another set of keys
 * (cid_test_store_keys: two stores whose keys differ, a token of one refused
 * by the other's signature check).
 */
struct cid_config *cid_test_config_keyless(char dir[256]);

/* How many sets of signing keys, no two sharing a key, cid_test_store_keys gives. */
#define CID_TEST_KEY_SETS 2

/*
 * Gives the store in store_dir (made there when missing; opened and closed
 * here), when it has no signing key yet, copies of the keys of set (below
 * CID_TEST_KEY_SETS; each made once per test process) as cid_keys_ensure
 * would have made them at 0: a context opened on it then finds its keys
 * and makes none. Set 0 is the one cid_test_config and cid_test_keyset
 * give; stores given different sets refuse each other's signatures.
 */
void cid_test_store_keys(const char *store_dir, unsigned set);

/*
 * cid_test_store_keys for the store of tenant name of base (tenant.h:
 * added, not yet opened), so that its first open makes no keys.
 */
void cid_test_tenant_keys(const struct cid_config *base, const char *name, unsigned set);

/* Sets key of cfg to value; fails the test when cfg refuses it. */
void cid_test_set(struct cid_config *cfg, const char *key, const char *value);

/* Ends a test context: closes ctx (may be NULL), frees cfg, removes dir. */
void cid_test_ctx_close(struct cid_ctx *ctx, struct cid_config *cfg, const char *dir);

/*
 * The release policy of service "svc" (purpose "fees", consent, one year;
 * permits given_name, family_name, email) that the page and receipt tests share.
 */
extern const char cid_test_svc_policy[];

/* Registers the confidential client "svc" (of cid_test_svc_policy) in ctx's store at now. */
void cid_test_add_svc_client(struct cid_ctx *ctx, int64_t now);

/* Writes text to the file path (made or emptied); aborts the test when it cannot. */
void cid_test_write_file(const char *path, const char *text);

/*
 * Makes the directory DIR/policies, writes text to DIR/policies/NAME when name
 * is not NULL (e.g. "rp1.policy"), and sets cfg's "policies" to it, so that
 * cid_ctx_open finds the release policies of the test (none: every release
 * is denied).
 */
void cid_test_policies(struct cid_config *cfg, const char *dir, const char *name, const char *text);

/*
 * Sets member name of the stored record of citizen account_id to value
 * (stolen; NULL removes the member) behind account.h's back, as a damaged
 * or old record, or an operator editing the store, would leave it.
 */
void cid_test_citizen_edit(struct cid_store *s, const char *account_id, const char *name,
			   json_t *value);

/*
 * The pseudonym the audit log gives account in its (service, purpose) scope
 * (pseudonym.h; NULL for none), as a new string, or NULL when it has none.
 */
char *cid_test_pseudonym(struct cid_store *s, const char *account, const char *service,
			 const char *purpose);

/*
 * Asserts that entry e names account: its "citizen" is the pseudonym of
 * account in the entry's own (service, purpose) scope.
 */
void cid_test_assert_citizen(struct cid_store *s, const json_t *e, const char *account);

/*
 * Asserts that index holds exactly the keys the records of data should give
 * it, against a full scan: expect_fn(key, val, want) is called for each
 * record of data and sets in the JSON object want each index key that
 * record should have (member name, bytes as they are) to its value (a JSON
 * string, "" for an empty value); then each key of index must be in want,
 * once, with that value, and none may be left over. Returns the number of
 * records of data.
 */
size_t cid_test_assert_index_exact(struct cid_store *s, enum cid_db data, enum cid_db index,
				   enum cid_err (*expect_fn)(struct cid_str key, struct cid_str val,
							     void *want));

/*
 * Writes db behind its module's back, as an older build or damage would
 * leave it: key -> val; val NULL deletes key (which must exist); key NULL
 * empties db. Aborts the test on failure.
 */
void cid_test_raw_write(struct cid_store *s, enum cid_db db, const char *key, const char *val);

/*
 * Starts a password session of account at now that lives CID_TEST_SESSION_TTL
 * seconds, and writes its sid into sid: what a code issued "as the
 * authorization endpoint issues it" names (a refresh token without
 * offline_access lives only as long as its session). Aborts on failure.
 */
#define CID_TEST_SESSION_TTL (10LL * 366 * 86400)
void cid_test_session_sid(struct cid_store *s, const char *account, int64_t now,
			  char sid[CID_TOKEN_CHARS + 1]);

/* The number of records in db. Aborts the test on failure. */
uint64_t cid_test_count(struct cid_store *s, enum cid_db db);

/* How a test signs a POST to an account page (cid_session_form_token). */
enum cid_test_sign {
	CID_TEST_SIGNED,	 /* the token of the session and the CSRF cookie */
	CID_TEST_UNSIGNED,	 /* no token */
	CID_TEST_OTHER_SESSION,	 /* the token of another session */
	CID_TEST_NO_CSRF_COOKIE, /* signed, but the browser sends no CSRF cookie */
	CID_TEST_NO_SESSION,	 /* no session cookie, and so no token */
};

/*
 * Makes *req a form POST from 127.0.0.1 at now by the browser with session
 * cookie and CSRF cookie csrf, of form (fields without "csrf"), signed as
 * sign says (other: the cookie of another session, for
 * CID_TEST_OTHER_SESSION). Clear it with cid_request_clear. Aborts the test
 * on failure.
 */
void cid_test_signed_post(struct cid_request *req, const char *cookie, const char *other,
			  const char *csrf, enum cid_test_sign sign, const char *form, int64_t now);

#endif
