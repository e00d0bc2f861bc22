/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "server.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "broker.h"
#include "config.h"
#include "dax.h"
#include "uevent.h"
#include "log.h"
#include "util/format.h"
#include "wire.h"

/* Replies queued past this stop reading the peer's requests until they are sent. */
#define OUT_PAUSE_BYTES (64u * 1024)
/* Replies a peer may leave unread before it is dropped (a STATUS reply fits, with room). */
#define MAX_OUT_BYTES (1024u * 1024)
/* Requests handled per wake-up of one connection, so that one peer cannot starve others. */
#define MAX_MSGS_PER_WAKEUP 32
/* Seconds a new connection has to say HELLO, and a closing one to take its last reply. */
#define HELLO_TIMEOUT_S 10
#define CLOSING_TIMEOUT_S 5
/* Kernel events come in bursts (one per memory block): the map is re-read this long after the first. */
#define UEVENT_SETTLE_MS 100

struct out_msg {
	void *buf;
	size_t len, off;
	int fd;                       /* descriptor to attach to the first byte, or -1; borrowed
				       * from its region, which cannot go before the message does:
				       * only this client can release it, after reading its id */
	struct out_msg *next;
};

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

struct server {
	const struct dkm_server_options *opt;
	struct event_base *base;
	struct dkm_config *cfg;
	struct dkm_broker *broker;
	int listen_fd;
	bool activated;
	char *socket_path;            /* ours to unlink at exit, or NULL */
	struct event *ev_accept, *ev_accept_resume, *ev_worker, *ev_refresh, *ev_watchdog;
	struct event *ev_sig[3];
	struct event *ev_reap;        /* frees dead connections outside their callbacks */
	struct conn *conns;
	struct conn *dead;
	unsigned nconns;
	bool live;                    /* the map is the live /sys: devices can be reconfigured */
	int uevent_fd;                /* kernel device events, -1 without them */
	struct event *ev_uevent, *ev_settle;
};

static void refresh_map(struct server *s);

static void conn_kill(struct conn *c);

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
			conn_kill(c);
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
		conn_kill(c);
		return;
	}
	if (c->paused) {
		c->paused = false;
		event_add(c->ev_read, NULL);
		/* requests may be buffered already: handle them without waiting for more bytes */
		event_active(c->ev_read, EV_READ, 0);
	}
}

/* Queue a message (with a borrowed descriptor) and try to send it. May end c: check c->dead. */
static void conn_send(struct conn *c, uint16_t type, uint32_t seq, const void *payload, size_t len,
		      int fd)
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
	conn_kill(c);
}

static void send_error(struct conn *c, uint16_t request_type, uint32_t seq, int err,
		       const char *msg)
{
	struct dkm_error e = { 0 };

	e.errno_value = err;
	e.request_type = request_type;
	snprintf(e.message, sizeof(e.message), "%s", msg && *msg ? msg : strerror(err));
	conn_send(c, DKM_MSG_ERROR, seq, &e, sizeof(e), -1);
}

static void send_region(struct conn *c, struct dkm_grant *r)
{
	struct dkm_region reply = { 0 };

	reply.id = r->id;
	reply.size = r->size;
	reply.kind = r->kind;
	reply.flags = r->prefault ? DKM_ALLOC_PREFAULT : 0;
	reply.nranges = r->nranges;
	memcpy(reply.ranges, r->ranges, r->nranges * sizeof(r->ranges[0]));
	conn_send(c, DKM_MSG_REGION, r->seq, &reply, sizeof(reply), r->fd);
}

/* Population finished (broker callback). */
static void on_region_ready(void *ctx, struct dkm_client *cl, struct dkm_grant *r, uint32_t seq,
			    int err, const char *msg)
{
	struct conn *c = cl->conn;

	(void)ctx;
	if (!c || c->dead)
		return;
	if (err < 0) {
		log_warning("client %u (pid %d): %s", cl->id, (int)cl->pid, msg);
		send_error(c, DKM_MSG_ALLOC_REGION, seq, -err, msg);
		return;
	}
	send_region(c, r);
}

/* ======================================================================
 * Requests
 * ====================================================================== */

static void notify_status(struct server *s)
{
	unsigned nclients, nregions;
	uint64_t granted;
	char g[32];

	dkm_broker_totals(s->broker, &nclients, &nregions, &granted);
	sd_notifyf(0, "STATUS=serving %u client%s, %u region%s, %s granted", nclients,
		   nclients == 1 ? "" : "s", nregions, nregions == 1 ? "" : "s",
		   dkm_format_bytes(granted, g, sizeof(g)));
}

/* Keep printable ASCII of a peer-given name. */
static void set_name(struct dkm_client *cl, const char *name)
{
	size_t i;

	for (i = 0; i + 1 < sizeof(cl->name) && name[i]; i++)
		cl->name[i] = name[i] >= 0x20 && name[i] < 0x7f && name[i] != ':' ? name[i] : '_';
	cl->name[i] = '\0';
}

static void handle_hello(struct conn *c, const struct dkm_msg *m)
{
	struct dkm_hello h;
	struct dkm_hello_reply rep = { 0 };
	struct server *s = c->srv;

	memcpy(&h, m->payload, sizeof(h));
	if (h.major != DKM_PROTO_MAJOR) {
		char msg[128];

		snprintf(msg, sizeof(msg), "unsupported protocol version %u (daemon speaks %u)",
			 h.major, DKM_PROTO_MAJOR);
		struct timeval tv = { CLOSING_TIMEOUT_S, 0 };

		log_notice("client pid %d: %s", (int)c->client->pid, msg);
		c->closing = true;
		event_add(c->ev_timeout, &tv);
		send_error(c, m->hdr.type, m->hdr.seq, EPROTONOSUPPORT, msg);
		return;
	}
	event_del(c->ev_timeout);
	c->client->hello = true;
	set_name(c->client, h.name);
	rep.major = DKM_PROTO_MAJOR;
	rep.minor = DKM_PROTO_MINOR;
	rep.client_id = c->client->id;
	rep.max_region_size = s->cfg->max_region_size;
	rep.max_regions = s->cfg->max_regions_per_client;
	log_debug("client %u: pid %d uid %u \"%s\"", c->client->id, (int)c->client->pid,
		  (unsigned)c->client->uid, c->client->name);
	conn_send(c, DKM_MSG_HELLO_REPLY, m->hdr.seq, &rep, sizeof(rep), -1);
}

static void handle_alloc(struct conn *c, const struct dkm_msg *m)
{
	struct dkm_alloc_region req;
	struct dkm_grant *r = NULL;
	char msg[256] = "";
	int ret;

	memcpy(&req, m->payload, sizeof(req));
	ret = dkm_broker_alloc(c->srv->broker, c->client, &req, m->hdr.seq, &r, msg, sizeof(msg));
	if (ret < 0) {
		log_info("client %u (pid %d uid %u): %s refused: %s", c->client->id,
			 (int)c->client->pid, (unsigned)c->client->uid,
			 dkm_kind_name(req.kind) ? dkm_kind_name(req.kind) : "?", msg);
		send_error(c, m->hdr.type, m->hdr.seq, -ret, msg);
		return;
	}
	if (ret == 0)
		send_region(c, r);
	/* ret == 1: on_region_ready replies when the worker is done */
}

static void handle_release(struct conn *c, const struct dkm_msg *m)
{
	struct dkm_release_region req;
	char msg[256] = "";
	int ret;

	memcpy(&req, m->payload, sizeof(req));
	ret = dkm_broker_release(c->srv->broker, c->client, req.id, msg, sizeof(msg));
	if (ret < 0) {
		send_error(c, m->hdr.type, m->hdr.seq, -ret, msg);
		return;
	}
	conn_send(c, DKM_MSG_RELEASED, m->hdr.seq, &req, sizeof(req), -1);
}

static void handle_status(struct conn *c, const struct dkm_msg *m)
{
	void *buf;
	size_t len;

	if (dkm_broker_status(c->srv->broker, &buf, &len) < 0) {
		send_error(c, m->hdr.type, m->hdr.seq, ENOMEM, "out of memory");
		return;
	}
	conn_send(c, DKM_MSG_STATUS_REPLY, m->hdr.seq, buf, len, -1);
	free(buf);
}

static void handle_clients(struct conn *c, const struct dkm_msg *m)
{
	void *buf;
	size_t len;

	if (!dkm_broker_is_admin(c->srv->broker, c->client)) {
		send_error(c, m->hdr.type, m->hdr.seq, EPERM,
			   "listing clients needs root or the admin_group");
		return;
	}
	if (dkm_broker_clients(c->srv->broker, &buf, &len) < 0) {
		send_error(c, m->hdr.type, m->hdr.seq, ENOMEM, "out of memory");
		return;
	}
	conn_send(c, DKM_MSG_CLIENTS_REPLY, m->hdr.seq, buf, len, -1);
	free(buf);
}

/* ---- dax devices ---- */

static uint32_t mode_to_wire(enum dkm_dax_mode m)
{
	switch (m) {
	case DKM_DAX_SYSTEM_RAM:
		return DKM_WIRE_DAX_SYSTEM_RAM;
	case DKM_DAX_DEVDAX:
		return DKM_WIRE_DAX_DEVDAX;
	case DKM_DAX_DISABLED:
		return DKM_WIRE_DAX_DISABLED;
	case DKM_DAX_OTHER:
		break;
	}
	return DKM_WIRE_DAX_OTHER;
}

static uint32_t action_to_wire(enum dkm_dax_action a)
{
	switch (a) {
	case DKM_DAX_ACT_NONE:
		return DKM_WIRE_RECONF_NONE;
	case DKM_DAX_ACT_TO_RAM:
		return DKM_WIRE_RECONF_TO_RAM;
	case DKM_DAX_ACT_ONLINE:
		return DKM_WIRE_RECONF_ONLINE;
	case DKM_DAX_ACT_TO_DEVDAX:
		return DKM_WIRE_RECONF_TO_DEVDAX;
	case DKM_DAX_ACT_REFUSED:
		break;
	}
	return DKM_WIRE_RECONF_REFUSED;
}

/* Returning a node's memory to devdax is refused while the broker has grants on it. */
static bool node_free(void *ctx, int node, char *why, size_t size)
{
	struct server *s = ctx;
	uint64_t g = dkm_broker_node_granted(s->broker, node);
	char b[32];

	if (!g)
		return true;
	snprintf(why, size, "node %d has %s granted to clients; they must release it (or exit) first",
		 node, dkm_format_bytes(g, b, sizeof(b)));
	return false;
}

/* Carry out a request with libdaxctl, log what was done, re-read the map if anything changed. */
static int reconfigure(struct server *s, struct dkm_dax_request *req, const char *who,
		       struct dkm_dax_step **steps, unsigned *nsteps, char *err, size_t errsize)
{
	bool changed = false;
	int r;

	req->node_free = node_free;
	req->ctx = s;
	r = dkm_dax_reconfigure(&dkm_dax_daxctl_ops, NULL, req, steps, nsteps, err, errsize);
	if (!*steps) {
		log_error("%s: %s", who, err[0] ? err : strerror(-r));
		return r;
	}
	for (unsigned i = 0; i < *nsteps; i++) {
		const struct dkm_dax_step *st = &(*steps)[i];

		if (st->error)
			log_error("%s: %s: %s", who, st->name, st->message);
		else if (st->action != DKM_DAX_ACT_NONE && !req->dry_run)
			log_notice("%s: %s: %s", who, st->name, st->message);
		else
			log_info("%s: %s: %s", who, st->name, st->message);
		if (!req->dry_run && st->before != st->after)
			changed = true;
		if (!req->dry_run && st->online_before != st->online_after)
			changed = true;
	}
	if (changed)
		refresh_map(s);
	return r;
}

/* The configuration's reconfigure= at start-up and reload. */
static void apply_policy(struct server *s, const struct dkm_config *cfg)
{
	struct dkm_dax_request req = { .to = DKM_DAX_SYSTEM_RAM, .movable = cfg->online_movable };
	struct dkm_dax_step *steps = NULL;
	unsigned n = 0;
	char err[256];

	if (cfg->reconfigure == DKM_RECONFIGURE_NONE)
		return;
	if (!s->live) {
		log_warning("reconfigure= is ignored: the node map comes from %s, not the live /sys",
			    s->opt->sysfs_root);
		return;
	}
	req.all = cfg->reconfigure == DKM_RECONFIGURE_ALL;
	req.names = (const char *const *)cfg->reconfigure_list;
	req.nnames = cfg->nreconfigure_list;
	(void)reconfigure(s, &req, "reconfigure=", &steps, &n, err, sizeof(err));
	free(steps);
}

static bool selected_by_config(const struct dkm_config *cfg, const struct dkm_dax_info *d)
{
	if (cfg->reconfigure == DKM_RECONFIGURE_ALL)
		return d->mode != DKM_DAX_OTHER && d->size != 0; /* a region's seed device has no memory */
	for (unsigned i = 0; cfg->reconfigure == DKM_RECONFIGURE_LIST && i < cfg->nreconfigure_list; i++)
		if (dkm_dax_matches(d, cfg->reconfigure_list[i]))
			return true;
	return false;
}

static void handle_devices(struct conn *c, const struct dkm_msg *m)
{
	struct server *s = c->srv;
	const struct dkm_topology *t = dkm_broker_topology(s->broker);
	struct dkm_dax_info *live = NULL;
	unsigned nlive = 0, n = t->ndax;
	struct dkm_devices hdr = { 0 };
	size_t max = (DKM_PROTO_MAX_PAYLOAD - sizeof(hdr)) / sizeof(struct dkm_device_entry);
	uint8_t *buf;
	size_t len;

	if (n > max)
		n = (unsigned)max;
	/* namespace uuids come from libndctl, which knows only the live /sys */
	if (s->live && dkm_dax_daxctl_ops.scan(NULL, &live, &nlive) < 0)
		nlive = 0;
	if (nlive)
		dkm_dax_daxctl_ops.uuids(NULL, live, nlive);
	len = sizeof(hdr) + (size_t)n * sizeof(struct dkm_device_entry);
	buf = calloc(1, len);
	if (!buf) {
		free(live);
		send_error(c, m->hdr.type, m->hdr.seq, ENOMEM, "out of memory");
		return;
	}
	hdr.n = n;
	hdr.flags = s->live ? DKM_DEVICES_RECONFIGURABLE : 0;
	memcpy(buf, &hdr, sizeof(hdr));
	for (unsigned i = 0; i < n; i++) {
		const struct dkm_dax_dev *d = &t->dax[i];
		struct dkm_device_entry e = { 0 };
		struct dkm_dax_info info = { 0 };

		snprintf(info.name, sizeof(info.name), "%s", d->name);
		info.mode = d->mode;
		info.size = d->size == DKM_UNKNOWN_U64 ? 0 : d->size;
		for (unsigned k = 0; k < nlive; k++)
			if (!strcmp(live[k].name, d->name))
				snprintf(info.uuid, sizeof(info.uuid), "%s", live[k].uuid);
		snprintf(e.name, sizeof(e.name), "%s", d->name);
		snprintf(e.uuid, sizeof(e.uuid), "%s", info.uuid);
		snprintf(e.driver, sizeof(e.driver), "%s", d->driver);
		e.mode = mode_to_wire(d->mode);
		e.target_node = d->target_node >= 0 && d->target_node < DKM_PROTO_MAX_NODES
					? d->target_node : -1;
		e.size = d->size;
		e.blocks = d->blocks;
		e.online_blocks = d->online_blocks <= d->blocks ? d->online_blocks : d->blocks;
		e.movable = d->movable < 0 ? -1 : d->movable > 0;
		e.selected = selected_by_config(s->cfg, &info);
		e.granted = e.target_node >= 0 ? dkm_broker_node_granted(s->broker, e.target_node) : 0;
		memcpy(buf + sizeof(hdr) + i * sizeof(e), &e, sizeof(e));
	}
	free(live);
	conn_send(c, DKM_MSG_DEVICES_REPLY, m->hdr.seq, buf, len, -1);
	free(buf);
}

static void handle_reconfigure(struct conn *c, const struct dkm_msg *m)
{
	struct server *s = c->srv;
	struct dkm_reconfigure req;
	struct dkm_dax_request dr = { 0 };
	const char *names[DKM_RECONF_MAX_DEVICES];
	struct dkm_dax_step *steps = NULL;
	struct dkm_reconfigure_reply rep = { 0 };
	unsigned n = 0;
	char err[256] = "", who[64];
	uint8_t *buf;
	size_t len;
	int r;

	memcpy(&req, m->payload, sizeof(req));
	if (c->client->uid != 0) {
		send_error(c, m->hdr.type, m->hdr.seq, EPERM,
			   "reconfiguring dax devices needs root: it can destroy persistent data");
		return;
	}
	if (!s->live) {
		snprintf(err, sizeof(err), "the node map comes from %s, not the live /sys: "
			 "devices are reconfigured only there", s->opt->sysfs_root);
		send_error(c, m->hdr.type, m->hdr.seq, EOPNOTSUPP, err);
		return;
	}
	dr.to = req.mode == DKM_WIRE_DAX_DEVDAX ? DKM_DAX_DEVDAX : DKM_DAX_SYSTEM_RAM;
	dr.movable = req.flags & DKM_RECONF_MOVABLE  ? true
		     : req.flags & DKM_RECONF_NORMAL ? false
						     : s->cfg->online_movable;
	dr.dry_run = req.flags & DKM_RECONF_DRY_RUN;
	if (req.ndevices) {
		for (unsigned i = 0; i < req.ndevices; i++)
			names[i] = req.devices[i];
		dr.names = names;
		dr.nnames = req.ndevices;
	} else if (dr.to == DKM_DAX_DEVDAX) {
		send_error(c, m->hdr.type, m->hdr.seq, EINVAL,
			   "name the devices to return to devdax");
		return;
	} else if (s->cfg->reconfigure == DKM_RECONFIGURE_NONE) {
		snprintf(err, sizeof(err), "no device named, and reconfigure= in %s selects none",
			 s->opt->config_path);
		send_error(c, m->hdr.type, m->hdr.seq, EINVAL, err);
		return;
	} else {
		dr.all = s->cfg->reconfigure == DKM_RECONFIGURE_ALL;
		dr.names = (const char *const *)s->cfg->reconfigure_list;
		dr.nnames = s->cfg->nreconfigure_list;
	}
	snprintf(who, sizeof(who), "client %u (pid %d)%s", c->client->id, (int)c->client->pid,
		 dr.dry_run ? " dry run" : "");
	r = reconfigure(s, &dr, who, &steps, &n, err, sizeof(err));
	if (!steps) {
		send_error(c, m->hdr.type, m->hdr.seq, -r, err);
		return;
	}
	rep.n = n;
	rep.error = -r;
	len = sizeof(rep) + (size_t)n * sizeof(struct dkm_reconfigure_step);
	buf = calloc(1, len);
	if (!buf) {
		free(steps);
		send_error(c, m->hdr.type, m->hdr.seq, ENOMEM, "out of memory");
		return;
	}
	memcpy(buf, &rep, sizeof(rep));
	for (unsigned i = 0; i < n; i++) {
		const struct dkm_dax_step *st = &steps[i];
		struct dkm_reconfigure_step w = { 0 };

		snprintf(w.name, sizeof(w.name), "%s", st->name);
		snprintf(w.message, sizeof(w.message), "%s", st->message);
		w.action = action_to_wire(st->action);
		w.error = st->error;
		w.before = mode_to_wire(st->before);
		w.after = mode_to_wire(st->after);
		w.node = st->node >= 0 && st->node < DKM_PROTO_MAX_NODES ? st->node : -1;
		w.blocks = st->blocks;
		w.online_after = st->online_after <= st->blocks ? st->online_after : st->blocks;
		w.movable = st->movable_after < 0 ? -1 : st->movable_after > 0;
		w.flags = (st->auto_onlined ? DKM_RECONF_STEP_AUTO_ONLINED : 0) |
			  (st->rolled_back ? DKM_RECONF_STEP_ROLLED_BACK : 0);
		memcpy(buf + sizeof(rep) + i * sizeof(w), &w, sizeof(w));
	}
	free(steps);
	conn_send(c, DKM_MSG_RECONFIGURE_REPLY, m->hdr.seq, buf, len, -1);
	free(buf);
	notify_status(s);
}

/* One message. Returns false when the peer broke the protocol (drop it). */
static bool dispatch(struct conn *c, const struct dkm_msg *m)
{
	uint16_t type = m->hdr.type;

	if (!c->client->hello && type != DKM_MSG_HELLO) {
		log_info("client pid %d: %s before HELLO: dropped", (int)c->client->pid,
			 dkm_msg_type_name(type));
		return false;
	}
	switch (type) {
	case DKM_MSG_HELLO:
		if (c->client->hello) {
			log_info("client %u (pid %d): second HELLO: dropped", c->client->id,
				 (int)c->client->pid);
			return false;
		}
		handle_hello(c, m);
		return true;
	case DKM_MSG_ALLOC_REGION:
		handle_alloc(c, m);
		return true;
	case DKM_MSG_RELEASE_REGION:
		handle_release(c, m);
		return true;
	case DKM_MSG_STATUS:
		handle_status(c, m);
		return true;
	case DKM_MSG_CLIENTS:
		handle_clients(c, m);
		return true;
	case DKM_MSG_DEVICES:
		handle_devices(c, m);
		return true;
	case DKM_MSG_RECONFIGURE:
		handle_reconfigure(c, m);
		return true;
	default:
		log_info("client %u (pid %d): sent %s, which only the daemon sends: dropped",
			 c->client->id, (int)c->client->pid, dkm_msg_type_name(type));
		return false;
	}
}

/* ======================================================================
 * Connections
 * ====================================================================== */

/*
 * End a connection: everything it holds is returned now, but the structure
 * lives on (dead) until the reaper runs from the event loop, so callers up
 * the stack may still look at c->dead.
 */
static void conn_kill(struct conn *c)
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

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	if (c->dead)
		return;
	log_info("client %u (pid %d): %s: dropped", c->client->id, (int)c->client->pid,
		 c->closing ? "does not read its last reply" : "no HELLO in time");
	conn_kill(c);
}

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
				conn_kill(c);
				return;
			}
			handled++;
			if (c->closing) {
				dkm_msg_clear(&m);
				continue;
			}
			if (!dispatch(c, &m)) {
				dkm_msg_clear(&m);
				conn_kill(c);
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
			conn_kill(c);
			return;
		}
		if (n < 0) {
			log_info("client %u (pid %d): %s: dropped", c->client->id,
				 (int)c->client->pid,
				 n == -EPROTO	  ? "bad descriptors or control data"
				 : n == -EMSGSIZE ? "message too large"
						  : strerror((int)-n));
			conn_kill(c);
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

static void on_accept_resume(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;

	(void)fd;
	(void)what;
	event_add(s->ev_accept, NULL);
}

static void refuse(int fd, uint16_t err, const char *msg)
{
	struct dkm_error e = { 0 };
	void *buf;
	size_t len;

	e.errno_value = err;
	e.request_type = DKM_MSG_HELLO;
	snprintf(e.message, sizeof(e.message), "%s", msg);
	if (dkm_wire_encode(DKM_MSG_ERROR, 0, &e, sizeof(e), 0, &buf, &len) == 0) {
		(void)dkm_wire_send(fd, buf, len, NULL, 0, true);
		free(buf);
	}
	close(fd);
}

static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct server *s = arg;

	(void)what;
	for (int i = 0; i < 64; i++) {
		struct ucred cred;
		socklen_t clen = sizeof(cred);
		struct dkm_client *cl;
		struct conn *c;
		char msg[256];
		int fd, r;

		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				struct timeval tv = { 1, 0 };

				log_warning("accept: %s: pausing new connections for 1 s",
					    strerror(errno));
				event_del(s->ev_accept);
				event_add(s->ev_accept_resume, &tv);
			} else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
				log_warning("accept: %s", strerror(errno));
			}
			return;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0) {
			log_warning("SO_PEERCRED: %s", strerror(errno));
			close(fd);
			continue;
		}
		r = dkm_broker_client_new(s->broker, cred.pid, cred.uid, cred.gid, &cl, msg,
					  sizeof(msg));
		if (r < 0) {
			log_notice("connection of pid %d uid %u refused: %s", (int)cred.pid,
				   (unsigned)cred.uid, msg);
			refuse(fd, (uint16_t)-r, msg);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			dkm_broker_client_gone(s->broker, cl);
			close(fd);
			continue;
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
			conn_kill(c);
			continue;
		}
		{
			struct timeval tv = { HELLO_TIMEOUT_S, 0 };

			event_add(c->ev_timeout, &tv);
		}
	}
}

/* ======================================================================
 * Socket
 * ====================================================================== */

static int make_socket(struct server *s, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t old;
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_error("socket path %s is longer than %zu bytes", path, sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	if (lstat(path, &st) == 0) {
		int probe;

		if (!S_ISSOCK(st.st_mode)) {
			log_error("%s exists and is not a socket: not removing it", path);
			return -EEXIST;
		}
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(probe);
			log_error("another daemon serves %s", path);
			return -EADDRINUSE;
		}
		if (probe >= 0)
			close(probe);
		if (unlink(path) < 0 && errno != ENOENT) {
			r = -errno;
			log_error("removing stale socket %s: %s", path, strerror(errno));
			return r;
		}
		log_info("removed stale socket %s", path);
	} else {
		char dir[sizeof(sa.sun_path)], *slash;

		strcpy(dir, path);
		slash = strrchr(dir, '/');
		if (slash && slash != dir) {
			*slash = '\0';
			if (mkdir(dir, 0755) == 0)
				log_info("created %s", dir);
		}
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	old = umask(0777 & ~s->cfg->socket_mode);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0) {
		r = -errno;
		log_error("bind %s: %s", path, strerror(errno));
		close(fd);
		return r;
	}
	if (chmod(path, s->cfg->socket_mode) < 0)
		log_warning("chmod %s: %s", path, strerror(errno));
	if (s->cfg->socket_group != (gid_t)-1 && chown(path, (uid_t)-1, s->cfg->socket_group) < 0)
		log_warning("chown %s to gid %u: %s", path, (unsigned)s->cfg->socket_group,
			    strerror(errno));
	if (listen(fd, SOMAXCONN) < 0) {
		r = -errno;
		close(fd);
		unlink(path);
		return r;
	}
	s->socket_path = strdup(path);
	return fd;
}

static int open_socket(struct server *s)
{
	int n = sd_listen_fds(1);

	if (n > 1) {
		log_error("systemd passed %d sockets, expected one", n);
		return -EINVAL;
	}
	if (n == 1) {
		int fd = SD_LISTEN_FDS_START;

		if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0) {
			log_error("the socket systemd passed is not a listening Unix stream socket");
			return -EINVAL;
		}
		if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
			return -errno;
		s->activated = true;
		log_info("serving the socket passed by systemd");
		return fd;
	}
	return make_socket(s, s->opt->socket_path ? s->opt->socket_path
			      : s->cfg->socket    ? s->cfg->socket
						  : DKM_DEFAULT_SOCKET);
}

/* ======================================================================
 * Timers and signals
 * ====================================================================== */

static int read_map(struct server *s, const struct dkm_config *cfg, struct dkm_topology **ret)
{
	char err[512];
	int r = dkm_topology_read(s->opt->sysfs_root, cfg->kmem_nodes_set ? &cfg->kmem_nodes : NULL,
				  ret, err, sizeof(err));

	if (r < 0)
		log_error("reading the node map: %s", err[0] ? err : strerror(-r));
	return r;
}

static void refresh_map(struct server *s)
{
	struct dkm_topology *t;

	if (read_map(s, s->cfg, &t) == 0)
		dkm_broker_set_topology(s->broker, t);
	dkm_broker_refresh_residency(s->broker);
	notify_status(s);
}

static void on_refresh(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	refresh_map(arg);
}

/* Kernel device events: re-read the map once a burst has settled. */
static void on_uevent(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;
	int n = dkm_uevent_drain((int)fd);

	(void)what;
	if (n < 0) {
		log_warning("kernel device events: %s; the map is refreshed by the timer only",
			    strerror(-n));
		event_del(s->ev_uevent);
		return;
	}
	if (n > 0 && !evtimer_pending(s->ev_settle, NULL)) {
		struct timeval tv = { 0, UEVENT_SETTLE_MS * 1000 };

		evtimer_add(s->ev_settle, &tv);
	}
}

static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	sd_notify(0, "WATCHDOG=1");
}

static void on_worker(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;

	(void)fd;
	(void)what;
	dkm_broker_dispatch_worker(s->broker);
}

static void add_refresh(struct server *s)
{
	struct timeval tv = { s->cfg->refresh_interval_ms / 1000,
			      (s->cfg->refresh_interval_ms % 1000) * 1000 };

	event_add(s->ev_refresh, &tv);
}

static void reload(struct server *s)
{
	struct dkm_config *cfg;
	struct dkm_topology *t;
	char err[512];

	{
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
			   (unsigned long long)ts.tv_sec * 1000000ull +
				   (unsigned long long)ts.tv_nsec / 1000ull);
	}
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		goto out;
	dkm_config_init(cfg);
	if (dkm_config_load(cfg, s->opt->config_path, s->opt->config_must_exist, err,
			    sizeof(err)) < 0) {
		log_error("reload: %s; keeping the configuration in force", err);
		goto fail;
	}
	if (read_map(s, cfg, &t) < 0) {
		log_error("reload: keeping the configuration in force");
		goto fail;
	}
	if ((cfg->socket && s->cfg->socket && strcmp(cfg->socket, s->cfg->socket)) ||
	    cfg->socket_mode != s->cfg->socket_mode)
		log_notice("reload: socket settings take effect at the next start");
	dkm_broker_set_config(s->broker, cfg);
	dkm_broker_set_topology(s->broker, t);
	dkm_config_free(s->cfg);
	free(s->cfg);
	s->cfg = cfg;
	apply_policy(s, s->cfg);
	add_refresh(s);
	log_info("configuration reloaded from %s", s->opt->config_path);
	goto out;
fail:
	dkm_config_free(cfg);
	free(cfg);
out:
	sd_notify(0, "READY=1");
	notify_status(s);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct server *s = arg;

	(void)what;
	if (sig == SIGHUP) {
		reload(s);
		return;
	}
	log_info("%s: stopping", strsignal((int)sig));
	event_base_loopbreak(s->base);
}

/* ======================================================================
 * Run
 * ====================================================================== */

int dkm_server_run(const struct dkm_server_options *o)
{
	static const int sigs[3] = { SIGTERM, SIGINT, SIGHUP };
	struct server s = { .opt = o, .listen_fd = -1, .uevent_fd = -1 };
	struct dkm_topology *t = NULL;
	uint64_t wd_usec = 0;
	char err[512];
	int r;

	signal(SIGPIPE, SIG_IGN);
	{
		/* each region held costs a descriptor: take all the kernel allows */
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			(void)setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	s.cfg = calloc(1, sizeof(*s.cfg));
	if (!s.cfg)
		return -ENOMEM;
	dkm_config_init(s.cfg);
	r = dkm_config_load(s.cfg, o->config_path, o->config_must_exist, err, sizeof(err));
	if (r < 0) {
		log_error("%s", err);
		goto out;
	}
	{
		char real[4096];

		s.live = realpath(o->sysfs_root, real) && !strcmp(real, "/sys");
	}
	r = read_map(&s, s.cfg, &t);
	if (r < 0)
		goto out;
	for (unsigned i = 0; i < t->nproblems; i++)
		log_warning("node map: %s", t->problems[i]);
	r = dkm_broker_new(s.cfg, t, on_region_ready, &s, &s.broker);
	if (r < 0) {
		dkm_topology_free(t);
		log_error("starting the broker: %s", strerror(-r));
		goto out;
	}
	s.base = event_base_new();
	if (!s.base) {
		r = -ENOMEM;
		goto out;
	}
	s.listen_fd = open_socket(&s);
	if (s.listen_fd < 0) {
		r = s.listen_fd;
		goto out;
	}
	s.ev_accept = event_new(s.base, s.listen_fd, EV_READ | EV_PERSIST, on_accept, &s);
	s.ev_accept_resume = evtimer_new(s.base, on_accept_resume, &s);
	s.ev_worker = event_new(s.base, dkm_broker_worker_fd(s.broker), EV_READ | EV_PERSIST,
				on_worker, &s);
	s.ev_refresh = event_new(s.base, -1, EV_PERSIST, on_refresh, &s);
	s.ev_reap = event_new(s.base, -1, 0, on_reap, &s);
	for (int i = 0; i < 3; i++)
		s.ev_sig[i] = evsignal_new(s.base, sigs[i], on_signal, &s);
	if (!s.ev_accept || !s.ev_accept_resume || !s.ev_worker || !s.ev_refresh || !s.ev_reap ||
	    !s.ev_sig[0] ||
	    !s.ev_sig[1] || !s.ev_sig[2]) {
		r = -ENOMEM;
		goto out;
	}
	{
		/* regions are bounded by descriptors: the limit less room for connections */
		struct rlimit rl;
		rlim_t max = 1024;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
			max = rl.rlim_cur;
		else if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
			max = 1u << 20;
		max = max > (rlim_t)s.cfg->max_clients + 128 ? max - s.cfg->max_clients - 64 : max / 2;
		dkm_broker_set_max_regions(s.broker, (unsigned)(max > (1u << 24) ? 1u << 24 : max));
	}
	if (s.live) {
		/* subscribe before reconfiguring, so that no change is missed */
		s.uevent_fd = dkm_uevent_open();
		if (s.uevent_fd < 0)
			log_warning("kernel device events: %s; the node map is refreshed every %u ms only",
				    strerror(-s.uevent_fd), s.cfg->refresh_interval_ms);
		s.ev_settle = evtimer_new(s.base, on_refresh, &s);
		if (s.uevent_fd >= 0 && s.ev_settle)
			s.ev_uevent = event_new(s.base, s.uevent_fd, EV_READ | EV_PERSIST, on_uevent, &s);
		if (s.ev_uevent)
			event_add(s.ev_uevent, NULL);
	}
	apply_policy(&s, s.cfg);
	event_add(s.ev_accept, NULL);
	event_add(s.ev_worker, NULL);
	for (int i = 0; i < 3; i++)
		event_add(s.ev_sig[i], NULL);
	add_refresh(&s);
	if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec > 0) {
		struct timeval tv = { (time_t)(wd_usec / 2 / 1000000),
				      (suseconds_t)(wd_usec / 2 % 1000000) };

		s.ev_watchdog = event_new(s.base, -1, EV_PERSIST, on_watchdog, &s);
		if (s.ev_watchdog)
			event_add(s.ev_watchdog, &tv);
	}
	{
		const struct dkm_topology *m = dkm_broker_topology(s.broker);
		struct dkm_bitmap kmem = DKM_BITMAP_INIT;
		char list[128];

		for (unsigned i = 0; i < m->nnodes; i++)
			if (m->nodes[i].kind == DKM_NODE_KMEM)
				(void)dkm_bitmap_set(&kmem, (unsigned)m->nodes[i].id);
		dkm_bitmap_format_list(&kmem, list, sizeof(list));
		log_info("serving %s; kmem nodes: %s%s", s.socket_path ? s.socket_path : "the systemd socket",
			 list[0] ? list : "none",
			 m->kmem_from_config ? " (from kmem_nodes= in the configuration)" : "");
		dkm_bitmap_free(&kmem);
	}
	sd_notify(0, "READY=1");
	notify_status(&s);
	event_base_dispatch(s.base);
	sd_notify(0, "STOPPING=1");
	r = 0;
out:
	while (s.conns)
		conn_kill(s.conns);
	if (s.ev_reap)
		on_reap(-1, 0, &s);
	dkm_broker_free(s.broker);
	if (s.ev_accept)
		event_free(s.ev_accept);
	if (s.ev_accept_resume)
		event_free(s.ev_accept_resume);
	if (s.ev_worker)
		event_free(s.ev_worker);
	if (s.ev_refresh)
		event_free(s.ev_refresh);
	if (s.ev_reap)
		event_free(s.ev_reap);
	if (s.ev_watchdog)
		event_free(s.ev_watchdog);
	if (s.ev_uevent)
		event_free(s.ev_uevent);
	if (s.ev_settle)
		event_free(s.ev_settle);
	if (s.uevent_fd >= 0)
		close(s.uevent_fd);
	for (int i = 0; i < 3; i++)
		if (s.ev_sig[i])
			event_free(s.ev_sig[i]);
	if (s.base)
		event_base_free(s.base);
	if (s.listen_fd >= 0)
		close(s.listen_fd);
	if (s.socket_path) {
		unlink(s.socket_path);
		free(s.socket_path);
	}
	dkm_config_free(s.cfg);
	free(s.cfg);
	return r;
}
