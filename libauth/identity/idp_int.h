/*
 * idp_int: what idp.c (the registry), idp_buttons.c (the login page's
 * buttons and the upstreams' names) and idp_verified.c (what the
 * registrations announce) share. Not part of the API.
 */
#ifndef CID_IDP_INT_H
#define CID_IDP_INT_H

#include "idp.h"

/*
 * Calls fn(view, arg) for each registration in name order, view its public
 * view (idp.h: the record without "client_secret"), in one read
 * transaction of this thread's (fn must not begin another, nor write).
 * view is shared and immutable: fn reads it, and may keep it with a
 * reference of its own (json_incref), never change it. A view is made once
 * per record's bytes and kept in the store's memo of CID_DB_IDPS (memo.h)
 * under the registration's name and the SHA-256 of its bytes, never the
 * bytes, which hold the secret: a record changed by anyone (this process,
 * or `civicid idp` on the running server's store) has another digest and
 * is read anew, and a removed one is never walked. Stops at fn's first
 * error and returns it.
 * Errors: fn's, CID_ERR_STORE (also a damaged record), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err idp_foreach_public(struct cid_store *s,
					       enum cid_err (*fn)(const json_t *view, void *arg),
					       void *arg);

/* True if s is 1 to max bytes of printable ASCII (space allowed only with spaces). */
bool idp_printable(const char *s, size_t max, bool spaces);

#endif
