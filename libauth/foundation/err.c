/*
 * err: descriptions of enum cid_err, indexed by value so a new error cannot
 * be added without its text (the static assert below checks the count).
 */
#include "err.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

static const char *const messages[] = {
    [CID_OK] = "success",
    [CID_ERR_NOMEM] = "out of memory",
    [CID_ERR_INVALID] = "invalid input",
    [CID_ERR_TOOBIG] = "input or output too large",
    [CID_ERR_UTF8] = "not valid UTF-8 text",
    [CID_ERR_DUPLICATE] = "parameter given more than once",
    [CID_ERR_NOTFOUND] = "not found",
    [CID_ERR_EXISTS] = "already exists",
    [CID_ERR_DENIED] = "credentials or signature do not match",
    [CID_ERR_EXPIRED] = "expired",
    [CID_ERR_REVOKED] = "revoked or already used",
    [CID_ERR_DISABLED] = "disabled",
    [CID_ERR_THROTTLED] = "too many failed attempts; try again later",
    [CID_ERR_LOCKED] = "too many failed attempts in a row; locked until an operator unlocks it",
    [CID_ERR_STORE] = "store (LMDB) error",
    [CID_ERR_CRYPTO] = "cryptographic library error",
    [CID_ERR_IO] = "file or system error",
    [CID_ERR_CONFIG] = "invalid configuration",
    [CID_ERR_TOOEARLY] = "not yet: allowed only from a later time",
    [CID_ERR_REFUSED] = "not allowed by the rules in force",
    [CID_ANSWERED] = "answered: the reply already holds the answer",
};

_Static_assert(sizeof(messages) / sizeof(messages[0]) == CID_ERR_COUNT,
	       "every enum cid_err needs a message");

const char *cid_strerror(enum cid_err err)
{
	if ((unsigned)err >= CID_ERR_COUNT || messages[err] == NULL)
		return "unknown error";
	return messages[err];
}

void cid_err_why(char *why, size_t whysz, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || whysz == 0)
		return;
	va_start(ap, fmt);
	if (vsnprintf(why, whysz, fmt, ap) < 0)
		why[0] = '\0';
	va_end(ap);
}
