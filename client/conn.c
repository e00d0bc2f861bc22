/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The client side of the protocol (conn.h): a blocking connection to
 * daxkmemd, HELLO, one request and its reply (with a descriptor), as used by
 * the library's session and by daxkmemctl.
 */
#include "conn.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define DEFAULT_SOCKET "/run/daxkmemd/daxkmemd.sock"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif
/* MADV_POPULATE_WRITE in chunks, each retried after EINTR (what is populated stays). */
#define POPULATE_CHUNK ((size_t)64 << 20)
/* fallocate undoes a chunk it could not finish (EINTR on any signal): small ones make progress. */
#define FALLOCATE_CHUNK ((size_t)2 << 20)

const char *dkm_conn_socket_path(const char *path)
{
	const char *env;

	if (path && *path)
		return path;
	env = secure_getenv("DAXKMEM_SOCKET");
	return env && *env ? env : DEFAULT_SOCKET;
}

/* Keep the daemon's message of an ERROR reply, or describe the local error. */
static int finish(struct dkm_conn *c, int r, struct dkm_msg *m, const char *what)
{
	if (r < 0 && m->hdr.type == DKM_MSG_ERROR && m->payload) {
		struct dkm_error e;

		memcpy(&e, m->payload, sizeof(e));
		snprintf(c->err, sizeof(c->err), "%s", e.message);
	} else if (r < 0) {
		snprintf(c->err, sizeof(c->err), "%s: %s", what,
			 r == -ECONNRESET ? "the daemon closed the connection" : strerror(-r));
	}
	return r;
}

static int call(struct dkm_conn *c, uint16_t type, const void *payload, size_t len,
		uint16_t reply_type, struct dkm_msg *m)
{
	int r;

	memset(m, 0, sizeof(*m));
	for (unsigned i = 0; i < DKM_PROTO_MAX_FDS; i++)
		m->fds[i] = -1;
	c->err[0] = '\0';
	if (c->fd < 0) {
		snprintf(c->err, sizeof(c->err), "not connected to the daemon");
		return -ENOTCONN;
	}
	r = dkm_wire_call(c->fd, &c->rx, type, ++c->seq, payload, len, reply_type, m, c->timeout_ms);
	r = finish(c, r, m, dkm_msg_type_name(type));
	if (r < 0 && m->hdr.type != DKM_MSG_ERROR) {
		/* the stream is unusable after a transport or protocol error */
		close(c->fd);
		c->fd = -1;
	}
	return r;
}

int dkm_conn_open(const char *path, const char *name, struct dkm_conn **ret, char *err,
		  size_t errsize)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct dkm_hello h = { 0 };
	struct dkm_conn *c;
	struct dkm_msg m;
	int r;

	path = dkm_conn_socket_path(path);
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errsize, "socket path %s is too long", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errsize, "out of memory");
		return -ENOMEM;
	}
	dkm_rx_init(&c->rx);
	c->timeout_ms = 60000;
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		r = -errno;
		snprintf(err, errsize, "socket: %s", strerror(errno));
		goto fail;
	}
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		snprintf(err, errsize, "cannot connect to %s: %s (%s)", path, strerror(errno),
			 errno == EACCES || errno == EPERM
				 ? "the socket is for root and the daxkmem group"
				 : "is daxkmemd running?");
		goto fail;
	}
	h.major = DKM_PROTO_MAJOR;
	h.minor = DKM_PROTO_MINOR;
	snprintf(h.name, sizeof(h.name), "%s", name ? name : "client");
	r = call(c, DKM_MSG_HELLO, &h, sizeof(h), DKM_MSG_HELLO_REPLY, &m);
	if (r < 0) {
		snprintf(err, errsize, "%s: %s", path, c->err);
		dkm_msg_clear(&m);
		goto fail;
	}
	memcpy(&c->hello, m.payload, sizeof(c->hello));
	dkm_msg_clear(&m);
	*ret = c;
	return 0;
fail:
	dkm_conn_close(c);
	return r;
}

void dkm_conn_close(struct dkm_conn *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	dkm_rx_clear(&c->rx);
	free(c);
}

int dkm_conn_alloc(struct dkm_conn *c, const struct dkm_alloc_region *req,
		   struct dkm_region *ret_region, int *ret_fd)
{
	struct dkm_msg m;
	int r = call(c, DKM_MSG_ALLOC_REGION, req, sizeof(*req), DKM_MSG_REGION, &m);

	if (r == 0) {
		memcpy(ret_region, m.payload, sizeof(*ret_region));
		*ret_fd = dkm_msg_take_fd(&m, 0);
	}
	dkm_msg_clear(&m);
	return r;
}

int dkm_conn_release(struct dkm_conn *c, uint64_t id)
{
	struct dkm_release_region req = { .id = id };
	struct dkm_msg m;
	int r = call(c, DKM_MSG_RELEASE_REGION, &req, sizeof(req), DKM_MSG_RELEASED, &m);

	dkm_msg_clear(&m);
	return r;
}

/* The fallback of a kernel without MADV_POPULATE_WRITE: allocate the pages from this process. */
static int populate_fallocate(int fd, size_t size)
{
	for (size_t off = 0; off < size;) {
		size_t len = size - off < FALLOCATE_CHUNK ? size - off : FALLOCATE_CHUNK;

		if (fallocate(fd, 0, (off_t)off, (off_t)len) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		off += len;
	}
	return 0;
}

static int populate(void *addr, size_t size, int fd)
{
	for (size_t off = 0; off < size;) {
		size_t len = size - off < POPULATE_CHUNK ? size - off : POPULATE_CHUNK;

		if (madvise((char *)addr + off, len, MADV_POPULATE_WRITE) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			if (errno == EINVAL && off == 0 && fd >= 0)
				return populate_fallocate(fd, size);
			return -errno;
		}
		off += len;
	}
	return 0;
}

int dkm_region_populate(void *addr, size_t size, int fd)
{
	int r = populate(addr, size, fd);

	/*
	 * Failed part-way, typically with the caller's cgroup at its limit:
	 * give back what was populated at once, before anything else in this
	 * process needs a page (the seals allow it: the region only shrinks).
	 */
	if (r < 0 && fd >= 0)
		(void)fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, (off_t)size);
	return r;
}

int dkm_conn_status(struct dkm_conn *c, struct dkm_msg *m)
{
	int r = call(c, DKM_MSG_STATUS, NULL, 0, DKM_MSG_STATUS_REPLY, m);

	if (r < 0)
		dkm_msg_clear(m);
	return r;
}

bool dkm_clients_cgroup(const struct dkm_msg *m, unsigned i, struct dkm_client_cgroup *g,
			const char **path)
{
	const char *p = m->payload;
	struct dkm_clients hdr;
	size_t recs, strings;

	if (m->hdr.type != DKM_MSG_CLIENTS_REPLY || m->hdr.payload_len < sizeof(hdr))
		return false;
	memcpy(&hdr, p, sizeof(hdr));
	if (!(hdr.flags & DKM_CLIENTS_CGROUPS) || i >= hdr.n)
		return false;
	recs = sizeof(hdr) + (size_t)hdr.n * sizeof(struct dkm_client_entry);
	strings = recs + (size_t)hdr.n * sizeof(*g);
	/* the paths follow in entry order: skip those before i */
	for (unsigned k = 0; k < i; k++) {
		memcpy(g, p + recs + k * sizeof(*g), sizeof(*g));
		strings += g->path_len + 1;
	}
	memcpy(g, p + recs + i * sizeof(*g), sizeof(*g));
	*path = p + strings;
	return true;
}

bool dkm_status_self(const struct dkm_msg *m, struct dkm_client_cgroup *g, const char **path)
{
	const char *p = m->payload;
	struct dkm_status st;
	size_t off;

	if (m->hdr.type != DKM_MSG_STATUS_REPLY || m->hdr.payload_len < sizeof(st))
		return false;
	memcpy(&st, p, sizeof(st));
	if (!(st.flags & DKM_STATUS_SELF))
		return false;
	off = sizeof(st) + (size_t)st.nnodes * sizeof(struct dkm_status_node) +
	      (size_t)st.nnodes * st.nnodes;
	memcpy(g, p + off, sizeof(*g));
	*path = p + off + sizeof(*g);
	return true;
}

/* A request the daemon's minor version must know, or a clear error instead of a dropped link. */
static int need_minor(struct dkm_conn *c, unsigned minor, const char *what)
{
	if (c->hello.minor >= minor)
		return 0;
	snprintf(c->err, sizeof(c->err), "the daemon speaks protocol 1.%u, which has no %s (1.%u): "
		 "update daxkmemd", c->hello.minor, what, minor);
	return -EOPNOTSUPP;
}

int dkm_conn_devices(struct dkm_conn *c, struct dkm_msg *m)
{
	int r = need_minor(c, 1, "DEVICES");

	if (r < 0) {
		memset(m, 0, sizeof(*m));
		return r;
	}
	r = call(c, DKM_MSG_DEVICES, NULL, 0, DKM_MSG_DEVICES_REPLY, m);

	if (r < 0)
		dkm_msg_clear(m);
	return r;
}

int dkm_conn_reconfigure(struct dkm_conn *c, const struct dkm_reconfigure *req, struct dkm_msg *m)
{
	int r = need_minor(c, 1, "RECONFIGURE");

	if (r < 0) {
		memset(m, 0, sizeof(*m));
		return r;
	}
	r = call(c, DKM_MSG_RECONFIGURE, req, sizeof(*req), DKM_MSG_RECONFIGURE_REPLY, m);

	if (r < 0)
		dkm_msg_clear(m);
	return r;
}

int dkm_conn_clients(struct dkm_conn *c, struct dkm_msg *m)
{
	int r = call(c, DKM_MSG_CLIENTS, NULL, 0, DKM_MSG_CLIENTS_REPLY, m);

	if (r < 0)
		dkm_msg_clear(m);
	return r;
}
