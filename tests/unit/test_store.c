/*
 * store: the LMDB environment on a real directory: schema versions, the error
 * contract of each call, prefix iteration, aborted updates, map growth, and
 * per-thread read transactions reused while a writer grows the map.
 */
#include "bounds.h"
#include "support.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define MIB	      ((size_t)1 << 20)
#define BIG_VALUES    100 /* 1 MiB values: well past CID_STORE_MAP_INITIAL */
#define READERS	      4
#define EAGER_READERS 8
#define SMALL_COMMITS 1500

static struct cid_str str_n(const char *p, size_t n)
{
	return (struct cid_str){p, n};
}

/* One write, run through cid_store_update. */
struct put {
	enum cid_db db;
	struct cid_str key;
	struct cid_str val;
	unsigned flags;
};

static enum cid_err put_cb(struct cid_txn *txn, void *arg)
{
	const struct put *p = arg;

	return cid_txn_put(txn, p->db, p->key, p->val, p->flags);
}

static enum cid_err put(struct cid_store *s, enum cid_db db, const char *key, const char *val)
{
	struct put p = {db, cid_str_of(key), cid_str_of(val), 0};

	return cid_store_update(s, put_cb, &p);
}

static enum cid_err del_cb(struct cid_txn *txn, void *arg)
{
	const struct put *p = arg;

	return cid_txn_del(txn, p->db, p->key);
}

/* Reads key in a fresh read transaction; on CID_OK copies the value NUL-terminated to buf. */
static enum cid_err get(struct cid_store *s, enum cid_db db, const char *key, char *buf,
			size_t bufsz)
{
	struct cid_txn *txn = NULL;
	struct cid_str val;
	enum cid_err rc = cid_store_read_begin(s, &txn);

	assert_int_equal(rc, CID_OK);
	rc = cid_txn_get(txn, db, cid_str_of(key), &val);
	if (rc == CID_OK) {
		assert_true(val.len < bufsz);
		memcpy(buf, val.ptr, val.len);
		buf[val.len] = '\0';
	}
	cid_store_read_end(txn);
	return rc;
}

static void test_open_creates_private_dir_and_schema(void **state)
{
	char base[256], dir[300], val[64];
	struct cid_store *s = NULL;
	struct stat st;

	(void)state;
	cid_test_tmpdir(base);
	assert_true(snprintf(dir, sizeof(dir), "%s/store", base) < (int)sizeof(dir));
	assert_int_equal(cid_store_open(dir, &s), CID_OK);
	assert_int_equal(stat(dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(get(s, CID_DB_META, "schema", val, sizeof(val)), CID_OK);
	assert_string_equal(val, "{\"version\":1}");
	assert_true(cid_store_map_size(s) >= CID_STORE_MAP_INITIAL);
	cid_store_close(s);
	cid_test_rmdir(base);
}

static void test_open_refuses_unusable_directory(void **state)
{
	char base[256], path[300];
	struct cid_store *s = NULL;
	FILE *fp;

	(void)state;
	cid_test_tmpdir(base);
	assert_true(snprintf(path, sizeof(path), "%s/no/such", base) < (int)sizeof(path));
	assert_int_equal(cid_store_open(path, &s), CID_ERR_IO);
	assert_null(s);
	assert_true(snprintf(path, sizeof(path), "%s/file", base) < (int)sizeof(path));
	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(cid_store_open(path, &s), CID_ERR_IO);
	assert_null(s);
	assert_int_equal(cid_store_open("", &s), CID_ERR_IO);
	assert_null(s);
	cid_test_rmdir(base);
}

static void test_reopen_keeps_data(void **state)
{
	char dir[256], val[64];
	struct cid_store *s = cid_test_store_open(dir);

	(void)state;
	assert_int_equal(put(s, CID_DB_CLIENTS, "rp1", "{\"a\":1}"), CID_OK);
	cid_store_close(s);
	s = NULL;
	assert_int_equal(cid_store_open(dir, &s), CID_OK);
	assert_int_equal(get(s, CID_DB_CLIENTS, "rp1", val, sizeof(val)), CID_OK);
	assert_string_equal(val, "{\"a\":1}");
	assert_int_equal(get(s, CID_DB_META, "schema", val, sizeof(val)), CID_OK);
	assert_string_equal(val, "{\"version\":1}");
	cid_test_store_close(s, dir);
}

static void test_reopen_checks_schema_version(void **state)
{
	static const struct {
		const char *schema;
		enum cid_err want;
	} rows[] = {
	    {"{\"version\":1}", CID_OK},
	    {"{\"version\":2}", CID_ERR_CONFIG}, /* newer build wrote it */
	    {"{\"version\":99}", CID_ERR_CONFIG},
	    {"{\"version\":0}", CID_ERR_STORE},
	    {"{\"version\":\"1\"}", CID_ERR_STORE},
	    {"{}", CID_ERR_STORE},
	    {"[1]", CID_ERR_STORE},
	    {"not json", CID_ERR_STORE},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char dir[256];
		struct cid_store *s = cid_test_store_open(dir);

		assert_int_equal(put(s, CID_DB_META, "schema", rows[i].schema), CID_OK);
		cid_store_close(s);
		s = NULL;
		assert_int_equal(cid_store_open(dir, &s), rows[i].want);
		assert_true((s != NULL) == (rows[i].want == CID_OK));
		cid_test_store_close(s, dir);
	}
}

static void test_put_get_del_round_trip_per_database(void **state)
{
	struct cid_test_store *f = *state;
	char val[64];

	for (int db = 0; db < CID_DB_COUNT; db++) {
		char key[32], v[32];

		assert_true(snprintf(key, sizeof(key), "key%d", db) < (int)sizeof(key));
		assert_true(snprintf(v, sizeof(v), "value of %d", db) < (int)sizeof(v));
		assert_int_equal(put(f->s, (enum cid_db)db, key, v), CID_OK);
	}
	for (int db = 0; db < CID_DB_COUNT; db++) {
		char key[32], v[32];

		assert_true(snprintf(key, sizeof(key), "key%d", db) < (int)sizeof(key));
		assert_true(snprintf(v, sizeof(v), "value of %d", db) < (int)sizeof(v));
		assert_int_equal(get(f->s, (enum cid_db)db, key, val, sizeof(val)), CID_OK);
		assert_string_equal(val, v);
		/* databases are separate namespaces */
		assert_int_equal(
		    get(f->s, (enum cid_db)((db + 1) % CID_DB_COUNT), key, val, sizeof(val)),
		    CID_ERR_NOTFOUND);
	}
	assert_int_equal(put(f->s, CID_DB_CODES, "key6", "replaced"), CID_OK);
	assert_int_equal(get(f->s, CID_DB_CODES, "key6", val, sizeof(val)), CID_OK);
	assert_string_equal(val, "replaced");

	struct put d = {.db = CID_DB_CODES, .key = cid_str_of("key6")};
	assert_int_equal(cid_store_update(f->s, del_cb, &d), CID_OK);
	assert_int_equal(get(f->s, CID_DB_CODES, "key6", val, sizeof(val)), CID_ERR_NOTFOUND);
}

/* Keys and values are bytes: NULs inside either survive. */
static void test_binary_keys_and_values_round_trip(void **state)
{
	struct cid_test_store *f = *state;
	static const char key[] = {'a', '\0', 'b'};
	static const char bytes[] = {'\0', '\xff', '\n', '\0'};
	struct put p = {CID_DB_META, str_n(key, sizeof(key)), str_n(bytes, sizeof(bytes)), 0};
	struct cid_txn *txn = NULL;
	struct cid_str val;

	assert_int_equal(cid_store_update(f->s, put_cb, &p), CID_OK);
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_txn_get(txn, CID_DB_META, str_n(key, sizeof(key)), &val), CID_OK);
	assert_int_equal(val.len, sizeof(bytes));
	assert_memory_equal(val.ptr, bytes, sizeof(bytes));
	assert_int_equal(cid_txn_get(txn, CID_DB_META, str_n(key, 1), &val), CID_ERR_NOTFOUND);
	cid_store_read_end(txn);
}

static enum cid_err put_json_cb(struct cid_txn *txn, void *arg)
{
	return cid_txn_put_json(txn, CID_DB_CITIZENS, cid_str_of("c1"), arg, 0);
}

static void test_put_json_is_compact_with_sorted_keys(void **state)
{
	struct cid_test_store *f = *state;
	json_t *obj =
	    json_pack("{s:i, s:s, s:{s:b, s:n}}", "zeta", 1, "alpha", "x", "mid", "y", 1, "b", "");
	struct cid_txn *txn = NULL;
	json_t *back = NULL;
	char val[128];

	assert_non_null(obj);
	assert_int_equal(cid_store_update(f->s, put_json_cb, obj), CID_OK);
	assert_int_equal(get(f->s, CID_DB_CITIZENS, "c1", val, sizeof(val)), CID_OK);
	assert_string_equal(val, "{\"alpha\":\"x\",\"mid\":{\"b\":null,\"y\":true},\"zeta\":1}");
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_txn_get_json(txn, CID_DB_CITIZENS, cid_str_of("c1"), &back), CID_OK);
	cid_store_read_end(txn);
	assert_true(json_equal(obj, back));
	json_decref(back);
	json_decref(obj);
}

static void test_put_json_refuses_non_objects(void **state)
{
	struct cid_test_store *f = *state;
	json_t *rows[] = {json_array(), json_string("s"), json_integer(1), json_null()};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		assert_non_null(rows[i]);
		assert_int_equal(cid_store_update(f->s, put_json_cb, rows[i]), CID_ERR_INVALID);
		json_decref(rows[i]);
	}
}

static void test_get_json_requires_one_object(void **state)
{
	struct cid_test_store *f = *state;

	static const struct {
		const char *stored;
		enum cid_err want;
	} rows[] = {
	    {"{}", CID_OK},
	    {"{\"a\":[1,2]}", CID_OK},
	    {"[1]", CID_ERR_STORE},
	    {"\"str\"", CID_ERR_STORE},
	    {"42", CID_ERR_STORE},
	    {"{\"a\":1,\"a\":2}", CID_ERR_STORE}, /* duplicate member */
	    {"{\"a\":1", CID_ERR_STORE},
	    {"{} {}", CID_ERR_STORE},
	    {"", CID_ERR_STORE},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct cid_txn *txn = NULL;
		json_t *obj = NULL;

		assert_int_equal(put(f->s, CID_DB_CLIENTS, "c", rows[i].stored), CID_OK);
		assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
		assert_int_equal(cid_txn_get_json(txn, CID_DB_CLIENTS, cid_str_of("c"), &obj),
				 rows[i].want);
		assert_true((obj != NULL) == (rows[i].want == CID_OK));
		/* a value from cid_txn_get or a scan parses the same way */
		json_t *parsed = NULL;
		assert_int_equal(cid_store_parse_json(cid_str_of(rows[i].stored), &parsed),
				 rows[i].want);
		assert_true((parsed != NULL) == (rows[i].want == CID_OK));
		json_decref(parsed);
		assert_int_equal(cid_txn_get_json(txn, CID_DB_CLIENTS, cid_str_of("absent"), &obj),
				 CID_ERR_NOTFOUND);
		cid_store_read_end(txn);
		json_decref(obj);
	}
}

/* NOOVERWRITE refuses, keeps the old value, and leaves the transaction usable. */
static enum cid_err nooverwrite_cb(struct cid_txn *txn, void *arg)
{
	enum cid_err *seen = arg;

	*seen = cid_txn_put(txn, CID_DB_CODES, cid_str_of("k"), cid_str_of("second"),
			    CID_PUT_NOOVERWRITE);
	return cid_txn_put(txn, CID_DB_CODES, cid_str_of("other"), cid_str_of("x"),
			   CID_PUT_NOOVERWRITE);
}

static void test_put_nooverwrite_reports_exists(void **state)
{
	struct cid_test_store *f = *state;
	enum cid_err seen = CID_OK;
	char val[32];

	assert_int_equal(put(f->s, CID_DB_CODES, "k", "first"), CID_OK);
	assert_int_equal(cid_store_update(f->s, nooverwrite_cb, &seen), CID_OK);
	assert_int_equal(seen, CID_ERR_EXISTS);
	assert_int_equal(get(f->s, CID_DB_CODES, "k", val, sizeof(val)), CID_OK);
	assert_string_equal(val, "first");
	assert_int_equal(get(f->s, CID_DB_CODES, "other", val, sizeof(val)), CID_OK);
}

/* APPEND takes keys after the last and refuses one before it, or equal to it. */
static enum cid_err append_cb(struct cid_txn *txn, void *arg)
{
	enum cid_err *seen = arg;
	static const char *const keys[] = {"b", "c", "c", "a", "d"};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		seen[i] = cid_txn_put(txn, CID_DB_CODES, cid_str_of(keys[i]), cid_str_of(keys[i]),
				      CID_PUT_APPEND);
	return CID_OK;
}

static void test_put_append_takes_keys_in_order(void **state)
{
	struct cid_test_store *f = *state;
	enum cid_err seen[5];

	const enum cid_err want[5] = {CID_OK, CID_OK, CID_ERR_EXISTS, CID_ERR_EXISTS, CID_OK};

	char val[32];

	assert_int_equal(put(f->s, CID_DB_CODES, "a", "first"), CID_OK);
	assert_int_equal(cid_store_update(f->s, append_cb, seen), CID_OK);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(seen[i], want[i]);
	assert_int_equal(get(f->s, CID_DB_CODES, "a", val, sizeof(val)), CID_OK);
	assert_string_equal(val, "first");
	assert_int_equal(get(f->s, CID_DB_CODES, "d", val, sizeof(val)), CID_OK);
	assert_string_equal(val, "d");
}

static void test_del_missing_is_notfound(void **state)
{
	struct cid_test_store *f = *state;
	struct put d = {.db = CID_DB_SESSIONS, .key = cid_str_of("never")};

	assert_int_equal(cid_store_update(f->s, del_cb, &d), CID_ERR_NOTFOUND);
	d.key = cid_str_of("");
	assert_int_equal(cid_store_update(f->s, del_cb, &d), CID_ERR_NOTFOUND);
}

static void test_writes_in_read_txn_are_invalid(void **state)
{
	struct cid_test_store *f = *state;
	struct cid_txn *txn = NULL;
	json_t *obj = json_object();
	char val[8];

	assert_non_null(obj);
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_txn_put(txn, CID_DB_META, cid_str_of("k"), cid_str_of("v"), 0),
			 CID_ERR_INVALID);
	assert_int_equal(cid_txn_put_json(txn, CID_DB_META, cid_str_of("k"), obj, 0),
			 CID_ERR_INVALID);
	assert_int_equal(cid_txn_del(txn, CID_DB_META, cid_str_of("schema")), CID_ERR_INVALID);
	cid_store_read_end(txn);
	json_decref(obj);
	assert_int_equal(get(f->s, CID_DB_META, "k", val, sizeof(val)), CID_ERR_NOTFOUND);
}

static enum cid_err clear_cb(struct cid_txn *txn, void *arg)
{
	uint64_t *n = arg;
	enum cid_err rc = cid_txn_clear(txn, CID_DB_SESSIONS);

	/* the transaction sees its own clear */
	if (rc == CID_OK)
		rc = cid_txn_count(txn, CID_DB_SESSIONS, n);
	return rc;
}

/* A count is the number of records, in O(1); a clear empties one database and no other. */
static void test_count_and_clear(void **state)
{
	struct cid_test_store *f = *state;
	struct cid_txn *txn = NULL;
	uint64_t n = 99;
	char val[8];

	assert_int_equal(put(f->s, CID_DB_SESSIONS, "a", "1"), CID_OK);
	assert_int_equal(put(f->s, CID_DB_SESSIONS, "b", "2"), CID_OK);
	assert_int_equal(put(f->s, CID_DB_CODES, "c", "3"), CID_OK);
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_txn_count(txn, CID_DB_SESSIONS, &n), CID_OK);
	assert_int_equal(n, 2);
	assert_int_equal(cid_txn_count(txn, CID_DB_REVOKED, &n), CID_OK);
	assert_int_equal(n, 0);
	assert_int_equal(cid_txn_count(txn, CID_DB_COUNT, &n), CID_ERR_STORE);
	/* a read transaction clears nothing */
	assert_int_equal(cid_txn_clear(txn, CID_DB_SESSIONS), CID_ERR_INVALID);
	cid_store_read_end(txn);
	n = 99;
	assert_int_equal(cid_store_update(f->s, clear_cb, &n), CID_OK);
	assert_int_equal(n, 0);
	assert_int_equal(get(f->s, CID_DB_SESSIONS, "a", val, sizeof(val)), CID_ERR_NOTFOUND);
	assert_int_equal(get(f->s, CID_DB_CODES, "c", val, sizeof(val)), CID_OK);
	/* the database stays: it takes records again */
	assert_int_equal(put(f->s, CID_DB_SESSIONS, "a", "1"), CID_OK);
	assert_int_equal(get(f->s, CID_DB_SESSIONS, "a", val, sizeof(val)), CID_OK);
}

/*
 * Indexes a record of CID_DB_SESSIONS under its value in CID_DB_CODES; "bad"
 * is damage that stops the build, "drop" a record to delete.
 */
static enum cid_err index_by_value(struct cid_txn *txn, struct cid_str key, struct cid_str val,
				   void *arg)
{
	(void)arg;
	if (val.len == 3 && memcmp(val.ptr, "bad", 3) == 0)
		return CID_ERR_STORE;
	if (val.len == 4 && memcmp(val.ptr, "drop", 4) == 0)
		return CID_ERR_INVALID;
	return cid_txn_put(txn, CID_DB_CODES, val, key, 0);
}

/* Two keys per record: its value, and its value after "2". */
static enum cid_err index_twice(struct cid_txn *txn, struct cid_str key, struct cid_str val,
				void *arg)
{
	enum cid_err rc = index_by_value(txn, key, val, arg);
	char second[16];

	if (rc != CID_OK)
		return rc;
	assert_true(val.len + 1 < sizeof(second));
	second[0] = '2';
	memcpy(second + 1, val.ptr, val.len);
	return cid_txn_put(txn, CID_DB_CODES, (struct cid_str){second, val.len + 1}, key, 0);
}

static void test_index_ensure(void **state)
{
	struct cid_test_store *f = *state;
	size_t built = 99;
	char val[8];

	assert_int_equal(put(f->s, CID_DB_SESSIONS, "a", "1"), CID_OK);
	assert_int_equal(put(f->s, CID_DB_SESSIONS, "b", "2"), CID_OK);
	/* no index yet: built from every record */
	assert_int_equal(cid_store_index_ensure(f->s, CID_DB_SESSIONS, CID_DB_CODES, 1,
						index_by_value, NULL, &built),
			 CID_OK);
	assert_int_equal(built, 2);
	assert_int_equal(get(f->s, CID_DB_CODES, "2", val, sizeof(val)), CID_OK);
	assert_string_equal(val, "b");
	/* whole: nothing done */
	assert_int_equal(cid_store_index_ensure(f->s, CID_DB_SESSIONS, CID_DB_CODES, 1,
						index_by_value, NULL, &built),
			 CID_OK);
	assert_int_equal(built, 0);
	/* a record written without its key (an older build): cleared and built again */
	assert_int_equal(put(f->s, CID_DB_SESSIONS, "c", "3"), CID_OK);
	assert_int_equal(put(f->s, CID_DB_CODES, "stale", "x"), CID_OK);
	assert_int_equal(put(f->s, CID_DB_CODES, "stale2", "y"), CID_OK);
	assert_int_equal(cid_store_index_ensure(f->s, CID_DB_SESSIONS, CID_DB_CODES, 1,
						index_by_value, NULL, &built),
			 CID_OK);
	assert_int_equal(built, 3);
	assert_int_equal(get(f->s, CID_DB_CODES, "stale", val, sizeof(val)), CID_ERR_NOTFOUND);
	assert_int_equal(get(f->s, CID_DB_CODES, "3", val, sizeof(val)), CID_OK);
	/* a damaged record: its error, and the index as it was (the record sorts first, so a
	   build that committed on the error would leave the index empty) */
	assert_int_equal(put(f->s, CID_DB_SESSIONS, "!damaged", "bad"), CID_OK);
	assert_int_equal(cid_store_index_ensure(f->s, CID_DB_SESSIONS, CID_DB_CODES, 1,
						index_by_value, NULL, &built),
			 CID_ERR_STORE);
	assert_int_equal(get(f->s, CID_DB_CODES, "3", val, sizeof(val)), CID_OK);
	assert_int_equal(cid_store_index_ensure(f->s, CID_DB_SESSIONS, CID_DB_SESSIONS, 1,
						index_by_value, NULL, NULL),
			 CID_ERR_INVALID);
	assert_int_equal(cid_store_index_ensure(f->s, CID_DB_SESSIONS, CID_DB_CODES, 0,
						index_by_value, NULL, NULL),
			 CID_ERR_INVALID);
}

static void test_index_ensure_two_keys_and_drop(void **state)
{
	struct cid_test_store *f = *state;
	size_t built = 99;
	uint64_t n = 99;
	struct cid_txn *txn = NULL;
	char val[8];

	assert_int_equal(put(f->s, CID_DB_SESSIONS, "!first", "drop"), CID_OK);
	assert_int_equal(put(f->s, CID_DB_SESSIONS, "a", "1"), CID_OK);
	assert_int_equal(put(f->s, CID_DB_SESSIONS, "b", "2"), CID_OK);
	assert_int_equal(put(f->s, CID_DB_SESSIONS, "z", "drop"), CID_OK);
	/* two keys for each record kept; the records to drop deleted, and their keys none */
	assert_int_equal(cid_store_index_ensure(f->s, CID_DB_SESSIONS, CID_DB_CODES, 2, index_twice,
						NULL, &built),
			 CID_OK);
	assert_int_equal(built, 4);
	assert_int_equal(get(f->s, CID_DB_SESSIONS, "!first", val, sizeof(val)), CID_ERR_NOTFOUND);
	assert_int_equal(get(f->s, CID_DB_SESSIONS, "z", val, sizeof(val)), CID_ERR_NOTFOUND);
	assert_int_equal(get(f->s, CID_DB_CODES, "21", val, sizeof(val)), CID_OK);
	assert_string_equal(val, "a");
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_txn_count(txn, CID_DB_SESSIONS, &n), CID_OK);
	assert_int_equal(n, 2);
	assert_int_equal(cid_txn_count(txn, CID_DB_CODES, &n), CID_OK);
	assert_int_equal(n, 4);
	cid_store_read_end(txn);
	/* twice the records: whole, nothing done */
	assert_int_equal(cid_store_index_ensure(f->s, CID_DB_SESSIONS, CID_DB_CODES, 2, index_twice,
						NULL, &built),
			 CID_OK);
	assert_int_equal(built, 0);
	/* one key short: built again */
	assert_int_equal(put(f->s, CID_DB_SESSIONS, "c", "3"), CID_OK);
	assert_int_equal(put(f->s, CID_DB_CODES, "3", "c"), CID_OK);
	assert_int_equal(cid_store_index_ensure(f->s, CID_DB_SESSIONS, CID_DB_CODES, 2, index_twice,
						NULL, &built),
			 CID_OK);
	assert_int_equal(built, 6);
	assert_int_equal(get(f->s, CID_DB_CODES, "23", val, sizeof(val)), CID_OK);
	/* a record to drop and one that stops the build: nothing deleted, nothing written */
	assert_int_equal(put(f->s, CID_DB_SESSIONS, "!again", "drop"), CID_OK);
	assert_int_equal(put(f->s, CID_DB_SESSIONS, "d", "bad"), CID_OK);
	assert_int_equal(cid_store_index_ensure(f->s, CID_DB_SESSIONS, CID_DB_CODES, 2, index_twice,
						NULL, &built),
			 CID_ERR_STORE);
	assert_int_equal(get(f->s, CID_DB_SESSIONS, "!again", val, sizeof(val)), CID_OK);
	assert_int_equal(get(f->s, CID_DB_CODES, "23", val, sizeof(val)), CID_OK);
}

/* One call per row on a key of len bytes. */
enum op { OP_PUT, OP_GET, OP_DEL };

struct key_case {
	size_t len;
	enum op op;
	enum cid_err want;
};

static enum cid_err key_case_cb(struct cid_txn *txn, void *arg)
{
	const struct key_case *c = arg;
	char key[CID_STORE_MAX_KEY + 2];
	struct cid_str val;

	memset(key, 'k', sizeof(key));
	switch (c->op) {
	case OP_PUT: return cid_txn_put(txn, CID_DB_KEYS, str_n(key, c->len), cid_str_of("v"), 0);
	case OP_GET: return cid_txn_get(txn, CID_DB_KEYS, str_n(key, c->len), &val);
	case OP_DEL: return cid_txn_del(txn, CID_DB_KEYS, str_n(key, c->len));
	default: return CID_ERR_INVALID;
	}
}

static void test_key_length_limits(void **state)
{
	struct cid_test_store *f = *state;
	static const struct key_case rows[] = {
	    {CID_STORE_MAX_KEY + 1, OP_PUT, CID_ERR_TOOBIG},
	    {CID_STORE_MAX_KEY + 1, OP_GET, CID_ERR_TOOBIG},
	    {CID_STORE_MAX_KEY + 1, OP_DEL, CID_ERR_NOTFOUND},
	    {0, OP_PUT, CID_ERR_INVALID},
	    {0, OP_GET, CID_ERR_NOTFOUND},
	    {0, OP_DEL, CID_ERR_NOTFOUND},
	    {CID_STORE_MAX_KEY, OP_GET, CID_ERR_NOTFOUND},
	    {CID_STORE_MAX_KEY, OP_PUT, CID_OK},
	    {CID_STORE_MAX_KEY, OP_GET, CID_OK},
	    {CID_STORE_MAX_KEY, OP_DEL, CID_OK},
	    {1, OP_PUT, CID_OK},
	    {1, OP_GET, CID_OK},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct key_case c = rows[i];

		assert_int_equal(cid_store_update(f->s, key_case_cb, &c), c.want);
	}
}

/* Collects keys as "k1,k2,"; stops with CID_ERR_DENIED after stop_after keys (0: never). */
struct collect {
	char keys[256];
	size_t n;
	size_t stop_after;
};

static enum cid_err collect_cb(struct cid_str key, struct cid_str val, void *arg)
{
	struct collect *c = arg;
	size_t used = strlen(c->keys);

	assert_true(used + key.len + 2 < sizeof(c->keys));
	memcpy(c->keys + used, key.ptr, key.len);
	c->keys[used + key.len] = ',';
	c->keys[used + key.len + 1] = '\0';
	assert_int_equal(val.len, 1);
	c->n++;
	return c->stop_after != 0 && c->n == c->stop_after ? CID_ERR_DENIED : CID_OK;
}

static void test_foreach_visits_prefix_in_key_order(void **state)
{
	struct cid_test_store *f = *state;
	static const char *const keys[] = {"b:2", "a:1", "b:1", "b", "b:3", "ba", "c:1", "a:"};

	static const struct {
		const char *prefix;
		size_t stop_after;
		enum cid_err want;
		const char *visited;
	} rows[] = {
	    {"", 0, CID_OK, "a:,a:1,b,b:1,b:2,b:3,ba,c:1,"},
	    {"b:", 0, CID_OK, "b:1,b:2,b:3,"},
	    {"b", 0, CID_OK, "b,b:1,b:2,b:3,ba,"},
	    {"a:", 0, CID_OK, "a:,a:1,"},
	    {"a:1", 0, CID_OK, "a:1,"},
	    {"c:1x", 0, CID_OK, ""},
	    {"0", 0, CID_OK, ""},
	    {"zz", 0, CID_OK, ""},
	    {"b:", 2, CID_ERR_DENIED, "b:1,b:2,"}, /* stops early with fn's error */
	    {"", 1, CID_ERR_DENIED, "a:,"},
	};
	struct cid_txn *txn = NULL;
	char big[CID_STORE_MAX_KEY + 1];

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		assert_int_equal(put(f->s, CID_DB_THROTTLE, keys[i], "v"), CID_OK);
	assert_int_equal(put(f->s, CID_DB_PAIRWISE, "b:0", "v"), CID_OK); /* another database */
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct collect c = {.stop_after = rows[i].stop_after};

		assert_int_equal(cid_txn_foreach(txn, CID_DB_THROTTLE, cid_str_of(rows[i].prefix),
						 collect_cb, &c),
				 rows[i].want);
		assert_string_equal(c.keys, rows[i].visited);
	}
	memset(big, 'b', sizeof(big));
	struct collect c = {0};
	assert_int_equal(
	    cid_txn_foreach(txn, CID_DB_THROTTLE, str_n(big, sizeof(big)), collect_cb, &c), CID_OK);
	assert_int_equal(c.n, 0);
	cid_store_read_end(txn);
}

static void test_foreach_range_walks_either_way_from_start(void **state)
{
	struct cid_test_store *f = *state;
	static const char *const keys[] = {"b:2", "a:1", "b:1", "b",	 "b:3",
					   "ba",  "c:1", "a:",	"b\xff", "b\xff\xff"};

	static const struct {
		const char *prefix, *start;
		bool reverse;
		size_t stop_after;
		enum cid_err want;
		const char *visited;
	} rows[] = {
	    {"", "", false, 0, CID_OK, "a:,a:1,b,b:1,b:2,b:3,ba,b\xff,b\xff\xff,c:1,"},
	    {"", "", true, 0, CID_OK, "c:1,b\xff\xff,b\xff,ba,b:3,b:2,b:1,b,a:1,a:,"},
	    {"b:", "", true, 0, CID_OK, "b:3,b:2,b:1,"},
	    {"b:", "b:2", true, 0, CID_OK, "b:2,b:1,"},
	    {"b:", "b:15", true, 0, CID_OK, "b:1,"},	    /* between keys: the one below */
	    {"b:", "b:9", true, 0, CID_OK, "b:3,b:2,b:1,"}, /* past the last */
	    {"b:", "b:0", true, 0, CID_OK, ""},		    /* below the first */
	    {"b:", "b:2", false, 0, CID_OK, "b:2,b:3,"},
	    {"b:", "b:15", false, 0, CID_OK, "b:2,b:3,"},
	    {"b\xff", "", true, 0, CID_OK, "b\xff\xff,b\xff,"}, /* a prefix ending in 0xff */
	    {"c:", "", true, 0, CID_OK, "c:1,"},		/* the last keys of the database */
	    {"zz", "", true, 0, CID_OK, ""},
	    {"0", "", true, 0, CID_OK, ""},
	    {"b:", "", true, 2, CID_ERR_DENIED, "b:3,b:2,"},
	};
	struct cid_txn *txn = NULL;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		assert_int_equal(put(f->s, CID_DB_THROTTLE, keys[i], "v"), CID_OK);
	assert_int_equal(put(f->s, CID_DB_PAIRWISE, "b:0", "v"), CID_OK); /* another database */
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct collect c = {.stop_after = rows[i].stop_after};

		assert_int_equal(cid_txn_foreach_range(
				     txn, CID_DB_THROTTLE, cid_str_of(rows[i].prefix),
				     cid_str_of(rows[i].start), rows[i].reverse, collect_cb, &c),
				 rows[i].want);
		if (strcmp(c.keys, rows[i].visited) != 0)
			fail_msg("row %zu: visited %s want %s", i, c.keys, rows[i].visited);
	}
	cid_store_read_end(txn);
}

static enum cid_err foreach_in_update_cb(struct cid_txn *txn, void *arg)
{
	enum cid_err rc = cid_txn_put(txn, CID_DB_GRANTS, cid_str_of("g:new"), cid_str_of("v"), 0);

	if (rc != CID_OK)
		return rc;
	return cid_txn_foreach(txn, CID_DB_GRANTS, cid_str_of("g:"), collect_cb, arg);
}

static void test_foreach_in_update_sees_own_writes(void **state)
{
	struct cid_test_store *f = *state;
	struct collect c = {0};

	assert_int_equal(put(f->s, CID_DB_GRANTS, "g:old", "v"), CID_OK);
	assert_int_equal(cid_store_update(f->s, foreach_in_update_cb, &c), CID_OK);
	assert_string_equal(c.keys, "g:new,g:old,");
}

static enum cid_err write_then_fail_cb(struct cid_txn *txn, void *arg)
{
	enum cid_err rc;

	(void)arg;
	rc = cid_txn_put(txn, CID_DB_GRANTS, cid_str_of("g1"), cid_str_of("{}"), 0);
	if (rc == CID_OK)
		rc = cid_txn_del(txn, CID_DB_GRANTS, cid_str_of("keep"));
	return rc == CID_OK ? CID_ERR_REVOKED : rc;
}

static void test_update_callback_error_aborts_every_write(void **state)
{
	struct cid_test_store *f = *state;
	char val[16];

	assert_int_equal(put(f->s, CID_DB_GRANTS, "keep", "kept"), CID_OK);
	assert_int_equal(cid_store_update(f->s, write_then_fail_cb, NULL), CID_ERR_REVOKED);
	assert_int_equal(get(f->s, CID_DB_GRANTS, "g1", val, sizeof(val)), CID_ERR_NOTFOUND);
	assert_int_equal(get(f->s, CID_DB_GRANTS, "keep", val, sizeof(val)), CID_OK);
	assert_string_equal(val, "kept");
}

static void test_read_txn_is_reused_and_renewed(void **state)
{
	struct cid_test_store *f = *state;
	struct cid_txn *first = NULL, *txn = NULL;
	struct cid_str val;

	assert_int_equal(cid_store_read_begin(f->s, &first), CID_OK);
	assert_int_equal(cid_txn_get(first, CID_DB_REVOKED, cid_str_of("jti"), &val),
			 CID_ERR_NOTFOUND);
	/* one open read transaction per thread */
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_ERR_STORE);
	assert_null(txn);
	cid_store_read_end(first);
	cid_store_read_end(first); /* ending twice is harmless */
	cid_store_read_end(NULL);
	assert_int_equal(put(f->s, CID_DB_REVOKED, "jti", "{\"exp\":1}"), CID_OK);
	/* renewed, not begun anew, and sees the commit made since */
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_ptr_equal(txn, first);
	assert_int_equal(cid_txn_get(txn, CID_DB_REVOKED, cid_str_of("jti"), &val), CID_OK);
	assert_int_equal(val.len, strlen("{\"exp\":1}"));
	cid_store_read_end(txn);
	cid_store_close(NULL);
}

/* Stores BIG_VALUES 1 MiB values; value i is filled with byte i. */
struct big {
	char *buf;
	size_t from, to; /* keys [from, to) */
	int calls;
};

static enum cid_err put_big_cb(struct cid_txn *txn, void *arg)
{
	struct big *b = arg;

	b->calls++;
	for (size_t i = b->from; i < b->to; i++) {
		char key[32];

		if (snprintf(key, sizeof(key), "big%03zu", i) >= (int)sizeof(key))
			return CID_ERR_TOOBIG;
		memset(b->buf, (int)i, MIB);
		/* Converts the error, as a callback may: the store still grows the map. */
		if (cid_txn_put(txn, CID_DB_KEYS, cid_str_of(key), str_n(b->buf, MIB), 0) != CID_OK)
			return CID_ERR_INVALID;
	}
	return CID_OK;
}

static void assert_big_values(struct cid_store *s, size_t n)
{
	struct cid_txn *txn = NULL;

	assert_int_equal(cid_store_read_begin(s, &txn), CID_OK);
	for (size_t i = 0; i < n; i++) {
		char key[32];
		struct cid_str val;

		assert_true(snprintf(key, sizeof(key), "big%03zu", i) < (int)sizeof(key));
		assert_int_equal(cid_txn_get(txn, CID_DB_KEYS, cid_str_of(key), &val), CID_OK);
		assert_int_equal(val.len, MIB);
		for (size_t j = 0; j < MIB; j += 4093)
			assert_int_equal((unsigned char)val.ptr[j], (unsigned char)i);
		assert_int_equal((unsigned char)val.ptr[MIB - 1], (unsigned char)i);
	}
	cid_store_read_end(txn);
}

/*
 * At its map's limit the store refuses writes, says it is full, and still
 * reads; with a higher limit a write commits and it is full no more.
 * The limit is CID_STORE_MAP_MAX, far above issue 12's 180 GB store; here a
 * lower one (cid_store_set_map_max) is reached with 1 MiB values.
 */
static void test_full_store_refuses_writes_and_says_so(void **state)
{
	struct cid_test_store *f = *state;
	struct big b = {.buf = malloc(MIB)};
	enum cid_err rc = CID_OK;
	size_t written = 0;

	assert_non_null(b.buf);
	assert_true(CID_STORE_MAP_MAX >= ((size_t)1 << 40)); /* 100M audit entries: ~180 GB */
	cid_store_set_map_max(f->s, CID_STORE_MAP_INITIAL);
	assert_false(cid_store_full(f->s));
	for (size_t i = 0; i < BIG_VALUES && rc == CID_OK; i++) {
		b.from = i;
		b.to = i + 1;
		rc = cid_store_update(f->s, put_big_cb, &b);
		if (rc == CID_OK)
			written = i + 1;
	}
	assert_int_equal(rc, CID_ERR_STORE);
	assert_true(cid_store_full(f->s));
	assert_int_equal(cid_store_map_size(f->s), CID_STORE_MAP_INITIAL);
	assert_true(written > 32 && written < BIG_VALUES);
	assert_big_values(f->s, written); /* reads go on */
	assert_true(cid_store_full(f->s));
	cid_store_set_map_max(f->s, 2 * CID_STORE_MAP_INITIAL);
	b.from = written;
	b.to = written + 1;
	assert_int_equal(cid_store_update(f->s, put_big_cb, &b), CID_OK);
	assert_false(cid_store_full(f->s));
	assert_int_equal(cid_store_map_size(f->s), 2 * CID_STORE_MAP_INITIAL);
	assert_big_values(f->s, written + 1);
	free(b.buf);
}

/*
 * A process that died reading the store leaves its reader slot; the
 * janitor's reader check frees it (the slot pinned its snapshot, so no page
 * freed after it would be reused).
 */
static void test_reader_check_frees_a_dead_process_slot(void **state)
{
	struct cid_test_store *f = *state;
	size_t freed = 99;
	pid_t child;
	int status = 0;

	assert_int_equal(put(f->s, CID_DB_REVOKED, "jti", "{\"exp\":1}"), CID_OK);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		struct cid_store *s = NULL;
		struct cid_txn *txn = NULL;

		if (cid_store_open(f->dir, &s) != CID_OK || cid_store_read_begin(s, &txn) != CID_OK)
			_exit(1);
		_exit(0); /* with the read transaction open */
	}
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(cid_store_reader_check(f->s, &freed), CID_OK);
	assert_int_equal(freed, 1);
	assert_int_equal(cid_store_reader_check(f->s, &freed), CID_OK);
	assert_int_equal(freed, 0);
}

static void test_map_grows_across_updates(void **state)
{
	struct cid_test_store *f = *state;
	struct big b = {.buf = malloc(MIB)};

	assert_non_null(b.buf);
	assert_int_equal(cid_store_map_size(f->s), CID_STORE_MAP_INITIAL);
	for (size_t i = 0; i < BIG_VALUES; i++) {
		b.from = i;
		b.to = i + 1;
		assert_int_equal(cid_store_update(f->s, put_big_cb, &b), CID_OK);
	}
	assert_true(b.calls > BIG_VALUES); /* some callbacks ran again after a growth */
	assert_true(cid_store_map_size(f->s) > CID_STORE_MAP_INITIAL);
	assert_true(cid_store_map_size(f->s) <= CID_STORE_MAP_MAX);
	assert_big_values(f->s, BIG_VALUES);
	free(b.buf);
}

static void test_map_grows_within_one_update_and_reruns_it(void **state)
{
	struct cid_test_store *f = *state;
	struct big b = {.buf = malloc(MIB), .from = 0, .to = BIG_VALUES};
	char dir[256];

	assert_non_null(b.buf);
	assert_int_equal(cid_store_update(f->s, put_big_cb, &b), CID_OK);
	assert_true(b.calls >= 2);
	assert_true(cid_store_map_size(f->s) >= 2 * CID_STORE_MAP_INITIAL);
	assert_big_values(f->s, BIG_VALUES);
	free(b.buf);
	/* a reopened store keeps the grown map */
	size_t grown = cid_store_map_size(f->s);
	memcpy(dir, f->dir, sizeof(dir));
	cid_store_close(f->s);
	f->s = NULL;
	assert_int_equal(cid_store_open(dir, &f->s), CID_OK);
	assert_true(cid_store_map_size(f->s) >= grown);
	assert_big_values(f->s, BIG_VALUES);
}

/* Growing needs every transaction of the process closed, this thread's read one too. */
static void test_growth_inside_own_read_txn_fails_instead_of_deadlocking(void **state)
{
	struct cid_test_store *f = *state;
	struct big b = {.buf = malloc(MIB), .from = 0, .to = BIG_VALUES};
	struct cid_txn *txn = NULL;
	struct cid_str val;

	assert_non_null(b.buf);
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_store_update(f->s, put_big_cb, &b), CID_ERR_STORE);
	assert_int_equal(b.calls, 1);
	assert_int_equal(cid_store_map_size(f->s), CID_STORE_MAP_INITIAL);
	cid_store_read_end(txn);
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_txn_get(txn, CID_DB_KEYS, cid_str_of("big000"), &val),
			 CID_ERR_NOTFOUND);
	cid_store_read_end(txn);
	free(b.buf);
}

/*
 * Without a thread cache (a tenant's store): the thread's one transaction is
 * found by its thread and renewed, so many more reads than LMDB's 126 reader
 * slots pass, a second begin on the thread is refused, ending twice is
 * harmless, and an open read still refuses to grow the map under its own
 * thread (the same deadlock guard, found without a pthread key).
 */
static void test_no_thread_cache_reads_and_guards(void **state)
{
	char dir[256];
	struct cid_store *s = NULL;
	struct big b = {.buf = malloc(MIB), .from = 0, .to = BIG_VALUES};
	struct cid_txn *txn = NULL;
	struct cid_txn *other = NULL;
	struct cid_str val;

	(void)state;
	assert_non_null(b.buf);
	cid_test_tmpdir(dir);
	assert_int_equal(cid_store_open_flags(dir, CID_STORE_NO_THREAD_CACHE, &s), CID_OK);
	assert_int_equal(put(s, CID_DB_REVOKED, "jti", "{\"exp\":1}"), CID_OK);
	for (int i = 0; i < 500; i++) {
		assert_int_equal(cid_store_read_begin(s, &txn), CID_OK);
		assert_int_equal(cid_txn_get(txn, CID_DB_REVOKED, cid_str_of("jti"), &val), CID_OK);
		cid_store_read_end(txn);
		cid_store_read_end(txn);
	}
	assert_int_equal(cid_store_read_begin(s, &txn), CID_OK);
	assert_int_equal(cid_store_read_begin(s, &other), CID_ERR_STORE);
	assert_int_equal(cid_store_update(s, put_big_cb, &b), CID_ERR_STORE);
	assert_int_equal(cid_store_map_size(s), CID_STORE_MAP_INITIAL);
	cid_store_read_end(txn);
	/* and with the read ended, the same update grows the map */
	b.calls = 0;
	assert_int_equal(cid_store_update(s, put_big_cb, &b), CID_OK);
	assert_true(cid_store_map_size(s) > CID_STORE_MAP_INITIAL);
	cid_test_store_close(s, dir);
	free(b.buf);
}

/*
 * A process with a store per tenant opens more stores than glibc has
 * pthread keys (1,024): without a thread cache each still opens and reads.
 */
#define MANY_STORES 1100

static void test_more_stores_than_pthread_keys(void **state)
{
	static char dirs[MANY_STORES][256];
	// NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers
	struct cid_store **s = calloc(MANY_STORES, sizeof(*s));
	struct rlimit lim;
	struct cid_txn *txn = NULL;

	(void)state;
	assert_non_null(s);
	/* two files per store: raise the soft limit as serve does for tenants */
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &lim), 0);
	assert_true(lim.rlim_max >= 2 * MANY_STORES + 64);
	lim.rlim_cur = lim.rlim_max;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &lim), 0);
	for (size_t i = 0; i < MANY_STORES; i++) {
		cid_test_tmpdir(dirs[i]);
		assert_int_equal(cid_store_open_flags(dirs[i], CID_STORE_NO_THREAD_CACHE, &s[i]),
				 CID_OK);
		assert_int_equal(cid_store_read_begin(s[i], &txn), CID_OK);
		cid_store_read_end(txn);
	}
	for (size_t i = 0; i < MANY_STORES; i++)
		cid_test_store_close(s[i], dirs[i]);
	free(s);
}

/* A reader thread: the same txn every round, and snapshots never go back in time. */
struct reader {
	struct cid_store *s;
	atomic_bool *stop;
	struct cid_txn *first;
	long rounds;
	long last_seen;
	bool big;	     /* each counter n came with the value big<n-1> */
	const char *failure; /* cmocka asserts cannot run off the main thread */
};

static enum cid_err read_round(struct reader *r)
{
	struct cid_txn *txn = NULL;
	struct cid_str val;
	char key[32];
	long n;
	enum cid_err rc = cid_store_read_begin(r->s, &txn);

	if (rc != CID_OK) {
		r->failure = "read_begin failed";
		return rc;
	}
	if (r->first == NULL)
		r->first = txn;
	if (txn != r->first)
		r->failure = "read transaction not reused";
	rc = cid_txn_get(txn, CID_DB_META, cid_str_of("counter"), &val);
	if (rc == CID_ERR_NOTFOUND) {
		rc = CID_OK;
		goto out;
	}
	if (rc != CID_OK || val.len == 0 || val.len > 10) {
		r->failure = "counter unreadable";
		goto out;
	}
	n = 0;
	for (size_t i = 0; i < val.len; i++) /* the value is not NUL-terminated */
		n = n * 10 + (val.ptr[i] - '0');
	if (n < r->last_seen)
		r->failure = "snapshot went back in time";
	r->last_seen = n;
	if (!r->big)
		goto out;
	if (snprintf(key, sizeof(key), "big%03ld", n - 1) >= (int)sizeof(key))
		r->failure = "key too long";
	rc = cid_txn_get(txn, CID_DB_KEYS, cid_str_of(key), &val);
	if (rc != CID_OK || val.len != MIB || (unsigned char)val.ptr[0] != (unsigned char)(n - 1) ||
	    (unsigned char)val.ptr[MIB - 1] != (unsigned char)(n - 1))
		r->failure = "value written with the counter is missing or wrong";
out:
	cid_store_read_end(txn);
	return rc;
}

static void *reader_main(void *arg)
{
	struct reader *r = arg;

	while (r->failure == NULL && (!atomic_load(r->stop) || r->rounds < 10)) {
		if (read_round(r) != CID_OK)
			break;
		r->rounds++;
	}
	return NULL;
}

struct counted {
	struct big b;
	long counter;
};

static enum cid_err put_counter_cb(struct cid_txn *txn, void *arg)
{
	const long *counter = arg;
	char num[16];

	if (snprintf(num, sizeof(num), "%ld", *counter) >= (int)sizeof(num))
		return CID_ERR_TOOBIG;
	return cid_txn_put(txn, CID_DB_META, cid_str_of("counter"), cid_str_of(num), 0);
}

static enum cid_err put_counted_cb(struct cid_txn *txn, void *arg)
{
	struct counted *c = arg;
	enum cid_err rc = put_big_cb(txn, &c->b);

	return rc == CID_OK ? put_counter_cb(txn, &c->counter) : rc;
}

/* Starts n reader threads on s until *stop; big: see struct reader. */
static void readers_start(struct reader *readers, pthread_t *threads, int n, struct cid_store *s,
			  atomic_bool *stop, bool big)
{
	for (int i = 0; i < n; i++) {
		readers[i] = (struct reader){.s = s, .stop = stop, .big = big};
		assert_int_equal(pthread_create(&threads[i], NULL, reader_main, &readers[i]), 0);
	}
}

/* Stops and joins them; fails the test with the first reader's failure. */
static void readers_join(struct reader *readers, pthread_t *threads, int n, atomic_bool *stop)
{
	atomic_store(stop, true);
	for (int i = 0; i < n; i++)
		assert_int_equal(pthread_join(threads[i], NULL), 0);
	for (int i = 0; i < n; i++)
		if (readers[i].failure != NULL)
			fail_msg("reader %d: %s", i, readers[i].failure);
}

/* The most threads a server may be configured with, plus a few of its own. */
#define HELD_READERS (256 + 64 + 8)

struct holder {
	struct cid_store *s;
	pthread_barrier_t *all_in;
	enum cid_err rc;
};

static void *holder_main(void *arg)
{
	struct holder *h = arg;
	struct cid_txn *txn = NULL;
	struct cid_str v;

	h->rc = cid_store_read_begin(h->s, &txn);
	if (h->rc == CID_OK)
		h->rc = cid_txn_get(txn, CID_DB_META, cid_str_of("schema"), &v);
	/* every thread holds its read transaction at once */
	pthread_barrier_wait(h->all_in);
	cid_store_read_end(txn);
	return NULL;
}

/* Every thread a server may run holds a read transaction at the same time. */
static void test_every_configured_thread_gets_a_reader_slot(void **state)
{
	struct cid_test_store *f = *state;
	static pthread_t threads[HELD_READERS];
	static struct holder holders[HELD_READERS];
	pthread_barrier_t all_in;

	_Static_assert(HELD_READERS < CID_STORE_MAX_READERS, "room left for the CLI");
	assert_int_equal(pthread_barrier_init(&all_in, NULL, HELD_READERS), 0);
	for (int i = 0; i < HELD_READERS; i++) {
		holders[i] = (struct holder){.s = f->s, .all_in = &all_in, .rc = CID_ERR_STORE};
		assert_int_equal(pthread_create(&threads[i], NULL, holder_main, &holders[i]), 0);
	}
	for (int i = 0; i < HELD_READERS; i++)
		assert_int_equal(pthread_join(threads[i], NULL), 0);
	pthread_barrier_destroy(&all_in);
	for (int i = 0; i < HELD_READERS; i++)
		if (holders[i].rc != CID_OK)
			fail_msg("reader %d: %s", i, cid_strerror(holders[i].rc));
}

static void test_readers_reuse_txns_while_writer_grows_map(void **state)
{
	struct cid_test_store *f = *state;
	atomic_bool stop = false;
	struct reader readers[READERS];
	pthread_t threads[READERS];
	struct counted c = {.b = {.buf = malloc(MIB)}};

	assert_non_null(c.b.buf);
	readers_start(readers, threads, READERS, f->s, &stop, true);
	for (size_t i = 0; i < BIG_VALUES; i++) {
		c.b.from = i;
		c.b.to = i + 1;
		c.counter = (long)i + 1;
		assert_int_equal(cid_store_update(f->s, put_counted_cb, &c), CID_OK);
	}
	readers_join(readers, threads, READERS, &stop);
	for (int i = 0; i < READERS; i++) {
		assert_true(readers[i].rounds >= 10);
		assert_non_null(readers[i].first);
	}
	assert_true(cid_store_map_size(f->s) > CID_STORE_MAP_INITIAL);
	/* the exited threads' transactions were freed; this thread's is made anew */
	assert_big_values(f->s, BIG_VALUES);
	free(c.b.buf);
}

/*
 * Many readers renewing while small commits follow each other: LMDB 0.9 lets a
 * reader that stalls between reading the txnid and copying the meta page see a
 * commit still being written, and its next transaction an older one. Without
 * the guard in cid_store_read_begin this fails in most runs.
 */
static void test_renewed_snapshots_never_go_back_in_time(void **state)
{
	struct cid_test_store *f = *state;
	atomic_bool stop = false;
	struct reader readers[EAGER_READERS];
	pthread_t threads[EAGER_READERS];

	readers_start(readers, threads, EAGER_READERS, f->s, &stop, false);
	for (long n = 1; n <= SMALL_COMMITS; n++)
		assert_int_equal(cid_store_update(f->s, put_counter_cb, &n), CID_OK);
	readers_join(readers, threads, EAGER_READERS, &stop);
}

/* A writer thread: small commits back to back until *stop. */
struct committer {
	struct cid_store *s;
	atomic_bool *stop;
	atomic_long *counter;
	enum cid_err rc;
};

static enum cid_err put_next_counter_cb(struct cid_txn *txn, void *arg)
{
	long n = atomic_fetch_add((atomic_long *)arg, 1) + 1;

	return put_counter_cb(txn, &n);
}

static void *committer_main(void *arg)
{
	struct committer *c = arg;

	while (c->rc == CID_OK && !atomic_load(c->stop))
		c->rc = cid_store_update(c->s, put_next_counter_cb, c->counter);
	return NULL;
}

/*
 * Commits that never pause (several writers, as the group committer and the
 * logins are under load) must not starve a reader: cid_store_read_begin used to
 * give up after 32 torn starts in a row and answer CID_ERR_STORE, a 500.
 */
static void test_read_begin_is_not_starved_by_back_to_back_commits(void **state)
{
	struct cid_test_store *f = *state;
	atomic_bool stop = false;
	atomic_long counter = 0;
	struct reader readers[EAGER_READERS];
	pthread_t threads[EAGER_READERS];
	struct committer committers[3];
	pthread_t writers[3];

	for (int i = 0; i < 3; i++) {
		committers[i] = (struct committer){.s = f->s, .stop = &stop, .counter = &counter};
		assert_int_equal(pthread_create(&writers[i], NULL, committer_main, &committers[i]),
				 0);
	}
	readers_start(readers, threads, EAGER_READERS, f->s, &stop, false);
	while (atomic_load(&counter) < SMALL_COMMITS)
		usleep(1000);
	readers_join(readers, threads, EAGER_READERS, &stop);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(pthread_join(writers[i], NULL), 0);
		assert_int_equal(committers[i].rc, CID_OK);
	}
}

/* A thread that keeps its cached read transaction while the store closes. */
struct idle_reader {
	struct cid_store *s;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stage; /* 1: read done; 2: store closed, may exit */
	enum cid_err rc;
};

static void *idle_reader_main(void *arg)
{
	struct idle_reader *r = arg;
	struct cid_txn *txn = NULL;

	r->rc = cid_store_read_begin(r->s, &txn);
	if (r->rc == CID_OK)
		cid_store_read_end(txn);
	pthread_mutex_lock(&r->lock);
	r->stage = 1;
	pthread_cond_broadcast(&r->cond);
	while (r->stage != 2)
		pthread_cond_wait(&r->cond, &r->lock);
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

static void test_close_frees_other_threads_cached_txns(void **state)
{
	struct cid_test_store *f = *state;
	struct idle_reader r = {
	    .s = f->s, .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
	pthread_t thread;
	char dir[256];

	assert_int_equal(pthread_create(&thread, NULL, idle_reader_main, &r), 0);
	pthread_mutex_lock(&r.lock);
	while (r.stage != 1)
		pthread_cond_wait(&r.cond, &r.lock);
	pthread_mutex_unlock(&r.lock);
	assert_int_equal(r.rc, CID_OK);
	memcpy(dir, f->dir, sizeof(dir));
	cid_store_close(f->s); /* LeakSanitizer reports the thread's txn if close missed it */
	f->s = NULL;
	pthread_mutex_lock(&r.lock);
	r.stage = 2;
	pthread_cond_broadcast(&r.cond);
	pthread_mutex_unlock(&r.lock);
	assert_int_equal(pthread_join(thread, NULL), 0);
	/* the thread exited after close: no destructor touched the freed store */
	assert_int_equal(cid_store_open(dir, &f->s), CID_OK);
}

struct counter_arg {
	const char *name;
	uint64_t add, out;
};

static enum cid_err counter_add_cb(struct cid_txn *txn, void *arg)
{
	struct counter_arg *a = arg;

	return cid_txn_counter_add(txn, a->name, "n", a->add, &a->out);
}

static enum cid_err put_raw_cb(struct cid_txn *txn, void *arg)
{
	return cid_txn_put(txn, CID_DB_META, cid_str_of("bad"), cid_str_of(arg), 0);
}

/* META counters start at 0, add atomically, and refuse a damaged or overflowing value. */
static void test_meta_counters(void **state)
{
	struct cid_test_store *f = *state;
	struct counter_arg a = {"c", 1, 0};
	struct cid_txn *txn = NULL;
	uint64_t v = 99;

	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_txn_counter_get(txn, "c", "n", &v), CID_OK);
	cid_store_read_end(txn);
	assert_int_equal(v, 0);
	assert_int_equal(cid_store_update(f->s, counter_add_cb, &a), CID_OK);
	assert_int_equal(a.out, 1);
	a.add = 5;
	assert_int_equal(cid_store_update(f->s, counter_add_cb, &a), CID_OK);
	assert_int_equal(a.out, 6);
	a.add = (uint64_t)INT64_MAX;
	assert_int_equal(cid_store_update(f->s, counter_add_cb, &a), CID_ERR_STORE);
	assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
	assert_int_equal(cid_txn_counter_get(txn, "c", "n", &v), CID_OK);
	cid_store_read_end(txn);
	assert_int_equal(v, 6); /* the refused add wrote nothing */
	static const char *const damaged[] = {"{\"n\":-1}", "{\"n\":\"1\"}", "{}"};
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(cid_store_update(f->s, put_raw_cb, (void *)(uintptr_t)damaged[i]),
				 CID_OK);
		assert_int_equal(cid_store_read_begin(f->s, &txn), CID_OK);
		assert_int_equal(cid_txn_counter_get(txn, "bad", "n", &v), CID_ERR_STORE);
		cid_store_read_end(txn);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_open_creates_private_dir_and_schema),
	    cmocka_unit_test_setup_teardown(test_meta_counters, cid_test_store_setup,
					    cid_test_store_teardown),
	    cmocka_unit_test(test_open_refuses_unusable_directory),
	    cmocka_unit_test_setup_teardown(test_count_and_clear, cid_test_store_setup,
					    cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_index_ensure, cid_test_store_setup,
					    cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_index_ensure_two_keys_and_drop,
					    cid_test_store_setup, cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_every_configured_thread_gets_a_reader_slot,
					    cid_test_store_setup, cid_test_store_teardown),
	    cmocka_unit_test(test_reopen_keeps_data),
	    cmocka_unit_test(test_reopen_checks_schema_version),
	    cmocka_unit_test_setup_teardown(test_put_get_del_round_trip_per_database,
					    cid_test_store_setup, cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_binary_keys_and_values_round_trip,
					    cid_test_store_setup, cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_put_json_is_compact_with_sorted_keys,
					    cid_test_store_setup, cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_put_json_refuses_non_objects, cid_test_store_setup,
					    cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_get_json_requires_one_object, cid_test_store_setup,
					    cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_put_append_takes_keys_in_order,
					    cid_test_store_setup, cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_put_nooverwrite_reports_exists,
					    cid_test_store_setup, cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_del_missing_is_notfound, cid_test_store_setup,
					    cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_writes_in_read_txn_are_invalid,
					    cid_test_store_setup, cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_key_length_limits, cid_test_store_setup,
					    cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_foreach_visits_prefix_in_key_order,
					    cid_test_store_setup, cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_foreach_range_walks_either_way_from_start,
					    cid_test_store_setup, cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_foreach_in_update_sees_own_writes,
					    cid_test_store_setup, cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_update_callback_error_aborts_every_write,
					    cid_test_store_setup, cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_read_txn_is_reused_and_renewed,
					    cid_test_store_setup, cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_full_store_refuses_writes_and_says_so,
					    cid_test_store_setup, cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_reader_check_frees_a_dead_process_slot,
					    cid_test_store_setup, cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_map_grows_across_updates, cid_test_store_setup,
					    cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_map_grows_within_one_update_and_reruns_it,
					    cid_test_store_setup, cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(
		test_growth_inside_own_read_txn_fails_instead_of_deadlocking, cid_test_store_setup,
		cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_readers_reuse_txns_while_writer_grows_map,
					    cid_test_store_setup, cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_renewed_snapshots_never_go_back_in_time,
					    cid_test_store_setup, cid_test_store_teardown),
	    cmocka_unit_test_setup_teardown(test_read_begin_is_not_starved_by_back_to_back_commits,
					    cid_test_store_setup, cid_test_store_teardown),
	    cmocka_unit_test(test_no_thread_cache_reads_and_guards),
	    cmocka_unit_test(test_more_stores_than_pthread_keys),
	    cmocka_unit_test_setup_teardown(test_close_frees_other_threads_cached_txns,
					    cid_test_store_setup, cid_test_store_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
