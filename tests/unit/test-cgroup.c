/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon/cgroup.c on trees built at run time in a temporary directory (a
 * proc root with PID/cgroup files and a cgroup-fs root), and once on this
 * machine's /proc and /sys/fs/cgroup.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "test-common.h"

#define MIB (1ull << 20)
#define PID 4242

static char top[64];
static char proc_root[96], cg_root[96];

static void mkdir_p(const char *path)
{
	char buf[PATH_MAX * 2];

	ck_assert_uint_lt(strlen(path), sizeof(buf));
	strcpy(buf, path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		ck_assert_msg(mkdir(buf, 0755) == 0 || errno == EEXIST, "mkdir %s: %m", buf);
		*p = '/';
	}
	ck_assert_msg(mkdir(buf, 0755) == 0 || errno == EEXIST, "mkdir %s: %m", buf);
}

/* Write len bytes (strlen when len is -1) to top/rel, making its directories. */
static void put_len(const char *rel, const char *text, ssize_t len)
{
	char path[PATH_MAX * 2], *slash;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", top, rel);
	slash = strrchr(path, '/');
	*slash = '\0';
	mkdir_p(path);
	*slash = '/';
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_msg(fd >= 0, "open %s: %m", path);
	if (len < 0)
		len = (ssize_t)strlen(text);
	ck_assert_int_eq(write(fd, text, (size_t)len), len);
	close(fd);
}

static void put(const char *rel, const char *text)
{
	put_len(rel, text, -1);
}

/* A cgroup directory (relative to top). */
static void dir(const char *rel)
{
	char path[PATH_MAX * 2];

	snprintf(path, sizeof(path), "%s/%s", top, rel);
	mkdir_p(path);
}

/* memory.max and memory.current of a v2 cgroup below cg/. */
static void v2(const char *cgroup, const char *max, const char *current)
{
	char rel[PATH_MAX];

	snprintf(rel, sizeof(rel), "cg%s/memory.max", cgroup);
	put(rel, max);
	snprintf(rel, sizeof(rel), "cg%s/memory.current", cgroup);
	put(rel, current);
}

static void proc_cgroup(const char *text)
{
	char rel[64];

	snprintf(rel, sizeof(rel), "proc/%d/cgroup", PID);
	put(rel, text);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void setup(void)
{
	strcpy(top, "/tmp/dkm-test-cgroup-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(top));
	snprintf(proc_root, sizeof(proc_root), "%s/proc", top);
	snprintf(cg_root, sizeof(cg_root), "%s/cg", top);
	dir("proc");
	dir("cg");
}

static void teardown(void)
{
	nftw(top, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A pure v2 layout with the memory controller. */
static void v2_root(void)
{
	put("cg/cgroup.controllers", "cpuset cpu io memory hugetlb pids\n");
	put("cg/memory.stat", "anon 0\n");
}

/* Open the trees and resolve PID: the error of either. */
static int resolve(struct dkm_cgroup_fs *fs, struct dkm_cgroup *cg)
{
	int r = dkm_cgroup_fs_open(fs, proc_root, cg_root);

	ck_assert_int_eq(r, 0);
	return dkm_cgroup_resolve(fs, PID, cg);
}

static int limits_of(const char *proc_text, struct dkm_cgroup *cg, unsigned flags,
		     struct dkm_cgroup_limits *lim)
{
	struct dkm_cgroup_fs fs;
	int r;

	proc_cgroup(proc_text);
	r = resolve(&fs, cg);
	if (r == 0)
		r = dkm_cgroup_read_limits(&fs, cg, flags, lim);
	dkm_cgroup_fs_close(&fs);
	return r;
}

START_TEST(test_v2_parent_tighter)
{
	struct dkm_cgroup cg;
	struct dkm_cgroup_limits lim;

	v2_root();
	v2("/a.slice", "104857600\n", "94371840\n");        /* 100M, 90M used: 10M left */
	v2("/a.slice/b.service", "52428800\n", "10485760\n"); /* 50M, 10M used: 40M left */
	ck_assert_int_eq(limits_of("0::/a.slice/b.service\n", &cg, 0, &lim), 0);
	ck_assert_int_eq(cg.version, DKM_CGROUP_V2);
	ck_assert(!cg.is_root);
	ck_assert_str_eq(cg.path, "/a.slice/b.service");
	ck_assert_uint_eq(lim.limit, 100 * MIB);
	ck_assert_uint_eq(lim.usage, 90 * MIB);
	ck_assert_uint_eq(lim.headroom, 10 * MIB);
	ck_assert_uint_eq(lim.at_depth, 1);
	ck_assert_uint_eq(lim.at_len, strlen("/a.slice"));
	ck_assert_uint_eq(lim.nlevels, 2);
	ck_assert(!lim.truncated);
	ck_assert_uint_eq(lim.levels[0].len, strlen("/a.slice/b.service"));
	ck_assert_uint_eq(lim.levels[0].limit, 50 * MIB);
	ck_assert_uint_eq(lim.levels[1].len, strlen("/a.slice"));
	/* swap not asked: untouched */
	ck_assert_uint_eq(lim.swap_limit, DKM_CGROUP_UNLIMITED);

	/* The smallest limit is not the binding one: the least headroom is. */
	v2("/a.slice", "104857600\n", "10485760\n"); /* 90M left: the child's 40M binds */
	ck_assert_int_eq(limits_of("0::/a.slice/b.service\n", &cg, 0, &lim), 0);
	ck_assert_uint_eq(lim.limit, 50 * MIB);
	ck_assert_uint_eq(lim.headroom, 40 * MIB);
	ck_assert_uint_eq(lim.at_depth, 0);
	ck_assert_uint_eq(lim.at_len, strlen(cg.path));

	/* Over the limit (after memory.max was lowered): no headroom, not a wrap-around. */
	v2("/a.slice", "104857600\n", "209715200\n");
	ck_assert_int_eq(limits_of("0::/a.slice/b.service\n", &cg, 0, &lim), 0);
	ck_assert_uint_eq(lim.headroom, 0);
	ck_assert_uint_eq(lim.at_depth, 1);

	/* A tie goes to the deepest level. */
	v2("/a.slice", "104857600\n", "62914560\n");           /* 40M left */
	ck_assert_int_eq(limits_of("0::/a.slice/b.service\n", &cg, 0, &lim), 0);
	ck_assert_uint_eq(lim.headroom, 40 * MIB);
	ck_assert_uint_eq(lim.at_depth, 0);
}
END_TEST

START_TEST(test_v2_unlimited)
{
	struct dkm_cgroup cg;
	struct dkm_cgroup_limits lim;

	v2_root();
	v2("/user.slice", "max\n", "1000\n");
	v2("/user.slice/user-1000.slice", "max\n", "1000\n");
	v2("/user.slice/user-1000.slice/session-2.scope", "max\n", "1000\n");
	ck_assert_int_eq(limits_of("0::/user.slice/user-1000.slice/session-2.scope\n", &cg,
				   DKM_CGROUP_SWAP, &lim), 0);
	ck_assert_uint_eq(lim.limit, DKM_CGROUP_UNLIMITED);
	ck_assert_uint_eq(lim.headroom, DKM_CGROUP_UNLIMITED);
	ck_assert_uint_eq(lim.usage, 0);
	ck_assert_uint_eq(lim.at_len, 0);
	ck_assert_uint_eq(lim.nlevels, 0);
	ck_assert_uint_eq(lim.swap_headroom, DKM_CGROUP_UNLIMITED);

	/* A level where the controller is not enabled has no files and no limit. */
	put("cg/system.slice/cgroup.procs", "");
	v2("/system.slice/x.service", "33554432\n", "0\n");
	ck_assert_int_eq(limits_of("0::/system.slice/x.service\n", &cg, 0, &lim), 0);
	ck_assert_uint_eq(lim.limit, 32 * MIB);
	ck_assert_uint_eq(lim.nlevels, 1);

	/* Nor in the process's own cgroup: no limit at all. */
	put("cg/system.slice/y.service/cgroup.procs", "");
	ck_assert_int_eq(limits_of("0::/system.slice/y.service\n", &cg, 0, &lim), 0);
	ck_assert_uint_eq(lim.limit, DKM_CGROUP_UNLIMITED);
}
END_TEST

START_TEST(test_v2_swap)
{
	struct dkm_cgroup cg;
	struct dkm_cgroup_limits lim;

	v2_root();
	v2("/k.slice", "max\n", "0\n");
	put("cg/k.slice/memory.swap.max", "67108864\n");
	put("cg/k.slice/memory.swap.current", "4194304\n");
	v2("/k.slice/pod.slice", "1073741824\n", "0\n");
	put("cg/k.slice/pod.slice/memory.swap.max", "max\n");
	put("cg/k.slice/pod.slice/memory.swap.current", "0\n");
	ck_assert_int_eq(limits_of("0::/k.slice/pod.slice\n", &cg, DKM_CGROUP_SWAP, &lim), 0);
	ck_assert_uint_eq(lim.limit, 1024 * MIB);
	ck_assert_uint_eq(lim.swap_limit, 64 * MIB);
	ck_assert_uint_eq(lim.swap_usage, 4 * MIB);
	ck_assert_uint_eq(lim.swap_headroom, 60 * MIB);
	ck_assert_uint_eq(lim.swap_at_len, strlen("/k.slice"));
	/* without the flag, not read */
	ck_assert_int_eq(limits_of("0::/k.slice/pod.slice\n", &cg, 0, &lim), 0);
	ck_assert_uint_eq(lim.swap_limit, DKM_CGROUP_UNLIMITED);
	/* garbage there only matters when asked for */
	put("cg/k.slice/memory.swap.max", "some\n");
	ck_assert_int_eq(limits_of("0::/k.slice/pod.slice\n", &cg, 0, &lim), 0);
	ck_assert_int_eq(limits_of("0::/k.slice/pod.slice\n", &cg, DKM_CGROUP_SWAP, &lim), -EINVAL);
}
END_TEST

START_TEST(test_v2_root_cgroup)
{
	struct dkm_cgroup cg;
	struct dkm_cgroup_limits lim;

	v2_root();
	ck_assert_int_eq(limits_of("0::/\n", &cg, 0, &lim), 0);
	ck_assert_int_eq(cg.version, DKM_CGROUP_V2);
	ck_assert(cg.is_root);
	ck_assert_str_eq(cg.path, "/");
	ck_assert_uint_eq(lim.limit, DKM_CGROUP_UNLIMITED);

	/* In a cgroup namespace "/" may have limits: they are read. */
	v2("", "268435456\n", "0\n");
	ck_assert_int_eq(limits_of("0::/\n", &cg, 0, &lim), 0);
	ck_assert(cg.is_root);
	ck_assert_uint_eq(lim.limit, 256 * MIB);
	ck_assert_uint_eq(lim.at_len, 1);
}
END_TEST

START_TEST(test_v2_without_memory_controller)
{
	struct dkm_cgroup cg;
	struct dkm_cgroup_limits lim;

	put("cg/cgroup.controllers", "cpu io pids\n");
	v2("/a.slice", "1048576\n", "0\n"); /* stale files: not looked at */
	ck_assert_int_eq(limits_of("0::/a.slice\n", &cg, 0, &lim), 0);
	ck_assert_int_eq(cg.version, DKM_CGROUP_NONE);
	ck_assert(cg.is_root);
	ck_assert_str_eq(cg.path, "/a.slice");
	ck_assert_uint_eq(lim.limit, DKM_CGROUP_UNLIMITED);
}
END_TEST

/* v1 memory hierarchy at cg/memory (the tmpfs at cg has no cgroup.controllers). */
static void v1_root(void)
{
	put("cg/memory/memory.limit_in_bytes", "9223372036854771712\n");
	put("cg/memory/memory.usage_in_bytes", "1102430208\n");
	put("cg/memory/memory.use_hierarchy", "1\n");
}

static void v1(const char *cgroup, const char *limit, const char *usage)
{
	char rel[PATH_MAX];

	snprintf(rel, sizeof(rel), "cg/memory%s/memory.limit_in_bytes", cgroup);
	put(rel, limit);
	snprintf(rel, sizeof(rel), "cg/memory%s/memory.usage_in_bytes", cgroup);
	put(rel, usage);
}

START_TEST(test_v1)
{
	struct dkm_cgroup cg;
	struct dkm_cgroup_limits lim;

	v1_root();
	v1("/process_api", "9223372036854771712\n", "1233870848\n");
	v1("/process_api/247093", "33554432\n", "5505024\n");
	ck_assert_int_eq(limits_of("9:name=systemd:/\n8:pids:/\n4:memory:/process_api/247093\n"
				   "1:cpu:/\n0::/\n", &cg, DKM_CGROUP_SWAP, &lim), 0);
	ck_assert_int_eq(cg.version, DKM_CGROUP_V1);
	ck_assert_str_eq(cg.path, "/process_api/247093");
	ck_assert(!cg.is_root);
	ck_assert_uint_eq(lim.limit, 32 * MIB);
	ck_assert_uint_eq(lim.usage, 5505024);
	ck_assert_uint_eq(lim.headroom, 32 * MIB - 5505024);
	ck_assert_uint_eq(lim.at_depth, 0);
	ck_assert_uint_eq(lim.nlevels, 1);
	ck_assert_uint_eq(lim.swap_limit, DKM_CGROUP_UNLIMITED);

	/*
	 * A parent with use_hierarchy 0 limits counts anyway (conservative), and
	 * 64 KiB pages' "unlimited" is unlimited too.
	 */
	put("cg/memory/process_api/memory.use_hierarchy", "0\n");
	v1("/process_api", "16777216\n", "0\n");
	v1("/process_api/247093", "9223372036854710272\n", "5505024\n");
	ck_assert_int_eq(limits_of("4:memory:/process_api/247093\n", &cg, 0, &lim), 0);
	ck_assert_uint_eq(lim.limit, 16 * MIB);
	ck_assert_uint_eq(lim.at_depth, 1);
	ck_assert_uint_eq(lim.nlevels, 1);

	/* Co-mounted controllers: "memory" in a comma list, not a prefix of a word. */
	ck_assert_int_eq(limits_of("3:cpu,memory:/process_api\n", &cg, 0, &lim), 0);
	ck_assert_int_eq(cg.version, DKM_CGROUP_V1);
	ck_assert_str_eq(cg.path, "/process_api");
	ck_assert_int_eq(limits_of("3:cpu,memoryx:/process_api\n", &cg, 0, &lim), 0);
	ck_assert_int_eq(cg.version, DKM_CGROUP_NONE);

	/* root */
	ck_assert_int_eq(limits_of("4:memory:/\n", &cg, 0, &lim), 0);
	ck_assert(cg.is_root);
	ck_assert_uint_eq(lim.limit, DKM_CGROUP_UNLIMITED);
}
END_TEST

START_TEST(test_v1_without_hierarchy)
{
	struct dkm_cgroup cg;
	struct dkm_cgroup_limits lim;

	/* The kernel says memory, but nothing is mounted at cg/memory. */
	dir("cg/cpu");
	ck_assert_int_eq(limits_of("4:memory:/a\n", &cg, 0, &lim), -ENOENT);
	/* a directory named memory that is not a v1 memory hierarchy */
	dir("cg/memory/a");
	ck_assert_int_eq(limits_of("4:memory:/a\n", &cg, 0, &lim), -ENOENT);
	/* no memory line at all: nothing accounts the process */
	ck_assert_int_eq(limits_of("5:cpu:/a\n1:name=systemd:/a\n", &cg, 0, &lim), 0);
	ck_assert_int_eq(cg.version, DKM_CGROUP_NONE);
	ck_assert_str_eq(cg.path, "/");
	ck_assert(cg.is_root);
}
END_TEST

START_TEST(test_hybrid)
{
	struct dkm_cgroup_fs fs;
	struct dkm_cgroup cg;
	struct dkm_cgroup_limits lim;

	/* systemd's hybrid layout: unified at cg/unified without memory, v1 memory */
	put("cg/unified/cgroup.controllers", "\n");
	v1_root();
	v1("/user.slice", "9223372036854771712\n", "0\n");
	v1("/user.slice/user-1000.slice", "1073741824\n", "536870912\n");
	ck_assert_int_eq(dkm_cgroup_fs_open(&fs, proc_root, cg_root), 0);
	ck_assert_int_ge(fs.v2_fd, 0);
	ck_assert_str_eq(fs.v2_dir, "unified");
	ck_assert(!fs.v2_memory);
	ck_assert_int_ge(fs.v1_fd, 0);
	dkm_cgroup_fs_close(&fs);
	ck_assert_int_eq(fs.v1_fd, -1);

	ck_assert_int_eq(limits_of("12:memory:/user.slice/user-1000.slice\n"
				   "1:name=systemd:/user.slice/user-1000.slice/session-1.scope\n"
				   "0::/user.slice/user-1000.slice/session-1.scope\n", &cg, 0, &lim), 0);
	ck_assert_int_eq(cg.version, DKM_CGROUP_V1);
	ck_assert_str_eq(cg.path, "/user.slice/user-1000.slice");
	ck_assert_uint_eq(lim.headroom, 512 * MIB);

	/* Only the unified line: no memory controller there, nothing accounts it. */
	ck_assert_int_eq(limits_of("1:name=systemd:/x\n0::/user.slice/u.scope\n", &cg, 0, &lim), 0);
	ck_assert_int_eq(cg.version, DKM_CGROUP_NONE);
	ck_assert_str_eq(cg.path, "/user.slice/u.scope");
	ck_assert(cg.is_root);

	/* Hybrid with memory on the unified side (cgroup_no_v1=memory). */
	put("cg/unified/cgroup.controllers", "memory\n");
	put("cg/unified/u.scope/memory.max", "8388608\n");
	put("cg/unified/u.scope/memory.current", "0\n");
	ck_assert_int_eq(limits_of("0::/u.scope\n", &cg, 0, &lim), 0);
	ck_assert_int_eq(cg.version, DKM_CGROUP_V2);
	ck_assert_uint_eq(lim.limit, 8 * MIB);
}
END_TEST

static void expect_limits_error(const char *max, const char *current, int want)
{
	struct dkm_cgroup cg;
	struct dkm_cgroup_limits lim;

	v2("/g.slice", max, current);
	ck_assert_msg(limits_of("0::/g.slice\n", &cg, 0, &lim) == want, "max \"%s\" current \"%s\"",
		      max, current);
}

START_TEST(test_garbage_files)
{
	struct dkm_cgroup cg;
	struct dkm_cgroup_limits lim;

	v2_root();
	expect_limits_error("lots\n", "0\n", -EINVAL);
	expect_limits_error("12abc\n", "0\n", -EINVAL);
	expect_limits_error("", "0\n", -EINVAL);
	expect_limits_error("\n", "0\n", -EINVAL);
	expect_limits_error("-1\n", "0\n", -EINVAL);
	expect_limits_error("max\n\n", "0\n", -EINVAL);
	expect_limits_error("maximum\n", "0\n", -EINVAL);
	expect_limits_error(" 4096\n", "0\n", -EINVAL);
	expect_limits_error("4096 \n", "0\n", -EINVAL);
	expect_limits_error("99999999999999999999999\n", "0\n", -EINVAL);
	expect_limits_error("18446744073709551616\n", "0\n", -EINVAL);
	expect_limits_error("4096\n", "max\n", -EINVAL);
	expect_limits_error("4096\n", "a\n", -EINVAL);
	/* longer than any number: never a partial read taken for the whole */
	expect_limits_error("4096\n", "000000000000000000000000000000000000000000000000000000000000000"
			    "000000000000000000000001\n", -EINVAL);
	/* fine: no newline at the end, the largest number */
	expect_limits_error("4096", "0", 0);
	expect_limits_error("18446744073709551615\n", "0\n", 0);

	/* a limit without its usage file */
	v2("/h.slice", "4096\n", "0\n");
	unlink(strcat(strcpy((char[PATH_MAX]){ 0 }, cg_root), "/h.slice/memory.current"));
	ck_assert_int_eq(limits_of("0::/h.slice\n", &cg, 0, &lim), -EINVAL);

	/* a file that cannot be read (root reads anything: a directory then) */
	dir("cg/d.slice/memory.max");
	ck_assert_int_eq(limits_of("0::/d.slice\n", &cg, 0, &lim), -EISDIR);
}
END_TEST

static void expect_resolve(const char *text, int want)
{
	struct dkm_cgroup_fs fs;
	struct dkm_cgroup cg;
	int r;

	proc_cgroup(text);
	r = resolve(&fs, &cg);
	dkm_cgroup_fs_close(&fs);
	ck_assert_msg(r == want, "%s: %d (%s), expected %d", text, r, strerror(-r), want);
}

START_TEST(test_garbage_proc)
{
	v2_root();
	dir("cg/a");
	dir("cg/a/b");
	expect_resolve("0::/a\n", 0);
	expect_resolve("0::/a", 0); /* no newline at the end */
	expect_resolve("nonsense\n", -EINVAL);
	expect_resolve("x::/a\n", -EINVAL);
	expect_resolve(":memory:/a\n", -EINVAL);
	expect_resolve("0:/a\n", -EINVAL);
	expect_resolve("0::/a\n0::/a\n", -EINVAL); /* twice: not the kernel */
	expect_resolve("4:memory:/a\n5:cpu,memory:/a\n", -EINVAL);
	expect_resolve("0::a\n", -EINVAL);
	expect_resolve("0::\n", -EINVAL);
	expect_resolve("0::/a//b\n", -EINVAL);
	expect_resolve("0::/a/\n", -EINVAL);
	expect_resolve("0::/a/./b\n", -EINVAL);
	expect_resolve("0::/a/../a\n", -EINVAL);
	expect_resolve("0::/a/..\n", -EINVAL);
	expect_resolve("0::/../../x\n", -EXDEV);
	expect_resolve("0::/..\n", -EXDEV);
	expect_resolve("0::/a\tb\n", -EINVAL);
	expect_resolve("0::/a\x1b[2Jb\n", -EINVAL);
	expect_resolve("0::/a\x7f\n", -EINVAL);
	expect_resolve("0::/nonexistent\n", -ENOENT);
	/* a NUL in the file */
	put_len("proc/4242/cgroup", "0::/a\0/b\n", 9);
	{
		struct dkm_cgroup_fs fs;
		struct dkm_cgroup cg;

		ck_assert_int_eq(resolve(&fs, &cg), -EINVAL);
		dkm_cgroup_fs_close(&fs);
	}
	/* garbage on a line for another hierarchy is still garbage */
	expect_resolve("0::/a\nrubbish\n", -EINVAL);
	/* an empty file: no hierarchy at all */
	expect_resolve("", 0);
	/* a line for another hierarchy with an odd path is none of our business */
	expect_resolve("7:cpu:/x//../y\n0::/a/b\n", 0);
}
END_TEST

START_TEST(test_vanished_pid)
{
	struct dkm_cgroup_fs fs;
	struct dkm_cgroup cg;

	v2_root();
	ck_assert_int_eq(dkm_cgroup_fs_open(&fs, proc_root, cg_root), 0);
	ck_assert_int_eq(dkm_cgroup_resolve(&fs, PID, &cg), -ESRCH);
	ck_assert_int_eq(dkm_cgroup_resolve(&fs, 0, &cg), -EINVAL);
	ck_assert_int_eq(dkm_cgroup_resolve(&fs, -1, &cg), -EINVAL);
	/* the process, but no cgroup file: a kernel without cgroups */
	dir("proc/4242");
	ck_assert_int_eq(dkm_cgroup_resolve(&fs, PID, &cg), 0);
	ck_assert_int_eq(cg.version, DKM_CGROUP_NONE);
	ck_assert(cg.is_root);
	dkm_cgroup_fs_close(&fs);

	ck_assert_int_eq(dkm_cgroup_fs_open(&fs, "/nonexistent/proc", cg_root), -ENOENT);
	ck_assert_int_eq(fs.proc_fd, -1);
	ck_assert_int_eq(dkm_cgroup_fs_open(&fs, proc_root, "/nonexistent/cgroup"), -ENOENT);
	ck_assert_int_eq(fs.proc_fd, -1);
}
END_TEST

START_TEST(test_cgroup_removed)
{
	struct dkm_cgroup_fs fs;
	struct dkm_cgroup cg;
	struct dkm_cgroup_limits lim;
	char path[PATH_MAX];

	v2_root();
	v2("/a.slice", "max\n", "0\n");
	v2("/a.slice/b.scope", "max\n", "0\n");
	proc_cgroup("0::/a.slice/b.scope\n");
	ck_assert_int_eq(resolve(&fs, &cg), 0);
	ck_assert_int_eq(dkm_cgroup_read_limits(&fs, &cg, 0, &lim), 0);
	snprintf(path, sizeof(path), "%s/a.slice/b.scope", cg_root);
	nftw(path, rm_one, 4, FTW_DEPTH | FTW_PHYS);
	/* gone: an error, not "no limit" */
	ck_assert_int_eq(dkm_cgroup_read_limits(&fs, &cg, 0, &lim), -ENOENT);
	dkm_cgroup_fs_close(&fs);
}
END_TEST

START_TEST(test_long_paths)
{
	struct dkm_cgroup cg;
	struct dkm_cgroup_limits lim;
	char path[DKM_CGROUP_PATH_MAX + 16], text[8192], rel[PATH_MAX];
	size_t n = 0;

	v2_root();
	/* 1023 characters: 5 components of 200 and a last one */
	while (n + 201 < DKM_CGROUP_PATH_MAX - 1) {
		path[n++] = '/';
		memset(path + n, 'p', 200);
		n += 200;
	}
	path[n++] = '/';
	while (n < DKM_CGROUP_PATH_MAX - 1)
		path[n++] = 'q';
	path[n] = '\0';
	ck_assert_uint_eq(strlen(path), DKM_CGROUP_PATH_MAX - 1);
	ck_assert_int_eq(dkm_cgroup_path_check(path), 0);
	snprintf(rel, sizeof(rel), "cg%s", path);
	dir(rel);
	v2(path, "1048576\n", "0\n");
	snprintf(text, sizeof(text), "0::%s\n", path);
	ck_assert_int_eq(limits_of(text, &cg, 0, &lim), 0);
	ck_assert_str_eq(cg.path, path);
	ck_assert_uint_eq(lim.limit, MIB);

	/* one more: too long */
	strcat(path, "r");
	ck_assert_int_eq(dkm_cgroup_path_check(path), -ENAMETOOLONG);
	snprintf(text, sizeof(text), "0::%s\n", path);
	expect_resolve(text, -ENAMETOOLONG);

	/* far longer than the line buffer, for memory: too long; for another hierarchy: skipped */
	memset(text, 'x', sizeof(text));
	memcpy(text, "0::/", 4);
	text[sizeof(text) - 2] = '\n';
	text[sizeof(text) - 1] = '\0';
	expect_resolve(text, -ENAMETOOLONG);
	memcpy(text, "7:cpu:/", 7);
	strcpy(text + sizeof(text) - 16, "\n0::/\n");
	expect_resolve(text, 0);
	/* the head of an overlong line is garbage: garbage */
	memcpy(text, "7:cpu/xxx", 9);
	expect_resolve(text, -EINVAL);
}
END_TEST

START_TEST(test_odd_characters)
{
	static const char *const paths[] = {
		"/system.slice/system-getty.slice/getty@tty1.service",
		"/system.slice/dev-disk-by\\x2duuid-1234.swap",
		"/a b/c  d",
		"/colon:s/and=equals,commas",
		"/k/kubepods-burstable-pod0f1e_2d3c.slice/cri-containerd-0123abcd.scope",
		"/\xc3\xa9t\xc3\xa9/\xe2\x82\xac",
		"/.hidden/..dots/...",
		"/-/%/~",
	};
	struct dkm_cgroup cg;
	struct dkm_cgroup_limits lim;

	v2_root();
	for (unsigned i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		char text[512];

		v2(paths[i], "2097152\n", "1048576\n");
		snprintf(text, sizeof(text), "0::%s\n", paths[i]);
		ck_assert_msg(limits_of(text, &cg, 0, &lim) == 0, "%s", paths[i]);
		ck_assert_str_eq(cg.path, paths[i]);
		ck_assert_uint_eq(lim.headroom, MIB);
		ck_assert_uint_eq(lim.at_len, strlen(paths[i]));
	}
}
END_TEST

START_TEST(test_many_levels)
{
	struct dkm_cgroup cg;
	struct dkm_cgroup_limits lim;
	char path[256] = "", text[300];
	size_t len[12];

	v2_root();
	/* 12 nested levels, each limited: level i (0 = top) has i+1 MiB of headroom... */
	for (unsigned i = 0; i < 12; i++) {
		char current[32];

		snprintf(path + strlen(path), sizeof(path) - strlen(path), "/l%u", i);
		len[i] = strlen(path);
		snprintf(current, sizeof(current), "%llu\n", (1024 - (i + 1)) * MIB);
		v2(path, "1073741824\n", current);
	}
	/* ...so the top one binds */
	snprintf(text, sizeof(text), "0::%s\n", path);
	ck_assert_int_eq(limits_of(text, &cg, 0, &lim), 0);
	ck_assert_uint_eq(lim.headroom, MIB);
	ck_assert_uint_eq(lim.at_depth, 11);
	ck_assert_uint_eq(lim.at_len, len[0]);
	ck_assert(lim.truncated);
	ck_assert_uint_eq(lim.nlevels, DKM_CGROUP_MAX_LEVELS);
	/* the 8 kept are those with the least headroom: levels 0..7 */
	for (unsigned i = 0; i < DKM_CGROUP_MAX_LEVELS; i++) {
		unsigned found = 0;

		for (unsigned j = 0; j < lim.nlevels; j++)
			found += lim.levels[j].len == len[i];
		ck_assert_msg(found == 1, "level %u", i);
	}
}
END_TEST

START_TEST(test_path_under)
{
	ck_assert(dkm_cgroup_path_under("/a.slice", "/a.slice"));
	ck_assert(dkm_cgroup_path_under("/a.slice/x", "/a.slice"));
	ck_assert(dkm_cgroup_path_under("/a.slice/x/y", "/a.slice/"));
	ck_assert(!dkm_cgroup_path_under("/a.slicex", "/a.slice"));
	ck_assert(!dkm_cgroup_path_under("/a.slicex/y", "/a.slice"));
	ck_assert(!dkm_cgroup_path_under("/a", "/a.slice"));
	ck_assert(!dkm_cgroup_path_under("/b.slice/a.slice", "/a.slice"));
	ck_assert(dkm_cgroup_path_under("/", "/"));
	ck_assert(dkm_cgroup_path_under("/anything/at/all", "/"));
	ck_assert(!dkm_cgroup_path_under("/", "/a.slice"));
	ck_assert(dkm_cgroup_path_under("/k/pod:1/c=2", "/k/pod:1"));
	ck_assert(!dkm_cgroup_path_under("/k/pod:10", "/k/pod:1"));

	ck_assert_int_eq(dkm_cgroup_path_check("/"), 0);
	ck_assert_int_eq(dkm_cgroup_path_check("/a/b"), 0);
	ck_assert_int_eq(dkm_cgroup_path_check("/a/.b/..c"), 0);
	ck_assert_int_eq(dkm_cgroup_path_check(""), -EINVAL);
	ck_assert_int_eq(dkm_cgroup_path_check("a"), -EINVAL);
	ck_assert_int_eq(dkm_cgroup_path_check("//"), -EINVAL);
	ck_assert_int_eq(dkm_cgroup_path_check("/a/"), -EINVAL);
	ck_assert_int_eq(dkm_cgroup_path_check("/."), -EINVAL);
	ck_assert_int_eq(dkm_cgroup_path_check("/a/./b"), -EINVAL);
	ck_assert_int_eq(dkm_cgroup_path_check("/a/.."), -EINVAL);
	ck_assert_int_eq(dkm_cgroup_path_check("/.."), -EXDEV);
	ck_assert_int_eq(dkm_cgroup_path_check("/../a"), -EXDEV);
	ck_assert_int_eq(dkm_cgroup_path_check("/..a"), 0);
	ck_assert_int_eq(dkm_cgroup_path_check("/a\nb"), -EINVAL);

	ck_assert_str_eq(dkm_cgroup_version_name(DKM_CGROUP_V1), "v1");
	ck_assert_str_eq(dkm_cgroup_version_name(DKM_CGROUP_V2), "v2");
	ck_assert_str_eq(dkm_cgroup_version_name(DKM_CGROUP_NONE), "none");
}
END_TEST

/* This machine, whatever it has: the call succeeds and the cgroup exists. */
START_TEST(test_live)
{
	struct dkm_cgroup_fs fs;
	struct dkm_cgroup cg;
	struct dkm_cgroup_limits lim;
	char path[PATH_MAX + DKM_CGROUP_PATH_MAX];
	const char *where = "";
	struct stat st;
	pid_t child;
	int r, status;

	r = dkm_cgroup_fs_open(&fs, "/proc", "/sys/fs/cgroup");
	if (r == -ENOENT && stat("/sys/fs/cgroup", &st) < 0)
		return; /* no cgroup fs at all here */
	ck_assert_int_eq(r, 0);
	r = dkm_cgroup_resolve(&fs, getpid(), &cg);
	ck_assert_msg(r == 0, "resolve: %s", strerror(-r));
	if (cg.version == DKM_CGROUP_V1)
		where = "/memory";
	else if (fs.v2_fd >= 0)
		where = fs.v2_dir[0] ? "/unified" : "";
	snprintf(path, sizeof(path), "/sys/fs/cgroup%s%s", where, cg.path);
	fprintf(stderr, "live: %s cgroup %s (%s), root %d\n", dkm_cgroup_version_name(cg.version),
		cg.path, path, cg.is_root);
	if (cg.version != DKM_CGROUP_NONE || fs.v2_fd >= 0)
		ck_assert_msg(stat(path, &st) == 0 && S_ISDIR(st.st_mode), "%s: %m", path);
	r = dkm_cgroup_read_limits(&fs, &cg, DKM_CGROUP_SWAP, &lim);
	ck_assert_msg(r == 0, "limits: %s", strerror(-r));
	if (lim.at_len)
		fprintf(stderr, "live: limit %llu, usage %llu, headroom %llu at %.*s\n",
			(unsigned long long)lim.limit, (unsigned long long)lim.usage,
			(unsigned long long)lim.headroom, (int)lim.at_len, cg.path);
	else
		fprintf(stderr, "live: no memory limit on the path\n");

	/* a process that is gone */
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0)
		_exit(0);
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert_int_eq(dkm_cgroup_resolve(&fs, child, &cg), -ESRCH);
	dkm_cgroup_fs_close(&fs);
}
END_TEST

static Suite *cgroup_suite(void)
{
	Suite *s = suite_create("cgroup");
	TCase *tc = tcase_create("trees");
	TCase *live = tcase_create("live");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_v2_parent_tighter);
	tcase_add_test(tc, test_v2_unlimited);
	tcase_add_test(tc, test_v2_swap);
	tcase_add_test(tc, test_v2_root_cgroup);
	tcase_add_test(tc, test_v2_without_memory_controller);
	tcase_add_test(tc, test_v1);
	tcase_add_test(tc, test_v1_without_hierarchy);
	tcase_add_test(tc, test_hybrid);
	tcase_add_test(tc, test_garbage_files);
	tcase_add_test(tc, test_garbage_proc);
	tcase_add_test(tc, test_vanished_pid);
	tcase_add_test(tc, test_cgroup_removed);
	tcase_add_test(tc, test_long_paths);
	tcase_add_test(tc, test_odd_characters);
	tcase_add_test(tc, test_many_levels);
	suite_add_tcase(s, tc);
	tcase_add_test(live, test_path_under);
	tcase_add_test(live, test_live);
	suite_add_tcase(s, live);
	return s;
}

DKM_TEST_MAIN(cgroup_suite)
