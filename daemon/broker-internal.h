/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The broker's state, shared by the files that make up the broker:
 * broker.c (lifecycle, clients, the request flow), admit.c (admission),
 * plan.c (placement plans), ledger.c (accounting), region.c (memfds) and
 * report.c (STATUS/CLIENTS). All of it belongs to the event loop thread but
 * the worker, which is shared with the population thread under its own lock
 * (worker.h). Not for the server: it uses broker.h.
 */
#ifndef DKM_DAEMON_BROKER_INTERNAL_H
#define DKM_DAEMON_BROKER_INTERNAL_H

#include <stdint.h>

#include "broker.h"
#include "wire.h"
#include "worker.h"

#define MAX_NODES DKM_PROTO_MAX_NODES

struct dkm_broker {
	const struct dkm_config *cfg;
	struct dkm_topology *topo;
	dkm_region_ready_fn ready;
	void *ctx;
	struct dkm_client *clients;
	unsigned nclients;
	unsigned nregions;                 /* live regions of all clients */
	unsigned max_regions;              /* bound from the descriptor limit */
	uint32_t next_client_id;
	uint64_t next_region_id;
	uint64_t node_granted[MAX_NODES];  /* bytes of live ranges per node */
	uint64_t node_owed[MAX_NODES];     /* of those, bytes not populated yet */
	uint64_t node_released[MAX_NODES]; /* bytes of ranges freed since start, per node */
	uint64_t high_wmark[MAX_NODES];    /* bytes, from /proc/zoneinfo */
	long page_size;
	struct dkm_grant *unsettled;       /* client_populate regions being populated (broker.h) */
	struct dkm_cgroup_fs cgfs;         /* where clients' cgroups are read, if cgfs_err is 0 */
	int cgfs_err;                      /* dkm_broker_open_cgroups failed (or was not called) */

	struct dkm_worker worker;          /* the population thread: all it shares with the loop */
};

/* A kind's name for messages ("?" when unknown). */
static inline const char *kind_name(uint32_t kind)
{
	const char *s = dkm_kind_name(kind);

	return s ? s : "?";
}

#endif
