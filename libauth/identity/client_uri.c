/*
 * client_uri: the rules a URI of a registration must meet, and the sector of
 * pairwise subjects derived from the redirect URIs. A URI that passes
 * cid_client_check_uri is absolute, https (http only on a loopback host),
 * without fragment, userinfo or a malformed port, so whatever later compares
 * or prints its host reads the host that was intended.
 *
 * It sits below both the registry (client.c) and the logout URIs
 * (client_logout.c) and calls neither, so each may check a URI without the
 * other calling back.
 */
#include "client_int.h"

#include "http_fetch.h"
#include "str.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

enum cid_err client_uri_host(const char *uri, char *host, size_t hostsz)
{
	const char *p = strstr(uri, "://");

	if (p == NULL)
		return CID_ERR_INVALID;
	p += 3;
	size_t n;
	if (*p == '[') {
		const char *end = strchr(p, ']');
		if (end == NULL)
			return CID_ERR_INVALID;
		n = (size_t)(end - p) + 1;
	} else {
		n = strcspn(p, ":/?#");
	}
	if (n == 0 || n >= hostsz)
		return CID_ERR_INVALID;
	memcpy(host, p, n);
	host[n] = '\0';
	return CID_OK;
}

static const char bad_sector_uri[] = "the sector identifier URI must be https (or http on a "
				     "loopback host), without fragment or userinfo";

/*
 * The sector of one absolute URI: its host, lower-cased, and ":port" when a
 * port is given and is not the scheme's default. with_port false: host only.
 */
static enum cid_err uri_sector(const char *uri, bool with_port, char out[CID_MAX_SECTOR + 1])
{
	enum cid_err rc = CID_OK;
	char host[256];
	const char *auth = strstr(uri, "://");
	size_t auth_len;
	uint64_t port = 0;
	uint64_t default_port = strncmp(uri, "https://", 8) == 0 ? 443 : 80;
	int n;

	CID_ENSURE(auth != NULL, CID_ERR_INVALID);
	CID_TRY(client_uri_host(uri, host, sizeof(host)));
	for (char *c = host; *c != '\0'; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	auth += 3;
	auth_len = strcspn(auth, "/?#");
	if (with_port && auth_len > strlen(host) && auth[strlen(host)] == ':') {
		const char *p = auth + strlen(host) + 1;
		size_t plen = auth_len - strlen(host) - 1;

		/*= RFC 3986 §3.2.3: an empty port means the scheme's default */
		if (plen > 0)
			CID_TRY(cid_parse_u64(p, plen, 1, 65535, &port));
	}
	if (port == 0 || port == default_port)
		n = snprintf(out, CID_MAX_SECTOR + 1, "%s", host);
	else
		n = snprintf(out, CID_MAX_SECTOR + 1, "%s:%u", host, (unsigned)port);
	CID_ENSURE(n > 0 && n <= CID_MAX_SECTOR, CID_ERR_TOOBIG);
out:
	return rc;
}

/* Checks that doc is a JSON array of strings listing each of uris. */
static enum cid_err sector_doc_check(struct cid_str doc, const char *const *uris, size_t n,
				     char *why, size_t whysz)
{
	enum cid_err rc = CID_OK;
	json_t *list = NULL;
	const json_t *v;
	size_t i;

	if (doc.len > CID_MAX_SECTOR_DOC) {
		cid_err_why(why, whysz, "the sector identifier document is larger than %zu bytes",
			    CID_MAX_SECTOR_DOC);
		return CID_ERR_TOOBIG;
	}
	list = doc.ptr != NULL ? json_loadb(doc.ptr, doc.len, JSON_REJECT_DUPLICATES, NULL) : NULL;
	if (!json_is_array(list)) {
		cid_err_why(why, whysz,
			    "the sector identifier document is not a JSON array of URIs");
		rc = CID_ERR_INVALID;
		goto out;
	}
	json_array_foreach(list, i, v)
	{
		if (!json_is_string(v)) {
			cid_err_why(why, whysz,
				    "the sector identifier document holds a non-string (at %zu)",
				    i);
			rc = CID_ERR_INVALID;
			goto out;
		}
	}
	for (size_t u = 0; u < n; u++) {
		bool listed = false;

		json_array_foreach(list, i, v) listed =
		    listed || (json_string_length(v) == strlen(uris[u]) &&
			       memcmp(json_string_value(v), uris[u], strlen(uris[u])) == 0);
		if (!listed) {
			cid_err_why(why, whysz, "the sector identifier document does not list %s",
				    uris[u]);
			rc = CID_ERR_INVALID;
			goto out;
		}
	}
out:
	json_decref(list);
	return rc;
}

enum cid_err cid_client_sector(const char *const *redirect_uris, size_t n, const char *sector_uri,
			       struct cid_str doc, char out[CID_MAX_SECTOR + 1], char *why,
			       size_t whysz)
{
	enum cid_err rc = CID_OK;
	char first[CID_MAX_SECTOR + 1] = "";
	char each[CID_MAX_SECTOR + 1];

	if (sector_uri != NULL) {
		/*= OIDC Core §8.1: the sector_identifier_uri MUST use the https scheme
		 *# (plain http is allowed on loopback only, for local tests) */
		if (cid_client_check_uri(sector_uri) != CID_OK) {
			cid_err_why(why, whysz, "%s", bad_sector_uri);
			rc = CID_ERR_INVALID;
			goto out;
		}
		/*= OIDC Core §8.1: the document MUST contain all redirect_uri values */
		CID_TRY(sector_doc_check(doc, redirect_uris, n, why, whysz));
		/*= OIDC Core §8.1: the host component of that URL is the Sector Identifier */
		rc = uri_sector(sector_uri, false, first);
		if (rc != CID_OK)
			cid_err_why(why, whysz, "%s", bad_sector_uri);
		goto out;
	}
	CID_ENSURE(n > 0, CID_ERR_NOTFOUND);
	for (size_t i = 0; i < n; i++) {
		rc = uri_sector(redirect_uris[i], true, i == 0 ? first : each);
		if (rc != CID_OK) {
			cid_err_why(why, whysz, "the redirect URI %s has no usable host or port",
				    redirect_uris[i]);
			goto out;
		}
		/*= OIDC Core §8.1: redirect_uris on multiple hosts need a sector_identifier_uri */
		if (i > 0 && strcmp(first, each) != 0) {
			cid_err_why(why, whysz,
				    "the redirect URIs are on different hosts or ports (%s, %s): a "
				    "pairwise client "
				    "needs a sector identifier URI listing them (OIDC Core 8.1)",
				    first, each);
			rc = CID_ERR_INVALID;
			goto out;
		}
	}
out:
	if (rc == CID_OK)
		memcpy(out, first, strlen(first) + 1);
	return rc;
}

enum cid_err cid_client_check_uri(const char *uri)
{
	size_t n = strlen(uri);
	char host[256];

	if (n > CID_MAX_URI)
		return CID_ERR_TOOBIG;
	if (!cid_utf8_valid(uri, n))
		return CID_ERR_UTF8;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)uri[i] <= 0x20 || uri[i] == '#' || uri[i] == '\\')
			return CID_ERR_INVALID;
	bool https = strncmp(uri, "https://", 8) == 0;
	bool http = strncmp(uri, "http://", 7) == 0;
	if (!https && !http)
		return CID_ERR_INVALID;
	if (client_uri_host(uri, host, sizeof(host)) != CID_OK)
		return CID_ERR_INVALID;
	/* userinfo would let "https://good@evil" look like a good host */
	const char *auth = uri + (https ? 8 : 7);
	size_t auth_len = strcspn(auth, "/?");
	if (memchr(auth, '@', auth_len) != NULL)
		return CID_ERR_INVALID;
	/* RFC 3986 §3.2: after the host only ":" and a port, 1 to 65535 or empty (the
	 * default); "http://[::1]evil" names no host */
	size_t host_len = strlen(host);
	if (host_len > auth_len)
		return CID_ERR_INVALID; /* "https://[a/b]": the brackets hold a path */
	if (auth_len > host_len) {
		const char *port = auth + host_len + 1;
		size_t port_len = auth_len - host_len - 1;
		uint64_t number;

		if (auth[host_len] != ':' ||
		    (port_len > 0 && cid_parse_u64(port, port_len, 1, 65535, &number) != CID_OK))
			return CID_ERR_INVALID;
	}
	if (http && !cid_http_loopback_host(host))
		return CID_ERR_INVALID;
	return CID_OK;
}
