/*
 * Fuzz target: signed notes, checkpoints and note keys (note.h), which a
 * witness reads from any log that posts to it and an auditor reads from
 * exported checkpoints. Whatever the bytes, every parser must fail with an
 * error note.h lists or return slices inside the input that honour its
 * promises; a checkpoint that parses must format back to the same text; a
 * verifier key that parses must print as itself. Verification against the
 * reference keys can only succeed for the texts those keys really signed
 * (the seeds), since a fuzzer cannot forge Ed25519.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "buf.h"
#include "note.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* golang.org/x/mod/sumdb/note's example key, and a cosigner from tlog-cosignature's example */
#define GO_VKEY "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
#define GO_TEXT                                                                                    \
	"If you think cryptography is the answer to your problem,\n"                               \
	"then you don't know what your problem is.\n"
#define W1_VKEY "witness.example/w1+eb762cc2+BNdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea"
#define CP_TEXT                                                                                    \
	"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"

static bool inside(struct cid_str s, const char *base, size_t size)
{
	return s.len <= size && s.ptr >= base && s.ptr + s.len <= base + size;
}

static bool equals(struct cid_str s, const char *lit)
{
	return s.len == strlen(lit) && memcmp(s.ptr, lit, s.len) == 0;
}

static void check_note(const char *in, size_t size)
{
	struct cid_note note;
	struct cid_note_verifier *vs[2] = {NULL, NULL};
	struct cid_note_check checks[2];
	enum cid_err rc = cid_note_parse((struct cid_str){in, size}, &note);

	switch (rc) {
	case CID_OK: break;
	case CID_ERR_TOOBIG:
	case CID_ERR_UTF8:
	case CID_ERR_INVALID:
	case CID_ERR_NOMEM: return;
	default: abort();
	}
	if (!inside(note.text, in, size) || !cid_note_text_ok(note.text) || note.n_sigs == 0 ||
	    note.n_sigs > CID_NOTE_MAX_SIGS)
		abort();
	for (size_t i = 0; i < note.n_sigs; i++)
		if (!inside(note.sigs[i].name, in, size) || !inside(note.sigs[i].b64, in, size) ||
		    !cid_note_name_ok(note.sigs[i].name))
			abort();
	if (cid_note_verifier_parse(cid_str_of(GO_VKEY), &vs[0]) != CID_OK ||
	    cid_note_verifier_parse(cid_str_of(W1_VKEY), &vs[1]) != CID_OK)
		abort();
	rc = cid_note_verify(&note, (const struct cid_note_verifier *const *)vs, 2, checks);
	if (rc == CID_OK && !((checks[0].verified && equals(note.text, GO_TEXT)) ||
			      (checks[1].verified && equals(note.text, CP_TEXT))))
		abort();
	if (rc != CID_OK && rc != CID_ERR_DENIED && rc != CID_ERR_NOMEM)
		abort();
	cid_note_verifier_free(vs[0]);
	cid_note_verifier_free(vs[1]);
}

static void check_checkpoint(const char *in, size_t size)
{
	struct cid_checkpoint cp;
	struct cid_buf b;
	enum cid_err rc = cid_checkpoint_parse((struct cid_str){in, size}, &cp);

	if (rc == CID_ERR_INVALID || rc == CID_ERR_UTF8 || rc == CID_ERR_TOOBIG)
		return;
	if (rc != CID_OK || !inside(cp.origin, in, size) || !inside(cp.ext, in, size) ||
	    cp.origin.len == 0 || cp.size > (uint64_t)INT64_MAX)
		abort();
	/* one text per checkpoint: formatting what was parsed gives the input back */
	cid_buf_init(&b, CID_NOTE_MAX_SIZE + 64);
	if (cid_checkpoint_format(cp.origin, cp.size, cp.root, cp.ext, &b) != CID_OK ||
	    b.len != size || memcmp(b.data, in, size) != 0)
		abort();
	cid_buf_free(&b);
}

static void check_keys(const char *in, size_t size)
{
	struct cid_note_verifier *v = NULL;
	struct cid_note_signer *s = NULL;
	enum cid_err rc = cid_note_verifier_parse((struct cid_str){in, size}, &v);

	if (rc == CID_OK) {
		if (strlen(cid_note_verifier_vkey(v)) != size ||
		    memcmp(cid_note_verifier_vkey(v), in, size) != 0)
			abort();
		cid_note_verifier_free(v);
	} else if (rc != CID_ERR_INVALID && rc != CID_ERR_TOOBIG && rc != CID_ERR_NOMEM &&
		   rc != CID_ERR_CRYPTO) {
		abort();
	}
	rc = cid_note_signer_parse((struct cid_str){in, size}, &s);
	if (rc == CID_OK) {
		char *again = NULL;

		if (cid_note_signer_format(s, &again) != CID_OK || strlen(again) != size ||
		    memcmp(again, in, size) != 0)
			abort();
		free(again);
		cid_note_signer_free(s);
	} else if (rc != CID_ERR_INVALID && rc != CID_ERR_TOOBIG && rc != CID_ERR_NOMEM &&
		   rc != CID_ERR_CRYPTO) {
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;

	check_note(in, size);
	check_checkpoint(in, size);
	check_keys(in, size);
	return 0;
}
