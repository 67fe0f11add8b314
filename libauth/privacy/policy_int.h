/*
 * policy_int.h: what the files of the policy module share; not part of
 * the API (policy.h is).
 *
 *   policy_parse.c     text -> policies, purposes and rules (every error reported)
 *   policy_parse_law.c the law's keywords and the rules' tokens, for policy_parse.c
 *   policy_load.c      files and directories -> a compiled, immutable policyset
 *   policy.c           the lookup table and the evaluator: the hot path, no allocation
 *   policy_describe.c  a policy as the citizen and the officer read it
 *
 * A policyset is written only while it is built (parse, then compile, both
 * in policy_load.c's calls) and read-only from then on: nothing here may
 * change a set that cid_policyset_load or cid_policyset_parse has returned.
 * Every string it holds lives in its arena, freed with the set.
 */
#ifndef CID_POLICY_INT_H
#define CID_POLICY_INT_H

#include "policy.h"
#include "str.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum rule_kind { RULE_PERMIT, RULE_DENY };

struct rule {
	const char *attribute; /* the static name of account.h's claim table */
	enum rule_kind kind;
	int level;	/* permit: CID_LEVEL_*; deny: 0 */
	bool sensitive; /* permit ... sensitive: 要配慮個人情報 (APPI Art. 2(3)) */
	bool verified;	/* permit: only a value an upstream verified (account.h) may leave */
	unsigned line;
	const char *where; /* "file:line" */
};

struct purpose {
	const char *id;
	const char *text_ja, *text_en;
	enum cid_basis basis;
	const char *statute;   /* the citation of CID_BASIS_STATUTE, else NULL */
	unsigned statute_line; /* its basis line, for policy_law.c's messages */
	uint32_t retention_days, consent_valid_days;
	unsigned category; /* 1..CID_POLICY_CATEGORIES; 0 until its line is read */
	size_t policy;
	size_t first_rule, n_rules; /* its rules are contiguous, in file order */
	unsigned line;
	char digest[CID_HASH_HEX + 1];
};

struct cid_policy {
	const struct cid_policyset *set; /* the set it belongs to, for its purposes */
	const char *service, *name_ja, *name_en;
	const char *path; /* as given, for messages */
	const char *file; /* its base name, as in rules */
	const char *text; /* the file's bytes, whose SHA-256 is version (kept for the archive) */
	size_t text_len;
	bool public_subject;
	unsigned service_line;
	/* the law's records (policy_law.h), each NULL when the file says nothing */
	const char *file_ja, *file_en;		   /* the personal information file's name */
	const char *organ_ja, *organ_en;	   /* the organ that holds it */
	const char *persons_ja, *persons_en;	   /* whom it records */
	const char *collection_ja, *collection_en; /* how its data are collected */
	const char *regular_ja, *regular_en;	   /* its regular recipients */
	const char *recipient_name;		   /* the recipient's legal name */
	const char *recipient_number;		   /* its corporate number (checked) */
	int relationship;			   /* enum cid_relationship (law.h) */
	size_t first_purpose, n_purposes;	   /* contiguous */
	char version[CID_HASH_HEX + 1];
};

enum slot_class { SLOT_EMPTY, SLOT_SERVICE, SLOT_PURPOSE, SLOT_ATTRIBUTE };

struct key {
	enum slot_class cls;
	struct cid_str service, purpose, attribute; /* only those cls uses */
	uint64_t hash;
};

struct slot {
	struct key key; /* strings borrowed from the arena */
	size_t index;	/* the policy (SLOT_SERVICE) or the purpose */
	size_t rule;	/* SLOT_ATTRIBUTE: the deciding rule, a deny if there is one */
};

struct block {
	struct block *next;
	size_t used, size;
	char data[];
};

struct cid_policyset {
	struct cid_policy *policies;
	size_t n_policies, cap_policies;
	struct purpose *purposes;
	size_t n_purposes, cap_purposes;
	struct rule *rules;
	size_t n_rules, cap_rules;
	struct slot *slots;
	size_t mask; /* number of slots - 1, a power of two - 1 */
	struct block *arena;
};

/* ---- policy.c: the lookup table ---- */

/* Hashes the parts k->cls uses into k->hash. */
void policy_key_hash(struct key *k);

/* The slot holding k (hashed), or the empty slot where it would go (the table is never full). */
size_t policy_slot_probe(const struct cid_policyset *ps, const struct key *k);

/* Whether purpose pu of ps has a deny rule for attribute. */
bool policy_denied(const struct cid_policyset *ps, const struct purpose *pu, const char *attribute);

/* ---- policy_parse.c ---- */

/*
 * Parses one file's bytes (path names it in messages) into a new policy of
 * ps; writes each error to errors (may be NULL) and counts it into *n_errors.
 * Errors: CID_ERR_NOMEM only; a policy error is counted, not returned.
 */
CID_MUST_CHECK enum cid_err policy_parse_file(struct cid_policyset *ps, const char *path,
					      const char *text, size_t len, FILE *errors,
					      unsigned *n_errors);

#endif
