/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dax devices between devdax and system-ram (dax.h): the reconfiguration
 * policy (selection, dry run, order of steps, rollback, auto-online kernels)
 * over a backend of operations, and that backend for the live /sys through
 * libdaxctl and libndctl (namespace uuids).
 */
#include "dax.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <systemd/sd-daemon.h>

#include <daxctl/libdaxctl.h>
#include <ndctl/libndctl.h>

#include "log.h"
#include "util/format.h"
#include "util/sysfs.h"

const char *dkm_dax_action_name(enum dkm_dax_action a)
{
	switch (a) {
	case DKM_DAX_ACT_NONE:
		return "none";
	case DKM_DAX_ACT_TO_RAM:
		return "system-ram";
	case DKM_DAX_ACT_ONLINE:
		return "online";
	case DKM_DAX_ACT_TO_DEVDAX:
		return "devdax";
	case DKM_DAX_ACT_REFUSED:
		return "refused";
	}
	return "?";
}

bool dkm_dax_matches(const struct dkm_dax_info *d, const char *word)
{
	return !strcmp(d->name, word) || (d->uuid[0] && !strcasecmp(d->uuid, word));
}

static const struct dkm_dax_info *find(const struct dkm_dax_info *v, unsigned n, const char *name)
{
	for (unsigned i = 0; i < n; i++)
		if (!strcmp(v[i].name, name))
			return &v[i];
	return NULL;
}

/* Read one device back after an operation; false (and *out untouched) if it is gone. */
static bool reread(const struct dkm_dax_ops *ops, void *be, const char *name,
		   struct dkm_dax_info *out)
{
	struct dkm_dax_info *v = NULL;
	const struct dkm_dax_info *d;
	unsigned n = 0;
	bool found = false;

	if (ops->scan(be, &v, &n) == 0 && (d = find(v, n, name))) {
		*out = *d;
		found = true;
	}
	free(v);
	return found;
}

__attribute__((format(printf, 2, 3)))
static void say(struct dkm_dax_step *s, const char *fmt, ...)
{
	size_t len = strlen(s->message);
	va_list ap;

	if (len >= sizeof(s->message) - 1)
		return;
	va_start(ap, fmt);
	vsnprintf(s->message + len, sizeof(s->message) - len, fmt, ap);
	va_end(ap);
}

/* "system-ram on node 2, 7 of 7 blocks online (movable)" */
static void say_state(struct dkm_dax_step *s, const struct dkm_dax_info *d)
{
	say(s, "%s", dkm_dax_mode_name(d->mode));
	if (d->target_node >= 0)
		say(s, " on node %d", d->target_node);
	if (d->mode == DKM_DAX_SYSTEM_RAM) {
		say(s, ", %u of %u blocks online", d->online_blocks, d->blocks);
		if (d->online_blocks)
			say(s, " (%s)", d->movable == 1 ? "movable" : d->movable == 0 ? "normal zone"
									: "zone unknown");
	}
}

static void finish(struct dkm_dax_step *s, const struct dkm_dax_info *d)
{
	s->after = d->mode;
	s->online_after = d->online_blocks;
	s->blocks = d->blocks ? d->blocks : s->blocks;
	s->movable_after = d->movable;
}

/* What should happen to one device; sets action, or REFUSED with the reason. */
static void plan(const struct dkm_dax_request *req, const struct dkm_dax_info *d,
		 struct dkm_dax_step *s)
{
	if (d->mode == DKM_DAX_OTHER) {
		s->action = DKM_DAX_ACT_REFUSED;
		s->error = EBUSY;
		say(s, "bound to driver %s, which daxkmemd does not manage: not touched", d->driver);
		return;
	}
	if (req->to == DKM_DAX_SYSTEM_RAM) {
		if (d->mode != DKM_DAX_SYSTEM_RAM)
			s->action = DKM_DAX_ACT_TO_RAM;
		else if (d->online_blocks < d->blocks || !d->blocks)
			s->action = DKM_DAX_ACT_ONLINE;
		else
			s->action = DKM_DAX_ACT_NONE;
		return;
	}
	s->action = d->mode == DKM_DAX_DEVDAX ? DKM_DAX_ACT_NONE : DKM_DAX_ACT_TO_DEVDAX;
	if (s->action == DKM_DAX_ACT_TO_DEVDAX && d->mode == DKM_DAX_SYSTEM_RAM && req->node_free &&
	    d->target_node < 0) {
		s->action = DKM_DAX_ACT_REFUSED;
		s->error = EBUSY;
		say(s, "refused: its node is unknown, so its grants cannot be checked");
		return;
	}
	if (s->action == DKM_DAX_ACT_TO_DEVDAX && d->mode == DKM_DAX_SYSTEM_RAM && req->node_free) {
		char why[192] = "";

		if (!req->node_free(req->ctx, d->target_node, why, sizeof(why))) {
			s->action = DKM_DAX_ACT_REFUSED;
			s->error = EBUSY;
			say(s, "refused: %s", why[0] ? why : "its node is in use");
		}
	}
}

static void describe_plan(const struct dkm_dax_request *req, const struct dkm_dax_info *d,
			  struct dkm_dax_step *s)
{
	switch (s->action) {
	case DKM_DAX_ACT_NONE:
		say(s, "nothing to do: ");
		say_state(s, d);
		break;
	case DKM_DAX_ACT_TO_RAM:
		say(s, "%s %s -> system-ram (online %s)%s", req->dry_run ? "would convert" : "converting",
		    dkm_dax_mode_name(d->mode), req->movable ? "movable" : "normal zone",
		    ", destroying its persistent contents");
		break;
	case DKM_DAX_ACT_ONLINE:
		say(s, "%s %u offline blocks of system-ram (%s)", req->dry_run ? "would online" : "onlining",
		    d->blocks - d->online_blocks, req->movable ? "movable" : "normal zone");
		break;
	case DKM_DAX_ACT_TO_DEVDAX:
		say(s, "%s %s -> devdax", req->dry_run ? "would convert" : "converting",
		    dkm_dax_mode_name(d->mode));
		break;
	case DKM_DAX_ACT_REFUSED:
		break;
	}
}

/* Put a device that was devdax back after a failed conversion to system-ram. */
static void back_to_devdax(const struct dkm_dax_ops *ops, void *be, struct dkm_dax_step *s,
			   enum dkm_dax_mode was)
{
	struct dkm_dax_info now;
	int r = 0;

	if (reread(ops, be, s->name, &now) && now.mode == DKM_DAX_SYSTEM_RAM) {
		if (now.online_blocks && (r = ops->offline(be, s->name)) < 0)
			say(s, "; rollback: offlining: %s", strerror(-r));
		if (r >= 0 && (r = ops->disable(be, s->name)) < 0)
			say(s, "; rollback: disabling: %s", strerror(-r));
	}
	if (r >= 0 && was == DKM_DAX_DEVDAX && (r = ops->enable_devdax(be, s->name)) < 0)
		say(s, "; rollback: enable_devdax: %s", strerror(-r));
	if (r >= 0 && reread(ops, be, s->name, &now) && now.mode == was) {
		s->rolled_back = true;
		say(s, "; rolled back");
	}
}

/* Put a device that was system-ram back after a failed conversion to devdax. */
static void back_to_ram(const struct dkm_dax_ops *ops, void *be, struct dkm_dax_step *s,
			bool movable)
{
	struct dkm_dax_info now;
	int r = 0;

	if (reread(ops, be, s->name, &now) && now.mode != DKM_DAX_SYSTEM_RAM) {
		if (now.mode == DKM_DAX_DEVDAX && (r = ops->disable(be, s->name)) < 0)
			say(s, "; rollback: disabling: %s", strerror(-r));
		if (r >= 0 && (r = ops->enable_ram(be, s->name)) < 0)
			say(s, "; rollback: enable_ram: %s", strerror(-r));
	}
	if (r >= 0 && reread(ops, be, s->name, &now) && now.online_blocks < now.blocks &&
	    (r = ops->online(be, s->name, movable)) < 0)
		say(s, "; rollback: onlining: %s", strerror(-r));
	if (r >= 0 && reread(ops, be, s->name, &now) && now.mode == DKM_DAX_SYSTEM_RAM &&
	    now.online_blocks == now.blocks) {
		s->rolled_back = true;
		say(s, "; rolled back");
	}
}

static int to_ram(const struct dkm_dax_ops *ops, void *be, const struct dkm_dax_request *req,
		  const struct dkm_dax_info *d, struct dkm_dax_step *s)
{
	struct dkm_dax_info now = *d;
	int r;

	if (d->mode != DKM_DAX_SYSTEM_RAM) {
		if (d->mode == DKM_DAX_DEVDAX && (r = ops->disable(be, s->name)) < 0) {
			say(s, ": disabling: %s", strerror(-r));
			return r;
		}
		r = ops->enable_ram(be, s->name);
		if (r < 0) {
			say(s, ": enable_ram: %s", strerror(-r));
			back_to_devdax(ops, be, s, d->mode);
			return r;
		}
		if (!reread(ops, be, s->name, &now)) {
			say(s, ": the device went away");
			return -ENODEV;
		}
		if (now.online_blocks) {
			s->auto_onlined = true;
			say(s, ": the kernel onlined %u blocks itself (memory hot-plug auto-online policy)",
			    now.online_blocks);
		}
	}
	if (now.online_blocks < now.blocks || !now.blocks) {
		r = ops->online(be, s->name, req->movable);
		if (r < 0) {
			say(s, ": onlining: %s", strerror(-r));
			if (d->mode != DKM_DAX_SYSTEM_RAM)
				back_to_devdax(ops, be, s, d->mode);
			return r;
		}
	}
	if (!reread(ops, be, s->name, &now)) {
		say(s, ": the device went away");
		return -ENODEV;
	}
	finish(s, &now);
	if (now.mode != DKM_DAX_SYSTEM_RAM || now.online_blocks < now.blocks) {
		say(s, ": left ");
		say_state(s, &now);
		return -EIO;
	}
	if (now.movable >= 0 && (now.movable == 1) != req->movable)
		say(s, "; the blocks are in the %s, not %s as configured (onlined by the kernel's "
		    "policy)", now.movable ? "movable zone" : "normal zone",
		    req->movable ? "movable" : "the normal zone");
	say(s, ": now ");
	say_state(s, &now);
	return 0;
}

static int to_devdax(const struct dkm_dax_ops *ops, void *be, const struct dkm_dax_info *d,
		     struct dkm_dax_step *s)
{
	struct dkm_dax_info now;
	bool movable = d->movable != 0;
	int r;

	if (d->mode == DKM_DAX_SYSTEM_RAM) {
		if (d->online_blocks && (r = ops->offline(be, s->name)) < 0) {
			say(s, ": offlining: %s%s", strerror(-r),
			    r == -EBUSY ? " (pages in use that the kernel could not migrate)" : "");
			back_to_ram(ops, be, s, movable);
			return r;
		}
		if ((r = ops->disable(be, s->name)) < 0) {
			say(s, ": disabling: %s", strerror(-r));
			back_to_ram(ops, be, s, movable);
			return r;
		}
	}
	if ((r = ops->enable_devdax(be, s->name)) < 0) {
		say(s, ": enable_devdax: %s", strerror(-r));
		if (d->mode == DKM_DAX_SYSTEM_RAM)
			back_to_ram(ops, be, s, movable);
		return r;
	}
	if (!reread(ops, be, s->name, &now)) {
		say(s, ": the device went away");
		return -ENODEV;
	}
	finish(s, &now);
	if (now.mode != DKM_DAX_DEVDAX) {
		say(s, ": left ");
		say_state(s, &now);
		return -EIO;
	}
	say(s, ": now ");
	say_state(s, &now);
	return 0;
}

int dkm_dax_reconfigure(const struct dkm_dax_ops *ops, void *be, const struct dkm_dax_request *req,
			struct dkm_dax_step **ret, unsigned *nret, char *err, size_t errsize)
{
	struct dkm_dax_info *v = NULL;
	struct dkm_dax_step *steps;
	unsigned n = 0, nsel = 0;
	bool *sel;
	int r, first = 0;

	*ret = NULL;
	*nret = 0;
	err[0] = '\0';
	if (req->to != DKM_DAX_SYSTEM_RAM && req->to != DKM_DAX_DEVDAX) {
		snprintf(err, errsize, "a device goes to system-ram or devdax");
		return -EINVAL;
	}
	if (req->to == DKM_DAX_DEVDAX && (req->all || !req->nnames)) {
		snprintf(err, errsize, "name the devices to return to devdax");
		return -EINVAL;
	}
	r = ops->scan(be, &v, &n);
	if (r < 0) {
		snprintf(err, errsize, "reading the dax devices: %s", strerror(-r));
		return r;
	}
	/* uuids select devices: needed once, not on every re-read after an operation */
	if (ops->uuids)
		ops->uuids(be, v, n);
	sel = calloc(n ? n : 1, sizeof(*sel));
	if (!sel) {
		free(v);
		return -ENOMEM;
	}
	/* "all" means every device daxkmemd manages: not those bound to another driver */
	for (unsigned i = 0; i < n; i++)
		if (req->all && v[i].mode != DKM_DAX_OTHER) {
			sel[i] = true;
			nsel++;
		}
	for (unsigned w = 0; !req->all && w < req->nnames; w++) {
		bool hit = false;

		for (unsigned i = 0; i < n; i++)
			if (dkm_dax_matches(&v[i], req->names[w])) {
				hit = true;
				if (!sel[i])
					nsel++;
				sel[i] = true;
			}
		if (!hit) {
			snprintf(err, errsize, "no dax device is named %s or comes from a namespace "
				 "with that uuid; nothing was changed", req->names[w]);
			free(sel);
			free(v);
			return -ENODEV;
		}
	}
	steps = calloc(nsel ? nsel : 1, sizeof(*steps));
	if (!steps) {
		free(sel);
		free(v);
		return -ENOMEM;
	}
	for (unsigned i = 0, k = 0; i < n; i++) {
		struct dkm_dax_step *s;

		if (!sel[i])
			continue;
		s = &steps[k++];
		snprintf(s->name, sizeof(s->name), "%s", v[i].name);
		s->before = s->after = v[i].mode;
		s->node = v[i].target_node;
		s->blocks = v[i].blocks;
		s->online_before = s->online_after = v[i].online_blocks;
		s->movable_after = v[i].movable;
		plan(req, &v[i], s);
		describe_plan(req, &v[i], s);
		if (req->dry_run || s->action == DKM_DAX_ACT_NONE || s->action == DKM_DAX_ACT_REFUSED) {
			if (s->error && !first)
				first = -s->error;
			continue;
		}
		r = s->action == DKM_DAX_ACT_TO_DEVDAX ? to_devdax(ops, be, &v[i], s)
						       : to_ram(ops, be, req, &v[i], s);
		if (r < 0) {
			struct dkm_dax_info now;

			s->error = -r;
			if (reread(ops, be, s->name, &now)) {
				finish(s, &now);
				if (!s->rolled_back) {
					say(s, "; state now: ");
					say_state(s, &now);
				}
			}
			if (!first)
				first = r;
		}
	}
	*ret = steps;
	*nret = nsel;
	free(sel);
	free(v);
	return first;
}

/* ======================================================================
 * The libdaxctl backend
 * ====================================================================== */

static void daxctl_log(struct daxctl_ctx *ctx, int priority, const char *file, int line,
		       const char *fn, const char *format, va_list args)
{
	char buf[512];
	size_t len;

	(void)ctx;
	(void)file;
	(void)line;
	vsnprintf(buf, sizeof(buf), format, args);
	len = strlen(buf);
	while (len && buf[len - 1] == '\n')
		buf[--len] = '\0';
	dkm_log(priority <= LOG_ERR ? LOG_WARNING : LOG_DEBUG, "libdaxctl: %s: %s", fn, buf);
}

static void ndctl_log(struct ndctl_ctx *ctx, int priority, const char *file, int line,
		      const char *fn, const char *format, va_list args)
{
	daxctl_log(NULL, priority > LOG_ERR ? priority : LOG_DEBUG, file, line, fn, format, args);
}

static int open_ctx(struct daxctl_ctx **ctx)
{
	int r = daxctl_new(ctx);

	if (r < 0)
		return r;
	daxctl_set_log_fn(*ctx, daxctl_log);
	return 0;
}

static struct daxctl_dev *find_dev(struct daxctl_ctx *ctx, const char *name)
{
	struct daxctl_region *region;
	struct daxctl_dev *dev;

	daxctl_region_foreach(ctx, region)
		daxctl_dev_foreach(region, dev) {
			const char *n = daxctl_dev_get_devname(dev);

			if (n && !strcmp(n, name))
				return dev;
		}
	return NULL;
}

static void format_uuid(const unsigned char *u, char *out, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	bool zero = true;
	size_t o = 0;

	for (int i = 0; i < 16; i++)
		zero = zero && !u[i];
	if (zero || size < 37) {
		out[0] = '\0';
		return;
	}
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[u[i] >> 4];
		out[o++] = hex[u[i] & 15];
	}
	out[o] = '\0';
}

/* Namespace uuids of devdax namespaces, by the dax device names they hold. */
static void add_uuids(void *be, struct dkm_dax_info *v, unsigned n)
{
	struct ndctl_ctx *nctx;
	struct ndctl_bus *bus;

	(void)be;
	if (!n || ndctl_new(&nctx) < 0)
		return;
	ndctl_set_log_fn(nctx, ndctl_log);
	ndctl_bus_foreach(nctx, bus) {
		struct ndctl_region *region;

		ndctl_region_foreach(bus, region) {
			struct ndctl_namespace *ndns;

			ndctl_namespace_foreach(region, ndns) {
				struct ndctl_dax *dax = ndctl_namespace_get_dax(ndns);
				struct daxctl_region *dregion;
				struct daxctl_dev *dev;
				unsigned char uu[16];
				char text[40];

				if (!dax || !(dregion = ndctl_dax_get_daxctl_region(dax)))
					continue;
				ndctl_dax_get_uuid(dax, uu);
				format_uuid(uu, text, sizeof(text));
				if (!text[0])
					continue;
				daxctl_dev_foreach(dregion, dev) {
					const char *name = daxctl_dev_get_devname(dev);

					for (unsigned i = 0; name && i < n; i++)
						if (!strcmp(v[i].name, name))
							snprintf(v[i].uuid, sizeof(v[i].uuid), "%s", text);
				}
			}
		}
	}
	ndctl_unref(nctx);
}

static int daxctl_scan(void *be, struct dkm_dax_info **ret, unsigned *nret)
{
	struct daxctl_ctx *ctx;
	struct daxctl_region *region;
	struct daxctl_dev *dev;
	struct dkm_dax_info *v = NULL;
	unsigned n = 0;
	int r;

	(void)be;
	r = open_ctx(&ctx);
	if (r < 0)
		return r;
	daxctl_region_foreach(ctx, region)
		daxctl_dev_foreach(region, dev) {
			const char *name = daxctl_dev_get_devname(dev);
			struct dkm_dax_info *d, *nv;
			struct daxctl_memory *mem;

			if (!name || daxctl_dev_get_size(dev) == 0)
				continue; /* the seed device of a region: no memory behind it */
			nv = realloc(v, (n + 1) * sizeof(*v));
			if (!nv) {
				free(v);
				daxctl_unref(ctx);
				return -ENOMEM;
			}
			v = nv;
			d = &v[n++];
			memset(d, 0, sizeof(*d));
			snprintf(d->name, sizeof(d->name), "%s", name);
			d->size = daxctl_dev_get_size(dev);
			d->target_node = daxctl_dev_get_target_node(dev);
			d->movable = -1;
			if (dkm_sysfs_read_link_name("/sys", d->driver, sizeof(d->driver),
						     "bus/dax/devices/%s/driver", name) < 0)
				d->driver[0] = '\0';
			if (!d->driver[0])
				d->mode = DKM_DAX_DISABLED;
			else if (!strcmp(d->driver, "kmem"))
				d->mode = DKM_DAX_SYSTEM_RAM;
			else if (!strcmp(d->driver, "device_dax"))
				d->mode = DKM_DAX_DEVDAX;
			else
				d->mode = DKM_DAX_OTHER;
			if (d->mode == DKM_DAX_SYSTEM_RAM && (mem = daxctl_dev_get_memory(dev))) {
				int blocks = daxctl_memory_num_sections(mem);
				int online = daxctl_memory_is_online(mem);

				d->blocks = blocks > 0 ? (unsigned)blocks : 0;
				d->online_blocks = online > 0 ? (unsigned)online : 0;
				if (online > 0) {
					int m = daxctl_memory_is_movable(mem);

					d->movable = m < 0 ? -1 : m > 0;
				}
			}
		}
	daxctl_unref(ctx);
	*ret = v;
	*nret = n;
	return 0;
}

enum dev_op { OP_DISABLE, OP_ENABLE_RAM, OP_ENABLE_DEVDAX, OP_ONLINE, OP_ONLINE_NORMAL, OP_OFFLINE };

static int daxctl_do(const char *name, enum dev_op op)
{
	struct daxctl_ctx *ctx;
	struct daxctl_dev *dev;
	struct daxctl_memory *mem;
	int r;

	/* reconfiguration runs on the event loop: keep the service watchdog fed between steps */
	sd_notify(0, "WATCHDOG=1");
	r = open_ctx(&ctx);
	if (r < 0)
		return r;
	dev = find_dev(ctx, name);
	if (!dev) {
		daxctl_unref(ctx);
		return -ENODEV;
	}
	switch (op) {
	case OP_DISABLE:
		r = daxctl_dev_disable(dev);
		break;
	case OP_ENABLE_RAM:
		r = daxctl_dev_enable_ram(dev);
		break;
	case OP_ENABLE_DEVDAX:
		r = daxctl_dev_enable_devdax(dev);
		break;
	case OP_ONLINE:
	case OP_ONLINE_NORMAL:
	case OP_OFFLINE:
		mem = daxctl_dev_get_memory(dev);
		if (!mem) {
			r = -ENXIO;
			break;
		}
		r = op == OP_ONLINE	   ? daxctl_memory_online(mem)
		    : op == OP_ONLINE_NORMAL ? daxctl_memory_online_no_movable(mem)
					     : daxctl_memory_offline(mem);
		break;
	}
	daxctl_unref(ctx);
	if (r < 0)
		log_info("%s: libdaxctl operation %d: %s", name, (int)op, strerror(-r));
	return r;
}

static int daxctl_disable(void *be, const char *name)
{
	(void)be;
	return daxctl_do(name, OP_DISABLE);
}

static int daxctl_enable_ram(void *be, const char *name)
{
	(void)be;
	return daxctl_do(name, OP_ENABLE_RAM);
}

static int daxctl_enable_devdax(void *be, const char *name)
{
	(void)be;
	return daxctl_do(name, OP_ENABLE_DEVDAX);
}

static int daxctl_online(void *be, const char *name, bool movable)
{
	(void)be;
	return daxctl_do(name, movable ? OP_ONLINE : OP_ONLINE_NORMAL);
}

static int daxctl_offline(void *be, const char *name)
{
	(void)be;
	return daxctl_do(name, OP_OFFLINE);
}

const struct dkm_dax_ops dkm_dax_daxctl_ops = {
	.scan = daxctl_scan,
	.uuids = add_uuids,
	.disable = daxctl_disable,
	.enable_ram = daxctl_enable_ram,
	.enable_devdax = daxctl_enable_devdax,
	.online = daxctl_online,
	.offline = daxctl_offline,
};
