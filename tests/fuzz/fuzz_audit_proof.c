/*
 * Fuzz target: the audit files a verifier is handed by others, offline:
 * a proof (cid_audit_proof_verify: a C2SP tlog-proof or the consistency
 * JSON), a vkeys file (cid_audit_trust_parse) and a witness's checkpoint or
 * state (cid_audit_witness_checkpoint_read). Whatever the bytes, a proof is
 * CID_OK with a result (a proof that does not hold is a result, not an
 * error: ok with no reason, or not ok with one), a vkeys file parses or is
 * refused with an error audit.h lists. The trust is the fixed vkey the seeds
 * were signed with (no private key here), so the seeds "inclusion" and
 * "consistency" hold.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char vkey[] = "id.example/audit+713eab9c+AceIP/zTRSaZhc9Biqeb+j6oTMJr7ctbGIhuQxhuzWi0";

/* Made once: libFuzzer runs millions of inputs in one process. */
static struct cid_audit_trust *trust;

int LLVMFuzzerInitialize(int *argc, char ***argv) // NOLINT(readability-non-const-parameter)
{
	(void)argc;
	(void)argv;
	if (cid_audit_trust_parse(vkey, sizeof(vkey) - 1, &trust) != CID_OK)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct cid_audit_proof_result r;
	struct cid_audit_trust *t = NULL;
	char *note = NULL;
	size_t len = 0;
	enum cid_err rc;

	if (trust == NULL)
		LLVMFuzzerInitialize(NULL, NULL);
	rc = cid_audit_proof_verify(size == 0 ? "" : text, size, trust, &r);
	if (rc != CID_OK && rc != CID_ERR_NOMEM && rc != CID_ERR_CRYPTO)
		abort();
	if (rc == CID_OK &&
	    (r.ok != (r.reason[0] == '\0') || memchr(r.reason, '\0', sizeof(r.reason)) == NULL ||
	     (r.ok && r.inclusion && r.seq >= r.size) ||
	     (r.ok && !r.inclusion && r.old_size > r.size)))
		abort();
	rc = cid_audit_trust_parse(size == 0 ? "" : text, size, &t);
	if (rc != CID_OK && rc != CID_ERR_INVALID && rc != CID_ERR_TOOBIG && rc != CID_ERR_NOMEM)
		abort();
	if (rc == CID_OK && cid_audit_trust_origin(t)[0] == '\0')
		abort();
	cid_audit_trust_free(t);
	rc = cid_audit_witness_checkpoint_read(size == 0 ? "" : text, size, "id.example/audit",
					       &note, &len);
	if (rc != CID_OK && rc != CID_ERR_INVALID && rc != CID_ERR_NOTFOUND && rc != CID_ERR_NOMEM)
		abort();
	if (rc == CID_OK && strlen(note) > len)
		abort();
	free(note);
	return 0;
}
