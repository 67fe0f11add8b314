/*
 * consent_paper: a consent the citizen gave on paper at a city office, which
 * an operator records (`civicid consent grant`).
 *
 * The operator types what the signed form names: the citizen, the service,
 * the purpose, the attributes, and at most a shorter lifetime. Everything
 * else comes from the policies in force, never from the operator: the policy
 * version and the purpose digest the records are filed under, and how long
 * the grant lasts (the purpose's consent_valid, at most
 * CID_CONSENT_PAPER_MAX_DAYS of bounds.h). A paper grant can only be what the
 * consent screen could have asked: a consent-based purpose of the service's
 * policy that permits each attribute. The operator may also give the version
 * and digest printed on the form; they must then be those in force, so a form
 * signed under an older text is not filed under the new one.
 *
 * consent_paper sits above policy and consent (it reads the one and writes
 * the other), so neither of those needs the other's functions.
 */
#ifndef CID_CONSENT_PAPER_H
#define CID_CONSENT_PAPER_H

#include "consent.h"
#include "err.h"
#include "policy.h"
#include "store.h"

#include <stddef.h>
#include <stdint.h>

/* One paper grant (strings borrowed). */
struct cid_consent_paper {
	const char *account_id;
	const char *service;
	const char *purpose;
	const char *const *attributes; /* n_attributes base claim names, each once */
	size_t n_attributes;
	int64_t days;		    /* 0: the purpose's consent_valid; else 1..that */
	const char *policy_version; /* NULL, or what the form says: must be in force */
	const char *purpose_digest; /* NULL, or what the form says: must be in force */
	int64_t now;
};

/* What in the policies in force stands against a paper grant. */
enum cid_consent_paper_fault {
	CID_PAPER_NO_POLICY,	 /* no policy for the service */
	CID_PAPER_NO_PURPOSE,	 /* the service's policy has no such purpose */
	CID_PAPER_STATUTE,	 /* the purpose's basis is a statute: no consent is asked */
	CID_PAPER_NOT_PERMITTED, /* the purpose does not permit the attribute, or denies it */
	CID_PAPER_OTHER_VERSION, /* policy_version is not the policy's version in force */
	CID_PAPER_OTHER_DIGEST,	 /* purpose_digest is not the purpose's digest in force */
	CID_PAPER_TOO_LONG,	 /* days beyond what the purpose's consent lasts */
};

/* Why cid_consent_paper_grant refused (written on CID_ERR_REFUSED only). */
struct cid_consent_paper_refusal {
	enum cid_consent_paper_fault fault;
	const char *attribute; /* NOT_PERMITTED: the first such, borrowed from the grant */
	const char *in_force;  /* OTHER_VERSION, OTHER_DIGEST: the value in force, borrowed
				  from ps */
	int64_t max_days;      /* TOO_LONG: the longest the grant may last */
};

/*
 * Checks g against ps (the policies in force) and records it: one GRANTED
 * record per attribute, method CID_CONSENT_METHOD_CLI_PAPER, under the
 * policy's version and the purpose's digest, expiring g->days (else the
 * purpose's consent_valid, at most CID_CONSENT_PAPER_MAX_DAYS) days after
 * g->now, all in one durable write (all or none). ids_out (may be NULL)
 * receives n_attributes record ids (caller frees each); *expires_at_out (may
 * be NULL) the expiry recorded. The texts of ps are kept in the policy
 * archive first (policy_archive.h; a version kept already is left alone).
 * Errors: CID_ERR_INVALID (a service or purpose name no record can have, an
 * unknown or tagged attribute, one twice, none, g->days outside
 * 0..CID_CONSENT_PAPER_MAX_DAYS, and those of cid_consent_record: checked
 * before the policies, so a bad name is never reported as missing from
 * them), CID_ERR_REFUSED (the policies in force refuse the grant: *refusal, if
 * refusal is not NULL, says why; the one out-parameter written on an error),
 * CID_ERR_STORE, CID_ERR_NOMEM, CID_ERR_CRYPTO. Nothing is written on an error.
 */
CID_MUST_CHECK enum cid_err cid_consent_paper_grant(struct cid_store *s,
						    const struct cid_policyset *ps,
						    const struct cid_consent_paper *g,
						    char **ids_out, int64_t *expires_at_out,
						    struct cid_consent_paper_refusal *refusal);

#endif
