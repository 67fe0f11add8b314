/*
 * test_netaddr: addresses (parse, canonical text), trusted_proxies sets (the
 * entries accepted and refused, CIDR edges) and the client behind proxies
 * (spoofed headers, IPv6, Forwarded, garbage), each a table: one row per case.
 */
#include "bounds.h"
#include "netaddr.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define N(rows) (sizeof(rows) / sizeof((rows)[0]))

static void test_parse_and_format(void **state)
{
	static const struct {
		const char *in;
		const char *canonical; /* NULL: refused */
	} rows[] = {
	    {"192.0.2.1", "192.0.2.1"},
	    {"0.0.0.0", "0.0.0.0"},
	    {"255.255.255.255", "255.255.255.255"},
	    {"2001:DB8:0:0:0::1", "2001:db8::1"},
	    {"::1", "::1"},
	    {"::", "::"},
	    {"::ffff:192.0.2.1", "192.0.2.1"}, /* IPv4-mapped: the IPv4 address */
	    {"::FFFF:C000:0201", "192.0.2.1"},
	    {"2001:db8::192.0.2.1", "2001:db8::c000:201"},
	    {"192.0.2.01", NULL}, /* leading zero */
	    {"192.0.2", NULL},
	    {"256.0.0.1", NULL},
	    {"192.0.2.1 ", NULL},
	    {" 192.0.2.1", NULL},
	    {"[2001:db8::1]", NULL},
	    {"fe80::1%eth0", NULL},
	    {"2001:db8::1::2", NULL},
	    {"unknown", NULL},
	    {"", NULL},
	    {"1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb:cccc:dddd:eeee", NULL},
	};

	char out[CID_NETADDR_TEXT_MAX];

	(void)state;
	for (size_t i = 0; i < N(rows); i++) {
		struct cid_netaddr a;
		enum cid_err rc = cid_netaddr_parse(rows[i].in, strlen(rows[i].in), &a);

		if ((rc == CID_OK) != (rows[i].canonical != NULL))
			fail_msg("\"%s\": %s", rows[i].in, cid_strerror(rc));
		if (rc != CID_OK)
			continue;
		cid_netaddr_format(&a, out);
		if (strcmp(out, rows[i].canonical) != 0)
			fail_msg("\"%s\" formats as \"%s\", not \"%s\"", rows[i].in, out,
				 rows[i].canonical);
	}
	assert_int_equal(cid_netaddr_parse(NULL, 0, &(struct cid_netaddr){0}), CID_ERR_INVALID);
	/* a NUL inside the bytes is never part of an address */
	assert_int_equal(cid_netaddr_parse("1.2.3.4\0", 8, &(struct cid_netaddr){0}),
			 CID_ERR_INVALID);
}

static void test_set_entries_accepted_and_refused(void **state)
{
	static const struct {
		const char *text;
		int count;	  /* -1: refused */
		const char *says; /* part of the error message */
	} rows[] = {
	    {"", 0, NULL},
	    {"  , ,\t", 0, NULL},
	    {"127.0.0.1", 1, NULL},
	    {"10.0.0.0/8, 192.168.0.0/16", 2, NULL},
	    {"10.0.0.0/8,192.168.0.0/16 ::1\t2001:db8::/32", 4, NULL},
	    {"0.0.0.0/0 ::/0", 2, NULL},
	    {"192.0.2.1/32 2001:db8::1/128", 2, NULL},
	    {"::ffff:10.0.0.0/104", 1, NULL},
	    {"10.0.0.1/8", -1, "did you mean 10.0.0.0/8?"},
	    {"2001:db8::1/32", -1, "did you mean 2001:db8::/32?"},
	    {"10.0.0.0/33", -1, "prefix length must be 0..32"},
	    {"2001:db8::/129", -1, "prefix length must be 0..128"},
	    {"10.0.0.0/", -1, "prefix length"},
	    {"10.0.0.0/08", -1, "prefix length"},
	    {"10.0.0.0/-1", -1, "prefix length"},
	    {"10.0.0.0/8/8", -1, "prefix length"},
	    {"::ffff:10.0.0.0/90", -1, "96..128"},
	    {"localhost", -1, "\"localhost\" is not an IP address"},
	    {"127.0.0.1; 10.0.0.0/8", -1, "\"127.0.0.1;\" is not"},
	};

	char err[256];

	(void)state;
	for (size_t i = 0; i < N(rows); i++) {
		struct cid_netaddr_set *set = NULL;
		enum cid_err rc;

		err[0] = '\0';
		rc = cid_netaddr_set_parse(rows[i].text, &set, err, sizeof(err));
		if (rows[i].count < 0) {
			if (rc != CID_ERR_CONFIG || set != NULL)
				fail_msg("\"%s\" accepted", rows[i].text);
			if (strstr(err, rows[i].says) == NULL)
				fail_msg("\"%s\": \"%s\" does not say \"%s\"", rows[i].text, err,
					 rows[i].says);
			continue;
		}
		if (rc != CID_OK)
			fail_msg("\"%s\" refused: %s", rows[i].text, err);
		assert_int_equal(cid_netaddr_set_count(set), rows[i].count);
		cid_netaddr_set_free(set);
	}
}

static void test_set_too_many_entries(void **state)
{
	char text[CID_MAX_TRUSTED_PROXIES * 16 + 32] = "";
	size_t len = 0;
	struct cid_netaddr_set *set = NULL;
	char err[256] = "";

	(void)state;
	for (int i = 0; i < CID_MAX_TRUSTED_PROXIES; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len, "10.0.%d.%d ", i / 250,
					i % 250);
	assert_int_equal(cid_netaddr_set_parse(text, &set, err, sizeof(err)), CID_OK);
	assert_int_equal(cid_netaddr_set_count(set), CID_MAX_TRUSTED_PROXIES);
	cid_netaddr_set_free(set);
	set = NULL;
	snprintf(text + len, sizeof(text) - len, "192.0.2.1");
	assert_int_equal(cid_netaddr_set_parse(text, &set, err, sizeof(err)), CID_ERR_CONFIG);
	assert_null(set);
	assert_non_null(strstr(err, "more than"));
	assert_int_equal(cid_netaddr_set_count(NULL), 0);
	cid_netaddr_set_free(NULL);
}

static void test_set_contains_at_the_edges(void **state)
{
	static const struct {
		const char *set;
		const char *addr;
		bool in;
	} rows[] = {
	    {"192.168.1.128/25", "192.168.1.127", false},
	    {"192.168.1.128/25", "192.168.1.128", true},
	    {"192.168.1.128/25", "192.168.1.255", true},
	    {"192.168.1.128/25", "192.168.2.0", false},
	    {"10.0.0.0/8", "9.255.255.255", false},
	    {"10.0.0.0/8", "10.255.255.255", true},
	    {"10.0.0.0/8", "11.0.0.0", false},
	    {"127.0.0.1", "127.0.0.1", true},
	    {"127.0.0.1", "127.0.0.2", false},
	    {"127.0.0.1", "::ffff:127.0.0.1", true},
	    {"::ffff:10.0.0.0/104", "10.1.2.3", true},
	    {"::ffff:10.0.0.0/104", "11.1.2.3", false},
	    {"2001:db8::/32", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", true},
	    {"2001:db8::/32", "2001:db9::", false},
	    {"2001:db8::/32", "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", false},
	    {"2001:db8:0:2::/63", "2001:db8:0:3:ffff::1", true},
	    {"2001:db8:0:2::/63", "2001:db8:0:4::", false},
	    {"2001:db8:0:2::/63", "2001:db8:0:1:ffff:ffff:ffff:ffff", false},
	    {"0.0.0.0/0", "203.0.113.9", true},
	    {"0.0.0.0/0", "2001:db8::1", false},
	    {"::/0", "2001:db8::1", true},
	    {"::/0", "203.0.113.9", false},
	    {"::1", "::1", true},
	    {"::1", "127.0.0.1", false},
	    {"", "127.0.0.1", false},
	};

	char err[256];

	(void)state;
	for (size_t i = 0; i < N(rows); i++) {
		struct cid_netaddr_set *set = NULL;
		struct cid_netaddr a;

		assert_int_equal(cid_netaddr_set_parse(rows[i].set, &set, err, sizeof(err)),
				 CID_OK);
		assert_int_equal(cid_netaddr_parse(rows[i].addr, strlen(rows[i].addr), &a), CID_OK);
		if (cid_netaddr_set_contains(set, &a) != rows[i].in)
			fail_msg("%s in %s: expected %s", rows[i].addr, rows[i].set,
				 rows[i].in ? "yes" : "no");
		cid_netaddr_set_free(set);
	}
	assert_false(cid_netaddr_set_contains(NULL, &(struct cid_netaddr){.family = 4}));
}

/* X-Forwarded-For of more hops than are walked: one client, then n trusted proxies. */
static void long_chain(char *out, size_t outsz, int n)
{
	size_t len = (size_t)snprintf(out, outsz, "198.51.100.1");

	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(out + len, outsz - len, ", 10.0.0.9");
}

static void test_client_behind_proxies(void **state)
{
	static const struct {
		const char *what;
		const char *trusted;
		const char *peer;
		const char *xff; /* NULL: no header */
		const char *fwd;
		const char *client;
	} rows[] = {
	    /* nothing trusted: the headers are never read */
	    {"no trusted proxy: the peer", "", "192.0.2.1", "198.51.100.1", "for=198.51.100.2",
	     "192.0.2.1"},
	    {"an untrusted peer's header is ignored", "127.0.0.1", "192.0.2.1", "198.51.100.1",
	     NULL, "192.0.2.1"},
	    {"a trusted peer without a header is the client", "127.0.0.1", "127.0.0.1", NULL, NULL,
	     "127.0.0.1"},
	    /* X-Forwarded-For */
	    {"the hop the proxy appended", "127.0.0.1", "127.0.0.1", "203.0.113.5", NULL,
	     "203.0.113.5"},
	    {"a spoofed hop left of it is not read", "127.0.0.1", "127.0.0.1",
	     "127.0.0.3, 203.0.113.5", NULL, "203.0.113.5"},
	    {"a spoofed trusted address left of it neither", "127.0.0.1 10.0.0.0/8", "127.0.0.1",
	     "203.0.113.9, 10.1.1.1, 198.51.100.7", NULL, "198.51.100.7"},
	    {"a chain of trusted proxies is walked", "127.0.0.1 10.0.0.0/8", "127.0.0.1",
	     "203.0.113.5, 10.1.1.1, 10.2.2.2", NULL, "203.0.113.5"},
	    {"garbage left of the client is never read", "127.0.0.1", "127.0.0.1",
	     "<script>, 203.0.113.5", NULL, "203.0.113.5"},
	    {"garbage as the proxy's hop: the peer", "127.0.0.1", "127.0.0.1",
	     "203.0.113.5, garbage", NULL, "127.0.0.1"},
	    {"garbage behind a trusted hop: that hop", "127.0.0.1 10.0.0.0/8", "127.0.0.1",
	     "203.0.113.5, unknown, 10.0.0.2", NULL, "10.0.0.2"},
	    {"all hops trusted: the leftmost", "127.0.0.1 10.0.0.0/8", "127.0.0.1",
	     "10.0.0.2, 10.0.0.3", NULL, "10.0.0.2"},
	    {"an empty header: the peer", "127.0.0.1", "127.0.0.1", "", NULL, "127.0.0.1"},
	    {"only commas: the peer", "127.0.0.1", "127.0.0.1", " , ,", NULL, "127.0.0.1"},
	    {"an empty hop is garbage", "127.0.0.1", "127.0.0.1", "203.0.113.5,", NULL,
	     "127.0.0.1"},
	    {"a port is dropped", "127.0.0.1", "127.0.0.1", "203.0.113.5:4711", NULL,
	     "203.0.113.5"},
	    {"spaces and tabs around a hop", "127.0.0.1", "127.0.0.1", "\t 203.0.113.5 \t", NULL,
	     "203.0.113.5"},
	    {"a bad port is garbage", "127.0.0.1", "127.0.0.1", "203.0.113.5:http", NULL,
	     "127.0.0.1"},
	    {"a six-digit port is garbage", "127.0.0.1", "127.0.0.1", "203.0.113.5:123456", NULL,
	     "127.0.0.1"},
	    {"IPv6 in canonical form", "127.0.0.1", "127.0.0.1", "2001:DB8:0::7", NULL,
	     "2001:db8::7"},
	    {"bracketed IPv6 with a port", "127.0.0.1", "127.0.0.1", "[2001:db8::7]:443", NULL,
	     "2001:db8::7"},
	    {"bracketed IPv4 is garbage", "127.0.0.1", "127.0.0.1", "[203.0.113.5]", NULL,
	     "127.0.0.1"},
	    {"an unclosed bracket is garbage", "127.0.0.1", "127.0.0.1", "[2001:db8::7", NULL,
	     "127.0.0.1"},
	    {"IPv4-mapped hop is its IPv4 address", "127.0.0.1", "127.0.0.1", "::ffff:203.0.113.5",
	     NULL, "203.0.113.5"},
	    {"an IPv6 proxy", "::1", "::1", "203.0.113.5", NULL, "203.0.113.5"},
	    {"an IPv4-mapped peer is trusted as IPv4", "127.0.0.1", "::ffff:127.0.0.1",
	     "203.0.113.5", NULL, "203.0.113.5"},
	    {"a proxy in a trusted range", "10.0.0.0/8", "10.9.8.7", "203.0.113.5", NULL,
	     "203.0.113.5"},
	    {"a proxy just outside it", "10.0.0.0/8", "11.0.0.0", "203.0.113.5", NULL, "11.0.0.0"},
	    {"an IPv6 client behind a trusted IPv6 range", "2001:db8:1::/48", "2001:db8:1::80",
	     "2001:db8:2::9, 2001:db8:1:ff::1", NULL, "2001:db8:2::9"},
	    /* Forwarded (RFC 7239) */
	    {"Forwarded for with other parameters", "127.0.0.1", "127.0.0.1", NULL,
	     "for=192.0.2.60;proto=http;by=203.0.113.43", "192.0.2.60"},
	    {"Forwarded, quoted IPv6 with a port", "127.0.0.1", "127.0.0.1", NULL,
	     "for=\"[2001:db8:cafe::17]:4711\"", "2001:db8:cafe::17"},
	    {"Forwarded, the parameter name in any case", "127.0.0.1", "127.0.0.1", NULL,
	     "proto=https; FOR = 192.0.2.60", "192.0.2.60"},
	    {"Forwarded, escapes in a quoted string", "127.0.0.1", "127.0.0.1", NULL,
	     "for=\"192.0.2.\\60\"", "192.0.2.60"},
	    {"Forwarded, the rightmost element", "127.0.0.1", "127.0.0.1", NULL,
	     "for=192.0.2.43, for=198.51.100.17", "198.51.100.17"},
	    {"Forwarded, an obfuscated name: the peer", "127.0.0.1", "127.0.0.1", NULL,
	     "for=\"_gazonk\"", "127.0.0.1"},
	    {"Forwarded, unknown: the peer", "127.0.0.1", "127.0.0.1", NULL, "for=unknown",
	     "127.0.0.1"},
	    {"Forwarded, an obfuscated port is fine", "127.0.0.1", "127.0.0.1", NULL,
	     "for=\"[2001:db8::1]:_p0rt\"", "2001:db8::1"},
	    {"Forwarded, a quote the client opened cannot swallow the proxy's hop", "127.0.0.1",
	     "127.0.0.1", NULL, "for=\"x, for=198.51.100.17", "198.51.100.17"},
	    {"Forwarded, an unterminated quote is garbage", "127.0.0.1", "127.0.0.1", NULL,
	     "for=\"198.51.100.17", "127.0.0.1"},
	    {"Forwarded, two for in one element is garbage", "127.0.0.1", "127.0.0.1", NULL,
	     "for=192.0.2.1;for=192.0.2.2", "127.0.0.1"},
	    {"Forwarded, an element without for is garbage", "127.0.0.1", "127.0.0.1", NULL,
	     "for=192.0.2.1, proto=https", "127.0.0.1"},
	    {"Forwarded, unquoted IPv6 is read too", "127.0.0.1", "127.0.0.1", NULL,
	     "for=2001:db8::5", "2001:db8::5"},
	    /* both headers */
	    {"both headers naming one client", "127.0.0.1", "127.0.0.1", "198.51.100.17",
	     "for=198.51.100.17", "198.51.100.17"},
	    {"both headers naming two clients: the peer", "127.0.0.1", "127.0.0.1", "198.51.100.17",
	     "for=203.0.113.1", "127.0.0.1"},
	    /* peers we cannot read */
	    {"an unreadable peer: no address", "127.0.0.1", "not-an-address", "203.0.113.5", NULL,
	     ""},
	    {"no peer: no address", "127.0.0.1", NULL, "203.0.113.5", NULL, ""},
	    {"an over-long hop is garbage", "127.0.0.1", "127.0.0.1",
	     "203.0.113.5, 1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb:cccc:dddd", NULL,
	     "127.0.0.1"},
	};

	char out[CID_NETADDR_TEXT_MAX];
	char err[256];

	(void)state;
	for (size_t i = 0; i < N(rows); i++) {
		struct cid_netaddr_set *set = NULL;

		assert_int_equal(cid_netaddr_set_parse(rows[i].trusted, &set, err, sizeof(err)),
				 CID_OK);
		memset(out, 'x', sizeof(out));
		cid_netaddr_client(set, rows[i].peer, rows[i].xff, rows[i].fwd, out);
		if (strcmp(out, rows[i].client) != 0)
			fail_msg("%s: \"%s\", expected \"%s\"", rows[i].what, out, rows[i].client);
		cid_netaddr_set_free(set);
	}
	/* no set at all trusts nothing */
	cid_netaddr_client(NULL, "127.0.0.1", "203.0.113.5", NULL, out);
	assert_string_equal(out, "127.0.0.1");
}

static void test_client_walks_only_the_rightmost_hops(void **state)
{
	struct cid_netaddr_set *set = NULL;
	char xff[2048];
	char out[CID_NETADDR_TEXT_MAX];
	char err[256];

	(void)state;
	assert_int_equal(cid_netaddr_set_parse("127.0.0.1 10.0.0.0/8", &set, err, sizeof(err)),
			 CID_OK);
	/* as many trusted proxies as are walked: the client left of them is found */
	long_chain(xff, sizeof(xff), CID_MAX_FORWARD_HOPS - 1);
	cid_netaddr_client(set, "127.0.0.1", xff, NULL, out);
	assert_string_equal(out, "198.51.100.1");
	/* more: the walk ends at the last trusted hop it reads, never further left */
	long_chain(xff, sizeof(xff), CID_MAX_FORWARD_HOPS + 5);
	cid_netaddr_client(set, "127.0.0.1", xff, NULL, out);
	assert_string_equal(out, "10.0.0.9");
	cid_netaddr_set_free(set);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_and_format),
	    cmocka_unit_test(test_set_entries_accepted_and_refused),
	    cmocka_unit_test(test_set_too_many_entries),
	    cmocka_unit_test(test_set_contains_at_the_edges),
	    cmocka_unit_test(test_client_behind_proxies),
	    cmocka_unit_test(test_client_walks_only_the_rightmost_hops),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
