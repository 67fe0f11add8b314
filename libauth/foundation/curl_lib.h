/*
 * curl_lib: libcurl, loaded when civicid first talks to another party, not
 * when it starts. libcurl brings some thirty libraries with it (GnuTLS,
 * Kerberos, LDAP, SSH, ...); mapping and relocating them cost every start of
 * the binary about 15 ms on the 2-core machine, more than all of the
 * server's own start, while most runs (a CLI command, a server that sends
 * no back-channel logout yet) never make an outbound request. So civicid is
 * not linked with libcurl: http_fetch.c calls it through the table below,
 * filled by dlopen("libcurl.so.4") on first use, as systemd loads its
 * optional libraries. It is compiled against curl/curl.h of the same
 * package, so the types are checked at build time, and the functions looked
 * up are all there since libcurl 7.85 (CURLOPT_PROTOCOLS_STR, which the
 * options need), the version the build requires of the headers.
 *
 * No state of libauth's own: the library stays mapped once opened
 * (RTLD_NODELETE) and the dynamic loader counts who holds it, so each user
 * opens it for as long as it needs it (a request, a batch) into a table of
 * its own, which costs a lookup of the mapped library and of each function
 * after the first open. libcurl initialises itself on its first handle, thread-safely
 * since 7.84 (curl_global_init is not called).
 *
 * Thread-safe: dlopen, dlsym and dlclose are.
 */
#ifndef CID_CURL_LIB_H
#define CID_CURL_LIB_H

#include "err.h"

#include <curl/curl.h>
#include <stddef.h>

/*
 * The libcurl functions http_fetch.c calls, named as in curl/curl.h less
 * "curl_", each of the type curl/curl.h declares (so a call through the
 * table is checked as a direct one would be, but for the variadic options).
 */
struct cid_curl {
	void *lib; /* dlopen's handle: NULL when not open */
	__typeof__(curl_easy_init) *easy_init;
	__typeof__(curl_easy_setopt) *easy_setopt;
	__typeof__(curl_easy_perform) *easy_perform;
	__typeof__(curl_easy_cleanup) *easy_cleanup;
	__typeof__(curl_easy_getinfo) *easy_getinfo;
	__typeof__(curl_easy_strerror) *easy_strerror;
	__typeof__(curl_easy_header) *easy_header;
	__typeof__(curl_url) *url;
	__typeof__(curl_url_set) *url_set;
	__typeof__(curl_url_get) *url_get;
	__typeof__(curl_url_cleanup) *url_cleanup;
	__typeof__(curl_free) *free;
	__typeof__(curl_slist_append) *slist_append;
	__typeof__(curl_slist_free_all) *slist_free_all;
	__typeof__(curl_multi_init) *multi_init;
	__typeof__(curl_multi_cleanup) *multi_cleanup;
	__typeof__(curl_multi_add_handle) *multi_add_handle;
	__typeof__(curl_multi_remove_handle) *multi_remove_handle;
	__typeof__(curl_multi_perform) *multi_perform;
	__typeof__(curl_multi_poll) *multi_poll;
	__typeof__(curl_multi_info_read) *multi_info_read;
	__typeof__(curl_multi_wakeup) *multi_wakeup;
};

/*
 * Opens libcurl into *c: dlopen("libcurl.so.4") (the first open of the
 * process maps it, later ones find it mapped) and every function of the
 * table looked up. Close it with cid_curl_close. Errors: CID_ERR_IO (the
 * library is not installed or lacks a function; when why is not NULL,
 * why[whysz] says which), and then *c is zeroed, holding nothing.
 */
CID_MUST_CHECK enum cid_err cid_curl_open(struct cid_curl *c, char *why, size_t whysz);

/*
 * Drops c's hold of the library and zeroes c; the library itself stays
 * mapped for the next open. A zeroed c is a no-op.
 */
void cid_curl_close(struct cid_curl *c);

#endif
