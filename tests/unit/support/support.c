/* Test support: temporary store directories and cheap argon2 parameters. */
#include "support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

const struct cid_argon2_params cid_test_argon2 = {.t_cost = 1, .m_cost_kib = 64, .parallelism = 1};

void cid_test_tmpdir(char dir[256])
{
	const char *base = getenv("CID_TEST_TMP");

	if (base == NULL || base[0] == '\0')
		base = "/tmp";
	(void)mkdir(base, 0700);
	int n = snprintf(dir, 256, "%s/cidtest.XXXXXX", base);
	assert_true(n > 0 && n < 256);
	assert_non_null(mkdtemp(dir));
}

void cid_test_rmdir(const char *dir)
{
	char cmd[300];
	int n = snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);

	assert_true(n > 0 && (size_t)n < sizeof(cmd));
	assert_int_equal(system(cmd), 0);
}

struct cid_store *cid_test_store_open(char dir[256])
{
	struct cid_store *s = NULL;

	cid_test_tmpdir(dir);
	assert_int_equal(cid_store_open(dir, &s), CID_OK);
	assert_non_null(s);
	return s;
}

void cid_test_store_close(struct cid_store *s, const char *dir)
{
	cid_store_close(s);
	cid_test_rmdir(dir);
}

int cid_test_store_setup(void **state)
{
	struct cid_test_store *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->s = cid_test_store_open(f->dir);
	*state = f;
	return 0;
}

int cid_test_store_teardown(void **state)
{
	struct cid_test_store *f = *state;

	cid_test_store_close(f->s, f->dir);
	free(f);
	return 0;
}

void cid_test_policies(struct cid_config *cfg, const char *dir, const char *name, const char *text)
{
	char path[512];
	char err[128];
	int n = snprintf(path, sizeof(path), "%s/policies", dir);

	assert_true(n > 0 && (size_t)n < sizeof(path));
	assert_true(mkdir(path, 0700) == 0 || access(path, F_OK) == 0);
	assert_int_equal(cid_config_set(cfg, "policies", path, err, sizeof(err)), CID_OK);
	if (name == NULL)
		return;
	n = snprintf(path, sizeof(path), "%s/policies/%s", dir, name);
	assert_true(n > 0 && (size_t)n < sizeof(path));
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}
