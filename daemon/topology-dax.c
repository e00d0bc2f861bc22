/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The dax devices of the node map: every device on the dax bus with its
 * size, target node and bound driver (hence its mode), and for a system-ram
 * device the memory blocks of its range: how many are present and online,
 * and whether they sit in ZONE_MOVABLE. Changing a device's mode is dax.c's.
 */
#include "topology-internal.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "util/sysfs.h"

#define MEMORY_DIR "devices/system/memory"
#define DAX_DIR "bus/dax/devices"

static uint64_t parse_hex(const char *s, bool *ok)
{
	char *end;
	unsigned long long v;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	errno = 0;
	v = strtoull(s, &end, 16);
	*ok = end != s && !errno && (!*end || isspace((unsigned char)*end)) && isxdigit((unsigned char)*s);
	return (uint64_t)v;
}

/* Count the memory blocks of a system-ram device and whether they sit in ZONE_MOVABLE. */
static void read_dax_blocks(struct dkm_topology *t, struct dkm_dax_dev *d)
{
	char buf[128];
	uint64_t start, block, first, last;
	unsigned movable = 0, normal = 0;
	bool ok;

	d->movable = -1;
	if (dkm_sysfs_read(t->root, buf, sizeof(buf), DAX_DIR "/%s/resource", d->name) < 0) {
		problem(t, "%s: no resource attribute: cannot find its memory blocks", d->name);
		return;
	}
	start = parse_hex(buf, &ok);
	if (!ok) {
		problem(t, "%s/resource: bad address \"%.30s\"", d->name, buf);
		return;
	}
	if (dkm_sysfs_read(t->root, buf, sizeof(buf), MEMORY_DIR "/block_size_bytes") < 0 ||
	    (block = parse_hex(buf, &ok), !ok) || block == 0) {
		problem(t, "%s/block_size_bytes: cannot read it", MEMORY_DIR);
		return;
	}
	if (d->size == DKM_UNKNOWN_U64 || d->size == 0)
		return;
	/* kmem adds only the whole blocks inside the device's range. */
	first = (start + block - 1) / block;
	if ((start + d->size) / block <= first)
		return;
	last = (start + d->size) / block - 1;
	if (last - first > (1u << 22)) {
		problem(t, "%s: implausible range of %" PRIu64 " memory blocks", d->name,
			last - first + 1);
		return;
	}
	for (uint64_t b = first; b <= last; b++) {
		char state[32], zones[64];

		if (dkm_sysfs_read(t->root, state, sizeof(state), MEMORY_DIR "/memory%" PRIu64 "/state",
				   b) < 0)
			continue;
		d->blocks++;
		if (strcmp(state, "online"))
			continue;
		d->online_blocks++;
		if (dkm_sysfs_read(t->root, zones, sizeof(zones),
				   MEMORY_DIR "/memory%" PRIu64 "/valid_zones", b) < 0)
			continue;
		if (!strncmp(zones, "Movable", 7))
			movable++;
		else
			normal++;
	}
	if (movable + normal > 0)
		d->movable = normal == 0;
}

int dkm_topo_read_dax(struct dkm_topology *t)
{
	char **names;
	unsigned n;
	int r;

	if (!dkm_topo_is_dir(t->root, DAX_DIR))
		return 0; /* no dax bus: no dax devices, not a problem */
	r = dkm_topo_list_numbered(t->root, DAX_DIR, "dax", &names, &n);
	if (r < 0) {
		if (r == -ENOMEM)
			return r;
		problem(t, "%s: %s", DAX_DIR, strerror(-r));
		return 0;
	}
	t->dax = calloc(n ? n : 1, sizeof(*t->dax));
	if (!t->dax) {
		dkm_topo_free_names(names, n);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < n; i++) {
		struct dkm_dax_dev *d = &t->dax[t->ndax];

		if (strlen(names[i]) >= sizeof(d->name))
			continue;
		t->ndax++;
		strcpy(d->name, names[i]);
		d->target_node = -1;
		d->movable = -1;
		r = dkm_sysfs_read_u64(t->root, &d->size, DAX_DIR "/%s/size", d->name);
		if (r < 0) {
			problem(t, "%s/size: %s", d->name, strerror(-r));
			d->size = DKM_UNKNOWN_U64;
		}
		r = dkm_sysfs_read_int(t->root, &d->target_node, DAX_DIR "/%s/target_node", d->name);
		if (r < 0) {
			problem(t, "%s/target_node: %s", d->name, strerror(-r));
			d->target_node = -1;
		} else if (d->target_node < -1) {
			d->target_node = -1;
		}
		r = dkm_sysfs_read_link_name(t->root, d->driver, sizeof(d->driver), DAX_DIR "/%s/driver",
					     d->name);
		if (r == -ENOENT) {
			d->mode = DKM_DAX_DISABLED;
		} else if (r < 0) {
			problem(t, "%s/driver: %s", d->name, strerror(-r));
			d->mode = DKM_DAX_OTHER;
		} else if (!strcmp(d->driver, "kmem")) {
			d->mode = DKM_DAX_SYSTEM_RAM;
		} else if (!strcmp(d->driver, "device_dax")) {
			d->mode = DKM_DAX_DEVDAX;
		} else {
			d->mode = DKM_DAX_OTHER;
		}
		if (d->mode == DKM_DAX_SYSTEM_RAM)
			read_dax_blocks(t, d);
	}
	dkm_topo_free_names(names, n);
	return 0;
}

const char *dkm_dax_mode_name(enum dkm_dax_mode m)
{
	switch (m) {
	case DKM_DAX_SYSTEM_RAM:
		return "system-ram";
	case DKM_DAX_DEVDAX:
		return "devdax";
	case DKM_DAX_DISABLED:
		return "disabled";
	case DKM_DAX_OTHER:
		return "other";
	}
	return "?";
}
