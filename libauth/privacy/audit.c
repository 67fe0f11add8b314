/*
 * audit: a hash chain of canonical JSON entries in LMDB. The other files of
 * the module append to it and read it: audit_commit.c (the log, its group
 * commit and the submitted appends), audit_verify.c (checkpoints and
 * verification), audit_read.c (queries and views), audit_export.c (the
 * files that leave it); audit_canon.c holds the canonical form and the
 * helpers they share, audit_int.h declares what they share.
 * Every write goes through one function, chain_write, run inside a write
 * transaction: it reads the head there (so two writers, even in two
 * processes, can never fork the chain), gives each entry its seq and prev,
 * writes it with its index keys, appends its leaf to the Merkle tree
 * (audit_tree.c) and moves the head. Everything it needs is checked, and
 * each entry's bytes made but for seq, prev and pseudonyms (struct
 * audit_prepared), before the transaction, and its outputs go to its
 * argument only, so cid_store_update may run it again after growing the map.
 *
 * An entry is stored as its canonical bytes (audit.h), and only entries that
 * have canonical bytes are accepted: ASCII member names, no real numbers, so
 * the bytes a verifier recomputes are the bytes that were hashed.
 */
#include "audit.h"

#include "audit_int.h"
#include "buf.h"
#include "crypto.h"
#include "pseudonym.h"
#include "str.h"

#include <stdlib.h>
#include <string.h>

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
 * Prepares checked entry e (struct audit_prepared), borrowing its members;
 * pr->text is freed with cid_buf_free.
 */
static enum cid_err entry_prepare(const json_t *e, struct audit_prepared *pr)
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
	pr->citizen = cid_json_str(e, "citizen");
	pr->service = cid_json_str(e, "service");
	pr->purpose = cid_json_str(e, "purpose");
	pr->time = cid_json_str(e, "time");
	pr->request_id = cid_json_str(e, "request_id");
	pr->ext = json_object_get(e, "ext");
	CID_ENSURE(names != NULL, CID_ERR_NOMEM);
	names[k++] = "prev";
	names[k++] = "seq";
	/* jansson's foreach wants a non-const object; nothing here modifies it */
	json_object_foreach((json_t *)(uintptr_t)e, name, m) names[k++] = name;
	qsort((void *)names, k, sizeof(*names), audit_name_cmp);
	for (size_t i = 0; i < k; i++) {
		static const char *const holes[] = {"citizen", "ext", "prev", "seq"};
		const char *hole = NULL;

		for (size_t h = 0; h < AUDIT_PREP_HOLES && hole == NULL; h++)
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
		audit_canon_append(&pr->text, json_object_get(e, names[i]));
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
 * The value of a hole of entry pr into c->text. An entry names its citizen by
 * the pseudonym of its scope; a name that is a pseudonym already (an
 * officer's act on an entry, a purge) is kept. A filter's citizen in "ext"
 * (a search or an export by citizen) gets the citizen's pseudonym of no
 * purpose, in a copy of ext. *citizen: the citizen as written (borrowed from
 * e or c), for the index; ext_citizen: the pseudonym written in ext (left
 * as it was when ext names none), for the index too.
 */
static enum cid_err hole_put(struct cid_txn *txn, struct chain *c, const struct audit_prepared *pr,
			     const char *name, const char **citizen,
			     char ext_citizen[CID_PSEUDONYM_CHARS + 1])
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
		who = pr->citizen;
		CID_ENSURE(who != NULL, CID_ERR_INVALID);
		if (!cid_pseudonym_syntax_ok(who)) {
			CID_TRY(chain_pseudonym(txn, c, who, pr->service, pr->purpose));
			who = c->pseudonym;
		}
		*citizen = who;
		cid_buf_append_json_str(&c->text, who, strlen(who));
	} else {
		const json_t *ext = pr->ext;

		CID_TRY(cid_pseudonym_get_or_make(txn, cid_json_str(ext, "citizen"), NULL, NULL,
						  ext_citizen));
		copy = json_copy((json_t *)(uintptr_t)ext);
		/* jansson 2.14's json_copy leaves out a member it runs out of memory for, and
		 * returns the rest: an entry must never be chained with a member missing */
		CID_ENSURE(copy != NULL && json_object_size(copy) == json_object_size(ext) &&
			       json_object_set_new(copy, "citizen", json_string(ext_citizen)) == 0,
			   CID_ERR_NOMEM);
		audit_canon_append(&c->text, copy);
	}
out:
	json_decref(copy);
	return rc;
}

/* Writes one checked entry, prepared as pr, as the next of the chain. */
static enum cid_err chain_put(struct cid_txn *txn, struct chain *c, const struct audit_prepared *pr)
{
	enum cid_err rc = CID_OK;
	char key[AUDIT_SEQ_HEX + 1];
	const char *citizen = NULL;
	char ext_citizen[CID_PSEUDONYM_CHARS + 1] = "";
	const char *who;
	const char *time;
	size_t from = 0;
	uint8_t leaf[CID_MERKLE_HASH];

	CID_ENSURE(c->size < (uint64_t)INT64_MAX, CID_ERR_STORE);
	/* the members, each after a comma: the first comma becomes the opening brace */
	c->text.len = 0;
	for (size_t h = 0; h < pr->n_holes; h++) {
		cid_buf_append(&c->text, pr->text.data + from, pr->hole[h].at - from);
		CID_TRY(hole_put(txn, c, pr, pr->hole[h].name, &citizen, ext_citizen));
		from = pr->hole[h].at;
	}
	cid_buf_append(&c->text, pr->text.data + from, pr->text.len - from);
	cid_buf_append(&c->text, "}", 1);
	CID_TRY(cid_buf_status(&c->text));
	c->text.data[0] = '{';
	audit_seq_key(c->size, key);
	/* after every stored entry (else CID_ERR_EXISTS), so pages are filled, not halved */
	CID_TRY(cid_txn_put(txn, CID_DB_AUDIT, cid_str_of(key),
			    (struct cid_str){c->text.data, c->text.len}, CID_PUT_APPEND));
	time = pr->time;
	if (citizen != NULL)
		CID_TRY(index_put(txn, 'c', citizen, key, time));
	/* the citizen a search or an export filtered on: a use of that pseudonym
	 * too, so its mapping's retention (retention.h) counts from the newest;
	 * readers by citizen match the entry's own "citizen" and pass these by */
	if (ext_citizen[0] != '\0')
		CID_TRY(index_put(txn, 'c', ext_citizen, key, time));
	/* the time index: "t\n" time "\n" seq, for ranges over all entries */
	if (time != NULL)
		CID_TRY(index_put(txn, 't', time, key, NULL));
	/* the service-day index: "d\n" service "\n" time "\n" seq, for a service's range */
	who = pr->service;
	if (who != NULL) {
		CID_TRY(index_put(txn, 's', who, key, time));
		if (time != NULL)
			CID_TRY(day_put(txn, who, time, key));
	}
	/* the release index: the entries behind the release id a service was given */
	who = pr->request_id;
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
static enum cid_err chain_write(struct cid_txn *txn, struct audit_waiter *list)
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
	for (struct audit_waiter *w = list; w != NULL; w = w->next) {
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
			CID_TRY(chain_put(txn, &c, &w->prep[i]));
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

enum cid_err audit_chain_write(struct cid_txn *txn, void *list)
{
	return chain_write(txn, list);
}

enum cid_err audit_entries_prepare(json_t *const *entries, size_t n, struct audit_prepared **out)
{
	enum cid_err rc = CID_OK;
	struct audit_prepared *prep = calloc(n, sizeof(*prep));

	CID_ENSURE(prep != NULL, CID_ERR_NOMEM);
	for (size_t i = 0; i < n; i++)
		cid_buf_init(&prep[i].text, 0);
	for (size_t i = 0; i < n; i++) {
		CID_TRY(entry_check(entries[i]));
		CID_TRY(entry_prepare(entries[i], &prep[i]));
	}
	*out = prep;
	prep = NULL;
out:
	audit_prepared_free(prep, n);
	return rc;
}

void audit_prepared_free(struct audit_prepared *prep, size_t n)
{
	for (size_t i = 0; prep != NULL && i < n; i++) {
		cid_buf_free(&prep[i].text);
		free(prep[i].owned);
	}
	free(prep);
}

enum cid_err cid_audit_append_txn(struct cid_txn *txn, const json_t *entry, uint64_t *seq)
{
	enum cid_err rc = CID_OK;
	json_t *e = (json_t *)(uintptr_t)entry;
	struct audit_waiter w = {.entries = &e, .n = 1};

	CID_TRY(audit_entries_prepare(&e, 1, &w.prep));
	CID_TRY(chain_write(txn, &w));
	if (seq != NULL)
		*seq = w.first;
out:
	audit_prepared_free(w.prep, 1);
	return rc;
}
