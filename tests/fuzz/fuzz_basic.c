/*
 * Fuzz target: HTTP Basic client credentials (cid_oidc_parse_basic), the
 * first thing the token endpoint reads from an unauthenticated caller.
 * Whatever the input, the outcome must be one oidc.h promises.
 */
#include "oidc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *header = malloc(size + 1);
	char *id = NULL;
	char *secret = NULL;

	if (header == NULL)
		return 0;
	memcpy(header, data, size);
	header[size] = '\0';
	switch (cid_oidc_parse_basic(header, &id, &secret)) {
	case CID_OK:
		/* what we return must be NUL-free UTF-8 with a non-empty id */
		if (id[0] == '\0' || !cid_utf8_valid(id, strlen(id)) ||
		    !cid_utf8_valid(secret, strlen(secret)))
			abort();
		break;
	case CID_ERR_INVALID:
	case CID_ERR_TOOBIG:
	case CID_ERR_NOMEM:
		/* a failed parse hands nothing out */
		if (id != NULL || secret != NULL)
			abort();
		break;
	default: abort(); /* an error oidc.h does not list */
	}
	free(id);
	free(secret);
	free(header);
	return 0;
}
