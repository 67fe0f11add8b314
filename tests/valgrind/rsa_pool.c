/*
 * rsa_pool: RSA keys made ahead of time, for the programs that
 * tests/valgrind/run.sh runs under valgrind (LD_PRELOAD; never linked into
 * civicid, never preloaded by the ASan run, which makes every key itself).
 *
 * Under valgrind, OpenSSL's search for two 2,048-bit primes takes 15 to 60 s
 * of one core. civicid makes an RS256 key for every new store, so the suites
 * there spent most of their time, and most of their timeouts, in that search,
 * which is OpenSSL's code, not ours, and which ASan runs in full. run.sh has
 * `openssl genpkey` make the keys natively beforehand, one PEM file each, in
 * the directory CID_RSA_POOL names.
 *
 * EVP_PKEY_Q_keygen(ctx, propq, "RSA", bits) with the pool's 2,048 bits then
 * takes one of those files, by renaming it: a rename succeeds for one
 * process only, so no key is handed out twice, and two keys of one store
 * never coincide. When the pool is empty, unreadable or unset, and for any
 * other type or size, the call goes to OpenSSL. What civicid does with the
 * key it gets (stores, signs, publishes, checks) is the same either way.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

/* The bits of the pool's keys (CID_RSA_MIN_BITS, the size civicid makes). */
#define POOL_BITS 2048

EVP_PKEY *EVP_PKEY_Q_keygen(OSSL_LIB_CTX *libctx, const char *propq, const char *type, ...);

typedef EVP_PKEY *keygen_fn(OSSL_LIB_CTX *, const char *, const char *, ...);

/* OpenSSL's own EVP_PKEY_Q_keygen, or NULL when it cannot be found. */
static keygen_fn *real_keygen(void)
{
	void *sym = dlsym(RTLD_NEXT, "EVP_PKEY_Q_keygen");
	keygen_fn *fn;

	memcpy(&fn, &sym, sizeof(fn)); /* a data pointer to a function pointer, as POSIX allows */
	return fn;
}

/* A key of the pool, now this process's alone, or NULL when none is left. */
static EVP_PKEY *take(void)
{
	const char *dir = getenv("CID_RSA_POOL");
	EVP_PKEY *key = NULL;
	DIR *d;
	const struct dirent *e;

	if (dir == NULL || (d = opendir(dir)) == NULL)
		return NULL;
	while (key == NULL && (e = readdir(d)) != NULL) {
		char from[4096];
		char to[4096 + 8];
		size_t n = strlen(e->d_name);
		FILE *fp;

		if (n < 5 || strcmp(e->d_name + n - 4, ".pem") != 0)
			continue;
		if (snprintf(from, sizeof(from), "%s/%s", dir, e->d_name) >= (int)sizeof(from))
			continue;
		(void)snprintf(to, sizeof(to), "%s.taken", from);
		if (rename(from, to) != 0)
			continue; /* another process took it first */
		fp = fopen(to, "r");
		if (fp == NULL)
			continue;
		key = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
		(void)fclose(fp);
		if (key != NULL && EVP_PKEY_get_bits(key) != POOL_BITS) {
			EVP_PKEY_free(key);
			key = NULL;
		}
	}
	(void)closedir(d);
	return key;
}

EVP_PKEY *EVP_PKEY_Q_keygen(OSSL_LIB_CTX *libctx, const char *propq, const char *type, ...)
{
	keygen_fn *real = real_keygen();
	va_list ap;
	EVP_PKEY *key;

	/* the arguments after type, as openssl/evp.h's EVP_RSA_gen and EVP_EC_gen pass them */
	va_start(ap, type);
	/* OpenSSL matches the type's name without regard to case */
	if (strcasecmp(type, "RSA") == 0) {
		size_t bits = va_arg(ap, size_t);

		va_end(ap);
		key = bits == POOL_BITS ? take() : NULL;
		if (key == NULL && real != NULL)
			key = real(libctx, propq, type, bits);
		return key;
	}
	if (strcasecmp(type, "EC") == 0) {
		const char *curve = va_arg(ap, const char *);

		va_end(ap);
		return real == NULL ? NULL : real(libctx, propq, type, curve);
	}
	va_end(ap);
	return real == NULL ? NULL : real(libctx, propq, type);
}
