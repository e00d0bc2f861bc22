/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Free: the fast path (one byte of the fast map, the slot's geometry, the
 * block's key, the owner's thread: push onto the slab's free list, no lock),
 * and everything else from the start: a remote free onto the owner's inbox,
 * a free into an abandoned slab, suspected double frees, medium and large
 * blocks, pointers that are not ours; and the lookups of a block's size and
 * pool. The fast path and dkm_block_free share this file so that
 * dkm_block_free inlines it without link-time optimisation too (the library
 * inlines it into daxkmem_free with it).
 */
#include "heap-free.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "heap-assert.h"
#include "heap-block.h"
#include "heap-cache.h"
#include "heap-init.h"
#include "heap-large.h"
#include "heap-list.h"
#include "heap-map.h"
#include "heap-medium.h"
#include "heap-segment.h"
#include "heap-slab.h"
#include "track.h"

static bool list_contains(struct dkm_block *l, const struct dkm_block *b, uint32_t max)
{
	for (uint32_t n = 0; l && n <= max; l = dkm_blk_next(l), n++)
		if (l == b)
			return true;
	return false;
}

/* Free b (already validated) into a slab the calling thread does not own. */
int dkm_free_other(struct dkm_segment *seg, struct dkm_slab *s, struct dkm_block *b)
{
	struct dkm_pool *p = seg->pool;

	for (;;) {
		struct dkm_tcache *o = atomic_load_explicit(&s->owner, memory_order_acquire), *o2;
		struct dkm_dlist unmap;

		if (o && dkm_inbox_push(o, b))
			return 0;
		dkm_dl_init(&unmap);
		pthread_mutex_lock(&p->lock);
		o2 = atomic_load_explicit(&s->owner, memory_order_acquire);
		if (!o2) {
			dkm_free_abandoned(p, s, b, &unmap);
			pthread_mutex_unlock(&p->lock);
			dkm_unmap_list(p, &unmap);
			return 0;
		}
		pthread_mutex_unlock(&p->lock);
		if (o2 == o)
			sched_yield(); /* o is retiring, not done with its slabs yet */
	}
}

/*
 * b carries the key of a free block. -EALREADY if it is found free; 0 (and
 * nothing done) otherwise: then the key is a coincidence or the block sits
 * where we cannot look without racing with its owner, and freeing it again
 * would corrupt the lists if it were free (at worst a block that really was
 * out, with the secret key in its second word, is leaked).
 */
static int __attribute__((noinline)) free_keyed(struct dkm_segment *seg, struct dkm_slab *s,
						struct dkm_block *b)
{
	struct dkm_pool *p = seg->pool;
	struct dkm_tcache *me = dkm_my_thread()->tc[seg->pool_id], *o;
	bool found = false;

	if (p->inherited)
		return 0;
	o = atomic_load_explicit(&s->owner, memory_order_acquire);
	if (o && o == me) {
		found = list_contains(s->free, b, s->carved) || dkm_inbox_contains(o, b);
	} else if (o) {
		found = dkm_inbox_contains(o, b);
	} else {
		pthread_mutex_lock(&p->lock);
		if (!atomic_load_explicit(&s->owner, memory_order_relaxed))
			found = list_contains(s->free, b, s->carved);
		pthread_mutex_unlock(&p->lock);
	}
	return found ? -EALREADY : 0;
}

/* Free into a slab not owned by the calling thread's cache. */
static int __attribute__((noinline)) free_not_mine(struct dkm_segment *seg, struct dkm_slab *s,
						   struct dkm_block *b)
{
	if (seg->pool->inherited)
		return 0;
	dkm_track_free(seg->pool, b, s->bsize);
	return dkm_free_other(seg, s, b);
}

/* Every pointer the fast path does not handle: not a block, a large block, Valgrind. */
static int __attribute__((noinline)) free_slow(void *ptr)
{
	uintptr_t a = (uintptr_t)ptr;
	struct dkm_segment *seg = dkm_radix_head(a);
	struct dkm_block *b = ptr;
	struct dkm_slab *s;

	if (!seg)
		return -EINVAL;
	if (seg != dkm_seg_of(ptr))
		return dkm_free_nonslab(seg, ptr);
	s = dkm_slab_lookup(seg, a);
	if (!s)
		return dkm_free_nonslab(seg, ptr);
	if (DKM_UNLIKELY(s->cls == DKM_CLASS_MEDIUM))
		return dkm_medium_free(seg, ptr);
	if (dkm_blk_keyed(b))
		return free_keyed(seg, s, b);
	if (s->thread == dkm_my_thread()) {
		struct dkm_tcache *tc = dkm_my_thread()->tc[seg->pool_id];

		dkm_track_free(seg->pool, b, s->bsize);
		dkm_blk_set(b, s->free);
		s->free = b;
		dkm_assert_internal(dkm_slab_used(s) > 0);
		if (--s->used_rel == 0)
			dkm_free_local_slow(tc, s);
		return 0;
	}
	return free_not_mine(seg, s, b);
}

static inline uint32_t ror32(uint32_t x, unsigned r)
{
	return (x >> r) | (x << ((32 - r) & 31));
}

/*
 * The fast path: ptr is a block of a live slab segment (one byte of the fast
 * map), its index follows from the slot's geometry (see dkm_slot_geo), it
 * does not carry the key of a free block, and the calling thread owns its
 * slab: push it onto the slab's free list. The segment is taken from the
 * pointer, not from the radix map, so the loads of its header do not wait
 * for the map's: they are only used once the map says it is a live slab
 * segment (a branch, not a data dependency). Anything else (NULL, a pointer
 * not ours, a large block, a suspected double free, a remote free, Valgrind)
 * returns false, and dkm_block_free looks again from the start.
 */
__attribute__((always_inline)) inline bool dkm_block_free_fast(void *ptr)
{
	uintptr_t a = (uintptr_t)ptr;
	struct dkm_segment *seg = dkm_seg_of(ptr);
	struct dkm_block *b = ptr;
	const struct dkm_slot_geo *g;
	struct dkm_slab *s;
	uint32_t idx;
	uint64_t key;

	if (DKM_UNLIKELY(!dkm_fastmap_test(a)))
		return false;
	g = &seg->geo[(a >> DKM_SLOT_SHIFT) & (DKM_SLOTS - 1)];
	s = (struct dkm_slab *)((char *)seg + g->slab);
	/* below start (the header) wraps around: no block index */
	idx = ror32(((uint32_t)a - g->start) * g->inv, g->shift);
	if (DKM_UNLIKELY(idx >= __atomic_load_n(&s->carved, __ATOMIC_RELAXED)))
		return false;
	key = dkm_key_of(b);
	if (DKM_UNLIKELY(dkm_blk_key_raw(b) == key))
		return false;
	if (DKM_UNLIKELY(s->thread != dkm_tls_thread))
		return false;
	dkm_assert_internal(atomic_load_explicit(&s->owner, memory_order_relaxed) ==
			    dkm_tls_thread->tc[seg->pool_id]);
	dkm_track_free_vg(seg->pool, b, s->bsize, false);
	dkm_blk_set_key_vg(b, s->free, key, false);
	s->free = b;
	dkm_assert_internal(dkm_slab_used(s) > 0);
	if (DKM_UNLIKELY(--s->used_rel == 0))
		dkm_free_local_slow(dkm_tls_thread->tc[seg->pool_id], s);
	return true;
}

int dkm_block_free(void *ptr)
{
	if (DKM_LIKELY(dkm_block_free_fast(ptr)))
		return 0;
	return free_slow(ptr);
}

size_t dkm_block_usable_size(const void *ptr)
{
	uintptr_t a = (uintptr_t)ptr;
	struct dkm_segment *seg = dkm_radix_head(a);
	struct dkm_slab *s;

	if (!seg)
		return 0;
	if (seg == dkm_seg_of(ptr) && (s = dkm_slab_lookup(seg, a)))
		return s->bsize;
	if (seg->kind == DKM_SEG_LARGE && (const char *)ptr == seg->block)
		return seg->usable;
	return 0;
}

struct dkm_pool *dkm_block_pool(const void *ptr)
{
	struct dkm_segment *seg = dkm_radix_head((uintptr_t)ptr);

	return seg ? seg->pool : NULL;
}
