/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The dax device requests of the dispatch: DEVICES (any client) and
 * RECONFIGURE (root, live /sys only), and the configuration's reconfigure=
 * policy, carried out through the same path as RECONFIGURE.
 */
#ifndef DKM_DAEMON_DISPATCH_DAX_H
#define DKM_DAEMON_DISPATCH_DAX_H

#include "wire.h"

struct conn;
struct dkm_config;
struct server;

void dkm_dispatch_devices(struct conn *c, const struct dkm_msg *m);
void dkm_dispatch_reconfigure(struct conn *c, const struct dkm_msg *m);

/* The configuration's reconfigure= at start-up and reload. */
void dkm_dispatch_apply_policy(struct server *s, const struct dkm_config *cfg);

#endif
