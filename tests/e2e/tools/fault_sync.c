/*
 * fault_sync: a power cut for one sync call, preloaded into civicid serve by
 * the power-cut test (LD_PRELOAD; never linked into civicid). While the file
 * CID_FAULT_SYNC_ARM names exists, the next fsync, fdatasync or msync of the
 * process removes it and fails with EIO without syncing anything, as a disk
 * that lost the writes of that commit would; it says so on stderr. Exactly
 * one call fails per arming, since only one caller can remove the file. Every
 * other call goes to the C library.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int fsync(int fd);
int fdatasync(int fd);
int msync(void *addr, size_t len, int flags);

/* True (errno EIO) when this call is the armed one. */
static int cut(const char *call)
{
	const char *arm = getenv("CID_FAULT_SYNC_ARM");

	if (arm == NULL || unlink(arm) != 0)
		return 0;
	fprintf(stderr, "fault_sync: %s failed with EIO (power cut)\n", call);
	errno = EIO;
	return 1;
}

int fsync(int fd)
{
	int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");

	return cut("fsync") ? -1 : real(fd);
}

int fdatasync(int fd)
{
	int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");

	return cut("fdatasync") ? -1 : real(fd);
}

int msync(void *addr, size_t len, int flags)
{
	int (*real)(void *, size_t, int) = (int (*)(void *, size_t, int))dlsym(RTLD_NEXT, "msync");

	return cut("msync") ? -1 : real(addr, len, flags);
}
