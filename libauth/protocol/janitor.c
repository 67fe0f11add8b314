/*
 * janitor: the owners' sweeps in one table (janitor.h). The order matters
 * only for the grants: they go after the codes and refresh tokens, whose
 * own rules free them first.
 */
#include "janitor.h"

#include "officer.h"
#include "oidc.h"
#include "session.h"
#include "throttle.h"
#include "token.h"

static const struct part {
	const char *name;
	enum cid_err (*sweep)(struct cid_store *s, int64_t now, size_t *removed);
} parts[CID_JANITOR_PARTS] = {
    [CID_JANITOR_CODES] = {"codes", cid_code_sweep},
    [CID_JANITOR_REFRESH] = {"refresh", cid_refresh_sweep},
    [CID_JANITOR_REVOKED] = {"revoked", cid_access_revoked_sweep},
    [CID_JANITOR_AUTHREQS] = {"authreqs", cid_oidc_pending_sweep},
    [CID_JANITOR_SESSIONS] = {"sessions", cid_session_sweep},
    [CID_JANITOR_OFFICER_SESSIONS] = {"officer_sessions", cid_officer_session_sweep},
    [CID_JANITOR_THROTTLE] = {"throttle", cid_throttle_sweep},
    [CID_JANITOR_GRANTS] = {"grants", cid_grant_sweep},
};

const char *cid_janitor_name(enum cid_janitor_part part)
{
	return (unsigned)part < CID_JANITOR_PARTS ? parts[part].name : "";
}

enum cid_err cid_janitor_run(struct cid_store *s, int64_t now, struct cid_janitor_counts *out)
{
	/* first, so that the pages a dead reader pinned can take the sweeps' writes */
	enum cid_err first = cid_store_reader_check(s, NULL);
	struct cid_janitor_counts counts = {{0}};

	for (size_t i = 0; i < CID_JANITOR_PARTS; i++) {
		/* a failed sweep's count is what its committed batches deleted */
		enum cid_err rc = parts[i].sweep(s, now, &counts.removed[i]);

		if (first == CID_OK)
			first = rc;
	}
	if (out != NULL)
		*out = counts;
	return first;
}
