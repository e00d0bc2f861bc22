/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Slabs (heap-slab.c): a slab's blocks and counts, inline; taking slots of a
 * segment for a slab, carving, abandoning and releasing slabs; and the
 * expensive checks of slabs and segments (heap-check.c, debug level 2).
 */
#ifndef DKM_CLIENT_HEAP_SLAB_H
#define DKM_CLIENT_HEAP_SLAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "heap-assert.h"
#include "heap-class.h"
#include "heap-internal.h"

#pragma GCC visibility push(hidden)

/* A segment of p with a free run of k slots as find() places it, the run's first slot in *j. */
struct dkm_segment *dkm_segment_with_room(struct dkm_pool *p, unsigned k,
					  int (*find)(uint64_t, unsigned), int *j);
/* Slots [j, j + k) of seg become the slab seg->slabs[j]. Under the lock. */
struct dkm_slab *dkm_slots_take(struct dkm_segment *seg, unsigned j, unsigned k, unsigned cls,
				uint32_t bsize, uint32_t start);
/* A new slab of class c owned by tc. Under the lock. NULL with errno. */
struct dkm_slab *dkm_slab_new(struct dkm_pool *p, unsigned c, struct dkm_tcache *tc);
/* A slab with no block out goes back to its segment. Under the lock; s is on no list. */
void dkm_slab_release(struct dkm_pool *p, struct dkm_slab *s, struct dkm_dlist *unmap);
/* Carve the next batch of blocks onto the free list (owner). */
void dkm_slab_carve(struct dkm_slab *s);
/* Hand a slab over to the pool (its owner flushes). Under the lock. */
void dkm_slab_abandon(struct dkm_pool *p, struct dkm_slab *s, struct dkm_dlist *unmap);
/* Free b into an abandoned slab. Under the lock. */
void dkm_free_abandoned(struct dkm_pool *p, struct dkm_slab *s, struct dkm_block *b,
			struct dkm_dlist *unmap);

#if DKM_HEAP_DEBUG >= 2
/* A slab of the calling thread (or of the pool, under its lock) is well formed. */
bool dkm_slab_consistent(struct dkm_slab *s);
/* The slot map, the free bits and the slab count agree. */
bool dkm_segment_consistent(struct dkm_segment *seg);
#endif

#pragma GCC visibility pop

#define dkm_slab_check(s) dkm_assert_expensive(dkm_slab_consistent(s))
#define dkm_segment_check(seg) dkm_assert_expensive(dkm_segment_consistent(seg))

static inline char *dkm_slab_base(const struct dkm_segment *seg, const struct dkm_slab *s)
{
	return (char *)seg + s->start;
}

/* The slab covering ptr in the slab segment seg (a zeroed descriptor for a free slot). */
static inline struct dkm_slab *dkm_slab_of(struct dkm_segment *seg, const void *ptr)
{
	uintptr_t h = seg->slot_map[((uintptr_t)ptr >> DKM_SLOT_SHIFT) & (DKM_SLOTS - 1)];

	return (struct dkm_slab *)((uintptr_t)seg + offsetof(struct dkm_segment, slabs) +
				   h * sizeof(struct dkm_slab));
}

/* Blocks of s out of its free list (handed out or in inboxes). */
static inline uint16_t dkm_slab_used(const struct dkm_slab *s)
{
	return (uint16_t)(s->used_rel + s->slow_used);
}

/* Set where (and slow_used, which follows it for an owned slab); used is kept. */
static inline void dkm_slab_set_where(struct dkm_slab *s, enum dkm_slab_where w, uint16_t cap)
{
	uint16_t used = dkm_slab_used(s);

	s->where = (uint8_t)w;
	s->slow_used = w == DKM_SLAB_NONE ? DKM_SLOW_NEVER :
		       w == DKM_SLAB_FULL ? (uint16_t)(cap - 1) : 0;
	s->used_rel = (uint16_t)(used - s->slow_used);
}

/* Blocks that fit in s (no division: refill asks often). */
static inline uint32_t dkm_slab_capacity(const struct dkm_slab *s)
{
	return s->start < DKM_SLOT_SIZE ? dkm_class_cap0[s->cls] : dkm_class_cap[s->cls];
}

static inline struct dkm_block *dkm_slab_block(const struct dkm_segment *seg,
					       const struct dkm_slab *s, uint32_t idx)
{
	return (struct dkm_block *)(dkm_slab_base(seg, s) + (size_t)idx * s->bsize);
}

/*
 * The slab and index of the block starting at a (in the live slab segment
 * seg), or NULL: not at a block start, in a header, or never carved.
 */
static inline struct dkm_slab *dkm_slab_lookup(struct dkm_segment *seg, uintptr_t a)
{
	unsigned h = seg->slot_map[(a >> DKM_SLOT_SHIFT) & (DKM_SLOTS - 1)];
	struct dkm_slab *s;
	uint64_t off, idx;

	if (DKM_UNLIKELY(h >= DKM_SLOTS))
		return NULL;
	s = &seg->slabs[h];
	/* below start (the header) wraps around: no multiple of bsize */
	off = a - (uintptr_t)seg - s->start;
	idx = (off * s->recip) >> 32;
	if (DKM_UNLIKELY(idx * s->bsize != off || idx >= __atomic_load_n(&s->carved, __ATOMIC_RELAXED)))
		return NULL;
	return s;
}

#endif
