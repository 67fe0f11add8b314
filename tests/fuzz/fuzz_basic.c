/*
 * Fuzz target: HTTP Basic client credentials (cid_oidc_parse_basic), the
 * first thing the token endpoint reads from an unauthenticated caller.
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
	if (cid_oidc_parse_basic(header, &id, &secret) == CID_OK) {
		/* what we return must be NUL-free UTF-8 with a non-empty id */
		if (id[0] == '\0' || !cid_utf8_valid(id, strlen(id)) ||
		    !cid_utf8_valid(secret, strlen(secret)))
			abort();
	}
	free(id);
	free(secret);
	free(header);
	return 0;
}
