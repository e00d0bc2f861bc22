/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Reading the node map (topology.h) from a sysfs root: the online nodes and,
 * per node, its cpulist, meminfo, distance row and HMAT attributes; the
 * memory tiers; each node's kind (from the dax devices, which topology-dax.c
 * reads, or from kmem_nodes=); putting a map together, with the problems met
 * on the way, and freeing it. Also the fresh figures the broker re-reads:
 * one node's meminfo and the high watermarks of /proc/zoneinfo.
 */
#include "topology-internal.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/format.h"
#include "util/sysfs.h"

#define NODE_DIR "devices/system/node"
#define TIER_DIR "devices/virtual/memory_tiering"

/* ======================================================================
 * Problems
 * ====================================================================== */

void dkm_topo_vproblem(struct dkm_topology *t, const char *fmt, va_list ap)
{
	char **p, *s;
	int n;

	n = vasprintf(&s, fmt, ap);
	if (n < 0)
		return; /* out of memory: the figure is still marked unknown */
	p = realloc(t->problems, (t->nproblems + 1) * sizeof(*p));
	if (!p) {
		free(s);
		return;
	}
	t->problems = p;
	t->problems[t->nproblems++] = s;
}

int dkm_topo_is_dir(const char *root, const char *rel)
{
	char path[PATH_MAX];
	struct stat st;

	if (dkm_sysfs_path(path, sizeof(path), root, "%s", rel) < 0)
		return 0;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Names in root/dir matching prefix + digits (+ optional ".digits"), sorted naturally. */
int dkm_topo_list_numbered(const char *root, const char *dir, const char *prefix, char ***ret,
			   unsigned *ret_n)
{
	char path[PATH_MAX];
	struct dirent **ents;
	char **names;
	size_t plen = strlen(prefix);
	int n, k = 0, r;

	r = dkm_sysfs_path(path, sizeof(path), root, "%s", dir);
	if (r < 0)
		return r;
	n = scandir(path, &ents, NULL, versionsort);
	if (n < 0)
		return -errno;
	names = calloc((size_t)n + 1, sizeof(*names));
	if (!names) {
		r = -ENOMEM;
		goto out;
	}
	for (int i = 0; i < n; i++) {
		const char *s = ents[i]->d_name;

		if (strncmp(s, prefix, plen) || !isdigit((unsigned char)s[plen]))
			continue;
		s += plen;
		while (isdigit((unsigned char)*s) || *s == '.')
			s++;
		if (*s)
			continue;
		names[k] = strdup(ents[i]->d_name);
		if (!names[k]) {
			r = -ENOMEM;
			goto out;
		}
		k++;
	}
	*ret = names;
	*ret_n = (unsigned)k;
	names = NULL;
	r = 0;
out:
	if (names) {
		for (int i = 0; i < k; i++)
			free(names[i]);
		free(names);
	}
	for (int i = 0; i < n; i++)
		free(ents[i]);
	free(ents);
	return r;
}

void dkm_topo_free_names(char **names, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* ======================================================================
 * Nodes
 * ====================================================================== */

static int read_online(struct dkm_topology *t)
{
	char *s = NULL;
	char **names;
	unsigned n;
	int r;

	r = dkm_sysfs_read_alloc(t->root, &s, NODE_DIR "/online");
	if (r == 0) {
		r = dkm_bitmap_parse_list(&t->online, s);
		if (r == -ENOMEM) {
			free(s);
			return r;
		}
		if (r < 0)
			problem(t, "%s/online: cannot parse \"%.40s\": %s; using the node directories",
				NODE_DIR, s, strerror(-r));
		free(s);
		if (r == 0)
			return 0;
	} else {
		problem(t, "%s/online: %s; using the node directories", NODE_DIR, strerror(-r));
	}
	/* Fall back to the directories that exist. */
	r = dkm_topo_list_numbered(t->root, NODE_DIR, "node", &names, &n);
	if (r < 0)
		return r == -ENOMEM ? r : -ENOENT;
	for (unsigned i = 0; i < n && r == 0; i++) {
		int id;

		if (dkm_parse_int(names[i] + 4, &id) == 0 && id >= 0)
			r = dkm_bitmap_set(&t->online, (unsigned)id);
	}
	dkm_topo_free_names(names, n);
	return r;
}

/*
 * Parse "Node N MemTotal:   123 kB" lines of root's node N meminfo. Figures
 * not found stay DKM_UNKNOWN_U64. Returns 0, -EINVAL when either is missing
 * or MemFree > MemTotal, or the read error.
 */
int dkm_read_node_meminfo(const char *root, int id, uint64_t *ret_total, uint64_t *ret_free)
{
	uint64_t total = DKM_UNKNOWN_U64, freeb = DKM_UNKNOWN_U64;
	char *s = NULL, *line, *save = NULL;
	int r;

	r = dkm_sysfs_read_alloc(root, &s, NODE_DIR "/node%d/meminfo", id);
	if (r < 0)
		return r;
	for (line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char key[64];
		unsigned long long kb;
		int nid;

		if (sscanf(line, "Node %d %63[^:]: %llu kB", &nid, key, &kb) != 3 || nid != id ||
		    kb > UINT64_MAX / 1024)
			continue;
		if (!strcmp(key, "MemTotal"))
			total = (uint64_t)kb * 1024;
		else if (!strcmp(key, "MemFree"))
			freeb = (uint64_t)kb * 1024;
	}
	free(s);
	r = 0;
	if (total == DKM_UNKNOWN_U64 || freeb == DKM_UNKNOWN_U64)
		r = -EINVAL;
	else if (freeb > total)
		r = -ERANGE;
	if (r == -ERANGE)
		total = freeb = DKM_UNKNOWN_U64;
	if (ret_total)
		*ret_total = total;
	if (ret_free)
		*ret_free = freeb;
	return r;
}

static void read_meminfo(struct dkm_topology *t, struct dkm_node *node)
{
	int r = dkm_read_node_meminfo(t->root, node->id, &node->mem_total, &node->mem_free);

	if (r == -EINVAL)
		problem(t, "node %d: %s/node%d/meminfo: no valid %s line", node->id, NODE_DIR,
			node->id, node->mem_total == DKM_UNKNOWN_U64 ? "MemTotal" : "MemFree");
	else if (r == -ERANGE)
		problem(t, "node %d: meminfo says MemFree > MemTotal", node->id);
	else if (r < 0)
		problem(t, "node %d: %s/node%d/meminfo: %s", node->id, NODE_DIR, node->id,
			strerror(-r));
}

int dkm_read_high_watermarks(const char *path, uint64_t *pages, int nslots)
{
	char line[256];
	int node = -1;
	FILE *f;

	for (int i = 0; i < nslots; i++)
		pages[i] = 0;
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long v;
		int id;

		if (sscanf(line, "Node %d, zone", &id) == 1) {
			node = id >= 0 && id < nslots ? id : -1;
			continue;
		}
		if (node >= 0 && sscanf(line, " high %llu", &v) == 1)
			pages[node] += v;
	}
	fclose(f);
	return 0;
}

/* The distance row lists one figure per online node, in ascending id order. */
static void read_distance(struct dkm_topology *t, struct dkm_node *node)
{
	unsigned want = dkm_bitmap_count(&t->online), got = 0;
	char *s = NULL, *p, *end;
	int *row, id;

	row = node->distance;
	if (dkm_sysfs_read_alloc(t->root, &s, NODE_DIR "/node%d/distance", node->id) < 0) {
		problem(t, "node %d: %s/node%d/distance: cannot read it", node->id, NODE_DIR,
			node->id);
		return;
	}
	p = s;
	id = dkm_bitmap_next(&t->online, 0);
	for (;;) {
		long v;

		while (isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		errno = 0;
		v = strtol(p, &end, 10);
		if (end == p || errno || (*end && !isspace((unsigned char)*end)) || v < 1 ||
		    v > 255) {
			problem(t, "node %d: %s/node%d/distance: bad row \"%.60s\"", node->id,
				NODE_DIR, node->id, s);
			goto bad;
		}
		if (id >= 0) {
			row[id] = (int)v;
			id = dkm_bitmap_next(&t->online, id + 1);
		}
		got++;
		p = end;
	}
	if (got != want) {
		problem(t, "node %d: %s/node%d/distance: %u figures for %u online nodes", node->id,
			NODE_DIR, node->id, got, want);
		goto bad;
	}
	free(s);
	return;
bad:
	for (int i = 0; i < t->nslots; i++)
		row[i] = -1;
	free(s);
}

static void read_hmat(struct dkm_topology *t, struct dkm_node *node)
{
	static const char *const names[] = { "read_latency", "write_latency", "read_bandwidth",
					     "write_bandwidth" };
	uint64_t *vals[] = { &node->hmat.read_latency, &node->hmat.write_latency,
			     &node->hmat.read_bandwidth, &node->hmat.write_bandwidth };
	char dir[64], **ents;
	unsigned n;

	for (unsigned i = 0; i < 4; i++)
		*vals[i] = DKM_UNKNOWN_U64;
	snprintf(dir, sizeof(dir), NODE_DIR "/node%d/access0/initiators", node->id);
	if (!dkm_topo_is_dir(t->root, dir))
		return;
	node->hmat.present = true;
	for (unsigned i = 0; i < 4; i++) {
		int r = dkm_sysfs_read_u64(t->root, vals[i], NODE_DIR "/node%d/access0/initiators/%s",
					   node->id, names[i]);
		if (r < 0 && r != -ENOENT)
			problem(t, "node %d: access0/initiators/%s: %s", node->id, names[i],
				strerror(-r));
		if (r < 0)
			*vals[i] = DKM_UNKNOWN_U64;
	}
	if (dkm_topo_list_numbered(t->root, dir, "node", &ents, &n) == 0) {
		for (unsigned i = 0; i < n; i++) {
			int id;

			if (dkm_parse_int(ents[i] + 4, &id) == 0 && id >= 0)
				(void)dkm_bitmap_set(&node->hmat.initiators, (unsigned)id);
		}
		dkm_topo_free_names(ents, n);
	}
}

static int read_node(struct dkm_topology *t, struct dkm_node *node)
{
	char *s = NULL, dir[64];
	int r;

	node->mem_total = node->mem_free = DKM_UNKNOWN_U64;
	node->tier = -1;
	node->distance = malloc((size_t)t->nslots * sizeof(int));
	if (!node->distance)
		return -ENOMEM;
	for (int i = 0; i < t->nslots; i++)
		node->distance[i] = -1;
	node->hmat.read_latency = node->hmat.write_latency = DKM_UNKNOWN_U64;
	node->hmat.read_bandwidth = node->hmat.write_bandwidth = DKM_UNKNOWN_U64;

	snprintf(dir, sizeof(dir), NODE_DIR "/node%d", node->id);
	if (!dkm_topo_is_dir(t->root, dir)) {
		problem(t, "node %d: listed online but %s/node%d is missing", node->id, NODE_DIR,
			node->id);
		return 0;
	}
	node->readable = true;

	r = dkm_sysfs_read_alloc(t->root, &s, NODE_DIR "/node%d/cpulist", node->id);
	if (r == 0) {
		r = dkm_bitmap_parse_list(&node->cpus, s);
		if (r == -ENOMEM) {
			free(s);
			return r;
		}
		if (r < 0)
			problem(t, "node %d: %s/node%d/cpulist: cannot parse \"%.40s\"", node->id,
				NODE_DIR, node->id, s);
		free(s);
	} else {
		problem(t, "node %d: %s/node%d/cpulist: %s", node->id, NODE_DIR, node->id,
			strerror(-r));
	}
	read_meminfo(t, node);
	read_distance(t, node);
	read_hmat(t, node);
	return 0;
}

static struct dkm_node *node_by_id(const struct dkm_topology *t, int id)
{
	for (unsigned i = 0; i < t->nnodes; i++)
		if (t->nodes[i].id == id)
			return &t->nodes[i];
	return NULL;
}

const struct dkm_node *dkm_topology_node(const struct dkm_topology *t, int id)
{
	return node_by_id(t, id);
}

int dkm_topology_distance(const struct dkm_topology *t, int from, int to)
{
	const struct dkm_node *n = node_by_id(t, from);

	if (!n || to < 0 || to >= t->nslots)
		return -1;
	return n->distance[to];
}

static void read_tiers(struct dkm_topology *t)
{
	char **names;
	unsigned n;

	if (!dkm_topo_is_dir(t->root, TIER_DIR))
		return;
	t->has_tiers = true;
	if (dkm_topo_list_numbered(t->root, TIER_DIR, "memory_tier", &names, &n) < 0) {
		problem(t, "%s: cannot list it", TIER_DIR);
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		struct dkm_bitmap nodes = DKM_BITMAP_INIT;
		char *s = NULL;
		int tier, id, r;

		if (dkm_parse_int(names[i] + strlen("memory_tier"), &tier) < 0)
			continue;
		r = dkm_sysfs_read_alloc(t->root, &s, TIER_DIR "/%s/nodelist", names[i]);
		if (r == 0)
			r = dkm_bitmap_parse_list(&nodes, s);
		if (r < 0) {
			problem(t, "%s/%s/nodelist: %s", TIER_DIR, names[i], strerror(-r));
		} else {
			dkm_bitmap_foreach(id, &nodes) {
				struct dkm_node *node = node_by_id(t, id);

				if (node)
					node->tier = tier;
			}
		}
		dkm_bitmap_free(&nodes);
		free(s);
	}
	dkm_topo_free_names(names, n);
}

/* ======================================================================
 * Kinds
 * ====================================================================== */

static int assign_kinds(struct dkm_topology *t, const struct dkm_bitmap *override, char *err,
			size_t errsize)
{
	struct dkm_bitmap kmem = DKM_BITMAP_INIT;
	int id, r = 0;

	if (override && !dkm_bitmap_empty(override)) {
		char bad[256] = "", online[256];
		struct dkm_bitmap missing = DKM_BITMAP_INIT;

		dkm_bitmap_foreach(id, override) {
			const struct dkm_node *node = node_by_id(t, id);

			if (!node || !node->readable) {
				r = dkm_bitmap_set(&missing, (unsigned)id);
				if (r < 0)
					goto out;
			}
		}
		if (!dkm_bitmap_empty(&missing)) {
			dkm_bitmap_format_list(&missing, bad, sizeof(bad));
			dkm_bitmap_format_list(&t->online, online, sizeof(online));
			snprintf(err, errsize,
				 "kmem_nodes: node%s %s %s not online (online nodes: %s)",
				 dkm_bitmap_count(&missing) > 1 ? "s" : "", bad,
				 dkm_bitmap_count(&missing) > 1 ? "are" : "is", online);
			dkm_bitmap_free(&missing);
			r = -EINVAL;
			goto out;
		}
		r = dkm_bitmap_copy(&kmem, override);
		if (r < 0)
			goto out;
		t->kmem_from_config = true;
	} else {
		for (unsigned i = 0; i < t->ndax; i++) {
			const struct dkm_dax_dev *d = &t->dax[i];

			if (d->mode != DKM_DAX_SYSTEM_RAM)
				continue;
			if (d->target_node < 0) {
				problem(t, "%s is in system-ram mode but its target node is unknown",
					d->name);
				continue;
			}
			if (!node_by_id(t, d->target_node)) {
				problem(t, "%s is in system-ram mode but its node %d is not online",
					d->name, d->target_node);
				continue;
			}
			r = dkm_bitmap_set(&kmem, (unsigned)d->target_node);
			if (r < 0)
				goto out;
		}
	}
	for (unsigned i = 0; i < t->nnodes; i++) {
		struct dkm_node *node = &t->nodes[i];

		if (dkm_bitmap_test(&kmem, (unsigned)node->id))
			node->kind = DKM_NODE_KMEM;
		else if (!dkm_bitmap_empty(&node->cpus))
			node->kind = DKM_NODE_DRAM;
		else
			node->kind = DKM_NODE_MEMONLY;
	}
	/* Each node lists the dax devices whose memory it holds or would hold. */
	for (unsigned i = 0; i < t->ndax; i++) {
		struct dkm_node *node = node_by_id(t, t->dax[i].target_node);
		unsigned *v;

		if (!node)
			continue;
		v = realloc(node->dax, (node->ndax + 1) * sizeof(*v));
		if (!v) {
			r = -ENOMEM;
			goto out;
		}
		node->dax = v;
		node->dax[node->ndax++] = i;
	}
out:
	dkm_bitmap_free(&kmem);
	return r;
}

/* ======================================================================
 * Map
 * ====================================================================== */

int dkm_topology_read(const char *root, const struct dkm_bitmap *kmem_override,
		      struct dkm_topology **ret, char *err, size_t errsize)
{
	struct dkm_topology *t;
	int id, r;

	if (errsize)
		err[0] = '\0';
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->root = strdup(root);
	if (!t->root) {
		r = -ENOMEM;
		goto fail;
	}
	r = read_online(t);
	if (r < 0) {
		if (r == -ENOENT)
			snprintf(err, errsize, "%s/%s: no NUMA node information", root, NODE_DIR);
		goto fail;
	}
	if (dkm_bitmap_empty(&t->online)) {
		snprintf(err, errsize, "%s/%s: no online node", root, NODE_DIR);
		r = -ENOENT;
		goto fail;
	}
	t->nnodes = dkm_bitmap_count(&t->online);
	t->nodes = calloc(t->nnodes, sizeof(*t->nodes));
	if (!t->nodes) {
		r = -ENOMEM;
		goto fail;
	}
	{
		unsigned i = 0;

		dkm_bitmap_foreach(id, &t->online) {
			t->nodes[i++].id = id;
			t->nslots = id + 1;
		}
	}
	for (unsigned i = 0; i < t->nnodes; i++) {
		r = read_node(t, &t->nodes[i]);
		if (r < 0)
			goto fail;
	}
	read_tiers(t);
	r = dkm_topo_read_dax(t);
	if (r < 0)
		goto fail;
	r = assign_kinds(t, kmem_override, err, errsize);
	if (r < 0)
		goto fail;
	*ret = t;
	return 0;
fail:
	if (r == -ENOMEM && errsize && !err[0])
		snprintf(err, errsize, "out of memory reading the node map");
	dkm_topology_free(t);
	return r;
}

struct dkm_topology *dkm_topology_free(struct dkm_topology *t)
{
	if (!t)
		return NULL;
	for (unsigned i = 0; i < t->nnodes; i++) {
		struct dkm_node *n = &t->nodes[i];

		dkm_bitmap_free(&n->cpus);
		dkm_bitmap_free(&n->hmat.initiators);
		free(n->distance);
		free(n->dax);
	}
	free(t->nodes);
	free(t->dax);
	for (unsigned i = 0; i < t->nproblems; i++)
		free(t->problems[i]);
	free(t->problems);
	dkm_bitmap_free(&t->online);
	free(t->root);
	free(t);
	return NULL;
}

const char *dkm_node_kind_name(enum dkm_node_kind k)
{
	switch (k) {
	case DKM_NODE_DRAM:
		return "dram";
	case DKM_NODE_KMEM:
		return "kmem";
	case DKM_NODE_MEMONLY:
		return "memory-only";
	}
	return "?";
}
