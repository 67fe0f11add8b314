/*
 * csv: cells of the CSV files civicid writes for people's spreadsheets
 * (RFC 4180 quoting; a cell that a spreadsheet would run as a formula is
 * written as text), and the UTF-8 byte order mark that makes Japanese Excel
 * read the file as UTF-8 rather than Shift_JIS.
 */
#ifndef CID_CSV_H
#define CID_CSV_H

#include "buf.h"

#include <stdbool.h>
#include <stdio.h>

/*
 * Appends s to b as one cell (no separator): quoted when it holds a comma, a
 * quote or a line break (its quotes doubled), and with a leading ' when it
 * starts with = + - @ TAB or CR, which a spreadsheet would run. Errors are
 * b's (cid_buf_status). The one rule of every CSV civicid writes.
 */
void cid_csv_append(struct cid_buf *b, const char *s);

/* Writes s as one cell (cid_csv_append; no separator); false on a write error. */
bool cid_csv_cell(FILE *out, const char *s);

/*
 * Writes the n cells of row, separated by ',' and ended by CRLF; a NULL
 * cell is empty. False on a write error.
 */
bool cid_csv_row(FILE *out, const char *const *row, size_t n);

/* Writes the UTF-8 byte order mark; false on a write error. */
bool cid_csv_bom(FILE *out);

#endif
