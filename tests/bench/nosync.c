/*
 * nosync: preloaded (LD_PRELOAD) into the steps of tests/bench/scale.sh that
 * build a big store for measuring (audit_bench populate and fill), never
 * into what it measures and never into civicid serve. fsync, fdatasync and
 * msync return at once without syncing, and O_DSYNC and O_SYNC are dropped
 * from open's flags (LMDB's meta-page writes): the store reaches the disk
 * when the kernel writes it back, which is all a store built to be measured
 * needs. Its build then costs the CPU of the writes, not one disk sync per
 * citizen and per consent (about 1.6 h for 1,000,000 citizens, and 4 h for
 * 10,000,000 records, with the syncs on this machine's disk).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <fcntl.h>
#include <stddef.h>
#include <sys/types.h>

#include "preload.h"

int fsync(int fd)
{
	(void)fd;
	return 0;
}

int fdatasync(int fd)
{
	(void)fd;
	return 0;
}

int msync(void *addr, size_t len, int flags)
{
	(void)addr;
	(void)len;
	(void)flags;
	return 0;
}

/* open or open64 through the C library, without O_DSYNC or O_SYNC. */
static int open_hook(const char *name, const char *path, int flags, mode_t mode)
{
	int (*real)(const char *, int, ...) =
	    (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, name);

	return real(path, flags & ~(O_DSYNC | O_SYNC), mode);
}
