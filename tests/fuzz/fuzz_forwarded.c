/*
 * Fuzz target: the forwarding headers a client can write into
 * (X-Forwarded-For, Forwarded), read by cid_netaddr_client behind a trusted
 * proxy. The input is the X-Forwarded-For value, then after the first
 * newline (if any) the Forwarded value. Whatever they hold, the answer must
 * be a canonical address (the peer's or one read from a hop), never garbage.
 */
#include "bounds.h"
#include "netaddr.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	char *forwarded = NULL;
	struct cid_netaddr_set *trusted = NULL;
	char err[128];
	char out[CID_NETADDR_TEXT_MAX];
	char again[CID_NETADDR_TEXT_MAX];
	struct cid_netaddr a;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	forwarded = strchr(text, '\n');
	if (forwarded != NULL)
		*forwarded++ = '\0';
	if (cid_netaddr_set_parse("127.0.0.1 10.0.0.0/8 2001:db8::/32", &trusted, err,
				  sizeof(err)) != CID_OK)
		abort();
	cid_netaddr_client(trusted, "127.0.0.1", text, forwarded, out);
	/* the peer is readable, so there is always an answer, and it is canonical */
	if (cid_netaddr_parse(out, strlen(out), &a) != CID_OK)
		abort();
	cid_netaddr_format(&a, again);
	if (strcmp(out, again) != 0)
		abort();
	cid_netaddr_set_free(trusted);
	/* the same bytes as a trusted_proxies value: parsed or refused, never more */
	trusted = NULL;
	if (cid_netaddr_set_parse(text, &trusted, err, sizeof(err)) == CID_OK &&
	    cid_netaddr_set_count(trusted) > CID_MAX_TRUSTED_PROXIES)
		abort();
	cid_netaddr_set_free(trusted);
	free(text);
	return 0;
}
