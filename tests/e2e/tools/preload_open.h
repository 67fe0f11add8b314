/*
 * preload_open: open and open64 for a library preloaded into a test or a
 * benchmark (LD_PRELOAD: fault_sync.c here, tests/bench/nosync.c), both
 * handing the call, with its mode read from the arguments, to the library's
 *   static int open_hook(const char *name, const char *path, int flags, mode_t mode)
 * defined before this is included; name is "open" or "open64", the symbol
 * the hook passes to dlsym(RTLD_NEXT, name) to reach the C library's.
 */
#ifndef CID_PRELOAD_OPEN_H
#define CID_PRELOAD_OPEN_H

#include <fcntl.h>
#include <stdarg.h>
#include <sys/types.h>

int open(const char *path, int flags, ...);
int open64(const char *path, int flags, ...);

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
