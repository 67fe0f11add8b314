/*
 * policy: the release policies of the city's services, and the evaluator that
 * decides, per attribute, whether a service may receive it.
 *
 * A policy is a text file, one per service (policies/NAME.policy), meant to be
 * read, reviewed and diffed by a privacy officer. One directive per line; the
 * first word is the keyword, the rest of the line its value; '#' starts a
 * comment; indentation is cosmetic:
 *
 *   service childcare                     # the client_id this policy governs
 *   name.ja 子育て支援
 *   name.en Childcare support
 *   subject pairwise                      # pairwise | public (may the service see
 *                                         # the public sub rather than a pairwise one)
 *   purpose fee-calculation               # starts a purpose block; id [a-z0-9-]{1,64}
 *     text.ja 保育料を世帯の状況に応じて算定するため
 *     text.en To calculate childcare fees from your household's situation
 *     basis consent                       # consent | statute <citation text>
 *     retention 5y                        # how long the service may keep it: Nd|Nm|Ny
 *     consent_valid 1y                    # lifetime of a consent given for this purpose
 *     category 2                          # its Kantara purpose category (1-16), optional
 *     permit household_size               # level=1 (password) by default
 *     permit birthdate level=2            # level 2: password + TOTP
 *     permit address level=3 verified     # level 3: an upstream login mapped to it;
 *                                         # verified: only a value an upstream verified
 *     deny email                          # explicit deny: wins over any permit
 *
 * Attribute names are claims of account.h's table (a permit of family_name
 * also covers its language-tagged forms such as family_name#ja-Kana-JP, so a
 * tagged name in a policy is an error).
 *
 * service, name.ja and name.en are required, once each, before the first
 * purpose; subject defaults to pairwise. A purpose needs text.ja, text.en,
 * basis, retention and at least one permit; consent_valid is required for
 * basis consent and refused for basis statute (no consent is asked);
 * category (the consent receipt's purposeCategory, a number of the Kantara
 * Consent Receipt list, CID_POLICY_CATEGORIES) defaults to
 * CID_POLICY_DEFAULT_CATEGORY. An
 * attribute is permitted at most once and denied at most once per purpose.
 * Durations are 1d..100y, a month counting 30 days and a year 365. '#' starts
 * a comment at the start of a line or after a space or tab. Lines are UTF-8,
 * at most CID_POLICY_MAX_LINE bytes; a file at most CID_POLICY_MAX_FILE.
 * Errors are reported as "file:line: message", every error of a file, not
 * only the first.
 *
 * A policyset is an immutable snapshot of every loaded policy, compiled into
 * a hash table keyed by (service, purpose, attribute), so a decision is a few
 * hash probes and no allocation. A reload builds a new snapshot. Each policy's
 * version is the SHA-256 (hex) of its file; each purpose has a digest of what
 * it asks (texts, basis, attributes), so a consent given under an older text
 * is asked again only when what is asked changed. Thread-safe: a policyset is
 * read-only after load.
 */
#ifndef CID_POLICY_H
#define CID_POLICY_H

#include "bounds.h"
#include "consent.h"
#include "err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Authentication levels (acr). */
#define CID_LEVEL_PASSWORD 1 /* acr urn:civicid:acr:password */
#define CID_LEVEL_MFA	   2 /* acr urn:civicid:acr:mfa (password + TOTP) */
#define CID_LEVEL_HIGH	   3 /* acr urn:civicid:acr:high (an upstream such as the card, idp.h) */

enum cid_basis {
	CID_BASIS_CONSENT, /* the citizen's opt-in per attribute */
	CID_BASIS_STATUTE, /* a law or public task; needs no consent */
};

/* Why a decision went the way it did. */
enum cid_reason {
	CID_REASON_PERMIT_CONSENT,  /* permit: a current consent */
	CID_REASON_PERMIT_STATUTE,  /* permit: statute basis, no consent needed */
	CID_REASON_UNKNOWN_SERVICE, /* deny: no policy for the service */
	CID_REASON_UNKNOWN_PURPOSE, /* deny: the service declares no such purpose */
	CID_REASON_NOT_IN_POLICY,   /* deny: the purpose does not list the attribute (default) */
	CID_REASON_EXPLICIT_DENY,   /* deny: a deny rule */
	CID_REASON_NO_CONSENT,	    /* deny: consent basis, no decision yet (ask) */
	CID_REASON_REFUSED,	    /* deny: the citizen refused */
	CID_REASON_WITHDRAWN,	    /* deny: the citizen withdrew */
	CID_REASON_EXPIRED,	    /* deny: the consent expired (ask again) */
	CID_REASON_POLICY_CHANGED,  /* deny: consent given for a different text (ask again) */
	CID_REASON_LEVEL_TOO_LOW,   /* deny: authenticate at a higher level (step up) */
	CID_REASON_NOT_VERIFIED,    /* deny: the rule, or the service (only in verified_claims),
				       asks for a verified value and the citizen has none
				       (release.h; a typed value does not count) */
	CID_REASON_COUNT
};

/* A stable lower-case name of a reason ("no_consent", "level_too_low", ...). */
const char *cid_reason_name(enum cid_reason r);

struct cid_decision {
	bool permit;
	enum cid_reason reason;
	const char *rule;	    /* "childcare.policy:14", borrowed from the policyset; NULL
				       when no rule matched */
	enum cid_basis basis;	    /* of the purpose, when it exists */
	const char *statute;	    /* citation for CID_BASIS_STATUTE, borrowed, else NULL */
	const char *consent_id;	    /* record_id of the consent used or found, or NULL */
	const char *policy_version; /* hex SHA-256 of the policy file, borrowed, or NULL */
	int min_level;		    /* level the rule requires (for step-up), 0 if none */
	bool verified;		    /* the permitting rule says `verified`: only a value an
				       upstream verified may leave (release.h), never a typed one */
};

struct cid_policyset;

/*
 * Parses the policy files named (paths) into a new policyset *out (free with
 * cid_policyset_free). Every error of every file is written to errors (one
 * "file:line: message\n" each; may be NULL) and the call fails with
 * CID_ERR_CONFIG if there was any: a policyset is all good or not built.
 * Two files for one service is an error.
 * Errors: CID_ERR_CONFIG, CID_ERR_IO (unreadable file), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_policyset_load(const char *const *paths, size_t n_paths,
					       FILE *errors, struct cid_policyset **out);

/*
 * Loads every *.policy file of dir (sorted by name) as cid_policyset_load does.
 * An empty directory gives an empty policyset (every release denied).
 */
CID_MUST_CHECK enum cid_err cid_policyset_load_dir(const char *dir, FILE *errors,
						   struct cid_policyset **out);

/*
 * The paths ("dir/name") of the *.policy files of dir that
 * cid_policyset_load_dir reads: regular files, not hidden, sorted by name.
 * *out is an array of *n_out strings; free it with cid_policy_paths_free.
 * Errors: CID_ERR_IO (dir unreadable: errno is kept), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_policy_list_dir(const char *dir, char ***out, size_t *n_out);
void cid_policy_paths_free(char **paths, size_t n);

/*
 * Parses one policy from memory (name is used in messages and rule names,
 * e.g. "childcare.policy") into a policyset of that one policy. For tests and
 * the fuzzer. Same errors as cid_policyset_load.
 */
CID_MUST_CHECK enum cid_err cid_policyset_parse(const char *name, const char *text, size_t len,
						FILE *errors, struct cid_policyset **out);

void cid_policyset_free(struct cid_policyset *ps);

/*
 * Decides whether service may receive attribute for purpose, given the
 * citizen's consent facts for that (service, purpose) (n of them, any order;
 * facts of other attributes are ignored), the authentication level of the
 * session and the time. Deny by default; an explicit deny wins over any permit.
 * Writes the decision to *out; never allocates. Thread-safe.
 * Attributes compare by base name: a rule for family_name decides
 * family_name#ja-Kana-JP (whose tag must be well-formed), and a fact for
 * family_name answers for it (a fact naming the attribute exactly is preferred).
 * A fact without purpose_digest counts as given under another text.
 */
void cid_policy_eval(const struct cid_policyset *ps, const char *service, const char *purpose,
		     const char *attribute, const struct cid_consent_fact *facts, size_t n_facts,
		     int level, int64_t now, struct cid_decision *out);

/*
 * The service's policy as JSON, for the consent screen and `civicid policy
 * show`: {"service","name":{"ja","en"},"subject","version","file",
 * "purposes":[{"id","text":{"ja","en"},"basis","statute"?,"retention_days",
 * "consent_valid_days","digest","permit":[{"attribute","level","rule","verified"?}],
 * "deny":[...]}]}. "permit" lists what the purpose may receive, so a permit
 * that a deny of the same attribute overrides is left out; "deny" lists every
 * deny rule ({"attribute","rule"}); "consent_valid_days" is 0 for a statute
 * basis. Rules are in file order. *out: new reference.
 * Errors: CID_ERR_NOTFOUND (no policy for service), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_policy_describe(const struct cid_policyset *ps, const char *service,
						json_t **out);

/*
 * One service's policy inside a policyset: a borrowed view that lives as long
 * as the set. The release point finds it once per request and then asks it
 * per purpose and per attribute without hashing the service again.
 */
struct cid_policy;

/* The policy of service, or NULL (no policy: every release to it is denied). */
const struct cid_policy *cid_policyset_find(const struct cid_policyset *ps, const char *service);

/* The service (client_id), its version (hex SHA-256 of the file); borrowed. */
const char *cid_policy_service(const struct cid_policy *pol);
const char *cid_policy_version(const struct cid_policy *pol);

/*
 * The bytes of pol's file as loaded, whose SHA-256 is its version (what the
 * policy archive keeps, policy_archive.h); borrowed, *len its length.
 */
const char *cid_policy_text(const struct cid_policy *pol, size_t *len);

/* The base name of pol's file ("childcare.policy"), as rules name it; borrowed. */
const char *cid_policy_file(const struct cid_policy *pol);

/* The service's name for the citizen: name.en for locale "en", else name.ja. */
const char *cid_policy_name(const struct cid_policy *pol, const char *locale);

/* True if the policy says `subject public`: the service may see the public sub. */
bool cid_policy_public_subject(const struct cid_policy *pol);

/* What the consent screen and the release point need of one purpose (borrowed). */
struct cid_purpose_info {
	const char *id;
	const char *text_ja, *text_en;
	enum cid_basis basis;
	const char *statute; /* the citation of CID_BASIS_STATUTE, else NULL */
	uint32_t retention_days;
	uint32_t consent_valid_days; /* 0 for CID_BASIS_STATUTE */
	const char *digest;	     /* of what the citizen is asked (see above) */
	const char *category; /* Kantara purposeCategory, e.g. "2 - Contracted Service" (static) */
};

/*
 * Purpose categories of the Kantara Consent Receipt (v1.1, its purpose
 * category list): a policy's `category N` names one by number, 1..N.
 */
#define CID_POLICY_CATEGORIES	    16
#define CID_POLICY_DEFAULT_CATEGORY 2 /* "Contracted Service": a city service the citizen uses */

/*
 * The receipt's name of purpose category n ("2 - Contracted Service"); that
 * of CID_POLICY_DEFAULT_CATEGORY for n outside 1..CID_POLICY_CATEGORIES (a
 * purpose no policy has any more). Static.
 */
const char *cid_policy_category_name(unsigned n);

/* The number of purposes of pol (0 for NULL), and purpose i (i < count) in file order. */
size_t cid_policy_purpose_count(const struct cid_policy *pol);
void cid_policy_purpose(const struct cid_policy *pol, size_t i, struct cid_purpose_info *out);

/*
 * The purpose of pol whose id is id into *out: true if found; false, *out
 * untouched, if pol or id is NULL or pol has no such purpose.
 */
bool cid_policy_purpose_find(const struct cid_policy *pol, const char *id,
			     struct cid_purpose_info *out);

/* The purpose's text for the citizen: text_en for locale "en", else text_ja (borrowed). */
const char *cid_purpose_text(const struct cid_purpose_info *pu, const char *locale);

/*
 * A duration of a policy (retention, consent_valid: days) as the policy
 * wrote it, for people: in years when it is a whole number of 365 days, in
 * months of 30 days, else in days. *key is the message key of the unit
 * ("dur.year", "dur.years", "dur.month", ..., "dur.days": web/messages,
 * whose "{}" takes *n); static.
 */
void cid_policy_duration(uint32_t days, const char **key, uint32_t *n);

/* The citizen's consent facts of one purpose, for cid_policy_eval_service. */
struct cid_fact_list {
	const struct cid_consent_fact *facts; /* may be NULL when n is 0 */
	size_t n;
};

/*
 * Decides attribute for pol's service across all its purposes: permit if some
 * purpose permits it and no purpose denies it explicitly; deny otherwise.
 * facts (may be NULL: no facts at all) holds cid_policy_purpose_count(pol)
 * lists, facts[i] those of purpose i. *out is the decision of the deciding
 * purpose, *purpose_out its index (SIZE_MAX when none decided: no policy, or
 * no purpose). The deciding purpose is, in this order: the first with an
 * explicit deny; the first that permits; the first whose reason is not
 * not_in_policy (level_too_low, no_consent, refused, ...: what could change);
 * the first purpose. pol NULL decides unknown_service. Never allocates;
 * thread-safe.
 */
void cid_policy_eval_service(const struct cid_policy *pol, const char *attribute,
			     const struct cid_fact_list *facts, int level, int64_t now,
			     struct cid_decision *out, size_t *purpose_out);

/* Number of policies, and the service names in load order (borrowed). */
size_t cid_policyset_count(const struct cid_policyset *ps);
const char *cid_policyset_service(const struct cid_policyset *ps, size_t i);

/* The version (hex SHA-256 of the file) of a service's policy, or NULL. Borrowed. */
const char *cid_policyset_version(const struct cid_policyset *ps, const char *service);

#endif
