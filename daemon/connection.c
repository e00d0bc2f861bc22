/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A peer connection (connection.h): reading requests with a per-wakeup limit,
 * the output queue and its backpressure, the HELLO and closing timeouts, and
 * ending and reaping connections.
 */
#include "connection.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "dispatch.h"
#include "log.h"
#include "server-internal.h"

/* Replies queued past this stop reading the peer's requests until they are sent. */
#define OUT_PAUSE_BYTES (64u * 1024)
/* Replies a peer may leave unread before it is dropped (a STATUS reply fits, with room). */
#define MAX_OUT_BYTES (1024u * 1024)
/* Requests handled per wake-up of one connection, so that one peer cannot starve others. */
#define MAX_MSGS_PER_WAKEUP 32
/* Seconds a new connection has to say HELLO, and a closing one to take its last reply. */
#define HELLO_TIMEOUT_S 10
#define CLOSING_TIMEOUT_S 5

struct out_msg {
	void *buf;
	size_t len, off;
	int fd;                       /* descriptor to attach to the first byte, or -1; borrowed
				       * from its region, which cannot go before the message does:
				       * only this client can release it, after reading its id */
	struct out_msg *next;
};

/* ======================================================================
 * Sending
 * ====================================================================== */

static void conn_flush(struct conn *c)
{
	while (c->out_head) {
		struct out_msg *m = c->out_head;
		bool first = m->off == 0;
		ssize_t n = dkm_wire_send(c->fd, (char *)m->buf + m->off, m->len - m->off,
					  first && m->fd >= 0 ? &m->fd : NULL,
					  first && m->fd >= 0 ? 1 : 0, true);

		if (n == -EAGAIN) {
			event_add(c->ev_write, NULL);
			return;
		}
		if (n < 0) {
			log_debug("client %u (pid %d): send: %s", c->client->id, (int)c->client->pid,
				  strerror((int)-n));
			dkm_connection_kill(c);
			return;
		}
		m->off += (size_t)n;
		m->fd = -1; /* went with the first byte */
		if (m->off < m->len) {
			event_add(c->ev_write, NULL);
			return;
		}
		c->out_head = m->next;
		if (!c->out_head)
			c->out_tail = NULL;
		c->out_bytes -= m->len;
		free(m->buf);
		free(m);
	}
	event_del(c->ev_write);
	if (c->closing) {
		dkm_connection_kill(c);
		return;
	}
	if (c->paused) {
		c->paused = false;
		event_add(c->ev_read, NULL);
		/* requests may be buffered already: handle them without waiting for more bytes */
		event_active(c->ev_read, EV_READ, 0);
	}
}

void dkm_connection_send(struct conn *c, uint16_t type, uint32_t seq, const void *payload,
			 size_t len, int fd)
{
	struct out_msg *m;
	int r;

	if (c->dead)
		return;
	m = calloc(1, sizeof(*m));
	if (!m)
		goto fail;
	m->fd = fd;
	r = dkm_wire_encode(type, seq, payload, len, fd >= 0 ? 1 : 0, &m->buf, &m->len);
	if (r < 0)
		goto fail;
	if (c->out_bytes + m->len > MAX_OUT_BYTES) {
		log_notice("client %u (pid %d) does not read its replies: dropped", c->client->id,
			   (int)c->client->pid);
		goto fail;
	}
	c->out_bytes += m->len;
	if (c->out_tail)
		c->out_tail->next = m;
	else
		c->out_head = m;
	c->out_tail = m;
	conn_flush(c);
	if (!c->dead && c->out_bytes > OUT_PAUSE_BYTES && !c->paused) {
		c->paused = true;
		event_del(c->ev_read);
	}
	return;
fail:
	if (m)
		free(m->buf);
	free(m);
	dkm_connection_kill(c);
}

void dkm_connection_send_error(struct conn *c, uint16_t request_type, uint32_t seq, int err,
			       const char *msg)
{
	struct dkm_error e = { 0 };

	e.errno_value = err;
	e.request_type = request_type;
	snprintf(e.message, sizeof(e.message), "%s", msg && *msg ? msg : strerror(err));
	dkm_connection_send(c, DKM_MSG_ERROR, seq, &e, sizeof(e), -1);
}

/* ======================================================================
 * Timeouts
 * ====================================================================== */

void dkm_connection_hello_done(struct conn *c)
{
	event_del(c->ev_timeout);
}

void dkm_connection_close_after_reply(struct conn *c)
{
	struct timeval tv = { CLOSING_TIMEOUT_S, 0 };

	c->closing = true;
	event_add(c->ev_timeout, &tv);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	if (c->dead)
		return;
	log_info("client %u (pid %d): %s: dropped", c->client->id, (int)c->client->pid,
		 c->closing ? "does not read its last reply" : "no HELLO in time");
	dkm_connection_kill(c);
}

/* ======================================================================
 * Reading
 * ====================================================================== */

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	unsigned handled = 0;

	(void)fd;
	(void)what;
	if (c->dead || c->paused)
		return;
	for (;;) {
		ssize_t n;

		/* whole messages already buffered first */
		for (;;) {
			struct dkm_msg m;
			int r;

			if (handled == MAX_MSGS_PER_WAKEUP) {
				/* let others run; come back to this peer's buffered requests */
				event_active(c->ev_read, EV_READ, 0);
				return;
			}
			r = dkm_rx_next(&c->rx, &m);
			if (r == 0)
				break;
			if (r < 0) {
				log_info("client %u (pid %d): malformed message (%s): dropped",
					 c->client->id, (int)c->client->pid, strerror(-r));
				dkm_connection_kill(c);
				return;
			}
			handled++;
			if (c->closing) {
				dkm_msg_clear(&m);
				continue;
			}
			if (!dkm_dispatch(c, &m)) {
				dkm_msg_clear(&m);
				dkm_connection_kill(c);
				return;
			}
			dkm_msg_clear(&m);
			if (c->dead || c->paused)
				return;
		}
		n = dkm_rx_fill(&c->rx, c->fd);
		if (n == -EAGAIN)
			return;
		if (n == 0) {
			if (dkm_rx_pending(&c->rx))
				log_info("client %u (pid %d): closed in the middle of a message",
					 c->client->id, (int)c->client->pid);
			dkm_connection_kill(c);
			return;
		}
		if (n < 0) {
			log_info("client %u (pid %d): %s: dropped", c->client->id,
				 (int)c->client->pid,
				 n == -EPROTO	  ? "bad descriptors or control data"
				 : n == -EMSGSIZE ? "message too large"
						  : strerror((int)-n));
			dkm_connection_kill(c);
			return;
		}
	}
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	if (!c->dead)
		conn_flush(c);
}

/* ======================================================================
 * Life and end
 * ====================================================================== */

void dkm_connection_new(struct server *s, int fd, struct dkm_client *cl)
{
	struct timeval tv = { HELLO_TIMEOUT_S, 0 };
	struct conn *c;

	c = calloc(1, sizeof(*c));
	if (!c) {
		dkm_broker_client_gone(s->broker, cl);
		close(fd);
		return;
	}
	c->srv = s;
	c->fd = fd;
	c->client = cl;
	cl->conn = c;
	dkm_rx_init(&c->rx);
	c->ev_read = event_new(s->base, fd, EV_READ | EV_PERSIST, on_read, c);
	c->ev_write = event_new(s->base, fd, EV_WRITE | EV_PERSIST, on_write, c);
	c->ev_timeout = evtimer_new(s->base, on_timeout, c);
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->nconns++;
	if (!c->ev_read || !c->ev_write || !c->ev_timeout || event_add(c->ev_read, NULL) < 0) {
		dkm_connection_kill(c);
		return;
	}
	event_add(c->ev_timeout, &tv);
}

/*
 * End a connection: everything it holds is returned now, but the structure
 * lives on (dead) until the reaper runs from the event loop, so callers up
 * the stack may still look at c->dead.
 */
void dkm_connection_kill(struct conn *c)
{
	struct server *s = c->srv;

	if (c->dead)
		return;
	c->dead = true;
	event_del(c->ev_read);
	event_del(c->ev_write);
	if (c->ev_timeout)
		event_del(c->ev_timeout);
	close(c->fd);
	c->fd = -1;
	dkm_rx_clear(&c->rx);
	/* queued replies first: their descriptors are borrowed from the regions freed below */
	while (c->out_head) {
		struct out_msg *m = c->out_head;

		c->out_head = m->next;
		free(m->buf);
		free(m);
	}
	if (c->client) {
		log_debug("client %u (pid %d) disconnected", c->client->id, (int)c->client->pid);
		dkm_broker_client_gone(s->broker, c->client);
		c->client = NULL;
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->nconns--;
	c->prev = NULL;
	c->next = s->dead;
	s->dead = c;
	event_active(s->ev_reap, EV_TIMEOUT, 0);
}

static void on_reap(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;

	(void)fd;
	(void)what;
	while (s->dead) {
		struct conn *c = s->dead;

		s->dead = c->next;
		if (c->ev_read)
			event_free(c->ev_read);
		if (c->ev_write)
			event_free(c->ev_write);
		if (c->ev_timeout)
			event_free(c->ev_timeout);
		free(c);
	}
}

int dkm_connections_init(struct server *s)
{
	s->ev_reap = event_new(s->base, -1, 0, on_reap, s);
	return s->ev_reap ? 0 : -ENOMEM;
}

void dkm_connections_end(struct server *s)
{
	while (s->conns)
		dkm_connection_kill(s->conns);
	if (s->ev_reap) {
		on_reap(-1, 0, s);
		event_free(s->ev_reap);
		s->ev_reap = NULL;
	}
}
