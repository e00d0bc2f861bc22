/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Small text helpers shared by the daemon and the tools. */
#ifndef DKM_UTIL_FORMAT_H
#define DKM_UTIL_FORMAT_H

#include <stddef.h>
#include <stdint.h>

/* "0 B", "512 KiB", "896.0 MiB", "1.5 GiB": binary units, one decimal above KiB. */
const char *dkm_format_bytes(uint64_t bytes, char *buf, size_t size);

/* Join ints as "2,0,3,1" into buf (truncated with "..." if too long). */
const char *dkm_format_ints(const int *v, unsigned n, char *buf, size_t size);

#endif
