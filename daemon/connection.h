/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One peer connection of the server: its broker client (identity from
 * SO_PEERCRED, taken by the listener), the incremental receiver, the queue
 * of replies with backpressure, the HELLO timeout, and its end. Requests
 * read are handed to dkm_dispatch (dispatch.h) one at a time.
 *
 * A connection ended with dkm_connection_kill returns everything it holds
 * at once but lives on, dead, until the reaper runs from the event loop:
 * code up the stack of a callback may still look at c->dead after any call
 * that sends (a send may end the connection).
 */
#ifndef DKM_DAEMON_CONNECTION_H
#define DKM_DAEMON_CONNECTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

struct dkm_client;
struct event;
struct out_msg;
struct server;

struct conn {
	struct server *srv;
	int fd;
	struct event *ev_read, *ev_write;
	struct dkm_rx rx;
	struct out_msg *out_head, *out_tail;
	size_t out_bytes;
	struct event *ev_timeout;     /* no HELLO in time, or a closing peer that does not read */
	struct dkm_client *client;
	bool closing;                 /* close once the queue is flushed */
	bool dead;                    /* ended: freed by the reaper, touch nothing else */
	bool paused;                  /* reading stopped while replies are queued */
	struct conn *prev, *next;     /* live connections, or the dead list */
};

/* The reaper's event (s->ev_reap). 0 or -ENOMEM. */
int dkm_connections_init(struct server *s);
/* End every connection, free them and the reaper's event (at exit). */
void dkm_connections_end(struct server *s);

/*
 * A connection accepted on fd for broker client cl (both handed over): it
 * reads at once and must say HELLO within HELLO_TIMEOUT_S. Out of memory,
 * fd is closed and cl returned to the broker.
 */
void dkm_connection_new(struct server *s, int fd, struct dkm_client *cl);

/* Queue a message (with a borrowed descriptor) and try to send it. May end c: check c->dead. */
void dkm_connection_send(struct conn *c, uint16_t type, uint32_t seq, const void *payload,
			 size_t len, int fd);
/* An ERROR answering request_type; msg NULL or empty: strerror(err). May end c. */
void dkm_connection_send_error(struct conn *c, uint16_t request_type, uint32_t seq, int err,
			       const char *msg);

/* HELLO accepted: the HELLO timeout no longer applies. */
void dkm_connection_hello_done(struct conn *c);
/*
 * Close c once the replies queued from now on are sent, dropping whatever
 * it still sends; CLOSING_TIMEOUT_S for the peer to read them. Call before
 * queueing the last reply.
 */
void dkm_connection_close_after_reply(struct conn *c);

/* End a connection (see the top of this file). */
void dkm_connection_kill(struct conn *c);

#endif
