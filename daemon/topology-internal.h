/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What topology.c (nodes, tiers, kinds, the map) and topology-dax.c (dax
 * devices) share while reading a map: the list of problems and two sysfs
 * directory helpers. Not for users of the map: they use topology.h.
 */
#ifndef DKM_DAEMON_TOPOLOGY_INTERNAL_H
#define DKM_DAEMON_TOPOLOGY_INTERNAL_H

#include <stdarg.h>

#include "topology.h"
#include "util/sysfs.h"

/* Record on t what could not be read (one line); out of memory, nothing is recorded. */
DKM_PRINTF(2, 0)
void dkm_topo_vproblem(struct dkm_topology *t, const char *fmt, va_list ap);

DKM_PRINTF(2, 3)
static inline void problem(struct dkm_topology *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	dkm_topo_vproblem(t, fmt, ap);
	va_end(ap);
}

/* Whether root/rel is a directory. */
int dkm_topo_is_dir(const char *root, const char *rel);
/*
 * Names in root/dir matching prefix + digits (+ optional ".digits"), sorted
 * naturally: 0 with *ret (free with dkm_topo_free_names) and *ret_n, or a
 * negative errno.
 */
int dkm_topo_list_numbered(const char *root, const char *dir, const char *prefix, char ***ret,
			   unsigned *ret_n);
void dkm_topo_free_names(char **names, unsigned n);

/* Every device of the dax bus into t->dax (problems recorded): 0 or -ENOMEM. */
int dkm_topo_read_dax(struct dkm_topology *t);

#endif
