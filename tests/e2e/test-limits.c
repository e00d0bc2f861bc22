/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daxkmemd end to end: admission and the limits of daxkmemd.conf(5), each
 * tested where it starts to refuse, and the refusals of the placement
 * (a tie for KMEM_PREFERRED, no kmem node) through the daemon.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "test-common.h"
#include "topology.h"
#include "util/format.h"

#define MIB (1024ull * 1024)
#define NOBODY 65534

static uint64_t page;

/*
 * No refresh where the test is not about it: the daemon does only what the
 * test asks (slow runs, valgrind).
 */
#define QUIET "refresh_interval_ms = 3600000\n"

/* ---- a second uid: a client of nobody in a child process ---- */

struct other {
	pid_t pid;
	int results; /* the child's results, one int each */
	int go;      /* closed: the child exits, dropping its connection */
};

/*
 * The child connects (first result: 0 or the errno) and asks for a region of
 * each size in turn, without prefault (one result each: 0 or the errno); then
 * it holds what it got until other_stop.
 */
static void other_start(struct other *o, const struct daemon *d, const uint64_t *sizes, unsigned n)
{
	int res[2], go[2];

	ck_assert_int_eq(pipe2(res, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(go, O_CLOEXEC), 0);
	o->pid = fork_as(NOBODY);
	if (o->pid == 0) {
		struct dkm_conn *c = NULL;
		char err[256], b;
		int r = dkm_conn_open(d->sock, "nobody", &c, err, sizeof(err)), v = -r;

		close(res[0]);
		close(go[1]);
		if (write(res[1], &v, sizeof(v)) != sizeof(v))
			_exit(1);
		for (unsigned i = 0; r == 0 && i < n; i++) {
			struct dkm_alloc_region req = { .kind = DKM_KIND_KMEM, .size = sizes[i],
							.flags = DKM_ALLOC_NO_PREFAULT };
			struct dkm_region reg;
			unsigned cpu, node;
			int fd = -1;

			if (getcpu(&cpu, &node) < 0)
				_exit(1);
			req.cpu_node = (int32_t)node;
			v = -dkm_conn_alloc(c, &req, &reg, &fd);
			if (write(res[1], &v, sizeof(v)) != sizeof(v))
				_exit(1);
		}
		if (read(go[0], &b, 1) < 0)
			_exit(1);
		_exit(0);
	}
	close(res[1]);
	close(go[0]);
	o->results = res[0];
	o->go = go[1];
}

static int other_result(struct other *o)
{
	int v = -1;

	ck_assert_int_eq(read(o->results, &v, sizeof(v)), (ssize_t)sizeof(v));
	return v;
}

static void other_stop(struct other *o)
{
	int status;

	close(o->go);
	ck_assert_int_eq(waitpid(o->pid, &status, 0), o->pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x", status);
	close(o->results);
}

static int alloc_kind(struct dkm_conn *c, uint32_t kind, uint64_t size, struct dkm_region *reg)
{
	struct dkm_alloc_region req = alloc_req(kind, size, DKM_ALLOC_NO_PREFAULT);
	int fd = -1, r = dkm_conn_alloc(c, &req, reg, &fd);

	if (fd >= 0)
		close(fd);
	return r;
}

/* ---- a sysfs tree of the test's own: node 0 of this machine, with a MemFree it chooses ---- */

static void make_tree(char *root, size_t size, uint64_t free_kb)
{
	char cpus[256] = "0", text[256];
	FILE *f = fopen("/sys/devices/system/node/node0/cpulist", "r");

	if (f) {
		if (!fgets(cpus, sizeof(cpus), f))
			strcpy(cpus, "0\n");
		fclose(f);
	}
	snprintf(root, size, "/tmp/dkm-tree-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(root));
	tree_write(root, "devices/system/node/online", "0\n");
	tree_write(root, "devices/system/node/node0/cpulist", cpus);
	tree_write(root, "devices/system/node/node0/distance", "10\n");
	snprintf(text, sizeof(text), "Node 0 MemTotal:       %llu kB\nNode 0 MemFree:        %llu kB\n",
		 (unsigned long long)free_kb * 2, (unsigned long long)free_kb);
	tree_write(root, "devices/system/node/node0/meminfo", text);
}

static void remove_tree(const char *root)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	ck_assert_int_eq(system(cmd), 0);
}

static uint64_t high_wmark_node0(void)
{
	uint64_t pages[64];

	ck_assert_int_eq(dkm_read_high_watermarks("/proc/zoneinfo", pages, 64), 0);
	return pages[0] * page;
}

/*
 * Free memory is the tree's (exact); the high watermark is node 0's from
 * /proc/zoneinfo, which the daemon reads at start (no refresh here). Admission
 * is checked one page either side of free - watermark - reserve: a daemon
 * leaving out the reserve or the watermark (at least a page: node 0 has a
 * DMA32 or normal zone) grants one page too many.
 */
START_TEST(test_capacity_boundary)
{
	static const uint32_t kinds[] = { DKM_KIND_KMEM, DKM_KIND_KMEM_ALL, DKM_KIND_KMEM_PREFERRED };
	const uint64_t free_b = 4096 * MIB, reserve = 32 * MIB;
	struct daemon d;
	struct dkm_conn *c;
	struct dkm_region reg, reg2;
	char root[64], args_root[80], msg[256];
	uint64_t wm = 0, avail;

	make_tree(root, sizeof(root), free_b / 1024);
	snprintf(args_root, sizeof(args_root), "%s", root);
	for (int attempt = 0;; attempt++) {
		uint64_t before = high_wmark_node0();

		daemon_start_opts(&d, &(struct daemon_opts){
			.conf = "kmem_nodes = 0\nsocket_group =\nreserve = 32M\n"
				"refresh_interval_ms = 3600000",
			.args = (const char *const[]){ "--sysfs-root", args_root, NULL } });
		wm = high_wmark_node0();
		if (wm == before)
			break;
		/* the kernel boosted the watermark meanwhile: which did the daemon read? */
		ck_assert_int_lt(attempt, 5);
		daemon_stop(&d);
	}
	ck_assert_uint_ge(wm, page);
	avail = free_b - wm - reserve;
	c = client_open(&d, "boundary");
	for (unsigned k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		ck_assert_int_eq(alloc_kind(c, kinds[k], avail + page, &reg), -ENOSPC);
		if (kinds[k] == DKM_KIND_KMEM)
			ck_assert_msg(strstr(c->err, "KMEM: node 0 cannot take") &&
					      strstr(c->err, "4.0 GiB free, less ") &&
					      strstr(c->err, " high watermark, 32.0 MiB reserve and 0 B "
							     "granted but not yet resident"),
				      "%s", c->err);
		else
			ck_assert_msg(strstr(c->err, ": no room for ") && strstr(c->err, "on node 0"),
				      "%s", c->err);
		ck_assert_msg(alloc_kind(c, kinds[k], avail, &reg) == 0, "kind %u, %llu bytes: %s",
			      kinds[k], (unsigned long long)avail, c->err);
		ck_assert_uint_eq(reg.size, avail);
		ck_assert_int_eq(dkm_conn_release(c, reg.id), 0);
	}
	ck_assert_int_eq(alloc_kind(c, DKM_KIND_KMEM, avail - page, &reg), 0);
	ck_assert_int_eq(dkm_conn_release(c, reg.id), 0);

	/* grants not yet resident count against the node, to the page */
	ck_assert_int_eq(alloc_kind(c, DKM_KIND_KMEM, avail - 64 * MIB, &reg), 0);
	ck_assert_int_eq(alloc_kind(c, DKM_KIND_KMEM, 64 * MIB + page, &reg2), -ENOSPC);
	snprintf(msg, sizeof(msg), "32.0 MiB reserve and %s granted but not yet resident",
		 dkm_format_bytes(avail - 64 * MIB, (char[32]){ 0 }, 32));
	ck_assert_msg(strstr(c->err, msg), "%s", c->err);
	ck_assert_int_eq(alloc_kind(c, DKM_KIND_KMEM, 64 * MIB, &reg2), 0);
	ck_assert_uint_eq(status_granted(&d, 0), avail);
	ck_assert_int_eq(dkm_conn_release(c, reg.id), 0);
	ck_assert_int_eq(dkm_conn_release(c, reg2.id), 0);
	dkm_conn_close(c);
	daemon_stop(&d);
	remove_tree(root);
}
END_TEST

/* Placement refusals reach the client: admission happens before any mbind, so fixtures whose
 * nodes this machine lacks serve. */
START_TEST(test_placement_refusals)
{
	static const char *const kind_names[] = { "KMEM", "KMEM_ALL", "KMEM_PREFERRED" };
	static const uint32_t kinds[] = { DKM_KIND_KMEM, DKM_KIND_KMEM_ALL, DKM_KIND_KMEM_PREFERRED };
	struct daemon d;
	struct dkm_conn *c;
	struct dkm_region reg;
	char want[256];

	/* kmem nodes 1 and 2 at distance 17 from CPU node 0 */
	daemon_start_opts(&d, &(struct daemon_opts){
		.conf = QUIET "socket_group =",
		.args = (const char *const[]){ "--sysfs-root", FIXTURE("tie"), NULL } });
	c = client_open(&d, "tie");
	ck_assert_int_eq(alloc_kind(c, DKM_KIND_KMEM_PREFERRED, 4 * MIB, &reg), -EINVAL);
	ck_assert_str_eq(c->err, "KMEM_PREFERRED is not possible for CPU node 0: kmem nodes 1,2 are "
				 "equally close (distance 17); it needs one closest kmem node");
	ck_assert_uint_eq(status_granted(&d, -1), 0);
	dkm_conn_close(c);
	daemon_stop(&d);

	/* no node is kmem: no dax device in system-ram mode, no kmem_nodes= */
	daemon_start_opts(&d, &(struct daemon_opts){
		.conf = QUIET "socket_group =",
		.args = (const char *const[]){ "--sysfs-root", FIXTURE("no-kmem"), NULL } });
	c = client_open(&d, "no-kmem");
	for (unsigned k = 0; k < 3; k++) {
		ck_assert_int_eq(alloc_kind(c, kinds[k], 4 * MIB, &reg), -ENODEV);
		snprintf(want, sizeof(want), "%s: no KMEM node: no dax device is in system-ram mode "
			 "(kmem_nodes= names nodes to use instead)", kind_names[k]);
		ck_assert_str_eq(c->err, want);
	}
	dkm_conn_close(c);
	daemon_stop(&d);
}
END_TEST

/* max_clients counts every uid's connections: the third, of another uid, is refused too. */
START_TEST(test_max_clients)
{
	struct daemon d;
	struct dkm_conn *c1, *c2, *c3 = NULL;
	struct other o;
	char err[256];

	daemon_start(&d, QUIET "socket_mode = 0666\nmax_clients = 2");
	c1 = client_open(&d, "one");
	c2 = client_open(&d, "two");
	other_start(&o, &d, NULL, 0);
	ck_assert_int_eq(other_result(&o), EUSERS);
	other_stop(&o);
	ck_assert_int_eq(dkm_conn_open(d.sock, "three", &c3, err, sizeof(err)), -EUSERS);
	ck_assert_msg(strstr(err, ": too many clients (max_clients=2)"), "%s", err);
	ck_assert(daemon_wait_log(&d, "refused: too many clients (max_clients=2)", 2, 5000));
	/* once one goes, another may come */
	dkm_conn_close(c2);
	for (int i = 0; i < 500; i++) {
		if (dkm_conn_open(d.sock, "three", &c3, err, sizeof(err)) == 0)
			break;
		c3 = NULL;
		poll(NULL, 0, 10);
	}
	ck_assert_ptr_nonnull(c3);
	dkm_conn_close(c3);
	dkm_conn_close(c1);
	daemon_stop(&d);
}
END_TEST

/* max_regions_per_uid over all connections of a uid, apart from other uids'. */
START_TEST(test_max_regions_per_uid)
{
	static const uint64_t sizes[] = { 1 * MIB, 1 * MIB, 1 * MIB, 1 * MIB };
	struct daemon d;
	struct dkm_conn *c1, *c2;
	struct dkm_region r1, r2, r3, r4;
	struct other o;

	daemon_start(&d, QUIET "socket_mode = 0666\nmax_regions_per_uid = 3");
	c1 = client_open(&d, "one");
	c2 = client_open(&d, "two");
	ck_assert_int_eq(alloc_kind(c1, DKM_KIND_KMEM, 1 * MIB, &r1), 0);
	ck_assert_int_eq(alloc_kind(c1, DKM_KIND_KMEM, 1 * MIB, &r2), 0);
	ck_assert_int_eq(alloc_kind(c2, DKM_KIND_KMEM, 1 * MIB, &r3), 0);
	ck_assert_int_eq(alloc_kind(c2, DKM_KIND_KMEM, 1 * MIB, &r4), -EMFILE);
	ck_assert_str_eq(c2->err, "uid 0 holds 3 regions (max_regions_per_uid=3)");
	/* nobody's regions are counted apart: three, and the fourth refused */
	other_start(&o, &d, sizes, 4);
	ck_assert_int_eq(other_result(&o), 0);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(other_result(&o), 0);
	ck_assert_int_eq(other_result(&o), EMFILE);
	ck_assert_uint_eq(status_granted(&d, 0), 6 * MIB);
	other_stop(&o);
	/* a region released makes room again */
	ck_assert_int_eq(dkm_conn_release(c1, r1.id), 0);
	ck_assert_int_eq(alloc_kind(c2, DKM_KIND_KMEM, 1 * MIB, &r4), 0);
	ck_assert_int_eq(alloc_kind(c2, DKM_KIND_KMEM, 1 * MIB, &r1), -EMFILE);
	dkm_conn_close(c1);
	dkm_conn_close(c2);
	daemon_stop(&d);
}
END_TEST

/*
 * The daemon holds at most its descriptor limit less room for max_clients
 * (server.c: limit - max_clients - 64 when the limit exceeds max_clients +
 * 128): 200 - 10 - 64 = 126 regions, then ENFILE, well before it would run
 * out of descriptors (EMFILE from memfd_create).
 */
START_TEST(test_descriptor_limit)
{
	const char *wrapper = getenv("DKM_TEST_WRAPPER");
	struct daemon d;
	struct dkm_conn *c, *c2;
	struct dkm_region reg, first = { 0 };
	int n = 0, r;

	daemon_start_opts(&d, &(struct daemon_opts){ .extra_conf = QUIET "max_clients = 10",
						      .nofile = 200 });
	c = client_open(&d, "fds");
	for (;;) {
		r = alloc_kind(c, DKM_KIND_KMEM, page, &reg);
		if (r < 0)
			break;
		if (n++ == 0)
			first = reg;
		ck_assert_int_lt(n, 200);
	}
	ck_assert_msg(r == -ENFILE, "after %d regions: %s", n, c->err);
	if (wrapper && *wrapper)
		/* valgrind keeps a few descriptors of the limit for itself */
		ck_assert_msg(n >= 100 && n <= 126, "%d regions", n);
	else
		ck_assert_int_eq(n, 126);
	{
		char want[128];

		snprintf(want, sizeof(want), "the daemon holds %d regions, as many as its descriptor "
			 "limit allows", n);
		ck_assert_str_eq(c->err, want);
	}
	/* connections still have room, and a region released makes room for another */
	c2 = client_open(&d, "second");
	ck_assert_int_eq(alloc_kind(c2, DKM_KIND_KMEM, page, &reg), -ENFILE);
	ck_assert_int_eq(dkm_conn_release(c, first.id), 0);
	ck_assert_int_eq(alloc_kind(c2, DKM_KIND_KMEM, page, &reg), 0);
	dkm_conn_close(c2);
	dkm_conn_close(c);
	daemon_stop(&d);
}
END_TEST

/* The quota: given back on release, and each uid's own. */
START_TEST(test_quota_release_and_uids)
{
	static const uint64_t sizes[] = { 8 * MIB, 4 * MIB };
	struct daemon d;
	struct dkm_conn *c;
	struct dkm_region reg, reg2;
	struct other o;

	daemon_start(&d, QUIET "socket_mode = 0666\nquota = 10M");
	c = client_open(&d, "quota");
	ck_assert_int_eq(alloc_kind(c, DKM_KIND_KMEM, 8 * MIB, &reg), 0);
	ck_assert_int_eq(alloc_kind(c, DKM_KIND_KMEM, 4 * MIB, &reg2), -EDQUOT);
	/* root's 8 MiB do not count against nobody */
	other_start(&o, &d, sizes, 2);
	ck_assert_int_eq(other_result(&o), 0);
	ck_assert_int_eq(other_result(&o), 0);
	ck_assert_int_eq(other_result(&o), EDQUOT);
	ck_assert(daemon_wait_log(&d, "uid 65534 is over its quota of 10.0 MiB: 8.0 MiB granted, "
				      "4.0 MiB asked", 1, 5000));
	ck_assert_uint_eq(status_granted(&d, 0), 16 * MIB);
	/* nor nobody's against root: root is still at 8 of 10 */
	ck_assert_int_eq(alloc_kind(c, DKM_KIND_KMEM, 2 * MIB, &reg2), 0);
	ck_assert_int_eq(dkm_conn_release(c, reg2.id), 0);
	other_stop(&o);
	/* what is released is given back: the quota allows it again, to the byte */
	ck_assert_int_eq(dkm_conn_release(c, reg.id), 0);
	ck_assert_int_eq(alloc_kind(c, DKM_KIND_KMEM, 10 * MIB, &reg), 0);
	ck_assert_int_eq(alloc_kind(c, DKM_KIND_KMEM, page, &reg2), -EDQUOT);
	ck_assert_int_eq(dkm_conn_release(c, reg.id), 0);
	dkm_conn_close(c);
	daemon_stop(&d);
}
END_TEST

/* admin_group may list the clients; reconfiguring stays root's (the live /sys: it would go on). */
START_TEST(test_admin_group)
{
	struct daemon d;
	struct dkm_conn *c;
	struct dkm_region reg;
	char out[8192];

	daemon_start(&d, QUIET "socket_mode = 0666\nadmin_group = 65534");
	c = client_open(&d, "holder");
	ck_assert_int_eq(alloc_kind(c, DKM_KIND_KMEM, 2 * MIB, &reg), 0);
	{
		const char *args[] = { "--socket", d.sock, "clients", NULL };

		ck_assert_int_eq(run_program(DAXKMEMCTL_PATH, args, NOBODY, out, sizeof(out), 10000), 0);
		ck_assert_msg(strstr(out, "holder") && strstr(out, "2.0 MiB"), "%s", out);
	}
	{
		const char *args[] = { "--socket", d.sock, "reconfigure", "--dry-run", "dax9.9", NULL };

		ck_assert_int_eq(run_program(DAXKMEMCTL_PATH, args, NOBODY, out, sizeof(out), 10000), 1);
		ck_assert_str_eq(out, "daxkmemctl: reconfigure: reconfiguring dax devices needs root: it "
				      "can destroy persistent data\n");
		/* root gets past that check */
		ck_assert_int_eq(run_program(DAXKMEMCTL_PATH, args, (uid_t)-1, out, sizeof(out), 10000), 1);
		ck_assert_msg(strstr(out, "no dax device is named dax9.9"), "%s", out);
	}
	dkm_conn_close(c);
	daemon_stop(&d);
}
END_TEST

/* CLIENTS from a process of uid/gid nobody with group g among its supplementary ones (or none). */
static int clients_with_group(const struct daemon *d, gid_t g)
{
	int status;
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct dkm_conn *c;
		struct dkm_msg m;
		char err[256];
		int r;

		if (setgroups(g == (gid_t)-1 ? 0 : 1, &g) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
		    setresuid(NOBODY, NOBODY, NOBODY) < 0)
			_exit(126);
		if (dkm_conn_open(d->sock, "member", &c, err, sizeof(err)) < 0)
			_exit(125);
		r = dkm_conn_clients(c, &m);
		_exit(r == 0 ? 0 : r == -EPERM ? 1 : 124);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* "Members of this group": a supplementary group counts as much as the primary one. */
START_TEST(test_admin_group_supplementary)
{
	struct daemon d;

	daemon_start(&d, QUIET "socket_mode = 0666\nadmin_group = 4242");
	ck_assert_int_eq(clients_with_group(&d, 4242), 0);
	ck_assert_int_eq(clients_with_group(&d, 4243), 1);
	ck_assert_int_eq(clients_with_group(&d, (gid_t)-1), 1);
	daemon_stop(&d);
}
END_TEST

static Suite *limits_suite(void)
{
	Suite *s = suite_create("limits-e2e");
	TCase *tc = tcase_create("e2e");

	page = (uint64_t)sysconf(_SC_PAGESIZE);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_capacity_boundary);
	tcase_add_test(tc, test_placement_refusals);
	tcase_add_test(tc, test_max_clients);
	tcase_add_test(tc, test_max_regions_per_uid);
	tcase_add_test(tc, test_descriptor_limit);
	tcase_add_test(tc, test_quota_release_and_uids);
	tcase_add_test(tc, test_admin_group);
	tcase_add_test(tc, test_admin_group_supplementary);
	suite_add_tcase(s, tc);
	return s;
}

DKM_TEST_MAIN(limits_suite)
