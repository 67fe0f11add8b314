/*
 * policy: release policies, parsed once into immutable lookup tables.
 *
 * A policy file is read line by line against a sorted keyword table. Every
 * error is reported as file:line and parsing goes on, so one `civicid policy
 * check` shows them all; a policyset is built only when there were none. The
 * compile step puts every (service), (service, purpose) and (service, purpose,
 * attribute) into one open-addressing table (FNV-1a, linear probing, at most
 * half full), so a decision hashes its strings once and usually ends at the
 * first probe, with no allocation. A deny and a permit of one attribute share
 * a slot that holds the deny: deny wins by construction, not by evaluation
 * order. Strings live in an arena freed with the set; nothing changes after
 * load, so any number of threads may evaluate at once.
 */
#include "policy.h"

#include "account.h"
#include "buf.h"
#include "crypto.h"
#include "str.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ARENA_BLOCK	 ((size_t)16 * 1024)
#define MAX_PURPOSE_ID	 64
#define MAX_ATTRIBUTE	 128		     /* longer is no claim of account.h's table */
#define MAX_DIGEST_INPUT ((size_t)64 * 1024) /* three lines of text and ~25 permits fit */

enum rule_kind { RULE_PERMIT, RULE_DENY };

struct rule {
	const char *attribute; /* the static name of account.h's claim table */
	enum rule_kind kind;
	int level; /* permit: CID_LEVEL_*; deny: 0 */
	unsigned line;
	const char *where; /* "file:line" */
};

struct purpose {
	const char *id;
	const char *text_ja, *text_en;
	enum cid_basis basis;
	const char *statute; /* the citation of CID_BASIS_STATUTE, else NULL */
	uint32_t retention_days, consent_valid_days;
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
	bool public_subject;
	unsigned service_line;
	size_t first_purpose, n_purposes; /* contiguous */
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
static void *grow(void *array, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return array;
	size_t want = *cap == 0 ? 8 : *cap * 2;
	void *p = realloc(array, want * size);
	if (p != NULL)
		*cap = want;
	return p;
}

/* ---- the lookup table ---- */

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME  0x100000001b3ULL

static uint64_t fnv(uint64_t h, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * FNV_PRIME;
	return h;
}

/* Hashes the parts cls uses, each followed by a NUL, so no two keys run together. */
static void key_hash(struct key *k)
{
	uint64_t h = fnv(FNV_OFFSET, (const char[]){(char)k->cls}, 1);

	h = fnv(h, k->service.ptr, k->service.len);
	if (k->cls != SLOT_SERVICE) {
		h = fnv(h, "", 1);
		h = fnv(h, k->purpose.ptr, k->purpose.len);
	}
	if (k->cls == SLOT_ATTRIBUTE) {
		h = fnv(h, "", 1);
		h = fnv(h, k->attribute.ptr, k->attribute.len);
	}
	k->hash = h ^ (h >> 32); /* the mask keeps low bits: fold the high ones in */
}

static bool part_eq(struct cid_str a, struct cid_str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* The slot holding k, or the empty slot where it would go (the table is never full). */
static size_t slot_probe(const struct cid_policyset *ps, const struct key *k)
{
	for (size_t i = k->hash & ps->mask;; i = (i + 1) & ps->mask) {
		const struct key *s = &ps->slots[i].key;

		if (s->cls == SLOT_EMPTY)
			return i;
		if (s->hash == k->hash && s->cls == k->cls && part_eq(s->service, k->service) &&
		    (k->cls == SLOT_SERVICE || part_eq(s->purpose, k->purpose)) &&
		    (k->cls != SLOT_ATTRIBUTE || part_eq(s->attribute, k->attribute)))
			return i;
	}
}

static const struct slot *slot_find(const struct cid_policyset *ps, struct key *k)
{
	key_hash(k);
	const struct slot *s = &ps->slots[slot_probe(ps, k)];
	return s->key.cls == SLOT_EMPTY ? NULL : s;
}

/* Puts k (strings borrowed); returns its slot, which existed if *existed. */
static struct slot *slot_put(struct cid_policyset *ps, struct key k, size_t index, bool *existed)
{
	key_hash(&k);
	struct slot *s = &ps->slots[slot_probe(ps, &k)];
	*existed = s->key.cls != SLOT_EMPTY;
	if (!*existed) {
		s->key = k;
		s->index = index;
	}
	return s;
}

static enum cid_err compile(struct cid_policyset *ps)
{
	size_t entries = ps->n_policies + ps->n_purposes + ps->n_rules, size = 8;
	bool existed;

	while (size < 2 * entries)
		size *= 2;
	ps->slots = calloc(size, sizeof(*ps->slots));
	if (ps->slots == NULL)
		return CID_ERR_NOMEM;
	ps->mask = size - 1;
	for (size_t i = 0; i < ps->n_policies; i++) {
		struct key k = {.cls = SLOT_SERVICE,
				.service = cid_str_of(ps->policies[i].service)};
		(void)slot_put(ps, k, i, &existed);
	}
	for (size_t i = 0; i < ps->n_purposes; i++) {
		const struct purpose *pu = &ps->purposes[i];
		struct key k = {.cls = SLOT_PURPOSE,
				.service = cid_str_of(ps->policies[pu->policy].service),
				.purpose = cid_str_of(pu->id)};
		(void)slot_put(ps, k, i, &existed);
		for (size_t r = pu->first_rule; r < pu->first_rule + pu->n_rules; r++) {
			k.cls = SLOT_ATTRIBUTE;
			k.attribute = cid_str_of(ps->rules[r].attribute);
			struct slot *s = slot_put(ps, k, i, &existed);
			if (!existed || ps->rules[r].kind == RULE_DENY)
				s->rule = r;
		}
	}
	return CID_OK;
}

/* ---- the parser ---- */

enum scope { SCOPE_HEAD, SCOPE_PURPOSE, SCOPE_ANY };

struct parser;

struct keyword {
	const char *name;
	enum scope scope;
	bool repeatable;
	void (*handle)(struct parser *p, struct cid_str value);
};

static void kw_basis(struct parser *p, struct cid_str v);
static void kw_consent_valid(struct parser *p, struct cid_str v);
static void kw_deny(struct parser *p, struct cid_str v);
static void kw_name_en(struct parser *p, struct cid_str v);
static void kw_name_ja(struct parser *p, struct cid_str v);
static void kw_permit(struct parser *p, struct cid_str v);
static void kw_purpose(struct parser *p, struct cid_str v);
static void kw_retention(struct parser *p, struct cid_str v);
static void kw_service(struct parser *p, struct cid_str v);
static void kw_subject(struct parser *p, struct cid_str v);
static void kw_text_en(struct parser *p, struct cid_str v);
static void kw_text_ja(struct parser *p, struct cid_str v);

/* In strcmp order: keyword_find bisects. */
enum keyword_id {
	KW_BASIS,
	KW_CONSENT_VALID,
	KW_DENY,
	KW_NAME_EN,
	KW_NAME_JA,
	KW_PERMIT,
	KW_PURPOSE,
	KW_RETENTION,
	KW_SERVICE,
	KW_SUBJECT,
	KW_TEXT_EN,
	KW_TEXT_JA,
	N_KEYWORDS
};

static const struct keyword keywords[N_KEYWORDS] = {
    [KW_BASIS] = {"basis", SCOPE_PURPOSE, false, kw_basis},
    [KW_CONSENT_VALID] = {"consent_valid", SCOPE_PURPOSE, false, kw_consent_valid},
    [KW_DENY] = {"deny", SCOPE_PURPOSE, true, kw_deny},
    [KW_NAME_EN] = {"name.en", SCOPE_HEAD, false, kw_name_en},
    [KW_NAME_JA] = {"name.ja", SCOPE_HEAD, false, kw_name_ja},
    [KW_PERMIT] = {"permit", SCOPE_PURPOSE, true, kw_permit},
    [KW_PURPOSE] = {"purpose", SCOPE_ANY, true, kw_purpose},
    [KW_RETENTION] = {"retention", SCOPE_PURPOSE, false, kw_retention},
    [KW_SERVICE] = {"service", SCOPE_HEAD, false, kw_service},
    [KW_SUBJECT] = {"subject", SCOPE_HEAD, false, kw_subject},
    [KW_TEXT_EN] = {"text.en", SCOPE_PURPOSE, false, kw_text_en},
    [KW_TEXT_JA] = {"text.ja", SCOPE_PURPOSE, false, kw_text_ja},
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
};

__attribute__((format(printf, 3, 4))) static void fail(struct parser *p, unsigned line,
						       const char *fmt, ...)
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

static const char *keep(struct parser *p, struct cid_str v)
{
	char *s = arena_dup(p->ps, v.ptr, v.len);

	if (s == NULL)
		p->rc = CID_ERR_NOMEM;
	return s;
}

static struct cid_policy *cur_policy(struct parser *p)
{
	return &p->ps->policies[p->policy];
}

static struct purpose *cur_purpose(struct parser *p)
{
	return &p->ps->purposes[p->purpose];
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* Splits the first word off *rest; *rest keeps what follows, leading blanks skipped. */
static struct cid_str next_word(struct cid_str *rest)
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
static bool one_word(struct parser *p, const char *kw, struct cid_str v, struct cid_str *word)
{
	*word = next_word(&v);
	if (v.len == 0)
		return true;
	fail(p, p->line, "%s takes one word: unexpected '%.*s'", kw, (int)v.len, v.ptr);
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
	if (s.len == 0 || s.len > MAX_PURPOSE_ID)
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

	if (!one_word(p, "service", v, &id))
		return;
	if (!service_ok(id)) {
		fail(p, p->line, "service '%.*s' is not a client_id (1..%d of A-Z a-z 0-9 . _ -)",
		     (int)id.len, id.ptr, CID_MAX_CLIENT_ID);
		return;
	}
	cur_policy(p)->service = keep(p, id);
	cur_policy(p)->service_line = p->line;
}

static void kw_name_ja(struct parser *p, struct cid_str v)
{
	cur_policy(p)->name_ja = keep(p, v);
}

static void kw_name_en(struct parser *p, struct cid_str v)
{
	cur_policy(p)->name_en = keep(p, v);
}

static void kw_subject(struct parser *p, struct cid_str v)
{
	struct cid_str word;

	if (!one_word(p, "subject", v, &word))
		return;
	if (cid_str_eq(word, "public"))
		cur_policy(p)->public_subject = true;
	else if (!cid_str_eq(word, "pairwise"))
		fail(p, p->line, "subject must be pairwise or public, not '%.*s'", (int)word.len,
		     word.ptr);
}

static void kw_text_ja(struct parser *p, struct cid_str v)
{
	cur_purpose(p)->text_ja = keep(p, v);
}

static void kw_text_en(struct parser *p, struct cid_str v)
{
	cur_purpose(p)->text_en = keep(p, v);
}

static void kw_basis(struct parser *p, struct cid_str v)
{
	struct cid_str word = next_word(&v);

	if (cid_str_eq(word, "consent")) {
		if (v.len > 0)
			fail(p, p->line, "basis consent takes no citation: unexpected '%.*s'",
			     (int)v.len, v.ptr);
		cur_purpose(p)->basis = CID_BASIS_CONSENT;
		p->basis_valid = true;
	} else if (cid_str_eq(word, "statute")) {
		if (v.len == 0) {
			fail(p, p->line, "basis statute needs its citation (the law and article)");
			return;
		}
		cur_purpose(p)->basis = CID_BASIS_STATUTE;
		cur_purpose(p)->statute = keep(p, v);
		p->basis_valid = true;
	} else {
		fail(p, p->line, "basis must be consent or statute <citation>, not '%.*s'",
		     (int)word.len, word.ptr);
	}
}

static void duration(struct parser *p, const char *kw, struct cid_str v, uint32_t *days)
{
	struct cid_str word;

	if (!one_word(p, kw, v, &word))
		return;
	if (!parse_days(word, days))
		fail(p, p->line,
		     "%s '%.*s' is not a duration of 1d to 100y (a number and d, m or y)", kw,
		     (int)word.len, word.ptr);
}

static void kw_retention(struct parser *p, struct cid_str v)
{
	duration(p, "retention", v, &cur_purpose(p)->retention_days);
}

static void kw_consent_valid(struct parser *p, struct cid_str v)
{
	duration(p, "consent_valid", v, &cur_purpose(p)->consent_valid_days);
}

/* "level=1" or "level=2" into *level. */
static bool parse_level(struct parser *p, struct cid_str tok, int *level)
{
	struct cid_str n = {tok.ptr + 6, tok.len - 6};

	if (tok.len < 6 || memcmp(tok.ptr, "level=", 6) != 0) {
		fail(p, p->line,
		     "unexpected '%.*s' after the attribute (expected level=1 or level=2)",
		     (int)tok.len, tok.ptr);
		return false;
	}
	if (cid_str_eq(n, "1") || cid_str_eq(n, "2")) {
		*level = n.ptr[0] - '0';
		return true;
	}
	fail(p, p->line, "level must be 1 (password) or 2 (password and TOTP), not '%.*s'",
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
		fail(p, p->line,
		     "unknown attribute '%.*s': not a claim civicid knows (policies/README.md "
		     "lists them)",
		     (int)word.len, word.ptr);
		return NULL;
	}
	if (hash != NULL) {
		fail(p, p->line,
		     "'%.*s': name the base attribute %s, which covers every language tag",
		     (int)word.len, word.ptr, def->name);
		return NULL;
	}
	return def;
}

static void add_rule(struct parser *p, struct cid_str v, enum rule_kind kind)
{
	struct cid_policyset *ps = p->ps;
	struct cid_str word = next_word(&v);
	const struct cid_claim_def *def = attribute_def(p, word);
	int level = kind == RULE_PERMIT ? CID_LEVEL_PASSWORD : 0;
	bool has_level = false, ok = def != NULL;

	while (v.len > 0) {
		struct cid_str tok = next_word(&v);
		if (kind == RULE_DENY) {
			fail(p, p->line, "deny takes only an attribute: unexpected '%.*s'",
			     (int)tok.len, tok.ptr);
			return;
		}
		if (has_level) {
			fail(p, p->line, "level given twice");
			return;
		}
		has_level = true;
		ok = parse_level(p, tok, &level) && ok;
	}
	if (!ok)
		return;
	const struct purpose *pu = cur_purpose(p);
	for (size_t i = pu->first_rule; i < pu->first_rule + pu->n_rules; i++) {
		if (ps->rules[i].kind == kind && strcmp(ps->rules[i].attribute, def->name) == 0) {
			fail(p, p->line, "%s is already %s on line %u", def->name,
			     kind == RULE_PERMIT ? "permitted" : "denied", ps->rules[i].line);
			return;
		}
	}
	char where[256 + 16];
	int n = snprintf(where, sizeof(where), "%s:%u", cur_policy(p)->file, p->line);
	if (n < 0 || (size_t)n >= sizeof(where))
		n = 0; /* a file name over 255 bytes: the rule has no name, rather than a wrong one
			*/
	struct rule *rules = grow(ps->rules, &ps->cap_rules, ps->n_rules, sizeof(*ps->rules));
	if (rules == NULL) {
		p->rc = CID_ERR_NOMEM;
		return;
	}
	ps->rules = rules;
	struct rule *r = &ps->rules[ps->n_rules];
	*r = (struct rule){.attribute = def->name, .kind = kind, .level = level, .line = p->line};
	r->where = keep(p, (struct cid_str){where, (size_t)n});
	ps->n_rules++;
	cur_purpose(p)->n_rules++;
}

static void kw_permit(struct parser *p, struct cid_str v)
{
	add_rule(p, v, RULE_PERMIT);
}

static void kw_deny(struct parser *p, struct cid_str v)
{
	add_rule(p, v, RULE_DENY);
}

static int rule_cmp(const void *a, const void *b)
{
	const struct rule *x = a, *y = b;

	return strcmp(x->attribute, y->attribute);
}

static bool denied(const struct cid_policyset *ps, const struct purpose *pu, const char *attribute)
{
	for (size_t i = pu->first_rule; i < pu->first_rule + pu->n_rules; i++)
		if (ps->rules[i].kind == RULE_DENY &&
		    strcmp(ps->rules[i].attribute, attribute) == 0)
			return true;
	return false;
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
 * levels). Each text is length-prefixed so that no two purposes encode alike.
 * Retention, consent_valid and comments are not in it: changing them does not
 * ask every citizen again.
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
		if (ps->rules[i].kind == RULE_PERMIT && !denied(ps, pu, ps->rules[i].attribute))
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
		cid_buf_printf(&b, "permit %s %d\n", permits[i].attribute, permits[i].level);
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
	struct purpose *pu = cur_purpose(p);
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
			fail(p, pu->line, "purpose %s: no %s (%s)", id,
			     keywords[required[i].kw].name, required[i].why);
		}
	}
	if (p->basis_valid && pu->basis == CID_BASIS_CONSENT && p->seen[KW_CONSENT_VALID] == 0)
		fail(p, pu->line,
		     "purpose %s: basis consent needs consent_valid (how long a consent "
		     "lasts)",
		     id);
	if (p->basis_valid && pu->basis == CID_BASIS_STATUTE && p->seen[KW_CONSENT_VALID] != 0)
		fail(p, p->seen[KW_CONSENT_VALID],
		     "consent_valid does not apply to basis statute: no consent is asked");
	for (size_t i = pu->first_rule; i < pu->first_rule + pu->n_rules; i++)
		permits = permits || p->ps->rules[i].kind == RULE_PERMIT;
	if (!permits)
		fail(p, pu->line, "purpose %s permits no attribute", id);
	/* every field is set when the file has no error so far */
	if (p->n_errors == 0 && p->rc == CID_OK)
		p->rc = purpose_digest(p->ps, pu);
}

static void kw_purpose(struct parser *p, struct cid_str v)
{
	struct cid_policyset *ps = p->ps;
	struct cid_policy *pol = cur_policy(p);
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
		fail(p, p->line, "more than %d purposes in one policy", CID_POLICY_MAX_PURPOSES);
	if (pol->n_purposes >= CID_POLICY_MAX_PURPOSES) {
		p->skip_purpose = true;
		pol->n_purposes++; /* counts past the limit so that it is reported once */
		return;
	}
	(void)one_word(p, "purpose", v, &id);
	if (!purpose_id_ok(id))
		fail(p, p->line, "purpose id '%.*s' is not 1..%d of a-z 0-9 -", (int)id.len, id.ptr,
		     MAX_PURPOSE_ID);
	for (size_t i = pol->first_purpose; i < pol->first_purpose + pol->n_purposes; i++) {
		if (cid_str_eq(id, ps->purposes[i].id)) {
			fail(p, p->line, "purpose %.*s is already declared on line %u", (int)id.len,
			     id.ptr, ps->purposes[i].line);
			break;
		}
	}
	struct purpose *purposes =
	    grow(ps->purposes, &ps->cap_purposes, ps->n_purposes, sizeof(*ps->purposes));
	if (purposes == NULL) {
		p->rc = CID_ERR_NOMEM;
		return;
	}
	ps->purposes = purposes;
	p->purpose = ps->n_purposes++;
	struct purpose *pu = cur_purpose(p);
	*pu = (struct purpose){.policy = p->policy, .first_rule = ps->n_rules, .line = p->line};
	pu->id = keep(p, id);
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
		fail(p, p->line, "line is longer than %d bytes", CID_POLICY_MAX_LINE);
		return;
	}
	if (!cid_utf8_valid(s, n)) {
		fail(p, p->line, "not UTF-8 text, or holds NUL or a control character");
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
		fail(p, p->line, "a carriage return inside the line");
		return;
	}
	size_t indent = 0;
	while (indent < n && is_space(s[indent]))
		indent++;
	if (indent == n)
		return;
	struct cid_str rest = {s + indent, n - indent};
	struct cid_str word = next_word(&rest);
	const struct keyword *kw = keyword_find(word);
	if (kw == NULL) {
		fail(p, p->line, "unknown keyword '%.*s'", (int)word.len, word.ptr);
		return;
	}
	size_t id = (size_t)(kw - keywords);
	if (kw->scope == SCOPE_HEAD && p->in_purpose) {
		fail(p, p->line, "%s belongs before the first purpose", kw->name);
		return;
	}
	if (kw->scope == SCOPE_PURPOSE && !p->in_purpose) {
		fail(p, p->line, "%s outside a purpose block (start one with 'purpose ID')",
		     kw->name);
		return;
	}
	if (kw->scope == SCOPE_PURPOSE && p->skip_purpose)
		return;
	if (rest.len == 0) {
		fail(p, p->line, "%s needs a value", kw->name);
		return;
	}
	if (!kw->repeatable) {
		if (p->seen[id] != 0) {
			fail(p, p->line, "duplicate %s (first on line %u)", kw->name, p->seen[id]);
			return;
		}
		p->seen[id] = p->line;
	}
	kw->handle(p, rest);
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash == NULL ? path : slash + 1;
}

/* Parses one file's bytes into a new policy of ps; counts its errors into *n_errors. */
static enum cid_err parse_policy(struct cid_policyset *ps, const char *path, const char *text,
				 size_t len, FILE *errors, unsigned *n_errors)
{
	struct parser p = {.ps = ps, .errors = errors, .path = path, .policy = ps->n_policies};
	uint8_t hash[32];

	struct cid_policy *policies =
	    grow(ps->policies, &ps->cap_policies, ps->n_policies, sizeof(*ps->policies));
	if (policies == NULL)
		return CID_ERR_NOMEM;
	ps->policies = policies;
	struct cid_policy *pol = &ps->policies[ps->n_policies++];
	*pol = (struct cid_policy){.set = ps, .first_purpose = ps->n_purposes};
	pol->path = keep(&p, cid_str_of(path));
	pol->file = keep(&p, cid_str_of(base_name(path)));
	if (p.rc != CID_OK)
		return p.rc;
	if (len > CID_POLICY_MAX_FILE) {
		fail(&p, 1, "the file is larger than %zu bytes (1 MiB)", CID_POLICY_MAX_FILE);
		goto out;
	}
	cid_sha256(text, len, hash);
	cid_hex(hash, sizeof(hash), pol->version);
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
	pol = cur_policy(&p);
	if (p.seen[KW_SERVICE] == 0)
		fail(&p, 1, "no service line (the client_id this policy governs)");
	if (p.seen[KW_NAME_JA] == 0)
		fail(&p, 1, "no name.ja (the service's name in Japanese)");
	if (p.seen[KW_NAME_EN] == 0)
		fail(&p, 1, "no name.en (the service's name in English)");
	for (size_t i = 0; pol->service != NULL && i < p.policy; i++) {
		const struct cid_policy *other = &ps->policies[i];
		if (other->service != NULL && strcmp(other->service, pol->service) == 0)
			fail(&p, pol->service_line, "service %s already has a policy: %s",
			     pol->service, other->path);
	}
	if (pol->n_purposes > CID_POLICY_MAX_PURPOSES)
		pol->n_purposes = CID_POLICY_MAX_PURPOSES;
out:
	*n_errors += p.n_errors;
	return p.rc;
}

/* ---- loading ---- */

static struct cid_policyset *set_new(void)
{
	return calloc(1, sizeof(struct cid_policyset));
}

/* Reads at most CID_POLICY_MAX_FILE + 1 bytes: enough to tell that a file is too big. */
static enum cid_err read_file(const char *path, char **text, size_t *len)
{
	FILE *f = fopen(path, "rbe");
	enum cid_err rc = CID_OK;
	char *buf = NULL;
	size_t n = 0;

	if (f == NULL)
		return CID_ERR_IO;
	buf = malloc(CID_POLICY_MAX_FILE + 1);
	CID_ENSURE(buf != NULL, CID_ERR_NOMEM);
	n = fread(buf, 1, CID_POLICY_MAX_FILE + 1, f);
	CID_ENSURE(!ferror(f), CID_ERR_IO);
	*text = buf;
	*len = n;
	buf = NULL;
out:
	free(buf);
	int saved = errno;
	fclose(f);
	errno = saved;
	return rc;
}

enum cid_err cid_policyset_load(const char *const *paths, size_t n_paths, FILE *errors,
				struct cid_policyset **out)
{
	struct cid_policyset *ps = set_new();
	enum cid_err rc = CID_OK;
	unsigned n_errors = 0;
	bool unreadable = false;

	CID_ENSURE(ps != NULL, CID_ERR_NOMEM);
	for (size_t i = 0; i < n_paths; i++) {
		char *text = NULL;
		size_t len = 0;

		rc = read_file(paths[i], &text, &len);
		if (rc == CID_ERR_IO) {
			if (errors != NULL)
				fprintf(errors, "%s: cannot read: %s\n", paths[i], strerror(errno));
			unreadable = true;
			continue;
		}
		CID_TRY(rc);
		rc = parse_policy(ps, paths[i], text, len, errors, &n_errors);
		free(text);
		CID_TRY(rc);
	}
	CID_ENSURE(!unreadable, CID_ERR_IO);
	CID_ENSURE(n_errors == 0, CID_ERR_CONFIG);
	CID_TRY(compile(ps));
	*out = ps;
	ps = NULL;
out:
	cid_policyset_free(ps);
	return rc;
}

enum cid_err cid_policyset_parse(const char *name, const char *text, size_t len, FILE *errors,
				 struct cid_policyset **out)
{
	struct cid_policyset *ps = set_new();
	enum cid_err rc = CID_OK;
	unsigned n_errors = 0;

	CID_ENSURE(ps != NULL, CID_ERR_NOMEM);
	CID_TRY(parse_policy(ps, name, text == NULL ? "" : text, len, errors, &n_errors));
	CID_ENSURE(n_errors == 0, CID_ERR_CONFIG);
	CID_TRY(compile(ps));
	*out = ps;
	ps = NULL;
out:
	cid_policyset_free(ps);
	return rc;
}

static int policy_file(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return d->d_name[0] != '.' && n > 7 && strcmp(d->d_name + n - 7, ".policy") == 0;
}

/* By bytes, not by locale: the same order everywhere. */
static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

enum cid_err cid_policy_list_dir(const char *dir, char ***out, size_t *n_out)
{
	struct dirent **names = NULL;
	int n = scandir(dir, &names, policy_file, by_name);
	enum cid_err rc = CID_OK;
	char **paths = NULL;
	size_t count = 0;

	if (n < 0)
		return CID_ERR_IO;
	paths = calloc((size_t)n + 1, sizeof(*paths));
	CID_ENSURE(paths != NULL, CID_ERR_NOMEM);
	for (int i = 0; i < n; i++) {
		size_t size = strlen(dir) + strlen(names[i]->d_name) + 2;
		struct stat st;

		paths[count] = malloc(size);
		CID_ENSURE(paths[count] != NULL, CID_ERR_NOMEM);
		snprintf(paths[count], size, "%s/%s", dir, names[i]->d_name);
		if (stat(paths[count], &st) == 0 && S_ISREG(st.st_mode))
			count++;
		else
			free(paths[count]);
		paths[count] = NULL;
	}
	*out = paths;
	*n_out = count;
	paths = NULL;
out:
	cid_policy_paths_free(paths, count);
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

void cid_policy_paths_free(char **paths, size_t n)
{
	if (paths == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
}

enum cid_err cid_policyset_load_dir(const char *dir, FILE *errors, struct cid_policyset **out)
{
	char **paths = NULL;
	size_t n = 0;
	enum cid_err rc = cid_policy_list_dir(dir, &paths, &n);

	if (rc == CID_ERR_IO && errors != NULL)
		fprintf(errors, "%s: cannot read the directory: %s\n", dir, strerror(errno));
	if (rc != CID_OK)
		return rc;
	rc = cid_policyset_load((const char *const *)paths, n, errors, out);
	cid_policy_paths_free(paths, n);
	return rc;
}

void cid_policyset_free(struct cid_policyset *ps)
{
	if (ps == NULL)
		return;
	while (ps->arena != NULL) {
		struct block *next = ps->arena->next;
		free(ps->arena);
		ps->arena = next;
	}
	free(ps->policies);
	free(ps->purposes);
	free(ps->rules);
	free(ps->slots);
	free(ps);
}

/* ---- evaluation ---- */

const char *cid_reason_name(enum cid_reason r)
{
	static const char *const names[CID_REASON_COUNT] = {
	    [CID_REASON_PERMIT_CONSENT] = "permit_consent",
	    [CID_REASON_PERMIT_STATUTE] = "permit_statute",
	    [CID_REASON_UNKNOWN_SERVICE] = "unknown_service",
	    [CID_REASON_UNKNOWN_PURPOSE] = "unknown_purpose",
	    [CID_REASON_NOT_IN_POLICY] = "not_in_policy",
	    [CID_REASON_EXPLICIT_DENY] = "explicit_deny",
	    [CID_REASON_NO_CONSENT] = "no_consent",
	    [CID_REASON_REFUSED] = "refused",
	    [CID_REASON_WITHDRAWN] = "withdrawn",
	    [CID_REASON_EXPIRED] = "expired",
	    [CID_REASON_POLICY_CHANGED] = "policy_changed",
	    [CID_REASON_LEVEL_TOO_LOW] = "level_too_low",
	};

	if ((unsigned)r >= CID_REASON_COUNT || names[r] == NULL)
		return "unknown";
	return names[r];
}

/* The fact naming attribute exactly, else the first with its base name (base bytes). */
static const struct cid_consent_fact *fact_find(const struct cid_consent_fact *facts, size_t n,
						const char *attribute, size_t base)
{
	const struct cid_consent_fact *by_base = NULL;

	for (size_t i = 0; facts != NULL && i < n; i++) {
		const char *a = facts[i].attribute;

		if (a == NULL || strncmp(a, attribute, base) != 0 ||
		    (a[base] != '\0' && a[base] != '#'))
			continue;
		if (strcmp(a, attribute) == 0)
			return &facts[i];
		if (by_base == NULL)
			by_base = &facts[i];
	}
	return by_base;
}

static void purpose_facts(const struct cid_policyset *ps, const struct purpose *pu,
			  struct cid_decision *out)
{
	out->basis = pu->basis;
	out->statute = pu->statute;
	out->policy_version = ps->policies[pu->policy].version;
}

/*
 * Decides attribute by the rule of slot s (an attribute slot, NULL: the
 * purpose pu lists no rule for it). base is the length of its base name.
 */
static void decide(const struct cid_policyset *ps, const struct purpose *pu, const struct slot *s,
		   const char *attribute, size_t base, const struct cid_consent_fact *facts,
		   size_t n_facts, int level, int64_t now, struct cid_decision *out)
{
	purpose_facts(ps, pu, out);
	if (s == NULL) {
		out->reason = CID_REASON_NOT_IN_POLICY;
		return;
	}
	const struct rule *r = &ps->rules[s->rule];
	/* a tagged name is the base claim's only if the tag is well-formed for it */
	if (attribute[base] == '#' && cid_claim_lookup(attribute) == NULL) {
		out->reason = CID_REASON_NOT_IN_POLICY;
		return;
	}
	out->rule = r->where;
	if (r->kind == RULE_DENY) {
		out->reason = CID_REASON_EXPLICIT_DENY;
		return;
	}
	out->min_level = r->level;
	if (level < r->level) {
		out->reason = CID_REASON_LEVEL_TOO_LOW;
		return;
	}
	if (pu->basis == CID_BASIS_STATUTE) {
		out->permit = true;
		out->reason = CID_REASON_PERMIT_STATUTE;
		return;
	}
	const struct cid_consent_fact *f = fact_find(facts, n_facts, attribute, base);
	if (f == NULL) {
		out->reason = CID_REASON_NO_CONSENT;
		return;
	}
	out->consent_id = f->record_id;
	switch (cid_consent_state_at(f->state, f->expires_at, now)) {
	case CID_CONSENT_GRANTED: break;
	case CID_CONSENT_REFUSED: out->reason = CID_REASON_REFUSED; return;
	case CID_CONSENT_WITHDRAWN: out->reason = CID_REASON_WITHDRAWN; return;
	case CID_CONSENT_EXPIRED: out->reason = CID_REASON_EXPIRED; return;
	default: out->reason = CID_REASON_NO_CONSENT; return;
	}
	if (f->purpose_digest == NULL || strcmp(f->purpose_digest, pu->digest) != 0) {
		out->reason = CID_REASON_POLICY_CHANGED;
		return;
	}
	out->permit = true;
	out->reason = CID_REASON_PERMIT_CONSENT;
}

void cid_policy_eval(const struct cid_policyset *ps, const char *service, const char *purpose,
		     const char *attribute, const struct cid_consent_fact *facts, size_t n_facts,
		     int level, int64_t now, struct cid_decision *out)
{
	struct key k = {
	    .cls = SLOT_ATTRIBUTE, .service = cid_str_of(service), .purpose = cid_str_of(purpose)};
	const struct slot *s = NULL;

	*out = (struct cid_decision){.permit = false, .reason = CID_REASON_UNKNOWN_SERVICE};
	if (ps == NULL || ps->slots == NULL || service == NULL)
		return;
	if (purpose != NULL && attribute != NULL) {
		k.attribute = (struct cid_str){attribute, strcspn(attribute, "#")};
		s = slot_find(ps, &k);
	}
	if (s != NULL) {
		decide(ps, &ps->purposes[s->index], s, attribute, k.attribute.len, facts, n_facts,
		       level, now, out);
		return;
	}
	k.cls = SLOT_PURPOSE;
	s = purpose == NULL ? NULL : slot_find(ps, &k);
	if (s != NULL) {
		decide(ps, &ps->purposes[s->index], NULL, attribute, 0, NULL, 0, level, now, out);
		return;
	}
	k.cls = SLOT_SERVICE;
	s = slot_find(ps, &k);
	if (s != NULL) {
		out->policy_version = ps->policies[s->index].version;
		out->reason = CID_REASON_UNKNOWN_PURPOSE;
	}
}

/* ---- description ---- */

static const struct cid_policy *policy_find(const struct cid_policyset *ps, const char *service)
{
	struct key k = {.cls = SLOT_SERVICE, .service = cid_str_of(service)};
	const struct slot *s;

	if (ps == NULL || ps->slots == NULL || service == NULL)
		return NULL;
	s = slot_find(ps, &k);
	return s == NULL ? NULL : &ps->policies[s->index];
}

static json_t *describe_purpose(const struct cid_policyset *ps, const struct purpose *pu)
{
	json_t *permit = json_array(), *deny = json_array();
	bool ok = permit != NULL && deny != NULL;

	for (size_t i = pu->first_rule; ok && i < pu->first_rule + pu->n_rules; i++) {
		const struct rule *r = &ps->rules[i];
		if (r->kind == RULE_DENY)
			ok = json_array_append_new(deny,
						   json_pack("{s:s, s:s}", "attribute",
							     r->attribute, "rule", r->where)) == 0;
		else if (!denied(ps, pu, r->attribute))
			ok = json_array_append_new(
				 permit, json_pack("{s:s, s:i, s:s}", "attribute", r->attribute,
						   "level", r->level, "rule", r->where)) == 0;
	}
	if (!ok) {
		json_decref(permit);
		json_decref(deny);
		return NULL;
	}
	json_t *o = json_pack("{s:s, s:{s:s, s:s}, s:s, s:I, s:I, s:s, s:o, s:o}", "id", pu->id,
			      "text", "ja", pu->text_ja, "en", pu->text_en, "basis",
			      pu->basis == CID_BASIS_STATUTE ? "statute" : "consent",
			      "retention_days", (json_int_t)pu->retention_days,
			      "consent_valid_days", (json_int_t)pu->consent_valid_days, "digest",
			      pu->digest, "permit", permit, "deny", deny);
	if (o != NULL && pu->statute != NULL &&
	    json_object_set_new(o, "statute", json_string(pu->statute)) != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

enum cid_err cid_policy_describe(const struct cid_policyset *ps, const char *service, json_t **out)
{
	const struct cid_policy *pol = policy_find(ps, service);
	json_t *purposes, *o;

	if (pol == NULL)
		return CID_ERR_NOTFOUND;
	purposes = json_array();
	if (purposes == NULL)
		return CID_ERR_NOMEM;
	for (size_t i = pol->first_purpose; i < pol->first_purpose + pol->n_purposes; i++) {
		if (json_array_append_new(purposes, describe_purpose(ps, &ps->purposes[i])) != 0) {
			json_decref(purposes);
			return CID_ERR_NOMEM;
		}
	}
	o = json_pack("{s:s, s:{s:s, s:s}, s:s, s:s, s:s, s:o}", "service", pol->service, "name",
		      "ja", pol->name_ja, "en", pol->name_en, "subject",
		      pol->public_subject ? "public" : "pairwise", "version", pol->version, "file",
		      pol->file, "purposes", purposes);
	if (o == NULL)
		return CID_ERR_NOMEM;
	*out = o;
	return CID_OK;
}

size_t cid_policyset_count(const struct cid_policyset *ps)
{
	return ps == NULL ? 0 : ps->n_policies;
}

const char *cid_policyset_service(const struct cid_policyset *ps, size_t i)
{
	return ps == NULL || i >= ps->n_policies ? NULL : ps->policies[i].service;
}

const char *cid_policyset_version(const struct cid_policyset *ps, const char *service)
{
	const struct cid_policy *pol = policy_find(ps, service);

	return pol == NULL ? NULL : pol->version;
}

const struct cid_policy *cid_policyset_find(const struct cid_policyset *ps, const char *service)
{
	return policy_find(ps, service);
}

const char *cid_policy_service(const struct cid_policy *pol)
{
	return pol->service;
}

const char *cid_policy_version(const struct cid_policy *pol)
{
	return pol->version;
}

const char *cid_policy_name(const struct cid_policy *pol, const char *locale)
{
	return locale != NULL && strcmp(locale, "en") == 0 ? pol->name_en : pol->name_ja;
}

bool cid_policy_public_subject(const struct cid_policy *pol)
{
	return pol->public_subject;
}

size_t cid_policy_purpose_count(const struct cid_policy *pol)
{
	return pol == NULL ? 0 : pol->n_purposes;
}

bool cid_policy_purpose_find(const struct cid_policy *pol, const char *id,
			     struct cid_purpose_info *out)
{
	for (size_t i = 0; id != NULL && i < cid_policy_purpose_count(pol); i++) {
		if (strcmp(pol->set->purposes[pol->first_purpose + i].id, id) == 0) {
			cid_policy_purpose(pol, i, out);
			return true;
		}
	}
	return false;
}

const char *cid_purpose_text(const struct cid_purpose_info *pu, const char *locale)
{
	return strcmp(locale, "en") == 0 ? pu->text_en : pu->text_ja;
}

void cid_policy_purpose(const struct cid_policy *pol, size_t i, struct cid_purpose_info *out)
{
	const struct purpose *pu = &pol->set->purposes[pol->first_purpose + i];

	*out = (struct cid_purpose_info){
	    .id = pu->id,
	    .text_ja = pu->text_ja,
	    .text_en = pu->text_en,
	    .basis = pu->basis,
	    .statute = pu->statute,
	    .retention_days = pu->retention_days,
	    .consent_valid_days = pu->basis == CID_BASIS_STATUTE ? 0 : pu->consent_valid_days,
	    .digest = pu->digest,
	};
}

void cid_policy_eval_service(const struct cid_policy *pol, const char *attribute,
			     const struct cid_fact_list *facts, int level, int64_t now,
			     struct cid_decision *out, size_t *purpose_out)
{
	size_t permit = SIZE_MAX, open = SIZE_MAX;
	struct cid_decision d, permit_d = {0}, open_d = {0}, first_d = {0};

	*out = (struct cid_decision){.permit = false, .reason = CID_REASON_UNKNOWN_SERVICE};
	*purpose_out = SIZE_MAX;
	if (pol == NULL)
		return;
	if (pol->n_purposes == 0) {
		out->policy_version = pol->version;
		out->reason = CID_REASON_UNKNOWN_PURPOSE;
		return;
	}
	for (size_t i = 0; i < pol->n_purposes; i++) {
		const struct purpose *pu = &pol->set->purposes[pol->first_purpose + i];
		const struct cid_fact_list *f = facts == NULL ? NULL : &facts[i];
		/* the purpose is known: a miss is not_in_policy, with no fallback probes */
		struct key k = {
		    .cls = SLOT_ATTRIBUTE,
		    .service = cid_str_of(pol->service),
		    .purpose = cid_str_of(pu->id),
		    .attribute = {attribute, attribute == NULL ? 0 : strcspn(attribute, "#")}};
		const struct slot *s = attribute == NULL ? NULL : slot_find(pol->set, &k);

		d = (struct cid_decision){.permit = false};
		decide(pol->set, pu, s, attribute, k.attribute.len, f == NULL ? NULL : f->facts,
		       f == NULL ? 0 : f->n, level, now, &d);
		if (d.reason == CID_REASON_EXPLICIT_DENY) {
			*out = d;
			*purpose_out = i;
			return;
		}
		if (i == 0)
			first_d = d;
		if (d.permit && permit == SIZE_MAX) {
			permit = i;
			permit_d = d;
		} else if (!d.permit && d.reason != CID_REASON_NOT_IN_POLICY && open == SIZE_MAX) {
			open = i;
			open_d = d;
		}
	}
	if (permit != SIZE_MAX) {
		*out = permit_d;
		*purpose_out = permit;
	} else if (open != SIZE_MAX) {
		*out = open_d;
		*purpose_out = open;
	} else {
		*out = first_d;
		*purpose_out = 0;
	}
}
