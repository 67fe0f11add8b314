/*
 * policy_parse_law: the keywords of a policy file that the law asks for, and
 * the rules' tokens (policy_parse_int.h).
 *
 * The register's texts, the recipient and its relationship are kept as
 * written for policy_law.c, which checks them against controller_type after a
 * load; here only their form is checked (a corporate number's check digit, a
 * known relationship, both languages or neither). A purpose's basis is
 * consent, or statute with its citation. A rule names a claim of account.h's
 * table by its base name, at most once per kind in a purpose.
 */
#include "policy_int.h"
#include "policy_parse_int.h"

#include "account.h"
#include "law.h"
#include "str.h"

#include <stdio.h>
#include <string.h>

#define MAX_ATTRIBUTE 128 /* longer is no claim of account.h's table */

/* The texts of the law's records (policy_law.h): kept as written. */
void parse_kw_law_text(struct parser *p, struct cid_str v)
{
	struct cid_policy *pol = parse_cur_policy(p);
	const char **slot = NULL;

	switch (p->kw) {
	case KW_FILE_JA: slot = &pol->file_ja; break;
	case KW_FILE_EN: slot = &pol->file_en; break;
	case KW_ORGAN_JA: slot = &pol->organ_ja; break;
	case KW_ORGAN_EN: slot = &pol->organ_en; break;
	case KW_PERSONS_JA: slot = &pol->persons_ja; break;
	case KW_PERSONS_EN: slot = &pol->persons_en; break;
	case KW_COLLECTION_JA: slot = &pol->collection_ja; break;
	case KW_COLLECTION_EN: slot = &pol->collection_en; break;
	case KW_REGULAR_JA: slot = &pol->regular_ja; break;
	case KW_REGULAR_EN: slot = &pol->regular_en; break;
	case KW_RECIPIENT_NAME: slot = &pol->recipient_name; break;
	default: return; /* the table names kw_law_text only for these */
	}
	*slot = parse_keep(p, v);
}

void parse_kw_recipient_number(struct parser *p, struct cid_str v)
{
	struct cid_str word;

	if (!parse_one_word(p, "recipient.number", v, &word))
		return;
	if (!cid_law_corporate_number_ok(word.ptr, word.len)) {
		parse_fail(
		    p, p->line,
		    "recipient.number '%.*s' is not a corporate number (13 digits, the first "
		    "the check digit of the other 12)",
		    (int)word.len, word.ptr);
		return;
	}
	parse_cur_policy(p)->recipient_number = parse_keep(p, word);
}

void parse_kw_relationship(struct parser *p, struct cid_str v)
{
	struct cid_str word;
	enum cid_relationship r;

	if (!parse_one_word(p, "relationship", v, &word))
		return;
	if (!cid_relationship_parse(word.ptr, word.len, &r)) {
		parse_fail(p, p->line,
			   "relationship must be third_party, entrusted or internal, not '%.*s'",
			   (int)word.len, word.ptr);
		return;
	}
	parse_cur_policy(p)->relationship = (int)r;
}

void parse_kw_basis(struct parser *p, struct cid_str v)
{
	struct cid_str word = parse_next_word(&v);

	if (cid_str_eq(word, "consent")) {
		if (v.len > 0)
			parse_fail(p, p->line, "basis consent takes no citation: unexpected '%.*s'",
				   (int)v.len, v.ptr);
		parse_cur_purpose(p)->basis = CID_BASIS_CONSENT;
		p->basis_valid = true;
	} else if (cid_str_eq(word, "statute")) {
		if (v.len == 0) {
			parse_fail(p, p->line,
				   "basis statute needs its citation (the law and article)");
			return;
		}
		parse_cur_purpose(p)->basis = CID_BASIS_STATUTE;
		parse_cur_purpose(p)->statute = parse_keep(p, v);
		parse_cur_purpose(p)->statute_line = p->line;
		p->basis_valid = true;
	} else {
		parse_fail(p, p->line, "basis must be consent or statute <citation>, not '%.*s'",
			   (int)word.len, word.ptr);
	}
}

/* "level=1" or "level=2" into *level. */
static bool parse_level(struct parser *p, struct cid_str tok, int *level)
{
	struct cid_str n = {tok.ptr + 6, tok.len - 6};

	if (tok.len < 6 || memcmp(tok.ptr, "level=", 6) != 0) {
		parse_fail(p, p->line,
			   "unexpected '%.*s' after the attribute (expected level=N or verified)",
			   (int)tok.len, tok.ptr);
		return false;
	}
	if (cid_str_eq(n, "1") || cid_str_eq(n, "2") || cid_str_eq(n, "3")) {
		*level = n.ptr[0] - '0';
		return true;
	}
	parse_fail(
	    p, p->line,
	    "level must be 1 (password), 2 (password and TOTP) or 3 (an upstream such as the "
	    "card), not '%.*s'",
	    (int)n.len, n.ptr);
	return false;
}

/* The claim an attribute word names: known, and a base name (no language tag). */
static const struct cid_claim_def *attribute_def(struct parser *p, struct cid_str word)
{
	char name[MAX_ATTRIBUTE];
	const struct cid_claim_def *def = NULL;
	const char *hash = memchr(word.ptr, '#', word.len);
	size_t base = hash == NULL ? word.len : (size_t)(hash - word.ptr);

	if (base < sizeof(name)) {
		memcpy(name, word.ptr, base);
		name[base] = '\0';
		def = cid_claim_lookup(name);
	}
	if (def == NULL) {
		parse_fail(
		    p, p->line,
		    "unknown attribute '%.*s': not a claim civicid knows (policies/README.md "
		    "lists them)",
		    (int)word.len, word.ptr);
		return NULL;
	}
	if (hash != NULL) {
		parse_fail(p, p->line,
			   "'%.*s': name the base attribute %s, which covers every language tag",
			   (int)word.len, word.ptr, def->name);
		return NULL;
	}
	return def;
}

static void add_rule(struct parser *p, struct cid_str v, enum rule_kind kind)
{
	struct cid_policyset *ps = p->ps;
	struct cid_str word = parse_next_word(&v);
	const struct cid_claim_def *def = attribute_def(p, word);
	int level = kind == RULE_PERMIT ? CID_LEVEL_PASSWORD : 0;
	bool has_level = false, sensitive = false, verified = false, ok = def != NULL;

	while (v.len > 0) {
		struct cid_str tok = parse_next_word(&v);
		if (kind == RULE_PERMIT && cid_str_eq(tok, "sensitive")) {
			if (sensitive) {
				parse_fail(p, p->line, "sensitive given twice");
				return;
			}
			sensitive = true;
			continue;
		}
		if (kind == RULE_DENY) {
			parse_fail(p, p->line, "deny takes only an attribute: unexpected '%.*s'",
				   (int)tok.len, tok.ptr);
			return;
		}
		if (cid_str_eq(tok, "verified")) {
			if (verified) {
				parse_fail(p, p->line, "verified given twice");
				return;
			}
			verified = true;
			continue;
		}
		if (has_level) {
			parse_fail(p, p->line, "level given twice");
			return;
		}
		has_level = true;
		ok = parse_level(p, tok, &level) && ok;
	}
	if (!ok)
		return;
	const struct purpose *pu = parse_cur_purpose(p);
	for (size_t i = pu->first_rule; i < pu->first_rule + pu->n_rules; i++) {
		if (ps->rules[i].kind == kind && strcmp(ps->rules[i].attribute, def->name) == 0) {
			parse_fail(p, p->line, "%s is already %s on line %u", def->name,
				   kind == RULE_PERMIT ? "permitted" : "denied", ps->rules[i].line);
			return;
		}
	}
	char where[256 + 16];
	int n = snprintf(where, sizeof(where), "%s:%u", parse_cur_policy(p)->file, p->line);
	if (n < 0 || (size_t)n >= sizeof(where))
		n = 0; /* a file name over 255 bytes: the rule has no name, rather than a wrong one
			*/
	struct rule *rules = parse_grow(ps->rules, &ps->cap_rules, ps->n_rules, sizeof(*ps->rules));
	if (rules == NULL) {
		p->rc = CID_ERR_NOMEM;
		return;
	}
	ps->rules = rules;
	struct rule *r = &ps->rules[ps->n_rules];
	*r = (struct rule){.attribute = def->name,
			   .kind = kind,
			   .level = level,
			   .sensitive = sensitive,
			   .verified = verified,
			   .line = p->line};
	r->where = parse_keep(p, (struct cid_str){where, (size_t)n});
	ps->n_rules++;
	parse_cur_purpose(p)->n_rules++;
}

void parse_kw_permit(struct parser *p, struct cid_str v)
{
	add_rule(p, v, RULE_PERMIT);
}

void parse_kw_deny(struct parser *p, struct cid_str v)
{
	add_rule(p, v, RULE_DENY);
}

/* A record text of the law is given in both languages or in neither. */
void parse_law_pairs_check(struct parser *p)
{
	static const enum keyword_id pairs[][2] = {
	    {KW_FILE_JA, KW_FILE_EN},	    {KW_ORGAN_JA, KW_ORGAN_EN},
	    {KW_PERSONS_JA, KW_PERSONS_EN}, {KW_COLLECTION_JA, KW_COLLECTION_EN},
	    {KW_REGULAR_JA, KW_REGULAR_EN},
	};

	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		unsigned ja = p->seen[pairs[i][0]], en = p->seen[pairs[i][1]];
		if ((ja == 0) != (en == 0))
			parse_fail(p, ja != 0 ? ja : en,
				   "%s without %s: give the register's text in both "
				   "languages",
				   parse_keyword_name(pairs[i][ja != 0 ? 0 : 1]),
				   parse_keyword_name(pairs[i][ja != 0 ? 1 : 0]));
	}
}
