/*
 * audit_publish: what the server publishes of its audit log, so that anyone
 * can check the log's checkpoints and proofs without asking civicid again:
 * GET /.well-known/civicid-audit answers the verifier keys of every audit
 * key ever made (cid_audit_vkeys: {"origin", "vkeys", "active"}), the
 * document `civicid audit verify --vkeys` and `verify-proof --vkeys` read.
 * Thread-safe: the rows are static, the keys are read from the store.
 */
#ifndef CID_AUDIT_PUBLISH_H
#define CID_AUDIT_PUBLISH_H

#include "reply.h"

#include <stddef.h>

/* The path of the verifier keys document. */
#define CID_AUDIT_VKEYS_PATH "/.well-known/civicid-audit"

/* The rows of the endpoint table (endpoints.h) this module answers; *n gets their number. */
const struct cid_endpoint *cid_audit_endpoints(size_t *n);

#endif
