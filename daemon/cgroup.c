/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Memory cgroups of clients, read-only: which cgroup a process is in and what
 * memory.max/memory.current (v2) or memory.limit_in_bytes/usage_in_bytes (v1)
 * on its path up to the root still let it charge. See cgroup.h.
 *
 * Every file is opened relative to a descriptor of its hierarchy kept in
 * struct dkm_cgroup_fs, with a path checked by dkm_cgroup_path_check (no ".."
 * component), so nothing here follows a path out of the hierarchy and
 * there is no per-client descriptor to keep.
 */
#include "cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* A level's limit file with its directory prefix: path + "/" + longest name. */
#define NAME_MAX_LEN (DKM_CGROUP_PATH_MAX + sizeof("/memory.usage_in_bytes"))
/* v1: at or above this, a limit is "unlimited" (PAGE_COUNTER_MAX pages, whatever the page size). */
#define V1_UNLIMITED (1ull << 62)

const char *dkm_cgroup_version_name(enum dkm_cgroup_version v)
{
	switch (v) {
	case DKM_CGROUP_V1:
		return "v1";
	case DKM_CGROUP_V2:
		return "v2";
	case DKM_CGROUP_NONE:
		break;
	}
	return "none";
}

int dkm_cgroup_path_check(const char *path)
{
	size_t len = 0;

	if (path[0] != '/')
		return -EINVAL;
	if (!strcmp(path, "/"))
		return 0;
	if (!strncmp(path, "/..", 3) && (path[3] == '/' || path[3] == '\0'))
		return -EXDEV;
	for (const char *p = path; *p; p++, len++) {
		unsigned char ch = (unsigned char)*p;

		if (ch < 0x20 || ch == 0x7f)
			return -EINVAL;
		if (ch != '/')
			continue;
		/* a component starts after this slash: not empty, ".", ".." */
		if (p[1] == '/' || p[1] == '\0')
			return -EINVAL;
		if (p[1] == '.' && (p[2] == '/' || p[2] == '\0'))
			return -EINVAL;
		if (p[1] == '.' && p[2] == '.' && (p[3] == '/' || p[3] == '\0'))
			return -EINVAL;
	}
	if (len >= DKM_CGROUP_PATH_MAX)
		return -ENAMETOOLONG;
	return 0;
}

bool dkm_cgroup_path_under(const char *path, const char *prefix)
{
	size_t n = strlen(prefix);

	while (n > 0 && prefix[n - 1] == '/')
		n--;
	if (n == 0)
		return path[0] == '/';
	return !strncmp(path, prefix, n) && (path[n] == '\0' || path[n] == '/');
}

/* Whether word is in the list separated by any of seps. */
static bool has_word(const char *list, size_t len, const char *word, const char *seps)
{
	size_t wl = strlen(word);
	size_t i = 0;

	while (i < len) {
		size_t j = i;

		while (j < len && !strchr(seps, list[j]))
			j++;
		if (j - i == wl && !memcmp(list + i, word, wl))
			return true;
		i = j + 1;
	}
	return false;
}

/*
 * Read a small file whole: one read() is enough for a sysfs, cgroupfs or proc
 * attribute that fits the buffer (the kernel produces it in one go), and a
 * read shorter than the buffer is taken as the end. 0 with the contents
 * NUL-terminated, -ENOENT, -EINVAL if it fills the buffer, -errno.
 */
static int read_small(int dirfd, const char *name, char *buf, size_t size)
{
	ssize_t n;
	int fd, err = 0;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	if (n < 0)
		err = -errno;
	else if ((size_t)n == size - 1)
		err = -EINVAL;
	else
		buf[n] = '\0';
	close(fd);
	return err;
}

/* "123\n" or, with allow_max, "max\n" (DKM_CGROUP_UNLIMITED). Nothing else. */
static int parse_value(const char *s, bool allow_max, uint64_t *ret)
{
	uint64_t v = 0;
	const char *p = s;

	if (allow_max && !strncmp(s, "max", 3)) {
		v = DKM_CGROUP_UNLIMITED;
		p = s + 3;
	} else {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		for (; *p >= '0' && *p <= '9'; p++) {
			unsigned d = (unsigned)(*p - '0');

			if (v > (UINT64_MAX - d) / 10)
				return -EINVAL;
			v = v * 10 + d;
		}
	}
	if (*p == '\n')
		p++;
	if (*p)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* 0, -ENOENT (the file is missing), -EINVAL (garbage), -errno. */
static int read_value(int dirfd, const char *name, bool allow_max, uint64_t *ret)
{
	char buf[64];
	int r = read_small(dirfd, name, buf, sizeof(buf));

	if (r < 0)
		return r;
	return parse_value(buf, allow_max, ret);
}

static void fs_init(struct dkm_cgroup_fs *fs)
{
	fs->proc_fd = -1;
	fs->v2_fd = -1;
	fs->v2_dir = "";
	fs->v2_memory = false;
	fs->v1_fd = -1;
}

void dkm_cgroup_fs_close(struct dkm_cgroup_fs *fs)
{
	if (fs->proc_fd >= 0)
		close(fs->proc_fd);
	if (fs->v2_fd >= 0)
		close(fs->v2_fd);
	if (fs->v1_fd >= 0)
		close(fs->v1_fd);
	fs_init(fs);
}

static int open_dir(int dirfd, const char *name)
{
	return openat(dirfd, name, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

int dkm_cgroup_fs_open(struct dkm_cgroup_fs *fs, const char *proc_root, const char *cgroup_root)
{
	char ctl[512];
	int root, err;

	fs_init(fs);
	fs->proc_fd = open_dir(AT_FDCWD, proc_root);
	if (fs->proc_fd < 0) {
		err = -errno;
		fs_init(fs);
		return err;
	}
	root = open_dir(AT_FDCWD, cgroup_root);
	if (root < 0) {
		err = -errno;
		dkm_cgroup_fs_close(fs);
		return err;
	}
	if (faccessat(root, "cgroup.controllers", F_OK, 0) == 0) {
		fs->v2_fd = root;
		fs->v2_dir = "";
	} else {
		int u = open_dir(root, "unified");

		if (u >= 0 && faccessat(u, "cgroup.controllers", F_OK, 0) == 0) {
			fs->v2_fd = u;
			fs->v2_dir = "unified";
		} else if (u >= 0) {
			close(u);
		}
		/* Below a unified root every directory is a v2 cgroup: v1 only otherwise. */
		fs->v1_fd = open_dir(root, "memory");
		if (fs->v1_fd >= 0 && faccessat(fs->v1_fd, "memory.limit_in_bytes", F_OK, 0) < 0) {
			close(fs->v1_fd);
			fs->v1_fd = -1;
		}
		close(root);
	}
	if (fs->v2_fd >= 0 && read_small(fs->v2_fd, "cgroup.controllers", ctl, sizeof(ctl)) == 0)
		fs->v2_memory = has_word(ctl, strlen(ctl), "memory", " \n");
	return 0;
}

/* What /proc/PID/cgroup says, before choosing. */
struct proc_lines {
	bool v2, v1;             /* a "0::" line, a line with the memory controller */
	bool v2_long, v1_long;   /* ... whose path did not fit */
	char v2_path[DKM_CGROUP_PATH_MAX];
	char v1_path[DKM_CGROUP_PATH_MAX];
};

/*
 * One line "ID:CONTROLLERS:PATH" (without its newline; cut short with
 * overlong when it did not fit the line buffer, the head being enough to see
 * which hierarchy it is). Only the paths are kept.
 */
static int parse_line(const char *s, size_t len, bool overlong, struct proc_lines *pl)
{
	const char *c1, *c2, *path;
	size_t plen;
	bool v2, v1;

	if (memchr(s, '\0', len))
		return -EINVAL;
	c1 = memchr(s, ':', len);
	if (!c1 || c1 == s)
		return -EINVAL;
	for (const char *p = s; p < c1; p++)
		if (*p < '0' || *p > '9')
			return -EINVAL;
	c2 = memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - s));
	if (!c2)
		return -EINVAL; /* even cut short: a controller list is not 1000 bytes long */
	v2 = c1 - s == 1 && s[0] == '0' && c2 == c1 + 1;
	v1 = !v2 && has_word(c1 + 1, (size_t)(c2 - c1 - 1), "memory", ",");
	if (!v1 && !v2)
		return 0;
	if ((v2 && pl->v2) || (v1 && pl->v1))
		return -EINVAL; /* a second line for the same hierarchy: not the kernel's */
	path = c2 + 1;
	plen = len - (size_t)(path - s);
	if (overlong || plen >= DKM_CGROUP_PATH_MAX) {
		if (v2)
			pl->v2 = pl->v2_long = true;
		else
			pl->v1 = pl->v1_long = true;
		return 0;
	}
	if (v2) {
		pl->v2 = true;
		memcpy(pl->v2_path, path, plen);
		pl->v2_path[plen] = '\0';
	} else {
		pl->v1 = true;
		memcpy(pl->v1_path, path, plen);
		pl->v1_path[plen] = '\0';
	}
	return 0;
}

/* Read <proc>/PID/cgroup line by line. */
static int read_proc_cgroup(int proc_fd, pid_t pid, struct proc_lines *pl)
{
	char name[32], buf[4096], line[DKM_CGROUP_PATH_MAX + 64];
	size_t llen = 0;
	bool overlong = false;
	int fd, err = 0;

	snprintf(name, sizeof(name), "%d/cgroup", (int)pid);
	fd = openat(proc_fd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		err = -errno;
		if (err == -ENOENT) {
			snprintf(name, sizeof(name), "%d", (int)pid);
			if (faccessat(proc_fd, name, F_OK, 0) < 0)
				return errno == ENOENT ? -ESRCH : -errno;
			return 1; /* a process, but no cgroup file: a kernel without cgroups */
		}
		return err == -ESRCH ? -ESRCH : err;
	}
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		if (n == 0)
			break;
		for (ssize_t i = 0; i < n && !err; i++) {
			if (buf[i] == '\n') {
				err = parse_line(line, llen, overlong, pl);
				llen = 0;
				overlong = false;
			} else if (llen < sizeof(line)) {
				line[llen++] = buf[i];
			} else {
				overlong = true;
			}
		}
		if (err || (size_t)n < sizeof(buf))
			break; /* a short read of a proc file is its end, as in read_small */
	}
	if (!err && llen)
		err = parse_line(line, llen, overlong, pl); /* no newline at the end */
	close(fd);
	return err;
}

/* The path relative to a hierarchy's descriptor: "." for "/", else without its "/". */
static const char *rel(const char *path)
{
	return path[1] ? path + 1 : ".";
}

int dkm_cgroup_resolve(const struct dkm_cgroup_fs *fs, pid_t pid, struct dkm_cgroup *cg)
{
	struct proc_lines pl;
	const char *path = "/";
	int r, dirfd = -1;

	memset(cg, 0, sizeof(*cg));
	if (pid <= 0)
		return -EINVAL;
	pl.v2 = pl.v1 = pl.v2_long = pl.v1_long = false;
	r = read_proc_cgroup(fs->proc_fd, pid, &pl);
	if (r < 0)
		return r;
	if (pl.v1) {
		if (pl.v1_long)
			return -ENAMETOOLONG;
		if (fs->v1_fd < 0)
			return -ENOENT;
		cg->version = DKM_CGROUP_V1;
		path = pl.v1_path;
		dirfd = fs->v1_fd;
	} else if (pl.v2) {
		if (pl.v2_long)
			return -ENAMETOOLONG;
		path = pl.v2_path;
		if (fs->v2_fd >= 0 && fs->v2_memory) {
			cg->version = DKM_CGROUP_V2;
			dirfd = fs->v2_fd;
		}
	}
	r = dkm_cgroup_path_check(path);
	if (r < 0)
		return r;
	if (dirfd >= 0 && faccessat(dirfd, rel(path), F_OK, 0) < 0)
		return -errno;
	strcpy(cg->path, path); /* checked: shorter than DKM_CGROUP_PATH_MAX */
	cg->is_root = cg->version == DKM_CGROUP_NONE || !strcmp(path, "/");
	return 0;
}

/* name = path[0..len) relative to the hierarchy, then "/" file (or file alone at the root). */
static void level_name(char *name, const char *path, size_t len, const char *file)
{
	if (len <= 1)
		snprintf(name, NAME_MAX_LEN, "%s", file);
	else
		snprintf(name, NAME_MAX_LEN, "%.*s/%s", (int)(len - 1), path + 1, file);
}

/*
 * The limit and usage of one level: 2 if limited, 1 if the file says no
 * limit, 0 if there is no file, -errno.
 */
static int read_level(int dirfd, const char *path, size_t len, const char *limit_file,
		      const char *usage_file, bool v1, uint64_t *limit, uint64_t *usage)
{
	char name[NAME_MAX_LEN];
	int r;

	level_name(name, path, len, limit_file);
	r = read_value(dirfd, name, !v1, limit);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	if (*limit == DKM_CGROUP_UNLIMITED || (v1 && *limit >= V1_UNLIMITED))
		return 1;
	level_name(name, path, len, usage_file);
	r = read_value(dirfd, name, false, usage);
	if (r == -ENOENT)
		return -EINVAL; /* a limit without a usage: not a memory cgroup we understand */
	return r < 0 ? r : 2;
}

static uint64_t room(uint64_t limit, uint64_t usage)
{
	return usage < limit ? limit - usage : 0;
}

static void add_level(struct dkm_cgroup_limits *lim, size_t len, uint64_t limit, uint64_t usage)
{
	struct dkm_cgroup_level *l;
	uint64_t h = room(limit, usage);

	if (lim->nlevels < DKM_CGROUP_MAX_LEVELS) {
		l = &lim->levels[lim->nlevels++];
	} else {
		/* full: replace the level with the most headroom, if it has more than this one */
		unsigned worst = 0;

		lim->truncated = true;
		for (unsigned i = 1; i < lim->nlevels; i++)
			if (room(lim->levels[i].limit, lim->levels[i].usage) >
			    room(lim->levels[worst].limit, lim->levels[worst].usage))
				worst = i;
		if (room(lim->levels[worst].limit, lim->levels[worst].usage) <= h)
			return;
		l = &lim->levels[worst];
	}
	l->len = len;
	l->limit = limit;
	l->usage = usage;
}

int dkm_cgroup_read_limits(const struct dkm_cgroup_fs *fs, const struct dkm_cgroup *cg,
			   unsigned flags, struct dkm_cgroup_limits *lim)
{
	bool v1 = cg->version == DKM_CGROUP_V1;
	int dirfd = v1 ? fs->v1_fd : fs->v2_fd;
	size_t len = strlen(cg->path);

	memset(lim, 0, sizeof(*lim));
	lim->limit = lim->headroom = DKM_CGROUP_UNLIMITED;
	lim->swap_limit = lim->swap_headroom = DKM_CGROUP_UNLIMITED;
	if (cg->version == DKM_CGROUP_NONE || (!v1 && !fs->v2_memory))
		return 0;
	if (dirfd < 0 || cg->path[0] != '/')
		return -EINVAL;
	for (unsigned depth = 0;; depth++) {
		uint64_t limit, usage;
		int r;

		r = read_level(dirfd, cg->path, len, v1 ? "memory.limit_in_bytes" : "memory.max",
			       v1 ? "memory.usage_in_bytes" : "memory.current", v1, &limit, &usage);
		if (r < 0)
			return r;
		if (r == 0 && depth == 0) {
			/* no limit file in the process's own cgroup: is it still there? */
			char name[NAME_MAX_LEN];

			level_name(name, cg->path, len, "");
			if (faccessat(dirfd, len <= 1 ? "." : name, F_OK, 0) < 0)
				return -errno;
		}
		if (r == 2) {
			add_level(lim, len, limit, usage);
			if (room(limit, usage) < lim->headroom) {
				lim->limit = limit;
				lim->usage = usage;
				lim->headroom = room(limit, usage);
				lim->at_len = len;
				lim->at_depth = depth;
			}
		}
		if (!v1 && (flags & DKM_CGROUP_SWAP)) {
			r = read_level(dirfd, cg->path, len, "memory.swap.max", "memory.swap.current",
				       false, &limit, &usage);
			if (r < 0)
				return r;
			if (r == 2 && room(limit, usage) < lim->swap_headroom) {
				lim->swap_limit = limit;
				lim->swap_usage = usage;
				lim->swap_headroom = room(limit, usage);
				lim->swap_at_len = len;
			}
		}
		if (len <= 1)
			break;
		while (len > 1 && cg->path[len - 1] != '/')
			len--;
		if (len > 1)
			len--; /* drop the slash: "/a/b" -> "/a" */
	}
	return 0;
}
