/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Figures for people (format.h): byte counts in binary units, lists of ints.
 */
#include "format.h"

#include <stdio.h>
#include <string.h>

const char *dkm_format_bytes(uint64_t bytes, char *buf, size_t size)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double)bytes;
	unsigned u = 0;

	if (bytes < 1024) {
		snprintf(buf, size, "%u B", (unsigned)bytes);
		return buf;
	}
	v /= 1024.0;
	while (v >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024.0;
		u++;
	}
	if (u == 0 && bytes % 1024 == 0)
		snprintf(buf, size, "%.0f %s", v, units[u]);
	else
		snprintf(buf, size, "%.1f %s", v, units[u]);
	return buf;
}

const char *dkm_format_ints(const int *v, unsigned n, char *buf, size_t size)
{
	size_t len = 0;

	if (size)
		buf[0] = '\0';
	for (unsigned i = 0; i < n; i++) {
		int w = snprintf(buf + len, size - len, "%s%d", i ? "," : "", v[i]);

		if (w < 0 || (size_t)w >= size - len) {
			if (size >= 4)
				memcpy(buf + size - 4, "...", 4);
			break;
		}
		len += (size_t)w;
	}
	return buf;
}
