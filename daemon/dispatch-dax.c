/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dax devices (dispatch-dax.h): the DEVICES reply from the node map (with
 * namespace uuids from libndctl on the live /sys), RECONFIGURE and the
 * configuration's reconfigure= carried out with libdaxctl (dax.h), refused
 * for a node while the broker has grants on it; the map is re-read after
 * any change.
 */
#include "dispatch-dax.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "config.h"
#include "connection.h"
#include "dax.h"
#include "log.h"
#include "notify.h"
#include "server-internal.h"
#include "util/format.h"

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
		dkm_server_refresh_map(s);
	return r;
}

/* The configuration's reconfigure= at start-up and reload. */
void dkm_dispatch_apply_policy(struct server *s, const struct dkm_config *cfg)
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

void dkm_dispatch_devices(struct conn *c, const struct dkm_msg *m)
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
		dkm_connection_send_error(c, m->hdr.type, m->hdr.seq, ENOMEM, "out of memory");
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
	dkm_connection_send(c, DKM_MSG_DEVICES_REPLY, m->hdr.seq, buf, len, -1);
	free(buf);
}

void dkm_dispatch_reconfigure(struct conn *c, const struct dkm_msg *m)
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
		dkm_connection_send_error(c, m->hdr.type, m->hdr.seq, EPERM,
					  "reconfiguring dax devices needs root: it can destroy persistent data");
		return;
	}
	if (!s->live) {
		snprintf(err, sizeof(err), "the node map comes from %s, not the live /sys: "
			 "devices are reconfigured only there", s->opt->sysfs_root);
		dkm_connection_send_error(c, m->hdr.type, m->hdr.seq, EOPNOTSUPP, err);
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
		dkm_connection_send_error(c, m->hdr.type, m->hdr.seq, EINVAL,
					  "name the devices to return to devdax");
		return;
	} else if (s->cfg->reconfigure == DKM_RECONFIGURE_NONE) {
		snprintf(err, sizeof(err), "no device named, and reconfigure= in %s selects none",
			 s->opt->config_path);
		dkm_connection_send_error(c, m->hdr.type, m->hdr.seq, EINVAL, err);
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
		dkm_connection_send_error(c, m->hdr.type, m->hdr.seq, -r, err);
		return;
	}
	rep.n = n;
	rep.error = -r;
	len = sizeof(rep) + (size_t)n * sizeof(struct dkm_reconfigure_step);
	buf = calloc(1, len);
	if (!buf) {
		free(steps);
		dkm_connection_send_error(c, m->hdr.type, m->hdr.seq, ENOMEM, "out of memory");
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
	dkm_connection_send(c, DKM_MSG_RECONFIGURE_REPLY, m->hdr.seq, buf, len, -1);
	free(buf);
	dkm_notify_status(s->broker);
}
