/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Medium blocks (DKM_CLASS_MAX < size <= DKM_MEDIUM_MAX): a run of whole
 * 64 KiB slots of a slab segment (not slot 0), as a slab of one block with
 * no owner, taken and given back under the pool lock, never cached by a
 * thread.
 */
#include "heap-medium.h"

#include <errno.h>
#include <pthread.h>

#include "heap-assert.h"
#include "heap-list.h"
#include "heap-segment.h"
#include "heap-slab.h"
#include "track.h"

/* A free run of k slots anywhere but slot 0 (medium blocks), the lowest; its first slot or -1. */
static int slots_find_run(uint64_t free, unsigned k)
{
	uint64_t x = free & ~(uint64_t)1;

	/* bit j of x stays set while slots j .. j + i are all free */
	for (unsigned i = 1; i < k && x; i++)
		x &= free >> i;
	return x ? __builtin_ctzll(x) : -1;
}

/*
 * A medium block (DKM_CLASS_MAX < size <= DKM_MEDIUM_MAX): the lowest run
 * of enough whole slots in a segment with room, past slot 0, as a slab of
 * one block with no owner (so that frees, from any thread, go to
 * dkm_medium_free). 64 KiB aligned. NULL with errno.
 */
void *dkm_medium_alloc(struct dkm_pool *p, size_t size)
{
	unsigned k = (unsigned)((size + DKM_SLOT_SIZE - 1) >> DKM_SLOT_SHIFT);
	struct dkm_segment *seg;
	struct dkm_slab *s;
	char *block;
	int j;

	dkm_assert(k >= 1 && size <= DKM_MEDIUM_MAX);
	pthread_mutex_lock(&p->lock);
	seg = dkm_segment_with_room(p, k, slots_find_run, &j);
	if (!seg) {
		pthread_mutex_unlock(&p->lock);
		return NULL;
	}
	s = dkm_slots_take(seg, (unsigned)j, k, DKM_CLASS_MEDIUM, k << DKM_SLOT_SHIFT,
			   (uint32_t)j << DKM_SLOT_SHIFT);
	s->carved = 1;
	s->used_rel = (uint16_t)(1 - s->slow_used); /* used 1 */
	block = dkm_slab_base(seg, s);
	dkm_segment_check(seg);
	pthread_mutex_unlock(&p->lock);
	dkm_track_alloc(p, block, s->bsize);
	return block;
}

/*
 * Free the medium block at ptr, found in the live slab segment seg without
 * the lock: found again under it (another thread may have freed it
 * meanwhile: -EALREADY), and its slots go back to the segment.
 */
int __attribute__((noinline)) dkm_medium_free(struct dkm_segment *seg, void *ptr)
{
	struct dkm_pool *p = seg->pool;
	struct dkm_dlist unmap;
	struct dkm_slab *s;
	int r = 0;

	if (p->inherited)
		return 0;
	dkm_dl_init(&unmap);
	pthread_mutex_lock(&p->lock);
	s = dkm_slab_lookup(seg, (uintptr_t)ptr);
	if (!s || s->cls != DKM_CLASS_MEDIUM || dkm_slab_used(s) != 1) {
		r = -EALREADY;
	} else {
		dkm_track_free(p, ptr, s->bsize);
		s->carved = 0;
		s->used_rel = (uint16_t)(0 - s->slow_used); /* used 0 */
		dkm_slab_release(p, s, &unmap);
	}
	pthread_mutex_unlock(&p->lock);
	dkm_unmap_list(p, &unmap);
	return r;
}
