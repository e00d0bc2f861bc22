/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Reading daxkmemd.conf (dkm_config_load): inih parses the file, fed whole
 * lines by a reader of ours that counts them, so that the settings of
 * config.c see each line whole with its number (a [cgroup_quota] path may be
 * longer than inih's 200-byte buffer and hold ':' and '='); messages name
 * the file and the line.
 */
#include "config.h"
#include "config-read.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/*
 * fgets for ini_parse_stream that reads whole lines and counts them, so the
 * handler knows its line and sees it whole in st->raw (inih's buffer is 200
 * bytes; a [cgroup_quota] path may be longer, and holds ':' or '=' that inih
 * would split at). A line too long for inih's buffer reaches it as a stand-in
 * that the handler recognises.
 */
static char *reader(char *buf, int size, void *stream)
{
	struct parse_state *st = stream;
	size_t len;
	const char *p;

	if (!fgets(st->raw, sizeof(st->raw), st->f))
		return NULL;
	st->line++;
	st->inih_max = size - 2;
	len = strlen(st->raw);
	st->raw_long = false;
	if (len == sizeof(st->raw) - 1 && st->raw[len - 1] != '\n') {
		int ch = getc(st->f);

		if (ch != EOF && ch != '\n') {
			st->raw_long = true;
			while ((ch = getc(st->f)) != EOF && ch != '\n')
				;
		}
	}
	st->raw_subst = false;
	if (!st->raw_long && (len + 2 <= (size_t)size ||
			      (len + 1 == (size_t)size && st->raw[len - 1] == '\n'))) {
		memcpy(buf, st->raw, len + 1);
		return buf;
	}
	for (p = st->raw; *p == ' ' || *p == '\t'; p++)
		;
	if (*p == ';' || *p == '#') {
		snprintf(buf, (size_t)size, ";\n"); /* a comment: inih skips it */
		return buf;
	}
	st->raw_subst = true;
	snprintf(buf, (size_t)size, "%s=\n", LONG_LINE_NAME);
	return buf;
}

int dkm_config_fail(struct parse_state *st, const char *fmt, ...)
{
	va_list ap;

	if (st->msg_line)
		return 0; /* ini_parse reports the first error's line: keep its message */
	st->msg_line = st->line;
	va_start(ap, fmt);
	vsnprintf(st->msg, sizeof(st->msg), fmt, ap);
	va_end(ap);
	return 0;
}

char *dkm_config_trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

/* Cut s at an inline comment: a ';' after a blank, as inih does. */
void dkm_config_cut_comment(char *s)
{
	for (char *p = s; *p; p++)
		if (*p == ';' && p > s && isspace((unsigned char)p[-1])) {
			*p = '\0';
			return;
		}
}

/* The line being read, without a UTF-8 byte order mark on the first line. */
char *dkm_config_raw_line(struct parse_state *st)
{
	char *s = st->raw;

	if (st->line == 1 && !strncmp(s, "\xef\xbb\xbf", 3))
		s += 3;
	return s;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse_state *st = user;
	char *s, *end;

	if (!strcmp(section, "cgroup_quota"))
		return dkm_config_add_cgroup_quota(st);
	if (!st->raw_subst || strcmp(name, LONG_LINE_NAME))
		return dkm_config_set(st, section, name, value);
	/* A line longer than inih's buffer: split it as inih would have. */
	if (st->raw_long)
		return dkm_config_fail(st, "the line is longer than %d characters", RAW_MAX - 1);
	s = dkm_config_trim(dkm_config_raw_line(st));
	if (s[0] == '[')
		return dkm_config_fail(st, "the line is longer than %d characters", st->inih_max);
	end = strpbrk(s, "=:");
	if (!end)
		return dkm_config_fail(st, "syntax error (expected \"key = value\" or \"[section]\")");
	*end = '\0';
	dkm_config_cut_comment(s);
	if (strlen(s) != (size_t)(end - s))
		return dkm_config_fail(st, "syntax error (expected \"key = value\" or \"[section]\")");
	dkm_config_cut_comment(end + 1);
	return dkm_config_set(st, section, dkm_config_trim(s), dkm_config_trim(end + 1));
}

int dkm_config_load(struct dkm_config *c, const char *path, bool must_exist, char *err,
		    size_t errsize)
{
	struct parse_state st = { .c = c };
	FILE *f;
	int r;

	f = fopen(path, "re");
	if (!f) {
		r = -errno;
		if (r == -ENOENT && !must_exist)
			return 0;
		snprintf(err, errsize, "%s: %s", path, strerror(-r));
		return r;
	}
	st.f = f;
	r = ini_parse_stream(reader, &st, handler, &st);
	fclose(f);
	if (r == 0)
		return 0;
	if (r < 0) {
		snprintf(err, errsize, "%s: %s", path,
			 r == -2 ? "out of memory" : "cannot read it");
		return r == -2 ? -ENOMEM : -EIO;
	}
	snprintf(err, errsize, "%s:%d: %s", path, r,
		 st.msg_line == r ? st.msg : "syntax error (expected \"key = value\" or \"[section]\")");
	return -EINVAL;
}
