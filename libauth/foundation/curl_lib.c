/*
 * curl_lib: libcurl opened with dlopen at first use (curl_lib.h says why).
 * Every function is looked up by its name in curl/curl.h; the table is
 * filled once, under pthread_once, and only published when it is whole and
 * the library initialised, so a half-loaded libcurl is never called.
 */
#include "curl_lib.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>

/* The soname of libcurl 4 (Debian's libcurl4 and libcurl3-gnutls's twin): its ABI since 2006. */
#define CURL_SONAME "libcurl.so.4"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct cid_curl table;
/* &table once whole and initialised; set once, under once */
static const struct cid_curl *_Atomic loaded;
static char failure[160]; /* why loading failed, when it did */

/* Looks name up in lib into *slot; false (failure says which) when it is not there. */
static bool find(void *lib, const char *name, void *slot)
{
	void *fn = dlsym(lib, name);

	if (fn == NULL) {
		snprintf(failure, sizeof(failure), "%s lacks %s", CURL_SONAME, name);
		return false;
	}
	/* POSIX: a function pointer and the void * dlsym returns have the same bits */
	*(void **)slot = fn;
	return true;
}

#define FIND(name) find(lib, "curl_" #name, &table.name)

static void load(void)
{
	void *lib = dlopen(CURL_SONAME, RTLD_NOW | RTLD_LOCAL);
	CURLcode (*global_init)(long flags) = NULL;

	if (lib == NULL) {
		snprintf(failure, sizeof(failure), "cannot load %s: %s", CURL_SONAME, dlerror());
		return;
	}
	if (!(find(lib, "curl_global_init", &global_init) && FIND(easy_init) && FIND(easy_setopt) &&
	      FIND(easy_perform) && FIND(easy_cleanup) && FIND(easy_getinfo) &&
	      FIND(easy_strerror) && FIND(easy_header) && FIND(url) && FIND(url_set) &&
	      FIND(url_get) && FIND(url_cleanup) && FIND(free) && FIND(slist_append) &&
	      FIND(slist_free_all) && FIND(multi_init) && FIND(multi_cleanup) &&
	      FIND(multi_add_handle) && FIND(multi_remove_handle) && FIND(multi_perform) &&
	      FIND(multi_poll) && FIND(multi_info_read) && FIND(multi_wakeup)))
		return; /* the library stays mapped: harmless, and dlclose could run its
			   destructors under a thread of ours still in it */
	if (global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(failure, sizeof(failure), "%s did not initialise", CURL_SONAME);
		return;
	}
	atomic_store(&loaded, &table);
}

#undef FIND

enum cid_err cid_curl_load(const struct cid_curl **out, char *why, size_t whysz)
{
	const struct cid_curl *c = NULL;

	if (pthread_once(&once, load) == 0)
		c = atomic_load(&loaded);
	if (c == NULL) {
		cid_err_why(why, whysz, "%s",
			    failure[0] != '\0' ? failure : "libcurl is not loaded");
		return CID_ERR_IO;
	}
	*out = c;
	return CID_OK;
}

const struct cid_curl *cid_curl(void)
{
	return atomic_load(&loaded);
}
