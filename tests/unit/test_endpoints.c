/*
 * endpoints: the router's one table. Every path once, every row answerable,
 * and every path the pages link to or post to (web/templates, which keep
 * their actions literal) a row that takes that method.
 */
#include "account_pages.h"
#include "console.h"
#include "endpoints.h"
#include "oidc.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#ifndef CID_WEB_DIR
#error "CID_WEB_DIR (the source tree's web/) comes from tests/CMakeLists.txt"
#endif

/* The row of path, or NULL. */
static const struct cid_endpoint *row_of(const char *path, size_t len)
{
	const struct cid_endpoint *e;

	for (size_t i = 0; (e = cid_endpoint_row(i)) != NULL; i++)
		if (strlen(e->path) == len && strncmp(e->path, path, len) == 0)
			return e;
	return NULL;
}

/* Each path once, absolute; each row takes a method; only the stylesheet has no function. */
static void test_every_path_once(void **state)
{
	const struct cid_endpoint *e;
	const struct cid_endpoint *f;
	size_t n = 0;

	(void)state;
	for (size_t i = 0; (e = cid_endpoint_row(i)) != NULL; i++) {
		n++;
		assert_true(e->path[0] == '/');
		assert_true(e->get || e->post);
		if ((e->fn == NULL) != (strcmp(e->path, CID_STYLESHEET_PATH) == 0))
			fail_msg("%s: only the stylesheet is served by the skin", e->path);
		for (size_t j = i + 1; (f = cid_endpoint_row(j)) != NULL; j++)
			if (strcmp(e->path, f->path) == 0)
				fail_msg("%s is listed twice", e->path);
	}
	/* the OIDC endpoints, the account pages, the console, the stylesheet */
	assert_true(n >= 11 + 2 + 7 + 1);
	assert_null(cid_endpoint_row(n));
	assert_null(cid_endpoint_row(n + 100));
}

/* Rows a test can name: the right function answers, with the right treatment. */
static void test_rows_of_known_paths(void **state)
{
	static const struct {
		const char *path;
		cid_endpoint_fn *fn;
		bool get, post, page;
		enum cid_run run;
	} rows[] = {
	    /* a pending request or a code written: never on a polling thread */
	    {"/authorize", cid_oidc_authorize, true, true, true, CID_RUN_WRITES},
	    {"/login", cid_oidc_login, false, true, true, CID_RUN_SLOW},
	    {"/consent", cid_oidc_consent, false, true, true, CID_RUN_WRITES},
	    {"/token", cid_oidc_token, false, true, false, CID_RUN_WRITES},
	    {"/revoke", cid_oidc_revoke, false, true, false, CID_RUN_WRITES},
	    /* its entries go to the log's group commit: the polling thread */
	    {"/userinfo", cid_oidc_userinfo, true, true, false, CID_RUN_READS},
	    {"/introspect", cid_oidc_introspect, false, true, false, CID_RUN_READS},
	    {"/.well-known/openid-configuration", NULL, true, false, false, CID_RUN_READS},
	    {"/logout", cid_oidc_logout, true, true, true, CID_RUN_WRITES},
	    {"/account/receipt", cid_account_receipt, true, false, true, CID_RUN_WRITES},
	    {"/account/consent", NULL, false, true, true, CID_RUN_WRITES},
	    {"/officer/login", cid_console_login, true, true, true, CID_RUN_SLOW},
	    /* a log scan and a durable write of the look: never on a polling thread */
	    {"/officer", cid_console_log, true, false, true, CID_RUN_SLOW},
	    {"/officer/entry", cid_console_entry, true, false, true, CID_RUN_SLOW},
	    {"/officer/export", cid_console_export, false, true, true, CID_RUN_SLOW},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct cid_endpoint *e = row_of(rows[i].path, strlen(rows[i].path));

		if (e == NULL) {
			fail_msg("no row for %s", rows[i].path);
			return;
		}
		if (rows[i].fn != NULL)
			assert_true(e->fn == rows[i].fn);
		assert_int_equal(e->get, rows[i].get);
		assert_int_equal(e->post, rows[i].post);
		assert_int_equal(e->page, rows[i].page);
		if (e->run != rows[i].run)
			fail_msg("%s runs as %d, want %d", rows[i].path, (int)e->run,
				 (int)rows[i].run);
	}
	assert_null(row_of("/officer/", 9));
	assert_null(row_of("/.well-known/jwks", 17));
}

/*
 * Where one request runs: the token endpoint's client_credentials grant only
 * reads (the polling thread), its other grants write, and only a row that
 * writes can be let off by its request.
 */
static void test_where_a_request_runs(void **state)
{
	static const struct {
		const char *path;
		const char *grant_type; /* NULL: none */
		enum cid_run run;
	} rows[] = {
	    {"/token", "client_credentials", CID_RUN_READS},
	    {"/token", "authorization_code", CID_RUN_WRITES},
	    {"/token", "refresh_token", CID_RUN_WRITES},
	    {"/token", "client_credentials ", CID_RUN_WRITES},
	    {"/token", "", CID_RUN_WRITES},
	    {"/token", NULL, CID_RUN_WRITES},
	    {"/userinfo", NULL, CID_RUN_READS},
	    {"/revoke", "client_credentials", CID_RUN_WRITES},
	    {"/login", "client_credentials", CID_RUN_SLOW},
	};
	const struct cid_endpoint *e;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct cid_request req = {.post = true};

		e = row_of(rows[i].path, strlen(rows[i].path));
		assert_non_null(e);
		if (rows[i].grant_type != NULL)
			assert_int_equal(cid_params_add(&req.params, "grant_type", 10,
							rows[i].grant_type,
							strlen(rows[i].grant_type)),
					 CID_OK);
		if (cid_endpoint_run(e, &req) != rows[i].run)
			fail_msg("row %zu: %s grant_type %s runs as %d, want %d", i, rows[i].path,
				 rows[i].grant_type ? rows[i].grant_type : "(none)",
				 (int)cid_endpoint_run(e, &req), (int)rows[i].run);
		cid_request_clear(&req);
	}
	/* a reads_only test is only asked of a row that writes */
	for (size_t i = 0; (e = cid_endpoint_row(i)) != NULL; i++)
		if (e->reads_only != NULL && e->run != CID_RUN_WRITES)
			fail_msg("%s: reads_only on a row that does not write", e->path);
}

/* What every local path of a template starts with: the tenant's path prefix, "" for one city. */
#define BASE "{{base}}"

/* Checks every form action and local link of one template; returns how many it saw. */
static size_t check_template(const char *name, const char *text)
{
	size_t seen = 0;

	/* every local path starts at {{base}}: a tenant's pages link inside the tenant */
	if (strstr(text, "action=\"/") != NULL || strstr(text, "href=\"/") != NULL ||
	    strstr(text, "src=\"/") != NULL)
		fail_msg("%s: a local path without {{base}} in front", name);
	for (const char *p = text; (p = strstr(p, "action=\"")) != NULL; p++) {
		const char *tag = p;
		const char *path =
		    p + 8 + (strncmp(p + 8, BASE, strlen(BASE)) == 0 ? strlen(BASE) : 0);
		size_t len = strcspn(path, "\"?");
		const struct cid_endpoint *e = row_of(path, len);
		bool post;

		while (tag > text && *tag != '<')
			tag--;
		post = strncmp(tag, "<form method=\"post\"", 19) == 0;
		if (e == NULL || (post ? !e->post : !e->get))
			fail_msg("%s: the form action %.*s is not an endpoint taking %s", name,
				 (int)len, path, post ? "POST" : "GET");
		seen++;
	}
	for (const char *p = text; (p = strstr(p, "href=\"" BASE "/")) != NULL; p++) {
		const char *path = p + 6 + strlen(BASE);
		size_t len = strcspn(path, "\"?");
		const struct cid_endpoint *e = row_of(path, len);

		if (e == NULL || !e->get)
			fail_msg("%s: the link %.*s is not an endpoint taking GET", name, (int)len,
				 path);
		seen++;
	}
	return seen;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t cap = 0;
	size_t len = 0;
	size_t got;

	if (f == NULL)
		return NULL;
	do {
		if (len + 4096 + 1 > cap) {
			char *more = realloc(buf, cap = len + 65536);

			if (more == NULL) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = more;
		}
		got = fread(buf + len, 1, cap - len - 1, f);
		len += got;
	} while (got > 0);
	fclose(f);
	buf[len] = '\0';
	return buf;
}

/*
 * The templates keep their form actions and links literal (they are static
 * HTML): each must be a path of the table that takes its method, so a moved
 * endpoint cannot leave a page posting into the void.
 */
static void test_templates_post_and_link_to_endpoints(void **state)
{
	DIR *d = opendir(CID_WEB_DIR "/templates");
	struct dirent *de;
	size_t files = 0;
	size_t seen = 0;

	(void)state;
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		char path[1024];
		char *text;
		size_t n = strlen(de->d_name);

		if (n < 6 || strcmp(de->d_name + n - 5, ".html") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/templates/%s", CID_WEB_DIR, de->d_name);
		text = slurp(path);
		assert_non_null(text);
		seen += check_template(de->d_name, text);
		free(text);
		files++;
	}
	closedir(d);
	/* the pages are there, and they do link and post */
	assert_true(files >= 12);
	assert_true(seen >= 20);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_path_once),
	    cmocka_unit_test(test_rows_of_known_paths),
	    cmocka_unit_test(test_where_a_request_runs),
	    cmocka_unit_test(test_templates_post_and_link_to_endpoints),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
