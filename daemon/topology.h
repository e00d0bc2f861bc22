/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The live node map: every online NUMA node with its CPUs, memory, distance
 * row, HMAT attributes, memory tier, kind and dax devices, read from a sysfs
 * root on every refresh (never from libnuma, whose node count is cached at
 * load time and goes stale when kmem onlines a node).
 *
 * A map is a snapshot: dkm_topology_read() builds a new one and the caller
 * swaps it in. What could not be read is recorded as a problem on the map
 * (one line of text naming the file and the error) and the affected figure
 * is marked unknown; reading never fails for a single bad node.
 */
#ifndef DKM_DAEMON_TOPOLOGY_H
#define DKM_DAEMON_TOPOLOGY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "util/bitmap.h"

enum dkm_node_kind {
	DKM_NODE_DRAM,     /* has CPUs (and is not a kmem node) */
	DKM_NODE_KMEM,     /* target_node of a dax device bound to kmem, or named by kmem_nodes= */
	DKM_NODE_MEMONLY,  /* no CPUs and not from dax: HBM, CXL without dax */
};

enum dkm_dax_mode {
	DKM_DAX_SYSTEM_RAM, /* bound to the kmem driver */
	DKM_DAX_DEVDAX,     /* bound to device_dax */
	DKM_DAX_DISABLED,   /* no driver bound */
	DKM_DAX_OTHER,      /* bound to a driver we do not know */
};

#define DKM_UNKNOWN_U64 UINT64_MAX

struct dkm_dax_dev {
	char name[32];       /* "dax0.0" */
	char driver[32];     /* bound driver, "" when none */
	enum dkm_dax_mode mode;
	uint64_t size;       /* bytes, DKM_UNKNOWN_U64 if unreadable */
	int target_node;     /* node its memory goes to, -1 if unknown */
	unsigned blocks;     /* memory blocks present in its range (system-ram only) */
	unsigned online_blocks; /* of those, blocks whose state is online */
	int movable;         /* 1 all online blocks in ZONE_MOVABLE, 0 not, -1 unknown/n.a. */
};

/* HMAT access class 0 of a memory target: figures the firmware gives. */
struct dkm_hmat {
	bool present;                /* access0/initiators exists */
	struct dkm_bitmap initiators; /* initiator nodes of the class */
	uint64_t read_latency;       /* ns, DKM_UNKNOWN_U64 if absent */
	uint64_t write_latency;      /* ns */
	uint64_t read_bandwidth;     /* MB/s */
	uint64_t write_bandwidth;    /* MB/s */
};

struct dkm_node {
	int id;
	bool readable;             /* its sysfs directory exists */
	enum dkm_node_kind kind;
	struct dkm_bitmap cpus;    /* from cpulist */
	uint64_t mem_total;        /* bytes, DKM_UNKNOWN_U64 if unreadable */
	uint64_t mem_free;         /* bytes, DKM_UNKNOWN_U64 if unreadable */
	int *distance;             /* [topology.nslots], by node id; -1 unknown */
	struct dkm_hmat hmat;
	int tier;                  /* memory_tierN it belongs to, -1 if none */
	unsigned *dax;             /* indexes into topology.dax of devices on it */
	unsigned ndax;
};

struct dkm_topology {
	char *root;                /* sysfs root it was read from */
	struct dkm_bitmap online;  /* online node ids */
	struct dkm_node *nodes;    /* online nodes, ascending id */
	unsigned nnodes;
	int nslots;                /* highest online node id + 1 */
	struct dkm_dax_dev *dax;   /* every dax device, by name */
	unsigned ndax;
	bool kmem_from_config;     /* kinds come from kmem_nodes= rather than dax */
	bool has_tiers;            /* memory_tiering exists */
	char **problems;           /* what could not be read, one line each */
	unsigned nproblems;
};

/*
 * Read the map below root ("/sys"). kmem_override, if not NULL and not empty,
 * replaces detection: exactly those nodes are kmem. Returns 0 with *ret set
 * (problems recorded inside), -ENOENT when root has no node directory at all,
 * -EINVAL when the override names nodes that are not online (err gets a
 * message naming them), -ENOMEM.
 */
int dkm_topology_read(const char *root, const struct dkm_bitmap *kmem_override,
		      struct dkm_topology **ret, char *err, size_t errsize);
struct dkm_topology *dkm_topology_free(struct dkm_topology *t);

/* Fresh MemTotal/MemFree of one node (bytes); 0, -EINVAL, -ERANGE or the read error. */
int dkm_read_node_meminfo(const char *root, int id, uint64_t *ret_total, uint64_t *ret_free);
/* Sum of the "high" watermarks (pages) of each node's zones in /proc/zoneinfo. */
int dkm_read_high_watermarks(const char *path, uint64_t *pages, int nslots);

const struct dkm_node *dkm_topology_node(const struct dkm_topology *t, int id);
int dkm_topology_distance(const struct dkm_topology *t, int from, int to);
const char *dkm_node_kind_name(enum dkm_node_kind k);
const char *dkm_dax_mode_name(enum dkm_dax_mode m);

/* ---------------- placement ---------------- */

enum dkm_place_status {
	DKM_PLACE_OK,
	DKM_PLACE_NO_KMEM,      /* no kmem node at all (or none reachable) */
	DKM_PLACE_TIE,          /* PREFERRED only: several kmem nodes equally closest */
	DKM_PLACE_NO_DISTANCE,  /* the CPU node's distance row could not be read */
};

/* Where each kind places memory for threads running on one CPU node. */
struct dkm_placement {
	int cpu_node;
	enum dkm_place_status status;   /* KMEM and KMEM_ALL: OK, NO_KMEM or NO_DISTANCE */
	int closest_distance;           /* distance to the closest kmem node(s) */
	int *kmem;                      /* KMEM: the closest kmem nodes (several only on a tie) */
	unsigned nkmem;
	int *all;                       /* KMEM_ALL: every kmem node, closest first */
	unsigned nall;
	enum dkm_place_status pref_status; /* KMEM_PREFERRED */
	int *pref;                      /* the preferred node, then the kernel's fallback order */
	unsigned npref;
	char message[256];              /* why, when a status is not OK */
};

struct dkm_placement_table {
	struct dkm_placement *rows;     /* one per CPU node, ascending */
	unsigned nrows;
};

/*
 * One row: where each kind places memory for threads on cpu_node, treating
 * the nodes of kmem_set as the kmem nodes (NULL: the map's kmem nodes).
 * 0 or -ENOMEM; clear the row with dkm_placement_row_clear.
 */
int dkm_placement_row(const struct dkm_topology *t, const struct dkm_bitmap *kmem_set, int cpu_node,
		      struct dkm_placement *row);
void dkm_placement_row_clear(struct dkm_placement *row);

/* Compute the table from a map; 0 or -ENOMEM. */
int dkm_placement_compute(const struct dkm_topology *t, struct dkm_placement_table **ret);
struct dkm_placement_table *dkm_placement_table_free(struct dkm_placement_table *p);
const struct dkm_placement *dkm_placement_for(const struct dkm_placement_table *p, int cpu_node);

/* ---------------- output ---------------- */

/* Human-readable aligned tables of the map and placement. */
void dkm_topology_print(FILE *f, const struct dkm_topology *t, const struct dkm_placement_table *p);
/* Stable JSON (documented in daxkmemd(8)); returns 0 or -ENOMEM. */
int dkm_topology_print_json(FILE *f, const struct dkm_topology *t,
			    const struct dkm_placement_table *p);

#endif
