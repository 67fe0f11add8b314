/*
 * totp: HOTP/TOTP codes and the base32 their secrets travel in.
 *
 * Verification computes every candidate in the window and compares each with
 * CRYPTO_memcmp, so how long it takes does not depend on how much of a guess
 * was right. Replay protection is a number, not a list: the caller keeps the
 * last step a code was accepted for, and only later steps can match. Buffers
 * that held a secret, an HMAC or a candidate code are wiped before return.
 */
#include "totp.h"

#include "bounds.h"
#include "buf.h"
#include "crypto.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

#define URI_PART_MAX   1024 /* one percent-encoded half of the URI, without the secret */
#define SECRET_B32_MAX ((CID_TOTP_SECRET_MAX * 8 + 4) / 5) /* cid_base32_len of the longest */

static const char base32_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

size_t cid_base32_len(size_t n)
{
	/* 5 bytes make 8 characters; a partial group takes ceil(bits / 5) */
	return n / 5 * 8 + ((n % 5) * 8 + 4) / 5;
}

enum cid_err cid_base32_encode(const void *in, size_t n, char *out, size_t outsz)
{
	const uint8_t *p = in;
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t o = 0;

	if (outsz == 0 || cid_base32_len(n) > outsz - 1)
		return CID_ERR_TOOBIG;
	for (size_t i = 0; i < n; i++) {
		acc = (acc << 8) | p[i];
		bits += 8;
		while (bits >= 5) {
			out[o++] = base32_alphabet[(acc >> (bits - 5)) & 31];
			bits -= 5;
		}
	}
	if (bits > 0)
		out[o++] = base32_alphabet[(acc << (5 - bits)) & 31];
	out[o] = '\0';
	cid_wipe(&acc, sizeof(acc));
	return CID_OK;
}

/* The 5-bit value of a base32 character, either case; -1 if it is not one. */
static int base32_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a';
	if (c >= '2' && c <= '7')
		return c - '2' + 26;
	return -1;
}

enum cid_err cid_base32_decode(const char *in, size_t n, void *out, size_t outsz, size_t *outlen)
{
	uint8_t *p = out;
	size_t data = n;
	size_t rem;
	size_t leftover;
	size_t o = 0;
	uint32_t acc = 0;
	unsigned bits = 0;

	if (n > SIZE_MAX / 5)
		return CID_ERR_TOOBIG;
	while (data > 0 && in[data - 1] == '=')
		data--;
	rem = data % 8;
	/*= RFC 4648 §6: the final quantum of 8, 16, 24 or 32 bits gives 2, 4, 5
	 *# or 7 characters followed by 6, 4, 3 or 1 "=" */
	if (rem == 1 || rem == 3 || rem == 6)
		return CID_ERR_INVALID;
	if (data < n && (rem == 0 || n % 8 != 0 || n - data != 8 - rem))
		return CID_ERR_INVALID;
	for (size_t i = 0; i < data; i++)
		if (base32_value(in[i]) < 0)
			return CID_ERR_INVALID;
	/*= RFC 4648 §3.5: pad bits not set to zero make a non-canonical encoding,
	 *# which decoders MAY reject. We do: one secret has one spelling. */
	leftover = data * 5 % 8;
	if (leftover > 0 && (base32_value(in[data - 1]) & ((1 << leftover) - 1)) != 0)
		return CID_ERR_INVALID;
	if (data * 5 / 8 > outsz)
		return CID_ERR_TOOBIG;
	for (size_t i = 0; i < data; i++) {
		acc = (acc << 5) | (uint32_t)base32_value(in[i]);
		bits += 5;
		if (bits >= 8) {
			p[o++] = (uint8_t)(acc >> (bits - 8));
			bits -= 8;
		}
	}
	*outlen = o;
	cid_wipe(&acc, sizeof(acc));
	return CID_OK;
}

static const EVP_MD *alg_md(enum cid_totp_alg alg)
{
	switch (alg) {
	case CID_TOTP_SHA1: return EVP_sha1();
	case CID_TOTP_SHA256: return EVP_sha256();
	case CID_TOTP_SHA512: return EVP_sha512();
	default: return NULL;
	}
}

enum cid_err cid_hotp(enum cid_totp_alg alg, const uint8_t *secret, size_t secret_len,
		      uint64_t counter, unsigned digits, uint32_t *out)
{
	static const uint32_t modulus[] = {1000000, 10000000, 100000000};
	enum cid_err rc = CID_OK;
	const EVP_MD *md = alg_md(alg);
	uint8_t msg[8];
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned maclen = 0;
	unsigned offset;
	uint32_t binary;

	CID_ENSURE(md != NULL && secret != NULL, CID_ERR_INVALID);
	CID_ENSURE(digits >= 6 && digits <= 8, CID_ERR_INVALID);
	CID_ENSURE(secret_len >= CID_TOTP_SECRET_MIN && secret_len <= CID_TOTP_SECRET_MAX,
		   CID_ERR_INVALID);
	for (int i = 7; i >= 0; i--) {
		msg[i] = (uint8_t)(counter & 0xff);
		counter >>= 8;
	}
	CID_ENSURE(HMAC(md, secret, (int)secret_len, msg, sizeof(msg), mac, &maclen) != NULL &&
		       maclen >= 20,
		   CID_ERR_CRYPTO);
	/*= RFC 4226 §5.3: DT takes the low 4 bits of the last byte as an offset and
	 *# the 31 bits from there; RFC 6238 keeps the last byte for SHA-256/512 */
	offset = mac[maclen - 1] & 0x0f;
	binary = (uint32_t)(mac[offset] & 0x7f) << 24 | (uint32_t)mac[offset + 1] << 16 |
		 (uint32_t)mac[offset + 2] << 8 | (uint32_t)mac[offset + 3];
	*out = binary % modulus[digits - 6];
	cid_wipe(&binary, sizeof(binary));
out:
	cid_wipe(mac, sizeof(mac));
	return rc;
}

int64_t cid_totp_step(int64_t now)
{
	return now / CID_TOTP_STEP;
}

enum cid_err cid_totp(enum cid_totp_alg alg, const uint8_t *secret, size_t secret_len, int64_t now,
		      unsigned digits, uint32_t *out)
{
	if (now < 0)
		return CID_ERR_INVALID;
	return cid_hotp(alg, secret, secret_len, (uint64_t)cid_totp_step(now), digits, out);
}

/* The code v as exactly CID_TOTP_DIGITS decimal characters, leading zeros kept. */
static void code_text(uint32_t v, char text[CID_TOTP_DIGITS])
{
	for (int i = CID_TOTP_DIGITS - 1; i >= 0; i--) {
		text[i] = (char)('0' + v % 10);
		v /= 10;
	}
}

bool cid_totp_code_ok(const char *code)
{
	size_t n = code == NULL ? 0 : strnlen(code, CID_TOTP_DIGITS + 1);

	if (n != CID_TOTP_DIGITS)
		return false;
	for (size_t i = 0; i < n; i++)
		if (code[i] < '0' || code[i] > '9')
			return false;
	return true;
}

enum cid_err cid_totp_verify(const uint8_t *secret, size_t secret_len, const char *code,
			     int64_t now, unsigned window, int64_t last_used_step,
			     int64_t *matched_step)
{
	enum cid_err rc = CID_OK;
	char candidate[CID_TOTP_DIGITS];
	uint32_t value = 0;
	int64_t step;
	int64_t match = 0;
	bool found = false;

	CID_ENSURE(cid_totp_code_ok(code), CID_ERR_INVALID);
	CID_ENSURE(window <= CID_TOTP_WINDOW_MAX && now >= 0, CID_ERR_INVALID);
	step = cid_totp_step(now);
	/*= RFC 6238 §5.2: the verifier MUST NOT accept the second attempt of the
	 *# same OTP after the successful validation has been issued for the first OTP */
	for (int64_t s = step - (int64_t)window; s <= step + (int64_t)window; s++) {
		bool equal;

		if (s < 0)
			continue;
		CID_TRY(cid_hotp(CID_TOTP_SHA1, secret, secret_len, (uint64_t)s, CID_TOTP_DIGITS,
				 &value));
		code_text(value, candidate);
		/* every candidate is compared, even after a match */
		equal = cid_ct_equal(candidate, code, CID_TOTP_DIGITS);
		if (equal && s > last_used_step && !found) {
			found = true;
			match = s;
		}
	}
	CID_ENSURE(found, CID_ERR_DENIED);
	*matched_step = match;
out:
	cid_wipe(candidate, sizeof(candidate));
	cid_wipe(&value, sizeof(value));
	return rc;
}

enum cid_err cid_totp_new_secret(uint8_t secret[CID_TOTP_SECRET_BYTES])
{
	return cid_random_bytes(secret, CID_TOTP_SECRET_BYTES);
}

enum cid_err cid_totp_enrolment_new(struct cid_totp_enrolment *en, const char *issuer,
				    const char *account)
{
	enum cid_err rc = CID_OK;
	uint8_t secret[CID_TOTP_SECRET_BYTES];

	memset(en, 0, sizeof(*en));
	CID_TRY(cid_totp_new_secret(secret));
	CID_TRY(cid_base32_encode(secret, sizeof(secret), en->b32, sizeof(en->b32)));
	CID_TRY(cid_totp_uri(issuer, account, secret, sizeof(secret), &en->uri));
	en->secret_b32 = strdup(en->b32);
	CID_ENSURE(en->secret_b32 != NULL, CID_ERR_NOMEM);
out:
	cid_wipe(secret, sizeof(secret));
	return rc;
}

void cid_totp_enrolment_give(struct cid_totp_enrolment *en, char **secret_b32_out, char **uri_out)
{
	if (secret_b32_out != NULL) {
		*secret_b32_out = en->secret_b32;
		en->secret_b32 = NULL;
	}
	if (uri_out != NULL) {
		*uri_out = en->uri;
		en->uri = NULL;
	}
}

void cid_totp_enrolment_wipe(struct cid_totp_enrolment *en)
{
	if (en->secret_b32 != NULL)
		cid_wipe(en->secret_b32, strlen(en->secret_b32));
	if (en->uri != NULL)
		cid_wipe(en->uri, strlen(en->uri));
	free(en->secret_b32);
	free(en->uri);
	cid_wipe(en, sizeof(*en));
}

/*
 * Key URI Format (google-authenticator wiki): the label is "issuer:account",
 * each part percent-encoded, and the issuer parameter repeats the issuer so
 * apps that ignore the label prefix still show it.
 */
enum cid_err cid_totp_uri(const char *issuer, const char *account, const uint8_t *secret,
			  size_t secret_len, char **out)
{
	enum cid_err rc = CID_OK;
	size_t ilen = issuer == NULL ? 0 : strnlen(issuer, CID_MAX_USERNAME + 1);
	size_t alen = account == NULL ? 0 : strnlen(account, CID_MAX_USERNAME + 1);
	char b32[SECRET_B32_MAX + 1];
	struct cid_buf head;
	struct cid_buf tail;
	size_t hlen = 0;
	size_t blen;
	size_t tlen = 0;
	char *h = NULL;
	char *t = NULL;
	char *uri = NULL;

	cid_buf_init(&head, URI_PART_MAX);
	cid_buf_init(&tail, URI_PART_MAX);
	CID_ENSURE(ilen > 0 && alen > 0 && memchr(issuer, ':', ilen) == NULL, CID_ERR_INVALID);
	CID_ENSURE(ilen <= CID_MAX_USERNAME && alen <= CID_MAX_USERNAME, CID_ERR_TOOBIG);
	CID_ENSURE(secret != NULL && secret_len >= CID_TOTP_SECRET_MIN &&
		       secret_len <= CID_TOTP_SECRET_MAX,
		   CID_ERR_INVALID);
	CID_TRY(cid_base32_encode(secret, secret_len, b32, sizeof(b32)));
	blen = strlen(b32);
	/* the halves around the secret are built apart, so no growing buffer ever
	 * holds (and leaves behind in freed memory) a copy of it */
	cid_buf_puts(&head, "otpauth://totp/");
	cid_buf_append_urlenc(&head, issuer, ilen);
	cid_buf_puts(&head, ":");
	cid_buf_append_urlenc(&head, account, alen);
	cid_buf_puts(&head, "?secret=");
	cid_buf_puts(&tail, "&issuer=");
	cid_buf_append_urlenc(&tail, issuer, ilen);
	cid_buf_printf(&tail, "&algorithm=SHA1&digits=%d&period=%d", CID_TOTP_DIGITS,
		       CID_TOTP_STEP);
	CID_TRY(cid_buf_status(&head));
	CID_TRY(cid_buf_status(&tail));
	h = cid_buf_take(&head, &hlen);
	t = cid_buf_take(&tail, &tlen);
	CID_ENSURE(h != NULL && t != NULL, CID_ERR_NOMEM);
	uri = malloc(hlen + blen + tlen + 1);
	CID_ENSURE(uri != NULL, CID_ERR_NOMEM);
	memcpy(uri, h, hlen);
	memcpy(uri + hlen, b32, blen);
	memcpy(uri + hlen + blen, t, tlen + 1);
	*out = uri;
out:
	cid_wipe(b32, sizeof(b32));
	cid_buf_free(&head);
	cid_buf_free(&tail);
	free(h);
	free(t);
	return rc;
}
