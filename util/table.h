/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Aligned text tables for human-readable output. */
#ifndef DKM_UTIL_TABLE_H
#define DKM_UTIL_TABLE_H

#include <stdio.h>

#define DKM_TABLE_MAX_COLS 12

struct dkm_table {
	unsigned ncols;
	unsigned nrows;            /* including the heading row */
	char **cells;              /* nrows * ncols strings, row-major */
	unsigned long right;       /* bit i set: column i is right-aligned */
	int oom;                   /* a cell could not be stored */
};

/* Heading names given as a NULL-terminated list; "~name" right-aligns the column. */
void dkm_table_init(struct dkm_table *t, const char *const *headings);
/* Append a row of ncols cells (printf-formatted each as given). */
void dkm_table_row(struct dkm_table *t, const char *const *cells);
void dkm_table_print(const struct dkm_table *t, FILE *f, const char *indent);
void dkm_table_free(struct dkm_table *t);

#endif
