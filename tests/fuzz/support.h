/*
 * Fuzz support: what the targets that need a real store share. Not a target
 * itself (the CMake glob takes fuzz_*.c only); linked into every target.
 *
 * Stores live under /dev/shm when it exists: LMDB commits there cost no
 * fsync, so a target that writes per input still runs thousands of inputs a
 * second. Everything aborts on failure: a target that cannot set itself up
 * must not pass as "no finding".
 */
#ifndef CID_FUZZ_SUPPORT_H
#define CID_FUZZ_SUPPORT_H

#include "cid.h"
#include "config.h"
#include "store.h"

/* Makes a new empty directory (under /dev/shm, else /tmp) into dir[256]. */
void fuzz_tmpdir(char dir[256]);

/* Removes dir and everything below it. */
void fuzz_rmtree(const char *dir);

/* Writes size bytes of data to the file dir/name (replacing it). */
void fuzz_write_file(const char *dir, const char *name, const void *data, size_t size);

/*
 * A context on a fresh store: its directory, the configuration (cheap
 * argon2id, policies from dir/policies) and the context.
 */
struct fuzz_env {
	char dir[256];
	char policies[300];
	struct cid_config *cfg;
	struct cid_ctx *ctx;
};

/*
 * Opens env at now with one policy file (name, text; none when name is NULL)
 * in its policies directory. Close it with fuzz_env_close.
 */
void fuzz_env_open(struct fuzz_env *env, int64_t now, const char *name, const char *text);

/* Closes the context and removes the directory. */
void fuzz_env_close(struct fuzz_env *env);

/*
 * Deletes every record of db, so a target whose inputs each leave a record
 * (a pending request, a code) keeps its store small over millions of runs.
 */
void fuzz_store_clear(struct cid_store *s, enum cid_db db);

#endif
