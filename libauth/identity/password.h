/*
 * password: a stored password hash follows the configured argon2id settings,
 * one rule for citizens and officers.
 *
 * A hash keeps the cost it was made with. Were it left so, raising the
 * settings would protect only passwords set afterwards, and a login for an
 * old account would cost less than one for an unknown name (whose hash,
 * cid_password_burn, costs the settings), so its time would tell that the
 * name exists. So a good login whose hash was made otherwise rehashes the
 * password with the settings and stores that (as Django and Keycloak do).
 *
 * Only once the login has been answered as a success: the rehash is one more
 * argon2id hash, and computed before the outcome was settled its time would
 * tell a right password where the answer does not (a citizen's attempt
 * refused as throttled after its hash, an officer's right password with a
 * wrong code). It is stored in a write transaction of its own, one per
 * account and change of settings, and only over the hash that was verified.
 */
#ifndef CID_PASSWORD_H
#define CID_PASSWORD_H

#include "crypto.h"
#include "store.h"
#include "str.h"

#include <stdbool.h>
#include <stddef.h>

/*
 * After pw was verified against the hash verified, the string member
 * "password" of the record under key in db: when verified is not as
 * cid_password_hash with params would make it now (cid_password_upgrade),
 * stores pw hashed with params in its place, unless the record is gone or
 * holds another hash by then. Returns true when it stored one. A
 * failure is not an error of the login, which stands: the old hash still
 * verifies, and the next good login tries again, so it is not reported.
 * Costs a cid_password_hash and a durable commit when it stores, nothing
 * else. Thread-safe.
 */
bool cid_password_rehash(struct cid_store *s, const struct cid_argon2_params *params,
			 enum cid_db db, struct cid_str key, const char *verified, const char *pw,
			 size_t n);

#endif
