/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Segments and spans (heap-segment.c): the segment of a pointer and the
 * geometry of its slots, inline; taking memory from the retained list or
 * the source, and giving it back.
 */
#ifndef DKM_CLIENT_HEAP_SEGMENT_H
#define DKM_CLIENT_HEAP_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "heap-internal.h"

#pragma GCC visibility push(hidden)

/* The geometry the free fast path reads, for a slot of the slab s whose first slot is i. */
struct dkm_slot_geo dkm_slot_geo(const struct dkm_slab *s, unsigned i);
/* Unmap everything on the list (segments taken off their pool). Not under the lock. */
void dkm_unmap_list(struct dkm_pool *p, struct dkm_dlist *l);
/* An emptied segment or span, out of the maps and lists: retained, or queued on unmap. */
void dkm_segment_retire(struct dkm_pool *p, struct dkm_segment *seg, struct dkm_dlist *unmap);
/* size bytes, retained or from the source; under the lock, dropped while mapping. */
struct dkm_segment *dkm_span_get(struct dkm_pool *p, size_t size, size_t max);
/* A new slab segment for p, on segs and avail. Under the lock (dropped while mapping). */
struct dkm_segment *dkm_segment_new(struct dkm_pool *p);

#pragma GCC visibility pop

static inline struct dkm_segment *dkm_seg_of(const void *ptr)
{
	return (struct dkm_segment *)((uintptr_t)ptr & ~(DKM_SEGMENT_SIZE - 1));
}

/* Offset of the descriptor of the slab whose first slot is i. */
static inline uint16_t dkm_slab_offset(unsigned i)
{
	return (uint16_t)(offsetof(struct dkm_segment, slabs) + i * sizeof(struct dkm_slab));
}

/* The geometry of a free slot i: no block there. */
static inline struct dkm_slot_geo dkm_slot_geo_free(unsigned i)
{
	return (struct dkm_slot_geo){ .slab = dkm_slab_offset(i) };
}

#endif
