/* Test support: temporary stores, test contexts and their fixtures, cheap argon2 parameters. */
#include "support.h"

#include "audit.h"
#include "client.h"
#include "pseudonym.h"

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

struct cid_keyset *cid_test_keyset(struct cid_store *s, int64_t now)
{
	struct cid_keyset *ks = NULL;

	assert_int_equal(cid_keys_ensure(s, now), CID_OK);
	assert_int_equal(cid_keyset_load(s, now, &ks), CID_OK);
	return ks;
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

void cid_test_audit_open(struct cid_test_audit *a)
{
	a->s = cid_test_store_open(a->dir);
	assert_int_equal(cid_audit_issuer_record(a->s, "https://id.example", NULL), CID_OK);
	assert_int_equal(cid_audit_open(a->s, true, &a->log), CID_OK);
}

void cid_test_audit_close(struct cid_test_audit *a)
{
	cid_audit_close(a->log);
	cid_test_store_close(a->s, a->dir);
}

int cid_test_audit_setup(void **state)
{
	struct cid_test_audit *a = calloc(1, sizeof(*a));

	assert_non_null(a);
	cid_test_audit_open(a);
	*state = a;
	return 0;
}

int cid_test_audit_teardown(void **state)
{
	struct cid_test_audit *a = *state;

	cid_test_audit_close(a);
	free(a);
	return 0;
}

const char cid_test_svc_policy[] = "service svc\n"
				   "name.ja 子育て支援\n"
				   "name.en Childcare support\n"
				   "purpose fees\n"
				   "\ttext.ja 保育料を算定するため\n"
				   "\ttext.en To calculate your childcare fee\n"
				   "\tbasis consent\n"
				   "\tretention 1y\n"
				   "\tconsent_valid 1y\n"
				   "\tpermit given_name\n"
				   "\tpermit family_name\n"
				   "\tpermit email\n";

void cid_test_set(struct cid_config *cfg, const char *key, const char *value)
{
	char err[128];

	assert_int_equal(cid_config_set(cfg, key, value, err, sizeof(err)), CID_OK);
}

struct cid_config *cid_test_config(char dir[256])
{
	struct cid_config *cfg = NULL;

	cid_test_tmpdir(dir);
	assert_int_equal(cid_config_new(&cfg), CID_OK);
	cid_test_set(cfg, "store", dir);
	cfg->argon2 = cid_test_argon2;
	return cfg;
}

void cid_test_ctx_close(struct cid_ctx *ctx, struct cid_config *cfg, const char *dir)
{
	cid_ctx_close(ctx);
	cid_config_free(cfg);
	cid_test_rmdir(dir);
}

void cid_test_add_svc_client(struct cid_ctx *ctx, int64_t now)
{
	const char *uris[] = {"https://svc.example/cb"};
	struct cid_client_spec spec = {
	    .client_id = "svc",
	    .name = "Childcare (registration)",
	    .redirect_uris = uris,
	    .n_redirect_uris = 1,
	    .scopes = "openid profile email",
	};
	char *id = NULL;
	char *secret = NULL;

	assert_int_equal(cid_client_add(cid_ctx_store(ctx), &spec, now, &id, &secret), CID_OK);
	free(id);
	free(secret);
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

struct citizen_edit {
	const char *id;
	const char *name;
	json_t *value;
};

static enum cid_err citizen_edit_cb(struct cid_txn *txn, void *arg)
{
	struct citizen_edit *e = arg;
	enum cid_err rc = CID_OK;
	json_t *rec = NULL;

	CID_TRY(cid_txn_get_json(txn, CID_DB_CITIZENS, cid_str_of(e->id), &rec));
	if (e->value == NULL)
		json_object_del(rec, e->name);
	else
		CID_ENSURE(json_object_set(rec, e->name, e->value) == 0, CID_ERR_NOMEM);
	CID_TRY(cid_txn_put_json(txn, CID_DB_CITIZENS, cid_str_of(e->id), rec, 0));
out:
	json_decref(rec);
	return rc;
}

void cid_test_citizen_edit(struct cid_store *s, const char *account_id, const char *name,
			   json_t *value)
{
	struct citizen_edit e = {account_id, name, value};

	assert_int_equal(cid_store_update(s, citizen_edit_cb, &e), CID_OK);
	json_decref(value);
}

char *cid_test_pseudonym(struct cid_store *s, const char *account, const char *service,
			 const char *purpose)
{
	struct cid_txn *txn = NULL;
	struct cid_str v;
	char key[1024];
	char *out = NULL;
	int n = snprintf(key, sizeof(key), "a\n%s\n%s\n%s", account, service ? service : "",
			 purpose ? purpose : "");

	assert_true(n > 0 && (size_t)n < sizeof(key));
	assert_int_equal(cid_store_read_begin(s, &txn), CID_OK);
	if (cid_txn_get(txn, CID_DB_PSEUDONYMS, (struct cid_str){key, (size_t)n}, &v) == CID_OK)
		out = strndup(v.ptr, v.len);
	cid_store_read_end(txn);
	return out;
}

void cid_test_assert_citizen(struct cid_store *s, const json_t *e, const char *account)
{
	char *p =
	    cid_test_pseudonym(s, account, cid_json_str(e, "service"), cid_json_str(e, "purpose"));

	assert_non_null(p);
	assert_string_equal(cid_json_str(e, "citizen"), p);
	free(p);
}
