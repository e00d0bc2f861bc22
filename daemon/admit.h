/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Admission: may this connection be served, may this client have a region of this size. */
#ifndef DKM_DAEMON_ADMIT_H
#define DKM_DAEMON_ADMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct dkm_alloc_region;
struct dkm_broker;
struct dkm_client;

/* A new connection of uid: 0, or -EUSERS past max_clients or max_clients_per_uid, with msg. */
int dkm_admit_client(const struct dkm_broker *b, uid_t uid, char *msg, size_t msgsize);
/*
 * ALLOC_REGION before any planning: 0, or a negative errno with msg naming
 * the limit (-EINVAL, -EFBIG, -EMFILE, -ENFILE, -EBUSY, -EDQUOT, -EACCES,
 * -ESRCH). charged_to_client: the region's pages will be charged to the
 * client's memory cgroup (the daemon does not populate it), so that
 * cgroup's room is checked too.
 */
int dkm_admit_region(struct dkm_broker *b, struct dkm_client *c,
		     const struct dkm_alloc_region *req, bool charged_to_client, char *msg,
		     size_t msgsize);

#endif
