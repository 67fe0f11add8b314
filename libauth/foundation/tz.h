/*
 * tz: an instant as local time in one time zone, for people to read.
 *
 * The zone is read once at start from a TZif file (RFC 8536; Debian's tzdata
 * installs them under /usr/share/zoneinfo) into an immutable struct cid_tz,
 * which any number of threads then read. The process-wide C library route
 * (setenv("TZ") + tzset + localtime_r) is not used: TZ is global state, tzset
 * is not thread-safe against a concurrent getenv, and one process could not
 * hold two zones. The parser is bounded (CID_TZ_MAX_* below) and checks every
 * count and index against the file before it is used; a file it refuses
 * never yields a zone. Times after the file's last transition follow its
 * footer rule (the POSIX TZ string of TZif v2+, e.g. "CET-1CEST,M3.5.0,
 * M10.5.0/3"), so "slim" files, which stop listing transitions once the rule
 * takes over, give the same answers as "fat" ones.
 *
 * cid_tz_format is the one way a page shows a time: the date and the 24-hour
 * time in the page's language (ja "2026年12月4日 21:55", en "4 December
 * 2026, 21:55"), local to the configured zone (config.h: timezone).
 * Everything here is thread-safe on a loaded zone.
 */
#ifndef CID_TZ_H
#define CID_TZ_H

#include "err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CID_TZ_DIR	       "/usr/share/zoneinfo" /* where Debian's tzdata puts the zones */
#define CID_TZ_MAX_FILE	       ((size_t)64 * 1024)   /* bytes of one TZif file (fat: ~3 KiB) */
#define CID_TZ_MAX_TRANSITIONS 4096		     /* transition times of one block */
#define CID_TZ_MAX_TYPES       256		     /* local time types (an index is one byte) */
#define CID_TZ_MAX_CHARS       512		     /* bytes of time zone abbreviations */
#define CID_TZ_MAX_LEAPS       512		     /* leap-second records (skipped) */
#define CID_TZ_MAX_FOOTER      128		     /* bytes of the POSIX TZ footer */
#define CID_TZ_MAX_NAME	       64		     /* a zone name, "Asia/Tokyo" */
#define CID_TZ_TEXT_MAX	       64		     /* a formatted time, with its NUL */

struct cid_tz;

/* A civil (wall-clock) time. */
struct cid_civil {
	int64_t year; /* 1 is the year 1 */
	int month;    /* 1..12 */
	int day;      /* 1..31 */
	int hour, minute, second;
	int32_t offset; /* seconds east of UTC in force */
};

/*
 * True if name can be a zone's name: 1..CID_TZ_MAX_NAME bytes of letters,
 * digits, '_', '-', '+' and '/', no empty, "." or ".." part, not starting
 * with '/'. Only such a name is joined to the zone directory.
 */
bool cid_tz_name_ok(const char *name);

/*
 * Parses the TZif bytes data[0..len) of the zone named name (copied, for
 * cid_tz_name) into *out (free with cid_tz_free). Version 1 files use their
 * 32-bit block; later versions their 64-bit block and footer.
 * Errors: CID_ERR_INVALID (not TZif, truncated, a count or index out of
 * place, transitions not ascending, an offset beyond ±26 h, a footer that is
 * not a POSIX TZ string), CID_ERR_TOOBIG (over a CID_TZ_MAX_* bound),
 * CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_tz_parse(const uint8_t *data, size_t len, const char *name,
					 struct cid_tz **out);

/*
 * Reads the zone name (cid_tz_name_ok) from the file dir/name into *out (free
 * with cid_tz_free). On error err[errsz] says why, naming the file.
 * Errors: CID_ERR_INVALID (a bad name, or a file cid_tz_parse refuses),
 * CID_ERR_NOTFOUND (no such file), CID_ERR_TOOBIG (a file over
 * CID_TZ_MAX_FILE), CID_ERR_IO, CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_tz_load(const char *dir, const char *name, struct cid_tz **out,
					char *err, size_t errsz);

/* UTC, named "UTC": the zone used when the configured one cannot be read. Errors: CID_ERR_NOMEM. */
CID_MUST_CHECK enum cid_err cid_tz_utc(struct cid_tz **out);

/* Frees a zone; NULL is a no-op. */
void cid_tz_free(struct cid_tz *tz);

/* The zone's name as given ("Asia/Tokyo"), borrowed for the zone's life. */
const char *cid_tz_name(const struct cid_tz *tz);

/* The offset from UTC, in seconds east, in force at the instant t (unix seconds). */
int32_t cid_tz_offset(const struct cid_tz *tz, int64_t t);

/* The wall-clock time of the instant t in tz (proleptic Gregorian calendar). */
void cid_tz_local(const struct cid_tz *tz, int64_t t, struct cid_civil *out);

/*
 * The instant t as people read it in locale ("en", else Japanese), local to
 * tz: with_time "2026年12月4日 21:55" / "4 December 2026, 21:55", else the
 * date alone ("2026年12月4日" / "4 December 2026"), into out.
 * Errors: CID_ERR_INVALID (the local year is outside 1..9999).
 */
CID_MUST_CHECK enum cid_err cid_tz_format(const struct cid_tz *tz, int64_t t, const char *locale,
					  bool with_time, char out[CID_TZ_TEXT_MAX]);

/*
 * The instant of "YYYY-MM-DDTHH:MM:SSZ" (the audit log's and the records'
 * times) into *t. Errors: CID_ERR_INVALID (any other form, or no such date).
 */
CID_MUST_CHECK enum cid_err cid_time_parse(const char *s, int64_t *t);

#endif
