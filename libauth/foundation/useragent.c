/*
 * useragent: the coarse label of a User-Agent. Two ordered tables of
 * substrings, the first match wins; the order encodes which products
 * pretend to be which (every Chromium claims "Safari", Edge and Opera claim
 * "Chrome", Android claims "Linux", iOS claims "Mac OS X").
 */
#include "useragent.h"

#include <stdio.h>
#include <string.h>

struct family {
	const char *needle;
	const char *label;
};

static const struct family browsers[] = {
    {"Edg/", "Edge"},	       {"OPR/", "Opera"},     {"SamsungBrowser/", "Samsung Internet"},
    {"Firefox/", "Firefox"},   {"FxiOS/", "Firefox"}, {"CriOS/", "Chrome"},
    {"Chromium/", "Chromium"}, {"Chrome/", "Chrome"}, {"Safari/", "Safari"},
    {"curl/", "curl"},	       {"node", "Node.js"},   {"undici", "Node.js"},
    {"python", "Python"},      {"Wget/", "Wget"},
};

static const struct family systems[] = {
    {"Android", "Android"}, {"iPhone", "iOS"},	    {"iPad", "iPadOS"},	    {"CrOS", "ChromeOS"},
    {"Windows", "Windows"}, {"Mac OS X", "macOS"},  {"Macintosh", "macOS"}, {"Linux", "Linux"},
    {"FreeBSD", "FreeBSD"}, {"OpenBSD", "OpenBSD"},
};

/* The first label of table[n] whose needle is in ua[0..len), NULL if none. */
static const char *find(const char *ua, size_t len, const struct family *table, size_t n)
{
	if (ua == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		size_t nl = strlen(table[i].needle);

		for (size_t at = 0; at + nl <= len; at++)
			if (memcmp(ua + at, table[i].needle, nl) == 0)
				return table[i].label;
	}
	return NULL;
}

void cid_useragent_label(const char *ua, char out[CID_UA_LABEL_MAX])
{
	size_t len = ua == NULL ? 0 : strnlen(ua, CID_UA_SCAN);
	const char *b = find(ua, len, browsers, sizeof(browsers) / sizeof(browsers[0]));
	const char *s = find(ua, len, systems, sizeof(systems) / sizeof(systems[0]));

	out[0] = '\0';
	if (b != NULL && s != NULL)
		snprintf(out, CID_UA_LABEL_MAX, "%s / %s", b, s);
	else if (b != NULL || s != NULL)
		snprintf(out, CID_UA_LABEL_MAX, "%s", b != NULL ? b : s);
}
