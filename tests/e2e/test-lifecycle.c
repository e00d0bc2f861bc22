/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daxkmemd end to end, over time: the refresh timer (and the timer alone
 * when the kernel's device events cannot be had), residency re-read after
 * holes are punched, the population worker beside the event loop,
 * revocation, a second HELLO, and reloads that must not apply.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "test-common.h"
#include "wire.h"

#define MIB (1024ull * 1024)

/*
 * No refresh where the test is not about it: the daemon does only what the
 * test asks (slow runs, valgrind).
 */
#define QUIET "refresh_interval_ms = 3600000\n"

/* ---- helpers ---- */

static uint64_t node0_resident(const struct daemon *d, unsigned *nnodes)
{
	struct dkm_status st;
	struct dkm_status_node sn;

	ck_assert(status_node(d, 0, &st, &sn));
	if (nnodes)
		*nnodes = st.nnodes;
	return sn.resident;
}

static bool wait_resident(struct daemon *d, uint64_t want, int timeout_ms)
{
	for (int waited = 0; waited <= timeout_ms; waited += 10) {
		daemon_drain_notify(d);
		if (node0_resident(d, NULL) == want)
			return true;
		poll(NULL, 0, 10);
	}
	return false;
}

static bool wait_nnodes(struct daemon *d, unsigned want, int timeout_ms)
{
	for (int waited = 0; waited <= timeout_ms; waited += 10) {
		unsigned n;

		daemon_drain_notify(d);
		node0_resident(d, &n);
		if (n == want)
			return true;
		poll(NULL, 0, 10);
	}
	return false;
}

static void rewrite(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

/* SIGHUP, then RELOADING=1 (with MONOTONIC_USEC) and READY=1, in that order. */
static void reload(struct daemon *d)
{
	const char *m;

	daemon_drain_notify(d);
	kill(d->pid, SIGHUP);
	m = daemon_wait_notify_msg(d, "RELOADING=1", 10000);
	ck_assert_msg(m != NULL, "no RELOADING=1 on SIGHUP");
	ck_assert_msg(strstr(m, "\nMONOTONIC_USEC="), "%s", m);
	ck_assert_ptr_nonnull(daemon_wait_notify(d, "READY=1", 10000));
}

/* A sysfs tree with node 0 of this machine (so that regions can be bound), 4 GiB free. */
static void make_tree(char *root, size_t size)
{
	char cpus[256] = "0\n";
	FILE *f = fopen("/sys/devices/system/node/node0/cpulist", "r");

	if (f) {
		if (!fgets(cpus, sizeof(cpus), f))
			strcpy(cpus, "0\n");
		fclose(f);
	}
	snprintf(root, size, "/tmp/dkm-tree-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(root));
	tree_write(root, "devices/system/node/node0/cpulist", cpus);
	tree_write(root, "devices/system/node/node0/distance", "10\n");
	tree_write(root, "devices/system/node/node0/meminfo",
		   "Node 0 MemTotal:       8388608 kB\nNode 0 MemFree:        4194304 kB\n");
	tree_write(root, "devices/system/node/online", "0\n");
}

static void remove_tree(const char *root)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	ck_assert_int_eq(system(cmd), 0);
}

static int alloc(struct dkm_conn *c, uint64_t size, uint32_t flags, struct dkm_region *reg)
{
	struct dkm_alloc_region req = alloc_req(DKM_KIND_KMEM, size, flags);
	int fd = -1;

	ck_assert_msg(dkm_conn_alloc(c, &req, reg, &fd) == 0, "%s", c->err);
	return fd;
}

static int raw_connect(const struct daemon *d)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	strcpy(sa.sun_path, d->sock);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void send_msg(int fd, uint16_t type, uint32_t seq, const void *payload, size_t len)
{
	void *buf;
	size_t n;

	ck_assert_int_eq(dkm_wire_encode(type, seq, payload, len, 0, &buf, &n), 0);
	ck_assert_int_eq(send(fd, buf, n, MSG_NOSIGNAL), (ssize_t)n);
	free(buf);
}

static void send_hello(int fd, const char *name)
{
	struct dkm_hello h = { .major = DKM_PROTO_MAJOR };

	snprintf(h.name, sizeof(h.name), "%s", name);
	send_msg(fd, DKM_MSG_HELLO, 1, &h, sizeof(h));
}

/* A raw connection that said HELLO and got its reply. */
static int raw_hello(const struct daemon *d, const char *name, struct dkm_rx *rx)
{
	int fd = raw_connect(d);
	struct dkm_msg m;

	send_hello(fd, name);
	dkm_rx_init(rx);
	ck_assert_int_eq(dkm_wire_recv_msg(fd, rx, &m, 5000), 0);
	ck_assert_uint_eq(m.hdr.type, DKM_MSG_HELLO_REPLY);
	dkm_msg_clear(&m);
	return fd;
}

/* ---- the refresh timer ---- */

/*
 * What the timer re-reads: the node map and the residency of the regions
 * (holes punched in a region are owed again). With an interval of an hour
 * nothing is re-read; after a reload to 50 ms both are, within a second.
 * The tree is the daemon's own, so no kernel event is involved.
 */
START_TEST(test_refresh_timer)
{
	struct daemon d;
	struct dkm_conn *c;
	struct dkm_region reg, big;
	struct stat st;
	char root[64], conf[512];
	unsigned nnodes;
	int fd;

	make_tree(root, sizeof(root));
	snprintf(conf, sizeof(conf),
		 "kmem_nodes = 0\nsocket_group =\nreserve = 16M\ndaemon_prefault = always\n");
	daemon_start_opts(&d, &(struct daemon_opts){
		/* the daemon populates (a client would charge its own cgroup, see test-cgroup*.c) */
		.conf = "kmem_nodes = 0\nsocket_group =\nreserve = 16M\nrefresh_interval_ms = 3600000\n"
			"daemon_prefault = always",
		.args = (const char *const[]){ "--sysfs-root", root, NULL } });
	c = client_open(&d, "holes");
	fd = alloc(c, 8 * MIB, DKM_ALLOC_PREFAULT, &reg);
	ck_assert_uint_eq(node0_resident(&d, &nnodes), 8 * MIB);
	ck_assert_uint_eq(nnodes, 1);
	ck_assert_int_eq(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4 * MIB), 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_uint_eq((uint64_t)st.st_blocks * 512, 4 * MIB);
	/* a node comes (memory-only, its distance row and node 0's updated first) */
	tree_write(root, "devices/system/node/node1/cpulist", "\n");
	tree_write(root, "devices/system/node/node1/distance", "20 10\n");
	tree_write(root, "devices/system/node/node1/meminfo",
		   "Node 1 MemTotal:       1048576 kB\nNode 1 MemFree:        1048576 kB\n");
	tree_write(root, "devices/system/node/node0/distance", "10 20\n");
	tree_write(root, "devices/system/node/online", "0-1\n");
	poll(NULL, 0, 300);
	ck_assert_uint_eq(node0_resident(&d, &nnodes), 8 * MIB);
	ck_assert_uint_eq(nnodes, 1);

	/* the interval is the configuration's: a reload to 50 ms (which reads the map itself) */
	strcat(conf, "refresh_interval_ms = 50\n");
	rewrite(d.conf, conf);
	reload(&d);
	ck_assert(wait_nnodes(&d, 2, 100));
	ck_assert_msg(wait_resident(&d, 4 * MIB, 2000), "resident %llu",
		      (unsigned long long)node0_resident(&d, NULL));
	/* and from now on, each hole is found by the timer alone */
	ck_assert_int_eq(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4 * MIB, 2 * MIB),
			 0);
	ck_assert_msg(wait_resident(&d, 2 * MIB, 2000), "resident %llu",
		      (unsigned long long)node0_resident(&d, NULL));
	/* owed again: admission counts the hole (4 GiB free in the tree) */
	{
		struct dkm_alloc_region req = alloc_req(DKM_KIND_KMEM, 8192 * MIB, DKM_ALLOC_NO_PREFAULT);
		int bfd = -1;

		ck_assert_int_eq(dkm_conn_alloc(c, &req, &big, &bfd), -ENOSPC);
		ck_assert_msg(strstr(c->err, "16.0 MiB reserve and 6.0 MiB granted but not yet resident"),
			      "%s", c->err);
	}
	/* the node goes: the timer finds that too */
	tree_write(root, "devices/system/node/online", "0\n");
	tree_write(root, "devices/system/node/node0/distance", "10\n");
	ck_assert(wait_nnodes(&d, 1, 2000));
	close(fd);
	dkm_conn_close(c);
	daemon_stop(&d);
	remove_tree(root);
}
END_TEST

#if defined(__x86_64__)
#define DKM_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define DKM_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

#ifdef DKM_AUDIT_ARCH
/* In the daemon's process: socket(AF_NETLINK, ...) fails with EAFNOSUPPORT, as under a unit
 * whose RestrictAddressFamilies= leaves out AF_NETLINK. */
static void no_netlink(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, DKM_AUDIT_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_NETLINK, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EAFNOSUPPORT),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		_exit(125);
}
#endif

/*
 * On the live /sys the daemon subscribes to the kernel's device events; when
 * it cannot, it says so and the timer alone keeps the map (and residency)
 * current.
 */
START_TEST(test_uevent_fallback)
{
#ifdef DKM_AUDIT_ARCH
	struct daemon d;
	struct dkm_conn *c;
	struct dkm_region reg;
	int fd;

	daemon_start_opts(&d, &(struct daemon_opts){ .extra_conf = "refresh_interval_ms = 50\n"
									"daemon_prefault = always",
						      .child_setup = no_netlink });
	ck_assert_int_eq(daemon_log_count(&d, "kernel device events: Address family not supported "
					      "by protocol; the node map is refreshed every 50 ms "
					      "only"), 1);
	c = client_open(&d, "fallback");
	fd = alloc(c, 8 * MIB, DKM_ALLOC_PREFAULT, &reg);
	ck_assert_int_eq(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 2 * MIB), 0);
	ck_assert(wait_resident(&d, 6 * MIB, 2000));
	close(fd);
	dkm_conn_close(c);
	daemon_stop(&d);

	/* and with the events to be had, nothing to say */
	daemon_start(&d, QUIET);
	ck_assert_int_eq(daemon_log_count(&d, "kernel device events"), 0);
	daemon_stop(&d);
#else
	fprintf(stderr, "test_uevent_fallback: no seccomp filter for this architecture\n");
#endif
}
END_TEST

/* ---- the population worker ---- */

/*
 * A large pre-faulted region is populated by the worker thread: meanwhile
 * the event loop answers another client's STATUS. Seen from the daemon's
 * memfd (opened through /proc): a STATUS reply that shows the region granted
 * and not yet resident comes while the memfd is still short of its full size.
 * (Populated on the loop, the loop would answer only once it was full.)
 */
START_TEST(test_population_beside_the_loop)
{
	const uint64_t size = 128 * MIB;
	struct daemon d;
	struct dkm_conn *b;
	struct dkm_rx rx;
	struct dkm_msg m;
	struct dkm_region reg;
	int fd, mfd, answered = 0;

	/* the daemon's worker populates it (it would be the client's to, by default, here) */
	daemon_start(&d, QUIET "daemon_prefault = always\n");
	fd = raw_hello(&d, "populating", &rx);
	{
		struct dkm_alloc_region req = alloc_req(DKM_KIND_KMEM, size, DKM_ALLOC_PREFAULT);

		send_msg(fd, DKM_MSG_ALLOC_REGION, 2, &req, sizeof(req));
	}
	mfd = daemon_memfd(&d, "daxkmem:populating:", 5000);
	b = client_open(&d, "bystander");
	for (int i = 0; i < 10000; i++) {
		struct dkm_msg sm;
		struct dkm_status st;
		struct dkm_status_node sn;
		struct stat fst;

		ck_assert_int_eq(dkm_conn_status(b, &sm), 0);
		memcpy(&st, sm.payload, sizeof(st));
		memcpy(&sn, (char *)sm.payload + sizeof(st), sizeof(sn));
		dkm_msg_clear(&sm);
		ck_assert_int_eq(fstat(mfd, &fst), 0);
		if ((uint64_t)fst.st_blocks * 512 >= size)
			break;
		if (st.granted == size && sn.resident == 0 && ++answered == 3)
			break;
		poll(NULL, 0, 1);
	}
	ck_assert_msg(answered > 0, "STATUS was not answered while the region was populated");
	close(mfd);
	ck_assert_int_eq(dkm_wire_recv_msg(fd, &rx, &m, 30000), 0);
	ck_assert_uint_eq(m.hdr.type, DKM_MSG_REGION);
	ck_assert_uint_eq(m.hdr.nfds, 1);
	memcpy(&reg, m.payload, sizeof(reg));
	ck_assert_uint_eq(reg.size, size);
	dkm_msg_clear(&m);
	dkm_rx_clear(&rx);
	close(fd);
	ck_assert(wait_granted(&d, 0, 0, 5000));
	dkm_conn_close(b);
	daemon_stop(&d);
}
END_TEST

/* ---- revocation ---- */

/*
 * Released memory is taken back even from a client that keeps the memfd
 * and a mapping: touching it is SIGBUS. And when the holder is killed, its
 * pages go although another process still holds the file.
 */
START_TEST(test_revocation)
{
	struct daemon d;
	struct dkm_conn *c;
	struct dkm_region reg;
	char *p;
	int fd, status, pipefd[2], ref;
	pid_t child;

	daemon_start(&d, QUIET);
	c = client_open(&d, "keeper");
	fd = alloc(c, 4 * MIB, DKM_ALLOC_PREFAULT, &reg);
	p = mmap(NULL, 4 * MIB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ck_assert_ptr_ne(p, MAP_FAILED);
	memset(p, 0x5a, 4 * MIB);
	ck_assert_int_eq(dkm_conn_release(c, reg.id), 0);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		volatile char v;

		signal(SIGBUS, SIG_DFL); /* ASan's handler would exit(1) instead */
		v = p[MIB];

		(void)v;
		_exit(0);
	}
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS,
		      "touching a released region: status 0x%x, not SIGBUS", status);
	munmap(p, 4 * MIB);
	close(fd);
	dkm_conn_close(c);

	/* the holder dies; the test keeps the file open through /proc */
	ck_assert_int_eq(pipe(pipefd), 0);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		struct dkm_conn *h = client_open(&d, "holder");
		struct dkm_region r;
		struct dkm_alloc_region req = alloc_req(DKM_KIND_KMEM, 16 * MIB, DKM_ALLOC_PREFAULT);
		int hfd = -1;
		char *q;

		if (dkm_conn_alloc(h, &req, &r, &hfd) < 0)
			_exit(1);
		q = mmap(NULL, 16 * MIB, PROT_READ | PROT_WRITE, MAP_SHARED, hfd, 0);
		if (q == MAP_FAILED)
			_exit(1);
		memset(q, 1, 16 * MIB);
		if (write(pipefd[1], &hfd, sizeof(hfd)) != sizeof(hfd))
			_exit(1);
		pause();
		_exit(0);
	}
	close(pipefd[1]);
	{
		char path[64];
		struct stat st;
		int hfd;

		ck_assert_int_eq(read(pipefd[0], &hfd, sizeof(hfd)), (ssize_t)sizeof(hfd));
		snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)child, hfd);
		ref = open(path, O_RDONLY | O_CLOEXEC);
		ck_assert_int_ge(ref, 0);
		ck_assert_int_eq(fstat(ref, &st), 0);
		ck_assert_uint_eq((uint64_t)st.st_blocks * 512, 16 * MIB);
		kill(child, SIGKILL);
		ck_assert_int_eq(waitpid(child, &status, 0), child);
		ck_assert(wait_granted(&d, 0, 0, 5000));
		ck_assert_int_eq(fstat(ref, &st), 0);
		ck_assert_int_eq(st.st_size, 0);
		ck_assert_int_eq(st.st_blocks, 0);
		close(ref);
	}
	close(pipefd[0]);
	daemon_stop(&d);
}
END_TEST

/* ---- protocol ---- */

START_TEST(test_second_hello)
{
	struct daemon d;
	struct dkm_rx rx;
	struct dkm_conn *c;
	char buf[256];
	int fd;

	daemon_start(&d, QUIET);
	fd = raw_hello(&d, "twice", &rx);
	send_hello(fd, "twice");
	{
		struct pollfd p = { .fd = fd, .events = POLLIN };

		ck_assert_msg(poll(&p, 1, 5000) == 1, "a second HELLO did not drop the connection");
		ck_assert_int_eq(read(fd, buf, sizeof(buf)), 0);
	}
	close(fd);
	dkm_rx_clear(&rx);
	ck_assert(daemon_wait_log(&d, "): second HELLO: dropped", 1, 5000));
	c = client_open(&d, "after");
	ck_assert_uint_eq(status_clients(&d), 1);
	dkm_conn_close(c);
	daemon_stop(&d);
}
END_TEST

/* STATUS= only when it changes: a refresh every 20 ms must not fill the notify socket. */
START_TEST(test_status_on_change)
{
	struct daemon d;
	struct dkm_conn *c;
	int n = 0;

	daemon_start(&d, "refresh_interval_ms = 20\n");
	usleep(600 * 1000); /* some 30 refreshes */
	while (daemon_wait_notify(&d, "STATUS=", 200))
		n++;
	ck_assert_msg(n <= 1, "%d STATUS= lines from a daemon where nothing changed", n);
	c = client_open(&d, "one");
	usleep(100 * 1000);
	ck_assert_ptr_nonnull(daemon_wait_notify(&d, "STATUS=serving 1 client,", 2000));
	n = 0;
	while (daemon_wait_notify(&d, "STATUS=", 200))
		n++;
	ck_assert_msg(n == 0, "%d more STATUS= lines after the one that said so", n);
	dkm_conn_close(c);
	daemon_stop(&d);
}
END_TEST

/* ---- reloads ---- */

/* A new quota applies on SIGHUP; a broken file is refused whole (moved from test-broker.c). */
START_TEST(test_reload)
{
	struct daemon d;
	struct dkm_conn *c;
	struct dkm_alloc_region req = alloc_req(DKM_KIND_KMEM, 8 * MIB, DKM_ALLOC_NO_PREFAULT);
	struct dkm_region reg;
	char base[512];
	FILE *f;
	int fd;

	daemon_start(&d, QUIET);
	c = client_open(&d, "reload");
	ck_assert_int_eq(dkm_conn_alloc(c, &req, &reg, &fd), 0);
	close(fd);
	f = fopen(d.conf, "r");
	ck_assert_uint_gt(fread(base, 1, sizeof(base) - 1, f), 0);
	base[ftell(f)] = '\0';
	fclose(f);
	/* a new quota takes effect on SIGHUP; grants already made stay */
	f = fopen(d.conf, "a");
	fputs("quota = 4M\n", f);
	fclose(f);
	reload(&d);
	ck_assert_int_eq(dkm_conn_alloc(c, &req, &reg, &fd), -EDQUOT);
	ck_assert_uint_eq(status_granted(&d, 0), 8 * MIB);
	/*
	 * a broken configuration is refused and the old one stays in force: the
	 * file's valid lines before the bad one (a quota that would grant the
	 * request) are not applied either
	 */
	f = fopen(d.conf, "w");
	fprintf(f, "%squota = 1G\nbogus = 1\n", base);
	fclose(f);
	reload(&d);
	ck_assert_int_eq(daemon_log_count(&d, ": unknown key \"bogus\"; keeping the configuration "
					      "in force"), 1);
	ck_assert_int_eq(dkm_conn_alloc(c, &req, &reg, &fd), -EDQUOT);
	ck_assert_msg(strstr(c->err, "over its quota of 4.0 MiB"), "%s", c->err);
	ck_assert(daemon_alive(&d));
	dkm_conn_close(c);
	daemon_stop(&d);
}
END_TEST

/* A node map that cannot be read at reload: the configuration in force stays. */
START_TEST(test_reload_map_unreadable)
{
	struct daemon d;
	struct dkm_conn *c;
	struct dkm_region reg;
	char root[64], from[128], to[128];
	const char *conf = "kmem_nodes = 0\nsocket_group =\nreserve = 16M\n"
			   "refresh_interval_ms = 3600000\n";
	char newconf[256];
	int fd;

	make_tree(root, sizeof(root));
	daemon_start_opts(&d, &(struct daemon_opts){
		.conf = conf, .args = (const char *const[]){ "--sysfs-root", root, NULL } });
	c = client_open(&d, "reload");
	snprintf(newconf, sizeof(newconf), "%squota = 4M\n", conf);
	rewrite(d.conf, newconf);
	snprintf(from, sizeof(from), "%s/devices/system/node", root);
	snprintf(to, sizeof(to), "%s/devices/system/node.away", root);
	ck_assert_int_eq(rename(from, to), 0);
	reload(&d);
	ck_assert_int_eq(rename(to, from), 0);
	ck_assert_int_eq(daemon_log_count(&d, "reload: keeping the configuration in force"), 1);
	ck_assert_int_eq(daemon_log_count(&d, "configuration reloaded"), 0);
	/* no quota in force */
	fd = alloc(c, 8 * MIB, DKM_ALLOC_NO_PREFAULT, &reg);
	close(fd);
	ck_assert_int_eq(dkm_conn_release(c, reg.id), 0);
	/* with the map back, the same file applies */
	reload(&d);
	ck_assert_int_eq(daemon_log_count(&d, "configuration reloaded"), 1);
	{
		struct dkm_alloc_region req = alloc_req(DKM_KIND_KMEM, 8 * MIB, DKM_ALLOC_NO_PREFAULT);

		ck_assert_int_eq(dkm_conn_alloc(c, &req, &reg, &fd), -EDQUOT);
	}
	dkm_conn_close(c);
	daemon_stop(&d);
	remove_tree(root);
}
END_TEST

/*
 * reconfigure= is applied again at each reload, and not after a reload that
 * failed. On this machine it is told from the log: on the live /sys a name
 * that matches no device is reported each time; on a fixture the key is
 * ignored with a warning each time. (The VM suite converts real devices.)
 */
START_TEST(test_reconfigure_on_reload)
{
	static const char *const live_line = "reconfigure=: no dax device is named dax9.9 or comes "
					     "from a namespace with that uuid; nothing was changed";
	static const char *const fixture_line = "reconfigure= is ignored: the node map comes from ";
	struct daemon d;
	FILE *f;

	daemon_start(&d, QUIET "reconfigure = dax9.9");
	ck_assert_int_eq(daemon_log_count(&d, live_line), 1);
	reload(&d);
	ck_assert_int_eq(daemon_log_count(&d, live_line), 2);
	/* a file that does not load: nothing is reconfigured */
	f = fopen(d.conf, "a");
	fputs("bogus = 1\n", f);
	fclose(f);
	reload(&d);
	ck_assert_int_eq(daemon_log_count(&d, "; keeping the configuration in force"), 1);
	ck_assert_int_eq(daemon_log_count(&d, live_line), 2);
	daemon_stop(&d);

	daemon_start_args(&d, QUIET "reconfigure = dax1.0",
			  (const char *const[]){ "--sysfs-root", FIXTURE("devdax"), NULL });
	ck_assert_int_eq(daemon_log_count(&d, fixture_line), 1);
	reload(&d);
	ck_assert_int_eq(daemon_log_count(&d, fixture_line), 2);
	daemon_stop(&d);
}
END_TEST

static Suite *lifecycle_suite(void)
{
	Suite *s = suite_create("lifecycle-e2e");
	TCase *tc = tcase_create("e2e");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_refresh_timer);
	tcase_add_test(tc, test_uevent_fallback);
	tcase_add_test(tc, test_population_beside_the_loop);
	tcase_add_test(tc, test_revocation);
	tcase_add_test(tc, test_second_hello);
	tcase_add_test(tc, test_status_on_change);
	tcase_add_test(tc, test_reload);
	tcase_add_test(tc, test_reload_map_unreadable);
	tcase_add_test(tc, test_reconfigure_on_reload);
	suite_add_tcase(s, tc);
	return s;
}

DKM_TEST_MAIN(lifecycle_suite)
