/*
 * preload: what a library preloaded into a test or a benchmark (LD_PRELOAD:
 * fault_sync.c here, tests/bench/nosync.c) defines in the C library's
 * stead. The syncs below are declared here and written by each library;
 * open and open64 are written here once, both handing the call, with its
 * mode read from the arguments, to the library's own open_hook (declared
 * below): name is "open" or "open64", the symbol the hook passes to
 * dlsym(RTLD_NEXT, name) to reach the C library's.
 */
#ifndef CID_PRELOAD_H
#define CID_PRELOAD_H

#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/types.h>

int fsync(int fd);
int fdatasync(int fd);
int msync(void *addr, size_t len, int flags);

int open(const char *path, int flags, ...);
int open64(const char *path, int flags, ...);
static int open_hook(const char *name, const char *path, int flags, mode_t mode);

#define PRELOAD_OPEN(fn)                                                                           \
	int fn(const char *path, int flags, ...)                                                   \
	{                                                                                          \
		va_list ap;                                                                        \
		mode_t mode;                                                                       \
                                                                                                   \
		va_start(ap, flags);                                                               \
		mode = (flags & (O_CREAT | O_TMPFILE)) ? va_arg(ap, mode_t) : 0;                   \
		va_end(ap);                                                                        \
		return open_hook(#fn, path, flags, mode);                                          \
	}

PRELOAD_OPEN(open)
PRELOAD_OPEN(open64)

#endif
