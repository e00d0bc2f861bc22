/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The ledger of grants: the per-node granted/owed/released counters, the
 * owner's and the daemon's totals (account), each client's list of regions,
 * usage per uid, and residency: how much of each range is populated, re-read
 * from the memfds (SEEK_DATA/SEEK_HOLE or st_blocks), which moves node_owed
 * and, for a region charged to its client, the client's owed_charged.
 * The invariants it keeps are stated in broker.h.
 */
#include "ledger.h"

#include <sys/stat.h>
#include <unistd.h>

#include "broker-internal.h"

/* Add (or take away) a region's ranges to the node and owner counters. */
void dkm_ledger_account(struct dkm_broker *b, struct dkm_grant *r, bool add)
{
	uint64_t not_resident = r->size - dkm_ledger_resident(r);

	for (unsigned i = 0; i < r->nranges; i++) {
		int n = r->ranges[i].node;
		uint64_t len = r->ranges[i].length, owed = len - r->resident[i];

		if (n < 0 || n >= MAX_NODES)
			continue;
		if (add) {
			b->node_granted[n] += len;
			b->node_owed[n] += owed;
		} else {
			b->node_granted[n] -= len;
			b->node_owed[n] -= owed;
			b->node_released[n] += len;
		}
	}
	if (add) {
		r->owner->granted += r->size;
		if (r->prefault)
			r->owner->daemon_charged += r->size;
		else
			r->owner->owed_charged += not_resident;
		r->owner->nregions++;
		b->nregions++;
	} else {
		r->owner->granted -= r->size;
		if (r->prefault)
			r->owner->daemon_charged -= r->size;
		else
			r->owner->owed_charged -= not_resident;
		r->owner->released += r->size;
		r->owner->nregions--;
		b->nregions--;
	}
}

/* Unlink r from its owner's list. */
void dkm_ledger_unlink(struct dkm_grant *r)
{
	struct dkm_grant **pp;

	for (pp = &r->owner->regions; *pp; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			return;
		}
}

void dkm_ledger_uid_usage(const struct dkm_broker *b, uid_t uid, uint64_t *bytes,
			  unsigned *regions, unsigned *clients)
{
	*bytes = 0;
	*regions = 0;
	*clients = 0;
	for (const struct dkm_client *c = b->clients; c; c = c->next)
		if (c->uid == uid) {
			*bytes += c->granted;
			*regions += c->nregions;
			(*clients)++;
		}
}

/* Populated bytes of [off, off + len) of fd (SEEK_DATA/SEEK_HOLE walk). */
static uint64_t populated(int fd, uint64_t off, uint64_t len)
{
	uint64_t end = off + len, sum = 0;
	off_t pos = (off_t)off;

	while ((uint64_t)pos < end) {
		off_t data = lseek(fd, pos, SEEK_DATA), hole;

		if (data < 0 || (uint64_t)data >= end)
			break;
		hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0 || (uint64_t)hole > end)
			hole = (off_t)end;
		sum += (uint64_t)(hole - data);
		pos = hole;
	}
	return sum;
}

/* Re-read how much of each range of r is populated, keeping node_owed in step. */
void dkm_ledger_update_residency(struct dkm_broker *b, struct dkm_grant *r)
{
	for (unsigned i = 0; i < r->nranges; i++) {
		int n = r->ranges[i].node;
		uint64_t len = r->ranges[i].length, res;

		if (r->nranges == 1) {
			struct stat st;

			res = fstat(r->fd, &st) == 0 ? (uint64_t)st.st_blocks * 512 : r->resident[i];
		} else {
			res = populated(r->fd, r->ranges[i].offset, len);
		}
		if (res > len)
			res = len;
		if (n >= 0 && n < MAX_NODES) {
			b->node_owed[n] += r->resident[i];
			b->node_owed[n] -= res;
		}
		if (!r->prefault) {
			r->owner->owed_charged += r->resident[i];
			r->owner->owed_charged -= res;
		}
		r->resident[i] = res;
	}
}

uint64_t dkm_ledger_resident(const struct dkm_grant *r)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < r->nranges; i++)
		sum += r->resident[i];
	return sum;
}

void dkm_ledger_unsettled_add(struct dkm_broker *b, struct dkm_grant *r)
{
	r->unsettled = true;
	r->ticks = 0;
	r->unsettled_prev = NULL;
	r->unsettled_next = b->unsettled;
	if (b->unsettled)
		b->unsettled->unsettled_prev = r;
	b->unsettled = r;
}

void dkm_ledger_unsettled_remove(struct dkm_broker *b, struct dkm_grant *r)
{
	if (!r->unsettled)
		return;
	if (r->unsettled_prev)
		r->unsettled_prev->unsettled_next = r->unsettled_next;
	else
		b->unsettled = r->unsettled_next;
	if (r->unsettled_next)
		r->unsettled_next->unsettled_prev = r->unsettled_prev;
	r->unsettled = false;
	r->unsettled_next = r->unsettled_prev = NULL;
}

void dkm_ledger_refresh_unsettled(struct dkm_broker *b)
{
	for (struct dkm_grant *r = b->unsettled, *next; r; r = next) {
		next = r->unsettled_next;
		dkm_ledger_update_residency(b, r);
		if (dkm_ledger_resident(r) >= r->size)
			dkm_ledger_unsettled_remove(b, r);
	}
}

void dkm_broker_refresh_residency(struct dkm_broker *b)
{
	for (struct dkm_client *c = b->clients; c; c = c->next)
		for (struct dkm_grant *r = c->regions; r; r = r->next)
			if (r->ready)
				dkm_ledger_update_residency(b, r);
	/* past two ticks a region not yet populated is left to the timer, like any other */
	for (struct dkm_grant *r = b->unsettled, *next; r; r = next) {
		next = r->unsettled_next;
		if (dkm_ledger_resident(r) >= r->size || ++r->ticks >= 2)
			dkm_ledger_unsettled_remove(b, r);
	}
}
