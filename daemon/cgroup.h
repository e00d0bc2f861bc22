/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Memory cgroups of clients: which cgroup a process belongs to (from
 * /proc/PID/cgroup) and how much memory that cgroup and its ancestors still
 * let it charge (cgroup v2 memory.max/memory.current, v1
 * memory.limit_in_bytes/memory.usage_in_bytes). Read-only: nothing here
 * writes to any cgroup. The proc and cgroup-fs roots are parameters so that
 * tests can use fixture trees ("/proc" and "/sys/fs/cgroup" in production).
 *
 * Cost: dkm_cgroup_fs_open once (at start, again on reload); dkm_cgroup_resolve
 * once per client (4 system calls: open, read, close /proc/PID/cgroup, and a
 * check that the directory exists); dkm_cgroup_read_limits once per request,
 * from one descriptor per hierarchy kept open, no descriptor per client:
 * open+read+close of the limit file of each level of the path (1 call where it
 * is missing, 1 more then in the process's own cgroup), and the same again for
 * the usage file where the limit is finite. /a/b/c with no limit on v2: 3 + 3
 * + 3 + 1 (the root has no memory.max) = 10 calls; with DKM_CGROUP_SWAP, the
 * swap files likewise.
 */
#ifndef DKM_DAEMON_CGROUP_H
#define DKM_DAEMON_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Longest cgroup path kept, with its NUL: longer ones are -ENAMETOOLONG. */
#define DKM_CGROUP_PATH_MAX 1024
/* "No limit" in the figures below. */
#define DKM_CGROUP_UNLIMITED UINT64_MAX
/* Limited levels dkm_cgroup_read_limits reports one by one. */
#define DKM_CGROUP_MAX_LEVELS 8

enum dkm_cgroup_version {
	DKM_CGROUP_NONE = 0, /* no memory controller accounts the process */
	DKM_CGROUP_V1 = 1,   /* memory controller of a v1 hierarchy (<root>/memory) */
	DKM_CGROUP_V2 = 2,   /* memory controller of the unified hierarchy */
};

/* The hierarchies of one proc + cgroup-fs pair, found once. */
struct dkm_cgroup_fs {
	int proc_fd;        /* the proc root (O_PATH) */
	int v2_fd;          /* the unified hierarchy, -1 if none */
	const char *v2_dir; /* where, relative to the cgroup-fs root: "" or "unified" (hybrid) */
	bool v2_memory;     /* "memory" is in its root cgroup.controllers */
	int v1_fd;          /* the v1 memory hierarchy (<root>/memory), -1 if none */
};

/* A process's memory cgroup, resolved once per client. */
struct dkm_cgroup {
	enum dkm_cgroup_version version;
	/*
	 * Nothing limits memory charged here: the root of the hierarchy as the
	 * daemon sees it (path "/"), or DKM_CGROUP_NONE. In a cgroup namespace
	 * "/" is the namespace's root, whose limits dkm_cgroup_read_limits
	 * still reads.
	 */
	bool is_root;
	/*
	 * Absolute, validated (dkm_cgroup_path_check): the path in the memory
	 * hierarchy; for DKM_CGROUP_NONE the unified-hierarchy path if there is
	 * one, else "/".
	 */
	char path[DKM_CGROUP_PATH_MAX];
};

/* One level of the path that has a finite limit. */
struct dkm_cgroup_level {
	size_t len;     /* the cgroup is path[0..len) ("/" when len is 1) */
	uint64_t limit; /* memory.max or memory.limit_in_bytes */
	uint64_t usage; /* memory.current or memory.usage_in_bytes */
};

/* What the memory cgroups on a path let a process charge, read once per request. */
struct dkm_cgroup_limits {
	/*
	 * The binding level: the one with the least headroom (limit - usage,
	 * 0 when usage is over the limit) from the process's cgroup up to the
	 * root; the deepest on a tie. limit, usage and headroom are
	 * DKM_CGROUP_UNLIMITED (usage 0) and at_len 0 when no level has a
	 * finite limit.
	 */
	uint64_t limit;
	uint64_t usage;
	uint64_t headroom;
	size_t at_len;     /* the binding cgroup is path[0..at_len) */
	unsigned at_depth; /* levels above the process's own cgroup: 0 = its own */
	/*
	 * Every level with a finite limit, the process's own cgroup first. With
	 * more than DKM_CGROUP_MAX_LEVELS of them, those with the least headroom
	 * are kept (in no particular order) and truncated is set.
	 */
	unsigned nlevels;
	bool truncated;
	struct dkm_cgroup_level levels[DKM_CGROUP_MAX_LEVELS];
	/*
	 * With DKM_CGROUP_SWAP, v2 only: memory.swap.max / memory.swap.current
	 * of the level with the least swap headroom. DKM_CGROUP_UNLIMITED
	 * otherwise, or where the kernel does not account swap.
	 */
	uint64_t swap_limit;
	uint64_t swap_usage;
	uint64_t swap_headroom;
	size_t swap_at_len;
};

/* dkm_cgroup_read_limits flags */
#define DKM_CGROUP_SWAP 0x1u /* also the swap figures (v2): two files more per level */

/*
 * Open proc_root and cgroup_root and find the hierarchies: the unified one
 * at cgroup_root (cgroup.controllers there) or at cgroup_root/unified
 * (systemd's hybrid layout), the v1 memory one at cgroup_root/memory (not
 * looked for when cgroup_root is itself the unified hierarchy). The layout
 * is not looked at again: open again after a mount change.
 * Errors: -errno opening either root (-ENOENT, -ENOTDIR, ...).
 */
int dkm_cgroup_fs_open(struct dkm_cgroup_fs *fs, const char *proc_root, const char *cgroup_root);
void dkm_cgroup_fs_close(struct dkm_cgroup_fs *fs);

/*
 * The memory cgroup of pid, from <proc>/PID/cgroup: a v1 line whose
 * controller list has "memory" ("4:memory:/a" or "3:cpu,memory:/a") wins over
 * the unified "0::/a" line (a controller is in one hierarchy only); the unified
 * line counts only if the unified hierarchy has the memory controller; neither
 * gives DKM_CGROUP_NONE. The directory must exist in the hierarchy.
 * Errors: -EINVAL pid <= 0, or garbage in the file (a line not "ID:LIST:PATH",
 * two memory lines, a path dkm_cgroup_path_check refuses); -ESRCH the
 * process is gone; -ENAMETOOLONG the path has DKM_CGROUP_PATH_MAX bytes or
 * more; -EXDEV the process is outside the daemon's cgroup namespace (the
 * kernel shows "/../x"); -ENOENT a v1 memory line but no hierarchy at
 * <root>/memory, or the cgroup's directory is missing there; other -errno
 * reading the file (-EACCES).
 */
int dkm_cgroup_resolve(const struct dkm_cgroup_fs *fs, pid_t pid, struct dkm_cgroup *cg);

/*
 * The limits on cg's path, from the cgroup up to the root of its hierarchy,
 * read now. A level without the limit file (the controller is not enabled
 * there, the kernel's root cgroup) has no limit. v2: memory.max ("max" is no
 * limit), then memory.current only where it is finite. v1: the same with
 * memory.limit_in_bytes (2^62 or more is no limit: the kernel's "unlimited"
 * is 0x7ffffffffffff000 with 4 KiB pages) and memory.usage_in_bytes; every
 * ancestor counts, whatever its memory.use_hierarchy says (the conservative
 * reading). DKM_CGROUP_NONE: no limit, no system call.
 * Errors: -ENOENT the cgroup's directory is gone (resolve again); -EINVAL
 * a file that is not a number ("max" for the limits of v2), or a limit whose
 * usage file is missing; -errno opening or reading (-EACCES).
 */
int dkm_cgroup_read_limits(const struct dkm_cgroup_fs *fs, const struct dkm_cgroup *cg,
			   unsigned flags, struct dkm_cgroup_limits *lim);

/*
 * 0 if path is an absolute cgroup path: "/" or "/" followed by components
 * separated by single slashes, no trailing slash, no "." or ".."
 * component, no control character (below 0x20, or 0x7f), shorter than
 * DKM_CGROUP_PATH_MAX. -EXDEV if it starts with "/.." (outside the cgroup
 * namespace), -ENAMETOOLONG if too long, -EINVAL otherwise.
 */
int dkm_cgroup_path_check(const char *path);

/*
 * Whether path is prefix or lies below it, component-wise: "/a.slice"
 * covers "/a.slice" and "/a.slice/x", not "/a.slicex"; "/" covers every
 * path. A trailing slash of prefix is ignored.
 */
bool dkm_cgroup_path_under(const char *path, const char *prefix);

/* "v1", "v2" or "none". */
const char *dkm_cgroup_version_name(enum dkm_cgroup_version v);

#endif
