/*
 * file: a private file renamed over its target when complete (file.h).
 *
 * One implementation for every writer of a whole file, so the guarantees
 * (never half written, 0600, a crash's leftovers blocking nothing) are kept
 * in one place. errno is kept from the step that failed, through the clean-up
 * after it, so a caller can say why.
 */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum cid_err cid_file_begin(const char *path, FILE **f, char **staged)
{
	static const char suffix[] = ".partial-XXXXXX";
	size_t plen = strlen(path);
	struct stat st;
	char *name;
	int fd = -1;
	int e;

	*f = NULL;
	*staged = NULL;
	/* a terminal, a pipe, a link such as /dev/stdout: not a file to replace, but
	 * one to write (lstat: a link is never replaced, whatever it points at) */
	if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		*f = fopen(path, "we");
		return *f != NULL ? CID_OK : CID_ERR_IO;
	}
	name = malloc(plen + sizeof(suffix));
	if (name == NULL) {
		errno = ENOMEM;
		return CID_ERR_NOMEM;
	}
	snprintf(name, plen + sizeof(suffix), "%s%s", path, suffix);
	/* beside path, so the rename is atomic; 0600 whatever the umask */
	fd = mkostemp(name, O_CLOEXEC);
	if (fd >= 0 && fchmod(fd, 0600) == 0 && (*f = fdopen(fd, "w")) != NULL) {
		*staged = name;
		return CID_OK;
	}
	e = errno;
	if (fd >= 0) {
		close(fd);
		unlink(name);
	}
	free(name);
	errno = e;
	return CID_ERR_IO;
}

/* Makes a rename in path's directory durable. */
static int sync_dir(const char *path)
{
	char *copy = strdup(path);
	int fd = copy == NULL ? -1 : open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = fd >= 0 && fsync(fd) == 0 ? 0 : -1;
	int e = errno;

	if (fd >= 0)
		close(fd);
	free(copy);
	errno = e;
	return r;
}

enum cid_err cid_file_end(FILE *f, char *staged, const char *path, enum cid_err rc)
{
	int e = 0;

	if (staged == NULL) { /* written in place (cid_file_begin): nothing to rename */
		if (fclose(f) != 0 && rc == CID_OK)
			rc = CID_ERR_IO;
		return rc;
	}
	if ((fflush(f) != 0 || fsync(fileno(f)) != 0) && rc == CID_OK) {
		rc = CID_ERR_IO;
		e = errno;
	}
	if (fclose(f) != 0 && rc == CID_OK) {
		rc = CID_ERR_IO;
		e = errno;
	}
	if (rc == CID_OK && rename(staged, path) != 0) {
		rc = CID_ERR_IO;
		e = errno;
	}
	/* the new name survives a power cut only once its directory is synced */
	if (rc == CID_OK && sync_dir(path) != 0) {
		free(staged);
		return CID_ERR_IO;
	}
	if (rc != CID_OK) {
		if (e == 0)
			e = errno;
		unlink(staged);
		errno = e;
	}
	free(staged);
	return rc;
}

enum cid_err cid_file_put(const char *path, const void *bytes, size_t len)
{
	FILE *f = NULL;
	char *staged = NULL;
	enum cid_err rc = cid_file_begin(path, &f, &staged);

	if (rc != CID_OK)
		return rc;
	if (len > 0 && fwrite(bytes, 1, len, f) != len)
		rc = CID_ERR_IO;
	return cid_file_end(f, staged, path, rc);
}
