/*
 * Fuzz target: a foreign JWKS and a JWS checked against it
 * (cid_keyset_from_jwks, cid_jws_verify), as `audit verify --jwks` and any
 * check of a signature made elsewhere read them. The input is a JWKS
 * document, then after its last newline a compact JWS (no newline: the
 * whole input is the JWKS and no JWS is checked).
 *
 * What must hold whatever the bytes:
 * - the JWKS is refused with an error jose.h lists, or gives a verify-only
 *   keyset: it signs nothing, and the JWKS it publishes (public EC P-256 and
 *   RSA members only, with kid, alg and use) loads again into the same
 *   document;
 * - the JWS verifies only with ES256 or RS256 under a kid of the keyset and
 *   gives a JSON object; the keyset loaded from the published JWKS agrees on
 *   every verdict; a verification that fails names an error jose.h lists.
 * The seeds hold genuine tokens with the JWKS of their keys, so verification
 * can succeed and mutations start from real signatures.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "jose.h"
#include "store.h"
#include "str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The alg of a JWS header, copied into alg[16] ("" when unreadable). */
static void header_alg(const char *jws, size_t len, char alg[16])
{
	const char *dot = memchr(jws, '.', len);
	char header[CID_MAX_TOKEN];
	size_t n = 0;
	json_t *h;

	alg[0] = '\0';
	if (dot == NULL ||
	    cid_b64url_decode(jws, (size_t)(dot - jws), header, sizeof(header), &n) != CID_OK)
		return;
	h = json_loadb(header, n, 0, NULL);
	if (json_string_length(json_object_get(h, "alg")) < 16)
		snprintf(alg, 16, "%s", json_string_value(json_object_get(h, "alg")));
	json_decref(h);
}

/* A published JWKS holds public members only, each key with kid, alg and use. */
static void check_public(const char *pub, size_t len)
{
	static const char *const allowed[] = {"kty", "crv", "x",   "y",	 "n",
					      "e",   "kid", "alg", "use"};
	json_t *doc = json_loadb(pub, len, JSON_REJECT_DUPLICATES, NULL);
	json_t *key;
	json_t *v;
	const char *name;
	size_t i;

	if (!json_is_array(json_object_get(doc, "keys")) || json_object_size(doc) != 1)
		abort();
	json_array_foreach(json_object_get(doc, "keys"), i, key)
	{
		if (json_object_get(key, "kid") == NULL || json_object_get(key, "alg") == NULL ||
		    strcmp(cid_json_str(key, "use"), "sig") != 0)
			abort();
		json_object_foreach(key, name, v)
		{
			bool ok = false;

			for (size_t j = 0; j < sizeof(allowed) / sizeof(allowed[0]); j++)
				ok = ok || strcmp(name, allowed[j]) == 0;
			if (!ok)
				abort(); /* "d", "p", "k": a private member published */
		}
	}
	json_decref(doc);
}

static enum cid_err verify(const struct cid_keyset *ks, const char *jws, size_t len,
			   const char *typ)
{
	json_t *claims = NULL;
	enum cid_err rc = cid_jws_verify(ks, jws, len, typ, &claims);
	char alg[16];

	switch (rc) {
	case CID_OK:
		header_alg(jws, len, alg);
		/* no "none", no HS256 keyed with a public key, no alg confusion */
		if (!json_is_object(claims) ||
		    (strcmp(alg, "ES256") != 0 && strcmp(alg, "RS256") != 0))
			abort();
		break;
	case CID_ERR_INVALID:
	case CID_ERR_DENIED:
	case CID_ERR_TOOBIG:
	case CID_ERR_NOMEM:
		if (claims != NULL)
			abort();
		break;
	default: abort(); /* an error jose.h does not list */
	}
	json_decref(claims);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	const char *nl = size == 0 ? NULL : memrchr(text, '\n', size);
	size_t jwks_len = nl == NULL ? size : (size_t)(nl - text);
	struct cid_keyset *ks = NULL;
	struct cid_keyset *again = NULL;
	const char *pub;
	const char *pub_again;
	size_t pub_len = 0;
	size_t pub_again_len = 0;
	json_t *claims = json_object();
	char *signed_jws = NULL;
	char *jws = NULL;
	enum cid_err rc;

	rc = cid_keyset_from_jwks(text, jwks_len, &ks);
	switch (rc) {
	case CID_OK: break;
	case CID_ERR_INVALID:
	case CID_ERR_TOOBIG:
	case CID_ERR_NOTFOUND:
	case CID_ERR_NOMEM:
		if (ks != NULL)
			abort();
		goto out;
	default: abort(); /* an error jose.h does not list */
	}
	/* verify-only: no private key, no version, nothing to drop */
	if (claims == NULL || cid_jws_sign(ks, "ES256", "JWT", claims, &signed_jws) == CID_OK ||
	    cid_jws_sign(ks, "RS256", "JWT", claims, &signed_jws) == CID_OK ||
	    cid_keyset_version(ks) != 0 || cid_keyset_next_drop(ks) != 0)
		abort();
	pub = cid_keyset_jwks(ks, &pub_len);
	if (pub == NULL || strlen(pub) != pub_len)
		abort();
	check_public(pub, pub_len);
	if (cid_keyset_from_jwks(pub, pub_len, &again) != CID_OK)
		abort();
	pub_again = cid_keyset_jwks(again, &pub_again_len);
	if (pub_again_len != pub_len || memcmp(pub, pub_again, pub_len) != 0)
		abort();
	if (nl == NULL)
		goto out;
	/* the JWS as a skin hands it over: NUL-terminated, its length given */
	size_t len = size - jwks_len - 1;
	jws = malloc(len + 1);
	if (jws == NULL)
		goto out;
	memcpy(jws, nl + 1, len);
	jws[len] = '\0';
	for (int i = 0; i < 3; i++) {
		static const char *const typs[] = {NULL, "JWT", "at+jwt"};

		if (verify(ks, jws, len, typs[i]) != verify(again, jws, len, typs[i]))
			abort();
	}
out:
	free(jws);
	free(signed_jws);
	json_decref(claims);
	cid_keyset_free(again);
	cid_keyset_free(ks);
	return 0;
}
