/*
 * Fuzz target: release-policy files (cid_policyset_parse), which a privacy
 * officer edits by hand and the server reloads on SIGHUP. Whatever the input,
 * the parser must either build a policyset or fail with an error policy.h
 * lists; a policyset it builds must answer every question: each service
 * describes itself as JSON whose rules all evaluate to the decision the rule
 * promises (a deny denies; a permit at the highest level with no consent
 * asks, or permits when the basis is a statute), and whose digests match
 * what a consent to them must carry; the law's checks of every controller
 * type answer, and a register it makes is written in ja and en, CSV and JSON.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "policy_law.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Opened once: libFuzzer runs millions of inputs in one process. */
static FILE *sink;

int LLVMFuzzerInitialize(int *argc, char ***argv) // NOLINT(readability-non-const-parameter)
{
	(void)argc;
	(void)argv;
	sink = fopen("/dev/null", "w");
	return 0;
}

static const char *const probes[] = {
    "email",	      "family_name",	   "family_name#ja-Kana-JP", "birthdate",
    "household_size", "resident_district", "no_such_claim",	     "",
    "family_name#!!",
};

/* A rule's attribute decides as the rule says. */
static void check_rule(const struct cid_policyset *ps, const char *service, const json_t *purpose,
		       const json_t *rule, bool deny)
{
	const char *id = json_string_value(json_object_get(purpose, "id"));
	const char *attribute = json_string_value(json_object_get(rule, "attribute"));
	const char *where = json_string_value(json_object_get(rule, "rule"));
	const char *digest = json_string_value(json_object_get(purpose, "digest"));
	bool statute = strcmp(json_string_value(json_object_get(purpose, "basis")), "statute") == 0;
	struct cid_consent_fact fact = {attribute, CID_CONSENT_GRANTED, 0, digest, "r"};
	struct cid_decision d;

	cid_policy_eval(ps, service, id, attribute, NULL, 0, CID_LEVEL_HIGH, 1, &d);
	if (deny) {
		if (d.permit || d.reason != CID_REASON_EXPLICIT_DENY || strcmp(d.rule, where) != 0)
			abort();
		return;
	}
	if (d.rule == NULL || strcmp(d.rule, where) != 0 ||
	    d.reason != (statute ? CID_REASON_PERMIT_STATUTE : CID_REASON_NO_CONSENT))
		abort();
	cid_policy_eval(ps, service, id, attribute, &fact, 1, CID_LEVEL_HIGH, 1, &d);
	if (!d.permit || d.consent_id != (statute ? NULL : fact.record_id) ||
	    d.verified != json_is_true(json_object_get(rule, "verified")))
		abort();
	cid_policy_eval(ps, service, id, attribute, &fact, 1, 0, 1, &d);
	if (d.permit || d.reason != CID_REASON_LEVEL_TOO_LOW)
		abort();
}

/* The law's checks answer OK or CONFIG, and a register made is written in every form. */
static void check_law(const struct cid_policyset *ps)
{
	static const enum cid_controller_type types[] = {
	    CID_CONTROLLER_UNDECLARED, CID_CONTROLLER_LOCAL_GOVERNMENT, CID_CONTROLLER_BUSINESS};

	json_t *reg = NULL;

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		enum cid_err rc = cid_policyset_law_check(ps, types[i], sink);
		if (rc != CID_OK && rc != CID_ERR_CONFIG)
			abort();
	}
	enum cid_err rc = cid_policy_register(ps, sink, &reg);
	if (rc == CID_ERR_CONFIG || rc == CID_ERR_NOMEM) {
		if (reg != NULL)
			abort();
		return;
	}
	if (rc != CID_OK)
		abort();
	for (int csv = 0; csv < 2; csv++)
		if (cid_policy_register_write(reg, "ja", csv, sink) != CID_OK ||
		    cid_policy_register_write(reg, "en", csv, sink) != CID_OK)
			abort();
	json_decref(reg);
}

static void check_service(const struct cid_policyset *ps, const char *service)
{
	json_t *d = NULL, *purpose, *rule;
	size_t i, j;

	if (cid_policy_describe(ps, service, &d) != CID_OK)
		abort(); /* NOMEM aside, a loaded service describes itself */
	char *text = json_dumps(d, JSON_COMPACT);
	if (text == NULL)
		abort();
	free(text);
	if (strcmp(json_string_value(json_object_get(d, "version")),
		   cid_policyset_version(ps, service)) != 0)
		abort();
	json_array_foreach(json_object_get(d, "purposes"), i, purpose)
	{
		json_array_foreach(json_object_get(purpose, "permit"), j, rule)
		    check_rule(ps, service, purpose, rule, false);
		json_array_foreach(json_object_get(purpose, "deny"), j, rule)
		    check_rule(ps, service, purpose, rule, true);
		for (j = 0; j < sizeof(probes) / sizeof(probes[0]); j++) {
			struct cid_decision dec;
			cid_policy_eval(ps, service,
					json_string_value(json_object_get(purpose, "id")),
					probes[j], NULL, 0, CID_LEVEL_MFA, 1, &dec);
			if (dec.reason == CID_REASON_UNKNOWN_SERVICE ||
			    dec.reason == CID_REASON_UNKNOWN_PURPOSE || dec.policy_version == NULL)
				abort();
		}
	}
	json_decref(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cid_policyset *ps = NULL;
	enum cid_err rc;
	struct cid_decision d;

	if (sink == NULL)
		LLVMFuzzerInitialize(NULL, NULL);
	rc = cid_policyset_parse("fuzz.policy", (const char *)data, size, sink, &ps);
	switch (rc) {
	case CID_OK: break;
	case CID_ERR_CONFIG:
	case CID_ERR_NOMEM:
		if (ps != NULL)
			abort(); /* no policyset unless all good */
		return 0;
	default: abort(); /* an error policy.h does not list */
	}
	if (cid_policyset_count(ps) != 1)
		abort();
	for (size_t i = 0; i < cid_policyset_count(ps); i++)
		check_service(ps, cid_policyset_service(ps, i));
	check_law(ps);
	cid_policy_eval(ps, "no-such-service", "p", "email", NULL, 0, CID_LEVEL_HIGH, 1, &d);
	if (d.permit || d.reason != CID_REASON_UNKNOWN_SERVICE)
		abort();
	cid_policyset_free(ps);
	return 0;
}
