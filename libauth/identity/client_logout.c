/*
 * client_logout: the logout URIs of a registration (OpenID Connect
 * Back-Channel Logout 1.0, Front-Channel Logout 1.0) and the origins a
 * Content-Security-Policy names. A logout URI is checked like a redirect URI
 * and must also have an origin of plain characters: the logged-out page puts
 * that origin into its frame-src header as it is, so nothing in it may end a
 * directive or start a new one.
 */
#include "client_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum cid_err cid_client_origin(const char *uri, char out[CID_MAX_URI + 1])
{
	enum cid_err rc = CID_OK;
	char host[CID_MAX_SECTOR + 1];
	bool https = strncmp(uri, "https://", 8) == 0;
	size_t n;
	int w;

	CID_ENSURE(https || strncmp(uri, "http://", 7) == 0, CID_ERR_INVALID);
	/* the host:port of one URI, as a sector of pairwise subjects is derived */
	CID_TRY(cid_client_sector(&uri, 1, NULL, (struct cid_str){NULL, 0}, host, NULL, 0));
	n = strlen(host);
	if (host[0] == '[') { /* an IPv6 literal, and perhaps a port after it */
		size_t end = strcspn(host, "]");

		CID_ENSURE(end < n && strspn(host + 1, "0123456789abcdef:.") == end - 1,
			   CID_ERR_INVALID);
		CID_ENSURE(host[end + 1] == '\0' ||
			       (host[end + 1] == ':' &&
				strspn(host + end + 2, "0123456789") == strlen(host + end + 2)),
			   CID_ERR_INVALID);
	} else {
		/* a name (or IPv4), the port after it: nothing a header could misread */
		CID_ENSURE(n > 0 && strspn(host, "abcdefghijklmnopqrstuvwxyz0123456789-.:") == n &&
			       host[0] != '.' && host[0] != '-' && host[0] != ':',
			   CID_ERR_INVALID);
	}
	w = snprintf(out, CID_MAX_URI + 1, "%s://%s", https ? "https" : "http", host);
	CID_ENSURE(w > 0 && w <= CID_MAX_URI, CID_ERR_TOOBIG);
out:
	return rc;
}

enum cid_err client_logout_uri(json_t *rec, const char *channel, const char *uri,
			       bool session_required, char *why, size_t whysz)
{
	enum cid_err rc = CID_OK;
	const char *words = strcmp(channel, "backchannel") == 0 ? "back-channel" : "front-channel";
	char origin[CID_MAX_URI + 1];
	char name[64];

	if (uri == NULL) {
		if (session_required)
			cid_err_why(why, whysz, "%s_logout_session_required needs a %s logout URI",
				    channel, words);
		return session_required ? CID_ERR_INVALID : CID_OK;
	}
	/*= Back-Channel Logout 1.0 §2.2 and Front-Channel Logout 1.0 §2: the logout URI
	 *# MUST be an absolute URI; it MUST NOT include a fragment component */
	if (cid_client_check_uri(uri) != CID_OK || cid_client_origin(uri, origin) != CID_OK) {
		cid_err_why(
		    why, whysz,
		    "the %s logout URI must be an absolute https URL (or http on a loopback "
		    "host) without fragment or userinfo, on a plain host name or address",
		    words);
		return CID_ERR_INVALID;
	}
	CID_ENSURE(snprintf(name, sizeof(name), "%s_logout_uri", channel) > 0 &&
		       json_object_set_new(rec, name, json_string(uri)) == 0 &&
		       snprintf(name, sizeof(name), "%s_logout_session_required", channel) > 0 &&
		       json_object_set_new(rec, name, json_boolean(session_required)) == 0,
		   CID_ERR_NOMEM);
out:
	return rc;
}
