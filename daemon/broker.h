/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The broker: clients, their regions, admission and accounting. A region is
 * a sealed memfd whose shared memory policy (set with mbind on a mapping,
 * kept by the file) binds each of its ranges to a node. A region to be
 * populated before use is populated either by a worker thread (fallocate,
 * so the event loop keeps serving others meanwhile; the pages are charged to
 * the daemon's memory cgroup), or by the client in its own mapping (charged
 * to the client's): daemon_prefault= and the client's memory cgroup, read at
 * HELLO, decide (see daxkmemd.conf(5), MEMORY CGROUPS).
 *
 * Counting invariants, kept by every function here:
 *  - node_granted[n] is the sum of the lengths of all ranges on node n of
 *    all live regions (pending ones included); node_released[n] only grows,
 *    by the lengths of ranges whose region was freed;
 *  - node_owed[n] is the sum over those ranges of length - resident[i]:
 *    memory promised on n that is not populated yet (resident[] is refreshed
 *    from the memfds on a timer and when a population job ends);
 *  - client->granted is the sum of its regions' sizes; uid totals likewise;
 *    client->daemon_charged is the sum of the sizes of its regions the daemon
 *    populates (prefault), client->owed_charged the sum over its other
 *    regions (charged to the client) of size - resident;
 *  - a region is on exactly one client's list until released; the daemon's
 *    memfd is closed exactly when the region is freed.
 * The broker knows nothing of sockets: the server calls it and sends replies.
 */
#ifndef DKM_DAEMON_BROKER_H
#define DKM_DAEMON_BROKER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cgroup.h"
#include "config.h"
#include "proto.h"
#include "topology.h"

struct dkm_broker;
struct dkm_client;
struct dkm_job;

struct dkm_grant {
	uint64_t id;
	struct dkm_client *owner;
	int fd;                      /* the daemon's memfd descriptor */
	uint64_t size;
	uint32_t kind;
	bool prefault;               /* populated (or being populated) by the daemon: charged to it */
	bool client_populate;        /* to be populated before use, by the client (charged to it) */
	bool ready;                  /* may be handed out: prefault done or not wanted */
	uint32_t seq;                /* request it answers */
	unsigned nranges;
	struct dkm_range ranges[DKM_PROTO_MAX_RANGES];
	uint64_t resident[DKM_PROTO_MAX_RANGES]; /* bytes of each range last seen populated */
	struct dkm_job *job;         /* population job while !ready */
	struct dkm_grant *next;      /* owner's list */
	/*
	 * A client_populate region is "unsettled" from its grant until it is
	 * seen fully resident or has been through two refresh timer ticks: its
	 * residency is re-read before each admission and report meanwhile, so
	 * that memory the client just populated does not count twice (in the
	 * node's free memory or the cgroup's usage, and as owed).
	 */
	struct dkm_grant *unsettled_next, *unsettled_prev;
	bool unsettled;
	unsigned ticks;              /* refresh timer ticks seen while unsettled */
};

struct dkm_client {
	uint32_t id;
	pid_t pid;
	uid_t uid;
	gid_t gid;
	char name[DKM_PROTO_NAME_LEN];
	bool hello;                  /* HELLO accepted */
	uint16_t minor;              /* the protocol minor its HELLO said */
	bool cg_known;               /* its memory cgroup was read at HELLO, into cg */
	bool cg_warned;              /* reading its cgroup's limits failed once: logged */
	int cg_error;                /* !cg_known: the negative errno why not */
	struct dkm_cgroup cg;        /* its memory cgroup (kept for the connection) */
	uint64_t daemon_charged;     /* bytes of its regions the daemon populates */
	uint64_t owed_charged;       /* bytes of its other regions not yet resident */
	bool gone;                   /* connection closed: regions are being reclaimed */
	unsigned pending;            /* regions being populated */
	unsigned nregions;
	uint64_t granted;            /* bytes */
	uint64_t released;           /* bytes returned so far */
	struct dkm_grant *regions;
	void *conn;                  /* the server's connection */
	struct dkm_client *next;     /* broker's list */
};

/*
 * Called by dkm_broker_dispatch_worker when a region's population finished:
 * err 0 and r ready to send, or a negative errno with msg and r NULL (the
 * region is gone already). seq is the request's. The callback may end the
 * client's connection (dkm_broker_client_gone); the broker touches neither c
 * nor r after it returns.
 */
typedef void (*dkm_region_ready_fn)(void *ctx, struct dkm_client *c, struct dkm_grant *r,
				    uint32_t seq, int err, const char *msg);

/* Create a broker using cfg (borrowed: it must outlive the broker or be replaced) and t (owned). */
int dkm_broker_new(const struct dkm_config *cfg, struct dkm_topology *t, dkm_region_ready_fn ready,
		   void *ctx, struct dkm_broker **ret);
/* Release every region, stop the worker, free everything. */
struct dkm_broker *dkm_broker_free(struct dkm_broker *b);

/*
 * Where clients' memory cgroups are read: the proc root and the cgroup-fs
 * root ("/proc", "/sys/fs/cgroup"). At start and on reload; clients keep
 * the cgroup they had. On failure (-errno) every client connecting from now
 * on has an unknown cgroup.
 */
int dkm_broker_open_cgroups(struct dkm_broker *b, const char *proc_root, const char *cgroup_root);
/* The hierarchies found by dkm_broker_open_cgroups (NULL if it failed). */
const struct dkm_cgroup_fs *dkm_broker_cgroups(const struct dkm_broker *b);

/* Replace the node map (takes ownership) and/or the configuration (borrowed). */
void dkm_broker_set_topology(struct dkm_broker *b, struct dkm_topology *t);
void dkm_broker_set_config(struct dkm_broker *b, const struct dkm_config *cfg);
const struct dkm_topology *dkm_broker_topology(const struct dkm_broker *b);

/* A new connection: refused with -EUSERS past max_clients, -EDQUOT past max_clients_per_uid. */
int dkm_broker_client_new(struct dkm_broker *b, pid_t pid, uid_t uid, gid_t gid,
			  struct dkm_client **ret, char *msg, size_t msgsize);
/*
 * HELLO of minor version minor: read the client's memory cgroup (from its
 * pid) and keep it. -ESRCH: the process is gone (drop the connection).
 * -EACCES with msg: the cgroup cannot be read and [cgroup_quota] has lines,
 * so the client cannot be served (refuse it). Otherwise 0: an unreadable
 * cgroup only means that the daemon never populates the client's regions
 * and does not check them against its cgroup's figures.
 */
int dkm_broker_client_hello(struct dkm_broker *b, struct dkm_client *c, uint16_t minor, char *msg,
			    size_t msgsize);
/* The connection closed: every region returns now (pending ones when their worker job ends). */
void dkm_broker_client_gone(struct dkm_broker *b, struct dkm_client *c);

/*
 * ALLOC_REGION. On success returns 0 with *ret ready to send, or 1 when it
 * is being populated (the ready callback follows). On failure a negative
 * errno and msg says why (naming the node and the figures).
 */
int dkm_broker_alloc(struct dkm_broker *b, struct dkm_client *c, const struct dkm_alloc_region *req,
		     uint32_t seq, struct dkm_grant **ret, char *msg, size_t msgsize);
/* RELEASE_REGION: -ENOENT if the client holds no region with that id. */
int dkm_broker_release(struct dkm_broker *b, struct dkm_client *c, uint64_t id, char *msg,
		       size_t msgsize);

/* Re-read how much of each region is populated (the refresh timer). */
void dkm_broker_refresh_residency(struct dkm_broker *b);
/* Most regions all clients together may hold (the daemon's descriptors bound it). */
void dkm_broker_set_max_regions(struct dkm_broker *b, unsigned max);

/* Descriptor that becomes readable when worker jobs finish; call dispatch then. */
int dkm_broker_worker_fd(const struct dkm_broker *b);
void dkm_broker_dispatch_worker(struct dkm_broker *b);

/*
 * STATUS_REPLY and CLIENTS_REPLY payloads (malloc'ed) for the asking client:
 * with its own cgroup record (STATUS), with every client's (CLIENTS) when
 * its HELLO said minor 2 or later, in the layout of minor 1 otherwise.
 */
int dkm_broker_status(struct dkm_broker *b, const struct dkm_client *asking, void **ret,
		      size_t *ret_len);
int dkm_broker_clients(struct dkm_broker *b, const struct dkm_client *asking, void **ret,
		       size_t *ret_len);

/* Totals for the one-line STATUS= of sd_notify. */
void dkm_broker_totals(const struct dkm_broker *b, unsigned *nclients, unsigned *nregions,
		       uint64_t *granted);
/* Bytes granted on a node (all clients), and returned since start. */
uint64_t dkm_broker_node_granted(const struct dkm_broker *b, int node);
uint64_t dkm_broker_node_released(const struct dkm_broker *b, int node);

/* May the client use administrative requests (root, or admin_group its primary group)? */
bool dkm_broker_is_admin(const struct dkm_broker *b, const struct dkm_client *c);

#endif
