/*
 * useragent: a coarse name of the browser and system a request came from,
 * for the citizen's own security page ("Firefox / Linux", the same in every language), never the
 * full User-Agent string. The label is made once, when a session starts or a login is tried, and is
 * all that is kept: fewer bytes of fingerprint in the store, and a label a citizen recognises. The
 * families are a small table, checked in order (Edge and Opera claim to be Chrome, Chrome claims to
 * be Safari); anything else is "" and the page says "unknown".
 */
#ifndef CID_USERAGENT_H
#define CID_USERAGENT_H

#include <stddef.h>

/* Bytes of a label, NUL included: the longest family and system fit. */
#define CID_UA_LABEL_MAX 40

/*
 * Writes the label of the User-Agent header value ua (NULL or any bytes; only
 * the first CID_UA_SCAN bytes are read) into out: "BROWSER / SYSTEM",
 * "BROWSER" or "SYSTEM" alone when only one is known, "" when neither.
 * Never allocates; thread-safe.
 */
void cid_useragent_label(const char *ua, char out[CID_UA_LABEL_MAX]);

/* How many bytes of a User-Agent value are read. */
#define CID_UA_SCAN 512

#endif
