/*
 * law: the forms Japan's Act on the Protection of Personal Information
 * (APPI) and its rules ask of civicid's records, each checked in one place:
 * a statute citation as a local government must give it, a corporate number
 * (法人番号) with its check digit, a recipient's relationship to the
 * controller, and how long a third-party provision record must be kept.
 *
 * Pure functions: no store, no allocation, thread-safe.
 */
#ifndef CID_LAW_H
#define CID_LAW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Whether s[0..n) is a citation of the form a local government's statutory
 * basis must take (APPI Chapter 5: a processing is allowed "as the laws and
 * regulations provide", so the basis names the provision):
 *
 *   LAW [" "] "第" N "条" ("の" N)* ["第" N "項"] ["第" N "号" ("の" N)*]
 *       [CAPTION] [" / " ENGLISH]
 *
 * LAW is the law's name as promulgated, without blanks, ending in 法, 律
 * (法律), 令 (政令, 省令, 施行令), 例 (条例) or 則 (規則); N is a number in
 * ASCII digits (1-9999, no leading 0) or in kanji numerals (一二三四五六七八九
 * 十百千, as laws write them); CAPTION is the article's caption in
 * parentheses, "(...)" or "（...）", closed; ENGLISH is any non-empty text
 * (the English rendering, not checked). Examples:
 *   "住民基本台帳法 第12条の2 第1項"
 *   "災害対策基本法 第49条の10(避難行動要支援者名簿の作成) / Disaster ..., Art. 49-10"
 * On false, *why (may be NULL) is a static English reason.
 */
bool cid_law_citation_ok(const char *s, size_t n, const char **why);

/*
 * Whether s[0..n) is a corporate number (法人番号): 13 ASCII digits whose
 * first is the check digit the National Tax Agency's rule computes from the
 * other twelve: with P1..P12 the digits from the right (P1 the last) and
 * Q = 1 for odd n, 2 for even n, check = 9 - (sum of Pn * Qn) mod 9.
 */
bool cid_law_corporate_number_ok(const char *s, size_t n);

/* What a service receiving personal data is to the controller (its policy's `relationship`). */
enum cid_relationship {
	CID_RELATIONSHIP_THIRD_PARTY, /* a third party: APPI Art. 27-30 apply (the default) */
	CID_RELATIONSHIP_ENTRUSTED, /* a contractor handling data for the controller (Art. 27(5)(i))
				     */
	CID_RELATIONSHIP_INTERNAL,  /* the controller itself (another of its departments) */
};

/* The relationship s[0..n) names ("third_party", "entrusted", "internal") into *out; false if none.
 */
bool cid_relationship_parse(const char *s, size_t n, enum cid_relationship *out);

/* Its name as the policy writes it; static. */
const char *cid_relationship_name(enum cid_relationship r);

/*
 * Whether a release to a recipient of relationship r is a provision to a
 * third party, which the provision record lists (an entrusted or internal
 * recipient is no third party: APPI Art. 27(5)).
 */
bool cid_relationship_is_provision(enum cid_relationship r);

/* How a provision record was made, which sets how long it is kept (APPI rules, Art. 21). */
enum cid_provision_method {
	/* a record per provision, or one for continuous provisions to one
	 * recipient (rules Art. 19(1), 19(2)): kept 3 years. civicid's records,
	 * made from the audit log's release entries, are of this kind. */
	CID_PROVISION_RECORD_STANDARD,
	/* the contract or other document of a provision made with the supply
	 * of goods or services to the citizen, kept in place of a record (rules
	 * Art. 19(3)): kept 1 year */
	CID_PROVISION_RECORD_CONTRACT,
};

/* Years a record made by method m must be kept (3 or 1). */
unsigned cid_provision_retention_years(enum cid_provision_method m);

/*
 * Whether a provision record whose last provision was at last (unix
 * seconds) may be purged at now: the period starts the day after the
 * provision's day in Japan (UTC+9, no daylight saving; Civil Code Art. 140)
 * and ends the day before the same date cid_provision_retention_years(m)
 * years on (Art. 143; the month's last day when that date does not exist).
 * *keep_until (may be NULL) is the last day the record must be kept, local
 * "YYYY-MM-DD". A record younger than that refuses a purge: false.
 * last or now outside years 1970..9999: false, keep_until "".
 */
bool cid_provision_purge_allowed(int64_t last, int64_t now, enum cid_provision_method m,
				 char keep_until[11]);

/* The day of t in Japan (UTC+9) as "YYYY-MM-DD"; "" outside years 1970..9999. */
void cid_law_day(int64_t t, char out[11]);

#endif
