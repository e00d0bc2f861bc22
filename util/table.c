/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Aligned text tables (table.h) for daxkmemctl and --print-topology.
 */
#include "table.h"

#include <stdlib.h>
#include <string.h>

static void append(struct dkm_table *t, const char *const *cells, int heading)
{
	char **c = realloc(t->cells, (size_t)(t->nrows + 1) * t->ncols * sizeof(*c));

	if (!c) {
		t->oom = 1;
		return;
	}
	t->cells = c;
	for (unsigned i = 0; i < t->ncols; i++) {
		const char *s = cells[i] ? cells[i] : "";

		if (heading && s[0] == '~')
			s++;
		c[t->nrows * t->ncols + i] = strdup(s);
		if (!c[t->nrows * t->ncols + i])
			t->oom = 1;
	}
	t->nrows++;
}

void dkm_table_init(struct dkm_table *t, const char *const *headings)
{
	memset(t, 0, sizeof(*t));
	while (headings[t->ncols] && t->ncols < DKM_TABLE_MAX_COLS) {
		if (headings[t->ncols][0] == '~')
			t->right |= 1ul << t->ncols;
		t->ncols++;
	}
	append(t, headings, 1);
}

void dkm_table_row(struct dkm_table *t, const char *const *cells)
{
	append(t, cells, 0);
}

void dkm_table_print(const struct dkm_table *t, FILE *f, const char *indent)
{
	size_t width[DKM_TABLE_MAX_COLS] = { 0 };

	for (unsigned r = 0; r < t->nrows; r++)
		for (unsigned c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];
			size_t w = s ? strlen(s) : 0;

			if (w > width[c])
				width[c] = w;
		}
	for (unsigned r = 0; r < t->nrows; r++) {
		fputs(indent ? indent : "", f);
		for (unsigned c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];
			int w = (int)width[c];
			int last = c + 1 == t->ncols;

			if (!s)
				s = "?";
			if (t->right & (1ul << c))
				fprintf(f, "%*s%s", w, s, last ? "" : "  ");
			else if (last)
				fputs(s, f);
			else
				fprintf(f, "%-*s  ", w, s);
		}
		fputc('\n', f);
	}
}

void dkm_table_free(struct dkm_table *t)
{
	for (unsigned i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}
