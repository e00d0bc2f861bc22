/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#define DKM_CONFIG_PRINTF(f, a) __attribute__((format(printf, f, a)))

#include <errno.h>
#include <stdarg.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parse_state {
	struct dkm_config *c;
	FILE *f;
	int line;          /* number of the line being read: the handler runs for it */
	bool at_bol;       /* the next fgets starts a new line */
	int msg_line;      /* line the handler's message is about, 0 if none */
	char msg[256];     /* what the handler found wrong first */
	unsigned seen;     /* bit per key: given already */
};

/* fgets for ini_parse_stream that counts lines, so the handler knows its line. */
static char *reader(char *buf, int size, void *stream)
{
	struct parse_state *st = stream;
	char *s = fgets(buf, size, st->f);

	if (s) {
		if (st->at_bol)
			st->line++;
		st->at_bol = strchr(s, '\n') != NULL;
	}
	return s;
}

DKM_CONFIG_PRINTF(2, 3)
static int fail(struct parse_state *st, const char *fmt, ...)
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

struct key {
	const char *section;
	const char *name;
	int (*set)(struct dkm_config *c, const char *value, struct parse_state *st);
};

static int set_kmem_nodes(struct dkm_config *c, const char *value, struct parse_state *st)
{
	struct dkm_bitmap b = DKM_BITMAP_INIT;
	int r = dkm_bitmap_parse_list(&b, value);

	if (r < 0)
		return fail(st, "kmem_nodes: \"%s\" is not a node list like 2,3 or 2-3 (%s)",
			    value, strerror(-r));
	dkm_bitmap_free(&c->kmem_nodes);
	c->kmem_nodes = b;
	c->kmem_nodes_set = true;
	return 1;
}

static const struct key keys[] = {
	{ "", "kmem_nodes", set_kmem_nodes },
};

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse_state *st = user;

	for (unsigned i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (strcmp(keys[i].section, section) || strcmp(keys[i].name, name))
			continue;
		if (st->seen & (1u << i))
			return fail(st, "%s is given twice", name);
		st->seen |= 1u << i;
		return keys[i].set(st->c, value, st);
	}
	if (section[0])
		return fail(st, "unknown key \"%s\" in section [%s]", name, section);
	return fail(st, "unknown key \"%s\"", name);
}

void dkm_config_init(struct dkm_config *c)
{
	memset(c, 0, sizeof(*c));
}

void dkm_config_free(struct dkm_config *c)
{
	dkm_bitmap_free(&c->kmem_nodes);
}

int dkm_config_load(struct dkm_config *c, const char *path, bool must_exist, char *err,
		    size_t errsize)
{
	struct parse_state st = { .c = c, .at_bol = true };
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
