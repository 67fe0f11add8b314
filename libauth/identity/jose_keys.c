/*
 * jose_keys: signing keys in the store and their states (the keyset loaded from them:
 * jose_keyset.c).
 *
 * A key is next (published, not yet signing), active (signing: at most one
 * per algorithm) or retired (published for verification until drop_after);
 * jose.h tells the life. A key is generated, its PEM and thumbprint computed,
 * before the write transaction that stores it, so the cid_store_update
 * callbacks only read and write records and may safely run twice. Every
 * change bumps META "keys_version" in the same transaction, which is how a
 * running server notices a rotation made by the CLI. A record read back is
 * checked for its shape and its kid against its key: a bad one is a damaged
 * store, never a key. Private PEMs are wiped before their memory is freed.
 * Each change is told to the caller's hook (cid_keys_change, jose.h) inside
 * the same transaction, where it is made: newkey_put tells a published key,
 * add_cb and activate_in (tell_activated) a key that starts signing, retire
 * and drop_cb a key withdrawn. The functions without a hook pass NULL.
 */
#include "jose_int.h"

#include "bounds.h"
#include "crypto.h"
#include "str.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ENSURE_TRIES 3

/* A key generated outside the write transaction, ready to be stored. */
struct newkey {
	enum alg alg;
	char kid[KID_CHARS + 1];
	char *pem; /* PKCS#8 PEM, wiped and freed by newkey_clear */
	size_t pem_len;
};

/*
 * Wipes the private PEM held in a parsed record before it is freed. jansson
 * owns the string's (writable) heap memory; only its accessor is const.
 */
static void wipe_pem(json_t *rec)
{
	json_t *v = json_object_get(rec, "private_pem");

	if (json_is_string(v))
		cid_wipe((void *)(uintptr_t)json_string_value(v), json_string_length(v));
}

void jose_records_free(json_t *recs)
{
	size_t i;
	json_t *rec;

	json_array_foreach(recs, i, rec) wipe_pem(rec);
	json_decref(recs);
}

static void newkey_clear(struct newkey *nk)
{
	if (nk->pem != NULL) {
		cid_wipe(nk->pem, nk->pem_len);
		free(nk->pem);
	}
	/* member by member, not memset(nk, ...): memset of one element of an
	 * array of newkey makes clang's analyzer forget what the other elements
	 * hold, and it then reports their PEMs as leaked */
	nk->alg = ALG_ES256;
	memset(nk->kid, 0, sizeof(nk->kid));
	nk->pem = NULL;
	nk->pem_len = 0;
}

/* Generates a key for alg with its kid and PKCS#8 PEM. Touches nothing shared. */
static enum cid_err newkey_make(enum alg alg, struct newkey *nk)
{
	enum cid_err rc = CID_OK;
	EVP_PKEY *pkey = NULL;
	BIO *bio = NULL;
	json_t *jwk = NULL;
	char *data;
	long len;

	*nk = (struct newkey){.alg = alg};
	if (alg == ALG_ES256)
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	else
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)CID_RSA_MIN_BITS);
	CID_ENSURE(pkey != NULL, CID_ERR_CRYPTO);
	CID_TRY(jose_jwk_public(pkey, alg, &jwk));
	CID_TRY(jose_thumbprint(jwk, nk->kid));
	bio = BIO_new(BIO_s_mem());
	CID_ENSURE(bio != NULL, CID_ERR_NOMEM);
	CID_ENSURE(PEM_write_bio_PKCS8PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) == 1,
		   CID_ERR_CRYPTO);
	len = BIO_get_mem_data(bio, &data);
	CID_ENSURE(len > 0, CID_ERR_CRYPTO);
	nk->pem = malloc((size_t)len + 1);
	CID_ENSURE(nk->pem != NULL, CID_ERR_NOMEM);
	memcpy(nk->pem, data, (size_t)len);
	nk->pem[len] = '\0';
	nk->pem_len = (size_t)len;
out:
	if (rc != CID_OK) {
		newkey_clear(nk);
		ERR_clear_error();
	}
	json_decref(jwk);
	BIO_free(bio); /* a memory BIO's buffer is cleansed when freed */
	EVP_PKEY_free(pkey);
	return rc;
}

bool cid_kid_syntax_ok(const char *s)
{
	size_t n = s == NULL ? 0 : strnlen(s, KID_CHARS + 1);

	return n == KID_CHARS && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					   "0123456789-_") == n;
}

/* ---- key records in the store ---- */

/* Whom cid_keys_change tells its changes (fn NULL: nobody). */
struct keys_hook {
	cid_keys_hook fn;
	void *arg;
};

static enum cid_err tell(struct cid_txn *txn, const struct keys_hook *h,
			 const struct cid_key_change *c)
{
	return h == NULL || h->fn == NULL ? CID_OK : h->fn(txn, c, h->arg);
}

/* Tells h that rec's key is withdrawn at now. */
static enum cid_err tell_withdrawn(struct cid_txn *txn, const struct keys_hook *h,
				   const json_t *rec, int64_t now)
{
	const struct cid_key_change c = {.event = CID_KEY_WITHDRAWN,
					 .kid = cid_json_str(rec, "kid"),
					 .alg = cid_json_str(rec, "alg"),
					 .now = now};

	return tell(txn, h, &c);
}

/* Checks the shape of a stored key record; a bad one means a damaged store. */
static bool record_valid(const json_t *rec, struct cid_str key)
{
	const char *kid = cid_json_str(rec, "kid");
	const char *state = cid_json_str(rec, "state");

	if (!json_is_object(rec) || kid == NULL || !cid_str_eq(key, kid) ||
	    jose_alg_parse(cid_json_str(rec, "alg")) < 0 ||
	    cid_json_str(rec, "private_pem") == NULL ||
	    !json_is_integer(json_object_get(rec, "created_at")) || state == NULL)
		return false;
	if (strcmp(state, "active") == 0)
		return true;
	if (strcmp(state, "next") == 0)
		return json_is_integer(json_object_get(rec, "activate_at"));
	return strcmp(state, "retired") == 0 && json_is_integer(json_object_get(rec, "drop_after"));
}

static enum cid_err collect_cb(struct cid_str key, struct cid_str val, void *arg)
{
	json_t *rec = json_loadb(val.ptr, val.len, JSON_REJECT_DUPLICATES, NULL);

	if (rec == NULL || !record_valid(rec, key)) {
		wipe_pem(rec);
		json_decref(rec);
		return CID_ERR_STORE;
	}
	if (json_array_append_new(arg, rec) != 0)
		return CID_ERR_NOMEM;
	return CID_OK;
}

/* Every key record, in kid order. *out: new array; release with jose_records_free. */
enum cid_err jose_records_load(struct cid_txn *txn, json_t **out)
{
	enum cid_err rc = CID_OK;
	json_t *recs = json_array();

	CID_ENSURE(recs != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_txn_foreach(txn, CID_DB_KEYS, (struct cid_str){NULL, 0}, collect_cb, recs));
	*out = recs;
	recs = NULL;
out:
	jose_records_free(recs);
	return rc;
}

/* Whether rec is a key of alg in state ("next", "active" or "retired"). */
static bool record_is(const json_t *rec, enum alg alg, const char *state)
{
	return jose_alg_parse(cid_json_str(rec, "alg")) == (int)alg &&
	       strcmp(cid_json_str(rec, "state"), state) == 0;
}

static bool record_active(const json_t *rec, enum alg alg)
{
	return record_is(rec, alg, "active");
}

/* Whether rec is loaded at now: retired keys go once drop_after has passed. */
bool jose_record_live(const json_t *rec, int64_t now)
{
	const json_t *drop = json_object_get(rec, "drop_after");

	return drop == NULL || (int64_t)json_integer_value(drop) > now;
}

/*
 * The rule of a staged rotation: a next key may sign from its activate_at on.
 * Relying parties had from its publication until then to see it in the JWKS.
 */
static bool activation_due(const json_t *rec, int64_t now)
{
	return now >= (int64_t)json_integer_value(json_object_get(rec, "activate_at"));
}

/* have[alg] = whether an active key of alg is stored. */
static enum cid_err active_algs(struct cid_txn *txn, bool have[ALG_COUNT])
{
	enum cid_err rc = CID_OK;
	json_t *recs = NULL;
	json_t *rec;
	size_t i;

	CID_TRY(jose_records_load(txn, &recs));
	for (int a = 0; a < ALG_COUNT; a++) {
		have[a] = false;
		json_array_foreach(recs, i, rec) have[a] =
		    have[a] || record_active(rec, (enum alg)a);
	}
out:
	jose_records_free(recs);
	return rc;
}

/* Stores nk as the active key, or as a next key when next (signing from activate_at). */
static enum cid_err newkey_put(struct cid_txn *txn, const struct newkey *nk, int64_t now, bool next,
			       int64_t activate_at, const struct keys_hook *h)
{
	enum cid_err rc = CID_OK;
	json_t *rec = NULL;

	CID_ENSURE((unsigned)nk->alg < ALG_COUNT, CID_ERR_INVALID); /* indexes jose_alg_names */
	rec = json_pack("{s:s, s:s, s:s%, s:s, s:I}", "kid", nk->kid, "alg",
			jose_alg_names[nk->alg], "private_pem", nk->pem, nk->pem_len, "state",
			next ? "next" : "active", "created_at", (json_int_t)now);
	CID_ENSURE(rec != NULL, CID_ERR_NOMEM);
	if (next)
		CID_ENSURE(json_object_set_new(rec, "activate_at", json_integer(activate_at)) == 0,
			   CID_ERR_NOMEM);
	CID_TRY(cid_txn_put_json(txn, CID_DB_KEYS, cid_str_of(nk->kid), rec, CID_PUT_NOOVERWRITE));
	if (next) {
		const struct cid_key_change c = {.event = CID_KEY_PUBLISHED,
						 .kid = nk->kid,
						 .alg = jose_alg_names[nk->alg],
						 .now = now,
						 .at = activate_at};

		CID_TRY(tell(txn, h, &c));
	}
out:
	wipe_pem(rec);
	json_decref(rec);
	return rc;
}

struct ensure {
	int64_t now;
	struct newkey fresh[ALG_COUNT]; /* pem NULL: none generated for that alg */
	bool again;			/* an alg lacked a key and none was generated */
};

static enum cid_err ensure_cb(struct cid_txn *txn, void *arg)
{
	struct ensure *e = arg;
	enum cid_err rc = CID_OK;
	bool have[ALG_COUNT];
	bool wrote = false;

	e->again = false;
	CID_TRY(active_algs(txn, have));
	for (int a = 0; a < ALG_COUNT; a++) {
		if (have[a])
			continue;
		if (e->fresh[a].pem == NULL) {
			e->again = true;
			continue;
		}
		CID_TRY(newkey_put(txn, &e->fresh[a], e->now, false, 0, NULL));
		wrote = true;
	}
	if (wrote)
		CID_TRY(cid_txn_counter_add(txn, JOSE_KEYS_VERSION, "version", 1, NULL));
out:
	return rc;
}

static enum cid_err read_active(struct cid_store *s, bool have[ALG_COUNT])
{
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;

	CID_TRY(cid_store_read_begin(s, &txn));
	CID_TRY(active_algs(txn, have));
out:
	cid_store_read_end(txn);
	return rc;
}

enum cid_err cid_keys_ensure(struct cid_store *s, int64_t now)
{
	enum cid_err rc = CID_OK;
	struct ensure e = {.now = now};
	bool have[ALG_COUNT];
	bool missing;

	/* Another process may make keys between our read and our write: the
	 * callback writes only what is still missing and asks for another round
	 * if something went missing that we did not generate. */
	for (int round = 0; round < ENSURE_TRIES; round++) {
		CID_TRY(read_active(s, have));
		missing = false;
		for (int a = 0; a < ALG_COUNT; a++) {
			newkey_clear(&e.fresh[a]);
			if (have[a])
				continue;
			CID_TRY(newkey_make((enum alg)a, &e.fresh[a]));
			missing = true;
		}
		if (!missing)
			goto out;
		CID_TRY(cid_store_update(s, ensure_cb, &e));
		if (!e.again)
			goto out;
	}
	rc = CID_ERR_STORE;
out:
	for (int a = 0; a < ALG_COUNT; a++)
		newkey_clear(&e.fresh[a]);
	return rc;
}

/*
 * Rewrites rec (a record of jose_records_load) as retired at now, dropped from
 * drop_after; withdrawn at once (told to h) when drop_after is not after now.
 */
static enum cid_err retire(struct cid_txn *txn, json_t *rec, int64_t now, int64_t drop_after,
			   const struct keys_hook *h)
{
	enum cid_err rc;

	if (json_object_set_new(rec, "state", json_string("retired")) != 0 ||
	    json_object_set_new(rec, "retired_at", json_integer(now)) != 0 ||
	    json_object_set_new(rec, "drop_after", json_integer(drop_after)) != 0)
		return CID_ERR_NOMEM;
	json_object_del(rec, "activate_at");
	rc = cid_txn_put_json(txn, CID_DB_KEYS, cid_str_of(cid_json_str(rec, "kid")), rec, 0);
	if (rc == CID_OK && !jose_record_live(rec, now))
		rc = tell_withdrawn(txn, h, rec, now);
	return rc;
}

/*
 * Tells h that kid signs from now, replacing previous (a record just retired,
 * or NULL). Told after the retirements: in the log, a rotation's withdrawals
 * come just before its activation.
 */
static enum cid_err tell_activated(struct cid_txn *txn, const struct keys_hook *h, const char *kid,
				   const char *alg, const json_t *previous, int64_t now)
{
	const struct cid_key_change c = {
	    .event = CID_KEY_ACTIVATED,
	    .kid = kid,
	    .alg = alg,
	    .now = now,
	    .previous = previous != NULL ? cid_json_str(previous, "kid") : NULL,
	    .previous_until = previous != NULL ? (int64_t)json_integer_value(
						     json_object_get(previous, "drop_after"))
					       : 0};

	return tell(txn, h, &c);
}

/*
 * A fresh key joining the keyset: as the active key (rotate: the active and
 * any next key of its alg retired, dropped from at) or as the next key
 * (publish: signing from at, refused while another next key of its alg waits).
 */
struct add {
	const struct newkey *fresh;
	int64_t now;
	bool next;
	int64_t at; /* next: its activate_at; else the drop_after of the keys it retires */
	const struct keys_hook *hook;
};

static enum cid_err add_cb(struct cid_txn *txn, void *arg)
{
	const struct add *a = arg;
	enum cid_err rc = CID_OK;
	json_t *recs = NULL;
	json_t *rec;
	const json_t *previous = NULL;
	size_t i;

	CID_TRY(jose_records_load(txn, &recs));
	json_array_foreach(recs, i, rec)
	{
		/* one next key per algorithm: which one signs next is never a guess */
		if (a->next) {
			CID_ENSURE(!record_is(rec, a->fresh->alg, "next"), CID_ERR_EXISTS);
			continue;
		}
		if (record_active(rec, a->fresh->alg)) {
			previous = rec;
			CID_TRY(retire(txn, rec, a->now, a->at, a->hook));
		}
		/* a pending next key goes too, at once: it would otherwise replace the new
		 * key later, and it never signed anything to verify */
		if (record_is(rec, a->fresh->alg, "next"))
			CID_TRY(retire(txn, rec, a->now, a->now, a->hook));
	}
	CID_TRY(newkey_put(txn, a->fresh, a->now, a->next, a->next ? a->at : 0, a->hook));
	if (!a->next)
		CID_TRY(tell_activated(txn, a->hook, a->fresh->kid, jose_alg_names[a->fresh->alg],
				       previous, a->now));
	CID_TRY(cid_txn_counter_add(txn, JOSE_KEYS_VERSION, "version", 1, NULL));
out:
	jose_records_free(recs);
	return rc;
}

/* Takes kid out of the keyset at now: a next key is retired, a retired one dropped. */
struct drop {
	const char *kid;
	int64_t now;
	const struct keys_hook *hook;
	bool dropped; /* it was still live: the keyset changed */
};

static enum cid_err drop_cb(struct cid_txn *txn, void *arg)
{
	struct drop *d = arg;
	enum cid_err rc = CID_OK;
	json_t *recs = NULL;
	json_t *rec;
	json_t *found = NULL;
	size_t i;

	d->dropped = false;
	CID_TRY(jose_records_load(txn, &recs));
	json_array_foreach(recs, i, rec)
	{
		if (strcmp(cid_json_str(rec, "kid"), d->kid) == 0)
			found = rec;
	}
	CID_ENSURE(found != NULL, CID_ERR_NOTFOUND);
	/* the active key signs: only a rotation replaces it */
	CID_ENSURE(strcmp(cid_json_str(found, "state"), "active") != 0, CID_ERR_REFUSED);
	if (!jose_record_live(found, d->now))
		goto out; /* already gone */
	if (strcmp(cid_json_str(found, "state"), "next") == 0) {
		CID_TRY(retire(txn, found, d->now, d->now, d->hook));
	} else {
		CID_ENSURE(json_object_set_new(found, "drop_after", json_integer(d->now)) == 0,
			   CID_ERR_NOMEM);
		CID_TRY(cid_txn_put_json(txn, CID_DB_KEYS, cid_str_of(d->kid), found, 0));
		CID_TRY(tell_withdrawn(txn, d->hook, found, d->now));
	}
	CID_TRY(cid_txn_counter_add(txn, JOSE_KEYS_VERSION, "version", 1, NULL));
	d->dropped = true;
out:
	jose_records_free(recs);
	return rc;
}

static enum cid_err keys_drop(struct cid_store *s, const char *kid, int64_t now,
			      const struct keys_hook *h, bool *dropped)
{
	enum cid_err rc = CID_OK;
	struct drop d = {.kid = kid, .now = now, .hook = h};

	CID_ENSURE(kid != NULL, CID_ERR_INVALID);
	/* a kid is a thumbprint of KID_CHARS: anything longer names no key */
	CID_ENSURE(strnlen(kid, KID_CHARS + 1) <= KID_CHARS, CID_ERR_NOTFOUND);
	CID_TRY(cid_store_update(s, drop_cb, &d));
	if (dropped != NULL)
		*dropped = d.dropped;
out:
	return rc;
}

enum cid_err cid_keys_drop(struct cid_store *s, const char *kid, int64_t now, bool *dropped)
{
	return keys_drop(s, kid, now, NULL, dropped);
}

/* What cid_keys_rotate (next false) and cid_keys_publish (next true) share; span: keep or delay. */
static enum cid_err keys_add(struct cid_store *s, const char *alg, int64_t now, int64_t span,
			     bool next, const struct keys_hook *h, char **kid_out)
{
	enum cid_err rc = CID_OK;
	struct newkey nk = {0};
	struct add add = {.fresh = &nk, .now = now, .next = next, .hook = h};
	int a = jose_alg_parse(alg);
	char *kid = NULL;

	CID_ENSURE(a >= 0, CID_ERR_INVALID);
	CID_ENSURE(span >= 0 && now <= INT64_MAX - span, CID_ERR_INVALID);
	add.at = now + span;
	CID_TRY(newkey_make((enum alg)a, &nk));
	if (kid_out != NULL) {
		kid = strdup(nk.kid);
		CID_ENSURE(kid != NULL, CID_ERR_NOMEM);
	}
	CID_TRY(cid_store_update(s, add_cb, &add));
	if (kid_out != NULL) {
		*kid_out = kid;
		kid = NULL;
	}
out:
	free(kid);
	newkey_clear(&nk);
	return rc;
}

enum cid_err cid_keys_rotate(struct cid_store *s, const char *alg, int64_t now, int64_t keep,
			     char **kid_out)
{
	return keys_add(s, alg, now, keep, false, NULL, kid_out);
}

enum cid_err cid_keys_publish(struct cid_store *s, const char *alg, int64_t now, int64_t delay,
			      char **kid_out)
{
	return keys_add(s, alg, now, delay, true, NULL, kid_out);
}

/* The next key of alg among recs, or NULL. */
static json_t *next_of(json_t *recs, enum alg alg)
{
	json_t *next = NULL;
	json_t *rec;
	size_t i;

	json_array_foreach(recs, i, rec)
	{
		if (record_is(rec, alg, "next"))
			next = rec;
	}
	return next;
}

/*
 * In a write transaction: makes the next key of alg (among recs) active and
 * retires the active one, telling h. Without force only when activation_due.
 * kid (may be NULL) receives the activated kid.
 */
static enum cid_err activate_in(struct cid_txn *txn, json_t *recs, enum alg alg, int64_t now,
				int64_t drop_after, bool force, const struct keys_hook *h,
				char kid[CID_JWKS_MAX_KID + 1])
{
	enum cid_err rc = CID_OK;
	json_t *next = next_of(recs, alg);
	const json_t *previous = NULL;
	json_t *rec;
	size_t i;

	CID_ENSURE(next != NULL, CID_ERR_NOTFOUND);
	CID_ENSURE(force || activation_due(next, now), CID_ERR_TOOEARLY);
	json_array_foreach(recs, i, rec)
	{
		if (record_active(rec, alg)) {
			CID_TRY(retire(txn, rec, now, drop_after, h));
			previous = rec;
		}
	}
	json_object_del(next, "activate_at");
	CID_ENSURE(json_object_set_new(next, "state", json_string("active")) == 0 &&
		       json_object_set_new(next, "activated_at", json_integer(now)) == 0,
		   CID_ERR_NOMEM);
	CID_TRY(cid_txn_put_json(txn, CID_DB_KEYS, cid_str_of(cid_json_str(next, "kid")), next, 0));
	CID_TRY(
	    tell_activated(txn, h, cid_json_str(next, "kid"), jose_alg_names[alg], previous, now));
	if (kid != NULL)
		snprintf(kid, CID_JWKS_MAX_KID + 1, "%s", cid_json_str(next, "kid"));
out:
	return rc;
}

struct activate {
	int alg; /* -1: every alg whose next key is due */
	int64_t now;
	int64_t drop_after;
	bool force;
	const struct keys_hook *hook;
	char kid[CID_JWKS_MAX_KID + 1];
	size_t activated;
};

static enum cid_err activate_cb(struct cid_txn *txn, void *arg)
{
	struct activate *act = arg;
	enum cid_err rc = CID_OK;
	json_t *recs = NULL;

	act->activated = 0;
	CID_TRY(jose_records_load(txn, &recs));
	for (int a = 0; a < ALG_COUNT; a++) {
		const json_t *next = next_of(recs, (enum alg)a);

		if (act->alg >= 0 && a != act->alg)
			continue;
		/* every alg: only those with a next key due (checked before any write, so
		 * an error after one, a hook's too, is never taken for "nothing due") */
		if (act->alg < 0 && (next == NULL || !activation_due(next, act->now)))
			continue;
		CID_TRY(activate_in(txn, recs, (enum alg)a, act->now, act->drop_after, act->force,
				    act->hook, act->kid));
		act->activated++;
	}
	if (act->activated > 0)
		CID_TRY(cid_txn_counter_add(txn, JOSE_KEYS_VERSION, "version", 1, NULL));
out:
	jose_records_free(recs);
	return rc;
}

static enum cid_err keys_activate(struct cid_store *s, const char *alg, int64_t now, int64_t keep,
				  bool force, const struct keys_hook *h, char **kid_out)
{
	enum cid_err rc = CID_OK;
	struct activate act = {.alg = jose_alg_parse(alg), .now = now, .force = force, .hook = h};
	char *kid = NULL;

	CID_ENSURE(act.alg >= 0, CID_ERR_INVALID);
	CID_ENSURE(keep >= 0 && now <= INT64_MAX - keep, CID_ERR_INVALID);
	act.drop_after = now + keep;
	CID_TRY(cid_store_update(s, activate_cb, &act));
	if (kid_out != NULL) {
		kid = strdup(act.kid);
		CID_ENSURE(kid != NULL, CID_ERR_NOMEM);
		*kid_out = kid;
	}
out:
	return rc;
}

enum cid_err cid_keys_activate(struct cid_store *s, const char *alg, int64_t now, int64_t keep,
			       bool force, char **kid_out)
{
	return keys_activate(s, alg, now, keep, force, NULL, kid_out);
}

static enum cid_err keys_activate_due(struct cid_store *s, int64_t now, int64_t keep,
				      const struct keys_hook *h, size_t *n_out)
{
	enum cid_err rc = CID_OK;
	struct activate act = {.alg = -1, .now = now, .hook = h};

	CID_ENSURE(keep >= 0 && now <= INT64_MAX - keep, CID_ERR_INVALID);
	act.drop_after = now + keep;
	CID_TRY(cid_store_update(s, activate_cb, &act));
	if (n_out != NULL)
		*n_out = act.activated;
out:
	return rc;
}

enum cid_err cid_keys_activate_due(struct cid_store *s, int64_t now, int64_t keep, size_t *n_out)
{
	return keys_activate_due(s, now, keep, NULL, n_out);
}

enum cid_err cid_keys_change(struct cid_store *s, const struct cid_keys_op *op, cid_keys_hook hook,
			     void *arg, struct cid_keys_result *out)
{
	const struct keys_hook h = {.fn = hook, .arg = arg};
	struct cid_keys_result r = {0};
	enum cid_err rc = CID_ERR_INVALID;

	if (out != NULL)
		*out = r;
	if (op == NULL)
		return CID_ERR_INVALID;
	switch (op->verb) {
	case CID_KEYS_ROTATE:
		rc = keys_add(s, op->alg, op->now, op->span, false, &h, &r.kid);
		break;
	case CID_KEYS_PUBLISH:
		rc = keys_add(s, op->alg, op->now, op->span, true, &h, &r.kid);
		break;
	case CID_KEYS_ACTIVATE:
		rc = keys_activate(s, op->alg, op->now, op->span, op->force, &h, &r.kid);
		break;
	case CID_KEYS_ACTIVATE_DUE:
		rc = keys_activate_due(s, op->now, op->span, &h, &r.activated);
		break;
	case CID_KEYS_DROP: rc = keys_drop(s, op->kid, op->now, &h, &r.dropped); break;
	}
	if (rc == CID_OK && out != NULL)
		*out = r;
	else
		free(r.kid);
	return rc;
}

enum cid_err cid_keys_list(struct cid_store *s, json_t **out)
{
	static const char *const public_members[] = {"kid",	   "alg",	  "state",
						     "created_at", "activate_at", "activated_at",
						     "retired_at", "drop_after"};
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;
	json_t *recs = NULL;
	json_t *list = json_array();
	json_t *rec;
	json_t *pub;
	size_t i;

	CID_ENSURE(list != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_store_read_begin(s, &txn));
	CID_TRY(jose_records_load(txn, &recs));
	/* copy what may be shown rather than delete what may not */
	json_array_foreach(recs, i, rec)
	{
		pub = json_object();
		CID_ENSURE(pub != NULL && json_array_append_new(list, pub) == 0, CID_ERR_NOMEM);
		for (size_t m = 0; m < sizeof(public_members) / sizeof(public_members[0]); m++) {
			json_t *v = json_object_get(rec, public_members[m]);

			if (v != NULL)
				CID_ENSURE(json_object_set(pub, public_members[m], v) == 0,
					   CID_ERR_NOMEM);
		}
	}
	*out = list;
	list = NULL;
out:
	cid_store_read_end(txn);
	jose_records_free(recs);
	json_decref(list);
	return rc;
}

enum cid_err cid_keys_version(struct cid_store *s, uint64_t *out)
{
	enum cid_err rc = CID_OK;
	struct cid_txn *txn = NULL;
	uint64_t v;

	CID_TRY(cid_store_read_begin(s, &txn));
	CID_TRY(cid_txn_counter_get(txn, JOSE_KEYS_VERSION, "version", &v));
	*out = v;
out:
	cid_store_read_end(txn);
	return rc;
}
