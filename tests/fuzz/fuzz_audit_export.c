/*
 * Fuzz target: audit export verification (cid_audit_verify_export), which
 * reads a file anyone may hand to an officer or an auditor. Whatever the
 * bytes, it must return CID_OK with a report (damage is a report, not an
 * error) or an error audit.h lists, and a report must be consistent: ok with
 * covered <= entries and, unless the unsigned tail is accepted, covered ==
 * entries; or not ok with a reason. Each input is verified three times:
 * with the defaults (no issuer expected, the tail refused), with an expected
 * issuer and the tail accepted, and with the log's audit vkey trusted (signed
 * notes). The keyset is the fixed public JWKS the legacy seeds were signed
 * with, the vkey the one the seed "valid-notes" was signed with (no private
 * key here), so "valid" verifies with its JWS checkpoints and "valid-notes"
 * with its signed notes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "jose.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char jwks[] =
    "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"Ld6kHaTMFEU4GSo6S3J1uewyR11"
    "Tr5GY_nVY5lQiLA8\",\"y\":\"Pdx5zZDOcrCz0z74rhDjtUHhfjJ3h5NWBUsSBDq2fQc\",\"kid\""
    ":\"0fptzyYMf34umTTlrZhMqm_KX9Jd4-S_OTMfhzL6Gp0\",\"alg\":\"ES256\",\"use\":\"sig"
    "\"},{\"kty\":\"RSA\",\"n\":\"0eAb29l1ZhKjgYSFNuEH2atZ_bKnZT8kgPrI31OogrpvCaJCahc"
    "Se_Q5XnJzGPi1R3tk3_O4A3qK1IAHWSuY0wqLpBlPNfEEtL5zudaFfqVs5h720T0MznUrUTe1awHKMBD"
    "cWA9UUK3-qXpwIkvbJU36OWWx0fGMUXk0z_4bKwDujEagpfLjDJRQ_4XlA5eoyHam1xjVcIWz-B3EWbf"
    "6kaoURu95uQr-Wyv8i83sfPPzzsBvlFIr7omjDA7L61SpCVJGon3kZtI5YzkJoNT8z7buO7j4XwIl88g"
    "vqnX_LC34JgUt_3VMQ8Qikipul-yTDJI37YHkSt_DF5z8EbXzRQ\",\"e\":\"AQAB\",\"kid\":\"t"
    "4Sf2UE4zRsF7-LkMAeB_Gm1Q1STYYKocoLxq7zvD_w\",\"alg\":\"RS256\",\"use\":\"sig\"}]"
    "}";

static const char vkey[] = "id.example/audit+713eab9c+AceIP/zTRSaZhc9Biqeb+j6oTMJr7ctbGIhuQxhuzWi0";

/* Made once: libFuzzer runs millions of inputs in one process. */
static struct cid_keyset *keyset;
static struct cid_audit_trust *trust;

int LLVMFuzzerInitialize(int *argc, char ***argv) // NOLINT(readability-non-const-parameter)
{
	(void)argc;
	(void)argv;
	if (cid_keyset_from_jwks(jwks, sizeof(jwks) - 1, &keyset) != CID_OK ||
	    cid_audit_trust_parse(vkey, sizeof(vkey) - 1, &trust) != CID_OK)
		abort();
	return 0;
}

static void verify_once(const uint8_t *data, size_t size, const struct cid_audit_verify_opts *opts)
{
	struct cid_audit_report rep;
	FILE *in;
	enum cid_err rc;

	if (size == 0)
		in = fopen("/dev/null", "r");
	else
		in = fmemopen((void *)(uintptr_t)data, size, "r");
	if (in == NULL)
		return;
	rc = cid_audit_verify_export(in, keyset, opts, &rep);
	fclose(in);
	switch (rc) {
	case CID_OK:
		if (rep.ok && (rep.covered > rep.entries || rep.checkpoints > rep.entries))
			abort();
		if (rep.ok && rep.covered < rep.entries &&
		    !(opts->allow_unsigned_tail && rep.unsigned_tail))
			abort();
		if (!rep.ok && (rep.reason[0] == '\0' || rep.bad_seq > rep.entries + 1))
			abort();
		if (rep.checkpoints > 0 && rep.issuer[0] == '\0' && rep.origin[0] == '\0')
			abort();
		if (rep.legacy > rep.checkpoints || (rep.legacy > 0 && rep.issuer[0] == '\0'))
			abort();
		if (memchr(rep.reason, '\0', sizeof(rep.reason)) == NULL ||
		    memchr(rep.issuer, '\0', sizeof(rep.issuer)) == NULL ||
		    memchr(rep.origin, '\0', sizeof(rep.origin)) == NULL)
			abort();
		break;
	case CID_ERR_NOMEM:
	case CID_ERR_IO: break;
	default: abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct cid_audit_verify_opts refuse_tail = {0};
	static const struct cid_audit_verify_opts accept_tail = {.issuer = "https://id.example",
								 .allow_unsigned_tail = true};
	struct cid_audit_verify_opts notes = {.trust = NULL};

	if (keyset == NULL)
		LLVMFuzzerInitialize(NULL, NULL);
	notes.trust = trust;
	verify_once(data, size, &refuse_tail);
	verify_once(data, size, &accept_tail);
	verify_once(data, size, &notes);
	return 0;
}
