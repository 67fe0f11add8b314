/*
 * crypto: one way to do each primitive. Randomness comes from getrandom(2)
 * only; secrets are compared with CRYPTO_memcmp; password hashing is argon2id
 * with a fresh salt, and unknown accounts pay the same cost as known ones so
 * that timing does not tell whether a username exists.
 */
#include "crypto.h"
#include "str.h"

#include <argon2.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#define SALT_BYTES 16
#define HASH_BYTES 32

enum cid_err cid_random_bytes(void *out, size_t n)
{
	unsigned char *p = out;

	while (n > 0) {
		ssize_t got = getrandom(p, n, 0);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return CID_ERR_CRYPTO;
		}
		p += got;
		n -= (size_t)got;
	}
	return CID_OK;
}

enum cid_err cid_random_token(char out[CID_TOKEN_CHARS + 1])
{
	unsigned char raw[CID_TOKEN_BYTES];
	enum cid_err rc = cid_random_bytes(raw, sizeof(raw));

	if (rc == CID_OK)
		rc = cid_b64url_encode(raw, sizeof(raw), out, CID_TOKEN_CHARS + 1);
	cid_wipe(raw, sizeof(raw));
	return rc;
}

enum cid_err cid_random_uuid(char out[CID_ID_CHARS + 1])
{
	unsigned char u[16];
	enum cid_err rc = cid_random_bytes(u, sizeof(u));

	if (rc != CID_OK)
		return rc;
	u[6] = (unsigned char)((u[6] & 0x0F) | 0x40);
	u[8] = (unsigned char)((u[8] & 0x3F) | 0x80);
	char hex[33];
	cid_hex(u, sizeof(u), hex);
	snprintf(out, CID_ID_CHARS + 1, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12,
		 hex + 16, hex + 20);
	return CID_OK;
}

bool cid_token_syntax_ok(const char *s)
{
	size_t n = s == NULL ? 0 : strnlen(s, CID_TOKEN_CHARS + 1);

	if (n != CID_TOKEN_CHARS)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return false;
	}
	return true;
}

bool cid_uuid_syntax_ok(const char *s)
{
	if (s == NULL || strnlen(s, CID_ID_CHARS + 1) != CID_ID_CHARS)
		return false;
	for (size_t i = 0; i < CID_ID_CHARS; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-'
			 : !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return true;
}

void cid_sha256(const void *d, size_t n, uint8_t out[32])
{
	SHA256_CTX c;

	/*
	 * The low-level interface, deprecated in OpenSSL 3.0 but kept, hashes in
	 * place: no allocation and no provider fetch, so it cannot fail. SHA256()
	 * allocates a context, and when that fails it returns NULL with out left
	 * unwritten: every store key made from it would be stack garbage.
	 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
	SHA256_Init(&c);
	SHA256_Update(&c, d, n);
	SHA256_Final(out, &c);
#pragma GCC diagnostic pop
	OPENSSL_cleanse(&c, sizeof(c)); /* it held the secret's bytes */
}

void cid_hex(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

void cid_secret_hash(const char *secret, size_t n, char out[CID_HASH_HEX + 1])
{
	uint8_t h[32];

	cid_sha256(secret, n, h);
	cid_hex(h, sizeof(h), out);
}

bool cid_ct_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

bool cid_ct_streq(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen != blen)
		return false;
	return CRYPTO_memcmp(a, b, alen) == 0;
}

void cid_wipe(void *p, size_t n)
{
	if (p != NULL && n > 0)
		OPENSSL_cleanse(p, n);
}

static bool argon2_params_ok(const struct cid_argon2_params *p)
{
	return p->t_cost >= ARGON2_MIN_TIME && p->t_cost <= 64 && p->parallelism >= 1 &&
	       p->parallelism <= 64 && p->m_cost_kib >= 8 * p->parallelism &&
	       p->m_cost_kib <= 4u * 1024 * 1024;
}

enum cid_err cid_password_hash(const struct cid_argon2_params *params, const char *pw, size_t n,
			       char out[CID_PASSWORD_HASH_MAX])
{
	uint8_t salt[SALT_BYTES];

	if (n < CID_MIN_PASSWORD || n > CID_MAX_PASSWORD || !argon2_params_ok(params))
		return CID_ERR_INVALID;
	if (cid_random_bytes(salt, sizeof(salt)) != CID_OK)
		return CID_ERR_CRYPTO;
	int r =
	    argon2id_hash_encoded(params->t_cost, params->m_cost_kib, params->parallelism, pw, n,
				  salt, sizeof(salt), HASH_BYTES, out, CID_PASSWORD_HASH_MAX);
	return r == ARGON2_OK ? CID_OK : CID_ERR_CRYPTO;
}

enum cid_err cid_password_verify(const char *encoded, const char *pw, size_t n)
{
	if (n > CID_MAX_PASSWORD || strncmp(encoded, "$argon2id$", 10) != 0)
		return CID_ERR_INVALID;
	int r = argon2id_verify(encoded, pw, n);
	if (r == ARGON2_OK)
		return CID_OK;
	if (r == ARGON2_VERIFY_MISMATCH)
		return CID_ERR_DENIED;
	return CID_ERR_INVALID;
}

enum cid_err cid_password_burn(const struct cid_argon2_params *params, const char *pw, size_t n)
{
	/* a fixed salt is fine here: the result is thrown away, only the cost matters
	 * (a hash that fails, out of memory, only ends sooner: the verdict is the same) */
	static const uint8_t salt[SALT_BYTES] = "civicid-dummy!!";
	uint8_t hash[HASH_BYTES];

	if (n > CID_MAX_PASSWORD)
		n = CID_MAX_PASSWORD;
	if (argon2_params_ok(params))
		(void)argon2id_hash_raw(params->t_cost, params->m_cost_kib, params->parallelism, pw,
					n, salt, sizeof(salt), hash, sizeof(hash));
	cid_wipe(hash, sizeof(hash));
	return CID_ERR_DENIED;
}
