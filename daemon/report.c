/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the broker reports: the STATUS_REPLY payload (per node: memory,
 * granted, resident, released, clients, CPUs, distances; for a minor-2
 * client its own memory cgroup) and the CLIENTS_REPLY payload (per client:
 * credentials, regions, bytes; for a minor-2 asker each client's memory
 * cgroup, its limits read now, and who its regions are charged to), the
 * totals for sd_notify's STATUS= line, and the per-node granted/released
 * figures. Read-only on the broker (and on the cgroup files).
 */
#include "broker-internal.h"

#include <errno.h>
#include <stdio.h>
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

/* Whether the asking client speaks minor 2 and gets the cgroup records. */
static bool wants_cgroups(const struct dkm_client *asking)
{
	return asking && asking->minor >= 2;
}

static uint32_t wire_cgroup_version(enum dkm_cgroup_version v)
{
	switch (v) {
	case DKM_CGROUP_V1:
		return DKM_WIRE_CGROUP_V1;
	case DKM_CGROUP_V2:
		return DKM_WIRE_CGROUP_V2;
	case DKM_CGROUP_NONE:
		break;
	}
	return DKM_WIRE_CGROUP_NONE;
}

/* c's cgroup record, its limits read now; *path and *path_len: what follows it on the wire. */
static void cgroup_record(const struct dkm_broker *b, const struct dkm_client *c,
			  struct dkm_client_cgroup *g, const char **path, size_t *path_len)
{
	memset(g, 0, sizeof(*g));
	g->limit = g->swap_limit = UINT64_MAX;
	g->daemon_charged = c->daemon_charged;
	g->owed = c->owed_charged;
	*path = "";
	*path_len = 0;
	if (!c->cg_known) {
		g->error = c->cg_error < 0 ? -c->cg_error : EIO;
		return;
	}
	g->flags = DKM_CLIENT_CG_KNOWN;
	if (c->cg.is_root)
		g->flags |= DKM_CLIENT_CG_ROOT;
	if (dkm_config_daemon_prefaults(b->cfg, c->cg.is_root))
		g->flags |= DKM_CLIENT_CG_DAEMON_POPULATES;
	g->version = wire_cgroup_version(c->cg.version);
	*path = c->cg.path;
	*path_len = strlen(c->cg.path);
	g->path_len = (uint32_t)*path_len;
	{
		struct dkm_cgroup_limits lim;
		int r = b->cgfs_err ? b->cgfs_err
				    : dkm_cgroup_read_limits(&b->cgfs, &c->cg, DKM_CGROUP_SWAP, &lim);

		if (r < 0) {
			g->limits_error = -r;
			return;
		}
		g->limit = lim.limit;
		g->usage = lim.limit == DKM_CGROUP_UNLIMITED ? 0 : lim.usage;
		g->limit_at = (uint32_t)lim.at_len;
		g->swap_limit = lim.swap_limit;
		g->swap_usage = lim.swap_limit == DKM_CGROUP_UNLIMITED ? 0 : lim.swap_usage;
		g->swap_at = lim.swap_limit == DKM_CGROUP_UNLIMITED ? 0 : (uint32_t)lim.swap_at_len;
	}
}

int dkm_broker_status(struct dkm_broker *b, const struct dkm_client *asking, void **ret,
		      size_t *ret_len)
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
	size_t len, fixed;
	struct dkm_client_cgroup self;
	const char *self_path = "";
	size_t self_len = 0;
	char *buf;

	dkm_ledger_refresh_unsettled(b);
	if (n > DKM_PROTO_MAX_NODES)
		n = DKM_PROTO_MAX_NODES;
	fixed = len = sizeof(st) + n * sizeof(*nodes) + (size_t)n * n;
	if (wants_cgroups(asking)) {
		cgroup_record(b, asking, &self, &self_path, &self_len);
		len += sizeof(self) + self_len + 1;
		if (len <= DKM_PROTO_MAX_PAYLOAD)
			st.flags = DKM_STATUS_SELF;
		else
			len = fixed; /* 455 nodes and a long path: the nodes win */
	}
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
	if (st.flags & DKM_STATUS_SELF) {
		memcpy(buf + fixed, &self, sizeof(self));
		memcpy(buf + fixed + sizeof(self), self_path, self_len); /* the NUL is calloc's */
	}
	free(res);
	free(ncl);
	free(seen);
	*ret = buf;
	*ret_len = len;
	return 0;
}

int dkm_broker_clients(struct dkm_broker *b, const struct dkm_client *asking, void **ret,
		       size_t *ret_len)
{
	const size_t entry = sizeof(struct dkm_client_entry);
	bool cgroups = wants_cgroups(asking);
	struct dkm_clients hdr = { 0 };
	struct dkm_client_cgroup *recs = NULL;
	const char **paths = NULL;
	size_t *plens = NULL;
	size_t len = sizeof(hdr);
	unsigned n = 0;
	char *buf, *p;

	dkm_ledger_refresh_unsettled(b);
	if (cgroups) {
		recs = calloc(b->nclients ? b->nclients : 1, sizeof(*recs));
		paths = calloc(b->nclients ? b->nclients : 1, sizeof(*paths));
		plens = calloc(b->nclients ? b->nclients : 1, sizeof(*plens));
		if (!recs || !paths || !plens) {
			free(recs);
			free(paths);
			free(plens);
			return -ENOMEM;
		}
		hdr.flags = DKM_CLIENTS_CGROUPS;
	}
	/* as many clients as fit in one message, in list order */
	for (const struct dkm_client *c = b->clients; c && n < b->nclients; c = c->next) {
		size_t more = entry;

		if (cgroups) {
			cgroup_record(b, c, &recs[n], &paths[n], &plens[n]);
			more += sizeof(recs[n]) + plens[n] + 1;
		}
		if (len + more > DKM_PROTO_MAX_PAYLOAD)
			break;
		len += more;
		n++;
	}
	hdr.n = n;
	buf = calloc(1, len);
	if (!buf) {
		free(recs);
		free(paths);
		free(plens);
		return -ENOMEM;
	}
	memcpy(buf, &hdr, sizeof(hdr));
	p = buf + sizeof(hdr);
	{
		unsigned i = 0;

		for (const struct dkm_client *c = b->clients; c && i < n; c = c->next, i++) {
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
			memcpy(p + i * entry, &e, entry);
		}
	}
	p += (size_t)n * entry;
	if (cgroups) {
		char *s = p + (size_t)n * sizeof(*recs);

		memcpy(p, recs, (size_t)n * sizeof(*recs));
		for (unsigned i = 0; i < n; i++) {
			memcpy(s, paths[i], plens[i]);
			s += plens[i] + 1; /* the NUL is calloc's */
		}
	}
	free(recs);
	free(paths);
	free(plens);
	*ret = buf;
	*ret_len = len;
	return 0;
}
