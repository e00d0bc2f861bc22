/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Admission control, the limits checked before anything is made. A
 * connection: max_clients and max_clients_per_uid. A region: the page size,
 * max_region_size, regions per client, per uid and in the whole daemon (its
 * descriptor limit), populations in flight per client, the uid's quota, and
 * that the client may run on the CPU node it names. The checks run in order
 * and the first that fails is the answer. Whether the nodes can take the
 * memory (free memory, watermark, reserve, owed bytes) is decided while
 * planning, in plan.c.
 */
#include "admit.h"

#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "broker-internal.h"
#include "ledger.h"
#include "util/format.h"

/* Regions one client may have being populated at once. */
#define MAX_PENDING_PER_CLIENT 8

int dkm_admit_client(const struct dkm_broker *b, uid_t uid, char *msg, size_t msgsize)
{
	const struct dkm_client *c;
	unsigned same_uid = 0;

	if (b->nclients >= b->cfg->max_clients) {
		snprintf(msg, msgsize, "too many clients (max_clients=%u)", b->cfg->max_clients);
		return -EUSERS;
	}
	/* gone clients whose jobs still run count too: they still hold the worker */
	for (c = b->clients; c; c = c->next)
		if (c->uid == uid)
			same_uid++;
	if (same_uid >= b->cfg->max_clients_per_uid) {
		snprintf(msg, msgsize, "uid %u has %u connections (max_clients_per_uid=%u)",
			 (unsigned)uid, same_uid, b->cfg->max_clients_per_uid);
		return -EUSERS;
	}
	return 0;
}

/* Check that threads of pid may run on cpu_node's CPUs. */
static int check_cpu_node(struct dkm_broker *b, struct dkm_client *c, int cpu_node, char *msg,
			  size_t msgsize)
{
	const struct dkm_node *node = dkm_topology_node(b->topo, cpu_node);
	cpu_set_t *set;
	size_t setsize;
	int ncpus = 8192, bit;
	bool ok = false;

	if (!node || dkm_bitmap_empty(&node->cpus)) {
		snprintf(msg, msgsize, "CPU node %d is not an online node with CPUs", cpu_node);
		return -EINVAL;
	}
	set = CPU_ALLOC((size_t)ncpus);
	if (!set)
		return -ENOMEM;
	setsize = CPU_ALLOC_SIZE((size_t)ncpus);
	if (sched_getaffinity(c->pid, setsize, set) < 0) {
		/* the process is gone or hidden: its request cannot be checked */
		snprintf(msg, msgsize, "cannot read the CPU affinity of pid %d: %s", (int)c->pid,
			 strerror(errno));
		CPU_FREE(set);
		return -ESRCH;
	}
	dkm_bitmap_foreach(bit, &node->cpus)
		if (bit < ncpus && CPU_ISSET_S((size_t)bit, setsize, set)) {
			ok = true;
			break;
		}
	CPU_FREE(set);
	if (!ok) {
		char cpus[128];

		dkm_bitmap_format_list(&node->cpus, cpus, sizeof(cpus));
		snprintf(msg, msgsize, "pid %d may not run on CPU node %d (CPUs %s)", (int)c->pid,
			 cpu_node, cpus);
		return -EINVAL;
	}
	return 0;
}

int dkm_admit_region(struct dkm_broker *b, struct dkm_client *c,
		     const struct dkm_alloc_region *req, char *msg, size_t msgsize)
{
	uint64_t quota, used;
	unsigned uid_regions, uid_clients;

	if (req->size % (uint64_t)b->page_size) {
		snprintf(msg, msgsize, "size %" PRIu64 " is not a multiple of the page size %ld",
			 req->size, b->page_size);
		return -EINVAL;
	}
	if (req->size > b->cfg->max_region_size) {
		char s[32], m[32];

		snprintf(msg, msgsize, "%s is larger than max_region_size %s",
			 dkm_format_bytes(req->size, s, sizeof(s)),
			 dkm_format_bytes(b->cfg->max_region_size, m, sizeof(m)));
		return -EFBIG;
	}
	if (c->nregions >= b->cfg->max_regions_per_client) {
		snprintf(msg, msgsize, "client holds %u regions (max_regions_per_client=%u)",
			 c->nregions, b->cfg->max_regions_per_client);
		return -EMFILE;
	}
	dkm_ledger_uid_usage(b, c->uid, &used, &uid_regions, &uid_clients);
	if (uid_regions >= b->cfg->max_regions_per_uid) {
		snprintf(msg, msgsize, "uid %u holds %u regions (max_regions_per_uid=%u)",
			 (unsigned)c->uid, uid_regions, b->cfg->max_regions_per_uid);
		return -EMFILE;
	}
	if (b->nregions >= b->max_regions) {
		snprintf(msg, msgsize, "the daemon holds %u regions, as many as its descriptor limit "
			 "allows", b->nregions);
		return -ENFILE;
	}
	if (c->pending >= MAX_PENDING_PER_CLIENT) {
		snprintf(msg, msgsize, "%u regions of this client are being populated already",
			 c->pending);
		return -EBUSY;
	}
	quota = dkm_config_quota(b->cfg, c->uid);
	if (quota && (used + req->size > quota || used + req->size < used)) {
		char q[32], u[32], s[32];

		snprintf(msg, msgsize, "uid %u is over its quota of %s: %s granted, %s asked",
			 (unsigned)c->uid, dkm_format_bytes(quota, q, sizeof(q)),
			 dkm_format_bytes(used, u, sizeof(u)),
			 dkm_format_bytes(req->size, s, sizeof(s)));
		return -EDQUOT;
	}
	return check_cpu_node(b, c, req->cpu_node, msg, msgsize);
}
