/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the broker reports: the STATUS_REPLY payload (per node: memory,
 * granted, resident, released, clients, CPUs, distances) and the
 * CLIENTS_REPLY payload (per client: credentials, regions, bytes), the
 * totals for sd_notify's STATUS= line, and the per-node granted/released
 * figures. Read-only on the broker.
 */
#include "broker-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ledger.h"

void dkm_broker_totals(const struct dkm_broker *b, unsigned *nclients, unsigned *nregions,
		       uint64_t *granted)
{
	unsigned nr = 0;
	uint64_t g = 0;

	for (const struct dkm_client *c = b->clients; c; c = c->next) {
		nr += c->nregions;
		g += c->granted;
	}
	*nclients = b->nclients;
	*nregions = nr;
	*granted = g;
}

uint64_t dkm_broker_node_granted(const struct dkm_broker *b, int node)
{
	return node >= 0 && node < MAX_NODES ? b->node_granted[node] : 0;
}

uint64_t dkm_broker_node_released(const struct dkm_broker *b, int node)
{
	return node >= 0 && node < MAX_NODES ? b->node_released[node] : 0;
}

static enum dkm_node_kind_wire wire_kind(enum dkm_node_kind k)
{
	switch (k) {
	case DKM_NODE_KMEM:
		return DKM_WIRE_NODE_KMEM;
	case DKM_NODE_MEMONLY:
		return DKM_WIRE_NODE_MEMONLY;
	case DKM_NODE_DRAM:
		break;
	}
	return DKM_WIRE_NODE_DRAM;
}

int dkm_broker_status(struct dkm_broker *b, void **ret, size_t *ret_len)
{
	const struct dkm_topology *t = b->topo;
	unsigned n = t->nnodes;
	struct dkm_status st = { 0 };
	struct dkm_status_node *nodes;
	static int slot_of[MAX_NODES];
	uint64_t *res;
	unsigned *ncl;
	bool *seen;
	uint8_t *dist;
	size_t len;
	char *buf;

	if (n > DKM_PROTO_MAX_NODES)
		n = DKM_PROTO_MAX_NODES;
	len = sizeof(st) + n * sizeof(*nodes) + (size_t)n * n;
	buf = calloc(1, len);
	res = calloc(n ? n : 1, sizeof(*res));
	ncl = calloc(n ? n : 1, sizeof(*ncl));
	seen = calloc(n ? n : 1, sizeof(*seen));
	if (!buf || !res || !ncl || !seen) {
		free(buf);
		free(res);
		free(ncl);
		free(seen);
		return -ENOMEM;
	}
	for (int i = 0; i < MAX_NODES; i++)
		slot_of[i] = -1;
	for (unsigned i = 0; i < n; i++)
		if (t->nodes[i].id < MAX_NODES)
			slot_of[t->nodes[i].id] = (int)i;
	nodes = (struct dkm_status_node *)(buf + sizeof(st));
	dist = (uint8_t *)(nodes + n);
	/* Per node: resident = granted - owed; clients holding a range there, each counted once. */
	for (unsigned i = 0; i < n; i++) {
		int id = t->nodes[i].id;

		res[i] = id < MAX_NODES ? b->node_granted[id] - b->node_owed[id] : 0;
	}
	for (const struct dkm_client *c = b->clients; c; c = c->next) {
		for (unsigned i = 0; i < n; i++)
			seen[i] = false;
		for (const struct dkm_grant *r = c->regions; r; r = r->next) {
			st.granted += r->size;
			st.resident += dkm_ledger_resident(r);
			for (unsigned k = 0; k < r->nranges; k++) {
				int slot = r->ranges[k].node < MAX_NODES ? slot_of[r->ranges[k].node] : -1;

				if (slot >= 0 && !seen[slot]) {
					seen[slot] = true;
					ncl[slot]++;
				}
			}
		}
	}
	st.nnodes = n;
	st.nclients = b->nclients;
	st.kmem_from_config = t->kmem_from_config;
	memcpy(buf, &st, sizeof(st));
	for (unsigned i = 0; i < n; i++) {
		const struct dkm_node *node = &t->nodes[i];
		struct dkm_status_node sn = { 0 };
		uint64_t total = node->mem_total, freeb = node->mem_free;
		size_t cl;

		/* free memory moves: read it now */
		(void)dkm_read_node_meminfo(t->root, node->id, &total, &freeb);
		sn.id = node->id;
		sn.kind = wire_kind(node->kind);
		sn.mem_total = total;
		sn.mem_free = freeb;
		sn.granted = dkm_broker_node_granted(b, node->id);
		sn.resident = res[i];
		sn.released = dkm_broker_node_released(b, node->id);
		sn.nclients = ncl[i];
		sn.ncpus = dkm_bitmap_count(&node->cpus);
		cl = dkm_bitmap_format_list(&node->cpus, sn.cpulist, sizeof(sn.cpulist));
		if (cl >= sizeof(sn.cpulist))
			memcpy(sn.cpulist + sizeof(sn.cpulist) - 4, "...", 4);
		memcpy(&nodes[i], &sn, sizeof(sn));
		for (unsigned j = 0; j < n; j++) {
			int d = node->distance[t->nodes[j].id];

			dist[i * n + j] = d > 0 && d < 256 ? (uint8_t)d : 0;
		}
	}
	free(res);
	free(ncl);
	free(seen);
	*ret = buf;
	*ret_len = len;
	return 0;
}

int dkm_broker_clients(struct dkm_broker *b, void **ret, size_t *ret_len)
{
	struct dkm_clients hdr = { 0 };
	size_t len;
	char *buf;
	unsigned i = 0;

	hdr.n = b->nclients;
	len = sizeof(hdr) + (size_t)hdr.n * sizeof(struct dkm_client_entry);
	if (len > DKM_PROTO_MAX_PAYLOAD) {
		hdr.n = (DKM_PROTO_MAX_PAYLOAD - sizeof(hdr)) / sizeof(struct dkm_client_entry);
		len = sizeof(hdr) + (size_t)hdr.n * sizeof(struct dkm_client_entry);
	}
	buf = calloc(1, len);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, &hdr, sizeof(hdr));
	for (const struct dkm_client *c = b->clients; c && i < hdr.n; c = c->next, i++) {
		struct dkm_client_entry e = { 0 };

		e.client_id = c->id;
		e.pid = c->pid;
		e.uid = c->uid;
		e.gid = c->gid;
		memcpy(e.name, c->name, sizeof(e.name));
		e.name[sizeof(e.name) - 1] = '\0';
		e.nregions = c->nregions;
		e.granted = c->granted;
		e.released = c->released;
		for (const struct dkm_grant *r = c->regions; r; r = r->next)
			e.resident += dkm_ledger_resident(r);
		memcpy(buf + sizeof(hdr) + i * sizeof(e), &e, sizeof(e));
	}
	*ret = buf;
	*ret_len = len;
	return 0;
}
