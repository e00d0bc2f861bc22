/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Between config-read.c, which reads daxkmemd.conf line by line, and
 * config.c, which knows the settings: the state of one reading, and what each
 * side calls of the other. Only those two files include it.
 */
#ifndef DKM_DAEMON_CONFIG_READ_H
#define DKM_DAEMON_CONFIG_READ_H

#include <stdbool.h>
#include <stdio.h>

struct dkm_config;

/* Longest line read whole, with its newline and NUL (a [cgroup_quota] path may take 1023). */
#define RAW_MAX 4096
/* What inih gets instead of a line longer than its own buffer: the handler reads raw. */
#define LONG_LINE_NAME "\x01"

struct parse_state {
	struct dkm_config *c;
	FILE *f;
	int line;          /* number of the line being read: the handler runs for it */
	int msg_line;      /* line the handler's message is about, 0 if none */
	char msg[256];     /* what the handler found wrong first */
	unsigned seen;     /* bit per key: given already */
	char raw[RAW_MAX]; /* the line being read, whole (cut if raw_long) */
	bool raw_long;     /* the line did not fit raw: the rest was skipped */
	bool raw_subst;    /* inih got LONG_LINE_NAME "=" instead of raw */
	int inih_max;      /* longest line inih's buffer takes, newline excluded */
};

/* Note what is wrong with the current line (the first message wins); returns 0 (stop). */
int dkm_config_fail(struct parse_state *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s without leading and trailing blanks (trailing ones cut in place). */
char *dkm_config_trim(char *s);
/* Cut s at an inline comment: a ';' after a blank, as inih does. */
void dkm_config_cut_comment(char *s);
/* The line being read, whole, without a UTF-8 byte order mark on the first line. */
char *dkm_config_raw_line(struct parse_state *st);

/* config.c: apply "name = value" of section (the key table, [quota]); 1 to go on, 0 on error. */
int dkm_config_set(struct parse_state *st, const char *section, const char *name,
		   const char *value);
/* config.c: a [cgroup_quota] line, from the whole line in st->raw; 1 to go on, 0 on error. */
int dkm_config_add_cgroup_quota(struct parse_state *st);

#endif
