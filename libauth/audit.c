/*
 * audit: a hash chain of canonical JSON entries in LMDB, its signed
 * checkpoints, and the read-only views of it.
 *
 * Every write goes through one function, chain_write, run inside a write
 * transaction: it reads the head there (so two writers, even in two
 * processes, can never fork the chain), gives each entry its seq and prev,
 * writes it with its index keys and moves the head. Everything it needs is
 * checked before the transaction, and its outputs go to its argument only, so
 * cid_store_update may run it again after growing the map.
 *
 * Group commit: an appender queues a waiter (on its own stack) and either
 * becomes the leader, which takes the whole queue and writes it in one
 * durable transaction, or sleeps until a leader has written its entries. A
 * waiter that finds its entries unwritten and no leader running leads the
 * next round itself, so nothing waits for a thread that is gone.
 *
 * Verification reads every entry once, in order, keeping only the previous
 * hash, so it runs in constant memory over any size of log; every finding is
 * a candidate bad seq and the report keeps the smallest.
 */
#include "audit.h"

#include "buf.h"
#include "crypto.h"
#include "str.h"

#include <openssl/evp.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SEQ_HEX	       16
#define HEAD_KEY       "audit_head"
#define ZERO_HASH      "0000000000000000000000000000000000000000000000000000000000000000"
#define CHECKPOINT_TYP "civicid-checkpoint+jwt"
#define LINE_MAX_BYTES ((size_t)1 << 20) /* an export line longer than this is damage */
#define NAME_MAX_BYTES 200		 /* a citizen or service id used in an index key */
#define MAX_DEPTH      32		 /* nesting of an entry */
#define TIME_CHARS     20		 /* "2026-11-25T09:30:00Z" */
#define STOP	       CID_ERR_COUNT	 /* internal: a walk stopped on purpose */

/* One caller of cid_audit_append waiting for its entries to be written. */
struct waiter {
	json_t *const *entries;
	const char *const *once; /* per entry: an index key that must be new, or NULL */
	size_t n;
	uint64_t first; /* outputs, valid when done */
	size_t written;
	enum cid_err rc;
	bool done;
	struct waiter *next;
};

struct cid_audit {
	struct cid_store *store;
	bool group;
	_Atomic uint64_t commits;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool leading; /* a leader is writing a batch */
	struct waiter *queue, **tail;
};

/* ---- canonical bytes and hashes ---- */

static void seq_key(uint64_t seq, char out[SEQ_HEX + 1])
{
	snprintf(out, SEQ_HEX + 1, "%016" PRIx64, seq);
}

static bool seq_key_parse(struct cid_str key, uint64_t *seq)
{
	uint64_t v = 0;

	if (key.len != SEQ_HEX)
		return false;
	for (size_t i = 0; i < SEQ_HEX; i++) {
		char c = key.ptr[i];

		if (c >= '0' && c <= '9')
			v = v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint64_t)(c - 'a' + 10);
		else
			return false;
	}
	*seq = v;
	return true;
}

/* True if v holds only ASCII member names and no real numbers, at any depth. */
static bool canon_ok(const json_t *v, int depth)
{
	const char *name;
	json_t *m;
	size_t i;

	if (depth > MAX_DEPTH)
		return false;
	if (json_is_real(v))
		return false;
	if (json_is_array(v)) {
		json_array_foreach(v, i, m) if (!canon_ok(m, depth + 1)) return false;
		return true;
	}
	if (!json_is_object(v))
		return true;
	/* jansson's foreach wants a non-const object; nothing here modifies it */
	json_object_foreach((json_t *)(uintptr_t)v, name, m)
	{
		for (const char *p = name; *p != '\0'; p++)
			if ((unsigned char)*p >= 0x80)
				return false;
		if (!canon_ok(m, depth + 1))
			return false;
	}
	return true;
}

/* hash = SHA-256(0x00 || bytes) as lowercase hex; the 0x00 keeps entry hashes
 * apart from any other SHA-256 use of the same bytes. */
static enum cid_err entry_hash(const char *p, size_t n, char hex[CID_AUDIT_HASH_HEX])
{
	static const uint8_t zero = 0;
	uint8_t h[32];
	unsigned int hl = 0;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	enum cid_err rc = CID_OK;

	CID_ENSURE(md != NULL, CID_ERR_NOMEM);
	CID_ENSURE(EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
		       EVP_DigestUpdate(md, &zero, 1) == 1 && EVP_DigestUpdate(md, p, n) == 1 &&
		       EVP_DigestFinal_ex(md, h, &hl) == 1 && hl == sizeof(h),
		   CID_ERR_CRYPTO);
	cid_hex(h, sizeof(h), hex);
out:
	EVP_MD_CTX_free(md);
	return rc;
}

static bool hash_syntax_ok(const char *h)
{
	if (h == NULL || strlen(h) != CID_AUDIT_HASH_HEX - 1)
		return false;
	for (const char *p = h; *p != '\0'; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

/* An id usable as part of an index key: non-empty, short, no NUL or newline. */
static bool index_name_ok(const char *s, size_t len)
{
	return s != NULL && len > 0 && len <= NAME_MAX_BYTES && strlen(s) == len &&
	       strchr(s, '\n') == NULL;
}

/* index_name_ok of a JSON member: absent is fine, anything else must be a usable name. */
static bool index_member_ok(const json_t *v)
{
	return v == NULL || index_name_ok(json_string_value(v), json_string_length(v));
}

/* index_name_ok of a filter's name: NULL (no filter) is fine. */
static bool filter_name_ok(const char *s)
{
	return s == NULL || index_name_ok(s, strnlen(s, NAME_MAX_BYTES + 1));
}

/* The checks of cid_audit_append on one entry. */
static enum cid_err entry_check(const json_t *e)
{
	if (!json_is_object(e) || json_object_get(e, "seq") != NULL ||
	    json_object_get(e, "prev") != NULL || !canon_ok(e, 0) ||
	    !index_member_ok(json_object_get(e, "citizen")) ||
	    !index_member_ok(json_object_get(e, "service")))
		return CID_ERR_INVALID;
	return CID_OK;
}

static bool time_syntax_ok(const char *t)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";

	if (t == NULL || strlen(t) != TIME_CHARS)
		return false;
	for (size_t i = 0; i < TIME_CHARS; i++)
		if (shape[i] == 'd' ? !(t[i] >= '0' && t[i] <= '9') : t[i] != shape[i])
			return false;
	return true;
}

enum cid_err cid_audit_time(int64_t t, char out[21])
{
	struct tm tm;
	time_t tt;

	/* 0000-01-01T00:00:00Z .. 9999-12-31T23:59:59Z */
	if (t < -62167219200LL || t > 253402300799LL)
		return CID_ERR_INVALID;
	tt = (time_t)t;
	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, TIME_CHARS + 1, "%Y-%m-%dT%H:%M:%SZ", &tm) != TIME_CHARS)
		return CID_ERR_INVALID;
	return CID_OK;
}

enum cid_err cid_audit_day_parse(const char *s, int64_t *t)
{
	struct tm tm = {0};
	uint64_t y, m, d;
	time_t tt;

	if (s == NULL || strnlen(s, 11) != 10 || s[4] != '-' || s[7] != '-' ||
	    cid_parse_u64(s, 4, 1970, 9999, &y) != CID_OK ||
	    cid_parse_u64(s + 5, 2, 1, 12, &m) != CID_OK ||
	    cid_parse_u64(s + 8, 2, 1, 31, &d) != CID_OK)
		return CID_ERR_INVALID;
	tm.tm_year = (int)y - 1900;
	tm.tm_mon = (int)m - 1;
	tm.tm_mday = (int)d;
	tt = timegm(&tm);
	/* timegm normalises 02-30 into March: a date that moved was not a date */
	if (tt < 0 || tm.tm_mday != (int)d || tm.tm_mon != (int)m - 1)
		return CID_ERR_INVALID;
	*t = (int64_t)tt;
	return CID_OK;
}

enum cid_err cid_audit_bound_parse(const char *s, char out[21])
{
	char day[11];
	int64_t t;

	if (s == NULL)
		return CID_ERR_INVALID;
	if (strnlen(s, TIME_CHARS + 1) == 10)
		return cid_audit_day_parse(s, &t) == CID_OK ? cid_audit_time(t, out)
							    : CID_ERR_INVALID;
	if (!time_syntax_ok(s))
		return CID_ERR_INVALID;
	/* the date part must be a real date too */
	memcpy(day, s, 10);
	day[10] = '\0';
	if (cid_audit_day_parse(day, &t) != CID_OK)
		return CID_ERR_INVALID;
	memcpy(out, s, TIME_CHARS + 1);
	return CID_OK;
}

/* ---- the head and the write path ---- */

enum cid_err cid_audit_head(struct cid_txn *txn, uint64_t *size, char hash[CID_AUDIT_HASH_HEX])
{
	enum cid_err rc;
	json_t *head = NULL;
	const json_t *n;
	const char *h;

	rc = cid_txn_get_json(txn, CID_DB_META, cid_str_of(HEAD_KEY), &head);
	if (rc == CID_ERR_NOTFOUND) {
		*size = 0;
		memcpy(hash, ZERO_HASH, CID_AUDIT_HASH_HEX);
		return CID_OK;
	}
	CID_TRY(rc);
	n = json_object_get(head, "size");
	h = cid_json_str(head, "hash");
	CID_ENSURE(json_is_integer(n) && json_integer_value(n) >= 0 && hash_syntax_ok(h),
		   CID_ERR_STORE);
	*size = (uint64_t)json_integer_value(n);
	memcpy(hash, h, CID_AUDIT_HASH_HEX);
out:
	json_decref(head);
	return rc;
}

/*
 * Writes index key kind "\n" name "\n" seq16 with the entry's time as its
 * value ("" when it has none), so a time range over a citizen's or a
 * service's entries is decided from the index alone.
 */
static enum cid_err index_put(struct cid_txn *txn, char kind, const char *name, const char *seq16,
			      const char *time)
{
	char key[4 + NAME_MAX_BYTES + SEQ_HEX + 1];
	int n = snprintf(key, sizeof(key), "%c\n%s\n%s", kind, name, seq16);

	if (n < 0 || (size_t)n >= sizeof(key))
		return CID_ERR_INVALID;
	return cid_txn_put(txn, CID_DB_AUDIT_IDX, (struct cid_str){key, (size_t)n},
			   cid_str_of(time != NULL ? time : ""), 0);
}

/* The running end of the chain inside one write transaction. */
struct chain {
	uint64_t size;
	char hash[CID_AUDIT_HASH_HEX];
};

/* Writes one checked entry as the next of the chain. */
static enum cid_err chain_put(struct cid_txn *txn, struct chain *c, const json_t *entry)
{
	enum cid_err rc = CID_OK;
	json_t *e = json_copy((json_t *)(uintptr_t)entry); /* shallow: only seq and prev are set */
	char *text = NULL;
	char key[SEQ_HEX + 1];
	const char *who;
	const char *time;

	/* jansson 2.14's json_copy leaves out a member it runs out of memory for, and
	 * returns the rest: an entry must never be chained with a member missing */
	CID_ENSURE(e != NULL && json_object_size(e) == json_object_size(entry), CID_ERR_NOMEM);
	CID_ENSURE(c->size < (uint64_t)INT64_MAX, CID_ERR_STORE);
	CID_ENSURE(json_object_set_new(e, "seq", json_integer((json_int_t)c->size)) == 0 &&
		       json_object_set_new(e, "prev", json_string(c->hash)) == 0,
		   CID_ERR_NOMEM);
	CID_TRY(cid_json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS, &text, NULL));
	seq_key(c->size, key);
	CID_TRY(
	    cid_txn_put(txn, CID_DB_AUDIT, cid_str_of(key), cid_str_of(text), CID_PUT_NOOVERWRITE));
	time = cid_json_str(e, "time");
	who = cid_json_str(e, "citizen");
	if (who != NULL)
		CID_TRY(index_put(txn, 'c', who, key, time));
	who = cid_json_str(e, "service");
	if (who != NULL)
		CID_TRY(index_put(txn, 's', who, key, time));
	/* the time index: "t\n" time "\n" seq, for ranges over all entries */
	if (time != NULL && time_syntax_ok(time))
		CID_TRY(index_put(txn, 't', time, key, NULL));
	CID_TRY(entry_hash(text, strlen(text), c->hash));
	c->size++;
out:
	free(text);
	json_decref(e);
	return rc;
}

static enum cid_err head_put(struct cid_txn *txn, const struct chain *c)
{
	enum cid_err rc = CID_OK;
	json_t *head = json_pack("{s:I, s:s}", "size", (json_int_t)c->size, "hash", c->hash);

	CID_ENSURE(head != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_txn_put_json(txn, CID_DB_META, cid_str_of(HEAD_KEY), head, 0));
out:
	json_decref(head);
	return rc;
}

/* Writes the entries of a list of waiters, in order; outputs go to the waiters. */
static enum cid_err chain_write(struct cid_txn *txn, struct waiter *list)
{
	enum cid_err rc = CID_OK;
	struct chain c;
	struct cid_str v;

	CID_TRY(cid_audit_head(txn, &c.size, c.hash));
	for (struct waiter *w = list; w != NULL; w = w->next) {
		w->first = c.size;
		w->written = 0;
		for (size_t i = 0; i < w->n; i++) {
			const char *once = w->once != NULL ? w->once[i] : NULL;

			if (once != NULL) {
				rc = cid_txn_get(txn, CID_DB_AUDIT_IDX, cid_str_of(once), &v);
				if (rc == CID_OK)
					continue; /* written once already */
				CID_ENSURE(rc == CID_ERR_NOTFOUND, rc);
				CID_TRY(cid_txn_put(txn, CID_DB_AUDIT_IDX, cid_str_of(once),
						    cid_str_of(""), 0));
			}
			CID_TRY(chain_put(txn, &c, w->entries[i]));
			w->written++;
		}
	}
	CID_TRY(head_put(txn, &c));
out:
	return rc;
}

static enum cid_err chain_write_cb(struct cid_txn *txn, void *arg)
{
	return chain_write(txn, arg);
}

enum cid_err cid_audit_append_txn(struct cid_txn *txn, const json_t *entry, uint64_t *seq)
{
	enum cid_err rc = CID_OK;
	json_t *e = (json_t *)(uintptr_t)entry;
	struct waiter w = {.entries = &e, .n = 1};

	CID_TRY(entry_check(entry));
	CID_TRY(chain_write(txn, &w));
	if (seq != NULL)
		*seq = w.first;
out:
	return rc;
}

/* ---- the log and group commit ---- */

enum cid_err cid_audit_open(struct cid_store *s, bool group, struct cid_audit **out)
{
	struct cid_audit *log = calloc(1, sizeof(*log));

	if (log == NULL)
		return CID_ERR_NOMEM;
	if (pthread_mutex_init(&log->lock, NULL) != 0) {
		free(log);
		return CID_ERR_NOMEM;
	}
	if (pthread_cond_init(&log->cond, NULL) != 0) {
		pthread_mutex_destroy(&log->lock);
		free(log);
		return CID_ERR_NOMEM;
	}
	log->store = s;
	log->group = group;
	log->tail = &log->queue;
	atomic_init(&log->commits, 0);
	*out = log;
	return CID_OK;
}

void cid_audit_close(struct cid_audit *log)
{
	if (log == NULL)
		return;
	pthread_cond_destroy(&log->cond);
	pthread_mutex_destroy(&log->lock);
	free(log);
}

uint64_t cid_audit_commits(const struct cid_audit *log)
{
	return atomic_load(&log->commits);
}

/* Writes w (with everything queued) and returns when w is done. */
static void group_commit(struct cid_audit *log, struct waiter *w)
{
	struct waiter *batch;
	enum cid_err rc;

	pthread_mutex_lock(&log->lock);
	*log->tail = w;
	log->tail = &w->next;
	for (;;) {
		while (!w->done && log->leading)
			pthread_cond_wait(&log->cond, &log->lock);
		if (w->done)
			break;
		/* no leader, and w not written: lead a round with all that is queued */
		batch = log->queue;
		log->queue = NULL;
		log->tail = &log->queue;
		log->leading = true;
		pthread_mutex_unlock(&log->lock);

		rc = cid_store_update(log->store, chain_write_cb, batch);
		if (rc == CID_OK)
			atomic_fetch_add(&log->commits, 1);

		pthread_mutex_lock(&log->lock);
		for (struct waiter *b = batch, *next; b != NULL; b = next) {
			next = b->next; /* b may return (and its stack go) once done */
			b->rc = rc;
			b->next = NULL;
			b->done = true;
		}
		log->leading = false;
		pthread_cond_broadcast(&log->cond);
	}
	pthread_mutex_unlock(&log->lock);
}

/* Appends entries, each with its once-key or none, as consecutive entries. */
static enum cid_err append(struct cid_audit *log, json_t *const *entries, const char *const *once,
			   size_t n, uint64_t *first, size_t *written)
{
	enum cid_err rc = CID_OK;
	struct waiter w = {.entries = entries, .once = once, .n = n};

	CID_ENSURE(log != NULL && entries != NULL && n > 0, CID_ERR_INVALID);
	for (size_t i = 0; i < n; i++)
		CID_TRY(entry_check(entries[i]));
	if (log->group) {
		group_commit(log, &w);
		rc = w.rc;
	} else {
		rc = cid_store_update(log->store, chain_write_cb, &w);
		if (rc == CID_OK)
			atomic_fetch_add(&log->commits, 1);
	}
	CID_TRY(rc);
	if (first != NULL)
		*first = w.first;
	if (written != NULL)
		*written = w.written;
out:
	return rc;
}

enum cid_err cid_audit_append(struct cid_audit *log, json_t *const *entries, size_t n,
			      uint64_t *first_seq)
{
	return append(log, entries, NULL, n, first_seq, NULL);
}

/* ---- the release hook ---- */

/* One entry of a release in the making: decisions sharing the grouping key. */
struct group {
	const struct cid_release_decision *key; /* the first decision of the group */
	json_t *attributes;
	json_t *records;
};

static bool same_str(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool same_group(const struct cid_release_decision *a, const struct cid_release_decision *b)
{
	const struct cid_decision *x = &a->decision;
	const struct cid_decision *y = &b->decision;

	return x->permit == y->permit && x->reason == y->reason &&
	       same_str(a->purpose, b->purpose) && x->basis == y->basis &&
	       same_str(x->statute, y->statute) && same_str(x->rule, y->rule);
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(json_string_value(*(json_t *const *)a),
		      json_string_value(*(json_t *const *)b));
}

/* Sorts an array of strings and drops repeats, in place. */
static enum cid_err sorted_set(json_t *arr)
{
	enum cid_err rc = CID_OK;
	size_t n = json_array_size(arr);
	// NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers
	json_t **items = calloc(n + 1, sizeof(*items));
	size_t i;
	json_t *v;

	CID_ENSURE(items != NULL, CID_ERR_NOMEM);
	json_array_foreach(arr, i, v) items[i] = json_incref(v);
	// NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers
	qsort(items, n, sizeof(*items), str_cmp);
	json_array_clear(arr);
	for (i = 0; i < n; i++)
		if (i == 0 || str_cmp(&items[i - 1], &items[i]) != 0)
			CID_ENSURE(json_array_append(arr, items[i]) == 0, CID_ERR_NOMEM);
out:
	for (i = 0; items != NULL && i < n; i++)
		json_decref(items[i]);
	free(items);
	return rc;
}

static enum cid_err set_str(json_t *o, const char *name, const char *v)
{
	if (v == NULL)
		return CID_OK;
	return json_object_set_new(o, name, json_string(v)) == 0 ? CID_OK : CID_ERR_NOMEM;
}

/* The members every entry of the event shares. */
static enum cid_err event_base(const struct cid_release_event *ev, const char *time,
			       const char *actor, json_t **out)
{
	enum cid_err rc = CID_OK;
	json_t *e = json_object();

	CID_ENSURE(e != NULL, CID_ERR_NOMEM);
	CID_TRY(set_str(e, "time", time));
	CID_TRY(set_str(e, "actor", actor));
	CID_TRY(set_str(e, "citizen", ev->account_id));
	CID_TRY(set_str(e, "service", ev->service));
	*out = e;
	e = NULL;
out:
	json_decref(e);
	return rc;
}

static enum cid_err release_entry(const struct cid_release_event *ev, const char *time,
				  const struct group *g, json_t **out)
{
	enum cid_err rc = CID_OK;
	const struct cid_decision *d = &g->key->decision;
	json_t *e = NULL;
	char basis[300];

	CID_TRY(event_base(ev, time, "service", &e));
	CID_TRY(set_str(e, "type", d->permit ? "release.permit" : "release.deny"));
	CID_TRY(set_str(e, "decision", d->permit ? "permit" : "deny"));
	CID_TRY(set_str(e, "reason", cid_reason_name(d->reason)));
	CID_TRY(set_str(e, "purpose", g->key->purpose));
	if (g->key->purpose != NULL) {
		if (d->basis == CID_BASIS_STATUTE)
			snprintf(basis, sizeof(basis), "statute:%s",
				 d->statute != NULL ? d->statute : "");
		else
			snprintf(basis, sizeof(basis), "consent");
		CID_TRY(set_str(e, "basis", basis));
	}
	CID_TRY(set_str(e, "rule", d->rule));
	CID_TRY(set_str(e, "policy_version", d->policy_version));
	CID_TRY(set_str(e, "endpoint", cid_release_target_name(ev->target)));
	CID_TRY(set_str(e, "request_id", ev->request_id));
	CID_TRY(set_str(e, "grant_id", ev->grant_id));
	CID_ENSURE(json_object_set_new(e, "level", json_integer(ev->level)) == 0 &&
		       json_object_set(e, "attributes", g->attributes) == 0,
		   CID_ERR_NOMEM);
	if (json_array_size(g->records) > 0)
		CID_ENSURE(json_object_set(e, "consent_records", g->records) == 0, CID_ERR_NOMEM);
	*out = e;
	e = NULL;
out:
	json_decref(e);
	return rc;
}

/* The attribute's base name ("family_name" of "family_name#ja-Kana-JP"). */
static json_t *base_name(const char *attribute)
{
	const char *hash = strchr(attribute, '#');

	return hash == NULL ? json_string(attribute)
			    : json_stringn(attribute, (size_t)(hash - attribute));
}

/* The consent.expired entry of the decisions of ev with consent record id. */
static enum cid_err expired_entry(const struct cid_release_event *ev, const char *time,
				  const struct cid_release_decision *first, json_t **out)
{
	enum cid_err rc = CID_OK;
	const char *id = first->decision.consent_id;
	json_t *e = NULL;
	json_t *attrs = json_array();

	CID_ENSURE(attrs != NULL, CID_ERR_NOMEM);
	for (const struct cid_release_decision *d = first; d < ev->decisions + ev->n_decisions; d++)
		if (d->decision.reason == CID_REASON_EXPIRED &&
		    same_str(d->decision.consent_id, id))
			CID_ENSURE(json_array_append_new(attrs, base_name(d->attribute)) == 0,
				   CID_ERR_NOMEM);
	CID_TRY(sorted_set(attrs));
	CID_TRY(event_base(ev, time, "system", &e));
	CID_TRY(set_str(e, "type", "consent.expired"));
	CID_TRY(set_str(e, "purpose", first->purpose));
	CID_ENSURE(json_object_set(e, "attributes", attrs) == 0 &&
		       json_object_set_new(e, "consent_records", json_pack("[s]", id)) == 0,
		   CID_ERR_NOMEM);
	*out = e;
	e = NULL;
out:
	json_decref(attrs);
	json_decref(e);
	return rc;
}

static void entries_free(json_t **entries, char **once, size_t cap)
{
	for (size_t i = 0; i < cap; i++) {
		json_decref(entries[i]);
		free(once[i]);
	}
	free(entries);
	free(once);
}

enum cid_err cid_audit_release_hook(void *arg, const struct cid_release_event *ev,
				    struct cid_audit_range *range)
{
	enum cid_err rc = CID_OK;
	struct cid_audit *log = arg;
	size_t nd = ev->n_decisions;
	struct group *groups = calloc(nd + 1, sizeof(*groups));
	// NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers
	json_t **entries = calloc(2 * nd + 1, sizeof(*entries));
	char **once = calloc(2 * nd + 1, sizeof(*once));
	size_t ng = 0;
	size_t n = 0;
	char time[TIME_CHARS + 1];
	uint64_t first = 0;
	size_t written = 0;

	*range = (struct cid_audit_range){0};
	CID_ENSURE(groups != NULL && entries != NULL && once != NULL, CID_ERR_NOMEM);
	if (nd == 0)
		goto out;
	CID_TRY(cid_audit_time(ev->now, time));
	/* each expired consent record once per event here, once ever by its once-key */
	for (size_t i = 0; i < nd; i++) {
		const struct cid_release_decision *d = &ev->decisions[i];
		bool seen = false;
		size_t len;

		if (d->decision.reason != CID_REASON_EXPIRED || d->decision.consent_id == NULL)
			continue;
		for (size_t j = 0; j < i && !seen; j++)
			seen =
			    ev->decisions[j].decision.reason == CID_REASON_EXPIRED &&
			    same_str(ev->decisions[j].decision.consent_id, d->decision.consent_id);
		if (seen)
			continue;
		len = strlen(d->decision.consent_id);
		CID_ENSURE(len > 0 && len <= NAME_MAX_BYTES, CID_ERR_INVALID);
		once[n] = malloc(len + 3);
		CID_ENSURE(once[n] != NULL, CID_ERR_NOMEM);
		snprintf(once[n], len + 3, "x\n%s", d->decision.consent_id);
		CID_TRY(expired_entry(ev, time, d, &entries[n]));
		n++;
	}
	for (size_t i = 0; i < nd; i++) {
		const struct cid_release_decision *d = &ev->decisions[i];
		struct group *g = NULL;

		for (size_t j = 0; j < ng && g == NULL; j++)
			if (same_group(groups[j].key, d))
				g = &groups[j];
		if (g == NULL) {
			g = &groups[ng++];
			g->key = d;
			g->attributes = json_array();
			g->records = json_array();
			CID_ENSURE(g->attributes != NULL && g->records != NULL, CID_ERR_NOMEM);
		}
		CID_ENSURE(json_array_append_new(g->attributes, json_string(d->attribute)) == 0,
			   CID_ERR_NOMEM);
		if (d->decision.consent_id != NULL)
			CID_ENSURE(json_array_append_new(g->records,
							 json_string(d->decision.consent_id)) == 0,
				   CID_ERR_NOMEM);
	}
	for (size_t j = 0; j < ng; j++) {
		CID_TRY(sorted_set(groups[j].attributes));
		CID_TRY(sorted_set(groups[j].records));
		CID_TRY(release_entry(ev, time, &groups[j], &entries[n]));
		n++;
	}
	CID_TRY(append(log, entries, (const char *const *)once, n, &first, &written));
	if (written > 0)
		*range = (struct cid_audit_range){first, first + written - 1, written};
out:
	for (size_t j = 0; groups != NULL && j < ng; j++) {
		json_decref(groups[j].attributes);
		json_decref(groups[j].records);
	}
	free(groups);
	if (entries != NULL && once != NULL)
		entries_free(entries, once, 2 * nd + 1);
	else {
		free(entries);
		free(once);
	}
	return rc;
}

/* ---- checkpoints ---- */

/* The newest checkpoint: its size and JWS (new string), or size 0 when none. */
struct newest_cp {
	uint64_t size;
	char *jws;
};

static enum cid_err newest_cp_cb(struct cid_str key, struct cid_str val, void *arg)
{
	struct newest_cp *cp = arg;
	json_t *rec = NULL;
	enum cid_err rc = CID_OK;
	const char *jws;

	CID_ENSURE(seq_key_parse(key, &cp->size), CID_ERR_STORE);
	CID_TRY(cid_store_parse_json(val, &rec));
	jws = cid_json_str(rec, "jws");
	CID_ENSURE(jws != NULL, CID_ERR_STORE);
	cp->jws = strdup(jws);
	CID_ENSURE(cp->jws != NULL, CID_ERR_NOMEM);
	rc = STOP;
out:
	json_decref(rec);
	return rc;
}

static enum cid_err newest_cp(struct cid_txn *txn, struct newest_cp *cp)
{
	enum cid_err rc;

	free(cp->jws);
	*cp = (struct newest_cp){0};
	rc = cid_txn_foreach_range(txn, CID_DB_AUDIT_CP, (struct cid_str){NULL, 0},
				   (struct cid_str){NULL, 0}, true, newest_cp_cb, cp);
	return rc == STOP ? CID_OK : rc;
}

struct cp_write {
	uint64_t size;
	const char *jws;
	char *stored; /* output: the checkpoint now stored under size */
};

static enum cid_err cp_write_cb(struct cid_txn *txn, void *arg)
{
	struct cp_write *w = arg;
	enum cid_err rc = CID_OK;
	json_t *rec = NULL;
	char key[SEQ_HEX + 1];

	free(w->stored);
	w->stored = NULL;
	seq_key(w->size, key);
	rc = cid_txn_get_json(txn, CID_DB_AUDIT_CP, cid_str_of(key), &rec);
	if (rc == CID_OK) {
		/* another writer signed the same head first: keep theirs */
		CID_ENSURE(cid_json_str(rec, "jws") != NULL, CID_ERR_STORE);
		w->stored = strdup(cid_json_str(rec, "jws"));
		CID_ENSURE(w->stored != NULL, CID_ERR_NOMEM);
		goto out;
	}
	CID_ENSURE(rc == CID_ERR_NOTFOUND, rc);
	rec = json_pack("{s:s}", "jws", w->jws);
	CID_ENSURE(rec != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_txn_put_json(txn, CID_DB_AUDIT_CP, cid_str_of(key), rec, CID_PUT_NOOVERWRITE));
	w->stored = strdup(w->jws);
	CID_ENSURE(w->stored != NULL, CID_ERR_NOMEM);
out:
	json_decref(rec);
	return rc;
}

enum cid_err cid_audit_checkpoint(struct cid_store *s, const struct cid_keyset *ks, const char *iss,
				  int64_t now, char **jws_out)
{
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;
	struct newest_cp cp = {0};
	struct cp_write w = {0};
	json_t *claims = NULL;
	char *jws = NULL;
	char hash[CID_AUDIT_HASH_HEX];
	char time[TIME_CHARS + 1];
	uint64_t size;

	CID_ENSURE(s != NULL && ks != NULL && iss != NULL, CID_ERR_INVALID);
	CID_TRY(cid_audit_time(now, time));
	CID_TRY(cid_store_read_begin(s, &txn));
	CID_TRY(cid_audit_head(txn, &size, hash));
	CID_TRY(newest_cp(txn, &cp));
	cid_store_read_end(txn);
	txn = NULL;
	CID_ENSURE(size > 0, CID_ERR_NOTFOUND);
	if (cp.size >= size) {
		w.stored = cp.jws;
		cp.jws = NULL;
		goto done;
	}
	claims = json_pack("{s:s, s:I, s:s, s:s, s:I}", "iss", iss, "size", (json_int_t)size,
			   "hash", hash, "time", time, "iat", (json_int_t)now);
	CID_ENSURE(claims != NULL, CID_ERR_NOMEM);
	rc = cid_jws_sign(ks, "ES256", CHECKPOINT_TYP, claims, &jws);
	CID_ENSURE(rc != CID_ERR_INVALID, CID_ERR_CRYPTO); /* no active ES256 key */
	CID_TRY(rc);
	w.size = size;
	w.jws = jws;
	CID_TRY(cid_store_update(s, cp_write_cb, &w));
done:
	if (jws_out != NULL) {
		*jws_out = w.stored;
		w.stored = NULL;
	}
out:
	cid_store_read_end(txn);
	json_decref(claims);
	free(jws);
	free(cp.jws);
	free(w.stored);
	return rc;
}

/* ---- verification ---- */

/* A checkpoint checked on its own: signature, typ, payload shape. */
struct cp {
	uint64_t size;
	bool sig_ok;
	char hash[CID_AUDIT_HASH_HEX];
};

/* Checks one checkpoint JWS; sig_ok false when anything about it is wrong. */
static enum cid_err cp_check(const struct cid_keyset *ks, const char *jws, size_t len,
			     uint64_t size_expected, bool size_known, struct cp *out)
{
	json_t *claims = NULL;
	const json_t *n;
	const char *h;
	enum cid_err rc;

	out->sig_ok = false;
	memcpy(out->hash, ZERO_HASH, CID_AUDIT_HASH_HEX);
	out->size = size_expected;
	rc = cid_jws_verify(ks, jws, len, CHECKPOINT_TYP, &claims);
	if (rc == CID_ERR_NOMEM)
		return rc;
	if (rc != CID_OK)
		return CID_OK;
	n = json_object_get(claims, "size");
	h = cid_json_str(claims, "hash");
	if (json_is_integer(n) && json_integer_value(n) > 0 && hash_syntax_ok(h) &&
	    (!size_known || (uint64_t)json_integer_value(n) == size_expected)) {
		out->size = (uint64_t)json_integer_value(n);
		memcpy(out->hash, h, CID_AUDIT_HASH_HEX);
		out->sig_ok = true;
	}
	json_decref(claims);
	return CID_OK;
}

/* What a walk over entries has found so far. */
struct verify {
	struct cid_audit_report *rep;
	uint64_t next;		       /* the seq expected next */
	char prev[CID_AUDIT_HASH_HEX]; /* hash of entry next-1 */
	char *scratch;		       /* re-serialised entry, for the canonical check */
	size_t scratch_cap;
	const struct cp *cps; /* checkpoints by size (store verification) */
	size_t n_cps, cp_i;
};

/* Records bad seq with a reason unless a smaller one is already recorded. */
static void report_bad(struct cid_audit_report *rep, uint64_t seq, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void report_bad(struct cid_audit_report *rep, uint64_t seq, const char *fmt, ...)
{
	va_list ap;

	if (!rep->ok && rep->bad_seq <= seq)
		return;
	rep->ok = false;
	rep->bad_seq = seq;
	va_start(ap, fmt);
	vsnprintf(rep->reason, sizeof(rep->reason), fmt, ap);
	va_end(ap);
}

/*
 * Checks that [p, p+n) is entry seq in canonical form linked to v->prev,
 * and advances v. Returns false (after reporting) when it is not.
 */
static enum cid_err entry_verify(struct verify *v, const char *p, size_t n, bool *good)
{
	enum cid_err rc = CID_OK;
	json_t *e = NULL;
	const json_t *seqv;
	const char *prev;
	size_t need;
	uint64_t seq = v->next;

	*good = false;
	e = json_loadb(p, n, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(e) || !canon_ok(e, 0)) {
		report_bad(v->rep, seq, "entry %" PRIu64 " is not a canonical JSON object", seq);
		goto out;
	}
	/* one dump into a buffer one byte longer than the entry: a longer dump differs */
	if (n + 1 > v->scratch_cap) {
		char *bigger = realloc(v->scratch, n + 1);

		CID_ENSURE(bigger != NULL, CID_ERR_NOMEM);
		v->scratch = bigger;
		v->scratch_cap = n + 1;
	}
	need = json_dumpb(e, v->scratch, v->scratch_cap, JSON_COMPACT | JSON_SORT_KEYS);
	if (need != n || v->scratch == NULL || memcmp(v->scratch, p, n) != 0) {
		report_bad(v->rep, seq, "entry %" PRIu64 " is not in canonical form", seq);
		goto out;
	}
	seqv = json_object_get(e, "seq");
	if (!json_is_integer(seqv) || json_integer_value(seqv) < 0 ||
	    (uint64_t)json_integer_value(seqv) != seq) {
		report_bad(v->rep, seq, "entry at %" PRIu64 " has another seq (moved or swapped)",
			   seq);
		goto out;
	}
	prev = cid_json_str(e, "prev");
	if (prev == NULL || strcmp(prev, v->prev) != 0) {
		if (seq == 0)
			report_bad(v->rep, 0, "entry 0 does not start the chain");
		else
			report_bad(v->rep, seq - 1,
				   "entry %" PRIu64 " was changed: its hash is not entry %" PRIu64
				   "'s prev",
				   seq - 1, seq);
		goto out;
	}
	CID_TRY(entry_hash(p, n, v->prev));
	v->next++;
	v->rep->entries++;
	*good = true;
out:
	json_decref(e);
	return rc;
}

/* Store walk: one entry; stops at the first damage. */
static enum cid_err store_entry_cb(struct cid_str key, struct cid_str val, void *arg)
{
	struct verify *v = arg;
	enum cid_err rc;
	uint64_t seq;
	bool good;

	if (!seq_key_parse(key, &seq) || seq < v->next) {
		report_bad(v->rep, v->next,
			   "a stray key in the audit database after entry %" PRIu64, v->next);
		return STOP;
	}
	if (seq > v->next) {
		report_bad(v->rep, v->next, "entry %" PRIu64 " is missing", v->next);
		return STOP;
	}
	rc = entry_verify(v, val.ptr, val.len, &good);
	if (rc != CID_OK)
		return rc;
	if (!good)
		return STOP;
	/* checkpoints covering this entry (size == seq + 1) */
	while (v->cp_i < v->n_cps && v->cps[v->cp_i].size <= seq + 1) {
		const struct cp *c = &v->cps[v->cp_i++];

		if (c->size != seq + 1 || !c->sig_ok)
			continue; /* reported when loaded */
		if (strcmp(c->hash, v->prev) != 0) {
			report_bad(v->rep, seq,
				   "entry %" PRIu64 " was changed: checkpoint %" PRIu64
				   " signed another hash",
				   seq, c->size);
			return STOP;
		}
		v->rep->checkpoints++;
		v->rep->covered = c->size;
	}
	return CID_OK;
}

/* Loads the stored checkpoints, in size order, each checked on its own. */
struct cp_list {
	const struct cid_keyset *ks;
	struct cid_audit_report *rep;
	struct cp *items;
	size_t n, cap;
};

static enum cid_err cp_load_cb(struct cid_str key, struct cid_str val, void *arg)
{
	struct cp_list *l = arg;
	enum cid_err rc = CID_OK;
	json_t *rec = NULL;
	const json_t *jws;
	uint64_t size;
	struct cp *c;

	if (!seq_key_parse(key, &size) || size == 0)
		return CID_OK; /* not a checkpoint key: nothing it could cover */
	if (l->n == l->cap) {
		size_t cap = l->cap == 0 ? 16 : l->cap * 2;
		struct cp *bigger = realloc(l->items, cap * sizeof(*bigger));

		CID_ENSURE(bigger != NULL, CID_ERR_NOMEM);
		l->items = bigger;
		l->cap = cap;
	}
	c = &l->items[l->n++];
	rec = json_loadb(val.ptr, val.len, JSON_REJECT_DUPLICATES, NULL);
	jws = json_object_get(rec, "jws");
	if (!json_is_string(jws)) {
		*c = (struct cp){.size = size};
	} else {
		CID_TRY(cp_check(l->ks, json_string_value(jws), json_string_length(jws), size, true,
				 c));
	}
	if (!c->sig_ok)
		report_bad(l->rep, size - 1,
			   "checkpoint %" PRIu64 " does not verify (signature, key or payload)",
			   size);
out:
	json_decref(rec);
	return rc;
}

enum cid_err cid_audit_verify_store(struct cid_store *s, const struct cid_keyset *ks,
				    struct cid_audit_report *rep)
{
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;
	struct cp_list cps = {.ks = ks, .rep = rep};
	struct verify v = {.rep = rep};
	uint64_t size;
	char hash[CID_AUDIT_HASH_HEX];

	*rep = (struct cid_audit_report){.ok = true};
	memcpy(v.prev, ZERO_HASH, CID_AUDIT_HASH_HEX);
	CID_TRY(cid_store_read_begin(s, &txn));
	rc = cid_audit_head(txn, &size, hash);
	if (rc == CID_ERR_STORE) {
		report_bad(rep, 0, "the head record is damaged");
		size = UINT64_MAX;
		memcpy(hash, ZERO_HASH, CID_AUDIT_HASH_HEX);
		rc = CID_OK;
	}
	CID_TRY(rc);
	CID_TRY(cid_txn_foreach(txn, CID_DB_AUDIT_CP, (struct cid_str){NULL, 0}, cp_load_cb, &cps));
	v.cps = cps.items;
	v.n_cps = cps.n;
	rc = cid_txn_foreach(txn, CID_DB_AUDIT, (struct cid_str){NULL, 0}, store_entry_cb, &v);
	if (rc == STOP)
		rc = CID_OK;
	CID_TRY(rc);
	/* what lies beyond the entries read: checkpoints and the head */
	for (size_t i = v.cp_i; i < cps.n; i++)
		if (cps.items[i].sig_ok && cps.items[i].size > v.next)
			report_bad(rep, v.next,
				   "entries from %" PRIu64 " are missing: checkpoint %" PRIu64
				   " covers them",
				   v.next, cps.items[i].size);
	if (size != UINT64_MAX) {
		if (size > v.next)
			report_bad(rep, v.next,
				   "entries from %" PRIu64 " are missing: the head counts %" PRIu64,
				   v.next, size);
		else if (size < v.next)
			report_bad(rep, size,
				   "entries from %" PRIu64 " are beyond the head (head changed?)",
				   size);
		else if (size > 0 && strcmp(hash, v.prev) != 0)
			report_bad(rep, size - 1,
				   "entry %" PRIu64 " or the head was changed: the head's hash "
				   "differs",
				   size - 1);
	}
out:
	cid_store_read_end(txn);
	free(cps.items);
	free(v.scratch);
	return rc;
}

/* Reads one line (without its '\n') into *buf; *len its length, *too_long if over the cap. */
static enum cid_err line_read(FILE *in, char **buf, size_t *cap, size_t *len, bool *eof,
			      bool *too_long)
{
	int c;
	size_t n = 0;

	*too_long = false;
	*eof = false;
	while ((c = getc_unlocked(in)) != EOF && c != '\n') {
		if (n >= LINE_MAX_BYTES) {
			*too_long = true;
			continue;
		}
		if (n + 1 >= *cap) {
			size_t bigger = *cap == 0 ? 4096 : *cap * 2;
			char *p = realloc(*buf, bigger);

			if (p == NULL)
				return CID_ERR_NOMEM;
			*buf = p;
			*cap = bigger;
		}
		(*buf)[n++] = (char)c;
	}
	if (c == EOF) {
		if (ferror(in))
			return CID_ERR_IO;
		*eof = n == 0 && !*too_long;
	}
	*len = n;
	return CID_OK;
}

/* Handles a {"checkpoint": JWS} line found after v->next entries. */
static enum cid_err export_cp(struct verify *v, const struct cid_keyset *ks, const json_t *jws)
{
	enum cid_err rc;
	struct cp c;
	uint64_t at = v->next;

	rc = cp_check(ks, json_string_value(jws), json_string_length(jws), 0, false, &c);
	if (rc != CID_OK)
		return rc;
	if (!c.sig_ok) {
		report_bad(v->rep, at == 0 ? 0 : at - 1,
			   "the checkpoint after entry %" PRIu64 " does not verify", at - 1);
		return STOP;
	}
	if (c.size > at) {
		report_bad(v->rep, at,
			   "entries from %" PRIu64 " are missing: checkpoint %" PRIu64
			   " covers them",
			   at, c.size);
		return STOP;
	}
	if (c.size < at) {
		report_bad(v->rep, c.size - 1,
			   "checkpoint %" PRIu64 " is out of place (after entry %" PRIu64 ")",
			   c.size, at - 1);
		return STOP;
	}
	if (strcmp(c.hash, v->prev) != 0) {
		report_bad(v->rep, at - 1,
			   "entry %" PRIu64 " was changed: checkpoint %" PRIu64
			   " signed another hash",
			   at - 1, c.size);
		return STOP;
	}
	v->rep->checkpoints++;
	v->rep->covered = c.size;
	return CID_OK;
}

/* One line of an export. */
static enum cid_err export_line(struct verify *v, const struct cid_keyset *ks, const char *p,
				size_t n)
{
	enum cid_err rc = CID_OK;
	json_t *o = NULL;
	const json_t *jws;
	bool good;

	if (!cid_utf8_valid(p, n)) {
		report_bad(v->rep, v->next, "line of entry %" PRIu64 " is not UTF-8 text", v->next);
		return STOP;
	}
	/* a checkpoint line is the one object of exactly one member "checkpoint" */
	if (n > 14 && memcmp(p, "{\"checkpoint\":", 14) == 0) {
		o = json_loadb(p, n, JSON_REJECT_DUPLICATES, NULL);
		jws = json_object_get(o, "checkpoint");
		if (json_is_object(o) && json_object_size(o) == 1 && json_is_string(jws)) {
			rc = export_cp(v, ks, jws);
			goto out;
		}
	}
	CID_TRY(entry_verify(v, p, n, &good));
	if (!good)
		rc = STOP;
out:
	json_decref(o);
	return rc;
}

enum cid_err cid_audit_verify_export(FILE *in, const struct cid_keyset *ks,
				     struct cid_audit_report *rep)
{
	enum cid_err rc = CID_OK;
	struct verify v = {.rep = rep};
	char *buf = NULL;
	size_t cap = 0;
	size_t len;
	bool eof;
	bool too_long;

	*rep = (struct cid_audit_report){.ok = true};
	memcpy(v.prev, ZERO_HASH, CID_AUDIT_HASH_HEX);
	flockfile(in);
	for (;;) {
		CID_TRY(line_read(in, &buf, &cap, &len, &eof, &too_long));
		if (eof)
			break;
		if (too_long) {
			report_bad(rep, v.next, "line of entry %" PRIu64 " is over 1 MiB", v.next);
			break;
		}
		rc = export_line(&v, ks, buf == NULL ? "" : buf, len);
		if (rc == STOP) {
			rc = CID_OK;
			break;
		}
		CID_TRY(rc);
	}
out:
	funlockfile(in);
	free(buf);
	free(v.scratch);
	return rc;
}

/* ---- reading: get, query, export, views ---- */

enum cid_err cid_audit_get(struct cid_txn *txn, uint64_t seq, json_t **out)
{
	char key[SEQ_HEX + 1];

	seq_key(seq, key);
	return cid_txn_get_json(txn, CID_DB_AUDIT, cid_str_of(key), out);
}

struct query {
	struct cid_txn *txn;
	const struct cid_audit_filter *f;
	enum cid_err (*fn)(uint64_t seq, struct cid_str entry, void *arg);
	void *arg;
	size_t n;
};

static bool attr_match(const json_t *attrs, const char *want)
{
	size_t wl = strlen(want);
	size_t i;
	json_t *a;

	json_array_foreach(attrs, i, a)
	{
		const char *s = json_string_value(a);

		if (s != NULL && strncmp(s, want, wl) == 0 && (s[wl] == '\0' || s[wl] == '#'))
			return true;
	}
	return false;
}

static bool type_match(const char *type, const char *want)
{
	size_t wl = strlen(want);

	if (type == NULL)
		return false;
	if (want[wl - 1] == '.')
		return strncmp(type, want, wl) == 0;
	return strcmp(type, want) == 0;
}

static bool entry_match(const json_t *e, const struct cid_audit_filter *f)
{
	const char *time = cid_json_str(e, "time");

	if (f->citizen != NULL && !same_str(cid_json_str(e, "citizen"), f->citizen))
		return false;
	if (f->service != NULL && !same_str(cid_json_str(e, "service"), f->service))
		return false;
	if (f->type != NULL && !type_match(cid_json_str(e, "type"), f->type))
		return false;
	if (f->from != NULL && (time == NULL || strcmp(time, f->from) < 0))
		return false;
	if (f->to != NULL && (time == NULL || strcmp(time, f->to) >= 0))
		return false;
	if (f->attribute != NULL && !attr_match(json_object_get(e, "attributes"), f->attribute))
		return false;
	return true;
}

/* One candidate seq: read, match, hand over. */
static enum cid_err query_seq(struct query *q, uint64_t seq)
{
	enum cid_err rc = CID_OK;
	char key[SEQ_HEX + 1];
	struct cid_str val;
	json_t *e = NULL;

	if (q->f->after_seq != 0 &&
	    (q->f->newest_first ? seq >= q->f->after_seq : seq <= q->f->after_seq))
		return CID_OK;
	seq_key(seq, key);
	CID_TRY(cid_txn_get(q->txn, CID_DB_AUDIT, cid_str_of(key), &val));
	CID_TRY(cid_store_parse_json(val, &e));
	if (!entry_match(e, q->f))
		goto out;
	CID_TRY(q->fn(seq, val, q->arg));
	q->n++;
	if (q->f->limit != 0 && q->n >= q->f->limit)
		rc = STOP;
out:
	json_decref(e);
	return rc;
}

static enum cid_err query_entry_cb(struct cid_str key, struct cid_str val, void *arg)
{
	uint64_t seq;

	(void)val;
	if (!seq_key_parse(key, &seq))
		return CID_ERR_STORE;
	return query_seq(arg, seq);
}

/* True if a time of TIME_CHARS bytes lies outside the filter's [from, to). */
static bool time_outside(const char *t, const struct cid_audit_filter *f)
{
	return (f->from != NULL && memcmp(t, f->from, TIME_CHARS) < 0) ||
	       (f->to != NULL && memcmp(t, f->to, TIME_CHARS) >= 0);
}

/* A citizen or service index key; its value is the entry's time (or ""). */
static enum cid_err query_index_cb(struct cid_str key, struct cid_str val, void *arg)
{
	struct query *q = arg;
	uint64_t seq;

	if (key.len < SEQ_HEX ||
	    !seq_key_parse((struct cid_str){key.ptr + key.len - SEQ_HEX, SEQ_HEX}, &seq))
		return CID_ERR_STORE;
	/* outside the time range: skipped without reading the entry */
	if (val.len == TIME_CHARS && time_outside(val.ptr, q->f))
		return CID_OK;
	return query_seq(q, seq);
}

/*
 * A time index key "t\n" time "\n" seq16, walked from one end of the range:
 * the walk stops at the first key past the other end.
 */
static enum cid_err query_time_cb(struct cid_str key, struct cid_str val, void *arg)
{
	struct query *q = arg;
	uint64_t seq;

	(void)val;
	if (key.len != 2 + TIME_CHARS + 1 + SEQ_HEX ||
	    !seq_key_parse((struct cid_str){key.ptr + key.len - SEQ_HEX, SEQ_HEX}, &seq))
		return CID_ERR_STORE;
	if (time_outside(key.ptr + 2, q->f))
		return STOP;
	return query_seq(q, seq);
}

/* Walks the time index over [f->from, f->to) (no name, no paging). */
static enum cid_err query_by_time(struct cid_txn *txn, struct query *q)
{
	const struct cid_audit_filter *f = q->f;
	char start[2 + TIME_CHARS + 1];
	const char *edge = f->newest_first ? f->to : f->from;
	struct cid_str from = {NULL, 0};

	if (edge != NULL) {
		snprintf(start, sizeof(start), "t\n%s", edge);
		from = cid_str_of(start);
	}
	return cid_txn_foreach_range(txn, CID_DB_AUDIT_IDX, cid_str_of("t\n"), from,
				     f->newest_first, query_time_cb, q);
}

static bool filter_ok(const struct cid_audit_filter *f)
{
	if (f == NULL)
		return false;
	if ((f->from != NULL && !time_syntax_ok(f->from)) ||
	    (f->to != NULL && !time_syntax_ok(f->to)))
		return false;
	if (f->type != NULL && f->type[0] == '\0')
		return false;
	if (!filter_name_ok(f->citizen) || !filter_name_ok(f->service))
		return false;
	return f->attribute == NULL || f->attribute[0] != '\0';
}

enum cid_err cid_audit_query(struct cid_txn *txn, const struct cid_audit_filter *f,
			     enum cid_err (*fn)(uint64_t seq, struct cid_str entry, void *arg),
			     void *arg)
{
	enum cid_err rc = CID_OK;
	struct query q = {txn, f, fn, arg, 0};
	char prefix[4 + NAME_MAX_BYTES + 1];
	char start[4 + NAME_MAX_BYTES + SEQ_HEX + 1];
	struct cid_str from = {NULL, 0};
	const char *name;
	int pn;
	uint64_t begin;

	CID_ENSURE(fn != NULL && filter_ok(f), CID_ERR_INVALID);
	/* begin the walk at after_seq, so paging costs no more than the page */
	begin = f->newest_first ? f->after_seq - 1 : f->after_seq + 1;
	if (f->after_seq == 0 || (!f->newest_first && f->after_seq == UINT64_MAX))
		begin = f->newest_first ? UINT64_MAX : 0;
	name = f->citizen != NULL ? f->citizen : f->service;
	if (name == NULL && f->after_seq == 0 && (f->from != NULL || f->to != NULL)) {
		rc = query_by_time(txn, &q);
	} else if (name == NULL) {
		seq_key(begin, start);
		if (f->after_seq != 0)
			from = (struct cid_str){start, SEQ_HEX};
		rc = cid_txn_foreach_range(txn, CID_DB_AUDIT, (struct cid_str){NULL, 0}, from,
					   f->newest_first, query_entry_cb, &q);
	} else {
		pn = snprintf(prefix, sizeof(prefix), "%c\n%s\n", f->citizen != NULL ? 'c' : 's',
			      name);
		CID_ENSURE(pn > 0 && (size_t)pn < sizeof(prefix), CID_ERR_INVALID);
		if (f->after_seq != 0) {
			char k[SEQ_HEX + 1];

			seq_key(begin, k);
			snprintf(start, sizeof(start), "%s%s", prefix, k);
			from = cid_str_of(start);
		}
		rc = cid_txn_foreach_range(txn, CID_DB_AUDIT_IDX,
					   (struct cid_str){prefix, (size_t)pn}, from,
					   f->newest_first, query_index_cb, &q);
	}
	if (rc == STOP)
		rc = CID_OK;
out:
	return rc;
}

/* The export: every entry, each checkpoint after the entry it covers. */
struct exporter {
	FILE *out;
	struct cid_txn *txn;
	char next_cp[SEQ_HEX + 1]; /* key of the first checkpoint not yet written */
	bool have_cp;
	uint64_t cp_size;
};

static enum cid_err next_cp_cb(struct cid_str key, struct cid_str val, void *arg)
{
	struct exporter *x = arg;

	(void)val;
	if (!seq_key_parse(key, &x->cp_size))
		return CID_ERR_STORE;
	memcpy(x->next_cp, key.ptr, SEQ_HEX);
	x->next_cp[SEQ_HEX] = '\0';
	x->have_cp = true;
	return STOP;
}

/* Finds the first checkpoint of size >= size. */
static enum cid_err cp_seek(struct exporter *x, uint64_t size)
{
	enum cid_err rc;
	char key[SEQ_HEX + 1];

	x->have_cp = false;
	seq_key(size, key);
	rc = cid_txn_foreach_range(x->txn, CID_DB_AUDIT_CP, (struct cid_str){NULL, 0},
				   (struct cid_str){key, SEQ_HEX}, false, next_cp_cb, x);
	return rc == STOP ? CID_OK : rc;
}

static enum cid_err export_cb(struct cid_str key, struct cid_str val, void *arg)
{
	struct exporter *x = arg;
	enum cid_err rc = CID_OK;
	json_t *rec = NULL;
	json_t *line = NULL;
	char *text = NULL;
	uint64_t seq;

	CID_ENSURE(seq_key_parse(key, &seq), CID_ERR_STORE);
	CID_ENSURE(fwrite(val.ptr, 1, val.len, x->out) == val.len && fputc('\n', x->out) != EOF,
		   CID_ERR_IO);
	while (x->have_cp && x->cp_size <= seq + 1) {
		if (x->cp_size == seq + 1) {
			CID_TRY(cid_txn_get_json(x->txn, CID_DB_AUDIT_CP, cid_str_of(x->next_cp),
						 &rec));
			CID_ENSURE(cid_json_str(rec, "jws") != NULL, CID_ERR_STORE);
			line = json_pack("{s:O}", "checkpoint", json_object_get(rec, "jws"));
			CID_ENSURE(line != NULL, CID_ERR_NOMEM);
			CID_TRY(cid_json_dumps(line, JSON_COMPACT, &text, NULL));
			CID_ENSURE(fputs(text, x->out) != EOF && fputc('\n', x->out) != EOF,
				   CID_ERR_IO);
		}
		CID_TRY(cp_seek(x, x->cp_size + 1));
	}
out:
	free(text);
	json_decref(line);
	json_decref(rec);
	return rc;
}

enum cid_err cid_audit_export(struct cid_txn *txn, FILE *out)
{
	enum cid_err rc = CID_OK;
	struct exporter x = {.out = out, .txn = txn};

	CID_TRY(cp_seek(&x, 1));
	CID_TRY(cid_txn_foreach(txn, CID_DB_AUDIT, (struct cid_str){NULL, 0}, export_cb, &x));
	CID_ENSURE(fflush(out) == 0, CID_ERR_IO);
out:
	return rc;
}

enum cid_err cid_audit_export_signed(struct cid_store *s, const struct cid_keyset *ks,
				     const char *iss, int64_t now, FILE *out, uint64_t *entries)
{
	enum cid_err rc = ks != NULL ? cid_audit_checkpoint(s, ks, iss, now, NULL) : CID_OK;
	struct cid_txn *txn = NULL;
	char hash[CID_AUDIT_HASH_HEX];
	uint64_t size = 0;

	if (rc != CID_OK && rc != CID_ERR_NOTFOUND)
		return rc;
	CID_TRY(cid_store_read_begin(s, &txn));
	CID_TRY(cid_audit_head(txn, &size, hash));
	CID_TRY(cid_audit_export(txn, out));
	if (entries != NULL)
		*entries = size;
out:
	cid_store_read_end(txn);
	return rc;
}

/* ---- filtered output: JSON Lines or CSV ---- */

static const char *const csv_columns[] = {
    "seq",	  "time",	"type",	  "actor", "citizen", "service",	 "purpose",
    "attributes", "decision",	"reason", "basis", "rule",    "consent_records", "policy_version",
    "endpoint",	  "request_id",
};

#define N_CSV_COLUMNS (sizeof(csv_columns) / sizeof(csv_columns[0]))

/* Writes one CSV cell: formula-looking cells get a ' and RFC 4180 quoting as needed. */
static bool csv_cell(FILE *out, const char *s)
{
	bool quote = strpbrk(s, ",\"\r\n") != NULL;
	bool formula = s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' ||
		       s[0] == '\r';

	if (quote && fputc('"', out) == EOF)
		return false;
	if (formula && fputc('\'', out) == EOF)
		return false;
	for (const char *p = s; *p != '\0'; p++) {
		if (*p == '"' && fputc('"', out) == EOF)
			return false;
		if (fputc(*p, out) == EOF)
			return false;
	}
	return !quote || fputc('"', out) != EOF;
}

/* The text of a member for CSV: strings as is, lists joined by ' ', numbers in decimal. */
static enum cid_err csv_value(const json_t *v, struct cid_buf *b)
{
	size_t i;
	json_t *item;

	if (json_is_string(v)) {
		cid_buf_append(b, json_string_value(v), json_string_length(v));
	} else if (json_is_integer(v)) {
		cid_buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, item)
		{
			if (i > 0)
				cid_buf_append(b, " ", 1);
			if (json_is_string(item))
				cid_buf_append(b, json_string_value(item),
					       json_string_length(item));
		}
	}
	return cid_buf_status(b);
}

struct filtered {
	FILE *out;
	bool csv;
	uint64_t n;
};

static enum cid_err filtered_cb(uint64_t seq, struct cid_str entry, void *arg)
{
	struct filtered *w = arg;
	enum cid_err rc = CID_OK;
	json_t *e = NULL;
	struct cid_buf b;

	(void)seq;
	cid_buf_init(&b, LINE_MAX_BYTES);
	if (!w->csv) {
		CID_ENSURE(fwrite(entry.ptr, 1, entry.len, w->out) == entry.len &&
			       fputc('\n', w->out) != EOF,
			   CID_ERR_IO);
		w->n++;
		goto out;
	}
	CID_TRY(cid_store_parse_json(entry, &e));
	for (size_t c = 0; c < N_CSV_COLUMNS; c++) {
		cid_buf_free(&b);
		CID_TRY(csv_value(json_object_get(e, csv_columns[c]), &b));
		CID_ENSURE((c == 0 || fputc(',', w->out) != EOF) &&
			       csv_cell(w->out, b.data != NULL ? b.data : ""),
			   CID_ERR_IO);
	}
	CID_ENSURE(fputs("\r\n", w->out) != EOF, CID_ERR_IO);
	w->n++;
out:
	cid_buf_free(&b);
	json_decref(e);
	return rc;
}

enum cid_err cid_audit_write_filtered(struct cid_txn *txn, const struct cid_audit_filter *f,
				      bool csv, FILE *out, uint64_t *n_out)
{
	enum cid_err rc = CID_OK;
	struct filtered w = {.out = out, .csv = csv};

	if (csv) {
		for (size_t c = 0; c < N_CSV_COLUMNS; c++)
			CID_ENSURE((c == 0 || fputc(',', out) != EOF) &&
				       fputs(csv_columns[c], out) != EOF,
				   CID_ERR_IO);
		CID_ENSURE(fputs("\r\n", out) != EOF, CID_ERR_IO);
	}
	CID_TRY(cid_audit_query(txn, f, filtered_cb, &w));
	CID_ENSURE(fflush(out) == 0, CID_ERR_IO);
	if (n_out != NULL)
		*n_out = w.n;
out:
	return rc;
}

/* ---- provisions ---- */

struct provisions {
	json_t *by_pair; /* service "\n" citizen -> row */
};

/* Adds the strings of list (a string or an array of them) to the array set. */
static enum cid_err set_add(json_t *set, const json_t *list)
{
	size_t i;
	json_t *v;

	if (json_is_string(list))
		return json_array_append(set, (json_t *)(uintptr_t)list) == 0 ? CID_OK
									      : CID_ERR_NOMEM;
	json_array_foreach(list, i, v) if (json_is_string(v) &&
					   json_array_append(set, v) != 0) return CID_ERR_NOMEM;
	return CID_OK;
}

static enum cid_err provisions_cb(uint64_t seq, struct cid_str entry, void *arg)
{
	struct provisions *p = arg;
	enum cid_err rc = CID_OK;
	json_t *e = NULL;
	json_t *row;
	const char *service;
	const char *citizen;
	const char *time;
	char key[2 * NAME_MAX_BYTES + 2];

	(void)seq;
	CID_TRY(cid_store_parse_json(entry, &e));
	service = cid_json_str(e, "service");
	citizen = cid_json_str(e, "citizen");
	time = cid_json_str(e, "time");
	if (service == NULL || citizen == NULL || time == NULL)
		goto out;
	/* written names pass index_name_ok: one that does not could merge two rows */
	CID_ENSURE(index_member_ok(json_object_get(e, "service")) &&
		       index_member_ok(json_object_get(e, "citizen")),
		   CID_ERR_STORE);
	snprintf(key, sizeof(key), "%s\n%s", service, citizen);
	row = json_object_get(p->by_pair, key);
	if (row == NULL) {
		row = json_pack("{s:s, s:s, s:[], s:s, s:s, s:I, s:[], s:[]}", "service", service,
				"citizen", citizen, "attributes", "first", time, "last", time,
				"count", (json_int_t)0, "bases", "consent_records");
		CID_ENSURE(row != NULL && json_object_set_new(p->by_pair, key, row) == 0,
			   CID_ERR_NOMEM);
	}
	if (strcmp(time, cid_json_str(row, "first")) < 0)
		CID_ENSURE(json_object_set_new(row, "first", json_string(time)) == 0,
			   CID_ERR_NOMEM);
	if (strcmp(time, cid_json_str(row, "last")) > 0)
		CID_ENSURE(json_object_set_new(row, "last", json_string(time)) == 0, CID_ERR_NOMEM);
	CID_ENSURE(
	    json_object_set_new(row, "count", json_integer(cid_json_int(row, "count") + 1)) == 0,
	    CID_ERR_NOMEM);
	CID_TRY(set_add(json_object_get(row, "attributes"), json_object_get(e, "attributes")));
	CID_TRY(set_add(json_object_get(row, "bases"), json_object_get(e, "basis")));
	CID_TRY(set_add(json_object_get(row, "consent_records"),
			json_object_get(e, "consent_records")));
	/* keep the sets small as they grow */
	if (cid_json_int(row, "count") % 64 == 0) {
		CID_TRY(sorted_set(json_object_get(row, "attributes")));
		CID_TRY(sorted_set(json_object_get(row, "bases")));
		CID_TRY(sorted_set(json_object_get(row, "consent_records")));
	}
out:
	json_decref(e);
	return rc;
}

static int row_cmp(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a;
	const json_t *y = *(json_t *const *)b;
	int c = strcmp(cid_json_str(x, "service"), cid_json_str(y, "service"));

	return c != 0 ? c : strcmp(cid_json_str(x, "citizen"), cid_json_str(y, "citizen"));
}

enum cid_err cid_audit_provisions(struct cid_txn *txn, const char *from, const char *to,
				  json_t **out)
{
	enum cid_err rc = CID_OK;
	struct provisions p = {.by_pair = json_object()};
	struct cid_audit_filter f = {.type = "release.permit", .from = from, .to = to};
	json_t **rows = NULL;
	json_t *list = json_array();
	const char *key;
	json_t *row;
	size_t n = 0;

	CID_ENSURE(p.by_pair != NULL && list != NULL, CID_ERR_NOMEM);
	/* the query refuses bad times (CID_ERR_INVALID) */
	CID_TRY(cid_audit_query(txn, &f, provisions_cb, &p));
	// NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers
	rows = calloc(json_object_size(p.by_pair) + 1, sizeof(*rows));
	CID_ENSURE(rows != NULL, CID_ERR_NOMEM);
	json_object_foreach(p.by_pair, key, row)
	{
		CID_TRY(sorted_set(json_object_get(row, "attributes")));
		CID_TRY(sorted_set(json_object_get(row, "bases")));
		CID_TRY(sorted_set(json_object_get(row, "consent_records")));
		rows[n++] = row;
	}
	// NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers
	qsort(rows, n, sizeof(*rows), row_cmp);
	for (size_t i = 0; i < n; i++)
		CID_ENSURE(json_array_append(list, rows[i]) == 0, CID_ERR_NOMEM);
	*out = list;
	list = NULL;
out:
	free(rows);
	json_decref(list);
	json_decref(p.by_pair);
	return rc;
}

/* ---- the citizen's slice ---- */

struct slice {
	json_t *list;
	size_t limit;
};

static enum cid_err slice_cb(uint64_t seq, struct cid_str entry, void *arg)
{
	static const char *const shown[] = {"time",	  "type",  "service", "purpose",
					    "attributes", "basis", "endpoint"};
	struct slice *sl = arg;
	enum cid_err rc = CID_OK;
	json_t *e = NULL;
	json_t *row = NULL;
	const char *type;

	CID_TRY(cid_store_parse_json(entry, &e));
	type = cid_json_str(e, "type");
	if (type == NULL ||
	    (strcmp(type, "release.permit") != 0 && strncmp(type, "consent.", 8) != 0))
		goto out;
	row = json_pack("{s:I}", "seq", (json_int_t)seq);
	CID_ENSURE(row != NULL, CID_ERR_NOMEM);
	for (size_t i = 0; i < sizeof(shown) / sizeof(shown[0]); i++) {
		json_t *v = json_object_get(e, shown[i]);

		if (v != NULL)
			CID_ENSURE(json_object_set(row, shown[i], v) == 0, CID_ERR_NOMEM);
	}
	CID_ENSURE(json_array_append(sl->list, row) == 0, CID_ERR_NOMEM);
	if (sl->limit != 0 && json_array_size(sl->list) >= sl->limit)
		rc = STOP;
out:
	json_decref(row);
	json_decref(e);
	return rc;
}

enum cid_err cid_audit_citizen(struct cid_txn *txn, const char *account_id, uint64_t after_seq,
			       size_t limit, json_t **out)
{
	enum cid_err rc = CID_OK;
	struct slice sl = {.list = json_array(), .limit = limit};
	struct cid_audit_filter f = {
	    .citizen = account_id, .after_seq = after_seq, .newest_first = true};

	CID_ENSURE(sl.list != NULL, CID_ERR_NOMEM);
	CID_ENSURE(account_id != NULL, CID_ERR_INVALID);
	CID_TRY(cid_audit_query(txn, &f, slice_cb, &sl)); /* a STOP of slice_cb ends as CID_OK */
	*out = sl.list;
	sl.list = NULL;
out:
	json_decref(sl.list);
	return rc;
}
