/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Regions as memfds: create one for a plan, size it, bind each range to its
 * node with mbind on a shared mapping (the policy stays with the file), seal
 * it against growing; and free one: take it off the ledger, truncate it so
 * that the pages go even while the client still maps it, close it.
 */
#include "region.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <numaif.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "broker-internal.h"
#include "ledger.h"
#include "util/format.h"

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif

/* Create the memfd, size it, bind its ranges, seal it. */
int dkm_region_make_memfd(struct dkm_broker *b, struct dkm_client *c, struct dkm_grant *r,
			  char *msg, size_t msgsize)
{
	char name[96];
	void *addr;
	int fd, err;

	snprintf(name, sizeof(name), "daxkmem:%s:%u:%s", c->name[0] ? c->name : "client", c->id,
		 kind_name(r->kind));
	fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL);
	if (fd < 0 && errno == EINVAL)
		fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0) {
		err = errno;
		snprintf(msg, msgsize, "memfd_create: %s", strerror(err));
		return -err;
	}
	if (ftruncate(fd, (off_t)r->size) < 0) {
		err = errno;
		snprintf(msg, msgsize, "sizing the region: %s", strerror(err));
		goto fail;
	}
	/* The policy set on a shared mapping of the memfd belongs to the file. */
	addr = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (addr == MAP_FAILED) {
		err = errno;
		snprintf(msg, msgsize, "mapping the region: %s", strerror(err));
		goto fail;
	}
	for (unsigned i = 0; i < r->nranges; i++) {
		unsigned long mask[MAX_NODES / (8 * sizeof(unsigned long))] = { 0 };
		const struct dkm_range *rg = &r->ranges[i];
		int mode = rg->policy == DKM_POLICY_BIND ? MPOL_BIND : MPOL_PREFERRED;

		mask[rg->node / (8 * sizeof(unsigned long))] |= 1ul << (rg->node % (8 * sizeof(unsigned long)));
		if (mbind((char *)addr + rg->offset, rg->length, mode, mask, MAX_NODES + 1, 0) < 0) {
			err = errno;
			snprintf(msg, msgsize, "binding %s at offset %" PRIu64 " to node %d: %s",
				 dkm_format_bytes(rg->length, (char[32]){ 0 }, 32), rg->offset,
				 rg->node, strerror(err));
			munmap(addr, r->size);
			goto fail;
		}
	}
	munmap(addr, r->size);
	/*
	 * Sealed against growing (no peer can make the daemon's grant larger)
	 * and against further seals; not against shrinking, so that the daemon
	 * can revoke the pages when the region is released (dkm_region_free).
	 */
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		err = errno;
		snprintf(msg, msgsize, "sealing the region: %s", strerror(err));
		goto fail;
	}
	r->fd = fd;
	return 0;
fail:
	close(fd);
	return -err;
}

/* Take the region away from its client: revoke the memory, return the grant. */
void dkm_region_free(struct dkm_broker *b, struct dkm_grant *r)
{
	dkm_ledger_unsettled_remove(b, r);
	dkm_ledger_account(b, r, false);
	/*
	 * The client may still hold the memfd and its mappings: truncating
	 * frees the pages now (its mappings fault with SIGBUS), so memory given
	 * back cannot be kept past the quota or the node's admission.
	 */
	if (ftruncate(r->fd, 0) < 0) {
		/* cannot fail on a memfd without a SHRINK seal; the pages go at close */
	}
	close(r->fd);
	free(r);
}
