/*
 * liboauth2_verify: verifies an access token with liboauth2 (a library nobody
 * here wrote, the one behind mod_oauth2 and ngx_oauth2_module), the way a
 * resource server would: the signature against the keys at the JWKS URL,
 * "exp" and "iat" through liboauth2's claim validation, then the issuer.
 *
 *   usage: liboauth2_verify [-v] JWKS_URL ISSUER [TOKEN]
 *          (the token is read from standard input when not given)
 *
 * Prints the verified payload's sub and client_id and the payload itself;
 * exits 0 when the token verifies, 1 when it does not, 2 on a usage error.
 */
#include <oauth2/cfg.h>
#include <oauth2/log.h>
#include <oauth2/mem.h>
#include <oauth2/oauth2.h>
#include <oauth2/util.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *read_stdin(void)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);

	if (buf == NULL)
		return NULL;
	for (;;) {
		size_t n = fread(buf + len, 1, cap - len - 1, stdin);

		len += n;
		if (n == 0)
			break;
		if (len + 1 == cap) {
			char *bigger = realloc(buf, cap * 2);

			if (bigger == NULL) {
				free(buf);
				return NULL;
			}
			buf = bigger;
			cap *= 2;
		}
	}
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
		len--;
	buf[len] = '\0';
	return buf;
}

static const char *string_claim(const json_t *payload, const char *name)
{
	const char *s = json_string_value(json_object_get(payload, name));

	return s != NULL ? s : "(none)";
}

int main(int argc, char **argv)
{
	oauth2_log_level_t level = OAUTH2_LOG_ERROR;
	oauth2_log_t *log = NULL;
	oauth2_cfg_token_verify_t *verify = NULL;
	json_t *payload = NULL;
	char *token = NULL, *err = NULL, *dump = NULL;
	int argi = 1, rc = 1;

	if (argc > 1 && strcmp(argv[1], "-v") == 0) {
		level = OAUTH2_LOG_DEBUG;
		argi++;
	}
	if (argc - argi < 2 || argc - argi > 3) {
		fprintf(stderr, "usage: liboauth2_verify [-v] JWKS_URL ISSUER [TOKEN]\n");
		return 2;
	}
	const char *jwks_url = argv[argi];
	const char *issuer = argv[argi + 1];

	token = argc - argi == 3 ? strdup(argv[argi + 2]) : read_stdin();
	if (token == NULL || token[0] == '\0') {
		fprintf(stderr, "liboauth2_verify: no token\n");
		free(token);
		return 2;
	}

	log = oauth2_init(level, &oauth2_log_sink_stderr);
	/*
	 * A bearer JWT checked against the keys published at jwks_uri; "exp" and
	 * "iat" must be present and valid. (liboauth2 1.4.5 does not compare "iss"
	 * for this method: that is done below.)
	 */
	err = oauth2_cfg_token_verify_add_options(log, &verify, "jwks_uri", jwks_url,
						  "verify.exp=required&verify.iat=required");
	if (err != NULL) {
		fprintf(stderr, "liboauth2_verify: oauth2_cfg_token_verify_add_options: %s\n", err);
		oauth2_mem_free(err);
		rc = 2;
		goto out;
	}
	if (!oauth2_token_verify(log, NULL, verify, token, &payload) || payload == NULL) {
		fprintf(stderr, "liboauth2_verify: REJECTED: liboauth2 did not verify the token\n");
		goto out;
	}
	if (strcmp(string_claim(payload, "iss"), issuer) != 0) {
		fprintf(stderr, "liboauth2_verify: REJECTED: iss %s, expected %s\n",
			string_claim(payload, "iss"), issuer);
		goto out;
	}
	dump = json_dumps(payload, JSON_COMPACT | JSON_SORT_KEYS);
	printf("sub=%s\n", string_claim(payload, "sub"));
	printf("client_id=%s\n", string_claim(payload, "client_id"));
	printf("payload=%s\n", dump != NULL ? dump : "?");
	rc = 0;
out:
	free(dump);
	if (payload != NULL)
		json_decref(payload);
	if (verify != NULL)
		oauth2_cfg_token_verify_free(log, verify);
	free(token);
	oauth2_shutdown(log);
	return rc;
}
