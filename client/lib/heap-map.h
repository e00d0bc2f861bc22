/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The maps of live segments (heap-map.c): the radix map, from any address to
 * the head of the live segment or span holding it, and the fast map, the
 * free fast path's one-byte filter; their lookups inline.
 */
#ifndef DKM_CLIENT_HEAP_MAP_H
#define DKM_CLIENT_HEAP_MAP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "heap-assert.h"
#include "heap-internal.h"

#define DKM_RADIX_ADDR_BITS 48
#define DKM_RADIX_LEAF_BITS 12
#define DKM_RADIX_TOP_BITS (DKM_RADIX_ADDR_BITS - DKM_SEGMENT_SHIFT - DKM_RADIX_LEAF_BITS) /* 14 */

/*
 * The free fast path's filter: one byte per 4 MiB of the lower 128 TiB of
 * the address space (32 MiB of zero pages, a page of it touched per 16 GiB
 * of address space in use), 1 for a live slab segment only, and never under
 * Valgrind (whose frees take the slow path). A single load from an address
 * computed from the pointer, and no bit to extract.
 */
#define DKM_FASTMAP_BITS 25 /* addresses below 2^47 */

#pragma GCC visibility push(hidden)

/* Leaves are allocated on first use and never freed. */
extern _Atomic(_Atomic uint32_t *) dkm_radix_top[(size_t)1 << DKM_RADIX_TOP_BITS];
extern _Atomic uint8_t dkm_fastmap[(size_t)1 << DKM_FASTMAP_BITS];

/* Mark seg a live slab segment in the fast map, or not (nothing under Valgrind). */
void dkm_fastmap_set(struct dkm_segment *seg, bool live);
/* Publish (live) or withdraw the n segments from seg. 0 or -ENOMEM. */
int dkm_radix_set(struct dkm_segment *seg, size_t n, bool live);

#pragma GCC visibility pop

/* The live segment holding address a, or NULL. Touches only the map. */
static inline struct dkm_segment *dkm_radix_head(uintptr_t a)
{
	uintptr_t g = a >> DKM_SEGMENT_SHIFT;
	_Atomic uint32_t *leaf;
	uint32_t e;

	if (DKM_UNLIKELY(g >> (DKM_RADIX_TOP_BITS + DKM_RADIX_LEAF_BITS)))
		return NULL;
	leaf = atomic_load_explicit(&dkm_radix_top[g >> DKM_RADIX_LEAF_BITS], memory_order_acquire);
	if (DKM_UNLIKELY(!leaf))
		return NULL;
	e = atomic_load_explicit(&leaf[g & (((uintptr_t)1 << DKM_RADIX_LEAF_BITS) - 1)],
				 memory_order_acquire);
	if (DKM_UNLIKELY(!e))
		return NULL;
	return (struct dkm_segment *)((g - (e - 1)) << DKM_SEGMENT_SHIFT);
}

static inline bool dkm_fastmap_test(uintptr_t a)
{
	uintptr_t g = a >> DKM_SEGMENT_SHIFT;

	if (DKM_UNLIKELY(g >= ((uintptr_t)1 << DKM_FASTMAP_BITS)))
		return false;
	return atomic_load_explicit(&dkm_fastmap[g], memory_order_acquire) != 0;
}

#endif
