/*
 * crypto: one way to do each primitive. Randomness comes from getrandom(2)
 * only; secrets are compared with CRYPTO_memcmp; password hashing is argon2id
 * with a fresh salt, and unknown accounts pay the same cost as known ones so
 * that timing does not tell whether a username exists.
 */
#include "crypto.h"
#include "str.h"
#include "sync.h"

#include <argon2.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define SALT_BYTES 16
#define HASH_BYTES 32
/* a salt or hash read from a PHC string: at most this many bytes, and its base64 */
#define PHC_PART_MAX 64
#define PHC_B64_MAX  88

enum cid_err cid_random_bytes(void *out, size_t n)
{
	unsigned char *p = out;

	while (n > 0) {
		ssize_t got = getrandom(p, n, 0);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return CID_ERR_CRYPTO;
		}
		p += got;
		n -= (size_t)got;
	}
	return CID_OK;
}

enum cid_err cid_random_token(char out[CID_TOKEN_CHARS + 1])
{
	unsigned char raw[CID_TOKEN_BYTES];
	enum cid_err rc = cid_random_bytes(raw, sizeof(raw));

	if (rc == CID_OK)
		rc = cid_b64url_encode(raw, sizeof(raw), out, CID_TOKEN_CHARS + 1);
	cid_wipe(raw, sizeof(raw));
	return rc;
}

/* The text of UUID u with version (the high nibble of byte 6) and the RFC 9562 variant set. */
static void uuid_text(unsigned char u[16], unsigned version, char out[CID_ID_CHARS + 1])
{
	char hex[33];

	u[6] = (unsigned char)((u[6] & 0x0F) | (version << 4));
	u[8] = (unsigned char)((u[8] & 0x3F) | 0x80);
	cid_hex(u, 16, hex);
	snprintf(out, CID_ID_CHARS + 1, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12,
		 hex + 16, hex + 20);
}

enum cid_err cid_random_uuid(char out[CID_ID_CHARS + 1])
{
	unsigned char u[16];
	enum cid_err rc = cid_random_bytes(u, sizeof(u));

	if (rc != CID_OK)
		return rc;
	uuid_text(u, 4, out);
	return CID_OK;
}

enum cid_err cid_time_uuid(uint64_t unix_ms, char out[CID_ID_CHARS + 1])
{
	unsigned char u[16];
	enum cid_err rc = cid_random_bytes(u + 6, sizeof(u) - 6);

	if (rc != CID_OK)
		return rc;
	for (size_t i = 0; i < 6; i++)
		u[i] = (unsigned char)(unix_ms >> (40 - 8 * i));
	uuid_text(u, 7, out);
	return CID_OK;
}

bool cid_token_syntax_ok(const char *s)
{
	size_t n = s == NULL ? 0 : strnlen(s, CID_TOKEN_CHARS + 1);

	if (n != CID_TOKEN_CHARS)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return false;
	}
	return true;
}

bool cid_uuid_syntax_ok(const char *s)
{
	if (s == NULL || strnlen(s, CID_ID_CHARS + 1) != CID_ID_CHARS)
		return false;
	for (size_t i = 0; i < CID_ID_CHARS; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-'
			 : !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return true;
}

void cid_sha256(const void *d, size_t n, uint8_t out[32])
{
	SHA256_CTX c;

	/*
	 * The low-level interface, deprecated in OpenSSL 3.0 but kept, hashes in
	 * place: no allocation and no provider fetch, so it cannot fail. SHA256()
	 * allocates a context, and when that fails it returns NULL with out left
	 * unwritten: every store key made from it would be stack garbage.
	 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
	SHA256_Init(&c);
	SHA256_Update(&c, d, n);
	SHA256_Final(out, &c);
#pragma GCC diagnostic pop
	OPENSSL_cleanse(&c, sizeof(c)); /* it held the secret's bytes */
}

void cid_hex(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

void cid_secret_hash(const char *secret, size_t n, char out[CID_HASH_HEX + 1])
{
	uint8_t h[32];

	cid_sha256(secret, n, h);
	cid_hex(h, sizeof(h), out);
}

bool cid_ct_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

bool cid_ct_streq(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen != blen)
		return false;
	return CRYPTO_memcmp(a, b, alen) == 0;
}

void cid_wipe(void *p, size_t n)
{
	if (p != NULL && n > 0)
		OPENSSL_cleanse(p, n);
}

/*
 * The gate is a ticket queue: each hash takes the next ticket and runs once
 * fewer than limit hashes hold a place and every earlier ticket has run, so
 * no waiter is passed over however often others arrive.
 */
struct cid_hash_gate {
	pthread_mutex_t lock;
	pthread_cond_t turn;
	unsigned limit;	 /* places */
	unsigned inside; /* places held */
	uint64_t next;	 /* the ticket the next arrival takes */
	uint64_t served; /* tickets let in so far */
	/* the counters of cid_hash_gate_stats_take, since since_ns */
	uint64_t since_ns, changed_ns; /* CLOCK_MONOTONIC; the last change of inside */
	uint64_t held_ns;	       /* places held, integrated over time up to changed_ns */
	uint64_t waited_ns;	       /* waits of the hashes let in */
	uint64_t hashes;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Adds the places held since the last change to held_ns; under g->lock. */
static void gate_tally(struct cid_hash_gate *g, uint64_t now)
{
	g->held_ns += (uint64_t)g->inside * (now - g->changed_ns);
	g->changed_ns = now;
}

enum cid_err cid_hash_gate_new(unsigned at_once, struct cid_hash_gate **out)
{
	struct cid_hash_gate *g;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);

	if (at_once > CID_MAX_HASHES_AT_ONCE)
		return CID_ERR_INVALID;
	if (at_once == 0)
		at_once = cores < 1			   ? 1
			  : cores > CID_MAX_HASHES_AT_ONCE ? CID_MAX_HASHES_AT_ONCE
							   : (unsigned)cores;
	g = calloc(1, sizeof(*g));
	if (g == NULL)
		return CID_ERR_NOMEM;
	if (cid_sync_init(&g->lock, &g->turn, CLOCK_MONOTONIC) != CID_OK) {
		free(g);
		return CID_ERR_NOMEM;
	}
	g->limit = at_once;
	g->since_ns = g->changed_ns = mono_ns();
	*out = g;
	return CID_OK;
}

void cid_hash_gate_free(struct cid_hash_gate *g)
{
	if (g == NULL)
		return;
	cid_sync_destroy(&g->lock, &g->turn);
	free(g);
}

unsigned cid_hash_gate_limit(const struct cid_hash_gate *g)
{
	return g->limit;
}

void cid_hash_gate_enter(struct cid_hash_gate *g)
{
	uint64_t ticket;

	uint64_t arrived;
	uint64_t now;

	if (g == NULL)
		return;
	arrived = mono_ns();
	pthread_mutex_lock(&g->lock);
	ticket = g->next++;
	while (ticket != g->served || g->inside >= g->limit)
		pthread_cond_wait(&g->turn, &g->lock);
	now = mono_ns();
	gate_tally(g, now);
	g->waited_ns += now - arrived;
	g->hashes++;
	g->served++;
	g->inside++;
	/* the next ticket may fit in a place still free */
	pthread_cond_broadcast(&g->turn);
	pthread_mutex_unlock(&g->lock);
}

void cid_hash_gate_leave(struct cid_hash_gate *g)
{
	if (g == NULL)
		return;
	pthread_mutex_lock(&g->lock);
	gate_tally(g, mono_ns());
	g->inside--;
	pthread_cond_broadcast(&g->turn);
	pthread_mutex_unlock(&g->lock);
}

void cid_hash_gate_stats_take(struct cid_hash_gate *g, struct cid_hash_gate_stats *out)
{
	uint64_t now = mono_ns();
	uint64_t span;

	pthread_mutex_lock(&g->lock);
	gate_tally(g, now);
	span = now - g->since_ns;
	out->hashes = g->hashes;
	out->seconds = (double)span / 1e9;
	out->in_flight = span == 0 ? 0 : (double)g->held_ns / (double)span;
	out->wait_ms = g->hashes == 0 ? 0 : (double)g->waited_ns / 1e6 / (double)g->hashes;
	g->since_ns = now;
	g->held_ns = g->waited_ns = g->hashes = 0;
	pthread_mutex_unlock(&g->lock);
}

unsigned cid_hash_gate_waiting(struct cid_hash_gate *g)
{
	unsigned n;

	pthread_mutex_lock(&g->lock);
	n = (unsigned)(g->next - g->served);
	pthread_mutex_unlock(&g->lock);
	return n;
}

static bool argon2_params_ok(const struct cid_argon2_params *p)
{
	return p->t_cost >= ARGON2_MIN_TIME && p->t_cost <= 64 && p->parallelism >= 1 &&
	       p->parallelism <= 64 && p->m_cost_kib >= 8 * p->parallelism &&
	       p->m_cost_kib <= 4u * 1024 * 1024;
}

/*
 * argon2id's memory, one mapping per hash, asked for in huge pages
 * (MADV_HUGEPAGE) and returned when the hash is done. Through malloc, glibc
 * would keep the 19 MiB of each login thread resident for good once its mmap
 * threshold had risen past it; mapped anew in small pages, every hash would
 * fault it in page by page, half as long again as the hash. In 2 MiB pages
 * the faults are a handful and the heap keeps nothing.
 */
#define HUGE_PAGE ((size_t)2 << 20)

static size_t hash_memory_len(size_t bytes)
{
	return (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
}

static int hash_memory_get(uint8_t **memory, size_t bytes)
{
	size_t len = hash_memory_len(bytes);
	uint8_t *map;
	size_t head;

	if (len < bytes || len + HUGE_PAGE < len)
		return ARGON2_MEMORY_ALLOCATION_ERROR;
	/* a huge page must start on a 2 MiB boundary: map more, keep the aligned part */
	map =
	    mmap(NULL, len + HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED)
		return ARGON2_MEMORY_ALLOCATION_ERROR;
	head = (HUGE_PAGE - (uintptr_t)map % HUGE_PAGE) % HUGE_PAGE;
	if (head > 0)
		(void)munmap(map, head);
	(void)munmap(map + head + len, HUGE_PAGE - head);
	/* advice only: without huge pages the hash is slower, not wrong */
	(void)madvise(map + head, len, MADV_HUGEPAGE);
	*memory = map + head;
	return ARGON2_OK;
}

static void hash_memory_put(uint8_t *memory, size_t bytes)
{
	(void)munmap(memory, hash_memory_len(bytes));
}

/*
 * argon2id of pw and salt with params into out[outlen], its memory from
 * hash_memory_get, computed once params->gate lets it in (NULL: at once).
 */
// NOLINTNEXTLINE(readability-non-const-parameter): argon2_ctx writes the hash to out
static int argon2id_raw(uint8_t *out, size_t outlen, const struct cid_argon2_params *params,
			const char *pw, size_t n, const uint8_t *salt, size_t salt_len)
{
	int r;
	argon2_context c = {
	    .out = out,
	    .outlen = (uint32_t)outlen,
	    .pwd = (uint8_t *)(uintptr_t)pw,
	    .pwdlen = (uint32_t)n,
	    .salt = (uint8_t *)(uintptr_t)salt,
	    .saltlen = (uint32_t)salt_len,
	    .t_cost = params->t_cost,
	    .m_cost = params->m_cost_kib,
	    .lanes = params->parallelism,
	    .threads = params->parallelism,
	    .version = ARGON2_VERSION_13,
	    .allocate_cbk = hash_memory_get,
	    .free_cbk = hash_memory_put,
	    .flags = ARGON2_DEFAULT_FLAGS,
	};

	cid_hash_gate_enter(params->gate);
	r = argon2_ctx(&c, Argon2_id);
	cid_hash_gate_leave(params->gate);
	return r;
}

/* A PHC string's parts: "$argon2id$v=19$m=M,t=T,p=P$SALT$HASH", base64 without padding. */
struct phc {
	struct cid_argon2_params params;
	uint8_t salt[PHC_PART_MAX];
	size_t salt_len;
	uint8_t hash[PHC_PART_MAX];
	size_t hash_len;
};

/* Decodes base64 without padding [s, s+n) into out[PHC_PART_MAX]. Errors: CID_ERR_INVALID. */
static enum cid_err phc_b64_decode(const char *s, size_t n, uint8_t *out, size_t *len)
{
	char padded[PHC_B64_MAX + 4];

	if (n % 4 == 1 || n > PHC_B64_MAX || memchr(s, '=', n) != NULL)
		return CID_ERR_INVALID;
	memcpy(padded, s, n);
	while (n % 4 != 0)
		padded[n++] = '=';
	return cid_b64_decode(padded, n, out, PHC_PART_MAX, len) == CID_OK ? CID_OK
									   : CID_ERR_INVALID;
}

/* Appends base64 of in[n] without padding at *p, moving *p past it. */
static enum cid_err phc_b64_encode(const uint8_t *in, size_t n, char **p, const char *end)
{
	char b64[PHC_B64_MAX + 4];
	size_t len;

	if (cid_b64_encode(in, n, b64, sizeof(b64)) != CID_OK)
		return CID_ERR_CRYPTO;
	len = strcspn(b64, "=");
	if ((size_t)(end - *p) <= len)
		return CID_ERR_CRYPTO;
	memcpy(*p, b64, len);
	*p += len;
	**p = '\0';
	return CID_OK;
}

/* The decimal number [*p, up to stop) into *out (1..UINT32_MAX), *p moved past stop. */
static bool phc_number(const char **p, char stop, uint32_t *out)
{
	const char *end = strchr(*p, stop);
	uint64_t v = 0;

	if (end == NULL || cid_parse_u64(*p, (size_t)(end - *p), 1, UINT32_MAX, &v) != CID_OK)
		return false;
	*out = (uint32_t)v;
	*p = end + 1;
	return true;
}

static enum cid_err phc_parse(const char *encoded, struct phc *out)
{
	static const char prefix[] = "$argon2id$v=19$m=";
	const char *p = encoded;
	const char *dollar;

	if (strncmp(p, prefix, sizeof(prefix) - 1) != 0)
		return CID_ERR_INVALID;
	p += sizeof(prefix) - 1;
	if (!phc_number(&p, ',', &out->params.m_cost_kib) || strncmp(p, "t=", 2) != 0)
		return CID_ERR_INVALID;
	p += 2;
	if (!phc_number(&p, ',', &out->params.t_cost) || strncmp(p, "p=", 2) != 0)
		return CID_ERR_INVALID;
	p += 2;
	if (!phc_number(&p, '$', &out->params.parallelism) || !argon2_params_ok(&out->params))
		return CID_ERR_INVALID;
	dollar = strchr(p, '$');
	if (dollar == NULL ||
	    phc_b64_decode(p, (size_t)(dollar - p), out->salt, &out->salt_len) != CID_OK ||
	    phc_b64_decode(dollar + 1, strlen(dollar + 1), out->hash, &out->hash_len) != CID_OK ||
	    out->salt_len < ARGON2_MIN_SALT_LENGTH || out->hash_len < ARGON2_MIN_OUTLEN)
		return CID_ERR_INVALID;
	return CID_OK;
}

enum cid_err cid_password_hash(const struct cid_argon2_params *params, const char *pw, size_t n,
			       char out[CID_PASSWORD_HASH_MAX])
{
	uint8_t salt[SALT_BYTES];
	uint8_t hash[HASH_BYTES];
	char *p = out;
	const char *end = out + CID_PASSWORD_HASH_MAX;
	int len;
	enum cid_err rc = CID_ERR_CRYPTO;

	if (n < CID_MIN_PASSWORD || n > CID_MAX_PASSWORD || !argon2_params_ok(params))
		return CID_ERR_INVALID;
	if (cid_random_bytes(salt, sizeof(salt)) != CID_OK ||
	    argon2id_raw(hash, sizeof(hash), params, pw, n, salt, sizeof(salt)) != ARGON2_OK)
		goto out;
	len = snprintf(out, CID_PASSWORD_HASH_MAX, "$argon2id$v=19$m=%u,t=%u,p=%u$",
		       (unsigned)params->m_cost_kib, (unsigned)params->t_cost,
		       (unsigned)params->parallelism);
	if (len <= 0 || len >= CID_PASSWORD_HASH_MAX)
		goto out;
	p += len;
	if (phc_b64_encode(salt, sizeof(salt), &p, end) != CID_OK || (size_t)(end - p) < 2)
		goto out;
	*p++ = '$';
	rc = phc_b64_encode(hash, sizeof(hash), &p, end);
out:
	cid_wipe(hash, sizeof(hash));
	return rc;
}

enum cid_err cid_password_verify(struct cid_hash_gate *gate, const char *encoded, const char *pw,
				 size_t n)
{
	struct phc phc = {0};
	uint8_t hash[PHC_PART_MAX];
	enum cid_err rc;

	if (n > CID_MAX_PASSWORD || phc_parse(encoded, &phc) != CID_OK)
		return CID_ERR_INVALID;
	phc.params.gate = gate;
	if (argon2id_raw(hash, phc.hash_len, &phc.params, pw, n, phc.salt, phc.salt_len) !=
	    ARGON2_OK)
		rc = CID_ERR_INVALID;
	else
		rc = cid_ct_equal(hash, phc.hash, phc.hash_len) ? CID_OK : CID_ERR_DENIED;
	cid_wipe(hash, sizeof(hash));
	return rc;
}

bool cid_password_upgrade(const struct cid_argon2_params *params, const char *encoded,
			  const char *pw, size_t n, char out[CID_PASSWORD_HASH_MAX])
{
	struct phc phc = {0};
	bool current;

	out[0] = '\0';
	if (phc_parse(encoded, &phc) != CID_OK)
		return false;
	current = phc.params.m_cost_kib == params->m_cost_kib &&
		  phc.params.t_cost == params->t_cost &&
		  phc.params.parallelism == params->parallelism && phc.salt_len == SALT_BYTES &&
		  phc.hash_len == HASH_BYTES;
	cid_wipe(&phc, sizeof(phc));
	if (current || cid_password_hash(params, pw, n, out) != CID_OK) {
		cid_wipe(out, CID_PASSWORD_HASH_MAX);
		out[0] = '\0';
		return false;
	}
	return true;
}

enum cid_err cid_password_burn(const struct cid_argon2_params *params, const char *pw, size_t n)
{
	/* a fixed salt is fine here: the result is thrown away, only the cost matters
	 * (a hash that fails, out of memory, only ends sooner: the verdict is the same) */
	static const uint8_t salt[SALT_BYTES] = "civicid-dummy!!";
	uint8_t hash[HASH_BYTES];

	if (n > CID_MAX_PASSWORD)
		n = CID_MAX_PASSWORD;
	if (argon2_params_ok(params))
		(void)argon2id_raw(hash, sizeof(hash), params, pw, n, salt, sizeof(salt));
	cid_wipe(hash, sizeof(hash));
	return CID_ERR_DENIED;
}
