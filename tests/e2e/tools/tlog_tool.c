/*
 * tlog_tool: a small transparency log for the witness's end-to-end test, on
 * libauth's merkle.h and note.h. Its entries are "entry I", or "fork I" from
 * --fork-at on (another history after that index); its origin is its key's
 * name. It prints what a log sends a witness and checks what comes back:
 *
 *   tlog_tool keygen NAME                  the log's private key, then its vkey
 *   tlog_tool checkpoint SKEY SIZE [--fork-at N]
 *                                          the signed checkpoint of SIZE entries
 *   tlog_tool body SKEY OLD SIZE [--fork-at N] [--proof-from M]
 *                                          an add-checkpoint body: "old OLD", the
 *                                          consistency proof from M (default OLD)
 *                                          to SIZE, a blank line, the checkpoint
 *   tlog_tool verify VKEY... < NOTE        verifies the note on stdin; prints per
 *                                          key "ok TIME" or "-"; exit 1 if refused
 *   tlog_tool resign SKEY < NOTE           the note on stdin, its signature lines
 *                                          replaced by one of SKEY (a forger's key)
 *
 * Exit status: 0 done, 1 refused or failed, 2 bad usage.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "merkle.h"
#include "note.h"
#include "str.h"

struct tlog {
	uint64_t fork_at;
};

static enum cid_err leaf(const struct tlog *l, uint64_t i, uint8_t out[CID_MERKLE_HASH])
{
	char entry[64];
	int n = snprintf(entry, sizeof(entry), "%s %llu", i >= l->fork_at ? "fork" : "entry",
			 (unsigned long long)i);

	return cid_merkle_leaf_hash(entry, (size_t)n, out);
}

/* A node recomputed from its entries: this log stores nothing. */
static enum cid_err get_node(void *arg, unsigned level, uint64_t index,
			     uint8_t out[CID_MERKLE_HASH])
{
	const struct tlog *l = arg;
	struct cid_merkle_frontier f;
	uint8_t h[CID_MERKLE_HASH];
	enum cid_err rc;

	cid_merkle_frontier_init(&f);
	for (uint64_t i = index << level; i < (index + 1) << level; i++) {
		rc = leaf(l, i, h);
		if (rc == CID_OK)
			rc = cid_merkle_frontier_append(&f, h, NULL, NULL);
		if (rc != CID_OK)
			return rc;
	}
	cid_merkle_frontier_root(&f, out);
	return CID_OK;
}

static int fail(const char *what, enum cid_err rc)
{
	fprintf(stderr, "tlog_tool: %s: %s\n", what, cid_strerror(rc));
	return 1;
}

static int usage(void)
{
	fputs("usage: tlog_tool keygen NAME | checkpoint SKEY SIZE [--fork-at N] |\n"
	      "       body SKEY OLD SIZE [--fork-at N] [--proof-from M] | verify VKEY... < NOTE |\n"
	      "       resign SKEY < NOTE\n",
	      stderr);
	return 2;
}

static bool number(const char *s, uint64_t *out)
{
	return cid_parse_u64(s, strlen(s), 0, (uint64_t)INT64_MAX, out) == CID_OK;
}

/* Appends the signed checkpoint of size entries of l to b. */
static enum cid_err checkpoint(struct tlog *l, const struct cid_note_signer *key, uint64_t size,
			       struct cid_buf *b)
{
	uint8_t root[CID_MERKLE_HASH];
	struct cid_buf text;
	const struct cid_note_signer *ss[] = {key};
	char *note = NULL;
	enum cid_err rc = cid_merkle_root(size, get_node, l, root);

	cid_buf_init(&text, CID_NOTE_MAX_SIZE);
	if (rc == CID_OK)
		rc = cid_checkpoint_format(cid_str_of(cid_note_signer_name(key)), size, root,
					   cid_str_of(""), &text);
	if (rc == CID_OK)
		rc = cid_note_sign((struct cid_str){text.data, text.len}, ss, 1, 0, &note, NULL);
	if (rc == CID_OK)
		cid_buf_puts(b, note);
	free(note);
	cid_buf_free(&text);
	return rc;
}

static enum cid_err body(struct tlog *l, const struct cid_note_signer *key, uint64_t old,
			 uint64_t from, uint64_t size, struct cid_buf *b)
{
	struct cid_merkle_proof p;
	char b64[64];
	enum cid_err rc = cid_merkle_consistency_proof(from, size, get_node, l, &p);

	cid_buf_printf(b, "old %llu\n", (unsigned long long)old);
	for (size_t i = 0; rc == CID_OK && i < p.len; i++) {
		rc = cid_b64_encode(p.hash[i], CID_MERKLE_HASH, b64, sizeof(b64));
		cid_buf_printf(b, "%s\n", b64);
	}
	cid_buf_puts(b, "\n");
	if (rc == CID_OK)
		rc = checkpoint(l, key, size, b);
	return rc;
}

static int verify(int argc, char **argv)
{
	struct cid_note_verifier *vs[16] = {NULL};
	struct cid_note_check checks[16];
	struct cid_note note;
	struct cid_buf in;
	char chunk[4096];
	size_t n, nv = (size_t)argc;
	int status = 1;
	enum cid_err rc = CID_OK;

	if (nv == 0 || nv > 16)
		return usage();
	cid_buf_init(&in, CID_NOTE_MAX_SIZE + 1);
	while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
		cid_buf_append(&in, chunk, n);
	for (size_t i = 0; rc == CID_OK && i < nv; i++)
		rc = cid_note_verifier_parse(cid_str_of(argv[i]), &vs[i]);
	if (rc != CID_OK) {
		status = fail("a vkey", rc);
		goto out;
	}
	rc = cid_buf_status(&in);
	if (rc == CID_OK)
		rc =
		    cid_note_parse((struct cid_str){in.data == NULL ? "" : in.data, in.len}, &note);
	if (rc == CID_OK)
		rc =
		    cid_note_verify(&note, (const struct cid_note_verifier *const *)vs, nv, checks);
	if (rc != CID_OK) {
		status = fail("the note", rc);
		goto out;
	}
	for (size_t i = 0; i < nv; i++)
		if (checks[i].verified)
			printf("ok %llu\n", (unsigned long long)checks[i].time);
		else
			printf("-\n");
	status = 0;
out:
	for (size_t i = 0; i < nv; i++)
		cid_note_verifier_free(vs[i]);
	cid_buf_free(&in);
	return status;
}

/* Reads stdin into in (at most a note's size). */
static enum cid_err read_stdin(struct cid_buf *in)
{
	char chunk[4096];
	size_t n;

	cid_buf_init(in, CID_NOTE_MAX_SIZE + 1);
	while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
		cid_buf_append(in, chunk, n);
	return cid_buf_status(in);
}

static int resign(const char *skey)
{
	struct cid_note_signer *key = NULL;
	struct cid_note note;
	struct cid_buf in;
	char *out = NULL;
	enum cid_err rc = read_stdin(&in);

	if (rc == CID_OK)
		rc = cid_note_signer_parse(cid_str_of(skey), &key);
	if (rc == CID_OK)
		rc =
		    cid_note_parse((struct cid_str){in.data == NULL ? "" : in.data, in.len}, &note);
	if (rc == CID_OK) {
		const struct cid_note_signer *ks[] = {key};

		rc = cid_note_sign(note.text, ks, 1, 0, &out, NULL);
	}
	if (rc == CID_OK)
		fputs(out, stdout);
	free(out);
	cid_note_signer_free(key);
	cid_buf_free(&in);
	return rc == CID_OK ? 0 : fail("resign", rc);
}

int main(int argc, char **argv)
{
	struct tlog l = {UINT64_MAX};
	struct cid_note_signer *key = NULL;
	struct cid_buf out;
	uint64_t a = 0, b = 0, from = UINT64_MAX;
	int status = 1, fixed;
	enum cid_err rc;

	if (argc < 3)
		return usage();
	if (strcmp(argv[1], "verify") == 0)
		return verify(argc - 2, argv + 2);
	if (strcmp(argv[1], "resign") == 0)
		return argc == 3 ? resign(argv[2]) : usage();
	if (strcmp(argv[1], "keygen") == 0) {
		char *skey = NULL, *vkey = NULL;

		if (argc != 3)
			return usage();
		rc = cid_note_signer_new(cid_str_of(argv[2]), CID_NOTE_ED25519, NULL, &key);
		if (rc == CID_OK)
			rc = cid_note_signer_format(key, &skey);
		if (rc == CID_OK)
			rc = cid_note_signer_vkey(key, &vkey);
		if (rc == CID_OK)
			printf("%s\n%s\n", skey, vkey);
		free(skey);
		free(vkey);
		cid_note_signer_free(key);
		return rc == CID_OK ? 0 : fail("keygen", rc);
	}
	fixed = strcmp(argv[1], "checkpoint") == 0 ? 4 : strcmp(argv[1], "body") == 0 ? 5 : 0;
	if (fixed == 0 || argc < fixed)
		return usage();
	for (int i = fixed; i < argc; i += 2) {
		uint64_t *to = strcmp(argv[i], "--fork-at") == 0      ? &l.fork_at
			       : strcmp(argv[i], "--proof-from") == 0 ? &from
								      : NULL;

		if (to == NULL || i + 1 >= argc || !number(argv[i + 1], to))
			return usage();
	}
	if (!number(argv[3], &a) || (fixed == 5 && !number(argv[4], &b)))
		return usage();
	rc = cid_note_signer_parse(cid_str_of(argv[2]), &key);
	if (rc != CID_OK)
		return fail("the private key", rc);
	cid_buf_init(&out, CID_WITNESS_MAX_BODY);
	if (fixed == 4)
		rc = checkpoint(&l, key, a, &out);
	else
		rc = body(&l, key, a, from == UINT64_MAX ? a : from, b, &out);
	if (rc == CID_OK)
		rc = cid_buf_status(&out);
	if (rc == CID_OK) {
		fwrite(out.data, 1, out.len, stdout);
		status = 0;
	} else {
		status = fail(argv[1], rc);
	}
	cid_buf_free(&out);
	cid_note_signer_free(key);
	return status;
}
