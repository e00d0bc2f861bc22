/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Message dispatch: each request a connection reads goes to the handler of
 * its type, which calls the broker and queues the reply (or an ERROR) on the
 * connection. The DEVICES and RECONFIGURE handlers are in dispatch-dax.h.
 */
#ifndef DKM_DAEMON_DISPATCH_H
#define DKM_DAEMON_DISPATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "wire.h"

struct conn;
struct dkm_client;
struct dkm_grant;

/* One message. Returns false when the peer broke the protocol (drop it). May end c. */
bool dkm_dispatch(struct conn *c, const struct dkm_msg *m);

/*
 * Population finished (the broker's dkm_region_ready_fn, ctx unused): the
 * REGION reply, or the ERROR, of the ALLOC_REGION that asked for it.
 */
void dkm_dispatch_region_ready(void *ctx, struct dkm_client *cl, struct dkm_grant *r,
			       uint32_t seq, int err, const char *msg);

#endif
