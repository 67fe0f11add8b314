/*
 * client_int: what client.c (the registry), client_logout.c (the logout
 * URIs of a registration) and client_uri.c (the URI rules, below both)
 * share. Not part of the API.
 */
#ifndef CID_CLIENT_INT_H
#define CID_CLIENT_INT_H

#include "client.h"

/*
 * Checks the logout URIs of spec (client.h's rules) and adds them to rec,
 * the record being registered, as "backchannel_logout_uri",
 * "backchannel_logout_session_required" and their front-channel twins, each
 * only when given. On a refusal why[whysz] (why may be NULL) says what is
 * wrong. Errors: CID_ERR_INVALID, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err client_logout_record(json_t *rec, const struct cid_client_spec *spec,
						 char *why, size_t whysz);

/* The logout URIs of a stored record into c (absent: none). Errors: CID_ERR_NOMEM. */
CID_MUST_CHECK enum cid_err client_logout_load(const json_t *rec, struct cid_client *c);

/*
 * The host of an absolute URI (without port), copied into host[hostsz]
 * (client_uri.c). Errors: CID_ERR_INVALID (no host, or too long for host).
 */
CID_MUST_CHECK enum cid_err client_uri_host(const char *uri, char *host, size_t hostsz);

#endif
