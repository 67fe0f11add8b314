/*
 * policy_parse: the text of one policy file into its policy, purposes and rules.
 *
 * A file is read line by line against a sorted keyword table (policy.h has
 * the language). Every error is reported as file:line and parsing goes on,
 * so one `civicid policy check` shows them all; only running out of memory
 * stops it. A purpose's digest is computed when its block closes, and only
 * while the file has had no error, so every field it covers is set. Strings
 * are copied into the set's arena, never borrowed from the text, which the
 * caller frees after the parse. The parser writes only the set it is given,
 * which nobody sees before policy_load.c has compiled it. The keywords of
 * the law's records, the basis and its citation, and the rules' tokens are
 * read in policy_parse_law.c.
 */
#include "policy_int.h"
#include "policy_parse_int.h"

#include "account.h"
#include "buf.h"
#include "crypto.h"
#include "law.h"
#include "str.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_BLOCK	 ((size_t)16 * 1024)
#define MAX_DIGEST_INPUT ((size_t)64 * 1024) /* three lines of text and ~25 permits fit */

/* ---- storage ---- */

static char *arena_dup(struct cid_policyset *ps, const char *s, size_t n)
{
	struct block *b = ps->arena;

	if (b == NULL || b->size - b->used < n + 1) {
		size_t size = n + 1 > ARENA_BLOCK ? n + 1 : ARENA_BLOCK;
		b = malloc(sizeof(*b) + size);
		if (b == NULL)
			return NULL;
		b->size = size;
		b->used = 0;
		b->next = ps->arena;
		ps->arena = b;
	}
	char *p = b->data + b->used;
	if (n > 0)
		memcpy(p, s, n);
	p[n] = '\0';
	b->used += n + 1;
	return p;
}

/*
 * Makes room for element n of array (cap elements of size bytes): returns
 * the array, moved if it had to grow, or NULL (array untouched) if out of memory.
 */
void *parse_grow(void *array, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return array;
	size_t want = *cap == 0 ? 8 : *cap * 2;
	void *p = realloc(array, want * size);
	if (p != NULL)
		*cap = want;
	return p;
}

/* ---- the parser ---- */

static void kw_category(struct parser *p, struct cid_str v);
static void kw_consent_valid(struct parser *p, struct cid_str v);
static void kw_name_en(struct parser *p, struct cid_str v);
static void kw_name_ja(struct parser *p, struct cid_str v);
static void kw_purpose(struct parser *p, struct cid_str v);
static void kw_retention(struct parser *p, struct cid_str v);
static void kw_service(struct parser *p, struct cid_str v);
static void kw_subject(struct parser *p, struct cid_str v);
static void kw_text_en(struct parser *p, struct cid_str v);
static void kw_text_ja(struct parser *p, struct cid_str v);

static const struct keyword keywords[N_KEYWORDS] = {
    [KW_BASIS] = {"basis", SCOPE_PURPOSE, false, parse_kw_basis},
    [KW_CATEGORY] = {"category", SCOPE_PURPOSE, false, kw_category},
    [KW_COLLECTION_EN] = {"collection.en", SCOPE_HEAD, false, parse_kw_law_text},
    [KW_COLLECTION_JA] = {"collection.ja", SCOPE_HEAD, false, parse_kw_law_text},
    [KW_CONSENT_VALID] = {"consent_valid", SCOPE_PURPOSE, false, kw_consent_valid},
    [KW_DENY] = {"deny", SCOPE_PURPOSE, true, parse_kw_deny},
    [KW_FILE_EN] = {"file.en", SCOPE_HEAD, false, parse_kw_law_text},
    [KW_FILE_JA] = {"file.ja", SCOPE_HEAD, false, parse_kw_law_text},
    [KW_NAME_EN] = {"name.en", SCOPE_HEAD, false, kw_name_en},
    [KW_NAME_JA] = {"name.ja", SCOPE_HEAD, false, kw_name_ja},
    [KW_ORGAN_EN] = {"organ.en", SCOPE_HEAD, false, parse_kw_law_text},
    [KW_ORGAN_JA] = {"organ.ja", SCOPE_HEAD, false, parse_kw_law_text},
    [KW_PERMIT] = {"permit", SCOPE_PURPOSE, true, parse_kw_permit},
    [KW_PERSONS_EN] = {"persons.en", SCOPE_HEAD, false, parse_kw_law_text},
    [KW_PERSONS_JA] = {"persons.ja", SCOPE_HEAD, false, parse_kw_law_text},
    [KW_PURPOSE] = {"purpose", SCOPE_ANY, true, kw_purpose},
    [KW_RECIPIENT_NAME] = {"recipient.name", SCOPE_HEAD, false, parse_kw_law_text},
    [KW_RECIPIENT_NUMBER] = {"recipient.number", SCOPE_HEAD, false, parse_kw_recipient_number},
    [KW_REGULAR_EN] = {"recipient_regular.en", SCOPE_HEAD, false, parse_kw_law_text},
    [KW_REGULAR_JA] = {"recipient_regular.ja", SCOPE_HEAD, false, parse_kw_law_text},
    [KW_RELATIONSHIP] = {"relationship", SCOPE_HEAD, false, parse_kw_relationship},
    [KW_RETENTION] = {"retention", SCOPE_PURPOSE, false, kw_retention},
    [KW_SERVICE] = {"service", SCOPE_HEAD, false, kw_service},
    [KW_SUBJECT] = {"subject", SCOPE_HEAD, false, kw_subject},
    [KW_TEXT_EN] = {"text.en", SCOPE_PURPOSE, false, kw_text_en},
    [KW_TEXT_JA] = {"text.ja", SCOPE_PURPOSE, false, kw_text_ja},
};

const char *parse_keyword_name(enum keyword_id id)
{
	return keywords[id].name;
}

void parse_fail(struct parser *p, unsigned line, const char *fmt, ...)
{
	va_list ap;

	p->n_errors++;
	if (p->errors == NULL)
		return;
	fprintf(p->errors, "%s:%u: ", p->path, line);
	va_start(ap, fmt);
	vfprintf(p->errors, fmt, ap);
	va_end(ap);
	fputc('\n', p->errors);
}

const char *parse_keep(struct parser *p, struct cid_str v)
{
	char *s = arena_dup(p->ps, v.ptr, v.len);

	if (s == NULL)
		p->rc = CID_ERR_NOMEM;
	return s;
}

struct cid_policy *parse_cur_policy(struct parser *p)
{
	return &p->ps->policies[p->policy];
}

struct purpose *parse_cur_purpose(struct parser *p)
{
	return &p->ps->purposes[p->purpose];
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* Splits the first word off *rest; *rest keeps what follows, leading blanks skipped. */
struct cid_str parse_next_word(struct cid_str *rest)
{
	size_t i = 0, j;

	while (i < rest->len && !is_space(rest->ptr[i]))
		i++;
	struct cid_str word = {rest->ptr, i};
	for (j = i; j < rest->len && is_space(rest->ptr[j]); j++)
		;
	rest->ptr += j;
	rest->len -= j;
	return word;
}

/* The value as one word; reports a second word. */
bool parse_one_word(struct parser *p, const char *kw, struct cid_str v, struct cid_str *word)
{
	*word = parse_next_word(&v);
	if (v.len == 0)
		return true;
	parse_fail(p, p->line, "%s takes one word: unexpected '%.*s'", kw, (int)v.len, v.ptr);
	return false;
}

/* A client_id as client.c accepts it. */
static bool service_ok(struct cid_str s)
{
	if (s.len == 0 || s.len > CID_MAX_CLIENT_ID)
		return false;
	for (size_t i = 0; i < s.len; i++) {
		char c = s.ptr[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return false;
	}
	return true;
}

static bool purpose_id_ok(struct cid_str s)
{
	if (s.len == 0 || s.len > CID_POLICY_MAX_PURPOSE_ID)
		return false;
	for (size_t i = 0; i < s.len; i++)
		if (!((s.ptr[i] >= 'a' && s.ptr[i] <= 'z') ||
		      (s.ptr[i] >= '0' && s.ptr[i] <= '9') || s.ptr[i] == '-'))
			return false;
	return true;
}

/* "Nd", "Nm" (30 days) or "Ny" (365 days), 1 day to CID_POLICY_MAX_DAYS. */
static bool parse_days(struct cid_str v, uint32_t *out)
{
	uint64_t n, unit;

	if (v.len < 2)
		return false;
	switch (v.ptr[v.len - 1]) {
	case 'd': unit = 1; break;
	case 'm': unit = 30; break;
	case 'y': unit = 365; break;
	default: return false;
	}
	if (cid_parse_u64(v.ptr, v.len - 1, 1, CID_POLICY_MAX_DAYS, &n) != CID_OK ||
	    n * unit > CID_POLICY_MAX_DAYS)
		return false;
	*out = (uint32_t)(n * unit);
	return true;
}

static void kw_service(struct parser *p, struct cid_str v)
{
	struct cid_str id;

	if (!parse_one_word(p, "service", v, &id))
		return;
	if (!service_ok(id)) {
		parse_fail(p, p->line,
			   "service '%.*s' is not a client_id (1..%d of A-Z a-z 0-9 . _ -)",
			   (int)id.len, id.ptr, CID_MAX_CLIENT_ID);
		return;
	}
	parse_cur_policy(p)->service = parse_keep(p, id);
	parse_cur_policy(p)->service_line = p->line;
}

static void kw_name_ja(struct parser *p, struct cid_str v)
{
	parse_cur_policy(p)->name_ja = parse_keep(p, v);
}

static void kw_name_en(struct parser *p, struct cid_str v)
{
	parse_cur_policy(p)->name_en = parse_keep(p, v);
}

static void kw_subject(struct parser *p, struct cid_str v)
{
	struct cid_str word;

	if (!parse_one_word(p, "subject", v, &word))
		return;
	if (cid_str_eq(word, "public"))
		parse_cur_policy(p)->public_subject = true;
	else if (!cid_str_eq(word, "pairwise"))
		parse_fail(p, p->line, "subject must be pairwise or public, not '%.*s'",
			   (int)word.len, word.ptr);
}

static void kw_text_ja(struct parser *p, struct cid_str v)
{
	parse_cur_purpose(p)->text_ja = parse_keep(p, v);
}

static void kw_text_en(struct parser *p, struct cid_str v)
{
	parse_cur_purpose(p)->text_en = parse_keep(p, v);
}

static void duration(struct parser *p, const char *kw, struct cid_str v, uint32_t *days)
{
	struct cid_str word;

	if (!parse_one_word(p, kw, v, &word))
		return;
	if (!parse_days(word, days))
		parse_fail(p, p->line,
			   "%s '%.*s' is not a duration of 1d to 100y (a number and d, m or y)", kw,
			   (int)word.len, word.ptr);
}

static void kw_retention(struct parser *p, struct cid_str v)
{
	duration(p, "retention", v, &parse_cur_purpose(p)->retention_days);
}

/* The purpose's Kantara purpose category, by its number in the list (policy.h). */
static void kw_category(struct parser *p, struct cid_str v)
{
	struct cid_str word;
	uint64_t n;

	if (!parse_one_word(p, "category", v, &word))
		return;
	if (cid_parse_u64(word.ptr, word.len, 1, CID_POLICY_CATEGORIES, &n) != CID_OK) {
		parse_fail(
		    p, p->line,
		    "category '%.*s' is not a purpose category of the Kantara consent receipt "
		    "(a number 1 to %d)",
		    (int)word.len, word.ptr, CID_POLICY_CATEGORIES);
		return;
	}
	parse_cur_purpose(p)->category = (unsigned)n;
}

static void kw_consent_valid(struct parser *p, struct cid_str v)
{
	duration(p, "consent_valid", v, &parse_cur_purpose(p)->consent_valid_days);
}

static int rule_cmp(const void *a, const void *b)
{
	const struct rule *x = a, *y = b;

	return strcmp(x->attribute, y->attribute);
}

static void digest_field(struct cid_buf *b, const char *name, const char *value)
{
	cid_buf_printf(b, "%s %zu:", name, strlen(value));
	cid_buf_puts(b, value);
	cid_buf_puts(b, "\n");
}

/*
 * The digest of what a citizen is asked for a purpose: its id, both texts,
 * the basis and citation, and the attributes it may receive (sorted, with
 * levels and whether a verified value is asked: a rule made `verified`
 * asks again, while a file without it keeps its digests). Each text is length-prefixed so that no
 * two purposes encode alike. Retention, consent_valid, category and comments are not in it:
 * changing them does not ask every citizen again.
 */
static enum cid_err purpose_digest(const struct cid_policyset *ps, struct purpose *pu)
{
	struct rule *permits = malloc((pu->n_rules + 1) * sizeof(*permits));
	uint8_t hash[32];
	struct cid_buf b;
	size_t n = 0;

	if (permits == NULL)
		return CID_ERR_NOMEM;
	for (size_t i = pu->first_rule; i < pu->first_rule + pu->n_rules; i++)
		if (ps->rules[i].kind == RULE_PERMIT &&
		    !policy_denied(ps, pu, ps->rules[i].attribute))
			permits[n++] = ps->rules[i];
	qsort(permits, n, sizeof(*permits), rule_cmp);
	cid_buf_init(&b, MAX_DIGEST_INPUT);
	cid_buf_puts(&b, "civicid-purpose/1\n");
	digest_field(&b, "id", pu->id);
	digest_field(&b, "text.ja", pu->text_ja);
	digest_field(&b, "text.en", pu->text_en);
	digest_field(&b, "basis", pu->basis == CID_BASIS_STATUTE ? "statute" : "consent");
	digest_field(&b, "statute", pu->statute == NULL ? "" : pu->statute);
	for (size_t i = 0; i < n; i++)
		cid_buf_printf(&b, "permit %s %d%s\n", permits[i].attribute, permits[i].level,
			       permits[i].verified ? " verified" : "");
	enum cid_err rc = cid_buf_status(&b);
	if (rc == CID_OK) {
		cid_sha256(b.data, b.len, hash);
		cid_hex(hash, sizeof(hash), pu->digest);
	}
	cid_buf_free(&b);
	free(permits);
	return rc;
}

/* Checks the purpose block that just ended and computes its digest. */
static void close_purpose(struct parser *p)
{
	struct purpose *pu = parse_cur_purpose(p);
	const char *id = pu->id;
	bool permits = false;

	static const struct {
		enum keyword_id kw;
		const char *why;
	} required[] = {
	    {KW_TEXT_JA, "the purpose text shown to citizens in Japanese"},
	    {KW_TEXT_EN, "the purpose text shown to citizens in English"},
	    {KW_BASIS, "consent, or statute and its citation"},
	    {KW_RETENTION, "how long the service may keep what it receives"},
	};

	p->in_purpose = false;
	if (p->skip_purpose)
		return;
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		if (p->seen[required[i].kw] == 0) {
			parse_fail(p, pu->line, "purpose %s: no %s (%s)", id,
				   keywords[required[i].kw].name, required[i].why);
		}
	}
	if (p->basis_valid && pu->basis == CID_BASIS_CONSENT && p->seen[KW_CONSENT_VALID] == 0)
		parse_fail(p, pu->line,
			   "purpose %s: basis consent needs consent_valid (how long a consent "
			   "lasts)",
			   id);
	if (p->basis_valid && pu->basis == CID_BASIS_STATUTE && p->seen[KW_CONSENT_VALID] != 0)
		parse_fail(p, p->seen[KW_CONSENT_VALID],
			   "consent_valid does not apply to basis statute: no consent is asked");
	for (size_t i = pu->first_rule; i < pu->first_rule + pu->n_rules; i++)
		permits = permits || p->ps->rules[i].kind == RULE_PERMIT;
	if (!permits)
		parse_fail(p, pu->line, "purpose %s permits no attribute", id);
	/* every field is set when the file has no error so far */
	if (p->n_errors == 0 && p->rc == CID_OK)
		p->rc = purpose_digest(p->ps, pu);
}

static void kw_purpose(struct parser *p, struct cid_str v)
{
	struct cid_policyset *ps = p->ps;
	struct cid_policy *pol = parse_cur_policy(p);
	struct cid_str id;

	if (p->in_purpose)
		close_purpose(p);
	p->in_purpose = true;
	p->skip_purpose = false;
	p->basis_valid = false;
	for (size_t i = 0; i < N_KEYWORDS; i++)
		if (keywords[i].scope == SCOPE_PURPOSE)
			p->seen[i] = 0;
	if (pol->n_purposes == CID_POLICY_MAX_PURPOSES)
		parse_fail(p, p->line, "more than %d purposes in one policy",
			   CID_POLICY_MAX_PURPOSES);
	if (pol->n_purposes >= CID_POLICY_MAX_PURPOSES) {
		p->skip_purpose = true;
		pol->n_purposes++; /* counts past the limit so that it is reported once */
		return;
	}
	/* a second word is reported by one_word; the first is still checked as the id */
	(void)parse_one_word(p, "purpose", v, &id);
	if (!purpose_id_ok(id))
		parse_fail(p, p->line, "purpose id '%.*s' is not 1..%d of a-z 0-9 -", (int)id.len,
			   id.ptr, CID_POLICY_MAX_PURPOSE_ID);
	for (size_t i = pol->first_purpose; i < pol->first_purpose + pol->n_purposes; i++) {
		if (cid_str_eq(id, ps->purposes[i].id)) {
			parse_fail(p, p->line, "purpose %.*s is already declared on line %u",
				   (int)id.len, id.ptr, ps->purposes[i].line);
			break;
		}
	}
	struct purpose *purposes =
	    parse_grow(ps->purposes, &ps->cap_purposes, ps->n_purposes, sizeof(*ps->purposes));
	if (purposes == NULL) {
		p->rc = CID_ERR_NOMEM;
		return;
	}
	ps->purposes = purposes;
	p->purpose = ps->n_purposes++;
	struct purpose *pu = parse_cur_purpose(p);
	*pu = (struct purpose){.policy = p->policy, .first_rule = ps->n_rules, .line = p->line};
	pu->id = parse_keep(p, id);
	pol->n_purposes++;
}

static const struct keyword *keyword_find(struct cid_str word)
{
	size_t lo = 0, hi = N_KEYWORDS;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *name = keywords[mid].name;
		size_t n = strlen(name);
		int c = memcmp(word.ptr, name, word.len < n ? word.len : n);

		if (c == 0)
			c = word.len < n ? -1 : word.len > n;
		if (c == 0)
			return &keywords[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static void parse_line(struct parser *p, const char *s, size_t n)
{
	if (n > CID_POLICY_MAX_LINE) {
		parse_fail(p, p->line, "line is longer than %d bytes", CID_POLICY_MAX_LINE);
		return;
	}
	if (!cid_utf8_valid(s, n)) {
		parse_fail(p, p->line, "not UTF-8 text, or holds NUL or a control character");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '#' && (i == 0 || is_space(s[i - 1]))) {
			n = i;
			break;
		}
	}
	while (n > 0 && (is_space(s[n - 1]) || s[n - 1] == '\r'))
		n--;
	if (memchr(s, '\r', n) != NULL) {
		parse_fail(p, p->line, "a carriage return inside the line");
		return;
	}
	size_t indent = 0;
	while (indent < n && is_space(s[indent]))
		indent++;
	if (indent == n)
		return;
	struct cid_str rest = {s + indent, n - indent};
	struct cid_str word = parse_next_word(&rest);
	const struct keyword *kw = keyword_find(word);
	if (kw == NULL) {
		parse_fail(p, p->line, "unknown keyword '%.*s'", (int)word.len, word.ptr);
		return;
	}
	size_t id = (size_t)(kw - keywords);
	if (kw->scope == SCOPE_HEAD && p->in_purpose) {
		parse_fail(p, p->line, "%s belongs before the first purpose", kw->name);
		return;
	}
	if (kw->scope == SCOPE_PURPOSE && !p->in_purpose) {
		parse_fail(p, p->line, "%s outside a purpose block (start one with 'purpose ID')",
			   kw->name);
		return;
	}
	if (kw->scope == SCOPE_PURPOSE && p->skip_purpose)
		return;
	if (rest.len == 0) {
		parse_fail(p, p->line, "%s needs a value", kw->name);
		return;
	}
	if (!kw->repeatable) {
		if (p->seen[id] != 0) {
			parse_fail(p, p->line, "duplicate %s (first on line %u)", kw->name,
				   p->seen[id]);
			return;
		}
		p->seen[id] = p->line;
	}
	p->kw = (enum keyword_id)id;
	kw->handle(p, rest);
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash == NULL ? path : slash + 1;
}

enum cid_err policy_parse_file(struct cid_policyset *ps, const char *path, const char *text,
			       size_t len, FILE *errors, unsigned *n_errors)
{
	struct parser p = {.ps = ps, .errors = errors, .path = path, .policy = ps->n_policies};
	uint8_t hash[32];

	struct cid_policy *policies =
	    parse_grow(ps->policies, &ps->cap_policies, ps->n_policies, sizeof(*ps->policies));
	if (policies == NULL)
		return CID_ERR_NOMEM;
	ps->policies = policies;
	struct cid_policy *pol = &ps->policies[ps->n_policies++];
	*pol = (struct cid_policy){.set = ps, .first_purpose = ps->n_purposes};
	pol->path = parse_keep(&p, cid_str_of(path));
	pol->file = parse_keep(&p, cid_str_of(base_name(path)));
	if (p.rc != CID_OK)
		return p.rc;
	if (len > CID_POLICY_MAX_FILE) {
		parse_fail(&p, 1, "the file is larger than %zu bytes (1 MiB)", CID_POLICY_MAX_FILE);
		goto out;
	}
	cid_sha256(text, len, hash);
	cid_hex(hash, sizeof(hash), pol->version);
	pol->text = parse_keep(&p, (struct cid_str){text, len});
	pol->text_len = len;
	if (p.rc != CID_OK)
		return p.rc;
	for (size_t pos = 0; pos < len && p.rc == CID_OK;) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl == NULL ? len - pos : (size_t)(nl - (text + pos));

		p.line++;
		parse_line(&p, text + pos, n);
		pos += n + 1;
	}
	if (p.rc != CID_OK)
		return p.rc;
	if (p.in_purpose)
		close_purpose(&p);
	pol = parse_cur_policy(&p);
	if (p.seen[KW_SERVICE] == 0)
		parse_fail(&p, 1, "no service line (the client_id this policy governs)");
	if (p.seen[KW_NAME_JA] == 0)
		parse_fail(&p, 1, "no name.ja (the service's name in Japanese)");
	if (p.seen[KW_NAME_EN] == 0)
		parse_fail(&p, 1, "no name.en (the service's name in English)");
	parse_law_pairs_check(&p);
	for (size_t i = 0; pol->service != NULL && i < p.policy; i++) {
		const struct cid_policy *other = &ps->policies[i];
		if (other->service != NULL && strcmp(other->service, pol->service) == 0)
			parse_fail(&p, pol->service_line, "service %s already has a policy: %s",
				   pol->service, other->path);
	}
	if (pol->n_purposes > CID_POLICY_MAX_PURPOSES)
		pol->n_purposes = CID_POLICY_MAX_PURPOSES;
out:
	*n_errors += p.n_errors;
	return p.rc;
}
