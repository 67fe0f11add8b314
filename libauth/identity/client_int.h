/*
 * client_int: what client.c (the registry), client_logout.c (the logout
 * URIs of a registration) and client_uri.c (the URI rules, below both)
 * share. Not part of the API.
 */
#ifndef CID_CLIENT_INT_H
#define CID_CLIENT_INT_H

#include "client.h"

/*
 * The logout URI of one channel ("backchannel" or "frontchannel"; uri may be
 * NULL: none), checked like a redirect URI and for a plain origin, and added
 * to rec, the record being registered, as "<channel>_logout_uri" and
 * "<channel>_logout_session_required" when given (client_logout.c). On a
 * refusal why[whysz] (why may be NULL) says what is wrong. Errors:
 * CID_ERR_INVALID (a bad URI, or session_required without one), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err client_logout_uri(json_t *rec, const char *channel, const char *uri,
					      bool session_required, char *why, size_t whysz);

/*
 * The host of an absolute URI (without port), copied into host[hostsz]
 * (client_uri.c). Errors: CID_ERR_INVALID (no host, or too long for host).
 */
CID_MUST_CHECK enum cid_err client_uri_host(const char *uri, char *host, size_t hostsz);

#endif
