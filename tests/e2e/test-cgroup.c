/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daxkmemd and memory cgroups, end to end, on cgroup trees built at run time:
 * the daemon reads clients' cgroups from a proc root and a cgroup-fs root of
 * the test's making (--proc-root, --cgroup-root), where the test writes
 * PID/cgroup for its own pid before each connection (the daemon reads it at
 * HELLO) and the limit and usage files of each cgroup. The kernel's charges
 * are not exercised here (test-cgroup-host.c does that on the real v1
 * hierarchy); what is: which cgroup a client is counted in, the admission
 * check and its messages (v1 and v2 names, the client's own level or an
 * ancestor, owed bytes, no double count after population), [cgroup_quota]
 * over several clients, unknown cgroups, who populates (daemon_prefault=), and
 * what a client of protocol 1.1 gets.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"
#include "test-common.h"
#include "wire.h"

#define MIB (1024ull * 1024)

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

/* Write text to top/rel, making its directories. */
static void put(const char *rel, const char *text)
{
	char path[PATH_MAX * 2], *slash;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", top, rel);
	slash = strrchr(path, '/');
	*slash = '\0';
	mkdir_p(path);
	*slash = '/';
	f = fopen(path, "w");
	ck_assert_msg(f != NULL, "%s: %m", path);
	fputs(text, f);
	fclose(f);
}

static void put_u64(const char *dir, const char *file, uint64_t v)
{
	char rel[PATH_MAX + 64], text[32];

	snprintf(rel, sizeof(rel), "%s/%s", dir, file);
	snprintf(text, sizeof(text), "%llu\n", (unsigned long long)v);
	put(rel, text);
}

/* A v2 cgroup below cg/ (no limit when max is UINT64_MAX). */
static void v2(const char *cgroup, uint64_t max, uint64_t current)
{
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "cg%s", cgroup);
	if (max == UINT64_MAX) {
		char rel[PATH_MAX + 16];

		snprintf(rel, sizeof(rel), "%s/memory.max", dir);
		put(rel, "max\n");
	} else {
		put_u64(dir, "memory.max", max);
	}
	put_u64(dir, "memory.current", current);
}

/* A v1 memory cgroup below cg/memory/. */
static void v1(const char *cgroup, uint64_t limit, uint64_t usage)
{
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "cg/memory%s", cgroup);
	put_u64(dir, "memory.limit_in_bytes", limit);
	put_u64(dir, "memory.usage_in_bytes", usage);
}

/* What /proc/PID/cgroup says for the calling process from now on (the daemon reads it at HELLO). */
static void my_cgroup_file(const char *text)
{
	char rel[64];

	snprintf(rel, sizeof(rel), "proc/%d/cgroup", (int)getpid());
	put(rel, text);
}

static void in_v2(const char *cgroup)
{
	char text[PATH_MAX];

	snprintf(text, sizeof(text), "0::%s\n", cgroup);
	my_cgroup_file(text);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void trees_setup(void)
{
	strcpy(top, "/tmp/dkm-e2e-cgroup-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(top));
	ck_assert_int_eq(chmod(top, 0755), 0);
	snprintf(proc_root, sizeof(proc_root), "%s/proc", top);
	snprintf(cg_root, sizeof(cg_root), "%s/cg", top);
	mkdir_p(proc_root);
	mkdir_p(cg_root);
}

static void trees_teardown(void)
{
	nftw(top, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A pure v2 layout with the memory controller; the root has no memory.max. */
static void v2_layout(void)
{
	put("cg/cgroup.controllers", "cpuset cpu io memory pids\n");
}

/* systemd's hybrid layout with the memory controller on v1. */
static void v1_layout(void)
{
	put("cg/unified/cgroup.controllers", "");
	put("cg/memory/memory.limit_in_bytes", "9223372036854771712\n");
	put("cg/memory/memory.usage_in_bytes", "1000000\n");
}

static void start(struct daemon *d, const char *conf)
{
	daemon_start_args(d, conf,
			  (const char *const[]){ "--proc-root", proc_root, "--cgroup-root", cg_root,
						 NULL });
}

static int alloc(struct dkm_conn *c, uint64_t size, uint32_t flags, struct dkm_region *reg,
		 int *fd)
{
	struct dkm_alloc_region req = alloc_req(DKM_KIND_KMEM, size, flags);

	return dkm_conn_alloc(c, &req, reg, fd);
}

/* ALLOC that must succeed; returns the memfd. */
static int grant(struct dkm_conn *c, uint64_t size, uint32_t flags, struct dkm_region *reg)
{
	int fd = -1, r = alloc(c, size, flags, reg, &fd);

	ck_assert_msg(r == 0, "%llu MiB: %s", (unsigned long long)(size / MIB), c->err);
	return fd;
}

/* ALLOC that must fail with err and a message that contains want. */
static void refused(struct dkm_conn *c, uint64_t size, uint32_t flags, int err, const char *want)
{
	struct dkm_region reg;
	int fd = -1, r = alloc(c, size, flags, &reg, &fd);

	ck_assert_msg(r == -err, "%llu MiB: got %d (%s), want %d", (unsigned long long)(size / MIB),
		      r, c->err, -err);
	ck_assert_msg(strstr(c->err, want), "message \"%s\" lacks \"%s\"", c->err, want);
	ck_assert_uint_lt(strlen(c->err), 256);
}

/* Write every page of a region through a mapping (a client faulting it in). */
static void touch(int fd, uint64_t size)
{
	char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	ck_assert_ptr_ne(p, MAP_FAILED);
	memset(p, 1, size);
	munmap(p, size);
}

/*
 * Run daxkmemctl ARGS on d as a process in the root cgroup of the trees: a
 * shell writes its own PID/cgroup, then becomes daxkmemctl (same pid).
 */
static void daxkmemctl(const struct daemon *d, const char *args, char *out, size_t outsize)
{
	char cmd[1024];
	const char *argv[] = { "-c", cmd, NULL };

	snprintf(cmd, sizeof(cmd), "mkdir -p %s/$$ && echo 0::/ >%s/$$/cgroup && exec %s --socket %s %s",
		 proc_root, proc_root, DAXKMEMCTL_PATH, d->sock, args);
	ck_assert_msg(run_program("/bin/sh", argv, (uid_t)-1, out, outsize, 10000) == 0, "%s", out);
}

/* The line of out that contains word (which must be there). */
static void line_of(const char *out, const char *word, char *row, size_t size)
{
	const char *w = strstr(out, word), *b, *e;

	ck_assert_msg(w != NULL, "no \"%s\" in\n%s", word, out);
	for (b = w; b > out && b[-1] != '\n'; b--)
		;
	e = strchr(w, '\n');
	snprintf(row, size, "%.*s", (int)(e ? e - b : (long)strlen(b)), b);
}

/* ---- the admission check against the cgroup ---- */

START_TEST(test_v2_own_limit)
{
	struct daemon d;
	struct dkm_conn *c;
	struct dkm_region reg;
	int fd;

	v2_layout();
	v2("/system.slice", UINT64_MAX, 500 * MIB);
	v2("/system.slice/run-u42.service", 32 * MIB, 1258291); /* 1.2 MiB */
	in_v2("/system.slice/run-u42.service");
	start(&d, NULL);
	c = client_open(&d, "confined");
	/* the case: 64 MiB pre-faulted, in a 32 MiB cgroup */
	refused(c, 64 * MIB, DKM_ALLOC_PREFAULT, EDQUOT,
		"cgroup /system.slice/run-u42.service cannot take 64.0 MiB: memory.max 32.0 MiB, "
		"memory.current 1.2 MiB, 0 B granted not yet resident: 30.8 MiB left");
	/* faulted in by the client, charged to it just the same */
	refused(c, 64 * MIB, DKM_ALLOC_NO_PREFAULT, EDQUOT, "cannot take 64.0 MiB");
	/* what fits is granted, for the client to populate */
	fd = grant(c, 16 * MIB, DKM_ALLOC_PREFAULT, &reg);
	ck_assert_uint_eq(reg.flags, DKM_REGION_CLIENT_POPULATE);
	/* granted, not resident: it counts against the room */
	refused(c, 16 * MIB, DKM_ALLOC_PREFAULT, EDQUOT,
		"memory.max 32.0 MiB, memory.current 1.2 MiB, 16.0 MiB granted not yet resident: "
		"14.8 MiB left");
	/*
	 * Populated: now it is in memory.current (written here by hand, as the
	 * kernel would count it) and no longer owed; counted once, it fits.
	 */
	{
		void *p = mmap(NULL, 16 * MIB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

		ck_assert_ptr_ne(p, MAP_FAILED);
		ck_assert_int_eq(dkm_region_populate(p, 16 * MIB, fd), 0);
		munmap(p, 16 * MIB);
	}
	v2("/system.slice/run-u42.service", 32 * MIB, 1258291 + 16 * MIB);
	close(grant(c, 14 * MIB, DKM_ALLOC_NO_PREFAULT, &reg));
	/* the refusals left nothing behind */
	ck_assert_uint_eq(status_granted(&d, 0), 30 * MIB);
	close(fd);
	dkm_conn_close(c);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_v2_ancestor)
{
	struct daemon d;
	struct dkm_conn *c, *sibling;
	struct dkm_region reg;
	int fd, fd2;

	v2_layout();
	v2("/a.slice", 100 * MIB, 90 * MIB);
	v2("/a.slice/b.service", 64 * MIB, 1 * MIB);
	v2("/a.slice/c.service", UINT64_MAX, 0);
	in_v2("/a.slice/b.service");
	start(&d, NULL);
	c = client_open(&d, "b");
	refused(c, 32 * MIB, 0, EDQUOT,
		"cgroup /a.slice/b.service cannot take 32.0 MiB: its ancestor /a.slice has memory.max "
		"100.0 MiB, memory.current 90.0 MiB, 0 B granted not yet resident: 10.0 MiB left");
	/* a sibling's grants not yet resident count at the common ancestor */
	in_v2("/a.slice/c.service");
	sibling = client_open(&d, "c");
	fd = grant(sibling, 8 * MIB, DKM_ALLOC_NO_PREFAULT, &reg);
	refused(c, 4 * MIB, 0, EDQUOT,
		"its ancestor /a.slice has memory.max 100.0 MiB, memory.current 90.0 MiB, 8.0 MiB "
		"granted not yet resident: 2.0 MiB left");
	/* the sibling faults its pages in: resident (and in the usage), not owed any more */
	touch(fd, 8 * MIB);
	v2("/a.slice", 100 * MIB, 98 * MIB);
	fd2 = grant(c, 1 * MIB, 0, &reg);
	ck_assert_uint_eq(reg.flags, DKM_REGION_CLIENT_POPULATE);
	close(fd2);
	close(fd);
	dkm_conn_close(sibling);
	dkm_conn_close(c);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_v1_names)
{
	struct daemon d;
	struct dkm_conn *c;

	v1_layout();
	v1("/batch", 48 * MIB, 8 * MIB);
	my_cgroup_file("12:pids:/batch\n4:memory:/batch\n0::/batch\n");
	start(&d, NULL);
	c = client_open(&d, "v1");
	refused(c, 64 * MIB, 0, EDQUOT,
		"cgroup /batch cannot take 64.0 MiB: memory.limit_in_bytes 48.0 MiB, "
		"memory.usage_in_bytes 8.0 MiB, 0 B granted not yet resident: 40.0 MiB left");
	dkm_conn_close(c);
	daemon_stop(&d);
}
END_TEST

/* Long paths are shortened in the middle; the figures are always whole. */
START_TEST(test_long_paths)
{
	char path[1001], text[1100];
	struct daemon d;
	struct dkm_conn *c;

	v2_layout();
	strcpy(path, "/outer.slice");
	v2(path, 16 * MIB, 0);
	/* four components of 200 characters (a name is at most 255) */
	for (int i = 0; i < 4; i++) {
		size_t n = strlen(path);

		path[n] = '/';
		memset(path + n + 1, 'x', 200);
		path[n + 201] = '\0';
	}
	strcat(path, "/leaf");
	v2(path, UINT64_MAX, 0);
	snprintf(text, sizeof(text), "0::%s\n", path);
	my_cgroup_file(text);
	start(&d, "[cgroup_quota]\n/outer.slice = 8M");
	c = client_open(&d, "long");
	refused(c, 12 * MIB, 0, EDQUOT,
		"is over its quota of 8.0 MiB: 0 B granted, 12.0 MiB asked (client in /outer.slice/x");
	ck_assert_msg(strstr(c->err, "xxx...xxx") && strstr(c->err, "xxx/leaf)") &&
			      c->err[strlen(c->err) - 1] == ')',
		      "%s", c->err);
	dkm_conn_close(c);
	daemon_stop(&d);

	start(&d, NULL);
	c = client_open(&d, "long");
	refused(c, 32 * MIB, 0, EDQUOT,
		"has memory.max 16.0 MiB, memory.current 0 B, 0 B granted not yet resident: 16.0 MiB "
		"left");
	ck_assert_msg(!strncmp(c->err, "cgroup /outer.slice/xx", 22) && strstr(c->err, "/leaf cannot"),
		      "%s", c->err);
	dkm_conn_close(c);
	daemon_stop(&d);
}
END_TEST

/* ---- who populates ---- */

START_TEST(test_who_populates)
{
	struct daemon d;
	struct dkm_conn *c;
	struct dkm_region reg;
	struct stat st;
	int fd;

	v2_layout();
	v2("/user.slice", 32 * MIB, 0);
	in_v2("/user.slice");
	/* always: the daemon, for a confined client too, outside its cgroup (no check) */
	start(&d, "daemon_prefault = always");
	c = client_open(&d, "always");
	fd = grant(c, 64 * MIB, 0, &reg);
	ck_assert_uint_eq(reg.flags, DKM_ALLOC_PREFAULT);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_uint_eq((uint64_t)st.st_blocks * 512, 64 * MIB);
	close(fd);
	/* what the client faults in is still charged to it: checked */
	refused(c, 64 * MIB, DKM_ALLOC_NO_PREFAULT, EDQUOT, "cgroup /user.slice cannot take 64.0 MiB");
	dkm_conn_close(c);
	daemon_stop(&d);

	/* root-only (the default): not for this client; for one in the root cgroup */
	start(&d, NULL);
	c = client_open(&d, "confined");
	fd = grant(c, 8 * MIB, 0, &reg);
	ck_assert_uint_eq(reg.flags, DKM_REGION_CLIENT_POPULATE);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_uint_eq(st.st_blocks, 0);
	close(fd);
	dkm_conn_close(c);
	in_v2("/");
	c = client_open(&d, "root");
	fd = grant(c, 64 * MIB, 0, &reg);
	ck_assert_uint_eq(reg.flags, DKM_ALLOC_PREFAULT);
	close(fd);
	/* NO_PREFAULT is still nobody's */
	fd = grant(c, 8 * MIB, DKM_ALLOC_NO_PREFAULT, &reg);
	ck_assert_uint_eq(reg.flags, 0);
	close(fd);
	dkm_conn_close(c);
	daemon_stop(&d);

	/* never: the client, in the root cgroup too */
	start(&d, "daemon_prefault = never");
	c = client_open(&d, "root");
	fd = grant(c, 8 * MIB, DKM_ALLOC_PREFAULT, &reg);
	ck_assert_uint_eq(reg.flags, DKM_REGION_CLIENT_POPULATE);
	close(fd);
	dkm_conn_close(c);
	daemon_stop(&d);
}
END_TEST

/* No memory controller anywhere: nothing limits the client, the daemon populates (root-only). */
START_TEST(test_no_memory_controller)
{
	struct daemon d;
	struct dkm_conn *c;
	struct dkm_region reg;
	struct dkm_msg m;
	struct dkm_client_cgroup g;
	const char *path;

	put("cg/cgroup.controllers", "cpu io pids\n");
	in_v2("/system.slice/x.service");
	start(&d, NULL);
	c = client_open(&d, "nomemcg");
	close(grant(c, 8 * MIB, 0, &reg));
	ck_assert_uint_eq(reg.flags, DKM_ALLOC_PREFAULT);
	ck_assert_int_eq(dkm_conn_status(c, &m), 0);
	ck_assert(dkm_status_self(&m, &g, &path));
	ck_assert_uint_eq(g.version, DKM_WIRE_CGROUP_NONE);
	ck_assert_uint_eq(g.flags, DKM_CLIENT_CG_KNOWN | DKM_CLIENT_CG_ROOT |
					   DKM_CLIENT_CG_DAEMON_POPULATES);
	ck_assert_str_eq(path, "/system.slice/x.service");
	ck_assert_uint_eq(g.daemon_charged, 8 * MIB);
	dkm_msg_clear(&m);
	dkm_conn_close(c);
	daemon_stop(&d);
}
END_TEST

/* ---- [cgroup_quota] ---- */

START_TEST(test_cgroup_quota)
{
	struct daemon d;
	struct dkm_conn *a1, *a2, *b, *x;
	struct dkm_region reg, held;
	int fd;

	v2_layout();
	v2("/kubepods.slice", UINT64_MAX, 0);
	v2("/kubepods.slice/pod1.slice", UINT64_MAX, 0);
	v2("/kubepods.slice/pod2.slice", UINT64_MAX, 0);
	v2("/kubepods.slicex", UINT64_MAX, 0);
	in_v2("/kubepods.slice/pod1.slice");
	start(&d, "[cgroup_quota]\n/kubepods.slice = 64M\n/kubepods.slice/pod1.slice = 16M\n");
	/* two clients in one cgroup (a container's processes share a uid, and so do these) */
	a1 = client_open(&d, "pod1-a");
	a2 = client_open(&d, "pod1-b");
	fd = grant(a1, 12 * MIB, DKM_ALLOC_NO_PREFAULT, &held);
	close(fd);
	refused(a2, 8 * MIB, DKM_ALLOC_NO_PREFAULT, EDQUOT,
		"cgroup /kubepods.slice/pod1.slice is over its quota of 16.0 MiB: 12.0 MiB granted, "
		"8.0 MiB asked");
	ck_assert_msg(!strstr(a2->err, "client in"), "%s", a2->err);
	close(grant(a2, 4 * MIB, DKM_ALLOC_NO_PREFAULT, &reg));
	/* a pod below the slice: its own line does not apply, the slice's does, for both together */
	in_v2("/kubepods.slice/pod2.slice");
	b = client_open(&d, "pod2");
	close(grant(b, 40 * MIB, DKM_ALLOC_NO_PREFAULT, &reg));
	refused(b, 16 * MIB, DKM_ALLOC_NO_PREFAULT, EDQUOT,
		"cgroup /kubepods.slice is over its quota of 64.0 MiB: 56.0 MiB granted, 16.0 MiB "
		"asked (client in /kubepods.slice/pod2.slice)");
	/* covered component by component: /kubepods.slicex is not below /kubepods.slice */
	in_v2("/kubepods.slicex");
	x = client_open(&d, "other");
	close(grant(x, 32 * MIB, DKM_ALLOC_NO_PREFAULT, &reg));
	/* a release makes room */
	ck_assert_int_eq(dkm_conn_release(a1, held.id), 0);
	close(grant(b, 8 * MIB, DKM_ALLOC_NO_PREFAULT, &reg));
	/* the pod's line applies to a1 again: 4 MiB of 16 held by a2 */
	close(grant(a1, 12 * MIB, DKM_ALLOC_NO_PREFAULT, &reg));
	/* both lines are full now; the first in the file answers */
	refused(a1, 4096, DKM_ALLOC_NO_PREFAULT, EDQUOT,
		"cgroup /kubepods.slice is over its quota of 64.0 MiB: 64.0 MiB granted, 4 KiB asked "
		"(client in /kubepods.slice/pod1.slice)");
	dkm_conn_close(x);
	dkm_conn_close(b);
	dkm_conn_close(a2);
	dkm_conn_close(a1);
	daemon_stop(&d);
}
END_TEST

/* ---- clients whose cgroup cannot be read ---- */

START_TEST(test_unknown_cgroup)
{
	struct daemon d;
	struct dkm_conn *c;
	struct dkm_region reg;
	struct dkm_msg m;
	struct dkm_client_cgroup g;
	const char *path;
	char err[512];
	int fd;

	v2_layout();
	v2("/small.slice", 4 * MIB, 0);
	my_cgroup_file("garbage\n");
	/* with [cgroup_quota] lines: refused at HELLO */
	start(&d, "[cgroup_quota]\n/kubepods.slice = 1G");
	c = NULL;
	ck_assert_int_eq(dkm_conn_open(d.sock, "unknown", &c, err, sizeof(err)), -EACCES);
	ck_assert_msg(strstr(err, "cannot read the memory cgroup of pid ") &&
			      strstr(err, ": Invalid argument"),
		      "%s", err);
	daemon_stop(&d);

	/* without: served, never populated by the daemon, not checked, shown as unknown */
	start(&d, "daemon_prefault = always");
	c = client_open(&d, "unknown");
	fd = grant(c, 8 * MIB, 0, &reg);
	ck_assert_uint_eq(reg.flags, DKM_REGION_CLIENT_POPULATE);
	close(fd);
	ck_assert_int_eq(dkm_conn_status(c, &m), 0);
	ck_assert(dkm_status_self(&m, &g, &path));
	ck_assert_uint_eq(g.flags, 0);
	ck_assert_int_eq(g.error, EINVAL);
	ck_assert_str_eq(path, "");
	ck_assert_uint_eq(g.owed, 8 * MIB);
	dkm_msg_clear(&m);
	/* a reload that adds [cgroup_quota]: its requests are refused from then on */
	{
		FILE *f = fopen(d.conf, "a");

		fputs("[cgroup_quota]\n/kubepods.slice = 1G\n", f);
		fclose(f);
	}
	kill(d.pid, SIGHUP);
	ck_assert_ptr_nonnull(daemon_wait_notify(&d, "READY=1", 10000));
	refused(c, 8 * MIB, 0, EACCES, "cannot read the memory cgroup of pid");
	dkm_conn_close(c);
	daemon_stop(&d);
}
END_TEST

/* A process that is gone when its HELLO is read (no PID directory): dropped. */
START_TEST(test_gone_at_hello)
{
	struct daemon d;
	struct dkm_conn *c = NULL;
	char err[512];

	v2_layout();
	start(&d, NULL);
	ck_assert_int_lt(dkm_conn_open(d.sock, "ghost", &c, err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, "closed the connection") || strstr(err, "reset"), "%s", err);
	in_v2("/");
	c = client_open(&d, "alive");
	dkm_conn_close(c);
	daemon_stop(&d);
}
END_TEST

/* ---- what CLIENTS and STATUS say ---- */

START_TEST(test_clients_records)
{
	struct daemon d;
	struct dkm_conn *c1, *c2, *admin;
	struct dkm_region reg;
	struct dkm_msg m;
	struct dkm_clients hdr;
	bool seen1 = false, seen2 = false;
	char out[16384];

	v2_layout();
	v2("/a.slice", 100 * MIB, 10 * MIB);
	v2("/a.slice/b.service", UINT64_MAX, 5 * MIB);
	put("cg/a.slice/memory.swap.max", "0\n");
	put("cg/a.slice/memory.swap.current", "0\n");
	put("cg/a.slice/b.service/memory.swap.max", "max\n");
	put("cg/a.slice/b.service/memory.swap.current", "0\n");
	in_v2("/a.slice/b.service");
	start(&d, NULL);
	c1 = client_open(&d, "one");
	close(grant(c1, 4 * MIB, DKM_ALLOC_NO_PREFAULT, &reg));
	in_v2("/");
	c2 = client_open(&d, "two");
	close(grant(c2, 2 * MIB, 0, &reg));
	admin = client_open(&d, "admin");
	ck_assert_int_eq(dkm_conn_clients(admin, &m), 0);
	memcpy(&hdr, m.payload, sizeof(hdr));
	ck_assert_uint_eq(hdr.flags, DKM_CLIENTS_CGROUPS);
	ck_assert_uint_eq(hdr.n, 3);
	for (unsigned i = 0; i < hdr.n; i++) {
		struct dkm_client_entry e;
		struct dkm_client_cgroup g;
		const char *path;

		memcpy(&e, (char *)m.payload + sizeof(hdr) + i * sizeof(e), sizeof(e));
		ck_assert(dkm_clients_cgroup(&m, i, &g, &path));
		if (!strcmp(e.name, "one")) {
			seen1 = true;
			ck_assert_str_eq(path, "/a.slice/b.service");
			ck_assert_uint_eq(g.version, DKM_WIRE_CGROUP_V2);
			ck_assert_uint_eq(g.flags, DKM_CLIENT_CG_KNOWN);
			ck_assert_uint_eq(g.limit, 100 * MIB);
			ck_assert_uint_eq(g.usage, 10 * MIB);
			ck_assert_uint_eq(g.limit_at, strlen("/a.slice"));
			ck_assert_uint_eq(g.swap_limit, 0);
			ck_assert_uint_eq(g.swap_at, strlen("/a.slice"));
			ck_assert_uint_eq(g.daemon_charged, 0);
			ck_assert_uint_eq(g.owed, 4 * MIB);
		} else if (!strcmp(e.name, "two")) {
			seen2 = true;
			ck_assert_str_eq(path, "/");
			ck_assert_uint_eq(g.flags, DKM_CLIENT_CG_KNOWN | DKM_CLIENT_CG_ROOT |
							   DKM_CLIENT_CG_DAEMON_POPULATES);
			ck_assert_uint_eq(g.limit, UINT64_MAX);
			ck_assert_uint_eq(g.daemon_charged, 2 * MIB);
			ck_assert_uint_eq(g.owed, 0);
		}
	}
	ck_assert(seen1 && seen2);
	dkm_msg_clear(&m);
	{
		char row[512];

		daxkmemctl(&d, "clients", out, sizeof(out));
		line_of(out, " one ", row, sizeof(row));
		ck_assert_msg(strstr(row, " client ") && strstr(row, " /a.slice/b.service ") &&
				      strstr(row, " 100.0 MiB (/a.slice) ") && strstr(row, " 10.0 MiB"),
			      "%s", out);
		line_of(out, " two ", row, sizeof(row));
		ck_assert_msg(strstr(row, " daemon ") && strstr(row, " / "), "%s", out);
	}
	{
		daxkmemctl(&d, "clients --json", out, sizeof(out));
		ck_assert_msg(strstr(out, "\"limit_cgroup\": \"/a.slice\"") &&
				      strstr(out, "\"swap_limit\": 0") &&
				      strstr(out, "\"charged_to\": \"daemon\"") &&
				      strstr(out, "\"version\": \"v2\""),
			      "%s", out);
	}
	dkm_conn_close(admin);
	dkm_conn_close(c2);
	dkm_conn_close(c1);
	daemon_stop(&d);
}
END_TEST

/* ---- a client of protocol 1.1 ---- */

static int raw_hello(const struct daemon *d, uint16_t minor, struct dkm_rx *rx)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct dkm_hello h = { .major = DKM_PROTO_MAJOR, .minor = minor };
	struct dkm_hello_reply rep;
	struct dkm_msg m;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	strcpy(sa.sun_path, d->sock);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	strcpy(h.name, "old");
	dkm_rx_init(rx);
	ck_assert_int_eq(dkm_wire_call(fd, rx, DKM_MSG_HELLO, 1, &h, sizeof(h), DKM_MSG_HELLO_REPLY,
				       &m, 5000), 0);
	memcpy(&rep, m.payload, sizeof(rep));
	ck_assert_uint_eq(rep.minor, DKM_PROTO_MINOR);
	dkm_msg_clear(&m);
	return fd;
}

START_TEST(test_minor1_client)
{
	struct daemon d;
	struct dkm_rx rx;
	struct dkm_msg m;
	struct dkm_region reg;
	struct dkm_alloc_region req = alloc_req(DKM_KIND_KMEM, 8 * MIB, DKM_ALLOC_PREFAULT);
	struct dkm_status st;
	struct dkm_clients hdr;
	int fd;

	v2_layout();
	v2("/old.slice", UINT64_MAX, 0);
	in_v2("/old.slice");
	start(&d, NULL);
	fd = raw_hello(&d, 1, &rx);
	/* a region the client should populate: a 1.1 client is not told (it faults it in) */
	ck_assert_int_eq(dkm_wire_call(fd, &rx, DKM_MSG_ALLOC_REGION, 2, &req, sizeof(req),
				       DKM_MSG_REGION, &m, 5000), 0);
	memcpy(&reg, m.payload, sizeof(reg));
	ck_assert_uint_eq(reg.flags, 0);
	dkm_msg_clear(&m);
	/* STATUS and CLIENTS in the 1.1 layout: no flags, exact 1.1 sizes */
	ck_assert_int_eq(dkm_wire_call(fd, &rx, DKM_MSG_STATUS, 3, NULL, 0, DKM_MSG_STATUS_REPLY, &m,
				       5000), 0);
	memcpy(&st, m.payload, sizeof(st));
	ck_assert_uint_eq(st.flags, 0);
	ck_assert_uint_eq(m.hdr.payload_len, sizeof(st) + st.nnodes * sizeof(struct dkm_status_node) +
						     st.nnodes * st.nnodes);
	dkm_msg_clear(&m);
	ck_assert_int_eq(dkm_wire_call(fd, &rx, DKM_MSG_CLIENTS, 4, NULL, 0, DKM_MSG_CLIENTS_REPLY,
				       &m, 5000), 0);
	memcpy(&hdr, m.payload, sizeof(hdr));
	ck_assert_uint_eq(hdr.flags, 0);
	ck_assert_uint_eq(hdr.n, 1);
	ck_assert_uint_eq(m.hdr.payload_len, sizeof(hdr) + sizeof(struct dkm_client_entry));
	dkm_msg_clear(&m);
	dkm_rx_clear(&rx);
	close(fd);

	/* the same through a 1.2 client */
	fd = raw_hello(&d, 2, &rx);
	ck_assert_int_eq(dkm_wire_call(fd, &rx, DKM_MSG_ALLOC_REGION, 2, &req, sizeof(req),
				       DKM_MSG_REGION, &m, 5000), 0);
	memcpy(&reg, m.payload, sizeof(reg));
	ck_assert_uint_eq(reg.flags, DKM_REGION_CLIENT_POPULATE);
	dkm_msg_clear(&m);
	ck_assert_int_eq(dkm_wire_call(fd, &rx, DKM_MSG_CLIENTS, 3, NULL, 0, DKM_MSG_CLIENTS_REPLY,
				       &m, 5000), 0);
	memcpy(&hdr, m.payload, sizeof(hdr));
	ck_assert_uint_eq(hdr.flags, DKM_CLIENTS_CGROUPS);
	dkm_msg_clear(&m);
	dkm_rx_clear(&rx);
	close(fd);
	daemon_stop(&d);
}
END_TEST

static Suite *cgroup_suite(void)
{
	Suite *s = suite_create("cgroup-e2e");
	TCase *tc = tcase_create("e2e");

	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, trees_setup, trees_teardown);
	tcase_add_test(tc, test_v2_own_limit);
	tcase_add_test(tc, test_v2_ancestor);
	tcase_add_test(tc, test_v1_names);
	tcase_add_test(tc, test_long_paths);
	tcase_add_test(tc, test_who_populates);
	tcase_add_test(tc, test_no_memory_controller);
	tcase_add_test(tc, test_cgroup_quota);
	tcase_add_test(tc, test_unknown_cgroup);
	tcase_add_test(tc, test_gone_at_hello);
	tcase_add_test(tc, test_clients_records);
	tcase_add_test(tc, test_minor1_client);
	suite_add_tcase(s, tc);
	return s;
}

DKM_TEST_MAIN(cgroup_suite)
