/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Placement plans per kind: KMEM on the closest kmem node (spread over the
 * tied ones), KMEM_ALL spread over every kmem node closest first,
 * KMEM_PREFERRED on the preferred node then the kernel's fallback order.
 * This is also the admission of memory against the nodes: a node takes what
 * is free above its high watermark, the configured reserve and what was
 * granted on it but is not resident yet (node_available). The limits that do
 * not depend on a node (counts, quotas, CPU affinity) are in admit.c.
 */
#include "plan.h"

#include <errno.h>
#include <stdio.h>

#include "broker-internal.h"
#include "ledger.h"
#include "util/format.h"

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

/* What node n can still take: free - high watermark - reserve - owed. */
static uint64_t node_available(struct dkm_broker *b, int n, uint64_t *ret_free, uint64_t *ret_owed)
{
	uint64_t freeb = 0, owed, floor;

	if (dkm_read_node_meminfo(b->topo->root, n, NULL, &freeb) < 0)
		freeb = 0;
	owed = n >= 0 && n < MAX_NODES ? b->node_owed[n] : 0;
	floor = sat_add(sat_add(b->high_wmark[n], b->cfg->reserve), owed);
	if (ret_free)
		*ret_free = freeb;
	if (ret_owed)
		*ret_owed = owed;
	return freeb > floor ? freeb - floor : 0;
}

/* The client's DAXKMEM_NODES: every node must be online. */
static int check_nodeset(struct dkm_broker *b, const struct dkm_nodeset *set,
			 struct dkm_bitmap *out, char *msg, size_t msgsize)
{
	struct dkm_bitmap bad = DKM_BITMAP_INIT;
	int r = 0;

	for (unsigned n = 0; n < DKM_PROTO_MAX_NODES; n++) {
		if (!dkm_nodeset_test(set, n))
			continue;
		if (dkm_topology_node(b->topo, (int)n) &&
		    dkm_topology_node(b->topo, (int)n)->mem_total != 0)
			r = dkm_bitmap_set(out, n);
		else
			r = dkm_bitmap_set(&bad, n);
		if (r < 0)
			goto out;
	}
	if (!dkm_bitmap_empty(&bad)) {
		char list[128], online[128];

		dkm_bitmap_format_list(&bad, list, sizeof(list));
		dkm_bitmap_format_list(&b->topo->online, online, sizeof(online));
		snprintf(msg, msgsize, "DAXKMEM_NODES names node(s) %s, not online nodes with memory "
			 "(online: %s)", list, online);
		r = -EINVAL;
	}
out:
	dkm_bitmap_free(&bad);
	return r;
}

/*
 * Spread size over nodes in order, each taking what it can: the plan of
 * KMEM_ALL (and of KMEM when several nodes tie). -ENOSPC with the figures.
 */
static int plan_spread(struct dkm_broker *b, const int *nodes, unsigned n, uint64_t size,
		       uint32_t policy, struct dkm_grant *r, char *msg, size_t msgsize)
{
	uint64_t left = size, off = 0;
	size_t len = 0;
	char fig[512] = "";

	for (unsigned i = 0; i < n && left; i++) {
		uint64_t freeb, owed, avail = node_available(b, nodes[i], &freeb, &owed);
		char a[32];

		avail -= avail % (uint64_t)b->page_size;
		if (len < sizeof(fig))
			len += (size_t)snprintf(fig + len, sizeof(fig) - len, "%snode %d: %s", i ? ", " : "",
					nodes[i], dkm_format_bytes(avail, a, sizeof(a)));
		if (avail == 0)
			continue;
		if (r->nranges == DKM_PROTO_MAX_RANGES)
			break;
		if (avail > left)
			avail = left;
		r->ranges[r->nranges].offset = off;
		r->ranges[r->nranges].length = avail;
		r->ranges[r->nranges].node = nodes[i];
		r->ranges[r->nranges].policy = policy;
		r->nranges++;
		off += avail;
		left -= avail;
	}
	if (left) {
		char s[32];

		snprintf(msg, msgsize, "%s: no room for %s on node%s %s (available above "
			 "watermarks, reserve and grants not yet resident: %s)",
			 kind_name(r->kind), dkm_format_bytes(size, s, sizeof(s)), n > 1 ? "s" : "",
			 dkm_format_ints(nodes, n, (char[128]){ 0 }, 128), fig);
		return -ENOSPC;
	}
	return 0;
}

static int plan_single(struct dkm_broker *b, int node, uint64_t size, struct dkm_grant *r,
		       char *msg, size_t msgsize)
{
	uint64_t freeb, owed, avail = node_available(b, node, &freeb, &owed);

	if (avail < size) {
		char s[32], f[32], w[32], rs[32], o[32];

		snprintf(msg, msgsize, "%s: node %d cannot take %s: %s free, less %s high watermark, "
			 "%s reserve and %s granted but not yet resident",
			 kind_name(r->kind), node, dkm_format_bytes(size, s, sizeof(s)),
			 dkm_format_bytes(freeb, f, sizeof(f)),
			 dkm_format_bytes(b->high_wmark[node], w, sizeof(w)),
			 dkm_format_bytes(b->cfg->reserve, rs, sizeof(rs)),
			 dkm_format_bytes(owed, o, sizeof(o)));
		return -ENOSPC;
	}
	r->nranges = 1;
	r->ranges[0].offset = 0;
	r->ranges[0].length = size;
	r->ranges[0].node = node;
	r->ranges[0].policy = DKM_POLICY_BIND;
	return 0;
}

int dkm_plan(struct dkm_broker *b, struct dkm_client *c, const struct dkm_alloc_region *req,
	     struct dkm_grant *r, char *msg, size_t msgsize)
{
	struct dkm_bitmap set = DKM_BITMAP_INIT;
	struct dkm_placement row;
	int ret;

	/* what clients populated since the last refresh is resident, not owed */
	dkm_ledger_refresh_unsettled(b);
	if (!dkm_nodeset_empty(&req->kmem_nodes)) {
		ret = check_nodeset(b, &req->kmem_nodes, &set, msg, msgsize);
		if (ret < 0) {
			dkm_bitmap_free(&set);
			return ret;
		}
	}
	ret = dkm_placement_row(b->topo, dkm_bitmap_empty(&set) ? NULL : &set, req->cpu_node, &row);
	dkm_bitmap_free(&set);
	if (ret < 0)
		return ret;
	if (row.status != DKM_PLACE_OK) {
		snprintf(msg, msgsize, "%s: %s", kind_name(req->kind), row.message);
		ret = row.status == DKM_PLACE_NO_KMEM ? -ENODEV : -EINVAL;
		goto out;
	}
	switch (req->kind) {
	case DKM_KIND_KMEM:
		if (row.nkmem == 1)
			ret = plan_single(b, row.kmem[0], req->size, r, msg, msgsize);
		else
			ret = plan_spread(b, row.kmem, row.nkmem, req->size, DKM_POLICY_BIND, r, msg,
					  msgsize);
		break;
	case DKM_KIND_KMEM_ALL:
		ret = plan_spread(b, row.all, row.nall, req->size, DKM_POLICY_BIND, r, msg, msgsize);
		break;
	case DKM_KIND_KMEM_PREFERRED:
		if (row.pref_status != DKM_PLACE_OK) {
			snprintf(msg, msgsize, "%s", row.message);
			ret = -EINVAL;
			break;
		}
		/*
		 * PREFERRED falls back by itself, but the fallback is planned here
		 * too: what the preferred node cannot hold is accounted (and
		 * preferred) on the next nodes of the kernel's order, so that no
		 * node is promised more than it has.
		 */
		ret = plan_spread(b, row.pref, row.npref, req->size, DKM_POLICY_PREFERRED, r, msg,
				  msgsize);
		break;
	default:
		snprintf(msg, msgsize, "unknown kind %u", req->kind);
		ret = -EINVAL;
	}
out:
	dkm_placement_row_clear(&row);
	(void)c;
	return ret;
}
