/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Message dispatch (dispatch.h): the HELLO rule, one handler per request
 * type (HELLO, ALLOC_REGION, RELEASE_REGION, STATUS, CLIENTS; DEVICES and
 * RECONFIGURE in dispatch-dax.c), and the REGION reply when a population
 * job ends.
 */
#include "dispatch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "broker.h"
#include "config.h"
#include "connection.h"
#include "dispatch-dax.h"
#include "log.h"
#include "server-internal.h"

/* ======================================================================
 * Replies
 * ====================================================================== */

static void send_region(struct conn *c, struct dkm_grant *r)
{
	struct dkm_region reply = { 0 };

	reply.id = r->id;
	reply.size = r->size;
	reply.kind = r->kind;
	/* a minor-1 client does not know CLIENT_POPULATE: its pages fault in, charged to it */
	if (r->prefault)
		reply.flags = DKM_ALLOC_PREFAULT;
	else if (r->client_populate && c->client->minor >= 2)
		reply.flags = DKM_REGION_CLIENT_POPULATE;
	reply.nranges = r->nranges;
	memcpy(reply.ranges, r->ranges, r->nranges * sizeof(r->ranges[0]));
	dkm_connection_send(c, DKM_MSG_REGION, r->seq, &reply, sizeof(reply), r->fd);
}

/* Population finished (broker callback). */
void dkm_dispatch_region_ready(void *ctx, struct dkm_client *cl, struct dkm_grant *r,
			       uint32_t seq, int err, const char *msg)
{
	struct conn *c = cl->conn;

	(void)ctx;
	if (!c || c->dead)
		return;
	if (err < 0) {
		log_warning("client %u (pid %d): %s", cl->id, (int)cl->pid, msg);
		dkm_connection_send_error(c, DKM_MSG_ALLOC_REGION, seq, -err, msg);
		return;
	}
	send_region(c, r);
}

/* ======================================================================
 * Requests
 * ====================================================================== */

/* Keep printable ASCII of a peer-given name. */
static void set_name(struct dkm_client *cl, const char *name)
{
	size_t i;

	for (i = 0; i + 1 < sizeof(cl->name) && name[i]; i++)
		cl->name[i] = name[i] >= 0x20 && name[i] < 0x7f && name[i] != ':' ? name[i] : '_';
	cl->name[i] = '\0';
}

/* HELLO: false to drop the connection (the client's process is gone). */
static bool handle_hello(struct conn *c, const struct dkm_msg *m)
{
	struct dkm_hello h;
	struct dkm_hello_reply rep = { 0 };
	struct server *s = c->srv;
	char msg[256];
	int r;

	memcpy(&h, m->payload, sizeof(h));
	if (h.major != DKM_PROTO_MAJOR) {
		snprintf(msg, sizeof(msg), "unsupported protocol version %u (daemon speaks %u)",
			 h.major, DKM_PROTO_MAJOR);
		log_notice("client pid %d: %s", (int)c->client->pid, msg);
		dkm_connection_close_after_reply(c);
		dkm_connection_send_error(c, m->hdr.type, m->hdr.seq, EPROTONOSUPPORT, msg);
		return true;
	}
	r = dkm_broker_client_hello(s->broker, c->client, h.minor, msg, sizeof(msg));
	if (r == -ESRCH) {
		log_info("client pid %d: %s: dropped", (int)c->client->pid, msg);
		return false;
	}
	if (r < 0) {
		log_notice("client pid %d uid %u refused: %s", (int)c->client->pid,
			   (unsigned)c->client->uid, msg);
		dkm_connection_close_after_reply(c);
		dkm_connection_send_error(c, m->hdr.type, m->hdr.seq, -r, msg);
		return true;
	}
	dkm_connection_hello_done(c);
	c->client->hello = true;
	set_name(c->client, h.name);
	rep.major = DKM_PROTO_MAJOR;
	rep.minor = DKM_PROTO_MINOR;
	rep.client_id = c->client->id;
	rep.max_region_size = s->cfg->max_region_size;
	rep.max_regions = s->cfg->max_regions_per_client;
	if (c->client->cg_known)
		log_debug("client %u: pid %d uid %u \"%s\", protocol 1.%u, memory cgroup %s (%s)%s",
			  c->client->id, (int)c->client->pid, (unsigned)c->client->uid,
			  c->client->name, h.minor, c->client->cg.path,
			  dkm_cgroup_version_name(c->client->cg.version),
			  c->client->cg.is_root ? ", root" : "");
	else
		log_debug("client %u: pid %d uid %u \"%s\", protocol 1.%u, memory cgroup unknown: %s",
			  c->client->id, (int)c->client->pid, (unsigned)c->client->uid,
			  c->client->name, h.minor, strerror(-c->client->cg_error));
	dkm_connection_send(c, DKM_MSG_HELLO_REPLY, m->hdr.seq, &rep, sizeof(rep), -1);
	return true;
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
		dkm_connection_send_error(c, m->hdr.type, m->hdr.seq, -ret, msg);
		return;
	}
	if (ret == 0)
		send_region(c, r);
	/* ret == 1: dkm_dispatch_region_ready replies when the worker is done */
}

static void handle_release(struct conn *c, const struct dkm_msg *m)
{
	struct dkm_release_region req;
	char msg[256] = "";
	int ret;

	memcpy(&req, m->payload, sizeof(req));
	ret = dkm_broker_release(c->srv->broker, c->client, req.id, msg, sizeof(msg));
	if (ret < 0) {
		dkm_connection_send_error(c, m->hdr.type, m->hdr.seq, -ret, msg);
		return;
	}
	dkm_connection_send(c, DKM_MSG_RELEASED, m->hdr.seq, &req, sizeof(req), -1);
}

static void handle_status(struct conn *c, const struct dkm_msg *m)
{
	void *buf;
	size_t len;

	if (dkm_broker_status(c->srv->broker, c->client, &buf, &len) < 0) {
		dkm_connection_send_error(c, m->hdr.type, m->hdr.seq, ENOMEM, "out of memory");
		return;
	}
	dkm_connection_send(c, DKM_MSG_STATUS_REPLY, m->hdr.seq, buf, len, -1);
	free(buf);
}

/*
 * Is admin_group among the peer's supplementary groups? SO_PEERGROUPS gives
 * them as they were at connect(), like SO_PEERCRED the primary one.
 */
static bool peer_in_group(int fd, gid_t g)
{
	gid_t small[64], *groups = small;
	socklen_t len = sizeof(small);
	bool found = false;

	if (g == (gid_t)-1)
		return false;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0) {
		if (errno != ERANGE || !(groups = malloc(len)))
			return false;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
			len = 0;
	}
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		found = found || groups[i] == g;
	if (groups != small)
		free(groups);
	return found;
}

static void handle_clients(struct conn *c, const struct dkm_msg *m)
{
	void *buf;
	size_t len;

	if (!dkm_broker_is_admin(c->srv->broker, c->client) &&
	    !peer_in_group(c->fd, c->srv->cfg->admin_group)) {
		dkm_connection_send_error(c, m->hdr.type, m->hdr.seq, EPERM,
					  "listing clients needs root or the admin_group");
		return;
	}
	if (dkm_broker_clients(c->srv->broker, c->client, &buf, &len) < 0) {
		dkm_connection_send_error(c, m->hdr.type, m->hdr.seq, ENOMEM, "out of memory");
		return;
	}
	dkm_connection_send(c, DKM_MSG_CLIENTS_REPLY, m->hdr.seq, buf, len, -1);
	free(buf);
}

/* ======================================================================
 * Dispatch
 * ====================================================================== */

bool dkm_dispatch(struct conn *c, const struct dkm_msg *m)
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
		return handle_hello(c, m);
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
		dkm_dispatch_devices(c, m);
		return true;
	case DKM_MSG_RECONFIGURE:
		dkm_dispatch_reconfigure(c, m);
		return true;
	default:
		log_info("client %u (pid %d): sent %s, which only the daemon sends: dropped",
			 c->client->id, (int)c->client->pid, dkm_msg_type_name(type));
		return false;
	}
}
