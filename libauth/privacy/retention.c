/*
 * retention: purges a purpose's pseudonym mapping and consent records at
 * the end of its retention (retention.h). Whether a scope is due is decided
 * by one function, scope_due, run twice: on a read transaction to find the
 * candidates, and again inside the write transaction that purges them, so a
 * release or a consent that came in between keeps its scope. The purge and
 * its retention.purged entry commit together or not at all.
 */
#include "retention.h"

#include "account.h"
#include "audit.h"
#include "audit_int.h"
#include "consent.h"
#include "law.h"
#include "policy_law.h"
#include "provision.h"
#include "pseudonym.h"
#include "str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_SECONDS 86400
#define CURSOR_KEY  "retention_cursor" /* CID_DB_META: {"after": pseudonym or ""} */

/* "YYYY-MM-DDTHH:MM:SSZ" as POSIX seconds; false when it is not one. */
static bool time_parse(const char *t, size_t len, int64_t *out)
{
	char day[11];
	char s[AUDIT_TIME_CHARS + 1];
	uint64_t h, m, sec;
	int64_t d;

	if (len != AUDIT_TIME_CHARS)
		return false;
	memcpy(s, t, len);
	s[len] = '\0';
	if (!audit_time_syntax_ok(s))
		return false;
	memcpy(day, s, 10);
	day[10] = '\0';
	if (cid_audit_day_parse(day, &d) != CID_OK ||
	    cid_parse_u64(s + 11, 2, 0, 23, &h) != CID_OK ||
	    cid_parse_u64(s + 14, 2, 0, 59, &m) != CID_OK ||
	    cid_parse_u64(s + 17, 2, 0, 60, &sec) != CID_OK)
		return false;
	*out = d + (int64_t)(h * 3600 + m * 60 + sec);
	return true;
}

/* The consent records of a scope: when it ended, whether one is in force, their keys. */
struct records {
	int64_t now;
	int64_t ended;
	bool in_force;
	json_t *keys; /* NULL: not collected */
	char attr[CID_AUDIT_MAX_NAME + 1];
	bool attr_in_force;  /* the latest record so far of attr is a grant in force */
	int64_t attr_expiry; /* and when it lapses, if a grant (else 0) */
};

/* The end of attr's latest record counts once it is known to be the latest. */
static void attr_done(struct records *r)
{
	r->in_force = r->in_force || r->attr_in_force;
	if (r->attr_expiry > r->ended)
		r->ended = r->attr_expiry;
	r->attr_in_force = false;
	r->attr_expiry = 0;
}

static enum cid_err record_cb(struct cid_str key, struct cid_str val, void *arg)
{
	struct records *r = arg;
	enum cid_err rc = CID_OK;
	struct cid_consent_record rec;
	json_t *j = NULL;

	CID_TRY(cid_consent_record_parse(val, &j));
	CID_TRY(cid_consent_record_read(j, &rec));
	if (strcmp(rec.attribute, r->attr) != 0) {
		attr_done(r);
		snprintf(r->attr, sizeof(r->attr), "%s", rec.attribute);
	}
	/* records of one attribute come in seq order: the last one decides */
	r->attr_in_force =
	    cid_consent_state_at(rec.state, rec.expires_at, r->now) == CID_CONSENT_GRANTED;
	r->attr_expiry = rec.state == CID_CONSENT_GRANTED ? rec.expires_at : 0;
	if (rec.at > r->ended)
		r->ended = rec.at;
	if (r->keys != NULL)
		CID_ENSURE(json_array_append_new(r->keys, json_stringn(key.ptr, key.len)) == 0,
			   CID_ERR_NOMEM);
out:
	json_decref(j);
	return rc;
}

/* The walk back over a scope's index keys for its newest release or consent entry. */
struct newest {
	struct cid_txn *txn;
	bool any; /* the newest entry of any type */
	int64_t t;
};

/* The seq an index key "c\n" pseudonym "\n" seq16 ends with. */
static bool index_seq(struct cid_str key, uint64_t *seq)
{
	return key.len >= AUDIT_SEQ_HEX &&
	       audit_seq_key_parse(
		   (struct cid_str){key.ptr + key.len - AUDIT_SEQ_HEX, AUDIT_SEQ_HEX}, seq);
}

/*
 * An index key of the scope, newest first: a release or consent entry gives
 * the time; others (an officer's look-up or view naming the pseudonym) are
 * not the purpose's use and do not hold its retention back.
 */
static enum cid_err newest_cb(struct cid_str key, struct cid_str val, void *arg)
{
	struct newest *nw = arg;
	enum cid_err rc = CID_OK;
	json_t *e = NULL;
	const char *type;
	uint64_t seq;

	if (!index_seq(key, &seq))
		return CID_ERR_STORE;
	if (!nw->any) {
		CID_TRY(cid_audit_get(nw->txn, seq, &e));
		type = cid_json_str(e, "type");
		if (type == NULL ||
		    (strncmp(type, "release.", 8) != 0 && strncmp(type, "consent.", 8) != 0))
			goto out;
	}
	CID_ENSURE(time_parse(val.ptr, val.len, &nw->t), CID_ERR_STORE);
	rc = AUDIT_STOP;
out:
	json_decref(e);
	return rc;
}

/* Walks the index keys of pseudonym's entries, newest first; AUDIT_STOP is no error. */
static enum cid_err scope_walk(struct cid_txn *txn, const char *pseudonym,
			       enum cid_err (*fn)(struct cid_str, struct cid_str, void *),
			       void *arg)
{
	enum cid_err rc = CID_OK;
	char prefix[2 + CID_PSEUDONYM_CHARS + 2];
	int n;

	n = snprintf(prefix, sizeof(prefix), "c\n%s\n", pseudonym);
	CID_ENSURE(n > 0 && (size_t)n < sizeof(prefix), CID_ERR_STORE);
	rc = cid_txn_foreach_range(txn, CID_DB_AUDIT_IDX, (struct cid_str){prefix, (size_t)n},
				   (struct cid_str){NULL, 0}, true, fn, arg);
	if (rc == AUDIT_STOP)
		rc = CID_OK;
out:
	return rc;
}

/* Into nw->t: the time of the newest entry of pseudonym's scope that nw counts; 0: none. */
static enum cid_err newest_of(struct cid_txn *txn, const char *pseudonym, struct newest *nw)
{
	return scope_walk(txn, pseudonym, newest_cb, nw);
}

/* The walk over a scope's entries for a provision to a third party with its corporate number. */
struct provided {
	struct cid_txn *txn;
	json_t *versions; /* cid_provision_recipient's cache */
	const char *service;
	bool third_party;
};

/*
 * An index key of the scope: a release.permit decided under a policy version
 * (as archived, what provision.c makes the record from) that names a third
 * party with its corporate number ends the walk.
 */
static enum cid_err provided_cb(struct cid_str key, struct cid_str val, void *arg)
{
	struct provided *pv = arg;
	enum cid_err rc = CID_OK;
	json_t *e = NULL;
	json_t *to = NULL;
	uint64_t seq;

	(void)val;
	CID_ENSURE(index_seq(key, &seq), CID_ERR_STORE);
	CID_TRY(cid_audit_get(pv->txn, seq, &e));
	if (!audit_same_str(cid_json_str(e, "type"), "release.permit"))
		goto out;
	CID_TRY(cid_provision_recipient(pv->txn, pv->versions, pv->service,
					cid_json_str(e, "policy_version"), &to));
	if (to != NULL && cid_json_str(to, "corporate_number") != NULL &&
	    audit_same_str(cid_json_str(to, "relationship"),
			   cid_relationship_name(CID_RELATIONSHIP_THIRD_PARTY))) {
		pv->third_party = true;
		rc = AUDIT_STOP;
	}
out:
	json_decref(e);
	return rc;
}

enum cid_err cid_retention_purge_allowed(struct cid_txn *txn, json_t *versions,
					 const struct cid_retention_scope *sc, int64_t now,
					 bool *allowed, const char **why)
{
	enum cid_err rc = CID_OK;
	struct provided pv = {.txn = txn, .versions = versions, .service = sc->service};
	char keep_until[11];

	*allowed = true;
	/* a business controller's provision to a third party (the policy version
	 * a release was decided under names the recipient's corporate number,
	 * which only such a policy must): the record of it, made from these
	 * entries, is kept 3 years from the last provision (APPI Art. 30); ended
	 * is never before the last release. Today's policy does not decide: a
	 * recipient since made entrusted still had these provisions. */
	if (cid_provision_purge_allowed(sc->ended, now, CID_PROVISION_RECORD_STANDARD, keep_until))
		goto out;
	CID_TRY(scope_walk(txn, sc->pseudonym, provided_cb, &pv));
	if (pv.third_party) {
		*allowed = false;
		*why = "APPI Art. 30: the third-party provision record is kept 3 years";
	}
out:
	return rc;
}

/* The longest retention of any purpose of the policies ps, days. */
static uint32_t longest_retention(const struct cid_policyset *ps)
{
	uint32_t days = 0;

	for (size_t i = 0; i < cid_policyset_count(ps); i++) {
		const struct cid_policy *pol = cid_policyset_find(ps, cid_policyset_service(ps, i));

		for (size_t j = 0; j < cid_policy_purpose_count(pol); j++) {
			struct cid_purpose_info info;

			cid_policy_purpose(pol, j, &info);
			if (info.retention_days > days)
				days = info.retention_days;
		}
	}
	return days;
}

/*
 * Whether sc, a scope of no purpose (the citizen's own entries, or a
 * service's without a purpose), is due at now (retention.h): the account is
 * deleted, no scope of a purpose is left, the policies name a retention,
 * and the longest of them has elapsed since the scope's newest entry. Sets
 * sc's retention_days and ended when the first three hold.
 */
static enum cid_err no_purpose_due(struct cid_txn *txn, const struct cid_policyset *ps,
				   struct cid_retention_scope *sc, int64_t now, bool *due)
{
	enum cid_err rc = CID_OK;
	struct newest nw = {.txn = txn, .any = true};
	bool exists;
	bool purposed;

	CID_TRY(cid_account_exists_txn(txn, sc->citizen, &exists));
	if (exists)
		goto out; /* a citizen's own entries stay theirs while they have an account */
	sc->retention_days = longest_retention(ps);
	if (sc->retention_days == 0)
		goto out; /* no policy says how long: unknown, as for a purpose none has */
	CID_TRY(cid_pseudonym_purposed(txn, sc->citizen, &purposed));
	if (purposed)
		goto out;
	CID_TRY(newest_of(txn, sc->pseudonym, &nw));
	sc->ended = nw.t;
	*due = nw.t > 0 && now >= nw.t + (int64_t)sc->retention_days * DAY_SECONDS;
out:
	return rc;
}

/*
 * Whether scope sc (pseudonym, citizen, service and purpose set) is due at
 * now: sets sc's retention_days and ended, *due, and *version (borrowed
 * from ps) the policy's version. keys (may be NULL) gets the scope's
 * consent record keys.
 */
static enum cid_err scope_due(struct cid_txn *txn, const struct cid_policyset *ps,
			      struct cid_retention_scope *sc, int64_t now, json_t *keys, bool *due,
			      const char **version)
{
	enum cid_err rc = CID_OK;
	struct records r = {.now = now, .keys = keys};
	struct newest nw = {.txn = txn};
	struct cid_purpose_info info;
	const struct cid_policy *pol;
	char prefix[4 + 3 * CID_AUDIT_MAX_NAME + 1];
	int n;

	*due = false;
	if (sc->purpose[0] == '\0')
		return no_purpose_due(txn, ps, sc, now, due);
	pol = cid_policyset_find(ps, sc->service);
	if (!cid_policy_purpose_find(pol, sc->purpose, &info))
		goto out; /* a purpose no policy has: retention unknown */
	*version = cid_policy_version(pol);
	sc->retention_days = info.retention_days;
	n = snprintf(prefix, sizeof(prefix), "%s\n%s\n%s\n", sc->citizen, sc->service, sc->purpose);
	CID_ENSURE(n > 0 && (size_t)n < sizeof(prefix), CID_ERR_STORE);
	CID_TRY(cid_txn_foreach(txn, CID_DB_CONSENTS, (struct cid_str){prefix, (size_t)n},
				record_cb, &r));
	attr_done(&r);
	if (r.in_force)
		goto out;
	CID_TRY(newest_of(txn, sc->pseudonym, &nw));
	if (nw.t > r.ended)
		r.ended = nw.t;
	sc->ended = r.ended;
	*due = r.ended > 0 && now >= r.ended + (int64_t)sc->retention_days * DAY_SECONDS;
out:
	return rc;
}

/* Fills sc from a mapping's "p\n" record (borrowed strings). */
static bool scope_of(const json_t *rec, const char *pseudonym, struct cid_retention_scope *sc)
{
	*sc = (struct cid_retention_scope){
	    .pseudonym = pseudonym,
	    .citizen = cid_json_str(rec, "citizen"),
	    .service = cid_json_str(rec, "service"),
	    .purpose = cid_json_str(rec, "purpose"),
	};
	return sc->citizen != NULL && sc->service != NULL && sc->purpose != NULL;
}

/* The candidates of one run, found on a read transaction. */
struct find {
	struct cid_txn *txn;
	const struct cid_policyset *ps;
	int64_t now;
	size_t max;
	size_t keys;	  /* scopes a step reads at most; 0: a whole pass */
	json_t *due;	  /* pseudonyms */
	json_t *versions; /* cid_retention_purge_allowed's cache */
	size_t left, vetoed, visited;
	bool stopped;			       /* a step stopped before the last scope */
	char after[CID_PSEUDONYM_CHARS + 1];   /* a step's cursor: begins after it ("": first) */
	char through[CID_PSEUDONYM_CHARS + 1]; /* the last scope the step is done with */
};

static enum cid_err find_cb(struct cid_str key, struct cid_str val, void *arg)
{
	struct find *fd = arg;
	enum cid_err rc = CID_OK;
	struct cid_retention_scope sc;
	char p[CID_PSEUDONYM_CHARS + 1];
	const char *version = NULL;
	json_t *rec = NULL;
	const char *why = NULL;
	bool due, allowed;

	CID_ENSURE(key.len == 2 + CID_PSEUDONYM_CHARS, CID_ERR_STORE);
	memcpy(p, key.ptr + 2, CID_PSEUDONYM_CHARS);
	p[CID_PSEUDONYM_CHARS] = '\0';
	if (fd->keys > 0 && strcmp(p, fd->after) == 0)
		return CID_OK; /* the last step's last scope */
	if (fd->keys > 0 && fd->visited == fd->keys) {
		fd->stopped = true;
		return AUDIT_STOP;
	}
	fd->visited++;
	CID_TRY(cid_store_parse_json(val, &rec));
	CID_ENSURE(scope_of(rec, p, &sc), CID_ERR_STORE);
	CID_TRY(scope_due(fd->txn, fd->ps, &sc, fd->now, NULL, &due, &version));
	if (!due)
		goto out;
	/* a vetoed scope takes no place of the run: else enough of them, first in
	 * key order, would hold every other due scope back for 3 years */
	CID_TRY(cid_retention_purge_allowed(fd->txn, fd->versions, &sc, fd->now, &allowed, &why));
	if (!allowed) {
		fd->vetoed++;
		goto out;
	}
	if (json_array_size(fd->due) == fd->max) {
		fd->left++;
		if (fd->keys > 0) {
			fd->stopped = true; /* the next step begins at this scope */
			rc = AUDIT_STOP;
		}
		goto out;
	}
	CID_ENSURE(json_array_append_new(fd->due, json_string(p)) == 0, CID_ERR_NOMEM);
out:
	if (rc == CID_OK)
		memcpy(fd->through, p, sizeof(fd->through));
	json_decref(rec);
	return rc;
}

/* The retention.purged entry of sc; version NULL for a scope of no purpose. */
static enum cid_err purged_entry(const struct cid_retention_scope *sc, const char *version,
				 size_t records, int64_t now, json_t **out)
{
	enum cid_err rc = CID_OK;
	bool own = sc->purpose[0] == '\0';
	char when[AUDIT_TIME_CHARS + 1];
	char ended[AUDIT_TIME_CHARS + 1];
	char n[24], days[16], rule[64];
	json_t *e = NULL;

	CID_TRY(cid_audit_time(now, when));
	CID_TRY(cid_audit_time(sc->ended, ended));
	snprintf(n, sizeof(n), "%zu", records);
	snprintf(days, sizeof(days), "%u", (unsigned)sc->retention_days);
	snprintf(rule, sizeof(rule), "retention %ud after %s", (unsigned)sc->retention_days,
		 own ? "the account was deleted" : "the purpose ended");
	e = json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s}}", "type",
		      "retention.purged", "time", when, "actor", "system", "citizen", sc->pseudonym,
		      "ext", "purged", own ? "pseudonym" : "pseudonym,consent_records",
		      "consent_records", n, "retention_days", days, "ended", ended, "rule", rule);
	CID_ENSURE(e != NULL, CID_ERR_NOMEM);
	/* a scope of no purpose has no purpose or policy to name, and its own none */
	if (sc->service[0] != '\0')
		CID_ENSURE(json_object_set_new(e, "service", json_string(sc->service)) == 0,
			   CID_ERR_NOMEM);
	if (!own)
		CID_ENSURE(json_object_set_new(e, "purpose", json_string(sc->purpose)) == 0 &&
			       json_object_set_new(e, "policy_version", json_string(version)) == 0,
			   CID_ERR_NOMEM);
	*out = e;
	e = NULL;
out:
	json_decref(e);
	return rc;
}

/* The purge of the candidates, inside one write transaction (may run twice). */
struct purge {
	const struct cid_policyset *ps;
	int64_t now;
	const json_t *due;
	json_t *versions;   /* cid_retention_purge_allowed's cache */
	const char *cursor; /* a step's cursor to save; NULL: a whole pass saves none */
	size_t purged, vetoed;
	uint64_t first;
};

static enum cid_err purge_one(struct cid_txn *txn, struct purge *pg, const char *p)
{
	enum cid_err rc = CID_OK;
	struct cid_retention_scope sc;
	const char *version = NULL;
	const char *why = NULL;
	json_t *rec = NULL;
	json_t *keys = json_array();
	json_t *e = NULL;
	json_t *k;
	uint64_t seq;
	size_t i;
	bool due, gone, allowed;

	CID_ENSURE(keys != NULL, CID_ERR_NOMEM);
	rc = cid_pseudonym_resolve(txn, p, &rec);
	if (rc == CID_ERR_NOTFOUND) {
		rc = CID_OK; /* purged meanwhile */
		goto out;
	}
	CID_TRY(rc);
	CID_ENSURE(scope_of(rec, p, &sc), CID_ERR_STORE);
	CID_TRY(scope_due(txn, pg->ps, &sc, pg->now, keys, &due, &version));
	if (!due)
		goto out;
	CID_TRY(cid_retention_purge_allowed(txn, pg->versions, &sc, pg->now, &allowed, &why));
	if (!allowed) {
		pg->vetoed++;
		goto out;
	}
	CID_TRY(purged_entry(&sc, version, json_array_size(keys), pg->now, &e));
	json_array_foreach(keys, i, k) CID_TRY(
	    cid_consent_del(txn, (struct cid_str){json_string_value(k), json_string_length(k)}));
	/* sc borrows rec: the entry is made before the mapping goes */
	CID_TRY(cid_pseudonym_purge(txn, p, &gone));
	CID_TRY(cid_audit_append_txn(txn, e, &seq));
	if (pg->purged++ == 0)
		pg->first = seq;
out:
	json_decref(e);
	json_decref(keys);
	json_decref(rec);
	return rc;
}

static enum cid_err purge_cb(struct cid_txn *txn, void *arg)
{
	enum cid_err rc = CID_OK;
	struct purge *pg = arg;
	size_t i;
	json_t *p;

	pg->purged = pg->vetoed = 0;
	pg->first = 0;
	json_array_foreach(pg->due, i, p) CID_TRY(purge_one(txn, pg, json_string_value(p)));
	if (pg->cursor != NULL) {
		json_t *c = json_pack("{s:s}", "after", pg->cursor);

		CID_ENSURE(c != NULL, CID_ERR_NOMEM);
		rc = cid_txn_put_json(txn, CID_DB_META, cid_str_of(CURSOR_KEY), c, 0);
		json_decref(c);
	}
out:
	return rc;
}

/* Into after: where the last step stopped ("": none yet, or a cursor not a pseudonym). */
static enum cid_err cursor_get(struct cid_txn *txn, char after[CID_PSEUDONYM_CHARS + 1])
{
	enum cid_err rc;
	json_t *c = NULL;
	const char *p;

	after[0] = '\0';
	rc = cid_txn_get_json(txn, CID_DB_META, cid_str_of(CURSOR_KEY), &c);
	if (rc == CID_ERR_NOTFOUND)
		return CID_OK;
	if (rc != CID_OK)
		return rc;
	p = cid_json_str(c, "after");
	/* a damaged cursor costs a pass begun again, not a sweep stuck for good */
	if (p != NULL && cid_pseudonym_syntax_ok(p) && strlen(p) == CID_PSEUDONYM_CHARS)
		memcpy(after, p, CID_PSEUDONYM_CHARS + 1);
	json_decref(c);
	return CID_OK;
}

/* A whole pass (keys 0) or one step of at most keys scopes (retention.h). */
static enum cid_err sweep(struct cid_store *s, const struct cid_policyset *ps, int64_t now,
			  size_t max, size_t keys, struct cid_retention_sweep *out)
{
	enum cid_err rc = CID_OK;
	struct find fd = {.ps = ps, .now = now, .max = max, .keys = keys, .due = json_array()};
	struct purge pg = {.ps = ps, .now = now, .versions = json_object()};
	char start[2 + CID_PSEUDONYM_CHARS + 1] = "p\n";

	CID_ENSURE(s != NULL && ps != NULL && out != NULL && max > 0, CID_ERR_INVALID);
	CID_ENSURE(fd.due != NULL && pg.versions != NULL, CID_ERR_NOMEM);
	fd.versions = pg.versions; /* the archive's versions never change */
	CID_TRY(cid_store_read_begin(s, &fd.txn));
	if (keys > 0) {
		CID_TRY(cursor_get(fd.txn, fd.after));
		memcpy(start + 2, fd.after, sizeof(fd.after));
	}
	rc = cid_txn_foreach_range(fd.txn, CID_DB_PSEUDONYMS, cid_str_of("p\n"),
				   (struct cid_str){start, fd.after[0] != '\0' ? strlen(start) : 0},
				   false, find_cb, &fd);
	if (rc == AUDIT_STOP)
		rc = CID_OK;
	CID_TRY(rc);
	cid_store_read_end(fd.txn);
	fd.txn = NULL;
	/* the end: the next pass begins; a cursor that stays is not written again */
	if (keys > 0 && strcmp(fd.stopped ? fd.through : "", fd.after) != 0)
		pg.cursor = fd.stopped ? fd.through : "";
	if (json_array_size(fd.due) > 0 || pg.cursor != NULL) {
		pg.due = fd.due;
		CID_TRY(cid_store_update(s, purge_cb, &pg));
	}
	*out = (struct cid_retention_sweep){.purged = pg.purged,
					    .vetoed = fd.vetoed + pg.vetoed,
					    .left = fd.left,
					    .visited = fd.visited,
					    .first = pg.first};
out:
	cid_store_read_end(fd.txn);
	json_decref(fd.due);
	json_decref(pg.versions);
	return rc;
}

enum cid_err cid_retention_sweep(struct cid_store *s, const struct cid_policyset *ps, int64_t now,
				 size_t max, struct cid_retention_sweep *out)
{
	return sweep(s, ps, now, max, 0, out);
}

enum cid_err cid_retention_sweep_step(struct cid_store *s, const struct cid_policyset *ps,
				      int64_t now, size_t max, size_t keys,
				      struct cid_retention_sweep *out)
{
	if (keys == 0)
		return CID_ERR_INVALID;
	return sweep(s, ps, now, max, keys, out);
}
