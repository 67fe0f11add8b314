/*
 * totp: one-time passwords as authenticator apps make them: HOTP (RFC 4226),
 * TOTP (RFC 6238: 30 s steps, 6 digits, HMAC-SHA-1), the base32 (RFC 4648 §6)
 * in which their shared secrets travel, and the otpauth:// URI an app scans.
 *
 * The secret is shared: the server must keep it to compute codes, so unlike
 * passwords and tokens it cannot be stored as a hash (account.h says where it
 * lives). A code is accepted at most once: verification takes the last step
 * already used and refuses that step and every earlier one, so a code seen
 * over a shoulder or replayed from a log is worthless. Candidates are compared
 * in constant time. No I/O, no globals; every function is thread-safe.
 */
#ifndef CID_TOTP_H
#define CID_TOTP_H

#include "bounds.h"
#include "err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CID_TOTP_SECRET_BYTES 20 /* RFC 4226 §4 R6: 160 bits recommended */
#define CID_TOTP_SECRET_CHARS 32 /* base32 of CID_TOTP_SECRET_BYTES, no padding */
#define CID_TOTP_STEP	      30 /* seconds (RFC 6238 §4.1 X, the recommended default) */
#define CID_TOTP_DIGITS	      6
#define CID_TOTP_WINDOW	      1		/* steps accepted each side of now (RFC 6238 §5.2) */
#define CID_TOTP_ISSUER	      "civicid" /* the issuer an authenticator app shows */

/* The HMAC hash of HOTP. civicid enrols SHA-1 only, the one every app supports. */
enum cid_totp_alg {
	CID_TOTP_SHA1,
	CID_TOTP_SHA256,
	CID_TOTP_SHA512,
};

/*
 * base32 (RFC 4648 §6, alphabet A-Z 2-7). They sit here because TOTP secrets
 * are their only use.
 *
 * cid_base32_len: the unpadded length of the encoding of n bytes.
 * cid_base32_encode writes that many uppercase characters, without padding,
 * plus a NUL into out[outsz]. Errors: CID_ERR_TOOBIG (outsz too small).
 *
 * cid_base32_decode decodes [in, in+n) into out (at most outsz bytes) and
 * writes the byte count to *outlen. It accepts lowercase and correct '='
 * padding (the whole input a multiple of 8 characters then), and refuses
 * anything else: other characters (spaces included), padding in the middle or
 * of the wrong length, an impossible length (1, 3 or 6 characters in the last
 * group), and non-zero bits after the last byte (RFC 4648 §3.5: one encoding
 * per value). Errors: CID_ERR_INVALID, CID_ERR_TOOBIG (out too small).
 * Out-parameters are written only on success.
 */
size_t cid_base32_len(size_t n);
CID_MUST_CHECK enum cid_err cid_base32_encode(const void *in, size_t n, char *out, size_t outsz);
CID_MUST_CHECK enum cid_err cid_base32_decode(const char *in, size_t n, void *out, size_t outsz,
					      size_t *outlen);

/*
 * HOTP (RFC 4226 §5.3): HMAC-alg of the 8-byte big-endian counter under the
 * secret, dynamically truncated and reduced modulo 10^digits into *out.
 * digits is 6..8; secret_len CID_TOTP_SECRET_MIN..CID_TOTP_SECRET_MAX.
 * Errors: CID_ERR_INVALID (digits, secret length, alg), CID_ERR_CRYPTO.
 */
CID_MUST_CHECK enum cid_err cid_hotp(enum cid_totp_alg alg, const uint8_t *secret,
				     size_t secret_len, uint64_t counter, unsigned digits,
				     uint32_t *out);

/* The TOTP time step of now (RFC 6238 §4.2: floor(now / CID_TOTP_STEP)); now >= 0. */
int64_t cid_totp_step(int64_t now);

/*
 * TOTP (RFC 6238 §4.2): cid_hotp of cid_totp_step(now).
 * Errors: those of cid_hotp, CID_ERR_INVALID (now < 0).
 */
CID_MUST_CHECK enum cid_err cid_totp(enum cid_totp_alg alg, const uint8_t *secret,
				     size_t secret_len, int64_t now, unsigned digits,
				     uint32_t *out);

/* True if code (may be NULL) is exactly CID_TOTP_DIGITS ASCII digits: it could be a code. */
bool cid_totp_code_ok(const char *code);

/*
 * Checks code (NUL-terminated, typed by the citizen) against the SHA-1,
 * 6-digit TOTP of the secret for the steps within window steps of now
 * (CID_TOTP_WINDOW is the right value: one step of clock drift each side).
 * Every candidate is computed and compared in constant time; a step at or
 * before last_used_step never matches, so a code works once (pass 0 when no
 * code was used yet). On success *matched_step receives the step that matched
 * (the earliest, should two match): store it as the new last_used_step.
 * Errors: CID_ERR_INVALID (code is not exactly CID_TOTP_DIGITS ASCII digits,
 * or secret length, window over CID_TOTP_WINDOW_MAX, now < 0),
 * CID_ERR_DENIED (no fresh step matches: wrong, expired or replayed code),
 * CID_ERR_CRYPTO.
 */
CID_MUST_CHECK enum cid_err cid_totp_verify(const uint8_t *secret, size_t secret_len,
					    const char *code, int64_t now, unsigned window,
					    int64_t last_used_step, int64_t *matched_step);

/*
 * Fills secret with CID_TOTP_SECRET_BYTES bytes from the OS CSPRNG
 * (cid_random_bytes). The caller wipes it after use. Errors: CID_ERR_CRYPTO.
 */
CID_MUST_CHECK enum cid_err cid_totp_new_secret(uint8_t secret[CID_TOTP_SECRET_BYTES]);

/*
 * Formats the Key URI an authenticator app scans from a QR code:
 *   otpauth://totp/ISSUER:ACCOUNT?secret=BASE32&issuer=ISSUER&algorithm=SHA1&digits=6&period=30
 * with issuer and account percent-encoded (RFC 3986 unreserved characters
 * kept). *out is a new string holding the secret: the caller wipes and frees
 * it. Errors: CID_ERR_INVALID (issuer or account empty, issuer containing ':',
 * which would split the label; secret length), CID_ERR_TOOBIG (either over
 * CID_MAX_USERNAME bytes), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_totp_uri(const char *issuer, const char *account,
					 const uint8_t *secret, size_t secret_len, char **out);

/*
 * A new secret being enrolled for account at issuer (a citizen, an officer):
 * b32 is what the store keeps; secret_b32 and uri (cid_totp_uri) are the
 * copies shown once to the person enrolling. The raw secret never outlives
 * cid_totp_enrolment_new.
 */
struct cid_totp_enrolment {
	char b32[CID_TOTP_SECRET_CHARS + 1];
	char *secret_b32;
	char *uri;
};

/*
 * Fills en with a new secret for account at issuer. Always follow with
 * cid_totp_enrolment_wipe, also on failure. Errors: those of
 * cid_totp_new_secret and cid_totp_uri, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_totp_enrolment_new(struct cid_totp_enrolment *en,
						   const char *issuer, const char *account);

/*
 * Hands the copies to the caller once the secret is stored: *secret_b32_out
 * and *uri_out (each may be NULL: not wanted) become the caller's to wipe and free.
 */
void cid_totp_enrolment_give(struct cid_totp_enrolment *en, char **secret_b32_out, char **uri_out);

/* Wipes en and frees the copies it still holds. */
void cid_totp_enrolment_wipe(struct cid_totp_enrolment *en);

#endif
