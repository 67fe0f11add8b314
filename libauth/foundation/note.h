/*
 * note: C2SP signed notes (c2sp.org/signed-note) with Ed25519, transparency
 * log checkpoints (c2sp.org/tlog-checkpoint), and timestamped Ed25519
 * cosignatures (c2sp.org/tlog-cosignature, "cosignature/v1").
 *
 * A signed note is a text ending in a newline, a blank line, and signature
 * lines "— NAME base64(key id || signature)". A key is named by (name, key
 * id), the id being SHA-256(name || 0x0A || type || public key)[:4]; type
 * 0x01 signs the text, type 0x04 signs "cosignature/v1\ntime T\n" || text and
 * puts the 8-byte timestamp T before the signature. Verifiers ignore lines of
 * keys they do not know, must verify every line of a key they know, and
 * accept a note only when at least one such line verified.
 *
 * Keys are parsed once into signer/verifier objects holding OpenSSL keys;
 * signing and verifying allocate only a message buffer. Parsers take bytes
 * as pointer + length, check sizes against bounds.h, UTF-8 and the exact
 * format, and borrow from their input rather than copy. Signer and verifier
 * objects are immutable after creation and may be shared between threads.
 */
#ifndef CID_NOTE_H
#define CID_NOTE_H

#include "bounds.h"
#include "buf.h"
#include "err.h"
#include "str.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Signature types (signed-note §Signature types) civicid signs and verifies. */
#define CID_NOTE_ED25519 0x01 /* Ed25519 over the note text */
#define CID_NOTE_COSIG	 0x04 /* timestamped Ed25519 checkpoint cosignature (cosignature/v1) */

#define CID_NOTE_KEY_BYTES 32 /* an Ed25519 public key or seed */

struct cid_note_signer;
struct cid_note_verifier;

/*
 * The key id of (name, type, public key): the first four bytes, big-endian,
 * of SHA-256(name || 0x0A || type || pub).
 */
uint32_t cid_note_key_id(struct cid_str name, uint8_t type, const uint8_t pub[CID_NOTE_KEY_BYTES]);

/*
 * True if name may name a key: 1..CID_NOTE_MAX_NAME bytes of UTF-8 without
 * control characters, Unicode spaces or '+'.
 */
bool cid_note_name_ok(struct cid_str name);

/*
 * A new signer for name of type CID_NOTE_ED25519 or CID_NOTE_COSIG, from the
 * 32-byte Ed25519 seed, or a fresh random one when seed is NULL.
 * *out is freed with cid_note_signer_free().
 * Errors: CID_ERR_INVALID (name not cid_note_name_ok, unknown type),
 * CID_ERR_CRYPTO, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_note_signer_new(struct cid_str name, uint8_t type,
						const uint8_t seed[CID_NOTE_KEY_BYTES],
						struct cid_note_signer **out);

/*
 * Parses a private key in the text form of golang.org/x/mod/sumdb/note and
 * transparency-dev: "PRIVATE+KEY+name+hex(key id)+base64(type || seed)".
 * Errors: CID_ERR_INVALID (any other shape, an unknown type, a key id that is
 * not the key's), CID_ERR_TOOBIG (over CID_NOTE_MAX_NAME + 100 bytes),
 * CID_ERR_CRYPTO, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_note_signer_parse(struct cid_str skey,
						  struct cid_note_signer **out);

/*
 * The private key text cid_note_signer_parse reads, as a new string the
 * caller wipes (cid_wipe) and frees. It is a secret.
 * Errors: CID_ERR_CRYPTO, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_note_signer_format(const struct cid_note_signer *s, char **out);

/* Copies the signer's 32-byte seed, a secret, to out (the caller wipes it). Errors: CRYPTO. */
CID_MUST_CHECK enum cid_err cid_note_signer_seed(const struct cid_note_signer *s,
						 uint8_t out[CID_NOTE_KEY_BYTES]);

/*
 * The verifier key ("vkey") of the signer: "name+hex(key id)+base64(type ||
 * public key)", a new string the caller frees. Errors: CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_note_signer_vkey(const struct cid_note_signer *s, char **out);

/* The signer's name (NUL-terminated, borrowed until it is freed), key id and type. */
const char *cid_note_signer_name(const struct cid_note_signer *s);
uint32_t cid_note_signer_id(const struct cid_note_signer *s);
uint8_t cid_note_signer_type(const struct cid_note_signer *s);

/* Frees s (the private key is wiped by OpenSSL). NULL is a no-op. */
void cid_note_signer_free(struct cid_note_signer *s);

/*
 * Parses a verifier key "name+hex(key id)+base64(type || public key)" with
 * type CID_NOTE_ED25519 or CID_NOTE_COSIG (the key id in lowercase hex, as
 * the spec writes it). *out is freed with cid_note_verifier_free().
 * Errors: CID_ERR_INVALID (shape, name, unknown type, key length, a key id
 * that is not the key's), CID_ERR_TOOBIG (over CID_NOTE_MAX_NAME + 100
 * bytes), CID_ERR_CRYPTO, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_note_verifier_parse(struct cid_str vkey,
						    struct cid_note_verifier **out);

/* The verifier's name (borrowed until it is freed), key id, type and vkey text (borrowed). */
const char *cid_note_verifier_name(const struct cid_note_verifier *v);
uint32_t cid_note_verifier_id(const struct cid_note_verifier *v);
uint8_t cid_note_verifier_type(const struct cid_note_verifier *v);
const char *cid_note_verifier_vkey(const struct cid_note_verifier *v);

/* Frees v. NULL is a no-op. */
void cid_note_verifier_free(struct cid_note_verifier *v);

/* One signature line of a parsed note; the slices borrow the note's bytes. */
struct cid_note_sig {
	struct cid_str name; /* the key name */
	uint32_t id;	     /* the key id, the first four bytes of the signature */
	struct cid_str b64;  /* base64 of key id || signature, as on the line */
};

/* A parsed signed note; the slices borrow the bytes it was parsed from. */
struct cid_note {
	struct cid_str text; /* the signed text, its final newline included */
	size_t n_sigs;
	struct cid_note_sig sigs[CID_NOTE_MAX_SIGS];
};

/*
 * True if [text.ptr, +len) may be signed as a note text: not empty, at most
 * CID_NOTE_MAX_SIZE bytes, valid UTF-8 without control characters but
 * newline, ending in a newline.
 */
bool cid_note_text_ok(struct cid_str text);

/*
 * Parses a signed note: the text up to the last blank line, then one or more
 * signature lines, each "— " NAME " " BASE64 "\n" with a name cid_note_name_ok
 * allows and a canonical base64 of 5..CID_NOTE_MAX_SIG bytes. Nothing is
 * verified here. *out borrows msg.
 * Errors: CID_ERR_TOOBIG (over CID_NOTE_MAX_SIZE, more than
 * CID_NOTE_MAX_SIGS signature lines), CID_ERR_UTF8 (not UTF-8, or a control
 * character but newline), CID_ERR_INVALID (any other departure from the
 * format). *out is written only on success.
 */
CID_MUST_CHECK enum cid_err cid_note_parse(struct cid_str msg, struct cid_note *out);

/*
 * Appends sig as a signature line, "— " NAME " " BASE64 "\n", the one form
 * cid_note_parse reads and cid_note_sign_line writes. Errors are left in
 * out's status (cid_buf_status).
 */
void cid_note_sig_format(const struct cid_note_sig *sig, struct cid_buf *out);

/* What cid_note_verify found for one verifier. */
struct cid_note_check {
	bool verified; /* a line of this key is in the note and verified */
	uint64_t time; /* for a CID_NOTE_COSIG key: the (latest) timestamp it signed */
};

/*
 * Verifies note against the n verifiers vs: lines whose (name, key id) match
 * no verifier are ignored; every line that matches one must verify; at least
 * one must have. checks, when not NULL, has n entries and receives, per
 * verifier, whether its line verified and, for cosignatures, its timestamp.
 * A cosignature timestamp above 2^63 - 1 does not verify.
 * Errors: CID_ERR_DENIED (a known key's line fails, or no known key signed),
 * CID_ERR_NOMEM, CID_ERR_CRYPTO. checks are written only on success.
 */
CID_MUST_CHECK enum cid_err cid_note_verify(const struct cid_note *note,
					    const struct cid_note_verifier *const *vs, size_t n,
					    struct cid_note_check *checks);

/*
 * Appends to out the signature line of s over text: "— NAME base64\n". A
 * CID_NOTE_COSIG signer signs at time (POSIX seconds, 1..2^63 - 1); time is
 * ignored for CID_NOTE_ED25519. text must be cid_note_text_ok.
 * Errors: CID_ERR_INVALID (text, or time out of range for a cosignature),
 * CID_ERR_CRYPTO, CID_ERR_NOMEM, and out's sticky errors.
 */
CID_MUST_CHECK enum cid_err cid_note_sign_line(const struct cid_note_signer *s, struct cid_str text,
					       uint64_t time, struct cid_buf *out);

/*
 * A whole signed note: text, a blank line, and one line per signer (in the
 * order given; time as cid_note_sign_line takes it). *out is a new
 * NUL-terminated string the caller frees, *len its length (len may be NULL).
 * Errors: those of cid_note_sign_line, CID_ERR_INVALID (no signer),
 * CID_ERR_TOOBIG (over CID_NOTE_MAX_SIZE).
 */
CID_MUST_CHECK enum cid_err cid_note_sign(struct cid_str text,
					  const struct cid_note_signer *const *signers, size_t n,
					  uint64_t time, char **out, size_t *len);

/* A checkpoint's note text, parsed; the slices borrow the text. */
struct cid_checkpoint {
	struct cid_str origin; /* the log's identity, without its newline */
	uint64_t size;	       /* the tree size */
	uint8_t root[32];      /* the tree head */
	struct cid_str ext;    /* the extension lines, each ending in a newline; empty if none */
};

/*
 * Parses a checkpoint body: origin, decimal size (no leading zeroes; at most
 * 2^63 - 1), base64 root hash of 32 bytes, then optional non-empty extension
 * lines, each line ending in a newline. Origins are opaque (any non-empty
 * line up to CID_NOTE_MAX_NAME bytes).
 * Errors: CID_ERR_INVALID (format, sizes), CID_ERR_UTF8 (bad text), CID_ERR_TOOBIG.
 * *out is written only on success.
 */
CID_MUST_CHECK enum cid_err cid_checkpoint_parse(struct cid_str text, struct cid_checkpoint *out);

/*
 * Appends the checkpoint body of (origin, size, root) and the extension lines
 * ext (empty, or lines each ending in a newline) to out.
 * Errors: CID_ERR_INVALID (an origin or extension the parser would refuse),
 * out's sticky errors.
 */
CID_MUST_CHECK enum cid_err cid_checkpoint_format(struct cid_str origin, uint64_t size,
						  const uint8_t root[32], struct cid_str ext,
						  struct cid_buf *out);

#endif
