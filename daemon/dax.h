/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Reconfiguring dax devices between devdax and system-ram (the kmem driver).
 *
 * The policy and its safety live here; the device operations come from a
 * backend (struct dkm_dax_ops): libdaxctl on a live system, a model in the
 * unit tests. Converting a device to system-ram destroys its persistent
 * contents, so only the devices a request selects are touched, a dry run
 * performs no operation at all, and an operation that fails half-way is
 * rolled back; each step reports the state the device was left in, read back
 * from the backend, never assumed.
 *
 * The sequences (libdaxctl's, as daxctl(1) uses them):
 *   devdax -> system-ram   disable, enable_ram, online (movable or normal)
 *   system-ram -> devdax   offline, disable, enable_devdax
 * A kernel that onlines hot-added memory itself (memhp_default_state, or
 * CONFIG_MEMORY_HOTPLUG_DEFAULT_ONLINE) has onlined the blocks by the time
 * enable_ram returns: the step says so, and names the zone it chose.
 */
#ifndef DKM_DAEMON_DAX_H
#define DKM_DAEMON_DAX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "topology.h"

/* One device as the backend sees it now. */
struct dkm_dax_info {
	char name[32];           /* "dax0.0" */
	char uuid[40];           /* uuid of the namespace it comes from, "" if none */
	enum dkm_dax_mode mode;
	char driver[32];         /* bound driver, "" when none */
	uint64_t size;           /* bytes */
	int target_node;         /* -1 unknown */
	unsigned blocks;         /* memory blocks (system-ram only) */
	unsigned online_blocks;
	int movable;             /* 1 online blocks are ZONE_MOVABLE, 0 not, -1 n.a. */
};

/* Device operations. Each returns 0 (online/offline: blocks changed, >= 0) or -errno. */
struct dkm_dax_ops {
	int (*scan)(void *be, struct dkm_dax_info **ret, unsigned *n); /* *ret: free() */
	/* Optional: fill in namespace uuids (slow: a whole nvdimm bus walk), when scan does not. */
	void (*uuids)(void *be, struct dkm_dax_info *v, unsigned n);
	int (*disable)(void *be, const char *name);
	int (*enable_ram)(void *be, const char *name);
	int (*enable_devdax)(void *be, const char *name);
	int (*online)(void *be, const char *name, bool movable);
	int (*offline)(void *be, const char *name);
};

enum dkm_dax_action {
	DKM_DAX_ACT_NONE,         /* already as asked */
	DKM_DAX_ACT_TO_RAM,       /* devdax (or unbound) -> system-ram */
	DKM_DAX_ACT_ONLINE,       /* system-ram with offline blocks: online them */
	DKM_DAX_ACT_TO_DEVDAX,    /* system-ram (or unbound) -> devdax */
	DKM_DAX_ACT_REFUSED,      /* not touched: busy node, unknown driver */
};

struct dkm_dax_step {
	char name[32];
	enum dkm_dax_action action;
	int error;               /* 0, or the positive errno of the failure or refusal */
	enum dkm_dax_mode before, after;
	int node;
	unsigned blocks, online_before, online_after;
	int movable_after;       /* as dkm_dax_info.movable */
	bool auto_onlined;       /* the kernel onlined the blocks, not us */
	bool rolled_back;        /* a failure was undone: the device is as it was */
	char message[256];       /* what was done or would be done, and the state left */
};

struct dkm_dax_request {
	enum dkm_dax_mode to;    /* DKM_DAX_SYSTEM_RAM or DKM_DAX_DEVDAX */
	bool movable;            /* system-ram: online as ZONE_MOVABLE, else the normal zone */
	bool dry_run;            /* plan and report, touch nothing */
	bool all;                /* every device not bound to another driver (system-ram only) */
	const char *const *names; /* device names or namespace uuids, when not all */
	unsigned nnames;
	/* devdax: may node's memory be taken away? false with why filled in: refused */
	bool (*node_free)(void *ctx, int node, char *why, size_t size);
	void *ctx;
};

/*
 * Carry out a request. *steps (free()) gets one step per selected device.
 * Returns 0 when every step succeeded or had nothing to do; the first failing
 * step's -errno otherwise (the other steps still ran: devices are
 * independent). Before touching anything: -ENODEV when a name or uuid matches
 * no device, -EINVAL for a request that makes no sense (devdax for all), with
 * err saying why; the backend's scan error.
 */
int dkm_dax_reconfigure(const struct dkm_dax_ops *ops, void *be, const struct dkm_dax_request *req,
			struct dkm_dax_step **steps, unsigned *nsteps, char *err, size_t errsize);

/* Does a device match a name-or-uuid word (case-insensitive for the uuid)? */
bool dkm_dax_matches(const struct dkm_dax_info *d, const char *word);
const char *dkm_dax_action_name(enum dkm_dax_action a);

/* The libdaxctl (and libndctl, for namespace uuids) backend on the live /sys. */
extern const struct dkm_dax_ops dkm_dax_daxctl_ops;

#endif
