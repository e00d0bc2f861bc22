/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Framing, validation and descriptor passing for the protocol of proto.h.
 * Shared by daxkmemd (non-blocking sockets, under libevent) and the client
 * side (blocking use through dkm_wire_call).
 *
 * Receive path rules (a peer that breaks one is dropped):
 *  - recvmsg with MSG_CMSG_CLOEXEC|MSG_DONTWAIT; MSG_CTRUNC closes every
 *    descriptor received and fails with -EPROTO;
 *  - only SCM_RIGHTS control messages are accepted (others: -EPROTO);
 *  - a message's descriptors must have arrived by the time its last byte
 *    has, and no descriptors may arrive that no message claims: -EPROTO;
 *  - header: magic, major, flags == 0, payload_len <= DKM_PROTO_MAX_PAYLOAD
 *    (-EMSGSIZE), nfds <= DKM_PROTO_MAX_FDS;
 *  - payload size exact for the type, nfds exact for the type (-EPROTO),
 *    unknown type -EPROTO (dkm_wire_validate).
 * Every descriptor the receiver does not hand out is closed.
 */
#ifndef DKM_PROTO_WIRE_H
#define DKM_PROTO_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto.h"

/* One received (or to be sent) message. Owns payload and fds. */
struct dkm_msg {
	struct dkm_msg_header hdr;
	void *payload;                  /* hdr.payload_len bytes, malloc'ed; NULL when 0 */
	int fds[DKM_PROTO_MAX_FDS];     /* hdr.nfds valid descriptors, the rest -1 */
};

/* Close the descriptors, free the payload, reset to empty (fds -1). NULL is fine. */
void dkm_msg_clear(struct dkm_msg *m);
/* Hand descriptor i over to the caller (the message forgets it); -1 if none. */
int dkm_msg_take_fd(struct dkm_msg *m, unsigned i);

/*
 * Check a complete message against its type's layout: known type, exact
 * payload size (variable types: STATUS_REPLY and CLIENTS_REPLY, size from
 * their counts, which are bounded), exact nfds, reserved fields zero, strings
 * NUL-terminated within their arrays, kind/flags/range values in range.
 * Returns 0 or -EPROTO.
 */
int dkm_wire_validate(const struct dkm_msg *m);

/* Incremental receiver for one connection. */
struct dkm_rx {
	uint8_t *buf;                   /* bytes received, not yet returned as messages */
	size_t len, cap;
	int fds[DKM_PROTO_MAX_FDS * 2]; /* descriptors received, not yet claimed */
	unsigned nfds;
	uint64_t pos;                   /* stream offset of buf[0] */
	/* Stream offsets [from, to) of the recvmsg that brought fds[i]: only the
	 * message starting in that range may claim it. */
	uint64_t fd_from[DKM_PROTO_MAX_FDS * 2], fd_to[DKM_PROTO_MAX_FDS * 2];
};

void dkm_rx_init(struct dkm_rx *rx);
/* Free the buffer and close pending descriptors. */
void dkm_rx_clear(struct dkm_rx *rx);

/*
 * One recvmsg on a (non-blocking) socket. Returns bytes read (> 0), 0 at end
 * of file, -EAGAIN when nothing is there, -EPROTO (truncated control data,
 * foreign control message, too many descriptors; all received descriptors
 * closed), -EMSGSIZE when more than one maximal message is buffered, -errno.
 * Take messages out with dkm_rx_next until it returns 0 after every fill:
 * the buffer holds one maximal message and a header, no more.
 */
ssize_t dkm_rx_fill(struct dkm_rx *rx, int sock);

/*
 * Take the next complete message out of the buffer into *m (validated with
 * dkm_wire_validate). Returns 1 with *m filled, 0 when more bytes are needed,
 * -EPROTO / -EMSGSIZE when the stream is bad (the connection must be dropped).
 */
int dkm_rx_next(struct dkm_rx *rx, struct dkm_msg *m);

/* True when buffered bytes (or descriptors) remain: at EOF that is a truncated message. */
bool dkm_rx_pending(const struct dkm_rx *rx);

/*
 * Build one message into a contiguous buffer (header + payload), for sending.
 * Returns 0 or -ENOMEM / -EMSGSIZE.
 */
int dkm_wire_encode(uint16_t type, uint32_t seq, const void *payload, size_t len,
		    unsigned nfds, void **ret_buf, size_t *ret_len);

/*
 * Send bytes with descriptors attached to the first byte (SCM_RIGHTS), with
 * MSG_NOSIGNAL (and MSG_DONTWAIT when nonblock). Returns bytes sent (may be
 * short on a non-blocking socket; descriptors went with the first byte sent),
 * or -errno.
 */
ssize_t dkm_wire_send(int sock, const void *buf, size_t len, const int *fds, unsigned nfds,
		      bool nonblock);

/*
 * Blocking helpers for clients: send one whole message, and receive the next
 * one (validated), waiting at most timeout_ms (-1: forever). Return 0,
 * -ETIMEDOUT, -ECONNRESET at end of file, -EPROTO, -errno.
 */
int dkm_wire_send_msg(int sock, uint16_t type, uint32_t seq, const void *payload, size_t len,
		      const int *fds, unsigned nfds);
int dkm_wire_recv_msg(int sock, struct dkm_rx *rx, struct dkm_msg *m, int timeout_ms);

/*
 * Request/reply: send a request and wait for the reply with the same seq.
 * An ERROR reply returns -errno_value with *m holding the dkm_error. A reply
 * of a type other than reply_type or ERROR is -EPROTO, as is one with another
 * seq, except an ERROR with seq 0: the daemon refusing the connection itself
 * (also read when sending failed with EPIPE). Number requests from 1.
 */
int dkm_wire_call(int sock, struct dkm_rx *rx, uint16_t type, uint32_t seq, const void *payload,
		  size_t len, uint16_t reply_type, struct dkm_msg *m, int timeout_ms);

/* Name of a message type ("ALLOC_REGION"), or "unknown". */
const char *dkm_msg_type_name(uint16_t type);
/* Name of a kind ("KMEM_ALL"), or NULL for an invalid value. */
const char *dkm_kind_name(uint32_t kind);

/* Node sets on the wire. */
void dkm_nodeset_set(struct dkm_nodeset *s, unsigned node);
bool dkm_nodeset_test(const struct dkm_nodeset *s, unsigned node);
bool dkm_nodeset_empty(const struct dkm_nodeset *s);

#endif
