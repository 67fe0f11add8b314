/*
 * audit: a hash chain of canonical JSON entries in LMDB, appended with group
 * commit. The other files of the module read it: audit_verify.c (checkpoints
 * and verification), audit_read.c (queries and views), audit_export.c (the
 * files that leave it); audit_canon.c holds the canonical form and the
 * helpers they share, audit_int.h declares what they share.
 *
 * Every write goes through one function, chain_write, run inside a write
 * transaction: it reads the head there (so two writers, even in two
 * processes, can never fork the chain), gives each entry its seq and prev,
 * writes it with its index keys, appends its leaf to the Merkle tree
 * (audit_tree.c) and moves the head. Everything it needs is checked, and
 * each entry's bytes made but for seq, prev and pseudonyms (struct prepared),
 * before the transaction, and its outputs go to its argument only, so
 * cid_store_update may run it again after growing the map.
 *
 * An entry is stored as its canonical bytes (audit.h), and only entries that
 * have canonical bytes are accepted: ASCII member names, no real numbers, so
 * the bytes a verifier recomputes are the bytes that were hashed.
 *
 * Group commit: an appender queues a waiter (on its own stack) and either
 * becomes the leader, which takes the whole queue and writes it in one
 * durable transaction, or sleeps until it is told its entries are written.
 * When a round ends, its leader hands the lead to the head of what queued
 * meanwhile, so nothing waits for a thread that is gone, and then tells each
 * waiter of its round, through the waiter's own lock: a waiter wakes once,
 * and never queues for the log's lock on its way out. A waiter is told only
 * after the commit returned, with the commit's result: no appender learns
 * "written" before its entries are durable, and when the commit fails (a
 * failed fsync) every appender of that group gets the error. The queue and
 * the counters of struct cid_audit_stats are kept under the log's lock.
 *
 * A submitted append (cid_audit_submit) queues the same way, but its caller
 * does not wait, so it cannot lead: a round whose lead falls to it is led by
 * the log's committer thread (started at the first submit), and it is told
 * by its callback, on the thread that led its round, after the commit
 * returned. The server's polling threads submit, so that a release costs no
 * thread hand-off before its commit and one after.
 */
#include "audit.h"

#include "audit_int.h"
#include "buf.h"
#include "crypto.h"
#include "pseudonym.h"
#include "str.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct prepared;

/* A queued waiter's fate: still waiting, written (rc set), or to lead the next round. */
enum waiter_state { WAITER_QUEUED, WAITER_DONE, WAITER_LEAD };

/* One caller of cid_audit_append waiting for its entries to be written, or one submit. */
struct waiter {
	json_t *const *entries;
	const struct prepared *prep; /* per entry: its bytes but for the transaction's members */
	const char *const *once;     /* per entry: an index key that must be new, or NULL */
	size_t n;
	uint64_t first; /* outputs, valid when done */
	size_t written;
	enum cid_err rc;
	struct waiter *next;
	/* how the waiter learns its fate: its own lock, so that waking it never
	 * makes it queue for the log's lock (where the leader of the next round
	 * and the newcomers are) before it can return */
	pthread_mutex_t slot;
	pthread_cond_t wake;
	enum waiter_state state; /* under slot */
	cid_audit_done done;	 /* set: a submitted append (struct cid_audit_pending), told by
				    calling it; it never leads, and has no slot */
	void *done_arg;
};

/* An append made and checked, not yet written: a waiter that owns what it writes. */
struct cid_audit_pending {
	struct cid_audit *log;
	json_t **entries;
	char **once; /* may be NULL */
	struct prepared *prep;
	struct waiter w;
};

struct cid_audit {
	struct cid_store *store;
	bool group;
	_Atomic uint64_t commits;
	pthread_mutex_t lock;
	bool leading; /* a leader is writing a batch, or has been chosen to write the next */
	struct waiter *queue, **tail;
	/* the committer: leads the rounds whose lead falls to a submitted append */
	pthread_t committer;
	bool committer_up;	      /* started; under lock */
	pthread_cond_t go;	      /* signalled under lock when lead or stopping is set */
	bool lead;		      /* the committer is to lead the next round */
	bool stopping;		      /* cid_audit_close: the committer exits once idle */
	struct cid_audit_stats stats; /* under lock; its seconds are not kept: since is */
	struct timespec since;	      /* when stats were last taken */
};

/* The checks of cid_audit_append on one entry. */
static enum cid_err entry_check(const json_t *e)
{
	if (!json_is_object(e) || json_object_get(e, "seq") != NULL ||
	    json_object_get(e, "prev") != NULL || !audit_canon_ok(e, 0) ||
	    !audit_index_member_ok(json_object_get(e, "citizen")) ||
	    !audit_index_member_ok(json_object_get(e, "service")) ||
	    !audit_index_member_ok(json_object_get(e, "request_id")))
		return CID_ERR_INVALID;
	/* a time is one the indexes can order (no entry of a range is missed) */
	if (json_object_get(e, "time") != NULL && !audit_time_syntax_ok(cid_json_str(e, "time")))
		return CID_ERR_INVALID;
	return CID_OK;
}

/* ---- the head and the write path ---- */

/*
 * Writes index key kind "\n" name "\n" seq16 with the entry's time as its
 * value ("" when it has none), so a time range over a citizen's or a
 * service's entries is decided from the index alone.
 */
static enum cid_err index_put(struct cid_txn *txn, char kind, const char *name, const char *seq16,
			      const char *time)
{
	char key[4 + CID_AUDIT_MAX_NAME + AUDIT_SEQ_HEX + 1];
	int n = snprintf(key, sizeof(key), "%c\n%s\n%s", kind, name, seq16);

	if (n < 0 || (size_t)n >= sizeof(key))
		return CID_ERR_INVALID;
	return cid_txn_put(txn, CID_DB_AUDIT_IDX, (struct cid_str){key, (size_t)n},
			   cid_str_of(time != NULL ? time : ""), 0);
}

/*
 * Writes "d\n" service "\n" time "\n" seq16 -> "" (audit_int.h), so one
 * service's entries in a time range are one run of keys. entry_check let
 * only a time of audit_time_syntax_ok through.
 */
static enum cid_err day_put(struct cid_txn *txn, const char *service, const char *time,
			    const char *seq16)
{
	char key[AUDIT_DAY_KEY_MAX + 1];
	int n = snprintf(key, sizeof(key), "d\n%s\n%s\n%s", service, time, seq16);

	if (n < 0 || (size_t)n >= sizeof(key))
		return CID_ERR_INVALID;
	return cid_txn_put(txn, CID_DB_AUDIT_IDX, (struct cid_str){key, (size_t)n}, cid_str_of(""),
			   0);
}

/* The running end of the chain, and the tree over it, inside one write transaction. */
struct chain {
	uint64_t size;
	char hash[CID_AUDIT_HASH_HEX];
	struct audit_tree tree;
	/* the last pseudonym made or read, for its scope: the entries of one group mostly share it
	 */
	bool cached;
	const char *who, *service, *purpose; /* borrowed from the entries being written */
	char pseudonym[CID_PSEUDONYM_CHARS + 1];
	struct cid_buf text; /* the entry being written */
};

/*
 * An entry's canonical bytes, made before the write transaction but for the
 * members only the transaction can give: "seq", "prev", "citizen" (its
 * pseudonym), and "ext" when it names a citizen to pseudonymise. The members
 * are written in sorted order (as JSON_SORT_KEYS), each as ',' name ':' value;
 * hole[i] is where the member named hole[i].name goes, in that order. The
 * transaction then only fills the holes, so the JSON work of a group is done
 * by its appenders, side by side, not by the one writer.
 */
#define PREP_HOLES 4

struct prepared {
	struct cid_buf text;
	size_t n_holes;

	struct {
		const char *name; /* static */
		size_t at;
	} hole[PREP_HOLES];
};

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The flags of the canonical form (audit.h), for a member's value. */
#define CANON_FLAGS (JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY)

/* Prepares checked entry e (prepared above); pr->text is freed with cid_buf_free. */
static enum cid_err entry_prepare(const json_t *e, struct prepared *pr)
{
	enum cid_err rc = CID_OK;
	size_t n = json_object_size(e) + 2;
	const char **names = calloc(n, sizeof(*names));
	const char *ext_who = cid_json_str(json_object_get(e, "ext"), "citizen");
	const char *name;
	json_t *m;
	size_t k = 0;

	cid_buf_init(&pr->text, SIZE_MAX / 4);
	pr->n_holes = 0;
	CID_ENSURE(names != NULL, CID_ERR_NOMEM);
	names[k++] = "prev";
	names[k++] = "seq";
	/* jansson's foreach wants a non-const object; nothing here modifies it */
	json_object_foreach((json_t *)(uintptr_t)e, name, m) names[k++] = name;
	qsort((void *)names, k, sizeof(*names), name_cmp);
	for (size_t i = 0; i < k; i++) {
		static const char *const holes[] = {"citizen", "ext", "prev", "seq"};
		const char *hole = NULL;

		for (size_t h = 0; h < PREP_HOLES && hole == NULL; h++)
			if (strcmp(names[i], holes[h]) == 0 &&
			    (h != 1 || (ext_who != NULL && !cid_pseudonym_syntax_ok(ext_who))))
				hole = holes[h];
		if (hole != NULL) {
			pr->hole[pr->n_holes].name = hole;
			pr->hole[pr->n_holes++].at = pr->text.len;
			continue;
		}
		cid_buf_append(&pr->text, ",", 1);
		cid_buf_append_json_str(&pr->text, names[i], strlen(names[i]));
		cid_buf_append(&pr->text, ":", 1);
		cid_buf_append_json(&pr->text, json_object_get(e, names[i]), CANON_FLAGS);
	}
	CID_TRY(cid_buf_status(&pr->text));
out:
	free((void *)names);
	return rc;
}

/* The pseudonym of a scope (pseudonym.h), made in this transaction on first use. */
static enum cid_err chain_pseudonym(struct cid_txn *txn, struct chain *c, const char *who,
				    const char *service, const char *purpose)
{
	enum cid_err rc = CID_OK;

	if (c->cached && strcmp(c->who, who) == 0 && audit_same_str(c->service, service) &&
	    audit_same_str(c->purpose, purpose))
		return CID_OK;
	c->cached = false;
	CID_TRY(cid_pseudonym_get_or_make(txn, who, service, purpose, c->pseudonym));
	c->who = who;
	c->service = service;
	c->purpose = purpose;
	c->cached = true;
out:
	return rc;
}

/*
 * The value of a hole of entry e into c->text. An entry names its citizen by
 * the pseudonym of its scope; a name that is a pseudonym already (an
 * officer's act on an entry, a purge) is kept. A filter's citizen in "ext"
 * (a search or an export by citizen) gets the citizen's pseudonym of no
 * purpose, in a copy of ext. *citizen: the citizen as written (borrowed from
 * e or c), for the index.
 */
static enum cid_err hole_put(struct cid_txn *txn, struct chain *c, const json_t *e,
			     const char *name, const char **citizen)
{
	enum cid_err rc = CID_OK;
	const char *who;
	json_t *copy = NULL;

	cid_buf_append(&c->text, ",", 1);
	cid_buf_append_json_str(&c->text, name, strlen(name));
	cid_buf_append(&c->text, ":", 1);
	if (strcmp(name, "seq") == 0) {
		cid_buf_append_int(&c->text, (int64_t)c->size);
	} else if (strcmp(name, "prev") == 0) {
		cid_buf_append_json_str(&c->text, c->hash, strlen(c->hash));
	} else if (strcmp(name, "citizen") == 0) {
		who = cid_json_str(e, "citizen");
		CID_ENSURE(who != NULL, CID_ERR_INVALID);
		if (!cid_pseudonym_syntax_ok(who)) {
			CID_TRY(chain_pseudonym(txn, c, who, cid_json_str(e, "service"),
						cid_json_str(e, "purpose")));
			who = c->pseudonym;
		}
		*citizen = who;
		cid_buf_append_json_str(&c->text, who, strlen(who));
	} else {
		const json_t *ext = json_object_get(e, "ext");
		char p[CID_PSEUDONYM_CHARS + 1];

		CID_TRY(
		    cid_pseudonym_get_or_make(txn, cid_json_str(ext, "citizen"), NULL, NULL, p));
		copy = json_copy((json_t *)(uintptr_t)ext);
		/* jansson 2.14's json_copy leaves out a member it runs out of memory for, and
		 * returns the rest: an entry must never be chained with a member missing */
		CID_ENSURE(copy != NULL && json_object_size(copy) == json_object_size(ext) &&
			       json_object_set_new(copy, "citizen", json_string(p)) == 0,
			   CID_ERR_NOMEM);
		cid_buf_append_json(&c->text, copy, CANON_FLAGS);
	}
out:
	json_decref(copy);
	return rc;
}

/* Writes one checked entry, prepared as pr, as the next of the chain. */
static enum cid_err chain_put(struct cid_txn *txn, struct chain *c, const json_t *e,
			      const struct prepared *pr)
{
	enum cid_err rc = CID_OK;
	char key[AUDIT_SEQ_HEX + 1];
	const char *citizen = NULL;
	const char *who;
	const char *time;
	size_t from = 0;
	uint8_t leaf[CID_MERKLE_HASH];

	CID_ENSURE(c->size < (uint64_t)INT64_MAX, CID_ERR_STORE);
	/* the members, each after a comma: the first comma becomes the opening brace */
	c->text.len = 0;
	for (size_t h = 0; h < pr->n_holes; h++) {
		cid_buf_append(&c->text, pr->text.data + from, pr->hole[h].at - from);
		CID_TRY(hole_put(txn, c, e, pr->hole[h].name, &citizen));
		from = pr->hole[h].at;
	}
	cid_buf_append(&c->text, pr->text.data + from, pr->text.len - from);
	cid_buf_append(&c->text, "}", 1);
	CID_TRY(cid_buf_status(&c->text));
	c->text.data[0] = '{';
	audit_seq_key(c->size, key);
	CID_TRY(cid_txn_put(txn, CID_DB_AUDIT, cid_str_of(key),
			    (struct cid_str){c->text.data, c->text.len}, CID_PUT_NOOVERWRITE));
	time = cid_json_str(e, "time");
	if (citizen != NULL)
		CID_TRY(index_put(txn, 'c', citizen, key, time));
	/* the time index: "t\n" time "\n" seq, for ranges over all entries */
	if (time != NULL)
		CID_TRY(index_put(txn, 't', time, key, NULL));
	/* the service-day index: "d\n" service "\n" time "\n" seq, for a service's range */
	who = cid_json_str(e, "service");
	if (who != NULL) {
		CID_TRY(index_put(txn, 's', who, key, time));
		if (time != NULL)
			CID_TRY(day_put(txn, who, time, key));
	}
	/* the release index: the entries behind the release id a service was given */
	who = cid_json_str(e, "request_id");
	if (who != NULL)
		CID_TRY(index_put(txn, 'r', who, key, time));
	CID_TRY(audit_entry_hash(c->text.data, c->text.len, leaf, c->hash));
	CID_TRY(audit_tree_append(&c->tree, leaf));
	c->size++;
out:
	return rc;
}

static enum cid_err head_put(struct cid_txn *txn, const struct chain *c)
{
	enum cid_err rc = CID_OK;
	json_t *head = json_pack("{s:I, s:s}", "size", (json_int_t)c->size, "hash", c->hash);

	CID_ENSURE(head != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_txn_put_json(txn, CID_DB_META, cid_str_of(AUDIT_HEAD_KEY), head, 0));
out:
	json_decref(head);
	return rc;
}

/* Records that the "d" index covers the seqs [from, to) (audit_int.h). */
static enum cid_err day_cover_put(struct cid_txn *txn, uint64_t from, uint64_t to)
{
	enum cid_err rc = CID_OK;
	json_t *cover = json_pack("{s:I, s:I}", "from", (json_int_t)from, "to", (json_int_t)to);

	CID_ENSURE(cover != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_txn_put_json(txn, CID_DB_META, cid_str_of(AUDIT_DAY_KEY), cover, 0));
out:
	json_decref(cover);
	return rc;
}

/* Writes the entries of a list of waiters, in order; outputs go to the waiters. */
static enum cid_err chain_write(struct cid_txn *txn, struct waiter *list)
{
	enum cid_err rc = CID_OK;
	struct chain c = {0};
	struct cid_str v;
	uint64_t from;
	uint64_t to;

	cid_buf_init(&c.text, SIZE_MAX / 4);
	CID_TRY(cid_audit_head(txn, &c.size, c.hash));
	CID_TRY(audit_tree_open(txn, c.size, &c.tree));
	/* the "d" index covers [from, to); entries written without it (before it
	 * existed, or by an older civicid since) end the run: it starts again here */
	CID_TRY(audit_day_cover(txn, &from, &to));
	if (to != c.size)
		from = c.size;
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
			CID_TRY(chain_put(txn, &c, w->entries[i], &w->prep[i]));
			w->written++;
		}
	}
	CID_TRY(head_put(txn, &c));
	CID_TRY(day_cover_put(txn, from, c.size));
	CID_TRY(audit_tree_close(&c.tree));
out:
	cid_buf_free(&c.text);
	return rc;
}

static enum cid_err chain_write_cb(struct cid_txn *txn, void *arg)
{
	return chain_write(txn, arg);
}

/* Checks and prepares n entries into prep[n]: each freed with prepared_free, even on error. */
static enum cid_err entries_prepare(json_t *const *entries, size_t n, struct prepared *prep)
{
	enum cid_err rc = CID_OK;

	for (size_t i = 0; i < n; i++)
		cid_buf_init(&prep[i].text, 0);
	for (size_t i = 0; i < n; i++) {
		CID_TRY(entry_check(entries[i]));
		CID_TRY(entry_prepare(entries[i], &prep[i]));
	}
out:
	return rc;
}

static void prepared_free(struct prepared *prep, size_t n)
{
	for (size_t i = 0; prep != NULL && i < n; i++)
		cid_buf_free(&prep[i].text);
	free(prep);
}

enum cid_err cid_audit_append_txn(struct cid_txn *txn, const json_t *entry, uint64_t *seq)
{
	enum cid_err rc = CID_OK;
	json_t *e = (json_t *)(uintptr_t)entry;
	struct prepared *prep = calloc(1, sizeof(*prep));
	struct waiter w = {.entries = &e, .prep = prep, .n = 1};

	CID_ENSURE(prep != NULL, CID_ERR_NOMEM);
	CID_TRY(entries_prepare(&e, 1, prep));
	CID_TRY(chain_write(txn, &w));
	if (seq != NULL)
		*seq = w.first;
out:
	prepared_free(prep, 1);
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
	if (pthread_cond_init(&log->go, NULL) != 0) {
		pthread_mutex_destroy(&log->lock);
		free(log);
		return CID_ERR_NOMEM;
	}
	log->store = s;
	log->group = group;
	log->tail = &log->queue;
	atomic_init(&log->commits, 0);
	(void)clock_gettime(CLOCK_MONOTONIC, &log->since);
	*out = log;
	return CID_OK;
}

void cid_audit_close(struct cid_audit *log)
{
	bool up;

	if (log == NULL)
		return;
	pthread_mutex_lock(&log->lock);
	log->stopping = true;
	pthread_cond_signal(&log->go);
	up = log->committer_up;
	pthread_mutex_unlock(&log->lock);
	if (up)
		pthread_join(log->committer, NULL);
	pthread_cond_destroy(&log->go);
	pthread_mutex_destroy(&log->lock);
	free(log);
}

uint64_t cid_audit_commits(const struct cid_audit *log)
{
	return atomic_load(&log->commits);
}

struct cid_store *audit_store(const struct cid_audit *log)
{
	return log->store;
}

static uint64_t elapsed_ns(const struct timespec *from, const struct timespec *to)
{
	int64_t ns = ((int64_t)to->tv_sec - (int64_t)from->tv_sec) * 1000000000LL +
		     ((int64_t)to->tv_nsec - (int64_t)from->tv_nsec);

	return ns > 0 ? (uint64_t)ns : 0;
}

/* The histogram bucket of a commit that carried appends calls: floor(log2). */
static size_t group_bucket(uint64_t appends)
{
	size_t b = 0;

	while (appends > 1 && b + 1 < CID_AUDIT_GROUP_BUCKETS) {
		appends >>= 1;
		b++;
	}
	return b;
}

/* Counts one commit of the calls in list (log->lock held). */
static void stats_count(struct cid_audit *log, const struct waiter *list, enum cid_err rc,
			uint64_t ns, uint64_t cpu_ns)
{
	struct cid_audit_stats *st = &log->stats;
	uint64_t appends = 0;
	uint64_t entries = 0;

	for (const struct waiter *w = list; w != NULL; w = w->next) {
		appends++;
		entries += rc == CID_OK ? w->written : 0;
	}
	st->commit_ns += ns;
	st->commit_cpu_ns += cpu_ns;
	if (rc != CID_OK) {
		st->failed++;
		st->failed_appends += appends;
		return;
	}
	st->commits++;
	st->appends += appends;
	st->entries += entries;
	st->max_appends = appends > st->max_appends ? appends : st->max_appends;
	st->max_entries = entries > st->max_entries ? entries : st->max_entries;
	st->groups[group_bucket(appends)]++;
}

/* Writes the waiters of list in one transaction, counting it. */
static enum cid_err commit_batch(struct cid_audit *log, struct waiter *list)
{
	struct timespec t0;
	struct timespec t1;
	struct timespec c0;
	struct timespec c1;
	enum cid_err rc;

	(void)clock_gettime(CLOCK_MONOTONIC, &t0);
	(void)clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
	rc = cid_store_update(log->store, chain_write_cb, list);
	(void)clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
	(void)clock_gettime(CLOCK_MONOTONIC, &t1);
	if (rc == CID_OK)
		atomic_fetch_add(&log->commits, 1);
	pthread_mutex_lock(&log->lock);
	stats_count(log, list, rc, elapsed_ns(&t0, &t1), elapsed_ns(&c0, &c1));
	pthread_mutex_unlock(&log->lock);
	return rc;
}

void cid_audit_stats_take(struct cid_audit *log, struct cid_audit_stats *out)
{
	struct timespec now;

	pthread_mutex_lock(&log->lock);
	(void)clock_gettime(CLOCK_MONOTONIC, &now);
	*out = log->stats;
	out->seconds = (double)elapsed_ns(&log->since, &now) / 1e9;
	memset(&log->stats, 0, sizeof(log->stats));
	log->since = now;
	pthread_mutex_unlock(&log->lock);
}

enum cid_err cid_audit_stats_format(const struct cid_audit_stats *st, char *out, size_t size)
{
	enum cid_err rc = CID_OK;
	double secs = st->seconds > 0 ? st->seconds : 1;
	double per = st->commits > 0 ? (double)st->commits : 1;
	uint64_t all = st->commits + st->failed;
	size_t used;
	int n;

	n = snprintf(out, size,
		     "seconds=%.1f commits=%" PRIu64 " commits_per_s=%.1f failed=%" PRIu64
		     " failed_appends=%" PRIu64 " appends=%" PRIu64 " entries=%" PRIu64
		     " appends_per_commit=%.1f max_appends=%" PRIu64 " entries_per_commit=%.1f"
		     " max_entries=%" PRIu64 " commit_ms=%.2f commit_cpu_ms=%.2f groups=",
		     st->seconds, st->commits, (double)st->commits / secs, st->failed,
		     st->failed_appends, st->appends, st->entries, (double)st->appends / per,
		     st->max_appends, (double)st->entries / per, st->max_entries,
		     all > 0 ? (double)st->commit_ns / 1e6 / (double)all : 0.0,
		     all > 0 ? (double)st->commit_cpu_ns / 1e6 / (double)all : 0.0);
	CID_ENSURE(n >= 0 && (size_t)n < size, CID_ERR_INVALID);
	used = (size_t)n;
	for (size_t b = 0; b < CID_AUDIT_GROUP_BUCKETS; b++) {
		uint64_t lo = (uint64_t)1 << b;

		if (b + 1 == CID_AUDIT_GROUP_BUCKETS)
			n = snprintf(out + used, size - used, "%s%" PRIu64 "+:%" PRIu64,
				     b > 0 ? "," : "", lo, st->groups[b]);
		else if (lo == 1)
			n = snprintf(out + used, size - used, "1:%" PRIu64, st->groups[b]);
		else
			n = snprintf(out + used, size - used, ",%" PRIu64 "-%" PRIu64 ":%" PRIu64,
				     lo, 2 * lo - 1, st->groups[b]);
		CID_ENSURE(n >= 0 && (size_t)n < size - used, CID_ERR_INVALID);
		used += (size_t)n;
	}
out:
	if (rc != CID_OK && size > 0)
		out[0] = '\0'; /* no partial line */
	return rc;
}

/* Tells queued waiter w its fate; once DONE, w may return and its stack go at once. */
static void waiter_tell(struct waiter *w, enum waiter_state state)
{
	pthread_mutex_lock(&w->slot);
	w->state = state;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->slot);
}

/* Sleeps until w is written or chosen to lead; says which. */
static enum waiter_state waiter_wait(struct waiter *w)
{
	enum waiter_state state;

	pthread_mutex_lock(&w->slot);
	while (w->state == WAITER_QUEUED)
		pthread_cond_wait(&w->wake, &w->slot);
	state = w->state;
	pthread_mutex_unlock(&w->slot);
	return state;
}

static void pending_free(struct cid_audit_pending *p);

/* Tells queued w the result of its round: wakes its caller, or calls its callback. */
static void waiter_done(struct waiter *w)
{
	if (w->done != NULL) {
		w->done(w->done_arg, w->rc); /* the caller's again from here */
		return;
	}
	waiter_tell(w, WAITER_DONE);
}

/* Gives the lead of the next round to w: its caller, or the committer for a submit. */
static void lead_give(struct cid_audit *log, struct waiter *w)
{
	if (w->done == NULL) {
		waiter_tell(w, WAITER_LEAD);
		return;
	}
	pthread_mutex_lock(&log->lock);
	log->lead = true;
	pthread_cond_signal(&log->go);
	pthread_mutex_unlock(&log->lock);
}

/*
 * Leads one round: takes the whole queue, commits it, hands the lead to the
 * head of what queued meanwhile (first: a blocking appender chosen starts
 * the next commit at once; when the head is a submit, the committer leads
 * the next round once it has told this one), and only then tells each of
 * the round its result, but self (the leading caller, NULL for the
 * committer), who reads its own.
 */
static void round_lead(struct cid_audit *log, struct waiter *self)
{
	struct waiter *batch;
	struct waiter *next;
	enum cid_err rc;

	pthread_mutex_lock(&log->lock);
	batch = log->queue;
	log->queue = NULL;
	log->tail = &log->queue;
	pthread_mutex_unlock(&log->lock);

	rc = commit_batch(log, batch);

	pthread_mutex_lock(&log->lock);
	next = log->queue;
	log->leading = next != NULL; /* else the next to queue leads */
	pthread_mutex_unlock(&log->lock);
	if (next != NULL)
		lead_give(log, next);
	for (struct waiter *b = batch; b != NULL; b = next) {
		next = b->next; /* b may return (and its stack go) once told */
		b->rc = rc;
		b->next = NULL;
		if (b != self)
			waiter_done(b);
	}
}

/*
 * Queues w; true if it is to lead (no round runs or is promised). With
 * lead_now false (a submit), the committer is told to lead instead.
 */
static bool queue_up(struct cid_audit *log, struct waiter *w, bool lead_now)
{
	bool lead;

	pthread_mutex_lock(&log->lock);
	*log->tail = w;
	log->tail = &w->next;
	lead = !log->leading;
	log->leading = true;
	if (lead && !lead_now) {
		log->lead = true;
		pthread_cond_signal(&log->go);
	}
	pthread_mutex_unlock(&log->lock);
	return lead && lead_now;
}

/*
 * Writes w (with everything queued) and returns when w is written. The
 * first to queue while no round runs leads one (round_lead); the others
 * sleep until told, each through its own slot: a waiter is woken once, when
 * it is written, or when the lead of the next round falls to it.
 */
static void group_commit(struct cid_audit *log, struct waiter *w)
{
	if (pthread_mutex_init(&w->slot, NULL) != 0) {
		w->rc = CID_ERR_NOMEM;
		return;
	}
	if (pthread_cond_init(&w->wake, NULL) != 0) {
		pthread_mutex_destroy(&w->slot);
		w->rc = CID_ERR_NOMEM;
		return;
	}
	w->state = WAITER_QUEUED;
	if (queue_up(log, w, true) || waiter_wait(w) == WAITER_LEAD)
		round_lead(log, w);
	pthread_cond_destroy(&w->wake);
	pthread_mutex_destroy(&w->slot);
}

/* The committer thread: leads each round whose lead falls to a submit, until closed. */
static void *committer_main(void *arg)
{
	struct cid_audit *log = arg;

	pthread_mutex_lock(&log->lock);
	for (;;) {
		while (!log->lead && !log->stopping)
			pthread_cond_wait(&log->go, &log->lock);
		if (!log->lead)
			break;
		log->lead = false;
		pthread_mutex_unlock(&log->lock);
		round_lead(log, NULL);
		pthread_mutex_lock(&log->lock);
	}
	pthread_mutex_unlock(&log->lock);
	return NULL;
}

/* Appends entries, each with its once-key or none, as consecutive entries. */
enum cid_err audit_append(struct cid_audit *log, json_t *const *entries, const char *const *once,
			  size_t n, uint64_t *first, size_t *written)
{
	enum cid_err rc = CID_OK;
	struct prepared *prep = NULL;
	struct waiter w = {.entries = entries, .once = once, .n = n};

	CID_ENSURE(log != NULL && entries != NULL && n > 0, CID_ERR_INVALID);
	prep = calloc(n, sizeof(*prep));
	CID_ENSURE(prep != NULL, CID_ERR_NOMEM);
	CID_TRY(entries_prepare(entries, n, prep));
	w.prep = prep;
	if (log->group) {
		group_commit(log, &w);
		rc = w.rc;
	} else {
		rc = commit_batch(log, &w);
	}
	CID_TRY(rc);
	if (first != NULL)
		*first = w.first;
	if (written != NULL)
		*written = w.written;
out:
	prepared_free(prep, n);
	return rc;
}

enum cid_err cid_audit_append(struct cid_audit *log, json_t *const *entries, size_t n,
			      uint64_t *first_seq)
{
	return audit_append(log, entries, NULL, n, first_seq, NULL);
}

/* ---- submitted appends ---- */

static void pending_free(struct cid_audit_pending *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->w.n; i++) {
		json_decref(p->entries[i]);
		if (p->once != NULL)
			free(p->once[i]);
	}
	if (p->prep != NULL)
		prepared_free(p->prep, p->w.n);
	free(p->entries);
	free(p->once);
	free(p);
}

void cid_audit_pending_free(struct cid_audit_pending *p)
{
	pending_free(p);
}

enum cid_err audit_pending_new(struct cid_audit *log, json_t **entries, char **once, size_t n,
			       struct cid_audit_pending **out)
{
	enum cid_err rc = CID_OK;
	struct cid_audit_pending *p = calloc(1, sizeof(*p));

	if (entries == NULL)
		n = 0; /* nothing to take over: refused below */
	if (p == NULL) {
		for (size_t i = 0; i < n; i++) {
			json_decref(entries[i]);
			if (once != NULL)
				free(once[i]);
		}
		free(entries);
		free(once);
		return CID_ERR_NOMEM;
	}
	p->log = log;
	p->entries = entries;
	p->once = once;
	p->w.entries = entries;
	p->w.once = (const char *const *)once;
	p->w.n = n;
	CID_ENSURE(log != NULL && entries != NULL && n > 0, CID_ERR_INVALID);
	p->prep = calloc(n, sizeof(*p->prep));
	CID_ENSURE(p->prep != NULL, CID_ERR_NOMEM);
	CID_TRY(entries_prepare(entries, n, p->prep));
	p->w.prep = p->prep;
	*out = p;
	p = NULL;
out:
	pending_free(p);
	return rc;
}

size_t cid_audit_pending_count(const struct cid_audit_pending *p)
{
	return p->w.n;
}

enum cid_err cid_audit_pending_commit(struct cid_audit_pending *p)
{
	enum cid_err rc;

	if (p->log->group) {
		group_commit(p->log, &p->w);
		rc = p->w.rc;
	} else {
		rc = commit_batch(p->log, &p->w);
	}
	pending_free(p);
	return rc;
}

void cid_audit_submit(struct cid_audit_pending *p, cid_audit_done done, void *arg)
{
	struct cid_audit *log = p->log;

	p->w.done = done;
	p->w.done_arg = arg;
	if (!log->group) {
		p->w.rc = commit_batch(log, &p->w);
		waiter_done(&p->w);
		return;
	}
	pthread_mutex_lock(&log->lock);
	if (!log->committer_up)
		log->committer_up = pthread_create(&log->committer, NULL, committer_main, log) == 0;
	if (!log->committer_up) {
		pthread_mutex_unlock(&log->lock);
		p->w.rc = CID_ERR_NOMEM;
		waiter_done(&p->w);
		return;
	}
	pthread_mutex_unlock(&log->lock);
	(void)queue_up(log, &p->w, false);
}
