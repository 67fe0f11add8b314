/* Fuzz support: temporary stores and contexts for the fuzz targets. */
#include "support.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void fuzz_tmpdir(char dir[256])
{
	struct stat st;
	const char *base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";
	int n = snprintf(dir, 256, "%s/civicid-fuzz-XXXXXX", base);

	if (n <= 0 || n >= 256 || mkdtemp(dir) == NULL)
		abort();
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void fuzz_rmtree(const char *dir)
{
	if (nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
		abort();
}

void fuzz_write_file(const char *dir, const char *name, const void *data, size_t size)
{
	char path[512];
	FILE *f;
	int n = snprintf(path, sizeof(path), "%s/%s", dir, name);

	if (n <= 0 || (size_t)n >= sizeof(path) || (f = fopen(path, "wb")) == NULL)
		abort();
	if ((size > 0 && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
		abort();
}

void fuzz_env_open(struct fuzz_env *env, int64_t now, const char *name, const char *text)
{
	char err[128];
	int n;

	memset(env, 0, sizeof(*env));
	fuzz_tmpdir(env->dir);
	n = snprintf(env->policies, sizeof(env->policies), "%s/policies", env->dir);
	if (n <= 0 || (size_t)n >= sizeof(env->policies) || mkdir(env->policies, 0700) != 0)
		abort();
	if (name != NULL)
		fuzz_write_file(env->policies, name, text, strlen(text));
	if (cid_config_new(&env->cfg) != CID_OK ||
	    cid_config_set(env->cfg, "store", env->dir, err, sizeof(err)) != CID_OK ||
	    cid_config_set(env->cfg, "policies", env->policies, err, sizeof(err)) != CID_OK)
		abort();
	/* the cheapest argon2id: the targets fuzz requests, not password hashing */
	env->cfg->argon2.t_cost = 1;
	env->cfg->argon2.m_cost_kib = 64;
	env->cfg->argon2.parallelism = 1;
	if (cid_ctx_open(env->cfg, now, stderr, &env->ctx) != CID_OK)
		abort();
}

void fuzz_env_close(struct fuzz_env *env)
{
	cid_ctx_close(env->ctx);
	cid_config_free(env->cfg);
	if (env->dir[0] != '\0')
		fuzz_rmtree(env->dir);
	memset(env, 0, sizeof(*env));
}

/* At most this many keys are deleted per write; the loop goes on until none is left. */
#define CLEAR_BATCH 64

struct clear {
	enum cid_db db;
	char keys[CLEAR_BATCH][CID_STORE_MAX_KEY];
	size_t lens[CLEAR_BATCH];
	size_t n;
};

static enum cid_err collect(struct cid_str key, struct cid_str val, void *arg)
{
	struct clear *c = arg;

	(void)val;
	if (c->n == CLEAR_BATCH)
		return CID_ERR_TOOBIG; /* stop here: this batch is full */
	memcpy(c->keys[c->n], key.ptr, key.len);
	c->lens[c->n++] = key.len;
	return CID_OK;
}

static enum cid_err clear_cb(struct cid_txn *txn, void *arg)
{
	struct clear *c = arg;
	enum cid_err rc;

	c->n = 0;
	rc = cid_txn_foreach(txn, c->db, (struct cid_str){"", 0}, collect, c);
	if (rc != CID_OK && rc != CID_ERR_TOOBIG)
		return rc;
	for (size_t i = 0; i < c->n; i++)
		if (cid_txn_del(txn, c->db, (struct cid_str){c->keys[i], c->lens[i]}) != CID_OK)
			return CID_ERR_STORE;
	return CID_OK;
}

void fuzz_store_clear(struct cid_store *s, enum cid_db db)
{
	static struct clear c; /* 32 KiB: too big for a fuzzer's stack frame */

	c.db = db;
	do {
		if (cid_store_update(s, clear_cb, &c) != CID_OK)
			abort();
	} while (c.n == CLEAR_BATCH);
}
