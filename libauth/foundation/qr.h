/*
 * qr: a QR code as data a page template draws, so the code shows as inline
 * SVG without any markup built in C and without loosening the pages'
 * Content-Security-Policy (no data: image). Made with libqrencode, error
 * correction level M, 8-bit mode (an otpauth:// URI is ASCII). Each row's
 * dark modules are merged into horizontal runs, so the page holds a few
 * hundred rectangles, not a thousand squares. Thread-safe.
 */
#ifndef CID_QR_H
#define CID_QR_H

#include "err.h"

#include <jansson.h>

/* The longest text a QR code is made of (an otpauth URI is far shorter). */
#define CID_QR_MAX_TEXT 512

/* The quiet zone around the code, in modules (ISO/IEC 18004 asks for 4). */
#define CID_QR_QUIET 4

/*
 * The QR code of text (1..CID_QR_MAX_TEXT bytes, NUL-terminated) into *out
 * (new reference): {"size": width in modules with the quiet zone on each
 * side, "runs": [{"x", "y", "w"}]} where each run is w dark modules from
 * column x of row y, both counted with the quiet zone. Written only on
 * success. Errors: CID_ERR_INVALID (text NULL, empty or longer),
 * CID_ERR_NOMEM (libqrencode or jansson failed).
 */
CID_MUST_CHECK enum cid_err cid_qr_runs(const char *text, json_t **out);

#endif
