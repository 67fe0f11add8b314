/*
 * release: the single point where a citizen's attributes are chosen for a
 * service.
 *
 * Every personal attribute that leaves civicid (ID-token claims, userinfo)
 * is selected here and nowhere else. Today the rule is the OIDC scope rule
 * (Core §5.4: profile, email, address, phone, plus civicid's "city" scope) and
 * the `claims` request parameter (Core §5.5) may only narrow or name claims of
 * scopes the client is allowed; the consent issue replaces the body of
 * cid_release_claims with the policy evaluator, keeping this signature.
 */
#ifndef CID_RELEASE_H
#define CID_RELEASE_H

#include "client.h"
#include "err.h"

#include <jansson.h>

enum cid_release_target {
	CID_RELEASE_ID_TOKEN,
	CID_RELEASE_USERINFO,
};

/*
 * Adds to out (a JSON object, borrowed) the claims of citizen (the record of
 * cid_account_get, borrowed, not modified) that client may receive for the granted scope and
 * the optional claims request (the parsed `claims` parameter, or NULL), for the
 * given target. A claim the citizen does not have is absent, never null.
 * Language-tagged variants (family_name#ja-Kana-JP) go with their base claim.
 * Errors: CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_release_claims(const struct cid_client *client, json_t *citizen,
					       const char *scope, const json_t *claims_request,
					       enum cid_release_target target, json_t *out);

#endif
