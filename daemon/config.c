/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daxkmemd.conf (config.h): every setting, its parser and its limits, the
 * per-uid and per-cgroup quota tables, defaults and freeing. Reading the
 * file line by line is config-read.c's.
 */
#include "config.h"
#include "cgroup.h"
#include "config-read.h"

#define DKM_SUN_PATH_MAX ((int)sizeof(((struct sockaddr_un *)0)->sun_path))

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <sys/un.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
		return dkm_config_fail(st, "kmem_nodes: \"%s\" is not a node list like 2,3 or 2-3 (%s)",
			    value, strerror(-r));
	dkm_bitmap_free(&c->kmem_nodes);
	c->kmem_nodes = b;
	c->kmem_nodes_set = true;
	return 1;
}

static void free_list(struct dkm_config *c)
{
	for (unsigned i = 0; i < c->nreconfigure_list; i++)
		free(c->reconfigure_list[i]);
	free(c->reconfigure_list);
	c->reconfigure_list = NULL;
	c->nreconfigure_list = 0;
}

/* A dax device name "daxR.N" or a uuid in its 36-character text form. */
static bool device_word_valid(const char *w)
{
	unsigned r, n;
	int end = 0;

	if (sscanf(w, "dax%u.%u%n", &r, &n, &end) == 2 && w[end] == '\0')
		return true;
	if (strlen(w) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? w[i] != '-' : !isxdigit((unsigned char)w[i]))
			return false;
	}
	return true;
}

static int set_reconfigure(struct dkm_config *c, const char *value, struct parse_state *st)
{
	char *copy, *save = NULL;

	free_list(c);
	if (!strcmp(value, "none") || !value[0]) {
		c->reconfigure = DKM_RECONFIGURE_NONE;
		return 1;
	}
	if (!strcmp(value, "all")) {
		c->reconfigure = DKM_RECONFIGURE_ALL;
		return 1;
	}
	copy = strdup(value);
	if (!copy)
		return dkm_config_fail(st, "out of memory");
	for (char *w = strtok_r(copy, " \t,", &save); w; w = strtok_r(NULL, " \t,", &save)) {
		char **v;

		if (!device_word_valid(w)) {
			dkm_config_fail(st, "reconfigure: \"%s\" is neither a dax device name like dax0.0 "
			     "nor a namespace uuid (expected none, all, or a list of them)", w);
			free(copy);
			free_list(c);
			return 0;
		}
		v = realloc(c->reconfigure_list, (c->nreconfigure_list + 1) * sizeof(*v));
		if (!v || !(v[c->nreconfigure_list] = strdup(w))) {
			if (v)
				c->reconfigure_list = v;
			free(copy);
			free_list(c);
			return dkm_config_fail(st, "out of memory");
		}
		c->reconfigure_list = v;
		c->nreconfigure_list++;
	}
	free(copy);
	c->reconfigure = DKM_RECONFIGURE_LIST;
	return 1;
}

static int set_online(struct dkm_config *c, const char *value, struct parse_state *st)
{
	if (!strcmp(value, "movable"))
		c->online_movable = true;
	else if (!strcmp(value, "normal"))
		c->online_movable = false;
	else
		return dkm_config_fail(st, "online: \"%s\" is not movable or normal", value);
	return 1;
}

int dkm_parse_size(const char *s, uint64_t *ret)
{
	unsigned long long v;
	unsigned shift = 0;
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -ERANGE;
	switch (toupper((unsigned char)*end)) {
	case 'K':
		shift = 10;
		break;
	case 'M':
		shift = 20;
		break;
	case 'G':
		shift = 30;
		break;
	case 'T':
		shift = 40;
		break;
	case '\0':
		break;
	default:
		return -EINVAL;
	}
	if (shift) {
		end++;
		if (toupper((unsigned char)*end) == 'I' && toupper((unsigned char)end[1]) == 'B')
			end += 2;
		else if (toupper((unsigned char)*end) == 'B')
			end++;
	}
	if (*end)
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*ret = (uint64_t)v << shift;
	return 0;
}

static int parse_uint(const char *value, unsigned min, unsigned max, unsigned *ret)
{
	unsigned long v;
	char *end;

	if (!isdigit((unsigned char)*value))
		return -EINVAL;
	errno = 0;
	v = strtoul(value, &end, 10);
	if (errno || *end)
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*ret = (unsigned)v;
	return 0;
}

static int parse_group(const char *value, gid_t *ret)
{
	struct group grp, *res = NULL;
	char buf[4096];
	unsigned g;

	if (parse_uint(value, 0, UINT32_MAX - 1, &g) == 0) {
		*ret = (gid_t)g;
		return 0;
	}
	if (getgrnam_r(value, &grp, buf, sizeof(buf), &res) != 0 || !res)
		return -ENOENT;
	*ret = res->gr_gid;
	return 0;
}

static int set_socket(struct dkm_config *c, const char *value, struct parse_state *st)
{
	char *p;

	if (value[0] != '/')
		return dkm_config_fail(st, "socket: \"%s\" is not an absolute path", value);
	if (strlen(value) >= DKM_SUN_PATH_MAX)
		return dkm_config_fail(st, "socket: the path is longer than a Unix socket address allows (%d)",
			    DKM_SUN_PATH_MAX - 1);
	p = strdup(value);
	if (!p)
		return dkm_config_fail(st, "out of memory");
	free(c->socket);
	c->socket = p;
	return 1;
}

static int set_socket_mode(struct dkm_config *c, const char *value, struct parse_state *st)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(value, &end, 8);
	if (!*value || errno || *end || v > 0777)
		return dkm_config_fail(st, "socket_mode: \"%s\" is not an octal mode like 0660", value);
	c->socket_mode = (mode_t)v;
	return 1;
}

static int set_socket_group(struct dkm_config *c, const char *value, struct parse_state *st)
{
	if (!*value) {
		c->socket_group = (gid_t)-1;
		c->socket_group_set = true;
		return 1;
	}
	if (parse_group(value, &c->socket_group) < 0)
		return dkm_config_fail(st, "socket_group: no group \"%s\"", value);
	c->socket_group_set = true;
	return 1;
}

static int set_admin_group(struct dkm_config *c, const char *value, struct parse_state *st)
{
	if (!*value) {
		c->admin_group = (gid_t)-1;
		return 1;
	}
	if (parse_group(value, &c->admin_group) < 0)
		return dkm_config_fail(st, "admin_group: no group \"%s\"", value);
	return 1;
}

static int size_key(const char *key, const char *value, uint64_t min, uint64_t *out,
		    struct parse_state *st)
{
	uint64_t v;

	if (dkm_parse_size(value, &v) < 0)
		return dkm_config_fail(st, "%s: \"%s\" is not a size like 4096, 64M or 2G", key, value);
	if (v < min)
		return dkm_config_fail(st, "%s: %s is below the minimum %" PRIu64, key, value, min);
	*out = v;
	return 1;
}

static int set_reserve(struct dkm_config *c, const char *value, struct parse_state *st)
{
	if (!size_key("reserve", value, 0, &c->reserve, st))
		return 0;
	if (c->reserve > (1ull << 50))
		return dkm_config_fail(st, "reserve: %s is more than 1P", value);
	return 1;
}

static int set_max_region_size(struct dkm_config *c, const char *value, struct parse_state *st)
{
	return size_key("max_region_size", value, 4096, &c->max_region_size, st);
}

static int set_quota(struct dkm_config *c, const char *value, struct parse_state *st)
{
	return size_key("quota", value, 0, &c->quota, st);
}

static int set_daemon_prefault(struct dkm_config *c, const char *value, struct parse_state *st)
{
	if (!strcmp(value, "root-only"))
		c->daemon_prefault = DKM_DAEMON_PREFAULT_ROOT_ONLY;
	else if (!strcmp(value, "always"))
		c->daemon_prefault = DKM_DAEMON_PREFAULT_ALWAYS;
	else if (!strcmp(value, "never"))
		c->daemon_prefault = DKM_DAEMON_PREFAULT_NEVER;
	else
		return dkm_config_fail(st, "daemon_prefault: \"%s\" is not root-only, always or never", value);
	return 1;
}

const char *dkm_daemon_prefault_name(enum dkm_daemon_prefault p)
{
	switch (p) {
	case DKM_DAEMON_PREFAULT_ALWAYS:
		return "always";
	case DKM_DAEMON_PREFAULT_NEVER:
		return "never";
	case DKM_DAEMON_PREFAULT_ROOT_ONLY:
		break;
	}
	return "root-only";
}

bool dkm_config_daemon_prefaults(const struct dkm_config *c, bool client_in_root)
{
	switch (c->daemon_prefault) {
	case DKM_DAEMON_PREFAULT_ALWAYS:
		return true;
	case DKM_DAEMON_PREFAULT_NEVER:
		return false;
	case DKM_DAEMON_PREFAULT_ROOT_ONLY:
		break;
	}
	return client_in_root;
}

static int set_prefault(struct dkm_config *c, const char *value, struct parse_state *st)
{
	if (!strcmp(value, "yes") || !strcmp(value, "true") || !strcmp(value, "1"))
		c->prefault = true;
	else if (!strcmp(value, "no") || !strcmp(value, "false") || !strcmp(value, "0"))
		c->prefault = false;
	else
		return dkm_config_fail(st, "prefault: \"%s\" is not yes or no", value);
	return 1;
}

static int uint_key(const char *key, const char *value, unsigned min, unsigned max, unsigned *out,
		    struct parse_state *st)
{
	int r = parse_uint(value, min, max, out);

	if (r == -ERANGE)
		return dkm_config_fail(st, "%s: %s is out of range %u..%u", key, value, min, max);
	if (r < 0)
		return dkm_config_fail(st, "%s: \"%s\" is not a number", key, value);
	return 1;
}

static int set_max_regions_per_client(struct dkm_config *c, const char *value,
				      struct parse_state *st)
{
	return uint_key("max_regions_per_client", value, 1, 1u << 20, &c->max_regions_per_client,
			st);
}

static int set_max_regions_per_uid(struct dkm_config *c, const char *value,
				   struct parse_state *st)
{
	return uint_key("max_regions_per_uid", value, 1, 1u << 24, &c->max_regions_per_uid, st);
}

static int set_max_clients(struct dkm_config *c, const char *value, struct parse_state *st)
{
	return uint_key("max_clients", value, 1, 1u << 20, &c->max_clients, st);
}

static int set_max_clients_per_uid(struct dkm_config *c, const char *value, struct parse_state *st)
{
	return uint_key("max_clients_per_uid", value, 1, 1u << 20, &c->max_clients_per_uid, st);
}

static int set_refresh_interval(struct dkm_config *c, const char *value, struct parse_state *st)
{
	return uint_key("refresh_interval_ms", value, 10, 3600 * 1000, &c->refresh_interval_ms, st);
}

/* A [quota] line: "user-or-uid = size". */
static int add_quota(struct dkm_config *c, const char *name, const char *value,
		     struct parse_state *st)
{
	struct passwd pw, *res = NULL;
	struct dkm_quota *q;
	char buf[4096];
	uint64_t bytes;
	unsigned uid;

	if (parse_uint(name, 0, UINT32_MAX - 1, &uid) < 0) {
		if (getpwnam_r(name, &pw, buf, sizeof(buf), &res) != 0 || !res)
			return dkm_config_fail(st, "[quota]: no user \"%s\"", name);
		uid = res->pw_uid;
	}
	if (dkm_parse_size(value, &bytes) < 0)
		return dkm_config_fail(st, "[quota] %s: \"%s\" is not a size like 4096, 64M or 2G", name, value);
	for (unsigned i = 0; i < c->nquotas; i++)
		if (c->quotas[i].uid == (uid_t)uid)
			return dkm_config_fail(st, "[quota]: uid %u is given twice", uid);
	q = realloc(c->quotas, (c->nquotas + 1) * sizeof(*q));
	if (!q)
		return dkm_config_fail(st, "out of memory");
	c->quotas = q;
	q[c->nquotas].uid = (uid_t)uid;
	q[c->nquotas].bytes = bytes;
	c->nquotas++;
	return 1;
}

/*
 * A [cgroup_quota] line "/cgroup/path = size", read from st->raw and split at
 * its last '=' (a size has none; a path may have '=' and ':').
 */
int dkm_config_add_cgroup_quota(struct parse_state *st)
{
	struct dkm_config *c = st->c;
	struct dkm_cgroup_quota *q;
	char *s, *eq, *path, *size;
	uint64_t bytes;
	size_t n;
	int r;

	if (st->raw_long)
		return dkm_config_fail(st, "the line is longer than %d characters", RAW_MAX - 1);
	s = dkm_config_raw_line(st);
	dkm_config_cut_comment(s);
	s = dkm_config_trim(s);
	if (st->raw_subst && s[0] == '[')
		return dkm_config_fail(st, "the line is longer than %d characters", st->inih_max);
	eq = strrchr(s, '=');
	if (!eq)
		return dkm_config_fail(st, "[cgroup_quota]: expected \"/cgroup/path = size\"");
	*eq = '\0';
	path = dkm_config_trim(s);
	size = dkm_config_trim(eq + 1);
	n = strlen(path);
	while (n > 1 && path[n - 1] == '/')
		path[--n] = '\0';
	r = dkm_cgroup_path_check(path);
	if (r == -ENAMETOOLONG)
		return dkm_config_fail(st, "[cgroup_quota]: the path is longer than %d characters",
			    DKM_CGROUP_PATH_MAX - 1);
	if (r < 0 && path[0] != '/')
		return dkm_config_fail(st, "[cgroup_quota]: \"%.64s\" is not an absolute cgroup path like "
			    "/system.slice/foo.service", path);
	for (const char *p = path; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return dkm_config_fail(st, "[cgroup_quota]: the path has a control character");
	if (r < 0)
		return dkm_config_fail(st, "[cgroup_quota]: \"%.64s\" has an empty, \".\" or \"..\" component",
			    path);
	if (dkm_parse_size(size, &bytes) < 0)
		return dkm_config_fail(st, "[cgroup_quota] %.64s: \"%.32s\" is not a size like 4096, 64M or 2G",
			    path, size);
	for (unsigned i = 0; i < c->ncgroup_quotas; i++)
		if (!strcmp(c->cgroup_quotas[i].prefix, path))
			return dkm_config_fail(st, "[cgroup_quota]: %.64s is given twice", path);
	if (c->ncgroup_quotas >= DKM_MAX_CGROUP_QUOTAS)
		return dkm_config_fail(st, "[cgroup_quota]: more than %d cgroups", DKM_MAX_CGROUP_QUOTAS);
	q = realloc(c->cgroup_quotas, (c->ncgroup_quotas + 1) * sizeof(*q));
	if (!q)
		return dkm_config_fail(st, "out of memory");
	c->cgroup_quotas = q;
	q[c->ncgroup_quotas].prefix = strdup(path);
	if (!q[c->ncgroup_quotas].prefix)
		return dkm_config_fail(st, "out of memory");
	q[c->ncgroup_quotas].bytes = bytes;
	c->ncgroup_quotas++;
	return 1;
}

const struct dkm_cgroup_quota *dkm_config_cgroup_quota(const struct dkm_config *c,
						       const char *path)
{
	const struct dkm_cgroup_quota *best = NULL;

	for (unsigned i = 0; i < c->ncgroup_quotas; i++)
		if (dkm_cgroup_path_under(path, c->cgroup_quotas[i].prefix) &&
		    (!best || strlen(c->cgroup_quotas[i].prefix) > strlen(best->prefix)))
			best = &c->cgroup_quotas[i];
	return best;
}

static void free_cgroup_quotas(struct dkm_config *c)
{
	for (unsigned i = 0; i < c->ncgroup_quotas; i++)
		free(c->cgroup_quotas[i].prefix);
	free(c->cgroup_quotas);
	c->cgroup_quotas = NULL;
	c->ncgroup_quotas = 0;
}

uint64_t dkm_config_quota(const struct dkm_config *c, uid_t uid)
{
	for (unsigned i = 0; i < c->nquotas; i++)
		if (c->quotas[i].uid == uid)
			return c->quotas[i].bytes;
	return c->quota;
}

static const struct key keys[] = {
	{ "", "socket", set_socket },
	{ "", "socket_mode", set_socket_mode },
	{ "", "socket_group", set_socket_group },
	{ "", "admin_group", set_admin_group },
	{ "", "kmem_nodes", set_kmem_nodes },
	{ "", "reserve", set_reserve },
	{ "", "prefault", set_prefault },
	{ "", "max_region_size", set_max_region_size },
	{ "", "max_regions_per_client", set_max_regions_per_client },
	{ "", "max_regions_per_uid", set_max_regions_per_uid },
	{ "", "max_clients", set_max_clients },
	{ "", "max_clients_per_uid", set_max_clients_per_uid },
	{ "", "quota", set_quota },
	{ "", "refresh_interval_ms", set_refresh_interval },
	{ "", "reconfigure", set_reconfigure },
	{ "", "online", set_online },
	{ "", "daemon_prefault", set_daemon_prefault },
};

int dkm_config_set(struct parse_state *st, const char *section, const char *name,
		   const char *value)
{
	for (unsigned i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (strcmp(keys[i].section, section) || strcmp(keys[i].name, name))
			continue;
		if (st->seen & (1u << i))
			return dkm_config_fail(st, "%s is given twice", name);
		st->seen |= 1u << i;
		return keys[i].set(st->c, value, st);
	}
	if (!strcmp(section, "quota"))
		return add_quota(st->c, name, value, st);
	if (section[0])
		return dkm_config_fail(st, "unknown section [%s]", section);
	return dkm_config_fail(st, "unknown key \"%s\"", name);
}

void dkm_config_init(struct dkm_config *c)
{
	struct group grp, *res = NULL;
	char buf[4096];

	memset(c, 0, sizeof(*c));
	c->socket_mode = 0660;
	c->socket_group = (gid_t)-1;
	if (getgrnam_r("daxkmem", &grp, buf, sizeof(buf), &res) == 0 && res)
		c->socket_group = res->gr_gid;
	c->admin_group = (gid_t)-1;
	c->reserve = 64ull << 20;
	c->prefault = true;
	c->max_region_size = 64ull << 30;
	c->max_regions_per_client = 4096;
	c->max_regions_per_uid = 16384;
	c->max_clients = 4096;
	c->max_clients_per_uid = 256;
	c->refresh_interval_ms = 1000;
	c->reconfigure = DKM_RECONFIGURE_NONE;
	c->online_movable = true;
	c->daemon_prefault = DKM_DAEMON_PREFAULT_ROOT_ONLY;
}

void dkm_config_free(struct dkm_config *c)
{
	dkm_bitmap_free(&c->kmem_nodes);
	free(c->socket);
	free(c->quotas);
	free_list(c);
	free_cgroup_quotas(c);
	c->socket = NULL;
	c->quotas = NULL;
	c->nquotas = 0;
}
