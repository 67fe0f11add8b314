/*
 * Fuzz target: the audit log verifier's fast scan of an entry's bytes
 * (audit_scan.c), which vouches for an entry without jansson. Its promise is
 * one-sided and this target checks it against jansson on every input: an
 * entry the scan accepts must be one jansson reads as canonical (sorted
 * members, compact, every value of the kinds the log allows: audit_canon_ok)
 * with the same seq and prev the scan read. Declining is always allowed
 * (the verifier then asks jansson).
 * And the log's own canonical writer (audit_canon_append), on every input
 * jansson reads and audit_canon_ok accepts: its bytes must be jansson's.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit_int.h"
#include "buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* audit_canon_append against jansson's json_dump_callback, on what audit_canon_ok accepts. */
static void canon_writer(const char *p, size_t size)
{
	json_t *v = json_loadb(p, size, JSON_DECODE_ANY, NULL);
	struct cid_buf mine;
	struct cid_buf theirs;

	if (v == NULL)
		return;
	if (audit_canon_ok(v, 0)) {
		cid_buf_init(&mine, 1 << 20);
		cid_buf_init(&theirs, 1 << 20);
		audit_canon_append(&mine, v);
		cid_buf_append_json(&theirs, v, AUDIT_CANON_FLAGS);
		if (cid_buf_status(&mine) != cid_buf_status(&theirs) ||
		    (cid_buf_status(&mine) == CID_OK &&
		     (mine.len != theirs.len || memcmp(mine.data, theirs.data, mine.len) != 0)))
			abort(); /* the log's writer and jansson's disagree */
		cid_buf_free(&mine);
		cid_buf_free(&theirs);
	}
	json_decref(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	struct audit_scan sc;
	json_t *e;
	char *dump;
	const char *prev;
	json_int_t seq;

	canon_writer(p, size);
	if (!audit_entry_scan(p, size, &sc))
		return 0;
	e = json_loadb(p, size, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(e) || !audit_canon_ok(e, 0))
		abort(); /* the scan vouched for what jansson refuses */
	dump = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS);
	if (dump == NULL || strlen(dump) != size || memcmp(dump, p, size) != 0)
		abort(); /* not the canonical bytes */
	seq = json_integer_value(json_object_get(e, "seq"));
	prev = json_string_value(json_object_get(e, "prev"));
	if (!json_is_integer(json_object_get(e, "seq")) || prev == NULL || seq < 0 ||
	    (uint64_t)seq != sc.seq || strlen(prev) != sc.prev_len ||
	    memcmp(prev, sc.prev, sc.prev_len) != 0)
		abort(); /* another seq or prev than the scan read */
	free(dump);
	json_decref(e);
	return 0;
}
