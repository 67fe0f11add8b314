/*
 * Fuzz target: TZif files (cid_tz_parse), which civicid reads at start from
 * the zone directory, and its footer's POSIX TZ rules. Whatever the bytes,
 * the parse ends with an error tz.h lists, or with a zone whose every lookup
 * (before, between and after its transitions) stays in its arrays and gives
 * an offset within the range the parser allows, and whose times format.
 */
#include "tz.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int64_t probes[] = {
	    INT64_MIN / 4, -5364662400,	  -1, 0, 1, 1796388900, 1774746000, 4118079600,
	    253402300799,  INT64_MAX / 4,
	};
	struct cid_tz *tz = NULL;
	char text[CID_TZ_TEXT_MAX];

	switch (cid_tz_parse(data, size, "fuzz", &tz)) {
	case CID_OK: break;
	case CID_ERR_INVALID:
	case CID_ERR_TOOBIG:
	case CID_ERR_NOMEM:
		if (tz != NULL)
			abort(); /* a failed parse hands nothing out */
		return 0;
	default: abort(); /* an error tz.h does not list */
	}
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		int32_t off = cid_tz_offset(tz, probes[i]);
		enum cid_err rc;

		/* RFC 8536's range of offsets, and the footer's ±24:59:59 */
		if (off < -89999 || off > 93599)
			abort();
		rc = cid_tz_format(tz, probes[i], (i & 1) ? "en" : "ja", (i & 2) != 0, text);
		if (rc != CID_OK && rc != CID_ERR_INVALID)
			abort();
	}
	cid_tz_free(tz);
	return 0;
}
