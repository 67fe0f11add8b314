/*
 * jose: signing keys, JWS compact signing and verification, and the JWKS.
 *
 * Keys live in the store (CID_DB_KEYS, key = kid) as
 *   {"kid", "alg": "ES256"|"RS256", "private_pem",
 *    "state": "next"|"active"|"retired", "created_at",
 *    "activate_at" (next), "activated_at" (active, when it was a next key),
 *    "retired_at", "drop_after" (retired)}
 * kid is the RFC 7638 thumbprint of the public key. At first start one ES256
 * (P-256) and one RS256 (RSA 2048) key are generated.
 *
 * A key's life: next -> active -> retired -> dropped. A next key is published
 * in the JWKS but signs nothing; from its activate_at it may become the active
 * key (a running server does that by itself, cid_ctx_keys_refresh), so relying
 * parties that refresh their JWKS cache within that delay know it before its
 * first token (the staged rotation of Keycloak and Hydra). The active key signs;
 * at most one per algorithm. A retired key stays in the JWKS for verification
 * until drop_after (retire time + keep, the longest token lifetime); after that
 * it is no longer loaded. cid_keys_rotate skips the wait: the new key signs at
 * once; with keep 0 it also withdraws the old key at once, which neither
 * verifies nor is published from then on (for a key that may be compromised:
 * a key kept for verification still lets whoever holds it forge tokens that
 * verify). cid_keys_drop withdraws a key already retired. Private keys are
 * never printed or returned: cid_keys_list gives public data only.
 *
 * On the record. Every change of which keys sign and which are accepted is
 * told, inside the write transaction that makes it, to a hook
 * (cid_keys_change): the audit log's (cid_audit_keys_change, audit.h) writes
 * each as an entry of that same transaction, so no change is made without its
 * entry. cid_keys_rotate, cid_keys_publish, cid_keys_activate,
 * cid_keys_activate_due and cid_keys_drop tell no hook: they are for a store
 * without a log (tests, tools); the CLI and the server go through the audit
 * log's. The first keys (cid_keys_ensure) are not told either.
 *
 * A cid_keyset is an immutable snapshot: every key parsed into an EVP_PKEY once,
 * and the JWKS document serialised once. Signing uses EVP_DigestSign directly
 * (ECDSA DER signatures converted to JWS r||s), so nothing is parsed per token.
 * A keyset is safe to use from many threads at once. META "keys_version" counts
 * changes so a running server can notice a rotation made by the CLI.
 */
#ifndef CID_JOSE_H
#define CID_JOSE_H

#include "err.h"
#include "store.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cid_keyset;

/*
 * Generates an active key for each of ES256 and RS256 that has none.
 * Errors: CID_ERR_CRYPTO, CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err cid_keys_ensure(struct cid_store *s, int64_t now);

/*
 * Makes a new active key for alg ("ES256" or "RS256") at once and retires the
 * current one, and a published next key of alg if any, kept for verification
 * until now + keep seconds (drop_after). keep 0 withdraws them at once: a
 * keyset loaded from now on neither publishes them nor verifies with them, so
 * whatever they signed (a forgery too) is refused (for a compromised key).
 * Relying parties whose cached JWKS lacks the new key fail on its tokens
 * until they refetch; a planned rotation uses cid_keys_publish. *kid_out (may
 * be NULL; caller frees) is the new kid.
 * Errors: CID_ERR_INVALID (alg, keep < 0), CID_ERR_CRYPTO, CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err cid_keys_rotate(struct cid_store *s, const char *alg, int64_t now,
					    int64_t keep, char **kid_out);

/*
 * True if s has the shape of a kid of civicid's: an RFC 7638 SHA-256
 * thumbprint in base64url, 43 characters (one may begin with '-', which a
 * command line must not take for an option). Shape only: whether such a key
 * exists is cid_keys_list's to say.
 */
bool cid_kid_syntax_ok(const char *s);

/*
 * Withdraws the key kid at now, for a key that may be compromised after it
 * was retired with an overlap: a retired key's drop_after becomes now, a next
 * key is retired with drop_after now. A keyset loaded from now on neither
 * publishes it nor verifies with it; keys_version changes, so a running
 * server reloads. *dropped (may be NULL): false when the key was already
 * past its drop_after (nothing changed).
 * Errors: CID_ERR_INVALID (kid NULL), CID_ERR_NOTFOUND (no such key),
 * CID_ERR_REFUSED (kid is an active key: rotate it instead), CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err cid_keys_drop(struct cid_store *s, const char *kid, int64_t now,
					  bool *dropped);

/*
 * Publishes a next key for alg: in the JWKS from the next keyset load, signing
 * nothing until it is activated, which it may be from now + delay
 * (activate_at). *kid_out (may be NULL; caller frees) is its kid.
 * Errors: CID_ERR_INVALID (alg, delay < 0), CID_ERR_EXISTS (a next key of alg
 * is already published: activate it first), CID_ERR_CRYPTO, CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err cid_keys_publish(struct cid_store *s, const char *alg, int64_t now,
					     int64_t delay, char **kid_out);

/*
 * Makes the next key of alg the active key; the active key of alg is retired,
 * kept for verification until now + keep. The rule of when: from the next
 * key's activate_at on (now >= activate_at), or at any time with force.
 * *kid_out (may be NULL; caller frees) is the kid now active.
 * Errors: CID_ERR_INVALID (alg, keep < 0), CID_ERR_NOTFOUND (no next key of
 * alg), CID_ERR_TOOEARLY (before activate_at, without force), CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err cid_keys_activate(struct cid_store *s, const char *alg, int64_t now,
					      int64_t keep, bool force, char **kid_out);

/*
 * cid_keys_activate, without force, for every algorithm whose next key's
 * activate_at has come; nothing for the others. *n_out (may be NULL): how many
 * keys were activated. One transaction: servers sharing a store may all call
 * it; a key is activated once.
 * Errors: CID_ERR_INVALID (keep < 0), CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err cid_keys_activate_due(struct cid_store *s, int64_t now, int64_t keep,
						  size_t *n_out);

/* What cid_keys_change does. */
enum cid_keys_verb {
	CID_KEYS_ROTATE,       /* cid_keys_rotate: alg, span = keep (0: withdraws the old keys) */
	CID_KEYS_PUBLISH,      /* cid_keys_publish: alg, span = delay */
	CID_KEYS_ACTIVATE,     /* cid_keys_activate: alg, span = keep, force */
	CID_KEYS_ACTIVATE_DUE, /* cid_keys_activate_due: span = keep */
	CID_KEYS_DROP,	       /* cid_keys_drop: kid */
};

struct cid_keys_op {
	enum cid_keys_verb verb;
	const char *alg; /* ROTATE, PUBLISH, ACTIVATE: "ES256" or "RS256" */
	const char *kid; /* DROP */
	int64_t now;
	int64_t span; /* ROTATE, ACTIVATE, ACTIVATE_DUE: keep; PUBLISH: delay */
	bool force;   /* ACTIVATE */
};

/* What cid_keys_change did. */
struct cid_keys_result {
	char *kid;	  /* ROTATE, PUBLISH, ACTIVATE: the new or activated key (caller frees) */
	bool dropped;	  /* DROP: the key was still live (false: already withdrawn) */
	size_t activated; /* ACTIVATE_DUE: keys activated */
};

/* One change of the keyset, as told to a cid_keys_hook. */
enum cid_key_event {
	CID_KEY_PUBLISHED, /* kid is published in the JWKS, signing nothing before at */
	CID_KEY_ACTIVATED, /* kid signs from now; previous (NULL: none) no longer signs
			      and verifies until previous_until */
	CID_KEY_WITHDRAWN, /* kid is out of the JWKS from now: what it signed is refused */
};

struct cid_key_change {
	enum cid_key_event event;
	const char *kid; /* borrowed for the call */
	const char *alg; /* "ES256" or "RS256" */
	int64_t now;
	int64_t at;		/* PUBLISHED: its activate_at */
	const char *previous;	/* ACTIVATED: the active key it replaces, or NULL */
	int64_t previous_until; /* ACTIVATED with previous: its drop_after */
};

/*
 * Told each change inside the write transaction that makes it (which may run
 * again, after the store's map grew: the hook then writes again, the first
 * run's writes being gone). An error aborts the transaction: the change is
 * not made, and cid_keys_change returns the error.
 */
typedef enum cid_err (*cid_keys_hook)(struct cid_txn *txn, const struct cid_key_change *c,
				      void *arg);

/*
 * Does op as the function its verb names does (same rules, same errors) and
 * tells hook (NULL: nobody) every change in the same transaction: a
 * published next key (PUBLISHED); a key that starts signing (ACTIVATED),
 * naming the active key it retires; each key withdrawn at once (WITHDRAWN):
 * the keys a rotation with keep 0 retires, the key dropped. A key retired
 * with keep > 0 is withdrawn when drop_after passes, by no transaction: the
 * ACTIVATED change says when (previous_until). A call that changes nothing
 * (a drop of a key already withdrawn, ACTIVATE_DUE with nothing due) tells
 * nothing. *out (may be NULL; zeroed first) gets what was done.
 * Errors: CID_ERR_INVALID (op NULL, an unknown verb), those of the verb's
 * function, those of hook.
 */
CID_MUST_CHECK enum cid_err cid_keys_change(struct cid_store *s, const struct cid_keys_op *op,
					    cid_keys_hook hook, void *arg,
					    struct cid_keys_result *out);

/*
 * Public view of every stored key: array of {"kid","alg","state","created_at",
 * "activate_at"?, "activated_at"?, "retired_at"?, "drop_after"?}, by kid.
 * *out: new reference.
 */
CID_MUST_CHECK enum cid_err cid_keys_list(struct cid_store *s, json_t **out);

/* The store's keys_version counter (0 when no key was ever made). */
CID_MUST_CHECK enum cid_err cid_keys_version(struct cid_store *s, uint64_t *out);

/*
 * Loads every key not past drop_after at now into a new keyset (*out, freed
 * with cid_keyset_free): the active keys sign, and every key (next and
 * retired ones too) is in its JWKS and verifies. Errors: CID_ERR_NOTFOUND (no
 * active key for ES256 or RS256: call cid_keys_ensure first), CID_ERR_CRYPTO,
 * CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err cid_keyset_load(struct cid_store *s, int64_t now,
					    struct cid_keyset **out);

/*
 * Loads every stored key, retired ones past drop_after included, into a new
 * keyset: for verifying old signatures (audit checkpoints), never for tokens.
 * Signing with it uses the newest active key of the alg, if any (else
 * CID_ERR_INVALID). Errors: CID_ERR_CRYPTO, CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_keyset_load_all(struct cid_store *s, struct cid_keyset **out);

/*
 * A verify-only keyset from a JWKS document ({"keys":[...]}, len bytes, e.g.
 * the output of cid_keyset_jwks or a published jwks_uri), for checking
 * signatures offline. Public EC P-256 keys (on the curve) verify ES256 and
 * RSA keys (an odd composite modulus of 2048 to 4096 bits, an odd exponent
 * from 65537 up to 256 bits) RS256; a "kid", where given, is 1 to 128 chars
 * and unique, and an "alg", if given, agrees. Keys of another kty, alg, curve or
 * "use", and keys without a kid (no JWS could name them), are skipped. A member "issuer"
 * (cid_keyset_jwks_issuer) is kept as the keyset's issuer. It has no private key: cid_jws_sign with
 * it fails with CID_ERR_INVALID; cid_keyset_version and cid_keyset_next_drop are 0. *out is freed
 * with cid_keyset_free. Errors: CID_ERR_INVALID (not a JWKS, a usable key malformed, not on its
 * curve, with a kid malformed or repeated, an "issuer" not a string of 1
 * to CID_MAX_URI bytes), CID_ERR_TOOBIG (over CID_MAX_JWKS bytes or
 * CID_JWKS_MAX_KEYS keys), CID_ERR_NOTFOUND (no usable key),
 * CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_keyset_from_jwks(const char *json, size_t len,
						 struct cid_keyset **out);

void cid_keyset_free(struct cid_keyset *ks);

/* The keys_version this keyset was loaded at. */
uint64_t cid_keyset_version(const struct cid_keyset *ks);

/*
 * The earliest drop_after among the retired keys of the keyset, or 0 when it
 * holds none: when that time passes, the keyset must be reloaded.
 */
int64_t cid_keyset_next_drop(const struct cid_keyset *ks);

/*
 * The earliest activate_at among the next keys of the keyset, or 0 when it
 * holds none: from that time cid_keys_activate_due has work, and the keyset
 * must be reloaded after it.
 */
int64_t cid_keyset_next_activate(const struct cid_keyset *ks);

/* The JWKS document ({"keys":[...]}, public keys only), borrowed for the keyset's life. */
const char *cid_keyset_jwks(const struct cid_keyset *ks, size_t *len);

/*
 * The JWKS document of ks with a member "issuer": iss, the issuer whose
 * signatures the keys check (RFC 7517 §5 lets a JWK Set carry members beyond
 * "keys"; cid_keyset_from_jwks reads it back), for verifying offline what
 * that issuer signed. *out: a new string (caller frees).
 * Errors: CID_ERR_INVALID (iss NULL, empty or over CID_MAX_URI bytes),
 * CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_keyset_jwks_issuer(const struct cid_keyset *ks, const char *iss,
						   char **out);

/*
 * The "issuer" of the JWKS a keyset was made from (cid_keyset_from_jwks),
 * borrowed for the keyset's life; NULL when the document had none, and for
 * keysets loaded from the store.
 */
const char *cid_keyset_issuer(const struct cid_keyset *ks);

/*
 * Signs claims (borrowed JSON object) as a compact JWS with the active key of
 * alg, header {"alg", "typ", "kid"}. typ is e.g. "JWT", "at+jwt". *out is a
 * new NUL-terminated string (caller frees).
 * Errors: CID_ERR_INVALID (unknown alg), CID_ERR_CRYPTO, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_jws_sign(const struct cid_keyset *ks, const char *alg,
					 const char *typ, const json_t *claims, char **out);

/*
 * Verifies a compact JWS of len bytes: header must have a known kid whose alg
 * equals the header alg (no "none", no HS*, no alg confusion); the signature
 * must verify. If typ is not NULL the header typ must equal it (case-insensitive,
 * "application/" prefix allowed per RFC 7515 §4.1.9). Does NOT check exp, iss,
 * aud: callers do. *claims_out (new reference) is the payload object.
 * Errors: CID_ERR_INVALID (malformed, wrong typ, unknown kid/alg), CID_ERR_DENIED
 * (bad signature), CID_ERR_TOOBIG (over CID_MAX_TOKEN).
 */
CID_MUST_CHECK enum cid_err cid_jws_verify(const struct cid_keyset *ks, const char *jws, size_t len,
					   const char *typ, json_t **claims_out);

/*
 * cid_jws_verify for a signed document larger than a token, up to max bytes
 * (at most CID_MAX_RECEIPT): a consent receipt carrying its log proof.
 * Errors: as cid_jws_verify, CID_ERR_TOOBIG over max.
 */
CID_MUST_CHECK enum cid_err cid_jws_verify_max(const struct cid_keyset *ks, const char *jws,
					       size_t len, size_t max, const char *typ,
					       json_t **claims_out);

/*
 * OIDC at_hash / c_hash: base64url of the left half of the hash of token,
 * with the hash of alg (SHA-256 for ES256 and RS256). out[44].
 */
CID_MUST_CHECK enum cid_err cid_jose_half_hash(const char *alg, const char *token, char out[44]);

#endif
