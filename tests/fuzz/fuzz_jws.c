/*
 * Fuzz target: compact JWS verification (cid_jws_verify), which reads every
 * bearer token, introspected token and id_token_hint a caller sends. Whatever
 * the bytes, it must fail with an error jose.h lists or return a JSON object;
 * an input that verifies must have been signed by one of our keys, which a
 * fuzzer cannot forge: a success is only possible for the seeds we sign here.
 * The keyset comes from a real store in a temporary directory, made once.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jose.h"
#include "store.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Made once: libFuzzer runs millions of inputs in one process. */
static struct cid_keyset *keyset;
static char *genuine; /* a token we signed, to check that verification can succeed */

static void remove_tree(const char *dir)
{
	char path[512];
	const char *files[] = {"data.mdb", "lock.mdb"};

	for (size_t i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
	}
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) // NOLINT(readability-non-const-parameter)
{
	char dir[] = "/tmp/civicid-fuzz-jws-XXXXXX";
	struct cid_store *s = NULL;
	json_t *claims = json_pack("{s:s, s:i}", "sub", "fuzz", "exp", 2000000000);

	(void)argc;
	(void)argv;
	if (mkdtemp(dir) == NULL || cid_store_open(dir, &s) != CID_OK ||
	    cid_keys_ensure(s, 1000) != CID_OK || cid_keyset_load(s, 1000, &keyset) != CID_OK ||
	    cid_jws_sign(keyset, "ES256", "at+jwt", claims, &genuine) != CID_OK)
		abort();
	cid_store_close(s);
	remove_tree(dir);
	json_decref(claims);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const typs[] = {NULL, "at+jwt", "JWT"};
	json_t *out = NULL;
	char *token;

	if (keyset == NULL)
		LLVMFuzzerInitialize(NULL, NULL);
	token = malloc(size + 1);
	if (token == NULL)
		return 0;
	memcpy(token, data, size);
	token[size] = '\0';
	for (size_t i = 0; i < 3; i++) {
		enum cid_err rc = cid_jws_verify(keyset, token, size, typs[i], &out);
		switch (rc) {
		case CID_OK:
			/* only our own token can verify, and only as an object */
			if (!json_is_object(out) || strcmp(token, genuine) != 0)
				abort();
			json_decref(out);
			out = NULL;
			break;
		case CID_ERR_INVALID:
		case CID_ERR_DENIED:
		case CID_ERR_TOOBIG:
		case CID_ERR_NOMEM: break;
		default: abort();
		}
	}
	free(token);
	return 0;
}
