/*
 * audit_head: the head of the audit log, the number of entries and the hash
 * of the last, as every reader of the log sees it (audit_head.c). Included by
 * audit.h; its own header so that the files below the chain's write path
 * (the tree) name the head without naming the chain.
 */
#ifndef CID_AUDIT_HEAD_H
#define CID_AUDIT_HEAD_H

#include "err.h"
#include "store.h"

#include <stdint.h>

#define CID_AUDIT_HASH_HEX 65 /* 64 hex digits and NUL */

/* The head: number of entries and the hash of the last (64 zeros when empty). */
CID_MUST_CHECK enum cid_err cid_audit_head(struct cid_txn *txn, uint64_t *size,
					   char hash[CID_AUDIT_HASH_HEX]);

#endif
