/*
 * policy_parse_int.h: what the two files of the policy parser share; not
 * part of the API (policy.h is), nor of the policy module (policy_int.h).
 *
 *   policy_parse.c      the keyword table, the line reader, the service's and
 *                       purposes' own keywords, digests, policy_parse_file
 *   policy_parse_law.c  the law's keywords (register texts, recipient, the
 *                       basis and its citation) and the rules' tokens
 *
 * Every parse_kw_* handler reports its errors through parse_fail and goes
 * on; only running out of memory (p->rc) stops a parse.
 */
#ifndef CID_POLICY_PARSE_INT_H
#define CID_POLICY_PARSE_INT_H

#include "policy_int.h"
#include "str.h"

#include <stdbool.h>
#include <stddef.h>

struct parser;

enum scope { SCOPE_HEAD, SCOPE_PURPOSE, SCOPE_ANY };

struct keyword {
	const char *name;
	enum scope scope;
	bool repeatable;
	void (*handle)(struct parser *p, struct cid_str value);
};

/* In strcmp order: keyword_find bisects. */
enum keyword_id {
	KW_BASIS,
	KW_CATEGORY,
	KW_COLLECTION_EN,
	KW_COLLECTION_JA,
	KW_CONSENT_VALID,
	KW_DENY,
	KW_FILE_EN,
	KW_FILE_JA,
	KW_NAME_EN,
	KW_NAME_JA,
	KW_ORGAN_EN,
	KW_ORGAN_JA,
	KW_PERMIT,
	KW_PERSONS_EN,
	KW_PERSONS_JA,
	KW_PURPOSE,
	KW_RECIPIENT_NAME,
	KW_RECIPIENT_NUMBER,
	KW_REGULAR_EN,
	KW_REGULAR_JA,
	KW_RELATIONSHIP,
	KW_RETENTION,
	KW_SERVICE,
	KW_SUBJECT,
	KW_TEXT_EN,
	KW_TEXT_JA,
	N_KEYWORDS
};

/* The state of one file's parse; errors are counted, never fatal, except NOMEM. */
struct parser {
	struct cid_policyset *ps;
	FILE *errors;
	const char *path;
	unsigned line;
	unsigned n_errors;
	enum cid_err rc;	   /* CID_ERR_NOMEM stops the parse */
	size_t policy;		   /* this file's policy */
	size_t purpose;		   /* the open purpose block, when in_purpose */
	bool in_purpose;	   /* a purpose line was seen: head keywords are over */
	bool skip_purpose;	   /* the open block is over the purpose limit: ignore it */
	bool basis_valid;	   /* the open block's basis line was understood */
	unsigned seen[N_KEYWORDS]; /* line of a keyword's use in its scope, 0: none */
	enum keyword_id kw;	   /* the keyword of the line being handled */
};

/* The keyword's name as a policy file spells it. */
const char *parse_keyword_name(enum keyword_id id);

/* Counts an error of the file at line, and writes it to p->errors (if any) as file:line: text. */
__attribute__((format(printf, 3, 4))) void parse_fail(struct parser *p, unsigned line,
						      const char *fmt, ...);

/* v copied into the set's arena (owned by the set); NULL and p->rc NOMEM if out of memory. */
const char *parse_keep(struct parser *p, struct cid_str v);

/* The policy of the file being parsed, and its open purpose block (borrowed from the set). */
struct cid_policy *parse_cur_policy(struct parser *p);
struct purpose *parse_cur_purpose(struct parser *p);

/* Splits the first word off *rest; *rest keeps what follows, leading blanks skipped. */
struct cid_str parse_next_word(struct cid_str *rest);

/* The value as one word into *word; reports a second word (kw names the keyword) and returns false.
 */
bool parse_one_word(struct parser *p, const char *kw, struct cid_str v, struct cid_str *word);

/*
 * Makes room for element n of array (cap elements of size bytes): returns
 * the array, moved if it had to grow, or NULL (array untouched) if out of memory.
 */
void *parse_grow(void *array, size_t *cap, size_t n, size_t size);

/* policy_parse_law.c: the handlers the keyword table names (v: the value after the keyword). */
void parse_kw_basis(struct parser *p, struct cid_str v);
void parse_kw_law_text(struct parser *p, struct cid_str v);
void parse_kw_recipient_number(struct parser *p, struct cid_str v);
void parse_kw_relationship(struct parser *p, struct cid_str v);
void parse_kw_permit(struct parser *p, struct cid_str v);
void parse_kw_deny(struct parser *p, struct cid_str v);

/* A record text of the law is given in both languages or in neither: reports a half pair. */
void parse_law_pairs_check(struct parser *p);

#endif
