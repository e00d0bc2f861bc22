/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A region's memfd: made sized, bound and sealed; revoked and closed when freed. */
#ifndef DKM_DAEMON_REGION_H
#define DKM_DAEMON_REGION_H

#include <stddef.h>

struct dkm_broker;
struct dkm_client;
struct dkm_grant;

/* Create the memfd of planned r, size it, bind its ranges, seal it: 0 or a negative errno and msg. */
int dkm_region_make_memfd(struct dkm_broker *b, struct dkm_client *c, struct dkm_grant *r,
			  char *msg, size_t msgsize);
/* Take the region away from its client: revoke the memory, return the grant (r must be unlinked). */
void dkm_region_free(struct dkm_broker *b, struct dkm_grant *r);

#endif
