/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daxkmemd.conf(5): an ini file of "key = value" lines. Unknown keys,
 * unknown sections, bad values and keys given twice are errors that name
 * the file and line.
 */
#ifndef DKM_DAEMON_CONFIG_H
#define DKM_DAEMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "util/bitmap.h"

#define DKM_DEFAULT_CONFIG "/etc/daxkmemd/daxkmemd.conf"

struct dkm_config {
	struct dkm_bitmap kmem_nodes; /* kmem_nodes=: replaces detection when not empty */
	bool kmem_nodes_set;          /* the key was given */
};

void dkm_config_init(struct dkm_config *c);
void dkm_config_free(struct dkm_config *c);

/*
 * Load path into c (which keeps its defaults for keys not given). A missing
 * file is -ENOENT only when must_exist; otherwise the defaults stand.
 * Errors: -ENOENT, -EACCES etc. opening; -EINVAL for content, with err naming
 * "path:line: what is wrong".
 */
int dkm_config_load(struct dkm_config *c, const char *path, bool must_exist, char *err,
		    size_t errsize);

#endif
