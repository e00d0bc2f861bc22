/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reading sysfs attributes below a configurable root ("/sys" on a live
 * system, a fixture tree in tests). Every path argument is relative to the
 * root and given printf-style. Functions return 0 or a negative errno.
 */
#ifndef DKM_UTIL_SYSFS_H
#define DKM_UTIL_SYSFS_H

#include <stddef.h>
#include <stdint.h>

#define DKM_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* Largest attribute read; a longer file fails with -EFBIG. */
#define DKM_SYSFS_MAX_FILE (1024 * 1024)

/* Build root/path into buf; -ENAMETOOLONG if it does not fit. */
int dkm_sysfs_path(char *buf, size_t size, const char *root, const char *fmt, ...) DKM_PRINTF(4, 5);

/* Whole file, NUL-terminated, trailing newlines removed; caller frees *ret. */
int dkm_sysfs_read_alloc(const char *root, char **ret, const char *fmt, ...) DKM_PRINTF(3, 4);

/* Whole file into buf (trailing newlines removed); -EFBIG if it does not fit. */
int dkm_sysfs_read(const char *root, char *buf, size_t size, const char *fmt, ...) DKM_PRINTF(4, 5);

/* One unsigned number, decimal or 0x-prefixed hex; -EINVAL on anything else. */
int dkm_sysfs_read_u64(const char *root, uint64_t *ret, const char *fmt, ...) DKM_PRINTF(3, 4);

/* One signed decimal int; -EINVAL on anything else, -ERANGE out of range. */
int dkm_sysfs_read_int(const char *root, int *ret, const char *fmt, ...) DKM_PRINTF(3, 4);

/* Last component of a symlink's target (a device's driver name). */
int dkm_sysfs_read_link_name(const char *root, char *buf, size_t size, const char *fmt, ...)
	DKM_PRINTF(4, 5);

/* Parse "123", "0x7b" (with optional trailing white space) as u64. */
int dkm_parse_u64(const char *s, uint64_t *ret);
/* Parse a signed decimal int (optional trailing white space). */
int dkm_parse_int(const char *s, int *ret);

#endif
