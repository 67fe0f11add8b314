/*
 * Fuzz target: redirect URI validation and matching (client.c), the rule
 * that keeps civicid from being an open redirector (RFC 9700 §2.1, §4.1).
 * The input is lines: the first is the redirect_uri of a request, the others
 * (at most 17, one more than a client may have) are registered as the
 * redirect and post-logout URIs of a public client on a real store.
 *
 * What must hold whatever the lines:
 * - cid_client_check_uri accepts only what a URL parser reads as intended:
 *   https, or http on a loopback host (RFC 8252 §7.3), a host and at most a
 *   numeric port in the authority (RFC 3986 §3.2), no userinfo,
 *   no fragment, no byte at or below space, no DEL, no backslash, UTF-8,
 *   within CID_MAX_URI; and what it accepts is a link cid_http_url_ok takes;
 * - registration succeeds exactly when every URI passes and there are 1 to
 *   CID_MAX_REDIRECT_URIS of them, else fails with an error client.h lists;
 * - the client read back matches a URI exactly when it is byte for byte one
 *   that was registered: no prefix, case, slash or escape variant matches.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "str.h"
#include "support.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW	  ((int64_t)1800000000)
#define MAX_LINES (CID_MAX_REDIRECT_URIS + 2)

/* Made once: libFuzzer runs millions of inputs in one process. */
static char dir[256];
static struct cid_store *store;

static void close_store(void)
{
	cid_store_close(store);
	fuzz_rmtree(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) // NOLINT(readability-non-const-parameter)
{
	(void)argc;
	(void)argv;
	fuzz_tmpdir(dir);
	if (cid_store_open(dir, &store) != CID_OK)
		abort();
	atexit(close_store);
	return 0;
}

/* The oracle: the scheme and authority as a URL parser would split them. */
static bool oracle_ok(const char *uri)
{
	size_t n = strlen(uri);
	size_t at;
	const char *auth;
	size_t auth_len;
	bool https = strncmp(uri, "https://", 8) == 0;

	if (n > CID_MAX_URI || !cid_utf8_valid(uri, n))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)uri[i] <= 0x20 || uri[i] == 0x7f || uri[i] == '#' ||
		    uri[i] == '\\')
			return false;
	if (!https && strncmp(uri, "http://", 7) != 0)
		return false;
	at = https ? 8 : 7;
	auth = uri + at;
	auth_len = strcspn(auth, "/?");
	if (memchr(auth, '@', auth_len) != NULL)
		return false; /* userinfo: "https://good@evil" */
	if (auth_len == 0 || auth[0] == ':')
		return false; /* no host */
	/* RFC 3986 §3.2: the host ("[...]" for IPv6), then at most ":" and a port */
	size_t host_len;
	if (auth[0] == '[') {
		const char *close = memchr(auth, ']', auth_len);
		if (close == NULL)
			return false;
		host_len = (size_t)(close - auth) + 1;
	} else {
		host_len = strcspn(auth, ":/?");
	}
	if (host_len < auth_len &&
	    (auth[host_len] != ':' ||
	     strspn(auth + host_len + 1, "0123456789") != auth_len - host_len - 1))
		return false;
	if (https)
		return true;
	/* http only on loopback (RFC 8252 §7.3), and then the host must be exactly that */
	static const char *const loopback[] = {"127.0.0.1", "[::1]", "localhost"};
	for (size_t i = 0; i < 3; i++)
		if (host_len == strlen(loopback[i]) && strncmp(auth, loopback[i], host_len) == 0)
			return true;
	return false;
}

static void check_one(const char *uri)
{
	enum cid_err rc = cid_client_check_uri(uri);

	switch (rc) {
	case CID_OK:
		if (!oracle_ok(uri) || !cid_http_url_ok(uri, strlen(uri)))
			abort();
		break;
	case CID_ERR_INVALID: /* stricter than the oracle is fine ("https://[" has no host) */
	case CID_ERR_TOOBIG:
	case CID_ERR_UTF8: break;
	default: abort(); /* an error client.h does not list */
	}
}

static bool registered(char *const *lines, size_t n, const char *uri)
{
	for (size_t i = 1; i < n; i++)
		if (strcmp(lines[i], uri) == 0)
			return true;
	return false;
}

/* A registered URI's near misses must not match unless registered themselves. */
static void check_variants(const struct cid_client *c, char *const *lines, size_t n,
			   const char *uri)
{
	size_t len = strlen(uri);
	char *v = malloc(len + 4);

	if (v == NULL)
		return;
	for (int kind = 0; kind < 5; kind++) {
		memcpy(v, uri, len + 1);
		switch (kind) {
		case 0: memcpy(v + len, "/", 2); break; /* a trailing slash */
		case 1: memcpy(v + len, "%2F", 4); break;
		case 2:
			if (len == 0)
				continue;
			v[len - 1] = '\0'; /* a prefix */
			break;
		case 3: /* another case of the first letter that has one */
			for (size_t i = 0; i < len; i++)
				if ((v[i] | 0x20) >= 'a' && (v[i] | 0x20) <= 'z') {
					v[i] ^= 0x20;
					break;
				}
			break;
		default: memcpy(v + len, "?", 2); break;
		}
		if (cid_client_redirect_ok(c, v) != registered(lines, n, v) ||
		    cid_client_post_logout_ok(c, v) != registered(lines, n, v))
			abort();
	}
	free(v);
}

static void check_client(char *const *lines, size_t n)
{
	const struct cid_client_spec spec = {
	    .client_id = "rp",
	    .name = "Fuzzed service",
	    .is_public = true,
	    .redirect_uris = (const char *const *)lines + 1,
	    .n_redirect_uris = n - 1,
	    .post_logout_uris = (const char *const *)lines + 1,
	    .n_post_logout_uris = n - 1,
	    .subject_type = "public",
	};
	bool all_ok = n >= 2 && n - 1 <= CID_MAX_REDIRECT_URIS;
	struct cid_client *c = NULL;
	char *id = NULL;
	char *secret = NULL;
	enum cid_err rc;

	for (size_t i = 1; i < n; i++)
		all_ok = all_ok && cid_client_check_uri(lines[i]) == CID_OK;
	rc = cid_client_add(store, &spec, NOW, &id, &secret);
	if (rc != CID_OK) {
		if (all_ok || (rc != CID_ERR_INVALID && rc != CID_ERR_TOOBIG && rc != CID_ERR_UTF8))
			abort();
		return;
	}
	if (!all_ok || id == NULL || strcmp(id, "rp") != 0 || secret != NULL)
		abort();
	free(id);
	if (cid_client_get(store, "rp", &c) != CID_OK || c->n_redirect_uris != n - 1)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (cid_client_redirect_ok(c, lines[i]) !=
			(i > 0 || registered(lines, n, lines[i])) ||
		    cid_client_post_logout_ok(c, lines[i]) !=
			(i > 0 || registered(lines, n, lines[i])))
			abort();
		check_variants(c, lines, n, lines[i]);
	}
	if (cid_client_redirect_ok(c, NULL) || cid_client_post_logout_ok(c, NULL))
		abort();
	cid_client_free(c);
	if (cid_client_remove(store, "rp") != CID_OK)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *lines[MAX_LINES];
	size_t n = 0;
	const char *p = (const char *)data;
	const char *end = p + size;

	if (store == NULL)
		LLVMFuzzerInitialize(NULL, NULL);
	while (n < MAX_LINES) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl == NULL ? (size_t)(end - p) : (size_t)(nl - p);

		/* a NUL ends the string early, as it would for a skin */
		lines[n] = strndup(p, len);
		if (lines[n] == NULL)
			goto out;
		n++;
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	for (size_t i = 0; i < n; i++)
		check_one(lines[i]);
	check_client(lines, n);
out:
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	return 0;
}
