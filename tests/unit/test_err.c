/*
 * err: every error has its own text, and the why[whysz] phrase a function
 * writes is formatted, cut to fit its buffer, and skipped when there is none.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include "err.h"

/* cmocka.h needs setjmp.h, stdarg.h and stddef.h before it */
#include <cmocka.h>

static void test_every_error_has_a_text(void **state)
{
	(void)state;
	for (int e = 0; e < CID_ERR_COUNT; e++) {
		assert_non_null(cid_strerror((enum cid_err)e));
		assert_string_not_equal(cid_strerror((enum cid_err)e), "unknown error");
	}
	assert_string_equal(cid_strerror(CID_ERR_COUNT), "unknown error");
}

struct why_row {
	size_t whysz;
	const char *want;
};

static void test_why_is_formatted_and_cut_to_fit(void **state)
{
	static const struct why_row rows[] = {
	    {64, "HTTP status 404"}, /* room to spare */
	    {16, "HTTP status 404"}, /* exactly the phrase and its NUL */
	    {12, "HTTP status"},     /* cut, still NUL-terminated */
	    {1, ""},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char why[64];

		memset(why, 'x', sizeof(why));
		cid_err_why(why, rows[i].whysz, "HTTP status %d", 404);
		assert_string_equal(why, rows[i].want);
	}
}

static void test_why_without_a_buffer_writes_nothing(void **state)
{
	char why[8] = "kept";

	(void)state;
	cid_err_why(NULL, 64, "%s", "anything");
	cid_err_why(why, 0, "%s", "anything");
	assert_string_equal(why, "kept");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_error_has_a_text),
	    cmocka_unit_test(test_why_is_formatted_and_cut_to_fit),
	    cmocka_unit_test(test_why_without_a_buffer_writes_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
