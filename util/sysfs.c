/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reading sysfs attributes below a root directory (sysfs.h): whole files,
 * numbers, link names; and the strict number parsers they use.
 */
#include "sysfs.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int vpath(char *buf, size_t size, const char *root, const char *fmt, va_list ap)
{
	int n, m;

	n = snprintf(buf, size, "%s/", root);
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	m = vsnprintf(buf + n, size - (size_t)n, fmt, ap);
	if (m < 0 || (size_t)m >= size - (size_t)n)
		return -ENAMETOOLONG;
	return 0;
}

int dkm_sysfs_path(char *buf, size_t size, const char *root, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vpath(buf, size, root, fmt, ap);
	va_end(ap);
	return r;
}

static void strip_newlines(char *s, size_t *len)
{
	while (*len && (s[*len - 1] == '\n' || s[*len - 1] == '\r'))
		s[--*len] = '\0';
}

/* Read up to max bytes of path; *ret is malloc'ed and NUL-terminated. */
static int read_path(const char *path, char **ret, size_t max)
{
	size_t cap = 4096, len = 0;
	char *buf;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	buf = malloc(cap);
	if (!buf) {
		r = -ENOMEM;
		goto out_close;
	}
	for (;;) {
		ssize_t n;

		if (len + 1 >= cap) {
			char *nb;

			if (cap > max) {
				r = -EFBIG;
				goto out_free;
			}
			nb = realloc(buf, cap * 2);
			if (!nb) {
				r = -ENOMEM;
				goto out_free;
			}
			buf = nb;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto out_free;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > max) {
		r = -EFBIG;
		goto out_free;
	}
	buf[len] = '\0';
	if (memchr(buf, '\0', len)) {
		r = -EINVAL;
		goto out_free;
	}
	strip_newlines(buf, &len);
	close(fd);
	*ret = buf;
	return 0;
out_free:
	free(buf);
out_close:
	close(fd);
	return r;
}

int dkm_sysfs_read_alloc(const char *root, char **ret, const char *fmt, ...)
{
	char path[PATH_MAX];
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vpath(path, sizeof(path), root, fmt, ap);
	va_end(ap);
	if (r < 0)
		return r;
	return read_path(path, ret, DKM_SYSFS_MAX_FILE);
}

static int vread(const char *root, char *buf, size_t size, const char *fmt, va_list ap)
{
	char path[PATH_MAX];
	char *s;
	size_t len;
	int r;

	r = vpath(path, sizeof(path), root, fmt, ap);
	if (r < 0)
		return r;
	r = read_path(path, &s, size);
	if (r < 0)
		return r;
	len = strlen(s);
	if (len >= size) {
		free(s);
		return -EFBIG;
	}
	memcpy(buf, s, len + 1);
	free(s);
	return 0;
}

int dkm_sysfs_read(const char *root, char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vread(root, buf, size, fmt, ap);
	va_end(ap);
	return r;
}

int dkm_parse_u64(const char *s, uint64_t *ret)
{
	unsigned long long v;
	char *end;
	int base = 10;

	while (isspace((unsigned char)*s))
		s++;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
		if (!isxdigit((unsigned char)*s))
			return -EINVAL;
	} else if (!isdigit((unsigned char)*s)) {
		return -EINVAL;
	}
	errno = 0;
	v = strtoull(s, &end, base);
	if (errno)
		return -errno;
	while (isspace((unsigned char)*end))
		end++;
	if (*end)
		return -EINVAL;
	*ret = (uint64_t)v;
	return 0;
}

int dkm_parse_int(const char *s, int *ret)
{
	long v;
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	if (!isdigit((unsigned char)*s) && !((*s == '-' || *s == '+') && isdigit((unsigned char)s[1])))
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno)
		return -errno;
	while (isspace((unsigned char)*end))
		end++;
	if (*end)
		return -EINVAL;
	if (v < INT_MIN || v > INT_MAX)
		return -ERANGE;
	*ret = (int)v;
	return 0;
}

int dkm_sysfs_read_u64(const char *root, uint64_t *ret, const char *fmt, ...)
{
	char buf[64];
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vread(root, buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (r < 0)
		return r;
	return dkm_parse_u64(buf, ret);
}

int dkm_sysfs_read_int(const char *root, int *ret, const char *fmt, ...)
{
	char buf[64];
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vread(root, buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (r < 0)
		return r;
	return dkm_parse_int(buf, ret);
}

int dkm_sysfs_read_link_name(const char *root, char *buf, size_t size, const char *fmt, ...)
{
	char path[PATH_MAX], target[PATH_MAX];
	const char *base;
	va_list ap;
	ssize_t n;
	int r;

	va_start(ap, fmt);
	r = vpath(path, sizeof(path), root, fmt, ap);
	va_end(ap);
	if (r < 0)
		return r;
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (strlen(base) >= size)
		return -ENAMETOOLONG;
	strcpy(buf, base);
	return 0;
}
