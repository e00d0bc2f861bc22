/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Framing and descriptor passing for the protocol of proto.h, and the
 * blocking helpers of the client side; the rules are in wire.h. Each
 * message is validated (validate.c) before the receiver hands it out.
 *
 * Descriptors on a stream socket: the sender attaches a message's
 * descriptors to its first byte (the header). The kernel hands them out
 * with the first recvmsg that reads any byte of the sending skb, and that
 * recvmsg ends with the skb's data (it never reads past an skb carrying
 * descriptors). So a descriptor's byte lies somewhere in the stream range
 * [from, to) of the read that brought it: the message that claims it must
 * start in that range, and a descriptor still unclaimed once a message
 * ending at or after `to` has been taken belongs to no message (-EPROTO).
 * Pending descriptors are a FIFO; a message claims hdr.nfds of them.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "validate.h"
#include "wire.h"

#define HDR_SIZE sizeof(struct dkm_msg_header)
/* Most bytes a receiver buffers: one maximal message and the next header. */
#define RX_MAX (HDR_SIZE + DKM_PROTO_MAX_PAYLOAD + HDR_SIZE)
/* Free space a read asks for at least (until RX_MAX). */
#define RX_CHUNK 4096
/* An emptied buffer larger than this is freed. */
#define RX_KEEP (64 * 1024)
#define RX_MAX_FDS (DKM_PROTO_MAX_FDS * 2)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static void close_fds(const int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* ---- messages ---- */

void dkm_msg_clear(struct dkm_msg *m)
{
	if (!m)
		return;
	for (unsigned i = 0; i < DKM_PROTO_MAX_FDS && i < m->hdr.nfds; i++)
		if (m->fds[i] >= 0)
			close(m->fds[i]);
	free(m->payload);
	memset(m, 0, sizeof(*m));
	for (unsigned i = 0; i < DKM_PROTO_MAX_FDS; i++)
		m->fds[i] = -1;
}

int dkm_msg_take_fd(struct dkm_msg *m, unsigned i)
{
	int fd;

	if (!m || i >= DKM_PROTO_MAX_FDS || i >= m->hdr.nfds)
		return -1;
	fd = m->fds[i];
	m->fds[i] = -1;
	return fd;
}

/* ---- receiving ---- */

void dkm_rx_init(struct dkm_rx *rx)
{
	memset(rx, 0, sizeof(*rx));
	for (unsigned i = 0; i < RX_MAX_FDS; i++)
		rx->fds[i] = -1;
}

void dkm_rx_clear(struct dkm_rx *rx)
{
	if (!rx)
		return;
	close_fds(rx->fds, rx->nfds);
	free(rx->buf);
	dkm_rx_init(rx);
}

static void rx_drop_fds(struct dkm_rx *rx)
{
	close_fds(rx->fds, rx->nfds);
	for (unsigned i = 0; i < RX_MAX_FDS; i++)
		rx->fds[i] = -1;
	rx->nfds = 0;
}

static int rx_reserve(struct dkm_rx *rx)
{
	size_t cap;
	uint8_t *buf;

	if (rx->cap - rx->len >= RX_CHUNK || rx->cap >= RX_MAX)
		return 0;
	cap = rx->cap ? rx->cap : RX_CHUNK;
	while (cap - rx->len < RX_CHUNK)
		cap *= 2;
	if (cap > RX_MAX)
		cap = RX_MAX;
	buf = realloc(rx->buf, cap);
	if (!buf)
		return -ENOMEM;
	rx->buf = buf;
	rx->cap = cap;
	return 0;
}

ssize_t dkm_rx_fill(struct dkm_rx *rx, int sock)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * RX_MAX_FDS)];
	} ctl;
	int got[sizeof(ctl.buf) / sizeof(int)];
	unsigned ngot = 0;
	bool bad = false;
	struct iovec iov;
	struct msghdr mh;
	ssize_t n;
	int r;

	if (rx->len >= RX_MAX)
		return -EMSGSIZE;
	r = rx_reserve(rx);
	if (r < 0)
		return r;

	iov.iov_base = rx->buf + rx->len;
	iov.iov_len = rx->cap - rx->len;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl.buf;
	mh.msg_controllen = sizeof(ctl.buf);
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
			bad = true; /* only SCM_RIGHTS carries descriptors */
			continue;
		}
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		const unsigned char *data = CMSG_DATA(c);

		for (size_t i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, data + i * sizeof(int), sizeof(int));
			if (ngot < ARRAY_SIZE(got)) {
				got[ngot++] = fd;
			} else {
				close(fd); /* cannot happen: the buffer holds no more */
				bad = true;
			}
		}
	}
	if (bad || (mh.msg_flags & MSG_CTRUNC) || (n == 0 && ngot > 0)) {
		close_fds(got, ngot);
		return -EPROTO;
	}
	if (rx->nfds + ngot > RX_MAX_FDS) {
		close_fds(got, ngot);
		rx_drop_fds(rx);
		return -EPROTO;
	}
	for (unsigned i = 0; i < ngot; i++) {
		rx->fds[rx->nfds] = got[i];
		rx->fd_from[rx->nfds] = rx->pos + rx->len;
		rx->fd_to[rx->nfds] = rx->pos + rx->len + (size_t)n;
		rx->nfds++;
	}
	rx->len += (size_t)n;
	return n;
}

int dkm_rx_next(struct dkm_rx *rx, struct dkm_msg *m)
{
	struct dkm_msg_header h;
	struct dkm_msg out;
	uint64_t start, end;
	size_t total;
	int r;

	if (rx->len < HDR_SIZE)
		return 0;
	memcpy(&h, rx->buf, HDR_SIZE);
	r = dkm_wire_check_header(&h);
	if (r < 0)
		return r;
	total = HDR_SIZE + h.payload_len;
	if (rx->len < total)
		return 0;

	/* Descriptors: see the top of this file. */
	start = rx->pos;
	end = start + total;
	if (h.nfds > rx->nfds)
		return -EPROTO;
	for (unsigned i = 0; i < h.nfds; i++)
		if (rx->fd_from[i] > start || rx->fd_to[i] <= start)
			return -EPROTO;
	for (unsigned i = h.nfds; i < rx->nfds; i++)
		if (rx->fd_to[i] <= end)
			return -EPROTO;

	memset(&out, 0, sizeof(out));
	out.hdr = h;
	for (unsigned i = 0; i < DKM_PROTO_MAX_FDS; i++)
		out.fds[i] = i < h.nfds ? rx->fds[i] : -1;
	if (h.payload_len > 0) {
		out.payload = malloc(h.payload_len);
		if (!out.payload)
			return -ENOMEM;
		memcpy(out.payload, rx->buf + HDR_SIZE, h.payload_len);
	}
	r = dkm_wire_validate(&out);
	if (r < 0) {
		free(out.payload);
		return r;
	}

	/* Commit: the message owns its descriptors now. */
	memmove(rx->fds, rx->fds + h.nfds, (rx->nfds - h.nfds) * sizeof(rx->fds[0]));
	memmove(rx->fd_from, rx->fd_from + h.nfds, (rx->nfds - h.nfds) * sizeof(rx->fd_from[0]));
	memmove(rx->fd_to, rx->fd_to + h.nfds, (rx->nfds - h.nfds) * sizeof(rx->fd_to[0]));
	rx->nfds -= h.nfds;
	for (unsigned i = rx->nfds; i < RX_MAX_FDS; i++)
		rx->fds[i] = -1;
	memmove(rx->buf, rx->buf + total, rx->len - total);
	rx->len -= total;
	rx->pos += total;
	if (rx->len == 0 && rx->cap > RX_KEEP) {
		free(rx->buf);
		rx->buf = NULL;
		rx->cap = 0;
	}
	*m = out;
	return 1;
}

bool dkm_rx_pending(const struct dkm_rx *rx)
{
	return rx->len > 0 || rx->nfds > 0;
}

/* ---- sending ---- */

int dkm_wire_encode(uint16_t type, uint32_t seq, const void *payload, size_t len,
		    unsigned nfds, void **ret_buf, size_t *ret_len)
{
	struct dkm_msg_header h = {
		.magic = DKM_PROTO_MAGIC,
		.major = DKM_PROTO_MAJOR,
		.type = type,
		.flags = 0,
		.payload_len = (uint32_t)len,
		.nfds = nfds,
		.seq = seq,
	};
	uint8_t *buf;

	if (len > DKM_PROTO_MAX_PAYLOAD || nfds > DKM_PROTO_MAX_FDS)
		return -EMSGSIZE;
	if (len > 0 && !payload)
		return -EINVAL;
	buf = malloc(HDR_SIZE + len);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, &h, HDR_SIZE);
	if (len > 0)
		memcpy(buf + HDR_SIZE, payload, len);
	*ret_buf = buf;
	*ret_len = HDR_SIZE + len;
	return 0;
}

ssize_t dkm_wire_send(int sock, const void *buf, size_t len, const int *fds, unsigned nfds,
		      bool nonblock)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * DKM_PROTO_MAX_FDS)];
	} ctl;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh;
	ssize_t n;

	if (nfds > DKM_PROTO_MAX_FDS || (nfds > 0 && (!fds || len == 0)))
		return -EINVAL;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (nfds > 0) {
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
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL | (nonblock ? MSG_DONTWAIT : 0));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return n;
}

static int wait_fd(int fd, short events, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int r;

	r = poll(&p, 1, timeout_ms);
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	return r;
}

int dkm_wire_send_msg(int sock, uint16_t type, uint32_t seq, const void *payload, size_t len,
		      const int *fds, unsigned nfds)
{
	size_t blen, off = 0;
	void *buf;
	int r;

	r = dkm_wire_encode(type, seq, payload, len, nfds, &buf, &blen);
	if (r < 0)
		return r;
	while (off < blen) {
		/* descriptors go with the first byte, i.e. the first chunk only */
		ssize_t n = dkm_wire_send(sock, (uint8_t *)buf + off, blen - off, off ? NULL : fds,
					  off ? 0 : nfds, false);

		if (n == -EAGAIN) {
			/* a non-blocking socket after all */
			r = wait_fd(sock, POLLOUT, -1);
			if (r < 0)
				break;
			r = 0;
			continue;
		}
		if (n < 0) {
			r = (int)n;
			break;
		}
		off += (size_t)n;
	}
	free(buf);
	return r;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int dkm_wire_recv_msg(int sock, struct dkm_rx *rx, struct dkm_msg *m, int timeout_ms)
{
	int64_t deadline = timeout_ms >= 0 ? now_ms() + timeout_ms : 0;

	for (;;) {
		int wait = -1, r;
		ssize_t n;

		r = dkm_rx_next(rx, m);
		if (r > 0)
			return 0;
		if (r < 0)
			return r;
		n = dkm_rx_fill(rx, sock);
		if (n > 0)
			continue;
		if (n == 0)
			return -ECONNRESET;
		if (n != -EAGAIN)
			return (int)n;
		if (timeout_ms >= 0) {
			int64_t left = deadline - now_ms();

			if (left <= 0)
				return -ETIMEDOUT;
			/* +1: poll rounds down on coarse clocks; the loop checks again */
			wait = left > 1000000 ? 1000000 : (int)left + 1;
		}
		r = wait_fd(sock, POLLIN, wait);
		if (r < 0)
			return r;
	}
}

/* An ERROR with seq 0 is about the connection, not a request: the daemon
 * refusing it at accept (too many clients), before any request was read. */
static bool connection_error(const struct dkm_msg *m)
{
	return m->hdr.type == DKM_MSG_ERROR && m->hdr.seq == 0;
}

static int take_error(struct dkm_msg *reply, struct dkm_msg *m)
{
	struct dkm_error e;

	memcpy(&e, reply->payload, sizeof(e));
	*m = *reply;
	return -e.errno_value; /* > 0: validated */
}

int dkm_wire_call(int sock, struct dkm_rx *rx, uint16_t type, uint32_t seq, const void *payload,
		  size_t len, uint16_t reply_type, struct dkm_msg *m, int timeout_ms)
{
	struct dkm_msg reply;
	int r;

	r = dkm_wire_send_msg(sock, type, seq, payload, len, NULL, 0);
	if (r < 0) {
		/* closed on us: the reason may be waiting to be read */
		if ((r == -EPIPE || r == -ECONNRESET) && dkm_wire_recv_msg(sock, rx, &reply, 0) == 0) {
			if (connection_error(&reply))
				return take_error(&reply, m);
			dkm_msg_clear(&reply);
		}
		return r;
	}
	r = dkm_wire_recv_msg(sock, rx, &reply, timeout_ms);
	if (r < 0)
		return r;
	if (reply.hdr.type == DKM_MSG_ERROR && (reply.hdr.seq == seq || connection_error(&reply)))
		return take_error(&reply, m);
	if (reply.hdr.seq != seq || reply.hdr.type != reply_type) {
		dkm_msg_clear(&reply);
		return -EPROTO;
	}
	*m = reply;
	return 0;
}
