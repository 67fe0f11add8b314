/*
 * fault_sync: a power cut for one sync call, preloaded into civicid serve by
 * the power-cut test, and into one `civicid audit explain` (audit_explain.sh)
 * or `civicid audit query --citizen` (audit_cli.sh) (LD_PRELOAD; never
 * linked into civicid). While the file CID_FAULT_SYNC_ARM names exists, the
 * next fsync, fdatasync or msync of the process removes it and fails with EIO
 * without syncing anything, as a disk that lost the writes of that commit
 * would. While the file CID_FAULT_META_ARM names exists, the next pwrite to a
 * file opened with O_DSYNC (LMDB's meta-page writes: the second sync of a
 * commit) removes it and fails with EIO without writing. Each says so on
 * stderr. Exactly one call fails per arming, since only one caller can remove
 * the file. While the file CID_FAULT_STALL names exists, every fsync,
 * fdatasync and msync waits for it to be removed, then goes on: a disk that
 * hangs, for disk_stall.test.js (NAME.waiting appears when one waits).
 * Every other call goes to the C library.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/types.h>

#include <time.h>
#include <unistd.h>
#include "preload.h"

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off);
ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off);

/* Descriptors opened with O_DSYNC, below this bound (a test opens few files). */
#define FDS 4096
static atomic_bool dsync_fd[FDS];

/* True (errno EIO) when this call is the one armed by the file named in variable. */
static int cut(const char *variable, const char *call)
{
	const char *arm = getenv(variable);

	if (arm == NULL || unlink(arm) != 0)
		return 0;
	fprintf(stderr, "fault_sync: %s failed with EIO (power cut)\n", call);
	errno = EIO;
	return 1;
}

/*
 * While the file CID_FAULT_STALL names exists, waits (the disk hangs),
 * leaving NAME.waiting beside it first, so that a test knows a sync waits.
 */
static void stall(void)
{
	const char *file = getenv("CID_FAULT_STALL");
	struct timespec tick = {0, 5L * 1000 * 1000};
	char waiting[4096];
	int fd;

	if (file == NULL || access(file, F_OK) != 0)
		return;
	if (snprintf(waiting, sizeof(waiting), "%s.waiting", file) < (int)sizeof(waiting) &&
	    (fd = open(waiting, O_WRONLY | O_CREAT, 0600)) >= 0)
		close(fd);
	while (access(file, F_OK) == 0)
		nanosleep(&tick, NULL);
}

int fsync(int fd)
{
	int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");

	stall();
	return cut("CID_FAULT_SYNC_ARM", "fsync") ? -1 : real(fd);
}

int fdatasync(int fd)
{
	int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");

	stall();
	return cut("CID_FAULT_SYNC_ARM", "fdatasync") ? -1 : real(fd);
}

int msync(void *addr, size_t len, int flags)
{
	int (*real)(void *, size_t, int) = (int (*)(void *, size_t, int))dlsym(RTLD_NEXT, "msync");

	stall();
	return cut("CID_FAULT_SYNC_ARM", "msync") ? -1 : real(addr, len, flags);
}

/* open or open64 through the C library, noting an O_DSYNC descriptor. */
static int open_hook(const char *name, const char *path, int flags, mode_t mode)
{
	int (*real)(const char *, int, ...) =
	    (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, name);
	int fd = real(path, flags, mode);

	if (fd >= 0 && fd < FDS)
		atomic_store(&dsync_fd[fd], (flags & O_DSYNC) == O_DSYNC);
	return fd;
}

static int meta_cut(int fd)
{
	return fd >= 0 && fd < FDS && atomic_load(&dsync_fd[fd]) &&
	       cut("CID_FAULT_META_ARM", "pwrite of an O_DSYNC file");
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	ssize_t (*real)(int, const void *, size_t, off_t) =
	    (ssize_t(*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");

	return meta_cut(fd) ? -1 : real(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
	ssize_t (*real)(int, const void *, size_t, off64_t) =
	    (ssize_t(*)(int, const void *, size_t, off64_t))dlsym(RTLD_NEXT, "pwrite64");

	return meta_cut(fd) ? -1 : real(fd, buf, n, off);
}
