/*
 * note: signed notes, checkpoints and cosignatures over OpenSSL's Ed25519.
 *
 * The parsers are strict by design: a note has one byte form, so a witness
 * or an auditor never has to decide which of two readings was signed. Every
 * byte is checked once for UTF-8 and control characters, then the structure
 * is walked with explicit lengths. The signed bytes are exactly the text for
 * type 0x01 and "cosignature/v1\ntime T\n" || text for type 0x04; the
 * timestamp and key id are big-endian. Ed25519 public keys and signatures
 * are public, so memcmp is fine on them; seeds are wiped after use.
 */
#include "note.h"

#include "crypto.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ED25519_SIG	  64
#define COSIG_HEADER	  "cosignature/v1\n"
#define EM_DASH_SPACE	  "\xE2\x80\x94 "
#define SKEY_PREFIX	  "PRIVATE+KEY+"
#define KEY_TEXT_MAX	  (CID_NOTE_MAX_NAME + 100)
#define KEY_B64_LEN	  44 /* base64 of type || 32-byte key */
#define COSIG_MESSAGE_MAX (CID_NOTE_MAX_SIZE + 64)

struct cid_note_signer {
	char name[CID_NOTE_MAX_NAME + 1];
	size_t name_len;
	uint8_t type;
	uint32_t id;
	uint8_t pub[CID_NOTE_KEY_BYTES];
	EVP_PKEY *pkey;
};

struct cid_note_verifier {
	char name[CID_NOTE_MAX_NAME + 1];
	size_t name_len;
	uint8_t type;
	uint32_t id;
	EVP_PKEY *pkey;
	char vkey[KEY_TEXT_MAX + 1];
};

/* Valid UTF-8 with no control character but newline (signed-note §Format). */
static bool bytes_ok(const char *p, size_t n)
{
	return cid_utf8_valid(p, n) && memchr(p, '\t', n) == NULL && memchr(p, '\r', n) == NULL;
}

/* The code point at p[*i] of valid UTF-8; advances *i. */
static uint32_t next_code_point(const unsigned char *p, size_t *i)
{
	uint32_t c = p[*i];
	int more = c < 0x80 ? 0 : c < 0xE0 ? 1 : c < 0xF0 ? 2 : 3;

	c &= more == 0 ? 0x7F : more == 1 ? 0x1F : more == 2 ? 0x0F : 0x07;
	(*i)++;
	while (more-- > 0)
		c = c << 6 | (p[(*i)++] & 0x3F);
	return c;
}

/* Unicode White_Space, as Go's unicode.IsSpace (which the reference implementation uses). */
static bool is_space(uint32_t c)
{
	return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
	       (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
	       c == 0x205F || c == 0x3000;
}

bool cid_note_name_ok(struct cid_str name)
{
	const unsigned char *p = (const unsigned char *)name.ptr;

	if (name.len == 0 || name.len > CID_NOTE_MAX_NAME || !bytes_ok(name.ptr, name.len))
		return false;
	for (size_t i = 0; i < name.len;) {
		uint32_t c = next_code_point(p, &i);

		if (c == '+' || c == '\n' || is_space(c))
			return false;
	}
	return true;
}

uint32_t cid_note_key_id(struct cid_str name, uint8_t type, const uint8_t pub[CID_NOTE_KEY_BYTES])
{
	uint8_t buf[CID_NOTE_MAX_NAME + 2 + CID_NOTE_KEY_BYTES];
	uint8_t h[32];
	size_t n = name.len > CID_NOTE_MAX_NAME ? CID_NOTE_MAX_NAME : name.len;

	memcpy(buf, name.ptr, n);
	buf[n] = '\n';
	buf[n + 1] = type;
	memcpy(buf + n + 2, pub, CID_NOTE_KEY_BYTES);
	cid_sha256(buf, n + 2 + CID_NOTE_KEY_BYTES, h);
	return (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- keys ---- */

enum cid_err cid_note_signer_new(struct cid_str name, uint8_t type,
				 const uint8_t seed[CID_NOTE_KEY_BYTES],
				 struct cid_note_signer **out)
{
	struct cid_note_signer *s = NULL;
	uint8_t fresh[CID_NOTE_KEY_BYTES];
	size_t publen = CID_NOTE_KEY_BYTES;
	enum cid_err rc = CID_OK;

	CID_ENSURE(cid_note_name_ok(name), CID_ERR_INVALID);
	CID_ENSURE(type == CID_NOTE_ED25519 || type == CID_NOTE_COSIG, CID_ERR_INVALID);
	if (seed == NULL) {
		CID_TRY(cid_random_bytes(fresh, sizeof(fresh)));
		seed = fresh;
	}
	s = calloc(1, sizeof(*s));
	CID_ENSURE(s != NULL, CID_ERR_NOMEM);
	memcpy(s->name, name.ptr, name.len);
	s->name_len = name.len;
	s->type = type;
	s->pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, CID_NOTE_KEY_BYTES);
	CID_ENSURE(s->pkey != NULL, CID_ERR_CRYPTO);
	CID_ENSURE(EVP_PKEY_get_raw_public_key(s->pkey, s->pub, &publen) == 1 &&
		       publen == CID_NOTE_KEY_BYTES,
		   CID_ERR_CRYPTO);
	s->id = cid_note_key_id(name, type, s->pub);
	*out = s;
	s = NULL;
out:
	cid_wipe(fresh, sizeof(fresh));
	cid_note_signer_free(s);
	return rc;
}

/*
 * Splits "name+hex8+base64" (the shape of vkeys, and of skeys after their
 * prefix) into its parts; checks the name, the lowercase hex id and that the
 * base64 is type || 32-byte key. key receives type || key.
 */
static enum cid_err split_key_text(struct cid_str text, struct cid_str *name, uint32_t *id,
				   uint8_t key[1 + CID_NOTE_KEY_BYTES])
{
	const char *plus = memchr(text.ptr, '+', text.len);
	const char *hex;
	size_t rest, keylen = 0;
	uint32_t v = 0;

	if (plus == NULL)
		return CID_ERR_INVALID;
	*name = (struct cid_str){text.ptr, (size_t)(plus - text.ptr)};
	hex = plus + 1;
	rest = text.len - name->len - 1;
	if (!cid_note_name_ok(*name) || rest < 9 + KEY_B64_LEN || hex[8] != '+')
		return CID_ERR_INVALID;
	for (int i = 0; i < 8; i++) {
		char c = hex[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return CID_ERR_INVALID;
		v = v << 4 | (uint32_t)(c <= '9' ? c - '0' : c - 'a' + 10);
	}
	*id = v;
	if (rest != 9 + KEY_B64_LEN ||
	    cid_b64_decode(hex + 9, KEY_B64_LEN, key, 1 + CID_NOTE_KEY_BYTES, &keylen) != CID_OK ||
	    keylen != 1 + CID_NOTE_KEY_BYTES)
		return CID_ERR_INVALID;
	return CID_OK;
}

enum cid_err cid_note_signer_parse(struct cid_str skey, struct cid_note_signer **out)
{
	const size_t plen = sizeof(SKEY_PREFIX) - 1;
	uint8_t key[1 + CID_NOTE_KEY_BYTES];
	struct cid_note_signer *s = NULL;
	struct cid_str name;
	uint32_t id = 0;
	enum cid_err rc = CID_OK;

	CID_ENSURE(skey.len <= KEY_TEXT_MAX, CID_ERR_TOOBIG);
	CID_ENSURE(skey.len > plen && memcmp(skey.ptr, SKEY_PREFIX, plen) == 0, CID_ERR_INVALID);
	CID_TRY(
	    split_key_text((struct cid_str){skey.ptr + plen, skey.len - plen}, &name, &id, key));
	CID_TRY(cid_note_signer_new(name, key[0], key + 1, &s));
	CID_ENSURE(s->id == id, CID_ERR_INVALID);
	*out = s;
	s = NULL;
out:
	cid_wipe(key, sizeof(key));
	cid_note_signer_free(s);
	return rc;
}

enum cid_err cid_note_signer_seed(const struct cid_note_signer *s, uint8_t out[CID_NOTE_KEY_BYTES])
{
	size_t len = CID_NOTE_KEY_BYTES;

	if (EVP_PKEY_get_raw_private_key(s->pkey, out, &len) != 1 || len != CID_NOTE_KEY_BYTES)
		return CID_ERR_CRYPTO;
	return CID_OK;
}

/* "name+hex8+base64(type || key)" into a new string. */
static enum cid_err key_text(const char *prefix, const char *name, uint32_t id, uint8_t type,
			     const uint8_t k[CID_NOTE_KEY_BYTES], char **out)
{
	uint8_t raw[1 + CID_NOTE_KEY_BYTES];
	char b64[KEY_B64_LEN + 1];
	size_t n = strlen(prefix) + strlen(name) + 10 + KEY_B64_LEN + 1;
	char *s = malloc(n);
	enum cid_err rc;

	raw[0] = type;
	memcpy(raw + 1, k, CID_NOTE_KEY_BYTES);
	rc = cid_b64_encode(raw, sizeof(raw), b64, sizeof(b64));
	cid_wipe(raw, sizeof(raw));
	if (s == NULL || rc != CID_OK) {
		free(s);
		cid_wipe(b64, sizeof(b64));
		return s == NULL ? CID_ERR_NOMEM : rc;
	}
	snprintf(s, n, "%s%s+%08x+%s", prefix, name, (unsigned)id, b64);
	cid_wipe(b64, sizeof(b64));
	*out = s;
	return CID_OK;
}

enum cid_err cid_note_signer_format(const struct cid_note_signer *s, char **out)
{
	uint8_t seed[CID_NOTE_KEY_BYTES];
	enum cid_err rc = cid_note_signer_seed(s, seed);

	if (rc == CID_OK)
		rc = key_text(SKEY_PREFIX, s->name, s->id, s->type, seed, out);
	cid_wipe(seed, sizeof(seed));
	return rc;
}

enum cid_err cid_note_signer_vkey(const struct cid_note_signer *s, char **out)
{
	return key_text("", s->name, s->id, s->type, s->pub, out);
}

const char *cid_note_signer_name(const struct cid_note_signer *s)
{
	return s->name;
}

uint32_t cid_note_signer_id(const struct cid_note_signer *s)
{
	return s->id;
}

uint8_t cid_note_signer_type(const struct cid_note_signer *s)
{
	return s->type;
}

void cid_note_signer_free(struct cid_note_signer *s)
{
	if (s == NULL)
		return;
	EVP_PKEY_free(s->pkey);
	free(s);
}

enum cid_err cid_note_verifier_parse(struct cid_str vkey, struct cid_note_verifier **out)
{
	uint8_t key[1 + CID_NOTE_KEY_BYTES];
	struct cid_note_verifier *v = NULL;
	struct cid_str name;
	uint32_t id = 0;
	enum cid_err rc = CID_OK;

	CID_ENSURE(vkey.len <= KEY_TEXT_MAX, CID_ERR_TOOBIG);
	CID_TRY(split_key_text(vkey, &name, &id, key));
	CID_ENSURE(key[0] == CID_NOTE_ED25519 || key[0] == CID_NOTE_COSIG, CID_ERR_INVALID);
	CID_ENSURE(cid_note_key_id(name, key[0], key + 1) == id, CID_ERR_INVALID);
	v = calloc(1, sizeof(*v));
	CID_ENSURE(v != NULL, CID_ERR_NOMEM);
	memcpy(v->name, name.ptr, name.len);
	v->name_len = name.len;
	v->type = key[0];
	v->id = id;
	memcpy(v->vkey, vkey.ptr, vkey.len);
	v->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, key + 1, CID_NOTE_KEY_BYTES);
	/* OpenSSL takes any 32 bytes as an Ed25519 public key: only OpenSSL itself can fail */
	CID_ENSURE(v->pkey != NULL, CID_ERR_CRYPTO);
	*out = v;
	v = NULL;
out:
	cid_note_verifier_free(v);
	return rc;
}

const char *cid_note_verifier_name(const struct cid_note_verifier *v)
{
	return v->name;
}

uint32_t cid_note_verifier_id(const struct cid_note_verifier *v)
{
	return v->id;
}

uint8_t cid_note_verifier_type(const struct cid_note_verifier *v)
{
	return v->type;
}

const char *cid_note_verifier_vkey(const struct cid_note_verifier *v)
{
	return v->vkey;
}

void cid_note_verifier_free(struct cid_note_verifier *v)
{
	if (v == NULL)
		return;
	EVP_PKEY_free(v->pkey);
	free(v);
}

/* ---- notes ---- */

bool cid_note_text_ok(struct cid_str text)
{
	return text.len > 0 && text.len <= CID_NOTE_MAX_SIZE && text.ptr[text.len - 1] == '\n' &&
	       bytes_ok(text.ptr, text.len);
}

/* Parses one signature line [p, p+n) (without its newline) into *sig. */
static enum cid_err parse_sig_line(const char *p, size_t n, struct cid_note_sig *sig)
{
	const size_t dash = sizeof(EM_DASH_SPACE) - 1;
	uint8_t raw[CID_NOTE_MAX_SIG];
	const char *space;
	size_t rawlen = 0;

	if (n < dash || memcmp(p, EM_DASH_SPACE, dash) != 0)
		return CID_ERR_INVALID;
	p += dash;
	n -= dash;
	space = memchr(p, ' ', n);
	if (space == NULL)
		return CID_ERR_INVALID;
	sig->name = (struct cid_str){p, (size_t)(space - p)};
	sig->b64 = (struct cid_str){space + 1, n - sig->name.len - 1};
	if (!cid_note_name_ok(sig->name))
		return CID_ERR_INVALID;
	if (sig->b64.len > cid_b64_len(CID_NOTE_MAX_SIG))
		return CID_ERR_TOOBIG;
	if (cid_b64_decode(sig->b64.ptr, sig->b64.len, raw, sizeof(raw), &rawlen) != CID_OK ||
	    rawlen < 5)
		return CID_ERR_INVALID;
	sig->id = get_be32(raw);
	return CID_OK;
}

enum cid_err cid_note_parse(struct cid_str msg, struct cid_note *out)
{
	struct cid_note *note = NULL;
	size_t split = 0;
	bool found = false;
	enum cid_err rc = CID_OK;

	CID_ENSURE(msg.len <= CID_NOTE_MAX_SIZE, CID_ERR_TOOBIG);
	CID_ENSURE(bytes_ok(msg.ptr, msg.len), CID_ERR_UTF8);
	CID_ENSURE(msg.len >= 2 && msg.ptr[msg.len - 1] == '\n', CID_ERR_INVALID);
	/* the text ends at the last blank line; what follows are signature lines */
	for (size_t i = msg.len - 1; i-- > 0;)
		if (msg.ptr[i] == '\n' && msg.ptr[i + 1] == '\n') {
			split = i;
			found = true;
			break;
		}
	CID_ENSURE(found && split + 2 < msg.len, CID_ERR_INVALID);
	note = calloc(1, sizeof(*note));
	CID_ENSURE(note != NULL, CID_ERR_NOMEM);
	note->text = (struct cid_str){msg.ptr, split + 1};
	for (size_t at = split + 2; at < msg.len;) {
		const char *nl = memchr(msg.ptr + at, '\n', msg.len - at);
		size_t n = (size_t)(nl - (msg.ptr + at));

		CID_ENSURE(note->n_sigs < CID_NOTE_MAX_SIGS, CID_ERR_TOOBIG);
		CID_TRY(parse_sig_line(msg.ptr + at, n, &note->sigs[note->n_sigs]));
		note->n_sigs++;
		at += n + 1;
	}
	*out = *note;
out:
	free(note);
	return rc;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* "cosignature/v1\ntime T\n" || text into b. */
static void cosig_message(struct cid_buf *b, uint64_t time, struct cid_str text)
{
	cid_buf_puts(b, COSIG_HEADER);
	cid_buf_printf(b, "time %llu\n", (unsigned long long)time);
	cid_buf_append(b, text.ptr, text.len);
}

/* Ed25519 verification of sig over [msg, msg+n). */
static enum cid_err ed25519_verify(EVP_PKEY *pkey, const uint8_t sig[ED25519_SIG], const void *msg,
				   size_t n)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	enum cid_err rc = CID_ERR_DENIED;

	if (ctx == NULL)
		return CID_ERR_NOMEM;
	if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey) == 1 &&
	    EVP_DigestVerify(ctx, sig, ED25519_SIG, msg, n) == 1)
		rc = CID_OK;
	EVP_MD_CTX_free(ctx);
	return rc;
}

/* Verifies one signature line against the verifier it names; *time gets a cosignature's. */
static enum cid_err verify_line(const struct cid_note *note, const struct cid_note_sig *sig,
				const struct cid_note_verifier *v, uint64_t *time)
{
	uint8_t raw[CID_NOTE_MAX_SIG];
	struct cid_buf msg;
	size_t rawlen = 0;
	enum cid_err rc = CID_OK;

	cid_buf_init(&msg, COSIG_MESSAGE_MAX);
	CID_ENSURE(cid_b64_decode(sig->b64.ptr, sig->b64.len, raw, sizeof(raw), &rawlen) == CID_OK,
		   CID_ERR_DENIED);
	*time = 0;
	if (v->type == CID_NOTE_ED25519) {
		CID_ENSURE(rawlen == 4 + ED25519_SIG, CID_ERR_DENIED);
		CID_TRY(ed25519_verify(v->pkey, raw + 4, note->text.ptr, note->text.len));
		goto out;
	}
	/*= c2sp.org/tlog-cosignature §Format
	 *# `timestamp` is the time at which the cosignature was generated, as a POSIX
	 *# timestamp.  It MUST NOT exceed 2^63 - 1 */
	CID_ENSURE(rawlen == 4 + 8 + ED25519_SIG, CID_ERR_DENIED);
	*time = get_be64(raw + 4);
	CID_ENSURE(*time <= (uint64_t)INT64_MAX, CID_ERR_DENIED);
	cosig_message(&msg, *time, note->text);
	CID_TRY(cid_buf_status(&msg));
	CID_TRY(ed25519_verify(v->pkey, raw + 12, msg.data, msg.len));
out:
	cid_buf_free(&msg);
	return rc;
}

static bool names_key(const struct cid_note_sig *sig, const struct cid_note_verifier *v)
{
	return sig->id == v->id && sig->name.len == v->name_len &&
	       memcmp(sig->name.ptr, v->name, v->name_len) == 0;
}

enum cid_err cid_note_verify(const struct cid_note *note, const struct cid_note_verifier *const *vs,
			     size_t n, struct cid_note_check *checks)
{
	struct cid_note_check *got = calloc(n == 0 ? 1 : n, sizeof(*got));
	bool any = false;
	enum cid_err rc = CID_OK;

	CID_ENSURE(got != NULL, CID_ERR_NOMEM);
	/*= c2sp.org/signed-note §Signatures
	 *# Verifiers MUST ignore signatures from unknown keys, even if they share a
	 *# name or ID (but not both) with a known key. If the key name and ID match
	 *# a known key, verifiers MUST verify the signature. */
	for (size_t i = 0; i < note->n_sigs; i++)
		for (size_t j = 0; j < n; j++) {
			uint64_t t = 0;

			if (!names_key(&note->sigs[i], vs[j]))
				continue;
			CID_TRY(verify_line(note, &note->sigs[i], vs[j], &t));
			got[j].verified = true;
			if (t > got[j].time)
				got[j].time = t;
			any = true;
		}
	/*# If no signature from a known key verifies successfully, clients MUST
	 *# reject the note. */
	CID_ENSURE(any, CID_ERR_DENIED);
	if (checks != NULL)
		memcpy(checks, got, n * sizeof(*got));
out:
	free(got);
	return rc;
}

/* Ed25519 signature of [msg, msg+n) by s into sig. */
static enum cid_err ed25519_sign(const struct cid_note_signer *s, const void *msg, size_t n,
				 uint8_t sig[ED25519_SIG])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t len = ED25519_SIG;
	enum cid_err rc = CID_ERR_CRYPTO;

	if (ctx == NULL)
		return CID_ERR_NOMEM;
	if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, s->pkey) == 1 &&
	    EVP_DigestSign(ctx, sig, &len, msg, n) == 1 && len == ED25519_SIG)
		rc = CID_OK;
	EVP_MD_CTX_free(ctx);
	return rc;
}

void cid_note_sig_format(const struct cid_note_sig *sig, struct cid_buf *out)
{
	cid_buf_puts(out, EM_DASH_SPACE);
	cid_buf_append(out, sig->name.ptr, sig->name.len);
	cid_buf_append(out, " ", 1);
	cid_buf_append(out, sig->b64.ptr, sig->b64.len);
	cid_buf_append(out, "\n", 1);
}

enum cid_err cid_note_sign_line(const struct cid_note_signer *s, struct cid_str text, uint64_t time,
				struct cid_buf *out)
{
	uint8_t raw[4 + 8 + ED25519_SIG];
	char b64[sizeof(raw) / 3 * 4 + 5];
	struct cid_buf msg;
	size_t at = 4;
	enum cid_err rc = CID_OK;

	cid_buf_init(&msg, COSIG_MESSAGE_MAX);
	CID_ENSURE(cid_note_text_ok(text), CID_ERR_INVALID);
	put_be32(raw, s->id);
	if (s->type == CID_NOTE_ED25519) {
		CID_TRY(ed25519_sign(s, text.ptr, text.len, raw + at));
	} else {
		CID_ENSURE(time >= 1 && time <= (uint64_t)INT64_MAX, CID_ERR_INVALID);
		put_be64(raw + at, time);
		at += 8;
		cosig_message(&msg, time, text);
		CID_TRY(cid_buf_status(&msg));
		CID_TRY(ed25519_sign(s, msg.data, msg.len, raw + at));
	}
	CID_TRY(cid_b64_encode(raw, at + ED25519_SIG, b64, sizeof(b64)));
	cid_note_sig_format(
	    &(struct cid_note_sig){.name = {s->name, s->name_len}, .b64 = cid_str_of(b64)}, out);
	CID_TRY(cid_buf_status(out));
out:
	cid_buf_free(&msg);
	return rc;
}

enum cid_err cid_note_sign(struct cid_str text, const struct cid_note_signer *const *signers,
			   size_t n, uint64_t time, char **out, size_t *len)
{
	struct cid_buf b;
	size_t got = 0;
	enum cid_err rc = CID_OK;

	cid_buf_init(&b, CID_NOTE_MAX_SIZE);
	CID_ENSURE(n > 0 && cid_note_text_ok(text), CID_ERR_INVALID);
	cid_buf_append(&b, text.ptr, text.len);
	cid_buf_append(&b, "\n", 1);
	for (size_t i = 0; i < n; i++)
		CID_TRY(cid_note_sign_line(signers[i], text, time, &b));
	CID_TRY(cid_buf_status(&b));
	*out = cid_buf_take(&b, &got);
	CID_ENSURE(*out != NULL, CID_ERR_NOMEM);
	if (len != NULL)
		*len = got;
out:
	cid_buf_free(&b);
	return rc;
}

/* ---- checkpoints ---- */

/* The line of text starting at *at (without its newline); advances *at past it. */
static struct cid_str next_line(struct cid_str text, size_t *at)
{
	const char *p = text.ptr + *at;
	const char *nl = memchr(p, '\n', text.len - *at);
	struct cid_str line = {p, (size_t)(nl - p)};

	*at += line.len + 1;
	return line;
}

enum cid_err cid_checkpoint_parse(struct cid_str text, struct cid_checkpoint *out)
{
	struct cid_checkpoint cp;
	struct cid_str size, root;
	size_t at = 0, rootlen = 0;

	if (text.len > CID_NOTE_MAX_SIZE)
		return CID_ERR_TOOBIG;
	if (!bytes_ok(text.ptr, text.len))
		return CID_ERR_UTF8;
	if (!cid_note_text_ok(text))
		return CID_ERR_INVALID;
	/*= c2sp.org/tlog-checkpoint §Note text
	 *# The note text is a sequence of at least three non-empty lines, separated by
	 *# newlines (U+000A). */
	cp.origin = next_line(text, &at);
	if (cp.origin.len == 0 || cp.origin.len > CID_NOTE_MAX_NAME || at >= text.len)
		return CID_ERR_INVALID;
	size = next_line(text, &at);
	/*# the ASCII decimal representation of the number of leaves in the tree,
	 *# with no leading zeroes (unless the tree is empty, in which case the tree
	 *# size is `0`). */
	if (at >= text.len || (size.len > 1 && size.ptr[0] == '0') ||
	    cid_parse_u64(size.ptr, size.len, 0, (uint64_t)INT64_MAX, &cp.size) != CID_OK)
		return CID_ERR_INVALID;
	root = next_line(text, &at);
	if (cid_b64_decode(root.ptr, root.len, cp.root, sizeof(cp.root), &rootlen) != CID_OK ||
	    rootlen != sizeof(cp.root))
		return CID_ERR_INVALID;
	/*# Any following lines are **extension lines**, opaque and OPTIONAL. Extension
	 *# lines, if any, MUST be non-empty. */
	cp.ext = (struct cid_str){text.ptr + at, text.len - at};
	for (size_t i = at; i < text.len; i++)
		if (text.ptr[i] == '\n' && (i == at || text.ptr[i - 1] == '\n'))
			return CID_ERR_INVALID;
	*out = cp;
	return CID_OK;
}

enum cid_err cid_checkpoint_format(struct cid_str origin, uint64_t size, const uint8_t root[32],
				   struct cid_str ext, struct cid_buf *out)
{
	char b64[45];

	if (origin.len == 0 || origin.len > CID_NOTE_MAX_NAME ||
	    !bytes_ok(origin.ptr, origin.len) || memchr(origin.ptr, '\n', origin.len) != NULL ||
	    size > (uint64_t)INT64_MAX)
		return CID_ERR_INVALID;
	if (ext.len > 0) {
		if (!cid_note_text_ok(ext) || ext.ptr[0] == '\n')
			return CID_ERR_INVALID;
		for (size_t i = 1; i < ext.len; i++)
			if (ext.ptr[i] == '\n' && ext.ptr[i - 1] == '\n')
				return CID_ERR_INVALID;
	}
	if (cid_b64_encode(root, 32, b64, sizeof(b64)) != CID_OK)
		return CID_ERR_INVALID;
	cid_buf_append(out, origin.ptr, origin.len);
	cid_buf_printf(out, "\n%llu\n%s\n", (unsigned long long)size, b64);
	cid_buf_append(out, ext.ptr, ext.len);
	return cid_buf_status(out);
}
