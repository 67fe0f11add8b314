/*
 * curl_lib: libcurl is not in the process until the first outbound request
 * opens it (curl_lib.h). A batch that never posted does not open it, and
 * still waits and wakes as a batch does; an open maps the library and
 * fills the whole table, and the library stays mapped after the close for
 * the next one. A libcurl that is missing, or lacks a function, is an error
 * that names it, and leaves nothing half-open: the build wraps dlopen,
 * dlsym and dlclose (-Wl,--wrap) so that a test can hide the library or one
 * function, and count the holds of it that are open.
 * The tests run in this order in one process: the first one sees the
 * process as civicid starts it.
 */
#include "curl_lib.h"
#include "http_fetch.h"
#include "support.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

/* ---- what the wraps hide: nothing but in the tests that set these ---- */

static bool hide_libcurl;	/* dlopen of libcurl fails, as when it is not installed */
static const char *hide_symbol; /* dlsym of this name fails, as in a libcurl without it */
/* libcurl's handle as dlopen gave it, and how many holds of it are open */
static void *libcurl_handle;
static int libcurl_holds;

// NOLINTBEGIN(bugprone-reserved-identifier): ld's --wrap needs these names
void *__real_dlopen(const char *file, int mode);
void *__real_dlsym(void *handle, const char *name);
int __real_dlclose(void *handle);
void *__wrap_dlopen(const char *file, int mode);
void *__wrap_dlsym(void *handle, const char *name);
int __wrap_dlclose(void *handle);

// NOLINTEND(bugprone-reserved-identifier)

void *__wrap_dlopen(const char *file, int mode)
{
	bool curl = file != NULL && strstr(file, "libcurl") != NULL;
	void *h;

	if (curl && hide_libcurl)
		return __real_dlopen("libcivicid-test-absent.so.0", mode); /* dlerror's own words */
	h = __real_dlopen(file, mode);
	if (curl && h != NULL) {
		libcurl_handle = h;
		libcurl_holds++;
	}
	return h;
}

void *__wrap_dlsym(void *handle, const char *name)
{
	if (hide_symbol != NULL && strcmp(name, hide_symbol) == 0)
		return NULL;
	return __real_dlsym(handle, name);
}

int __wrap_dlclose(void *handle)
{
	if (handle != NULL && handle == libcurl_handle)
		libcurl_holds--;
	return __real_dlclose(handle);
}

/* After each test: nothing hidden any more, even when the test failed half-way. */
static int unhide(void **state)
{
	(void)state;
	hide_libcurl = false;
	hide_symbol = NULL;
	return 0;
}

/* True if every byte of c is zero: a table that holds nothing. */
static bool table_empty(const struct cid_curl *c)
{
	const unsigned char *p = (const unsigned char *)c;

	for (size_t i = 0; i < sizeof(*c); i++)
		if (p[i] != 0)
			return false;
	return true;
}

/* True if a libcurl is mapped into this process (/proc/self/maps). */
static bool libcurl_mapped(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	bool found = false;

	assert_non_null(f);
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = strstr(line, "/libcurl") != NULL;
	fclose(f);
	return found;
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;

	assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &t1), 0);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void never_called(void *arg, const struct cid_http_outcome *o)
{
	(void)arg;
	(void)o;
	fail_msg("a batch that never posted reported an outcome");
}

static void *wake_later(void *arg)
{
	struct timespec pause = {.tv_nsec = 100L * 1000 * 1000};

	nanosleep(&pause, NULL);
	cid_http_batch_wake(arg);
	return NULL;
}

/*
 * As civicid starts: no libcurl. A batch (the back-channel logout sender
 * makes one at start) waits its time, or until woken, without loading it.
 */
static void test_no_libcurl_until_a_request(void **state)
{
	struct cid_http_batch *b = NULL;
	struct timespec t0;
	pthread_t th;

	(void)state;
	assert_false(libcurl_mapped());
	assert_int_equal(cid_http_batch_new(2, &b), CID_OK);
	/* nothing to wait for: the time runs out */
	assert_int_equal(cid_http_batch_run(b, 20, never_called, NULL), CID_OK);
	/* a wake before the run ends the next run at once; one during it ends that one */
	cid_http_batch_wake(b);
	assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &t0), 0);
	assert_int_equal(cid_http_batch_run(b, 60000, never_called, NULL), CID_OK);
	assert_true(seconds_since(&t0) < 30);
	assert_int_equal(pthread_create(&th, NULL, wake_later, b), 0);
	assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &t0), 0);
	assert_int_equal(cid_http_batch_run(b, 60000, never_called, NULL), CID_OK);
	assert_true(seconds_since(&t0) < 30);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(cid_http_batch_active(b), 0);
	cid_http_batch_free(b);
	assert_false(libcurl_mapped());
}

/* An open maps libcurl and fills every slot; after the close it stays mapped, and opens again. */
static void test_open_fills_the_whole_table_and_the_library_stays(void **state)
{
	struct cid_curl c;
	char why[160] = "";

	(void)state;
	assert_int_equal(cid_curl_open(&c, why, sizeof(why)), CID_OK);
	assert_true(libcurl_mapped());
	assert_non_null(c.lib);
	/* every slot after lib is a function */
	for (size_t i = 1; i < sizeof(c) / sizeof(void *); i++) {
		void *slot = NULL;

		memcpy(&slot, (const char *)&c + i * sizeof(slot), sizeof(slot));
		if (slot == NULL)
			fail_msg("slot %zu of the table is empty", i);
	}
	assert_non_null(c.easy_strerror(CURLE_OK));
	assert_string_equal(why, "");
	cid_curl_close(&c);
	assert_null(c.lib);
	assert_null(c.easy_init);
	cid_curl_close(&c); /* a closed table: nothing */
	assert_true(libcurl_mapped());
	assert_int_equal(cid_curl_open(&c, NULL, 0), CID_OK);
	cid_curl_close(&c);
}

/*
 * libcurl not installed: an open, a fetch and a batch's POST each fail with
 * CID_ERR_IO and say which library could not be loaded; nothing is left
 * open, and the batch is freed as any other.
 */
static void test_a_missing_libcurl_is_an_error_that_names_it(void **state)
{
	struct cid_curl c;
	char why[256] = "";
	int holds = libcurl_holds;
	const struct cid_fetch_limits lim = {
	    .max_bytes = 1024, .connect_timeout_ms = 1000, .timeout_ms = 1000};
	struct cid_http_batch *b = NULL;
	char *body = NULL;
	size_t len = 0;

	(void)state;
	hide_libcurl = true;
	memset(&c, 0xA5, sizeof(c));
	assert_int_equal(cid_curl_open(&c, why, sizeof(why)), CID_ERR_IO);
	assert_true(table_empty(&c));
	assert_non_null(strstr(why, "cannot load libcurl.so.4: "));
	assert_non_null(strstr(why, "libcivicid-test-absent.so.0"));
	assert_int_equal(libcurl_holds, holds);

	why[0] = '\0';
	assert_int_equal(
	    cid_http_fetch("http://127.0.0.1:9/x", &lim, &body, &len, why, sizeof(why)),
	    CID_ERR_IO);
	assert_null(body);
	assert_non_null(strstr(why, "cannot load libcurl.so.4"));

	assert_int_equal(cid_http_batch_new(4, &b), CID_OK);
	assert_int_equal(cid_http_batch_post(b, "http://127.0.0.1:9/x", "a=b", 3, &lim, NULL),
			 CID_ERR_IO);
	assert_int_equal(cid_http_batch_active(b), 0);
	cid_http_batch_free(b);
}

/* A libcurl without one of the functions: refused whole, the table left empty. */
static void test_a_libcurl_lacking_a_function_is_refused_whole(void **state)
{
	static const char *const names[] = {"curl_easy_init", "curl_easy_header",
					    "curl_multi_wakeup"};
	struct cid_curl c;
	int holds = libcurl_holds;

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char why[160] = "";
		char want[160];

		hide_symbol = names[i];
		assert_int_equal(cid_curl_open(&c, why, sizeof(why)), CID_ERR_IO);
		assert_true(table_empty(&c));
		snprintf(want, sizeof(want), "libcurl.so.4 lacks %s", names[i]);
		assert_string_equal(why, want);
		assert_int_equal(libcurl_holds, holds); /* the library it opened is closed again */
	}
	hide_symbol = NULL;
	assert_int_equal(cid_curl_open(&c, NULL, 0), CID_OK); /* whole again */
	assert_int_equal(libcurl_holds, holds + 1);
	cid_curl_close(&c);
	assert_int_equal(libcurl_holds, holds);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_no_libcurl_until_a_request),
	    cmocka_unit_test(test_open_fills_the_whole_table_and_the_library_stays),
	    cmocka_unit_test_teardown(test_a_missing_libcurl_is_an_error_that_names_it, unhide),
	    cmocka_unit_test_teardown(test_a_libcurl_lacking_a_function_is_refused_whole, unhide),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
