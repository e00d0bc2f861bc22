/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The per-kind placement table: for each CPU node, which kmem node(s) each
 * kind of seed/kmem-dax.txt uses, and the order the kernel falls back in for
 * KMEM_PREFERRED.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "topology.h"
#include "util/format.h"

struct cand {
	int id;
	int key;
};

static int cmp_cand(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return (x->id > y->id) - (x->id < y->id);
}

/*
 * The kernel's fallback order from node p (mm/page_alloc.c find_next_best_node):
 * p itself first, then by distance from p plus one for a node below p and one
 * for a node with CPUs, so that on a tie headless nodes come first. The
 * kernel breaks remaining ties by a load count that depends on boot order; we
 * break them by node id.
 */
static int fallback_order(const struct dkm_topology *t, int p, int **ret, unsigned *ret_n)
{
	struct cand *c;
	int *v;
	unsigned n = 0;

	c = calloc(t->nnodes, sizeof(*c));
	v = calloc(t->nnodes, sizeof(*v));
	if (!c || !v) {
		free(c);
		free(v);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < t->nnodes; i++) {
		const struct dkm_node *node = &t->nodes[i];
		int d = dkm_topology_distance(t, p, node->id);

		if (node->id == p || d < 0 || node->mem_total == 0)
			continue;
		c[n].id = node->id;
		c[n].key = d + (node->id < p) + !dkm_bitmap_empty(&node->cpus);
		n++;
	}
	qsort(c, n, sizeof(*c), cmp_cand);
	v[0] = p;
	for (unsigned i = 0; i < n; i++)
		v[i + 1] = c[i].id;
	free(c);
	*ret = v;
	*ret_n = n + 1;
	return 0;
}

int dkm_placement_row(const struct dkm_topology *t, const struct dkm_bitmap *kmem_set, int cpu_node,
		      struct dkm_placement *row)
{
	struct cand *c;
	unsigned n = 0, nclosest = 0;
	char list[128];
	int r = 0;

	memset(row, 0, sizeof(*row));
	row->cpu_node = cpu_node;
	row->closest_distance = -1;
	c = calloc(t->nnodes, sizeof(*c));
	if (!c)
		return -ENOMEM;
	for (unsigned i = 0; i < t->nnodes; i++) {
		const struct dkm_node *node = &t->nodes[i];

		if (kmem_set ? !dkm_bitmap_test(kmem_set, (unsigned)node->id)
			     : node->kind != DKM_NODE_KMEM)
			continue;
		c[n].id = node->id;
		c[n].key = dkm_topology_distance(t, cpu_node, node->id);
		if (c[n].key < 0) {
			row->status = row->pref_status = DKM_PLACE_NO_DISTANCE;
			snprintf(row->message, sizeof(row->message),
				 "distance from CPU node %d to kmem node %d is unknown", cpu_node,
				 node->id);
			goto out;
		}
		n++;
	}
	if (n == 0) {
		row->status = row->pref_status = DKM_PLACE_NO_KMEM;
		snprintf(row->message, sizeof(row->message),
			 "no KMEM node: no dax device is in system-ram mode%s",
			 t->kmem_from_config || kmem_set ? "" : " (kmem_nodes= names nodes to use instead)");
		goto out;
	}
	qsort(c, n, sizeof(*c), cmp_cand);
	while (nclosest < n && c[nclosest].key == c[0].key)
		nclosest++;
	row->closest_distance = c[0].key;
	row->kmem = calloc(nclosest, sizeof(int));
	row->all = calloc(n, sizeof(int));
	if (!row->kmem || !row->all) {
		r = -ENOMEM;
		goto out;
	}
	for (unsigned i = 0; i < n; i++) {
		row->all[i] = c[i].id;
		if (i < nclosest)
			row->kmem[i] = c[i].id;
	}
	row->nall = n;
	row->nkmem = nclosest;
	row->status = DKM_PLACE_OK;

	if (nclosest > 1) {
		row->pref_status = DKM_PLACE_TIE;
		snprintf(row->message, sizeof(row->message),
			 "KMEM_PREFERRED is not possible for CPU node %d: kmem nodes %s are equally "
			 "close (distance %d); it needs one closest kmem node",
			 cpu_node, dkm_format_ints(row->kmem, nclosest, list, sizeof(list)),
			 c[0].key);
		goto out;
	}
	if (dkm_topology_distance(t, c[0].id, c[0].id) < 0) {
		row->pref_status = DKM_PLACE_NO_DISTANCE;
		snprintf(row->message, sizeof(row->message),
			 "distance row of kmem node %d is unknown: no fallback order", c[0].id);
		goto out;
	}
	r = fallback_order(t, c[0].id, &row->pref, &row->npref);
	if (r == 0)
		row->pref_status = DKM_PLACE_OK;
out:
	free(c);
	return r;
}

int dkm_placement_compute(const struct dkm_topology *t, struct dkm_placement_table **ret)
{
	struct dkm_placement_table *p;
	int r;

	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->rows = calloc(t->nnodes ? t->nnodes : 1, sizeof(*p->rows));
	if (!p->rows) {
		free(p);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < t->nnodes; i++) {
		if (dkm_bitmap_empty(&t->nodes[i].cpus))
			continue;
		r = dkm_placement_row(t, NULL, t->nodes[i].id, &p->rows[p->nrows++]);
		if (r < 0) {
			dkm_placement_table_free(p);
			return r;
		}
	}
	*ret = p;
	return 0;
}

void dkm_placement_row_clear(struct dkm_placement *row)
{
	free(row->kmem);
	free(row->all);
	free(row->pref);
	row->kmem = row->all = row->pref = NULL;
	row->nkmem = row->nall = row->npref = 0;
}

struct dkm_placement_table *dkm_placement_table_free(struct dkm_placement_table *p)
{
	if (!p)
		return NULL;
	for (unsigned i = 0; i < p->nrows; i++)
		dkm_placement_row_clear(&p->rows[i]);
	free(p->rows);
	free(p);
	return NULL;
}

const struct dkm_placement *dkm_placement_for(const struct dkm_placement_table *p, int cpu_node)
{
	for (unsigned i = 0; i < p->nrows; i++)
		if (p->rows[i].cpu_node == cpu_node)
			return &p->rows[i];
	return NULL;
}
