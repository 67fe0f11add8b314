/*
 * idp: upstream identity providers civicid trusts as a relying party
 * (issue 15), and the links from an upstream identity to a citizen.
 *
 * A registration lives in CID_DB_IDPS under its name:
 *   {"name", "issuer", "client_id", "client_secret", "scope",
 *    "acr_map": {upstream acr: level}, "amr_map": {upstream amr value: level},
 *    "claim_map": {upstream claim: local claim}, "allow_create": bool,
 *    "amr_pass": bool, "trust_framework"?, "created_at"}
 * The client secret is stored as given (civicid must present it to the
 * upstream's token endpoint), and no public view (cid_idp_list,
 * cid_idp_show, the memo of parsed views behind cid_idp_buttons,
 * cid_idp_labels and cid_idp_assurance) ever holds it.
 *
 * A link lives in CID_DB_IDP_LINKS under issuer "\n" sub: {"account",
 * "linked_at"}. Its key is the upstream identity, so one identity is linked
 * to at most one citizen by construction; a citizen may hold several links.
 * Links are never made by matching an e-mail address or any other claim:
 * only cid_idp_link (after the citizen proved the account) or
 * cid_idp_link_or_create (which created it).
 * Removing a registration keeps its links: adding the issuer again resumes them.
 * The citizen unlinks one on /account/security (cid_idp_unlink), but not
 * the last way in of an account with no password.
 */
#ifndef CID_IDP_H
#define CID_IDP_H

#include "bounds.h"
#include "crypto.h"
#include "err.h"
#include "store.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CID_IDP_MAX_NAME      32  /* a registration's name: [a-z0-9_-], shown on the login page */
#define CID_IDP_MAX_SUB	      255 /* an upstream "sub" (OIDC Core §2: at most 255 ASCII chars) */
#define CID_IDP_MAX_MAP	      16  /* entries of an acr or claim map */
#define CID_IDP_MAX_ACR	      128 /* an upstream acr value */
#define CID_IDP_MAX_ISSUER    512 /* an upstream issuer URL */
#define CID_IDP_MAX_LABEL     64  /* a login button's label: bytes of UTF-8 */
#define CID_IDP_ORDER_MAX     999 /* a login button's place: 1 first .. 999 */
#define CID_IDP_ORDER_DEFAULT 100 /* the place of a registration that names none */

/*
 * How the login page offers a registration (idp_buttons.c): its button's
 * label in each language and its place. Strings borrowed; a label NULL is
 * left as it is (none, for add), "" removes it; order 0 is left as it is,
 * else 1 to CID_IDP_ORDER_MAX.
 */
struct cid_idp_display {
	const char *label_ja;
	const char *label_en;
	int order;
};

/* What `civicid idp add` registers. Strings are borrowed. */
struct cid_idp_spec {
	const char *name;
	const char *issuer;	    /* https URL, or http on 127.0.0.1 (tests) */
	const char *client_id;	    /* civicid's client id at the upstream */
	const char *client_secret;  /* and its secret (client_secret_post) */
	const char *scope;	    /* space-separated, must hold "openid" */
	const char *const *acr_map; /* "UPSTREAM_ACR=LEVEL", LEVEL 1 to 3 */
	size_t n_acr_map;
	const char *const *amr_map; /* "UPSTREAM_AMR=LEVEL": an amr value the upstream
				       names raises the level to LEVEL (1 to 3) */
	size_t n_amr_map;
	bool amr_pass;		      /* civicid's amr carries the upstream's (RFC 8176 names) */
	const char *trust_framework;  /* may be NULL; else the upstream's plain mapped claims
					 count as verified under it (cid_idp_verified_claims) */
	const char *const *claim_map; /* "upstream_claim=local_claim" (account.h's table) */
	size_t n_claim_map;
	bool allow_create;		/* a first login with no link creates a citizen */
	struct cid_idp_display display; /* the login button (zero: the name, default place) */
};

/*
 * Checks spec without touching the store: the name (1 to CID_IDP_MAX_NAME
 * of a-z 0-9 _ -), the issuer (an https URL, or http on the loopback
 * address 127.0.0.1, at most CID_IDP_MAX_ISSUER bytes, no query, fragment
 * or userinfo), client id (1 to CID_MAX_CLIENT_ID printable ASCII, no
 * space), secret (1 to CID_MAX_SECRET printable ASCII), scope (printable
 * ASCII up to CID_MAX_SCOPE, "openid" among its words), each acr map entry
 * (a value of 1 to CID_IDP_MAX_ACR printable chars, "=", level 1 to 3: the
 * levels the policy engine knows, policy.h) and amr map entry alike, each
 * claim map entry (an upstream claim name, "=", a claim of account.h's
 * table), the trust framework (absent, or 1 to CID_IDP_MAX_ACR printable
 * ASCII, no space), the display (cid_idp_display_ok). why[whysz] (may
 * be NULL) says which in one English phrase.
 * Errors: CID_ERR_INVALID.
 */
CID_MUST_CHECK enum cid_err cid_idp_check(const struct cid_idp_spec *spec, char *why, size_t whysz);

/*
 * Registers spec (cid_idp_check first) at now.
 * Errors: those of cid_idp_check, CID_ERR_EXISTS (the name is taken, or
 * another registration has the same issuer), CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_idp_add(struct cid_store *s, const struct cid_idp_spec *spec,
					int64_t now, char *why, size_t whysz);

/*
 * Whether d is a display a registration may have: each label absent, "" or
 * 1 to CID_IDP_MAX_LABEL bytes of UTF-8 with no control character; order 0
 * to CID_IDP_ORDER_MAX.
 */
bool cid_idp_display_ok(const struct cid_idp_display *d);

/*
 * Applies d to a stored registration record (borrowed, changed in place):
 * "label_ja", "label_en" set or removed, "order" set, as d says.
 * Errors: CID_ERR_INVALID (not cid_idp_display_ok), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_idp_display_apply(const struct cid_idp_display *d, json_t *record);

/*
 * `civicid idp set`: changes the display of the registration name.
 * Errors: CID_ERR_NOTFOUND, CID_ERR_INVALID (not cid_idp_display_ok),
 * CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_idp_set_display(struct cid_store *s, const char *name,
						const struct cid_idp_display *d);

/*
 * The login page's upstream buttons for a page in locale ("ja" or another:
 * English): an array of {"name", "label"}, ascending by order (unset:
 * CID_IDP_ORDER_DEFAULT), then by name; the label in the page's language,
 * else the other language's, else the name. *out: new reference.
 * Errors: CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_idp_buttons(struct cid_store *s, const char *locale, json_t **out);

/*
 * The name pages show for each upstream, by issuer: {issuer: label}, the
 * label as cid_idp_buttons picks it for locale (the page's language, else
 * the other's, else the registration's name). An issuer no registration
 * has (removed since) is absent. *out: new reference.
 * Errors: CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_idp_labels(struct cid_store *s, const char *locale, json_t **out);

/*
 * What the registrations let civicid release as OpenID Connect for
 * Identity Assurance verified_claims, for the discovery document: into
 * *frameworks the distinct trust frameworks the registrations name
 * (`--trust-framework`), into *claims the distinct local claims the claim
 * maps of those registrations import, both sorted arrays (new references,
 * written only on success); both empty when no registration names a trust
 * framework. An upstream registered without one may still send
 * verified_claims under frameworks of its own choosing (cid_idp_verified_claims),
 * which cannot be known before it does: it is not counted. Read from the
 * store at each call, so an `idp add`, `idp remove` of a running server's
 * store shows at once; a registration is parsed once per change of its
 * record (the store's memo, memo.h), not at each call.
 * Errors: CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_idp_assurance(struct cid_store *s, json_t **frameworks,
					      json_t **claims);

/* Deletes the registration name (its links stay). Errors: CID_ERR_NOTFOUND, CID_ERR_STORE. */
CID_MUST_CHECK enum cid_err cid_idp_remove(struct cid_store *s, const char *name);

/*
 * Every registration's public view, by name: an array of {"name", "issuer",
 * "client_id", "scope", "acr_map", "claim_map", "allow_create",
 * "created_at"}; never the secret. *out: new reference.
 * Errors: CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_idp_list(struct cid_store *s, json_t **out);

/* The public view of one (as in cid_idp_list). Errors: CID_ERR_NOTFOUND, CID_ERR_STORE. */
CID_MUST_CHECK enum cid_err cid_idp_show(struct cid_store *s, const char *name, json_t **out);

/* A registration as the flow reads it; free with cid_idp_free. */
struct cid_idp {
	char name[CID_IDP_MAX_NAME + 1];
	char issuer[CID_IDP_MAX_ISSUER + 1];
	char client_id[CID_MAX_CLIENT_ID + 1];
	char client_secret[CID_MAX_SECRET + 1]; /* wiped by cid_idp_free */
	char scope[CID_MAX_SCOPE + 1];
	json_t *acr_map;   /* {upstream acr: level}, owned */
	json_t *amr_map;   /* {upstream amr value: level}, owned (empty when none) */
	json_t *claim_map; /* {upstream claim: local claim}, owned */
	bool allow_create;
	bool amr_pass;
	char trust_framework[CID_IDP_MAX_ACR + 1]; /* "" when none */
};

/*
 * The registration name into *out (free with cid_idp_free).
 * Errors: CID_ERR_NOTFOUND (no such name, or a malformed name),
 * CID_ERR_STORE (also a damaged record), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_idp_get(struct cid_store *s, const char *name,
					struct cid_idp **out);

/* Wipes the secret and frees idp. NULL is a no-op. */
void cid_idp_free(struct cid_idp *idp);

/*
 * The level (policy.h) a login at the upstream with acr (may be NULL: none
 * given) is worth: the acr map's level for it, else 1 (a login no stronger
 * than a password). The one rule of upstream assurance.
 */
int cid_idp_acr_level(const struct cid_idp *idp, const char *acr);

/*
 * The level a login at the upstream whose ID token says claims (borrowed)
 * is worth: the highest of cid_idp_acr_level of its "acr" and the amr map's
 * level of each value of its "amr" array; at least 1.
 */
int cid_idp_login_level(const struct cid_idp *idp, const json_t *claims);

/*
 * Whether the upstream's ID token claims (borrowed) says the citizen
 * authenticated at asked_at or later (CID_CLOCK_SKEW allowed): an integer
 * auth_time, not before asked_at - CID_CLOCK_SKEW, nor after
 * now + CID_CLOCK_SKEW. For a login civicid asked the upstream to make anew
 * (prompt=login, max_age=0, which makes auth_time REQUIRED, OIDC Core
 * §3.1.2.1 and §2): an upstream that let its own older session stand in for
 * it is refused.
 */
bool cid_idp_login_fresh(const json_t *claims, int64_t asked_at, int64_t now);

/*
 * The amr of a login at the upstream (ID token claims, borrowed) into
 * out[0..max): "fed" (RFC 8176: federated), then, when the registration
 * passes them on (amr_pass), each distinct value of the upstream's "amr"
 * that RFC 8176 §2 registers (others are left out). The strings are
 * borrowed from claims (or static). Returns how many were written.
 */
size_t cid_idp_amr(const struct cid_idp *idp, const json_t *claims, const char **out, size_t max);

/*
 * The citizen claims made from upstream claims (an ID token's payload,
 * borrowed) through the claim map: each mapped upstream claim present
 * becomes its local claim when its value passes cid_claim_check, and is
 * left out otherwise (an upstream is not trusted to send well-formed
 * values). *out: a new object (may be empty). Errors: CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_idp_map_claims(const struct cid_idp *idp, const json_t *upstream,
					       json_t **out);

/*
 * What the upstream vouches for in its ID token's claims (upstream,
 * borrowed), as provenance entries for cid_account_put_verified (account.h):
 * {local claim: {"value", "issuer", "imported_at" (now), "trust_framework"?,
 * "time"?, "evidence"?}}. Each claim the claim map names is taken from the
 * token's OIDC4IDA "verified_claims" (an object or an array of up to 8:
 * the element's verification.trust_framework, time and evidence as
 * cid_idp_evidence keeps it) whose trust framework is the one the
 * registration names, else from the plain claims (trust_framework the registration's,
 * absent when it names none: imported, not verified). A verification under
 * another framework or none, and a value failing cid_claim_check, are left out.
 * *out: a new object (may be empty). Errors: CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_idp_verified_claims(const struct cid_idp *idp,
						    const json_t *upstream, int64_t now,
						    json_t **out);

/*
 * The evidence of a verification as civicid keeps and releases it, in
 * OIDC4IDA 1.0's shape (§5.1.1), from evidence (borrowed: an upstream's
 * array, or one stored by an earlier civicid as a flat summary
 * [{"type","check_method"?,"document_type"?,"record_type"?}]): of its first
 * 4 items, those of a type of the spec's, each reduced to
 *   document:          {"type","check_details"?,"time"?,"document_details"?:{"type"}}
 *   electronic_record: {"type","check_details"?,"time"?,"record"?:{"type"}}
 *   vouch:             {"type","check_details"?,"time"?,"attestation"?:{"type"}}
 *   electronic_signature: {"type","signature_type","issuer","serial_number",
 *                          "created_at"?} (left out without the three)
 * with check_details up to 4 of [{"check_method","organization"?,"txn"?,
 * "time"?}] (a flat summary's check_method makes one). Every string is 1
 * to 64 printable ASCII bytes, else left out. Reading its own output gives
 * the same. *out: a new array, NULL when no item is usable.
 * Errors: CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_idp_evidence(const json_t *evidence, json_t **out);

/*
 * The citizen an upstream identity (issuer, sub) is linked to, into
 * account (may be NULL: only whether). Errors: CID_ERR_NOTFOUND (no link,
 * or a malformed issuer or sub), CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err cid_idp_link_get(struct cid_store *s, const char *issuer,
					     const char *sub, char account[CID_ID_CHARS + 1]);

/*
 * Links the upstream identity (issuer, sub) to the citizen account at now,
 * in one transaction that first reads the link: linking it again to the
 * same citizen is CID_OK (nothing changes). The citizen must exist and be
 * active, checked in that transaction.
 * Errors: CID_ERR_EXISTS (linked to another citizen: one identity, one
 * account), CID_ERR_NOTFOUND (no such citizen), CID_ERR_DISABLED (the
 * citizen is disabled; nothing written), CID_ERR_INVALID (issuer or
 * sub empty or too long, sub not printable ASCII), CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err cid_idp_link(struct cid_store *s, const char *issuer, const char *sub,
					 const char *account, int64_t now);

/*
 * The citizen of a first login through an upstream that allows creation
 * (allow_create), into account: in ONE write transaction, reads the link of
 * the upstream identity (issuer, sub) and, if there is one, gives its
 * citizen and creates nothing; else creates a citizen as
 * cid_account_draft_federated does (username, claims: borrowed, checked as
 * cid_account_add checks them; no password known) and links the identity to
 * it at now, as cid_idp_link does. Concurrent first logins of one identity
 * (a double click, two tabs, a retried callback) so all get the one citizen
 * the first transaction made, and no citizen is ever left unlinked. The
 * password is hashed with params before the transaction, so also when it then
 * finds a link: a caller expecting a link reads it first (cid_idp_link_get).
 * Whether the registration allows creation is the caller's to check.
 * Errors: CID_ERR_INVALID (issuer or sub malformed, as for cid_idp_link;
 * username or claims, as for cid_account_add), CID_ERR_EXISTS (username
 * taken), CID_ERR_UTF8, CID_ERR_TOOBIG, CID_ERR_CRYPTO, CID_ERR_STORE,
 * CID_ERR_NOMEM; on any error nothing is written.
 */
CID_MUST_CHECK enum cid_err cid_idp_link_or_create(struct cid_store *s,
						   const struct cid_argon2_params *params,
						   const char *issuer, const char *sub,
						   const char *username, const json_t *claims,
						   int64_t now, char account[CID_ID_CHARS + 1]);

/*
 * The upstream identities linked to account: an array of {"issuer", "sub",
 * "linked_at"} (walks every link: for the account page and the CLI, not a
 * hot path). *out: new reference. Errors: CID_ERR_STORE, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_idp_links_of(struct cid_store *s, const char *account,
					     json_t **out);

/*
 * Removes every link of the citizen account inside the caller's write
 * transaction (the account is deleted: account_delete.h), whatever the rule
 * of the last link says: no upstream identity leads to the account any
 * more, and linking one again makes it a new citizen's. *n (may be NULL):
 * how many links were removed (0 is no error). Walks every link, as
 * cid_idp_links_of does. Errors: CID_ERR_INVALID (account NULL, a read
 * transaction), CID_ERR_STORE (a link whose key does not read back),
 * CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_idp_unlink_account_txn(struct cid_txn *txn, const char *account,
						       size_t *n);

/*
 * Unlinks the upstream identity (issuer, sub) from the citizen account, in
 * one transaction that reads the link, the citizen and its other links:
 * the one rule of unlinking. A citizen with no password known (created
 * through an upstream, account.h's has_password) keeps at least one link,
 * its last way in; a citizen with a password may unlink every one.
 * Errors: CID_ERR_NOTFOUND (no such link, a malformed issuer or sub, or the
 * link is another citizen's: as unknown as a made-up one), CID_ERR_REFUSED
 * (the last link of a citizen with no password; nothing changes),
 * CID_ERR_STORE.
 */
CID_MUST_CHECK enum cid_err cid_idp_unlink(struct cid_store *s, const char *account,
					   const char *issuer, const char *sub);

#endif
