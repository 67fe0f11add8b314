/*
 * Fuzz target: add-checkpoint request bodies (cid_witness_add_checkpoint),
 * which a witness reads from anyone who can reach it. The witness runs on a
 * real store in a temporary directory, made once, following one log whose
 * key is fixed (RFC 8032's second test key), so seeds made with that key get
 * past the signature. Whatever the bytes, the call must succeed with one of
 * the verdicts and the status tlog-witness gives it, a body ending in a
 * newline, and the content type the status needs; a cosignature can only be
 * for a checkpoint that key signed, which a fuzzer cannot forge.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"
#include "witness.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ORIGIN	 "city.example/civicid/audit"
#define LOG_VKEY ORIGIN "+ba7b88f2+AT1AF8PoQ4lakrcKp00bfrycmCzPLsSWjMDNVfEq9GYM"

/* Made once: libFuzzer runs millions of inputs in one process. */
static struct cid_store *store;
static struct cid_witness *witness;
static char dir[] = "/tmp/civicid-fuzz-witness-XXXXXX";

static void remove_store(void)
{
	char path[512];
	const char *files[] = {"data.mdb", "lock.mdb"};

	cid_witness_free(witness);
	cid_store_close(store);
	for (size_t i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
	}
	rmdir(dir);
}

static bool contains(const uint8_t *data, size_t size, const char *s)
{
	size_t n = strlen(s);

	for (size_t i = 0; i + n <= size; i++)
		if (memcmp(data + i, s, n) == 0)
			return true;
	return false;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) // NOLINT(readability-non-const-parameter)
{
	char *vkey = NULL;

	(void)argc;
	(void)argv;
	if (mkdtemp(dir) == NULL || cid_store_open(dir, &store) != CID_OK ||
	    cid_witness_init(store, "witness.example/fuzz", 1000, &vkey) != CID_OK ||
	    cid_witness_add_log(store, ORIGIN, LOG_VKEY) != CID_OK ||
	    cid_witness_open(store, &witness) != CID_OK)
		abort();
	free(vkey);
	atexit(remove_store);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cid_witness_result r;
	int want;
	enum cid_err rc;

	if (witness == NULL)
		LLVMFuzzerInitialize(NULL, NULL);
	rc = cid_witness_add_checkpoint(witness, (const char *)data, size, 2000, &r);
	if (rc == CID_ERR_NOMEM)
		return 0;
	if (rc != CID_OK || r.body == NULL || r.body[0] == '\0' ||
	    r.body[strlen(r.body) - 1] != '\n' || r.content_type == NULL)
		abort();
	switch (r.verdict) {
	case CID_WITNESS_COSIGNED: want = 200; break;
	case CID_WITNESS_MALFORMED: want = 400; break;
	case CID_WITNESS_UNKNOWN_ORIGIN: want = 404; break;
	case CID_WITNESS_BAD_SIGNATURE: want = 403; break;
	case CID_WITNESS_CONFLICT: want = 409; break;
	case CID_WITNESS_ROLLBACK: want = r.status == 400 ? 400 : 409; break;
	default: want = 422; break;
	}
	if (r.status != want ||
	    (r.status == 409) != (strcmp(r.content_type, "text/x.tlog.size") == 0))
		abort();
	/* only the log's key gets a cosignature: its checkpoint follows the blank line */
	if (r.verdict == CID_WITNESS_COSIGNED && !contains(data, size, "\n\n" ORIGIN "\n"))
		abort();
	cid_witness_result_clear(&r);
	return 0;
}
