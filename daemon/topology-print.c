/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The node map and placement table as aligned text and as JSON. */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "topology.h"
#include "util/format.h"
#include "util/table.h"

/* ======================================================================
 * Text
 * ====================================================================== */

static const char *fmt_u64(uint64_t v, char *buf, size_t size)
{
	if (v == DKM_UNKNOWN_U64)
		return "?";
	snprintf(buf, size, "%" PRIu64, v);
	return buf;
}

static const char *fmt_size(uint64_t v, char *buf, size_t size)
{
	return v == DKM_UNKNOWN_U64 ? "?" : dkm_format_bytes(v, buf, size);
}

static const char *fmt_list(const struct dkm_bitmap *b, char *buf, size_t size)
{
	if (dkm_bitmap_empty(b))
		return "-";
	dkm_bitmap_format_list(b, buf, size);
	return buf;
}

static void print_nodes(FILE *f, const struct dkm_topology *t)
{
	static const char *const head[] = { "~NODE", "KIND", "CPUS", "~MEMTOTAL", "~MEMFREE",
					    "~TIER", "DAX", NULL };
	struct dkm_table tab;

	dkm_table_init(&tab, head);
	for (unsigned i = 0; i < t->nnodes; i++) {
		const struct dkm_node *n = &t->nodes[i];
		char id[16], cpus[256], total[32], freeb[32], tier[16], dax[256] = "";
		const char *row[7];

		snprintf(id, sizeof(id), "%d", n->id);
		snprintf(tier, sizeof(tier), "%d", n->tier);
		for (unsigned k = 0; k < n->ndax; k++) {
			size_t len = strlen(dax);

			snprintf(dax + len, sizeof(dax) - len, "%s%s", k ? "," : "",
				 t->dax[n->dax[k]].name);
		}
		row[0] = id;
		row[1] = n->readable ? dkm_node_kind_name(n->kind) : "unreadable";
		row[2] = fmt_list(&n->cpus, cpus, sizeof(cpus));
		row[3] = fmt_size(n->mem_total, total, sizeof(total));
		row[4] = fmt_size(n->mem_free, freeb, sizeof(freeb));
		row[5] = n->tier < 0 ? "-" : tier;
		row[6] = dax[0] ? dax : "-";
		dkm_table_row(&tab, row);
	}
	fprintf(f, "Nodes of %s (kmem nodes %s)\n", t->root,
		t->kmem_from_config ? "named by kmem_nodes= in the configuration"
				    : "detected from dax devices in system-ram mode");
	dkm_table_print(&tab, f, "  ");
	dkm_table_free(&tab);
}

static void print_distances(FILE *f, const struct dkm_topology *t)
{
	fprintf(f, "\nDistances\n  node");
	for (unsigned j = 0; j < t->nnodes; j++)
		fprintf(f, " %4d", t->nodes[j].id);
	fputc('\n', f);
	for (unsigned i = 0; i < t->nnodes; i++) {
		fprintf(f, "  %4d", t->nodes[i].id);
		for (unsigned j = 0; j < t->nnodes; j++) {
			int d = t->nodes[i].distance[t->nodes[j].id];

			if (d < 0)
				fprintf(f, " %4s", "?");
			else
				fprintf(f, " %4d", d);
		}
		fputc('\n', f);
	}
}

static void print_hmat(FILE *f, const struct dkm_topology *t)
{
	static const char *const head[] = { "~NODE", "INITIATORS", "~READ-LAT", "~WRITE-LAT",
					    "~READ-BW", "~WRITE-BW", NULL };
	struct dkm_table tab;
	bool any = false;

	dkm_table_init(&tab, head);
	for (unsigned i = 0; i < t->nnodes; i++) {
		const struct dkm_node *n = &t->nodes[i];
		char id[16], init[128], a[32], b[32], c[32], d[32];
		const char *row[6];

		if (!n->hmat.present)
			continue;
		any = true;
		snprintf(id, sizeof(id), "%d", n->id);
		row[0] = id;
		row[1] = fmt_list(&n->hmat.initiators, init, sizeof(init));
		row[2] = fmt_u64(n->hmat.read_latency, a, sizeof(a));
		row[3] = fmt_u64(n->hmat.write_latency, b, sizeof(b));
		row[4] = fmt_u64(n->hmat.read_bandwidth, c, sizeof(c));
		row[5] = fmt_u64(n->hmat.write_bandwidth, d, sizeof(d));
		dkm_table_row(&tab, row);
	}
	if (any) {
		fprintf(f, "\nHMAT, access class 0 (latency in ns, bandwidth in MB/s)\n");
		dkm_table_print(&tab, f, "  ");
	} else {
		fprintf(f, "\nHMAT: no attributes (the firmware gives none)\n");
	}
	dkm_table_free(&tab);
}

static const char *fmt_movable(int m)
{
	return m < 0 ? "-" : m ? "yes" : "no";
}

static void print_dax(FILE *f, const struct dkm_topology *t)
{
	static const char *const head[] = { "DEVICE", "MODE", "~SIZE", "~NODE", "MOVABLE",
					    "~ONLINE-BLOCKS", NULL };
	struct dkm_table tab;

	if (t->ndax == 0) {
		fprintf(f, "\nDAX devices: none\n");
		return;
	}
	dkm_table_init(&tab, head);
	for (unsigned i = 0; i < t->ndax; i++) {
		const struct dkm_dax_dev *d = &t->dax[i];
		char size[32], node[16], blocks[32];
		const char *row[6];

		snprintf(node, sizeof(node), "%d", d->target_node);
		if (d->mode == DKM_DAX_SYSTEM_RAM)
			snprintf(blocks, sizeof(blocks), "%u/%u", d->online_blocks, d->blocks);
		else
			snprintf(blocks, sizeof(blocks), "-");
		row[0] = d->name;
		row[1] = dkm_dax_mode_name(d->mode);
		row[2] = fmt_size(d->size, size, sizeof(size));
		row[3] = d->target_node < 0 ? "?" : node;
		row[4] = fmt_movable(d->movable);
		row[5] = blocks;
		dkm_table_row(&tab, row);
	}
	fprintf(f, "\nDAX devices\n");
	dkm_table_print(&tab, f, "  ");
	dkm_table_free(&tab);
}

static void print_placement(FILE *f, const struct dkm_placement_table *p)
{
	static const char *const head[] = { "~CPU-NODE", "KMEM", "KMEM_ALL", "KMEM_PREFERRED",
					    NULL };
	struct dkm_table tab;
	unsigned nmsg = 0;

	dkm_table_init(&tab, head);
	for (unsigned i = 0; i < p->nrows; i++) {
		const struct dkm_placement *r = &p->rows[i];
		char id[16], kmem[320], all[256], pref[320], tmp[256];
		const char *row[4];

		snprintf(id, sizeof(id), "%d", r->cpu_node);
		row[0] = id;
		if (r->status != DKM_PLACE_OK) {
			const char *why = r->status == DKM_PLACE_NO_KMEM ? "no KMEM node"
									 : "unknown distance";
			row[1] = row[2] = row[3] = why;
		} else {
			dkm_format_ints(r->kmem, r->nkmem, tmp, sizeof(tmp));
			if (r->nkmem > 1)
				snprintf(kmem, sizeof(kmem), "%s (tie at %d: bound to all)", tmp,
					 r->closest_distance);
			else
				snprintf(kmem, sizeof(kmem), "%s", tmp);
			dkm_format_ints(r->all, r->nall, all, sizeof(all));
			if (r->pref_status == DKM_PLACE_OK) {
				int n = snprintf(pref, sizeof(pref), "%d", r->pref[0]);

				if (r->npref > 1 && n > 0 && (size_t)n < sizeof(pref))
					snprintf(pref + n, sizeof(pref) - (size_t)n, " then %s",
						 dkm_format_ints(r->pref + 1, r->npref - 1, tmp,
								 sizeof(tmp)));
			} else {
				snprintf(pref, sizeof(pref), "refused: %s",
					 r->pref_status == DKM_PLACE_TIE ? "tie, see below"
									 : "unknown distance");
			}
			row[1] = kmem;
			row[2] = all;
			row[3] = pref;
		}
		if (r->message[0])
			nmsg++;
		dkm_table_row(&tab, row);
	}
	fprintf(f, "\nPlacement by CPU node\n");
	if (p->nrows == 0)
		fprintf(f, "  no node with CPUs\n");
	else
		dkm_table_print(&tab, f, "  ");
	dkm_table_free(&tab);
	if (nmsg)
		for (unsigned i = 0; i < p->nrows; i++)
			if (p->rows[i].message[0])
				fprintf(f, "  CPU node %d: %s\n", p->rows[i].cpu_node,
					p->rows[i].message);
}

void dkm_topology_print(FILE *f, const struct dkm_topology *t, const struct dkm_placement_table *p)
{
	print_nodes(f, t);
	print_distances(f, t);
	print_hmat(f, t);
	print_dax(f, t);
	if (p)
		print_placement(f, p);
	if (t->nproblems) {
		fprintf(f, "\nProblems reading the map (%u)\n", t->nproblems);
		for (unsigned i = 0; i < t->nproblems; i++)
			fprintf(f, "  %s\n", t->problems[i]);
	}
}

/* ======================================================================
 * JSON
 * ====================================================================== */

/* Adds to obj, remembering the first allocation failure in *oom. */
static void add(json_object *obj, const char *key, json_object *val, int *oom)
{
	if (!obj) {
		json_object_put(val);
		*oom = 1;
		return;
	}
	if (json_object_object_add(obj, key, val) < 0) {
		json_object_put(val);
		*oom = 1;
	}
}

static json_object *u64_or_null(uint64_t v)
{
	return v == DKM_UNKNOWN_U64 ? NULL : json_object_new_uint64(v);
}

static json_object *int_array(const int *v, unsigned n, int *oom)
{
	json_object *a = json_object_new_array();

	if (!a) {
		*oom = 1;
		return NULL;
	}
	for (unsigned i = 0; i < n; i++)
		if (json_object_array_add(a, json_object_new_int(v[i])) < 0)
			*oom = 1;
	return a;
}

static json_object *bitmap_array(const struct dkm_bitmap *b, int *oom)
{
	json_object *a = json_object_new_array();
	int bit;

	if (!a) {
		*oom = 1;
		return NULL;
	}
	dkm_bitmap_foreach(bit, b)
		if (json_object_array_add(a, json_object_new_int(bit)) < 0)
			*oom = 1;
	return a;
}

static json_object *node_json(const struct dkm_topology *t, const struct dkm_node *n, int *oom)
{
	json_object *o = json_object_new_object(), *dist, *dax;
	char cpus[1024];

	if (!o) {
		*oom = 1;
		return NULL;
	}
	add(o, "id", json_object_new_int(n->id), oom);
	add(o, "kind", json_object_new_string(n->readable ? dkm_node_kind_name(n->kind)
							  : "unreadable"), oom);
	dkm_bitmap_format_list(&n->cpus, cpus, sizeof(cpus));
	add(o, "cpulist", json_object_new_string(cpus), oom);
	add(o, "cpus", bitmap_array(&n->cpus, oom), oom);
	add(o, "mem_total", u64_or_null(n->mem_total), oom);
	add(o, "mem_free", u64_or_null(n->mem_free), oom);
	dist = json_object_new_object();
	for (unsigned j = 0; dist && j < t->nnodes; j++) {
		char key[16];
		int d = n->distance[t->nodes[j].id];

		snprintf(key, sizeof(key), "%d", t->nodes[j].id);
		add(dist, key, d < 0 ? NULL : json_object_new_int(d), oom);
	}
	add(o, "distances", dist, oom);
	if (n->hmat.present) {
		json_object *h = json_object_new_object();

		add(h, "initiators", bitmap_array(&n->hmat.initiators, oom), oom);
		add(h, "read_latency_ns", u64_or_null(n->hmat.read_latency), oom);
		add(h, "write_latency_ns", u64_or_null(n->hmat.write_latency), oom);
		add(h, "read_bandwidth_mbps", u64_or_null(n->hmat.read_bandwidth), oom);
		add(h, "write_bandwidth_mbps", u64_or_null(n->hmat.write_bandwidth), oom);
		add(o, "hmat", h, oom);
	} else {
		add(o, "hmat", NULL, oom);
	}
	add(o, "memory_tier", n->tier < 0 ? NULL : json_object_new_int(n->tier), oom);
	dax = json_object_new_array();
	for (unsigned k = 0; dax && k < n->ndax; k++)
		if (json_object_array_add(dax, json_object_new_string(t->dax[n->dax[k]].name)) < 0)
			*oom = 1;
	add(o, "dax_devices", dax, oom);
	return o;
}

static json_object *dax_json(const struct dkm_dax_dev *d, int *oom)
{
	json_object *o = json_object_new_object();

	if (!o) {
		*oom = 1;
		return NULL;
	}
	add(o, "name", json_object_new_string(d->name), oom);
	add(o, "mode", json_object_new_string(dkm_dax_mode_name(d->mode)), oom);
	add(o, "driver", d->driver[0] ? json_object_new_string(d->driver) : NULL, oom);
	add(o, "size", u64_or_null(d->size), oom);
	add(o, "target_node", d->target_node < 0 ? NULL : json_object_new_int(d->target_node), oom);
	add(o, "movable", d->movable < 0 ? NULL : json_object_new_boolean(d->movable), oom);
	if (d->mode == DKM_DAX_SYSTEM_RAM) {
		add(o, "memory_blocks", json_object_new_int64(d->blocks), oom);
		add(o, "online_blocks", json_object_new_int64(d->online_blocks), oom);
	}
	return o;
}

static const char *status_name(enum dkm_place_status s)
{
	switch (s) {
	case DKM_PLACE_OK:
		return "ok";
	case DKM_PLACE_NO_KMEM:
		return "no-kmem-node";
	case DKM_PLACE_TIE:
		return "tie";
	case DKM_PLACE_NO_DISTANCE:
		return "unknown-distance";
	}
	return "?";
}

static json_object *kind_json(enum dkm_place_status st, const char *msg, const int *nodes,
			      unsigned n, int *oom)
{
	json_object *o = json_object_new_object();

	if (!o) {
		*oom = 1;
		return NULL;
	}
	add(o, "status", json_object_new_string(status_name(st)), oom);
	if (st == DKM_PLACE_OK)
		add(o, "nodes", int_array(nodes, n, oom), oom);
	else
		add(o, "error", json_object_new_string(msg), oom);
	return o;
}

static json_object *placement_json(const struct dkm_placement *r, int *oom)
{
	json_object *o = json_object_new_object(), *pref;

	if (!o) {
		*oom = 1;
		return NULL;
	}
	add(o, "cpu_node", json_object_new_int(r->cpu_node), oom);
	add(o, "closest_distance",
	    r->closest_distance < 0 ? NULL : json_object_new_int(r->closest_distance), oom);
	add(o, "kmem", kind_json(r->status, r->message, r->kmem, r->nkmem, oom), oom);
	add(o, "kmem_all", kind_json(r->status, r->message, r->all, r->nall, oom), oom);
	pref = kind_json(r->pref_status, r->message, r->pref, r->npref, oom);
	if (pref && r->pref_status == DKM_PLACE_OK)
		add(pref, "preferred", json_object_new_int(r->pref[0]), oom);
	add(o, "kmem_preferred", pref, oom);
	return o;
}

int dkm_topology_print_json(FILE *f, const struct dkm_topology *t,
			    const struct dkm_placement_table *p)
{
	json_object *root = json_object_new_object(), *a;
	int oom = 0;

	if (!root)
		return -ENOMEM;
	add(root, "format_version", json_object_new_int(1), &oom);
	add(root, "sysfs_root", json_object_new_string(t->root), &oom);
	add(root, "kmem_source",
	    json_object_new_string(t->kmem_from_config ? "config" : "dax"), &oom);
	add(root, "online_nodes", bitmap_array(&t->online, &oom), &oom);
	a = json_object_new_array();
	for (unsigned i = 0; a && i < t->nnodes; i++)
		if (json_object_array_add(a, node_json(t, &t->nodes[i], &oom)) < 0)
			oom = 1;
	add(root, "nodes", a, &oom);
	a = json_object_new_array();
	for (unsigned i = 0; a && i < t->ndax; i++)
		if (json_object_array_add(a, dax_json(&t->dax[i], &oom)) < 0)
			oom = 1;
	add(root, "dax_devices", a, &oom);
	if (p) {
		a = json_object_new_array();
		for (unsigned i = 0; a && i < p->nrows; i++)
			if (json_object_array_add(a, placement_json(&p->rows[i], &oom)) < 0)
				oom = 1;
		add(root, "placement", a, &oom);
	}
	a = json_object_new_array();
	for (unsigned i = 0; a && i < t->nproblems; i++)
		if (json_object_array_add(a, json_object_new_string(t->problems[i])) < 0)
			oom = 1;
	add(root, "problems", a, &oom);
	if (!oom)
		fprintf(f, "%s\n",
			json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
							     JSON_C_TO_STRING_SPACED |
							     JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
	return oom ? -ENOMEM : 0;
}
