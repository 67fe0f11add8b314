/*
 * throttle: the failed-login counters of account.c and officer.c.
 *
 * One place for the rule and the stored format, so that a citizen's wrong
 * password and an officer's slow down the same address by the same amount:
 * which counters an attempt reads, counts and clears is here too
 * (cid_throttle_attempt), not in each login.
 * What each kind of counter does is one row of a table; the wait is computed
 * from the record alone (a pure function), and the store is only read and
 * written through the caller's transaction, except by the sweep.
 */
#include "throttle.h"

#include "bounds.h"
#include "crypto.h"
#include "netaddr.h"
#include "str.h"

#include <stdio.h>
#include <string.h>

static const struct rule {
	const char *prefix;
	int64_t free;	 /* failures before any wait */
	bool windowed;	 /* forgotten CID_THROTTLE_WINDOW s after the first */
	int64_t lock_at; /* n at which the counter refuses everything (0: never) */
} rules[] = {
    [CID_THROTTLE_PAIR] = {"pair:", CID_THROTTLE_FREE, true, 0},
    [CID_THROTTLE_ADDR] = {"addr:", CID_THROTTLE_ADDR_FREE, true, 0},
    [CID_THROTTLE_CODE] = {"code:", CID_THROTTLE_FREE, false, CID_CODE_MAX_FAILURES},
};

/*
 * The text an address is counted under: canonical, an IPv6 address as its
 * /64; text that is no address (only a direct caller can pass one) as given.
 */
static void addr_text(const char *addr, char out[CID_NETADDR_TEXT_MAX + 4])
{
	size_t n = addr == NULL ? 0 : strnlen(addr, CID_MAX_ADDR);
	struct cid_netaddr a;
	struct cid_netaddr net;

	if (cid_netaddr_parse(addr, n, &a) != CID_OK) {
		snprintf(out, CID_NETADDR_TEXT_MAX + 4, "%.*s",
			 (int)(n < CID_NETADDR_TEXT_MAX ? n : CID_NETADDR_TEXT_MAX), n ? addr : "");
		return;
	}
	if (a.family == 4) {
		cid_netaddr_format(&a, out);
		return;
	}
	net = cid_netaddr_mask(&a, 64);
	cid_netaddr_format(&net, out);
	memcpy(out + strlen(out), "/64", 4);
}

static void set_key(struct cid_throttle_key *k, enum cid_throttle_kind kind, const char *text)
{
	int n = snprintf(k->buf, sizeof(k->buf), "%s%s", rules[kind].prefix, text);

	if (n >= (int)sizeof(k->buf))
		n = (int)sizeof(k->buf) - 1;
	k->kind = kind;
	k->key = (struct cid_str){k->buf, n < 0 ? 0 : (size_t)n};
}

void cid_throttle_key_pair(struct cid_throttle_key *k, const char *realm, const char *name,
			   const char *addr)
{
	/* realm NUL name NUL address: the NULs keep the three apart */
	uint8_t in[16 + CID_MAX_USERNAME + CID_NETADDR_TEXT_MAX + 8];
	size_t rlen = strnlen(realm, 15);
	size_t nlen = name == NULL ? 0 : strnlen(name, CID_MAX_USERNAME);
	char where[CID_NETADDR_TEXT_MAX + 4];
	size_t len = 0;
	uint8_t digest[32];
	char hex[2 * sizeof(digest) + 1];

	addr_text(addr, where);
	memcpy(in, realm, rlen);
	len = rlen;
	in[len++] = '\0';
	for (size_t i = 0; i < nlen; i++) {
		uint8_t c = (uint8_t)name[i];

		/* ASCII lower case: "Hanako" and "hanako" share a counter */
		in[len++] = c >= 'A' && c <= 'Z' ? (uint8_t)(c | 0x20) : c;
	}
	in[len++] = '\0';
	memcpy(in + len, where, strlen(where));
	len += strlen(where);
	cid_sha256(in, len, digest);
	cid_hex(digest, sizeof(digest), hex);
	set_key(k, CID_THROTTLE_PAIR, hex);
	cid_wipe(in, sizeof(in));
}

bool cid_throttle_key_addr(struct cid_throttle_key *k, const char *addr)
{
	char where[CID_NETADDR_TEXT_MAX + 4];

	if (addr == NULL || addr[0] == '\0')
		return false;
	addr_text(addr, where);
	set_key(k, CID_THROTTLE_ADDR, where);
	return true;
}

void cid_throttle_key_code(struct cid_throttle_key *k, const char *realm, const char *id)
{
	char text[CID_THROTTLE_KEY_MAX];

	snprintf(text, sizeof(text), "%s:%s", realm, id == NULL ? "" : id);
	set_key(k, CID_THROTTLE_CODE, text);
}

/* True if a windowed counter's failures are forgotten at now (a clock set far back too). */
static bool window_passed(const json_t *rec, int64_t now)
{
	int64_t first = cid_json_int(rec, "first");

	return now - first >= CID_THROTTLE_WINDOW || first - now > CID_THROTTLE_WINDOW;
}

int64_t cid_throttle_wait(enum cid_throttle_kind kind, const json_t *rec, int64_t now)
{
	const struct rule *r = &rules[kind];
	int64_t n = cid_json_int(rec, "n");
	int64_t shift = n - r->free;
	int64_t delay;
	int64_t wait;

	if (rec == NULL)
		return 0;
	if (r->lock_at > 0 && n >= r->lock_at)
		return CID_THROTTLE_LOCKED;
	if ((r->windowed && now - cid_json_int(rec, "first") >= CID_THROTTLE_WINDOW) || shift < 0)
		return 0;
	delay = shift >= 30 ? CID_THROTTLE_MAX_DELAY : (int64_t)1 << shift;
	if (delay > CID_THROTTLE_MAX_DELAY)
		delay = CID_THROTTLE_MAX_DELAY;
	wait = cid_json_int(rec, "last") + delay - now;
	/* a clock set back must not lock anyone out for longer than the cap */
	if (wait > CID_THROTTLE_MAX_DELAY)
		wait = CID_THROTTLE_MAX_DELAY;
	return wait > 0 ? wait : 0;
}

enum cid_err cid_throttle_read(struct cid_txn *txn, const struct cid_throttle_key *k, int64_t now,
			       int64_t *wait, bool *exists)
{
	json_t *rec = NULL;
	enum cid_err rc = cid_txn_get_json(txn, CID_DB_THROTTLE, k->key, &rec);
	int64_t w;

	if (rc == CID_ERR_NOTFOUND)
		return CID_OK;
	if (rc != CID_OK)
		return rc;
	if (exists != NULL)
		*exists = true;
	w = cid_throttle_wait(k->kind, rec, now);
	if (w > *wait)
		*wait = w;
	json_decref(rec);
	return CID_OK;
}

enum cid_err cid_throttle_fail(struct cid_txn *txn, const struct cid_throttle_key *k, int64_t now)
{
	json_t *rec = NULL;
	json_t *next = NULL;
	enum cid_err rc = cid_txn_get_json(txn, CID_DB_THROTTLE, k->key, &rec);
	int64_t n = 1;
	int64_t first = now;

	CID_ENSURE(rc == CID_OK || rc == CID_ERR_NOTFOUND, rc);
	/* failures older than the window are forgotten: count from one again */
	if (rec != NULL && !(rules[k->kind].windowed && window_passed(rec, now))) {
		n = cid_json_int(rec, "n") + 1;
		first = cid_json_int(rec, "first");
	}
	next = json_pack("{s:I, s:I, s:I}", "n", (json_int_t)n, "first", (json_int_t)first, "last",
			 (json_int_t)now);
	CID_ENSURE(next != NULL, CID_ERR_NOMEM);
	CID_TRY(cid_txn_put_json(txn, CID_DB_THROTTLE, k->key, next, 0));
out:
	json_decref(rec);
	json_decref(next);
	return rc;
}

enum cid_err cid_throttle_clear(struct cid_txn *txn, const struct cid_throttle_key *k)
{
	enum cid_err rc = cid_txn_del(txn, CID_DB_THROTTLE, k->key);

	return rc == CID_ERR_NOTFOUND ? CID_OK : rc;
}

/* ---- attempts: the counters one login is held to ---- */

/* The address counter of addr, if any. Errors: CID_ERR_INVALID (too long). */
static enum cid_err attempt_addr(struct cid_throttle_attempt *a, const char *addr)
{
	size_t alen = addr == NULL ? 0 : strnlen(addr, CID_MAX_ADDR + 1);

	if (alen > CID_MAX_ADDR)
		return CID_ERR_INVALID;
	a->has_addr = cid_throttle_key_addr(&a->addr, addr);
	return CID_OK;
}

enum cid_err cid_throttle_attempt_password(struct cid_throttle_attempt *a, const char *realm,
					   const char *name, const char *addr)
{
	enum cid_err rc = attempt_addr(a, addr);

	if (rc == CID_OK)
		cid_throttle_key_pair(&a->first, realm, name, addr);
	return rc;
}

enum cid_err cid_throttle_attempt_code(struct cid_throttle_attempt *a, const char *realm,
				       const char *id, const char *addr)
{
	enum cid_err rc = attempt_addr(a, addr);

	if (rc == CID_OK)
		cid_throttle_key_code(&a->first, realm, id);
	return rc;
}

enum cid_err cid_throttle_attempt_read(struct cid_txn *txn, const struct cid_throttle_attempt *a,
				       int64_t now, int64_t *wait, bool *first_counted)
{
	enum cid_err rc = cid_throttle_read(txn, &a->first, now, wait, first_counted);

	if (rc == CID_OK && a->has_addr)
		rc = cid_throttle_read(txn, &a->addr, now, wait, NULL);
	return rc;
}

enum cid_err cid_throttle_attempt_fail(struct cid_txn *txn, const struct cid_throttle_attempt *a,
				       int64_t now)
{
	enum cid_err rc = cid_throttle_fail(txn, &a->first, now);

	if (rc == CID_OK && a->has_addr)
		rc = cid_throttle_fail(txn, &a->addr, now);
	return rc;
}

enum cid_err cid_throttle_attempt_clear(struct cid_txn *txn, const struct cid_throttle_attempt *a)
{
	return cid_throttle_clear(txn, &a->first);
}

/* ---- the sweep ---- */

/* A counter the sweep removes: a windowed one whose window has passed, or garbage. */
static bool counter_dead(struct cid_str key, struct cid_str val, int64_t now)
{
	size_t plen = strlen(rules[CID_THROTTLE_CODE].prefix);
	json_t *rec = NULL;
	bool dead;

	/* code counters are consecutive: only a correct code or an operator ends them */
	if (key.len >= plen && memcmp(key.ptr, rules[CID_THROTTLE_CODE].prefix, plen) == 0)
		return false;
	/* anything else is windowed (also the keys of older versions); garbage goes too */
	dead = cid_store_parse_json(val, &rec) != CID_OK || window_passed(rec, now);
	json_decref(rec);
	return dead;
}

static const struct cid_store_sweep counters = {CID_DB_THROTTLE, counter_dead, NULL};

enum cid_err cid_throttle_sweep(struct cid_store *s, int64_t now, size_t *removed)
{
	return cid_store_sweep(s, &counters, now, CID_SWEEP_BATCH, removed);
}
