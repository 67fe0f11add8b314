/*
 * policy_load: policy files and directories into a compiled, immutable policyset.
 *
 * A set is built whole or not at all: every file is parsed (all their errors
 * reported), and only when none had one is the lookup table compiled and the
 * set handed out. After that nothing writes to it; a reload builds a new set
 * and the caller swaps it in (cid.c counts the references), so a request sees
 * one set from start to end. Files are read with a bound (one byte over
 * CID_POLICY_MAX_FILE tells "too big"), and a directory's files are taken in
 * the byte order of their names, so every machine loads the same set from
 * the same files.
 */
#include "policy_int.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Puts k (strings borrowed); returns its slot, which existed if *existed. */
static struct slot *slot_put(struct cid_policyset *ps, struct key k, size_t index, bool *existed)
{
	policy_key_hash(&k);
	struct slot *s = &ps->slots[policy_slot_probe(ps, &k)];
	*existed = s->key.cls != SLOT_EMPTY;
	if (!*existed) {
		s->key = k;
		s->index = index;
	}
	return s;
}

/*
 * Puts every service, purpose and rule of ps into a new lookup table at most
 * half full; an attribute slot keeps a deny over a permit of the same attribute.
 */
static enum cid_err compile(struct cid_policyset *ps)
{
	size_t entries = ps->n_policies + ps->n_purposes + ps->n_rules, size = 8;
	bool existed;

	while (size < 2 * entries)
		size *= 2;
	ps->slots = calloc(size, sizeof(*ps->slots));
	if (ps->slots == NULL)
		return CID_ERR_NOMEM;
	ps->mask = size - 1;
	for (size_t i = 0; i < ps->n_policies; i++) {
		struct key k = {.cls = SLOT_SERVICE,
				.service = cid_str_of(ps->policies[i].service)};
		/* the slot it returns is not needed: a service's slot holds only i */
		(void)slot_put(ps, k, i, &existed);
	}
	for (size_t i = 0; i < ps->n_purposes; i++) {
		const struct purpose *pu = &ps->purposes[i];
		struct key k = {.cls = SLOT_PURPOSE,
				.service = cid_str_of(ps->policies[pu->policy].service),
				.purpose = cid_str_of(pu->id)};
		(void)slot_put(ps, k, i, &existed); /* as the service's */
		for (size_t r = pu->first_rule; r < pu->first_rule + pu->n_rules; r++) {
			k.cls = SLOT_ATTRIBUTE;
			k.attribute = cid_str_of(ps->rules[r].attribute);
			struct slot *s = slot_put(ps, k, i, &existed);
			if (!existed || ps->rules[r].kind == RULE_DENY)
				s->rule = r;
		}
	}
	return CID_OK;
}

/* ---- loading ---- */

static struct cid_policyset *set_new(void)
{
	return calloc(1, sizeof(struct cid_policyset));
}

/* Reads at most CID_POLICY_MAX_FILE + 1 bytes: enough to tell that a file is too big. */
static enum cid_err read_file(const char *path, char **text, size_t *len)
{
	FILE *f = fopen(path, "rbe");
	enum cid_err rc = CID_OK;
	char *buf = NULL;
	size_t n = 0;

	if (f == NULL)
		return CID_ERR_IO;
	buf = malloc(CID_POLICY_MAX_FILE + 1);
	CID_ENSURE(buf != NULL, CID_ERR_NOMEM);
	n = fread(buf, 1, CID_POLICY_MAX_FILE + 1, f);
	CID_ENSURE(!ferror(f), CID_ERR_IO);
	*text = buf;
	*len = n;
	buf = NULL;
out:
	free(buf);
	int saved = errno;
	fclose(f);
	errno = saved;
	return rc;
}

enum cid_err cid_policyset_load(const char *const *paths, size_t n_paths, FILE *errors,
				struct cid_policyset **out)
{
	struct cid_policyset *ps = set_new();
	enum cid_err rc = CID_OK;
	unsigned n_errors = 0;
	bool unreadable = false;

	CID_ENSURE(ps != NULL, CID_ERR_NOMEM);
	for (size_t i = 0; i < n_paths; i++) {
		char *text = NULL;
		size_t len = 0;

		rc = read_file(paths[i], &text, &len);
		if (rc == CID_ERR_IO) {
			if (errors != NULL)
				fprintf(errors, "%s: cannot read: %s\n", paths[i], strerror(errno));
			unreadable = true;
			continue;
		}
		CID_TRY(rc);
		rc = policy_parse_file(ps, paths[i], text, len, errors, &n_errors);
		free(text);
		CID_TRY(rc);
	}
	CID_ENSURE(!unreadable, CID_ERR_IO);
	CID_ENSURE(n_errors == 0, CID_ERR_CONFIG);
	CID_TRY(compile(ps));
	*out = ps;
	ps = NULL;
out:
	cid_policyset_free(ps);
	return rc;
}

enum cid_err cid_policyset_parse(const char *name, const char *text, size_t len, FILE *errors,
				 struct cid_policyset **out)
{
	struct cid_policyset *ps = set_new();
	enum cid_err rc = CID_OK;
	unsigned n_errors = 0;

	CID_ENSURE(ps != NULL, CID_ERR_NOMEM);
	CID_TRY(policy_parse_file(ps, name, text == NULL ? "" : text, len, errors, &n_errors));
	CID_ENSURE(n_errors == 0, CID_ERR_CONFIG);
	CID_TRY(compile(ps));
	*out = ps;
	ps = NULL;
out:
	cid_policyset_free(ps);
	return rc;
}

static int policy_file(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return d->d_name[0] != '.' && n > 7 && strcmp(d->d_name + n - 7, ".policy") == 0;
}

/* By bytes, not by locale: the same order everywhere. */
static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

enum cid_err cid_policy_list_dir(const char *dir, char ***out, size_t *n_out)
{
	struct dirent **names = NULL;
	int n = scandir(dir, &names, policy_file, by_name);
	enum cid_err rc = CID_OK;
	char **paths = NULL;
	size_t count = 0;

	if (n < 0)
		return CID_ERR_IO;
	paths = calloc((size_t)n + 1, sizeof(*paths));
	CID_ENSURE(paths != NULL, CID_ERR_NOMEM);
	for (int i = 0; i < n; i++) {
		size_t size = strlen(dir) + strlen(names[i]->d_name) + 2;
		struct stat st;

		paths[count] = malloc(size);
		CID_ENSURE(paths[count] != NULL, CID_ERR_NOMEM);
		snprintf(paths[count], size, "%s/%s", dir, names[i]->d_name);
		if (stat(paths[count], &st) == 0 && S_ISREG(st.st_mode))
			count++;
		else
			free(paths[count]);
		paths[count] = NULL;
	}
	*out = paths;
	*n_out = count;
	paths = NULL;
out:
	cid_policy_paths_free(paths, count);
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

void cid_policy_paths_free(char **paths, size_t n)
{
	if (paths == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
}

enum cid_err cid_policyset_load_dir(const char *dir, FILE *errors, struct cid_policyset **out)
{
	char **paths = NULL;
	size_t n = 0;
	enum cid_err rc = cid_policy_list_dir(dir, &paths, &n);

	if (rc == CID_ERR_IO && errors != NULL)
		fprintf(errors, "%s: cannot read the directory: %s\n", dir, strerror(errno));
	if (rc != CID_OK)
		return rc;
	rc = cid_policyset_load((const char *const *)paths, n, errors, out);
	cid_policy_paths_free(paths, n);
	return rc;
}

void cid_policyset_free(struct cid_policyset *ps)
{
	if (ps == NULL)
		return;
	while (ps->arena != NULL) {
		struct block *next = ps->arena->next;
		free(ps->arena);
		ps->arena = next;
	}
	free(ps->policies);
	free(ps->purposes);
	free(ps->rules);
	free(ps->slots);
	free(ps);
}
