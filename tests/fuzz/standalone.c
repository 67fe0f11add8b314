/*
 * Replay driver: runs LLVMFuzzerTestOneInput over every file named on the
 * command line and every regular file in each directory named, so that the
 * seed corpora (and any crash reproducer) run under gcc and in every ctest
 * build, without libFuzzer. Each input is copied into a heap block of exactly
 * its size, as libFuzzer does, so ASan sees reads past the end. A target
 * reports a failure by crashing (abort, sanitizer); the driver itself fails
 * when an argument cannot be read or names no input at all.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Optional in a target, as with libFuzzer. */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data = NULL;
	long size;
	int rc = -1;

	if (f == NULL) {
		perror(path);
		return -1;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		perror(path);
		goto out;
	}
	data = malloc(size > 0 ? (size_t)size : 1);
	if (data == NULL) {
		fprintf(stderr, "%s: out of memory\n", path);
		goto out;
	}
	if (size > 0 && fread(data, 1, (size_t)size, f) != (size_t)size) {
		fprintf(stderr, "%s: short read\n", path);
		goto out;
	}
	LLVMFuzzerTestOneInput(data, (size_t)size);
	rc = 0;
out:
	free(data);
	fclose(f);
	return rc;
}

/* Runs every regular file in dir, in name order so that runs are repeatable. */
static int run_dir(const char *dir, size_t *count)
{
	struct dirent **names = NULL;
	int n = scandir(dir, &names, NULL, alphasort);
	int rc = 0;

	if (n < 0) {
		perror(dir);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char path[4096];
		struct stat st;

		if (names[i]->d_name[0] == '.')
			goto next;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name) >=
		    sizeof(path)) {
			fprintf(stderr, "%s/%s: path too long\n", dir, names[i]->d_name);
			rc = -1;
			goto next;
		}
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			goto next;
		if (run_file(path) != 0)
			rc = -1;
		else
			(*count)++;
	next:
		free(names[i]);
	}
	free(names);
	return rc;
}

int main(int argc, char **argv)
{
	size_t count = 0;
	int failed = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
		return 2;
	}
	if (LLVMFuzzerInitialize != NULL)
		LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) != 0) {
			perror(argv[i]);
			failed = 1;
		} else if (S_ISDIR(st.st_mode)) {
			if (run_dir(argv[i], &count) != 0)
				failed = 1;
		} else if (run_file(argv[i]) != 0) {
			failed = 1;
		} else {
			count++;
		}
	}
	printf("%s: replayed %zu input(s)\n", argv[0], count);
	if (count == 0) {
		fprintf(stderr, "%s: no inputs found\n", argv[0]);
		return 1;
	}
	return failed;
}
