/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The wire protocol (proto/wire.c, validate.c) over real socketpairs: framing, validation,
 * descriptor passing. Every test counts the open descriptors of the process
 * before and after, and descriptors that must be dropped are write ends of
 * pipes whose read end then has to see end of file.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test-common.h"
#include "proto/wire.h"

#define HDR sizeof(struct dkm_msg_header)
#define RX_MAX (HDR + DKM_PROTO_MAX_PAYLOAD + HDR)
#define MIB (UINT64_C(1) << 20)

static const uint16_t all_types[] = {
	DKM_MSG_HELLO,        DKM_MSG_HELLO_REPLY,    DKM_MSG_ALLOC_REGION, DKM_MSG_REGION,
	DKM_MSG_RELEASE_REGION, DKM_MSG_RELEASED,     DKM_MSG_STATUS,       DKM_MSG_STATUS_REPLY,
	DKM_MSG_CLIENTS,      DKM_MSG_CLIENTS_REPLY,  DKM_MSG_ERROR,        DKM_MSG_DEVICES,
	DKM_MSG_DEVICES_REPLY, DKM_MSG_RECONFIGURE,   DKM_MSG_RECONFIGURE_REPLY,
};
#define NTYPES ((int)(sizeof(all_types) / sizeof(all_types[0])))

/* ---- helpers ---- */

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

/* A socketpair: sv[0] is the sender ("peer"), sv[1] the receiver with rx. */
struct ctx {
	int fds0;
	int sv[2];
	struct dkm_rx rx;
};

static void ctx_open(struct ctx *c)
{
	c->fds0 = count_fds();
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, c->sv), 0);
	dkm_rx_init(&c->rx);
}

static void ctx_close_peer(struct ctx *c)
{
	if (c->sv[0] >= 0)
		close(c->sv[0]);
	c->sv[0] = -1;
}

static void ctx_close(struct ctx *c)
{
	dkm_rx_clear(&c->rx);
	ctx_close_peer(c);
	close(c->sv[1]);
	ck_assert_int_eq(count_fds(), c->fds0);
}

/* Read what is there and take the next message: 1, 0 (need more, or EOF), or a negative errno. */
static int pump(struct ctx *c, struct dkm_msg *m)
{
	for (;;) {
		int r = dkm_rx_next(&c->rx, m);
		ssize_t n;

		if (r != 0)
			return r;
		n = dkm_rx_fill(&c->rx, c->sv[1]);
		if (n == 0 || n == -EAGAIN)
			return 0;
		if (n < 0)
			return (int)n;
	}
}

static void *xcalloc(size_t n)
{
	void *p = calloc(1, n ? n : 1);

	ck_assert_ptr_nonnull(p);
	return p;
}

static int make_memfd(void)
{
	int fd = memfd_create("test-proto", MFD_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 4096), 0);
	return fd;
}

/* A pipe whose write end is sent away: p[0] non-blocking, sees EOF once every copy of p[1] is closed. */
static void make_pipe(int p[2])
{
	ck_assert_int_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
}

static bool pipe_eof(int rd)
{
	char b;

	return read(rd, &b, 1) == 0;
}

static bool same_file(int a, int b)
{
	struct stat sa, sb;

	ck_assert_int_eq(fstat(a, &sa), 0);
	ck_assert_int_eq(fstat(b, &sb), 0);
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static struct dkm_msg_header mkhdr(uint16_t type, uint32_t len, uint32_t nfds, uint32_t seq)
{
	struct dkm_msg_header h = {
		.magic = DKM_PROTO_MAGIC,
		.major = DKM_PROTO_MAJOR,
		.type = type,
		.flags = 0,
		.payload_len = len,
		.nfds = nfds,
		.seq = seq,
	};

	return h;
}

/* sendmsg all of buf, any number of descriptors on the first byte. */
static void raw_send(int sock, const void *buf, size_t len, const int *fds, unsigned nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 8)];
	} ctl;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	ck_assert_uint_le(nfds, 8);
	if (nfds) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	ck_assert_int_eq(sendmsg(sock, &mh, MSG_NOSIGNAL), (ssize_t)len);
}

/* Send a header and the first `sent` bytes of payload in one write. */
static void send_hdr(int sock, struct dkm_msg_header h, const void *payload, size_t sent,
		     const int *fds, unsigned nfds)
{
	uint8_t *buf = xcalloc(HDR + sent);

	memcpy(buf, &h, HDR);
	if (sent)
		memcpy(buf + HDR, payload, sent);
	raw_send(sock, buf, HDR + sent, fds, nfds);
	free(buf);
}

/* ---- sample payloads, one per type ---- */

static void fill_region(struct dkm_region *r)
{
	memset(r, 0, sizeof(*r));
	r->id = 42;
	r->size = 6 * MIB;
	r->kind = DKM_KIND_KMEM_ALL;
	r->flags = DKM_ALLOC_PREFAULT;
	r->nranges = 2;
	r->ranges[0] = (struct dkm_range){ .offset = 0, .length = 4 * MIB, .node = 2,
					   .policy = DKM_POLICY_BIND };
	r->ranges[1] = (struct dkm_range){ .offset = 4 * MIB, .length = 2 * MIB, .node = 3,
					   .policy = DKM_POLICY_BIND };
}

static void *make_status_reply(uint32_t nnodes, size_t *len)
{
	struct dkm_status st = { .nnodes = nnodes, .nclients = 2, .granted = 8 * MIB,
				 .resident = 4 * MIB, .kmem_from_config = 1 };
	size_t size = sizeof(st) + nnodes * sizeof(struct dkm_status_node) + nnodes * nnodes;
	uint8_t *p = xcalloc(size), *dist;

	memcpy(p, &st, sizeof(st));
	for (uint32_t i = 0; i < nnodes; i++) {
		struct dkm_status_node n = {
			.id = (int32_t)i,
			.kind = i < 2 ? DKM_WIRE_NODE_DRAM : DKM_WIRE_NODE_KMEM,
			.mem_total = i == 1 ? UINT64_MAX : 64 * MIB * (i + 1),
			.mem_free = 32 * MIB,
			.granted = i * MIB,
			.resident = i * MIB / 2,
			.nclients = i % 3,
			.ncpus = i < 2 ? 4 : 0,
		};

		if (i < 2)
			snprintf(n.cpulist, sizeof(n.cpulist), "%u-%u", i * 4, i * 4 + 3);
		memcpy(p + sizeof(st) + i * sizeof(n), &n, sizeof(n));
	}
	dist = p + sizeof(st) + nnodes * sizeof(struct dkm_status_node);
	for (uint32_t i = 0; i < nnodes; i++)
		for (uint32_t j = 0; j < nnodes; j++)
			dist[i * nnodes + j] = i == j ? 10 : (uint8_t)(20 + (i + j) % 100);
	*len = size;
	return p;
}

static void *make_clients_reply(uint32_t n, size_t *len)
{
	struct dkm_clients c = { .n = n };
	size_t size = sizeof(c) + n * sizeof(struct dkm_client_entry);
	uint8_t *p = xcalloc(size);

	memcpy(p, &c, sizeof(c));
	for (uint32_t i = 0; i < n; i++) {
		struct dkm_client_entry e = { .client_id = i + 1, .pid = 1000 + (int32_t)i,
					      .uid = 1000, .gid = 100, .nregions = i,
					      .granted = i * MIB, .resident = i * MIB };

		snprintf(e.name, sizeof(e.name), "client-%u", i);
		memcpy(p + sizeof(c) + i * sizeof(e), &e, sizeof(e));
	}
	*len = size;
	return p;
}

/* A valid payload of the type (malloc'ed, never NULL); *len its size. */

static void *make_devices_reply(uint32_t n, size_t *len)
{
	struct dkm_devices d = { .n = n, .flags = DKM_DEVICES_RECONFIGURABLE };
	uint8_t *p;

	*len = sizeof(d) + n * sizeof(struct dkm_device_entry);
	p = xcalloc(*len);
	memcpy(p, &d, sizeof(d));
	for (uint32_t i = 0; i < n; i++) {
		struct dkm_device_entry e = { .mode = DKM_WIRE_DAX_SYSTEM_RAM, .target_node = 2 + (int)i,
					      .size = 1ull << 30, .blocks = 7, .online_blocks = 7,
					      .movable = 1, .selected = 1, .granted = 64 * MIB };

		snprintf(e.name, sizeof(e.name), "dax%u.0", i);
		strcpy(e.driver, "kmem");
		memcpy(p + sizeof(d) + i * sizeof(e), &e, sizeof(e));
	}
	return p;
}

static void *make_reconfigure_reply(uint32_t n, size_t *len)
{
	struct dkm_reconfigure_reply r = { .n = n, .error = EBUSY };
	uint8_t *p;

	*len = sizeof(r) + n * sizeof(struct dkm_reconfigure_step);
	p = xcalloc(*len);
	memcpy(p, &r, sizeof(r));
	for (uint32_t i = 0; i < n; i++) {
		struct dkm_reconfigure_step st = { .action = DKM_WIRE_RECONF_TO_RAM,
						   .before = DKM_WIRE_DAX_DEVDAX,
						   .after = DKM_WIRE_DAX_SYSTEM_RAM, .node = 2,
						   .blocks = 7, .online_after = 7, .movable = 1,
						   .flags = DKM_RECONF_STEP_AUTO_ONLINED };

		snprintf(st.name, sizeof(st.name), "dax%u.0", i);
		strcpy(st.message, "converting devdax -> system-ram");
		memcpy(p + sizeof(r) + i * sizeof(st), &st, sizeof(st));
	}
	return p;
}

static void *make_payload(uint16_t type, size_t *len)
{
	switch (type) {
	case DKM_MSG_HELLO: {
		struct dkm_hello *x = xcalloc(sizeof(*x));

		x->major = DKM_PROTO_MAJOR;
		x->minor = DKM_PROTO_MINOR;
		strcpy(x->name, "test-proto");
		*len = sizeof(*x);
		return x;
	}
	case DKM_MSG_HELLO_REPLY: {
		struct dkm_hello_reply *x = xcalloc(sizeof(*x));

		x->major = DKM_PROTO_MAJOR;
		x->minor = DKM_PROTO_MINOR;
		x->client_id = 7;
		x->max_region_size = 1024 * MIB;
		x->max_regions = 64;
		*len = sizeof(*x);
		return x;
	}
	case DKM_MSG_ALLOC_REGION: {
		struct dkm_alloc_region *x = xcalloc(sizeof(*x));

		x->kind = DKM_KIND_KMEM_ALL;
		x->flags = DKM_ALLOC_NO_PREFAULT;
		x->size = 2 * MIB;
		x->cpu_node = 1;
		dkm_nodeset_set(&x->kmem_nodes, 2);
		dkm_nodeset_set(&x->kmem_nodes, 1000);
		*len = sizeof(*x);
		return x;
	}
	case DKM_MSG_REGION: {
		struct dkm_region *x = xcalloc(sizeof(*x));

		fill_region(x);
		*len = sizeof(*x);
		return x;
	}
	case DKM_MSG_RELEASE_REGION:
	case DKM_MSG_RELEASED: {
		struct dkm_release_region *x = xcalloc(sizeof(*x));

		x->id = 42;
		*len = sizeof(*x);
		return x;
	}
	case DKM_MSG_STATUS:
	case DKM_MSG_CLIENTS:
	case DKM_MSG_DEVICES:
		*len = 0;
		return xcalloc(0);
	case DKM_MSG_DEVICES_REPLY:
		return make_devices_reply(2, len);
	case DKM_MSG_RECONFIGURE: {
		struct dkm_reconfigure *x = xcalloc(sizeof(*x));

		x->mode = DKM_WIRE_DAX_DEVDAX;
		x->flags = DKM_RECONF_DRY_RUN;
		x->ndevices = 2;
		strcpy(x->devices[0], "dax0.0");
		strcpy(x->devices[1], "c1e6e0a4-5b3c-4d8e-9f0a-1b2c3d4e5f60");
		*len = sizeof(*x);
		return x;
	}
	case DKM_MSG_RECONFIGURE_REPLY:
		return make_reconfigure_reply(2, len);
	case DKM_MSG_STATUS_REPLY:
		return make_status_reply(3, len);
	case DKM_MSG_CLIENTS_REPLY:
		return make_clients_reply(2, len);
	case DKM_MSG_ERROR: {
		struct dkm_error *x = xcalloc(sizeof(*x));

		x->errno_value = ENOSPC;
		x->request_type = DKM_MSG_ALLOC_REGION;
		strcpy(x->message, "no space: node 2 has 0 B free, 2 MiB asked");
		*len = sizeof(*x);
		return x;
	}
	default:
		ck_abort_msg("no sample for type %#x", type);
		return NULL;
	}
}

static unsigned type_nfds(uint16_t type)
{
	return type == DKM_MSG_REGION ? 1 : 0;
}

static void check_msg(const struct dkm_msg *m, uint16_t type, uint32_t seq, const void *payload,
		      size_t len)
{
	ck_assert_uint_eq(m->hdr.magic, DKM_PROTO_MAGIC);
	ck_assert_uint_eq(m->hdr.major, DKM_PROTO_MAJOR);
	ck_assert_uint_eq(m->hdr.type, type);
	ck_assert_uint_eq(m->hdr.flags, 0);
	ck_assert_uint_eq(m->hdr.payload_len, len);
	ck_assert_uint_eq(m->hdr.nfds, type_nfds(type));
	ck_assert_uint_eq(m->hdr.seq, seq);
	if (len) {
		ck_assert_ptr_nonnull(m->payload);
		ck_assert_mem_eq(m->payload, payload, len);
	} else {
		ck_assert_ptr_null(m->payload);
	}
	ck_assert_int_eq(dkm_wire_validate(m), 0);
}

/* ---- round trips ---- */

START_TEST(test_roundtrip)
{
	uint16_t type = all_types[_i];
	struct dkm_msg m;
	struct ctx c;
	size_t len;
	void *p = make_payload(type, &len);
	int fd = -1;

	ctx_open(&c);
	if (type_nfds(type))
		fd = make_memfd();
	ck_assert_int_eq(dkm_wire_send_msg(c.sv[0], type, 100 + (uint32_t)_i, p, len, &fd,
					   type_nfds(type)),
			 0);
	ck_assert_int_eq(pump(&c, &m), 1);
	check_msg(&m, type, 100 + (uint32_t)_i, p, len);
	ck_assert(!dkm_rx_pending(&c.rx));
	ck_assert_int_eq(dkm_rx_next(&c.rx, &m), 0);
	if (fd >= 0) {
		int got = dkm_msg_take_fd(&m, 0);

		ck_assert_int_ge(got, 0);
		ck_assert_int_ne(got, fd);
		ck_assert(same_file(got, fd));
		ck_assert_int_eq(fcntl(got, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
		ck_assert_int_eq(dkm_msg_take_fd(&m, 0), -1);
		close(got);
		close(fd);
	}
	dkm_msg_clear(&m);
	ck_assert_ptr_null(m.payload);
	ck_assert_int_eq(m.fds[0], -1);
	free(p);
	ctx_close(&c);
}
END_TEST

/* The REGION's memfd is delivered even when the message stays in the receiver (clear closes it). */
START_TEST(test_region_fd_closed_by_clear)
{
	struct dkm_msg m;
	struct ctx c;
	size_t len;
	void *p = make_payload(DKM_MSG_REGION, &len);
	int pp[2];

	ctx_open(&c);
	make_pipe(pp);
	ck_assert_int_eq(dkm_wire_send_msg(c.sv[0], DKM_MSG_REGION, 1, p, len, &pp[1], 1), 0);
	close(pp[1]);
	ck_assert_int_eq(pump(&c, &m), 1);
	ck_assert(!pipe_eof(pp[0]));
	dkm_msg_clear(&m);
	ck_assert(pipe_eof(pp[0]));
	close(pp[0]);
	free(p);
	ctx_close(&c);
}
END_TEST

/* ---- truncated, oversized, unknown, wrong size ---- */

START_TEST(test_truncated)
{
	uint16_t type = all_types[_i];
	struct dkm_msg m;
	struct ctx c;
	size_t len;
	void *p = make_payload(type, &len);
	void *buf;
	size_t blen;
	int pp[2] = { -1, -1 };

	ctx_open(&c);
	if (type_nfds(type))
		make_pipe(pp);
	/* everything but the last byte (of the header, for payload-less types) */
	ck_assert_int_eq(dkm_wire_encode(type, 9, p, len, type_nfds(type), &buf, &blen), 0);
	raw_send(c.sv[0], buf, blen - 1, &pp[1], type_nfds(type));
	free(buf);
	if (pp[1] >= 0)
		close(pp[1]);
	ctx_close_peer(&c);
	ck_assert_int_eq(pump(&c, &m), 0);
	ck_assert_int_eq(dkm_rx_fill(&c.rx, c.sv[1]), 0);
	ck_assert_int_eq(dkm_rx_next(&c.rx, &m), 0);
	ck_assert(dkm_rx_pending(&c.rx));
	ck_assert_uint_eq(c.rx.len, blen - 1);
	if (pp[0] >= 0) {
		dkm_rx_clear(&c.rx);
		ck_assert(pipe_eof(pp[0]));
		close(pp[0]);
	}
	free(p);
	ctx_close(&c);
}
END_TEST

START_TEST(test_oversized)
{
	static const uint32_t sizes[] = { DKM_PROTO_MAX_PAYLOAD + 1, 1u << 20, UINT32_MAX };
	uint16_t type = all_types[_i];

	for (unsigned k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		struct dkm_msg_header h = mkhdr(type, sizes[k], type_nfds(type), 1);
		struct dkm_msg m;
		struct ctx c;

		ctx_open(&c);
		/* header in two writes: nothing to say until its last byte */
		raw_send(c.sv[0], &h, HDR - 1, NULL, 0);
		ck_assert_int_eq(pump(&c, &m), 0);
		raw_send(c.sv[0], (uint8_t *)&h + HDR - 1, 1, NULL, 0);
		ck_assert_int_eq(pump(&c, &m), -EMSGSIZE);
		ctx_close(&c);
	}
}
END_TEST

/* A fixed-size type announcing another size fails on its header, before any payload. */
START_TEST(test_wrong_size_fails_fast)
{
	struct dkm_msg m;
	struct ctx c;

	ctx_open(&c);
	send_hdr(c.sv[0], mkhdr(DKM_MSG_HELLO, 1000, 0, 1), NULL, 0, NULL, 0);
	ck_assert_int_eq(pump(&c, &m), -EPROTO);
	ctx_close(&c);

	ctx_open(&c);
	send_hdr(c.sv[0], mkhdr(DKM_MSG_STATUS, DKM_PROTO_MAX_PAYLOAD, 0, 1), NULL, 0, NULL, 0);
	ck_assert_int_eq(pump(&c, &m), -EPROTO);
	ctx_close(&c);

	/* a variable type shorter than its fixed part */
	ctx_open(&c);
	send_hdr(c.sv[0], mkhdr(DKM_MSG_STATUS_REPLY, sizeof(struct dkm_status) - 1, 0, 1), NULL,
		 0, NULL, 0);
	ck_assert_int_eq(pump(&c, &m), -EPROTO);
	ctx_close(&c);
}
END_TEST

START_TEST(test_unknown_type)
{
	static const uint16_t bad[] = { 0, 0x0001, 0x0100, 0x0103, 0x0200, 0x0205, 0x0300,
					0x0305, 0x7f00, 0x7f02, 0x8001, 0xffff };

	for (unsigned k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		struct dkm_msg m;
		struct ctx c;

		ck_assert_str_eq(dkm_msg_type_name(bad[k]), "unknown");
		ctx_open(&c);
		send_hdr(c.sv[0], mkhdr(bad[k], 0, 0, 1), NULL, 0, NULL, 0);
		ck_assert_msg(pump(&c, &m) == -EPROTO, "type %#x accepted", bad[k]);
		ctx_close(&c);
	}
}
END_TEST

static void expect_size_rejected(uint16_t type, const void *p, size_t declared)
{
	struct dkm_msg m;
	struct ctx c;
	int fd = -1;

	ctx_open(&c);
	if (type_nfds(type))
		fd = make_memfd();
	send_hdr(c.sv[0], mkhdr(type, (uint32_t)declared, type_nfds(type), 1), p, declared, &fd,
		 type_nfds(type));
	ck_assert_msg(pump(&c, &m) == -EPROTO, "%s with %zu bytes accepted",
		      dkm_msg_type_name(type), declared);
	if (fd >= 0)
		close(fd);
	ctx_close(&c);
}

START_TEST(test_wrong_size)
{
	uint16_t type = all_types[_i];
	size_t len;
	uint8_t *p = make_payload(type, &len);
	uint8_t *longer = xcalloc(len + 1);

	memcpy(longer, p, len);
	if (len > 0)
		expect_size_rejected(type, p, len - 1); /* one byte short */
	expect_size_rejected(type, longer, len + 1);    /* one trailing byte */
	free(longer);
	free(p);
}
END_TEST

/* ---- descriptors ---- */

START_TEST(test_region_without_fd)
{
	struct dkm_msg m;
	struct ctx c;
	size_t len;
	void *p = make_payload(DKM_MSG_REGION, &len);

	/* header says 0 descriptors */
	ctx_open(&c);
	send_hdr(c.sv[0], mkhdr(DKM_MSG_REGION, (uint32_t)len, 0, 1), p, len, NULL, 0);
	ck_assert_int_eq(pump(&c, &m), -EPROTO);
	ctx_close(&c);

	/* header says 1, none sent */
	ctx_open(&c);
	send_hdr(c.sv[0], mkhdr(DKM_MSG_REGION, (uint32_t)len, 1, 1), p, len, NULL, 0);
	ck_assert_int_eq(pump(&c, &m), -EPROTO);
	ctx_close(&c);

	/* header says 1, none sent, and it fails as soon as the message is complete */
	ctx_open(&c);
	send_hdr(c.sv[0], mkhdr(DKM_MSG_REGION, (uint32_t)len, 1, 1), p, len - 1, NULL, 0);
	ck_assert_int_eq(pump(&c, &m), 0);
	raw_send(c.sv[0], (uint8_t *)p + len - 1, 1, NULL, 0);
	ck_assert_int_eq(pump(&c, &m), -EPROTO);
	ctx_close(&c);
	free(p);
}
END_TEST

START_TEST(test_region_too_many_fds)
{
	struct dkm_msg m;
	struct ctx c;
	size_t len;
	void *p = make_payload(DKM_MSG_REGION, &len);
	int a[2], b[2], fds[2];

	/* header says 2 */
	ctx_open(&c);
	make_pipe(a);
	make_pipe(b);
	fds[0] = a[1];
	fds[1] = b[1];
	send_hdr(c.sv[0], mkhdr(DKM_MSG_REGION, (uint32_t)len, 2, 1), p, len, fds, 2);
	close(a[1]);
	close(b[1]);
	ck_assert_int_eq(pump(&c, &m), -EPROTO);
	dkm_rx_clear(&c.rx);
	ck_assert(pipe_eof(a[0]) && pipe_eof(b[0]));
	close(a[0]);
	close(b[0]);
	ctx_close(&c);

	/* header says 1, two sent: the second is claimed by nobody */
	ctx_open(&c);
	make_pipe(a);
	make_pipe(b);
	fds[0] = a[1];
	fds[1] = b[1];
	send_hdr(c.sv[0], mkhdr(DKM_MSG_REGION, (uint32_t)len, 1, 1), p, len, fds, 2);
	close(a[1]);
	close(b[1]);
	ck_assert_int_eq(pump(&c, &m), -EPROTO);
	dkm_rx_clear(&c.rx);
	ck_assert(pipe_eof(a[0]) && pipe_eof(b[0]));
	close(a[0]);
	close(b[0]);
	ctx_close(&c);
	free(p);
}
END_TEST

/* Descriptors where none are expected (every type but REGION): -EPROTO, and they are closed. */
START_TEST(test_unexpected_fd)
{
	uint16_t type = all_types[_i];
	size_t len;
	void *p = make_payload(type, &len);

	if (type_nfds(type) == 0) {
		for (unsigned declared = 0; declared <= 1; declared++) {
			struct dkm_msg m;
			struct ctx c;
			int pp[2];

			ctx_open(&c);
			make_pipe(pp);
			send_hdr(c.sv[0], mkhdr(type, (uint32_t)len, declared, 1), p, len, &pp[1], 1);
			close(pp[1]);
			ck_assert_int_eq(pump(&c, &m), -EPROTO);
			ck_assert(!pipe_eof(pp[0])); /* still pending in rx */
			dkm_rx_clear(&c.rx);
			ck_assert(pipe_eof(pp[0]));
			close(pp[0]);
			ctx_close(&c);
		}
	}
	free(p);
}
END_TEST

/* A STATUS carrying a descriptor, followed in the same write by a complete valid message. */
START_TEST(test_unexpected_fd_then_more)
{
	struct dkm_msg m;
	struct ctx c;
	uint8_t buf[2 * HDR];
	int pp[2];
	struct dkm_msg_header h = mkhdr(DKM_MSG_STATUS, 0, 0, 1);

	ctx_open(&c);
	make_pipe(pp);
	memcpy(buf, &h, HDR);
	h.seq = 2;
	memcpy(buf + HDR, &h, HDR);
	raw_send(c.sv[0], buf, sizeof(buf), &pp[1], 1);
	close(pp[1]);
	/* the first might have been its owner; the second ends the read that brought it */
	ck_assert_int_eq(pump(&c, &m), 1);
	dkm_msg_clear(&m);
	ck_assert_int_eq(pump(&c, &m), -EPROTO);
	dkm_rx_clear(&c.rx);
	ck_assert(pipe_eof(pp[0]));
	close(pp[0]);
	ctx_close(&c);
}
END_TEST

/* A descriptor sent with a later part of the message, not its header: -EPROTO. */
START_TEST(test_fd_not_on_header)
{
	struct dkm_msg m;
	struct ctx c;
	size_t len;
	void *p = make_payload(DKM_MSG_REGION, &len);
	int pp[2];

	ctx_open(&c);
	make_pipe(pp);
	send_hdr(c.sv[0], mkhdr(DKM_MSG_REGION, (uint32_t)len, 1, 1), p, 100, NULL, 0);
	ck_assert_int_eq(dkm_rx_fill(&c.rx, c.sv[1]), (ssize_t)(HDR + 100));
	raw_send(c.sv[0], (uint8_t *)p + 100, len - 100, &pp[1], 1);
	close(pp[1]);
	ck_assert_int_eq(pump(&c, &m), -EPROTO);
	dkm_rx_clear(&c.rx);
	ck_assert(pipe_eof(pp[0]));
	close(pp[0]);
	free(p);
	ctx_close(&c);
}
END_TEST

/* More descriptors than the control buffer holds: MSG_CTRUNC, all closed. */
START_TEST(test_ctrunc)
{
	struct dkm_msg m;
	struct ctx c;
	int pp[3][2], fds[3];

	ctx_open(&c);
	for (int i = 0; i < 3; i++) {
		make_pipe(pp[i]);
		fds[i] = pp[i][1];
	}
	send_hdr(c.sv[0], mkhdr(DKM_MSG_STATUS, 0, 0, 1), NULL, 0, fds, 3);
	for (int i = 0; i < 3; i++)
		close(pp[i][1]);
	ck_assert_int_eq(dkm_rx_fill(&c.rx, c.sv[1]), -EPROTO);
	ck_assert(!dkm_rx_pending(&c.rx));
	for (int i = 0; i < 3; i++) {
		ck_assert(pipe_eof(pp[i][0]));
		close(pp[i][0]);
	}
	ck_assert_int_eq(dkm_rx_next(&c.rx, &m), 0);
	ctx_close(&c);
}
END_TEST

/* Descriptors piling up unclaimed beyond the pending array: -EPROTO, all closed. */
START_TEST(test_too_many_pending)
{
	struct ctx c;
	int pp[3][2], fds[2];
	struct dkm_msg_header h = mkhdr(DKM_MSG_STATUS, 0, 0, 1);

	ctx_open(&c);
	for (int i = 0; i < 3; i++)
		make_pipe(pp[i]);
	fds[0] = pp[0][1];
	fds[1] = pp[1][1];
	raw_send(c.sv[0], &h, 10, fds, 2);
	ck_assert_int_eq(dkm_rx_fill(&c.rx, c.sv[1]), 10);
	ck_assert_uint_eq(c.rx.nfds, 2);
	raw_send(c.sv[0], (uint8_t *)&h + 10, 5, &pp[2][1], 1);
	for (int i = 0; i < 3; i++)
		close(pp[i][1]);
	ck_assert_int_eq(dkm_rx_fill(&c.rx, c.sv[1]), -EPROTO);
	for (int i = 0; i < 3; i++) {
		ck_assert(pipe_eof(pp[i][0]));
		close(pp[i][0]);
	}
	ctx_close(&c);
}
END_TEST

/* Credentials (SO_PASSCRED on the receiver) are a control message we do not accept (with
 * the receiver's small control buffer they arrive truncated): -EPROTO, nothing leaks. */
START_TEST(test_foreign_cmsg)
{
	struct ctx c;
	int one = 1, pp[2];

	ctx_open(&c);
	make_pipe(pp);
	ck_assert_int_eq(setsockopt(c.sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)), 0);
	send_hdr(c.sv[0], mkhdr(DKM_MSG_STATUS, 0, 0, 1), NULL, 0, &pp[1], 1);
	close(pp[1]);
	ck_assert_int_eq(dkm_rx_fill(&c.rx, c.sv[1]), -EPROTO);
	ck_assert(pipe_eof(pp[0]));
	close(pp[0]);
	ctx_close(&c);
}
END_TEST

/* ---- header fields ---- */

START_TEST(test_bad_magic)
{
	static const uint32_t magics[] = { 0, 0x584b4d44u /* byte-swapped */, DKM_PROTO_MAGIC + 1,
					   UINT32_MAX };

	for (unsigned k = 0; k < sizeof(magics) / sizeof(magics[0]); k++) {
		struct dkm_msg_header h = mkhdr(DKM_MSG_HELLO, sizeof(struct dkm_hello), 0, 1);
		struct dkm_msg m;
		struct ctx c;

		h.magic = magics[k];
		ctx_open(&c);
		/* only the header: it fails without waiting for the payload */
		send_hdr(c.sv[0], h, NULL, 0, NULL, 0);
		ck_assert_int_eq(pump(&c, &m), -EPROTO);
		ctx_close(&c);
	}
}
END_TEST

START_TEST(test_flags)
{
	static const uint32_t flags[] = { 1, 0x100, 0x80000000u };

	for (unsigned k = 0; k < sizeof(flags) / sizeof(flags[0]); k++) {
		struct dkm_msg_header h = mkhdr(DKM_MSG_STATUS, 0, 0, 1);
		struct dkm_msg m;
		struct ctx c;

		h.flags = flags[k];
		ctx_open(&c);
		send_hdr(c.sv[0], h, NULL, 0, NULL, 0);
		ck_assert_int_eq(pump(&c, &m), -EPROTO);
		ctx_close(&c);
	}
}
END_TEST

/* Header major: DKM_PROTO_MAJOR, except on HELLO (so the daemon can refuse it readably) and ERROR. */
START_TEST(test_major)
{
	static const uint16_t majors[] = { 0, DKM_PROTO_MAJOR + 1, 0xffff };

	for (unsigned k = 0; k < sizeof(majors) / sizeof(majors[0]); k++) {
		struct dkm_msg_header h = mkhdr(DKM_MSG_STATUS, 0, 0, 1);
		struct dkm_hello hello = { .major = majors[k] };
		size_t len;
		void *err = make_payload(DKM_MSG_ERROR, &len);
		struct dkm_msg m;
		struct ctx c;

		h.major = majors[k];
		ctx_open(&c);
		send_hdr(c.sv[0], h, NULL, 0, NULL, 0);
		ck_assert_int_eq(pump(&c, &m), -EPROTO);
		ctx_close(&c);

		strcpy(hello.name, "future-client");
		h = mkhdr(DKM_MSG_HELLO, sizeof(hello), 0, 1);
		h.major = majors[k];
		ctx_open(&c);
		send_hdr(c.sv[0], h, &hello, sizeof(hello), NULL, 0);
		ck_assert_int_eq(pump(&c, &m), 1);
		ck_assert_uint_eq(m.hdr.major, majors[k]);
		ck_assert_int_eq(dkm_wire_validate(&m), 0);
		dkm_msg_clear(&m);
		ctx_close(&c);

		/* its flags may mean something in its major; the name must still be a string */
		hello.flags = 1;
		ctx_open(&c);
		send_hdr(c.sv[0], h, &hello, sizeof(hello), NULL, 0);
		ck_assert_int_eq(pump(&c, &m), 1);
		dkm_msg_clear(&m);
		ctx_close(&c);
		memset(hello.name, 'x', sizeof(hello.name));
		ctx_open(&c);
		send_hdr(c.sv[0], h, &hello, sizeof(hello), NULL, 0);
		ck_assert_int_eq(pump(&c, &m), -EPROTO);
		ctx_close(&c);

		h = mkhdr(DKM_MSG_ERROR, (uint32_t)len, 0, 1);
		h.major = majors[k];
		ctx_open(&c);
		send_hdr(c.sv[0], h, err, len, NULL, 0);
		ck_assert_int_eq(pump(&c, &m), 1);
		dkm_msg_clear(&m);
		ctx_close(&c);
		free(err);
	}
}
END_TEST

/* ---- framing ---- */

START_TEST(test_several_in_one_write)
{
	/* REGION first: its descriptor goes with the first byte of the write */
	static const uint16_t order[] = { DKM_MSG_REGION, DKM_MSG_STATUS, DKM_MSG_HELLO,
					  DKM_MSG_STATUS_REPLY, DKM_MSG_RELEASED, DKM_MSG_CLIENTS,
					  DKM_MSG_ERROR };
	enum { N = sizeof(order) / sizeof(order[0]) };
	void *payloads[N];
	size_t lens[N], total = 0;
	uint8_t *all = NULL;
	struct dkm_msg m;
	struct ctx c;
	int fd;

	ctx_open(&c);
	fd = make_memfd();
	for (unsigned i = 0; i < N; i++) {
		void *buf;
		size_t blen;

		payloads[i] = make_payload(order[i], &lens[i]);
		ck_assert_int_eq(dkm_wire_encode(order[i], i, payloads[i], lens[i],
						 type_nfds(order[i]), &buf, &blen),
				 0);
		all = realloc(all, total + blen);
		ck_assert_ptr_nonnull(all);
		memcpy(all + total, buf, blen);
		total += blen;
		free(buf);
	}
	ck_assert_int_eq(dkm_wire_send(c.sv[0], all, total, &fd, 1, false), (ssize_t)total);
	ck_assert_int_eq(dkm_rx_fill(&c.rx, c.sv[1]), (ssize_t)total);
	for (unsigned i = 0; i < N; i++) {
		ck_assert_int_eq(dkm_rx_next(&c.rx, &m), 1);
		check_msg(&m, order[i], i, payloads[i], lens[i]);
		if (order[i] == DKM_MSG_REGION)
			ck_assert(same_file(m.fds[0], fd));
		dkm_msg_clear(&m);
		free(payloads[i]);
	}
	ck_assert_int_eq(dkm_rx_next(&c.rx, &m), 0);
	ck_assert(!dkm_rx_pending(&c.rx));
	close(fd);
	free(all);
	ctx_close(&c);
}
END_TEST

/* Separate writes, the descriptor on the second, all read at once. */
START_TEST(test_fd_on_later_message)
{
	size_t hlen, rlen;
	void *hello = make_payload(DKM_MSG_HELLO, &hlen);
	void *region = make_payload(DKM_MSG_REGION, &rlen);
	struct dkm_msg m;
	struct ctx c;
	int fd;

	ctx_open(&c);
	fd = make_memfd();
	ck_assert_int_eq(dkm_wire_send_msg(c.sv[0], DKM_MSG_HELLO, 1, hello, hlen, NULL, 0), 0);
	ck_assert_int_eq(dkm_wire_send_msg(c.sv[0], DKM_MSG_STATUS, 2, NULL, 0, NULL, 0), 0);
	ck_assert_int_eq(dkm_wire_send_msg(c.sv[0], DKM_MSG_REGION, 3, region, rlen, &fd, 1), 0);
	ck_assert_int_eq(dkm_rx_fill(&c.rx, c.sv[1]), (ssize_t)(3 * HDR + hlen + rlen));
	ck_assert_int_eq(dkm_rx_next(&c.rx, &m), 1);
	check_msg(&m, DKM_MSG_HELLO, 1, hello, hlen);
	dkm_msg_clear(&m);
	ck_assert_int_eq(dkm_rx_next(&c.rx, &m), 1);
	check_msg(&m, DKM_MSG_STATUS, 2, NULL, 0);
	dkm_msg_clear(&m);
	ck_assert_int_eq(dkm_rx_next(&c.rx, &m), 1);
	check_msg(&m, DKM_MSG_REGION, 3, region, rlen);
	ck_assert(same_file(m.fds[0], fd));
	dkm_msg_clear(&m);
	ck_assert(!dkm_rx_pending(&c.rx));
	close(fd);
	free(hello);
	free(region);
	ctx_close(&c);
}
END_TEST

START_TEST(test_byte_by_byte)
{
	static const uint16_t order[] = { DKM_MSG_HELLO, DKM_MSG_REGION, DKM_MSG_STATUS,
					  DKM_MSG_STATUS_REPLY };
	struct ctx c;
	int fd;

	ctx_open(&c);
	fd = make_memfd();
	for (unsigned i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		size_t len, blen;
		void *p = make_payload(order[i], &len), *buf;
		unsigned nfds = type_nfds(order[i]);
		struct dkm_msg m;

		ck_assert_int_eq(dkm_wire_encode(order[i], i, p, len, nfds, &buf, &blen), 0);
		for (size_t k = 0; k < blen; k++) {
			ck_assert_int_eq(dkm_wire_send(c.sv[0], (uint8_t *)buf + k, 1,
						       k ? NULL : &fd, k ? 0 : nfds, true),
					 1);
			ck_assert_int_eq(dkm_rx_fill(&c.rx, c.sv[1]), 1);
			if (k + 1 < blen) {
				ck_assert_int_eq(dkm_rx_next(&c.rx, &m), 0);
				ck_assert(dkm_rx_pending(&c.rx));
			}
		}
		ck_assert_int_eq(dkm_rx_next(&c.rx, &m), 1);
		check_msg(&m, order[i], i, p, len);
		if (nfds)
			ck_assert(same_file(m.fds[0], fd));
		ck_assert(!dkm_rx_pending(&c.rx));
		dkm_msg_clear(&m);
		free(buf);
		free(p);
	}
	close(fd);
	ctx_close(&c);
}
END_TEST

/* A near-maximal STATUS_REPLY, sent non-blocking in pieces while the receiver reads. */
START_TEST(test_large_message)
{
	size_t len, blen, off = 0, maxn = 0;
	void *p, *buf;
	struct dkm_msg m;
	struct ctx c;
	int r = 0;

	/* the most nodes whose reply fits */
	while (sizeof(struct dkm_status) + (maxn + 1) * sizeof(struct dkm_status_node) +
		       (maxn + 1) * (maxn + 1) <=
	       DKM_PROTO_MAX_PAYLOAD)
		maxn++;
	p = make_status_reply((unsigned)maxn, &len);
	ck_assert_uint_le(len, DKM_PROTO_MAX_PAYLOAD);
	ck_assert_uint_gt(len, DKM_PROTO_MAX_PAYLOAD - sizeof(struct dkm_status_node) - 2 * maxn - 1);
	ctx_open(&c);
	ck_assert_int_eq(dkm_wire_encode(DKM_MSG_STATUS_REPLY, 77, p, len, 0, &buf, &blen), 0);
	while (off < blen || r == 0) {
		if (off < blen) {
			ssize_t n = dkm_wire_send(c.sv[0], (uint8_t *)buf + off, blen - off, NULL, 0,
						  true);

			if (n != -EAGAIN) {
				ck_assert_int_gt(n, 0);
				off += (size_t)n;
			}
		}
		r = pump(&c, &m);
		ck_assert_int_ge(r, 0);
		ck_assert_uint_le(c.rx.cap, RX_MAX);
		if (r == 0)
			ck_assert(off < blen);
	}
	check_msg(&m, DKM_MSG_STATUS_REPLY, 77, p, len);
	dkm_msg_clear(&m);
	free(buf);
	/* payload beyond the maximum cannot even be built */
	buf = NULL;
	ck_assert_int_eq(dkm_wire_encode(DKM_MSG_STATUS_REPLY, 1, p, DKM_PROTO_MAX_PAYLOAD + 1, 0,
					 &buf, &blen),
			 -EMSGSIZE);
	ck_assert_ptr_null(buf);
	free(p);
	ctx_close(&c);
}
END_TEST

/* A receiver that never takes messages out buffers one maximal message and a header, no more. */
START_TEST(test_buffer_bound)
{
	enum { NMSG = (RX_MAX + 4096) / HDR };
	uint8_t *stream = xcalloc(NMSG * HDR);
	size_t off = 0;
	struct dkm_msg m;
	struct ctx c;
	ssize_t n;

	for (unsigned i = 0; i < NMSG; i++) {
		struct dkm_msg_header h = mkhdr(DKM_MSG_STATUS, 0, 0, i);

		memcpy(stream + i * HDR, &h, HDR);
	}
	ctx_open(&c);
	for (;;) {
		if (off < NMSG * HDR) {
			n = dkm_wire_send(c.sv[0], stream + off, NMSG * HDR - off, NULL, 0, true);
			if (n != -EAGAIN) {
				ck_assert_int_gt(n, 0);
				off += (size_t)n;
			}
		}
		n = dkm_rx_fill(&c.rx, c.sv[1]);
		if (n == -EMSGSIZE)
			break;
		ck_assert_msg(n > 0 || n == -EAGAIN, "fill: %zd", n);
	}
	ck_assert_uint_eq(c.rx.len, RX_MAX);
	ck_assert_int_eq(dkm_rx_fill(&c.rx, c.sv[1]), -EMSGSIZE);
	while (off < NMSG * HDR) {
		n = dkm_wire_send(c.sv[0], stream + off, NMSG * HDR - off, NULL, 0, true);
		ck_assert_int_gt(n, 0);
		off += (size_t)n;
	}
	/* taking a message makes room again */
	ck_assert_int_eq(dkm_rx_next(&c.rx, &m), 1);
	ck_assert_uint_eq(m.hdr.seq, 0);
	dkm_msg_clear(&m);
	ck_assert_int_eq(dkm_rx_fill(&c.rx, c.sv[1]), (ssize_t)HDR);
	free(stream);
	ctx_close(&c);
}
END_TEST

/* ---- blocking helpers ---- */

START_TEST(test_recv_msg)
{
	size_t len;
	void *p = make_payload(DKM_MSG_HELLO_REPLY, &len), *buf;
	size_t blen;
	struct dkm_msg m;
	struct ctx c;

	ctx_open(&c);
	ck_assert_int_eq(dkm_wire_send_msg(c.sv[0], DKM_MSG_HELLO_REPLY, 1, p, len, NULL, 0), 0);
	ck_assert_int_eq(dkm_wire_send_msg(c.sv[0], DKM_MSG_RELEASED, 2, p, 8, NULL, 0), 0);
	ck_assert_int_eq(dkm_wire_encode(DKM_MSG_HELLO_REPLY, 3, p, len, 0, &buf, &blen), 0);
	raw_send(c.sv[0], buf, 10, NULL, 0);

	ck_assert_int_eq(dkm_wire_recv_msg(c.sv[1], &c.rx, &m, 1000), 0);
	check_msg(&m, DKM_MSG_HELLO_REPLY, 1, p, len);
	dkm_msg_clear(&m);
	ck_assert_int_eq(dkm_wire_recv_msg(c.sv[1], &c.rx, &m, 1000), 0);
	check_msg(&m, DKM_MSG_RELEASED, 2, p, 8);
	dkm_msg_clear(&m);
	/* part of the third is buffered */
	ck_assert_int_eq(dkm_wire_recv_msg(c.sv[1], &c.rx, &m, 30), -ETIMEDOUT);
	ck_assert(dkm_rx_pending(&c.rx));
	ck_assert_int_eq(dkm_wire_recv_msg(c.sv[1], &c.rx, &m, 0), -ETIMEDOUT);
	raw_send(c.sv[0], (uint8_t *)buf + 10, blen - 10, NULL, 0);
	ck_assert_int_eq(dkm_wire_recv_msg(c.sv[1], &c.rx, &m, -1), 0);
	check_msg(&m, DKM_MSG_HELLO_REPLY, 3, p, len);
	dkm_msg_clear(&m);
	/* end of file */
	ck_assert_int_eq(shutdown(c.sv[0], SHUT_WR), 0);
	ck_assert_int_eq(dkm_wire_recv_msg(c.sv[1], &c.rx, &m, 1000), -ECONNRESET);
	free(buf);
	free(p);
	ctx_close(&c);
}
END_TEST

START_TEST(test_recv_msg_bad)
{
	struct dkm_msg m;
	struct ctx c;

	ctx_open(&c);
	send_hdr(c.sv[0], mkhdr(0x0999, 0, 0, 1), NULL, 0, NULL, 0);
	ck_assert_int_eq(dkm_wire_recv_msg(c.sv[1], &c.rx, &m, 1000), -EPROTO);
	ctx_close(&c);
}
END_TEST

/* The daemon's side of a call: read the request, check it. */
static void expect_request(int sock, uint16_t type, uint32_t seq)
{
	struct dkm_rx rx;
	struct dkm_msg m;

	dkm_rx_init(&rx);
	ck_assert_int_eq(dkm_wire_recv_msg(sock, &rx, &m, 1000), 0);
	ck_assert_uint_eq(m.hdr.type, type);
	ck_assert_uint_eq(m.hdr.seq, seq);
	dkm_msg_clear(&m);
	dkm_rx_clear(&rx);
}

START_TEST(test_call)
{
	size_t len;
	void *p = make_payload(DKM_MSG_STATUS_REPLY, &len);
	struct dkm_msg m;
	struct ctx c;

	ctx_open(&c);
	/* the reply waits in the socket before the request is even sent */
	ck_assert_int_eq(dkm_wire_send_msg(c.sv[0], DKM_MSG_STATUS_REPLY, 5, p, len, NULL, 0), 0);
	ck_assert_int_eq(dkm_wire_call(c.sv[1], &c.rx, DKM_MSG_STATUS, 5, NULL, 0,
				       DKM_MSG_STATUS_REPLY, &m, 1000),
			 0);
	check_msg(&m, DKM_MSG_STATUS_REPLY, 5, p, len);
	dkm_msg_clear(&m);
	expect_request(c.sv[0], DKM_MSG_STATUS, 5);
	free(p);
	ctx_close(&c);
}
END_TEST

START_TEST(test_call_error)
{
	size_t len, alen;
	void *err = make_payload(DKM_MSG_ERROR, &len);
	void *alloc = make_payload(DKM_MSG_ALLOC_REGION, &alen);
	struct dkm_error e;
	struct dkm_msg m;
	struct ctx c;

	ctx_open(&c);
	ck_assert_int_eq(dkm_wire_send_msg(c.sv[0], DKM_MSG_ERROR, 6, err, len, NULL, 0), 0);
	ck_assert_int_eq(dkm_wire_call(c.sv[1], &c.rx, DKM_MSG_ALLOC_REGION, 6, alloc, alen,
				       DKM_MSG_REGION, &m, 1000),
			 -ENOSPC);
	check_msg(&m, DKM_MSG_ERROR, 6, err, len);
	memcpy(&e, m.payload, sizeof(e));
	ck_assert_str_eq(e.message, "no space: node 2 has 0 B free, 2 MiB asked");
	ck_assert_uint_eq(e.request_type, DKM_MSG_ALLOC_REGION);
	dkm_msg_clear(&m);
	expect_request(c.sv[0], DKM_MSG_ALLOC_REGION, 6);
	free(alloc);
	free(err);
	ctx_close(&c);
}
END_TEST

START_TEST(test_call_bad_reply)
{
	size_t len;
	void *p = make_payload(DKM_MSG_STATUS_REPLY, &len);
	struct dkm_msg m;
	struct ctx c;

	/* another seq */
	ctx_open(&c);
	ck_assert_int_eq(dkm_wire_send_msg(c.sv[0], DKM_MSG_STATUS_REPLY, 4, p, len, NULL, 0), 0);
	ck_assert_int_eq(dkm_wire_call(c.sv[1], &c.rx, DKM_MSG_STATUS, 5, NULL, 0,
				       DKM_MSG_STATUS_REPLY, &m, 1000),
			 -EPROTO);
	ctx_close(&c);

	/* another type */
	ctx_open(&c);
	ck_assert_int_eq(dkm_wire_send_msg(c.sv[0], DKM_MSG_STATUS_REPLY, 5, p, len, NULL, 0), 0);
	ck_assert_int_eq(dkm_wire_call(c.sv[1], &c.rx, DKM_MSG_CLIENTS, 5, NULL, 0,
				       DKM_MSG_CLIENTS_REPLY, &m, 1000),
			 -EPROTO);
	ctx_close(&c);

	/* an ERROR with another seq */
	free(p);
	p = make_payload(DKM_MSG_ERROR, &len);
	ctx_open(&c);
	ck_assert_int_eq(dkm_wire_send_msg(c.sv[0], DKM_MSG_ERROR, 1, p, len, NULL, 0), 0);
	ck_assert_int_eq(dkm_wire_call(c.sv[1], &c.rx, DKM_MSG_STATUS, 5, NULL, 0,
				       DKM_MSG_STATUS_REPLY, &m, 1000),
			 -EPROTO);
	ctx_close(&c);

	/* an ERROR with seq 0 is about the connection: it answers any request */
	ctx_open(&c);
	ck_assert_int_eq(dkm_wire_send_msg(c.sv[0], DKM_MSG_ERROR, 0, p, len, NULL, 0), 0);
	ck_assert_int_eq(dkm_wire_call(c.sv[1], &c.rx, DKM_MSG_STATUS, 5, NULL, 0,
				       DKM_MSG_STATUS_REPLY, &m, 1000),
			 -ENOSPC);
	ck_assert_uint_eq(m.hdr.seq, 0);
	dkm_msg_clear(&m);
	ctx_close(&c);

	/* ... also when the daemon closed before the request could be sent */
	ctx_open(&c);
	ck_assert_int_eq(dkm_wire_send_msg(c.sv[0], DKM_MSG_ERROR, 0, p, len, NULL, 0), 0);
	ctx_close_peer(&c);
	ck_assert_int_eq(dkm_wire_call(c.sv[1], &c.rx, DKM_MSG_HELLO, 1, NULL, 0,
				       DKM_MSG_HELLO_REPLY, &m, 1000),
			 -ENOSPC);
	dkm_msg_clear(&m);
	ctx_close(&c);

	/* no answer */
	ctx_open(&c);
	ck_assert_int_eq(dkm_wire_call(c.sv[1], &c.rx, DKM_MSG_STATUS, 5, NULL, 0,
				       DKM_MSG_STATUS_REPLY, &m, 20),
			 -ETIMEDOUT);
	ctx_close(&c);

	/* the daemon went away before the request */
	ctx_open(&c);
	ctx_close_peer(&c);
	ck_assert_int_eq(dkm_wire_call(c.sv[1], &c.rx, DKM_MSG_STATUS, 5, NULL, 0,
				       DKM_MSG_STATUS_REPLY, &m, 1000),
			 -EPIPE);
	ctx_close(&c);

	/* ... or after it */
	ctx_open(&c);
	ck_assert_int_eq(shutdown(c.sv[0], SHUT_WR), 0);
	ck_assert_int_eq(dkm_wire_call(c.sv[1], &c.rx, DKM_MSG_STATUS, 5, NULL, 0,
				       DKM_MSG_STATUS_REPLY, &m, 1000),
			 -ECONNRESET);
	ctx_close(&c);
	free(p);
}
END_TEST

/* ---- validation rules, message by message ---- */

static int validate(uint16_t type, const void *p, size_t len)
{
	struct dkm_msg m = { .hdr = mkhdr(type, (uint32_t)len, type_nfds(type), 1),
			     .payload = len ? (void *)p : NULL,
			     .fds = { type_nfds(type) ? 0 : -1 } };

	return dkm_wire_validate(&m);
}

START_TEST(test_validate_hello)
{
	struct dkm_hello h = { .major = 1 }, x;
	struct dkm_hello_reply r = { .major = 1 }, y;

	strcpy(h.name, "x");
	ck_assert_int_eq(validate(DKM_MSG_HELLO, &h, sizeof(h)), 0);
	x = h;
	x.major = 99; /* answered by the daemon, not a wire error */
	ck_assert_int_eq(validate(DKM_MSG_HELLO, &x, sizeof(x)), 0);
	x = h;
	x.flags = 1;
	ck_assert_int_eq(validate(DKM_MSG_HELLO, &x, sizeof(x)), -EPROTO);
	x = h;
	memset(x.name, 'a', sizeof(x.name));
	ck_assert_int_eq(validate(DKM_MSG_HELLO, &x, sizeof(x)), -EPROTO);
	x.name[sizeof(x.name) - 1] = '\0';
	ck_assert_int_eq(validate(DKM_MSG_HELLO, &x, sizeof(x)), 0);

	ck_assert_int_eq(validate(DKM_MSG_HELLO_REPLY, &r, sizeof(r)), 0);
	y = r;
	y.reserved = 1;
	ck_assert_int_eq(validate(DKM_MSG_HELLO_REPLY, &y, sizeof(y)), -EPROTO);
}
END_TEST

START_TEST(test_validate_alloc)
{
	struct dkm_alloc_region a = { .kind = DKM_KIND_KMEM, .size = 4096 }, x;

	ck_assert_int_eq(validate(DKM_MSG_ALLOC_REGION, &a, sizeof(a)), 0);
	for (uint32_t k = 1; k <= 3; k++) {
		x = a;
		x.kind = k;
		ck_assert_int_eq(validate(DKM_MSG_ALLOC_REGION, &x, sizeof(x)), 0);
	}
	for (uint32_t f = 0; f <= 2; f++) {
		x = a;
		x.flags = f;
		ck_assert_int_eq(validate(DKM_MSG_ALLOC_REGION, &x, sizeof(x)), 0);
	}
	x = a;
	x.cpu_node = -1;
	ck_assert_int_eq(validate(DKM_MSG_ALLOC_REGION, &x, sizeof(x)), 0);
	x.cpu_node = DKM_PROTO_MAX_NODES - 1;
	ck_assert_int_eq(validate(DKM_MSG_ALLOC_REGION, &x, sizeof(x)), 0);

#define BAD(field, value)                                                              \
	do {                                                                           \
		x = a;                                                                 \
		x.field = value;                                                       \
		ck_assert_msg(validate(DKM_MSG_ALLOC_REGION, &x, sizeof(x)) == -EPROTO, \
			      #field " = " #value " accepted");                         \
	} while (0)
	BAD(kind, 0);
	BAD(kind, 4);
	BAD(flags, DKM_ALLOC_FLAGS_ALL);
	BAD(flags, 4);
	BAD(flags, 0x80000000u);
	BAD(size, 0);
	BAD(reserved, 1);
	BAD(cpu_node, -2);
	BAD(cpu_node, DKM_PROTO_MAX_NODES);
#undef BAD
}
END_TEST

START_TEST(test_validate_region)
{
	struct dkm_region r, x;
	struct dkm_msg m;

	fill_region(&r);
	ck_assert_int_eq(validate(DKM_MSG_REGION, &r, sizeof(r)), 0);
	/* one range; sixteen ranges; preferred */
	x = r;
	x.nranges = 1;
	x.ranges[0].length = x.size;
	memset(&x.ranges[1], 0, sizeof(x.ranges[1]));
	x.ranges[0].policy = DKM_POLICY_PREFERRED;
	ck_assert_int_eq(validate(DKM_MSG_REGION, &x, sizeof(x)), 0);
	x = r;
	x.nranges = DKM_PROTO_MAX_RANGES;
	x.size = DKM_PROTO_MAX_RANGES * 4096;
	for (unsigned i = 0; i < DKM_PROTO_MAX_RANGES; i++)
		x.ranges[i] = (struct dkm_range){ .offset = i * 4096, .length = 4096,
						  .node = (int32_t)i, .policy = DKM_POLICY_BIND };
	ck_assert_int_eq(validate(DKM_MSG_REGION, &x, sizeof(x)), 0);
	/* minor 2: the client is to populate it; or nothing said (fault in) */
	x = r;
	x.flags = DKM_REGION_CLIENT_POPULATE;
	ck_assert_int_eq(validate(DKM_MSG_REGION, &x, sizeof(x)), 0);
	x.flags = 0;
	ck_assert_int_eq(validate(DKM_MSG_REGION, &x, sizeof(x)), 0);

#define BAD(stmt)                                                                         \
	do {                                                                              \
		x = r;                                                                    \
		stmt;                                                                     \
		ck_assert_msg(validate(DKM_MSG_REGION, &x, sizeof(x)) == -EPROTO, #stmt " accepted"); \
	} while (0)
	BAD(x.nranges = 0);
	BAD(x.nranges = DKM_PROTO_MAX_RANGES + 1);
	BAD(x.nranges = UINT32_MAX);
	BAD(x.nranges = 3);                            /* third range all zero */
	BAD(x.nranges = 1);                            /* does not cover size, unused non-zero */
	BAD(x.size = 0);
	BAD(x.size = 5 * MIB);                         /* ranges cover more */
	BAD(x.size = 7 * MIB);                         /* ranges cover less */
	BAD(x.kind = 0);
	BAD(x.kind = 4);
	BAD(x.flags = DKM_ALLOC_FLAGS_ALL);
	BAD(x.flags = 8);
	BAD(x.flags = DKM_REGION_CLIENT_POPULATE | DKM_ALLOC_PREFAULT); /* who populates it? */
	BAD(x.flags = DKM_REGION_CLIENT_POPULATE | DKM_ALLOC_NO_PREFAULT);
	BAD(x.reserved = 1);
	BAD(x.ranges[0].offset = 4096);                /* not from 0 */
	BAD(x.ranges[1].offset = 4 * MIB + 4096);      /* gap */
	BAD(x.ranges[1].offset = 4 * MIB - 4096);      /* overlap */
	BAD((x.ranges[0].length = 6 * MIB, x.ranges[1].offset = 6 * MIB, x.ranges[1].length = 0));
	BAD((x.ranges[0].length = UINT64_MAX - MIB, x.ranges[1].offset = UINT64_MAX - MIB,
	     x.ranges[1].length = 8 * MIB));           /* wraps around */
	BAD(x.ranges[0].policy = 0);
	BAD(x.ranges[0].policy = 3);                   /* MPOL_INTERLEAVE */
	BAD(x.ranges[1].node = -1);
	BAD(x.ranges[1].node = DKM_PROTO_MAX_NODES);
	BAD(x.ranges[5].node = 1);                     /* unused range not zero */
	BAD(x.ranges[DKM_PROTO_MAX_RANGES - 1].length = 1);
#undef BAD

	/* descriptor count and validity */
	memset(&m, 0, sizeof(m));
	m.hdr = mkhdr(DKM_MSG_REGION, sizeof(r), 1, 1);
	m.payload = &r;
	m.fds[0] = -1;
	ck_assert_int_eq(dkm_wire_validate(&m), -EPROTO);
	m.fds[0] = 0;
	ck_assert_int_eq(dkm_wire_validate(&m), 0);
	m.hdr.nfds = 0;
	ck_assert_int_eq(dkm_wire_validate(&m), -EPROTO);
	m.hdr.nfds = 2;
	ck_assert_int_eq(dkm_wire_validate(&m), -EPROTO);
	/* a payload_len without a payload */
	m.hdr.nfds = 1;
	m.payload = NULL;
	ck_assert_int_eq(dkm_wire_validate(&m), -EPROTO);
}
END_TEST

START_TEST(test_validate_status_reply)
{
	size_t len;
	uint8_t *p = make_status_reply(3, &len);
	struct dkm_status st;
	struct dkm_status_node n;
	uint8_t *node1 = p + sizeof(st) + sizeof(n);

	ck_assert_int_eq(validate(DKM_MSG_STATUS_REPLY, p, len), 0);
	ck_assert_int_eq(validate(DKM_MSG_STATUS_REPLY, p, len - 1), -EPROTO);

	memcpy(&st, p, sizeof(st));
	st.flags = 2; /* unknown */
	memcpy(p, &st, sizeof(st));
	ck_assert_int_eq(validate(DKM_MSG_STATUS_REPLY, p, len), -EPROTO);
	st.flags = DKM_STATUS_SELF; /* but no record follows */
	memcpy(p, &st, sizeof(st));
	ck_assert_int_eq(validate(DKM_MSG_STATUS_REPLY, p, len), -EPROTO);
	st.flags = 0;
	st.kmem_from_config = 2;
	memcpy(p, &st, sizeof(st));
	ck_assert_int_eq(validate(DKM_MSG_STATUS_REPLY, p, len), -EPROTO);
	st.kmem_from_config = 0;
	/* counts that do not match the size, or could overflow a multiplication */
	for (uint32_t k = 0; k < 6; k++) {
		static const uint32_t counts[] = { 2, 4, DKM_PROTO_MAX_NODES, DKM_PROTO_MAX_NODES + 1,
						   0x10000000u, UINT32_MAX };

		st.nnodes = counts[k];
		memcpy(p, &st, sizeof(st));
		ck_assert_int_eq(validate(DKM_MSG_STATUS_REPLY, p, len), -EPROTO);
	}
	st.nnodes = 3;
	memcpy(p, &st, sizeof(st));
	ck_assert_int_eq(validate(DKM_MSG_STATUS_REPLY, p, len), 0);

	memcpy(&n, node1, sizeof(n));
	n.kind = 3;
	memcpy(node1, &n, sizeof(n));
	ck_assert_int_eq(validate(DKM_MSG_STATUS_REPLY, p, len), -EPROTO);
	n.kind = DKM_WIRE_NODE_MEMONLY;
	n.id = -1;
	memcpy(node1, &n, sizeof(n));
	ck_assert_int_eq(validate(DKM_MSG_STATUS_REPLY, p, len), -EPROTO);
	n.id = 1;
	memset(n.cpulist, '1', sizeof(n.cpulist));
	memcpy(node1, &n, sizeof(n));
	ck_assert_int_eq(validate(DKM_MSG_STATUS_REPLY, p, len), -EPROTO);
	n.cpulist[sizeof(n.cpulist) - 1] = '\0';
	memcpy(node1, &n, sizeof(n));
	ck_assert_int_eq(validate(DKM_MSG_STATUS_REPLY, p, len), 0);
	free(p);

	/* no nodes at all is well-formed */
	p = make_status_reply(0, &len);
	ck_assert_uint_eq(len, sizeof(st));
	ck_assert_int_eq(validate(DKM_MSG_STATUS_REPLY, p, len), 0);
	free(p);
}
END_TEST

START_TEST(test_validate_devices)
{
	size_t len;
	uint8_t *p = make_devices_reply(2, &len);
	struct dkm_devices d;
	struct dkm_device_entry e;
	uint8_t *e1 = p + sizeof(d) + sizeof(e);
	struct dkm_reconfigure r;

	ck_assert_int_eq(validate(DKM_MSG_DEVICES_REPLY, p, len), 0);
	memcpy(&d, p, sizeof(d));
	d.n = 3;
	memcpy(p, &d, sizeof(d));
	ck_assert_int_eq(validate(DKM_MSG_DEVICES_REPLY, p, len), -EPROTO);
	d.n = 2;
	d.flags = 2;
	memcpy(p, &d, sizeof(d));
	ck_assert_int_eq(validate(DKM_MSG_DEVICES_REPLY, p, len), -EPROTO);
	d.flags = 0;
	memcpy(p, &d, sizeof(d));
	ck_assert_int_eq(validate(DKM_MSG_DEVICES_REPLY, p, len), 0);
	memcpy(&e, e1, sizeof(e));
	e.mode = 4;
	memcpy(e1, &e, sizeof(e));
	ck_assert_int_eq(validate(DKM_MSG_DEVICES_REPLY, p, len), -EPROTO);
	e.mode = DKM_WIRE_DAX_DEVDAX;
	e.online_blocks = 8; /* more online than there are */
	memcpy(e1, &e, sizeof(e));
	ck_assert_int_eq(validate(DKM_MSG_DEVICES_REPLY, p, len), -EPROTO);
	e.online_blocks = 0;
	memset(e.uuid, 'u', sizeof(e.uuid));
	memcpy(e1, &e, sizeof(e));
	ck_assert_int_eq(validate(DKM_MSG_DEVICES_REPLY, p, len), -EPROTO);
	e.uuid[0] = '\0';
	e.name[0] = '\0';
	memcpy(e1, &e, sizeof(e));
	ck_assert_int_eq(validate(DKM_MSG_DEVICES_REPLY, p, len), -EPROTO);
	free(p);

	memset(&r, 0, sizeof(r));
	r.mode = DKM_WIRE_DAX_SYSTEM_RAM;
	ck_assert_int_eq(validate(DKM_MSG_RECONFIGURE, &r, sizeof(r)), 0);
	r.flags = DKM_RECONF_MOVABLE | DKM_RECONF_NORMAL;
	ck_assert_int_eq(validate(DKM_MSG_RECONFIGURE, &r, sizeof(r)), -EPROTO);
	r.flags = 1u << 3;
	ck_assert_int_eq(validate(DKM_MSG_RECONFIGURE, &r, sizeof(r)), -EPROTO);
	r.flags = 0;
	r.mode = DKM_WIRE_DAX_DISABLED;
	ck_assert_int_eq(validate(DKM_MSG_RECONFIGURE, &r, sizeof(r)), -EPROTO);
	r.mode = DKM_WIRE_DAX_DEVDAX;
	r.ndevices = 1; /* counted but empty */
	ck_assert_int_eq(validate(DKM_MSG_RECONFIGURE, &r, sizeof(r)), -EPROTO);
	strcpy(r.devices[0], "dax0.0");
	ck_assert_int_eq(validate(DKM_MSG_RECONFIGURE, &r, sizeof(r)), 0);
	strcpy(r.devices[1], "dax1.0"); /* named but not counted */
	ck_assert_int_eq(validate(DKM_MSG_RECONFIGURE, &r, sizeof(r)), -EPROTO);
	r.ndevices = 2;
	ck_assert_int_eq(validate(DKM_MSG_RECONFIGURE, &r, sizeof(r)), 0);
	memset(r.devices[1], 'x', sizeof(r.devices[1]));
	ck_assert_int_eq(validate(DKM_MSG_RECONFIGURE, &r, sizeof(r)), -EPROTO);
	r.devices[1][0] = '\0';
	r.ndevices = DKM_RECONF_MAX_DEVICES + 1;
	ck_assert_int_eq(validate(DKM_MSG_RECONFIGURE, &r, sizeof(r)), -EPROTO);
	ck_assert_int_eq(validate(DKM_MSG_RECONFIGURE, &r, sizeof(r) - 1), -EPROTO);

	p = make_reconfigure_reply(1, &len);
	ck_assert_int_eq(validate(DKM_MSG_RECONFIGURE_REPLY, p, len), 0);
	{
		struct dkm_reconfigure_step st;
		uint8_t *s0 = p + sizeof(struct dkm_reconfigure_reply);

		memcpy(&st, s0, sizeof(st));
		st.action = 5;
		memcpy(s0, &st, sizeof(st));
		ck_assert_int_eq(validate(DKM_MSG_RECONFIGURE_REPLY, p, len), -EPROTO);
		st.action = DKM_WIRE_RECONF_REFUSED;
		st.flags = 4;
		memcpy(s0, &st, sizeof(st));
		ck_assert_int_eq(validate(DKM_MSG_RECONFIGURE_REPLY, p, len), -EPROTO);
		st.flags = 0;
		memset(st.message, 'm', sizeof(st.message));
		memcpy(s0, &st, sizeof(st));
		ck_assert_int_eq(validate(DKM_MSG_RECONFIGURE_REPLY, p, len), -EPROTO);
	}
	ck_assert_int_eq(validate(DKM_MSG_RECONFIGURE_REPLY, p, len - 1), -EPROTO);
	free(p);
}
END_TEST

START_TEST(test_validate_clients_reply)
{
	size_t len;
	uint8_t *p = make_clients_reply(2, &len);
	struct dkm_clients c;
	struct dkm_client_entry e;
	uint8_t *e1 = p + sizeof(c) + sizeof(e);

	ck_assert_int_eq(validate(DKM_MSG_CLIENTS_REPLY, p, len), 0);
	memcpy(&c, p, sizeof(c));
	for (uint32_t k = 0; k < 5; k++) {
		static const uint32_t counts[] = { 1, 3, 0x100000u, 0x40000000u, UINT32_MAX };

		c.n = counts[k];
		memcpy(p, &c, sizeof(c));
		ck_assert_int_eq(validate(DKM_MSG_CLIENTS_REPLY, p, len), -EPROTO);
	}
	c.n = 2;
	c.flags = 2; /* unknown */
	memcpy(p, &c, sizeof(c));
	ck_assert_int_eq(validate(DKM_MSG_CLIENTS_REPLY, p, len), -EPROTO);
	c.flags = DKM_CLIENTS_CGROUPS; /* but no records follow */
	memcpy(p, &c, sizeof(c));
	ck_assert_int_eq(validate(DKM_MSG_CLIENTS_REPLY, p, len), -EPROTO);
	c.flags = 0;
	memcpy(p, &c, sizeof(c));

	memcpy(&e, e1, sizeof(e));
	e.reserved = 1;
	memcpy(e1, &e, sizeof(e));
	ck_assert_int_eq(validate(DKM_MSG_CLIENTS_REPLY, p, len), -EPROTO);
	e.reserved = 0;
	memset(e.name, 'n', sizeof(e.name));
	memcpy(e1, &e, sizeof(e));
	ck_assert_int_eq(validate(DKM_MSG_CLIENTS_REPLY, p, len), -EPROTO);
	free(p);

	p = make_clients_reply(0, &len);
	ck_assert_int_eq(validate(DKM_MSG_CLIENTS_REPLY, p, len), 0);
	free(p);
}
END_TEST

/* A minor-2 CLIENTS_REPLY: n entries, their cgroup records and the paths. */
static uint8_t *make_clients_cgroups(const char *const *paths, uint32_t n, size_t *len)
{
	struct dkm_clients c = { .n = n, .flags = DKM_CLIENTS_CGROUPS };
	size_t size = sizeof(c) + n * (sizeof(struct dkm_client_entry) + sizeof(struct dkm_client_cgroup));
	uint8_t *p, *q;

	for (uint32_t i = 0; i < n; i++)
		size += strlen(paths[i]) + 1;
	p = xcalloc(size);
	memcpy(p, &c, sizeof(c));
	q = p + sizeof(c);
	for (uint32_t i = 0; i < n; i++) {
		struct dkm_client_entry e = { .client_id = i + 1, .pid = 100 + (int32_t)i };

		snprintf(e.name, sizeof(e.name), "c%u", i);
		memcpy(q, &e, sizeof(e));
		q += sizeof(e);
	}
	for (uint32_t i = 0; i < n; i++) {
		struct dkm_client_cgroup g = { .version = DKM_WIRE_CGROUP_V2, .flags = DKM_CLIENT_CG_KNOWN,
					       .limit = 32 * MIB, .usage = MIB,
					       .swap_limit = UINT64_MAX,
					       .path_len = (uint32_t)strlen(paths[i]) };

		if (!paths[i][0]) {
			g.flags = 0;
			g.error = EACCES;
			g.limit = UINT64_MAX;
		}
		g.limit_at = g.path_len;
		memcpy(q, &g, sizeof(g));
		q += sizeof(g);
	}
	for (uint32_t i = 0; i < n; i++) {
		memcpy(q, paths[i], strlen(paths[i]) + 1);
		q += strlen(paths[i]) + 1;
	}
	*len = size;
	return p;
}

START_TEST(test_validate_cgroup_records)
{
	static const char *const paths[] = { "/system.slice/a.service", "", "/" };
	const size_t recs = sizeof(struct dkm_clients) + 3 * sizeof(struct dkm_client_entry);
	struct dkm_client_cgroup g;
	size_t len;
	uint8_t *p = make_clients_cgroups(paths, 3, &len), *g0 = p + recs, *path0;

	path0 = p + recs + 3 * sizeof(g);
	ck_assert_int_eq(validate(DKM_MSG_CLIENTS_REPLY, p, len), 0);
	/* exact size: a byte more or less */
	ck_assert_int_eq(validate(DKM_MSG_CLIENTS_REPLY, p, len - 1), -EPROTO);
	{
		uint8_t *q = xcalloc(len + 1);

		memcpy(q, p, len);
		ck_assert_int_eq(validate(DKM_MSG_CLIENTS_REPLY, q, len + 1), -EPROTO);
		free(q);
	}
	/* the flag off: the minor-1 layout, which this is not */
	{
		struct dkm_clients c;

		memcpy(&c, p, sizeof(c));
		c.flags = 0;
		memcpy(p, &c, sizeof(c));
		ck_assert_int_eq(validate(DKM_MSG_CLIENTS_REPLY, p, len), -EPROTO);
		c.flags = DKM_CLIENTS_CGROUPS;
		memcpy(p, &c, sizeof(c));
	}
#define BADREC(stmt)                                                                      \
	do {                                                                              \
		memcpy(&g, g0, sizeof(g));                                                \
		stmt;                                                                     \
		memcpy(g0, &g, sizeof(g));                                                \
		ck_assert_msg(validate(DKM_MSG_CLIENTS_REPLY, p, len) == -EPROTO, #stmt " accepted"); \
		memcpy(&g, g0, sizeof(g));                                                \
	} while (0)
	{
		struct dkm_client_cgroup keep;

		memcpy(&keep, g0, sizeof(keep));
		BADREC(g.version = 3);
		memcpy(g0, &keep, sizeof(keep));
		BADREC(g.flags = 8);
		memcpy(g0, &keep, sizeof(keep));
		BADREC(g.flags = 0);                         /* not KNOWN but no error */
		memcpy(g0, &keep, sizeof(keep));
		BADREC(g.error = EACCES);                    /* KNOWN with an error */
		memcpy(g0, &keep, sizeof(keep));
		BADREC(g.limits_error = -1);
		memcpy(g0, &keep, sizeof(keep));
		BADREC(g.reserved = 1);
		memcpy(g0, &keep, sizeof(keep));
		BADREC(g.limit_at = g.path_len + 1);
		memcpy(g0, &keep, sizeof(keep));
		BADREC(g.swap_at = g.path_len + 1);
		memcpy(g0, &keep, sizeof(keep));
		BADREC(g.path_len = g.path_len + 1);         /* eats the next path's bytes */
		memcpy(g0, &keep, sizeof(keep));
		BADREC(g.path_len = DKM_PROTO_CGROUP_PATH_MAX);
		memcpy(g0, &keep, sizeof(keep));
		BADREC(g.path_len = UINT32_MAX);
		memcpy(g0, &keep, sizeof(keep));
		BADREC((g.flags = DKM_CLIENT_CG_ROOT, g.error = EACCES)); /* root but unknown */
		memcpy(g0, &keep, sizeof(keep));
		ck_assert_int_eq(validate(DKM_MSG_CLIENTS_REPLY, p, len), 0);
	}
#undef BADREC
	/* the paths: absolute, no NUL inside, a NUL after */
	path0[0] = 's';
	ck_assert_int_eq(validate(DKM_MSG_CLIENTS_REPLY, p, len), -EPROTO);
	path0[0] = '/';
	path0[3] = '\0';
	ck_assert_int_eq(validate(DKM_MSG_CLIENTS_REPLY, p, len), -EPROTO);
	path0[3] = 's';
	path0[strlen(paths[0])] = 'x';
	ck_assert_int_eq(validate(DKM_MSG_CLIENTS_REPLY, p, len), -EPROTO);
	path0[strlen(paths[0])] = '\0';
	ck_assert_int_eq(validate(DKM_MSG_CLIENTS_REPLY, p, len), 0);
	free(p);

	/* no client at all */
	p = make_clients_cgroups(paths, 0, &len);
	ck_assert_int_eq(validate(DKM_MSG_CLIENTS_REPLY, p, len), 0);
	free(p);

	/* STATUS_REPLY with the asking client's record */
	{
		size_t slen, full;
		uint8_t *st = make_status_reply(2, &slen), *q;
		struct dkm_status s0;
		struct dkm_client_cgroup self = { .version = DKM_WIRE_CGROUP_V1,
						  .flags = DKM_CLIENT_CG_KNOWN | DKM_CLIENT_CG_ROOT |
							   DKM_CLIENT_CG_DAEMON_POPULATES,
						  .limit = UINT64_MAX, .swap_limit = UINT64_MAX,
						  .path_len = 1 };

		full = slen + sizeof(self) + 2;
		q = xcalloc(full);
		memcpy(q, st, slen);
		memcpy(&s0, q, sizeof(s0));
		s0.flags = DKM_STATUS_SELF;
		memcpy(q, &s0, sizeof(s0));
		memcpy(q + slen, &self, sizeof(self));
		q[slen + sizeof(self)] = '/';
		ck_assert_int_eq(validate(DKM_MSG_STATUS_REPLY, q, full), 0);
		ck_assert_int_eq(validate(DKM_MSG_STATUS_REPLY, q, full - 1), -EPROTO);
		q[slen + sizeof(self) + 1] = 'x';
		ck_assert_int_eq(validate(DKM_MSG_STATUS_REPLY, q, full), -EPROTO);
		q[slen + sizeof(self) + 1] = '\0';
		/* the old layout with the flag: refused */
		ck_assert_int_eq(validate(DKM_MSG_STATUS_REPLY, q, slen), -EPROTO);
		s0.flags = 0;
		memcpy(q, &s0, sizeof(s0));
		ck_assert_int_eq(validate(DKM_MSG_STATUS_REPLY, q, full), -EPROTO);
		ck_assert_int_eq(validate(DKM_MSG_STATUS_REPLY, q, slen), 0);
		free(q);
		free(st);
	}
}
END_TEST

START_TEST(test_validate_error)
{
	struct dkm_error e = { .errno_value = EINVAL, .request_type = 0xffff }, x;

	strcpy(e.message, "bad");
	ck_assert_int_eq(validate(DKM_MSG_ERROR, &e, sizeof(e)), 0);
	x = e;
	x.errno_value = 0;
	ck_assert_int_eq(validate(DKM_MSG_ERROR, &x, sizeof(x)), -EPROTO);
	x.errno_value = -EINVAL;
	ck_assert_int_eq(validate(DKM_MSG_ERROR, &x, sizeof(x)), -EPROTO);
	x = e;
	memset(x.message, 'm', sizeof(x.message));
	ck_assert_int_eq(validate(DKM_MSG_ERROR, &x, sizeof(x)), -EPROTO);
	x.message[sizeof(x.message) - 1] = '\0';
	ck_assert_int_eq(validate(DKM_MSG_ERROR, &x, sizeof(x)), 0);
}
END_TEST

/* A message the validator refuses is refused by the receiver too, and its descriptor closed. */
START_TEST(test_invalid_region_on_wire)
{
	struct dkm_region r;
	struct dkm_msg m;
	struct ctx c;
	int pp[2];

	fill_region(&r);
	r.ranges[1].policy = 0;
	ctx_open(&c);
	make_pipe(pp);
	send_hdr(c.sv[0], mkhdr(DKM_MSG_REGION, sizeof(r), 1, 1), &r, sizeof(r), &pp[1], 1);
	close(pp[1]);
	ck_assert_int_eq(pump(&c, &m), -EPROTO);
	dkm_rx_clear(&c.rx);
	ck_assert(pipe_eof(pp[0]));
	close(pp[0]);
	ctx_close(&c);
}
END_TEST

/* ---- small things ---- */

START_TEST(test_encode_send_limits)
{
	struct dkm_msg_header h;
	void *buf = NULL;
	size_t blen = 0;
	int fds[2] = { 0, 0 };
	int sv[2], fds0 = count_fds();

	ck_assert_int_eq(dkm_wire_encode(DKM_MSG_STATUS, 1, NULL, 0, 2, &buf, &blen), -EMSGSIZE);
	ck_assert_int_eq(dkm_wire_encode(DKM_MSG_STATUS, 1, fds, DKM_PROTO_MAX_PAYLOAD + 1, 0, &buf,
					 &blen),
			 -EMSGSIZE);
	ck_assert_ptr_null(buf);
	ck_assert_uint_eq(blen, 0);
	ck_assert_int_eq(dkm_wire_encode(DKM_MSG_RELEASED, 0xdeadbeef, fds, 8, 0, &buf, &blen), 0);
	ck_assert_uint_eq(blen, HDR + 8);
	memcpy(&h, buf, HDR);
	ck_assert_uint_eq(h.magic, DKM_PROTO_MAGIC);
	ck_assert_mem_eq(buf, "DXKM", 4);
	ck_assert_uint_eq(h.major, DKM_PROTO_MAJOR);
	ck_assert_uint_eq(h.type, DKM_MSG_RELEASED);
	ck_assert_uint_eq(h.flags, 0);
	ck_assert_uint_eq(h.payload_len, 8);
	ck_assert_uint_eq(h.nfds, 0);
	ck_assert_uint_eq(h.seq, 0xdeadbeef);
	free(buf);

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_int_eq(dkm_wire_send(sv[0], "x", 1, fds, 2, false), -EINVAL);
	ck_assert_int_eq(dkm_wire_send(sv[0], "x", 0, fds, 1, false), -EINVAL);
	ck_assert_int_eq(dkm_wire_send_msg(sv[0], DKM_MSG_STATUS, 1, NULL, 0, fds, 2), -EMSGSIZE);
	close(sv[1]);
	ck_assert_int_eq(dkm_wire_send(sv[0], "x", 1, NULL, 0, false), -EPIPE);
	close(sv[0]);
	ck_assert_int_eq(count_fds(), fds0);
}
END_TEST

START_TEST(test_msg_helpers)
{
	struct dkm_msg m;
	int fd, flags0, fds0 = count_fds();

	dkm_msg_clear(NULL);
	/* a zeroed message owns no descriptor: fd 0 must survive */
	flags0 = fcntl(0, F_GETFD);
	memset(&m, 0, sizeof(m));
	dkm_msg_clear(&m);
	ck_assert_int_eq(fcntl(0, F_GETFD), flags0);
	ck_assert_int_eq(m.fds[0], -1);
	ck_assert_int_eq(dkm_msg_take_fd(&m, 0), -1);

	fd = make_memfd();
	m.hdr.nfds = 1;
	m.fds[0] = fd;
	ck_assert_int_eq(dkm_msg_take_fd(&m, 1), -1);
	ck_assert_int_eq(dkm_msg_take_fd(&m, 0), fd);
	ck_assert_int_eq(dkm_msg_take_fd(&m, 0), -1);
	dkm_msg_clear(&m);
	ck_assert_int_ge(fcntl(fd, F_GETFD), 0); /* taken: not closed by clear */
	close(fd);
	ck_assert_int_eq(count_fds(), fds0);
}
END_TEST

START_TEST(test_names)
{
	struct dkm_nodeset s;

	for (int i = 0; i < NTYPES; i++)
		ck_assert_str_ne(dkm_msg_type_name(all_types[i]), "unknown");
	ck_assert_str_eq(dkm_msg_type_name(DKM_MSG_ALLOC_REGION), "ALLOC_REGION");
	ck_assert_str_eq(dkm_msg_type_name(DKM_MSG_STATUS_REPLY), "STATUS_REPLY");
	ck_assert_str_eq(dkm_msg_type_name(DKM_MSG_ERROR), "ERROR");
	ck_assert_str_eq(dkm_kind_name(DKM_KIND_KMEM), "KMEM");
	ck_assert_str_eq(dkm_kind_name(DKM_KIND_KMEM_ALL), "KMEM_ALL");
	ck_assert_str_eq(dkm_kind_name(DKM_KIND_KMEM_PREFERRED), "KMEM_PREFERRED");
	ck_assert_ptr_null(dkm_kind_name(0));
	ck_assert_ptr_null(dkm_kind_name(4));

	memset(&s, 0, sizeof(s));
	ck_assert(dkm_nodeset_empty(&s));
	dkm_nodeset_set(&s, DKM_PROTO_MAX_NODES); /* out of range: ignored */
	ck_assert(dkm_nodeset_empty(&s));
	dkm_nodeset_set(&s, 0);
	dkm_nodeset_set(&s, 63);
	dkm_nodeset_set(&s, 64);
	dkm_nodeset_set(&s, DKM_PROTO_MAX_NODES - 1);
	ck_assert(!dkm_nodeset_empty(&s));
	ck_assert(dkm_nodeset_test(&s, 0) && dkm_nodeset_test(&s, 63) && dkm_nodeset_test(&s, 64));
	ck_assert(dkm_nodeset_test(&s, DKM_PROTO_MAX_NODES - 1));
	ck_assert(!dkm_nodeset_test(&s, 1) && !dkm_nodeset_test(&s, 65));
	ck_assert(!dkm_nodeset_test(&s, DKM_PROTO_MAX_NODES));
	ck_assert(!dkm_nodeset_test(&s, UINT32_MAX));
	ck_assert_uint_eq(s.words[0], UINT64_C(1) | UINT64_C(1) << 63);
	ck_assert_uint_eq(s.words[1], 1);
}
END_TEST

static Suite *proto_suite(void)
{
	Suite *s = suite_create("proto");
	TCase *tc = tcase_create("wire");

	tcase_add_loop_test(tc, test_roundtrip, 0, NTYPES);
	tcase_add_test(tc, test_region_fd_closed_by_clear);
	tcase_add_loop_test(tc, test_truncated, 0, NTYPES);
	tcase_add_loop_test(tc, test_oversized, 0, NTYPES);
	tcase_add_test(tc, test_wrong_size_fails_fast);
	tcase_add_test(tc, test_unknown_type);
	tcase_add_loop_test(tc, test_wrong_size, 0, NTYPES);
	tcase_add_test(tc, test_region_without_fd);
	tcase_add_test(tc, test_region_too_many_fds);
	tcase_add_loop_test(tc, test_unexpected_fd, 0, NTYPES);
	tcase_add_test(tc, test_unexpected_fd_then_more);
	tcase_add_test(tc, test_fd_not_on_header);
	tcase_add_test(tc, test_ctrunc);
	tcase_add_test(tc, test_too_many_pending);
	tcase_add_test(tc, test_foreign_cmsg);
	tcase_add_test(tc, test_bad_magic);
	tcase_add_test(tc, test_flags);
	tcase_add_test(tc, test_major);
	tcase_add_test(tc, test_several_in_one_write);
	tcase_add_test(tc, test_fd_on_later_message);
	tcase_add_test(tc, test_byte_by_byte);
	tcase_add_test(tc, test_large_message);
	tcase_add_test(tc, test_buffer_bound);
	tcase_add_test(tc, test_recv_msg);
	tcase_add_test(tc, test_recv_msg_bad);
	tcase_add_test(tc, test_call);
	tcase_add_test(tc, test_call_error);
	tcase_add_test(tc, test_call_bad_reply);
	tcase_add_test(tc, test_validate_hello);
	tcase_add_test(tc, test_validate_alloc);
	tcase_add_test(tc, test_validate_region);
	tcase_add_test(tc, test_validate_status_reply);
	tcase_add_test(tc, test_validate_clients_reply);
	tcase_add_test(tc, test_validate_cgroup_records);
	tcase_add_test(tc, test_validate_devices);
	tcase_add_test(tc, test_validate_error);
	tcase_add_test(tc, test_invalid_region_on_wire);
	tcase_add_test(tc, test_encode_send_limits);
	tcase_add_test(tc, test_msg_helpers);
	tcase_add_test(tc, test_names);
	suite_add_tcase(s, tc);
	return s;
}

DKM_TEST_MAIN(proto_suite)
