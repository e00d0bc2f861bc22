/* SPDX-License-Identifier: GPL-2.0-or-later */
/* daxkmemd end to end, with node 0 configured as the kmem node. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <numaif.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "topology.h"
#include "test-common.h"
#include "wire.h"

#define MIB (1024ull * 1024)

static long page;

/*
 * Map the region and check the policy mode and node mask it carries. Which
 * node the pages land on cannot be told on a one-node machine (every page is
 * on node 0 whatever the policy): placement is the VM suites' (tests/vm).
 */
static void check_policy_mode(int fd, uint64_t size, int want_mode, int want_node, bool touch)
{
	char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	unsigned long mask[16] = { 0 };
	int mode = -1;

	ck_assert_ptr_ne(p, MAP_FAILED);
	if (touch)
		memset(p, 0x5a, size);
	ck_assert_int_eq(get_mempolicy(&mode, mask, 16 * 64, p, MPOL_F_ADDR), 0);
	ck_assert_int_eq(mode, want_mode);
	ck_assert_uint_eq(mask[0], 1ul << want_node);
	munmap(p, size);
}

static void check_sealed(int fd, uint64_t size)
{
	struct stat st;
	int seals = fcntl(fd, F_GET_SEALS);

	ck_assert_int_eq(seals & (F_SEAL_GROW | F_SEAL_SEAL), F_SEAL_GROW | F_SEAL_SEAL);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_uint_eq((uint64_t)st.st_size, size);
	/* nobody makes a grant bigger than it was */
	ck_assert_int_eq(ftruncate(fd, (off_t)size * 2), -1);
	ck_assert_int_eq(errno, EPERM);
	ck_assert_int_eq(fallocate(fd, 0, (off_t)size, 4096), -1);
	ck_assert_int_eq(errno, EPERM);
	ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), -1);
	ck_assert_int_ne(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
}

/* Each kind: the policy mode on the memfd, sealing, prefault, and the accounting of the grant
 * (the range the daemon reports is node 0's, the kmem node of kmem_nodes = 0). */
START_TEST(test_region_kinds_policy_and_accounting)
{
	static const struct {
		uint32_t kind, flags;
		int mode;
	} cases[] = {
		{ DKM_KIND_KMEM, 0, MPOL_BIND },
		{ DKM_KIND_KMEM_ALL, 0, MPOL_BIND },
		{ DKM_KIND_KMEM_PREFERRED, 0, MPOL_PREFERRED },
		{ DKM_KIND_KMEM, DKM_ALLOC_PREFAULT, MPOL_BIND },
		{ DKM_KIND_KMEM, DKM_ALLOC_NO_PREFAULT, MPOL_BIND },
		{ DKM_KIND_KMEM_PREFERRED, DKM_ALLOC_NO_PREFAULT, MPOL_PREFERRED },
	};
	/* who populates a region to be populated: the daemon (always), the client (never) */
	static const char *const confs[] = { "daemon_prefault = always", "daemon_prefault = never" };

	for (unsigned k = 0; k < 2; k++) {
		bool daemon_populates = k == 0;
		struct daemon d;
		struct dkm_conn *c;

		daemon_start(&d, confs[k]);
		c = client_open(&d, "kinds");
		for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			struct dkm_alloc_region req = alloc_req(cases[i].kind, 8 * MIB, cases[i].flags);
			struct dkm_region reg;
			struct stat st;
			int fd = -1;

			ck_assert_msg(dkm_conn_alloc(c, &req, &reg, &fd) == 0, "case %u: %s", i, c->err);
			ck_assert_int_ge(fd, 0);
			ck_assert_uint_eq(reg.size, 8 * MIB);
			ck_assert_uint_eq(reg.kind, cases[i].kind);
			ck_assert_uint_eq(reg.nranges, 1);
			ck_assert_int_eq(reg.ranges[0].node, 0);
			check_sealed(fd, 8 * MIB);
			ck_assert_int_eq(fstat(fd, &st), 0);
			if (cases[i].flags & DKM_ALLOC_NO_PREFAULT) {
				/* nothing populated: pages fault in, bound, in the client */
				ck_assert_uint_eq(reg.flags, 0);
				ck_assert_uint_lt((uint64_t)st.st_blocks * 512, 8 * MIB);
			} else if (daemon_populates) {
				ck_assert_uint_eq(reg.flags, DKM_ALLOC_PREFAULT);
				ck_assert_uint_eq((uint64_t)st.st_blocks * 512, 8 * MIB);
			} else {
				/* the client is to populate it, charged to its cgroup */
				ck_assert_uint_eq(reg.flags, DKM_REGION_CLIENT_POPULATE);
				ck_assert_uint_lt((uint64_t)st.st_blocks * 512, 8 * MIB);
			}
			check_policy_mode(fd, 8 * MIB, cases[i].mode, 0, true);
			ck_assert_int_eq(fstat(fd, &st), 0);
			ck_assert_uint_eq((uint64_t)st.st_blocks * 512, 8 * MIB);
			ck_assert_uint_eq(status_granted(&d, 0), 8 * MIB);
			ck_assert_int_eq(dkm_conn_release(c, reg.id), 0);
			ck_assert_uint_eq(status_granted(&d, 0), 0);
			close(fd);
		}
		dkm_conn_close(c);
		daemon_stop(&d);
	}
}
END_TEST

START_TEST(test_release_and_disconnect)
{
	struct daemon d;
	struct dkm_conn *c, *other;
	struct dkm_alloc_region req = alloc_req(DKM_KIND_KMEM, 4 * MIB, 0);
	struct dkm_region reg, reg2;
	int fd, fd2;

	daemon_start(&d, NULL);
	c = client_open(&d, "release");
	other = client_open(&d, "other");
	ck_assert_int_eq(dkm_conn_alloc(c, &req, &reg, &fd), 0);
	ck_assert_int_eq(dkm_conn_alloc(c, &req, &reg2, &fd2), 0);
	ck_assert_uint_ne(reg.id, reg2.id);
	ck_assert_uint_eq(status_granted(&d, -1), 8 * MIB);
	/* only the owner can release a region */
	ck_assert_int_eq(dkm_conn_release(other, reg.id), -ENOENT);
	ck_assert_ptr_nonnull(strstr(other->err, "holds no region"));
	ck_assert_int_eq(dkm_conn_release(c, reg.id), 0);
	ck_assert_int_eq(dkm_conn_release(c, reg.id), -ENOENT);
	ck_assert_uint_eq(status_granted(&d, 0), 4 * MIB);
	/* released memory is revoked: the client cannot keep using what it gave back */
	{
		struct stat st;

		ck_assert_int_eq(fstat(fd, &st), 0);
		ck_assert_int_eq(st.st_size, 0);
		ck_assert_int_eq(st.st_blocks, 0);
	}
	close(fd);
	/* disconnecting returns (and revokes) everything the client held */
	dkm_conn_close(c);
	ck_assert(wait_granted(&d, 0, 0, 5000));
	{
		struct stat st;

		ck_assert_int_eq(fstat(fd2, &st), 0);
		ck_assert_int_eq(st.st_size, 0);
	}
	close(fd2);
	dkm_conn_close(other);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_quota)
{
	struct daemon d;
	struct dkm_conn *c;
	struct dkm_alloc_region req = alloc_req(DKM_KIND_KMEM, 8 * MIB, DKM_ALLOC_NO_PREFAULT);
	struct dkm_region reg;
	int fd, fd2;

	daemon_start(&d, "quota = 12M");
	c = client_open(&d, "quota");
	ck_assert_int_eq(dkm_conn_alloc(c, &req, &reg, &fd), 0);
	ck_assert_int_eq(dkm_conn_alloc(c, &req, &reg, &fd2), -EDQUOT);
	ck_assert_msg(strstr(c->err, "uid 0 is over its quota of 12.0 MiB: 8.0 MiB granted, 8.0 MiB asked"),
		      "%s", c->err);
	/* the quota is per uid, over all its connections */
	{
		struct dkm_conn *c2 = client_open(&d, "quota2");

		ck_assert_int_eq(dkm_conn_alloc(c2, &req, &reg, &fd2), -EDQUOT);
		dkm_conn_close(c2);
	}
	ck_assert_uint_eq(status_granted(&d, 0), 8 * MIB);
	close(fd);
	dkm_conn_close(c);
	daemon_stop(&d);

	/* [quota] overrides the default for one user */
	daemon_start(&d, "quota = 1G\n[quota]\nroot = 4M");
	c = client_open(&d, "quota3");
	ck_assert_int_eq(dkm_conn_alloc(c, &req, &reg, &fd), -EDQUOT);
	dkm_conn_close(c);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_bad_requests)
{
	struct daemon d;
	struct dkm_conn *c;
	struct dkm_region reg;
	struct dkm_alloc_region req;
	int fd;

	daemon_start(&d, "max_region_size = 64M\nmax_regions_per_client = 2");
	c = client_open(&d, "bad");
	req = alloc_req(DKM_KIND_KMEM, 4 * MIB, 0);
	req.cpu_node = 7;
	ck_assert_int_eq(dkm_conn_alloc(c, &req, &reg, &fd), -EINVAL);
	ck_assert_str_eq(c->err, "CPU node 7 is not an online node with CPUs");
	req = alloc_req(DKM_KIND_KMEM, 4 * MIB + 1, 0);
	ck_assert_int_eq(dkm_conn_alloc(c, &req, &reg, &fd), -EINVAL);
	ck_assert_ptr_nonnull(strstr(c->err, "not a multiple of the page size"));
	req = alloc_req(DKM_KIND_KMEM, 128 * MIB, 0);
	ck_assert_int_eq(dkm_conn_alloc(c, &req, &reg, &fd), -EFBIG);
	ck_assert_str_eq(c->err, "128.0 MiB is larger than max_region_size 64.0 MiB");
	/* DAXKMEM_NODES naming a node that does not exist */
	req = alloc_req(DKM_KIND_KMEM, 4 * MIB, 0);
	dkm_nodeset_set(&req.kmem_nodes, 0);
	dkm_nodeset_set(&req.kmem_nodes, 9);
	ck_assert_int_eq(dkm_conn_alloc(c, &req, &reg, &fd), -EINVAL);
	ck_assert_ptr_nonnull(strstr(c->err, "DAXKMEM_NODES names node(s) 9"));
	/* naming node 0 itself is fine */
	req = alloc_req(DKM_KIND_KMEM, 4 * MIB, 0);
	dkm_nodeset_set(&req.kmem_nodes, 0);
	ck_assert_int_eq(dkm_conn_alloc(c, &req, &reg, &fd), 0);
	close(fd);
	ck_assert_int_eq(dkm_conn_alloc(c, &req, &reg, &fd), 0);
	close(fd);
	ck_assert_int_eq(dkm_conn_alloc(c, &req, &reg, &fd), -EMFILE);
	ck_assert_ptr_nonnull(strstr(c->err, "max_regions_per_client=2"));
	/* the connection is still good after refusals */
	ck_assert_int_eq(dkm_conn_release(c, reg.id), 0);
	dkm_conn_close(c);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_sigkill_frees)
{
	struct daemon d;
	int pipefd[2], status;
	pid_t child;
	char ok;

	daemon_start(&d, NULL);
	ck_assert_int_eq(pipe(pipefd), 0);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		struct dkm_conn *c = client_open(&d, "victim");
		struct dkm_alloc_region req = alloc_req(DKM_KIND_KMEM, 16 * MIB, 0);
		struct dkm_region reg;
		int fd;

		if (dkm_conn_alloc(c, &req, &reg, &fd) < 0 ||
		    dkm_conn_alloc(c, &req, &reg, &fd) < 0)
			_exit(1);
		if (write(pipefd[1], "k", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(pipefd[1]);
	ck_assert_int_eq(read(pipefd[0], &ok, 1), 1);
	ck_assert_uint_eq(status_granted(&d, 0), 32 * MIB);
	kill(child, SIGKILL);
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert(wait_granted(&d, 0, 0, 5000));
	ck_assert_uint_eq(status_clients(&d), 0);
	close(pipefd[0]);
	daemon_stop(&d);
}
END_TEST

#define NCLIENTS 200
#define NTHREADS 8

struct many {
	const struct daemon *d;
	struct dkm_conn *c[NCLIENTS / NTHREADS];
	int fds[NCLIENTS / NTHREADS];
	int index;
	int failed;
	char err[256];
};

/* One thread's share: connect and allocate at the same time as the others. */
static void *many_thread(void *arg)
{
	struct many *m = arg;

	for (int i = 0; i < NCLIENTS / NTHREADS; i++) {
		struct dkm_alloc_region req = { .kind = DKM_KIND_KMEM, .size = 1 * MIB, .cpu_node = 0,
						.flags = i % 2 ? DKM_ALLOC_NO_PREFAULT : 0 };
		struct dkm_region reg;
		char err[256];

		if (dkm_conn_open(m->d->sock, "many", &m->c[i], err, sizeof(err)) < 0) {
			snprintf(m->err, sizeof(m->err), "connect: %.200s", err);
			m->failed++;
			m->c[i] = NULL;
			continue;
		}
		if (dkm_conn_alloc(m->c[i], &req, &reg, &m->fds[i]) < 0) {
			snprintf(m->err, sizeof(m->err), "alloc: %.200s", m->c[i]->err);
			m->failed++;
			m->fds[i] = -1;
		}
	}
	return NULL;
}

START_TEST(test_many_clients)
{
	static struct many m[NTHREADS];
	pthread_t th[NTHREADS];
	struct daemon d;
	int before;

	daemon_start(&d, NULL);
	before = daemon_nfds_quiet(&d);
	for (int t = 0; t < NTHREADS; t++) {
		m[t].d = &d;
		m[t].index = t;
		ck_assert_int_eq(pthread_create(&th[t], NULL, many_thread, &m[t]), 0);
	}
	for (int t = 0; t < NTHREADS; t++) {
		pthread_join(th[t], NULL);
		ck_assert_msg(m[t].failed == 0, "thread %d: %d failures, last: %s", t, m[t].failed,
			      m[t].err);
	}
	ck_assert_uint_eq(status_clients(&d), NCLIENTS);
	ck_assert_uint_eq(status_granted(&d, 0), NCLIENTS * MIB);
	/* one socket and one memfd per client */
	ck_assert_int_eq(daemon_nfds_settled(&d, before + 2 * NCLIENTS, 5000), before + 2 * NCLIENTS);
	for (int t = 0; t < NTHREADS; t++)
		for (int i = 0; i < NCLIENTS / NTHREADS; i++) {
			dkm_conn_close(m[t].c[i]);
			close(m[t].fds[i]);
		}
	ck_assert(wait_granted(&d, 0, 0, 10000));
	ck_assert_uint_eq(status_clients(&d), 0);
	ck_assert_int_eq(daemon_nfds_settled(&d, before, 5000), before);
	daemon_stop(&d);
}
END_TEST

static int raw_connect(const struct daemon *d)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	strcpy(sa.sun_path, d->sock);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* The daemon closes the connection: read() reaches EOF (after any ERROR reply). */
static void expect_dropped(int fd)
{
	char buf[512];
	struct pollfd p = { .fd = fd, .events = POLLIN };

	for (;;) {
		ssize_t n;

		ck_assert_msg(poll(&p, 1, 5000) == 1, "daemon did not drop the connection");
		n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
	}
	close(fd);
}

static void send_raw(int fd, const void *buf, size_t len)
{
	ck_assert_int_eq(send(fd, buf, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* For bytes the daemon may already have refused (it drops a peer as soon as it can tell). */
static void send_maybe(int fd, const void *buf, size_t len)
{
	ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

	ck_assert_msg(n == (ssize_t)len || (n < 0 && (errno == EPIPE || errno == ECONNRESET)),
		      "send: %zd %s", n, strerror(errno));
}

static void send_hello(int fd, uint16_t major)
{
	struct dkm_hello h = { .major = major, .minor = 0 };
	void *buf;
	size_t len;

	strcpy(h.name, "hostile");
	ck_assert_int_eq(dkm_wire_encode(DKM_MSG_HELLO, 1, &h, sizeof(h), 0, &buf, &len), 0);
	send_raw(fd, buf, len);
	free(buf);
}

static void still_serving(const struct daemon *d)
{
	struct dkm_conn *c = client_open(d, "bystander");
	struct dkm_alloc_region req = alloc_req(DKM_KIND_KMEM, 1 * MIB, 0);
	struct dkm_region reg;
	int fd;

	ck_assert_int_eq(dkm_conn_alloc(c, &req, &reg, &fd), 0);
	close(fd);
	dkm_conn_close(c);
}

START_TEST(test_hostile)
{
	struct daemon d;
	struct dkm_conn *bystander;
	struct dkm_alloc_region req;
	struct dkm_region reg;
	int before, fd, regfd;
	char garbage[4096];

	daemon_start(&d, NULL);
	/* a well-behaved client holding memory throughout */
	bystander = client_open(&d, "bystander");
	req = alloc_req(DKM_KIND_KMEM, 2 * MIB, 0);
	ck_assert_int_eq(dkm_conn_alloc(bystander, &req, &reg, &regfd), 0);
	before = daemon_nfds_quiet(&d);

	/* garbage */
	for (size_t i = 0; i < sizeof(garbage); i++)
		garbage[i] = (char)(i * 7 + 3);
	fd = raw_connect(&d);
	send_maybe(fd, garbage, sizeof(garbage));
	expect_dropped(fd);

	/* a header announcing a huge payload */
	{
		struct dkm_msg_header h = { .magic = DKM_PROTO_MAGIC, .major = DKM_PROTO_MAJOR,
					    .type = DKM_MSG_HELLO, .payload_len = 1u << 30 };

		fd = raw_connect(&d);
		send_raw(fd, &h, sizeof(h));
		expect_dropped(fd);
	}

	/* half a header, then close */
	fd = raw_connect(&d);
	{
		struct dkm_msg_header h = { .magic = DKM_PROTO_MAGIC, .major = DKM_PROTO_MAJOR };

		send_raw(fd, &h, 10);
		close(fd);
	}

	/* a request before HELLO */
	{
		void *buf;
		size_t len;

		fd = raw_connect(&d);
		ck_assert_int_eq(dkm_wire_encode(DKM_MSG_STATUS, 1, NULL, 0, 0, &buf, &len), 0);
		send_raw(fd, buf, len);
		free(buf);
		expect_dropped(fd);
	}

	/* an unknown protocol major: a clear ERROR, then the close */
	{
		struct dkm_rx rx;
		struct dkm_msg m;
		struct dkm_error e;

		fd = raw_connect(&d);
		send_hello(fd, 99);
		dkm_rx_init(&rx);
		ck_assert_int_eq(dkm_wire_recv_msg(fd, &rx, &m, 5000), 0);
		ck_assert_uint_eq(m.hdr.type, DKM_MSG_ERROR);
		memcpy(&e, m.payload, sizeof(e));
		ck_assert_int_eq(e.errno_value, EPROTONOSUPPORT);
		ck_assert_str_eq(e.message, "unsupported protocol version 99 (daemon speaks 1)");
		dkm_msg_clear(&m);
		dkm_rx_clear(&rx);
		expect_dropped(fd);
	}

	/* a flood of descriptors where none are expected */
	{
		int pipes[2], many[64];
		char cbuf[CMSG_SPACE(sizeof(many))];
		struct dkm_msg_header h = { .magic = DKM_PROTO_MAGIC, .major = DKM_PROTO_MAJOR,
					    .type = DKM_MSG_STATUS };
		struct iovec iov = { &h, sizeof(h) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
				     .msg_controllen = sizeof(cbuf) };
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		char b;

		ck_assert_int_eq(pipe2(pipes, O_CLOEXEC), 0);
		for (int i = 0; i < 64; i++)
			many[i] = pipes[1];
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(many));
		memcpy(CMSG_DATA(cm), many, sizeof(many));
		fd = raw_connect(&d);
		send_hello(fd, DKM_PROTO_MAJOR);
		ck_assert_int_eq(sendmsg(fd, &mh, MSG_NOSIGNAL), (ssize_t)sizeof(h));
		close(pipes[1]);
		expect_dropped(fd);
		/* every copy of the write end the daemon received was closed: EOF */
		ck_assert_int_eq(read(pipes[0], &b, 1), 0);
		close(pipes[0]);
	}

	/* a daemon-only message type from a client */
	{
		struct dkm_release_region rel = { .id = 1 };
		void *buf;
		size_t len;

		fd = raw_connect(&d);
		send_hello(fd, DKM_PROTO_MAJOR);
		ck_assert_int_eq(dkm_wire_encode(DKM_MSG_RELEASED, 2, &rel, sizeof(rel), 0, &buf, &len), 0);
		send_raw(fd, buf, len);
		free(buf);
		expect_dropped(fd);
	}

	/* trailing bytes after a valid HELLO payload */
	{
		struct dkm_msg_header h = { .magic = DKM_PROTO_MAGIC, .major = DKM_PROTO_MAJOR,
					    .type = DKM_MSG_HELLO,
					    .payload_len = sizeof(struct dkm_hello) + 4 };
		char body[sizeof(struct dkm_hello) + 4] = { 0 };

		fd = raw_connect(&d);
		send_raw(fd, &h, sizeof(h));
		send_maybe(fd, body, sizeof(body));
		expect_dropped(fd);
	}

	still_serving(&d);
	/* the bystander's region and connection are intact */
	ck_assert_uint_eq(status_granted(&d, 0), 2 * MIB);
	ck_assert_int_eq(dkm_conn_release(bystander, reg.id), 0);
	close(regfd);
	ck_assert(daemon_alive(&d));
	/* no descriptor leaked: only the released region's memfd is gone */
	ck_assert_int_eq(daemon_nfds_settled(&d, before - 1, 5000), before - 1);
	dkm_conn_close(bystander);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_flood_and_cancel)
{
	struct daemon d;
	uint64_t total, freeb;
	int fd, sent = 0;

	/* the cancelled population below is the daemon's */
	daemon_start(&d, "daemon_prefault = always");
	/* a peer that floods requests and never reads the replies */
	fd = raw_connect(&d);
	send_hello(fd, DKM_PROTO_MAJOR);
	ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	for (;;) {
		void *buf;
		size_t len;
		ssize_t n;

		ck_assert_int_eq(dkm_wire_encode(DKM_MSG_STATUS, (uint32_t)sent + 2, NULL, 0, 0, &buf,
						 &len), 0);
		n = send(fd, buf, len, MSG_NOSIGNAL);
		free(buf);
		if (n < 0) {
			ck_assert_int_eq(errno, EAGAIN);
			break;
		}
		sent++;
		ck_assert_int_lt(sent, 1000000);
	}
	/* the daemon stopped reading it and serves everyone else */
	still_serving(&d);
	ck_assert_uint_eq(status_clients(&d), 1);
	close(fd);

	/*
	 * a client that asks for a large pre-faulted region and leaves while it
	 * is populated: the population stops (at its next 64 MiB chunk) and the
	 * grant returns. Seen through the daemon's memfd, opened by the test:
	 * its resident size stops far short of the full size before the region
	 * is freed (truncated to 0).
	 */
	ck_assert_int_eq(dkm_read_node_meminfo("/sys", 0, &total, &freeb), 0);
	{
		uint64_t size = freeb / 2 < 512 * MIB ? (freeb / 2) & ~(64 * MIB - 1) : 512 * MIB;
		struct dkm_alloc_region req = alloc_req(DKM_KIND_KMEM, size, DKM_ALLOC_PREFAULT);
		uint64_t most = 0;
		struct stat st;
		void *buf;
		size_t len;
		int mfd;

		ck_assert_msg(size >= 256 * MIB, "node 0 has %llu bytes free: too few for this test",
			      (unsigned long long)freeb);
		fd = raw_connect(&d);
		send_hello(fd, DKM_PROTO_MAJOR);
		ck_assert_int_eq(dkm_wire_encode(DKM_MSG_ALLOC_REGION, 2, &req, sizeof(req), 0, &buf,
						 &len), 0);
		send_raw(fd, buf, len);
		free(buf);
		mfd = daemon_memfd(&d, "daxkmem:hostile:", 5000);
		for (int i = 0; i < 10000; i++) {
			ck_assert_int_eq(fstat(mfd, &st), 0);
			if (st.st_blocks > 0)
				break;
			poll(NULL, 0, 1);
		}
		ck_assert_int_gt(st.st_blocks, 0);
		close(fd);
		for (int i = 0; i < 10000000; i++) {
			ck_assert_int_eq(fstat(mfd, &st), 0);
			if ((uint64_t)st.st_blocks * 512 > most)
				most = (uint64_t)st.st_blocks * 512;
			if (st.st_size == 0)
				break;
		}
		ck_assert_int_eq(st.st_size, 0);
		ck_assert_msg(most < size / 2, "population went on to %llu of %llu bytes",
			      (unsigned long long)most, (unsigned long long)size);
		close(mfd);
	}
	ck_assert(wait_granted(&d, 0, 0, 10000));
	ck_assert_uint_eq(status_clients(&d), 0);
	still_serving(&d);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_socket_path)
{
	struct daemon d;
	const char *status;
	char out[4096], path[160];
	int fd;

	daemon_start(&d, NULL);
	status = daemon_wait_notify(&d, "STATUS=", 5000);
	ck_assert_ptr_nonnull(status);
	ck_assert_ptr_nonnull(strstr(status, "STATUS=serving "));

	/* a second daemon on a socket that is served refuses, and the first goes on */
	{
		const char *args[] = { "--config", d.conf, "--socket", d.sock, NULL };

		ck_assert_int_eq(daemon_run_once(args, out, sizeof(out), 5000), 1);
		ck_assert_msg(strstr(out, "another daemon serves") != NULL, "%s", out);
		still_serving(&d);
	}

	/* a daemon killed outright leaves its socket behind: the next one removes it */
	kill(d.pid, SIGKILL);
	waitpid(d.pid, NULL, 0);
	ck_assert_int_eq(access(d.sock, F_OK), 0);
	{
		struct daemon d2;
		char extra[256];

		/* start on the same path: reuse the first daemon's directory */
		snprintf(extra, sizeof(extra), "socket = %s", d.sock);
		d2 = d;
		daemon_start_args(&d2, extra, (const char *const[]){ "--socket", d.sock, NULL });
		strcpy(d2.sock, d.sock);
		still_serving(&d2);
		{
			FILE *f = fopen(d2.log, "r");
			char line[512];
			bool seen = false;

			ck_assert_ptr_nonnull(f);
			while (fgets(line, sizeof(line), f))
				seen |= strstr(line, "removed stale socket") != NULL;
			fclose(f);
			ck_assert(seen);
		}
		daemon_stop(&d2);
	}

	/* a file that is not a socket is never removed */
	snprintf(path, sizeof(path), "%s.file", d.sock);
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "keep", 4), 4);
	close(fd);
	{
		const char *args[] = { "--config", d.conf, "--socket", path, NULL };

		ck_assert_int_eq(daemon_run_once(args, out, sizeof(out), 5000), 1);
		ck_assert_msg(strstr(out, "exists and is not a socket: not removing it") != NULL, "%s", out);
		ck_assert_int_eq(access(path, F_OK), 0);
	}
	unlink(path);
	/* a path longer than a socket address allows */
	{
		char longp[200];
		const char *args[] = { "--config", d.conf, "--socket", longp, NULL };

		memset(longp, 'x', sizeof(longp));
		longp[0] = '/';
		longp[sizeof(longp) - 1] = '\0';
		ck_assert_int_eq(daemon_run_once(args, out, sizeof(out), 5000), 1);
		ck_assert_msg(strstr(out, "is longer than 107 bytes") != NULL, "%s", out);
	}
	/* daemon_start made d's directory; the first daemon is gone, clean up by hand */
	snprintf(path, sizeof(path), "rm -rf %s", d.dir);
	ck_assert_int_eq(system(path), 0);
	close(d.notify_fd);
}
END_TEST

START_TEST(test_daxkmemctl)
{
	struct daemon d;
	struct dkm_conn *c;
	struct dkm_alloc_region req = alloc_req(DKM_KIND_KMEM, 8 * MIB, 0);
	struct dkm_region reg;
	char out[8192];
	int fd;

	char cg[1024];
	void *map;

	own_memory_cgroup(cg, sizeof(cg));
	daemon_start(&d, "socket_mode = 0666\ndaemon_prefault = never");
	c = client_open(&d, "holder");
	ck_assert_int_eq(dkm_conn_alloc(c, &req, &reg, &fd), 0);
	/* the holder populates the region itself, as the REGION reply asks */
	ck_assert_uint_eq(reg.flags, DKM_REGION_CLIENT_POPULATE);
	map = mmap(NULL, 8 * MIB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ck_assert_ptr_ne(map, MAP_FAILED);
	ck_assert_int_eq(dkm_region_populate(map, 8 * MIB, fd), 0);
	{
		const char *args[] = { "--socket", d.sock, "status", NULL };

		ck_assert_int_eq(run_program(DAXKMEMCTL_PATH, args, (uid_t)-1, out, sizeof(out), 10000), 0);
		ck_assert_msg(strstr(out, "kmem nodes named by kmem_nodes=") != NULL, "%s", out);
		ck_assert_msg(strstr(out, "8.0 MiB") != NULL, "%s", out);
		ck_assert_msg(strstr(out, "Totals: 2 clients, 8.0 MiB brokered, 8.0 MiB resident") != NULL,
			      "%s", out);
		/* the asking client's own memory cgroup, and who populates its regions */
		ck_assert_msg(strstr(out, "This client: memory cgroup ") && strstr(out, cg) &&
				      strstr(out, "populated by the client (charged to its cgroup)"),
			      "%s", out);
	}
	{
		const char *args[] = { "status", "--json", NULL };

		setenv("DAXKMEM_SOCKET", d.sock, 1);
		ck_assert_int_eq(run_program(DAXKMEMCTL_PATH, args, (uid_t)-1, out, sizeof(out), 10000), 0);
		unsetenv("DAXKMEM_SOCKET");
		ck_assert_msg(strstr(out, "\"granted\": 8388608") != NULL, "%s", out);
		ck_assert_msg(strstr(out, "\"kind\": \"kmem\"") != NULL, "%s", out);
	}
	{
		const char *args[] = { "--socket", d.sock, "clients", NULL };

		ck_assert_int_eq(run_program(DAXKMEMCTL_PATH, args, (uid_t)-1, out, sizeof(out), 10000), 0);
		ck_assert_msg(strstr(out, "holder") != NULL && strstr(out, "8.0 MiB") != NULL, "%s", out);
		/* each client's cgroup, and that the holder's memory is charged to it */
		ck_assert_msg(strstr(out, "CHARGED") && strstr(out, "CGROUP") && strstr(out, cg),
			      "%s", out);
		{
			const char *line = strstr(out, "holder");
			const char *end = line ? strchr(line, '\n') : NULL;
			char row[1200];

			ck_assert_ptr_nonnull(end);
			snprintf(row, sizeof(row), "%.*s", (int)(end - line), line);
			ck_assert_msg(strstr(row, " client ") && strstr(row, cg), "%s", out);
		}
		/* another user may see the nodes but not who holds what */
		ck_assert_int_eq(run_program(DAXKMEMCTL_PATH, args, 65534, out, sizeof(out), 10000), 1);
		ck_assert_str_eq(out, "daxkmemctl: clients: listing clients needs root or the admin_group\n");
	}
	{
		const char *args[] = { "--socket", d.sock, "status", NULL };

		ck_assert_int_eq(run_program(DAXKMEMCTL_PATH, args, 65534, out, sizeof(out), 10000), 0);
		/* with the default 0660 socket, another user cannot connect, and is told why */
		chmod(d.sock, 0660);
		ck_assert_int_eq(run_program(DAXKMEMCTL_PATH, args, 65534, out, sizeof(out), 10000), 1);
		ck_assert_msg(strstr(out, "Permission denied (the socket is for root and the daxkmem "
					  "group)") != NULL, "%s", out);
	}
	{
		const char *args[] = { "--socket", d.sock, "clients", "--json", NULL };
		char want[1200];

		ck_assert_int_eq(run_program(DAXKMEMCTL_PATH, args, (uid_t)-1, out, sizeof(out), 10000), 0);
		snprintf(want, sizeof(want), "\"path\": \"%s\"", cg);
		ck_assert_msg(strstr(out, want) && strstr(out, "\"charged_to\": \"client\"") &&
				      strstr(out, "\"client_charged\": 8388608") &&
				      strstr(out, "\"daemon_charged\": 0") &&
				      strstr(out, "\"daemon_populates\": false"),
			      "%s", out);
	}
	/* released memory shows up as released */
	munmap(map, 8 * MIB);
	ck_assert_int_eq(dkm_conn_release(c, reg.id), 0);
	close(fd);
	{
		const char *args[] = { "--socket", d.sock, "--json", "status", NULL };

		ck_assert_int_eq(run_program(DAXKMEMCTL_PATH, args, (uid_t)-1, out, sizeof(out), 10000), 0);
		ck_assert_msg(strstr(out, "\"released\": 8388608") != NULL, "%s", out);
	}
	dkm_conn_close(c);
	daemon_stop(&d);
	{
		const char *args[] = { "--socket", "/nonexistent/daxkmemd.sock", "status", NULL };
		const char *bad[] = { "frobnicate", NULL };

		ck_assert_int_eq(run_program(DAXKMEMCTL_PATH, args, (uid_t)-1, out, sizeof(out), 10000), 1);
		ck_assert_str_eq(out, "daxkmemctl: cannot connect to /nonexistent/daxkmemd.sock: No such "
				      "file or directory (is daxkmemd running?)\n");
		ck_assert_int_eq(run_program(DAXKMEMCTL_PATH, bad, (uid_t)-1, out, sizeof(out), 10000), 2);
		ck_assert_ptr_nonnull(strstr(out, "unknown command \"frobnicate\""));
	}
}
END_TEST

/* Dax devices on a fixture (read-only view) and on this machine's live /sys (no devices here). */
START_TEST(test_devices)
{
	struct daemon d;
	char out[16384];

	daemon_start_args(&d, "socket_mode = 0666\nreconfigure = dax1.0",
			  (const char *const[]){ "--sysfs-root", FIXTURE("devdax"), NULL });
	{
		const char *args[] = { "--socket", d.sock, "devices", NULL };

		ck_assert_int_eq(run_program(DAXKMEMCTL_PATH, args, (uid_t)-1, out, sizeof(out), 10000), 0);
		ck_assert_msg(strstr(out, "dax0.0  system-ram  1006.0 MiB     1     7/7  movable  no") &&
				      strstr(out, "dax1.0  devdax      1006.0 MiB     2       -  -        "
						  "yes") &&
				      strstr(out, "dax2.0  disabled") &&
				      strstr(out, "it cannot reconfigure these"),
			      "%s", out);
	}
	{
		const char *args[] = { "--socket", d.sock, "devices", "--json", NULL };

		ck_assert_int_eq(run_program(DAXKMEMCTL_PATH, args, 65534, out, sizeof(out), 10000), 0);
		/* pretty-printed: one key per line */
		ck_assert_msg(strstr(out, "\"reconfigurable\": false") &&
				      strstr(out, "\"name\": \"dax0.0\",\n      \"mode\": \"system-ram\",\n"
						  "      \"driver\": \"kmem\",\n      \"size\": 1054867456,\n"
						  "      \"node\": 1,\n      \"blocks\": 7,\n"
						  "      \"online_blocks\": 7,\n      \"movable\": true,\n"
						  "      \"uuid\": null,\n      \"selected\": false,\n"
						  "      \"granted\": 0") &&
				      strstr(out, "\"name\": \"dax1.0\",\n      \"mode\": \"devdax\","),
			      "%s", out);
	}
	{
		const char *args[] = { "--socket", d.sock, "reconfigure", NULL };
		const char *dry[] = { "--socket", d.sock, "reconfigure", "--dry-run", "dax1.0", NULL };

		/* only root reconfigures: it destroys persistent data */
		ck_assert_int_eq(run_program(DAXKMEMCTL_PATH, args, 65534, out, sizeof(out), 10000), 1);
		ck_assert_str_eq(out, "daxkmemctl: reconfigure: reconfiguring dax devices needs root: it "
				      "can destroy persistent data\n");
		/* a fixture is not the machine: refused, even as a dry run */
		ck_assert_int_eq(run_program(DAXKMEMCTL_PATH, dry, (uid_t)-1, out, sizeof(out), 10000), 1);
		ck_assert_msg(strstr(out, "devices are reconfigured only there"), "%s", out);
	}
	daemon_stop(&d);

	/* the live /sys of this machine: no dax device, so names match nothing */
	daemon_start(&d, "");
	{
		const char *none[] = { "--socket", d.sock, "reconfigure", NULL };
		const char *named[] = { "--socket", d.sock, "reconfigure", "--dry-run", "dax9.9", NULL };
		const char *back[] = { "--socket", d.sock, "reconfigure", "--mode", "devdax", NULL };
		const char *badopt[] = { "--socket", d.sock, "status", "--dry-run", NULL };
		const char *devs[] = { "--socket", d.sock, "devices", "--json", NULL };

		ck_assert_int_eq(run_program(DAXKMEMCTL_PATH, none, (uid_t)-1, out, sizeof(out), 10000), 1);
		ck_assert_msg(strstr(out, "no device named, and reconfigure= in ") &&
				      strstr(out, " selects none"), "%s", out);
		ck_assert_int_eq(run_program(DAXKMEMCTL_PATH, named, (uid_t)-1, out, sizeof(out), 10000), 1);
		ck_assert_str_eq(out, "daxkmemctl: reconfigure: no dax device is named dax9.9 or comes "
				      "from a namespace with that uuid; nothing was changed\n");
		ck_assert_int_eq(run_program(DAXKMEMCTL_PATH, back, (uid_t)-1, out, sizeof(out), 10000), 2);
		ck_assert_str_eq(out, "daxkmemctl: reconfigure --mode devdax: name the devices\n");
		ck_assert_int_eq(run_program(DAXKMEMCTL_PATH, badopt, (uid_t)-1, out, sizeof(out), 10000), 2);
		/* as many devices as /sys/bus/dax/devices has (none here: missing, or empty
		 * as on a machine whose dax core is loaded without devices) */
		{
			DIR *dir = opendir("/sys/bus/dax/devices");
			struct dirent *e;
			int ndev = 0, listed = 0;

			while (dir && (e = readdir(dir)))
				ndev += e->d_name[0] != '.';
			if (dir)
				closedir(dir);
			ck_assert_int_eq(run_program(DAXKMEMCTL_PATH, devs, (uid_t)-1, out, sizeof(out),
						     10000), 0);
			ck_assert_msg(strstr(out, "\"reconfigurable\": true"), "%s", out);
			for (const char *p = out; (p = strstr(p, "\"name\": ")); p++)
				listed++;
			ck_assert_msg(listed == ndev, "%d devices in /sys, %d listed: %s", ndev, listed,
				      out);
			if (ndev == 0) {
				const char *p = strstr(out, "\"devices\": [");

				ck_assert_msg(p, "%s", out);
				p += strlen("\"devices\": [");
				p += strspn(p, " \n");
				ck_assert_msg(*p == ']', "%s", out);
			}
		}
	}
	ck_assert(daemon_alive(&d));
	daemon_stop(&d);
}
END_TEST

START_TEST(test_limits_and_watchdog)
{
	struct daemon d;
	struct dkm_conn *c1, *c2, *c3 = NULL;
	char err[512];

	/* the service manager asks for a watchdog: the daemon pings at half the interval */
	setenv("WATCHDOG_USEC", "200000", 1);
	daemon_start(&d, "max_clients_per_uid = 2");
	unsetenv("WATCHDOG_USEC");
	ck_assert_ptr_nonnull(daemon_wait_notify(&d, "WATCHDOG=1", 5000));
	ck_assert_ptr_nonnull(daemon_wait_notify(&d, "WATCHDOG=1", 5000));

	/* a third connection of the same uid is refused with a reason */
	c1 = client_open(&d, "one");
	c2 = client_open(&d, "two");
	ck_assert_int_eq(dkm_conn_open(d.sock, "three", &c3, err, sizeof(err)), -EUSERS);
	ck_assert_msg(strstr(err, "uid 0 has 2 connections (max_clients_per_uid=2)") != NULL, "%s", err);
	dkm_conn_close(c2);
	/* once one goes, another may come */
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

static Suite *broker_suite(void)
{
	Suite *s = suite_create("broker-e2e");
	TCase *tc = tcase_create("e2e");

	page = sysconf(_SC_PAGESIZE);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_region_kinds_policy_and_accounting);
	tcase_add_test(tc, test_release_and_disconnect);
	tcase_add_test(tc, test_quota);
	tcase_add_test(tc, test_bad_requests);
	tcase_add_test(tc, test_sigkill_frees);
	tcase_add_test(tc, test_many_clients);
	tcase_add_test(tc, test_hostile);
	tcase_add_test(tc, test_flood_and_cancel);
	tcase_add_test(tc, test_socket_path);
	tcase_add_test(tc, test_daxkmemctl);
	tcase_add_test(tc, test_limits_and_watchdog);
	tcase_add_test(tc, test_devices);
	suite_add_tcase(s, tc);
	return s;
}

DKM_TEST_MAIN(broker_suite)
