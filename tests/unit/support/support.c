/* Test support: temporary stores, test contexts and their fixtures, cheap argon2 parameters. */
#include "support.h"

#include "str.h"

#include "audit.h"
#include "client.h"
#include "jose.h"
#include "pseudonym.h"
#include "session.h"
#include "tenant.h"

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

/*
 * The signing keys of a test store, made once per test process: an RSA-2048
 * key takes seconds under valgrind, and almost every case of the keyed
 * suites begins with a new store. cid_keys_ensure made them in a store of
 * their own; each new store gets copies of its records, as cid_keys_ensure
 * would have written them (its one keys_version step included), so the
 * library sees exactly what it would have made itself. The code that makes
 * keys is tested where it is the subject (test_jose's ensure and rotation
 * cases, test_tenant's first open of a tenant, the server's start in every
 * end-to-end suite). Test processes are
 * single-threaded where they set up stores. A test that needs stores whose
 * keys differ asks for different sets, each made once too.
 */
static json_t *seed_keys[CID_TEST_KEY_SETS]; /* [record...] of each set */

static enum cid_err seed_collect_cb(struct cid_str key, struct cid_str val, void *arg)
{
	json_t *rec = NULL;
	enum cid_err rc = cid_store_parse_json(val, &rec);

	(void)key;
	if (rc != CID_OK)
		return rc;
	return json_array_append_new(arg, rec) == 0 ? CID_OK : CID_ERR_NOMEM;
}

static json_t *seed_make(int64_t now)
{
	char dir[256];
	struct cid_store *s = cid_test_store_open(dir);
	struct cid_txn *txn = NULL;
	json_t *recs = json_array();

	assert_non_null(recs);
	assert_int_equal(cid_keys_ensure(s, now), CID_OK);
	assert_int_equal(cid_store_read_begin(s, &txn), CID_OK);
	assert_int_equal(cid_txn_foreach(txn, CID_DB_KEYS, cid_str_of(""), seed_collect_cb, recs),
			 CID_OK);
	cid_store_read_end(txn);
	cid_test_store_close(s, dir);
	return recs;
}

struct seed_put {
	const json_t *recs;
	int64_t now;
};

static enum cid_err seed_put_cb(struct cid_txn *txn, void *arg)
{
	const struct seed_put *sp = arg;
	enum cid_err rc = CID_OK;
	size_t i;
	json_t *rec;
	json_t *copy = NULL;

	json_array_foreach(sp->recs, i, rec)
	{
		copy = json_deep_copy(rec);
		CID_ENSURE(copy != NULL &&
			       json_object_set_new(copy, "created_at", json_integer(sp->now)) == 0,
			   CID_ERR_NOMEM);
		CID_TRY(cid_txn_put_json(
		    txn, CID_DB_KEYS, cid_str_of(json_string_value(json_object_get(copy, "kid"))),
		    copy, CID_PUT_NOOVERWRITE));
		json_decref(copy);
		copy = NULL;
	}
	CID_TRY(cid_txn_counter_add(txn, "keys_version", "version", 1, NULL));
out:
	json_decref(copy);
	return rc;
}

/* Gives s, when it has no signing key yet, the keys of set as made at now. */
static void seed_store(struct cid_store *s, int64_t now, unsigned set)
{
	struct seed_put sp = {.now = now};
	json_t *list = NULL;

	assert_true(set < CID_TEST_KEY_SETS);
	assert_int_equal(cid_keys_list(s, &list), CID_OK);
	if (json_array_size(list) == 0) {
		if (seed_keys[set] == NULL)
			seed_keys[set] = seed_make(now);
		sp.recs = seed_keys[set];
		assert_int_equal(cid_store_update(s, seed_put_cb, &sp), CID_OK);
	}
	json_decref(list);
}

struct cid_keyset *cid_test_keyset(struct cid_store *s, int64_t now)
{
	struct cid_keyset *ks = NULL;

	seed_store(s, now, 0);
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

struct cid_config *cid_test_config_keyless(char dir[256])
{
	struct cid_config *cfg = NULL;

	cid_test_tmpdir(dir);
	assert_int_equal(cid_config_new(&cfg), CID_OK);
	cid_test_set(cfg, "store", dir);
	cfg->argon2 = cid_test_argon2;
	return cfg;
}

void cid_test_store_keys(const char *store_dir, unsigned set)
{
	struct cid_store *s = NULL;

	/* older than any key a test makes (created_at 0) */
	assert_int_equal(cid_store_open(store_dir, &s), CID_OK);
	seed_store(s, 0, set);
	cid_store_close(s);
}

void cid_test_tenant_keys(const struct cid_config *base, const char *name, unsigned set)
{
	struct cid_config *cfg = NULL;
	char err[256] = "";

	if (cid_tenant_config(base, name, &cfg, NULL, err, sizeof(err)) != CID_OK)
		fail_msg("tenant %s: %s", name, err);
	cid_test_store_keys(cfg->store_dir, set);
	cid_config_free(cfg);
}

struct cid_config *cid_test_config(char dir[256])
{
	struct cid_config *cfg = cid_test_config_keyless(dir);

	cid_test_store_keys(dir, 0);
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

void cid_test_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
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
	cid_test_write_file(path, text);
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

struct raw_write {
	enum cid_db db;
	const char *key;
	const char *val;
};

static enum cid_err raw_write_cb(struct cid_txn *txn, void *arg)
{
	const struct raw_write *w = arg;

	if (w->key == NULL)
		return cid_txn_clear(txn, w->db);
	if (w->val == NULL)
		return cid_txn_del(txn, w->db, cid_str_of(w->key));
	return cid_txn_put(txn, w->db, cid_str_of(w->key), cid_str_of(w->val), 0);
}

void cid_test_raw_write(struct cid_store *s, enum cid_db db, const char *key, const char *val)
{
	struct raw_write w = {db, key, val};

	assert_int_equal(cid_store_update(s, raw_write_cb, &w), CID_OK);
}

void cid_test_session_sid(struct cid_store *s, const char *account, int64_t now,
			  char sid[CID_TOKEN_CHARS + 1])
{
	static const char *const amr[] = {"pwd"};
	char cookie[CID_TOKEN_CHARS + 1];
	struct cid_session sess;

	assert_int_equal(cid_session_new(s, account, CID_ACR_PASSWORD, amr, 1, now,
					 CID_TEST_SESSION_TTL, cookie, &sess),
			 CID_OK);
	memcpy(sid, sess.sid, CID_TOKEN_CHARS + 1);
}

uint64_t cid_test_count(struct cid_store *s, enum cid_db db)
{
	struct cid_txn *txn = NULL;
	uint64_t n = 0;

	assert_int_equal(cid_store_read_begin(s, &txn), CID_OK);
	assert_int_equal(cid_txn_count(txn, db, &n), CID_OK);
	cid_store_read_end(txn);
	return n;
}

struct index_exact {
	enum cid_err (*expect_fn)(struct cid_str key, struct cid_str val, void *want);
	json_t *want;
	size_t records;
};

static enum cid_err expect_record(struct cid_str key, struct cid_str val, void *arg)
{
	struct index_exact *x = arg;

	x->records++;
	return x->expect_fn(key, val, x->want);
}

/* Ticks an index key off want: it must be there, once, with its value. */
static enum cid_err tick_key(struct cid_str key, struct cid_str val, void *arg)
{
	json_t *want = json_object_getn(arg, key.ptr, key.len);

	assert_non_null(want);
	assert_true(cid_str_eq(val, json_string_value(want)));
	assert_int_equal(json_object_deln(arg, key.ptr, key.len), 0);
	return CID_OK;
}

size_t cid_test_assert_index_exact(struct cid_store *s, enum cid_db data, enum cid_db index,
				   enum cid_err (*expect_fn)(struct cid_str key, struct cid_str val,
							     void *want))
{
	struct index_exact x = {.expect_fn = expect_fn, .want = json_object()};
	struct cid_txn *txn = NULL;

	assert_non_null(x.want);
	assert_int_equal(cid_store_read_begin(s, &txn), CID_OK);
	assert_int_equal(cid_txn_foreach(txn, data, cid_str_of(""), expect_record, &x), CID_OK);
	assert_int_equal(cid_txn_foreach(txn, index, cid_str_of(""), tick_key, x.want), CID_OK);
	cid_store_read_end(txn);
	assert_int_equal(json_object_size(x.want), 0);
	json_decref(x.want);
	return x.records;
}

void cid_test_signed_post(struct cid_request *req, const char *cookie, const char *other,
			  const char *csrf, enum cid_test_sign sign, const char *form, int64_t now)
{
	char token[CID_TOKEN_CHARS + 1] = "";
	char body[1024];
	int n;

	*req = (struct cid_request){.post = true,
				    .form_content_type = true,
				    .session_cookie = sign == CID_TEST_NO_SESSION ? NULL : cookie,
				    .csrf_cookie = sign == CID_TEST_NO_CSRF_COOKIE ? NULL : csrf,
				    .now = now,
				    .remote_addr = "127.0.0.1"};
	if (sign == CID_TEST_OTHER_SESSION)
		cid_session_form_token(other, csrf, token);
	else if (sign == CID_TEST_SIGNED || sign == CID_TEST_NO_CSRF_COOKIE)
		cid_session_form_token(cookie, csrf, token);
	n = snprintf(body, sizeof(body), "%s%s%s", form, token[0] != '\0' ? "&csrf=" : "", token);
	assert_true(n > 0 && (size_t)n < sizeof(body));
	assert_int_equal(cid_params_parse_form(&req->params, body, (size_t)n), CID_OK);
}
