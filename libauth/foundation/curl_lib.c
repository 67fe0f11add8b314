/*
 * curl_lib: libcurl opened with dlopen by each user (curl_lib.h says why).
 * Every function is looked up by its name in curl/curl.h; a table is only
 * handed out whole, so a half-found libcurl is never called.
 */
#include "curl_lib.h"

#include <dlfcn.h>
#include <stdbool.h>
#include <string.h>

/* The soname of libcurl 4 (Debian's libcurl4): its ABI since 2006. */
#define CURL_SONAME "libcurl.so.4"

/* Looks name up in lib into *slot; false (why says which) when it is not there. */
static bool find(void *lib, const char *name, void *slot, char *why, size_t whysz)
{
	void *fn = dlsym(lib, name);

	if (fn == NULL) {
		cid_err_why(why, whysz, "%s lacks %s", CURL_SONAME, name);
		return false;
	}
	/* POSIX: a function pointer and the void * dlsym returns have the same bits */
	memcpy(slot, &fn, sizeof(fn));
	return true;
}

#define FIND(name) find(c->lib, "curl_" #name, (void *)&c->name, why, whysz)

enum cid_err cid_curl_open(struct cid_curl *c, char *why, size_t whysz)
{
	memset(c, 0, sizeof(*c));
	/* RTLD_NODELETE: the last close leaves it mapped, for the next open */
	c->lib = dlopen(CURL_SONAME, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
	if (c->lib == NULL) {
		const char *err = dlerror();

		cid_err_why(why, whysz, "cannot load %s: %s", CURL_SONAME,
			    err != NULL ? err : "unknown error");
		return CID_ERR_IO;
	}
	if (FIND(easy_init) && FIND(easy_setopt) && FIND(easy_perform) && FIND(easy_cleanup) &&
	    FIND(easy_getinfo) && FIND(easy_strerror) && FIND(easy_header) && FIND(url) &&
	    FIND(url_set) && FIND(url_get) && FIND(url_cleanup) && FIND(free) &&
	    FIND(slist_append) && FIND(slist_free_all) && FIND(multi_init) && FIND(multi_cleanup) &&
	    FIND(multi_add_handle) && FIND(multi_remove_handle) && FIND(multi_perform) &&
	    FIND(multi_poll) && FIND(multi_info_read) && FIND(multi_wakeup))
		return CID_OK;
	cid_curl_close(c);
	return CID_ERR_IO;
}

#undef FIND

void cid_curl_close(struct cid_curl *c)
{
	if (c->lib != NULL)
		(void)dlclose(c->lib);
	memset(c, 0, sizeof(*c));
}
