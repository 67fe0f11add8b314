/*
 * release: the one place that selects a citizen's attributes for a service.
 *
 * Rule until the policy evaluator lands: a claim is released when its scope
 * (account.c's claim table) was granted, or when the `claims` request names it
 * for this target and the client is allowed that claim's scope. Nothing else
 * leaves: unknown stored members are never copied.
 */
#include "release.h"

#include "account.h"

#include <string.h>

/* True if the claims request names base (or a tagged form of it) for target. */
static bool requested(const json_t *claims_request, enum cid_release_target target,
		      const char *name)
{
	const json_t *part;

	if (claims_request == NULL)
		return false;
	part = json_object_get(claims_request,
			       target == CID_RELEASE_ID_TOKEN ? "id_token" : "userinfo");
	return json_is_object(part) && json_object_get(part, name) != NULL;
}

enum cid_err cid_release_claims(const struct cid_client *client, json_t *citizen, const char *scope,
				const json_t *claims_request, enum cid_release_target target,
				json_t *out)
{
	json_t *claims = json_object_get(citizen, "claims");
	const char *name;
	json_t *value;

	if (!json_is_object(claims))
		return CID_OK;
	json_object_foreach(claims, name, value)
	{
		const struct cid_claim_def *def = cid_claim_lookup(name);
		bool by_scope;
		bool by_request;

		if (def == NULL || json_is_null(value))
			continue;
		by_scope = cid_words_has(scope, def->scope, strlen(def->scope));
		by_request = requested(claims_request, target, name) &&
			     cid_words_has(client->scopes, def->scope, strlen(def->scope));
		if (!by_scope && !by_request)
			continue;
		if (json_object_set(out, name, value) != 0)
			return CID_ERR_NOMEM;
	}
	return CID_OK;
}
