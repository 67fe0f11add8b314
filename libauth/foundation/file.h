/*
 * file: a private file that takes another's place only when complete.
 *
 * What civicid writes outside its store (a tenant's tenant.conf, an export of
 * the audit log by `civicid audit export --output`) is the city's and must
 * never be seen half written: a command or a disk that fails midway leaves
 * the old file, or none, as it was. So the bytes go to a new file beside the
 * target (its name, ".partial-" and six random characters, created O_EXCL, so
 * a file left by a crash never blocks the next write), mode 0600 whatever
 * the umask as the store's own files are; it is flushed and fsync'ed, and
 * only then renamed over the target, which on one file system is atomic,
 * and the directory is synced so that the new name survives a power cut. On
 * any failure the partial file is removed. A target that exists and is not
 * itself a regular file (a terminal, a pipe, a symbolic link such as
 * /dev/stdout, whatever it points at) is not replaced but written in place,
 * through the link, as a stream: what a reader of it sees is its own.
 *
 * The functions keep no state: thread-safe, for different paths.
 */
#ifndef CID_FILE_H
#define CID_FILE_H

#include "err.h"

#include <stddef.h>
#include <stdio.h>

/*
 * Begins a private file to take path's place: *f is its stream, to write,
 * and *staged its name (cid_file_end frees it); for a path that is not
 * itself a regular file, *f is path opened for writing and *staged NULL.
 * Errors (*f and *staged NULL,
 * nothing created, errno says why): CID_ERR_NOMEM, CID_ERR_IO (the directory
 * is missing or not writable, and so on).
 */
CID_MUST_CHECK enum cid_err cid_file_begin(const char *path, FILE **f, char **staged);

/*
 * Ends the file f of cid_file_begin (f and staged are consumed): when rc is
 * CID_OK, flushes it to disk, renames it over path and syncs the directory;
 * otherwise, or when that fails before the rename, removes it and path is
 * left as it was (a failed directory sync, after the rename, is CID_ERR_IO
 * with path replaced). staged NULL: f is closed. Returns rc, or CID_ERR_IO
 * when the file could not be completed (errno says why).
 */
CID_MUST_CHECK enum cid_err cid_file_end(FILE *f, char *staged, const char *path, enum cid_err rc);

/*
 * Writes bytes[0..len) as the whole of path, through cid_file_begin and
 * cid_file_end. Errors: theirs.
 */
CID_MUST_CHECK enum cid_err cid_file_put(const char *path, const void *bytes, size_t len);

#endif
