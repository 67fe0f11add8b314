/*
 * netaddr: addresses, ranges, and the client behind trusted proxies.
 *
 * Headers are split on every comma and every semicolon, quotes or not. A
 * quoted comma is legal in a Forwarded extension value but never in an
 * address, so at worst such an element becomes unreadable (and the walk
 * stops at the last trusted hop); splitting by quotes instead would let a
 * client open a quote that swallows the hop its proxy appends after it.
 * Only the rightmost CID_MAX_FORWARD_HOPS hops of a header are kept: the
 * walk never needs more than the proxies in front of civicid.
 */
#include "netaddr.h"

#include "bounds.h"
#include "str.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* what cid_netaddr_format writes is an address every login accepts */
_Static_assert(CID_NETADDR_TEXT_MAX - 1 <= CID_MAX_ADDR, "a formatted address over CID_MAX_ADDR");

struct range {
	struct cid_netaddr base;
	unsigned bits;
};

struct cid_netaddr_set {
	size_t n;
	struct range r[];
};

static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

enum cid_err cid_netaddr_parse(const char *s, size_t n, struct cid_netaddr *out)
{
	char text[CID_MAX_ADDR + 1];
	struct cid_netaddr a = {0};

	if (s == NULL || n == 0 || n > CID_MAX_ADDR || memchr(s, '\0', n) != NULL)
		return CID_ERR_INVALID;
	memcpy(text, s, n);
	text[n] = '\0';
	if (inet_pton(AF_INET, text, a.bytes) == 1) {
		a.family = 4;
	} else if (inet_pton(AF_INET6, text, a.bytes) == 1) {
		a.family = 6;
		if (memcmp(a.bytes, v4_mapped, sizeof(v4_mapped)) == 0) {
			memmove(a.bytes, a.bytes + 12, 4);
			memset(a.bytes + 4, 0, 12);
			a.family = 4;
		}
	} else {
		return CID_ERR_INVALID;
	}
	*out = a;
	return CID_OK;
}

void cid_netaddr_format(const struct cid_netaddr *a, char out[CID_NETADDR_TEXT_MAX])
{
	if (inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->bytes, out, CID_NETADDR_TEXT_MAX) ==
	    NULL)
		out[0] = '\0';
}

struct cid_netaddr cid_netaddr_mask(const struct cid_netaddr *a, unsigned bits)
{
	struct cid_netaddr m = *a;
	unsigned width = a->family == 4 ? 32 : 128;

	for (unsigned i = bits; i < width; i++)
		m.bytes[i / 8] &= (uint8_t) ~(0x80u >> (i % 8));
	return m;
}

static bool same(const struct cid_netaddr *a, const struct cid_netaddr *b)
{
	return a->family == b->family && memcmp(a->bytes, b->bytes, sizeof(a->bytes)) == 0;
}

/* Parses one entry "ADDR" or "ADDR/BITS" of a set; err says why not. */
static enum cid_err range_parse(const char *s, size_t n, struct range *r, char *err, size_t errsz)
{
	const char *slash = memchr(s, '/', n);
	size_t alen = slash == NULL ? n : (size_t)(slash - s);
	uint64_t bits;
	unsigned width;
	struct cid_netaddr masked;
	char want[CID_NETADDR_TEXT_MAX];

	if (cid_netaddr_parse(s, alen, &r->base) != CID_OK) {
		snprintf(err, errsz, "\"%.*s\" is not an IP address or CIDR range", (int)n, s);
		return CID_ERR_CONFIG;
	}
	width = r->base.family == 4 ? 32 : 128;
	/* an IPv4-mapped range counts its prefix within the IPv4 address */
	if (r->base.family == 4 && memchr(s, ':', alen) != NULL)
		width = 128;
	r->bits = width;
	if (slash != NULL) {
		size_t blen = n - alen - 1;

		/* the number parser allows leading zeros; a prefix length never has them */
		if (blen == 0 || blen > 3 || (blen > 1 && slash[1] == '0') ||
		    cid_parse_u64(slash + 1, blen, 0, width, &bits) != CID_OK) {
			snprintf(err, errsz, "\"%.*s\": the prefix length must be 0..%u", (int)n, s,
				 width);
			return CID_ERR_CONFIG;
		}
		r->bits = (unsigned)bits;
	}
	if (width == 128 && r->base.family == 4) {
		if (r->bits < 96) {
			snprintf(err, errsz,
				 "\"%.*s\": an IPv4-mapped range needs a prefix of 96..128", (int)n,
				 s);
			return CID_ERR_CONFIG;
		}
		r->bits -= 96;
	}
	masked = cid_netaddr_mask(&r->base, r->bits);
	if (!same(&masked, &r->base)) {
		cid_netaddr_format(&masked, want);
		snprintf(err, errsz,
			 "\"%.*s\" has bits set past its prefix (did you mean %s/%.*s?)", (int)n, s,
			 want, slash == NULL ? 0 : (int)(n - alen - 1),
			 slash == NULL ? "" : slash + 1);
		return CID_ERR_CONFIG;
	}
	return CID_OK;
}

static bool is_list_space(char c)
{
	return c == ' ' || c == '\t' || c == ',';
}

enum cid_err cid_netaddr_set_parse(const char *text, struct cid_netaddr_set **out, char *err,
				   size_t errsz)
{
	enum cid_err rc = CID_OK;
	struct cid_netaddr_set *set =
	    calloc(1, sizeof(*set) + CID_MAX_TRUSTED_PROXIES * sizeof(set->r[0]));
	const char *p = text == NULL ? "" : text;

	CID_ENSURE(set != NULL, CID_ERR_NOMEM);
	for (;;) {
		size_t len = 0;

		while (is_list_space(*p))
			p++;
		if (*p == '\0')
			break;
		while (p[len] != '\0' && !is_list_space(p[len]))
			len++;
		if (set->n == CID_MAX_TRUSTED_PROXIES) {
			snprintf(err, errsz, "more than %d addresses or ranges",
				 CID_MAX_TRUSTED_PROXIES);
			rc = CID_ERR_CONFIG;
			goto out;
		}
		CID_TRY(range_parse(p, len, &set->r[set->n], err, errsz));
		set->n++;
		p += len;
	}
	*out = set;
	set = NULL;
out:
	free(set);
	return rc;
}

enum cid_err cid_netaddr_set_dup(const struct cid_netaddr_set *set, struct cid_netaddr_set **out)
{
	size_t n = set == NULL ? 0 : set->n;
	size_t size = sizeof(struct cid_netaddr_set) + n * sizeof(struct range);
	struct cid_netaddr_set *copy = malloc(size);

	if (copy == NULL)
		return CID_ERR_NOMEM;
	copy->n = n;
	if (n > 0)
		memcpy(copy->r, set->r, n * sizeof(struct range));
	*out = copy;
	return CID_OK;
}

void cid_netaddr_set_free(struct cid_netaddr_set *set)
{
	free(set);
}

size_t cid_netaddr_set_count(const struct cid_netaddr_set *set)
{
	return set == NULL ? 0 : set->n;
}

bool cid_netaddr_set_contains(const struct cid_netaddr_set *set, const struct cid_netaddr *a)
{
	for (size_t i = 0; set != NULL && i < set->n; i++) {
		struct cid_netaddr m = cid_netaddr_mask(a, set->r[i].bits);

		if (same(&m, &set->r[i].base))
			return true;
	}
	return false;
}

/* ---- the headers ---- */

/* One hop of a header: its address, or !ok when it cannot be read. */
struct hop {
	bool ok;
	struct cid_netaddr addr;
};

/* The rightmost hops of one header, in a ring: hop i (0 the newest) is at (seen - 1 - i) % MAX. */
struct hops {
	struct hop h[CID_MAX_FORWARD_HOPS];
	size_t seen;
};

static void push(struct hops *hs, struct hop hop)
{
	hs->h[hs->seen % CID_MAX_FORWARD_HOPS] = hop;
	hs->seen++;
}

static struct cid_str trim(const char *s, size_t n)
{
	while (n > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	return (struct cid_str){s, n};
}

/* True if [s, s+n) is a node-port of RFC 7239 §6: 1..5 digits or "_" and an obfuscated name. */
static bool port_ok(const char *s, size_t n)
{
	size_t i = 0;

	if (n > 0 && s[0] == '_') {
		for (i = 1; i < n; i++)
			if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
			      (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' ||
			      s[i] == '-'))
				return false;
		return n > 1;
	}
	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return n >= 1 && n <= 5;
}

/*
 * A node as proxies write it: "192.0.2.1", "192.0.2.1:4711", "2001:db8::1",
 * "[2001:db8::1]" or "[2001:db8::1]:4711".
 */
static struct hop node_parse(const char *s, size_t n)
{
	struct hop hop = {0};
	struct cid_str t = trim(s, n);
	const char *close;
	const char *colon;

	if (t.len > 0 && t.ptr[0] == '[') {
		close = memchr(t.ptr, ']', t.len);
		if (close == NULL)
			return hop;
		if ((size_t)(close - t.ptr) + 1 < t.len &&
		    (close[1] != ':' || !port_ok(close + 2, t.len - (size_t)(close - t.ptr) - 2)))
			return hop;
		/* brackets hold an IPv6 address, never an IPv4 one */
		hop.ok =
		    memchr(t.ptr, ':', (size_t)(close - t.ptr)) != NULL &&
		    cid_netaddr_parse(t.ptr + 1, (size_t)(close - t.ptr) - 1, &hop.addr) == CID_OK;
		return hop;
	}
	colon = memchr(t.ptr, ':', t.len);
	if (colon != NULL && memchr(colon + 1, ':', t.len - (size_t)(colon - t.ptr) - 1) == NULL) {
		/* one colon: an IPv4 address and its port */
		hop.ok = port_ok(colon + 1, t.len - (size_t)(colon - t.ptr) - 1) &&
			 cid_netaddr_parse(t.ptr, (size_t)(colon - t.ptr), &hop.addr) == CID_OK &&
			 hop.addr.family == 4;
		return hop;
	}
	hop.ok = cid_netaddr_parse(t.ptr, t.len, &hop.addr) == CID_OK;
	return hop;
}

/* Calls fn on each part of [s, s+n) between separators sep. */
static void split(const char *s, size_t n, char sep,
		  void (*fn)(const char *p, size_t len, void *arg), void *arg)
{
	size_t start = 0;

	for (size_t i = 0; i <= n; i++) {
		if (i < n && s[i] != sep)
			continue;
		fn(s + start, i - start, arg);
		start = i + 1;
	}
}

static void xff_hop(const char *p, size_t len, void *arg)
{
	push(arg, node_parse(p, len));
}

/* The "for" parameter of one Forwarded element, while its pairs are read. */
struct element {
	int fors; /* how many "for" pairs */
	struct hop hop;
};

/* Unquotes a quoted-string (RFC 9110 §5.6.4) into out[outsz]; false if malformed or too long. */
static bool unquote(struct cid_str v, char *out, size_t outsz, size_t *len)
{
	size_t k = 0;

	if (v.len < 2 || v.ptr[v.len - 1] != '"')
		return false;
	for (size_t i = 1; i + 1 < v.len; i++) {
		char c = v.ptr[i];

		if (c == '"')
			return false;
		if (c == '\\') {
			if (i + 2 >= v.len)
				return false;
			c = v.ptr[++i];
		}
		if (k == outsz)
			return false;
		out[k++] = c;
	}
	*len = k;
	return true;
}

static void forwarded_pair(const char *p, size_t len, void *arg)
{
	struct element *e = arg;
	struct cid_str pair = trim(p, len);
	const char *eq = memchr(pair.ptr, '=', pair.len);
	struct cid_str name;
	struct cid_str value;
	char buf[CID_MAX_ADDR + 16];
	size_t blen = 0;

	if (eq == NULL)
		return;
	name = trim(pair.ptr, (size_t)(eq - pair.ptr));
	if (name.len != 3 || strncasecmp(name.ptr, "for", 3) != 0)
		return;
	e->fors++;
	value = trim(eq + 1, pair.len - (size_t)(eq - pair.ptr) - 1);
	if (value.len > 0 && value.ptr[0] == '"') {
		e->hop.ok = false;
		if (unquote(value, buf, sizeof(buf), &blen))
			e->hop = node_parse(buf, blen);
		return;
	}
	e->hop = node_parse(value.ptr, value.len);
}

static void forwarded_hop(const char *p, size_t len, void *arg)
{
	struct element e = {0};

	split(p, len, ';', forwarded_pair, &e);
	/* an element names exactly one "for", or it cannot be read */
	if (e.fors != 1)
		e.hop.ok = false;
	push(arg, e.hop);
}

/*
 * Walks the hops from the right: the first untrusted one is the client; an
 * unreadable hop or the end of the list gives the last trusted address walked.
 */
static struct cid_netaddr walk(const struct cid_netaddr_set *trusted, const struct hops *hs,
			       const struct cid_netaddr *peer)
{
	struct cid_netaddr last = *peer;
	size_t held = hs->seen < CID_MAX_FORWARD_HOPS ? hs->seen : CID_MAX_FORWARD_HOPS;

	for (size_t i = 0; i < held; i++) {
		const struct hop *hop = &hs->h[(hs->seen - 1 - i) % CID_MAX_FORWARD_HOPS];

		if (!hop->ok)
			return last;
		if (!cid_netaddr_set_contains(trusted, &hop->addr))
			return hop->addr;
		last = hop->addr;
	}
	return last;
}

void cid_netaddr_client(const struct cid_netaddr_set *trusted, const char *peer,
			const char *x_forwarded_for, const char *forwarded,
			char out[CID_NETADDR_TEXT_MAX])
{
	struct cid_netaddr peer_addr;
	struct cid_netaddr client;
	struct cid_netaddr by_fwd;
	struct hops hs;

	out[0] = '\0';
	if (peer == NULL || cid_netaddr_parse(peer, strlen(peer), &peer_addr) != CID_OK)
		return;
	client = peer_addr;
	if (!cid_netaddr_set_contains(trusted, &peer_addr))
		goto out;
	if (x_forwarded_for != NULL) {
		hs.seen = 0;
		split(x_forwarded_for, strlen(x_forwarded_for), ',', xff_hop, &hs);
		client = walk(trusted, &hs, &peer_addr);
	}
	if (forwarded != NULL) {
		hs.seen = 0;
		split(forwarded, strlen(forwarded), ',', forwarded_hop, &hs);
		by_fwd = walk(trusted, &hs, &peer_addr);
		/* two headers naming two clients: one was passed through unchecked */
		client = x_forwarded_for == NULL || same(&client, &by_fwd) ? by_fwd : peer_addr;
	}
out:
	cid_netaddr_format(&client, out);
}
