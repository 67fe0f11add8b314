/*
 * csv: RFC 4180 cells for spreadsheets. A cell starting with = + - @ or a
 * tab or CR is prefixed with ' so that no spreadsheet runs it (CSV
 * injection); one holding a comma, a quote or a line break is quoted, its
 * quotes doubled.
 */
#include "csv.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void cid_csv_append(struct cid_buf *b, const char *s)
{
	bool quote = strpbrk(s, ",\"\r\n") != NULL;

	if (quote)
		cid_buf_puts(b, "\"");
	if (s[0] != '\0' && strchr("=+-@\t\r", s[0]) != NULL)
		cid_buf_puts(b, "'");
	for (const char *p = s; *p != '\0'; p++) {
		cid_buf_append(b, p, 1);
		if (*p == '"')
			cid_buf_puts(b, "\""); /* RFC 4180: a quote inside is doubled */
	}
	if (quote)
		cid_buf_puts(b, "\"");
}

bool cid_csv_cell(FILE *out, const char *s)
{
	struct cid_buf b;
	size_t n = 0;
	char *text;
	bool ok;

	cid_buf_init(&b, SIZE_MAX);
	cid_csv_append(&b, s);
	text = cid_buf_take(&b, &n);
	ok = text != NULL && fwrite(text, 1, n, out) == n;
	free(text);
	return ok;
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
