/*
 * csv: RFC 4180 cells for spreadsheets. A cell starting with = + - @ or a
 * tab or CR is prefixed with ' so that no spreadsheet runs it (CSV
 * injection); one holding a comma, a quote or a line break is quoted, its
 * quotes doubled.
 */
#include "csv.h"

#include <string.h>

bool cid_csv_cell(FILE *out, const char *s)
{
	bool quote = strpbrk(s, ",\"\r\n") != NULL;
	bool formula = s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' ||
		       s[0] == '\r';

	if (quote && fputc('"', out) == EOF)
		return false;
	if (formula && fputc('\'', out) == EOF)
		return false;
	for (const char *p = s; *p != '\0'; p++) {
		if (*p == '"' && fputc('"', out) == EOF)
			return false;
		if (fputc(*p, out) == EOF)
			return false;
	}
	return !quote || fputc('"', out) != EOF;
}

bool cid_csv_row(FILE *out, const char *const *row, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && fputc(',', out) == EOF)
			return false;
		if (!cid_csv_cell(out, row[i] != NULL ? row[i] : ""))
			return false;
	}
	return fputs("\r\n", out) != EOF;
}

bool cid_csv_bom(FILE *out)
{
	return fputs("\xEF\xBB\xBF", out) != EOF;
}
