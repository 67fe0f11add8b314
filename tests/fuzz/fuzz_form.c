/*
 * Fuzz target: application/x-www-form-urlencoded bodies and query strings
 * (cid_params_parse_form), read from every unauthenticated request. Whatever
 * the input, what the parser keeps must honour str.h's promise: at most
 * CID_MAX_PARAMS distinct, non-empty names, every name and value valid UTF-8
 * without NUL, within the length limits; an error is one the header lists.
 * A successful parse must also survive a round trip: encoding the pairs again
 * with cid_buf_append_urlenc and parsing that gives the same pairs.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "buf.h"
#include "str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_params(const struct cid_params *p)
{
	if (p->n > CID_MAX_PARAMS)
		abort();
	for (size_t i = 0; i < p->n; i++) {
		const struct cid_param *it = &p->items[i];
		size_t name_len = strlen(it->name);

		if (name_len == 0 || name_len > CID_MAX_PARAM_NAME ||
		    !cid_utf8_valid(it->name, name_len))
			abort();
		/* value_len covers the whole value: no NUL hides inside it */
		if (it->value_len > cid_param_value_max(it->name, name_len) ||
		    strlen(it->value) != it->value_len || !cid_utf8_valid(it->value, it->value_len))
			abort();
		/* names are distinct, so the lookup finds this very pair; an empty
		 * value reads as omitted (RFC 6749 3.1) */
		if (cid_params_get(p, it->name) != (it->value_len == 0 ? NULL : it->value))
			abort();
	}
}

static void check_round_trip(const struct cid_params *p)
{
	struct cid_params again = {0};
	struct cid_buf b;
	size_t len = 0;

	cid_buf_init(&b, (size_t)1024 * 1024);
	for (size_t i = 0; i < p->n; i++) {
		if (i > 0)
			cid_buf_append(&b, "&", 1);
		cid_buf_append_urlenc(&b, p->items[i].name, strlen(p->items[i].name));
		cid_buf_append(&b, "=", 1);
		cid_buf_append_urlenc(&b, p->items[i].value, p->items[i].value_len);
	}
	char *enc = cid_buf_take(&b, &len);
	if (enc == NULL)
		abort(); /* 32 pairs of at most 3 * (64 + 4096) bytes fit in 1 MiB */
	if (cid_params_parse_form(&again, enc, len) != CID_OK || again.n != p->n)
		abort();
	for (size_t i = 0; i < p->n; i++) {
		const struct cid_param *orig = &p->items[i], *back = &again.items[i];
		if (strcmp(orig->name, back->name) != 0 || orig->value_len != back->value_len ||
		    memcmp(orig->value, back->value, orig->value_len) != 0)
			abort();
	}
	cid_params_clear(&again);
	free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cid_params p = {0};
	enum cid_err rc = cid_params_parse_form(&p, (const char *)data, size);

	switch (rc) {
	case CID_OK:
		check_params(&p);
		check_round_trip(&p);
		break;
	case CID_ERR_INVALID:
	case CID_ERR_TOOBIG:
	case CID_ERR_UTF8:
	case CID_ERR_DUPLICATE:
	case CID_ERR_NOMEM:
		/* the pairs before the bad one may remain: they must be sound too */
		check_params(&p);
		break;
	default: abort(); /* an error str.h does not list */
	}
	cid_params_clear(&p);
	if (p.n != 0)
		abort();
	return 0;
}
