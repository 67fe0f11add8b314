/*
 * policy_law: what Japan's personal information law (APPI) asks of the
 * policies, by the controller's type (config controller_type):
 *
 *   local_government (APPI Chapter 5): every `basis statute` cites its
 *     provision in the form law.h's cid_law_citation_ok checks, and the
 *     personal information file register (個人情報ファイル簿, Art. 75) is
 *     made from the policies: one file per policy.
 *   business (APPI Art. 27-30): a third-party recipient's policy names its
 *     legal name and corporate number, which the provision records
 *     (provision.h) carry.
 *
 * The policy keys (parsed and checked in policy_parse.c, in the head of a
 * policy, each once):
 *   file.ja / file.en                   the personal information file's name
 *   organ.ja / organ.en                 the organ that holds the file
 *   persons.ja / persons.en             whom it records (記録範囲)
 *   collection.ja / collection.en       how its data are collected (収集方法)
 *   recipient_regular.ja / .en          its regular recipients (通常の提供先)
 *   recipient.name                      the recipient's legal name
 *   recipient.number                    its corporate number (13 digits, check digit)
 *   relationship                        third_party (default) | entrusted | internal
 * and on a permit line the word `sensitive`: the attribute is special
 * care-required information (要配慮個人情報, Art. 2(3)). A ja text needs its
 * en text and the other way round.
 *
 * Only reads a policyset; thread-safe.
 */
#ifndef CID_POLICY_LAW_H
#define CID_POLICY_LAW_H

#include "config.h"
#include "err.h"
#include "law.h"
#include "policy.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

/*
 * Checks ps against what controller type t asks (above): writes each
 * failure to errors (may be NULL) as "file:line: message" and returns
 * CID_ERR_CONFIG if there was any. CID_CONTROLLER_UNDECLARED checks nothing.
 * Errors: CID_ERR_CONFIG.
 */
CID_MUST_CHECK enum cid_err cid_policyset_law_check(const struct cid_policyset *ps,
						    enum cid_controller_type t, FILE *errors);

/*
 * cid_policyset_load_dir, then cid_policyset_law_check for controller_type
 * (config text; "" checks nothing): a set that fails the check is freed and
 * not returned. Errors: those of both; CID_ERR_CONFIG also for a
 * controller_type that cid_controller_type_parse refuses.
 */
CID_MUST_CHECK enum cid_err cid_policyset_load_dir_law(const char *dir, const char *controller_type,
						       FILE *errors, struct cid_policyset **out);

/* The recipient a policy declares (borrowed from the set; NULL when not given). */
struct cid_recipient_info {
	const char *name;	      /* recipient.name */
	const char *corporate_number; /* recipient.number, check digit valid */
	enum cid_relationship relationship;
};

/* pol's recipient into *out; pol NULL gives a third party with no name. */
void cid_policy_recipient(const struct cid_policy *pol, struct cid_recipient_info *out);

/*
 * The personal information file register of ps: one row per policy, in
 * load order. *out (new reference): [{"service","policy_version",
 * "file":{"ja","en"},"organ":{..},"purposes":[{"id","ja","en","basis",
 * "statute"?}],"items":[attributes permitted, sorted],"sensitive":bool,
 * "sensitive_items":[..],"persons":{..},"collection":{..},
 * "regular_recipients":{..} or null}]. A policy without file, organ,
 * persons or collection cannot be in the register: each is reported to
 * errors (may be NULL) as "file:1: message" and the call fails.
 * Errors: CID_ERR_CONFIG (a policy lacks a register text), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_policy_register(const struct cid_policyset *ps, FILE *errors,
						json_t **out);

/*
 * Writes register (of cid_policy_register) in locale lang ("ja" or "en":
 * the texts of that language, column names and the sensitive flag in it):
 * as CSV (a byte order mark, a header row, a row per file; lists joined
 * by "、" in ja and "; " in en) or else as JSON, an array of objects
 * {"file_name","organ","purpose_of_use","items","persons","collection",
 * "sensitive","sensitive_items","regular_recipients","service",
 * "policy_version"} with the texts of lang ("items", "sensitive_items":
 * arrays; "sensitive": bool; "regular_recipients": null when none).
 * Errors: CID_ERR_INVALID (lang), CID_ERR_IO, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_policy_register_write(const json_t *register_rows, const char *lang,
						      bool csv, FILE *out);

#endif
