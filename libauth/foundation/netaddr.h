/*
 * netaddr: IP addresses, sets of address ranges (CIDR), and the rule that
 * finds the client's address behind trusted reverse proxies.
 *
 * The rule (cid_netaddr_client). The TCP peer is the client unless it is in
 * the trusted set (the `trusted_proxies` configuration key; empty: no
 * forwarding header is ever believed). Behind a trusted peer the hops of
 * X-Forwarded-For and of Forwarded (RFC 7239, its "for" parameter) are walked
 * from the right, the one the nearest proxy appended, skipping trusted
 * addresses: the first untrusted hop is the client. Only a hop that a trusted
 * proxy wrote can be believed, so nothing left of the client is ever read,
 * and whatever a client writes into the headers itself stays left of the hop
 * its proxy appends. When the walk meets a hop it cannot read (not an
 * address, "unknown", an obfuscated name) before an untrusted one, or runs
 * out of hops, the client is the last trusted address walked (the peer, or
 * the trusted proxy that wrote the unreadable hop): the nearest address that
 * can be vouched for. When both headers are present and name different
 * clients, one of them was passed through from the client unchecked and
 * nothing tells which: the client is then the peer itself. IPv4-mapped IPv6
 * addresses (::ffff:a.b.c.d) are their IPv4 address throughout.
 *
 * No I/O, no globals; a set is immutable once parsed. Thread-safe.
 */
#ifndef CID_NETADDR_H
#define CID_NETADDR_H

#include "err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest canonical text of an address (an IPv6 with an embedded IPv4) and its NUL. */
#define CID_NETADDR_TEXT_MAX 46

struct cid_netaddr {
	int family;	   /* 4 or 6 */
	uint8_t bytes[16]; /* network order; an IPv4 address in the first 4 */
};

/* A set of address ranges; opaque, immutable once parsed. */
struct cid_netaddr_set;

/*
 * Parses the address text [s, s+n): dotted-decimal IPv4 (four parts, no
 * leading zeros) or IPv6 (RFC 4291 §2.2, no zone). No brackets, no port.
 * Errors: CID_ERR_INVALID.
 */
CID_MUST_CHECK enum cid_err cid_netaddr_parse(const char *s, size_t n, struct cid_netaddr *out);

/* The canonical text of a (RFC 5952 for IPv6) into out. */
void cid_netaddr_format(const struct cid_netaddr *a, char out[CID_NETADDR_TEXT_MAX]);

/* a with every bit past the first bits cleared (bits over the family's width: a itself). */
struct cid_netaddr cid_netaddr_mask(const struct cid_netaddr *a, unsigned bits);

/*
 * Parses a list of addresses and CIDR ranges ("127.0.0.1", "10.0.0.0/8",
 * "2001:db8::/32") separated by spaces, tabs or commas, into a new set; an
 * empty text gives an empty set. A range with bits set past its prefix
 * ("10.0.0.1/8") is refused as the typo it likely is. *out is freed with
 * cid_netaddr_set_free. On error err[errsz] says which entry and why.
 * Errors: CID_ERR_CONFIG (a bad entry, more than CID_MAX_TRUSTED_PROXIES
 * entries), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_netaddr_set_parse(const char *text, struct cid_netaddr_set **out,
						  char *err, size_t errsz);

/*
 * A copy of set (NULL: an empty set) into *out, freed with
 * cid_netaddr_set_free. Errors: CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_netaddr_set_dup(const struct cid_netaddr_set *set,
						struct cid_netaddr_set **out);

/* Frees a set; NULL is a no-op. */
void cid_netaddr_set_free(struct cid_netaddr_set *set);

/* Number of ranges in set (NULL: 0). */
size_t cid_netaddr_set_count(const struct cid_netaddr_set *set);

/* True if a lies in one of the ranges of set (NULL: an empty set). */
bool cid_netaddr_set_contains(const struct cid_netaddr_set *set, const struct cid_netaddr *a);

/*
 * The client's address by the rule above, as canonical text into out:
 * peer is the TCP peer's address text (NULL or unreadable: out is ""),
 * x_forwarded_for and forwarded the raw values of those headers (several
 * headers of one name joined with commas, in order), NULL when absent.
 * trusted may be NULL (nothing trusted).
 */
void cid_netaddr_client(const struct cid_netaddr_set *trusted, const char *peer,
			const char *x_forwarded_for, const char *forwarded,
			char out[CID_NETADDR_TEXT_MAX]);

#endif
