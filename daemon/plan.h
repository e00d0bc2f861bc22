/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Placement plans: which node each range of a region goes to, and whether the nodes can take it. */
#ifndef DKM_DAEMON_PLAN_H
#define DKM_DAEMON_PLAN_H

#include <stddef.h>

struct dkm_alloc_region;
struct dkm_broker;
struct dkm_client;
struct dkm_grant;

/*
 * Fill r's ranges for req (r->kind and r->size set): the placement row of
 * req's CPU node (and DAXKMEM_NODES), then the kind's plan, each node
 * admitted against what it can still take. 0, or a negative errno with msg
 * (-ENOSPC naming the node and the figures).
 */
int dkm_plan(struct dkm_broker *b, struct dkm_client *c, const struct dkm_alloc_region *req,
	     struct dkm_grant *r, char *msg, size_t msgsize);

#endif
