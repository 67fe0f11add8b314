/*
 * qr: libqrencode's module matrix turned into runs of dark modules per row.
 * Only bit 0 of each matrix byte (dark) is read; the rest is libqrencode's
 * bookkeeping. The matrix may hold a secret (an otpauth URI), so it is wiped
 * before it is freed.
 */
#include "qr.h"

#include "crypto.h"

#include <qrencode.h>
#include <string.h>

/* Appends one run to runs; false when out of memory. */
static bool add_run(json_t *runs, int x, int y, int w)
{
	return json_array_append_new(runs, json_pack("{s:i, s:i, s:i}", "x", x + CID_QR_QUIET, "y",
						     y + CID_QR_QUIET, "w", w)) == 0;
}

enum cid_err cid_qr_runs(const char *text, json_t **out)
{
	enum cid_err rc = CID_OK;
	size_t len = text == NULL ? 0 : strnlen(text, CID_QR_MAX_TEXT + 1);
	QRcode *code = NULL;
	json_t *runs = NULL;
	json_t *obj = NULL;

	CID_ENSURE(len >= 1 && len <= CID_QR_MAX_TEXT, CID_ERR_INVALID);
	code = QRcode_encodeString8bit(text, 0, QR_ECLEVEL_M);
	CID_ENSURE(code != NULL && code->width > 0, CID_ERR_NOMEM);
	runs = json_array();
	CID_ENSURE(runs != NULL, CID_ERR_NOMEM);
	for (int y = 0; y < code->width; y++) {
		const unsigned char *row = code->data + (size_t)y * (size_t)code->width;
		int start = -1;

		for (int x = 0; x <= code->width; x++) {
			bool dark = x < code->width && (row[x] & 1) != 0;

			if (dark && start < 0)
				start = x;
			if (!dark && start >= 0) {
				CID_ENSURE(add_run(runs, start, y, x - start), CID_ERR_NOMEM);
				start = -1;
			}
		}
	}
	obj = json_pack("{s:i, s:O}", "size", code->width + 2 * CID_QR_QUIET, "runs", runs);
	CID_ENSURE(obj != NULL, CID_ERR_NOMEM);
	*out = obj;
	obj = NULL;
out:
	if (code != NULL) {
		cid_wipe(code->data, (size_t)code->width * (size_t)code->width);
		QRcode_free(code);
	}
	json_decref(runs);
	json_decref(obj);
	return rc;
}
