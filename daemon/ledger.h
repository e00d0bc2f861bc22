/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The ledger: what is granted per node, client and uid, and how much of it
 * is resident. Keeps the counting invariants stated in broker.h.
 */
#ifndef DKM_DAEMON_LEDGER_H
#define DKM_DAEMON_LEDGER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct dkm_broker;
struct dkm_grant;

/* Add (or take away) a region's ranges to the node and owner counters. */
void dkm_ledger_account(struct dkm_broker *b, struct dkm_grant *r, bool add);
/* Unlink r from its owner's list. */
void dkm_ledger_unlink(struct dkm_grant *r);
/* Bytes, regions and connections of uid, over all its clients (gone ones included). */
void dkm_ledger_uid_usage(const struct dkm_broker *b, uid_t uid, uint64_t *bytes,
			  unsigned *regions, unsigned *clients);
/* Re-read how much of each range of r is populated, keeping node_owed in step. */
void dkm_ledger_update_residency(struct dkm_broker *b, struct dkm_grant *r);
/* r (client_populate, just granted) is being populated by its client: see dkm_grant. */
void dkm_ledger_unsettled_add(struct dkm_broker *b, struct dkm_grant *r);
/* r is freed: off the unsettled list if it is on it. */
void dkm_ledger_unsettled_remove(struct dkm_broker *b, struct dkm_grant *r);
/* Re-read the residency of the unsettled regions (before an admission or a report). */
void dkm_ledger_refresh_unsettled(struct dkm_broker *b);
/* Bytes of r last seen populated. */
uint64_t dkm_ledger_resident(const struct dkm_grant *r);

#endif
