/*
 * file: a private file that takes another's place only when complete. On a
 * real directory: a write lands whole and 0600 whatever the umask, replaces
 * what was there, and leaves nothing beside it; a write that fails (the
 * caller's error, a missing directory, a rename that cannot be made) leaves
 * the target as it was, no partial file, and errno saying why; a crash's
 * leftovers block nothing; a pipe is written, not replaced. A sync that
 * fails (a disk's EIO, made here by the wrap of fsync below) is an error:
 * before the rename the target stays as it was, after it (the directory's
 * sync) the target is the new file, as file.h says.
 */
#include "file.h"
#include "support.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

/*
 * test_file fails fsync through this wrap (tests/CMakeLists.txt links it with
 * --wrap=fsync, which reaches the statically linked file.c): while armed, an
 * fsync of a regular file (fail_file_sync) or of a directory (fail_dir_sync)
 * fails with EIO without syncing, as a failing disk's would, and is counted.
 */
static bool fail_file_sync;
static bool fail_dir_sync;
static int syncs_failed;

// NOLINTBEGIN(bugprone-reserved-identifier): ld's --wrap needs these names
int __real_fsync(int fd);
int __wrap_fsync(int fd);

// NOLINTEND(bugprone-reserved-identifier)

int __wrap_fsync(int fd)
{
	struct stat st;

	if (fstat(fd, &st) == 0 &&
	    ((fail_file_sync && S_ISREG(st.st_mode)) || (fail_dir_sync && S_ISDIR(st.st_mode)))) {
		syncs_failed++;
		errno = EIO;
		return -1;
	}
	return __real_fsync(fd);
}

/* Every sync goes through again (a failed test's arming does not outlive it). */
static int disarm(void **state)
{
	(void)state;
	fail_file_sync = false;
	fail_dir_sync = false;
	syncs_failed = 0;
	return 0;
}

/* How many entries dir holds (besides . and ..). */
static int entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* The whole of path, as a string (free). */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	char *s = calloc(1, 4096);
	size_t n;

	assert_non_null(f);
	assert_non_null(s);
	n = fread(s, 1, 4095, f);
	s[n] = '\0';
	fclose(f);
	return s;
}

static void assert_holds(const char *path, const char *want)
{
	char *got = slurp(path);

	assert_string_equal(got, want);
	free(got);
}

static void test_put_is_whole_private_and_replaces(void **state)
{
	char dir[256];
	char path[512];
	struct stat st;
	mode_t old;

	(void)state;
	cid_test_tmpdir(dir);
	snprintf(path, sizeof(path), "%s/tenant.conf", dir);
	/* 0600 though the umask would let others read */
	old = umask(022);
	assert_int_equal(cid_file_put(path, "a = 1\n", 6), CID_OK);
	umask(old);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_holds(path, "a = 1\n");
	assert_int_equal(entries(dir), 1);
	/* over what was there, also a longer file: nothing of it is left */
	assert_int_equal(cid_file_put(path, "b", 1), CID_OK);
	assert_holds(path, "b");
	assert_int_equal(cid_file_put(path, "", 0), CID_OK);
	assert_holds(path, "");
	assert_int_equal(entries(dir), 1);
	cid_test_rmdir(dir);
}

static void test_a_failure_leaves_the_target_as_it_was(void **state)
{
	char dir[256];
	char path[512];
	char missing[512];
	char sub[512];
	char inside[600];
	static char set[] = "set";
	FILE *f = NULL;
	char *staged = NULL;

	(void)state;
	cid_test_tmpdir(dir);
	snprintf(path, sizeof(path), "%s/export.jsonl", dir);
	assert_int_equal(cid_file_put(path, "old\n", 4), CID_OK);

	/* the caller's own error: the partial file goes, the old one stays */
	assert_int_equal(cid_file_begin(path, &f, &staged), CID_OK);
	assert_non_null(f);
	assert_non_null(staged);
	assert_non_null(strstr(staged, ".partial-"));
	fputs("half a line", f);
	assert_int_equal(entries(dir), 2);
	assert_int_equal(cid_file_end(f, staged, path, CID_ERR_STORE), CID_ERR_STORE);
	assert_holds(path, "old\n");
	assert_int_equal(entries(dir), 1);

	/* nowhere to write: nothing made, errno says why */
	snprintf(missing, sizeof(missing), "%s/no/such/dir/file", dir);
	f = stdout;
	staged = set;
	errno = 0;
	assert_int_equal(cid_file_begin(missing, &f, &staged), CID_ERR_IO);
	assert_int_equal(errno, ENOENT);
	assert_null(f);
	assert_null(staged);
	assert_int_equal(cid_file_put(missing, "x", 1), CID_ERR_IO);

	/* a rename that cannot be made (the target is a directory that holds a
	 * file): the partial file goes, errno is the rename's */
	snprintf(sub, sizeof(sub), "%s/taken", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	snprintf(inside, sizeof(inside), "%s/keep", sub);
	assert_int_equal(cid_file_put(inside, "k", 1), CID_OK);
	errno = 0;
	assert_int_equal(cid_file_put(sub, "new", 3), CID_ERR_IO);
	assert_true(errno == EISDIR || errno == ENOTEMPTY || errno == EEXIST);
	assert_holds(inside, "k");
	assert_int_equal(entries(dir), 2); /* export.jsonl and taken/ */
	cid_test_rmdir(dir);
}

/*
 * Writes "a = 1\n", then "a = 2\n" over it at dir/tenant.conf (into path) with
 * *fail armed: that write is CID_ERR_IO with errno EIO, and exactly one sync
 * failed.
 */
static void put_under_failed_sync(const char *dir, char *path, size_t pathsz, bool *fail)
{
	snprintf(path, pathsz, "%s/tenant.conf", dir);
	assert_int_equal(cid_file_put(path, "a = 1\n", 6), CID_OK);
	*fail = true;
	errno = 0;
	assert_int_equal(cid_file_put(path, "a = 2\n", 6), CID_ERR_IO);
	assert_int_equal(errno, EIO);
	*fail = false;
	assert_int_equal(syncs_failed, 1);
}

/*
 * The staged file's own sync fails: the write is an error (errno EIO), the
 * partial file goes, and the target is left as it was.
 */
static void test_a_failed_file_sync_leaves_the_target_as_it_was(void **state)
{
	char dir[256];
	char path[512];

	(void)state;
	cid_test_tmpdir(dir);
	put_under_failed_sync(dir, path, sizeof(path), &fail_file_sync);
	assert_holds(path, "a = 1\n");
	assert_int_equal(entries(dir), 1);
	cid_test_rmdir(dir);
}

/*
 * The directory's sync fails, after the rename: the caller gets the error
 * (errno EIO), since the new name may not survive a power cut, and the target
 * is the new file, whole and 0600, with nothing left beside it (file.h).
 */
static void test_a_failed_directory_sync_is_an_error_after_the_rename(void **state)
{
	char dir[256];
	char path[512];
	struct stat st;

	(void)state;
	cid_test_tmpdir(dir);
	put_under_failed_sync(dir, path, sizeof(path), &fail_dir_sync);
	assert_holds(path, "a = 2\n");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(entries(dir), 1);
	/* and the next write, on a disk that syncs again, is whole */
	assert_int_equal(cid_file_put(path, "a = 3\n", 6), CID_OK);
	assert_holds(path, "a = 3\n");
	assert_int_equal(entries(dir), 1);
	cid_test_rmdir(dir);
}

/* What a crash leaves beside the target (a partial file, an old build's ".tmp") blocks nothing. */
static void test_leftovers_block_nothing(void **state)
{
	char dir[256];
	char path[512];
	char left[600];
	FILE *f;

	(void)state;
	cid_test_tmpdir(dir);
	snprintf(path, sizeof(path), "%s/tenant.conf", dir);
	snprintf(left, sizeof(left), "%s.tmp", path);
	f = fopen(left, "we");
	assert_non_null(f);
	fclose(f);
	snprintf(left, sizeof(left), "%s.partial-AAAAAA", path);
	f = fopen(left, "we");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(cid_file_put(path, "a = 1\n", 6), CID_OK);
	assert_int_equal(cid_file_put(path, "a = 2\n", 6), CID_OK);
	assert_holds(path, "a = 2\n");
	assert_int_equal(entries(dir), 3);
	cid_test_rmdir(dir);
}

/*
 * A target that is not a regular file (a pipe here; /dev/stdout, a terminal)
 * is written in place: the reader gets the bytes, and the pipe stays a pipe
 * with nothing beside it; so is a link, whatever it points at.
 */
static void test_a_pipe_is_written_not_replaced(void **state)
{
	char dir[256];
	char path[512];
	char got[16] = {0};
	struct stat st;
	int fd;

	(void)state;
	cid_test_tmpdir(dir);
	snprintf(path, sizeof(path), "%s/out", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	/* both ends held here: opening it for writing does not wait for a reader */
	fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(cid_file_put(path, "hello\n", 6), CID_OK);
	assert_int_equal(read(fd, got, sizeof(got) - 1), 6);
	assert_string_equal(got, "hello\n");
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISFIFO(st.st_mode));
	assert_int_equal(entries(dir), 1);
	close(fd);
	/* a link (as /dev/stdout is, to /proc/self/fd/1) is written through, never
	 * replaced, even when what it points at is a regular file */
	{
		char target[600];
		char link[600];
		char via[64];
		int tfd;
		int dup_fd;

		snprintf(target, sizeof(target), "%s/target", dir);
		snprintf(link, sizeof(link), "%s/stdout", dir);
		tfd = open(target, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		assert_true(tfd >= 0);
		dup_fd = dup(tfd);
		assert_true(dup_fd >= 0);
		snprintf(via, sizeof(via), "/proc/self/fd/%d", dup_fd);
		assert_int_equal(symlink(via, link), 0);
		assert_int_equal(cid_file_put(link, "through\n", 8), CID_OK);
		assert_int_equal(lstat(link, &st), 0);
		assert_true(S_ISLNK(st.st_mode));
		assert_holds(target, "through\n");
		assert_int_equal(entries(dir), 3); /* out, target, stdout: nothing beside */
		close(dup_fd);
		close(tfd);
	}
	/* a directory is neither: refused, errno saying why */
	assert_int_equal(cid_file_put(dir, "x", 1), CID_ERR_IO);
	assert_int_equal(errno, EISDIR);
	cid_test_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_put_is_whole_private_and_replaces),
	    cmocka_unit_test(test_a_failure_leaves_the_target_as_it_was),
	    cmocka_unit_test_setup_teardown(test_a_failed_file_sync_leaves_the_target_as_it_was,
					    disarm, disarm),
	    cmocka_unit_test_setup_teardown(
		test_a_failed_directory_sync_is_an_error_after_the_rename, disarm, disarm),
	    cmocka_unit_test(test_leftovers_block_nothing),
	    cmocka_unit_test(test_a_pipe_is_written_not_replaced),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
