/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Slabs: runs of 2^k slots of a slab segment cut into blocks of one size
 * class (see struct dkm_slab for their counting and ownership). Finding
 * room in a segment, taking and giving back its slots, carving blocks
 * lazily, and a slab's passage from its owner to the pool (abandoned) and
 * back to its segment (released).
 */
#include "heap-slab.h"

#include <stdatomic.h>
#include <string.h>

#include "heap-block.h"
#include "heap-list.h"
#include "heap-map.h"
#include "heap-segment.h"
#include "track.h"

/* A free run of k slots (k > 1: aligned, not slot 0); its first slot or -1. */
static int slots_find(uint64_t free, unsigned k)
{
	if (k == 1)
		return free ? __builtin_ctzll(free) : -1;
	for (int j = (int)(DKM_SLOTS - k); j > 0; j -= (int)k) {
		uint64_t m = (((uint64_t)1 << k) - 1) << j;

		if ((free & m) == m)
			return j;
	}
	return -1;
}

/*
 * A segment of p with a free run of k slots as find() places it (one from
 * the source if none has), and the run's first slot in *j. Under the lock
 * (dropped while mapping). NULL with errno.
 */
struct dkm_segment *dkm_segment_with_room(struct dkm_pool *p, unsigned k,
					  int (*find)(uint64_t, unsigned), int *j)
{
	struct dkm_segment *seg;

	for (struct dkm_dlist *n = p->avail.next; n != &p->avail; n = n->next) {
		seg = dkm_container_of(n, struct dkm_segment, alink);
		*j = find(seg->free_slots, k);
		if (*j >= 0)
			return seg;
	}
	seg = dkm_segment_new(p);
	if (!seg)
		return NULL;
	*j = find(seg->free_slots, k);
	dkm_assert(*j >= 0);
	return seg;
}

/*
 * Slots [j, j + k) of seg become the slab seg->slabs[j] of class cls (or
 * DKM_CLASS_MEDIUM), block size bsize, block 0 at start: nothing carved, no
 * owner, where NONE. Under the lock.
 */
struct dkm_slab *dkm_slots_take(struct dkm_segment *seg, unsigned j, unsigned k,
				unsigned cls, uint32_t bsize, uint32_t start)
{
	struct dkm_slab *s = &seg->slabs[j];

	memset(s, 0, sizeof(*s));
	s->bsize = bsize;
	s->recip = (uint32_t)((((uint64_t)1 << 32) + s->bsize - 1) / s->bsize);
	s->start = start;
	s->cls = (uint8_t)cls;
	s->nslots = (uint8_t)k;
	dkm_slab_set_where(s, DKM_SLAB_NONE, 0);
	dkm_dl_init(&s->link);
	for (unsigned i = j; i < j + k; i++) {
		seg->slot_map[i] = (uint8_t)j;
		seg->geo[i] = dkm_slot_geo(s, j);
	}
	seg->free_slots &= ~((((uint64_t)1 << (k - 1)) * 2 - 1) << j);
	seg->nslabs++;
	if (!seg->free_slots && seg->in_avail) {
		dkm_dl_del(&seg->alink);
		seg->in_avail = 0;
	}
	return s;
}

/* A new slab of class c owned by tc. Under the lock. NULL with errno. */
struct dkm_slab *dkm_slab_new(struct dkm_pool *p, unsigned c, struct dkm_tcache *tc)
{
	unsigned k = dkm_class_slots[c];
	struct dkm_segment *seg;
	struct dkm_slab *s;
	char *base;
	int j;

	seg = dkm_segment_with_room(p, k, slots_find, &j);
	if (!seg)
		return NULL;
	s = dkm_slots_take(seg, (unsigned)j, k, c, dkm_class_size[c],
			   (j == 0 ? (uint32_t)DKM_SEG_HEADER_SIZE
				   : (uint32_t)j << DKM_SLOT_SHIFT) + dkm_class_color[c]);
	s->thread = tc->thread;
	atomic_store_explicit(&s->owner, tc, memory_order_relaxed);
	base = dkm_slab_base(seg, s);
	dkm_track_noaccess(base, ((size_t)j + k) * DKM_SLOT_SIZE - s->start);
	dkm_assert_internal(((uintptr_t)base & ((s->bsize & -s->bsize) - 1)) == 0);
	dkm_segment_check(seg);
	return s;
}

/*
 * A slab with no block out goes back to its segment; an emptied segment
 * leaves the pool (onto unmap, or retained). Under the lock; s is on no list.
 */
void dkm_slab_release(struct dkm_pool *p, struct dkm_slab *s, struct dkm_dlist *unmap)
{
	struct dkm_segment *seg = dkm_seg_of(s);
	unsigned j = s->start >> DKM_SLOT_SHIFT, k = s->nslots;

	dkm_assert(dkm_slab_used(s) == 0 && s->where == DKM_SLAB_NONE);
	dkm_slab_check(s);
	memset(s, 0, sizeof(*s)); /* carved 0: no block here for the free fast path */
	for (unsigned i = j; i < j + k; i++) {
		seg->slot_map[i] = (uint8_t)i;
		seg->geo[i] = dkm_slot_geo_free(i);
	}
	seg->free_slots |= (((uint64_t)1 << (k - 1)) * 2 - 1) << j;
	seg->nslabs--;
	if (!seg->in_avail) {
		dkm_dl_add(&p->avail, &seg->alink);
		seg->in_avail = 1;
	}
	dkm_segment_check(seg);
	if (seg->nslabs == 0) {
		dkm_dl_del(&seg->alink);
		seg->in_avail = 0;
		dkm_dl_del(&seg->link);
		dkm_fastmap_set(seg, false);
		dkm_radix_set(seg, 1, false);
		dkm_segment_retire(p, seg, unmap);
	}
}

/* Carve the next batch of blocks onto the free list (owner). */
void dkm_slab_carve(struct dkm_slab *s)
{
	struct dkm_segment *seg = dkm_seg_of(s);
	uint32_t n = dkm_slab_capacity(s) - s->carved, i;
	struct dkm_block *b, *next = s->free;

	if (n > dkm_class_batch[s->cls])
		n = dkm_class_batch[s->cls];
	for (i = n; i-- > 0;) {
		b = dkm_slab_block(seg, s, s->carved + i);
		dkm_blk_set(b, next);
		next = b;
	}
	s->free = next;
	s->carved += n;
}

/* Hand a slab over to the pool (its owner flushes). Under the lock. */
void dkm_slab_abandon(struct dkm_pool *p, struct dkm_slab *s, struct dkm_dlist *unmap)
{
	dkm_slab_check(s);
	if (s->where != DKM_SLAB_NONE)
		dkm_dl_del(&s->link);
	s->where = DKM_SLAB_NONE;
	s->thread = NULL;
	atomic_store_explicit(&s->owner, NULL, memory_order_release);
	if (dkm_slab_used(s) == 0) {
		dkm_slab_release(p, s, unmap);
	} else if (s->free || s->carved < dkm_slab_capacity(s)) {
		s->where = DKM_SLAB_ABANDONED;
		dkm_dl_add(&p->abandoned[s->cls], &s->link);
	}
}

/* Free b into an abandoned slab. Under the lock. */
void dkm_free_abandoned(struct dkm_pool *p, struct dkm_slab *s, struct dkm_block *b,
			struct dkm_dlist *unmap)
{
	dkm_assert_internal(atomic_load_explicit(&s->owner, memory_order_relaxed) == NULL);
	dkm_assert(dkm_slab_used(s) > 0);
	dkm_blk_set(b, s->free);
	s->free = b;
	s->used_rel--;
	if (dkm_slab_used(s) == 0) {
		if (s->where != DKM_SLAB_NONE)
			dkm_dl_del(&s->link);
		s->where = DKM_SLAB_NONE;
		dkm_slab_release(p, s, unmap);
	} else if (s->where == DKM_SLAB_NONE) {
		s->where = DKM_SLAB_ABANDONED;
		dkm_dl_add(&p->abandoned[s->cls], &s->link);
	}
}
