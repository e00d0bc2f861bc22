/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The maps of live segments: the radix map (address >> 22 -> the head of
 * the live segment or span, see heap-internal.h) with leaves mapped on first
 * use, and the fast map of live slab segments; publishing and withdrawing
 * entries (the lookups are inline, heap-map.h).
 */
#include "heap-map.h"

#include <errno.h>
#include <sys/mman.h>

#include "track.h"

_Atomic(_Atomic uint32_t *) dkm_radix_top[(size_t)1 << DKM_RADIX_TOP_BITS]; /* leaves: never freed */
_Atomic uint8_t dkm_fastmap[(size_t)1 << DKM_FASTMAP_BITS]; /* zero pages until touched */

void dkm_fastmap_set(struct dkm_segment *seg, bool live)
{
	uintptr_t g = (uintptr_t)seg >> DKM_SEGMENT_SHIFT;

	if (dkm_vg || g >> DKM_FASTMAP_BITS)
		return;
	atomic_store_explicit(&dkm_fastmap[g], live, memory_order_release);
}

/* Publish (live) or withdraw the n segments from seg. 0 or -ENOMEM. */
int dkm_radix_set(struct dkm_segment *seg, size_t n, bool live)
{
	uintptr_t g0 = (uintptr_t)seg >> DKM_SEGMENT_SHIFT;

	if ((g0 + n) > ((uintptr_t)1 << (DKM_RADIX_TOP_BITS + DKM_RADIX_LEAF_BITS)))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		uintptr_t g = g0 + i;
		_Atomic(_Atomic uint32_t *) *slot = &dkm_radix_top[g >> DKM_RADIX_LEAF_BITS];
		_Atomic uint32_t *leaf = atomic_load_explicit(slot, memory_order_acquire);

		if (!leaf) {
			_Atomic uint32_t *expect = NULL;
			size_t sz = sizeof(uint32_t) << DKM_RADIX_LEAF_BITS;
			void *m;

			dkm_assert(live);
			m = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (m == MAP_FAILED) {
				dkm_radix_set(seg, i, false);
				return -ENOMEM;
			}
			if (atomic_compare_exchange_strong(slot, &expect, m)) {
				leaf = m;
			} else {
				munmap(m, sz);
				leaf = expect;
			}
		}
		atomic_store_explicit(&leaf[g & (((uintptr_t)1 << DKM_RADIX_LEAF_BITS) - 1)],
				      live ? (uint32_t)(i + 1) : 0, memory_order_release);
	}
	return 0;
}
